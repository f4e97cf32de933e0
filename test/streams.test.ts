// Logs go to stderr and data (tables, JSON, scripts) to stdout, for every command, so
// `cronvault status --json | jq` and `2>>log` both work; --json is exactly one JSON document.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CliResult, runCronvault } from './support/cli.ts';
import { type CliFixture, createCliFixture } from './support/cli-fixture.ts';

/** JSON.parse accepts exactly one document (trailing whitespace allowed), nothing before or after. */
const oneJsonDocument = (result: CliResult): unknown => {
  assert.equal(result.stdout.trim().length > 0, true, 'stdout holds the document');
  return JSON.parse(result.stdout);
};
const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ cronvault(\[[^\]]+\])? (info|warn|error|debug): /;
const onlyLogLines = (stderr: string): void => {
  const lines = stderr.split('\n').filter(Boolean);
  for (const line of lines) assert.match(line, LOG_LINE, `a log line on stderr: ${line}`);
};

describe('stdout holds the data, stderr the logs', () => {
  let fx: CliFixture;
  let c: string[];
  before(async () => {
    fx = await createCliFixture();
    c = ['-c', fx.config];
  });
  after(async () => fx.cleanup());

  it('run: logs on stderr only; with --json the results are one document on stdout', async () => {
    const plain = await runCronvault(['run', 'beta', ...c]);
    assert.equal(plain.exitCode, 0, plain.stderr);
    assert.equal(plain.stdout, '');
    onlyLogLines(plain.stderr);
    assert.match(plain.stderr, /cronvault\[beta\] info: backup succeeded/);
    const json = await runCronvault(['run', 'beta', ...c, '--json']);
    assert.equal(json.exitCode, 0, json.stderr);
    const doc = oneJsonDocument(json) as { exitCode: number; jobs: { job: string; outcome: string }[] };
    assert.deepEqual(
      doc.jobs.map((j) => [j.job, j.outcome]),
      [['beta', 'success']],
    );
    assert.equal(doc.exitCode, 0);
    onlyLogLines(json.stderr);
    assert.match(json.stderr, /backup succeeded/, 'the logs stay on stderr with --json');
  });

  it('run --dry-run: the plan on stdout, the log lines on stderr', async () => {
    const plain = await runCronvault(['run', 'alpha', '--dry-run', ...c]);
    assert.equal(plain.exitCode, 0, plain.stderr);
    assert.match(plain.stdout, /^job alpha \(restic\): dry run/);
    onlyLogLines(plain.stderr);
    const json = await runCronvault(['run', 'alpha', '--dry-run', '--json', ...c]);
    assert.equal((oneJsonDocument(json) as { dryRun: boolean }).dryRun, true);
    onlyLogLines(json.stderr);
  });

  it('check: the checks on stdout, nothing on stderr; --json is one document', async () => {
    const plain = await runCronvault(['check', ...c]);
    assert.equal(plain.exitCode, 0, plain.stdout);
    assert.match(plain.stdout, /all checks passed/);
    assert.equal(plain.stderr, '');
    const json = await runCronvault(['check', ...c, '--json']);
    assert.equal((oneJsonDocument(json) as { ok: boolean }).ok, true);
    assert.equal(json.stderr, '');
  });

  it('cron: the crontab on stdout; --json lists the lines', async () => {
    const plain = await runCronvault(['cron', ...c]);
    assert.match(plain.stdout, / run alpha --config /);
    assert.equal(plain.stderr, '');
    const json = await runCronvault(['cron', ...c, '--json']);
    // Two jobs, each with its weekly restore drill, and the weekly prune of their repository.
    const lines = (oneJsonDocument(json) as { lines: string[] }).lines;
    assert.deepEqual(
      lines.map((line) => /cronvault (run \S+|verify \S+|prune) /.exec(line)?.[1]),
      ['run alpha', 'verify alpha', 'run beta', 'verify beta', 'prune'],
    );
    assert.equal(json.stderr, '');
  });

  for (const [command, check] of [
    [['status'], (doc: unknown) => assert.equal((doc as { jobs: unknown[] }).jobs.length, 2)],
    [['history', 'alpha'], (doc: unknown) => assert.equal((doc as { job: string }).job, 'alpha')],
    [['snapshots', 'alpha'], (doc: unknown) => assert.ok(Array.isArray(doc) && doc.length >= 1)],
    [
      ['retention', 'explain', '1W:1D'],
      (doc: unknown) => assert.equal((doc as { applicable: boolean }).applicable, true),
    ],
  ] as [string[], (doc: unknown) => void][]) {
    it(`${command[0]}: a table on stdout and nothing on stderr; --json is one document`, async () => {
      const plain = await runCronvault([...command, ...c]);
      assert.ok(plain.stdout.length > 0);
      assert.throws(() => JSON.parse(plain.stdout), 'the table is not JSON');
      assert.equal(plain.stderr, '');
      const json = await runCronvault([...command, ...c, '--json']);
      check(oneJsonDocument(json));
      assert.equal(json.stderr, '');
    });
  }

  it('init: the log line on stderr; --json adds the result on stdout', async () => {
    const plain = await runCronvault(['init', 'alpha', ...c]);
    assert.equal(plain.exitCode, 0, plain.stderr);
    assert.equal(plain.stdout, '');
    assert.match(plain.stderr, /already exists/);
    const json = await runCronvault(['init', 'alpha', ...c, '--json']);
    assert.deepEqual(oneJsonDocument(json), { job: 'alpha', repository: fx.repo.repository, created: false });
    assert.match(json.stderr, /already exists/);
  });

  it('restore: log lines on stderr; with --to-stdout stdout is the file itself and nothing else', async () => {
    const plain = await runCronvault(['restore', 'alpha', ...c, '--target', join(fx.dir, 'restored')]);
    assert.equal(plain.exitCode, 0, plain.stderr);
    assert.equal(plain.stdout, '');
    onlyLogLines(plain.stderr);
    assert.match(plain.stderr, /restored snapshot latest/);
    const dump = await runCronvault(['restore', 'alpha', ...c, '--to-stdout', '--include', join(fx.data, 'hello.txt')]);
    assert.equal(dump.exitCode, 0, dump.stderr);
    assert.equal(dump.stdout, (await readFile(join(fx.data, 'hello.txt'), 'utf8')).trimEnd());
  });

  it('completion: the script on stdout, nothing on stderr', async () => {
    const result = await runCronvault(['completion', 'bash']);
    assert.match(result.stdout, /complete -F _cronvault cronvault/);
    assert.equal(result.stderr, '');
  });

  it('an error goes to stderr and leaves stdout empty, --json included', async () => {
    for (const args of [
      ['status', '-c', join(fx.dir, 'missing.yml')],
      ['history', 'nosuchjob', ...c, '--json'],
      ['run', 'nosuchjob', ...c, '--json'],
    ]) {
      const result = await runCronvault(args);
      assert.equal(result.exitCode, 2, args.join(' '));
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^cronvault: /);
    }
  });
});
