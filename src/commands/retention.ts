// `cronvault retention explain`: what a policy keeps, in words, and the exact engine flags.
import { execa } from 'execa';
import { UsageError } from '../errors.ts';
import { explainRetention, parseRetention } from '../retention.ts';

export interface ExplainFlags {
  engine?: string;
  resticVersion?: string;
  rounding?: string;
}

/** The installed restic's version decides how "unlimited" is written; 0.14 when none is found. */
const installedResticVersion = async (): Promise<string> => {
  const result = await execa('restic', ['version'], { reject: false });
  return /restic (\d+\.\d+\.\d+)/.exec(String(result.stdout ?? ''))?.[1] ?? '0.14.0';
};

export const explainCommand = async (policyText: string, flags: ExplainFlags): Promise<string> => {
  const engine = flags.engine ?? 'restic';
  if (engine !== 'restic' && engine !== 'duplicati') throw new UsageError('E_USAGE', `--engine must be restic or duplicati, not "${engine}"`);
  if (flags.rounding !== undefined && flags.rounding !== 'refuse' && flags.rounding !== 'keep-more') throw new UsageError('E_USAGE', `--rounding must be refuse or keep-more, not "${flags.rounding}"`);
  const policy = parseRetention(policyText, 'retention');
  const resticVersion = engine === 'restic' ? (flags.resticVersion ?? (await installedResticVersion())) : undefined;
  return explainRetention(policy, engine, { resticVersion, rounding: (flags.rounding as 'refuse' | 'keep-more' | undefined) ?? 'refuse' });
};
