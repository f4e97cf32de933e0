// Every command explains itself with an example; --version answers.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { cronvaultBin, projectRoot, runCronvault } from './support/cli.ts';

const COMMANDS = [
  [],
  ['run'],
  ['check'],
  ['cron'],
  ['status'],
  ['fleet'],
  ['history'],
  ['snapshots'],
  ['restore'],
  ['init'],
  ['retention'],
  ['retention', 'explain'],
  ['completion'],
];

describe('cronvault --help and --version', () => {
  for (const command of COMMANDS) {
    it(`"cronvault ${[...command, '--help'].join(' ')}" shows an example and exits 0`, async () => {
      const result = await runCronvault([...command, '--help']);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stdout, /Example/);
      assert.match(result.stdout, /^Usage: cronvault/);
    });
  }

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    const result = await runCronvault(['--version']);
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout.trim(), version);
    assert.equal((await runCronvault(['-V'])).stdout.trim(), version);
  });

  it('--version into a pipe already closed exits 0 without a word on stderr', async () => {
    // `true` has exited before cronvault writes: its write meets EPIPE.
    const script = `set -o pipefail; (sleep 0.3; "${process.execPath}" "${cronvaultBin}" --version) | true`;
    const result = await execa('bash', ['-c', script], { reject: false });
    assert.equal(result.exitCode, 0);
    assert.equal(result.stderr, '');
  });

  it('no command at all shows the help on stderr and is a usage error (exit 2)', async () => {
    const result = await runCronvault([]);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /^Usage: cronvault/m);
  });

  it('-q and -v together are a usage error (exit 2)', async () => {
    const result = await runCronvault(['-q', 'run', 'files', '-v', '-c', '/nonexistent.yml']);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /give -q\/--quiet or -v\/--verbose, not both/);
  });

  it('an argument too many is a usage error (exit 2), never half the work', async () => {
    const result = await runCronvault(['run', 'files', 'dump', '-c', '/nonexistent.yml']);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /too many arguments for 'run'/);
  });

  it('an unknown command is a usage error (exit 2)', async () => {
    const result = await runCronvault(['staus']);
    assert.equal(result.exitCode, 2);
  });
});

describe('global options in the help', () => {
  it("every command's --help lists the global options it accepts before or after its name", async () => {
    for (const command of COMMANDS.filter((c) => c.length > 0)) {
      const result = await runCronvault([...command, '--help']);
      assert.match(
        result.stdout,
        /Global Options:[\s\S]*-c, --config <file>[\s\S]*-q, --quiet[\s\S]*-v, --verbose[\s\S]*--json[\s\S]*--no-color/,
        command.join(' '),
      );
    }
  });

  it('the program --help says that logs go to stderr and data to stdout', async () => {
    const result = await runCronvault(['--help']);
    assert.match(result.stdout, /Logs always go to stderr, data \(tables, JSON, scripts\) to stdout/);
  });
});
