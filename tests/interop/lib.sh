# shellcheck shell=bash disable=SC2154
# (SC2154: me, suite and all_sections are set by the script that sources it)
# tests/interop/lib.sh: what clients_test.sh and tls_clients_test.sh share
# (sourced, not run): the arguments, the temporary directory and its
# cleanup, the reporting helpers, starting and stopping lwmaild, and the
# loop over the sections.
#
# The script sets, before it calls anything here:
#   me            its name in messages ("clients_test")
#   suite         its CTest name, for the summary line ("interop_clients")
#   all_sections  the sections run when none is named
# and defines section_NAME DIR for each section and start_daemon DIR (with
# launch_daemon below). It may define cleanup_extra (run first at exit) and
# section_done DIR (run after each section, before its daemon stops).

# setup TMPNAME "$@": lwmaild (an absolute path), sections, top (a new
# temporary directory named TMPNAME.XXXXXX) and the traps that remove it
setup() {
    local tmpname=$1
    shift
    if [ $# -lt 1 ] || [ ! -x "$1" ]; then
        echo "usage: $0 PATH/TO/lwmaild [section...]" >&2
        exit 2
    fi
    lwmaild=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    shift
    sections=("$@")
    [ ${#sections[@]} -gt 0 ] || sections=("${all_sections[@]}")

    top=$(mktemp -d "${TMPDIR:-/tmp}/$tmpname.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# A daemon left behind by a killed script (a CTest timeout) gets SIGTERM.
pdeathsig=()
if setpriv --pdeathsig TERM true >/dev/null 2>&1; then
    pdeathsig=(setpriv --pdeathsig TERM)
fi

daemon_pid=

cleanup() {
    if declare -F cleanup_extra >/dev/null; then
        cleanup_extra
    fi
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -KILL "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ -n "${LWM_KEEP_TMP:-}" ]; then
        echo "$me: kept $top" >&2
    else
        rm -rf "$top"
    fi
}

# ------------------------------------------------------------ reporting

passed=0
failed=0
failed_names=()
section_ok=1

note() { echo "    $*"; }

# check DESCRIPTION COMMAND...: run it; a failure marks the section failed
check() {
    local what=$1
    shift
    if "$@"; then
        note "ok   $what"
        return 0
    fi
    note "FAIL $what"
    section_ok=0
    return 1
}

# check_not DESCRIPTION COMMAND...: the command must fail
check_not() {
    local what=$1
    shift
    if "$@"; then
        note "FAIL $what (it succeeded)"
        section_ok=0
        return 1
    fi
    note "ok   $what"
}

# expect_eq DESCRIPTION GOT WANT
expect_eq() {
    if [ "$2" = "$3" ]; then
        note "ok   $1 ($2)"
        return 0
    fi
    note "FAIL $1: got '$2', want '$3'"
    section_ok=0
    return 1
}

fail() {
    note "FAIL $*"
    section_ok=0
}

need() {
    local t
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            fail "$t is not installed (scripts/deps.sh installs it)"
            return 1
        fi
    done
}

# ------------------------------------------------------------ the daemon

# launch_daemon DIR READY ARGS...: start lwmaild ARGS... with its output
# in DIR and poll READY DIR (it reads DIR/lwmaild.out and sets the ports)
# until it succeeds; fails the section if the daemon exits first or is not
# ready in 60 s
launch_daemon() {
    local dir=$1 ready=$2 i
    shift 2
    mkdir -p "$dir"
    "${pdeathsig[@]}" "$lwmaild" "$@" \
        </dev/null >"$dir/lwmaild.out" 2>"$dir/lwmaild.err" &
    daemon_pid=$!
    for ((i = 0; i < 600; i++)); do            # at most 60 s
        "$ready" "$dir" && return 0
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "lwmaild did not start; its stderr:"
    sed 's/^/      /' "$dir/lwmaild.err"
    return 1
}

# stop_daemon DIR: SIGTERM, exit 0, no sanitizer report
stop_daemon() {
    local dir=$1 rc i
    [ -n "$daemon_pid" ] || return 0
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
        wait "$daemon_pid"
        rc=$?
        fail "lwmaild died during the section (exit $rc); its stderr:"
        tail -n 40 "$dir/lwmaild.err" | sed 's/^/      /'
        daemon_pid=
        return 1
    fi
    kill -TERM "$daemon_pid"
    for ((i = 0; i < 300; i++)); do            # at most 30 s
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$daemon_pid" 2>/dev/null; then
        kill -KILL "$daemon_pid"
        wait "$daemon_pid" 2>/dev/null
        daemon_pid=
        fail "lwmaild ignored SIGTERM for 30 s"
        return 1
    fi
    wait "$daemon_pid"
    rc=$?
    daemon_pid=
    if [ "$rc" -ne 0 ] || grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|UndefinedBehaviorSanitizer' \
            "$dir/lwmaild.err"; then
        fail "lwmaild exit $rc after SIGTERM or a sanitizer report; its stderr:"
        tail -n 40 "$dir/lwmaild.err" | sed 's/^/      /'
        return 1
    fi
    note "ok   lwmaild stopped cleanly"
}

# ------------------------------------------------------------ fetchmail

# fetchmail_setup DIR NAME HOST SUBJECT_PREFIX: three messages
# "<prefix>fm-1..3" (body "fetchmail body line <prefix>fm-N") appended to
# INBOX through the script's srv, an MDA DIR/NAME.sh writing each message
# to a file of DIR/NAME-out, and DIR/NAME.rc polling HOST as alice.
fetchmail_setup() {
    local d=$1 name=$2 host=$3 pre=$4 s
    mkdir -p "$d/$name-out" "$d/$name-home"
    for s in fm-1 fm-2 fm-3; do
        "${ctl[@]}" msg "$pre$s" "fetchmail body line $pre$s" >"$d/$name-$s.eml"
        srv append INBOX "$d/$name-$s.eml" >/dev/null || { fail "seed"; return 1; }
    done
    cat >"$d/$name.sh" <<EOF
#!/bin/sh
f=\$(mktemp "$d/$name-out/msg.XXXXXX") && cat >"\$f"
EOF
    chmod 755 "$d/$name.sh"
    cat >"$d/$name.rc" <<EOF
set no syslog
poll $host auth password
  user "alice" there with password "secret1" is "root" here
EOF
    chmod 600 "$d/$name.rc"
}

# ------------------------------------------------------------ main

# run_sections: each section with its own daemon in its own directory;
# the summary; returns 0 only when every section passed
run_sections() {
    local name dir
    for name in "${sections[@]}"; do
        if ! declare -F "section_$name" >/dev/null; then
            echo "$me: unknown section $name" >&2
            exit 2
        fi
        echo "== $name"
        section_ok=1
        dir=$top/$name
        if start_daemon "$dir"; then
            "section_$name" "$dir"
            if declare -F section_done >/dev/null; then
                section_done "$dir"
            fi
            stop_daemon "$dir"
        fi
        if [ "$section_ok" = 1 ]; then
            passed=$((passed + 1))
            echo "PASS $name"
        else
            failed=$((failed + 1))
            failed_names+=("$name")
            echo "FAIL $name"
        fi
    done

    [ $failed -eq 0 ] || echo "$me: failed: ${failed_names[*]}"
    echo "$suite: $passed passed, $failed failed"
    [ $failed -eq 0 ]
}
