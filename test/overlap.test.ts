// cron starts a job again while it still runs, and several jobs at the same minute: runs of one
// job never overlap (the others exit 75 at once), runs of different jobs do.

import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { cronvaultBin, makeTempDir, projectRoot, writeTestConfig } from './support/cli.ts';
import { createRepository, listSnapshots, type TestRepository } from './support/restic.ts';
import { waitFor } from './support/services.ts';

describe('overlapping runs', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  let config: string;
  const started = () => join(tmp.dir, 'started');
  const release = () => join(tmp.dir, 'release');
  before(async () => {
    tmp = await makeTempDir();
    repo = await createRepository(tmp.dir);
    const lines = ['jobs:'];
    for (const job of ['alpha', 'beta']) {
      await mkdir(join(tmp.dir, job));
      await writeFile(join(tmp.dir, job, 'file'), job);
      lines.push(
        `  ${job}:`,
        `    path: ${join(tmp.dir, job)}`,
        `    repository: ${repo.repository}`,
        `    password_file: ${repo.passwordFile}`,
        `    binary: ${join(projectRoot, 'test', 'fixtures', 'bin', 'restic-waiting-for-release')}`,
        '    retention: none',
      );
    }
    config = await writeTestConfig(tmp.dir, lines);
  });
  after(async () => tmp.cleanup());

  const start = (job: string) => {
    const subprocess = execa(process.execPath, [cronvaultBin, 'run', job, '--config', config], {
      reject: false,
      env: { STARTED_DIR: started(), RELEASE_FILE: release() },
    });
    const run = { exitCode: undefined as number | undefined, stderr: '', done: false };
    const finished = subprocess.then((result) =>
      Object.assign(run, { exitCode: result.exitCode, stderr: String(result.stderr), done: true }),
    );
    return { run, finished };
  };
  const reset = async () => {
    await rm(started(), { recursive: true, force: true });
    await mkdir(started());
    await rm(release(), { force: true });
  };

  it('of ten concurrent runs of one job exactly one runs its engine; the nine others exit 75', async () => {
    await reset();
    const runs = Array.from({ length: 10 }, () => start('alpha'));
    // The engine that got through waits for the release, so the others can only end by stepping aside.
    await waitFor(() => runs.filter(({ run }) => run.done).length === 9, {
      timeoutMs: 90_000,
      intervalMs: 100,
      message: 'nine runs ended while one held the lock',
    });
    assert.equal((await readdir(started())).length, 1, 'one engine started');
    const skipped = runs.filter(({ run }) => run.done);
    assert.deepEqual(
      skipped.map(({ run }) => run.exitCode),
      Array(9).fill(75),
      skipped.map(({ run }) => run.stderr).join('\n'),
    );
    for (const { run } of skipped) assert.match(run.stderr, /job alpha is already running/);
    await writeFile(release(), '');
    const holder = runs.find(({ run }) => !run.done)!;
    await holder.finished;
    assert.equal(holder.run.exitCode, 0, holder.run.stderr);
    assert.equal((await listSnapshots(repo, '--tag', 'cronvault:alpha')).length, 1);
  });

  it('runs two different jobs at the same time', async () => {
    await reset();
    const runs = [start('alpha'), start('beta')];
    // Both engines are inside their backup at once, neither able to finish before the release.
    await waitFor(async () => (await readdir(started())).length === 2, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: 'both engines running',
    });
    assert.equal(
      runs.some(({ run }) => run.done),
      false,
    );
    await writeFile(release(), '');
    await Promise.all(runs.map(({ finished }) => finished));
    assert.deepEqual(
      runs.map(({ run }) => run.exitCode),
      [0, 0],
      runs.map(({ run }) => run.stderr).join('\n'),
    );
  });
});
