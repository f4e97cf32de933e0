// Which jobs have a state file and which a lock, from one directory read each: `status` over 500
// jobs otherwise opens 1,000 files, most of them missing (every miss an error object to build).
import { readdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { lockPath } from './lock.ts';
import { stateFile } from './state.ts';

export interface StateListing {
  /** False only when the listing proves the job has no state file (never ran). */
  mayHaveState(job: string): boolean;
  /** False only when the listing proves the job has no lock file (not running). */
  mayHaveLock(job: string): boolean;
}

const namesIn = async (dir: string): Promise<Set<string> | undefined> => {
  try {
    return new Set(await readdir(dir));
  } catch (error) {
    // No directory yet: nothing in it. Unreadable: know nothing, and read each file as before.
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? new Set() : undefined;
  }
};

const listings = new Map<string, Promise<StateListing>>();

/** The listing of `stateDir`, read once per process however many jobs share it. */
export const listState = (stateDir: string): Promise<StateListing> => {
  let listing = listings.get(stateDir);
  if (!listing) {
    // The paths of a job named "_", so the names below are the very ones state.ts and lock.ts use.
    const probe = { state: stateFile(stateDir, '_'), lock: lockPath(stateDir, '_') };
    const nameOf = (path: string, job: string) => basename(path).replace(/^_/, job);
    listing = Promise.all([namesIn(dirname(probe.state)), namesIn(dirname(probe.lock))]).then(([states, locks]) => ({
      mayHaveState: (job) => states?.has(nameOf(probe.state, job)) ?? true,
      mayHaveLock: (job) => locks?.has(nameOf(probe.lock, job)) ?? true,
    }));
    listings.set(stateDir, listing);
  }
  return listing;
};
