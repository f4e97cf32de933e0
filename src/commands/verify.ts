// `cronvault verify <job>` / `verify --all`: proves the backups restore (src/verify/run.ts does
// the work). Exit 0 when every verified job passed, 1 when one failed.
import type { RepositoryCheck } from '../backends/types.ts';
import type { JobConfig } from '../config.ts';
import { CronvaultError, EXIT, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type VerifyResult, verifyJob } from '../verify/run.ts';
import { verifiesJob } from '../verify/schedule.ts';
import { findJob, type GlobalOptions, readConfig } from './context.ts';

export interface VerifyFlags extends GlobalOptions {
  all?: boolean;
  seed?: string;
}

type VerifyReport = VerifyResult | { job: string; ok: false; skipped: string; exitCode: number };

export const verifyCommand = async (
  jobName: string | undefined,
  flags: VerifyFlags,
  log: Logger,
  signal: AbortSignal,
): Promise<number> => {
  if (jobName === undefined && !flags.all)
    throw new UsageError('E_USAGE', 'which job? give its name (see `cronvault status`) or --all');
  if (jobName !== undefined && flags.all) throw new UsageError('E_USAGE', 'give a job name or --all, not both');
  const config = readConfig(flags);
  for (const warning of config.warnings) log.warn(warning);
  let jobs: JobConfig[];
  if (flags.all) {
    jobs = [...config.jobs.values()].filter((job) => {
      if (!verifiesJob(job))
        log
          .forJob(job.name)
          .info(
            job.verify.enabled
              ? `not verified: ${job.engine} jobs are not supported yet`
              : 'not verified: verify: false',
          );
      return verifiesJob(job);
    });
  } else jobs = [findJob(config, jobName!)];
  const checks = new Map<string, RepositoryCheck>();
  const reports: VerifyReport[] = [];
  let exitCode: number = EXIT.ok;
  for (const job of jobs) {
    if (signal.aborted) break;
    try {
      const result = await verifyJob(job, { logger: log, signal, seed: flags.seed, checks });
      reports.push(result);
      if (!result.ok) exitCode = EXIT.backupFailed;
    } catch (error) {
      // Stopped (SIGTERM, SIGINT): the exit code says so below; the drill directory is gone already.
      if (signal.aborted) break;
      if (!flags.all || !(error instanceof CronvaultError)) throw error;
      // With --all a locked job (its backup is running) must not stop the others.
      log.forJob(job.name).error(error.message);
      reports.push({ job: job.name, ok: false, skipped: error.message, exitCode: error.exitCode });
      if (exitCode === EXIT.ok) exitCode = error.exitCode;
    }
  }
  if (signal.aborted) exitCode = signal.reason === 'SIGTERM' ? EXIT.sigterm : EXIT.sigint;
  if (flags.json) process.stdout.write(`${JSON.stringify({ exitCode, jobs: reports }, null, 2)}\n`);
  return exitCode;
};
