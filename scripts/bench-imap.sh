#!/usr/bin/env bash
# lwmaild against Dovecot (Debian's dovecot-imapd) on this machine, side by
# side: builds lwmaild (Release, build/bench), then runs tests/bench_imap.py,
# which starts both servers in a temporary directory on free loopback ports
# and prints a table of medians with the ratio lwmail/dovecot.
#
#   scripts/bench-imap.sh                 # 5 runs (about 2 minutes)
#   scripts/bench-imap.sh --runs 3 --dir /dev/shm --json out.json
#
# Arguments go to tests/bench_imap.py (--help lists them). Not part of the
# test suite.
#
# Dovecot: installs dovecot-imapd with apt if it is missing (as root). The
# benchmark never uses the package's system service: it runs its own
# `dovecot -F -c <temp>/dovecot.conf`. As root this script makes sure that
# service is stopped and disabled, and keeps apt from starting it during
# the install, so it neither takes port 143 nor adds its load (both in
# scripts/lib-bench.sh, shared with scripts/bench-tls.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
me=bench-imap.sh
# shellcheck source=scripts/lib-bench.sh
. scripts/lib-bench.sh

install_missing dovecot-imapd cmake ninja-build gcc libc6-dev python3
quiet_system_dovecot

build_bench lwmaild

exec python3 tests/bench_imap.py --lwmaild build/bench/lwmaild "$@"
