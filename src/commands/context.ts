// Shared by the commands: which config to read and how to find a job in it.
import { type Config, DEFAULT_CONFIG_PATH, type JobConfig, loadConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { didYouMean } from '../suggest.ts';

export interface ConfigOption {
  config?: string;
}

/**
 * The options every command takes, before or after its name (`cronvault -c F run job` and
 * `cronvault run job -c F`): declared once on the program, read with optsWithGlobals().
 */
export interface GlobalOptions extends ConfigOption {
  quiet?: boolean;
  verbose?: boolean;
  json?: boolean;
  /** false after --no-color (commander's negated option). */
  color?: boolean;
}

const configPath = (options: ConfigOption): string =>
  options.config ?? process.env.CRONVAULT_CONFIG ?? DEFAULT_CONFIG_PATH;

export const readConfig = (options: ConfigOption): Config => loadConfig(configPath(options));

export const findJob = (config: Config, name: string): JobConfig => {
  const job = config.jobs.get(name);
  if (!job) {
    const names = [...config.jobs.keys()];
    throw new UsageError(
      'E_UNKNOWN_JOB',
      `no job "${name}" in ${config.file}${didYouMean(name, names)}; jobs: ${names.join(', ')}`,
    );
  }
  return job;
};
