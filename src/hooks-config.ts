// The `hooks:` and `ping:` keys of a job: their shapes, defaults and validation. config.ts calls
// these with a function that names where a value sits (file:line: key), so every message points
// at the line to fix, the way every other key's does.
import { describe } from './describe-value.ts';
import { UsageError } from './errors.ts';
import { findControlCharacter, quote } from './input-text.ts';
import { isPlainObject } from './plain-object.ts';
import { didYouMean } from './suggest.ts';

/** The phases, in the order a run reaches them; also the `phase` label of backup_last_hook_failure. */
export const HOOK_PHASES = ['before', 'after', 'on_failure', 'finally'] as const;
export type HookPhase = (typeof HOOK_PHASES)[number];

/** One hook command: the argv it runs (a `shell: true` string becomes /bin/sh -c), and how it was written. */
export interface HookCommand {
  argv: string[];
  /** The command as the operator wrote it, for logs and `check`. */
  text: string;
  shell: boolean;
}

export type JobHooks = Record<HookPhase, HookCommand[]>;

const NO_HOOKS: JobHooks = { before: [], after: [], on_failure: [], finally: [] };

/** Each hook command gets this long unless `hooks_timeout` says otherwise. */
export const DEFAULT_HOOKS_TIMEOUT_MS = 5 * 60_000;

export const hasHooks = (hooks: JobHooks): boolean => HOOK_PHASES.some((phase) => hooks[phase].length > 0);

const PING_EVENTS = ['start', 'success', 'failure'] as const;
export type PingEvent = (typeof PING_EVENTS)[number];
const PING_KINDS = ['healthchecks', 'uptime-kuma', 'ntfy'] as const;
type PingKind = (typeof PING_KINDS)[number];

export interface PingConfig {
  url: string;
  on: PingEvent[];
  kind: PingKind;
  /** Healthchecks only: ping /<exit code> instead of the plain URL and /fail. */
  exitCode: boolean;
}

type Where = (path: (string | number)[], keyNode?: boolean) => string;

const fail = (where: string, message: string): never => {
  throw new UsageError('E_CONFIG', `${where}: ${message}`);
};

const checkKeys = (
  value: Record<string, unknown>,
  allowed: readonly string[],
  path: (string | number)[],
  at: Where,
) => {
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) fail(at([...path, key], true), `unknown key ${quote(key)}${didYouMean(key, allowed)}`);
};

const checkNoControl = (text: string, where: string, allow: 'none' | 'shell' = 'none'): void => {
  const found = findControlCharacter(text, allow);
  if (found)
    fail(
      where,
      `${quote(text)} contains ${found.name} at character ${found.position}; control characters are not allowed`,
    );
};

const HOOK_KEYS = [...HOOK_PHASES, 'shell'];
const EXAMPLE = 'e.g. before: [[systemctl, stop, app]]';

const hookCommand = (item: unknown, shell: boolean, path: (string | number)[], at: Where): HookCommand => {
  const where = at(path);
  if (typeof item === 'string') {
    if (!shell)
      fail(
        where,
        `${quote(item)} is a string: give each command as a list of its words (${EXAMPLE}), or set "shell: true" in hooks to run strings with /bin/sh -c`,
      );
    if (item.trim() === '') fail(where, 'expected a non-empty command, found an empty string');
    checkNoControl(item, where, 'shell');
    return { argv: ['/bin/sh', '-c', item], text: item, shell: true };
  }
  if (!Array.isArray(item) || item.length === 0)
    return fail(where, `expected a command as a non-empty list of words (${EXAMPLE}), found ${describe(item)}`);
  item.forEach((word, i) => {
    if (typeof word !== 'string' && typeof word !== 'number')
      fail(at([...path, i]), `expected a string, found ${describe(word)}`);
    checkNoControl(String(word), at([...path, i]));
  });
  const argv = item.map(String);
  if (argv[0] === '') fail(at([...path, 0]), 'the command (first word) is empty');
  return { argv, text: argv.join(' '), shell: false };
};

/** `hooks: { before: [argv…], after, on_failure, finally, shell }`; phases left out run nothing. */
export const parseHooks = (value: unknown, path: (string | number)[], at: Where): Partial<JobHooks> => {
  if (!isPlainObject(value))
    return fail(
      at(path),
      `expected a mapping of phases (before, after, on_failure, finally) to lists of commands (${EXAMPLE}), found ${describe(value)}`,
    );
  checkKeys(value, HOOK_KEYS, path, at);
  if (value.shell !== undefined && typeof value.shell !== 'boolean')
    fail(at([...path, 'shell']), `expected true or false, found ${describe(value.shell)}`);
  const shell = value.shell === true;
  const hooks: Partial<JobHooks> = {};
  for (const phase of HOOK_PHASES) {
    const list = value[phase];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list))
      return fail(at([...path, phase]), `expected a list of commands (${EXAMPLE}), found ${describe(list)}`);
    hooks[phase] = list.map((item, i) => hookCommand(item, shell, [...path, phase, i], at));
  }
  return hooks;
};

/** A job's hooks: each phase its own (when given), else its defaults'. */
export const mergeHooks = (defaults: Partial<JobHooks> | undefined, own: Partial<JobHooks> | undefined): JobHooks => ({
  ...NO_HOOKS,
  ...defaults,
  ...own,
});

const PING_KEYS = ['url', 'on', 'kind', 'exit_code'];

/** `ping: { url, on: [start, success, failure], kind: healthchecks|uptime-kuma|ntfy, exit_code }`. */
export const parsePing = (value: unknown, path: (string | number)[], at: Where): PingConfig => {
  const mapping = typeof value === 'string' ? { url: value } : value;
  if (!isPlainObject(mapping))
    return fail(
      at(path),
      `expected a mapping like { url: https://hc-ping.com/<uuid>, on: [start, success, failure] }, found ${describe(value)}`,
    );
  checkKeys(mapping, PING_KEYS, path, at);
  const urlWhere = at(typeof value === 'string' ? path : [...path, 'url']);
  let url: URL | undefined;
  try {
    url = typeof mapping.url === 'string' ? new URL(mapping.url) : undefined;
  } catch {
    url = undefined;
  }
  if (typeof mapping.url === 'string') checkNoControl(mapping.url, urlWhere);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    fail(
      urlWhere,
      `expected an http:// or https:// URL such as https://hc-ping.com/<uuid>, found ${describe(mapping.url)}`,
    );
  const kind = mapping.kind ?? 'healthchecks';
  if (typeof kind !== 'string' || !(PING_KINDS as readonly string[]).includes(kind))
    fail(
      at([...path, 'kind']),
      `unknown ping kind ${typeof kind === 'string' ? quote(kind) : describe(kind)}: use ${PING_KINDS.join(', ')}${typeof kind === 'string' ? didYouMean(kind, PING_KINDS) : ''}`,
    );
  const on = mapping.on ?? [...PING_EVENTS];
  if (!Array.isArray(on) || on.length === 0)
    fail(at([...path, 'on']), `expected a list of events out of ${PING_EVENTS.join(', ')}, found ${describe(on)}`);
  (on as unknown[]).forEach((event, i) => {
    if (typeof event !== 'string' || !(PING_EVENTS as readonly string[]).includes(event))
      fail(
        at([...path, 'on', i]),
        `unknown ping event ${typeof event === 'string' ? quote(event) : describe(event)}: use ${PING_EVENTS.join(', ')}${typeof event === 'string' ? didYouMean(event, PING_EVENTS) : ''}`,
      );
  });
  if (mapping.exit_code !== undefined && typeof mapping.exit_code !== 'boolean')
    fail(at([...path, 'exit_code']), `expected true or false, found ${describe(mapping.exit_code)}`);
  if (mapping.exit_code === true && kind !== 'healthchecks')
    fail(at([...path, 'exit_code']), `exit_code is a Healthchecks feature; remove it for kind ${kind}`);
  return {
    url: String(mapping.url),
    on: [...new Set(on as PingEvent[])],
    kind: kind as PingKind,
    exitCode: mapping.exit_code === true,
  };
};
