// `cronvault run --dry-run` says what a run would do (the engine's argv, restic's own dry-run
// summary, the snapshots retention would remove) and changes nothing at all: no metrics, no
// state, no history, no lock left behind, not one byte of the repository.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { makeTempDir, projectRoot, runCronvault, writeTestConfig } from './support/cli.ts';
import { createRepository, listSnapshots, type TestRepository } from './support/restic.ts';

/** Every file and directory under dir, with a hash of each file's bytes; {} when dir is absent. */
const fingerprint = async (dir: string): Promise<Record<string, string>> => {
  const out: Record<string, string> = {};
  const walk = async (current: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const full = join(current, entry.name);
      const key = relative(dir, full);
      if (entry.isDirectory()) {
        out[`${key}/`] = 'dir';
        await walk(full);
      } else
        out[key] = `${(await stat(full)).size}:${createHash('sha256')
          .update(await readFile(full))
          .digest('hex')}`;
    }
  };
  await walk(dir);
  return out;
};

describe('cronvault run --dry-run', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  let config: string;
  let data: string;
  // A day two days ago in local time: restic reads --time, and prints snapshot times, in local time.
  const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
  const oldDay = [twoDaysAgo.getFullYear(), twoDaysAgo.getMonth() + 1, twoDaysAgo.getDate()]
    .map((n) => String(n).padStart(2, '0'))
    .join('-');
  const watched = () => ({ state: join(tmp.dir, 'state'), text: join(tmp.dir, 'text'), repo: repo.repository });
  const snapshot = async (): Promise<Record<string, Record<string, string>>> => {
    const dirs = watched();
    return {
      state: await fingerprint(dirs.state),
      text: await fingerprint(dirs.text),
      repo: await fingerprint(dirs.repo),
    };
  };

  before(async () => {
    tmp = await makeTempDir('cronvault-dry-');
    repo = await createRepository(tmp.dir);
    data = join(tmp.dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'a.txt'), 'first\n');
    config = await writeTestConfig(tmp.dir, [
      'jobs:',
      '  alpha:',
      `    path: ${data}`,
      `    repository: ${repo.repository}`,
      `    password_file: ${repo.passwordFile}`,
      // One a day for a week: of three snapshots on one old day, two go.
      '    retention: "1W:1D"',
      '    retention_max_delete: 0.9',
      '  files:',
      '    engine: duplicati',
      `    binary: ${join(projectRoot, 'test/fixtures/bin/duplicati-cli')}`,
      `    path: ${data}`,
      '    repository: "ftp://backup:s3cret-pw@127.0.0.1/target?auth-password=tok3n"',
      `    password_file: ${repo.passwordFile}`,
      '    retention: "1W:1D"',
    ]);
    // One real run: state, history and metrics exist, so "unchanged" means something.
    const first = await runCronvault(['run', 'alpha', '-c', config, '-q']);
    assert.equal(first.exitCode, 0, first.stderr);
    // Three more of the job's snapshots on one day two days ago (same host, tag and path).
    for (const time of ['10:00:00', '12:00:00', '14:00:00']) {
      await execa(
        'restic',
        [
          'backup',
          '--quiet',
          '--host',
          hostname(),
          '--tag',
          'cronvault:alpha',
          '--time',
          `${oldDay} ${time}`,
          '--',
          data,
        ],
        { env: repo.env },
      );
    }
    await writeFile(join(data, 'b.txt'), 'new since the last backup\n');
  });
  after(async () => tmp.cleanup());

  it('says what would be added and removed, and leaves metrics, state, history and the repository byte for byte unchanged', async () => {
    const beforeRun = await snapshot();
    assert.ok(
      Object.keys(beforeRun.state!).some((f) => f.includes('history')),
      'the real run wrote a history',
    );
    assert.ok(Object.keys(beforeRun.text!).length > 0, 'the real run wrote metrics');
    const snapshotsBefore = await listSnapshots(repo);
    const result = await runCronvault(['run', 'alpha', '--dry-run', '-c', config]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /would run: {3}restic backup --json --host \S+ --tag cronvault:alpha -- /);
    assert.match(
      result.stdout,
      /backup: {6}would add 1 new file, \d+ changed, [\d.]+ \S+ added to the repository \(of 2 files/,
    );
    // By day and hour: the real run's own snapshot may have been taken at 10:xx or 12:xx today.
    const oldest = snapshotsBefore
      .filter((s) => s.time.startsWith(`${oldDay}T10:`) || s.time.startsWith(`${oldDay}T12:`))
      .map((s) => s.short_id)
      .sort();
    const removed = /would remove 2 snapshots \(([0-9a-f]{8}), ([0-9a-f]{8})\), keep 2/.exec(result.stdout);
    assert.ok(removed, result.stdout);
    assert.deepEqual([removed[1], removed[2]].sort(), oldest, 'the older two of that day go, as in a real run');
    assert.deepEqual(await snapshot(), beforeRun);
    assert.equal((await listSnapshots(repo)).length, snapshotsBefore.length);
  });

  it('run --all --dry-run --json: one plan per job; the duplicati job shows its argv with the secrets masked and is not run', async () => {
    const beforeRun = await snapshot();
    const fake = join(tmp.dir, 'fake-duplicati');
    await mkdir(fake, { recursive: true });
    const result = await runCronvault(['run', '--all', '--dry-run', '--json', '-c', config], {
      env: { FAKE_DUPLICATI_STATE: fake },
    });
    assert.equal(result.exitCode, 0, result.stderr);
    const plan = JSON.parse(result.stdout) as {
      dryRun: boolean;
      jobs: {
        job: string;
        command: string[];
        repository: string;
        backup: { asked: boolean; stats?: { filesNew?: number } };
        retention: { wouldRemove: string[] } | null;
      }[];
    };
    assert.deepEqual(
      plan.jobs.map((j) => j.job),
      ['alpha', 'files'],
    );
    assert.equal(plan.jobs[0]!.backup.stats?.filesNew, 1);
    assert.equal(plan.jobs[0]!.retention?.wouldRemove.length, 2);
    const files = plan.jobs[1]!;
    assert.equal(files.backup.asked, false);
    assert.equal(files.command[1], 'backup');
    assert.ok(files.command.includes('--retention-policy=1W:1D'));
    assert.equal(files.repository, 'ftp://backup:***@127.0.0.1/target?auth-password=***');
    assert.doesNotMatch(result.stdout + result.stderr, /s3cret-pw|tok3n/);
    assert.deepEqual(await snapshot(), beforeRun);
    // The fake duplicati-cli records every call; a dry run makes none.
    assert.deepEqual(await readdir(fake), []);
  });

  it("a --path job's dry run creates neither its state dir nor its textfile dir", async () => {
    const state = join(tmp.dir, 'flag-state');
    const text = join(tmp.dir, 'flag-text');
    const result = await runCronvault([
      'run',
      '--dry-run',
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
      '--state-dir',
      state,
      '--textfile-dir',
      text,
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /would add/);
    assert.deepEqual(await fingerprint(state), {});
    assert.deepEqual(await fingerprint(text), {});
    await assert.rejects(stat(state));
  });

  it('a job flag that only --path jobs take is still refused with --dry-run (exit 2)', async () => {
    const result = await runCronvault(['run', 'alpha', '--dry-run', '--retention', 'none', '-c', config]);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /--retention is only used with --path/);
  });

  it('a backup that would fail makes the dry run exit 1 and says why, still changing nothing', async () => {
    const wrong = join(tmp.dir, 'wrong.pass');
    await writeFile(wrong, 'not the password\n', { mode: 0o600 });
    const bad = await writeTestConfig(
      tmp.dir,
      [
        'jobs:',
        '  alpha:',
        `    path: ${data}`,
        `    repository: ${repo.repository}`,
        `    password_file: ${wrong}`,
        '    retention: "1W:1D"',
      ],
      'bad.yml',
    );
    const beforeRun = await snapshot();
    const result = await runCronvault(['run', 'alpha', '--dry-run', '-c', bad]);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stdout, /backup: {6}would fail: wrong password/);
    assert.deepEqual(await snapshot(), beforeRun);
  });

  it('with init: true and no repository yet it says the run would create one, exits 0 and creates nothing', async () => {
    const missing = join(tmp.dir, 'not-yet-a-repo');
    const fresh = await writeTestConfig(
      tmp.dir,
      [
        'jobs:',
        '  alpha:',
        `    path: ${data}`,
        `    repository: ${missing}`,
        `    password_file: ${repo.passwordFile}`,
        '    retention: "1W:1D"',
        '    init: true',
      ],
      'fresh.yml',
    );
    const result = await runCronvault(['run', 'alpha', '--dry-run', '-c', fresh]);
    assert.equal(result.exitCode, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /a run would create it \(init: true\)/);
    await assert.rejects(stat(missing), { code: 'ENOENT' });
  });
});
