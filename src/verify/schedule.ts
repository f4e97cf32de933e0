// When a job's verify runs: its verify_schedule, else a weekly time drawn like the backup's.
// A job whose engine cannot verify yet, or with `verify: false`, has none: no cron line, no
// verify schedule metric, so BackupNotVerified never expects it.
import { hostname } from 'node:os';
import { backendFor } from '../backends/index.ts';
import type { JobConfig } from '../config.ts';
import { jitteredVerifySchedule } from '../schedule/index.ts';

/** Whether `cronvault verify` can check this job (verify on, and its engine supports it). */
export const verifiesJob = (job: JobConfig): boolean =>
  job.verify.enabled && backendFor(job.engine).checkRepository !== undefined;

/** The job's verify schedule (cron syntax), or undefined when the job is not verified. */
export const verifyScheduleOf = (job: JobConfig, host?: string): string | undefined =>
  verifiesJob(job)
    ? (job.verifySchedule ?? jitteredVerifySchedule(host ?? job.hostname ?? hostname(), job.name))
    : undefined;
