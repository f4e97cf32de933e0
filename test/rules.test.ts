// The alert rules template: renders (with the example variables, and with none), passes
// `promtool check rules`, and every alert fires and stays silent where the promtool unit tests
// in prometheus/tests/ say. Rendering happens in a temporary directory: nothing is left in the repo.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { makeTempDir, projectRoot } from './support/cli.ts';

const PYTHON = '/usr/bin/python3';
const template = join(projectRoot, 'prometheus', 'rules.yml.j2');
const renderer = join(projectRoot, 'scripts', 'render-j2.py');
const testsDir = join(projectRoot, 'prometheus', 'tests');
const hasAnsible = await execa('ansible-playbook', ['--version'], { reject: false }).then((result) => result.exitCode === 0, () => false);
const ALERTS = [
  'BackupNotRun',
  'BackupFailed',
  'BackupNoRecentSuccess',
  'BackupStuck',
  'BackupRetentionFailed',
  'BackupMetricsStale',
  'BackupOverdueBySchedule',
];

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const render = async (vars?: string): Promise<string> => {
  const result = await execa(PYTHON, [renderer, template, ...(vars ? [vars] : [])], { reject: false, stripFinalNewline: false });
  assert.equal(result.exitCode, 0, `render-j2.py failed:\n${result.stderr}`);
  return result.stdout;
};

const checkRules = async (file: string) => execa('promtool', ['check', 'rules', '--lint-fatal', file], { reject: false, all: true });

const rulesOf = (text: string): Rule[] => {
  const doc = parseYaml(text) as { groups: { name: string; rules: Rule[] }[] };
  assert.equal(doc.groups.length, 1, 'one rule group');
  return doc.groups[0]!.rules;
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
    assert.ok(rules.some((rule) => rule.expr.includes('instance=~"files\\\\.example\\\\.org(:[0-9]+)?"')), 'escaped host regex');
  });

  test('renders with no variables at all, using the documented defaults', async () => {
    const text = await render();
    const file = join(tmp.dir, 'defaults.yml');
    await writeFile(file, text);
    const check = await checkRules(file);
    assert.equal(check.exitCode, 0, check.all);
    const rules = rulesOf(text);
    assert.deepEqual([...new Set(rules.map((rule) => rule.alert))].sort(), [...ALERTS].sort());
    assert.ok(rules.every((rule) => !rule.expr.includes('absent(')), 'no absent() rule without listed jobs');
    const notRun = rules.filter((rule) => rule.alert === 'BackupNotRun');
    assert.ok(notRun.some((rule) => rule.expr.includes('> 93600')), 'max age 26h');
    assert.ok(rules.some((rule) => rule.alert === 'BackupStuck' && rule.expr.includes('> 43200')), 'stuck after 12h');
    assert.ok(rules.some((rule) => rule.alert === 'BackupOverdueBySchedule' && rule.expr.includes('+ 3600')), 'grace 1h');
    for (const rule of rules) {
      const waitsMaxAge = rule.labels?.reason === 'never_started' || rule.labels?.reason === 'never_succeeded';
      assert.equal(rule.for, waitsMaxAge ? '26h' : '5m', `${rule.alert} ${rule.labels?.reason ?? ''}: for`);
    }
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
    await writeFile(vars, 'backup_alert_jobs:\n  - {host: a, job: x}\n  - {host: b, job: x}\n  - {host: c, job: y, max_age: 2d}\n');
    assert.equal(rulesOf(await render(vars)).length, none + 3 * 4);
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
    const prometheus = await execa('promtool', ['check', 'config', '--syntax-only', join(projectRoot, 'prometheus', 'examples', 'prometheus.yml')], { reject: false, all: true });
    assert.equal(prometheus.exitCode, 0, prometheus.all);
    const alertmanager = await execa('amtool', ['check-config', join(projectRoot, 'prometheus', 'examples', 'alertmanager.yml')], { reject: false, all: true });
    assert.equal(alertmanager.exitCode, 0, alertmanager.all);
    const config = parseYaml(await readFile(join(projectRoot, 'prometheus', 'examples', 'alertmanager.yml'), 'utf8')) as {
      route: { routes: { matchers: string[]; receiver: string }[] };
      receivers: { name: string; email_configs?: { send_resolved?: boolean }[]; webhook_configs?: { send_resolved?: boolean }[] }[];
    };
    const route = config.route.routes.find((r) => r.matchers.includes('alertname=~"Backup.*"'));
    assert.ok(route, 'a route for alertname=~"Backup.*"');
    const receiver = config.receivers.find((r) => r.name === route.receiver);
    assert.ok(receiver?.email_configs?.length && receiver.webhook_configs?.length, 'e-mail and webhook');
    assert.ok([...receiver.email_configs, ...receiver.webhook_configs].every((c) => c.send_resolved === true), 'send_resolved');
  });

  // scripts/render-j2.py stands in for Ansible's template module: prove it renders the same.
  test('Ansible\'s template module renders the same as scripts/render-j2.py', { skip: !hasAnsible && 'ansible-playbook not installed' }, async () => {
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
      const play = await execa('ansible-playbook', ['-i', 'localhost,', playbook, '-e', `vars_file=${vars}`, '-e', `out=${out}`], {
        reject: false,
        all: true,
        env: { ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_NOCOLOR: '1' },
      });
      assert.equal(play.exitCode, 0, play.all);
      const dropManagedLine = (text: string) => text.split('\n').slice(1).join('\n');
      assert.equal(dropManagedLine(await readFile(out, 'utf8')), dropManagedLine(await render(vars === empty ? undefined : vars)), `with ${vars}`);
    }
  });

  test('promtool unit tests: each alert fires where it must and stays silent where it must not', async () => {
    const testFiles = (await readdir(testsDir)).filter((name) => name.startsWith('backup-') && name.endsWith('.yml')).sort();
    const covered = testFiles.map((name) => name.replace(/\.yml$/, '').replace(/(^|-)(\w)/g, (_m, _d, c: string) => c.toUpperCase()));
    for (const alert of ALERTS) assert.ok(covered.includes(alert), `no prometheus/tests/ file for ${alert}`);

    const dir = join(tmp.dir, 'unit');
    await mkdir(dir);
    await writeFile(join(dir, 'rules.yml'), await render(join(testsDir, 'vars.yml')));
    for (const name of testFiles) await copyFile(join(testsDir, name), join(dir, name));
    const result = await execa('promtool', ['test', 'rules', ...testFiles], { cwd: dir, reject: false, all: true });
    assert.equal(result.exitCode, 0, result.all);
    assert.equal((result.all?.match(/SUCCESS/g) ?? []).length, testFiles.length, result.all);
  });
});
