import { createHash } from 'node:crypto';
import { UsageError } from './errors.ts';
import { quote } from './input-text.ts';

// Job names end up in file names, metric labels, restic tags and cron comments, so they are
// kept to characters that are safe in all of them: ASCII letters, digits, "_", "." and "-".
// Spaces, quotes, newlines and non-ASCII letters are refused rather than escaped, since each of
// those places escapes differently (or not at all); paths, by contrast, may hold any of them.
export const JOB_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Longest job name. `.cronvault_<name>.prom.<pid>.tmp` must stay under the 255-byte file-name
 * limit, and a label this long is already unreadable on a dashboard.
 */
export const MAX_JOB_NAME_LENGTH = 100;

/** `/var/lib/influxdb` → `var_lib_influxdb`, as the old shell wrapper named its metrics. */
export const jobNameFromPath = (path: string): string => {
  const name = path.replace(/^\/+|\/+$/g, '').replace(/[^A-Za-z0-9_.-]+/g, '_');
  const cleaned = name === '' ? 'root' : name.replace(/^[^A-Za-z0-9]+/, '') || 'root';
  const safe = RESERVED_JOB_NAMES.includes(cleaned) ? `${cleaned}_dir` : cleaned;
  // A very deep path keeps its start and gets a hash of the whole path: still stable, still unique.
  if (safe.length <= MAX_JOB_NAME_LENGTH) return safe;
  return `${safe.slice(0, MAX_JOB_NAME_LENGTH - 9)}_${createHash('sha256').update(path).digest('hex').slice(0, 8)}`;
};

/** `cronvault_jobs.prom` is the fleet file; a job called "jobs" would overwrite it. */
const RESERVED_JOB_NAMES = ['jobs'];

export const assertJobName = (name: string, where: string): void => {
  if (RESERVED_JOB_NAMES.includes(name)) {
    throw new UsageError(
      'E_JOB_NAME',
      `${where}: job name "${name}" is reserved (cronvault_${name}.prom lists every job); choose another`,
    );
  }
  if (name.length > MAX_JOB_NAME_LENGTH) {
    throw new UsageError(
      'E_JOB_NAME',
      `${where}: job name ${quote(name)} is longer than ${MAX_JOB_NAME_LENGTH} characters`,
    );
  }
  if (!JOB_NAME_PATTERN.test(name)) {
    const bad = [...name].find((c) => !/[A-Za-z0-9_.-]/.test(c));
    const why =
      name === ''
        ? 'it is empty'
        : bad === undefined
          ? 'it must start with a letter or digit'
          : `${quote(bad)} is not allowed`;
    throw new UsageError(
      'E_JOB_NAME',
      `${where}: job name ${quote(name)} is not allowed (${why}): use letters, digits, "_", "." and "-", starting with a letter or digit`,
    );
  }
};
