// `cronvault cleanup`: what every `run` with a config does first, on its own, for the Ansible
// role after it rolled out a config without some job: cronvault_jobs.prom rewritten, the files
// and state of jobs no longer declared removed.
import { describeRemoval, syncDeclaredJobs } from '../declared-jobs.ts';
import type { Logger } from '../log.ts';
import { readConfig, type ConfigOption } from './context.ts';

export const cleanupCommand = async (flags: ConfigOption, log: Logger): Promise<number> => {
  const config = readConfig(flags);
  const removals = await syncDeclaredJobs(config);
  for (const removal of removals) log.info(describeRemoval(config, removal));
  if (removals.length === 0) log.info(`every job with files in ${config.stateDir} is declared in ${config.file}; nothing removed`);
  return 0;
};
