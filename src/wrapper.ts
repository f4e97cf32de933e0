// Orchestrates one run of one job, in five phases read top to bottom in `runJob`: acquire the
// lock, back up with retries, apply retention, record (run-recorder.ts owns metrics, state and
// history), summarise. Engine details stay in the backends. A job's hooks (hooks.ts) run just
// before phase 2 and after phase 3; its pings (ping.ts) go out after phase 1 and at the very end.
import { access, constants } from 'node:fs/promises';
import { clearedStaleRepositoryLock, clearStaleRepositoryLocks, recoverAbandonedRun } from './abandoned-run.ts';
import { watchEngineGroups } from './backends/engine-process.ts';
import { backendFor } from './backends/index.ts';
import type { AttemptOutcome, Backend, EngineContext, RetentionOutcome } from './backends/types.ts';
import type { JobConfig } from './config.ts';
import { formatBytes, formatDuration } from './durations.ts';
import { CronvaultError, EXIT, RECORDED_EXIT } from './errors.ts';
import { describeExitCode } from './exit-meaning.ts';
import { type HookFailure, type HookRunState, runHookPhase } from './hooks.ts';
import { hasHooks } from './hooks-config.ts';
import { acquireLock, type JobLock } from './lock.ts';
import type { Logger } from './log.ts';
import { LogTail } from './log-tail.ts';
import { sendPing } from './ping.ts';
import { ensureDumpClient } from './presets/index.ts';
import { type RetriedOutcome, runWithRetries } from './retry.ts';
import { RunRecorder, recordSkippedRun, succeeded } from './run-recorder.ts';
import type { RunOutcomeName } from './state.ts';

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
  /** False when the run's final metrics could not be written: the run then exits non-zero. */
  metricsWritten?: boolean;
  /** Hook commands that failed; any makes the run exit non-zero. */
  hookFailures?: HookFailure[];
}

/** Recorded as the engine's exit code when cronvault stopped it at the job's timeout, as timeout(1) does. */
const TIMED_OUT_EXIT_CODE = RECORDED_EXIT.timedOut;

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
  return {
    signal: controller.signal,
    dispose: () => {
      for (const fn of unhook) fn();
    },
  };
};

/** Checks that need no engine: a missing password file fails the run before restic asks. */
const checkPasswordSource = async (job: JobConfig): Promise<void> => {
  if (!job.passwordFile) return;
  try {
    await access(job.passwordFile, constants.R_OK);
  } catch {
    throw new CronvaultError(
      'E_PASSWORD_FILE',
      EXIT.backupFailed,
      `password file ${job.passwordFile} does not exist or is not readable by this user`,
    );
  }
};

const interruptedExit = (signal: AbortSignal | undefined): number | undefined => {
  if (!signal?.aborted) return undefined;
  return signal.reason === 'SIGTERM' ? EXIT.sigterm : signal.reason === 'SIGINT' ? EXIT.sigint : undefined;
};

/**
 * Phase 1, acquire: the job's lock. A run that finds the lock held is recorded as skipped and
 * ends with E_LOCKED.
 */
const acquire = (job: JobConfig, now: () => number): Promise<JobLock> =>
  acquireLock(job.stateDir, job.name, { repository: job.repository }).catch(async (error: unknown) => {
    if (error instanceof CronvaultError && error.code === 'E_LOCKED') await recordSkippedRun(job, error.message, now());
    throw error;
  });

interface PhaseContext {
  job: JobConfig;
  backend: Backend;
  log: Logger;
  /** Aborts at the job's timeout or when cronvault is interrupted. */
  signal: AbortSignal;
  /** The job's timeout alone, to tell a timeout from an interrupt. */
  timeout?: AbortSignal;
  options: RunOptions;
  /** The job lock; `lock.previous` is the record of a run that died holding it. */
  lock: JobLock;
}

/** How a run ended that cronvault itself stopped (the job's timeout, SIGINT/SIGTERM); else undefined. */
const stopReason = ({ job, timeout, options }: PhaseContext): AttemptOutcome | undefined => {
  if (timeout?.aborted && !options.signal?.aborted)
    return {
      kind: 'permanent',
      exitCode: TIMED_OUT_EXIT_CODE,
      reason: `timed out after ${formatDuration(job.timeoutMs!)}`,
    };
  const interrupted = interruptedExit(options.signal);
  return interrupted === undefined
    ? undefined
    : { kind: 'permanent', exitCode: interrupted, reason: `interrupted by ${String(options.signal!.reason)}` };
};

/**
 * How a backup that was stopped, or failed before the engine could run, ends: as a failed
 * attempt with the exit code cronvault records for it. Anything else is a crash and rethrown.
 */
const stoppedOutcome = async (error: unknown, phase: PhaseContext): Promise<AttemptOutcome> => {
  const stopped = stopReason(phase);
  if (stopped) {
    // A restic stopped while taking its lock can leave it behind; the next run must not meet it.
    await clearStaleRepositoryLocks(phase.job, phase.backend, { warn: (m) => phase.log.warn(m) }, phase.log);
    return stopped;
  }
  // Failed before the engine could run: still a failed run in the metrics.
  if (error instanceof CronvaultError)
    return { kind: 'permanent', exitCode: RECORDED_EXIT.engineNeverStarted, reason: error.message };
  throw error;
};

/** Phase 2, back up: checks that need no repository, then the engine with retries. */
const backUpWithRetries = async (phase: PhaseContext): Promise<RetriedOutcome> => {
  const { job, backend, log, signal } = phase;
  let attemptsMade = 0;
  try {
    await checkPasswordSource(job);
    // A database preset whose client is missing fails here, naming the package, before any engine runs.
    await ensureDumpClient(job);
    await backend.ensureInstalled(job);
    await backend.ensureRepository(job, { signal, warn: (m) => log.warn(m) });
    // A run that died holding the lock (kill -9) may have left engines and a repository lock.
    await recoverAbandonedRun(job, backend, phase.lock.previous, { signal, warn: (m) => log.warn(m) }, log);
    let staleLockCleared = false;
    return await runWithRetries(
      async (attempt) => {
        attemptsMade = attempt;
        const context: EngineContext = {
          signal,
          // Left out when nothing is drawn, so the engine can report progress less often.
          onProgress: log.showsProgress ? (p) => log.progress(p) : undefined,
          onOutput: (line) => log.engine(line),
          warn: (m) => log.warn(m),
        };
        let outcome = await backend.backup(job, context);
        // Locked while no other run of this host uses the repository: the lock is stale, so it
        // is cleared once and the attempt made again at once.
        if (!staleLockCleared && (await clearedStaleRepositoryLock(job, backend, outcome, context, log))) {
          staleLockCleared = true;
          outcome = await backend.backup(job, context);
        }
        log.clearProgress();
        if (outcome.kind === 'transient' || outcome.kind === 'permanent') {
          log.warn(
            `attempt ${attempt}/${job.retry.attempts} failed: exit ${outcome.exitCode} (${describeExitCode(backend, outcome.exitCode)}): ${outcome.reason}${outcome.kind === 'permanent' ? '; not retrying' : ''}`,
          );
        }
        return outcome;
      },
      job.retry,
      {
        signal,
        random: phase.options.random,
        onRetry: (outcome, next, delay) =>
          log.info(`attempt ${next}/${job.retry.attempts} in ${formatDuration(delay)}: ${outcome.reason}`),
      },
    );
  } catch (error) {
    return { outcome: await stoppedOutcome(error, phase), attempts: attemptsMade };
  }
};

/**
 * An append-only repository refuses deletes, so the run does not try (a forget would only fail
 * and raise BackupRetentionFailed): the retention metrics stay absent, the history says why.
 */
const appendOnlyRetention = (log: Logger): RetentionOutcome => {
  const reason =
    "skipped: the repository is append-only (append_only: true); a trusted host applies this job's retention with `cronvault retention apply --from-config`";
  log.info(`retention ${reason}`);
  return { kind: 'skipped', exitCode: 0, removed: 0, reason };
};

/** Phase 3, apply retention: only after a backup that succeeded and was not stopped. */
const applyRetention = async (
  { job, backend, log, signal, options }: PhaseContext,
  backup: RetriedOutcome,
): Promise<RetentionOutcome | undefined> => {
  if (!succeeded(backup.outcome) || job.retention.kind === 'none' || signal.aborted) return undefined;
  if (job.appendOnly) return appendOnlyRetention(log);
  const context: EngineContext = { signal, warn: (m) => log.warn(m) };
  const retain = () =>
    backend
      .applyRetention(job, job.retention, { force: options.forceRetention ?? false }, context)
      .catch((error: Error): RetentionOutcome => ({ kind: 'failed', exitCode: -1, removed: 0, reason: error.message }));
  let retention = await retain();
  const lockFailure: AttemptOutcome = { kind: 'transient', exitCode: retention.exitCode, reason: retention.reason };
  if (retention.kind === 'failed' && (await clearedStaleRepositoryLock(job, backend, lockFailure, context, log)))
    retention = await retain();
  if (retention.kind === 'refused' || retention.kind === 'failed')
    log.error(`retention ${retention.kind}: ${retention.reason}`);
  return retention;
};

/** Phase 5, summarise: one line saying how the run went; returned for the end-of-run ping. */
const summarise = (
  { backend, log }: PhaseContext,
  { outcome, attempts }: RetriedOutcome,
  retention: RetentionOutcome | undefined,
  elapsedMs: number,
): string => {
  const took = formatDuration(elapsedMs);
  if (!succeeded(outcome)) {
    const failed = `backup failed after ${attempts} attempt${attempts === 1 ? '' : 's'} in ${took}: ${outcome.reason}`;
    log.error(failed);
    return failed;
  }
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
  return summary;
};

/** The exit code a run ends with, before it is recorded (hooks and pings are told it). */
const provisionalExit = (
  phase: PhaseContext,
  backup: RetriedOutcome,
  retention: RetentionOutcome | undefined,
  hookFailures: HookFailure[],
): number =>
  interruptedExit(phase.options.signal) ??
  (succeeded(backup.outcome) &&
  retention?.kind !== 'refused' &&
  retention?.kind !== 'failed' &&
  hookFailures.length === 0
    ? EXIT.ok
    : EXIT.backupFailed);

/**
 * Before the backup: the `before` hooks. When one fails (or the run is stopped meanwhile), the
 * engine never starts and the run is a failed one, recorded like any pre-engine failure.
 */
const runBeforeHooks = async (phase: PhaseContext): Promise<{ failures: HookFailure[]; outcome?: AttemptOutcome }> => {
  const { job, log, signal } = phase;
  const failures = await runHookPhase(job, 'before', { outcome: 'running' }, log, signal);
  if (failures.length === 0) return { failures };
  const [first] = failures;
  return {
    failures,
    outcome: stopReason(phase) ?? {
      kind: 'permanent',
      exitCode: RECORDED_EXIT.engineNeverStarted,
      reason: `before hook "${first!.command}" failed: ${first!.reason}`,
    },
  };
};

/**
 * After the backup and retention: `after` on success, `on_failure` on failure (a failed `after`
 * included), `finally` always. The last two run even after SIGTERM, each command bounded by
 * hooks_timeout alone.
 */
const runClosingHooks = async (
  phase: PhaseContext,
  backup: RetriedOutcome,
  retention: RetentionOutcome | undefined,
  earlier: HookFailure[],
): Promise<HookFailure[]> => {
  const { job, log, signal } = phase;
  const failures = [...earlier];
  const state = (): HookRunState => {
    const exitCode = provisionalExit(phase, backup, retention, failures);
    return {
      outcome: exitCode !== EXIT.ok ? 'failed' : backup.outcome.kind === 'warning' ? 'warning' : 'success',
      exitCode,
      engineExitCode: backup.outcome.exitCode,
      snapshotId: backup.outcome.stats?.snapshotId,
    };
  };
  if (state().exitCode === EXIT.ok) failures.push(...(await runHookPhase(job, 'after', state(), log, signal)));
  if (state().exitCode !== EXIT.ok) failures.push(...(await runHookPhase(job, 'on_failure', state(), log)));
  failures.push(...(await runHookPhase(job, 'finally', state(), log)));
  return failures;
};

/** One run of one job, in the phases its comment at the top of this file lists. */
export const runJob = async (job: JobConfig, options: RunOptions): Promise<RunResult> => {
  // The run's own log lines, redacted and bounded: the body of its pings.
  const tail = new LogTail();
  const log = options.logger.forJob(job.name).tapped(tail.add);
  const now = options.now ?? Date.now;
  const lock = await acquire(job, now);
  const timeout = job.timeoutMs ? AbortSignal.timeout(job.timeoutMs) : undefined;
  const { signal, dispose: disposeSignal } = anySignal([options.signal, timeout]);
  const phase: PhaseContext = { job, backend: backendFor(job.engine), log, signal, timeout, options, lock };
  // The engines' process groups go into the lock, so a run taking it over after a kill -9 can stop them.
  const unwatchEngines = watchEngineGroups((groups) => void lock.recordEngines(groups));
  let recorder: RunRecorder | undefined;
  try {
    recorder = await RunRecorder.begin(job, log, now);
    log.info(`starting ${job.engine} backup of ${job.path ?? `the output of "${job.command}"`}`);
    await sendPing(job, 'start', { exitCode: 0, summary: 'backup started', log: tail.text() }, log);
    const before = await runBeforeHooks(phase);
    let backup = before.outcome ? { outcome: before.outcome, attempts: 0 } : await backUpWithRetries(phase);
    const retention = await applyRetention(phase, backup);
    // Stopped during retention: the run as a whole was interrupted, not a success.
    const stoppedLate = succeeded(backup.outcome) ? stopReason(phase) : undefined;
    if (stoppedLate) backup = { ...backup, outcome: stoppedLate };
    const hookFailures = await runClosingHooks(phase, backup, retention, before.failures);
    // Phase 4, record: final metrics, state and history.
    const recorded = await recorder.finish(backup, retention, hasHooks(job.hooks) ? hookFailures : undefined);
    const summary = summarise(phase, backup, retention, recorded.elapsedMs);
    const { outcome, attempts } = backup;
    const result: RunResult = {
      job: job.name,
      outcome: recorded.outcome,
      exitCode: outcome.exitCode,
      attempts,
      reason: outcome.reason,
      durationSeconds: recorded.durationSeconds,
      retention,
      metricsWritten: recorded.metricsWritten,
      ...(hookFailures.length > 0 ? { hookFailures } : {}),
    };
    const exitCode = exitCodeFor(result, options.signal);
    const hooksSaid = hookFailures
      .filter((f) => f.phase !== 'before')
      .map((f) => `; ${f.phase} hook failed: ${f.reason}`)
      .join('');
    await sendPing(
      job,
      exitCode === EXIT.ok ? 'success' : 'failure',
      { exitCode, summary: `${summary}${hooksSaid}`, log: tail.text() },
      log,
    );
    return result;
  } finally {
    await recorder?.resetIfUnfinished();
    disposeSignal();
    unwatchEngines();
    await lock.release();
  }
};

/** The process exit code for a finished run. */
export const exitCodeFor = (result: RunResult, signal?: AbortSignal): number => {
  const interrupted = interruptedExit(signal);
  if (interrupted !== undefined) return interrupted;
  if (result.outcome === 'failed' || result.metricsWritten === false) return EXIT.backupFailed;
  if (result.hookFailures?.length) return EXIT.backupFailed;
  if (result.retention && (result.retention.kind === 'refused' || result.retention.kind === 'failed'))
    return EXIT.backupFailed;
  return EXIT.ok;
};
