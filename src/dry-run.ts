// `cronvault run --dry-run`: what a run would do, asked of the engine itself where it can say
// (restic `backup --dry-run`, `forget --dry-run` through the same retention code as a real run),
// without writing metrics, state, history or a lock file, and without changing the repository.
import { access, constants } from 'node:fs/promises';
import { backendFor } from './backends/index.ts';
import type { AttemptOutcome, BackupStats, RetentionOutcome } from './backends/types.ts';
import type { JobConfig } from './config.ts';
import { formatBytes } from './durations.ts';
import { isCronvaultError } from './errors.ts';
import { describeHooks } from './hooks.ts';
import { readLock } from './lock.ts';
import type { Logger } from './log.ts';
import { redactRepository } from './redact.ts';
import { shellWord } from './shell-word.ts';

export interface DryRunPlan {
  job: string;
  engine: string;
  /** false when the engine says the backup or the retention would fail. */
  ok: boolean;
  source: string;
  /** Redacted: URL credentials masked. */
  repository: string;
  /** The argv of the real backup, redacted; secrets travel in the environment, never here. */
  command: string[];
  running: { pid: number; since: string } | null;
  backup: { asked: boolean; outcome?: AttemptOutcome['kind']; exitCode?: number; reason: string; stats?: BackupStats };
  retention: (Pick<RetentionOutcome, 'kind' | 'removed' | 'kept' | 'reason'> & { wouldRemove: string[] }) | null;
  /** The hook commands a run would run ("before: systemctl stop app"); a dry run runs none. */
  hooks: string[];
  /** The ping URL (redacted) a run would ping and on which events; a dry run pings nothing. */
  ping: { url: string; on: string[] } | null;
}

export interface DryRunOptions {
  logger: Logger;
  signal?: AbortSignal;
  forceRetention?: boolean;
}

const failedBecause = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const passwordReadable = async (job: JobConfig): Promise<string | undefined> => {
  if (!job.passwordFile) return undefined;
  return access(job.passwordFile, constants.R_OK).then(
    () => undefined,
    () => `password file ${job.passwordFile} does not exist or is not readable by this user`,
  );
};

const askBackup = async (job: JobConfig, options: DryRunOptions): Promise<DryRunPlan['backup']> => {
  const backend = backendFor(job.engine);
  if (!backend.dryRunSupported)
    return {
      asked: false,
      reason: `${job.engine} was not asked: cronvault has no dry run for ${job.engine} jobs; the command above is what a run would start`,
    };
  if (job.command !== undefined)
    return {
      asked: false,
      reason: `the command "${job.command}" is not run in a dry run, so what it would add is unknown`,
    };
  const problem = await passwordReadable(job);
  if (problem) return { asked: false, outcome: 'permanent', reason: problem };
  try {
    await backend.ensureInstalled(job);
    // With init: true a missing repository is what the real run creates first: not a failure.
    if (job.init && (await backend.probeRepository(job)).state === 'missing') {
      return {
        asked: false,
        reason: `the repository does not exist yet: a run would create it (init: true), then back up everything`,
      };
    }
    // No retries: a dry run reports the first answer; no ensureRepository: it would create one.
    const outcome = await backend.backup(job, {
      signal: options.signal,
      dryRun: true,
      onOutput: (line) => options.logger.engine(line),
      warn: (m) => options.logger.warn(m),
    });
    return {
      asked: true,
      outcome: outcome.kind,
      exitCode: outcome.exitCode,
      reason: outcome.reason,
      stats: outcome.stats,
    };
  } catch (error) {
    if (!isCronvaultError(error)) throw error;
    return { asked: true, outcome: 'permanent', reason: failedBecause(error) };
  }
};

const askRetention = async (job: JobConfig, options: DryRunOptions): Promise<DryRunPlan['retention']> => {
  if (job.retention.kind === 'none') return null;
  // As the real run: an append-only repository's retention is the trusted host's business.
  if (job.appendOnly)
    return {
      kind: 'skipped',
      removed: 0,
      reason: 'skipped: the repository is append-only; `cronvault retention apply` on a trusted host applies it',
      wouldRemove: [],
    };
  try {
    const outcome = await backendFor(job.engine).applyRetention(
      job,
      job.retention,
      { force: options.forceRetention ?? false, dryRun: true },
      { signal: options.signal, warn: (m) => options.logger.warn(m) },
    );
    return {
      kind: outcome.kind,
      removed: outcome.kind === 'success' ? outcome.removed : 0,
      kept: outcome.kept,
      reason: outcome.reason,
      wouldRemove: outcome.wouldRemove ?? [],
    };
  } catch (error) {
    if (!isCronvaultError(error)) throw error;
    return { kind: 'failed', removed: 0, reason: failedBecause(error), wouldRemove: [] };
  }
};

const dryRunJob = async (job: JobConfig, options: DryRunOptions): Promise<DryRunPlan> => {
  const log = options.logger.forJob(job.name);
  const backend = backendFor(job.engine);
  log.info(
    `dry run of the ${job.engine} backup of ${job.path ?? `the output of "${job.command}"`}: nothing is written`,
  );
  const backup = await askBackup(job, { ...options, logger: log });
  const backupOk = backup.outcome === undefined || backup.outcome === 'success' || backup.outcome === 'warning';
  // Retention runs after a successful backup only; its dry run sees today's snapshots, without the new one.
  // Nothing to remove from a repository that does not exist yet (and asking would fail).
  const creates = !backup.asked && job.init && backup.reason.startsWith('the repository does not exist yet');
  const retention = backupOk && !creates ? await askRetention(job, { ...options, logger: log }) : null;
  const lock = await readLock(job.stateDir, job.name);
  return {
    job: job.name,
    engine: job.engine,
    ok: backupOk && (retention === null || retention.kind === 'success' || retention.kind === 'skipped'),
    source: job.path ?? `command: ${job.command}`,
    repository: redactRepository(job.repository),
    command: backend.backupCommand(job).map(redactRepository),
    running: lock ? { pid: lock.pid, since: lock.since } : null,
    backup,
    retention,
    hooks: describeHooks(job).map(redactRepository),
    ping: job.ping ? { url: redactRepository(job.ping.url), on: job.ping.on } : null,
  };
};

/** One job after another, as `run --all` runs them. */
export const dryRunJobs = async (jobs: JobConfig[], options: DryRunOptions): Promise<DryRunPlan[]> => {
  const plans: DryRunPlan[] = [];
  for (const job of jobs) {
    if (options.signal?.aborted) break;
    plans.push(await dryRunJob(job, options));
  }
  return plans;
};

const describeStats = (stats: BackupStats | undefined): string => {
  if (!stats) return 'no summary from the engine';
  const parts = [
    stats.filesNew !== undefined ? `${stats.filesNew} new file${stats.filesNew === 1 ? '' : 's'}` : undefined,
    stats.filesChanged !== undefined ? `${stats.filesChanged} changed` : undefined,
    stats.bytesAdded !== undefined ? `${formatBytes(stats.bytesAdded)} added to the repository` : undefined,
  ].filter(Boolean);
  const of =
    stats.filesProcessed !== undefined
      ? ` (of ${stats.filesProcessed} files${stats.bytesProcessed !== undefined ? `, ${formatBytes(stats.bytesProcessed)}` : ''} read)`
      : '';
  return `${parts.join(', ') || 'nothing'}${of}`;
};

const describeRetention = (retention: DryRunPlan['retention']): string => {
  if (retention === null) return 'none configured (or not reached: the backup would fail)';
  if (retention.kind === 'skipped') return retention.reason;
  if (retention.kind !== 'success') return `would be ${retention.kind}: ${retention.reason}`;
  if (retention.wouldRemove.length === 0)
    return `would remove nothing${retention.kept !== undefined ? `, keep ${retention.kept}` : ''}`;
  return `would remove ${retention.wouldRemove.length} snapshot${retention.wouldRemove.length === 1 ? '' : 's'} (${retention.wouldRemove.join(', ')}), keep ${retention.kept ?? '?'}`;
};

export const formatDryRun = (plans: DryRunPlan[]): string =>
  plans
    .map((plan) => {
      const backup =
        plan.backup.asked && backupSucceeds(plan)
          ? `would add ${describeStats(plan.backup.stats)}`
          : plan.backup.outcome && !backupSucceeds(plan)
            ? `would fail: ${plan.backup.reason}`
            : plan.backup.reason;
      return [
        `job ${plan.job} (${plan.engine}): dry run, nothing was changed`,
        `  would run:   ${plan.command.map(shellWord).join(' ')}`,
        `  repository:  ${plan.repository}`,
        `  backup:      ${backup}`,
        `  retention:   ${describeRetention(plan.retention)}`,
        ...(plan.hooks.length > 0
          ? [`  hooks:       not run in a dry run; a run would run ${plan.hooks.join('; ')}`]
          : []),
        ...(plan.ping
          ? [`  ping:        not sent in a dry run; a run would ping ${plan.ping.url} on ${plan.ping.on.join(', ')}`]
          : []),
        ...(plan.running
          ? [
              `  note:        a run is in progress now (pid ${plan.running.pid} since ${plan.running.since}); a real run would exit 75`,
            ]
          : []),
      ].join('\n');
    })
    .join('\n\n');

const backupSucceeds = (plan: DryRunPlan): boolean =>
  plan.backup.outcome === 'success' || plan.backup.outcome === 'warning';
