// Property tests for the Duplicati → restic translation, on random policies and histories.
//
// The property ("restic never keeps fewer per period"), with `now` at or after the newest snapshot:
//   for every snapshot s that Duplicati's algorithm keeps,
//   - if s is the newest snapshot, or its rule keeps every backup (interval 0/U) or has an
//     interval under an hour, restic keeps s itself;
//   - otherwise, with P the coarsest calendar period (hour, day, week, 30-day month, 365-day year)
//     whose nominal length is at most the rule's interval, restic keeps at least one snapshot in
//     the same P-period (UTC) as s.
// It does not claim restic keeps a superset: restic keeps the newest backup of each calendar
// period while Duplicati keeps the oldest then one per interval, and restic measures windows
// from the latest snapshot rather than from now. It does fail for a window shorter than the
// timeframe (e.g. 1M as restic's "1m", which can be 28 days) or a period coarser than the
// interval (e.g. 3D as weekly): the mutant tests below prove the checker catches both.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseRetention,
  type ResticBucket,
  resticBucketOf,
  simulateDuplicatiRetention,
  simulateResticForget,
  toDuplicatiPolicy,
  toResticForgetArgs,
} from '../src/retention/index.ts';
import {
  type DuplicatiPolicy,
  prng,
  type Rng,
  randomHistory,
  randomInterval,
  randomTimeframe,
} from './support/retention-random.ts';

const SECONDS = { s: 1, m: 60, h: 3600, D: 86_400, W: 604_800, M: 2_592_000, Y: 31_536_000 } as const;

/** A random valid policy string (retrying invalid combinations), in random order and spacing. */
const randomPolicy = (rng: Rng, expressible: boolean): { text: string; policy: DuplicatiPolicy } => {
  for (;;) {
    const count = rng.int(1, 4);
    const entries = Array.from(
      { length: count },
      () => `${rng.next() < 0.15 ? 'U' : randomTimeframe(rng)}:${randomInterval(rng, expressible)}`,
    );
    const text = entries.map((entry) => (rng.next() < 0.2 ? ` ${entry} ` : entry)).join(rng.next() < 0.1 ? ',,' : ',');
    try {
      const policy = parseRetention(text);
      if (policy.kind === 'duplicati') return { text, policy };
    } catch {
      // interval ≥ timeframe or a repeated timeframe: draw again
    }
  }
};

const PERIODS: readonly [ResticBucket, number][] = [
  ['yearly', SECONDS.Y],
  ['monthly', SECONDS.M],
  ['weekly', SECONDS.W],
  ['daily', SECONDS.D],
  ['hourly', SECONDS.h],
];

/** The first snapshot Duplicati keeps that restic does not cover, or undefined. */
const findCounterexample = (
  policy: DuplicatiPolicy,
  args: readonly string[],
  times: Date[],
  now: Date,
): string | undefined => {
  const duplicati = simulateDuplicatiRetention(policy, times, now);
  const restic = simulateResticForget(args, times);
  const newest = times.reduce((best, t, i) => (t > (times[best] as Date) ? i : best), 0);
  for (const s of duplicati) {
    const time = times[s] as Date;
    if (s === newest) {
      if (!restic.has(s)) return `the newest snapshot ${time.toISOString()} is not kept by restic ${args.join(' ')}`;
      continue;
    }
    const age = (now.getTime() - time.getTime()) / 1000;
    const rule = policy.rules.find((r) => r.timeframe === 'unlimited' || age <= r.timeframe);
    assert.ok(rule, `Duplicati kept ${time.toISOString()} outside every timeframe`);
    const period =
      rule.interval === 'keep-all'
        ? undefined
        : PERIODS.find(([, seconds]) => seconds <= (rule.interval as number))?.[0];
    const covered =
      period === undefined
        ? restic.has(s)
        : [...restic].some((r) => resticBucketOf(period, times[r] as Date) === resticBucketOf(period, time));
    if (!covered)
      return `${time.toISOString()} (rule ${rule.text}, ${period ?? 'itself'}) kept by Duplicati at ${now.toISOString()} is not covered by restic ${args.join(' ')}`;
  }
  return undefined;
};

describe('retention translation properties', () => {
  it('a policy written back with toDuplicatiPolicy parses to the same policy', () => {
    const rng = prng(0xc0ffee);
    for (let i = 0; i < 400; i += 1) {
      const { text, policy } = randomPolicy(rng, i % 2 === 0);
      const canonical = toDuplicatiPolicy(policy);
      assert.deepEqual(parseRetention(canonical), policy, `${text} → ${canonical}`);
      assert.equal(toDuplicatiPolicy(parseRetention(canonical)), canonical);
    }
  });

  it('restic keeps a backup in every period where Duplicati keeps one (expressible intervals, rounding refused)', () => {
    const rng = prng(20240611);
    for (let i = 0; i < 300; i += 1) {
      const { policy } = randomPolicy(rng, true);
      const version = rng.pick(['0.14.0', '0.16.0']);
      const translation = toResticForgetArgs(policy, { resticVersion: version, rounding: 'refuse' });
      const { times, now } = randomHistory(rng, policy);
      const args = translation.keepAll ? [] : translation.args;
      assert.equal(findCounterexample(policy, args, times, now), undefined, toDuplicatiPolicy(policy));
    }
  });

  it('restic keeps a backup in every period where Duplicati keeps one (any interval, rounding keep-more)', () => {
    const rng = prng(77);
    for (let i = 0; i < 300; i += 1) {
      const { policy } = randomPolicy(rng, false);
      const translation = toResticForgetArgs(policy, { resticVersion: '0.14.0', rounding: 'keep-more' });
      const { times, now } = randomHistory(rng, policy);
      const args = translation.keepAll ? [] : translation.args;
      assert.equal(findCounterexample(policy, args, times, now), undefined, toDuplicatiPolicy(policy));
    }
  });

  it('the checker catches a period coarser than the interval (daily rules sent as weekly)', () => {
    const rng = prng(5);
    const policy = parseRetention('2W:1D') as DuplicatiPolicy;
    const args = toResticForgetArgs(policy, { resticVersion: '0.14.0' }).args.map((arg) =>
      arg.replace('-daily', '-weekly'),
    );
    const found = Array.from({ length: 50 }, () => randomHistory(rng, policy)).some(({ times, now }) =>
      findCounterexample(policy, args, times, now),
    );
    assert.ok(found);
  });

  it('the checker catches a window shorter than the timeframe (1M sent as restic "1m")', () => {
    const rng = prng(6);
    const policy = parseRetention('1M:1h') as DuplicatiPolicy;
    assert.deepEqual(toResticForgetArgs(policy, { resticVersion: '0.14.0' }).args, ['--keep-within-hourly', '30d']);
    const naive = ['--keep-within-hourly', '1m'];
    const found = Array.from({ length: 200 }, () => randomHistory(rng, policy)).some(({ times, now }) =>
      findCounterexample(policy, naive, times, now),
    );
    assert.ok(found);
  });
});
