// Hosts without node_exporter push the same series to a Pushgateway, grouped by host and job.

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
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
    assert.match(pushed, /backup_schedule_max_interval_seconds\{[^}]*backup="pgdata"[^}]*\} 86400/);
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
