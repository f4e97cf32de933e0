// End to end on 127.0.0.1 with the real binaries: cronvault writes its textfile, node_exporter
// serves it, Prometheus evaluates the rendered alert rules, Alertmanager notifies a webhook.
// A backup with the wrong password must be notified as BackupFailed naming the job, and the
// next successful run must resolve it: once for a restic job, once for a borg job (the same
// rules, labels and annotations, with each engine's exit code explained).

import assert from 'node:assert/strict';
import { access, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { createBorgRepository, useBorgBaseDir } from './support/borg.ts';
import { type CliResult, cronvaultBin, makeTempDir, runCronvault } from './support/cli.ts';
import { renderRulesFile } from './support/rules.ts';
import {
  queryPrometheus,
  type Service,
  startAlertmanager,
  startNodeExporter,
  startPrometheus,
  startWebhookReceiver,
  type WebhookAlert,
  type WebhookReceiver,
  waitFor,
} from './support/services.ts';

const RUNBOOK = 'https://runbook.example/runbook.md';

interface EngineCase {
  engine: 'restic' | 'borg';
  title: string;
  /** Creates the repository under `root`; returns it and the file holding its password. */
  createRepository: (root: string, password: string) => Promise<{ repository: string; passwordFile: string }>;
  /** How the rules explain the exit code of a wrong password on the engine Debian ships. */
  wrongPasswordExit: string;
}

const ENGINES: EngineCase[] = [
  {
    engine: 'restic',
    title: 'alerting end to end: cronvault -> node_exporter -> Prometheus -> Alertmanager -> webhook',
    createRepository: async (root, password) => {
      const repository = join(root, 'repo');
      const passwordFile = join(root, 'right.pass');
      await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
      await execa('restic', ['init'], { env: { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD_FILE: passwordFile } });
      return { repository, passwordFile };
    },
    // restic 0.14 exits 1 on a wrong password (12 only from restic 0.17).
    wrongPasswordExit: '1 \\(restic: fatal error\\)',
  },
  {
    engine: 'borg',
    title: 'alerting end to end for a borg job: cronvault -> node_exporter -> Prometheus -> Alertmanager -> webhook',
    createRepository: async (root, password) => {
      useBorgBaseDir(root);
      return createBorgRepository(root, 'repo', password);
    },
    // borg 1.2 exits 2 on a wrong password (52 only from 1.4 with BORG_EXIT_CODES=modern).
    wrongPasswordExit: '2 \\(borg: error\\)',
  },
];

for (const { engine, title, createRepository, wrongPasswordExit } of ENGINES)
  describe(title, { timeout: 90_000 }, () => {
    let tmp: { dir: string; cleanup: () => Promise<void> } | undefined;
    const services: Service[] = [];
    let webhook: WebhookReceiver;
    let promUrl = '';
    const dirs = { data: '', text: '', state: '', repo: '' };
    const passwords = { right: '', wrong: '' };
    let job = '';

    const runBackup = (passwordFile: string): Promise<CliResult> =>
      runCronvault([
        'run',
        '--path',
        dirs.data,
        '--engine',
        engine,
        '--repository',
        dirs.repo,
        '--password-file',
        passwordFile,
        '--retention',
        'none',
        '--textfile-dir',
        dirs.text,
        '--state-dir',
        dirs.state,
      ]);

    // The notified alerts of our job, or undefined while there are none (for waitFor).
    const alertsFor = (alertname: string, status: WebhookAlert['status']): WebhookAlert[] | undefined => {
      const alerts = webhook.notifications
        .flatMap((notification) => notification.alerts)
        .filter(
          (alert) => alert.labels.alertname === alertname && alert.labels.backup === job && alert.status === status,
        );
      return alerts.length > 0 ? alerts : undefined;
    };

    const diagnostics = async (): Promise<string> => {
      const alerts = await queryPrometheus(promUrl, 'ALERTS').catch((error: unknown) => String(error));
      return `Prometheus ALERTS: ${JSON.stringify(alerts)}\nwebhook notifications: ${JSON.stringify(webhook.notifications)}`;
    };

    before(async () => {
      await access(cronvaultBin).catch(() => assert.fail(`${cronvaultBin} is missing: run "npm run build" first`));
      tmp = await makeTempDir('cronvault-e2e-');
      const root = tmp.dir;
      for (const name of ['data', 'text', 'state'] as const) {
        dirs[name] = join(root, name);
        await mkdir(dirs[name]);
      }
      await writeFile(join(dirs.data, 'hello.txt'), 'hello\n');
      const repo = await createRepository(root, 'correct horse battery staple');
      dirs.repo = repo.repository;
      passwords.right = repo.passwordFile;
      passwords.wrong = join(root, 'wrong.pass');
      await writeFile(passwords.wrong, 'not the password\n', { mode: 0o600 });

      // Short thresholds: alert at the first evaluation.
      const rules = await renderRulesFile(root, {
        backup_alert_for: '0s',
        backup_alert_max_age: '1h',
        backup_alert_runbook_base: RUNBOOK,
      });
      const check = await execa('promtool', ['check', 'rules', rules], { reject: false, all: true });
      assert.equal(check.exitCode, 0, check.all);

      webhook = await startWebhookReceiver();
      services.push(webhook);
      const alertmanager = await startAlertmanager({ webhookUrl: webhook.url });
      services.push(alertmanager);
      const nodeExporter = await startNodeExporter({ textfileDir: dirs.text });
      services.push(nodeExporter);
      const prometheus = await startPrometheus({
        scrapeTargets: [new URL(nodeExporter.url).host],
        ruleFiles: [rules],
        alertmanagerUrl: alertmanager.url,
        scrapeInterval: '1s',
      });
      services.push(prometheus);
      promUrl = prometheus.url;
    });

    after(async () => {
      for (const service of services.reverse()) await service.stop().catch(() => undefined);
      await tmp?.cleanup();
    });

    test('a backup with the wrong password is notified as BackupFailed, naming the job', async () => {
      const run = await runBackup(passwords.wrong);
      assert.notEqual(run.exitCode, 0, `the run should fail:\n${run.stderr}`);
      const files = (await readdir(dirs.text)).filter(
        (name) => /^cronvault_.+\.prom$/.test(name) && name !== 'cronvault_jobs.prom',
      );
      assert.equal(files.length, 1, `textfiles: ${files.join(', ')}`);
      job = files[0]!.replace(/^cronvault_(.+)\.prom$/, '$1');

      const [alert] = await waitFor(() => alertsFor('BackupFailed', 'firing'), {
        timeoutMs: 30_000,
        message: 'a firing BackupFailed notification',
      }).catch(async (error: unknown) => assert.fail(`${String(error)}\n${await diagnostics()}`));
      assert.ok(alert);
      assert.equal(alert.labels.backup, job);
      assert.equal(alert.labels.host, '127.0.0.1');
      assert.equal(alert.labels.engine, engine);
      assert.equal(alert.labels.path, dirs.data);
      assert.equal(alert.labels.severity, 'warning');
      assert.equal(alert.annotations.summary, `Backup ${job} on 127.0.0.1 failed`);
      // The rules' mapping explains the engine's exit code. Everything but "how long ago" is fixed text.
      const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      assert.match(
        alert.annotations.description ?? '',
        new RegExp(
          `^The last run of backup job ${escapeRegExp(job)} on 127\\.0\\.0\\.1 \\(${engine}, path ${escapeRegExp(dirs.data)}\\) failed with exit code ${wrongPasswordExit}\\.$`,
        ),
      );
      assert.equal(alert.annotations.runbook_url, `${RUNBOOK}#backupfailed`);
    });

    test('the next successful run resolves it', async () => {
      assert.ok(job, 'the failing run came first');
      const run = await runBackup(passwords.right);
      assert.equal(run.exitCode, 0, `the run should succeed:\n${run.stderr}`);
      const [resolved] = await waitFor(() => alertsFor('BackupFailed', 'resolved'), {
        timeoutMs: 30_000,
        message: 'a resolved BackupFailed notification',
      }).catch(async (error: unknown) => assert.fail(`${String(error)}\n${await diagnostics()}`));
      assert.ok(resolved);
      assert.equal(resolved.labels.backup, job);
      assert.ok(Date.parse(resolved.endsAt) <= Date.now(), `endsAt ${resolved.endsAt} should be in the past`);
    });
  });
