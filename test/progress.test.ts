// What a person at a terminal sees during `cronvault run` (a live progress line, then the
// summary), against what cron gets from the very same run: plain lines, no control characters.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { cronvaultBin, makeTempDir, runCronvault } from './support/cli.ts';
import { createRepository, type TestRepository } from './support/restic.ts';

const shellQuote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;

/** Runs cronvault on a real pseudo-terminal (util-linux `script`); returns everything it drew. */
const runOnTerminal = async (
  args: string[],
  env: Record<string, string> = {},
): Promise<{ exitCode: number; output: string }> => {
  const command = [process.execPath, cronvaultBin, ...args].map(shellQuote).join(' ');
  const result = await execa('script', ['-qfec', command, '/dev/null'], {
    reject: false,
    stdin: 'ignore',
    env: { TERM: 'xterm-256color', ...env },
    extendEnv: true,
  });
  return { exitCode: result.exitCode ?? -1, output: String(result.stdout) };
};

/** The text as a person reads it: escape sequences dropped, the last state of each line. */
const visibleLines = (raw: string): string[] =>
  raw
    .replace(/\u001b\[[0-9;]*[A-Za-z]/g, '')
    .split('\n')
    .map(
      (line) =>
        line
          .split('\r')
          .filter((part) => part !== '')
          .pop() ?? '',
    )
    .filter((line) => line.trim() !== '');

describe('cronvault run on a terminal and from cron', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  let data: string;
  const runArgs = (...extra: string[]) => [
    'run',
    '--path',
    data,
    '--engine',
    'restic',
    '--repository',
    repo.repository,
    '--password-file',
    repo.passwordFile,
    '--retention',
    'none',
    '--textfile-dir',
    join(tmp.dir, 'text'),
    '--state-dir',
    join(tmp.dir, 'state'),
    ...extra,
  ];
  // restic's status rate is set high so even a short backup draws several progress frames.
  const fast = { RESTIC_PROGRESS_FPS: '30' };

  before(async () => {
    tmp = await makeTempDir();
    repo = await createRepository(tmp.dir);
    data = join(tmp.dir, 'data');
    await mkdir(data);
    // Incompressible data, so restic takes long enough to report progress.
    for (let i = 0; i < 8; i += 1) await writeFile(join(data, `blob-${i}.bin`), randomBytes(8 * 1024 * 1024));
  });
  after(async () => tmp.cleanup());

  it('draws a live percentage on a terminal and ends with the summary', async () => {
    const { exitCode, output } = await runOnTerminal(runArgs(), fast);
    assert.equal(exitCode, 0, output);
    assert.match(output, /\r\u001b\[2K/, 'the progress line is redrawn in place');
    const percents = [...output.matchAll(/(\d{1,3}\.\d)%/g)].map((m) => Number(m[1]));
    assert.ok(percents.length >= 2, `several progress frames: ${JSON.stringify(output.slice(0, 500))}`);
    assert.ok(
      percents.some((p) => p > 0),
      'progress moves',
    );
    assert.match(output, /\d+\/8 files/);
    assert.match(output, /\u001b\[3\dm/, 'coloured on a terminal');
    const lines = visibleLines(output);
    assert.match(
      lines.at(-1)!,
      /✓ backup succeeded in .*: 8 new, 0 changed, .* added, snapshot [0-9a-f]{8} \(exit 0: success\)/,
    );
  });

  it('writes plain timestamped lines without escape sequences or carriage returns when not on a terminal', async () => {
    const result = await runCronvault(runArgs(), { env: fast });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /[\u001b\r]/);
    assert.equal(result.stdout, '');
    const lines = result.stderr.trim().split('\n');
    for (const line of lines)
      assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ cronvault\[[^\]]+\] (info|warn|error|debug): /);
    assert.match(lines.at(-1)!, /info: backup succeeded in .*snapshot [0-9a-f]{8}/);
  });

  it('--verbose without a terminal adds the engine output, still without control characters', async () => {
    const result = await runCronvault(runArgs('--verbose'), { env: fast });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /[\u001b\r]/);
    assert.match(result.stderr, /debug: \{"message_type":"summary"/);
  });

  it('--quiet on a terminal prints nothing when the backup succeeds', async () => {
    const { exitCode, output } = await runOnTerminal(runArgs('--quiet'), fast);
    assert.equal(exitCode, 0, output);
    assert.equal(output.trim(), '');
  });

  it('NO_COLOR on a terminal keeps the progress line but drops the colours', async () => {
    const { exitCode, output } = await runOnTerminal(runArgs(), { ...fast, NO_COLOR: '1' });
    assert.equal(exitCode, 0, output);
    assert.doesNotMatch(output, /\u001b\[[0-9;]*m/);
    assert.match(output, /\d+\.\d%/);
    assert.match(visibleLines(output).at(-1)!, /✓ backup succeeded/);
  });

  it('without RESTIC_PROGRESS_FPS a terminal run still shows progress and cron output stays plain', async () => {
    const { exitCode, output } = await runOnTerminal(runArgs());
    assert.equal(exitCode, 0, output);
    assert.match(output, /\d+\.\d%/);
    const cron = await runCronvault(runArgs());
    assert.equal(cron.exitCode, 0);
    assert.doesNotMatch(cron.stderr, /[\u001b\r]/);
  });
});
