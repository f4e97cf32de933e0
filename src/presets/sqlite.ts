// `sqlite:` jobs: `sqlite3 FILE .dump` reads the whole database inside one read transaction, so
// the SQL it streams is a consistent state even while another process writes; a plain copy of
// the file could catch a write half-way. Opened read-only, so a wrong path is an error, not a new
// empty database.
import { nothingToClean, parseOptions } from './options.ts';
import type { Preset, PresetOptions } from './types.ts';

/** How long the dump waits for a writer's lock before failing. */
const BUSY_TIMEOUT_MS = 30_000;

const argv = (options: PresetOptions, binary: string): string[] => [
  binary,
  '-readonly',
  '-bail',
  '-cmd',
  `.timeout ${BUSY_TIMEOUT_MS}`,
  String(options.database),
  '.dump',
];

export const sqlite = {
  name: 'sqlite',
  debianPackage: 'sqlite3',
  parse(raw, fail) {
    const options = parseOptions(raw, { database: 'abs-path' }, fail, '{ database: /var/lib/app/app.db }');
    if (options.database === undefined) fail([], 'needs "database" (the database file to dump)', true);
    return options;
  },
  dumpClients: () => ['sqlite3'],
  fileName: (options) => `${String(options.database).split('/').pop()}.sql`,
  verifyValidator: () => 'sqlite-sql',
  describe: (options) => argv(options, 'sqlite3').join(' '),
  async prepareDump(options, { binary }) {
    return { argv: argv(options, binary), env: {}, cleanup: nothingToClean };
  },
  restoreClients: () => 'restore it with `cronvault restore JOB --to-stdout | sqlite3 NEW.db`',
} satisfies Preset;
