// The alert rules template: renders (with the example variables, and with none), passes
// `promtool check rules`, and every alert fires and stays silent where the promtool unit tests
// in prometheus/tests/ say. Rendering happens in a temporary directory: nothing is left in the repo.

import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { makeTempDir, projectRoot } from './support/cli.ts';

const PYTHON = '/usr/bin/python3';
const template = join(projectRoot, 'prometheus', 'rules.yml.j2');
const renderer = join(projectRoot, 'scripts', 'render-j2.py');
const testsDir = join(projectRoot, 'prometheus', 'tests');
const hasAnsible = await execa('ansible-playbook', ['--version'], { reject: false }).then(
  (result) => result.exitCode === 0,
  () => false,
);
const ALERTS = [
  'BackupNotRun',
  'BackupFailed',
  'BackupNoRecentSuccess',
  'BackupStuck',
  'BackupRetentionFailed',
  'BackupMetricsStale',
  'BackupMetricsVanished',
  'BackupOverdueBySchedule',
  'BackupVerifyFailed',
  'BackupNotVerified',
  'BackupUnusualChange',
  'BackupPruneFailed',
  'BackupPruneNotRun',
  'BackupHookFailed',
];

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const render = async (vars?: string): Promise<string> => {
  const result = await execa(PYTHON, [renderer, template, ...(vars ? [vars] : [])], {
    reject: false,
    stripFinalNewline: false,
  });
  assert.equal(result.exitCode, 0, `render-j2.py failed:\n${result.stderr}`);
  return result.stdout;
};

const checkRules = async (file: string) =>
  execa('promtool', ['check', 'rules', '--lint-fatal', file], { reject: false, all: true });

const rulesOf = (text: string): Rule[] => {
  const doc = parseYaml(text) as { groups: { name: string; interval?: string; rules: Rule[] }[] };
  // The hour-scale rules in four groups that Prometheus evaluates concurrently (runs, successes,
  // outcomes, files), and the day-scale ones in a group of their own at a slower interval.
  assert.deepEqual(
    doc.groups.map((g) => [g.name.replace(/^.*?(-success|-outcome|-files|-slow)?$/, 'x$1'), g.interval]),
    [
      ['x', undefined],
      ['x-success', undefined],
      ['x-outcome', undefined],
      ['x-files', '1m'],
      ['x-slow', '5m'],
    ],
    'five rule groups',
  );
  const rules = doc.groups.flatMap((g) => g.rules);
  // One recording rule: the memory of declared jobs that BackupMetricsVanished reads.
  assert.deepEqual(
    rules.filter((r) => !r.alert).map((r) => (r as { record?: string }).record),
    ['backup:job_info_last_seen_timestamp_seconds'],
  );
  return rules.filter((r) => r.alert);
};

describe('prometheus/rules.yml.j2', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };

  before(async () => {
    tmp = await makeTempDir('cronvault-rules-');
  });
  after(async () => {
    await tmp?.cleanup();
  });

  test('renders with the example variables and passes promtool check rules', async () => {
    const text = await render(join(projectRoot, 'prometheus', 'examples', 'vars.yml'));
    const file = join(tmp.dir, 'example.yml');
    await writeFile(file, text);
    const check = await checkRules(file);
    assert.equal(check.exitCode, 0, check.all);
    const rules = rulesOf(text);
    assert.deepEqual([...new Set(rules.map((rule) => rule.alert))].sort(), [...ALERTS].sort());
    // the example lists a host with dots: matched literally
    assert.ok(
      rules.some((rule) => rule.expr.includes('instance=~"files\\\\.example\\\\.org(:[0-9]+)?"')),
      'escaped host regex',
    );
  });

  test('renders with no variables at all, using the documented defaults', async () => {
    const text = await render();
    const file = join(tmp.dir, 'defaults.yml');
    await writeFile(file, text);
    const check = await checkRules(file);
    assert.equal(check.exitCode, 0, check.all);
    const rules = rulesOf(text);
    assert.deepEqual([...new Set(rules.map((rule) => rule.alert))].sort(), [...ALERTS].sort());
    assert.ok(
      rules.every((rule) => !rule.expr.includes('absent(')),
      'no absent() rule without listed jobs',
    );
    const notRun = rules.filter((rule) => rule.alert === 'BackupNotRun');
    assert.ok(
      notRun.some((rule) => rule.expr.includes('> 93600')),
      'max age 26h',
    );
    assert.ok(
      rules.some((rule) => rule.alert === 'BackupStuck' && rule.expr.includes('> 43200')),
      'stuck after 12h',
    );
    assert.ok(
      rules.some((rule) => rule.alert === 'BackupOverdueBySchedule' && rule.expr.includes('+ 3600')),
      'grace 1h',
    );
    for (const rule of rules) {
      // "never started" measures the wait in its expression (it differs per job); "never
      // succeeded" and a listed job's "absent" wait the max age with `for:`.
      const waitsMaxAge = rule.labels?.reason === 'never_succeeded' || rule.labels?.reason === 'absent';
      assert.equal(rule.for, waitsMaxAge ? '26h' : '5m', `${rule.alert} ${rule.labels?.reason ?? ''}: for`);
    }
    // Restore drills: 8d without a passing verify; unusual change: 10x the 14-day median, above 1 GiB / 10000 files.
    assert.ok(
      rules.some((rule) => rule.alert === 'BackupNotVerified' && rule.expr.includes(', 691200)')),
      'verify max age 8d',
    );
    const unusual = rules.filter((rule) => rule.alert === 'BackupUnusualChange').map((rule) => rule.expr);
    assert.ok(unusual.every((expr) => expr.includes('> 10 * quantile_over_time(0.5, ') && expr.includes('[1209600s]')));
    assert.ok(unusual.some((expr) => expr.includes('backup_last_added_bytes > 1073741824')));
    assert.ok(unusual.some((expr) => expr.includes('backup_last_files_changed > 10000')));
    const neverStarted = notRun.find((rule) => rule.labels?.reason === 'never_started');
    assert.ok(neverStarted?.expr.includes('[3024000s:1h]'), 'never started: looks back 35d in hourly steps');
    assert.ok(neverStarted?.expr.includes('backup_job_schedule_max_interval_seconds'), 'never started: schedule-aware');
  });

  test("a listed job has its own six rules on its own max age (its schedule's gap + grace when longer)", async () => {
    const vars = join(tmp.dir, 'listed.yml');
    await writeFile(vars, 'backup_alert_jobs:\n  - {host: nas.example.org, job: media.archive, max_age: 8d}\n');
    const rules = rulesOf(await render(vars));
    const listed = rules.filter((rule) => rule.labels?.backup === 'media.archive');
    assert.deepEqual(listed.map((rule) => `${rule.alert}/${rule.labels?.reason}`).sort(), [
      'BackupMetricsStale/file_age',
      'BackupNoRecentSuccess/max_age',
      'BackupNoRecentSuccess/never_succeeded',
      'BackupNotRun/absent',
      'BackupNotRun/max_age',
      'BackupNotRun/never_started',
    ]);
    // absent (and not declared) waits the max age; declared but never started measures it
    assert.equal(listed.find((rule) => rule.labels?.reason === 'absent')?.for, '8d');
    assert.match(
      listed.find((rule) => rule.labels?.reason === 'absent')?.expr ?? '',
      /unless on\(\) backup_job_info\{backup="media\.archive"/,
    );
    for (const rule of listed.filter((r) => r.labels?.reason === 'max_age' || r.labels?.reason === 'never_started')) {
      assert.ok(
        rule.expr.includes(', 691200)'),
        `${rule.alert} ${rule.labels?.reason}: max(8d, schedule gap + grace)\n${rule.expr}`,
      );
    }
    const stale = listed.find((rule) => rule.alert === 'BackupMetricsStale');
    assert.ok(
      stale?.expr.includes('cronvault_media\\\\.archive\\\\.prom') && stale.expr.includes('> 691200'),
      stale?.expr,
    );
    // the fleet-wide stale rule leaves the listed job's file (and cronvault_jobs.prom) out
    const fleet = rules.find(
      (rule) => rule.alert === 'BackupMetricsStale' && rule.labels?.reason === 'file_age' && !rule.labels?.backup,
    );
    assert.ok(
      fleet?.expr.includes(
        'unless on(instance, file) node_textfile_mtime_seconds{file=~"(.*/)?cronvault_media\\\\.archive\\\\.prom"',
      ),
      fleet?.expr,
    );
    assert.ok(fleet?.expr.includes('file!~"(.*/)?cronvault_jobs\\\\.prom"'), fleet?.expr);
  });

  test('every alert has severity, summary, description and a runbook anchor that exists', async () => {
    const rules = rulesOf(await render(join(projectRoot, 'prometheus', 'examples', 'vars.yml')));
    const runbook = await readFile(join(projectRoot, 'docs', 'runbook.md'), 'utf8');
    const anchors = new Set([...runbook.matchAll(/^## (\S+)\s*$/gm)].map((match) => match[1]!.toLowerCase()));
    for (const rule of rules) {
      assert.match(rule.labels?.severity ?? '', /^(critical|warning|info)$/, `${rule.alert}: severity`);
      assert.ok(rule.annotations?.summary, `${rule.alert}: summary`);
      assert.ok(rule.annotations?.description, `${rule.alert}: description`);
      const url = rule.annotations?.runbook_url ?? '';
      assert.equal(url, `https://git.example.org/ops/cronvault/blob/main/docs/runbook.md#${rule.alert.toLowerCase()}`);
      assert.ok(anchors.has(rule.alert.toLowerCase()), `docs/runbook.md has no "## ${rule.alert}"`);
    }
  });

  test('the number of rules grows with listed jobs only, not with hosts', async () => {
    const none = rulesOf(await render()).length;
    const vars = join(tmp.dir, 'three-jobs.yml');
    await writeFile(
      vars,
      'backup_alert_jobs:\n  - {host: a, job: x}\n  - {host: b, job: x}\n  - {host: c, job: y, max_age: 2d}\n',
    );
    assert.equal(rulesOf(await render(vars)).length, none + 3 * 6);
  });

  test('an invalid duration makes promtool reject the rendered file', async () => {
    const vars = join(tmp.dir, 'bad.yml');
    await writeFile(vars, 'backup_alert_max_age: 1h30m\n');
    const file = join(tmp.dir, 'bad-rules.yml');
    await writeFile(file, await render(vars));
    const check = await checkRules(file);
    assert.notEqual(check.exitCode, 0, 'promtool accepted INVALID_DURATION');
  });

  test('the example prometheus.yml and alertmanager.yml are valid', async () => {
    const prometheus = await execa(
      'promtool',
      ['check', 'config', '--syntax-only', join(projectRoot, 'prometheus', 'examples', 'prometheus.yml')],
      { reject: false, all: true },
    );
    assert.equal(prometheus.exitCode, 0, prometheus.all);
    const alertmanager = await execa(
      'amtool',
      ['check-config', join(projectRoot, 'prometheus', 'examples', 'alertmanager.yml')],
      { reject: false, all: true },
    );
    assert.equal(alertmanager.exitCode, 0, alertmanager.all);
    const config = parseYaml(
      await readFile(join(projectRoot, 'prometheus', 'examples', 'alertmanager.yml'), 'utf8'),
    ) as {
      route: { routes: { matchers: string[]; receiver: string }[] };
      receivers: {
        name: string;
        email_configs?: { send_resolved?: boolean }[];
        webhook_configs?: { send_resolved?: boolean }[];
      }[];
    };
    const route = config.route.routes.find((r) => r.matchers.includes('alertname=~"Backup.*"'));
    assert.ok(route, 'a route for alertname=~"Backup.*"');
    const receiver = config.receivers.find((r) => r.name === route.receiver);
    assert.ok(receiver?.email_configs?.length && receiver.webhook_configs?.length, 'e-mail and webhook');
    assert.ok(
      [...receiver.email_configs, ...receiver.webhook_configs].every((c) => c.send_resolved === true),
      'send_resolved',
    );
  });

  // An inhibition must never hide a missed backup: no inhibit rule may be able to mute these.
  test('the example alertmanager.yml inhibits none of the missed-backup alerts', async () => {
    const config = parseYaml(
      await readFile(join(projectRoot, 'prometheus', 'examples', 'alertmanager.yml'), 'utf8'),
    ) as {
      inhibit_rules?: {
        target_matchers?: string[];
        target_match?: Record<string, string>;
        target_match_re?: Record<string, string>;
      }[];
    };
    const acceptsName = (matcher: string, name: string): boolean => {
      const m = /^\s*alertname\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$/.exec(matcher);
      if (!m) return true; // a matcher on another label: some alert of that name may satisfy it
      const [, op, value] = m as unknown as [string, string, string];
      const re = new RegExp(`^(?:${value})$`);
      return op === '=' ? name === value : op === '!=' ? name !== value : op === '=~' ? re.test(name) : !re.test(name);
    };
    for (const name of ['BackupNotRun', 'BackupNoRecentSuccess', 'BackupOverdueBySchedule']) {
      for (const [index, rule] of (config.inhibit_rules ?? []).entries()) {
        const matchers = [
          ...(rule.target_matchers ?? []),
          ...Object.entries(rule.target_match ?? {}).map(([label, value]) => `${label}="${value}"`),
          ...Object.entries(rule.target_match_re ?? {}).map(([label, value]) => `${label}=~"${value}"`),
        ];
        assert.ok(!matchers.every((matcher) => acceptsName(matcher, name)), `inhibit_rules[${index}] can mute ${name}`);
      }
    }
  });

  // scripts/render-j2.py stands in for Ansible's template module: prove it renders the same.
  test("Ansible's template module renders the same as scripts/render-j2.py", {
    skip: !hasAnsible && 'ansible-playbook not installed',
  }, async () => {
    const playbook = join(tmp.dir, 'render.yml');
    await writeFile(
      playbook,
      [
        '- hosts: localhost',
        '  connection: local',
        '  gather_facts: false',
        '  vars_files: ["{{ vars_file }}"]',
        '  tasks:',
        '    - ansible.builtin.template:',
        `        src: ${JSON.stringify(template)}`,
        '        dest: "{{ out }}"',
        '        validate: promtool check rules %s',
        '',
      ].join('\n'),
    );
    const empty = join(tmp.dir, 'no-vars.yml');
    await writeFile(empty, '{}\n');
    for (const vars of [join(projectRoot, 'prometheus', 'examples', 'vars.yml'), empty]) {
      const out = join(tmp.dir, 'ansible-rendered.yml');
      const play = await execa(
        'ansible-playbook',
        ['-i', 'localhost,', playbook, '-e', `vars_file=${vars}`, '-e', `out=${out}`],
        {
          reject: false,
          all: true,
          env: { ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_NOCOLOR: '1' },
        },
      );
      assert.equal(play.exitCode, 0, play.all);
      const dropManagedLine = (text: string) => text.split('\n').slice(1).join('\n');
      assert.equal(
        dropManagedLine(await readFile(out, 'utf8')),
        dropManagedLine(await render(vars === empty ? undefined : vars)),
        `with ${vars}`,
      );
    }
  });

  test('promtool unit tests: each alert fires where it must and stays silent where it must not', async () => {
    const testFiles = (await readdir(testsDir))
      .filter((name) => name.startsWith('backup-') && name.endsWith('.yml'))
      .sort();
    const covered = testFiles.map((name) =>
      name.replace(/\.yml$/, '').replace(/(^|-)(\w)/g, (_m, _d, c: string) => c.toUpperCase()),
    );
    for (const alert of ALERTS) assert.ok(covered.includes(alert), `no prometheus/tests/ file for ${alert}`);

    const dir = join(tmp.dir, 'unit');
    await mkdir(dir);
    await writeFile(join(dir, 'rules.yml'), await render(join(testsDir, 'vars.yml')));
    for (const name of testFiles) await copyFile(join(testsDir, name), join(dir, name));
    // One promtool per file, as many at once as there are CPUs: promtool runs files one by one.
    const queue = [...testFiles];
    const failures: string[] = [];
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        const result = await execa('promtool', ['test', 'rules', name], { cwd: dir, reject: false, all: true });
        if (result.exitCode !== 0 || !/SUCCESS/.test(result.all ?? '')) failures.push(result.all ?? name);
      }
    };
    await Promise.all(Array.from({ length: Math.min(availableParallelism(), testFiles.length) }, worker));
    assert.deepEqual(failures, []);
  });
});
