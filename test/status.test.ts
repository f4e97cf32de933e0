// `cronvault status` and `run --all` over a mix of outcomes: real restic for success and a
// wrong password, the duplicati test double for a warning (exit 2), and a job never run.

import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { createRepository } from './support/restic.ts';

interface JobStatusJson {
  name: string;
  outcome: string;
  healthy: boolean;
  overdue: boolean;
  problems: string[];
  lastRun: {
    start: number;
    exitCode: number | null;
    exitMeaning: string | null;
    attempts: number | null;
    success: boolean;
    warnings: boolean;
  } | null;
  lastSuccess: number | null;
  running: { pid: number } | null;
  schedule: { cron: string; source: string; nextRun: number | null };
}
interface StatusJson {
  schemaVersion: number;
  healthy: boolean;
  jobs: JobStatusJson[];
}

const fakeDuplicati = join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli');

describe('cronvault status', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let env: Record<string, string>;
  const jobsYaml: Record<string, string> = {};
  const configFor = async (name: string, jobs: string[]): Promise<string> => {
    const file = join(tmp.dir, `${name}.yml`);
    const text = [
      `state_dir: ${join(tmp.dir, 'state')}`,
      `metrics: { textfile_dir: ${join(tmp.dir, 'text')} }`,
      'defaults:',
      '  retention: none',
      '  retry: { attempts: 2, min_delay: 10ms, max_delay: 10ms }',
      'jobs:',
      ...jobs.map((job) => `  ${job}: ${jobsYaml[job]}`),
      '',
    ].join('\n');
    await writeFile(file, text);
    return file;
  };

  before(async () => {
    tmp = await makeTempDir();
    const repo = await createRepository(tmp.dir);
    const data = join(tmp.dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'file.txt'), 'some data\n');
    const wrong = join(tmp.dir, 'wrong.pass');
    await writeFile(wrong, 'not the password\n');
    await chmod(wrong, 0o600);
    const fakeState = join(tmp.dir, 'fake-duplicati');
    await mkdir(fakeState);
    env = { FAKE_DUPLICATI_CODES: '2', FAKE_DUPLICATI_STATE: fakeState };
    jobsYaml.good = `{ path: ${data}, repository: ${repo.repository}, password_file: ${repo.passwordFile}, schedule: "0 3 * * *" }`;
    jobsYaml.broken = `{ path: ${data}, repository: ${repo.repository}, password_file: ${wrong} }`;
    jobsYaml.warned = `{ engine: duplicati, path: ${data}, repository: "file://${join(tmp.dir, 'dup-target')}", password_file: ${repo.passwordFile}, binary: ${fakeDuplicati} }`;
    jobsYaml.unrun = `{ path: ${data}, repository: ${repo.repository}, password_file: ${repo.passwordFile} }`;
  });
  after(async () => tmp.cleanup());

  it('run --all runs every job even after one fails, and exits 1 because one failed', async () => {
    const config = await configFor('three', ['broken', 'good', 'warned']);
    const result = await runCronvault(['run', '--all', '-c', config], { env });
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /cronvault\[broken\] error: backup failed/);
    assert.match(result.stderr, /cronvault\[good\] info: backup succeeded/);
    assert.match(result.stderr, /cronvault\[warned\] warn: backup finished with warnings/);
  });

  it('reports success, failure, warning and never-run jobs and exits 1 because not all are healthy', async () => {
    const config = await configFor('four', ['good', 'broken', 'warned', 'unrun']);
    // cron reads schedules in local time: in Tokyo "0 3 * * *" is 18:00 UTC.
    const result = await runCronvault(['status', '--json', '-c', config], { env: { TZ: 'Asia/Tokyo' } });
    assert.equal(result.exitCode, 1, result.stderr);
    const status = JSON.parse(result.stdout) as StatusJson;
    assert.equal(status.schemaVersion, 1);
    assert.equal(status.healthy, false);
    const byName = Object.fromEntries(status.jobs.map((job) => [job.name, job]));
    assert.deepEqual(
      status.jobs.map((job) => job.name),
      ['good', 'broken', 'warned', 'unrun'],
      'one entry per job, in config order',
    );

    const good = byName.good!;
    assert.equal(good.outcome, 'success');
    assert.equal(good.healthy, true);
    assert.deepEqual(good.problems, []);
    assert.equal(good.lastRun?.exitCode, 0);
    assert.equal(good.lastRun?.exitMeaning, 'success');
    assert.equal(good.lastRun?.attempts, 1);
    assert.ok(Math.abs(good.lastSuccess! - Date.now() / 1000) < 300);
    assert.equal(good.schedule.cron, '0 3 * * *');
    assert.equal(good.schedule.source, 'config');
    assert.ok(
      good.schedule.nextRun! > Date.now() / 1000 && new Date(good.schedule.nextRun! * 1000).getUTCHours() === 18,
      'next run at 03:00 Tokyo time',
    );

    const broken = byName.broken!;
    assert.equal(broken.outcome, 'failed');
    assert.equal(broken.healthy, false);
    assert.equal(broken.lastRun?.success, false);
    assert.equal(broken.lastRun?.exitCode, 1, 'restic 0.14 exits 1 on a wrong password');
    assert.equal(broken.lastRun?.exitMeaning, 'fatal error, no snapshot');
    assert.equal(broken.lastSuccess, null);
    assert.match(broken.problems.join('\n'), /last run failed \(exit 1/);
    assert.equal(broken.schedule.source, 'default', 'no schedule: the time `cronvault cron` would install');

    const warned = byName.warned!;
    assert.equal(warned.outcome, 'warning');
    assert.equal(warned.healthy, true, 'warnings still count as a success');
    assert.equal(warned.lastRun?.exitCode, 2);
    assert.equal(warned.lastRun?.exitMeaning, 'success with warnings');

    const unrun = byName.unrun!;
    assert.equal(unrun.outcome, 'never');
    assert.equal(unrun.healthy, false);
    assert.equal(unrun.lastRun, null);
    assert.equal(unrun.lastSuccess, null);
  });

  it('marks unhealthy rows with "!" and no escape sequences when stdout is not a terminal', async () => {
    const config = await configFor('four', ['good', 'broken', 'warned', 'unrun']);
    const result = await runCronvault(['status', '-c', config], { env: { FORCE_COLOR: '1' } });
    assert.equal(result.exitCode, 1);
    assert.doesNotMatch(result.stdout, /\u001b/);
    const row = (name: string) =>
      result.stdout.split('\n').find((line) => new RegExp(`^.\\s+${name}\\s`).test(line)) ?? '';
    assert.match(row('broken'), /^!\s+broken\s+(?:just now|.*ago)\s+failed\s+.*1 fatal error, no snapshot/);
    assert.match(row('unrun'), /^!\s+unrun\s+-\s+never/);
    assert.match(row('good'), /^\s+good\s+(?:just now|.*ago)\s+success\s/);
    assert.match(row('warned'), /^\s+warned\s+.*warning\s+.*2 success with warnings/);
    assert.match(result.stdout, /! broken: last run failed/);
    assert.match(result.stdout, /2 of 4 jobs need attention/);
  });

  it('exits 0 when every job succeeded, warnings included', async () => {
    const config = await configFor('healthy', ['good', 'warned']);
    const result = await runCronvault(['status', '--json', '-c', config]);
    assert.equal(result.exitCode, 0, result.stdout);
    assert.equal((JSON.parse(result.stdout) as StatusJson).healthy, true);
    const text = await runCronvault(['status', '-c', config]);
    assert.equal(text.exitCode, 0);
    assert.match(text.stdout, /all 2 jobs healthy/);
  });

  it('a job whose last start is older than its schedule allows is overdue and unhealthy', async () => {
    const config = await configFor('healthy', ['good', 'warned']);
    const stateFile = join(tmp.dir, 'state', 'jobs', 'good.json');
    const original = await readFile(stateFile, 'utf8');
    const state = JSON.parse(original) as Record<string, number>;
    const shift = 3 * 86_400;
    for (const key of ['lastRunStart', 'lastRunEnd', 'lastSuccess']) state[key] = state[key]! - shift;
    await writeFile(stateFile, JSON.stringify(state));
    try {
      const result = await runCronvault(['status', '--json', '-c', config]);
      assert.equal(result.exitCode, 1);
      const good = (JSON.parse(result.stdout) as StatusJson).jobs.find((job) => job.name === 'good')!;
      assert.equal(good.outcome, 'success');
      assert.equal(good.overdue, true);
      assert.equal(good.healthy, false);
      assert.match(good.problems.join('\n'), /overdue: last started 3 d ago/);
      const text = await runCronvault(['status', '-c', config]);
      assert.match(text.stdout, /^!\s+good\s+3 d ago\s+success, overdue/m);
    } finally {
      await writeFile(stateFile, original);
    }
  });

  it('a job whose backups succeed while its retention fails or is refused is unhealthy', async () => {
    const config = await configFor('healthy', ['good', 'warned']);
    const stateFile = join(tmp.dir, 'state', 'jobs', 'good.json');
    const original = await readFile(stateFile, 'utf8');
    try {
      for (const [exitCode, words] of [
        [-1, /last retention refused or failed before running/],
        [1, /last retention failed \(exit 1: /],
      ] as const) {
        const state = { ...JSON.parse(original), retentionSuccess: false, retentionExitCode: exitCode };
        await writeFile(stateFile, JSON.stringify(state));
        const result = await runCronvault(['status', '--json', '-c', config]);
        assert.equal(result.exitCode, 1);
        const good = (JSON.parse(result.stdout) as StatusJson).jobs.find((job) => job.name === 'good')!;
        assert.equal(good.outcome, 'success', 'the backup itself succeeded');
        assert.equal(good.healthy, false);
        assert.match(good.problems.join('\n'), words);
      }
    } finally {
      await writeFile(stateFile, original);
    }
  });

  it('shows a job whose lock is held by a live process as running', async () => {
    const config = await configFor('healthy', ['good', 'warned']);
    const locks = join(tmp.dir, 'state', 'locks');
    await mkdir(locks, { recursive: true });
    const lock = join(locks, 'good.lock');
    await writeFile(lock, JSON.stringify({ pid: process.pid, since: new Date().toISOString() }));
    try {
      const result = await runCronvault(['status', '--json', '-c', config]);
      const good = (JSON.parse(result.stdout) as StatusJson).jobs.find((job) => job.name === 'good')!;
      assert.equal(good.outcome, 'running');
      assert.equal(good.running?.pid, process.pid);
      assert.equal(good.healthy, true, 'running after a successful run is healthy');
      assert.equal(result.exitCode, 0);
    } finally {
      const { rm } = await import('node:fs/promises');
      await rm(lock, { force: true });
    }
  });

  it('exits 2 naming the file when the config is invalid', async () => {
    const file = join(tmp.dir, 'bad.yml');
    await writeFile(file, 'jobs:\n  x: { path: relative }\n');
    const result = await runCronvault(['status', '-c', file]);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /bad\.yml:2/);
  });
});
