// `cronvault verify` of duplicati jobs, against the fake duplicati-cli's `test` (it follows
// Duplicati's CLI contract, see docs/engines.md): no errors passes with the files examined,
// errors found (exit 3) fails naming the damaged remote volume, an empty destination (exit 100,
// "No files examined") fails at once, any other exit 100 is retried, and no secret is on argv.

import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { metricValue } from './support/restic.ts';

const fakeBin = join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli');
const PASSPHRASE = 'duplicati-verify-passphrase-91c2';
const URL_PASSWORD = 'url-secret-55e1';

describe('cronvault verify with duplicati-cli test', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let passwordFile: string;
  before(async () => {
    tmp = await makeTempDir('cronvault-verify-dup-');
    passwordFile = join(tmp.dir, 'dup.pass');
    await writeFile(passwordFile, `${PASSPHRASE}\n`);
    await chmod(passwordFile, 0o600);
  });
  after(async () => tmp.cleanup());

  /** One duplicati job `photos` in its own directory; `outcomes` scripts the fake's test attempts. */
  const verify = async (name: string, outcomes: string, verifyKey = 'verify: { sample: 3 }') => {
    const dir = join(tmp.dir, name);
    const fake = join(dir, 'fake');
    await mkdir(fake, { recursive: true });
    const config = join(dir, 'config.yml');
    const lines = [
      `state_dir: ${join(dir, 'state')}`,
      `metrics: { textfile_dir: ${join(dir, 'text')} }`,
      'jobs:',
      '  photos:',
      '    engine: duplicati',
      `    path: ${dir}`,
      `    repository: "ftp://backup:${URL_PASSWORD}@nas.example/photos?auth-password=${URL_PASSWORD}"`,
      `    password_file: ${passwordFile}`,
      `    binary: ${fakeBin}`,
      '    retention: none',
      '    retry: { attempts: 3, min_delay: 10ms, max_delay: 20ms }',
      `    ${verifyKey}`,
    ];
    await writeFile(config, `${lines.join('\n')}\n`);
    const result = await runCronvault(['verify', 'photos', '-c', config, '--json'], {
      env: { FAKE_DUPLICATI_STATE: fake, FAKE_DUPLICATI_TEST: outcomes },
    });
    const calls = (await readFile(join(fake, 'calls.jsonl'), 'utf8').catch(() => ''))
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { args: string[]; passphraseSet: boolean; authPasswordSet: boolean });
    const prom = await readFile(join(dir, 'text', 'cronvault-verify_photos.prom'), 'utf8').catch(() => '');
    return { ...result, calls, prom, config };
  };

  it('passes a healthy destination with the files duplicati-cli examined, no secret on argv', async () => {
    const result = await verify('healthy', 'ok');
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(metricValue(result.prom, 'backup_last_verify_success'), 1);
    assert.equal(metricValue(result.prom, 'backup_last_verify_files_checked'), 3);
    assert.match(result.stderr, /duplicati-cli test \(3 sample volumes\): examined 3 files and found no errors/);
    const report = JSON.parse(result.stdout) as { jobs: { ok: boolean; drill: { filesChecked: number } }[] };
    assert.equal(report.jobs[0]!.drill.filesChecked, 3);
    assert.equal(result.calls.length, 1);
    const [call] = result.calls;
    assert.deepEqual(call!.args.slice(0, 3), ['test', 'ftp://nas.example/photos', '3']);
    assert.ok(call!.args.includes('--disable-module=console-password-input'));
    assert.ok(call!.args.some((a) => a.startsWith('--dbpath=')));
    assert.ok(call!.passphraseSet && call!.authPasswordSet, 'the secrets came by environment');
    const argv = JSON.stringify(call!.args);
    assert.ok(!argv.includes(PASSPHRASE) && !argv.includes(URL_PASSWORD), argv);
    assert.ok(!result.stderr.includes(URL_PASSWORD) && !result.prom.includes(URL_PASSWORD));
  });

  it('fails with the damaged remote volume named when duplicati-cli test finds errors (exit 3)', async () => {
    const result = await verify('damaged', 'errors', 'verify: { read_data: 100% }');
    assert.equal(result.exitCode, 1, result.stderr);
    assert.equal(metricValue(result.prom, 'backup_last_verify_success'), 0);
    assert.equal(result.calls[0]!.args[2], 'all', 'read_data: 100% tests every volume');
    assert.match(result.stderr, /found errors \(exit 3\): duplicati-20261125T220000Z\.dblock\.zip\.aes: 2 errors/);
    assert.equal(result.calls.length, 1, 'damage is not retried');
  });

  it('fails an empty destination at once, and retries any other exit 100', async () => {
    const empty = await verify('empty', 'empty');
    assert.equal(empty.exitCode, 1, empty.stderr);
    assert.equal(metricValue(empty.prom, 'backup_last_verify_success'), 0);
    assert.match(empty.stderr, /no files examined, the remote destination is empty/);
    assert.equal(empty.calls.length, 1, 'an empty destination is not retried');
    const flaky = await verify('flaky', 'exception,ok');
    assert.equal(flaky.exitCode, 0, flaky.stderr);
    assert.equal(flaky.calls.length, 2);
    assert.match(flaky.stderr, /check attempt 2\/3 .*connection refused/);
  });

  it('gives a duplicati job a verify cron line, and a read_data share inherited from defaults only a warning', async () => {
    const { config } = await verify('cron', 'ok');
    const cron = await runCronvault(['cron', '-c', config]);
    assert.equal(cron.exitCode, 0, cron.stderr);
    assert.match(cron.stdout, / root \S+ verify photos --config \S+ --quiet$/m);
    await writeFile(
      config,
      (await readFile(config, 'utf8'))
        .replace('jobs:', 'defaults: { verify: { read_data: 5% } }\njobs:')
        .replace(/ {4}verify: .*\n/, ''),
    );
    const fake = join(tmp.dir, 'cron', 'fake');
    const inherited = await runCronvault(['verify', 'photos', '-c', config], {
      env: { FAKE_DUPLICATI_STATE: fake, FAKE_DUPLICATI_TEST: 'ok' },
    });
    assert.equal(inherited.exitCode, 0, inherited.stderr);
    assert.match(inherited.stderr, /verify\.read_data: duplicati-cli test reads whole remote volumes.*tests 20 sample/);
    const calls = (await readFile(join(fake, 'calls.jsonl'), 'utf8')).trim().split('\n');
    assert.equal((JSON.parse(calls.at(-1)!) as { args: string[] }).args[2], '20');
  });

  it('refuses a read_data share for a duplicati job, naming the key', async () => {
    const result = await verify('share', 'ok', 'verify: { read_data: 5% }');
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /jobs\.photos: verify\.read_data: duplicati-cli test reads whole remote volumes/);
    assert.equal(result.calls.length, 0);
  });
});
