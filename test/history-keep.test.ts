// history_keep: each job's history file holds at most that many runs (default 1,000), so the
// state dir cannot grow forever on a host that backs up every few minutes for years.

import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, runCronvault, writeTestConfig } from './support/cli.ts';
import { createRepository, type TestRepository } from './support/restic.ts';

interface Entry {
  start: number;
  outcome: string;
  reason: string;
}

const historyFile = (dir: string, job: string): string => join(dir, 'state', 'history', `${job}.jsonl`);

/** `count` old runs, oldest first, marked so the test can tell which survived. */
const seedHistory = async (dir: string, job: string, count: number): Promise<void> => {
  await mkdir(join(dir, 'state', 'history'), { recursive: true });
  const lines = Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      start: 1_000_000 + i,
      end: 1_000_001 + i,
      durationSeconds: 1,
      outcome: 'success',
      exitCode: 0,
      attempts: 1,
      reason: `seed ${i}`,
    }),
  );
  await writeFile(historyFile(dir, job), `${lines.join('\n')}\n`);
};

const readEntries = async (dir: string, job: string): Promise<Entry[]> =>
  (await readFile(historyFile(dir, job), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Entry);

describe('history_keep', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  let data: string;
  before(async () => {
    tmp = await makeTempDir();
    repo = await createRepository(tmp.dir);
    data = join(tmp.dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'a.txt'), 'a\n');
  });
  after(async () => tmp.cleanup());

  const config = (lines: string[], name: string): Promise<string> =>
    writeTestConfig(
      tmp.dir,
      [`defaults: { repository: ${repo.repository}, password_file: ${repo.passwordFile}, retention: none }`, ...lines],
      name,
    );

  it("a job's own history_keep trims its history to the newest runs, the new one last", async () => {
    await seedHistory(tmp.dir, 'own', 10);
    const file = await config(['history_keep: 50', 'jobs:', `  own: { path: ${data}, history_keep: 3 }`], 'own.yml');
    const run = await runCronvault(['run', 'own', '-c', file]);
    assert.equal(run.exitCode, 0, run.stderr);
    const entries = await readEntries(tmp.dir, 'own');
    assert.deepEqual(entries.map((e) => e.reason).slice(0, 2), ['seed 8', 'seed 9']);
    assert.equal(entries.length, 3);
    assert.equal(entries[2]!.outcome, 'success');
    assert.ok(entries[2]!.start > 1_000_000_000, 'the newest entry is the run just made');
  });

  it('a top-level history_keep applies to every job without its own', async () => {
    await seedHistory(tmp.dir, 'top', 10);
    const file = await config(['history_keep: 4', 'jobs:', `  top: { path: ${data} }`], 'top.yml');
    const run = await runCronvault(['run', 'top', '-c', file]);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal((await readEntries(tmp.dir, 'top')).length, 4);
  });

  it('keeps 1,000 runs when history_keep is not set', async () => {
    await seedHistory(tmp.dir, 'plain', 1005);
    const file = await config(['jobs:', `  plain: { path: ${data} }`], 'plain.yml');
    const run = await runCronvault(['run', 'plain', '-c', file]);
    assert.equal(run.exitCode, 0, run.stderr);
    const entries = await readEntries(tmp.dir, 'plain');
    assert.equal(entries.length, 1000);
    assert.equal(entries[0]!.reason, 'seed 6');
  });

  it('refuses a history_keep below 1, naming the key and line (exit 2)', async () => {
    const file = await config(['jobs:', `  bad: { path: ${data}, history_keep: 0 }`], 'bad.yml');
    const result = await runCronvault(['check', '-c', file]);
    assert.equal(result.exitCode, 2);
    assert.match(
      result.stderr,
      /bad\.yml:5: jobs\.bad\.history_keep: expected a whole number of runs from 1 to 100000, found number 0/,
    );
  });
});
