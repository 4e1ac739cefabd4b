"""Shared helpers for the lwmail interop tests (python3 standard library only).

  Daemon      starts lwmaild in a temporary directory on 127.0.0.1 port 0,
              learns the ports from its "imap ADDR:PORT" / "imaps ADDR:PORT"
              lines, stops it with SIGTERM and checks that it exits 0 with
              no sanitizer report; reads its log (TLS fingerprint, arena).
  Raw         a byte-exact IMAP client for checks imaplib can't express
              (exact response codes, literals, IDLE, protocol errors).
  parse()     IMAP response syntax into Python values (atoms, strings,
              literals, NIL, lists), enough for FETCH, LIST, STATUS, ESEARCH.
  mutf7_*     modified UTF-7 mailbox names (RFC 3501 5.1.3), written from
              the RFC here so the server's own codec is not trusted.
  seqset()    an IMAP sequence set to a set of numbers.
  main()      the test scripts' main: the lwmaild argument, unittest with
              the verbose runner, the summary line.
"""

import base64
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

USERS = (("alice", "secret1"), ("bob", "secret2"))
DEFAULT_MAILBOXES = ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive")
FLASH_SIZE = os.environ.get("LWM_INTEROP_FLASH_SIZE", "8M")
# 8 MiB in 4 KiB blocks is more blocks than the store's default table holds
# (LWM_STORE_MAX_BLOCKS 1024): the tests use 8 KiB blocks.
BLOCK_SIZE = os.environ.get("LWM_INTEROP_BLOCK_SIZE", "8K")
START_TIMEOUT = 60.0      # ASan build formatting a fresh image
STOP_TIMEOUT = 30.0
IO_TIMEOUT = 30.0         # one read on a socket

# Markers of a sanitizer report or a crash in the daemon's stderr.
SANITIZER_MARKERS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer",
                     b"runtime error:", b"SUMMARY: UndefinedBehaviorSanitizer",
                     b"AddressSanitizer:DEADLYSIGNAL")


def _die_with_parent():
    """In the child before exec: SIGTERM when the test process dies, so a
    killed test (a CTest timeout) leaves no daemon behind (Linux only)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class DaemonError(AssertionError):
    pass


class Daemon:
    """One lwmaild in its own temporary directory."""

    def __init__(self, binary, workdir=None, extra_args=(), users=USERS,
                 config=None, keep_dir=False, imap=True, imaps=False,
                 plaintext_auth=True, hostname=None, flash=None):
        """imap/imaps: listen for IMAP (with STARTTLS) / implicit TLS on
        127.0.0.1 port 0; plaintext_auth: pass --allow-plaintext-auth (the
        IMAP tests log in without TLS; the TLS tests turn it off)."""
        self.binary = os.path.abspath(binary)
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="lwm-interop-")
        self.keep_dir = keep_dir
        self.extra_args = list(extra_args)
        self.users = users
        self.config = config
        if not imap and not imaps and not config:
            raise ValueError("Daemon: no listener (lwmaild would take its "
                             "fixed default ports)")
        self.imap = imap
        self.imaps = imaps
        self.plaintext_auth = plaintext_auth
        self.hostname = hostname
        self.proc = None
        self.port = None          # the IMAP (STARTTLS) port
        self.tls_port = None      # the IMAPS port
        self.stderr_path = os.path.join(self.dir, "lwmaild.stderr")
        self.flash = flash or os.path.join(self.dir, "flash.img")

    def args(self):
        if self.config:
            return [self.binary, "--config", self.config] + self.extra_args
        a = [self.binary]
        if self.imap:
            a += ["--imap", "127.0.0.1:0"]
        if self.imaps:
            a += ["--imaps", "127.0.0.1:0"]
        a += ["--flash", self.flash, "--flash-size", FLASH_SIZE,
              "--block-size", BLOCK_SIZE]
        # plaintext logins on loopback: the IMAP tests are about IMAP; the
        # TLS ones (tls_test.py) start their daemons without this switch
        if self.plaintext_auth:
            a.append("--allow-plaintext-auth")
        if self.hostname:
            a += ["--hostname", self.hostname]
        for u, p in self.users:
            a += ["--user", "%s:%s" % (u, p)]
        return a + self.extra_args

    def start(self):
        err = open(self.stderr_path, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=err,
                                     cwd=self.dir, env=env,
                                     preexec_fn=_die_with_parent)
        err.close()
        self.port = self.tls_port = None
        for line in self._read_port_lines():
            m = re.match(rb"(imaps?) (\d+\.\d+\.\d+\.\d+):(\d+)\s*$", line)
            if not m:
                self.kill()
                raise DaemonError("unexpected stdout line %r; stderr:\n%s"
                                  % (line, self.stderr()))
            if m.group(2) != b"127.0.0.1":
                self.kill()
                raise DaemonError("daemon listens on %r, not loopback"
                                  % m.group(2))
            port = int(m.group(3))
            if port in (0, 25, 143, 465, 587, 993, 1143, 1993):
                self.kill()
                raise DaemonError("daemon reported port %d" % port)
            if m.group(1) == b"imap" and self.port is None:
                self.port = port
            elif m.group(1) == b"imaps" and self.tls_port is None:
                self.tls_port = port
        return self.port if self.port is not None else self.tls_port

    def _wanted_lines(self, buf):
        """All listener lines are there (lwmaild prints them at once)."""
        if b"\n" not in buf:
            return False
        if self.config:
            return True
        lines = buf.split(b"\n")[:-1]
        return ((not self.imap or any(x.startswith(b"imap ") for x in lines))
                and (not self.imaps or
                     any(x.startswith(b"imaps ") for x in lines)))

    def _read_port_lines(self):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while not self._wanted_lines(buf):
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill()
                    raise DaemonError("no 'imap ADDR:PORT' line within %ds;"
                                      " stderr:\n%s" % (START_TIMEOUT,
                                                        self.stderr()))
                if not sel.select(min(left, 1.0)):
                    if self.proc.poll() is not None:
                        break
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
        finally:
            sel.close()
        if not self._wanted_lines(buf):
            self.kill()
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
            raise DaemonError("daemon exited (%s) before listening; stdout %r;"
                              " stderr:\n%s" % (rc, buf, self.stderr()))
        return buf.split(b"\n")[:-1]

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # The log lines of the TLS layer (src/tls/tls.c)
    FINGERPRINT = re.compile(r"TLS certificate SHA-256 fingerprint "
                             r"((?:[0-9A-F]{2}:){31}[0-9A-F]{2})\s*$", re.M)
    ARENA = re.compile(r"session (\d+): TLS session freed: arena in use "
                       r"(\d+) B, idle (\d+) B, peak (\d+) B, "
                       r"failed allocations (\d+)\s*$", re.M)

    def fingerprints(self):
        """Every certificate fingerprint logged, as bytes (32 each)."""
        return [bytes.fromhex(m.group(1).replace(":", ""))
                for m in self.FINGERPRINT.finditer(self.stderr())]

    def arena_lines(self):
        """Every "TLS session freed" line: dicts with slot, used, idle,
        peak, fails (bytes, counts)."""
        return [dict(slot=int(m.group(1)), used=int(m.group(2)),
                     idle=int(m.group(3)), peak=int(m.group(4)),
                     fails=int(m.group(5)))
                for m in self.ARENA.finditer(self.stderr())]

    def wait_log(self, pred, timeout=30.0, what="a log line"):
        """Poll the log (20 times a second) until pred(stderr text) is
        true; raise DaemonError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.stderr()
            if pred(text):
                return text
            if not self.alive():
                raise DaemonError("daemon died waiting for %s; stderr:\n%s"
                                  % (what, text))
            if time.monotonic() > deadline:
                raise DaemonError("no %s within %.0f s; stderr tail:\n%s"
                                  % (what, timeout,
                                     "\n".join(text.splitlines()[-30:])))
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass

    def stop(self):
        """SIGTERM; raise DaemonError unless it exits 0 with a clean log."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
                raise DaemonError("daemon ignored SIGTERM for %ds; stderr:\n%s"
                                  % (STOP_TIMEOUT, self.stderr()))
        else:
            rc = proc.returncode
            raise DaemonError("daemon died during the test (exit %s);"
                              " stderr:\n%s" % (rc, self.stderr()))
        if proc.stdout:
            proc.stdout.close()
        raw = self.stderr().encode()
        bad = [m for m in SANITIZER_MARKERS if m in raw]
        if rc != 0 or bad:
            raise DaemonError("daemon exit %s after SIGTERM%s; stderr:\n%s"
                              % (rc, " with a sanitizer report" if bad else "",
                                 self.stderr()))

    def cleanup(self):
        self.kill()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if self.own_dir and not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------ raw client

class ProtocolError(AssertionError):
    pass


def fmt(v, unit=""):
    """A benchmark figure as text: thousands separated, 3 digits or so."""
    if isinstance(v, float):
        if v != v:
            return "n/a"
        if abs(v) >= 100:
            s = "{:,.0f}".format(v)
        elif abs(v) >= 10:
            s = "{:.1f}".format(v)
        else:
            s = "{:.2f}".format(v)
    elif isinstance(v, int):
        s = "{:,}".format(v)
    else:
        s = str(v)
    return s + (" " + unit if unit else "")


class BenchError(Exception):
    """A benchmark's client saw something it cannot measure through."""


class BenchClient:
    """IMAP over an already connected socket (plain or TLS) with raw
    reads: fast enough that the server, not the client, sets the pace of
    a bulk FETCH. The benchmarks (tests/bench_tls.py,
    tests/qemu/bench_fw.py) use it."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.n = 0

    def _fill(self):
        d = self.sock.recv(1 << 20)
        if not d:
            raise BenchError("connection closed by the server")
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return out
            self._fill()

    def take(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def cmd(self, text, literal=None):
        """Send a command (with literal as a LITERAL+ literal at its end);
        returns (the literals of the answer, the tagged OK line)."""
        self.n += 1
        tag = b"b%d" % self.n
        if literal is None:
            self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + text.encode() +
                              b" {%d+}\r\n" % len(literal))
            self.sock.sendall(literal)
            self.sock.sendall(b"\r\n")
        lits = []
        while True:
            ln = self.line()
            m = re.search(rb"\{(\d+)\}\r\n$", ln)
            if m:
                lits.append(self.take(int(m.group(1))))
                continue
            if ln.startswith(tag + b" "):
                if not ln.startswith(tag + b" OK"):
                    raise BenchError("%s -> %r" % (text, ln))
                return lits, ln


class Raw:
    """A byte-level IMAP client: commands as bytes, responses as bytes."""

    LITERAL_END = re.compile(rb"\{(\d+)\+?\}\r\n$")

    def __init__(self, port, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.ntag = 0
        self.greeting = self.read_response()

    def close(self):
        try:
            self.file.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self):
        line = self.file.readline(1 << 20)
        if not line:
            raise EOFError("connection closed by the server")
        if not line.endswith(b"\r\n"):
            raise ProtocolError("response line without CRLF: %r" % line[:200])
        return line

    def read_response(self):
        """One response, literals included, without the final CRLF."""
        out = b""
        for _ in range(10000):
            line = self.readline()
            out += line
            m = self.LITERAL_END.search(line)
            if not m:
                return out[:-2]
            n = int(m.group(1))
            data = self.file.read(n)
            if len(data) != n:
                raise EOFError("connection closed inside a literal")
            out += data
        raise ProtocolError("response with more than 10000 literals")

    def tag(self):
        self.ntag += 1
        return "t%d" % self.ntag

    def cmd(self, line, tag=None, max_responses=200000):
        """Send one command line; return (untagged list, tagged line)."""
        tag = tag or self.tag()
        if isinstance(line, str):
            line = line.encode()
        self.send(tag.encode() + b" " + line + b"\r\n")
        return self.collect(tag, max_responses)

    def collect(self, tag, max_responses=200000):
        t = tag.encode() + b" "
        untagged = []
        for _ in range(max_responses):
            r = self.read_response()
            if r.startswith(t):
                return untagged, r
            if r.startswith(b"+"):
                raise ProtocolError("unexpected continuation %r" % r)
            untagged.append(r)
        raise ProtocolError("no tagged response after %d responses"
                            % max_responses)

    def ok(self, line, tag=None):
        untagged, tagged = self.cmd(line, tag)
        status = tagged.split(b" ", 2)[1:2]
        if status != [b"OK"]:
            raise ProtocolError("%r -> %r" % (line, tagged))
        return untagged, tagged

    def login(self, user="alice", password="secret1"):
        return self.ok('LOGIN "%s" "%s"' % (user, password))

    def append(self, mailbox, msg, flags="", date=None):
        """APPEND with a synchronizing literal; returns the tagged line."""
        tag = self.tag()
        head = "%s APPEND %s" % (tag, mailbox)
        if flags:
            head += " (%s)" % flags
        if date:
            head += ' "%s"' % date
        self.send(head.encode() + b" {%d}\r\n" % len(msg))
        r = self.read_response()
        if not r.startswith(b"+"):
            raise ProtocolError("APPEND: no continuation, got %r" % r)
        self.send(msg + b"\r\n")
        untagged, tagged = self.collect(tag)
        return tagged


def status_of(tagged):
    """b't1 OK [X] text' -> 'OK'."""
    parts = tagged.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 else ""


def code_of(line):
    """The response code of a status response: b'... OK [APPENDUID 1 2] x'
    -> 'APPENDUID 1 2' (None without one)."""
    m = re.match(rb"^\S+ (?:OK|NO|BAD|BYE|PREAUTH) \[([^\]]*)\]", line)
    return m.group(1).decode() if m else None


# ------------------------------------------------------------ parser

class Atom(bytes):
    """An unquoted IMAP atom (NIL is returned as None instead)."""


class String(bytes):
    """A quoted string or a literal."""


_ATOM_STOP = b" ()\r\n\"{"


def parse(data):
    """Parse IMAP response data (bytes) into a list of values."""
    values, pos = _parse_seq(data, 0, None)
    return values


def _parse_seq(data, pos, close):
    out = []
    n = len(data)
    while pos < n:
        c = data[pos:pos + 1]
        if c == b" ":
            pos += 1
        elif c == b"(":
            sub, pos = _parse_seq(data, pos + 1, b")")
            out.append(sub)
        elif c == b")":
            if close != b")":
                raise ProtocolError("unbalanced ')' at %d in %r" % (pos, data[:300]))
            return out, pos + 1
        elif c == b'"':
            s = bytearray()
            pos += 1
            while True:
                if pos >= n:
                    raise ProtocolError("unterminated quoted string")
                ch = data[pos:pos + 1]
                if ch == b"\\":
                    s += data[pos + 1:pos + 2]
                    pos += 2
                elif ch == b'"':
                    pos += 1
                    break
                else:
                    s += ch
                    pos += 1
            out.append(String(bytes(s)))
        elif c == b"{" or data.startswith(b"~{", pos):
            if c == b"~":
                pos += 1
            m = re.compile(rb"\{(\d+)\+?\}\r\n").match(data, pos)
            if not m:
                raise ProtocolError("bad literal at %d: %r" % (pos, data[pos:pos + 20]))
            ln = int(m.group(1))
            start = m.end()
            if start + ln > n:
                raise ProtocolError("literal runs past the response")
            out.append(String(data[start:start + ln]))
            pos = start + ln
        elif c in (b"\r", b"\n"):
            pos += 1
        else:
            start = pos
            depth = 0
            while pos < n:
                ch = data[pos:pos + 1]
                if ch == b"[":
                    depth += 1
                elif ch == b"]":
                    depth -= 1
                elif depth == 0 and ch in (b" ", b"(", b")", b"\r", b"\n"):
                    if ch == b"(" and pos > start:
                        raise ProtocolError("'(' inside an atom at %d: %r"
                                            % (pos, data[start:pos + 10]))
                    break
                pos += 1
            word = data[start:pos]
            out.append(None if word.upper() == b"NIL" else Atom(word))
    if close is not None:
        raise ProtocolError("missing ')' in %r" % data[:300])
    return out, pos


def fetch_items(response):
    """b'* 3 FETCH (UID 7 FLAGS (\\Seen))' -> (3, {'UID': b'7', ...}).
    Item names are upper-cased (section text included)."""
    v = parse(response)
    if len(v) != 4 or v[0] != b"*" or v[2].upper() != b"FETCH" \
            or not isinstance(v[3], list):
        raise ProtocolError("not a FETCH response: %r" % response[:300])
    items = v[3]
    if len(items) % 2:
        raise ProtocolError("odd FETCH item list: %r" % response[:300])
    d = {}
    for i in range(0, len(items), 2):
        name = items[i].decode().upper()
        if name in d:
            raise ProtocolError("item %s twice in %r" % (name, response[:300]))
        d[name] = items[i + 1]
    return int(v[1]), d


def fetches(untagged):
    """All FETCH responses among untagged ones: {seq: items}."""
    out = {}
    for r in untagged:
        if re.match(rb"^\* \d+ FETCH ", r, re.I):
            seq, items = fetch_items(r)
            out.setdefault(seq, {}).update(items)
    return out


def seqset(text):
    """'1:3,7,9:8' -> {1, 2, 3, 7, 8, 9} (no '*')."""
    out = set()
    if isinstance(text, bytes):
        text = text.decode()
    for part in text.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            if a > b:
                a, b = b, a
            if b - a > 1000000:
                raise ProtocolError("huge range %s" % part)
            out.update(range(a, b + 1))
        else:
            out.add(int(part))
    return out


def to_seqset(nums):
    """{1,2,3,7} -> '1:3,7'."""
    nums = sorted(nums)
    runs = []
    for n in nums:
        if runs and runs[-1][1] == n - 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(str(a) if a == b else "%d:%d" % (a, b) for a, b in runs)


# ------------------------------------------------------------ mailbox names

def mutf7_encode(name):
    """Modified UTF-7 (RFC 3501 5.1.3) of a Unicode mailbox name."""
    out = []
    run = []

    def flush():
        if run:
            b = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=")
                       .replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(name):
    out = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        j = name.index("-", i)
        if j == i + 1:
            out.append("&")
        else:
            b64 = name[i + 1:j].replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            out.append(base64.b64decode(b64).decode("utf-16-be"))
        i = j + 1
    return "".join(out)


# ------------------------------------------------------------ messages

def make_message(subject, sender="Alice Example <alice@example.org>",
                 to="Bob <bob@example.org>", body="Hello.\r\n",
                 date="Mon, 07 Feb 2022 21:52:25 -0800", extra_headers=(),
                 msgid=None):
    """A plain RFC 5322 message with CRLF line ends (bytes)."""
    hdr = ["From: " + sender, "To: " + to, "Subject: " + subject,
           "Date: " + date,
           "Message-ID: " + (msgid or "<%s@interop.example>"
                             % re.sub(r"[^A-Za-z0-9]", "", subject)[:40]),
           "MIME-Version: 1.0",
           "Content-Type: text/plain; charset=utf-8"]
    hdr += list(extra_headers)
    return ("\r\n".join(hdr) + "\r\n\r\n").encode() + \
        (body.encode() if isinstance(body, str) else body)


def join_imaplib(data):
    """imaplib's FETCH data (bytes and (header, literal) tuples) back into
    whole '* n FETCH (...)' responses for lwmtest.parse."""
    out = []
    cur = b""
    for el in data:
        if el is None:
            continue
        if isinstance(el, tuple):
            cur += el[0] + b"\r\n" + el[1]
            continue
        cur += el
        out.append(cur)
        cur = b""
    if cur:
        out.append(cur)
    resp = []
    for r in out:
        m = re.match(rb"^(\d+) \(", r)
        if not m:
            raise AssertionError("unexpected FETCH data %r" % r[:200])
        resp.append(b"* " + m.group(1) + b" FETCH " + r[len(m.group(1)) + 1:])
    return resp


def main(suite, script_globals):
    """The interop test scripts' main: `script.py PATH/TO/lwmaild [unittest
    args]` (PATH/TO/lwmaild may instead come from $LWMAILD, as the script's
    LWMAILD). Sets the script's LWMAILD (in script_globals, its globals())
    to the daemon's absolute path, runs the tests of __main__ with
    unittest's verbose runner and prints "SUITE: N passed, N failed, N
    skipped", and the number of expected failures (known server bugs) if
    there are any. Returns the exit status: 0 when every test passed (and
    at least one ran), 1 when not, 2 without an executable lwmaild."""
    args = sys.argv[1:]
    if args and not args[0].startswith("-") and os.path.exists(args[0]):
        script_globals["LWMAILD"] = os.path.abspath(args.pop(0))
    lwmaild = script_globals["LWMAILD"]
    if not lwmaild or not os.access(lwmaild, os.X_OK):
        print("usage: %s PATH/TO/lwmaild [unittest args]" % sys.argv[0],
              file=sys.stderr)
        return 2
    prog = unittest.main(argv=[sys.argv[0]] + args, exit=False,
                         testRunner=unittest.TextTestRunner(verbosity=2))
    r = prog.result
    failed = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
    passed = r.testsRun - failed - len(r.skipped) - len(r.expectedFailures)
    print("%s: %d passed, %d failed, %d skipped"
          % (suite, passed, failed, len(r.skipped)))
    if r.expectedFailures:
        print("%s: %d expected failures (known server bugs)"
              % (suite, len(r.expectedFailures)))
    return 0 if r.wasSuccessful() and r.testsRun else 1
