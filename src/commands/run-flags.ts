// `cronvault run`'s own flags, declared once: this table builds the commander options (cli.ts),
// the RunFlags type and the "only with --path" check (run.ts), so a new flag is one new row.
import type { GlobalOptions } from './context.ts';

interface RunFlagSpec {
  /** The property commander sets: camelCase of the long flag. */
  readonly key: string;
  readonly flags: string;
  readonly help: string;
  readonly value: 'boolean' | 'string' | 'list';
  readonly choices?: readonly string[];
  /** Only meaningful for a job given by flags (--path), refused otherwise. */
  readonly pathOnly: boolean;
  /** The job config key a --path flag stands for, when it maps one to one. */
  readonly configKey?: string;
}

export const RUN_FLAGS = [
  {
    key: 'all',
    flags: '-a, --all',
    help: 'run every job in the config, one after another',
    value: 'boolean',
    pathOnly: false,
  },
  {
    key: 'dryRun',
    flags: '-n, --dry-run',
    help: "say what would run, with restic's own dry-run summary and what retention would remove; changes nothing",
    value: 'boolean',
    pathOnly: false,
  },
  {
    key: 'forceRetention',
    flags: '--force-retention',
    help: 'apply retention even if it removes more than retention_max_delete, this once',
    value: 'boolean',
    pathOnly: false,
  },
  {
    key: 'path',
    flags: '--path <dir>',
    help: 'without a config: the path to back up (job name derived from it)',
    value: 'string',
    pathOnly: true,
    configKey: 'path',
  },
  {
    key: 'engine',
    flags: '--engine <engine>',
    help: 'with --path: engine',
    value: 'string',
    choices: ['restic', 'duplicati', 'borg'],
    pathOnly: true,
    configKey: 'engine',
  },
  {
    key: 'repository',
    flags: '--repository <url>',
    help: 'with --path: restic or borg repository, or duplicati target URL',
    value: 'string',
    pathOnly: true,
    configKey: 'repository',
  },
  {
    key: 'passwordFile',
    flags: '--password-file <file>',
    help: 'with --path: file holding the repository password',
    value: 'string',
    pathOnly: true,
    configKey: 'password_file',
  },
  {
    key: 'passwordCommand',
    flags: '--password-command <cmd>',
    help: 'with --path: command printing the repository password',
    value: 'string',
    pathOnly: true,
    configKey: 'password_command',
  },
  {
    key: 'retention',
    flags: '--retention <policy>',
    help: 'with --path: retention, e.g. "1W:1D,4W:1W,12M:1M" or none',
    value: 'string',
    pathOnly: true,
    configKey: 'retention',
  },
  {
    key: 'textfileDir',
    flags: '--textfile-dir <dir>',
    help: "with --path: node_exporter's textfile directory",
    value: 'string',
    pathOnly: true,
  },
  {
    key: 'pushgatewayUrl',
    flags: '--pushgateway-url <url>',
    help: 'with --path: also push the metrics to this Pushgateway',
    value: 'string',
    pathOnly: true,
  },
  {
    key: 'stateDir',
    flags: '--state-dir <dir>',
    help: 'with --path: where locks, state and history live',
    value: 'string',
    pathOnly: true,
  },
  {
    key: 'hostname',
    flags: '--hostname <name>',
    help: 'with --path: host name recorded in snapshots',
    value: 'string',
    pathOnly: true,
    configKey: 'hostname',
  },
  {
    key: 'binary',
    flags: '--binary <file>',
    help: 'with --path: engine executable',
    value: 'string',
    pathOnly: true,
    configKey: 'binary',
  },
  {
    key: 'exclude',
    flags: '--exclude <pattern>',
    help: 'with --path: exclude pattern (repeatable)',
    value: 'list',
    pathOnly: true,
    configKey: 'exclude',
  },
  {
    key: 'retryAttempts',
    flags: '--retry-attempts <n>',
    help: 'with --path: attempts before giving up (default 10)',
    value: 'string',
    pathOnly: true,
  },
  {
    key: 'retryMinDelay',
    flags: '--retry-min-delay <duration>',
    help: 'with --path: shortest wait between attempts (default 1s)',
    value: 'string',
    pathOnly: true,
  },
  {
    key: 'retryMaxDelay',
    flags: '--retry-max-delay <duration>',
    help: 'with --path: longest wait between attempts (default 60s)',
    value: 'string',
    pathOnly: true,
  },
  {
    key: 'timeout',
    flags: '--timeout <duration>',
    help: 'with --path: give up on the whole run after this long',
    value: 'string',
    pathOnly: true,
    configKey: 'timeout',
  },
  {
    key: 'schedule',
    flags: '--schedule <cron>',
    help: 'with --path: the cron schedule, exported for missed-run alerts',
    value: 'string',
    pathOnly: true,
    configKey: 'schedule',
  },
  // Not refused with a config: a config job says `init:` itself, and the flag was always tolerated there.
  {
    key: 'init',
    flags: '--init',
    help: 'with --path: create the restic repository if it does not exist',
    value: 'boolean',
    pathOnly: false,
    configKey: 'init',
  },
] as const satisfies readonly RunFlagSpec[];

type Spec = (typeof RUN_FLAGS)[number];
type ValueOf<S extends Spec> = S['value'] extends 'boolean' ? boolean : S['value'] extends 'list' ? string[] : string;

export type RunFlags = GlobalOptions & { [S in Spec as S['key']]?: ValueOf<S> };

/** "--password-file" for passwordFile: how the user typed it. */
const flagName = (spec: Spec): string => /--[a-z-]+/.exec(spec.flags)![0];

/** The first flag given that only a --path job can use, or undefined. */
export const strayPathFlag = (flags: RunFlags): string | undefined => {
  const stray = RUN_FLAGS.find((spec) => spec.pathOnly && flags[spec.key] !== undefined);
  return stray && flagName(stray);
};

/** The job config keys the flags given stand for one to one (path, engine, password_file, …). */
export const configValuesFrom = (flags: RunFlags): Record<string, unknown> => {
  const values: Record<string, unknown> = {};
  for (const spec of RUN_FLAGS)
    if ('configKey' in spec && flags[spec.key] !== undefined) values[spec.configKey] = flags[spec.key];
  return values;
};
