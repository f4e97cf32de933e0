// Runs the bundled, shipped artifact (dist/cronvault.mjs), never the sources: what the tests
// prove is what operators install. `make test` builds it first.
import { execa, type Options } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
export const cronvaultBin = join(projectRoot, 'dist', 'cronvault.mjs');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cronvault.mjs ...args`; never throws on a non-zero exit. */
export const runCronvault = async (args: string[], options: Options = {}): Promise<CliResult> => {
  const result = await execa(process.execPath, [cronvaultBin, ...args], {
    reject: false,
    stdin: 'ignore',
    ...options,
  });
  return {
    exitCode: result.exitCode ?? -1,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
  };
};

/** A fresh temporary directory, removed by the returned cleanup. */
export const makeTempDir = async (prefix = 'cronvault-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> => {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
};

/**
 * Writes `<dir>/config.yml` with state and metrics under `dir` (state/, text/) followed by
 * `lines` (defaults:, jobs:, …); returns its path.
 */
export const writeTestConfig = async (dir: string, lines: string[], name = 'config.yml'): Promise<string> => {
  const file = join(dir, name);
  await writeFile(file, [`state_dir: ${join(dir, 'state')}`, `metrics: { textfile_dir: ${join(dir, 'text')} }`, ...lines, ''].join('\n'));
  return file;
};
