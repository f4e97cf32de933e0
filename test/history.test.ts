// `cronvault history`: the job's last runs from its bounded history file, newest first.

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, runCronvault, writeTestConfig } from './support/cli.ts';
import { createRepository } from './support/restic.ts';

interface HistoryJson {
  job: string;
  runs: {
    start: number;
    durationSeconds: number;
    outcome: string;
    exitCode: number;
    attempts: number;
    bytesAdded?: number;
    snapshotId?: string;
  }[];
}

describe('cronvault history', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let config: string;

  before(async () => {
    tmp = await makeTempDir();
    const repo = await createRepository(tmp.dir);
    const data = join(tmp.dir, 'data');
    await mkdir(data);
    config = await writeTestConfig(tmp.dir, [
      `defaults: { repository: ${repo.repository}, password_file: ${repo.passwordFile}, retention: none }`,
      'jobs:',
      `  files: { path: ${data} }`,
      `  idle: { path: ${data} }`,
    ]);
    for (const content of ['one', 'two', 'three']) {
      await writeFile(join(data, `${content}.txt`), `${content}\n`.repeat(1000));
      const run = await runCronvault(['run', 'files', '-c', config]);
      assert.equal(run.exitCode, 0, run.stderr);
    }
  });
  after(async () => tmp.cleanup());

  it('-n 2 --json gives the two newest runs, newest first, with their details', async () => {
    const result = await runCronvault(['history', 'files', '-n', '2', '--json', '-c', config]);
    assert.equal(result.exitCode, 0, result.stderr);
    const history = JSON.parse(result.stdout) as HistoryJson;
    assert.equal(history.job, 'files');
    assert.equal(history.runs.length, 2);
    assert.ok(history.runs[0]!.start >= history.runs[1]!.start, 'newest first');
    for (const run of history.runs) {
      assert.equal(run.outcome, 'success');
      assert.equal(run.exitCode, 0);
      assert.equal(run.attempts, 1);
      assert.ok(run.durationSeconds > 0);
      assert.ok(run.bytesAdded! > 0);
      assert.match(run.snapshotId!, /^[0-9a-f]{8}$/);
    }
  });

  it('without -n shows every run (up to 20) as a table', async () => {
    const result = await runCronvault(['history', 'files', '-c', config]);
    assert.equal(result.exitCode, 0);
    const lines = result.stdout.trim().split('\n');
    assert.match(lines[0]!, /^START\s+DURATION\s+OUTCOME\s+EXIT\s+ATTEMPTS\s+ADDED\s+SNAPSHOT$/);
    assert.equal(lines.length, 4);
    for (const line of lines.slice(1))
      assert.match(
        line,
        /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+[\d.]+ s\s+success\s+0\s+1\s+[\d.]+ (B|KiB)\s+[0-9a-f]{8}$/,
      );
  });

  it('says so when a job has never run', async () => {
    const result = await runCronvault(['history', 'idle', '-c', config]);
    assert.equal(result.exitCode, 0);
    assert.match(result.stdout, /no recorded runs/);
    const json = await runCronvault(['history', 'idle', '--json', '-c', config]);
    assert.deepEqual(JSON.parse(json.stdout), { job: 'idle', runs: [] });
  });

  it('rejects -n 0 and unknown jobs with exit 2', async () => {
    const zero = await runCronvault(['history', 'files', '-n', '0', '-c', config]);
    assert.equal(zero.exitCode, 2);
    assert.match(zero.stderr, /-n\/--number must be a whole number/);
    const unknown = await runCronvault(['history', 'file', '-c', config]);
    assert.equal(unknown.exitCode, 2);
    assert.match(unknown.stderr, /no job "file".*did you mean/i);
  });
});
