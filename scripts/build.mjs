// Bundles the CLI and every runtime dependency into one executable ES module, so a host
// needs nothing but Node >= 18.19 beside it (no node_modules on servers).

import { chmod, readFile } from 'node:fs/promises';
import { build } from 'esbuild';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
const outfile = 'dist/cronvault.mjs';

await build({
  entryPoints: ['src/main.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node18.19',
  legalComments: 'none',
  define: { CRONVAULT_VERSION: JSON.stringify(pkg.version) },
  // prom-client and commander are CommonJS and call require(); give the ESM bundle one.
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __cronvaultCreateRequire } from 'node:module';",
      'const require = __cronvaultCreateRequire(import.meta.url);',
    ].join('\n'),
  },
});
await chmod(outfile, 0o755);
console.log(`built ${outfile} (cronvault ${pkg.version})`);
