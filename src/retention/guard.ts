// The retention guard: whatever the engine, a policy may not delete every snapshot of a job,
// nor more than retention_max_delete of them unless forced. Engines ask it before deleting.
import type { RetentionOutcome } from '../backends/types.ts';

/** One group of an engine's dry run (restic: `forget --dry-run --json`): what it would keep and remove. */
export interface ForgetGroup {
  keep?: unknown[] | null;
  remove?: unknown[] | null;
}

/**
 * Decides from a dry run whether deleting may go ahead: never every snapshot, and never more
 * than `maxDelete` of them unless forced, since a wrong policy or a clock jump should cost a
 * refused run, not a repository.
 */
export const retentionVerdict = (
  groups: ForgetGroup[],
  maxDelete: number,
  force: boolean,
): { kind: 'proceed'; removed: number; kept: number } | { kind: 'stop'; outcome: RetentionOutcome } => {
  const removed = groups.reduce((sum, group) => sum + (group.remove?.length ?? 0), 0);
  const kept = groups.reduce((sum, group) => sum + (group.keep?.length ?? 0), 0);
  const total = removed + kept;
  if (removed === 0)
    return { kind: 'stop', outcome: { kind: 'success', exitCode: 0, removed: 0, kept, reason: 'nothing to remove' } };
  if (kept === 0) {
    return {
      kind: 'stop',
      outcome: {
        kind: 'refused',
        exitCode: -1,
        removed: 0,
        kept: total,
        reason: `retention would remove all ${total} snapshots of this job; nothing was deleted (check the policy)`,
      },
    };
  }
  if (!force && removed > maxDelete * total) {
    return {
      kind: 'stop',
      outcome: {
        kind: 'refused',
        exitCode: -1,
        removed: 0,
        kept: total,
        reason: `retention would remove ${removed} of ${total} snapshots, more than retention_max_delete (${Math.round(maxDelete * 100)}%); nothing was deleted (rerun with --force-retention if this is intended)`,
      },
    };
  }
  return { kind: 'proceed', removed, kept };
};
