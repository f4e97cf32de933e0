// Where a job's last verify is remembered, and reading it back: apart from src/verify/record.ts
// (which writes it with its metrics), so `status` reads it without loading prom-client.
import { join } from 'node:path';
import { readJson } from '../read-json.ts';

/** What `status` and the next verify read back. */
export interface VerifyState {
  start: number;
  end: number;
  durationSeconds: number;
  success: boolean;
  filesChecked: number;
  /** Unix time of the last successful verify; 0 when none. */
  lastSuccess: number;
  reason: string;
  /** The part of the pack data the next `read_data: rotate` check reads (1-based). */
  rotateNext?: number;
}

export const verifyStateFile = (stateDir: string, job: string): string => join(stateDir, 'verify', `${job}.json`);

export const readVerifyState = async (stateDir: string, job: string): Promise<VerifyState | undefined> =>
  (await readJson(verifyStateFile(stateDir, job))) as VerifyState | undefined;
