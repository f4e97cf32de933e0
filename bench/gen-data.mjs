// Seeded benchmark data: the same bytes on every machine, and never compressible or
// deduplicable (restic would store all zeros once). AES-128-CTR over zeros, keyed by the seed,
// runs at about a gigabyte a second.
//   node bench/gen-data.mjs files DIR COUNT TOTAL_BYTES SEED   COUNT files, TOTAL_BYTES in all
//   node bench/gen-data.mjs stream BYTES SEED                  BYTES to standard output
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const cipherFor = (seed) => {
  const key = createHash('sha256').update(`cronvault-bench/${seed}`).digest();
  return createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
};
const CHUNK = 1 << 20;
const zeros = Buffer.alloc(CHUNK);

const [mode, ...args] = process.argv.slice(2);
if (mode === 'files') {
  const [dir, count, total, seed] = [args[0], Number(args[1]), Number(args[2]), args[3] ?? '1'];
  const cipher = cipherFor(seed);
  const size = Math.max(1, Math.floor(total / count));
  // 1,000 files a directory, as real trees spread them.
  for (let i = 0; i < count; i += 1) {
    const sub = join(dir, `d${Math.floor(i / 1000)}`);
    if (i % 1000 === 0) mkdirSync(sub, { recursive: true });
    const parts = [];
    for (let left = size; left > 0; left -= CHUNK) parts.push(cipher.update(zeros.subarray(0, Math.min(CHUNK, left))));
    writeFileSync(join(sub, `f${i}`), parts.length === 1 ? parts[0] : Buffer.concat(parts));
  }
} else if (mode === 'stream') {
  const [bytes, seed] = [Number(args[0]), args[1] ?? '1'];
  const cipher = cipherFor(seed);
  let left = bytes;
  const pump = () => {
    while (left > 0) {
      const chunk = cipher.update(zeros.subarray(0, Math.min(CHUNK, left)));
      left -= chunk.length;
      if (!process.stdout.write(chunk)) return process.stdout.once('drain', pump);
    }
  };
  pump();
} else {
  process.stderr.write('usage: gen-data.mjs files DIR COUNT TOTAL_BYTES SEED | stream BYTES SEED\n');
  process.exit(2);
}
