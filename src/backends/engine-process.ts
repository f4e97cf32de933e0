// Runs an engine binary with its output streamed line by line: a whole backup's output is
// never held in memory, only the last part of stderr for classifying a failure.
import { execa } from 'execa';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { CronvaultError, EXIT } from '../errors.ts';

export interface EngineRun {
  exitCode: number;
  stderrTail: string;
  /** Set when the process could not be started at all (binary missing, not executable). */
  spawnError?: string;
}

export interface EngineRunOptions {
  binary: string;
  args: string[];
  env: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** Signal sent on cancel; restic cleans its lock up on SIGINT but not on SIGTERM. */
  killSignal?: NodeJS.Signals;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  stdin?: NodeJS.ReadableStream;
  /** When set, stdout is written here instead of being read as lines (restore --to-stdout). */
  stdoutTo?: NodeJS.WritableStream;
  /** Working directory (borg extract restores into the current directory). */
  cwd?: string;
}

const STDERR_TAIL_BYTES = 64 * 1024;

/** Environment variables that would override what cronvault passes on purpose. */
const SCRUBBED_ENV = [
  'RESTIC_PASSWORD', 'RESTIC_PASSWORD_FILE', 'RESTIC_PASSWORD_COMMAND', 'RESTIC_REPOSITORY', 'RESTIC_REPOSITORY_FILE', 'PASSPHRASE',
  'BORG_PASSPHRASE', 'BORG_PASSCOMMAND', 'BORG_PASSPHRASE_FD', 'BORG_NEW_PASSPHRASE', 'BORG_REPO',
];

export const runEngine = async (options: EngineRunOptions): Promise<EngineRun> => {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of SCRUBBED_ENV) delete env[name];
  Object.assign(env, options.env);
  let stderrTail = '';
  const subprocess = execa(options.binary, options.args, {
    env,
    extendEnv: false,
    cwd: options.cwd,
    reject: false,
    buffer: false,
    stdin: options.stdin ? 'pipe' : 'ignore',
    stdout: options.stdoutTo ? 'pipe' : 'pipe',
    stderr: 'pipe',
    cancelSignal: options.signal,
    killSignal: options.killSignal ?? 'SIGTERM',
    forceKillAfterDelay: 30_000,
  });
  if (options.stdin && subprocess.stdin) options.stdin.pipe(subprocess.stdin);
  const readLines = async (stream: NodeJS.ReadableStream | null, onLine: (line: string) => void) => {
    if (!stream) return;
    let pending = '';
    for await (const chunk of stream) {
      pending += chunk.toString();
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        onLine(pending.slice(0, newline).replace(/\r$/, ''));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
    }
    if (pending !== '') onLine(pending);
  };
  const stdoutDone = options.stdoutTo
    ? new Promise<void>((resolve, reject) => {
        subprocess.stdout!.pipe(options.stdoutTo!, { end: false });
        subprocess.stdout!.on('end', resolve).on('error', reject);
      })
    : readLines(subprocess.stdout, (line) => options.onStdoutLine?.(line));
  const stderrDone = readLines(subprocess.stderr, (line) => {
    stderrTail = (stderrTail + line + '\n').slice(-STDERR_TAIL_BYTES);
    options.onStderrLine?.(line);
  });
  const result = await subprocess;
  await Promise.allSettled([stdoutDone, stderrDone]);
  if (result.failed && result.exitCode === undefined && !result.isCanceled && !result.signal) {
    const code = (result.cause as NodeJS.ErrnoException | undefined)?.code;
    const spawnError = code === 'ENOENT' ? `${options.binary} is not installed or not on PATH` : code === 'EACCES' ? `${options.binary} is not executable` : result.shortMessage;
    return { exitCode: -1, stderrTail, spawnError };
  }
  if (result.isCanceled || (result.signal && options.signal?.aborted)) {
    throw new CronvaultError('E_INTERRUPTED', EXIT.sigint, `${options.binary} was stopped: ${String(options.signal?.reason ?? 'cancelled')}`);
  }
  return { exitCode: result.exitCode ?? (result.signal ? 128 + signalNumber(result.signal) : -1), stderrTail };
};

const signalNumber = (signal: string): number => ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;

/** Runs an engine command to completion and collects stdout (small outputs only: JSON lists). */
export const runEngineCollect = async (options: Omit<EngineRunOptions, 'onStdoutLine'>): Promise<EngineRun & { stdout: string }> => {
  const lines: string[] = [];
  const run = await runEngine({ ...options, onStdoutLine: (line) => lines.push(line) });
  return { ...run, stdout: lines.join('\n') };
};

/** The executable's full path, looked up on PATH unless given with a slash; undefined if absent. */
export const findExecutable = async (binary: string): Promise<string | undefined> => {
  const candidates = binary.includes('/') ? [binary] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, binary));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
};
