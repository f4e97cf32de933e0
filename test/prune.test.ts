// Pruning split from retention: a run only forgets (cheap, scoped), and `cronvault prune` frees
// the space once per repository, on the named host only, with its own lock, retries on
// restic 0.14's repository lock, and its own metrics file labelled by the repository's name.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { parseCompactFreedBytes } from '../src/backends/borg.ts';
import { parsePruneRemovedBytes } from '../src/backends/restic.ts';
import { parseConfig } from '../src/config.ts';
import { renderPruneMetrics } from '../src/prune-metrics.ts';
import { defaultRepositoryName, prunesHere, repositoriesOf } from '../src/repositories.ts';
import { createBorgRepository, listArchives, useBorgBaseDir } from './support/borg.ts';
import { makeTempDir, runCronvault, startCronvault, writeTestConfig } from './support/cli.ts';
import { createRepository, listSnapshots, metricValue, type TestRepository } from './support/restic.ts';
import { waitFor } from './support/services.ts';

/** Bytes of the repository's pack files: what prune gives back. */
const packBytes = async (repository: string): Promise<number> => {
  let bytes = 0;
  for (const dir of await readdir(join(repository, 'data')))
    for (const pack of await readdir(join(repository, 'data', dir)))
      bytes += (await stat(join(repository, 'data', dir, pack))).size;
  return bytes;
};

describe('prune output parsing and metrics', () => {
  it("reads the bytes restic prune frees from its 'total prune' line", () => {
    assert.equal(parsePruneRemovedBytes('to repack: 0 blobs / 0 B\ntotal prune:           4 blobs / 801 B\n'), 801);
    assert.equal(parsePruneRemovedBytes('total prune:           9 blobs / 1.500 MiB'), 1_572_864);
    assert.equal(parsePruneRemovedBytes('done'), undefined);
  });

  it("reads the bytes borg compact frees from its 'compaction freed' line", () => {
    assert.equal(parseCompactFreedBytes(['compaction freed about 102.50 kB repository space.']), 102_500);
    assert.equal(parseCompactFreedBytes(['nothing here']), undefined);
  });

  it('labels prune metrics with the repository name, never the URL, and names unnamed repositories by a hash', async () => {
    const url = 'rest:https://user:secret@backup.example/repo';
    const name = defaultRepositoryName(url);
    assert.match(name, /^repo-[0-9a-f]{12}$/);
    assert.equal(defaultRepositoryName('rest:https://user:other@backup.example/repo'), name, 'password-free hash');
    const text = await renderPruneMetrics(name, { start: 1, success: true, duration: 2, exitCode: 0 });
    assert.match(text, new RegExp(`backup_last_prune_success\\{repository="${name}"\\} 1`));
    assert.doesNotMatch(text, /secret|example/);
    assert.doesNotMatch(text, /removed_bytes/, 'absent when the engine did not say');
  });
});

describe('repositories of a config', () => {
  const parse = (lines: string[]) =>
    repositoriesOf(
      parseConfig(
        ['defaults: { repository: /srv/r, password_file: /etc/p }', 'jobs:', ...lines, ''].join('\n'),
        'c.yml',
      ).jobs.values(),
    );

  it("jobs of several hostnames share a repository without prune settings: the first job's host prunes it", () => {
    const [repository, ...others] = parse(['  a: { path: /a, hostname: h1 }', '  b: { path: /b, hostname: h2 }']);
    assert.equal(others.length, 0);
    assert.equal(repository!.jobs.length, 2);
    assert.equal(repository!.pruneHost, 'h1');
    assert.ok(prunesHere(repository!));
  });

  it("a named pruner that is none of the jobs' hosts is not this host", () => {
    const [repository] = parse(['  a: { path: /a, hostname: h1, prune: { host: backup-01 } }']);
    assert.ok(!prunesHere(repository!));
  });

  it('two repositories may not share a repository_name', () => {
    assert.throws(
      () =>
        parse([
          '  a: { path: /a, repository_name: x }',
          '  b: { path: /b, repository: /srv/other, repository_name: x }',
        ]),
      /repository_name "x" names two different repositories/,
    );
  });
});

describe('prune with real restic 0.14, one repository shared by two hosts', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  let h1: string;
  let h2: string;
  const data = () => join(tmp.dir, 'data');

  const hostConfig = (host: string, extra: string[] = []) =>
    writeTestConfig(
      join(tmp.dir, host),
      [
        'prune: { schedule: "30 5 * * 0", host: h1 }',
        'defaults:',
        `  repository: ${repo.repository}`,
        `  password_file: ${repo.passwordFile}`,
        `  hostname: ${host}`,
        '  repository_name: shared',
        '  retry: { attempts: 20, min_delay: 200ms, max_delay: 400ms }',
        'jobs:',
        '  files:',
        `    path: ${data()}`,
        '    retention: { last: 1 }',
        '    retention_max_delete: 1',
        ...extra,
      ],
      `${host}.yml`,
    );

  before(async () => {
    tmp = await makeTempDir('cronvault-prune-');
    repo = await createRepository(tmp.dir);
    await mkdir(data());
    await mkdir(join(tmp.dir, 'h1'));
    await mkdir(join(tmp.dir, 'h2'));
    h1 = await hostConfig('h1');
    h2 = await hostConfig('h2');
  });
  after(() => tmp.cleanup());

  it('a run forgets the old snapshot but leaves its data for prune', async () => {
    for (const [round, config] of [
      [1, h2],
      [2, h2],
    ] as const) {
      // Each round's file is the only one, so the forgotten snapshot's data is used by nothing.
      await rm(join(data(), `unique-${round - 1}.bin`), { force: true });
      await writeFile(join(data(), `unique-${round}.bin`), randomBytes(200_000));
      const result = await runCronvault(['run', 'files', '-c', config]);
      assert.equal(result.exitCode, 0, result.stderr);
    }
    assert.equal((await listSnapshots(repo, '--host', 'h2')).length, 1, 'forget kept only the last');
    const dryRun = await execa('restic', ['prune', '--dry-run'], { env: repo.env });
    assert.match(String(dryRun.stdout), /total prune:\s+[1-9]\d* blobs/, 'the forgotten data is still there');
  });

  it('a host that is not the named pruner never prunes, and says why', async () => {
    const bytes = await packBytes(repo.repository);
    const result = await runCronvault(['prune', '-c', h2, '--json']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, /not pruned on this host: prune\.host is h1, this host is h2/);
    assert.deepEqual(JSON.parse(result.stdout).repositories[0], {
      repository: 'shared',
      pruned: false,
      outcome: 'skipped',
      reason: 'prune.host is h1, this host is h2',
    });
    assert.equal(await packBytes(repo.repository), bytes);
    assert.ok(!(await readdir(join(tmp.dir, 'h2', 'text'))).some((f) => f.startsWith('cronvault-prune')));
  });

  it('an unknown --repository is a usage error naming the repositories there are', async () => {
    const result = await runCronvault(['prune', '-c', h1, '--repository', 'shraed']);
    assert.equal(result.exitCode, 2);
    assert.match(
      result.stderr,
      /no repository "shraed" in the config \(did you mean "shared"\?\); repositories: shared/,
    );
  });

  it('cron prints the prune line on the pruning host only', async () => {
    const onH1 = await runCronvault(['cron', '-c', h1, '--bin', '/usr/bin/cronvault']);
    assert.equal(onH1.exitCode, 0, onH1.stderr);
    assert.match(onH1.stdout, new RegExp(`^30 5 \\* \\* 0 root /usr/bin/cronvault prune --config ${h1} --quiet$`, 'm'));
    const onH2 = await runCronvault(['cron', '-c', h2]);
    assert.doesNotMatch(onH2.stdout, / prune /);
  });

  it('systemd units include a prune service and timer on the pruning host only', async () => {
    const onH1 = await runCronvault(['systemd', '-c', h1, '--bin', '/usr/bin/cronvault']);
    assert.equal(onH1.exitCode, 0, onH1.stderr);
    assert.match(onH1.stdout, /^# \S+\/cronvault_prune-shared\.timer$/m);
    assert.match(
      onH1.stdout,
      new RegExp(`^ExecStart=/usr/bin/cronvault prune --repository shared --config ${h1} --quiet$`, 'm'),
    );
    assert.match(onH1.stdout, /^OnCalendar=Sun \*-\*-\* 05:30:00$/m);
    const onH2 = await runCronvault(['systemd', '-c', h2]);
    assert.doesNotMatch(onH2.stdout, /cronvault_prune/);
  });

  it('a dry run changes nothing and writes no metrics', async () => {
    const bytes = await packBytes(repo.repository);
    const result = await runCronvault(['prune', '-c', h1, '--dry-run']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(await packBytes(repo.repository), bytes);
    assert.ok(
      !(await readdir(join(tmp.dir, 'h1', 'text')).catch(() => [])).some((f) => f.startsWith('cronvault-prune')),
    );
  });

  it('the pruning host waits out another host holding the lock (cronvault retries on 0.14), then prunes and records it', async () => {
    const bytes = await packBytes(repo.repository);
    // h2's backup from standard input holds its lock until its input ends.
    const holder = execa('restic', ['backup', '--host', 'h2', '--stdin', '--stdin-filename', 'held'], {
      env: repo.env,
      stdin: 'pipe',
      reject: false,
    });
    holder.stdin?.write('held open');
    // Steps, not sleeps: a loaded machine starts restic late.
    await waitFor(async () => (await readdir(join(repo.repository, 'locks'))).length > 0, {
      message: "h2's backup holds its lock",
    });
    const prune = startCronvault(['prune', '-c', h1]);
    await waitFor(() => /repository is locked by another process/.test(prune.stderrSoFar()), {
      message: 'the prune met the lock',
    });
    holder.stdin?.end();
    assert.equal((await holder).exitCode, 0);
    const result = await prune.done;
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, /prune: attempt 2\/20 in .*repository is locked by another process/);
    assert.ok((await packBytes(repo.repository)) < bytes - 150_000, 'the forgotten 200 kB were given back');
    const prom = await readFile(join(tmp.dir, 'h1', 'text', 'cronvault-prune_shared.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_prune_success'), 1);
    assert.equal(metricValue(prom, 'backup_last_prune_exit_code'), 0);
    assert.ok((metricValue(prom, 'backup_last_prune_removed_bytes') ?? 0) > 0);
    assert.ok(Math.abs((metricValue(prom, 'backup_last_prune_start_timestamp_seconds') ?? 0) - Date.now() / 1000) < 60);
    assert.match(prom, /repository="shared"/);
    assert.ok(!prom.includes(repo.repository), 'no URL in the metrics');
  });

  it('a second prune of the same repository on this host exits 75 and leaves it to the first', async () => {
    // The first prune's lock, held the way cronvault holds it: flock(2) on its .flock file.
    const flockFile = join(tmp.dir, 'h1', 'state', 'locks', 'prune@shared.flock');
    const holder = execa('flock', [flockFile, '-c', 'echo held; exec cat'], { stdin: 'pipe', reject: false });
    await new Promise<void>((resolve) => holder.stdout?.once('data', () => resolve()));
    const result = await runCronvault(['prune', '-c', h1, '--json']);
    holder.stdin?.end();
    await holder;
    assert.equal(result.exitCode, 75, result.stderr);
    assert.match(result.stderr, /another prune of this repository is still running; skipped/);
    assert.equal(JSON.parse(result.stdout).repositories[0].outcome, 'locked');
  });

  it('a failed prune is recorded as failed and exits 1', async () => {
    const config = await writeTestConfig(
      join(tmp.dir, 'h1'),
      [
        'defaults:',
        `  repository: ${join(tmp.dir, 'no-such-repo')}`,
        `  password_file: ${repo.passwordFile}`,
        '  retry: { attempts: 1 }',
        'jobs:',
        `  files: { path: ${data()}, repository_name: gone }`,
      ],
      'broken.yml',
    );
    const result = await runCronvault(['prune', '-c', config]);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /prune failed after 1 attempt/);
    const prom = await readFile(join(tmp.dir, 'h1', 'text', 'cronvault-prune_gone.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_prune_success'), 0);
    assert.equal(metricValue(prom, 'backup_last_prune_exit_code'), 1);
  });

  it('jobs of one repository that name different pruners are a config error', async () => {
    await mkdir(join(tmp.dir, 'h3'));
    const config = await hostConfig('h3', ['  other:', `    path: ${tmp.dir}`, '    prune: { host: h9 }']);
    const result = await runCronvault(['check', '--config-only', '-c', config]);
    assert.equal(result.exitCode, 2, result.stderr);
    assert.match(result.stderr, /jobs files and other use the same repository but set different prune\.host/);
  });

  it('without prune settings each host prunes its own repositories weekly at a time drawn for it', async () => {
    const config = await writeTestConfig(tmp.dir, [
      'jobs:',
      `  files: { path: ${data()}, repository: ${repo.repository}, password_file: ${repo.passwordFile}, hostname: web-01 }`,
    ]);
    const result = await runCronvault(['cron', '-c', config]);
    // random.Random("web-01/prune").randrange(420) is 146: minute 26, hour 5, Tuesday.
    assert.match(result.stdout, /^26 5 \* \* 2 root \S+ prune --config \S+ --quiet$/m);
  });
});

describe('prune with restic 0.16 and later', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir('cronvault-prune16-');
  });
  after(() => tmp.cleanup());

  it('passes --retry-lock for as long as the retries would wait, instead of retrying itself', async () => {
    // A test double named after the arguments it answers: `version` and `prune --retry-lock …`.
    const fake = join(tmp.dir, 'restic-0.16');
    const argvLog = join(tmp.dir, 'argv');
    await writeFile(
      fake,
      [
        '#!/bin/sh',
        `echo "$@" >> ${argvLog}`,
        'case "$1" in',
        '  version) echo "restic 0.16.4 compiled with go1.21.6 on linux/amd64" ;;',
        '  prune) echo "total prune:           3 blobs / 1.500 KiB"; echo done ;;',
        '  *) exit 1 ;;',
        'esac',
        '',
      ].join('\n'),
    );
    await chmod(fake, 0o755);
    await writeFile(join(tmp.dir, 'pass'), 'x\n', { mode: 0o600 });
    const config = await writeTestConfig(tmp.dir, [
      'jobs:',
      '  files:',
      `    path: ${tmp.dir}`,
      `    repository: ${join(tmp.dir, 'repo')}`,
      `    password_file: ${join(tmp.dir, 'pass')}`,
      `    binary: ${fake}`,
      '    repository_name: modern',
      '    retry: { attempts: 6, max_delay: 10s }',
    ]);
    const result = await runCronvault(['prune', '-c', config]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(await readFile(argvLog, 'utf8'), /^prune --retry-lock 60s$/m);
    const prom = await readFile(join(tmp.dir, 'text', 'cronvault-prune_modern.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_prune_removed_bytes'), 1536);
  });
});

describe('prune with real borg 1.2', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir('cronvault-prune-borg-');
    useBorgBaseDir(tmp.dir);
  });
  after(() => tmp.cleanup());

  it('runs borg prune after each backup and leaves borg compact to cronvault prune, which frees the space', async () => {
    const repo = await createBorgRepository(tmp.dir);
    const data = join(tmp.dir, 'data');
    await mkdir(data);
    const config = await writeTestConfig(tmp.dir, [
      'jobs:',
      '  files:',
      '    engine: borg',
      `    path: ${data}`,
      `    repository: ${repo.repository}`,
      `    password_file: ${repo.passwordFile}`,
      '    repository_name: borg-repo',
      '    retention: { last: 1 }',
      '    retention_max_delete: 1',
    ]);
    for (const round of [1, 2]) {
      await rm(join(data, `unique-${round - 1}.bin`), { force: true });
      await writeFile(join(data, `unique-${round}.bin`), randomBytes(200_000));
      const result = await runCronvault(['run', 'files', '-c', config]);
      assert.equal(result.exitCode, 0, result.stderr);
    }
    assert.equal((await listArchives(repo)).length, 1, 'borg prune removed the older archive');
    const result = await runCronvault(['prune', '-c', config]);
    assert.equal(result.exitCode, 0, result.stderr);
    const prom = await readFile(join(tmp.dir, 'text', 'cronvault-prune_borg-repo.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_prune_success'), 1);
    // The first archive's 200 kB were still there after the run: compact gives them back now.
    assert.ok((metricValue(prom, 'backup_last_prune_removed_bytes') ?? 0) > 150_000, prom);
  });
});
