// `cronvault cron`: the crontab lines an operator installs, with the same daily times the
// Ansible role draws for jobs that have no schedule.

import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { makeTempDir, runCronvault } from './support/cli.ts';

describe('cronvault cron', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let config: string;
  before(async () => {
    tmp = await makeTempDir();
    config = join(tmp.dir, 'config.yml');
    await writeFile(
      config,
      [
        `state_dir: ${join(tmp.dir, 'state')}`,
        `metrics: { textfile_dir: ${join(tmp.dir, 'text')} }`,
        'defaults: { repository: /srv/restic, password_file: /etc/cronvault/repo.pass, retention: none }',
        'jobs:',
        '  influxdb: { path: /var/lib/influxdb, schedule: "0 2 * * *" }',
        '  photos: { path: /srv/photos }',
        '',
      ].join('\n'),
    );
  });
  after(async () => tmp.cleanup());

  it('prints one line per job: its schedule, or the time the role would draw for the host', async () => {
    const result = await runCronvault(['cron', '--config', config, '--host', 'web1.example.org']);
    assert.equal(result.exitCode, 0, result.stderr);
    const lines = result.stdout.split('\n').filter((l) => l.includes(' run '));
    assert.deepEqual(lines[0], `0 2 * * * root /usr/local/bin/cronvault run influxdb --config ${config} --quiet`);
    const python = await execa('/usr/bin/python3', [
      '-c',
      'import random; s = random.Random("web1.example.org/photos").randrange(240); print(s % 60, 1 + s // 60)',
    ]);
    const [minute, hour] = python.stdout.split(' ');
    assert.equal(
      lines[1],
      `${minute} ${hour} * * * root /usr/local/bin/cronvault run photos --config ${config} --quiet`,
    );
    assert.equal(lines.length, 2);
  });

  it("adds each job's weekly verify line, at the time the role's filter draws", async () => {
    const result = await runCronvault(['cron', '--config', config, '--host', 'web1.example.org']);
    const lines = result.stdout.split('\n').filter((l) => l.includes(' verify '));
    assert.equal(lines.length, 2);
    const python = await execa('/usr/bin/python3', [
      '-c',
      'import random; s = random.Random("web1.example.org/photos/verify").randrange(7 * 360); d = s % 360; print(d % 60, 10 + d // 60, s // 360)',
    ]);
    const [minute, hour, weekday] = python.stdout.split(' ');
    assert.equal(
      lines[1],
      `${minute} ${hour} * * ${weekday} root /usr/local/bin/cronvault verify photos --config ${config} --quiet`,
    );
  });

  it('writes an absolute config path, since cron starts jobs in $HOME', async () => {
    const result = await runCronvault(['cron', '--config', relative(process.cwd(), config)]);
    assert.match(result.stdout, new RegExp(`run influxdb --config ${config} --quiet`));
  });

  it('installs the lines atomically into a cron file the real cron accepts the syntax of', async () => {
    const file = join(tmp.dir, 'cron.d', 'cronvault');
    await mkdir(join(tmp.dir, 'cron.d'));
    const result = await runCronvault(['cron', '--config', config, '--install', '--file', file]);
    assert.equal(result.exitCode, 0, result.stderr);
    // Two jobs, their weekly restore drills, and the weekly prune of their repository, which this
    // host prunes by default.
    assert.match(result.stdout, /wrote 5 lines to/);
    const text = await readFile(file, 'utf8');
    assert.equal((await stat(file)).mode & 0o777, 0o644);
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#') && !l.includes('='))) {
      assert.match(
        line,
        /^\S+ \S+ \S+ \S+ \S+ root \/usr\/local\/bin\/cronvault (run \S+|verify \S+|prune) --config \S+ --quiet$/,
      );
    }
    assert.match(
      await readFile(join(tmp.dir, 'text', 'cronvault_jobs.prom'), 'utf8'),
      /backup_job_info\{backup="photos"/,
    );
  });

  it('refuses to replace a cron file the Ansible role manages, unless forced', async () => {
    const file = join(tmp.dir, 'managed');
    const managed = '#Ansible: cronvault influxdb\n0 2 * * * root /usr/local/bin/cronvault run influxdb --quiet\n';
    await writeFile(file, managed);
    const refused = await runCronvault(['cron', '--config', config, '--install', '--file', file]);
    assert.equal(refused.exitCode, 2);
    assert.match(refused.stderr, /is managed by Ansible .*rerun the role instead, or pass --force/);
    assert.equal(await readFile(file, 'utf8'), managed);
    const forced = await runCronvault(['cron', '--config', config, '--install', '--file', file, '--force']);
    assert.equal(forced.exitCode, 0, forced.stderr);
    assert.doesNotMatch(await readFile(file, 'utf8'), /#Ansible/);
  });

  it('refuses a file name in /etc/cron.d that cron would ignore', async () => {
    const result = await runCronvault([
      'cron',
      '--config',
      config,
      '--install',
      '--file',
      '/etc/cron.d/cronvault.cron',
    ]);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /cron ignores files in \/etc\/cron\.d whose names contain a dot/);
  });
});
