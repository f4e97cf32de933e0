#!/usr/bin/env bash
# Start-up: `cronvault --version` and `cronvault status` over 500 declared jobs, each against
# `node -e 0` (the floor: Node itself) in the same hyperfine run.
source "$(dirname "$0")/common.sh"
jobs=$(full_or_smoke 500 5)
mkdir -p "$work/data"
echo data >"$work/data/file"
new_repo "$work/repo"
{
  echo "state_dir: $work/state"
  echo "metrics: { textfile_dir: $work/text }"
  echo "defaults: { repository: $work/repo, password_file: $work/pass, retention: none, hostname: bench }"
  echo "jobs:"
  for i in $(seq 1 "$jobs"); do
    printf '  job%s: { path: %s, schedule: "%s %s * * %s" }\n' "$i" "$work/data" $((i % 60)) $((i % 24)) $((i % 7))
  done
} >"$work/config.yml"
# Every job has run, as on a real host: one real run (state, metrics; the config remembered),
# whose state file stands in for the other jobs' (500 backups would take minutes).
node "$bundle" run job1 -c "$work/config.yml" -q
for i in $(seq 2 "$jobs"); do cp "$work/state/jobs/job1.json" "$work/state/jobs/job$i.json"; done
report header
bench_json "$work/version.json" -N -n 'cronvault --version' "node $bundle --version" -n 'node -e 0' 'node -e 0'
report pair "$work/version.json" '`cronvault --version` vs `node -e 0`' 1.3
bench_json "$work/status.json" -N -n "cronvault status ($jobs jobs)" "node $bundle status -c $work/config.yml" \
  -n 'node -e 0' 'node -e 0'
report pair "$work/status.json" "\`cronvault status\` over $jobs jobs vs \`node -e 0\`" 2.0
