// Bundles the CLI and every runtime dependency into one executable ES module, so a host
// needs nothing but Node >= 18.19 beside it (no node_modules on servers).

import { chmod, readFile, writeFile } from 'node:fs/promises';
import { build } from 'esbuild';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
// CRONVAULT_OUTFILE: elsewhere than dist/ (bench/bundle-weight.mjs builds a copy to measure).
const outfile = process.env.CRONVAULT_OUTFILE ?? 'dist/cronvault.mjs';

// An ESM bundle imports every node: builtin at its top, so `--version` would load child_process,
// crypto and stream for nothing. Served as tiny CommonJS modules instead, esbuild initialises each
// one only when a module that uses it first runs (command modules are import()ed lazily: src/cli.ts).
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    // ESM `import` statements only: require() calls (CommonJS dependencies, and the shim below
    // itself) already run lazily and stay plain externals.
    build.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === 'import-statement' ? { path: args.path, namespace: 'lazy-builtin' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

// execa and its two dozen modules are loaded with the engines' modules, which `status` needs
// only for their exit-code tables. cronvault's sources call nothing of execa but execa() itself,
// so they get a stand-in that loads the real one on the first call: `status` never does.
const lazyExeca = {
  name: 'lazy-execa',
  setup(build) {
    build.onResolve({ filter: /^execa$/ }, (args) =>
      args.importer.includes('/node_modules/') || args.namespace === 'lazy-execa'
        ? undefined
        : { path: 'execa', namespace: 'lazy-execa' },
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-execa' }, () => ({
      contents: "let real;\nexport const execa = (...args) => (real ??= require('execa')).execa(...args);\n",
      loader: 'js',
      resolveDir: process.cwd(),
    }));
  },
};

// prom-client's index loads every default collector (and @opentelemetry/api for exemplars);
// cronvault uses Gauge and Registry alone. Checked by the metrics tests, which run this bundle.
const leanPromClient = {
  name: 'lean-prom-client',
  setup(build) {
    build.onResolve({ filter: /^prom-client$/ }, (args) =>
      args.importer.includes('/node_modules/') ? undefined : { path: 'prom-client', namespace: 'lean-prom-client' },
    );
    build.onLoad({ filter: /.*/, namespace: 'lean-prom-client' }, () => ({
      contents:
        "module.exports = { Gauge: require('prom-client/lib/gauge'), Registry: require('prom-client/lib/registry') };",
      loader: 'js',
      resolveDir: process.cwd(),
    }));
  },
};

const result = await build({
  entryPoints: ['src/main.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node18.19',
  legalComments: 'none',
  // Whitespace and syntax only: a third less for V8 to read at every start-up (BENCHMARKS.md),
  // while names stay, so a stack trace in a bug report still reads.
  minifyWhitespace: true,
  minifySyntax: true,
  // CRONVAULT_METAFILE=path: what weighs in the bundle (bench/bundle-weight.mjs reads it).
  metafile: Boolean(process.env.CRONVAULT_METAFILE),
  plugins: [lazyBuiltins, lazyExeca, leanPromClient],
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
if (process.env.CRONVAULT_METAFILE) await writeFile(process.env.CRONVAULT_METAFILE, JSON.stringify(result.metafile));
console.log(`built ${outfile} (cronvault ${pkg.version})`);
