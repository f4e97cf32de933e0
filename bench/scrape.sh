#!/usr/bin/env bash
# node_exporter's scrape time with 5 and with 500 cronvault .prom files in its textfile
# directory (copies of a real run's file, one per job name): it should grow linearly, without
# a scrape error.
source "$(dirname "$0")/common.sh"
exporter=$(command -v prometheus-node-exporter || command -v node_exporter)
mkdir -p "$work/data" "$work/text"
echo data >"$work/data/file"
new_repo "$work/repo"
cat >"$work/config.yml" <<YAML
state_dir: $work/state
metrics: { textfile_dir: $work/text }
jobs:
  job0: { path: $work/data, repository: $work/repo, password_file: $work/pass, retention: none, hostname: bench }
YAML
node "$bundle" run job0 -c "$work/config.yml" -q
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
declare -A url
for count in 5 $(full_or_smoke 500 50); do
  dir=$work/text-$count
  mkdir -p "$dir"
  for i in $(seq 1 "$count"); do
    sed "s/backup=\"job0\"/backup=\"job$i\"/g" "$work/text/cronvault_job0.prom" >"$dir/cronvault_job$i.prom"
  done
  port=$(free_port)
  "$exporter" --web.listen-address="127.0.0.1:$port" --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="$dir" >"$work/exporter-$count.log" 2>&1 &
  pids+=($!)
  url[$count]=http://127.0.0.1:$port/metrics
  for _ in $(seq 1 50); do curl -fs "${url[$count]}" >/dev/null && break; sleep 0.1; done
  # No scrape error, and every job's metrics present.
  body=$(curl -fs "${url[$count]}")
  grep -q '^node_textfile_scrape_error 0$' <<<"$body" || { echo "scrape error with $count files" >&2; exit 1; }
  seen=$(grep -c '^backup_last_success_timestamp_seconds{' <<<"$body" || true)
  [ "$seen" -eq "$count" ] || { echo "$seen of $count jobs in the scrape" >&2; exit 1; }
done
large=$(full_or_smoke 500 50)
report header
bench_json "$work/scrape.json" -N -n "scrape, $large .prom files" "curl -fso /dev/null ${url[$large]}" \
  -n 'scrape, 5 .prom files' "curl -fso /dev/null ${url[5]}"
report pair "$work/scrape.json" "node_exporter scrape, $large vs 5 cronvault .prom files (linear: ≤ $((large / 5)))" $((large / 5))
