// -c/--config, -q/--quiet, -v/--verbose, --json and --no-color work before the command
// (`cronvault -c F run job`, as restic and borgmatic take them) and after it, for every command.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { type CliResult, cronvaultBin, runCronvault } from './support/cli.ts';
import { type CliFixture, createCliFixture } from './support/cli-fixture.ts';

// No default config on this machine, so only the -c given can make a command succeed.
const env = { CRONVAULT_CONFIG: '/nonexistent/cronvault.yml' };
const cli = (args: string[]): Promise<CliResult> => runCronvault(args, { env });

/** What must not depend on where the options stand: exit code and the data, made comparable. */
type Case = {
  name: string;
  command: string[];
  globals: string[];
  same: (r: CliResult) => unknown;
  expectExit?: number;
};

describe('global options before and after the command', () => {
  let fx: CliFixture;
  before(async () => (fx = await createCliFixture()));
  after(async () => fx.cleanup());

  const cases = (): Case[] => {
    const c = ['-c', fx.config];
    const json = (r: CliResult) => JSON.parse(r.stdout) as Record<string, unknown>;
    return [
      {
        name: 'run',
        command: ['run', 'beta'],
        globals: [...c, '-q', '--json'],
        same: (r) => ({
          stderr: r.stderr,
          jobs: (json(r).jobs as { job: string; outcome: string; exitCode: number }[]).map((j) => [
            j.job,
            j.outcome,
            j.exitCode,
          ]),
        }),
      },
      // bytesAdded is compared by type only: restic's tree blobs hold directory times, so it varies by a few bytes.
      {
        name: 'run --dry-run',
        command: ['run', '--all', '--dry-run'],
        globals: [...c, '-q', '--json'],
        same: (r) => ({
          stderr: r.stderr,
          plan: JSON.parse(r.stdout, (key, value) => (key === 'bytesAdded' ? typeof value : value)),
        }),
      },
      { name: 'check', command: ['check'], globals: [...c, '--json'], same: (r) => json(r) },
      { name: 'cron', command: ['cron'], globals: [...c, '--json'], same: (r) => json(r) },
      {
        name: 'status',
        command: ['status'],
        globals: [...c, '--json'],
        same: (r) => (json(r).jobs as { name: string; outcome: string }[]).map((j) => [j.name, j.outcome]),
      },
      { name: 'history', command: ['history', 'alpha'], globals: [...c, '--json'], same: (r) => json(r) },
      { name: 'snapshots', command: ['snapshots', 'alpha'], globals: [...c, '--json'], same: (r) => json(r) },
      {
        name: 'init',
        command: ['init', 'alpha'],
        globals: [...c, '-q', '--json'],
        same: (r) => ({ stderr: r.stderr, out: json(r) }),
      },
      {
        name: 'retention explain',
        command: ['retention', 'explain', '1W:1D'],
        globals: [...c, '--json'],
        same: (r) => json(r),
      },
      {
        name: 'completion',
        command: ['completion', 'bash'],
        globals: [...c, '-q', '--no-color'],
        same: (r) => r.stdout,
      },
      // Refused in both positions, with the same words: restore writes files, not JSON.
      {
        name: 'restore --json',
        command: ['restore', 'alpha', '--target', join(fx.dir, 'never')],
        globals: [...c, '--json'],
        same: (r) => r.stderr,
        expectExit: 2,
      },
    ];
  };

  it('every command is covered', () => {
    const covered = new Set(cases().map((k) => k.command[0]));
    for (const command of [
      'run',
      'check',
      'cron',
      'status',
      'history',
      'snapshots',
      'restore',
      'init',
      'retention',
      'completion',
    ])
      assert.ok(covered.has(command), command);
  });

  for (const name of [
    'run',
    'run --dry-run',
    'check',
    'cron',
    'status',
    'history',
    'snapshots',
    'init',
    'retention explain',
    'completion',
    'restore --json',
  ]) {
    it(`${name}: the same result with the global options before and after the command`, async () => {
      const k = cases().find((x) => x.name === name)!;
      const before = await cli([...k.globals, ...k.command]);
      const afterIt = await cli([...k.command, ...k.globals]);
      assert.equal(before.exitCode, k.expectExit ?? 0, before.stderr);
      assert.equal(afterIt.exitCode, before.exitCode, afterIt.stderr);
      assert.deepEqual(k.same(afterIt), k.same(before));
    });
  }

  it('restore: -q before or after silences the log, and the files are restored both times', async () => {
    for (const [i, args] of [
      ['-q', '-c', fx.config, 'restore', 'alpha', '--target'],
      ['restore', 'alpha', '-q', '-c', fx.config, '--target'],
    ].entries()) {
      const result = await cli([...args, join(fx.dir, `restore-${i}`)]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stderr, '');
    }
  });

  it("-v before or after the command shows the engine's own output; without it, not", async () => {
    const plain = await cli(['run', 'alpha', '--dry-run', '-c', fx.config]);
    assert.doesNotMatch(plain.stderr, /"message_type":"summary"/);
    for (const args of [
      ['-v', '-c', fx.config, 'run', 'alpha', '--dry-run'],
      ['run', 'alpha', '--dry-run', '-c', fx.config, '-v'],
    ]) {
      const result = await cli(args);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stderr, /"message_type":"summary"/);
    }
  });

  it('--no-color before or after the command drops the colours on a terminal, where they are shown otherwise', async () => {
    const onTerminal = async (args: string[]) => {
      const command = [process.execPath, cronvaultBin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      const result = await execa('script', ['-qfec', command, '/dev/null'], {
        reject: false,
        stdin: 'ignore',
        env: { TERM: 'xterm-256color', CRONVAULT_CONFIG: env.CRONVAULT_CONFIG },
        extendEnv: true,
      });
      return String(result.stdout);
    };
    assert.match(
      await onTerminal(['status', '-c', fx.config]),
      /\u001b\[[0-9;]*m/,
      'coloured by default on a terminal',
    );
    assert.doesNotMatch(await onTerminal(['--no-color', 'status', '-c', fx.config]), /\u001b\[[0-9;]*m/);
    assert.doesNotMatch(await onTerminal(['status', '-c', fx.config, '--no-color']), /\u001b\[[0-9;]*m/);
    assert.doesNotMatch(await onTerminal(['run', 'beta', '-c', fx.config, '--no-color']), /\u001b\[[0-9;]*m/);
  });

  it('without -c anywhere the default config is read (and here it does not exist: exit 2)', async () => {
    const result = await cli(['status']);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /nonexistent/);
  });
});
