// The bad-input corpus: every malformed config in test/fixtures/bad-input/ and every bad flag
// below is refused by the shipped bundle with exit 2 and one line on stderr that names the
// problem and where it is (file:line: key, or the flag), without a stack trace, and nothing is
// written: no state, no history, no metrics. Each fixture's first line says what the message
// must contain: `# expect: <fragment>`.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { createRepository, listSnapshots } from './support/restic.ts';

const FIXTURES = join(projectRoot, 'test', 'fixtures', 'bad-input');
// Listed synchronously so that each fixture is its own test.
const FIXTURE_FILES = readdirSync(FIXTURES)
  .filter((file) => file.endsWith('.yml'))
  .sort();

/** One line, starting "cronvault: " (or commander's "error: "), no stack frames, not "unexpected". */
const assertOneLineError = (stderr: string, fragment: string): void => {
  const lines = stderr.split('\n').filter((line) => line !== '');
  const errors = lines.filter((line) => /^(cronvault|error): /.test(line));
  assert.equal(errors.length, 1, `exactly one error line expected:\n${stderr}`);
  assert.ok(!/^\s+at /m.test(stderr), `no stack trace:\n${stderr}`);
  assert.ok(!/unexpected error/.test(stderr), stderr);
  assert.ok(errors[0]!.includes(fragment), `expected ${JSON.stringify(fragment)} in:\n${errors[0]}`);
  // Input is quoted at most ~100 characters: the longest fixed text plus one quote fits in 400.
  assert.ok(errors[0]!.length < 400, `message too long (${errors[0]!.length} characters)`);
};

describe('bad input corpus', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  it('holds at least 50 malformed configs, each stating the message it expects', async () => {
    assert.ok(FIXTURE_FILES.length >= 50, `${FIXTURE_FILES.length} fixtures`);
    for (const file of FIXTURE_FILES)
      assert.match((await readFile(join(FIXTURES, file), 'latin1')).split('\n')[0]!, /^# expect: \S/, file);
  });

  for (const file of FIXTURE_FILES) {
    it(`refuses ${file.replace(/\.yml$/, '')} with exit 2, a one-line message with its location, and writes nothing`, async () => {
      const bytes = await readFile(join(FIXTURES, file));
      const expect = bytes
        .toString('latin1')
        .split('\n')[0]!
        .replace(/^# expect: /, '');
      const fragment = Buffer.from(expect, 'latin1').toString('utf8');
      const dir = join(tmp.dir, file);
      await mkdir(dir);
      const state = join(dir, 'state');
      const text = join(dir, 'text');
      // Placeholders keep the fixture's line numbers and point everything cronvault could write into `dir`.
      const config = join(dir, 'config.yml');
      await writeFile(
        config,
        Buffer.from(bytes.toString('latin1').replaceAll('@STATE@', state).replaceAll('@TEXT@', text), 'latin1'),
      );
      const result = await runCronvault(['run', '--all', '--config', config]);
      assert.equal(result.exitCode, 2, result.stderr);
      assertOneLineError(result.stderr, fragment);
      assert.ok(result.stderr.includes(`${config}`), `the message names the file:\n${result.stderr}`);
      assert.deepEqual((await readdir(dir)).sort(), ['config.yml'], 'nothing written next to the config');
    });
  }

  // [title, args, expected fragment]: flags of a job without a config file.
  const FLAG_CASES: [string, string[], string][] = [
    ['an unknown flag', ['--pth', '/x'], "error: unknown option '--pth'"],
    ['an unknown engine', ['--path', '/x', '--engine', 'tar'], 'Allowed choices are restic, duplicati, borg'],
    [
      'a relative --path',
      ['--path', 'x/y', '--repository', '/r', '--password-file', '/p'],
      'command line: --path: "x/y" is a relative path',
    ],
    [
      'a --path with a trailing newline',
      ['--path', '/srv/data\n', '--repository', '/r', '--password-file', '/p'],
      'command line: --path: path "/srv/data\\n" contains a newline at character 10',
    ],
    [
      'a --path with an escape character',
      ['--path', '/srv/\u001b[2J', '--repository', '/r', '--password-file', '/p'],
      'contains an escape character',
    ],
    [
      'a --path with a trailing space',
      ['--path', '/srv/data ', '--repository', '/r', '--password-file', '/p'],
      'command line: --path: path "/srv/data " starts or ends with a space',
    ],
    [
      'a --repository with a newline',
      ['--path', '/x', '--repository', '/r\nx', '--password-file', '/p'],
      'command line: --repository: value "/r\\nx" contains a newline',
    ],
    [
      'a --password-file with a newline',
      ['--path', '/x', '--repository', '/r', '--password-file', '/p\n'],
      'command line: --password-file: path "/p\\n" contains a newline',
    ],
    [
      'a relative --password-file',
      ['--path', '/x', '--repository', '/r', '--password-file', 'p'],
      'command line: --password-file: "p" is a relative path',
    ],
    [
      '--retry-attempts that is not a number',
      ['--path', '/x', '--repository', '/r', '--password-file', '/p', '--retry-attempts', 'abc'],
      'command line: --retry-attempts: expected a whole number of at least 1, found string "abc"',
    ],
    [
      '--retry-attempts 1000000000',
      ['--path', '/x', '--repository', '/r', '--password-file', '/p', '--retry-attempts', '1000000000'],
      'command line: --retry-attempts: 1000000000 is more than the 100 attempts allowed',
    ],
    [
      '--retry-attempts 0',
      ['--path', '/x', '--repository', '/r', '--password-file', '/p', '--retry-attempts', '0'],
      'expected a whole number of at least 1, found number 0',
    ],
    [
      '--retry-min-delay in words',
      ['--path', '/x', '--repository', '/r', '--password-file', '/p', '--retry-min-delay', 'soon'],
      'command line: --retry-min-delay: "soon" is not a duration',
    ],
    [
      '--timeout over 24 days',
      ['--path', '/x', '--repository', '/r', '--password-file', '/p', '--timeout', '25d'],
      'command line: --timeout: "25d" is longer than 24 days',
    ],
    [
      '--retention with a trailing comma',
      ['--path', '/x', '--repository', '/r', '--password-file', '/p', '--retention', '1W:1D,'],
      'command line: --retention: an empty entry (a stray "," after entry 1 "1W:1D")',
    ],
    [
      '--retention of 5000 characters, quoted short',
      ['--path', '/x', '--repository', '/r', '--password-file', '/p', '--retention', `${'7'.repeat(5000)}q:1D`],
      '…" (5004 characters), character 5001: "q" is not a unit',
    ],
    [
      '--schedule out of range',
      ['--path', '/x', '--repository', '/r', '--password-file', '/p', '--schedule', '61 * * * *'],
      'command line: --schedule: schedule "61 * * * *": minute 61 is out of range 0-59',
    ],
    [
      '--pushgateway-url that is not a URL',
      ['--path', '/x', '--repository', '/r', '--password-file', '/p', '--pushgateway-url', 'gateway'],
      'command line: --pushgateway-url: expected an http:// or https:// URL',
    ],
    ['no --repository', ['--path', '/x', '--password-file', '/p'], 'needs a repository'],
    [
      'a job name and --path together',
      ['a', '--path', '/x'],
      'give a job name, --all, or --path with its flags; not more than one',
    ],
    ['--retention without --path', ['a', '--retention', 'none'], '--retention is only used with --path'],
  ];

  for (const [title, args, fragment] of FLAG_CASES) {
    it(`refuses ${title} with exit 2 and a one-line message naming the flag, writing nothing`, async () => {
      const dir = await makeTempDir();
      try {
        const state = join(dir.dir, 'state');
        const text = join(dir.dir, 'text');
        const withDirs = args.includes('--path') ? [...args, '--state-dir', state, '--textfile-dir', text] : args;
        const result = await runCronvault(['run', ...withDirs], {
          env: { CRONVAULT_CONFIG: join(dir.dir, 'absent.yml') },
        });
        assert.equal(result.exitCode, 2, result.stderr);
        assertOneLineError(result.stderr, fragment);
        assert.deepEqual(await readdir(dir.dir), [], 'nothing written');
      } finally {
        await dir.cleanup();
      }
    });
  }

  it('backs up a path with spaces, quotes and non-ASCII letters: only control characters are refused', async () => {
    const repo = await createRepository(tmp.dir, 'odd-repo');
    const source = join(tmp.dir, `données "photo's" été`);
    await mkdir(source);
    await writeFile(join(source, 'f.txt'), 'x');
    const result = await runCronvault([
      'run',
      '--path',
      source,
      '--repository',
      repo.repository,
      '--password-file',
      repo.passwordFile,
      '--retention',
      'none',
      '--state-dir',
      join(tmp.dir, 'odd-state'),
      '--textfile-dir',
      join(tmp.dir, 'odd-text'),
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    const snapshots = await listSnapshots(repo);
    assert.deepEqual(
      snapshots.map((s) => s.paths),
      [[source]],
    );
  });
});
