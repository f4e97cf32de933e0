// Hosts without node_exporter push the same series to a Pushgateway, grouped by host and job.

import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, runCronvault } from './support/cli.ts';
import { createRepository, metricValue, readJobProm } from './support/restic.ts';
import { freePort, type Service, startPushgateway } from './support/services.ts';

describe('Pushgateway', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let gateway: Service;
  before(async () => {
    tmp = await makeTempDir();
    gateway = await startPushgateway();
  });
  after(async () => {
    await gateway?.stop();
    await tmp?.cleanup();
  });

  it('receives every series of the run, grouped by host and job, as the textfile has them', async () => {
    const repo = await createRepository(tmp.dir);
    const data = join(tmp.dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'f'), 'pushed');
    const config = join(tmp.dir, 'config.yml');
    await writeFile(
      config,
      [
        `state_dir: ${join(tmp.dir, 'state')}`,
        `metrics: { textfile_dir: ${join(tmp.dir, 'text')}, pushgateway_url: "${gateway.url}/" }`,
        `defaults: { repository: ${repo.repository}, password_file: ${repo.passwordFile}, retention: none, hostname: db1.example.org }`,
        'jobs:',
        `  pgdata: { path: ${data}, schedule: "0 3 * * *" }`,
        '',
      ].join('\n'),
    );
    const result = await runCronvault(['run', 'pgdata', '--config', config]);
    assert.equal(result.exitCode, 0, result.stderr);
    const pushed = await (await fetch(`${gateway.url}/metrics`)).text();
    const line = pushed.split('\n').find((l) => l.startsWith('backup_last_run_success{'));
    assert.ok(line, pushed.slice(0, 500));
    for (const label of ['backup="pgdata"', 'instance="db1.example.org"', 'job="cronvault"'])
      assert.ok(line.includes(label), `${label} in ${line}`);
    assert.doesNotMatch(line, /engine=|path=/, 'engine and path are on backup_job_info only');
    assert.ok(line.endsWith(' 1'));
    // The group has its own backup_job_info, so the rules' and panels' joins find engine and path.
    const info = pushed.split('\n').find((l) => l.startsWith('backup_job_info{'));
    assert.ok(info, pushed.slice(0, 500));
    for (const label of [
      'backup="pgdata"',
      'engine="restic"',
      `path="${data}"`,
      'schedule="0 3 * * *"',
      'instance="db1.example.org"',
    ])
      assert.ok(info.includes(label), `${label} in ${info}`);
    const textfile = await readJobProm(join(tmp.dir, 'text'));
    const pushedStart = Number(
      pushed
        .split('\n')
        .find((l) => l.startsWith('backup_last_run_start_timestamp_seconds{'))!
        .split(' ')
        .pop(),
    );
    assert.equal(pushedStart, metricValue(textfile, 'backup_last_run_start_timestamp_seconds'));
    // The group stands alone (no jobs file on a Pushgateway): it carries the schedule's gap.
    assert.match(pushed, /backup_job_schedule_max_interval_seconds\{[^}]*backup="pgdata"[^}]*\} 86400/);
  });

  it('keeps both the run series and the verify series after run, verify and another run push', async () => {
    const repo = await createRepository(tmp.dir, 'verified');
    const data = join(tmp.dir, 'data-verified');
    await mkdir(data);
    await writeFile(join(data, 'f'), 'drilled');
    const config = join(tmp.dir, 'verified.yml');
    await writeFile(
      config,
      [
        `state_dir: ${join(tmp.dir, 'state-verified')}`,
        `metrics: { textfile_dir: ${join(tmp.dir, 'text-verified')}, pushgateway_url: "${gateway.url}" }`,
        `defaults: { repository: ${repo.repository}, password_file: ${repo.passwordFile}, retention: none, hostname: db2.example.org }`,
        'jobs:',
        `  drilled: { path: ${data}, schedule: "0 3 * * *", verify_schedule: "0 12 * * 0" }`,
        '',
      ].join('\n'),
    );
    const series = async (name: string): Promise<string[]> =>
      (await (await fetch(`${gateway.url}/metrics`)).text())
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) && l.includes('backup="drilled"'));
    for (const args of [['run'], ['verify'], ['run']]) {
      const result = await runCronvault([...args, 'drilled', '--config', config]);
      assert.equal(result.exitCode, 0, `${args[0]}: ${result.stderr}`);
    }
    const [verified] = await series('backup_last_verify_success');
    assert.ok(verified, 'the second run did not delete the verify series');
    for (const label of ['instance="db2.example.org"', 'job="cronvault"', 'command="verify"'])
      assert.ok(verified.includes(label), `${label} in ${verified}`);
    assert.ok(verified.endsWith(' 1'));
    const textfile = await readFile(join(tmp.dir, 'text-verified', 'cronvault-verify_drilled.prom'), 'utf8');
    for (const name of [
      'backup_last_verify_start_timestamp_seconds',
      'backup_last_verify_files_checked',
      'backup_last_verify_success_timestamp_seconds',
    ])
      assert.equal(Number((await series(name))[0]?.split(' ').pop()), metricValue(textfile, name), name);
    assert.match((await series('backup_verify_schedule_max_interval_seconds'))[0] ?? '', / 604800$/);
    const [run] = await series('backup_last_run_success');
    assert.ok(run, 'the verify did not delete the run series');
    assert.doesNotMatch(run, /command=/, 'the run has its own group');
    // The run's group says the job is verified, as cronvault_jobs.prom does on a node_exporter host.
    assert.match((await series('backup_job_verify_schedule_max_interval_seconds'))[0] ?? '', / 604800$/);
    assert.equal((await series('backup_job_info')).length, 1, 'one backup_job_info, in the run group');
  });

  it('reports an unreachable Pushgateway without failing the backup', async () => {
    const repo = await createRepository(tmp.dir, 'second');
    const data = join(tmp.dir, 'data2');
    await mkdir(data);
    await writeFile(join(data, 'f'), 'x');
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
      join(tmp.dir, 'text2'),
      '--state-dir',
      join(tmp.dir, 'state2'),
      '--pushgateway-url',
      `http://user:pushsecret@127.0.0.1:${await freePort()}`,
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, /could not push metrics to http:\/\/user:\*\*\*@127\.0\.0\.1:\d+/);
    assert.doesNotMatch(result.stderr, /pushsecret/);
    assert.equal(metricValue(await readJobProm(join(tmp.dir, 'text2')), 'backup_last_run_success'), 1);
  });

  it('refuses a Pushgateway URL that is not http(s), naming the key', async () => {
    const config = join(tmp.dir, 'bad.yml');
    await writeFile(
      config,
      'metrics:\n  pushgateway_url: pushgateway:9091\ndefaults: { repository: /r, password_file: /p, retention: none }\njobs:\n  a: { path: /a }\n',
    );
    const result = await runCronvault(['run', 'a', '--config', config]);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /bad\.yml:2: metrics\.pushgateway_url: expected an http:\/\/ or https:\/\/ URL/);
  });
});
