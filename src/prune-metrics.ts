// The textfile of one repository's last prune (`cronvault prune`). Labelled by the repository's
// name, never its URL: URLs may hold credentials and would start new series on every change.
// The file name starts "cronvault-prune_" so no job's cronvault_<job>.prom can ever collide with it.
import { join } from 'node:path';
import { Gauge, Registry } from 'prom-client';
import { writeFileAtomic } from './atomic-write.ts';

const METRIC = {
  start: 'backup_last_prune_start_timestamp_seconds',
  success: 'backup_last_prune_success',
  duration: 'backup_last_prune_duration_seconds',
  exitCode: 'backup_last_prune_exit_code',
  removedBytes: 'backup_last_prune_removed_bytes',
} as const;

const HELP: Record<keyof typeof METRIC, string> = {
  start: 'Unix time the last cronvault prune of this repository started.',
  success: '1 when the last prune of this repository succeeded, else 0.',
  duration: 'Wall time of the last prune in seconds, lock waits and retries included.',
  exitCode: "The engine's exit code of the last prune (-1 when it never ran).",
  removedBytes: 'Bytes the last prune freed, when the engine said.',
};

export interface PruneMetrics {
  start: number;
  success: boolean;
  duration: number;
  exitCode: number;
  removedBytes?: number;
}

const pruneMetricsFile = (textfileDir: string, repository: string): string =>
  join(textfileDir, `cronvault-prune_${repository}.prom`);

export const renderPruneMetrics = async (repository: string, values: PruneMetrics): Promise<string> => {
  const registry = new Registry();
  for (const key of Object.keys(METRIC) as (keyof typeof METRIC)[]) {
    const value = values[key];
    if (value === undefined) continue;
    new Gauge({ name: METRIC[key], help: HELP[key], labelNames: ['repository'], registers: [registry] }).set(
      { repository },
      typeof value === 'boolean' ? Number(value) : value,
    );
  }
  return registry.metrics();
};

export const writePruneMetrics = async (textfileDir: string, repository: string, values: PruneMetrics) =>
  writeFileAtomic(pruneMetricsFile(textfileDir, repository), await renderPruneMetrics(repository, values));
