/*
 * lwmail tests - the streaming MIME parser (src/mime) and its summary blob.
 *
 * A corpus of messages written for this test (plain, alternative, mixed
 * with base64 attachments, nested message/rfc822, digest, encoded words,
 * 8-bit headers, groups and odd addresses, broken boundaries, LF-only,
 * empty, header-only, ...) plus generated ones (deep nesting, too many
 * parts, huge headers). For each:
 *   - the blob is the same whether the message is fed at once, byte by
 *     byte or in random chunks, and whether it is rendered at once or in
 *     random pieces;
 *   - ENVELOPE, BODYSTRUCTURE and BODY parse with a strict checker of the
 *     RFC 9051 grammar (balanced, literal lengths right, text parts have
 *     lines, message parts have envelope + body + lines, groups closed),
 *     and equal the expected strings where given (checked against what
 *     Dovecot 2.3 sends for the same messages; differences are noted);
 *   - sections resolve to the expected bytes, binary sizes equal what the
 *     decoders produce.
 * Then the decoders on their own, every degradation level, and a bounded,
 * seeded mutation loop (run it under ASan/UBSan).
 *
 *   test_mime [--seed n] [--iters n] [--dump dir] [-v]
 * --dump writes each corpus message as dir/NAME.eml and our three strings
 * as dir/NAME.out, for comparing with another server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/mime/mime.h"
#include "check.h"
#include "lwmail/lwm_err.h"
#include "testutil.h"

static int verbose;

/* ================================================================ helpers */

#define MSG_MAX (1u << 20)

struct blob {
    uint8_t b[LWM_SUMMARY_MAX];
    uint32_t len;
    struct lwm_mime_sum s;
    const uint8_t *msg; /* the message it describes */
    size_t msg_len;
};

static struct lwm_mime mm;
static uint8_t msgbuf[MSG_MAX];

static int mem_rd(void *ctx, uint32_t off, void *buf, uint32_t len)
{
    const struct blob *b = ctx;
    if (off > b->len || len > b->len - off)
        return LWM_ERR_RANGE;
    memcpy(buf, b->b + off, len);
    return (int)len;
}

/* LF -> CRLF (messages are written with \n for readability) */
static size_t crlf(const char *src, uint8_t *dst, size_t cap)
{
    size_t n = 0;
    for (; *src != '\0' && n + 2 <= cap; src++) {
        if (*src == '\n')
            dst[n++] = '\r';
        dst[n++] = (uint8_t)*src;
    }
    return n;
}

enum { FEED_ALL, FEED_BYTES, FEED_SMALL, FEED_LARGE, FEED_MODES };

static void feed(struct lwm_mime *m, const uint8_t *p, size_t n, int mode,
                 uint32_t *seed)
{
    size_t i = 0, k;
    while (i < n) {
        switch (mode) {
        case FEED_ALL: k = n - i; break;
        case FEED_BYTES: k = 1; break;
        case FEED_SMALL: k = 1 + xorshift32(seed) % 7; break;
        default: k = 1 + xorshift32(seed) % 600; break;
        }
        if (k > n - i)
            k = n - i;
        if (mode != FEED_ALL && xorshift32(seed) % 8 == 0)
            lwm_mime_feed(m, p + i, 0); /* empty chunks are fine too */
        lwm_mime_feed(m, p + i, k);
        i += k;
    }
}

/* Parse msg (fed per mode) and render its blob (at once, or in random
 * pieces when seed is set). Returns lwm_mime_sum_info's result. */
static int make_blob_max(struct blob *b, const uint8_t *msg, size_t n,
                         int mode, uint32_t seed, uint32_t max)
{
    uint32_t off = 0;
    lwm_mime_init(&mm);
    if (max)
        lwm_mime_set_max(&mm, max);
    feed(&mm, msg, n, mode, &seed);
    lwm_mime_end(&mm);
    b->len = lwm_mime_blob_size(&mm);
    if (b->len > LWM_SUMMARY_MAX || b->len > (max ? max : LWM_SUMMARY_MAX))
        return -1000;
    memset(b->b, 0xA5, sizeof b->b);
    if (mode == FEED_ALL) {
        if (lwm_mime_render(&mm, 0, b->b, sizeof b->b) != b->len)
            return -1001;
    } else {
        /* pieces of random size, then one out of order */
        while (off < b->len) {
            size_t k = 1 + xorshift32(&seed) % 300;
            size_t got = lwm_mime_render(&mm, off, b->b + off, k);
            if (got == 0 || got > k)
                return -1002;
            off += (uint32_t)got;
        }
        if (b->len > 10) {
            uint8_t tmp[8];
            uint32_t o = xorshift32(&seed) % (b->len - 8);
            if (lwm_mime_render(&mm, o, tmp, 8) != 8 ||
                memcmp(tmp, b->b + o, 8) != 0)
                return -1003;
        }
    }
    if (lwm_mime_render(&mm, b->len, b->b, 10) != 0)
        return -1004;
    b->msg = msg;
    b->msg_len = n;
    return lwm_mime_sum_info(mem_rd, b, b->len, &b->s);
}

static int make_blob(struct blob *b, const uint8_t *msg, size_t n, int mode,
                     uint32_t seed)
{
    return make_blob_max(b, msg, n, mode, seed, 0);
}

static int str_is(const uint8_t *p, uint32_t n, const char *want)
{
    return strlen(want) == n && memcmp(p, want, n) == 0;
}

static void show(const char *what, const uint8_t *p, uint32_t n,
                 const char *want)
{
    fprintf(stderr, "  %s got:  %.*s\n", what, (int)n, (const char *)p);
    if (want != NULL)
        fprintf(stderr, "  %s want: %s\n", what, want);
}

/* Resolve "1.2.TEXT"-style section specs. */
static int section(const struct blob *b, const char *spec,
                   struct lwm_mime_range *r)
{
    uint32_t path[16];
    int np = 0, kind = LWM_MIME_SEC_ALL;
    const char *p = spec;
    while (*p != '\0') {
        if (*p >= '0' && *p <= '9') {
            path[np++] = (uint32_t)strtoul(p, (char **)&p, 10);
            if (*p == '.')
                p++;
        } else {
            if (strcmp(p, "HEADER") == 0)
                kind = LWM_MIME_SEC_HEADER;
            else if (strcmp(p, "TEXT") == 0)
                kind = LWM_MIME_SEC_TEXT;
            else if (strcmp(p, "MIME") == 0)
                kind = LWM_MIME_SEC_MIME;
            break;
        }
    }
    return lwm_mime_section(mem_rd, (void *)b, &b->s, path, np, kind, r);
}

/* Does section spec hold exactly want (NULL: must not exist)? */
static int sec_is(const struct blob *b, const char *spec, const char *want)
{
    struct lwm_mime_range r;
    if (section(b, spec, &r) != 0)
        return 0;
    if (want == NULL)
        return !r.found;
    if (!r.found || r.off > b->msg_len || r.len > b->msg_len - r.off)
        return 0;
    if (strlen(want) != r.len || memcmp(b->msg + r.off, want, r.len) != 0) {
        if (verbose)
            fprintf(stderr, "  section %s: %u+%u '%.*s'\n", spec, r.off,
                    r.len, (int)r.len, (const char *)b->msg + r.off);
        return 0;
    }
    return 1;
}

/* Decode a section through lwm_mime_dec_run with a tiny output buffer. */
static size_t decode(const uint8_t *in, size_t n, int enc, uint8_t *out,
                     size_t cap, size_t step_in, size_t step_out)
{
    struct lwm_mime_dec d;
    size_t i = 0, o = 0, used, got;
    lwm_mime_dec_init(&d, enc);
    for (;;) {
        size_t k = n - i < step_in ? n - i : step_in;
        size_t c = cap - o < step_out ? cap - o : step_out;
        if (c == 0)
            return o;
        got = lwm_mime_dec_run(&d, in + i, k, &used, out + o, c);
        o += got;
        i += used;
        if (k == 0 && got == 0)
            return o;
        if (k > 0 && used == 0 && got == 0)
            return (size_t)-1; /* no progress */
    }
}

/* ====================================================== grammar checker */

/* A strict reader of the IMAP values we send: RFC 9051 body, envelope,
 * nstring, number. Any deviation makes it fail. */
struct rdr {
    const uint8_t *p;
    size_t n, i;
    int ok;
    char why[80];
};

static void rfail(struct rdr *r, const char *why)
{
    if (r->ok)
        snprintf(r->why, sizeof r->why, "%s at %zu", why, r->i);
    r->ok = 0;
}

static int rpeek(struct rdr *r)
{
    return r->ok && r->i < r->n ? r->p[r->i] : -1;
}

static void rexpect(struct rdr *r, char c)
{
    if (rpeek(r) != (uint8_t)c)
        rfail(r, c == ' ' ? "expected SP" : "expected char");
    else
        r->i++;
}

/* string / nstring; returns 1 for a string (value in *s,*sl when it is a
 * quoted one without escapes or a literal), 0 for NIL */
static int rnstring(struct rdr *r, int nil_ok, const uint8_t **s, size_t *sl)
{
    int c = rpeek(r);
    if (s != NULL)
        *s = NULL, *sl = 0;
    if (c == 'N' && r->i + 3 <= r->n && memcmp(r->p + r->i, "NIL", 3) == 0) {
        if (!nil_ok)
            rfail(r, "NIL not allowed");
        r->i += 3;
        return 0;
    }
    if (c == '"') {
        size_t st = ++r->i;
        int esc = 0;
        while (r->i < r->n && r->p[r->i] != '"') {
            uint8_t ch = r->p[r->i];
            if (ch == '\r' || ch == '\n' || ch == 0 || ch >= 0x80) {
                rfail(r, "bad char in quoted");
                return 1;
            }
            if (ch == '\\') {
                esc = 1;
                r->i++;
                if (r->i >= r->n ||
                    (r->p[r->i] != '"' && r->p[r->i] != '\\')) {
                    rfail(r, "bad escape");
                    return 1;
                }
            }
            r->i++;
        }
        if (r->i >= r->n) {
            rfail(r, "unterminated quoted");
            return 1;
        }
        if (s != NULL && !esc)
            *s = r->p + st, *sl = r->i - st;
        r->i++;
        return 1;
    }
    if (c == '{') {
        size_t len = 0, d = 0;
        r->i++;
        while (r->i < r->n && r->p[r->i] >= '0' && r->p[r->i] <= '9' &&
               d < 9)
            len = len * 10 + (size_t)(r->p[r->i++] - '0'), d++;
        if (d == 0 || r->i + 3 > r->n || memcmp(r->p + r->i, "}\r\n", 3)) {
            rfail(r, "bad literal");
            return 1;
        }
        r->i += 3;
        if (len > r->n - r->i) {
            rfail(r, "literal too long");
            return 1;
        }
        if (memchr(r->p + r->i, 0, len) != NULL)
            rfail(r, "NUL in literal");
        if (s != NULL)
            *s = r->p + r->i, *sl = len;
        r->i += len;
        return 1;
    }
    rfail(r, "expected string");
    return 0;
}

static void rnumber(struct rdr *r)
{
    size_t d = 0;
    while (rpeek(r) >= '0' && rpeek(r) <= '9')
        r->i++, d++;
    if (d == 0 || d > 10)
        rfail(r, "expected number");
}

static int ieq(const uint8_t *s, size_t n, const char *w)
{
    size_t i;
    if (s == NULL || strlen(w) != n)
        return 0;
    for (i = 0; i < n; i++)
        if ((s[i] | 0x20) != (w[i] | 0x20) && s[i] != w[i])
            return 0;
    return 1;
}

/* body-fld-param = "(" string SP string *(SP string SP string) ")" / NIL */
static void rparams(struct rdr *r)
{
    if (rpeek(r) != '(') {
        rnstring(r, 1, NULL, NULL);
        return;
    }
    r->i++;
    for (;;) {
        rnstring(r, 0, NULL, NULL);
        rexpect(r, ' ');
        rnstring(r, 0, NULL, NULL);
        if (rpeek(r) != ' ')
            break;
        r->i++;
    }
    rexpect(r, ')');
}

/* address lists with groups; checks the group markers pair up */
static void raddrs(struct rdr *r)
{
    int in_group = 0;
    if (rpeek(r) != '(') {
        rnstring(r, 1, NULL, NULL); /* NIL */
        return;
    }
    r->i++;
    do {
        int mb, host;
        rexpect(r, '(');
        rnstring(r, 1, NULL, NULL);
        rexpect(r, ' ');
        rnstring(r, 1, NULL, NULL);
        rexpect(r, ' ');
        mb = rnstring(r, 1, NULL, NULL);
        rexpect(r, ' ');
        host = rnstring(r, 1, NULL, NULL);
        rexpect(r, ')');
        if (!host && mb) {
            if (in_group)
                rfail(r, "nested group");
            in_group = 1;
        } else if (!host && !mb) {
            if (!in_group)
                rfail(r, "group end without start");
            in_group = 0;
        }
    } while (r->ok && rpeek(r) == '(');
    if (in_group)
        rfail(r, "group not closed");
    rexpect(r, ')');
}

static void renvelope(struct rdr *r)
{
    int i;
    rexpect(r, '(');
    rnstring(r, 1, NULL, NULL);
    rexpect(r, ' ');
    rnstring(r, 1, NULL, NULL);
    for (i = 0; i < 6; i++) {
        rexpect(r, ' ');
        raddrs(r);
    }
    rexpect(r, ' ');
    rnstring(r, 1, NULL, NULL);
    rexpect(r, ' ');
    rnstring(r, 1, NULL, NULL);
    rexpect(r, ')');
}

/* Extension data: any of nstring, number, or parenthesised lists. */
static void rext_value(struct rdr *r, int depth)
{
    int c = rpeek(r);
    if (depth > 20) {
        rfail(r, "ext too deep");
        return;
    }
    if (c == '(') {
        r->i++;
        rext_value(r, depth + 1);
        while (r->ok && rpeek(r) == ' ') {
            r->i++;
            rext_value(r, depth + 1);
        }
        rexpect(r, ')');
    } else if (c >= '0' && c <= '9') {
        rnumber(r);
    } else {
        rnstring(r, 1, NULL, NULL);
    }
}

static void rbody(struct rdr *r, int ext, int depth)
{
    const uint8_t *t, *st;
    size_t tl, stl;
    int i;
    if (depth > 40) {
        rfail(r, "too deep");
        return;
    }
    rexpect(r, '(');
    if (rpeek(r) == '(') {
        /* body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart] */
        while (r->ok && rpeek(r) == '(')
            rbody(r, ext, depth + 1);
        rexpect(r, ' ');
        rnstring(r, 0, NULL, NULL);
        if (ext) {
            rexpect(r, ' ');
            rparams(r);
            for (i = 0; i < 3; i++) {
                rexpect(r, ' ');
                rext_value(r, 0);
            }
        }
        rexpect(r, ')');
        return;
    }
    rnstring(r, 0, &t, &tl);
    rexpect(r, ' ');
    rnstring(r, 0, &st, &stl);
    rexpect(r, ' ');
    rparams(r);
    rexpect(r, ' ');
    rnstring(r, 1, NULL, NULL); /* id */
    rexpect(r, ' ');
    rnstring(r, 1, NULL, NULL); /* description */
    rexpect(r, ' ');
    rnstring(r, 0, NULL, NULL); /* encoding */
    rexpect(r, ' ');
    rnumber(r);
    if (ieq(t, tl, "text")) {
        rexpect(r, ' ');
        rnumber(r);
    } else if (ieq(t, tl, "message") &&
               (ieq(st, stl, "rfc822") || ieq(st, stl, "global"))) {
        rexpect(r, ' ');
        renvelope(r);
        rexpect(r, ' ');
        rbody(r, ext, depth + 1);
        rexpect(r, ' ');
        rnumber(r);
    } else if (ieq(t, tl, "multipart")) {
        rfail(r, "multipart type in a basic body");
    }
    if (ext) {
        rexpect(r, ' ');
        rnstring(r, 1, NULL, NULL); /* md5 */
        for (i = 0; i < 3; i++) {
            rexpect(r, ' ');
            rext_value(r, 0);
        }
    } else if (rpeek(r) == ' ') {
        rfail(r, "extension data in BODY");
    }
    rexpect(r, ')');
}

/* which: 0 envelope, 1 bodystructure, 2 body */
static int grammar_ok(const uint8_t *p, size_t n, int which, char *why)
{
    struct rdr r;
    memset(&r, 0, sizeof r);
    r.p = p;
    r.n = n;
    r.ok = 1;
    if (which == 0)
        renvelope(&r);
    else
        rbody(&r, which == 1, 0);
    if (r.ok && r.i != r.n)
        rfail(&r, "trailing bytes");
    if (!r.ok && why != NULL)
        strcpy(why, r.why);
    return r.ok;
}

/* The blob's part table must describe ranges inside the message. */
static int table_ok(const struct blob *b)
{
    uint32_t i, size = b->s.msg_size;
    if (size != b->msg_len)
        return 0;
    for (i = 0; i < b->s.nparts; i++) {
        const uint8_t *e = b->b + LWM_MIME_BLOB_HDR + i * LWM_MIME_BLOB_ENT;
        uint32_t ho = e[0] | e[1] << 8 | e[2] << 16 | (uint32_t)e[3] << 24;
        uint32_t hl = e[4] | e[5] << 8 | e[6] << 16 | (uint32_t)e[7] << 24;
        uint32_t bo = e[8] | e[9] << 8 | e[10] << 16 | (uint32_t)e[11] << 24;
        uint32_t bl = e[12] | e[13] << 8 | e[14] << 16 | (uint32_t)e[15] << 24;
        uint32_t ln = e[20] | e[21] << 8 | e[22] << 16 | (uint32_t)e[23] << 24;
        uint16_t par = (uint16_t)(e[24] | e[25] << 8);
        if (bo != ho + hl || bo > size || bl > size - bo || ln > bl)
            return 0;
        if (i > 0) {
            const uint8_t *pe =
                b->b + LWM_MIME_BLOB_HDR + par * LWM_MIME_BLOB_ENT;
            uint32_t pbo = pe[8] | pe[9] << 8 | pe[10] << 16 |
                           (uint32_t)pe[11] << 24;
            uint32_t pbl = pe[12] | pe[13] << 8 | pe[14] << 16 |
                           (uint32_t)pe[15] << 24;
            if (par >= i || ho < pbo || bo + bl > pbo + pbl)
                return 0;
        }
    }
    return 1;
}

/* Every string passes the grammar; the table is sane. */
static int blob_ok(const struct blob *b, const char *name)
{
    char why[80] = "";
    int ok = 1;
    if (!grammar_ok(b->b + b->s.env_off, b->s.env_len, 0, why)) {
        fprintf(stderr, "%s: ENVELOPE grammar: %s\n", name, why);
        show("ENVELOPE", b->b + b->s.env_off, b->s.env_len, NULL);
        ok = 0;
    }
    if (!grammar_ok(b->b + b->s.bs_off, b->s.bs_len, 1, why)) {
        fprintf(stderr, "%s: BODYSTRUCTURE grammar: %s\n", name, why);
        show("BODYSTRUCTURE", b->b + b->s.bs_off, b->s.bs_len, NULL);
        ok = 0;
    }
    if (!grammar_ok(b->b + b->s.body_off, b->s.body_len, 2, why)) {
        fprintf(stderr, "%s: BODY grammar: %s\n", name, why);
        show("BODY", b->b + b->s.body_off, b->s.body_len, NULL);
        ok = 0;
    }
    if (!table_ok(b)) {
        fprintf(stderr, "%s: bad part table\n", name);
        ok = 0;
    }
    return ok;
}

/* ================================================================ corpus */

struct cmsg {
    const char *name;
    const char *text; /* \n becomes CRLF unless lf */
    int lf;
    const char *env, *bs, *body; /* expected (NULL: not checked) */
};

#include "mime_corpus.h"

static size_t corpus_bytes(const struct cmsg *c, uint8_t *dst, size_t cap)
{
    size_t n;
    if (!c->lf)
        return crlf(c->text, dst, cap);
    n = strlen(c->text);
    if (n > cap)
        n = cap;
    memcpy(dst, c->text, n);
    return n;
}

static struct blob ba, bb;

static void test_corpus(void)
{
    size_t ci, n;
    int mode;
    for (ci = 0; ci < NCORPUS; ci++) {
        const struct cmsg *c = &corpus[ci];
        uint32_t seed = 0x1234u + (uint32_t)ci;
        n = corpus_bytes(c, msgbuf, sizeof msgbuf);
        if (!CHECK(make_blob(&ba, msgbuf, n, FEED_ALL, 0) == 0))
            continue;
        if (!CHECK(blob_ok(&ba, c->name)))
            fprintf(stderr, "  in corpus message %s\n", c->name);
        if (c->env != NULL &&
            !CHECK(str_is(ba.b + ba.s.env_off, ba.s.env_len, c->env))) {
            fprintf(stderr, "%s:\n", c->name);
            show("ENVELOPE", ba.b + ba.s.env_off, ba.s.env_len, c->env);
        }
        if (c->bs != NULL &&
            !CHECK(str_is(ba.b + ba.s.bs_off, ba.s.bs_len, c->bs))) {
            fprintf(stderr, "%s:\n", c->name);
            show("BODYSTRUCTURE", ba.b + ba.s.bs_off, ba.s.bs_len, c->bs);
        }
        if (c->body != NULL &&
            !CHECK(str_is(ba.b + ba.s.body_off, ba.s.body_len, c->body))) {
            fprintf(stderr, "%s:\n", c->name);
            show("BODY", ba.b + ba.s.body_off, ba.s.body_len, c->body);
        }
        /* the same blob however the bytes arrive */
        for (mode = FEED_BYTES; mode < FEED_MODES; mode++) {
            if (!CHECK(make_blob(&bb, msgbuf, n, mode, seed + 77) == 0) ||
                !CHECK(bb.len == ba.len &&
                       memcmp(bb.b, ba.b, ba.len) == 0))
                fprintf(stderr, "%s: blob differs in feed mode %d\n",
                        c->name, mode);
        }
    }
}

/* --dump: the corpus as files */
static int dump(const char *dir)
{
    size_t ci, n;
    char path[512];
    FILE *f;
    for (ci = 0; ci < NCORPUS; ci++) {
        const struct cmsg *c = &corpus[ci];
        n = corpus_bytes(c, msgbuf, sizeof msgbuf);
        snprintf(path, sizeof path, "%s/%s.eml", dir, c->name);
        f = fopen(path, "wb");
        if (f == NULL)
            return 1;
        fwrite(msgbuf, 1, n, f);
        fclose(f);
        if (make_blob(&ba, msgbuf, n, FEED_ALL, 0) != 0)
            return 1;
        snprintf(path, sizeof path, "%s/%s.out", dir, c->name);
        f = fopen(path, "wb");
        if (f == NULL)
            return 1;
        fprintf(f, "ENVELOPE %.*s\nBODYSTRUCTURE %.*s\nBODY %.*s\n",
                (int)ba.s.env_len, (const char *)ba.b + ba.s.env_off,
                (int)ba.s.bs_len, (const char *)ba.b + ba.s.bs_off,
                (int)ba.s.body_len, (const char *)ba.b + ba.s.body_off);
        fclose(f);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
            return dump(argv[++i]);
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
    }
    printf("sizeof(struct lwm_mime) = %zu\n", sizeof(struct lwm_mime));
    test_corpus();
    (void)sec_is;
    (void)decode;
    return check_summary("test_mime");
}
