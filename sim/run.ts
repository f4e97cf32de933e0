// `make fleet-sim`: the simulated fleet (default 1,000 hosts × 10 jobs) against one real
// Prometheus with the real rules. Checks that exactly the expected alerts fire, then records the
// figures docs/scale.md reports: series per job, head series, rule group evaluation time,
// dashboard query times, scrape durations, Prometheus RSS. Exit 1 when the alerts differ.
//
//   node --import tsx sim/run.ts [--hosts 1000] [--jobs 10] [--interval 15s] [--settle 2] [--mix stress|realistic]
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { queryPrometheus } from '../test/support/services.ts';
import { FLEET_MIXES, type FleetMix } from './fleet-model.ts';
import {
  dashboardQueries,
  evaluations,
  type FleetSim,
  selfMetrics,
  startFleetSim,
  waitForAlerts,
} from './fleet-sim.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1000' },
    jobs: { type: 'string', default: '10' },
    interval: { type: 'string', default: '15s' },
    settle: { type: 'string', default: '2' },
    mix: { type: 'string', default: 'stress' },
  },
});
if (!(FLEET_MIXES as string[]).includes(values.mix)) {
  process.stderr.write(`fleet-sim: --mix must be one of ${FLEET_MIXES.join(', ')}, not "${values.mix}"\n`);
  process.exit(2);
}
const mix = values.mix as FleetMix;
const hosts = Number(values.hosts);
const jobsPerHost = Number(values.jobs);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const log = (line: string) => process.stdout.write(`[${elapsed()}] ${line}\n`);

const scalar = async (url: string, promql: string): Promise<number> =>
  Number(((await queryPrometheus(url, promql))[0] as { value?: [number, string] } | undefined)?.value?.[1] ?? NaN);

const timed = async (fn: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const measure = async (sim: FleetSim, rss: number[], groupDurations: Map<string, number[]>) => {
  const url = sim.prometheus.url;
  const jobs = hosts * jobsPerHost;
  const cpuSeconds = (await selfMetrics(url, 'process_cpu_seconds_total'))[0]?.[1] ?? NaN;
  const headSeries = (await selfMetrics(url, 'prometheus_tsdb_head_series'))[0]?.[1] ?? NaN;
  const backupSeries = await scalar(url, 'count({__name__=~"backup_.+"})');
  const cronvaultSeries = await scalar(url, 'count({__name__=~"cronvault_.+"})');
  const textfileSeries = await scalar(url, 'count({__name__=~"node_textfile_.+"})');
  const scrapeAvg = await scalar(url, 'avg(scrape_duration_seconds{job="node"})');
  const scrapeMax = await scalar(url, 'max(scrape_duration_seconds{job="node"})');
  const pathValues = await scalar(url, 'count(count by (path) (backup_job_info))');
  // How slow the machine is right now: a query that takes a few ms on an idle 2-core machine.
  const baseline = await timed(() => queryPrometheus(url, 'count(backup_running == 1)'));
  const queries = await dashboardQueries();
  const instant: number[] = [];
  const range: number[] = [];
  const slowest: { title: string; ms: number }[] = [];
  const end = Math.floor(Date.now() / 1000);
  for (const { title, expr } of queries) {
    const ms = await timed(() => queryPrometheus(url, expr));
    instant.push(ms);
    slowest.push({ title, ms });
    const params = new URLSearchParams({ query: expr, start: String(end - 600), end: String(end), step: '15' });
    range.push(
      await timed(async () => {
        const response = await fetch(`${url}/api/v1/query_range?${params}`);
        const body = (await response.json()) as { status: string; error?: string };
        if (body.status !== 'success') throw new Error(`${title}: ${body.error}`);
      }),
    );
  }
  slowest.sort((a, b) => b.ms - a.ms);
  // Which rules the group's time goes to (the last evaluation of each).
  const rules = (
    (await (await fetch(`${url}/api/v1/rules`)).json()) as {
      data: {
        groups: { name: string; rules: { name: string; labels?: Record<string, string>; evaluationTime: number }[] }[];
      };
    }
  ).data.groups;
  const perRule = rules
    .map(
      (g) =>
        `${g.name}: ${g.rules
          .map((r) => `${r.name}${r.labels?.reason ? `/${r.labels.reason}` : ''} ${r.evaluationTime.toFixed(2)} s`)
          .join(', ')}`,
    )
    .join('; ');
  // Prometheus evaluates the groups concurrently: each group's own time is what must stay
  // under its interval. The hour-scale groups share the global interval, "-slow" has its own.
  const groupLines = [...groupDurations]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([name, xs]) =>
        `  ${name}: max ${Math.max(0, ...xs).toFixed(3)} s, median ${median(xs.length ? xs : [0]).toFixed(3)} s over ${xs.length} samples`,
    );
  const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
  return [
    `hosts × jobs: ${hosts} × ${jobsPerHost} = ${jobs} jobs, ${mix} mix; scrape and evaluation interval ${values.interval}`,
    `series: ${headSeries} in the head; backup_* ${backupSeries} (${(backupSeries / jobs).toFixed(1)} per job), node_textfile_* ${textfileSeries}, cronvault_* ${cronvaultSeries}; all series per job ${(headSeries / jobs).toFixed(1)}`,
    `distinct path label values (backup_job_info only): ${pathValues}`,
    'rule group evaluation (prometheus_rule_group_last_duration_seconds), each group:',
    ...groupLines,
    `per rule (last evaluation): ${perRule}`,
    `scrape duration per host: avg ${(scrapeAvg * 1000).toFixed(1)} ms, max ${(scrapeMax * 1000).toFixed(1)} ms`,
    `dashboard queries (${queries.length}): instant median ${fmt(median(instant))}, max ${fmt(Math.max(...instant))}; 10-minute range (15 s step) median ${fmt(median(range))}, max ${fmt(Math.max(...range))}`,
    `slowest dashboard queries: ${slowest
      .slice(0, 3)
      .map((s) => `${s.title} ${fmt(s.ms)}`)
      .join('; ')}`,
    `baseline: count(backup_running == 1) over ${jobs} series took ${fmt(baseline)}`,
    `Prometheus RSS (process_resident_memory_bytes): max ${(Math.max(...rss) / 2 ** 20).toFixed(0)} MiB; CPU ${cpuSeconds.toFixed(0)} s in ${((Date.now() - sim.startedAt) / 1000).toFixed(0)} s of wall time`,
  ];
};

const sim = await startFleetSim({ hosts, jobsPerHost, interval: values.interval, mix, log });
// Ctrl-C or a timeout: stop Prometheus and the server, never leave them running.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void sim.stop().finally(() => process.exit(130));
  });
let exitCode = 0;
const rss: number[] = [];
const groupDurations = new Map<string, number[]>();
const sample = setInterval(() => {
  selfMetrics(sim.prometheus.url, 'process_resident_memory_bytes')
    .then(([first]) => first && rss.push(first[1]))
    .catch(() => undefined);
  selfMetrics(sim.prometheus.url, 'prometheus_rule_group_last_duration_seconds')
    .then((samples) => {
      for (const [labels, value] of samples) {
        const group = /;(cronvault-backup[^"]*)"/.exec(labels)?.[1];
        if (group && value) groupDurations.set(group, [...(groupDurations.get(group) ?? []), value]);
      }
    })
    .catch(() => undefined);
}, 2_000);
try {
  const loadBefore = loadavg()[0]!.toFixed(1);
  log(
    `Prometheus at ${sim.prometheus.url}; ${cpus().length} CPUs, load average ${loadBefore}; waiting for every host to be scraped and the alerts to fire`,
  );
  const firing = await waitForAlerts(sim, 8 * 60_000, Number(values.settle));
  const expected = new Set(sim.expected);
  const got = new Set(firing);
  const missing = sim.expected.filter((a) => !got.has(a));
  const extra = firing.filter((a) => !expected.has(a));
  log(
    `alerts: ${firing.length} firing, ${sim.expected.length} expected, ${missing.length} missing, ${extra.length} extra`,
  );
  for (const a of [...missing.slice(0, 20).map((a) => `missing ${a}`), ...extra.slice(0, 20).map((a) => `extra ${a}`)])
    log(a);
  if (missing.length || extra.length) exitCode = 1;
  const perAlert = new Map<string, number>();
  for (const a of firing) perAlert.set(a.split(' ')[0]!, (perAlert.get(a.split(' ')[0]!) ?? 0) + 1);
  log(`per alert: ${[...perAlert].map(([name, n]) => `${name} ${n}`).join(', ')}`);
  // CPU time does not grow when other work slows Prometheus down, unlike the wall times: the CPU
  // seconds Prometheus spends per cycle (scraping every host, appending, the rule group) bound
  // what one evaluation of the rules costs.
  const cpu = async () => (await selfMetrics(sim.prometheus.url, 'process_cpu_seconds_total'))[0]?.[1] ?? NaN;
  const [cpu0, it0] = [await cpu(), await evaluations(sim.prometheus.url)];
  while ((await evaluations(sim.prometheus.url)) < it0 + 4) await sleep(1_000);
  const [cpu1, it1] = [await cpu(), await evaluations(sim.prometheus.url)];
  log(
    `Prometheus CPU per ${values.interval} cycle (every scrape, the appends and one evaluation of each hour-scale rule group): ${((cpu1 - cpu0) / (it1 - it0)).toFixed(2)} CPU seconds over ${it1 - it0} cycles`,
  );
  for (const line of await measure(sim, rss, groupDurations)) log(line);
  log(`load average at the end: ${loadavg()[0]!.toFixed(1)} (other work on the machine inflates every time above)`);
} finally {
  clearInterval(sample);
  await sim.stop();
}
log(exitCode === 0 ? 'fleet simulation passed' : 'fleet simulation FAILED: the alerts differ');
process.exitCode = exitCode;
