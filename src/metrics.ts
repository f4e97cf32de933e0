// Metric names, labels and the textfile output. One stable schema for every job: the job is a
// label, never part of a metric name, and names end in their unit (Prometheus naming guide).
// Per-job series carry only the `backup` label; what else identifies a job (engine, path,
// schedule) lives on backup_job_info alone, joined with `group_left` where a rule or panel needs
// it, so a changed path does not start new series. docs/metrics.md documents every series.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Gauge, Registry } from 'prom-client';
import { writeFileAtomic } from './atomic-write.ts';
import type { JobConfig } from './config.ts';
import { CronvaultError, EXIT } from './errors.ts';
import { HOOK_PHASES, type HookPhase } from './hooks-config.ts';
import { pushgatewayGroupUrl, putPushgatewayGroup } from './pushgateway.ts';
import { maxIntervalSeconds, parseSchedule } from './schedule/index.ts';
import { verifyScheduleOf } from './verify/schedule.ts';
import { VERSION } from './version.ts';

/** Every series name cronvault writes (`cronvault fleet` asks Prometheus for the same names). */
export const METRIC = {
  lastRunStart: 'backup_last_run_start_timestamp_seconds',
  lastRunDuration: 'backup_last_run_duration_seconds',
  lastExitCode: 'backup_last_exit_code',
  lastRunSuccess: 'backup_last_run_success',
  lastRunWarnings: 'backup_last_run_warnings',
  lastSuccess: 'backup_last_success_timestamp_seconds',
  lastRunAttempts: 'backup_last_run_attempts',
  running: 'backup_running',
  filesNew: 'backup_last_files_new',
  filesChanged: 'backup_last_files_changed',
  filesProcessed: 'backup_last_files_processed',
  bytesProcessed: 'backup_last_processed_bytes',
  bytesAdded: 'backup_last_added_bytes',
  retentionSuccess: 'backup_last_retention_success',
  retentionTimestamp: 'backup_last_retention_timestamp_seconds',
  retentionRemoved: 'backup_last_retention_removed_snapshots',
  retentionExitCode: 'backup_last_retention_exit_code',
  snapshots: 'backup_snapshots',
  dumpBytes: 'backup_last_dump_bytes',
  dumpExitCode: 'backup_last_dump_exit_code',
  buildInfo: 'cronvault_build_info',
  jobInfo: 'backup_job_info',
  jobScheduleMaxInterval: 'backup_job_schedule_max_interval_seconds',
  lastHookFailure: 'backup_last_hook_failure',
  jobVerifyScheduleMaxInterval: 'backup_job_verify_schedule_max_interval_seconds',
} as const;

const HELP: Record<keyof typeof METRIC, string> = {
  lastRunStart: 'Unix time the last cronvault run of this job started.',
  lastRunDuration: 'Wall time of the last finished run in seconds, retries and retention included.',
  lastExitCode: "Raw exit code of the engine's last attempt (engine-specific; -1 when the engine never started).",
  lastRunSuccess: '1 when the last finished run succeeded (warnings included), else 0.',
  lastRunWarnings: '1 when the last finished run succeeded with warnings, else 0.',
  lastSuccess: 'Unix time the last successful run ended; 0 when the job never succeeded.',
  lastRunAttempts: 'Engine attempts made by the last run.',
  running: '1 while a run of this job is in progress, else 0.',
  filesNew: 'New files in the last backup, from the engine summary.',
  filesChanged: 'Changed files in the last backup, from the engine summary.',
  filesProcessed: 'Files examined by the last backup, from the engine summary.',
  bytesProcessed: 'Bytes examined by the last backup, from the engine summary.',
  bytesAdded: 'Bytes added to the repository by the last backup, from the engine summary.',
  retentionSuccess: '1 when the last retention run succeeded, 0 when it failed or was refused.',
  retentionTimestamp: 'Unix time the last retention run ended.',
  retentionRemoved: 'Snapshots removed by the last retention run.',
  retentionExitCode: "Exit code of the engine's last retention command (-1 when refused before running).",
  snapshots: 'Snapshots of this job on this host kept after the last retention run.',
  dumpBytes: 'Bytes the producer (command or database preset) of the last run wrote; 0 fails the run.',
  dumpExitCode:
    "Exit code of the last run's producer (command or database preset); 128 + the signal number when killed.",
  buildInfo: 'Always 1; the version label says which cronvault wrote the file.',
  jobInfo: "Always 1 for every declared job; its labels say the job's engine, path and schedule.",
  jobScheduleMaxInterval:
    "Longest gap in seconds between two runs of a declared job's cron schedule, known before its first run.",
  lastHookFailure:
    '1 when a command of this hook phase failed in the last finished run, else 0 (jobs with hooks only).',
  jobVerifyScheduleMaxInterval:
    "Longest gap in seconds between two runs of a declared job's verify schedule; only for jobs `cronvault verify` checks.",
};

/** The labels of every per-job series: the job, nothing that may change while it stays the same job. */
const JOB_LABELS = ['backup'] as const;
/** backup_job_info's labels: the job's identity, joined onto per-job series by (instance, backup). */
const JOB_INFO_LABELS = ['backup', 'engine', 'path', 'schedule'] as const;

/** Everything the per-job file says; undefined fields are left out of the file. */
export interface JobMetrics {
  lastRunStart: number;
  running: boolean;
  /**
   * Kept in the job's state, never written as a series: a finished run's end is its start plus
   * its duration, and `backup_running` tells a run in progress (one series per job saved).
   */
  lastRunEnd?: number;
  lastRunDuration?: number;
  lastExitCode?: number;
  lastRunSuccess?: boolean;
  lastRunWarnings?: boolean;
  lastSuccess: number;
  lastRunAttempts?: number;
  filesNew?: number;
  filesChanged?: number;
  filesProcessed?: number;
  bytesProcessed?: number;
  bytesAdded?: number;
  retentionSuccess?: boolean;
  retentionTimestamp?: number;
  retentionRemoved?: number;
  retentionExitCode?: number;
  snapshots?: number;
  /** Per hook phase, whether one of its commands failed in the last finished run; absent without hooks. */
  lastHookFailure?: Partial<Record<HookPhase, boolean>>;
  dumpBytes?: number;
  dumpExitCode?: number;
}

const jobLabels = (job: Pick<JobConfig, 'name'>) => ({ backup: job.name });
const jobInfoLabels = (job: Pick<JobConfig, 'name' | 'engine' | 'path' | 'schedule'>) => ({
  backup: job.name,
  engine: job.engine,
  path: job.path ?? '-',
  schedule: job.schedule ?? '',
});

export const metricsFile = (textfileDir: string, jobName: string): string =>
  join(textfileDir, `cronvault_${jobName}.prom`);
const JOBS_FILE = 'cronvault_jobs.prom';

const gauge = (registry: Registry, key: keyof typeof METRIC, labelNames: readonly string[]) =>
  new Gauge({ name: METRIC[key], help: HELP[key], labelNames: [...labelNames], registers: [registry] });

/**
 * A sample's value, or undefined when it is not a finite number: an engine summary with a
 * wrongly typed field must cost that one series, never the whole file (prom-client throws on it).
 */
const sampleValue = (value: unknown): number | undefined => {
  if (typeof value === 'boolean') return value ? 1 : 0;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
};

export interface RenderOptions {
  /**
   * Also write the job's backup_job_info. A job declared in a config has it in cronvault_jobs.prom
   * (written by `run` and `check`), and the same series in two files breaks node_exporter's
   * scrape; a job run by flags only (`run --path`) and a Pushgateway group have no other source.
   */
  withJobInfo?: boolean;
}

/** Renders one job's file. HELP/TYPE lines are identical in every file, so node_exporter merges them. */
export const renderJobMetrics = async (
  job: JobConfig,
  values: JobMetrics,
  options: RenderOptions = {},
): Promise<string> => {
  const registry = new Registry();
  const labels = jobLabels(job);
  const { lastHookFailure, ...scalars } = values;
  const fields: Partial<Record<keyof typeof METRIC, number | boolean | undefined>> = { ...scalars };
  // The schedule's longest gap is the jobs file's (cronvault_jobs.prom); a file or group that
  // stands alone (a job run by flags, a Pushgateway group) carries it with its job info.
  if (options.withJobInfo && job.schedule)
    fields.jobScheduleMaxInterval = maxIntervalSeconds(parseSchedule(job.schedule));
  for (const key of Object.keys(METRIC) as (keyof typeof METRIC)[]) {
    const value = sampleValue(fields[key]);
    if (key === 'buildInfo' || key === 'jobInfo' || key === 'jobVerifyScheduleMaxInterval' || value === undefined)
      continue;
    gauge(registry, key, JOB_LABELS).set(labels, value);
  }
  if (lastHookFailure) {
    // One series per phase, always all four: a fixed set an alert can compare with 0.
    const hookFailure = gauge(registry, 'lastHookFailure', [...JOB_LABELS, 'phase']);
    for (const phase of HOOK_PHASES) hookFailure.set({ ...labels, phase }, lastHookFailure[phase] ? 1 : 0);
  }
  if (options.withJobInfo) gauge(registry, 'jobInfo', JOB_INFO_LABELS).set(jobInfoLabels(job), 1);
  return registry.metrics();
};

/**
 * `cronvault_build_info` once per host. In every job's file it would be one series collected
 * several times: node_exporter then fails each scrape's gathering step (logged as "was collected
 * before", counted in promhttp_metric_handler_errors_total) while node_textfile_scrape_error stays 0.
 */
const addBuildInfo = (registry: Registry): void => {
  gauge(registry, 'buildInfo', ['version']).set({ version: VERSION }, 1);
};

/**
 * Writes the job's file. When the final write of a run fails (a full disk), the file still says
 * `backup_running 1` from the run's start and would look stuck forever: it is removed instead
 * (unlinking needs no space), so the job's series vanish and the missed-run alerts take over.
 */
export const writeJobMetrics = async (job: JobConfig, values: JobMetrics): Promise<void> => {
  const file = metricsFile(job.textfileDir, job.name);
  try {
    // Build info is left out here even for jobs run by flags: several of them share one textfile
    // directory, and the same series in two files fails node_exporter's gathering.
    await writeFileAtomic(file, await renderJobMetrics(job, values, { withJobInfo: job.declaredBy === 'flags' }));
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOSPC' ? 'no space left on device' : (error as Error).message;
    let note = '';
    if (!values.running) {
      const removed = await rm(file).then(
        () => true,
        (rmError: NodeJS.ErrnoException) => rmError.code === 'ENOENT',
      );
      note = removed
        ? `; removed ${file} so it does not say the job is still running`
        : `; ${file} may still say the job is running`;
    }
    throw new CronvaultError('E_METRICS_WRITE', EXIT.backupFailed, `cannot write metrics: ${reason} (${file})${note}`, {
      cause: error,
    });
  }
};

/** The grouping labels of a job's Pushgateway group: one per host and job, so pushes never overwrite each other. */
export const pushgatewayJobGroup = (job: Pick<JobConfig, 'hostname' | 'name'>): [string, string][] => [
  ['job', 'cronvault'],
  ['instance', job.hostname],
  ['backup', job.name],
];

/**
 * Pushes the same series to a Pushgateway (PUT replaces the job's group), for hosts that run no
 * node_exporter. Scrape the Pushgateway with honor_labels: true so `instance` stays the host.
 * The group carries the job's backup_job_info too: rules and panels join engine and path from it,
 * and, for a job `cronvault verify` checks, its verify schedule's gap, which cronvault_jobs.prom
 * holds on a node_exporter host, so BackupNotVerified and BackupNeverVerified work on it.
 */
export const pushJobMetrics = async (job: JobConfig, values: JobMetrics): Promise<void> => {
  if (!job.pushgatewayUrl) return;
  // Each pushed group gets its own grouping labels, so build info does not collide there.
  const groupOnly = new Registry();
  addBuildInfo(groupOnly);
  const verifySchedule = job.declaredBy === 'flags' ? undefined : verifyScheduleOf(job);
  const verifySeconds = verifySchedule ? maxIntervalSeconds(parseSchedule(verifySchedule)) : undefined;
  if (verifySeconds !== undefined)
    gauge(groupOnly, 'jobVerifyScheduleMaxInterval', JOB_LABELS).set(jobLabels(job), verifySeconds);
  const body = (await renderJobMetrics(job, values, { withJobInfo: true })) + (await groupOnly.metrics());
  await putPushgatewayGroup(pushgatewayGroupUrl(job.pushgatewayUrl, pushgatewayJobGroup(job)), body);
};

/** `backup_job_info` for every declared job, so a job that never ran is still visible. */
export const renderJobsInfo = async (jobs: Iterable<JobConfig>): Promise<string> => {
  const registry = new Registry();
  addBuildInfo(registry);
  const info = gauge(registry, 'jobInfo', JOB_INFO_LABELS);
  const interval = gauge(registry, 'jobScheduleMaxInterval', JOB_LABELS);
  const verifyInterval = gauge(registry, 'jobVerifyScheduleMaxInterval', JOB_LABELS);
  for (const job of jobs) {
    info.set(jobInfoLabels(job), 1);
    const seconds = job.schedule ? maxIntervalSeconds(parseSchedule(job.schedule)) : undefined;
    if (seconds !== undefined) interval.set(jobLabels(job), seconds);
    // The weekly verify's gap, which BackupNotVerified waits before a job that never verified alerts.
    const verifySchedule = verifyScheduleOf(job);
    const verifySeconds = verifySchedule ? maxIntervalSeconds(parseSchedule(verifySchedule)) : undefined;
    if (verifySeconds !== undefined) verifyInterval.set(jobLabels(job), verifySeconds);
  }
  return registry.metrics();
};

export const writeJobsInfo = async (textfileDir: string, jobs: Iterable<JobConfig>): Promise<void> => {
  await writeFileAtomic(join(textfileDir, JOBS_FILE), await renderJobsInfo(jobs));
};
