// Append-only clients (rclone serve restic --append-only, as rest-server --append-only): the
// hosts back up but cannot delete, so with append_only: true their runs skip retention, and a
// trusted host applies each host's own policies with `cronvault retention apply --from-config`,
// each scoped by that host and job, behind the same mass-deletion guard.

import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { makeTempDir, runCronvault } from './support/cli.ts';
import { listSnapshots, metricValue, type SnapshotInfo } from './support/restic.ts';
import { freePort, waitFor } from './support/services.ts';

const DAY = 86_400_000;
const resticTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

describe('retention apply for append-only clients, with real restic and rclone serve restic --append-only', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let server: ResultPromise;
  let served: string;
  let url: string;
  let env: Record<string, string>;
  let passwordFile: string;
  let web: string;
  let local: string;
  let seeded: SnapshotInfo[];
  const data = () => join(tmp.dir, 'data');
  // The second host's config is named after this machine and sets no hostname: its runs here
  // tag snapshots with this machine's name, which retention apply takes from the file name.
  const localHost = hostname();

  /** A host's config: its jobs back up through the append-only server. */
  const hostConfig = async (file: string, lines: string[]) => {
    const dir = join(tmp.dir, file.replace(/\.yml$/, ''));
    await mkdir(dir, { recursive: true });
    const path = join(tmp.dir, file);
    await writeFile(
      path,
      [
        `state_dir: ${join(dir, 'state')}`,
        `metrics: { textfile_dir: ${join(dir, 'text')} }`,
        'defaults:',
        `  repository: rest:${url}/`,
        `  password_file: ${passwordFile}`,
        '  append_only: true',
        '  retry: { attempts: 2, min_delay: 100ms, max_delay: 200ms }',
        ...lines,
        '',
      ].join('\n'),
    );
    return path;
  };

  const seed = (host: string, tag: string, ageDays: number) =>
    execa(
      'restic',
      ['backup', '--quiet', '--host', host, '--tag', tag, '--time', resticTime(Date.now() - ageDays * DAY), data()],
      { env },
    );

  before(async () => {
    tmp = await makeTempDir('cronvault-retention-apply-');
    served = join(tmp.dir, 'repo');
    passwordFile = join(tmp.dir, 'repo.pass');
    await writeFile(passwordFile, 'shared secret\n');
    await chmod(passwordFile, 0o600);
    env = { RESTIC_REPOSITORY: served, RESTIC_PASSWORD_FILE: passwordFile };
    await execa('restic', ['init'], { env });
    await mkdir(data());
    await writeFile(join(data(), 'file.txt'), 'content');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = execa('rclone', ['serve', 'restic', '--append-only', '--addr', `127.0.0.1:${port}`, served], {
      reject: false,
    });
    await waitFor(() => fetch(`${url}/config`, { method: 'HEAD' }).then(() => true), {
      intervalMs: 100,
      message: 'rclone serve restic did not start',
    });
    // Old snapshots: web-01's www job (4), this machine's db job (2), and others the policies
    // must never touch: web-01's www tag on another host, and another job on web-01.
    for (const age of [10, 20, 30, 40]) await seed('web-01', 'cronvault:www', age);
    for (const age of [10, 20]) await seed(localHost, 'cronvault:db', age);
    await seed('web-02', 'cronvault:www', 50);
    await seed('web-01', 'cronvault:mail', 60);
    seeded = await listSnapshots({ env });
    web = await hostConfig('web-01.yml', [
      '  hostname: web-01',
      'jobs:',
      `  www: { path: ${data()}, retention: { last: 2 } }`,
    ]);
    local = await hostConfig(`${localHost}.yml`, ['jobs:', `  db: { path: ${data()}, retention: { last: 1 } }`]);
  });
  after(async () => {
    server?.kill();
    await server;
    await tmp.cleanup();
  });

  it('a host backs up through the append-only server and skips its forget, saying so', async () => {
    for (const config of [web, local]) {
      const result = await runCronvault(['run', '--all', '-c', config]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stderr, /retention skipped: the repository is append-only \(append_only: true\)/);
    }
    const prom = await readFile(join(tmp.dir, 'web-01', 'text', 'cronvault_www.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_run_success'), 1);
    assert.equal(metricValue(prom, 'backup_last_retention_success'), undefined, 'no retention state to alert on');
    assert.equal((await listSnapshots({ env })).length, seeded.length + 2, 'nothing was deleted');
  });

  it("an append-only host's dry run skips retention too, and the host never prunes", async () => {
    const dryRun = await runCronvault(['run', 'www', '-c', web, '--dry-run']);
    assert.equal(dryRun.exitCode, 0, dryRun.stderr);
    assert.match(dryRun.stdout, /retention: +skipped: the repository is append-only/);
    const prune = await runCronvault(['prune', '-c', web]);
    assert.equal(prune.exitCode, 0, prune.stderr);
    assert.match(prune.stderr, /not pruned on this host: append-only: the trusted host prunes it/);
    const cron = await runCronvault(['cron', '-c', web]);
    assert.doesNotMatch(cron.stdout, / prune /);
  });

  it('the server really refuses deletes, which is why the hosts must not forget', async () => {
    // restic's own forget through it retries the refused delete for minutes before failing:
    // asking the server directly proves the same in a moment.
    const [snapshot] = await listSnapshots({ env });
    const response = await fetch(`${url}/snapshots/${snapshot!.id}`, { method: 'DELETE' });
    assert.equal(response.status, 403);
    assert.equal((await listSnapshots({ env })).length, seeded.length + 2);
  });

  it('a dry run on the trusted host lists what each host and job would lose, deleting nothing', async () => {
    const result = await runCronvault([
      'retention',
      'apply',
      '--from-config',
      web,
      '--from-config',
      local,
      '--repository',
      served,
      '--dry-run',
      '--force-retention',
      '--json',
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    const results = JSON.parse(result.stdout).results as { host: string; job: string; wouldRemove: string[] }[];
    assert.deepEqual(
      results.map((r) => [r.host, r.job, r.wouldRemove.length]),
      [
        ['web-01', 'www', 3],
        [localHost, 'db', 2],
      ],
    );
    assert.equal((await listSnapshots({ env })).length, seeded.length + 2);
  });

  it('the mass-deletion guard refuses every job that would lose more than half', async () => {
    const result = await runCronvault([
      'retention',
      'apply',
      '--from-config',
      web,
      '--from-config',
      local,
      '--repository',
      served,
    ]);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /web-01\/www.*retention refused/);
    assert.match(result.stderr, new RegExp(`${localHost}/db.*retention refused`));
    assert.equal((await listSnapshots({ env })).length, seeded.length + 2);
  });

  it("with --force-retention it removes exactly each host's own expired snapshots of each job, and none of others", async () => {
    const before = await listSnapshots({ env });
    const result = await runCronvault([
      'retention',
      'apply',
      '--from-config',
      web,
      '--from-config',
      local,
      '--repository',
      served,
      '--force-retention',
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    const after = await listSnapshots({ env });
    const newest = (host: string, tag: string, count: number) =>
      before
        .filter((s) => s.hostname === host && s.tags?.includes(tag))
        .sort((a, b) => b.time.localeCompare(a.time))
        .slice(0, count)
        .map((s) => s.id);
    const untouched = before
      .filter((s) => !(s.hostname === 'web-01' && s.tags?.includes('cronvault:www')))
      .filter((s) => !(s.hostname === localHost && s.tags?.includes('cronvault:db')))
      .map((s) => s.id);
    assert.deepEqual(
      after.map((s) => s.id).sort(),
      [...newest('web-01', 'cronvault:www', 2), ...newest(localHost, 'cronvault:db', 1), ...untouched].sort(),
    );
    assert.match(result.stderr, /web-01\/www.*removed 3 snapshots, kept 2/);
  });
});
