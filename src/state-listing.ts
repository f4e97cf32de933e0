// Which jobs have a state file, a lock and a verify state, from one directory read each: `status`
// over 500 jobs otherwise opens 1,500 files, most of them missing (every miss an error object to build).
import { readdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { lockPath } from './lock.ts';
import { stateFile } from './state.ts';
import { verifyStateFile } from './verify/state-file.ts';

export interface StateListing {
  /** False only when the listing proves the job has no state file (never ran). */
  mayHaveState(job: string): boolean;
  /** False only when the listing proves the job has no lock file (not running). */
  mayHaveLock(job: string): boolean;
  /** False only when the listing proves the job has no verify state (never verified). */
  mayHaveVerifyState(job: string): boolean;
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
    const probe = {
      state: stateFile(stateDir, '_'),
      lock: lockPath(stateDir, '_'),
      verify: verifyStateFile(stateDir, '_'),
    };
    // "_.json" → "<job>.json": what follows the probe's "_", worked out once, not per job.
    const nameOf = (path: string, job: string) => job + basename(path).slice(1);
    listing = Promise.all([
      namesIn(dirname(probe.state)),
      namesIn(dirname(probe.lock)),
      namesIn(dirname(probe.verify)),
    ]).then(([states, locks, verified]) => ({
      mayHaveState: (job) => states?.has(nameOf(probe.state, job)) ?? true,
      mayHaveLock: (job) => locks?.has(nameOf(probe.lock, job)) ?? true,
      mayHaveVerifyState: (job) => verified?.has(nameOf(probe.verify, job)) ?? true,
    }));
    listings.set(stateDir, listing);
  }
  return listing;
};
