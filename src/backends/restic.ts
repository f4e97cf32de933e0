// restic adapter. Everything cronvault knows about restic lives here: argv, environment,
// exit codes by version, the stderr phrases 0.14 uses instead of exit codes, JSON output.
import { execa } from 'execa';
import type { JobConfig } from '../config.ts';
import { redactRepository, redactText } from '../redact.ts';
import { CronvaultError } from '../errors.ts';
import { toResticForgetArgs, type RetentionPolicy } from '../retention.ts';
import { RUN_MARKER_VARIABLE, runEngine, runEngineCollect, runMarker, superviseGroup, type EngineRun } from './engine-process.ts';
import { runWithRetries } from '../retry.ts';
import { formatDuration } from '../durations.ts';
import type { AttemptOutcome, Backend, BackupStats, EngineContext, RetentionOptions, RetentionOutcome, Snapshot } from './types.ts';

/** The tag that marks a job's snapshots; retention and listings filter on it. */
export const jobTag = (job: JobConfig): string => `cronvault:${job.name}`;

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

const EXIT_MEANINGS: Record<number, string> = {
  0: 'success',
  1: 'fatal error, no snapshot',
  2: 'restic crashed (Go panic)',
  3: 'snapshot created but some source files could not be read',
  10: 'repository does not exist',
  11: 'repository is locked',
  12: 'wrong password',
  130: 'interrupted',
};

/** The reason given when a repository lock stopped restic; clearStaleLocks acts on it. */
const LOCKED_REASON = 'repository is locked by another process';

const NETWORK_TROUBLE = /dial tcp|connection refused|connection reset|no such host|i\/o timeout|timeout|deadline exceeded|EOF|\b5\d\d\b|server response unexpected|network is unreachable|TLS handshake/i;

/** restic up to 0.16 reports nearly every failure as exit 1; its stderr says which one. */
export const classifyResticFailure = (exitCode: number, stderr: string): AttemptOutcome => {
  const outcome = (kind: AttemptOutcome['kind'], reason: string): AttemptOutcome => ({ kind, exitCode, reason });
  switch (exitCode) {
    case 0:
      return outcome('success', 'success');
    case 3:
      return outcome('warning', 'snapshot created, but some source files could not be read');
    case 10:
      return outcome('permanent', 'repository does not exist (create it with `cronvault init <job>` or set init: true)');
    case 11:
      return outcome('transient', LOCKED_REASON);
    case 12:
      return outcome('permanent', 'wrong password');
    case 130:
      return outcome('permanent', 'interrupted');
    case 2:
      return outcome('permanent', 'restic crashed (Go panic); see its output');
    default:
      break;
  }
  if (/wrong password or no key found/i.test(stderr)) return outcome('permanent', 'wrong password');
  if (/repository is already locked|unable to create lock|lock.*already held/i.test(stderr)) return outcome('transient', LOCKED_REASON);
  if (/all source directories\/files do not exist|does not exist|no such file or directory.*(lstat|stat)/i.test(stderr) && !/unable to open config file/i.test(stderr)) {
    return outcome('permanent', 'backup source path does not exist');
  }
  if (/unable to open config file|Is there a repository at the following location/i.test(stderr)) {
    return NETWORK_TROUBLE.test(stderr)
      ? outcome('transient', 'repository server unreachable')
      : outcome('permanent', 'repository does not exist (create it with `cronvault init <job>` or set init: true)');
  }
  if (NETWORK_TROUBLE.test(stderr)) return outcome('transient', 'network error talking to the repository');
  const lastLine = redactText(stderr.trim().split('\n').pop() ?? '');
  return outcome('transient', `restic failed (exit ${exitCode})${lastLine ? `: ${lastLine.slice(0, 200)}` : ''}`);
};

interface ResticSummary {
  files_new?: number;
  files_changed?: number;
  total_files_processed?: number;
  total_bytes_processed?: number;
  data_added?: number;
  snapshot_id?: string;
}

const statsFrom = (summary: ResticSummary | undefined): BackupStats | undefined =>
  summary && {
    filesNew: summary.files_new,
    filesChanged: summary.files_changed,
    filesProcessed: summary.total_files_processed,
    bytesProcessed: summary.total_bytes_processed,
    bytesAdded: summary.data_added,
    snapshotId: summary.snapshot_id,
  };

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
  if (run.spawnError) throw new CronvaultError('E_ENGINE_MISSING', 1, `${run.spawnError} (install it: apt-get install restic, or set "binary")`);
  const match = /restic (\d+\.\d+\.\d+)/.exec(run.stdout);
  if (!match) throw new CronvaultError('E_ENGINE_VERSION', 1, `could not read the restic version from "${binary} version": ${run.stdout.slice(0, 200)}`);
  versionCache.set(binary, match[1]!);
  return match[1]!;
};

const resticVersion = (job: JobConfig): Promise<string> => installedResticVersion(binaryOf(job));

const failureFromRun = (run: EngineRun): AttemptOutcome => {
  if (run.spawnError) return { kind: 'permanent', exitCode: -1, reason: run.spawnError };
  // A crash (SIGSEGV) or the OOM killer's SIGKILL: worth another attempt.
  if (run.killedBy) return { kind: 'transient', exitCode: run.exitCode, reason: `restic was killed by ${run.killedBy}` };
  return classifyResticFailure(run.exitCode, run.stderrTail);
};

/**
 * A `command` job: its output is piped into `restic backup --stdin`. It runs in its own
 * process group, stopped with restic's, so a pipeline's every process ends at a timeout.
 */
const startProducer = (job: JobConfig, signal?: AbortSignal) => {
  const subprocess = execa('/bin/sh', ['-c', job.command!], { env: { ...job.env, [RUN_MARKER_VARIABLE]: runMarker() }, reject: false, stdin: 'ignore', stderr: 'pipe', buffer: { stdout: false, stderr: true }, detached: true, cleanup: false });
  const group = superviseGroup(subprocess, signal);
  return {
    stdout: subprocess.stdout,
    /** Waits for the producer and for every process of its group. */
    finished: async () => {
      try {
        return await subprocess;
      } finally {
        await group.settle();
      }
    },
  };
};

/**
 * restic 0.14 prints `--json` status lines 60 times a second whatever stdout is. Someone
 * watching gets 2 a second; cron, where nobody reads them, one every 10 s. A rate set in the
 * job's env or cronvault's own environment wins.
 */
const progressRate = (job: JobConfig, context: EngineContext): Record<string, string> =>
  job.env.RESTIC_PROGRESS_FPS !== undefined || process.env.RESTIC_PROGRESS_FPS !== undefined ? {} : { RESTIC_PROGRESS_FPS: context.onProgress ? '2' : '0.1' };

const backup = async (job: JobConfig, context: EngineContext): Promise<AttemptOutcome> => {
  let summary: ResticSummary | undefined;
  const args = ['backup', '--json', ...scope(job), ...job.tags.flatMap((tag) => ['--tag', tag])];
  for (const pattern of job.exclude) args.push('--exclude', pattern);
  args.push(...job.engineArgs);
  const producer = job.command !== undefined ? startProducer(job, context.signal) : undefined;
  if (producer) args.push('--stdin', '--stdin-filename', job.stdinFilename ?? `${job.name}.dump`);
  else args.push('--', job.path!);
  const run = await runEngine({
    binary: binaryOf(job),
    args,
    env: { ...progressRate(job, context), ...resticEnv(job) },
    signal: context.signal,
    stdin: producer?.stdout ?? undefined,
    onStdoutLine: (line) => {
      const message = parseJsonLine(line);
      // Status lines are drawn as the progress line; repeating them in --verbose output buries the rest.
      if (message?.message_type !== 'status') context.onOutput?.(line, 'stdout');
      if (message?.message_type === 'summary') summary = message as ResticSummary;
      else if (message?.message_type === 'status' && context.onProgress) {
        context.onProgress({
          percent: Number(message.percent_done ?? 0) * 100,
          filesDone: message.files_done as number | undefined,
          totalFiles: message.total_files as number | undefined,
          bytesDone: message.bytes_done as number | undefined,
          totalBytes: message.total_bytes as number | undefined,
          secondsElapsed: message.seconds_elapsed as number | undefined,
          secondsRemaining: message.seconds_remaining as number | undefined,
        });
      }
    },
    onStderrLine: (line) => context.onOutput?.(line, 'stderr'),
  }).catch(async (error: unknown) => {
    await producer?.finished();
    throw error;
  });
  if (producer) {
    const produced = await producer.finished();
    if (produced.exitCode !== 0) {
      // restic cannot see the producer fail and stores a truncated dump; remove that snapshot
      // so nobody restores it later.
      if (summary?.snapshot_id) {
        await runEngine({ binary: binaryOf(job), args: ['forget', summary.snapshot_id], env: resticEnv(job) });
      }
      const detail = String(produced.stderr ?? '').trim().split('\n').pop() ?? '';
      return { kind: 'transient', exitCode: run.exitCode === 0 ? 1 : run.exitCode, reason: `command "${job.command}" failed with exit ${produced.exitCode}${detail ? `: ${detail}` : ''}; its partial snapshot was removed` };
    }
  }
  if (run.spawnError || (run.exitCode !== 0 && run.exitCode !== 3)) return failureFromRun(run);
  return { ...classifyResticFailure(run.exitCode, run.stderrTail), stats: statsFrom(summary) };
};

const probeRepository = async (job: JobConfig): Promise<{ ok: boolean; message: string; missing: boolean }> => {
  const run = await runEngineCollect({ binary: binaryOf(job), args: ['cat', 'config'], env: resticEnv(job) });
  if (run.exitCode === 0) return { ok: true, message: 'repository answers', missing: false };
  const outcome = failureFromRun(run);
  const missing = /does not exist/.test(outcome.reason) && !/source path/.test(outcome.reason);
  return { ok: false, message: outcome.reason, missing };
};

const ensureRepository = async (job: JobConfig, context: EngineContext): Promise<void> => {
  if (!job.init) return;
  const probe = await probeRepository(job);
  if (probe.ok || !probe.missing) return;
  context.warn?.(`repository does not exist yet; creating it (init: true)`);
  const run = await runEngineCollect({ binary: binaryOf(job), args: ['init'], env: resticEnv(job), signal: context.signal });
  if (run.exitCode !== 0) {
    throw new CronvaultError('E_INIT', 1, `restic init failed (exit ${run.exitCode}): ${run.stderrTail.trim().split('\n').pop() ?? ''}`);
  }
};

export interface ForgetGroup {
  keep?: unknown[] | null;
  remove?: unknown[] | null;
}

/**
 * Decides from `forget --dry-run --json` whether deleting may go ahead: never every snapshot,
 * and never more than `maxDelete` of them unless forced, since a wrong policy or a clock jump
 * should cost a refused run, not a repository.
 */
export const retentionVerdict = (
  groups: ForgetGroup[],
  maxDelete: number,
  force: boolean,
): { kind: 'proceed'; removed: number; kept: number } | { kind: 'stop'; outcome: RetentionOutcome } => {
  const removed = groups.reduce((sum, group) => sum + (group.remove?.length ?? 0), 0);
  const kept = groups.reduce((sum, group) => sum + (group.keep?.length ?? 0), 0);
  const total = removed + kept;
  if (removed === 0) return { kind: 'stop', outcome: { kind: 'success', exitCode: 0, removed: 0, kept, reason: 'nothing to remove' } };
  if (kept === 0) {
    return { kind: 'stop', outcome: { kind: 'refused', exitCode: -1, removed: 0, kept: total, reason: `retention would remove all ${total} snapshots of this job; nothing was deleted (check the policy)` } };
  }
  if (!force && removed > maxDelete * total) {
    return {
      kind: 'stop',
      outcome: {
        kind: 'refused',
        exitCode: -1,
        removed: 0,
        kept: total,
        reason: `retention would remove ${removed} of ${total} snapshots, more than retention_max_delete (${Math.round(maxDelete * 100)}%); nothing was deleted (rerun with --force-retention if this is intended)`,
      },
    };
  }
  return { kind: 'proceed', removed, kept };
};

const applyRetention = async (job: JobConfig, policy: RetentionPolicy, options: RetentionOptions, context: EngineContext): Promise<RetentionOutcome> => {
  if (policy.kind === 'none') return { kind: 'skipped', exitCode: 0, removed: 0, reason: 'retention disabled' };
  const translation = toResticForgetArgs(policy, { resticVersion: await resticVersion(job), rounding: job.retentionRounding });
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
      { signal: context.signal, onRetry: (outcome, next, delay) => context.warn?.(`retention: attempt ${next}/${job.retry.attempts} in ${formatDuration(delay)}: ${outcome.reason}`) },
    );
    return last!;
  };
  const dryRun = await retried([...base, '--dry-run', '--json']);
  if (dryRun.exitCode !== 0) return { kind: 'failed', exitCode: dryRun.exitCode, removed: 0, reason: `dry run failed: ${failureFromRun(dryRun).reason}` };
  let groups: ForgetGroup[];
  try {
    groups = (JSON.parse(dryRun.stdout || '[]') as ForgetGroup[] | null) ?? [];
  } catch {
    return { kind: 'failed', exitCode: dryRun.exitCode, removed: 0, reason: 'could not read restic forget --dry-run --json output' };
  }
  const verdict = retentionVerdict(groups, job.retentionMaxDelete, options.force);
  if (verdict.kind !== 'proceed') return verdict.outcome;
  const { removed, kept } = verdict;
  const total = removed + kept;
  if (options.dryRun) return { kind: 'success', exitCode: 0, removed, kept, reason: `dry run: would remove ${removed}` };
  const run = await retried([...base, '--prune']);
  if (run.exitCode !== 0) return { kind: 'failed', exitCode: run.exitCode, removed: 0, kept: total, reason: failureFromRun(run).reason };
  return { kind: 'success', exitCode: 0, removed, kept, reason: `removed ${removed} snapshot${removed === 1 ? '' : 's'}, kept ${kept}` };
};

const snapshots = async (job: JobConfig, context: EngineContext): Promise<Snapshot[]> => {
  const run = await runEngineCollect({ binary: binaryOf(job), args: ['snapshots', '--json', ...ownSnapshots(job)], env: resticEnv(job), signal: context.signal });
  if (run.exitCode !== 0) throw new CronvaultError('E_SNAPSHOTS', 1, `restic snapshots failed: ${failureFromRun(run).reason}`);
  const list = (JSON.parse(run.stdout || '[]') ?? []) as { id: string; short_id?: string; time: string; hostname: string; paths?: string[]; tags?: string[] }[];
  return list.map((s) => ({ id: s.short_id ?? s.id.slice(0, 8), time: s.time, hostname: s.hostname, paths: s.paths ?? [], tags: s.tags ?? [] }));
};

export const restic = {
  engine: 'restic',
  version: resticVersion,
  ensureRepository,
  backup,
  applyRetention,
  snapshots,
  async restore(job, request, context) {
    const env = resticEnv(job);
    if (request.toStdout) {
      const run = await runEngine({ binary: binaryOf(job), args: ['dump', ...scope(job), request.snapshot, `/${(job.stdinFilename ?? request.include?.[0] ?? '').replace(/^\/+/, '')}`], env, signal: context.signal, stdoutTo: process.stdout });
      if (run.exitCode !== 0) throw new CronvaultError('E_RESTORE', 1, `restic dump failed: ${failureFromRun(run).reason}`);
      return;
    }
    const args = ['restore', request.snapshot, ...scope(job), '--target', request.target!];
    for (const path of request.include ?? []) args.push('--include', path);
    const run = await runEngine({ binary: binaryOf(job), args, env, signal: context.signal, onStdoutLine: (l) => context.onOutput?.(l, 'stdout'), onStderrLine: (l) => context.onOutput?.(l, 'stderr') });
    if (run.exitCode !== 0) throw new CronvaultError('E_RESTORE', 1, `restic restore failed: ${failureFromRun(run).reason}`);
  },
  describeExitCode: (code) => EXIT_MEANINGS[code] ?? `unknown exit code ${code}, treated as failure`,
  async clearStaleLocks(job, context, after) {
    // The reason may be prefixed ("dry run failed: …") but always ends in restic's own words.
    if (after && !after.reason.endsWith(LOCKED_REASON)) return false;
    // `restic unlock` (without --remove-all) removes only stale locks: those of dead processes
    // on this host, or not refreshed for 30 minutes. A live lock, here or elsewhere, stays.
    const run = await runEngineCollect({ binary: binaryOf(job), args: ['unlock'], env: resticEnv(job), signal: context.signal });
    if (run.exitCode !== 0) {
      context.warn?.(`restic unlock failed: ${failureFromRun(run).reason}`);
      return false;
    }
    return true;
  },
  async probeRepository(job) {
    const { ok, message } = await probeRepository(job);
    return { ok, message: ok ? message : `${message} (repository ${redactRepository(job.repository)})` };
  },
} satisfies Backend;
