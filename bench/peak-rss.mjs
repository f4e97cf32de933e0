// Loaded with `node --import bench/peak-rss.mjs dist/cronvault.mjs ...`: at exit, writes this
// node process's own peak RSS (VmHWM, KiB) and its own CPU time (ms, user + system, children
// excluded) to $BENCH_RSS_OUT. /usr/bin/time -v reports the largest process of the tree, which
// is restic; these are cronvault's share alone.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.BENCH_RSS_OUT;
if (out)
  process.on('exit', () => {
    const peak = /VmHWM:\s*(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
    const { user, system } = process.cpuUsage();
    writeFileSync(out, `${peak} ${Math.round((user + system) / 1000)}\n`);
  });
