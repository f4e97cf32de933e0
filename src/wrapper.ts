// Orchestrates one run of one job: lock → "running" metrics → engine with retries →
// retention → final metrics and history. Engine details stay in the backends.
import { access, constants } from 'node:fs/promises';
import { backendFor } from './backends/index.ts';
import type { AttemptOutcome, Progress, RetentionOutcome } from './backends/types.ts';
import type { JobConfig } from './config.ts';
import { CronvaultError, EXIT, UsageError } from './errors.ts';
import { acquireLock } from './lock.ts';
import { clearStaleRepositoryLocks, clearedStaleRepositoryLock, recoverAbandonedRun } from './abandoned-run.ts';
import { watchEngineGroups } from './backends/engine-process.ts';
import type { Logger } from './log.ts';
import { pushJobMetrics, writeJobMetrics, type JobMetrics } from './metrics.ts';
import { runWithRetries } from './retry.ts';
import { appendHistory, readJobState, writeJobState, type RunOutcomeName } from './state.ts';
import { formatBytes, formatDuration } from './durations.ts';
import { describeExitCode } from './exit-meaning.ts';

export interface RunOptions {
  logger: Logger;
  signal?: AbortSignal;
  forceRetention?: boolean;
  /** For tests: replaces Math.random in the retry wait. */
  random?: () => number;
  now?: () => number;
}

export interface RunResult {
  job: string;
  outcome: RunOutcomeName;
  exitCode: number;
  attempts: number;
  reason: string;
  durationSeconds: number;
  retention?: RetentionOutcome;
}

const seconds = (ms: number): number => Math.round(ms) / 1000;

/** Recorded as the engine's exit code when cronvault stopped it at the job's timeout, as timeout(1) does. */
export const TIMED_OUT_EXIT_CODE = 124;

/**
 * Aborts when any of the signals does (AbortSignal.any needs Node 20; hosts run 18.19).
 * `dispose` unhooks it again, so `run --all` does not pile listeners onto the process signal.
 */
const anySignal = (signals: (AbortSignal | undefined)[]): { signal: AbortSignal; dispose: () => void } => {
  const controller = new AbortController();
  const unhook: (() => void)[] = [];
  for (const signal of signals) {
    if (!signal) continue;
    if (signal.aborted) controller.abort(signal.reason);
    else {
      const onAbort = () => controller.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      unhook.push(() => signal.removeEventListener('abort', onAbort));
    }
  }
  return { signal: controller.signal, dispose: () => unhook.forEach((fn) => fn()) };
};

/** Checks that need no engine: a missing password file fails the run before restic asks. */
const checkPasswordSource = async (job: JobConfig): Promise<void> => {
  if (!job.passwordFile) return;
  try {
    await access(job.passwordFile, constants.R_OK);
  } catch {
    throw new CronvaultError('E_PASSWORD_FILE', EXIT.backupFailed, `password file ${job.passwordFile} does not exist or is not readable by this user`);
  }
};

const interruptedExit = (signal: AbortSignal | undefined): number | undefined => {
  if (!signal?.aborted) return undefined;
  return signal.reason === 'SIGTERM' ? EXIT.sigterm : signal.reason === 'SIGINT' ? EXIT.sigint : undefined;
};

/** How a run ended that cronvault itself stopped: at the job's timeout, or on SIGINT/SIGTERM. */
const stoppedOutcome = (job: JobConfig, interrupt: AbortSignal | undefined, timeout: AbortSignal | undefined): AttemptOutcome | undefined => {
  if (timeout?.aborted && !interrupt?.aborted) return { kind: 'permanent', exitCode: TIMED_OUT_EXIT_CODE, reason: `timed out after ${formatDuration(job.timeoutMs!)}` };
  const code = interruptedExit(interrupt);
  return code === undefined ? undefined : { kind: 'permanent', exitCode: code, reason: `interrupted by ${String(interrupt!.reason)}` };
};

export const runJob = async (job: JobConfig, options: RunOptions): Promise<RunResult> => {
  const log = options.logger.forJob(job.name);
  const now = options.now ?? Date.now;
  const backend = backendFor(job.engine);
  const lock = await acquireLock(job.stateDir, job.name, { repository: job.repository }).catch(async (error: unknown) => {
    // The running job's metrics stay as they are (it is still running, and BackupStuck watches
    // it); the skipped run is recorded in the history, where `cronvault history` shows it.
    if (error instanceof CronvaultError && error.code === 'E_LOCKED') {
      const at = Math.floor(now() / 1000);
      await appendHistory(job.stateDir, job.name, { start: at, end: at, durationSeconds: 0, outcome: 'skipped', exitCode: -1, attempts: 0, reason: error.message }).catch(() => undefined);
    }
    throw error;
  });
  // The engines' process groups go into the lock, so a run taking it over after a kill -9 can stop them.
  const unwatchEngines = watchEngineGroups((groups) => void lock.recordEngines(groups));
  const timeout = job.timeoutMs ? AbortSignal.timeout(job.timeoutMs) : undefined;
  const { signal, dispose: disposeSignal } = anySignal([options.signal, timeout]);
  const startMs = now();
  const previous = await readJobState(job.stateDir, job.name);
  const source = job.path ?? `command:${job.command}`;
  if (previous?.source !== undefined && previous.source !== source) {
    // Two paths can derive the same name (/x/a_b and /x/a/b): they must not share a lock,
    // metrics, state and a retention scope.
    unwatchEngines();
    await lock.release();
    throw new UsageError('E_JOB_COLLISION', `job name ${job.name} already belongs to ${previous.source}, not ${source}; name this job explicitly in a config file`);
  }
  const metrics: JobMetrics = { ...previous, lastSuccess: previous?.lastSuccess ?? 0, lastRunStart: Math.floor(startMs / 1000), running: true };

  const writeMetrics = async (): Promise<void> => {
    // Metrics are how failures get noticed, but failing to write them must not hide the
    // backup's own result.
    try {
      await writeJobMetrics(job, metrics);
    } catch (error) {
      log.error(`could not write metrics to ${job.textfileDir}: ${(error as Error).message}`);
    }
    try {
      await pushJobMetrics(job, metrics);
    } catch (error) {
      log.error(`could not push metrics to ${job.pushgatewayUrl}: ${(error as Error).message}`);
    }
  };

  try {
    await writeMetrics();
    log.info(`starting ${job.engine} backup of ${job.path ?? `the output of "${job.command}"`}`);
    let result: { outcome: AttemptOutcome; attempts: number };
    let attemptsMade = 0;
    try {
      await checkPasswordSource(job);
      await backend.version(job);
      await backend.ensureRepository(job, { signal, warn: (m) => log.warn(m) });
      await recoverAbandonedRun(job, backend, lock.previous, { signal, warn: (m) => log.warn(m) }, log);
      let staleLockCleared = false;
      result = await runWithRetries(
        async (attempt) => {
          attemptsMade = attempt;
          const context = {
            signal,
            // Left out when nothing is drawn, so the engine can report progress less often.
            onProgress: log.showsProgress ? (p: Progress) => log.progress(p) : undefined,
            onOutput: (line: string) => log.engine(line),
            warn: (m: string) => log.warn(m),
          };
          let outcome = await backend.backup(job, context);
          if (!staleLockCleared && (await clearedStaleRepositoryLock(job, backend, outcome, context, log))) {
            staleLockCleared = true;
            outcome = await backend.backup(job, context);
          }
          log.clearProgress();
          if (outcome.kind === 'transient' || outcome.kind === 'permanent') {
            log.warn(`attempt ${attempt}/${job.retry.attempts} failed: exit ${outcome.exitCode} (${describeExitCode(backend, outcome.exitCode)}): ${outcome.reason}${outcome.kind === 'permanent' ? '; not retrying' : ''}`);
          }
          return outcome;
        },
        job.retry,
        {
          signal,
          random: options.random,
          onRetry: (outcome, next, delay) => log.info(`attempt ${next}/${job.retry.attempts} in ${formatDuration(delay)}: ${outcome.reason}`),
        },
      );
    } catch (error) {
      const stopped = stoppedOutcome(job, options.signal, timeout);
      if (stopped) {
        result = { outcome: stopped, attempts: attemptsMade };
        // A restic stopped while taking its lock can leave it behind; the next run must not meet it.
        await clearStaleRepositoryLocks(job, backend, { warn: (m) => log.warn(m) }, log);
      } else if (error instanceof CronvaultError) {
        // Failed before the engine could run: still a failed run in the metrics.
        result = { outcome: { kind: 'permanent', exitCode: -1, reason: error.message }, attempts: attemptsMade };
      } else throw error;
    }

    let succeeded = result.outcome.kind === 'success' || result.outcome.kind === 'warning';
    let retention: RetentionOutcome | undefined;
    if (succeeded && job.retention.kind !== 'none' && !signal.aborted) {
      const retentionContext = { signal, warn: (m: string) => log.warn(m) };
      const retain = () =>
        backend
          .applyRetention(job, job.retention, { force: options.forceRetention ?? false }, retentionContext)
          .catch((error: Error): RetentionOutcome => ({ kind: 'failed', exitCode: -1, removed: 0, reason: error.message }));
      retention = await retain();
      if (retention.kind === 'failed' && (await clearedStaleRepositoryLock(job, backend, { kind: 'transient', exitCode: retention.exitCode, reason: retention.reason }, retentionContext, log))) {
        retention = await retain();
      }
      if (retention.kind !== 'skipped') {
        metrics.retentionSuccess = retention.kind === 'success';
        metrics.retentionTimestamp = Math.floor(now() / 1000);
        metrics.retentionRemoved = retention.removed;
        metrics.retentionExitCode = retention.exitCode;
        if (retention.kept !== undefined) metrics.snapshots = retention.kept;
      }
      if (retention.kind === 'refused' || retention.kind === 'failed') log.error(`retention ${retention.kind}: ${retention.reason}`);
    }
    // Stopped during retention: the run as a whole was interrupted, not a success.
    const stoppedLate = succeeded ? stoppedOutcome(job, options.signal, timeout) : undefined;
    if (stoppedLate) {
      result = { ...result, outcome: stoppedLate };
      succeeded = false;
    }
    const { outcome, attempts } = result;

    const endMs = now();
    Object.assign(metrics, {
      running: false,
      lastRunEnd: Math.floor(endMs / 1000),
      lastRunDuration: seconds(endMs - startMs),
      lastExitCode: outcome.exitCode,
      lastRunSuccess: succeeded,
      lastRunWarnings: outcome.kind === 'warning',
      lastRunAttempts: attempts,
    } satisfies Partial<JobMetrics>);
    if (succeeded) {
      metrics.lastSuccess = Math.floor(endMs / 1000);
      const stats = outcome.stats ?? {};
      metrics.filesNew = stats.filesNew;
      metrics.filesChanged = stats.filesChanged;
      metrics.filesProcessed = stats.filesProcessed;
      metrics.bytesProcessed = stats.bytesProcessed;
      metrics.bytesAdded = stats.bytesAdded;
    }
    await writeMetrics();
    await writeJobState(job.stateDir, job.name, { ...metrics, source }).catch((error: Error) => log.error(`could not save state: ${error.message}`));
    const outcomeName: RunOutcomeName = outcome.kind === 'warning' ? 'warning' : succeeded ? 'success' : 'failed';
    await appendHistory(job.stateDir, job.name, {
      start: Math.floor(startMs / 1000),
      end: Math.floor(endMs / 1000),
      durationSeconds: seconds(endMs - startMs),
      outcome: outcomeName,
      exitCode: outcome.exitCode,
      attempts,
      reason: outcome.reason,
      bytesAdded: outcome.stats?.bytesAdded,
      filesNew: outcome.stats?.filesNew,
      filesChanged: outcome.stats?.filesChanged,
      snapshotId: outcome.stats?.snapshotId,
      retention: retention && { outcome: retention.kind, removed: retention.removed, reason: retention.reason },
    }).catch((error: Error) => log.error(`could not append history: ${error.message}`));

    const took = formatDuration(endMs - startMs);
    if (succeeded) {
      const s = outcome.stats ?? {};
      const details = [
        s.filesNew !== undefined ? `${s.filesNew} new` : undefined,
        s.filesChanged !== undefined ? `${s.filesChanged} changed` : undefined,
        s.bytesAdded !== undefined ? `${formatBytes(s.bytesAdded)} added` : undefined,
        s.snapshotId ? `snapshot ${s.snapshotId}` : undefined,
        attempts > 1 ? `${attempts} attempts` : undefined,
      ].filter(Boolean);
      const retentionNote = retention?.kind === 'success' ? `; retention: ${retention.reason}` : '';
      const summary = `backup ${outcome.kind === 'warning' ? 'finished with warnings' : 'succeeded'} in ${took}${details.length ? `: ${details.join(', ')}` : ''} (exit ${outcome.exitCode}: ${describeExitCode(backend, outcome.exitCode)})${retentionNote}`;
      if (outcome.kind === 'warning') log.warn(summary);
      else log.success(summary);
    } else {
      log.error(`backup failed after ${attempts} attempt${attempts === 1 ? '' : 's'} in ${took}: ${outcome.reason}`);
    }
    return { job: job.name, outcome: outcomeName, exitCode: outcome.exitCode, attempts, reason: outcome.reason, durationSeconds: seconds(endMs - startMs), retention };
  } finally {
    if (metrics.running) {
      // An unexpected crash: do not leave "running" set forever.
      metrics.running = false;
      await writeMetrics();
    }
    disposeSignal();
    unwatchEngines();
    await lock.release();
  }
};

/** The process exit code for a finished run. */
export const exitCodeFor = (result: RunResult, signal?: AbortSignal): number => {
  const interrupted = interruptedExit(signal);
  if (interrupted !== undefined) return interrupted;
  if (result.outcome === 'failed') return EXIT.backupFailed;
  if (result.retention && (result.retention.kind === 'refused' || result.retention.kind === 'failed')) return EXIT.backupFailed;
  return EXIT.ok;
};
