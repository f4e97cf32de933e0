// Jobs grouped by the repository they write to. Pruning is a repository's business, not a
// job's: restic's prune (borg's compact) takes the repository's exclusive lock, so a repository
// shared by many hosts is pruned by one named host on its own schedule, never after each backup.
import { createHash } from 'node:crypto';
import type { EngineName, JobConfig } from './config.ts';
import { UsageError } from './errors.ts';
import { redactRepository } from './redact.ts';
import { jitteredPruneSchedule } from './schedule/index.ts';

export interface Repository {
  /** A stable name for labels and file names: `repository_name`, else "repo-" and a hash of the URL. */
  name: string;
  engine: EngineName;
  /** The URL or path; never printed as is (it may hold credentials). */
  url: string;
  /** The host that prunes it: `prune.host`, else the hostname of its first job. */
  pruneHost: string;
  /** When it is pruned: `prune.schedule`, else a weekly time drawn for the pruning host. */
  pruneSchedule: string;
  appendOnly: boolean;
  /** The jobs of this config that write to it; the first one lends its password and engine binary. */
  jobs: JobConfig[];
}

/**
 * The name of a repository without `repository_name`: a hash of its URL with any credentials
 * masked, so the same repository reached with another password keeps its name, and no secret
 * goes into the hash.
 */
export const defaultRepositoryName = (url: string): string =>
  `repo-${createHash('sha256').update(redactRepository(url)).digest('hex').slice(0, 12)}`;

/** Whether this host prunes the repository (engines without a separate prune never do). */
export const prunesHere = (repository: Repository): boolean =>
  repository.engine !== 'duplicati' &&
  !repository.appendOnly &&
  repository.jobs.some((job) => job.hostname === repository.pruneHost);

/** What jobs sharing a repository must agree on: what they set, not defaults (their hostnames may differ). */
const settingsOf = (job: JobConfig) => ({
  host: job.prune.host,
  schedule: job.prune.schedule,
  appendOnly: job.appendOnly,
  name: job.repositoryName,
});

/**
 * The repositories of a config's jobs. Jobs sharing one must agree on how it is pruned and
 * named, and two repositories may not share a name: both are config errors found here, before
 * any run.
 */
export const repositoriesOf = (
  jobs: Iterable<JobConfig>,
  file = 'the config',
  /** The host name a default prune time is drawn for (`cron --host`, the role's inventory name). */
  jitterHost?: string,
): Repository[] => {
  const byUrl = new Map<string, Repository>();
  for (const job of jobs) {
    const key = `${job.engine}\0${job.repository}`;
    const existing = byUrl.get(key);
    const settings = settingsOf(job);
    const pruneHost = settings.host ?? job.hostname;
    if (existing) {
      const first = existing.jobs[0]!;
      const theirs = settingsOf(first);
      for (const field of ['host', 'schedule', 'appendOnly', 'name'] as const) {
        if (theirs[field] !== settings[field])
          throw new UsageError(
            'E_CONFIG',
            `${file}: jobs ${first.name} and ${job.name} use the same repository but set different ${
              { host: 'prune.host', schedule: 'prune.schedule', appendOnly: 'append_only', name: 'repository_name' }[
                field
              ]
            }; a repository has one pruner and one name: set it under "defaults" or at the top level`,
          );
      }
      existing.jobs.push(job);
      continue;
    }
    byUrl.set(key, {
      name: settings.name ?? defaultRepositoryName(job.repository),
      engine: job.engine,
      url: job.repository,
      pruneHost,
      pruneSchedule: settings.schedule ?? jitteredPruneSchedule(jitterHost ?? pruneHost),
      appendOnly: settings.appendOnly,
      jobs: [job],
    });
  }
  const repositories = [...byUrl.values()];
  const names = new Set<string>();
  for (const repository of repositories) {
    if (names.has(repository.name))
      throw new UsageError(
        'E_CONFIG',
        `${file}: repository_name "${repository.name}" names two different repositories; give each its own name`,
      );
    names.add(repository.name);
  }
  return repositories;
};
