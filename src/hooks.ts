// Runs a job's hook commands (hooks-config.ts says what they are): one phase at a time, each
// command with its own time limit, in its own process group (so a hung hook's children die with
// it), with the job's env and what the run knows so far in CRONVAULT_* variables. Output goes
// to the run's log, redacted, never to metrics. A failure is reported, never thrown: the
// wrapper decides what it means for the run.
import { findExecutable, type GroupStop, runEngine } from './backends/engine-process.ts';
import type { JobConfig } from './config.ts';
import { formatDuration } from './durations.ts';
import { isCronvaultError } from './errors.ts';
import { HOOK_PHASES, type HookCommand, type HookPhase } from './hooks-config.ts';
import { quote } from './input-text.ts';
import type { Logger } from './log.ts';
import { redactText } from './redact.ts';
import { shellWord } from './shell-word.ts';

/** What a hook is told about the run, as environment variables. */
export interface HookRunState {
  /** `running` before the backup; then success, warning or failed. */
  outcome: 'running' | 'success' | 'warning' | 'failed';
  /** The code `cronvault run` exits with for this job (0, 1, 130, 143). */
  exitCode?: number;
  /** The engine's raw exit code, as backup_last_exit_code has it (-1: the engine never ran). */
  engineExitCode?: number;
  snapshotId?: string;
}

export interface HookFailure {
  phase: HookPhase;
  /** The command as written (argv joined, or the shell string); redacted when logged. */
  command: string;
  reason: string;
}

/** The variables every hook gets on top of the job's `env`. */
const hookEnvironment = (job: JobConfig, phase: HookPhase, state: HookRunState): Record<string, string> => ({
  ...job.env,
  CRONVAULT_JOB: job.name,
  CRONVAULT_PHASE: phase,
  CRONVAULT_OUTCOME: state.outcome,
  CRONVAULT_EXIT_CODE: state.exitCode === undefined ? '' : String(state.exitCode),
  CRONVAULT_ENGINE_EXIT_CODE: state.engineExitCode === undefined ? '' : String(state.engineExitCode),
  CRONVAULT_SNAPSHOT_ID: state.snapshotId ?? '',
});

/** A command as a person would type it, for logs, `check` and the dry run. */
const hookText = (command: HookCommand): string =>
  command.shell ? command.text : command.argv.map(shellWord).join(' ');

/**
 * How a hook is stopped (at hooks_timeout, or when the run is): SIGTERM, the signal any command
 * expects to end it (SIGINT is for restic's lock, and a shell's background children ignore it),
 * then SIGKILL after a short grace, so a hung hook does not hold the run much past its limit.
 */
const HOOK_STOP: GroupStop = { signal: 'SIGTERM', graceMs: 2000 };

const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1)?.trim() ?? '';

/**
 * Aborts at the hook's time limit, or when `signal` does (SIGTERM during a `before` hook).
 * `timedOut` tells the two apart; `dispose` clears the timer and the listener.
 */
const hookSignal = (timeoutMs: number, signal: AbortSignal | undefined) => {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort('timeout');
  }, timeoutMs);
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
};

/** Runs one command; the reason it failed, or undefined when it exited 0. */
const runHook = async (
  job: JobConfig,
  phase: HookPhase,
  command: HookCommand,
  env: Record<string, string>,
  log: Logger,
  signal: AbortSignal | undefined,
): Promise<string | undefined> => {
  const limit = hookSignal(job.hooksTimeoutMs, signal);
  const onLine = (line: string) => log.info(`${phase} hook: ${line}`);
  try {
    const run = await runEngine({
      binary: command.argv[0]!,
      args: command.argv.slice(1),
      env,
      signal: limit.signal,
      stop: HOOK_STOP,
      onStdoutLine: onLine,
      onStderrLine: onLine,
    });
    if (run.spawnError) return `could not start: ${run.spawnError}`;
    const said = lastLine(run.stderrTail);
    if (run.killedBy) return `killed by ${run.killedBy}${said ? `: ${said}` : ''}`;
    if (run.exitCode !== 0) return `exit ${run.exitCode}${said ? `: ${said}` : ''}`;
    return undefined;
  } catch (error) {
    if (!isCronvaultError(error) || error.code !== 'E_INTERRUPTED') throw error;
    return limit.timedOut()
      ? `timed out after ${formatDuration(job.hooksTimeoutMs)} and was stopped (hooks_timeout)`
      : `stopped: interrupted by ${String(signal?.reason ?? 'a signal')}`;
  } finally {
    limit.dispose();
  }
};

/**
 * Runs the phase's commands in order. `before` stops at its first failure (the backup will not
 * run); the other phases run every command, so one failed cleanup does not skip the next.
 * `signal` stops a running command early (SIGTERM during `before` or `after`); `on_failure` and
 * `finally` get none, so they still run after an interrupt, each bounded by hooks_timeout.
 */
export const runHookPhase = async (
  job: JobConfig,
  phase: HookPhase,
  state: HookRunState,
  log: Logger,
  signal?: AbortSignal,
): Promise<HookFailure[]> => {
  const failures: HookFailure[] = [];
  const env = hookEnvironment(job, phase, state);
  for (const command of job.hooks[phase]) {
    const text = hookText(command);
    log.info(`${phase} hook: running ${text}`);
    const reason = await runHook(job, phase, command, env, log, signal);
    if (reason === undefined) continue;
    log.error(`${phase} hook ${quote(text)} failed: ${reason}`);
    // Kept in the history and shown by `cronvault history`: redacted like a log line.
    failures.push({ phase, command: redactText(text), reason: redactText(reason) });
    if (phase === 'before' || signal?.aborted) break;
  }
  return failures;
};

/** Each phase's commands, for the dry run: "before: systemctl stop app". */
export const describeHooks = (job: JobConfig): string[] =>
  HOOK_PHASES.flatMap((phase) => job.hooks[phase].map((command) => `${phase}: ${hookText(command)}`));

/** A hook command whose executable is missing or not executable, for `check`. */
export interface MissingHookExecutable {
  phase: HookPhase;
  command: string;
  executable: string;
}

/** The hooks whose first word is no executable file (looked up on PATH when it has no slash). */
export const missingHookExecutables = async (job: JobConfig): Promise<MissingHookExecutable[]> => {
  const missing: MissingHookExecutable[] = [];
  for (const phase of HOOK_PHASES)
    for (const command of job.hooks[phase]) {
      const executable = command.argv[0]!;
      if ((await findExecutable(executable)) === undefined)
        missing.push({ phase, command: hookText(command), executable });
    }
  return missing;
};
