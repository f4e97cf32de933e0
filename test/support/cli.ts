// Runs the bundled, shipped artifact (dist/cronvault.mjs), never the sources: what the tests
// prove is what operators install. `make test` builds it first.

import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type Options } from 'execa';

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

/**
 * Starts the bundle without waiting for it: `stderrSoFar()` is what it has logged until now
 * (to wait for a step with waitFor), `done` its result.
 */
export const startCronvault = (
  args: string[],
  options: Options = {},
): { stderrSoFar: () => string; done: Promise<CliResult> } => {
  const subprocess = execa(process.execPath, [cronvaultBin, ...args], { reject: false, stdin: 'ignore', ...options });
  let stderr = '';
  subprocess.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = subprocess.then((result) => ({
    exitCode: result.exitCode ?? -1,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
  }));
  return { stderrSoFar: () => stderr, done };
};

/**
 * Runs the bundle as nobody (setpriv drops privileges before node starts), for what depends on
 * who runs cronvault: root reads everything. The checkout may live where nobody cannot enter
 * (a clone under /root, mode 0700), so nobody runs a copy of the bundle (it is self-contained)
 * placed in `dir`, which must be traversable by nobody; `dir` is the working directory too.
 */
export const runCronvaultAsNobody = async (dir: string, args: string[], options: Options = {}): Promise<CliResult> => {
  const bin = join(dir, 'cronvault.mjs');
  await copyFile(cronvaultBin, bin);
  await chmod(bin, 0o755);
  const result = await execa(
    'setpriv',
    ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, bin, ...args],
    {
      reject: false,
      stdin: 'ignore',
      cwd: dir,
      ...options,
    },
  );
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
};

/** A fresh temporary directory, removed by the returned cleanup. */
export const makeTempDir = async (
  prefix = 'cronvault-test-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> => {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
};

/**
 * Writes `<dir>/config.yml` with state and metrics under `dir` (state/, text/) followed by
 * `lines` (defaults:, jobs:, …); returns its path.
 */
export const writeTestConfig = async (dir: string, lines: string[], name = 'config.yml'): Promise<string> => {
  const file = join(dir, name);
  await writeFile(
    file,
    [`state_dir: ${join(dir, 'state')}`, `metrics: { textfile_dir: ${join(dir, 'text')} }`, ...lines, ''].join('\n'),
  );
  return file;
};
