// Stopping a run (Ctrl-C at a shell, SIGTERM from a shutdown, the job's timeout) ends it
// cleanly: the engine's whole process group is stopped (SIGINT, SIGKILL after a grace
// period), the run is recorded as failed and no longer running, the lock is released only
// once the engine is gone, and the next run needs no `restic unlock`.

import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { cronvaultBin, makeTempDir, projectRoot, runCronvault, writeTestConfig } from './support/cli.ts';
import { createRepository, listSnapshots, metricValue, readJobProm, restic } from './support/restic.ts';
import { waitFor } from './support/services.ts';

const fixtureBin = (name: string) => join(projectRoot, 'test', 'fixtures', 'bin', name);

/** Whether pid is a process that still runs (an unreaped zombie does not). */
const running = async (pid: number): Promise<boolean> => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
};

/** Pids of group pgid's processes that still run. */
const runningInGroup = async (pgid: number): Promise<number[]> => {
  const pids = (await execa('pgrep', ['-g', String(pgid)], { reject: false })).stdout
    .split('\n')
    .filter(Boolean)
    .map(Number);
  const alive = await Promise.all(pids.map(running));
  return pids.filter((_, index) => alive[index]);
};

/** Job locks still recorded (the .flock files stay; a held lock has a .lock record). */
const heldLocks = async (stateDir: string): Promise<string[]> =>
  (await readdir(join(stateDir, 'locks'))).filter((name) => name.endsWith('.lock'));

describe('signals', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  const duplicatiRun = async (base: string, env: Record<string, string>, extra: string[] = []) => {
    await mkdir(join(base, 'fake'), { recursive: true });
    await mkdir(join(base, 'data'));
    await writeFile(join(base, 'p'), 'pw\n');
    await chmod(join(base, 'p'), 0o600);
    // Wrapped: an execa subprocess is a thenable, which an async function would await.
    return {
      subprocess: execa(
        process.execPath,
        [
          cronvaultBin,
          'run',
          '--path',
          join(base, 'data'),
          '--engine',
          'duplicati',
          '--repository',
          'file:///x',
          '--password-file',
          join(base, 'p'),
          '--retention',
          'none',
          '--textfile-dir',
          join(base, 'text'),
          '--state-dir',
          join(base, 'state'),
          '--binary',
          fixtureBin('duplicati-cli'),
          ...extra,
        ],
        {
          reject: false,
          // execa would SIGKILL cronvault 5 s after run.kill(); the grace period is cronvault's to keep.
          forceKillAfterDelay: false,
          env: { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: join(base, 'fake'), ...env },
        },
      ),
    };
  };
  const firstCall = async (base: string): Promise<{ pid: number }> =>
    waitFor(
      async () =>
        JSON.parse((await readFile(join(base, 'fake', 'calls.jsonl'), 'utf8')).split('\n')[0]!) as { pid: number },
      { timeoutMs: 20_000, intervalMs: 50 },
    );

  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`exits ${code} on ${signal}, recording a failed, finished run and releasing the lock`, async () => {
      const base = join(tmp.dir, signal);
      const { subprocess: run } = await duplicatiRun(base, { FAKE_DUPLICATI_SLEEP_MS: '20000' });
      const engine = await firstCall(base);
      run.kill(signal);
      const result = await run;
      assert.equal(result.exitCode, code, String(result.stderr));
      assert.match(String(result.stderr), new RegExp(`interrupted by ${signal}`));
      assert.equal(await running(engine.pid), false, 'the engine is gone');
      const prom = await readJobProm(join(base, 'text'));
      assert.equal(metricValue(prom, 'backup_running'), 0);
      assert.equal(metricValue(prom, 'backup_last_run_success'), 0);
      assert.equal(metricValue(prom, 'backup_last_exit_code'), code);
      assert.deepEqual(await heldLocks(join(base, 'state')), []);
    });
  }

  it('kills an engine that ignores SIGINT after the grace period, then records the interrupted run', async () => {
    const base = join(tmp.dir, 'stubborn');
    const { subprocess: run } = await duplicatiRun(base, {
      FAKE_DUPLICATI_SLEEP_MS: '60000',
      FAKE_DUPLICATI_IGNORE_SIGINT: '1',
    });
    const engine = await firstCall(base);
    run.kill('SIGTERM');
    const result = await run;
    assert.equal(result.exitCode, 143, String(result.stderr));
    assert.equal(await running(engine.pid), false, 'the engine was killed');
    const prom = await readJobProm(join(base, 'text'));
    assert.equal(metricValue(prom, 'backup_running'), 0);
    assert.equal(metricValue(prom, 'backup_last_run_success'), 0);
    assert.deepEqual(await heldLocks(join(base, 'state')), []);
  });

  it('stops a run at its timeout, recording exit code 124 and a failed run', async () => {
    const base = join(tmp.dir, 'timeout');
    const result = await (await duplicatiRun(base, { FAKE_DUPLICATI_SLEEP_MS: '20000' }, ['--timeout', '1s']))
      .subprocess;
    assert.equal(result.exitCode, 1, String(result.stderr));
    assert.match(String(result.stderr), /timed out after 1 s/);
    const prom = await readJobProm(join(base, 'text'));
    assert.equal(metricValue(prom, 'backup_last_exit_code'), 124);
    assert.equal(metricValue(prom, 'backup_last_run_attempts'), 1);
    assert.equal(metricValue(prom, 'backup_running'), 0);
  });

  describe('with restic', () => {
    let repo: Awaited<ReturnType<typeof createRepository>>;
    before(async () => {
      repo = await createRepository(tmp.dir);
    });

    // Lock files only: restic's local backend writes `<id>-tmp-<n>` first, and leaves it when
    // it exits while writing (restic ignores it).
    const resticLocks = async () =>
      (await readdir(join(repo.repository, 'locks'))).filter((name) => /^[0-9a-f]{64}$/.test(name));

    it('at its timeout ends the engine and the child it left holding its output, then exits and releases the lock', async () => {
      const base = join(tmp.dir, 'timeout-group');
      await mkdir(join(base, 'data'), { recursive: true });
      await writeFile(join(base, 'data', 'f'), 'x');
      const childPidFile = join(base, 'child.pid');
      const config = await writeTestConfig(base, [
        'jobs:',
        '  grouped:',
        `    path: ${join(base, 'data')}`,
        `    repository: ${repo.repository}`,
        `    password_file: ${repo.passwordFile}`,
        `    binary: ${fixtureBin('restic-leaving-a-child')}`,
        '    timeout: 2s',
        '    retention: none',
      ]);
      const started = Date.now();
      const result = await runCronvault(['run', 'grouped', '--config', config], {
        env: { CHILD_PID_FILE: childPidFile },
      });
      const tookMs = Date.now() - started;
      assert.equal(result.exitCode, 1, result.stderr);
      assert.match(result.stderr, /timed out after 2 s/);
      // Without stopping the group it lives until the child's 60 s are up.
      assert.ok(tookMs < 20_000, `cronvault exited ${tookMs} ms after it started`);
      const child = Number(await readFile(childPidFile, 'utf8'));
      assert.equal(await running(child), false, `the engine's child ${child} was killed`);
      const prom = await readJobProm(join(base, 'text'));
      assert.equal(metricValue(prom, 'backup_last_exit_code'), 124);
      assert.equal(metricValue(prom, 'backup_running'), 0);
      assert.equal(metricValue(prom, 'backup_last_run_success'), 0);
      assert.deepEqual(await heldLocks(join(base, 'state')), []);
    });

    it("at its timeout ends a command job's producer too", async () => {
      const base = join(tmp.dir, 'timeout-command');
      await mkdir(base, { recursive: true });
      const pidFile = join(base, 'producer.pid');
      const config = await writeTestConfig(base, [
        'jobs:',
        '  dump:',
        `    command: "echo $$ > ${pidFile}; sleep 60; echo data"`,
        `    repository: ${repo.repository}`,
        `    password_file: ${repo.passwordFile}`,
        '    timeout: 2s',
        '    retention: none',
      ]);
      const result = await runCronvault(['run', 'dump', '--config', config]);
      assert.equal(result.exitCode, 1, result.stderr);
      assert.match(result.stderr, /timed out after 2 s/);
      const producer = Number(await readFile(pidFile, 'utf8'));
      assert.equal(await running(producer), false, 'the producer shell was stopped');
      assert.deepEqual(await runningInGroup(producer), [], 'no process of its group runs');
      assert.deepEqual(await resticLocks(), [], 'restic removed its lock');
    });

    it('names the signal that killed the engine and records 128+N', async () => {
      const base = join(tmp.dir, 'segv');
      await mkdir(join(base, 'data'), { recursive: true });
      const result = await runCronvault([
        'run',
        '--path',
        join(base, 'data'),
        '--repository',
        repo.repository,
        '--password-file',
        repo.passwordFile,
        '--retention',
        'none',
        '--retry-attempts',
        '1',
        '--binary',
        fixtureBin('restic-segfaulting'),
        '--textfile-dir',
        join(base, 'text'),
        '--state-dir',
        join(base, 'state'),
      ]);
      assert.equal(result.exitCode, 1, result.stderr);
      assert.match(result.stderr, /killed by SIGSEGV/);
      const prom = await readJobProm(join(base, 'text'));
      assert.equal(metricValue(prom, 'backup_last_exit_code'), 128 + 11);
    });

    for (const [signal, code] of [
      ['SIGTERM', 143],
      ['SIGINT', 130],
    ] as const) {
      it(`on ${signal} during a restic backup stops restic, which removes its lock, so the next run works without restic unlock`, async () => {
        const base = join(tmp.dir, `restic-${signal}`);
        await mkdir(base, { recursive: true });
        const slow = join(base, 'slow');
        await writeFile(slow, '');
        // The same job both times (its source must not change): slow while the flag file exists.
        const config = await writeTestConfig(base, [
          'jobs:',
          '  db:',
          `    command: "if [ -e ${slow} ]; then sleep 60; fi; echo dump"`,
          `    repository: ${repo.repository}`,
          `    password_file: ${repo.passwordFile}`,
          '    retention: "1D:0s"',
          '    retry: { attempts: 3, min_delay: 100ms, max_delay: 500ms }',
        ]);
        const run = execa(process.execPath, [cronvaultBin, 'run', 'db', '--config', config], {
          reject: false,
          forceKillAfterDelay: false,
        });
        // restic holds its lock while it reads the dump.
        await waitFor(async () => (await resticLocks()).length > 0, {
          timeoutMs: 30_000,
          intervalMs: 50,
          message: 'restic took its lock',
        });
        run.kill(signal);
        const result = await run;
        assert.equal(result.exitCode, code, String(result.stderr));
        const prom = await readJobProm(join(base, 'text'));
        assert.equal(metricValue(prom, 'backup_running'), 0);
        assert.equal(metricValue(prom, 'backup_last_run_success'), 0);
        assert.deepEqual(await heldLocks(join(base, 'state')), []);
        await rm(slow);
        const next = await runCronvault(['run', 'db', '--config', config]);
        assert.equal(next.exitCode, 0, next.stderr);
        assert.doesNotMatch(next.stderr, /locked/);
        assert.equal((await listSnapshots(repo, '--tag', 'cronvault:db')).length >= 1, true);
        const left = await resticLocks();
        assert.deepEqual(
          left,
          [],
          `no restic lock is left: ${await Promise.all(left.map((id) => restic(repo, ['cat', 'lock', id]).catch(String)))}\n${next.stderr}`,
        );
      });
    }
  });
});
