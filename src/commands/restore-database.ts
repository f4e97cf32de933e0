// `cronvault restore <job> --into-database NAME`: streams a postgresql or mysql job's dump into
// pg_restore / psql / mariadb reading an existing database. Nothing is created or dropped:
// the database must exist, as the operator made it.
import { execa } from 'execa';
import { backendFor } from '../backends/index.ts';
import type { JobConfig } from '../config.ts';
import { CronvaultError, EXIT, UsageError } from '../errors.ts';
import { findControlCharacter, quote } from '../input-text.ts';
import type { Logger } from '../log.ts';
import { prepareRestore } from '../presets/index.ts';
import { redactText } from '../redact.ts';

const checkDatabaseName = (name: string): void => {
  if (name === '' || findControlCharacter(name) || name.startsWith('-') || name.includes('='))
    throw new UsageError(
      'E_USAGE',
      `--into-database ${quote(name)} is not a database name (no control characters, "=" or leading "-")`,
    );
};

export const restoreIntoDatabase = async (
  job: JobConfig,
  snapshot: string,
  database: string,
  log: Logger,
  signal?: AbortSignal,
): Promise<void> => {
  checkDatabaseName(database);
  const client = await prepareRestore(job, database);
  const [file, ...args] = client.argv;
  // The client ending early (a missing database) must stop the engine writing into its pipe.
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const subprocess = execa(file!, args, {
      env: { ...job.env, ...client.env },
      reject: false,
      stdin: 'pipe',
      stdout: 'inherit',
      stderr: 'pipe',
      buffer: { stderr: true },
    });
    subprocess.stdin?.on('error', () => {});
    const finished = subprocess.then((result) => {
      stop.abort('the database client exited');
      return result;
    });
    log.info(`restoring snapshot ${snapshot} of job ${job.name} into database ${database} with ${file}`);
    const restored = backendFor(job.engine)
      .restore(job, { snapshot, toStdout: true, stdoutTo: subprocess.stdin! }, { signal: stop.signal })
      .then(
        () => undefined,
        (error: Error) => error,
      );
    const engineError = await restored;
    subprocess.stdin?.end();
    const result = await finished;
    if (result.exitCode !== 0) {
      const detail = redactText(
        String(result.stderr ?? '')
          .trim()
          .split('\n')
          .pop() ?? '',
      );
      throw new CronvaultError(
        'E_RESTORE',
        EXIT.backupFailed,
        `${file} failed with exit ${result.exitCode ?? result.signal}${detail ? `: ${detail}` : ''}; database ${database} may hold part of the dump`,
      );
    }
    if (engineError) throw engineError;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await client.cleanup();
  }
};
