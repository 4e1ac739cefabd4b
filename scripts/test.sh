#!/usr/bin/env bash
# THE test command: host build with sanitizers, then every CTest test,
# including the arm-none-eabi core check and the big-endian MIPS run.
#
#   scripts/test.sh [ctest args...]     e.g. scripts/test.sh -R nor
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/deps.sh

build=build/test
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLWM_SANITIZE=ON
cmake --build "$build" -j 2
cd "$build"
ctest --output-on-failure -j 2 "$@"
