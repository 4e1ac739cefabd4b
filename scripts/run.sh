#!/usr/bin/env bash
# Build a Release tree and run the store demo on a file-backed flash image.
#
#   scripts/run.sh [demo args...]
#
# The image is build/run/data/flash.img (override with LWM_FLASH=path);
# the demo gets `--flash <image>` followed by the arguments given here.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/deps.sh

build=build/run
if [ ! -f ports/posix/demo_main.c ]; then
    echo "run.sh: ports/posix/demo_main.c does not exist yet;" \
         "there is no lwmail-demo to run" >&2
    exit 1
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j 2 --target lwmail-demo

flash=${LWM_FLASH:-$build/data/flash.img}
mkdir -p "$(dirname "$flash")"
exec "$build/lwmail-demo" --flash "$flash" "$@"
