// `cronvault restore <job>`: puts a snapshot of the job back with its engine. Refuses to mix a
// restore into a directory that already holds files unless told to (--force), because the
// result would be neither the old state nor the new one.
import { readdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { backendFor } from '../backends/index.ts';
import { CronvaultError, EXIT, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type ConfigOption, findJob, readConfig } from './context.ts';
import { restoreIntoDatabase } from './restore-database.ts';

export interface RestoreFlags extends ConfigOption {
  target?: string;
  snapshot?: string;
  include?: string[];
  toStdout?: boolean;
  force?: boolean;
  intoDatabase?: string;
}

/** Throws unless the target is absent, or an empty directory, or --force was given. */
const assertTargetUsable = async (target: string, force: boolean): Promise<void> => {
  let entries: string[];
  try {
    const info = await stat(target);
    if (!info.isDirectory()) throw new UsageError('E_RESTORE_TARGET', `--target ${target} is not a directory`);
    entries = await readdir(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (entries.length > 0 && !force) {
    throw new UsageError(
      'E_RESTORE_TARGET',
      `--target ${target} is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, e.g. ${entries.slice(0, 3).join(', ')}); nothing was restored. Choose an empty directory, or add --force to restore over it (files with the same names are overwritten)`,
    );
  }
};

export const restoreCommand = async (
  jobName: string,
  flags: RestoreFlags,
  log: Logger,
  signal?: AbortSignal,
): Promise<number> => {
  if (flags.intoDatabase !== undefined && (flags.toStdout || flags.target !== undefined || flags.include))
    throw new UsageError('E_USAGE', 'give --into-database NAME alone, without --target, --to-stdout or --include');
  if (flags.toStdout && flags.target !== undefined)
    throw new UsageError('E_USAGE', 'give --target DIR or --to-stdout, not both');
  if (!flags.toStdout && flags.target === undefined && flags.intoDatabase === undefined)
    throw new UsageError(
      'E_USAGE',
      'where to? give --target DIR (an empty directory), or --to-stdout for a command job',
    );
  const job = findJob(readConfig(flags), jobName);
  const jobLog = log.forJob(job.name);
  if (flags.toStdout && job.command === undefined && (flags.include?.length ?? 0) !== 1) {
    throw new UsageError(
      'E_USAGE',
      `job ${job.name} backs up ${job.path}, not a single stream: --to-stdout needs exactly one --include FILE (the file's path in the snapshot)`,
    );
  }
  const backend = backendFor(job.engine);
  const snapshot = flags.snapshot ?? 'latest';
  if (snapshot !== 'latest') {
    // An ID from another job or host would restore someone else's data under this job's name.
    const own = await backend.snapshots(job, { signal });
    if (!own.some((s) => s.id.startsWith(snapshot) || snapshot.startsWith(s.id))) {
      throw new UsageError(
        'E_SNAPSHOT',
        `snapshot ${snapshot} is not one of job ${job.name}'s snapshots on this host (see \`cronvault snapshots ${job.name}\`)`,
      );
    }
  }
  if (flags.intoDatabase !== undefined) {
    await restoreIntoDatabase(job, snapshot, flags.intoDatabase, jobLog, signal);
    jobLog.success(`restored snapshot ${snapshot} into database ${flags.intoDatabase}`);
    return EXIT.ok;
  }
  if (flags.toStdout) {
    await backend.restore(job, { snapshot, include: flags.include, toStdout: true }, { signal });
    return EXIT.ok;
  }
  const target = resolve(flags.target!);
  await assertTargetUsable(target, flags.force ?? false);
  const before = (await readdir(target).catch(() => [])).length;
  jobLog.info(`restoring snapshot ${snapshot} of ${job.path ?? `"${job.command}"`} into ${target}`);
  await backend.restore(
    job,
    { snapshot, target, include: flags.include },
    { signal, onOutput: (line) => jobLog.engine(line) },
  );
  // restic exits 0 when --include matches nothing: a restore drill must not pass on an empty target.
  // (Checked when the target started empty; over a non-empty one with --force it cannot be told.)
  if (before === 0 && (await readdir(target).catch(() => [])).length === 0) {
    throw new CronvaultError(
      'E_RESTORE_EMPTY',
      EXIT.backupFailed,
      `snapshot ${snapshot} restored nothing into ${target}${flags.include ? `: --include ${flags.include.join(', ')} matched no file` : ''}`,
    );
  }
  jobLog.success(
    `restored snapshot ${snapshot} into ${target}${job.path ? ` (the files are under ${target}${job.path})` : ''}`,
  );
  return EXIT.ok;
};
