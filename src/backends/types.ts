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
  /** With toStdout: where the stream goes instead of cronvault's stdout (restore --into-database). */
  stdoutTo?: NodeJS.WritableStream;
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
}
