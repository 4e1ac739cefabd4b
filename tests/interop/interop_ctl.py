#!/usr/bin/env python3
"""Small checks for clients_test.sh, on the server (through imaplib) and on
Maildirs (plain file operations, as a mail reader would do them).

  interop_ctl.py msg SUBJECT [BODYLINE]      print a message (CRLF) to stdout
  interop_ctl.py PORT append MAILBOX FILE [FLAGS]   prints the new UID
  interop_ctl.py PORT append-many MAILBOX N PREFIX   "PREFIX 000".."PREFIX N-1"
  interop_ctl.py PORT count MAILBOX          messages, \\Deleted ones included
  interop_ctl.py PORT flags MAILBOX SUBJECT  flags of that message, or ABSENT
  interop_ctl.py PORT body MAILBOX SUBJECT   BODY.PEEK[] to stdout
  interop_ctl.py PORT store MAILBOX SUBJECT OP FLAGS   e.g. +FLAGS "(\\Seen)"
  interop_ctl.py PORT expunge MAILBOX SUBJECT  \\Deleted + UID EXPUNGE
  interop_ctl.py PORT subjects MAILBOX       one subject a line, in UID order
  interop_ctl.py md-subjects DIR             subjects in a Maildir folder
  interop_ctl.py md-flags DIR SUBJECT        Maildir info flags, or ABSENT
  interop_ctl.py md-setflag DIR SUBJECT LETTER   add a flag letter (rename)
  interop_ctl.py md-delete DIR SUBJECT       remove the message file
  interop_ctl.py md-body DIR SUBJECT         the file's bytes to stdout
  interop_ctl.py same-text FILE1 FILE2 [--ignore-header NAME...]
                                             equal once line ends are LF

The user is alice/secret1 unless LWM_USER / LWM_PASS say otherwise. With
LWM_CTL_IMAPS=1, PORT is an IMAPS port (implicit TLS; the certificate is
checked against LWM_CTL_CAFILE if given). Exit status 0, or 1 with a
message on stderr.
"""

import email.parser
import email.policy
import imaplib
import os
import re
import sys

sys.dont_write_bytecode = True       # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lwmtest import make_message, fetches, join_imaplib, IO_TIMEOUT  # noqa: E402


def die(msg):
    print("interop_ctl: " + msg, file=sys.stderr)
    sys.exit(1)


def connect(port):
    if os.environ.get("LWM_CTL_IMAPS"):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if os.environ.get("LWM_CTL_CAFILE"):
            ctx.load_verify_locations(os.environ["LWM_CTL_CAFILE"])
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        M = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx,
                              timeout=IO_TIMEOUT)
    else:
        M = imaplib.IMAP4("127.0.0.1", int(port), timeout=IO_TIMEOUT)
    M.login(os.environ.get("LWM_USER", "alice"),
            os.environ.get("LWM_PASS", "secret1"))
    return M


def q(name):
    return '"%s"' % name


def uid_of(M, mailbox, subject, readonly=True):
    typ, data = M.select(q(mailbox), readonly=readonly)
    if typ != "OK":
        die("SELECT %s: %r" % (mailbox, data))
    typ, data = M.uid("SEARCH", None, "HEADER", "Subject", q(subject))
    if typ != "OK":
        die("SEARCH: %r" % data)
    uids = [int(x) for x in data[0].split()]
    # SEARCH is a substring match: keep exact subjects only
    exact = [u for u in uids if subject_of(M, u) == subject]
    if len(exact) > 1:
        die("%d messages with subject %r in %s" % (len(exact), subject, mailbox))
    return exact[0] if exact else None


def subject_of(M, uid):
    typ, data = M.uid("FETCH", str(uid), "(BODY.PEEK[HEADER.FIELDS (Subject)])")
    for el in data:
        if isinstance(el, tuple):
            m = re.search(rb"^Subject: *(.*?)\r?$", el[1], re.M | re.I)
            return m.group(1).decode() if m else ""
    return ""


# ------------------------------------------------------------ Maildir

def md_files(folder):
    for sub in ("cur", "new"):
        d = os.path.join(folder, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.startswith("."):
                yield os.path.join(d, name)


def md_subject(path):
    with open(path, "rb") as f:
        hdr = email.parser.BytesHeaderParser(policy=email.policy.compat32) \
            .parse(f)
    return (hdr.get("Subject") or "").strip()


def md_find(folder, subject):
    hits = [p for p in md_files(folder) if md_subject(p) == subject]
    if len(hits) > 1:
        die("%d files with subject %r in %s" % (len(hits), subject, folder))
    return hits[0] if hits else None


def md_info(path):
    name = os.path.basename(path)
    return name.split(":2,", 1)[1] if ":2," in name else ""


# ------------------------------------------------------------ main

def main(argv):
    if len(argv) >= 2 and argv[0] == "msg":
        body = argv[2] if len(argv) > 2 else "Body of %s." % argv[1]
        sys.stdout.buffer.write(make_message(argv[1], body=body + "\r\n"))
        return 0
    if argv and argv[0] == "same-text":
        # header lines a client adds for itself (mbsync: X-TUID) may be named
        # after the files: --ignore-header NAME...
        skip = [h.lower().encode() + b":" for h in argv[4:]] \
            if argv[3:4] == ["--ignore-header"] else []

        def text(path):
            with open(path, "rb") as f:
                data = f.read().replace(b"\r\n", b"\n")
            head, sep, body = data.partition(b"\n\n")
            lines = [ln for ln in head.split(b"\n")
                     if not any(ln.lower().startswith(h) for h in skip)]
            return b"\n".join(lines) + sep + body
        a, b = text(argv[1]), text(argv[2])
        if a != b:
            die("%s and %s differ (%d vs %d bytes)" % (argv[1], argv[2],
                                                       len(a), len(b)))
        return 0
    if argv and argv[0].startswith("md-"):
        cmd, folder = argv[0], argv[1]
        if cmd == "md-subjects":
            for p in md_files(folder):
                print(md_subject(p))
            return 0
        path = md_find(folder, argv[2])
        if cmd == "md-flags":
            print("ABSENT" if path is None else md_info(path) or "-")
            return 0
        if path is None:
            die("no message %r in %s" % (argv[2], folder))
        if cmd == "md-setflag":
            base = os.path.basename(path).split(":2,", 1)[0]
            info = "".join(sorted(set(md_info(path)) | set(argv[3])))
            dest = os.path.join(folder, "cur", base + ":2," + info)
            os.rename(path, dest)
        elif cmd == "md-delete":
            os.unlink(path)
        elif cmd == "md-body":
            with open(path, "rb") as f:
                sys.stdout.buffer.write(f.read())
        else:
            die("unknown command " + cmd)
        return 0

    if len(argv) < 3:
        die("usage: see the top of this file")
    port, cmd, mailbox = argv[0], argv[1], argv[2]
    M = connect(port)
    try:
        if cmd == "append":
            with open(argv[3], "rb") as f:
                msg = f.read()
            flags = argv[4] if len(argv) > 4 else None
            typ, data = M.append(q(mailbox), flags, None, msg)
            if typ != "OK":
                die("APPEND: %r" % data)
            print(M.response("APPENDUID")[1][-1].split()[1].decode())
        elif cmd == "append-many":
            # append-many MAILBOX N PREFIX: messages "PREFIX 000".."PREFIX N-1"
            for i in range(int(argv[3])):
                subj = "%s %03d" % (argv[4], i)
                typ, data = M.append(q(mailbox), None, None, make_message(
                    subj, body="Body of %s.\r\n" % subj))
                if typ != "OK":
                    die("APPEND: %r" % data)
        elif cmd == "count":
            typ, data = M.select(q(mailbox), readonly=True)
            if typ != "OK":
                die("SELECT %s: %r" % (mailbox, data))
            print(int(data[0]))
        elif cmd == "subjects":
            typ, data = M.select(q(mailbox), readonly=True)
            typ, data = M.uid("SEARCH", None, "ALL")
            for u in data[0].split():
                print(subject_of(M, int(u)))
        elif cmd in ("flags", "body", "store", "expunge"):
            uid = uid_of(M, mailbox, argv[3], readonly=cmd in ("flags", "body"))
            if uid is None:
                if cmd == "flags":
                    print("ABSENT")
                    return 0
                die("no message %r in %s" % (argv[3], mailbox))
            if cmd == "flags":
                typ, data = M.uid("FETCH", str(uid), "(FLAGS)")
                d = list(fetches(join_imaplib(data)).values())[0]
                print(" ".join(sorted(f.decode() for f in d["FLAGS"])) or "-")
            elif cmd == "body":
                typ, data = M.uid("FETCH", str(uid), "(BODY.PEEK[])")
                d = list(fetches(join_imaplib(data)).values())[0]
                sys.stdout.buffer.write(d["BODY[]"])
            elif cmd == "store":
                typ, data = M.uid("STORE", str(uid), argv[4], argv[5])
                if typ != "OK":
                    die("STORE: %r" % data)
            elif cmd == "expunge":
                M.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
                typ, data = M.uid("EXPUNGE", str(uid))
                if typ != "OK":
                    die("UID EXPUNGE: %r" % data)
        else:
            die("unknown command " + cmd)
    finally:
        try:
            M.logout()
        except Exception:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
