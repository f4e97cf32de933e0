// Writes a file so that readers (node_exporter, cron) see the old content or the new, never
// half of either: temp file in the same directory, fsync, rename, fsync the directory.
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pidExists } from './process-identity.ts';

const TEMP_NAME = /^\..+\.(\d+)\.tmp$/;

const swept = new Set<string>();

/**
 * Removes temp files that a killed writer (kill -9, power loss) left behind: their pid is gone,
 * so no rename will ever follow. Once per directory and process, on the first write there.
 */
export const sweepStaleTempFiles = async (dir: string): Promise<string[]> => {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const pid = Number(TEMP_NAME.exec(name)?.[1]);
    if (!pid || pid === process.pid || pidExists(pid)) continue;
    await rm(join(dir, name), { force: true }).then(
      () => removed.push(name),
      () => undefined,
    );
  }
  return removed;
};

export const writeFileAtomic = async (file: string, content: string, mode = 0o644): Promise<void> => {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  if (!swept.has(dir)) {
    swept.add(dir);
    await sweepStaleTempFiles(dir);
  }
  // The temp name must not end in ".prom": node_exporter would read it.
  const temp = join(dir, `.${basename(file)}.${process.pid}.tmp`);
  try {
    const handle = await open(temp, 'w', mode);
    try {
      // The mode exactly, whatever the umask: a .prom file must stay 0644 under cron's umask 077,
      // since node_exporter reads it as another user.
      await handle.chmod(mode);
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    // A full disk fails the write or the sync: the half-written temp file must not stay behind.
    await rm(temp, { force: true });
    throw error;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    await dirHandle.close();
  }
};
