// restic adapter. Everything cronvault knows about restic lives here: argv, environment,
// exit codes by version, the stderr phrases 0.14 uses instead of exit codes, JSON output.
import { constants as osConstants } from 'node:os';
import { Transform } from 'node:stream';
import { execa } from 'execa';
import type { JobConfig } from '../config.ts';
import { formatDuration } from '../durations.ts';
import { cachedEngineVersion } from '../engine-version-cache.ts';
import { CronvaultError, EXIT } from '../errors.ts';
import { type ExitMeaning, unknownExitCode } from '../exit-meaning.ts';
import { quote } from '../input-text.ts';
import { type PreparedDump, prepareProducer } from '../presets/index.ts';
import { redactRepository, redactText } from '../redact.ts';
import { type ForgetGroup, type RetentionPolicy, retentionVerdict, toResticForgetArgs } from '../retention/index.ts';
import { runWithRetries } from '../retry.ts';
import { startDumpCheck } from './dump-check.ts';
import {
  type EngineRun,
  findExecutable,
  RUN_MARKER_VARIABLE,
  runEngine,
  runEngineCollect,
  runMarker,
  superviseGroup,
} from './engine-process.ts';
import type {
  AttemptOutcome,
  Backend,
  BackupStats,
  DumpOutcome,
  EngineContext,
  ReadDataRequest,
  RepositoryCheck,
  RepositoryProbe,
  RepositoryState,
  RetentionOptions,
  RetentionOutcome,
  Snapshot,
  SnapshotFile,
} from './types.ts';

/** The tag that marks a job's snapshots; retention and listings filter on it. */
const jobTag = (job: JobConfig): string => `cronvault:${job.name}`;

const binaryOf = (job: JobConfig): string => job.binary ?? 'restic';

const resticEnv = (job: JobConfig): Record<string, string> => ({
  ...job.env,
  RESTIC_REPOSITORY: job.repository,
  ...(job.passwordFile ? { RESTIC_PASSWORD_FILE: job.passwordFile } : {}),
  ...(job.passwordCommand ? { RESTIC_PASSWORD_COMMAND: job.passwordCommand } : {}),
});

const scope = (job: JobConfig): string[] => ['--host', job.hostname, '--tag', jobTag(job)];

/**
 * What retention and listings may touch: this host, this job's tag and, for path jobs, this
 * path too, so that two jobs whose names happen to collide still cannot remove each other's
 * snapshots.
 */
const ownSnapshots = (job: JobConfig): string[] => [...scope(job), ...(job.path ? ['--path', job.path] : [])];

/** What went wrong, in types: the retry policy and the repository probe read this, not words. */
type ResticCause =
  | 'success'
  | 'incomplete'
  | 'crashed'
  | 'missing'
  | 'locked'
  | 'wrong-password'
  | 'interrupted'
  | 'source-missing'
  | 'unreachable'
  | 'network';

/** How each cause ends an attempt (retried or not), and what the log says about it. */
/** How a lock failure reads; clearStaleLocks recognises a failed attempt by it. */
const LOCKED_REASON = 'repository is locked by another process';

const CAUSES: Record<ResticCause, { kind: AttemptOutcome['kind']; reason: string }> = {
  success: { kind: 'success', reason: 'success' },
  incomplete: { kind: 'warning', reason: 'snapshot created, but some source files could not be read' },
  crashed: { kind: 'permanent', reason: 'restic crashed (Go panic); see its output' },
  missing: {
    kind: 'permanent',
    reason: 'repository does not exist (create it with `cronvault init <job>` or set init: true)',
  },
  locked: { kind: 'transient', reason: LOCKED_REASON },
  'wrong-password': { kind: 'permanent', reason: 'wrong password' },
  interrupted: { kind: 'permanent', reason: 'interrupted' },
  'source-missing': { kind: 'permanent', reason: 'backup source path does not exist' },
  unreachable: { kind: 'transient', reason: 'repository server unreachable' },
  network: { kind: 'transient', reason: 'network error talking to the repository' },
};

interface ResticExitCode extends ExitMeaning {
  /** The cause the code alone proves; absent for 1, whose cause is read from stderr. */
  cause?: ResticCause;
  /** The first restic version that exits with it. */
  since: string;
}

/**
 * restic's exit codes: the one table that classification, `describeExitCode`, the alert
 * rules' words and docs/engines.md follow (test/exit-codes.test.ts compares them).
 */
export const EXIT_CODES: Record<number, ResticExitCode> = {
  0: { meaning: 'success', cause: 'success', since: 'always' },
  1: { meaning: 'fatal error, no snapshot', alert: 'fatal error', since: 'always' },
  2: { meaning: 'restic crashed (Go panic)', alert: 'Go panic', cause: 'crashed', since: 'always' },
  3: {
    meaning: 'snapshot created but some source files could not be read',
    alert: 'snapshot incomplete, some files unreadable',
    cause: 'incomplete',
    since: '0.10',
  },
  10: { meaning: 'repository does not exist', cause: 'missing', since: '0.17.0' },
  11: { meaning: 'repository is locked', cause: 'locked', since: '0.17.0' },
  12: { meaning: 'wrong password', cause: 'wrong-password', since: '0.17.1' },
  130: { meaning: 'interrupted', cause: 'interrupted', since: 'always' },
};

/** The reason given when a repository lock stopped restic; clearStaleLocks acts on it. */

const NETWORK_TROUBLE =
  /dial tcp|connection refused|connection reset|no such host|i\/o timeout|timeout|deadline exceeded|EOF|\b5\d\d\b|server response unexpected|network is unreachable|TLS handshake/i;

/**
 * restic up to 0.16 reports nearly every failure as exit 1; its stderr says which one. The
 * phrases are restic 0.14's (docs/engines.md); undefined when none of them is there.
 */
const causeFromStderr = (stderr: string): ResticCause | undefined => {
  if (/wrong password or no key found/i.test(stderr)) return 'wrong-password';
  if (/repository is already locked|unable to create lock|lock.*already held/i.test(stderr)) return 'locked';
  if (
    /all source directories\/files do not exist|does not exist|no such file or directory.*(lstat|stat)/i.test(stderr) &&
    !/unable to open config file/i.test(stderr)
  ) {
    return 'source-missing';
  }
  // restic prints the same "no config file" lines for a missing repository and a server it cannot reach.
  if (/unable to open config file|Is there a repository at the following location/i.test(stderr))
    return NETWORK_TROUBLE.test(stderr) ? 'unreachable' : 'missing';
  if (NETWORK_TROUBLE.test(stderr)) return 'network';
  return undefined;
};

/** The cause of an exit, from the code when it says, else from stderr. */
const resticCause = (exitCode: number, stderr: string): ResticCause | undefined =>
  EXIT_CODES[exitCode]?.cause ?? causeFromStderr(stderr);

export const classifyResticFailure = (exitCode: number, stderr: string): AttemptOutcome => {
  const cause = resticCause(exitCode, stderr);
  if (cause) return { ...CAUSES[cause], exitCode };
  const lastLine = redactText(stderr.trim().split('\n').pop() ?? '');
  const what =
    EXIT_CODES[exitCode] === undefined
      ? `restic exited with unknown exit code ${exitCode}, treated as failure`
      : `restic failed (exit ${exitCode})`;
  return { kind: 'transient', exitCode, reason: `${what}${lastLine ? `: ${lastLine.slice(0, 200)}` : ''}` };
};

/** Summary fields that become stats: counts and byte totals, so whole numbers of 0 or more. */
const SUMMARY_COUNTS = {
  files_new: 'filesNew',
  files_changed: 'filesChanged',
  total_files_processed: 'filesProcessed',
  total_bytes_processed: 'bytesProcessed',
  data_added: 'bytesAdded',
} as const satisfies Record<string, keyof BackupStats>;

/** 8 hex digits up to 0.14, the full 64 from 0.15. */
const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/;

const describeJson = (value: unknown): string =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'a list'
      : typeof value === 'string'
        ? `string ${quote(value, 40)}`
        : typeof value === 'object'
          ? 'an object'
          : `${typeof value} ${String(value)}`;

/**
 * Reads restic's `summary` line. Only finite whole numbers of 0 or more become stats and only a
 * hex id becomes the snapshot id: a wrongly typed field ("files_new": "lots") once reached the
 * log, the history and the metrics, where it broke the final write. Each such field is named
 * in `problems` instead.
 */
const readSummary = (summary: Record<string, unknown>): { stats: BackupStats; problems: string[] } => {
  const stats: BackupStats = {};
  const problems: string[] = [];
  for (const [field, stat] of Object.entries(SUMMARY_COUNTS)) {
    const value = summary[field];
    if (value === undefined) continue;
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) stats[stat] = value;
    else problems.push(`${field} is ${describeJson(value)}, not a count`);
  }
  const id = summary.snapshot_id;
  if (typeof id === 'string' && SNAPSHOT_ID.test(id)) stats.snapshotId = id;
  else if (id !== undefined) problems.push(`snapshot_id is ${describeJson(id)}, not a snapshot id`);
  return { stats, problems };
};

/** A progress number, or undefined: status lines are drawn, never trusted. */
const progressNumber = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;

const parseJsonLine = (line: string): Record<string, unknown> | undefined => {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

const versionCache = new Map<string, string>();

/** The version of an installed restic binary ("0.14.0"); throws when it is missing. */
export const installedResticVersion = async (binary = 'restic'): Promise<string> => {
  const cached = versionCache.get(binary);
  if (cached) return cached;
  const run = await runEngineCollect({ binary, args: ['version'], env: {} });
  if (run.spawnError)
    throw new CronvaultError(
      'E_ENGINE_MISSING',
      EXIT.backupFailed,
      `${run.spawnError} (install it: apt-get install restic, or set "binary")`,
    );
  const match = /restic (\d+\.\d+\.\d+)/.exec(run.stdout);
  if (!match)
    throw new CronvaultError(
      'E_ENGINE_VERSION',
      EXIT.backupFailed,
      `could not read the restic version from "${binary} version": ${run.stdout.slice(0, 200)}`,
    );
  versionCache.set(binary, match[1]!);
  return match[1]!;
};

/** Asked once per binary, then answered from state_dir until the binary changes (no process per run). */
const resticVersion = async (job: JobConfig): Promise<string> => {
  const binary = binaryOf(job);
  const path = await findExecutable(binary);
  return path
    ? cachedEngineVersion(job.stateDir, path, () => installedResticVersion(binary))
    : installedResticVersion(binary);
};

const failureFromRun = (run: EngineRun): AttemptOutcome => {
  if (run.spawnError) return { kind: 'permanent', exitCode: -1, reason: run.spawnError };
  // A crash (SIGSEGV) or the OOM killer's SIGKILL: worth another attempt.
  if (run.killedBy)
    return { kind: 'transient', exitCode: run.exitCode, reason: `restic was killed by ${run.killedBy}` };
  return classifyResticFailure(run.exitCode, run.stderrTail);
};

/**
 * A stream job on restic < 0.17: the producer's output is piped into `restic backup --stdin`,
 * counted on the way (constant memory: the pipe holds one chunk at a time). It runs in its own
 * process group, stopped with restic's, so a pipeline's every process ends at a timeout.
 */
const startProducer = (job: JobConfig, producer: PreparedDump, signal?: AbortSignal) => {
  const [file, ...args] = producer.argv;
  const subprocess = execa(file!, args, {
    env: { ...job.env, ...producer.env, [RUN_MARKER_VARIABLE]: runMarker() },
    reject: false,
    stdin: 'ignore',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    detached: true,
    cleanup: false,
  });
  const group = superviseGroup(subprocess, signal);
  // Without a format check nothing needs to see the bytes: the producer's own pipe becomes
  // restic's stdin and the dump never passes through Node (2 GiB: 100 MB of cronvault's RSS
  // otherwise, BENCHMARKS.md); its size is then read from restic's summary.
  const handOver = !producer.check;
  let bytes = 0;
  const check = producer.check ? startDumpCheck(producer.check) : undefined;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (!check) return done(null, chunk);
      check.feed(chunk).then(() => done(null, chunk), done);
    },
  });
  if (!handOver) subprocess.stdout?.pipe(counter);
  return {
    stdout: handOver ? subprocess.stdout : counter,
    /**
     * Waits for the producer and for every process of its group. Called once restic has exited:
     * whatever restic did not read is dropped, so a producer still writing gets a closed pipe
     * instead of waiting forever.
     */
    finished: async (): Promise<DumpOutcome & { detail: string; rejected?: string }> => {
      subprocess.stdout?.destroy();
      counter.destroy();
      try {
        const result = await subprocess;
        const exitCode = result.signal
          ? 128 + (osConstants.signals[result.signal] ?? 0)
          : (result.exitCode ?? (result.failed ? 127 : 0));
        const rejected = await check?.finish();
        return {
          bytes: handOver ? undefined : bytes,
          exitCode,
          detail: lastLine(String(result.stderr ?? '')),
          rejected,
        };
      } finally {
        await group.settle();
      }
    },
  };
};

const lastLine = (text: string): string => text.trim().split('\n').pop() ?? '';

/** restic 0.17 runs the producer itself (`--stdin-from-command`) and fails without a snapshot when it fails. */
const runsProducerItself = async (job: JobConfig): Promise<boolean> => {
  const [major, minor] = (await resticVersion(job)).split('.').map(Number);
  return major! > 0 || minor! >= 17;
};

/**
 * restic 0.17's words for a producer that failed (internal/fs/fs_reader_command.go): "command
 * failed: exit status 3" or "command failed: signal: killed"; its stderr lines come prefixed
 * "subprocess NAME: ".
 */
const producerFailureFromStderr = (stderr: string): DumpOutcome & { detail: string } => {
  const detail = stderr
    .split('\n')
    .filter((line) => line.startsWith('subprocess '))
    .map((line) => line.replace(/^subprocess [^:]*: /, ''))
    .pop();
  const status = /command failed: exit status (\d+)/.exec(stderr);
  const signal = /command failed: signal: (\w+)/.exec(stderr);
  const exitCode = status
    ? Number(status[1])
    : signal
      ? 128 + (osConstants.signals[`SIG${signal[1]!.toUpperCase()}` as NodeJS.Signals] ?? 9)
      : undefined;
  return { exitCode, detail: detail ?? '' };
};

/**
 * restic 0.14 prints `--json` status lines 60 times a second whatever stdout is. Someone
 * watching gets 2 a second; cron, where nobody reads them, one every 10 s. A rate set in the
 * job's env or cronvault's own environment wins.
 */
const progressRate = (job: JobConfig, context: EngineContext): Record<string, string> =>
  job.env.RESTIC_PROGRESS_FPS !== undefined || process.env.RESTIC_PROGRESS_FPS !== undefined
    ? {}
    : { RESTIC_PROGRESS_FPS: context.onProgress ? '2' : '0.1' };

/** `restic backup …` for this job; with dryRun, restic's own `--dry-run` (reads, writes nothing). */
const backupArgs = (job: JobConfig, options: { dryRun?: boolean; producerArgv?: string[] } = {}): string[] => {
  const args = [
    'backup',
    ...(options.dryRun ? ['--dry-run'] : []),
    '--json',
    ...scope(job),
    ...job.tags.flatMap((tag) => ['--tag', tag]),
  ];
  for (const pattern of job.exclude) args.push('--exclude', pattern);
  args.push(...job.engineArgs);
  const fileName = job.stdinFilename ?? `${job.name}.dump`;
  if (options.producerArgv)
    args.push('--stdin-from-command', '--stdin-filename', fileName, '--', ...options.producerArgv);
  else if (job.command !== undefined) args.push('--stdin', '--stdin-filename', fileName);
  else args.push('--', job.path!);
  return args;
};

const backup = async (job: JobConfig, context: EngineContext): Promise<AttemptOutcome> => {
  // A dry run of a command job would have to run the dump itself: not a dry run any more.
  if (context.dryRun && job.command !== undefined)
    throw new CronvaultError('E_UNSUPPORTED', EXIT.usage, `a dry run does not run the command "${job.command}"`);
  if (job.command === undefined) return backupOnce(job, context);
  const producer = await prepareProducer(job);
  try {
    return await backupOnce(job, context, producer, await runsProducerItself(job));
  } finally {
    await producer.cleanup();
  }
};

const backupOnce = async (
  job: JobConfig,
  context: EngineContext,
  producer?: PreparedDump,
  fromCommand = false,
): Promise<AttemptOutcome> => {
  let summary: Record<string, unknown> | undefined;
  /** The first stdout line that is not one of restic's JSON messages, for the reason. */
  let garbage: string | undefined;
  const args = backupArgs(job, { dryRun: context.dryRun, producerArgv: fromCommand ? producer?.argv : undefined });
  const piped = producer && !fromCommand ? startProducer(job, producer, context.signal) : undefined;
  const run = await runEngine({
    binary: binaryOf(job),
    args,
    // With --stdin-from-command restic starts the producer, which inherits this environment.
    env: { ...progressRate(job, context), ...resticEnv(job), ...(fromCommand ? producer?.env : {}) },
    signal: context.signal,
    stdin: piped?.stdout ?? undefined,
    onStdoutLine: (line) => {
      const message = parseJsonLine(line);
      if (!message && garbage === undefined && line.trim() !== '') garbage = line.trim();
      // Status lines are drawn as the progress line; repeating them in --verbose output buries the rest.
      if (message?.message_type !== 'status') context.onOutput?.(line, 'stdout');
      if (message?.message_type === 'summary') summary = message;
      else if (message?.message_type === 'status' && context.onProgress) {
        context.onProgress({
          percent: Math.min(100, (progressNumber(message.percent_done) ?? 0) * 100),
          filesDone: progressNumber(message.files_done),
          totalFiles: progressNumber(message.total_files),
          bytesDone: progressNumber(message.bytes_done),
          totalBytes: progressNumber(message.total_bytes),
          secondsElapsed: progressNumber(message.seconds_elapsed),
          secondsRemaining: progressNumber(message.seconds_remaining),
        });
      }
    },
    onStderrLine: (line) => context.onOutput?.(line, 'stderr'),
  }).catch(async (error: unknown) => {
    await piped?.finished();
    throw error;
  });
  if (!producer) return judgeBackup(run, summary, garbage, context);
  const snapshotId = summary && readSummary(summary).stats.snapshotId;
  // A handed-over stream's size: restic's summary says it, and an empty one is restic's
  // "snapshot is empty" (exit 1, no summary).
  const summaryBytes =
    (summary && readSummary(summary).stats.bytesProcessed) ??
    (/snapshot is empty/.test(run.stderrTail) ? 0 : undefined);
  const finished = piped && (await piped.finished());
  const dump = finished
    ? { ...finished, bytes: finished.bytes ?? summaryBytes }
    : {
        ...producerFailureFromStderr(run.stderrTail),
        bytes: summaryBytes,
      };
  if (fromCommand && dump.exitCode === undefined && run.exitCode === 0) dump.exitCode = 0;
  // A producer that exited 0 with a stream its own format's reader rejects still failed.
  const rejected = 'rejected' in dump ? dump.rejected : undefined;
  const failed = (dump.exitCode !== undefined && dump.exitCode !== 0) || dump.bytes === 0 || rejected !== undefined;
  // restic failed on its own (a lock, a network error) while the producer wrote into the pipe,
  // which then died of the closed pipe (SIGPIPE, or EPIPE and exit 1): restic's failure is the cause.
  if (piped && !snapshotId && run.exitCode !== 0 && (dump.bytes === undefined || dump.bytes > 0))
    return { ...judgeBackup(run, summary, garbage, context), dump: { bytes: dump.bytes, exitCode: dump.exitCode } };
  if (!failed) {
    const outcome = judgeBackup(run, summary, garbage, context);
    return { ...outcome, dump: { bytes: dump.bytes, exitCode: dump.exitCode } };
  }
  // restic < 0.17 cannot see the producer fail and stores a truncated dump, and every version
  // stores an empty one: remove that snapshot so it never becomes the newest one to restore.
  if (snapshotId) await runEngine({ binary: binaryOf(job), args: ['forget', snapshotId], env: resticEnv(job) });
  const what =
    dump.exitCode !== undefined && dump.exitCode !== 0
      ? `failed with exit ${dump.exitCode}`
      : dump.bytes === 0
        ? 'wrote nothing'
        : `wrote ${dump.bytes} bytes that are not a dump: ${rejected}`;
  return {
    kind: 'transient',
    exitCode: run.exitCode === 0 ? 1 : run.exitCode,
    reason: `command "${job.command}" ${what}${dump.detail ? `: ${redactText(dump.detail).slice(0, 200)}` : ''}${snapshotId ? '; its partial snapshot was removed' : '; no snapshot was made'}`,
    dump: { bytes: dump.bytes, exitCode: dump.exitCode },
  };
};

/**
 * The outcome of a finished `restic backup --json`, from its exit code and what it printed.
 *
 * - exit 0 or 3 without a summary line: restic prints one on every completed backup (with
 *   --quiet too), so its absence means cronvault cannot confirm a snapshot exists. That counts
 *   as a failed run, not "success with no stats": a false failure costs a look, a false success
 *   hides a missing backup from every alert. It is not retried, since if restic did make a
 *   snapshot a retry would add a duplicate.
 * - a summary with unusable fields: restic got to the end, so the run succeeds with a warning
 *   naming the fields, and only the valid numbers are recorded.
 * - an exit code restic does not define, after a summary with a snapshot id: failed, not
 *   retried (the snapshot exists). Without a summary it is retried like any exit 1.
 */
const judgeBackup = (
  run: EngineRun,
  summary: Record<string, unknown> | undefined,
  garbage: string | undefined,
  context: EngineContext,
): AttemptOutcome => {
  const read = summary && readSummary(summary);
  if (run.spawnError) return failureFromRun(run);
  if (run.exitCode !== 0 && run.exitCode !== 3) {
    const failure = failureFromRun(run);
    if (EXIT_CODES[run.exitCode] === undefined && read?.stats.snapshotId) {
      return {
        ...failure,
        kind: 'permanent',
        reason: `${failure.reason}; restic had reported snapshot ${read.stats.snapshotId}, so it is not retried (a retry would duplicate it)`,
      };
    }
    return failure;
  }
  if (!read) {
    const output =
      garbage === undefined
        ? 'printed nothing on standard output'
        : `printed ${quote(redactText(garbage))} instead of its JSON`;
    return {
      kind: 'permanent',
      exitCode: run.exitCode,
      reason: `restic exited ${run.exitCode} but ${output} and no backup summary, so the snapshot cannot be confirmed; counted as failed and not retried (check the restic binary or wrapper)`,
    };
  }
  const outcome = classifyResticFailure(run.exitCode, run.stderrTail);
  // restic's dry-run summary names a snapshot it did not save.
  if (context.dryRun) delete read.stats.snapshotId;
  if (read.problems.length === 0) return { ...outcome, stats: read.stats };
  const reason = `restic's backup summary is malformed (${read.problems.join('; ')}); those numbers are not recorded`;
  context.warn?.(reason);
  return {
    kind: 'warning',
    exitCode: run.exitCode,
    reason: outcome.kind === 'warning' ? `${outcome.reason}; ${reason}` : reason,
    stats: read.stats,
  };
};

/** The probe's answer for each cause; anything else is an error to read. */
const PROBE_STATES: Partial<Record<ResticCause, RepositoryState>> = {
  missing: 'missing',
  'wrong-password': 'wrong-password',
  unreachable: 'unreachable',
  network: 'unreachable',
};

/** `restic cat config`: the cheapest command that needs the repository and its password. */
const probeRepository = async (job: JobConfig): Promise<RepositoryProbe> => {
  const run = await runEngineCollect({ binary: binaryOf(job), args: ['cat', 'config'], env: resticEnv(job) });
  if (!run.spawnError && run.exitCode === 0) return { state: 'ok', message: 'repository answers' };
  const cause = run.spawnError ? undefined : resticCause(run.exitCode, run.stderrTail);
  return { state: (cause && PROBE_STATES[cause]) ?? 'error', message: failureFromRun(run).reason };
};

const ensureRepository = async (job: JobConfig, context: EngineContext): Promise<void> => {
  if (!job.init) return;
  if ((await probeRepository(job)).state !== 'missing') return;
  context.warn?.(`repository does not exist yet; creating it (init: true)`);
  const run = await runEngineCollect({
    binary: binaryOf(job),
    args: ['init'],
    env: resticEnv(job),
    signal: context.signal,
  });
  if (run.exitCode !== 0) {
    throw new CronvaultError(
      'E_INIT',
      EXIT.backupFailed,
      `restic init failed (exit ${run.exitCode}): ${run.stderrTail.trim().split('\n').pop() ?? ''}`,
    );
  }
};

const applyRetention = async (
  job: JobConfig,
  policy: RetentionPolicy,
  options: RetentionOptions,
  context: EngineContext,
): Promise<RetentionOutcome> => {
  if (policy.kind === 'none') return { kind: 'skipped', exitCode: 0, removed: 0, reason: 'retention disabled' };
  const translation = toResticForgetArgs(policy, {
    resticVersion: await resticVersion(job),
    rounding: job.retentionRounding,
  });
  for (const warning of translation.warnings) context.warn?.(warning);
  if (translation.keepAll) return { kind: 'skipped', exitCode: 0, removed: 0, reason: 'policy keeps every snapshot' };
  const base = ['forget', ...ownSnapshots(job), '--group-by', 'host,tags', ...translation.args];
  // forget takes an exclusive lock: another host's backup into the same repository makes it
  // fail for a while, so it gets the same retries as the backup did.
  const retried = async (args: string[]) => {
    let last: (EngineRun & { stdout: string }) | undefined;
    await runWithRetries(
      async () => {
        last = await runEngineCollect({ binary: binaryOf(job), args, env: resticEnv(job), signal: context.signal });
        return last.exitCode === 0 ? { kind: 'success', exitCode: 0, reason: 'ok' } : failureFromRun(last);
      },
      job.retry,
      {
        signal: context.signal,
        onRetry: (outcome, next, delay) =>
          context.warn?.(
            `retention: attempt ${next}/${job.retry.attempts} in ${formatDuration(delay)}: ${outcome.reason}`,
          ),
      },
    );
    return last!;
  };
  const dryRun = await retried([...base, '--dry-run', '--json']);
  if (dryRun.exitCode !== 0)
    return {
      kind: 'failed',
      exitCode: dryRun.exitCode,
      removed: 0,
      reason: `dry run failed: ${failureFromRun(dryRun).reason}`,
    };
  let groups: ForgetGroup[];
  try {
    groups = (JSON.parse(dryRun.stdout || '[]') as ForgetGroup[] | null) ?? [];
  } catch {
    return {
      kind: 'failed',
      exitCode: dryRun.exitCode,
      removed: 0,
      reason: 'could not read restic forget --dry-run --json output',
    };
  }
  const verdict = retentionVerdict(groups, job.retentionMaxDelete, options.force);
  if (verdict.kind !== 'proceed') return verdict.outcome;
  const { removed, kept } = verdict;
  const total = removed + kept;
  if (options.dryRun) {
    const ids = groups
      .flatMap((group) => (group.remove ?? []) as { id?: string; short_id?: string }[])
      .map((s) => s.short_id ?? s.id?.slice(0, 8) ?? '?');
    return {
      kind: 'success',
      exitCode: 0,
      removed,
      kept,
      wouldRemove: ids,
      reason: `dry run: would remove ${removed}`,
    };
  }
  // Only forget: prune takes the repository's exclusive lock for long, and a repository shared
  // by many hosts is pruned by one of them on its own schedule (`cronvault prune`).
  const run = await retried(base);
  if (run.exitCode !== 0)
    return { kind: 'failed', exitCode: run.exitCode, removed: 0, kept: total, reason: failureFromRun(run).reason };
  return {
    kind: 'success',
    exitCode: 0,
    removed,
    kept,
    reason: `removed ${removed} snapshot${removed === 1 ? '' : 's'}, kept ${kept}`,
  };
};

/** `restic snapshots --json` with these filters, as Snapshots. */
const listSnapshots = async (job: JobConfig, filters: string[], context: EngineContext): Promise<Snapshot[]> => {
  const run = await runEngineCollect({
    binary: binaryOf(job),
    args: ['snapshots', '--json', ...filters],
    env: resticEnv(job),
    signal: context.signal,
  });
  if (run.exitCode !== 0)
    throw new CronvaultError(
      'E_SNAPSHOTS',
      EXIT.backupFailed,
      `restic snapshots failed: ${failureFromRun(run).reason}`,
    );
  const list = (JSON.parse(run.stdout || '[]') ?? []) as {
    id: string;
    short_id?: string;
    time: string;
    hostname: string;
    paths?: string[];
    tags?: string[];
  }[];
  return list.map((s) => ({
    id: s.short_id ?? s.id.slice(0, 8),
    time: s.time,
    hostname: s.hostname,
    paths: s.paths ?? [],
    tags: s.tags ?? [],
  }));
};

const snapshots = (job: JobConfig, context: EngineContext): Promise<Snapshot[]> =>
  listSnapshots(job, ownSnapshots(job), context);

/** `--read-data-subset` for a share of the pack data ("5%") or one part of a rotation ("3/12"). */
const readDataArgs = (readData: ReadDataRequest): string[] =>
  readData.kind === 'percent'
    ? ['--read-data-subset', `${readData.percent}%`]
    : readData.kind === 'part'
      ? ['--read-data-subset', `${readData.n}/${readData.of}`]
      : [];

/** restic check's lines that name damage ("Pack ID does not match", "error for tree …"). */
const CHECK_DAMAGE = /error|does not match|damaged|invalid|not found|missing|unreferenced|Fatal/i;
const CHECK_DAMAGE_LINES = 20;

/**
 * `restic check`, with `--read-data-subset` when pack data is to be read. It checks the whole
 * repository (restic cannot check one job's part); a lock, a wrong password or a missing
 * repository is said as such, damage with restic's own lines.
 */
const checkRepository = async (
  job: JobConfig,
  readData: ReadDataRequest,
  context: EngineContext,
): Promise<RepositoryCheck> => {
  const damage: string[] = [];
  const keep = (line: string, stream: 'stdout' | 'stderr') => {
    context.onOutput?.(line, stream);
    if (damage.length < CHECK_DAMAGE_LINES && CHECK_DAMAGE.test(line) && !/no errors were found/i.test(line))
      damage.push(redactText(line.trim()));
  };
  const args = ['check', ...readDataArgs(readData)];
  const run = await runEngine({
    binary: binaryOf(job),
    args,
    env: resticEnv(job),
    signal: context.signal,
    onStdoutLine: (line) => keep(line, 'stdout'),
    onStderrLine: (line) => keep(line, 'stderr'),
  });
  const what = `restic ${args.join(' ')}`;
  if (run.exitCode === 0 && !run.spawnError) return { ok: true, reason: `${what}: no errors found` };
  if (run.spawnError || run.killedBy) return { ok: false, reason: `${what}: ${failureFromRun(run).reason}` };
  const cause = resticCause(run.exitCode, run.stderrTail);
  if (cause === 'wrong-password' || cause === 'locked' || cause === 'missing' || cause === 'unreachable')
    return { ok: false, reason: `${what}: ${CAUSES[cause].reason}`, transient: CAUSES[cause].kind === 'transient' };
  const lines = damage.filter((line) => !/^Fatal: repository contains errors$/i.test(line));
  return {
    ok: false,
    reason: `${what} found the repository damaged (exit ${run.exitCode}): ${(lines.length ? lines : damage).slice(0, 5).join('; ').slice(0, 800)}`,
  };
};

/** restic's RFC 3339 time with nanoseconds ("2026-12-07T20:48:37.098951925Z") in nanoseconds. */
const nanosecondsOf = (time: string): bigint | undefined => {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  const ms = match ? Date.parse(`${match[1]}${match[3]}`) : Number.NaN;
  if (!match || !Number.isFinite(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0').slice(0, 9));
};

/** `restic ls --json`: every regular file of the snapshot, with its size and mtime. */
const listSnapshotFiles = async (job: JobConfig, snapshot: string, context: EngineContext): Promise<SnapshotFile[]> => {
  const files: SnapshotFile[] = [];
  const run = await runEngine({
    binary: binaryOf(job),
    args: ['ls', '--json', snapshot],
    env: resticEnv(job),
    signal: context.signal,
    onStdoutLine: (line) => {
      const node = parseJsonLine(line);
      if (node?.struct_type !== 'node' || node.type !== 'file') return;
      const mtimeNs = typeof node.mtime === 'string' ? nanosecondsOf(node.mtime) : undefined;
      if (typeof node.path === 'string' && typeof node.size === 'number' && mtimeNs !== undefined)
        files.push({ path: node.path, size: node.size, mtimeNs });
    },
  });
  if (run.exitCode !== 0)
    throw new CronvaultError('E_VERIFY', EXIT.backupFailed, `restic ls failed: ${failureFromRun(run).reason}`);
  return files;
};

const dumpFile = async (
  job: JobConfig,
  snapshot: string,
  path: string,
  to: NodeJS.WritableStream,
  context: EngineContext,
): Promise<void> => {
  const run = await runEngine({
    binary: binaryOf(job),
    args: ['dump', snapshot, path],
    env: resticEnv(job),
    signal: context.signal,
    stdoutTo: to,
  });
  if (run.exitCode !== 0)
    throw new CronvaultError(
      'E_VERIFY',
      EXIT.backupFailed,
      `restic dump ${path} failed: ${failureFromRun(run).reason}`,
    );
};

/** Snapshots with the job's host and tag but another path: a path edited since, out of retention's reach. */
const orphanedSnapshots = async (
  job: JobConfig,
  context: EngineContext,
): Promise<{ snapshots: Snapshot[]; forget: string }> => {
  if (job.path === undefined) return { snapshots: [], forget: '' };
  const orphaned = (await listSnapshots(job, scope(job), context)).filter((s) => !s.paths.includes(job.path!));
  const forget = orphaned.length
    ? `restic -r ${redactRepository(job.repository)} forget --prune ${orphaned.map((s) => s.id).join(' ')}`
    : '';
  return { snapshots: orphaned, forget };
};

/** A repository on a local disk: a plain absolute path or `local:/path`; other backends are remote. */
const localRepositoryPath = (repository: string): string | undefined => {
  const path = repository.startsWith('local:') ? repository.slice('local:'.length) : repository;
  return path.startsWith('/') ? path : undefined;
};

/** The local repository, and restic's cache: RESTIC_CACHE_DIR, else $XDG_CACHE_HOME/restic, else ~/.cache/restic. */
const writablePaths = (job: JobConfig, home: string): string[] => {
  const repository = localRepositoryPath(job.repository);
  const cache =
    job.env.RESTIC_CACHE_DIR ?? (job.env.XDG_CACHE_HOME ? `${job.env.XDG_CACHE_HOME}/restic` : `${home}/.cache/restic`);
  return [...(repository ? [repository] : []), cache];
};

/** restic's prune summary size ("801 B", "1.234 GiB") in bytes. */
const UNITS: Record<string, number> = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };

/** The bytes `restic prune` frees, from its "total prune: N blobs / SIZE" line (0.12 and later). */
export const parsePruneRemovedBytes = (output: string): number | undefined => {
  const match = /^total prune:\s+\d+ blobs \/ ([\d.]+) (B|KiB|MiB|GiB|TiB)\s*$/m.exec(output);
  return match ? Math.round(Number(match[1]) * UNITS[match[2]!]!) : undefined;
};

/** From 0.16 restic waits for a lock itself (`--retry-lock`); before, cronvault retries. */
const waitsForLocks = (version: string): boolean => {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 0 || minor >= 16;
};

/**
 * `restic prune` for the whole repository. Another host's backup holds a shared lock that
 * prune's exclusive one must wait for: restic 0.16+ is told to wait (`--retry-lock`, as long as
 * the job's retries would), older versions are retried by cronvault on "already locked".
 */
const pruneRepository: NonNullable<Backend['pruneRepository']> = async (job, options, context) => {
  const version = await resticVersion(job);
  const lockWait = waitsForLocks(version)
    ? ['--retry-lock', `${Math.ceil((job.retry.attempts * job.retry.maxDelayMs) / 1000)}s`]
    : [];
  const args = ['prune', ...lockWait, ...(options.dryRun ? ['--dry-run'] : [])];
  let last: (EngineRun & { stdout: string }) | undefined;
  const { outcome, attempts } = await runWithRetries(
    async () => {
      last = await runEngineCollect({
        binary: binaryOf(job),
        args,
        env: resticEnv(job),
        signal: context.signal,
        onStderrLine: (line) => context.onOutput?.(line, 'stderr'),
      });
      if (last.exitCode === 0 && !last.spawnError) return { kind: 'success', exitCode: 0, reason: 'pruned' };
      const failure = failureFromRun(last);
      // restic has already waited for the lock as long as the retries would.
      return lockWait.length > 0 && failure.reason === LOCKED_REASON ? { ...failure, kind: 'permanent' } : failure;
    },
    job.retry,
    {
      signal: context.signal,
      onRetry: (failed, next, delay) =>
        context.warn?.(`prune: attempt ${next}/${job.retry.attempts} in ${formatDuration(delay)}: ${failed.reason}`),
    },
  );
  const removedBytes = last ? parsePruneRemovedBytes(last.stdout) : undefined;
  if (outcome.kind === 'success')
    return {
      kind: 'success',
      exitCode: 0,
      attempts,
      removedBytes,
      reason: options.dryRun ? 'dry run: nothing changed' : 'pruned',
    };
  return { kind: 'failed', exitCode: outcome.exitCode, attempts, reason: outcome.reason };
};

export const restic = {
  engine: 'restic',
  writablePaths,
  async ensureInstalled(job) {
    return { version: await resticVersion(job) };
  },
  dryRunSupported: true,
  backupCommand: (job, options) => [binaryOf(job), ...backupArgs(job, options)],
  ensureRepository,
  backup,
  applyRetention,
  pruneRepository,
  snapshots,
  async restore(job, request, context) {
    const env = resticEnv(job);
    if (request.toStdout) {
      const run = await runEngine({
        binary: binaryOf(job),
        args: [
          'dump',
          ...scope(job),
          request.snapshot,
          `/${(job.stdinFilename ?? request.include?.[0] ?? '').replace(/^\/+/, '')}`,
        ],
        env,
        signal: context.signal,
        stdoutTo: request.stdoutTo ?? process.stdout,
      });
      if (run.exitCode !== 0)
        throw new CronvaultError('E_RESTORE', EXIT.backupFailed, `restic dump failed: ${failureFromRun(run).reason}`);
      return;
    }
    const args = [
      'restore',
      request.snapshot,
      ...scope(job),
      '--target',
      request.target!,
      ...(request.verify ? ['--verify'] : []),
    ];
    for (const path of request.include ?? []) args.push('--include', path);
    const run = await runEngine({
      binary: binaryOf(job),
      args,
      env,
      signal: context.signal,
      onStdoutLine: (l) => context.onOutput?.(l, 'stdout'),
      onStderrLine: (l) => context.onOutput?.(l, 'stderr'),
    });
    if (run.exitCode !== 0)
      throw new CronvaultError('E_RESTORE', EXIT.backupFailed, `restic restore failed: ${failureFromRun(run).reason}`);
  },
  describeExitCode: (code) => EXIT_CODES[code]?.meaning ?? unknownExitCode(code),
  checkRepository,
  listSnapshotFiles,
  dumpFile,
  orphanedSnapshots,
  async clearStaleLocks(job, context, after) {
    // The reason may be prefixed ("dry run failed: …") but always ends in restic's own words.
    if (after && !after.reason.endsWith(LOCKED_REASON)) return false;
    // `restic unlock` (without --remove-all) removes only stale locks: those of dead processes
    // on this host, or not refreshed for 30 minutes. A live lock, here or elsewhere, stays.
    const run = await runEngineCollect({
      binary: binaryOf(job),
      args: ['unlock'],
      env: resticEnv(job),
      signal: context.signal,
    });
    if (run.exitCode !== 0) {
      context.warn?.(`restic unlock failed: ${failureFromRun(run).reason}`);
      return false;
    }
    return true;
  },
  async probeRepository(job) {
    const probe = await probeRepository(job);
    return probe.state === 'ok'
      ? probe
      : { ...probe, message: `${probe.message} (repository ${redactRepository(job.repository)})` };
  },
} satisfies Backend;
