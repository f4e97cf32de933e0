// Bundles the CLI and every runtime dependency into one executable ES module, so a host
// needs nothing but Node >= 18.19 beside it (no node_modules on servers).

import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const nodeRequire = createRequire(import.meta.url);

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
// CRONVAULT_OUTFILE: elsewhere than dist/ (bench/bundle-weight.mjs builds a copy to measure).
const outfile = process.env.CRONVAULT_OUTFILE ?? 'dist/cronvault.mjs';

// An ESM bundle imports every node: builtin at its top, so `--version` would load child_process,
// crypto and stream for nothing. Served instead as tiny CommonJS stand-ins whose exports are
// getters: the builtin is loaded when one of its exports is first used, not when a module that
// imports it is initialised (`status` initialises the engines' modules, which import
// child_process and net, but never spawns anything). Command modules are import()ed lazily too
// (src/cli.ts). The names are this Node's; one another Node lacks reads as undefined there, as
// it would from the builtin itself.
const builtinStandIn = (path) => {
  const names = Object.keys(nodeRequire(path)).filter((name) => name !== 'default');
  return [
    'let real;',
    `const load = () => (real ??= require(${JSON.stringify(path)}));`,
    'module.exports = {',
    ...names.map((name) => `  get ${JSON.stringify(name)}() { return load()[${JSON.stringify(name)}]; },`),
    '};',
  ].join('\n');
};
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    // ESM `import` statements of cronvault's sources, and commander's require() of child_process
    // (for executable subcommands, which cronvault has none of). Other require() calls (CommonJS
    // dependencies, the stand-ins themselves) stay plain: they run when their module does.
    build.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === 'import-statement' ||
      (args.kind === 'require-call' && args.path === 'node:child_process' && args.importer.includes('/commander/'))
        ? { path: args.path, namespace: 'lazy-builtin' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents: builtinStandIn(args.path),
      loader: 'js',
    }));
  },
};

// execa (with its two dozen modules) and yaml are a third of the bundle, and V8 reads every byte
// of the bundle's code before its first line runs, `--version` and `status` included, which
// never use execa and, when the config cache hits (src/config-cache.ts), never use yaml. So each
// is built apart as CommonJS and kept in the bundle as a string, compiled by V8 on first use only
// (a string costs a scan, code a parse: BENCHMARKS.md). Still one file.
const embed = async (name) => {
  const result = await build({
    stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: process.cwd(), loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node18.19',
    write: false,
    legalComments: 'none',
    minifyWhitespace: true,
    minifySyntax: true,
  });
  return result.outputFiles[0].text;
};

// The packages' code, as strings at the top of the bundle (the banner): there V8 reads each once,
// where inside a lazily started module it would read it twice (once more when starting it).
const EMBEDDED = ['execa', 'yaml'];
const embeddedSources = Object.fromEntries(await Promise.all(EMBEDDED.map(async (name) => [name, await embed(name)])));

// The stand-in cronvault's sources import instead of the package: `load()` compiles and runs the
// embedded code once (its file name in stack traces: the bundle's, with "#<package>" after it);
// `exports` says what the stand-in offers, each a wrapper that loads the package on first call.
const lazyPackage = (name, exports) => ({
  name: `lazy-${name}`,
  setup(build) {
    const namespace = `embedded-${name}`;
    build.onResolve({ filter: new RegExp(`^${name}$`) }, (args) =>
      args.importer.includes('/node_modules/') ? undefined : { path: name, namespace },
    );
    build.onLoad({ filter: /.*/, namespace }, async () => ({
      contents: [
        `const source = __cronvaultEmbedded[${JSON.stringify(name)}];`,
        'let real;',
        'const load = () => {',
        '  if (!real) {',
        '    const module = { exports: {} };',
        '    const wrap = `(function (exports, require, module) {${source}\n})`;',
        `    const filename = \`\${import.meta.url}#${name}\`;`,
        "    require('node:vm').runInThisContext(wrap, { filename })(module.exports, require, module);",
        '    real = module.exports;',
        '  }',
        '  return real;',
        '};',
        exports,
      ].join('\n'),
      loader: 'js',
    }));
  },
});

// cronvault's sources call nothing of execa but execa() itself.
const lazyExeca = lazyPackage('execa', 'export const execa = (...args) => load().execa(...args);');

// What src/config.ts uses of yaml. `new LineCounter()` gets the real class's instance (a
// constructor that returns an object returns that object); visit.BREAK is read inside a visit.
const lazyYaml = lazyPackage(
  'yaml',
  [
    'export const parseDocument = (...args) => load().parseDocument(...args);',
    'export const isMap = (node) => load().isMap(node);',
    'export const isScalar = (node) => load().isScalar(node);',
    'export const isSeq = (node) => load().isSeq(node);',
    'export function LineCounter() { return new (load().LineCounter)(); }',
    'export const visit = (...args) => load().visit(...args);',
    "Object.defineProperty(visit, 'BREAK', { get: () => load().visit.BREAK });",
  ].join('\n'),
);

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
  plugins: [lazyBuiltins, lazyExeca, lazyYaml, leanPromClient],
  define: { CRONVAULT_VERSION: JSON.stringify(pkg.version) },
  // prom-client and commander are CommonJS and call require(); give the ESM bundle one.
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __cronvaultCreateRequire } from 'node:module';",
      'const require = __cronvaultCreateRequire(import.meta.url);',
      `const __cronvaultEmbedded = ${JSON.stringify(embeddedSources)};`,
    ].join('\n'),
  },
});
await chmod(outfile, 0o755);
if (process.env.CRONVAULT_METAFILE) await writeFile(process.env.CRONVAULT_METAFILE, JSON.stringify(result.metafile));
console.log(`built ${outfile} (cronvault ${pkg.version})`);
