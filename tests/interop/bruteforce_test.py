#!/usr/bin/env python3
"""Brute force against lwmaild (issue 4): 1,000 wrong passwords from one
address are throttled, and a user from another address still logs in.

  python3 tests/interop/bruteforce_test.py BUILD/lwmaild [unittest options]

TestBruteForce: an attacker on 127.0.0.1 sends 1,000 LOGINs with wrong
passwords over two connections (pipelined, 50 at a time). Every answer must
be exactly "NO [AUTHENTICATIONFAILED] Authentication failed". The server
logs one "authentication failed for USER from ADDR" line per password it
really checked (tries refused while the address is locked out are not
checked and log nothing above debug), so the log tells how many PBKDF2
checks the attacker got: a handful, not a thousand. Time says the same:
each checked failure is answered after a one-second delay, so the 1,000
answers must come far faster than 1,000 such delays. The right password
from 127.0.0.1 is refused while the lockout lasts, and meanwhile a user
connecting from 127.0.0.2 (the client socket bound to that source address)
logs in within one second.

TestPasswordTool: lwmaild --hash-password makes a hash string that
Python's hashlib.pbkdf2_hmac agrees with and that a configuration file
accepts; clear passwords and '#' names in the file are refused.

Each test starts and stops its own lwmaild (tests/interop/lwmtest.py) on a
free loopback port, plaintext logins allowed (--allow-plaintext-auth).
"""

import base64
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True       # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwmtest  # noqa: E402
from lwmtest import Daemon  # noqa: E402

LWMAILD = os.environ.get("LWMAILD", "")
FAIL = b"NO [AUTHENTICATIONFAILED] Authentication failed"
ATTEMPTS = 1000
CONNECTIONS = 2          # within the server's pre-auth limit per address
BATCH = 50               # LOGINs pipelined per round trip
ATTACK_TIME_LIMIT = 60.0  # s; unthrottled checks would need >= 500 s
# Real checks the attacker may get: the free failures (3 by default), plus
# one more per extra connection that started its check before the lock.
MAX_REAL_CHECKS = 8


def b64(b):
    return base64.b64encode(b).decode().rstrip("=")


def ab64_decode(s):
    s = s.replace(".", "+")
    return base64.b64decode(s + "=" * (-len(s) % 4))


def plaintext_args(d):
    """Make sure the daemon allows LOGIN without TLS (loopback test)."""
    if "--allow-plaintext-auth" not in d.args():
        d.extra_args.append("--allow-plaintext-auth")


class Client:
    """A minimal IMAP client with a chosen source address."""

    def __init__(self, port, source="127.0.0.1", timeout=30.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")
        self.greeting = self.readline()

    def readline(self):
        line = self.file.readline(65536)
        if not line:
            raise EOFError("connection closed by the server")
        return line.rstrip(b"\r\n")

    def send(self, data):
        self.sock.sendall(data)

    def tagged(self, tag):
        """Read up to the line tagged tag; return its text after the tag."""
        t = tag.encode() + b" "
        for _ in range(100000):
            line = self.readline()
            if line.startswith(t):
                return line[len(t):]
        raise AssertionError("no tagged response for %s" % tag)

    def close(self):
        try:
            self.file.close()
        finally:
            self.sock.close()


def real_checks(log):
    return len(re.findall(r"authentication failed for \S* from ", log))


class TestBruteForce(unittest.TestCase):

    def setUp(self):
        self.d = Daemon(LWMAILD, users=(("alice", "secret1"),
                                         ("bob", "secret2")))
        plaintext_args(self.d)
        self.port = self.d.start()

    def tearDown(self):
        try:
            self.d.stop()
        finally:
            self.d.cleanup()

    def attacker(self, n, answers, errors, started, legit_done):
        """n wrong passwords on one connection from 127.0.0.1; halfway
        through it lets the legitimate login happen (so that it happens
        while the attack goes on) and waits for it."""
        try:
            c = Client(self.port)
            try:
                done = 0
                while done < n:
                    k = min(BATCH, n - done)
                    tags = ["a%d" % (done + i) for i in range(k)]
                    c.send(b"".join(b'%s LOGIN alice "guess-%d-%d"\r\n'
                                    % (t.encode(), id(c) & 0xFFFF, done + i)
                                    for i, t in enumerate(tags)))
                    for t in tags:
                        answers.append(c.tagged(t))
                    done += k
                    if done >= n // 2 and not started.is_set():
                        started.set()
                        legit_done.wait(30)
            finally:
                c.close()
        except Exception as e:   # reported by the main thread
            errors.append(repr(e))
            started.set()

    def test_bruteforce(self):
        answers, errors = [], []
        started, legit_done = threading.Event(), threading.Event()
        per = ATTEMPTS // CONNECTIONS
        threads = [threading.Thread(target=self.attacker,
                                    args=(per, answers, errors, started,
                                          legit_done))
                   for _ in range(CONNECTIONS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        # while the attack runs, a user from another address logs in
        self.assertTrue(started.wait(30), "the attack did not start")
        t1 = time.monotonic()
        try:
            legit = Client(self.port, source="127.0.0.2")
            legit.send(b'l1 LOGIN bob "secret2"\r\n')
            r = legit.tagged("l1")
            legit_time = time.monotonic() - t1
        finally:
            legit_done.set()
        locked_then = len(answers)
        self.assertTrue(r.startswith(b"OK "), r)
        legit.send(b"l2 SELECT INBOX\r\n")
        self.assertTrue(legit.tagged("l2").startswith(b"OK "))
        legit.close()
        self.assertLess(legit_time, 1.0,
                        "login from 127.0.0.2 took %.2f s" % legit_time)

        for t in threads:
            t.join(ATTACK_TIME_LIMIT)
        attack_time = time.monotonic() - t0
        self.assertFalse(any(t.is_alive() for t in threads),
                         "the attack took over %d s" % ATTACK_TIME_LIMIT)
        self.assertEqual(errors, [])
        self.assertEqual(len(answers), ATTEMPTS)
        self.assertEqual(set(answers), {FAIL})
        self.assertLess(locked_then, ATTEMPTS, "the login was not mid-attack")

        # the right password from the locked address fails, at once
        c = Client(self.port)
        t2 = time.monotonic()
        c.send(b'r1 LOGIN alice "secret1"\r\n')
        self.assertEqual(c.tagged("r1"), FAIL)
        self.assertLess(time.monotonic() - t2, 0.5,
                        "a locked address is answered without delay")
        c.send(b"r2 AUTHENTICATE PLAIN %s\r\n"
               % base64.b64encode(b"\0alice\0secret1"))
        self.assertEqual(c.tagged("r2"), FAIL)
        c.close()
        # and the other address still can
        legit = Client(self.port, source="127.0.0.2")
        legit.send(b"l3 AUTHENTICATE PLAIN %s\r\n"
                   % base64.b64encode(b"\0alice\0secret1"))
        self.assertTrue(legit.tagged("l3").startswith(b"OK "))
        legit.close()

        log = self.d.stderr()
        checks = real_checks(log)
        print("bruteforce: %d answers in %.2f s, %d real password checks, "
              "legitimate login from 127.0.0.2 in %.3f s"
              % (len(answers), attack_time, checks, legit_time))
        # the throttle let the attacker check a few passwords, no more
        self.assertGreaterEqual(checks, 1)
        self.assertLessEqual(checks, MAX_REAL_CHECKS)
        # every checked failure costs the attacker a one-second delay: with
        # all 1,000 checked, two connections would need 500 s
        self.assertLess(attack_time, ATTEMPTS / CONNECTIONS / 4.0)
        self.assertIn("authentication failed for alice from 127.0.0.1", log)
        self.assertEqual(len(re.findall(
            r"127\.0\.0\.1 locked out after \d+ failed logins", log)), 1)
        # no password reaches the log
        self.assertNotIn("guess-", log)
        self.assertNotIn("secret", log)


class TestPasswordTool(unittest.TestCase):

    def run_tool(self, args, stdin):
        return subprocess.run([LWMAILD] + args, input=stdin,
                              capture_output=True, timeout=60)

    def test_hash_password(self):
        r = self.run_tool(["--hash-password", "--iterations", "1000"],
                          b"open sesame\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        line = r.stdout.decode().strip()
        m = re.match(r"^\$pbkdf2-sha256\$1000\$([A-Za-z0-9+/]+)\$"
                     r"([A-Za-z0-9+/]+)$", line)
        self.assertTrue(m, line)
        salt, dk = ab64_decode(m.group(1)), ab64_decode(m.group(2))
        self.assertEqual(len(salt), 16)
        self.assertEqual(dk, hashlib.pbkdf2_hmac("sha256", b"open sesame",
                                                 salt, 1000))
        # the default: 100,000 iterations, a fresh salt each time
        r2 = self.run_tool(["--hash-password"], b"open sesame\r\n")
        self.assertEqual(r2.returncode, 0, r2.stderr)
        f = r2.stdout.decode().strip().split("$")
        self.assertEqual(f[2], "100000")
        self.assertNotEqual(f[3], m.group(1))
        self.assertEqual(ab64_decode(f[4]), hashlib.pbkdf2_hmac(
            "sha256", b"open sesame", ab64_decode(f[3]), 100000))
        # refused: no password, bad counts
        self.assertEqual(self.run_tool(["--hash-password"], b"").returncode, 2)
        self.assertEqual(self.run_tool(["--hash-password"], b"\n").returncode,
                         2)
        for bad in ("999", "10000001", "x", "-5"):
            self.assertEqual(self.run_tool(["--hash-password", "--iterations",
                                            bad], b"pw\n").returncode, 2, bad)

    def start_with_config(self, users):
        tmp = tempfile.mkdtemp(prefix="lwm-auth-cfg-")
        self.addCleanup(shutil.rmtree, tmp, True)
        conf = os.path.join(tmp, "lwmaild.conf")
        with open(conf, "w") as f:
            f.write("imap = 127.0.0.1:0\nflash = %s\nflash-size = %s\n"
                    "block-size = %s\nallow-plaintext-auth = yes\n"
                    % (os.path.join(tmp, "flash.img"), lwmtest.FLASH_SIZE,
                       lwmtest.BLOCK_SIZE))
            for u in users:
                f.write("user = %s\n" % u)
        return Daemon(LWMAILD, workdir=tmp, config=conf)

    def test_config_users(self):
        salt = os.urandom(16)
        h = "$pbkdf2-sha256$1000$%s$%s" % (
            b64(salt), b64(hashlib.pbkdf2_hmac("sha256", b"pw-carol", salt,
                                               1000)))
        # passlib's own example ("ab64": '.' for '+') is accepted as it is
        passlib = ("$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$"
                   "1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk")
        d = self.start_with_config(["carol:" + h, "dave:" + passlib])
        try:
            port = d.start()
            for user, pw in (("carol", "pw-carol"),
                             ("dave", "toomanysecrets")):
                c = Client(port)
                c.send(b'x LOGIN %s "%s"\r\n' % (user.encode(), pw.encode()))
                self.assertTrue(c.tagged("x").startswith(b"OK "), user)
                c.close()
            d.stop()
        finally:
            d.cleanup()
        # a clear password or a reserved name in the file: refused
        for bad in ("carol:pw-carol", "#sys:" + h,
                    "carol:" + h.rsplit("$", 1)[0] + "$AAAA"):  # 3-byte hash
            d = self.start_with_config([bad])
            try:
                with self.assertRaises(lwmtest.DaemonError, msg=bad):
                    d.start()
            finally:
                d.cleanup()


if __name__ == "__main__":
    sys.exit(lwmtest.main("interop_bruteforce", globals()))
