// Engines that do not behave: a summary with wrongly typed or impossible fields, garbage instead
// of JSON, no output at all, exit codes restic does not define. Each is a small `binary:`
// wrapper around the real restic (test/fixtures/bin/restic-*), run by the shipped bundle.

import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { createRepository, listSnapshots, metricValue, readJobProm, type TestRepository } from './support/restic.ts';

const wrapper = (name: string): string => join(projectRoot, 'test', 'fixtures', 'bin', name);

interface Run {
  exitCode: number;
  stderr: string;
  prom: string;
  history: Record<string, unknown>[];
}

describe('engine surprises', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  let source: string;
  before(async () => {
    tmp = await makeTempDir();
    repo = await createRepository(tmp.dir);
    source = join(tmp.dir, 'data');
    await mkdir(source);
    await writeFile(join(source, 'a.txt'), 'some data\n');
  });
  after(async () => tmp.cleanup());

  let runs = 0;
  /** One run of job "data" with `binary: <wrapper>`, in its own state and textfile dirs. */
  const runWith = async (binary: string, attempts = 3): Promise<Run & { dirs: { state: string; text: string } }> => {
    runs += 1;
    const dirs = { state: join(tmp.dir, `state${runs}`), text: join(tmp.dir, `text${runs}`) };
    const config = join(tmp.dir, `config${runs}.yml`);
    await writeFile(
      config,
      [
        `state_dir: ${dirs.state}`,
        `metrics: { textfile_dir: ${dirs.text} }`,
        'jobs:',
        '  data:',
        `    path: ${source}`,
        `    repository: ${repo.repository}`,
        `    password_file: ${repo.passwordFile}`,
        `    binary: ${wrapper(binary)}`,
        '    retention: none',
        `    retry: { attempts: ${attempts}, min_delay: 10ms, max_delay: 20ms }`,
        '',
      ].join('\n'),
    );
    const result = await runCronvault(['run', 'data', '--config', config]);
    const history = (await readFile(join(dirs.state, 'history', 'data.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    return { exitCode: result.exitCode, stderr: result.stderr, prom: await readJobProm(dirs.text), history, dirs };
  };

  const promtoolAccepts = async (prom: string): Promise<void> => {
    const check = await execa('promtool', ['check', 'metrics'], { input: prom, reject: false });
    assert.equal(check.exitCode, 0, `${check.stdout}${check.stderr}`);
  };

  it('a summary with wrongly typed fields is a success with a warning naming them, and nothing wrong is recorded', async () => {
    const before = (await listSnapshots(repo)).length;
    const run = await runWith('restic-corrupt-summary');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(
      run.stderr,
      /restic's backup summary is malformed \(files_new is string "lots", not a count; files_changed is null, not a count\)/,
    );
    assert.doesNotMatch(run.stderr, /lots new|null changed|could not write metrics/);
    assert.equal(metricValue(run.prom, 'backup_running'), 0, 'the final metrics write succeeded');
    assert.equal(metricValue(run.prom, 'backup_last_run_success'), 1);
    assert.equal(metricValue(run.prom, 'backup_last_run_warnings'), 1);
    assert.equal(metricValue(run.prom, 'backup_last_files_new'), undefined);
    assert.equal(metricValue(run.prom, 'backup_last_files_processed'), 1, 'the valid fields are kept');
    await promtoolAccepts(run.prom);
    const last = run.history.at(-1)!;
    assert.equal(last.outcome, 'warning');
    assert.equal(last.filesNew, undefined);
    assert.equal(last.filesChanged, undefined);
    assert.match(String(last.snapshotId), /^[0-9a-f]{8}$/);
    assert.match(String(last.reason), /files_new is string "lots"/);
    assert.equal((await listSnapshots(repo)).length, before + 1);
  });

  it('negative, infinite and non-hex summary values never become stats', async () => {
    const run = await runWith('restic-impossible-summary');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(
      run.stderr,
      /total_bytes_processed is number Infinity, not a count; data_added is number -5, not a count; snapshot_id is string "\.\.\/\.\.\/etc", not a snapshot id/,
    );
    assert.equal(metricValue(run.prom, 'backup_last_added_bytes'), undefined);
    assert.equal(metricValue(run.prom, 'backup_last_processed_bytes'), undefined);
    assert.equal(metricValue(run.prom, 'backup_running'), 0);
    await promtoolAccepts(run.prom);
    assert.equal(run.history.at(-1)!.snapshotId, undefined);
    assert.equal(run.history.at(-1)!.bytesAdded, undefined);
  });

  it('garbage instead of JSON, with exit 0, is a failed run that quotes the garbage and is not retried', async () => {
    const run = await runWith('restic-garbage-output');
    assert.equal(run.exitCode, 1, run.stderr);
    assert.match(
      run.stderr,
      /backup failed after 1 attempt .*restic exited 0 but printed "<html><body><h1>502 Bad Gateway<\/h1><\/body><\/html>" instead of its JSON and no backup summary, so the snapshot cannot be confirmed/,
    );
    assert.equal(metricValue(run.prom, 'backup_last_run_success'), 0);
    assert.equal(metricValue(run.prom, 'backup_last_run_attempts'), 1);
    assert.equal(metricValue(run.prom, 'backup_last_success_timestamp_seconds'), 0);
    assert.equal(run.history.at(-1)!.outcome, 'failed');
  });

  it('exit 0 with nothing on stdout is a failed run saying so', async () => {
    const run = await runWith('restic-silent');
    assert.equal(run.exitCode, 1, run.stderr);
    assert.match(run.stderr, /restic exited 0 but printed nothing on standard output and no backup summary/);
    assert.equal(metricValue(run.prom, 'backup_last_run_success'), 0);
    assert.equal(metricValue(run.prom, 'backup_last_exit_code'), 0);
  });

  it('an unknown exit code after a reported snapshot is a failure, not retried into a duplicate snapshot', async () => {
    const before = (await listSnapshots(repo)).length;
    const run = await runWith('restic-exit-42-after-backup', 3);
    assert.equal(run.exitCode, 1, run.stderr);
    assert.match(run.stderr, /exit 42 \(unknown exit code 42, treated as failure\)/);
    assert.match(run.stderr, /restic had reported snapshot [0-9a-f]{8}, so it is not retried/);
    assert.equal(metricValue(run.prom, 'backup_last_run_success'), 0);
    assert.equal(metricValue(run.prom, 'backup_last_exit_code'), 42);
    assert.equal(metricValue(run.prom, 'backup_last_run_attempts'), 1);
    assert.equal((await listSnapshots(repo)).length, before + 1, 'exactly one snapshot, no duplicate');
  });

  it("an unknown exit code without a summary is a failure, retried, with restic's last line", async () => {
    const before = (await listSnapshots(repo)).length;
    const run = await runWith('restic-exit-42', 2);
    assert.equal(run.exitCode, 1, run.stderr);
    assert.match(
      run.stderr,
      /backup failed after 2 attempts .*restic exited with unknown exit code 42, treated as failure: something unheard of happened/,
    );
    assert.equal(metricValue(run.prom, 'backup_last_run_success'), 0);
    assert.equal(metricValue(run.prom, 'backup_last_exit_code'), 42);
    assert.equal((await listSnapshots(repo)).length, before);
  });
});
