// Python's `random.Random(seed).randrange(n)` for a string seed: Ansible's
// `random(seed=…)` filter draws cron times with it, and `cronvault cron` must draw the very
// same times so that the CLI and the role never disagree about when a job runs.
//
// `status` draws one verify time per job (500 draws for 500 jobs), so a draw does only what its
// answer needs: the generator's fixed starting state is computed once, one state array is reused,
// and the state is "twisted" one word at a time as words are drawn, not 624 at once.
import { createHash } from 'node:crypto';

const N = 624;
const M = 397;

/** init_genrand(19650218): the state every string seed starts from, computed on first use. */
let initialState: Uint32Array | undefined;
const initial = (): Uint32Array => {
  if (initialState) return initialState;
  initialState = new Uint32Array(N);
  initialState[0] = 19650218;
  for (let i = 1; i < N; i += 1) {
    const prev = initialState[i - 1]! ^ (initialState[i - 1]! >>> 30);
    initialState[i] = (Math.imul(prev, 1812433253) + i) >>> 0;
  }
  return initialState;
};

/** Reused by every draw: a draw runs to its end before the next starts (no await inside). */
const mt = new Uint32Array(N);

/** MT19937's init_by_array, as CPython's random_seed() calls it with the seed's 32-bit words. */
const seedState = (key: Uint32Array): void => {
  mt.set(initial());
  let i = 1;
  let j = 0;
  for (let k = Math.max(N, key.length); k > 0; k -= 1) {
    const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
    mt[i] = ((mt[i]! ^ Math.imul(prev, 1664525)) + key[j]! + j) >>> 0;
    i += 1;
    j += 1;
    if (i >= N) {
      mt[0] = mt[N - 1]!;
      i = 1;
    }
    if (j >= key.length) j = 0;
  }
  for (let k = N - 1; k > 0; k -= 1) {
    const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
    mt[i] = ((mt[i]! ^ Math.imul(prev, 1566083941)) - i) >>> 0;
    i += 1;
    if (i >= N) {
      mt[0] = mt[N - 1]!;
      i = 1;
    }
  }
  mt[0] = 0x80000000;
};

/**
 * Word k of the state after one twist, from the words now in `mt`. For k < N - M those are all
 * still the words before the twist, so a word can be worked out without twisting the rest.
 */
const twisted = (k: number): number => {
  const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % N]! & 0x7fffffff);
  return (mt[(k + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0)) >>> 0;
};

/** The whole twist, in place, for the (never seen in practice) draw that needs more than N - M words. */
const twistAll = (): void => {
  for (let k = 0; k < N; k += 1) mt[k] = twisted(k);
};

const temper = (word: number): number => {
  let y = word;
  y ^= y >>> 11;
  y ^= (y << 7) & 0x9d2c5680;
  y ^= (y << 15) & 0xefc60000;
  y ^= y >>> 18;
  return y >>> 0;
};

/** Python 3's seed(version=2) for str: the UTF-8 bytes followed by their SHA-512, as one big-endian integer. */
const keyFromString = (seed: string): Uint32Array => {
  const bytes = Buffer.from(seed, 'utf8');
  const big = Buffer.concat([bytes, createHash('sha512').update(bytes).digest()]);
  // Little-endian 32-bit words of the big-endian integer: word w holds the bytes counted from the end.
  const words = new Uint32Array(Math.ceil(big.length / 4));
  for (let w = 0; w < words.length; w += 1) {
    const end = big.length - 4 * w;
    words[w] =
      ((big[end - 1] ?? 0) | ((big[end - 2] ?? 0) << 8) | ((big[end - 3] ?? 0) << 16) | ((big[end - 4] ?? 0) << 24)) >>>
      0;
  }
  let length = words.length;
  while (length > 1 && words[length - 1] === 0) length -= 1;
  return words.subarray(0, length);
};

/** `random.Random(seed).randrange(n)` for 1 <= n < 2**32. */
export const pythonRandrange = (seed: string, n: number): number => {
  seedState(keyFromString(seed));
  const bits = n.toString(2).length;
  let fullyTwisted = false;
  // _randbelow_with_getrandbits: draw `bits` bits, retry while out of range. Each draw is in range
  // with a chance above 1/2, so the words past N - M (a full twist) are for correctness only.
  let index = 0;
  for (;;) {
    let word: number;
    if (index < N - M && !fullyTwisted) word = twisted(index);
    else {
      if (!fullyTwisted || index >= N) {
        twistAll();
        fullyTwisted = true;
        if (index >= N) index = 0;
      }
      word = mt[index]!;
    }
    index += 1;
    const r = bits === 32 ? temper(word) : temper(word) >>> (32 - bits);
    if (r < n) return r;
  }
};
