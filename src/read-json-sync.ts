// A small JSON file read synchronously, for `status`: it reads a state file per job (1,000 for
// 500 jobs with verify) and has nothing else to do meanwhile, and fs/promises sends each file's
// open, stat, read and close to the thread pool where readFileSync makes them here (BENCHMARKS.md).
import { readFileSync } from 'node:fs';

/** The parsed file; undefined when it is missing, unreadable or not JSON, as the async readers say. */
export const readJsonSync = (file: string): unknown => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
};
