// One run per job at a time. cron happily starts a second run while a slow one is still going;
// the second must step aside (exit 75) instead of fighting the first over the repository.
//
// Why a kernel lock and not a lock file with a pid in it: "read the pid, see it is dead, remove
// the file, create ours" is three steps, and two runs that both saw the dead pid both get
// through them (the second removes the first's fresh file). Every lock-file repair protocol
// built from link/rename needs a further marker to break, which can itself be left behind by
// a kill -9, and so on. flock(2) has none of that: the kernel grants it to exactly one open
// file description and drops it when the holder dies, however it dies. Node has no flock, so
// util-linux flock(1) takes it and holds it for us: started with --no-fork it becomes
// `cat >/dev/null` reading a pipe from cronvault, so it lives exactly as long as cronvault (a
// SIGKILL closes the pipe, cat sees end of file and exits, the kernel releases the lock).
// It runs in its own process group so a Ctrl-C at the terminal does not end it before
// cronvault has stopped the engine.
//
// Beside the flock file, `<job>.lock` records who holds the lock: cronvault's pid, start time
// and boot id, and the process groups of the engines it started. The holder writes it
// atomically after taking the flock and removes it before letting go, so a record found by
// the next holder was left by a run that died: its engines may still be running (they have
// their own process groups and survive cronvault) and are stopped before the next backup.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CronvaultError, EXIT } from './errors.ts';
import { identityOf, isSameProcessAlive, type ProcessIdentity } from './process-identity.ts';

export interface LockRecord extends ProcessIdentity {
  since: string;
  /** A hash of the repository (never the URL, which may hold credentials). */
  repository?: string;
  /** Process groups of the engines this run started (leader pid = group id). */
  engines?: ProcessIdentity[];
}

/** What `status` shows of a live holder. */
export interface LockInfo {
  pid: number;
  since: string;
}

export interface JobLock {
  /** The record of a run that died holding this lock, when there was one. */
  readonly previous?: LockRecord;
  /** Records the engines' process groups, so a later run can stop them if this one dies. */
  recordEngines(engines: ProcessIdentity[]): Promise<void>;
  release(): Promise<void>;
}

export const lockPath = (stateDir: string, job: string): string => join(stateDir, 'locks', `${job}.lock`);
/** The file the kernel lock (flock(2)) is taken on; it stays while the job is declared. */
export const flockPath = (stateDir: string, job: string): string => join(stateDir, 'locks', `${job}.flock`);

export const repositoryId = (repository: string): string =>
  createHash('sha256').update(repository).digest('hex').slice(0, 16);

const readRecord = async (file: string): Promise<LockRecord | undefined> => {
  try {
    const record = JSON.parse(await readFile(file, 'utf8')) as LockRecord;
    return typeof record?.pid === 'number' ? record : undefined;
  } catch {
    return undefined;
  }
};

/** The live holder of a job's lock, judged by pid, start time and boot id. */
export const readLock = async (stateDir: string, job: string): Promise<LockInfo | undefined> => {
  const record = await readRecord(lockPath(stateDir, job));
  return record && isSameProcessAlive(record) ? { pid: record.pid, since: record.since } : undefined;
};

/** Records of every job lock in `stateDir` whose holder is alive. */
export const liveLockRecords = async (stateDir: string): Promise<LockRecord[]> => {
  const dir = join(stateDir, 'locks');
  const names = await readdir(dir).catch(() => [] as string[]);
  const records = await Promise.all(
    names.filter((name) => name.endsWith('.lock')).map((name) => readRecord(join(dir, name))),
  );
  return records.filter((record): record is LockRecord => record !== undefined && isSameProcessAlive(record));
};

const lockedError = (job: string, file: string, holder: LockRecord | undefined): CronvaultError =>
  new CronvaultError(
    'E_LOCKED',
    EXIT.locked,
    holder && isSameProcessAlive(holder)
      ? `job ${job} is already running (pid ${holder.pid}, since ${holder.since}); lock ${file}`
      : `job ${job} is already running (another process holds ${file}.flock)`,
  );

interface HeldFlock {
  release(): Promise<void>;
}

/** Takes flock(2) on `file` without waiting; undefined when someone else holds it. */
const takeFlock = (file: string): Promise<HeldFlock | undefined> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      'flock',
      [
        '--nonblock',
        '--conflict-exit-code',
        String(EXIT.locked),
        '--no-fork',
        file,
        '/bin/sh',
        '-c',
        'echo locked; exec cat >/dev/null',
      ],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      },
    );
    let stderr = '';
    let settled = false;
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      reject(
        new CronvaultError(
          'E_LOCK',
          EXIT.backupFailed,
          error.code === 'ENOENT'
            ? 'flock (util-linux) is needed for job locks but is not installed'
            : `could not run flock: ${error.message}`,
        ),
      );
    });
    child.stdout.once('data', () => {
      if (settled) return;
      settled = true;
      child.stdout.destroy();
      // Nothing but our own exit should keep this process alive, and nothing but our exit or
      // release should end the lock.
      child.unref();
      for (const stream of [child.stdin, child.stderr]) (stream as unknown as { unref?: () => void }).unref?.();
      resolve({
        release: async () => {
          child.ref();
          child.stdin.end();
          await exited;
        },
      });
    });
    void exited.then((code) => {
      if (settled) return;
      settled = true;
      if (code === EXIT.locked) resolve(undefined);
      else
        reject(
          new CronvaultError(
            'E_LOCK',
            EXIT.backupFailed,
            `could not take lock ${file}: flock exited ${code}${stderr.trim() ? `: ${stderr.trim()}` : ''}`,
          ),
        );
    });
  });

export interface AcquireOptions {
  /** The job's repository, recorded as a hash so a run can tell whether another job uses it. */
  repository?: string;
}

export const acquireLock = async (stateDir: string, job: string, options: AcquireOptions = {}): Promise<JobLock> => {
  const file = lockPath(stateDir, job);
  // 0700, like the rest of the state dir (state.ts), which this creates on a first run.
  await mkdir(join(stateDir, 'locks'), { recursive: true, mode: 0o700 });
  const flockFile = flockPath(stateDir, job);
  // flock(1) would create it too, but with the umask's mode; an existing file is left as it is.
  await writeFile(flockFile, '', { flag: 'a', mode: 0o600 });
  const flock = await takeFlock(flockFile);
  if (!flock) throw lockedError(job, file, await readRecord(file));
  const previous = await readRecord(file);
  if (previous && isSameProcessAlive(previous) && previous.pid !== process.pid) {
    // The kernel lock is free but its recorded holder still runs: someone ended the flock
    // helper by hand. Step aside rather than run two backups at once.
    await flock.release();
    throw lockedError(job, file, previous);
  }
  const record: LockRecord = {
    ...identityOf(process.pid),
    since: new Date().toISOString(),
    ...(options.repository !== undefined ? { repository: repositoryId(options.repository) } : {}),
    engines: [],
  };
  // Written whole by rename, so a reader never sees half a record; without fsync, since the
  // record only matters during this boot and must be there before the next engine starts.
  // Queued: the temp name is per process.
  const temp = join(stateDir, 'locks', `.${job}.lock.${process.pid}.tmp`);
  let writes: Promise<void> = Promise.resolve();
  const write = (): Promise<void> =>
    (writes = writes.then(async () => {
      await writeFile(temp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
      await rename(temp, file);
    }));
  try {
    await write();
  } catch (error) {
    await flock.release();
    throw error;
  }
  let released = false;
  return {
    previous,
    recordEngines: (engines) => {
      if (released) return Promise.resolve();
      record.engines = engines;
      return write().catch(() => undefined);
    },
    release: async () => {
      if (released) return;
      released = true;
      await writes.catch(() => undefined);
      await rm(file, { force: true });
      await flock.release();
    },
  };
};
