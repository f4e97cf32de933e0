// Parsers fed random input for a bounded number of iterations, from a fixed seed so a failure
// is reproducible: they return a value or throw a UsageError (exit 2), never a TypeError,
// RangeError or stack overflow (a stack trace and exit 1). Each test has a timeout, so a parser
// that hangs fails instead of stalling the suite.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig, parseConfig } from '../src/config.ts';
import { MAX_DURATION_MS, parseDuration } from '../src/durations.ts';
import { UsageError } from '../src/errors.ts';
import { assertJobName, JOB_NAME_PATTERN, jobNameFromPath, MAX_JOB_NAME_LENGTH } from '../src/job-name.ts';
import { parseRetention, parseTimespan } from '../src/retention/index.ts';
import { parseSchedule } from '../src/schedule/index.ts';
import { makeTempDir } from './support/cli.ts';

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
const prng = (seed: number) => {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  return { next, int, pick };
};
type Rng = ReturnType<typeof prng>;

const ODD_CHARS = [
  '\0',
  '\n',
  '\r',
  '\t',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u2028',
  'é',
  '日',
  '😀',
  '\ufffd',
  '"',
  "'",
  '\\',
  ' ',
  ',',
  ':',
  '-',
  '/',
  '*',
  '&',
  '!',
  '#',
  '%',
  '@',
  '{',
  '}',
  '[',
  ']',
  '|',
  '>',
  '?',
  '~',
];
const WORDS = [
  'jobs',
  'defaults',
  'state_dir',
  'metrics',
  'textfile_dir',
  'pushgateway_url',
  'path',
  'command',
  'repository',
  'password_file',
  'password_command',
  'retention',
  'retention_rounding',
  'retention_max_delete',
  'retry',
  'attempts',
  'min_delay',
  'max_delay',
  'schedule',
  'exclude',
  'binary',
  'timeout',
  'engine_args',
  'env',
  'hostname',
  'init',
  'tags',
  'engine',
  'restic',
  'duplicati',
  'none',
  'U',
  '1W:1D',
  '7D:0s',
  '0 2 * * *',
  '@daily',
  '/srv/a',
  'a',
  'b',
  'true',
  'null',
  '1e400',
  '-1',
  '0',
  '1000000000',
  '2.5',
  '30s',
  '25d',
  '__proto__',
  'constructor',
  'toString',
  '<<',
  '.inf',
  '.nan',
  '0x1F',
  '~',
];

const randomText = (rng: Rng, length: number, alphabet: 'any' | 'timespan' | 'cron'): string => {
  const pool =
    alphabet === 'timespan'
      ? [...'0123456789smhDWMYUu:,. -']
      : alphabet === 'cron'
        ? [...'0123456789*/-, LW#?@janfebmonsun']
        : undefined;
  let text = '';
  for (let i = 0; i < length; i += 1) {
    if (pool) text += rng.pick(pool);
    else {
      const roll = rng.next();
      text +=
        roll < 0.5
          ? String.fromCharCode(rng.int(32, 126))
          : roll < 0.8
            ? rng.pick(ODD_CHARS)
            : String.fromCodePoint(rng.int(0, 0x10ffff - 0x800) + (rng.next() < 0.5 ? 0 : 0x800));
    }
  }
  return text.replace(/[\ud800-\udfff]/g, '');
};

/** YAML-shaped lines: keys, indentation, flow collections, anchors, aliases, tags, junk. */
const randomYamlish = (rng: Rng): string => {
  const lines: string[] = [];
  for (let i = rng.int(0, 14); i > 0; i -= 1) {
    const indent = ' '.repeat(rng.pick([0, 0, 2, 2, 4, 4, 6, 1, 3]));
    const key = rng.next() < 0.8 ? rng.pick(WORDS) : randomText(rng, rng.int(0, 6), 'any');
    const value = rng.pick([
      () => '',
      () => ` ${rng.pick(WORDS)}`,
      () => ` "${randomText(rng, rng.int(0, 8), 'any').replace(/["\\]/g, '')}"`,
      () => ` { ${rng.pick(WORDS)}: ${rng.pick(WORDS)} }`,
      () => ` [${rng.pick(WORDS)}, ${rng.pick(WORDS)}]`,
      () => ` &${rng.pick(['a', 'b'])} ${rng.pick(WORDS)}`,
      () => ` *${rng.pick(['a', 'b', 'nothing'])}`,
      () =>
        ` !!${rng.pick(['str', 'int', 'float', 'binary', 'set', 'omap', 'map', 'seq', 'weird'])} ${rng.pick(WORDS)}`,
      () => ' |',
      () => ` ${randomText(rng, rng.int(1, 10), 'any')}`,
    ])();
    lines.push(rng.next() < 0.1 ? `${indent}- ${key}${value}` : rng.next() < 0.05 ? '---' : `${indent}${key}:${value}`);
  }
  return lines.join(rng.next() < 0.05 ? '\r\n' : '\n');
};

const VALID = `state_dir: /tmp/cv-fuzz/state
metrics: { textfile_dir: /tmp/cv-fuzz/text }
defaults:
  repository: /srv/restic
  password_file: /etc/cronvault/repo.pass
  retention: "1W:1D,4W:1W,12M:1M"
  retry: { attempts: 3, min_delay: 1s, max_delay: 10s }
jobs:
  influxdb:
    path: /var/lib/influxdb
    schedule: "0 2 * * *"
    exclude: ["*.tmp"]
  postgres:
    command: pg_dumpall
    retention: { daily: 7, weekly: 4 }
    env: { PGHOST: localhost }
`;

/** A valid config with a few characters inserted, deleted or replaced. */
const mutate = (rng: Rng, text: string): string => {
  let out = text;
  for (let i = rng.int(1, 4); i > 0; i -= 1) {
    const at = rng.int(0, out.length);
    const roll = rng.next();
    const insert = rng.next() < 0.5 ? rng.pick(ODD_CHARS) : rng.pick(WORDS);
    out =
      roll < 0.4
        ? out.slice(0, at) + insert + out.slice(at)
        : roll < 0.7
          ? out.slice(0, at) + out.slice(at + rng.int(1, 8))
          : out.slice(0, at) + insert + out.slice(at + 1);
  }
  return out;
};

/** Random data for stringify: the shapes a config could take, filled with any values. */
const randomValue = (rng: Rng, depth: number): unknown => {
  const roll = rng.next();
  if (depth > 3 || roll < 0.45) {
    return rng.pick<() => unknown>([
      () => rng.pick(WORDS),
      () => randomText(rng, rng.int(0, 12), 'any'),
      () => rng.int(-5, 200),
      () => rng.next() * 1e6,
      () => Infinity,
      () => -Infinity,
      () => NaN,
      () => 1e308 * 10,
      () => Number.MAX_SAFE_INTEGER + 2,
      () => true,
      () => false,
      () => null,
      () => '',
    ])();
  }
  if (roll < 0.6) return Array.from({ length: rng.int(0, 4) }, () => randomValue(rng, depth + 1));
  const object: Record<string, unknown> = {};
  for (let i = rng.int(0, 5); i > 0; i -= 1)
    object[rng.next() < 0.85 ? rng.pick(WORDS) : randomText(rng, rng.int(0, 8), 'any')] = randomValue(rng, depth + 1);
  return object;
};

const randomConfigStructure = (rng: Rng): unknown => {
  const jobs: Record<string, unknown> = {};
  for (let i = rng.int(0, 3); i > 0; i -= 1) {
    const job: Record<string, unknown> = {};
    for (let k = rng.int(0, 6); k > 0; k -= 1) job[rng.pick(WORDS.slice(6, 28))] = randomValue(rng, 2);
    jobs[
      rng.next() < 0.7
        ? rng.pick(['a', 'db', 'jobs', 'my job', 'données', '.x', 'a\nb'])
        : randomText(rng, rng.int(0, 10), 'any')
    ] = rng.next() < 0.9 ? job : randomValue(rng, 2);
  }
  const config: Record<string, unknown> = { jobs };
  if (rng.next() < 0.7)
    config.defaults = {
      repository: '/srv/restic',
      password_file: '/etc/p',
      ...(rng.next() < 0.5 ? { retention: randomValue(rng, 3) } : {}),
    };
  if (rng.next() < 0.2) config.state_dir = randomValue(rng, 3);
  if (rng.next() < 0.2) config.metrics = randomValue(rng, 2);
  return config;
};

/** Runs `fn`; passes when it returns or throws a UsageError; fails with the input otherwise. */
const onlyUsageErrors = (input: unknown, fn: () => unknown): unknown => {
  try {
    return fn();
  } catch (error) {
    if (error instanceof UsageError) {
      assert.ok(
        !error.message.includes('\n'),
        `a one-line message for ${JSON.stringify(input)}: ${JSON.stringify(error.message)}`,
      );
      return error;
    }
    assert.fail(
      `${(error as Error)?.name}: ${(error as Error)?.message} for input ${JSON.stringify(input)?.slice(0, 500)}`,
    );
  }
};

const FUZZ_TIMEOUT = { timeout: 60_000 };

describe('fuzzing the parsers', () => {
  it('the config parser accepts or refuses 3000 YAML-ish texts with a one-line UsageError', FUZZ_TIMEOUT, () => {
    const rng = prng(10);
    let refused = 0;
    for (let i = 0; i < 3000; i += 1) {
      const text = i % 3 === 0 ? mutate(rng, VALID) : randomYamlish(rng);
      if (onlyUsageErrors(text, () => parseConfig(text, 'fuzz.yml')) instanceof UsageError) refused += 1;
    }
    assert.ok(refused > 1000, `most random texts are refused (${refused})`);
  });

  it(
    'the config parser accepts or refuses 3000 random config structures with a one-line UsageError',
    FUZZ_TIMEOUT,
    () => {
      const rng = prng(20);
      let accepted = 0;
      for (let i = 0; i < 3000; i += 1) {
        const text = stringify(randomConfigStructure(rng));
        const result = onlyUsageErrors(text, () => parseConfig(text, 'fuzz.yml'));
        if (!(result instanceof UsageError)) accepted += 1;
      }
      assert.ok(accepted < 3000, 'some structures are refused');
    },
  );

  it('a valid config still loads, so the fuzz inputs are not all refused for one reason', () => {
    assert.deepEqual([...parseConfig(VALID, 'fuzz.yml').jobs.keys()], ['influxdb', 'postgres']);
  });

  it(
    'the config file loader refuses 300 files of random bytes (invalid UTF-8 included) with a UsageError',
    FUZZ_TIMEOUT,
    async () => {
      const rng = prng(30);
      const tmp = await makeTempDir();
      try {
        const file = join(tmp.dir, 'config.yml');
        for (let i = 0; i < 300; i += 1) {
          const bytes = Buffer.from(
            Array.from({ length: rng.int(0, 200) }, () => (rng.next() < 0.5 ? rng.int(0, 255) : rng.int(32, 126))),
          );
          const mixed =
            rng.next() < 0.5 ? Buffer.concat([Buffer.from(VALID.slice(0, rng.int(0, VALID.length))), bytes]) : bytes;
          writeFileSync(file, mixed);
          onlyUsageErrors(mixed.toString('latin1'), () => loadConfig(file));
        }
      } finally {
        await tmp.cleanup();
      }
    },
  );

  it('the retention parser accepts or refuses 5000 strings and values with a one-line UsageError', FUZZ_TIMEOUT, () => {
    const rng = prng(40);
    for (let i = 0; i < 5000; i += 1) {
      const input =
        i % 5 === 0
          ? randomValue(rng, 1)
          : i % 5 === 1
            ? randomText(rng, rng.int(0, 30), 'any')
            : randomText(rng, rng.int(0, 24), 'timespan');
      const result = onlyUsageErrors(input, () => parseRetention(input));
      if (!(result instanceof UsageError) && typeof input === 'string') {
        const policy = result as ReturnType<typeof parseRetention>;
        // What is accepted is meaningful: every rule has a positive timeframe.
        if (policy.kind === 'duplicati')
          for (const rule of policy.rules) assert.ok(rule.timeframe === 'unlimited' || rule.timeframe > 0, input);
      }
      if (typeof input === 'string') onlyUsageErrors(input, () => parseTimespan(input));
    }
  });

  it('the duration parser returns a finite, non-negative duration or nothing for 5000 strings', FUZZ_TIMEOUT, () => {
    const rng = prng(50);
    for (let i = 0; i < 5000; i += 1) {
      const input =
        i % 2 === 0
          ? randomText(rng, rng.int(0, 20), 'any')
          : `${'9'.repeat(rng.int(1, 400))}${rng.pick(['', 'ms', 's', 'm', 'h', 'd', '.5s', 'x'])}`;
      const ms = onlyUsageErrors(input, () => parseDuration(input));
      if (ms !== undefined)
        assert.ok(typeof ms === 'number' && Number.isFinite(ms) && ms >= 0, `${JSON.stringify(input)} → ${String(ms)}`);
    }
    assert.equal(parseDuration(`${'9'.repeat(400)}d`), undefined);
    assert.ok(MAX_DURATION_MS < parseDuration('25d')!);
  });

  it(
    'the cron schedule parser accepts or refuses 5000 schedules with a one-line UsageError, and accepted ones stay in range',
    FUZZ_TIMEOUT,
    () => {
      const rng = prng(60);
      for (let i = 0; i < 5000; i += 1) {
        const input =
          i % 4 === 0
            ? randomText(rng, rng.int(0, 20), 'any')
            : i % 4 === 1
              ? rng.pick(['constructor', '__proto__', 'toString', '@hourly', '@reboot', '@', ''])
              : Array.from({ length: rng.int(3, 6) }, () => randomText(rng, rng.int(1, 6), 'cron')).join(' ');
        const result = onlyUsageErrors(input, () => parseSchedule(input));
        if (!(result instanceof UsageError)) {
          const schedule = result as ReturnType<typeof parseSchedule>;
          for (const [set, lo, hi] of [
            [schedule.minutes, 0, 59],
            [schedule.hours, 0, 23],
            [schedule.daysOfMonth, 1, 31],
            [schedule.months, 1, 12],
            [schedule.daysOfWeek, 0, 6],
          ] as const) {
            for (const value of set)
              assert.ok(Number.isInteger(value) && value >= lo && value <= hi, `${input}: ${value}`);
          }
        }
      }
    },
  );

  it(
    'job-name validation accepts or refuses 5000 names with a one-line UsageError; accepted names are safe file names',
    FUZZ_TIMEOUT,
    () => {
      const rng = prng(70);
      for (let i = 0; i < 5000; i += 1) {
        const name =
          i % 2 === 0
            ? randomText(rng, rng.int(0, 12), 'any')
            : randomText(rng, rng.int(0, 150), 'any').replace(/[^A-Za-z0-9_.-]/g, rng.next() < 0.9 ? 'a' : '$&');
        const result = onlyUsageErrors(name, () => assertJobName(name, 'fuzz'));
        if (!(result instanceof UsageError))
          assert.ok(JOB_NAME_PATTERN.test(name) && name.length <= MAX_JOB_NAME_LENGTH && name !== 'jobs', name);
      }
    },
  );

  it('a job name derived from any path passes job-name validation (5000 paths)', FUZZ_TIMEOUT, () => {
    const rng = prng(80);
    for (let i = 0; i < 5000; i += 1) {
      const path = `/${randomText(rng, rng.int(0, i % 10 === 0 ? 400 : 30), 'any')}`;
      const name = jobNameFromPath(path);
      assert.doesNotThrow(() => assertJobName(name, 'derived'), `${JSON.stringify(path)} → ${JSON.stringify(name)}`);
    }
    // Stable and distinct for long paths that share their start.
    const long = `/${'d'.repeat(300)}`;
    assert.equal(jobNameFromPath(`${long}/a`), jobNameFromPath(`${long}/a`));
    assert.notEqual(jobNameFromPath(`${long}/a`), jobNameFromPath(`${long}/b`));
  });
});
