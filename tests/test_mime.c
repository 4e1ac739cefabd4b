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
#include "../src/util/lwm_util.h"

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
    if (b->len > (max == 0 ? LWM_SUMMARY_MAX : max < 512 ? 512 : max))
        return -1000; /* over the limit */
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
    /* BODYSTRUCTURE has extension data unless degraded (level 2+) */
    if (!grammar_ok(b->b + b->s.bs_off, b->s.bs_len, b->s.level < 2 ? 1 : 2,
                    why)) {
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

/* The blob format is fixed byte for byte (little-endian, whatever the
 * host): one CRC over the blobs of the whole corpus. A change here is a
 * format change: bump LWM_MIME_BLOB_VERSION when old blobs would be read
 * wrongly, and update the value. */
#define CORPUS_BLOBS_CRC 0xd88295b0u

static void test_golden(void)
{
    size_t ci, n;
    uint32_t crc = 0;
    for (ci = 0; ci < NCORPUS; ci++) {
        n = corpus_bytes(&corpus[ci], msgbuf, sizeof msgbuf);
        REQUIRE(make_blob(&ba, msgbuf, n, FEED_ALL, 0) == 0);
        crc = lwm_crc32c(crc, ba.b, ba.len);
    }
    if (!CHECK(crc == CORPUS_BLOBS_CRC))
        fprintf(stderr, "corpus blobs CRC 0x%08x\n", (unsigned)crc);
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

/* ============================================================== sections */

static const struct cmsg *corpus_find(const char *name)
{
    size_t i;
    for (i = 0; i < NCORPUS; i++)
        if (strcmp(corpus[i].name, name) == 0)
            return &corpus[i];
    REQUIRE(0);
    return NULL;
}

static uint8_t wantbuf[4096];

/* sec_is with want written with \n (made CRLF like the message) */
static int sec_crlf(const struct blob *b, const char *spec, const char *want)
{
    size_t n;
    if (want == NULL)
        return sec_is(b, spec, NULL);
    n = crlf(want, wantbuf, sizeof wantbuf - 1);
    wantbuf[n] = '\0';
    return sec_is(b, spec, (const char *)wantbuf);
}

static void load(const char *name)
{
    const struct cmsg *c = corpus_find(name);
    size_t n = corpus_bytes(c, msgbuf, sizeof msgbuf);
    REQUIRE(make_blob(&ba, msgbuf, n, FEED_ALL, 0) == 0);
}

/* BINARY[spec] decoded (tiny buffers) equals want[0..wn) and the size the
 * blob announced. */
static int binary_is(const struct blob *b, const char *spec, const void *want,
                     size_t wn)
{
    static uint8_t out[8192];
    struct lwm_mime_range r;
    size_t got;
    if (section(b, spec, &r) != 0 || !r.found)
        return 0;
    got = decode(b->msg + r.off, r.len, r.encoding, out, sizeof out, 3, 2);
    if (got != wn || memcmp(out, want, wn) != 0 || r.binary_size != wn) {
        if (verbose)
            fprintf(stderr, "  binary %s: got %zu (size %u) '%.*s'\n", spec,
                    got, r.binary_size, (int)got, (const char *)out);
        return 0;
    }
    return 1;
}

static void test_sections(void)
{
    struct lwm_mime_range r;
    uint32_t path[2] = { 1, 1 };

    load("plain");
    CHECK(section(&ba, "", &r) == 0 && r.found && r.off == 0 &&
          r.len == ba.msg_len && r.binary_size == ba.msg_len);
    CHECK(sec_crlf(&ba, "HEADER",
                   "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\n"
                   "From: Fred Foobar <foobar@Blurdybloop.example>\n"
                   "Subject: afternoon meeting\n"
                   "To: mooch@owatagu.siam.edu.example\n"
                   "Message-Id: <B27397-0100000@Blurdybloop.example>\n"
                   "MIME-Version: 1.0\n"
                   "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n\n"));
    CHECK(sec_crlf(&ba, "TEXT",
                   "Hello Joe, do you think we can meet at 3:30 tomorrow?\n"));
    CHECK(sec_crlf(&ba, "1",
                   "Hello Joe, do you think we can meet at 3:30 tomorrow?\n"));
    CHECK(section(&ba, "1.MIME", &r) == 0 && r.found && r.off == 0 &&
          r.len == ba.s.msg_size - 55); /* the message header, as Dovecot */
    CHECK(sec_is(&ba, "MIME", NULL));
    CHECK(sec_is(&ba, "2", NULL));
    CHECK(sec_is(&ba, "1.1", NULL));
    CHECK(sec_is(&ba, "1.HEADER", NULL));
    CHECK(sec_is(&ba, "0", NULL));
    CHECK(lwm_mime_section(mem_rd, &ba, &ba.s, path, 1, 7, &r) ==
          LWM_ERR_INVAL);
    CHECK(lwm_mime_section(mem_rd, &ba, &ba.s, NULL, 1, 0, &r) ==
          LWM_ERR_INVAL);
    CHECK(lwm_mime_section(mem_rd, &ba, &ba.s, path, -1, 0, &r) ==
          LWM_ERR_INVAL);

    load("alternative");
    CHECK(sec_crlf(&ba, "1",
                   "Caf=C3=A9 at noon? Long line that is wrapped with a soft "
                   "line break=\n here."));
    CHECK(sec_crlf(&ba, "1.MIME",
                   "Content-Type: text/plain; charset=utf-8\n"
                   "Content-Transfer-Encoding: quoted-printable\n\n"));
    CHECK(sec_crlf(&ba, "2", "<p>Caf=C3=A9 at noon?</p>\n"));
    CHECK(sec_is(&ba, "3", NULL));
    CHECK(sec_is(&ba, "1.1", NULL));
    CHECK(section(&ba, "TEXT", &r) == 0 && r.found &&
          memcmp(ba.msg + r.off, "This is a multi", 15) == 0 &&
          r.off + r.len == ba.s.msg_size);
    CHECK(binary_is(&ba, "1", "Caf\xc3\xa9 at noon? Long line that is "
                    "wrapped with a soft line break here.", 69));
    CHECK(binary_is(&ba, "2", "<p>Caf\xc3\xa9 at noon?</p>\r\n", 23));

    load("mixed");
    CHECK(sec_crlf(&ba, "1", "See the attachment."));
    CHECK(binary_is(&ba, "2",
                    "%PDF-1.4\n%\xc7\xec\x8f\xa2\n1 0 obj\n<</Type/Catalog>>"
                    "\nendobj\ntrailer\n<</Root 1 0 R>>\n%%EOF\n", 78));
    CHECK(binary_is(&ba, "3", "\x89PNG\r\n\x1a\n", 8));
    CHECK(sec_crlf(&ba, "3", "iVBORw0KGgo="));
    CHECK(section(&ba, "2", &r) == 0 && r.encoding == LWM_MIME_ENC_BASE64);
    CHECK(section(&ba, "1", &r) == 0 && r.encoding == 0 &&
          r.binary_size == 19);

    load("rfc822");
    CHECK(sec_crlf(&ba, "1", "Forwarded below."));
    CHECK(sec_crlf(&ba, "2.MIME", "Content-Type: message/rfc822\n"
                                  "Content-Description: original\n\n"));
    CHECK(section(&ba, "2", &r) == 0 && r.found && r.len == 389 &&
          memcmp(ba.msg + r.off, "From: Orig", 10) == 0 &&
          memcmp(ba.msg + r.off + r.len - 11, "--inner--\r\n", 11) == 0);
    CHECK(section(&ba, "2.HEADER", &r) == 0 && r.found &&
          memcmp(ba.msg + r.off, "From: Orig", 10) == 0 &&
          memcmp(ba.msg + r.off + r.len - 9, "inner\r\n\r\n", 9) == 0);
    CHECK(sec_crlf(&ba, "2.TEXT", "--inner\nContent-Type: text/plain\n\nhi\n"
                                  "--inner\nContent-Type: text/html\n\n"
                                  "<b>hi</b>\n--inner--\n"));
    CHECK(sec_crlf(&ba, "2.1", "hi"));
    CHECK(sec_crlf(&ba, "2.2", "<b>hi</b>"));
    CHECK(sec_crlf(&ba, "2.1.MIME", "Content-Type: text/plain\n\n"));
    CHECK(sec_is(&ba, "2.3", NULL));
    CHECK(sec_is(&ba, "2.1.1", NULL));
    CHECK(sec_is(&ba, "1.TEXT", NULL));
    CHECK(sec_is(&ba, "3", NULL));

    load("toplevel822");
    CHECK(sec_crlf(&ba, "1", "From: inner@b.c\nSubject: inner\n\n"
                             "inner body\n"));
    CHECK(sec_crlf(&ba, "TEXT", "From: inner@b.c\nSubject: inner\n\n"
                                "inner body\n"));
    CHECK(sec_crlf(&ba, "1.HEADER", "From: inner@b.c\nSubject: inner\n\n"));
    CHECK(sec_crlf(&ba, "1.TEXT", "inner body\n"));
    CHECK(sec_crlf(&ba, "1.1", "inner body\n"));
    CHECK(sec_crlf(&ba, "1.1.MIME", "From: inner@b.c\nSubject: inner\n\n"));
    CHECK(sec_is(&ba, "1.2", NULL));
    CHECK(sec_is(&ba, "2", NULL));

    load("digest");
    CHECK(sec_crlf(&ba, "1", "From: one@example.com\nSubject: first\n\n"
                             "first body"));
    CHECK(sec_crlf(&ba, "1.MIME", "\n"));
    CHECK(sec_crlf(&ba, "1.HEADER", "From: one@example.com\n"
                                    "Subject: first\n\n"));
    CHECK(sec_crlf(&ba, "2.TEXT", "second body"));
    CHECK(sec_crlf(&ba, "2.1", "second body"));
    CHECK(sec_crlf(&ba, "3", "not a message"));
    CHECK(sec_is(&ba, "3.TEXT", NULL));

    load("hdrcut");
    CHECK(sec_crlf(&ba, "1", ""));
    CHECK(sec_crlf(&ba, "1.MIME", "Content-Type: text/plain"));
    CHECK(sec_crlf(&ba, "2", "second"));
    CHECK(sec_crlf(&ba, "2.MIME", "\n"));

    load("noclose");
    CHECK(sec_crlf(&ba, "1", "part one"));
    CHECK(sec_crlf(&ba, "2", "part two, no close delimiter\n"));

    load("outer_ends_inner");
    CHECK(sec_crlf(&ba, "1", "--AB\nContent-Type: text/plain\n\n"
                             "inner, never closed"));
    CHECK(sec_crlf(&ba, "1.1", "inner, never closed"));
    CHECK(sec_crlf(&ba, "2", "after"));

    load("padding");
    CHECK(sec_crlf(&ba, "1", "one"));
    CHECK(sec_crlf(&ba, "1.MIME", "\n"));

    load("empty");
    CHECK(sec_is(&ba, "", ""));
    CHECK(sec_is(&ba, "HEADER", ""));
    CHECK(sec_is(&ba, "TEXT", ""));
    CHECK(sec_is(&ba, "1", ""));

    load("hdronly");
    CHECK(sec_crlf(&ba, "HEADER", "From: a@b.c\n"
                                  "Subject: header only, no blank line\n"));
    CHECK(sec_is(&ba, "TEXT", ""));

    load("lf");
    CHECK(sec_is(&ba, "1", "one\ntwo"));
    CHECK(sec_is(&ba, "2.MIME", "Content-Type: application/octet-stream\n"
                                "Content-Transfer-Encoding: base64\n\n"));
    CHECK(binary_is(&ba, "2", "\0\1\2\3\4\5", 6));

    load("b64_822");
    CHECK(binary_is(&ba, "1", "From: x@y.z\n\nhi\n", 16));
    CHECK(sec_is(&ba, "1.HEADER", NULL)); /* not parsed: opaque */
    CHECK(sec_is(&ba, "1.1", NULL));

    load("encoded");
    CHECK(binary_is(&ba, "1", "F\xf8rst line \r\nsecond", 19));

    load("params");
    CHECK(section(&ba, "1", &r) == 0 && r.found &&
          r.encoding == LWM_MIME_ENC_UNKNOWN);
}

/* Every leaf's binary size equals what the decoder makes of it, however
 * the input and output are cut. */
static void check_binary_sizes(const struct blob *b, uint32_t *seed)
{
    static uint8_t out[1u << 17];
    uint32_t i, path[1];
    struct lwm_mime_range r;
    for (i = 0; i < b->s.nparts; i++) {
        const uint8_t *e = b->b + LWM_MIME_BLOB_HDR + i * LWM_MIME_BLOB_ENT;
        uint32_t bo = e[8] | e[9] << 8 | e[10] << 16 | (uint32_t)e[11] << 24;
        uint32_t bl = e[12] | e[13] << 8 | e[14] << 16 | (uint32_t)e[15] << 24;
        uint32_t bin = e[16] | e[17] << 8 | e[18] << 16 |
                       (uint32_t)e[19] << 24;
        size_t got;
        if (bo > b->msg_len || bl > b->msg_len - bo)
            continue;
        got = decode(b->msg + bo, bl, e[29], out, sizeof out,
                     1 + xorshift32(seed) % 100, 1 + xorshift32(seed) % 50);
        if (got < sizeof out && !CHECK(got == bin))
            fprintf(stderr, "part %u: decoded %zu, binary_size %u\n", i, got,
                    bin);
    }
    path[0] = 1;
    CHECK(lwm_mime_section(mem_rd, (void *)b, &b->s, path, 1,
                           LWM_MIME_SEC_ALL, &r) == 0);
}

static void test_binary_sizes(void)
{
    size_t ci, n;
    uint32_t seed = 99;
    for (ci = 0; ci < NCORPUS; ci++) {
        n = corpus_bytes(&corpus[ci], msgbuf, sizeof msgbuf);
        if (CHECK(make_blob(&ba, msgbuf, n, FEED_ALL, 0) == 0))
            check_binary_sizes(&ba, &seed);
    }
}

/* ============================================================== decoders */

struct dcase {
    int enc;
    const char *in, *out;
    size_t outlen; /* 0: strlen(out) */
};

static const struct dcase dcases[] = {
    { LWM_MIME_ENC_BASE64, "aGVsbG8gd29ybGQ=", "hello world", 0 },
    { LWM_MIME_ENC_BASE64, "aGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n", "hello world",
      0 },
    { LWM_MIME_ENC_BASE64, "aGVsbG8gd29ybGQ", "hello world", 0 },
    { LWM_MIME_ENC_BASE64, "aGVsbA==", "hell", 0 },
    { LWM_MIME_ENC_BASE64, "aGVsbA", "hell", 0 },
    { LWM_MIME_ENC_BASE64, "a", "", 0 },
    { LWM_MIME_ENC_BASE64, "", "", 0 },
    { LWM_MIME_ENC_BASE64, "aGk=aGk=", "hihi", 0 }, /* concatenated */
    { LWM_MIME_ENC_BASE64, "a*G!k ~=", "hi", 0 },    /* junk skipped */
    { LWM_MIME_ENC_BASE64, "====", "", 0 },
    { LWM_MIME_ENC_BASE64, "AAAA", "\0\0\0", 3 },
    { LWM_MIME_ENC_BASE64, "////", "\xff\xff\xff", 0 },
    { LWM_MIME_ENC_QP, "Caf=C3=A9", "Caf\xc3\xa9", 0 },
    { LWM_MIME_ENC_QP, "caf=c3=a9", "caf\xc3\xa9", 0 }, /* lower case */
    { LWM_MIME_ENC_QP, "soft=\r\nbreak", "softbreak", 0 },
    { LWM_MIME_ENC_QP, "soft=\nbreak", "softbreak", 0 },
    { LWM_MIME_ENC_QP, "soft=  \t\r\nbreak", "softbreak", 0 },
    { LWM_MIME_ENC_QP, "hard  \r\nbreak\t\r\n", "hard\r\nbreak\r\n", 0 },
    { LWM_MIME_ENC_QP, "lf \nonly\n", "lf\nonly\n", 0 },
    { LWM_MIME_ENC_QP, "a b\tc", "a b\tc", 0 },
    { LWM_MIME_ENC_QP, "end   ", "end", 0 },
    { LWM_MIME_ENC_QP, "end=", "end", 0 },
    { LWM_MIME_ENC_QP, "end= ", "end", 0 },
    { LWM_MIME_ENC_QP, "end=4", "end=4", 0 },
    { LWM_MIME_ENC_QP, "bad=ZZ", "bad=ZZ", 0 },
    { LWM_MIME_ENC_QP, "bad=4Z", "bad=4Z", 0 },
    { LWM_MIME_ENC_QP, "bad= x", "bad= x", 0 },
    { LWM_MIME_ENC_QP, "bad=\rx", "bad=\rx", 0 },
    { LWM_MIME_ENC_QP, "bad\rx", "bad\rx", 0 },
    { LWM_MIME_ENC_QP, "==41", "=A", 0 },
    { LWM_MIME_ENC_QP, "=00=FF", "\0\xff", 2 },
    { LWM_MIME_ENC_QP, "x                    y",
      "x                    y", 0 }, /* more white space than held back */
    { LWM_MIME_ENC_QP, "x                    \r\ny",
      "x                \r\ny", 0 }, /* the first 16 of a long run stay */
    { LWM_MIME_ENC_IDENTITY, "as=20is\r\n", "as=20is\r\n", 0 },
    { LWM_MIME_ENC_UNKNOWN, "raw", "raw", 0 },
};

static void test_decoders(void)
{
    static uint8_t out[256];
    size_t i, si, so, got;
    static const size_t steps[] = { 1, 2, 3, 5, 64 };
    struct lwm_mime_dec d;
    size_t used;
    for (i = 0; i < sizeof dcases / sizeof dcases[0]; i++) {
        const struct dcase *c = &dcases[i];
        size_t want = c->outlen ? c->outlen : strlen(c->out);
        for (si = 0; si < 5; si++)
            for (so = 0; so < 5; so++) {
                got = decode((const uint8_t *)c->in, strlen(c->in), c->enc,
                             out, sizeof out, steps[si], steps[so]);
                if (!CHECK(got == want && memcmp(out, c->out, want) == 0))
                    fprintf(stderr, "decoder case %zu (%s) steps %zu/%zu: "
                            "got %zu '%.*s'\n", i, c->in, steps[si],
                            steps[so], got, (int)got, (const char *)out);
            }
        /* counting mode agrees */
        lwm_mime_dec_init(&d, c->enc);
        got = lwm_mime_dec_run(&d, (const uint8_t *)c->in, strlen(c->in),
                               &used, NULL, 0);
        got += lwm_mime_dec_run(&d, NULL, 0, &used, NULL, 0);
        CHECK(got == want);
    }
    /* a bad encoding number decodes as unknown (pass-through) */
    lwm_mime_dec_init(&d, 77);
    CHECK(lwm_mime_dec_run(&d, (const uint8_t *)"ab", 2, &used, out, 1) ==
              1 &&
          used == 1 && out[0] == 'a');
    /* a full output buffer: nothing consumed, nothing lost */
    lwm_mime_dec_init(&d, LWM_MIME_ENC_BASE64);
    CHECK(lwm_mime_dec_run(&d, (const uint8_t *)"aGk=", 4, &used, out, 0) ==
              0 &&
          used == 0);
}

/* ============================================================= generated */

static size_t gen_put(uint8_t *b, size_t n, const char *s)
{
    size_t k = strlen(s);
    if (n + k <= MSG_MAX)
        memcpy(b + n, s, k);
    return n + k;
}

/* depth nested multiparts (or, with rfc822, every other level a
 * message/rfc822), a text leaf at the bottom */
static size_t gen_deep(uint8_t *b, int depth, int rfc822)
{
    char line[160];
    size_t n = 0;
    int i;
    n = gen_put(b, n, "From: deep@example.com\r\nMIME-Version: 1.0\r\n");
    for (i = 0; i < depth; i++) {
        if (rfc822 && (i & 1)) {
            n = gen_put(b, n, "Content-Type: message/rfc822\r\n\r\n");
            snprintf(line, sizeof line, "Subject: level %d\r\n", i);
            n = gen_put(b, n, line);
            continue;
        }
        snprintf(line, sizeof line,
                 "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n"
                 "--b%d\r\n",
                 i, i);
        n = gen_put(b, n, line);
    }
    n = gen_put(b, n, "Content-Type: text/plain\r\n\r\ndeep\r\n");
    for (i = depth; i-- > 0;) {
        if (rfc822 && (i & 1))
            continue;
        snprintf(line, sizeof line, "--b%d--\r\n", i);
        n = gen_put(b, n, line);
    }
    return n;
}

static size_t gen_many(uint8_t *b, int parts)
{
    char line[160];
    size_t n = 0;
    int i;
    n = gen_put(b, n, "MIME-Version: 1.0\r\n"
                      "Content-Type: multipart/mixed; boundary=m\r\n\r\n");
    for (i = 1; i <= parts; i++) {
        snprintf(line, sizeof line,
                 "--m\r\nContent-Type: text/plain; name=\"p%d\"\r\n\r\n"
                 "part %d\r\n",
                 i, i);
        n = gen_put(b, n, line);
    }
    return gen_put(b, n, "--m--\r\n");
}

static int has(const uint8_t *p, size_t n, const char *needle, size_t k)
{
    size_t i;
    for (i = 0; i + k <= n; i++)
        if (memcmp(p + i, needle, k) == 0)
            return 1;
    return 0;
}

static int bs_count(const struct blob *b, const char *needle)
{
    int c = 0;
    size_t k = strlen(needle);
    uint32_t i;
    for (i = 0; i + k <= b->s.bs_len; i++)
        if (memcmp(b->b + b->s.bs_off + i, needle, k) == 0)
            c++;
    return c;
}

static void test_generated(void)
{
    size_t n;
    char spec[64];
    int i;
    uint32_t seed = 5;

    /* nesting beyond LWM_MIME_MAX_DEPTH: parts down to the limit, the
     * multipart at the limit is an opaque leaf */
    n = gen_deep(msgbuf, LWM_MIME_MAX_DEPTH + 4, 0);
    REQUIRE(make_blob(&ba, msgbuf, n, FEED_ALL, 0) == 0);
    CHECK(blob_ok(&ba, "deep"));
    CHECK(ba.s.nparts == LWM_MIME_MAX_DEPTH + 1);
    CHECK(bs_count(&ba, "\"application\" \"octet-stream\"") == 1);
    CHECK(bs_count(&ba, "\"mixed\"") == LWM_MIME_MAX_DEPTH);
    strcpy(spec, "1");
    for (i = 1; i < LWM_MIME_MAX_DEPTH; i++)
        strcat(spec, ".1");
    {
        struct lwm_mime_range r;
        CHECK(section(&ba, spec, &r) == 0 && r.found &&
              memcmp(ba.msg + r.off, "--b8", 4) == 0);
        strcat(spec, ".1");
        CHECK(section(&ba, spec, &r) == 0 && !r.found);
    }
    for (i = FEED_BYTES; i < FEED_MODES; i++) {
        CHECK(make_blob(&bb, msgbuf, n, i, seed++) == 0);
        CHECK(bb.len == ba.len && memcmp(bb.b, ba.b, ba.len) == 0);
    }

    n = gen_deep(msgbuf, 20, 1);
    REQUIRE(make_blob(&ba, msgbuf, n, FEED_BYTES, 1) == 0);
    CHECK(blob_ok(&ba, "deep822"));
    CHECK(ba.s.nparts == LWM_MIME_MAX_DEPTH + 1);
    check_binary_sizes(&ba, &seed);

    /* more parts than LWM_MIME_MAX_PARTS: the rest are left out */
    n = gen_many(msgbuf, LWM_MIME_MAX_PARTS + 10);
    REQUIRE(make_blob(&ba, msgbuf, n, FEED_SMALL, 2) == 0);
    CHECK(blob_ok(&ba, "many"));
    CHECK(ba.s.nparts == LWM_MIME_MAX_PARTS);
    snprintf(spec, sizeof spec, "%d", LWM_MIME_MAX_PARTS - 1);
    snprintf((char *)wantbuf, sizeof wantbuf, "part %d",
             LWM_MIME_MAX_PARTS - 1);
    CHECK(sec_is(&ba, spec, (const char *)wantbuf));
    snprintf(spec, sizeof spec, "%d", LWM_MIME_MAX_PARTS);
    CHECK(sec_is(&ba, spec, NULL));
    CHECK(bs_count(&ba, "(\"text\" \"plain\"") == LWM_MIME_MAX_PARTS - 1);

    /* exactly as many parts as fit */
    n = gen_many(msgbuf, LWM_MIME_MAX_PARTS - 1);
    REQUIRE(make_blob(&ba, msgbuf, n, FEED_ALL, 0) == 0);
    CHECK(ba.s.nparts == LWM_MIME_MAX_PARTS);
    CHECK(blob_ok(&ba, "many-fit"));
}

/* Huge header values: cut at safe points, the arena shared, structure
 * kept. */
static void test_big_headers(void)
{
    size_t n = 0;
    int i;
    char line[64];
    struct lwm_mime_range r;
    const uint8_t *p;
    n = gen_put(msgbuf, n, "To: ");
    for (i = 0; i < 400; i++) {
        snprintf(line, sizeof line, "%s\"User %d\" <user%d@example.com>",
                 i ? ",\r\n " : "", i, i);
        n = gen_put(msgbuf, n, line);
    }
    n = gen_put(msgbuf, n, "\r\nSubject: ");
    for (i = 0; i < 300; i++)
        n = gen_put(msgbuf, n, "=?UTF-8?B?w6TDtsO8?= \xc3\xa4 ");
    n = gen_put(msgbuf, n, "\r\nCc: ");
    for (i = 0; i < 3000; i++)
        n = gen_put(msgbuf, n, "x");
    n = gen_put(msgbuf, n, "@example.com\r\nMIME-Version: 1.0\r\n"
                           "Content-Type: multipart/mixed; boundary=big\r\n"
                           "\r\n");
    for (i = 0; i < 20; i++) {
        snprintf(line, sizeof line,
                 "--big\r\nContent-Type: text/plain; name=\"f%d.txt\"\r\n", i);
        n = gen_put(msgbuf, n, line);
        n = gen_put(msgbuf, n, "Content-Disposition: attachment; "
                               "filename=\"a-rather-long-file-name-that-eats"
                               "-the-arena.txt\"\r\n\r\nbody\r\n");
    }
    n = gen_put(msgbuf, n, "--big--\r\n");
    REQUIRE(make_blob(&ba, msgbuf, n, FEED_ALL, 0) == 0);
    CHECK(blob_ok(&ba, "bigheaders"));
    CHECK(ba.s.nparts == 21);
    CHECK(bs_count(&ba, "(\"text\" \"plain\"") == 20); /* structure kept */
    CHECK(bs_count(&ba, "\"mixed\" (\"boundary\" \"big\")") == 1);
    /* the To list ends with a whole address */
    p = ba.b + ba.s.env_off;
    CHECK(has(p, ba.s.env_len, "\"example.com\")) ", 16));
    /* the subject was cut before an incomplete encoded word, whole
     * UTF-8 characters only (so it is a literal ending in one) */
    CHECK(has(p, ba.s.env_len, "w6TDtsO8?= \xc3\xa4 NIL", 17));
    /* the Cc without a comma: a single address too long to keep */
    for (i = FEED_BYTES; i < FEED_MODES; i++) {
        CHECK(make_blob(&bb, msgbuf, n, i, 42) == 0);
        CHECK(bb.len == ba.len && memcmp(bb.b, ba.b, ba.len) == 0);
    }
    CHECK(section(&ba, "20", &r) == 0 && r.found && r.len == 4);

    /* a 200 KB header line and a 200 KB body line */
    n = gen_put(msgbuf, 0, "Subject: ");
    for (i = 0; i < 200000; i++)
        msgbuf[n++] = (uint8_t)('a' + i % 26);
    n = gen_put(msgbuf, n, "\r\nContent-Type: multipart/mixed; boundary=x\r\n"
                           "\r\n--x\r\n\r\n");
    for (i = 0; i < 200000; i++)
        msgbuf[n++] = '-';
    n = gen_put(msgbuf, n, "\r\n--x--\r\n");
    REQUIRE(make_blob(&ba, msgbuf, n, FEED_LARGE, 3) == 0);
    CHECK(blob_ok(&ba, "longlines"));
    CHECK(section(&ba, "1", &r) == 0 && r.found && r.len == 200000);

    /* NULs in headers are dropped, in bodies counted */
    memcpy(msgbuf, "Subject: a\0b\r\nFrom: x\0@y\r\n\r\n\0\0\r\n", 31);
    REQUIRE(make_blob(&ba, msgbuf, 31, FEED_BYTES, 0) == 0);
    CHECK(blob_ok(&ba, "nul"));
    CHECK(str_is(ba.b + ba.s.env_off, ba.s.env_len,
                 "(NIL \"ab\" ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) "
                 "((NIL NIL \"x\" \"y\")) NIL NIL NIL NIL NIL)"));
    CHECK(sec_is(&ba, "1", NULL) == 0);
}

/* ========================================================== degradation */

static void test_levels(void)
{
    static const char rich[] =
        "From: \"A\" <a@example.com>, b@example.com\n"
        "To: c@example.com, d@example.com, g: e@example.com;\n"
        "Subject: levels\n"
        "Date: Thu, 3 Feb 2026 10:00:00 +0000\n"
        "Message-ID: <levels@example.com>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=L1\n"
        "\n"
        "--L1\n"
        "Content-Type: text/plain; charset=utf-8; format=flowed\n"
        "Content-ID: <x@y>\n"
        "Content-Disposition: inline\n"
        "\n"
        "hello\n"
        "--L1\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "From: inner@example.com\n"
        "To: x@example.com, y@example.com\n"
        "Subject: inner\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/alternative; boundary=L2\n"
        "\n"
        "--L2\n"
        "Content-Type: multipart/related; boundary=L3\n"
        "\n"
        "--L3\n"
        "Content-Type: text/html\n"
        "\n"
        "<p>x</p>\n"
        "--L3--\n"
        "--L2--\n"
        "--L1--\n";
    size_t n = crlf(rich, msgbuf, sizeof msgbuf);
    uint32_t max, full, seen = 0;
    int last = -1;
    REQUIRE(make_blob(&ba, msgbuf, n, FEED_ALL, 0) == 0);
    full = ba.len;
    CHECK(ba.s.level == 0);
    for (max = full; max >= 512; max -= 7) {
        if (!CHECK(make_blob_max(&bb, msgbuf, n, FEED_ALL, 0, max) == 0))
            break;
        CHECK(bb.len <= max);
        CHECK((int)bb.s.level >= last); /* less room, never more detail */
        last = bb.s.level;
        seen |= 1u << bb.s.level;
        if (!blob_ok(&bb, "levels")) {
            CHECK(0);
            fprintf(stderr, "  at level %d\n", bb.s.level);
            break;
        }
        if (bb.s.level == 5) {
            CHECK(bb.s.nparts == 1);
            CHECK(sec_is(&bb, "2", NULL));
            CHECK(section(&bb, "1", &(struct lwm_mime_range){ 0 }) == 0);
        }
    }
    CHECK(seen == 0x3F); /* every level met on the way down */
    if (verbose)
        fprintf(stderr, "levels: full %u, seen %x\n", full, seen);
    CHECK(make_blob_max(&bb, msgbuf, n, FEED_ALL, 0, 1) == 0 &&
          bb.len <= 512 && bb.s.level == 5 && blob_ok(&bb, "min"));

    /* a message whose full summary is over LWM_SUMMARY_MAX by itself:
     * thousands of empty groups (11 bytes out for every 3 in) */
    n = gen_put(msgbuf, 0, "To: ");
    for (max = 0; max < 400; max++)
        n = gen_put(msgbuf, n, "g:;");
    n = gen_put(msgbuf, n, "\r\nContent-Type: message/rfc822\r\n\r\nCc: ");
    for (max = 0; max < 400; max++)
        n = gen_put(msgbuf, n, "h:;");
    n = gen_put(msgbuf, n, "\r\n\r\nbody\r\n");
    REQUIRE(make_blob(&ba, msgbuf, n, FEED_ALL, 0) == 0);
    CHECK(ba.len <= LWM_SUMMARY_MAX && ba.s.level > 0);
    CHECK(blob_ok(&ba, "groups"));
    if (verbose)
        fprintf(stderr, "groups: %u bytes at level %d\n", ba.len,
                ba.s.level);
}

/* ====================================================== damaged blobs */

static int fail_rd(void *ctx, uint32_t off, void *buf, uint32_t len)
{
    (void)ctx, (void)off, (void)buf, (void)len;
    return LWM_ERR_IO;
}

static int short_rd(void *ctx, uint32_t off, void *buf, uint32_t len)
{
    int r = mem_rd(ctx, off, buf, len);
    return r > 0 ? r - 1 : r;
}

static void test_damaged_blob(void)
{
    struct lwm_mime_sum s;
    struct lwm_mime_range r;
    uint32_t i, seed = 777, path[4];
    load("rfc822");
    bb = ba;
    CHECK(lwm_mime_sum_info(fail_rd, &bb, bb.len, &s) == LWM_ERR_IO);
    CHECK(lwm_mime_sum_info(short_rd, &bb, bb.len, &s) == LWM_ERR_IO);
    CHECK(lwm_mime_sum_info(mem_rd, &bb, 39, &s) == LWM_ERR_CORRUPT);
    CHECK(lwm_mime_sum_info(mem_rd, &bb, bb.len - 1, &s) == LWM_ERR_CORRUPT);
    bb.b[0] ^= 1;
    CHECK(lwm_mime_sum_info(mem_rd, &bb, bb.len, &s) == LWM_ERR_CORRUPT);
    bb.b[0] ^= 1;
    bb.b[4] = 2;
    CHECK(lwm_mime_sum_info(mem_rd, &bb, bb.len, &s) == LWM_ERR_CORRUPT);
    bb.b[4] = 1;
    CHECK(lwm_mime_sum_info(mem_rd, &bb, bb.len, &s) == 0);
    path[0] = 2;
    CHECK(lwm_mime_section(fail_rd, &bb, &s, path, 1, 0, &r) == LWM_ERR_IO);
    /* any flipped bit in the header or the part table is caught */
    for (i = 0; i < 2000; i++) {
        uint32_t tab = LWM_MIME_BLOB_HDR + ba.s.nparts * LWM_MIME_BLOB_ENT;
        uint32_t at = xorshift32(&seed) % tab;
        uint8_t bit = (uint8_t)(1u << (xorshift32(&seed) % 8));
        bb.b[at] ^= bit;
        CHECK(lwm_mime_sum_info(mem_rd, &bb, bb.len, &s) == LWM_ERR_CORRUPT);
        bb.b[at] ^= bit;
    }
    /* a forged table with a good CRC: sections stay in range or fail */
    for (i = 0; i < 2000; i++) {
        uint32_t tab = LWM_MIME_BLOB_HDR + ba.s.nparts * LWM_MIME_BLOB_ENT;
        uint32_t at = LWM_MIME_BLOB_HDR + xorshift32(&seed) % (tab - 40), crc;
        int k, err;
        bb = ba;
        bb.b[at] = (uint8_t)xorshift32(&seed);
        crc = lwm_crc32c(0, bb.b, 36);
        crc = lwm_crc32c(crc, bb.b + 40, tab - 40);
        bb.b[36] = (uint8_t)crc, bb.b[37] = (uint8_t)(crc >> 8);
        bb.b[38] = (uint8_t)(crc >> 16), bb.b[39] = (uint8_t)(crc >> 24);
        if (lwm_mime_sum_info(mem_rd, &bb, bb.len, &s) != 0)
            continue;
        for (k = 0; k < 4; k++)
            path[k] = 1 + xorshift32(&seed) % 3;
        err = lwm_mime_section(mem_rd, &bb, &s, path,
                               1 + (int)(xorshift32(&seed) % 4),
                               (int)(xorshift32(&seed) % 4), &r);
        CHECK(err == 0 || err == LWM_ERR_CORRUPT);
        if (err == 0 && r.found)
            CHECK(r.off <= s.msg_size && r.len <= s.msg_size - r.off);
    }
}

/* ============================================================ mutations */

static const char *const dict[] = {
    "\r\n", "\n", "\r", "\r\n\r\n", "--", "--=_alt_42", "--outer", "--inner",
    "--b1", "--d", "--m", "--\r\n", "Content-Type: multipart/mixed; "
    "boundary=x\r\n", "Content-Type: message/rfc822\r\n",
    "Content-Type: multipart/digest; boundary=\"d\"\r\n", "\r\n--x\r\n",
    "\r\n--x--\r\n", "Content-Transfer-Encoding: base64\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n", "=\r\n", "=4", "=",
    "\"", "(", ")", "<", ">", "@", ",", ";", ":", "\\", "=?utf-8?q?",
    "?=", " ", "\t", "\r\n ", "\xc3", "\xff", "\0", "From: a@b\r\n",
    "To: g:;\r\n", "boundary=", "\"a\\\"", "Content-Disposition: x; a=\"",
};

static size_t mutate(uint8_t *b, size_t n, size_t cap, uint32_t *seed)
{
    int k, muts = 1 + (int)(xorshift32(seed) % 8);
    for (k = 0; k < muts; k++) {
        uint32_t op = xorshift32(seed) % 7;
        size_t at = n ? xorshift32(seed) % (n + 1) : 0, len;
        if (op == 0 && n > 0 && at < n) {
            b[at] ^= (uint8_t)(1u << (xorshift32(seed) % 8));
        } else if (op == 1 || op == 2) {
            const char *t = dict[xorshift32(seed) % (sizeof dict /
                                                     sizeof dict[0])];
            len = strlen(t) + (t[0] == '\0');
            if (n + len > cap)
                continue;
            memmove(b + at + len, b + at, n - at);
            memcpy(b + at, t, len);
            n += len;
        } else if (op == 3 && n > 0) {
            len = xorshift32(seed) % 40;
            if (at + len > n)
                len = n - at;
            memmove(b + at, b + at + len, n - at - len);
            n -= len;
        } else if (op == 4 && n > 0) {
            size_t from = xorshift32(seed) % n;
            len = 1 + xorshift32(seed) % 200;
            if (from + len > n)
                len = n - from;
            if (n + len > cap)
                continue;
            memmove(b + at + len, b + at, n - at);
            memmove(b + at, b + (from < at ? from : from + len), len);
            n += len;
        } else if (op == 5) {
            n = at; /* truncate */
        } else if (op == 6 && n > 0 && at < n) {
            b[at] = (uint8_t)xorshift32(seed);
        }
    }
    return n;
}

static void test_mutations(uint32_t seed, unsigned iters)
{
    static uint8_t base[1u << 16];
    unsigned it;
    uint32_t path[6];
    struct lwm_mime_range r;
    for (it = 0; it < iters; it++) {
        uint32_t s0 = seed + it * 2654435761u, s = s0;
        size_t n, k;
        int mode = (int)(xorshift32(&s) % FEED_MODES), np, err;
        uint32_t max = xorshift32(&s) % 5 == 0
                           ? 512 + xorshift32(&s) % 4000
                           : 0;
        if (xorshift32(&s) % 4 == 0) {
            n = xorshift32(&s) % 2 ? gen_deep(base, 1 + (int)(xorshift32(&s)
                                                              % 12),
                                              (int)(xorshift32(&s) % 2))
                                   : gen_many(base, 1 + (int)(xorshift32(&s)
                                                              % 40));
        } else {
            n = corpus_bytes(&corpus[xorshift32(&s) % NCORPUS], base,
                             sizeof base / 2);
        }
        n = mutate(base, n, sizeof base, &s);
        if (xorshift32(&s) % 8 == 0) /* pure garbage now and then */
            for (k = 0; k < n; k++)
                base[k] = (uint8_t)xorshift32(&s);
        memcpy(msgbuf, base, n);
        if (!CHECK(make_blob_max(&ba, msgbuf, n, mode, s, max) == 0)) {
            fprintf(stderr, "mutation iteration %u (seed %u)\n", it, s0);
            continue;
        }
        if (!CHECK(blob_ok(&ba, "mutation")))
            fprintf(stderr, "mutation iteration %u (seed %u)\n", it, s0);
        if (it % 5 == 0) {
            CHECK(make_blob_max(&bb, msgbuf, n, FEED_ALL, 0, max) == 0);
            if (!CHECK(bb.len == ba.len && memcmp(bb.b, ba.b, ba.len) == 0))
                fprintf(stderr, "mutation iteration %u (seed %u): blob "
                        "depends on chunking\n", it, s0);
        }
        check_binary_sizes(&ba, &s);
        for (k = 0; k < 8; k++) {
            int j;
            np = (int)(xorshift32(&s) % 6);
            for (j = 0; j < np; j++)
                path[j] = 1 + xorshift32(&s) % 4;
            err = lwm_mime_section(mem_rd, &ba, &ba.s, path, np,
                                   (int)(xorshift32(&s) % 4), &r);
            CHECK(err == 0);
            if (r.found)
                CHECK(r.off <= n && r.len <= n - r.off);
        }
    }
}

int main(int argc, char **argv)
{
    int i;
    uint32_t seed = 20260201;
    unsigned iters = 3000;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
            return dump(argv[++i]);
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = (uint32_t)strtoul(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            iters = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
    }
    printf("sizeof(struct lwm_mime) = %zu\n", sizeof(struct lwm_mime));
    test_corpus();
    test_golden();
    test_sections();
    test_binary_sizes();
    test_decoders();
    test_generated();
    test_big_headers();
    test_levels();
    test_damaged_blob();
    test_mutations(seed, iters);
    return check_summary("test_mime");
}
