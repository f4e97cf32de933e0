// The README's examples are what operators copy: each `console` block is run and its output
// compared literally, so the docs cannot drift from the code.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  it('documents every exit code that --help lists', async () => {
    const help = (await runCronvault(['--help'])).stdout;
    for (const code of ['0', '1', '2', '75', '130']) {
      assert.match(help, new RegExp(`^  ${code} `, 'm'));
      assert.match(readme, new RegExp(`^\\| ${code}( |/)`, 'm'));
    }
  });
});
