// The parsed, engine-neutral retention policy every translation starts from.

export interface RetentionRule {
  /** Seconds, or 'unlimited' for `U`. */
  timeframe: number | 'unlimited';
  /** Seconds between kept backups, or 'keep-all' for `0`, `0s`, empty and `U`. */
  interval: number | 'keep-all';
  /** Canonical entry, e.g. "1D12h:1h", "U:1Y", "7D:0s". */
  text: string;
}

export const COUNT_KEYS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type CountKey = (typeof COUNT_KEYS)[number];
export type RetentionCounts = Partial<Record<CountKey, number>>;

export type RetentionPolicy =
  | { kind: 'none' }
  /** Rules sorted by timeframe, smallest first, `U` last: the order Duplicati applies them in. */
  | { kind: 'duplicati'; rules: RetentionRule[] }
  | { kind: 'counts'; counts: RetentionCounts; within?: { seconds: number; text: string } };

/**
 * What to do with an interval restic has no period for: 'refuse' it (the default), or
 * 'keep-more' by using the next finer period.
 */
export type RetentionRounding = 'refuse' | 'keep-more';

export type DuplicatiRetentionPolicy = Extract<RetentionPolicy, { kind: 'duplicati' }>;
