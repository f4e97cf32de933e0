// `make bench` cannot rot: every benchmark runs here once, on tiny data (BENCH_SMOKE=1), and
// must print its table. Timings are never asserted: they mean nothing at this size.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { projectRoot } from './support/cli.ts';

describe('benchmarks (smoke run)', () => {
  it('runs every benchmark of make bench and prints each table with its rows', async () => {
    const result = await execa('bash', [join(projectRoot, 'bench', 'all.sh')], {
      env: { BENCH_SMOKE: '1' },
      reject: false,
      stdin: 'ignore',
    });
    assert.equal(result.exitCode, 0, result.stderr.slice(-3000));
    const out = result.stdout;
    for (const section of [
      'Bundle weight',
      'Start-up',
      'A run against the shell script it replaces',
      "cronvault's own memory",
      'node_exporter scrape',
    ])
      assert.match(out, new RegExp(`^## ${section}$`, 'm'), `section "${section}" in:\n${out}`);
    for (const row of [
      /^\| `cronvault --version` vs `node -e 0` \| [\d.]+ ms \| [\d.]+ ms \| [\d.]+ \|/m,
      /^\| `cronvault status` over \d+ jobs vs `node -e 0` \| [\d.]+ ms \|/m,
      /^\| `cronvault run` vs shell script, \d+ unchanged small files \| [\d.]+ ms \|/m,
      /^\| initial backup, .* in \d+ files, `cronvault run` vs shell script \| [\d.]+ ms \|/m,
      /^\| initial backup, \d+ files of 1 KiB \| \d+ MB \| \d+ MB \| \d+ ms \| \d+ ms \|/m,
      /^\| `command:` job streaming \d+ MiB \| \d+ MB \|/m,
      /^\| node_exporter scrape, \d+ vs 5 cronvault \.prom files .* \| [\d.]+ ms \|/m,
      /^\| \*\*dist\/cronvault\.mjs\*\* \| \*\*\d+\*\* \|$/m,
    ])
      assert.match(out, row);
  });
});
