# Sourced by every bench/*.sh: where things are, sizes, a work dir removed at exit, hyperfine.
# BENCH_SMOKE=1 (make test, test/bench-smoke.test.ts): tiny data and one run, to prove each
# benchmark still runs and prints its table; its timings mean nothing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# BENCH_BUNDLE=old.mjs: measure another build (the before of BENCHMARKS.md's before/after).
bundle=${BENCH_BUNDLE:-$root/dist/cronvault.mjs}
smoke=${BENCH_SMOKE:-0}
# full_or_smoke FULL SMOKE: the size for this mode.
full_or_smoke() { if [ "$smoke" = 1 ]; then echo "$2"; else echo "$1"; fi; }
runs=$(full_or_smoke "${BENCH_RUNS:-10}" 1)
warmup=$(full_or_smoke 2 0)
work=$(mktemp -d "${TMPDIR:-/tmp}/cronvault-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
gen() { node "$root/bench/gen-data.mjs" "$@"; }
report() { node "$root/bench/report.mjs" "$@"; }
# A restic repository and its password file in the work dir.
new_repo() {
  [ -f "$work/pass" ] || { printf 'bench password\n' >"$work/pass"; chmod 600 "$work/pass"; }
  rm -rf "$1"
  RESTIC_PASSWORD_FILE=$work/pass restic init -q -r "$1" >/dev/null
}
# hyperfine over named commands, JSON to $1; its own table to stderr, so stdout stays markdown.
bench_json() {
  local out=$1
  shift
  hyperfine --style basic --warmup "$warmup" --runs "$runs" --export-json "$out" "$@" >&2
}
