// The database presets, and the one place that picks a preset's client and prepares its dump.
// Engines see a preset job as a producer: an argv and an environment whose stdout is the dump.
import { findExecutable } from '../backends/engine-process.ts';
import { CronvaultError, EXIT } from '../errors.ts';
import type { ValidatorName } from '../verify/config.ts';
import { mysql } from './mysql.ts';
import { postgresql } from './postgresql.ts';
import { redis } from './redis.ts';
import { sqlite } from './sqlite.ts';
import type { OptionFail, PreparedDump, Preset, PresetName, PresetOptions } from './types.ts';

export type { PreparedDump, PresetName } from './types.ts';

const PRESETS: Record<PresetName, Preset> = { postgresql, mysql, redis, sqlite };
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** A job's preset as the config gave it, defaults applied. */
export interface JobPreset {
  name: PresetName;
  options: PresetOptions;
}

export const parsePreset = (name: PresetName, raw: unknown, fail: OptionFail): JobPreset => ({
  name,
  options: PRESETS[name].parse(raw, fail),
});

export const presetFileName = (preset: JobPreset): string => PRESETS[preset.name].fileName(preset.options);
/** The validator of a preset's restore drill (`cronvault verify`); `nonempty` where no cheap reader exists. */
export const presetValidator = (preset: JobPreset): ValidatorName =>
  PRESETS[preset.name].verifyValidator?.(preset.options) ?? 'nonempty';
/** The dump command in words, for logs and `status` (no secrets: those never reach the argv). */
export const describePreset = (preset: JobPreset): string => PRESETS[preset.name].describe(preset.options);

/** The first installed of `clients`, or an error naming the Debian package to install. */
const findClient = async (clients: string[], preset: JobPreset, jobName: string): Promise<string> => {
  for (const client of clients) if (await findExecutable(client)) return client;
  throw new CronvaultError(
    'E_CLIENT_MISSING',
    EXIT.backupFailed,
    `job ${jobName} needs ${clients.join(' or ')} for its ${preset.name} dump, and it is not installed or not on PATH (apt-get install ${PRESETS[preset.name].debianPackage})`,
  );
};

/** The dump client's name; throws E_CLIENT_MISSING (with the package) when none is installed. */
export const ensureDumpClient = (job: { name: string; preset?: JobPreset }): Promise<string | undefined> =>
  job.preset
    ? findClient(PRESETS[job.preset.name].dumpClients(job.preset.options), job.preset, job.name)
    : Promise.resolve(undefined);

interface PresetJob {
  name: string;
  stateDir: string;
  preset?: JobPreset;
}

/** The producer of one dump: argv, env, and the cleanup to run whatever happens. */
const prepareDump = async (job: PresetJob & { preset: JobPreset }): Promise<PreparedDump> => {
  const binary = (await ensureDumpClient(job))!;
  return PRESETS[job.preset.name].prepareDump(job.preset.options, {
    jobName: job.name,
    stateDir: job.stateDir,
    binary,
  });
};

/** The client that reads a dump into `database`; a UsageError when the preset has none. */
export const prepareRestore = async (job: PresetJob, database: string): Promise<PreparedDump> => {
  const preset = job.preset;
  const spec = preset ? PRESETS[preset.name] : undefined;
  const clients = preset && spec?.restoreClients?.(preset.options);
  if (!preset || !spec?.prepareRestore || clients === undefined || typeof clients === 'string') {
    throw new CronvaultError(
      'E_USAGE',
      EXIT.usage,
      `--into-database works for postgresql and mysql jobs only${typeof clients === 'string' ? `; ${clients}` : ''}`,
    );
  }
  const binary = await findClient(clients, preset, job.name);
  return spec.prepareRestore(preset.options, { jobName: job.name, stateDir: job.stateDir, binary, database });
};

/**
 * What a stream job runs: its preset's dump client, or its `command` through /bin/sh. Engines
 * call this; the cleanup must run however the backup ends.
 */
export const prepareProducer = async (job: PresetJob & { command?: string }): Promise<PreparedDump> =>
  job.preset
    ? prepareDump({ ...job, preset: job.preset })
    : { argv: ['/bin/sh', '-c', job.command!], env: {}, cleanup: async () => {} };
