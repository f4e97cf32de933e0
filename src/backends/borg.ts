// borg adapter. Everything cronvault knows about borg lives here: argv, environment, archive
// names, the exit-code table (legacy 1.2 and BORG_EXIT_CODES=modern from 1.4), the stderr
// phrases 1.2 uses instead of specific codes, JSON output, lock files.
//
// Archive names are `<job>@<host>-<YYYY-mm-ddTHH:MM:SS>`: borg has no tags and no host filter in
// 1.x, so the name is the only scope. Job names cannot hold "@" and host names must not, and the
// glob ends in the exact shape of the timestamp, so `<job>@<host>-[0-9]…` matches this job on this
// host and nothing else: not job "a-b" for job "a", not host "h1-x" for host "h1".
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobConfig } from '../config.ts';
import { formatDuration } from '../durations.ts';
import { CronvaultError, EXIT } from '../errors.ts';
import type { ExitMeaning } from '../exit-meaning.ts';
import { type PreparedDump, prepareProducer } from '../presets/index.ts';
import { redactRepository, redactText } from '../redact.ts';
import { type RetentionPolicy, retentionVerdict, toBorgPruneArgs } from '../retention/index.ts';
import { runWithRetries } from '../retry.ts';
import { type EngineRun, runEngine, runEngineCollect } from './engine-process.ts';
import type {
  AttemptKind,
  AttemptOutcome,
  Backend,
  BackupStats,
  EngineContext,
  RetentionOptions,
  RetentionOutcome,
  Snapshot,
} from './types.ts';

const binaryOf = (job: JobConfig): string => job.binary ?? 'borg';

// ---- version ----

const versionCache = new Map<string, string>();

/** The version of an installed borg binary ("1.2.4"); throws when it is missing or a 2.x beta. */
const installedBorgVersion = async (binary = 'borg'): Promise<string> => {
  const cached = versionCache.get(binary);
  if (cached) return cached;
  const run = await runEngineCollect({ binary, args: ['--version'], env: {} });
  if (run.spawnError)
    throw new CronvaultError(
      'E_ENGINE_MISSING',
      1,
      `${run.spawnError} (install it: apt-get install borgbackup, or set "binary")`,
    );
  const match = /borg(?:\.exe)? (\d+)\.(\d+)\.(\d+)/.exec(run.stdout);
  if (!match)
    throw new CronvaultError(
      'E_ENGINE_VERSION',
      1,
      `could not read the borg version from "${binary} --version": ${run.stdout.slice(0, 200)}`,
    );
  if (Number(match[1]) !== 1 || Number(match[2]) < 2) {
    throw new CronvaultError(
      'E_ENGINE_VERSION',
      1,
      `borg ${match[1]}.${match[2]}.${match[3]} is not supported: cronvault drives borg 1.2 and 1.4`,
    );
  }
  const version = `${match[1]}.${match[2]}.${match[3]}`;
  versionCache.set(binary, version);
  return version;
};

const borgVersion = (job: JobConfig): Promise<string> => installedBorgVersion(binaryOf(job));

/** 1.4 spells the archive filter `-a`; 1.2 `--glob-archives` (both take a shell glob in 1.x). */
const isAtLeast14 = (version: string): boolean => Number(version.split('.')[1]) >= 4;

// ---- environment and secrets ----

/** Quotes one word for shlex.split, which is how borg splits BORG_PASSCOMMAND (no shell runs it). */
const shlexQuote = (word: string): string => `'${word.replace(/'/g, `'"'"'`)}'`;

/**
 * The passphrase only ever reaches borg through BORG_PASSCOMMAND: never on argv, never in
 * BORG_PASSPHRASE (which a crash dump or `ps e` could show). Prompts are all answered "no"
 * up front, so an unattended run never waits on stdin (which is closed anyway) and a moved or
 * unencrypted repository is never accepted silently: set those variables in the job's `env`
 * to accept one on purpose.
 */
export const borgEnv = (job: JobConfig): Record<string, string> => ({
  BORG_RELOCATED_REPO_ACCESS_IS_OK: 'no',
  BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'no',
  BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: 'NO',
  BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: 'NO',
  BORG_DISPLAY_PASSPHRASE: 'no',
  // Ignored before 1.4; from 1.4 it turns exit 2 into the specific codes in EXIT_CODES.
  BORG_EXIT_CODES: 'modern',
  ...job.env,
  BORG_REPO: job.repository,
  BORG_PASSCOMMAND: job.passwordFile ? `cat -- ${shlexQuote(job.passwordFile)}` : (job.passwordCommand ?? ''),
});

// ---- archive names and scope ----

const TIMESTAMP_GLOB = '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]';

/** Characters a host name must not have here: they would break the name's scope or be borg placeholders. */
const UNSAFE_HOST = /[@/:*?[\]{}\\\s]/;

const archivePrefix = (job: JobConfig): string => {
  if (UNSAFE_HOST.test(job.hostname)) {
    throw new CronvaultError(
      'E_CONFIG',
      2,
      `hostname "${job.hostname}" cannot be part of a borg archive name (no "@", "/", ":", "*", "?", "[", "]", "{", "}" or spaces); set "hostname" for job ${job.name}`,
    );
  }
  return `${job.name}@${job.hostname}-`;
};

/** This run's archive; borg fills in the time itself. */
export const archiveNameFor = (job: JobConfig): string => `${archivePrefix(job)}{now:%Y-%m-%dT%H:%M:%S}`;

/** The glob that matches this job's archives on this host, and only those. */
export const archiveGlobFor = (job: JobConfig): string => `${archivePrefix(job)}${TIMESTAMP_GLOB}`;

const scopeArgs = (job: JobConfig, version: string): string[] => [
  isAtLeast14(version) ? '-a' : '--glob-archives',
  archiveGlobFor(job),
];

/** How long borg itself waits for a lock per attempt: as long as one retry wait may be. */
const lockWaitSeconds = (job: JobConfig): number => Math.max(1, Math.round(job.retry.maxDelayMs / 1000));

// ---- exit codes ----

/** Why an attempt failed, in the five states `probeRepository` reports, plus the backup-only ones. */
type BorgCause =
  | 'ok'
  | 'warning'
  | 'missing'
  | 'wrong-password'
  | 'unreachable'
  | 'locked'
  | 'source-missing'
  | 'interrupted'
  | 'error';

interface ExitEntry extends ExitMeaning {
  kind: AttemptKind;
  cause: BorgCause;
}

const MISSING_REASON = 'repository does not exist (create it with `cronvault init <job>` or set init: true)';

/**
 * One table drives both classification and describeExitCode. 0, 1, 2 and 128+N are all borg
 * 1.2 has; 3–127 come with BORG_EXIT_CODES=modern from 1.4. Exit 2 (legacy) is read from stderr.
 */
export const EXIT_CODES: Record<number, ExitEntry> = {
  0: { meaning: 'success', kind: 'success', cause: 'ok' },
  1: {
    meaning: 'success with warnings (a file changed while read, or could not be read)',
    alert: 'warnings',
    kind: 'warning',
    cause: 'warning',
  },
  2: { meaning: 'error', kind: 'transient', cause: 'error' },
  13: { meaning: MISSING_REASON, alert: 'repository does not exist', kind: 'permanent', cause: 'missing' },
  15: { meaning: 'not a valid borg repository', kind: 'permanent', cause: 'error' },
  17: { meaning: 'object missing from the repository (run borg check)', kind: 'permanent', cause: 'error' },
  18: { meaning: "the repository's parent directory does not exist", kind: 'permanent', cause: 'missing' },
  20: { meaning: 'repository storage quota exceeded', kind: 'permanent', cause: 'error' },
  21: { meaning: 'permission denied on the repository', kind: 'permanent', cause: 'error' },
  30: { meaning: 'an archive of that name already exists', kind: 'transient', cause: 'error' },
  50: { meaning: 'no passphrase given', kind: 'permanent', cause: 'wrong-password' },
  51: { meaning: 'the password command failed', kind: 'permanent', cause: 'wrong-password' },
  52: { meaning: 'wrong password', kind: 'permanent', cause: 'wrong-password' },
  62: {
    meaning: 'repository access aborted (moved, or unencrypted and not accepted)',
    kind: 'permanent',
    cause: 'error',
  },
  70: { meaning: 'lock error', kind: 'transient', cause: 'locked' },
  71: { meaning: 'lock error', kind: 'transient', cause: 'locked' },
  72: { meaning: 'could not create the lock', kind: 'transient', cause: 'locked' },
  73: {
    meaning: 'repository is locked by another process (lock wait timed out)',
    alert: 'repository is locked',
    kind: 'transient',
    cause: 'locked',
  },
  80: { meaning: 'connection to the repository closed', kind: 'transient', cause: 'unreachable' },
  81: { meaning: 'connection to the repository closed', kind: 'transient', cause: 'unreachable' },
  82: { meaning: 'remote borg does not understand the request', kind: 'permanent', cause: 'error' },
  83: { meaning: 'repository path not allowed by the remote borg serve', kind: 'permanent', cause: 'error' },
  84: { meaning: 'remote borg is too old', kind: 'permanent', cause: 'error' },
  85: { meaning: 'unexpected data from the client', kind: 'transient', cause: 'unreachable' },
  86: { meaning: 'unexpected data from the server', kind: 'transient', cause: 'unreachable' },
  87: { meaning: 'connection to the repository broken', kind: 'transient', cause: 'unreachable' },
};

const describeBorgExit = (code: number): string => {
  const entry = EXIT_CODES[code];
  if (entry) return entry.meaning;
  if (code >= 100 && code <= 127) return 'success with a specific warning (borg 1.4 modern exit code)';
  if (code > 128 && code < 160) return `killed by signal ${code - 128}`;
  return `unknown exit code ${code}, treated as failure`;
};

const ARCHIVE_EXISTS = /Archive .* already exists/i;

const NETWORK_TROUBLE =
  /Connection closed by remote host|Connection refused|Connection reset|Could not resolve hostname|Connection timed out|Network is unreachable|Broken pipe|ssh: connect to host|Remote: ssh/i;

/** borg 1.2 says everything with exit 2; its stderr says which failure it was. */
const STDERR_CAUSES: { pattern: RegExp; kind: AttemptKind; cause: BorgCause; reason: string }[] = [
  {
    pattern: /passphrase supplied in BORG_PASSPHRASE.*is incorrect|passphrase.*incorrect/i,
    kind: 'permanent',
    cause: 'wrong-password',
    reason: 'wrong password',
  },
  {
    pattern: /passcommand supplied in BORG_PASSCOMMAND failed/i,
    kind: 'permanent',
    cause: 'wrong-password',
    reason: 'the password source failed (password_file unreadable or password_command failed)',
  },
  { pattern: /Repository .* does not exist/i, kind: 'permanent', cause: 'missing', reason: MISSING_REASON },
  {
    pattern: /is not a valid repository/i,
    kind: 'permanent',
    cause: 'error',
    reason: 'not a valid borg repository (check "repository")',
  },
  {
    pattern: /Failed to create\/acquire the lock|lock.*timeout|LockTimeout/i,
    kind: 'transient',
    cause: 'locked',
    reason: 'repository is locked by another process',
  },
  {
    pattern: ARCHIVE_EXISTS,
    kind: 'transient',
    cause: 'error',
    reason: 'an archive of that name already exists (two runs in the same second)',
  },
  {
    pattern: /previously located at|relocated/i,
    kind: 'permanent',
    cause: 'error',
    reason:
      'the repository moved since this host last used it; set BORG_RELOCATED_REPO_ACCESS_IS_OK: "yes" in the job\'s env once if that is intended',
  },
  {
    pattern: /unencrypted repository/i,
    kind: 'permanent',
    cause: 'error',
    reason:
      'the repository is unencrypted and was not accepted; set BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "yes" in the job\'s env if that is intended',
  },
  { pattern: NETWORK_TROUBLE, kind: 'transient', cause: 'unreachable', reason: 'repository server unreachable' },
];

export interface BorgClassification extends AttemptOutcome {
  cause: BorgCause;
}

/** Exit code (and, for legacy exit 2 or an unknown code, stderr) → what the wrapper does next. */
export const classifyBorgExit = (exitCode: number, stderr: string): BorgClassification => {
  const outcome = (kind: AttemptKind, cause: BorgCause, reason: string): BorgClassification => ({
    kind,
    exitCode,
    reason,
    cause,
  });
  if (exitCode === 0) return outcome('success', 'ok', 'success');
  if (exitCode === 1)
    return outcome('warning', 'warning', 'archive created, but borg reported warnings (see its output)');
  if (exitCode >= 100 && exitCode <= 127)
    return outcome('warning', 'warning', `archive created with a warning (borg exit ${exitCode})`);
  if (exitCode > 128 && exitCode < 160)
    return outcome('permanent', 'interrupted', `borg was killed by signal ${exitCode - 128}`);
  const entry = EXIT_CODES[exitCode];
  if (entry && exitCode !== 2) return outcome(entry.kind, entry.cause, entry.meaning);
  const known = STDERR_CAUSES.find((candidate) => candidate.pattern.test(stderr));
  if (known) return outcome(known.kind, known.cause, known.reason);
  const lastLine = redactText(stderr.trim().split('\n').pop() ?? '');
  return outcome(
    'transient',
    'error',
    `borg failed (exit ${exitCode})${lastLine ? `: ${lastLine.slice(0, 200)}` : ''}`,
  );
};

const classifyRun = (run: EngineRun): BorgClassification =>
  run.spawnError
    ? { kind: 'permanent', exitCode: -1, reason: run.spawnError, cause: 'error' }
    : classifyBorgExit(run.exitCode, run.stderrTail);

// ---- stale locks ----

interface LockHolder {
  host: string;
  pid: number;
}

/** A local repository's directory; undefined for ssh:// and user@host: repositories. */
const localRepositoryDir = (repository: string): string | undefined => {
  if (repository.startsWith('file://')) return repository.slice('file://'.length);
  if (/^[a-z]+:\/\//i.test(repository) || /^[^/]*:/.test(repository)) return undefined;
  return repository;
};

/** Who holds a lock on a local repository, read from lock.exclusive/ and lock.roster. */
const readLockHolders = async (repositoryDir: string): Promise<LockHolder[]> => {
  const holders = new Map<string, LockHolder>();
  // Entries are named "<host>@<node>.<pid>-<thread>".
  const entries = await readdir(join(repositoryDir, 'lock.exclusive')).catch(() => [] as string[]);
  for (const entry of entries) {
    const match = /^(.*)\.(\d+)-\d+$/.exec(entry);
    if (match) holders.set(`${match[1]}/${match[2]}`, { host: match[1]!, pid: Number(match[2]) });
  }
  const roster = await readFile(join(repositoryDir, 'lock.roster'), 'utf8').catch(() => undefined);
  if (roster) {
    try {
      const parsed = JSON.parse(roster) as Record<string, [string, number, number][]>;
      for (const list of Object.values(parsed)) {
        for (const [host, pid] of list ?? []) holders.set(`${host}/${pid}`, { host, pid });
      }
    } catch {
      // A half-written roster says nothing reliable: treat the lock as held.
      holders.set('unreadable', { host: 'unknown', pid: 0 });
    }
  }
  return [...holders.values()];
};

const firstLabel = (name: string): string => name.split('@')[0]!.split('.')[0]!.toLowerCase();

/** A holder is stale when it was this host (by name, as borg writes it) and its process is gone. */
const isStaleOnThisHost = (holder: LockHolder, thisHost: string): boolean => {
  if (holder.pid <= 0 || firstLabel(holder.host) !== firstLabel(thisHost)) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

/**
 * After a lock timeout: when every holder of the lock is a dead process of this host (a run
 * that was killed), the lock is broken so the retry can succeed. A live process, or any other
 * host's lock, is left alone: the retry waits for it.
 */
const breakStaleLock = async (job: JobConfig, context: EngineContext): Promise<boolean> => {
  const dir = localRepositoryDir(job.repository);
  if (!dir) return false;
  const holders = await readLockHolders(dir);
  const thisHost = job.env.BORG_HOST_ID ?? osHostname();
  if (holders.length === 0 || !holders.every((holder) => isStaleOnThisHost(holder, thisHost))) return false;
  const run = await runEngineCollect({
    binary: binaryOf(job),
    args: ['break-lock'],
    env: borgEnv(job),
    signal: context.signal,
  });
  if (run.exitCode !== 0) {
    context.warn?.(`could not break the stale lock: ${classifyRun(run).reason}`);
    return false;
  }
  context.warn?.(
    `broke a stale lock left by ${holders.map((h) => `pid ${h.pid}`).join(', ')} on this host (the process is gone)`,
  );
  return true;
};

const withLockCleanup = async (
  job: JobConfig,
  outcome: BorgClassification,
  context: EngineContext,
): Promise<BorgClassification> => {
  if (outcome.cause !== 'locked') return outcome;
  const broken = await breakStaleLock(job, context).catch(() => false);
  return broken
    ? { ...outcome, reason: `${outcome.reason}; it was a stale lock of this host and was broken` }
    : outcome;
};

// ---- backup ----

interface BorgCreateJson {
  archive?: {
    name?: string;
    id?: string;
    stats?: { original_size?: number; deduplicated_size?: number; nfiles?: number };
  };
}

/** borg gives no new/changed file counts: files, bytes read and bytes added after dedup only. */
const statsFromCreateJson = (text: string): BackupStats | undefined => {
  let parsed: BorgCreateJson;
  try {
    parsed = JSON.parse(text) as BorgCreateJson;
  } catch {
    return undefined;
  }
  const stats = parsed.archive?.stats;
  if (!stats) return undefined;
  return {
    filesProcessed: stats.nfiles,
    bytesProcessed: stats.original_size,
    bytesAdded: stats.deduplicated_size,
    snapshotId: parsed.archive?.name,
  };
};

const sourceMissing = async (path: string): Promise<boolean> => {
  try {
    await stat(path);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
};

/** `borg create` for one backup of the job (its argv; the archive name carries the time). */
const createArgs = (job: JobConfig, producerArgv = ['/bin/sh', '-c', job.command ?? '']): string[] => {
  const args = ['create', '--json', '--stats', '--lock-wait', String(lockWaitSeconds(job))];
  for (const pattern of job.exclude) args.push('--exclude', pattern);
  // borg 1.x archives have no tags; the archive comment keeps them readable in `borg info`.
  if (job.tags.length > 0) args.push('--comment', `cronvault tags: ${job.tags.join(', ')}`);
  args.push(...job.engineArgs);
  // --content-from-command (1.2+) runs the producer itself and fails without an archive when it
  // exits non-zero: no truncated dump is ever stored, so there is nothing to clean up.
  if (job.command !== undefined)
    args.push(
      '--content-from-command',
      '--stdin-name',
      job.stdinFilename ?? `${job.name}.dump`,
      `::${archiveNameFor(job)}`,
      '--',
      ...producerArgv,
    );
  else args.push(`::${archiveNameFor(job)}`, job.path!);
  return args;
};

const backup = async (job: JobConfig, context: EngineContext): Promise<AttemptOutcome> => {
  // borg 1.2 archives a missing path as a warning (exit 1) with an empty archive; for a backup
  // job that is a wrong config, as with restic.
  if (job.path !== undefined && (await sourceMissing(job.path)))
    return { kind: 'permanent', exitCode: -1, reason: `backup source path ${job.path} does not exist` };
  // A database preset's dump client (and its env, its 0600 defaults file) instead of /bin/sh.
  const producer = job.command !== undefined ? await prepareProducer(job) : undefined;
  try {
    return await createArchive(job, context, producer);
  } finally {
    await producer?.cleanup();
  }
};

/** The size of the one file a command job's archive holds, or undefined when borg does not say. */
const storedDumpBytes = async (job: JobConfig, archive: string): Promise<number | undefined> => {
  const run = await runEngineCollect({
    binary: binaryOf(job),
    args: ['list', '--format', '{size}{NL}', `::${archive}`],
    env: borgEnv(job),
  });
  const size = Number(run.stdout.trim());
  return run.exitCode === 0 && run.stdout.trim() !== '' && Number.isFinite(size) ? size : undefined;
};

const createArchive = async (
  job: JobConfig,
  context: EngineContext,
  producer: PreparedDump | undefined,
): Promise<AttemptOutcome> => {
  const args = createArgs(job, producer?.argv);
  let stdout: string[] = [];
  const create = () =>
    runEngine({
      binary: binaryOf(job),
      args,
      env: { ...borgEnv(job), ...producer?.env },
      signal: context.signal,
      // borg cleans its lock and checkpoint up on SIGINT.

      onStdoutLine: (line) => {
        stdout.push(line);
        context.onOutput?.(line, 'stdout');
      },
      onStderrLine: (line) => context.onOutput?.(line, 'stderr'),
    });
  let run = await create();
  if (ARCHIVE_EXISTS.test(run.stderrTail) && !context.signal?.aborted) {
    // Names have whole seconds: a run right after the previous one gets the next second's name
    // instead of a full retry wait.
    await sleep(1000, undefined, { signal: context.signal });
    stdout = [];
    run = await create();
  }
  const outcome = classifyRun(run);
  if (
    job.command !== undefined &&
    outcome.kind !== 'success' &&
    outcome.kind !== 'warning' &&
    /Command .* exited with|Command .* failed|command.*returned non-zero/i.test(run.stderrTail)
  ) {
    const detail = run.stderrTail.trim().split('\n').pop() ?? '';
    return {
      kind: 'transient',
      exitCode: run.exitCode,
      reason: `command "${job.command}" failed: ${redactText(detail).slice(0, 200)}; borg made no archive`,
    };
  }
  if (outcome.kind !== 'success' && outcome.kind !== 'warning') return withLockCleanup(job, outcome, context);
  const stats = statsFromCreateJson(stdout.join('\n'));
  if (job.command === undefined)
    return { kind: outcome.kind, exitCode: outcome.exitCode, reason: outcome.reason, stats };
  // The producer exited 0, so borg kept what it wrote: an empty dump must not become the newest
  // archive to restore, so it goes again. Its size is the stored file's (create's original_size
  // counts metadata too).
  const dump = { bytes: stats?.snapshotId ? await storedDumpBytes(job, stats.snapshotId) : undefined, exitCode: 0 };
  if (dump.bytes === 0 && stats?.snapshotId) {
    await runEngine({ binary: binaryOf(job), args: ['delete', `::${stats.snapshotId}`], env: borgEnv(job) });
    return {
      kind: 'transient',
      exitCode: 1,
      reason: `command "${job.command}" wrote nothing; its empty archive was removed`,
      dump,
    };
  }
  return { kind: outcome.kind, exitCode: outcome.exitCode, reason: outcome.reason, stats, dump };
};

// ---- repository ----

export type ProbeState = 'ok' | 'missing' | 'wrong-password' | 'unreachable' | 'error';

/** The repository's state in the five words the wrapper's probe will speak; `message` says why. */
const probeState = async (job: JobConfig): Promise<{ state: ProbeState; message: string }> => {
  // `list --last 1` decrypts the manifest (so it checks the password) without reading the cache.
  const run = await runEngineCollect({
    binary: binaryOf(job),
    args: ['list', '--short', '--last', '1'],
    env: borgEnv(job),
  });
  if (run.exitCode === 0) return { state: 'ok', message: 'repository answers' };
  const outcome = classifyRun(run);
  const state: ProbeState =
    outcome.cause === 'missing' || outcome.cause === 'wrong-password' || outcome.cause === 'unreachable'
      ? outcome.cause
      : 'error';
  return { state, message: outcome.reason };
};

const ensureRepository = async (job: JobConfig, context: EngineContext): Promise<void> => {
  if (!job.init) return;
  const probe = await probeState(job);
  if (probe.state !== 'missing') return;
  context.warn?.('repository does not exist yet; creating it (init: true, encryption repokey-blake2)');
  const run = await runEngineCollect({
    binary: binaryOf(job),
    args: ['init', '--encryption=repokey-blake2', '--make-parent-dirs'],
    env: borgEnv(job),
    signal: context.signal,
  });
  if (run.exitCode !== 0) {
    throw new CronvaultError(
      'E_INIT',
      1,
      `borg init failed (exit ${run.exitCode}): ${redactText(run.stderrTail.trim().split('\n').pop() ?? '')}`,
    );
  }
};

// ---- archives ----

interface BorgArchive {
  name: string;
  id: string;
  time?: string;
  start?: string;
}

/** borg prints local times without a zone; Date reads them as local time too. */
const isoTime = (time: string | undefined): string => {
  const parsed = time ? new Date(time) : undefined;
  return parsed && !Number.isNaN(parsed.getTime()) ? parsed.toISOString() : (time ?? '');
};

const listArchives = async (job: JobConfig, context: EngineContext): Promise<BorgArchive[]> => {
  const run = await runEngineCollect({
    binary: binaryOf(job),
    args: ['list', '--json', '--lock-wait', String(lockWaitSeconds(job)), ...scopeArgs(job, await borgVersion(job))],
    env: borgEnv(job),
    signal: context.signal,
  });
  if (run.exitCode !== 0)
    throw new CronvaultError('E_SNAPSHOTS', EXIT.backupFailed, `borg list failed: ${classifyRun(run).reason}`);
  const archives = ((JSON.parse(run.stdout || '{}') as { archives?: BorgArchive[] }).archives ?? []).slice();
  return archives.sort((a, b) => isoTime(a.time ?? a.start).localeCompare(isoTime(b.time ?? b.start)));
};

const snapshots = async (job: JobConfig, context: EngineContext): Promise<Snapshot[]> =>
  (await listArchives(job, context)).map((archive) => ({
    id: archive.name,
    time: isoTime(archive.time ?? archive.start),
    hostname: job.hostname,
    paths: [job.path ?? job.stdinFilename ?? `${job.name}.dump`],
    tags: [],
  }));

// ---- retention ----

/** `prune --dry-run --list` lines (stderr) → what would be kept and removed. */
export const parsePruneList = (lines: readonly string[]): { keep: string[]; remove: string[] } => {
  const keep: string[] = [];
  const remove: string[] = [];
  for (const line of lines) {
    const kept = /^Keeping (?:checkpoint )?archive(?: \([^)]*\))?:\s+(\S+)/.exec(line);
    const pruned = /^(?:Would prune|Pruning archive(?: \([^)]*\))?):\s+(\S+)/.exec(line);
    if (kept) keep.push(kept[1]!);
    else if (pruned) remove.push(pruned[1]!);
  }
  return { keep, remove };
};

/**
 * One borg command with the job's retries. prune and compact take an exclusive lock: another
 * host's backup into the same repository makes them wait, so they get the same retries (and
 * stale-lock cleanup) as the backup.
 */
const runRetried = async (job: JobConfig, args: string[], context: EngineContext, what: string) => {
  let last: (EngineRun & { stdout: string; stderrLines: string[] }) | undefined;
  const { attempts } = await runWithRetries(
    async () => {
      const stderrLines: string[] = [];
      const run = await runEngineCollect({
        binary: binaryOf(job),
        args,
        env: borgEnv(job),
        signal: context.signal,
        onStderrLine: (line) => stderrLines.push(line),
      });
      last = { ...run, stderrLines };
      return run.exitCode === 0
        ? { kind: 'success', exitCode: 0, reason: 'ok' }
        : withLockCleanup(job, classifyRun(run), context);
    },
    job.retry,
    {
      signal: context.signal,
      onRetry: (outcome, next, delay) =>
        context.warn?.(`${what}: attempt ${next}/${job.retry.attempts} in ${formatDuration(delay)}: ${outcome.reason}`),
    },
  );
  return { ...last!, attempts };
};

const applyRetention = async (
  job: JobConfig,
  policy: RetentionPolicy,
  options: RetentionOptions,
  context: EngineContext,
): Promise<RetentionOutcome> => {
  if (policy.kind === 'none') return { kind: 'skipped', exitCode: 0, removed: 0, reason: 'retention disabled' };
  const translation = toBorgPruneArgs(policy, { rounding: job.retentionRounding });
  for (const warning of translation.warnings) context.warn?.(warning);
  if (translation.keepAll) return { kind: 'skipped', exitCode: 0, removed: 0, reason: 'policy keeps every archive' };
  const lockWait = ['--lock-wait', String(lockWaitSeconds(job))];
  const base = ['prune', '--list', ...lockWait, ...scopeArgs(job, await borgVersion(job)), ...translation.args];
  const retried = (args: string[]) => runRetried(job, args, context, 'retention');
  const dryRun = await retried([...base, '--dry-run']);
  if (dryRun.exitCode !== 0)
    return {
      kind: 'failed',
      exitCode: dryRun.exitCode,
      removed: 0,
      reason: `dry run failed: ${classifyRun(dryRun).reason}`,
    };
  const verdict = retentionVerdict([parsePruneList(dryRun.stderrLines)], job.retentionMaxDelete, options.force);
  if (verdict.kind !== 'proceed')
    return { ...verdict.outcome, reason: verdict.outcome.reason.replace(/snapshots/g, 'archives') };
  const { removed, kept } = verdict;
  const total = removed + kept;
  if (options.dryRun)
    return { kind: 'success', exitCode: 0, removed, kept, reason: `dry run: would remove ${removed}` };
  const run = await retried(base);
  if (run.exitCode !== 0)
    return { kind: 'failed', exitCode: run.exitCode, removed: 0, kept: total, reason: classifyRun(run).reason };
  // prune only marks chunks unused; `borg compact` (1.2+), which gives the space back, takes the
  // repository's exclusive lock for long and runs on the prune schedule instead (`cronvault prune`).
  return {
    kind: 'success',
    exitCode: 0,
    removed,
    kept,
    reason: `removed ${removed} archive${removed === 1 ? '' : 's'}, kept ${kept}`,
  };
};

const SIZE_UNITS: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };

/** `borg compact --info`: "compaction freed about 102.50 kB repository space." in bytes. */
export const parseCompactFreedBytes = (lines: readonly string[]): number | undefined => {
  for (const line of lines) {
    const match = /compaction freed about ([\d.]+) (B|kB|MB|GB|TB) repository space/.exec(line);
    if (match) return Math.round(Number(match[1]) * SIZE_UNITS[match[2]!]!);
  }
  return undefined;
};

/**
 * The borg half of `cronvault prune`: `borg compact` (1.2+), which gives back the space that
 * `borg prune` (run after each backup) only marked unused. borg compact has no dry run.
 */
const pruneRepository: NonNullable<Backend['pruneRepository']> = async (job, options, context) => {
  if (options.dryRun)
    return { kind: 'success', exitCode: 0, attempts: 0, reason: 'dry run: borg compact has no dry run; nothing done' };
  const run = await runRetried(
    job,
    ['compact', '--info', '--lock-wait', String(lockWaitSeconds(job))],
    context,
    'prune',
  );
  if (run.exitCode !== 0)
    return { kind: 'failed', exitCode: run.exitCode, attempts: run.attempts, reason: classifyRun(run).reason };
  return {
    kind: 'success',
    exitCode: 0,
    attempts: run.attempts,
    removedBytes: parseCompactFreedBytes(run.stderrLines),
    reason: 'compacted',
  };
};

// ---- restore ----

const restore: Backend['restore'] = async (job, request, context) => {
  const archives = await listArchives(job, context);
  const archive =
    request.snapshot === 'latest'
      ? archives.at(-1)
      : archives.find((a) => a.name === request.snapshot || a.name.startsWith(request.snapshot));
  if (!archive)
    throw new CronvaultError(
      'E_RESTORE',
      1,
      request.snapshot === 'latest'
        ? `job ${job.name} has no archives from this host yet`
        : `archive ${request.snapshot} is not one of job ${job.name}'s archives`,
    );
  const env = borgEnv(job);
  // Archived paths are relative ("srv/data/x"): borg strips the leading slash.
  const inArchive = (path: string): string => path.replace(/^\/+/, '');
  if (request.toStdout) {
    const member = inArchive(
      job.command !== undefined ? (job.stdinFilename ?? `${job.name}.dump`) : (request.include?.[0] ?? ''),
    );
    const run = await runEngine({
      binary: binaryOf(job),
      args: ['extract', '--stdout', `::${archive.name}`, member],
      env,
      signal: context.signal,
      stdoutTo: request.stdoutTo ?? process.stdout,
    });
    if (run.exitCode !== 0)
      throw new CronvaultError(
        'E_RESTORE',
        EXIT.backupFailed,
        `borg extract --stdout failed: ${classifyRun(run).reason}`,
      );
    return;
  }
  await mkdir(request.target!, { recursive: true });
  const run = await runEngine({
    binary: binaryOf(job),
    args: [
      'extract',
      '--lock-wait',
      String(lockWaitSeconds(job)),
      `::${archive.name}`,
      ...(request.include ?? []).map(inArchive),
    ],
    env,
    cwd: request.target,
    signal: context.signal,

    onStdoutLine: (l) => context.onOutput?.(l, 'stdout'),
    onStderrLine: (l) => context.onOutput?.(l, 'stderr'),
  });
  if (run.exitCode !== 0 && run.exitCode !== 1)
    throw new CronvaultError('E_RESTORE', EXIT.backupFailed, `borg extract failed: ${classifyRun(run).reason}`);
};

/**
 * Written besides state_dir: a local repository, and borg's cache and config (keys, security
 * info), from BORG_BASE_DIR / BORG_CACHE_DIR / BORG_CONFIG_DIR or XDG defaults under `home`.
 */
const writablePaths = (job: JobConfig, home: string): string[] => {
  const repository = localRepositoryDir(job.repository);
  const base = job.env.BORG_BASE_DIR;
  const cache =
    job.env.BORG_CACHE_DIR ?? (base ? `${base}/.cache/borg` : `${job.env.XDG_CACHE_HOME ?? `${home}/.cache`}/borg`);
  const config =
    job.env.BORG_CONFIG_DIR ?? (base ? `${base}/.config/borg` : `${job.env.XDG_CONFIG_HOME ?? `${home}/.config`}/borg`);
  return [...(repository ? [repository] : []), cache, config];
};

export const borg = {
  engine: 'borg',
  writablePaths,
  async ensureInstalled(job) {
    return { version: await borgVersion(job) };
  },
  // borg create --dry-run exists, but prints no stats to show (1.2), so a dry run shows the argv only.
  dryRunSupported: false,
  backupCommand: (job) => [binaryOf(job), ...createArgs(job)],
  ensureRepository,
  backup,
  applyRetention,
  pruneRepository,
  snapshots,
  restore,
  describeExitCode: describeBorgExit,
  async probeRepository(job) {
    const { state, message } = await probeState(job);
    return { state, message: state === 'ok' ? message : `${message} (repository ${redactRepository(job.repository)})` };
  },
} satisfies Backend;
