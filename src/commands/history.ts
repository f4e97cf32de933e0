// `cronvault history <job>`: the job's last runs from its bounded history file in state_dir.
import { formatBytes, formatDuration } from '../durations.ts';
import { EXIT, UsageError } from '../errors.ts';
import { hasHooks } from '../hooks-config.ts';
import { type HistoryEntry, readHistory } from '../state.ts';
import { renderTable } from '../terminal.ts';
import { findJob, type GlobalOptions, readConfig } from './context.ts';

export interface HistoryFlags extends GlobalOptions {
  number?: string;
}

const DEFAULT_COUNT = 20;

const countOf = (text: string | undefined): number => {
  if (text === undefined) return DEFAULT_COUNT;
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1)
    throw new UsageError('E_USAGE', `-n/--number must be a whole number of at least 1, not "${text}"`);
  return count;
};

/** Local wall-clock time, "2026-11-25 22:04:13": the operator reads it beside cron mails. */
const localTime = (seconds: number): string => {
  const d = new Date(seconds * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
};

/** "after, finally failed", or "-": the HOOKS column. */
const failedHookPhases = (e: HistoryEntry): string =>
  e.hookFailures?.length ? `${[...new Set(e.hookFailures.map((f) => f.phase))].join(', ')} failed` : '-';

/** One line per failed hook command under the table, with its reason: the column has no room for it. */
const hookNotes = (entries: HistoryEntry[]): string[] =>
  entries.flatMap((e) =>
    (e.hookFailures ?? []).map((f) => `${localTime(e.start)}: ${f.phase} hook "${f.command}" failed: ${f.reason}`),
  );

/**
 * A HOOKS column (and the reasons below the table) only for a job with hooks or a shown run
 * whose hooks failed: the table of a job without hooks stays as it was.
 */
const formatHistory = (job: string, entries: HistoryEntry[], showHooks: boolean): string => {
  if (entries.length === 0) return `job ${job} has no recorded runs yet`;
  const notes = hookNotes(entries);
  const hooks = showHooks || notes.length > 0;
  const rows = [
    ['START', 'DURATION', 'OUTCOME', 'EXIT', 'ATTEMPTS', 'ADDED', ...(hooks ? ['HOOKS'] : []), 'SNAPSHOT'],
    ...entries.map((e) => [
      localTime(e.start),
      formatDuration(e.durationSeconds * 1000),
      e.outcome,
      String(e.exitCode),
      String(e.attempts),
      e.bytesAdded === undefined ? '-' : formatBytes(e.bytesAdded),
      ...(hooks ? [failedHookPhases(e)] : []),
      e.snapshotId ?? (e.outcome === 'failed' || e.outcome === 'skipped' ? e.reason : '-'),
    ]),
  ];
  return [...renderTable(rows), ...(notes.length ? ['', ...notes] : [])].join('\n');
};

/** Newest run first. */
export const historyCommand = async (jobName: string, flags: HistoryFlags): Promise<number> => {
  const count = countOf(flags.number);
  const job = findJob(readConfig(flags), jobName);
  const entries = (await readHistory(job.stateDir, job.name)).slice(-count).reverse();
  process.stdout.write(
    flags.json
      ? `${JSON.stringify({ job: job.name, runs: entries }, null, 2)}\n`
      : `${formatHistory(job.name, entries, hasHooks(job.hooks))}\n`,
  );
  return EXIT.ok;
};
