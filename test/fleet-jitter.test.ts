// Jitter across a fleet: 1,000 hosts × 10 jobs without a schedule get daily times that no
// minute of the 1:00–4:59 window crowds (at most twice the mean), drawn by the code path of
// `cronvault cron --host` and, bit for bit, by the Ansible role's filter.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { jitteredSchedule } from '../src/schedule/index.ts';
import { makeTempDir, projectRoot, runCronvault, writeTestConfig } from './support/cli.ts';

const SITES = ['fra', 'ams', 'par', 'lon', 'nyc'];
const ROLES = ['web', 'db', 'app', 'files'];
/** Inventory-style names, as the role draws for: fra-web-001.example.org ... */
const HOSTS = Array.from(
  { length: 1000 },
  (_, i) =>
    `${SITES[i % SITES.length]}-${ROLES[Math.floor(i / 5) % ROLES.length]}-${String(i).padStart(3, '0')}.example.org`,
);
const JOBS = ['etc', 'home', 'postgres', 'mysql', 'srv', 'mail', 'www', 'influxdb', 'grafana', 'docker'];

describe('jitter across a fleet of 1,000 hosts × 10 jobs', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  const schedules = HOSTS.flatMap((host) => JOBS.map((job) => jitteredSchedule(host, job)));

  before(async () => {
    tmp = await makeTempDir('cronvault-jitter-');
  });
  after(async () => tmp?.cleanup());

  it('no minute holds more than twice the mean, and every job lands in 1:00–4:59', () => {
    const perMinute = new Map<string, number>();
    for (const schedule of schedules) {
      const [minute, hour, ...rest] = schedule.split(' ');
      assert.deepEqual(rest, ['*', '*', '*'], schedule);
      assert.ok(['1', '2', '3', '4'].includes(hour!), schedule);
      perMinute.set(`${hour}:${minute}`, (perMinute.get(`${hour}:${minute}`) ?? 0) + 1);
    }
    const mean = schedules.length / 240;
    const busiest = Math.max(...perMinute.values());
    assert.ok(busiest <= 2 * mean, `the busiest minute holds ${busiest} jobs, the mean is ${mean.toFixed(1)}`);
    assert.equal(perMinute.size, 240, 'every minute of the window is used');
  });

  it('`cronvault cron --host` prints exactly these times', async () => {
    const config = await writeTestConfig(tmp.dir, [
      'jobs:',
      ...JOBS.flatMap((job) => [
        `  ${job}:`,
        `    path: /srv/${job}`,
        '    repository: /srv/repo',
        `    password_file: ${join(tmp.dir, 'pass')}`,
        '    retention: none',
      ]),
    ]);
    for (const host of [HOSTS[0]!, HOSTS[999]!]) {
      const result = await runCronvault(['cron', '--config', config, '--host', host]);
      assert.equal(result.exitCode, 0, result.stderr);
      const times = result.stdout
        .split('\n')
        .filter((line) => line.includes(' run '))
        .map((line) => line.split(' ').slice(0, 5).join(' '));
      assert.deepEqual(
        times,
        JOBS.map((job) => jitteredSchedule(host, job)),
      );
    }
  });

  it("the Ansible role's filter draws the same 10,000 times", async () => {
    const script = [
      'import json, sys',
      `sys.path.insert(0, ${JSON.stringify(join(projectRoot, 'ansible', 'roles', 'backup', 'filter_plugins'))})`,
      'from cronvault import jitter_schedule',
      'hosts, jobs = json.load(sys.stdin)',
      'print(json.dumps([jitter_schedule(h, j, [1, 2, 3, 4]) for h in hosts for j in jobs]))',
    ].join('\n');
    const result = await execa('/usr/bin/python3', ['-c', script], { input: JSON.stringify([HOSTS, JOBS]) });
    assert.deepEqual(JSON.parse(result.stdout), schedules);
  });
});
