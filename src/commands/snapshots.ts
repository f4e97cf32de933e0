// `cronvault snapshots <job>`: the job's own snapshots (this host, this job's tag), oldest first.
import { backendFor } from '../backends/index.ts';
import type { Snapshot } from '../backends/types.ts';
import { EXIT } from '../errors.ts';
import { renderTable } from '../terminal.ts';
import { findJob, type GlobalOptions, readConfig } from './context.ts';

const formatSnapshots = (job: string, snapshots: Snapshot[]): string => {
  if (snapshots.length === 0) return `job ${job} has no snapshots from this host yet`;
  const rows = [
    ['ID', 'TIME', 'HOST', 'PATHS'],
    ...snapshots.map((s) => [s.id, s.time.replace(/\.\d+/, '').replace('T', ' '), s.hostname, s.paths.join(', ')]),
  ];
  return [...renderTable(rows), `${snapshots.length} snapshot${snapshots.length === 1 ? '' : 's'}`].join('\n');
};

export const snapshotsCommand = async (
  jobName: string,
  flags: GlobalOptions,
  signal?: AbortSignal,
): Promise<number> => {
  const job = findJob(readConfig(flags), jobName);
  const snapshots = await backendFor(job.engine).snapshots(job, { signal });
  process.stdout.write(
    flags.json ? `${JSON.stringify(snapshots, null, 2)}\n` : `${formatSnapshots(job.name, snapshots)}\n`,
  );
  return EXIT.ok;
};
