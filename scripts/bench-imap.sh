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
# the install, so it neither takes port 143 nor adds its load.
set -euo pipefail

cd "$(dirname "$0")/.."

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = \
      "install ok installed" ]
}

as_root() { [ "$(id -u)" -eq 0 ]; }

missing=()
for pkg in dovecot-imapd cmake ninja-build gcc libc6-dev python3; do
    is_installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -ne 0 ]; then
    if ! as_root; then
        echo "bench-imap.sh: missing packages: ${missing[*]}" >&2
        echo "bench-imap.sh: run as root, or: sudo apt-get install" \
             "--no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    echo "bench-imap.sh: installing ${missing[*]}"
    # Keep the package's postinst from starting the system service.
    policy=/usr/sbin/policy-rc.d
    own_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# bench-imap.sh: no service starts\nexit 101\n' \
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

# The system service: stopped and disabled, never relied upon.
if as_root && is_installed dovecot-core; then
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        systemctl disable --now dovecot.service dovecot.socket \
            >/dev/null 2>&1 || true
    fi
    if [ -x /etc/init.d/dovecot ]; then
        if /etc/init.d/dovecot status >/dev/null 2>&1; then
            echo "bench-imap.sh: stopping the system dovecot service"
            /etc/init.d/dovecot stop >/dev/null 2>&1 || true
        fi
        if command -v update-rc.d >/dev/null; then
            update-rc.d dovecot disable >/dev/null 2>&1 || true
        fi
    fi
fi
if [ -r /run/dovecot/master.pid ] &&
   kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
    echo "bench-imap.sh: note: a system dovecot is still running" \
         "(pid $(cat /run/dovecot/master.pid)); the benchmark does not use" \
         "it, but it shares the machine" >&2
fi

cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/bench --target lwmaild

exec python3 tests/bench_imap.py --lwmaild build/bench/lwmaild "$@"
