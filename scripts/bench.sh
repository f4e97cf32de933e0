#!/usr/bin/env bash
# `make bench`: how much cronvault adds around the engine. Times, with hyperfine, the CLI's
# start-up, config validation, and a full no-change backup run against restic run directly.
# Results go to docs/bench.md by hand, with the command that produced them.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data"
for i in $(seq 1 200); do head -c 2048 /dev/urandom > "$work/data/file$i"; done
printf 'bench password\n' > "$work/pass"; chmod 600 "$work/pass"
export RESTIC_REPOSITORY="$work/repo" RESTIC_PASSWORD_FILE="$work/pass"
restic init -q
cat > "$work/config.yml" <<YAML
state_dir: $work/state
metrics: { textfile_dir: $work/text }
defaults: { repository: $work/repo, password_file: $work/pass, retention: none }
jobs:
$(for i in $(seq 1 50); do printf '  job%s: { path: %s, schedule: "%s 2 * * *" }\n' "$i" "$work/data" "$i"; done)
YAML
cli="node dist/cronvault.mjs"
$cli run job1 --config "$work/config.yml" --quiet
hyperfine --warmup 3 --runs 20 --export-markdown "$work/result.md" \
  -n 'cronvault --version (start-up)' "$cli --version" \
  -n 'cronvault cron (validate 50 jobs)' "$cli cron --config $work/config.yml" \
  -n 'restic backup (engine alone)' "restic backup --quiet --host bench --tag cronvault:job1 $work/data" \
  -n 'cronvault run (restic + metrics + state)' "$cli run job1 --config $work/config.yml --quiet"
cat "$work/result.md"
