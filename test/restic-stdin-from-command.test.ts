// restic >= 0.17 runs a stream job's producer itself (`--stdin-from-command`), so it sees the
// producer's exit code; 0.14 gets the pipe (test/database-presets.test.ts). The 0.17 branch runs
// against a test double holding restic 0.17's recorded contract: Debian 12 ships restic 0.14.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { metricValue } from './support/restic.ts';

const DOUBLE = join(projectRoot, 'test', 'fixtures', 'bin', 'restic-0.17');

describe('restic 0.17 --stdin-from-command', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  it('hands the preset dump argv to restic, which runs it; a failing producer fails the run with its exit code', async () => {
    const database = join(tmp.dir, 'app.db');
    await execa('sqlite3', [database, 'CREATE TABLE t (v); INSERT INTO t VALUES (1);']);
    const pass = join(tmp.dir, 'repo.pass');
    await writeFile(pass, 'secret\n', { mode: 0o600 });
    const log = join(tmp.dir, 'restic.log');
    const config = join(tmp.dir, 'config.yml');
    await writeFile(
      config,
      [
        `state_dir: ${join(tmp.dir, 'state')}`,
        `metrics: { textfile_dir: ${join(tmp.dir, 'text')} }`,
        'defaults:',
        `  binary: ${DOUBLE}`,
        '  repository: /srv/unused',
        `  password_file: ${pass}`,
        '  retention: none',
        '  retry: { attempts: 1 }',
        `  env: { RESTIC_DOUBLE_LOG: ${log} }`,
        'jobs:',
        `  app: { sqlite: { database: ${database} } }`,
        '  broken: { command: "echo half; exit 3" }',
        '',
      ].join('\n'),
    );
    const ok = await runCronvault(['run', 'app', '--config', config]);
    assert.equal(ok.exitCode, 0, ok.stderr);
    const backup = (await readFile(log, 'utf8')).split('\n').find((line) => line.startsWith('backup '));
    assert.match(
      backup ?? '',
      new RegExp(
        `--stdin-from-command --stdin-filename app\\.db\\.sql -- sqlite3 -readonly -bail -cmd \\.timeout 30000 ${database} \\.dump$`,
      ),
    );
    const prom = await readFile(join(tmp.dir, 'text', 'cronvault_app.prom'), 'utf8');
    assert.equal(metricValue(prom, 'backup_last_dump_exit_code'), 0);
    assert.ok((metricValue(prom, 'backup_last_dump_bytes') ?? 0) > 20);

    const broken = await runCronvault(['run', 'broken', '--config', config]);
    assert.equal(broken.exitCode, 1);
    assert.match(broken.stderr, /command "echo half; exit 3" failed with exit 3; no snapshot was made/);
    assert.equal(
      metricValue(await readFile(join(tmp.dir, 'text', 'cronvault_broken.prom'), 'utf8'), 'backup_last_dump_exit_code'),
      3,
    );
    assert.doesNotMatch(await readFile(log, 'utf8'), /^forget/m, 'restic made no snapshot, so none is removed');
  });
});
