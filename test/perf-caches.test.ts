// What cronvault remembers to stay fast (issue 14) must never serve a stale answer: the restic
// version is asked again when the binary changes, and status follows a schedule edited in the config.

import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, runCronvault } from './support/cli.ts';
import { createRepository } from './support/restic.ts';

describe('caches kept for speed', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  it('asks restic its version once, and again after the binary changes', async () => {
    const repo = await createRepository(tmp.dir);
    const data = join(tmp.dir, 'data');
    const calls = join(tmp.dir, 'version-calls');
    await writeFile(calls, '');
    // A restic that logs each `restic version`, so the test sees who asks.
    const binary = join(tmp.dir, 'restic-logged');
    const script = `#!/bin/sh\n[ "$1" = version ] && echo asked >> ${calls}\nexec restic "$@"\n`;
    await writeFile(binary, script, { mode: 0o755 });
    await mkdir(data);
    await writeFile(join(data, 'file'), 'content');
    const config = join(tmp.dir, 'version.yml');
    await writeFile(
      config,
      [
        `state_dir: ${join(tmp.dir, 'state')}`,
        `metrics: { textfile_dir: ${join(tmp.dir, 'text')} }`,
        'jobs:',
        `  files: { path: ${data}, repository: ${repo.repository}, password_file: ${repo.passwordFile}, binary: ${binary}, retention: "1W:1D" }`,
        '',
      ].join('\n'),
    );
    const asked = async () => (await readFile(calls, 'utf8')).split('\n').filter(Boolean).length;
    for (let run = 0; run < 2; run += 1) {
      const result = await runCronvault(['run', 'files', '-c', config, '-q']);
      assert.equal(result.exitCode, 0, result.stderr);
    }
    assert.equal(await asked(), 1, 'the second run answers from state_dir');
    // An upgrade in place: same path, new content and mtime.
    await appendFile(binary, '# upgraded\n');
    await utimes(binary, new Date(), new Date(Date.now() + 5000));
    const result = await runCronvault(['run', 'files', '-c', config, '-q']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(await asked(), 2, 'a changed binary is asked again');
  });

  it('a run remembers the parsed config; an edited config is read again, errors keep their line', async () => {
    const repo = await createRepository(tmp.dir, 'repo-config');
    const data = join(tmp.dir, 'data-config');
    await mkdir(data);
    await writeFile(join(data, 'file'), 'content');
    const state = join(tmp.dir, 'state-config');
    const config = join(tmp.dir, 'remembered.yml');
    const write = (schedule: string, extra = '') =>
      writeFile(
        config,
        [
          `state_dir: ${state}`,
          `metrics: { textfile_dir: ${join(tmp.dir, 'text-config')} }`,
          'jobs:',
          `  files: { path: ${data}, repository: ${repo.repository}, password_file: ${repo.passwordFile}, schedule: "${schedule}"${extra} }`,
          '',
        ].join('\n'),
      );
    const cron = async () => {
      const result = await runCronvault(['status', '--json', '-c', config]);
      return (JSON.parse(result.stdout) as { jobs: { schedule: { cron: string } }[] }).jobs[0]!.schedule.cron;
    };
    await write('0 3 * * *');
    assert.equal((await runCronvault(['run', 'files', '-c', config, '-q'])).exitCode, 0);
    const remembered = await readFile(join(state, 'config-cache.json'), 'utf8');
    assert.doesNotMatch(remembered, /correct horse/, 'no secret in it');
    assert.equal(await cron(), '0 3 * * *');
    await write('30 4 * * 1');
    assert.equal(await cron(), '30 4 * * 1', 'the edit is seen');
    await write('0 3 * * *', ', retry: { attempts: lots }');
    const bad = await runCronvault(['status', '-c', config]);
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /remembered\.yml:4: jobs\.files\.retry\.attempts/, 'the line, as without the cache');
    // A config holding a secret (an env: map) is never copied into state_dir.
    await write('0 3 * * *', ', env: { AWS_SECRET_ACCESS_KEY: hunter2 }');
    await writeFile(join(state, 'config-cache.json'), '');
    assert.equal((await runCronvault(['run', 'files', '-c', config, '-q'])).exitCode, 0);
    assert.equal(await readFile(join(state, 'config-cache.json'), 'utf8'), '');
  });

  it('status follows a schedule changed in the config: the longest gap and the next run are recomputed', async () => {
    const config = join(tmp.dir, 'schedule.yml');
    const write = (schedule: string) =>
      writeFile(
        config,
        [
          `state_dir: ${join(tmp.dir, 'state-schedule')}`,
          'defaults: { repository: /nonexistent, password_file: /nonexistent, retention: none }',
          'jobs:',
          `  hourly: { path: /srv, schedule: "${schedule}" }`,
          `  weekly: { path: /srv, schedule: "0 3 * * 1" }`,
          '',
        ].join('\n'),
      );
    const gaps = async () => {
      const result = await runCronvault(['status', '--json', '-c', config]);
      const report = JSON.parse(result.stdout) as {
        jobs: { name: string; schedule: { maxIntervalSeconds: number } }[];
      };
      return Object.fromEntries(report.jobs.map((job) => [job.name, job.schedule.maxIntervalSeconds]));
    };
    await write('0 * * * *');
    assert.deepEqual(await gaps(), { hourly: 3600, weekly: 7 * 86_400 });
    await write('0 3 1 * *');
    // 31 days: from the 1st of a 31-day month to the 1st of the next.
    assert.deepEqual(await gaps(), { hourly: 31 * 86_400, weekly: 7 * 86_400 });
    await write('0 0 29 2 *');
    // Leap day only: eight years apart once 2100 is not in the window, four here.
    assert.equal((await gaps()).hourly, (366 + 365 * 3) * 86_400);
  });
});
