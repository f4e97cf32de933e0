// The seeded random sample of a restore drill: the same seed and file list always give the same
// files, so a failed drill can be repeated exactly (`cronvault verify JOB --seed S`).
import { createHash } from 'node:crypto';

/** A small deterministic generator (mulberry32) seeded from a SHA-256 of the seed text. */
const generator = (seed: string): (() => number) => {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** Up to `count` items drawn without repetition (a partial Fisher-Yates shuffle of a copy). */
export const seededSample = <T>(items: readonly T[], count: number, seed: string): T[] => {
  const pool = [...items];
  const random = generator(seed);
  const take = Math.min(count, pool.length);
  for (let i = 0; i < take; i += 1) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, take);
};
