// Secrets never appear on a command line, in a metric label, a log line or a state file, even
// when the engine itself prints a repository URL with credentials in it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, runCronvault } from './support/cli.ts';
import { freePort } from './support/services.ts';

const readTree = async (dir: string): Promise<string> => {
  let text = '';
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) text += await readFile(join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name), 'utf8');
  }
  return text;
};

describe('secrets', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir();
  });
  after(async () => tmp.cleanup());

  it('masks credentials of a rest: repository in every message, even restic\'s own, with --verbose', async () => {
    const port = await freePort();
    const pass = join(tmp.dir, 'p');
    await writeFile(pass, 'repo-password-91c2\n');
    await chmod(pass, 0o600);
    const repository = `rest:http://backup:urlsecret-5f1e@127.0.0.1:${port}/`;
    const dirs = { text: join(tmp.dir, 'text'), state: join(tmp.dir, 'state') };
    const result = await runCronvault(['run', '--path', tmp.dir, '--repository', repository, '--password-file', pass, '--retention', 'none',
      '--textfile-dir', dirs.text, '--state-dir', dirs.state, '--retry-attempts', '2', '--retry-min-delay', '10ms', '--retry-max-delay', '10ms', '--verbose']);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /repository server unreachable/);
    assert.match(result.stderr, /backup:\*\*\*@127\.0\.0\.1/, 'restic\'s stderr is shown, masked');
    const everything = `${result.stdout}${result.stderr}${await readTree(dirs.text)}${await readTree(dirs.state)}`;
    assert.ok(!everything.includes('urlsecret-5f1e'), 'URL password nowhere');
    assert.ok(!everything.includes('repo-password-91c2'), 'repository password nowhere');
  });

  it('masks credentials in check output', async () => {
    const config = join(tmp.dir, 'config.yml');
    const pass = join(tmp.dir, 'p');
    await writeFile(config, `state_dir: ${join(tmp.dir, 'cs')}\nmetrics: { textfile_dir: ${join(tmp.dir, 'ct')} }\ndefaults:\n  repository: "rest:http://u:urlsecret-77aa@127.0.0.1:${await freePort()}/"\n  password_file: ${pass}\n  retention: none\njobs:\n  a: { path: /etc }\n`);
    const result = await runCronvault(['check', '--config', config]);
    assert.equal(result.exitCode, 1);
    assert.ok(!`${result.stdout}${result.stderr}`.includes('urlsecret-77aa'), result.stdout);
    assert.match(result.stdout, /u:\*\*\*@127\.0\.0\.1/);
  });
});
