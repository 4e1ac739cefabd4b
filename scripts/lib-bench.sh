# shellcheck shell=bash disable=SC2154
# (SC2154: me is set by the script that sources it)
#
# scripts/lib-bench.sh: what bench-imap.sh and bench-tls.sh share (sourced,
# not run, from the top of the tree; the script sets me, its name in
# messages, first):
#   is_installed PKG          the Debian package is installed
#   as_root                   this runs as root
#   install_missing PKG...    apt-get install the ones that are missing (as
#                             root; otherwise say how and exit 1), with no
#                             service started by their postinst
#   quiet_system_dovecot      the package's system dovecot: stopped and
#                             disabled as root, never relied upon; a note
#                             if one still runs
#   build_bench TARGET...     a Release build of TARGETs in build/bench

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = \
      "install ok installed" ]
}

as_root() { [ "$(id -u)" -eq 0 ]; }

install_missing() {
    local pkg missing=()
    for pkg in "$@"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    [ ${#missing[@]} -ne 0 ] || return 0
    if ! as_root; then
        echo "$me: missing packages: ${missing[*]}" >&2
        echo "$me: run as root, or: sudo apt-get install" \
             "--no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    echo "$me: installing ${missing[*]}"
    # Keep the package's postinst from starting the system service.
    # (policy and own_policy are global: the EXIT trap reads them.)
    policy=/usr/sbin/policy-rc.d
    own_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# %s: no service starts\nexit 101\n' "$me" \
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
}

quiet_system_dovecot() {
    if as_root && is_installed dovecot-core; then
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
            systemctl disable --now dovecot.service dovecot.socket \
                >/dev/null 2>&1 || true
        fi
        if [ -x /etc/init.d/dovecot ]; then
            if /etc/init.d/dovecot status >/dev/null 2>&1; then
                echo "$me: stopping the system dovecot service"
                /etc/init.d/dovecot stop >/dev/null 2>&1 || true
            fi
            if command -v update-rc.d >/dev/null; then
                update-rc.d dovecot disable >/dev/null 2>&1 || true
            fi
        fi
    fi
    if [ -r /run/dovecot/master.pid ] &&
       kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
        echo "$me: note: a system dovecot is still running" \
             "(pid $(cat /run/dovecot/master.pid)); the benchmark does not use" \
             "it, but it shares the machine" >&2
    fi
}

build_bench() {
    cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build/bench --target "$@"
}
