// Job shapes beyond a plain path: a repository created on first run, a database dump piped
// through restic --stdin, and a metrics directory that cannot be written.

import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { makeTempDir, runCronvault } from './support/cli.ts';
import { createRepository, listSnapshots, metricValue, readJobProm, restic } from './support/restic.ts';

describe('restic job shapes', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  const writeConfig = async (name: string, lines: string[]) => {
    const file = join(tmp.dir, `${name}.yml`);
    await writeFile(
      file,
      [
        `state_dir: ${join(tmp.dir, name, 'state')}`,
        `metrics: { textfile_dir: ${join(tmp.dir, name, 'text')} }`,
        ...lines,
        '',
      ].join('\n'),
    );
    return file;
  };

  it('creates a missing repository on the first run when init is true', async () => {
    const pass = join(tmp.dir, 'init.pass');
    await writeFile(pass, 'fresh\n');
    await chmod(pass, 0o600);
    const data = join(tmp.dir, 'init-data');
    await mkdir(data);
    await writeFile(join(data, 'f'), 'first');
    const repository = join(tmp.dir, 'init-repo');
    const config = await writeConfig('init', [
      'jobs:',
      '  fresh:',
      `    path: ${data}`,
      `    repository: ${repository}`,
      `    password_file: ${pass}`,
      '    retention: none',
      '    init: true',
    ]);
    const result = await runCronvault(['run', 'fresh', '--config', config]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, /repository does not exist yet; creating it \(init: true\)/);
    assert.equal(
      (await listSnapshots({ env: { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD_FILE: pass } })).length,
      1,
    );
  });

  it("stores a command's output as one file and removes the snapshot of a command that failed", async () => {
    const repo = await createRepository(tmp.dir, 'dump-repo');
    const config = await writeConfig('dump', [
      'defaults:',
      `  repository: ${repo.repository}`,
      `  password_file: ${repo.passwordFile}`,
      '  retention: none',
      '  retry: { attempts: 2, min_delay: 10ms, max_delay: 20ms }',
      'jobs:',
      '  appdb:',
      '    command: "printf \'CREATE TABLE t (id int);\\n\'"',
      '    stdin_filename: appdb.sql',
      '  brokendb:',
      '    command: "printf partial; exit 3"',
    ]);
    const ok = await runCronvault(['run', 'appdb', '--config', config]);
    assert.equal(ok.exitCode, 0, ok.stderr);
    const [snapshot] = await listSnapshots(repo, '--tag', 'cronvault:appdb');
    assert.ok(snapshot, 'a snapshot of the dump exists');
    assert.equal(await restic(repo, ['dump', snapshot.id, '/appdb.sql']), 'CREATE TABLE t (id int);');
    const prom = await readFile(join(tmp.dir, 'dump', 'text', 'cronvault_appdb.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_run_success'), 1);
    // A command job has no path: its backup_job_info says "-".
    assert.match(
      await readFile(join(tmp.dir, 'dump', 'text', 'cronvault_jobs.prom'), 'utf8'),
      /backup_job_info\{backup="appdb",engine="restic",path="-"/,
    );

    const broken = await runCronvault(['run', 'brokendb', '--config', config]);
    assert.equal(broken.exitCode, 1);
    assert.match(
      broken.stderr,
      /command "printf partial; exit 3" failed with exit 3; its partial snapshot was removed/,
    );
    assert.deepEqual(
      await listSnapshots(repo, '--tag', 'cronvault:brokendb'),
      [],
      'no truncated dump is left to restore',
    );
  });

  it('reports a metrics directory it cannot write, still backs up, and exits 1 so cron mails it', async () => {
    const repo = await createRepository(tmp.dir, 'nometrics-repo');
    const data = join(tmp.dir, 'nometrics-data');
    await mkdir(data);
    await writeFile(join(data, 'f'), 'x');
    const blocker = join(tmp.dir, 'not-a-dir');
    await writeFile(blocker, 'a file where the textfile directory should be');
    const result = await runCronvault([
      'run',
      '--path',
      data,
      '--repository',
      repo.repository,
      '--password-file',
      repo.passwordFile,
      '--retention',
      'none',
      '--textfile-dir',
      join(blocker, 'text'),
      '--state-dir',
      join(tmp.dir, 'nometrics-state'),
    ]);
    // The backup itself succeeded, but nothing would notice it: a failed metrics write exits 1.
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /cannot write metrics: .*not-a-dir\/text/);
    assert.match(result.stderr, /backup succeeded/);
    assert.equal((await listSnapshots(repo)).length, 1);
  });

  it('refuses a second path whose derived job name collides with the first, touching nothing of it', async () => {
    const repo = await createRepository(tmp.dir, 'collide-repo');
    const first = join(tmp.dir, 'col', 'a_b');
    const second = join(tmp.dir, 'col', 'a', 'b');
    await mkdir(first, { recursive: true });
    await mkdir(second, { recursive: true });
    const dirs = [
      '--retention',
      '1D:1h',
      '--textfile-dir',
      join(tmp.dir, 'col-text'),
      '--state-dir',
      join(tmp.dir, 'col-state'),
    ];
    const common = ['--repository', repo.repository, '--password-file', repo.passwordFile, ...dirs];
    assert.equal((await runCronvault(['run', '--path', first, ...common])).exitCode, 0);
    const before = await readJobProm(join(tmp.dir, 'col-text'));
    const clash = await runCronvault(['run', '--path', second, ...common]);
    assert.equal(clash.exitCode, 2);
    assert.match(
      clash.stderr,
      /job name \S+_col_a_b already belongs to .*col\/a_b, not .*col\/a\/b; name this job explicitly/,
    );
    const after = await readJobProm(join(tmp.dir, 'col-text'));
    assert.equal(after, before, "the first job's metrics are untouched");
    assert.equal((await listSnapshots(repo)).length, 1);
  });

  it('retries retention while another process holds a lock on the repository', async () => {
    const repo = await createRepository(tmp.dir, 'locked-repo');
    const data = join(tmp.dir, 'locked-data');
    await mkdir(data);
    await writeFile(join(data, 'f'), 'x');
    const config = await writeConfig('locked', [
      'defaults:',
      `  repository: ${repo.repository}`,
      `  password_file: ${repo.passwordFile}`,
      'jobs:',
      '  held:',
      `    path: ${data}`,
      '    retention: "1D:1h"',
      '    retry: { attempts: 20, min_delay: 500ms, max_delay: 500ms }',
    ]);
    assert.equal((await runCronvault(['run', 'held', '--config', config])).exitCode, 0);
    // A backup reading standard input holds its (shared) lock until the input ends; forget
    // needs an exclusive one.
    const holder = execa('restic', ['backup', '--stdin', '--stdin-filename', 'slow.txt', '--host', 'other'], {
      env: repo.env,
      stdin: 'pipe',
      reject: false,
    });
    holder.stdin!.write('partial ');
    await new Promise((r) => setTimeout(r, 1500));
    const run = runCronvault(['run', 'held', '--config', config]);
    await new Promise((r) => setTimeout(r, 4000));
    holder.stdin!.end('done\n');
    await holder;
    const result = await run;
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, /retention: attempt 2\/20 in .*: repository is locked by another process/);
    const prom = await readFile(join(tmp.dir, 'locked', 'text', 'cronvault_held.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_retention_success'), 1);
  });
});
