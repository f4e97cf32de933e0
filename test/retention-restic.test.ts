// Retention against a real restic 0.14 repository shared by two jobs and two hosts: a job only
// ever touches its own snapshots on its own host, and never more than it is allowed to.

import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { retentionVerdict } from '../src/retention/guard.ts';
import { makeTempDir, runCronvault } from './support/cli.ts';
import {
  createRepository,
  listSnapshots,
  metricValue,
  type SnapshotInfo,
  type TestRepository,
} from './support/restic.ts';

const DAY = 86_400_000;
const resticTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

/** Runs tasks a few at a time: restic backups take shared locks, so they can overlap. */
const inBatches = async <T>(items: T[], size: number, task: (item: T) => Promise<unknown>) => {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(task));
};

describe('retention with real restic', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  let data: string;
  let configFile: string;
  let untouched: SnapshotInfo[];
  const now = Date.now();

  before(async () => {
    tmp = await makeTempDir();
    repo = await createRepository(tmp.dir);
    data = join(tmp.dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'file.txt'), 'content');
    // Job A on h1: daily for three weeks, then every ten days back to 400 days ago.
    const ages = [...Array.from({ length: 21 }, (_, i) => i + 1), ...Array.from({ length: 38 }, (_, i) => 30 + i * 10)];
    const backup = (host: string, tag: string, ageDays: number) =>
      execa(
        'restic',
        [
          'backup',
          '--quiet',
          '--host',
          host,
          '--tag',
          tag,
          '--time',
          resticTime(now - ageDays * DAY - 3_600_000),
          data,
        ],
        { env: repo.env },
      );
    await inBatches(ages, 4, (age) => backup('h1', 'cronvault:jobA', age));
    // Job B on h1 and job A on h2, both old enough that A's policy would delete them.
    await inBatches([100, 200, 300], 3, (age) => backup('h1', 'cronvault:jobB', age));
    await inBatches([100, 200, 300], 3, (age) => backup('h2', 'cronvault:jobA', age));
    // The job that will fail has old snapshots its policy (1D:1h) would remove.
    const failingData = join(tmp.dir, 'failing-data');
    await mkdir(failingData);
    await inBatches([10, 20, 30], 3, (age) =>
      execa(
        'restic',
        [
          'backup',
          '--quiet',
          '--host',
          'h1',
          '--tag',
          'cronvault:failing',
          '--time',
          resticTime(now - age * DAY),
          failingData,
        ],
        { env: repo.env },
      ),
    );
    await rm(failingData, { recursive: true });
    untouched = [
      ...(await listSnapshots(repo, '--tag', 'cronvault:jobB')),
      ...(await listSnapshots(repo, '--host', 'h2')),
    ];
    assert.equal(untouched.length, 6);
    configFile = join(tmp.dir, 'config.yml');
    await writeFile(
      configFile,
      [
        `state_dir: ${join(tmp.dir, 'state')}`,
        'metrics:',
        `  textfile_dir: ${join(tmp.dir, 'text')}`,
        'defaults:',
        `  repository: ${repo.repository}`,
        `  password_file: ${repo.passwordFile}`,
        '  hostname: h1',
        'jobs:',
        '  jobA:',
        `    path: ${data}`,
        '    retention: "1W:1D,4W:1W,12M:1M"',
        '  failing:',
        `    path: ${join(tmp.dir, 'failing-data')}`,
        '    retention: "1D:1h"',
        '    retry: { attempts: 1 }',
        '',
      ].join('\n'),
    );
  });
  after(async () => tmp.cleanup());

  it("refuses to remove more than half of the job's snapshots by default, deleting nothing", async () => {
    const before = await listSnapshots(repo);
    const result = await runCronvault(['run', 'jobA', '--config', configFile]);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(
      result.stderr,
      /retention refused: retention would remove \d+ of \d+ snapshots, more than retention_max_delete \(50%\); nothing was deleted/,
    );
    const afterRun = await listSnapshots(repo);
    assert.equal(afterRun.length, before.length + 1, 'the backup was made, nothing was deleted');
    const prom = await readFile(join(tmp.dir, 'text', 'cronvault_jobA.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_run_success'), 1, 'the backup itself still counts as a success');
    assert.equal(metricValue(prom, 'backup_last_retention_success'), 0);
    assert.equal(metricValue(prom, 'backup_last_retention_removed_snapshots'), 0);
  });

  it('with --force-retention keeps one a day for a week, a week for four weeks, a month for a year, and nothing of other jobs or hosts', async () => {
    const result = await runCronvault(['run', 'jobA', '--config', configFile, '--force-retention']);
    assert.equal(result.exitCode, 0, result.stderr);
    const kept = await listSnapshots(repo, '--host', 'h1', '--tag', 'cronvault:jobA');
    const times = kept.map((s) => Date.parse(s.time)).sort((a, b) => a - b);
    const newest = times.at(-1)!;
    assert.ok(Math.abs(newest - Date.now()) < 10 * 60_000, 'the newest (this run) is kept');
    // Snapshots older than 12 months are gone; 30-day months make Duplicati's 12M 360 days.
    assert.ok(times[0]! >= newest - 366 * DAY, `oldest kept is ${new Date(times[0]!).toISOString()}`);
    const dayKey = (t: number) => new Date(t).toISOString().slice(0, 10);
    for (let age = 1; age < 7; age += 1) {
      const day = dayKey(now - age * DAY - 3_600_000);
      assert.ok(
        times.some((t) => dayKey(t) === day),
        `one backup kept for ${day}`,
      );
    }
    const monthKey = (t: number) => new Date(t).toISOString().slice(0, 7);
    for (let months = 1; months < 12; months += 1) {
      const probe = now - months * 30 * DAY;
      const month = monthKey(probe);
      assert.ok(
        times.some((t) => monthKey(t) === month),
        `one backup kept in ${month}`,
      );
    }
    const weeks = new Set(times.filter((t) => t > newest - 28 * DAY).map((t) => Math.floor((t / DAY + 3) / 7)));
    assert.ok(weeks.size >= 4, `at least one backup in each of the last four weeks (${weeks.size})`);
    assert.ok(kept.length < 40, `old intermediate backups were removed (${kept.length} left of 60)`);

    const stillThere = [
      ...(await listSnapshots(repo, '--tag', 'cronvault:jobB')),
      ...(await listSnapshots(repo, '--host', 'h2')),
    ];
    assert.deepEqual(
      stillThere.map((s) => s.id).sort(),
      untouched.map((s) => s.id).sort(),
      'job B and host h2 are untouched',
    );
    const prom = await readFile(join(tmp.dir, 'text', 'cronvault_jobA.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_retention_success'), 1);
    assert.equal(metricValue(prom, 'backup_snapshots'), kept.length);
    assert.equal(metricValue(prom, 'backup_last_retention_removed_snapshots'), 61 - kept.length);
  });

  it('runs no retention after a failed backup', async () => {
    const before = await listSnapshots(repo, '--tag', 'cronvault:failing');
    assert.equal(before.length, 3);
    const result = await runCronvault(['run', 'failing', '--config', configFile]);
    assert.equal(result.exitCode, 1);
    assert.doesNotMatch(result.stderr, /retention/);
    assert.deepEqual(
      (await listSnapshots(repo, '--tag', 'cronvault:failing')).map((s) => s.id),
      before.map((s) => s.id),
      'its old snapshots are all still there',
    );
    const prom = await readFile(join(tmp.dir, 'text', 'cronvault_failing.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_retention_success'), undefined);
  });

  it('refuses a policy that would remove every snapshot, even when forced', () => {
    const all = [{ keep: [], remove: [{}, {}, {}] }];
    for (const force of [false, true]) {
      const verdict = retentionVerdict(all, 1, force);
      assert.equal(verdict.kind, 'stop');
      assert.match(
        verdict.kind === 'stop' ? verdict.outcome.reason : '',
        /would remove all 3 snapshots of this job; nothing was deleted/,
      );
    }
    assert.equal(retentionVerdict([{ keep: [{}], remove: [{}, {}] }], 0.5, false).kind, 'stop');
    assert.equal(retentionVerdict([{ keep: [{}], remove: [{}, {}] }], 0.5, true).kind, 'proceed');
    assert.equal(retentionVerdict([{ keep: [{}, {}], remove: [{}] }], 0.5, false).kind, 'proceed');
  });
});
