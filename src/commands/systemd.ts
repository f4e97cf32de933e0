// `cronvault systemd`: a oneshot service and a timer per job (and per verified job's restore
// drill, and per pruned repository), as an alternative to cron for
// hosts that are not always on (Persistent=true runs a missed backup at the next boot). The
// timer fires at the job's cron schedule, or at the same jittered daily time `cronvault cron`
// draws for a job without one.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-write.ts';
import { backendFor } from '../backends/index.ts';
import type { Config, JobConfig } from '../config.ts';
import { parseDuration } from '../durations.ts';
import { UsageError } from '../errors.ts';
import { prunesHere, repositoriesOf } from '../repositories.ts';
import { jitteredSchedule } from '../schedule/index.ts';
import { toOnCalendar } from '../systemd-calendar.ts';
import { verifyScheduleOf } from '../verify/schedule.ts';
import { type GlobalOptions, readConfig } from './context.ts';

export interface SystemdOptions extends GlobalOptions {
  install?: boolean;
  dir: string;
  bin: string;
  user: string;
  host?: string;
  randomizedDelay: string;
  nice: string;
}

interface Unit {
  name: string;
  text: string;
}

/** Marks the files this command writes, so --install removes only its own stale units. */
const MARKER = '# Written by `cronvault systemd`; rerun it after changing the config.';

/** systemd splits on whitespace and reads `%` and `\` itself: quote what needs it. */
const unitWord = (word: string): string => {
  const escaped = word.replace(/%/g, '%%');
  return /^[A-Za-z0-9_@+=:,./-]+$/.test(escaped) ? escaped : `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
};

const homeOf = (user: string): string => (user === 'root' ? '/root' : `/home/${user}`);

const unique = (paths: string[]): string[] => [...new Set(paths)];

/**
 * What a service runs: a job's backup or verify, or the prune of a repository (lent its first
 * job's directories). A verify needs the backup's: the lock and the drill live in state_dir,
 * and `restic check` writes its lock into a local repository.
 */
interface ServiceAction {
  description: string;
  /** cronvault's arguments before --config. */
  args: string;
}

const serviceUnit = (
  job: JobConfig,
  options: Pick<SystemdOptions, 'bin' | 'user' | 'nice'>,
  configFile?: string,
  action: ServiceAction = { description: `cronvault backup job ${job.name}`, args: `run ${job.name}` },
): string => {
  const config = configFile ? ` --config ${unitWord(resolve(configFile))}` : '';
  const engineDirs = backendFor(job.engine).writablePaths?.(job, homeOf(options.user)) ?? [];
  // state_dir and the textfile directory must exist (--install creates them): a missing one
  // fails the start with a clear NAMESPACE error. The engine's own directories may be absent
  // (a repository not created yet, a cache never used): "-" keeps the unit startable.
  const writable = [
    ...unique([job.stateDir, job.textfileDir]),
    ...unique(engineDirs)
      .filter((p) => p !== job.stateDir && p !== job.textfileDir)
      .map((p) => `-${p}`),
  ];
  return [
    MARKER,
    '[Unit]',
    `Description=${action.description}`,
    'Documentation=man:cronvault(1)',
    // Remote repositories need the network; ordering after it costs nothing for local ones.
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${unitWord(options.bin)} ${action.args}${config} --quiet`,
    ...(options.user === 'root' ? [] : [`User=${options.user}`]),
    `Nice=${options.nice}`,
    'IOSchedulingClass=idle',
    // Everything stays readable (the engine must read the path it backs up), nothing but the
    // directories below is writable.
    'ProtectSystem=strict',
    `ReadWritePaths=${writable.map(unitWord).join(' ')}`,
    'PrivateTmp=yes',
    'NoNewPrivileges=yes',
    '',
  ].join('\n');
};

/** When a timer fires, and what its unit says about it. */
interface TimerAction {
  /** "job \"x\"" or "prune of repository \"y\"", for messages. */
  what: string;
  description: string;
  schedule: string;
  /** The comment's note when the schedule was drawn rather than configured. */
  drawn?: string;
}

const timerUnit = (
  job: JobConfig,
  options: Pick<SystemdOptions, 'host' | 'randomizedDelay'>,
  action: TimerAction = {
    what: `job "${job.name}"`,
    description: `cronvault backup job ${job.name}`,
    schedule: job.schedule ?? jitteredSchedule(options.host ?? job.hostname ?? hostname(), job.name),
    drawn: job.schedule ? undefined : 'no schedule in the config: the daily time drawn for this host and job',
  },
): string => {
  const { schedule } = action;
  let calendars: string[];
  try {
    calendars = toOnCalendar(schedule);
  } catch (error) {
    throw new UsageError('E_SCHEDULE_SYSTEMD', `${action.what}: ${(error as Error).message}`, { cause: error });
  }
  const delayMs = parseDuration(options.randomizedDelay);
  if (delayMs === undefined)
    throw new UsageError(
      'E_USAGE',
      `--randomized-delay "${options.randomizedDelay}" is not a duration (examples: 0s, 5m, 1h)`,
    );
  return [
    MARKER,
    '[Unit]',
    `Description=${action.description} (${schedule})`,
    'Documentation=man:cronvault(1)',
    '',
    '[Timer]',
    `# cron: ${schedule}${action.drawn ? ` (${action.drawn})` : ''}`,
    ...calendars.map((calendar) => `OnCalendar=${calendar}`),
    `RandomizedDelaySec=${Math.round(delayMs / 1000)}`,
    // The same delay on every start, so the job keeps its rhythm instead of drifting.
    'FixedRandomDelay=true',
    // A run missed while the host was off starts at the next boot.
    'Persistent=true',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
};

const unitBase = (job: JobConfig): string => `cronvault-${job.name}`;

/**
 * `cronvault prune` of each repository this host prunes, one service and timer per repository.
 * "cronvault_prune-" cannot be a job's unit ("cronvault-<job>"), whatever the job is called.
 */
const pruneUnits = (config: Config, options: SystemdOptions, configFile?: string): Unit[] =>
  repositoriesOf(config.jobs.values(), config.file, options.host)
    .filter(prunesHere)
    .flatMap((repository) => {
      const job = repository.jobs[0]!;
      const description = `cronvault prune of repository ${repository.name}`;
      const base = `cronvault_prune-${repository.name}`;
      return [
        {
          name: `${base}.service`,
          text: serviceUnit(job, options, configFile, { description, args: `prune --repository ${repository.name}` }),
        },
        {
          name: `${base}.timer`,
          text: timerUnit(job, options, {
            what: `prune of repository "${repository.name}"`,
            description,
            schedule: repository.pruneSchedule,
            drawn: job.prune.schedule ? undefined : 'no prune.schedule: the weekly time drawn for this host',
          }),
        },
      ];
    });

/**
 * The unit name of a job's `cronvault verify`. A job's own unit is "cronvault-<job>" ("-" after
 * "cronvault", whatever the job is called) and a prune's "cronvault_prune-<repository>": a verify
 * unit has "_" there and then "verify-", not "prune-", so no job or repository name makes two
 * of them equal (test/systemd.test.ts tries).
 */
const verifyUnitBase = (jobName: string): string => `cronvault_verify-${jobName}`;

/** `cronvault verify <job>` of each job it checks, on the job's verify schedule (weekly by default), as `cron` does. */
const verifyUnits = (config: Config, options: SystemdOptions, configFile?: string): Unit[] =>
  [...config.jobs.values()].flatMap((job) => {
    const schedule = verifyScheduleOf(job, options.host);
    if (schedule === undefined) return [];
    const description = `cronvault verify (restore drill) of job ${job.name}`;
    const base = verifyUnitBase(job.name);
    return [
      {
        name: `${base}.service`,
        text: serviceUnit(job, options, configFile, { description, args: `verify ${job.name}` }),
      },
      {
        name: `${base}.timer`,
        text: timerUnit(job, options, {
          what: `verify of job "${job.name}"`,
          description,
          schedule,
          drawn: job.verifySchedule ? undefined : 'no verify_schedule: the weekly time drawn for this host and job',
        }),
      },
    ];
  });

const systemdUnits = (config: Config, options: SystemdOptions, configFile?: string): Unit[] => [
  ...[...config.jobs.values()].flatMap((job) => [
    { name: `${unitBase(job)}.service`, text: serviceUnit(job, options, configFile) },
    { name: `${unitBase(job)}.timer`, text: timerUnit(job, options) },
  ]),
  ...verifyUnits(config, options, configFile),
  ...pruneUnits(config, options, configFile),
];

/** Units this command wrote earlier for jobs no longer in the config. */
const staleUnits = async (dir: string, keep: Set<string>): Promise<string[]> => {
  const names = await readdir(dir).catch(() => [] as string[]);
  const stale: string[] = [];
  for (const name of names) {
    if (!/^cronvault[-_].+\.(service|timer)$/.test(name) || keep.has(name)) continue;
    const text = await readFile(join(dir, name), 'utf8').catch(() => '');
    if (text.startsWith(MARKER)) stale.push(name);
  }
  return stale;
};

export const systemdCommand = async (options: SystemdOptions): Promise<string> => {
  const config = readConfig(options);
  const explicitConfig = options.config ?? process.env.CRONVAULT_CONFIG;
  const units = systemdUnits(config, options, explicitConfig);
  if (!options.install) {
    if (options.json)
      return `${JSON.stringify({ dir: options.dir, installed: false, units: units.map((unit) => ({ file: join(options.dir, unit.name), text: unit.text })) }, null, 2)}\n`;
    return units.map((unit) => `# ${join(options.dir, unit.name)}\n${unit.text}`).join('\n');
  }

  for (const job of config.jobs.values()) {
    await mkdir(job.stateDir, { recursive: true, mode: 0o700 });
    await mkdir(job.textfileDir, { recursive: true, mode: 0o755 });
  }
  for (const unit of units) await writeFileAtomic(join(options.dir, unit.name), unit.text, 0o644);
  const stale = await staleUnits(options.dir, new Set(units.map((unit) => unit.name)));
  for (const name of stale) await rm(join(options.dir, name), { force: true });
  const timers = units.filter((unit) => unit.name.endsWith('.timer')).map((unit) => unit.name);
  if (options.json)
    return `${JSON.stringify({ dir: options.dir, installed: true, units: units.map((unit) => join(options.dir, unit.name)), removed: stale }, null, 2)}\n`;
  const lines = [
    `wrote ${units.length} units to ${options.dir}${stale.length > 0 ? `, removed ${stale.join(', ')}` : ''}; now run:`,
  ];
  if (stale.some((name) => name.endsWith('.timer')))
    lines.push(`  systemctl disable --now ${stale.filter((name) => name.endsWith('.timer')).join(' ')}`);
  lines.push(`  systemctl daemon-reload && systemctl enable --now ${timers.join(' ')}`);
  return `${lines.join('\n')}\n`;
};
