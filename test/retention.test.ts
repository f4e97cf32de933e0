// Retention: parsing Duplicati's grammar and the map form, canonical strings, restic flags,
// and explain output. Expected messages and outputs are literal: they are what operators read.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../src/errors.ts';
import {
  explainRetention,
  parseRetention,
  parseTimespan,
  type RetentionPolicy,
  simulateDuplicatiRetention,
  simulateResticForget,
  toDuplicatiPolicy,
  toResticForgetArgs,
} from '../src/retention/index.ts';

type Expected = { policy: string } | { error: string };

/** Input → canonical policy string (or "none"), or the exact error message. */
const STRINGS: [string, Expected][] = [
  ['1W:1D,4W:1W,12M:1M', { policy: '1W:1D,4W:1W,12M:1M' }],
  ['7D:0s,3M:1D,10Y:2M', { policy: '7D:0s,3M:1D,10Y:2M' }],
  ['U:1Y', { policy: 'U:1Y' }],
  ['12M:1M,1W:1D,4W:1W', { policy: '1W:1D,4W:1W,12M:1M' }],
  [
    '1W:1D,,4W:1W,',
    { error: 'an empty entry (a stray "," after entry 1 "1W:1D"); remove the extra "," or write the missing entry' },
  ],
  [
    '1W:1D,4W:1W,',
    { error: 'an empty entry (a stray "," after entry 2 "4W:1W"); remove the extra "," or write the missing entry' },
  ],
  [
    ',1W:1D',
    { error: 'an empty entry (a stray "," before the first entry); remove the extra "," or write the missing entry' },
  ],
  [' 1W:1D , 4W : 1W ', { policy: '1W:1D,4W:1W' }],
  ['7D:0', { policy: '7D:0s' }],
  ['7D:', { policy: '7D:0s' }],
  ['7D:U', { policy: '7D:0s' }],
  ['7D:0s', { policy: '7D:0s' }],
  ['U:U', { policy: 'U:0s' }],
  ['U:0s', { policy: 'U:0s' }],
  ['U:', { policy: 'U:0s' }],
  ['1D12h:1h', { policy: '1D12h:1h' }],
  ['12h1D:1h', { policy: '1D12h:1h' }],
  ['1D1D:1h', { policy: '2D:1h' }],
  ['86400:3600', { policy: '86400s:3600s' }],
  ['36h:0', { policy: '36h:0s' }],
  ['90m:0s', { policy: '90m:0s' }],
  ['1Y6M:1M', { policy: '1Y6M:1M' }],
  ['2W:1D', { policy: '2W:1D' }],
  ['1M:1m', { policy: '1M:1m' }],
  ['1W0D:1D', { policy: '1W:1D' }],
  ['1h:30m', { policy: '1h:30m' }],
  ['30s:1s', { policy: '30s:1s' }],
  ['1000Y:1Y', { policy: '1000Y:1Y' }],
  ['U:1D,7D:0s', { policy: '7D:0s,U:1D' }],
  ['', { error: 'the policy is empty; write one such as "1W:1D,4W:1W,12M:1M", or "none" to disable retention' }],
  ['  ', { error: 'the policy is empty; write one such as "1W:1D,4W:1W,12M:1M", or "none" to disable retention' }],
  [',,', { error: 'the policy is empty; write one such as "1W:1D,4W:1W,12M:1M", or "none" to disable retention' }],
  [
    '7d:0s',
    {
      error:
        'entry 1 "7d:0s", character 2: "d" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "7D" (days)?',
    },
  ],
  [
    '1w:1D',
    {
      error:
        'entry 1 "1w:1D", character 2: "w" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "1W" (weeks)?',
    },
  ],
  [
    '1y:1M',
    {
      error:
        'entry 1 "1y:1M", character 2: "y" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "1Y" (years)?',
    },
  ],
  [
    '7D:1d',
    {
      error:
        'entry 1 "7D:1d", character 5: "d" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "1D" (days)?',
    },
  ],
  [
    '1W:1D,4w:1W',
    {
      error:
        'entry 2 "4w:1W", character 2: "w" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "4W" (weeks)?',
    },
  ],
  [
    '1H:1m',
    {
      error:
        'entry 1 "1H:1m", character 2: "H" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "1h" (hours)?',
    },
  ],
  [
    '10S:1s',
    {
      error:
        'entry 1 "10S:1s", character 3: "S" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "10s" (seconds)?',
    },
  ],
  [
    '12m:1M',
    {
      error:
        'entry 1 "12m:1M": the interval 1M must be shorter than the timeframe 12m (or 0s to keep every backup in it); "m" is minutes and "M" is months: did you mean "12M:1M"?',
    },
  ],
  [
    '1D:1M',
    {
      error:
        'entry 1 "1D:1M": the interval 1M must be shorter than the timeframe 1D (or 0s to keep every backup in it); "M" is months and "m" is minutes: did you mean "1D:1m"?',
    },
  ],
  [
    '1W:1W',
    {
      error:
        'entry 1 "1W:1W": the interval 1W must be shorter than the timeframe 1W (or 0s to keep every backup in it)',
    },
  ],
  [
    '1W:2W',
    {
      error:
        'entry 1 "1W:2W": the interval 2W must be shorter than the timeframe 1W (or 0s to keep every backup in it)',
    },
  ],
  [
    '1W',
    {
      error:
        'entry 1 "1W": missing ":"; each entry is timeframe:interval; did you mean "1W:0s" (keep every backup for that long)?',
    },
  ],
  [
    'U',
    {
      error:
        'entry 1 "U": missing ":"; each entry is timeframe:interval; did you mean "U:0s" (keep every backup forever)?',
    },
  ],
  [
    '1W:1D:4W:1W',
    {
      error:
        'entry 1 "1W:1D:4W:1W", character 6: a second ":"; each entry has exactly one; did you mean "1W:1D,4W:1W"?',
    },
  ],
  [
    '1W:1D:2h',
    { error: 'entry 1 "1W:1D:2h", character 6: a second ":"; each entry has exactly one; separate entries with ","' },
  ],
  ['-7D:1D', { error: 'entry 1 "-7D:1D", character 1: negative timespans are not allowed' }],
  ['7D:-1h', { error: 'entry 1 "7D:-1h", character 4: negative timespans are not allowed' }],
  ['1.5D:1h', { error: 'entry 1 "1.5D:1h", character 2: whole numbers only; did you mean "1D12h"?' }],
  ['D:1h', { error: 'entry 1 "D:1h", character 1: unit "D" has no number before it' }],
  [
    '1D12:1h',
    {
      error:
        'entry 1 "1D12:1h", character 3: "12" has no unit; a bare number (seconds) must stand alone, so add one of s m h D W M Y',
    },
  ],
  ['1x:1s', { error: 'entry 1 "1x:1s", character 2: "x" is not a unit; units are s m h D W M Y (case-sensitive)' }],
  ['1 D:1s', { error: 'entry 1 "1 D:1s", character 2: spaces are not allowed inside a timespan' }],
  ['u:1Y', { error: 'entry 1 "u:1Y", character 1: "u" is not a timespan; did you mean "U" (unlimited)?' }],
  ['7D:u', { error: 'entry 1 "7D:u", character 4: "u" is not a timespan; did you mean "U" (unlimited)?' }],
  ['1U:1D', { error: 'entry 1 "1U:1D", character 2: "U" (unlimited) must stand alone, not after a number' }],
  [
    '0s:0s',
    {
      error:
        'entry 1 "0s:0s": the timeframe is 0, which keeps nothing; give a length such as "7D", or "U" for unlimited',
    },
  ],
  [
    ':1D',
    {
      error: 'entry 1 ":1D": the timeframe is 0, which keeps nothing; give a length such as "7D", or "U" for unlimited',
    },
  ],
  ['1001Y:1Y', { error: 'entry 1 "1001Y:1Y", character 1: longer than 1000 years; use U for unlimited' }],
  ['none', { policy: 'none' }],
  [' none ', { policy: 'none' }],
  ['None', { error: '"None" is not a policy; write "none" to disable retention' }],
  ['off', { error: '"off" is not a policy; write "none" to disable retention' }],
  ['7D:1h,1W:1D', { error: 'entries 1 "7D:1h" and 2 "1W:1D" have the same timeframe; give each timeframe once' }],
  ['U:1Y,U:1M', { error: 'entries 1 "U:1Y" and 2 "U:1M" have the same timeframe; give each timeframe once' }],
  [
    '4W:1W,1W:1d',
    {
      error:
        'entry 2 "1W:1d", character 5: "d" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "1D" (days)?',
    },
  ],
  [
    '1D:7d12h',
    {
      error:
        'entry 1 "1D:7d12h", character 5: "d" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "7D12h" (days)?',
    },
  ],
];

const canonical = (policy: RetentionPolicy): string => (policy.kind === 'none' ? 'none' : toDuplicatiPolicy(policy));

const parseError = (input: unknown, where?: string): UsageError => {
  try {
    parseRetention(input, where);
  } catch (error) {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${String(error)}`);
    assert.equal(error.code, 'E_RETENTION');
    assert.equal(error.exitCode, 2);
    return error;
  }
  return assert.fail(`expected ${JSON.stringify(input)} to be rejected`);
};

describe('parseRetention: policy strings', () => {
  it('the table covers at least 60 strings, valid and invalid', () => {
    assert.ok(STRINGS.length >= 60);
    assert.ok(STRINGS.filter(([, e]) => 'error' in e).length >= 30);
  });

  for (const [input, expected] of STRINGS) {
    if ('policy' in expected) {
      it(`accepts ${JSON.stringify(input)} as ${expected.policy}`, () => {
        assert.equal(canonical(parseRetention(input)), expected.policy);
      });
    } else {
      it(`rejects ${JSON.stringify(input)}, naming what is wrong`, () => {
        assert.equal(parseError(input).message, expected.error);
      });
    }
  }

  it('keeps rules as seconds, smallest timeframe first, with U last', () => {
    assert.deepEqual(parseRetention('U:1Y, 12M:1M,7D:U ,1D12h:0'), {
      kind: 'duplicati',
      rules: [
        { timeframe: 129_600, interval: 'keep-all', text: '1D12h:0s' },
        { timeframe: 604_800, interval: 'keep-all', text: '7D:0s' },
        { timeframe: 31_104_000, interval: 2_592_000, text: '12M:1M' },
        { timeframe: 'unlimited', interval: 31_536_000, text: 'U:1Y' },
      ],
    });
  });

  it('prefixes errors with where the policy came from', () => {
    assert.equal(
      parseError('1W:1D,7d:0s', 'config.yml:12 jobs.influxdb.retention').message,
      'config.yml:12 jobs.influxdb.retention: entry 2 "7d:0s", character 2: "d" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "7D" (days)?',
    );
  });

  it('"none" disables retention', () => {
    assert.deepEqual(parseRetention('none'), { kind: 'none' });
    assert.equal(toDuplicatiPolicy(parseRetention('none')), undefined);
  });
});

describe('parseRetention: map form', () => {
  it('accepts every key, storing within in seconds with its canonical text', () => {
    assert.deepEqual(
      parseRetention({ last: 3, hourly: 24, daily: 7, weekly: 4, monthly: 12, yearly: 3, within: '2D' }),
      {
        kind: 'counts',
        counts: { last: 3, hourly: 24, daily: 7, weekly: 4, monthly: 12, yearly: 3 },
        within: { seconds: 172_800, text: '2D' },
      },
    );
  });

  it('accepts any subset, and within alone', () => {
    assert.deepEqual(parseRetention({ daily: 7, weekly: 4 }), { kind: 'counts', counts: { daily: 7, weekly: 4 } });
    assert.deepEqual(parseRetention({ within: '1D12h' }), {
      kind: 'counts',
      counts: {},
      within: { seconds: 129_600, text: '1D12h' },
    });
    assert.deepEqual(parseRetention({ within: 3600 }), {
      kind: 'counts',
      counts: {},
      within: { seconds: 3600, text: '3600s' },
    });
  });

  const KEYS = '(keys: last, hourly, daily, weekly, monthly, yearly, within)';
  const MAP_ERRORS: [unknown, string][] = [
    [{ dayly: 7 }, `unknown key "dayly"; did you mean "daily"? ${KEYS}`],
    [{ keep_daily: 7 }, `unknown key "keep_daily"; did you mean "daily"? ${KEYS}`],
    [{ keepWeekly: 4 }, `unknown key "keepWeekly"; did you mean "weekly"? ${KEYS}`],
    [{ days: 7 }, `unknown key "days"; did you mean "daily"? ${KEYS}`],
    [{ foo: 1 }, `unknown key "foo" ${KEYS}`],
    [{ daily: -1 }, '"daily" must be a whole number of 0 or more, got number -1'],
    [{ daily: 1.5 }, '"daily" must be a whole number of 0 or more, got number 1.5'],
    [{ daily: '7' }, '"daily" must be a whole number of 0 or more, got string "7"'],
    [
      { within: '2d' },
      '"within" "2d", character 2: "d" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "2D" (days)?',
    ],
    [{ within: 'U' }, '"within" cannot be U; write "none" to keep every backup'],
    [{ within: true }, '"within" must be a timespan such as "2D", got boolean true'],
    [
      {},
      'this map keeps no backups; give at least one of last, hourly, daily, weekly, monthly, yearly, within a value above 0, or write "none" to disable retention',
    ],
    [
      { daily: 0, within: '0s' },
      'this map keeps no backups; give at least one of last, hourly, daily, weekly, monthly, yearly, within a value above 0, or write "none" to disable retention',
    ],
    [
      7,
      'retention must be a Duplicati policy string such as "1W:1D,4W:1W,12M:1M", "none", or a map of last, hourly, daily, weekly, monthly, yearly, within; got number 7',
    ],
    [
      null,
      'retention must be a Duplicati policy string such as "1W:1D,4W:1W,12M:1M", "none", or a map of last, hourly, daily, weekly, monthly, yearly, within; got nothing',
    ],
    [
      ['1W:1D'],
      'retention must be a Duplicati policy string such as "1W:1D,4W:1W,12M:1M", "none", or a map of last, hourly, daily, weekly, monthly, yearly, within; got a list',
    ],
  ];
  for (const [input, message] of MAP_ERRORS) {
    it(`rejects ${JSON.stringify(input)} with a message saying how to fix it`, () => {
      assert.equal(parseError(input).message, message);
    });
  }

  it('duplicati-cli refuses the map form, suggesting the nearest policy string', () => {
    assert.throws(() => toDuplicatiPolicy(parseRetention({ daily: 7, weekly: 4, within: '2D' })), {
      code: 'E_RETENTION',
      message:
        'duplicati-cli cannot apply a map of counts (last/hourly/daily/…/within); write the retention as a policy string, e.g. "2D:0s,7D:1D,4W:1W"',
    });
  });
});

describe('parseTimespan', () => {
  it('sums unit pairs and keeps the units in canonical order', () => {
    assert.deepEqual(parseTimespan('12h1D'), { seconds: 129_600, text: '1D12h' });
    assert.deepEqual(parseTimespan('90'), { seconds: 90, text: '90s' });
    assert.deepEqual(parseTimespan(''), { seconds: 0, text: '0s' });
  });

  it('names the character that is wrong', () => {
    assert.throws(() => parseTimespan('1D2w', 'flag --keep'), {
      message:
        'flag --keep: "1D2w", character 4: "w" is not a unit (units are case-sensitive: s m h D W M Y); did you mean "1D2W" (weeks)?',
    });
  });
});

const RESTIC_TABLE: [string, { '0.14.0': string[]; '0.16.0': string[] } | string[]][] = [
  ['1W:1D,4W:1W,12M:1M', ['--keep-within-daily', '7d', '--keep-within-weekly', '28d', '--keep-within-monthly', '12m']],
  ['7D:0s', ['--keep-within', '7d']],
  ['1D:1h', ['--keep-within-hourly', '1d']],
  ['36h:1h', ['--keep-within-hourly', '1d12h']],
  // A calendar month can be 28 days, so Duplicati's 30-day months become days until they add up.
  ['1M:1D', ['--keep-within-daily', '30d']],
  ['3M:1D', ['--keep-within-daily', '90d']],
  ['4M:1W', ['--keep-within-weekly', '4m']],
  ['12M:1M', ['--keep-within-monthly', '12m']],
  ['18M:1M', ['--keep-within-monthly', '18m']],
  ['1Y:1M', ['--keep-within-monthly', '1y']],
  ['1Y6M:1M', ['--keep-within-monthly', '1y6m']],
  ['1Y1M:1M', ['--keep-within-monthly', '1y30d']],
  ['10Y:1Y', ['--keep-within-yearly', '10y']],
  ['2W:1D', ['--keep-within-daily', '14d']],
  ['2D:24h', ['--keep-within-daily', '2d']],
  [
    '1D:60m,30D:1D,365D:7D,2Y:30D',
    [
      '--keep-within-hourly',
      '1d',
      '--keep-within-daily',
      '30d',
      '--keep-within-weekly',
      '1y',
      '--keep-within-monthly',
      '2y',
    ],
  ],
  ['U:1Y', { '0.14.0': ['--keep-yearly', '1000000'], '0.16.0': ['--keep-yearly', 'unlimited'] }],
  ['U:1h', { '0.14.0': ['--keep-hourly', '1000000'], '0.16.0': ['--keep-hourly', 'unlimited'] }],
  [
    '7D:0s,U:1W',
    {
      '0.14.0': ['--keep-within', '7d', '--keep-weekly', '1000000'],
      '0.16.0': ['--keep-within', '7d', '--keep-weekly', 'unlimited'],
    },
  ],
];

describe('toResticForgetArgs', () => {
  for (const version of ['0.14.0', '0.16.0'] as const) {
    for (const [policy, expected] of RESTIC_TABLE) {
      const args = Array.isArray(expected) ? expected : expected[version];
      it(`restic ${version}: ${policy} → ${args.join(' ')}`, () => {
        assert.deepEqual(toResticForgetArgs(parseRetention(policy), { resticVersion: version }), {
          args,
          warnings: [],
          keepAll: false,
        });
      });
    }
  }

  it('never passes -1, which restic 0.14 treats as 0', () => {
    for (const interval of ['1h', '1D', '1W', '1M', '1Y']) {
      assert.ok(!toResticForgetArgs(parseRetention(`U:${interval}`), { resticVersion: '0.14.0' }).args.includes('-1'));
    }
  });

  it('a policy that keeps everything skips forget instead of passing an empty policy', () => {
    for (const policy of ['U:0s', 'U:U', '1W:1D,U:', 'none']) {
      assert.deepEqual(
        toResticForgetArgs(parseRetention(policy), { resticVersion: '0.17.0' }),
        { args: [], warnings: [], keepAll: true },
        policy,
      );
    }
  });

  it('rounds sub-hour timeframes up to whole hours, with a warning', () => {
    assert.deepEqual(toResticForgetArgs(parseRetention('90m:0s'), { resticVersion: '0.14.0' }), {
      args: ['--keep-within', '2h'],
      warnings: ['rule 90m:0s: restic windows are whole hours, so 90m becomes 2h (keeps more)'],
      keepAll: false,
    });
  });

  const refusal = (rule: string, every: string, instead: string): string =>
    `rule ${rule}: restic cannot keep one backup every ${every}; its periods are an hour, a day, a week, a month and a year (intervals 1h, 1D, 1W, 1M, 1Y); change the interval, or set retention_rounding to keep-more to keep ${instead} instead`;
  const rounded = (rule: string, every: string, instead: string): string =>
    `rule ${rule}: restic has no period of ${every}, so it keeps ${instead} instead (keeps more)`;

  const ROUNDING: [string, string, string, ReturnType<typeof toResticForgetArgs>][] = [
    [
      '10Y:2M',
      '2 months',
      'one backup per month',
      { args: ['--keep-within-monthly', '10y'], warnings: [], keepAll: false },
    ],
    ['1W:3D', '3 days', 'one backup per day', { args: ['--keep-within-daily', '7d'], warnings: [], keepAll: false }],
    [
      '1D:90m',
      '90 minutes',
      'one backup per hour',
      { args: ['--keep-within-hourly', '1d'], warnings: [], keepAll: false },
    ],
    [
      '4W:2W',
      '2 weeks',
      'one backup per week',
      { args: ['--keep-within-weekly', '28d'], warnings: [], keepAll: false },
    ],
    [
      '7D:12h',
      '12 hours',
      'one backup per hour',
      { args: ['--keep-within-hourly', '7d'], warnings: [], keepAll: false },
    ],
    // Below an hour the next period (an hour) would keep less, so the whole window is kept.
    ['1D:30m', '30 minutes', 'every backup for 1 day', { args: ['--keep-within', '1d'], warnings: [], keepAll: false }],
    ['U:2W', '2 weeks', 'one backup per week', { args: ['--keep-weekly', '1000000'], warnings: [], keepAll: false }],
    ['U:30m', '30 minutes', 'every backup forever', { args: [], warnings: [], keepAll: true }],
  ];
  for (const [policy, every, instead, expected] of ROUNDING) {
    it(`refuses ${policy} unless rounding is keep-more, then keeps ${instead}`, () => {
      const parsed = parseRetention(policy);
      assert.throws(() => toResticForgetArgs(parsed, { resticVersion: '0.14.0' }), {
        code: 'E_RETENTION',
        message: refusal(policy, every, instead),
      });
      assert.throws(() => toResticForgetArgs(parsed, { resticVersion: '0.14.0', rounding: 'refuse' }), {
        message: refusal(policy, every, instead),
      });
      assert.deepEqual(toResticForgetArgs(parsed, { resticVersion: '0.14.0', rounding: 'keep-more' }), {
        ...expected,
        warnings: [rounded(policy, every, instead)],
      });
    });
  }

  it('two rules on the same restic flag keep the longer window', () => {
    assert.deepEqual(
      toResticForgetArgs(parseRetention('1W:3D,2W:1D'), { resticVersion: '0.14.0', rounding: 'keep-more' }).args,
      ['--keep-within-daily', '14d'],
    );
  });

  it('translates the map form directly', () => {
    assert.deepEqual(
      toResticForgetArgs(
        parseRetention({ last: 3, hourly: 24, daily: 7, weekly: 4, monthly: 12, yearly: 3, within: '2D' }),
        { resticVersion: '0.14.0' },
      ),
      {
        args: [
          '--keep-within',
          '2d',
          '--keep-last',
          '3',
          '--keep-hourly',
          '24',
          '--keep-daily',
          '7',
          '--keep-weekly',
          '4',
          '--keep-monthly',
          '12',
          '--keep-yearly',
          '3',
        ],
        warnings: [],
        keepAll: false,
      },
    );
    assert.deepEqual(
      toResticForgetArgs(parseRetention({ daily: 0, weekly: 2, within: '90m' }), { resticVersion: '0.14.0' }),
      {
        args: ['--keep-within', '2h', '--keep-weekly', '2'],
        warnings: ['within 90m: restic windows are whole hours, so it becomes 2h (keeps more)'],
        keepAll: false,
      },
    );
  });

  it('refuses keep-within-* on restic older than 0.12.1 and unreadable versions', () => {
    assert.throws(() => toResticForgetArgs(parseRetention('1W:1D'), { resticVersion: '0.12.0' }), {
      message: 'restic 0.12.0 has no --keep-within-daily (added in 0.12.1); upgrade restic',
    });
    assert.deepEqual(toResticForgetArgs(parseRetention('1W:0s'), { resticVersion: '0.12.0' }).args, [
      '--keep-within',
      '7d',
    ]);
    assert.deepEqual(toResticForgetArgs(parseRetention('U:1D'), { resticVersion: 'v0.16.2' }).args, [
      '--keep-daily',
      'unlimited',
    ]);
    assert.throws(() => toResticForgetArgs(parseRetention('U:1D'), { resticVersion: 'latest' }), {
      message: 'unrecognised restic version "latest"',
    });
  });
});

describe('simulateDuplicatiRetention', () => {
  it('keeps all in the smallest frame, one per interval from the oldest in the next, nothing older, and the newest', () => {
    const now = Date.UTC(2024, 0, 10, 12);
    // every 6 hours for 10 days
    const times = Array.from({ length: 41 }, (_, i) => new Date(now - i * 6 * 3_600_000));
    const kept = simulateDuplicatiRetention(
      parseRetention('1D:0s,1W:1D') as Extract<RetentionPolicy, { kind: 'duplicati' }>,
      times,
      new Date(now),
    );
    const hoursAgo = [...kept].map((i) => (now - (times[i] as Date).getTime()) / 3_600_000).sort((a, b) => a - b);
    assert.deepEqual(hoursAgo, [0, 6, 12, 18, 24, 48, 72, 96, 120, 144, 168]);
  });

  it('always keeps the newest backup, even outside every timeframe', () => {
    const now = Date.UTC(2024, 0, 10);
    const times = [new Date(now - 5 * 86_400_000), new Date(now - 6 * 86_400_000)];
    const kept = simulateDuplicatiRetention(
      parseRetention('1D:0s') as Extract<RetentionPolicy, { kind: 'duplicati' }>,
      times,
      new Date(now),
    );
    assert.deepEqual([...kept], [0]);
  });
});

describe('simulateResticForget', () => {
  it('keeps the newest backup of each day within the window measured back from the latest snapshot', () => {
    const times = [
      '2024-03-01T10:00Z',
      '2024-03-01T02:00Z',
      '2024-02-29T23:00Z',
      '2024-02-29T01:00Z',
      '2024-02-28T11:00Z',
      '2024-02-28T09:00Z',
    ].map((t) => new Date(t));
    assert.deepEqual([...simulateResticForget(['--keep-within-daily', '2d'], times)].sort(), [0, 2, 4]);
  });

  it('subtracts months like Go AddDate: a month back from 31 March 2023 is 3 March', () => {
    const times = ['2023-03-31T00:00Z', '2023-03-03T00:00:01Z', '2023-03-03T00:00Z', '2023-03-02T12:00Z'].map(
      (t) => new Date(t),
    );
    assert.deepEqual([...simulateResticForget(['--keep-within', '1m'], times)].sort(), [0, 1]);
  });

  it('with no flags keeps everything, as restic up to 0.16 does', () => {
    const times = [new Date('2024-01-01T00:00Z'), new Date('2020-01-01T00:00Z')];
    assert.deepEqual([...simulateResticForget([], times)].sort(), [0, 1]);
  });
});

describe('explainRetention', () => {
  it('1W:1D,4W:1W,12M:1M for restic 0.14.0', () => {
    assert.equal(
      explainRetention(parseRetention('1W:1D,4W:1W,12M:1M'), 'restic', { resticVersion: '0.14.0' }),
      [
        'for 1 week: keep one backup per day',
        'for 4 weeks: keep one backup per week',
        'for 12 months: keep one backup per month',
        'older than 12 months: deleted',
        'the newest backup is always kept',
        'note: restic measures these windows back from the newest backup and keeps the newest backup of each calendar hour, day, week, month or year',
        'restic forget --keep-within-daily 7d --keep-within-weekly 28d --keep-within-monthly 12m',
      ].join('\n'),
    );
  });

  it('1W:1D,4W:1W,12M:1M for duplicati', () => {
    assert.equal(
      explainRetention(parseRetention('1W:1D,4W:1W,12M:1M'), 'duplicati'),
      [
        'for 1 week: keep one backup per day',
        'for 4 weeks: keep one backup per week',
        'for 12 months: keep one backup per month',
        'older than 12 months: deleted',
        'the newest backup is always kept',
        '--retention-policy=1W:1D,4W:1W,12M:1M',
      ].join('\n'),
    );
  });

  const RULES_7D = [
    'for 7 days: keep every backup',
    'for 3 months: keep one backup per day',
    'for 10 years: keep one backup every 2 months',
    'older than 10 years: deleted',
    'the newest backup is always kept',
  ];

  it('7D:0s,3M:1D,10Y:2M for restic without rounding shows why it is refused', () => {
    assert.equal(
      explainRetention(parseRetention('7D:0s,3M:1D,10Y:2M'), 'restic', { resticVersion: '0.14.0' }),
      [
        ...RULES_7D,
        'restic cannot apply this policy: rule 10Y:2M: restic cannot keep one backup every 2 months; its periods are an hour, a day, a week, a month and a year (intervals 1h, 1D, 1W, 1M, 1Y); change the interval, or set retention_rounding to keep-more to keep one backup per month instead',
      ].join('\n'),
    );
  });

  it('7D:0s,3M:1D,10Y:2M for restic with keep-more rounding notes the rounding', () => {
    assert.equal(
      explainRetention(parseRetention('7D:0s,3M:1D,10Y:2M'), 'restic', {
        resticVersion: '0.14.0',
        rounding: 'keep-more',
      }),
      [
        ...RULES_7D,
        'note: rule 10Y:2M: restic has no period of 2 months, so it keeps one backup per month instead (keeps more)',
        'note: restic measures these windows back from the newest backup and keeps the newest backup of each calendar hour, day, week, month or year',
        'restic forget --keep-within 7d --keep-within-daily 90d --keep-within-monthly 10y',
      ].join('\n'),
    );
  });

  it('7D:0s,3M:1D,10Y:2M for duplicati', () => {
    assert.equal(
      explainRetention(parseRetention('7D:0s,3M:1D,10Y:2M'), 'duplicati'),
      [...RULES_7D, '--retention-policy=7D:0s,3M:1D,10Y:2M'].join('\n'),
    );
  });

  it('U:1Y for restic 0.14.0, 0.16.0 and duplicati', () => {
    const rules = ['forever: keep one backup per year', 'the newest backup is always kept'];
    const policy = parseRetention('U:1Y');
    assert.equal(
      explainRetention(policy, 'restic', { resticVersion: '0.14.0' }),
      [...rules, 'restic forget --keep-yearly 1000000'].join('\n'),
    );
    assert.equal(
      explainRetention(policy, 'restic', { resticVersion: '0.16.0' }),
      [...rules, 'restic forget --keep-yearly unlimited'].join('\n'),
    );
    assert.equal(explainRetention(policy, 'duplicati'), [...rules, '--retention-policy=U:1Y'].join('\n'));
  });

  it('a policy that keeps everything says restic forget is skipped', () => {
    assert.equal(
      explainRetention(parseRetention('90m:0s,1D12h:1h,U:U'), 'restic', { resticVersion: '0.14.0' }),
      [
        'for 90 minutes: keep every backup',
        'for 1 day 12 hours: keep one backup per hour',
        'forever: keep every backup',
        'the newest backup is always kept',
        'note: rule 90m:0s: restic windows are whole hours, so 90m becomes 2h (keeps more)',
        'restic forget is skipped: the policy keeps every backup',
      ].join('\n'),
    );
  });

  it('the map form, for restic and for duplicati', () => {
    const policy = parseRetention({ last: 3, daily: 7, within: '2D' });
    const rules = [
      'keep every backup from the 2 days before the newest backup',
      'keep the last 3 backups',
      'keep the newest backup of each of the last 7 days that have backups',
      'everything else: deleted',
    ];
    assert.equal(
      explainRetention(policy, 'restic', { resticVersion: '0.16.0' }),
      [...rules, 'restic forget --keep-within 2d --keep-last 3 --keep-daily 7'].join('\n'),
    );
    assert.equal(
      explainRetention(policy, 'duplicati'),
      [
        ...rules,
        'duplicati-cli cannot apply a map of counts (last/hourly/daily/…/within); write the retention as a policy string, e.g. "2D:0s,7D:1D" ("last" has no Duplicati equivalent)',
      ].join('\n'),
    );
  });

  it('"none" for both engines', () => {
    const policy = parseRetention('none');
    assert.equal(
      explainRetention(policy, 'restic', { resticVersion: '0.16.0' }),
      'retention is disabled: no backup is ever deleted\nrestic forget is skipped',
    );
    assert.equal(
      explainRetention(policy, 'duplicati'),
      'retention is disabled: no backup is ever deleted\nno --retention-policy is passed',
    );
  });
});
