// `cronvault run`: one job from the config, every job (--all), or a job given by flags the way
// the old shell wrapper took its arguments.
import { type JobConfig, jobFromFlags } from '../config.ts';
import { rememberConfig } from '../config-cache.ts';
import { describeRemoval, syncDeclaredJobs } from '../declared-jobs.ts';
import { dryRunJobs, formatDryRun } from '../dry-run.ts';
import { CronvaultError, EXIT, UsageError } from '../errors.ts';
import { jobNameFromPath } from '../job-name.ts';
import type { Logger } from '../log.ts';
import { exitCodeFor, type RunResult, runJob } from '../wrapper.ts';
import { findJob, readConfig } from './context.ts';
import { configValuesFrom, type RunFlags, strayPathFlag } from './run-flags.ts';

export type { RunFlags } from './run-flags.ts';

const jobFromRunFlags = (flags: RunFlags, log: Logger): JobConfig => {
  const values = configValuesFrom(flags);
  if (flags.retryAttempts !== undefined || flags.retryMinDelay !== undefined || flags.retryMaxDelay !== undefined) {
    // Kept as text when it is not a number, so the error quotes what was typed.
    const attempts =
      flags.retryAttempts === undefined
        ? undefined
        : /^\d+$/.test(flags.retryAttempts)
          ? Number(flags.retryAttempts)
          : flags.retryAttempts;
    values.retry = { attempts, min_delay: flags.retryMinDelay, max_delay: flags.retryMaxDelay };
    for (const key of Object.keys(values.retry as object))
      if ((values.retry as Record<string, unknown>)[key] === undefined)
        delete (values.retry as Record<string, unknown>)[key];
  }
  const { job, warnings } = jobFromFlags(jobNameFromPath(flags.path!), values, {
    stateDir: flags.stateDir,
    textfileDir: flags.textfileDir,
    pushgatewayUrl: flags.pushgatewayUrl,
  });
  for (const warning of warnings) log.warn(warning);
  return job;
};

/**
 * The exit code of `run --all` is the most severe of its jobs', whatever their order: an
 * interruption, then a failed backup, then a config problem, then a job skipped as locked.
 */
const SEVERITY = [EXIT.ok, EXIT.locked, EXIT.usage, EXIT.backupFailed, EXIT.sigterm, EXIT.sigint] as number[];
const mostSevere = (a: number, b: number): number => (SEVERITY.indexOf(b) > SEVERITY.indexOf(a) ? b : a);

export const runCommand = async (
  jobName: string | undefined,
  flags: RunFlags,
  log: Logger,
  signal: AbortSignal,
): Promise<number> => {
  const flagMode = flags.path !== undefined;
  if (flagMode && (jobName !== undefined || flags.all))
    throw new UsageError('E_USAGE', 'give a job name, --all, or --path with its flags; not more than one');
  if (!flagMode) {
    const stray = strayPathFlag(flags);
    if (stray) throw new UsageError('E_USAGE', `${stray} is only used with --path (a job without a config file)`);
  }
  let jobs: JobConfig[];
  if (flagMode) jobs = [jobFromRunFlags(flags, log)];
  else {
    if (jobName === undefined && !flags.all)
      throw new UsageError('E_USAGE', 'which job? give its name (see `cronvault status`), --all, or --path DIR');
    if (jobName !== undefined && flags.all) throw new UsageError('E_USAGE', 'give a job name or --all, not both');
    const config = readConfig(flags);
    for (const warning of config.warnings) log.warn(warning);
    jobs = flags.all ? [...config.jobs.values()] : [findJob(config, jobName!)];
    // A dry run writes nothing, not even the job list.
    if (!flags.dryRun) {
      await syncDeclaredJobs(config).then(
        (removals) => {
          for (const removal of removals) log.info(describeRemoval(config, removal));
        },
        (error: Error) => log.error(`could not write ${config.textfileDir}/cronvault_jobs.prom: ${error.message}`),
      );
      rememberConfig();
    }
  }
  if (flags.dryRun) {
    const plans = await dryRunJobs(jobs, { logger: log, signal, forceRetention: flags.forceRetention });
    process.stdout.write(
      flags.json ? `${JSON.stringify({ dryRun: true, jobs: plans }, null, 2)}\n` : `${formatDryRun(plans)}\n`,
    );
    return plans.some((plan) => !plan.ok) ? EXIT.backupFailed : EXIT.ok;
  }
  const results: RunReport[] = [];
  let worst: number = EXIT.ok;
  for (const job of jobs) {
    if (signal.aborted) break;
    try {
      const result = await runJob(job, { logger: log, signal, forceRetention: flags.forceRetention });
      results.push(result);
      worst = mostSevere(worst, exitCodeFor(result, signal));
    } catch (error) {
      // With --all one locked job must not stop the others.
      if (!flags.all || !(error instanceof CronvaultError)) throw error;
      log.forJob(job.name).error(error.message);
      results.push({ job: job.name, outcome: 'skipped', exitCode: error.exitCode, reason: error.message });
      worst = mostSevere(worst, error.exitCode);
    }
  }
  // The logs went to stderr as usual; --json adds the results as one document on stdout.
  if (flags.json) process.stdout.write(`${JSON.stringify({ exitCode: worst, jobs: results }, null, 2)}\n`);
  return worst;
};

/** One job's entry in `run --json`: the run's result, or why it did not run (locked, with --all). */
type RunReport = RunResult | { job: string; outcome: 'skipped'; exitCode: number; reason: string };
