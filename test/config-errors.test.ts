// Broken configs are refused before anything runs, with the file, line and key in the message
// and exit code 2, so a cron mail alone tells the operator what to fix.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, runCronvault } from './support/cli.ts';

const base = (
  job: string,
  defaults = '  repository: /srv/restic\n  password_file: /etc/cronvault/repo.pass\n  retention: none\n',
) => `state_dir: /tmp/cv-state\ndefaults:\n${defaults}jobs:\n${job}`;

// [title, config text, expected message fragment (regex)]
const CASES: [string, string, RegExp][] = [
  [
    'an unknown top-level key, with a suggestion',
    `state_dri: /x\njobs:\n  a: { path: /a }\n`,
    /config\.yml:1: state_dri: unknown key "state_dri" \(did you mean "state_dir"\?\)/,
  ],
  [
    'an unknown job key, with a suggestion',
    base('  influxdb:\n    path: /var/lib/influxdb\n    shedule: "0 2 * * *"\n'),
    /config\.yml:9: jobs\.influxdb\.shedule: unknown key "shedule" \(did you mean "schedule"\?\)/,
  ],
  [
    'a relative path',
    base('  influxdb:\n    path: var/lib/influxdb\n'),
    /config\.yml:8: jobs\.influxdb\.path: "var\/lib\/influxdb" is a relative path/,
  ],
  [
    'a job with neither path nor command',
    base('  influxdb:\n    schedule: "0 2 * * *"\n'),
    /config\.yml:7: jobs\.influxdb: needs "path" .* or "command"/,
  ],
  [
    'a job with both path and command',
    base('  db:\n    path: /a\n    command: pg_dump x\n'),
    /jobs\.db: give either "path" or "command", not both/,
  ],
  [
    'no password source anywhere',
    base('  a:\n    path: /a\n', '  repository: /srv/restic\n'),
    /config\.yml:5: jobs\.a: needs a password source: set "password_file" or "password_command" in the job or in defaults/,
  ],
  [
    'no repository anywhere',
    base('  a:\n    path: /a\n', '  password_file: /etc/p\n'),
    /config\.yml:5: jobs\.a: needs a repository \(a restic repository such as \/srv\/restic .*\): set "repository" in the job or in defaults/,
  ],
  [
    'an unknown engine, with a suggestion',
    base('  a:\n    path: /a\n    engine: restik\n'),
    /config\.yml:9: jobs\.a\.engine: unknown engine "restik": use restic, duplicati or borg \(did you mean "restic"\?\)/,
  ],
  [
    'a bad retry delay',
    base('  a:\n    path: /a\n    retry: { attempts: 3, min_delay: 5 minutes }\n'),
    /config\.yml:9: jobs\.a\.retry\.min_delay: "5 minutes" is not a duration/,
  ],
  [
    'zero attempts',
    base('  a:\n    path: /a\n    retry: { attempts: 0 }\n'),
    /jobs\.a\.retry\.attempts: expected a whole number of at least 1, found number 0/,
  ],
  [
    'min_delay longer than max_delay',
    base('  a:\n    path: /a\n    retry: { min_delay: 2m, max_delay: 10s }\n'),
    /min_delay \(120s\) is longer than max_delay \(10s\)/,
  ],
  [
    'a wrong type for exclude',
    base('  a:\n    path: /a\n    exclude: "*.tmp"\n'),
    /config\.yml:9: jobs\.a\.exclude: expected a list of strings, found string "\*\.tmp"/,
  ],
  [
    'an invalid cron schedule',
    base('  a:\n    path: /a\n    schedule: "0 25 * * *"\n'),
    /config\.yml:9: jobs\.a\.schedule: schedule "0 25 \* \* \*": hour 25 is out of range 0-23/,
  ],
  [
    'an invalid retention string, with the fix',
    base('  a:\n    path: /a\n    retention: "7d:1D"\n'),
    /config\.yml:9: jobs\.a\.retention: .*did you mean "7D"/,
  ],
  [
    'a bad job name',
    base('  "bad name!":\n    path: /a\n'),
    /config\.yml:7: jobs\.bad name!: job name "bad name!" is not allowed/,
  ],
  [
    'the reserved job name "jobs"',
    base('  jobs:\n    path: /a\n'),
    /config\.yml:7: jobs\.jobs: job name "jobs" is reserved/,
  ],
  ['broken YAML', 'jobs:\n  a: { path: /a\n', /config\.yml:\d+:\d+: not valid YAML/],
  ['no jobs at all', 'state_dir: /var/lib/cronvault\n', /needs a "jobs:" mapping with at least one job/],
  [
    'a relative password file in defaults',
    base('  a:\n    path: /a\n', '  repository: /r\n  password_file: repo.pass\n'),
    /config\.yml:4: defaults\.password_file: "repo\.pass" is a relative path/,
  ],
  [
    'an env with a bad variable name',
    base('  a:\n    path: /a\n    env: { "AWS-KEY": x }\n'),
    /jobs\.a\.env\.AWS-KEY: "AWS-KEY" is not a valid environment variable name/,
  ],
  ['a duplicate key', base('  a:\n    path: /a\n    path: /b\n'), /not valid YAML: Map keys must be unique/],
  [
    'a command job on duplicati',
    base('  a:\n    command: pg_dump x\n    engine: duplicati\n'),
    /"command" jobs need the restic or borg engine/,
  ],
  [
    'a retention borg cannot apply',
    base('  a:\n    path: /a\n    engine: borg\n    retention: "1W:3D"\n'),
    /retention: rule 1W:3D: borg cannot keep one backup every 3 days/,
  ],
];

describe('config validation', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  for (const [title, text, expected] of CASES) {
    it(`refuses ${title} with exit 2`, async () => {
      const file = join(tmp.dir, 'config.yml');
      await writeFile(file, text);
      const result = await runCronvault(['run', 'a', '--config', file]);
      assert.equal(result.exitCode, 2, result.stderr);
      assert.match(result.stderr, expected);
    });
  }

  it('names a missing config file and how to choose another', async () => {
    const result = await runCronvault(['run', 'a', '--config', join(tmp.dir, 'absent.yml')]);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /absent\.yml does not exist \(choose one with -c\/--config or CRONVAULT_CONFIG/);
  });

  it('suggests the closest job name for an unknown job', async () => {
    const file = join(tmp.dir, 'ok.yml');
    await writeFile(file, base('  influxdb:\n    path: /a\n'));
    const result = await runCronvault(['run', 'influxbd', '--config', file]);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /no job "influxbd" in .*ok\.yml \(did you mean "influxdb"\?\)/);
  });

  it('rejects unknown flags and bad flag values with exit 2', async () => {
    assert.equal((await runCronvault(['run', '--pth', '/x'])).exitCode, 2);
    const badEngine = await runCronvault(['run', '--path', '/x', '--engine', 'tar']);
    assert.equal(badEngine.exitCode, 2);
    assert.match(badEngine.stderr, /Allowed choices are restic, duplicati, borg/);
    const relative = await runCronvault(['run', '--path', 'x/y', '--repository', '/r', '--password-file', '/p']);
    assert.equal(relative.exitCode, 2);
    assert.match(relative.stderr, /command line: --path: "x\/y" is a relative path/);
    const attempts = await runCronvault([
      'run',
      '--path',
      '/x',
      '--repository',
      '/r',
      '--password-file',
      '/p',
      '--retry-attempts',
      'abc',
    ]);
    assert.equal(attempts.exitCode, 2);
    assert.match(
      attempts.stderr,
      /command line: --retry-attempts: expected a whole number of at least 1, found string "abc"/,
    );
    const noRepo = await runCronvault(['run', '--path', '/x', '--password-file', '/p']);
    assert.equal(noRepo.exitCode, 2);
    assert.match(noRepo.stderr, /needs a repository .*: set --repository$/m);
  });

  it('warns when a job has no retention instead of silently keeping everything', async () => {
    const file = join(tmp.dir, 'noret.yml');
    await writeFile(
      file,
      'defaults:\n  repository: /nonexistent/repo\n  password_file: /nonexistent/p\njobs:\n  a:\n    path: /a\n',
    );
    const result = await runCronvault(['check', '--config', file]);
    assert.match(result.stdout, /no retention set, so nothing will ever be deleted/);
  });
});
