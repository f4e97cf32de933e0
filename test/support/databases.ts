// Real database servers from Debian for the preset tests: PostgreSQL 15, MariaDB and Redis, each
// in its own temporary directory on a free 127.0.0.1 port, started once per test file.
//
//   const pg = await startPostgres();
//   try {
//     await pg.sql('postgres', 'CREATE DATABASE app');
//   } finally {
//     await pg.stop();
//   }
//
// PostgreSQL refuses to run as root, so initdb and postgres run as the `postgres` user.

import { chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { freePort, LOOPBACK, waitFor } from './services.ts';

export interface DatabaseServer {
  host: string;
  port: number;
  /** Runs SQL (or a redis command line) and returns its output, trimmed. */
  sql: (database: string, statement: string) => Promise<string>;
  stop: () => Promise<void>;
}

/** Stops the server and removes its dir; PostgreSQL takes SIGINT (fast shutdown: SIGTERM waits for clients). */
const stopper =
  (server: ResultPromise, dir: string, signal: NodeJS.Signals = 'SIGTERM') =>
  async () => {
    server.kill(signal);
    await server.catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };

const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

export const startPostgres = async (): Promise<DatabaseServer> => {
  const dir = await mkdtemp(join(tmpdir(), 'cronvault-pg-'));
  await chown(dir, ...(await userIds('postgres')));
  const data = join(dir, 'data');
  const asPostgres = (binary: string, args: string[]) =>
    // setpriv execs the binary itself (runuser would stay in between and not pass signals on).
    execa('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', binary, ...args], { cwd: dir });
  await asPostgres(`${POSTGRES_BIN}/initdb`, ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const server = asPostgres(`${POSTGRES_BIN}/postgres`, [
    '-D',
    data,
    '-k',
    dir,
    '-p',
    String(port),
    '-c',
    `listen_addresses=${LOOPBACK}`,
    '-c',
    'fsync=off',
  ]);
  const sql = async (database: string, statement: string) =>
    (
      await execa('psql', [
        '-X',
        '-qAt',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        LOOPBACK,
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        database,
        '-c',
        statement,
      ])
    ).stdout.trim();
  await waitFor(() => sql('postgres', 'SELECT 1'), { timeoutMs: 30_000, message: 'postgres answers' });
  return { host: LOOPBACK, port, sql, stop: stopper(server, dir, 'SIGINT') };
};

const userIds = async (user: string): Promise<[number, number]> => {
  const [uid, gid] = await Promise.all([execa('id', ['-u', user]), execa('id', ['-g', user])]);
  return [Number(uid.stdout), Number(gid.stdout)];
};

/** MariaDB with root@localhost reachable on its socket without a password, for setting up users. */
export const startMariadb = async (): Promise<DatabaseServer & { socket: string }> => {
  const dir = await mkdtemp(join(tmpdir(), 'cronvault-mariadb-'));
  const data = join(dir, 'data');
  await mkdir(data);
  await execa('mariadb-install-db', [
    '--no-defaults',
    `--datadir=${data}`,
    '--user=root',
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
  ]);
  const port = await freePort();
  const socket = join(dir, 'mysqld.sock');
  const server = execa('mariadbd', [
    '--no-defaults',
    `--datadir=${data}`,
    `--socket=${socket}`,
    `--port=${port}`,
    `--bind-address=${LOOPBACK}`,
    '--user=root',
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    '--skip-log-bin',
    '--innodb-flush-log-at-trx-commit=0',
  ]);
  const sql = async (database: string, statement: string) =>
    (
      await execa('mariadb', [
        '--no-defaults',
        `--socket=${socket}`,
        '-uroot',
        '-N',
        '-B',
        '-e',
        statement,
        ...(database ? [database] : []),
      ])
    ).stdout.trim();
  await waitFor(() => sql('', 'SELECT 1'), { timeoutMs: 30_000, message: 'mariadb answers' });
  return { host: LOOPBACK, port, socket, sql, stop: stopper(server, dir) };
};

/** redis-server with persistence off; `sql` runs one redis-cli command line (space-separated). */
export const startRedis = async (
  options: { password?: string; dir?: string } = {},
): Promise<DatabaseServer & { dir: string }> => {
  // A given dir holding dump.rdb: the server loads it at start.
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'cronvault-redis-')));
  const port = await freePort();
  const server = execa('redis-server', [
    '--port',
    String(port),
    '--bind',
    LOOPBACK,
    '--save',
    '',
    '--dir',
    dir,
    // The RDB stream to `redis-cli --rdb` would otherwise start 5 s late, waiting for more replicas.
    '--repl-diskless-sync-delay',
    '0',
    ...(options.password ? ['--requirepass', options.password] : []),
  ]);
  const sql = async (_database: string, command: string) =>
    (
      await execa('redis-cli', ['-h', LOOPBACK, '-p', String(port), ...command.split(' ')], {
        env: options.password ? { REDISCLI_AUTH: options.password } : {},
      })
    ).stdout.trim();
  await waitFor(async () => (await sql('', 'PING')) === 'PONG', { timeoutMs: 20_000, message: 'redis answers' });
  return { host: LOOPBACK, port, dir, sql, stop: stopper(server, dir) };
};
