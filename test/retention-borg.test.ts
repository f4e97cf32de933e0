// Retention for borg: the Duplicati → `borg prune` translation never keeps fewer (property tests
// on a model of borg 1.2's prune), and against a real repository shared by two jobs and two
// hosts a job only ever prunes its own archives on its own host, dry run and guard first.
//
// The property, with `now` at or after the newest archive: for every archive s Duplicati keeps,
//   - if s is the newest, or its rule keeps every backup (interval 0/U) or has an interval under
//     an hour, borg keeps s itself;
//   - otherwise, with P the coarsest calendar period (hour, day, week, month, year) whose nominal
//     length is at most the rule's interval, borg keeps at least one archive in s's P-period (UTC).

import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { parsePruneList } from '../src/backends/borg.ts';
import {
  type BorgBucket,
  borgBucketOf,
  explainRetention,
  parseRetention,
  simulateBorgPrune,
  simulateDuplicatiRetention,
  toBorgPruneArgs,
} from '../src/retention/index.ts';
import {
  type BorgArchiveInfo,
  type BorgRepository,
  createBorgRepository,
  listArchives,
  useBorgBaseDir,
} from './support/borg.ts';
import { makeTempDir, runCronvault, writeTestConfig } from './support/cli.ts';
import { metricValue } from './support/restic.ts';
import { D, type DuplicatiPolicy, prng, randomHistory, randomPolicy } from './support/retention-random.ts';

const PERIODS: readonly [BorgBucket, number][] = [
  ['yearly', 31_536_000],
  ['monthly', 2_592_000],
  ['weekly', 604_800],
  ['daily', 86_400],
  ['hourly', 3600],
];

/** The first archive Duplicati keeps that borg does not cover, or undefined. */
const findCounterexample = (
  policy: DuplicatiPolicy,
  args: readonly string[],
  times: Date[],
  now: Date,
): string | undefined => {
  const duplicati = simulateDuplicatiRetention(policy, times, now);
  const borg = simulateBorgPrune(args, times, now);
  const newest = times.reduce((best, t, i) => (t > (times[best] as Date) ? i : best), 0);
  for (const s of duplicati) {
    const time = times[s] as Date;
    if (s === newest) {
      if (!borg.has(s)) return `the newest archive ${time.toISOString()} is not kept by borg prune ${args.join(' ')}`;
      continue;
    }
    const age = (now.getTime() - time.getTime()) / 1000;
    const rule = policy.rules.find((r) => r.timeframe === 'unlimited' || age <= r.timeframe);
    assert.ok(rule, `Duplicati kept ${time.toISOString()} outside every timeframe`);
    const period =
      rule.interval === 'keep-all'
        ? undefined
        : PERIODS.find(([, seconds]) => seconds <= (rule.interval as number))?.[0];
    const covered =
      period === undefined
        ? borg.has(s)
        : [...borg].some((b) => borgBucketOf(period, times[b] as Date) === borgBucketOf(period, time));
    if (!covered)
      return `${time.toISOString()} (rule ${rule.text}, ${period ?? 'itself'}) kept by Duplicati at ${now.toISOString()} is not covered by borg prune ${args.join(' ')}`;
  }
  return undefined;
};

describe('borg retention translation properties', () => {
  it('translates the common policy into counts that cover each window, plus the newest archive', () => {
    assert.deepEqual(toBorgPruneArgs(parseRetention('1W:1D,4W:1W,12M:1M')).args, [
      '--keep-last',
      '1',
      '--keep-daily',
      '8',
      '--keep-weekly',
      '5',
      '--keep-monthly',
      '14',
    ]);
    assert.deepEqual(toBorgPruneArgs(parseRetention('7D:0s,U:1Y')).args, [
      '--keep-within',
      '7d',
      '--keep-last',
      '1',
      '--keep-yearly',
      '-1',
    ]);
    assert.deepEqual(toBorgPruneArgs(parseRetention('36h:0s')).args, ['--keep-within', '36H', '--keep-last', '1']);
    assert.equal(toBorgPruneArgs(parseRetention('U:0s')).keepAll, true);
    assert.throws(() => toBorgPruneArgs(parseRetention('1W:3D')), /borg cannot keep one backup every 3 days/);
    assert.deepEqual(toBorgPruneArgs(parseRetention({ daily: 7, within: '2D' })).args, [
      '--keep-within',
      '2d',
      '--keep-daily',
      '7',
    ]);
    assert.match(
      explainRetention(parseRetention({ daily: 7, within: '2D' }), 'borg'),
      /borg prune --keep-within 2d --keep-daily 7\nborg compact runs on the prune schedule \(cronvault prune\)/,
    );
    assert.match(
      explainRetention(parseRetention({ daily: 7, within: '2D' }), 'borg'),
      /borg measures --keep-within back from now/,
    );
    assert.match(explainRetention(parseRetention('1W:3D'), 'borg'), /borg cannot apply this policy: rule 1W:3D/);
  });

  it('borg keeps a backup in every period where Duplicati keeps one (expressible intervals, rounding refused)', () => {
    const rng = prng(20261202);
    for (let i = 0; i < 300; i += 1) {
      const policy = randomPolicy(rng, true);
      const translation = toBorgPruneArgs(policy, { rounding: 'refuse' });
      const { times, now } = randomHistory(rng, policy);
      assert.equal(
        findCounterexample(policy, translation.keepAll ? [] : translation.args, times, now),
        undefined,
        policy.rules.map((r) => r.text).join(','),
      );
    }
  });

  it('borg keeps a backup in every period where Duplicati keeps one (any interval, rounding keep-more)', () => {
    const rng = prng(78);
    for (let i = 0; i < 300; i += 1) {
      const policy = randomPolicy(rng, false);
      const translation = toBorgPruneArgs(policy, { rounding: 'keep-more' });
      if (translation.keepAll) continue;
      const { times, now } = randomHistory(rng, policy);
      assert.equal(
        findCounterexample(policy, translation.args, times, now),
        undefined,
        policy.rules.map((r) => r.text).join(','),
      );
    }
  });

  it('the checker catches a count one period short (a window touches one more period than it is long)', () => {
    const rng = prng(7);
    const policy = parseRetention('2W:1D') as DuplicatiPolicy;
    const args = toBorgPruneArgs(policy).args.map((arg, i, all) =>
      all[i - 1] === '--keep-daily' ? String(Number(arg) - 2) : arg,
    );
    const found = Array.from({ length: 100 }, () => randomHistory(rng, policy)).some(({ times, now }) =>
      findCounterexample(policy, args, times, now),
    );
    assert.ok(found);
  });

  it('the checker catches a period coarser than the interval (daily rules sent as weekly)', () => {
    const rng = prng(5);
    const policy = parseRetention('2W:1D') as DuplicatiPolicy;
    const args = toBorgPruneArgs(policy).args.map((arg) => arg.replace('--keep-daily', '--keep-weekly'));
    const found = Array.from({ length: 50 }, () => randomHistory(rng, policy)).some(({ times, now }) =>
      findCounterexample(policy, args, times, now),
    );
    assert.ok(found);
  });
});

describe('retention with real borg, shared by two jobs and two hosts', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: BorgRepository;
  let configFile: string;
  let others: BorgArchiveInfo[];
  let jobAHistory: BorgArchiveInfo[];
  const now = Date.now();
  const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 19);

  before(async () => {
    // borg prune groups by local time; UTC keeps it and the model in step.
    process.env.TZ = 'UTC';
    tmp = await makeTempDir('cronvault-borg-retention-');
    useBorgBaseDir(tmp.dir);
    repo = await createBorgRepository(tmp.dir);
    const data = join(tmp.dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'file.txt'), 'content');
    const synthetic = async (name: string, ageDays: number) => {
      const time = stamp(now - ageDays * D - 3_600_000);
      await execa('borg', ['create', '--timestamp', time, `::${name}-${time}`, data], {
        env: { ...repo.env, TZ: 'UTC' },
      });
    };
    // Job A on h1: daily for ten days, then monthly back to 22 months ago.
    const ages = [...Array.from({ length: 10 }, (_, i) => i + 1), ...Array.from({ length: 21 }, (_, i) => 40 + i * 30)];
    for (const age of ages) await synthetic('jobA@h1', age);
    // Job B on h1, job A on h2, and a job whose name starts like A's: all old enough for A's policy.
    for (const age of [400, 500]) {
      await synthetic('jobB@h1', age);
      await synthetic('jobA@h2', age);
      await synthetic('jobA-old@h1', age);
    }
    const all = await listArchives(repo);
    jobAHistory = all.filter((a) => a.name.startsWith('jobA@h1-'));
    others = all.filter((a) => !a.name.startsWith('jobA@h1-'));
    assert.equal(others.length, 6);
    configFile = await writeTestConfig(tmp.dir, [
      `defaults: { engine: borg, repository: ${repo.repository}, password_file: ${repo.passwordFile}, hostname: h1 }`,
      'jobs:',
      `  jobA: { path: ${data}, retention: "1W:1D,4W:1W,12M:1M", retention_max_delete: 10% }`,
    ]);
  });
  after(async () => tmp.cleanup());

  it("refuses to remove more than retention_max_delete of the job's archives, deleting nothing", async () => {
    const result = await runCronvault(['run', 'jobA', '--config', configFile]);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(
      result.stderr,
      /retention refused: retention would remove \d+ of \d+ archives, more than retention_max_delete \(10%\); nothing was deleted/,
    );
    const afterRun = await listArchives(repo);
    assert.equal(afterRun.length, jobAHistory.length + others.length + 1, 'the backup was made, nothing was deleted');
    const prom = await readFile(join(tmp.dir, 'text', 'cronvault_jobA.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_run_success'), 1);
    assert.equal(metricValue(prom, 'backup_last_retention_success'), 0);
  });

  it('with --force-retention prunes only job A on h1, as the borg prune model says, compacting later', async () => {
    const before = (await listArchives(repo)).filter((a) => a.name.startsWith('jobA@h1-'));
    const result = await runCronvault(['run', 'jobA', '--config', configFile, '--force-retention']);
    assert.equal(result.exitCode, 0, result.stderr);
    const all = await listArchives(repo);
    assert.deepEqual(
      all
        .filter((a) => !a.name.startsWith('jobA@h1-'))
        .map((a) => a.id)
        .sort(),
      others.map((a) => a.id).sort(),
      'job B, host h2 and job jobA-old are untouched',
    );
    const kept = all.filter((a) => a.name.startsWith('jobA@h1-'));
    const removed = before.length + 1 - kept.length;
    assert.ok(removed > 0 && removed < before.length, `some archives were pruned (${removed})`);
    const newest = kept.map((a) => Date.parse(`${a.time}Z`)).sort((a, b) => b - a)[0]!;
    assert.ok(Math.abs(newest - Date.now()) < 10 * 60_000, "this run's archive is kept");
    // Every archive the model keeps is kept; borg 1.2 may keep one more (the oldest, when a rule's
    // count is not reached).
    const fresh = kept.filter((a) => !before.some((b) => b.name === a.name));
    assert.equal(fresh.length, 1, 'one new archive');
    const history = [...before, ...fresh];
    const modelKept = simulateBorgPrune(
      toBorgPruneArgs(parseRetention('1W:1D,4W:1W,12M:1M')).args,
      history.map((a) => new Date(`${a.time}Z`)),
      new Date(),
    );
    const keptNames = new Set(kept.map((a) => a.name));
    for (const index of modelKept) assert.ok(keptNames.has(history[index]!.name), `${history[index]!.name} is kept`);
    assert.ok(kept.length - modelKept.size <= 1, `kept ${kept.length}, model ${modelKept.size}`);
    const prom = await readFile(join(tmp.dir, 'text', 'cronvault_jobA.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_retention_success'), 1);
    assert.equal(metricValue(prom, 'backup_snapshots'), kept.length);
    assert.equal(metricValue(prom, 'backup_last_retention_removed_snapshots'), removed);
  });

  it('reads which archives a dry run would prune from borg prune --list', () => {
    const lines = [
      'Keeping archive (rule: daily #1):        jobA@h1-2026-11-24T10:00:00          Tue, 2026-11-24 10:00:00 [6c16]',
      'Would prune:                             jobA@h1-2026-11-22T10:00:00          Sun, 2026-11-22 10:00:00 [fb65]',
      'some other log line',
    ];
    assert.deepEqual(parsePruneList(lines), {
      keep: ['jobA@h1-2026-11-24T10:00:00'],
      remove: ['jobA@h1-2026-11-22T10:00:00'],
    });
  });
});
