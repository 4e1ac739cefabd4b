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
# Build quietly (the demo's own output is what the user asked for); show
# the log only if the build fails.
mkdir -p "$build"
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
       cmake --build "$build" -j 2 --target lwmail-demo; } \
       >"$build/build.log" 2>&1; then
    cat "$build/build.log" >&2
    echo "run.sh: build failed" >&2
    exit 1
fi

flash=${LWM_FLASH:-$build/data/flash.img}
mkdir -p "$(dirname "$flash")"
exec "$build/lwmail-demo" --flash "$flash" "$@"
