// Real borg repositories for tests: created with the Debian borg (1.2), read back with it.
// BORG_BASE_DIR keeps borg's cache, keys and security files inside the test's directory.

import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';

export interface BorgRepository {
  repository: string;
  passwordFile: string;
  env: Record<string, string>;
}

/** Points this process (and so every cronvault it starts) at a private borg home. */
export const useBorgBaseDir = (dir: string): void => {
  process.env.BORG_BASE_DIR = join(dir, 'borg-base');
};

const passCommand = (file: string): string => `cat ${file}`;

export const createBorgRepository = async (
  dir: string,
  name = 'repo',
  password = 'correct horse battery staple',
): Promise<BorgRepository> => {
  const passwordFile = join(dir, `${name}.pass`);
  await writeFile(passwordFile, `${password}\n`);
  await chmod(passwordFile, 0o600);
  const repository = join(dir, name);
  const env = {
    BORG_REPO: repository,
    BORG_PASSCOMMAND: passCommand(passwordFile),
    BORG_BASE_DIR: process.env.BORG_BASE_DIR ?? join(dir, 'borg-base'),
  };
  await execa('borg', ['init', '--encryption=repokey-blake2'], { env });
  return { repository, passwordFile, env };
};

const borg = async (repo: Pick<BorgRepository, 'env'>, args: string[]): Promise<string> =>
  String((await execa('borg', args, { env: repo.env })).stdout);

export interface BorgArchiveInfo {
  name: string;
  id: string;
  time: string;
}

export const listArchives = async (
  repo: Pick<BorgRepository, 'env'>,
  ...filters: string[]
): Promise<BorgArchiveInfo[]> =>
  (JSON.parse(await borg(repo, ['list', '--json', ...filters])) as { archives: BorgArchiveInfo[] }).archives;

/**
 * Holds the repository's lock from a `borg with-lock` process until released or killed; `hostId`
 * makes the lock look like another machine's (BORG_HOST_ID). Resolves once the lock exists.
 */
export const holdLock = async (
  repo: BorgRepository,
  options: { hostId?: string } = {},
): Promise<{
  borgPid: number;
  process: ResultPromise;
  release: () => Promise<void>;
  killHard: () => Promise<void>;
}> => {
  // Holds until `release()` creates the file: no sleep to guess how long a loaded machine needs.
  const releaseFile = `${repo.repository}.release-${process.hrtime.bigint()}`;
  const child = execa(
    'borg',
    ['with-lock', repo.repository, '/bin/sh', '-c', 'while [ ! -e "$0" ]; do sleep 0.1; done', releaseFile],
    {
      env: { ...repo.env, ...(options.hostId ? { BORG_HOST_ID: options.hostId } : {}) },
      reject: false,
      // Its `sleep` child would keep inherited pipes open after borg is killed.
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 200; i += 1) {
    const entries = await readdir(join(repo.repository, 'lock.exclusive')).catch(() => [] as string[]);
    if (entries.length > 0) {
      // SIGKILL as a crash or the OOM killer would: borg leaves its lock behind. Its `sleep`
      // child is stopped too, so nothing outlives the test.
      const killHard = async () => {
        let children = '';
        for (let j = 0; j < 40 && children.trim() === ''; j += 1) {
          children = await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '');
          if (children.trim() === '') await new Promise((resolve) => setTimeout(resolve, 50));
        }
        child.kill('SIGKILL');
        for (const pid of children.trim().split(/\s+/).filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
        await child;
      };
      const release = async () => {
        await writeFile(releaseFile, '');
        await child;
      };
      return { borgPid: child.pid!, process: child, release, killHard };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error('borg with-lock did not take the lock');
};
