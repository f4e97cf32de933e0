// What one run leaves behind: the job's metrics (running, then final, or reset when the run
// crashes), its saved state and a history line. The wrapper says what happened; this module
// decides how it is written down, the way borgmatic's monitoring hooks see start, finish, fail.
import type { AttemptOutcome, RetentionOutcome } from './backends/types.ts';
import type { JobConfig } from './config.ts';
import { UsageError } from './errors.ts';
import type { HookFailure } from './hooks.ts';
import type { Logger } from './log.ts';
import { type JobMetrics, pushJobMetrics, writeJobMetrics } from './metrics.ts';
import type { RetriedOutcome } from './retry.ts';
import { appendHistory, type JobState, type RunOutcomeName, readJobState, writeJobState } from './state.ts';

/** Unix time in whole seconds, as every timestamp metric and history entry holds it. */
const unixSeconds = (ms: number): number => Math.floor(ms / 1000);

/** A duration in seconds with millisecond precision. */
const durationSeconds = (ms: number): number => Math.round(ms) / 1000;

export const succeeded = (outcome: AttemptOutcome): boolean => outcome.kind === 'success' || outcome.kind === 'warning';

const outcomeName = (outcome: AttemptOutcome): RunOutcomeName =>
  outcome.kind === 'warning' ? 'warning' : succeeded(outcome) ? 'success' : 'failed';

/** What a path job or a command job backs up; two jobs with one name must not share a record. */
const sourceOf = (job: JobConfig): string => job.path ?? `command:${job.command}`;

/**
 * A run that never started because another run of the job holds its lock. The running job's
 * metrics stay as they are (it is still running, and BackupStuck watches it); the skipped run
 * is recorded in the history, where `cronvault history` shows it.
 */
export const recordSkippedRun = async (job: JobConfig, reason: string, atMs: number): Promise<void> => {
  const at = unixSeconds(atMs);
  await appendHistory(
    job.stateDir,
    job.name,
    { start: at, end: at, durationSeconds: 0, outcome: 'skipped', exitCode: -1, attempts: 0, reason },
    job.historyKeep,
  ).catch(() => undefined);
};

/** A finished run as the wrapper reports it. */
export interface RecordedRun {
  outcome: RunOutcomeName;
  durationSeconds: number;
  /** Wall time of the run in milliseconds, for the summary line. */
  elapsedMs: number;
  /** False when a metrics write failed: the run exits non-zero. */
  metricsWritten: boolean;
}

export class RunRecorder {
  private readonly metrics: JobMetrics;
  private readonly startMs: number;

  private constructor(
    private readonly job: JobConfig,
    private readonly log: Logger,
    private readonly now: () => number,
    previous: JobState | undefined,
  ) {
    this.startMs = now();
    // Carried over from the last run: what this one does not change (last success, retention).
    // The state's `source` rides along unused: metrics render only their own keys.
    this.metrics = {
      ...previous,
      lastSuccess: previous?.lastSuccess ?? 0,
      lastRunStart: unixSeconds(this.startMs),
      running: true,
    };
  }

  /**
   * Reads what the last run left and announces this one as running. A job run by flags throws
   * E_JOB_COLLISION when its derived name already belongs to another source: two paths can
   * derive the same name (/x/a_b and /x/a/b), and they must not share a lock, metrics, state and
   * a retention scope. A job named in a config keeps its name when its path or command changes.
   */
  static async begin(job: JobConfig, log: Logger, now: () => number): Promise<RunRecorder> {
    const previous = await readJobState(job.stateDir, job.name);
    const source = sourceOf(job);
    if (previous?.source !== undefined && previous.source !== source && job.declaredBy === 'config') {
      log.warn(
        `job ${job.name} now backs up ${source} (was ${previous.source}); snapshots of the old source are kept and no longer pruned by this job's retention`,
      );
    } else if (previous?.source !== undefined && previous.source !== source) {
      throw new UsageError(
        'E_JOB_COLLISION',
        `job name ${job.name} already belongs to ${previous.source}, not ${source}; name this job explicitly in a config file`,
      );
    }
    const recorder = new RunRecorder(job, log, now, previous);
    await recorder.writeMetrics();
    return recorder;
  }

  /** Retention metrics for a retention run that did something; a skipped one leaves the last one's. */
  private recordRetention(retention: RetentionOutcome | undefined): void {
    if (retention === undefined || retention.kind === 'skipped') return;
    this.metrics.retentionSuccess = retention.kind === 'success';
    this.metrics.retentionTimestamp = unixSeconds(this.now());
    this.metrics.retentionRemoved = retention.removed;
    this.metrics.retentionExitCode = retention.exitCode;
    if (retention.kept !== undefined) this.metrics.snapshots = retention.kept;
  }

  /**
   * The final metrics, the saved state and the history line of a run that ran to its end.
   * `hookFailures` is undefined for a job without hooks: it then has no hook series.
   */
  async finish(
    { outcome, attempts }: RetriedOutcome,
    retention: RetentionOutcome | undefined,
    hookFailures?: HookFailure[],
  ): Promise<RecordedRun> {
    this.recordRetention(retention);
    if (hookFailures === undefined) delete this.metrics.lastHookFailure;
    else this.metrics.lastHookFailure = Object.fromEntries(hookFailures.map((failure) => [failure.phase, true]));
    const endMs = this.now();
    const elapsedMs = endMs - this.startMs;
    const end = unixSeconds(endMs);
    const duration = durationSeconds(elapsedMs);
    const ok = succeeded(outcome);
    Object.assign(this.metrics, {
      running: false,
      lastRunEnd: end,
      lastRunDuration: duration,
      lastExitCode: outcome.exitCode,
      lastRunSuccess: ok,
      lastRunWarnings: outcome.kind === 'warning',
      lastRunAttempts: attempts,
    } satisfies Partial<JobMetrics>);
    const stats = outcome.stats ?? {};
    // A stream job's producer, failed or not: a 0-byte or failed dump is what the alert is about.
    if (outcome.dump) {
      this.metrics.dumpBytes = outcome.dump.bytes;
      this.metrics.dumpExitCode = outcome.dump.exitCode;
    }
    if (ok) {
      // A failed run keeps the last good run's numbers: they describe the newest snapshot.
      this.metrics.lastSuccess = end;
      Object.assign(this.metrics, {
        filesNew: stats.filesNew,
        filesChanged: stats.filesChanged,
        filesProcessed: stats.filesProcessed,
        bytesProcessed: stats.bytesProcessed,
        bytesAdded: stats.bytesAdded,
      } satisfies Partial<JobMetrics>);
    }
    await this.writeMetrics();
    const { job } = this;
    await writeJobState(job.stateDir, job.name, {
      ...this.metrics,
      source: sourceOf(job),
      // Set or cleared by every finished run: the carried-over metrics may hold the last run's.
      lastHookFailures: hookFailures?.length ? hookFailures : undefined,
    }).catch(this.reportFailure('save state'));
    const name = outcomeName(outcome);
    await appendHistory(
      job.stateDir,
      job.name,
      {
        start: unixSeconds(this.startMs),
        end,
        durationSeconds: duration,
        outcome: name,
        exitCode: outcome.exitCode,
        attempts,
        reason: outcome.reason,
        bytesAdded: stats.bytesAdded,
        filesNew: stats.filesNew,
        filesChanged: stats.filesChanged,
        snapshotId: stats.snapshotId,
        retention: retention && { outcome: retention.kind, removed: retention.removed, reason: retention.reason },
        hookFailures: hookFailures?.length ? hookFailures : undefined,
      },
      job.historyKeep,
    ).catch(this.reportFailure('append history'));
    return { outcome: name, durationSeconds: duration, elapsedMs, metricsWritten: this.metricsWritten };
  }

  /** After an unexpected crash: do not leave "running" set forever. A finished run is left alone. */
  async resetIfUnfinished(): Promise<void> {
    if (!this.metrics.running) return;
    this.metrics.running = false;
    await this.writeMetrics();
  }

  /** False after a failed write: the run then exits non-zero, so cron mails it. */
  private metricsWritten = true;

  private async writeMetrics(): Promise<void> {
    const { job, metrics } = this;
    // writeJobMetrics says "cannot write metrics: …" itself.
    this.metricsWritten = await writeJobMetrics(job, metrics).then(
      () => true,
      (error: Error) => {
        this.log.error(error.message);
        return false;
      },
    );
    await pushJobMetrics(job, metrics).catch(this.reportFailure(`push metrics to ${job.pushgatewayUrl}`));
  }

  /**
   * Metrics, state and history are how failures get noticed, but failing to write them must
   * not hide the backup's own result: logged, never thrown.
   */
  private reportFailure(what: string): (error: Error) => void {
    return (error) => this.log.error(`could not ${what}: ${error.message}`);
  }
}
