// The simulated fleet: N hosts × M jobs in a realistic mix of states, each host's textfiles
// rendered with cronvault's own renderer (renderJobMetrics, renderJobsInfo) and merged as
// node_exporter's textfile collector would serve them, plus the alerts the rules must fire for
// exactly these states. Timestamps are relative to `now`, so "stale", "overdue" and "stuck" hold
// from the first scrape. Deterministic: the same size and seed give the same fleet.
import type { JobConfig } from '../src/config.ts';
import { type JobMetrics, renderJobMetrics, renderJobsInfo } from '../src/metrics.ts';
import { resolveVerify } from '../src/verify/config.ts';

/**
 * The states a job can be in, and how many jobs of every 20 (`stress`) or 100 (`realistic`) are
 * in each. `stress` puts 30 % of the jobs in trouble (40 % of them alerting, some twice), so
 * every rule has thousands of alerts to expand at 10,000 jobs; `realistic` is a fleet on a bad
 * day: 6 % in trouble, every troubled state still present.
 */
const ONE_OF_EACH_TROUBLE = {
  failing: 1,
  failingLong: 1,
  staleDaily: 1,
  staleUnscheduled: 1,
  stuck: 1,
  neverStarted: 1,
} as const;
const MIXES = {
  stress: { healthyDaily: 6, healthyUnscheduled: 4, weekly: 2, duplicatiWarnings: 2, ...ONE_OF_EACH_TROUBLE },
  realistic: { healthyDaily: 60, healthyUnscheduled: 15, weekly: 10, duplicatiWarnings: 9, ...ONE_OF_EACH_TROUBLE },
} as const;

export type FleetMix = keyof typeof MIXES;
export const FLEET_MIXES = Object.keys(MIXES) as FleetMix[];
export type JobState = keyof (typeof MIXES)['stress'];
export const JOB_STATES = Object.keys(MIXES.stress) as JobState[];

export interface SimJob {
  host: string;
  name: string;
  state: JobState;
  engine: JobConfig['engine'];
  schedule?: string;
  /** Undefined for a job that never started: it has backup_job_info only. */
  metrics?: JobMetrics;
  /** node_textfile_mtime_seconds of its cronvault_<job>.prom. */
  mtime?: number;
}

export interface SimHost {
  name: string;
  site: string;
  customer: string;
  jobs: SimJob[];
}

const JOB_NAMES = ['etc', 'home', 'postgres', 'mysql', 'srv', 'mail', 'www', 'influxdb', 'grafana', 'docker'];
const SITES = ['fra', 'ams', 'par', 'lon'];
const TEXTFILE_DIR = '/var/lib/prometheus/node-exporter';
const HOUR = 3600;
const DAY = 24 * HOUR;

/** mulberry32: a small seeded generator, so a fleet is the same on every run. */
const seeded = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
};

const pickState = (random: () => number, mix: FleetMix): JobState => {
  const weights = MIXES[mix];
  let ticket = random() * JOB_STATES.reduce((sum, state) => sum + weights[state], 0);
  for (const state of JOB_STATES) {
    ticket -= weights[state];
    if (ticket < 0) return state;
  }
  return 'healthyDaily';
};

const hostName = (index: number): string => `host-${String(index).padStart(4, '0')}`;
const jobName = (index: number): string => JOB_NAMES[index] ?? `job-${String(index).padStart(2, '0')}`;

/** A finished run that started `ago` seconds before now and took 10 minutes. */
const finished = (now: number, ago: number, success: boolean, extra: Partial<JobMetrics> = {}): JobMetrics => ({
  lastRunStart: now - ago,
  running: false,
  lastRunEnd: now - ago + 600,
  lastRunDuration: 600,
  lastExitCode: success ? 0 : 1,
  lastRunSuccess: success,
  lastRunWarnings: false,
  lastSuccess: success ? now - ago + 600 : now - 22 * HOUR,
  lastRunAttempts: success ? 1 : 10,
  filesNew: 12,
  filesChanged: 40,
  filesProcessed: 25_000,
  bytesProcessed: 8_000_000_000,
  bytesAdded: 120_000_000,
  retentionSuccess: true,
  retentionTimestamp: now - ago + 600,
  retentionRemoved: 1,
  retentionExitCode: 0,
  snapshots: 17,
  ...extra,
});

const simJob = (host: string, name: string, state: JobState, now: number, random: () => number): SimJob => {
  const ago = Math.round((1 + random() * 18) * HOUR);
  const daily = `${Math.floor(random() * 60)} ${1 + Math.floor(random() * 4)} * * *`;
  const job: SimJob = { host, name, state, engine: random() < 0.2 ? 'borg' : 'restic' };
  switch (state) {
    case 'healthyDaily':
      Object.assign(job, { schedule: daily, metrics: finished(now, ago, true) });
      break;
    case 'healthyUnscheduled':
      job.metrics = finished(now, ago, true);
      break;
    case 'weekly':
      Object.assign(job, { schedule: '0 3 * * 0', metrics: finished(now, 5 * DAY, true) });
      break;
    case 'duplicatiWarnings':
      Object.assign(job, {
        engine: 'duplicati',
        schedule: daily,
        metrics: finished(now, ago, true, { lastExitCode: 1, lastRunWarnings: true }),
      });
      break;
    case 'failing':
      // The last success 22 h ago is still within the 26 h max age: only BackupFailed.
      Object.assign(job, { schedule: daily, metrics: finished(now, 2 * HOUR, false) });
      break;
    case 'failingLong':
      job.metrics = finished(now, HOUR, false, { lastSuccess: now - 3 * DAY });
      break;
    case 'staleDaily':
      Object.assign(job, { schedule: daily, metrics: finished(now, 2 * DAY, true) });
      break;
    case 'staleUnscheduled':
      job.metrics = finished(now, 2 * DAY, true);
      break;
    case 'stuck': {
      // Started 13 h ago and still running; the run before it succeeded.
      const previous = finished(now, 13 * HOUR + 900, true);
      job.metrics = { ...previous, lastRunStart: now - 13 * HOUR, running: true };
      job.mtime = now - 13 * HOUR;
      break;
    }
    case 'neverStarted':
      job.schedule = random() < 0.5 ? daily : undefined;
      break;
  }
  if (job.metrics && job.mtime === undefined) job.mtime = job.metrics.lastRunEnd ?? job.metrics.lastRunStart;
  return job;
};

/** N hosts × M jobs; `now` in Unix seconds. */
export const buildFleet = (
  hosts: number,
  jobsPerHost: number,
  now: number,
  mix: FleetMix = 'stress',
  seed = 16,
): SimHost[] => {
  const random = seeded(seed);
  return Array.from({ length: hosts }, (_, h) => {
    const name = hostName(h + 1);
    return {
      name,
      site: SITES[h % SITES.length]!,
      customer: `customer-${(h % 7) + 1}`,
      jobs: Array.from({ length: jobsPerHost }, (_, j) =>
        simJob(name, jobName(j), pickState(random, mix), now, random),
      ),
    };
  });
};

/** Just what the renderer reads of a job's config. */
const jobConfig = (job: SimJob): JobConfig =>
  ({
    name: job.name,
    engine: job.engine,
    path: `/srv/${job.name}`,
    schedule: job.schedule,
    hostname: job.host,
    declaredBy: 'config',
    // The default `verify:` (on): a fleet on defaults declares a verify schedule for every job
    // whose engine can verify.
    verify: resolveVerify(undefined, undefined),
  }) as JobConfig;

/**
 * Merges several textfiles into one exposition the way node_exporter does: one HELP and TYPE
 * per metric family, its samples together (a family split across the text is invalid).
 */
const mergeExpositions = (texts: string[]): string => {
  const families = new Map<string, { header: string[]; samples: string[] }>();
  for (const text of texts) {
    let current: { header: string[]; samples: string[] } | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const comment = /^# (HELP|TYPE) (\S+)/.exec(line);
      const name = comment ? comment[2]! : /^[^{\s]+/.exec(line)![0];
      if (!families.has(name)) families.set(name, { header: [], samples: [] });
      current = families.get(name)!;
      if (comment) {
        if (current.header.length < 2) current.header.push(line);
      } else current.samples.push(line);
    }
  }
  return `${[...families.values()].map((f) => [...f.header, ...f.samples].join('\n')).join('\n')}\n`;
};

/** What node_exporter (textfile collector only) would serve for the host. */
export const renderHost = async (host: SimHost, now: number): Promise<string> => {
  const files: { name: string; mtime: number }[] = [{ name: 'cronvault_jobs.prom', mtime: now - DAY }];
  const texts = [await renderJobsInfo(host.jobs.map(jobConfig))];
  for (const job of host.jobs) {
    if (!job.metrics) continue;
    texts.push(await renderJobMetrics(jobConfig(job), job.metrics));
    files.push({ name: `cronvault_${job.name}.prom`, mtime: job.mtime! });
  }
  const textfile = [
    '# HELP node_textfile_mtime_seconds Unixtime mtime of textfiles successfully read.',
    '# TYPE node_textfile_mtime_seconds gauge',
    ...files.map((f) => `node_textfile_mtime_seconds{file="${TEXTFILE_DIR}/${f.name}"} ${f.mtime}`),
    '# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 otherwise',
    '# TYPE node_textfile_scrape_error gauge',
    'node_textfile_scrape_error 0',
    '',
  ].join('\n');
  return mergeExpositions([...texts, textfile]);
};

/**
 * The alerts the rules must fire for a job, as "alertname/reason" (reason empty when the alert
 * has none), with `for: 0s` and the default thresholds (26 h max age, 12 h stuck, 1 h grace).
 * A never-started job fires nothing yet: that rule measures how long the job has been declared
 * in Prometheus' own history, which a fresh Prometheus does not have.
 */
export const expectedAlerts = (job: SimJob): string[] => {
  switch (job.state) {
    case 'failing':
      return ['BackupFailed/'];
    case 'failingLong':
      return ['BackupFailed/', 'BackupNoRecentSuccess/max_age'];
    case 'staleDaily':
      return ['BackupMetricsStale/file_age', 'BackupOverdueBySchedule/'];
    case 'staleUnscheduled':
      return ['BackupMetricsStale/file_age', 'BackupNotRun/max_age'];
    case 'stuck':
      return ['BackupStuck/'];
    default:
      return [];
  }
};

/** Every expected alert as "alertname/reason instance backup", sorted. */
export const expectedAlertSet = (fleet: SimHost[]): string[] =>
  fleet
    .flatMap((host) => host.jobs.flatMap((job) => expectedAlerts(job).map((a) => `${a} ${host.name} ${job.name}`)))
    .sort();
