// `cronvault snapshots <job>`: the job's own snapshots (this host, this job's tag), oldest first.
import { backendFor } from '../backends/index.ts';
import type { Snapshot } from '../backends/types.ts';
import { EXIT } from '../errors.ts';
import { findJob, readConfig, type ConfigOption } from './context.ts';

export const formatSnapshots = (job: string, snapshots: Snapshot[]): string => {
  if (snapshots.length === 0) return `job ${job} has no snapshots from this host yet`;
  const rows = [['ID', 'TIME', 'HOST', 'PATHS'], ...snapshots.map((s) => [s.id, s.time.replace(/\.\d+/, '').replace('T', ' '), s.hostname, s.paths.join(', ')])];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  const lines = rows.map((row) => row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  ').trimEnd());
  return [...lines, `${snapshots.length} snapshot${snapshots.length === 1 ? '' : 's'}`].join('\n');
};

export const snapshotsCommand = async (jobName: string, flags: ConfigOption & { json?: boolean }, signal?: AbortSignal): Promise<number> => {
  const job = findJob(readConfig(flags), jobName);
  const snapshots = await backendFor(job.engine).snapshots(job, { signal });
  process.stdout.write(flags.json ? `${JSON.stringify(snapshots, null, 2)}\n` : `${formatSnapshots(job.name, snapshots)}\n`);
  return EXIT.ok;
};
