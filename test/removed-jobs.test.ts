// A job removed from the config on purpose takes its metrics file and state with it, so its old
// series cannot raise BackupNotRun; files of jobs run by flags only, and of running jobs, stay.

import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, projectRoot, runCronvault, writeTestConfig } from './support/cli.ts';

const fakeDuplicati = join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli');

describe('jobs removed from the config', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let env: Record<string, string>;
  const config = (jobs: string[]) =>
    writeTestConfig(tmp.dir, [
      'defaults:',
      '  engine: duplicati',
      '  repository: file:///mnt/backup',
      `  password_file: ${join(tmp.dir, 'pass')}`,
      '  retention: none',
      `  binary: ${fakeDuplicati}`,
      'jobs:',
      ...jobs.map((job) => `  ${job}: { path: ${join(tmp.dir, 'data')} }`),
    ]);
  const text = () => join(tmp.dir, 'text');
  const state = () => join(tmp.dir, 'state', 'jobs');

  before(async () => {
    tmp = await makeTempDir();
    await mkdir(join(tmp.dir, 'data'));
    await mkdir(join(tmp.dir, 'fake'));
    await writeFile(join(tmp.dir, 'pass'), 'secret\n', { mode: 0o600 });
    env = { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: join(tmp.dir, 'fake') };
  });
  after(async () => {
    await tmp.cleanup();
  });

  it('removes the .prom file and state of a job no longer declared, says so, and keeps the others', async () => {
    const file = await config(['photos', 'mail', 'etc']);
    assert.equal((await runCronvault(['run', '--all', '--quiet', '--config', file], { env })).exitCode, 0);
    // A job run by flags alone writes into the same textfile directory; it was never declared.
    const flagRun = await runCronvault(
      [
        'run',
        '--path',
        join(tmp.dir, 'data'),
        '--engine',
        'duplicati',
        '--repository',
        'file:///mnt/x',
        '--password-file',
        join(tmp.dir, 'pass'),
        '--retention',
        'none',
        '--binary',
        fakeDuplicati,
        '--textfile-dir',
        text(),
        '--state-dir',
        join(tmp.dir, 'state'),
        '--quiet',
      ],
      { env },
    );
    assert.equal(flagRun.exitCode, 0, flagRun.stderr);
    const before = (await readdir(text())).sort();
    assert.equal(before.length, 5, before.join(' '));

    await config(['photos']);
    const result = await runCronvault(['run', 'photos', '--config', file], { env });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(
      result.stderr,
      /job mail is no longer declared in .*config\.yml: removed .*cronvault_mail\.prom, .*mail\.json/,
    );
    assert.match(result.stderr, /job etc is no longer declared/);
    const after = (await readdir(text())).sort();
    assert.deepEqual(
      after,
      before.filter((f) => f !== 'cronvault_mail.prom' && f !== 'cronvault_etc.prom'),
    );
    assert.deepEqual(
      (await readdir(state())).filter((f) => f === 'mail.json' || f === 'etc.json'),
      [],
    );
    const locks = await readdir(join(tmp.dir, 'state', 'locks'));
    assert.ok(locks.includes('photos.flock'), 'a declared job keeps its kernel lock file');
    assert.deepEqual(
      locks.filter((f) => f.startsWith('mail.') || f.startsWith('etc.')),
      [],
      'no lock files of removed jobs',
    );

    const again = await runCronvault(['cleanup', '--config', file], { env });
    assert.equal(again.exitCode, 0);
    assert.match(again.stderr, /nothing removed/);
  });

  it('leaves a removed job alone while a run of it holds its lock, and removes it once the lock is gone', async () => {
    const file = await config(['photos', 'busy']);
    assert.equal((await runCronvault(['run', '--all', '--quiet', '--config', file], { env })).exitCode, 0);
    await mkdir(join(tmp.dir, 'state', 'locks'), { recursive: true });
    // The test runner itself stands for the running cronvault: its pid is alive.
    await writeFile(
      join(tmp.dir, 'state', 'locks', 'busy.lock'),
      JSON.stringify({ pid: process.pid, since: new Date().toISOString() }),
    );
    await config(['photos']);
    const busy = await runCronvault(['cleanup', '--config', file]);
    assert.match(busy.stderr, /job busy is no longer declared .* still in progress/);
    assert.ok((await readdir(text())).includes('cronvault_busy.prom'));

    await writeFile(
      join(tmp.dir, 'state', 'locks', 'busy.lock'),
      JSON.stringify({ pid: 2 ** 22 + 1, since: new Date().toISOString() }),
    );
    const later = await runCronvault(['cleanup', '--config', file]);
    assert.match(later.stderr, /job busy is no longer declared .*: removed .*cronvault_busy\.prom/);
    assert.ok(!(await readdir(text())).includes('cronvault_busy.prom'));
  });

  it('never removes the jobs of another config sharing the state and textfile directories', async () => {
    const other = await writeTestConfig(
      tmp.dir,
      [
        'defaults:',
        '  engine: duplicati',
        '  repository: file:///mnt/backup',
        `  password_file: ${join(tmp.dir, 'pass')}`,
        '  retention: none',
        `  binary: ${fakeDuplicati}`,
        'jobs:',
        `  other: { path: ${join(tmp.dir, 'data')} }`,
      ],
      'other.yml',
    );
    const file = await config(['photos']);
    assert.equal((await runCronvault(['run', 'photos', '--config', file], { env })).exitCode, 0);
    const result = await runCronvault(['run', 'other', '--config', other], { env });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /no longer declared/);
    assert.ok((await readdir(text())).includes('cronvault_photos.prom'), "the first config's job keeps its file");
    const again = await runCronvault(['run', 'photos', '--config', file], { env });
    assert.doesNotMatch(again.stderr, /no longer declared/);
    assert.ok((await readdir(text())).includes('cronvault_other.prom'), "the second config's job keeps its file");
  });

  it('lets a job named in the config change its path, saying so, and keeps refusing a derived name that collides', async () => {
    await mkdir(join(tmp.dir, 'data2'), { recursive: true });
    const file = await config(['moving']);
    assert.equal((await runCronvault(['run', 'moving', '--config', file], { env })).exitCode, 0);
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace(
        `moving: { path: ${join(tmp.dir, 'data')} }`,
        `moving: { path: ${join(tmp.dir, 'data2')} }`,
      ),
    );
    const moved = await runCronvault(['run', 'moving', '--config', file], { env });
    assert.equal(moved.exitCode, 0, moved.stderr);
    assert.match(moved.stderr, /job moving now backs up .*data2 \(was .*data\)/);
  });
});
