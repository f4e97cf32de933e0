// How a job's verify settings map to `duplicati-cli test`'s <samples>. Apart from
// duplicati.ts (which imports the presets' dump code) so that config.ts can check the mapping
// when it loads a job without an import cycle.
import type { VerifyConfig } from '../verify/config.ts';

/**
 * `duplicati-cli test`'s <samples> for a job's verify settings: `sample` remote volumes, or
 * `all` with `read_data: 100%`. A test downloads whole volumes, so a share of the data
 * (`read_data: 5%`) or `rotate` has no meaning for it: throws, naming the key.
 */
export const duplicatiTestSamples = (verify: Pick<VerifyConfig, 'readData' | 'sample'>): number | 'all' => {
  if (verify.readData.kind === 'percent' && verify.readData.percent === 100) return 'all';
  if (verify.readData.kind !== 'none')
    throw new Error(
      `verify.read_data: duplicati-cli test reads whole remote volumes, not a share of the data or a rotation; use "100%" (test all volumes) or none with verify.sample (volumes tested per run)`,
    );
  if (verify.sample < 1)
    throw new Error(
      'verify.sample: duplicati-cli test needs at least 1 volume to examine; use verify: false to skip it',
    );
  return verify.sample;
};
