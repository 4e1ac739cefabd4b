#!/usr/bin/env bash
# Install the build and test dependencies on Debian (bookworm) if missing.
#
# As root: `apt-get update` once and install only what is missing
# (--no-install-recommends). Otherwise: list what is missing and exit 1.
set -euo pipefail

packages=(
    cmake ninja-build gcc libc6-dev make
    gcc-arm-none-eabi libnewlib-arm-none-eabi
    gcc-mips-linux-gnu libc6-dev-mips-cross
    qemu-user-static python3
    # tests/qemu: the firmware on the emulated MPS2 AN385 board
    qemu-system-arm
    # tests/interop: real IMAP clients against lwmaild; openssl for the
    # TLS tests (s_client, test certificates)
    curl isync offlineimap3 fetchmail neomutt tmux swaks openssl
    # tests/lwip: a real TLS client (OpenSSL) through the lwIP port
    libssl-dev
)

if ! command -v dpkg-query >/dev/null 2>&1; then
    # Not Debian: check for the tools instead of the packages.
    missing=()
    for tool in cmake ninja gcc make arm-none-eabi-gcc mips-linux-gnu-gcc \
                qemu-mips-static qemu-system-arm python3 \
                curl mbsync offlineimap fetchmail neomutt tmux swaks openssl; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if [ ${#missing[@]} -ne 0 ]; then
        echo "deps.sh: not a Debian system and these tools are missing:" \
             "${missing[*]}" >&2
        exit 1
    fi
    exit 0
fi

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}" >&2
    echo "deps.sh: run as root, or: sudo apt-get install" \
         "--no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
