// Loaded with `node --import bench/peak-rss.mjs dist/cronvault.mjs ...`: at exit, writes this
// node process's own peak RSS (VmHWM, KiB) to $BENCH_RSS_OUT. /usr/bin/time -v reports the
// largest process of the tree, which is restic; this is cronvault's share alone.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.BENCH_RSS_OUT;
if (out)
  process.on('exit', () => {
    const peak = /VmHWM:\s*(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
    writeFileSync(out, `${peak}\n`);
  });
