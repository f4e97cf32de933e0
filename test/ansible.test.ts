// Applies ansible/roles/backup to this machine (as root, `-c local`) and checks what it leaves
// behind: the cron file cron really runs, the config `cronvault check` accepts, the password in
// one 0600 file only, idempotence, and the rules on the "Prometheus server" (localhost).
// Every path the role writes is redirected into a temporary directory, except two that have to
// be real to be tested: /etc/cron.d/cronvault-test-<pid> (cron reads only /etc/cron.d) and
// /etc/cronvault-test-<pid> (so "the password is nowhere else under /etc" means something).
// Needs: ansible-core, ansible-lint, yamllint, restic, cron, promtool, python3, and
// dist/cronvault.mjs (`npm run build`).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cronvaultBin, makeTempDir, projectRoot, runCronvault } from './support/cli.ts';

const ansibleDir = join(projectRoot, 'ansible');
const playbook = join(projectRoot, 'test', 'fixtures', 'ansible', 'apply.yml');
const isRoot = process.getuid?.() === 0;

const id = `cronvault-test-${process.pid}`;
const cronFile = id;
const cronPath = join('/etc/cron.d', cronFile);
const configDir = join('/etc', id);
const configFile = join(configDir, 'config.yml');
const passwordFile = join(configDir, 'repo.pass');
const password = `cv-${randomBytes(16).toString('hex')}`;

interface Job {
  name: string;
  path?: string;
  command?: string;
  schedule?: string;
  [key: string]: unknown;
}

interface PlaybookResult {
  exitCode: number;
  output: string;
  changed: number;
  failed: number;
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let cron: ResultPromise | undefined;

const paths = () => ({
  lib: join(tmp.dir, 'lib'),
  bin: join(tmp.dir, 'bin'),
  state: join(tmp.dir, 'state'),
  textfile: join(tmp.dir, 'textfile'),
  repo: join(tmp.dir, 'repo'),
  data: join(tmp.dir, 'data'),
  nodeExporterDefaults: join(tmp.dir, 'prometheus-node-exporter'),
  rules: join(tmp.dir, 'prometheus', 'cronvault.rules.yml'),
  // A snapshot of dist/cronvault.mjs: a rebuild during the test must not look like a change.
  source: join(tmp.dir, 'cronvault.mjs'),
});

const baseVars = (jobs: Job[], extra: Record<string, unknown> = {}) => ({
  backup_jobs: jobs,
  backup_repository: paths().repo,
  backup_password: password,
  backup_config_dir: configDir,
  backup_config_file: configFile,
  backup_password_file: passwordFile,
  backup_state_dir: paths().state,
  backup_textfile_dir: paths().textfile,
  backup_lib_dir: paths().lib,
  backup_bin_dir: paths().bin,
  backup_cron_file: cronFile,
  backup_node_exporter_defaults_file: paths().nodeExporterDefaults,
  backup_cronvault_source: paths().source,
  ...extra,
});

const recapCount = (output: string, key: string): number => {
  const match = new RegExp(`^localhost\\s*:.*\\b${key}=(\\d+)`, 'm').exec(output);
  return match ? Number(match[1]) : -1;
};

/** Runs the test playbook against localhost with `vars` as extra vars; never throws. */
const applyRole = async (vars: Record<string, unknown>, args: string[] = []): Promise<PlaybookResult> => {
  const varsFile = join(tmp.dir, `vars-${randomBytes(4).toString('hex')}.json`);
  await writeFile(varsFile, JSON.stringify(vars), { mode: 0o600 });
  const result = await execa('ansible-playbook', ['-i', 'localhost,', '-c', 'local', '-e', `@${varsFile}`, ...args, playbook], {
    reject: false,
    all: true,
    cwd: tmp.dir,
    stdin: 'ignore',
    env: {
      ANSIBLE_ROLES_PATH: join(ansibleDir, 'roles'),
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_RETRY_FILES_ENABLED: 'false',
      ANSIBLE_LOCALHOST_WARNING: 'false',
      ANSIBLE_STDOUT_CALLBACK: 'default',
    },
  });
  await rm(varsFile, { force: true });
  const output = String(result.all ?? '');
  return { exitCode: result.exitCode ?? -1, output, changed: recapCount(output, 'changed'), failed: recapCount(output, 'failed') };
};

const cronRunLines = async (): Promise<string[]> =>
  (await readFile(cronPath, 'utf8')).split('\n').filter((line) => line.includes('cronvault run'));

/** The jittered time the role must draw: Ansible's `random(seed=...)` is Python's Random. */
const expectedJitter = async (job: string): Promise<{ minute: number; hour: number }> => {
  const { stdout } = await execa('python3', [
    '-c',
    'import random, sys; s = sys.argv[1]; print(random.Random(s).randrange(0, 60, 1), random.Random(s).choice([1, 2, 3, 4]))',
    `localhost${job}`,
  ]);
  const [minute, hour] = stdout.trim().split(' ').map(Number);
  return { minute: minute!, hour: hour! };
};

const cronIsRunning = async () => (await execa('pgrep', ['-x', 'cron'], { reject: false })).exitCode === 0;

const twoJobs = (): Job[] => [
  { name: 'files', path: paths().data, schedule: '* * * * *' },
  { name: 'dump', command: 'echo hello from dump', stdin_filename: 'dump.txt' },
];

describe('ansible role backup', { skip: !isRoot && 'needs root: writes /etc/cron.d' }, () => {
  before(async () => {
    tmp = await makeTempDir('cronvault-ansible-');
    await mkdir(paths().data);
    await writeFile(join(paths().data, 'hello.txt'), 'hello\n');
    await writeFile(paths().nodeExporterDefaults, 'ARGS="--web.listen-address=:9100"\n');
    await copyFile(cronvaultBin, paths().source);
  });

  after(async () => {
    if (cron) {
      cron.kill('SIGTERM');
      await cron.catch(() => undefined);
    }
    await rm(cronPath, { force: true });
    await rm(configDir, { recursive: true, force: true });
    await tmp?.cleanup();
  });

  it('passes ansible-lint --offline and yamllint', async () => {
    const lint = await execa('ansible-lint', ['--offline', '--nocolor'], { cwd: ansibleDir, reject: false, all: true });
    assert.equal(lint.exitCode, 0, String(lint.all));
    const yamllint = await execa(
      'yamllint',
      ['--strict', '-c', join(ansibleDir, '.yamllint'), ansibleDir, join(projectRoot, 'test', 'fixtures', 'ansible')],
      { reject: false, all: true },
    );
    assert.equal(yamllint.exitCode, 0, String(yamllint.all));
  });

  it('rejects a job with neither path nor command before installing anything', async () => {
    const result = await applyRole(baseVars([{ name: 'ok', path: '/srv' }, { name: 'nothing' }]));
    assert.notEqual(result.exitCode, 0);
    assert.match(result.output, /job \\?"nothing\\?" needs either `path` \(what to back up\) or `command`/);
    assert.equal(existsSync(paths().lib), false, 'nothing may be installed before preflight passes');
  });

  it('fails early, asking for a build, when the built cronvault is missing on the controller', async () => {
    const missing = join(tmp.dir, 'no-dist', 'cronvault.mjs');
    const result = await applyRole(baseVars([{ name: 'files', path: '/srv' }], { backup_cronvault_source: missing }));
    assert.notEqual(result.exitCode, 0);
    assert.ok(result.output.includes(`${missing} does not exist on the controller: run \`npm run build\` first`), result.output);
    assert.equal(existsSync(paths().lib), false);
  });

  it('rejects a job key the argument spec does not know, naming it', async () => {
    const result = await applyRole(baseVars([{ name: 'typo', path: '/srv', shedule: '0 1 * * *' }]));
    assert.notEqual(result.exitCode, 0);
    assert.match(result.output, /Validation of arguments failed:\\nbackup_jobs\.shedule/);
  });

  it('rejects a retention string the installed cronvault cannot explain', async () => {
    const result = await applyRole(baseVars([{ name: 'files', path: paths().data, retention: '3 fortnights' }]));
    assert.notEqual(result.exitCode, 0);
    assert.match(result.output, /Retention \\?"3 fortnights\\?" is not valid for restic/);
    assert.equal(existsSync(configFile), false, 'no config may be written with an invalid retention');
  });

  it('installs one cron line per job: the given schedule, and a jittered daily time for the other', async () => {
    const result = await applyRole(baseVars(twoJobs()), ['-v', '--diff']);
    assert.equal(result.exitCode, 0, result.output);

    const { minute, hour } = await expectedJitter('dump');
    const runCommand = (job: string) => `root ${paths().bin}/cronvault run ${job} --quiet -c ${configFile}`;
    assert.deepEqual(await cronRunLines(), [`* * * * * ${runCommand('files')}`, `${minute} ${hour} * * * ${runCommand('dump')}`]);
    const config = await readFile(configFile, 'utf8');
    assert.match(config, new RegExp(`schedule: "${minute} ${hour} \\* \\* \\*"`), 'the config knows the jittered schedule too');
    assert.match(await readFile(paths().nodeExporterDefaults, 'utf8'), new RegExp(
      `^ARGS="--web.listen-address=:9100 --collector.textfile.directory=${paths().textfile}"$`, 'm'));
  });

  it('writes a config that cronvault check accepts, with the password only in a 0600 file', async () => {
    const check = await runCronvault(['check', '--config', configFile]);
    assert.equal(check.exitCode, 0, `${check.stdout}\n${check.stderr}`);

    assert.equal((await stat(passwordFile)).mode & 0o777, 0o600);
    assert.equal((await stat(configFile)).mode & 0o777, 0o640);
    assert.equal((await readFile(passwordFile, 'utf8')).trim(), password);
    const grep = await execa('grep', ['-rlF', '--', password, '/etc', tmp.dir], { reject: false });
    assert.deepEqual(grep.stdout.split('\n').filter(Boolean), [passwordFile]);
  });

  it('changes nothing on a second apply and keeps the jittered time', async () => {
    const before = await cronRunLines();
    const result = await applyRole(baseVars(twoJobs()), ['-v', '--diff']);
    assert.equal(result.exitCode, 0, result.output);
    assert.equal(result.changed, 0, result.output);
    assert.deepEqual(await cronRunLines(), before);
    assert.equal(result.output.includes(password), false, 'the password must not appear in the log');
  });

  it('runs the backup from the installed cron line and writes its metrics', { timeout: 200_000 }, async () => {
    if (!(await cronIsRunning())) {
      cron = execa('/usr/sbin/cron', ['-f'], { reject: false, stdin: 'ignore' });
    }
    const prom = join(paths().textfile, 'cronvault_files.prom');
    const success = /^backup_last_run_success\{[^}]*backup="files"[^}]*\} 1$/m;
    const deadline = Date.now() + 150_000;
    let last = '';
    while (Date.now() < deadline) {
      last = await readFile(prom, 'utf8').catch(() => '');
      if (success.test(last)) break;
      await sleep(2_000);
    }
    assert.match(last, success, `no successful run within 150 s; ${prom}:\n${last}`);
    const snapshots = await execa('restic', ['-r', paths().repo, '--password-file', passwordFile, 'snapshots', '--json'], {
      reject: false,
      env: { RESTIC_CACHE_DIR: join(tmp.dir, 'restic-cache') },
    });
    assert.equal(snapshots.exitCode, 0, snapshots.stderr);
    assert.ok((JSON.parse(snapshots.stdout) as unknown[]).length >= 1);
  });

  it('removes the cron line of a job dropped from backup_jobs', async () => {
    const result = await applyRole(baseVars(twoJobs().slice(0, 1)));
    assert.equal(result.exitCode, 0, result.output);
    const lines = await cronRunLines();
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, / run files --quiet/);
    assert.doesNotMatch(await readFile(cronPath, 'utf8'), /cronvault dump/);
  });

  it('renders the alert rules for every job on the Prometheus host, checked by promtool', async () => {
    const result = await applyRole(
      baseVars(twoJobs(), {
        backup_prometheus_host: 'localhost',
        backup_prometheus_rules_file: paths().rules,
        backup_prometheus_reload: 'none',
        backup_alert_max_age: '30h',
      }),
    );
    assert.equal(result.exitCode, 0, result.output);
    const rules = await readFile(paths().rules, 'utf8');
    for (const job of ['files', 'dump']) {
      assert.match(rules, new RegExp(`backup="${job}", instance=~"localhost\\(:\\[0-9\\]\\+\\)\\?"`));
    }
    assert.match(rules, /> 108000/, 'backup_alert_max_age reaches the rules');
    const check = await execa('promtool', ['check', 'rules', paths().rules], { reject: false, all: true });
    assert.equal(check.exitCode, 0, String(check.all));
  });
});
