// `cronvault cleanup`: what every `run` with a config does first, on its own, for the Ansible
// role after it rolled out a config without some job: cronvault_jobs.prom rewritten, the files
// and state of jobs no longer declared removed.
import { describeRemoval, syncDeclaredJobs } from '../declared-jobs.ts';
import { EXIT } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type GlobalOptions, readConfig } from './context.ts';

export const cleanupCommand = async (options: GlobalOptions, log: Logger): Promise<number> => {
  const config = readConfig(options);
  const removals = await syncDeclaredJobs(config);
  for (const removal of removals) log.info(describeRemoval(config, removal));
  if (removals.length === 0)
    log.info(`every job with files in ${config.stateDir} is declared in ${config.file}; nothing removed`);
  if (options.json) process.stdout.write(`${JSON.stringify({ removed: removals }, null, 2)}\n`);
  return EXIT.ok;
};
