// Writes a file so that readers (node_exporter, cron) see the old content or the new, never
// half of either: temp file in the same directory, fsync, rename, fsync the directory.
import { open, rename, rm, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const writeFileAtomic = async (file: string, content: string, mode = 0o644): Promise<void> => {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  // The temp name must not end in ".prom": node_exporter would read it.
  const temp = join(dir, `.${basename(file)}.${process.pid}.tmp`);
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
  try {
    await rename(temp, file);
  } catch (error) {
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
