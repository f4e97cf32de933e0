// `cronvault init <job>`: creates the job's repository when it does not exist yet; running it
// again is harmless ("already exists", exit 0), so provisioning can call it every time.
import { backendFor } from '../backends/index.ts';
import { CronvaultError, EXIT } from '../errors.ts';
import type { Logger } from '../log.ts';
import { redactRepository } from '../redact.ts';
import { findJob, type GlobalOptions, readConfig } from './context.ts';

export const initCommand = async (
  jobName: string,
  flags: GlobalOptions,
  log: Logger,
  signal?: AbortSignal,
): Promise<number> => {
  const job = findJob(readConfig(flags), jobName);
  const jobLog = log.forJob(job.name);
  const backend = backendFor(job.engine);
  const where = redactRepository(job.repository);
  await backend.ensureInstalled(job);
  const probe = await backend.probeRepository(job);
  // Logs go to stderr as for every command; --json adds the result as data on stdout.
  const report = (created: boolean): number => {
    if (flags.json) process.stdout.write(`${JSON.stringify({ job: job.name, repository: where, created }, null, 2)}\n`);
    return EXIT.ok;
  };
  switch (probe.state) {
    case 'ok':
      jobLog.success(`repository ${where} already exists; nothing to do`);
      return report(false);
    case 'unprobed':
      jobLog.success(`repository ${where}: ${probe.message}; nothing to do`);
      return report(false);
    case 'missing':
      break;
    default:
      throw new CronvaultError(
        'E_INIT',
        EXIT.backupFailed,
        `cannot tell whether ${where} exists, so it was not created: ${probe.message}`,
      );
  }
  await backend.ensureRepository({ ...job, init: true }, { signal, warn: (m) => jobLog.info(m) });
  const after = await backend.probeRepository(job);
  if (after.state !== 'ok')
    throw new CronvaultError(
      'E_INIT',
      EXIT.backupFailed,
      `repository ${where} still does not answer after creating it: ${after.message}`,
    );
  jobLog.success(`created repository ${where}`);
  return report(true);
};
