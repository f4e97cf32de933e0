// Hooks: commands a job runs before and after its backup. Each test job's hooks append their
// phase to a file (named in the job's `env`), and a command job's producer appends "engine", so
// the file shows what ran in which order, against a real restic repository.

import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { cronvaultBin, makeTempDir, runCronvault, writeTestConfig } from './support/cli.ts';
import { createRepository, listSnapshots, metricValue, readJobProm, type TestRepository } from './support/restic.ts';
import { waitFor } from './support/services.ts';

const PASSWORD = 'hook-test repository password';

/** Whether pid is a process that still runs (an unreaped zombie does not). */
const running = async (pid: number): Promise<boolean> => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
};

interface StatusJob {
  outcome: string;
  healthy: boolean;
  lastRun: { hookFailures: { phase: string; command: string; reason: string }[] };
}

/** A hook that appends `word` and the run's CRONVAULT_* variables to $ORDER. */
const mark = (word: string): string[] => [
  'sh',
  '-c',
  `echo "${word} $CRONVAULT_JOB $CRONVAULT_OUTCOME $CRONVAULT_EXIT_CODE $CRONVAULT_SNAPSHOT_ID" >> "$ORDER"`,
];

const HOOKS = {
  before: [mark('before')],
  after: [mark('after')],
  on_failure: [mark('on_failure')],
  finally: [mark('finally')],
};

describe('hooks', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  before(async () => {
    tmp = await makeTempDir('cronvault-hooks-');
    repo = await createRepository(tmp.dir, 'repo', PASSWORD);
  });
  after(async () => tmp.cleanup());

  /** A directory with a config of one command job `job` (its producer marks "engine"), and its $ORDER file. */
  const setUp = async (name: string, job: Record<string, unknown>) => {
    const base = join(tmp.dir, name);
    await mkdir(base, { recursive: true });
    const order = join(base, 'order');
    const config = await writeTestConfig(base, [
      `jobs: ${JSON.stringify({
        job: {
          command: 'echo engine >> "$ORDER"; echo data',
          repository: repo.repository,
          password_file: repo.passwordFile,
          retention: 'none',
          retry: { attempts: 1 },
          env: { ORDER: order },
          ...job,
        },
      })}`,
    ]);
    const lines = async () => (await readFile(order, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    return { base, config, lines, text: join(base, 'text'), state: join(base, 'state') };
  };

  /** The command job's producer reads $ORDER from its env too; so does every hook. */
  const words = (lines: string[]) => lines.map((line) => line.split(' ')[0]);

  it('on success runs before, the engine, after, then finally, telling them the job, outcome, exit code and snapshot', async () => {
    const { config, lines, text } = await setUp('success', { hooks: HOOKS });
    const result = await runCronvault(['run', 'job', '-c', config], { env: { RESTIC_PASSWORD: PASSWORD } });
    assert.equal(result.exitCode, 0, result.stderr);
    const seen = await lines();
    assert.deepEqual(words(seen), ['before', 'engine', 'after', 'finally']);
    const [latest] = (await listSnapshots(repo, '--tag', 'cronvault:job', '--latest', '1')).slice(-1);
    assert.equal(seen[0], 'before job running  ', 'before knows only that the run started');
    assert.equal(seen[2], `after job success 0 ${latest!.short_id}`);
    assert.equal(seen[3], `finally job success 0 ${latest!.short_id}`);
    const prom = await readJobProm(text);
    for (const phase of ['before', 'after', 'on_failure', 'finally'])
      assert.match(prom, new RegExp(`backup_last_hook_failure\\{backup="job",phase="${phase}"\\} 0`));
    assert.match(result.stderr, /before hook: running sh -c/, 'each hook is logged as it starts');
  });

  it('on a failed backup runs before, the engine, on_failure, then finally, not after', async () => {
    const { config, lines } = await setUp('failure', {
      command: 'echo engine >> "$ORDER"; exit 3',
      hooks: HOOKS,
    });
    const result = await runCronvault(['run', 'job', '-c', config, '-q']);
    assert.equal(result.exitCode, 1, result.stderr);
    const seen = await lines();
    assert.deepEqual(words(seen), ['before', 'engine', 'on_failure', 'finally']);
    assert.match(seen[2]!, /^on_failure job failed 1/);
  });

  it('a failing before hook fails the run before the engine starts: on_failure and finally still run, no snapshot is made', async () => {
    const { config, lines, text, state } = await setUp('before-fails', {
      hooks: {
        ...HOOKS,
        before: [['sh', '-c', 'echo before >> "$ORDER"; echo "snapshot of /srv failed: volume busy" >&2; exit 4']],
      },
    });
    const snapshotsBefore = (await listSnapshots(repo)).length;
    const result = await runCronvault(['run', 'job', '-c', config, '-q']);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.deepEqual(words(await lines()), ['before', 'on_failure', 'finally']);
    assert.equal((await listSnapshots(repo)).length, snapshotsBefore, 'restic made no snapshot');
    assert.match(result.stderr, /before hook .* failed: exit 4: snapshot of \/srv failed: volume busy/);
    const prom = await readJobProm(text);
    assert.equal(metricValue(prom, 'backup_last_run_success'), 0);
    assert.equal(metricValue(prom, 'backup_last_exit_code'), -1, 'recorded like any failure before the engine');
    assert.equal(metricValue(prom, 'backup_last_run_attempts'), 0);
    assert.match(prom, /backup_last_hook_failure\{backup="job",phase="before"\} 1/);
    assert.match(prom, /backup_last_hook_failure\{backup="job",phase="finally"\} 0/);
    const history = (await readFile(join(state, 'history', 'job.jsonl'), 'utf8')).trim().split('\n');
    const last = JSON.parse(history.at(-1)!) as { reason: string; hookFailures: { phase: string; reason: string }[] };
    assert.match(last.reason, /volume busy/, "the history gives the hook's last stderr line");
    assert.deepEqual(
      last.hookFailures.map((f) => f.phase),
      ['before'],
    );
  });

  it('runs on_failure and finally after SIGTERM stops the engine, then exits 143', async () => {
    const { config, lines } = await setUp('sigterm', {
      command: 'echo engine >> "$ORDER"; sleep 30; echo data',
      hooks: HOOKS,
    });
    // execa would SIGKILL cronvault 5 s after kill(); the hooks' time is cronvault's to keep.
    const run = execa(process.execPath, [cronvaultBin, 'run', 'job', '-c', config], {
      reject: false,
      forceKillAfterDelay: false,
    });
    await waitFor(async () => words(await lines()).includes('engine'), { timeoutMs: 20_000, intervalMs: 50 });
    run.kill('SIGTERM');
    const result = await run;
    assert.equal(result.exitCode, 143, String(result.stderr));
    const seen = await lines();
    assert.deepEqual(words(seen), ['before', 'engine', 'on_failure', 'finally']);
    assert.match(seen[3]!, /^finally job failed 143/);
  });

  it('stops a hook that hangs at hooks_timeout with SIGTERM, then SIGKILL when it ignores that, with the processes it started', async () => {
    const { base, config, text, lines } = await setUp('hang', {
      hooks_timeout: '1s',
      hooks: {
        shell: true,
        finally: [
          'echo $$ > "$ORDER.pid"; sleep 60 & echo $! > "$ORDER.child"; wait',
          // Notes the SIGTERM and carries on: only the SIGKILL after the grace ends it.
          'trap "echo got-TERM >> \\"$ORDER\\"" TERM; echo $$ > "$ORDER.stubborn"; while :; do sleep 0.1; done',
        ],
      },
    });
    const result = await runCronvault(['run', 'job', '-c', config, '-q']);
    assert.equal(result.exitCode, 1, result.stderr);
    const timedOut = /finally hook .* failed: timed out after 1 s and was stopped \(hooks_timeout\)/g;
    assert.equal(result.stderr.match(timedOut)?.length, 2, result.stderr);
    assert.ok((await lines()).includes('got-TERM'), 'the stubborn hook was sent SIGTERM first');
    for (const file of ['order.pid', 'order.child', 'order.stubborn']) {
      const pid = Number(await readFile(join(base, file), 'utf8'));
      assert.equal(await running(pid), false, `${file} ${pid} no longer runs`);
    }
    const prom = await readJobProm(text);
    assert.equal(metricValue(prom, 'backup_last_run_success'), 1, 'the backup itself succeeded');
    assert.match(prom, /backup_last_hook_failure\{backup="job",phase="finally"\} 1/);
  });

  it('status and history show a failed after hook of the last run, and status is healthy again after a clean run', async () => {
    const { base, config } = await setUp('status', {
      hooks: {
        after: [['sh', '-c', 'test -e "$ORDER.ok" || { echo "app did not come back" >&2; exit 3; }']],
        finally: [mark('finally')],
      },
    });
    assert.equal((await runCronvault(['run', 'job', '-c', config, '-q'])).exitCode, 1);
    const status = await runCronvault(['status', '-c', config]);
    assert.equal(status.exitCode, 1, status.stdout);
    assert.match(status.stdout, /^! job: last run's after hook failed: exit 3: app did not come back$/m);
    const json = await runCronvault(['status', '--json', '-c', config]);
    const job = (JSON.parse(json.stdout) as { jobs: StatusJob[] }).jobs[0]!;
    assert.equal(job.outcome, 'success', 'the backup itself succeeded');
    assert.equal(job.healthy, false);
    assert.deepEqual(job.lastRun.hookFailures, [
      {
        phase: 'after',
        command: 'sh -c \'test -e "$ORDER.ok" || { echo "app did not come back" >&2; exit 3; }\'',
        reason: 'exit 3: app did not come back',
      },
    ]);
    const history = await runCronvault(['history', 'job', '-c', config]);
    const [header, row] = history.stdout.split('\n');
    assert.match(header!, /ADDED\s+HOOKS\s+SNAPSHOT$/);
    assert.match(row!, /\safter failed\s/);
    assert.match(history.stdout, /: after hook "sh -c .*" failed: exit 3: app did not come back$/m);

    await writeFile(join(base, 'order.ok'), '');
    assert.equal((await runCronvault(['run', 'job', '-c', config, '-q'])).exitCode, 0);
    const healthy = await runCronvault(['status', '--json', '-c', config]);
    assert.equal(healthy.exitCode, 0, healthy.stdout);
    assert.deepEqual((JSON.parse(healthy.stdout) as { jobs: StatusJob[] }).jobs[0]!.lastRun.hookFailures, []);
    const rows = (await runCronvault(['history', 'job', '-c', config])).stdout.split('\n');
    assert.match(rows[1]!, /\s-\s/, 'the newest run has no failed hook');
  });

  it('still runs after and finally when the metrics cannot be written (hooks run before the run is recorded), then exits 1', async () => {
    const { config, lines, text } = await setUp('no-metrics', { hooks: HOOKS });
    // textfile_dir is a regular file: every metrics write fails (ENOTDIR), even as root.
    await writeFile(text, '');
    const result = await runCronvault(['run', 'job', '-c', config, '-q']);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /cannot write metrics/);
    assert.deepEqual(words(await lines()), ['before', 'engine', 'after', 'finally']);
  });

  it("never puts the repository password in a hook's argv or environment", async () => {
    const { base, config } = await setUp('secrets', {
      hooks: { before: [['sh', '-c', 'env > "$ORDER.env"; tr "\\0" " " < /proc/$$/cmdline > "$ORDER.argv"']] },
    });
    const result = await runCronvault(['run', 'job', '-c', config, '-q'], {
      env: { RESTIC_PASSWORD: PASSWORD, BORG_PASSPHRASE: PASSWORD },
    });
    assert.equal(result.exitCode, 0, result.stderr);
    const env = await readFile(join(base, 'order.env'), 'utf8');
    const argv = await readFile(join(base, 'order.argv'), 'utf8');
    assert.match(env, /^CRONVAULT_JOB=job$/m);
    for (const [what, textSeen] of [
      ['environment', env],
      ['argv', argv],
    ] as const) {
      assert.ok(!textSeen.includes(PASSWORD), `no password in the hook's ${what}`);
      assert.doesNotMatch(textSeen, /RESTIC_PASSWORD|BORG_PASSPHRASE/);
    }
  });

  it('run --dry-run runs no hook and says which would run', async () => {
    const { config, lines } = await setUp('dry-run', { hooks: HOOKS });
    const result = await runCronvault(['run', 'job', '-c', config, '--dry-run']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(await lines(), []);
    assert.match(result.stdout, /hooks: +not run in a dry run; a run would run before: sh -c .*; finally: sh -c/);
  });

  it('check fails for a hook whose executable is missing or not executable, naming it', async () => {
    const base = join(tmp.dir, 'check');
    await mkdir(base, { recursive: true });
    const notExecutable = join(base, 'quiesce.sh');
    await writeFile(notExecutable, '#!/bin/sh\n');
    const { config } = await setUp('check', {
      hooks: { before: [[notExecutable]], after: [['no-such-hook-command', 'x']], finally: [['true']] },
    });
    const result = await runCronvault(['check', '-c', config]);
    assert.equal(result.exitCode, 1, result.stdout);
    assert.match(
      result.stdout,
      new RegExp(`FAIL job job: hooks: before hook .*${notExecutable} is not an executable file`),
    );
    assert.match(
      result.stdout,
      /after hook "no-such-hook-command x": no-such-hook-command is not an executable file on PATH/,
    );
    assert.doesNotMatch(result.stdout, /finally hook/);
  });

  describe('config errors name the file, line and key', () => {
    const check = async (name: string, jobLines: string[]) => {
      const base = join(tmp.dir, `config-${name}`);
      await mkdir(base, { recursive: true });
      const config = await writeTestConfig(base, [
        'jobs:',
        '  job:',
        '    path: /srv',
        '    repository: /srv/restic',
        '    password_file: /etc/p',
        '    retention: none',
        ...jobLines,
      ]);
      return runCronvault(['check', '--config-only', '-c', config]);
    };

    it('refuses a string hook without shell: true', async () => {
      const result = await check('string', ['    hooks:', '      before:', '        - systemctl stop app']);
      assert.equal(result.exitCode, 2);
      assert.match(result.stderr, /config\.yml:11: jobs\.job\.hooks\.before\.0: "systemctl stop app" is a string/);
      assert.match(result.stderr, /shell: true/);
    });

    it('refuses an unknown phase with a suggestion, and an empty command', async () => {
      const unknown = await check('phase', ['    hooks:', '      befor: [[true]]']);
      assert.equal(unknown.exitCode, 2);
      assert.match(
        unknown.stderr,
        /config\.yml:10: jobs\.job\.hooks\.befor: unknown key "befor" \(did you mean "before"\?\)/,
      );
      const empty = await check('empty', ['    hooks: { finally: [[]] }']);
      assert.match(empty.stderr, /config\.yml:9: jobs\.job\.hooks\.finally\.0: expected a command as a non-empty list/);
    });

    it('refuses a hooks_timeout that is no duration and a ping URL that is not http(s)', async () => {
      const timeout = await check('timeout', ['    hooks_timeout: soon']);
      assert.match(timeout.stderr, /config\.yml:9: jobs\.job\.hooks_timeout: "soon" is not a duration/);
      const ping = await check('ping', ['    ping:', '      url: ftp://hc.example/ping/x']);
      assert.equal(ping.exitCode, 2);
      assert.match(ping.stderr, /config\.yml:10: jobs\.job\.ping\.url: expected an http:\/\/ or https:\/\/ URL/);
      const event = await check('event', ['    ping: { url: "https://hc.example/x", on: [start, sucess] }']);
      assert.match(event.stderr, /jobs\.job\.ping\.on\.1: unknown ping event "sucess".*did you mean "success"/);
    });
  });
});
