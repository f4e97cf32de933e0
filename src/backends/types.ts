// The one small shape every engine adapter fits. Engine knowledge (argv, exit codes, output
// formats, version quirks) lives only in the adapter files beside this one.
import type { EngineName, JobConfig } from '../config.ts';
import type { RetentionPolicy } from '../retention/index.ts';

/** How one engine attempt ended, in the wrapper's terms. */
export type AttemptKind = 'success' | 'warning' | 'transient' | 'permanent';

export interface BackupStats {
  filesNew?: number;
  filesChanged?: number;
  filesProcessed?: number;
  bytesProcessed?: number;
  bytesAdded?: number;
  snapshotId?: string;
}

export interface AttemptOutcome {
  kind: AttemptKind;
  /** Raw exit code of the engine, or -1 when it never ran. */
  exitCode: number;
  /** The cause in words, for logs and metrics descriptions. */
  reason: string;
  stats?: BackupStats;
  /** For stream jobs (command, database preset): what the producer did on this attempt. */
  dump?: DumpOutcome;
}

export interface DumpOutcome {
  /** Bytes of the dump stream; undefined when the engine ran the producer and said nothing. */
  bytes?: number;
  /** The producer's exit code (128 + signal number when killed); undefined when unknown. */
  exitCode?: number;
}

export interface Progress {
  percent: number;
  filesDone?: number;
  totalFiles?: number;
  bytesDone?: number;
  totalBytes?: number;
  secondsElapsed?: number;
  secondsRemaining?: number;
}

export interface EngineContext {
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Every line the engine prints, for --verbose. */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  warn?: (message: string) => void;
  /** backup: ask the engine what it would add, storing nothing (only where dryRunSupported). */
  dryRun?: boolean;
}

export interface RetentionOutcome {
  kind: 'success' | 'refused' | 'failed' | 'skipped';
  exitCode: number;
  removed: number;
  kept?: number;
  /** With RetentionOptions.dryRun: the snapshots (short ids) that would be removed. */
  wouldRemove?: string[];
  reason: string;
}

export interface RetentionOptions {
  force: boolean;
  dryRun?: boolean;
}

/** How a repository prune (restic prune, borg compact) ended, after any retries. */
export interface PruneOutcome {
  kind: 'success' | 'failed';
  /** The engine's last exit code; -1 when it never ran. */
  exitCode: number;
  reason: string;
  attempts: number;
  /** Bytes the prune freed (or with dryRun would free), when the engine says. */
  removedBytes?: number;
}

export interface Snapshot {
  id: string;
  time: string;
  hostname: string;
  paths: string[];
  tags: string[];
}

interface RestoreRequest {
  snapshot: string;
  target?: string;
  include?: string[];
  toStdout?: boolean;
  /** Have the engine read the restored files back and compare them with the snapshot (restic --verify). */
  verify?: boolean;
  /** With toStdout: where the stream goes instead of cronvault's stdout (restore --into-database). */
  stdoutTo?: NodeJS.WritableStream;
}

/** One regular file in a snapshot, for a restore drill's sample. */
export interface SnapshotFile {
  /** Absolute path in the snapshot (for a path job, where it lies in the source too). */
  path: string;
  size: number;
  /** Modification time in nanoseconds since the epoch, as the snapshot recorded it. */
  mtimeNs: bigint;
}

/** How much pack data a repository check reads besides the structure. */
export type ReadDataRequest =
  | { kind: 'none' }
  | { kind: 'percent'; percent: number }
  | { kind: 'part'; n: number; of: number };

export interface RepositoryCheck {
  ok: boolean;
  /** Failed for a passing reason (locked by another host's backup, server unreachable): worth retrying. */
  transient?: boolean;
  /** In words: "no errors found", or the engine's own lines naming what is damaged. */
  reason: string;
  /**
   * Where the check is the restore drill too (duplicati-cli test downloads and compares sample
   * volumes; the engine has no listSnapshotFiles/dumpFile): the files it examined.
   */
  filesChecked?: number;
}

/**
 * What a repository probe found. `unprobed`: the engine has no cheap probe (duplicati-cli), so
 * nothing is known until the first backup.
 */
export type RepositoryState = 'ok' | 'missing' | 'wrong-password' | 'unreachable' | 'error' | 'unprobed';

export interface RepositoryProbe {
  state: RepositoryState;
  message: string;
}

export interface Backend {
  readonly engine: EngineName;
  /**
   * Throws E_ENGINE_MISSING when the engine is not installed; otherwise its version, when the
   * engine can tell it cheaply.
   */
  ensureInstalled(job: JobConfig): Promise<{ version?: string }>;
  /** Creates the repository when `init: true` and it does not exist yet. */
  ensureRepository(job: JobConfig, context: EngineContext): Promise<void>;
  backup(job: JobConfig, context: EngineContext): Promise<AttemptOutcome>;
  /** The argv (engine binary first) a backup of this job runs; secrets are never on it. */
  backupCommand(job: JobConfig, options?: { dryRun?: boolean }): string[];
  /** Whether backup() honours context.dryRun with the engine's own dry run. */
  readonly dryRunSupported: boolean;
  /** Applies retention to this job's own snapshots on this host only. */
  applyRetention(
    job: JobConfig,
    policy: RetentionPolicy,
    options: RetentionOptions,
    context: EngineContext,
  ): Promise<RetentionOutcome>;
  snapshots(job: JobConfig, context: EngineContext): Promise<Snapshot[]>;
  restore(job: JobConfig, request: RestoreRequest, context: EngineContext): Promise<void>;
  /** Exit code in words ("wrong password", "success, nothing changed"). */
  describeExitCode(code: number): string;
  /** Whether the repository answers, and if not, why; the message is for people only. */
  probeRepository(job: JobConfig): Promise<RepositoryProbe>;
  /**
   * Directories outside state_dir the engine writes to (a local repository, its cache), for a
   * sandbox that makes everything else read-only; `home` is the home of the user it runs as.
   */
  writablePaths?(job: JobConfig, home: string): string[];
  /**
   * Removes the repository locks of engine processes that no longer run (never a live lock).
   * With `after`, only when that failed attempt was stopped by a lock. True when it ran.
   */
  clearStaleLocks?(job: JobConfig, context: EngineContext, after?: AttemptOutcome): Promise<boolean>;
  /**
   * `cronvault verify`, part 1: the repository's integrity (restic check), reading `readData`
   * of the pack data; for duplicati (duplicati-cli test) it is the drill as well. Absent where
   * the engine has no verify support yet (borg).
   */
  checkRepository?(job: JobConfig, readData: ReadDataRequest, context: EngineContext): Promise<RepositoryCheck>;
  /** The regular files of one of the job's snapshots, for a restore drill's sample. */
  listSnapshotFiles?(job: JobConfig, snapshot: string, context: EngineContext): Promise<SnapshotFile[]>;
  /** Streams one file of a snapshot (its own record of the content) into `to`, left open. */
  dumpFile?(
    job: JobConfig,
    snapshot: string,
    path: string,
    to: NodeJS.WritableStream,
    context: EngineContext,
  ): Promise<void>;
  /**
   * The job's snapshots on this host that retention no longer reaches because the job's path
   * changed since (retention filters by path); each with the command that forgets them.
   */
  orphanedSnapshots?(job: JobConfig, context: EngineContext): Promise<{ snapshots: Snapshot[]; forget: string }>;
  /**
   * Frees the space of data no snapshot uses any more, for the whole repository (restic prune,
   * borg compact), waiting out other hosts' locks. Absent for engines that do it themselves.
   * `job` is any job of the repository: its URL, password, binary and retry policy are used.
   */
  pruneRepository?(job: JobConfig, options: { dryRun?: boolean }, context: EngineContext): Promise<PruneOutcome>;
}
