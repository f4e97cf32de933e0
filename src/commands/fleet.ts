// `cronvault fleet`: every host's jobs as Prometheus sees them, one row per (host, job), in the
// words `cronvault status` uses on one host; problems first. Asks the Prometheus HTTP API for
// the series cronvault writes (docs/metrics.md) and the firing Backup* alerts. Exit 0 only when
// every job is healthy.
import { backendFor } from '../backends/index.ts';
import type { EngineName } from '../config.ts';
import { EXIT, UsageError } from '../errors.ts';
import { describeExitCode } from '../exit-meaning.ts';
import { METRIC } from '../metrics.ts';
import { type InstantQuery, type PrometheusAuth, prometheusBaseUrl, prometheusQuery } from '../prometheus-api.ts';
import { jitteredSchedule, maxIntervalSeconds, nextRun, parseSchedule } from '../schedule/index.ts';
import { painter, renderTable, useColor } from '../terminal.ts';
import type { GlobalOptions } from './context.ts';
import {
  FIRST_RUN_IN_PROGRESS,
  failedRunProblem,
  healthFooter,
  type JobOutcome,
  NEVER_RAN,
  OUTCOME_COLOR,
  OVERDUE_GRACE_SECONDS,
  outcomeOf,
  overdueProblem,
  relativeTime,
  retentionProblem,
} from './status.ts';

/** Bumped only when a field changes meaning or disappears (docs/fleet-json.md). */
const FLEET_SCHEMA_VERSION = 1;

export interface FleetFlags extends GlobalOptions, PrometheusAuth {
  prometheus: string;
  selector?: string;
}

/** "unknown": Prometheus has a firing alert for the job but none of its series (BackupMetricsVanished). */
type FleetOutcome = JobOutcome | 'unknown';

interface FleetAlert {
  alertname: string;
  reason: string | null;
  severity: string | null;
}

interface FleetJob {
  host: string;
  instance: string;
  job: string;
  engine: string | null;
  path: string | null;
  /** Target labels besides instance and job (site, customer, team...). */
  labels: Record<string, string>;
  outcome: FleetOutcome;
  healthy: boolean;
  overdue: boolean;
  running: boolean;
  problems: string[];
  alerts: FleetAlert[];
  lastRun: {
    start: number;
    end: number | null;
    success: boolean | null;
    warnings: boolean;
    exitCode: number | null;
    exitMeaning: string | null;
  } | null;
  lastSuccess: number | null;
  schedule: { cron: string; source: 'config' | 'default'; nextRun: number | null; maxIntervalSeconds: number | null };
}

interface FleetReport {
  schemaVersion: number;
  generatedAt: number;
  prometheus: string;
  selector: string | null;
  healthy: boolean;
  hosts: number;
  jobs: FleetJob[];
}

/** The series read per job, by the name of the field they fill. */
const SERIES = {
  start: METRIC.lastRunStart,
  duration: METRIC.lastRunDuration,
  success: METRIC.lastRunSuccess,
  warnings: METRIC.lastRunWarnings,
  exitCode: METRIC.lastExitCode,
  lastSuccess: METRIC.lastSuccess,
  running: METRIC.running,
  interval: METRIC.jobScheduleMaxInterval,
  retentionSuccess: METRIC.retentionSuccess,
  retentionExitCode: METRIC.retentionExitCode,
} as const;

type Values = Partial<Record<keyof typeof SERIES, number>>;

/** Labels that identify the series, not the host's place in the fleet. */
const OWN_LABELS = new Set(['__name__', 'instance', 'job', 'backup', 'engine', 'path', 'schedule', 'alertname']);
const ALERT_LABELS = new Set(['alertstate', 'severity', 'reason', 'host', 'file']);

interface Collected {
  instance: string;
  backup: string;
  info?: Record<string, string>;
  labels: Record<string, string>;
  values: Values;
  alerts: FleetAlert[];
}

const checkSelector = (selector: string | undefined): string => {
  if (selector === undefined) return '';
  const trimmed = selector.trim();
  if (!/^\{[\s\S]*\}$/.test(trimmed))
    throw new UsageError(
      'E_USAGE',
      `--selector must be label matchers in braces, like '{site="fra"}' or '{customer=~"acme|globex"}', not ${JSON.stringify(selector)}`,
    );
  return trimmed;
};

/** The host part of an instance, as the alert rules' `host` label: "db1:9100" is db1. */
const hostOf = (instance: string): string => /^(.*?)(:[0-9]+)?$/.exec(instance)![1]!;

const collect = async (query: InstantQuery, selector: string): Promise<Map<string, Collected>> => {
  const names = Object.entries(SERIES) as [keyof typeof SERIES, string][];
  const [info, alerts, ...values] = await Promise.all([
    query(`${METRIC.jobInfo}${selector}`),
    query(`ALERTS${selector}`),
    ...names.map(([, name]) => query(`${name}${selector}`)),
  ]);
  const jobs = new Map<string, Collected>();
  const entry = (labels: Record<string, string>): Collected => {
    const instance = labels.instance ?? '';
    const backup = labels.backup ?? '';
    const key = `${instance}\u0000${backup}`;
    let job = jobs.get(key);
    if (!job) {
      job = { instance, backup, labels: {}, values: {}, alerts: [] };
      jobs.set(key, job);
    }
    for (const [name, value] of Object.entries(labels))
      if (!OWN_LABELS.has(name) && !ALERT_LABELS.has(name) && !(name in job.labels)) job.labels[name] = value;
    return job;
  };
  for (const sample of info!) entry(sample.labels).info ??= sample.labels;
  names.forEach(([field], i) => {
    // A host scraped by two scrape jobs gives two series: they say the same, keep the first.
    for (const sample of values[i]!) entry(sample.labels).values[field] ??= sample.value;
  });
  for (const { labels } of alerts!) {
    if (labels.alertstate !== 'firing' || !labels.alertname?.startsWith('Backup')) continue;
    const job = entry(labels);
    const alert = { alertname: labels.alertname, reason: labels.reason ?? null, severity: labels.severity ?? null };
    if (!job.alerts.some((a) => a.alertname === alert.alertname && a.reason === alert.reason)) job.alerts.push(alert);
  }
  return jobs;
};

const describeCode = (engine: string | null, code: number): string => {
  try {
    return describeExitCode(backendFor(engine as EngineName), code);
  } catch {
    return 'exit code of an unknown engine';
  }
};

const fleetJob = (c: Collected, now: number): FleetJob => {
  const host = hostOf(c.instance);
  const v = c.values;
  const engine = c.info?.engine ?? null;
  const running = v.running === 1;
  // No end series: a run that finished once has a duration, and its end is start + duration
  // until the next run starts (then the start is the new run's, and the end unknown).
  const finished = v.duration !== undefined;
  const end = finished && !running && v.start !== undefined ? v.start + v.duration! : undefined;
  const known = c.info !== undefined || v.start !== undefined;
  const outcome: FleetOutcome = known
    ? outcomeOf(
        v.start === undefined
          ? undefined
          : {
              lastRunStart: v.start,
              running,
              lastSuccess: v.lastSuccess ?? 0,
              lastRunEnd: end,
              lastRunSuccess: v.success === 1,
              lastRunWarnings: v.warnings === 1,
            },
        running,
      )
    : 'unknown';
  const cron = c.info?.schedule || jitteredSchedule(host, c.backup);
  let parsed: ReturnType<typeof parseSchedule> | undefined;
  try {
    parsed = parseSchedule(cron);
  } catch {
    parsed = undefined;
  }
  const maxInterval = v.interval ?? (parsed ? maxIntervalSeconds(parsed) : undefined) ?? null;
  const overdue =
    !running && maxInterval !== null && v.start !== undefined && now - v.start > maxInterval + OVERDUE_GRACE_SECONDS;
  const problems: string[] = [];
  if (!known) problems.push('no metrics in Prometheus');
  else if (!finished) problems.push(running ? FIRST_RUN_IN_PROGRESS : NEVER_RAN);
  else if (v.success !== 1) problems.push(failedRunProblem(v.exitCode ?? -1, describeCode(engine, v.exitCode ?? -1)));
  if (v.retentionSuccess === 0) {
    const code = v.retentionExitCode ?? -1;
    problems.push(retentionProblem(code, describeCode(engine, code)));
  }
  if (overdue) problems.push(overdueProblem(v.start!, now, cron, maxInterval!));
  for (const alert of c.alerts)
    problems.push(`alert ${alert.alertname}${alert.reason ? ` (${alert.reason})` : ''} is firing`);
  return {
    host,
    instance: c.instance,
    job: c.backup,
    engine,
    path: c.info?.path ?? null,
    labels: c.labels,
    outcome,
    healthy: problems.length === 0,
    overdue,
    running,
    problems,
    alerts: c.alerts,
    lastRun:
      v.start === undefined
        ? null
        : {
            start: v.start,
            end: end ?? null,
            success: finished ? v.success === 1 : null,
            warnings: v.warnings === 1,
            exitCode: v.exitCode ?? null,
            exitMeaning: v.exitCode === undefined ? null : describeCode(engine, v.exitCode),
          },
    lastSuccess: v.lastSuccess ? v.lastSuccess : null,
    schedule: {
      cron,
      source: c.info?.schedule ? 'config' : 'default',
      nextRun: parsed ? (nextRun(parsed, now) ?? null) : null,
      maxIntervalSeconds: maxInterval,
    },
  };
};

/** Problems first (failed runs and firing alerts before the rest), then by host and job. */
const rank = (job: FleetJob): number =>
  job.healthy ? 2 : job.outcome === 'failed' || job.outcome === 'unknown' || job.alerts.length > 0 ? 0 : 1;

const byProblemsFirst = (a: FleetJob, b: FleetJob): number =>
  rank(a) - rank(b) ||
  a.host.localeCompare(b.host) ||
  a.instance.localeCompare(b.instance) ||
  a.job.localeCompare(b.job);

const formatFleet = (report: FleetReport, color: boolean): string => {
  const now = report.generatedAt;
  const paint = painter(color);
  const header = ['', 'HOST', 'JOB', 'LAST RUN', 'OUTCOME', 'LAST SUCCESS', 'NEXT RUN', 'ALERTS'];
  const rows = report.jobs.map((job) => [
    job.healthy ? ' ' : '!',
    job.host,
    job.job || '-',
    job.running && job.lastRun
      ? `running since ${relativeTime(job.lastRun.start, now)}`
      : job.lastRun
        ? relativeTime(job.lastRun.start, now)
        : '-',
    job.overdue ? `${job.outcome}, overdue` : job.outcome,
    job.lastSuccess ? relativeTime(job.lastSuccess, now) : 'never',
    job.schedule.nextRun === null
      ? 'never'
      : `${relativeTime(job.schedule.nextRun, now)}${job.schedule.source === 'default' ? ' (default)' : ''}`,
    job.alerts.map((a) => a.alertname).join(',') || '-',
  ]);
  const lines = renderTable([header, ...rows]).map((line, i) => {
    if (i === 0 || !color) return line;
    const job = report.jobs[i - 1]!;
    return job.healthy ? line : paint(job.outcome === 'failed' || job.alerts.length ? 'red' : 'yellow', line);
  });
  if (color) lines[0] = paint('bold', lines[0]!);
  const problems = report.jobs.flatMap((job) =>
    job.problems.map(
      (p) =>
        `${paint(job.outcome === 'unknown' ? 'red' : OUTCOME_COLOR[job.outcome], '!')} ${job.host}/${job.job || '-'}: ${p}`,
    ),
  );
  const unhealthy = report.jobs.filter((j) => !j.healthy).length;
  const footer = `${healthFooter(unhealthy, report.jobs.length)} on ${report.hosts} host${report.hosts === 1 ? '' : 's'}`;
  return [...lines, ...(problems.length ? ['', ...problems] : []), '', footer].join('\n');
};

export const fleetCommand = async (flags: FleetFlags, now: () => number = Date.now): Promise<number> => {
  const selector = checkSelector(flags.selector);
  const base = prometheusBaseUrl(flags.prometheus);
  const query = prometheusQuery(base, flags);
  const generatedAt = Math.floor(now() / 1000);
  const collected = await collect(query, selector).catch((error: unknown) => {
    // The selector is the only part of the queries the user wrote: say so.
    if (error instanceof UsageError && error.code === 'E_PROMETHEUS_QUERY' && selector)
      throw new UsageError('E_SELECTOR', `--selector ${selector}: ${error.message}`);
    throw error;
  });
  const jobs = [...collected.values()].map((c) => fleetJob(c, generatedAt));
  jobs.sort(byProblemsFirst);
  const report: FleetReport = {
    schemaVersion: FLEET_SCHEMA_VERSION,
    generatedAt,
    prometheus: base.href,
    selector: selector || null,
    healthy: jobs.length > 0 && jobs.every((j) => j.healthy),
    hosts: new Set(jobs.map((j) => j.instance)).size,
    jobs,
  };
  if (jobs.length === 0)
    process.stderr.write(
      `cronvault: Prometheus at ${base.href} has no cronvault jobs${selector ? ` matching ${selector}` : ''}: nothing to vouch for (exit 1)\n`,
    );
  process.stdout.write(
    flags.json
      ? `${JSON.stringify(report, null, 2)}\n`
      : jobs.length
        ? `${formatFleet(report, useColor(process.stdout, flags))}\n`
        : '',
  );
  return report.healthy ? EXIT.ok : EXIT.backupFailed;
};
