// A dump written to a private file for an engine that cannot read a stream (duplicati-cli): the
// producer's stdout goes to a 0600 file in a 0700 directory under state_dir, which is removed
// whatever happens. A directory left by a run killed with -9 is removed by the next run.
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { JobConfig } from '../config.ts';
import { formatBytes } from '../durations.ts';
import { CronvaultError, EXIT } from '../errors.ts';
import { prepareProducer } from '../presets/index.ts';
import { readJobState } from '../state.ts';
import { checkVerdict } from './dump-check.ts';
import { runEngine } from './engine-process.ts';
import type { DumpOutcome } from './types.ts';

export interface DumpFile {
  /** The directory holding the dump alone: the engine backs this up. */
  dir: string;
  dump: DumpOutcome & { detail: string; rejected?: string };
  /** Removes the directory; safe to call more than once. */
  remove: () => Promise<void>;
}

const dumpDir = (job: JobConfig): string => join(job.stateDir, 'dumps', job.name);

/**
 * Refuses to start when state_dir's filesystem has less free space than the previous dump took:
 * a dump that fills the disk half-way fails anyway, and takes cronvault's state down with it.
 */
const assertRoomFor = async (job: JobConfig, dir: string): Promise<void> => {
  const previous = (await readJobState(job.stateDir, job.name))?.dumpBytes;
  if (previous === undefined || previous <= 0) return;
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (free < previous)
    throw new CronvaultError(
      'E_DUMP_SPACE',
      EXIT.backupFailed,
      `state_dir ${job.stateDir} has ${formatBytes(free)} free, less than the previous dump's ${formatBytes(previous)}; free space there before the next run`,
    );
};

/** The dump's own reader on the file (it seeks, so it reads only the header and table of contents). */
const checkFile = async (check: string[], file: string): Promise<string | undefined> => {
  const [binary, ...args] = check;
  const result = await execa(binary!, [...args, file], { reject: false, stdin: 'ignore', stdout: 'ignore' });
  return checkVerdict(binary!, result);
};

export const dumpToFile = async (job: JobConfig, signal?: AbortSignal): Promise<DumpFile> => {
  const dir = dumpDir(job);
  const remove = () => rm(dir, { recursive: true, force: true });
  await remove();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await assertRoomFor(job, dir);
    const producer = await prepareProducer(job);
    try {
      const file = join(dir, job.stdinFilename ?? `${job.name}.dump`);
      const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
      await new Promise((resolve, reject) => out.once('open', resolve).once('error', reject));
      const [binary, ...args] = producer.argv;
      const run = await runEngine({
        binary: binary!,
        args,
        env: { ...job.env, ...producer.env },
        signal,
        stdoutTo: out,
      }).finally(() => new Promise((resolve) => out.end(resolve)));
      const detail = run.spawnError ?? run.stderrTail.trim().split('\n').pop() ?? '';
      const bytes = (await stat(file)).size;
      // The dump is a file here: its format's reader (pg_restore --list) reads it after.
      const rejected =
        producer.check && run.exitCode === 0 && bytes > 0 ? await checkFile(producer.check, file) : undefined;
      return { dir, dump: { bytes, exitCode: run.exitCode, detail, rejected }, remove };
    } finally {
      await producer.cleanup();
    }
  } catch (error) {
    await remove();
    throw error;
  }
};
