// `cronvault status`: how every configured job is doing, read from the state files and locks
// only (no engine, no repository), so it is instant and safe to run from scripts and monitors.
// Exit 0 only when every job is healthy: it doubles as a check.
import { hostname } from 'node:os';
import { backendFor } from '../backends/index.ts';
import type { Config, JobConfig } from '../config.ts';
import { formatDuration } from '../durations.ts';
import { EXIT } from '../errors.ts';
import { describeExitCode } from '../exit-meaning.ts';
import { readLock } from '../lock.ts';
import type { JobMetrics } from '../metrics.ts';
import { readJsonSync } from '../read-json.ts';
import { jitteredSchedule, maxIntervalSeconds, nextRun, parseSchedule } from '../schedule/index.ts';
import type { JobState, RecordedHookFailure } from '../state.ts';
import { listState } from '../state-listing.ts';
import { type AnsiColor, painter, renderTable, useColor } from '../terminal.ts';
import { verifiesJob, verifyScheduleOf } from '../verify/schedule.ts';
import type { VerifyState } from '../verify/state-file.ts';
import { type GlobalOptions, readConfig } from './context.ts';

/** Bumped only when a field changes meaning or disappears; new fields may appear in any version. */
const STATUS_SCHEMA_VERSION = 1;

/** Slack on top of a schedule's longest gap before a job counts as overdue (as in the alert rules). */
export const OVERDUE_GRACE_SECONDS = 3600;

export type JobOutcome = 'success' | 'warning' | 'failed' | 'running' | 'never';

interface JobStatus {
  name: string;
  engine: string;
  path: string | null;
  command: string | null;
  outcome: JobOutcome;
  healthy: boolean;
  overdue: boolean;
  /** Why the job is not healthy, in words; empty when healthy. */
  problems: string[];
  lastRun: {
    start: number;
    end: number | null;
    durationSeconds: number | null;
    exitCode: number | null;
    exitMeaning: string | null;
    attempts: number | null;
    success: boolean;
    warnings: boolean;
    bytesAdded: number | null;
    /** Hook commands that failed in the run; empty when none did (or the job has no hooks). */
    hookFailures: RecordedHookFailure[];
  } | null;
  lastSuccess: number | null;
  running: { pid: number; since: string } | null;
  schedule: {
    cron: string;
    /** "config": the job's `schedule`; "default": the stable time `cronvault cron` gives jobs without one. */
    source: 'config' | 'default';
    nextRun: number | null;
    maxIntervalSeconds: number | null;
  };
  /** `cronvault verify`: the last restore drill; null when the job is not verified. */
  verify: {
    cron: string;
    lastStart: number | null;
    success: boolean | null;
    lastSuccess: number | null;
    filesChecked: number | null;
    reason: string | null;
  } | null;
}

interface StatusReport {
  schemaVersion: number;
  generatedAt: number;
  host: string;
  config: string | null;
  healthy: boolean;
  jobs: JobStatus[];
}

/** The outcome word of a job; `cronvault fleet` reads the same fields from Prometheus. */
export const outcomeOf = (state: JobMetrics | undefined, running: boolean): JobOutcome => {
  if (running) return 'running';
  if (!state || state.lastRunEnd === undefined) return 'never';
  if (state.lastRunSuccess) return state.lastRunWarnings ? 'warning' : 'success';
  return 'failed';
};

/** "3 h ago", "in 12 min", "just now". */
export const relativeTime = (atSeconds: number, nowSeconds: number): string => {
  const delta = nowSeconds - atSeconds;
  if (Math.abs(delta) < 30) return 'just now';
  const abs = Math.abs(delta);
  const text =
    abs >= 2 * 86_400
      ? `${Math.floor(abs / 86_400)} d`
      : formatDuration(
          abs >= 3600 ? Math.floor(abs / 3600) * 3_600_000 : abs >= 60 ? Math.floor(abs / 60) * 60_000 : abs * 1000,
        );
  return delta >= 0 ? `${text} ago` : `in ${text}`;
};

// The problems in words, shared with `cronvault fleet` so both commands say the same thing.
export const NEVER_RAN = 'never ran';
export const FIRST_RUN_IN_PROGRESS = 'first run still in progress, never finished';
export const failedRunProblem = (code: number, meaning: string): string => `last run failed (exit ${code}: ${meaning})`;
export const retentionProblem = (code: number, meaning: string): string =>
  code === -1
    ? 'last retention refused or failed before running (see `cronvault history`)'
    : `last retention failed (exit ${code}: ${meaning})`;
export const overdueProblem = (lastStart: number, nowSeconds: number, cron: string, maxInterval: number): string =>
  `overdue: last started ${relativeTime(lastStart, nowSeconds)}, but the schedule "${cron}" runs it at least every ${formatDuration(maxInterval * 1000)} (plus ${formatDuration(OVERDUE_GRACE_SECONDS * 1000)} grace)`;
/**
 * A hook that failed after the backup (`after`, `on_failure`, `finally`): the run may have made
 * its snapshot, but the app stayed stopped or the cleanup did not happen. A failed `before` hook
 * already failed the run, and says so in the failed-run problem.
 */
const hookProblem = (phase: string, reason: string): string => `last run's ${phase} hook failed: ${reason}`;
/** The last line of the table: "all 3 jobs healthy", "1 of 3 jobs need attention". */
export const healthFooter = (unhealthy: number, total: number): string =>
  unhealthy === 0
    ? `all ${total} job${total === 1 ? '' : 's'} healthy`
    : `${unhealthy} of ${total} job${total === 1 ? '' : 's'} need attention`;

const jobStatus = async (job: JobConfig, nowSeconds: number, localHost: string): Promise<JobStatus> => {
  const listing = listState(job.stateDir);
  const host = job.hostname || localHost;
  const verifies = verifiesJob(job);
  // Synchronous reads: 500 jobs' files in a row cost a fraction of fs/promises' (src/read-json.ts).
  const stateFile = listing.stateFile(job.name);
  const state = stateFile === undefined ? undefined : (readJsonSync(stateFile) as JobState | undefined);
  const lock = listing.mayHaveLock(job.name) ? await readLock(job.stateDir, job.name) : undefined;
  const verifyFile = verifies ? listing.verifyStateFile(job.name) : undefined;
  const verified = verifyFile === undefined ? undefined : (readJsonSync(verifyFile) as VerifyState | undefined);
  const backend = backendFor(job.engine);
  const outcome = outcomeOf(state, lock !== undefined);
  const cron = job.schedule ?? jitteredSchedule(host, job.name);
  const parsed = parseSchedule(cron);
  const maxInterval = maxIntervalSeconds(parsed) ?? null;
  const finished = state?.lastRunEnd !== undefined;
  const lastStart = state?.lastRunStart;
  const problems: string[] = [];
  // Same rule as the BackupOverdueBySchedule alert: no start within the longest gap plus grace.
  const overdue =
    lock === undefined &&
    maxInterval !== null &&
    lastStart !== undefined &&
    nowSeconds - lastStart > maxInterval + OVERDUE_GRACE_SECONDS;
  if (!finished) problems.push(lock ? FIRST_RUN_IN_PROGRESS : NEVER_RAN);
  else if (!state!.lastRunSuccess) {
    const code = state!.lastExitCode ?? -1;
    problems.push(failedRunProblem(code, describeExitCode(backend, code)));
  }
  // A backup that succeeds while retention keeps failing fills the repository night after night
  // (and a refused run only gets more refused): BackupRetentionFailed says so too.
  if (state?.retentionSuccess === false) {
    const code = state.retentionExitCode ?? -1;
    problems.push(retentionProblem(code, describeExitCode(backend, code)));
  }
  const hookFailures = finished ? (state!.lastHookFailures ?? []) : [];
  for (const failure of hookFailures)
    if (failure.phase !== 'before') problems.push(hookProblem(failure.phase, failure.reason));
  // A drill that failed says the backups may not restore: as urgent as a failed run.
  if (verified && !verified.success) problems.push(`last verify failed: ${verified.reason}`);
  if (overdue) problems.push(overdueProblem(lastStart!, nowSeconds, cron, maxInterval!));
  return {
    name: job.name,
    engine: job.engine,
    path: job.path ?? null,
    command: job.command ?? null,
    outcome,
    healthy: problems.length === 0,
    overdue,
    problems,
    lastRun:
      state && finished
        ? {
            start: state.lastRunStart,
            end: state.lastRunEnd ?? null,
            durationSeconds: state.lastRunDuration ?? null,
            exitCode: state.lastExitCode ?? null,
            exitMeaning: state.lastExitCode === undefined ? null : describeExitCode(backend, state.lastExitCode),
            attempts: state.lastRunAttempts ?? null,
            success: Boolean(state.lastRunSuccess),
            warnings: Boolean(state.lastRunWarnings),
            bytesAdded: state.lastRunSuccess ? (state.bytesAdded ?? null) : null,
            hookFailures,
          }
        : null,
    lastSuccess: state?.lastSuccess ? state.lastSuccess : null,
    running: lock ? { pid: lock.pid, since: lock.since } : null,
    schedule: {
      cron,
      source: job.schedule ? 'config' : 'default',
      nextRun: nextRun(parsed, nowSeconds) ?? null,
      maxIntervalSeconds: maxInterval,
    },
    verify: verifies
      ? {
          // A getter: a drawn verify time costs a seeded Mersenne Twister, and only the JSON shows it.
          get cron() {
            return verifyScheduleOf(job, host)!;
          },
          lastStart: verified?.start ?? null,
          success: verified ? verified.success : null,
          lastSuccess: verified?.lastSuccess ? verified.lastSuccess : null,
          filesChecked: verified?.filesChecked ?? null,
          reason: verified?.reason ?? null,
        }
      : null,
  };
};

const statusReport = async (config: Config, nowSeconds: number): Promise<StatusReport> => {
  const localHost = hostname();
  const jobs = await Promise.all([...config.jobs.values()].map((job) => jobStatus(job, nowSeconds, localHost)));
  return {
    schemaVersion: STATUS_SCHEMA_VERSION,
    generatedAt: nowSeconds,
    host: localHost,
    config: config.file ?? null,
    healthy: jobs.every((j) => j.healthy),
    jobs,
  };
};

export const OUTCOME_COLOR: Record<JobOutcome, AnsiColor> = {
  success: 'green',
  warning: 'yellow',
  failed: 'red',
  running: 'cyan',
  never: 'yellow',
};

const formatStatus = (report: StatusReport, color: boolean): string => {
  const now = report.generatedAt;
  const paint = painter(color);
  const header = [
    '',
    'JOB',
    'LAST RUN',
    'OUTCOME',
    'DURATION',
    'ATTEMPTS',
    'LAST SUCCESS',
    'NEXT RUN',
    'EXIT',
    'VERIFIED',
  ];
  const rows = report.jobs.map((job) => {
    const run = job.lastRun;
    const next =
      job.schedule.nextRun === null
        ? 'never'
        : `${relativeTime(job.schedule.nextRun, now)}${job.schedule.source === 'default' ? ' (default)' : ''}`;
    return [
      job.healthy ? ' ' : '!',
      job.name,
      job.running
        ? `running since ${relativeTime(Math.floor(Date.parse(job.running.since) / 1000), now)}`
        : run
          ? relativeTime(run.start, now)
          : '-',
      job.overdue ? `${job.outcome}, overdue` : job.outcome,
      run?.durationSeconds != null ? formatDuration(run.durationSeconds * 1000) : '-',
      run?.attempts != null ? String(run.attempts) : '-',
      job.lastSuccess ? relativeTime(job.lastSuccess, now) : 'never',
      next,
      run?.exitCode != null ? `${run.exitCode} ${run.exitMeaning}` : '-',
      !job.verify
        ? '-'
        : job.verify.lastStart === null
          ? 'never'
          : `${job.verify.success ? 'ok' : 'FAILED'} ${relativeTime(job.verify.lastStart, now)}`,
    ];
  });
  const lines = renderTable([header, ...rows]).map((line, i) => {
    if (i === 0 || !color) return line;
    const job = report.jobs[i - 1]!;
    // Colour the whole row: red when failing, yellow when overdue or never run.
    return job.healthy ? line : paint(job.outcome === 'failed' ? 'red' : 'yellow', line);
  });
  if (color) lines[0] = paint('bold', lines[0]!);
  const problems = report.jobs.flatMap((job) =>
    job.problems.map((p) => `${paint(OUTCOME_COLOR[job.outcome], '!')} ${job.name}: ${p}`),
  );
  const unhealthy = report.jobs.filter((j) => !j.healthy).length;
  const footer = healthFooter(unhealthy, report.jobs.length);
  return [...lines, ...(problems.length ? ['', ...problems] : []), '', footer].join('\n');
};

export const statusCommand = async (options: GlobalOptions, now: () => number = Date.now): Promise<number> => {
  const report = await statusReport(readConfig(options), Math.floor(now() / 1000));
  process.stdout.write(
    options.json
      ? `${JSON.stringify(report, null, 2)}\n`
      : `${formatStatus(report, useColor(process.stdout, options))}\n`,
  );
  return report.healthy ? EXIT.ok : EXIT.backupFailed;
};
