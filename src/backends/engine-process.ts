// Runs an engine binary with its output streamed line by line: a whole backup's output is
// never held in memory, only the last part of stderr for classifying a failure.
//
// Every engine (and every `command:` producer) runs in its own process group, and stopping it
// means signalling the whole group: an engine's own children (a wrapper script's restic, a
// shell's pg_dump) would otherwise keep running and keep its pipes open after the engine is
// gone, so a timed-out run would linger and a new run would meet the old one's lock.

import { access, constants } from 'node:fs/promises';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';
import { CronvaultError, EXIT } from '../errors.ts';
import { identityOf, identityText, type ProcessIdentity, signalGroup, waitForGroupGone } from '../process-identity.ts';

export interface EngineRun {
  exitCode: number;
  stderrTail: string;
  /** Set when the process could not be started at all (binary missing, not executable). */
  spawnError?: string;
  /** The signal that ended the engine when it was not cronvault stopping it ("SIGSEGV"). */
  killedBy?: string;
}

export interface EngineRunOptions {
  binary: string;
  args: string[];
  env: Record<string, string | undefined>;
  signal?: AbortSignal;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  stdin?: NodeJS.ReadableStream;
  /** When set, stdout is written here instead of being read as lines (restore --to-stdout). */
  stdoutTo?: NodeJS.WritableStream;
  /** Working directory (borg extract restores into the current directory). */
  cwd?: string;
  /** How the group is stopped on abort: SIGINT for engines (the default), SIGTERM for hooks. */
  stop?: GroupStop;
}

/** The first signal a stopped group gets, and how long it has before SIGKILL. */
export interface GroupStop {
  signal: NodeJS.Signals;
  graceMs: number;
}

const STDERR_TAIL_BYTES = 64 * 1024;

/**
 * Every engine and producer carries this variable naming the cronvault process that started
 * it, so a run that takes over a dead run's lock finds all its orphans, even one started in
 * the instant before the lock recorded its process group.
 */
export const RUN_MARKER_VARIABLE = 'CRONVAULT_RUN';
let ownMarker: string | undefined;
export const runMarker = (): string => (ownMarker ??= identityText(identityOf(process.pid)));

/** How long a stopped engine gets to clean up (restic removes its lock) before SIGKILL. */
export const STOP_GRACE_MS = 5000;

// The process groups running right now, for the job lock (a later run stops them if this one
// is killed) and for a hard exit. One cronvault process runs one job at a time.
const runningGroups = new Map<number, ProcessIdentity>();
let onGroupsChange: ((groups: ProcessIdentity[]) => void) | undefined;
const groupsChanged = () => onGroupsChange?.([...runningGroups.values()]);

/** Calls `listener` with the engine process groups whenever one starts or ends; returns the unhook. */
export const watchEngineGroups = (listener: (groups: ProcessIdentity[]) => void): (() => void) => {
  onGroupsChange = listener;
  return () => {
    if (onGroupsChange === listener) onGroupsChange = undefined;
  };
};

/** SIGKILLs every engine group at once, for a hard exit (a second Ctrl-C). */
export const killEngineGroups = (): void => {
  for (const pgid of runningGroups.keys()) signalGroup(pgid, 'SIGKILL');
};

export interface SupervisedGroup {
  /** Whether cronvault stopped the group (the signal aborted while it ran). */
  readonly stopped: boolean;
  /**
   * Resolves once the group is over: when it was stopped, only when no process of it is left
   * (SIGKILL after the grace period), so the job lock is never released while one still runs.
   */
  settle(): Promise<void>;
}

/**
 * Ties a subprocess started with `detached: true` (its own process group) to `signal`: on
 * abort the whole group gets SIGINT (restic removes its repository lock on it), or the signal
 * `stop` names, then SIGKILL after the grace period.
 */
export const superviseGroup = (
  subprocess: { pid?: number },
  signal: AbortSignal | undefined,
  { signal: firstSignal, graceMs }: GroupStop = { signal: 'SIGINT', graceMs: STOP_GRACE_MS },
): SupervisedGroup => {
  const pgid = subprocess.pid;
  let stopped = false;
  let escalation: NodeJS.Timeout | undefined;
  const stop = () => {
    if (pgid === undefined || stopped) return;
    stopped = true;
    signalGroup(pgid, firstSignal);
    escalation = setTimeout(() => signalGroup(pgid, 'SIGKILL'), graceMs);
  };
  if (pgid !== undefined) {
    runningGroups.set(pgid, identityOf(pgid));
    groupsChanged();
  }
  if (signal?.aborted) stop();
  else signal?.addEventListener('abort', stop, { once: true });
  return {
    get stopped() {
      return stopped;
    },
    async settle() {
      signal?.removeEventListener('abort', stop);
      if (pgid === undefined) return;
      if (stopped && !(await waitForGroupGone(pgid, graceMs + 10_000))) signalGroup(pgid, 'SIGKILL');
      if (escalation) clearTimeout(escalation);
      runningGroups.delete(pgid);
      groupsChanged();
    },
  };
};

/** "SIGSEGV" → 11, from the platform's own table. */
const signalNumber = (signal: string): number => (osConstants.signals as Record<string, number>)[signal] ?? 0;

/** Environment variables that would override what cronvault passes on purpose. */
const SCRUBBED_ENV = [
  'RESTIC_PASSWORD',
  'RESTIC_PASSWORD_FILE',
  'RESTIC_PASSWORD_COMMAND',
  'RESTIC_REPOSITORY',
  'RESTIC_REPOSITORY_FILE',
  'PASSPHRASE',
  'BORG_PASSPHRASE',
  'BORG_PASSCOMMAND',
  'BORG_PASSPHRASE_FD',
  'BORG_NEW_PASSPHRASE',
  'BORG_REPO',
];

export const runEngine = async (options: EngineRunOptions): Promise<EngineRun> => {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of SCRUBBED_ENV) delete env[name];
  Object.assign(env, options.env, { [RUN_MARKER_VARIABLE]: runMarker() });
  let stderrTail = '';
  if (options.signal?.aborted) throw interrupted(options);
  const handedOver = options.stdin instanceof Socket;
  const subprocess = execa(options.binary, options.args, {
    env,
    extendEnv: false,
    cwd: options.cwd,
    reject: false,
    buffer: false,
    // A producer's own pipe (a socket) is handed to the engine as its stdin file descriptor, so
    // the dump flows from one process to the other without entering Node; any other stream (a
    // format check on the way) is piped through Node.
    stdin: handedOver ? (options.stdin as Readable) : options.stdin ? 'pipe' : 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    detached: true,
    // cronvault stops the whole group itself (superviseGroup); execa's own kill on exit would
    // reach only the leader.
    cleanup: false,
  });
  const group = superviseGroup(subprocess, options.signal, options.stop);
  // The engine holds its own copy of a handed-over pipe. Node's must go: it would never be read
  // to its end, and the producer has to get SIGPIPE, not block, when the engine stops reading.
  if (handedOver && subprocess.pid !== undefined) (options.stdin as Readable).destroy();
  else if (options.stdin && subprocess.stdin) options.stdin.pipe(subprocess.stdin);
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
    stderrTail = `${stderrTail + line}\n`.slice(-STDERR_TAIL_BYTES);
    options.onStderrLine?.(line);
  });
  let result: Awaited<ResultPromise>;
  try {
    result = await subprocess;
    await Promise.allSettled([stdoutDone, stderrDone]);
  } finally {
    await group.settle();
  }
  if (result.failed && result.exitCode === undefined && !result.signal) {
    const code = (result.cause as NodeJS.ErrnoException | undefined)?.code;
    const spawnError =
      code === 'ENOENT'
        ? `${options.binary} is not installed or not on PATH`
        : code === 'EACCES'
          ? `${options.binary} is not executable`
          : result.shortMessage;
    return { exitCode: -1, stderrTail, spawnError };
  }
  if (group.stopped) throw interrupted(options);
  if (result.signal) return { exitCode: 128 + signalNumber(result.signal), stderrTail, killedBy: result.signal };
  return { exitCode: result.exitCode ?? -1, stderrTail };
};

const interrupted = (options: EngineRunOptions): CronvaultError =>
  new CronvaultError(
    'E_INTERRUPTED',
    EXIT.sigint,
    `${options.binary} was stopped: ${String(options.signal?.reason ?? 'cancelled')}`,
  );

/** Runs an engine command to completion and collects stdout (small outputs only: JSON lists). */
export const runEngineCollect = async (
  options: Omit<EngineRunOptions, 'onStdoutLine'>,
): Promise<EngineRun & { stdout: string }> => {
  const lines: string[] = [];
  const run = await runEngine({ ...options, onStdoutLine: (line) => lines.push(line) });
  return { ...run, stdout: lines.join('\n') };
};

/** The executable's full path, looked up on PATH unless given with a slash; undefined if absent. */
export const findExecutable = async (binary: string): Promise<string | undefined> => {
  const candidates = binary.includes('/')
    ? [binary]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, binary));
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
