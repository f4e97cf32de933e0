// `cronvault retention apply --from-config HOSTCONFIG…`: on a trusted host that may delete, the
// retention of hosts that may not (append-only clients of rest-server or rclone serve restic).
// Each job of each host's config is applied as that host would: scoped by the host, the job's
// tag (and path), dry run and mass-deletion guard first.
import { basename } from 'node:path';
import { backendFor } from '../backends/index.ts';
import type { RetentionOutcome } from '../backends/types.ts';
import { type Config, type JobConfig, loadConfig } from '../config.ts';
import { EXIT, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { GlobalOptions } from './context.ts';

export interface RetentionApplyFlags extends GlobalOptions {
  fromConfig?: string[];
  repository?: string;
  passwordFile?: string;
  dryRun?: boolean;
  forceRetention?: boolean;
}

interface ApplyResult {
  file: string;
  host: string;
  job: string;
  outcome: RetentionOutcome['kind'];
  removed: number;
  kept?: number;
  wouldRemove?: string[];
  reason: string;
}

/**
 * The host a config's snapshots carry: its jobs' `hostname` when set, else the file's name
 * without .yml/.yaml (web-01.yml → web-01), since on this host the machine's own name is wrong.
 */
const hostOfConfigFile = (file: string): string => basename(file).replace(/\.ya?ml$/, '');

const readHostConfigs = (files: string[]): Config[] =>
  files.map((file) => loadConfig(file, { defaultHostname: hostOfConfigFile(file) }));

/** The jobs as this host reaches them: the repository directly (not through the append-only server). */
const asTrustedHost = (jobs: JobConfig[], flags: RetentionApplyFlags): JobConfig[] => {
  if (flags.repository !== undefined) {
    const urls = new Set(jobs.map((job) => `${job.engine}\0${job.repository}`));
    if (urls.size > 1)
      throw new UsageError(
        'E_USAGE',
        `the configs' jobs use ${urls.size} repositories; --repository can stand in for one only (run once per repository, with configs of that repository)`,
      );
  }
  return jobs.map((job) => ({
    ...job,
    repository: flags.repository ?? job.repository,
    ...(flags.passwordFile !== undefined ? { passwordFile: flags.passwordFile, passwordCommand: undefined } : {}),
  }));
};

export const retentionApplyCommand = async (
  flags: RetentionApplyFlags,
  logger: Logger,
  signal?: AbortSignal,
): Promise<number> => {
  if (!flags.fromConfig?.length)
    throw new UsageError('E_USAGE', "give the hosts' configs with --from-config FILE (repeatable)");
  const configs = readHostConfigs(flags.fromConfig);
  const results: ApplyResult[] = [];
  for (const config of configs) {
    for (const job of asTrustedHost([...config.jobs.values()], flags)) {
      const log = logger.forJob(`${job.hostname}/${job.name}`);
      const outcome =
        job.retention.kind === 'none'
          ? { kind: 'skipped' as const, exitCode: 0, removed: 0, reason: 'no retention set' }
          : await backendFor(job.engine)
              .applyRetention(
                job,
                job.retention,
                { force: flags.forceRetention ?? false, dryRun: flags.dryRun },
                { signal, warn: (m) => log.warn(m) },
              )
              .catch(
                (error: Error): RetentionOutcome => ({
                  kind: 'failed',
                  exitCode: -1,
                  removed: 0,
                  reason: error.message,
                }),
              );
      if (outcome.kind === 'refused' || outcome.kind === 'failed')
        log.error(`retention ${outcome.kind}: ${outcome.reason}`);
      else if (outcome.kind === 'skipped') log.info(`retention skipped: ${outcome.reason}`);
      else log.success(`retention: ${outcome.reason}`);
      results.push({
        file: config.file!,
        host: job.hostname,
        job: job.name,
        outcome: outcome.kind,
        removed: outcome.removed,
        kept: outcome.kept,
        wouldRemove: outcome.wouldRemove,
        reason: outcome.reason,
      });
    }
  }
  if (flags.json) process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
  return results.some((result) => result.outcome === 'refused' || result.outcome === 'failed')
    ? EXIT.backupFailed
    : EXIT.ok;
};
