// Cron schedules as systemd OnCalendar= expressions, for `cronvault systemd`. Both read the
// host's local time. cron's day rule (when day-of-month and day-of-week are both restricted,
// a day matches if EITHER does) has no single-expression form in systemd, whose components
// are always ANDed; a timer may list several OnCalendar= lines and fires at the earliest, so
// that case becomes two expressions, one per day field.
import { UsageError } from './errors.ts';
import { type CronSchedule, maxIntervalSeconds, parseSchedule } from './schedule/index.ts';

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

const pad = (value: number): string => String(value).padStart(2, '0');

/** Sorted values as runs: [[1,5],[7,7]] for 1,2,3,4,5,7. */
const runsOf = (values: number[]): [number, number][] => {
  const runs: [number, number][] = [];
  for (const value of values) {
    const last = runs[runs.length - 1];
    if (last && last[1] === value - 1) last[1] = value;
    else runs.push([value, value]);
  }
  return runs;
};

/**
 * One component: `*` when every value matches, `first/step` when the values step evenly from the
 * field's first value to the end (cron's star-slash-N), else a list with `a..b` for runs of three or more.
 */
const component = (set: ReadonlySet<number>, min: number, max: number, format: (n: number) => string): string => {
  const values = [...set].sort((a, b) => a - b);
  if (values.length === max - min + 1) return '*';
  if (values.length >= 3) {
    const step = values[1]! - values[0]!;
    const even = values.every((v, i) => v === values[0]! + i * step);
    // Only from the field's first value: systemd 252 skips runs of an offset repetition like
    // 07/25 after a rollover (the table test caught it), while a plain list is exact.
    if (even && step > 1 && values[0] === min && values[values.length - 1]! + step > max)
      return `${format(values[0]!)}/${step}`;
  }
  return runsOf(values)
    .flatMap(([a, b]) => (b - a >= 2 ? [`${format(a)}..${format(b)}`] : b === a ? [format(a)] : [format(a), format(b)]))
    .join(',');
};

const weekdays = (set: ReadonlySet<number>): string => {
  // systemd has no "every day" weekday word: an unrestricted field is simply left out.
  if (set.size === 7) return '';
  const values = [...set].sort((a, b) => a - b);
  return runsOf(values)
    .flatMap(([a, b]) =>
      b - a >= 2 ? [`${WEEKDAYS[a]}..${WEEKDAYS[b]}`] : b === a ? [WEEKDAYS[a]!] : [WEEKDAYS[a]!, WEEKDAYS[b]!],
    )
    .join(',');
};

const ALL_DAYS = new Set(Array.from({ length: 31 }, (_, i) => i + 1));
const ALL_WEEKDAYS = new Set([0, 1, 2, 3, 4, 5, 6]);

const expression = (
  schedule: CronSchedule,
  daysOfMonth: ReadonlySet<number>,
  daysOfWeek: ReadonlySet<number>,
): string => {
  const dow = weekdays(daysOfWeek);
  const date = `*-${component(schedule.months, 1, 12, pad)}-${component(daysOfMonth, 1, 31, pad)}`;
  const time = `${component(schedule.hours, 0, 23, pad)}:${component(schedule.minutes, 0, 59, pad)}:00`;
  return `${dow ? `${dow} ` : ''}${date} ${time}`;
};

/**
 * The OnCalendar= values (one, or two for cron's day-of-month OR day-of-week rule) that fire at
 * exactly the minutes the cron schedule does. Throws a UsageError naming the reason when
 * systemd cannot express the schedule.
 */
export const toOnCalendar = (source: string): string[] => {
  const schedule = parseSchedule(source);
  // systemd accepts such an expression and then silently never fires: refuse it here, where
  // the operator sees why.
  if (maxIntervalSeconds(schedule) === undefined) {
    throw new UsageError(
      'E_SCHEDULE_SYSTEMD',
      `schedule "${source}" never runs (no month has that day), so it has no systemd timer; fix the day-of-month or month field`,
    );
  }
  if (!schedule.dayOr) return [expression(schedule, schedule.daysOfMonth, schedule.daysOfWeek)];
  return [
    expression(schedule, schedule.daysOfMonth, ALL_WEEKDAYS),
    expression(schedule, ALL_DAYS, schedule.daysOfWeek),
  ];
};
