// `cronvault check`: each problem found before 2 a.m., each with its fix. Cases that depend on
// who runs cronvault are run as nobody (the tests run as root, which can read anything).

import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CliResult, makeTempDir, runCronvault, runCronvaultAsNobody } from './support/cli.ts';
import { createRepository, type TestRepository } from './support/restic.ts';
import { freePort } from './support/services.ts';

interface CheckJson {
  ok: boolean;
  checks: { subject: string; ok: boolean; message: string; fix?: string }[];
}

describe('cronvault check', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  const writeConfig = async (
    name: string,
    jobs: Record<string, string>,
    textfileDir = join(tmp.dir, `${name}-text`),
  ): Promise<string> => {
    const file = join(tmp.dir, `${name}.yml`);
    const lines = [
      `state_dir: ${join(tmp.dir, `${name}-state`)}`,
      `metrics: { textfile_dir: ${textfileDir} }`,
      'defaults: { retention: none }',
      'jobs:',
    ];
    for (const [job, body] of Object.entries(jobs)) lines.push(`  ${job}: ${body}`);
    await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o644 });
    return file;
  };
  const check = (result: CliResult, subject: string) => {
    const json = JSON.parse(result.stdout) as CheckJson;
    const found = json.checks.find((c) => c.subject === subject);
    assert.ok(found, `a check for ${subject} in ${result.stdout}`);
    return found;
  };

  before(async () => {
    tmp = await makeTempDir();
    // nobody must be able to reach the config and the files the tests mean it to see.
    await chmod(tmp.dir, 0o755);
    repo = await createRepository(tmp.dir);
  });
  after(async () => tmp.cleanup());

  it('passes (exit 0) when the engine, password file, repository and directories are fine', async () => {
    const config = await writeConfig('good', {
      good: `{ path: ${tmp.dir}, repository: ${repo.repository}, password_file: ${repo.passwordFile} }`,
    });
    const result = await runCronvault(['check', '-c', config]);
    assert.equal(result.exitCode, 0, result.stdout);
    assert.match(result.stdout, /ok {3}job good: engine: restic \d+\.\d+\.\d+/);
    assert.match(result.stdout, /ok {3}job good: password: .*\(mode 0600\)/);
    assert.match(result.stdout, /ok {3}job good: repository: .*repository answers/);
    assert.match(result.stdout, /all checks passed/);
  });

  it('announces the jobs in cronvault_jobs.prom only for a config that passed', async () => {
    const textfileDir = join(tmp.dir, 'shared-text');
    const good = await writeConfig(
      'live',
      { live: `{ path: ${tmp.dir}, repository: ${repo.repository}, password_file: ${repo.passwordFile} }` },
      textfileDir,
    );
    assert.equal((await runCronvault(['check', '-c', good])).exitCode, 0);
    const rejected = await writeConfig(
      'candidate',
      { bogus: `{ path: ${tmp.dir}, repository: ${repo.repository}, password_file: ${join(tmp.dir, 'absent.pass')} }` },
      textfileDir,
    );
    assert.equal((await runCronvault(['check', '-c', rejected])).exitCode, 1);
    const announced = await readFile(join(textfileDir, 'cronvault_jobs.prom'), 'utf8');
    assert.match(announced, /backup_job_info\{backup="live"/);
    assert.doesNotMatch(announced, /bogus/);
  });

  it('reports a missing engine, a world-readable password file and an unreachable repository, each with its fix', async () => {
    const open = join(tmp.dir, 'open.pass');
    await writeFile(open, 'secret\n');
    await chmod(open, 0o644);
    const port = await freePort();
    const config = await writeConfig('bad', {
      noengine: `{ path: ${tmp.dir}, repository: ${repo.repository}, password_file: ${repo.passwordFile}, binary: /nonexistent/restic }`,
      leaky: `{ path: ${tmp.dir}, repository: ${repo.repository}, password_file: ${open} }`,
      offline: `{ path: ${tmp.dir}, repository: "rest:http://127.0.0.1:${port}/", password_file: ${repo.passwordFile} }`,
    });
    const result = await runCronvault(['check', '--json', '-c', config]);
    assert.equal(result.exitCode, 1);
    assert.equal((JSON.parse(result.stdout) as CheckJson).ok, false);

    const engine = check(result, 'job noengine: engine');
    assert.equal(engine.ok, false);
    assert.match(engine.message, /\/nonexistent\/restic is not installed/);
    assert.match(engine.fix!, /apt-get install restic|set "binary"/);

    const leaky = check(result, 'job leaky: password');
    assert.equal(leaky.ok, false);
    assert.match(leaky.message, /readable by group or others \(mode 0644\)/);
    assert.equal(leaky.fix, `chmod 600 ${open}`);

    const offline = check(result, 'job offline: repository');
    assert.equal(offline.ok, false);
    assert.match(offline.message, /unreachable|network error/);
    assert.match(offline.fix!, /server is up and reachable/);

    const text = await runCronvault(['check', '-c', config]);
    assert.equal(text.exitCode, 1);
    assert.match(text.stdout, /FAIL job leaky: password: .*\n {5}fix: chmod 600 /);
    assert.match(text.stdout, /FAIL job noengine: engine: .*\n {5}fix: /);
    assert.match(text.stdout, /FAIL job offline: repository: .*\n {5}fix: /);
    assert.match(text.stdout, /3 checks failed/);
  });

  it("tells a missing repository from a wrong password, with each one's fix, and accepts a missing one with init: true", async () => {
    const wrong = join(tmp.dir, 'wrong.pass');
    await writeFile(wrong, 'not the password\n', { mode: 0o600 });
    const absent = join(tmp.dir, 'no-repo-here');
    const config = await writeConfig('states', {
      missing: `{ path: ${tmp.dir}, repository: ${absent}, password_file: ${repo.passwordFile} }`,
      created: `{ path: ${tmp.dir}, repository: ${absent}, password_file: ${repo.passwordFile}, init: true }`,
      wrongpw: `{ path: ${tmp.dir}, repository: ${repo.repository}, password_file: ${wrong} }`,
    });
    const result = await runCronvault(['check', '--json', '-c', config]);
    assert.equal(result.exitCode, 1, result.stdout);

    const missing = check(result, 'job missing: repository');
    assert.equal(missing.ok, false);
    assert.equal(missing.fix, 'cronvault init missing (or set init: true)');

    const created = check(result, 'job created: repository');
    assert.equal(created.ok, true);
    assert.match(created.message, /does not exist yet; the first run creates it \(init: true\)/);

    const wrongpw = check(result, 'job wrongpw: repository');
    assert.equal(wrongpw.ok, false);
    assert.match(wrongpw.message, /wrong password/);
    assert.equal(wrongpw.fix, 'check the password file matches the repository');
  });

  it('reports a password file and a textfile directory the running user cannot use, each with its fix', async () => {
    const textDir = join(tmp.dir, 'root-only-text');
    await mkdir(textDir, { mode: 0o755 });
    const config = await writeConfig(
      'nobody',
      { locked: `{ path: ${tmp.dir}, repository: ${repo.repository}, password_file: ${repo.passwordFile} }` },
      textDir,
    );
    const result = await runCronvaultAsNobody(tmp.dir, ['check', '--json', '-c', config]);
    assert.equal(result.exitCode, 1, result.stderr);

    const password = check(result, 'job locked: password');
    assert.equal(password.ok, false);
    assert.match(password.message, new RegExp(`${repo.passwordFile} is not readable by this user`));
    assert.match(password.fix!, /chown/);

    const textfile = check(result, 'metrics.textfile_dir');
    assert.equal(textfile.ok, false);
    assert.match(textfile.message, new RegExp(`${textDir} is not writable`));
    assert.match(textfile.fix!, /chown/);
  });

  it('exits 2 when the config itself is invalid', async () => {
    const file = join(tmp.dir, 'invalid.yml');
    await writeFile(file, 'jobs:\n  x: { path: /srv, enigne: restic }\n');
    const result = await runCronvault(['check', '-c', file]);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /unknown key "enigne".*engine/);
  });

  it('--config-only passes with an unreachable repository, probes nothing and writes no textfile', async () => {
    const port = await freePort();
    const textfileDir = join(tmp.dir, 'config-only-text');
    const config = await writeConfig(
      'configonly',
      {
        offline: `{ path: ${tmp.dir}, repository: "rest:http://127.0.0.1:${port}/", password_file: ${join(tmp.dir, 'not-deployed-yet.pass')} }`,
      },
      textfileDir,
    );
    const full = await runCronvault(['check', '-c', config]);
    assert.equal(full.exitCode, 1, 'the full check fails: the test would not show what --config-only skips');
    const result = await runCronvault(['check', '--config-only', '--json', '-c', config]);
    assert.equal(result.exitCode, 0, result.stdout + result.stderr);
    const json = JSON.parse(result.stdout) as CheckJson;
    assert.equal(json.ok, true);
    assert.ok(!json.checks.some((c) => /repository|password|engine/.test(c.subject)), result.stdout);
    assert.match(check(result, 'config').message, /1 job \(config only/);
    await assert.rejects(
      readFile(join(textfileDir, 'cronvault_jobs.prom'), 'utf8'),
      /ENOENT/,
      'a candidate config announces no jobs',
    );
  });

  it('--config-only exits 2 on an invalid config, naming the problem', async () => {
    const file = join(tmp.dir, 'invalid-config-only.yml');
    await writeFile(file, 'jobs:\n  x: { path: /srv, retention: "1W:1D,bogus" }\n');
    const result = await runCronvault(['check', '--config-only', '-c', file]);
    assert.equal(result.exitCode, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /invalid-config-only\.yml:2: .*retention/);
  });
});
