// What each alert rule's expression costs on its own, at fleet size: the simulated fleet is
// scraped by a Prometheus WITHOUT the rules, then every rule of the rendered rules file is run
// as an instant query (`stats=all`), several times, and its evaluation time and sample count
// are printed, dearest first. The group's evaluation adds what a query does not show: the
// templates of every firing alert and the ALERTS series; compare with `make fleet-sim`.
//
//   node --import tsx sim/rule-costs.ts [--hosts 1000] [--jobs 10] [--repeat 5] [--mix stress|realistic]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { queryPrometheus, waitFor } from '../test/support/services.ts';
import type { FleetMix } from './fleet-model.ts';
import { renderRules, startFleetSim } from './fleet-sim.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1000' },
    jobs: { type: 'string', default: '10' },
    repeat: { type: 'string', default: '5' },
    mix: { type: 'string', default: 'stress' },
  },
});
const hosts = Number(values.hosts);
const jobsPerHost = Number(values.jobs);
const repeat = Number(values.repeat);

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
}

interface QueryStats {
  data: {
    result: unknown[];
    stats?: { timings: { evalTotalTime: number }; samples?: { totalQueryableSamples: number } };
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const costOf = async (url: string, expr: string) => {
  const times: number[] = [];
  let samples = 0;
  let results = 0;
  for (let i = 0; i < repeat; i++) {
    const params = new URLSearchParams({ query: expr, stats: 'all' });
    const body = (await (await fetch(`${url}/api/v1/query?${params}`)).json()) as QueryStats;
    times.push(body.data.stats?.timings.evalTotalTime ?? NaN);
    samples = body.data.stats?.samples?.totalQueryableSamples ?? 0;
    results = body.data.result.length;
  }
  return { seconds: median(times), samples, results };
};

const dir = await mkdtemp(join(tmpdir(), 'cronvault-rule-costs-'));
const sim = await startFleetSim({ hosts, jobsPerHost, interval: '15s', rules: false, mix: values.mix as FleetMix });
try {
  const url = sim.prometheus.url;
  await waitFor(
    async () =>
      Number(
        (await queryPrometheus(url, 'count(backup_job_info)')).map((r) => (r as { value: string[] }).value[1])[0],
      ) ===
      hosts * jobsPerHost,
    { timeoutMs: 300_000, intervalMs: 1000, message: 'every job scraped' },
  );
  const file = await renderRules(dir, '15s');
  const groups = (parse(await readFile(file, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups;
  const rows: { group: string; rule: string; seconds: number; samples: number; results: number }[] = [];
  for (const group of groups)
    for (const rule of group.rules) {
      const cost = await costOf(url, rule.expr);
      rows.push({ group: group.name, rule: `${rule.alert}/${rule.labels?.reason ?? ''}`, ...cost });
    }
  rows.sort((a, b) => b.seconds - a.seconds);
  const total = (name: string) => rows.filter((row) => row.group === name).reduce((sum, row) => sum + row.seconds, 0);
  process.stdout.write(
    `${hosts} × ${jobsPerHost} jobs, ${values.mix} mix; median of ${repeat} instant queries per rule\n`,
  );
  for (const row of rows)
    process.stdout.write(
      `${(row.seconds * 1000).toFixed(1).padStart(8)} ms  ${String(row.samples).padStart(8)} samples  ` +
        `${String(row.results).padStart(6)} results  ${row.group} ${row.rule}\n`,
    );
  for (const group of groups)
    process.stdout.write(`${group.name}: ${(total(group.name) * 1000).toFixed(0)} ms over its expressions\n`);
} finally {
  await sim.stop();
  await rm(dir, { recursive: true, force: true });
}
