// The duplicati backend against a test double that follows docs/engines.md (Duplicati cannot be
// installed here): exit codes scripted per attempt, argv and environment recorded.

import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { metricValue, readJobProm } from './support/restic.ts';

const fakeBin = join(projectRoot, 'test', 'fixtures', 'bin', 'duplicati-cli');
const PASSPHRASE = 'duplicati-passphrase-7f3a';

interface Call {
  args: string[];
  passphraseSet: boolean;
  passphraseLength: number;
  authUsername: string | null;
  authPasswordSet: boolean;
  parameterOptions: string[];
  parametersFileMode: string | null;
}

describe('cronvault run with duplicati-cli', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let passwordFile: string;
  before(async () => {
    tmp = await makeTempDir();
    passwordFile = join(tmp.dir, 'dup.pass');
    await writeFile(passwordFile, `${PASSPHRASE}\n`);
    await chmod(passwordFile, 0o600);
    await mkdir(join(tmp.dir, 'photos'));
  });
  after(async () => tmp.cleanup());

  const run = async (codes: string, extra: string[] = [], repository = 'file:///mnt/usb/photos') => {
    const fake = join(tmp.dir, `fake-${codes.replace(/,/g, '_')}`);
    await rm(fake, { recursive: true, force: true });
    await mkdir(fake);
    const text = join(tmp.dir, `text-${codes.replace(/,/g, '_')}`);
    const state = join(tmp.dir, `state-${codes.replace(/,/g, '_')}`);
    const result = await runCronvault(
      [
        'run',
        '--path',
        join(tmp.dir, 'photos'),
        '--engine',
        'duplicati',
        '--repository',
        repository,
        '--password-file',
        passwordFile,
        '--retention',
        '1W:1D,4W:1W,12M:1M',
        '--textfile-dir',
        text,
        '--state-dir',
        state,
        '--binary',
        fakeBin,
        '--retry-min-delay',
        '10ms',
        '--retry-max-delay',
        '50ms',
        '--retry-attempts',
        '4',
        ...extra,
      ],
      { env: { FAKE_DUPLICATI_CODES: codes, FAKE_DUPLICATI_STATE: fake } },
    );
    const calls = (await readFile(join(fake, 'calls.jsonl'), 'utf8').catch(() => ''))
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Call);
    const prom = await readJobProm(text);
    return { ...result, calls, prom };
  };

  it('succeeds on the third attempt after two exit-100 errors', async () => {
    const r = await run('100,100,0');
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.calls.length, 3);
    assert.equal(metricValue(r.prom, 'backup_last_run_attempts'), 3);
    assert.equal(metricValue(r.prom, 'backup_last_run_success'), 1);
    assert.equal(metricValue(r.prom, 'backup_last_exit_code'), 0);
    assert.equal(metricValue(r.prom, 'backup_last_files_new'), 3);
    assert.equal(metricValue(r.prom, 'backup_last_files_changed'), 1);
    assert.equal(metricValue(r.prom, 'backup_last_added_bytes'), 1536);
    assert.match(r.stderr, /attempt 2\/4 in \d/);
  });

  it('treats exit 1 (nothing changed) as success at once', async () => {
    const r = await run('1');
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.calls.length, 1);
    assert.equal(metricValue(r.prom, 'backup_last_run_success'), 1);
    assert.equal(metricValue(r.prom, 'backup_last_run_warnings'), 0);
    assert.equal(metricValue(r.prom, 'backup_last_exit_code'), 1);
  });

  it('treats exit 2 as success with warnings at once', async () => {
    const r = await run('2');
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.calls.length, 1);
    assert.equal(metricValue(r.prom, 'backup_last_run_success'), 1);
    assert.equal(metricValue(r.prom, 'backup_last_run_warnings'), 1);
  });

  it('gives up at once on exit 200 (invalid command line)', async () => {
    const r = await run('200');
    assert.equal(r.exitCode, 1);
    assert.equal(r.calls.length, 1);
    assert.equal(metricValue(r.prom, 'backup_last_run_success'), 0);
    assert.equal(metricValue(r.prom, 'backup_last_exit_code'), 200);
    assert.match(r.stderr, /invalid command line; not retrying/);
  });

  it('uses every attempt on repeated exit 50 (partial backup) and then fails', async () => {
    const r = await run('50');
    assert.equal(r.exitCode, 1);
    assert.equal(r.calls.length, 4);
    assert.equal(metricValue(r.prom, 'backup_last_run_attempts'), 4);
    assert.equal(metricValue(r.prom, 'backup_last_exit_code'), 50);
    assert.equal(metricValue(r.prom, 'backup_last_success_timestamp_seconds'), 0);
  });

  it('passes the documented argv and the passphrase only through PASSPHRASE', async () => {
    const r = await run('0', ['--exclude', '*.tmp']);
    const photos = join(tmp.dir, 'photos');
    const args = r.calls[0]!.args;
    assert.deepEqual(args.slice(0, 3), ['backup', 'file:///mnt/usb/photos', photos]);
    assert.ok(args.includes(`--backup-name=${photos.slice(1).replace(/[^A-Za-z0-9_.-]+/g, '_')}`));
    const dbpath = args.find((a) => a.startsWith('--dbpath='))!;
    assert.match(dbpath, new RegExp(`^--dbpath=${join(tmp.dir, 'state-0', 'duplicati')}/[A-Z2-7_]+\\.sqlite$`));
    // The database name is reversible: base32 of the path, "=" written as "_".
    const name = dbpath.split('/').pop()!.replace('.sqlite', '').replace(/_/g, '=');
    assert.equal(base32Decode(name), photos);
    for (const flag of [
      '--encryption-module=aes',
      '--compression-module=zip',
      '--dblock-size=50mb',
      '--retention-policy=1W:1D,4W:1W,12M:1M',
      '--disable-module=console-password-input',
      '--exclude=*.tmp',
    ]) {
      assert.ok(args.includes(flag), `argv has ${flag}: ${args.join(' ')}`);
    }
    assert.equal(r.calls[0]!.passphraseSet, true);
    assert.equal(r.calls[0]!.passphraseLength, PASSPHRASE.length);
    assert.ok(!args.some((a) => a.includes(PASSPHRASE)), 'passphrase never on argv');
    assert.ok(!r.stderr.includes(PASSPHRASE) && !r.stdout.includes(PASSPHRASE) && !r.prom.includes(PASSPHRASE));
  });

  it('keeps target credentials off argv: user and password in AUTH_*, secret options in a 0600 parameters file', async () => {
    const r = await run(
      '0',
      [],
      'ftp://backup:ftp%40S3cret@nas.example/photos?auth-password=qs3cret&authid=tok3n&passive=true',
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const call = r.calls[0]!;
    assert.equal(call.args[1], 'ftp://nas.example/photos?passive=true');
    assert.equal(call.authUsername, 'backup');
    assert.equal(call.authPasswordSet, true);
    assert.deepEqual(call.parameterOptions, ['--auth-password', '--authid']);
    assert.equal(call.parametersFileMode, '600');
    for (const secret of ['S3cret', 'qs3cret', 'tok3n']) {
      assert.ok(!call.args.some((a) => a.includes(secret)), `${secret} not on argv`);
      assert.ok(!r.stderr.includes(secret) && !r.prom.includes(secret), `${secret} not logged`);
    }
    assert.deepEqual(
      (await readdir(join(tmp.dir, 'state-0', 'duplicati'))).filter((f) => f.endsWith('.params')),
      [],
      'parameters file removed after the run',
    );
  });
});

const base32Decode = (text: string): string => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const bytes: number[] = [];
  for (const char of text.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(bytes).toString('utf8');
};
