#!/usr/bin/env python3
"""Boot the lwmail firmware under QEMU (mps2-an385) and talk to it.

    qemu_test.py REPO_ROOT WORKDIR [LWMAILD]

LWMAILD (the host server, for step 5) defaults to $LWM_LWMAILD, then to
WORKDIR/../lwmaild (the build tree the test is registered in).

1. builds firmware/ into WORKDIR/fw (cmake + ninja, the board's toolchain)
   and prints the size report;
2. checks the final .elf: no malloc, free, calloc, realloc or _sbrk (nor
   their reentrant _r forms) anywhere in the symbol table;
3. boots it with `timeout` around QEMU, user-mode networking and host
   forwarding from free loopback ports (picked at run time, 127.0.0.1 only)
   to the firmware's 993 and 143, the flash image in WORKDIR;
4. with the IMAP server built in (ports/lwip present): an IMAPS session
   with imaplib (login, APPEND and FETCH byte-exact up to 5 MB, curl
   imaps://, STARTTLS on 143, IDLE push between two sessions, 4 TLS
   sessions at once), a clean shutdown from the console, then a restart
   on the same flash image: the messages are still there. Without it (echo bring-up build): TCP greeting + echo;
5. a 2,000-message store (the issue's sizing target): LWMAILD (the host
   server, ports/posix) makes a flash image with the board's geometry
   (64 KiB blocks x 128, 4-byte programs) and takes 2,000 small messages
   over pipelined LITERAL+ APPENDs; the firmware boots on that file and
   4 TLS sessions at once each SELECT INBOX (EXISTS 2000), FETCH sizes of
   all 2,000 and a few bodies byte-exact, UID SEARCH against the model
   and STORE flags; then the figures, a clean shutdown and a restart on
   the file (the flags are there);
6. a short boot with runfor=: the firmware ends itself and QEMU exits 0
   through semihosting.

Exit 0 when every check passes. The last line is "N passed, N failed".
"""
import imaplib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

USER, PASSWORD = "mail", "lwmail-qemu"      # the QEMU board's default
QEMU_TIMEOUT = 150                          # seconds, per boot

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok   %s" % what, flush=True)
    else:
        failed += 1
        print("FAIL %s" % what, flush=True)
    return cond


def finish():
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(0 if failed == 0 else 1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------ build

def build(root, work, name="fw", options=()):
    """Build firmware/ into WORKDIR/name (cmake -D options) and print its
    size report; the .elf's path."""
    cmake = os.environ.get("CMAKE", "cmake")
    fw = os.path.join(work, name)
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    cache = os.path.join(fw, "CMakeCache.txt")
    if os.path.exists(cache) and \
            ("CMAKE_HOME_DIRECTORY:INTERNAL=%s/firmware\n" % root) \
            not in open(cache).read():
        shutil.rmtree(fw)
    subprocess.run([cmake, "-S", os.path.join(root, "firmware"), "-B", fw]
                   + gen + ["-D" + o for o in options], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([cmake, "--build", fw, "-j",
                    os.environ.get("LWM_JOBS", "2")], check=True)
    elf = os.path.join(fw, "lwmail-qemu-mps2-an385.elf")
    size = subprocess.run([cmake, "--build", fw, "--target", "size"],
                          capture_output=True, text=True)
    print(size.stdout)
    return elf


def check_no_heap(elf):
    out = subprocess.run(["arm-none-eabi-nm", elf], check=True,
                         capture_output=True, text=True).stdout
    syms = {line.split()[-1] for line in out.splitlines() if line.strip()}
    bad = sorted(syms & {"malloc", "free", "calloc", "realloc", "_sbrk",
                         "_malloc_r", "_free_r", "_calloc_r", "_realloc_r",
                         "sbrk", "_sbrk_r"})
    check(not bad, "no heap in the image (%s)" % (", ".join(bad) or
                                                  "no malloc/free/_sbrk"))
    with open(elf, "rb") as f:
        data = f.read()
    check(data[:4] == b"\x7fELF", "image is an ELF file")


# ------------------------------------------------------------ QEMU

class Board:
    """One boot of the firmware; the console is collected in a thread."""

    def __init__(self, elf, work, append, fwd=True):
        self.log = []
        self.ports = {}
        nic = "user,model=lan9118"
        if fwd:
            self.ports = {993: free_port(), 143: free_port()}
            for guest, host in self.ports.items():
                nic += ",hostfwd=tcp:127.0.0.1:%d-:%d" % (host, guest)
        cmd = ["timeout", "-s", "KILL", str(QEMU_TIMEOUT),
               "qemu-system-arm", "-M", "mps2-an385", "-nographic",
               "-semihosting", "-kernel", elf, "-nic", nic,
               "-append", append]
        self.p = subprocess.Popen(cmd, cwd=work, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.log.append(line)
            print("  | " + line, flush=True)

    def wait_for(self, pattern, timeout=60, mark=0):
        """First console line matching pattern, from log index mark on."""
        rx = re.compile(pattern)
        end = time.time() + timeout
        seen = mark
        while time.time() < end:
            while seen < len(self.log):
                m = rx.search(self.log[seen])
                seen += 1
                if m:
                    return m
            if self.p.poll() is not None and seen >= len(self.log):
                self.t.join(1)
                if seen >= len(self.log):
                    return None
            time.sleep(0.05)
        return None

    def faulted(self):
        """The console reported a hard fault or a panic."""
        return any("HARD FAULT" in ln or "PANIC" in ln for ln in self.log)

    def console(self, text):
        """Type on the board's console (UART0 through QEMU's stdin)."""
        self.p.stdin.write(text)
        self.p.stdin.flush()

    def quit(self, timeout=30):
        """Console "q": sessions get BYE, QEMU exits through semihosting."""
        mark = len(self.log)
        self.console(b"q")
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        self.t.join(5)
        return rc, self.log[mark:]

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.t.join(5)
        return self.p.returncode


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE     # the board's generated certificate
    return ctx


def message(n, size):
    body = (b"line %d of a test message for the firmware\r\n" % n) * \
        (size // 44 + 1)
    body = body[:size]
    body = body[:body.rfind(b"\r\n") + 2]     # whole lines
    return (b"From: qemu-test@example.org\r\nTo: mail@lwmail-qemu\r\n"
            b"Subject: firmware test %d\r\nMessage-ID: <fw%d@test>\r\n\r\n"
            % (n, n)) + body


# ------------------------------------------------------------ checks

def echo_checks(b):
    s = socket.create_connection(("127.0.0.1", b.ports[993]), timeout=10)
    greet = s.recv(200)
    check(greet.startswith(b"* OK"), "greeting over the emulated NIC: %r"
          % greet[:40])
    data = bytes(range(256)) * 64
    s.sendall(data)
    got = b""
    s.settimeout(10)
    while len(got) < len(data):
        c = s.recv(65536)
        if not c:
            break
        got += c
    check(got == data, "16 KB echoed byte-exact")
    s.close()


def imaps_checks(b, msgs):
    t0 = time.time()
    m = imaplib.IMAP4_SSL("127.0.0.1", b.ports[993], ssl_context=tls_ctx(),
                          timeout=30)
    check(m.welcome.startswith(b"* OK"), "IMAPS greeting after the TLS "
          "handshake (%.2f s)" % (time.time() - t0))
    typ, _ = m.login(USER, PASSWORD)
    check(typ == "OK", "LOGIN over TLS")
    typ, d = m.select("INBOX")
    check(typ == "OK", "SELECT INBOX")
    uids = []
    for n, size in enumerate([300, 20000, 200000, 5000000]):
        body = message(n, size)
        t = time.time()
        typ, d = m.append("INBOX", None, None, body)
        ok = typ == "OK" and b"APPENDUID" in d[0]
        check(ok, "APPEND %d bytes (%.2f s)" % (len(body), time.time() - t))
        if ok:
            uids.append(int(d[0].split()[2].rstrip(b"]")))
        msgs.append(body)
    for uid, body in zip(uids, msgs):
        t = time.time()
        typ, d = m.uid("fetch", str(uid), "(BODY.PEEK[])")
        got = d[0][1] if typ == "OK" and d and isinstance(d[0], tuple) \
            else None
        if not check(got == body, "FETCH uid %d byte-exact (%d bytes, "
                     "%.2f s)" % (uid, len(body), time.time() - t)):
            print("     sent ...%r\n     got  %r" % (body[-40:], d))

    # curl over IMAPS, when installed (scripts/deps.sh installs it)
    if shutil.which("curl") and uids:
        r = subprocess.run(
            ["curl", "-sk", "--max-time", "60", "--user",
             "%s:%s" % (USER, PASSWORD),
             "imaps://127.0.0.1:%d/INBOX;UID=%d" % (b.ports[993], uids[-1])],
            capture_output=True, timeout=90)
        check(r.returncode == 0 and r.stdout == msgs[len(uids) - 1],
              "curl imaps:// FETCH byte-exact (rc %d, %d bytes)"
              % (r.returncode, len(r.stdout)))

    # openssl s_client, on IMAPS and with -starttls imap on 143
    if shutil.which("openssl") and uids:
        for args, what in ((["-connect", "127.0.0.1:%d" % b.ports[993]],
                            "IMAPS"),
                           (["-connect", "127.0.0.1:%d" % b.ports[143],
                             "-starttls", "imap"], "STARTTLS")):
            script = ("a LOGIN %s %s\r\nb SELECT INBOX\r\n"
                      "c UID FETCH %d (BODY.PEEK[])\r\nd LOGOUT\r\n"
                      % (USER, PASSWORD, uids[1])).encode()
            r = subprocess.run(["openssl", "s_client", "-quiet",
                                "-ign_eof"] + args, input=script,
                               capture_output=True, timeout=90)
            out = r.stdout
            check(b"a OK" in out and b"d OK" in out and msgs[1] in out,
                  "openssl s_client (%s): LOGIN, FETCH byte-exact, LOGOUT"
                  % what)

    # mbsync: the INBOX into a Maildir over IMAPS, verifying the board's
    # self-signed certificate as its own trust anchor
    if shutil.which("mbsync") and shutil.which("openssl") and uids:
        tmp = tempfile.mkdtemp(prefix="lwm-qemu-mbsync-")
        try:
            pem = ssl.DER_cert_to_PEM_cert(
                tls_ctx().wrap_socket(socket.create_connection(
                    ("127.0.0.1", b.ports[993]), timeout=30)
                ).getpeercert(binary_form=True))
            with open(os.path.join(tmp, "cert.pem"), "w") as f:
                f.write(pem)
            os.mkdir(os.path.join(tmp, "mail"))
            with open(os.path.join(tmp, "mbsyncrc"), "w") as f:
                f.write("IMAPAccount fw\nHost 127.0.0.1\nPort %d\n"
                        "User %s\nPass %s\nSSLType IMAPS\n"
                        "CertificateFile %s\n\n"
                        "IMAPStore fw-remote\nAccount fw\n\n"
                        "MaildirStore fw-local\nPath %s/\nInbox %s/INBOX\n\n"
                        "Channel fw\nFar :fw-remote:\nNear :fw-local:\n"
                        "Patterns INBOX\nCreate Near\nSync Pull\n"
                        "SyncState *\n"
                        % (b.ports[993], USER, PASSWORD,
                           os.path.join(tmp, "cert.pem"),
                           os.path.join(tmp, "mail"),
                           os.path.join(tmp, "mail")))
            r = subprocess.run(["mbsync", "-c", os.path.join(tmp, "mbsyncrc"),
                                "-a"], capture_output=True, timeout=120)
            got = []
            for sub in ("cur", "new"):
                d = os.path.join(tmp, "mail", "INBOX", sub)
                for name in os.listdir(d) if os.path.isdir(d) else []:
                    with open(os.path.join(d, name), "rb") as f:
                        got.append(f.read())
            # a Maildir keeps LF line ends, and mbsync adds its X-TUID
            # header: compare in that form
            got = [re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", x, count=1)
                   for x in got]
            want = [x.replace(b"\r\n", b"\n") for x in msgs[:len(uids)]]
            check(r.returncode == 0 and sorted(got) == sorted(want),
                  "mbsync over IMAPS: %d of %d messages byte-exact (rc %d%s)"
                  % (len(set(got) & set(want)), len(uids), r.returncode,
                     ("; " + r.stderr.decode(errors="replace")[-200:])
                     if r.returncode else ""))
        finally:
            shutil.rmtree(tmp, True)

    # the plain port with STARTTLS
    p = imaplib.IMAP4("127.0.0.1", b.ports[143], timeout=30)
    caps = p.capabilities
    p.starttls(ssl_context=tls_ctx())
    typ, _ = p.login(USER, PASSWORD)
    check("STARTTLS" in caps and typ == "OK",
          "port 143: STARTTLS, then LOGIN")
    p.logout()

    # a second session, IDLE in the first: an APPEND is pushed
    m2 = imaplib.IMAP4_SSL("127.0.0.1", b.ports[993], ssl_context=tls_ctx(),
                           timeout=30)
    m2.login(USER, PASSWORD)
    tag = m._new_tag().decode()
    m.send(("%s IDLE\r\n" % tag).encode())
    cont = m.readline()
    check(cont.startswith(b"+"), "IDLE accepted")
    body = message(9, 500)
    m2.append("INBOX", None, None, body)
    msgs.append(body)
    m.sock.settimeout(5)
    t = time.time()
    pushed = b""
    # curl's FETCH set \Seen on a message: that FETCH may come first
    while time.time() - t < 5:
        pushed = m.readline()
        if not pushed or re.match(rb"\* \d+ EXISTS", pushed):
            break
    check(re.match(rb"\* \d+ EXISTS", pushed) is not None,
          "IDLE push from the other session: %r (%.2f s)"
          % (pushed.strip(), time.time() - t))
    m.send(b"DONE\r\n")
    while True:
        line = m.readline()
        if not line or line.startswith(tag.encode()):
            break
    m.sock.settimeout(30)
    typ, d = m2.status("INBOX", "(MESSAGES)")
    check(typ == "OK" and b"MESSAGES %d" % len(msgs) in d[0],
          "STATUS from the second session: %r" % d[0])
    m2.logout()
    m.logout()

    # four TLS sessions at once (handshakes beyond LWM_TLS_HANDSHAKES wait)
    results = []

    def one(i):
        try:
            t = time.time()
            c = imaplib.IMAP4_SSL("127.0.0.1", b.ports[993],
                                  ssl_context=tls_ctx(), timeout=60)
            c.login(USER, PASSWORD)
            c.select("INBOX", readonly=True)
            typ, d = c.fetch("2", "(BODY.PEEK[])")
            ok = typ == "OK" and d[0][1] == msgs[1]
            c.logout()
            results.append((ok, time.time() - t))
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as e:
            results.append((False, repr(e)))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    check(len(results) == 4 and all(r[0] for r in results),
          "4 concurrent TLS sessions: login, FETCH byte-exact (%s)"
          % ", ".join("%.2f s" % r[1] if r[0] else str(r[1])
                      for r in results))


def restart_checks(b, msgs):
    m = imaplib.IMAP4_SSL("127.0.0.1", b.ports[993], ssl_context=tls_ctx(),
                          timeout=30)
    m.login(USER, PASSWORD)
    typ, d = m.select("INBOX", readonly=True)
    check(typ == "OK" and int(d[0]) == len(msgs),
          "after restart: %s messages in INBOX" % d[0].decode())
    for i, body in enumerate(msgs):
        typ, d = m.fetch(str(i + 1), "(BODY.PEEK[])")
        got = d[0][1] if typ == "OK" and d and isinstance(d[0], tuple) \
            else None
        check(got == body, "after restart: message %d byte-exact" % (i + 1))
    m.logout()


# ------------------------------------------------------------ 2,000 messages

BIG_COUNT = 2000
KINDS = ["temperature", "door", "ups", "nas", "camera"]
HOSTS = ["router", "nas", "ups", "cam1", "printer", "heating", "doorbell"]


def small_message(i):
    """Message i (1-based) of the big store: 300 B to 1.3 KB, a subject
    and a sender a SEARCH can pick out."""
    kind = KINDS[i % len(KINDS)]
    host = HOSTS[i % len(HOSTS)]
    lines = b"".join(b"%s: reading %d.%d of %s, all fine\r\n"
                     % (host.encode(), i, k, kind.encode())
                     for k in range(i % 23 + 3))
    return (b"From: %s <%s@home.lan>\r\nTo: mail@lwmail-qemu\r\n"
            b"Subject: %s report %d\r\nMessage-ID: <big%d@home.lan>\r\n"
            b"Date: Mon, 30 Nov 2026 12:%02d:%02d +0000\r\n\r\n"
            % (host.encode(), host.encode(), kind.encode(), i, i,
               (i // 60) % 60, i % 60)) + lines


def find_lwmaild(work):
    for c in (sys.argv[3] if len(sys.argv) > 3 else "",
              os.environ.get("LWM_LWMAILD", ""),
              os.path.join(os.path.dirname(work), "lwmaild")):
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    return None


def imap_read_until(sock, buf, tag):
    """Read lines until the one tagged tag; returns (lines, rest)."""
    lines = []
    while True:
        i = buf.find(b"\r\n")
        if i < 0:
            d = sock.recv(65536)
            if not d:
                raise OSError("connection closed")
            buf += d
            continue
        ln, buf = buf[:i + 2], buf[i + 2:]
        lines.append(ln)
        if ln.startswith(tag + b" "):
            return lines, buf


def make_big_store(lwmaild, work, flash):
    """The host server formats an image with the board's geometry and takes
    BIG_COUNT messages; returns their UIDs (message i -> uids[i-1])."""
    if os.path.exists(flash):
        os.unlink(flash)
    # made in RAM when there is /dev/shm (lwmaild msyncs every APPEND),
    # then moved next to the other images
    tmp = tempfile.mkdtemp(prefix="lwm-qemu-big-", dir="/dev/shm"
                           if os.path.isdir("/dev/shm") else None)
    made = os.path.join(tmp, "flash.img")
    log = open(os.path.join(work, "lwmaild-big.log"), "wb")
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    p = subprocess.Popen(
        ["timeout", "-s", "KILL", "120", lwmaild, "--imap", "127.0.0.1:0",
         "--flash", made, "--flash-size", "8M", "--block-size", "64K",
         "--allow-plaintext-auth", "--user", "%s:%s" % (USER, PASSWORD),
         "--hostname", "lwmail-qemu"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
        cwd=work, env=env)
    uids = []
    try:
        line = p.stdout.readline()
        m = re.match(rb"imap 127\.0\.0\.1:(\d+)", line)
        if not check(m is not None, "host lwmaild on the board's geometry "
                     "(8 MiB, 64 KiB blocks): %r" % line.strip()):
            return uids
        s = socket.create_connection(("127.0.0.1", int(m.group(1))),
                                     timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = s.recv(4096)
        s.sendall(b"a LOGIN %s %s\r\n" % (USER.encode(), PASSWORD.encode()))
        lines, buf = imap_read_until(s, buf, b"a")
        check(lines[-1].startswith(b"a OK"), "host: LOGIN")
        t = time.time()
        batch = 100
        for first in range(1, BIG_COUNT + 1, batch):
            out = []
            idx = range(first, min(BIG_COUNT, first + batch - 1) + 1)
            for i in idx:
                body = small_message(i)
                out.append(b"p%d APPEND INBOX {%d+}\r\n%s\r\n"
                           % (i, len(body), body))
            s.sendall(b"".join(out))
            for i in idx:
                lines, buf = imap_read_until(s, buf, b"p%d" % i)
                m = re.match(rb"p\d+ OK \[APPENDUID \d+ (\d+)\]", lines[-1])
                uids.append(int(m.group(1)) if m else None)
        ok = len(uids) == BIG_COUNT and None not in uids
        check(ok, "host: %d pipelined LITERAL+ APPENDs (%.2f s)"
              % (sum(1 for u in uids if u), time.time() - t))
        s.sendall(b"z LOGOUT\r\n")
        imap_read_until(s, buf, b"z")
        s.close()
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        log.close()
        if os.path.exists(made):
            shutil.move(made, flash)
        shutil.rmtree(tmp, True)
    check(rc == 0 and os.path.getsize(flash) == 8 << 20,
          "host lwmaild stopped (rc %r), image %d bytes"
          % (rc, os.path.getsize(flash) if os.path.exists(flash) else 0))
    return uids if len(uids) == BIG_COUNT and None not in uids else []


def big_store_sessions(b, uids):
    """4 TLS sessions at once on the 2,000-message INBOX; returns the UIDs
    they flagged (the union), or None."""
    n = 4
    barrier = threading.Barrier(n)
    results = [None] * n
    flagged = [set() for _ in range(n)]
    model = {uid: small_message(i + 1) for i, uid in enumerate(uids)}

    def one(k):
        what = []
        try:
            t0 = time.time()
            c = imaplib.IMAP4_SSL("127.0.0.1", b.ports[993],
                                  ssl_context=tls_ctx(), timeout=90)
            c.login(USER, PASSWORD)
            barrier.wait(60)                # everyone logged in: go
            typ, d = c.select("INBOX")
            what.append(typ == "OK" and int(d[0]) == BIG_COUNT)
            # a command line longer than a session's own 1 KiB receive
            # buffer (about 2 KB: a UID list, as clients send them), all 4
            # sessions at once: each borrows the one shared long buffer in
            # turn (LWM_IMAP_RX_OWN)
            longset = uids[k::5][:400]
            typ, d = c.uid("fetch", ",".join(map(str, longset)), "(FLAGS)")
            got = set()
            for x in d if typ == "OK" else []:
                m = re.search(rb"UID (\d+)", x if isinstance(x, bytes)
                              else x[0])
                if m:
                    got.add(int(m.group(1)))
            what.append(got == set(longset))
            # sizes of all 2,000
            typ, d = c.fetch("1:*", "(UID RFC822.SIZE)")
            sizes = {}
            for x in d if typ == "OK" else []:
                m = re.search(rb"UID (\d+) RFC822\.SIZE (\d+)", x)
                if m:
                    sizes[int(m.group(1))] = int(m.group(2))
            what.append(sizes == {u: len(v) for u, v in model.items()})
            # a few bodies, byte-exact (each session its own)
            picks = [uids[(k * 487 + j * 613) % BIG_COUNT] for j in range(4)]
            picks += [uids[0], uids[-1]]
            good = 0
            for uid in picks:
                typ, d = c.uid("fetch", str(uid), "(BODY.PEEK[])")
                got = d[0][1] if typ == "OK" and d and \
                    isinstance(d[0], tuple) else None
                good += got == model[uid]
            what.append(good == len(picks))
            # UID SEARCH against the model
            kind = KINDS[k]
            typ, d = c.uid("search", None, "SUBJECT", '"%s report"' % kind)
            want = sorted(u for i, u in enumerate(uids)
                          if KINDS[(i + 1) % len(KINDS)] == kind)
            got = sorted(int(x) for x in d[0].split()) if typ == "OK" \
                else None
            what.append(got == want)
            host = HOSTS[k + 1]
            typ, d = c.uid("search", None, "FROM", host + "@", "UID",
                           "1:1000")
            want = sorted(u for i, u in enumerate(uids)
                          if HOSTS[(i + 1) % len(HOSTS)] == host and u <= 1000)
            got = sorted(int(x) for x in d[0].split()) if typ == "OK" \
                else None
            what.append(got == want)
            # a flag STORE: session k flags every 7th from its own start
            mine = uids[k * 50:k * 50 + 350:7]
            typ, d = c.uid("store", ",".join(map(str, mine)), "+FLAGS",
                           r"(\Flagged)")
            got = set()
            for x in d if typ == "OK" else []:
                m = re.search(rb"UID (\d+)", x if isinstance(x, bytes)
                              else x[0])
                if m and b"\\Flagged" in (x if isinstance(x, bytes)
                                          else x[0]):
                    got.add(int(m.group(1)))
            # (the others' STOREs may show up here too, as untagged FETCH)
            what.append(typ == "OK" and got >= set(mine))
            flagged[k] = set(mine)
            c.logout()
            results[k] = (all(what), time.time() - t0, what)
        except (OSError, imaplib.IMAP4.error, ssl.SSLError,
                threading.BrokenBarrierError, ValueError) as e:
            results[k] = (False, 0.0, what + [repr(e)])

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    ok = all(r is not None and r[0] for r in results)
    check(ok, "4 concurrent TLS sessions on 2,000 messages: EXISTS 2000, "
          "a 2 KB UID FETCH line, 2,000 sizes, 6 bodies byte-exact, "
          "2 UID SEARCHes, STORE each "
          "(%s)" % ", ".join("%.1f s" % r[1] if r and r[0] else str(r)
                            for r in results))
    return set().union(*flagged) if ok else None


def big_store_flags(b, flagged):
    """A new session sees every session's flags (SEARCH FLAGGED)."""
    c = imaplib.IMAP4_SSL("127.0.0.1", b.ports[993], ssl_context=tls_ctx(),
                          timeout=60)
    c.login(USER, PASSWORD)
    typ, d = c.select("INBOX", readonly=True)
    n = int(d[0]) if typ == "OK" else -1
    typ, d = c.uid("search", None, "FLAGGED")
    got = set(int(x) for x in d[0].split()) if typ == "OK" else None
    c.logout()
    return n, got


def big_store_checks(elf, work, lwmaild):
    flash = os.path.join(work, "flash-2000.img")
    t = time.time()
    uids = make_big_store(lwmaild, work, flash)
    if not uids:
        return
    print("2,000-message image made in %.1f s" % (time.time() - t),
          flush=True)
    b = Board(elf, work, "flash=%s" % flash)
    try:
        m = b.wait_for(r"store: mounted in (\d+) ms", 60)
        check(m is not None and not any("formatting" in l for l in b.log),
              "firmware mounts the host-made store of 2,000 messages (%s ms)"
              % (m.group(1) if m else "?"))
        if not b.wait_for(r"lwmail: IMAPS on", 60):
            check(False, "firmware up on the 2,000-message store")
            return
        flagged = None
        try:
            t = time.time()
            flagged = big_store_sessions(b, uids)
            print("4 sessions on 2,000 messages: %.1f s" % (time.time() - t),
                  flush=True)
            if flagged is not None:
                n, got = big_store_flags(b, flagged)
                check(n == BIG_COUNT and got == flagged,
                      "a fifth session: %d messages, SEARCH FLAGGED = the "
                      "%d flagged by the four" % (n, len(flagged)))
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as e:
            check(False, "2,000-message session: %r" % e)
        # still healthy: no fault, figures sane, clean shutdown
        check(not b.faulted(),
              "2,000 messages: no fault on the console")
        if b.p.poll() is None:
            b.console(b"s")
            tl = b.wait_for(r"^tls\(console\).*peak (\d+), alloc failures "
                            r"(\d+)", 10)
            st = [l for l in b.log if l.startswith("stats(console)")]
            viol = re.search(r"violations (\d+)", st[-1]) if st else None
            check(tl is not None and tl.group(2) == "0" and
                  viol is not None and viol.group(1) == "0",
                  "2,000 messages: no failed arena allocation (peak %s B), "
                  "no NOR violation: %s"
                  % (tl.group(1) if tl else "?", st[-1] if st else "none"))
            rc, tail = b.quit()
            check(rc == 0 and any("lwmail: stopped" in l for l in tail),
                  "2,000 messages: clean shutdown (rc %r)" % rc)
        else:
            check(False, "firmware still running after the 2,000-message "
                  "sessions (rc %r)" % b.p.returncode)
    finally:
        b.stop()

    if flagged is None:
        return
    # the flags are on the flash: a restart sees them
    b = Board(elf, work, "flash=%s" % flash)
    try:
        m = b.wait_for(r"store: mounted in (\d+) ms", 60)
        if b.wait_for(r"lwmail: IMAPS on", 60):
            try:
                n, got = big_store_flags(b, flagged)
                check(n == BIG_COUNT and got == flagged,
                      "restart on the 2,000-message image (mount %s ms): "
                      "%d messages, the %d flags kept"
                      % (m.group(1) if m else "?", n, len(flagged)))
            except (OSError, imaplib.IMAP4.error, ssl.SSLError) as e:
                check(False, "2,000 messages after restart: %r" % e)
        else:
            check(False, "firmware up again on the 2,000-message image")
    finally:
        b.stop()


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: qemu_test.py REPO_ROOT WORKDIR [LWMAILD]")
    root = os.path.abspath(sys.argv[1])
    work = os.path.abspath(sys.argv[2])
    os.makedirs(work, exist_ok=True)
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc", "timeout"):
        if not shutil.which(tool):
            check(False, "%s installed (scripts/deps.sh)" % tool)
            finish()

    elf = build(root, work)
    check(os.path.exists(elf), "firmware built: %s" % elf)
    check_no_heap(elf)

    flash = os.path.join(work, "flash.img")
    if os.path.exists(flash):
        os.unlink(flash)

    # -------- boot 1: fresh flash
    b = Board(elf, work, "flash=%s" % flash)
    mode = b.wait_for(r"lwmail: (IMAPS|echo) on", 60)
    check(mode is not None, "firmware up and listening")
    msgs = []
    imap = mode is not None and mode.group(1) == "IMAPS"
    try:
        if mode and not imap:
            echo_checks(b)
        elif mode:
            imaps_checks(b, msgs)
    except (OSError, imaplib.IMAP4.error, ssl.SSLError) as e:
        check(False, "session: %r" % e)
    check(not b.faulted(),
          "no fault on the console")
    if b.p.poll() is None:
        b.console(b"s")
        b.wait_for(r"^tls\(console\)", 10)
        rc, tail = b.quit()
        check(rc == 0 and any("lwmail: stopped" in l for l in tail),
              "console q: clean shutdown, QEMU exits 0 (rc %r)" % rc)
        for line in b.log:
            if re.match(r"^(stats|tls|net)\(console\)", line):
                print("figures: " + line, flush=True)
    else:
        check(False, "firmware still running after the sessions (rc %r)"
              % b.p.returncode)
    b.stop()

    # -------- boot 2: the same flash image
    if imap and msgs:
        b = Board(elf, work, "flash=%s" % flash)
        check(b.wait_for(r"store: mounted", 60) is not None and
              not any("formatting" in l for l in b.log),
              "restart mounts the saved store (no format)")
        if b.wait_for(r"lwmail: IMAPS on", 30):
            try:
                restart_checks(b, msgs)
            except (OSError, imaplib.IMAP4.error, ssl.SSLError) as e:
                check(False, "restart session: %r" % e)
        b.stop()

    # -------- boots 3 and 4: a 2,000-message store made by the host server
    if imap:
        lwmaild = find_lwmaild(work)
        if check(lwmaild is not None, "host lwmaild for the 2,000-message "
                 "image: %s" % lwmaild):
            t = time.time()
            big_store_checks(elf, work, lwmaild)
            print("2,000-message case: %.1f s" % (time.time() - t),
                  flush=True)

    # -------- boot 5: the firmware ends itself, semihosting exit code
    b = Board(elf, work, "runfor=300", fwd=False)
    try:
        rc = b.p.wait(60)
    except subprocess.TimeoutExpired:
        rc = None
    b.stop()
    st = [l for l in b.log if l.startswith("stats(exit)")]
    check(rc == 0, "runfor=300: QEMU exits 0 through semihosting "
          "(rc %r)" % rc)
    check(bool(st), "exit figures: %s" % (st[0] if st else "none"))

    # -------- boot 6: the address from QEMU's DHCP server (LWM_BOARD_DHCP)
    if imap:
        dhcp_checks(root, work)
    finish()


def dhcp_checks(root, work):
    """The image built with LWM_BOARD_DHCP=ON asks slirp's DHCP server for
    its address and serves IMAPS on it."""
    elf = build(root, work, "fw-dhcp", ["LWM_BOARD_DHCP=ON"])
    b = Board(elf, work, "")
    try:
        m = b.wait_for(r"eth: DHCP address (\S+) after (\d+) ms", 60)
        check(m is not None and m.group(1) == "10.0.2.15",
              "DHCP: address %s from QEMU's DHCP server"
              % (m.group(1) if m else "none"))
        if m and b.wait_for(r"lwmail: IMAPS on", 30):
            c = imaplib.IMAP4_SSL("127.0.0.1", b.ports[993],
                                  ssl_context=tls_ctx(), timeout=60)
            typ, _ = c.login(USER, PASSWORD)
            check(typ == "OK", "DHCP: IMAPS login on the leased address")
            c.logout()
    except (OSError, imaplib.IMAP4.error, ssl.SSLError) as e:
        check(False, "DHCP session: %r" % e)
    finally:
        b.stop()


if __name__ == "__main__":
    main()
