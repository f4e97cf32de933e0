// Cron schedules: validated up front, and turned into the longest gap between two runs so the
// missed-run alert knows each job's own rhythm instead of a hard-coded 24 h.
import { UsageError } from '../errors.ts';
import { quote } from '../input-text.ts';
import { pythonRandrange } from './python-random.ts';

export interface CronSchedule {
  readonly source: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly daysOfWeek: ReadonlySet<number>;
  /** Vixie cron: when both day fields are restricted, a day matches if either does. */
  readonly dayOr: boolean;
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  nameBase?: number;
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES, nameBase: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAY_NAMES, nameBase: 0 },
];

const parseValue = (text: string, spec: FieldSpec, source: string): number => {
  const lower = text.toLowerCase();
  const nameIndex = spec.names?.indexOf(lower) ?? -1;
  if (nameIndex >= 0) return nameIndex + (spec.nameBase ?? 0);
  if (!/^\d+$/.test(text)) {
    throw new UsageError('E_SCHEDULE', `schedule ${quote(source)}: ${quote(text)} is not a valid ${spec.name}`);
  }
  const value = Number(text);
  if (value < spec.min || value > spec.max) {
    throw new UsageError(
      'E_SCHEDULE',
      `schedule ${quote(source)}: ${spec.name} ${value} is out of range ${spec.min}-${spec.max}`,
    );
  }
  return value;
};

const parseField = (text: string, spec: FieldSpec, source: string): Set<number> => {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const pieces = part.split('/');
    if (pieces.length > 2)
      throw new UsageError(
        'E_SCHEDULE',
        `schedule ${quote(source)}: ${quote(part)} in the ${spec.name} field has more than one "/"`,
      );
    const [rangeText, stepText] = pieces as [string, string | undefined];
    const step = stepText === undefined ? 1 : /^\d+$/.test(stepText) ? Number(stepText) : NaN;
    if (!Number.isInteger(step) || step < 1) {
      throw new UsageError(
        'E_SCHEDULE',
        `schedule ${quote(source)}: step ${quote(String(stepText))} in the ${spec.name} field must be a positive number`,
      );
    }
    let low: number;
    let high: number;
    if (rangeText === '*') {
      low = spec.min;
      high = spec.max === 7 ? 6 : spec.max;
    } else if (rangeText.includes('-')) {
      const ends = rangeText.split('-');
      if (ends.length !== 2)
        throw new UsageError(
          'E_SCHEDULE',
          `schedule ${quote(source)}: ${quote(rangeText)} in the ${spec.name} field is not a range like 1-5`,
        );
      const [a, b] = ends as [string, string];
      low = parseValue(a, spec, source);
      high = parseValue(b, spec, source);
      if (low > high)
        throw new UsageError(
          'E_SCHEDULE',
          `schedule ${quote(source)}: range ${quote(rangeText)} in the ${spec.name} field runs backwards`,
        );
    } else {
      low = parseValue(rangeText, spec, source);
      high = stepText === undefined ? low : spec.max;
    }
    for (let v = low; v <= high; v += step) values.add(spec.max === 7 && v === 7 ? 0 : v);
  }
  return values;
};

/**
 * Schedules already parsed, by their text: the config's checks and then `status`, `run`'s metrics
 * or `cron` parse each job's schedule again, 500 times over for 500 jobs. Parsing is pure and the
 * result read-only, so one parse a text serves them all; a text that fails is not remembered.
 */
const parsedSchedules = new Map<string, CronSchedule>();
const parsedFields = new Map<string, ReadonlySet<number>>();

export const parseSchedule = (source: string): CronSchedule => {
  let schedule = parsedSchedules.get(source);
  if (!schedule) {
    schedule = parseScheduleText(source);
    // A bound for a long-lived caller (a test parsing random schedules): start over, never grow on.
    if (parsedSchedules.size >= 10_000) {
      parsedSchedules.clear();
      parsedFields.clear();
    }
    parsedSchedules.set(source, schedule);
  }
  return schedule;
};

const parseScheduleText = (source: string): CronSchedule => {
  // Object.hasOwn: "constructor" or "__proto__" must not find Object.prototype's members.
  const expanded = Object.hasOwn(MACROS, source.trim()) ? MACROS[source.trim()]! : source.trim();
  if (expanded.startsWith('@')) {
    throw new UsageError(
      'E_SCHEDULE',
      `schedule ${quote(source)}: unknown macro (use one of ${Object.keys(MACROS).join(', ')}; @reboot has no period)`,
    );
  }
  const fields = expanded === '' ? [] : expanded.split(/\s+/);
  if (fields.length !== 5) {
    throw new UsageError(
      'E_SCHEDULE',
      `schedule ${quote(source)}: expected 5 fields (minute hour day-of-month month day-of-week), found ${fields.length}`,
    );
  }
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = fields.map((field, i) => {
    // One set per distinct field: 500 jobs' "*" days share theirs (fewer objects, less to collect).
    const key = `${i} ${field}`;
    let values = parsedFields.get(key);
    if (!values) {
      values = parseField(field, FIELDS[i]!, source);
      parsedFields.set(key, values);
    }
    return values;
  }) as [ReadonlySet<number>, ReadonlySet<number>, ReadonlySet<number>, ReadonlySet<number>, ReadonlySet<number>];
  return {
    source,
    minutes,
    hours,
    daysOfMonth,
    months,
    daysOfWeek,
    dayOr: !fields[2]!.startsWith('*') && !fields[4]!.startsWith('*'),
  };
};

/** Calendar fields of a day, read in UTC or in local time. */
interface Clock {
  fields(date: Date): { month: number; day: number; weekday: number };
  dayStart(date: Date): Date;
  nextDay(date: Date): Date;
  at(day: Date, hour: number, minute: number): number;
}

const UTC_CLOCK: Clock = {
  fields: (d) => ({ month: d.getUTCMonth() + 1, day: d.getUTCDate(), weekday: d.getUTCDay() }),
  dayStart: (d) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())),
  nextDay: (d) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1)),
  at: (d, hour, minute) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), hour, minute) / 1000,
};

// cron reads schedules in the host's local time zone.
const LOCAL_CLOCK: Clock = {
  fields: (d) => ({ month: d.getMonth() + 1, day: d.getDate(), weekday: d.getDay() }),
  dayStart: (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()),
  nextDay: (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1),
  at: (d, hour, minute) => new Date(d.getFullYear(), d.getMonth(), d.getDate(), hour, minute).getTime() / 1000,
};

const dayMatches = (schedule: CronSchedule, date: Date, clock: Clock = UTC_CLOCK): boolean => {
  const { month, day, weekday } = clock.fields(date);
  if (!schedule.months.has(month)) return false;
  const dom = schedule.daysOfMonth.has(day);
  const dow = schedule.daysOfWeek.has(weekday);
  return schedule.dayOr ? dom || dow : dom && dow;
};

/** Run times (Unix seconds) from `fromSeconds` up to `toSeconds`, in UTC or local wall-clock time. */
function* runTimes(
  schedule: CronSchedule,
  fromSeconds: number,
  toSeconds: number,
  zone: 'utc' | 'local' = 'utc',
): Generator<number> {
  const clock = zone === 'local' ? LOCAL_CLOCK : UTC_CLOCK;
  const minutes = [...schedule.minutes].sort((a, b) => a - b);
  const hours = [...schedule.hours].sort((a, b) => a - b);
  for (
    let day = clock.dayStart(new Date(fromSeconds * 1000));
    day.getTime() / 1000 <= toSeconds;
    day = clock.nextDay(day)
  ) {
    if (!dayMatches(schedule, day, clock)) continue;
    for (const hour of hours) {
      for (const minute of minutes) {
        const at = clock.at(day, hour, minute);
        if (at >= fromSeconds && at <= toSeconds) yield at;
      }
    }
  }
}

// Four years and a day cover leap years, so "29 Feb" schedules get their true gap.
const WINDOW_START = Date.UTC(2024, 0, 1) / 1000;
const WINDOW_SECONDS = (4 * 365 + 2) * 86_400;
const WINDOW_DAYS = (2 * WINDOW_SECONDS) / 86_400;

/** Month, day of month and weekday of every day of the window, built once: `status` asks 500 times. */
let windowDays: { month: Uint8Array; day: Uint8Array; weekday: Uint8Array } | undefined;
const daysOfWindow = () => {
  if (windowDays) return windowDays;
  const month = new Uint8Array(WINDOW_DAYS);
  const day = new Uint8Array(WINDOW_DAYS);
  const weekday = new Uint8Array(WINDOW_DAYS);
  const date = new Date(WINDOW_START * 1000);
  for (let i = 0; i < WINDOW_DAYS; i += 1, date.setUTCDate(date.getUTCDate() + 1)) {
    month[i] = date.getUTCMonth() + 1;
    day[i] = date.getUTCDate();
    weekday[i] = date.getUTCDay();
  }
  windowDays = { month, day, weekday };
  return windowDays;
};

const bits = (values: ReadonlySet<number>): number => {
  let mask = 0;
  for (const value of values) mask |= 2 ** value;
  return mask;
};

/**
 * Longest run of days between two matching days of the window (in days), the first and the last
 * matching day; undefined when no day matches. Only the day fields matter, so schedules sharing
 * them (most say `* * *`) share one answer.
 */
const dayGaps = new Map<string, { longestDays: number } | undefined>();
const longestDayGap = (schedule: CronSchedule): { longestDays: number } | undefined => {
  // Every day of every month, on some weekdays (daily and weekly schedules: most of them): the
  // longest gap is the week's, found without walking the calendar.
  if (schedule.months.size === 12 && schedule.daysOfMonth.size === 31 && !schedule.dayOr) {
    const weekdays = [...schedule.daysOfWeek].sort((a, b) => a - b);
    let longestDays = 7 - weekdays[weekdays.length - 1]! + weekdays[0]!;
    for (let i = 1; i < weekdays.length; i += 1) longestDays = Math.max(longestDays, weekdays[i]! - weekdays[i - 1]!);
    return { longestDays };
  }
  const months = bits(schedule.months);
  const doms = bits(schedule.daysOfMonth);
  const dows = bits(schedule.daysOfWeek);
  const key = `${months}/${doms}/${dows}/${schedule.dayOr}`;
  if (dayGaps.has(key)) return dayGaps.get(key);
  const { month, day, weekday } = daysOfWindow();
  let longestDays = 0;
  let last = -1;
  for (let i = 0; i < WINDOW_DAYS; i += 1) {
    if (!((2 ** month[i]!) & months)) continue;
    const dom = ((2 ** day[i]!) & doms) !== 0;
    const dow = ((2 ** weekday[i]!) & dows) !== 0;
    if (!(schedule.dayOr ? dom || dow : dom && dow)) continue;
    if (last >= 0) longestDays = Math.max(longestDays, i - last);
    last = i;
  }
  const answer = last < 0 ? undefined : { longestDays };
  dayGaps.set(key, answer);
  return answer;
};

/** Longest gap, in seconds, between two consecutive runs; undefined if it never runs. */
export const maxIntervalSeconds = (schedule: CronSchedule): number | undefined => {
  // Within a matching day the times are the same every day, so the longest gap is either inside
  // a day or from the last run of one matching day to the first of the next, farthest, one.
  const days = longestDayGap(schedule);
  if (days === undefined) return undefined;
  const times = [...schedule.hours]
    .flatMap((hour) => [...schedule.minutes].map((minute) => hour * 3600 + minute * 60))
    .sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < times.length; i += 1) longest = Math.max(longest, times[i]! - times[i - 1]!);
  if (days.longestDays > 0)
    longest = Math.max(longest, days.longestDays * 86_400 + times[0]! - times[times.length - 1]!);
  return longest;
};

/** The next run strictly after `afterSeconds`, read in local time as cron does, within two years. */
export const nextRun = (
  schedule: CronSchedule,
  afterSeconds: number,
  zone: 'utc' | 'local' = 'local',
): number | undefined => {
  for (const at of runTimes(schedule, Math.floor(afterSeconds / 60) * 60 + 60, afterSeconds + 2 * 366 * 86_400, zone))
    return at;
  return undefined;
};

/** Hours a job without a schedule may run in: the quiet hours 1:00–4:59, as in the role. */
const JITTER_HOURS = [1, 2, 3, 4] as const;

/**
 * The daily time for a job without a schedule: one draw of Python's
 * `random.Random("<host>/<job>").randrange(240)`, the very draw the Ansible role makes with
 * `random(seed=inventory_hostname ~ '/' ~ job)`, so both always agree. Stable on one host,
 * spread evenly over 240 slots across a fleet.
 */
export const jitteredSchedule = (host: string, job: string): string => {
  const slot = pythonRandrange(`${host}/${job}`, JITTER_HOURS.length * 60);
  return `${slot % 60} ${JITTER_HOURS[Math.floor(slot / 60)]} * * *`;
};

/** Hours `cronvault verify` of a job without a verify_schedule may run in: away from the backups' 1:00–4:59. */
const VERIFY_JITTER_HOURS = [10, 11, 12, 13, 14, 15] as const;

/**
 * The weekly time of a job's verify when it has no verify_schedule: one draw of Python's
 * `random.Random("<host>/<job>/verify").randrange(7 * 6 * 60)` (the role's filter
 * cronvault_verify_schedule draws the same): weekday, hour 10–15 and minute from one slot.
 * Outside the backup hours, so a drill, which holds the job's lock, rarely meets its backup.
 */
export const jitteredVerifySchedule = (host: string, job: string): string => {
  const perDay = VERIFY_JITTER_HOURS.length * 60;
  const slot = pythonRandrange(`${host}/${job}/verify`, 7 * perDay);
  const inDay = slot % perDay;
  return `${inDay % 60} ${VERIFY_JITTER_HOURS[Math.floor(inDay / 60)]} * * ${Math.floor(slot / perDay)}`;
};

/** The hour the default prune runs at: after the 1:00–4:59 window unscheduled backups are drawn in. */
const PRUNE_HOUR = 5;

/**
 * The weekly prune time of a host that sets no `prune.schedule`: a weekday and a minute of
 * 5:00–5:59 drawn once from "<host>/prune", as the Ansible role draws it
 * (filter_plugins/cronvault.py), so the repositories of a fleet are not all pruned at once.
 */
export const jitteredPruneSchedule = (host: string): string => {
  const slot = pythonRandrange(`${host}/prune`, 7 * 60);
  return `${slot % 60} ${PRUNE_HOUR} * * ${Math.floor(slot / 60)}`;
};
