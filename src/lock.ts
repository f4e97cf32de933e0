// One run per job at a time. cron happily starts a second run while a slow one is still going;
// the second must step aside (exit 75) instead of fighting the first over the repository.
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CronvaultError, EXIT } from './errors.ts';

interface LockInfo {
  pid: number;
  since: string;
}

export interface JobLock {
  release(): Promise<void>;
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

export const lockPath = (stateDir: string, job: string): string => join(stateDir, 'locks', `${job}.lock`);

export const readLock = async (stateDir: string, job: string): Promise<LockInfo | undefined> => {
  try {
    const info = JSON.parse(await readFile(lockPath(stateDir, job), 'utf8')) as LockInfo;
    return isAlive(info.pid) ? info : undefined;
  } catch {
    return undefined;
  }
};

export const acquireLock = async (stateDir: string, job: string): Promise<JobLock> => {
  const file = lockPath(stateDir, job);
  // 0700, like the rest of the state dir (state.ts), which this creates on a first run.
  await mkdir(join(stateDir, 'locks'), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(JSON.stringify({ pid: process.pid, since: new Date().toISOString() } satisfies LockInfo));
      await handle.close();
      return { release: () => rm(file, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: LockInfo | undefined;
    try {
      holder = JSON.parse(await readFile(file, 'utf8')) as LockInfo;
    } catch {
      holder = undefined; // unreadable or half-written by a crashed run: treat as stale
    }
    if (holder && isAlive(holder.pid) && holder.pid !== process.pid) {
      throw new CronvaultError('E_LOCKED', EXIT.locked, `job ${job} is already running (pid ${holder.pid}, since ${holder.since}); lock ${file}`);
    }
    // The holder died without cleaning up: take the lock over.
    await rm(file, { force: true });
  }
  throw new CronvaultError('E_LOCKED', EXIT.locked, `job ${job}: could not take lock ${file}`);
};
