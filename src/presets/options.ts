// Checks for the few option kinds presets use, with the same wording as the rest of the config.
import { quote } from '../input-text.ts';
import { isPlainObject } from '../plain-object.ts';
import { didYouMean } from '../suggest.ts';
import type { OptionFail, PresetOptions } from './types.ts';

type OptionKind = 'name' | 'host' | 'port' | 'bool' | 'abs-path' | readonly string[];

const describeValue = (value: unknown): string =>
  typeof value === 'string'
    ? `string ${quote(value)}`
    : value === null
      ? 'nothing'
      : `${typeof value} ${String(value)}`;

/**
 * A database, host or user name: printable, and not starting with "-", which a client would read
 * as an option.
 */
const checkName = (value: unknown, path: string[], fail: OptionFail): string => {
  if (typeof value !== 'string' || value === '')
    return fail(path, `expected a non-empty name, found ${describeValue(value)}`);
  if (/[\u0000-\u001f\u007f]/.test(value)) fail(path, `${quote(value)} contains a control character`);
  if (value.startsWith('-')) fail(path, `${quote(value)} starts with "-", which the client would read as an option`);
  return value;
};

const checkOne = (kind: OptionKind, value: unknown, path: string[], fail: OptionFail): string | number | boolean => {
  if (Array.isArray(kind)) {
    if (typeof value !== 'string' || !kind.includes(value))
      return fail(path, `expected ${kind.map((k) => `"${k}"`).join(' or ')}, found ${describeValue(value)}`);
    return value;
  }
  switch (kind) {
    case 'name':
    case 'host':
      return checkName(value, path, fail);
    case 'port':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535)
        return fail(path, `expected a port number from 1 to 65535, found ${describeValue(value)}`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') return fail(path, `expected true or false, found ${describeValue(value)}`);
      return value;
    case 'abs-path':
      if (typeof value !== 'string' || !value.startsWith('/') || /[\u0000-\u001f\u007f]/.test(value))
        return fail(path, `expected an absolute path, found ${describeValue(value)}`);
      return value;
  }
  return fail(path, 'unknown option kind');
};

/** Checks a preset's mapping against its option kinds; unknown keys get a "did you mean". */
export const parseOptions = (
  raw: unknown,
  kinds: Record<string, OptionKind>,
  fail: OptionFail,
  example: string,
): PresetOptions => {
  if (!isPlainObject(raw)) return fail([], `expected a mapping like ${example}, found ${describeValue(raw)}`);
  const options: PresetOptions = {};
  for (const [key, value] of Object.entries(raw)) {
    const kind = kinds[key];
    if (kind === undefined) fail([key], `unknown key ${quote(key)}${didYouMean(key, Object.keys(kinds))}`, true);
    else options[key] = checkOne(kind, value, [key], fail);
  }
  return options;
};

/** `-h host -p port -U user`-style arguments for the options that are set. */
export const connectionArgs = (
  options: PresetOptions,
  flags: { host: string; port: string; user: string },
): string[] => [
  ...(options.host !== undefined ? [`${flags.host}${String(options.host)}`] : []),
  ...(options.port !== undefined ? [`${flags.port}${String(options.port)}`] : []),
  ...(options.user !== undefined ? [`${flags.user}${String(options.user)}`] : []),
];

export const nothingToClean = async (): Promise<void> => {};
