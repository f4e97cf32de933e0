#!/usr/bin/env bash
# `make bench`: every benchmark of BENCHMARKS.md, each printing its markdown table. Under 15
# minutes on the standard 2-core machine. BENCH_SMOKE=1: tiny data, one run (make test).
set -euo pipefail
cd "$(dirname "$0")/.."
section() { printf '\n## %s\n\n' "$1"; }
echo "# cronvault benchmarks ($(date -u +%Y-%m-%dT%H:%MZ)${BENCH_SMOKE:+, smoke run: timings mean nothing})"
echo
echo "- CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores"
echo "- memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- node $(node --version), $(restic version | cut -d' ' -f1-2), hyperfine $(hyperfine --version | cut -d' ' -f2)"
section 'Bundle weight'
node bench/bundle-weight.mjs
section 'Start-up'
bash bench/startup.sh
section 'A run against the shell script it replaces'
bash bench/run-vs-shell.sh
section "cronvault's own memory"
bash bench/rss.sh
section 'node_exporter scrape'
bash bench/scrape.sh
