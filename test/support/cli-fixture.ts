// A small, real setup the CLI-convention tests share: a config with two restic jobs in one
// local repository, one of them backed up once, so every command has something to show.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, runCronvault, writeTestConfig } from './cli.ts';
import { createRepository, type TestRepository } from './restic.ts';

export interface CliFixture {
  dir: string;
  config: string;
  repo: TestRepository;
  data: string;
  cleanup: () => Promise<void>;
}

export const createCliFixture = async (): Promise<CliFixture> => {
  const { dir, cleanup } = await makeTempDir('cronvault-cli-');
  const repo = await createRepository(dir);
  const data = join(dir, 'data');
  await mkdir(data);
  await writeFile(join(data, 'hello.txt'), 'hello\n');
  const job = (name: string) => [
    `  ${name}:`,
    `    path: ${data}`,
    `    repository: ${repo.repository}`,
    `    password_file: ${repo.passwordFile}`,
    '    retention: "1W:1D"',
    '    retry: { attempts: 1 }',
  ];
  const config = await writeTestConfig(dir, ['jobs:', ...job('alpha'), ...job('beta')]);
  const first = await runCronvault(['run', 'alpha', '-c', config, '-q']);
  if (first.exitCode !== 0) throw new Error(`fixture backup failed: ${first.stderr}`);
  return { dir, config, repo, data, cleanup };
};
