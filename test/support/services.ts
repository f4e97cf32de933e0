// Starts the real monitoring stack for end-to-end tests: node_exporter, Prometheus and
// Alertmanager (Debian binaries), plus a webhook receiver, each on a free 127.0.0.1 port with
// its own temporary directory. Every start* resolves once the service answers its readiness
// endpoint and returns { url, stop() }; stop() kills the process and removes its directory.
//
//   const ne = await startNodeExporter({ textfileDir });
//   const prom = await startPrometheus({ scrapeTargets: [new URL(ne.url).host], ruleFiles: [rules] });
//   try {
//     await waitFor(async () => (await queryPrometheus(prom.url, 'up')).length > 0, { timeoutMs: 20_000 });
//   } finally {
//     await prom.stop();
//     await ne.stop();
//   }

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';

export const LOOPBACK = '127.0.0.1';

/** A running service: its base URL (http://127.0.0.1:PORT) and how to stop it. */
export interface Service {
  url: string;
  stop: () => Promise<void>;
  /** The last few KB the process printed (stdout and stderr), for assertions on its log. */
  output?: () => string;
}

export interface WaitForOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** Same as timeoutMs (accepted for callers that spell it this way). */
  timeout?: number;
  /** Pause between attempts (default 250 ms). */
  intervalMs?: number;
  /** Said in the error when the time is up. */
  message?: string;
}

export type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * Calls fn until it returns a truthy value, and resolves with that value. Errors thrown by fn
 * count as "not yet"; the last one is the timeout error's cause.
 */
export const waitFor = async <T>(fn: () => T | Promise<T>, options: WaitForOptions = {}): Promise<Truthy<T>> => {
  const timeoutMs = options.timeoutMs ?? options.timeout ?? 30_000;
  const intervalMs = options.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as Truthy<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`waitFor: ${options.message ?? 'condition not met'} within ${timeoutMs} ms`, {
        cause: lastError,
      });
    }
    await sleep(intervalMs);
  }
};

/** A port nobody listens on right now (bind port 0, read it, close). */
export const freePort = async (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createNetServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      server.close(() =>
        address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });

const hostPort = (target: string): string => (/^https?:\/\//.test(target) ? new URL(target).host : target);

const yamlString = (value: string): string => JSON.stringify(value);

interface ProcessOptions {
  name: string;
  binary: string;
  args: (port: number, dir: string) => string[];
  /** Files to write into the service's directory before it starts. */
  files?: (port: number, dir: string) => Record<string, string>;
  readyPath: string;
  readyTimeoutMs?: number;
}

// Keeps the process's output for the error message when it dies or never gets ready.
const startProcess = async (options: ProcessOptions): Promise<Service & { dir: string }> => {
  const dir = await mkdtemp(join(tmpdir(), `cronvault-${options.name}-`));
  const port = await freePort();
  const url = `http://${LOOPBACK}:${port}`;
  for (const [file, content] of Object.entries(options.files?.(port, dir) ?? {})) {
    await writeFile(join(dir, file), content);
  }
  let output = '';
  const child: ResultPromise = execa(options.binary, options.args(port, dir), {
    cwd: dir,
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
    cleanup: true,
  });
  child.all?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8_000);
  });
  let exited = false;
  const done = child.then(() => {
    exited = true;
  });

  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const killed = await Promise.race([done.then(() => true), sleep(5_000).then(() => false)]);
      if (!killed) {
        child.kill('SIGKILL');
        await done;
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`${options.name} exited`);
        const response = await fetch(url + options.readyPath);
        return response.ok;
      },
      {
        timeoutMs: options.readyTimeoutMs ?? 20_000,
        intervalMs: 100,
        message: `${options.name} ready at ${url}${options.readyPath}`,
      },
    );
    if (exited) throw new Error(`${options.name} exited`);
  } catch (error) {
    await stop();
    throw new Error(
      `${options.name} did not start (${options.binary} ${options.args(port, dir).join(' ')}):\n${output}`,
      { cause: error },
    );
  }
  return { url, dir, stop, output: () => output };
};

export interface NodeExporterOptions {
  /** Directory of *.prom files (--collector.textfile.directory). */
  textfileDir: string;
  binary?: string;
  /** Collectors to keep besides textfile (default none: quick, quiet scrapes). */
  collectors?: string[];
}

/** node_exporter with the textfile collector only (plus `collectors`). */
export const startNodeExporter = async ({
  textfileDir,
  binary = 'prometheus-node-exporter',
  collectors = [],
}: NodeExporterOptions): Promise<Service> =>
  startProcess({
    name: 'node-exporter',
    binary,
    args: (port) => [
      `--web.listen-address=${LOOPBACK}:${port}`,
      '--collector.disable-defaults',
      '--collector.textfile',
      `--collector.textfile.directory=${textfileDir}`,
      ...collectors.map((collector) => `--collector.${collector}`),
    ],
    readyPath: '/metrics',
  });

/**
 * A Pushgateway (no persistence), for hosts that push instead of being scraped. Debian's build
 * defaults --persistence.file to /var/lib/prometheus/pushgateway.data, which every gateway would
 * load at start and rewrite: an empty value keeps each test's groups in its own memory.
 */
export const startPushgateway = async (binary = 'prometheus-pushgateway'): Promise<Service> =>
  startProcess({
    name: 'pushgateway',
    binary,
    args: (port) => [`--web.listen-address=${LOOPBACK}:${port}`, '--persistence.file='],
    readyPath: '/-/ready',
  });

export interface PrometheusOptions {
  /** host:port (or URLs) scraped as job "node". */
  scrapeTargets: string[];
  /** Rule files loaded (absolute paths). */
  ruleFiles?: string[];
  /** Alertmanager to send alerts to (http://host:port or host:port). */
  alertmanagerUrl?: string;
  /** Scrape interval, e.g. "1s" (default); rules are evaluated as often unless evaluationInterval. */
  scrapeInterval?: string;
  evaluationInterval?: string;
  /** Keep the scraped series' own `instance` and `job` (a Pushgateway target), as prometheus/examples does. */
  honorLabels?: boolean;
  binary?: string;
  /**
   * Scrape jobs as YAML list items (indented by 2, below `scrape_configs:`), instead of the
   * static "node" job over scrapeTargets: file_sd, relabelling. `{dir}` is the service's directory.
   */
  scrapeConfigs?: string;
  /** Files to write into Prometheus' directory before it starts (file_sd target lists). */
  files?: Record<string, string>;
}

/** Prometheus with a generated config and a temporary TSDB. */
export const startPrometheus = async ({
  scrapeTargets,
  ruleFiles = [],
  alertmanagerUrl,
  scrapeInterval = '1s',
  evaluationInterval = scrapeInterval,
  honorLabels = false,
  binary = 'prometheus',
  scrapeConfigs,
  files = {},
}: PrometheusOptions): Promise<Service> => {
  const config = [
    'global:',
    `  scrape_interval: ${scrapeInterval}`,
    `  evaluation_interval: ${evaluationInterval}`,
    'rule_files:',
    ...(ruleFiles.length ? ruleFiles.map((file) => `  - ${yamlString(file)}`) : ['  []']),
    ...(alertmanagerUrl
      ? [
          'alerting:',
          '  alertmanagers:',
          '    - static_configs:',
          `        - targets: [${yamlString(hostPort(alertmanagerUrl))}]`,
        ]
      : []),
    'scrape_configs:',
    ...(scrapeConfigs
      ? [scrapeConfigs]
      : [
          '  - job_name: node',
          ...(honorLabels ? ['    honor_labels: true'] : []),
          '    static_configs:',
          `      - targets: [${scrapeTargets.map((target) => yamlString(hostPort(target))).join(', ')}]`,
        ]),
    '',
  ].join('\n');
  return startProcess({
    name: 'prometheus',
    binary,
    files: (_port, dir) => ({ ...files, 'prometheus.yml': config.replaceAll('{dir}', dir) }),
    args: (port, dir) => [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=${LOOPBACK}:${port}`,
      // Resolved alerts are sent at once anyway; firing ones are re-sent sooner.
      '--rules.alert.resend-delay=1s',
    ],
    readyPath: '/-/ready',
  });
};

export interface AlertmanagerOptions {
  /** Every alert goes to this webhook, resolutions included. */
  webhookUrl: string;
  /** Route timings; short defaults for tests. */
  groupWait?: string;
  groupInterval?: string;
  repeatInterval?: string;
  groupBy?: string[];
  binary?: string;
  /** A whole alertmanager.yml instead of the one route to the webhook (the options above are then unused). */
  config?: string;
}

/** Alertmanager, clustering off, one route to one webhook with send_resolved. */
export const startAlertmanager = async ({
  webhookUrl,
  groupWait = '1s',
  groupInterval = '1s',
  repeatInterval = '1h',
  groupBy = ['alertname', 'backup'],
  binary = 'prometheus-alertmanager',
  config: ownConfig,
}: AlertmanagerOptions): Promise<Service> => {
  const config = [
    'route:',
    '  receiver: webhook',
    `  group_by: [${groupBy.map(yamlString).join(', ')}]`,
    `  group_wait: ${groupWait}`,
    `  group_interval: ${groupInterval}`,
    `  repeat_interval: ${repeatInterval}`,
    'receivers:',
    '  - name: webhook',
    '    webhook_configs:',
    `      - url: ${yamlString(webhookUrl)}`,
    '        send_resolved: true',
    '',
  ].join('\n');
  return startProcess({
    name: 'alertmanager',
    binary,
    files: () => ({ 'alertmanager.yml': ownConfig ?? config }),
    args: (port, dir) => [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=${LOOPBACK}:${port}`,
      '--cluster.listen-address=',
    ],
    readyPath: '/-/ready',
  });
};

/** Instant query; resolves with `data.result` (for a vector: [{ metric, value: [t, "v"] }]). */
export const queryPrometheus = async (url: string, promql: string): Promise<unknown[]> => {
  const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
  const body = (await response.json()) as { status: string; error?: string; data?: { result: unknown[] } };
  if (body.status !== 'success') throw new Error(`query ${promql}: ${body.error ?? response.status}`);
  return body.data?.result ?? [];
};

/** One alert in an Alertmanager webhook notification. */
export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

/** The JSON body Alertmanager POSTs to a webhook (version 4). */
interface WebhookNotification {
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  alerts: WebhookAlert[];
}

export interface WebhookReceiver extends Service {
  /** Every notification received so far, oldest first. */
  notifications: WebhookNotification[];
}

/** An HTTP server on 127.0.0.1 that records Alertmanager webhook notifications. */
export const startWebhookReceiver = async (): Promise<WebhookReceiver> => {
  const notifications: WebhookNotification[] = [];
  const server = createHttpServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      try {
        notifications.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookNotification);
        response.writeHead(200).end();
      } catch {
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('webhook receiver: no address');
  return {
    url: `http://${LOOPBACK}:${address.port}/`,
    notifications,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
