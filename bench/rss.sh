#!/usr/bin/env bash
# cronvault's own peak RSS (the node process, not restic): initial backups of 20,000 and
# 200,000 files, and a `command:` job streaming 2 GiB of seeded data into restic. Node's figure
# is VmHWM read at its exit (bench/peak-rss.mjs); /usr/bin/time -v's is the largest process of
# the tree (restic's).
source "$(dirname "$0")/common.sh"
export RESTIC_PASSWORD_FILE=$work/pass
echo '| case | cronvault peak RSS | largest process (time -v) | cronvault CPU | all CPU | wall | goal | met |'
echo '|:---|---:|---:|---:|---:|---:|---:|:---|'
measure() { # name config job goal_mb
  local name=$1
  BENCH_RSS_OUT=$work/$3.rss /usr/bin/time -v -o "$work/$3.time" \
    node --import "$root/bench/peak-rss.mjs" "$bundle" run "$3" -c "$2" -q
  local own tree wall cpu all
  read -r own cpu <"$work/$3.rss"
  own=$((own / 1024))
  all=$(awk '/User time|System time/ { s += $NF } END { printf "%d", s * 1000 }' "$work/$3.time")
  tree=$(($(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/$3.time") / 1024))
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/$3.time")
  echo "| $name | $own MB | $tree MB | $cpu ms | $all ms | $wall | ≤ $4 MB | $([ "$own" -le "$4" ] && echo yes || echo NO) |"
}
config() { # job, then the job's own keys
  cat >"$work/$1.yml" <<YAML
state_dir: $work/state
metrics: { textfile_dir: $work/text }
defaults: { password_file: $work/pass, retention: none, hostname: bench }
jobs:
  $1: { repository: $work/repo-$1, $2 }
YAML
  new_repo "$work/repo-$1"
}
for files in $(full_or_smoke "20000 200000" "50 500"); do
  gen files "$work/files-$files" "$files" $((files * 1024)) 3
  config "files$files" "path: $work/files-$files"
  measure "initial backup, $files files of 1 KiB" "$work/files$files.yml" "files$files" 80
  rm -rf "$work/files-$files" "$work/repo-files$files"
done
bytes=$(full_or_smoke $((2 * 1024 * 1024 * 1024)) $((4 * 1024 * 1024)))
config stream "command: \"node $root/bench/gen-data.mjs stream $bytes 4\""
measure "\`command:\` job streaming $((bytes / 1024 / 1024)) MiB" "$work/stream.yml" stream 80
