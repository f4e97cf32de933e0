// Secrets never appear on a command line, in a metric label, a log line or a state file, even
// when the engine itself prints a repository URL with credentials in it.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { cronvaultBin, makeTempDir, runCronvault } from './support/cli.ts';
import { freePort, waitFor } from './support/services.ts';

const readTree = async (dir: string): Promise<string> => {
  let text = '';
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      text += await readFile(join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name), 'utf8');
  }
  return text;
};

describe('secrets', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  it("masks credentials of a rest: repository in every message, even restic's own, with --verbose", async () => {
    const port = await freePort();
    const pass = join(tmp.dir, 'p');
    await writeFile(pass, 'repo-password-91c2\n');
    await chmod(pass, 0o600);
    const repository = `rest:http://backup:urlsecret-5f1e@127.0.0.1:${port}/`;
    const dirs = { text: join(tmp.dir, 'text'), state: join(tmp.dir, 'state') };
    const result = await runCronvault([
      'run',
      '--path',
      tmp.dir,
      '--repository',
      repository,
      '--password-file',
      pass,
      '--retention',
      'none',
      '--textfile-dir',
      dirs.text,
      '--state-dir',
      dirs.state,
      '--retry-attempts',
      '2',
      '--retry-min-delay',
      '10ms',
      '--retry-max-delay',
      '10ms',
      '--verbose',
    ]);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /repository server unreachable/);
    assert.match(result.stderr, /backup:\*\*\*@127\.0\.0\.1/, "restic's stderr is shown, masked");
    const everything = `${result.stdout}${result.stderr}${await readTree(dirs.text)}${await readTree(dirs.state)}`;
    assert.ok(!everything.includes('urlsecret-5f1e'), 'URL password nowhere');
    assert.ok(!everything.includes('repo-password-91c2'), 'repository password nowhere');
  });

  it('masks credentials in check output', async () => {
    const config = join(tmp.dir, 'config.yml');
    const pass = join(tmp.dir, 'p');
    await writeFile(
      config,
      `state_dir: ${join(tmp.dir, 'cs')}\nmetrics: { textfile_dir: ${join(tmp.dir, 'ct')} }\ndefaults:\n  repository: "rest:http://u:urlsecret-77aa@127.0.0.1:${await freePort()}/"\n  password_file: ${pass}\n  retention: none\njobs:\n  a: { path: /etc }\n`,
    );
    const result = await runCronvault(['check', '--config', config]);
    assert.equal(result.exitCode, 1);
    assert.ok(!`${result.stdout}${result.stderr}`.includes('urlsecret-77aa'), result.stdout);
    assert.match(result.stdout, /u:\*\*\*@127\.0\.0\.1/);
  });

  it("during real runs the password is only in its file and URL credentials only in the engine's environment, never on any argv or in any output", async () => {
    const base = join(tmp.dir, 'live');
    await mkdir(join(base, 'served'), { recursive: true });
    await mkdir(join(base, 'data'));
    await writeFile(join(base, 'data', 'f.txt'), 'x\n');
    const password = 'repo-password-3d9f0a';
    const urlSecret = 'urlsecret-c0ffee42';
    const passwordFile = join(base, 'repo.pass');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    const port = await freePort();
    const server = execa(
      'rclone',
      ['serve', 'restic', '--addr', `127.0.0.1:${port}`, '--user', 'backup', '--pass', urlSecret, join(base, 'served')],
      { reject: false },
    );
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.status === 401, {
        timeoutMs: 20_000,
        message: 'rclone serve restic answers',
      });
      const repository = `rest:http://backup:${urlSecret}@127.0.0.1:${port}/repo`;
      const state = join(base, 'state');
      const text = join(base, 'text');
      const config = join(base, 'config.yml');
      // A slow producer keeps restic running (reading stdin) long enough to be looked at.
      await writeFile(
        config,
        [
          `state_dir: ${state}`,
          `metrics: { textfile_dir: ${text} }`,
          'defaults:',
          `  repository: "${repository}"`,
          `  password_file: ${passwordFile}`,
          '  init: true',
          '  retention: "1W:1D"',
          'jobs:',
          '  dump:',
          '    command: "sleep 3; echo dumped"',
          '  files:',
          `    path: ${join(base, 'data')}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      const run = execa(process.execPath, [cronvaultBin, 'run', '--all', '--verbose', '--config', config], {
        reject: false,
        stdin: 'ignore',
      });
      const seen = new Map<number, { argv: string[]; env: string[] }>();
      let finished = false;
      void run.finally(() => (finished = true));
      while (!finished) {
        for (const [pid, info] of processTree(run.pid!))
          if (!seen.has(pid) || info.env.length > seen.get(pid)!.env.length) seen.set(pid, info);
        await sleep(25);
      }
      const result = await run;
      assert.equal(result.exitCode, 0, String(result.stderr));
      const processes = [...seen.values()];
      const engines = processes.filter((p) => /(^|\/)restic$/.test(p.argv[0] ?? '') && p.argv.includes('backup'));
      assert.ok(
        engines.length > 0,
        `a running restic backup was seen (${processes.map((p) => p.argv.join(' ')).join(' | ')})`,
      );
      for (const engine of engines) {
        assert.ok(
          engine.env.includes(`RESTIC_PASSWORD_FILE=${passwordFile}`),
          'restic reads the password from its file',
        );
        assert.ok(
          engine.env.includes(`RESTIC_REPOSITORY=${repository}`),
          'the repository URL reaches restic through its environment',
        );
      }
      for (const p of processes) {
        const argv = p.argv.join(' ');
        assert.ok(!argv.includes(password) && !argv.includes(urlSecret), `no secret on the command line of ${argv}`);
        assert.ok(
          !p.env.some((entry) => entry.includes(password)),
          `the password is in no environment, only in its file (${argv})`,
        );
        const carrying = p.env.filter((entry) => entry.includes(urlSecret));
        if (carrying.length > 0) {
          assert.ok(/(^|\/)restic$/.test(p.argv[0] ?? ''), `only restic gets the repository URL, not ${argv}`);
          assert.deepEqual(carrying, [`RESTIC_REPOSITORY=${repository}`]);
        }
      }
      assert.ok(
        processes.some((p) => p.argv.join(' ').includes('sleep 3')),
        'the producer was seen too',
      );
      const status = await runCronvault(['status', '--json', '--config', config]);
      const history = await runCronvault(['history', 'dump', '--json', '--config', config]);
      const everything = [
        result.stdout,
        result.stderr,
        status.stdout,
        status.stderr,
        history.stdout,
        history.stderr,
        await readTree(state),
        await readTree(text),
      ].join('\n');
      assert.ok(!everything.includes(urlSecret), 'URL password in no output, log, history, state, .prom or status');
      assert.ok(
        !everything.includes(password),
        'repository password in no output, log, history, state, .prom or status',
      );
    } finally {
      server.kill('SIGTERM');
      await server;
    }
  });
});

/** cmdline and environ of every descendant of `root` (and root itself), read from /proc. */
const processTree = (root: number): Map<number, { argv: string[]; env: string[] }> => {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone already
    }
  }
  const tree = new Map<number, { argv: string[]; env: string[] }>();
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parents.get(p)) if (p === root) return true;
    return false;
  };
  for (const pid of parents.keys()) {
    if (!inTree(pid)) continue;
    try {
      const split = (file: string) => readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0').filter(Boolean);
      tree.set(pid, { argv: split('cmdline'), env: split('environ') });
    } catch {
      // exited between the listing and the read
    }
  }
  return tree;
};

describe('file modes', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

  /** One backup into a fresh repository with cronvault started under `umask`. */
  const backupUnder = async (umask: string, name: string) => {
    const base = join(tmp.dir, name);
    await mkdir(join(base, 'data'), { recursive: true });
    await writeFile(join(base, 'data', 'f'), 'x');
    const pass = join(base, 'p');
    await writeFile(pass, 'pw\n', { mode: 0o600 });
    await execa('restic', ['init'], { env: { RESTIC_REPOSITORY: join(base, 'repo'), RESTIC_PASSWORD_FILE: pass } });
    const config = join(base, 'config.yml');
    await writeFile(
      config,
      `state_dir: ${join(base, 'state')}\nmetrics: { textfile_dir: ${join(base, 'text')} }\njobs:\n  data:\n    path: ${join(base, 'data')}\n    repository: ${join(base, 'repo')}\n    password_file: ${pass}\n    retention: none\n`,
    );
    const result = await execa(
      '/bin/sh',
      ['-c', `umask ${umask} && exec "$0" "$@"`, process.execPath, cronvaultBin, 'run', 'data', '--config', config],
      { reject: false },
    );
    assert.equal(result.exitCode, 0, String(result.stderr));
    return base;
  };

  for (const umask of ['022', '000']) {
    it(`creates its state dir, jobs/, history/ and locks/ 0700 and its state files 0600 (umask ${umask})`, async () => {
      const base = await backupUnder(umask, `state-${umask}`);
      for (const dir of ['state', 'state/jobs', 'state/history', 'state/locks'])
        assert.equal((await modeOf(join(base, dir))).toString(8), '700', dir);
      for (const file of ['state/jobs/data.json', 'state/history/data.jsonl'])
        assert.equal((await modeOf(join(base, file))).toString(8), '600', file);
    });
  }

  it('keeps the textfile .prom files world-readable 0644 even under umask 077, for node_exporter running as another user', async () => {
    const base = await backupUnder('077', 'prom-077');
    await mkdir(join(base, 'text'), { recursive: true });
    for (const file of await readdir(join(base, 'text'))) {
      if (file.endsWith('.prom')) assert.equal((await modeOf(join(base, 'text', file))).toString(8), '644', file);
    }
    assert.ok((await readdir(join(base, 'text'))).includes('cronvault_data.prom'));
    assert.equal((await modeOf(join(base, 'state', 'jobs', 'data.json'))).toString(8), '600');
  });

  it('warns about a password file readable by group or others, naming it, its mode and the chmod that fixes it', async () => {
    const base = join(tmp.dir, 'open-pass');
    await mkdir(base);
    const pass = join(base, 'repo.pass');
    await writeFile(pass, 'pw\n');
    await chmod(pass, 0o644);
    const config = join(base, 'config.yml');
    await writeFile(
      config,
      `state_dir: ${join(base, 'state')}\nmetrics: { textfile_dir: ${join(base, 'text')} }\njobs:\n  a: { path: /nonexistent, repository: ${join(base, 'repo')}, password_file: ${pass}, retention: none }\n`,
    );
    const expected = `password file ${pass} is readable by group and others (mode 0644); make it private: chmod 600 ${pass}`;
    const run = await runCronvault(['run', 'a', '--config', config]);
    assert.ok(run.stderr.includes(expected), run.stderr);
    const flags = await runCronvault([
      'run',
      '--path',
      '/nonexistent',
      '--repository',
      join(base, 'repo'),
      '--password-file',
      pass,
      '--retention',
      'none',
      '--state-dir',
      join(base, 's2'),
      '--textfile-dir',
      join(base, 't2'),
    ]);
    assert.ok(flags.stderr.includes(expected), flags.stderr);
    await chmod(pass, 0o640);
    assert.ok(
      (await runCronvault(['check', '--config', config])).stdout.includes(
        `password file ${pass} is readable by group (mode 0640)`,
      ),
    );
    await chmod(pass, 0o600);
    const quiet = await runCronvault(['run', 'a', '--config', config]);
    assert.doesNotMatch(quiet.stderr, /is readable by/);
  });

  it('warns about a config holding credentials that group or others can read, and not about one without any', async () => {
    const base = join(tmp.dir, 'open-config');
    await mkdir(base);
    const pass = join(base, 'p');
    await writeFile(pass, 'pw\n', { mode: 0o600 });
    const lines = (repository: string) =>
      `state_dir: ${join(base, 'state')}\nmetrics: { textfile_dir: ${join(base, 'text')} }\njobs:\n  a: { path: /etc, repository: "${repository}", password_file: ${pass}, retention: none }\n`;
    const config = join(base, 'config.yml');
    await writeFile(config, lines(`rest:http://u:urlsecret-99@127.0.0.1:${await freePort()}/`));
    await chmod(config, 0o644);
    const open = await runCronvault(['check', '--config', config]);
    assert.ok(
      open.stdout.includes(
        `config file ${config} holds credentials and is readable by group and others (mode 0644); make it private: chmod 600 ${config}`,
      ),
      open.stdout,
    );
    assert.ok(!open.stdout.includes('urlsecret-99'));
    await chmod(config, 0o600);
    assert.doesNotMatch((await runCronvault(['check', '--config', config])).stdout, /holds credentials/);
    await writeFile(config, lines(join(base, 'repo')));
    await chmod(config, 0o644);
    assert.doesNotMatch((await runCronvault(['check', '--config', config])).stdout, /holds credentials|is readable by/);
  });
});
