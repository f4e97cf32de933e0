// What a run does about one that died before it (kill -9, OOM, power loss): the dead run's
// engines may still be running in their own process groups, holding the repository's lock,
// and restic leaves its lock behind when it is killed. Without this every later run fails on
// "repository is already locked" until someone runs `restic unlock` by hand.

import { RUN_MARKER_VARIABLE, STOP_GRACE_MS } from './backends/engine-process.ts';
import type { AttemptOutcome, Backend, EngineContext } from './backends/types.ts';
import type { JobConfig } from './config.ts';
import { type LockRecord, liveLockRecords, repositoryId } from './lock.ts';
import type { Logger } from './log.ts';
import { groupsWithEnvironment, identityText, isOwnGroupAlive, stopGroup } from './process-identity.ts';

/**
 * After taking over the lock of a run that died: stop the engines it left running (SIGINT to
 * each group, SIGKILL after the grace period), then have the engine remove the stale
 * repository locks they left (`restic unlock`, which never removes a live lock).
 */
export const recoverAbandonedRun = async (
  job: JobConfig,
  backend: Backend,
  previous: LockRecord | undefined,
  context: EngineContext,
  log: Logger,
): Promise<void> => {
  if (!previous) return;
  log.warn(
    `the previous run (pid ${previous.pid}, since ${previous.since}) ended without releasing its lock; taking it over`,
  );
  // The groups the lock recorded, if still led by the very process the dead run started (pid
  // and start time), never whatever has the same pid now; and any process carrying that run's
  // marker, which covers one started just before the record was written.
  const groups = new Set((previous.engines ?? []).filter(isOwnGroupAlive).map((engine) => engine.pid));
  for (const group of groupsWithEnvironment(RUN_MARKER_VARIABLE, identityText(previous))) groups.add(group);
  for (const group of groups) {
    log.warn(`stopping engine process group ${group} left running by that run`);
    await stopGroup(group, STOP_GRACE_MS);
  }
  if (backend.clearStaleLocks && (await backend.clearStaleLocks(job, context)))
    log.info('removed stale repository locks left by that run');
};

/** Whether another live cronvault run of this host (another job) uses the job's repository. */
const repositoryInUse = async (job: JobConfig): Promise<boolean> => {
  const repository = repositoryId(job.repository);
  return (await liveLockRecords(job.stateDir)).some(
    (record) => record.pid !== process.pid && record.repository === repository,
  );
};

/**
 * Removes stale repository locks after cronvault stopped the engine (timeout, SIGINT/SIGTERM),
 * unless another job of this host is using the repository right now.
 */
export const clearStaleRepositoryLocks = async (
  job: JobConfig,
  backend: Backend,
  context: EngineContext,
  log: Logger,
): Promise<void> => {
  if (!backend.clearStaleLocks || (await repositoryInUse(job))) return;
  if (await backend.clearStaleLocks(job, context).catch(() => false)) log.info('removed stale repository locks');
};

/**
 * When an attempt failed on a repository lock while no other cronvault run of this host uses
 * that repository, the lock can only be stale (or another host's, which the engine keeps):
 * clear the stale ones once, so the caller can try again at once.
 */
export const clearedStaleRepositoryLock = async (
  job: JobConfig,
  backend: Backend,
  outcome: AttemptOutcome,
  context: EngineContext,
  log: Logger,
): Promise<boolean> => {
  if (outcome.kind !== 'transient' || !backend.clearStaleLocks || (await repositoryInUse(job))) return false;
  if (!(await backend.clearStaleLocks(job, context, outcome))) return false;
  log.warn(
    'the repository was locked while no other cronvault run of this host uses it: removed stale locks, trying again',
  );
  return true;
};
