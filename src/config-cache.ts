// The config as plain data, kept in its state_dir beside the text it came from: parsing the YAML
// of 500 jobs costs more than all the rest of `cronvault status` (BENCHMARKS.md), for a file
// that changes once in a while. Only the YAML step is skipped: every check still runs on the
// data, so a password file or an environment that changed is seen as before.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.ts';
import { isPlainObject } from './plain-object.ts';
import { redactText } from './redact.ts';

const CACHE_NAME = 'config-cache.json';

type Parse = (text: string, file: string, plain: { data?: unknown }) => Config;

/**
 * Where the text says its state lives, found without parsing: a plain `state_dir: /abs/path`
 * line at the top level, else the default. Only a guess where to look: a hit must also hold
 * this very text and name this very state_dir.
 */
const stateDirGuess = (text: string, defaultStateDir: string): string | undefined => {
  const lines = text.match(/^state_dir[ \t]*:.*$/gm);
  if (!lines) return defaultStateDir;
  const value = /^state_dir[ \t]*:[ \t]*(\/[^\s#'"{}[\],&*!|>%@`]*)[ \t]*(?:#.*)?$/.exec(lines[0]!)?.[1];
  return lines.length === 1 ? value : undefined;
};

/** Plain data that survives JSON unchanged (no .inf, NaN or -0 turned into something else). */
const jsonSafe = (value: unknown): boolean => {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0);
  if (Array.isArray(value)) return value.every(jsonSafe);
  return isPlainObject(value) && Object.values(value).every(jsonSafe);
};

/** Only a file that this user or root wrote, in a directory others cannot write to, is believed. */
const trusted = (file: string): boolean => {
  const uid = process.getuid?.() ?? 0;
  const ours = (info: { uid: number; mode: number }, bits: number) =>
    (info.uid === uid || info.uid === 0) && (info.mode & bits) === 0;
  return ours(statSync(file), 0o022) && ours(statSync(join(file, '..')), 0o022);
};

/**
 * A secret must not gain a second home: a config with URL credentials or an `env:` map (keys,
 * tokens) is not remembered, and the text itself only by its hash.
 */
const holdsSecrets = (text: string, data: unknown): boolean => {
  if (redactText(text) !== text) return true;
  if (!isPlainObject(data)) return false;
  const mappings = [data.defaults, ...(isPlainObject(data.jobs) ? Object.values(data.jobs) : [])];
  return mappings.some((mapping) => isPlainObject(mapping) && mapping.env !== undefined && mapping.env !== null);
};

const digest = (text: string): string => createHash('sha256').update(text).digest('hex');

const readHit = (file: string, text: string): unknown => {
  try {
    if (!trusted(file)) return undefined;
    const cached: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return isPlainObject(cached) && cached.sha256 === digest(text) ? cached.data : undefined;
  } catch {
    return undefined;
  }
};

const store = (file: string, text: string, data: unknown): void => {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    // Never the one to create state_dir, and never a partial file: temp and rename.
    if (!statSync(join(file, '..')).isDirectory()) return;
    writeFileSync(temp, JSON.stringify({ sha256: digest(text), data }), { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    // Read-only state_dir, another user (status as nobody), a full disk: it is only a cache.
    rmSync(temp, { force: true });
  }
};

/**
 * `parse(text, file)`, with the YAML step answered from state_dir when this exact text was
 * parsed before. A remembered parse that fails or warns is done again from the text, so every
 * message keeps its line number.
 */
export const parseRemembered = (text: string, file: string, defaultStateDir: string, parse: Parse): Config => {
  const stateDir = stateDirGuess(text, defaultStateDir);
  const cacheFile = stateDir === undefined ? undefined : join(stateDir, CACHE_NAME);
  const data = cacheFile === undefined ? undefined : readHit(cacheFile, text);
  if (data !== undefined) {
    try {
      const config = parse(text, file, { data });
      if (config.warnings.length === 0 && config.stateDir === stateDir) return config;
    } catch {
      // Parsed again below, for the message with its line number.
    }
  }
  const plain: { data?: unknown } = {};
  const config = parse(text, file, plain);
  if (
    cacheFile !== undefined &&
    config.stateDir === stateDir &&
    data === undefined &&
    jsonSafe(plain.data) &&
    !holdsSecrets(text, plain.data)
  )
    pending = { file: cacheFile, text, data: plain.data };
  return config;
};

let pending: { file: string; text: string; data: unknown } | undefined;

/**
 * Writes the config last parsed from its text to its state_dir, for the next command to skip
 * the YAML. Called by `run` only, once it has written state itself: a dry run, `check` or
 * `status` leave state_dir as they found it.
 */
export const rememberConfig = (): void => {
  if (pending) store(pending.file, pending.text, pending.data);
  pending = undefined;
};
