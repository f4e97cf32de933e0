// The `verify:` job key: how `cronvault verify` checks a job's repository and drills a restore.
// Its own grammar, parsed here so config.ts only wires it in; every error names the sub-key.
import { quote } from '../input-text.ts';
import { isPlainObject } from '../plain-object.ts';
import { didYouMean } from '../suggest.ts';

/** Stream validators a command job's newest dump is fed to (src/verify/validators.ts runs them). */
const VALIDATORS = [
  'pg_restore',
  'redis-check-rdb',
  'sqlite',
  'sqlite-sql',
  'gzip',
  'zstd',
  'xz',
  'bzip2',
  'nonempty',
] as const;
export type ValidatorName = (typeof VALIDATORS)[number];

/** How much of the repository's data `restic check` reads. */
export type ReadData =
  | { kind: 'none' }
  | { kind: 'percent'; percent: number }
  /** A different 1/over of the packs each run, so every `over` runs read the whole repository. */
  | { kind: 'rotate'; over: number };

export interface VerifyConfig {
  /** false after `verify: false`: no verify schedule, no cron line, no verify alert. */
  enabled: boolean;
  readData: ReadData;
  /** Files restored by one drill of a path job; 0 leaves the drill out. */
  sample: number;
  /** Files larger than this are not sampled (a drill must stay cheap). */
  maxFileBytes: number;
  /** The validator for a command job; undefined: chosen from stdin_filename's extension. */
  validator?: ValidatorName;
}

const KEYS = ['read_data', 'rotate_over', 'sample', 'max_file_size', 'validator'];
const DEFAULT_VERIFY: VerifyConfig = {
  enabled: true,
  readData: { kind: 'none' },
  sample: 20,
  maxFileBytes: 64 * 1024 * 1024,
};
const DEFAULT_ROTATE_OVER = 12;
const MAX_SAMPLE = 10_000;
const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "64M", "500k", "1G" or a bare number of bytes; undefined when not a size. */
const parseSize = (value: unknown): number | undefined => {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(value.trim());
  if (!match) return undefined;
  const bytes = Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!;
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
};

/** What the config said, before defaults: merged key by key over `defaults.verify`. */
export type VerifyInput = { enabled: false } | (Partial<Omit<VerifyConfig, 'enabled'>> & { rotateOver?: number });

/**
 * Checks a `verify:` value. `at(key)` gives the location of a sub-key ("config.yml:12:
 * jobs.db.verify.sample"), `fail` throws the config error.
 */
export const checkVerify = (
  value: unknown,
  at: (key?: string, keyNode?: boolean) => string,
  fail: (where: string, message: string) => never,
): VerifyInput => {
  if (value === false) return { enabled: false };
  if (!isPlainObject(value))
    return fail(
      at(),
      'expected false or a mapping like { read_data: 5%, sample: 20 } (keys: read_data, rotate_over, sample, max_file_size, validator)',
    );
  const input: VerifyInput & { rotateOver?: number } = {};
  for (const [key, item] of Object.entries(value)) {
    if (!KEYS.includes(key)) fail(at(key, true), `unknown key ${quote(key)}${didYouMean(key, KEYS)}`);
    const where = at(key);
    if (key === 'read_data') {
      const text = String(item).trim();
      const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
      if (text === 'none' || item === false) input.readData = { kind: 'none' };
      else if (text === 'rotate') input.readData = { kind: 'rotate', over: DEFAULT_ROTATE_OVER };
      else if (percent && Number(percent[1]) > 0 && Number(percent[1]) <= 100)
        input.readData = { kind: 'percent', percent: Number(percent[1]) };
      else
        fail(
          where,
          `expected none, a share of the data like "5%" (more than 0, at most 100%), or rotate; found ${quote(String(item))}`,
        );
    } else if (key === 'rotate_over') {
      if (typeof item !== 'number' || !Number.isInteger(item) || item < 2 || item > 10_000)
        fail(
          where,
          `expected a whole number of runs from 2 to 10000 (the whole repository is read once every that many runs), found ${quote(String(item))}`,
        );
      input.rotateOver = item as number;
    } else if (key === 'sample') {
      if (typeof item !== 'number' || !Number.isInteger(item) || item < 0 || item > MAX_SAMPLE)
        fail(where, `expected a number of files from 0 to ${MAX_SAMPLE}, found ${quote(String(item))}`);
      input.sample = item as number;
    } else if (key === 'max_file_size') {
      const bytes = parseSize(item);
      if (bytes === undefined) fail(where, `expected a size like 64M, 500k or 1G, found ${quote(String(item))}`);
      input.maxFileBytes = bytes;
    } else if (key === 'validator') {
      if (typeof item !== 'string' || !(VALIDATORS as readonly string[]).includes(item))
        fail(
          where,
          `unknown validator ${quote(String(item))}: use one of ${VALIDATORS.join(', ')}${typeof item === 'string' ? didYouMean(item, VALIDATORS) : ''}`,
        );
      input.validator = item as ValidatorName;
    }
  }
  if (input.rotateOver !== undefined && input.readData !== undefined && input.readData.kind !== 'rotate')
    fail(at('rotate_over', true), 'rotate_over only applies with read_data: rotate');
  return input;
};

/** The job's verify settings: its own keys over the defaults' over the built-in defaults. */
export const resolveVerify = (defaults: VerifyInput | undefined, own: VerifyInput | undefined): VerifyConfig => {
  if (own && 'enabled' in own && own.enabled === false) return { ...DEFAULT_VERIFY, enabled: false };
  if (!own && defaults && 'enabled' in defaults && defaults.enabled === false)
    return { ...DEFAULT_VERIFY, enabled: false };
  const pick = (input: VerifyInput | undefined) =>
    input && !('enabled' in input) ? (input as Partial<VerifyConfig> & { rotateOver?: number }) : {};
  const merged = { ...pick(defaults), ...pick(own) };
  let readData = merged.readData ?? DEFAULT_VERIFY.readData;
  if (readData.kind === 'rotate' && merged.rotateOver !== undefined)
    readData = { kind: 'rotate', over: merged.rotateOver };
  return {
    enabled: true,
    readData,
    sample: merged.sample ?? DEFAULT_VERIFY.sample,
    maxFileBytes: merged.maxFileBytes ?? DEFAULT_VERIFY.maxFileBytes,
    ...(merged.validator ? { validator: merged.validator } : {}),
  };
};
