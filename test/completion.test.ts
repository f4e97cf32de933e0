// `cronvault completion bash|zsh`: the scripts parse, and bash completes commands, options and
// the config's job names (asked of cronvault itself at completion time).

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { cronvaultBin, makeTempDir, runCronvault, writeTestConfig } from './support/cli.ts';

describe('cronvault completion', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let config: string;
  let bashScript: string;
  before(async () => {
    tmp = await makeTempDir('cronvault-completion-');
    const job = (name: string) => [
      `  ${name}:`,
      `    path: ${tmp.dir}`,
      '    repository: /srv/nowhere',
      `    password_file: ${join(tmp.dir, 'pass')}`,
      '    retention: none',
    ];
    config = await writeTestConfig(tmp.dir, ['jobs:', ...job('influxdb'), ...job('grafana'), ...job('etc')]);
    const result = await runCronvault(['completion', 'bash']);
    assert.equal(result.exitCode, 0, result.stderr);
    bashScript = join(tmp.dir, 'cronvault.bash');
    await writeFile(bashScript, result.stdout);
  });
  after(async () => tmp.cleanup());

  /** Sources the script and completes the words as bash would; the words offered, one per line. */
  const complete = async (words: string[]): Promise<string[]> => {
    const quoted = words.map((w) => `'${w}'`).join(' ');
    const script = `source '${bashScript}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _cronvault; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const result = await execa('bash', ['-c', script], { env: { CRONVAULT_CONFIG: '/nonexistent.yml' } });
    return String(result.stdout).split('\n').filter(Boolean).sort();
  };

  it('the bash script is valid bash (bash -n)', async () => {
    await execa('bash', ['-n', bashScript]);
  });

  it('"cronvault run <TAB>" lists the job names of the config given with -c, before or after run', async () => {
    assert.deepEqual(await complete([cronvaultBin, '-c', config, 'run', '']), ['etc', 'grafana', 'influxdb']);
    assert.deepEqual(await complete([cronvaultBin, 'history', '--config', config, '']), ['etc', 'grafana', 'influxdb']);
    assert.deepEqual(await complete([cronvaultBin, '-c', config, 'restore', 'gr']), ['grafana']);
  });

  it('without a readable config there are no job names, and no error on the terminal', async () => {
    assert.deepEqual(await complete([cronvaultBin, 'run', '']), []);
  });

  it("completes commands, and each command's own options besides the global ones", async () => {
    const commands = await complete([cronvaultBin, '']);
    for (const command of [
      'run',
      'check',
      'cron',
      'status',
      'history',
      'snapshots',
      'restore',
      'init',
      'retention',
      'completion',
    ])
      assert.ok(commands.includes(command), command);
    assert.ok(!commands.includes('__complete-jobs'), 'the helper stays hidden');
    const runOptions = await complete([cronvaultBin, 'run', '--']);
    for (const option of ['--dry-run', '--all', '--config', '--json', '--no-color', '--path'])
      assert.ok(runOptions.includes(option), option);
    assert.ok(!runOptions.includes('--to-stdout'), "restore's options are not offered for run");
  });

  it('the zsh script parses (zsh -n)', async () => {
    const result = await runCronvault(['completion', 'zsh']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^#compdef cronvault/);
    const file = join(tmp.dir, '_cronvault');
    await writeFile(file, result.stdout);
    await execa('zsh', ['-n', file]);
  });

  it('an unknown shell is a usage error (exit 2)', async () => {
    const result = await runCronvault(['completion', 'fish']);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /bash or zsh/);
  });
});
