// Turns hyperfine's JSON into the rows of BENCHMARKS.md: medians of both commands of a pair,
// measured in the same hyperfine run, their ratio and the goal (met or not: on the wall-time
// ratio, as the goals are stated), and the ratio of CPU time.
//   node bench/report.mjs pair RESULT.json "pair name" GOAL     (command 1 / command 2)
//   node bench/report.mjs header
import { readFileSync } from 'node:fs';

const [mode, file, name, goal] = process.argv.slice(2);
const ms = (seconds) => `${(seconds * 1000).toFixed(1)} ms`;
if (mode === 'header') {
  console.log('| pair | cronvault (median) | reference (median) | ratio | CPU ratio | goal | met |');
  console.log('|:---|---:|---:|---:|---:|---:|:---|');
} else if (mode === 'pair') {
  const [a, b] = JSON.parse(readFileSync(file, 'utf8')).results;
  const ratio = a.median / b.median;
  // user + system time, children included: steadier than wall time on a shared machine.
  const cpu = (a.user + a.system) / (b.user + b.system);
  const met = goal ? (ratio <= Number(goal) ? 'yes' : 'NO') : '-';
  console.log(
    `| ${name} | ${ms(a.median)} | ${ms(b.median)} | ${ratio.toFixed(2)} | ${cpu.toFixed(2)} | ${goal ? `≤ ${goal}` : '-'} | ${met} |`,
  );
} else {
  process.stderr.write('usage: report.mjs header | pair RESULT.json NAME GOAL\n');
  process.exit(2);
}
