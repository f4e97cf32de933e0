// The calendar periods restic and borg both keep one backup per (hour, day, week, month,
// year), and how a Duplicati interval maps onto them: one rule for both translators.
import { UsageError } from '../errors.ts';
import { describeTimespan, UNIT_SECONDS } from './timespan.ts';
import type { RetentionRounding, RetentionRule } from './types.ts';

export type CalendarPeriod = 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

/**
 * Each period with the Duplicati interval it matches exactly and the shortest length one such
 * period can have (a month can be 28 days), longest first.
 */
export const PERIODS: readonly { bucket: CalendarPeriod; seconds: number; shortest: number; noun: string }[] = [
  { bucket: 'yearly', seconds: UNIT_SECONDS.Y, shortest: 365 * UNIT_SECONDS.D, noun: 'year' },
  { bucket: 'monthly', seconds: UNIT_SECONDS.M, shortest: 28 * UNIT_SECONDS.D, noun: 'month' },
  { bucket: 'weekly', seconds: UNIT_SECONDS.W, shortest: UNIT_SECONDS.W, noun: 'week' },
  { bucket: 'daily', seconds: UNIT_SECONDS.D, shortest: UNIT_SECONDS.D, noun: 'day' },
  { bucket: 'hourly', seconds: UNIT_SECONDS.h, shortest: UNIT_SECONDS.h, noun: 'hour' },
];

/** A rule's two sides as written: `["4W", "1W"]` for `4W:1W`. */
export const ruleSides = (rule: RetentionRule): [string, string] => {
  const [timeframe = '', interval = ''] = rule.text.split(':');
  return [timeframe, interval];
};

/**
 * The engine's period for an interval: exact, or with `keep-more` the next finer one (keeping
 * more), 'all' below an hour. With `refuse` an interval that is no period is a usage error.
 */
export const choosePeriod = (
  engine: string,
  rule: RetentionRule,
  interval: number,
  rounding: RetentionRounding,
  warnings: string[],
): CalendarPeriod | 'all' => {
  const exact = PERIODS.find((p) => p.seconds === interval);
  if (exact) return exact.bucket;
  const finer = PERIODS.find((p) => p.seconds <= interval);
  const [timeframe, intervalText] = ruleSides(rule);
  const span = timeframe === 'U' ? 'forever' : `for ${describeTimespan(timeframe)}`;
  const instead = finer ? `one backup per ${finer.noun}` : `every backup ${span}`;
  if (rounding === 'refuse') {
    throw new UsageError(
      'E_RETENTION',
      `rule ${rule.text}: ${engine} cannot keep one backup every ${describeTimespan(intervalText)}; its periods are an hour, a day, a week, a month and a year (intervals 1h, 1D, 1W, 1M, 1Y); change the interval, or set retention_rounding to keep-more to keep ${instead} instead`,
    );
  }
  warnings.push(
    `rule ${rule.text}: ${engine} has no period of ${describeTimespan(intervalText)}, so it keeps ${instead} instead (keeps more)`,
  );
  return finer ? finer.bucket : 'all';
};
