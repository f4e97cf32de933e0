// `mysql:` jobs: mysqldump / mariadb-dump of one database or all of them, in one consistent
// transaction with routines and events. A password reaches the client only in a
// --defaults-extra-file written 0600 in state_dir for the run and removed after it.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectionArgs, parseOptions } from './options.ts';
import type { DumpContext, PreparedDump, Preset, PresetOptions } from './types.ts';

const CONNECTION = { host: '--host=', port: '--port=', user: '--user=' };

/** A value in an option file: quoted, with the backslash escapes the MySQL option-file reader undoes. */
const optionFileValue = (text: string): string => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * The --defaults-extra-file argument (it must come first on the argv), writing the password file's
 * secret into a private file of the job's when there is one.
 */
const defaultsFile = async (options: PresetOptions, { stateDir, jobName }: DumpContext, use: string) => {
  if (options.password_file === undefined) {
    return {
      args: options.defaults_file !== undefined ? [`--defaults-extra-file=${String(options.defaults_file)}`] : [],
      cleanup: async () => {},
    };
  }
  const password = (await readFile(String(options.password_file), 'utf8')).replace(/\r?\n$/, '');
  const dir = join(stateDir, 'dumps');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${jobName}.${use}.cnf`);
  await rm(file, { force: true });
  const lines = [
    // The operator's own file first, so the password here wins over one there.
    ...(options.defaults_file !== undefined ? [`!include ${String(options.defaults_file)}`] : []),
    '[client]',
    `password=${optionFileValue(password)}`,
    '',
  ];
  await writeFile(file, lines.join('\n'), { mode: 0o600, flag: 'wx' });
  return { args: [`--defaults-extra-file=${file}`], cleanup: () => rm(file, { force: true }) };
};

const dumpArgs = (options: PresetOptions): string[] => [
  '--single-transaction',
  '--routines',
  '--events',
  ...connectionArgs(options, CONNECTION),
  // One database without --databases: the dump then has no CREATE DATABASE or USE, so it can
  // be restored into a database of another name.
  ...(options.all === true ? ['--all-databases'] : ['--', String(options.database)]),
];

export const mysql = {
  name: 'mysql',
  debianPackage: 'mariadb-client',
  parse(raw, fail) {
    const options = parseOptions(
      raw,
      {
        database: 'name',
        all: 'bool',
        host: 'host',
        port: 'port',
        user: 'name',
        defaults_file: 'abs-path',
        password_file: 'abs-path',
      },
      fail,
      '{ database: app }',
    );
    if (options.all === true && options.database !== undefined)
      fail(['all'], 'give either "database" or "all: true", not both');
    if (options.all !== true && options.database === undefined)
      fail([], 'needs "database" (the database to dump), or "all: true" for every database', true);
    return options;
  },
  dumpClients: () => ['mariadb-dump', 'mysqldump'],
  fileName: (options) => (options.all === true ? 'all.sql' : `${String(options.database)}.sql`),
  describe: (options) =>
    [
      'mysqldump',
      ...(options.defaults_file ? [`--defaults-extra-file=${String(options.defaults_file)}`] : []),
      ...dumpArgs(options),
    ].join(' '),
  async prepareDump(options, context): Promise<PreparedDump> {
    const defaults = await defaultsFile(options, context, 'dump');
    return { argv: [context.binary, ...defaults.args, ...dumpArgs(options)], env: {}, cleanup: defaults.cleanup };
  },
  restoreClients: (options) =>
    options.all === true
      ? 'an all-databases dump names its databases itself: restore it with `cronvault restore JOB --to-stdout | mariadb`'
      : ['mariadb', 'mysql'],
  async prepareRestore(options, context) {
    const defaults = await defaultsFile(options, context, 'restore');
    return {
      argv: [context.binary, ...defaults.args, ...connectionArgs(options, CONNECTION), '--', context.database],
      env: {},
      cleanup: defaults.cleanup,
    };
  },
} satisfies Preset;
