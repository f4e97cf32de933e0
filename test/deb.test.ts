// The .deb: built reproducibly by scripts/build-deb.sh, lintian-clean, and really installed on
// this machine with dpkg, then removed and purged as Debian policy says. It touches /usr/bin,
// /etc and /var/lib, so it runs only as root and only when no cronvault is there already; the
// package is purged afterwards whatever happens. The last test installs it with the Ansible role.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { makeTempDir, projectRoot } from './support/cli.ts';

const VERSION = (JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
const DEB_NAME = `cronvault_${VERSION}_all.deb`;

const packageStatus = async (): Promise<string> => {
  const result = await execa('dpkg-query', ['-W', '-f=${Status}', 'cronvault'], { reject: false });
  // A package dpkg has forgotten prints nothing, or "unknown ok not-installed".
  return result.exitCode === 0 && !String(result.stdout).endsWith('not-installed')
    ? String(result.stdout)
    : 'not-installed';
};

/** Why this machine must not be touched, if it must not. */
const skipReason = async (): Promise<string | false> => {
  if (process.getuid?.() !== 0) return 'installing a .deb needs root';
  if (!existsSync('/usr/bin/dpkg-deb')) return 'dpkg-deb is not installed (Debian only)';
  if ((await packageStatus()) !== 'not-installed')
    return 'a cronvault package is already on this machine; not touching it';
  for (const path of ['/usr/bin/cronvault', '/etc/cronvault', '/var/lib/cronvault']) {
    if (existsSync(path)) return `${path} exists already (an install by hand); not touching it`;
  }
  return false;
};

const sha256 = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

const build = async (outDir: string): Promise<string> => {
  const result = await execa('bash', [join(projectRoot, 'scripts', 'build-deb.sh'), outDir], {
    env: { SOURCE_DATE_EPOCH: '1790000000' },
  });
  assert.match(String(result.stdout), new RegExp(`built .*${DEB_NAME.replace(/[.]/g, '\\.')}`));
  return join(outDir, DEB_NAME);
};

describe('the .deb package', async () => {
  const skip = await skipReason();
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let deb: string;

  before(async () => {
    tmp = await makeTempDir();
    if (existsSync('/usr/bin/dpkg-deb')) deb = await build(join(tmp.dir, 'a'));
  });
  after(async () => {
    // Only a package this test installed is purged: skipReason made sure none was there before.
    if (!skip && (await packageStatus()) !== 'not-installed')
      await execa('dpkg', ['-P', 'cronvault'], { reject: false });
    await tmp.cleanup();
  });

  it('builds byte for byte the same twice (SOURCE_DATE_EPOCH, root:root owners)', {
    skip: !existsSync('/usr/bin/dpkg-deb') && 'dpkg-deb is not installed',
  }, async () => {
    const again = await build(join(tmp.dir, 'b'));
    assert.equal(await sha256(again), await sha256(deb));
    const listing = String((await execa('dpkg-deb', ['--contents', deb])).stdout);
    for (const line of listing.trim().split('\n')) assert.match(line, /^\S+ root\/root /, line);
    assert.match(listing, /^-rwxr-xr-x root\/root .* \.\/usr\/bin\/cronvault$/m);
    assert.match(listing, /\.\/usr\/share\/man\/man1\/cronvault\.1\.gz$/m);
    assert.match(listing, /\.\/usr\/share\/doc\/cronvault\/copyright$/m);
    assert.match(listing, /\.\/usr\/share\/doc\/cronvault\/changelog\.gz$/m);
  });

  it('declares its dependencies, its conffile and a DEP-5 copyright file', {
    skip: !existsSync('/usr/bin/dpkg-deb') && 'dpkg-deb is not installed',
  }, async () => {
    const field = async (name: string): Promise<string> =>
      String((await execa('dpkg-deb', ['--field', deb, name])).stdout).trim();
    assert.equal(await field('Package'), 'cronvault');
    assert.equal(await field('Version'), VERSION);
    assert.equal(await field('Architecture'), 'all');
    assert.equal(await field('Depends'), 'nodejs (>= 18.19)');
    assert.equal(await field('Recommends'), 'restic, prometheus-node-exporter');
    const control = join(tmp.dir, 'control');
    await execa('dpkg-deb', ['--control', deb, control]);
    assert.equal((await readFile(join(control, 'conffiles'), 'utf8')).trim(), '/etc/cronvault/config.yml');
    const copyright = await readFile(join(projectRoot, 'deploy', 'debian', 'copyright'), 'utf8');
    assert.match(copyright, /^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/$/m);
  });

  it('lintian finds no error and no warning in it', {
    skip: !existsSync('/usr/bin/lintian') && 'lintian is not installed',
  }, async () => {
    const result = await execa('lintian', ['--fail-on', 'error,warning', deb], { reject: false });
    const tags = String(result.stdout)
      .split('\n')
      .filter((line) => /^[EW]: /.test(line));
    assert.deepEqual(tags, []);
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
  });

  it('the example config is only comments, and uncommented it is a config cronvault accepts', async () => {
    const text = await readFile(join(projectRoot, 'deploy', 'debian', 'config.yml'), 'utf8');
    for (const line of text.trimEnd().split('\n')) assert.match(line, /^#/, `not a comment: ${line}`);
    const uncommented = join(tmp.dir, 'uncommented.yml');
    // The example starts at "# state_dir:"; above it is prose.
    const example = text.slice(text.indexOf('# state_dir:'));
    await writeFile(
      uncommented,
      example
        .split('\n')
        .map((line) => line.replace(/^# ?/, ''))
        .join('\n'),
    );
    const { parseConfig } = await import('../src/config.ts');
    const config = parseConfig(await readFile(uncommented, 'utf8'), uncommented);
    assert.deepEqual([...config.jobs.keys()], ['etc', 'postgres']);
    assert.equal(config.jobs.get('etc')!.schedule, '30 2 * * *');
  });

  it('installs with dpkg -i, runs from /usr/bin, and dpkg -r keeps the conffile while dpkg -P removes it', {
    skip,
  }, async () => {
    const install = await execa('dpkg', ['-i', deb], { reject: false });
    assert.equal(install.exitCode, 0, `${install.stdout}\n${install.stderr}`);
    assert.equal(await packageStatus(), 'install ok installed');

    const version = await execa('/usr/bin/cronvault', ['--version'], { reject: false });
    assert.equal(version.exitCode, 0, version.stderr);
    assert.equal(String(version.stdout).trim(), VERSION);
    assert.equal((await stat('/var/lib/cronvault')).mode & 0o777, 0o700, 'state dir private to root');
    assert.ok((await stat('/etc/cronvault/config.yml')).isFile());
    const man = await execa('man', ['-w', 'cronvault'], { reject: false });
    assert.equal(String(man.stdout).trim(), '/usr/share/man/man1/cronvault.1.gz');
    // The installed, all-comments config: cronvault says what is missing instead of doing anything.
    const check = await execa('/usr/bin/cronvault', ['check'], { reject: false });
    assert.equal(check.exitCode, 2);
    assert.match(String(check.stderr), /\/etc\/cronvault\/config\.yml/);

    // An operator's edit, which remove must keep and purge must not.
    await writeFile('/etc/cronvault/config.yml', `${await readFile('/etc/cronvault/config.yml', 'utf8')}# edited\n`);
    const remove = await execa('dpkg', ['-r', 'cronvault'], { reject: false });
    assert.equal(remove.exitCode, 0, remove.stderr);
    assert.equal(await packageStatus(), 'deinstall ok config-files');
    assert.ok(!existsSync('/usr/bin/cronvault'), 'the program is gone');
    assert.match(await readFile('/etc/cronvault/config.yml', 'utf8'), /# edited\n$/, 'dpkg -r keeps the conffile');

    const purge = await execa('dpkg', ['-P', 'cronvault'], { reject: false });
    assert.equal(purge.exitCode, 0, purge.stderr);
    assert.equal(await packageStatus(), 'not-installed');
    assert.ok(!existsSync('/etc/cronvault/config.yml'), 'dpkg -P removes the conffile');
    assert.ok(!existsSync('/etc/cronvault'), 'and its directory');
    assert.ok(!existsSync('/var/lib/cronvault'), 'and the state postinst created');
  });

  it('the Ansible role installs it with backup_install_method: deb and runs the jobs from /usr/bin/cronvault', {
    skip,
    timeout: 300_000,
  }, async () => {
    const dir = join(tmp.dir, 'role');
    const cronFile = `cronvault-debtest-${process.pid}`;
    await mkdir(join(dir, 'data'), { recursive: true });
    await writeFile(join(dir, 'data', 'a.txt'), 'a\n');
    await writeFile(join(dir, 'node-exporter'), 'ARGS=""\n');
    const vars = {
      backup_jobs: [{ name: 'files', path: join(dir, 'data') }],
      backup_repository: join(dir, 'repo'),
      backup_password: `deb-test-${process.pid}-password`,
      backup_config_dir: join(dir, 'etc'),
      backup_config_file: join(dir, 'etc', 'config.yml'),
      backup_password_file: join(dir, 'etc', 'repo.pass'),
      backup_state_dir: join(dir, 'state'),
      backup_textfile_dir: join(dir, 'text'),
      backup_lib_dir: join(dir, 'lib'),
      backup_bin_dir: join(dir, 'bin'),
      backup_cron_file: cronFile,
      backup_node_exporter_defaults_file: join(dir, 'node-exporter'),
      backup_install_method: 'deb',
      backup_deb_source: deb,
    };
    await writeFile(join(dir, 'vars.json'), JSON.stringify(vars), { mode: 0o600 });
    try {
      const apply = await execa(
        'ansible-playbook',
        [
          '-i',
          'localhost,',
          '-c',
          'local',
          '-e',
          `@${join(dir, 'vars.json')}`,
          join(projectRoot, 'test', 'fixtures', 'ansible', 'apply.yml'),
        ],
        {
          reject: false,
          all: true,
          stdin: 'ignore',
          env: {
            ANSIBLE_ROLES_PATH: join(projectRoot, 'ansible', 'roles'),
            ANSIBLE_NOCOLOR: '1',
            ANSIBLE_RETRY_FILES_ENABLED: 'false',
            ANSIBLE_LOCALHOST_WARNING: 'false',
          },
        },
      );
      assert.equal(apply.exitCode, 0, String(apply.all));
      assert.equal(await packageStatus(), 'install ok installed');
      assert.equal(
        await realpath(join(dir, 'bin', 'cronvault')),
        '/usr/bin/cronvault',
        'backup_bin_dir links to the packaged binary',
      );
      assert.ok(!existsSync(join(dir, 'lib', 'cronvault.mjs')), 'the bundle is not copied as well');
      assert.match(
        await readFile(join('/etc/cron.d', cronFile), 'utf8'),
        new RegExp(` root ${join(dir, 'bin')}/cronvault run files --quiet -c `),
      );
      const run = await execa(
        join(dir, 'bin', 'cronvault'),
        ['run', 'files', '--quiet', '-c', join(dir, 'etc', 'config.yml')],
        { reject: false },
      );
      assert.equal(run.exitCode, 0, String(run.stderr));
    } finally {
      await rm(join('/etc/cron.d', cronFile), { force: true });
      await rm(join('/var/cache/apt/archives', DEB_NAME), { force: true });
      await execa('dpkg', ['-P', 'cronvault'], { reject: false });
    }
  });
});
