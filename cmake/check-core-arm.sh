#!/usr/bin/env bash
# Portability check: the core builds for a bare-metal Cortex-M3 with
# newlib-nano and pulls in no heap, OS, socket, stdio or exit symbols.
#
#   cmake/check-core-arm.sh <srcdir> <workdir>
#
# Also prints the archive's size (sum over its objects) and fails if a
# core source includes a system header outside the freestanding set
# (plus <string.h>). Run by CTest as core_arm_freestanding.
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

for tool in arm-none-eabi-gcc arm-none-eabi-nm arm-none-eabi-size; do
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
"$cmake_bin" --build "$work" --target lwmail_core -j "${LWM_JOBS:-2}" ||
    fail "building lwmail_core for arm-none-eabi failed"

lib=$(find "$work" -name liblwmail_core.a -print -quit)
[ -n "$lib" ] || fail "liblwmail_core.a not found in $work"

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
echo "core_text_bytes: $text bytes"

if [ -n "$found" ]; then
    fail "forbidden undefined symbols in lwmail_core:$found"
fi
echo "core_arm_freestanding: OK"
