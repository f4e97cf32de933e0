// The README's examples are what operators copy: each `console` block is run and its output
// compared literally, so the docs cannot drift from the code.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot, runCronvault } from './support/cli.ts';

const splitArgs = (line: string): string[] => [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);

describe('README examples', async () => {
  const readme = await readFile(join(projectRoot, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```console\n\$ cronvault (.+)\n([\s\S]*?)```/g)];
  it('has retention explain examples to check', () => assert.ok(blocks.length >= 3));
  for (const [, command, expected] of blocks) {
    it(`prints exactly what the README shows for: cronvault ${command}`, async () => {
      const result = await runCronvault(splitArgs(command!));
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout, expected!.replace(/\n$/, ''));
    });
  }
  it('exits 2 on an invalid policy, and on one the engine cannot apply, saying why', async () => {
    const invalid = await runCronvault(['retention', 'explain', '7d:1D']);
    assert.equal(invalid.exitCode, 2);
    assert.match(invalid.stderr, /did you mean "7D"/);
    const inexpressible = await runCronvault([
      'retention',
      'explain',
      '7D:0s,3M:1D,10Y:2M',
      '--restic-version',
      '0.14.0',
    ]);
    assert.equal(inexpressible.exitCode, 2);
    assert.match(inexpressible.stdout, /restic cannot keep one backup every 2 months/);
    assert.match(inexpressible.stderr, /restic cannot apply "7D:0s,3M:1D,10Y:2M" \(see above\)/);
  });
  it('documents every exit code that --help lists', async () => {
    const help = (await runCronvault(['--help'])).stdout;
    for (const code of ['0', '1', '2', '75', '130']) {
      assert.match(help, new RegExp(`^  ${code} `, 'm'));
      assert.match(readme, new RegExp(`^\\| ${code}( |/)`, 'm'));
    }
  });
});
