import { UsageError } from './errors.ts';

// Job names end up in file names, metric labels, restic tags and cron comments, so they are
// kept to characters that are safe in all of them.
export const JOB_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** `/var/lib/influxdb` → `var_lib_influxdb`, as the old shell wrapper named its metrics. */
export const jobNameFromPath = (path: string): string => {
  const name = path.replace(/^\/+|\/+$/g, '').replace(/[^A-Za-z0-9_.-]+/g, '_');
  const cleaned = name === '' ? 'root' : name.replace(/^[^A-Za-z0-9]+/, '') || 'root';
  return RESERVED_JOB_NAMES.includes(cleaned) ? `${cleaned}_dir` : cleaned;
};

/** `cronvault_jobs.prom` is the fleet file; a job called "jobs" would overwrite it. */
export const RESERVED_JOB_NAMES = ['jobs'];

export const assertJobName = (name: string, where: string): void => {
  if (RESERVED_JOB_NAMES.includes(name)) {
    throw new UsageError('E_JOB_NAME', `${where}: job name "${name}" is reserved (cronvault_${name}.prom lists every job); choose another`);
  }
  if (!JOB_NAME_PATTERN.test(name)) {
    throw new UsageError(
      'E_JOB_NAME',
      `${where}: job name "${name}" is not allowed: use letters, digits, "_", "." and "-", starting with a letter or digit`,
    );
  }
};
