// What cronvault remembers between runs, in state_dir: the last metrics of each job (so a new
// run re-emits what it does not change, like the last success time) and a bounded run history.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from './atomic-write.ts';
import type { JobMetrics } from './metrics.ts';
import { readJson } from './read-json.ts';

export type RunOutcomeName = 'success' | 'warning' | 'failed';

export interface HistoryEntry {
  start: number;
  end: number;
  durationSeconds: number;
  /** `skipped`: another run of the job held its lock, so this one did not start (exit 75). */
  outcome: RunOutcomeName | 'skipped';
  exitCode: number;
  attempts: number;
  reason: string;
  bytesAdded?: number;
  filesNew?: number;
  filesChanged?: number;
  snapshotId?: string;
  retention?: { outcome: string; removed: number; reason: string };
  /** Hook commands that failed in this run (phase, command as written, why); absent when none did. */
  hookFailures?: { phase: string; command: string; reason: string }[];
}

/** Runs kept per job when the config sets no history_keep. */
export const HISTORY_LIMIT = 1000;

/**
 * State is cronvault's own and private: directories are created 0700 (the state dir with them,
 * when it is missing) and files 0600. History reasons quote engine output, and whoever can
 * write here can forge a job's last success. Existing directories keep the mode an operator
 * gave them. (The textfile .prom files are the exception: see atomic-write.ts.)
 */
const PRIVATE_DIR_MODE = 0o700;
const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` and any missing parents 0700; leaves existing ones alone. */
const ensurePrivateDir = async (dir: string): Promise<void> => {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
};

/** Writes one of cronvault's own files: 0600, in a directory created 0700 when missing. */
export const writePrivate = async (file: string, content: string): Promise<void> => {
  await ensurePrivateDir(dirname(file));
  await writeFileAtomic(file, content, PRIVATE_FILE_MODE);
};

export const stateFile = (stateDir: string, job: string): string => join(stateDir, 'jobs', `${job}.json`);
const historyFile = (stateDir: string, job: string): string => join(stateDir, 'history', `${job}.jsonl`);

/** A hook command that failed, as the history and the state keep it. */
export interface RecordedHookFailure {
  phase: string;
  command: string;
  reason: string;
}

/**
 * The last metrics of a job, and what it backs up (a path, or `command:` and the command).
 * `lastHookFailures`: the hook commands that failed in the last finished run, for `status`.
 */
export type JobState = JobMetrics & { source?: string; lastHookFailures?: RecordedHookFailure[] };

export const readJobState = async (stateDir: string, job: string): Promise<JobState | undefined> =>
  (await readJson(stateFile(stateDir, job))) as JobState | undefined;

export const writeJobState = (stateDir: string, job: string, metrics: JobState): Promise<void> =>
  writePrivate(stateFile(stateDir, job), `${JSON.stringify(metrics, null, 2)}\n`);

export const readHistory = async (stateDir: string, job: string): Promise<HistoryEntry[]> => {
  let text: string;
  try {
    text = await readFile(historyFile(stateDir, job), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as HistoryEntry];
      } catch {
        return [];
      }
    });
};

/** Appends one run, keeping only the newest `keep` (history_keep) so the file never grows unbounded. */
export const appendHistory = async (
  stateDir: string,
  job: string,
  entry: HistoryEntry,
  keep = HISTORY_LIMIT,
): Promise<void> => {
  const entries = [...(await readHistory(stateDir, job)), entry].slice(-Math.max(1, keep));
  await writePrivate(historyFile(stateDir, job), `${entries.map((e) => JSON.stringify(e)).join('\n')}\n`);
};
