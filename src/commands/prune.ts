// `cronvault prune`: frees the space of forgotten snapshots (restic prune, borg compact) for each
// repository of the config this host is the pruner of, one repository at a time, each under its
// own lock in state_dir, and records the outcome in cronvault-prune_<repository>.prom.
import { backendFor } from '../backends/index.ts';
import type { PruneOutcome } from '../backends/types.ts';
import { formatBytes, formatDuration } from '../durations.ts';
import { CronvaultError, EXIT, UsageError } from '../errors.ts';
import { acquireLock } from '../lock.ts';
import type { Logger } from '../log.ts';
import { writePruneMetrics } from '../prune-metrics.ts';
import { prunesHere, type Repository, repositoriesOf } from '../repositories.ts';
import { didYouMean } from '../suggest.ts';
import { type GlobalOptions, readConfig } from './context.ts';

export interface PruneFlags extends GlobalOptions {
  repository?: string[];
  dryRun?: boolean;
}

interface PruneReport {
  repository: string;
  pruned: boolean;
  outcome: PruneOutcome['kind'] | 'skipped' | 'locked';
  exitCode?: number;
  reason: string;
  removedBytes?: number;
  durationSeconds?: number;
}

/** The lock of a repository's prune; "@" cannot occur in a job name, so no job's lock is taken. */
const lockName = (repository: Repository): string => `prune@${repository.name}`;

/** Why this host leaves a repository alone. */
const notHere = (repository: Repository): string => {
  if (repository.appendOnly) return 'append-only: the trusted host prunes it';
  if (repository.engine === 'duplicati') return 'duplicati compacts by itself during its backups';
  return `prune.host is ${repository.pruneHost}, this host is ${repository.jobs[0]!.hostname}`;
};

const selected = (all: Repository[], names: string[] | undefined): Repository[] => {
  if (!names?.length) return all;
  return names.map((name) => {
    const found = all.find((repository) => repository.name === name);
    if (!found) {
      const known = all.map((repository) => repository.name);
      throw new UsageError(
        'E_UNKNOWN_REPOSITORY',
        `no repository "${name}" in the config${didYouMean(name, known)}; repositories: ${known.join(', ')}`,
      );
    }
    return found;
  });
};

const pruneOne = async (repository: Repository, flags: PruneFlags, log: Logger, signal?: AbortSignal) => {
  const job = repository.jobs[0]!;
  const backend = backendFor(repository.engine);
  const lock = await acquireLock(job.stateDir, lockName(repository), { repository: repository.url });
  const started = Date.now();
  try {
    await backend.ensureInstalled(job);
    const outcome: PruneOutcome = await backend.pruneRepository!(
      job,
      { dryRun: flags.dryRun },
      { signal, warn: (m) => log.warn(m), onOutput: (line) => log.engine(line) },
    ).catch((error: Error): PruneOutcome => ({ kind: 'failed', exitCode: -1, attempts: 0, reason: error.message }));
    const durationSeconds = (Date.now() - started) / 1000;
    // A dry run changes nothing, the metrics included.
    if (!flags.dryRun)
      await writePruneMetrics(job.textfileDir, repository.name, {
        start: Math.floor(started / 1000),
        success: outcome.kind === 'success',
        duration: durationSeconds,
        exitCode: outcome.exitCode,
        removedBytes: outcome.removedBytes,
      });
    return { outcome, durationSeconds };
  } finally {
    await lock.release();
  }
};

export const pruneCommand = async (flags: PruneFlags, logger: Logger, signal?: AbortSignal): Promise<number> => {
  const config = readConfig(flags);
  const repositories = selected(repositoriesOf(config.jobs.values(), config.file), flags.repository);
  const reports: PruneReport[] = [];
  let exitCode: number = EXIT.ok;
  for (const repository of repositories) {
    const log = logger.forJob(`prune ${repository.name}`);
    if (!prunesHere(repository) || !backendFor(repository.engine).pruneRepository) {
      log.info(`not pruned on this host: ${notHere(repository)}`);
      reports.push({ repository: repository.name, pruned: false, outcome: 'skipped', reason: notHere(repository) });
      continue;
    }
    try {
      const { outcome, durationSeconds } = await pruneOne(repository, flags, log, signal);
      const freed = outcome.removedBytes === undefined ? '' : `, ${formatBytes(outcome.removedBytes)} freed`;
      const took = formatDuration(durationSeconds * 1000);
      if (outcome.kind === 'success') log.success(`${outcome.reason} in ${took}${freed}`);
      else {
        log.error(`prune failed after ${outcome.attempts} attempt(s) in ${took}: ${outcome.reason}`);
        exitCode = EXIT.backupFailed;
      }
      reports.push({
        repository: repository.name,
        pruned: outcome.kind === 'success' && !flags.dryRun,
        outcome: outcome.kind,
        exitCode: outcome.exitCode,
        reason: outcome.reason,
        removedBytes: outcome.removedBytes,
        durationSeconds,
      });
    } catch (error) {
      if (!(error instanceof CronvaultError && error.code === 'E_LOCKED')) throw error;
      // Another prune of this repository runs on this host: it does the work.
      log.warn(`another prune of this repository is still running; skipped`);
      reports.push({ repository: repository.name, pruned: false, outcome: 'locked', reason: error.message });
      if (exitCode === EXIT.ok) exitCode = EXIT.locked;
    }
  }
  if (flags.json) process.stdout.write(`${JSON.stringify({ repositories: reports }, null, 2)}\n`);
  return exitCode;
};
