// `cronvault restore`, `snapshots` and `init` against the real Debian restic.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, runCronvault, writeTestConfig } from './support/cli.ts';
import { createRepository, listSnapshots, restic, type TestRepository } from './support/restic.ts';

/** Every file below `dir` by relative path, with its bytes (directories as null). */
const readTree = async (dir: string): Promise<Map<string, Buffer | null>> => {
  const tree = new Map<string, Buffer | null>();
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const full = join(current, entry.name);
      if (entry.isDirectory()) {
        tree.set(relative(dir, full), null);
        await walk(full);
      } else tree.set(relative(dir, full), await readFile(full));
    }
  };
  await walk(dir);
  return tree;
};

const assertSameTree = (actual: Map<string, Buffer | null>, expected: Map<string, Buffer | null>): void => {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), 'same files and directories');
  for (const [path, content] of expected) {
    if (content === null) assert.equal(actual.get(path), null, `${path} is a directory`);
    else assert.ok(content.equals(actual.get(path)!), `${path} has the same bytes`);
  }
};

describe('cronvault restore, snapshots and init with real restic', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let repo: TestRepository;
  let data: string;
  let config: string;

  before(async () => {
    tmp = await makeTempDir();
    repo = await createRepository(tmp.dir);
    data = join(tmp.dir, 'data');
    config = await writeTestConfig(tmp.dir, [
      `defaults: { repository: ${repo.repository}, password_file: ${repo.passwordFile}, retention: none }`,
      'jobs:',
      `  files: { path: ${data} }`,
      `  other: { path: ${data} }`,
      `  dump: { command: "printf 'line one\\nline two\\n'", stdin_filename: db.sql }`,
      `  fresh: { path: ${data}, repository: ${join(tmp.dir, 'fresh-repo')} }`,
    ]);
  });
  after(async () => tmp.cleanup());

  it('restores the first of two snapshots byte for byte into an empty directory', async () => {
    await mkdir(join(data, 'nested', 'deeper'), { recursive: true });
    await writeFile(join(data, 'a.txt'), 'first version\n');
    await writeFile(join(data, 'nested', 'random.bin'), randomBytes(300_000));
    await writeFile(join(data, 'nested', 'deeper', 'empty'), '');
    await writeFile(join(data, 'gone.txt'), 'deleted before the second backup\n');
    const firstState = await readTree(data);
    assert.equal((await runCronvault(['run', 'files', '-c', config])).exitCode, 0);

    await writeFile(join(data, 'a.txt'), 'second version, longer\n');
    await writeFile(join(data, 'nested', 'random.bin'), randomBytes(300_000));
    await rm(join(data, 'gone.txt'));
    await writeFile(join(data, 'new.txt'), 'added later\n');
    assert.equal((await runCronvault(['run', 'files', '-c', config])).exitCode, 0);

    const own = await listSnapshots(repo, '--tag', 'cronvault:files');
    assert.equal(own.length, 2);
    const target = join(tmp.dir, 'restore-first');
    await mkdir(target);
    const result = await runCronvault([
      'restore',
      'files',
      '-c',
      config,
      '--target',
      target,
      '--snapshot',
      own[0]!.short_id,
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, /restored snapshot/);
    assertSameTree(await readTree(join(target, data)), firstState);

    const latest = join(tmp.dir, 'restore-latest');
    assert.equal((await runCronvault(['restore', 'files', '-c', config, '--target', latest])).exitCode, 0);
    assertSameTree(await readTree(join(latest, data)), await readTree(data));
  });

  it('fails (exit 1) when --include matches nothing, instead of reporting an empty restore as done', async () => {
    const target = join(tmp.dir, 'restore-nothing');
    const result = await runCronvault([
      'restore',
      'files',
      '-c',
      config,
      '--target',
      target,
      '--include',
      '/no/such/file',
    ]);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /restored nothing into .*restore-nothing: --include \/no\/such\/file matched no file/);
    assert.doesNotMatch(result.stderr, /restored snapshot/);
  });

  it('refuses to restore over a non-empty directory: exit 2 and nothing written', async () => {
    const target = join(tmp.dir, 'occupied');
    await mkdir(target);
    await writeFile(join(target, 'keep.txt'), 'mine\n');
    const result = await runCronvault(['restore', 'files', '-c', config, '--target', target]);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /is not empty.*nothing was restored.*--force/);
    assert.deepEqual(await readdir(target), ['keep.txt']);
    assert.equal(await readFile(join(target, 'keep.txt'), 'utf8'), 'mine\n');

    const forced = await runCronvault(['restore', 'files', '-c', config, '--target', target, '--force']);
    assert.equal(forced.exitCode, 0, forced.stderr);
    assert.ok((await stat(join(target, data, 'a.txt'))).isFile());
  });

  it("refuses a snapshot that is not the job's own (exit 2)", async () => {
    assert.equal((await runCronvault(['run', 'other', '-c', config])).exitCode, 0);
    const foreign = (await listSnapshots(repo, '--tag', 'cronvault:other'))[0]!;
    const target = join(tmp.dir, 'foreign');
    const result = await runCronvault([
      'restore',
      'files',
      '-c',
      config,
      '--target',
      target,
      '--snapshot',
      foreign.short_id,
    ]);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /not one of job files's snapshots/);
  });

  it("writes a command job's dump to stdout with --to-stdout", async () => {
    assert.equal((await runCronvault(['run', 'dump', '-c', config])).exitCode, 0);
    const result = await runCronvault(['restore', 'dump', '-c', config, '--to-stdout']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout, 'line one\nline two');
  });

  it("lists only the job's own snapshots from this host", async () => {
    // Same tag but another host: must not show up.
    await restic(repo, ['backup', '--host', 'other-host', '--tag', 'cronvault:files', data]);
    const all = await listSnapshots(repo);
    const result = await runCronvault(['snapshots', 'files', '-c', config, '--json']);
    assert.equal(result.exitCode, 0, result.stderr);
    const listed = JSON.parse(result.stdout) as { id: string; hostname: string; tags: string[]; paths: string[] }[];
    const expected = all.filter((s) => s.tags?.includes('cronvault:files') && s.hostname !== 'other-host');
    assert.ok(
      all.some((s) => s.tags?.includes('cronvault:other')),
      'the repository holds another job',
    );
    assert.equal(listed.length, 2);
    assert.deepEqual(
      listed.map((s) => s.id),
      expected.map((s) => s.short_id),
    );
    for (const snapshot of listed) {
      assert.ok(snapshot.tags.includes('cronvault:files'));
      assert.notEqual(snapshot.hostname, 'other-host');
      assert.deepEqual(snapshot.paths, [data]);
    }
    const text = await runCronvault(['snapshots', 'files', '-c', config]);
    assert.match(text.stdout, /^ID\s+TIME\s+HOST\s+PATHS/);
    assert.match(text.stdout, /2 snapshots/);
  });

  it('init creates a missing repository, then reports that it already exists', async () => {
    const first = await runCronvault(['init', 'fresh', '-c', config]);
    assert.equal(first.exitCode, 0, first.stderr);
    assert.match(first.stderr, /created repository/);
    assert.ok((await stat(join(tmp.dir, 'fresh-repo', 'config'))).isFile());
    const second = await runCronvault(['init', 'fresh', '-c', config]);
    assert.equal(second.exitCode, 0, second.stderr);
    assert.match(second.stderr, /already exists/);
  });

  it('init refuses to guess when the password is wrong (exit 1)', async () => {
    const wrong = join(tmp.dir, 'wrong.yml');
    const pass = join(tmp.dir, 'wrong.pass');
    await writeFile(pass, 'nope\n', { mode: 0o600 });
    await writeFile(
      wrong,
      (await readFile(config, 'utf8')).replace(`password_file: ${repo.passwordFile}`, `password_file: ${pass}`),
    );
    const result = await runCronvault(['init', 'files', '-c', wrong]);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /wrong password/);
  });
});
