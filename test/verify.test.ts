// `cronvault verify` against real restic repositories: a healthy repository passes, a damaged
// pack fails with the job and the reason, the drill tells a file changed in the source since
// the snapshot (fine) from a restored file that differs from the snapshot (a fault), a
// truncated PostgreSQL dump fails its validator, and the drill's private directory is gone
// after a pass, a failure and a SIGTERM. The backup's own metrics stay the backup's.

import assert from 'node:assert/strict';
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { createRepository, metricValue, type TestRepository } from './support/restic.ts';
import { waitFor } from './support/services.ts';

const drillDouble = join(projectRoot, 'test', 'fixtures', 'bin', 'restic-drill-double');
const pgDump = join(projectRoot, 'test', 'fixtures', 'verify', 'small.pgdump');

describe('cronvault verify', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir('cronvault-verify-');
  });
  after(async () => tmp.cleanup());

  /** A config in its own directory (state/, text/), one job per entry. */
  const setup = async (name: string, jobs: Record<string, string[]>) => {
    const dir = join(tmp.dir, name);
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'config.yml');
    const lines = [`state_dir: ${join(dir, 'state')}`, `metrics: { textfile_dir: ${join(dir, 'text')} }`, 'jobs:'];
    for (const [job, keys] of Object.entries(jobs)) lines.push(`  ${job}:`, ...keys.map((key) => `    ${key}`));
    await writeFile(file, `${lines.join('\n')}\n`);
    return {
      config: file,
      verifyProm: (job: string) => readFile(join(dir, 'text', `cronvault-verify_${job}.prom`), 'utf8'),
      backupProm: (job: string) => readFile(join(dir, 'text', `cronvault_${job}.prom`), 'utf8'),
      drillDirs: () => readdir(join(dir, 'state', 'drill')).catch(() => [] as string[]),
    };
  };

  const sourceTree = async (name: string) => {
    const source = join(tmp.dir, `${name}-source`);
    await mkdir(join(source, 'sub'), { recursive: true });
    for (let i = 1; i <= 3; i += 1) await writeFile(join(source, `file${i}.bin`), Buffer.alloc(2000 + i, i));
    await writeFile(join(source, 'sub', 'notes[1].txt'), 'glob characters in a name\n');
    return source;
  };

  /** `status` as a table (no colour: not a terminal) and the first job's `verify` from `status --json`. */
  const statusOf = async (config: string) => {
    const table = await runCronvault(['status', '-c', config]);
    const json = await runCronvault(['status', '--json', '-c', config]);
    const report = JSON.parse(json.stdout) as {
      jobs: { verify: { cron: string; success: boolean | null; filesChecked: number | null } | null }[];
    };
    return { exitCode: table.exitCode, table: table.stdout, verify: report.jobs[0]!.verify };
  };

  /** The schedule of the job's `cronvault verify` line in `cron --json`. */
  const verifyCronLine = async (config: string, job: string) => {
    const cron = JSON.parse((await runCronvault(['cron', '--json', '-c', config])).stdout) as { lines: string[] };
    const line = cron.lines.find((l) => l.includes(` verify ${job} `))!;
    return line.split(' ').slice(0, 5).join(' ');
  };

  const pathJob = (source: string, repo: TestRepository, extra: string[] = []) => [
    `path: ${source}`,
    `repository: ${repo.repository}`,
    `password_file: ${repo.passwordFile}`,
    'retention: none',
    ...extra,
  ];

  it('passes a healthy repository, and a file changed in the source since the snapshot is no mismatch', async () => {
    const repo = await createRepository(tmp.dir, 'healthy-repo');
    const source = await sourceTree('healthy');
    const env = await setup('healthy', {
      files: pathJob(source, repo, ['verify: { read_data: rotate, rotate_over: 3 }']),
    });
    assert.equal((await runCronvault(['run', 'files', '-c', env.config, '-q'])).exitCode, 0);
    // Changed after the snapshot: new content, new size, new mtime.
    await writeFile(join(source, 'file1.bin'), 'edited since the backup\n');
    const result = await runCronvault(['verify', 'files', '-c', env.config, '--json']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, /restic check --read-data-subset 1\/3: no errors found/);
    const prom = await env.verifyProm('files');
    assert.equal(metricValue(prom, 'backup_last_verify_success'), 1);
    assert.equal(metricValue(prom, 'backup_last_verify_files_checked'), 4);
    assert.ok(metricValue(prom, 'backup_last_verify_success_timestamp_seconds')! > 0);
    assert.ok(metricValue(prom, 'backup_last_verify_start_timestamp_seconds')! > 0);
    assert.ok(metricValue(prom, 'backup_last_verify_duration_seconds')! > 0);
    assert.equal(metricValue(prom, 'backup_verify_schedule_max_interval_seconds'), 7 * 86_400);
    assert.match(prom, /backup_last_verify_success\{backup="files"\} 1/);
    const report = JSON.parse(result.stdout) as { jobs: { ok: boolean; drill: { filesChecked: number } }[] };
    assert.equal(report.jobs[0]!.drill.filesChecked, 4);
    assert.deepEqual(await env.drillDirs(), [], 'the drill directory is removed after a pass');
    // The next run reads the next part of the data.
    const state = JSON.parse(await readFile(join(tmp.dir, 'healthy', 'state', 'verify', 'files.json'), 'utf8'));
    assert.equal(state.rotateNext, 2);
    // status reads the verify state back: VERIFIED "ok", and the drawn time `cron` installs.
    const status = await statusOf(env.config);
    assert.equal(status.exitCode, 0, status.table);
    assert.match(status.table, /^ {3}files .* ok just now$/m);
    assert.equal(status.verify?.success, true);
    assert.equal(status.verify?.filesChecked, 4);
    assert.equal(status.verify?.cron, await verifyCronLine(env.config, 'files'));
  });

  it('fails a drill whose restored file differs from the snapshot record, and removes the directory', async () => {
    const repo = await createRepository(tmp.dir, 'tamper-repo');
    const source = await sourceTree('tamper');
    const env = await setup('tamper', {
      files: pathJob(source, repo, [`binary: ${drillDouble}`, 'env: { DRILL_TAMPER: "1" }', 'verify: { sample: 2 }']),
    });
    assert.equal((await runCronvault(['run', 'files', '-c', env.config, '-q'])).exitCode, 0);
    const result = await runCronvault(['verify', 'files', '-c', env.config]);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /cronvault\[files\].*restored with content that differs from the snapshot's record/);
    assert.equal(metricValue(await env.verifyProm('files'), 'backup_last_verify_success'), 0);
    assert.equal(metricValue(await env.verifyProm('files'), 'backup_last_verify_success_timestamp_seconds'), 0);
    assert.deepEqual(await env.drillDirs(), [], 'the drill directory is removed after a failure');
    // status: the job needs attention, with the verify's reason.
    const status = await statusOf(env.config);
    assert.equal(status.exitCode, 1);
    assert.match(status.table, /^! +files .* FAILED just now$/m);
    assert.match(status.table, /! files: last verify failed: .*differs from the snapshot's record/);
    assert.equal(status.verify?.success, false);
  });

  it('fails on a corrupted pack with the job and the reason, leaving the backup outcome its own', async () => {
    const repo = await createRepository(tmp.dir, 'corrupt-repo');
    const source = await sourceTree('corrupt');
    const env = await setup('corrupt', { photos: pathJob(source, repo, ['verify: { read_data: 100% }']) });
    assert.equal((await runCronvault(['run', 'photos', '-c', env.config, '-q'])).exitCode, 0);
    // Flip bytes in the middle of every pack file under data/.
    for (const sub of await readdir(join(repo.repository, 'data'))) {
      for (const pack of await readdir(join(repo.repository, 'data', sub))) {
        const file = join(repo.repository, 'data', sub, pack);
        const { size } = await stat(file);
        const handle = await open(file, 'r+');
        await handle.write(Buffer.from('corrupted!'), 0, 10, Math.floor(size / 2));
        await handle.close();
      }
    }
    const result = await runCronvault(['verify', '--all', '-c', env.config]);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(
      result.stderr,
      /cronvault\[photos\].*verify FAILED.*restic check --read-data-subset 100% found the repository damaged/,
    );
    assert.equal(metricValue(await env.verifyProm('photos'), 'backup_last_verify_success'), 0);
    assert.equal(
      metricValue(await env.backupProm('photos'), 'backup_last_run_success'),
      1,
      'the backup still succeeded',
    );
    assert.deepEqual(await env.drillDirs(), []);
  });

  it('fails the drill of a truncated PostgreSQL custom dump, and passes the whole one', async () => {
    const repo = await createRepository(tmp.dir, 'pg-repo');
    const dbJob = (command: string) => [
      `command: ${JSON.stringify(command)}`,
      `repository: ${repo.repository}`,
      `password_file: ${repo.passwordFile}`,
      'retention: none',
      'verify: { validator: pg_restore }',
    ];
    const env = await setup('pg', { whole: dbJob(`cat ${pgDump}`), cut: dbJob(`head -c 60000 ${pgDump}`) });
    assert.equal((await runCronvault(['run', '--all', '-c', env.config, '-q'])).exitCode, 0);
    const whole = await runCronvault(['verify', 'whole', '-c', env.config]);
    assert.equal(whole.exitCode, 0, whole.stderr);
    assert.match(whole.stderr, /pg_restore read all \d+ bytes of the newest dump without error/);
    const cut = await runCronvault(['verify', 'cut', '-c', env.config]);
    assert.equal(cut.exitCode, 1, cut.stderr);
    assert.match(cut.stderr, /pg_restore rejected the newest dump \(60000 bytes.*could not read from input file/);
    assert.equal(metricValue(await env.verifyProm('cut'), 'backup_last_verify_success'), 0);
    assert.equal(metricValue(await env.verifyProm('whole'), 'backup_last_verify_files_checked'), 1);
    // Dropped from the config: `cleanup` removes its verify file and state with the rest.
    const kept = await setup('pg', { whole: dbJob(`cat ${pgDump}`) });
    const cleanup = await runCronvault(['cleanup', '-c', kept.config]);
    assert.equal(cleanup.exitCode, 0, cleanup.stderr);
    assert.match(cleanup.stderr, /cronvault-verify_cut\.prom/);
    await assert.rejects(env.verifyProm('cut'));
    await assert.rejects(stat(join(tmp.dir, 'pg', 'state', 'verify', 'cut.json')));
    assert.equal(metricValue(await env.verifyProm('whole'), 'backup_last_verify_success'), 1);
  });

  it('removes the drill directory when stopped by SIGTERM, and records no verdict', async () => {
    const repo = await createRepository(tmp.dir, 'term-repo');
    const source = await sourceTree('term');
    const env = await setup('term', {
      files: pathJob(source, repo, [`binary: ${drillDouble}`, 'env: { DRILL_RESTORE_SLEEP: "30" }']),
    });
    assert.equal((await runCronvault(['run', 'files', '-c', env.config, '-q'])).exitCode, 0);
    const subprocess = execa(
      process.execPath,
      [join(projectRoot, 'dist', 'cronvault.mjs'), 'verify', 'files', '-c', env.config],
      {
        reject: false,
        forceKillAfterDelay: false,
      },
    );
    let stderr = '';
    subprocess.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await waitFor(() => /restore drill: .* into (\S+)/.test(stderr), { timeoutMs: 20_000, intervalMs: 50 });
    const drillDir = /restore drill: .* into (\S+)/.exec(stderr)![1]!;
    assert.ok((await stat(drillDir)).isDirectory());
    assert.equal((await stat(drillDir)).mode & 0o777, 0o700, 'the drill directory is private');
    subprocess.kill('SIGTERM');
    const result = await subprocess;
    assert.equal(result.exitCode, 143, String(result.stderr));
    assert.deepEqual(await env.drillDirs(), [], 'the drill directory is removed after SIGTERM');
    await assert.rejects(env.verifyProm('files'), 'an interrupted verify is no verdict');
  });

  it("lists the snapshots a changed path left out of retention's reach, with the command that forgets them", async () => {
    const repo = await createRepository(tmp.dir, 'moved-repo');
    const before = await sourceTree('moved-before');
    const after = await sourceTree('moved-after');
    const first = await setup('moved', { data: pathJob(before, repo) });
    assert.equal((await runCronvault(['run', 'data', '-c', first.config, '-q'])).exitCode, 0);
    const second = await setup('moved', { data: pathJob(after, repo) });
    assert.equal((await runCronvault(['run', 'data', '-c', second.config, '-q'])).exitCode, 0);
    const check = await runCronvault(['check', '-c', second.config]);
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    assert.match(
      check.stdout,
      new RegExp(
        `1 snapshot\\(s\\) under another path \\(${before}\\).*restic -r ${repo.repository} forget --prune [0-9a-f]{8}`,
      ),
    );
  });

  it('refuses a bad verify key with file, line and key', async () => {
    const env = await setup('bad', {
      x: ['path: /srv', 'repository: /srv/r', 'password_file: /etc/p', 'verify: { read_data: 5 percent }'],
    });
    const result = await runCronvault(['verify', 'x', '-c', env.config]);
    assert.equal(result.exitCode, 2);
    assert.match(
      result.stderr,
      /config\.yml:8: jobs\.x\.verify\.read_data: expected none, a share of the data like "5%"/,
    );
  });
});
