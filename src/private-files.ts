// Files that hold secrets must be private to the user running cronvault. A password file, or a
// config carrying credentials, that group or others can read is reported on every run, with the
// chmod that fixes it: quietly working is how secrets stay exposed for years.
import { statSync } from 'node:fs';
import type { JobConfig } from './config.ts';
import { redactText, SECRET_OPTION_NAME } from './redact.ts';

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0');

/** "group and others" for the permission bits beyond the owner's, or undefined when private. */
const openTo = (file: string): { who: string; mode: number } | undefined => {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    return undefined; // missing or unreachable: the run reports that on its own
  }
  const who = [mode & 0o070 ? 'group' : undefined, mode & 0o007 ? 'others' : undefined].filter(Boolean);
  return who.length === 0 ? undefined : { who: who.join(' and '), mode };
};

/**
 * Whether the config text carries credentials: a URL with user:password or a secret query
 * option (what redaction would mask), or an env: variable named like a secret. A config without
 * any (passwords live in password files) is harmless to read, so it is not warned about.
 */
const configHoldsCredentials = (text: string, jobs: Pick<JobConfig, 'env'>[]): boolean =>
  redactText(text) !== text || jobs.some((job) => Object.keys(job.env).some((name) => SECRET_OPTION_NAME.test(name)));

export const privateFileWarnings = (
  configFile: string | undefined,
  configText: string,
  jobs: Pick<JobConfig, 'env' | 'passwordFile'>[],
): string[] => {
  const warnings: string[] = [];
  if (configFile !== undefined && configHoldsCredentials(configText, jobs)) {
    const open = openTo(configFile);
    if (open)
      warnings.push(
        `config file ${configFile} holds credentials and is readable by ${open.who} (mode ${octal(open.mode)}); make it private: chmod 600 ${configFile}`,
      );
  }
  for (const file of new Set(jobs.flatMap((job) => (job.passwordFile ? [job.passwordFile] : [])))) {
    const open = openTo(file);
    if (open)
      warnings.push(
        `password file ${file} is readable by ${open.who} (mode ${octal(open.mode)}); make it private: chmod 600 ${file}`,
      );
  }
  return warnings;
};
