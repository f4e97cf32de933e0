#!/bin/bash
# Builds cronvault_<version>_all.deb from the bundle (dist/cronvault.mjs, `npm run build`) and
# deploy/debian/ with Debian's own dpkg-deb: no network, no debhelper. Reproducible: every
# timestamp is SOURCE_DATE_EPOCH (default: the last commit's time), every owner root:root.
#   usage: scripts/build-deb.sh [OUT_DIR]     (default: dist)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/dist}
bundle=$root/dist/cronvault.mjs
pkg=$root/deploy/debian
[ -x "$bundle" ] || { echo "build-deb: $bundle is missing; run npm run build first" >&2; exit 1; }

version=$(node -p "require('$root/package.json').version")
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}
date_day=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
date_rfc=$(date -u -d "@$SOURCE_DATE_EPOCH" -R)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
umask 022
tree=$stage/cronvault
doc=$tree/usr/share/doc/cronvault

install -D -m 0755 "$bundle" "$tree/usr/bin/cronvault"
install -D -m 0644 "$pkg/config.yml" "$tree/etc/cronvault/config.yml"
install -D -m 0644 "$pkg/copyright" "$doc/copyright"
mkdir -p "$tree/usr/share/man/man1" "$doc/docs"
node "$root/scripts/man-page.mjs" "$bundle" "$date_day" | gzip -9n > "$tree/usr/share/man/man1/cronvault.1.gz"
gzip -9n < "$root/README.md" > "$doc/README.md.gz"
gzip -9n < "$root/CHANGELOG.md" > "$doc/NEWS.md.gz"
for f in "$root"/docs/*.md; do gzip -9n < "$f" > "$doc/docs/$(basename "$f").gz"; done
# A native package's changelog.gz is in Debian's format; the project's own changelog is NEWS.md.gz.
cat > "$stage/changelog" <<CHANGELOG
cronvault ($version) unstable; urgency=medium

  * Release $version. The changes are listed in
    /usr/share/doc/cronvault/NEWS.md.gz.

 -- cronvault developers <cronvault@example.org>  $date_rfc
CHANGELOG
gzip -9n < "$stage/changelog" > "$doc/changelog.gz"

mkdir -p "$tree/DEBIAN"
install -m 0644 "$pkg/conffiles" "$tree/DEBIAN/conffiles"
install -m 0755 "$pkg/postinst" "$pkg/postrm" "$tree/DEBIAN/"
(cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$tree/DEBIAN/md5sums"
chmod 0644 "$tree/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" "$pkg/control.in" > "$tree/DEBIAN/control"
chmod 0644 "$tree/DEBIAN/control"

find "$tree" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
deb=$out/cronvault_${version}_all.deb
dpkg-deb --root-owner-group -Zxz --build "$tree" "$deb" >/dev/null
echo "built $deb"
