/*
 * Tests of the IMAP command tokenizer (src/imap/parse.c).
 *
 * Every case is parsed whole, then again at every prefix length: each
 * prefix lives in a heap block of exactly its size (ASan reports any read
 * past it), must give LWM_PARSE_PARTIAL until the command is complete and
 * then exactly the result and tokens of the whole-buffer parse; that is
 * what feeding the bytes one at a time or in any chunks amounts to for a
 * stateless parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/imap/parse.h"
#include "check.h"

#define MAXT 64
#define CAP 8192

struct expect {
    const char *in;         /* input (may hold several commands) */
    size_t in_len;          /* 0: strlen(in) */
    int result;             /* >0: size of the first command */
    const char *tag, *name;
    const char *toks;       /* tokens, "|"-separated: A:atom Q:quoted
                               L:literal ( ) */
    unsigned nsync;
};

/* Render the tokens of a parse as "A:x|Q:y|(|)" for comparison. */
static void render(const uint8_t *buf, const struct lwm_cmd *cmd,
                   const struct lwm_tok *toks, char *out, size_t cap)
{
    size_t o = 0;
    uint32_t k;
    out[0] = 0;
    for (k = 0; k < cmd->ntoks && o + 8 < cap; k++) {
        const struct lwm_tok *t = &toks[k];
        int n;
        if (k)
            out[o++] = '|';
        switch (t->type) {
        case LWM_TOK_LIST: n = snprintf(out + o, cap - o, "("); break;
        case LWM_TOK_LIST_END: n = snprintf(out + o, cap - o, ")"); break;
        default:
            n = snprintf(out + o, cap - o, "%c:%.*s",
                         t->type == LWM_TOK_ATOM ? 'A'
                         : t->type == LWM_TOK_QUOTED ? 'Q' : 'L',
                         (int)t->len, (const char *)buf + t->off);
        }
        if (n < 0 || (size_t)n >= cap - o)
            break;
        o += (size_t)n;
    }
    out[o] = 0;
}

static int parse_copy(const char *in, size_t len, struct lwm_cmd *c,
                      struct lwm_tok *t, char *rendered, size_t rcap)
{
    uint8_t *b = malloc(len ? len : 1);
    int r;
    memcpy(b, in, len);
    r = lwm_imap_parse(b, len, CAP, c, t, MAXT);
    if (rendered)
        render(b, c, t, rendered, rcap);
    free(b);
    return r;
}

static void run(const struct expect *e)
{
    size_t len = e->in_len ? e->in_len : strlen(e->in), k, complete = 0;
    char want[1024], got[1024];
    struct lwm_cmd full;
    struct lwm_tok ftoks[MAXT];
    int r = parse_copy(e->in, len, &full, ftoks, want, sizeof want);

    if (!CHECK(r == e->result)) {
        printf("  %.40s: result %d, expected %d (%s)\n", e->in, r,
               e->result, full.err ? full.err : "");
        return;
    }
    if (e->tag)
        CHECK(full.tag_len == strlen(e->tag) &&
              memcmp(e->in + full.tag_off, e->tag, full.tag_len) == 0);
    if (e->name)
        CHECK(full.name_len == strlen(e->name) &&
              memcmp(e->in + full.name_off, e->name, full.name_len) == 0);
    if (e->toks && !CHECK(strcmp(want, e->toks) == 0))
        printf("  %.40s: tokens\n    got  %s\n    want %s\n", e->in, want,
               e->toks);
    if (r > 0 || r == LWM_PARSE_PARTIAL)
        CHECK(full.nsync == e->nsync);
    /* every prefix: PARTIAL, then the same answer */
    for (k = 0; k < len; k++) {
        struct lwm_cmd c;
        struct lwm_tok t[MAXT];
        int rk = parse_copy(e->in, k, &c, t, got, sizeof got);
        if (rk == LWM_PARSE_PARTIAL)
            continue;
        if (!complete)
            complete = k;
        if (!CHECK(rk == r && strcmp(got, want) == 0)) {
            printf("  %.40s: prefix %zu gives %d [%s], whole %d [%s]\n",
                   e->in, k, rk, got, r, want);
            return;
        }
    }
    if (r > 0)
        CHECK(complete == 0 || complete >= (size_t)r);
}

static const struct expect cases[] = {
    { "a1 NOOP\r\n", 0, 9, "a1", "NOOP", "", 0 },
    { "a1 noop\n", 0, 8, "a1", "noop", "", 0 },            /* bare LF */
    { "a2 LOGIN \"user\" {6}\r\npass\"w\r\n", 0, 29, "a2", "LOGIN",
      "Q:user|L:pass\"w", 1 },
    { "a3 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.512>)\r\n",
      0, 64, "a3", "FETCH",
      "A:1:*|(|A:FLAGS|A:BODY.PEEK[HEADER.FIELDS (From To)]<0.512>|)", 0 },
    { "a4 UID STORE 1,3:5 +FLAGS.SILENT (\\Seen $Junk)\r\n", 0, 48, "a4",
      "UID", "A:STORE|A:1,3:5|A:+FLAGS.SILENT|(|A:\\Seen|A:$Junk|)", 0 },
    { "a5 APPEND INBOX (\\Seen) \"22-Nov-2026 01:00:00 +0000\" {11+}\r\n"
      "hello world\r\n", 0, 73, "a5", "APPEND",
      "A:INBOX|(|A:\\Seen|)|Q:22-Nov-2026 01:00:00 +0000|L:hello world", 0 },
    { "a6 SEARCH CHARSET UTF-8 SUBJECT \"caf\xc3\xa9\" OR FROM x TO y\r\n",
      0, 56, "a6", "SEARCH",
      "A:CHARSET|A:UTF-8|A:SUBJECT|Q:caf\xc3\xa9|A:OR|A:FROM|A:x|A:TO|A:y",
      0 },
    { "a7 LOGIN \"a\\\\b\" \"c\\\"d\"\r\n", 0, 24, "a7", "LOGIN",
      "Q:a\\\\b|Q:c\\\"d", 0 },
    { "a8 LIST \"\" %\r\n", 0, 14, "a8", "LIST", "Q:|A:%", 0 },
    { "a9 SELECT INBOX (CONDSTORE)\r\nb1 NOOP\r\n", 0, 29, "a9", "SELECT",
      "A:INBOX|(|A:CONDSTORE|)", 0 },
    { "b2 APPEND x ~{3}\r\na\0b\r\n", 23, 23, "b2", "APPEND",
      NULL, 1 },
    { "b3 X ((((a))) b)\r\n", 0, 18, "b3", "X",
      "(|(|(|(|A:a|)|)|)|A:b|)", 0 },
    { "b4 LOGIN {5}\r\n", 0, LWM_PARSE_PARTIAL, NULL, NULL, NULL, 1 },
    { "b5 LOGIN {5+}\r\nab", 0, LWM_PARSE_PARTIAL, NULL, NULL, NULL, 0 },
    /* errors: BAD, with the whole line to skip */
    { "* NOOP\r\n", 0, LWM_PARSE_BAD, NULL, NULL, NULL, 0 },
    { "c1 FOO )\r\nc2 NOOP\r\n", 0, LWM_PARSE_BAD, "c1", "FOO", NULL, 0 },
    { "c3 X \"unterminated\r\n", 0, LWM_PARSE_BAD, "c3", NULL, NULL, 0 },
    { "c4 X (a\r\n", 0, LWM_PARSE_BAD, "c4", NULL, NULL, 0 },
    { "c5 X ((((((((((((((((((a))))))))))))))))))\r\n", 0, LWM_PARSE_BAD,
      "c5", NULL, NULL, 0 },
    { "c6 X {3}\r\na\0b\r\n", 15, LWM_PARSE_BAD, "c6", NULL, NULL, 0 },
    { "c7 X \"a\\b\"\r\n", 0, LWM_PARSE_BAD, "c7", NULL, NULL, 0 },
    { "c8 X {99999999999}\r\n", 0, LWM_PARSE_BAD, "c8", NULL, NULL, 0 },
    { "c9 X ) {3+}\r\nabc\r\nd1 NOOP\r\n", 0, LWM_PARSE_BAD, "c9", NULL,
      NULL, 0 },
    { "d2\r\n", 0, LWM_PARSE_BAD, "d2", NULL, NULL, 0 },
    { "d3 X a\"b\r\n", 0, LWM_PARSE_BAD, "d3", NULL, NULL, 0 },
    { "d4 X \r\r\n", 0, LWM_PARSE_BAD, "d4", NULL, NULL, 0 },
};

int main(void)
{
    size_t i;
    struct lwm_cmd c;
    struct lwm_tok t[MAXT];
    static uint8_t big[CAP];
    int r;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run(&cases[i]);

    /* BAD tells how much to drop: the line, with non-sync literal data */
    r = lwm_imap_parse((const uint8_t *)"c1 FOO )\r\nc2 NOOP\r\n", 19, CAP,
                       &c, t, MAXT);
    CHECK(r == LWM_PARSE_BAD && c.skip == 10 && c.err != NULL);
    r = lwm_imap_parse((const uint8_t *)"c9 X ) {3+}\r\nabc\r\nd1 NOOP\r\n",
                       27, CAP, &c, t, MAXT);
    CHECK(r == LWM_PARSE_BAD && c.skip == 18);
    /* a synchronizing literal after the error ends the line there */
    r = lwm_imap_parse((const uint8_t *)"e1 X ) {3}\r\n", 12, CAP, &c, t,
                       MAXT);
    CHECK(r == LWM_PARSE_BAD && c.skip == 12);
    /* pipelining: the second command parses from where the first ended */
    r = lwm_imap_parse((const uint8_t *)"a9 SELECT INBOX\r\nb1 NOOP\r\n", 26,
                       CAP, &c, t, MAXT);
    CHECK(r == 17);
    r = lwm_imap_parse((const uint8_t *)"a9 SELECT INBOX\r\nb1 NOOP\r\n" + 17,
                       9, CAP, &c, t, MAXT);
    CHECK(r == 9 && c.tag_len == 2 && c.name_len == 4);

    /* a literal that cannot fit the buffer: the session streams it */
    r = lwm_imap_parse((const uint8_t *)"f1 APPEND INBOX {100000}\r\n", 26,
                       CAP, &c, t, MAXT);
    CHECK(r == LWM_PARSE_LITERAL && c.lit_off == 26 &&
          c.lit_size == 100000 && c.ntoks == 1 && c.nsync == 1);
    r = lwm_imap_parse((const uint8_t *)"f2 APPEND INBOX {100000+}\r\nab",
                       29, CAP, &c, t, MAXT);
    CHECK(r == LWM_PARSE_LITERAL && c.lit_off == 27 &&
          (c.lit_flags & LWM_TOKF_NONSYNC) && c.nsync == 0);

    /* too many arguments for the token array */
    memset(big, 0, sizeof big);
    memcpy(big, "g1 X", 4);
    for (i = 0; i < MAXT + 1; i++)
        memcpy(big + 4 + 2 * i, " a", 2);
    memcpy(big + 4 + 2 * (MAXT + 1), "\r\n", 2);
    r = lwm_imap_parse(big, 4 + 2 * (MAXT + 1) + 2, CAP, &c, t, MAXT);
    CHECK(r == LWM_PARSE_BAD && c.skip == 4 + 2 * (MAXT + 1) + 2);

    /* list token lengths point at their ends */
    r = lwm_imap_parse((const uint8_t *)"h1 X (a (b) c)\r\n", 16, CAP, &c,
                       t, MAXT);
    CHECK(r == 16 && c.ntoks == 7 && t[0].type == LWM_TOK_LIST &&
          t[0].len == 6 && t[2].type == LWM_TOK_LIST && t[2].len == 4 &&
          t[3].depth == 2 && t[6].type == LWM_TOK_LIST_END);

    /* random garbage never crashes and always makes progress or waits */
    srand(5);
    for (i = 0; i < 20000; i++) {
        size_t n = 1 + (size_t)rand() % 64, k;
        uint8_t *b = malloc(n);
        static const char alphabet[] = "a (){}[]\"\\+~*%\r\n0123456789X";
        for (k = 0; k < n; k++)
            b[k] = rand() % 8 ? (uint8_t)alphabet[rand() % 27]
                              : (uint8_t)rand();
        r = lwm_imap_parse(b, n, CAP, &c, t, MAXT);
        CHECK(r == LWM_PARSE_PARTIAL || r == LWM_PARSE_LITERAL ||
              (r == LWM_PARSE_BAD && c.skip > 0 && c.skip <= n) ||
              (r > 0 && (size_t)r <= n));
        free(b);
    }
    return check_summary("test_imap_parse");
}
