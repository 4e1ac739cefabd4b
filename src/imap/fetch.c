/*
 * lwmail IMAP - FETCH and UID FETCH.
 *
 * A generator: each step emits what fits in the output buffer and
 * remembers where it stopped (message, attribute, offset in the literal).
 * Literals stream from flash into the output buffer; ENVELOPE and
 * BODYSTRUCTURE come ready-made from the summary stored at APPEND
 * (src/mime), so nothing is parsed here. BINARY[] decodes on the fly;
 * HEADER.FIELDS filters the header twice (once to learn the literal's
 * size, once to send it), in bounded chunks both times.
 */
#include <string.h>

#include "imap/args.h"
#include "imap/imap_int.h"
#include "util/lwm_util.h"

#define CHUNK 512u              /* bytes read from flash per pass */
#define FETCH_STEP_READ 16384u  /* flash bytes one step may read without
                                   sending them (HEADER.FIELDS, BINARY) */

static struct lwm_store *st_of(struct imap_sess *s)
{
    return sess_srv(s)->store;
}

/* ------------------------------------------------ parsing attributes */

static int parse_u32(const uint8_t *p, size_t n, uint32_t *v)
{
    uint64_t x = 0;
    size_t i;
    if (n == 0 || n > 10)
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(p[i] - '0');
    }
    if (x > 0xFFFFFFFFu)
        return -1;
    *v = (uint32_t)x;
    return 0;
}

/* The section spec between "[" and "]" (RFC 9051 section 9):
 *   section-spec = section-msgtext / (section-part ["." section-text])
 *   section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list
 *                     / "TEXT"
 *   section-text = section-msgtext / "MIME" */
static int parse_section(const uint8_t *base, uint32_t off, uint32_t len,
                         struct fetch_att *a, int binary)
{
    const uint8_t *p = base + off;
    size_t i = 0;
    a->npath = 0;
    a->sec = SEC_ALL;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        size_t j = i;
        uint32_t v;
        while (j < len && p[j] >= '0' && p[j] <= '9')
            j++;
        if (parse_u32(p + i, j - i, &v) < 0 || v == 0 ||
            a->npath == IMAP_PATH_MAX || v > 0xFFFF)
            return -1;
        a->path[a->npath++] = (uint16_t)v;
        i = j;
        if (i < len) {
            if (p[i] != '.')
                return -1;
            i++;
            if (i == len)
                return -1;
        }
    }
    if (i == len)
        return 0;
    if (binary)
        return -1;              /* BINARY takes part numbers only */
    if (len - i == 4 && lwm_ieq(p + i, "TEXT", 4)) {
        a->sec = SEC_TEXT;
    } else if (len - i == 6 && lwm_ieq(p + i, "HEADER", 6)) {
        a->sec = SEC_HEADER;
    } else if (len - i == 4 && lwm_ieq(p + i, "MIME", 4) && a->npath) {
        a->sec = SEC_MIME;
    } else if (len - i > 14 && lwm_ieq(p + i, "HEADER.FIELDS", 13)) {
        size_t j = i + 13;
        a->sec = SEC_FIELDS;
        if (len - j > 4 && lwm_ieq(p + j, ".NOT", 4)) {
            a->sec = SEC_FIELDS_NOT;
            j += 4;
        }
        if (p[j] != ' ' || p[j + 1] != '(' || p[len - 1] != ')' ||
            len - j < 4)
            return -1;
        a->fld_off = off + (uint32_t)j + 2;
        a->fld_len = len - (uint32_t)j - 3;
        if (a->fld_len == 0)
            return -1;
    } else {
        return -1;
    }
    return 0;
}

/* The attributes' names by kind (enum fetch_kind); those with a section
 * have none here */
static const char att_names[] =
    "\0UID\0FLAGS\0INTERNALDATE\0RFC822.SIZE\0ENVELOPE\0BODY\0BODYSTRUCTURE\0"
    "\0\0RFC822\0RFC822.HEADER\0RFC822.TEXT";

/* One fetch attribute token */
static int parse_att(struct imap_sess *s, const struct lwm_tok *t,
                     struct fetch_att *a)
{
    static const char sec_atts[] =
        "BODY[\0BODY.PEEK[\0BINARY[\0BINARY.PEEK[\0BINARY.SIZE[\0";
    static const uint8_t sec_att_flags[] = {
        0, FAF_PEEK, FAF_BINARY, FAF_BINARY | FAF_PEEK, FAF_BINARY | FAF_PEEK
    };
    const uint8_t *base = sess_rx(s);
    const uint8_t *p = base + t->off;
    const char *w;
    size_t n = t->len, i, k;
    memset(a, 0, sizeof *a);
    if (t->type != LWM_TOK_ATOM)
        return -1;
    for (i = FA_UID; i <= FA_RFC822_TEXT; i++) {
        const char *name = lwm_str_at(att_names, i);
        if (*name && strlen(name) == n && lwm_ieq(p, name, n)) {
            a->kind = (uint8_t)i;
            return 0;
        }
    }
    /* BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...],
     * BINARY.SIZE[...], each with an optional <origin.count> */
    for (i = 0, w = sec_atts; *w; i++, w += k + 1) {
        k = strlen(w);
        if (n > k && lwm_ieq(p, w, k))
            break;
    }
    if (!*w)
        return -1;
    a->flags = sec_att_flags[i];
    a->kind = i == 4 ? FA_BINARY_SIZE : FA_SECTION;
    {
        const uint8_t *close = memchr(p + k, ']', n - k);
        size_t end;
        if (!close)
            return -1;
        end = (size_t)(close - p);
        a->sec_off = t->off + (uint32_t)k;
        a->sec_len = (uint32_t)(end - k);
        /* it is echoed in the response: keep it within a step's room */
        if (a->sec_len > IMAP_TX_RESERVE / 2)
            return -2;
        if (parse_section(base, a->sec_off, a->sec_len, a,
                          (a->flags & FAF_BINARY) != 0) < 0)
            return -1;
        k = end + 1;
    }
    if (k < n) {
        /* <origin.count> */
        const uint8_t *dot;
        if (a->kind == FA_BINARY_SIZE || p[k] != '<' || p[n - 1] != '>')
            return -1;
        dot = memchr(p + k, '.', n - k);
        if (!dot || parse_u32(p + k + 1, (size_t)(dot - p - k - 1),
                              &a->part_off) < 0 ||
            parse_u32(dot + 1, (size_t)(p + n - 1 - dot - 1),
                      &a->part_len) < 0 || a->part_len == 0)
            return -1;
        a->flags |= FAF_PARTIAL;
    }
    return 0;
}

static int add_att(struct imap_sess *s, uint8_t kind)
{
    struct fetch_state *f = &s->u.f;
    if (f->natts == LWM_IMAP_FETCH_ATTS)
        return -1;
    memset(&f->atts[f->natts], 0, sizeof f->atts[0]);
    f->atts[f->natts++].kind = kind;
    return 0;
}

/* ------------------------------------------------ the summary */

static int sum_read(void *ctx, uint32_t off, void *buf, uint32_t len)
{
    struct imap_sess *s = ctx;
    return lwm_msg_summary(st_of(s), &s->u.f.msg, off, buf, len);
}

static int have_summary(struct imap_sess *s)
{
    struct fetch_state *f = &s->u.f;
    if (!f->have_sum) {
        f->have_sum = 2;
        if (f->msg.sum_len &&
            lwm_mime_sum_info(sum_read, s, f->msg.sum_len, &f->sum) == 0)
            f->have_sum = 1;
    }
    return f->have_sum == 1;
}

/* Resolve a section to a message range; 0 found, 1 absent, <0 error */
static int resolve(struct imap_sess *s, const struct fetch_att *a, int kind,
                   struct lwm_mime_range *r)
{
    uint32_t path[IMAP_PATH_MAX];
    int i;
    memset(r, 0, sizeof *r);
    if (!have_summary(s)) {
        /* no summary (a damaged one): only the whole message is known */
        if (a->npath == 0 && kind == LWM_MIME_SEC_ALL) {
            r->len = s->u.f.msg.size;
            r->binary_size = r->len;
            r->found = 1;
            return 0;
        }
        return 1;
    }
    for (i = 0; i < a->npath; i++)
        path[i] = a->path[i];
    if (lwm_mime_section(sum_read, s, &s->u.f.sum, path, a->npath, kind,
                         r) < 0)
        return 1;
    return r->found ? 0 : 1;
}

static int sec_kind(uint8_t sec)
{
    switch (sec) {
    case SEC_HEADER:
    case SEC_FIELDS:
    case SEC_FIELDS_NOT: return LWM_MIME_SEC_HEADER;
    case SEC_TEXT: return LWM_MIME_SEC_TEXT;
    case SEC_MIME: return LWM_MIME_SEC_MIME;
    default: return LWM_MIME_SEC_ALL;
    }
}

/* ------------------------------------------------ HEADER.FIELDS */

/* Is the field name (fl_name) in the attribute's list? */
static int field_listed(struct imap_sess *s, const struct fetch_att *a)
{
    const uint8_t *p = sess_rx(s) + a->fld_off;
    const char *name = s->u.f.fl_name;
    size_t n = s->u.f.fl_nlen, i = 0, len = a->fld_len;
    while (i < len) {
        size_t j;
        while (i < len && p[i] == ' ')
            i++;
        if (i < len && p[i] == '"') {
            j = ++i;
            while (j < len && p[j] != '"')
                j++;
            if (j - i == n && lwm_ieq(p + i, name, n))
                return 1;
            i = j + 1;
            continue;
        }
        j = i;
        while (j < len && p[j] != ' ')
            j++;
        if (j - i == n && lwm_ieq(p + i, name, n))
            return 1;
        i = j;
    }
    return 0;
}

/* Filter header bytes; writes kept bytes to out (NULL: count only).
 * Returns the output size. States: 0 line start, 1 in a name, 2 in a
 * kept line, 3 in a dropped line, 4 the header has ended. */
static size_t fields_run(struct imap_sess *s, const struct fetch_att *a,
                         const uint8_t *in, size_t n, uint8_t *out)
{
    struct fetch_state *f = &s->u.f;
    size_t i, o = 0;
    int want = a->sec == SEC_FIELDS;
#define EMIT(c)                                                             \
    do {                                                                    \
        if (out)                                                            \
            out[o] = (c);                                                   \
        o++;                                                                \
    } while (0)
    for (i = 0; i < n && f->fl_state != 4; i++) {
        uint8_t c = in[i];
        switch (f->fl_state) {
        case 0:
            if (c == '\r')
                continue;       /* a blank line: the end */
            if (c == '\n') {
                f->fl_state = 4;
                break;
            }
            if (c == ' ' || c == '\t') {
                /* a continuation line belongs to the field before */
                f->fl_state = f->fl_keep ? 2 : 3;
                if (f->fl_keep)
                    EMIT(c);
                break;
            }
            f->fl_nlen = 0;
            f->fl_state = 1;
            /* fall through */
        case 1:
            if (c == ':' || c == '\n' ||
                f->fl_nlen == sizeof f->fl_name) {
                size_t k;
                f->fl_keep = (uint8_t)(field_listed(s, a) == want);
                if (f->fl_keep)
                    for (k = 0; k < f->fl_nlen; k++)
                        EMIT((uint8_t)f->fl_name[k]);
                f->fl_state = f->fl_keep ? 2 : 3;
                if (f->fl_keep)
                    EMIT(c);
                if (c == '\n')
                    f->fl_state = 0;
                break;
            }
            f->fl_name[f->fl_nlen++] = (char)c;
            break;
        case 2:
            EMIT(c);
            if (c == '\n')
                f->fl_state = 0;
            break;
        case 3:
            if (c == '\n')
                f->fl_state = 0;
            break;
        }
    }
#undef EMIT
    return o;
}

/* ------------------------------------------------ streaming literals */

/* Where the next output bytes go: room at the end of the buffer */
static uint8_t *tx_tail(struct imap_sess *s, size_t *room)
{
    struct lwm_server *srv = sess_srv(s);
    int k = s->slot;
    if (srv->tx_head[k]) {
        memmove(srv->tx[k], srv->tx[k] + srv->tx_head[k], srv->tx_len[k]);
        srv->tx_head[k] = 0;
    }
    *room = LWM_IMAP_TXBUF - srv->tx_len[k];
    return srv->tx[k] + srv->tx_len[k];
}

static void tx_commit(struct imap_sess *s, size_t n)
{
    sess_srv(s)->tx_len[s->slot] += (uint32_t)n;
}

/* Emit generated bytes, honouring skip (partial origin) and left */
static void emit_limited(struct imap_sess *s, const uint8_t *p, size_t n)
{
    struct fetch_state *f = &s->u.f;
    if (f->skip) {
        size_t d = n < f->skip ? n : f->skip;
        f->skip -= (uint32_t)d;
        p += d;
        n -= d;
    }
    if (n > f->left)
        n = f->left;
    out_raw(s, p, n);
    f->left -= (uint32_t)n;
}

/* Pump the current literal; returns 1 when it is complete */
static int pump(struct imap_sess *s)
{
    struct fetch_state *f = &s->u.f;
    const struct fetch_att *a = &f->atts[f->att];
    uint8_t buf[CHUNK];
    while (f->left && tx_free(s) > 64 && f->step_read < FETCH_STEP_READ) {
        size_t room;
        uint8_t *dst = tx_tail(s, &room);
        uint32_t want;
        int n;
        if (room > 64)
            room -= 64;         /* keep a little for the closing bytes */
        switch (f->src) {
        case SRC_MSG:
            /* zero copy: with nothing queued and the flash memory-mapped,
             * hand the port the flash bytes themselves, as long as it
             * takes all of them (else the rest goes through the output
             * buffer, so the port knows to wait for send room) */
            if (!sess_srv(s)->tx_len[s->slot]) {
                const uint8_t *fp;
                int span = lwm_msg_ptr(st_of(s), &f->msg, f->off, &fp);
                if (span > 0) {
                    uint32_t k = f->left < (uint32_t)span ? f->left
                                                          : (uint32_t)span;
                    int r = memchr(fp, 0, k) ? 0
                                             : srv_conn_send(sess_srv(s),
                                                             s->slot, fp, k);
                    if (r > 0) {
                        f->off += (uint32_t)r;
                        f->left -= (uint32_t)r;
                        s->tx_ms = s->last_ms = srv_now(sess_srv(s));
                        if ((uint32_t)r == k)
                            continue;
                    }
                }
            }
            /* fall through */
        case SRC_SUM:
            want = f->left < room ? f->left : (uint32_t)room;
            n = f->src == SRC_MSG
                    ? lwm_msg_read(st_of(s), &f->msg, f->off, dst, want)
                    : lwm_msg_summary(st_of(s), &f->msg, f->off, dst, want);
            if (n <= 0) {
                f->src = SRC_PAD;       /* damaged: keep the length */
                continue;
            }
            if (f->src == SRC_MSG) {
                /* a literal may not hold NUL (RFC 9051 9): a message
                 * APPENDed as literal8 shows it as 0x80 here, as Dovecot
                 * does; BINARY[] sends the bytes as they are */
                uint8_t *z = dst, *e = dst + n;
                while ((z = memchr(z, 0, (size_t)(e - z))) != NULL)
                    *z++ = 0x80;
            }
            tx_commit(s, (size_t)n);
            f->off += (uint32_t)n;
            f->left -= (uint32_t)n;
            break;
        case SRC_FIELDS:
        case SRC_DECODE: {
            size_t used = 0, made;
            uint8_t out[CHUNK + 80];
            if (tx_free(s) < sizeof out + 8)
                return 0;       /* a whole chunk's output must fit */
            want = CHUNK;
            if (f->off >= f->end) {
                n = 0;
            } else {
                if (want > f->end - f->off)
                    want = f->end - f->off;
                n = lwm_msg_read(st_of(s), &f->msg, f->off, buf, want);
                if (n <= 0)
                    n = 0;
            }
            f->step_read += (uint32_t)n;
            if (f->src == SRC_FIELDS) {
                uint8_t *z;
                if (n == 0) {
                    f->src = SRC_PAD;
                    continue;
                }
                made = fields_run(s, a, buf, (size_t)n, out);
                for (z = out; (z = memchr(z, 0, (size_t)(out + made - z)));)
                    *z++ = 0x80;        /* no NUL in {n} (see SRC_MSG) */
                f->off += (uint32_t)n;
                if (f->fl_state == 4)
                    f->off = f->end;
                emit_limited(s, out, made);
                if (f->off >= f->end && f->left) {
                    /* the blank line that ends the header */
                    emit_limited(s, (const uint8_t *)"\r\n", 2);
                    if (f->left)
                        f->src = SRC_PAD;
                }
                break;
            }
            /* decode: out never gets more than sizeof out bytes */
            made = lwm_mime_dec_run(&f->dec, buf, (size_t)n, &used, out,
                                    sizeof out);
            f->off += (uint32_t)used;
            if (n == 0 && made == 0) {
                f->src = SRC_PAD;
                continue;
            }
            emit_limited(s, out, made);
            break;
        }
        case SRC_PAD:
        default: {
            /* the source ended early (damaged flash): keep the literal's
             * promised length so the client stays in step */
            size_t k = f->left < room ? f->left : room;
            memset(dst, ' ', k);
            tx_commit(s, k);
            f->left -= (uint32_t)k;
            break;
        }
        }
    }
    return f->left == 0;
}

/* ------------------------------------------------ one attribute */

static void out_section_name(struct imap_sess *s, const struct fetch_att *a)
{
    out_fmt(s, (a->flags & FAF_PARTIAL) ? "%s[%b]<%u> " : "%s[%b] ",
            (a->flags & FAF_BINARY) ? "BINARY" : "BODY",
            sess_rx(s) + a->sec_off, (size_t)a->sec_len, a->part_off);
}

/* Start a literal of n bytes from the given source */
static void start_literal(struct imap_sess *s, int binary, uint32_t n)
{
    out_fmt(s, "%s{%u}\r\n", binary ? "~" : "", n);
    s->u.f.left = n;
}

/* Clip a range to the attribute's <origin.count> */
static void clip(const struct fetch_att *a, uint32_t total, uint32_t *skip,
                 uint32_t *n)
{
    *skip = 0;
    *n = total;
    if (a->flags & FAF_PARTIAL) {
        *skip = a->part_off < total ? a->part_off : total;
        *n = total - *skip;
        if (*n > a->part_len)
            *n = a->part_len;
    }
}

/* Emit attribute a; returns 0 done (or streaming started), <0: answer
 * NO [UNKNOWN-CTE] */
static int emit_att(struct imap_sess *s, const struct fetch_att *a)
{
    struct fetch_state *f = &s->u.f;
    struct lwm_mime_range r;
    uint32_t skip, n;
    f->src = SRC_NONE;
    f->left = 0;
    f->skip = 0;
    if (*lwm_str_at(att_names, a->kind))
        out_fmt(s, "%s ", lwm_str_at(att_names, a->kind));
    switch (a->kind) {
    case FA_UID:
        out_u32(s, f->msg.uid);
        return 0;
    case FA_FLAGS: {
        const struct lwm_msg_ent *e =
            lwm_msg_entry(st_of(s), s->view.mbox, f->idx);
        out_flags(s, s->view.mbox, e ? e->flags : f->msg.flags);
        return 0;
    }
    case FA_INTERNALDATE: {
        char d[27];
        lwm_imap_format_datetime(f->msg.date, d);
        out_fmt(s, "\"%s\"", d);
        return 0;
    }
    case FA_SIZE:
        out_u32(s, f->msg.size);
        return 0;
    case FA_ENVELOPE:
    case FA_BODY:
    case FA_BODYSTRUCTURE:
        if (!have_summary(s)) {
            out_fmt(s, a->kind == FA_ENVELOPE
                           ? "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
                           : "(\"text\" \"plain\" NIL NIL NIL \"7bit\" %u 0)",
                    f->msg.size);
            return 0;
        }
        f->src = SRC_SUM;
        if (a->kind == FA_ENVELOPE) {
            f->off = f->sum.env_off;
            f->left = f->sum.env_len;
        } else if (a->kind == FA_BODY) {
            f->off = f->sum.body_off;
            f->left = f->sum.body_len;
        } else {
            f->off = f->sum.bs_off;
            f->left = f->sum.bs_len;
        }
        return 0;
    case FA_RFC822:
    case FA_RFC822_HEADER:
    case FA_RFC822_TEXT: {
        struct fetch_att whole;
        memset(&whole, 0, sizeof whole);
        if (resolve(s, &whole,
                    a->kind == FA_RFC822          ? LWM_MIME_SEC_ALL
                    : a->kind == FA_RFC822_HEADER ? LWM_MIME_SEC_HEADER
                                                  : LWM_MIME_SEC_TEXT,
                    &r) != 0) {
            out_str(s, "\"\"");
            return 0;
        }
        start_literal(s, 0, r.len);
        f->src = SRC_MSG;
        f->off = r.off;
        return 0;
    }
    case FA_BINARY_SIZE:
        out_fmt(s, "BINARY.SIZE[%b] ", sess_rx(s) + a->sec_off,
                (size_t)a->sec_len);
        if (resolve(s, a, LWM_MIME_SEC_ALL, &r) != 0) {
            out_str(s, "0");
            return 0;
        }
        if (r.encoding == LWM_MIME_ENC_UNKNOWN)
            return -1;
        out_u32(s, r.binary_size);
        return 0;
    case FA_SECTION:
        out_section_name(s, a);
        if (resolve(s, a, sec_kind(a->sec), &r) != 0) {
            out_str(s, "NIL");
            return 0;
        }
        if (a->flags & FAF_BINARY) {
            if (r.encoding == LWM_MIME_ENC_UNKNOWN)
                return -1;
            clip(a, r.binary_size, &skip, &n);
            start_literal(s, 1, n);
            lwm_mime_dec_init(&f->dec, r.encoding);
            f->src = SRC_DECODE;
            f->off = r.off;
            f->end = r.off + r.len;
            f->skip = skip;
            return 0;
        }
        if (a->sec == SEC_FIELDS || a->sec == SEC_FIELDS_NOT) {
            /* pass 1 sizes the filtered header (fetch_step runs it in
             * bounded chunks); the literal starts after it */
            f->counting = 1;
            f->rng_off = r.off;
            f->rng_len = r.len;
            f->off = r.off;
            f->end = r.off + r.len;
            f->count = 0;
            f->fl_state = 0;
            f->fl_keep = 0;
            return 0;
        }
        clip(a, r.len, &skip, &n);
        start_literal(s, 0, n);
        f->src = SRC_MSG;
        f->off = r.off + skip;
        return 0;
    }
    return 0;
}

/* HEADER.FIELDS pass 1, in bounded chunks; 1 when the size is known */
static int count_fields(struct imap_sess *s)
{
    struct fetch_state *f = &s->u.f;
    const struct fetch_att *a = &f->atts[f->att];
    uint8_t buf[CHUNK];
    uint32_t budget = 8;
    while (budget--) {
        int n = 0;
        if (f->off < f->end && f->fl_state != 4) {
            uint32_t want = f->end - f->off < CHUNK ? f->end - f->off
                                                     : CHUNK;
            n = lwm_msg_read(st_of(s), &f->msg, f->off, buf, want);
        }
        if (n <= 0) {
            uint32_t skip, len;
            f->count += 2;      /* the blank line */
            f->counting = 0;
            clip(a, f->count, &skip, &len);
            start_literal(s, 0, len);
            f->src = SRC_FIELDS;
            f->skip = skip;
            f->off = f->rng_off;
            f->end = f->rng_off + f->rng_len;
            f->fl_state = 0;
            f->fl_keep = 0;
            return 1;
        }
        f->count += (uint32_t)fields_run(s, a, buf, (size_t)n, NULL);
        f->off += (uint32_t)n;
        f->step_read += (uint32_t)n;
    }
    return 0;
}

/* ------------------------------------------------ the generator */

/* BINARY of a part in an unknown transfer encoding is refused before
 * anything of the message is sent (RFC 3516 4.3: NO [UNKNOWN-CTE]) */
static int binary_decodable(struct imap_sess *s)
{
    struct fetch_state *f = &s->u.f;
    uint8_t i;
    for (i = 0; i < f->natts; i++) {
        struct lwm_mime_range r;
        if (!(f->atts[i].flags & FAF_BINARY))
            continue;
        if (resolve(s, &f->atts[i], LWM_MIME_SEC_ALL, &r) == 0 &&
            r.encoding == LWM_MIME_ENC_UNKNOWN)
            return 0;
    }
    return 1;
}

static int next_message(struct imap_sess *s)
{
    struct fetch_state *f = &s->u.f;
    struct lwm_server *srv = sess_srv(s);
    uint32_t idx, seq;
    if (!view_set_next(s, f->set_tok, f->uid, &f->cursor, &idx,
                       &seq))
        return 0;
    f->idx = idx;
    f->seq = seq;
    f->epoch = srv_epoch(srv);
    f->have_sum = 0;
    f->seen_now = 0;
    if (lwm_msg_get(srv->store, s->view.mbox, idx, &f->msg) < 0)
        return -1;
    if (f->set_seen && !s->view.readonly &&
        !(f->msg.flags & LWM_FLAG_SEEN)) {
        uint32_t uid = f->msg.uid;
        if (view_store_flags(s, &uid, 1, LWM_FLAGS_ADD, LWM_FLAG_SEEN) > 0)
            f->seen_now = 1;
    }
    return 1;
}

/* Between steps other sessions may have expunged the message being sent,
 * and GC may have moved (or erased and reused) its body: find it again
 * by UID before reading on. A message that is gone ends with padding. */
static void refresh_message(struct imap_sess *s)
{
    struct fetch_state *f = &s->u.f;
    struct lwm_store *st = st_of(s);
    struct lwm_msg m;
    int k;
    uint32_t epoch = srv_epoch(sess_srv(s));
    if (!f->in_msg || f->gone || epoch == f->epoch)
        return;                 /* nothing moved since the last step */
    f->epoch = epoch;
    k = lwm_msg_find(st, s->view.mbox, f->msg.uid, 0);
    if (k < 0 || lwm_msg_get(st, s->view.mbox, (uint32_t)k, &m) < 0) {
        f->gone = 1;
        if (f->left)
            f->src = SRC_PAD;
        if (f->counting) {
            out_str(s, "NIL");  /* its name is out; the value can't be */
            f->counting = 0;
            f->att++;
        }
        return;
    }
    f->idx = (uint32_t)k;
    f->msg = m;
}

static int fetch_step(struct imap_sess *s)
{
    struct fetch_state *f = &s->u.f;
    refresh_message(s);
    f->step_read = 0;
    while (tx_free(s) >= IMAP_TX_RESERVE) {
        if (f->step_read >= FETCH_STEP_READ)
            return STEP_MORE;   /* yields: see sess_run */
        if (f->gone && !f->left && f->in_msg)
            f->att = f->natts;  /* nothing more of an expunged message */
        if (f->counting) {
            if (count_fields(s) && !f->left) {
                f->src = SRC_NONE;
                f->att++;
            }
            continue;
        }
        if (f->left || f->src == SRC_SUM) {
            if (!pump(s))
                continue;
            f->src = SRC_NONE;
            f->att++;
            continue;
        }
        if (!f->in_msg) {
            int r = next_message(s);
            if (r == 0)
                return resp_done(s);
            if (r < 0)
                continue;       /* unreadable: skip it */
            if (!binary_decodable(s))
                return resp_no(s, "[UNKNOWN-CTE] Cannot decode "
                                  "this part's transfer encoding");
            out_fmt(s, "* %u FETCH (", f->seq);
            f->in_msg = 1;
            f->att = 0;
            continue;
        }
        if (f->att == f->natts) {
            if (f->seen_now && !f->has_flags && !f->gone) {
                const struct lwm_msg_ent *e =
                    lwm_msg_entry(st_of(s), s->view.mbox, f->idx);
                out_str(s, " FLAGS ");
                out_flags(s, s->view.mbox, e ? e->flags : 0);
            }
            out_str(s, ")\r\n");
            f->in_msg = 0;
            continue;
        }
        if (f->att)
            out_raw(s, " ", 1);
        if (emit_att(s, &f->atts[f->att]) < 0) {
            out_str(s, ")\r\n");
            return resp_no(s, "[UNKNOWN-CTE] Cannot decode "
                              "this part's transfer encoding");
        }
        if (!f->left && f->src != SRC_SUM && !f->counting)
            f->att++;
    }
    return STEP_MORE;
}

int cmd_fetch(struct imap_sess *s)
{
    struct fetch_state *f = &s->u.f;
    uint32_t a = cmd_is(s, "UID") ? 1u : 0u, n = s->cmd.ntoks, i;
    int has_uid = 0, r;
    if (n < a + 2)
        return resp_bad(s, "FETCH needs a set and attributes");
    if (view_set_check(s, (uint16_t)a, (int)a) < 0)
        return STEP_DONE;
    memset(f, 0, sizeof *f);
    f->set_tok = (uint16_t)a;
    f->uid = (uint8_t)a;
    if (s->toks[a + 1].type == LWM_TOK_LIST) {
        if (s->toks[a + 1].len != n - 1)
            return resp_bad(s, "Unexpected FETCH arguments");
        for (i = a + 2; i < n - 1; i++) {
            if (f->natts == LWM_IMAP_FETCH_ATTS)
                return resp_bad(s, "[LIMIT] Too many fetch attributes");
            r = parse_att(s, &s->toks[i], &f->atts[f->natts]);
            if (r == -2)
                return resp_bad(s, "[LIMIT] Section too long");
            if (r < 0)
                return resp_bad(s, "Invalid fetch attribute");
            f->natts++;
        }
        if (!f->natts)
            return resp_bad(s, "Empty fetch attribute list");
    } else {
        /* the macros: FAST, ALL (FAST and ENVELOPE), FULL (ALL and BODY) */
        int w = tok_which(s, &s->toks[a + 1], "FAST\0ALL\0FULL\0");
        if (n != a + 2)
            return resp_bad(s, "Unexpected FETCH arguments");
        if (w >= 0) {
            add_att(s, FA_FLAGS);
            add_att(s, FA_INTERNALDATE);
            add_att(s, FA_SIZE);
            if (w >= 1)
                add_att(s, FA_ENVELOPE);
            if (w == 2)
                add_att(s, FA_BODY);
        } else {
            r = parse_att(s, &s->toks[a + 1], &f->atts[0]);
            if (r == -2)
                return resp_bad(s, "[LIMIT] Section too long");
            if (r < 0)
                return resp_bad(s, "Invalid fetch attribute");
            f->natts = 1;
        }
    }
    for (i = 0; i < f->natts; i++) {
        const struct fetch_att *at = &f->atts[i];
        if (at->kind == FA_UID)
            has_uid = 1;
        if (at->kind == FA_FLAGS)
            f->has_flags = 1;
        if ((at->kind == FA_SECTION && !(at->flags & FAF_PEEK)) ||
            at->kind == FA_RFC822 || at->kind == FA_RFC822_TEXT)
            f->set_seen = 1;
    }
    /* UID FETCH always reports the UID (RFC 9051 6.4.9) */
    if (a && !has_uid) {
        if (add_att(s, FA_UID) < 0)
            return resp_bad(s, "[LIMIT] Too many fetch attributes");
        /* put it first, as clients expect */
        {
            struct fetch_att u = f->atts[f->natts - 1];
            memmove(&f->atts[1], &f->atts[0],
                    (f->natts - 1) * sizeof f->atts[0]);
            f->atts[0] = u;
        }
    }
    s->step = fetch_step;
    return STEP_MORE;
}
