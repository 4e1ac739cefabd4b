#!/usr/bin/env python3
"""lwmaild against Python's imaplib (and a byte-exact client where imaplib
can't say what we need): every IMAP command the server advertises, the
responses checked against RFC 3501 / RFC 9051 and the extension RFCs.

  python3 tests/interop/imaplib_test.py BUILD/lwmaild [unittest options]

Each test starts its own lwmaild on 127.0.0.1 (port 0: the kernel picks a
free one) in a temporary directory, and stops it with SIGTERM at the end: a
daemon that does not exit 0, or whose stderr carries a sanitizer report,
fails the test. Expected values are computed from the messages the test
builds, never copied from the server's output.
"""

import base64
import datetime
import imaplib
import os
import subprocess
import re
import socket
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True       # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwmtest  # noqa: E402
from lwmtest import (Daemon, Raw, code_of, fetches, fetch_items, make_message,  # noqa: E402
                     mutf7_decode, mutf7_encode, parse, seqset, status_of,
                     to_seqset, join_imaplib)

LWMAILD = os.environ.get("LWMAILD", "")
IO_TIMEOUT = lwmtest.IO_TIMEOUT

# What the server advertises after login (the brief of issue 3). AUTH=PLAIN
# is checked before login, where it matters (RFC 9051 6.2.2).
CAPS_AUTH = ("IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE "
             "UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE LIST-EXTENDED "
             "LIST-STATUS ESEARCH STATUS=SIZE BINARY").split()
CAPS_PRE = ("IMAP4rev1", "IMAP4rev2", "AUTH=PLAIN", "LITERAL+", "SASL-IR")

SPECIAL_USE = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash",
               "Junk": "\\Junk", "Archive": "\\Archive"}


# ------------------------------------------------------------ helpers

def imaplib_fetch(M, seqs, items, uid=False):
    if uid:
        typ, data = M.uid("FETCH", seqs, items)
    else:
        typ, data = M.fetch(seqs, items)
    if typ != "OK":
        raise AssertionError("FETCH %s %s -> %s %r" % (seqs, items, typ, data))
    return fetches(join_imaplib(data))


def flagset(v):
    """A FLAGS value (a parsed list) as a set of str, \\Recent left out."""
    return {f.decode() for f in v} - {"\\Recent"}


def parse_list(line):
    """b'* LIST (\\HasNoChildren) "/" INBOX' -> (attrs set, delim, name)."""
    v = parse(line)
    if len(v) < 5 or v[1].upper() not in (b"LIST", b"LSUB"):
        raise AssertionError("not a LIST response: %r" % line)
    attrs = {a.decode().lower() for a in v[2]}
    delim = v[3].decode() if v[3] is not None else None
    name = v[4].decode()
    return attrs, delim, name, v[5:]


def lists(untagged):
    out = {}
    for r in untagged:
        if re.match(rb"^\* (LIST|LSUB) ", r, re.I):
            attrs, delim, name, ext = parse_list(r)
            out[name] = (attrs, delim, ext)
    return out


def statuses(untagged):
    out = {}
    for r in untagged:
        if re.match(rb"^\* STATUS ", r, re.I):
            v = parse(r)
            items = v[3]
            out[v[2].decode()] = {items[i].decode().upper(): int(items[i + 1])
                                  for i in range(0, len(items), 2)}
    return out


def idate(s):
    """An IMAP date-time string into an aware datetime."""
    if isinstance(s, bytes):
        s = s.decode()
    return datetime.datetime.strptime(s.strip(), "%d-%b-%Y %H:%M:%S %z")


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


# ------------------------------------------------------------ the messages

BOUNDARY = "=_b0und.ary"
ATTACHMENT = bytes((i * 37 + 11) % 256 for i in range(700))
QP_TEXT = "Grüße aus Köln, a line that is long enough to need a soft break\r\n"


def qp_encode(text):
    import quopri
    return quopri.encodestring(text.encode("utf-8")).replace(b"\n", b"\r\n") \
        .replace(b"\r\r\n", b"\r\n")


def multipart_message():
    """A multipart/mixed message: text/plain, a base64 attachment and a
    quoted-printable part. Returns (message bytes, dict of its pieces)."""
    hdr = crlf(
        "From: Alice Example <alice@example.org>\n"
        "To: Bob <bob@example.org>, carol@example.net\n"
        "Cc: Dave <dave@example.com>\n"
        "Subject: Quarterly zebra report\n"
        "Date: Mon, 07 Feb 2022 21:52:25 -0800\n"
        "Message-ID: <report-1@example.org>\n"
        "In-Reply-To: <question-7@example.net>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"%s\"\n"
        "\n" % BOUNDARY)
    p1h = crlf("Content-Type: text/plain; charset=utf-8\n"
               "Content-Transfer-Encoding: 7bit\n\n")
    p1b = crlf("Hello Bob,\nthe quarterly zebra report is attached.\n")
    p2h = crlf("Content-Type: application/octet-stream; name=\"data.bin\"\n"
               "Content-Disposition: attachment; filename=\"data.bin\"\n"
               "Content-Transfer-Encoding: base64\n\n")
    p2b = base64.encodebytes(ATTACHMENT).replace(b"\n", b"\r\n")
    p3h = crlf("Content-Type: text/plain; charset=utf-8\n"
               "Content-Transfer-Encoding: quoted-printable\n\n")
    p3b = qp_encode(QP_TEXT)
    delim = b"--" + BOUNDARY.encode()
    text = (b"This is a multi-part message in MIME format.\r\n" +
            delim + b"\r\n" + p1h + p1b + b"\r\n" +
            delim + b"\r\n" + p2h + p2b + b"\r\n" +
            delim + b"\r\n" + p3h + p3b + b"\r\n" +
            delim + b"--\r\n")
    return hdr + text, dict(header=hdr, text=text, p1h=p1h, p1b=p1b,
                            p2h=p2h, p2b=p2b, p3h=p3h, p3b=p3b)


def big_message(size, subject):
    """A text message of exactly `size` bytes, CRLF lines, no bare CR/LF."""
    head = make_message(subject, body="")
    lines = []
    n = len(head)
    i = 0
    while n < size:
        line = ("%08d the quick brown fox jumps over the lazy dog %s\r\n"
                % (i, "=" * (i % 23)))
        lines.append(line)
        n += len(line)
        i += 1
    body = "".join(lines).encode()
    msg = head + body
    if len(msg) > size:
        cut = len(msg) - size
        msg = msg[:len(msg) - cut - 2] + b"\r\n"
        # trimming may leave a partial line: fine, it still ends in CRLF
    return msg


# ------------------------------------------------------------ base class

class DaemonCase(unittest.TestCase):
    """Starts a fresh lwmaild for every test, stops it after."""

    def setUp(self):
        if not LWMAILD:
            self.fail("usage: imaplib_test.py PATH/TO/lwmaild")
        self.daemon = Daemon(LWMAILD)
        self.addCleanup(self.daemon.cleanup)
        self.port = self.daemon.start()
        self._conns = []

    def tearDown(self):
        for c in self._conns:
            try:
                if isinstance(c, imaplib.IMAP4):
                    c.shutdown()
                else:
                    c.close()
            except Exception:
                pass
        self.daemon.stop()

    def imap(self, user="alice", password="secret1", login=True):
        M = imaplib.IMAP4("127.0.0.1", self.port, timeout=IO_TIMEOUT)
        self._conns.append(M)
        if login:
            typ, _ = M.login(user, password)
            self.assertEqual(typ, "OK")
        return M

    def raw(self, user="alice", password="secret1", login=True):
        R = Raw(self.port)
        self._conns.append(R)
        self.assertTrue(R.greeting.startswith(b"* OK"), R.greeting)
        if login:
            R.login(user, password)
        return R

    def append(self, M, mailbox, msg, flags=None, date=None):
        """imaplib APPEND; returns the new UID from APPENDUID."""
        typ, data = M.append(mailbox, flags, date, msg)
        self.assertEqual(typ, "OK", data)
        typ, code = M.response("APPENDUID")
        self.assertEqual(typ, "APPENDUID")
        self.assertTrue(code and code[-1], "no APPENDUID in %r" % data)
        v, uid = code[-1].split()
        return int(uid)

    def assertStatus(self, tagged, *wanted):
        self.assertIn(status_of(tagged), wanted, tagged)


# ------------------------------------------------------------ tests

class TestSessionCommands(DaemonCase):
    """CAPABILITY, NOOP, LOGIN, AUTHENTICATE, ENABLE, ID, NAMESPACE,
    LOGOUT."""

    def test_greeting_and_capability(self):
        R = self.raw(login=False)
        self.assertRegex(R.greeting, rb"^\* OK ")
        untagged, tagged = R.ok("CAPABILITY")
        caps = [r for r in untagged if r.startswith(b"* CAPABILITY ")]
        self.assertEqual(len(caps), 1, untagged)
        pre = set(caps[0].split()[2:])
        for c in CAPS_PRE:
            self.assertIn(c.encode(), pre)
        self.assertNotIn(b"LOGINDISABLED", pre)  # plaintext on loopback

        M = self.imap()
        typ, data = M.capability()
        self.assertEqual(typ, "OK")
        caps = set(data[0].split())
        for c in CAPS_AUTH:
            self.assertIn(c.encode(), caps, "missing %s in %r" % (c, data))
        limits = [c for c in caps if c.startswith(b"APPENDLIMIT=")]
        self.assertEqual(len(limits), 1, caps)
        self.assertGreaterEqual(int(limits[0].split(b"=")[1]), 5 << 20)

    def test_noop_check(self):
        M = self.imap()
        self.assertEqual(M.noop()[0], "OK")
        M.select("INBOX")
        self.assertEqual(M.check()[0], "OK")
        self.assertEqual(M.noop()[0], "OK")

    def test_login_good_and_bad(self):
        R = self.raw(login=False)
        _, tagged = R.cmd('LOGIN alice wrongpass')
        self.assertEqual(status_of(tagged), "NO", tagged)
        self.assertEqual(code_of(tagged), "AUTHENTICATIONFAILED", tagged)
        _, tagged = R.cmd('LOGIN nosuchuser secret1')
        self.assertEqual(status_of(tagged), "NO", tagged)
        self.assertEqual(code_of(tagged), "AUTHENTICATIONFAILED", tagged)
        # the session stays usable after a failure
        R.login("alice", "secret1")
        untagged, _ = R.ok('LIST "" INBOX')
        self.assertIn("INBOX", lists(untagged))

        M = self.imap(login=False)
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            M.login("alice", "secret2")
        self.assertIn("AUTHENTICATIONFAILED", str(cm.exception))
        self.assertEqual(M.login("bob", "secret2")[0], "OK")
        # strings as literals and quoted strings work too
        R2 = self.raw(login=False)
        R2.send(b"a1 LOGIN {5+}\r\nalice {7+}\r\nsecret1\r\n")
        _, tagged = R2.collect("a1")
        self.assertEqual(status_of(tagged), "OK", tagged)

    def test_authenticate_plain(self):
        M = self.imap(login=False)
        typ, _ = M.authenticate("PLAIN", lambda _: b"\0alice\0secret1")
        self.assertEqual(typ, "OK")
        self.assertEqual(M.state, "AUTH")
        self.assertEqual(M.select("INBOX")[0], "OK")

        M2 = self.imap(login=False)
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            M2.authenticate("PLAIN", lambda _: b"\0alice\0nope")
        self.assertIn("AUTHENTICATIONFAILED", str(cm.exception))

        # SASL-IR (RFC 4959): the initial response on the command line
        R = self.raw(login=False)
        ir = base64.b64encode(b"\0bob\0secret2").decode()
        _, tagged = R.cmd("AUTHENTICATE PLAIN " + ir)
        self.assertEqual(status_of(tagged), "OK", tagged)
        # authorization identity equal to the user is accepted
        R = self.raw(login=False)
        ir = base64.b64encode(b"bob\0bob\0secret2").decode()
        _, tagged = R.cmd("AUTHENTICATE PLAIN " + ir)
        self.assertEqual(status_of(tagged), "OK", tagged)
        # the client cancels with "*": tagged BAD (RFC 9051 6.2.2)
        R = self.raw(login=False)
        R.send(b"c1 AUTHENTICATE PLAIN\r\n")
        self.assertTrue(R.read_response().startswith(b"+"))
        R.send(b"*\r\n")
        _, tagged = R.collect("c1")
        self.assertEqual(status_of(tagged), "BAD", tagged)
        # invalid base64: tagged BAD (RFC 9051 6.2.2)
        R.send(b"c2 AUTHENTICATE PLAIN\r\n")
        self.assertTrue(R.read_response().startswith(b"+"))
        R.send(b"!!!not-base64!!!\r\n")
        _, tagged = R.collect("c2")
        self.assertEqual(status_of(tagged), "BAD", tagged)
        # an unknown mechanism: NO or BAD, never OK
        _, tagged = R.cmd("AUTHENTICATE X-UNKNOWN")
        self.assertStatus(tagged, "NO", "BAD")
        # still not logged in
        _, tagged = R.cmd("SELECT INBOX")
        self.assertStatus(tagged, "NO", "BAD")

    def test_enable(self):
        R = self.raw(login=False)
        _, tagged = R.cmd("ENABLE IMAP4rev2")
        self.assertStatus(tagged, "BAD", "NO")   # authenticated state only
        R.login()
        untagged, _ = R.ok("ENABLE IMAP4rev2")
        enabled = [r for r in untagged if r.upper().startswith(b"* ENABLED")]
        self.assertEqual(len(enabled), 1, untagged)
        self.assertIn(b"IMAP4REV2", enabled[0].upper().split())
        # an unknown extension is ignored, not an error (RFC 5161 3.1)
        untagged, _ = R.ok("ENABLE X-NO-SUCH-THING")
        for r in untagged:
            self.assertNotIn(b"X-NO-SUCH-THING", r.upper())
        # IMAP4rev2 SEARCH answers with ESEARCH (RFC 9051 6.4.4)
        R.ok("SELECT INBOX")
        untagged, _ = R.ok("SEARCH ALL")
        self.assertTrue(any(r.startswith(b"* ESEARCH") for r in untagged),
                        untagged)
        self.assertFalse(any(r.startswith(b"* SEARCH") for r in untagged),
                         untagged)
        # imaplib's generic way to send it
        M = self.imap()
        typ, data = M.enable("IMAP4rev2")
        self.assertEqual(typ, "OK")

    def test_id(self):
        M = self.imap(login=False)
        typ, data = M.xatom("ID", '("name" "imaplib_test" "version" "1")')
        self.assertEqual(typ, "OK", data)
        typ, ids = M.response("ID")
        self.assertEqual(typ, "ID")
        self.assertTrue(ids and ids[-1] is not None, ids)
        v = parse(ids[-1])
        self.assertTrue(v == [None] or isinstance(v[0], list), ids)
        if isinstance(v[0], list):
            self.assertEqual(len(v[0]) % 2, 0)
        R = self.raw()
        untagged, _ = R.ok("ID NIL")
        self.assertEqual(len([r for r in untagged if r.startswith(b"* ID ")]),
                         1, untagged)

    def test_id_syntax_error(self):
        """RFC 2971 3.3: id-params-list is field-value PAIRS; an odd
        count is a syntax error (BAD)."""
        R = self.raw()
        _, tagged = R.cmd('ID ("name")')
        self.assertEqual(status_of(tagged), "BAD", tagged)

    def test_namespace(self):
        M = self.imap()
        typ, data = M.namespace()
        self.assertEqual(typ, "OK")
        v = parse(data[0])
        self.assertEqual(len(v), 3, data)
        personal = v[0]
        self.assertIsInstance(personal, list, data)
        self.assertEqual(personal[0][0], b"", data)
        self.assertEqual(personal[0][1], b"/", data)

    def test_logout(self):
        R = self.raw()
        untagged, tagged = R.ok("LOGOUT")
        self.assertTrue(any(r.startswith(b"* BYE") for r in untagged), untagged)
        R.settimeout(5)
        self.assertEqual(R.file.read(1), b"", "connection not closed")
        M = self.imap()
        typ, _ = M.logout()
        self.assertEqual(typ, "BYE")


class TestMailboxes(DaemonCase):
    """LIST (with extensions), LSUB, CREATE, DELETE, RENAME, SUBSCRIBE,
    UNSUBSCRIBE, STATUS."""

    def list_all(self, R, cmd='LIST "" "*"'):
        untagged, _ = R.ok(cmd)
        return lists(untagged)

    def test_list_defaults(self):
        R = self.raw()
        boxes = self.list_all(R)
        for name in lwmtest.DEFAULT_MAILBOXES:
            self.assertIn(name, boxes)
            self.assertEqual(boxes[name][1], "/")
            self.assertNotIn("\\noselect", boxes[name][0])
        # CHILDREN (RFC 3348): leaf mailboxes say \HasNoChildren
        self.assertIn("\\hasnochildren", boxes["INBOX"][0])
        # the delimiter query
        untagged, _ = R.ok('LIST "" ""')
        self.assertEqual(len(untagged), 1, untagged)
        attrs, delim, name, _ = parse_list(untagged[0])
        self.assertEqual((delim, name), ("/", ""))
        self.assertIn("\\noselect", attrs)
        # imaplib
        M = self.imap()
        typ, data = M.list()
        self.assertEqual(typ, "OK")
        names = [parse(b"* LIST " + d)[4].decode() for d in data]
        self.assertEqual(sorted(names), sorted(boxes))
        # INBOX matches case-insensitively; other names don't
        untagged, _ = R.ok('LIST "" "inbox"')
        self.assertEqual(list(lists(untagged)), ["INBOX"])
        untagged, _ = R.ok('LIST "" "sent"')
        self.assertEqual(lists(untagged), {})
        # bob has his own mailboxes
        R.ok("CREATE AliceOnly")
        Rb = self.raw("bob", "secret2")
        bob = self.list_all(Rb)
        self.assertNotIn("AliceOnly", bob)
        self.assertEqual(sorted(bob), sorted(lwmtest.DEFAULT_MAILBOXES))

    def test_list_special_use_and_status(self):
        M = self.imap()
        self.append(M, "INBOX", make_message("one"), r"(\Seen)")
        self.append(M, "INBOX", make_message("two"))
        self.append(M, "Sent", make_message("three"))
        R = self.raw()
        untagged, _ = R.ok(
            'LIST "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))')
        boxes = lists(untagged)
        st = statuses(untagged)
        for name, use in SPECIAL_USE.items():
            self.assertIn(use.lower(), boxes[name][0], boxes[name])
        self.assertFalse({a for a in boxes["INBOX"][0]} &
                         {u.lower() for u in SPECIAL_USE.values()})
        self.assertEqual(st["INBOX"], {"MESSAGES": 2, "UNSEEN": 1})
        self.assertEqual(st["Sent"], {"MESSAGES": 1, "UNSEEN": 1})
        for name in lwmtest.DEFAULT_MAILBOXES:
            self.assertIn(name, st, "no STATUS for %s (RFC 5819)" % name)
        # each STATUS follows its LIST (RFC 5819 section 2)
        order = [parse(r)[4 if r.startswith(b"* LIST") else 2].decode()
                 for r in untagged]
        for i, r in enumerate(untagged):
            if r.startswith(b"* STATUS"):
                self.assertTrue(i > 0 and untagged[i - 1].startswith(b"* LIST")
                                and order[i - 1] == order[i], untagged)
        # selection option SPECIAL-USE (RFC 6154 5.1): only those
        boxes = self.list_all(R, 'LIST (SPECIAL-USE) "" "*"')
        self.assertEqual(sorted(boxes), sorted(SPECIAL_USE))
        # the same through imaplib's list()
        typ, data = M.list('""', '"*" RETURN (SPECIAL-USE)')
        self.assertEqual(typ, "OK")
        got = {parse(b"* LIST " + d)[4].decode(): d for d in data}
        self.assertIn(b"\\Trash", got["Trash"])

    def test_create_delete_rename_hierarchy(self):
        M = self.imap()
        R = self.raw()
        self.assertEqual(M.create("Projects/2024/Q1")[0], "OK")
        boxes = self.list_all(R, 'LIST "" "Projects*"')
        self.assertEqual(sorted(boxes),
                         ["Projects", "Projects/2024", "Projects/2024/Q1"])
        self.assertIn("\\haschildren", boxes["Projects"][0])
        self.assertIn("\\haschildren", boxes["Projects/2024"][0])
        self.assertIn("\\hasnochildren", boxes["Projects/2024/Q1"][0])
        boxes = self.list_all(R, 'LIST "" "Projects/%"')
        self.assertEqual(list(boxes), ["Projects/2024"])
        boxes = self.list_all(R, 'LIST "Projects/" "%"')
        self.assertEqual(list(boxes), ["Projects/2024"])
        # a trailing delimiter declares a parent (RFC 3501 6.3.3)
        self.assertEqual(M.create("Work/")[0], "OK")
        boxes = self.list_all(R)
        self.assertIn("Work", boxes)
        self.assertNotIn("Work/", boxes)
        # already exists; INBOX in any case
        for name in ("Work", "INBOX", "inbox"):
            _, tagged = R.cmd('CREATE "%s"' % name)
            self.assertEqual(status_of(tagged), "NO", tagged)
        _, tagged = R.cmd('CREATE "Projects/2024"')
        self.assertEqual(code_of(tagged), "ALREADYEXISTS", tagged)
        # a message in a child survives the parent's rename
        uid = self.append(M, "Projects/2024/Q1", make_message("q1 numbers"))
        self.assertEqual(M.rename("Projects", "Old/Projects")[0], "OK")
        boxes = self.list_all(R)
        self.assertNotIn("Projects", boxes)
        self.assertNotIn("Projects/2024/Q1", boxes)
        for name in ("Old", "Old/Projects", "Old/Projects/2024",
                     "Old/Projects/2024/Q1"):
            self.assertIn(name, boxes)
        typ, data = M.select("Old/Projects/2024/Q1")
        self.assertEqual((typ, data), ("OK", [b"1"]))
        got = imaplib_fetch(M, str(uid), "(BODY.PEEK[HEADER.FIELDS (Subject)])",
                            uid=True)
        self.assertIn(b"q1 numbers", list(got.values())[0][
            "BODY[HEADER.FIELDS (SUBJECT)]"])
        M.close()
        # rename errors
        _, tagged = R.cmd('RENAME "NoSuch" "Other"')
        self.assertEqual(status_of(tagged), "NO", tagged)
        _, tagged = R.cmd('RENAME "Work" "Sent"')
        self.assertEqual(status_of(tagged), "NO", tagged)
        # delete a leaf, then its parent
        self.assertEqual(M.delete("Old/Projects/2024/Q1")[0], "OK")
        self.assertEqual(M.delete("Work")[0], "OK")
        boxes = self.list_all(R)
        self.assertNotIn("Old/Projects/2024/Q1", boxes)
        self.assertNotIn("Work", boxes)
        self.assertIn("\\hasnochildren", boxes["Old/Projects/2024"][0])
        _, tagged = R.cmd('DELETE "Work"')
        self.assertEqual(status_of(tagged), "NO", tagged)
        _, tagged = R.cmd("DELETE INBOX")
        self.assertEqual(status_of(tagged), "NO", tagged)
        # deleting a parent never loses its children
        _, tagged = R.cmd('DELETE "Old/Projects"')
        self.assertStatus(tagged, "OK", "NO")
        boxes = self.list_all(R)
        self.assertIn("Old/Projects/2024", boxes)
        self.assertNotIn("\\noselect", boxes["Old/Projects/2024"][0])

    def test_rename_inbox(self):
        M = self.imap()
        uids = [self.append(M, "INBOX", make_message("inbox %d" % i))
                for i in range(3)]
        self.assertEqual(M.rename("INBOX", "Saved")[0], "OK")
        # RFC 3501 6.3.5: messages move to the new name, INBOX stays empty
        self.assertEqual(M.select("Saved"), ("OK", [b"3"]))
        typ, data = M.uid("SEARCH", "ALL")
        self.assertEqual(len(data[0].split()), len(uids))
        self.assertEqual(M.select("INBOX"), ("OK", [b"0"]))

    def test_non_ascii_names(self):
        self.assertEqual(mutf7_encode("Entwürfe"), "Entw&APw-rfe")
        self.assertEqual(mutf7_decode("Entw&APw-rfe"), "Entwürfe")
        names = ["Entwürfe", "Grüße/Über", "日本語", "A&B"]
        M = self.imap()
        R = self.raw()
        for n in names:
            self.assertEqual(M.create('"%s"' % mutf7_encode(n))[0], "OK", n)
        boxes = self.list_all(R)
        for n in names:
            self.assertIn(mutf7_encode(n), boxes)
            self.assertEqual(mutf7_decode(mutf7_encode(n)), n)
        self.assertIn("Gr&APwA3w-e", boxes)
        self.assertIn("A&-B", boxes)
        self.assertEqual(M.select('"Entw&APw-rfe"')[0], "OK")
        M.close()
        self.assertEqual(M.rename('"Entw&APw-rfe"',
                                  '"%s"' % mutf7_encode("Brouillons é"))[0],
                         "OK")
        boxes = self.list_all(R)
        self.assertNotIn("Entw&APw-rfe", boxes)
        self.assertIn(mutf7_encode("Brouillons é"), boxes)
        untagged, _ = R.ok('STATUS "%s" (MESSAGES)' % mutf7_encode("日本語"))
        self.assertEqual(statuses(untagged),
                         {mutf7_encode("日本語"): {"MESSAGES": 0}})

    def test_subscribe_lsub(self):
        M = self.imap()
        R = self.raw()
        M.create("Lists")
        M.create("Lists/dev")
        self.assertEqual(M.subscribe("Lists/dev")[0], "OK")
        typ, data = M.lsub('""', '"*"')
        self.assertEqual(typ, "OK")
        subs = [parse(b"* LSUB " + d)[4].decode() for d in data if d]
        self.assertIn("Lists/dev", subs)
        self.assertNotIn("Lists", subs)
        boxes = self.list_all(R, 'LIST (SUBSCRIBED) "" "*"')
        self.assertIn("Lists/dev", boxes)
        self.assertIn("\\subscribed", boxes["Lists/dev"][0])
        self.assertNotIn("Lists", boxes)
        # RETURN (SUBSCRIBED) marks without filtering (RFC 5258 3.2)
        boxes = self.list_all(R, 'LIST "" "Lists*" RETURN (SUBSCRIBED)')
        self.assertIn("\\subscribed", boxes["Lists/dev"][0])
        self.assertNotIn("\\subscribed", boxes["Lists"][0])
        self.assertEqual(M.unsubscribe("Lists/dev")[0], "OK")
        boxes = self.list_all(R, 'LIST (SUBSCRIBED) "" "*"')
        self.assertNotIn("Lists/dev", boxes)
        untagged, _ = R.ok('LSUB "" "*"')
        self.assertNotIn("Lists/dev", lists(untagged))
        # a deleted mailbox is no longer listed as a mailbox
        M.create("Gone")
        M.subscribe("Gone")
        M.delete("Gone")
        self.assertNotIn("Gone", self.list_all(R))

    def test_subscription_outlives_delete(self):
        """RFC 3501 6.3.6 (MUST NOT) / RFC 9051 6.3.7 (SHOULD NOT): the
        server does not remove a name from the subscriptions on its own;
        LIST (SUBSCRIBED) shows it as \\NonExistent (RFC 5258 3.1, 3.4)."""
        R = self.raw()
        R.ok("CREATE Gone")
        R.ok("SUBSCRIBE Gone")
        R.ok("DELETE Gone")
        untagged, _ = R.ok('LSUB "" "*"')
        self.assertIn("Gone", lists(untagged))
        boxes = self.list_all(R, 'LIST (SUBSCRIBED) "" "Gone"')
        self.assertIn("Gone", boxes)
        self.assertIn("\\nonexistent", boxes["Gone"][0])

    def test_status(self):
        M = self.imap()
        msgs = [make_message("s%d" % i, body="x" * (100 * i) + "\r\n")
                for i in range(1, 5)]
        flags = [r"(\Seen)", None, r"(\Deleted \Seen)", r"(\Deleted)"]
        uids = [self.append(M, "Archive", m, f) for m, f in zip(msgs, flags)]
        typ, data = M.status("Archive",
                             "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE DELETED)")
        self.assertEqual(typ, "OK")
        v = parse(b"* STATUS " + data[0])
        st = {v[3][i].decode(): int(v[3][i + 1]) for i in range(0, len(v[3]), 2)}
        self.assertEqual(st["MESSAGES"], 4)
        self.assertEqual(st["UNSEEN"], 2)
        self.assertEqual(st["DELETED"], 2)
        self.assertEqual(st["SIZE"], sum(len(m) for m in msgs))
        self.assertGreater(st["UIDNEXT"], max(uids))
        typ, data = M.response("APPENDUID")
        typ, data = M.select("Archive", readonly=True)
        self.assertEqual(M.response("UIDVALIDITY")[1][-1],
                         str(st["UIDVALIDITY"]).encode())
        self.assertEqual(M.response("UIDNEXT")[1][-1],
                         str(st["UIDNEXT"]).encode())
        # errors
        typ, _ = M.status("NoSuchBox", "(MESSAGES)")
        self.assertEqual(typ, "NO")
        R = self.raw()
        _, tagged = R.cmd("STATUS INBOX (MESSAGES BOGUS)")
        self.assertEqual(status_of(tagged), "BAD", tagged)


class TestSelect(DaemonCase):
    """SELECT, EXAMINE, CLOSE, UNSELECT."""

    def test_select_examine(self):
        M = self.imap()
        uids = [self.append(M, "INBOX", make_message("m%d" % i)) for i in range(3)]
        R = self.raw()
        untagged, tagged = R.ok("SELECT INBOX")
        self.assertEqual(code_of(tagged), "READ-WRITE", tagged)
        exists = [int(r.split()[1]) for r in untagged if r.endswith(b" EXISTS")]
        self.assertEqual(exists, [3])
        codes = dict((c.split(" ", 1) + [""])[:2]
                     for c in (code_of(r) for r in untagged) if c)
        self.assertIn("UIDVALIDITY", codes)
        self.assertGreater(int(codes["UIDVALIDITY"]), 0)
        self.assertIn("UIDNEXT", codes)
        self.assertGreater(int(codes["UIDNEXT"]), max(uids))
        self.assertIn("PERMANENTFLAGS", codes)
        perm = parse(codes["PERMANENTFLAGS"].encode())[0]
        perm = {f.decode() for f in perm}
        for f in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted",
                  "\\Draft", "\\*"):
            self.assertIn(f, perm)
        flags = [r for r in untagged if r.startswith(b"* FLAGS ")]
        self.assertEqual(len(flags), 1, untagged)
        flags = {f.decode() for f in parse(flags[0])[2]}
        for f in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"):
            self.assertIn(f, flags)

        # EXAMINE: read-only; no flag changes, no implicit \Seen
        untagged, tagged = R.ok("EXAMINE INBOX")
        self.assertEqual(code_of(tagged), "READ-ONLY", tagged)
        _, tagged = R.cmd("STORE 1 +FLAGS (\\Flagged)")
        self.assertEqual(status_of(tagged), "NO", tagged)
        R.ok("FETCH 1 BODY[]")
        untagged, _ = R.ok("FETCH 1 FLAGS")
        self.assertNotIn("\\Seen", flagset(fetches(untagged)[1]["FLAGS"]))
        _, tagged = R.cmd("EXPUNGE")
        self.assertEqual(status_of(tagged), "NO", tagged)
        typ, data = M.select("INBOX", readonly=True)
        self.assertEqual((typ, data), ("OK", [b"3"]))
        self.assertEqual(M.response("READ-ONLY")[0], "READ-ONLY")

        # a failed SELECT leaves no mailbox selected (RFC 3501 6.3.1)
        R.ok("SELECT INBOX")
        _, tagged = R.cmd("SELECT NoSuchBox")
        self.assertEqual(status_of(tagged), "NO", tagged)
        _, tagged = R.cmd("FETCH 1 FLAGS")
        self.assertStatus(tagged, "BAD", "NO")
        # INBOX is case-insensitive
        untagged, _ = R.ok("SELECT inbox")
        self.assertIn(b"* 3 EXISTS", untagged)

    def test_close_unselect(self):
        M = self.imap()
        for i in range(3):
            self.append(M, "INBOX", make_message("c%d" % i))
        R = self.raw()
        R.ok("SELECT INBOX")
        R.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
        untagged, _ = R.ok("UNSELECT")
        self.assertFalse([r for r in untagged if b"EXPUNGE" in r], untagged)
        _, tagged = R.cmd("FETCH 1 FLAGS")
        self.assertStatus(tagged, "BAD", "NO")
        untagged, _ = R.ok("EXAMINE INBOX")
        self.assertIn(b"* 3 EXISTS", untagged)
        R.ok("CLOSE")                           # read-only: no expunge
        untagged, _ = R.ok("SELECT INBOX")
        self.assertIn(b"* 3 EXISTS", untagged)
        untagged, _ = R.ok("CLOSE")             # expunges silently
        self.assertFalse([r for r in untagged if b"EXPUNGE" in r], untagged)
        _, tagged = R.cmd("FETCH 1 FLAGS")
        self.assertStatus(tagged, "BAD", "NO")
        untagged, _ = R.ok("SELECT INBOX")
        self.assertIn(b"* 2 EXISTS", untagged)
        typ, data = M.select("INBOX")
        self.assertEqual(M.unselect()[0], "OK")
        self.assertEqual(M.select("INBOX")[0], "OK")
        self.assertEqual(M.close()[0], "OK")
        _, tagged = R.cmd("CLOSE")
        self.assertEqual(status_of(tagged), "OK", tagged)
        _, tagged = R.cmd("CLOSE")              # nothing selected now
        self.assertStatus(tagged, "BAD", "NO")


class TestAppend(DaemonCase):
    """APPEND: flags, internal date, APPENDUID, streamed big messages."""

    def test_append_flags_date(self):
        M = self.imap()
        msg = make_message("with flags and date")
        date = '"07-Feb-2022 21:52:25 -0800"'
        uid = self.append(M, "INBOX", msg, r"(\Flagged \Draft $Label1)", date)
        typ, code = M.response("APPENDUID")
        M.select("INBOX")
        uidvalidity = M.response("UIDVALIDITY")[1][-1]
        got = imaplib_fetch(M, str(uid),
                            "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])",
                            uid=True)
        self.assertEqual(len(got), 1)
        d = list(got.values())[0]
        self.assertEqual(int(d["UID"]), uid)
        self.assertEqual(flagset(d["FLAGS"]), {"\\Flagged", "\\Draft", "$Label1"})
        self.assertEqual(idate(d["INTERNALDATE"]), idate(date.strip('"')))
        self.assertEqual(int(d["RFC822.SIZE"]), len(msg))
        self.assertEqual(d["BODY[]"], msg)
        # APPENDUID carries the mailbox's UIDVALIDITY (RFC 4315)
        R = self.raw()
        tagged = R.append("INBOX", make_message("raw"), "\\Seen",
                          " 1-Mar-2021 08:00:00 +0000")
        self.assertEqual(status_of(tagged), "OK", tagged)
        c = code_of(tagged).split()
        self.assertEqual(c[0], "APPENDUID")
        self.assertEqual(c[1].encode(), uidvalidity)
        self.assertGreater(int(c[2]), uid)
        # no date: the internal date is the time of the APPEND (a day of slack)
        uid3 = self.append(M, "INBOX", make_message("now"))
        d = list(imaplib_fetch(M, str(uid3), "(INTERNALDATE)", uid=True).values())[0]
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((idate(d["INTERNALDATE"]) - now).total_seconds()),
                        86400)
        # LITERAL+ (RFC 7888): no continuation needed
        R.send(b"p1 APPEND Drafts (\\Draft) {%d+}\r\n" % len(msg) + msg + b"\r\n")
        _, tagged = R.collect("p1")
        self.assertEqual(status_of(tagged), "OK", tagged)
        # errors: no such mailbox -> NO [TRYCREATE]; bad date -> BAD
        tagged = R.append("NoSuchBox", msg)
        self.assertEqual(status_of(tagged), "NO", tagged)
        self.assertEqual(code_of(tagged), "TRYCREATE", tagged)
        R.send(b"p2 APPEND INBOX \"31-Foo-2021 00:00:00 +0000\" {5}\r\n")
        r = R.read_response()
        if r.startswith(b"+"):
            R.send(b"hello\r\n")
            _, tagged = R.collect("p2")
        else:
            tagged = r
        self.assertEqual(status_of(tagged), "BAD", tagged)
        R.ok("NOOP")

    def test_append_over_8k_streamed(self):
        M = self.imap()
        msg = big_message(20000, "twenty kilobytes")
        self.assertEqual(len(msg), 20000)
        uid = self.append(M, "INBOX", msg, r"(\Seen)")
        M.select("INBOX")
        d = list(imaplib_fetch(M, str(uid), "(RFC822.SIZE BODY.PEEK[])",
                               uid=True).values())[0]
        self.assertEqual(int(d["RFC822.SIZE"]), len(msg))
        self.assertEqual(d["BODY[]"], msg)
        # a partial fetch in the middle of the body
        d = list(imaplib_fetch(M, str(uid), "(BODY.PEEK[]<9000.3000>)",
                               uid=True).values())[0]
        self.assertEqual(d["BODY[]<9000>"], msg[9000:12000])

    def test_append_5mb_byte_exact(self):
        M = self.imap()
        msg = big_message(5 * 1000 * 1000, "five megabytes")
        uid = self.append(M, "INBOX", msg)
        M.select("INBOX")
        d = list(imaplib_fetch(M, str(uid), "(RFC822.SIZE BODY.PEEK[])",
                               uid=True).values())[0]
        self.assertEqual(int(d["RFC822.SIZE"]), len(msg))
        self.assertTrue(d["BODY[]"] == msg, "5 MB message differs after FETCH")
        # the same bytes through the raw client, with a literal in one go
        R = self.raw()
        R.ok("EXAMINE INBOX")
        untagged, _ = R.ok("UID FETCH %d BODY.PEEK[TEXT]" % uid)
        hdr_end = msg.index(b"\r\n\r\n") + 4
        self.assertTrue(fetches(untagged)[1]["BODY[TEXT]"] == msg[hdr_end:])

    def test_append_limit(self):
        M = self.imap()
        typ, data = M.capability()
        limit = int([c for c in data[0].split()
                     if c.startswith(b"APPENDLIMIT=")][0].split(b"=")[1])
        R = self.raw()
        R.send(b"big APPEND INBOX {%d}\r\n" % (limit + 1))
        r = R.read_response()
        self.assertFalse(r.startswith(b"+"),
                         "continuation for a literal over APPENDLIMIT")
        self.assertEqual(status_of(r), "NO", r)
        self.assertEqual(code_of(r), "TOOBIG", r)   # RFC 7889 section 4
        R.ok("NOOP")


class TestFetch(DaemonCase):
    """FETCH of every data item on a multipart message."""

    def setUp(self):
        super().setUp()
        self.msg, self.parts = multipart_message()
        M = self.imap()
        self.date = "07-Feb-2022 21:52:25 -0800"
        self.uid = self.append(M, "INBOX", self.msg, None, '"%s"' % self.date)
        self.M = M
        M.select("INBOX")

    def one(self, items, uid=False):
        got = imaplib_fetch(self.M, str(self.uid) if uid else "1", items, uid)
        self.assertIn(1, got)
        return got[1]

    def test_simple_items(self):
        p = self.parts
        d = self.one("(UID FLAGS INTERNALDATE RFC822.SIZE)")
        self.assertEqual(int(d["UID"]), self.uid)
        self.assertEqual(flagset(d["FLAGS"]), set())
        self.assertEqual(idate(d["INTERNALDATE"]), idate(self.date))
        self.assertEqual(int(d["RFC822.SIZE"]), len(self.msg))
        d = self.one("(BODY.PEEK[HEADER.FIELDS (From Subject)])")
        self.assertEqual(d["BODY[HEADER.FIELDS (FROM SUBJECT)]"],
                         b"From: Alice Example <alice@example.org>\r\n"
                         b"Subject: Quarterly zebra report\r\n\r\n")
        d = self.one("(BODY.PEEK[HEADER.FIELDS.NOT (From Subject Cc To Date "
                     "Message-ID In-Reply-To)])")
        self.assertEqual(list(d.values())[0],
                         b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed;"
                         b" boundary=\"%s\"\r\n\r\n" % BOUNDARY.encode())
        d = self.one("(BODY.PEEK[HEADER] BODY.PEEK[TEXT]<0.10> BODY.PEEK[1.MIME]"
                     " BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[3.MIME])")
        self.assertEqual(d["BODY[HEADER]"], p["header"])
        self.assertEqual(d["BODY[TEXT]<0>"], p["text"][:10])
        self.assertEqual(d["BODY[1.MIME]"], p["p1h"])
        self.assertEqual(d["BODY[1]"], p["p1b"])
        self.assertEqual(d["BODY[2]"], p["p2b"])
        self.assertEqual(d["BODY[3.MIME]"], p["p3h"])
        self.assertEqual(flagset(self.one("(FLAGS)")["FLAGS"]), set())

    def test_binary(self):
        p = self.parts
        d = self.one("(BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]"
                     " BINARY.SIZE[2] BINARY.PEEK[3] BINARY.SIZE[3])")
        self.assertEqual(d["BINARY[1]"], p["p1b"])
        self.assertEqual(int(d["BINARY.SIZE[1]"]), len(p["p1b"]))
        self.assertTrue(d["BINARY[2]"] == ATTACHMENT, "base64 part decoded wrong")
        self.assertEqual(int(d["BINARY.SIZE[2]"]), len(ATTACHMENT))
        self.assertEqual(d["BINARY[3]"], QP_TEXT.encode("utf-8"))
        self.assertEqual(int(d["BINARY.SIZE[3]"]), len(QP_TEXT.encode("utf-8")))
        d = self.one("(BINARY.PEEK[2]<100.50>)")
        self.assertEqual(d["BINARY[2]<100>"], ATTACHMENT[100:150])
        # BINARY sets \Seen like BODY (RFC 3516 4.2)
        self.one("(BINARY[1])")
        self.assertIn("\\Seen", flagset(self.one("(FLAGS)")["FLAGS"]))

    def test_body_sets_seen_peek_does_not(self):
        self.one("(BODY.PEEK[] BINARY.PEEK[1] RFC822.HEADER RFC822.SIZE)")
        self.assertNotIn("\\Seen", flagset(self.one("(FLAGS)")["FLAGS"]))
        d = self.one("(BODY[])")
        self.assertEqual(d["BODY[]"], self.msg)
        self.assertIn("\\Seen", flagset(self.one("(FLAGS)")["FLAGS"]))
        self.M.store("1", "-FLAGS", r"(\Seen)")
        d = self.one("(RFC822)")
        self.assertEqual(d["RFC822"], self.msg)
        self.assertIn("\\Seen", flagset(self.one("(FLAGS)")["FLAGS"]))
        self.M.store("1", "-FLAGS", r"(\Seen)")
        d = self.one("(RFC822.HEADER)")
        self.assertEqual(d["RFC822.HEADER"], self.parts["header"])
        d = self.one("(RFC822.TEXT)")
        self.assertEqual(d["RFC822.TEXT"], self.parts["text"])
        self.assertIn("\\Seen", flagset(self.one("(FLAGS)")["FLAGS"]))

    def test_uid_fetch_and_macros(self):
        d = self.one("(FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])", uid=True)
        self.assertEqual(int(d["UID"]), self.uid)   # UID FETCH adds UID
        for macro, items in (("FAST", {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}),
                             ("ALL", {"FLAGS", "INTERNALDATE", "RFC822.SIZE",
                                      "ENVELOPE"}),
                             ("FULL", {"FLAGS", "INTERNALDATE", "RFC822.SIZE",
                                       "ENVELOPE", "BODY"})):
            d = self.one(macro)
            self.assertEqual(set(d), items, macro)
        # a UID that does not exist: OK, no data
        typ, data = self.M.uid("FETCH", str(self.uid + 100), "(FLAGS)")
        self.assertEqual(typ, "OK")
        self.assertEqual([x for x in data if x], [])

    def test_envelope(self):
        env = self.one("(ENVELOPE)")["ENVELOPE"]
        self.assertEqual(len(env), 10, env)
        date, subject, frm, sender, reply_to, to, cc, bcc, irt, mid = env
        self.assertEqual(date, b"Mon, 07 Feb 2022 21:52:25 -0800")
        self.assertEqual(subject, b"Quarterly zebra report")
        alice = [[b"Alice Example", None, b"alice", b"example.org"]]
        self.assertEqual(frm, alice)
        self.assertEqual(sender, alice)       # defaults to From (RFC 3501 7.4.2)
        self.assertEqual(reply_to, alice)
        self.assertEqual(to, [[b"Bob", None, b"bob", b"example.org"],
                              [None, None, b"carol", b"example.net"]])
        self.assertEqual(cc, [[b"Dave", None, b"dave", b"example.com"]])
        self.assertIsNone(bcc)
        self.assertEqual(irt, b"<question-7@example.net>")
        self.assertEqual(mid, b"<report-1@example.org>")

    def check_part(self, got, typ, subtype, params, enc, body, lines, ext_ok):
        self.assertEqual(got[0].upper(), typ)
        self.assertEqual(got[1].upper(), subtype)
        self.assertEqual([x.upper() if i % 2 == 0 else x
                          for i, x in enumerate(got[2] or [])], params)
        self.assertIsNone(got[3])                    # id
        self.assertIsNone(got[4])                    # description
        self.assertEqual(got[5].upper(), enc)
        self.assertEqual(int(got[6]), len(body))
        n = 7
        if typ == b"TEXT":
            self.assertEqual(int(got[7]), lines)
            n = 8
        if not ext_ok:
            self.assertEqual(len(got), n, "extension data in BODY: %r" % got)
        return got[n:]

    def test_bodystructure(self):
        p = self.parts
        for item in ("BODYSTRUCTURE", "BODY"):
            bs = self.one("(%s)" % item)[item]
            ext = item == "BODYSTRUCTURE"
            nparts = 0
            while isinstance(bs[nparts], list):
                nparts += 1
            self.assertEqual(nparts, 3, bs)
            self.check_part(bs[0], b"TEXT", b"PLAIN", [b"CHARSET", b"utf-8"],
                            b"7BIT", p["p1b"], p["p1b"].count(b"\r\n"), ext)
            rest = self.check_part(bs[1], b"APPLICATION", b"OCTET-STREAM",
                                   [b"NAME", b"data.bin"], b"BASE64", p["p2b"],
                                   None, ext)
            if ext and len(rest) >= 2:
                # body-fld-md5, body-fld-dsp
                disp = rest[1]
                self.assertEqual(disp[0].upper(), b"ATTACHMENT")
                self.assertEqual([disp[1][0].upper(), disp[1][1]],
                                 [b"FILENAME", b"data.bin"])
            self.check_part(bs[2], b"TEXT", b"PLAIN", [b"CHARSET", b"utf-8"],
                            b"QUOTED-PRINTABLE", p["p3b"],
                            p["p3b"].count(b"\r\n"), ext)
            self.assertEqual(bs[3].upper(), b"MIXED")
            if ext:
                if len(bs) > 4:
                    self.assertEqual([bs[4][0].upper(), bs[4][1]],
                                     [b"BOUNDARY", BOUNDARY.encode()])
            else:
                self.assertEqual(len(bs), 4, "extension data in BODY: %r" % bs)

    def test_message_rfc822_part(self):
        inner = make_message("inner message", body="inner body line\r\n")
        outer = crlf("From: x@example.org\nSubject: forward\n"
                     "MIME-Version: 1.0\n"
                     "Content-Type: multipart/mixed; boundary=\"b\"\n\n"
                     "--b\nContent-Type: text/plain\n\nsee attached\n"
                     "--b\nContent-Type: message/rfc822\n\n") + inner + \
            b"\r\n--b--\r\n"
        uid = self.append(self.M, "INBOX", outer)
        got = imaplib_fetch(self.M, str(uid),
                            "(BODYSTRUCTURE BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT]"
                            " BODY.PEEK[2])", uid=True)
        d = list(got.values())[0]
        hdr_end = inner.index(b"\r\n\r\n") + 4
        self.assertEqual(d["BODY[2.HEADER]"], inner[:hdr_end])
        self.assertEqual(d["BODY[2.TEXT]"], inner[hdr_end:])
        self.assertEqual(d["BODY[2]"], inner)
        part = d["BODYSTRUCTURE"][1]
        self.assertEqual([part[0].upper(), part[1].upper()],
                         [b"MESSAGE", b"RFC822"])
        self.assertEqual(int(part[6]), len(inner))
        self.assertEqual(part[7][1], b"inner message")   # its envelope
        self.assertEqual(int(part[9]), inner.count(b"\r\n"))

    def test_fetch_errors(self):
        R = self.raw()
        R.ok("SELECT INBOX")
        for bad in ("FETCH 1 (FLAGS", "FETCH 1 BOGUS", "FETCH 1 BODY[9999999999]",
                    "FETCH 1 BODY[HEADER.FIELDS ()]", "FETCH 1 BINARY[TEXT]"):
            _, tagged = R.cmd(bad)
            self.assertEqual(status_of(tagged), "BAD", (bad, tagged))
        # a part that does not exist: empty or NIL, or NO; never garbage
        untagged, tagged = R.cmd("FETCH 1 BODY.PEEK[7]")
        if status_of(tagged) == "OK":
            v = fetches(untagged)[1]["BODY[7]"]
            self.assertIn(v, (b"", None))
        else:
            self.assertStatus(tagged, "NO")
        R.ok("NOOP")


class TestStoreSearch(DaemonCase):
    """STORE, SEARCH (with a model of the expected answers), ESEARCH."""

    def setUp(self):
        super().setUp()
        M = self.imap()
        self.M = M
        big = "\r\n".join("x" * 70 for _ in range(60)) + "\r\n"
        specs = [
            # subject, from, body, internal date, flags
            ("Quarterly zebra report", "Alice Example <alice@example.org>",
             "numbers inside\r\n", "01-Jan-2022 12:00:00 +0000", r"(\Seen)"),
            ("Lunch", "Carol <carol@example.net>", "the Zebra crossing\r\n",
             "15-Mar-2022 12:00:00 +0000", r"(\Flagged)"),
            ("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", "Dave <dave@example.com>",
             "Schöne Grüße aus Köln\r\n", "10-Jun-2022 12:00:00 +0000",
             "($Work)"),
            ("Big one", "alice@example.org", big, "20-Sep-2022 12:00:00 +0000",
             r"(\Seen \Deleted)"),
            ("note", "Erin <erin@example.com>", "ZEBRA in capitals\r\n",
             "01-Dec-2022 12:00:00 +0000", None),
        ]
        self.model = []
        for subj, frm, body, date, flags in specs:
            extra = ["Content-Transfer-Encoding: 8bit"]
            msg = make_message(subj, sender=frm, body=body, extra_headers=extra)
            uid = self.append(M, "INBOX", msg, flags, '"%s"' % date)
            self.model.append(dict(
                uid=uid, subject=("Grüße" if subj.startswith("=?") else subj),
                frm=frm, body=body, header=msg[:msg.index(b"\r\n\r\n")].decode(),
                date=idate(date).date(), size=len(msg),
                flags=set(flags.strip("()").split()) if flags else set()))
        M.select("INBOX")

    def expect(self, pred):
        return [i + 1 for i, m in enumerate(self.model) if pred(m)]

    def search(self, *criteria, charset=None):
        typ, data = self.M.search(charset, *criteria)
        self.assertEqual(typ, "OK", (criteria, data))
        return sorted(int(x) for x in data[0].split())

    def test_search(self):
        md = self.model
        low = str.lower
        d = datetime.date
        cases = [
            ("ALL", lambda m: True),
            ("SEEN", lambda m: "\\Seen" in m["flags"]),
            ("UNSEEN", lambda m: "\\Seen" not in m["flags"]),
            ("FLAGGED", lambda m: "\\Flagged" in m["flags"]),
            ("DELETED", lambda m: "\\Deleted" in m["flags"]),
            ("UNDELETED", lambda m: "\\Deleted" not in m["flags"]),
            ("KEYWORD $Work", lambda m: "$Work" in m["flags"]),
            ("UNKEYWORD $Work", lambda m: "$Work" not in m["flags"]),
            ('FROM "alice"', lambda m: "alice" in low(m["frm"])),
            ('FROM "EXAMPLE.COM"', lambda m: "example.com" in low(m["frm"])),
            ('SUBJECT "zebra"', lambda m: "zebra" in low(m["subject"])),
            ('BODY "zebra"', lambda m: "zebra" in low(m["body"])),
            ('TEXT "zebra"', lambda m: "zebra" in low(m["body"] + m["header"])),
            ('TEXT "carol"', lambda m: "carol" in low(m["body"] + m["header"])),
            ('HEADER Message-ID "Lunch"', lambda m: m["subject"] == "Lunch"),
            ("SINCE 10-Jun-2022", lambda m: m["date"] >= d(2022, 6, 10)),
            ("BEFORE 10-Jun-2022", lambda m: m["date"] < d(2022, 6, 10)),
            ("ON 15-Mar-2022", lambda m: m["date"] == d(2022, 3, 15)),
            ("LARGER %d" % md[2]["size"], lambda m: m["size"] > md[2]["size"]),
            ("SMALLER %d" % md[2]["size"], lambda m: m["size"] < md[2]["size"]),
            ("UID %d:%d" % (md[1]["uid"], md[3]["uid"]),
             lambda m: md[1]["uid"] <= m["uid"] <= md[3]["uid"]),
            ("UID %d,%d" % (md[0]["uid"], md[4]["uid"]),
             lambda m: m["uid"] in (md[0]["uid"], md[4]["uid"])),
            ("2:*", lambda m: md.index(m) >= 1),
            ("1,3:4", lambda m: md.index(m) in (0, 2, 3)),
            ("OR FLAGGED KEYWORD $Work",
             lambda m: "\\Flagged" in m["flags"] or "$Work" in m["flags"]),
            ("NOT SEEN", lambda m: "\\Seen" not in m["flags"]),
            ("NOT OR SEEN FLAGGED",
             lambda m: not ({"\\Seen", "\\Flagged"} & m["flags"])),
            ('(OR FROM "carol" FROM "erin") BODY "zebra"',
             lambda m: ("carol" in low(m["frm"]) or "erin" in low(m["frm"]))
             and "zebra" in low(m["body"])),
            ('SEEN SUBJECT "zebra" SINCE 1-Jan-2022',
             lambda m: "\\Seen" in m["flags"] and "zebra" in low(m["subject"])),
            ('SUBJECT "no such words"', lambda m: False),
        ]
        for crit, pred in cases:
            self.assertEqual(self.search(crit), self.expect(pred), crit)
        self.assertEqual(self.search("ALL", charset="US-ASCII"),
                         self.expect(lambda m: True))
        # UID SEARCH answers with UIDs
        typ, data = self.M.uid("SEARCH", None, "FLAGGED")
        self.assertEqual([int(x) for x in data[0].split()],
                         [m["uid"] for m in md if "\\Flagged" in m["flags"]])

    def test_search_charset_utf8(self):
        # the UTF-8 key travels as a literal (imaplib sends self.literal last)
        for key, text in (("SUBJECT", "Grüße"), ("BODY", "schöne grüße"),
                          ("TEXT", "KÖLN".lower())):
            self.M.literal = text.encode("utf-8")
            got = self.search(key, charset="UTF-8")
            want = self.expect(lambda m: text.lower() in (
                m["subject"] if key == "SUBJECT" else
                m["body"] if key == "BODY" else m["body"] + m["header"]).lower())
            self.assertTrue(want, text)
            self.assertEqual(got, want, (key, text))
        # an unknown charset: NO [BADCHARSET] (RFC 9051 6.4.4)
        R = self.raw()
        R.ok("SELECT INBOX")
        _, tagged = R.cmd('SEARCH CHARSET X-NO-SUCH-CHARSET SUBJECT "x"')
        self.assertEqual(status_of(tagged), "NO", tagged)
        self.assertTrue(code_of(tagged).startswith("BADCHARSET"), tagged)
        for bad in ("SEARCH FROM", "SEARCH BOGUS", "SEARCH SINCE 32-Jan-2022",
                    "SEARCH LARGER x", "SEARCH (SEEN", "SEARCH UID 0"):
            _, tagged = R.cmd(bad)
            self.assertEqual(status_of(tagged), "BAD", (bad, tagged))

    def test_esearch(self):
        R = self.raw()
        R.ok("SELECT INBOX")
        md = self.model
        for crit, pred in (('FROM "alice"', lambda m: "alice" in m["frm"].lower()),
                           ("UNSEEN", lambda m: "\\Seen" not in m["flags"]),
                           ("ALL", lambda m: True)):
            want = [m["uid"] for m in md if pred(m)]
            untagged, _ = R.ok("UID SEARCH RETURN (MIN MAX COUNT ALL) " + crit)
            es = [r for r in untagged if r.startswith(b"* ESEARCH")]
            self.assertEqual(len(es), 1, untagged)
            v = parse(es[0])[2:]
            self.assertEqual(v[0][0].upper(), b"TAG", v)
            self.assertEqual(v[1].upper(), b"UID", v)
            res = {v[i].decode().upper(): v[i + 1] for i in range(2, len(v), 2)}
            self.assertEqual(int(res["MIN"]), min(want))
            self.assertEqual(int(res["MAX"]), max(want))
            self.assertEqual(int(res["COUNT"]), len(want))
            self.assertEqual(seqset(res["ALL"]), set(want))
        # no match: COUNT 0, no MIN/MAX/ALL (RFC 4731 3.1)
        untagged, _ = R.ok('UID SEARCH RETURN (MIN MAX COUNT ALL) SUBJECT "nomatch"')
        v = parse([r for r in untagged if r.startswith(b"* ESEARCH")][0])[2:]
        res = {v[i].decode().upper(): v[i + 1] for i in range(2, len(v), 2)}
        self.assertEqual(res, {"COUNT": b"0"})
        # RETURN () means ALL; sequence numbers without UID
        untagged, _ = R.ok("SEARCH RETURN () FLAGGED")
        v = parse([r for r in untagged if r.startswith(b"* ESEARCH")][0])[2:]
        self.assertNotIn(b"UID", [x.upper() for x in v if isinstance(x, bytes)])
        self.assertEqual(seqset(v[-1]), set(self.expect(
            lambda m: "\\Flagged" in m["flags"])))
        # imaplib: the ESEARCH response is kept for the caller
        typ, _ = self.M.uid("SEARCH", "RETURN", "(COUNT)", "SEEN")
        self.assertEqual(typ, "OK")
        typ, data = self.M.response("ESEARCH")
        self.assertEqual(typ, "ESEARCH")
        self.assertIn(b"COUNT %d" % len(self.expect(
            lambda m: "\\Seen" in m["flags"])), data[-1].upper())

    def test_store(self):
        M = self.M
        typ, data = M.store("5", "+FLAGS", r"(\Flagged $Important)")
        self.assertEqual(typ, "OK")
        d = fetches(join_imaplib(data))
        self.assertEqual(flagset(d[5]["FLAGS"]), {"\\Flagged", "$Important"})
        typ, data = M.store("5", "-FLAGS", r"(\Flagged)")
        d = fetches(join_imaplib(data))
        self.assertEqual(flagset(d[5]["FLAGS"]), {"$Important"})
        R = self.raw()
        R.ok("SELECT INBOX")
        untagged, _ = R.ok("STORE 5 FLAGS.SILENT (\\Seen \\Answered)")
        self.assertFalse([r for r in untagged if b"FETCH" in r], untagged)
        untagged, _ = R.ok("FETCH 5 FLAGS")
        self.assertEqual(flagset(fetches(untagged)[5]["FLAGS"]),
                         {"\\Seen", "\\Answered"})
        untagged, _ = R.ok("STORE 1:2 +FLAGS.SILENT ($Keyword2)")
        self.assertFalse([r for r in untagged if b"FETCH" in r], untagged)
        # UID STORE answers with UIDs
        uid = self.model[1]["uid"]
        untagged, _ = R.ok("UID STORE %d -FLAGS (\\Flagged)" % uid)
        f = fetches(untagged)
        self.assertEqual(int(f[2]["UID"]), uid)
        self.assertEqual(flagset(f[2]["FLAGS"]), {"$Keyword2"})
        untagged, _ = R.ok("FETCH 1:5 FLAGS")
        f = fetches(untagged)
        self.assertEqual(flagset(f[1]["FLAGS"]), {"\\Seen", "$Keyword2"})
        self.assertEqual(flagset(f[3]["FLAGS"]), {"$Work"})
        # the new keywords are searchable and permanent
        self.assertEqual(self.search("KEYWORD $Keyword2"), [1, 2])
        _, tagged = R.cmd("STORE 1 +FLAGS (\\Bogus)")
        self.assertStatus(tagged, "BAD", "NO")
        _, tagged = R.cmd("STORE 1 +FLAGZ (\\Seen)")
        self.assertEqual(status_of(tagged), "BAD", tagged)

    def test_many_keywords_never_silently_dropped(self):
        R = self.raw()
        R.ok("SELECT INBOX")
        kws = ["kw%02d" % i for i in range(12)]
        for k in kws:
            _, tagged = R.cmd("STORE 5 +FLAGS (%s)" % k)
            self.assertStatus(tagged, "OK", "NO")
        untagged, _ = R.ok("FETCH 5 FLAGS")
        have = flagset(fetches(untagged)[5]["FLAGS"])
        # what the server accepted is exactly what it keeps
        R2 = self.raw()
        R2.ok("EXAMINE INBOX")
        untagged, _ = R2.ok("FETCH 5 FLAGS")
        self.assertEqual(flagset(fetches(untagged)[5]["FLAGS"]), have)
        self.assertTrue(have, "no keyword accepted at all")


class TestCopyMoveExpunge(DaemonCase):
    """COPY/MOVE (UIDPLUS and MOVE extensions), EXPUNGE, UID EXPUNGE."""

    def setUp(self):
        super().setUp()
        M = self.imap()
        self.M = M
        self.msgs = [make_message("msg %d" % i, body="body %d\r\n" % i)
                     for i in range(6)]
        self.uids = [self.append(M, "INBOX", m, r"(\Flagged)" if i % 2 else None)
                     for i, m in enumerate(self.msgs)]
        M.select("INBOX")

    def bodies(self, mailbox):
        self.M.select(mailbox, readonly=True)
        typ, data = self.M.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
        got = fetches(join_imaplib(data))
        self.M.select("INBOX")
        return {int(d["UID"]): (d["BODY[]"], flagset(d["FLAGS"]))
                for d in got.values()}

    def test_copy(self):
        typ, data = self.M.copy("2:3", "Archive")
        self.assertEqual(typ, "OK", data)
        typ, code = self.M.response("COPYUID")
        self.assertEqual(typ, "COPYUID")
        valid, src, dst = code[-1].split()
        src, dst = sorted(seqset(src)), sorted(seqset(dst))
        self.assertEqual(src, self.uids[1:3])
        self.assertEqual(len(dst), 2)
        status = self.M.status("Archive", "(UIDVALIDITY)")[1][0]
        self.assertIn(b"UIDVALIDITY " + valid, status)
        arch = self.bodies("Archive")
        for s, d in zip(src, dst):
            i = self.uids.index(s)
            self.assertEqual(arch[d][0], self.msgs[i])
            self.assertEqual(arch[d][1],
                             {"\\Flagged"} if i % 2 else set())  # flags kept
        # source unchanged
        self.assertEqual(self.M.select("INBOX"), ("OK", [b"6"]))
        typ, data = self.M.copy("1", "NoSuchBox")
        self.assertEqual(typ, "NO")
        self.assertEqual(self.M.response("TRYCREATE")[0], "TRYCREATE")
        typ, data = self.M.uid("COPY", "%d" % self.uids[5], "Trash")
        self.assertEqual(typ, "OK")

    def test_move_and_uid_move(self):
        R = self.raw()
        R.ok("SELECT INBOX")
        untagged, tagged = R.ok("MOVE 2,4 Trash")
        # RFC 6851: COPYUID in an untagged OK, then EXPUNGEs
        cu = [code_of(r) for r in untagged
              if r.startswith(b"* OK") and (code_of(r) or "").startswith("COPYUID")]
        if not cu and (code_of(tagged) or "").startswith("COPYUID"):
            cu = [code_of(tagged)]
        self.assertEqual(len(cu), 1, (untagged, tagged))
        _, src, dst = cu[0].split()[1:]
        self.assertEqual(seqset(src), {self.uids[1], self.uids[3]})
        left = list(self.uids)
        for r in untagged:
            m = re.match(rb"^\* (\d+) EXPUNGE$", r)
            if m:
                del left[int(m.group(1)) - 1]
        self.assertEqual(left, [u for i, u in enumerate(self.uids) if i not in (1, 3)])
        trash = self.bodies("Trash")
        self.assertEqual(sorted(b for b, f in trash.values()),
                         sorted([self.msgs[1], self.msgs[3]]))
        # UID MOVE through imaplib
        typ, data = self.M.uid("MOVE", "%d" % self.uids[5], "Archive")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(self.M.select("INBOX"), ("OK", [b"3"]))
        self.assertEqual(list(self.bodies("Archive").values()),
                         [(self.msgs[5], {"\\Flagged"})])
        # a moved message is gone from the source for the other session too
        untagged, _ = R.ok("NOOP")
        self.assertEqual([r for r in untagged if r.endswith(b"EXPUNGE")],
                         [b"* %d EXPUNGE" % (left.index(self.uids[5]) + 1)])
        _, tagged = R.cmd("MOVE 1 NoSuchBox")
        self.assertEqual(status_of(tagged), "NO", tagged)
        self.assertEqual(code_of(tagged), "TRYCREATE", tagged)

    def test_expunge(self):
        M = self.M
        M.store("2,4,5", "+FLAGS.SILENT", r"(\Deleted)")
        typ, data = M.expunge()
        self.assertEqual(typ, "OK")
        left = list(self.uids)
        for n in data:
            del left[int(n) - 1]
        want = [u for i, u in enumerate(self.uids) if i not in (1, 3, 4)]
        self.assertEqual(left, want)
        typ, data = M.uid("SEARCH", None, "ALL")
        self.assertEqual([int(x) for x in data[0].split()], want)

    def test_uid_expunge(self):
        M = self.M
        M.store("1:3", "+FLAGS.SILENT", r"(\Deleted)")
        # only UID 2 of the deleted ones goes (RFC 4315 2.1)
        R = self.raw()
        R.ok("SELECT INBOX")
        untagged, _ = R.ok("UID EXPUNGE %d" % self.uids[1])
        self.assertEqual([r for r in untagged if r.endswith(b"EXPUNGE")],
                         [b"* 2 EXPUNGE"])
        typ, data = M.uid("SEARCH", None, "ALL")
        self.assertEqual([int(x) for x in data[0].split()],
                         [u for i, u in enumerate(self.uids) if i != 1])
        typ, data = M.uid("SEARCH", None, "DELETED")
        self.assertEqual([int(x) for x in data[0].split()],
                         [self.uids[0], self.uids[2]])
        # UID EXPUNGE of a UID range through imaplib
        typ, data = M.uid("EXPUNGE", "%d:%d" % (self.uids[0], self.uids[2]))
        self.assertEqual(typ, "OK")
        typ, data = M.uid("SEARCH", None, "ALL")
        self.assertEqual([int(x) for x in data[0].split()], self.uids[3:])


class TestManyMessages(DaemonCase):
    """Commands over more messages than the server handles per step
    (LWM_IMAP_BATCH, the store's batches): nothing may be left out."""

    N = 140

    def setUp(self):
        super().setUp()
        R = self.raw()
        self.R = R
        self.uids = []
        for i in range(self.N):
            m = make_message("bulk %03d" % i, body="bulk body %d\r\n" % i)
            R.send(b"a APPEND INBOX {%d+}\r\n" % len(m) + m + b"\r\n")
            _, tagged = R.collect("a")
            self.assertEqual(status_of(tagged), "OK", tagged)
            self.uids.append(int(code_of(tagged).split()[2]))
        R.ok("SELECT INBOX")

    def count(self, mailbox):
        untagged, _ = self.R.ok("STATUS %s (MESSAGES)" % mailbox)
        return statuses(untagged)[mailbox]["MESSAGES"]

    def test_store_copy_search_expunge_all(self):
        R = self.R
        untagged, _ = R.ok("STORE 1:* +FLAGS (\\Flagged)")
        f = fetches(untagged)
        self.assertEqual(sorted(f), list(range(1, self.N + 1)))
        self.assertTrue(all("\\Flagged" in flagset(v["FLAGS"]) for v in f.values()))
        untagged, _ = R.ok("SEARCH FLAGGED")
        self.assertEqual(len(untagged[0].split()) - 2, self.N)
        _, tagged = R.ok("COPY 1:* Archive")
        c = code_of(tagged).split()
        self.assertEqual(seqset(c[2]), set(self.uids))
        self.assertEqual(len(seqset(c[3])), self.N)
        self.assertEqual(self.count("Archive"), self.N)
        R.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)")
        untagged, _ = R.ok("EXPUNGE")
        self.assertEqual(len([r for r in untagged if r.endswith(b"EXPUNGE")]),
                         self.N)
        self.assertEqual(self.count("INBOX"), 0)

    def test_uid_move_all(self):
        untagged, _ = self.R.ok("UID MOVE 1:* Trash")
        self.assertEqual(len([r for r in untagged if r.endswith(b"EXPUNGE")]),
                         self.N)
        self.assertEqual(self.count("Trash"), self.N)
        self.assertEqual(self.count("INBOX"), 0)

    def test_move_all_by_sequence_numbers(self):
        """RFC 6851 3.1: MOVE moves every message of the set."""
        untagged, tagged = self.R.cmd("MOVE 1:* Trash")
        self.assertEqual(status_of(tagged), "OK", tagged)
        self.assertEqual(self.count("INBOX"), 0)
        self.assertEqual(self.count("Trash"), self.N)
        self.assertEqual(len([r for r in untagged if r.endswith(b"EXPUNGE")]),
                         self.N)


class TestConcurrency(DaemonCase):
    """IDLE and sessions seeing each other's changes."""

    def test_idle_sees_append(self):
        M = self.imap()
        self.append(M, "INBOX", make_message("before idle"))
        A = self.raw()
        A.ok("SELECT INBOX")
        A.send(b"i1 IDLE\r\n")
        r = A.read_response()
        self.assertTrue(r.startswith(b"+"), r)
        # another session appends; the IDLE one hears about it within 1 s
        self.append(M, "INBOX", make_message("during idle"))
        A.settimeout(1.0)
        try:
            r = A.read_response()
            while not r.endswith(b"EXISTS"):
                r = A.read_response()
        except socket.timeout:
            self.fail("no * EXISTS within 1 s of another session's APPEND")
        self.assertEqual(r, b"* 2 EXISTS")
        A.settimeout(IO_TIMEOUT)
        # flag changes and expunges are pushed too
        M.select("INBOX")
        M.store("1", "+FLAGS", r"(\Flagged)")
        r = A.read_response()
        while not re.match(rb"^\* 1 FETCH", r):
            r = A.read_response()
        self.assertIn("\\Flagged", flagset(fetch_items(r)[1]["FLAGS"]))
        M.store("1", "+FLAGS", r"(\Deleted)")
        M.expunge()
        r = A.read_response()
        while not r.endswith(b"EXPUNGE"):
            r = A.read_response()
        self.assertEqual(r, b"* 1 EXPUNGE")
        A.send(b"DONE\r\n")
        _, tagged = A.collect("i1")
        self.assertEqual(status_of(tagged), "OK", tagged)
        untagged, _ = A.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])")
        self.assertIn(b"during idle",
                      fetches(untagged)[1]["BODY[HEADER.FIELDS (SUBJECT)]"])
        # IDLE in authenticated state, ended at once
        B = self.raw()
        B.send(b"i2 IDLE\r\n")
        self.assertTrue(B.read_response().startswith(b"+"))
        B.send(b"DONE\r\n")
        _, tagged = B.collect("i2")
        self.assertEqual(status_of(tagged), "OK", tagged)
        # anything but DONE ends IDLE with BAD (RFC 2177)
        B.ok("SELECT INBOX")
        B.send(b"i3 IDLE\r\n")
        self.assertTrue(B.read_response().startswith(b"+"))
        B.send(b"NOTDONE\r\n")
        _, tagged = B.collect("i3")
        self.assertEqual(status_of(tagged), "BAD", tagged)
        B.ok("NOOP")

    def test_sessions_see_each_other(self):
        M = self.imap()
        uids = [self.append(M, "INBOX", make_message("c%d" % i)) for i in range(4)]
        A = self.raw()
        B = self.raw()
        A.ok("SELECT INBOX")
        B.ok("SELECT INBOX")
        B.ok("STORE 1 +FLAGS (\\Flagged)")
        B.ok("STORE 3 +FLAGS (\\Deleted)")
        untagged, _ = B.ok("EXPUNGE")
        self.assertEqual(untagged, [b"* 3 EXPUNGE"])
        # no EXPUNGE during FETCH (RFC 3501 7.4.1), flags may come
        untagged, _ = A.ok("FETCH 1 (FLAGS)")
        self.assertFalse([r for r in untagged if r.endswith(b"EXPUNGE")],
                         untagged)
        untagged, _ = A.ok("NOOP")
        exp = [r for r in untagged if r.endswith(b"EXPUNGE")]
        self.assertEqual(exp, [b"* 3 EXPUNGE"])
        f = fetches(untagged)
        untagged2, _ = A.ok("FETCH 1:* (UID FLAGS)")
        f2 = fetches(untagged2)
        self.assertEqual(sorted(int(d["UID"]) for d in f2.values()),
                         [uids[0], uids[1], uids[3]])
        self.assertIn("\\Flagged", flagset(f2[1]["FLAGS"]))
        # B appends; A learns of it at NOOP
        self.append(M, "INBOX", make_message("late"))
        untagged, _ = A.ok("NOOP")
        self.assertIn(b"* 4 EXISTS", untagged)
        # A deletes through imaplib-style STORE; B sees the FETCH at NOOP
        A.ok("STORE 2 +FLAGS (\\Seen)")
        untagged, _ = B.ok("NOOP")
        f = fetches(untagged)
        self.assertIn(2, f, untagged)
        self.assertIn("\\Seen", flagset(f[2]["FLAGS"]))

    def test_connection_limit(self):
        """More connections than sessions: the extra ones get BYE; the
        server stays up and serves again when they close."""
        conns = []
        try:
            byes = oks = 0
            for _ in range(12):
                try:
                    c = Raw(self.port, timeout=10)
                except (ConnectionError, EOFError):
                    byes += 1
                    continue
                conns.append(c)
                if c.greeting.startswith(b"* BYE"):
                    byes += 1
                else:
                    self.assertTrue(c.greeting.startswith(b"* OK"), c.greeting)
                    oks += 1
            self.assertGreaterEqual(oks, 2)
        finally:
            for c in conns:
                c.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                R = self.raw()
                break
            except (ConnectionError, EOFError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        R.ok("NOOP")


class TestProtocolErrors(DaemonCase):
    """Unknown commands, wrong state, bad sequence sets, oversized input."""

    def test_unknown_and_syntax(self):
        R = self.raw(login=False)
        _, tagged = R.cmd("FROBNICATE")
        self.assertEqual(status_of(tagged), "BAD", tagged)
        _, tagged = R.cmd("LOGIN onlyuser")
        self.assertEqual(status_of(tagged), "BAD", tagged)
        R.send(b"\r\n")                        # an empty line
        r = R.read_response()
        self.assertTrue(re.match(rb"^(\* BAD|\S+ BAD)", r), r)
        R.login()
        R.ok("SELECT INBOX")
        _, tagged = R.cmd('STORE 1 +FLAGS (\\Seen')
        self.assertEqual(status_of(tagged), "BAD", tagged)
        _, tagged = R.cmd("SELECT")
        self.assertEqual(status_of(tagged), "BAD", tagged)
        R.ok("NOOP")

    def test_wrong_state(self):
        R = self.raw(login=False)
        for cmd in ("SELECT INBOX", "LIST \"\" *", "CREATE X", "FETCH 1 FLAGS",
                    "NAMESPACE", "APPEND INBOX {0+}\r\n", "STATUS INBOX (MESSAGES)",
                    "IDLE", "CLOSE"):
            _, tagged = R.cmd(cmd)
            self.assertStatus(tagged, "BAD", "NO")
        R.login()
        for cmd in ("FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL",
                    "EXPUNGE", "COPY 1 Trash", "MOVE 1 Trash", "UID FETCH 1 FLAGS",
                    "CLOSE", "UNSELECT", "LOGIN alice secret1",
                    "AUTHENTICATE PLAIN"):
            _, tagged = R.cmd(cmd)
            self.assertStatus(tagged, "BAD", "NO")
        R.ok("NOOP")

    def test_bad_sequence_sets(self):
        M = self.imap()
        for i in range(3):
            self.append(M, "INBOX", make_message("s%d" % i))
        R = self.raw()
        R.ok("SELECT INBOX")
        for bad in ("FETCH 0 FLAGS", "FETCH 1:x FLAGS", "FETCH -1 FLAGS",
                    "FETCH 1,,2 FLAGS", "FETCH 99999999999 FLAGS",
                    "STORE 0 +FLAGS (\\Seen)", "COPY abc Trash"):
            _, tagged = R.cmd(bad)
            self.assertEqual(status_of(tagged), "BAD", (bad, tagged))
        # beyond the last message: BAD (RFC 3501 section 9, seq-number)
        _, tagged = R.cmd("FETCH 7 FLAGS")
        self.assertEqual(status_of(tagged), "BAD", tagged)
        # UIDs beyond the last one are fine, and "*" means the last message
        untagged, _ = R.ok("UID FETCH 1000:2000 FLAGS")
        self.assertFalse(fetches(untagged))
        untagged, _ = R.ok("FETCH * UID")
        self.assertEqual(list(fetches(untagged)), [3])
        untagged, _ = R.ok("FETCH 3:1 UID")          # reversed range
        self.assertEqual(sorted(fetches(untagged)), [1, 2, 3])

    def test_literal_too_large(self):
        R = self.raw(login=False)
        R.send(b"l1 LOGIN {300000}\r\n")
        r = R.read_response()
        self.assertFalse(r.startswith(b"+"),
                         "continuation for a 300 kB LOGIN literal")
        if r.startswith(b"* BYE"):
            return
        self.assertTrue(r.startswith(b"l1 "), r)
        self.assertStatus(r, "BAD", "NO")
        R.ok("NOOP")                               # still in sync
        R.login()
        R.send(b"l2 SELECT {300000}\r\n")
        r = R.read_response()
        self.assertFalse(r.startswith(b"+"), r)
        self.assertStatus(r, "BAD", "NO")
        R.ok("NOOP")
        # a non-synchronizing one the client sends anyway: BAD (the data is
        # skipped) or BYE and close (RFC 7888 section 4)
        R2 = self.raw()
        try:
            R2.send(b"l3 CREATE {300000+}\r\n" + b"x" * 300000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return
        try:
            r = R2.read_response()
            while r.startswith(b"* ") and not r.startswith(b"* BYE"):
                r = R2.read_response()
        except (EOFError, ConnectionResetError):
            return
        if r.startswith(b"* BYE"):
            return
        self.assertTrue(r.startswith(b"l3 "), r)
        self.assertStatus(r, "BAD", "NO")
        R2.ok("NOOP")
        untagged, _ = R2.ok('LIST "" "x*"')
        self.assertEqual(lists(untagged), {})

    def test_line_too_long(self):
        R = self.raw()
        R.send(b"long NOOP " + b"a" * 40000 + b"\r\n")
        try:
            r = R.read_response()
        except (EOFError, ConnectionResetError):
            r = b"* BYE (closed)"
        if not r.startswith(b"* BYE"):
            self.assertTrue(re.match(rb"^(long|\*) BAD", r), r)
            R.ok("NOOP")
        self.raw().ok("NOOP")                      # the server is fine


class TestUids(DaemonCase):
    """UIDs are never reused (RFC 9051 2.3.1.1), across expunges, restarts
    and a mailbox deleted and created again."""

    def uid_state(self, R, mailbox):
        untagged, _ = R.ok("STATUS %s (UIDNEXT UIDVALIDITY MESSAGES)" % mailbox)
        return statuses(untagged)[mailbox]

    def test_uids_not_reused(self):
        R = self.raw()
        R.ok("CREATE Box")
        uids = [int(code_of(R.append("Box", make_message("u%d" % i))).split()[2])
                for i in range(3)]
        self.assertEqual(uids, sorted(set(uids)))
        R.ok("SELECT Box")
        R.ok("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uids[-1])
        R.ok("EXPUNGE")
        R.ok("UNSELECT")
        st = self.uid_state(R, "Box")
        self.assertGreater(st["UIDNEXT"], uids[-1])
        R.close()
        self.daemon.stop()
        self.port = self.daemon.start()            # the same flash image
        R = self.raw()
        st2 = self.uid_state(R, "Box")
        self.assertEqual(st2["UIDVALIDITY"], st["UIDVALIDITY"])
        self.assertEqual(st2["MESSAGES"], 2)
        tagged = R.append("Box", make_message("after restart"))
        v, uid = code_of(tagged).split()[1:]
        self.assertGreater(int(uid), uids[-1], "UID reused after a restart")
        # deleted and created again: a new UIDVALIDITY, or UIDs that go on
        R.ok("DELETE Box")
        R.ok("CREATE Box")
        tagged = R.append("Box", make_message("new box"))
        v2, uid2 = code_of(tagged).split()[1:]
        if v2 == v:
            self.assertGreater(int(uid2), int(uid))
        # a renamed mailbox keeps its UIDVALIDITY; the old name is new
        R.ok("RENAME Box Box2")
        self.assertEqual(self.uid_state(R, "Box2")["UIDVALIDITY"], int(v2))

    def test_uid_ranges(self):
        R = self.raw()
        uids = [int(code_of(R.append("INBOX", make_message("r%d" % i))).split()[2])
                for i in range(3)]
        R.ok("SELECT INBOX")
        # "n:*" always includes the last message, even if n > its UID
        untagged, _ = R.ok("UID FETCH %d:* UID" % (uids[-1] + 50))
        self.assertEqual([int(v["UID"]) for v in fetches(untagged).values()],
                         [uids[-1]])
        untagged, _ = R.ok("UID SEARCH UID %d:*" % (uids[-1] + 50))
        self.assertEqual(untagged, [b"* SEARCH %d" % uids[-1]])
        # UIDs that don't exist: OK and nothing (RFC 9051 6.4.9)
        _, tagged = R.ok("UID COPY %d Trash" % (uids[-1] + 99))
        untagged, _ = R.ok("UID STORE %d +FLAGS (\\Seen)" % (uids[-1] + 99))
        self.assertFalse(fetches(untagged))


class TestMisc(DaemonCase):
    """APPEND/COPY into the selected mailbox, flag names, pipelining,
    limits."""

    def test_append_copy_into_selected(self):
        R = self.raw()
        R.ok("SELECT INBOX")
        m = make_message("self append")
        R.send(b"a1 APPEND INBOX {%d+}\r\n" % len(m) + m + b"\r\n")
        untagged, tagged = R.collect("a1")
        self.assertEqual(status_of(tagged), "OK", tagged)
        self.assertEqual(untagged, [b"* 1 EXISTS"])   # RFC 9051 6.3.12
        date = "03-Apr-2021 04:05:06 +0200"
        tagged = R.append("Trash", make_message("dated"), "\\Answered",
                          date)
        R.ok("SELECT Trash")
        untagged, tagged = R.ok("COPY 1 INBOX")
        R.ok("SELECT INBOX")
        untagged, _ = R.ok("FETCH 2 (FLAGS INTERNALDATE)")
        d = fetches(untagged)[2]
        self.assertEqual(flagset(d["FLAGS"]), {"\\Answered"})
        self.assertEqual(idate(d["INTERNALDATE"]), idate(date))  # RFC 9051 6.4.7
        untagged, tagged = R.ok("COPY 2 INBOX")
        self.assertIn(b"* 3 EXISTS", untagged)

    def test_flag_names_case_insensitive(self):
        R = self.raw()
        R.append("INBOX", make_message("case"))
        R.ok("SELECT INBOX")
        R.ok("STORE 1 +FLAGS (\\SEEN $Label1)")
        R.ok("STORE 1 +FLAGS (\\seen $LABEL1)")
        untagged, _ = R.ok("FETCH 1 FLAGS")
        got = flagset(fetches(untagged)[1]["FLAGS"])
        self.assertEqual({f.lower() for f in got}, {"\\seen", "$label1"})
        self.assertEqual(len(got), 2)
        untagged, _ = R.ok("SEARCH KEYWORD $label1")
        self.assertEqual(untagged, [b"* SEARCH 1"])

    def test_pipelining(self):
        R = self.raw()
        R.append("INBOX", make_message("pipe"))
        R.send(b"p1 SELECT INBOX\r\np2 FETCH 1 (UID)\r\np3 NOOP\r\n"
               b"p4 STORE 1 +FLAGS (\\Seen)\r\np5 LOGOUT\r\n")
        tags = []
        for _ in range(100):
            try:
                r = R.read_response()
            except EOFError:
                break
            if not r.startswith(b"*"):
                tags.append(r.split()[0:2])
        self.assertEqual(tags, [[b"p%d" % i, b"OK"] for i in range(1, 6)])

    def test_fetch_attribute_limit(self):
        """More FETCH items than the server takes at once: all of them or a
        refusal (NO/BAD [LIMIT]), never some silently."""
        R = self.raw()
        R.append("INBOX", make_message("limit"))
        R.ok("SELECT INBOX")
        for n in (8, 16, 17, 30):
            items = " ".join("BODY.PEEK[HEADER.FIELDS (X-H%d)]" % i
                             for i in range(n))
            untagged, tagged = R.cmd("FETCH 1 (%s)" % items)
            if status_of(tagged) == "OK":
                self.assertEqual(len(fetches(untagged)[1]), n)
            else:
                self.assertStatus(tagged, "NO", "BAD")
                self.assertEqual(code_of(tagged), "LIMIT", tagged)

    def test_nul_only_in_literal8(self):
        """A message with NUL octets (APPEND with literal8, RFC 3516 4.4):
        a FETCH may not carry a NUL in a plain {n} literal (RFC 9051 and
        RFC 3501 section 9: literal = ... *CHAR8, CHAR8 = %x01-ff)."""
        R = self.raw()
        m = b"From: a@example.org\r\nSubject: nul\r\n\r\nab\x00cd\r\n"
        R.send(b"n1 APPEND INBOX ~{%d}\r\n" % len(m))
        r = R.read_response()
        if not r.startswith(b"+"):
            self.assertStatus(r, "NO", "BAD")
            return
        R.send(m + b"\r\n")
        _, tagged = R.collect("n1")
        if status_of(tagged) != "OK":
            return                                  # refusing is fine
        R.ok("SELECT INBOX")
        R.send(b"n2 FETCH 1 (BINARY.PEEK[1] BODY.PEEK[TEXT] BODY.PEEK[])\r\n")
        raw = b""
        for _ in range(1000):
            line = R.readline()
            raw += line
            m2 = re.search(rb"(~?)\{(\d+)\}\r\n$", line)
            if m2:
                data = R.file.read(int(m2.group(2)))
                raw += data
                if not m2.group(1):
                    self.assertNotIn(b"\0", data, "NUL in a {n} literal: %r"
                                     % line)
            elif line.startswith(b"n2 "):
                break
        self.assertIn(b"n2 OK", raw)


class TestDaemon(unittest.TestCase):
    """The lwmaild program: --help, --version, --config, restart."""

    def run_quick(self, *args):
        import subprocess
        return subprocess.run([LWMAILD] + list(args), capture_output=True,
                              timeout=60, stdin=subprocess.DEVNULL)

    def test_help_version_bad_option(self):
        r = self.run_quick("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"--imap", r.stdout)
        r = self.run_quick("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, rb"^lwmaild \S+")
        r = self.run_quick("--no-such-option")
        self.assertNotEqual(r.returncode, 0)

    def test_default_block_size_8m(self):
        """The command line of the issue: 8 MiB with the default blocks."""
        d = Daemon(LWMAILD, extra_args=[])
        d.args = lambda: [LWMAILD, "--imap", "127.0.0.1:0", "--flash",
                          d.flash, "--flash-size", "8M",
                          "--user", "alice:secret1", "--user", "bob:secret2",
                          "--allow-plaintext-auth"]
        self.addCleanup(d.cleanup)
        port = d.start()
        M = imaplib.IMAP4("127.0.0.1", port, timeout=IO_TIMEOUT)
        self.assertEqual(M.login("alice", "secret1")[0], "OK")
        M.logout()
        d.stop()

    def test_config_file_and_restart(self):
        import tempfile
        import shutil
        tmp = tempfile.mkdtemp(prefix="lwm-interop-cfg-")
        self.addCleanup(shutil.rmtree, tmp, True)
        conf = os.path.join(tmp, "lwmaild.conf")
        # the file holds hashes, made by the daemon itself
        hashes = []
        for pw in ("pw-carol", "pw-dave"):
            r = subprocess.run([LWMAILD, "--hash-password", "--iterations",
                                "2000"], input=pw.encode() + b"\n",
                               capture_output=True, timeout=30, check=True)
            hashes.append(r.stdout.decode().strip())
            self.assertTrue(hashes[-1].startswith("$pbkdf2-sha256$2000$"))
            self.assertNotIn(pw, hashes[-1])
        with open(conf, "w") as f:
            f.write("# interop test\n"
                    "imap = 127.0.0.1:0\n"
                    "flash = %s\n"
                    "flash-size = 2M\n"
                    "user = carol:%s\n"
                    "user = dave:%s\n"
                    "allow-plaintext-auth = yes\n"
                    "log-level = debug\n" % (os.path.join(tmp, "cfg.img"),
                                             hashes[0], hashes[1]))
        d = Daemon(LWMAILD, workdir=tmp, config=conf)
        self.addCleanup(d.cleanup)
        port = d.start()
        M = imaplib.IMAP4("127.0.0.1", port, timeout=IO_TIMEOUT)
        M.login("carol", "pw-carol")
        M.create("Keep/Me")
        M.subscribe("Keep/Me")
        msg = make_message("survives a restart")
        M.append("Keep/Me", r"(\Flagged)", '"02-Mar-2023 10:00:00 +0100"', msg)
        M.select("Keep/Me")
        valid = M.response("UIDVALIDITY")[1][-1]
        uidnext = M.response("UIDNEXT")[1][-1]
        M.logout()
        with self.assertRaises(imaplib.IMAP4.error):
            M2 = imaplib.IMAP4("127.0.0.1", port, timeout=IO_TIMEOUT)
            try:
                M2.login("alice", "secret1")     # not configured here
            finally:
                M2.shutdown()
        d.stop()
        self.assertTrue(os.path.getsize(os.path.join(tmp, "cfg.img")) == 2 << 20)

        port = d.start()                           # same image
        M = imaplib.IMAP4("127.0.0.1", port, timeout=IO_TIMEOUT)
        M.login("carol", "pw-carol")
        typ, data = M.select("Keep/Me")
        self.assertEqual((typ, data), ("OK", [b"1"]))
        self.assertEqual(M.response("UIDVALIDITY")[1][-1], valid)
        self.assertEqual(M.response("UIDNEXT")[1][-1], uidnext)
        got = imaplib_fetch(M, "1", "(FLAGS INTERNALDATE BODY.PEEK[])")[1]
        self.assertEqual(got["BODY[]"], msg)
        self.assertEqual(flagset(got["FLAGS"]), {"\\Flagged"})
        self.assertEqual(idate(got["INTERNALDATE"]),
                         idate("02-Mar-2023 10:00:00 +0100"))
        typ, data = M.lsub('""', '"*"')
        self.assertIn("Keep/Me", [parse(b"* LSUB " + x)[4].decode()
                                  for x in data if x])
        M.logout()
        d.stop()


# ------------------------------------------------------------ main

if __name__ == "__main__":
    sys.exit(lwmtest.main("interop_imaplib", globals()))
