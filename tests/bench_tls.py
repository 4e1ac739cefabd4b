#!/usr/bin/env python3
"""TLS figures for lwmaild (issue 4). A benchmark, not a test: it prints
numbers; it fails only if a server dies or answers wrongly.

    scripts/bench-tls.sh                  # builds Release, runs this
    python3 tests/bench_tls.py --lwmaild build/bench/lwmaild \\
        --lwmaild-hsq build/bench/tests/lwmaild_hsq [--dovecot]

Figures:
  * static RAM of the TLS layer and per TLS session (nm -S on the core
    library; sizeof of the mbedTLS structures from a small C program built
    with the same configuration)
  * handshake time: median of N sequential IMAPS handshakes measured by
    the client (Python's ssl, OpenSSL), with the groups the client offers
    by default and with P-256 only; the server's CPU time per handshake
    (from /proc); STARTTLS from connect to the first response over TLS
  * the mbedTLS arena's high-water mark with 1, 4 and 8 handshakes at once
    (lwmaild restarted for each, N clients connect, then all handshake at
    the same moment; the peak from the log's "TLS session freed" lines).
    8 at once needs lwmaild_hsq: the default LWM_MAX_PREAUTH (4) lets no
    more than 4 connections handshake at a time. Also with 4 sessions
    logged in and held open while 4 more handshake.
  * FETCH BODY[] of a 4 MiB message over IMAPS and in plaintext: MB/s
    (median of R fetches), the server's CPU per fetch, and the ratio; the
    record sizes the server used
  * optionally (--dovecot, if `dovecot` is installed) the same FETCH and
    handshake against Dovecot with TLS, on the same machine

Every server runs on 127.0.0.1 with a port the kernel picks, in a
temporary directory that is removed afterwards. Python 3 standard library,
plus the openssl command (certificates for Dovecot) and cc (sizeof).
"""

import argparse
import functools
import os
import platform
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("LWM_INTEROP_FLASH_SIZE", "16M")
os.environ.setdefault("LWM_INTEROP_BLOCK_SIZE", "16K")
sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "interop"))
import lwmtest  # noqa: E402
from lwmtest import BenchClient as Client, BenchError, Daemon, fmt  # noqa: E402
from tls_test import (RecordTap, aead_overhead, big_message,  # noqa: E402
                      client_ctx, records)

HOST = "127.0.0.1"
USER, PASSWORD = lwmtest.USERS[0]
MiB = 1024 * 1024


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    rest = s[s.rfind(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


ROWS = []


def row(figure, value, note=""):
    ROWS.append((figure, value, note))
    print("  %-58s %s%s" % (figure, value, ("   (" + note + ")") if note else ""),
          flush=True)


# ------------------------------------------------------------ a small client

def open_client(port, tls, ctx=None, source=None):
    s = socket.create_connection((HOST, port), timeout=120,
                                 source_address=(source or HOST, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        s = (ctx or client_ctx()).wrap_socket(s)
    c = Client(s)
    g = c.line()
    if not g.startswith(b"* OK"):
        raise BenchError("greeting %r" % g)
    return c


# ------------------------------------------------------------ RAM

def static_ram(build):
    print("\n== static RAM", flush=True)
    lib = os.path.join(build, "liblwmail_core.a")
    out = subprocess.run(["nm", "-S", "--defined-only", lib],
                         capture_output=True, text=True, check=True).stdout
    sizes, cur = {}, None
    for ln in out.splitlines():
        if ln.endswith(".o:"):
            cur = ln[:-1]
            continue
        p = ln.split()
        if len(p) == 4 and p[2] in "bBdD":
            sizes[(cur, p[3])] = int(p[1], 16)
    tls = {k[1]: v for k, v in sizes.items() if k[0] == "tls.c.o"}
    opts = read_opts()
    S = opts["LWM_TLS_SESSIONS"]
    hdr = sizeof_program(build)
    pin, pout = tls["pool_in"] // S, tls["pool_out"] // S
    row("record buffer pool, in, per session (pool_in / sessions)",
        fmt(pin, "B"))
    row("record buffer pool, out, per session (pool_out / sessions)",
        fmt(pout, "B"), "LWM_TLS_OUT_LEN %d" % opts["LWM_TLS_OUT_LEN"])
    if hdr:
        row("sizeof(mbedtls_ssl_context) / sizeof(mbedtls_ssl_config)",
            "%d / %d B" % (hdr["ssl_context"], hdr["ssl_config"]))
        per = pin + pout + hdr["ssl_context"]
        row("static RAM per TLS session (in + out + ssl_context)",
            fmt(per, "B"), "16,429 + %d + 45 + %d"
            % (opts["LWM_TLS_OUT_LEN"], hdr["ssl_context"]))
    row("the arena (LWM_TLS_ARENA)", fmt(tls["arena"], "B"))
    row("TLS state, all sessions (static struct tls in tls.c)",
        fmt(tls["tls"], "B"))
    total = sum(tls.values())
    row("all of tls.c's static data (%d sessions)" % S, fmt(total, "B"))
    return opts


def read_opts():
    """The defaults in lwm_opts.h that the figures depend on."""
    want = ("LWM_MAX_SESSIONS", "LWM_TLS_OUT_LEN", "LWM_TLS_HANDSHAKES",
            "LWM_MAX_PREAUTH")
    src = os.path.join(ROOT, "include", "lwmail", "lwm_opts.h")
    prog = "#include <stdio.h>\n#include \"lwmail/lwm_opts.h\"\nint main(void){"
    for w in want + ("LWM_TLS_SESSIONS", "LWM_TLS_ARENA"):
        prog += 'printf("%s %%lu\\n", (unsigned long)(%s));' % (w, w)
    prog += "return 0;}\n"
    out = compile_run(prog, ["-I", os.path.join(ROOT, "include")])
    if out is None:
        raise BenchError("cannot compile against %s" % src)
    return {k: int(v) for k, v in (ln.split() for ln in out.splitlines())}


def mbedtls_include(build):
    """The mbedTLS headers the build used (its CMake cache says where)."""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            m = re.search(r"^LWM_MBEDTLS_SOURCE_DIR:\w+=(.+)$", f.read(), re.M)
    except OSError:
        m = None
    if m and os.path.exists(os.path.join(m.group(1), "include", "mbedtls",
                                         "ssl.h")):
        return os.path.join(m.group(1), "include")
    return None


def sizeof_program(build):
    inc = mbedtls_include(build)
    if not inc:
        print("    (no mbedTLS headers found through %s/CMakeCache.txt)"
              % build)
        return None
    prog = ('#include <stdio.h>\n#include "mbedtls/ssl.h"\n'
            'int main(void){printf("%lu %lu\\n", (unsigned long)'
            'sizeof(mbedtls_ssl_context), (unsigned long)'
            'sizeof(mbedtls_ssl_config));return 0;}\n')
    out = compile_run(prog, ["-I", os.path.join(ROOT, "include"), "-I", inc,
                             '-DMBEDTLS_CONFIG_FILE="lwmail/lwm_mbedtls_config.h"'])
    if not out:
        return None
    a, b = out.split()
    return {"ssl_context": int(a), "ssl_config": int(b)}


def compile_run(prog, flags):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    tmp = tempfile.mkdtemp(prefix="lwm-bench-sizeof-")
    try:
        c = os.path.join(tmp, "p.c")
        with open(c, "w") as f:
            f.write(prog)
        exe = os.path.join(tmp, "p")
        r = subprocess.run([cc, "-std=c11", "-o", exe, c] + flags,
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("    (cc: %s)" % r.stderr.strip()[:300])
            return None
        return subprocess.run([exe], capture_output=True, text=True,
                              check=True).stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------ handshakes

def handshake_times(port, n, ctx, server_cpu):
    """n sequential TLS handshakes on port: the client's times, and the
    server's CPU per handshake (server_cpu() returns its CPU seconds)."""
    times = []
    cpu0 = server_cpu()
    for _ in range(n):
        s = socket.create_connection((HOST, port), timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        t = ctx.wrap_socket(s)
        times.append(time.perf_counter() - t0)
        t.close()
        time.sleep(0.01)          # let the server see the close
    time.sleep(0.3)
    cpu = (server_cpu() - cpu0) / n
    return times, cpu


def starttls_times(d, n):
    times = []
    ctx = client_ctx()
    for _ in range(n):
        t0 = time.perf_counter()
        s = socket.create_connection((HOST, d.port), timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Client(s)
        c.line()
        s.sendall(b"a STARTTLS\r\n")
        if not c.line().startswith(b"a OK"):
            raise BenchError("STARTTLS refused")
        t = ctx.wrap_socket(s)
        t.sendall(b"b NOOP\r\n")
        c = Client(t)
        c.line()
        times.append(time.perf_counter() - t0)
        t.close()
        time.sleep(0.01)
    return times


def bench_handshakes(binary, n):
    print("\n== handshakes (%d sequential, IMAPS)" % n, flush=True)
    d = Daemon(binary, imap=True, imaps=True, plaintext_auth=False)
    try:
        d.start()
        server_cpu = functools.partial(cpu_seconds, d.proc.pid)
        handshake_times(d.tls_port, 5, client_ctx(), server_cpu)   # warm up
        res = {}
        p256 = client_ctx()
        p256.set_ecdh_curve("prime256v1")
        x25519 = client_ctx()
        x25519.set_ecdh_curve("X25519")
        for name, ctx in (("client's default groups", client_ctx()),
                          ("P-256 only", p256)):
            times, cpu = handshake_times(d.tls_port, n, ctx, server_cpu)
            res[name] = (times, cpu)
            row("handshake, %s: client median / p90" % name,
                "%s / %s" % (fmt(median(times) * 1e3, "ms"),
                             fmt(pct(times, 90) * 1e3, "ms")))
            row("handshake, %s: server CPU per handshake" % name,
                fmt(cpu * 1e3, "ms"))
        # which group the server picks when offered the default list
        r = subprocess.run(["openssl", "s_client", "-connect",
                            "%s:%d" % (HOST, d.tls_port), "-brief"],
                           input=b"", capture_output=True, timeout=30)
        m = re.search(rb"(?:Server Temp Key|Peer Temp Key): ([^\n]*)",
                      r.stdout + r.stderr)
        row("ECDHE group lwmaild picks from openssl's default list",
            m.group(1).decode().strip() if m else "?")
        # X25519 only: the server must not pick it with an ECDSA cert
        try:
            t = x25519.wrap_socket(socket.create_connection((HOST, d.tls_port),
                                                            timeout=30))
            t.close()
            row("client offering X25519 only", "handshake OK")
        except ssl.SSLError as e:
            row("client offering X25519 only", "refused (%s)" % e.reason)
        times = starttls_times(d, n)
        row("STARTTLS: connect to first response over TLS, median",
            fmt(median(times) * 1e3, "ms"))
        d.stop()
        return res
    finally:
        d.cleanup()


# ------------------------------------------------------------ arena

def together(port, n, sources, hold=None):
    """n clients connect, then handshake at the same moment, log in and
    out; returns how many succeeded."""
    barrier = threading.Barrier(n)
    ok = [False] * n

    def one(i):
        try:
            s = socket.create_connection((HOST, port), timeout=60,
                                         source_address=(sources[i], 0))
            barrier.wait(30)
            t = client_ctx().wrap_socket(s)
            c = Client(t)
            c.line()
            c.cmd("LOGIN %s %s" % (USER, PASSWORD))
            c.cmd("LOGOUT")
            t.close()
            ok[i] = True
        except (OSError, ssl.SSLError, BenchError,
                threading.BrokenBarrierError):
            pass
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    return sum(ok)


def bench_arena(binary, hsq, rounds):
    print("\n== arena high-water mark (lwmaild restarted for each run)",
          flush=True)
    out = {}
    cases = [(1, binary, 0), (4, binary, 0), (8, hsq, 0), (4, binary, 4)]
    for n, exe, held in cases:
        if not exe:
            continue
        peaks, fails, oks, idle = [], [], [], None
        for _ in range(rounds):
            d = Daemon(exe, imap=False, imaps=True, plaintext_auth=False)
            try:
                d.start()
                keep = []
                for i in range(held):
                    c = open_client(d.tls_port, True,
                                    source="127.0.0.%d" % (100 + i))
                    c.cmd("LOGIN %s %s" % (USER, PASSWORD))
                    keep.append(c)
                srcs = ["127.0.0.%d" % (120 + i // 2) for i in range(n)]
                oks.append(together(d.tls_port, n, srcs))
                for c in keep:
                    c.cmd("LOGOUT")
                    c.sock.close()
                d.wait_log(lambda t: (lambda m: m and m[-1][1] == m[-1][2])(
                    Daemon.ARENA.findall(t)), 30, "idle arena")
                last = d.arena_lines()[-1]
                peaks.append(last["peak"])
                fails.append(last["fails"])
                idle = last["idle"]
                d.stop()
            finally:
                d.cleanup()
        what = "%d at once%s%s" % (n, " (lwmaild_hsq)" if exe == hsq else "",
                                  ", %d sessions held open" % held
                                  if held else "")
        row("arena peak, %s: max of %d runs" % (what, rounds),
            fmt(max(peaks), "B"),
            "idle %s B; %d/%d handshakes OK; failed allocations %s"
            % (fmt(idle), sum(oks), n * rounds, ",".join(map(str, fails))))
        out[(n, held)] = (peaks, fails, oks)
    return out


# ------------------------------------------------------------ bulk FETCH

def seed_bulk(port, size):
    """Mailbox Bulk with one message of size bytes (in plaintext)."""
    msg = big_message(size, "bulk fetch over TLS", 9)
    c = open_client(port, False)
    c.cmd("LOGIN %s %s" % (USER, PASSWORD))
    c.cmd("CREATE Bulk")
    c.n += 1
    c.sock.sendall(b"b%d APPEND Bulk {%d+}\r\n" % (c.n, len(msg)) + msg
                   + b"\r\n")
    while not c.line().startswith(b"b%d OK" % c.n):
        pass
    c.cmd("LOGOUT")


def fetch_rate(port, tls, size, runs, pid, ctx=None):
    c = open_client(port, tls, ctx)
    c.cmd("LOGIN %s %s" % (USER, PASSWORD))
    c.cmd("SELECT Bulk")
    times = []
    cpu0 = cpu_seconds(pid) if pid else 0
    for _ in range(runs):
        t0 = time.perf_counter()
        lits, _ = c.cmd("UID FETCH 1 BODY.PEEK[]")
        times.append(time.perf_counter() - t0)
        if len(lits) != 1 or len(lits[0]) != size:
            raise BenchError("FETCH returned %r bytes"
                             % [len(x) for x in lits])
    cpu = (cpu_seconds(pid) - cpu0) / runs if pid else float("nan")
    c.cmd("LOGOUT")
    c.sock.close()
    return times, cpu


def bench_fetch(binary, size, runs):
    print("\n== FETCH BODY[] of a %d MiB message (%d runs each)"
          % (size // MiB, runs), flush=True)
    d = Daemon(binary, imap=True, imaps=True, plaintext_auth=True)
    try:
        d.start()
        seed_bulk(d.port, size)
        res = {}
        chacha = client_ctx()
        chacha.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305")
        for name, port, tls, ctx in (
                ("plaintext", d.port, False, None),
                ("IMAPS AES-128-GCM", d.tls_port, True, client_ctx()),
                ("IMAPS ChaCha20-Poly1305", d.tls_port, True, chacha)):
            fetch_rate(port, tls, size, 2, None, ctx)      # warm up
            times, cpu = fetch_rate(port, tls, size, runs, d.proc.pid, ctx)
            mbs = [size / MiB / t for t in times]
            res[name] = (median(mbs), cpu)
            row("FETCH %d MiB, %s: median rate" % (size // MiB, name),
                fmt(median(mbs), "MB/s"),
                "min %s, max %s" % (fmt(min(mbs)), fmt(max(mbs))))
            row("FETCH %d MiB, %s: server CPU per fetch" % (size // MiB, name),
                fmt(cpu * 1e3, "ms"),
                "%s MB per CPU second" % fmt(size / MiB / cpu)
                if cpu > 0 else "")
        for name in ("IMAPS AES-128-GCM", "IMAPS ChaCha20-Poly1305"):
            row("FETCH over %s / plaintext (rate)" % name,
                fmt(res[name][0] / res["plaintext"][0]))
        # the records lwmaild used for it
        tap = RecordTap(d.tls_port)
        c = open_client(tap.port, True)
        cipher = c.sock.cipher()[0]
        c.cmd("LOGIN %s %s" % (USER, PASSWORD))
        c.cmd("SELECT Bulk")
        mark = len(tap.s2c)
        c.cmd("UID FETCH 1 BODY.PEEK[]")
        c.cmd("LOGOUT")
        c.sock.close()
        tap.close()
        recs = [n - aead_overhead(cipher)
                for t, n, _ in records(bytes(tap.s2c[mark:])) if t == 23]
        big = sum(1 for n in recs if n > 2100)
        row("server records during that FETCH: count / mean / max payload",
            "%s / %s / %s B" % (fmt(len(recs)), fmt(sum(recs) / len(recs)),
                                fmt(max(recs))),
            "%d%% over 2,100 B; %s" % (100 * big // len(recs), cipher))
        d.stop()
        return res
    finally:
        d.cleanup()


# ------------------------------------------------------------ Dovecot

def bench_dovecot(size, runs, n_hs):
    sys.path.insert(0, HERE)
    import bench_imap
    print("\n== Dovecot with TLS (same client, TLS 1.2)", flush=True)
    work = tempfile.mkdtemp(prefix="lwm-bench-tls-dovecot-")
    srv = None
    try:
        os.chmod(work, 0o755)
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout",
                        key, "-out", cert, "-days", "2", "-subj",
                        "/CN=localhost"], check=True, capture_output=True)
        os.chmod(key, 0o644)
        tport = bench_imap.free_port()
        conf = bench_imap.DOVECOT_CONF.replace(
            "ssl = no", "ssl = yes\nssl_cert = <%s\nssl_key = <%s\n"
            "ssl_min_protocol = TLSv1.2" % (cert, key)).replace(
            "inet_listener imaps {{\n    port = 0",
            "inet_listener imaps {{\n    port = %d" % tport)
        bench_imap.DOVECOT_CONF = conf
        srv = bench_imap.Dovecot(work)
        srv.start()
        ctx12 = client_ctx(maximum_version=ssl.TLSVersion.TLSv1_2)
        seed_bulk(srv.port, size)
        res = {}

        aes = client_ctx(maximum_version=ssl.TLSVersion.TLSv1_2)
        aes.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        chacha = client_ctx(maximum_version=ssl.TLSVersion.TLSv1_2)
        chacha.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305")
        for name, port, tls, ctx in (
                ("plaintext", srv.port, False, None),
                ("IMAPS AES-128-GCM", tport, True, aes),
                ("IMAPS ChaCha20-Poly1305", tport, True, chacha)):
            fetch_rate(port, tls, size, 2, None, ctx)
            cpu0 = srv.cpu()
            times, _ = fetch_rate(port, tls, size, runs, None, ctx)
            cpu = (srv.cpu() - cpu0) / runs
            mbs = [size / MiB / t for t in times]
            res[name] = median(mbs)
            row("Dovecot FETCH %d MiB, %s: median rate" % (size // MiB, name),
                fmt(median(mbs), "MB/s"),
                "server CPU %s ms per fetch, all processes"
                % fmt(cpu * 1e3))
        for name in ("IMAPS AES-128-GCM", "IMAPS ChaCha20-Poly1305"):
            row("Dovecot FETCH over %s / plaintext (rate)" % name,
                fmt(res[name] / res["plaintext"]))
        times, cpu = handshake_times(tport, n_hs, ctx12, srv.cpu)
        row("Dovecot TLS 1.2 handshake: client median / p90",
            "%s / %s" % (fmt(median(times) * 1e3, "ms"),
                         fmt(pct(times, 90) * 1e3, "ms")),
            "server CPU %s ms per connection, all processes" % fmt(cpu * 1e3))
        return res
    finally:
        if srv:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lwmaild", required=True)
    ap.add_argument("--lwmaild-hsq", default="",
                    help="lwmaild_hsq (pre-auth limits raised) for 8 "
                         "handshakes at once")
    ap.add_argument("--handshakes", type=int, default=50)
    ap.add_argument("--arena-runs", type=int, default=3)
    ap.add_argument("--fetch-mib", type=int, default=4)
    ap.add_argument("--fetch-runs", type=int, default=10)
    ap.add_argument("--dovecot", action="store_true",
                    help="also measure Dovecot (needs dovecot installed)")
    a = ap.parse_args()
    binary = os.path.abspath(a.lwmaild)
    hsq = os.path.abspath(a.lwmaild_hsq) if a.lwmaild_hsq else ""
    build = os.path.dirname(binary)
    print("lwmaild %s; %s; Python %s, %s; %d CPUs" % (
        subprocess.run([binary, "--version"], capture_output=True,
                       text=True).stdout.strip(), platform.platform(),
        platform.python_version(), ssl.OPENSSL_VERSION, os.cpu_count()))
    static_ram(build)
    bench_handshakes(binary, a.handshakes)
    bench_arena(binary, hsq, a.arena_runs)
    bench_fetch(binary, a.fetch_mib * MiB, a.fetch_runs)
    if a.dovecot:
        if shutil.which("dovecot"):
            bench_dovecot(a.fetch_mib * MiB, a.fetch_runs, a.handshakes)
        else:
            print("\n(dovecot is not installed: skipped)")
    print("\n| figure | value | note |\n|---|---:|---|")
    for f, v, n in ROWS:
        print("| %s | %s | %s |" % (f, v, n))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, lwmtest.DaemonError) as e:
        print("bench_tls: %s" % e, file=sys.stderr)
        sys.exit(1)
