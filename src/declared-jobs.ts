// Which jobs the host's config declares, and what happens to a job that is no longer declared.
// cronvault_jobs.prom lists the declared jobs for the alert rules; a job removed from the config
// on purpose must take its own .prom file and state with it, or its old file would raise
// BackupNotRun and BackupMetricsStale forever.
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from './config.ts';
import { flockPath, lockPath, readLock } from './lock.ts';
import { metricsFile, writeJobsInfo } from './metrics.ts';
import { stateFile, writePrivate } from './state.ts';
import { removeVerifyFiles } from './verify/record.ts';

/**
 * The jobs each config file declared at its last run with this state directory. Kept in
 * state_dir rather than read back from the textfile, so jobs run only by flags (`run --path`),
 * which were never declared, are never removed; kept per config file, so two configs sharing
 * the directories (or a test run with `-c test.yml`) never remove each other's jobs.
 */
const declaredFile = (stateDir: string): string => join(stateDir, 'declared-jobs.json');

type DeclaredByConfig = Record<string, string[]>;

const readDeclared = async (stateDir: string): Promise<DeclaredByConfig> => {
  try {
    const value = JSON.parse(await readFile(declaredFile(stateDir), 'utf8')) as { configs?: unknown };
    if (typeof value.configs !== 'object' || value.configs === null) return {};
    return Object.fromEntries(
      Object.entries(value.configs).map(([file, jobs]) => [
        file,
        Array.isArray(jobs) ? jobs.filter((name): name is string => typeof name === 'string') : [],
      ]),
    );
  } catch {
    return {};
  }
};

export interface RemovedJob {
  job: string;
  /** Files deleted (the job's .prom, its state, a stale lock). */
  files: string[];
  /** Set when the job was left alone, and why. */
  kept?: string;
}

/**
 * Writes cronvault_jobs.prom for the declared jobs and removes the .prom file, state and stale
 * lock of every job the previous run declared and this config does not. History is kept: it is
 * bounded, and says what the job did before it was removed. A job still running (its lock held
 * by a live process) is left alone this time and removed by a later run.
 */
export const syncDeclaredJobs = async (config: Config): Promise<RemovedJob[]> => {
  await writeJobsInfo(config.textfileDir, config.jobs.values());
  const declared = [...config.jobs.keys()];
  const removed: RemovedJob[] = [];
  const stillThere: string[] = [];
  const byConfig = await readDeclared(config.stateDir);
  // Resolved, so `-c cfg.yml` and `-c /etc/cronvault/cfg.yml` are the same config.
  const ours = config.file ? resolve(config.file) : '';
  const declaredElsewhere = new Set(
    Object.entries(byConfig)
      .filter(([file]) => file !== ours)
      .flatMap(([, jobs]) => jobs),
  );
  for (const job of byConfig[ours] ?? []) {
    if (config.jobs.has(job) || declaredElsewhere.has(job)) continue;
    if (await readLock(config.stateDir, job)) {
      removed.push({ job, files: [], kept: 'a run of it is still in progress' });
      stillThere.push(job);
      continue;
    }
    const files: string[] = [];
    for (const file of [
      metricsFile(config.textfileDir, job),
      stateFile(config.stateDir, job),
      lockPath(config.stateDir, job),
      flockPath(config.stateDir, job),
    ]) {
      const deleted = await rm(file).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return false;
          throw error;
        },
      );
      if (deleted) files.push(file);
    }
    // `cronvault verify` writes its own textfile and state (src/verify/record.ts).
    files.push(...(await removeVerifyFiles(config.textfileDir, config.stateDir, job)));
    removed.push({ job, files });
  }
  // The first file a run writes into state_dir: it must create the directory private.
  byConfig[ours] = [...declared, ...stillThere];
  await writePrivate(declaredFile(config.stateDir), `${JSON.stringify({ configs: byConfig }, null, 2)}\n`);
  return removed;
};

/** One log line per removed job, for `run` and `cleanup`. */
export const describeRemoval = (config: Pick<Config, 'file'>, removal: RemovedJob): string =>
  removal.kept
    ? `job ${removal.job} is no longer declared in ${config.file ?? 'the config'}, but ${removal.kept}: its files are removed after it ends`
    : `job ${removal.job} is no longer declared in ${config.file ?? 'the config'}: removed ${removal.files.length ? removal.files.join(', ') : 'nothing (no files left)'}`;
