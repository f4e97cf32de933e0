// Loads and validates the YAML config before anything runs. Every error names the file, the
// line and the key, so an operator can fix a fleet's config from a cron mail alone.
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { isAbsolute } from 'node:path';
import type { Pair, YAMLMap } from 'yaml';
import { type Alias, type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import { duplicatiTestSamples } from './backends/duplicati-samples.ts';
import { parseRemembered } from './config-cache.ts';
import { describe } from './describe-value.ts';
import { MAX_DURATION_MS, parseDuration } from './durations.ts';
import { UsageError } from './errors.ts';
import {
  DEFAULT_HOOKS_TIMEOUT_MS,
  type JobHooks,
  mergeHooks,
  type PingConfig,
  parseHooks,
  parsePing,
} from './hooks-config.ts';
import { findControlCharacter, quote } from './input-text.ts';
import { assertJobName } from './job-name.ts';
import { isPlainObject } from './plain-object.ts';
import {
  describePreset,
  type JobPreset,
  PRESET_NAMES,
  type PresetName,
  parsePreset,
  presetFileName,
} from './presets/index.ts';
import { privateFileWarnings } from './private-files.ts';
import { repositoriesOf } from './repositories.ts';
import {
  parseRetention,
  type RetentionPolicy,
  type RetentionRounding,
  toBorgPruneArgs,
  toDuplicatiPolicy,
  toResticForgetArgs,
} from './retention/index.ts';
import { parseSchedule } from './schedule/index.ts';
import { HISTORY_LIMIT } from './state.ts';
import { didYouMean } from './suggest.ts';
import { checkVerify, resolveVerify, type VerifyConfig, type VerifyInput } from './verify/config.ts';

export const DEFAULT_CONFIG_PATH = '/etc/cronvault/config.yml';
/** The "file" of a job given by flags: messages then name the flag instead of a line. */
const COMMAND_LINE = 'command line';
const DEFAULT_STATE_DIR = '/var/lib/cronvault';
const DEFAULT_TEXTFILE_DIR = '/var/lib/prometheus/node-exporter';
const ENGINES = ['restic', 'duplicati', 'borg'] as const;
export type EngineName = (typeof ENGINES)[number];

const REPOSITORY_EXAMPLES: Record<EngineName, string> = {
  restic: 'a restic repository such as /srv/restic or rest:http://host:8000/',
  duplicati: 'a Duplicati target URL such as file:///mnt/usb/photos',
  borg: 'a borg repository such as /srv/borg or ssh://backup@host/./repo',
};

export interface RetryPolicy {
  attempts: number;
  minDelayMs: number;
  maxDelayMs: number;
}

/** One job with its defaults applied: everything a run needs, nothing left to look up. */
export interface JobConfig {
  name: string;
  engine: EngineName;
  path?: string;
  command?: string;
  /** A database preset (postgresql, mysql, redis, sqlite); `command` then describes its dump. */
  preset?: JobPreset;
  stdinFilename?: string;
  repository: string;
  passwordFile?: string;
  passwordCommand?: string;
  retention: RetentionPolicy;
  retentionMissing: boolean;
  retentionRounding: RetentionRounding;
  /** Fraction (0..1] of the job's snapshots one retention run may remove. */
  retentionMaxDelete: number;
  retry: RetryPolicy;
  schedule?: string;
  exclude: string[];
  binary?: string;
  timeoutMs?: number;
  engineArgs: string[];
  env: Record<string, string>;
  hostname: string;
  init: boolean;
  tags: string[];
  stateDir: string;
  textfileDir: string;
  /** Also push the job's metrics here (hosts without node_exporter); none by default. */
  pushgatewayUrl?: string;
  /** Where the job was declared: a config's jobs get backup_job_info from cronvault_jobs.prom. */
  declaredBy: 'config' | 'flags';
  /** Runs kept in the job's history file; older ones are dropped so state_dir stays bounded. */
  historyKeep: number;
  /** Commands run before and after the backup (hooks.ts); every phase empty when none are set. */
  hooks: JobHooks;
  /** Time limit of each hook command. */
  hooksTimeoutMs: number;
  /** Dead-man's-switch pings (ping.ts), for hosts no Prometheus watches. */
  ping?: PingConfig;
  /** How `cronvault verify` checks this job (the `verify:` key, defaults applied). */
  verify: VerifyConfig;
  /** When `cronvault verify` runs from cron; undefined: weekly, drawn like the backup's time. */
  verifySchedule?: string;
  /** Who prunes the job's repository, and when (src/repositories.ts groups jobs by repository). */
  prune: PruneSetting;
  /** The repository refuses deletes (rest-server --append-only): runs skip retention. */
  appendOnly: boolean;
  /** The repository's name in metric labels and file names; a hash of the URL when unset. */
  repositoryName?: string;
}

/** `prune: { schedule, host }`; unset fields mean "this host" and a weekly time drawn for it. */
interface PruneSetting {
  schedule?: string;
  host?: string;
}

export interface Config {
  file?: string;
  stateDir: string;
  textfileDir: string;
  pushgatewayUrl?: string;
  jobs: Map<string, JobConfig>;
  warnings: string[];
}

type Kind =
  | 'history-count'
  | 'string'
  | 'shell'
  | 'http-url'
  | 'abs-path'
  | 'duration'
  | 'int'
  | 'bool'
  | 'string-list'
  | 'string-map'
  | 'engine'
  | 'retention'
  | 'rounding'
  | 'fraction'
  | 'schedule'
  | 'retry'
  | 'hooks'
  | 'ping'
  | 'verify'
  | 'prune'
  | 'repository-name'
  | 'preset';

const JOB_KEYS: Record<string, Kind> = {
  engine: 'engine',
  path: 'abs-path',
  command: 'shell',
  stdin_filename: 'string',
  repository: 'string',
  password_file: 'abs-path',
  password_command: 'shell',
  retention: 'retention',
  retention_rounding: 'rounding',
  retention_max_delete: 'fraction',
  retry: 'retry',
  schedule: 'schedule',
  exclude: 'string-list',
  binary: 'string',
  timeout: 'duration',
  engine_args: 'string-list',
  env: 'string-map',
  hostname: 'string',
  init: 'bool',
  tags: 'string-list',
  history_keep: 'history-count',
  hooks: 'hooks',
  hooks_timeout: 'duration',
  ping: 'ping',
  verify: 'verify',
  verify_schedule: 'schedule',
  prune: 'prune',
  append_only: 'bool',
  repository_name: 'repository-name',
  ...(Object.fromEntries(PRESET_NAMES.map((name) => [name, 'preset'])) as Record<PresetName, Kind>),
};
const RETRY_KEYS = ['attempts', 'min_delay', 'max_delay'];
const TOP_KEYS = ['state_dir', 'metrics', 'defaults', 'jobs', 'history_keep', 'prune'];
const PRUNE_KEYS = ['schedule', 'host'];
/** A repository name becomes a label value and part of a file name: the job-name characters. */
const REPOSITORY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const METRICS_KEYS = ['textfile_dir', 'pushgateway_url'];

const DEFAULT_RETRY: RetryPolicy = { attempts: 10, minDelayMs: 1000, maxDelayMs: 60_000 };
/**
 * More attempts than this is a typo, not a policy: at the default max_delay of 60 s, 100
 * attempts already keep one nightly run retrying for up to 100 minutes, and the retry library
 * plans every attempt up front (1000000000 of them ran node out of memory).
 */
const MAX_ATTEMPTS = 100;
/** Runs one history file may keep: 100,000 lines of about 300 bytes stay around 30 MB. */
const MAX_HISTORY_KEEP = 100_000;
/** YAML aliases a config may expand: plenty for shared defaults, far too few for an alias bomb. */
const MAX_ALIAS_COUNT = 100;
/** One host's jobs; more is a generated config gone wrong (every job is a file and a cron line). */
const MAX_JOBS = 1000;

/** Where a value sits in the source, for messages: "config.yml:12 jobs.influxdb.path". */
class Locator {
  constructor(
    private readonly file: string,
    private readonly doc: Document | undefined,
    private readonly lines: LineCounter | undefined,
    private readonly text?: string,
  ) {}

  /** The value's text as written ("1e400"), when it came from a file. */
  source(path: (string | number)[]): string | undefined {
    const node = this.nodeAt(path);
    const range = (node as Node | undefined)?.range;
    return range && this.text !== undefined ? this.text.slice(range[0], range[1]).trim() : undefined;
  }

  /** Each mapping's pairs by key, built on first use: a search per job made 500 jobs quadratic. */
  private readonly pairIndex = new WeakMap<object, Map<unknown, Pair>>();

  private pairOf(map: YAMLMap, key: string | number): Pair | undefined {
    let index = this.pairIndex.get(map);
    if (!index) {
      index = new Map();
      // The first pair of a key wins, as find() did.
      for (const item of map.items)
        if (isScalar(item.key) && !index.has(item.key.value)) index.set(item.key.value, item);
      this.pairIndex.set(map, index);
    }
    return index.get(key);
  }

  private nodeAt(path: (string | number)[]): unknown {
    let node: unknown = this.doc?.contents;
    for (const segment of path) {
      if (isMap(node)) node = this.pairOf(node, segment)?.value;
      else if (isSeq(node) && typeof segment === 'number') node = node.items[segment];
      else return undefined;
    }
    return node;
  }

  at(path: (string | number)[], keyNode = false): string {
    const dotted = path.map(segmentText).join('.');
    if (this.file === COMMAND_LINE)
      return `${COMMAND_LINE}: ${path.length > 0 ? `--${path.join('-').replace(/_/g, '-').replace(/^--+/, '')}` : ''}`.replace(
        /: $/,
        '',
      );
    if (!this.doc || !this.lines) return `${this.file} ${dotted}`.trim();
    let node: unknown = this.doc.contents;
    let keyOffset: number | undefined;
    for (const segment of path) {
      if (isMap(node)) {
        const pair = this.pairOf(node, segment);
        if (!pair) break;
        keyOffset = (pair.key as Node).range?.[0];
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment];
        keyOffset = (node as Node | undefined)?.range?.[0];
      } else break;
    }
    const offset = keyNode ? keyOffset : ((node as Node | null)?.range?.[0] ?? keyOffset);
    if (offset === undefined) return `${this.file}: ${dotted}`;
    const { line } = this.lines.linePos(offset);
    return `${this.file}:${line}: ${dotted}`;
  }
}

/** A key as it appears in a location: as written, unless it would break the line or run long. */
const segmentText = (segment: string | number): string =>
  typeof segment === 'number' || (findControlCharacter(segment) === undefined && segment.length <= 100)
    ? String(segment)
    : quote(segment);

const fail = (where: string, message: string): never => {
  throw new UsageError('E_CONFIG', `${where}: ${message}`);
};

/** Refuses control characters (a NUL, a stray newline from a YAML block scalar, ...). */
const checkText = (text: string, where: string, what: string, allow: 'none' | 'shell' = 'none'): void => {
  const found = findControlCharacter(text, allow);
  if (found) {
    const hint =
      found.name === 'a newline' && text.endsWith('\n')
        ? ' (a YAML "|" block keeps the final newline: use "|-" or a plain value)'
        : '';
    fail(
      where,
      `${what} ${quote(text)} contains ${found.name} at character ${found.position}; control characters are not allowed${hint}`,
    );
  }
};

/** Leading or trailing blanks in a path or name are a copy-paste slip far more often than meant. */
const checkTrimmed = (text: string, where: string, what: string): void => {
  if (text.trim() !== text)
    fail(
      where,
      `${what} ${quote(text)} starts or ends with a space; remove it (a file name really ending in a space must be renamed)`,
    );
};

const checkKeys = (
  value: Record<string, unknown>,
  allowed: readonly string[],
  path: (string | number)[],
  loc: Locator,
): void => {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      fail(loc.at([...path, key], true), `unknown key ${quote(key)}${didYouMean(key, allowed)}`);
    }
  }
};

/** Checks one job key's value against its kind and returns it in its runtime form. */
const checkValue = (kind: Kind, value: unknown, path: (string | number)[], loc: Locator): unknown => {
  const where = loc.at(path);
  switch (kind) {
    case 'string':
      if (typeof value !== 'string' || value === '')
        fail(where, `expected a non-empty string, found ${describe(value)}`);
      checkText(value as string, where, 'value');
      checkTrimmed(value as string, where, 'value');
      return value;
    case 'shell':
      if (typeof value !== 'string' || value.trim() === '')
        fail(where, `expected a non-empty command, found ${describe(value)}`);
      checkText(value as string, where, 'command', 'shell');
      return value;
    case 'http-url': {
      let url: URL | undefined;
      try {
        url = typeof value === 'string' ? new URL(value) : undefined;
      } catch {
        url = undefined;
      }
      if (typeof value === 'string') checkText(value, where, 'URL');
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
        fail(where, `expected an http:// or https:// URL such as http://pushgateway:9091, found ${describe(value)}`);
      return String(value).replace(/\/+$/, '');
    }
    case 'abs-path':
      if (typeof value !== 'string' || value === '')
        return fail(where, `expected an absolute path, found ${describe(value)}`);
      checkText(value, where, 'path');
      checkTrimmed(value, where, 'path');
      if (!isAbsolute(value))
        fail(where, `${quote(value)} is a relative path; use an absolute one (cron runs from an unknown directory)`);
      return value;
    case 'duration': {
      const text = typeof value === 'number' ? (loc.source(path) ?? String(value)) : value;
      const ms = typeof text === 'string' ? parseDuration(text) : undefined;
      if (ms === undefined)
        return fail(
          where,
          `${typeof text === 'string' ? quote(text) : describe(value)} is not a duration (examples: 30s, 5m, 1h30m, 2d)`,
        );
      // Node's timers hold at most 2^31-1 ms; a longer timeout fired at once, a longer wait never waited.
      if (ms > MAX_DURATION_MS)
        fail(where, `${quote(String(text))} is longer than 24 days, the longest duration cronvault can wait for`);
      return ms;
    }
    case 'int':
      if (typeof value === 'number' && !Number.isFinite(value))
        fail(
          where,
          `${quote(loc.source(path) ?? String(value))} is too large; give a whole number from 1 to ${MAX_ATTEMPTS}`,
        );
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
        fail(where, `expected a whole number of at least 1, found ${describe(value)}`);
      if ((value as number) > MAX_ATTEMPTS)
        fail(
          where,
          `${value} is more than the ${MAX_ATTEMPTS} attempts allowed (at the default max_delay of 60s, ${MAX_ATTEMPTS} attempts already retry for over an hour)`,
        );
      return value;
    case 'history-count':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_HISTORY_KEEP) {
        fail(where, `expected a whole number of runs from 1 to ${MAX_HISTORY_KEEP}, found ${describe(value)}`);
      }
      return value;
    case 'bool':
      if (typeof value !== 'boolean') fail(where, `expected true or false, found ${describe(value)}`);
      return value;
    case 'string-list':
      if (!Array.isArray(value)) return fail(where, `expected a list of strings, found ${describe(value)}`);
      value.forEach((item, i) => {
        if (typeof item !== 'string') fail(loc.at([...path, i]), `expected a string, found ${describe(item)}`);
        checkText(item as string, loc.at([...path, i]), 'value');
      });
      return value;
    case 'string-map':
      if (!isPlainObject(value)) return fail(where, `expected a mapping of NAME: value, found ${describe(value)}`);
      for (const [key, item] of Object.entries(value)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
          fail(loc.at([...path, key], true), `${quote(key)} is not a valid environment variable name`);
        if (typeof item !== 'string' && typeof item !== 'number')
          fail(loc.at([...path, key]), `expected a string value, found ${describe(item)}`);
        checkText(String(item), loc.at([...path, key]), 'value', 'shell');
      }
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
    case 'engine':
      if (typeof value !== 'string' || !(ENGINES as readonly string[]).includes(value)) {
        fail(
          where,
          `unknown engine ${typeof value === 'string' ? quote(value) : describe(value)}: use ${ENGINES.slice(0, -1).join(', ')} or ${ENGINES.at(-1)}${typeof value === 'string' ? didYouMean(value, ENGINES) : ''}`,
        );
      }
      return value;
    case 'rounding':
      if (value !== 'refuse' && value !== 'keep-more')
        fail(where, `expected "refuse" or "keep-more", found ${describe(value)}`);
      return value;
    case 'fraction': {
      const text = String(value);
      const fraction = text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text);
      if (!Number.isFinite(fraction) || fraction <= 0 || fraction > 1)
        fail(where, `expected a share like "50%" or 0.5 (more than 0, at most 100%), found ${describe(value)}`);
      return fraction;
    }
    case 'schedule':
      if (typeof value !== 'string')
        return fail(where, `expected a cron schedule like "0 2 * * *", found ${describe(value)}`);
      checkText(value, where, 'schedule');
      try {
        parseSchedule(value);
      } catch (error) {
        fail(where, (error as Error).message);
      }
      return value;
    case 'verify':
      return checkVerify(value, (key, keyNode) => loc.at(key ? [...path, key] : path, keyNode), fail);
    case 'retention':
      try {
        return parseRetention(value);
      } catch (error) {
        return fail(where, (error as Error).message);
      }
    case 'preset':
      return parsePreset(path.at(-1) as PresetName, value, (sub, message, keyNode) =>
        fail(loc.at([...path, ...sub], keyNode), message),
      );
    case 'retry': {
      if (!isPlainObject(value))
        return fail(
          where,
          `expected a mapping like { attempts: 10, min_delay: 1s, max_delay: 60s }, found ${describe(value)}`,
        );
      checkKeys(value, RETRY_KEYS, path, loc);
      const retry: Partial<RetryPolicy> = {};
      if (value.attempts !== undefined)
        retry.attempts = checkValue('int', value.attempts, [...path, 'attempts'], loc) as number;
      if (value.min_delay !== undefined)
        retry.minDelayMs = checkValue('duration', value.min_delay, [...path, 'min_delay'], loc) as number;
      if (value.max_delay !== undefined)
        retry.maxDelayMs = checkValue('duration', value.max_delay, [...path, 'max_delay'], loc) as number;
      return retry;
    }
    case 'hooks':
      return parseHooks(value, path, (at, keyNode) => loc.at(at, keyNode));
    case 'ping':
      return parsePing(value, path, (at, keyNode) => loc.at(at, keyNode));
    case 'prune': {
      if (!isPlainObject(value))
        return fail(
          where,
          `expected a mapping like { schedule: "0 4 * * 0", host: backup-01 }, found ${describe(value)}`,
        );
      checkKeys(value, PRUNE_KEYS, path, loc);
      const prune: PruneSetting = {};
      if (value.schedule !== undefined)
        prune.schedule = checkValue('schedule', value.schedule, [...path, 'schedule'], loc) as string;
      if (value.host !== undefined) prune.host = checkValue('string', value.host, [...path, 'host'], loc) as string;
      return prune;
    }
    case 'repository-name':
      if (typeof value !== 'string' || !REPOSITORY_NAME.test(value))
        fail(
          where,
          `expected a name of letters, digits, "_", "." and "-" (at most 64, starting with a letter or digit), found ${describe(value)}`,
        );
      return value;
  }
};

const checkJobMapping = (raw: unknown, path: (string | number)[], loc: Locator): Record<string, unknown> => {
  if (raw === null || raw === undefined) return {};
  if (!isPlainObject(raw)) return fail(loc.at(path), `expected a mapping of job keys, found ${describe(raw)}`);
  checkKeys(raw, Object.keys(JOB_KEYS), path, loc);
  const checked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) checked[key] = checkValue(JOB_KEYS[key]!, value, [...path, key], loc);
  return checked;
};

interface JobInput {
  name: string;
  values: Record<string, unknown>;
  defaults: Record<string, unknown>;
  stateDir: string;
  textfileDir: string;
  pushgatewayUrl?: string;
  where: string;
  /** The host of jobs that set no `hostname`, when not this machine's (retention apply --from-config). */
  defaultHostname?: string;
}

/** Applies defaults and checks the combinations no single key can check alone. */
const resolveJob = ({
  name,
  values,
  defaults,
  stateDir,
  textfileDir,
  pushgatewayUrl,
  where,
  defaultHostname,
}: JobInput): { job: JobConfig; warnings: string[] } => {
  const pick = <T>(key: string): T | undefined => (values[key] ?? defaults[key]) as T | undefined;
  const warnings: string[] = [];
  const fromFlags = where === COMMAND_LINE;
  /** How an operator sets keys: `--password-file` on the command line, else in the config. */
  const setIn = (...keys: string[]): string =>
    fromFlags
      ? keys.map((key) => `--${key.replace(/_/g, '-')}`).join(' or ')
      : `${keys.map((key) => `"${key}"`).join(' or ')} in the job or in defaults`;
  const presets = PRESET_NAMES.filter((key) => values[key] !== undefined);
  const preset = presets.length > 0 ? (values[presets[0]!] as JobPreset) : undefined;
  for (const key of PRESET_NAMES)
    if (defaults[key] !== undefined) fail(where, `"${key}" belongs in a job, not in defaults`);
  if (presets.length > 1 || (preset && (values.path !== undefined || values.command !== undefined)))
    fail(
      where,
      `give exactly one of "path", "command" or a database preset, not ${[...['path', 'command'].filter((k) => values[k] !== undefined), ...presets].map((k) => `"${k}"`).join(' and ')}`,
    );
  const path = preset ? undefined : pick<string>('path');
  const command = preset ? describePreset(preset) : pick<string>('command');
  if (values.path !== undefined && values.command !== undefined)
    fail(where, 'give either "path" or "command", not both');
  if (path === undefined && command === undefined)
    fail(
      where,
      `needs "path" (a directory or file to back up) or "command" (whose output is backed up), or a database preset (${PRESET_NAMES.join(', ')})`,
    );
  const engine = pick<EngineName>('engine') ?? 'restic';
  const repository = pick<string>('repository');
  if (repository === undefined)
    fail(where, `needs a repository (${REPOSITORY_EXAMPLES[engine]}): set ${setIn('repository')}`);
  const passwordFile = pick<string>('password_file');
  const passwordCommand = pick<string>('password_command');
  if (values.password_file !== undefined && values.password_command !== undefined)
    fail(where, 'give either "password_file" or "password_command", not both');
  if (passwordFile === undefined && passwordCommand === undefined)
    fail(
      where,
      `needs a password source: set ${setIn('password_file', 'password_command')} (passwords are never written in the config)`,
    );
  // A preset's dump goes to a file first for duplicati-cli; a free-form command stays a stream only.
  if (command !== undefined && engine === 'duplicati' && !preset)
    fail(where, '"command" jobs need the restic or borg engine (duplicati-cli cannot read standard input)');
  let retention = pick<RetentionPolicy>('retention');
  const rounding = pick<RetentionRounding>('retention_rounding') ?? 'refuse';
  // A policy the job's engine cannot apply is a config error now, not a failed run at 2 a.m.
  // (restic's flags depend on its version only for "unlimited", which every version can say.)
  try {
    if (engine === 'duplicati' && retention?.kind === 'counts') toDuplicatiPolicy(retention);
    if (engine === 'restic' && retention !== undefined && retention.kind !== 'none')
      toResticForgetArgs(retention, { resticVersion: '0.16.0', rounding });
    if (engine === 'borg' && retention !== undefined) toBorgPruneArgs(retention, { rounding });
  } catch (error) {
    fail(where, `retention: ${(error as Error).message}`);
  }
  let verify = resolveVerify(defaults.verify as VerifyInput | undefined, values.verify as VerifyInput | undefined);
  // duplicati-cli test takes a number of volumes or "all", not a share of the data.
  if (engine === 'duplicati' && verify.enabled) {
    const own = values.verify as (VerifyInput & { readData?: unknown; sample?: unknown }) | undefined;
    try {
      duplicatiTestSamples(verify);
    } catch (error) {
      // Inherited from defaults (meant for restic jobs): warn, and test `sample` volumes (at least 1).
      if (own?.readData !== undefined || own?.sample !== undefined) fail(where, (error as Error).message);
      verify = { ...verify, readData: { kind: 'none' }, sample: Math.max(1, verify.sample) };
      warnings.push(`${where}: ${(error as Error).message}; this job tests ${verify.sample} sample volumes`);
    }
  }
  const retentionMissing = retention === undefined;
  if (retention === undefined) {
    warnings.push(
      `${where}: no retention set, so nothing will ever be deleted; set "retention" (e.g. "1W:1D,4W:1W,12M:1M") or "retention: none" to silence this`,
    );
    retention = { kind: 'none' } as RetentionPolicy;
  }
  const retry = {
    ...DEFAULT_RETRY,
    ...(defaults.retry as Partial<RetryPolicy> | undefined),
    ...(values.retry as Partial<RetryPolicy> | undefined),
  };
  if (retry.minDelayMs > retry.maxDelayMs)
    fail(
      `${where}.retry`,
      `min_delay (${retry.minDelayMs / 1000}s) is longer than max_delay (${retry.maxDelayMs / 1000}s)`,
    );
  return {
    warnings,
    job: {
      name,
      engine,
      path,
      command,
      preset,
      stdinFilename:
        pick<string>('stdin_filename') ??
        (preset ? presetFileName(preset) : command !== undefined ? `${name}.dump` : undefined),
      repository: repository!,
      passwordFile,
      passwordCommand,
      retention,
      retentionMissing,
      retentionRounding: rounding,
      retentionMaxDelete: pick<number>('retention_max_delete') ?? 0.5,
      retry,
      schedule: pick<string>('schedule'),
      exclude: pick<string[]>('exclude') ?? [],
      binary: pick<string>('binary'),
      timeoutMs: pick<number>('timeout'),
      engineArgs: pick<string[]>('engine_args') ?? [],
      env: {
        ...(defaults.env as Record<string, string> | undefined),
        ...(values.env as Record<string, string> | undefined),
      },
      hostname: pick<string>('hostname') ?? defaultHostname ?? osHostname(),
      init: pick<boolean>('init') ?? false,
      tags: pick<string[]>('tags') ?? [],
      stateDir,
      textfileDir,
      pushgatewayUrl,
      declaredBy: fromFlags ? 'flags' : 'config',
      historyKeep: pick<number>('history_keep') ?? HISTORY_LIMIT,
      hooks: mergeHooks(defaults.hooks as Partial<JobHooks> | undefined, values.hooks as Partial<JobHooks> | undefined),
      hooksTimeoutMs: pick<number>('hooks_timeout') ?? DEFAULT_HOOKS_TIMEOUT_MS,
      ping: pick<PingConfig>('ping'),
      verify,
      verifySchedule: pick<string>('verify_schedule'),
      prune: pick<PruneSetting>('prune') ?? {},
      appendOnly: pick<boolean>('append_only') ?? false,
      repositoryName: pick<string>('repository_name'),
    },
  };
};

/**
 * The document as plain data. Aliases are checked here: one to a missing anchor, or an "alias
 * bomb" expanding to millions of nodes, made the yaml library throw (a stack trace, exit 1).
 */
const toPlainData = (doc: Document, file: string, lines: LineCounter): unknown => {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    let culprit: Alias | undefined;
    const unresolved = /Unresolved alias/.test((error as Error).message);
    visit(doc, {
      Alias(_, node) {
        if (!unresolved || node.resolve(doc) === undefined) {
          culprit = node;
          return visit.BREAK;
        }
        return undefined;
      },
    });
    const place = culprit?.range
      ? (({ line, col }) => `${file}:${line}:${col}`)(lines.linePos(culprit.range[0]))
      : file;
    const name = culprit ? quote(`*${culprit.source}`) : 'an alias';
    if (unresolved)
      throw new UsageError(
        'E_CONFIG',
        `${place}: not valid YAML: alias ${name} refers to no anchor (define "&${culprit?.source ?? 'name'}" before using it)`,
        { cause: error },
      );
    if (/Excessive alias count/.test((error as Error).message)) {
      throw new UsageError(
        'E_CONFIG',
        `${place}: not valid YAML: aliases expand to too much data (more than ${MAX_ALIAS_COUNT} copies; an "alias bomb"?)`,
        { cause: error },
      );
    }
    throw new UsageError(
      'E_CONFIG',
      `${file}: not valid YAML: ${(error as Error).message.split('\n')[0]!.slice(0, 200)}`,
      { cause: error },
    );
  }
};

export interface ParseOptions {
  /** The host name of jobs that set no `hostname` (another host's config read on a trusted host). */
  defaultHostname?: string;
}

/** The YAML text as plain data, and where each value sits for messages. */
const parseYaml = (text: string, file: string): { loc: Locator; raw: unknown } => {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const error = doc.errors[0]!;
    const { line, col } = lines.linePos(error.pos[0]);
    // Which key is repeated: with many jobs, "keys must be unique" alone sends you searching.
    const key = /^("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\n]*?)\s*:(?:\s|$)/.exec(text.slice(error.pos[0]))?.[1];
    const repeated =
      error.code === 'DUPLICATE_KEY' && key
        ? `: ${quote(key.replace(/^(["'])(.*)\1$/, '$2'))} appears more than once (job names too must be unique)`
        : '';
    throw new UsageError(
      'E_CONFIG',
      `${file}:${line}:${col}: not valid YAML: ${error.message.split('\n')[0]!.slice(0, 200)}${repeated}`,
    );
  }
  const loc = new Locator(file, doc, lines, text);
  const raw = toPlainData(doc, file, lines);
  return { loc, raw };
};

/**
 * Parses and validates config text; `file` is only used in messages. `plain.data`, when given,
 * is the text already parsed (src/config-cache.ts) and the YAML is not read again: messages then
 * lack line numbers, so a caller retries without it when this throws or warns. Otherwise it is
 * filled in with the parsed data.
 */
export const parseConfig = (
  text: string,
  file: string,
  options: ParseOptions = {},
  plain: { data?: unknown } = {},
): Config => {
  const { loc, raw } =
    plain.data === undefined
      ? parseYaml(text, file)
      : { loc: new Locator(file, undefined, undefined, text), raw: plain.data };
  // A copy: validation below may fill in defaults, and the cache must hold the text's own data.
  plain.data ??= structuredClone(raw);
  if (!isPlainObject(raw)) return fail(file, `expected a mapping with "jobs:" at the top, found ${describe(raw)}`);
  checkKeys(raw, TOP_KEYS, [], loc);

  const stateDir =
    raw.state_dir === undefined
      ? DEFAULT_STATE_DIR
      : (checkValue('abs-path', raw.state_dir, ['state_dir'], loc) as string);
  let textfileDir = DEFAULT_TEXTFILE_DIR;
  let pushgatewayUrl: string | undefined;
  if (raw.metrics !== undefined && raw.metrics !== null) {
    if (!isPlainObject(raw.metrics))
      fail(loc.at(['metrics']), `expected a mapping like { textfile_dir: ${DEFAULT_TEXTFILE_DIR} }`);
    const metrics = raw.metrics as Record<string, unknown>;
    checkKeys(metrics, METRICS_KEYS, ['metrics'], loc);
    if (metrics.textfile_dir !== undefined)
      textfileDir = checkValue('abs-path', metrics.textfile_dir, ['metrics', 'textfile_dir'], loc) as string;
    if (metrics.pushgateway_url !== undefined)
      pushgatewayUrl = checkValue('http-url', metrics.pushgateway_url, ['metrics', 'pushgateway_url'], loc) as string;
  }
  const defaults = checkJobMapping(raw.defaults, ['defaults'], loc);
  // A top-level history_keep is the same as one under defaults (a job's own wins over both).
  if (raw.history_keep !== undefined && defaults.history_keep === undefined)
    defaults.history_keep = checkValue('history-count', raw.history_keep, ['history_keep'], loc);
  // So is a top-level prune: one shared repository, one pruner.
  if (raw.prune !== undefined && defaults.prune === undefined)
    defaults.prune = checkValue('prune', raw.prune, ['prune'], loc);
  if (!isPlainObject(raw.jobs) || Object.keys(raw.jobs).length === 0) {
    fail(
      raw.jobs === undefined ? file : loc.at(['jobs']),
      'needs a "jobs:" mapping with at least one job (name: { path: /some/dir })',
    );
  }
  const jobs = new Map<string, JobConfig>();
  const warnings: string[] = [];
  if (Object.keys(raw.jobs as object).length > MAX_JOBS)
    fail(
      loc.at(['jobs']),
      `has ${Object.keys(raw.jobs as object).length} jobs; at most ${MAX_JOBS} are allowed in one config`,
    );
  for (const [name, values] of Object.entries(raw.jobs as Record<string, unknown>)) {
    assertJobName(name, loc.at(['jobs', name], true));
    const checked = checkJobMapping(values, ['jobs', name], loc);
    const resolved = resolveJob({
      name,
      values: checked,
      defaults,
      stateDir,
      textfileDir,
      pushgatewayUrl,
      where: loc.at(['jobs', name], true),
      defaultHostname: options.defaultHostname,
    });
    jobs.set(name, resolved.job);
    warnings.push(...resolved.warnings);
  }
  // Jobs sharing a repository must agree on its pruner and name: checked now, not at prune time.
  repositoriesOf(jobs.values(), file);
  return { file, stateDir, textfileDir, pushgatewayUrl, jobs, warnings };
};

export const loadConfig = (file: string, options: ParseOptions = {}): Config => {
  let text: string;
  try {
    text = decodeUtf8(readFileSync(file), file);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'is not readable by this user'
          : (error as Error).message;
    throw new UsageError(
      'E_CONFIG_READ',
      `config file ${file} ${reason} (choose one with -c/--config or CRONVAULT_CONFIG, or run with --path/--repository flags)`,
      { cause: error },
    );
  }
  const config = parseRemembered(text, file, DEFAULT_STATE_DIR, (t, f, plain) => parseConfig(t, f, options, plain));
  config.warnings.push(...privateFileWarnings(file, text, [...config.jobs.values()]));
  return config;
};

/** Config text, refusing bytes that are not UTF-8 (a Latin-1 path would otherwise turn into "\ufffd"). */
const decodeUtf8 = (bytes: Buffer, file: string): string => {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const good = bytes.subarray(0, firstInvalidUtf8(bytes));
    const line = good.toString('utf8').split('\n').length;
    throw new UsageError('E_CONFIG', `${file}:${line}: not valid UTF-8 (save the file as UTF-8)`);
  }
};

const firstInvalidUtf8 = (bytes: Buffer): number => {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let at = 0; at < bytes.length; at += 1) {
    try {
      decoder.decode(bytes.subarray(at, at + 1), { stream: true });
    } catch {
      return at;
    }
  }
  return bytes.length;
};

/** Same checks for a job given by flags: a config of one. */
export const jobFromFlags = (
  name: string,
  values: Record<string, unknown>,
  dirs: { stateDir?: string; textfileDir?: string; pushgatewayUrl?: string },
): { job: JobConfig; warnings: string[] } => {
  const loc = new Locator(COMMAND_LINE, undefined, undefined);
  const checked = checkJobMapping(values, [], loc);
  const stateDir =
    dirs.stateDir === undefined
      ? DEFAULT_STATE_DIR
      : (checkValue('abs-path', dirs.stateDir, ['--state-dir'], loc) as string);
  const textfileDir =
    dirs.textfileDir === undefined
      ? DEFAULT_TEXTFILE_DIR
      : (checkValue('abs-path', dirs.textfileDir, ['--textfile-dir'], loc) as string);
  const pushgatewayUrl =
    dirs.pushgatewayUrl === undefined
      ? undefined
      : (checkValue('http-url', dirs.pushgatewayUrl, ['--pushgateway-url'], loc) as string);
  const resolved = resolveJob({
    name,
    values: checked,
    defaults: {},
    stateDir,
    textfileDir,
    pushgatewayUrl,
    where: COMMAND_LINE,
  });
  resolved.warnings.push(...privateFileWarnings(undefined, '', [resolved.job]));
  return resolved;
};
