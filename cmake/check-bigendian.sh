#!/usr/bin/env bash
# Portability check: build the whole tree (core, POSIX port, tests) for
# big-endian MIPS and run its test suite under qemu-mips-static.
#
#   cmake/check-bigendian.sh <srcdir> <workdir>
#
# Tests labelled "slow" are skipped (see tests/CMakeLists.txt). Run by
# CTest as bigendian_mips.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 <srcdir> <workdir>" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
work=$2
cmake_bin=${CMAKE:-cmake}
ctest_bin=${CTEST:-ctest}
jobs=${LWM_JOBS:-2}

fail() {
    echo "bigendian_mips: FAIL: $*" >&2
    exit 1
}

command -v mips-linux-gnu-gcc >/dev/null 2>&1 ||
    fail "mips-linux-gnu-gcc not found; install gcc-mips-linux-gnu and" \
         "libc6-dev-mips-cross (scripts/deps.sh does)"
command -v qemu-mips-static >/dev/null 2>&1 ||
    fail "qemu-mips-static not found; install qemu-user-static" \
         "(scripts/deps.sh does)"

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
    -DCMAKE_TOOLCHAIN_FILE="$src/cmake/mips-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Debug -DLWM_SANITIZE=OFF >"$work/configure.log" 2>&1 || {
    cat "$work/configure.log" >&2
    fail "configure with cmake/mips-linux-gnu.cmake failed"
}
"$cmake_bin" --build "$work" -j "$jobs" || fail "mips build failed"

# Prove the binaries really are big-endian MIPS before trusting the run.
probe=$(find "$work/tests" -maxdepth 1 -type f -name 'test_*' -perm -u+x \
        -print -quit)
[ -n "$probe" ] || fail "no test executables were built"
magic=$(od -An -tx1 -j5 -N1 "$probe" | tr -d ' ')
[ "$magic" = "02" ] || fail "$probe is not a big-endian ELF (EI_DATA=$magic)"
machine=$(od -An -tx1 -j18 -N2 "$probe" | tr -d ' ')
[ "$machine" = "0008" ] || fail "$probe is not a MIPS ELF (e_machine=$machine)"
echo "bigendian_mips: $(basename "$probe") is a big-endian MIPS ELF"

cd "$work"
"$ctest_bin" --output-on-failure -j "$jobs" \
    -E '^(core_arm_freestanding|bigendian_mips)$' -LE '^slow$' ||
    fail "tests failed under qemu-mips-static"
echo "bigendian_mips: OK"
