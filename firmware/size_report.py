#!/usr/bin/env python3
"""Flash and RAM of a firmware image, split by component.

    size_report.py --map IMAGE.map --elf IMAGE.elf [--size arm-none-eabi-size]

Per-archive `size` output would count every object of an archive, linked
or not; this reads the linker map instead, so each figure is what the
final image holds after --gc-sections: every input section placed in an
output section is charged to the archive (component) it came from.

  text  code and constants (.vectors, .text, .rodata, .ARM.exidx): flash
  data  initialised variables: flash (initial values) and RAM
  bss   zeroed variables: RAM
  flash = text + data, RAM = data + bss (the stack is listed on its own;
  the emulated flash device in PSRAM is not RAM of the image).
"""
import argparse
import collections
import os
import re
import subprocess
import sys

COMPONENTS = [
    ("liblwmail_core.a", "core (src/)"),
    ("liblwm_mbedtls.a", "mbedTLS"),
    ("liblwm_lwip.a", "lwIP"),
    ("liblwm_lwip_port.a", "ports/lwip"),
    ("liblwm_board.a", "board"),
    ("main.c.obj", "firmware main"),
    ("libc_nano.a", "libc+libgcc"),
    ("libc.a", "libc+libgcc"),
    ("libg_nano.a", "libc+libgcc"),
    ("libgcc.a", "libc+libgcc"),
    ("libm.a", "libc+libgcc"),
]
ORDER = ["core (src/)", "mbedTLS", "lwIP", "ports/lwip", "board",
         "firmware main", "libc+libgcc", "other"]

KIND = {".vectors": "text", ".text": "text", ".ARM.exidx": "text",
        ".rodata": "text", ".data": "data", ".bss": "bss"}

OUT_RE = re.compile(r"^(\.[\w.]+)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+))?")
IN_RE = re.compile(r"^ (\S+)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s*(.*))?$")
NUM_RE = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s*(.*)$")


def component(path):
    base = os.path.basename(path.split("(")[0])
    for key, name in COMPONENTS:
        if base == key:
            return name
    return "other"


def parse(map_path):
    """Input sections per output section, in map (address) order."""
    recs = []
    out_sizes = {}
    out_addr = {}
    lines = open(map_path, errors="replace").read().splitlines()
    try:
        start = lines.index("Linker script and memory map")
    except ValueError:
        sys.exit("size_report: %s is not a GNU ld map" % map_path)
    out = None
    pending = None          # ("out"|"in", name) waiting for its numbers
    for line in lines[start + 1:]:
        if pending:
            m = NUM_RE.match(line)
            kind, name = pending
            pending = None
            if m:
                addr, size, rest = int(m.group(1), 16), int(m.group(2), 16), \
                    m.group(3)
                if kind == "out":
                    out = name
                    out_sizes[name] = size
                    out_addr[name] = addr
                else:
                    recs.append((out, name, addr, size, rest))
                continue
        if not line or line.startswith("LOAD ") or line.startswith("OUTPUT("):
            continue
        if line[0] == ".":
            m = OUT_RE.match(line)
            if m and m.group(2) is None:
                pending = ("out", m.group(1))
            elif m:
                out = m.group(1)
                out_sizes[out] = int(m.group(3), 16)
                out_addr[out] = int(m.group(2), 16)
            continue
        if line.startswith(" *fill*"):
            m = re.match(r"^ \*fill\*\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", line)
            if m:
                recs.append((out, "*fill*", int(m.group(1), 16),
                             int(m.group(2), 16), ""))
            continue
        if line.startswith(" *") or line.startswith("  "):
            continue
        m = IN_RE.match(line)
        if m:
            if m.group(2) is None:
                pending = ("in", m.group(1))
            else:
                recs.append((out, m.group(1), int(m.group(2), 16),
                             int(m.group(3), 16), m.group(4)))

    # Merged string sections (.str1.1) are listed with their size before
    # merging, and the next section starts at the same or a nearby
    # address: a section ends where the next one starts at the latest.
    totals = collections.defaultdict(lambda: collections.Counter())
    biggest = []
    for i, (out, name, addr, size, path) in enumerate(recs):
        kind = KIND.get(out)
        if kind is None or size == 0:
            continue
        if i + 1 < len(recs) and recs[i + 1][0] == out and \
                recs[i + 1][2] >= addr:
            size = min(size, recs[i + 1][2] - addr)
        else:
            size = min(size, out_addr[out] + out_sizes[out] - addr)
        if size <= 0:
            continue
        comp = component(path) if path else "other"
        totals[comp][kind] += size
        if kind in ("data", "bss"):
            biggest.append((size, name, comp))
    return totals, biggest, out_sizes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--map", required=True)
    ap.add_argument("--elf")
    ap.add_argument("--size", default="arm-none-eabi-size")
    a = ap.parse_args()

    totals, biggest, out_sizes = parse(a.map)
    kib = lambda n: "%7.1f" % (n / 1024.0)
    print("%-14s %8s %8s %8s | %9s %9s" %
          ("component", "text", "data", "bss", "flash KiB", "RAM KiB"))
    sums = collections.Counter()
    for comp in ORDER:
        t = totals.get(comp)
        if not t:
            continue
        print("%-14s %8d %8d %8d | %9s %9s" %
              (comp, t["text"], t["data"], t["bss"],
               kib(t["text"] + t["data"]), kib(t["data"] + t["bss"])))
        sums.update(t)
    print("%-14s %8d %8d %8d | %9s %9s" %
          ("total", sums["text"], sums["data"], sums["bss"],
           kib(sums["text"] + sums["data"]), kib(sums["data"] + sums["bss"])))
    stack = out_sizes.get(".stack", 0)
    print("stack (fixed, .stack) %d B; RAM with stack %s KiB; flash device "
          "(PSRAM, not RAM) %d KiB" %
          (stack, kib(sums["data"] + sums["bss"] + stack).strip(),
           out_sizes.get(".extflash", 0) // 1024))
    print("largest RAM objects:")
    for size, name, comp in sorted(biggest, reverse=True)[:12]:
        print("  %8d  %-40s %s" % (size, name, comp))
    if a.elf:
        print("%s:" % a.size)
        try:
            print(subprocess.run([a.size, "-A", a.elf], check=True,
                                 capture_output=True,
                                 text=True).stdout.rstrip())
        except (OSError, subprocess.CalledProcessError) as e:
            print("  (%s)" % e)
    print("image_flash_bytes: %d" % (sums["text"] + sums["data"]))
    print("image_ram_bytes: %d" % (sums["data"] + sums["bss"] + stack))


if __name__ == "__main__":
    main()
