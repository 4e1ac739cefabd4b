#!/usr/bin/env bash
# Portability check: the core builds for a bare-metal Cortex-M3 with
# newlib-nano and pulls in no heap, OS, socket, stdio or exit symbols.
#
#   cmake/check-core-arm.sh <srcdir> <workdir>
#
# Also fails if a core source includes a system header outside the
# freestanding set (plus <string.h>). Run by CTest as
# core_arm_freestanding.
#
# Size: two figures, both -Os for Cortex-M3 (cmake/arm-none-eabi.cmake).
#
#  core_text_bytes   the archive: text (code and read-only data) summed
#                    over every object of liblwmail_core.a, whether a
#                    firmware can reach it or not.
#  core_flash_bytes  what the core takes in a firmware's flash, the figure
#                    issue 5 budgets (64 KiB): a --gc-sections link of the
#                    archive with mbedTLS and newlib-nano, as the firmware
#                    links it, whose only roots are the functions a port
#                    calls (PORT_ROOTS below: every function of
#                    lwm_server.h, lwm_auth.h and lwm_err.h, and the
#                    store's life cycle). The link map gives the bytes of
#                    every section kept from the core's objects (text,
#                    read-only data and initialised data; identical
#                    strings merged, as the linker merges them; alignment
#                    padding not counted, as in the archive sum). mbedTLS,
#                    libc and libgcc are not counted: the firmware's size
#                    report lists them as components of their own.
#                    What the link leaves out is code no port can reach
#                    (lwm_store_check, lwm_store_gc_force and the like,
#                    for tests and tools); the script names those public
#                    functions, so nothing leaves the figure unseen.
#  LWM_CORE_FLASH_MAX=N in the environment makes the check fail when
#  core_flash_bytes exceeds N.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 <srcdir> <workdir>" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
work=$2
cmake_bin=${CMAKE:-cmake}

fail() {
    echo "core_arm_freestanding: FAIL: $*" >&2
    exit 1
}

for tool in arm-none-eabi-gcc arm-none-eabi-nm arm-none-eabi-size \
            arm-none-eabi-ar; do
    command -v "$tool" >/dev/null 2>&1 ||
        fail "$tool not found; install gcc-arm-none-eabi and" \
             "libnewlib-arm-none-eabi (scripts/deps.sh does)"
done

# ---------------------------------------------------------------- headers
# C11 freestanding headers, plus string.h (memcpy & co.).
allowed=" float.h iso646.h limits.h stdalign.h stdarg.h stdbool.h stddef.h
          stdint.h stdnoreturn.h string.h "
bad_inc=""
while IFS= read -r line; do
    hdr=${line#*<}
    hdr=${hdr%%>*}
    case "$allowed" in
        *[[:space:]]"$hdr"[[:space:]]*) ;;
        *) bad_inc="$bad_inc  $line"$'\n' ;;
    esac
done < <(cd "$src" || exit 1
         grep -rnoE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<[^>]+>' \
             --include='*.c' --include='*.h' src include || true)
if [ -n "$bad_inc" ]; then
    echo "core_arm_freestanding: non-freestanding headers in the core:" >&2
    printf '%s' "$bad_inc" >&2
    fail "the core may include only freestanding headers and <string.h>"
fi

# ---------------------------------------------------------------- build
gen=()
if command -v ninja >/dev/null 2>&1; then
    gen=(-G Ninja)
fi
if [ -f "$work/CMakeCache.txt" ] &&
   ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$src\$" "$work/CMakeCache.txt"; then
    rm -rf "$work"
fi
mkdir -p "$work"
"$cmake_bin" -S "$src" -B "$work" "${gen[@]}" \
    -DCMAKE_TOOLCHAIN_FILE="$src/cmake/arm-none-eabi.cmake" \
    -DCMAKE_BUILD_TYPE=MinSizeRel >"$work/configure.log" 2>&1 || {
    cat "$work/configure.log" >&2
    fail "configure with cmake/arm-none-eabi.cmake failed"
}
"$cmake_bin" --build "$work" --target lwmail_core lwm_mbedtls \
    -j "${LWM_JOBS:-2}" ||
    fail "building lwmail_core for arm-none-eabi failed"

lib=$(find "$work" -name liblwmail_core.a -print -quit)
[ -n "$lib" ] || fail "liblwmail_core.a not found in $work"
mbedtls_lib=$(find "$work" -name liblwm_mbedtls.a -print -quit)
[ -n "$mbedtls_lib" ] || fail "liblwm_mbedtls.a not found in $work"

# ---------------------------------------------------------------- symbols
# Undefined symbols of the objects, minus those another object defines.
undef=$(arm-none-eabi-nm -u "$lib" | awk 'NF == 2 && $1 == "U" { print $2 }' |
        sort -u)
defined=$(arm-none-eabi-nm --defined-only -g "$lib" |
          awk 'NF == 3 { print $3 }' | sort -u)
external=$(comm -23 <(printf '%s\n' "$undef") <(printf '%s\n' "$defined") |
           sed '/^$/d')

echo "undefined symbols of lwmail_core (external):"
if [ -n "$external" ]; then
    printf '%s\n' "$external" | sed 's/^/  /'
else
    echo "  (none)"
fi

# Heap, sockets, file and stdio I/O, exit, threads; also what gcc turns
# printf/puts into (putchar, fputs) and the v*printf family.
forbidden="malloc calloc realloc free _malloc_r _free_r _calloc_r _realloc_r
           strdup socket bind listen accept connect send recv sendto recvfrom
           poll select open close read write fopen fclose fread fwrite printf
           fprintf sprintf snprintf puts exit abort pthread_create
           putchar fputc fputs vprintf vfprintf vsprintf vsnprintf _exit"
found=""
for sym in $forbidden; do
    if printf '%s\n' "$undef" | grep -qx -- "$sym"; then
        found="$found $sym"
    fi
done

# ---------------------------------------------------------------- size
echo "arm-none-eabi-size (per object):"
arm-none-eabi-size "$lib" | sed 's/^/  /'
read -r text data bss < <(arm-none-eabi-size "$lib" |
    awk 'NR > 1 { t += $1; d += $2; b += $3 } END { print t + 0, d + 0, b + 0 }')
echo "core (Cortex-M3, thumb, -Os): text=$text data=$data bss=$bss"
echo "core_text_bytes: $text bytes (the archive, every object)"

# The port's entry points: what ports/posix (lwmaild) and ports/lwip call.
PORT_ROOTS="lwm_server_init lwm_conn_open lwm_conn_rx_room lwm_conn_input
            lwm_conn_output lwm_conn_wants_output lwm_conn_gone
            lwm_server_poll lwm_server_tls_stats lwm_server_shutdown
            lwm_auth_hash lwm_auth_hash_check lwm_auth_zeroize lwm_strerror
            lwm_store_format lwm_store_mount lwm_store_unmount
            lwm_store_stats"
roots=()
for sym in $PORT_ROOTS; do
    printf '%s\n' "$defined" | grep -qx -- "$sym" ||
        fail "port entry point $sym is not defined by lwmail_core" \
             "(update PORT_ROOTS in $0)"
    roots+=("-Wl,--undefined=$sym")
done
map="$work/core-flash.map"
arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb --specs=nano.specs \
    --specs=nosys.specs -nostartfiles -Wl,--gc-sections \
    -Wl,--entry=lwm_server_init "${roots[@]}" -Wl,-Map="$map" \
    -o "$work/core-flash.elf" \
    -Wl,--start-group "$lib" "$mbedtls_lib" -Wl,--end-group -lc -lgcc ||
    fail "the --gc-sections link of the core (core-flash.elf) failed"
# Input sections kept from the core's objects, from the map's memory map
# (a section's name may stand alone on its line, its address, size and
# file on the next).
flash=$(awk '
function hex(s,   i, v) {
    v = 0
    s = tolower(substr(s, 3))
    for (i = 1; i <= length(s); i++)
        v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v
}
function take(sec, size, file,   obj) {
    if (file !~ /liblwmail_core\.a\(/ || sec !~ /^\.(text|rodata|data)/)
        return
    obj = file
    sub(/.*\(/, "", obj)
    sub(/\)$/, "", obj)
    bytes[obj] += size
    total += size
}
/^Linker script and memory map/ { go = 1; next }
!go { next }
/^ \.[^ ]+$/ { pend = $1; next }
pend != "" && NF == 3 && $1 ~ /^0x/ && $2 ~ /^0x/ {
    take(pend, hex($2), $3); pend = ""; next
}
{ pend = "" }
NF == 4 && $1 ~ /^\./ && $2 ~ /^0x/ && $3 ~ /^0x/ { take($1, hex($3), $4) }
END {
    for (o in bytes)
        printf "  %7d %s\n", bytes[o], o | "sort -k2"
    close("sort -k2")
    printf "total %d\n", total
}' "$map")
echo "core in a firmware (--gc-sections link, the port's entry points as" \
     "roots; text+rodata+data):"
printf '%s\n' "$flash" | sed '$d'
core_flash=$(printf '%s\n' "$flash" | sed -n '$s/^total //p')
kept=$(arm-none-eabi-nm --defined-only "$work/core-flash.elf" |
       awk '{ print $3 }' | sort -u)
dropped=$(grep -hoE '\blwm_[a-z0-9_]+ *\(' "$src"/include/lwmail/*.h |
          tr -d ' (' | sort -u | comm -12 - <(printf '%s\n' "$defined") |
          comm -23 - <(printf '%s\n' "$kept") | tr '\n' ' ')
echo "public functions no port entry point reaches (not in the figure):" \
     "${dropped:-(none)}"
echo "core_flash_bytes: $core_flash bytes (issue 5 target: 65536)"

if [ -n "$found" ]; then
    fail "forbidden undefined symbols in lwmail_core:$found"
fi
if [ -n "${LWM_CORE_FLASH_MAX:-}" ] &&
   [ "$core_flash" -gt "$LWM_CORE_FLASH_MAX" ]; then
    fail "the core takes $core_flash bytes of flash, more than" \
         "LWM_CORE_FLASH_MAX=$LWM_CORE_FLASH_MAX"
fi
echo "core_arm_freestanding: OK"
