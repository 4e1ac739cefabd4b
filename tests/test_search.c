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

/* Single keys and what they match in the corpus (also the leaves of the
 * random trees in test_trees()). */
static const struct leaf {
    const char *q, *want;
} leaves[] = {
    /* flags, constants */
    { "ALL", "123456" },
    { "SEEN", "145" },
    { "UNSEEN", "236" },
    { "ANSWERED", "1" },
    { "UNANSWERED", "23456" },
    { "FLAGGED", "25" },
    { "UNFLAGGED", "1346" },
    { "DELETED", "2" },
    { "UNDELETED", "13456" },
    { "DRAFT", "3" },
    { "UNDRAFT", "12456" },
    { "RECENT", "" },
    { "NEW", "" },
    { "OLD", "123456" },
    { "seen", "145" },
    { "sEeN", "145" },

    /* keywords */
    { "KEYWORD $Important", "2" },
    { "KEYWORD WORK", "3" },
    { "KEYWORD nosuch", "" },
    { "UNKEYWORD nosuch", "123456" },
    { "UNKEYWORD $important", "13456" },
    { "KEYWORD \\Seen", "145" },
    { "UNKEYWORD \\seen", "236" },
    { "KEYWORD \\Recent", "" },
    { "UNKEYWORD \\Recent", "123456" },

    /* sets */
    { "2:4", "234" },
    { "4:2", "234" },
    { "*", "6" },
    { "5:*", "56" },
    { "1,3,6", "136" },
    { "1:2,5", "125" },
    { "UID 20:30", "23" },
    { "UID 55:*", "6" },
    { "UID *:55", "6" },
    { "UID 1:15", "1" },
    { "UID 100:*", "6" },
    { "UID 11:19", "" },
    { "$", "14" },
    { "UID $", "14" },
    { "NOT $", "2356" },

    /* sizes */
    { "LARGER 1000", "6" },
    { "SMALLER 100", "4" },
    { "LARGER 0", "123456" },
    { "SMALLER 0", "" },
    { "LARGER 4294967295", "" },
    { "LARGER 4294967294", "" },
    { "SMALLER 4294967295", "123456" },
    { "SMALLER 99999999999", "123456" },
    { "LARGER 9223372036854775807", "" },

    /* internal date (UTC date) */
    { "BEFORE 12-Feb-2024", "346" },
    { "SINCE 12-Feb-2024", "125" },
    { "ON 12-Feb-2024", "15" },
    { "ON 11-Feb-2024", "6" },
    { "ON 1-Mar-2024", "" },
    { "ON 2-Mar-2024", "2" },
    { "ON \"2-Mar-2024\"", "2" },
    { "BEFORE 1-Jan-2024", "3" },
    { "SINCE 2-mar-2024", "2" },
    { "SINCE 1-Jan-1970", "123456" },
    { "BEFORE 1-Jan-1970", "" },

    /* Date: field (first one; fallback: the internal date) */
    { "SENTON 12-Feb-2024", "15" },
    { "SENTON 11-Feb-2024", "6" },
    { "SENTON 1-Mar-2024", "2" },
    { "SENTON 2-Mar-2024", "" },
    { "SENTON 31-Dec-2023", "3" },
    { "SENTON 2-Jan-2024", "4" },
    { "SENTON 10-Feb-2024", "" },
    { "SENTBEFORE 12-Feb-2024", "346" },
    { "SENTSINCE 12-Feb-2024", "125" },
    { "SENTSINCE 1-Mar-2024", "2" },

    /* header fields */
    { "FROM alice", "1" },
    { "FROM \"EXAMPLE.ORG\"", "2" },
    { "FROM \"j\xc3\xb6rg\"", "3" },
    { "FROM \"J\xc3\x96RG M\xc3\x9cLLER\"", "3" },
    { "FROM \"=?UTF-8?Q?J=C3\"", "3" },      /* the raw form too */
    { "FROM \"jm@example.de\"", "3" },
    { "TO dave", "2" },
    { "TO alice", "2" },
    { "TO example", "125" },
    { "TO nope", "" },
    { "CC carol", "1" },
    { "CC bob", "" },
    { "BCC secret", "3" },
    { "BCC example", "3" },
    { "SUBJECT \"a  folded\"", "2" },
    { "SUBJECT \"a folded\"", "" },
    { "SUBJECT \"subject line\"", "2" },
    { "SUBJECT \"spaced colon\"", "5" },
    { "SUBJECT \"not the subject\"", "" },
    { "SUBJECT fake", "" },
    { "SUBJECT \"\"", "12345" },
    { "SUBJECT {9}\r\nQuarterly", "1" },
    { "SUBJECT \"gr\xc3\xbc\xc3\x9f" "e aus k\xc3\xb6ln und mehr\"", "3" },
    { "SUBJECT \"GR\xc3\x9c\xc3\x9f" "E AUS\"", "3" },
    { "SUBJECT \"R3L832U\"", "3" },
    { "SUBJECT \"und mehr\"", "3" },
    { "SUBJECT \"?= und\"", "3" },            /* raw */
    { "SUBJECT \"ln und\"", "3" },            /* decoded */
    { "HEADER X-Custom \"value on\"", "3" },
    { "HEADER x-custom \"\"", "3" },
    { "HEADER x-custom \"\tvalue\"", "" },    /* leading WSP skipped */
    { "HEADER X-Priority 1", "1" },
    { "HEADER Received \"\"", "5" },
    { "HEADER Subject \"\"", "12345" },
    { "HEADER Subjects \"\"", "5" },
    { "HEADER Subj \"\"", "" },
    { "HEADER date \"Feb 2024\"", "156" },
    { "HEADER X-Quote \"said \\\"hi\\\" \\\\o\"", "1" },
    { "HEADER X-Broken \"bad word\"", "3" },
    { "HEADER X-Broken \"=?x?\"", "3" },
    { "HEADER \"\" \"\"", "" },
    { "HEADER \"Content-Type\" \"TEXT/PLAIN\"", "6" },

    /* body and text */
    { "BODY \"numbers are\"", "1" },
    { "BODY needle", "26" },
    { "BODY needle-at-end", "6" },
    { "BODY aab", "6" },
    { "BODY \"LOREM IPSUM\"", "6" },
    { "BODY {32}\r\nsit amet 0000000007\r\nlorem ipsum", "6" },
    { "BODY \"Subject: fake\"", "5" },
    { "BODY Quarterly", "" },
    { "BODY \"\"", "123456" },
    { "BODY \"Content-Type\"", "" },
    { "TEXT quarterly", "1" },
    { "TEXT \"subject: FAKE\"", "5" },
    { "TEXT {18}\r\nreport\r\nX-Priority", "1" },
    { "TEXT \"a  folded subject\"", "2" },
    { "TEXT \"Content-Type\"", "6" },
    { "TEXT {24}\r\ndave@example.com\nSubject", "2" },
    { "TEXT \"\"", "123456" },
    { "TEXT \"+0000\"", "45" },
    { "TEXT alice", "12" },
};
#define NLEAVES (sizeof leaves / sizeof leaves[0])

static void test_keys(void)
{
    size_t i;
    for (i = 0; i < NLEAVES; i++)
        expect(leaves[i].q, leaves[i].want);
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
    /* the string fits, its header field name does not */
    o = (size_t)sprintf(big, "BODY \"");
    for (i = 0; i < 254; i++)
        big[o++] = 'c';
    sprintf(big + o, "\" HEADER abcdefgh \"\"");
    expect_err(big, LWM_SEARCH_ERR_LIMIT);
}

/* internal dates before 1970 and out of range */
static void test_old_dates(void)
{
    const char *err;
    struct tmsg t = { "", 0, 1, 1, 0, -1 };
    uint32_t seed = 5;
    CHECK(compile(&prog, "BEFORE 1-Jan-1970", &err) == 0);
    CHECK(run_msg(&prog, &t, FEED_WHOLE, &seed, NULL) == 1);
    t.idate = INT64_MIN;
    CHECK(run_msg(&prog, &t, FEED_WHOLE, &seed, NULL) == 1);
    t.idate = INT64_MAX;
    CHECK(run_msg(&prog, &t, FEED_WHOLE, &seed, NULL) == 0);
    CHECK(compile(&prog, "SENTSINCE 1-Jan-2100", &err) == 0);
    CHECK(run_msg(&prog, &t, FEED_WHOLE, &seed, NULL) == 1);
    t.idate = -86400;
    CHECK(compile(&prog, "ON 1-Jan-1970", &err) == 0);
    CHECK(run_msg(&prog, &t, FEED_WHOLE, &seed, NULL) == 0);
    CHECK(compile(&prog, "SENTBEFORE 1-Jan-1970", &err) == 0);
    CHECK(run_msg(&prog, &t, FEED_WHOLE, &seed, NULL) == 1);
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

/* One message (flags 0, internal date 5-May-2024 12:00 UTC) against a
 * query: every feeding must give want. */
static void expect_one(const char *text, const char *args, int want)
{
    static uint32_t seed = 555;
    struct tmsg t;
    const char *err = NULL;
    int mode, r;
    t.text = text;
    t.len = strlen(text);
    t.seq = 1;
    t.uid = 1;
    t.flags = 0;
    t.idate = DAY(2024, 5, 5) + 12 * 3600;
    r = compile(&prog, args, &err);
    if (!CHECK(r == 0)) {
        printf("  %s: compile %d (%s)\n", args, r, err ? err : "");
        return;
    }
    for (mode = 0; mode < FEED_MODES; mode++) {
        r = run_msg(&prog, &t, mode, &seed, NULL);
        if (!CHECK(r == want)) {
            printf("  %s on \"%.30s...\": mode %d gives %d\n", args, text,
                   mode, r);
            return;
        }
    }
}

/* Odd and malformed messages */
static void test_odd(void)
{
    static char longname[512], q[600];
    size_t i;

    /* empty message: no header, empty body */
    expect_one("", "SUBJECT \"\"", 0);
    expect_one("", "BODY \"\"", 1);
    expect_one("", "TEXT x", 0);
    expect_one("", "SENTON 5-May-2024", 1);
    expect_one("", "NOT HEADER x \"\"", 1);
    /* empty header */
    expect_one("\r\nSubject: x\r\n", "SUBJECT x", 0);
    expect_one("\r\nSubject: x\r\n", "BODY \"subject: x\"", 1);
    expect_one("\nSubject: x\n", "BODY \"subject: x\"", 1);
    expect_one("\r\nSubject: x\r\n", "TEXT {9}\r\n\r\nSubject", 1);
    /* lines that are no fields */
    expect_one(" leading: x\r\nSubject: y\r\n\r\nb", "SUBJECT y", 1);
    expect_one(" leading: x\r\nSubject: y\r\n\r\nb", "HEADER leading x", 0);
    expect_one(" leading: x\r\nSubject: y\r\n\r\nb", "TEXT \"leading: x\"",
               1);
    expect_one("\tfoo\r\nSubject: s\r\n\r\n", "SUBJECT s", 1);
    expect_one("no colon here\r\nSubject: s\r\n\r\n", "SUBJECT s", 1);
    expect_one("no colon\r\n continued\r\nSubject: s\r\n\r\n", "SUBJECT s",
               1);
    expect_one("no colon\r\n continued\r\nSubject: s\r\n\r\n",
               "TEXT \"colon continued\"", 1);
    expect_one(": x\r\nSubject: s\r\n\r\n", "HEADER \"\" x", 0);
    expect_one("Sub ject: x\r\n\r\n", "HEADER \"sub ject\" x", 0);
    expect_one("Sub\x01ject: x\r\n\r\n", "SUBJECT x", 0);
    /* a CR alone is a byte of the line */
    expect_one("Subject: a\rb\r\n\r\n", "SUBJECT {3}\r\na\rb", 1);
    expect_one("Subject: a\rb\r\n\r\n", "SUBJECT ab", 0);
    expect_one("Subject: s\r\n\rX\r\n\r\nbody", "SUBJECT s", 1);
    expect_one("Subject: s\r\n\rX\r\n\r\nbody", "BODY body", 1);
    expect_one("Subject: s\r\n\rX\r\n\r\nbody", "BODY X", 0);
    /* field name longer than any key's */
    for (i = 0; i < 300; i++)
        longname[i] = 'x';
    sprintf(longname + 300, ": v\r\n\r\n");
    sprintf(q, "HEADER %.255s v", longname);
    expect_one(longname, q, 0);
    sprintf(q, "HEADER %.254s v", longname);
    expect_one(longname, q, 0);
    sprintf(q, "HEADER %.256s v", longname);
    expect_err(q, LWM_SEARCH_ERR_LIMIT);
    /* no space after the colon; all of several fields; never across */
    expect_one("Subject:x\r\n\r\n", "SUBJECT x", 1);
    expect_one("Subject: one\r\nSubject: two\r\n\r\n", "SUBJECT two", 1);
    expect_one("Subject: one\r\nSubject: two\r\n\r\n", "SUBJECT \"one two\"",
               0);
    expect_one("Subject: one\r\nSubject: two\r\n\r\n", "SUBJECT \"one\"", 1);
    expect_one("Subject: one\r\nSubject: two\r\n\r\n",
               "TEXT {17}\r\none\r\nSubject: two", 1);
    /* a fold of white space only; the white space stays */
    expect_one("From: a\r\n \r\n\r\nbody", "FROM \"a \"", 1);
    expect_one("From: a\r\n \r\n\r\nbody", "BODY body", 1);
    expect_one("From: a\r\n \r\n\r\nbody", "BODY {2}\r\n\r\n", 0);
    expect_one("From: a\r\n\tb\r\n\r\n", "FROM \"a\tb\"", 1);
    /* mixed line ends */
    expect_one("Subject: a\nTo: b\r\n\nbody", "TO b", 1);
    expect_one("Subject: a\nTo: b\r\n\nbody", "BODY body", 1);
    expect_one("Subject: a\nTo: b\r\n\nbody", "SUBJECT \"a\"", 1);
    /* the body keeps its white space, TEXT its blank line */
    expect_one("Subject: s\r\n\r\n  indented", "BODY \"  indented\"", 1);
    expect_one("Subject: s\r\n\r\n  indented",
               "TEXT {15}\r\ns\r\n\r\n  indented", 1);
    expect_one("Subject: s\r\n\r\n  indented", "TEXT \"s  indented\"", 0);
    /* Date: forms */
    expect_one("Date: Wed, 31 Dec 1969 23:00:00 +0000\r\n\r\n",
               "SENTBEFORE 1-Jan-1970", 1);
    expect_one("Date: Sun, 05 May 2024 (comment) 10:00 +0000\r\n\r\n",
               "SENTON 5-May-2024", 1);
    expect_one("Date: (a (nested) comment) Sun, 5 May 99 10:00 +0000\r\n",
               "SENTON 5-May-1999", 1);
    expect_one("Date: 31 Feb 2024 10:00 +0000\r\n\r\n", "SENTON 5-May-2024",
               1);
    expect_one("Date: Thu, 1 February 2024 10:00 +0000\r\n\r\n",
               "SENTON 1-Feb-2024", 1);
    expect_one("Date: Thu,1 Feb 124 10:00 +0000\r\n\r\n",
               "SENTON 1-Feb-2024", 1);
    expect_one("Date: 1-feb-2024\r\n\r\n", "SENTON 1-Feb-2024", 1);
    expect_one("DATE :\r\n Thu,\r\n 1 Feb 2024 10:00 +0000\r\n\r\n",
               "SENTON 1-Feb-2024", 1);
    expect_one("Date: Thursday,                                      "
               "1 Feb 2024\r\n\r\n", "SENTON 5-May-2024", 1);
    expect_one("Date: 1 Feb 20245\r\n\r\n", "SENTON 5-May-2024", 1);
    expect_one("Date: 1 Feb 2024\r\n\r\n", "SENTON 5-May-2024", 0);
    expect_one("X-Date: 1 Feb 2024\r\nDates: 2 Feb 2024\r\n\r\n",
               "SENTON 5-May-2024", 1);
    expect_one("Subject: x\r\n\r\nDate: 1 Feb 2024\r\n",
               "SENTON 5-May-2024", 1);
}

/* RFC 2047 encoded words in header fields */
static void test_encoded(void)
{
    expect_one("Subject: =?utf-8?q?a?==?utf-8?q?b?=\r\n\r\n", "SUBJECT ab", 1);
    expect_one("Subject: =?utf-8?q?a?= \t =?utf-8?q?b?=\r\n\r\n",
               "SUBJECT ab", 1);
    expect_one("Subject: =?utf-8?q?a?= b\r\n\r\n", "SUBJECT \"a b\"", 1);
    expect_one("Subject: =?utf-8?b?SGVsbG8gV29ybGQ=?=\r\n\r\n",
               "SUBJECT \"hello world\"", 1);
    expect_one("Subject: =?UTF-8?B?SGVsbG8gV29ybGQ?=\r\n\r\n",
               "SUBJECT \"hello world\"", 1);
    expect_one("Subject: =?utf-8?q?Gr=C3=BC?=\r\n =?utf-8?q?=c3=9fe?=\r\n\r\n",
               "SUBJECT \"GR\xc3\x9c\xc3\x9f" "e\"", 1);
    expect_one("Subject: =?utf-8*de?q?Hallo?=\r\n\r\n", "SUBJECT hallo", 1);
    expect_one("Subject: =?windows-1252?q?caf=E9?=\r\n\r\n",
               "SUBJECT \"caf\xc3\xa9\"", 1);
    expect_one("Subject: =?ISO-8859-15?Q?=C9t=E9?=\r\n\r\n",
               "SUBJECT \"\xc3\xa9t\xc3\xa9\"", 1);
    expect_one("Subject: =?koi8-r?q?abc?=\r\n\r\n", "SUBJECT abc", 1);
    expect_one("Subject: =?utf-8?b?SGV*sbG8=?= tail\r\n\r\n", "SUBJECT tail",
               1);
    expect_one("Subject: 1+1=2 =? x\r\n\r\n", "SUBJECT \"1+1=2 =? x\"", 1);
    expect_one("Subject: 1+1=2 =? x\r\n\r\n", "SUBJECT \"2 =? x\"", 1);
    expect_one("Subject: =?utf-8?x?abc?=\r\n\r\n", "SUBJECT abc", 1);
    expect_one("Subject: =?utf-8?q?a_b?=\r\n\r\n", "SUBJECT \"a b\"", 1);
    expect_one("Subject: =?utf-8?q?a=2?=\r\n\r\n", "SUBJECT \"a\"", 1);
    expect_one("Subject: =?utf-8?q?x?= =\r\n\r\n", "SUBJECT \"x =\"", 1);
    expect_one("Subject: =?utf-8?q?x?= \r\n\r\n", "SUBJECT \"x \"", 1);
    expect_one("Subject: =?utf-8?b?Pz8/Pj4+?=\r\n\r\n", "SUBJECT \"\?\?\?>>>\"",
               1);
    expect_one("Subject: =??q?abc?= x\r\n\r\n", "SUBJECT \"abc?= x\"", 1);
    expect_one("Subject: =?utf-8?q?a?= =x\r\n\r\n", "SUBJECT \"a =x\"", 1);
    /* more than 8 bytes of white space between two words are kept */
    expect_one("Subject: =?utf-8?q?a?=          =?utf-8?q?b?=\r\n\r\n",
               "SUBJECT \"a          b\"", 1);
    expect_one("Subject: =?utf-8?q?a?=          =?utf-8?q?b?=\r\n\r\n",
               "SUBJECT ab", 0);
    /* encoded words are not decoded in TEXT or BODY */
    expect_one("Subject: =?utf-8?q?a=62c?=\r\n\r\n=?utf-8?q?d=65f?=",
               "SUBJECT abc", 1);
    expect_one("Subject: =?utf-8?q?a=62c?=\r\n\r\n=?utf-8?q?d=65f?=",
               "TEXT abc", 0);
    expect_one("Subject: =?utf-8?q?a=62c?=\r\n\r\n=?utf-8?q?d=65f?=",
               "BODY def", 0);
}

/* Random trees of the single keys: the answer must be the boolean
 * combination of the leaves' answers (tests the tree, the three-valued
 * logic and the early decisions together). */
static unsigned gen_key(char *out, size_t *o, uint32_t *seed, int depth)
{
    unsigned all = (1u << NMSG) - 1, a, b;
    uint32_t kind = xorshift32(seed) % (depth > 4 ? 2 : 6);
    const struct leaf *l;
    int i, n;
    switch (kind) {
    case 2:
        *o += (size_t)sprintf(out + *o, "NOT ");
        return all & ~gen_key(out, o, seed, depth + 1);
    case 3:
        *o += (size_t)sprintf(out + *o, "OR ");
        a = gen_key(out, o, seed, depth + 1);
        *o += (size_t)sprintf(out + *o, " ");
        b = gen_key(out, o, seed, depth + 1);
        return a | b;
    case 4:
        n = 1 + (int)(xorshift32(seed) % 3);
        a = all;
        *o += (size_t)sprintf(out + *o, "(");
        for (i = 0; i < n; i++) {
            if (i)
                *o += (size_t)sprintf(out + *o, " ");
            a &= gen_key(out, o, seed, depth + 1);
        }
        *o += (size_t)sprintf(out + *o, ")");
        return a;
    default:
        l = &leaves[xorshift32(seed) % NLEAVES];
        *o += (size_t)sprintf(out + *o, "%s", l->q);
        return seqs(l->want);
    }
}

static void test_trees(int count)
{
    static char line[8192];
    uint32_t seed = 2024;
    int iter, ran = 0;
    const char *err;
    for (iter = 0; iter < count; iter++) {
        size_t o = 0;
        unsigned want = (1u << NMSG) - 1, got;
        int i, n = 1 + (int)(xorshift32(&seed) % 3), r;
        for (i = 0; i < n; i++) {
            if (i)
                line[o++] = ' ';
            want &= gen_key(line, &o, &seed, 0);
        }
        r = compile_len(&prog, line, o, &err);
        if (r == LWM_SEARCH_ERR_LIMIT)
            continue;
        if (!CHECK(r == 0)) {
            printf("  tree %.200s: compile %d (%s)\n", line, r, err);
            continue;
        }
        lwm_search_set_saved(&prog, saved_uids, NULL);
        got = run_all(&prog, &seed, "tree");
        ran++;
        if (!CHECK(got == want)) {
            char a[64], b[64];
            show(got, a);
            show(want, b);
            printf("  tree %.300s: {%s}, expected {%s}\n", line, a, b);
        }
    }
    CHECK(ran > count / 2);
    printf("trees: %d of %d within the limits\n", ran, count);
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
    test_old_dates();
    test_odd();
    test_encoded();
    test_trees(5000);
    test_kmp_random();
    test_random();
    return check_summary("test_search");
}
