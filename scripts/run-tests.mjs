#!/usr/bin/env node
// Runs every test file (`npm test`, `make test`) in two lanes at once, each lane one file at a
// time: the machine has 2 cores, and most tests spend their time waiting on restic, Prometheus,
// Ansible or a sleep. The "system" lane holds the files that change the machine itself (the
// Ansible role applied to localhost, dpkg -i, cron) or that stress it (kill -9 rounds, hyperfine,
// the fleet simulation), so no two of those ever overlap. Each lane's TAP output is printed whole
// when the lane ends; the last line counts both: "tests: N passed, N failed".
//
//   node scripts/run-tests.mjs                      every file, two lanes
//   node scripts/run-tests.mjs test/a.test.ts ...   just these, one after another
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SYSTEM_LANE = [
  'ansible',
  'deb',
  'systemd',
  'journald',
  'crash',
  'bench-smoke',
  'fleet',
  'lock',
  'overlap',
  'retention-borg',
].map((name) => `test/${name}.test.ts`);

const runLane = (name, files, logDir) =>
  new Promise((resolve) => {
    const log = join(logDir, `${name}.tap`);
    const out = createWriteStream(log);
    const started = Date.now();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=tap', ...files],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    // A live line per finished top-level suite, so a slow or hung lane shows where it is.
    let partial = '';
    child.stdout.on('data', (chunk) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines)
        if (/^(not )?ok \d+ - /.test(line))
          process.stdout.write(`[${name} ${Math.round((Date.now() - started) / 1000)}s] ${line}\n`);
    });
    child.on('close', (code, signal) => {
      out.end(() => {
        const text = readFileSync(log, 'utf8');
        const count = (key) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
        const seconds = Math.round((Date.now() - started) / 1000);
        process.stdout.write(`\n# ===== lane ${name}: ${files.length} files, ${seconds} s =====\n${text}`);
        resolve({ code: code ?? (signal ? 1 : 0), passed: count('pass'), failed: count('fail') + count('cancelled') });
      });
    });
  });

const explicit = process.argv.slice(2);
const logDir = mkdtempSync(join(tmpdir(), 'cronvault-tests-'));
let lanes;
if (explicit.length > 0) {
  lanes = [['selected', explicit]];
} else {
  const all = readdirSync('test')
    .filter((file) => file.endsWith('.test.ts'))
    .sort()
    .map((file) => `test/${file}`);
  const system = all.filter((file) => SYSTEM_LANE.includes(file));
  lanes = [
    ['system', system],
    ['main', all.filter((file) => !system.includes(file))],
  ];
}
const results = await Promise.all(lanes.map(([name, files]) => runLane(name, files, logDir)));
rmSync(logDir, { recursive: true, force: true });
const passed = results.reduce((sum, r) => sum + r.passed, 0);
const failed = results.reduce((sum, r) => sum + r.failed, 0);
process.stdout.write(`\ntests: ${passed} passed, ${failed} failed\n`);
process.exitCode = results.some((r) => r.code !== 0) || failed > 0 ? 1 : 0;
