// What a verify leaves behind: its own textfile, cronvault-verify_<job>.prom, and its own state.
// Its own, not the job's cronvault_<job>.prom: a backup running meanwhile rewrites that file
// from its state, and the two writers would overwrite each other's series. The name does not
// start with "cronvault_", so the backup file rules (BackupMetricsStale) never read it as a job.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Gauge, Registry } from 'prom-client';
import { writeFileAtomic } from '../atomic-write.ts';
import type { JobConfig } from '../config.ts';
import { pushgatewayJobGroup } from '../metrics.ts';
import { pushgatewayGroupUrl, putPushgatewayGroup } from '../pushgateway.ts';
import { maxIntervalSeconds, parseSchedule } from '../schedule/index.ts';
import { writePrivate } from '../state.ts';
import { verifyScheduleOf } from './schedule.ts';
import { type VerifyState, verifyStateFile } from './state-file.ts';

const METRIC = {
  start: ['backup_last_verify_start_timestamp_seconds', 'Unix time the last finished verify of this job started.'],
  success: [
    'backup_last_verify_success',
    '1 when the last verify (repository check and restore drill) passed, else 0.',
  ],
  duration: ['backup_last_verify_duration_seconds', 'Wall time of the last verify in seconds.'],
  filesChecked: ['backup_last_verify_files_checked', 'Files (or dumps) the last restore drill restored and checked.'],
  lastSuccess: [
    'backup_last_verify_success_timestamp_seconds',
    'Unix time the last successful verify ended; 0 when none has succeeded.',
  ],
  interval: [
    'backup_verify_schedule_max_interval_seconds',
    "Longest gap in seconds between two runs of the job's verify schedule.",
  ],
} as const;

const verifyMetricsFile = (textfileDir: string, job: string): string =>
  join(textfileDir, `cronvault-verify_${job}.prom`);

const renderVerifyMetrics = async (job: JobConfig, state: VerifyState): Promise<string> => {
  const registry = new Registry();
  const schedule = verifyScheduleOf(job);
  const values: Record<keyof typeof METRIC, number | undefined> = {
    start: state.start,
    success: state.success ? 1 : 0,
    duration: state.durationSeconds,
    filesChecked: state.filesChecked,
    lastSuccess: state.lastSuccess,
    interval: schedule ? maxIntervalSeconds(parseSchedule(schedule)) : undefined,
  };
  for (const [key, [name, help]] of Object.entries(METRIC)) {
    const value = values[key as keyof typeof METRIC];
    if (value === undefined || !Number.isFinite(value)) continue;
    new Gauge({ name, help, labelNames: ['backup'], registers: [registry] }).set({ backup: job.name }, value);
  }
  return registry.metrics();
};

/** Writes the state first (it survives a full textfile disk), then the metrics file. */
export const recordVerify = async (job: JobConfig, state: VerifyState): Promise<void> => {
  await writePrivate(verifyStateFile(job.stateDir, job.name), `${JSON.stringify(state, null, 2)}\n`);
  await writeFileAtomic(verifyMetricsFile(job.textfileDir, job.name), await renderVerifyMetrics(job, state));
};

/**
 * Pushes the verify file's series when `metrics.pushgateway_url` is set. Its group is the job's
 * plus command="verify": the run's PUT replaces only the run's group and this PUT only this
 * one, so neither deletes the other's series. POST into the run's group would not do: the next
 * run's PUT would drop the verify series until the next verify, a week later.
 */
export const pushVerifyMetrics = async (job: JobConfig, state: VerifyState): Promise<void> => {
  if (!job.pushgatewayUrl) return;
  const group = pushgatewayGroupUrl(job.pushgatewayUrl, [...pushgatewayJobGroup(job), ['command', 'verify']]);
  await putPushgatewayGroup(group, await renderVerifyMetrics(job, state));
};

/** For cleanup of a job no longer declared: its verify file and state; the paths removed. */
export const removeVerifyFiles = async (textfileDir: string, stateDir: string, job: string): Promise<string[]> => {
  const removed: string[] = [];
  for (const file of [verifyMetricsFile(textfileDir, job), verifyStateFile(stateDir, job)]) {
    const deleted = await rm(file).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );
    if (deleted) removed.push(file);
  }
  return removed;
};
