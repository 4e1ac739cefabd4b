#!/usr/bin/env bash
# Unpack a third-party library from Debian's source package into the build
# tree (never into the repository).
#
#   scripts/fetch-source.sh PACKAGE DESTDIR
#
# Leaves the upstream tree in DESTDIR/PACKAGE (an existing one is kept) and
# prints that path. Third-party code is never committed: Debian's source
# package is the one place it comes from, for the host build as for boards.
#
# As root, enables deb-src for bookworm (a deb822 stanza in
# /etc/apt/sources.list.d/lwmail-debian-src.sources) and installs dpkg-dev
# when `apt-get source` cannot find the package. Otherwise says what to run.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 PACKAGE DESTDIR" >&2
    exit 2
fi
pkg=$1
dest=$2
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

if [ -f "$dest/$pkg/.lwm-unpacked" ]; then
    echo "$dest/$pkg"
    exit 0
fi

have_src() {
    apt-cache showsrc "$pkg" 2>/dev/null | grep -q '^Package:'
}

if ! command -v dpkg-source >/dev/null 2>&1 || ! have_src; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "fetch-source.sh: need deb-src entries and dpkg-dev to get" \
             "'$pkg'; run scripts/deps.sh as root once" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! have_src; then
        cat > /etc/apt/sources.list.d/lwmail-debian-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq >&2
    fi
    command -v dpkg-source >/dev/null 2>&1 ||
        apt-get install -y -qq --no-install-recommends dpkg-dev >&2
fi

work="$dest/.$pkg.download"
rm -rf "$work"
mkdir -p "$work"
(
    cd "$work"
    # apt runs the download as _apt when it can; a root-owned build tree
    # makes it fall back to root with a warning, which is harmless here
    apt-get source --download-only -qq "$pkg" >&2 2>/dev/null ||
        apt-get source --download-only "$pkg" >&2
    dsc=$(ls ./*.dsc | head -n 1)
    # the package's own signature check needs debian-keyring; the files
    # came from the signed archive, whose Release file apt verified
    dpkg-source --no-check -x "$dsc" tree >&2
)
rm -rf "${dest:?}/$pkg"
mv "$work/tree" "$dest/$pkg"
touch "$dest/$pkg/.lwm-unpacked"
rm -rf "$work"
echo "$dest/$pkg"
