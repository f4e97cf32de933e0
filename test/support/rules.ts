// The shipped alert rules rendered as the role renders them (scripts/render-j2.py), with the
// given template variables, into `dir`/rules.yml: what a test's Prometheus loads.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { projectRoot } from './cli.ts';

/** Renders prometheus/rules.yml.j2 with `vars` ("backup_alert_for: 0s" lines) and returns the file. */
export const renderRulesFile = async (dir: string, vars: Record<string, string>): Promise<string> => {
  const varsFile = join(dir, 'vars.yml');
  await writeFile(
    varsFile,
    `${Object.entries(vars)
      .map(([key, value]) => `${key}: ${value}`)
      .join('\n')}\n`,
  );
  const rendered = await execa('/usr/bin/python3', [
    join(projectRoot, 'scripts', 'render-j2.py'),
    join(projectRoot, 'prometheus', 'rules.yml.j2'),
    varsFile,
  ]);
  const file = join(dir, 'rules.yml');
  await writeFile(file, rendered.stdout);
  return file;
};
