// Duplicati's timespan grammar ("1D12h", "90m", "3600", ""), shared by policy strings and the
// map form's `within`. Units are case-sensitive because `m` (minutes) and `M` (months) differ.
import { quote } from '../input-text.ts';

export const UNIT_SECONDS = { Y: 31_536_000, M: 2_592_000, W: 604_800, D: 86_400, h: 3_600, m: 60, s: 1 } as const;
export type Unit = keyof typeof UNIT_SECONDS;

/** Largest unit first: the order canonical text is written in. */
export const UNIT_ORDER: readonly Unit[] = ['Y', 'M', 'W', 'D', 'h', 'm', 's'];

const UNIT_NAMES: Record<Unit, readonly [string, string]> = {
  Y: ['year', 'years'],
  M: ['month', 'months'],
  W: ['week', 'weeks'],
  D: ['day', 'days'],
  h: ['hour', 'hours'],
  m: ['minute', 'minutes'],
  s: ['second', 'seconds'],
};

/** Longer than this is almost certainly a typo, and Duplicati cannot subtract it from today. */
const MAX_TIMESPAN_SECONDS = 1000 * UNIT_SECONDS.Y;

export type TimespanParts = Partial<Record<Unit, number>>;

export interface Timespan {
  seconds: number;
  /** Canonical spelling: the user's units kept, merged and ordered largest first; zero is "0s". */
  text: string;
}

/** Where (0-based, in the text given) and why a timespan does not parse. */
export interface TimespanProblem {
  index: number;
  message: string;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isUnit = (c: string | undefined): c is Unit => c !== undefined && Object.hasOwn(UNIT_SECONDS, c);

export const partsToText = (parts: TimespanParts): string =>
  UNIT_ORDER.filter((unit) => (parts[unit] ?? 0) > 0)
    .map((unit) => `${parts[unit]}${unit}`)
    .join('') || '0s';

const partsToSeconds = (parts: TimespanParts): number =>
  UNIT_ORDER.reduce((sum, unit) => sum + (parts[unit] ?? 0) * UNIT_SECONDS[unit], 0);

/** Largest units first, for suggestions ("1.5D" → "1D12h"). */
const secondsToText = (seconds: number): string => {
  const parts: TimespanParts = {};
  let rest = seconds;
  for (const unit of UNIT_ORDER) {
    const count = Math.floor(rest / UNIT_SECONDS[unit]);
    if (count > 0) parts[unit] = count;
    rest -= count * UNIT_SECONDS[unit];
  }
  return partsToText(parts);
};

/** "1D12h" → "1 day 12 hours": the words explain output uses. */
export const describeParts = (parts: TimespanParts): string =>
  UNIT_ORDER.filter((unit) => (parts[unit] ?? 0) > 0)
    .map((unit) => `${parts[unit]} ${UNIT_NAMES[unit][parts[unit] === 1 ? 0 : 1]}`)
    .join(' ') || '0 seconds';

export const unitName = (unit: Unit): string => UNIT_NAMES[unit][0];

const CASE_FIXES: Record<string, Unit> = { d: 'D', w: 'W', y: 'Y', H: 'h', S: 's' };

const unknownUnitMessage = (text: string, index: number): string => {
  const c = text[index] ?? '';
  const fix = CASE_FIXES[c];
  if (fix !== undefined) {
    const fixed = text.replace(
      /(\d)([dwyHS])/g,
      (_, digit: string, unit: string) => `${digit}${CASE_FIXES[unit] ?? unit}`,
    );
    return `${quote(c)} is not a unit (units are case-sensitive: s m h D W M Y); did you mean ${quote(fixed)} (${UNIT_NAMES[fix][1]})?`;
  }
  if (c === 'U' || c === 'u') return `"U" (unlimited) must stand alone, not after a number`;
  if (/\s/.test(c)) return 'spaces are not allowed inside a timespan';
  if (c === '.' || c === ',') {
    const decimal = /^(\d+)[.,](\d+)([A-Za-z])$/.exec(text);
    const unit = decimal?.[3];
    if (decimal && isUnit(unit)) {
      const seconds = Number(`${decimal[1]}.${decimal[2]}`) * UNIT_SECONDS[unit];
      if (Number.isInteger(seconds)) return `whole numbers only; did you mean "${secondsToText(seconds)}"?`;
    }
    return 'whole numbers only; combine units instead, e.g. "1D12h"';
  }
  return `${quote(c)} is not a unit; units are s m h D W M Y (case-sensitive)`;
};

/** Parses one side of an entry; returns a problem instead of throwing so callers can add context. */
export const readTimespan = (text: string): { seconds: number; parts: TimespanParts } | TimespanProblem => {
  if (text === '') return { seconds: 0, parts: {} };
  const parts: TimespanParts = {};
  if (/^\d+$/.test(text)) {
    parts.s = Number(text);
  } else {
    let i = 0;
    while (i < text.length) {
      const c = text[i];
      if (c === '-') return { index: i, message: 'negative timespans are not allowed' };
      if (!isDigit(c)) {
        if (isUnit(c)) return { index: i, message: `unit "${c}" has no number before it` };
        if (c === 'U' || c === 'u') return { index: i, message: '"U" (unlimited) must stand alone' };
        return { index: i, message: unknownUnitMessage(text, i) };
      }
      let j = i;
      while (isDigit(text[j])) j += 1;
      const unit = text[j];
      if (unit === undefined) {
        return {
          index: i,
          message: `${quote(text.slice(i))} has no unit; a bare number (seconds) must stand alone, so add one of s m h D W M Y`,
        };
      }
      if (!isUnit(unit)) return { index: j, message: unknownUnitMessage(text, j) };
      parts[unit] = (parts[unit] ?? 0) + Number(text.slice(i, j));
      i = j + 1;
    }
  }
  const seconds = partsToSeconds(parts);
  if (seconds > MAX_TIMESPAN_SECONDS) return { index: 0, message: 'longer than 1000 years; use U for unlimited' };
  return { seconds, parts };
};

export const isProblem = (value: object): value is TimespanProblem => 'message' in value;

/** A timespan in words ("1 week 2 days"); text that is not a valid timespan is shown as written. */
export const describeTimespan = (text: string): string => {
  const read = readTimespan(text);
  return isProblem(read) ? text : describeParts(read.parts);
};
