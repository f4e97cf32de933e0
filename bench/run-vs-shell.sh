#!/usr/bin/env bash
# `cronvault run job` against the shell script it replaces, doing the same restic work: backup
# --json, forget --dry-run --json with the same flags, a .prom file through a temp file and mv.
# 1) 2,000 small files, unchanged between runs: cronvault's own cost shows.
# 2) an initial backup of 2 GiB in 20,000 files into a fresh repository each run: the engine's.
source "$(dirname "$0")/common.sh"
small_files=$(full_or_smoke 2000 20)
big_files=$(full_or_smoke 20000 50)
big_bytes=$(full_or_smoke $((2 * 1024 * 1024 * 1024)) $((2 * 1024 * 1024)))
big_runs=$(full_or_smoke 5 1)
big_warmup=$(full_or_smoke 1 0)
gen files "$work/small" "$small_files" $((small_files * 2048)) 1
gen files "$work/big" "$big_files" "$big_bytes" 2

# The job as cronvault runs it, and the same restic calls by hand (see `cronvault run -v`).
job_config() { # name data repo
  cat >"$work/$1.yml" <<YAML
state_dir: $work/state-$1
metrics: { textfile_dir: $work/text-$1 }
jobs:
  $1: { path: $2, repository: $3, password_file: $work/pass, retention: "7D:0s", hostname: bench }
YAML
}
cat >"$work/shell-job.sh" <<'SH'
#!/bin/sh
# The shell loop cronvault replaces. Usage: shell-job.sh NAME DATA REPO TEXTFILE_DIR
set -eu
name=$1 data=$2 export RESTIC_REPOSITORY=$3 text=$4
start=$(date +%s)
restic backup --json --host bench --tag "cronvault:$name" -- "$data" >"$text/$name.json"
restic forget --host bench --tag "cronvault:$name" --path "$data" --group-by host,tags --keep-within 7d \
  --dry-run --json >"$text/$name.forget.json"
added=$(tail -n 1 "$text/$name.json" | sed -n 's/.*"data_added":\([0-9]*\).*/\1/p')
cat >"$text/.$name.prom.$$" <<PROM
backup_last_success_timestamp_seconds{job="$name"} $(date +%s)
backup_last_run_duration_seconds{job="$name"} $(($(date +%s) - start))
backup_last_data_added_bytes{job="$name"} ${added:-0}
PROM
mv "$text/.$name.prom.$$" "$text/$name.prom"
SH
chmod +x "$work/shell-job.sh"
export RESTIC_PASSWORD_FILE=$work/pass
mkdir -p "$work/text-shell"

new_repo "$work/repo-small"
job_config small "$work/small" "$work/repo-small"
node "$bundle" run small -c "$work/small.yml" -q # the first, full backup; the timed runs change nothing
report header
bench_json "$work/small.json" -N \
  -n 'cronvault run' "node $bundle run small -c $work/small.yml -q" \
  -n 'shell script' "$work/shell-job.sh small $work/small $work/repo-small $work/text-shell"
report pair "$work/small.json" "\`cronvault run\` vs shell script, $small_files unchanged small files" 1.05

job_config big "$work/big" "$work/repo-big"
size=$(du -sh "$work/big" | cut -f1)
# A fresh repository before every run: each one is an initial backup. `sync` first, so the
# write-back of the generated data (or of the previous run's 2 GiB repository) is not charged
# to whichever command runs next; one warm-up run each, so both start from the same page cache.
hyperfine --style basic --warmup "$big_warmup" --runs "$big_runs" --export-json "$work/big.json" \
  --prepare "sync && rm -rf $work/repo-big $work/state-big $work/text-big && restic init -q -r $work/repo-big && sync" \
  -n 'cronvault run (initial)' "node $bundle run big -c $work/big.yml -q" \
  -n 'shell script (initial)' "$work/shell-job.sh big $work/big $work/repo-big $work/text-shell" >&2
report pair "$work/big.json" "initial backup, $size in $big_files files, \`cronvault run\` vs shell script" 1.01
