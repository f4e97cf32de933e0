// docs/status-json.md is the contract scripts rely on: every field it documents is in the
// output, and the output has no field it does not document.

import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, projectRoot, runCronvault } from './support/cli.ts';

/** Field names from the first column of the table under a heading. */
const documentedFields = (doc: string, heading: string): string[] => {
  const section = doc.split(heading)[1]!.split(/\n#/)[0]!;
  return [...section.matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]!).sort();
};

describe('status --json schema', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  it('has exactly the fields docs/status-json.md documents', async () => {
    const doc = await readFile(join(projectRoot, 'docs', 'status-json.md'), 'utf8');
    await mkdir(join(tmp.dir, 'fake'));
    await mkdir(join(tmp.dir, 'data'));
    const pass = join(tmp.dir, 'p');
    await writeFile(pass, 'x\n');
    await chmod(pass, 0o600);
    const config = join(tmp.dir, 'config.yml');
    await writeFile(
      config,
      [
        `state_dir: ${join(tmp.dir, 'state')}`,
        `metrics: { textfile_dir: ${join(tmp.dir, 'text')} }`,
        `defaults: { engine: duplicati, repository: "file:///r", password_file: ${pass}, retention: none, binary: ${join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli')} }`,
        'jobs:',
        `  done: { path: ${join(tmp.dir, 'data')}, schedule: "0 3 * * *" }`,
        '',
      ].join('\n'),
    );
    const env = { FAKE_DUPLICATI_CODES: '0', FAKE_DUPLICATI_STATE: join(tmp.dir, 'fake') };
    assert.equal((await runCronvault(['run', 'done', '-c', config], { env })).exitCode, 0);
    const result = await runCronvault(['status', '--json', '-c', config]);
    assert.equal(result.exitCode, 0, result.stdout);
    const status = JSON.parse(result.stdout) as { jobs: Record<string, unknown>[] } & Record<string, unknown>;
    const job = status.jobs[0]!;
    assert.deepEqual(Object.keys(status).sort(), documentedFields(doc, '## Top level'));
    assert.deepEqual(Object.keys(job).sort(), documentedFields(doc, '## A job'));
    assert.deepEqual(Object.keys(job.lastRun as object).sort(), documentedFields(doc, '### `lastRun`'));
    assert.deepEqual(Object.keys(job.schedule as object).sort(), documentedFields(doc, '### `schedule`'));
  });
});
