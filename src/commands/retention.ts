// `cronvault retention explain`: what a policy keeps, in words, and the exact engine flags.
import { installedResticVersion } from '../backends/restic.ts';
import { UsageError } from '../errors.ts';
import {
  explainRetention,
  parseRetention,
  type RetentionRounding,
  toBorgPruneArgs,
  toDuplicatiPolicy,
  toResticForgetArgs,
} from '../retention/index.ts';

export interface ExplainFlags {
  engine?: string;
  resticVersion?: string;
  rounding?: string;
}

/** The installed restic's version decides how "unlimited" is written; 0.14 when none is found. */
const resticVersionForExplain = (): Promise<string> => installedResticVersion().catch(() => '0.14.0');

export const explainCommand = async (
  policyText: string,
  flags: ExplainFlags,
): Promise<{ text: string; problem?: string }> => {
  const engine = flags.engine ?? 'restic';
  if (engine !== 'restic' && engine !== 'duplicati' && engine !== 'borg')
    throw new UsageError('E_USAGE', `--engine must be restic, duplicati or borg, not "${engine}"`);
  if (flags.rounding !== undefined && flags.rounding !== 'refuse' && flags.rounding !== 'keep-more')
    throw new UsageError('E_USAGE', `--rounding must be refuse or keep-more, not "${flags.rounding}"`);
  const policy = parseRetention(policyText, 'retention');
  const resticVersion = engine === 'restic' ? (flags.resticVersion ?? (await resticVersionForExplain())) : undefined;
  const rounding = (flags.rounding as RetentionRounding | undefined) ?? 'refuse';
  const text = explainRetention(policy, engine, { resticVersion, rounding });
  // The words are useful even when the engine cannot apply the policy, but scripts (the
  // Ansible preflight) must see that it cannot: exit 2, as for a malformed policy.
  let problem: string | undefined;
  try {
    if (policy.kind !== 'none') {
      if (engine === 'restic') toResticForgetArgs(policy, { resticVersion: resticVersion!, rounding });
      else if (engine === 'borg') toBorgPruneArgs(policy, { rounding });
      else toDuplicatiPolicy(policy);
    }
  } catch (error) {
    problem = (error as Error).message;
  }
  return { text, problem };
};
