// An engine's version, remembered in state_dir between runs: asking `restic version` costs a
// process (tens of milliseconds) on every run, for an answer that changes only when the binary
// does. The entry is keyed by the binary's resolved path, size, mtime and inode, so an upgrade
// (a new file, or one rewritten in place) is asked again.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.ts';
import { isPlainObject } from './plain-object.ts';

const CACHE_NAME = 'engine-versions.json';

interface Entry {
  size: number;
  mtimeMs: number;
  ino: number;
  version: string;
}

const engineVersionCacheFile = (stateDir: string): string => join(stateDir, CACHE_NAME);

const readCache = async (file: string): Promise<Record<string, Entry>> => {
  try {
    const data: unknown = JSON.parse(await readFile(file, 'utf8'));
    return isPlainObject(data) ? (data as Record<string, Entry>) : {};
  } catch {
    // Missing, unreadable or torn by hand: it is only a cache.
    return {};
  }
};

/**
 * The version `ask` reports for the executable at `path` (absolute, already found on PATH),
 * answered from `stateDir` when the file is unchanged since it was last asked. A cache that
 * cannot be read or written never fails the run: the engine is asked, as before.
 */
export const cachedEngineVersion = async (
  stateDir: string,
  path: string,
  ask: () => Promise<string>,
): Promise<string> => {
  let identity: Omit<Entry, 'version'>;
  try {
    const info = await stat(path);
    identity = { size: info.size, mtimeMs: info.mtimeMs, ino: info.ino };
  } catch {
    return ask();
  }
  const file = engineVersionCacheFile(stateDir);
  const cache = await readCache(file);
  const entry = cache[path];
  if (
    entry &&
    typeof entry.version === 'string' &&
    entry.size === identity.size &&
    entry.mtimeMs === identity.mtimeMs &&
    entry.ino === identity.ino
  )
    return entry.version;
  const version = await ask();
  cache[path] = { ...identity, version };
  // Never the one to create state_dir: a dry run or a check must leave a fresh host as it was.
  const stateDirExists = await stat(stateDir).then(
    (info) => info.isDirectory(),
    () => false,
  );
  if (stateDirExists) await writeFileAtomic(file, `${JSON.stringify(cache)}\n`, 0o600).catch(() => undefined);
  return version;
};
