// `cronvault check`: everything that can be known to be wrong before 2 a.m. Each problem comes
// with the command that fixes it. Used by the Ansible role to validate a config before use.
import { access, constants, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { backendFor } from '../backends/index.ts';
import type { RepositoryProbe } from '../backends/types.ts';
import type { Config, JobConfig } from '../config.ts';
import { EXIT } from '../errors.ts';
import { missingHookExecutables } from '../hooks.ts';
import { hasHooks } from '../hooks-config.ts';
import { writeJobsInfo } from '../metrics.ts';
import { ensureDumpClient } from '../presets/index.ts';
import { redactRepository } from '../redact.ts';
import { painter, useColor } from '../terminal.ts';
import { type GlobalOptions, readConfig } from './context.ts';

interface CheckResult {
  subject: string;
  ok: boolean;
  message: string;
  fix?: string;
}

const writableDir = async (dir: string, what: string): Promise<CheckResult> => {
  let current = dir;
  // A directory that does not exist yet is fine if cronvault can create it.
  for (;;) {
    try {
      const info = await stat(current);
      if (!info.isDirectory())
        return {
          subject: what,
          ok: false,
          message: `${current} is not a directory`,
          fix: `remove it or choose another ${what}`,
        };
      await access(current, constants.W_OK);
      return {
        subject: what,
        ok: true,
        message: current === dir ? `${dir} is writable` : `${dir} will be created (${current} is writable)`,
      };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dirname(current) !== current) {
        current = dirname(current);
        continue;
      }
      return {
        subject: what,
        ok: false,
        message: `${current} is not writable by this user`,
        fix: `chown the directory to the user running cronvault, or run it as that user (mkdir -p ${dir} && chown $(id -un) ${dir})`,
      };
    }
  }
};

const checkPasswordFile = async (job: JobConfig): Promise<CheckResult> => {
  const subject = `job ${job.name}: password`;
  if (!job.passwordFile) return { subject, ok: true, message: 'from password_command' };
  const file = job.passwordFile;
  let mode: number;
  try {
    mode = (await stat(file)).mode;
  } catch (error) {
    // EACCES here means a directory on the way is closed to this user: the file may well exist.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      return {
        subject,
        ok: false,
        message: `password file ${file} is not readable by this user (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        fix: `let the user running cronvault reach and read it (chown $(id -un) ${file}; check the directories above it), or run cronvault as the file's owner`,
      };
    }
    return {
      subject,
      ok: false,
      message: `password file ${file} does not exist`,
      fix: `create it: install -m 600 /dev/null ${file} && edit it`,
    };
  }
  try {
    await access(file, constants.R_OK);
  } catch {
    return {
      subject,
      ok: false,
      message: `password file ${file} is not readable by this user`,
      fix: `chown it to the user running cronvault (chown $(id -un) ${file})`,
    };
  }
  if ((mode & 0o077) !== 0) {
    return {
      subject,
      ok: false,
      message: `password file ${file} is readable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`,
      fix: `chmod 600 ${file}`,
    };
  }
  return {
    subject,
    ok: true,
    message: `${file} is readable and private (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`,
  };
};

/** The repository line of `check` for each probe state: ok or not, the message, the fix. */
const repositoryCheck = (job: JobConfig, probe: RepositoryProbe): Omit<CheckResult, 'subject'> => {
  const where = redactRepository(job.repository);
  switch (probe.state) {
    case 'ok':
    case 'unprobed':
      return { ok: true, message: `${where}: ${probe.message}` };
    case 'missing':
      return job.init
        ? { ok: true, message: `${where} does not exist yet; the first run creates it (init: true)` }
        : { ok: false, message: probe.message, fix: `cronvault init ${job.name} (or set init: true)` };
    case 'wrong-password':
      return { ok: false, message: probe.message, fix: 'check the password file matches the repository' };
    case 'unreachable':
    case 'error':
      return {
        ok: false,
        message: probe.message,
        fix: 'check the repository server is up and reachable from this host',
      };
  }
};

const INSTALL_HINT: Record<JobConfig['engine'], string> = {
  restic: 'apt-get install restic',
  duplicati: 'install duplicati-cli',
  borg: 'apt-get install borgbackup',
};

/** Every hook's executable exists and may be run; a missing one would fail the run at 2 a.m. */
const checkHooks = async (job: JobConfig): Promise<CheckResult> => {
  const subject = `job ${job.name}: hooks`;
  const missing = await missingHookExecutables(job);
  if (missing.length === 0) return { subject, ok: true, message: 'every hook command is an executable file' };
  return {
    subject,
    ok: false,
    message: missing
      .map(
        (m) =>
          `${m.phase} hook "${redactRepository(m.command)}": ${m.executable} is not an executable file${m.executable.includes('/') ? '' : ' on PATH'}`,
      )
      .join('; '),
    fix: 'install the command, fix its path, or make it executable (chmod +x)',
  };
};

/** A database preset's dump client: missing, the run would fail before the engine starts. */
const checkDumpClient = async (job: JobConfig): Promise<CheckResult> => {
  const subject = `job ${job.name}: ${job.preset!.name} client`;
  try {
    return { subject, ok: true, message: `${await ensureDumpClient(job)} installed` };
  } catch (error) {
    const message = (error as Error).message;
    return { subject, ok: false, message, fix: /\((apt-get install [^)]+)\)/.exec(message)?.[1] ?? 'install it' };
  }
};

const checkJob = async (job: JobConfig): Promise<CheckResult[]> => {
  const backend = backendFor(job.engine);
  const results: CheckResult[] = [];
  let engineOk = false;
  try {
    const { version } = await backend.ensureInstalled(job);
    results.push({ subject: `job ${job.name}: engine`, ok: true, message: `${job.engine} ${version ?? 'installed'}` });
    engineOk = true;
  } catch (error) {
    results.push({
      subject: `job ${job.name}: engine`,
      ok: false,
      message: (error as Error).message,
      fix: `${INSTALL_HINT[job.engine]}, or set "binary" to its path`,
    });
  }
  if (job.preset) results.push(await checkDumpClient(job));
  const password = await checkPasswordFile(job);
  results.push(password);
  if (hasHooks(job.hooks)) results.push(await checkHooks(job));
  if (engineOk && password.ok) {
    const repository = {
      subject: `job ${job.name}: repository`,
      ...repositoryCheck(job, await backend.probeRepository(job)),
    };
    results.push(repository);
    if (repository.ok) {
      const orphans = await orphanedSnapshotsWarning(job);
      if (orphans) results.push(orphans);
    }
  }
  return results;
};

/**
 * Snapshots of the job (this host, its tag) under another path: retention filters by path, so
 * after a `path` edit they stay forever. A warning with the command that forgets them.
 */
const orphanedSnapshotsWarning = async (job: JobConfig): Promise<CheckResult | undefined> => {
  const found = await backendFor(job.engine)
    .orphanedSnapshots?.(job, {})
    .catch(() => undefined);
  if (!found?.snapshots.length) return undefined;
  const paths = [...new Set(found.snapshots.flatMap((s) => s.paths))].join(', ');
  return {
    subject: `job ${job.name}: snapshots`,
    ok: true,
    message: `warning: ${found.snapshots.length} snapshot(s) under another path (${paths}) are out of retention's reach since the job's path changed; forget them with: ${found.forget}`,
  };
};

const runChecks = async (config: Config): Promise<CheckResult[]> => {
  const results: CheckResult[] = [
    {
      subject: 'config',
      ok: true,
      message: `${config.file}: ${config.jobs.size} job${config.jobs.size === 1 ? '' : 's'}`,
    },
  ];
  for (const warning of config.warnings) results.push({ subject: 'config', ok: true, message: `warning: ${warning}` });
  const textfile = await writableDir(config.textfileDir, 'metrics.textfile_dir');
  results.push(textfile, await writableDir(config.stateDir, 'state_dir'));
  for (const job of config.jobs.values()) results.push(...(await checkJob(job)));
  // Only a config that passed is a config worth announcing: `check` also validates candidate
  // configs (the Ansible role's validate step), and a rejected one must not replace the live
  // backup_job_info series.
  if (results.every((r) => r.ok)) {
    await writeJobsInfo(config.textfileDir, config.jobs.values()).catch((error: Error) =>
      results.push({
        subject: 'metrics.textfile_dir',
        ok: false,
        message: `could not write cronvault_jobs.prom: ${error.message}`,
        fix: `make ${config.textfileDir} writable by the user running cronvault`,
      }),
    );
  }
  return results;
};

const formatChecks = (results: CheckResult[], color: boolean): string => {
  const paint = painter(color);
  return results
    .map((r) => {
      const mark = r.ok ? (color ? paint('green', '✓') : 'ok  ') : color ? paint('red', '✗') : 'FAIL';
      return `${mark} ${r.subject}: ${r.message}${r.fix ? `\n     fix: ${r.fix}` : ''}`;
    })
    .join('\n');
};

/**
 * `check --config-only`: the config file alone (syntax, keys, values, retention strings), as
 * the Ansible role's `validate:` needs it. It probes no repository and writes no textfile, so a
 * repository outage cannot stop a rollout and a candidate file never announces its jobs.
 */
const configOnlyChecks = (config: Config): CheckResult[] => {
  const jobs = `${config.jobs.size} job${config.jobs.size === 1 ? '' : 's'}`;
  const skipped = 'config only: no engine, password file, directory or repository checked';
  return [
    { subject: 'config', ok: true, message: `${config.file}: ${jobs} (${skipped})` },
    ...config.warnings.map((warning) => ({ subject: 'config', ok: true, message: `warning: ${warning}` })),
  ];
};

export const checkCommand = async (options: GlobalOptions & { configOnly?: boolean }): Promise<number> => {
  const config = readConfig(options);
  const results = options.configOnly ? configOnlyChecks(config) : await runChecks(config);
  const failed = results.filter((r) => !r.ok).length;
  if (options.json) process.stdout.write(`${JSON.stringify({ ok: failed === 0, checks: results }, null, 2)}\n`);
  else {
    process.stdout.write(
      `${formatChecks(results, useColor(process.stdout, options))}\n${failed === 0 ? 'all checks passed' : `${failed} check${failed === 1 ? '' : 's'} failed`}\n`,
    );
  }
  return failed === 0 ? EXIT.ok : EXIT.backupFailed;
};
