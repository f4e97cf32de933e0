// A remote repository (rclone serve restic on 127.0.0.1) that goes away: stopped in the middle
// of an upload and brought back, retries finish the backup with exactly one new snapshot; one
// that stays down ends in a failure after the configured attempts, with the cause in words.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { makeTempDir, runCronvault } from './support/cli.ts';
import { listSnapshots, metricValue, readJobProm } from './support/restic.ts';
import { freePort, waitFor } from './support/services.ts';

describe('remote repository outages', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let port: number;
  let server: ResultPromise | undefined;
  let repo: { env: Record<string, string>; repository: string; passwordFile: string };
  const served = () => join(tmp.dir, 'served');

  const start = async () => {
    server = execa('rclone', ['serve', 'restic', '--addr', `127.0.0.1:${port}`, served()], { reject: false });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`)).status > 0, {
      message: 'rclone serve restic up',
    });
  };
  const stop = async () => {
    server?.kill('SIGKILL');
    await server;
    server = undefined;
  };
  const args = (data: string, dirs: { text: string; state: string }, attempts: string) => [
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
    dirs.text,
    '--state-dir',
    dirs.state,
    '--retry-attempts',
    attempts,
    '--retry-min-delay',
    '1s',
    '--retry-max-delay',
    '2s',
  ];

  before(async () => {
    tmp = await makeTempDir();
    port = await freePort();
    await mkdir(served());
    await start();
    const passwordFile = join(tmp.dir, 'rest.pass');
    await writeFile(passwordFile, 'rest password\n', { mode: 0o600 });
    const repository = `rest:http://127.0.0.1:${port}/`;
    repo = { repository, passwordFile, env: { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD_FILE: passwordFile } };
    await execa('restic', ['init'], { env: repo.env });
  });
  after(async () => {
    await stop();
    await tmp.cleanup();
  });

  it('finishes with exactly one new snapshot when the server dies mid-upload and comes back', async () => {
    const data = join(tmp.dir, 'big');
    await mkdir(data);
    // Random, so nothing deduplicates: the upload takes long enough to be cut.
    for (let i = 0; i < 12; i += 1) await writeFile(join(data, `blob${i}`), randomBytes(4 * 1024 * 1024));
    const dirs = { text: join(tmp.dir, 'mid-text'), state: join(tmp.dir, 'mid-state') };
    const run = runCronvault(args(data, dirs, '20'));
    // Cut the connection as soon as the first pack file has arrived on the server.
    await waitFor(
      async () =>
        (await readdir(join(served(), 'data'), { recursive: true })).some((f) => /[0-9a-f]{64}$/.test(String(f))),
      {
        intervalMs: 20,
        message: 'upload started',
      },
    );
    await stop();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await start();
    const result = await run;
    assert.equal(result.exitCode, 0, result.stderr);
    const prom = await readJobProm(dirs.text);
    // restic's REST backend retries a dropped connection itself, so a short outage is often
    // bridged inside one attempt; a longer one ends the attempt and cronvault's retries take over
    // (test/backup-restic.test.ts). Either way: one run, one snapshot.
    assert.ok(metricValue(prom, 'backup_last_run_attempts')! >= 1);
    assert.equal(metricValue(prom, 'backup_last_run_success'), 1);
    assert.equal((await listSnapshots(repo, '--path', data)).length, 1, 'the cut attempt left no snapshot of its own');
  });

  it('fails after the configured attempts, with the cause in words, when the server stays down', async () => {
    const data = join(tmp.dir, 'small');
    await mkdir(data);
    await writeFile(join(data, 'f'), 'over the network');
    const dirs = { text: join(tmp.dir, 'down-text'), state: join(tmp.dir, 'down-state') };
    assert.equal((await runCronvault(args(data, dirs, '1'))).exitCode, 0);
    const lastSuccess = metricValue(await readJobProm(dirs.text), 'backup_last_success_timestamp_seconds');
    await stop();
    try {
      const result = await runCronvault(args(data, dirs, '3'));
      assert.equal(result.exitCode, 1);
      assert.match(result.stderr, /backup failed after 3 attempts.*repository server unreachable/);
      const prom = await readJobProm(dirs.text);
      assert.equal(metricValue(prom, 'backup_last_run_attempts'), 3);
      assert.equal(metricValue(prom, 'backup_last_run_success'), 0);
      assert.equal(metricValue(prom, 'backup_running'), 0);
      assert.equal(metricValue(prom, 'backup_last_success_timestamp_seconds'), lastSuccess, 'the last success is kept');
    } finally {
      await start();
    }
    assert.equal((await listSnapshots(repo, '--path', data)).length, 1, 'no snapshot from the failed run');
  });
});
