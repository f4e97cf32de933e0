// `cronvault cron`: the crontab lines for every job. Jobs without a schedule get the same
// stable, fleet-spread daily time the Ansible role gives them (see jitteredSchedule).
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-write.ts';
import type { Config, JobConfig } from '../config.ts';
import { CronvaultError, EXIT, UsageError } from '../errors.ts';
import { writeJobsInfo } from '../metrics.ts';
import { prunesHere, type Repository, repositoriesOf } from '../repositories.ts';
import { jitteredSchedule } from '../schedule/index.ts';
import { shellWord } from '../shell-word.ts';
import { verifyScheduleOf } from '../verify/schedule.ts';
import { type GlobalOptions, readConfig } from './context.ts';

export interface CronOptions extends GlobalOptions {
  install?: boolean;
  force?: boolean;
  file: string;
  user: string;
  bin: string;
  /** The host name the jitter is drawn for; the role uses the inventory name. */
  host?: string;
}

const cronLine = (job: JobConfig, options: Pick<CronOptions, 'user' | 'bin' | 'host'>, configFile?: string): string => {
  const schedule = job.schedule ?? jitteredSchedule(options.host ?? job.hostname ?? hostname(), job.name);
  return `${schedule} ${options.user} ${shellWord(options.bin)} run ${job.name}${configArgument(configFile)} --quiet`;
};

/** cron starts jobs in $HOME: a relative config path would point elsewhere. */
const configArgument = (configFile?: string): string =>
  configFile ? ` --config ${shellWord(resolve(configFile))}` : '';

/** The job's `cronvault verify` line (weekly by default), when the job is verified at all. */
const verifyCronLine = (
  job: JobConfig,
  options: Pick<CronOptions, 'user' | 'bin' | 'host'>,
  configFile?: string,
): string[] => {
  const schedule = verifyScheduleOf(job, options.host);
  if (schedule === undefined) return [];
  return [
    `${schedule} ${options.user} ${shellWord(options.bin)} verify ${job.name}${configArgument(configFile)} --quiet`,
  ];
};

/**
 * The `cronvault prune` lines of the repositories this host prunes: one per schedule, naming
 * the repositories only when not all of them share it.
 */
const pruneLines = (config: Config, options: Pick<CronOptions, 'user' | 'bin' | 'host'>, configFile?: string) => {
  const pruned = repositoriesOf(config.jobs.values(), config.file, options.host).filter(prunesHere);
  const bySchedule = new Map<string, Repository[]>();
  for (const repository of pruned)
    bySchedule.set(repository.pruneSchedule, [...(bySchedule.get(repository.pruneSchedule) ?? []), repository]);
  const configArg = configArgument(configFile);
  return [...bySchedule].map(([schedule, repositories]) => {
    const only =
      repositories.length === pruned.length ? '' : repositories.map((r) => ` --repository ${r.name}`).join('');
    return `${schedule} ${options.user} ${shellWord(options.bin)} prune${only}${configArg} --quiet`;
  });
};

const ANSIBLE_MARKER = /^#Ansible: /m;

export const cronCommand = async (options: CronOptions): Promise<string> => {
  const config = readConfig(options);
  const explicitConfig = options.config ?? process.env.CRONVAULT_CONFIG;
  const lines = [
    ...[...config.jobs.values()].flatMap((job) => [
      cronLine(job, options, explicitConfig),
      ...verifyCronLine(job, options, explicitConfig),
    ]),
    ...pruneLines(config, options, explicitConfig),
  ];
  const text = [
    '# cronvault: one line per job, and one for its weekly restore drill (`cronvault verify`); written by',
    '# `cronvault cron --install`. Overlapping runs are refused by cronvault itself (per-job lock, exit 75).',
    '# `prune` lines free the space of the repositories this host prunes (prune: { schedule, host }).',
    'SHELL=/bin/sh',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ...lines,
    '',
  ].join('\n');
  const json = (installed: boolean): string =>
    `${JSON.stringify({ file: installed ? options.file : null, installed, lines }, null, 2)}\n`;
  if (!options.install) return options.json ? json(false) : text;
  if (options.file.startsWith('/etc/cron.d/') && /[.]/.test(options.file.slice('/etc/cron.d/'.length))) {
    throw new UsageError(
      'E_CRON_FILE',
      `cron ignores files in /etc/cron.d whose names contain a dot: choose another name than ${options.file}`,
    );
  }
  const existing = await readFile(options.file, 'utf8').catch(() => '');
  if (ANSIBLE_MARKER.test(existing) && !options.force) {
    // Replacing the role's file would leave the role re-adding its own lines next to ours:
    // every job would then run twice.
    throw new CronvaultError(
      'E_CRON_MANAGED',
      EXIT.usage,
      `${options.file} is managed by Ansible (it has "#Ansible:" entries); rerun the role instead, or pass --force to replace it`,
    );
  }
  await writeFileAtomic(options.file, text, 0o644);
  await writeJobsInfo(config.textfileDir, config.jobs.values()).catch(() => undefined);
  if (options.json) return json(true);
  return `wrote ${lines.length} line${lines.length === 1 ? '' : 's'} to ${options.file}\n`;
};
