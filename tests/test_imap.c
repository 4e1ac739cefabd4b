/*
 * Tests of the IMAP server core through an in-memory port (no sockets):
 * every command's responses, literals (synchronizing, LITERAL+, streamed
 * APPEND), pipelining, flow control, several sessions on one mailbox,
 * IDLE push, timeouts, and the same transcript whether input arrives in
 * one piece or byte by byte and output leaves one byte at a time.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fakeport.h"
#include "lwm_nor.h"
#include "lwmail/lwm_server.h"
#include "lwmail/lwm_store.h"

static struct lwm_nor nor;
static struct lwm_store store;
static const char *const users[] = { "alice", "secret1", "bob", "pw2", NULL };

#define HAS(r, s) ((r) && strstr((r), (s)) != NULL)

static const char msg_plain[] =
    "From: Alice Example <alice@example.org>\r\n"
    "To: bob@example.org, \"Carol C.\" <carol@example.net>\r\n"
    "Subject: Hello there\r\n"
    "Date: Mon, 2 Feb 2026 10:20:30 +0100\r\n"
    "Message-ID: <m1@example.org>\r\n"
    "\r\n"
    "First line of the body.\r\n"
    "Second line, with a keyword: zebra.\r\n";

static const char msg_multi[] =
    "From: printer@office.lan\r\n"
    "To: alice@example.org\r\n"
    "Subject: Scan complete\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XyZ\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Your scan is attached.\r\n"
    "--XyZ\r\n"
    "Content-Type: application/pdf; name=scan.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "SGVsbG8sIFBERiE=\r\n"
    "--XyZ--\r\n";

static struct lwm_server *srv;

static void setup(void)
{
    REQUIRE(lwm_nor_open(&nor, NULL, 4096, 512, 4, 1, 1) == 0);
    REQUIRE(lwm_store_format(&store, &nor.flash) == 0);
    REQUIRE((srv = fake_server(&store, users)) != NULL);
}

/* APPEND msg to mbox through c with a synchronizing literal */
static const char *append(struct fake_conn *c, const char *tag,
                          const char *mbox, const char *flags,
                          const char *msg)
{
    char head[256];
    snprintf(head, sizeof head, "%s APPEND %s %s {%zu}\r\n", tag, mbox,
             flags, strlen(msg));
    fake_input(c, head, strlen(head));
    fake_input(c, msg, strlen(msg));
    return fake_cmd(c, tag, "");
}

static void login(struct fake_conn *c, const char *user, const char *pw)
{
    char line[128];
    const char *r;
    fake_open(c);
    REQUIRE(HAS(c->out, "* OK [CAPABILITY IMAP4rev1 IMAP4rev2"));
    fake_take(c);
    snprintf(line, sizeof line, "L LOGIN %s %s", user, pw);
    r = fake_cmd(c, "L", line);
    REQUIRE(HAS(r, "L OK [CAPABILITY"));
}

static void test_any_state(void)
{
    struct fake_conn c = { 0 };
    const char *r;
    fake_open(&c);
    CHECK(HAS(c.out, "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+"));
    fake_take(&c);
    r = fake_cmd(&c, "a", "a CAPABILITY");
    CHECK(HAS(r, "* CAPABILITY IMAP4rev1") && HAS(r, "AUTH=PLAIN") &&
          HAS(r, "a OK"));
    r = fake_cmd(&c, "b", "b NOOP");
    CHECK(HAS(r, "b OK"));
    r = fake_cmd(&c, "c", "c SELECT INBOX");
    CHECK(HAS(r, "c BAD"));
    r = fake_cmd(&c, "d", "d FOO");
    CHECK(HAS(r, "d BAD"));
    /* failures are answered after LWM_AUTH_FAIL_DELAY_MS (test_auth
     * checks the throttling itself) */
    r = fake_cmd_wait(&c, "e", "e LOGIN alice wrong", 5000);
    CHECK(HAS(r, "e NO [AUTHENTICATIONFAILED]"));
    r = fake_cmd_wait(&c, "f", "f LOGIN nobody secret1", 5000);
    CHECK(HAS(r, "f NO [AUTHENTICATIONFAILED]"));
    r = fake_cmd(&c, "g", "g ID (\"name\" \"test\")");
    CHECK(HAS(r, "* ID (\"name\" \"lwmail\"") && HAS(r, "g OK"));
    /* AUTHENTICATE PLAIN with SASL-IR: "\0alice\0secret1" */
    r = fake_cmd(&c, "h", "h AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldDE=");
    CHECK(HAS(r, "h OK [CAPABILITY") && HAS(r, "NAMESPACE"));
    r = fake_cmd(&c, "i", "i LOGOUT");
    CHECK(HAS(r, "* BYE") && HAS(r, "i OK"));
    CHECK(c.closed);
    fake_close(&c);

    /* AUTHENTICATE with a continuation, then a cancelled one */
    memset(&c, 0, sizeof c);
    fake_open(&c);
    fake_take(&c);
    fake_input(&c, "j AUTHENTICATE PLAIN\r\n", 22);
    r = fake_take(&c);
    CHECK(HAS(r, "+ "));
    r = fake_cmd_wait(&c, "j", "AGFsaWNlAHdyb25n", 5000); /* wrong pw */
    CHECK(HAS(r, "j NO [AUTHENTICATIONFAILED]"));
    fake_input(&c, "k AUTHENTICATE PLAIN\r\n", 22);
    r = fake_cmd(&c, "k", "*");
    CHECK(HAS(r, "k BAD"));
    r = fake_cmd(&c, "l", "l AUTHENTICATE PLAIN !!!");
    CHECK(HAS(r, "l BAD"));
    fake_close(&c);
}

static void test_mailboxes(void)
{
    struct fake_conn c = { 0 };
    const char *r;
    login(&c, "alice", "secret1");
    r = fake_cmd(&c, "a", "a LIST \"\" \"*\"");
    CHECK(HAS(r, "* LIST (\\HasNoChildren) \"/\" INBOX"));
    CHECK(HAS(r, "\\Sent) \"/\" Sent") && HAS(r, "\\Trash) \"/\" Trash"));
    CHECK(HAS(r, "a OK"));
    r = fake_cmd(&c, "b", "b LIST \"\" \"\"");
    CHECK(HAS(r, "* LIST (\\Noselect) \"/\" \"\""));
    r = fake_cmd(&c, "c", "c CREATE Projects/2026/");
    CHECK(HAS(r, "c OK"));
    r = fake_cmd(&c, "d", "d CREATE Projects");
    CHECK(HAS(r, "d NO [ALREADYEXISTS]"));
    r = fake_cmd(&c, "e", "e LIST \"\" \"Projects/%\"");
    CHECK(HAS(r, "* LIST (\\HasNoChildren) \"/\" Projects/2026"));
    CHECK(!HAS(r, "\"/\" Projects\r\n"));
    r = fake_cmd(&c, "f", "f LIST \"\" \"%\"");
    CHECK(HAS(r, "(\\HasChildren) \"/\" Projects"));
    r = fake_cmd(&c, "g", "g CREATE Entw&APw-rfe");
    CHECK(HAS(r, "g OK"));
    r = fake_cmd(&c, "h", "h LIST \"\" Entw*");
    CHECK(HAS(r, "\"/\" Entw&APw-rfe"));
    r = fake_cmd(&c, "i", "i CREATE Bad&name");
    CHECK(HAS(r, "i BAD"));
    r = fake_cmd(&c, "j", "j RENAME Projects Work");
    CHECK(HAS(r, "j OK"));
    r = fake_cmd(&c, "k", "k LIST \"\" \"Work*\"");
    CHECK(HAS(r, "Work/2026") && !HAS(r, "Projects"));
    r = fake_cmd(&c, "l", "l SUBSCRIBE Work");
    CHECK(HAS(r, "l OK"));
    r = fake_cmd(&c, "m", "m LSUB \"\" \"*\"");
    CHECK(HAS(r, "* LSUB () \"/\" Work"));
    r = fake_cmd(&c, "n", "n LIST (SUBSCRIBED) \"\" \"*\"");
    CHECK(HAS(r, "\\Subscribed) \"/\" Work") && !HAS(r, "Entw"));
    r = fake_cmd(&c, "o", "o LIST \"\" \"*\" RETURN (STATUS (MESSAGES "
                          "UNSEEN))");
    CHECK(HAS(r, "* STATUS INBOX (MESSAGES 0 UNSEEN 0)"));
    r = fake_cmd(&c, "p", "p DELETE Work");
    CHECK(HAS(r, "p OK"));     /* has children: becomes \Noselect */
    r = fake_cmd(&c, "q", "q LIST \"\" \"Work\"");
    CHECK(HAS(r, "\\Noselect"));
    r = fake_cmd(&c, "r", "r DELETE INBOX");
    CHECK(HAS(r, "r NO"));
    r = fake_cmd(&c, "s", "s STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY "
                          "UNSEEN SIZE DELETED)");
    CHECK(HAS(r, "* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY ") &&
          HAS(r, "SIZE 0 DELETED 0)"));
    r = fake_cmd(&c, "t", "t STATUS Nope (MESSAGES)");
    CHECK(HAS(r, "t NO [NONEXISTENT]"));
    r = fake_cmd(&c, "u", "u NAMESPACE");
    CHECK(HAS(r, "* NAMESPACE ((\"\" \"/\")) NIL NIL"));
    r = fake_cmd(&c, "v", "v ENABLE IMAP4rev2");
    CHECK(HAS(r, "* ENABLED IMAP4rev2"));
    r = fake_cmd(&c, "w", "w LIST \"\" Entw*");
    CHECK(HAS(r, "\"/\" \"Entwürfe\""));   /* UTF-8 now */
    r = fake_cmd(&c, "x", "x SELECT INBOX");
    CHECK(HAS(r, "* LIST () \"/\" INBOX") && !HAS(r, "RECENT"));
    fake_close(&c);
}

static void test_messages(void)
{
    struct fake_conn c = { 0 };
    const char *r;
    char line[512];
    login(&c, "alice", "secret1");
    r = append(&c, "a", "INBOX", "(\\Seen $Work)", msg_plain);
    CHECK(HAS(r, "a OK [APPENDUID "));
    r = append(&c, "b", "INBOX", "", msg_multi);
    CHECK(HAS(r, "b OK [APPENDUID ") && HAS(r, " 2] APPEND"));
    /* LITERAL+ in one go */
    snprintf(line, sizeof line, "c APPEND INBOX {%zu+}\r\n%s\r\n",
             strlen(msg_plain), msg_plain);
    fake_input(&c, line, strlen(line));
    r = fake_take(&c);
    CHECK(HAS(r, "c OK [APPENDUID") && !HAS(r, "+ Ready"));
    r = fake_cmd(&c, "d", "d APPEND Nope {3+}\r\nabc");
    CHECK(HAS(r, "d NO [TRYCREATE]"));
    r = fake_cmd(&c, "e", "e SELECT INBOX");
    CHECK(HAS(r, "* 3 EXISTS") && HAS(r, "* OK [UIDNEXT 4]") &&
          HAS(r, "$Work") && HAS(r, "[UNSEEN 2]") &&
          HAS(r, "e OK [READ-WRITE]"));
    r = fake_cmd(&c, "f", "f FETCH 1 (FLAGS RFC822.SIZE UID ENVELOPE)");
    snprintf(line, sizeof line, "RFC822.SIZE %zu", strlen(msg_plain));
    CHECK(HAS(r, "* 1 FETCH (FLAGS (\\Seen $Work)") && HAS(r, line));
    CHECK(HAS(r, "ENVELOPE (\"Mon, 2 Feb 2026 10:20:30 +0100\" "
                 "\"Hello there\" ((\"Alice Example\" NIL \"alice\" "
                 "\"example.org\"))"));
    r = fake_cmd(&c, "g", "g FETCH 2 (BODYSTRUCTURE)");
    CHECK(HAS(r, "\"mixed\"") && HAS(r, "\"pdf\"") && HAS(r, "g OK"));
    r = fake_cmd(&c, "h", "h FETCH 2 (BODY.PEEK[1] BINARY.PEEK[2] "
                          "BINARY.SIZE[2])");
    CHECK(HAS(r, "BODY[1] {22}\r\nYour scan is attached. BINARY"));
    CHECK(HAS(r, "BINARY[2] ~{11}\r\nHello, PDF!"));
    CHECK(HAS(r, "BINARY.SIZE[2] 11"));
    CHECK(!HAS(r, "\\Seen"));
    r = fake_cmd(&c, "i", "i FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject "
                          "To)])");
    CHECK(HAS(r, "BODY[HEADER.FIELDS (Subject To)] {77}\r\nTo: "
                 "bob@example.org, \"Carol C.\" <carol@example.net>\r\n"
                 "Subject: Hello there\r\n\r\n"));
    r = fake_cmd(&c, "j", "j FETCH 1 BODY[TEXT]<6.4>");
    CHECK(HAS(r, "BODY[TEXT]<6> {4}\r\nline"));
    r = fake_cmd(&c, "k", "k FETCH 2 BODY[]");
    CHECK(HAS(r, "FLAGS (\\Seen)") && HAS(r, "--XyZ--"));
    r = fake_cmd(&c, "l", "l STORE 1:3 +FLAGS (\\Flagged Urgent)");
    CHECK(HAS(r, "* 1 FETCH (FLAGS (\\Seen \\Flagged $Work Urgent))"));
    CHECK(HAS(r, "* 3 FETCH (FLAGS (\\Flagged Urgent))") && HAS(r, "l OK"));
    r = fake_cmd(&c, "m", "m UID STORE 3 -FLAGS.SILENT (Urgent)");
    CHECK(!HAS(r, "FETCH") && HAS(r, "m OK"));
    r = fake_cmd(&c, "n", "n SEARCH FLAGGED SUBJECT hello");
    CHECK(HAS(r, "* SEARCH 1 3\r\n"));
    r = fake_cmd(&c, "o", "o UID SEARCH RETURN (MIN MAX COUNT ALL) BODY "
                          "zebra");
    CHECK(HAS(r, "* ESEARCH (TAG \"o\") UID ALL 1,3 MIN 1 MAX 3 "
                 "COUNT 2"));
    /* BODY looks at text parts, not inside attachments */
    r = fake_cmd(&c, "o2", "o2 SEARCH BODY \"scan is attached\"");
    CHECK(HAS(r, "* SEARCH 2\r\n"));
    r = fake_cmd(&c, "o3", "o3 SEARCH BODY SGVsbG8");
    CHECK(HAS(r, "* SEARCH\r\n"));
    r = fake_cmd(&c, "o4", "o4 SEARCH TEXT application/pdf");
    CHECK(HAS(r, "* SEARCH 2\r\n"));          /* part headers count */
    r = fake_cmd(&c, "p", "p SEARCH CHARSET KOI8-R ALL");
    CHECK(HAS(r, "p NO [BADCHARSET"));
    r = fake_cmd(&c, "q", "q SEARCH NOT SEEN");
    CHECK(HAS(r, "* SEARCH 3\r\n"));
    r = fake_cmd(&c, "r", "r COPY 1:2 Archive");
    CHECK(HAS(r, "r OK [COPYUID ") && HAS(r, " 1:2 1:2]"));
    r = fake_cmd(&c, "s", "s COPY 1 Nope");
    CHECK(HAS(r, "s NO [TRYCREATE]"));
    r = fake_cmd(&c, "t", "t MOVE 2 Trash");
    CHECK(HAS(r, "* OK [COPYUID ") && HAS(r, "* 2 EXPUNGE") &&
          HAS(r, "t OK"));
    r = fake_cmd(&c, "u", "u STORE 1 +FLAGS (\\Deleted)");
    r = fake_cmd(&c, "v", "v EXPUNGE");
    CHECK(HAS(r, "* 1 EXPUNGE") && HAS(r, "v OK"));
    r = fake_cmd(&c, "w", "w FETCH 1 UID");
    CHECK(HAS(r, "* 1 FETCH (UID 3)"));
    r = fake_cmd(&c, "x", "x FETCH 5 UID");
    CHECK(HAS(r, "x BAD"));
    r = fake_cmd(&c, "y", "y UID FETCH 1:* FLAGS");
    CHECK(HAS(r, "* 1 FETCH (UID 3 FLAGS"));
    r = fake_cmd(&c, "z", "z EXAMINE Archive");
    CHECK(HAS(r, "* 2 EXISTS") && HAS(r, "[READ-ONLY]"));
    r = fake_cmd(&c, "A", "A STORE 1 +FLAGS (\\Deleted)");
    CHECK(HAS(r, "A NO [READ-ONLY]"));
    r = fake_cmd(&c, "B", "B CLOSE");
    CHECK(HAS(r, "B OK"));
    r = fake_cmd(&c, "C", "C FETCH 1 UID");
    CHECK(HAS(r, "C BAD"));
    fake_close(&c);
}

/* A message bigger than the receive buffer streams into the store */
static void test_big_append(void)
{
    struct fake_conn c = { 0 };
    const char *r;
    size_t n = 200000, i;
    char *msg = malloc(n + 1), head[64], want[64];
    memcpy(msg, "Subject: big\r\n\r\n", 16);
    for (i = 16; i < n; i++)
        msg[i] = (i % 64 == 63) ? '\n' : (i % 64 == 62) ? '\r'
                                                         : (char)('a' + i % 26);
    msg[n] = 0;
    login(&c, "bob", "pw2");
    c.chunk = 1000;
    r = append(&c, "a", "INBOX", "", msg);
    CHECK(HAS(r, "+ Ready") && HAS(r, "a OK [APPENDUID"));
    fake_cmd(&c, "b", "b SELECT INBOX");
    c.window = 7;                     /* a slow reader */
    r = fake_cmd(&c, "c", "c FETCH 1 BODY.PEEK[]");
    snprintf(head, sizeof head, "BODY[] {%zu}\r\n", n);
    CHECK(HAS(r, head));
    {
        const char *body = r ? strstr(r, head) : NULL;
        CHECK(body && memcmp(body + strlen(head), msg, n) == 0);
    }
    snprintf(want, sizeof want, "c OK");
    CHECK(HAS(r, want));
    c.window = 0;
    /* a literal that is too big for anything but APPEND */
    r = fake_cmd(&c, "d", "d LOGIN {100000}");
    CHECK(HAS(r, "d BAD"));
    r = fake_cmd(&c, "e", "e NOOP");
    CHECK(HAS(r, "e OK"));
    free(msg);
    fake_close(&c);
}

/* Two sessions on one mailbox; IDLE gets pushes */
static void test_two_sessions(void)
{
    struct fake_conn a = { 0 }, b = { 0 };
    const char *r;
    login(&a, "bob", "pw2");
    login(&b, "bob", "pw2");
    fake_cmd(&a, "a1", "a1 SELECT INBOX");
    fake_cmd(&b, "b1", "b1 SELECT INBOX");
    fake_input(&b, "b2 IDLE\r\n", 9);
    r = fake_take(&b);
    CHECK(HAS(r, "+ idling"));
    r = append(&a, "a2", "INBOX", "", msg_plain);
    CHECK(HAS(r, "a2 OK") && HAS(r, "* 2 EXISTS"));
    r = fake_take(&b);
    CHECK(HAS(r, "* 2 EXISTS"));       /* pushed without any command */
    r = fake_cmd(&a, "a3", "a3 STORE 2 +FLAGS (\\Flagged)");
    r = fake_take(&b);
    CHECK(HAS(r, "* 2 FETCH (FLAGS (\\Flagged) UID 2)"));
    r = fake_cmd(&b, "b2", "DONE");
    CHECK(HAS(r, "b2 OK"));
    /* an expunge is held back during FETCH, told at NOOP */
    fake_cmd(&a, "a4", "a4 STORE 1 +FLAGS (\\Deleted)");
    r = fake_cmd(&a, "a5", "a5 EXPUNGE");
    CHECK(HAS(r, "* 1 EXPUNGE"));
    r = fake_cmd(&b, "b3", "b3 FETCH 1:2 UID");
    CHECK(HAS(r, "* 2 FETCH (UID 2)") && !HAS(r, "EXPUNGE"));
    r = fake_cmd(&b, "b4", "b4 NOOP");
    CHECK(HAS(r, "* 1 EXPUNGE"));
    r = fake_cmd(&b, "b5", "b5 FETCH 1 UID");
    CHECK(HAS(r, "* 1 FETCH (UID 2)"));
    /* deleting the mailbox another session has selected ends it */
    fake_cmd(&a, "a6", "a6 CREATE Tmp");
    fake_cmd(&b, "b6", "b6 SELECT Tmp");
    r = fake_cmd(&a, "a7", "a7 DELETE Tmp");
    CHECK(HAS(r, "a7 OK"));
    r = fake_cmd(&b, "b7", "b7 NOOP");
    CHECK(HAS(b.out, "* BYE") && b.closed);
    fake_close(&a);
    fake_close(&b);
}

/* Expunges of scattered messages: the expunging session and an IDLE one
 * hear of all of them with the right numbers; a quiet session whose
 * held-back list overflows is told to reconnect. */
static void test_scattered_expunge(void)
{
    struct fake_conn a = { 0 }, b = { 0 }, c = { 0 };
    const char *r;
    char want[64];
    int i, ok_a = 1, ok_c = 1;
    login(&a, "bob", "pw2");
    fake_cmd(&a, "a0", "a0 CREATE Many");
    for (i = 0; i < 80; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "ap%d", i);
        r = append(&a, tag, "Many", i % 2 ? "(\\Deleted)" : "()", msg_plain);
        if (!HAS(r, "OK [APPENDUID"))
            ok_a = 0;
    }
    CHECK(ok_a);
    login(&b, "bob", "pw2");
    login(&c, "bob", "pw2");
    r = fake_cmd(&a, "a1", "a1 SELECT Many");
    CHECK(HAS(r, "* 80 EXISTS"));
    fake_cmd(&b, "b1", "b1 SELECT Many");
    fake_cmd(&c, "c1", "c1 SELECT Many");
    fake_input(&c, "c2 IDLE\r\n", 9);
    fake_take(&c);
    r = fake_cmd(&a, "a2", "a2 EXPUNGE");
    /* the n-th expunged (0-based) is message 2 + n before it goes */
    for (i = 0; i < 40; i++) {
        snprintf(want, sizeof want, "* %d EXPUNGE\r\n", 2 + i);
        if (!HAS(r, want))
            ok_a = 0;
    }
    CHECK(ok_a && HAS(r, "a2 OK"));
    r = fake_take(&c);
    for (i = 0; i < 40; i++) {
        snprintf(want, sizeof want, "* %d EXPUNGE\r\n", 2 + i);
        if (!HAS(r, want))
            ok_c = 0;
    }
    CHECK(ok_c);
    r = fake_cmd(&c, "c2", "DONE");
    CHECK(HAS(r, "c2 OK"));
    r = fake_cmd(&c, "c3", "c3 FETCH 40 UID");
    CHECK(HAS(r, "* 40 FETCH (UID 79)"));
    r = fake_cmd(&b, "b2", "b2 NOOP");
    CHECK(HAS(b.out, "* BYE [UNAVAILABLE]") && b.closed);
    fake_close(&a);
    fake_close(&b);
    fake_close(&c);
}

/* Review regressions: what other sessions do between the steps of a
 * running command never leaks, corrupts or loops. */
static void test_between_steps(void)
{
    struct fake_conn a = { 0 }, b = { 0 }, bob = { 0 };
    const char *r;
    char big[60000];
    int i;
    memset(big, 'q', sizeof big);
    memcpy(big, "Subject: alice big\r\n\r\n", 23);
    big[sizeof big - 1] = 0;
    login(&a, "alice", "secret1");
    login(&b, "alice", "secret1");
    login(&bob, "bob", "pw2");

    /* 1: the selected mailbox is deleted and its slot reused by another
     * user's mailbox while a FETCH is stalled on a slow reader */
    fake_cmd(&a, "a1", "a1 CREATE Tmp");
    for (i = 0; i < 3; i++)
        append(&a, "a2", "Tmp", "", big);
    fake_cmd(&b, "b1", "b1 SELECT Tmp");
    b.paused = 1;
    fake_input(&b, "b2 FETCH 1:* (UID BODY.PEEK[])\r\n", 32);
    r = fake_cmd(&a, "a3", "a3 DELETE Tmp");
    CHECK(HAS(r, "a3 OK"));
    r = fake_cmd(&bob, "c1", "c1 CREATE Private");
    r = append(&bob, "c2", "Private", "", "Subject: BOB PRIVATE\r\n\r\nx\r\n");
    CHECK(HAS(r, "c2 OK"));
    b.paused = 0;
    fake_run();
    CHECK(!HAS(b.out, "BOB PRIVATE") && b.closed);

    /* 2: the message being sent is expunged, GC reclaims its space and
     * another user's mail is written there */
    fake_close(&b);
    memset(&b, 0, sizeof b);
    login(&b, "alice", "secret1");
    fake_cmd(&a, "a4", "a4 SELECT INBOX");
    r = append(&a, "a5", "INBOX", "", big);
    fake_cmd(&b, "b3", "b3 SELECT INBOX");
    b.paused = 1;
    fake_input(&b, "b4 UID FETCH * BODY.PEEK[]\r\n", 28);
    fake_cmd(&a, "a6", "a6 UID STORE * +FLAGS (\\Deleted)");
    r = fake_cmd(&a, "a7", "a7 EXPUNGE");
    CHECK(HAS(r, "EXPUNGE"));
    lwm_store_gc_force(&store);
    for (i = 0; i < 2000 && lwm_store_gc_step(&store) > 0; i++)
        ;
    for (i = 0; i < 3; i++)
        append(&bob, "c3", "INBOX", "", "Subject: BOB SECRET\r\n\r\nbob\r\n");
    b.paused = 0;
    r = fake_cmd(&b, "b5", "b5 NOOP");
    CHECK(HAS(r, "b5 OK") && !HAS(b.out, "BOB SECRET"));
    CHECK(HAS(b.out, "b4 OK"));

    /* 3: UID MOVE 1:* into the selected mailbox itself ends */
    r = fake_cmd(&a, "a8", "a8 STATUS INBOX (MESSAGES)");
    r = fake_cmd(&a, "a9", "a9 UID MOVE 1:* INBOX");
    CHECK(HAS(r, "a9 OK"));
    r = fake_cmd(&a, "a10", "a10 UID MOVE 1:* INBOX");
    CHECK(HAS(r, "a10 OK"));

    /* 4: LIST with many wildcards is quick (not exponential) */
    fake_cmd(&a, "a11", "a11 CREATE aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    r = fake_cmd(&a, "a12", "a12 LIST \"\" \"*a*a*a*a*a*a*a*a*a*a*a*a*ab\"");
    CHECK(HAS(r, "a12 OK") && !HAS(r, "aaaa"));

    /* 5: a streamed APPEND with an unclosed flag list */
    memset(big, 'z', 9000);
    r = fake_cmd(&a, "a13", "a13 NOOP a b c dddd ()");
    fake_input(&a, "a14 APPEND INBOX (\\Seen {9000+}\r\n", 33);
    fake_input(&a, big, 9000);
    r = fake_cmd(&a, "a14", "");
    CHECK(HAS(r, "a14 BAD"));
    r = fake_cmd(&a, "a15", "a15 SELECT INBOX");
    CHECK(HAS(r, "a15 OK") && !HAS(r, " Seen") && !HAS(r, " dddd"));

    /* 6: a peer that stops reading is dropped after the send timeout */
    b.paused = 1;
    fake_input(&b, "b6 FETCH 1:* BODY.PEEK[]\r\n", 26);
    fake_advance(LWM_IMAP_SEND_TIMEOUT_MS + 1000);
    fake_run();
    fake_advance(LWM_IMAP_SEND_TIMEOUT_MS + 1000);
    fake_run();
    CHECK(b.closed);
    /* 8: a long HEADER.FIELDS section is refused, not a broken session;
     * an unknown transfer encoding refuses BINARY before the message;
     * NUL never appears in a {n} literal; a bad APPEND tail keeps the
     * pipelined commands after it */
    {
        char line[3000];
        size_t o = 0;
        o += (size_t)snprintf(line + o, sizeof line - o,
                              "a20 FETCH 1 (BODY.PEEK[HEADER.FIELDS (");
        for (i = 0; i < 150; i++)
            o += (size_t)snprintf(line + o, sizeof line - o, "X-Hdr-%d ", i);
        snprintf(line + o, sizeof line - o, "Subject)])");
        fake_cmd(&a, "a19", "a19 SELECT INBOX");
        r = fake_cmd(&a, "a20", line);
        CHECK(HAS(r, "a20 BAD") && !a.closed);
        r = append(&a, "a21", "INBOX", "",
                   "Subject: odd\r\nContent-Transfer-Encoding: x-weird\r\n"
                   "\r\nabc\r\n");
        CHECK(HAS(r, "a21 OK"));
        r = fake_cmd(&a, "a22", "a22 FETCH * (FLAGS BINARY.SIZE[1] UID)");
        CHECK(HAS(r, "a22 NO [UNKNOWN-CTE]") && !HAS(r, "BINARY.SIZE[1] )"));
        {
            static const char nulmsg[] =
                "a23 APPEND INBOX ~{24+}\r\nSubject: a\0b\r\n\r\nbody\0x"
                "\r\n\r\n";
            fake_input(&a, nulmsg, sizeof nulmsg - 1);
        }
        r = fake_cmd(&a, "a24", "a24 FETCH * (BODY.PEEK[HEADER.FIELDS (Subject)] "
                                "BODY.PEEK[TEXT])");
        /* the reply is a C string: a NUL in it would cut it short */
        CHECK(HAS(r, "a23 OK") && HAS(r, "a24 OK") &&
              HAS(r, "Subject: a\x80" "b") && HAS(r, "body\x80" "x"));
        fake_input(&a, "a25 APPEND INBOX {9000+}\r\n", 25);
        memset(big, 'y', 9000);
        fake_input(&a, big, 9000);
        r = fake_cmd(&a, "a27", " junk\r\na26 NOOP\r\na27 NOOP");
        CHECK(HAS(r, "a25 BAD") && HAS(r, "a26 OK") && HAS(r, "a27 OK"));
    }

    /* 7: RENAME INBOX moves its messages: other sessions on INBOX hear
     * of it as expunges and go on */
    fake_close(&b);
    memset(&b, 0, sizeof b);
    login(&b, "alice", "secret1");
    r = fake_cmd(&b, "b7", "b7 SELECT INBOX");
    {
        char want[32];
        int nmsg = 0, ok = 1;
        const char *e = r ? strstr(r, " EXISTS") : NULL;
        if (e) {
            while (e > r && e[-1] >= '0' && e[-1] <= '9')
                e--;
            nmsg = atoi(e);
        }
        CHECK(nmsg > 0);
        r = fake_cmd(&a, "a16", "a16 RENAME INBOX OldInbox");
        CHECK(HAS(r, "a16 OK"));
        r = fake_cmd(&b, "b8", "b8 NOOP");
        snprintf(want, sizeof want, "* 1 EXPUNGE");
        for (i = 0; i < nmsg && ok; i++) {
            const char *q = strstr(r ? r : "", want);
            ok = q != NULL;
            if (q)
                r = q + 1;
        }
        CHECK(ok && !b.closed);
        r = fake_cmd(&b, "b9", "b9 STATUS OldInbox (MESSAGES)");
        snprintf(want, sizeof want, "(MESSAGES %d)", nmsg);
        CHECK(HAS(r, want));
    }
    fake_close(&a);
    fake_close(&b);
    fake_close(&bob);
}

/* Pipelined commands, fed byte by byte and answered one byte per send,
 * give the same transcript as in one piece */
static const char script[] =
    "p1 LOGIN alice secret1\r\n"
    "p2 SELECT Archive\r\n"
    "p3 FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n"
    "p4 SEARCH TEXT zebra\r\n"
    "p5 STATUS INBOX (MESSAGES)\r\n"
    "p6 FETCH 1 BODYSTRUCTURE\r\n"
    "p7 LOGOUT\r\n";

static char *transcript(size_t chunk, size_t window)
{
    struct fake_conn c = { 0 };
    char *out;
    c.chunk = chunk;
    c.window = window;
    fake_open(&c);
    fake_input(&c, script, sizeof script - 1);
    fake_run();
    out = strdup(c.out);
    fake_close(&c);
    return out;
}

/* The script in random pieces (seeded), with a random send window */
static char *transcript_random(uint32_t seed)
{
    struct fake_conn c = { 0 };
    size_t off = 0, n = sizeof script - 1;
    char *out;
    c.window = 1 + seed % 97;
    fake_open(&c);
    while (off < n) {
        size_t k;
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        k = 1 + seed % 40;
        if (k > n - off)
            k = n - off;
        fake_input(&c, script + off, k);
        off += k;
    }
    fake_run();
    out = strdup(c.out);
    fake_close(&c);
    return out;
}

static void test_pipelining(void)
{
    char *whole = transcript(0, 0), *bytes = transcript(1, 1);
    char *odd = transcript(7, 13);
    uint32_t seed;
    for (seed = 1; seed <= 20; seed++) {
        char *r = transcript_random(seed * 2654435761u);
        CHECK(strcmp(whole, r) == 0);
        free(r);
    }
    CHECK(HAS(whole, "p7 OK"));
    CHECK(HAS(whole, "p4 OK") && HAS(whole, "* SEARCH 1"));
    CHECK(strcmp(whole, bytes) == 0);
    CHECK(strcmp(whole, odd) == 0);
    free(whole);
    free(bytes);
    free(odd);
}

#if LWM_IMAP_RX_OWN < LWM_IMAP_RXBUF
/* Sessions that own small receive buffers and share LWM_IMAP_RX_LONG long
 * ones (LWM_IMAP_RX_OWN): a long command borrows one; a second long
 * command waits, unread, while others go on; before login nothing is
 * borrowed. Built only into test_imap_rxshare. */
static void test_shared_rx(void)
{
    struct fake_conn a = { 0 }, b = { 0 }, c = { 0 }, p = { 0 };
    static char line[LWM_IMAP_RXBUF];
    const char *r;
    size_t o, i;
    char tail[64];

    login(&a, "alice", "secret1");
    login(&b, "alice", "secret1");
    login(&c, "alice", "secret1");
    fake_cmd(&a, "a0", "a0 SELECT INBOX");
    fake_cmd(&b, "b0", "b0 SELECT INBOX");

    /* a long UID set, 3 times the own buffer */
    o = (size_t)snprintf(line, sizeof line, "%s", "a1 UID FETCH ");
    for (i = 0; o < 3 * LWM_IMAP_RX_OWN; i++)
        o += (size_t)snprintf(line + o, sizeof line - o, "%zu,", 100000 + 2 * i);
    o += (size_t)snprintf(line + o, sizeof line - o, "1:* (FLAGS)\r\n");

    /* a sends all but its last bytes: it holds the long buffer */
    fake_input(&a, line, o - 5);
    CHECK(!HAS(a.out, "a1 "));
    /* b's long command finds it taken: b reads no more than its own
     * buffer holds (a client's further bytes wait in the transport), is
     * not answered and not closed */
    line[0] = 'b';
    CHECK(lwm_conn_rx_room(srv, b.slot) == LWM_IMAP_RX_OWN);
    fake_input(&b, line, LWM_IMAP_RX_OWN);
    CHECK(lwm_conn_rx_room(srv, b.slot) == 0);
    CHECK(!HAS(b.out, "b1 ") && !b.closed);
    /* a third session goes on meanwhile */
    r = fake_cmd(&c, "c1", "c1 NOOP");
    CHECK(HAS(r, "c1 OK"));
    /* a ends its command: it is answered, gives the buffer back, and b's
     * command (read as the buffer came free) is answered too */
    line[0] = 'a';
    fake_input(&a, line + o - 5, 5);
    fake_run();
    CHECK(HAS(a.out, "a1 OK FETCH completed"));
    fake_advance(20);
    fake_run();
    CHECK(lwm_conn_rx_room(srv, b.slot) > LWM_IMAP_RX_OWN);
    line[0] = 'b';
    fake_input(&b, line + LWM_IMAP_RX_OWN, o - LWM_IMAP_RX_OWN);
    r = fake_wait(&b, "b1", 1000);
    CHECK(HAS(r, "b1 OK FETCH completed"));
    /* both short again: a and b pipeline normally */
    r = fake_cmd(&a, "a2", "a2 NOOP");
    CHECK(HAS(r, "a2 OK"));
    r = fake_cmd(&b, "b2", "b2 NOOP");
    CHECK(HAS(r, "b2 OK"));

    /* a synchronizing literal longer than the own buffer is read whole
     * (the "+" comes, the command runs) */
    snprintf(tail, sizeof tail, "a3 ID (\"x-long\" {%u}\r\n",
             (unsigned)(LWM_IMAP_RX_OWN + 100));
    fake_take(&a);
    fake_input(&a, tail, strlen(tail));
    r = fake_take(&a);
    CHECK(HAS(r, "+ "));
    memset(line, 'q', LWM_IMAP_RX_OWN + 100);
    memcpy(line + LWM_IMAP_RX_OWN + 100, ")\r\n", 3);
    fake_input(&a, line, LWM_IMAP_RX_OWN + 103);
    r = fake_wait(&a, "a3", 1000);
    CHECK(HAS(r, "* ID (") && HAS(r, "a3 OK"));

    /* a line longer than even the long buffer: BAD [TOOBIG], and the
     * session and the buffer go on */
    memset(line, 'x', sizeof line);
    memcpy(line, "a4 NOOP ", 8);
    fake_input(&a, line, sizeof line);
    r = fake_cmd(&a, "a5", "\r\na5 NOOP");
    CHECK(HAS(r, "a4 BAD [TOOBIG]") && HAS(r, "a5 OK"));
    r = fake_cmd(&b, "b3", "b3 UID SEARCH UID 1,2,3");
    CHECK(HAS(r, "b3 OK"));

    /* before login a command must fit the own buffer */
    fake_open(&p);
    fake_take(&p);
    memset(line, 'u', LWM_IMAP_RX_OWN + 10);
    memcpy(line, "p1 LOGIN ", 9);
    memcpy(line + LWM_IMAP_RX_OWN + 10, " pw\r\n", 5);
    fake_input(&p, line, LWM_IMAP_RX_OWN + 15);
    r = fake_cmd(&p, "p2", "p2 NOOP");
    CHECK(HAS(r, "p1 BAD [TOOBIG]") && HAS(r, "p2 OK") && !p.closed);

    fake_close(&p);
    fake_close(&a);
    fake_close(&b);
    fake_close(&c);
}

/* A long buffer's holder that never finishes its command (a byte now
 * and then) is ended after LWM_IMAP_RX_LONG_HOLD_MS; the session waiting
 * meanwhile is not logged out for idling, the server does not spin while
 * it waits, and the buffer goes to it. */
static void test_shared_rx_hold(void)
{
    struct fake_conn a = { 0 }, b = { 0 };
    static char la[LWM_IMAP_RXBUF], lb[LWM_IMAP_RXBUF];
    size_t ob, i;
    const char *r;

    login(&a, "alice", "secret1");
    login(&b, "alice", "secret1");
    fake_cmd(&a, "h0", "h0 SELECT INBOX");
    fake_cmd(&b, "k0", "k0 SELECT INBOX");
    memset(la, '1', sizeof la);
    memcpy(la, "h1 UID FETCH 1,", 15);
    ob = (size_t)snprintf(lb, sizeof lb, "%s", "k1 UID FETCH ");
    for (i = 0; ob < 3 * LWM_IMAP_RX_OWN; i++)
        ob += (size_t)snprintf(lb + ob, sizeof lb - ob, "%zu,", 100 + 2 * i);
    ob += (size_t)snprintf(lb + ob, sizeof lb - ob, "1:* (FLAGS)\r\n");

    fake_input(&a, la, LWM_IMAP_RX_OWN + 10);       /* a borrows it */
    fake_input(&b, lb, LWM_IMAP_RX_OWN);            /* b queues */
    CHECK(lwm_conn_rx_room(srv, b.slot) == 0);
    CHECK(lwm_server_poll(srv) > 10);               /* no busy polling */
    /* a trickles: one byte every 10 s, past b's idle timeout */
    for (i = 0; i * 10000 < LWM_IMAP_RX_LONG_HOLD_MS + 20000; i++) {
        fake_advance(10000);
        fake_input(&a, la + LWM_IMAP_RX_OWN + 10 + i, 1);
        fake_run();
        if (a.closed)
            break;
    }
    CHECK(a.closed && HAS(a.out, "* BYE Command line not completed"));
    CHECK(!b.closed && lwm_conn_rx_room(srv, b.slot) > 0);
    fake_input(&b, lb + LWM_IMAP_RX_OWN, ob - LWM_IMAP_RX_OWN);
    r = fake_wait(&b, "k1", 1000);
    CHECK(HAS(r, "k1 OK FETCH completed"));
    /* an idle session still times out (waiting was not idling) */
    fake_advance(LWM_IMAP_TIMEOUT_MS + 1000);
    fake_run();
    CHECK(b.closed && HAS(b.out, "* BYE Autologout"));
    fake_close(&a);
    fake_close(&b);
}
#endif

static void test_timeouts_and_limits(void)
{
    struct fake_conn c[LWM_MAX_SESSIONS + 1];
    int i;
    memset(c, 0, sizeof c);
    for (i = 0; i <= LWM_MAX_SESSIONS; i++)
        fake_open(&c[i]);
    CHECK(HAS(c[LWM_MAX_SESSIONS].out, "* BYE") &&
          c[LWM_MAX_SESSIONS].closed);
    CHECK(!c[0].closed);
    fake_advance(LWM_IMAP_PREAUTH_TIMEOUT_MS + 1000);
    fake_run();
    CHECK(c[0].closed && HAS(c[0].out, "* BYE Autologout"));
    for (i = 0; i <= LWM_MAX_SESSIONS; i++)
        fake_close(&c[i]);
}

int main(void)
{
    setup();
    test_any_state();
    test_mailboxes();
    test_messages();
    test_big_append();
    test_two_sessions();
    test_scattered_expunge();
    test_between_steps();
    test_pipelining();
#if LWM_IMAP_RX_OWN < LWM_IMAP_RXBUF
    test_shared_rx();
    test_shared_rx_hold();
#endif
    test_timeouts_and_limits();
    CHECK(lwm_store_check(&store, 1) == 0);
    CHECK(nor.violations == 0);
    return check_summary("test_imap");
}
