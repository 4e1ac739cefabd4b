#!/usr/bin/env bash
# Firmware figures (issue 5) for boards/qemu-mps2-an385: flash and RAM of
# the image by component, RAM per additional IMAP session and per
# additional TLS session (differences of linked images), the stack's
# high-water mark, the mbedTLS arena's high-water mark with 1, 2 and 4
# handshakes at once, handshake time and 5 MB APPEND/FETCH over IMAPS,
# all under QEMU (qemu-system-arm -M mps2-an385).
#
#   scripts/bench-fw.sh                       # about two minutes
#   scripts/bench-fw.sh --write-doc           # also update docs/BENCHMARKS.md
#   scripts/bench-fw.sh --handshakes 40 --rounds 5
#
# Builds four variants of the image from the current tree with
# LWM_FW_DEFS (firmware/CMakeLists.txt), in build/fw-bench-*:
#   base    the board's options as they are (boards/*/lwm_config.h)
#   imap1   LWM_MAX_SESSIONS + 1, LWM_TLS_SESSIONS as it is
#   tls1    LWM_MAX_SESSIONS + 1 and LWM_TLS_SESSIONS + 1
#   hs4     LWM_TLS_HANDSHAKES 4 and twice the arena (the board allows 2)
# then runs tests/qemu/bench_fw.py (arguments go there; --help lists
# them), which boots them under `timeout` on loopback ports picked at run
# time and prints one figure a line and Markdown tables. Not part of the
# test suite.
set -euo pipefail

cd "$(dirname "$0")/.."
me=bench-fw.sh
# shellcheck source=scripts/lib-bench.sh
. scripts/lib-bench.sh

for a in "$@"; do
    case "$a" in
        -h|--help) exec python3 tests/qemu/bench_fw.py --help ;;
    esac
done

install_missing cmake ninja-build python3 gcc-arm-none-eabi \
    libnewlib-arm-none-eabi qemu-system-arm

board=qemu-mps2-an385

# An option's value for this board: lwm_opts.h with the board's
# lwm_config.h, through the preprocessor, then shell arithmetic.
opt() {
    local v
    v=$(printf '#include "lwmail/lwm_opts.h"\nLWMV %s\n' "$1" |
        arm-none-eabi-gcc -E -P -DLWM_HAVE_CONFIG_H=1 -Iinclude \
            -I"boards/$board" -x c - | sed -n 's/^LWMV //p' |
        sed 's/[uUlL]\b//g')
    echo $((v))
}
max() { [ "$1" -ge "$2" ] && echo "$1" || echo "$2"; }

sessions=$(opt LWM_MAX_SESSIONS)
tls=$(opt LWM_TLS_SESSIONS)
handshakes=$(opt LWM_TLS_HANDSHAKES)
arena=$(opt LWM_TLS_ARENA)
preauth=$(opt LWM_MAX_PREAUTH)
preauth_addr=$(opt LWM_MAX_PREAUTH_PER_ADDR)
echo "$me: board $board: LWM_MAX_SESSIONS $sessions, LWM_TLS_SESSIONS" \
     "$tls, LWM_TLS_HANDSHAKES $handshakes, LWM_TLS_ARENA $arena," \
     "LWM_MAX_PREAUTH $preauth (per address $preauth_addr)"

# hs4: 4 handshakes need 4 TLS sessions, 4 sessions and 4 pre-auth slots
hs4="LWM_TLS_HANDSHAKES=4;LWM_TLS_ARENA=$((arena * 2))"
hs4="$hs4;LWM_MAX_SESSIONS=$(max "$sessions" 4)"
hs4="$hs4;LWM_TLS_SESSIONS=$(max "$tls" 4)"
hs4="$hs4;LWM_MAX_PREAUTH=$(max "$preauth" 4)"
hs4="$hs4;LWM_MAX_PREAUTH_PER_ADDR=$(max "$preauth_addr" 4)"

variants=(
    "base|"
    "imap1|LWM_MAX_SESSIONS=$((sessions + 1))"
    "tls1|LWM_MAX_SESSIONS=$((sessions + 1));LWM_TLS_SESSIONS=$((tls + 1))"
    "hs4|$hs4"
)
args=()
for v in "${variants[@]}"; do
    name=${v%%|*}
    defs=${v#*|}
    dir=build/fw-bench-$name
    echo "$me: building $dir (LWM_FW_DEFS \"$defs\")"
    cmake -S firmware -B "$dir" -G Ninja -DLWM_BOARD="$board" \
        -DLWM_FW_DEFS="$defs" >/dev/null
    cmake --build "$dir" -j "${LWM_JOBS:-2}" >/dev/null
    args+=(--variant "$name=$dir=$defs")
done

exec python3 tests/qemu/bench_fw.py --board "$board" \
    --base-handshakes "$handshakes" "${args[@]}" "$@"
