// Duplicati rules → `borg prune` flags, keeping at least what Duplicati would keep; plus a model
// of borg 1.2's prune so that claim can be tested without a repository.
//
// borg prune differs from restic forget in ways that shape the translation:
// - there are no "within-daily"-style flags, only `--keep-within` (keep all) and counts; a rule
//   "T:1D" becomes `--keep-daily N` with N the number of calendar days a window of length T can
//   touch, so the N newest days that have archives reach back at least T;
// - `--keep-within` is measured back from now (restic: from the latest snapshot), takes one
//   `<int><unit>` with units H, d, w, m (31 days), y (365 days); cronvault writes hours or days;
// - counts below 0 mean unlimited, in every 1.x version;
// - archives kept by one rule do not count towards the next rule's total (so it keeps more).
import { type CalendarPeriod, choosePeriod, PERIODS } from './periods.ts';
import { describeTimespan, UNIT_SECONDS } from './timespan.ts';
import { COUNT_KEYS, type RetentionPolicy, type RetentionRounding } from './types.ts';

export interface BorgPruneOptions {
  /** 'refuse' (default): intervals borg has no period for are errors; 'keep-more': use the next finer period. */
  rounding?: RetentionRounding;
}

export interface BorgPruneTranslation {
  args: string[];
  warnings: string[];
  /** The policy keeps every archive: skip prune (borg refuses a prune without any rule). */
  keepAll: boolean;
}

export type BorgBucket = CalendarPeriod;

/** borg's "unlimited" count. */
const BORG_UNLIMITED = '-1';

/** Seconds → a `--keep-within` value never shorter than the timespan: whole days, else whole hours (rounded up). */
const toBorgWithin = (seconds: number): { interval: string; roundedUp: boolean } => {
  const hours = Math.ceil(seconds / UNIT_SECONDS.h);
  return { interval: hours % 24 === 0 ? `${hours / 24}d` : `${hours}H`, roundedUp: hours * UNIT_SECONDS.h !== seconds };
};

/** How many calendar periods a window of `seconds` ending now can touch: the count that covers it. */
const periodsTouched = (seconds: number, bucket: BorgBucket): number => {
  const entry = PERIODS.find((p) => p.bucket === bucket)!;
  return Math.ceil(seconds / entry.shortest) + 1;
};

const FLAG_ORDER = [
  '--keep-last',
  '--keep-hourly',
  '--keep-daily',
  '--keep-weekly',
  '--keep-monthly',
  '--keep-yearly',
] as const;

/** Larger count wins; -1 (unlimited) beats every count. */
const mergeCount = (counts: Map<string, number>, flag: string, count: number): void => {
  const previous = counts.get(flag);
  if (previous === undefined) counts.set(flag, count);
  else if (previous >= 0) counts.set(flag, count < 0 ? count : Math.max(previous, count));
};

/** The `borg prune` flags for a policy; keepAll says prune must not run at all. */
export const toBorgPruneArgs = (policy: RetentionPolicy, options: BorgPruneOptions = {}): BorgPruneTranslation => {
  const rounding = options.rounding ?? 'refuse';
  const warnings: string[] = [];
  if (policy.kind === 'none') return { args: [], warnings, keepAll: true };
  let withinSeconds: number | undefined;
  const counts = new Map<string, number>();
  if (policy.kind === 'duplicati') {
    // Duplicati always keeps the newest backup; borg's --keep-within alone would not once the
    // last run is older than the window.
    mergeCount(counts, '--keep-last', 1);
    for (const rule of policy.rules) {
      const bucket =
        rule.interval === 'keep-all' ? 'all' : choosePeriod('borg', rule, rule.interval, rounding, warnings);
      if (rule.timeframe === 'unlimited') {
        if (bucket === 'all') return { args: [], warnings, keepAll: true };
        mergeCount(counts, `--keep-${bucket}`, -1);
      } else if (bucket === 'all') {
        withinSeconds = Math.max(withinSeconds ?? 0, rule.timeframe);
      } else {
        mergeCount(counts, `--keep-${bucket}`, periodsTouched(rule.timeframe, bucket));
      }
    }
  } else {
    if (policy.within) withinSeconds = policy.within.seconds;
    for (const key of COUNT_KEYS) {
      const count = policy.counts[key];
      if (count !== undefined && count > 0) counts.set(`--keep-${key}`, count);
    }
  }
  const args: string[] = [];
  if (withinSeconds !== undefined) {
    const { interval, roundedUp } = toBorgWithin(withinSeconds);
    if (roundedUp)
      warnings.push(
        `borg's --keep-within takes whole hours, so ${describeTimespan(`${withinSeconds}`)} becomes ${interval} (keeps more)`,
      );
    args.push('--keep-within', interval);
  }
  for (const flag of FLAG_ORDER) {
    const count = counts.get(flag);
    if (count !== undefined) args.push(flag, count < 0 ? BORG_UNLIMITED : String(count));
  }
  return { args, warnings, keepAll: false };
};

// ---- model of borg 1.2's prune (archiver.do_prune, helpers.prune_within/prune_split), in UTC ----

const WITHIN_HOURS: Record<string, number> = { H: 1, d: 24, w: 24 * 7, m: 24 * 31, y: 24 * 365 };

const BUCKET_KEY: Record<BorgBucket | 'last', (d: Date) => string> = {
  last: (d) => d.toISOString().slice(0, 19),
  hourly: (d) => d.toISOString().slice(0, 13),
  daily: (d) => d.toISOString().slice(0, 10),
  // borg 1.2 uses "%G-%V", the ISO week.
  weekly: (d) => {
    const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
    const weekday = day.getUTCDay() || 7;
    day.setUTCDate(day.getUTCDate() + 4 - weekday);
    const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
    return `${day.getUTCFullYear()}-${Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7)}`;
  },
  monthly: (d) => d.toISOString().slice(0, 7),
  yearly: (d) => d.toISOString().slice(0, 4),
};

/** borg's calendar period of a time ("daily" → its UTC day), for checks against the model. */
export const borgBucketOf = (bucket: BorgBucket, time: Date): string => BUCKET_KEY[bucket](time);

/**
 * Indices of the archives `borg prune <args>` keeps at `now`, as borg 1.2 does (in UTC): within
 * first, then the rules from last to yearly, each taking the newest archive of each period not
 * kept yet until its count runs out (negative: never). Leaves out 1.2's "keep the oldest when a
 * rule's count is not reached", which only ever keeps more.
 */
export const simulateBorgPrune = (args: readonly string[], archiveTimes: readonly Date[], now: Date): Set<number> => {
  const order = archiveTimes
    .map((_, i) => i)
    .sort((a, b) => (archiveTimes[b]?.getTime() ?? 0) - (archiveTimes[a]?.getTime() ?? 0));
  const kept = new Set<number>();
  // No rule at all: cronvault skips prune (borg would refuse it), so everything stays.
  if (args.length === 0) return new Set(order);
  const rules = new Map<BorgBucket | 'last', number>();
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i] ?? '';
    const value = args[i + 1] ?? '';
    if (flag === '--keep-within') {
      const match = /^(\d+)([Hdwmy])$/.exec(value);
      if (!match) throw new Error(`invalid borg interval "${value}"`);
      const start = now.getTime() - Number(match[1]) * (WITHIN_HOURS[match[2]!] ?? 0) * UNIT_SECONDS.h * 1000;
      for (const index of order) if ((archiveTimes[index]?.getTime() ?? 0) > start) kept.add(index);
      continue;
    }
    const count = /^--keep-(last|hourly|daily|weekly|monthly|yearly)$/.exec(flag);
    if (!count) throw new Error(`unsupported borg prune flag "${flag}"`);
    rules.set(count[1] as BorgBucket | 'last', Number(value));
  }
  for (const rule of ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const) {
    const wanted = rules.get(rule);
    if (wanted === undefined || wanted === 0) continue;
    let taken = 0;
    let last: string | undefined;
    for (const index of order) {
      const period = BUCKET_KEY[rule](archiveTimes[index] as Date);
      if (period === last) continue;
      last = period;
      if (kept.has(index)) continue;
      kept.add(index);
      taken += 1;
      if (wanted > 0 && taken === wanted) break;
    }
  }
  return kept;
};
