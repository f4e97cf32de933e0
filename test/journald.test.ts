// Under systemd, stderr goes to journald, which stamps every line itself: cronvault then leaves
// out its own timestamp. It knows from JOURNAL_STREAM, which must name the very stream it writes to.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { cronvaultBin, makeTempDir, writeTestConfig } from './support/cli.ts';

describe('log lines under systemd', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let config: string;
  before(async () => {
    tmp = await makeTempDir();
    // The password file is missing: the run logs an error line without starting restic.
    config = await writeTestConfig(tmp.dir, [
      'jobs:',
      `  files: { path: ${tmp.dir}, repository: ${join(tmp.dir, 'repo')}, password_file: ${join(tmp.dir, 'missing.pass')}, retention: none }`,
    ]);
  });
  after(async () => tmp.cleanup());

  /** Runs cronvault with JOURNAL_STREAM set to `journal` (a shell expression) and returns stderr. */
  const stderrWith = async (journal: string): Promise<string> => {
    const result = await execa(
      '/bin/sh',
      [
        '-c',
        `JOURNAL_STREAM=${journal} exec "$0" "$1" run files --config "$2"`,
        process.execPath,
        cronvaultBin,
        config,
      ],
      { reject: false, stdin: 'ignore' },
    );
    assert.equal(result.exitCode, 1, result.stderr);
    return String(result.stderr);
  };

  it('drops the timestamp when JOURNAL_STREAM names its stderr', async () => {
    const stderr = await stderrWith('"$(stat -L -c %d:%i /proc/self/fd/2)"');
    const line = stderr.split('\n').find((l) => l.includes('password file'));
    assert.match(line ?? '', /^cronvault\[files\] error: .*password file .*missing\.pass does not exist/, stderr);
  });

  it('keeps the timestamp when JOURNAL_STREAM names another stream (stderr redirected)', async () => {
    const stderr = await stderrWith('"$(stat -L -c %d:%i /proc/self/fd/0)"');
    const line = stderr.split('\n').find((l) => l.includes('password file'));
    assert.match(line ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ cronvault\[files\] error: /, stderr);
  });
});
