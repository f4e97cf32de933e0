// A small JSON file read back (a job's state, its verify state): the parsed value, or undefined
// when the file is missing, unreadable or not JSON. The synchronous one is for `status`: it reads
// a state file per job (1,000 for 500 jobs with verify) and has nothing else to do meanwhile, and
// fs/promises sends each file's open, stat, read and close to the thread pool where readFileSync
// makes them here (BENCHMARKS.md).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export const readJson = async (file: string): Promise<unknown> => {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
};

export const readJsonSync = (file: string): unknown => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
};
