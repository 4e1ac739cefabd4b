#!/usr/bin/env python3
"""Firmware figures under QEMU (issue 5). A benchmark, not a test: it
prints numbers; it fails only if an image does not build, boot or answer
correctly.

    scripts/bench-fw.sh [--write-doc]        # builds the variants, runs this
    python3 tests/qemu/bench_fw.py --variant base=build/fw-bench-base= \\
        --variant imap1=DIR=DEFS --variant tls1=DIR=DEFS --variant hs4=DIR=DEFS

Variants (NAME=BUILD_DIR=LWM_FW_DEFS, built by scripts/bench-fw.sh):
  base   the board's image as the tree builds it
  imap1  one IMAP session more (LWM_MAX_SESSIONS + 1)
  tls1   one TLS session more (LWM_MAX_SESSIONS + 1, LWM_TLS_SESSIONS + 1)
  hs4    LWM_TLS_HANDSHAKES 4, a larger LWM_TLS_ARENA

Figures:
  * flash (text + data) and RAM (data + bss) of base by component, from
    firmware/size_report.py (the link map), the stack reserved and its
    high-water mark (the board fills the stack with a pattern at reset;
    console "s" prints how deep it was ever used)
  * RAM per additional IMAP session (imap1 - base) and per additional TLS
    session (tls1 - base), from arm-none-eabi-size of the linked images,
    with the symbols that grew (arm-none-eabi-nm -S)
  * the mbedTLS arena: its size, idle level and high-water mark ("s":
    lwm_server_tls_stats) after 1 handshake, 2 at once and 4 at once on
    base (2 handshake, 2 wait: the board's LWM_TLS_HANDSHAKES), and 4 at
    once on hs4: a fresh boot for each, maximum over --rounds boots. "At
    once": 4 TCP connections, the 4 ClientHellos sent before any answer
    is read (ssl.MemoryBIO), so all 4 handshakes are open together; then
    LOGIN and LOGOUT on each
  * handshake time: N sequential full handshakes (no resumption) from the
    host, median and p90 as the client sees it (TCP connected to
    handshake done) and as the firmware's clock sees it ("last N ms")
  * APPEND (LITERAL+) and FETCH BODY.PEEK[] of a 5,000,000-byte message
    over IMAPS, byte-exact, MB/s

QEMU does not model the Cortex-M3's timing: time figures are those of the
emulator on this host (TCG), not of a 25 MHz part. Every QEMU runs under
`timeout`, on 127.0.0.1 ports picked at run time, and is stopped at the
end; every loop has a count and a deadline.
"""
import argparse
import datetime
import os
import platform
import re
import select
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import textwrap
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
import qemu_test as qt  # noqa: E402
from lwmtest import BenchClient as Client, BenchError, fmt  # noqa: E402

USER, PASSWORD = qt.USER, qt.PASSWORD
HOST = "127.0.0.1"
SECTION = "## Firmware under QEMU (mps2-an385)"
ELF = "lwmail-%s.elf"


# ------------------------------------------------------------ output

ROWS = []


def row(figure, value, note=""):
    ROWS.append((figure, value, note))
    print("  %-58s %s%s" % (figure, value, ("   (" + note + ")") if note
                            else ""), flush=True)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] \
        if xs else float("nan")


# ------------------------------------------------------------ sizes

def size_report(build, elf):
    """firmware/size_report.py on one image: per component and totals."""
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "firmware", "size_report.py"),
         "--map", elf[:-4] + ".map", "--elf", elf,
         "--size", "arm-none-eabi-size"],
        check=True, capture_output=True, text=True).stdout
    comps = []
    for line in out.splitlines():
        m = re.match(r"^(.{14}) +(\d+) +(\d+) +(\d+) \|", line)
        if m:
            comps.append((m.group(1).strip(), int(m.group(2)),
                          int(m.group(3)), int(m.group(4))))
    stack = re.search(r"stack \(fixed, \.stack\) (\d+) B", out)
    return {"text": out, "components": comps,
            "stack": int(stack.group(1)) if stack else 0}


# the image's sections as firmware/size_report.py counts them (the stack
# and the flash device in PSRAM, .extflash, are not the image's RAM)
KIND = {".vectors": "text", ".text": "text", ".ARM.exidx": "text",
        ".rodata": "text", ".data": "data", ".bss": "bss"}


def berkeley(elf):
    """text, data, bss of an image (arm-none-eabi-size -A)."""
    out = subprocess.run(["arm-none-eabi-size", "-A", elf], check=True,
                         capture_output=True, text=True).stdout
    sums = {"text": 0, "data": 0, "bss": 0}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[0] in KIND and f[1].isdigit():
            sums[KIND[f[0]]] += int(f[1])
    return sums


def ram_symbols(elf):
    """RAM symbols (data, bss) by name: size, summed over same names."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", "-t", "d",
                          "--defined-only", elf], check=True,
                         capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "bBdD":
            syms[f[3]] = syms.get(f[3], 0) + int(f[1])
    return syms


def source_of(elf, name):
    """The object file a RAM symbol comes from, from the link map."""
    try:
        text = open(elf[:-4] + ".map", errors="replace").read()
    except OSError:
        return None
    m = re.search(r"^ \.(?:bss|data)\.%s\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+(\S+)"
                  % re.escape(name), text, re.M)
    if not m:
        return None
    obj = m.group(1)
    inner = re.search(r"\(([^)]*)\)$", obj)
    return re.sub(r"\.c\.obj$|\.o$", ".c", inner.group(1) if inner
                  else os.path.basename(obj))


def grown(base, var, top=6):
    """The symbols whose RAM differs, largest change first, named with
    their source file."""
    a, b = ram_symbols(base), ram_symbols(var)
    d = [(b.get(n, 0) - a.get(n, 0), n) for n in set(a) | set(b)]
    d = sorted((x for x in d if x[0]), key=lambda x: (-abs(x[0]), x[1]))
    named = []
    for delta, n in d[:top]:
        src = source_of(var, n)
        named.append((delta, "%s (%s)" % (n, src) if src else n))
    return named, sum(x[0] for x in d)


def bench_sizes(v):
    print("\n== flash and RAM of the images (linked, arm-none-eabi-size)",
          flush=True)
    base = v["base"]
    rep = size_report(base["dir"], base["elf"])
    print(rep["text"], flush=True)
    b = berkeley(base["elf"])
    row("image flash (text + data)", fmt(b["text"] + b["data"], "B"),
        "%s KiB" % fmt((b["text"] + b["data"]) / 1024.0))
    row("image RAM, static (data + bss)", fmt(b["data"] + b["bss"], "B"),
        "%s KiB" % fmt((b["data"] + b["bss"]) / 1024.0))
    row("image RAM with the stack reserved",
        fmt(b["data"] + b["bss"] + rep["stack"], "B"),
        "stack %s B (LWM_STACK_SIZE)" % fmt(rep["stack"]))
    out = {"components": rep["components"], "base": b,
           "stack": rep["stack"]}

    def diff(name, what):
        if name not in v:
            return None
        x = berkeley(v[name]["elf"])
        ram = x["data"] + x["bss"] - b["data"] - b["bss"]
        flash = x["text"] + x["data"] - b["text"] - b["data"]
        syms, total = grown(base["elf"], v[name]["elf"])
        made = ", ".join("%s %+d" % (n, d) for d, n in syms)
        rest = ram - total
        if rest:
            made += ", alignment %+d" % rest
        row(what, fmt(ram, "B"), "%s: %s; flash %+d B"
            % (v[name]["defs"] or "as is", made, flash))
        return ram, flash, syms
    out["imap1"] = diff("imap1", "RAM per additional IMAP session (plain)")
    out["tls1"] = diff("tls1", "RAM per additional TLS session")
    if out["imap1"] and out["tls1"]:
        row("  of it for TLS alone (tls1 - imap1)",
            fmt(out["tls1"][0] - out["imap1"][0], "B"))
    out["hs4"] = diff("hs4", "RAM of the 4-handshake variant (hs4 - base)")
    return out


# ------------------------------------------------------------ QEMU

class Board(qt.Board):
    """qt.Board with the console into a log file instead of stdout."""

    def __init__(self, elf, work, append, logf):
        self.logf = logf
        super().__init__(elf, work, append)

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.log.append(line)
            self.logf.write(line + "\n")
            self.logf.flush()

    def after(self, mark, pattern, timeout=30):
        """First line matching pattern from log index mark on."""
        return self.wait_for(pattern, timeout, mark)

    def figures(self):
        """Console "s": the stack and TLS figures."""
        mark = len(self.log)
        self.console(b"s")
        st = self.after(mark, r"^stats\(console\).*stack (\d+)/(\d+) B")
        tl = self.after(mark, r"^tls\(console\): arena (\d+) B, idle (\d+), "
                        r"used (\d+), peak (\d+), alloc failures (\d+); "
                        r"sessions (\d+), handshakes now (\d+) ok (\d+) "
                        r"failed (\d+), last (\d+) ms")
        if not st or not tl:
            raise BenchError("no figures on the console")
        keys = ("arena", "idle", "used", "peak", "fails", "sessions",
                "now", "ok", "failed", "last_ms")
        f = dict(zip(keys, (int(x) for x in tl.groups())))
        f["stack"] = int(st.group(1))
        f["stack_size"] = int(st.group(2))
        return f


def boot(var, logf, fresh=True):
    flash = os.path.join(var["dir"], "bench-flash.img")
    if fresh and os.path.exists(flash):
        os.unlink(flash)
    logf.write("==== boot %s (%s)\n" % (var["name"], var["defs"]))
    b = Board(var["elf"], var["dir"], "flash=%s" % flash, logf)
    if not b.wait_for(r"lwmail: IMAPS on", 90):
        b.stop()
        raise BenchError("%s: the firmware did not come up (see %s)"
                         % (var["name"], logf.name))
    return b


def shutdown(b):
    """Console "q", then make sure QEMU is gone."""
    if b.p.poll() is None:
        b.quit(20)
    b.stop()


def connect(port, timeout=60):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def imaps(port):
    c = Client(qt.tls_ctx().wrap_socket(connect(port)))
    if not c.line().startswith(b"* OK"):
        raise BenchError("no greeting")
    return c


class BioConn:
    """A TLS client on memory BIOs: the handshake goes at our pace."""

    def __init__(self, port, ctx):
        self.sock = connect(port)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_side=False)
        self.done = False
        self.buf = bytearray()

    def flush(self):
        d = self.out.read()
        if d:
            self.sock.sendall(d)

    def step(self):
        """Advance the handshake; True when it is complete."""
        try:
            self.obj.do_handshake()
            self.done = True
        except ssl.SSLWantReadError:
            pass
        self.flush()
        return self.done

    def feed(self):
        d = self.sock.recv(65536)
        if not d:
            raise BenchError("connection closed during the handshake")
        self.inc.write(d)

    def send(self, data):
        self.obj.write(data)
        self.flush()

    def line(self, deadline):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return out
            if time.time() > deadline:
                raise BenchError("no answer in time")
            try:
                self.buf += self.obj.read(65536)
            except ssl.SSLWantReadError:
                self.feed()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def at_once(port, n, timeout=120):
    """n handshakes open together: n connections, n ClientHellos sent
    before any answer is read, then every handshake driven to its end;
    LOGIN and LOGOUT on each. Returns (handshakes OK, sessions OK,
    seconds until the last handshake was done)."""
    ctx = qt.tls_ctx()
    conns = [BioConn(port, ctx) for _ in range(n)]
    deadline = time.time() + timeout
    try:
        t0 = time.perf_counter()
        for c in conns:
            c.step()                    # ClientHello out, nothing read
        while not all(c.done for c in conns) and time.time() < deadline:
            waiting = [c for c in conns if not c.done]
            r, _, _ = select.select([c.sock for c in waiting], [], [], 1.0)
            for c in waiting:
                if c.sock in r:
                    c.feed()
                    c.step()
        hs_time = time.perf_counter() - t0
        hs_ok = sum(c.done for c in conns)
        ok = 0
        for i, c in enumerate(conns):
            if not c.done:
                continue
            if not c.line(deadline).startswith(b"* OK"):
                continue
            c.send(b"a LOGIN %s %s\r\n" % (USER.encode(), PASSWORD.encode()))
            while True:
                ln = c.line(deadline)
                if ln.startswith(b"a "):
                    break
            if not ln.startswith(b"a OK"):
                continue
            c.send(b"b LOGOUT\r\n")
            while True:
                ln = c.line(deadline)
                if ln.startswith(b"b "):
                    break
            ok += ln.startswith(b"b OK")
        return hs_ok, ok, hs_time
    finally:
        for c in conns:
            c.close()


def warm_up(b):
    """One plain connection (port 143, greeting, LOGOUT) so that the
    firmware knows the gateway's MAC address before a burst: with lwIP's
    ARP_QUEUEING off, SYN-ACKs to a gateway not yet resolved replace each
    other in the ARP queue, and every lost one costs slirp's 3 s SYN
    retransmission."""
    s = connect(b.ports[143], 30)
    c = Client(s)
    if not c.line().startswith(b"* OK"):
        raise BenchError("no greeting on port 143")
    c.cmd("LOGOUT")
    s.close()


def wait_idle(b, fig_fn, timeout=20):
    """Figures once every TLS session is freed (arena back to idle)."""
    end = time.time() + timeout
    f = fig_fn()
    while (f["sessions"] or f["used"] != f["idle"]) and time.time() < end:
        time.sleep(0.3)
        f = fig_fn()
    return f


def bench_arena(v, rounds, logf):
    print("\n== mbedTLS arena high-water mark (a fresh boot each, max of "
          "%d)" % rounds, flush=True)
    out = {}
    stack = []
    cases = [("base", 1), ("base", 2), ("base", 4), ("hs4", 1), ("hs4", 4)]
    for name, n in cases:
        if name not in v:
            continue
        peaks, fails, hs, ok, times, idle, size = [], [], 0, 0, [], 0, 0
        for _ in range(rounds):
            b = boot(v[name], logf)
            try:
                port = b.ports[993]
                warm_up(b)
                h, o, t = at_once(port, n)
                hs += h
                ok += o
                times.append(t)
                f = wait_idle(b, b.figures)
                peaks.append(f["peak"])
                fails.append(f["fails"])
                idle, size = f["idle"], f["arena"]
                stack.append((f["stack"], f["stack_size"], name))
            finally:
                shutdown(b)
        cap = v[name].get("handshakes")
        what = "%d handshake%s%s" % (n, "s at once" if n > 1 else "",
                                     " (%s, %s run, %d wait)"
                                     % (name, cap, n - int(cap))
                                     if cap and n > int(cap)
                                     else " (%s)" % name)
        row("arena peak, %s" % what, fmt(max(peaks), "B"),
            "arena %s B, idle %s B; %d/%d handshakes and %d/%d LOGINs OK; "
            "failed allocations %s; %s done in %s s (median)"
            % (fmt(size), fmt(idle), hs, n * rounds, ok, n * rounds,
               ",".join(map(str, fails)),
               "all %d handshakes" % n if n > 1 else "the handshake",
               fmt(median(times))))
        out[(name, n)] = {"peak": max(peaks), "idle": idle, "arena": size,
                          "fails": sum(fails), "ok": ok, "hs": hs,
                          "n": n * rounds}
    return out, stack


def bench_handshakes(b, n, time_limit):
    print("\n== handshakes: %d sequential full handshakes" % n, flush=True)
    ctx = qt.tls_ctx()
    client, server = [], []
    cipher = None
    end = time.time() + time_limit
    for i in range(n + 2):                 # 2 to warm up
        if time.time() > end:
            break
        s = connect(b.ports[993])
        t0 = time.perf_counter()
        t = ctx.wrap_socket(s)
        dt = time.perf_counter() - t0
        cipher = t.cipher()
        c = Client(t)
        c.line()                            # the greeting
        t.close()
        f = wait_idle(b, b.figures)
        if i >= 2:
            client.append(dt)
            server.append(f["last_ms"])
    row("handshake, client: median / p90 (%d)" % len(client),
        "%s / %s" % (fmt(median(client) * 1e3, "ms"),
                     fmt(pct(client, 90) * 1e3, "ms")),
        "TCP connected to handshake done, %s" % (cipher[0] if cipher
                                                 else "?"))
    row("handshake, firmware's clock: median / p90",
        "%s / %s" % (fmt(float(median(server)), "ms"),
                     fmt(float(pct(server, 90)), "ms")),
        "lwm_server_tls_stats last_handshake_ms")
    return {"client": client, "server": server,
            "cipher": cipher[0] if cipher else "?"}


def big_message(size):
    head = (b"From: bench@example.org\r\nTo: mail@lwmail-qemu\r\n"
            b"Subject: firmware bench %d bytes\r\n\r\n" % size)
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV\r\n"
    body = line * ((size - len(head)) // len(line) + 1)
    msg = head + body
    return msg[:size - 2] + b"\r\n"


def bench_bulk(b, size, runs, time_limit):
    print("\n== APPEND and FETCH of a %s-byte message over IMAPS"
          % fmt(size), flush=True)
    msg = big_message(size)
    c = imaps(b.ports[993])
    c.cmd("LOGIN %s %s" % (USER, PASSWORD))
    c.cmd("SELECT INBOX")
    t0 = time.perf_counter()
    _, ln = c.cmd("APPEND INBOX", msg)
    t_app = time.perf_counter() - t0
    m = re.search(rb"APPENDUID \d+ (\d+)", ln)
    if not m:
        raise BenchError("APPEND gave no UID: %r" % ln)
    uid = int(m.group(1))
    row("APPEND %s B over IMAPS (LITERAL+)" % fmt(size),
        fmt(size / t_app / 1e6, "MB/s"), "%s s" % fmt(t_app))
    times = []
    end = time.time() + time_limit
    for _ in range(runs):
        if time.time() > end:
            break
        t0 = time.perf_counter()
        lits, _ = c.cmd("UID FETCH %d BODY.PEEK[]" % uid)
        times.append(time.perf_counter() - t0)
        if len(lits) != 1 or lits[0] != msg:
            raise BenchError("FETCH not byte-exact (%r bytes)"
                             % [len(x) for x in lits])
    row("FETCH BODY.PEEK[] %s B over IMAPS: median of %d" % (fmt(size),
                                                             len(times)),
        fmt(size / median(times) / 1e6, "MB/s"),
        "byte-exact; %s s" % fmt(median(times)))
    c.cmd("LOGOUT")
    c.sock.close()
    return {"append": size / t_app / 1e6,
            "fetch": size / median(times) / 1e6}


def bench_base_run(v, args, logf):
    """One boot of base: handshakes, 5 MB APPEND/FETCH, stack."""
    b = boot(v["base"], logf)           # formats, makes the certificate
    try:
        first = b.figures()
    finally:
        shutdown(b)
    b = boot(v["base"], logf, fresh=False)
    try:
        f0 = b.figures()
        row("arena idle after boot (certificate and key loaded)",
            fmt(f0["idle"], "B"), "arena %s B (LWM_TLS_ARENA)"
            % fmt(f0["arena"]))
        row("stack high-water mark, first boot",
            fmt(first["stack"], "B"), "format, certificate generated; "
            "boot on the saved image: %s B" % fmt(f0["stack"]))
        hs = bench_handshakes(b, args.handshakes, args.time_limit)
        bulk = bench_bulk(b, args.fetch_bytes, args.fetch_runs,
                          args.time_limit)
        f = wait_idle(b, b.figures)
        row("stack high-water mark, after the handshakes and bulk "
            "transfers", fmt(f["stack"], "B"), "booted on the saved image")
        row("arena peak after that boot's work (one session at a time)",
            fmt(f["peak"], "B"), "failed allocations %d; %d handshakes OK, "
            "%d failed" % (f["fails"], f["ok"], f["failed"]))
        f["first_stack"] = first["stack"]
        return hs, bulk, f
    finally:
        shutdown(b)


# ------------------------------------------------------------ report

def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                              "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain",
                                "--", "src", "include", "boards",
                                "firmware", "ports", "cmake"],
                               capture_output=True, text=True).stdout
        return rev + (" with local changes" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    q = subprocess.run(["qemu-system-arm", "--version"], capture_output=True,
                       text=True).stdout.splitlines()
    return "%d-core %s, %s %s, %s" % (os.cpu_count() or 0, cpu,
                                      platform.system(), platform.release(),
                                      q[0] if q else "qemu-system-arm ?")


def markdown(sizes, variants):
    out = ["| component | text | data | bss | flash | RAM |",
           "|---|---:|---:|---:|---:|---:|"]
    for name, t, d, s in sizes["components"]:
        strong = "**" if name == "total" else ""
        out.append("| %s%s%s | %s | %s | %s | %s%s%s | %s%s%s |"
                   % (strong, name, strong, fmt(t), fmt(d), fmt(s), strong,
                      fmt(t + d), strong, strong, fmt(d + s), strong))
    out += ["", "| figure | value | note |", "|---|---:|---|"]
    for f, val, note in ROWS:
        out.append("| %s | %s | %s |" % (f.replace("|", "/"), val,
                                         note.replace("|", "/")))
    return "\n".join(out)


DOC_INTRO = """\
`scripts/bench-fw.sh` measures the firmware image for
boards/qemu-mps2-an385 (issue 5): flash and RAM by component, RAM per
additional IMAP and TLS session, the stack's and the mbedTLS arena's
high-water marks, handshake time and 5 MB APPEND/FETCH over IMAPS under
`qemu-system-arm -M mps2-an385`. It is not part of the test suite (the
`qemu_firmware` test checks the same image works). To reproduce, on
Debian bookworm:

```sh
scripts/bench-fw.sh                  # about two minutes
scripts/bench-fw.sh --write-doc      # and rewrite this section
```

The script reads the board's sizing (`LWM_MAX_SESSIONS`,
`LWM_TLS_SESSIONS`, `LWM_TLS_HANDSHAKES`, `LWM_TLS_ARENA` through the
preprocessor) and builds four images with `LWM_FW_DEFS`
(build/fw-bench-*): the board's own (`base`), one IMAP session more
(`imap1`: `LWM_MAX_SESSIONS` + 1), one TLS session more (`tls1`: both
+ 1) and one that lets 4 handshakes run at once with twice the arena
(`hs4`; the board allows 2). Per-session RAM is the difference of the
linked images (`arm-none-eabi-size`), with the symbols that grew
(`arm-none-eabi-nm -S`). `tests/qemu/bench_fw.py` then boots the images
under `timeout` on loopback ports picked at run time, a fresh flash
image for each boot. Arena figures come from the console's `s`
(`lwm_server_tls_stats`: size, idle level, high-water mark since boot,
failed allocations), one boot per measurement; "at once" means N TCP
connections whose N ClientHellos are all sent before any answer is read,
so the N handshakes are open together (beyond `LWM_TLS_HANDSHAKES` the
rest wait for a slot), then LOGIN and LOGOUT on each. The stack's
high-water mark is the board's: the stack is filled with a pattern at
reset and `s` reports how deep it was ever used. QEMU does not model the
Cortex-M3's timing: time and throughput figures are the emulator's on
this host, not a 25 MHz part's.
"""


def reading(sizes, arena, hs, bulk, f):
    """A few sentences on what the figures say, for the document."""
    out = ["### Reading the figures", ""]
    b = sizes["base"]
    ram = b["data"] + b["bss"]
    out.append("* **RAM.** The board's image takes %s B of static RAM and "
               "%s B with the %s B stack reserved. The stack's high-water "
               "mark was %s B on the first boot (format, certificate "
               "generated) and %s B on a boot on the saved image after the "
               "handshakes and the 5 MB APPEND and FETCH."
               % (fmt(ram), fmt(ram + sizes["stack"]), fmt(sizes["stack"]),
                  fmt(f["first_stack"]), fmt(f["stack"])))
    for key, what in (("imap1", "IMAP session"), ("tls1", "TLS session")):
        d = sizes.get(key)
        if d:
            out.append("* **One %s more** costs %s B of RAM (flash %+d B): "
                       "%s." % (what, fmt(d[0]), d[1],
                                ", ".join("`%s` %+d" % (n, x)
                                          for x, n in d[2])))
    a1, a4 = arena.get(("hs4", 1)), arena.get(("hs4", 4))
    if a1 and a4:
        out.append("* **The arena.** Idle (certificate and key) %s B; one "
                   "handshake peaks at %s B, 4 at once at %s B: about %s B "
                   "per further handshake in flight, because the firmware "
                   "runs one handshake step at a time (the big transient, "
                   "the ECDHE and ECDSA arithmetic, happens once at a time) "
                   "and a waiting handshake only holds its state."
                   % (fmt(a1["idle"]), fmt(a1["peak"]), fmt(a4["peak"]),
                      fmt((a4["peak"] - a1["peak"]) // 3)))
    ab = arena.get(("base", 4))
    if ab:
        out.append("* **The board's arena** (%s B) peaked at %s B with 4 "
                   "clients handshaking at once (2 at a time), %s failed "
                   "allocations: %s B of headroom."
                   % (fmt(ab["arena"]), fmt(ab["peak"]), ab["fails"],
                      fmt(ab["arena"] - ab["peak"])))
    if hs and hs["client"]:
        out.append("* **Time.** A full handshake takes %s ms (median, "
                   "client), %s ms on the firmware's clock; a 5 MB FETCH "
                   "runs at %s MB/s, an APPEND at %s MB/s. QEMU's TCG "
                   "translates the Cortex-M3 code and runs it as fast as "
                   "the host can: these are the emulator's figures, not a "
                   "25 MHz part's." % (fmt(median(hs["client"]) * 1e3),
                                       fmt(float(median(hs["server"]))),
                                       fmt(bulk["fetch"]),
                                       fmt(bulk["append"])))
    out.append("* **Connection bursts right after boot** lost 3 s: with "
               "lwIP's `ARP_QUEUEING` off, SYN-ACKs to the gateway "
               "(10.0.2.2) sent before its MAC address is known replace "
               "each other in the ARP queue, and slirp retransmits each lost "
               "SYN after 3 s (4 connections right after boot: the last "
               "greeting after 2.8 s; 1.0 s with `-DARP_QUEUEING=1`). The "
               "script makes one plain connection before each burst so that "
               "this does not count.")
    return "\n".join(textwrap.fill(x, 76, subsequent_indent="  ")
                     if x.startswith("* ") else x for x in out)


def write_doc(path, sizes, variants, extra):
    body = [SECTION, "", DOC_INTRO, "### Results", "",
            textwrap.fill("%s, lwmail at %s; %s. Images: %s." % (
                datetime.date.today().isoformat(), git_rev(), machine(),
                "; ".join("`%s` %s" % (n, ("`" + v["defs"] + "`")
                                       if v["defs"] else "as is")
                          for n, v in variants.items())), 76,
                break_on_hyphens=False, break_long_words=False),
            "", markdown(sizes, variants), ""]
    if extra:
        body += [extra, ""]
    text = "\n".join(body)
    doc = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    i = doc.find(SECTION)
    if i < 0:
        doc = doc.rstrip("\n") + "\n\n" + text
    else:
        j = doc.find("\n## ", i + len(SECTION))
        rest = doc[j + 1:] if j >= 0 else ""
        doc = doc[:i] + text.rstrip("\n") + ("\n\n" + rest if rest
                                             else "\n")
    with open(path, "w") as f:
        f.write(doc.rstrip("\n") + "\n")
    print("%s: section \"%s\" written" % (path, SECTION[3:]), flush=True)


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=BUILD_DIR=LWM_FW_DEFS (base, imap1, tls1, "
                    "hs4)")
    ap.add_argument("--board", default="qemu-mps2-an385")
    ap.add_argument("--base-handshakes", default=None,
                    help="the board's LWM_TLS_HANDSHAKES (for the labels)")
    ap.add_argument("--handshakes", type=int, default=20,
                    help="sequential handshakes timed (default 20)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="boots per arena figure (default 3)")
    ap.add_argument("--fetch-bytes", type=int, default=5000000)
    ap.add_argument("--fetch-runs", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=120,
                    help="seconds for each timed loop (default 120)")
    ap.add_argument("--write-doc", nargs="?", const=os.path.join(
        ROOT, "docs", "BENCHMARKS.md"), metavar="FILE",
        help="rewrite the section \"%s\" of FILE (default "
        "docs/BENCHMARKS.md)" % SECTION[3:])
    ap.add_argument("--log", default=None,
                    help="the consoles of every boot (default "
                    "BASE_DIR/bench-console.log)")
    args = ap.parse_args()

    variants = {}
    for spec in args.variant:
        name, d, defs = (spec.split("=", 2) + ["", ""])[:3]
        elf = os.path.abspath(os.path.join(d, ELF % args.board))
        if not os.path.exists(elf):
            sys.exit("bench_fw: no image %s" % elf)
        var = {"name": name, "dir": os.path.abspath(d), "elf": elf,
               "defs": defs}
        m = re.search(r"LWM_TLS_HANDSHAKES=(\d+)", defs)
        var["handshakes"] = m.group(1) if m else None
        variants[name] = var
    if "base" not in variants:
        sys.exit("bench_fw: --variant base=DIR= is needed")
    for tool in ("qemu-system-arm", "timeout", "arm-none-eabi-size",
                 "arm-none-eabi-nm"):
        if not shutil.which(tool):
            sys.exit("bench_fw: %s is missing (scripts/deps.sh)" % tool)
    variants["base"]["handshakes"] = args.base_handshakes
    qt.QEMU_TIMEOUT = 600
    logpath = args.log or os.path.join(variants["base"]["dir"],
                                       "bench-console.log")
    t_start = time.time()
    with open(logpath, "w") as logf:
        try:
            sizes = bench_sizes(variants)
            print("\n== one boot of base: handshakes, bulk transfer",
                  flush=True)
            hs, bulk, f = bench_base_run(variants, args, logf)
            arena, stacks = bench_arena(variants, args.rounds, logf)
            stacks.append((f["stack"], f["stack_size"], "base"))
            stacks.append((f["first_stack"], f["stack_size"], "base"))
            top = max(stacks)
            row("stack high-water mark, max over every boot",
                fmt(top[0], "B"), "of %s B reserved (.stack)"
                % fmt(top[1]))
        except (BenchError, OSError, ssl.SSLError,
                subprocess.CalledProcessError) as e:
            print("bench_fw: %s (consoles in %s)" % (e, logpath),
                  file=sys.stderr)
            sys.exit(1)
    print("\nconsoles: %s; %.0f s in all\n" % (logpath, time.time() -
                                                 t_start), flush=True)
    print(markdown(sizes, variants), flush=True)
    if args.write_doc:
        write_doc(args.write_doc, sizes, variants,
                  reading(sizes, arena, hs, bulk, f))


if __name__ == "__main__":
    main()
