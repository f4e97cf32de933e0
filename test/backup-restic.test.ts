// `cronvault run` against the real Debian restic: what operators get from cron.

import assert from 'node:assert/strict';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { makeTempDir, runCronvault, runCronvaultAsNobody, startCronvault } from './support/cli.ts';
import {
  createRepository,
  listSnapshots,
  metricValue,
  readJobProm,
  restic,
  type TestRepository,
} from './support/restic.ts';
import { freePort, waitFor } from './support/services.ts';

const runFlags = (repo: TestRepository, data: string, dirs: { text: string; state: string }, extra: string[] = []) => [
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
  ...extra,
];

describe('cronvault run with real restic', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  it('makes a first and an incremental backup whose metrics match restic snapshots and stats', async () => {
    const repo = await createRepository(tmp.dir, 'first');
    const data = join(tmp.dir, 'first-data');
    const dirs = { text: join(tmp.dir, 'first-text'), state: join(tmp.dir, 'first-state') };
    await mkdir(join(data, 'sub'), { recursive: true });
    await writeFile(join(data, 'a.txt'), 'alpha\n');
    await writeFile(join(data, 'sub', 'b.bin'), Buffer.alloc(50_000, 7));

    const first = await runCronvault(runFlags(repo, data, dirs));
    assert.equal(first.exitCode, 0, first.stderr);
    const promFile = join(dirs.text, `cronvault_${data.slice(1).replace(/[^A-Za-z0-9_.-]+/g, '_')}.prom`);
    const firstProm = await readFile(promFile, 'utf8');
    assert.equal(metricValue(firstProm, 'backup_last_run_success'), 1);
    assert.equal(metricValue(firstProm, 'backup_last_files_new'), 2);
    assert.equal(metricValue(firstProm, 'backup_running'), 0);
    assert.equal(metricValue(firstProm, 'backup_last_run_attempts'), 1);
    const firstSuccess = metricValue(firstProm, 'backup_last_success_timestamp_seconds')!;
    assert.ok(Math.abs(firstSuccess - Date.now() / 1000) < 120, 'success time is now');

    await writeFile(join(data, 'a.txt'), 'alpha, changed\n');
    await writeFile(join(data, 'c.txt'), 'gamma\n');
    const second = await runCronvault(runFlags(repo, data, dirs));
    assert.equal(second.exitCode, 0, second.stderr);
    const prom = await readFile(promFile, 'utf8');
    assert.equal(metricValue(prom, 'backup_last_files_new'), 1);
    assert.equal(metricValue(prom, 'backup_last_files_changed'), 1);

    const snapshots = await listSnapshots(repo);
    assert.equal(snapshots.length, 2);
    const latest = snapshots.at(-1)!;
    assert.ok(
      latest.tags?.includes(`cronvault:${promFile.split('cronvault_')[1]!.replace('.prom', '')}`),
      'snapshot carries the job tag',
    );
    const stats = JSON.parse(await restic(repo, ['stats', '--json', latest.id])) as { total_size: number };
    assert.equal(metricValue(prom, 'backup_last_processed_bytes'), stats.total_size);
    // stats' total_file_count also counts directories; restic ls lists the files themselves.
    const nodes = (await restic(repo, ['ls', '--json', latest.id]))
      .split('\n')
      .map((line) => JSON.parse(line) as { type?: string; struct_type?: string });
    const files = nodes.filter((node) => node.struct_type === 'node' && node.type === 'file').length;
    assert.equal(files, 3);
    assert.equal(metricValue(prom, 'backup_last_files_processed'), files);
    assert.ok(
      second.stderr.includes(`snapshot ${latest.short_id}`),
      `summary names snapshot ${latest.short_id}: ${second.stderr}`,
    );

    const promtool = await execa('promtool', ['check', 'metrics'], { input: prom, reject: false });
    assert.equal(promtool.exitCode, 0, `${promtool.stdout}${promtool.stderr}`);
  });

  it('stops after one attempt on a wrong password and keeps the last success time', async () => {
    const repo = await createRepository(tmp.dir, 'pw');
    const data = join(tmp.dir, 'pw-data');
    await mkdir(data);
    await writeFile(join(data, 'x'), 'x');
    const dirs = { text: join(tmp.dir, 'pw-text'), state: join(tmp.dir, 'pw-state') };
    assert.equal((await runCronvault(runFlags(repo, data, dirs))).exitCode, 0);
    const before = metricValue(await readJobProm(dirs.text), 'backup_last_success_timestamp_seconds');

    const wrong = join(tmp.dir, 'wrong.pass');
    await writeFile(wrong, 'not the password\n');
    await chmod(wrong, 0o600);
    const started = Date.now();
    const result = await runCronvault(
      runFlags({ ...repo, passwordFile: wrong }, data, dirs, ['--retry-min-delay', '5s', '--retry-max-delay', '5s']),
    );
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /wrong password; not retrying/);
    assert.ok(Date.now() - started < 5000, 'no retry wait happened');
    const prom = await readJobProm(dirs.text);
    assert.equal(metricValue(prom, 'backup_last_run_success'), 0);
    assert.equal(metricValue(prom, 'backup_last_run_attempts'), 1);
    assert.equal(metricValue(prom, 'backup_last_exit_code'), 1);
    assert.equal(metricValue(prom, 'backup_last_success_timestamp_seconds'), before);
    assert.ok(!result.stderr.includes('not the password'));
  });

  it('retries while the rest server is down and succeeds once it is back', async () => {
    const port = await freePort();
    const served = join(tmp.dir, 'served');
    await mkdir(served);
    const serve = () => execa('rclone', ['serve', 'restic', '--addr', `127.0.0.1:${port}`, served], { reject: false });
    const waitUp = () =>
      waitFor(() => fetch(`http://127.0.0.1:${port}/`).then(() => true), {
        intervalMs: 100,
        message: 'rclone serve restic did not start',
      });
    let server = serve();
    await waitUp();
    const passwordFile = join(tmp.dir, 'rest.pass');
    await writeFile(passwordFile, 'rest password\n');
    await chmod(passwordFile, 0o600);
    const repository = `rest:http://127.0.0.1:${port}/`;
    await execa('restic', ['init'], { env: { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD_FILE: passwordFile } });
    server.kill();
    await server;

    const data = join(tmp.dir, 'rest-data');
    await mkdir(data);
    await writeFile(join(data, 'f'), 'over the network');
    const dirs = { text: join(tmp.dir, 'rest-text'), state: join(tmp.dir, 'rest-state') };
    const run = startCronvault(
      runFlags({ repository, passwordFile, env: {} }, data, dirs, [
        '--retry-min-delay',
        '1s',
        '--retry-max-delay',
        '1s',
        '--retry-attempts',
        '20',
      ]),
    );
    // The server comes back once an attempt has failed against it and the run waits to retry.
    await waitFor(() => /attempt 2\/20 in /.test(run.stderrSoFar()), {
      timeoutMs: 120_000,
      message: 'a retry after the first attempt failed',
    });
    server = serve();
    try {
      const result = await run.done;
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stderr, /repository server unreachable/);
      const prom = await readJobProm(dirs.text);
      assert.ok(metricValue(prom, 'backup_last_run_attempts')! > 1, 'more than one attempt');
      assert.equal(metricValue(prom, 'backup_last_run_success'), 1);
      const snapshots = await listSnapshots({
        env: { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD_FILE: passwordFile },
      });
      assert.equal(snapshots.length, 1, 'retries made exactly one snapshot');
    } finally {
      server.kill();
      await server;
    }
  });

  it('counts an unreadable file as success with warnings (restic exit 3)', async () => {
    // Root reads everything, so this run is made as an unprivileged user.
    const base = join(tmp.dir, 'nobody');
    await mkdir(base);
    await chmod(tmp.dir, 0o755);
    const repo = await createRepository(base, 'repo');
    const data = join(base, 'data');
    await mkdir(data);
    await writeFile(join(data, 'readable.txt'), 'fine');
    await writeFile(join(data, 'secret.db'), 'locked away');
    await execa('chown', ['-R', 'nobody:nogroup', base]);
    await chmod(join(data, 'secret.db'), 0o000);
    await chown(join(data, 'secret.db'), 0, 0);
    const dirs = { text: join(base, 'text'), state: join(base, 'state') };
    const result = await runCronvaultAsNobody(base, runFlags(repo, data, dirs), {
      env: { HOME: base, XDG_CACHE_HOME: join(base, 'cache') },
    });
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.match(String(result.stderr), /finished with warnings/);
    const prom = await readJobProm(dirs.text);
    assert.equal(metricValue(prom, 'backup_last_exit_code'), 3);
    assert.equal(metricValue(prom, 'backup_last_run_success'), 1);
    assert.equal(metricValue(prom, 'backup_last_run_warnings'), 1);
  });

  it('fails at once, without retries, when the path does not exist', async () => {
    const repo = await createRepository(tmp.dir, 'missing');
    const dirs = { text: join(tmp.dir, 'missing-text'), state: join(tmp.dir, 'missing-state') };
    const result = await runCronvault(
      runFlags(repo, join(tmp.dir, 'no-such-dir'), dirs, ['--retry-min-delay', '5s', '--retry-max-delay', '5s']),
    );
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /does not exist; not retrying/);
  });

  it('records a failed run when the password file is missing, before restic starts', async () => {
    const dirs = { text: join(tmp.dir, 'nopw-text'), state: join(tmp.dir, 'nopw-state') };
    const data = join(tmp.dir, 'first-data');
    const result = await runCronvault(
      runFlags({ repository: join(tmp.dir, 'first'), passwordFile: join(tmp.dir, 'nope.pass'), env: {} }, data, dirs),
    );
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /password file .*nope\.pass does not exist/);
    const prom = await readJobProm(dirs.text);
    assert.equal(metricValue(prom, 'backup_last_run_success'), 0);
    assert.equal(metricValue(prom, 'backup_last_exit_code'), -1);
    assert.equal(metricValue(prom, 'backup_last_run_attempts'), 0);
    assert.equal(metricValue(prom, 'backup_last_success_timestamp_seconds'), 0);
  });
});
