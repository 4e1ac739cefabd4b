#!/usr/bin/env bash
# TLS figures for lwmaild (issue 4): static RAM per TLS session, handshake
# time (client and server CPU), the mbedTLS arena's high-water mark with 1,
# 4 and 8 handshakes at once, FETCH of a 4 MiB message over IMAPS against
# plaintext; with --dovecot the same FETCH and handshake against Dovecot.
# Builds lwmaild and lwmaild_hsq (Release, build/bench), then runs
# tests/bench_tls.py, which prints one figure a line and a Markdown table.
#
#   scripts/bench-tls.sh                      # about a minute
#   scripts/bench-tls.sh --dovecot            # also Dovecot (installs it)
#   scripts/bench-tls.sh --handshakes 200 --fetch-runs 20
#
# Arguments go to tests/bench_tls.py (--help lists them). Not part of the
# test suite. Everything runs on 127.0.0.1 with ports the kernel picks.
#
# Dovecot: with --dovecot, installs dovecot-imapd if missing (as root), the
# way scripts/bench-imap.sh does (no system service started, never used).
set -euo pipefail

cd "$(dirname "$0")/.."

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = \
      "install ok installed" ]
}

want_dovecot=
for a in "$@"; do
    [ "$a" = --dovecot ] && want_dovecot=1
done

missing=()
for pkg in cmake ninja-build gcc libc6-dev python3 openssl binutils; do
    is_installed "$pkg" || missing+=("$pkg")
done
[ -n "$want_dovecot" ] && ! is_installed dovecot-imapd && missing+=(dovecot-imapd)
if [ ${#missing[@]} -ne 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench-tls.sh: missing packages: ${missing[*]}" >&2
        echo "bench-tls.sh: run as root, or: sudo apt-get install" \
             "--no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    echo "bench-tls.sh: installing ${missing[*]}"
    policy=/usr/sbin/policy-rc.d
    own_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# bench-tls.sh: no service starts\nexit 101\n' \
            > "$policy"
        chmod 755 "$policy"
        own_policy=1
    fi
    trap '[ -n "$own_policy" ] && rm -f "$policy"' EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
    if [ -n "$own_policy" ]; then
        rm -f "$policy"
        own_policy=
    fi
fi
if [ -n "$want_dovecot" ] && [ "$(id -u)" -eq 0 ] && is_installed dovecot-core; then
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        systemctl disable --now dovecot.service dovecot.socket \
            >/dev/null 2>&1 || true
    fi
    if [ -x /etc/init.d/dovecot ] &&
       /etc/init.d/dovecot status >/dev/null 2>&1; then
        /etc/init.d/dovecot stop >/dev/null 2>&1 || true
    fi
fi

cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/bench --target lwmaild lwmaild_hsq

exec python3 tests/bench_tls.py --lwmaild build/bench/lwmaild \
    --lwmaild-hsq build/bench/tests/lwmaild_hsq "$@"
