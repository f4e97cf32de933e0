// `redis:` jobs: `redis-cli --rdb -` streams an RDB snapshot of the server. The password is read
// from password_file into REDISCLI_AUTH, redis-cli's own variable, never onto the argv.
import { readFile } from 'node:fs/promises';
import { nothingToClean, parseOptions } from './options.ts';
import type { Preset, PresetOptions } from './types.ts';

const argv = (options: PresetOptions, binary: string): string[] => [
  binary,
  ...(options.host !== undefined ? ['-h', String(options.host)] : []),
  ...(options.port !== undefined ? ['-p', String(options.port)] : []),
  '--rdb',
  '-',
];

export const redis = {
  name: 'redis',
  debianPackage: 'redis-tools',
  parse: (raw, fail) =>
    parseOptions(
      raw ?? {},
      { host: 'host', port: 'port', password_file: 'abs-path' },
      fail,
      '{ host: 127.0.0.1, port: 6379 }',
    ),
  dumpClients: () => ['redis-cli'],
  fileName: () => 'dump.rdb',
  verifyValidator: () => 'redis-check-rdb',
  describe: (options) => argv(options, 'redis-cli').join(' '),
  async prepareDump(options, { binary }) {
    const env: Record<string, string> = {};
    if (options.password_file !== undefined)
      env.REDISCLI_AUTH = (await readFile(String(options.password_file), 'utf8')).replace(/\r?\n$/, '');
    return { argv: argv(options, binary), env, cleanup: nothingToClean };
  },
  restoreClients: () =>
    'an RDB file is loaded by redis-server at start: `cronvault restore JOB --to-stdout > /var/lib/redis/dump.rdb` with the server stopped',
} satisfies Preset;
