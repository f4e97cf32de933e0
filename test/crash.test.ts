// kill -9 of cronvault at any moment (OOM killer, a power cut of the process, an impatient
// operator) must cost at most that one run: the next run takes the dead run's job lock over
// (judged by pid, start time and boot id), stops the engine it orphaned, removes the stale
// restic lock with `restic unlock`, and backs up; no .prom or state file is ever torn; the
// repository stays consistent.

import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { cronvaultBin, makeTempDir, projectRoot, writeTestConfig } from './support/cli.ts';
import { createRepository, listSnapshots, restic, type TestRepository } from './support/restic.ts';
import { waitFor } from './support/services.ts';

const KILLS = 50;

/** Whether pid is a process that still runs (an unreaped zombie does not). */
const running = async (pid: number): Promise<boolean> => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
};

/** mulberry32: small seeded PRNG, so a failing sequence of delays can be replayed. */
const seeded = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

// Blank lines separate metric families.
const PROM_LINE =
  /^(|# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfNa]+)$/;

/** Every .prom file is whole: non-empty, newline-terminated, each line a sample or HELP/TYPE. */
const assertPromFilesWhole = async (dir: string, when: string): Promise<void> => {
  for (const name of (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.prom'))) {
    const text = await readFile(join(dir, name), 'utf8');
    assert.ok(text.length > 0 && text.endsWith('\n'), `${when}: ${name} is empty or cut off`);
    for (const line of text.trimEnd().split('\n')) assert.match(line, PROM_LINE, `${when}: ${name} has a torn line`);
  }
};

/** The job's state file and history parse as JSON (each history line on its own). */
const assertStateWhole = async (stateDir: string, when: string): Promise<void> => {
  for (const name of await readdir(join(stateDir, 'jobs')).catch(() => [] as string[])) {
    const text = await readFile(join(stateDir, 'jobs', name), 'utf8');
    assert.doesNotThrow(() => JSON.parse(text), `${when}: state ${name} is torn`);
  }
  for (const name of await readdir(join(stateDir, 'history')).catch(() => [] as string[])) {
    const text = await readFile(join(stateDir, 'history', name), 'utf8');
    assert.ok(text.endsWith('\n'), `${when}: history ${name} is cut off`);
    for (const line of text.trimEnd().split('\n'))
      assert.doesNotThrow(() => JSON.parse(line), `${when}: history ${name} is torn`);
  }
};

describe(`kill -9 at random moments (${KILLS} runs)`, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  let config: string;
  before(async () => {
    tmp = await makeTempDir();
    repo = await createRepository(tmp.dir);
    await mkdir(join(tmp.dir, 'data'));
    for (let i = 0; i < 5; i += 1) await writeFile(join(tmp.dir, 'data', `f${i}`), `file ${i}\n`.repeat(2000));
    config = await writeTestConfig(tmp.dir, [
      'jobs:',
      '  crashy:',
      `    path: ${join(tmp.dir, 'data')}`,
      `    repository: ${repo.repository}`,
      `    password_file: ${repo.passwordFile}`,
      // One per hour: every run's forget removes the previous snapshot, so kills
      // also land inside restic's exclusive lock.
      '    retention: "1D:1h"',
      '    retention_max_delete: 1',
      '    retry: { attempts: 3, min_delay: 100ms, max_delay: 300ms }',
    ]);
  });
  after(async () => tmp.cleanup());

  // Under a reaper, as under cron or systemd: this machine's PID 1 leaves killed orphans as
  // zombies, whose restic locks `restic unlock` would take for live ones.
  const reaper = join(projectRoot, 'test', 'fixtures', 'reaper.py');
  const run = () =>
    execa('python3', [reaper, process.execPath, cronvaultBin, 'run', 'crashy', '--config', config], { reject: false });
  /**
   * Starts a run and SIGKILLs cronvault (only cronvault, as the OOM killer would) after
   * delayMs; `killed` is false when the run ended first.
   */
  const runKilledAfter = async (delayMs: number) => {
    const subprocess = run();
    const pid = await new Promise<number>((resolve) =>
      subprocess.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().split('\n')[0]))),
    );
    await sleep(delayMs);
    let killed = true;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      killed = false;
    }
    // Gone once the reaper has reaped it; the engines it orphaned may still run.
    while (
      await readFile(`/proc/${pid}/stat`).then(
        () => true,
        () => false,
      )
    )
      await sleep(10);
    return { killed, finished: subprocess };
  };
  const changeData = (i: number) => writeFile(join(tmp.dir, 'data', 'f0'), `changed ${i}\n`.repeat(500 + i));

  it('the run after each kill proceeds, no file is ever torn, and restic check passes', async (t) => {
    const textDir = join(tmp.dir, 'text');
    const stateDir = join(tmp.dir, 'state');
    const started = Date.now();
    const first = await run();
    assert.equal(first.exitCode, 0, String(first.stderr));
    // Kills are spread over the length of a whole run: startup, backup, forget, metrics.
    const runMs = Date.now() - started;
    const random = seeded(20261202);
    let kills = 0;
    let completedAfterKill = 0;
    let previousKilled = false;
    const killedRuns: { when: string; finished: ReturnType<typeof run> }[] = [];
    // Delays reach a little past a whole run, so some runs finish on their own; a run killed
    // right after a kill shows what it printed until then.
    for (let i = 1; kills < KILLS; i += 1) {
      await changeData(i);
      const delayMs = Math.floor(random() * runMs * 1.25);
      const when: string = `run ${i} (kill at ${delayMs} ms${previousKilled ? ', right after a kill' : ''})`;
      const attempt = await runKilledAfter(delayMs);
      const { finished } = attempt;
      let { killed } = attempt;
      if (killed) {
        kills += 1;
        killedRuns.push({ when, finished });
        if (kills % 5 === 0) {
          // Every fifth kill the next run goes to the end, whatever the machine's speed.
          await assertPromFilesWhole(textDir, when);
          await assertStateWhole(stateDir, when);
          const next = await run();
          assert.equal(next.exitCode, 0, `the run after ${when} failed\n${String(next.stderr)}`);
          completedAfterKill += 1;
          killed = false;
        }
      } else {
        const result = await finished;
        assert.equal(result.exitCode, 0, `${when}: failed\n${String(result.stderr)}`);
        if (previousKilled) completedAfterKill += 1;
      }
      previousKilled = killed;
      await assertPromFilesWhole(textDir, when);
      await assertStateWhole(stateDir, when);
    }
    // The run after the last kill, to the end.
    const last = await run();
    assert.equal(last.exitCode, 0, String(last.stderr));
    let takeovers = 0;
    let orphansStopped = 0;
    for (const stderr of [
      ...(await Promise.all(
        killedRuns.map(async ({ when, finished }) => {
          const text = String((await finished).stderr);
          // Until it was killed, a run never stepped aside for a dead run's lock or failed on a stale restic lock.
          assert.doesNotMatch(text, /already running|backup failed|retention failed/, `${when}\n${text}`);
          return text;
        }),
      )),
      String(last.stderr),
    ]) {
      if (/ended without releasing its lock; taking it over/.test(stderr)) takeovers += 1;
      if (/stopping engine process group/.test(stderr)) orphansStopped += 1;
    }
    t.diagnostic(
      `${kills} kills, ${completedAfterKill} runs right after a kill ran to the end, ${takeovers} lock takeovers seen, ${orphansStopped} orphaned engine groups stopped`,
    );
    // (An engine orphaned by the kill mostly dies of SIGPIPE on its next write before the next
    // run starts; restic then leaves its lock behind, which that run's `restic unlock` removes.)
    await restic(repo, ['check']);
    assert.ok((await listSnapshots(repo, '--tag', 'cronvault:crashy')).length >= 1);
  });

  it("the run that takes over a killed run's lock stops the engine it orphaned, SIGKILLing one that ignores SIGINT", async () => {
    const base = join(tmp.dir, 'orphan');
    await mkdir(join(base, 'fake'), { recursive: true });
    await mkdir(join(base, 'data'));
    await writeFile(join(base, 'p'), 'pw\n', { mode: 0o600 });
    const args = [
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
      join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli'),
    ];
    const env = { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: join(base, 'fake') };
    // An engine that neither writes (so no SIGPIPE ends it) nor stops on SIGINT.
    const victim = execa(process.execPath, [cronvaultBin, ...args], {
      reject: false,
      env: { ...env, FAKE_DUPLICATI_SLEEP_MS: '120000', FAKE_DUPLICATI_IGNORE_SIGINT: '1' },
    });
    const orphan = await waitFor(
      async () =>
        (JSON.parse((await readFile(join(base, 'fake', 'calls.jsonl'), 'utf8')).split('\n')[0]!) as { pid: number })
          .pid,
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    // The lock records the engine's group before the engine is far along; wait for it.
    const lockRecord = async () => {
      const name = (await readdir(join(base, 'state', 'locks'))).find((file) => file.endsWith('.lock'));
      return name ? readFile(join(base, 'state', 'locks', name), 'utf8') : '';
    };
    await waitFor(async () => (await lockRecord()).includes(`"pid":${orphan}`), {
      timeoutMs: 30_000,
      intervalMs: 50,
      message: 'the lock records the engine',
    });
    victim.kill('SIGKILL');
    await victim;
    assert.equal(await running(orphan), true, 'the engine outlived cronvault');
    const next = await execa(process.execPath, [cronvaultBin, ...args], {
      reject: false,
      env: { ...env, FAKE_DUPLICATI_SLEEP_MS: '0' },
    });
    assert.equal(next.exitCode, 0, String(next.stderr));
    assert.match(String(next.stderr), new RegExp(`stopping engine process group ${orphan} left running by that run`));
    assert.equal(await running(orphan), false, 'the orphaned engine was killed');
  });
});
