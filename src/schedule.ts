// Cron schedules: validated up front, and turned into the longest gap between two runs so the
// missed-run alert knows each job's own rhythm instead of a hard-coded 24 h.
import { UsageError } from './errors.ts';

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
    throw new UsageError('E_SCHEDULE', `schedule "${source}": "${text}" is not a valid ${spec.name}`);
  }
  const value = Number(text);
  if (value < spec.min || value > spec.max) {
    throw new UsageError(
      'E_SCHEDULE',
      `schedule "${source}": ${spec.name} ${value} is out of range ${spec.min}-${spec.max}`,
    );
  }
  return value;
};

const parseField = (text: string, spec: FieldSpec, source: string): Set<number> => {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const [rangeText, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) {
      throw new UsageError('E_SCHEDULE', `schedule "${source}": step "${stepText}" in the ${spec.name} field must be a positive number`);
    }
    let low: number;
    let high: number;
    if (rangeText === '*') {
      low = spec.min;
      high = spec.max === 7 ? 6 : spec.max;
    } else if (rangeText.includes('-')) {
      const [a, b] = rangeText.split('-') as [string, string];
      low = parseValue(a, spec, source);
      high = parseValue(b, spec, source);
      if (low > high) throw new UsageError('E_SCHEDULE', `schedule "${source}": range ${rangeText} in the ${spec.name} field runs backwards`);
    } else {
      low = parseValue(rangeText, spec, source);
      high = stepText === undefined ? low : spec.max;
    }
    for (let v = low; v <= high; v += step) values.add(spec.max === 7 && v === 7 ? 0 : v);
  }
  return values;
};

export const parseSchedule = (source: string): CronSchedule => {
  const expanded = MACROS[source.trim()] ?? source.trim();
  if (expanded.startsWith('@')) {
    throw new UsageError('E_SCHEDULE', `schedule "${source}": unknown macro (use one of ${Object.keys(MACROS).join(', ')}; @reboot has no period)`);
  }
  const fields = expanded.split(/\s+/);
  if (fields.length !== 5) {
    throw new UsageError('E_SCHEDULE', `schedule "${source}": expected 5 fields (minute hour day-of-month month day-of-week), found ${fields.length}`);
  }
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = fields.map((field, i) => parseField(field, FIELDS[i]!, source)) as [
    Set<number>, Set<number>, Set<number>, Set<number>, Set<number>,
  ];
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

const dayMatches = (schedule: CronSchedule, date: Date): boolean => {
  if (!schedule.months.has(date.getUTCMonth() + 1)) return false;
  const dom = schedule.daysOfMonth.has(date.getUTCDate());
  const dow = schedule.daysOfWeek.has(date.getUTCDay());
  return schedule.dayOr ? dom || dow : dom && dow;
};

/** Run times (Unix seconds, UTC wall clock) from `fromSeconds` up to `toSeconds`. */
export function* runTimes(schedule: CronSchedule, fromSeconds: number, toSeconds: number): Generator<number> {
  const minutes = [...schedule.minutes].sort((a, b) => a - b);
  const hours = [...schedule.hours].sort((a, b) => a - b);
  const day = new Date(Math.floor(fromSeconds / 86_400) * 86_400_000);
  while (day.getTime() / 1000 <= toSeconds) {
    if (dayMatches(schedule, day)) {
      const dayStart = day.getTime() / 1000;
      for (const hour of hours) {
        for (const minute of minutes) {
          const at = dayStart + hour * 3600 + minute * 60;
          if (at >= fromSeconds && at <= toSeconds) yield at;
        }
      }
    }
    day.setUTCDate(day.getUTCDate() + 1);
  }
}

// Four years and a day cover leap years, so "29 Feb" schedules get their true gap.
const WINDOW_START = Date.UTC(2024, 0, 1) / 1000;
const WINDOW_SECONDS = (4 * 365 + 2) * 86_400;

/** Longest gap, in seconds, between two consecutive runs; undefined if it never runs. */
export const maxIntervalSeconds = (schedule: CronSchedule): number | undefined => {
  // Within a matching day the times are the same every day, so only the first and last run of
  // each day matter: one pass over the days of the window, not over every minute.
  const times = [...schedule.hours]
    .flatMap((hour) => [...schedule.minutes].map((minute) => hour * 3600 + minute * 60))
    .sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < times.length; i += 1) longest = Math.max(longest, times[i]! - times[i - 1]!);
  let lastRun: number | undefined;
  const day = new Date(WINDOW_START * 1000);
  const end = WINDOW_START + 2 * WINDOW_SECONDS;
  while (day.getTime() / 1000 < end) {
    if (dayMatches(schedule, day)) {
      const dayStart = day.getTime() / 1000;
      if (lastRun !== undefined) longest = Math.max(longest, dayStart + times[0]! - lastRun);
      lastRun = dayStart + times[times.length - 1]!;
    }
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return lastRun === undefined ? undefined : longest;
};

/** The next run strictly after `afterSeconds` (UTC wall clock), within two years. */
export const nextRun = (schedule: CronSchedule, afterSeconds: number): number | undefined => {
  for (const at of runTimes(schedule, Math.floor(afterSeconds / 60) * 60 + 60, afterSeconds + 2 * 366 * 86_400)) return at;
  return undefined;
};
