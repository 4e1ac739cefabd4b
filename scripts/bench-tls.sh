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
# Dovecot: with --dovecot, installs dovecot-imapd if missing (as root) and
# keeps its system service stopped, the way scripts/bench-imap.sh does
# (scripts/lib-bench.sh: no system service started, never used).
set -euo pipefail

cd "$(dirname "$0")/.."
me=bench-tls.sh
# shellcheck source=scripts/lib-bench.sh
. scripts/lib-bench.sh

want_dovecot=
for a in "$@"; do
    [ "$a" = --dovecot ] && want_dovecot=1
done

pkgs=(cmake ninja-build gcc libc6-dev python3 openssl binutils)
[ -n "$want_dovecot" ] && pkgs+=(dovecot-imapd)
install_missing "${pkgs[@]}"
if [ -n "$want_dovecot" ]; then
    quiet_system_dovecot
fi

build_bench lwmaild lwmaild_hsq

exec python3 tests/bench_tls.py --lwmaild build/bench/lwmaild \
    --lwmaild-hsq build/bench/tests/lwmaild_hsq "$@"
