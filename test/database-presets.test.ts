// Database presets against real Debian servers started on 127.0.0.1: each preset's dump goes
// into a real restic 0.14 repository and comes back, and a dump that fails leaves no snapshot.

import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { cronvaultBin, makeTempDir, projectRoot, runCronvault, startCronvault } from './support/cli.ts';
import { type DatabaseServer, startMariadb, startPostgres, startRedis } from './support/databases.ts';
import { createRepository, listSnapshots, metricValue, type TestRepository } from './support/restic.ts';
import { waitFor } from './support/services.ts';

describe('database presets', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  before(async () => {
    tmp = await makeTempDir();
    repo = await createRepository(tmp.dir, 'repo');
  });
  after(async () => tmp.cleanup());

  /** A config with `jobs` (YAML lines below "jobs:") sharing one repository, one attempt each. */
  const writeConfig = async (name: string, jobs: string[]) => {
    const file = join(tmp.dir, `${name}.yml`);
    await writeFile(
      file,
      [
        `state_dir: ${join(tmp.dir, name, 'state')}`,
        `metrics: { textfile_dir: ${join(tmp.dir, name, 'text')} }`,
        'defaults:',
        `  repository: ${repo.repository}`,
        `  password_file: ${repo.passwordFile}`,
        '  retention: none',
        '  retry: { attempts: 1 }',
        'jobs:',
        ...jobs,
        '',
      ].join('\n'),
    );
    return file;
  };
  const prom = (config: string, job: string) =>
    readFile(join(tmp.dir, config, 'text', `cronvault_${job}.prom`), 'utf8');
  const snapshotsOf = (job: string) => listSnapshots(repo, '--tag', `cronvault:${job}`);

  describe('postgresql', () => {
    let pg: DatabaseServer;
    before(async () => {
      pg = await startPostgres();
    });
    after(async () => pg?.stop());

    it('restores a database with rows and a large object into a new database, and a missing database leaves no snapshot', async () => {
      await pg.sql('postgres', 'CREATE DATABASE app');
      await pg.sql(
        'app',
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, 'row ' || i FROM generate_series(1, 500) i",
      );
      const oid = await pg.sql('app', "SELECT lo_from_bytea(0, convert_to('a large object', 'UTF8'))");
      const connection = `host: ${pg.host}, port: ${pg.port}, user: postgres`;
      const config = await writeConfig('pg', [
        `  app: { postgresql: { database: app, ${connection} } }`,
        `  nodb: { postgresql: { database: nosuchdb, ${connection} } }`,
      ]);
      const run = await runCronvault(['run', 'app', '--config', config]);
      assert.equal(run.exitCode, 0, run.stderr);
      const metrics = await prom('pg', 'app');
      assert.equal(metricValue(metrics, 'backup_last_dump_exit_code'), 0);
      assert.ok((metricValue(metrics, 'backup_last_dump_bytes') ?? 0) > 1000, metrics);

      // Into a database nobody made: refused by pg_restore, and nothing is created.
      const nowhere = await runCronvault(['restore', 'app', '--into-database', 'not_made', '--config', config]);
      assert.equal(nowhere.exitCode, 1);
      assert.match(nowhere.stderr, /pg_restore failed with exit 1: .*not_made/);
      assert.equal(await pg.sql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'not_made'"), '0');
      await pg.sql('postgres', 'CREATE DATABASE app_restored');
      const restore = await runCronvault(['restore', 'app', '--into-database', 'app_restored', '--config', config]);
      assert.equal(restore.exitCode, 0, restore.stderr);
      const rows = "SELECT string_agg(id || v, ',' ORDER BY id) FROM t";
      assert.equal(await pg.sql('app_restored', rows), await pg.sql('app', rows));
      assert.equal(await pg.sql('app_restored', `SELECT convert_from(lo_get(${oid}), 'UTF8')`), 'a large object');

      const missing = await runCronvault(['run', 'nodb', '--config', config]);
      assert.equal(missing.exitCode, 1);
      assert.match(missing.stderr, /pg_dump .* failed with exit 1: .*nosuchdb/);
      assert.deepEqual(await snapshotsOf('nodb'), [], 'no snapshot of a failed dump');
      assert.equal(metricValue(await prom('pg', 'nodb'), 'backup_last_dump_exit_code'), 1);
    });
  });

  describe('mysql', () => {
    let db: DatabaseServer;
    before(async () => {
      db = await startMariadb();
    });
    after(async () => db?.stop());

    it('restores a database into a new one, with the password on no command line during the dump', async () => {
      const password = 'Pw-never-on-argv-7f3q';
      await db.sql('', `CREATE USER 'backup'@'127.0.0.1' IDENTIFIED BY '${password}'`);
      await db.sql('', "GRANT ALL ON *.* TO 'backup'@'127.0.0.1'");
      await db.sql('', 'CREATE DATABASE shop');
      // Big enough (a few MB) that the dump is still running while restic starts up.
      await db.sql(
        'shop',
        'CREATE TABLE t (id int PRIMARY KEY, v varchar(200)); INSERT INTO t SELECT seq, REPEAT(CHAR(65 + seq % 26), 150) FROM seq_1_to_30000; CREATE PROCEDURE p() SELECT 42',
      );
      const passwordFile = join(tmp.dir, 'mysql.pass');
      await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
      const config = await writeConfig('mysql', [
        `  shop: { mysql: { database: shop, host: ${db.host}, port: ${db.port}, user: backup, password_file: ${passwordFile} } }`,
      ]);
      const seen = new Set<string>();
      const running = startCronvault(['run', 'shop', '--config', config]);
      let finished = false;
      void running.done.then(() => {
        finished = true;
      });
      while (!finished) {
        for (const pid of await readdir('/proc').catch(() => [])) {
          if (!/^\d+$/.test(pid)) continue;
          const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
          if (cmdline) seen.add(cmdline.replaceAll('\0', ' '));
        }
        await sleep(5);
      }
      const run = await running.done;
      assert.equal(run.exitCode, 0, run.stderr);
      assert.ok(
        [...seen].some((line) =>
          /mariadb-dump --defaults-extra-file=\S+ --single-transaction --routines --events/.test(line),
        ),
        'the dump was seen running',
      );
      assert.deepEqual(
        [...seen].filter((line) => line.includes(password)),
        [],
        'no command line holds the password',
      );
      assert.deepEqual(
        (await readdir(join(tmp.dir, 'mysql', 'state', 'dumps'))).filter((f) => f.endsWith('.cnf')),
        [],
        'the defaults file with the password is removed after the run',
      );

      await db.sql('', 'CREATE DATABASE shop_restored');
      const restore = await runCronvault(['restore', 'shop', '--into-database', 'shop_restored', '--config', config]);
      assert.equal(restore.exitCode, 0, restore.stderr);
      const rows = 'SELECT COUNT(*), SUM(CRC32(v)) FROM t';
      assert.equal(await db.sql('shop_restored', rows), await db.sql('shop', rows));
      assert.equal(await db.sql('shop_restored', 'CALL p()'), '42');
    });
  });

  it('redis: keys written, dumped as RDB, loaded by a fresh redis-server, keys equal', async () => {
    const server = await startRedis({ password: 'redis-secret' });
    const fresh: { stop?: () => Promise<void> } = {};
    try {
      for (let i = 0; i < 50; i += 1) await server.sql('', `SET key${i} value${i}`);
      await server.sql('', 'RPUSH list a b c');
      const passwordFile = join(tmp.dir, 'redis.pass');
      await writeFile(passwordFile, 'redis-secret\n', { mode: 0o600 });
      const config = await writeConfig('redis', [
        `  cache: { redis: { host: ${server.host}, port: ${server.port}, password_file: ${passwordFile} } }`,
      ]);
      const run = await runCronvault(['run', 'cache', '--config', config]);
      assert.equal(run.exitCode, 0, run.stderr);
      const restoreDir = join(tmp.dir, 'redis-restore');
      await mkdir(restoreDir);
      // The RDB is binary: read as bytes, not text.
      const rdb = await execa(process.execPath, [cronvaultBin, 'restore', 'cache', '--to-stdout', '--config', config], {
        encoding: 'buffer',
        stdin: 'ignore',
      });
      await writeFile(join(restoreDir, 'dump.rdb'), rdb.stdout as Uint8Array);
      const loaded = await startRedis({ dir: restoreDir });
      fresh.stop = loaded.stop;
      const keys = async (s: DatabaseServer) => (await s.sql('', 'KEYS *')).split('\n').sort();
      assert.deepEqual(await keys(loaded), await keys(server));
      assert.equal(await loaded.sql('', 'GET key7'), 'value7');
      assert.equal(await loaded.sql('', 'LRANGE list 0 -1'), 'a\nb\nc');
      // The preset chooses its restore drill's reader: no verify.validator in the config.
      const verify = await runCronvault(['verify', 'cache', '--config', config]);
      assert.equal(verify.exitCode, 0, verify.stderr);
      assert.match(verify.stderr, /redis-check-rdb read all \d+ bytes of the newest dump/);
    } finally {
      await fresh.stop?.();
      await server.stop();
    }
  });

  it('sqlite: a database written to during the backup restores to a consistent database', async () => {
    const database = join(tmp.dir, 'live.db');
    await execa('sqlite3', [database, 'PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);']);
    // One sqlite3 process inserting rows as fast as it can, for as long as the backup runs.
    const writer = execa(
      'sh',
      [
        '-c',
        `i=0; while :; do i=$((i+1)); echo "INSERT INTO t (v) VALUES (randomblob(2000));"; done | sqlite3 ${database}`,
      ],
      { reject: false, detached: true },
    );
    try {
      await sleep(300);
      const config = await writeConfig('sqlite', [`  live: { sqlite: { database: ${database} } }`]);
      const run = await runCronvault(['run', 'live', '--config', config]);
      assert.equal(run.exitCode, 0, run.stderr);
      const dump = await runCronvault(['restore', 'live', '--to-stdout', '--config', config]);
      assert.equal(dump.exitCode, 0, dump.stderr);
      const restored = join(tmp.dir, 'restored.db');
      await execa('sqlite3', [restored], { input: dump.stdout });
      assert.equal((await execa('sqlite3', [restored, 'PRAGMA integrity_check'])).stdout, 'ok');
      assert.ok(Number((await execa('sqlite3', [restored, 'SELECT COUNT(*) FROM t'])).stdout) > 0);
      const verify = await runCronvault(['verify', 'live', '--config', config]);
      assert.equal(verify.exitCode, 0, verify.stderr);
      assert.match(verify.stderr, /sqlite-sql read all \d+ bytes of the newest dump/);
    } finally {
      process.kill(-writer.pid!, 'SIGKILL');
      await writer;
    }
  });

  it('a producer that dies half-way, writes nothing, or is killed fails the run and leaves no snapshot', async () => {
    const config = await writeConfig('dies', [
      '  halfway: { command: "head -c 10M /dev/urandom; exit 1" }',
      '  silent: { command: "true" }',
      '  killed: { command: "printf some; kill -9 $$" }',
      `  norepo: { command: "head -c 5M /dev/zero", repository: ${join(tmp.dir, 'no-such-repo')} }`,
    ]);
    const halfway = await runCronvault(['run', 'halfway', '--config', config]);
    assert.equal(halfway.exitCode, 1);
    assert.match(halfway.stderr, /failed with exit 1; its partial snapshot was removed/);
    assert.deepEqual(await snapshotsOf('halfway'), []);
    const metrics = await prom('dies', 'halfway');
    assert.equal(metricValue(metrics, 'backup_last_dump_exit_code'), 1);
    assert.equal(metricValue(metrics, 'backup_last_dump_bytes'), 10 * 1024 * 1024);

    const silent = await runCronvault(['run', 'silent', '--config', config]);
    assert.equal(silent.exitCode, 1);
    assert.match(silent.stderr, /command "true" wrote nothing/);
    assert.deepEqual(await snapshotsOf('silent'), []);
    assert.equal(metricValue(await prom('dies', 'silent'), 'backup_last_dump_bytes'), 0);

    const killed = await runCronvault(['run', 'killed', '--config', config]);
    assert.equal(killed.exitCode, 1);
    assert.match(killed.stderr, /failed with exit 137; its partial snapshot was removed/);
    assert.deepEqual(await snapshotsOf('killed'), []);

    // restic failing on its own ends the producer with a closed pipe: the cause is restic's.
    const norepo = await runCronvault(['run', 'norepo', '--config', config]);
    assert.equal(norepo.exitCode, 1);
    assert.match(norepo.stderr, /repository does not exist/);
  });

  it('duplicati: the dump goes to a 0600 file in state_dir, is backed up and removed; too little free space refuses the run', async () => {
    const database = join(tmp.dir, 'dup.db');
    await execa('sqlite3', [database, 'CREATE TABLE t (v); INSERT INTO t VALUES (1);']);
    const fake = join(tmp.dir, 'fake-duplicati');
    await mkdir(fake);
    const pass = join(tmp.dir, 'dup.pass');
    await writeFile(pass, 'passphrase\n', { mode: 0o600 });
    const state = join(tmp.dir, 'dup', 'state');
    const config = join(tmp.dir, 'dup.yml');
    await writeFile(
      config,
      [
        `state_dir: ${state}`,
        `metrics: { textfile_dir: ${join(tmp.dir, 'dup', 'text')} }`,
        'jobs:',
        `  notes: { engine: duplicati, binary: ${join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli')},`,
        `    repository: "file:///srv/unused", password_file: ${pass}, retention: none, retry: { attempts: 1 },`,
        `    sqlite: { database: ${database} } }`,
        '',
      ].join('\n'),
    );
    const env = { FAKE_DUPLICATI_STATE: fake };
    const run = await runCronvault(['run', 'notes', '--config', config], { env });
    assert.equal(run.exitCode, 0, run.stderr);
    const [call] = (await readFile(join(fake, 'calls.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(call.args[2], join(state, 'dumps', 'notes'));
    assert.equal(call.sourceFiles.length, 1);
    assert.equal(call.sourceFiles[0].name, 'dup.db.sql');
    assert.equal(call.sourceFiles[0].mode, '600');
    assert.ok(call.sourceFiles[0].size > 20);
    assert.deepEqual(await readdir(join(state, 'dumps')), [], 'the dump is removed after the backup');
    assert.equal(metricValue(await prom('dup', 'notes'), 'backup_last_dump_bytes'), call.sourceFiles[0].size);

    // SIGTERM while duplicati-cli runs: the dump is removed all the same.
    const stopped = execa(process.execPath, [cronvaultBin, 'run', 'notes', '--config', config], {
      env: { ...env, FAKE_DUPLICATI_SLEEP_MS: '10000' },
      reject: false,
      stdin: 'ignore',
    });
    await waitFor(async () => (await readFile(join(fake, 'calls.jsonl'), 'utf8')).trim().split('\n').length === 2);
    assert.equal((await readdir(join(state, 'dumps', 'notes'))).length, 1, 'the dump exists while the engine runs');
    stopped.kill('SIGTERM');
    assert.equal((await stopped).exitCode, 143);
    assert.deepEqual(await readdir(join(state, 'dumps')), [], 'the dump is removed after SIGTERM');

    // The previous dump was bigger than any disk: the run refuses to start dumping.
    const stateFile = join(state, 'jobs', 'notes.json');
    const saved = JSON.parse(await readFile(stateFile, 'utf8'));
    await writeFile(stateFile, JSON.stringify({ ...saved, dumpBytes: 2 ** 60 }));
    const refused = await runCronvault(['run', 'notes', '--config', config], { env });
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /has .* free, less than the previous dump's/);
    assert.equal(
      (await readFile(join(fake, 'calls.jsonl'), 'utf8')).trim().split('\n').length,
      2,
      'duplicati-cli did not run',
    );
  });

  it('a custom-format PostgreSQL stream that pg_restore --list rejects fails the run and leaves no snapshot', async () => {
    const bin = join(tmp.dir, 'fake-pg-dump');
    await mkdir(bin);
    await writeFile(join(bin, 'pg_dump'), '#!/bin/sh\necho "this is not a dump"\n', { mode: 0o755 });
    const config = await writeConfig('notadump', ['  fake: { postgresql: { database: app } }']);
    const run = await runCronvault(['run', 'fake', '--config', config], {
      env: { PATH: `${bin}:${process.env.PATH}` },
    });
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /wrote 19 bytes that are not a dump: pg_restore rejected the dump/);
    assert.deepEqual(await snapshotsOf('fake'), []);
    assert.equal(metricValue(await prom('notadump', 'fake'), 'backup_last_dump_exit_code'), 0);
  });

  it('a preset whose client is not installed fails before the engine starts, naming the Debian package', async () => {
    const bin = join(tmp.dir, 'only-restic');
    await mkdir(bin);
    for (const tool of ['restic', 'flock']) await symlink((await execa('which', [tool])).stdout, join(bin, tool));
    const config = await writeConfig('noclient', ['  pg: { postgresql: { database: app } }']);
    const env = { PATH: bin };
    const run = await runCronvault(['run', 'pg', '--config', config], { env, extendEnv: false });
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /needs pg_dump for its postgresql dump.*apt-get install postgresql-client/);
    assert.equal(metricValue(await prom('noclient', 'pg'), 'backup_last_exit_code'), -1);
    const check = await runCronvault(['check', '--config', config], { env, extendEnv: false });
    assert.match(check.stdout + check.stderr, /postgresql client.*apt-get install postgresql-client/s);
  });
});
