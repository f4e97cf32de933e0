// node_exporter's textfile collector merges every cronvault file: twenty jobs, one host, no
// scrape error. This is what breaks when HELP/TYPE lines differ between files.

import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jobNameFromPath } from '../src/job-name.ts';
import { makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { type Service, startNodeExporter } from './support/services.ts';

const JOBS = 20;

describe('node_exporter textfile collector', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let exporter: Service | undefined;
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => {
    await exporter?.stop();
    await tmp.cleanup();
  });

  it('serves the series of 20 jobs written by `run --all` with node_textfile_scrape_error 0', async () => {
    const fake = join(tmp.dir, 'fake');
    await mkdir(fake);
    const pass = join(tmp.dir, 'pass');
    await writeFile(pass, 'secret\n');
    await chmod(pass, 0o600);
    // Every third job fails for good (duplicati exit 200), so success and failure files mix.
    const jobs = Array.from(
      { length: JOBS },
      (_, i) =>
        `  job${i}:\n    path: ${join(tmp.dir, `data${i}`)}\n${i % 2 ? '    schedule: "0 */6 * * *"\n' : ''}${i % 3 === 0 ? '    env: { FAKE_DUPLICATI_CODES: "200" }\n' : ''}`,
    );
    const config = join(tmp.dir, 'config.yml');
    await writeFile(
      config,
      [
        `state_dir: ${join(tmp.dir, 'state')}`,
        `metrics: { textfile_dir: ${join(tmp.dir, 'text')} }`,
        'defaults:',
        '  engine: duplicati',
        '  repository: file:///mnt/backup',
        `  password_file: ${pass}`,
        '  retention: "1W:1D,4W:1W,12M:1M"',
        `  binary: ${join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli')}`,
        'jobs:',
        ...jobs,
      ].join('\n'),
    );
    for (let i = 0; i < JOBS; i += 1) await mkdir(join(tmp.dir, `data${i}`));
    const result = await runCronvault(['run', '--all', '--quiet', '--config', config], {
      env: { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: fake },
    });
    assert.equal(result.exitCode, 1, 'run --all fails when any job failed');
    const failedJobs = Array.from({ length: JOBS }, (_, i) => i).filter((i) => i % 3 === 0);
    assert.deepEqual(
      result.stderr
        .split('\n')
        .filter((l) => l.includes('error: backup failed'))
        .map((l) => /\[(job\d+)\]/.exec(l)?.[1]),
      failedJobs.map((i) => `job${i}`),
      '--quiet prints the failures only',
    );
    assert.doesNotMatch(result.stderr, /succeeded/);
    // A job run by flags only, beside the config's jobs: its own file carries its backup_job_info,
    // and no series is written twice (which node_exporter would refuse).
    const loose = join(tmp.dir, 'loose');
    await mkdir(loose);
    const byFlags = await runCronvault(
      [
        'run',
        '--quiet',
        '--path',
        loose,
        '--engine',
        'duplicati',
        '--repository',
        'file:///mnt/backup',
        '--password-file',
        pass,
        '--retention',
        'none',
        '--binary',
        join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli'),
        '--textfile-dir',
        join(tmp.dir, 'text'),
        '--state-dir',
        join(tmp.dir, 'state'),
      ],
      { env: { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: fake } },
    );
    assert.equal(byFlags.exitCode, 0, byFlags.stderr);
    const looseName = jobNameFromPath(loose);

    exporter = await startNodeExporter({ textfileDir: join(tmp.dir, 'text') });
    const body = await (await fetch(`${exporter.url}/metrics`)).text();
    assert.match(body, /^node_textfile_scrape_error 0$/m);
    const successes = body.split('\n').filter((l) => l.startsWith('backup_last_run_success{backup="job'));
    assert.equal(successes.length, JOBS);
    for (const line of successes) {
      const [, index, value] = /^backup_last_run_success\{backup="job(\d+)"\} ([01])$/.exec(line) ?? [];
      assert.equal(Number(value), Number(index) % 3 === 0 ? 0 : 1, line);
    }
    assert.ok(body.split('\n').includes(`backup_last_run_success{backup="${looseName}"} 1`), body);
    const infos = body.split('\n').filter((l) => l.startsWith('backup_job_info{'));
    assert.equal(infos.length, JOBS + 1, infos.join('\n'));
    assert.ok(
      infos.some(
        (l) =>
          l.includes('backup="job1"') &&
          l.includes('engine="duplicati"') &&
          l.includes(`path="${join(tmp.dir, 'data1')}"`),
      ),
      infos.join('\n'),
    );
    assert.ok(
      infos.some((l) => l.includes(`backup="${looseName}"`) && l.includes(`path="${loose}"`)),
      infos.join('\n'),
    );
    // One schedule gap per scheduled job, from cronvault_jobs.prom only (not again in each job's file).
    assert.equal(
      body.split('\n').filter((l) => l.startsWith('backup_job_schedule_max_interval_seconds{')).length,
      JOBS / 2,
    );
    assert.match(body, /^backup_job_schedule_max_interval_seconds\{backup="job1"\} 21600$/m);
    const mtimes = body
      .split('\n')
      .filter((l) => l.startsWith('node_textfile_mtime_seconds{file=') && l.includes('cronvault_'));
    assert.equal(mtimes.length, JOBS + 2, 'one mtime per job file (the flags job too) plus cronvault_jobs.prom');

    // A series repeated across files fails the exporter's gathering on every scrape, which
    // node_textfile_scrape_error does not show: only its log and this counter do.
    assert.equal(
      body.split('\n').filter((l) => l.startsWith('cronvault_build_info{')).length,
      1,
      'build info once per host',
    );
    const again = await (await fetch(`${exporter.url}/metrics`)).text();
    assert.match(again, /^promhttp_metric_handler_errors_total\{cause="gathering"\} 0$/m);
    assert.doesNotMatch(exporter.output?.() ?? '', /was collected before/);
  });
});
