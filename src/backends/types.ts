// The one small shape every engine adapter fits. Engine knowledge (argv, exit codes, output
// formats, version quirks) lives only in the adapter files beside this one.
import type { JobConfig, EngineName } from '../config.ts';
import type { RetentionPolicy } from '../retention.ts';

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
}

export interface RetentionOutcome {
  kind: 'success' | 'refused' | 'failed' | 'skipped';
  exitCode: number;
  removed: number;
  kept?: number;
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

export interface RestoreRequest {
  snapshot: string;
  target?: string;
  include?: string[];
  toStdout?: boolean;
}

export interface Backend {
  readonly engine: EngineName;
  /** The engine's version, asked of the installed binary; throws when it is missing. */
  version(job: JobConfig): Promise<string>;
  /** Creates the repository when `init: true` and it does not exist yet. */
  ensureRepository(job: JobConfig, context: EngineContext): Promise<void>;
  backup(job: JobConfig, context: EngineContext): Promise<AttemptOutcome>;
  /** Applies retention to this job's own snapshots on this host only. */
  applyRetention(job: JobConfig, policy: RetentionPolicy, options: RetentionOptions, context: EngineContext): Promise<RetentionOutcome>;
  snapshots(job: JobConfig, context: EngineContext): Promise<Snapshot[]>;
  restore(job: JobConfig, request: RestoreRequest, context: EngineContext): Promise<void>;
  /** Exit code in words ("wrong password", "success, nothing changed"). */
  describeExitCode(code: number): string;
  /** Whether the repository answers; a message with the fix when not. */
  probeRepository(job: JobConfig): Promise<{ ok: boolean; message: string }>;
  /**
   * Removes the repository locks of engine processes that no longer run (never a live lock).
   * With `after`, only when that failed attempt was stopped by a lock. True when it ran.
   */
  clearStaleLocks?(job: JobConfig, context: EngineContext, after?: AttemptOutcome): Promise<boolean>;
}
