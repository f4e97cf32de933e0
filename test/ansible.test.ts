// Applies ansible/roles/backup to this machine (as root, `-c local`) and checks what it leaves
// behind. Molecule is not packaged in Debian 12 (`apt-cache policy molecule` knows no candidate),
// so its `default` scenario's phases live here, in one describe run in order by its before():
// converge, idempotence (a second converge changes nothing), `--check` (nothing would change),
// then verify (the cron file cron really runs, the config `cronvault check` accepts, the password
// in one 0600 file only). Every other test that applies the role starts from a bare host
// (`fresh()`), so no test depends on the order of the others: the preflight refusals, the
// variations (a dropped job, the rules on the "Prometheus server" (localhost), also from a
// two-host inventory applied with --limit, a repository outage during a rollout). Values that
// need many host names (the jitter spread) are rendered with Ansible's own templating from the role's defaults and vars, without
// a play (test/fixtures/ansible/render_role_vars.py).
// Every path the role writes is redirected into a temporary directory, except two that have to
// be real to be tested: /etc/cron.d/cronvault-test-<pid> (cron reads only /etc/cron.d) and
// /etc/cronvault-test-<pid> (so "the password is nowhere else under /etc" means something).
// Needs: ansible-core, ansible-lint, yamllint, restic, cron, promtool, python3, and
// dist/cronvault.mjs (`npm run build`).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { parse as parseYaml } from 'yaml';
import { cronvaultBin, makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { freePort } from './support/services.ts';

const ansibleDir = join(projectRoot, 'ansible');
const roleDir = join(ansibleDir, 'roles', 'backup');
const playbook = join(projectRoot, 'test', 'fixtures', 'ansible', 'apply.yml');
const roleVarsRenderer = join(projectRoot, 'test', 'fixtures', 'ansible', 'render_role_vars.py');
// The Python ansible-core runs on (Debian's ansible package).
const ANSIBLE_PYTHON = '/usr/bin/python3';
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

const recapCount = (output: string, key: string, host = 'localhost'): number => {
  const match = new RegExp(`^${host}\\s*:.*\\b${key}=(\\d+)`, 'm').exec(output);
  return match ? Number(match[1]) : -1;
};

/**
 * Runs the test playbook with `vars` as extra vars; never throws. Against localhost (`-c local`)
 * unless `args` names an inventory (`-i`).
 */
const applyRole = async (vars: Record<string, unknown>, args: string[] = []): Promise<PlaybookResult> => {
  const varsFile = join(tmp.dir, `vars-${randomBytes(4).toString('hex')}.json`);
  await writeFile(varsFile, JSON.stringify(vars), { mode: 0o600 });
  const target = args.includes('-i') ? [] : ['-i', 'localhost,', '-c', 'local'];
  const result = await execa('ansible-playbook', [...target, '-e', `@${varsFile}`, ...args, playbook], {
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
  return {
    exitCode: result.exitCode ?? -1,
    output,
    changed: recapCount(output, 'changed'),
    failed: recapCount(output, 'failed'),
  };
};

const cronRunLines = async (): Promise<string[]> =>
  (await readFile(cronPath, 'utf8')).split('\n').filter((line) => line.includes('cronvault run'));

/**
 * `random.Random(seed).randrange(n)` for each seed, computed by Python itself: the one draw the
 * role (and `cronvault cron`) must make for a job's jittered time, seed = host + '/' + job.
 */
const pythonSlots = async (seeds: string[], n = 240): Promise<number[]> => {
  const { stdout } = await execa(
    'python3',
    [
      '-c',
      'import json, random, sys; n = int(sys.argv[1]); print(json.dumps([random.Random(s).randrange(n) for s in json.load(sys.stdin)]))',
      String(n),
    ],
    { input: JSON.stringify(seeds) },
  );
  return JSON.parse(stdout) as number[];
};

/** The jittered daily time of a job with the default hours [1, 2, 3, 4]: one slot of 240. */
const expectedJitter = async (host: string, job: string): Promise<{ minute: number; hour: number }> => {
  const [slot] = await pythonSlots([`${host}/${job}`]);
  return { minute: slot! % 60, hour: 1 + Math.floor(slot! / 60) };
};

/** Templates `expr` over the role's defaults and vars (plus `vars`) once per host name. */
const renderRoleVars = async (expr: string, vars: Record<string, unknown>, hosts: string[]): Promise<unknown[]> => {
  const result = await execa(ANSIBLE_PYTHON, [roleVarsRenderer], {
    input: JSON.stringify({ role: roleDir, expr, vars, hosts }),
    reject: false,
  });
  assert.equal(result.exitCode, 0, result.stderr);
  return JSON.parse(result.stdout) as unknown[];
};

const readYaml = async (path: string): Promise<Record<string, unknown>> =>
  parseYaml(await readFile(path, 'utf8')) as Record<string, unknown>;

const cronIsRunning = async () => (await execa('pgrep', ['-x', 'cron'], { reject: false })).exitCode === 0;

// files: every minute (cron really runs it), with a retention restic can only keep more of;
// dump: jittered; nightly: a macro the cron module does not know by this name.
const mainJobs = (): Job[] => [
  { name: 'files', path: paths().data, schedule: '* * * * *', retention: '2W:2D', retention_rounding: 'keep-more' },
  { name: 'dump', command: 'echo hello from dump', stdin_filename: 'dump.txt' },
  {
    name: 'nightly',
    path: paths().data,
    schedule: '@midnight',
    hooks: { before: [['true']], finally: [['/bin/sh', '-c', 'exit 0']] },
    hooks_timeout: '2m',
    ping: { url: 'https://hc-ping.example/ping/0000', on: ['failure'] },
  },
];

/** The default scenario's phases, run once by its before(). */
const scenario: {
  converge?: PlaybookResult;
  idempotence?: PlaybookResult;
  checkMode?: PlaybookResult;
  cronAfterConverge?: string[];
  cronAfterIdempotence?: string[];
} = {};

/**
 * Removes everything an apply installs, so a test that converges starts from a bare host
 * whatever ran before it: no test depends on another's leftovers.
 */
const fresh = async (): Promise<void> => {
  for (const path of [
    paths().lib,
    paths().bin,
    paths().state,
    paths().textfile,
    join(tmp.dir, 'prometheus'),
    configDir,
    cronPath,
  ]) {
    await rm(path, { recursive: true, force: true });
  }
  await writeFile(paths().nodeExporterDefaults, 'ARGS="--web.listen-address=:9100"\n');
};

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

  it('documents in argument_specs the defaults of defaults/main.yml, and every variable in the README', async () => {
    const defaults = await readYaml(join(roleDir, 'defaults', 'main.yml'));
    const specs = (await readYaml(join(roleDir, 'meta', 'argument_specs.yml'))) as {
      argument_specs: { main: { options: Record<string, { default?: unknown; description?: unknown }> } };
    };
    const options = specs.argument_specs.main.options;
    // Inputs of other roles the role reads but never sets: documented, without a default here.
    const foreign = ['node_exporter_textfile_dir'];
    assert.deepEqual(
      Object.keys(options).sort(),
      [...Object.keys(defaults), ...foreign].sort(),
      'the same variables in both files',
    );
    for (const name of foreign)
      assert.ok(!('default' in options[name]!), `${name} is another role's: no default of ours`);
    for (const [name, option] of Object.entries(options)) {
      assert.ok(option.description, `${name} has a description`);
      if ('default' in option)
        assert.deepEqual(option.default, defaults[name], `argument_specs default of ${name} is defaults/main.yml's`);
    }
    assert.equal(options.backup_config_file?.default, '{{ backup_config_dir }}/config.yml');
    assert.equal(options.backup_password_file?.default, '{{ backup_config_dir }}/repo.pass');
    const readme = await readFile(join(ansibleDir, 'README.md'), 'utf8');
    for (const name of [...Object.keys(defaults), ...foreign])
      assert.ok(readme.includes(`| \`${name}\` |`), `README's table lists ${name}`);
  });

  it('lists in meta/main.yml only platforms whose own nodejs package is >= 18.19', async () => {
    // nodejs of each release's own archive (security updates included).
    const nodejs: Record<string, Record<string, string>> = {
      Debian: { buster: '10.24', bullseye: '12.22', bookworm: '18.19', trixie: '20.19' },
      Ubuntu: { focal: '10.19', jammy: '12.22', noble: '18.19' },
    };
    const meta = (await readYaml(join(roleDir, 'meta', 'main.yml'))) as {
      galaxy_info: { platforms: { name: string; versions: string[] }[] };
    };
    assert.ok(meta.galaxy_info.platforms.length > 0);
    for (const { name, versions } of meta.galaxy_info.platforms) {
      for (const version of versions) {
        const node = nodejs[name]?.[version];
        assert.ok(node, `${name} ${version}: unknown here (or "all"), so not known to ship nodejs >= 18.19`);
        const [major, minor] = node.split('.').map(Number);
        assert.ok(major! > 18 || (major === 18 && minor! >= 19), `${name} ${version} ships nodejs ${node} < 18.19`);
      }
    }
  });

  it("passes the Python unit tests of the role's filters (filter_plugins/cronvault.py)", async () => {
    const result = await execa('python3', ['-m', 'unittest', '-v', 'test_cronvault_filters'], {
      cwd: join(projectRoot, 'test', 'fixtures', 'ansible'),
      reject: false,
      all: true,
    });
    assert.equal(result.exitCode, 0, String(result.all));
    assert.match(String(result.all), /Ran \d+ tests/);
  });

  describe('preflight refuses bad input before anything is installed (each from a bare host)', () => {
    it('rejects, by the argument spec, a job with neither path nor command or with both, before installing anything', async () => {
      await fresh();
      const result = await applyRole(
        baseVars([
          { name: 'ok', path: '/srv' },
          { name: 'nothing' },
          { name: 'both', path: '/srv', command: 'pg_dump db' },
        ]),
      );
      assert.notEqual(result.exitCode, 0);
      assert.match(result.output, /Validation of arguments failed/);
      assert.match(result.output, /one of the following is required: path, command found in backup_jobs/);
      assert.match(result.output, /parameters are mutually exclusive: path\|command found in backup_jobs/);
      assert.equal(existsSync(paths().lib), false, 'nothing may be installed before preflight passes');
    });

    it('rejects, in preflight, a job whose path is present but empty, naming it', async () => {
      await fresh();
      const result = await applyRole(
        baseVars([
          { name: 'ok', path: '/srv' },
          { name: 'blank', path: '' },
        ]),
      );
      assert.notEqual(result.exitCode, 0);
      assert.doesNotMatch(
        result.output,
        /Validation of arguments failed/,
        'the argument spec lets an empty path through',
      );
      assert.match(result.output, /job \\?"blank\\?" needs either `path` \(what to back up\) or `command`/);
      assert.equal(existsSync(paths().lib), false);
    });

    it('fails early, asking for a build, when the built cronvault is missing on the controller', async () => {
      await fresh();
      const missing = join(tmp.dir, 'no-dist', 'cronvault.mjs');
      const result = await applyRole(baseVars([{ name: 'files', path: '/srv' }], { backup_cronvault_source: missing }));
      assert.notEqual(result.exitCode, 0);
      assert.ok(
        result.output.includes(`${missing} does not exist on the controller: run \`npm run build\` first`),
        result.output,
      );
      assert.equal(existsSync(paths().lib), false);
    });

    it('rejects a job key the argument spec does not know, naming it', async () => {
      await fresh();
      const result = await applyRole(baseVars([{ name: 'typo', path: '/srv', shedule: '0 1 * * *' }]));
      assert.notEqual(result.exitCode, 0);
      assert.match(result.output, /Validation of arguments failed:\\nbackup_jobs\.shedule/);
    });

    it('rejects a retention string the installed cronvault cannot explain', async () => {
      await fresh();
      const result = await applyRole(baseVars([{ name: 'files', path: paths().data, retention: '3 fortnights' }]));
      assert.notEqual(result.exitCode, 0);
      assert.match(result.output, /Retention \\?"3 fortnights\\?" is not valid for restic/);
      assert.equal(existsSync(configFile), false, 'no config may be written with an invalid retention');
    });

    it('rejects a retention restic can only round (2W:2D) when the job does not say retention_rounding: keep-more', async () => {
      await fresh();
      const result = await applyRole(baseVars([{ name: 'files', path: paths().data, retention: '2W:2D' }]));
      assert.notEqual(result.exitCode, 0);
      assert.match(result.output, /Retention \\?"2W:2D\\?" is not valid for restic with retention_rounding refuse/);
      assert.match(result.output, /set retention_rounding to keep-more/, "cronvault's own explanation is shown");
      assert.equal(existsSync(configFile), false);
    });
  });

  describe('scenario default: converge, idempotence, --check, verify', () => {
    // converge, idempotence (a second converge) and --check run once, in this order, from a bare
    // host; every test below reads their results or the host they leave.
    before(async () => {
      await fresh();
      scenario.converge = await applyRole(baseVars(mainJobs()), ['-v', '--diff']);
      scenario.cronAfterConverge = await cronRunLines().catch(() => []);
      scenario.idempotence = await applyRole(baseVars(mainJobs()), ['-v', '--diff']);
      scenario.cronAfterIdempotence = await cronRunLines().catch(() => []);
      scenario.checkMode = await applyRole(baseVars(mainJobs()), ['--check', '--diff']);
    });

    it('converge: one cron line per job: the given schedule, a jittered daily time, and @midnight as @daily', async () => {
      const result = scenario.converge!;
      assert.equal(result.exitCode, 0, result.output);

      // Computed here, independently of the role: Python's Random seeded with "<host>/<job>".
      const { minute, hour } = await expectedJitter('localhost', 'dump');
      const runCommand = (job: string) => `root ${paths().bin}/cronvault run ${job} --quiet -c ${configFile}`;
      assert.deepEqual(await cronRunLines(), [
        `* * * * * ${runCommand('files')}`,
        `${minute} ${hour} * * * ${runCommand('dump')}`,
        `@daily ${runCommand('nightly')}`,
      ]);
      const config = await readFile(configFile, 'utf8');
      assert.match(
        config,
        new RegExp(`schedule: "${minute} ${hour} \\* \\* \\*"`),
        'the config knows the jittered schedule too',
      );
      assert.match(config, /schedule: "@midnight"/, 'the config keeps the schedule as written');
      assert.match(config, /^ {4}hooks: \{.*"before": \[\["true"\]\]/m, "a job's hooks reach the config");
      assert.match(config, /^ {4}ping: \{.*"url": "https:\/\/hc-ping\.example\/ping\/0000"/m, 'and its ping');
      // And the weekly `cronvault prune` of the host's repository: no backup_prune, so this host
      // prunes, at 5:MM on a weekday drawn from "<host>/prune" (420 slots), as `cronvault cron` does.
      const [pruneSlot] = await pythonSlots(['localhost/prune'], 420);
      assert.match(
        await readFile(cronPath, 'utf8'),
        new RegExp(
          `^${pruneSlot! % 60} 5 \\* \\* ${Math.floor(pruneSlot! / 60)} root ${paths().bin}/cronvault prune --quiet -c ${configFile}$`,
          'm',
        ),
      );
      assert.match(
        await readFile(paths().nodeExporterDefaults, 'utf8'),
        new RegExp(`^ARGS="--web.listen-address=:9100 --collector.textfile.directory=${paths().textfile}"$`, 'm'),
      );
    });

    it('accepts retention 2W:2D for a job with retention_rounding: keep-more, explaining it with that rounding', () => {
      assert.ok(scenario.converge, 'converged');
      assert.equal(scenario.converge.exitCode, 0, scenario.converge.output);
      assert.match(
        scenario.converge.output,
        /item=2W:2D \(restic, rounding keep-more\)/,
        'explained with --rounding keep-more',
      );
      assert.match(
        scenario.converge.output,
        /item=1W:1D,4W:1W,12M:1M \(restic, rounding refuse\)/,
        'other jobs keep the default rounding',
      );
    });

    it('idempotence: a second converge changes nothing and keeps the jittered time', () => {
      const result = scenario.idempotence!;
      assert.equal(result.exitCode, 0, result.output);
      assert.equal(result.changed, 0, result.output);
      assert.deepEqual(scenario.cronAfterIdempotence, scenario.cronAfterConverge);
      assert.equal(result.output.includes(password), false, 'the password must not appear in the log');
    });

    it('--check on the converged host: nothing would change, nothing fails, the cron file is untouched', async () => {
      const result = scenario.checkMode!;
      assert.equal(result.exitCode, 0, result.output);
      assert.equal(result.failed, 0, result.output);
      assert.equal(result.changed, 0, result.output);
      assert.deepEqual(await cronRunLines(), scenario.cronAfterConverge);
    });

    it('verify: a config that cronvault check accepts, with the password only in a 0600 file', async () => {
      const check = await runCronvault(['check', '--config', configFile]);
      assert.equal(check.exitCode, 0, `${check.stdout}\n${check.stderr}`);

      assert.equal((await stat(passwordFile)).mode & 0o777, 0o600);
      assert.equal((await stat(configFile)).mode & 0o777, 0o640);
      assert.equal((await readFile(passwordFile, 'utf8')).trim(), password);
      const grep = await execa('grep', ['-rlF', '--', password, '/etc', tmp.dir], { reject: false });
      assert.deepEqual(grep.stdout.split('\n').filter(Boolean), [passwordFile]);
    });

    it('verify: cron runs the backup from the installed cron line and writes its metrics', {
      timeout: 200_000,
    }, async () => {
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
      const snapshots = await execa(
        'restic',
        ['-r', paths().repo, '--password-file', passwordFile, 'snapshots', '--json'],
        {
          reject: false,
          env: { RESTIC_CACHE_DIR: join(tmp.dir, 'restic-cache') },
        },
      );
      assert.equal(snapshots.exitCode, 0, snapshots.stderr);
      assert.ok((JSON.parse(snapshots.stdout) as unknown[]).length >= 1);
    });
  });

  describe("role values, rendered from the role's defaults and vars without a play", () => {
    it('draws the jittered time as one slot of 240 from "<host>/<job>", like Python, spread over > 200 slots for 500 hosts', async () => {
      const hosts = Array.from({ length: 500 }, (_, i) => `host${String(i).padStart(3, '0')}.example.org`);
      const vars = { backup_jobs: [{ name: 'dump', command: 'pg_dump db' }] };
      const schedules = (await renderRoleVars('{{ _backup_jobs_effective[0].schedule }}', vars, hosts)) as string[];
      const slots = await pythonSlots(hosts.map((host) => `${host}/dump`));
      assert.deepEqual(
        schedules,
        slots.map((slot) => `${slot % 60} ${1 + Math.floor(slot / 60)} * * *`),
        "the role's draw is Python's",
      );
      const distinct = new Set(schedules).size;
      // Two correlated draws from one seed (minute, then hour) reach only 144 of the 240 slots.
      assert.ok(distinct > 200, `500 hosts share only ${distinct} of 240 slots`);
      for (const hour of [1, 2, 3, 4]) {
        const count = schedules.filter((schedule) => schedule.split(' ')[1] === String(hour)).length;
        assert.ok(count > 90 && count < 160, `${count} of 500 hosts at ${hour} o'clock`);
      }

      // Other hours: one draw below 60 * len(hours), hour = hours[slot // 60].
      const few = hosts.slice(0, 50);
      const custom = (await renderRoleVars(
        '{{ _backup_jobs_effective[0].schedule }}',
        { ...vars, backup_jitter_hours: [22, 23, 5] },
        few,
      )) as string[];
      const customSlots = await pythonSlots(
        few.map((host) => `${host}/dump`),
        180,
      );
      assert.deepEqual(
        custom,
        customSlots.map((slot) => `${slot % 60} ${[22, 23, 5][Math.floor(slot / 60)]} * * *`),
      );
    });

    it('draws the same jittered times as `cronvault cron --host <inventory name>`', async () => {
      const config = join(tmp.dir, 'cli-cron.yml');
      const jobNames = ['dump', 'files', 'pg.main'];
      await writeFile(
        config,
        [
          'defaults:',
          `  repository: ${JSON.stringify(paths().repo)}`,
          `  password_file: ${JSON.stringify(passwordFile)}`,
          '  retention: none',
          'jobs:',
          ...jobNames.flatMap((name) => [`  ${JSON.stringify(name)}:`, '    path: /srv']),
          '',
        ].join('\n'),
      );
      const hosts = ['localhost', 'db1.example.org', 'files-2'];
      const vars = { backup_jobs: jobNames.map((name) => ({ name, path: '/srv' })) };
      const byRole = (await renderRoleVars(
        "{{ _backup_jobs_effective | map(attribute='schedule') | list }}",
        vars,
        hosts,
      )) as string[][];
      for (const [i, host] of hosts.entries()) {
        const cli = await runCronvault(['cron', '--config', config, '--host', host]);
        assert.equal(cli.exitCode, 0, cli.stderr);
        const byCli = Object.fromEntries(
          [...cli.stdout.matchAll(/^(\S+ \S+ \* \* \*) \S+ \S+ run (\S+) /gm)].map((match) => [match[2]!, match[1]!]),
        );
        assert.deepEqual(
          byCli,
          Object.fromEntries(jobNames.map((name, j) => [name, byRole[i]![j]!])),
          `host ${host}:\n${cli.stdout}`,
        );
      }
    });

    it("leaves -c out of the cron line when the config is cronvault's default, and maps cron macros", async () => {
      const jobs = [
        { name: 'files', path: '/srv', schedule: '0 2 * * *' },
        { name: 'nightly', path: '/srv', schedule: '@midnight' },
        { name: 'yearly', path: '/srv', schedule: '@annually' },
      ];
      const [byDefault, otherDir] = (
        await Promise.all([
          renderRoleVars('{{ _backup_cron_entries }}', { backup_jobs: jobs }, ['localhost']),
          renderRoleVars('{{ _backup_cron_entries }}', { backup_jobs: jobs, backup_config_dir: '/etc/cv two' }, [
            'localhost',
          ]),
        ])
      ).map((hosts) => hosts[0] as { name: string; command: string; special_time?: string; fields?: string[] }[]);
      const runs = byDefault!.filter((entry) => !entry.name.endsWith('/verify'));
      assert.deepEqual(
        runs.map((entry) => entry.command),
        jobs.map((job) => `/usr/local/bin/cronvault run ${job.name} --quiet`),
      );
      assert.deepEqual(
        runs.map((entry) => entry.special_time ?? entry.fields!.join(' ')),
        ['0 2 * * *', 'daily', 'annually'],
      );
      // Each restic job also gets its weekly `cronvault verify` line, named "<job>/verify".
      assert.deepEqual(
        byDefault!.filter((entry) => entry.name.endsWith('/verify')).map((entry) => entry.command),
        jobs.map((job) => `/usr/local/bin/cronvault verify ${job.name} --quiet`),
      );
      // backup_config_file follows backup_config_dir; anything but the default is passed (quoted).
      assert.equal(otherDir![0]!.command, "/usr/local/bin/cronvault run files --quiet -c '/etc/cv two/config.yml'");
    });
  });

  describe('variations, each converged from a bare host', () => {
    it('removes the cron line of a job dropped from backup_jobs, and wires a Pushgateway when given one', async () => {
      await fresh();
      assert.equal((await applyRole(baseVars(mainJobs()))).exitCode, 0, 'converged with three jobs first');
      const before = await readFile(configFile, 'utf8');
      assert.doesNotMatch(before, /pushgateway_url/, 'no push unless asked');
      // A dropped job's old metrics file would raise BackupNotRun: the rollout removes it.
      const dropped = join(paths().textfile, 'cronvault_dump.prom');
      await writeFile(dropped, 'backup_running{backup="dump"} 0\n');
      const result = await applyRole(
        baseVars(mainJobs().slice(0, 1), { backup_pushgateway_url: 'http://pushgateway.example.org:9091' }),
      );
      assert.equal(result.exitCode, 0, result.output);
      assert.match(
        await readFile(configFile, 'utf8'),
        /^ {2}pushgateway_url: "http:\/\/pushgateway\.example\.org:9091"$/m,
        'validated by cronvault check as the config was installed',
      );
      const lines = await cronRunLines();
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, / run files --quiet/);
      assert.doesNotMatch(await readFile(cronPath, 'utf8'), /cronvault (dump|nightly)/);
      await assert.rejects(readFile(dropped), { code: 'ENOENT' }, "the dropped job's metrics file is removed");
      assert.match(result.output, /TASK \[backup : Remove the files of jobs no longer declared\][\s\S]*?changed:/);
    });

    it('renders the alert rules for every job on the Prometheus host, checked by promtool', async () => {
      await fresh();
      const result = await applyRole(
        baseVars(mainJobs(), {
          backup_prometheus_host: 'localhost',
          backup_prometheus_rules_file: paths().rules,
          backup_prometheus_reload: 'none',
          backup_alert_max_age: '30h',
        }),
      );
      assert.equal(result.exitCode, 0, result.output);
      const rules = await readFile(paths().rules, 'utf8');
      for (const job of ['files', 'dump', 'nightly']) {
        assert.match(rules, new RegExp(`backup="${job}", instance=~"localhost\\(:\\[0-9\\]\\+\\)\\?"`));
      }
      assert.match(rules, /> 108000/, 'backup_alert_max_age reaches the rules');
      const check = await execa('promtool', ['check', 'rules', paths().rules], { reject: false, all: true });
      assert.equal(check.exitCode, 0, String(check.all));
    });

    it('rolls out while the repository is down (validate is config-only), and with node_exporter_textfile_dir leaves /etc/default alone', async () => {
      await fresh();
      const defaultsBefore = await readFile(paths().nodeExporterDefaults, 'utf8');
      const neTextfile = join(tmp.dir, 'community-node-exporter-textfile');
      const { backup_textfile_dir: _ours, ...vars } = baseVars(mainJobs(), {
        backup_repository: `rest:http://127.0.0.1:${await freePort()}/`,
        node_exporter_textfile_dir: neTextfile,
      });
      const result = await applyRole(vars);
      assert.equal(result.exitCode, 0, result.output);
      const config = await readFile(configFile, 'utf8');
      assert.match(config, new RegExp(`textfile_dir: "${neTextfile}"`), "the community role's directory");
      assert.match(
        config,
        /rest:http:\/\/127\.0\.0\.1:\d+\//,
        'the config naming the unreachable repository was installed',
      );
      assert.equal(
        await readFile(paths().nodeExporterDefaults, 'utf8'),
        defaultsBefore,
        "node_exporter's flags are that role's",
      );
      // The rollout's cleanup task writes cronvault_jobs.prom for the installed config; that
      // `check --config-only` (the validate step) writes nothing is proven in check.test.ts.
      assert.match(
        await readFile(join(neTextfile, 'cronvault_jobs.prom'), 'utf8'),
        /backup_job_info\{backup="files"/,
        "the jobs file is in the community role's directory",
      );
    });

    it('keeps the alert rules and file_sd targets (with their routing labels) of every inventory host when applied with --limit to the canary', async () => {
      await fresh();
      const inventory = join(tmp.dir, 'inventory.json');
      const host = (jobs: Job[]) => ({
        ansible_connection: 'local',
        ansible_python_interpreter: '{{ ansible_playbook_python }}',
        backup_jobs: jobs,
      });
      await writeFile(
        inventory,
        JSON.stringify({
          all: {
            hosts: {
              canary1: {
                ...host([{ name: 'canaryfiles', path: paths().data }]),
                backup_alert_labels: { customer: 'acme', team: 'dba' },
              },
              rest1: host([{ name: 'restfiles', path: paths().data, alert_max_age: '3d' }]),
            },
            children: { backup_canary: { hosts: { canary1: {} } } },
          },
        }),
      );
      const { backup_jobs: _jobs, ...vars } = baseVars([], {
        backup_prometheus_host: 'localhost',
        backup_prometheus_rules_file: paths().rules,
        backup_prometheus_reload: 'none',
        backup_prometheus_sd_file: join(tmp.dir, 'file_sd', 'cronvault-nodes.json'),
      });
      const result = await applyRole(vars, ['-i', inventory, '--limit', 'backup_canary']);
      assert.equal(result.exitCode, 0, result.output);
      assert.equal(recapCount(result.output, 'ok', 'canary1') > 0, true, 'the canary was applied');
      assert.equal(recapCount(result.output, 'ok', 'rest1'), -1, 'rest1 was left out');
      assert.match(await readFile(configFile, 'utf8'), /"canaryfiles":/);

      const rules = await readFile(paths().rules, 'utf8');
      assert.match(rules, /backup="canaryfiles", instance=~"canary1\(:\[0-9\]\+\)\?"/);
      assert.match(
        rules,
        /backup="restfiles", instance=~"rest1\(:\[0-9\]\+\)\?"/,
        'the host left out keeps its alerts',
      );
      assert.match(rules, /\b259200\b/, "rest1's alert_max_age (3d) is read from its inventory vars");

      // Every host's node_exporter with its routing labels, in a file_sd file Prometheus accepts.
      const sdFile = join(tmp.dir, 'file_sd', 'cronvault-nodes.json');
      assert.deepEqual(JSON.parse(await readFile(sdFile, 'utf8')), [
        { targets: ['canary1:9100'], labels: { customer: 'acme', team: 'dba' } },
        { targets: ['rest1:9100'], labels: {} },
      ]);
      const promConfig = join(tmp.dir, 'prometheus-sd.yml');
      await writeFile(
        promConfig,
        `scrape_configs:\n  - job_name: node\n    file_sd_configs:\n      - files: ["${sdFile}"]\n`,
      );
      const check = await execa('promtool', ['check', 'config', promConfig], { reject: false, all: true });
      assert.equal(check.exitCode, 0, String(check.all));
    });
  });

  // After the cron tests: it replaces the cron file with systemd units.
  it('with backup_scheduler: systemd writes a verified service and timer per job and removes the cron file', async () => {
    const unitDir = join(tmp.dir, 'systemd');
    const jobs = mainJobs();
    const result = await applyRole(baseVars(jobs, { backup_scheduler: 'systemd', backup_systemd_dir: unitDir }));
    assert.equal(result.exitCode, 0, result.output);
    assert.equal(existsSync(cronPath), false, 'no cron line runs the jobs a second time');
    const units = jobs.flatMap((job) => [`cronvault-${job.name}.service`, `cronvault-${job.name}.timer`]);
    const verify = await execa('systemd-analyze', ['verify', '--man=no', ...units.map((unit) => join(unitDir, unit))], {
      reject: false,
      all: true,
    });
    assert.equal(verify.exitCode, 0, String(verify.all));
    const dumpTimer = await readFile(join(unitDir, 'cronvault-dump.timer'), 'utf8');
    const cli = await runCronvault([
      'systemd',
      '--config',
      configFile,
      '--dir',
      unitDir,
      '--bin',
      join(paths().bin, 'cronvault'),
      '--host',
      'localhost',
    ]);
    assert.equal(cli.exitCode, 0, cli.stderr);
    assert.ok(
      cli.stdout.includes(dumpTimer.trim()),
      'the role installs exactly what `cronvault systemd --host <inventory name>` prints',
    );
    assert.match(
      await readFile(join(unitDir, 'cronvault-files.service'), 'utf8'),
      new RegExp(`^ExecStart=${paths().bin}/cronvault run files --config ${configFile} --quiet$`, 'm'),
    );
    // The weekly prune of the host's repository has its own service and timer (no cron file now).
    const pruneUnits = (await readdir(unitDir)).filter((file) => file.startsWith('cronvault_prune-'));
    assert.equal(pruneUnits.length, 2, pruneUnits.join(', '));
    // And each verified job's weekly restore drill (`cronvault verify <job>`), as `cronvault cron` has it.
    const verifyUnits = (await readdir(unitDir)).filter((file) => file.startsWith('cronvault_verify-'));
    const verified = cli.stdout.match(/^# \S+\/cronvault_verify-\S+$/gm) ?? [];
    assert.ok(verifyUnits.length > 0, 'the restic jobs are verified');
    assert.equal(verifyUnits.length, verified.length, verifyUnits.join(', '));
    const again = await applyRole(baseVars(jobs, { backup_scheduler: 'systemd', backup_systemd_dir: unitDir }));
    assert.equal(again.changed, 0, again.output);
  });
});
