// Every failure cronvault reports carries a stable code (for tests and scripts) and the exit
// code the process ends with. Only `main` turns one into an exit.

export const EXIT = {
  ok: 0,
  backupFailed: 1,
  usage: 2,
  locked: 75,
  /** A service cronvault asks (Prometheus for `fleet`) is unreachable or answers with an error (sysexits EX_UNAVAILABLE). */
  unavailable: 69,
  /** That service refused the credentials (sysexits EX_NOPERM). */
  noPermission: 77,
  sigint: 130,
  sigterm: 143,
} as const;

/**
 * Codes cronvault records as the engine's exit code (backup_last_exit_code, history) when the
 * engine gave none of its own. They mean the same for every engine; src/exit-meaning.ts says
 * them in words.
 */
export const RECORDED_EXIT = {
  /** The engine never ran: bad password file, missing binary, a failure before the backup. */
  engineNeverStarted: -1,
  /** Stopped at the job's timeout, as timeout(1) reports it. */
  timedOut: 124,
  interrupted: EXIT.sigint,
  terminated: EXIT.sigterm,
} as const;

export class CronvaultError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, exitCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CronvaultError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad input: config, flags, retention strings, job names. Exit 2. */
export class UsageError extends CronvaultError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, EXIT.usage, message, options);
    this.name = 'UsageError';
  }
}

export const isCronvaultError = (error: unknown): error is CronvaultError => error instanceof CronvaultError;
