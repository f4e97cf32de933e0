// duplicati-cli adapter. Duplicati's exit codes are not POSIX (1 and 2 are successes), it
// prints no JSON, and it takes the passphrase from the PASSPHRASE environment variable.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { writeFileAtomic } from '../atomic-write.ts';
import type { JobConfig } from '../config.ts';
import { CronvaultError, EXIT } from '../errors.ts';
import { type ExitMeaning, unknownExitCode } from '../exit-meaning.ts';
import { redactText, SECRET_OPTION_NAME } from '../redact.ts';
import { toDuplicatiPolicy } from '../retention/index.ts';
import { dumpToFile } from './dump-file.ts';
import { duplicatiTestSamples } from './duplicati-samples.ts';
import { findExecutable, runEngine } from './engine-process.ts';
import type { AttemptOutcome, Backend, BackupStats, EngineContext, RepositoryCheck } from './types.ts';

const binaryOf = (job: JobConfig): string => job.binary ?? 'duplicati-cli';

/**
 * duplicati-cli's backup exit codes: the one table that classification, `describeExitCode`,
 * the alert rules' words and docs/engines.md follow (test/exit-codes.test.ts compares them).
 */
export const EXIT_CODES: Record<number, ExitMeaning & { kind: AttemptOutcome['kind'] }> = {
  0: { kind: 'success', meaning: 'success' },
  1: { kind: 'success', meaning: 'success, no files changed' },
  2: { kind: 'warning', meaning: 'success with warnings' },
  3: { kind: 'transient', meaning: 'finished with errors', alert: 'errors' },
  50: {
    kind: 'transient',
    meaning: 'partial backup: some files uploaded, did not finish',
    alert: 'backup only partly uploaded',
  },
  100: { kind: 'transient', meaning: 'error (connection, or an exception)', alert: 'fatal error' },
  200: { kind: 'permanent', meaning: 'invalid command line' },
};

/** RFC 4648 base32 of the path with "=" as "_", the seed's reversible database name. */
export const reversibleName = (path: string): string => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = Buffer.from(path, 'utf8');
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '_';
  return out;
};

const databasePath = (job: JobConfig): string =>
  join(job.stateDir, 'duplicati', `${reversibleName(job.path ?? job.name)}.sqlite`);

const readPassphrase = async (job: JobConfig): Promise<string> => {
  if (job.passwordFile) return (await readFile(job.passwordFile, 'utf8')).replace(/\r?\n$/, '');
  const result = await execa('/bin/sh', ['-c', job.passwordCommand!], { reject: false, env: job.env });
  if (result.exitCode !== 0)
    throw new CronvaultError('E_PASSWORD', EXIT.backupFailed, `password_command failed with exit ${result.exitCode}`);
  return String(result.stdout).replace(/\r?\n$/, '');
};

interface TargetSecrets {
  /** The target URL with credentials taken out: this is what goes on argv. */
  target: string;
  /** AUTH_USERNAME / AUTH_PASSWORD, which duplicati-cli reads when the URL has none. */
  env: Record<string, string>;
  /** `--option=value` lines for --parameters-file (secret query options). */
  options: string[];
}

/**
 * Takes credentials out of a Duplicati target URL so they never reach argv, where any user can
 * read them in /proc: user:password go to AUTH_USERNAME/AUTH_PASSWORD, secret query options to
 * a 0600 --parameters-file.
 */
const splitTargetSecrets = (url: string): TargetSecrets => {
  const env: Record<string, string> = {};
  const options: string[] = [];
  let target = url;
  const authority = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/]*?)@([^@/]*)(.*)$/s.exec(target);
  if (authority) {
    const [, scheme, userinfo, host, rest] = authority as unknown as [string, string, string, string, string];
    const colon = userinfo.indexOf(':');
    env.AUTH_USERNAME = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon));
    if (colon >= 0) env.AUTH_PASSWORD = decodeURIComponent(userinfo.slice(colon + 1));
    target = `${scheme}${host}${rest}`;
  }
  const question = target.indexOf('?');
  if (question >= 0) {
    const kept: string[] = [];
    for (const pair of target
      .slice(question + 1)
      .split('&')
      .filter(Boolean)) {
      const [name = '', value = ''] = pair.split(/=(.*)/s);
      if (SECRET_OPTION_NAME.test(name)) options.push(`--${decodeURIComponent(name)}=${decodeURIComponent(value)}`);
      else kept.push(pair);
    }
    target = target.slice(0, question) + (kept.length > 0 ? `?${kept.join('&')}` : '');
  }
  return { target, env, options };
};

const parametersFile = (job: JobConfig): string =>
  join(job.stateDir, 'duplicati', `${reversibleName(job.path ?? job.name)}.params`);

const duplicatiArgs = (
  job: JobConfig,
  secrets: TargetSecrets = splitTargetSecrets(job.repository),
  source = job.path ?? '<dump directory>',
): string[] => {
  const args = [
    'backup',
    secrets.target,
    source,
    `--backup-name=${job.name}`,
    `--dbpath=${databasePath(job)}`,
    '--encryption-module=aes',
    '--compression-module=zip',
    '--dblock-size=50mb',
  ];
  if (job.retention.kind !== 'none') args.push(`--retention-policy=${toDuplicatiPolicy(job.retention)}`);
  // Without this an unattended run can wait forever on a passphrase prompt.
  args.push('--disable-module=console-password-input');
  if (secrets.options.length > 0) args.push(`--parameters-file=${parametersFile(job)}`);
  for (const pattern of job.exclude) args.push(`--exclude=${pattern}`);
  args.push(...job.engineArgs);
  return args;
};

const SIZE_UNITS: Record<string, number> = {
  bytes: 1,
  byte: 1,
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** "1.23 MiB", "512 bytes", "1,5 KB" (localised decimal comma) → bytes. */
const parseSize = (text: string): number | undefined => {
  const match = /^([\d.,]+)\s*([A-Za-z]+)$/.exec(text.trim());
  if (!match) return undefined;
  const unit = SIZE_UNITS[match[2]!.toLowerCase()];
  const number = Number(match[1]!.replace(',', '.'));
  return unit === undefined || Number.isNaN(number) ? undefined : Math.round(number * unit);
};

/** Reads the summary lines duplicati-cli prints after a backup (plain or --full-result form). */
export const parseDuplicatiOutput = (lines: string[]): BackupStats => {
  const stats: BackupStats = {};
  for (const line of lines) {
    const match = /^\s*([A-Za-z ]+?)\s*:\s*(.+?)\s*$/.exec(line);
    if (!match) continue;
    const [, name, value] = match as unknown as [string, string, string];
    const key = name.replace(/\s+/g, '').toLowerCase();
    const count = Number(value);
    if ((key === 'filesadded' || key === 'addedfiles') && Number.isFinite(count)) stats.filesNew = count;
    else if ((key === 'fileschanged' || key === 'modifiedfiles') && Number.isFinite(count)) stats.filesChanged = count;
    else if (key === 'examinedfiles' && Number.isFinite(count)) stats.filesProcessed = count;
    else if (key === 'sizeofexaminedfiles') stats.bytesProcessed = Number.isFinite(count) ? count : parseSize(value);
    else if (key === 'dataupload' || key === 'datauploaded' || key === 'bytesuploaded')
      stats.bytesAdded = Number.isFinite(count) ? count : parseSize(value);
  }
  return stats;
};

const classify = (exitCode: number, output: string): AttemptOutcome => {
  const known = EXIT_CODES[exitCode];
  if (!known) return { kind: 'transient', exitCode, reason: unknownExitCode(exitCode) };
  // 100 covers connection errors (retry) and option errors such as a bad retention policy
  // (retrying cannot help).
  if (
    exitCode === 100 &&
    /(invalid|unsupported|unknown) (option|argument|value for)|not supported|failed to parse|cannot parse|retention.policy/i.test(
      output,
    )
  ) {
    return { kind: 'permanent', exitCode, reason: `${known.meaning}: the options are invalid` };
  }
  return { kind: known.kind, exitCode, reason: known.meaning };
};

const notSupported = (what: string) => async (): Promise<never> => {
  throw new CronvaultError(
    'E_UNSUPPORTED',
    EXIT.usage,
    `${what} is not supported for duplicati jobs yet; use duplicati-cli directly with --dbpath from \`cronvault status --json\``,
  );
};

/**
 * Runs duplicati-cli with the job's secrets kept off argv: the passphrase in PASSPHRASE, URL
 * credentials in AUTH_*, secret query options in a 0600 --parameters-file removed afterwards.
 * `argsFor` gets the target URL without its credentials.
 */
const runWithSecrets = async (
  job: JobConfig,
  context: EngineContext,
  argsFor: (secrets: TargetSecrets) => string[],
): Promise<{ run: Awaited<ReturnType<typeof runEngine>>; lines: string[] } | { passwordError: string }> => {
  let passphrase: string;
  try {
    passphrase = await readPassphrase(job);
  } catch (error) {
    return { passwordError: (error as Error).message };
  }
  const secrets = splitTargetSecrets(job.repository);
  if (secrets.options.length > 0) {
    await mkdir(dirname(parametersFile(job)), { recursive: true });
    await writeFileAtomic(parametersFile(job), `${secrets.options.join('\n')}\n`, 0o600);
  }
  const lines: string[] = [];
  const run = await runEngine({
    binary: binaryOf(job),
    args: argsFor(secrets),
    env: { ...job.env, ...secrets.env, PASSPHRASE: passphrase },
    signal: context.signal,
    onStdoutLine: (line) => {
      context.onOutput?.(line, 'stdout');
      if (lines.length < 2000) lines.push(line);
    },
    onStderrLine: (line) => context.onOutput?.(line, 'stderr'),
  }).finally(() => (secrets.options.length > 0 ? rm(parametersFile(job), { force: true }) : undefined));
  return { run, lines };
};

/** One `duplicati-cli backup` of `source` (the job's path, or the directory holding its dump). */
const backupSource = async (job: JobConfig, context: EngineContext, source: string): Promise<AttemptOutcome> => {
  const result = await runWithSecrets(job, context, (secrets) => duplicatiArgs(job, secrets, source));
  if ('passwordError' in result) return { kind: 'permanent', exitCode: -1, reason: result.passwordError };
  const { run, lines } = result;
  if (run.spawnError) return { kind: 'permanent', exitCode: -1, reason: run.spawnError };
  if (run.killedBy)
    return { kind: 'transient', exitCode: run.exitCode, reason: `duplicati-cli was killed by ${run.killedBy}` };
  const outcome = classify(run.exitCode, `${lines.join('\n')}\n${run.stderrTail}`);
  return outcome.kind === 'success' || outcome.kind === 'warning'
    ? { ...outcome, stats: parseDuplicatiOutput(lines) }
    : outcome;
};

/** `duplicati-cli test`'s own line for an empty destination (it exits 100, as for any exception). */
const NOTHING_EXAMINED = /No files examined/i;

/**
 * `duplicati-cli test <target> <samples>`: downloads sample remote volumes and compares them
 * with the local database. It is both the integrity check and the drill: files_checked is the
 * number it examined. 0 no errors, 3 errors (a "<remote file>: N errors" line per damaged
 * volume), 100 an empty destination or any exception (transient), 200 a bad command line.
 */
const testRepository = async (job: JobConfig, context: EngineContext): Promise<RepositoryCheck> => {
  const samples = String(duplicatiTestSamples(job.verify));
  const result = await runWithSecrets(job, context, (secrets) => {
    const args = ['test', secrets.target, samples, `--dbpath=${databasePath(job)}`];
    args.push('--disable-module=console-password-input');
    if (secrets.options.length > 0) args.push(`--parameters-file=${parametersFile(job)}`);
    return [...args, ...job.engineArgs];
  });
  const what = `duplicati-cli test (${samples === 'all' ? 'all volumes' : `${samples} sample volumes`})`;
  if ('passwordError' in result) return { ok: false, reason: `${what}: ${result.passwordError}` };
  const { run, lines } = result;
  if (run.spawnError) return { ok: false, reason: `${what}: ${run.spawnError}` };
  if (run.killedBy) return { ok: false, reason: `${what}: duplicati-cli was killed by ${run.killedBy}` };
  const output = redactText(`${lines.join('\n')}\n${run.stderrTail}`);
  if (run.exitCode === 0) {
    const examined = /Examined (\d+) files/i.exec(output);
    const filesChecked = examined ? Number(examined[1]) : 0;
    return { ok: true, reason: `${what}: examined ${filesChecked} files and found no errors`, filesChecked };
  }
  if (run.exitCode === 3) {
    const damaged = lines.filter((line) => /^\S.*: \d+ errors?\s*$/.test(line)).map((l) => redactText(l.trim()));
    return {
      ok: false,
      reason: `${what} found errors (exit 3): ${(damaged.length ? damaged : ['no remote file named']).slice(0, 5).join('; ').slice(0, 800)}`,
      filesChecked: 0,
    };
  }
  if (run.exitCode === 100 && NOTHING_EXAMINED.test(output))
    return { ok: false, reason: `${what}: no files examined, the remote destination is empty`, filesChecked: 0 };
  const last = run.stderrTail.trim().split('\n').at(-1)?.trim();
  const detail = last ? `: ${redactText(last).slice(0, 300)}` : '';
  if (run.exitCode === 100) return { ok: false, transient: true, reason: `${what}: error (exit 100)${detail}` };
  return {
    ok: false,
    reason: `${what}: ${EXIT_CODES[run.exitCode]?.meaning ?? unknownExitCode(run.exitCode)}${detail}`,
  };
};

/**
 * A database preset: duplicati-cli cannot read a stream, so the dump goes to a private file
 * first (backends/dump-file.ts), which is backed up and then removed, also after SIGTERM.
 */
const backupDump = async (job: JobConfig, context: EngineContext): Promise<AttemptOutcome> => {
  const { dir, dump, remove } = await dumpToFile(job, context.signal);
  try {
    const produced = { bytes: dump.bytes, exitCode: dump.exitCode };
    if (dump.exitCode !== 0 || dump.bytes === 0 || dump.rejected) {
      const what =
        dump.exitCode !== 0
          ? `failed with exit ${dump.exitCode}`
          : dump.bytes === 0
            ? 'wrote nothing'
            : `wrote ${dump.bytes} bytes that are not a dump: ${dump.rejected}`;
      return {
        kind: 'transient',
        exitCode: -1,
        reason: `command "${job.command}" ${what}${dump.detail ? `: ${redactText(dump.detail).slice(0, 200)}` : ''}; nothing was backed up`,
        dump: produced,
      };
    }
    return { ...(await backupSource(job, context, dir)), dump: produced };
  } finally {
    await remove();
  }
};

export const duplicati = {
  engine: 'duplicati',
  // duplicati-cli has --dry-run, but the fake it is tested against does not, and a dry run that
  // may still create or update the local --dbpath database is not one cronvault can promise.
  dryRunSupported: false,
  backupCommand: (job) => [binaryOf(job), ...duplicatiArgs(job)],
  // Its local database lives in state_dir (--dbpath); only a file:// target is written besides.
  writablePaths(job) {
    const match = /^file:\/\/(\/[^?]*)/.exec(job.repository);
    return match ? [decodeURIComponent(match[1]!)] : job.repository.startsWith('/') ? [job.repository] : [];
  },
  async ensureInstalled(job) {
    // duplicati-cli has no cheap version query, and running it starts .NET: only check that
    // the executable is there.
    const found = await findExecutable(binaryOf(job));
    if (!found)
      throw new CronvaultError(
        'E_ENGINE_MISSING',
        EXIT.backupFailed,
        `${binaryOf(job)} is not installed or not on PATH (install Duplicati's package, or set "binary")`,
      );
    return {};
  },
  async ensureRepository() {
    // Duplicati creates its target on the first backup.
  },
  async backup(job, context: EngineContext) {
    if (context.dryRun)
      throw new CronvaultError('E_UNSUPPORTED', EXIT.usage, 'duplicati jobs have no dry run in cronvault');
    if (job.preset) return backupDump(job, context);
    return backupSource(job, context, job.path!);
  },
  async applyRetention() {
    // duplicati-cli applies --retention-policy itself during the backup.
    return { kind: 'skipped', exitCode: 0, removed: 0, reason: 'applied by duplicati-cli during the backup' };
  },
  snapshots: notSupported('listing snapshots'),
  restore: notSupported('restore'),
  describeExitCode: (code) => EXIT_CODES[code]?.meaning ?? unknownExitCode(code),
  async probeRepository() {
    return { state: 'unprobed', message: 'not probed (duplicati-cli has no cheap probe)' };
  },
  // The job's verify settings choose the samples (duplicatiTestSamples), not `readData`.
  checkRepository: (job, _readData, context) => testRepository(job, context),
} satisfies Backend;
