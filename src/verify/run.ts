// One verify of one job: take the job's lock, check the repository (part 1), drill a restore
// (part 2), record the outcome in the job's verify file and state. The backup's own metrics are
// never touched: a failed verify and a successful backup are two different facts.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { backendFor } from '../backends/index.ts';
import type { EngineContext, ReadDataRequest, RepositoryCheck } from '../backends/types.ts';
import type { JobConfig } from '../config.ts';
import { formatDuration } from '../durations.ts';
import { CronvaultError, EXIT } from '../errors.ts';
import { acquireLock } from '../lock.ts';
import type { Logger } from '../log.ts';
import { runWithRetries } from '../retry.ts';
import type { ReadData } from './config.ts';
import { type DrillResult, restoreDrill } from './drill.ts';
import { pushVerifyMetrics, recordVerify } from './record.ts';
import { readVerifyState, type VerifyState } from './state-file.ts';

export interface VerifyOptions {
  logger: Logger;
  signal: AbortSignal;
  /** Repeats an earlier drill's sample; by default a fresh seed, logged. */
  seed?: string;
  /** Checks already made by this invocation, by repository and read-data: one `--all` checks each once. */
  checks?: Map<string, RepositoryCheck>;
}

export interface VerifyResult {
  job: string;
  ok: boolean;
  check: RepositoryCheck;
  drill: DrillResult;
  orphaned: { snapshots: string[]; forget: string };
  durationSeconds: number;
}

/** Drill directories live here, one per run, named "<job>@<random>"; 0700 like all of state_dir. */
const drillParent = (job: JobConfig): string => join(job.stateDir, 'drill');

/** Drill directories of this job left by a run that was killed (-9): the lock is ours, so they are stale. */
const removeStaleDrills = async (job: JobConfig): Promise<void> => {
  const names = await readdir(drillParent(job)).catch(() => [] as string[]);
  for (const name of names)
    if (name.slice(0, name.lastIndexOf('@')) === job.name)
      await rm(join(drillParent(job), name), { recursive: true, force: true });
};

/** This run's part of the pack data: `read_data: rotate` reads part n of N and moves on to n+1. */
const readDataFor = (readData: ReadData, state: VerifyState | undefined): ReadDataRequest => {
  if (readData.kind !== 'rotate') return readData;
  const n = state?.rotateNext && state.rotateNext <= readData.over ? state.rotateNext : 1;
  return { kind: 'part', n, of: readData.over };
};

const nextRotation = (request: ReadDataRequest): number | undefined =>
  request.kind === 'part' ? (request.n % request.of) + 1 : undefined;

/**
 * `restic check` needs the repository to itself: another host's backup into it makes it fail as
 * locked for a while. Such a check is retried with the job's retry policy, as a backup would be.
 */
const checkWithRetries = async (
  job: JobConfig,
  readData: ReadDataRequest,
  context: EngineContext,
  log: Logger,
): Promise<RepositoryCheck> => {
  const backend = backendFor(job.engine);
  let check: RepositoryCheck | undefined;
  await runWithRetries(
    async () => {
      check = await backend.checkRepository!(job, readData, context);
      return {
        kind: check.ok ? 'success' : check.transient ? 'transient' : 'permanent',
        exitCode: 0,
        reason: check.reason,
      };
    },
    job.retry,
    {
      signal: context.signal,
      onRetry: (outcome, next, delay) =>
        log.info(`check attempt ${next}/${job.retry.attempts} in ${formatDuration(delay)}: ${outcome.reason}`),
    },
  );
  return check!;
};

/** An engine whose check restores sample data itself (duplicati-cli test): the check is the drill. */
const checkAsDrill = (check: RepositoryCheck): DrillResult => ({
  ok: check.ok,
  filesChecked: check.filesChecked ?? 0,
  problems: [],
  summary: check.reason,
});

export const verifyJob = async (job: JobConfig, options: VerifyOptions): Promise<VerifyResult> => {
  const backend = backendFor(job.engine);
  const log = options.logger.forJob(job.name);
  if (!backend.checkRepository)
    throw new CronvaultError(
      'E_VERIFY_UNSUPPORTED',
      EXIT.usage,
      `job ${job.name}: cronvault verify supports restic and duplicati jobs so far, not ${job.engine}; verify it with the engine (borg check --verify-data, borg extract --dry-run)`,
    );
  if (!job.verify.enabled)
    throw new CronvaultError('E_VERIFY_DISABLED', EXIT.usage, `job ${job.name} has verify: false in the config`);
  const lock = await acquireLock(job.stateDir, job.name, { repository: job.repository });
  const started = Date.now();
  let dir: string | undefined;
  try {
    const previous = await readVerifyState(job.stateDir, job.name);
    const context: EngineContext = { signal: options.signal, warn: (m) => log.warn(m), onOutput: (l) => log.engine(l) };
    await backend.ensureInstalled(job);
    const readData = readDataFor(job.verify.readData, previous);
    // A check that is also the drill (duplicati-cli test) compares with the job's own local
    // database: it is the job's, never shared with another job of the same target.
    const checkKey = `${job.repository}\n${JSON.stringify(readData)}${backend.listSnapshotFiles ? '' : `\n${job.name}`}`;
    let check = options.checks?.get(checkKey);
    if (check) log.info(`repository already checked by this run: ${check.ok ? 'no errors' : 'damaged'}`);
    else {
      log.info(
        `checking the repository${readData.kind === 'percent' ? `, reading ${readData.percent}% of the data` : readData.kind === 'part' ? `, reading part ${readData.n} of ${readData.of} of the data` : ''}`,
      );
      check = await checkWithRetries(job, readData, context, log);
      options.checks?.set(checkKey, check);
    }
    if (check.ok) log.info(check.reason);
    else log.error(check.reason);
    await mkdir(drillParent(job), { recursive: true, mode: 0o700 });
    await removeStaleDrills(job);
    dir = await mkdtemp(join(drillParent(job), `${job.name}@`));
    const seed = options.seed ?? randomBytes(6).toString('hex');
    let drill: DrillResult;
    try {
      drill =
        backend.listSnapshotFiles && backend.dumpFile
          ? await restoreDrill({ job, backend, dir, seed, context, log })
          : checkAsDrill(check);
    } catch (error) {
      if (options.signal.aborted || !(error instanceof CronvaultError)) throw error;
      drill = {
        ok: false,
        filesChecked: 0,
        problems: [error.message],
        summary: `restore drill failed: ${error.message}`,
      };
    }
    for (const problem of drill.problems) log.error(`drill: ${problem}`);
    const orphaned = (await backend.orphanedSnapshots?.(job, context).catch(() => undefined)) ?? {
      snapshots: [],
      forget: '',
    };
    if (orphaned.snapshots.length)
      log.warn(
        `${orphaned.snapshots.length} snapshot(s) of this job on this host have another path (${[...new Set(orphaned.snapshots.flatMap((s) => s.paths))].join(', ')}), so retention no longer reaches them; forget them with: ${orphaned.forget}`,
      );
    const ok = check.ok && drill.ok;
    const end = Date.now();
    const reason = ok
      ? drill.summary
      : [check.ok ? undefined : check.reason, ...drill.problems].filter(Boolean).join('; ');
    const state: VerifyState = {
      start: Math.floor(started / 1000),
      end: Math.floor(end / 1000),
      durationSeconds: (end - started) / 1000,
      success: ok,
      filesChecked: drill.filesChecked,
      lastSuccess: ok ? Math.floor(end / 1000) : (previous?.lastSuccess ?? 0),
      reason,
      rotateNext: nextRotation(readData) ?? previous?.rotateNext,
    };
    await recordVerify(job, state);
    // Like a run's push: a failed push is reported, never the verify's result.
    await pushVerifyMetrics(job, state).catch((error: Error) =>
      log.error(`could not push verify metrics to ${job.pushgatewayUrl}: ${error.message}`),
    );
    const took = formatDuration(end - started);
    if (ok) log.success(`verify passed in ${took}: ${drill.summary}`);
    else log.error(`verify FAILED in ${took}: ${reason}`);
    return {
      job: job.name,
      ok,
      check,
      drill,
      orphaned: { snapshots: orphaned.snapshots.map((s) => s.id), forget: orphaned.forget },
      durationSeconds: (end - started) / 1000,
    };
  } finally {
    // Also after SIGTERM: the engine was stopped (and awaited) before the error got here.
    if (dir) await rm(dir, { recursive: true, force: true });
    await lock.release();
  }
};
