// Exit codes in words. The codes cronvault itself records in backup_last_exit_code
// (RECORDED_EXIT in errors.ts) mean the same for every engine; everything else is the engine's
// own table (EXIT_CODES in its backend). test/exit-codes.test.ts holds the alert rules and the
// docs to these tables.
import type { Backend } from './backends/types.ts';
import { RECORDED_EXIT } from './errors.ts';

export interface ExitMeaning {
  /** In logs, `cronvault status` and its JSON. */
  meaning: string;
  /** The shorter words the alert rules use (prometheus/rules.yml.j2); the meaning when absent. */
  alert?: string;
}

export const CRONVAULT_EXIT_CODES: Record<number, ExitMeaning> = {
  [RECORDED_EXIT.engineNeverStarted]: { meaning: 'the engine never started' },
  [RECORDED_EXIT.timedOut]: {
    meaning: "stopped by cronvault at the job's timeout",
    alert: 'stopped by cronvault at its timeout',
  },
  [RECORDED_EXIT.interrupted]: { meaning: 'interrupted (SIGINT)', alert: 'interrupted by SIGINT' },
  [RECORDED_EXIT.terminated]: { meaning: 'terminated (SIGTERM)', alert: 'terminated by SIGTERM' },
};

/** What an engine says about a code outside its table. */
export const unknownExitCode = (code: number): string => `unknown exit code ${code}, treated as failure`;

export const describeExitCode = (backend: Backend, code: number): string =>
  CRONVAULT_EXIT_CODES[code]?.meaning ?? backend.describeExitCode(code);
