// A command job's restore drill: its newest dump is streamed through a program that reads the
// whole format and fails on damage (a truncated pg_dump, a half-written RDB). Which one: the
// job's `verify.validator`, else guessed from stdin_filename's extension. A preset (postgresql:,
// redis:, …) sets `verify.validator` for its jobs, so its drills need no configuration.
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import { execa } from 'execa';
import type { JobConfig } from '../config.ts';
import { presetValidator } from '../presets/index.ts';
import type { ValidatorName } from './config.ts';

interface ValidatorSpec {
  /** How the dump reaches the program: its standard input, a file it is given, or neither. */
  input: 'stdin' | 'file' | 'none';
  argv: (file: string) => string[];
  /** Judges the output where the exit code alone does not say (sqlite's integrity_check). */
  judge?: (stdout: string) => string | undefined;
}

/** A path for a sqlite3 dot-command: double-quoted, backslashes and quotes escaped. */
const sqliteArgument = (path: string): string => `"${path.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

const SPECS: Record<ValidatorName, ValidatorSpec> = {
  // --list would read only the table of contents, which sits at the start: a dump cut short
  // after it would pass. Restoring into a script on /dev/null reads every data block.
  pg_restore: { input: 'stdin', argv: () => ['pg_restore', '--file=/dev/null'] },
  'redis-check-rdb': { input: 'file', argv: (file) => ['redis-check-rdb', file] },
  sqlite: {
    input: 'file',
    argv: (file) => ['sqlite3', ':memory:', `.restore ${sqliteArgument(file)}`, 'PRAGMA integrity_check;'],
    judge: (stdout) =>
      stdout.trim() === 'ok' ? undefined : `PRAGMA integrity_check said ${stdout.trim().slice(0, 200)}`,
  },
  // A `.dump` (SQL text, what the sqlite: preset stores): replayed into an empty database. A dump
  // cut mid-statement fails; one cut exactly between statements is not caught.
  'sqlite-sql': {
    input: 'file',
    argv: (file) => ['sqlite3', '-bail', ':memory:', `.read ${sqliteArgument(file)}`, 'PRAGMA integrity_check;'],
    judge: (stdout) =>
      stdout.trim() === 'ok' ? undefined : `PRAGMA integrity_check said ${stdout.trim().slice(0, 200)}`,
  },
  gzip: { input: 'stdin', argv: () => ['gzip', '-t'] },
  zstd: { input: 'stdin', argv: () => ['zstd', '-t', '-q'] },
  xz: { input: 'stdin', argv: () => ['xz', '-t'] },
  bzip2: { input: 'stdin', argv: () => ['bzip2', '-t'] },
  nonempty: { input: 'none', argv: () => [] },
};

const BY_EXTENSION: [RegExp, ValidatorName][] = [
  [/\.(dump|pgdump|pg_dump)$/i, 'pg_restore'],
  [/\.rdb$/i, 'redis-check-rdb'],
  [/\.(sqlite3?|db)$/i, 'sqlite'],
  [/\.gz$/i, 'gzip'],
  [/\.zst$/i, 'zstd'],
  [/\.xz$/i, 'xz'],
  [/\.bz2$/i, 'bzip2'],
];

/**
 * The validator of a command job. `<job>.dump` is the default stdin_filename of every command
 * job, so only a name the operator chose (or `verify.validator`) picks pg_restore: a plain
 * command job is only checked to restore a non-empty stream.
 */
export const validatorFor = (job: JobConfig): ValidatorName => {
  if (job.verify.validator) return job.verify.validator;
  if (job.preset) return presetValidator(job.preset);
  const name = job.stdinFilename ?? '';
  if (name === `${job.name}.dump`) return 'nonempty';
  return BY_EXTENSION.find(([pattern]) => pattern.test(name))?.[1] ?? 'nonempty';
};

export interface Validation {
  ok: boolean;
  bytes: number;
  reason: string;
}

/**
 * Runs `dump(into)` (the engine writing the dump into a stream it leaves open) through the
 * validator; `dir` is the drill's private directory, for validators that need a file.
 */
export const validateDump = async (
  name: ValidatorName,
  dir: string,
  dump: (into: NodeJS.WritableStream) => Promise<void>,
  signal?: AbortSignal,
): Promise<Validation> => {
  const spec = SPECS[name];
  let bytes = 0;
  const counter = new PassThrough();
  counter.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  const file = join(dir, 'dump');
  let program: ReturnType<typeof execa> | undefined;
  const written = spec.input === 'file' ? createWriteStream(file, { mode: 0o600 }) : undefined;
  if (written) counter.pipe(written);
  else if (spec.input === 'stdin') {
    const [binary, ...args] = spec.argv(file);
    program = execa(binary!, args, { reject: false, stdin: 'pipe', all: true, cancelSignal: signal });
    // A validator that stops reading early (it found the damage) must not crash the drill.
    program.stdin?.on('error', () => undefined);
    counter.pipe(program.stdin!);
  } else counter.resume();
  try {
    await dump(counter);
  } finally {
    counter.end();
  }
  if (written) {
    await finished(written);
    const [binary, ...args] = spec.argv(file);
    program = execa(binary!, args, { reject: false, all: true, cancelSignal: signal });
  }
  if (bytes === 0) {
    await program;
    return { ok: false, bytes, reason: 'the newest dump is empty (0 bytes)' };
  }
  if (!program) return { ok: true, bytes, reason: `restored ${bytes} bytes` };
  const result = await program;
  const output = String(result.all ?? '').trim();
  if ((result.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT')
    return { ok: false, bytes, reason: `validator ${spec.argv(file)[0]} is not installed` };
  const judged = result.exitCode === 0 ? spec.judge?.(String(result.stdout ?? '')) : undefined;
  if (result.exitCode === 0 && judged === undefined)
    return { ok: true, bytes, reason: `${name} read all ${bytes} bytes of the newest dump without error` };
  // The validator's own words for the damage, else its last lines (redis-check-rdb ends on counters).
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  const damning = lines.filter((line) => /error|fail|wrong|invalid|corrupt|unexpected|malformed/i.test(line));
  const detail = judged ?? (damning.length ? damning : lines.slice(-3)).slice(0, 3).join(' ').slice(0, 400);
  return {
    ok: false,
    bytes,
    reason: `${name} rejected the newest dump (${bytes} bytes, exit ${result.exitCode ?? result.signal}): ${detail}`,
  };
};
