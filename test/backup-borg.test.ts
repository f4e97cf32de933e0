// `cronvault run`, `restore` and `snapshots` against the real Debian borg (1.2): what borgmatic
// users get when they switch. One repository serves most cases (repokey init is slow).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import {
  archiveGlobFor,
  archiveNameFor,
  borg as borgBackend,
  borgEnv,
  classifyBorgExit,
} from '../src/backends/borg.ts';
import type { JobConfig } from '../src/config.ts';
import { type BorgRepository, createBorgRepository, holdLock, listArchives, useBorgBaseDir } from './support/borg.ts';
import { cronvaultBin, makeTempDir, runCronvault, writeTestConfig } from './support/cli.ts';
import { metricValue } from './support/restic.ts';
import { waitFor } from './support/services.ts';

const readTree = async (dir: string): Promise<Map<string, string>> => {
  const tree = new Map<string, string>();
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const full = join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else tree.set(relative(dir, full), (await readFile(full)).toString('base64'));
    }
  };
  await walk(dir);
  return tree;
};

describe('cronvault with real borg', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: BorgRepository;
  let data: string;
  let config: string;
  const prom = (job: string) => readFile(join(tmp.dir, 'text', `cronvault_${job}.prom`), 'utf8');

  before(async () => {
    tmp = await makeTempDir('cronvault-borg-');
    useBorgBaseDir(tmp.dir);
    repo = await createBorgRepository(tmp.dir);
    data = join(tmp.dir, 'data');
    await mkdir(join(data, 'nested'), { recursive: true });
    const wrong = join(tmp.dir, 'wrong.pass');
    await writeFile(wrong, 'not the password\n');
    await chmod(wrong, 0o600);
    config = await writeTestConfig(tmp.dir, [
      `defaults: { engine: borg, repository: ${repo.repository}, password_file: ${repo.passwordFile}, retention: none, retry: { attempts: 10, min_delay: 1s, max_delay: 1s } }`,
      'jobs:',
      `  files: { path: ${data}, tags: [web, nightly] }`,
      `  wrongpw: { path: ${data}, password_file: ${wrong} }`,
      `  missing: { path: ${data}, repository: ${join(tmp.dir, 'no-such-repo')} }`,
      `  dump: { command: "printf 'line one\\nline two\\n'", stdin_filename: db.sql }`,
      `  failingdump: { command: "printf partial; exit 3", retry: { attempts: 1 } }`,
      '  emptydump: { command: "true", retry: { attempts: 1 } }',
      `  fresh: { path: ${data}, repository: ${join(tmp.dir, 'fresh', 'repo')}, init: true }`,
      `  locked: { path: ${data} }`,
      `  foreignlock: { path: ${data}, retry: { attempts: 2, min_delay: 1s, max_delay: 1s } }`,
    ]);
  });
  after(async () => tmp.cleanup());

  it('makes a first and an incremental backup with borg stats in the metrics, and restores it byte for byte', async () => {
    await writeFile(join(data, 'a.txt'), 'first version\n');
    await writeFile(join(data, 'nested', 'random.bin'), randomBytes(200_000));
    const first = await runCronvault(['run', 'files', '--config', config]);
    assert.equal(first.exitCode, 0, first.stderr);
    const firstProm = await prom('files');
    assert.equal(metricValue(firstProm, 'backup_last_run_success'), 1);
    assert.equal(metricValue(firstProm, 'backup_last_files_processed'), 2);
    assert.match(
      await readFile(join(tmp.dir, 'text', 'cronvault_jobs.prom'), 'utf8'),
      /backup_job_info\{backup="files",engine="borg"/,
    );
    assert.ok(metricValue(firstProm, 'backup_last_added_bytes')! > 150_000, 'random data is stored once');

    await writeFile(join(data, 'b.txt'), 'a new file\n');
    const second = await runCronvault(['run', 'files', '--config', config]);
    assert.equal(second.exitCode, 0, second.stderr);
    const text = await prom('files');
    assert.equal(metricValue(text, 'backup_last_files_processed'), 3);
    assert.equal(metricValue(text, 'backup_last_run_attempts'), 1);
    // The second archive shares the random file's chunks: far less is added than read.
    assert.ok(metricValue(text, 'backup_last_processed_bytes')! > 200_000);
    assert.ok(
      metricValue(text, 'backup_last_added_bytes')! < 50_000,
      `deduplicated: ${metricValue(text, 'backup_last_added_bytes')}`,
    );
    assert.equal(
      metricValue(text, 'backup_last_files_new'),
      undefined,
      'borg reports no new-file count, so none is written',
    );

    const archives = await listArchives(repo);
    const own = archives.filter((a) => a.name.startsWith(`files@${hostname()}-`));
    assert.equal(own.length, 2);
    const info = JSON.parse(
      String((await execa('borg', ['info', '--json', `::${own[1]!.name}`], { env: repo.env })).stdout),
    ) as { archives: { comment: string; stats: { original_size: number; nfiles: number } }[] };
    assert.equal(info.archives[0]!.comment, 'cronvault tags: web, nightly', 'tags are kept in the archive comment');
    // create's original_size also counts the archive's own metadata; info's is the files' bytes.
    const fileBytes = info.archives[0]!.stats.original_size;
    assert.equal(fileBytes, 14 + 200_000 + 11);
    const processed = metricValue(text, 'backup_last_processed_bytes')!;
    assert.ok(
      processed >= fileBytes && processed < fileBytes + 10_000,
      `bytes processed ${processed} vs files ${fileBytes}`,
    );
    assert.equal(metricValue(text, 'backup_last_files_processed'), info.archives[0]!.stats.nfiles);

    const promtool = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
    assert.equal(promtool.exitCode, 0, `${promtool.stdout}${promtool.stderr}`);

    const listed = await runCronvault(['snapshots', 'files', '--config', config, '--json']);
    assert.equal(listed.exitCode, 0, listed.stderr);
    const snapshots = JSON.parse(listed.stdout) as { id: string }[];
    assert.deepEqual(
      snapshots.map((s) => s.id),
      own.map((a) => a.name),
    );

    const target = join(tmp.dir, 'restored');
    const restored = await runCronvault(['restore', 'files', '--config', config, '--target', target]);
    assert.equal(restored.exitCode, 0, restored.stderr);
    assert.deepEqual(await readTree(join(target, data)), await readTree(data));

    const status = JSON.parse((await runCronvault(['status', '--config', config, '--json'])).stdout) as {
      jobs: { name: string; engine: string; healthy: boolean; lastRun: { exitMeaning: string } }[];
    };
    const files = status.jobs.find((j) => j.name === 'files')!;
    assert.deepEqual([files.engine, files.healthy, files.lastRun.exitMeaning], ['borg', true, 'success']);
    const history = await runCronvault(['history', 'files', '--config', config]);
    assert.equal(history.exitCode, 0, history.stderr);
    assert.match(history.stdout, new RegExp(own[1]!.name));
  });

  it('backs up a command job through --content-from-command and restores it to stdout', async () => {
    const run = await runCronvault(['run', 'dump', '--config', config]);
    assert.equal(run.exitCode, 0, run.stderr);
    const restored = await runCronvault(['restore', 'dump', '--config', config, '--to-stdout'], {
      stripFinalNewline: false,
    });
    assert.equal(restored.exitCode, 0, restored.stderr);
    assert.equal(restored.stdout, 'line one\nline two\n');
  });

  it("backs up a database preset with its dump client as borg's --content-from-command and restores it", async () => {
    const database = join(tmp.dir, 'notes.db');
    await execa('sqlite3', [database, "CREATE TABLE t (v); INSERT INTO t VALUES ('kept');"]);
    // Its own state and textfile directories: the shared config's cronvault_jobs.prom stays as it is.
    const presetDir = join(tmp.dir, 'preset');
    await mkdir(presetDir);
    const presetConfig = await writeTestConfig(presetDir, [
      `defaults: { engine: borg, repository: ${repo.repository}, password_file: ${repo.passwordFile}, retention: none }`,
      'jobs:',
      `  notes: { sqlite: { database: ${database} }, retry: { attempts: 1 } }`,
    ]);
    const run = await runCronvault(['run', 'notes', '--config', presetConfig]);
    assert.equal(run.exitCode, 0, run.stderr);
    const restored = await runCronvault(['restore', 'notes', '--config', presetConfig, '--to-stdout']);
    assert.equal(restored.exitCode, 0, restored.stderr);
    const copy = join(tmp.dir, 'notes-restored.db');
    await execa('sqlite3', [copy], { input: restored.stdout });
    assert.equal((await execa('sqlite3', [copy, 'SELECT v FROM t'])).stdout, 'kept');
  });

  it('stores no archive when the command of a command job fails', async () => {
    const before = (await listArchives(repo)).length;
    const run = await runCronvault(['run', 'failingdump', '--config', config]);
    assert.equal(run.exitCode, 1, run.stderr);
    assert.match(run.stderr, /command "printf partial; exit 3" failed.*borg made no archive/);
    assert.equal((await listArchives(repo)).length, before);
    assert.equal(metricValue(await prom('failingdump'), 'backup_last_run_success'), 0);
  });

  it('keeps no archive of a command that wrote nothing, and records the dump in the metrics', async () => {
    const before = (await listArchives(repo)).length;
    const run = await runCronvault(['run', 'emptydump', '--config', config]);
    assert.equal(run.exitCode, 1, run.stderr);
    assert.match(run.stderr, /command "true" wrote nothing; its empty archive was removed/);
    assert.equal((await listArchives(repo)).length, before);
    const text = await prom('emptydump');
    assert.equal(metricValue(text, 'backup_last_run_success'), 0);
    assert.equal(metricValue(text, 'backup_last_dump_bytes'), 0);
    assert.equal(metricValue(text, 'backup_last_dump_exit_code'), 0);
  });

  it('stops after one attempt on a wrong password and keeps the last success time', async () => {
    const passwordFile = join(tmp.dir, 'wrong.pass');
    await writeFile(passwordFile, await readFile(repo.passwordFile));
    const good = await runCronvault(['run', 'wrongpw', '--config', config]);
    assert.equal(good.exitCode, 0, good.stderr);
    const lastSuccess = metricValue(await prom('wrongpw'), 'backup_last_success_timestamp_seconds');
    assert.ok(lastSuccess! > 0);
    await writeFile(passwordFile, 'not the password\n');
    const result = await runCronvault(['run', 'wrongpw', '--config', config]);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /wrong password; not retrying/);
    assert.ok(!result.stderr.includes('not the password'), 'the password is never printed');
    const text = await prom('wrongpw');
    assert.equal(metricValue(text, 'backup_last_run_success'), 0);
    assert.equal(metricValue(text, 'backup_last_run_attempts'), 1);
    assert.equal(metricValue(text, 'backup_last_exit_code'), 2);
    assert.equal(metricValue(text, 'backup_last_success_timestamp_seconds'), lastSuccess);
  });

  it('passes the passphrase only through BORG_PASSCOMMAND: a BORG_PASSPHRASE in its own environment never reaches borg', async () => {
    const result = await runCronvault(['run', 'files', '--config', config], {
      env: { BORG_PASSPHRASE: 'not the password', BORG_PASSCOMMAND: 'false' },
    });
    assert.equal(result.exitCode, 0, result.stderr);
    const history = await readFile(join(tmp.dir, 'state', 'history', 'files.jsonl'), 'utf8');
    assert.match(history, /"outcome":"success"/);
    assert.ok(!`${result.stderr}${history}`.includes('correct horse'), 'the passphrase is never printed or recorded');
  });

  it('quotes a password_file path so borg splits BORG_PASSCOMMAND back into exactly that path', async () => {
    const awkward = "/tmp/a dir/it's $HOME; rm -rf x.pass";
    const env = borgEnv({ passwordFile: awkward, env: {}, repository: '/r' } as unknown as JobConfig);
    const split = await execa('python3', [
      '-c',
      'import json, shlex, sys; print(json.dumps(shlex.split(sys.argv[1])))',
      env.BORG_PASSCOMMAND!,
    ]);
    assert.deepEqual(JSON.parse(split.stdout), ['cat', '--', awkward]);
    assert.equal(env.BORG_PASSPHRASE, undefined);
    assert.equal(env.BORG_RELOCATED_REPO_ACCESS_IS_OK, 'no');
    assert.equal(env.BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK, 'no');
  });

  it('fails at once when the repository does not exist', async () => {
    const result = await runCronvault(['run', 'missing', '--config', config]);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /repository does not exist .*; not retrying/);
    assert.equal(metricValue(await prom('missing'), 'backup_last_run_attempts'), 1);
  });

  it('creates the repository with init: true (repokey-blake2) and backs up into it', async () => {
    const result = await runCronvault(['run', 'fresh', '--config', config]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, /creating it \(init: true/);
    const info = JSON.parse(
      String((await execa('borg', ['info', '--json', join(tmp.dir, 'fresh', 'repo')], { env: repo.env })).stdout),
    ) as { encryption: { mode: string } };
    assert.equal(info.encryption.mode, 'repokey-blake2');
  });

  it('waits for a lock held by a live borg process, retrying until it ends', async () => {
    const holder = await holdLock(repo);
    const run = execa(process.execPath, [cronvaultBin, 'run', 'locked', '--config', config], {
      reject: false,
      stdin: 'ignore',
    });
    let stderr = '';
    run.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // The lock goes away only once an attempt has failed on it.
    await waitFor(() => /attempt 1\/10 failed: .*repository is locked by another process/.test(stderr), {
      timeoutMs: 60_000,
      message: 'a failed attempt on the lock',
    }).finally(() => holder.release());
    const result = await run;
    assert.equal(result.exitCode, 0, stderr);
    const text = await prom('locked');
    assert.ok(metricValue(text, 'backup_last_run_attempts')! > 1, 'more than one attempt');
    assert.equal(metricValue(text, 'backup_last_run_success'), 1);
  });

  it("breaks a stale lock left by this host's killed run, and the run succeeds", async () => {
    // Same host name, another node id: borg itself does not take it for its own stale lock.
    const holder = await holdLock(repo, { hostId: `${hostname()}@1` });
    await holder.killHard();
    assert.equal((await readdir(join(repo.repository, 'lock.exclusive'))).length, 1, 'the killed run left its lock');
    const result = await runCronvault(['run', 'locked', '--config', config]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`broke a stale lock left by pid ${holder.borgPid} on this host`));
  });

  it("never breaks another host's lock", async () => {
    const holder = await holdLock(repo, { hostId: 'otherhost@1' });
    await holder.killHard();
    try {
      const result = await runCronvault(['run', 'foreignlock', '--config', config]);
      assert.equal(result.exitCode, 1, result.stderr);
      assert.doesNotMatch(result.stderr, /broke a stale lock/);
      const lock = await readdir(join(repo.repository, 'lock.exclusive'));
      assert.ok(
        lock.some((entry) => entry.startsWith('otherhost@1.')),
        'the other host still holds its lock',
      );
      assert.equal(metricValue(await prom('foreignlock'), 'backup_last_run_attempts'), 2);
    } finally {
      await execa('borg', ['break-lock'], { env: repo.env });
    }
  });
});

describe('borg exit codes and names (no repository)', () => {
  it('classifies borg 1.2 exit 2 by its stderr, and 1.4 modern codes by the table', () => {
    const cases: [number, string, string, string][] = [
      [
        2,
        'passphrase supplied in BORG_PASSPHRASE, by BORG_PASSCOMMAND or via BORG_PASSPHRASE_FD is incorrect.',
        'permanent',
        'wrong password',
      ],
      [2, 'Repository /srv/borg does not exist.', 'permanent', 'repository does not exist'],
      [2, 'Failed to create/acquire the lock /srv/borg/lock.exclusive (timeout).', 'transient', 'locked'],
      [
        2,
        'Remote: ssh: connect to host nas port 22: Connection refused\nConnection closed by remote host',
        'transient',
        'unreachable',
      ],
      [13, '', 'permanent', 'repository does not exist'],
      [52, '', 'permanent', 'wrong password'],
      [73, '', 'transient', 'locked'],
      [80, '', 'transient', 'connection'],
      [1, '', 'warning', 'warnings'],
      [107, '', 'warning', 'warning'],
      [143, '', 'permanent', 'signal 15'],
      [2, 'something nobody expected', 'transient', 'something nobody expected'],
    ];
    for (const [code, stderr, kind, reason] of cases) {
      const outcome = classifyBorgExit(code, stderr);
      assert.equal(outcome.kind, kind, `exit ${code} ${stderr}`);
      assert.match(outcome.reason, new RegExp(reason), `exit ${code} ${stderr}`);
    }
    assert.equal(borgBackend.describeExitCode(52), 'wrong password');
    assert.equal(borgBackend.describeExitCode(2), 'error');
    assert.match(borgBackend.describeExitCode(42), /unknown exit code 42/);
  });

  it('names archives <job>@<host>-<time> and scopes retention to exactly that job on that host', () => {
    const job = { name: 'db', hostname: 'h1' } as unknown as JobConfig;
    assert.equal(archiveNameFor(job), 'db@h1-{now:%Y-%m-%dT%H:%M:%S}');
    const glob = new RegExp(
      `^${archiveGlobFor(job)
        .replace(/\[0-9\]/g, '\\d')
        .replace(/\./g, '\\.')}$`,
    );
    assert.ok(glob.test('db@h1-2026-11-24T10:00:00'));
    for (const other of [
      'db-old@h1-2026-11-24T10:00:00',
      'db@h1-x-2026-11-24T10:00:00',
      'db@h10-2026-11-24T10:00:00',
      'xdb@h1-2026-11-24T10:00:00',
      'db@h1-2026-11-24T10:00:00.checkpoint',
    ]) {
      assert.ok(!glob.test(other), other);
    }
    assert.throws(
      () => archiveNameFor({ name: 'db', hostname: 'h1@x' } as unknown as JobConfig),
      /cannot be part of a borg archive name/,
    );
  });
});
