#!/usr/bin/env bash
# `make demo`: a real restic backup of example/data into .demo/repo, twice (first and
# incremental), then the .prom file node_exporter would serve and `cronvault status`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
demo="$root/.demo"
mkdir -p "$demo"
[ -f "$demo/repo.pass" ] || { head -c 24 /dev/urandom | base64 > "$demo/repo.pass"; chmod 600 "$demo/repo.pass"; }
sed -e "s#DEMO_DIR#$demo#g" -e "s#EXAMPLE_DIR#$root/example/data#g" example/config.yml > "$demo/config.yml"
cli=(node "$root/dist/cronvault.mjs")
echo "== cronvault check"
"${cli[@]}" check --config "$demo/config.yml" || true
echo
echo "== first backup"
"${cli[@]}" run example --config "$demo/config.yml"
date > "$demo/last-demo-run.txt"
cp "$demo/last-demo-run.txt" "$root/example/data/notes/last-demo-run.txt"
echo
echo "== second (incremental) backup"
"${cli[@]}" run example --config "$demo/config.yml"
rm -f "$root/example/data/notes/last-demo-run.txt"
echo
echo "== $demo/textfile/cronvault_example.prom (what node_exporter serves)"
cat "$demo/textfile/cronvault_example.prom"
echo
echo "== cronvault status"
"${cli[@]}" status --config "$demo/config.yml" || true
echo
echo "== cronvault history example"
"${cli[@]}" history example --config "$demo/config.yml" || true
