// Python's `random.Random(seed).randrange(n)` for a string seed: Ansible's
// `random(seed=…)` filter draws cron times with it, and `cronvault cron` must draw the very
// same times so that the CLI and the role never disagree about when a job runs.
import { createHash } from 'node:crypto';

const N = 624;
const M = 397;

/** MT19937, seeded the way CPython's random_seed() does from a non-negative integer's 32-bit words. */
class MersenneTwister {
  private readonly mt = new Uint32Array(N);
  private index = N + 1;

  constructor(key: number[]) {
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k -= 1) {
      const prev = this.mt[i - 1]! ^ (this.mt[i - 1]! >>> 30);
      this.mt[i] = ((this.mt[i]! ^ Math.imul(prev, 1664525)) + key[j]! + j) >>> 0;
      i += 1;
      j += 1;
      if (i >= N) {
        this.mt[0] = this.mt[N - 1]!;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k -= 1) {
      const prev = this.mt[i - 1]! ^ (this.mt[i - 1]! >>> 30);
      this.mt[i] = ((this.mt[i]! ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i += 1;
      if (i >= N) {
        this.mt[0] = this.mt[N - 1]!;
        i = 1;
      }
    }
    this.mt[0] = 0x80000000;
  }

  private initGenrand(seed: number): void {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < N; i += 1) {
      const prev = this.mt[i - 1]! ^ (this.mt[i - 1]! >>> 30);
      this.mt[i] = (Math.imul(prev, 1812433253) + i) >>> 0;
    }
    this.index = N;
  }

  nextUint32(): number {
    if (this.index >= N) {
      for (let k = 0; k < N; k += 1) {
        const y = (this.mt[k]! & 0x80000000) | (this.mt[(k + 1) % N]! & 0x7fffffff);
        this.mt[k] = this.mt[(k + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = this.mt[this.index]!;
    this.index += 1;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/** Python 3's seed(version=2) for str: the UTF-8 bytes followed by their SHA-512, as one big-endian integer. */
const keyFromString = (seed: string): number[] => {
  const bytes = Buffer.from(seed, 'utf8');
  const big = Buffer.concat([bytes, createHash('sha512').update(bytes).digest()]);
  const littleEndian = [...big].reverse();
  const words: number[] = [];
  for (let i = 0; i < littleEndian.length; i += 4) {
    words.push(
      ((littleEndian[i] ?? 0) |
        ((littleEndian[i + 1] ?? 0) << 8) |
        ((littleEndian[i + 2] ?? 0) << 16) |
        ((littleEndian[i + 3] ?? 0) << 24)) >>>
        0,
    );
  }
  while (words.length > 1 && words[words.length - 1] === 0) words.pop();
  return words;
};

/** `random.Random(seed).randrange(n)` for 1 <= n < 2**32. */
export const pythonRandrange = (seed: string, n: number): number => {
  const generator = new MersenneTwister(keyFromString(seed));
  const bits = n.toString(2).length;
  // _randbelow_with_getrandbits: draw `bits` bits, retry while out of range.
  for (;;) {
    const r = bits === 32 ? generator.nextUint32() : generator.nextUint32() >>> (32 - bits);
    if (r < n) return r;
  }
};
