// Plain-English description of a policy plus the exact engine flags, for `cronvault explain`,
// dry runs and the README. Deterministic: tests and docs compare it literally.

import { toBorgPruneArgs } from './borg.ts';
import { toDuplicatiPolicy } from './duplicati.ts';
import { type ResticForgetOptions, toResticForgetArgs } from './restic.ts';
import { describeParts, describeTimespan, isProblem, readTimespan, UNIT_ORDER, unitName } from './timespan.ts';
import {
  COUNT_KEYS,
  type CountKey,
  type RetentionPolicy,
  type RetentionRounding,
  type RetentionRule,
} from './types.ts';

const keepPhrase = (intervalText: string, keepAll: boolean): string => {
  if (keepAll) return 'keep every backup';
  const read = readTimespan(intervalText);
  if (isProblem(read)) return `keep one backup every ${intervalText}`;
  const units = UNIT_ORDER.filter((unit) => (read.parts[unit] ?? 0) > 0);
  const only = units[0];
  if (units.length === 1 && only !== undefined && read.parts[only] === 1)
    return `keep one backup per ${unitName(only)}`;
  return `keep one backup every ${describeParts(read.parts)}`;
};

const ruleLine = (rule: RetentionRule): string => {
  const [timeframe = '', interval = ''] = rule.text.split(':');
  const span = rule.timeframe === 'unlimited' ? 'forever' : `for ${describeTimespan(timeframe)}`;
  return `${span}: ${keepPhrase(interval, rule.interval === 'keep-all')}`;
};

const PERIOD: Record<Exclude<CountKey, 'last'>, [string, string]> = {
  hourly: ['hour', 'hours'],
  daily: ['day', 'days'],
  weekly: ['week', 'weeks'],
  monthly: ['month', 'months'],
  yearly: ['year', 'years'],
};

const countLine = (key: CountKey, n: number): string => {
  if (key === 'last') return n === 1 ? 'keep the last backup' : `keep the last ${n} backups`;
  const [one, many] = PERIOD[key];
  return n === 1
    ? `keep the newest backup of the last ${one} that has backups`
    : `keep the newest backup of each of the last ${n} ${many} that have backups`;
};

const ruleLines = (policy: RetentionPolicy): string[] => {
  if (policy.kind === 'none') return ['retention is disabled: no backup is ever deleted'];
  if (policy.kind === 'counts') {
    return [
      ...(policy.within
        ? [`keep every backup from the ${describeTimespan(policy.within.text)} before the newest backup`]
        : []),
      ...COUNT_KEYS.flatMap((key) => {
        const n = policy.counts[key];
        return n ? [countLine(key, n)] : [];
      }),
      'everything else: deleted',
    ];
  }
  const lines = policy.rules.map(ruleLine);
  const last = policy.rules.at(-1);
  if (last && last.timeframe !== 'unlimited')
    lines.push(`older than ${describeTimespan(last.text.split(':')[0] ?? '')}: deleted`);
  lines.push('the newest backup is always kept');
  return lines;
};

const resticLines = (policy: RetentionPolicy, options: ResticForgetOptions): string[] => {
  if (policy.kind === 'none') return ['restic forget is skipped'];
  try {
    const { args, warnings, keepAll } = toResticForgetArgs(policy, options);
    const notes = warnings.map((warning) => `note: ${warning}`);
    if (keepAll) return [...notes, 'restic forget is skipped: the policy keeps every backup'];
    if (policy.kind === 'duplicati' && args.some((arg) => arg.startsWith('--keep-within-'))) {
      notes.push(
        'note: restic measures these windows back from the newest backup and keeps the newest backup of each calendar hour, day, week, month or year',
      );
    }
    return [...notes, `restic forget ${args.join(' ')}`];
  } catch (error) {
    return [`restic cannot apply this policy: ${(error as Error).message}`];
  }
};

const borgLines = (policy: RetentionPolicy, rounding: 'refuse' | 'keep-more'): string[] => {
  if (policy.kind === 'none') return ['borg prune is skipped'];
  try {
    const { args, warnings, keepAll } = toBorgPruneArgs(policy, { rounding });
    const notes = warnings.map((warning) => `note: ${warning}`);
    if (keepAll) return [...notes, 'borg prune is skipped: the policy keeps every backup'];
    if (policy.kind === 'duplicati' && args.some((arg) => /^--keep-(hourly|daily|weekly|monthly|yearly)$/.test(arg))) {
      notes.push(
        'note: borg keeps the newest backup of each calendar hour, day, week, month or year that has backups; each count covers every period its window can touch',
      );
    }
    if (policy.kind === 'counts' && policy.within)
      notes.push('note: borg measures --keep-within back from now, not from the newest backup');
    return [...notes, `borg prune ${args.join(' ')}`, 'borg compact runs on the prune schedule (cronvault prune)'];
  } catch (error) {
    return [`borg cannot apply this policy: ${(error as Error).message}`];
  }
};

const duplicatiLines = (policy: RetentionPolicy): string[] => {
  if (policy.kind === 'none') return ['no --retention-policy is passed'];
  try {
    return [`--retention-policy=${toDuplicatiPolicy(policy)}`];
  } catch (error) {
    return [(error as Error).message];
  }
};

export interface ExplainOptions {
  /** Needed for restic: it decides how "unlimited" is written and which flags exist. */
  resticVersion?: string | undefined;
  rounding?: RetentionRounding | undefined;
}

/** One line per rule, then the engine's exact flags (or why it cannot apply the policy). */
export const explainRetention = (
  policy: RetentionPolicy,
  engine: 'restic' | 'duplicati' | 'borg',
  options: ExplainOptions = {},
): string => {
  const engineLines =
    engine === 'restic'
      ? resticLines(policy, { resticVersion: options.resticVersion ?? '', rounding: options.rounding ?? 'refuse' })
      : engine === 'borg'
        ? borgLines(policy, options.rounding ?? 'refuse')
        : duplicatiLines(policy);
  return [...ruleLines(policy), ...engineLines].join('\n');
};
