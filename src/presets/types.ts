// The shape every database preset fits: how its options are read from the config, which client
// it needs (and the Debian package that has it), the dump argv and how a dump goes back in.
// Credentials reach the clients only through files or the clients' own environment variables.

import type { ValidatorName } from '../verify/config.ts';

export type PresetName = 'postgresql' | 'mysql' | 'redis' | 'sqlite';

/** Reports a bad option: `path` is below the preset key ("database"), message says what is wrong. */
export type OptionFail = (path: string[], message: string, keyNode?: boolean) => never;

/** A preset's options as validated from the config (one object per preset, kept as data). */
export type PresetOptions = Record<string, string | number | boolean | undefined>;

/** What a run needs to start the producer: argv (no secrets), extra env, files to remove after. */
export interface PreparedDump {
  argv: string[];
  env: Record<string, string>;
  /** A command that reads the stream as it is written and fails on one that is not a dump. */
  check?: string[];
  /** Removes what preparing wrote (a 0600 defaults file holding a password). */
  cleanup: () => Promise<void>;
}

export interface DumpContext {
  jobName: string;
  stateDir: string;
  /** The client binary found on PATH (mysqldump or mariadb-dump). */
  binary: string;
}

interface RestoreContext extends DumpContext {
  database: string;
}

export interface Preset {
  readonly name: PresetName;
  /** Validates the preset's mapping and applies its defaults. */
  parse(raw: unknown, fail: OptionFail): PresetOptions;
  /** The dump client, first installed one wins; the package that installs it on Debian. */
  dumpClients(options: PresetOptions): string[];
  readonly debianPackage: string;
  /** What `cronvault verify` reads the newest dump with; absent: only checked to be non-empty. */
  verifyValidator?(options: PresetOptions): ValidatorName;
  /** The file name the stream gets in the snapshot ("app.pgdump"). */
  fileName(options: PresetOptions): string;
  /** The argv, env and files of one dump; nothing secret on the argv. */
  prepareDump(options: PresetOptions, context: DumpContext): Promise<PreparedDump>;
  /** Shown as the job's "command" in logs and status: the dump argv without any secret. */
  describe(options: PresetOptions): string;
  /** `restore --into-database`: the client that reads the dump on stdin, or why there is none. */
  restoreClients?(options: PresetOptions): string[] | string;
  prepareRestore?(options: PresetOptions, context: RestoreContext): Promise<PreparedDump>;
}
