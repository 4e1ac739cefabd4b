/*
 * Tests of IMAP SEARCH (src/search/search.c).
 *
 * Each query is tokenized by the real command parser, compiled, and run
 * against a small corpus of messages (flags, dates, sizes, CRLF and
 * LF-only, folded and encoded header fields, a header without a body, a
 * body of several KiB). Every message is fed whole, one byte at a time, in
 * random chunks, and in random chunks past the point where wants() said
 * stop: all four must give the expected answer. Then: compile errors and
 * limits, early decisions, KMP against a naive search, and a bounded,
 * seeded loop of random and garbage commands (run under ASan/UBSan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/imap/parse.h"
#include "../src/search/search.h"
#include "check.h"
#include "lwmail/lwm_store.h"
#include "testutil.h"

#define MAXT 256
#define CAP 16384

/* ------------------------------------------------------------ corpus */

struct tmsg {
    const char *text;
    size_t len;
    uint32_t seq, uid, flags;
    int64_t idate;
};

#define DAY(y, m, d) (days_from_civil((y), (m), (d)) * 86400LL)

static int64_t days_from_civil(int y, int m, int d)
{
    /* independent of the module's: count days year by year */
    static const int md[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int64_t n = 0;
    int yy, mm;
    for (yy = 1970; yy < y; yy++)
        n += 365 + ((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0);
    for (mm = 1; mm < m; mm++)
        n += md[mm - 1] +
             (mm == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return n + d - 1;
}

static const char m1[] =
    "Date: Mon, 12 Feb 2024 10:20:30 +0100\r\n"
    "From: Alice Example <alice@example.com>\r\n"
    "To: bob@example.org\r\n"
    "Cc: carol@example.net\r\n"
    "Subject: Quarterly report\r\n"
    "X-Priority: 1\r\n"
    "X-Quote: he said \"hi\" \\o/\r\n"
    "\r\n"
    "Hello Bob,\r\nthe numbers are in.\r\n";

static const char m2[] =                       /* LF only, folds */
    "From: bob@example.org\n"
    "To: alice@example.com\n"
    "To: dave@example.com\n"
    "Subject: This is a\n  folded subject line\n"
    "Date: 1 Mar 24 23:59 -0800\n"
    "\n"
    "Body with Needle inside.\n";

static const char m3[] =                       /* no Date:, encoded words */
    "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <jm@example.de>\r\n"
    "Bcc: secret@example.com\r\n"
    "Subject: =?ISO-8859-1?B?R3L832U=?=\r\n"
    "  =?utf-8?q?_aus_K=C3=B6ln?= und =?us-ascii?q?mehr?=\r\n"
    "X-Custom:\r\n\tvalue on next line\r\n"
    "X-Broken: =?utf-8?q?bad word?= =?x?\r\n"
    "\r\n";

static const char m4[] =                       /* header only, no EOL */
    "Subject: no body here\r\n"
    "Date: Tue, 2 Jan 2024 00:00:00 +0000";

static const char m5[] =
    "Received: from x by y; Mon, 12 Feb 2024 00:00:00 +0000\r\n"
    "Subject : spaced colon\r\n"
    "Subjects: not the subject\r\n"
    "X-To: nope\r\n"
    "To: real@example.com\r\n"
    "Date: garbage\r\n"
    "Date: Sat, 10 Feb 2024 10:00:00 +0000\r\n"
    "\r\n"
    "Subject: fake in body\r\n";

static char m6[8192];                          /* built in main() */

static struct tmsg corpus[] = {
    { m1, 0, 1, 10, LWM_FLAG_SEEN | LWM_FLAG_ANSWERED, 0 },
    { m2, 0, 2, 20,
      LWM_FLAG_FLAGGED | LWM_FLAG_DELETED | LWM_FLAG_KEYWORD(0), 0 },
    { m3, 0, 3, 30, LWM_FLAG_DRAFT | LWM_FLAG_KEYWORD(3), 0 },
    { m4, 0, 4, 40, LWM_FLAG_SEEN, 0 },
    { m5, 0, 5, 50, LWM_FLAG_SEEN | LWM_FLAG_FLAGGED, 0 },
    { m6, 0, 6, 60, 0, 0 },
};
#define NMSG (sizeof corpus / sizeof corpus[0])
#define MAX_SEQ 6
#define MAX_UID 60

static void corpus_init(void)
{
    size_t o = 0;
    int i;
    o += (size_t)sprintf(m6 + o,
                         "From: Big Sender <big@example.com>\r\n"
                         "Date: Sun, 11 Feb 2024 23:00:00 -0500 (EST)\r\n"
                         "Content-Type: text/plain\r\n"
                         "\r\n");
    for (i = 0; i < 120; i++)
        o += (size_t)sprintf(m6 + o, "lorem ipsum dolor sit amet %010d\r\n",
                             i);
    o += (size_t)sprintf(m6 + o, "aaab needle-at-end\r\n");
    corpus[0].idate = DAY(2024, 2, 12) + 9 * 3600 + 20 * 60 + 31;
    corpus[1].idate = DAY(2024, 3, 2) + 8 * 3600;
    corpus[2].idate = DAY(2023, 12, 31) + 23 * 3600 + 30 * 60;
    corpus[3].idate = DAY(2024, 1, 2) + 12 * 3600;
    corpus[4].idate = DAY(2024, 2, 12);
    corpus[5].idate = DAY(2024, 2, 11) + 86399;
    for (i = 0; i < (int)NMSG; i++)
        corpus[i].len = strlen(corpus[i].text);
}

/* ------------------------------------------------------------ helpers */

static int kw_lookup(void *ctx, const uint8_t *name, size_t len)
{
    static const char *const kws[] = { "$important", "x", "y", "work" };
    size_t i, k;
    (void)ctx;
    for (i = 0; i < 4; i++) {
        if (strlen(kws[i]) != len)
            continue;
        for (k = 0; k < len; k++)
            if ((name[k] | 0x20) != (kws[i][k] | 0x20))
                break;
        if (k == len)
            return (int)i;
    }
    return -1;
}

static int saved_uids(void *ctx, uint32_t seq, uint32_t uid)
{
    (void)ctx;
    (void)seq;
    return uid == 10 || uid == 40;
}

static uint8_t cmdbuf[CAP];

/* Tokenize "a SEARCH <args>\r\n" and compile it into p. Returns the
 * compile result, or 99 if the command parser refused the line. */
static int compile_len(struct lwm_search_prog *p, const char *args,
                       size_t alen, const char **err)
{
    static struct lwm_tok toks[MAXT];
    struct lwm_cmd cmd;
    size_t n = 0;
    int r;
    memcpy(cmdbuf, "a SEARCH ", 9);
    n = 9;
    if (alen > CAP - 16)
        alen = CAP - 16;
    memcpy(cmdbuf + n, args, alen);
    n += alen;
    cmdbuf[n++] = '\r';
    cmdbuf[n++] = '\n';
    r = lwm_imap_parse(cmdbuf, n, CAP, &cmd, toks, MAXT);
    if (r <= 0)
        return 99;
    r = lwm_search_compile(p, cmdbuf, toks, cmd.ntoks, kw_lookup, NULL, err);
    /* the program must not depend on the receive buffer any more */
    memset(cmdbuf, 0xA5, n);
    return r;
}

static int compile(struct lwm_search_prog *p, const char *args,
                   const char **err)
{
    return compile_len(p, args, strlen(args), err);
}

enum { FEED_WHOLE, FEED_BYTES, FEED_RANDOM, FEED_ALL_RANDOM, FEED_MODES };

/* Run p on message m; *fed_r gets how many bytes were fed. */
static int run_msg(struct lwm_search_prog *p, const struct tmsg *m,
                   int mode, uint32_t *seed, size_t *fed_r)
{
    struct lwm_search_msg sm;
    size_t off = 0;
    int r;
    sm.seq = m->seq;
    sm.uid = m->uid;
    sm.flags = m->flags;
    sm.size = (uint32_t)m->len;
    sm.internal_date = m->idate;
    lwm_search_begin(p, &sm, MAX_SEQ, MAX_UID);
    while (off < m->len &&
           (mode == FEED_ALL_RANDOM || lwm_search_wants(p))) {
        size_t n = m->len - off;
        if (mode == FEED_BYTES)
            n = 1;
        else if (mode == FEED_RANDOM || mode == FEED_ALL_RANDOM) {
            /* mostly small chunks, sometimes big ones */
            uint32_t big = xorshift32(seed) % 4 == 0;
            n = 1 + xorshift32(seed) % (big ? 700 : 16);
        }
        if (n > m->len - off)
            n = m->len - off;
        lwm_search_feed(p, (const uint8_t *)m->text + off, n);
        off += n;
    }
    if (fed_r)
        *fed_r = off;
    r = lwm_search_result(p);
    CHECK(lwm_search_wants(p) == LWM_SEARCH_WANT_NONE);
    return r;
}

/* Bit seq-1 of every message p matches, checking that every feeding
 * gives the same answer. */
static unsigned run_all(struct lwm_search_prog *p, uint32_t *seed,
                        const char *what)
{
    unsigned got = 0;
    size_t i;
    int mode;
    for (i = 0; i < NMSG; i++) {
        int r0 = run_msg(p, &corpus[i], FEED_WHOLE, seed, NULL);
        for (mode = 1; mode < FEED_MODES; mode++) {
            int r = run_msg(p, &corpus[i], mode, seed, NULL);
            if (!CHECK(r == r0))
                printf("  %s: message %zu: feeding mode %d gives %d, whole "
                       "%d\n", what, i + 1, mode, r, r0);
        }
        if (r0)
            got |= 1u << i;
    }
    return got;
}

static unsigned seqs(const char *s)
{
    unsigned m = 0;
    for (; *s; s++)
        if (*s >= '1' && *s <= '9')
            m |= 1u << (*s - '1');
    return m;
}

static void show(unsigned m, char *out)
{
    size_t i;
    *out = 0;
    for (i = 0; i < NMSG; i++)
        if (m & (1u << i))
            out += sprintf(out, "%s%zu", *out ? "," : "", i + 1);
}

static struct lwm_search_prog prog;

/* Compile args; it must match exactly the messages in want ("1,4"). */
static void expect(const char *args, const char *want)
{
    static uint32_t seed = 12345;
    const char *err = NULL;
    int r = compile(&prog, args, &err);
    unsigned got;
    char a[64], b[64];
    if (!CHECK(r == 0)) {
        printf("  %s: compile %d (%s)\n", args, r, err ? err : "");
        return;
    }
    lwm_search_set_saved(&prog, saved_uids, NULL);
    got = run_all(&prog, &seed, args);
    if (!CHECK(got == seqs(want))) {
        show(got, a);
        show(seqs(want), b);
        printf("  %s: matched {%s}, expected {%s}\n", args, a, b);
    }
}

static void expect_err(const char *args, int code)
{
    const char *err = NULL;
    int r = compile(&prog, args, &err);
    if (!CHECK(r == code && err != NULL && *err))
        printf("  %s: compile gave %d, expected %d (%s)\n", args, r, code,
               err ? err : "no message");
    /* a failed program matches nothing and asks for nothing */
    else
        CHECK(run_all(&prog, &(uint32_t){ 7 }, args) == 0);
}

/* ------------------------------------------------------------ tests */

static void test_keys(void)
{
    /* flags, constants */
    expect("ALL", "123456");
    expect("SEEN", "145");
    expect("UNSEEN", "236");
    expect("ANSWERED", "1");
    expect("UNANSWERED", "23456");
    expect("FLAGGED", "25");
    expect("UNFLAGGED", "1346");
    expect("DELETED", "2");
    expect("UNDELETED", "13456");
    expect("DRAFT", "3");
    expect("UNDRAFT", "12456");
    expect("RECENT", "");
    expect("NEW", "");
    expect("OLD", "123456");
    expect("seen", "145");
    expect("sEeN", "145");

    /* keywords */
    expect("KEYWORD $Important", "2");
    expect("KEYWORD WORK", "3");
    expect("KEYWORD nosuch", "");
    expect("UNKEYWORD nosuch", "123456");
    expect("UNKEYWORD $important", "13456");
    expect("KEYWORD \\Seen", "145");
    expect("UNKEYWORD \\seen", "236");
    expect("KEYWORD \\Recent", "");
    expect("UNKEYWORD \\Recent", "123456");

    /* sets */
    expect("2:4", "234");
    expect("4:2", "234");
    expect("*", "6");
    expect("5:*", "56");
    expect("1,3,6", "136");
    expect("1:2,5", "125");
    expect("UID 20:30", "23");
    expect("UID 55:*", "6");
    expect("UID *:55", "6");
    expect("UID 1:15", "1");
    expect("UID 100:*", "6");
    expect("UID 11:19", "");
    expect("$", "14");
    expect("UID $", "14");
    expect("NOT $", "2356");

    /* sizes */
    expect("LARGER 1000", "6");
    expect("SMALLER 100", "4");
    expect("LARGER 0", "123456");
    expect("SMALLER 0", "");
    expect("LARGER 4294967295", "");
    expect("LARGER 4294967294", "");
    expect("SMALLER 4294967295", "123456");
    expect("SMALLER 99999999999", "123456");
    expect("LARGER 9223372036854775807", "");

    /* internal date (UTC date) */
    expect("BEFORE 12-Feb-2024", "346");
    expect("SINCE 12-Feb-2024", "125");
    expect("ON 12-Feb-2024", "15");
    expect("ON 11-Feb-2024", "6");
    expect("ON 1-Mar-2024", "");
    expect("ON 2-Mar-2024", "2");
    expect("ON \"2-Mar-2024\"", "2");
    expect("BEFORE 1-Jan-2024", "3");
    expect("SINCE 2-mar-2024", "2");
    expect("SINCE 1-Jan-1970", "123456");
    expect("BEFORE 1-Jan-1970", "");

    /* Date: field (first one; fallback: the internal date) */
    expect("SENTON 12-Feb-2024", "15");
    expect("SENTON 11-Feb-2024", "6");
    expect("SENTON 1-Mar-2024", "2");
    expect("SENTON 2-Mar-2024", "");
    expect("SENTON 31-Dec-2023", "3");
    expect("SENTON 2-Jan-2024", "4");
    expect("SENTON 10-Feb-2024", "");
    expect("SENTBEFORE 12-Feb-2024", "346");
    expect("SENTSINCE 12-Feb-2024", "125");
    expect("SENTSINCE 1-Mar-2024", "2");

    /* header fields */
    expect("FROM alice", "1");
    expect("FROM \"EXAMPLE.ORG\"", "2");
    expect("FROM \"j\xc3\xb6rg\"", "3");
    expect("FROM \"J\xc3\x96RG M\xc3\x9cLLER\"", "3");
    expect("FROM \"=?UTF-8?Q?J=C3\"", "3");      /* the raw form too */
    expect("FROM \"jm@example.de\"", "3");
    expect("TO dave", "2");
    expect("TO alice", "2");
    expect("TO example", "125");
    expect("TO nope", "");
    expect("CC carol", "1");
    expect("CC bob", "");
    expect("BCC secret", "3");
    expect("BCC example", "3");
    expect("SUBJECT \"a  folded\"", "2");
    expect("SUBJECT \"a folded\"", "");
    expect("SUBJECT \"subject line\"", "2");
    expect("SUBJECT \"spaced colon\"", "5");
    expect("SUBJECT \"not the subject\"", "");
    expect("SUBJECT fake", "");
    expect("SUBJECT \"\"", "12345");
    expect("SUBJECT {9}\r\nQuarterly", "1");
    expect("SUBJECT \"gr\xc3\xbc\xc3\x9f" "e aus k\xc3\xb6ln und mehr\"", "3");
    expect("SUBJECT \"GR\xc3\x9c\xc3\x9f" "E AUS\"", "3");
    expect("SUBJECT \"R3L832U\"", "3");
    expect("SUBJECT \"und mehr\"", "3");
    expect("SUBJECT \"?= und\"", "3");            /* raw */
    expect("SUBJECT \"ln und\"", "3");            /* decoded */
    expect("HEADER X-Custom \"value on\"", "3");
    expect("HEADER x-custom \"\"", "3");
    expect("HEADER x-custom \"\tvalue\"", "");    /* leading WSP skipped */
    expect("HEADER X-Priority 1", "1");
    expect("HEADER Received \"\"", "5");
    expect("HEADER Subject \"\"", "12345");
    expect("HEADER Subjects \"\"", "5");
    expect("HEADER Subj \"\"", "");
    expect("HEADER date \"Feb 2024\"", "156");
    expect("HEADER X-Quote \"said \\\"hi\\\" \\\\o\"", "1");
    expect("HEADER X-Broken \"bad word\"", "3");
    expect("HEADER X-Broken \"=?x?\"", "3");
    expect("HEADER \"\" \"\"", "");
    expect("HEADER \"Content-Type\" \"TEXT/PLAIN\"", "6");

    /* body and text */
    expect("BODY \"numbers are\"", "1");
    expect("BODY needle", "26");
    expect("BODY needle-at-end", "6");
    expect("BODY aab", "6");
    expect("BODY \"LOREM IPSUM\"", "6");
    expect("BODY {32}\r\nsit amet 0000000007\r\nlorem ipsum", "6");
    expect("BODY \"Subject: fake\"", "5");
    expect("BODY Quarterly", "");
    expect("BODY \"\"", "123456");
    expect("BODY \"Content-Type\"", "");
    expect("TEXT quarterly", "1");
    expect("TEXT \"subject: FAKE\"", "5");
    expect("TEXT {18}\r\nreport\r\nX-Priority", "1");
    expect("TEXT \"a  folded subject\"", "2");
    expect("TEXT \"Content-Type\"", "6");
    expect("TEXT {24}\r\ndave@example.com\nSubject", "2");
    expect("TEXT \"\"", "123456");
    expect("TEXT \"+0000\"", "45");
    expect("TEXT alice", "12");
}

static void test_combinations(void)
{
    expect("OR SEEN FLAGGED", "1245");
    expect("NOT SEEN", "236");
    expect("(SEEN FLAGGED)", "5");
    expect("SEEN FLAGGED", "5");
    expect("OR (FROM alice) (BODY needle)", "126");
    expect("NOT (OR SEEN DRAFT)", "26");
    expect("OR OR SEEN DRAFT DELETED", "12345");
    expect("OR SEEN OR DRAFT DELETED", "12345");
    expect("NOT NOT NOT SEEN", "236");
    expect("CHARSET UTF-8 OR FROM \"bob\" (SINCE 1-Feb-2024 UNSEEN)", "26");
    expect("((((SEEN))))", "145");
    expect("or seen (not seen)", "123456");
    expect("NOT BODY needle", "1345");
    expect("NOT SUBJECT \"\"", "6");
    expect("(OR FROM alice TO alice) (NOT DELETED)", "1");
    expect("OR NOT SENTSINCE 1-Feb-2024 BODY needle", "2346");
    expect("2:* NOT 6 UNSEEN", "23");
    expect("(UID 10:40) (OR (BODY numbers) (TEXT jm@example))", "13");
    expect("RETURN (MIN MAX COUNT) SEEN", "145");
    expect("RETURN () CHARSET us-ascii SEEN", "145");
    expect("CHARSET \"utf-8\" ALL", "123456");
}

static void test_return(void)
{
    const char *err;
    CHECK(compile(&prog, "RETURN (MIN MAX) ALL", &err) == 0);
    CHECK(lwm_search_return(&prog) ==
          (LWM_SEARCH_RET_MIN | LWM_SEARCH_RET_MAX | LWM_SEARCH_RET_ESEARCH));
    CHECK(compile(&prog, "RETURN () ALL", &err) == 0);
    CHECK(lwm_search_return(&prog) ==
          (LWM_SEARCH_RET_ALL | LWM_SEARCH_RET_ESEARCH));
    CHECK(compile(&prog, "return (save count all) charset utf-8 $", &err) ==
          0);
    CHECK(lwm_search_return(&prog) ==
          (LWM_SEARCH_RET_SAVE | LWM_SEARCH_RET_COUNT | LWM_SEARCH_RET_ALL |
           LWM_SEARCH_RET_ESEARCH));
    CHECK(lwm_search_uses_saved(&prog));
    CHECK(compile(&prog, "ALL", &err) == 0);
    CHECK(lwm_search_return(&prog) == 0);
    CHECK(!lwm_search_uses_saved(&prog));
    /* "$" without a saved result is empty */
    CHECK(compile(&prog, "OR $ 6", &err) == 0);
    CHECK(run_all(&prog, &(uint32_t){ 3 }, "$ unset") == seqs("6"));
}

static void test_errors(void)
{
    char big[2048];
    size_t i, o;

    expect_err("", LWM_SEARCH_ERR_SYNTAX);
    expect_err("FOO", LWM_SEARCH_ERR_SYNTAX);
    expect_err("SEEN FOO", LWM_SEARCH_ERR_SYNTAX);
    expect_err("FROM", LWM_SEARCH_ERR_SYNTAX);
    expect_err("HEADER X-Foo", LWM_SEARCH_ERR_SYNTAX);
    expect_err("SUBJECT (x)", LWM_SEARCH_ERR_SYNTAX);
    expect_err("BEFORE", LWM_SEARCH_ERR_SYNTAX);
    expect_err("BEFORE 32-Jan-2024", LWM_SEARCH_ERR_SYNTAX);
    expect_err("BEFORE 29-Feb-2023", LWM_SEARCH_ERR_SYNTAX);
    expect_err("SINCE 1-Foo-2024", LWM_SEARCH_ERR_SYNTAX);
    expect_err("ON 2024-01-01", LWM_SEARCH_ERR_SYNTAX);
    expect_err("SENTON {10}\r\n1-Jan-2024", LWM_SEARCH_ERR_SYNTAX);
    expect_err("LARGER abc", LWM_SEARCH_ERR_SYNTAX);
    expect_err("LARGER -1", LWM_SEARCH_ERR_SYNTAX);
    expect_err("LARGER 9223372036854775808", LWM_SEARCH_ERR_SYNTAX);
    expect_err("SMALLER 99999999999999999999", LWM_SEARCH_ERR_SYNTAX);
    expect_err("SMALLER \"10\"", LWM_SEARCH_ERR_SYNTAX);
    expect_err("UID", LWM_SEARCH_ERR_SYNTAX);
    expect_err("UID 1:x", LWM_SEARCH_ERR_SYNTAX);
    expect_err("UID \"1:2\"", LWM_SEARCH_ERR_SYNTAX);
    expect_err("0", LWM_SEARCH_ERR_SYNTAX);
    expect_err("1,,2", LWM_SEARCH_ERR_SYNTAX);
    expect_err("1:", LWM_SEARCH_ERR_SYNTAX);
    expect_err("4294967296", LWM_SEARCH_ERR_SYNTAX);
    expect_err("$1", LWM_SEARCH_ERR_SYNTAX);
    expect_err("KEYWORD", LWM_SEARCH_ERR_SYNTAX);
    expect_err("KEYWORD \"x\"", LWM_SEARCH_ERR_SYNTAX);
    expect_err("OR SEEN", LWM_SEARCH_ERR_SYNTAX);
    expect_err("NOT", LWM_SEARCH_ERR_SYNTAX);
    expect_err("SEEN NOT", LWM_SEARCH_ERR_SYNTAX);
    expect_err("()", LWM_SEARCH_ERR_SYNTAX);
    expect_err("(NOT)", LWM_SEARCH_ERR_SYNTAX);
    expect_err("(OR SEEN)", LWM_SEARCH_ERR_SYNTAX);
    expect_err("\"SEEN\"", LWM_SEARCH_ERR_SYNTAX);
    expect_err("CHARSET", LWM_SEARCH_ERR_SYNTAX);
    expect_err("CHARSET UTF-8", LWM_SEARCH_ERR_SYNTAX);
    expect_err("CHARSET () SEEN", LWM_SEARCH_ERR_SYNTAX);
    expect_err("CHARSET KOI8-R SEEN", LWM_SEARCH_ERR_CHARSET);
    expect_err("CHARSET \"ISO-8859-1\" SEEN", LWM_SEARCH_ERR_CHARSET);
    expect_err("CHARSET UTF-88 SEEN", LWM_SEARCH_ERR_CHARSET);
    expect_err("SEEN CHARSET UTF-8", LWM_SEARCH_ERR_SYNTAX);
    expect_err("RETURN SEEN", LWM_SEARCH_ERR_SYNTAX);
    expect_err("RETURN (FOO) SEEN", LWM_SEARCH_ERR_SYNTAX);
    expect_err("RETURN (PARTIAL (1:10)) SEEN", LWM_SEARCH_ERR_SYNTAX);
    expect_err("RETURN (MIN)", LWM_SEARCH_ERR_SYNTAX);
    expect_err("RETURN", LWM_SEARCH_ERR_SYNTAX);

    /* limits: NO [LIMIT], distinct from BAD */
    for (o = 0, i = 0; i < LWM_SEARCH_MAX_NODES; i++)
        o += (size_t)sprintf(big + o, "SEEN ");
    expect_err(big, LWM_SEARCH_ERR_LIMIT);
    for (o = 0, i = 0; i < LWM_SEARCH_MAX_NODES - 2; i++)
        o += (size_t)sprintf(big + o, "NOT ");
    sprintf(big + o, "SEEN");
    expect(big, "145");
    for (o = 0, i = 0; i < LWM_SEARCH_MAX_NODES - 1; i++)
        o += (size_t)sprintf(big + o, "NOT ");
    sprintf(big + o, "SEEN");
    expect_err(big, LWM_SEARCH_ERR_LIMIT);
    for (o = 0, i = 0; i <= LWM_SEARCH_MAX_NEEDLES; i++)
        o += (size_t)sprintf(big + o, "BODY x%zu ", i);
    expect_err(big, LWM_SEARCH_ERR_LIMIT);
    o = (size_t)sprintf(big, "BODY \"");
    for (i = 0; i < 256; i++)
        big[o++] = 'a';
    sprintf(big + o, "\"");
    expect_err(big, LWM_SEARCH_ERR_LIMIT);
    big[o - 1] = '"';
    big[o] = 0;                                /* 255 bytes: fine */
    expect(big, "");
    /* three strings of 200 bytes need 1200 arena bytes */
    for (o = 0, i = 0; i < 3; i++) {
        size_t k;
        o += (size_t)sprintf(big + o, "TEXT \"");
        for (k = 0; k < 200; k++)
            big[o++] = 'b';
        o += (size_t)sprintf(big + o, "\" ");
    }
    expect_err(big, LWM_SEARCH_ERR_LIMIT);
}

/* wants() says stop as soon as the outcome is known */
static void test_early(void)
{
    const char *err;
    struct lwm_search_msg sm = { 1, 10, LWM_FLAG_SEEN, 0, 0 };
    size_t fed, hdr1 = strstr(m1, "\r\n\r\n") - m1 + 4;
    uint32_t seed = 99;

    sm.size = (uint32_t)corpus[0].len;
    sm.internal_date = corpus[0].idate;

    /* flags decide without the text */
    CHECK(compile(&prog, "UNSEEN BODY numbers", &err) == 0);
    lwm_search_begin(&prog, &sm, MAX_SEQ, MAX_UID);
    CHECK(lwm_search_wants(&prog) == LWM_SEARCH_WANT_NONE);
    CHECK(lwm_search_result(&prog) == 0);
    CHECK(compile(&prog, "OR SEEN BODY numbers", &err) == 0);
    lwm_search_begin(&prog, &sm, MAX_SEQ, MAX_UID);
    CHECK(lwm_search_wants(&prog) == LWM_SEARCH_WANT_NONE);
    CHECK(lwm_search_result(&prog) == 1);
    CHECK(compile(&prog, "SEEN SMALLER 10", &err) == 0);
    CHECK(run_msg(&prog, &corpus[0], FEED_BYTES, &seed, &fed) == 0 &&
          fed == 0);

    /* what is wanted */
    CHECK(compile(&prog, "SUBJECT report", &err) == 0);
    lwm_search_begin(&prog, &sm, MAX_SEQ, MAX_UID);
    CHECK(lwm_search_wants(&prog) == LWM_SEARCH_WANT_HEADER);
    CHECK(compile(&prog, "BODY x", &err) == 0);
    lwm_search_begin(&prog, &sm, MAX_SEQ, MAX_UID);
    CHECK(lwm_search_wants(&prog) == LWM_SEARCH_WANT_ALL);
    CHECK(compile(&prog, "SENTON 1-Jan-2024", &err) == 0);
    lwm_search_begin(&prog, &sm, MAX_SEQ, MAX_UID);
    CHECK(lwm_search_wants(&prog) == LWM_SEARCH_WANT_HEADER);
    /* the BODY key is moot when DELETED is false */
    CHECK(compile(&prog, "OR SUBJECT x (BODY y DELETED)", &err) == 0);
    lwm_search_begin(&prog, &sm, MAX_SEQ, MAX_UID);
    CHECK(lwm_search_wants(&prog) == LWM_SEARCH_WANT_HEADER);
    sm.flags |= LWM_FLAG_DELETED;
    lwm_search_begin(&prog, &sm, MAX_SEQ, MAX_UID);
    CHECK(lwm_search_wants(&prog) == LWM_SEARCH_WANT_ALL);
    sm.flags = LWM_FLAG_SEEN;

    /* found in the first field: stop right there */
    CHECK(compile(&prog, "FROM alice", &err) == 0);
    CHECK(run_msg(&prog, &corpus[0], FEED_BYTES, &seed, &fed) == 1);
    CHECK(fed == (size_t)(strstr(m1, "Alice") - m1) + 5);
    /* the date is known at the end of its field */
    CHECK(compile(&prog, "SENTON 12-Feb-2024", &err) == 0);
    CHECK(run_msg(&prog, &corpus[0], FEED_BYTES, &seed, &fed) == 1);
    CHECK(fed == (size_t)(strstr(m1, "\r\nFrom") - m1) + 3);
    /* header keys that fail are known at the blank line */
    CHECK(compile(&prog, "SUBJECT nothing", &err) == 0);
    CHECK(run_msg(&prog, &corpus[0], FEED_BYTES, &seed, &fed) == 0);
    CHECK(fed == hdr1);
    /* LF-only header ends at "\n\n" */
    CHECK(compile(&prog, "HEADER X-None \"\"", &err) == 0);
    CHECK(run_msg(&prog, &corpus[1], FEED_BYTES, &seed, &fed) == 0);
    CHECK(fed == (size_t)(strstr(m2, "\n\n") - m2) + 2);
    /* NOT BODY: decided (no) when the string is found */
    CHECK(compile(&prog, "NOT BODY numbers", &err) == 0);
    CHECK(run_msg(&prog, &corpus[0], FEED_BYTES, &seed, &fed) == 0);
    CHECK(fed == (size_t)(strstr(m1, "numbers") - m1) + 7);
    /* a body string that is not there needs all of the message */
    CHECK(compile(&prog, "BODY nothing", &err) == 0);
    CHECK(run_msg(&prog, &corpus[5], FEED_RANDOM, &seed, &fed) == 0);
    CHECK(fed == corpus[5].len);
    /* the big message stops at its first match, early in the body */
    CHECK(compile(&prog, "BODY \"amet 0000000003\"", &err) == 0);
    CHECK(run_msg(&prog, &corpus[5], FEED_BYTES, &seed, &fed) == 1);
    CHECK(fed < 400);
    /* after the header, only body keys are left */
    CHECK(compile(&prog, "OR SUBJECT nothing BODY nothing", &err) == 0);
    lwm_search_begin(&prog, &sm, MAX_SEQ, MAX_UID);
    lwm_search_feed(&prog, (const uint8_t *)m1, hdr1);
    CHECK(lwm_search_wants(&prog) == LWM_SEARCH_WANT_ALL);
    CHECK(lwm_search_result(&prog) == 0);
}

/* KMP and case folding against a naive search, on small alphabets where
 * partial matches overlap a lot */
static int naive_has(const char *hay, size_t n, const char *nd, size_t m)
{
    size_t i, k;
    for (i = 0; i + m <= n; i++) {
        for (k = 0; k < m; k++)
            if ((hay[i + k] | 0x20) != (nd[k] | 0x20))
                break;
        if (k == m)
            return 1;
    }
    return 0;
}

static void test_kmp_random(void)
{
    static char msg[600], args[64];
    uint32_t seed = 4242;
    int iter, bad = 0;
    const char *err;
    for (iter = 0; iter < 3000; iter++) {
        size_t hn = xorshift32(&seed) % 300, nn = 1 + xorshift32(&seed) % 8;
        size_t i, o = (size_t)sprintf(msg, "Subject: x\r\n\r\n");
        char nd[16];
        struct tmsg t;
        int want, mode;
        for (i = 0; i < hn; i++)
            msg[o + i] = "abAB"[xorshift32(&seed) % (iter % 2 ? 2 : 4)];
        msg[o + hn] = 0;
        for (i = 0; i < nn; i++)
            nd[i] = "abAB"[xorshift32(&seed) % 4];
        nd[nn] = 0;
        want = naive_has(msg + o, hn, nd, nn);
        sprintf(args, "BODY %s", nd);
        if (compile(&prog, args, &err) != 0) {
            bad++;
            continue;
        }
        t.text = msg;
        t.len = o + hn;
        t.seq = 1;
        t.uid = 1;
        t.flags = 0;
        t.idate = 0;
        for (mode = 0; mode < FEED_MODES; mode++)
            if (run_msg(&prog, &t, mode, &seed, NULL) != want)
                bad++;
    }
    CHECK(bad == 0);
}

/* Random commands: tokens from a dictionary, then raw garbage. Whatever
 * compiles must give the same answer for every feeding. */
static void test_random(void)
{
    static const char *const dict[] = {
        "ALL", "ANSWERED", "BCC", "BEFORE", "BODY", "CC", "DELETED",
        "DRAFT", "FLAGGED", "FROM", "HEADER", "KEYWORD", "LARGER", "NEW",
        "NOT", "OLD", "ON", "OR", "RECENT", "SEEN", "SENTBEFORE", "SENTON",
        "SENTSINCE", "SINCE", "SMALLER", "SUBJECT", "TEXT", "TO", "UID",
        "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNKEYWORD",
        "UNSEEN", "CHARSET", "UTF-8", "RETURN", "MIN", "(", ")", "(", ")",
        "1:*", "*", "2,4", "$", "0", "12-Feb-2024", "1-Mar-2024",
        "\"11-Feb-2024\"", "100", "5000", "alice", "\"needle\"", "x-custom",
        "\"\"", "{3}\r\nbob", "subject", "$important", "\\Seen", "lorem",
        "\"a  folded\"", "date", "\xc3\xb6", "=?", "\"\\\\\"",
    };
    static char line[1024];
    uint32_t seed = 777;
    int iter, compiled = 0;
    const char *err;
    for (iter = 0; iter < 20000; iter++) {
        size_t o = 0, n = 1 + xorshift32(&seed) % 12, i;
        int r;
        if (iter % 4 == 3) {
            /* garbage bytes, mostly printable */
            n = xorshift32(&seed) % 80;
            for (i = 0; i < n; i++) {
                uint32_t x = xorshift32(&seed);
                line[o++] = (char)(x % 8 ? 32 + x / 8 % 95 : x / 8 % 256);
            }
        } else {
            for (i = 0; i < n; i++)
                o += (size_t)sprintf(line + o, "%s%s", i ? " " : "",
                                     dict[xorshift32(&seed) %
                                          (sizeof dict / sizeof dict[0])]);
        }
        r = compile_len(&prog, line, o, &err);
        if (r == 99)
            continue;
        if (r != 0) {
            CHECK(r == LWM_SEARCH_ERR_SYNTAX || r == LWM_SEARCH_ERR_CHARSET ||
                  r == LWM_SEARCH_ERR_LIMIT);
            CHECK(err != NULL);
            continue;
        }
        compiled++;
        lwm_search_set_saved(&prog, saved_uids, NULL);
        if (iter % 8 == 0)
            (void)run_all(&prog, &seed, "random");
    }
    CHECK(compiled > 1000);
    printf("random: %d of 20000 commands compiled\n", compiled);
}

int main(void)
{
    corpus_init();
    REQUIRE(corpus[3].len < 100 && corpus[5].len > 1000);
    REQUIRE(corpus[0].len >= 100 && corpus[1].len >= 100 &&
            corpus[2].len >= 100 && corpus[4].len >= 100);
    printf("sizeof(struct lwm_search_prog) = %zu\n", sizeof prog);
    test_keys();
    test_combinations();
    test_return();
    test_errors();
    test_early();
    test_kmp_random();
    test_random();
    return check_summary("test_search");
}
