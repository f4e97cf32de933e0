// `postgresql:` jobs: pg_dump (custom format by default) or pg_dumpall. The password comes from
// PGPASSFILE or ~/.pgpass, never the argv; --no-password makes a missing one fail instead of
// waiting for a prompt nobody answers under cron.
import { connectionArgs, nothingToClean, parseOptions } from './options.ts';
import type { Preset, PresetOptions } from './types.ts';

const CONNECTION = { host: '--host=', port: '--port=', user: '--username=' };

const isCustom = (options: PresetOptions): boolean => options.format !== 'plain' && options.all !== true;

const dumpArgv = (options: PresetOptions, binary: string): string[] =>
  options.all === true
    ? [binary, '--no-password', ...connectionArgs(options, CONNECTION)]
    : [
        binary,
        '--no-password',
        isCustom(options) ? '--format=custom' : '--format=plain',
        ...connectionArgs(options, CONNECTION),
        '--',
        String(options.database),
      ];

export const postgresql = {
  name: 'postgresql',
  debianPackage: 'postgresql-client',
  parse(raw, fail) {
    const options = parseOptions(
      raw,
      { database: 'name', host: 'host', port: 'port', user: 'name', format: ['custom', 'plain'], all: 'bool' },
      fail,
      '{ database: app }',
    );
    if (options.all === true && options.database !== undefined)
      fail(['all'], 'give either "database" or "all: true" (pg_dumpall), not both');
    if (options.all === true && options.format === 'custom')
      fail(['format'], 'pg_dumpall (all: true) writes plain SQL only; leave "format" out');
    if (options.all !== true && options.database === undefined)
      fail([], 'needs "database" (the database to dump), or "all: true" for every database (pg_dumpall)', true);
    return { format: options.all === true ? 'plain' : 'custom', all: false, ...options };
  },
  dumpClients: (options) => [options.all === true ? 'pg_dumpall' : 'pg_dump'],
  verifyValidator: (options) => (isCustom(options) ? 'pg_restore' : 'nonempty'),
  fileName: (options) =>
    options.all === true ? 'all.sql' : `${String(options.database)}.${isCustom(options) ? 'pgdump' : 'sql'}`,
  describe: (options) => dumpArgv(options, options.all === true ? 'pg_dumpall' : 'pg_dump').join(' '),
  async prepareDump(options, { binary }) {
    // pg_restore --list reads a custom-format stream's header and table of contents and exits:
    // cheap, and it catches a stream that is no dump at all.
    const check = isCustom(options) ? ['pg_restore', '--list'] : undefined;
    return { argv: dumpArgv(options, binary), env: {}, check, cleanup: nothingToClean };
  },
  restoreClients: (options) =>
    options.all === true
      ? 'a pg_dumpall dump holds every database and role: restore it with `cronvault restore JOB --to-stdout | psql -d postgres`'
      : [isCustom(options) ? 'pg_restore' : 'psql'],
  // Into an existing database only: no --create, no --clean, so nothing is made or dropped unasked.
  async prepareRestore(options, { binary, database }) {
    const argv = isCustom(options)
      ? [
          binary,
          '--no-password',
          '--exit-on-error',
          '--single-transaction',
          ...connectionArgs(options, CONNECTION),
          `--dbname=${database}`,
        ]
      : [
          binary,
          '--no-password',
          '--no-psqlrc',
          '--quiet',
          '--set=ON_ERROR_STOP=1',
          '--single-transaction',
          ...connectionArgs(options, CONNECTION),
          `--dbname=${database}`,
        ];
    return { argv, env: {}, cleanup: nothingToClean };
  },
} satisfies Preset;
