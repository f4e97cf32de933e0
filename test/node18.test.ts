// Hosts run Debian 12's Node.js 18: the shipped bundle must work there, not only on the Node
// the developers have. `make test` unpacks Debian's node 18 into .cache/node18
// (scripts/fetch-node18.sh); this runs a real backup with it.

import assert from 'node:assert/strict';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { cronvaultBin, makeTempDir, projectRoot } from './support/cli.ts';
import { createRepository, metricValue, readJobProm } from './support/restic.ts';

const root = join(projectRoot, '.cache', 'node18', 'root');

/** Runs Debian's node 18, its /usr/share/nodejs builtins bind-mounted in a private mount namespace. */
const runNode18 = (nodeArgs: string[]) =>
  execa(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mkdir -p /usr/share/nodejs && mount --bind "$NODE18_ROOT/usr/share/nodejs" /usr/share/nodejs && exec "$NODE18_ROOT/usr/bin/node" "$@"',
      'node18',
      ...nodeArgs,
    ],
    {
      reject: false,
      env: { NODE18_ROOT: root, LD_LIBRARY_PATH: join(root, 'usr', 'lib', 'x86_64-linux-gnu') },
    },
  );

const runOnNode18 = (args: string[]) => runNode18([cronvaultBin, ...args]);

describe("the bundle on Debian 12's Node.js 18", () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    await access(join(root, 'usr', 'bin', 'node')).catch(() => {
      throw new Error("Debian's node 18 is not unpacked: run `make node18` (make test does)");
    });
    tmp = await makeTempDir();
  });
  after(async () => tmp?.cleanup());

  it('is node 18.19 or later', async () => {
    const node = await runNode18(['--version']);
    assert.equal(node.exitCode, 0, String(node.stderr));
    assert.match(String(node.stdout), /^v18\.(19|[2-9]\d)\./);
    const cronvault = await runOnNode18(['--version']);
    assert.equal(cronvault.exitCode, 0, String(cronvault.stderr));
  });

  it('backs up with restic, applies retention, writes metrics and reports status', async () => {
    const repo = await createRepository(tmp.dir);
    const data = join(tmp.dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'file.txt'), 'on node 18');
    const text = join(tmp.dir, 'text');
    const run = await runOnNode18([
      'run',
      '--path',
      data,
      '--repository',
      repo.repository,
      '--password-file',
      repo.passwordFile,
      '--retention',
      '1W:1D,4W:1W,12M:1M',
      '--textfile-dir',
      text,
      '--state-dir',
      join(tmp.dir, 'state'),
      '--retry-attempts',
      '2',
    ]);
    assert.equal(run.exitCode, 0, String(run.stderr));
    assert.match(String(run.stderr), /backup succeeded/);
    const prom = await readJobProm(text);
    assert.equal(metricValue(prom, 'backup_last_run_success'), 1);
    assert.equal(metricValue(prom, 'backup_last_retention_success'), 1);
    const explain = await runOnNode18(['retention', 'explain', 'U:1Y', '--restic-version', '0.14.0']);
    assert.equal(explain.exitCode, 0);
    assert.match(String(explain.stdout), /restic forget --keep-yearly 1000000/);
  });
});
