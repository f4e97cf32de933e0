// `cronvault run`: one job from the config, every job (--all), or a job given by flags the way
// the old shell wrapper took its arguments.
import { jobFromFlags, type JobConfig } from '../config.ts';
import { CronvaultError, EXIT, UsageError } from '../errors.ts';
import { jobNameFromPath } from '../job-name.ts';
import type { Logger } from '../log.ts';
import { describeRemoval, syncDeclaredJobs } from '../declared-jobs.ts';
import { exitCodeFor, runJob } from '../wrapper.ts';
import { findJob, readConfig, type ConfigOption } from './context.ts';

export interface RunFlags extends ConfigOption {
  all?: boolean;
  path?: string;
  engine?: string;
  repository?: string;
  passwordFile?: string;
  passwordCommand?: string;
  retention?: string;
  textfileDir?: string;
  pushgatewayUrl?: string;
  stateDir?: string;
  hostname?: string;
  binary?: string;
  exclude?: string[];
  retryAttempts?: string;
  retryMinDelay?: string;
  retryMaxDelay?: string;
  timeout?: string;
  init?: boolean;
  forceRetention?: boolean;
  schedule?: string;
}

const FLAG_ONLY = ['path', 'engine', 'repository', 'passwordFile', 'passwordCommand', 'retention', 'textfileDir', 'pushgatewayUrl', 'stateDir', 'hostname', 'binary', 'exclude', 'retryAttempts', 'retryMinDelay', 'retryMaxDelay', 'timeout', 'init', 'schedule'] as const;

const jobFromRunFlags = (flags: RunFlags, log: Logger): JobConfig => {
  const values: Record<string, unknown> = {
    path: flags.path,
    engine: flags.engine,
    repository: flags.repository,
    password_file: flags.passwordFile,
    password_command: flags.passwordCommand,
    retention: flags.retention,
    hostname: flags.hostname,
    binary: flags.binary,
    exclude: flags.exclude,
    timeout: flags.timeout,
    init: flags.init,
    schedule: flags.schedule,
  };
  if (flags.retryAttempts !== undefined || flags.retryMinDelay !== undefined || flags.retryMaxDelay !== undefined) {
    // Kept as text when it is not a number, so the error quotes what was typed.
    const attempts = flags.retryAttempts === undefined ? undefined : /^\d+$/.test(flags.retryAttempts) ? Number(flags.retryAttempts) : flags.retryAttempts;
    values.retry = { attempts, min_delay: flags.retryMinDelay, max_delay: flags.retryMaxDelay };
    for (const key of Object.keys(values.retry as object)) if ((values.retry as Record<string, unknown>)[key] === undefined) delete (values.retry as Record<string, unknown>)[key];
  }
  for (const key of Object.keys(values)) if (values[key] === undefined) delete values[key];
  const { job, warnings } = jobFromFlags(jobNameFromPath(flags.path!), values, { stateDir: flags.stateDir, textfileDir: flags.textfileDir, pushgatewayUrl: flags.pushgatewayUrl });
  for (const warning of warnings) log.warn(warning);
  return job;
};

/**
 * The exit code of `run --all` is the most severe of its jobs', whatever their order: an
 * interruption, then a failed backup, then a config problem, then a job skipped as locked.
 */
const SEVERITY = [EXIT.ok, EXIT.locked, EXIT.usage, EXIT.backupFailed, EXIT.sigterm, EXIT.sigint] as number[];
const mostSevere = (a: number, b: number): number => (SEVERITY.indexOf(b) > SEVERITY.indexOf(a) ? b : a);

export const runCommand = async (jobName: string | undefined, flags: RunFlags, log: Logger, signal: AbortSignal): Promise<number> => {
  const flagMode = flags.path !== undefined;
  if (flagMode && (jobName !== undefined || flags.all)) throw new UsageError('E_USAGE', 'give a job name, --all, or --path with its flags; not more than one');
  if (!flagMode) {
    const stray = FLAG_ONLY.filter((key) => flags[key] !== undefined && key !== 'init');
    if (stray.length > 0) throw new UsageError('E_USAGE', `--${stray[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is only used with --path (a job without a config file)`);
  }
  if (flagMode) {
    const result = await runJob(jobFromRunFlags(flags, log), { logger: log, signal, forceRetention: flags.forceRetention });
    return exitCodeFor(result, signal);
  }
  if (jobName === undefined && !flags.all) throw new UsageError('E_USAGE', 'which job? give its name (see `cronvault status`), --all, or --path DIR');
  if (jobName !== undefined && flags.all) throw new UsageError('E_USAGE', 'give a job name or --all, not both');
  const config = readConfig(flags);
  for (const warning of config.warnings) log.warn(warning);
  await syncDeclaredJobs(config).then(
    (removals) => removals.forEach((removal) => log.info(describeRemoval(config, removal))),
    (error: Error) => log.error(`could not write ${config.textfileDir}/cronvault_jobs.prom: ${error.message}`),
  );
  const jobs = flags.all ? [...config.jobs.values()] : [findJob(config, jobName!)];
  let worst: number = EXIT.ok;
  for (const job of jobs) {
    if (signal.aborted) break;
    try {
      worst = mostSevere(worst, exitCodeFor(await runJob(job, { logger: log, signal, forceRetention: flags.forceRetention }), signal));
    } catch (error) {
      // With --all one locked job must not stop the others.
      if (!flags.all || !(error instanceof CronvaultError)) throw error;
      log.forJob(job.name).error(error.message);
      worst = mostSevere(worst, error.exitCode);
    }
  }
  return worst;
};
