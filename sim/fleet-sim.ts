// Runs the simulated fleet against one real Prometheus: a small HTTP server serves every host's
// textfile exposition at /hosts/<host>/metrics, Prometheus scrapes them through file_sd with
// `instance` relabelled to the host name (and `site`, `customer` as target labels), and loads
// the real alert rules (prometheus/rules.yml.j2 with `for: 0s`). Used by `make fleet-sim`
// (sim/run.ts, 1,000 × 10) and by test/fleet.test.ts (a small fleet).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderRulesFile } from '../test/support/rules.ts';
import { LOOPBACK, queryPrometheus, type Service, startPrometheus, waitFor } from '../test/support/services.ts';
import { buildFleet, expectedAlertSet, type FleetMix, renderHost, type SimHost } from './fleet-model.ts';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export interface FleetSimOptions {
  hosts: number;
  jobsPerHost: number;
  /** Prometheus scrape and rule evaluation interval, e.g. "1s" for a test, "15s" for 1,000 hosts. */
  interval: string;
  /** Load the alert rules (default true); false measures what scraping alone costs. */
  rules?: boolean;
  /** The share of jobs in each state (default `stress`: 30 % in trouble). */
  mix?: FleetMix;
  log?: (line: string) => void;
}

export interface FleetSim {
  fleet: SimHost[];
  prometheus: Service;
  expected: string[];
  /** When Prometheus was started (ms since the epoch). */
  startedAt: number;
  stop: () => Promise<void>;
}

/**
 * The rules as the role renders them, with `for: 0s` so alerts fire at the first evaluation, and
 * the "-files" group at the simulation's interval instead of its own minute.
 */
export const renderRules = (dir: string, interval: string): Promise<string> =>
  renderRulesFile(dir, {
    backup_alert_for: '0s',
    backup_alert_never_started_lookback: '10d',
    backup_alert_files_interval: interval,
  });

const serveFleet = async (bodies: Map<string, string>): Promise<{ server: Server; address: string }> => {
  const server = createServer((request, response) => {
    const host = /^\/hosts\/([^/]+)\/metrics$/.exec(request.url ?? '')?.[1];
    const body = host === undefined ? undefined : bodies.get(host);
    if (body === undefined) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const port = (server.address() as { port: number }).port;
  return { server, address: `${LOOPBACK}:${port}` };
};

/** One target group per host: the same server, the host's path; site and customer as labels. */
const fileSdTargets = (fleet: SimHost[], address: string): string =>
  JSON.stringify(
    fleet.map((host) => ({
      targets: [address],
      labels: { __metrics_path__: `/hosts/${host.name}/metrics`, site: host.site, customer: host.customer },
    })),
  );

// `instance` would be the server's address for every host: take the host name from the path.
const SCRAPE_CONFIG = [
  '  - job_name: node',
  '    file_sd_configs:',
  '      - files: ["{dir}/targets.json"]',
  '    relabel_configs:',
  '      - source_labels: [__metrics_path__]',
  '        regex: /hosts/([^/]+)/metrics',
  '        target_label: instance',
].join('\n');

/** The firing alerts as "alertname/reason instance backup", sorted. */
const firingAlerts = async (url: string): Promise<string[]> =>
  (
    (await queryPrometheus(url, 'ALERTS{alertstate="firing", alertname=~"Backup.*"}')) as {
      metric: Record<string, string>;
    }[]
  )
    .map(({ metric: m }) => `${m.alertname}/${m.reason ?? ''} ${m.instance} ${m.backup ?? ''}`)
    .sort();

/** Completed rule evaluations of the cronvault group so far (not its "-slow" group's). */
export const evaluations = async (url: string): Promise<number> => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('prometheus_rule_group_iterations_total{') && l.includes(';cronvault-backup"'));
  return Number(line?.split(' ').pop() ?? 0);
};

export const startFleetSim = async (options: FleetSimOptions): Promise<FleetSim> => {
  const log = options.log ?? (() => undefined);
  const now = Math.floor(Date.now() / 1000);
  const fleet = buildFleet(options.hosts, options.jobsPerHost, now, options.mix);
  const bodies = new Map<string, string>();
  for (const host of fleet) bodies.set(host.name, await renderHost(host, now));
  log(`rendered ${fleet.length} hosts × ${options.jobsPerHost} jobs`);
  const dir = await mkdtemp(join(tmpdir(), 'cronvault-fleet-sim-'));
  const { server, address } = await serveFleet(bodies);
  const stopServer = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  let prometheus: Service | undefined;
  const startedAt = Date.now();
  try {
    prometheus = await startPrometheus({
      scrapeTargets: [],
      ruleFiles: options.rules === false ? [] : [await renderRules(dir, options.interval)],
      scrapeInterval: options.interval,
      scrapeConfigs: SCRAPE_CONFIG,
      files: { 'targets.json': fileSdTargets(fleet, address) },
    });
  } catch (error) {
    await stopServer();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const stop = async () => {
    await prometheus?.stop();
    await stopServer();
    await rm(dir, { recursive: true, force: true });
  };
  return { fleet, prometheus, expected: expectedAlertSet(fleet), startedAt, stop };
};

/**
 * Waits until every host is scraped and the alerts are the expected ones, then `settle` more
 * rule evaluations (an alert too many would show by then). Resolves with the firing set.
 */
export const waitForAlerts = async (sim: FleetSim, timeoutMs: number, settle = 2): Promise<string[]> => {
  const url = sim.prometheus.url;
  const jobs = sim.fleet.reduce((n, host) => n + host.jobs.length, 0);
  await waitFor(
    async () =>
      Number(
        (await queryPrometheus(url, 'count(backup_job_info)')).map((r) => (r as { value: string[] }).value[1])[0],
      ) === jobs,
    { timeoutMs, intervalMs: 500, message: `all ${jobs} jobs scraped` },
  );
  const expected = JSON.stringify(sim.expected);
  let firing: string[] = [];
  await waitFor(
    async () => {
      firing = await firingAlerts(url);
      return JSON.stringify(firing) === expected;
    },
    { timeoutMs, intervalMs: 500, message: 'the expected alerts firing' },
  ).catch(() => undefined);
  const start = await evaluations(url);
  await waitFor(async () => (await evaluations(url)) >= start + settle, { timeoutMs, intervalMs: 250 });
  return firingAlerts(url);
};

/** A metric family's samples from Prometheus' own /metrics, as [labels, value] pairs. */
export const selfMetrics = async (url: string, name: string): Promise<[string, number][]> => {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => {
      const space = line.lastIndexOf(' ');
      return [line.slice(name.length, space), Number(line.slice(space + 1))];
    });
};

/** The dashboard's queries with its variables set to "All". */
export const dashboardQueries = async (): Promise<{ title: string; expr: string }[]> => {
  const dashboard = JSON.parse(await readFile(join(projectRoot, 'grafana', 'dashboards', 'cronvault.json'), 'utf8'));
  const out: { title: string; expr: string }[] = [];
  const walk = (panels: { title?: string; targets?: { expr?: string }[]; panels?: unknown[] }[] = []) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? [])
        if (target.expr)
          out.push({
            title: panel.title ?? '',
            expr: target.expr
              .replace(/\$(job|instance|backup)\b/g, '.*')
              .replace(/\$__rate_interval|\$__interval|\$__range/g, '5m'),
          });
      walk(panel.panels as typeof panels);
    }
  };
  walk(dashboard.panels);
  return out;
};
