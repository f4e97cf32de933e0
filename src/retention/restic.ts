// Duplicati rules → `restic forget` flags, keeping at least what Duplicati would keep; plus a
// model of restic's forget (0.16 semantics) so that claim can be tested without a repository.
import { UsageError } from '../errors.ts';
import { type CalendarPeriod, choosePeriod, ruleSides } from './periods.ts';
import { UNIT_SECONDS } from './timespan.ts';
import { COUNT_KEYS, type RetentionPolicy, type RetentionRounding, type RetentionRule } from './types.ts';

export interface ResticForgetOptions {
  /** From `restic version`: flags and `unlimited` depend on it. */
  resticVersion: string;
  /** 'refuse' (default): intervals restic has no period for are errors; 'keep-more': use the next finer period. */
  rounding?: RetentionRounding;
}

export interface ResticForgetTranslation {
  args: string[];
  warnings: string[];
  /** The policy keeps every snapshot: skip `forget` (an empty policy is fatal from restic 0.17). */
  keepAll: boolean;
}

type Bucket = CalendarPeriod;

/** Used for `U:` rules before restic 0.16, where `unlimited` does not exist and -1 keeps nothing. */
const RESTIC_UNLIMITED_FALLBACK = 1_000_000;

const fail = (message: string): never => {
  throw new UsageError('E_RETENTION', message);
};

const parseVersion = (version: string): [number, number, number] => {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version.trim());
  if (!match) return fail(`unrecognised restic version "${version}"`);
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
};

const atLeast = (version: [number, number, number], wanted: [number, number, number]): boolean => {
  for (let i = 0; i < 3; i += 1) {
    if (version[i] !== wanted[i]) return (version[i] ?? 0) > (wanted[i] ?? 0);
  }
  return true;
};

// Shortest run of n consecutive calendar months (Feb = 28 days): n months back from any date is
// at least this many days long.
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const shortestMonths = (n: number): number => {
  let shortest = Infinity;
  for (let start = 0; start < 12; start += 1) {
    let days = 0;
    for (let i = 0; i < n; i += 1) days += MONTH_DAYS[(start + i) % 12] ?? 0;
    shortest = Math.min(shortest, days);
  }
  return shortest;
};

// A year back is never shorter than 365 days; n months back is at least 30n days only for some n
// (1m can be 28 days, 3m 89), so `m` is used only where it cannot keep less than Duplicati's 30-day M.
const monthsCover = (months: number): boolean => months >= 12 || shortestMonths(months) >= 30 * months;

/**
 * Seconds → restic duration (`<int>y|m|d|h`), never shorter than the timespan: partial hours round
 * up; `y` and `m` are used only where the calendar span is guaranteed to be at least as long.
 */
const toResticDuration = (seconds: number): { duration: string; roundedUp: boolean } => {
  const hours = Math.ceil(seconds / UNIT_SECONDS.h);
  const days = Math.floor(hours / 24);
  const rest = hours % 24;
  let dayPart = '';
  if (days > 0) {
    const years = Math.floor(days / 365);
    const afterYears = days - 365 * years;
    if (afterYears === 0) dayPart = `${years}y`;
    else if (days % 30 === 0 && monthsCover(days / 30)) dayPart = `${days / 30}m`;
    else if (years > 0 && afterYears % 30 === 0 && monthsCover(afterYears / 30) && afterYears / 30 < 12)
      dayPart = `${years}y${afterYears / 30}m`;
    else if (years > 0) dayPart = `${years}y${afterYears}d`;
    else dayPart = `${days}d`;
  }
  return { duration: `${dayPart}${rest > 0 ? `${rest}h` : ''}`, roundedUp: hours * UNIT_SECONDS.h !== seconds };
};

const WITHIN_FLAGS = [
  '--keep-within',
  '--keep-within-hourly',
  '--keep-within-daily',
  '--keep-within-weekly',
  '--keep-within-monthly',
  '--keep-within-yearly',
] as const;
const COUNT_FLAGS = COUNT_KEYS.map((key) => `--keep-${key}`);

const translateRules = (rules: RetentionRule[], rounding: RetentionRounding, unlimited: string, warnings: string[]) => {
  const within = new Map<string, { seconds: number; duration: string }>();
  const counts = new Map<string, string>();
  let keepAll = false;
  for (const rule of rules) {
    if (rule.timeframe === 'unlimited') {
      const bucket =
        rule.interval === 'keep-all' ? 'all' : choosePeriod('restic', rule, rule.interval, rounding, warnings);
      if (bucket === 'all') keepAll = true;
      else counts.set(`--keep-${bucket}`, unlimited);
      continue;
    }
    const { duration, roundedUp } = toResticDuration(rule.timeframe);
    if (roundedUp)
      warnings.push(
        `rule ${rule.text}: restic windows are whole hours, so ${ruleSides(rule)[0]} becomes ${duration} (keeps more)`,
      );
    const bucket =
      rule.interval === 'keep-all' ? 'all' : choosePeriod('restic', rule, rule.interval, rounding, warnings);
    const flag = bucket === 'all' ? '--keep-within' : `--keep-within-${bucket}`;
    // Two rules on one flag: the longer window keeps everything the shorter one would.
    const previous = within.get(flag);
    if (!previous || previous.seconds < rule.timeframe) within.set(flag, { seconds: rule.timeframe, duration });
  }
  return { within, counts, keepAll };
};

/** The `restic forget` flags for a policy; keepAll says forget must not run at all. */
export const toResticForgetArgs = (policy: RetentionPolicy, options: ResticForgetOptions): ResticForgetTranslation => {
  const version = parseVersion(options.resticVersion);
  const rounding = options.rounding ?? 'refuse';
  const unlimited = atLeast(version, [0, 16, 0]) ? 'unlimited' : String(RESTIC_UNLIMITED_FALLBACK);
  const warnings: string[] = [];
  if (policy.kind === 'none') return { args: [], warnings, keepAll: true };
  let within = new Map<string, { seconds: number; duration: string }>();
  let counts = new Map<string, string>();
  if (policy.kind === 'duplicati') {
    const translated = translateRules(policy.rules, rounding, unlimited, warnings);
    if (translated.keepAll) return { args: [], warnings, keepAll: true };
    ({ within, counts } = translated);
  } else {
    if (policy.within) {
      const { duration, roundedUp } = toResticDuration(policy.within.seconds);
      if (roundedUp)
        warnings.push(
          `within ${policy.within.text}: restic windows are whole hours, so it becomes ${duration} (keeps more)`,
        );
      within.set('--keep-within', { seconds: policy.within.seconds, duration });
    }
    for (const key of COUNT_KEYS) {
      const count = policy.counts[key];
      if (count !== undefined && count > 0) counts.set(`--keep-${key}`, String(count));
    }
  }
  const bucketed = [...within.keys()].find((flag) => flag !== '--keep-within');
  if (bucketed && !atLeast(version, [0, 12, 1]))
    fail(`restic ${options.resticVersion} has no ${bucketed} (added in 0.12.1); upgrade restic`);
  const args = [
    ...WITHIN_FLAGS.flatMap((flag) => {
      const entry = within.get(flag);
      return entry ? [flag, entry.duration] : [];
    }),
    ...COUNT_FLAGS.flatMap((flag) => {
      const count = counts.get(flag);
      return count ? [flag, count] : [];
    }),
  ];
  return { args, warnings, keepAll: false };
};

// ---- model of restic's ApplyPolicy (internal/restic/snapshot_policy.go), in UTC ----

interface Duration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

const parseResticDuration = (text: string): Duration => {
  const duration: Duration = { years: 0, months: 0, days: 0, hours: 0 };
  const field = { y: 'years', m: 'months', d: 'days', h: 'hours' } as const;
  const rest = text.replace(/(\d+)([ymdh])/g, (_, n: string, unit: 'y' | 'm' | 'd' | 'h') => {
    duration[field[unit]] += Number(n);
    return '';
  });
  if (rest !== '' || text === '') throw new Error(`invalid restic duration "${text}"`);
  return duration;
};

/** Go's time.AddDate(-y, -m, -d).Add(-h): calendar arithmetic with overflow normalisation. */
const windowStart = (latest: Date, d: Duration): number => {
  const start = new Date(latest.getTime());
  start.setUTCFullYear(
    latest.getUTCFullYear() - d.years,
    latest.getUTCMonth() - d.months,
    latest.getUTCDate() - d.days,
  );
  return start.getTime() - d.hours * UNIT_SECONDS.h * 1000;
};

const isoWeek = (date: Date): number => {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  return day.getUTCFullYear() * 100 + Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
};

const BUCKET_OF: Record<Bucket | 'last', (d: Date, nr: number) => number> = {
  last: (_, nr) => nr,
  hourly: (d) =>
    d.getUTCFullYear() * 1_000_000 + (d.getUTCMonth() + 1) * 10_000 + d.getUTCDate() * 100 + d.getUTCHours(),
  daily: (d) => d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate(),
  weekly: isoWeek,
  monthly: (d) => d.getUTCFullYear() * 100 + d.getUTCMonth() + 1,
  yearly: (d) => d.getUTCFullYear(),
};

/** restic's calendar period of a time ("daily" → its UTC day), for checks against the model. */
export const resticBucketOf = (bucket: Bucket, time: Date): number => BUCKET_OF[bucket](time, 0);
export type ResticBucket = Bucket;

/**
 * Indices of the snapshots `restic forget <args>` keeps, for one group, computed as restic does
 * in UTC: newest first, windows back from the latest snapshot, newest per period; counts
 * `unlimited` (or negative) never run out, as from restic 0.16. No flags keeps everything.
 */
export const simulateResticForget = (args: readonly string[], snapshotTimes: readonly Date[]): Set<number> => {
  const counts: { bucket: Bucket | 'last'; count: number; last: number | undefined }[] = [];
  const windows: { bucket: Bucket | 'all'; duration: Duration; last: number | undefined }[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i] ?? '';
    const value = args[i + 1] ?? '';
    const within = /^--keep-within(?:-(hourly|daily|weekly|monthly|yearly))?$/.exec(flag);
    const count = /^--keep-(last|hourly|daily|weekly|monthly|yearly)$/.exec(flag);
    if (within)
      windows.push({
        bucket: (within[1] as Bucket | undefined) ?? 'all',
        duration: parseResticDuration(value),
        last: undefined,
      });
    else if (count)
      counts.push({
        bucket: count[1] as Bucket | 'last',
        count: value === 'unlimited' ? -1 : Number(value),
        last: undefined,
      });
    else throw new Error(`unsupported restic forget flag "${flag}"`);
  }
  const order = snapshotTimes
    .map((_, i) => i)
    .sort((a, b) => (snapshotTimes[b]?.getTime() ?? 0) - (snapshotTimes[a]?.getTime() ?? 0));
  const kept = new Set<number>();
  if (counts.every((c) => c.count === 0) && windows.length === 0) return new Set(order);
  const latest = snapshotTimes[order[0] ?? 0];
  if (!latest) return kept;
  order.forEach((index, nr) => {
    const time = snapshotTimes[index] as Date;
    let keep = false;
    for (const c of counts) {
      if (c.count === 0) continue;
      const value = BUCKET_OF[c.bucket](time, nr);
      if (value !== c.last) {
        keep = true;
        c.last = value;
        c.count -= 1;
      }
    }
    for (const w of windows) {
      if (!(time.getTime() > windowStart(latest, w.duration))) continue;
      if (w.bucket === 'all') {
        keep = true;
        continue;
      }
      const value = BUCKET_OF[w.bucket](time, nr);
      if (value !== w.last) {
        keep = true;
        w.last = value;
      }
    }
    if (keep) kept.add(index);
  });
  return kept;
};
