// What weighs in dist/cronvault.mjs, by package: every byte is read by V8 at each start-up.
// Builds a copy of the bundle with a metafile (scripts/build.mjs) and sums its inputs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'cronvault-meta-'));
const metafile = join(dir, 'meta.json');
try {
  execFileSync(process.execPath, ['scripts/build.mjs'], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, CRONVAULT_METAFILE: metafile, CRONVAULT_OUTFILE: join(dir, 'cronvault.mjs') },
    stdio: 'ignore',
  });
  const [output] = Object.values(JSON.parse(readFileSync(metafile, 'utf8')).outputs);
  const byPackage = new Map();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const name =
      /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? (input.startsWith('src/') ? 'src (cronvault)' : 'other');
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }
  // What no input accounts for: the banner, which holds execa and yaml as strings (compiled on
  // first use, scripts/build.mjs), and esbuild's helpers.
  const inputs = [...byPackage.values()].reduce((sum, bytes) => sum + bytes, 0);
  byPackage.set('execa and yaml (strings until first use), banner', output.bytes - inputs);
  const rows = [...byPackage].sort((a, b) => b[1] - a[1]);
  console.log('| package | KiB in the bundle |');
  console.log('|:---|---:|');
  for (const [name, bytes] of rows.slice(0, 8)) console.log(`| ${name} | ${(bytes / 1024).toFixed(0)} |`);
  const rest = rows.slice(8).reduce((sum, [, bytes]) => sum + bytes, 0);
  if (rows.length > 8) console.log(`| ${rows.length - 8} others | ${(rest / 1024).toFixed(0)} |`);
  console.log(`| **dist/cronvault.mjs** | **${(output.bytes / 1024).toFixed(0)}** |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
