// Which jobs have a state file, a lock and a verify state, from one directory read each: `status`
// over 500 jobs otherwise opens 1,500 files, most of them missing (every miss an error object to build).
import { readdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { lockPath } from './lock.ts';
import { stateFile } from './state.ts';
import { verifyStateFile } from './verify/state-file.ts';

export interface StateListing {
  /** The job's state file; undefined only when the listing proves it has none (never ran). */
  stateFile(job: string): string | undefined;
  /** False only when the listing proves the job has no lock file (not running). */
  mayHaveLock(job: string): boolean;
  /** The job's verify state; undefined only when the listing proves it has none (never verified). */
  verifyStateFile(job: string): string | undefined;
}

// Synchronous: three directories read in a row, before anything else can run (see src/read-json.ts).
const namesIn = (dir: string): Set<string> | undefined => {
  try {
    return new Set(readdirSync(dir));
  } catch (error) {
    // No directory yet: nothing in it. Unreadable: know nothing, and read each file as before.
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? new Set() : undefined;
  }
};

/**
 * The files of one kind, named as `pathOf(stateDir, job)` names them: worked out once from the
 * path of a job named "_" (a job name holds no "/": it only takes the place of the "_"), not
 * with a path.join per job.
 */
const filesOf = (stateDir: string, pathOf: (stateDir: string, job: string) => string) => {
  const probe = pathOf(stateDir, '_');
  const dir = dirname(probe);
  const suffix = basename(probe).slice(1);
  const names = namesIn(dir);
  return (job: string): string | undefined =>
    names === undefined || names.has(job + suffix) ? `${dir}/${job}${suffix}` : undefined;
};

const listings = new Map<string, StateListing>();

/** The listing of `stateDir`, read once per process however many jobs share it. */
export const listState = (stateDir: string): StateListing => {
  let listing = listings.get(stateDir);
  if (!listing) {
    const locks = filesOf(stateDir, lockPath);
    listing = {
      stateFile: filesOf(stateDir, stateFile),
      mayHaveLock: (job) => locks(job) !== undefined,
      verifyStateFile: filesOf(stateDir, verifyStateFile),
    };
    listings.set(stateDir, listing);
  }
  return listing;
};
