// Exit codes in words. The codes cronvault itself records in backup_last_exit_code (-1, 124,
// 130, 143) mean the same for every engine; everything else is the engine's own table.
import type { Backend } from './backends/types.ts';

const CRONVAULT_CODES: Record<number, string> = {
  [-1]: 'the engine never started',
  124: "stopped by cronvault at the job's timeout",
  130: 'interrupted (SIGINT)',
  143: 'terminated (SIGTERM)',
};

export const describeExitCode = (backend: Backend, code: number): string => CRONVAULT_CODES[code] ?? backend.describeExitCode(code);
