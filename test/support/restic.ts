// Real restic repositories for tests: created with the Debian restic, read back with it.

import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

export interface TestRepository {
  repository: string;
  passwordFile: string;
  env: Record<string, string>;
}

export const createRepository = async (
  dir: string,
  name = 'repo',
  password = 'correct horse battery staple',
): Promise<TestRepository> => {
  const passwordFile = join(dir, `${name}.pass`);
  await writeFile(passwordFile, `${password}\n`);
  await chmod(passwordFile, 0o600);
  const repository = join(dir, name);
  const env = { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD_FILE: passwordFile };
  await execa('restic', ['init'], { env });
  return { repository, passwordFile, env };
};

export const restic = async (repo: Pick<TestRepository, 'env'>, args: string[]): Promise<string> =>
  String((await execa('restic', args, { env: repo.env })).stdout);

export interface SnapshotInfo {
  id: string;
  short_id: string;
  time: string;
  hostname: string;
  tags?: string[];
  paths: string[];
}

export const listSnapshots = async (repo: Pick<TestRepository, 'env'>, ...filters: string[]): Promise<SnapshotInfo[]> =>
  JSON.parse(await restic(repo, ['snapshots', '--json', ...filters])) as SnapshotInfo[];

/** Reads one gauge from a .prom file's text; undefined when absent. */
export const metricValue = (text: string, name: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

/** The text of the one job file (cronvault_<job>.prom, not cronvault_jobs.prom) in a textfile dir. */
export const readJobProm = async (textfileDir: string): Promise<string> => {
  const files = (await readdir(textfileDir)).filter(
    (f) => f.startsWith('cronvault_') && f.endsWith('.prom') && f !== 'cronvault_jobs.prom',
  );
  if (files.length !== 1)
    throw new Error(`expected one job file in ${textfileDir}, found ${files.join(', ') || 'none'}`);
  return readFile(join(textfileDir, files[0]!), 'utf8');
};
