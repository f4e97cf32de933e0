// One run per job: cron may start a second run while the first is still going.

import assert from 'node:assert/strict';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { metricValue, readJobProm } from './support/restic.ts';

const fakeBin = join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli');

describe('per-job lock', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let args: string[];
  let fake: string;
  before(async () => {
    tmp = await makeTempDir();
    fake = join(tmp.dir, 'fake');
    await mkdir(fake);
    await mkdir(join(tmp.dir, 'data'));
    const pass = join(tmp.dir, 'p');
    await writeFile(pass, 'x\n');
    await chmod(pass, 0o600);
    args = [
      'run',
      '--path',
      join(tmp.dir, 'data'),
      '--engine',
      'duplicati',
      '--repository',
      'file:///r',
      '--password-file',
      pass,
      '--retention',
      'none',
      '--textfile-dir',
      join(tmp.dir, 'text'),
      '--state-dir',
      join(tmp.dir, 'state'),
      '--binary',
      fakeBin,
    ];
  });
  after(async () => tmp.cleanup());

  const lockFile = () =>
    join(
      tmp.dir,
      'state',
      'locks',
      `${join(tmp.dir, 'data')
        .slice(1)
        .replace(/[^A-Za-z0-9_.-]+/g, '_')}.lock`,
    );

  it('makes a second concurrent run exit 75 naming the holder, without touching its metrics', async () => {
    const first = runCronvault(args, {
      env: { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: fake, FAKE_DUPLICATI_SLEEP_MS: '4000' },
    });
    for (let i = 0; i < 100; i += 1) {
      if (
        await access(lockFile()).then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const second = await runCronvault(args, { env: { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: fake } });
    assert.equal(second.exitCode, 75);
    assert.match(second.stderr, /already running \(pid \d+, since \d{4}-\d\d-\d\dT/);
    const during = await readJobProm(join(tmp.dir, 'text'));
    assert.equal(metricValue(during, 'backup_running'), 1, 'the first run is still reported as running');
    const firstResult = await first;
    assert.equal(firstResult.exitCode, 0, firstResult.stderr);
    const history = (
      await readFile(
        join(
          tmp.dir,
          'state',
          'history',
          `${join(tmp.dir, 'data')
            .slice(1)
            .replace(/[^A-Za-z0-9_.-]+/g, '_')}.jsonl`,
        ),
        'utf8',
      )
    )
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { outcome: string; reason: string });
    assert.deepEqual(
      history.map((entry) => entry.outcome),
      ['skipped', 'success'],
      'the skipped run is recorded, then the finished one',
    );
    assert.match(history[0]!.reason, /already running \(pid \d+/);
  });

  it('takes over a lock left by a process that died', async () => {
    const deadProcess = execa('true');
    const deadPid = deadProcess.pid;
    await deadProcess;
    await mkdir(join(tmp.dir, 'state', 'locks'), { recursive: true });
    await writeFile(lockFile(), JSON.stringify({ pid: deadPid, since: '2026-01-01T00:00:00.000Z' }));
    const result = await runCronvault(args, { env: { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: fake } });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(
      await access(lockFile()).then(
        () => true,
        () => false,
      ),
      false,
      'lock released after the run',
    );
  });

  const startTimeOf = async (pid: number): Promise<string> => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
  };
  const bootId = async (): Promise<string> => (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();

  it('takes over a lock whose pid now belongs to another process (same pid, other start time)', async () => {
    // The test's own pid is alive; the lock says it was started at another time, as after pid reuse.
    assert.notEqual(await startTimeOf(process.pid), '1');
    await mkdir(join(tmp.dir, 'state', 'locks'), { recursive: true });
    await writeFile(
      lockFile(),
      JSON.stringify({ pid: process.pid, startTime: '1', bootId: await bootId(), since: '2026-01-01T00:00:00.000Z' }),
    );
    const result = await runCronvault(args, { env: { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: fake } });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `previous run \\(pid ${process.pid}, since 2026-01-01T00:00:00.000Z\\) ended without releasing its lock`,
      ),
    );
  });

  it('takes over a lock written before a reboot (other boot id), even if its pid and start time match a live process', async () => {
    await mkdir(join(tmp.dir, 'state', 'locks'), { recursive: true });
    await writeFile(
      lockFile(),
      JSON.stringify({
        pid: 1,
        startTime: await startTimeOf(1),
        bootId: '00000000-0000-0000-0000-000000000000',
        since: '2026-01-01T00:00:00.000Z',
      }),
    );
    const result = await runCronvault(args, { env: { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: fake } });
    assert.equal(result.exitCode, 0, result.stderr);
  });

  it('lets exactly one of 20 concurrent starters take a stale lock, in each of 20 rounds', async () => {
    const stateDir = join(tmp.dir, 'race');
    const job = 'raced';
    await mkdir(join(stateDir, 'locks'), { recursive: true });
    const workers = Array.from({ length: 20 }, () => {
      const child = execa(
        process.execPath,
        ['--import', 'tsx', join(projectRoot, 'test', 'fixtures', 'lock-worker.ts')],
        { cwd: projectRoot, stdin: 'pipe', stdout: 'pipe', stderr: 'inherit', reject: false, buffer: false },
      );
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      return {
        child,
        send: (line: string) => child.stdin!.write(`${line}\n`),
        next: async () => String((await lines.next()).value),
      };
    });
    try {
      for (let round = 1; round <= 20; round += 1) {
        const dead = execa('true');
        await dead;
        await writeFile(
          join(stateDir, 'locks', `${job}.lock`),
          JSON.stringify({ pid: dead.pid, since: '2026-01-01T00:00:00.000Z' }),
        );
        for (const worker of workers) worker.send(`acquire ${stateDir} ${job}`);
        const answers = await Promise.all(workers.map((worker) => worker.next()));
        const winners = answers.flatMap((answer, index) => (answer === 'won' ? [index] : []));
        assert.deepEqual(
          answers.filter((answer) => answer !== 'won' && answer !== 'locked'),
          [],
          'no starter failed otherwise',
        );
        assert.equal(winners.length, 1, `round ${round}: exactly one winner, got ${winners.length}`);
        workers[winners[0]!]!.send('release');
        assert.equal(await workers[winners[0]!]!.next(), 'released');
      }
    } finally {
      for (const worker of workers) worker.child.stdin!.end();
      await Promise.all(workers.map((worker) => worker.child));
    }
  });
});
