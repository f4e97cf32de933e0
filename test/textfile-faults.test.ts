// The textfile is how a failed backup gets noticed, so its own faults are tested here: a full
// disk, a killed writer's leftovers, a reader racing the writer, values prom-client rejects and
// label values that need escaping.

import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { sweepStaleTempFiles, writeFileAtomic } from '../src/atomic-write.ts';
import type { JobConfig } from '../src/config.ts';
import { type JobMetrics, renderJobMetrics, renderJobsInfo, writeJobMetrics } from '../src/metrics.ts';
import { resolveVerify } from '../src/verify/config.ts';
import { makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { createRepository, listSnapshots, metricValue } from './support/restic.ts';

const isRoot = process.getuid?.() === 0;

/** A strict reading of the text exposition format: what node_exporter would refuse, this refuses. */
const parseExposition = (text: string): Map<string, number> => {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const samples = new Map<string, number>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '' || /^# (HELP|TYPE) [a-z_]+ .+$/.test(line)) continue;
    const match = /^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\\n]|\\["\\n])*",?)*\})? (-?[\d.e+]+|NaN)$/.exec(line);
    assert.ok(match, `not a valid sample line: ${JSON.stringify(line)}`);
    samples.set(match[1]!, Number(match[3]));
  }
  return samples;
};

const job = (dir: string, extra: Partial<JobConfig> = {}): JobConfig =>
  ({
    name: 'photos',
    engine: 'restic',
    path: '/srv/photos',
    textfileDir: dir,
    verify: resolveVerify(undefined, undefined),
    ...extra,
  }) as JobConfig;

describe('textfile faults', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => {
    await tmp.cleanup();
  });

  it('leaves out a stat an engine reported with the wrong type instead of failing the whole file', async () => {
    const values = {
      lastRunStart: 100,
      running: false,
      lastSuccess: 90,
      lastRunSuccess: true,
      filesNew: 'lots',
      bytesAdded: Number.NaN,
    } as unknown as JobMetrics;
    const samples = parseExposition(await renderJobMetrics(job(tmp.dir), values));
    assert.equal(samples.get('backup_running'), 0);
    assert.equal(samples.get('backup_last_run_success'), 1);
    assert.equal(samples.has('backup_last_files_new'), false);
    assert.equal(samples.has('backup_last_added_bytes'), false);
  });

  it('sweeps temp files of writers that died, and keeps those of live ones', async () => {
    const dir = join(tmp.dir, 'sweep');
    await mkdir(dir);
    const dead = await execa('sh', ['-c', 'echo $$']);
    const deadPid = Number(dead.stdout);
    await writeFile(join(dir, `.cronvault_photos.prom.${deadPid}.tmp`), 'half');
    await writeFile(join(dir, `.cronvault_photos.prom.${process.ppid}.tmp`), 'in progress');
    await writeFile(join(dir, 'other_tool.prom.tmp'), 'not ours');
    assert.deepEqual(await sweepStaleTempFiles(dir), [`.cronvault_photos.prom.${deadPid}.tmp`]);
    assert.deepEqual((await readdir(dir)).sort(), [
      `.cronvault_photos.prom.${process.ppid}.tmp`,
      'other_tool.prom.tmp',
    ]);
  });

  it('escapes quotes, backslashes and newlines in label values so promtool accepts the files', async () => {
    const odd = job(tmp.dir, { path: '/srv/a "quoted" \\ back\nslash' });
    const file = join(tmp.dir, 'odd.prom');
    await writeFile(
      file,
      (await renderJobMetrics(odd, { lastRunStart: 1, running: false, lastSuccess: 1 })) +
        (await renderJobsInfo([odd])),
    );
    const text = await readFile(file, 'utf8');
    assert.match(text, /path="\/srv\/a \\"quoted\\" \\\\ back\\nslash"/);
    const check = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
    assert.equal(check.exitCode, 0, check.stderr || check.stdout);
  });

  it('never shows a reader a partial file while runs rewrite it', async () => {
    const dir = join(tmp.dir, 'torn');
    await mkdir(dir);
    const target = join(dir, 'cronvault_photos.prom');
    await writeJobMetrics(job(dir), { lastRunStart: 1, running: false, lastSuccess: 1 });
    // 1,000 complete `cronvault run`s would take minutes; the run writes through exactly this
    // function, so a child process calls it 1,000 times (with files of alternating size), and
    // a few dozen real runs below go through the whole CLI.
    const writer = execa(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `
      const { writeJobMetrics } = await import(${JSON.stringify(join(projectRoot, 'src', 'metrics.ts'))});
      for (let i = 0; i < 1000; i += 1) {
        await writeJobMetrics({ name: 'photos', engine: 'restic', path: '/srv/photos', textfileDir: ${JSON.stringify(dir)} },
          { lastRunStart: i, running: i % 2 === 0, lastSuccess: i,
            ...(i % 3 ? { filesNew: i, bytesAdded: i * 1000, lastRunDuration: i / 7 } : {}) });
      }`,
      ],
      { cwd: projectRoot },
    );
    let reads = 0;
    let done = false;
    void writer.finally(() => (done = true));
    while (!done) {
      const samples = parseExposition(await readFile(target, 'utf8'));
      assert.ok(samples.has('backup_last_run_start_timestamp_seconds') && samples.has('backup_running'));
      reads += 1;
    }
    await writer;
    assert.ok(reads > 10, `the reader raced the writer (${reads} reads)`);

    const data = join(tmp.dir, 'torn-data');
    await mkdir(data);
    const fake = join(tmp.dir, 'torn-fake');
    await mkdir(fake);
    await writeFile(join(tmp.dir, 'torn.pass'), 'secret\n');
    const args = [
      'run',
      '--path',
      data,
      '--engine',
      'duplicati',
      '--repository',
      'file:///mnt/x',
      '--password-file',
      join(tmp.dir, 'torn.pass'),
      '--retention',
      'none',
      '--textfile-dir',
      dir,
      '--state-dir',
      join(tmp.dir, 'torn-state'),
      '--binary',
      join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli'),
      '--quiet',
    ];
    const env = { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: fake };
    const runs = (async () => {
      for (let i = 0; i < 24; i += 1) assert.equal((await runCronvault(args, { env })).exitCode, 0);
    })();
    let finished = false;
    void runs.finally(() => (finished = true));
    const jobFile = async () =>
      (await readdir(dir)).find(
        (f) => f.startsWith('cronvault_') && f !== 'cronvault_photos.prom' && f.endsWith('.prom'),
      );
    while (!finished) {
      const name = await jobFile();
      if (name) parseExposition(await readFile(join(dir, name), 'utf8'));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await runs;
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
      [],
      'no temp file left',
    );
  });

  it('keeps backing up on a full textfile filesystem, says so, exits non-zero and leaves no temp file', {
    skip: !isRoot && 'mounting a tmpfs needs root',
  }, async () => {
    const text = join(tmp.dir, 'full');
    await mkdir(text);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', text]);
    try {
      const repo = await createRepository(tmp.dir, 'full-repo');
      const data = join(tmp.dir, 'full-data');
      await mkdir(data);
      await writeFile(join(data, 'file'), 'content');
      // The first run writes its file; then the filesystem is filled to the last byte.
      const args = [
        'run',
        '--path',
        data,
        '--engine',
        'restic',
        '--repository',
        repo.repository,
        '--password-file',
        repo.passwordFile,
        '--retention',
        'none',
        '--textfile-dir',
        text,
        '--state-dir',
        join(tmp.dir, 'full-state'),
      ];
      assert.equal((await runCronvault(args)).exitCode, 0);
      const jobFileName = (await readdir(text)).find((f) => f.endsWith('.prom'))!;
      await execa('sh', ['-c', `cat /dev/zero > ${join(text, 'filler')}`], { reject: false });
      const result = await runCronvault(args);
      assert.equal(result.exitCode, 1, result.stderr);
      assert.match(result.stderr, /cannot write metrics: no space left on device/);
      assert.equal((await listSnapshots(repo)).length, 2, 'the backup itself ran');
      assert.deepEqual(
        (await readdir(text)).filter((f) => f.endsWith('.tmp')),
        [],
      );
      // The file from the run's start would say "running" forever: it is gone, or says 0.
      const left = await readFile(join(text, jobFileName), 'utf8').catch(() => undefined);
      assert.ok(left === undefined || metricValue(left, 'backup_running') === 0, left);
    } finally {
      await execa('umount', [text], { reject: false });
    }
  });

  it('reports a full state filesystem in words and leaves no temp file there', {
    skip: !isRoot && 'mounting a tmpfs needs root',
  }, async () => {
    const state = join(tmp.dir, 'full-state-fs');
    await mkdir(state);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', state]);
    try {
      await execa('sh', ['-c', `cat /dev/zero > ${join(state, 'filler')}`], { reject: false });
      await assert.rejects(writeFileAtomic(join(state, 'jobs', 'photos.json'), 'x'.repeat(10_000)), /ENOSPC|no space/);
      const leftovers = await readdir(join(state, 'jobs')).catch(() => []);
      assert.deepEqual(
        leftovers.filter((f) => f.endsWith('.tmp')),
        [],
      );
    } finally {
      await execa('umount', [state], { reject: false });
    }
  });
});
