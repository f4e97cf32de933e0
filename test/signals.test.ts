// Stopping a run (Ctrl-C at a shell, SIGTERM from a shutdown) ends it cleanly: the engine is
// stopped, the run is recorded as failed and no longer running, and the lock is released.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { access, chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cronvaultBin, makeTempDir, projectRoot } from './support/cli.ts';
import { metricValue, readJobProm } from './support/restic.ts';

describe('signals', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`exits ${code} on ${signal}, recording a failed, finished run and releasing the lock`, async () => {
      const base = join(tmp.dir, signal);
      await mkdir(join(base, 'fake'), { recursive: true });
      await mkdir(join(base, 'data'));
      await writeFile(join(base, 'p'), 'pw\n');
      await chmod(join(base, 'p'), 0o600);
      const run = execa(process.execPath, [cronvaultBin, 'run', '--path', join(base, 'data'), '--engine', 'duplicati', '--repository', 'file:///x',
        '--password-file', join(base, 'p'), '--retention', 'none', '--textfile-dir', join(base, 'text'), '--state-dir', join(base, 'state'),
        '--binary', join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli')], {
        reject: false,
        env: { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: join(base, 'fake'), FAKE_DUPLICATI_SLEEP_MS: '20000' },
      });
      // Wait until the engine has been started (it records its call first).
      for (let i = 0; i < 200 && !(await access(join(base, 'fake', 'calls.jsonl')).then(() => true, () => false)); i += 1) await new Promise((r) => setTimeout(r, 50));
      run.kill(signal);
      const result = await run;
      assert.equal(result.exitCode, code, String(result.stderr));
      assert.match(String(result.stderr), new RegExp(`interrupted by ${signal}`));
      const prom = await readJobProm(join(base, 'text'));
      assert.equal(metricValue(prom, 'backup_running'), 0);
      assert.equal(metricValue(prom, 'backup_last_run_success'), 0);
      assert.equal(metricValue(prom, 'backup_last_exit_code'), code);
      assert.deepEqual(await readdir(join(base, 'state', 'locks')), []);
    });
  }

  it('stops a run at its timeout, recording exit code 124 and a failed run', async () => {
    const base = join(tmp.dir, 'timeout');
    await mkdir(join(base, 'fake'), { recursive: true });
    await mkdir(join(base, 'data'));
    await writeFile(join(base, 'p'), 'pw\n');
    await chmod(join(base, 'p'), 0o600);
    const result = await execa(process.execPath, [cronvaultBin, 'run', '--path', join(base, 'data'), '--engine', 'duplicati', '--repository', 'file:///x',
      '--password-file', join(base, 'p'), '--retention', 'none', '--textfile-dir', join(base, 'text'), '--state-dir', join(base, 'state'), '--timeout', '1s',
      '--binary', join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli')], {
      reject: false,
      env: { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: join(base, 'fake'), FAKE_DUPLICATI_SLEEP_MS: '20000' },
    });
    assert.equal(result.exitCode, 1, String(result.stderr));
    assert.match(String(result.stderr), /stopped after the job's timeout of 1 s/);
    const prom = await readJobProm(join(base, 'text'));
    assert.equal(metricValue(prom, 'backup_last_exit_code'), 124);
    assert.equal(metricValue(prom, 'backup_last_run_attempts'), 1);
    assert.equal(metricValue(prom, 'backup_running'), 0);
  });
});
