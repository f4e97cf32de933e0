// `cronvault systemd`: the generated units pass systemd's own checker, and their OnCalendar=
// values fire at the very minutes the job's cron schedule does, as systemd itself computes them.

import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { nextRun, parseSchedule } from '../src/schedule/index.ts';
import { toOnCalendar } from '../src/systemd-calendar.ts';
import { cronvaultBin, makeTempDir, runCronvault } from './support/cli.ts';

const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

/** The next `count` times (Unix seconds) systemd computes for all the expressions together. */
const systemdTimes = async (expressions: string[], baseSeconds: number, count: number): Promise<number[]> => {
  const result = await execa(
    SYSTEMD_ANALYZE,
    ['calendar', `--iterations=${count}`, `--base-time=@${baseSeconds}`, ...expressions],
    { env: { TZ: 'UTC' } },
  );
  const times = [
    ...result.stdout.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) UTC/g),
  ].map((m) => Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000);
  assert.ok(times.length >= count, `systemd-analyze printed too few times:\n${result.stdout}`);
  return [...new Set(times)].sort((a, b) => a - b).slice(0, count);
};

const cronTimes = (source: string, baseSeconds: number, count: number): number[] => {
  const schedule = parseSchedule(source);
  const times: number[] = [];
  let after = baseSeconds;
  while (times.length < count) {
    const next = nextRun(schedule, after, 'utc');
    assert.ok(next !== undefined, `${source} has no next run`);
    times.push(next);
    after = next;
  }
  return times;
};

const iso = (seconds: number[]): string[] => seconds.map((s) => new Date(s * 1000).toISOString());

describe('cron schedules as OnCalendar=', () => {
  it('translates the common shapes to the expressions an operator would write', () => {
    assert.deepEqual(toOnCalendar('*/15 * * * *'), ['*-*-* *:00/15:00']);
    assert.deepEqual(toOnCalendar('5 * * * *'), ['*-*-* *:05:00']);
    assert.deepEqual(toOnCalendar('30 2 * * *'), ['*-*-* 02:30:00']);
    assert.deepEqual(toOnCalendar('0 3 * * 1-5'), ['Mon..Fri *-*-* 03:00:00']);
    assert.deepEqual(toOnCalendar('0 4 * * 7'), ['Sun *-*-* 04:00:00']);
    assert.deepEqual(toOnCalendar('@monthly'), ['*-*-01 00:00:00']);
    assert.deepEqual(toOnCalendar('10,40 8-18 * * mon,wed'), ['Mon,Wed *-*-* 08..18:10,40:00']);
  });

  it("turns cron's day-of-month OR day-of-week rule into two expressions, one per day field", () => {
    assert.deepEqual(toOnCalendar('15 1 1,15 * 1'), ['*-*-01,15 01:15:00', 'Mon *-*-* 01:15:00']);
  });

  it('refuses a schedule that never runs, with the reason', () => {
    assert.throws(() => toOnCalendar('0 0 30 2 *'), /never runs \(no month has that day\)/);
    assert.throws(() => toOnCalendar('0 0 31 4,6,9,11 *'), /never runs/);
  });

  // Each pair of lists is computed independently: systemd's calendar code and cronvault's cron code.
  const TABLE: [string, string][] = [
    ['every 15 minutes', '*/15 * * * *'],
    ['hourly at :05', '5 * * * *'],
    ['daily 02:30', '30 2 * * *'],
    ['weekdays', '0 3 * * 1-5'],
    ['weekly on Sunday', '0 4 * * 0'],
    ['weekly macro', '@weekly'],
    ['monthly on the 1st', '0 5 1 * *'],
    ['ranges and lists', '10,40 8-18 * * mon-fri'],
    ['hour steps', '0 */6 * * *'],
    ['steps inside a range', '*/20 9-17/2 * * *'],
    ['offset minute steps', '7-59/25 * * * *'],
    ['quarterly', '0 0 1 */3 *'],
    ['summer weekends', '0 12 * 6-8 sat,sun'],
    ['day of month OR day of week', '15 1 13 * 5'],
    ['last days of some months', '45 23 30,31 1-6 *'],
  ];
  // A base in the middle of a minute, so "after" means the same to both.
  const BASES = [Date.UTC(2026, 1, 27, 22, 59, 30) / 1000, Date.UTC(2027, 11, 31, 23, 50, 30) / 1000];
  for (const [what, schedule] of TABLE) {
    it(`${what} ("${schedule}"): systemd lists the same next 5 times as cron`, async () => {
      const expressions = toOnCalendar(schedule);
      for (const base of BASES) {
        assert.deepEqual(
          iso(await systemdTimes(expressions, base, 5)),
          iso(cronTimes(schedule, base, 5)),
          `${schedule} -> ${expressions.join(' | ')}`,
        );
      }
    });
  }
});

describe('cronvault systemd', () => {
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
        `defaults: { repository: ${join(tmp.dir, 'repo')}, password_file: /etc/cronvault/repo.pass, retention: none }`,
        'jobs:',
        '  influxdb: { path: /var/lib/influxdb, schedule: "30 2 1,15 * 1-5" }',
        '  photos: { path: /srv/photos }',
        '  offsite: { path: /srv/photos, repository: "rest:http://backup.example.org:8000/", engine: restic, env: { RESTIC_CACHE_DIR: /var/cache/restic } }',
        '',
      ].join('\n'),
    );
  });
  after(async () => tmp.cleanup());

  it('prints a hardened oneshot service and a persistent timer per job to stdout', async () => {
    const result = await runCronvault(['systemd', '--config', config, '--host', 'web1.example.org']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stderr, '');
    const service = result.stdout
      .split('# /etc/systemd/system/cronvault-influxdb.service\n')[1]!
      .split('\n# /etc/')[0]!;
    assert.match(service, /^Type=oneshot$/m);
    assert.match(service, new RegExp(`^ExecStart=/usr/bin/cronvault run influxdb --config ${config} --quiet$`, 'm'));
    assert.match(service, /^Nice=10$/m);
    assert.match(service, /^IOSchedulingClass=idle$/m);
    assert.match(service, /^ProtectSystem=strict$/m);
    assert.match(service, /^PrivateTmp=yes$/m);
    assert.match(service, /^NoNewPrivileges=yes$/m);
    // state and metrics must exist; the local repository and restic's cache may not yet.
    assert.match(
      service,
      new RegExp(
        `^ReadWritePaths=${join(tmp.dir, 'state')} ${join(tmp.dir, 'text')} -${join(tmp.dir, 'repo')} -/root/.cache/restic$`,
        'm',
      ),
    );
    const offsite = result.stdout.split('# /etc/systemd/system/cronvault-offsite.service\n')[1]!;
    assert.match(
      offsite,
      new RegExp(`^ReadWritePaths=${join(tmp.dir, 'state')} ${join(tmp.dir, 'text')} -/var/cache/restic$`, 'm'),
      'a remote repository is not made writable',
    );
    const timer = result.stdout.split('# /etc/systemd/system/cronvault-influxdb.timer\n')[1]!.split('\n# /etc/')[0]!;
    assert.deepEqual(timer.match(/^OnCalendar=.*$/gm), [
      'OnCalendar=*-*-01,15 02:30:00',
      'OnCalendar=Mon..Fri *-*-* 02:30:00',
    ]);
    assert.match(timer, /^Persistent=true$/m);
    assert.match(timer, /^RandomizedDelaySec=300$/m);
  });

  it('gives a job without a schedule the daily time `cronvault cron` draws for the host', async () => {
    const cron = await runCronvault(['cron', '--config', config, '--host', 'web1.example.org']);
    const [minute, hour] = cron.stdout
      .split('\n')
      .find((line) => line.includes(' run photos '))!
      .split(' ');
    const result = await runCronvault(['systemd', '--config', config, '--host', 'web1.example.org']);
    const timer = result.stdout.split('# /etc/systemd/system/cronvault-photos.timer\n')[1]!;
    assert.match(
      timer,
      new RegExp(`^OnCalendar=\\*-\\*-\\* ${hour!.padStart(2, '0')}:${minute!.padStart(2, '0')}:00$`, 'm'),
    );
  });

  it('--install writes units that systemd-analyze verify accepts, and says what to run', async () => {
    const dir = join(tmp.dir, 'units');
    const result = await runCronvault([
      'systemd',
      '--config',
      config,
      '--install',
      '--dir',
      dir,
      '--bin',
      cronvaultBin,
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(
      result.stdout,
      /systemctl daemon-reload && systemctl enable --now cronvault-influxdb\.timer cronvault-photos\.timer cronvault-offsite\.timer/,
    );
    const files = (await readdir(dir)).sort();
    assert.deepEqual(
      files.filter((file) => file.startsWith('cronvault-')),
      [
        'cronvault-influxdb.service',
        'cronvault-influxdb.timer',
        'cronvault-offsite.service',
        'cronvault-offsite.timer',
        'cronvault-photos.service',
        'cronvault-photos.timer',
      ],
    );
    // And the weekly `cronvault prune` of each of the two repositories, which this host prunes.
    assert.equal(files.filter((file) => /^cronvault_prune-repo-[0-9a-f]{12}\.(service|timer)$/.test(file)).length, 4);
    // And the weekly `cronvault verify` of each (restic) job.
    assert.deepEqual(
      files.filter((file) => file.startsWith('cronvault_verify-')),
      ['influxdb', 'offsite', 'photos'].flatMap((job) => [
        `cronvault_verify-${job}.service`,
        `cronvault_verify-${job}.timer`,
      ]),
    );
    assert.match(result.stdout, /cronvault_verify-influxdb\.timer/, 'enabled with the others');
    assert.equal(files.length, 16);
    assert.equal((await stat(join(dir, files[0]!))).mode & 0o777, 0o644);
    assert.equal(
      (await stat(join(tmp.dir, 'state'))).mode & 0o777,
      0o700,
      'the state dir a ReadWritePaths= needs is created private',
    );
    // The man page is only there once the .deb is installed: --man=no keeps the check offline.
    const verify = await execa(SYSTEMD_ANALYZE, ['verify', '--man=no', ...files.map((f) => join(dir, f))], {
      reject: false,
    });
    assert.equal(verify.exitCode, 0, `${verify.stdout}\n${verify.stderr}`);
    assert.equal(verify.stderr.trim(), '', verify.stderr);
  });

  it('systemd-analyze verify catches a broken unit (the check can fail)', async () => {
    const dir = join(tmp.dir, 'broken');
    await runCronvault([
      'systemd',
      '--config',
      config,
      '--install',
      '--dir',
      dir,
      '--bin',
      join(tmp.dir, 'no-such-binary'),
    ]);
    const verify = await execa(SYSTEMD_ANALYZE, ['verify', '--man=no', join(dir, 'cronvault-photos.service')], {
      reject: false,
    });
    assert.notEqual(verify.exitCode, 0);
  });

  it('--install removes the units it wrote for jobs no longer in the config, and nothing else', async () => {
    const dir = join(tmp.dir, 'stale');
    await runCronvault(['systemd', '--config', config, '--install', '--dir', dir]);
    await writeFile(join(dir, 'cronvault-mine.service'), '[Service]\nExecStart=/bin/true\n');
    const smaller = join(tmp.dir, 'smaller.yml');
    await writeFile(smaller, (await readFile(config, 'utf8')).replace(/^ {2}(photos|offsite):.*\n/gm, ''));
    const result = await runCronvault(['systemd', '--config', smaller, '--install', '--dir', dir]);
    assert.equal(result.exitCode, 0, result.stderr);
    const left = (await readdir(dir)).sort();
    assert.deepEqual(
      left.filter((file) => !file.startsWith('cronvault_prune-')),
      [
        'cronvault-influxdb.service',
        'cronvault-influxdb.timer',
        'cronvault-mine.service',
        'cronvault_verify-influxdb.service',
        'cronvault_verify-influxdb.timer',
      ],
    );
    // The prune units of the repository only the removed jobs used went with them.
    assert.equal(left.filter((file) => file.startsWith('cronvault_prune-')).length, 2);
    assert.match(
      result.stdout,
      /systemctl disable --now cronvault-offsite\.timer cronvault-photos\.timer|systemctl disable --now cronvault-photos\.timer cronvault-offsite\.timer/,
    );
    assert.match(result.stdout, /cronvault_verify-photos\.timer/, 'the removed job’s verify timer too');
  });

  it('quotes paths with spaces and doubles % so systemd reads them back unchanged', async () => {
    const dir = join(tmp.dir, 'odd dir');
    const odd = join(tmp.dir, 'odd config.yml');
    await writeFile(
      odd,
      [
        `state_dir: ${join(dir, 'state%1')}`,
        `metrics: { textfile_dir: ${join(dir, 'text')} }`,
        'jobs:',
        `  a: { path: /srv, repository: ${join(dir, 'repo')}, password_file: /etc/cronvault/repo.pass, retention: none }`,
        '',
      ].join('\n'),
    );
    const units = join(tmp.dir, 'odd units');
    const result = await runCronvault(['systemd', '--config', odd, '--install', '--dir', units, '--bin', cronvaultBin]);
    assert.equal(result.exitCode, 0, result.stderr);
    const service = await readFile(join(units, 'cronvault-a.service'), 'utf8');
    assert.match(service, new RegExp(`^ExecStart=${cronvaultBin} run a --config "${odd}" --quiet$`, 'm'));
    assert.match(
      service,
      new RegExp(
        `^ReadWritePaths="${join(dir, 'state%%1')}" "${join(dir, 'text')}" "-${join(dir, 'repo')}" -/root/.cache/restic$`,
        'm',
      ),
    );
    const verify = await execa(
      SYSTEMD_ANALYZE,
      ['verify', '--man=no', join(units, 'cronvault-a.service'), join(units, 'cronvault-a.timer')],
      { reject: false, all: true },
    );
    assert.equal(verify.exitCode, 0, String(verify.all));
  });

  it('runs `cronvault verify <job>` weekly, at the times `cronvault cron` gives its verify line, as systemd computes them', async () => {
    const cron = await runCronvault(['cron', '--config', config, '--host', 'web1.example.org']);
    const result = await runCronvault(['systemd', '--config', config, '--host', 'web1.example.org', '--json']);
    assert.equal(result.exitCode, 0, result.stderr);
    const units = new Map(
      (JSON.parse(result.stdout) as { units: { file: string; text: string }[] }).units.map((u) => [
        u.file.split('/').pop()!,
        u.text,
      ]),
    );
    const service = units.get('cronvault_verify-photos.service') ?? '';
    assert.match(service, new RegExp(`^ExecStart=/usr/bin/cronvault verify photos --config ${config} --quiet$`, 'm'));
    assert.match(service, /^ProtectSystem=strict$/m);
    assert.match(service, new RegExp(`^ReadWritePaths=${join(tmp.dir, 'state')} ${join(tmp.dir, 'text')} -`, 'm'));
    const cronLine = cron.stdout.split('\n').find((line) => line.includes(' verify photos '))!;
    const schedule = cronLine.split(' ').slice(0, 5).join(' ');
    assert.match(schedule, /^\d+ \d+ \* \* [0-6]$/, 'weekly');
    const timer = units.get('cronvault_verify-photos.timer') ?? '';
    assert.match(timer, /^Persistent=true$/m);
    assert.match(timer, /no verify_schedule: the weekly time drawn/);
    const calendars = [...timer.matchAll(/^OnCalendar=(.*)$/gm)].map((m) => m[1]!);
    const base = Date.UTC(2026, 1, 27, 22, 59, 30) / 1000;
    assert.deepEqual(iso(await systemdTimes(calendars, base, 3)), iso(cronTimes(schedule, base, 3)));
  });

  it('gives verify units names no job or repository name can give a backup or prune unit', async () => {
    // Job and repository names chosen to imitate the other kinds' names.
    const tricky = ['a', 'verify-a', 'prune-a', 'cronvault_verify-a', 'cronvault_prune-a', 'a_verify-a', '_'];
    const names = tricky.filter((name) => /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name));
    const file = join(tmp.dir, 'tricky.yml');
    await writeFile(
      file,
      [
        `state_dir: ${join(tmp.dir, 'state')}`,
        `metrics: { textfile_dir: ${join(tmp.dir, 'text')} }`,
        'defaults: { password_file: /etc/cronvault/repo.pass, retention: none }',
        'jobs:',
        ...names.map(
          (name, i) =>
            `  ${name}: { path: /srv/${i}, repository: ${join(tmp.dir, `r${i}`)}, repository_name: ${name} }`,
        ),
        '',
      ].join('\n'),
    );
    const result = await runCronvault(['systemd', '--config', file, '--json']);
    assert.equal(result.exitCode, 0, result.stderr);
    const units = (JSON.parse(result.stdout) as { units: { file: string }[] }).units.map((u) => u.file);
    // A backup, a verify and a prune service and timer for each name, all distinct.
    assert.equal(units.length, names.length * 6);
    assert.equal(new Set(units).size, units.length, units.join('\n'));
  });

  it('refuses a job whose schedule systemd cannot run, naming the job and the reason (exit 2)', async () => {
    const bad = join(tmp.dir, 'bad.yml');
    await writeFile(
      bad,
      (await readFile(config, 'utf8')).replace('schedule: "30 2 1,15 * 1-5"', 'schedule: "0 0 30 2 *"'),
    );
    const result = await runCronvault(['systemd', '--config', bad]);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /job "influxdb": schedule "0 0 30 2 \*" never runs/);
    assert.equal(result.stdout, '');
  });

  it("makes a borg job's local repository, cache and config writable, and not a remote one's", async () => {
    const borgConfig = join(tmp.dir, 'borg.yml');
    await writeFile(
      borgConfig,
      [
        `state_dir: ${join(tmp.dir, 'state')}`,
        `metrics: { textfile_dir: ${join(tmp.dir, 'text')} }`,
        'defaults: { engine: borg, password_file: /etc/cronvault/repo.pass, retention: none }',
        'jobs:',
        `  local: { path: /srv/a, repository: ${join(tmp.dir, 'borg-repo')} }`,
        '  remote: { path: /srv/a, repository: "ssh://backup@host.example.org/./repo" }',
        '',
      ].join('\n'),
    );
    const result = await runCronvault(['systemd', '--config', borgConfig, '--host', 'web1']);
    assert.equal(result.exitCode, 0, result.stderr);
    const unit = (job: string) =>
      result.stdout.split(`# /etc/systemd/system/cronvault-${job}.service\n`)[1]!.split('\n# /etc/')[0]!;
    const dirs = `${join(tmp.dir, 'state')} ${join(tmp.dir, 'text')}`;
    assert.match(
      unit('local'),
      new RegExp(`^ReadWritePaths=${dirs} -${join(tmp.dir, 'borg-repo')} -/root/.cache/borg -/root/.config/borg$`, 'm'),
    );
    assert.match(unit('remote'), new RegExp(`^ReadWritePaths=${dirs} -/root/.cache/borg -/root/.config/borg$`, 'm'));
  });
});
