// Duplicati's side: the canonical --retention-policy value, and a model of how duplicati-cli
// applies it (DeleteHandler.ApplyRetentionPolicy) so translations can be checked against it.
import { UsageError } from '../errors.ts';
import { parseRetention } from './parse.ts';
import type { DuplicatiRetentionPolicy, RetentionPolicy } from './types.ts';

/** What a restic-style map would roughly be in Duplicati's grammar, offered in the refusal. */
const suggestionFor = (policy: Extract<RetentionPolicy, { kind: 'counts' }>): string | undefined => {
  const { counts, within } = policy;
  const entries = [
    ...(within ? [`${within.text}:0s`] : []),
    ...(counts.hourly ? [`${counts.hourly}h:1h`] : []),
    ...(counts.daily ? [`${counts.daily}D:1D`] : []),
    ...(counts.weekly ? [`${counts.weekly}W:1W`] : []),
    ...(counts.monthly ? [`${counts.monthly}M:1M`] : []),
    ...(counts.yearly ? [`${counts.yearly}Y:1Y`] : []),
  ];
  if (entries.length === 0) return undefined;
  try {
    return parseRetention(entries.join(',')).kind === 'duplicati' ? entries.join(',') : undefined;
  } catch {
    return undefined;
  }
};

/** The --retention-policy value (canonical, smallest timeframe first); undefined for 'none'. */
export function toDuplicatiPolicy(policy: Exclude<RetentionPolicy, { kind: 'none' }>): string;
export function toDuplicatiPolicy(policy: RetentionPolicy): string | undefined;
export function toDuplicatiPolicy(policy: RetentionPolicy): string | undefined {
  if (policy.kind === 'none') return undefined;
  if (policy.kind === 'duplicati') return policy.rules.map((rule) => rule.text).join(',');
  // restic counts periods that have backups, Duplicati counts time: no exact translation exists.
  const suggestion = suggestionFor(policy);
  throw new UsageError(
    'E_RETENTION',
    `duplicati-cli cannot apply a map of counts (last/hourly/daily/…/within); write the retention as a policy string${suggestion ? `, e.g. "${suggestion}"` : ' such as "1W:1D,4W:1W,12M:1M"'}${policy.counts.last ? ' ("last" has no Duplicati equivalent)' : ''}`,
  );
}

/**
 * Indices of the snapshots duplicati-cli keeps at `now`: timeframes smallest first, each taking
 * the backups at or after now − timeframe not taken yet; in each the oldest is kept, then any at
 * least one interval after the last kept; the rest deleted; the newest is always kept.
 */
export const simulateDuplicatiRetention = (
  policy: DuplicatiRetentionPolicy,
  snapshotTimes: readonly Date[],
  now: Date,
): Set<number> => {
  const order = snapshotTimes
    .map((_, i) => i)
    .sort((a, b) => (snapshotTimes[b]?.getTime() ?? 0) - (snapshotTimes[a]?.getTime() ?? 0));
  const kept = new Set<number>();
  const newest = order.shift();
  if (newest === undefined) return kept;
  kept.add(newest);
  const rules = [...policy.rules].sort(
    (a, b) =>
      (a.timeframe === 'unlimited' ? Infinity : a.timeframe) - (b.timeframe === 'unlimited' ? Infinity : b.timeframe),
  );
  const time = (index: number): number => snapshotTimes[index]?.getTime() ?? 0;
  for (const rule of rules) {
    const lowerBound = rule.timeframe === 'unlimited' ? -Infinity : now.getTime() - rule.timeframe * 1000;
    const inFrame: number[] = [];
    while (order.length > 0 && time(order[0] ?? 0) >= lowerBound) inFrame.unshift(order.shift() ?? 0);
    let lastKept: number | undefined;
    for (const index of inFrame) {
      if (lastKept === undefined || rule.interval === 'keep-all' || time(index) - lastKept >= rule.interval * 1000) {
        kept.add(index);
        lastKept = time(index);
      }
    }
  }
  return kept;
};
