// The monitoring half at fleet scale, small: 50 simulated hosts × 4 jobs (sim/, the textfiles
// rendered by cronvault's own renderer) scraped by a real Prometheus through file_sd, with the
// real alert rules. Exactly the expected (instance, backup) pairs fire each alert, none more;
// `cronvault fleet` reads the same Prometheus, puts failing and stale jobs first and exits 1.
// `make fleet-sim` runs the same at 1,000 × 10 (docs/scale.md).

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { expectedAlerts, JOB_STATES, type SimJob } from '../sim/fleet-model.ts';
import { type FleetSim, startFleetSim, waitForAlerts } from '../sim/fleet-sim.ts';
import { makeTempDir, runCronvault } from './support/cli.ts';
import { freePort, LOOPBACK } from './support/services.ts';

const HEALTHY_STATES = new Set(['healthyDaily', 'healthyUnscheduled', 'weekly', 'duplicatiWarnings']);
/** The states whose jobs fire an alert (failing, stale, stuck): listed first by `cronvault fleet`. */
const ALERTING_STATES = new Set(['failing', 'failingLong', 'staleDaily', 'staleUnscheduled', 'stuck']);

interface FleetJson {
  schemaVersion: number;
  healthy: boolean;
  hosts: number;
  selector: string | null;
  jobs: {
    host: string;
    job: string;
    outcome: string;
    healthy: boolean;
    overdue: boolean;
    labels: Record<string, string>;
    problems: string[];
    alerts: { alertname: string; reason: string | null }[];
  }[];
}

/** A reverse proxy that lets through only requests carrying `authorization`, as an auth proxy would. */
const startAuthProxy = async (target: string, authorization: string): Promise<{ url: string; server: Server }> => {
  const server = createServer(async (request, response) => {
    if (request.headers.authorization !== authorization) return void response.writeHead(401).end('unauthorized');
    const upstream = await fetch(new URL(request.url ?? '/', target));
    response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' });
    response.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  return { url: `http://${LOOPBACK}:${(server.address() as { port: number }).port}`, server };
};

describe('a simulated fleet of 50 hosts × 4 jobs on a real Prometheus', { timeout: 120_000 }, () => {
  let sim: FleetSim;
  let firing: string[] = [];
  let tmp: { dir: string; cleanup: () => Promise<void> };
  const jobs = (): SimJob[] => sim.fleet.flatMap((host) => host.jobs);

  before(async () => {
    tmp = await makeTempDir('cronvault-fleet-');
    sim = await startFleetSim({ hosts: 50, jobsPerHost: 4, interval: '1s' });
    firing = await waitForAlerts(sim, 60_000);
  });
  after(async () => {
    await sim?.stop();
    await tmp?.cleanup();
  });

  it('the fleet holds every state of the mix: healthy, failing, stale, never started, weekly, stuck, warnings', () => {
    const states = new Set(jobs().map((job) => job.state));
    for (const state of JOB_STATES) assert.ok(states.has(state), `no ${state} job in the simulated fleet`);
  });

  it('exactly the expected (instance, backup) pairs fire each alert, none more', () => {
    assert.ok(sim.expected.length > 0);
    assert.deepEqual(firing, sim.expected);
    const names = new Set(firing.map((alert) => alert.split(' ')[0]));
    for (const name of [
      'BackupFailed/',
      'BackupNoRecentSuccess/max_age',
      'BackupNotRun/max_age',
      'BackupOverdueBySchedule/',
      'BackupStuck/',
      'BackupMetricsStale/file_age',
    ])
      assert.ok(names.has(name), `${name} fires for some job`);
  });

  it('cronvault fleet lists the failing and stale jobs first, in the words of status, and exits 1', async () => {
    const result = await runCronvault(['fleet', '--prometheus', sim.prometheus.url]);
    assert.equal(result.exitCode, 1, result.stderr);
    const rows = result.stdout.split('\n').slice(1, 1 + jobs().length);
    assert.match(
      result.stdout.split('\n')[0]!,
      /^\s+HOST\s+JOB\s+LAST RUN\s+OUTCOME\s+LAST SUCCESS\s+NEXT RUN\s+ALERTS$/,
    );
    const stateOf = new Map(jobs().map((job) => [`${job.host} ${job.name}`, job.state]));
    const states = rows.map((row) => stateOf.get(row.slice(1).trim().split(/\s+/).slice(0, 2).join(' ')));
    const alerting = jobs().filter((job) => ALERTING_STATES.has(job.state)).length;
    assert.ok(
      states.slice(0, alerting).every((state) => state !== undefined && ALERTING_STATES.has(state)),
      `the first ${alerting} rows are the failing, stale and stuck jobs:\n${rows.slice(0, alerting).join('\n')}`,
    );
    assert.ok(states.slice(alerting).every((state) => !ALERTING_STATES.has(state!)));
    const unhealthy = jobs().filter((job) => !HEALTHY_STATES.has(job.state)).length;
    assert.ok(rows.slice(0, unhealthy).every((row) => row.startsWith('!')));
    assert.ok(rows.slice(unhealthy).every((row) => row.startsWith(' ')));
    assert.match(result.stdout, /\bfailed\s+22 h ago\b/);
    assert.match(result.stdout, /\bsuccess, overdue\b/);
    assert.match(result.stdout, /: last run failed \(exit 1: /);
    assert.match(result.stdout, /: never ran$/m);
    assert.match(result.stdout, /: alert BackupStuck is firing$/m);
    assert.match(result.stdout, new RegExp(`^${unhealthy} of ${jobs().length} jobs need attention on 50 hosts$`, 'm'));
  });

  it('--json gives every job with its alerts and target labels; --selector narrows to one site', async () => {
    const result = await runCronvault([
      'fleet',
      '--prometheus',
      sim.prometheus.url,
      '--selector',
      '{site="fra"}',
      '--json',
    ]);
    assert.equal(result.exitCode, 1, result.stderr);
    const report = JSON.parse(result.stdout) as FleetJson;
    const fra = sim.fleet.filter((host) => host.site === 'fra');
    assert.equal(report.schemaVersion, 1);
    assert.equal(report.selector, '{site="fra"}');
    assert.equal(report.hosts, fra.length);
    assert.equal(report.jobs.length, fra.length * 4);
    for (const job of report.jobs) {
      const simJob = fra.find((host) => host.name === job.host)?.jobs.find((j) => j.name === job.job);
      assert.ok(simJob, `${job.host}/${job.job} is on site fra`);
      assert.equal(job.labels.site, 'fra');
      assert.deepEqual(
        job.alerts.map((a) => `${a.alertname}/${a.reason ?? ''}`).sort(),
        expectedAlerts(simJob),
        `${job.host}/${job.job} (${simJob.state})`,
      );
      assert.equal(job.healthy, HEALTHY_STATES.has(simJob.state), `${job.host}/${job.job} (${simJob.state})`);
    }
  });

  it('a host whose jobs are all healthy exits 0', async () => {
    const host = sim.fleet.find((h) => h.jobs.every((job) => HEALTHY_STATES.has(job.state)));
    assert.ok(host, 'some host has only healthy jobs');
    const result = await runCronvault([
      'fleet',
      '--prometheus',
      `${sim.prometheus.url}/`,
      '--selector',
      `{instance="${host.name}"}`,
    ]);
    assert.equal(result.exitCode, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^all 4 jobs healthy on 1 host$/m);
  });

  it('sends a bearer token or basic auth read from a file, and never prints it; refused credentials exit 77', async () => {
    const token = 's3cret-token-for-the-proxy';
    const tokenFile = join(tmp.dir, 'token');
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const basicFile = join(tmp.dir, 'basic');
    await writeFile(basicFile, 'fleet:pa55word\n', { mode: 0o600 });
    const bearer = await startAuthProxy(sim.prometheus.url, `Bearer ${token}`);
    const basic = await startAuthProxy(sim.prometheus.url, `Basic ${Buffer.from('fleet:pa55word').toString('base64')}`);
    try {
      const withToken = await runCronvault(['fleet', '--prometheus', bearer.url, '--bearer-token-file', tokenFile]);
      assert.equal(withToken.exitCode, 1, withToken.stderr);
      assert.match(withToken.stdout, /jobs need attention on 50 hosts/);
      const withBasic = await runCronvault(['fleet', '--prometheus', basic.url, '--basic-auth-file', basicFile]);
      assert.equal(withBasic.exitCode, 1, withBasic.stderr);
      const wrong = await runCronvault(['fleet', '--prometheus', bearer.url, '--basic-auth-file', basicFile]);
      assert.equal(wrong.exitCode, 77);
      assert.match(wrong.stderr, /refused the request \(HTTP 401\): check the credentials file/);
      const none = await runCronvault(['fleet', '--prometheus', bearer.url]);
      assert.equal(none.exitCode, 77);
      assert.match(none.stderr, /needs --basic-auth-file or --bearer-token-file/);
      for (const result of [withToken, withBasic, wrong, none])
        assert.ok(!`${result.stdout}${result.stderr}`.match(/s3cret|pa55word/), 'a credential was printed');
    } finally {
      bearer.server.close();
      basic.server.close();
    }
  });

  it('bad input exits 2 naming the problem; an unreachable Prometheus exits 69', async () => {
    const badSelector = await runCronvault(['fleet', '--prometheus', sim.prometheus.url, '--selector', '{site=fra}']);
    assert.equal(badSelector.exitCode, 2);
    assert.match(badSelector.stderr, /--selector \{site=fra\}: Prometheus rejected the query/);
    const notBraces = await runCronvault(['fleet', '--prometheus', sim.prometheus.url, '--selector', 'site="fra"']);
    assert.equal(notBraces.exitCode, 2);
    assert.match(notBraces.stderr, /--selector must be label matchers in braces/);
    const inUrl = await runCronvault(['fleet', '--prometheus', `http://u:p@${LOOPBACK}:9090`]);
    assert.equal(inUrl.exitCode, 2);
    assert.match(inUrl.stderr, /must not contain credentials/);
    const missingFile = await runCronvault([
      'fleet',
      '--prometheus',
      sim.prometheus.url,
      '--bearer-token-file',
      join(tmp.dir, 'nope'),
    ]);
    assert.equal(missingFile.exitCode, 2);
    assert.match(missingFile.stderr, /--bearer-token-file .*nope: cannot read it \(ENOENT\)/);
    const noUrl = await runCronvault(['fleet']);
    assert.equal(noUrl.exitCode, 2);
    assert.match(noUrl.stderr, /--prometheus <url>/);
    const down = await runCronvault(['fleet', '--prometheus', `http://${LOOPBACK}:${await freePort()}`]);
    assert.equal(down.exitCode, 69);
    assert.match(down.stderr, /cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+\/: ECONNREFUSED/);
    const nothing = await runCronvault(['fleet', '--prometheus', sim.prometheus.url, '--selector', '{site="nowhere"}']);
    assert.equal(nothing.exitCode, 1);
    assert.match(nothing.stderr, /has no cronvault jobs matching \{site="nowhere"\}/);
  });
});
