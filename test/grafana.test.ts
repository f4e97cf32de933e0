// The Grafana dashboard (grafana/dashboards/cronvault.json) is checked twice:
//  1. statically: importable shape, stable uid, unique panel ids, every panel and target on the
//     `$datasource` variable, every query filtered by `$job`/`$instance`/`$backup`, only metrics and
//     labels that docs/metrics.md promises (plus the ones Prometheus adds), the rules of Grafana's
//     dashboard-linter (which cannot be installed here) and the links to the runbook;
//  2. for real: the shipped CLI backs up three paths with restic 0.14 (one success, one failure,
//     one success with warnings), node_exporter serves the textfiles, Prometheus scrapes them, and
//     every PromQL query of the dashboard (panels, collapsed rows, template variables) is run
//     against Prometheus' HTTP API. Each must succeed and return data, and the panels that exist
//     to show a failing job must show it. A second node_exporter serves a fixture of long-idle
//     jobs (the real runs are seconds old), a declared job that never started and a foreign
//     malformed .prom file, to check the overdue, never-started and success-age arithmetic. The
//     Prometheus loads the real alert rules (prometheus/rules.yml.j2, rendered with `for: 0s`),
//     so the alerts panel is checked against alerts that lack `instance` or `backup`.
// Needs root (the warnings run drops to nobody with setpriv), restic, prometheus, promtool and
// prometheus-node-exporter: `make deps-test` installs them.

import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { access, chmod, chown, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { jobNameFromPath } from '../src/job-name.ts';
import {
  type CliResult,
  cronvaultBin,
  makeTempDir,
  projectRoot,
  runCronvault,
  runCronvaultAsNobody,
} from './support/cli.ts';
import { queryPrometheus, startNodeExporter, startPrometheus, waitFor } from './support/services.ts';

// ---------------------------------------------------------------------------------------------
// Dashboard model (only what the checks need)

interface DatasourceRef {
  type?: string;
  uid?: string;
}
interface Target {
  expr?: string;
  refId?: string;
  datasource?: DatasourceRef;
  format?: string;
  instant?: boolean;
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: DatasourceRef;
  targets?: Target[];
  panels?: Panel[];
  collapsed?: boolean;
}
interface Variable {
  name: string;
  label?: string;
  type: string;
  query?: string | { query?: string };
  datasource?: DatasourceRef;
  includeAll?: boolean;
  multi?: boolean;
  allValue?: string;
}
interface Link {
  title?: string;
  type?: string;
  url?: string;
}
interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  editable?: boolean;
  links?: Link[];
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboardPath = join(projectRoot, 'grafana', 'dashboards', 'cronvault.json');
const loadDashboard = async (): Promise<Dashboard> => JSON.parse(await readFile(dashboardPath, 'utf8')) as Dashboard;

/** Every panel, including the ones nested in (collapsed) rows. */
const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);

interface DashboardQuery {
  where: string;
  expr: string;
}

/** Every PromQL expression of the dashboard: panel targets, then query variables. */
const panelQueries = (dashboard: Dashboard): DashboardQuery[] =>
  allPanels(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      where: `panel ${panel.id} "${panel.title}" target ${target.refId}`,
      expr: target.expr ?? '',
    })),
  );

const variableQuery = (variable: Variable): string =>
  typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');

/**
 * Grafana's interpolation: "All" (allValue `.+`) unless a value is given. A single selected value
 * is inserted as is (Grafana regex-escapes it; `127.0.0.1:9100` matches itself either way).
 */
const substitute = (expr: string, values: { job?: string; instance?: string; backup?: string } = {}): string =>
  expr
    .replace(/\$\{?job(?::[a-z]+)?\}?/g, values.job ?? '.+')
    .replace(/\$\{?instance(?::[a-z]+)?\}?/g, values.instance ?? '.+')
    .replace(/\$\{?backup(?::[a-z]+)?\}?/g, values.backup ?? '.+')
    .replace(/\$\{?__rate_interval\}?/g, '1m')
    .replace(/\$\{?__range\}?/g, '1h')
    .replace(/\$\{?__interval\}?/g, '1m');

// What Grafana 12 writes when it saves a dashboard; older Grafana versions migrate only upwards.
const CURRENT_SCHEMA_VERSION = 41;
const RUNBOOK = 'https://github.com/cronvault/cronvault/blob/main/docs/runbook.md';

const DS_REF: DatasourceRef = { type: 'prometheus', uid: '${datasource}' };

// Labels on cronvault's series (docs/metrics.md) plus the ones Prometheus adds when scraping.
// engine and path are backup_job_info's only: queries join them with group_left.
const CRONVAULT_LABELS = new Set(['backup', 'engine', 'path', 'instance', 'job']);
// ALERTS is Prometheus' own series: alertname/alertstate are Prometheus' labels, not cronvault's.
const ALERTS_LABELS = new Set(['alertname', 'alertstate']);

/** Metric names documented in docs/metrics.md. */
const documentedMetrics = async (): Promise<Set<string>> => {
  const doc = await readFile(join(projectRoot, 'docs', 'metrics.md'), 'utf8');
  return new Set([...doc.matchAll(/`((?:backup|cronvault)_[a-z_]+)`/g)].map((match) => match[1] as string));
};

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'count',
  'sum',
  'max',
  'min',
  'avg',
  'time',
  'vector',
  'label_values',
  'ALERTS',
  'inf',
  'nan',
  'clamp_min',
  'topk',
  'label_replace',
]);

/** Metric names in an expression: identifiers that are neither labels, keywords nor functions. */
const metricNames = (expr: string): string[] => {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const withoutMatchers = withoutStrings.replace(/\{[^}]*\}/g, '{}');
  const withoutGroupings = withoutMatchers.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g,
    '$1',
  );
  return [...withoutGroupings.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)]
    .map((match) => match[0])
    .filter((word) => !PROMQL_WORDS.has(word) && !/^\d/.test(word));
};

/** Labels an expression names: in matchers and in by/on/... clauses. */
const labelNames = (expr: string): string[] => {
  const names: string[] = [];
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const [, body] of withoutStrings.matchAll(/\{([^}]*)\}/g)) {
    for (const [, name] of (body ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g))
      names.push(name as string);
  }
  for (const [, list] of withoutStrings.matchAll(
    /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
  )) {
    names.push(
      ...(list ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    );
  }
  const labelValues = /^label_values\((?:.+,\s*)?([A-Za-z_][A-Za-z0-9_]*)\)\s*$/s.exec(expr);
  if (labelValues) names.push(labelValues[1] as string);
  return names;
};

// ---------------------------------------------------------------------------------------------
// 1. Static checks

describe('grafana dashboard JSON', () => {
  test('parses, has the stable uid and an importable shape', async () => {
    const dashboard = await loadDashboard();
    assert.equal(dashboard.uid, 'cronvault-backups');
    assert.equal(typeof dashboard.title, 'string');
    assert.equal(dashboard.schemaVersion, CURRENT_SCHEMA_VERSION, 'the schema version Grafana 12 writes');
    assert.ok(Array.isArray(dashboard.panels) && dashboard.panels.length > 0);
  });

  test('every panel has a unique id, a description and the $datasource reference; every target too', async () => {
    const dashboard = await loadDashboard();
    const panels = allPanels(dashboard.panels);
    const ids = panels.map((panel) => panel.id);
    for (const id of ids)
      assert.ok(Number.isInteger(id) && (id as number) > 0, `panel id ${id} is not a positive integer`);
    assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join(',')}`);
    for (const panel of panels) {
      const name = `panel ${panel.id} "${panel.title}"`;
      assert.ok(panel.title, `${name} has no title`);
      assert.ok((panel.description ?? '').length >= 40, `${name} needs a description an operator can use`);
      assert.deepEqual(panel.datasource, DS_REF, `${name} datasource`);
      if (panel.type === 'row') continue;
      assert.ok((panel.targets ?? []).length > 0, `${name} has no query`);
      const refIds = (panel.targets ?? []).map((target) => target.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${name} has duplicate refIds`);
      for (const target of panel.targets ?? []) {
        assert.deepEqual(target.datasource, DS_REF, `${name} target ${target.refId} datasource`);
        assert.ok(target.expr && target.expr.trim() !== '', `${name} target ${target.refId} has no expr`);
      }
    }
  });

  test('has the datasource, job, instance and backup variables', async () => {
    const dashboard = await loadDashboard();
    const byName = new Map(dashboard.templating.list.map((variable) => [variable.name, variable]));
    const datasource = byName.get('datasource');
    assert.equal(datasource?.type, 'datasource');
    assert.equal((datasource as { query?: unknown } | undefined)?.query, 'prometheus');
    // job is Prometheus' scrape job; backup is cronvault's job. Each narrows the ones after it.
    assert.deepEqual(
      dashboard.templating.list.map((v) => v.name),
      ['datasource', 'job', 'instance', 'backup'],
    );
    for (const name of ['job', 'instance', 'backup']) {
      const variable = byName.get(name);
      assert.ok(variable, `variable ${name} missing`);
      assert.equal(variable.type, 'query');
      assert.deepEqual(variable.datasource, DS_REF);
      assert.equal(variable.includeAll, true, `${name}: All`);
      assert.equal(variable.multi, true, `${name}: multi`);
      assert.equal(variable.allValue, '.+', `${name}: All must be a regex that matches every value`);
      assert.match(
        variableQuery(variable),
        new RegExp(`^label_values\\(backup_last_run_start_timestamp_seconds.*, ${name}\\)$`),
      );
    }
  });

  test('queries use only documented metrics and labels, and filter every cronvault selector by $job, $instance and $backup', async () => {
    const dashboard = await loadDashboard();
    const documented = await documentedMetrics();
    assert.ok(documented.has('backup_last_run_success'), 'docs/metrics.md could not be parsed');
    const queries = [
      ...panelQueries(dashboard),
      ...dashboard.templating.list
        .filter((v) => v.type === 'query')
        .map((v) => ({ where: `variable ${v.name}`, expr: variableQuery(v) })),
    ];
    for (const { where, expr } of queries) {
      const usesAlerts = /\bALERTS\b/.test(expr);
      for (const metric of metricNames(expr.replace(/^label_values\((.*),\s*\w+\)$/s, '$1'))) {
        assert.ok(
          documented.has(metric),
          `${where}: ${metric} is not in docs/metrics.md (a recording rule or a typo?)`,
        );
      }
      for (const label of labelNames(expr)) {
        assert.ok(
          CRONVAULT_LABELS.has(label) || (usesAlerts && ALERTS_LABELS.has(label)),
          `${where}: label "${label}" is not written by cronvault nor added by Prometheus`,
        );
      }
      if (where.startsWith('variable')) continue;
      // Every selector of a cronvault metric (or ALERTS) carries both filters. ALERTS also keeps
      // alerts without the label (`|`: the empty value, i.e. a missing label, matches too).
      const selectors = [...expr.matchAll(/\b((?:backup|cronvault)_[a-z_]+|ALERTS)\b(\{[^}]*\})?/g)];
      assert.ok(selectors.length > 0, `${where}: no cronvault metric`);
      for (const [selector, name, matchers] of selectors) {
        const filters =
          name === 'ALERTS'
            ? ['job=~"$job|"', 'instance=~"$instance|"', 'backup=~"$backup|"']
            : ['job=~"$job"', 'instance=~"$instance"', 'backup=~"$backup"'];
        assert.ok(
          filters.every((filter) => matchers?.includes(filter)),
          `${where}: ${selector} is not filtered by ${filters.join(', ')}`,
        );
      }
    }
  });

  test('instant table queries and the fleet table merge', async () => {
    const dashboard = await loadDashboard();
    const tables = allPanels(dashboard.panels).filter((panel) => panel.type === 'table');
    assert.ok(tables.length >= 2);
    for (const table of tables) {
      for (const target of table.targets ?? []) {
        assert.equal(target.format, 'table', `table ${table.title} target ${target.refId} format`);
        assert.equal(target.instant, true, `table ${table.title} target ${target.refId} instant`);
      }
    }
    const fleet = tables.find((panel) => (panel.targets ?? []).length > 1) as Panel & {
      transformations?: { id: string }[];
    };
    assert.ok(fleet, 'no multi-query fleet table');
    assert.deepEqual((fleet.transformations ?? []).map((transformation) => transformation.id).slice(0, 2), [
      'merge',
      'organize',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// 1b. grafana/dashboard-linter's rules, as its lint/*.go files state them (the linter is a Go
// program that cannot be installed here). Its exceptions file, grafana/dashboards/.lint, applies.

/** The linter's exclusions: rule name → titles of the panels it does not apply to. */
const lintExclusions = async (): Promise<Map<string, Set<string>>> => {
  const file = parseYaml(await readFile(join(projectRoot, 'grafana', 'dashboards', '.lint'), 'utf8')) as {
    exclusions?: Record<string, { reason?: string; entries?: { dashboard?: string; panel?: string }[] }>;
  };
  const dashboard = await loadDashboard();
  const result = new Map<string, Set<string>>();
  for (const [rule, { reason, entries }] of Object.entries(file.exclusions ?? {})) {
    assert.ok((reason ?? '').length > 20, `.lint: the exclusion of ${rule} says why`);
    for (const entry of entries ?? []) {
      // The linter matches an entry only when its dashboard title is exactly the dashboard's.
      assert.equal(entry.dashboard, dashboard.title, `.lint: ${rule} names another dashboard`);
      result.set(rule, new Set([...(result.get(rule) ?? []), entry.panel ?? '']));
    }
  }
  return result;
};

/** The vector selectors of an expression: their matchers, `undefined` for a bare metric name. */
const selectorsOf = (
  expr: string,
): { selector: string; matchers?: { name: string; op: string; value: string }[] }[] => {
  const withMatchers = [...expr.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)?\{([^}]*)\}/g)].map(([selector, , body]) => ({
    selector,
    matchers: [...(body ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(
      ([, name, op, value]) => ({
        name: name as string,
        op: op as string,
        value: value as string,
      }),
    ),
  }));
  const bare = metricNames(expr.replace(/([A-Za-z_:][A-Za-z0-9_:]*)?\{[^}]*\}/g, ' ')).map((selector) => ({
    selector,
  }));
  return [...withMatchers, ...bare];
};

describe("grafana/dashboard-linter's rules", () => {
  for (const name of ['job', 'instance']) {
    test(`template-${name}-rule: a multi-select "${name}" query variable on $datasource, labelled ${name[0]!.toUpperCase()}${name.slice(1)}, allValue .+`, async () => {
      const variable = (await loadDashboard()).templating.list.find((v) => v.name === name);
      assert.ok(variable, `is missing the ${name} template`);
      assert.ok(
        ['$datasource', '${datasource}'].includes(variable.datasource?.uid ?? ''),
        `${name} template should use datasource '$datasource'`,
      );
      assert.equal(variable.type, 'query', `${name} template should be a Prometheus query`);
      assert.equal(variable.label, `${name[0]!.toUpperCase()}${name.slice(1)}`, `${name} template label`);
      assert.equal(variable.multi, true, `${name} template should be a multi select`);
      assert.equal(variable.allValue, '.+', `${name} template allValue should be '.+'`);
    });
    test(`target-${name}-rule: every selector of every target has ${name}=~"$${name}" (exceptions in .lint)`, async () => {
      const dashboard = await loadDashboard();
      const excluded = (await lintExclusions()).get(`target-${name}-rule`) ?? new Set();
      let checked = 0;
      for (const panel of allPanels(dashboard.panels)) {
        if (excluded.has(panel.title ?? '')) continue;
        for (const target of panel.targets ?? []) {
          for (const { selector, matchers } of selectorsOf(target.expr ?? '')) {
            const matcher = matchers?.find((m) => m.name === name);
            assert.ok(
              matcher,
              `panel "${panel.title}" target ${target.refId}: ${name} selector not found in ${selector}`,
            );
            assert.equal(
              `${matcher.op}"${matcher.value}"`,
              `=~"$${name}"`,
              `panel "${panel.title}" target ${target.refId}: ${selector}`,
            );
            checked += 1;
          }
        }
      }
      assert.ok(checked > 30, `only ${checked} selectors checked`);
    });
  }

  test('the .lint exceptions are the alerts panel only, which keeps alerts without the label', async () => {
    const exclusions = await lintExclusions();
    assert.deepEqual([...exclusions.keys()].sort(), ['target-instance-rule', 'target-job-rule']);
    for (const panels of exclusions.values()) assert.deepEqual([...panels], ['Firing backup alerts']);
    const alerts = allPanels((await loadDashboard()).panels).find((p) => p.title === 'Firing backup alerts');
    assert.match(alerts?.targets?.[0]?.expr ?? '', /job=~"\$job\|", instance=~"\$instance\|"/);
  });

  test('panel-datasource-rule: every singlestat, graph, table and timeseries panel uses the templated datasource', async () => {
    const panels = allPanels((await loadDashboard()).panels).filter((p) =>
      ['singlestat', 'graph', 'table', 'timeseries'].includes(p.type ?? ''),
    );
    assert.ok(panels.length >= 5);
    for (const panel of panels)
      assert.ok(
        ['$datasource', '${datasource}'].includes(panel.datasource?.uid ?? ''),
        `panel "${panel.title}" does not use a templated datasource`,
      );
  });

  test('uneditable-dashboard-rule: the dashboard is not editable (the JSON file is the source of truth)', async () => {
    assert.equal((await loadDashboard()).editable, false);
  });
});

describe('grafana dashboard links to the runbook', () => {
  test('a dashboard link to the runbook', async () => {
    const links = (await loadDashboard()).links ?? [];
    assert.ok(
      links.some((link) => link.type === 'link' && link.url === RUNBOOK && /runbook/i.test(link.title ?? '')),
      JSON.stringify(links),
    );
  });

  test("the alert column links to the alert's section: every alert of the rules has its lower-case anchor", async () => {
    const alerts = allPanels((await loadDashboard()).panels).find(
      (p) => p.title === 'Firing backup alerts',
    ) as Panel & {
      fieldConfig?: { overrides?: { matcher: { options?: string }; properties: { id: string; value?: unknown }[] }[] };
    };
    assert.ok(alerts);
    const column = alerts.fieldConfig?.overrides?.find((o) => o.matcher.options === 'Alert');
    const links = column?.properties.find((p) => p.id === 'links')?.value as { url?: string }[] | undefined;
    assert.deepEqual(
      links?.map((link) => link.url),
      [`${RUNBOOK}#\${__data.fields.anchor}`],
    );
    // Grafana has no lower-case formatter: the query adds each alert's anchor as a label.
    const expr = alerts.targets?.[0]?.expr ?? '';
    const mapped = new Map(
      [...expr.matchAll(/"anchor", "([a-z]+)", "alertname", "([A-Za-z]+)"/g)].map(([, anchor, alert]) => [
        alert,
        anchor,
      ]),
    );
    const rendered = await execa('/usr/bin/python3', [
      join(projectRoot, 'scripts', 'render-j2.py'),
      join(projectRoot, 'prometheus', 'rules.yml.j2'),
    ]);
    const names = new Set(
      (parseYaml(rendered.stdout) as { groups: { rules: { alert?: string }[] }[] }).groups.flatMap((g) =>
        g.rules.flatMap((r) => (r.alert ? [r.alert] : [])),
      ),
    );
    const runbook = await readFile(join(projectRoot, 'docs', 'runbook.md'), 'utf8');
    const anchors = new Set([...runbook.matchAll(/^## (\S+)\s*$/gm)].map((match) => match[1]!.toLowerCase()));
    for (const name of names) {
      assert.equal(mapped.get(name), name.toLowerCase(), `the alerts panel gives ${name} no runbook anchor`);
      assert.ok(anchors.has(name.toLowerCase()), `docs/runbook.md has no "## ${name}"`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Real runs, real node_exporter and Prometheus

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

const NOBODY = 65534;
const NOGROUP = 65534;

const exists = async (path: string): Promise<boolean> =>
  access(path, constants.F_OK).then(
    () => true,
    () => false,
  );

describe('grafana dashboard against real metrics', { timeout: 120_000 }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> } | undefined;
  const stoppers: (() => Promise<unknown>)[] = [];
  let promUrl = '';
  // The node_exporter serving the real runs' textfiles, and a second one serving a fixture of
  // jobs whose last run started long ago (the real runs are seconds old, never overdue).
  let realInstance = '';
  let fixtureInstance = '';
  const jobs = { ok: '', fail: '', warn: '', dump: 'dump' };
  const paths = { ok: '', fail: '', warn: '' };
  const results: Record<string, CliResult> = {};

  const query = async (expr: string): Promise<PromSample[]> => {
    const result = (await queryPrometheus(promUrl, expr)) as PromSample[];
    return result;
  };

  before(async () => {
    assert.ok(await exists(cronvaultBin), `${cronvaultBin} is missing: run "npm run build" first (make test does)`);
    tmp = await makeTempDir('cronvault-grafana-');
    const root = tmp.dir;
    // mkdtemp makes 0700 directories; the warnings run is unprivileged and must get in.
    await chmod(root, 0o755);
    const dir = (...parts: string[]) => join(root, ...parts);
    const textfileDir = dir('textfile');
    const stateDir = dir('state');
    const repo = dir('repo');
    const password = dir('password');
    const wrongPassword = dir('wrong-password');
    for (const d of [
      textfileDir,
      stateDir,
      dir('home'),
      dir('cache'),
      dir('data', 'ok'),
      dir('data', 'fail'),
      dir('data', 'warn'),
    ]) {
      await mkdir(d, { recursive: true, mode: 0o755 });
    }
    paths.ok = dir('data', 'ok');
    paths.fail = dir('data', 'fail');
    paths.warn = dir('data', 'warn');
    await writeFile(join(paths.ok, 'hello.txt'), 'hello from the ok job\n'.repeat(100));
    await writeFile(join(paths.fail, 'hello.txt'), 'never backed up\n');
    await writeFile(join(paths.warn, 'readable.txt'), 'readable by nobody\n');
    await writeFile(join(paths.warn, 'unreadable.txt'), 'root only\n', { mode: 0o000 });
    await chmod(join(paths.warn, 'unreadable.txt'), 0o000);
    await writeFile(password, 'correct horse battery staple\n', { mode: 0o600 });
    await writeFile(wrongPassword, 'not the password\n', { mode: 0o600 });

    // restic caches under $XDG_CACHE_HOME; keep it in the temp tree.
    const env = { HOME: dir('home'), XDG_CACHE_HOME: dir('cache'), RESTIC_CACHE_DIR: dir('cache') };
    const init = await execa('restic', ['init'], {
      reject: false,
      env: { ...env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: password },
    });
    assert.equal(init.exitCode, 0, `restic init failed: ${init.stderr}`);

    const runArgs = (path: string, passwordFile: string, ...more: string[]) => [
      'run',
      '--path',
      path,
      '--engine',
      'restic',
      '--repository',
      repo,
      '--password-file',
      passwordFile,
      '--textfile-dir',
      textfileDir,
      '--state-dir',
      stateDir,
      '--retry-attempts',
      '1',
      '--retention',
      'none',
      ...more,
    ];
    // 1. success (root), with retention so the snapshot series exist, and a schedule so
    //    backup_job_schedule_max_interval_seconds exists (the overdue queries use it when present)
    results.ok = await runCronvault(runArgs(paths.ok, password, '--retention', '1W:1D', '--schedule', '*/5 * * * *'), {
      env,
      cwd: root,
    });
    // 1b. the ok job's restore drill (`cronvault verify` needs it declared in a config), so the
    //     "Last good restore drill" panel has data written by cronvault
    const verifyConfig = dir('verify.yml');
    await writeFile(
      verifyConfig,
      [
        `state_dir: ${stateDir}`,
        `metrics: { textfile_dir: ${textfileDir} }`,
        'jobs:',
        `  ${jobNameFromPath(paths.ok)}: { path: ${paths.ok}, repository: ${repo}, password_file: ${password}, retention: none }`,
        '',
      ].join('\n'),
    );
    results.verify = await runCronvault(['verify', '--all', '-c', verifyConfig, '-q'], { env, cwd: root });
    assert.equal(results.verify.exitCode, 0, `verify: ${results.verify.stderr}`);
    // 2. failure: wrong password
    results.fail = await runCronvault(runArgs(paths.fail, wrongPassword), { env, cwd: root });
    // 2b. a dump job (a `command:` producer), so the database-dump panel has its series
    const dumpConfig = dir('dump.yml');
    await writeFile(
      dumpConfig,
      [
        `state_dir: ${stateDir}`,
        `metrics: { textfile_dir: ${textfileDir} }`,
        'jobs:',
        `  dump: { command: "printf 'a dump'", repository: ${repo}, password_file: ${password}, retention: none }`,
        '',
      ].join('\n'),
    );
    results.dump = await runCronvault(['run', 'dump', '--config', dumpConfig], { env, cwd: root });
    // 3. success with warnings: as nobody, who cannot read unreadable.txt (root reads everything)
    for (const path of [repo, textfileDir, stateDir, password, dir('home'), dir('cache')]) {
      await execa('chown', ['-R', `${NOBODY}:${NOGROUP}`, path]);
    }
    for (const path of [paths.warn, join(paths.warn, 'readable.txt')]) await chown(path, NOBODY, NOGROUP);
    results.warn = await runCronvaultAsNobody(root, runArgs(paths.warn, password), { env });

    const describeRun = (name: string) =>
      `${name} run: exit ${results[name]?.exitCode}\nstdout: ${results[name]?.stdout}\nstderr: ${results[name]?.stderr}`;
    assert.equal(results.ok?.exitCode, 0, describeRun('ok'));
    assert.notEqual(results.fail?.exitCode, 0, describeRun('fail'));
    assert.equal(results.dump?.exitCode, 0, describeRun('dump'));
    const files = await readdir(textfileDir);
    assert.ok(
      files.filter((file) => /^cronvault_.+\.prom$/.test(file)).length >= 3,
      `textfiles: ${files.join(', ')}\n${describeRun('warn')}`,
    );

    // The real alert rules, firing at once; a listed job that exists nowhere gives an alert
    // without `instance` (absent), the fixture's foreign malformed file one without `backup`.
    const vars = dir('rules-vars.yml');
    await writeFile(
      vars,
      [
        'backup_alert_for: 0s',
        'backup_alert_files_interval: 1s', // the stale-file alerts at Prometheus' 1 s, not every minute
        'backup_alert_jobs:',
        '  - {host: ghost.example.org, job: ghost, max_age: 1s}',
        '',
      ].join('\n'),
    );
    const rendered = await execa('/usr/bin/python3', [
      join(projectRoot, 'scripts', 'render-j2.py'),
      join(projectRoot, 'prometheus', 'rules.yml.j2'),
      vars,
    ]);
    const rules = dir('rules.yml');
    await writeFile(rules, rendered.stdout);
    const check = await execa('promtool', ['check', 'rules', rules], { reject: false });
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);

    const fixtureDir = dir('textfile-fixture');
    await mkdir(fixtureDir);
    const now = Math.floor(Date.now() / 1000);
    const fixture = (name: string, startedAgo: number, maxInterval?: number, running?: boolean): string => {
      const labels = `{backup="${name}"}`;
      return [
        `backup_last_run_start_timestamp_seconds${labels} ${now - startedAgo}`,
        `backup_last_success_timestamp_seconds${labels} ${now - startedAgo + 60}`,
        `backup_last_run_success${labels} 1`,
        ...(maxInterval === undefined ? [] : [`backup_job_schedule_max_interval_seconds${labels} ${maxInterval}`]),
        ...(running === undefined ? [] : [`backup_running${labels} ${running ? 1 : 0}`]),
      ].join('\n');
    };
    await writeFile(
      join(fixtureDir, 'cronvault_fixture.prom'),
      [
        fixture('stale_unscheduled', 30 * 3600), // no schedule: 26 h default → overdue
        fixture('stale_hourly', 3 * 3600, 3600), // hourly: allowed 1 h + 1 h slack → overdue
        fixture('weekly', 30 * 3600, 7 * 86400), // weekly: 30 h is fine → on time
        fixture('running_long', 30 * 3600, undefined, true), // started 30 h ago, still running: not overdue
        '',
      ].join('\n'),
    );
    // Declared jobs: the fixture's, plus one that never started.
    await writeFile(
      join(fixtureDir, 'cronvault_jobs.prom'),
      [
        ...['stale_unscheduled', 'stale_hourly', 'weekly', 'running_long', 'never_ran'].map(
          (name) => `backup_job_info{backup="${name}",engine="restic",path="/fixture/${name}",schedule=""} 1`,
        ),
        '',
      ].join('\n'),
    );
    // Another tool's broken file: node_exporter reports node_textfile_scrape_error 1.
    await writeFile(join(fixtureDir, 'foreign.prom'), 'this is { not the text format\n');

    const nodeExporter = await startNodeExporter({ textfileDir });
    stoppers.push(() => nodeExporter.stop());
    const fixtureExporter = await startNodeExporter({ textfileDir: fixtureDir });
    stoppers.push(() => fixtureExporter.stop());
    realInstance = new URL(nodeExporter.url).host;
    fixtureInstance = new URL(fixtureExporter.url).host;
    const prometheus = await startPrometheus({
      scrapeTargets: [realInstance, fixtureInstance],
      ruleFiles: [rules],
      scrapeInterval: '1s',
    });
    stoppers.push(() => prometheus.stop());
    promUrl = prometheus.url;

    // Wait until the jobs are scraped and the alerts the tests look for fire.
    await waitFor(
      async () => {
        const series = await query('backup_last_run_success');
        const alerts = await query('ALERTS{alertstate="firing"}');
        const firing = (name: string, labels: Record<string, string>) =>
          alerts.some(
            (a) => a.metric.alertname === name && Object.entries(labels).every(([k, v]) => a.metric[k] === v),
          );
        return (
          series.length >= 7 &&
          firing('BackupFailed', { instance: realInstance }) &&
          firing('BackupNotRun', { reason: 'absent', backup: 'ghost' }) &&
          firing('BackupMetricsStale', { reason: 'scrape_error', instance: fixtureInstance }) &&
          firing('BackupNotRun', { reason: 'max_age', backup: 'stale_unscheduled' })
        );
      },
      { timeout: 30_000, message: 'fixture scraped and the alerts firing' },
    );
    const byPath = new Map(
      (await query(`backup_job_info{instance="${realInstance}"}`)).map((s) => [s.metric.path, s.metric.backup]),
    );
    jobs.ok = byPath.get(paths.ok) ?? '';
    jobs.fail = byPath.get(paths.fail) ?? '';
    jobs.warn = byPath.get(paths.warn) ?? '';
    assert.ok(jobs.ok && jobs.fail && jobs.warn, `jobs by path: ${JSON.stringify([...byPath])}`);
  });

  after(async () => {
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    await tmp?.cleanup();
  });

  test('the three runs reported success, failure and success with warnings', async () => {
    const success = new Map((await query('backup_last_run_success')).map((s) => [s.metric.backup, s.value[1]]));
    const warnings = new Map((await query('backup_last_run_warnings')).map((s) => [s.metric.backup, s.value[1]]));
    assert.equal(success.get(jobs.ok), '1');
    assert.equal(success.get(jobs.fail), '0');
    assert.equal(success.get(jobs.warn), '1', `warn run: ${JSON.stringify(results.warn)}`);
    assert.equal(warnings.get(jobs.warn), '1', `warn run: ${JSON.stringify(results.warn)}`);
    assert.equal(warnings.get(jobs.ok), '0');
  });

  test('every panel query succeeds against Prometheus and returns data', async () => {
    const dashboard = await loadDashboard();
    const queries = panelQueries(dashboard);
    assert.ok(queries.length >= 15, `only ${queries.length} queries found`);
    for (const { where, expr } of queries) {
      // Only the real runs' host: the data must come from what cronvault wrote, not the fixture.
      const promql = substitute(expr, { instance: realInstance });
      assert.doesNotMatch(promql, /\$/, `${where}: unresolved variable in ${promql}`);
      const result = await query(promql).catch((error: unknown) =>
        assert.fail(`${where}: ${String(error)}\n${promql}`),
      );
      assert.ok(result.length > 0, `${where}: no data for\n${promql}`);
    }
  });

  test('every query variable returns the jobs', async () => {
    const dashboard = await loadDashboard();
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
      const match = /^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)\s*$/s.exec(variableQuery(variable));
      assert.ok(match, `variable ${variable.name}: expected label_values(<selector>, <label>)`);
      const [, selector, label] = match as unknown as [string, string, string];
      const values = new Set(
        (await query(substitute(selector, { instance: realInstance }))).map((sample) => sample.metric[label]),
      );
      assert.ok(
        values.size > 0 && !values.has(undefined as unknown as string),
        `variable ${variable.name}: ${[...values]}`,
      );
      if (label === 'instance') {
        const all = new Set((await query(substitute(selector))).map((sample) => sample.metric[label]));
        assert.deepEqual([...all].sort(), [realInstance, fixtureInstance].sort());
      }
      if (label === 'backup') {
        // Scoped by $instance: the real host's four jobs, none of the fixture's.
        assert.deepEqual([...values].sort(), Object.values(jobs).sort(), `variable backup on ${realInstance}`);
      }
    }
  });

  test('the panels that exist to show a failing job show it', async () => {
    const dashboard = await loadDashboard();
    const panels = allPanels(dashboard.panels);
    const panel = (title: RegExp): Panel => {
      const found = panels.find((p) => title.test(p.title ?? ''));
      assert.ok(found, `no panel titled ${title}`);
      return found;
    };
    const expr = (p: Panel, refId = 'A', backup?: string): string =>
      substitute(p.targets?.find((t) => t.refId === refId)?.expr ?? '', { instance: realInstance, backup });
    const sampleOf = (samples: PromSample[], job: string) =>
      samples.find((sample) => sample.metric.backup === job)?.value[1];

    const failing = await query(expr(panel(/failing/i)));
    assert.ok(Number(failing[0]?.value[1]) >= 1, `jobs failing now: ${JSON.stringify(failing)}`);
    // $backup really filters: one job selected, only its own state counts.
    assert.equal((await query(expr(panel(/failing/i), 'A', jobs.fail)))[0]?.value[1], '1');
    assert.equal((await query(expr(panel(/failing/i), 'A', jobs.ok)))[0]?.value[1], '0');

    const warnings = await query(expr(panel(/warnings/i)));
    assert.ok(Number(warnings[0]?.value[1]) >= 1, `jobs with warnings: ${JSON.stringify(warnings)}`);

    // All three jobs started seconds ago: none is overdue.
    const overdue = await query(expr(panel(/overdue/i)));
    assert.equal(overdue[0]?.value[1], '0', `jobs overdue: ${JSON.stringify(overdue)}`);

    const fleet = panel(/fleet/i);
    const outcome = await query(expr(fleet, 'A'));
    assert.equal(sampleOf(outcome, jobs.fail), '0', `fleet outcome: ${JSON.stringify(outcome)}`);
    assert.equal(sampleOf(outcome, jobs.ok), '1');
    assert.equal(sampleOf(outcome, jobs.warn), '2');
    const exitCode = await query(expr(fleet, 'B'));
    assert.notEqual(sampleOf(exitCode, jobs.fail), '0');
    assert.equal(sampleOf(exitCode, jobs.warn), '3', 'restic exits 3 when a source file is unreadable');
    // Engine and path are joined from backup_job_info: the per-job series no longer carry them.
    const failRow = exitCode.find((sample) => sample.metric.backup === jobs.fail)?.metric;
    assert.deepEqual([failRow?.engine, failRow?.path], ['restic', paths.fail], JSON.stringify(failRow));
    // The failed job never succeeded: its "since last success" is the whole epoch ("never").
    const sinceSuccess = await query(expr(fleet, 'C'));
    assert.ok(Number(sampleOf(sinceSuccess, jobs.fail)) > 1e9, `since last success: ${JSON.stringify(sinceSuccess)}`);
    assert.ok(Number(sampleOf(sinceSuccess, jobs.ok)) < 600);
    const overdueColumn = await query(expr(fleet, 'D'));
    for (const job of Object.values(jobs)) assert.equal(sampleOf(overdueColumn, job), '0', `overdue column for ${job}`);

    const alerts = await query(expr(panel(/alerts/i)));
    assert.ok(
      alerts.some((sample) => sample.metric.backup === jobs.fail && sample.metric.anchor === 'backupfailed'),
      `firing alerts: ${JSON.stringify(alerts)}`,
    );
    assert.ok(!alerts.some((sample) => sample.metric.backup === jobs.ok));
  });

  test('firing alerts: a selected host or job keeps the alerts that lack instance or backup', async () => {
    const dashboard = await loadDashboard();
    const alertsPanel = allPanels(dashboard.panels).find((p) => /alerts/i.test(p.title ?? ''));
    const template = alertsPanel?.targets?.[0]?.expr ?? '';
    const firing = async (values: { instance?: string; backup?: string }) =>
      (await query(substitute(template, values))).map((s) => s.metric);
    const names = (alerts: Record<string, string>[]) =>
      alerts.map((a) => `${a.alertname}/${a.reason ?? ''}/${a.instance ?? ''}/${a.backup ?? ''}`);

    // The real host, every job: its failure, and the listed job whose metrics are absent (no instance).
    const real = await firing({ instance: realInstance });
    assert.ok(
      real.some((a) => a.alertname === 'BackupFailed' && a.backup === jobs.fail),
      names(real).join('\n'),
    );
    assert.ok(
      real.some((a) => a.reason === 'absent' && a.backup === 'ghost' && a.instance === undefined),
      names(real).join('\n'),
    );
    assert.ok(
      real.every((a) => a.instance === undefined || a.instance === realInstance),
      names(real).join('\n'),
    );

    // The fixture host and one job: that job's alert, and the scrape error (no backup label);
    // not the other jobs' alerts, not the absent listed job (its backup label is another job).
    const one = await firing({ instance: fixtureInstance, backup: 'stale_unscheduled' });
    assert.ok(
      one.some((a) => a.alertname === 'BackupNotRun' && a.backup === 'stale_unscheduled'),
      names(one).join('\n'),
    );
    assert.ok(
      one.some((a) => a.alertname === 'BackupMetricsStale' && a.reason === 'scrape_error' && a.backup === undefined),
      names(one).join('\n'),
    );
    assert.ok(
      one.every(
        (a) =>
          (a.backup === undefined || a.backup === 'stale_unscheduled') &&
          (a.instance === undefined || a.instance === fixtureInstance),
      ),
      names(one).join('\n'),
    );
    // The same query with plain `instance=~"$instance", backup=~"$backup"` (the old panel) loses both.
    const strict = (
      await query(
        substitute(
          template.replace('$job|', '$job').replace('$instance|', '$instance').replace('$backup|', '$backup'),
          { instance: fixtureInstance, backup: 'stale_unscheduled' },
        ),
      )
    ).map((s) => s.metric);
    assert.ok(
      !strict.some((a) => a.reason === 'scrape_error'),
      'the strict filter drops the scrape error: the test would not show a regression',
    );
  });

  test('never started: counted, and listed in the fleet table as "never ran" (-1)', async () => {
    const dashboard = await loadDashboard();
    const panels = allPanels(dashboard.panels);
    const stat = panels.find((p) => /never started/i.test(p.title ?? ''));
    const fleet = panels.find((p) => /fleet/i.test(p.title ?? ''));
    assert.ok(stat && fleet);
    const on = (p: Panel, refId: string, instance: string) =>
      substitute(p.targets?.find((t) => t.refId === refId)?.expr ?? '', { instance });
    assert.equal((await query(on(stat, 'A', fixtureInstance)))[0]?.value[1], '1');
    assert.equal((await query(on(stat, 'A', realInstance)))[0]?.value[1], '0');
    const outcome = new Map((await query(on(fleet, 'A', fixtureInstance))).map((s) => [s.metric.backup, s.value[1]]));
    assert.equal(outcome.get('never_ran'), '-1', JSON.stringify([...outcome]));
    assert.equal(outcome.get('weekly'), '1');
  });

  test("success age / limit: a share of the job's own limit (schedule gap + 1 h, at least 26 h; 26 h without schedule)", async () => {
    const dashboard = await loadDashboard();
    const fleet = allPanels(dashboard.panels).find((p) => /fleet/i.test(p.title ?? ''));
    assert.ok(fleet);
    const ratio = async (instance: string) =>
      new Map(
        (await query(substitute(fleet.targets?.find((t) => t.refId === 'J')?.expr ?? '', { instance }))).map((s) => [
          s.metric.backup,
          Number(s.value[1]),
        ]),
      );
    const fixtureRatios = await ratio(fixtureInstance);
    const age = 30 * 3600 - 60;
    const near = (actual: number | undefined, expected: number) =>
      actual !== undefined && Math.abs(actual - expected) < 0.01;
    assert.ok(
      near(fixtureRatios.get('stale_unscheduled'), age / 93600),
      `unscheduled: ${fixtureRatios.get('stale_unscheduled')}`,
    ); // red: > 100 %
    assert.ok(near(fixtureRatios.get('weekly'), age / (7 * 86400 + 3600)), `weekly: ${fixtureRatios.get('weekly')}`); // 30 h of a week: green
    assert.ok(
      near(fixtureRatios.get('stale_hourly'), (3 * 3600 - 60) / 93600),
      `hourly: ${fixtureRatios.get('stale_hourly')}`,
    ); // floor of 26 h
    const realRatios = await ratio(realInstance);
    assert.ok((realRatios.get(jobs.ok) ?? 1) < 0.01, JSON.stringify([...realRatios]));
    assert.equal(
      realRatios.has(jobs.fail),
      false,
      'a job that never succeeded has no ratio ("never" in the column before)',
    );
  });

  test('overdue: schedule gap + 1 h when the job has a schedule, 26 h otherwise, never while running', async () => {
    const dashboard = await loadDashboard();
    const panels = allPanels(dashboard.panels);
    const stat = panels.find((p) => /overdue/i.test(p.title ?? ''));
    const fleet = panels.find((p) => /fleet/i.test(p.title ?? ''));
    assert.ok(stat && fleet);
    const on = (p: Panel, refId: string) =>
      substitute(p.targets?.find((t) => t.refId === refId)?.expr ?? '', { instance: fixtureInstance });
    // running_long started 30 h ago too, but is still running: BackupStuck's business, not overdue.
    const count = await query(on(stat, 'A'));
    assert.equal(count[0]?.value[1], '2', `jobs overdue on the fixture host: ${JSON.stringify(count)}`);
    const column = new Map((await query(on(fleet, 'D'))).map((sample) => [sample.metric.backup, sample.value[1]]));
    assert.deepEqual(Object.fromEntries(column), {
      stale_unscheduled: '1',
      stale_hourly: '1',
      weekly: '0',
      running_long: '0',
    });
    // All hosts: the real jobs (seconds old) add nothing.
    const everywhere = await query(substitute(stat.targets?.[0]?.expr ?? ''));
    assert.equal(everywhere[0]?.value[1], '2');
  });

  test('promtool: the dashboard uses no recording rules, and every query is valid PromQL', async () => {
    const dashboard = await loadDashboard();
    const queries = panelQueries(dashboard);
    for (const { where, expr } of queries)
      assert.doesNotMatch(expr, /[a-z_]+:[a-z_:]+/, `${where} uses a recording rule`);
    const rules = join(tmp?.dir ?? '', 'dashboard-queries.yml');
    const body = queries
      .map(
        ({ expr }, index) =>
          `      - record: cronvault_dashboard:query_${index}\n        expr: ${JSON.stringify(substitute(expr))}`,
      )
      .join('\n');
    await writeFile(rules, `groups:\n  - name: cronvault-dashboard\n    rules:\n${body}\n`);
    const check = await execa('promtool', ['check', 'rules', rules], { reject: false });
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    await rm(rules, { force: true });
  });
});
