// Turns what operators write (a Duplicati policy string, "none", or a restic-style map) into a
// RetentionPolicy, or a UsageError that says which entry and character is wrong and how to fix it.
import { UsageError } from '../errors.ts';
import { quote } from '../input-text.ts';
import { isPlainObject } from '../plain-object.ts';
import { closest } from '../suggest.ts';
import { isProblem, partsToText, readTimespan, type Timespan, type TimespanProblem } from './timespan.ts';
import { COUNT_KEYS, type RetentionCounts, type RetentionPolicy, type RetentionRule } from './types.ts';

const MAP_KEYS = [...COUNT_KEYS, 'within'] as const;
const EXAMPLE = '"1W:1D,4W:1W,12M:1M"';

const fail = (where: string | undefined, message: string): never => {
  throw new UsageError('E_RETENTION', where ? `${where}: ${message}` : message);
};

const describeValue = (value: unknown): string => {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `string ${quote(value)}`;
  // YAML reads 1e400 as Infinity, which JSON would print as "null".
  if (typeof value === 'number' && !Number.isFinite(value)) return `a number too large to use (${value})`;
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${String(value)}`;
};

type Side = { kind: 'unlimited' } | { kind: 'span'; seconds: number; text: string };

/** Reads one side of an entry; `offset` places the side inside the entry for the message. */
const readSide = (raw: string, offset: number, where: string | undefined, entryLabel: string): Side => {
  const text = raw.trim();
  const start = offset + raw.length - raw.trimStart().length;
  if (text === 'U') return { kind: 'unlimited' };
  const problem: TimespanProblem | undefined =
    text === 'u' ? { index: 0, message: '"u" is not a timespan; did you mean "U" (unlimited)?' } : undefined;
  const read = problem ?? readTimespan(text);
  if (isProblem(read)) return fail(where, `${entryLabel}, character ${start + read.index + 1}: ${read.message}`);
  return { kind: 'span', seconds: read.seconds, text: partsToText(read.parts) };
};

const DISABLE_WORDS = new Set(['none', 'off', 'disabled', 'never', 'false', 'no']);

const parseEntry = (entry: string, index: number, where: string | undefined): RetentionRule => {
  const label = `entry ${index} ${quote(entry)}`;
  const colons = [...entry.matchAll(/:/g)].map((match) => match.index);
  if (colons.length === 0) {
    const alone = readTimespan(entry);
    const hint =
      entry === 'U' || (!isProblem(alone) && alone.seconds > 0)
        ? `; did you mean ${quote(`${entry}:0s`)} (keep every backup ${entry === 'U' ? 'forever' : 'for that long'})?`
        : `, e.g. ${EXAMPLE}`;
    return fail(where, `${label}: missing ":"; each entry is timeframe:interval${hint}`);
  }
  if (colons.length > 1) {
    const fields = entry.split(':');
    const pairs =
      fields.length % 2 === 0
        ? fields.flatMap((field, i) => (i % 2 === 0 ? [`${field}:${fields[i + 1]}`] : [])).join(',')
        : undefined;
    const hint = pairs ? `did you mean ${quote(pairs)}?` : 'separate entries with ","';
    return fail(
      where,
      `${label}, character ${(colons[1] ?? 0) + 1}: a second ":"; each entry has exactly one; ${hint}`,
    );
  }
  const colon = colons[0] ?? 0;
  const left = entry.slice(0, colon);
  const right = entry.slice(colon + 1);
  const timeframe = readSide(left, 0, where, label);
  const interval = readSide(right, colon + 1, where, label);
  if (timeframe.kind === 'span' && timeframe.seconds === 0) {
    return fail(
      where,
      `${label}: the timeframe is 0, which keeps nothing; give a length such as "7D", or "U" for unlimited`,
    );
  }
  const keepAll = interval.kind === 'unlimited' || interval.seconds === 0;
  if (timeframe.kind === 'span' && interval.kind === 'span' && !keepAll && interval.seconds >= timeframe.seconds) {
    return fail(
      where,
      `${label}: the interval ${interval.text} must be shorter than the timeframe ${timeframe.text} (or 0s to keep every backup in it)${minutesMonthsHint(left.trim(), right.trim(), timeframe.seconds, interval.seconds)}`,
    );
  }
  const tfText = timeframe.kind === 'unlimited' ? 'U' : timeframe.text;
  const ivText = keepAll || interval.kind !== 'span' ? '0s' : interval.text;
  return {
    timeframe: timeframe.kind === 'unlimited' ? 'unlimited' : timeframe.seconds,
    interval: keepAll || interval.kind !== 'span' ? 'keep-all' : interval.seconds,
    text: `${tfText}:${ivText}`,
  };
};

/** `12m:1M` is almost always "12 months" typed with the minutes unit. */
const minutesMonthsHint = (left: string, right: string, timeframe: number, interval: number): string => {
  const months = readTimespan(left.replaceAll('m', 'M'));
  if (left.includes('m') && !isProblem(months) && interval < months.seconds) {
    return `; "m" is minutes and "M" is months: did you mean ${quote(`${left.replaceAll('m', 'M')}:${right}`)}?`;
  }
  const minutes = readTimespan(right.replaceAll('M', 'm'));
  if (right.includes('M') && !isProblem(minutes) && minutes.seconds < timeframe) {
    return `; "M" is months and "m" is minutes: did you mean ${quote(`${left}:${right.replaceAll('M', 'm')}`)}?`;
  }
  return '';
};

const byTimeframe = (a: RetentionRule, b: RetentionRule): number =>
  (a.timeframe === 'unlimited' ? Infinity : a.timeframe) - (b.timeframe === 'unlimited' ? Infinity : b.timeframe);

const parsePolicyString = (input: string, where: string | undefined): RetentionPolicy => {
  const trimmed = input.trim();
  if (trimmed === 'none') return { kind: 'none' };
  if (DISABLE_WORDS.has(trimmed.toLowerCase()))
    return fail(where, `${quote(trimmed)} is not a policy; write "none" to disable retention`);
  const all = input.split(',').map((entry) => entry.trim());
  const entries = all.filter((entry) => entry !== '');
  if (entries.length === 0)
    return fail(where, `the policy is empty; write one such as ${EXAMPLE}, or "none" to disable retention`);
  // Duplicati drops empty entries; cronvault refuses them. "1W:1D,4W:1W," is most often a rule
  // lost in editing or a template variable that came out empty, and a lost rule deletes the
  // backups it was meant to keep. A refused config costs a minute; a dropped rule, a year of backups.
  const empty = all.indexOf('');
  if (empty >= 0) {
    const before = all.slice(0, empty).filter((entry) => entry !== '').length;
    const position = before === 0 ? 'before the first entry' : `after entry ${before} ${quote(entries[before - 1]!)}`;
    return fail(where, `an empty entry (a stray "," ${position}); remove the extra "," or write the missing entry`);
  }
  const rules = entries.map((entry, i) => parseEntry(entry, i + 1, where));
  const seen = new Map<number | 'unlimited', number>();
  rules.forEach((rule, i) => {
    const first = seen.get(rule.timeframe);
    if (first !== undefined) {
      fail(
        where,
        `entries ${first + 1} ${quote(entries[first]!)} and ${i + 1} ${quote(entries[i]!)} have the same timeframe; give each timeframe once`,
      );
    }
    seen.set(rule.timeframe, i);
  });
  return { kind: 'duplicati', rules: rules.sort(byTimeframe) };
};

const KEY_ALIASES: Record<string, string> = {
  latest: 'last',
  hour: 'hourly',
  hours: 'hourly',
  day: 'daily',
  days: 'daily',
  week: 'weekly',
  weeks: 'weekly',
  month: 'monthly',
  months: 'monthly',
  year: 'yearly',
  years: 'yearly',
};

/** `keep_daily`, `keepDaily`, `days` → "daily": restic and borgmatic habits. */
const suggestKey = (key: string): string | undefined => {
  const bare = key.toLowerCase().replace(/^keep[-_ ]?/, '');
  if ((MAP_KEYS as readonly string[]).includes(bare)) return bare;
  return KEY_ALIASES[bare] ?? closest(bare, MAP_KEYS);
};

const parseCountsMap = (input: Record<string, unknown>, where: string | undefined): RetentionPolicy => {
  for (const key of Object.keys(input)) {
    if ((MAP_KEYS as readonly string[]).includes(key)) continue;
    const suggestion = suggestKey(key);
    fail(
      where,
      `unknown key ${quote(key)}${suggestion ? `; did you mean "${suggestion}"?` : ''} (keys: ${MAP_KEYS.join(', ')})`,
    );
  }
  const counts: RetentionCounts = {};
  for (const key of COUNT_KEYS) {
    const value = input[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      fail(where, `"${key}" must be a whole number of 0 or more, got ${describeValue(value)}`);
    }
    counts[key] = value as number;
  }
  let within: { seconds: number; text: string } | undefined;
  const rawWithin = input.within;
  if (rawWithin !== undefined) {
    const text =
      typeof rawWithin === 'number' && Number.isSafeInteger(rawWithin) && rawWithin >= 0
        ? String(rawWithin)
        : rawWithin;
    if (typeof text !== 'string')
      return fail(where, `"within" must be a timespan such as "2D", got ${describeValue(rawWithin)}`);
    if (text.trim().toUpperCase() === 'U')
      return fail(where, '"within" cannot be U; write "none" to keep every backup');
    const read = readTimespan(text.trim());
    if (isProblem(read)) return fail(where, `"within" ${quote(text)}, character ${read.index + 1}: ${read.message}`);
    if (read.seconds > 0) within = { seconds: read.seconds, text: partsToText(read.parts) };
  }
  if (within === undefined && Object.values(counts).every((count) => count === 0)) {
    return fail(
      where,
      `this map keeps no backups; give at least one of ${MAP_KEYS.join(', ')} a value above 0, or write "none" to disable retention`,
    );
  }
  return within === undefined ? { kind: 'counts', counts } : { kind: 'counts', counts, within };
};

/** One entry point for every accepted form, so config, CLI and tests agree on what is valid. */
export const parseRetention = (input: unknown, where?: string): RetentionPolicy => {
  if (typeof input === 'string') return parsePolicyString(input, where);
  if (isPlainObject(input)) return parseCountsMap(input, where);
  return fail(
    where,
    `retention must be a Duplicati policy string such as ${EXAMPLE}, "none", or a map of ${MAP_KEYS.join(', ')}; got ${describeValue(input)}`,
  );
};

/** One timespan in the policy grammar ("1D12h", "90m", "3600"), for callers that take a single span. */
export const parseTimespan = (text: string, where?: string): Timespan => {
  const read = readTimespan(text.trim());
  const offset = text.length - text.trimStart().length;
  if (isProblem(read)) return fail(where, `${quote(text)}, character ${offset + read.index + 1}: ${read.message}`);
  return { seconds: read.seconds, text: partsToText(read.parts) };
};
