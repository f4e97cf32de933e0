// Random Duplicati policies and snapshot histories for property tests of the engine
// translations: seeded, so a failure names a reproducible case.
import { parseRetention, type RetentionPolicy } from '../../src/retention/index.ts';

export type DuplicatiPolicy = Extract<RetentionPolicy, { kind: 'duplicati' }>;

/** mulberry32: small, seeded, good enough to spread test cases. */
export const prng = (seed: number) => {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)] as T;
  return { next, int, pick };
};
export type Rng = ReturnType<typeof prng>;

const H = 3_600_000;
export const D = 24 * H;

export const randomTimeframe = (rng: Rng): string =>
  rng.pick([
    () => `${rng.int(1, 72)}h`,
    () => `${rng.int(1, 60)}D`,
    () => `${rng.int(1, 12)}W`,
    () => `${rng.int(1, 24)}M`,
    () => `${rng.int(1, 3)}Y`,
    () => `${rng.int(1, 9)}D${rng.int(1, 23)}h`,
    () => `${rng.int(1, 2)}Y${rng.int(1, 11)}M`,
    () => `${rng.int(61, 600)}m`,
    () => String(rng.int(1, 30) * 86_400 + rng.int(0, 3) * 1800),
  ])();

const EXPRESSIBLE_INTERVALS = [
  '0s',
  '0',
  '',
  'U',
  '1h',
  '60m',
  '3600',
  '1D',
  '24h',
  '1W',
  '7D',
  '1M',
  '30D',
  '1Y',
  '365D',
];
export const randomInterval = (rng: Rng, expressible: boolean): string =>
  expressible
    ? rng.pick(EXPRESSIBLE_INTERVALS)
    : rng.pick([
        () => '0s',
        () => `${rng.int(1, 59)}m`,
        () => `${rng.int(1, 48)}h`,
        () => `${rng.int(1, 20)}D`,
        () => `${rng.int(1, 6)}W`,
        () => `${rng.int(1, 13)}M`,
        () => `${rng.int(1, 2)}Y`,
      ])();

/** A random valid policy string (retrying invalid combinations). */
export const randomPolicy = (rng: Rng, expressible: boolean): DuplicatiPolicy => {
  for (;;) {
    const count = rng.int(1, 4);
    const text = Array.from(
      { length: count },
      () => `${rng.next() < 0.15 ? 'U' : randomTimeframe(rng)}:${randomInterval(rng, expressible)}`,
    ).join(',');
    try {
      const policy = parseRetention(text);
      if (policy.kind === 'duplicati') return policy;
    } catch {
      // interval ≥ timeframe or a repeated timeframe: draw again
    }
  }
};

/** Snapshot histories: a cadence with jitter and gaps, or scattered times; never on exact boundaries. */
export const randomHistory = (rng: Rng, policy: DuplicatiPolicy): { times: Date[]; now: Date } => {
  const finite = policy.rules.flatMap((rule) => (rule.timeframe === 'unlimited' ? [] : [rule.timeframe * 1000]));
  const span = Math.min(Math.max(...finite, 0) * 1.3 + 3 * D, 4 * 365 * D) || 2 * 365 * D;
  const latest = Date.UTC(2021, 0, 1) + rng.int(0, 4 * 365) * D + rng.int(0, D - 1);
  const count = rng.int(2, 250);
  const cadence = span / count;
  const times = new Set<number>();
  const scattered = rng.next() < 0.3;
  for (let i = 0; i < count; i += 1) {
    if (rng.next() < 0.1) continue; // a missed backup
    const offset = scattered ? rng.next() * span : i * cadence + rng.next() * cadence * 0.5;
    times.add(latest - Math.floor(offset) - (i === 0 ? 0 : 1));
  }
  times.add(latest);
  const now = rng.next() < 0.5 ? latest : latest + rng.int(1, 3 * D);
  return { times: [...times].map((t) => new Date(t)), now: new Date(now) };
};
