#!/usr/bin/env python3
"""lwmaild against Dovecot, side by side, with the same IMAP client code.

    python3 tests/bench_imap.py --lwmaild build/bench/lwmaild [--runs 5]

Not part of the test suite: scripts/bench-imap.sh installs dovecot-imapd,
builds lwmaild (Release) and runs this. Python 3 standard library only.

Each run starts both servers afresh in a temporary directory (lwmaild on a
new 64 MiB flash image with 64 KiB blocks; Dovecot from a minimal
dovecot.conf of its own, Maildir, never the system service or its ports),
on free loopback ports chosen at run time, and drives each through the same
imaplib code:

  * connect + LOGIN + SELECT INBOX + LOGOUT, on an empty and a full INBOX
  * APPEND 2,000 appliance notifications of about 2 KB, one at a time
  * APPEND 20 messages of 1 MiB (a camera snapshot attachment)
  * FETCH 1:* (FLAGS ENVELOPE) over the 2,000 (first, then repeated)
  * FETCH n BODY[] of each 1 MiB message
  * SEARCH TEXT <word> and SEARCH FROM <address part>
  * STORE 1:* +FLAGS (\\Seen); STORE +FLAGS.SILENT (\\Deleted) on every
    other message; EXPUNGE (1,000 of 2,000)
  * 4 client processes doing mixed work at once
  * the server's memory (VmRSS/VmHWM/RssAnon from /proc; Dovecot: the sum
    over its master process and all its descendants)
  * the server's CPU time per phase (Dovecot: master, its reaped children
    and its live descendants)

Every answer is checked (counts, sizes, the same search hits on both
servers); a server that dies, stalls or answers wrongly is reported with
the last lines the client sent and received and the tail of its log.
The medians over the runs are printed as a Markdown table with the ratio
lwmail/dovecot. Every loop is bounded in count and in time; servers are
stopped and the temporary directory removed in all cases.
"""

import argparse
import base64
import datetime
import grp
import imaplib
import json
import multiprocessing
import os
import platform
import pwd
import random
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
USER = "alice"
PASSWORD = "secret1"
IO_TIMEOUT = 120.0          # seconds, every socket operation
N_SMALL = 2000
N_BIG = 20
BIG_SIZE = 1024 * 1024
SEARCH_WORD = "overheat"
SEARCH_FROM = "ups.home.lan"
CONC_CLIENTS = 4


FETCH_START = re.compile(rb"\d+ \((FLAGS|ENVELOPE) ")


class BenchError(Exception):
    """A server failed or answered wrongly; the message says how."""


# ------------------------------------------------------------ messages

APPLIANCES = [
    ("Home Router", "router@gw.home.lan", [
        "WAN link down on eth0.2",
        "WAN link restored, new address 81.2.{a}.{b}",
        "Firmware update {v} available",
        "New device joined: {mac}",
        "DHCP pool 192.168.1.0/24 is {p}% used",
    ]),
    ("NAS", "nas@nas.home.lan", [
        "Backup job 'photos' completed ({n} files)",
        "Backup job 'documents' failed: remote not reachable",
        "SMART warning on /dev/sd{d}: reallocated sectors {n}",
        "RAID scrub of md0 finished, 0 errors",
        "Volume /srv/data {p}% full",
    ]),
    ("UPS monitor", "ups@ups.home.lan", [
        "On battery power (input {a} V)",
        "Power restored after {n} s",
        "Battery self-test passed, runtime {n} min",
        "Load at {p}% of capacity",
    ]),
    ("Front door camera", "cam-frontdoor@cams.home.lan", [
        "Motion detected in zone {d}",
        "Person detected at front door",
        "Recording stopped: storage full",
    ]),
    ("Office printer", "printer@office.home.lan", [
        "Toner low (black {p}%)",
        "Paper jam in tray {d}",
        "Job {n} completed: {n} pages",
    ]),
    ("Heating controller", "heating@boiler.home.lan", [
        "Flow temperature {a} C, target {b} C",
        "Burner fault code E{a}, restart {n}",
        "Service due in {n} days",
    ]),
]

LOG_WORDS = ("kernel", "daemon", "netifd", "dnsmasq", "hostapd", "smartd",
             "mdadm", "rsync", "upsmon", "cupsd", "motion", "ntpd", "crond",
             "dropbear", "odhcpd", "firewall", "watchdog")
LOG_VERBS = ("started", "stopped", "reloaded", "checked", "synced", "updated",
             "probed", "queued", "retried", "completed", "rotated", "linked")
BASE_TIME = datetime.datetime(2026, 3, 1, 6, 0, 0,
                              tzinfo=datetime.timezone.utc)


def _fmt(tpl, rng):
    return tpl.format(a=rng.randint(10, 250), b=rng.randint(10, 250),
                      v="%d.%d.%d" % (rng.randint(1, 9), rng.randint(0, 30),
                                      rng.randint(0, 99)),
                      mac=":".join("%02x" % rng.randint(0, 255)
                                   for _ in range(6)),
                      p=rng.randint(50, 99), n=rng.randint(2, 9999),
                      d=rng.choice("abcd"))


def small_message(i):
    """Appliance notification number i: about 2 KB, headers and all.

    Every 37th contains SEARCH_WORD in its body (55 of 2,000); the
    appliances take turns, so SEARCH_FROM matches every 6th (334)."""
    rng = random.Random(1000003 * i + 17)
    name, addr, subjects = APPLIANCES[i % len(APPLIANCES)]
    subject = _fmt(rng.choice(subjects), rng)
    when = BASE_TIME + datetime.timedelta(minutes=7 * i)
    date = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    host = addr.split("@")[1]
    head = [
        "Return-Path: <%s>" % addr,
        "Received: from %s (%s [192.168.1.%d])" % (host, host,
                                                  10 + i % len(APPLIANCES)),
        "\tby mail.home.lan (lwmail) with ESMTP id %08X" % rng.getrandbits(32),
        "\tfor <admin@home.lan>; %s" % date,
        "From: \"%s\" <%s>" % (name, addr),
        "To: Home Admin <admin@home.lan>",
        "Subject: [%s] %s" % (host.split(".")[0], subject),
        "Date: %s" % date,
        "Message-ID: <%d.%08x@%s>" % (i, rng.getrandbits(32), host),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "X-Mailer: appliance-notify 2.4",
        "Auto-Submitted: auto-generated",
        "X-Priority: %d" % rng.choice((1, 3, 3, 3, 5)),
    ]
    body = [
        "Hello,",
        "",
        "this is an automatic message from %s (%s)." % (name, host),
        "",
        "Event: %s" % subject,
        "Time:  %s" % date,
        "Severity: %s" % rng.choice(("info", "notice", "warning", "error")),
        "Uptime: %d days %02d:%02d" % (rng.randint(0, 400),
                                       rng.randint(0, 23), rng.randint(0, 59)),
        "",
        "Recent log:",
    ]
    if i % 37 == 0:
        body.append("  temperature threshold exceeded: %s protection"
                    " engaged at %d C" % (SEARCH_WORD, rng.randint(70, 95)))
    total = sum(len(x) + 2 for x in head) + 2 + sum(len(x) + 2 for x in body)
    t = when - datetime.timedelta(seconds=600)
    while total < 1900:
        t += datetime.timedelta(seconds=rng.randint(1, 40))
        line = "  %s %s[%d]: %s %s id=%08x" % (
            t.strftime("%b %d %H:%M:%S"), rng.choice(LOG_WORDS),
            rng.randint(100, 9999), rng.choice(LOG_WORDS),
            rng.choice(LOG_VERBS), rng.getrandbits(32))
        body.append(line)
        total += len(line) + 2
    body += ["", "-- ", "You receive this because notifications are enabled"
             " on %s." % host, "Manage them at http://%s/settings" % host, ""]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(body)).encode()


def big_message(i):
    """A camera snapshot mail: text part plus a base64 JPEG, 1 MiB total."""
    rng = random.Random(7919 * i + 3)
    when = BASE_TIME + datetime.timedelta(hours=i)
    date = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    boundary = "----=_snap_%08x" % rng.getrandbits(32)
    head = ("From: \"Front door camera\" <cam-frontdoor@cams.home.lan>\r\n"
            "To: Home Admin <admin@home.lan>\r\n"
            "Subject: [cam-frontdoor] Snapshot %d\r\n"
            "Date: %s\r\n"
            "Message-ID: <snap.%d.%08x@cams.home.lan>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
            "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "Motion in zone %d; snapshot attached.\r\n\r\n"
            "--%s\r\nContent-Type: image/jpeg; name=\"snap%d.jpg\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"snap%d.jpg\"\r\n\r\n"
            % (i, date, i, rng.getrandbits(32), boundary, boundary,
               rng.randint(1, 4), boundary, i, i)).encode()
    tail = ("\r\n--%s--\r\n" % boundary).encode()
    room = BIG_SIZE - len(head) - len(tail)
    nbytes = room // 78 * 57       # 76 base64 chars + CRLF per 57 bytes
    raw = rng.randbytes(nbytes)
    enc = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    msg = head + enc + tail
    pad = BIG_SIZE - len(msg)
    if pad > 0:                    # fill to exactly 1 MiB with a comment
        msg = head + enc + b"\r\n" * (pad // 2) + (b" " if pad % 2 else b"") \
            + tail
    return msg


# ------------------------------------------------------------ /proc helpers

def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(d))
    return kids


def descendants(pid):
    kids = _children_map()
    out, todo = [], [pid]
    while todo and len(out) < 10000:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_status(pid):
    vals = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    vals[k] = int(v.split()[0])
    except OSError:
        pass
    return vals


def proc_cpu(pid, with_children):
    """CPU time of pid in seconds (schedstat, ns), plus with_children the
    cutime+cstime of its reaped children (clock ticks)."""
    t = 0.0
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            t = int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    if with_children:
        try:
            with open("/proc/%d/stat" % pid) as f:
                s = f.read()
        except OSError:
            return t
        rest = s[s.rfind(")") + 2:].split()
        t += (int(rest[13]) + int(rest[14])) / os.sysconf("SC_CLK_TCK")
    return t


def free_port():
    for _ in range(50):
        s = socket.socket()
        try:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in (143, 993):
            return port
    raise BenchError("no free loopback port")


# ------------------------------------------------------------ servers

class Server:
    name = "?"

    def __init__(self, workdir):
        self.workdir = workdir
        self.proc = None
        self.port = None
        self.errf = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        return descendants(self.proc.pid) if self.alive() else []

    def memory(self):
        tot = {"VmRSS": 0, "VmHWM": 0, "RssAnon": 0, "RssFile": 0,
               "RssShmem": 0, "procs": 0}
        for p in self.pids():
            st = proc_status(p)
            if not st:
                continue
            tot["procs"] += 1
            for k in st:
                tot[k] += st[k]
        return tot

    def cpu(self):
        if not self.alive():
            return 0.0
        pids = self.pids()
        t = proc_cpu(self.proc.pid, True)
        for p in pids[1:]:
            t += proc_cpu(p, False)
        return t

    def log_tail(self, n=25):
        return ""

    def check(self, what):
        if not self.alive():
            rc = self.proc.returncode if self.proc else None
            raise BenchError("%s exited (status %s) during %s\n%s"
                             % (self.name, rc, what, self.log_tail()))

    def stop(self):
        """SIGTERM, wait up to 10 s, then SIGKILL what is left of ours."""
        if self.proc is None:
            return None
        pids = self.pids()
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                for p in reversed(pids):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                rc = self.proc.wait(timeout=10)
                rc = "killed after SIGTERM timeout (%s)" % rc
        else:
            rc = "had exited before stop: %s" % rc
        deadline = time.monotonic() + 5
        for p in pids[1:]:          # children of ours that outlived it
            while time.monotonic() < deadline:
                try:
                    os.kill(p, 0)
                except OSError:
                    break
                time.sleep(0.05)
            else:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        if self.errf:
            self.errf.close()
            self.errf = None
        return rc


class Lwmaild(Server):
    name = "lwmail"

    def __init__(self, workdir, binary):
        super().__init__(workdir)
        self.binary = binary

    def start(self):
        self.logpath = os.path.join(self.workdir, "lwmaild.log")
        self.errf = open(self.logpath, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--imap", HOST + ":0",
             "--flash", os.path.join(self.workdir, "flash.img"),
             "--flash-size", "64M", "--block-size", "64K",
             "--user", "%s:%s" % (USER, PASSWORD),
             "--allow-plaintext-auth"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.errf)
        deadline = time.monotonic() + 30
        buf = b""
        while time.monotonic() < deadline and b"\n" not in buf:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 256)
                if not chunk:
                    break
                buf += chunk
            elif self.proc.poll() is not None:
                break
        line = buf.decode(errors="replace").strip()
        if not line.startswith("imap "):
            raise BenchError("lwmaild did not start (stdout %r)\n%s"
                             % (line, self.log_tail()))
        self.port = int(line.split()[1].rsplit(":", 1)[1])

    def log_tail(self, n=25):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "lwmaild stderr (last %d lines):\n  " % n + \
            "\n  ".join(lines[-n:])

    def log_problems(self):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return []
        return [l for l in lines if " error:" in l or " warning:" in l]


DOVECOT_CONF = """\
# written by tests/bench_imap.py: a private Dovecot for the benchmark
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = {host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = {first_uid}
first_valid_gid = {first_gid}
{users}
passdb {{
  driver = passwd-file
  args = {base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{login_extra}}}
{unpriv}"""


class Dovecot(Server):
    name = "dovecot"

    def start(self):
        base = os.path.join(self.workdir, "dovecot")
        for d in ("", "run", "state", "home"):
            os.makedirs(os.path.join(base, d), exist_ok=True)
        os.chmod(self.workdir, 0o755)
        os.chmod(base, 0o755)
        self.port = free_port()
        if os.geteuid() == 0:
            # Dovecot never gives mail access to uid 0: the mail user is
            # nobody; logins and internals run as Debian's dovenull/dovecot.
            pw = pwd.getpwnam("nobody")
            uid, gid = pw.pw_uid, pw.pw_gid
            users = ("default_login_user = dovenull\n"
                     "default_internal_user = dovecot")
            login_extra, unpriv = "", ""
        else:
            pw = pwd.getpwuid(os.getuid())
            uid, gid = os.getuid(), os.getgid()
            users = ("default_login_user = {0}\ndefault_internal_user = {0}\n"
                     "default_internal_group = {1}"
                     .format(pw.pw_name, grp.getgrgid(gid).gr_name))
            login_extra = "  chroot =\n"
            unpriv = ("service anvil {\n  chroot =\n}\n"
                      "service imap-hibernate {\n  chroot =\n}\n")
        home = os.path.join(base, "home", USER)
        os.makedirs(home, exist_ok=True)
        os.chown(os.path.join(base, "home"), uid, gid)
        os.chown(home, uid, gid)
        with open(os.path.join(base, "passwd"), "w") as f:
            f.write("%s:{PLAIN}%s::::::\n" % (USER, PASSWORD))
        os.chmod(os.path.join(base, "passwd"), 0o644)
        self.conf = os.path.join(base, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(
                base=base, host=HOST, port=self.port, uid=uid, gid=gid,
                first_uid=min(uid, 500) or 1, first_gid=min(gid, 1) or 1,
                users=users, login_extra=login_extra, unpriv=unpriv))
        self.logpath = os.path.join(base, "dovecot.log")
        self.errf = open(os.path.join(base, "dovecot.stderr"), "wb")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.errf, stderr=self.errf)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection((HOST, self.port), 1) as s:
                    s.settimeout(5)
                    if s.recv(200).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        raise BenchError("dovecot did not start on port %d\n%s"
                         % (self.port, self.log_tail()))

    def log_tail(self, n=25):
        out = []
        for p in (self.logpath,
                  os.path.join(self.workdir, "dovecot", "dovecot.stderr")):
            try:
                with open(p, "rb") as f:
                    lines = f.read().decode(errors="replace").splitlines()
                out.append("%s (last %d lines):\n  " % (os.path.basename(p), n)
                           + "\n  ".join(lines[-n:]))
            except OSError:
                pass
        return "\n".join(out)

    def log_problems(self):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return []
        return [l for l in lines if "Error:" in l or "Fatal:" in l or
                "Panic:" in l]


# ------------------------------------------------------------ client helpers

NODELAY = True


def connect(port):
    m = imaplib.IMAP4(HOST, port, timeout=IO_TIMEOUT)
    if NODELAY:
        # imaplib writes an APPEND literal and its closing CRLF separately;
        # with Nagle the CRLF waits for the server's delayed ACK (40 ms on
        # Linux), which would then be all that APPEND measures.
        m.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return m


def transcript(m, limit=300):
    """The last lines imaplib sent (>) and received (<), oldest first."""
    log = getattr(m, "_cmd_log", None) or {}
    lines = []
    for line, _t in sorted(log.values(), key=lambda x: x[1]):
        lines.append(line if len(line) <= limit else
                     line[:limit] + "... (%d chars)" % len(line))
    return "\n  ".join(lines)


def ok(m, what, res):
    typ, data = res
    if typ != "OK":
        raise BenchError("%s answered %s %r" % (what, typ, data[:3]))
    return data


def login_select(port, mailbox="INBOX"):
    m = connect(port)
    ok(m, "LOGIN", m.login(USER, PASSWORD))
    data = ok(m, "SELECT " + mailbox, m.select(mailbox))
    return m, int(data[0])


def close_quietly(m):
    try:
        m.logout()
    except Exception:
        try:
            m.shutdown()
        except Exception:
            pass


class Phase:
    """Runs one client phase; on failure reports what was sent and the
    server's state."""

    def __init__(self, server, name):
        self.server, self.name = server, name
        self.m = None
        self.detail = ""        # what was being sent, for the report

    def __enter__(self):
        self.server.check("start of " + self.name)
        self.cpu0 = self.server.cpu()
        self.t0 = time.monotonic()
        return self

    def __exit__(self, et, ev, tb):
        self.wall = time.monotonic() - self.t0
        if et is None:
            self.server.check(self.name)
            self.cpu = self.server.cpu() - self.cpu0
            return False
        sent = transcript(self.m) if self.m is not None else "(none)"
        alive = self.server.alive()
        time.sleep(0.3)
        raise BenchError(
            "%s: %s failed with %s: %s%s\n  client transcript (last lines):"
            "\n  %s\n  server %s\n%s"
            % (self.server.name, self.name, et.__name__, ev,
               "\n  while sending " + self.detail if self.detail else "",
               sent,
               "still running" if alive and self.server.alive()
               else "DIED (status %s)" % self.server.proc.poll(),
               self.server.log_tail())) from ev


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ------------------------------------------------------------ concurrency

def _worker(port, wid, seed, n_ops, seconds, barrier, q, n_msgs):
    rng = random.Random(seed)
    lat, errors, done = [], [], 0
    m = None
    try:
        m, _ = login_select(port)
        try:
            barrier.wait(timeout=60)
        except Exception:
            pass
        t_start = time.monotonic()
        deadline = t_start + seconds
        while done < n_ops and time.monotonic() < deadline:
            r = rng.random()
            t = time.monotonic()
            if r < 0.30:
                kind = "fetch-envelope-50"
                a = rng.randint(1, max(1, n_msgs - 49))
                ok(m, "FETCH", m.fetch("%d:%d" % (a, a + 49),
                                       "(FLAGS ENVELOPE)"))
            elif r < 0.50:
                kind = "fetch-body"
                n = rng.randint(1, n_msgs)
                ok(m, "FETCH", m.fetch(str(n), "(BODY.PEEK[])"))
            elif r < 0.65:
                kind = "search"
                if rng.random() < 0.5:
                    ok(m, "SEARCH", m.search(None, "TEXT", SEARCH_WORD))
                else:
                    ok(m, "SEARCH", m.search(None, "FROM", '"%s"'
                                             % rng.choice(APPLIANCES)[1]))
            elif r < 0.80:
                kind = "store"
                n = rng.randint(1, n_msgs)
                op = rng.choice(("+FLAGS", "-FLAGS"))
                ok(m, "STORE", m.store(str(n), op, "(\\Flagged)"))
            elif r < 0.90:
                kind = "append"
                ok(m, "APPEND", m.append(
                    "INBOX", None, None,
                    small_message(100000 + wid * 10000 + done)))
            else:
                kind = "relogin"
                m.logout()
                m = None
                m, _ = login_select(port)
            lat.append((time.monotonic() - t, kind))
            done += 1
        t_end = time.monotonic()
        close_quietly(m)
        m = None
        q.put((wid, t_start, t_end, lat, errors))
    except Exception as e:  # reported by the parent
        errors.append("client %d after %d ops: %s: %s\n  %s"
                      % (wid, done, type(e).__name__, e,
                         transcript(m) if m is not None else ""))
        if m is not None:
            try:
                m.shutdown()
            except Exception:
                pass
        q.put((wid, None, None, lat, errors))


def concurrent_phase(server, n_msgs, run, n_ops, seconds):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(CONC_CLIENTS)
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker,
                         args=(server.port, w, run * 100 + w, n_ops, seconds,
                               barrier, q, n_msgs))
             for w in range(CONC_CLIENTS)]
    peak = {"VmRSS": 0, "RssAnon": 0, "procs": 0}
    results = []
    cpu0 = server.cpu()
    for p in procs:
        p.start()
    try:
        deadline = time.monotonic() + seconds + 90
        while len(results) < CONC_CLIENTS and time.monotonic() < deadline:
            mem = server.memory()
            for k in peak:
                peak[k] = max(peak[k], mem.get(k, 0))
            try:
                results.append(q.get(timeout=0.1))
            except Exception:
                pass
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    cpu = server.cpu() - cpu0
    errors = [e for r in results for e in r[4]]
    if len(results) < CONC_CLIENTS:
        errors.append("%d of %d clients never reported (time limit)"
                      % (CONC_CLIENTS - len(results), CONC_CLIENTS))
    if errors:
        time.sleep(0.3)
        raise BenchError("%s: concurrent clients failed (server %s):\n%s\n%s"
                         % (server.name,
                            "running" if server.alive() else
                            "DIED (status %s)" % server.proc.poll(),
                            "\n".join(errors), server.log_tail()))
    lat = sorted(x[0] for r in results for x in r[3])
    kinds = {}
    for r in results:
        for x, k in r[3]:
            kinds.setdefault(k, []).append(x * 1e3)
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    return {"ops_s": len(lat) / wall, "p50": pct(lat, 50) * 1e3,
            "p95": pct(lat, 95) * 1e3, "ops": len(lat), "cpu": cpu,
            "peak": peak, "kinds": kinds}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else float("nan")


# ------------------------------------------------------------ one run

def login_latency(server, n, seconds):
    times = []
    deadline = time.monotonic() + seconds
    with Phase(server, "login+select+logout") as ph:
        for _ in range(n):
            if time.monotonic() > deadline:
                break
            t = time.monotonic()
            ph.m = None
            ph.m, _ = login_select(server.port)
            ph.m.logout()
            times.append(time.monotonic() - t)
    return median(times) * 1e3, ph.cpu


def run_server(server, args, run, smalls, bigs):
    r, cpu, facts = {}, {}, {}
    server.start()
    try:
        # warm-up: first login (Dovecot creates the Maildir here)
        with Phase(server, "first login") as ph:
            ph.m, _ = login_select(server.port)
            ph.m.logout()
        r["login_empty"], cpu["login_empty"] = login_latency(
            server, args.logins, 60)

        with Phase(server, "APPEND 2,000 small") as ph:
            ph.m = connect(server.port)
            ok(ph.m, "LOGIN", ph.m.login(USER, PASSWORD))
            t = time.monotonic()
            for i, msg in enumerate(smalls):
                ph.detail = "small message #%d (%d bytes, small_message(%d))" \
                    % (i + 1, len(msg), i)
                ok(ph.m, "APPEND #%d" % (i + 1),
                   ph.m.append("INBOX", None, None, msg))
                if time.monotonic() - t > 600:
                    raise BenchError("APPEND phase over 600 s")
            ph.detail = ""
            dt = time.monotonic() - t
        r["append_small"] = len(smalls) / dt
        r["append_small_mb"] = sum(map(len, smalls)) / dt / 1e6
        cpu["append_small"] = ph.cpu

        m = ph.m
        with Phase(server, "APPEND 20 x 1 MiB") as ph:
            ph.m = m
            ok(m, "CREATE Big", m.create("Big"))
            t = time.monotonic()
            for i, msg in enumerate(bigs):
                ph.detail = "1 MiB message #%d (big_message(%d))" % (i + 1, i)
                ok(m, "APPEND big #%d" % (i + 1),
                   m.append("Big", None, None, msg))
            ph.detail = ""
            dt = time.monotonic() - t
            m.logout()
        r["append_big"] = sum(map(len, bigs)) / dt / 1e6
        cpu["append_big"] = ph.cpu

        r["login_full"], cpu["login_full"] = login_latency(
            server, args.logins, 60)

        with Phase(server, "FETCH 1:* (FLAGS ENVELOPE)") as ph:
            ph.m, exists = login_select(server.port)
            m = ph.m
            if exists != len(smalls):
                raise BenchError("SELECT INBOX: %d EXISTS, expected %d"
                                 % (exists, len(smalls)))
            times = []
            for k in range(1 + args.repeat):
                t = time.monotonic()
                data = ok(m, "FETCH 1:*", m.fetch("1:*", "(FLAGS ENVELOPE)"))
                times.append(time.monotonic() - t)
                n = sum(1 for d in data if d is not None and FETCH_START.match(
                    d[0] if isinstance(d, tuple) else d))
                if n != len(smalls):
                    raise BenchError("FETCH 1:* gave %d of %d messages"
                                     % (n, len(smalls)))
        r["fetch_env_first"] = times[0] * 1e3
        r["fetch_env"] = median(times[1:]) * 1e3
        cpu["fetch_env"] = ph.cpu
        facts["envelope_bytes"] = sum(len(d if isinstance(d, bytes) else
                                          b"".join(d)) for d in data)

        with Phase(server, "SEARCH") as ph:
            ph.m = m
            st, sf = [], []
            for k in range(args.repeat):
                t = time.monotonic()
                hits_t = ok(m, "SEARCH TEXT", m.search(None, "TEXT",
                                                       SEARCH_WORD))
                st.append(time.monotonic() - t)
                t = time.monotonic()
                hits_f = ok(m, "SEARCH FROM", m.search(None, "FROM",
                                                       '"%s"' % SEARCH_FROM))
                sf.append(time.monotonic() - t)
        r["search_text"] = median(st) * 1e3
        r["search_from"] = median(sf) * 1e3
        cpu["search"] = ph.cpu
        facts["search_text_hits"] = len(hits_t[0].split())
        facts["search_from_hits"] = len(hits_f[0].split())
        want_t = sum(1 for i in range(len(smalls)) if i % 37 == 0)
        want_f = sum(1 for i in range(len(smalls))
                     if APPLIANCES[i % len(APPLIANCES)][1].endswith(
                         "@" + SEARCH_FROM))
        if (facts["search_text_hits"], facts["search_from_hits"]) != \
                (want_t, want_f):
            raise BenchError("SEARCH hits TEXT %d FROM %d, expected %d and %d"
                             % (facts["search_text_hits"],
                                facts["search_from_hits"], want_t, want_f))

        with Phase(server, "FETCH n BODY[] of 1 MiB messages") as ph:
            ph.m = m
            ok(m, "SELECT Big", m.select("Big"))
            t = time.monotonic()
            got = 0
            for n in range(1, len(bigs) + 1):
                data = ok(m, "FETCH %d BODY[]" % n, m.fetch(str(n), "BODY[]"))
                body = data[0][1]
                if body != bigs[n - 1]:
                    raise BenchError("FETCH %d BODY[]: %d bytes, differs "
                                     "from the %d appended"
                                     % (n, len(body), len(bigs[n - 1])))
                got += len(body)
            dt = time.monotonic() - t
        r["fetch_body"] = got / dt / 1e6
        cpu["fetch_body"] = ph.cpu

        with Phase(server, "STORE/EXPUNGE") as ph:
            ph.m = m
            ok(m, "SELECT INBOX", m.select("INBOX"))
            t = time.monotonic()
            data = ok(m, "STORE 1:* +FLAGS", m.store("1:*", "+FLAGS",
                                                     "(\\Seen)"))
            r["store_seen"] = (time.monotonic() - t) * 1e3
            odd = ",".join(str(i) for i in range(1, len(smalls) + 1, 2))
            t = time.monotonic()
            ok(m, "STORE odd +FLAGS.SILENT (\\Deleted)",
               m.store(odd, "+FLAGS.SILENT", "(\\Deleted)"))
            r["store_deleted"] = (time.monotonic() - t) * 1e3
            t = time.monotonic()
            gone = ok(m, "EXPUNGE", m.expunge())
            r["expunge"] = (time.monotonic() - t) * 1e3
            n_gone = len([g for g in gone if g is not None])
            left = int(ok(m, "SELECT INBOX", m.select("INBOX"))[0])
            if n_gone != len(smalls) // 2 or left != len(smalls) - n_gone:
                raise BenchError("EXPUNGE reported %d, %d left (expected "
                                 "%d and %d)" % (n_gone, left,
                                                 len(smalls) // 2,
                                                 len(smalls) // 2))
            seen = ok(m, "SEARCH SEEN", m.search(None, "SEEN"))
            if len(seen[0].split()) != left:
                raise BenchError("after STORE 1:* +FLAGS (\\Seen): %d of %d "
                                 "are \\Seen" % (len(seen[0].split()), left))
            m.logout()
        cpu["store_expunge"] = ph.cpu

        c = concurrent_phase(server, left, run, args.conc_ops, 120)
        r["conc_ops"], r["conc_p50"], r["conc_p95"] = \
            c["ops_s"], c["p50"], c["p95"]
        cpu["concurrent"] = c["cpu"]
        r["peak_rss"] = c["peak"]["VmRSS"]
        r["peak_anon"] = c["peak"]["RssAnon"]
        facts["peak_procs"] = c["peak"]["procs"]
        facts["conc_ops"] = c["ops"]
        facts["conc_kinds"] = c["kinds"]

        server.check("end of run")
        mem = server.memory()
        r["rss"], r["hwm"], r["anon"] = \
            mem["VmRSS"], mem["VmHWM"], mem["RssAnon"]
        facts["procs_after"] = mem["procs"]
        facts["rss_file_after"] = mem["RssFile"]
        facts["cpu_total"] = server.cpu()
        r["cpu_total"] = facts["cpu_total"]
    finally:
        facts["stop"] = server.stop()
        facts["log_problems"] = server.log_problems()[:20]
    return r, cpu, facts


# ------------------------------------------------------------ report

FIGURES = [
    # key, label, unit, higher is better
    ("login_empty", "connect+LOGIN+SELECT+LOGOUT, empty INBOX", "ms", False),
    ("login_full", "connect+LOGIN+SELECT+LOGOUT, 2,000 msgs", "ms", False),
    ("append_small", "APPEND 2,000 x 2 KB, one at a time", "msg/s", True),
    ("append_small_mb", "  the same in MB/s", "MB/s", True),
    ("append_big", "APPEND 20 x 1 MiB", "MB/s", True),
    ("fetch_env_first", "FETCH 1:* (FLAGS ENVELOPE), 2,000, first", "ms",
     False),
    ("fetch_env", "FETCH 1:* (FLAGS ENVELOPE), 2,000, repeated", "ms", False),
    ("fetch_body", "FETCH n BODY[] of 20 x 1 MiB", "MB/s", True),
    ("search_text", "SEARCH TEXT %s (55 hits of 2,000)" % SEARCH_WORD, "ms",
     False),
    ("search_from", "SEARCH FROM \"%s\" (334 hits)" % SEARCH_FROM, "ms",
     False),
    ("store_seen", "STORE 1:* +FLAGS (\\Seen), 2,000", "ms", False),
    ("store_deleted", "STORE 1,3,..,1999 +FLAGS.SILENT (\\Deleted)", "ms",
     False),
    ("expunge", "EXPUNGE 1,000 of 2,000", "ms", False),
    ("conc_ops", "4 clients, mixed work: throughput", "ops/s", True),
    ("conc_p50", "4 clients, mixed work: latency p50", "ms", False),
    ("conc_p95", "4 clients, mixed work: latency p95", "ms", False),
    ("peak_rss", "RSS peak during the 4 clients (VmRSS)", "KiB", False),
    ("peak_anon", "  of it anonymous (RssAnon)", "KiB", False),
    ("rss", "RSS after the run (VmRSS)", "KiB", False),
    ("hwm", "RSS high-water mark after the run (VmHWM)", "KiB", False),
    ("anon", "  anonymous after the run (RssAnon)", "KiB", False),
    ("cpu_total", "server CPU time, whole run (user+sys)", "s", False),
]

CPU_PHASES = [
    ("login_empty", "logins, empty INBOX (x%d)"),
    ("append_small", "APPEND 2,000 x 2 KB"),
    ("append_big", "APPEND 20 x 1 MiB"),
    ("login_full", "logins, 2,000 msgs (x%d)"),
    ("fetch_env", "FETCH 1:* (FLAGS ENVELOPE), all repeats"),
    ("search", "SEARCH TEXT + FROM, all repeats"),
    ("fetch_body", "FETCH n BODY[] x 20"),
    ("store_expunge", "STORE, STORE, EXPUNGE"),
    ("concurrent", "4 clients, mixed work"),
]


def fmt(v):
    if v != v:
        return "n/a"
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    if abs(v) >= 1:
        return "%.2f" % v
    return "%.3f" % v


def table(rows, names):
    lw, dv = names
    out = ["| figure | unit | %s | %s | ratio %s/%s | better |"
           % (lw, dv, lw, dv), "|---|---|---:|---:|---:|---|"]
    for label, unit, a, b, higher in rows:
        if a == a and b == b and b > 0:
            ratio = a / b
            ratio_s = "%.2f" % ratio if ratio < 100 else "%.0f" % ratio
            if abs(ratio - 1) < 0.03:
                who = "even"
            else:
                who = lw if (ratio > 1) == higher else dv
        else:
            ratio_s, who = "n/a", ""
        out.append("| %s | %s | %s | %s | %s | %s is better: %s |"
                   % (label, unit, fmt(a), fmt(b), ratio_s,
                      "higher" if higher else "lower", who))
    return "\n".join(out)


def machine_line():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/etc/os-release") as f:
            osname = [l.split("=", 1)[1].strip().strip('"') for l in f
                      if l.startswith("PRETTY_NAME=")][0]
    except (OSError, IndexError):
        osname = platform.platform()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "%d cores (%s), %.0f GiB RAM, %s, kernel %s, Python %s" % (
        os.cpu_count(), cpu, mem, osname, platform.release(),
        platform.python_version())


def dovecot_version():
    try:
        return subprocess.run(["dovecot", "--version"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except Exception:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lwmaild", default="build/bench/lwmaild")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--servers", default="lwmail,dovecot")
    ap.add_argument("--logins", type=int, default=30,
                    help="logins per latency figure and run")
    ap.add_argument("--repeat", type=int, default=5,
                    help="repeats of each FETCH/SEARCH per run")
    ap.add_argument("--conc-ops", type=int, default=150,
                    help="operations per concurrent client")
    ap.add_argument("--small", type=int, default=N_SMALL,
                    help=argparse.SUPPRESS)
    ap.add_argument("--nagle", action="store_true",
                    help="leave Nagle on in the client (imaplib's default)")
    ap.add_argument("--dir", default=None,
                    help="where the servers keep their mail (default: the "
                    "system temporary directory; /dev/shm takes the disk "
                    "out of the figures)")
    ap.add_argument("--json", help="also write the raw figures here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    args.runs = max(1, min(args.runs, 20))
    args.logins = max(1, min(args.logins, 1000))
    args.repeat = max(1, min(args.repeat, 50))
    args.conc_ops = max(10, min(args.conc_ops, 5000))
    names = [s for s in args.servers.split(",") if s]
    for s in names:
        if s not in ("lwmail", "dovecot"):
            ap.error("unknown server %r" % s)
    if "lwmail" in names and not os.access(args.lwmaild, os.X_OK):
        ap.error("no lwmaild at %s (build it: cmake --build build/bench "
                 "--target lwmaild)" % args.lwmaild)
    if "dovecot" in names and not shutil.which("dovecot"):
        ap.error("dovecot is not installed (scripts/bench-imap.sh installs "
                 "dovecot-imapd)")
    lwmaild = os.path.abspath(args.lwmaild)
    global NODELAY
    NODELAY = not args.nagle

    smalls = [small_message(i) for i in range(args.small)]
    bigs = [big_message(i) for i in range(N_BIG)]
    print("messages: %d small, %d..%d bytes (mean %d); %d big of %d bytes"
          % (len(smalls), min(map(len, smalls)), max(map(len, smalls)),
             sum(map(len, smalls)) // len(smalls), len(bigs), len(bigs[0])),
          flush=True)

    results = {s: [] for s in names}
    cpus = {s: [] for s in names}
    facts = {s: [] for s in names}
    problems = []
    top = tempfile.mkdtemp(prefix="lwm-bench-", dir=args.dir)
    os.chmod(top, 0o755)        # Dovecot's users must reach their files
    try:
        for run in range(args.runs):
            order = names if run % 2 == 0 else names[::-1]
            for s in order:
                wd = os.path.join(top, "run%d-%s" % (run, s))
                os.makedirs(wd)
                srv = Lwmaild(wd, lwmaild) if s == "lwmail" else Dovecot(wd)
                t = time.monotonic()
                try:
                    r, c, f = run_server(srv, args, run, smalls, bigs)
                except BenchError as e:
                    problems.append("run %d, %s: %s" % (run + 1, s, e))
                    print("run %d %s: FAILED\n%s" % (run + 1, s, e),
                          flush=True)
                    continue
                finally:
                    srv.stop()
                results[s].append(r)
                cpus[s].append(c)
                facts[s].append(f)
                if f["log_problems"]:
                    problems.append("run %d, %s logged:\n  %s" % (
                        run + 1, s, "\n  ".join(f["log_problems"])))
                if s == "lwmail" and f["stop"] != 0:
                    problems.append("run %d, lwmaild on SIGTERM: %s"
                                    % (run + 1, f["stop"]))
                print("run %d %s: %.1f s, %s" % (
                    run + 1, s, time.monotonic() - t,
                    ", ".join("%s %s" % (k, fmt(v)) for k, v in r.items())),
                    flush=True)
                if not args.keep:
                    shutil.rmtree(wd, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)
        else:
            print("kept", top)

    def med(s, key, src=results):
        return median([r[key] for r in src.get(s, []) if key in r])

    a_name, b_name = (names + ["-", "-"])[:2]
    print()
    print("lwmail vs %s, %s, median of %d runs (%d complete for lwmail, "
          "%d for dovecot)" % (dovecot_version(),
                               datetime.date.today().isoformat(), args.runs,
                               len(results.get("lwmail", [])),
                               len(results.get("dovecot", []))))
    print("machine: " + machine_line())
    print()
    rows = [(label, unit, med("lwmail", k), med("dovecot", k), hi)
            for k, label, unit, hi in FIGURES]
    print(table(rows, ("lwmail", "dovecot")))
    print()
    print("Server CPU time per phase (user+sys, ms; Dovecot: all its "
          "processes):")
    print()
    rows = [(label % args.logins if "%d" in label else label, "ms",
             med("lwmail", k, cpus) * 1e3, med("dovecot", k, cpus) * 1e3,
             False) for k, label in CPU_PHASES]
    print(table(rows, ("lwmail", "dovecot")))
    print()
    kinds = sorted({k for s in names for f in facts[s]
                    for k in f["conc_kinds"]})
    if kinds:
        print("4 clients, mixed work: latency by operation, all runs pooled"
              " (ms, p50 / p95, count):")
        print()
        print("| operation | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for k in kinds:
            cells = []
            for s in names:
                xs = [x for f in facts[s] for x in f["conc_kinds"].get(k, [])]
                cells.append("%s / %s (%d)" % (fmt(pct(xs, 50)),
                                              fmt(pct(xs, 95)), len(xs)))
            print("| %s | %s |" % (k, " | ".join(cells)))
        print()
    for s in names:
        if facts[s]:
            f = facts[s][-1]
            print("%s: %d process(es) after the run, %d during the 4 clients;"
                  " RssFile after the run %d KiB; FETCH ENVELOPE response "
                  "%d bytes; %d ops in the concurrent phase"
                  % (s, f["procs_after"], f["peak_procs"],
                     f["rss_file_after"], f["envelope_bytes"],
                     f["conc_ops"]))
    if problems:
        print("\nPROBLEMS:")
        for p in problems:
            print("- " + p)
    else:
        print("\nno problems: every answer checked, no server errors logged")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "cpu": cpus, "facts": facts,
                       "problems": problems}, f, indent=1, default=str)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
