// Two audiences (prometheus/examples/alertmanager-fleet.yml): the admins get every backup alert,
// each customer or team only its own hosts' alerts. `amtool config routes test` proves the
// routing; a real Alertmanager proves that BackupNotRun mutes BackupNoRecentSuccess of the same
// job only, and that nothing else is ever muted.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { projectRoot } from './support/cli.ts';
import { type Service, startAlertmanager, waitFor } from './support/services.ts';

const CONFIG = join(projectRoot, 'prometheus', 'examples', 'alertmanager-fleet.yml');

/** Labels of an alert → the receivers the example routes it to, in order. */
const CASES: [string, string[]][] = [
  ['alertname=BackupFailed host=web1 backup=etc customer=acme', ['backup-admins', 'customer-acme']],
  ['alertname=BackupNotRun host=db7 backup=postgres customer=globex', ['backup-admins', 'customer-globex']],
  ['alertname=BackupStuck host=db2 backup=mysql team=dba', ['backup-admins', 'team-dba']],
  // a host without a customer or team label: the admins only
  ['alertname=BackupMetricsStale host=nas1 reason=scrape_error', ['backup-admins']],
  // a customer not in the config: the admins only, never another customer
  ['alertname=BackupFailed host=x1 backup=etc customer=initech', ['backup-admins']],
  // not a backup alert: the default receiver, no customer
  ['alertname=NodeDown host=web1 customer=acme', ['default']],
];

describe('the two-audience Alertmanager example', () => {
  it('passes amtool check-config', async () => {
    const result = await execa('amtool', ['check-config', CONFIG], { reject: false, all: true });
    assert.equal(result.exitCode, 0, result.all);
  });

  for (const [labels, receivers] of CASES)
    it(`routes ${labels} to ${receivers.join(' and ')}`, async () => {
      const result = await execa(
        'amtool',
        [
          'config',
          'routes',
          'test',
          `--config.file=${CONFIG}`,
          `--verify.receivers=${receivers.join(',')}`,
          ...labels.split(' '),
        ],
        { reject: false, all: true },
      );
      assert.equal(result.exitCode, 0, result.all);
      assert.equal(result.stdout.trim(), receivers.join(','));
    });

  it('groups the admins by host and each customer into one summary', async () => {
    const config = parseYaml(await readFile(CONFIG, 'utf8')) as {
      route: { routes: { receiver: string; group_by: string[]; continue?: boolean }[] };
    };
    const route = (name: string) => config.route.routes.find((r) => r.receiver === name)!;
    assert.deepEqual(route('backup-admins').group_by, ['host']);
    assert.equal(route('backup-admins').continue, true);
    assert.deepEqual(route('customer-acme').group_by, ['customer']);
  });

  describe('inhibition, on a real Alertmanager', () => {
    let alertmanager: Service;
    before(async () => {
      // The example's routes and inhibition, with receivers that send nothing anywhere.
      const example = parseYaml(await readFile(CONFIG, 'utf8')) as Record<string, unknown> & {
        receivers: { name: string }[];
      };
      const config = {
        route: example.route,
        inhibit_rules: example.inhibit_rules,
        receivers: example.receivers.map(({ name }) => ({ name })),
      };
      alertmanager = await startAlertmanager({ webhookUrl: 'http://127.0.0.1:9/', config: JSON.stringify(config) });
    });
    after(async () => alertmanager?.stop());

    it('BackupNotRun mutes BackupNoRecentSuccess of the same job only; other alerts are never muted', async () => {
      const alert = (alertname: string, instance: string, backup: string) => ({
        labels: { alertname, instance, backup, host: instance, customer: 'acme' },
      });
      const sent = [
        alert('BackupNotRun', 'web1', 'etc'),
        alert('BackupNoRecentSuccess', 'web1', 'etc'), // muted: the same job does not run at all
        alert('BackupNoRecentSuccess', 'web1', 'home'), // another job of the host: not muted
        alert('BackupNoRecentSuccess', 'web2', 'etc'), // the same job name on another host: not muted
        alert('BackupFailed', 'web1', 'etc'), // another alert of the same job: not muted
      ];
      const response = await fetch(`${alertmanager.url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(sent),
      });
      assert.equal(response.status, 200);
      type Stored = { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } };
      const stored = await waitFor(
        async () => {
          const alerts = (await (await fetch(`${alertmanager.url}/api/v2/alerts`)).json()) as Stored[];
          // inhibition is computed when the alerts are read; wait for all five and the muted one
          return alerts.length === sent.length && alerts.some((a) => a.status.state === 'suppressed') && alerts;
        },
        { timeoutMs: 10_000 },
      );
      const state = (a: Stored) => `${a.labels.alertname} ${a.labels.instance} ${a.labels.backup}: ${a.status.state}`;
      assert.deepEqual(stored.map(state).sort(), [
        'BackupFailed web1 etc: active',
        'BackupNoRecentSuccess web1 etc: suppressed',
        'BackupNoRecentSuccess web1 home: active',
        'BackupNoRecentSuccess web2 etc: active',
        'BackupNotRun web1 etc: active',
      ]);
    });
  });
});
