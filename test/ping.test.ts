// Dead-man's-switch pings: a real HTTP server on 127.0.0.1 stands in for Healthchecks.io,
// Uptime Kuma and ntfy, and records what each run of a real restic backup sends it.

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, runCronvault, writeTestConfig } from './support/cli.ts';
import { createRepository, type TestRepository } from './support/restic.ts';
import { freePort, LOOPBACK } from './support/services.ts';

const PASSWORD = 'ping-test repository password';
const URL_SECRET = 'pingUrlS3cret';

interface Received {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A monitor: answers 200 "OK" to everything and keeps each request. */
const startMonitor = async (): Promise<{ url: string; received: Received[]; server: Server }> => {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', `http://${LOOPBACK}`);
      received.push({
        method: request.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      response.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('monitor: no address');
  return { url: `http://${LOOPBACK}:${address.port}`, received, server };
};

describe('pings', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  let monitor: Awaited<ReturnType<typeof startMonitor>>;
  let data: string;
  before(async () => {
    tmp = await makeTempDir('cronvault-ping-');
    repo = await createRepository(tmp.dir, 'repo', PASSWORD);
    data = join(tmp.dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'file.txt'), 'some data\n');
    monitor = await startMonitor();
  });
  after(async () => {
    monitor.server.closeAllConnections();
    await new Promise((resolve) => monitor.server.close(resolve));
    await tmp.cleanup();
  });

  /** Runs one job with `job` keys over the shared repository; the requests it made. */
  const run = async (name: string, job: Record<string, unknown>) => {
    const base = join(tmp.dir, name);
    await mkdir(base, { recursive: true });
    const config = await writeTestConfig(base, [
      `jobs: ${JSON.stringify({
        [name]: {
          path: data,
          repository: repo.repository,
          password_file: repo.passwordFile,
          retention: 'none',
          retry: { attempts: 1 },
          ...job,
        },
      })}`,
    ]);
    const seen = monitor.received.length;
    const result = await runCronvault(['run', name, '-c', config, '-q']);
    return { result, requests: monitor.received.slice(seen) };
  };

  it('Healthchecks: /start, then the plain URL with the log tail as body, credentials as basic auth only', async () => {
    const base = monitor.url.replace('//', `//hc:${URL_SECRET}@`);
    const { result, requests } = await run('hc-success', {
      ping: { url: `${base}/ping/uuid-1` },
      // A hook's output goes to the log, so into the body, redacted.
      hooks: { shell: true, after: [`echo "uploaded to https://user:${URL_SECRET}@mirror.example/x"`] },
    });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(
      requests.map((r) => `${r.method} ${r.path}`),
      ['POST /ping/uuid-1/start', 'POST /ping/uuid-1'],
    );
    const end = requests[1]!;
    assert.match(end.body, /info: backup succeeded in .*snapshot [0-9a-f]{8}/);
    assert.match(end.body, /after hook: uploaded to https:\/\/user:\*\*\*@mirror\.example\/x/);
    assert.equal(end.headers.authorization, `Basic ${Buffer.from(`hc:${URL_SECRET}`).toString('base64')}`);
    for (const request of requests) {
      assert.ok(!request.body.includes(URL_SECRET), 'no URL credentials in a ping body');
      assert.ok(!request.body.includes(PASSWORD), 'no repository password in a ping body');
    }
    assert.ok(!result.stderr.includes(URL_SECRET), 'nor in the log');
  });

  it('Healthchecks: /start, then /fail with why the backup failed', async () => {
    const { result, requests } = await run('hc-failure', {
      ping: { url: `${monitor.url}/ping/uuid-2` },
      repository: join(tmp.dir, 'no-such-repository'),
    });
    assert.equal(result.exitCode, 1, result.stderr);
    assert.deepEqual(
      requests.map((r) => r.path),
      ['/ping/uuid-2/start', '/ping/uuid-2/fail'],
    );
    assert.match(requests[1]!.body, /error: backup failed after 1 attempt/);
  });

  it('Healthchecks with exit_code: true pings /<exit code>, and only the events in `on`', async () => {
    const { result, requests } = await run('hc-exit-code', {
      ping: { url: `${monitor.url}/ping/uuid-3`, on: ['success', 'failure'], exit_code: true },
      repository: join(tmp.dir, 'no-such-repository'),
    });
    assert.equal(result.exitCode, 1, result.stderr);
    assert.deepEqual(
      requests.map((r) => r.path),
      ['/ping/uuid-3/1'],
    );
  });

  it('Uptime Kuma: one GET with status=up and the summary as msg', async () => {
    const { result, requests } = await run('kuma', {
      ping: { url: `${monitor.url}/api/push/TOKEN?ping=`, kind: 'uptime-kuma' },
    });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(requests.length, 1, 'Kuma has no start signal');
    const [push] = requests;
    assert.equal(`${push!.method} ${push!.path}`, 'GET /api/push/TOKEN');
    assert.equal(push!.query.get('status'), 'up');
    assert.match(push!.query.get('msg') ?? '', /^backup succeeded in /);
  });

  it('ntfy: a titled message per event, the failure one with high priority', async () => {
    const { result, requests } = await run('ntfy', {
      ping: { url: `${monitor.url}/backups`, kind: 'ntfy', on: ['failure'] },
      repository: join(tmp.dir, 'no-such-repository'),
    });
    assert.equal(result.exitCode, 1, result.stderr);
    assert.equal(requests.length, 1);
    const [message] = requests;
    assert.equal(`${message!.method} ${message!.path}`, 'POST /backups');
    assert.match(String(message!.headers['x-title']), /^cronvault ntfy on .*: backup failed$/);
    assert.equal(message!.headers['x-priority'], '4');
    assert.match(message!.body, /backup failed/);
  });

  it('with the monitor down the backup still succeeds and says the ping failed', async () => {
    const port = await freePort();
    const { result } = await run('down', {
      ping: { url: `http://hc:${URL_SECRET}@${LOOPBACK}:${port}/ping/uuid-4` },
    });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(
      result.stderr,
      /warn: start ping to http:\/\/hc:\*\*\*@127\.0\.0\.1:\d+\/ping\/uuid-4 failed after 3 tries/,
    );
    assert.match(
      result.stderr,
      /warn: success ping to .* failed after 3 tries \(ECONNREFUSED\); the backup's result is unchanged/,
    );
    assert.ok(!result.stderr.includes(URL_SECRET));
  });
});
