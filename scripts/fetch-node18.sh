#!/usr/bin/env bash
# Unpacks Debian 12's own Node.js 18 (the oldest Node cronvault supports) into .cache/node18,
# without installing it: the machine keeps its own node. test/node18.test.ts runs the bundle
# with it. Debian's node loads a few builtins from /usr/share/nodejs, so the test bind-mounts
# the unpacked copy there in a private mount namespace (unshare), touching nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/node18
[ -x "$dest/root/usr/bin/node" ] && exit 0
# awk reads to the end (no `exit`): apt-cache killed by SIGPIPE would fail the pipe under pipefail.
version() { apt-cache madison "$1" 2>/dev/null | awk -v p="$2" '!found && $3 ~ p { print $3; found = 1 }'; }
node_version=$(version nodejs '^18\.')
if [ -z "$node_version" ]; then
  apt-get update -qq
  node_version=$(version nodejs '^18\.')
fi
[ -n "$node_version" ] || { echo "no Node.js 18 in this machine's Debian sources" >&2; exit 1; }
rm -rf "$dest" && mkdir -p "$dest/debs"
(
  cd "$dest/debs"
  apt-get download -q "nodejs=$node_version" "libnode108=$node_version" libc-ares2 node-cjs-module-lexer node-undici node-acorn 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
)
for deb in "$dest"/debs/*.deb; do dpkg-deb -x "$deb" "$dest/root"; done
echo "unpacked Node.js $node_version into $dest"
