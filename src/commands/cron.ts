// `cronvault cron`: the crontab lines for every job. Jobs without a schedule get a minute and
// an hour (1–4) drawn from a hash of host and job: stable on one host, spread over a fleet.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { writeFileAtomic } from '../atomic-write.ts';
import type { JobConfig } from '../config.ts';
import { writeJobsInfo } from '../metrics.ts';
import { readConfig, type ConfigOption } from './context.ts';

export const jitteredSchedule = (host: string, job: string): string => {
  const digest = createHash('sha256').update(`${host}\0${job}`).digest();
  const minute = digest.readUInt16BE(0) % 60;
  const hour = 1 + (digest.readUInt16BE(2) % 4);
  return `${minute} ${hour} * * *`;
};

export const cronLine = (job: JobConfig, user: string, bin: string, configFile?: string): string => {
  const schedule = job.schedule ?? jitteredSchedule(job.hostname || hostname(), job.name);
  const config = configFile ? ` --config ${configFile}` : '';
  return `${schedule} ${user} ${bin} run ${job.name}${config} --quiet`;
};

export const cronCommand = async (options: ConfigOption & { install?: boolean; file: string; user: string; bin: string }): Promise<string> => {
  const config = readConfig(options);
  const lines = [...config.jobs.values()].map((job) => cronLine(job, options.user, options.bin, options.config));
  const text = [
    '# cronvault: one line per job; written by `cronvault cron --install`. Overlapping runs are',
    '# refused by cronvault itself (per-job lock, exit 75).',
    'SHELL=/bin/sh',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ...lines,
    '',
  ].join('\n');
  if (!options.install) return text;
  await writeFileAtomic(options.file, text, 0o644);
  await writeJobsInfo(config.textfileDir, config.jobs.values()).catch(() => undefined);
  return `wrote ${lines.length} line${lines.length === 1 ? '' : 's'} to ${options.file}\n`;
};
