// Small pure pieces whose mistakes would be expensive: schedules behind missed-run alerts,
// job names in file names and labels, credential redaction, retry waits, metric rendering.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { parseDuplicatiOutput, reversibleName } from '../src/backends/duplicati.ts';
import { classifyResticFailure } from '../src/backends/restic.ts';
import type { JobConfig } from '../src/config.ts';
import { parseDuration } from '../src/durations.ts';
import { jobNameFromPath } from '../src/job-name.ts';
import { renderJobMetrics, renderJobsInfo } from '../src/metrics.ts';
import { redactRepository } from '../src/redact.ts';
import { drawDelay, runWithRetries } from '../src/retry.ts';
import { jitteredSchedule, maxIntervalSeconds, nextRun, parseSchedule } from '../src/schedule/index.ts';
import { pythonRandrange } from '../src/schedule/python-random.ts';
import { resolveVerify } from '../src/verify/config.ts';

describe('cron schedules', () => {
  const cases: [string, number][] = [
    ['0 */6 * * *', 6 * 3600],
    ['0 2 * * *', 86_400],
    ['*/15 * * * *', 900],
    ['0 3 * * 1', 7 * 86_400],
    ['30 1 * * mon-fri', 3 * 86_400],
    ['@hourly', 3600],
    ['0 0 1 * *', 31 * 86_400],
    ['0 0 29 2 *', 4 * 365 * 86_400 + 86_400],
  ];
  for (const [schedule, seconds] of cases) {
    it(`gives "${schedule}" a longest gap of ${seconds} s`, () =>
      assert.equal(maxIntervalSeconds(parseSchedule(schedule)), seconds));
  }
  it('finds the next run after a moment, in UTC', () => {
    assert.equal(
      new Date(nextRun(parseSchedule('0 2 * * *'), Date.UTC(2026, 10, 25, 22, 5) / 1000, 'utc')! * 1000).toISOString(),
      '2026-11-26T02:00:00.000Z',
    );
  });
  it('reads schedules in local time, as cron does', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    try {
      // 22:05 UTC is 07:05 the next day in Tokyo; 03:00 Tokyo comes the day after.
      assert.equal(
        new Date(nextRun(parseSchedule('0 3 * * *'), Date.UTC(2026, 10, 25, 22, 5) / 1000)! * 1000).toISOString(),
        '2026-11-26T18:00:00.000Z',
      );
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
  it('rejects six fields, bad ranges and @reboot', () => {
    assert.throws(() => parseSchedule('0 0 * * * *'), /expected 5 fields/);
    assert.throws(() => parseSchedule('5-1 * * * *'), /runs backwards/);
    assert.throws(() => parseSchedule('@reboot'), /unknown macro/);
  });
});

describe('names, secrets and delays', () => {
  it('derives job names from paths as the old wrapper did', () => {
    assert.equal(jobNameFromPath('/var/lib/influxdb'), 'var_lib_influxdb');
    assert.equal(jobNameFromPath('/srv/my photos/'), 'srv_my_photos');
    assert.equal(jobNameFromPath('/'), 'root');
    assert.equal(jobNameFromPath('/jobs'), 'jobs_dir', 'never the name of the fleet file cronvault_jobs.prom');
  });
  it('hides credentials in repository URLs', () => {
    assert.equal(
      redactRepository('rest:https://backup:s3cret@host:8000/repo'),
      'rest:https://backup:***@host:8000/repo',
    );
    assert.equal(redactRepository('dropbox:///PREFIX/host?authid=abc123&x=1'), 'dropbox:///PREFIX/host?authid=***&x=1');
    assert.equal(redactRepository('/srv/restic'), '/srv/restic');
    assert.equal(
      redactRepository('rest:http://u:p@ss-TOP@127.0.0.1:1/'),
      'rest:http://u:***@127.0.0.1:1/',
      'a password with @ is masked whole',
    );
    assert.equal(
      redactRepository('Get "http://u:p@ss@host:8000/config": dial tcp'),
      'Get "http://u:***@host:8000/config": dial tcp',
    );
    assert.equal(
      redactRepository('s3:https://s3.x/b?X-Amz-Signature=abc&sig=zz&region=eu'),
      's3:https://s3.x/b?X-Amz-Signature=***&sig=***&region=eu',
    );
    assert.equal(redactRepository('sftp:user@host:/srv/restic'), 'sftp:user@host:/srv/restic');
  });
  it('draws retry waits uniformly between min and max', () => {
    const policy = { attempts: 10, minDelayMs: 1000, maxDelayMs: 60_000 };
    assert.equal(
      drawDelay(policy, () => 0),
      1000,
    );
    assert.equal(
      drawDelay(policy, () => 0.999999),
      60_000,
    );
    assert.equal(
      drawDelay(policy, () => 0.5),
      30_500,
    );
  });
  it('retries transient failures, stops on permanent ones', async () => {
    const sequence = ['transient', 'transient', 'success'] as const;
    const waits: number[] = [];
    const retried = await runWithRetries(
      async (n) => ({ kind: sequence[n - 1]!, exitCode: n, reason: 'x' }),
      { attempts: 5, minDelayMs: 1, maxDelayMs: 2 },
      { onRetry: (_o, _n, d) => waits.push(d) },
    );
    assert.deepEqual([retried.attempts, retried.outcome.kind, waits.length], [3, 'success', 2]);
    const stopped = await runWithRetries(async () => ({ kind: 'permanent', exitCode: 12, reason: 'wrong password' }), {
      attempts: 5,
      minDelayMs: 1,
      maxDelayMs: 2,
    });
    assert.deepEqual([stopped.attempts, stopped.outcome.exitCode], [1, 12]);
    const exhausted = await runWithRetries(async () => ({ kind: 'transient', exitCode: 11, reason: 'locked' }), {
      attempts: 3,
      minDelayMs: 1,
      maxDelayMs: 1,
    });
    assert.deepEqual([exhausted.attempts, exhausted.outcome.kind], [3, 'transient']);
  });
  it('reads durations', () => {
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('60'), 60_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('5 minutes'), undefined);
  });
  it("draws exactly what Python's random.Random(seed).randrange(n) draws (the role's random filter)", async () => {
    // 2**31 + 1 draws 32 bits and rejects about half of them: draws that take several words.
    const seeds = ['localhost/pg', 'db1.example.org/influxdb', 'ünïcode/job', '', 'x'.repeat(300)];
    const more = Array.from({ length: 40 }, (_, i) => `host${i}/job${i}/verify`);
    const python = await execa('/usr/bin/python3', [
      '-c',
      'import random, sys\nfor s in sys.argv[1:]: print(*(random.Random(s).randrange(n) for n in (240, 1000003, 2**31 + 1)))',
      ...seeds,
      ...more,
    ]);
    assert.deepEqual(
      python.stdout.split('\n'),
      [...seeds, ...more].map((s) => [240, 1000003, 2 ** 31 + 1].map((n) => pythonRandrange(s, n)).join(' ')),
    );
  });
  it('spreads unscheduled jobs evenly over the 240 minutes of hours 1-4', () => {
    const slots = new Set(Array.from({ length: 2000 }, (_, i) => jitteredSchedule(`host${i}`, 'pg')));
    assert.ok(slots.size > 230, `${slots.size} distinct times for 2000 hosts`);
  });
  it('spreads unscheduled jobs over hours 1-4, stable per host and job', () => {
    assert.equal(jitteredSchedule('db1', 'pg'), jitteredSchedule('db1', 'pg'));
    const schedules = new Set(['a', 'b', 'c', 'd', 'e', 'f'].map((h) => jitteredSchedule(h, 'pg')));
    assert.ok(schedules.size > 1);
    for (const s of schedules) assert.match(s, /^\d{1,2} [1-4] \* \* \*$/);
  });
});

describe('engine output classification', () => {
  const cases: [number, string, string][] = [
    [1, 'Fatal: wrong password or no key found', 'permanent'],
    [1, 'unable to create lock in backend: repository is already locked by PID 1', 'transient'],
    [
      1,
      'Fatal: unable to open config file: Stat: stat /nope/config: no such file or directory\nIs there a repository at the following location?',
      'permanent',
    ],
    [
      1,
      'Fatal: unable to open config file: Get "http://127.0.0.1:9/config": dial tcp 127.0.0.1:9: connect: connection refused\nIs there a repository at the following location?',
      'transient',
    ],
    [1, 'Fatal: all source directories/files do not exist', 'permanent'],
    [3, 'Warning: at least one source file could not be read', 'warning'],
    [11, '', 'transient'],
    [12, '', 'permanent'],
    [10, '', 'permanent'],
  ];
  for (const [code, stderr, kind] of cases) {
    it(`classifies restic exit ${code} "${stderr.split('\n')[0]!.slice(0, 50)}" as ${kind}`, () =>
      assert.equal(classifyResticFailure(code, stderr).kind, kind));
  }
  it('parses duplicati summaries, localised sizes included', () => {
    assert.deepEqual(
      parseDuplicatiOutput([
        '  Files added: 3',
        '  Files changed: 1',
        '  Data uploaded: 1.50 KiB',
        'ExaminedFiles: 12',
        'SizeOfExaminedFiles: 4096',
      ]),
      {
        filesNew: 3,
        filesChanged: 1,
        bytesAdded: 1536,
        filesProcessed: 12,
        bytesProcessed: 4096,
      },
    );
  });
  it('names duplicati databases with base32 of the path (as coreutils base32 does), = written as _', () => {
    assert.equal(reversibleName('/var/lib/influxdb'), 'F53GC4RPNRUWEL3JNZTGY5LYMRRA____');
  });
});

describe('metric files', () => {
  const job = {
    name: 'influxdb',
    engine: 'restic',
    path: '/var/lib/influxdb',
    schedule: '0 2 * * *',
    declaredBy: 'config',
    verify: resolveVerify(undefined, undefined),
  } as JobConfig;
  it('labels every per-job series with the backup label only: engine and path are on backup_job_info', async () => {
    const text = await renderJobMetrics(job, { lastRunStart: 100, running: true, lastSuccess: 0 });
    const series = text.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.equal(series.length, 3, text);
    for (const line of series.filter((l) => !l.startsWith('cronvault_build_info'))) {
      assert.match(line, /^backup_[a-z_]+\{backup="influxdb"\} -?[\d.]+$/);
    }
    assert.ok(!text.includes('backup_job_info'), "a config's job has its backup_job_info in cronvault_jobs.prom only");
    assert.ok(
      !text.includes('schedule_max_interval'),
      "a config's job has its schedule's gap in cronvault_jobs.prom only",
    );
    assert.ok(!text.includes('backup_last_run_duration_seconds'), 'no end-of-run series before a run has finished');
  });
  it("writes no end series for a finished run (start + duration) and no schedule gap in a config job's file", async () => {
    const text = await renderJobMetrics(job, {
      lastRunStart: 100,
      running: false,
      lastRunEnd: 160,
      lastRunDuration: 60,
      lastSuccess: 160,
    });
    assert.match(text, /^backup_last_run_duration_seconds\{backup="influxdb"\} 60$/m);
    assert.ok(!text.includes('end_timestamp'), text);
    assert.ok(!text.includes('schedule_max_interval'), text);
  });
  it('gives a file that stands alone (a job run by flags) its schedule gap next to its job info', async () => {
    const text = await renderJobMetrics(
      { ...job, declaredBy: 'flags' } as JobConfig,
      {
        lastRunStart: 100,
        running: true,
        lastSuccess: 0,
      },
      { withJobInfo: true },
    );
    assert.match(text, /^backup_job_schedule_max_interval_seconds\{backup="influxdb"\} 86400$/m);
    assert.match(
      text,
      /^backup_job_info\{backup="influxdb",engine="restic",path="\/var\/lib\/influxdb",schedule="0 2 \* \* \*"\} 1$/m,
    );
  });
  it('names byte counters with the unit last', async () => {
    const text = await renderJobMetrics(job, {
      lastRunStart: 1,
      running: false,
      lastSuccess: 2,
      bytesAdded: 10,
      bytesProcessed: 20,
    });
    assert.ok(text.includes('backup_last_added_bytes{backup="influxdb"} 10'), text);
    assert.ok(text.includes('backup_last_processed_bytes{backup="influxdb"} 20'), text);
    assert.doesNotMatch(text, /backup_last_bytes_/);
  });
  it('adds backup_job_info to the file when asked (jobs run by flags only, Pushgateway groups)', async () => {
    const text = await renderJobMetrics(
      job,
      { lastRunStart: 1, running: false, lastSuccess: 0 },
      { withJobInfo: true },
    );
    assert.ok(
      text.includes(
        'backup_job_info{backup="influxdb",engine="restic",path="/var/lib/influxdb",schedule="0 2 * * *"} 1',
      ),
      text,
    );
  });
  it('writes identical HELP and TYPE lines for every job', async () => {
    const a = await renderJobMetrics(job, { lastRunStart: 1, running: false, lastSuccess: 2, lastRunSuccess: true });
    const b = await renderJobMetrics(
      { ...job, name: 'photos', engine: 'duplicati' },
      { lastRunStart: 5, running: false, lastSuccess: 0, lastRunSuccess: false },
    );
    const meta = (t: string) => t.split('\n').filter((l) => l.startsWith('#'));
    assert.deepEqual(meta(a), meta(b));
  });
  it('lists every declared job in backup_job_info', async () => {
    const text = await renderJobsInfo([
      job,
      { ...job, name: 'photos', engine: 'duplicati', path: '/srv/photos', schedule: undefined },
    ]);
    assert.ok(
      text.includes(
        'backup_job_info{backup="influxdb",engine="restic",path="/var/lib/influxdb",schedule="0 2 * * *"} 1',
      ),
    );
    assert.ok(text.includes('backup_job_info{backup="photos",engine="duplicati",path="/srv/photos",schedule=""} 1'));
    assert.ok(text.includes('backup_job_schedule_max_interval_seconds{backup="influxdb"} 86400'));
    assert.ok(
      !text.includes('backup_job_schedule_max_interval_seconds{backup="photos"'),
      'no interval for a job without a schedule',
    );
  });
});
