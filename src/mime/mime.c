/*
 * lwmail MIME - streaming parser, summary renderer, section readers and
 * decoders. mime.h has the contract and the blob format.
 *
 * The file reads top to bottom: character classes and the arena of header
 * values; cleaning up header values (cutting, normalising); the parser, a
 * byte-at-a-time state machine with a fast path through body lines;
 * the tokenizer for addresses and parameters; rendering of ENVELOPE,
 * BODY[STRUCTURE] and the blob through a windowed sink; the blob readers;
 * the decoders.
 *
 * RFCs: 5322 (message format, addresses), 2045/2046 (MIME, boundaries),
 * 2047 (encoded words: kept as they are), 3501/9051 (ENVELOPE,
 * BODYSTRUCTURE, section numbers), 3516 (BINARY).
 */
#include <string.h>

#include "lwmail/lwm_err.h"
#include "mime/mime.h"
#include "util/lwm_util.h"

#define NONE 0xFFFFu
#define NOPOS ((size_t)-1)

/* ================================================================ classes */

/* RFC 2045: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or
 * tspecials>; tspecials := ()<>@,;:\"/[]?= */
static int mime_is_token(uint8_t c)
{
    if (c <= 0x20 || c >= 0x7F)
        return 0;
    return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* An unquoted parameter value, generously: mailers write boundary=----=_x
 * and name=a.pdf without quotes, so anything up to ";", space or a
 * comment counts (8-bit bytes too). */
static int mime_is_pvalue(uint8_t c)
{
    return c > 0x20 && c != 0x7F && c != ';' && c != '"' && c != '(';
}

/* RFC 5322 atext plus "." (dot-atoms and obs-phrase) and 8-bit bytes
 * (RFC 6532): everything but specials ()<>[]:;@\,", space and CTLs. */
static int mime_is_atom(uint8_t c)
{
    if (c <= 0x20 || c == 0x7F)
        return 0;
    return c >= 0x80 || strchr("()<>[]:;@\\,\"", c) == NULL;
}

static int mime_is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* ================================================================ arena */

/* Header fields the summary keeps. A part's values sit back to back in
 * str[] as records: tag (1), length (2, LE), bytes. Content-* fields are
 * kept for every part, the envelope fields only for message headers. */
enum {
    T_NONE, T_CT, T_CTE, T_CDISP, T_CLANG, T_CID, T_CDESC, T_CMD5, T_CLOC,
    T_DATE, T_SUBJECT, T_FROM, T_SENDER, T_REPLYTO, T_TO, T_CC, T_BCC,
    T_INREPLYTO, T_MSGID, T_COUNT
};
#define T_FIRST_ENV T_DATE

/* The fields' names by tag, back to back */
static const char mime_field_names[] =
    "\0content-type\0content-transfer-encoding\0content-disposition\0"
    "content-language\0content-id\0content-description\0content-md5\0"
    "content-location\0date\0subject\0from\0sender\0reply-to\0to\0cc\0bcc\0"
    "in-reply-to\0message-id";

/* How a value is cleaned up when it is complete (and cut when too long). */
enum { K_TEXT, K_ADDR, K_PARAM, K_LIST, K_TOKEN };

static int mime_tag_kind(int tag)
{
    switch (tag) {
    case T_CT: case T_CDISP: return K_PARAM;
    case T_CLANG: return K_LIST;
    case T_CTE: return K_TOKEN;
    case T_FROM: case T_SENDER: case T_REPLYTO: case T_TO: case T_CC:
    case T_BCC: return K_ADDR;
    default: return K_TEXT;
    }
}

/* Content-Transfer-Encoding as written (the part's cte); the blob keeps
 * only what decoding needs (enum lwm_mime_enc). */
enum { CTE_NONE, CTE_7BIT, CTE_8BIT, CTE_BINARY, CTE_BASE64, CTE_QP,
       CTE_OTHER };
static const char mime_cte_names[] =
    "7BIT\0" "7BIT\0" "8BIT\0" "BINARY\0" "BASE64\0" "QUOTED-PRINTABLE";

static uint8_t mime_cte_enc(uint8_t cte)
{
    switch (cte) {
    case CTE_BASE64: return LWM_MIME_ENC_BASE64;
    case CTE_QP: return LWM_MIME_ENC_QP;
    case CTE_OTHER: return LWM_MIME_ENC_UNKNOWN;
    default: return LWM_MIME_ENC_IDENTITY;
    }
}

/* The value of field tag in part p's records, or NULL. */
static const uint8_t *mime_rec(const struct lwm_mime *m,
                               const struct lwm_mime_part *p, int tag,
                               size_t *len)
{
    uint32_t i = p->str_off, end = (uint32_t)p->str_off + p->str_len;
    while (i + 3 <= end) {
        uint16_t l = lwm_get16(&m->str[i + 1]);
        if (m->str[i] == tag) {
            *len = l;
            return &m->str[i + 3];
        }
        i += 3u + l;
    }
    *len = 0;
    return NULL;
}

/* ================================================================ values */

/* End of the comment starting at v[i] == '(' (nested, with quoted-pairs);
 * n when it is not closed. */
static size_t mime_skip_comment(const uint8_t *v, size_t n, size_t i)
{
    int depth = 0;
    for (; i < n; i++) {
        if (v[i] == '\\')
            i++;
        else if (v[i] == '(')
            depth++;
        else if (v[i] == ')' && --depth == 0)
            return i + 1;
    }
    return n;
}

/* End of the quoted string starting at v[i] == '"': after its closing
 * quote, or n when it is not closed (then *closed is 0). */
static size_t mime_skip_quoted(const uint8_t *v, size_t n, size_t i,
                               int *closed)
{
    if (closed != NULL)
        *closed = 0;
    for (i++; i < n; i++) {
        if (v[i] == '\\') {
            i++;
        } else if (v[i] == '"') {
            if (closed != NULL)
                *closed = 1;
            return i + 1;
        }
    }
    return n;
}

static size_t mime_skip_cfws(const uint8_t *v, size_t n, size_t i)
{
    while (i < n) {
        if (mime_is_ws(v[i]))
            i++;
        else if (v[i] == '(')
            i = mime_skip_comment(v, n, i);
        else
            break;
    }
    return i;
}

/* Length of v[0..n) without an incomplete UTF-8 sequence at its end and
 * without an encoded word (RFC 2047 "=?cs?e?text?=") that was cut: a
 * client would show either as garbage. */
static size_t mime_cut_text(const uint8_t *v, size_t n)
{
    size_t i, q, k;
    if (n > 0) {
        i = n - 1;
        for (k = 0; k < 3 && i > 0 && (v[i] & 0xC0) == 0x80; k++)
            i--;
        if (v[i] >= 0xC0) {
            size_t need = v[i] >= 0xF0 ? 4 : v[i] >= 0xE0 ? 3 : 2;
            if (n - i < need)
                n = i;
        }
    }
    for (i = n; i >= 2; i--) {
        if (v[i - 2] == '=' && v[i - 1] == '?') {
            /* complete means: "?" twice more, then "?=" */
            for (q = 0, k = i; k < n; k++) {
                if (v[k] != '?')
                    continue;
                if (q == 2 && k + 1 < n && v[k + 1] == '=') {
                    q = 3;
                    break;
                }
                if (q < 2)
                    q++;
            }
            if (q != 3)
                n = i - 2;
            break;
        }
    }
    while (n > 0 && mime_is_ws(v[n - 1]))
        n--;
    return n;
}

/* Length of v[0..n) up to its last separator sep (or just after its last
 * group end ";" when groups is set) outside quotes, comments and angle
 * brackets; 0 if there is none: a list cut after its last whole item. */
static size_t mime_cut_list(const uint8_t *v, size_t n, uint8_t sep,
                            int groups)
{
    size_t i = 0, last = 0;
    int angle = 0;
    while (i < n) {
        uint8_t c = v[i];
        if (c == '"')
            i = mime_skip_quoted(v, n, i, NULL);
        else if (c == '(')
            i = mime_skip_comment(v, n, i);
        else {
            if (c == '<')
                angle = 1;
            else if (c == '>')
                angle = 0;
            else if (c == sep && !angle)
                last = i;
            else if (groups && c == ';' && !angle)
                last = i + 1;
            i++;
        }
    }
    return last;
}

/* Normalise "type/subtype; a=b; c="d"" (slash: Content-Type) or "type;
 * a=b" (Content-Disposition) in place into "type/subtype;a=b;c="d"":
 * comments and white space go, quoted values stay as written. Junk
 * between parameters is skipped up to the next ";"; a parameter without
 * a value, or with an unterminated quoted one, is dropped. Returns the new
 * length, 0 if there is no valid type. Writing never overtakes reading:
 * every byte written (a token, "/", ";", "=") was read at or after it. */
static size_t mime_norm_params(uint8_t *v, size_t n, int slash)
{
    size_t r, w, s, a, ae, vs;
    r = mime_skip_cfws(v, n, 0);
    for (s = r; r < n && mime_is_token(v[r]); r++)
        ;
    if (r == s)
        return 0;
    memmove(v, v + s, r - s);
    w = r - s;
    if (slash) {
        r = mime_skip_cfws(v, n, r);
        if (r >= n || v[r] != '/')
            return 0;
        r = mime_skip_cfws(v, n, r + 1);
        for (s = r; r < n && mime_is_token(v[r]); r++)
            ;
        if (r == s)
            return 0;
        v[w++] = '/';
        memmove(v + w, v + s, r - s);
        w += r - s;
    }
    for (;;) {
        r = mime_skip_cfws(v, n, r);
        if (r >= n)
            break;
        if (v[r] != ';') {
            /* junk: on to the next ";" outside quotes and comments */
            while (r < n && v[r] != ';') {
                if (v[r] == '"')
                    r = mime_skip_quoted(v, n, r, NULL);
                else if (v[r] == '(')
                    r = mime_skip_comment(v, n, r);
                else
                    r++;
            }
            continue;
        }
        r = mime_skip_cfws(v, n, r + 1);
        for (a = r; r < n && mime_is_token(v[r]); r++)
            ;
        ae = r;
        if (ae == a)
            continue;
        r = mime_skip_cfws(v, n, r);
        if (r >= n || v[r] != '=')
            continue;
        r = mime_skip_cfws(v, n, r + 1);
        vs = r;
        if (r < n && v[r] == '"') {
            int closed;
            r = mime_skip_quoted(v, n, r, &closed);
            if (!closed)
                continue; /* the rest of the value is lost anyway */
        } else {
            while (r < n && mime_is_pvalue(v[r]))
                r++;
            if (r == vs)
                continue;
        }
        v[w++] = ';';
        memmove(v + w, v + a, ae - a);
        w += ae - a;
        v[w++] = '=';
        memmove(v + w, v + vs, r - vs);
        w += r - vs;
    }
    return w;
}

/* Content-Language: 1#Language-tag, normalised to "en,de". */
static size_t mime_norm_list(uint8_t *v, size_t n)
{
    size_t r = 0, w = 0, s;
    int first = 1;
    for (;;) {
        r = mime_skip_cfws(v, n, r);
        if (r >= n)
            break;
        if (!first) {
            if (v[r] != ',')
                break;
            r = mime_skip_cfws(v, n, r + 1);
        }
        for (s = r; r < n && mime_is_token(v[r]); r++)
            ;
        if (r == s)
            break;
        if (!first)
            v[w++] = ',';
        memmove(v + w, v + s, r - s);
        w += r - s;
        first = 0;
    }
    return w;
}

/* Content-Transfer-Encoding: exactly one token (anything else: ignored,
 * as Dovecot does). */
static size_t mime_norm_token(uint8_t *v, size_t n)
{
    size_t r = mime_skip_cfws(v, n, 0), s = r;
    while (r < n && mime_is_token(v[r]))
        r++;
    if (r == s || mime_skip_cfws(v, n, r) != n)
        return 0;
    memmove(v, v + s, r - s);
    return r - s;
}

/* A parsed "type/subtype;params" record (normalised form). */
struct mime_ct {
    const uint8_t *type, *sub, *params;
    size_t tlen, slen, plen;
};

static int mime_ct_parse(const uint8_t *v, size_t n, int slash,
                         struct mime_ct *ct)
{
    size_t i = 0;
    memset(ct, 0, sizeof *ct);
    if (v == NULL || n == 0)
        return 0;
    while (i < n && v[i] != '/' && v[i] != ';')
        i++;
    ct->type = v;
    ct->tlen = i;
    if (slash) {
        size_t s;
        if (i >= n || v[i] != '/')
            return 0;
        s = ++i;
        while (i < n && v[i] != ';')
            i++;
        ct->sub = v + s;
        ct->slen = i - s;
    }
    ct->params = v + i;
    ct->plen = n - i;
    return ct->tlen > 0;
}

/* Iterate the ";a=v" parameters of a normalised record. The value is
 * returned without its quotes (*quoted says it still has quoted-pairs). */
static int mime_param_next(const uint8_t *p, size_t n, size_t *i,
                           const uint8_t **a, size_t *al, const uint8_t **val,
                           size_t *vl, int *quoted)
{
    size_t k = *i, s;
    if (k >= n || p[k] != ';')
        return 0;
    s = ++k;
    while (k < n && p[k] != '=')
        k++;
    *a = p + s;
    *al = k - s;
    if (k < n)
        k++;
    if (k < n && p[k] == '"') {
        s = k + 1;
        k = mime_skip_quoted(p, n, k, NULL);
        *val = p + s;
        *vl = (k > s && p[k - 1] == '"') ? k - 1 - s : k - s;
        *quoted = 1;
    } else {
        s = k;
        while (k < n && p[k] != ';')
            k++;
        *val = p + s;
        *vl = k - s;
        *quoted = 0;
    }
    *i = k;
    return 1;
}

/* ================================================================ parser */

enum {
    S_HDR_BOL,   /* at the start of a header line */
    S_HDR_CR,    /* a header line that began with CR */
    S_HDR_NAME,  /* in a field name */
    S_HDR_VALUE, /* in a field value */
    S_HDR_SKIP,  /* in a header line that is not a field */
    S_BODY_BOL,  /* at the start of a body line (its line end pending) */
    S_BODY,      /* in a body line */
    S_BND,       /* a line that may be a boundary, kept in line[] */
    S_BND_TAIL,  /* the rest of a boundary line */
    S_DONE
};

/* m->ctx: where S_BND was entered; in S_BND_TAIL: which delimiter. */
enum { CTX_BODY, CTX_HDR, CTX_OPEN, CTX_CLOSE };

/* m->flags */
#define MF_LEAF 0x01     /* the current part is a leaf in its body */
#define MF_DECODE 0x02   /* ... whose decoded size is being counted */
#define MF_TRUNC 0x08    /* the value being collected was cut */
#define MF_HDRMSG 0x10   /* this header is a message's: keep the envelope */
#define MF_READY 0x20    /* the rendering cache is valid */
#define MF_NAMELONG 0x40 /* the field name did not fit name[] */

/* part flags kept in RAM only (masked out of the blob) */
#define PF_DIGEST 0x40 /* multipart/digest: children default to message */
#define PF_BLOB_MASK 0x0F

static const uint8_t mime_crlf[2] = { '\r', '\n' };

/* The part's media type: its Content-Type, or the default when there is
 * none or it is invalid (RFC 2045 5.2: text/plain; RFC 2046 5.1.5:
 * message/rfc822 inside multipart/digest). p's parent must be known. */
static void mime_type_of(const struct lwm_mime *m,
                         const struct lwm_mime_part *p, struct mime_ct *ct)
{
    static const uint8_t def[] = "message/rfc822text/plain";
    size_t n;
    const uint8_t *v = mime_rec(m, p, T_CT, &n);
    int digest;
    if (mime_ct_parse(v, n, 1, ct))
        return;
    digest = p->parent != NONE && (m->part[p->parent].flags & PF_DIGEST);
    ct->type = digest ? def : def + 14;
    ct->tlen = digest ? 7 : 4;
    ct->sub = ct->type + ct->tlen + 1;
    ct->slen = digest ? 6 : 5;
    ct->params = NULL;
    ct->plen = 0;
}


static void mime_body_feed(struct lwm_mime *m, const uint8_t *p, size_t n)
{
    if (m->flags & MF_DECODE) {
        size_t used;
        m->part[m->cur].bin_size +=
            (uint32_t)lwm_mime_dec_run(&m->dec, p, n, &used, NULL, 0);
    }
}

/* The line end before this line belongs to the body after all. */
static void mime_eol_commit(struct lwm_mime *m)
{
    if (m->eol) {
        mime_body_feed(m, mime_crlf + (2 - m->eol), m->eol);
        m->eol = 0;
    }
}

/* --------------------------------------------------------- header values */

static void mime_fld_begin(struct lwm_mime *m, int tag)
{
    uint32_t avail = (uint32_t)LWM_MIME_STR_MAX - m->str_used;
    m->tag = T_NONE;
    if (tag == T_NONE || (m->seen & (1u << tag)))
        return;
    if (tag >= T_FIRST_ENV && !(m->flags & MF_HDRMSG))
        return;
    m->seen |= 1u << tag; /* the first occurrence counts, kept or not */
    if (avail <= 3)
        return;
    avail -= 3;
    if (tag != T_CT && tag != T_CTE) {
        /* the reserve is for structure; the rest is shared by halving,
         * so one huge field cannot starve the fields after it */
        if (avail <= LWM_MIME_STR_RESERVE)
            return;
        avail = (avail - LWM_MIME_STR_RESERVE) / 2;
    }
    if (avail > LWM_MIME_FIELD_MAX)
        avail = LWM_MIME_FIELD_MAX;
    if (avail == 0)
        return;
    m->tag = (uint8_t)tag;
    m->fld = m->str_used;
    m->flen = 0;
    m->fcap = (uint16_t)avail;
    m->flags &= (uint16_t)~MF_TRUNC;
}

/* One byte of a field value: unfolded (CR and LF dropped, the folding
 * white space kept), leading white space skipped, NULs dropped. */
static void mime_fld_byte(struct lwm_mime *m, uint8_t c)
{
    if (m->tag == T_NONE || c == '\r' || c == '\n' || c == 0)
        return;
    if (m->flen == 0 && mime_is_ws(c))
        return;
    if (m->flen >= m->fcap) {
        m->flags |= MF_TRUNC;
        return;
    }
    m->str[m->fld + 3u + m->flen++] = c;
}

/* The field is complete: cut, clean up and keep it (or drop it). */
static void mime_fld_end(struct lwm_mime *m)
{
    struct lwm_mime_part *p = &m->part[m->cur];
    uint8_t *v;
    size_t n;
    int tag = m->tag, kind;
    if (tag == T_NONE)
        return;
    m->tag = T_NONE;
    v = &m->str[m->fld + 3u];
    n = m->flen;
    kind = mime_tag_kind(tag);
    if (m->flags & MF_TRUNC) {
        if (kind == K_ADDR || kind == K_LIST)
            n = mime_cut_list(v, n, ',', kind == K_ADDR);
        else if (kind == K_PARAM)
            n = mime_cut_list(v, n, ';', 0);
        else if (kind == K_TOKEN)
            n = 0;
        else
            n = mime_cut_text(v, n);
    }
    while (n > 0 && mime_is_ws(v[n - 1]))
        n--;
    if (kind == K_PARAM)
        n = mime_norm_params(v, n, tag == T_CT);
    else if (kind == K_LIST)
        n = mime_norm_list(v, n);
    else if (kind == K_TOKEN)
        n = mime_norm_token(v, n);
    if (tag == T_CTE && n > 0) {
        uint8_t i;
        p->cte = CTE_OTHER;
        for (i = CTE_7BIT; i < CTE_OTHER; i++)
            if (lwm_ieq_word(v, n, lwm_str_at(mime_cte_names, i)))
                p->cte = i;
        if (p->cte != CTE_OTHER)
            return; /* known ones need no string */
    }
    if (n == 0 && kind != K_TEXT)
        return;
    m->str[m->fld] = (uint8_t)tag;
    lwm_put16(&m->str[m->fld + 1u], (uint16_t)n);
    m->str_used = (uint16_t)(m->fld + 3u + n);
    p->str_len = (uint16_t)(m->str_used - p->str_off);
}

static void mime_name_start(struct lwm_mime *m)
{
    mime_fld_end(m);
    m->nlen = 0;
    m->flags &= (uint16_t)~MF_NAMELONG;
    m->state = S_HDR_NAME;
}

/* The field name is complete (at its ":"). */
static void mime_name_end(struct lwm_mime *m)
{
    const char *f;
    size_t n = m->nlen;
    int t;
    while (n > 0 && mime_is_ws(m->name[n - 1]))
        n--; /* RFC 822 allowed "Subject :" */
    m->state = S_HDR_VALUE;
    if (m->flags & MF_NAMELONG)
        return;
    for (t = T_CT, f = mime_field_names + 1; t < T_COUNT;
         t++, f += strlen(f) + 1)
        if (lwm_ieq_word(m->name, n, f)) {
            mime_fld_begin(m, t);
            return;
        }
}

/* ---------------------------------------------------------------- parts */

static uint16_t mime_new_part(struct lwm_mime *m, uint16_t parent,
                              uint32_t hdr_off)
{
    struct lwm_mime_part *p;
    uint16_t i = m->nparts;
    if (i >= LWM_MIME_MAX_PARTS)
        return NONE;
    m->nparts++;
    p = &m->part[i];
    memset(p, 0, sizeof *p);
    p->hdr_off = hdr_off;
    p->parent = parent;
    p->child = ++m->part[parent].nchild;
    p->depth = (uint8_t)(m->part[parent].depth + 1);
    p->str_off = m->str_used;
    m->cur = i;
    m->seen = 0;
    m->state = S_HDR_BOL;
    m->eol = 0;
    return i;
}

/* The boundary of multipart p, from its Content-Type, into bnd[]. */
static int mime_push_boundary(struct lwm_mime *m, uint16_t pi,
                              const struct mime_ct *ct)
{
    size_t i = 0, al, vl;
    const uint8_t *a, *val;
    int quoted;
    if (m->nbnd >= LWM_MIME_MAX_DEPTH)
        return 0;
    while (mime_param_next(ct->params, ct->plen, &i, &a, &al, &val, &vl,
                           &quoted)) {
        if (!lwm_ieq_word(a, al, "boundary"))
            continue;
        /* RFC 2046 bchars have no quoted-pairs; one with them is not
         * worth unescaping */
        if (vl == 0 || vl > LWM_MIME_BOUNDARY_MAX ||
            (quoted && memchr(val, '\\', vl) != NULL))
            return 0;
        m->bnd[m->nbnd].part = pi;
        m->bnd[m->nbnd].off = (uint16_t)(val - m->str);
        m->bnd[m->nbnd].len = (uint8_t)vl;
        m->nbnd++;
        return 1;
    }
    return 0;
}

/* The header of the current part ended at body_off. Decide what the body
 * is: a multipart (push its boundary), a message (start the header of
 * the message inside), or a leaf (count its decoded size). has_body is 0
 * when the header was cut short by a boundary or the end. */
static void mime_hdr_done(struct lwm_mime *m, uint32_t body_off,
                          uint32_t body_nl, int has_body)
{
    uint16_t pi = m->cur;
    struct lwm_mime_part *p = &m->part[pi];
    struct mime_ct ct;

    p->hdr_len = body_off - p->hdr_off;
    p->body_off = body_off;
    p->lines = body_nl; /* minus the count at the end, in close */
    p->enc = mime_cte_enc(p->cte);
    m->eol = 0;
    m->flags &= (uint16_t)~(MF_LEAF | MF_DECODE | MF_HDRMSG);
    m->state = S_BODY_BOL;

    mime_type_of(m, p, &ct);
    if (lwm_ieq_word(ct.type, ct.tlen, "multipart")) {
        if (has_body && p->depth < LWM_MIME_MAX_DEPTH &&
            mime_push_boundary(m, pi, &ct)) {
            p->flags |= LWM_MIME_F_MULTIPART;
            p->enc = LWM_MIME_ENC_IDENTITY; /* parsed as it is */
            if (lwm_ieq_word(ct.sub, ct.slen, "digest"))
                p->flags |= PF_DIGEST;
            return;
        }
        p->flags |= LWM_MIME_F_OPAQUE;
    } else if (lwm_ieq_word(ct.type, ct.tlen, "message") &&
               (lwm_ieq_word(ct.sub, ct.slen, "rfc822") ||
                lwm_ieq_word(ct.sub, ct.slen, "global"))) {
        /* an encoded message is not parsed (nor by Dovecot) */
        if (has_body && p->enc == LWM_MIME_ENC_IDENTITY &&
            p->depth < LWM_MIME_MAX_DEPTH &&
            mime_new_part(m, pi, body_off) != NONE) {
            p->flags |= LWM_MIME_F_MESSAGE;
            m->flags |= MF_HDRMSG;
            return;
        }
        p->flags |= LWM_MIME_F_OPAQUE;
    } else if (lwm_ieq_word(ct.type, ct.tlen, "text")) {
        p->flags |= LWM_MIME_F_TEXT;
    }
    m->flags |= MF_LEAF;
    if (p->enc == LWM_MIME_ENC_BASE64 || p->enc == LWM_MIME_ENC_QP) {
        m->flags |= MF_DECODE;
        lwm_mime_dec_init(&m->dec, p->enc);
    }
}

static void mime_close_part(struct lwm_mime *m, uint16_t i, uint32_t end,
                            uint32_t end_nl)
{
    struct lwm_mime_part *p = &m->part[i];
    if (end < p->body_off)
        end = p->body_off;
    p->body_len = end - p->body_off;
    p->lines = end_nl >= p->lines ? end_nl - p->lines : 0;
    if (i == m->cur && (m->flags & MF_DECODE)) {
        size_t used;
        p->bin_size += (uint32_t)lwm_mime_dec_run(&m->dec, NULL, 0, &used,
                                                  NULL, 0);
    }
    if (i == m->cur)
        m->flags &= (uint16_t)~(MF_LEAF | MF_DECODE);
    if (p->enc != LWM_MIME_ENC_BASE64 && p->enc != LWM_MIME_ENC_QP)
        p->bin_size = p->body_len;
}

/* Close the open parts from the current one up to (not including) stop. */
static void mime_close_to(struct lwm_mime *m, uint16_t stop, uint32_t end,
                          uint32_t end_nl)
{
    uint16_t i = m->cur;
    while (i != stop && i != NONE) {
        mime_close_part(m, i, end, end_nl);
        i = m->part[i].parent;
    }
}

/* ------------------------------------------------------------ boundaries */

enum { B_NO, B_NEED, B_OPEN, B_CLOSE };

/* Is line[0..llen) a delimiter line of an open multipart? Innermost
 * first: an outer match waits while an inner boundary may still match.
 * A delimiter is "--" boundary, then "--" (close) or white space or the
 * line end; anything after that is ignored. final: no more bytes come. */
static int mime_bnd_check(const struct lwm_mime *m, int final, int *level)
{
    int j;
    for (j = m->nbnd; j-- > 0;) {
        const uint8_t *b = &m->str[m->bnd[j].off];
        size_t bl = m->bnd[j].len, n = m->llen, i, k;
        k = n < 2 + bl ? n : 2 + bl;
        for (i = 0; i < k; i++)
            if (m->line[i] != (i < 2 ? '-' : b[i - 2]))
                break;
        if (i < k)
            continue;
        *level = j;
        if (n < 2 + bl) {
            if (!final)
                return B_NEED;
            continue;
        }
        if (n == 2 + bl) {
            if (!final)
                return B_NEED;
            return B_OPEN;
        }
        i = m->line[2 + bl];
        if (i == ' ' || i == '\t' || i == '\r' || i == '\n')
            return B_OPEN;
        if (i == '-') {
            if (n == 3 + bl) {
                if (!final)
                    return B_NEED;
                continue;
            }
            if (m->line[3 + bl] == '-')
                return B_CLOSE;
        }
    }
    return B_NO;
}

static void mime_step(struct lwm_mime *m, uint8_t c);

/* The buffered line is not a boundary: run it through as content. */
static void mime_bnd_replay(struct lwm_mime *m)
{
    uint8_t i, n = m->llen;
    m->llen = 0;
    m->cr = 0;
    if (m->ctx == CTX_HDR) {
        mime_name_start(m);
    } else {
        mime_eol_commit(m);
        m->state = S_BODY;
    }
    /* the bytes hold no LF before the last, so this never gets back to
     * a line start, and line[] is not touched */
    for (i = 0; i < n; i++)
        mime_step(m, m->line[i]);
}

/* A delimiter of the multipart at bnd[level]: end everything inside it.
 * The line end before the delimiter belongs to the delimiter (RFC 2046). */
static void mime_bnd_match(struct lwm_mime *m, int level, int close)
{
    uint32_t end = m->line_start - m->eol;
    uint32_t end_nl = m->line_nl - (m->eol ? 1u : 0u);
    uint16_t mp = m->bnd[level].part;
    if (m->ctx == CTX_HDR) {
        mime_fld_end(m);
        mime_hdr_done(m, end, end_nl, 0);
    }
    mime_close_to(m, mp, end, end_nl);
    m->cur = mp;
    m->nbnd = (uint8_t)(level + (close ? 0 : 1));
    m->flags &= (uint16_t)~(MF_LEAF | MF_DECODE | MF_HDRMSG);
    m->ctx = close ? CTX_CLOSE : CTX_OPEN;
    m->state = S_BND_TAIL;
    m->llen = 0;
}

/* The LF of a delimiter line: a new child starts, or the epilogue. */
static void mime_bnd_tail_end(struct lwm_mime *m, uint8_t was_cr)
{
    m->state = S_BODY_BOL;
    m->eol = 0;
    if (m->ctx == CTX_CLOSE) {
        m->eol = was_cr ? 2 : 1;
    } else {
        /* with the part table full, the child is skipped as content of
         * the multipart, up to the next delimiter */
        (void)mime_new_part(m, m->cur, m->pos + 1);
    }
}

/* ---------------------------------------------------------------- steps */

static void mime_hdr_blank(struct lwm_mime *m)
{
    mime_fld_end(m);
    mime_hdr_done(m, m->pos + 1, m->nl, 1);
}

static void mime_body_byte(struct lwm_mime *m, uint8_t c, uint8_t was_cr)
{
    if (c == '\n') {
        /* the line end waits: it belongs to a delimiter if one follows */
        m->eol = was_cr ? 2 : 1;
        m->state = S_BODY_BOL;
        return;
    }
    if (was_cr)
        mime_body_feed(m, mime_crlf, 1);
    if (c != '\r') /* a CR is held back until we know it is no line end */
        mime_body_feed(m, &c, 1);
}

static void mime_step(struct lwm_mime *m, uint8_t c)
{
    uint8_t was_cr = m->cr;
    int level, r;
    m->cr = c == '\r';
    switch (m->state) {
    case S_HDR_BOL:
        if (c == '\n') {
            mime_hdr_blank(m);
        } else if (c == '\r') {
            m->state = S_HDR_CR;
        } else if (mime_is_ws(c)) {
            m->state = S_HDR_VALUE; /* a continuation line */
            mime_fld_byte(m, c);
        } else if (c == '-' && m->nbnd > 0) {
            m->state = S_BND;
            m->ctx = CTX_HDR;
            m->line[0] = c;
            m->llen = 1;
        } else {
            mime_name_start(m);
            mime_step(m, c);
        }
        break;
    case S_HDR_CR:
        if (c == '\n') {
            mime_hdr_blank(m);
        } else {
            mime_fld_end(m);
            m->state = S_HDR_SKIP;
        }
        break;
    case S_HDR_NAME:
        if (c == ':') {
            mime_name_end(m);
        } else if (c == '\n') {
            m->eol = was_cr ? 2 : 1; /* no colon: not a field */
            m->state = S_HDR_BOL;
        } else if (c != '\r') {
            if (m->nlen < sizeof m->name)
                m->name[m->nlen++] = c;
            else
                m->flags |= MF_NAMELONG;
        }
        break;
    case S_HDR_VALUE:
    case S_HDR_SKIP:
        if (c == '\n') {
            m->eol = was_cr ? 2 : 1;
            m->state = S_HDR_BOL;
        } else if (m->state == S_HDR_VALUE) {
            mime_fld_byte(m, c);
        }
        break;
    case S_BODY_BOL:
        if (c == '-' && m->nbnd > 0) {
            m->state = S_BND;
            m->ctx = CTX_BODY;
            m->line[0] = c;
            m->llen = 1;
            break;
        }
        mime_eol_commit(m);
        m->state = S_BODY;
        mime_body_byte(m, c, 0);
        break;
    case S_BODY:
        mime_body_byte(m, c, was_cr);
        break;
    case S_BND:
        if (m->llen < sizeof m->line)
            m->line[m->llen++] = c;
        r = mime_bnd_check(m, m->llen == sizeof m->line, &level);
        if (r == B_NEED)
            break;
        if (r == B_NO) {
            mime_bnd_replay(m);
            break;
        }
        mime_bnd_match(m, level, r == B_CLOSE);
        if (c == '\n')
            mime_bnd_tail_end(m, was_cr);
        break;
    case S_BND_TAIL:
        if (c == '\n')
            mime_bnd_tail_end(m, was_cr);
        break;
    default:
        break;
    }
}

void lwm_mime_init(struct lwm_mime *m)
{
    memset(m, 0, sizeof *m);
    m->nparts = 1;
    m->part[0].parent = NONE;
    m->flags = MF_HDRMSG;
    m->state = S_HDR_BOL;
    m->blob_max = LWM_SUMMARY_MAX;
}

void lwm_mime_feed(struct lwm_mime *m, const void *buf, size_t n)
{
    const uint8_t *b = buf;
    size_t i = 0;
    while (i < n && m->state != S_DONE) {
        uint8_t c;
        if (m->pos >= 0xFFFFFFF0u)
            return; /* beyond any message the store takes: ignored */
        if (m->state == S_BODY && !m->cr) {
            /* fast path: the rest of a body line */
            size_t j = i, lim = n - i;
            if (lim > 0xFFFFFFF0u - m->pos)
                lim = 0xFFFFFFF0u - m->pos;
            lim += i;
            while (j < lim && b[j] != '\n' && b[j] != '\r')
                j++;
            if (j > i) {
                mime_body_feed(m, b + i, j - i);
                m->pos += (uint32_t)(j - i);
                i = j;
                continue;
            }
        }
        c = b[i++];
        if (c == '\n')
            m->nl++;
        mime_step(m, c);
        if (c == '\n') {
            m->line_start = m->pos + 1;
            m->line_nl = m->nl;
        }
        m->pos++;
    }
}

void lwm_mime_end(struct lwm_mime *m)
{
    int level, r;
    if (m->state == S_DONE)
        return;
    if (m->state == S_BND) {
        r = mime_bnd_check(m, 1, &level);
        if (r == B_OPEN || r == B_CLOSE)
            mime_bnd_match(m, level, r == B_CLOSE);
        else
            mime_bnd_replay(m);
    }
    switch (m->state) {
    case S_HDR_BOL: case S_HDR_CR: case S_HDR_NAME: case S_HDR_VALUE:
    case S_HDR_SKIP:
        /* a header without a blank line: all header, empty body */
        mime_fld_end(m);
        mime_hdr_done(m, m->pos, m->nl, 0);
        break;
    case S_BODY:
        if (m->cr)
            mime_body_feed(m, mime_crlf, 1);
        break;
    case S_BODY_BOL:
        mime_eol_commit(m); /* no delimiter follows: it is body */
        break;
    default:
        break;
    }
    mime_close_to(m, NONE, m->pos, m->nl);
    m->state = S_DONE;
}

/* ================================================================ lexer */

/* RFC 5322 tokens for addresses and phrases. Comments and white space are
 * skipped (the last comment's content is reported: an addr-spec's comment
 * is its display name, as c-client and Dovecot do). */
enum { L_END, L_ATOM, L_QS, L_DLIT, L_SPEC };

struct mime_tok {
    uint8_t t, c;
    size_t s, e; /* v[s..e): the token, with its quotes or brackets */
};

static void mime_lex(const uint8_t *v, size_t n, size_t *ip,
                     struct mime_tok *t, size_t *cs, size_t *ce)
{
    size_t i = *ip;
    for (;;) {
        while (i < n && (mime_is_ws(v[i]) || v[i] == '\r' || v[i] == '\n'))
            i++;
        if (i < n && v[i] == '(') {
            size_t e = mime_skip_comment(v, n, i);
            if (cs != NULL) {
                *cs = i + 1;
                *ce = (e > i + 1 && v[e - 1] == ')') ? e - 1 : e;
            }
            i = e;
            continue;
        }
        break;
    }
    t->s = i;
    if (i >= n) {
        t->t = L_END;
        t->e = i;
    } else if (v[i] == '"') {
        t->t = L_QS;
        t->e = mime_skip_quoted(v, n, i, NULL);
    } else if (v[i] == '[') {
        size_t e = i + 1;
        while (e < n && v[e] != ']')
            e += (v[e] == '\\' && e + 1 < n) ? 2 : 1;
        t->t = L_DLIT;
        t->e = e < n ? e + 1 : n;
    } else if (mime_is_atom(v[i])) {
        size_t e = i;
        while (e < n && mime_is_atom(v[e]))
            e++;
        t->t = L_ATOM;
        t->e = e;
    } else {
        t->t = L_SPEC;
        t->c = v[i];
        t->e = i + 1;
    }
    *ip = t->e;
}

/* ================================================================ render */

/* The sink keeps only the window [off, off + cap) of what is rendered,
 * which makes rendering resumable without any buffer: each call renders
 * from the start and copies its window. out == NULL only counts. */
struct mime_sink {
    uint8_t *out;
    uint32_t off, cap, pos;
};

static void mime_put(struct mime_sink *s, const void *p, size_t n)
{
    if (s->out != NULL && n > 0) {
        uint64_t a = s->pos, b = a + n, lo = s->off, hi = lo + s->cap;
        if (a > lo)
            lo = a;
        if (b < hi)
            hi = b;
        if (lo < hi)
            memcpy(s->out + (lo - s->off), (const uint8_t *)p + (lo - a),
                   (size_t)(hi - lo));
    }
    s->pos += (uint32_t)n;
}

/* The window is complete: what follows need not be produced at all. */
static int mime_full(const struct mime_sink *s)
{
    return s->out != NULL && s->pos >= (uint64_t)s->off + s->cap;
}

static void mime_puts(struct mime_sink *s, const char *str)
{
    mime_put(s, str, strlen(str));
}

static void mime_put_u32(struct mime_sink *s, uint32_t v)
{
    char b[10];
    int i = 10;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    mime_put(s, b + i, (size_t)(10 - i));
}

/* What each degradation level keeps (see mime.h). */
struct mime_lim {
    uint8_t emb_env;   /* envelopes of embedded messages */
    uint8_t ext;       /* BODYSTRUCTURE extension data */
    uint8_t params;    /* body parameters, Content-ID, -Description */
    uint8_t plain_tok; /* types must be plain atoms */
    uint8_t max_depth; /* containers at this depth or deeper are opaque */
    uint8_t single;    /* one opaque part */
    uint16_t addr_max; /* addresses per list (0: NIL) */
    uint16_t str_cap;  /* date, subject and ids (0: no limit) */
    uint16_t tok_cap;  /* types and unknown encodings (0: no limit) */
};

static const struct mime_lim mime_lims[] = {
    { 1, 1, 1, 0, 255, 0, 0xFFFF, 0, 0 },
    { 0, 1, 1, 0, 255, 0, 0xFFFF, 0, 0 },
    { 0, 0, 1, 0, 255, 0, 0xFFFF, 0, 0 },
    { 0, 0, 0, 0, 255, 0, 16, 256, 64 },
    { 0, 0, 0, 1, 2, 0, 0, 128, 24 },
    { 0, 0, 0, 1, 1, 1, 0, 1, 1 },
};
#define MIME_LEVELS ((int)(sizeof mime_lims / sizeof mime_lims[0]))

struct mime_rend {
    const struct lwm_mime *m;
    struct mime_sink *s;
    const struct mime_lim *lim;
};

/* the separators and NIL of rendering, without a literal at each call */
static void mime_sp(struct mime_rend *r)
{
    mime_put(r->s, " ", 1);
}

static void mime_nil(struct mime_rend *r)
{
    mime_put(r->s, "NIL", 3);
}

/* ------------------------------------------------------------ strings */

/* A string is produced twice: once to measure it (length, whether it
 * needs a literal), once to write it quoted or as a literal. */
struct mime_sout {
    struct mime_sink *s; /* NULL: measure */
    uint32_t len;
    uint8_t lit, quote;
};

static void mime_so_byte(struct mime_sout *o, uint8_t c)
{
    if (o->s == NULL) {
        o->len++;
        if (c >= 0x80 || c == '\r' || c == '\n' || c == 0)
            o->lit = 1;
        return;
    }
    if (o->quote && (c == '"' || c == '\\'))
        mime_put(o->s, "\\", 1);
    mime_put(o->s, &c, 1);
}

/* How v[s..e) turns into a value. */
enum {
    P_RAW,     /* as it is */
    P_QUOTED,  /* quoted-string content: quoted-pairs undone */
    P_PHRASE,  /* words, one space where the source had white space */
    P_ADDR,    /* local-part, domain, route: tokens run together */
    P_COMMENT  /* comment content: quoted-pairs undone */
};

static void mime_produce(struct mime_sout *o, const uint8_t *v, size_t s,
                         size_t e, int style)
{
    size_t i;
    struct mime_tok t;
    int first = 1;
    switch (style) {
    case P_RAW:
        for (i = s; i < e; i++)
            mime_so_byte(o, v[i]);
        break;
    case P_QUOTED:
    case P_COMMENT:
        for (i = s; i < e; i++) {
            if (v[i] == '\\' && i + 1 < e)
                i++;
            mime_so_byte(o, v[i]);
        }
        break;
    default:
        i = s;
        for (;;) {
            size_t before = i;
            mime_lex(v, e, &i, &t, NULL, NULL);
            if (t.t == L_END)
                break;
            if (style == P_PHRASE && !first && t.s > before)
                mime_so_byte(o, ' ');
            first = 0;
            if (t.t == L_SPEC && style == P_ADDR && t.c != '@' &&
                t.c != ',' && t.c != ':')
                continue; /* a stray ">" is no part of an address */
            if (t.t == L_QS) {
                size_t qe = t.e;
                if (qe > t.s + 1 && v[qe - 1] == '"')
                    qe--;
                mime_produce(o, v, t.s + 1, qe, P_QUOTED);
            } else {
                mime_produce(o, v, t.s, t.e, P_RAW);
            }
        }
        break;
    }
}

static uint32_t mime_measure(const uint8_t *v, size_t s, size_t e,
                             int style, uint8_t *lit)
{
    struct mime_sout o;
    memset(&o, 0, sizeof o);
    mime_produce(&o, v, s, e, style);
    if (lit != NULL)
        *lit = o.lit;
    return o.len;
}

/* Write v[s..e) as an IMAP string: quoted, or a literal when it holds
 * 8-bit bytes, CR or LF, or is long (RFC 9051 string). */
static void mime_str(struct mime_rend *r, const uint8_t *v, size_t s,
                     size_t e, int style)
{
    struct mime_sout o;
    uint8_t lit;
    uint32_t len;
    if (mime_full(r->s))
        return;
    len = mime_measure(v, s, e, style, &lit);
    memset(&o, 0, sizeof o);
    o.s = r->s;
    if (lit || len > 1024) {
        mime_put(r->s, "{", 1);
        mime_put_u32(r->s, len);
        mime_put(r->s, "}\r\n", 3);
        mime_produce(&o, v, s, e, style);
    } else {
        o.quote = 1;
        mime_put(r->s, "\"", 1);
        mime_produce(&o, v, s, e, style);
        mime_put(r->s, "\"", 1);
    }
}

static void mime_cstr(struct mime_rend *r, const char *str)
{
    mime_str(r, (const uint8_t *)str, 0, strlen(str), P_RAW);
}

/* An unstructured value as an nstring (NIL when absent). cap cuts it at a
 * safe point; drop (message ids) makes it NIL instead when too long. */
static void mime_nstr(struct mime_rend *r, const struct lwm_mime_part *p,
                      int tag, uint16_t cap, int drop)
{
    size_t n;
    const uint8_t *v = mime_rec(r->m, p, tag, &n);
    if (v == NULL) {
        mime_nil(r);
        return;
    }
    if (cap != 0 && n > cap) {
        if (drop) {
            mime_nil(r);
            return;
        }
        n = mime_cut_text(v, cap);
    }
    mime_str(r, v, 0, n, P_RAW);
}

/* ------------------------------------------------------------ addresses */

/* One element of an address list: v[s..e), ended by delim (",", ";",
 * ":" for a group name, 0 at the end). */
struct mime_elem {
    size_t s, e;
    uint8_t delim;
};

static size_t mime_addr_elem(const uint8_t *v, size_t n, size_t i,
                             int in_group, struct mime_elem *el)
{
    struct mime_tok t, pk;
    int angle = 0, route = 0, seen_lt = 0, seen_at = 0;
    el->s = i;
    for (;;) {
        mime_lex(v, n, &i, &t, NULL, NULL);
        if (t.t == L_END) {
            el->e = n;
            el->delim = 0;
            return n;
        }
        if (t.t != L_SPEC)
            continue;
        switch (t.c) {
        case '<':
            if (!angle) {
                size_t j = i;
                angle = seen_lt = 1;
                mime_lex(v, n, &j, &pk, NULL, NULL);
                /* a route "<@a,@b:x@y>" holds commas */
                route = pk.t == L_SPEC && pk.c == '@';
            }
            break;
        case '>':
            angle = route = 0;
            break;
        case '@':
            if (!angle)
                seen_at = 1;
            break;
        case ':':
            if (angle && route) {
                route = 0;
                break;
            }
            if (!angle && !in_group && !seen_lt && !seen_at) {
                el->e = t.s;
                el->delim = ':';
                return t.e;
            }
            break;
        case ',':
            if (angle && route)
                break;
            el->e = t.s;
            el->delim = ',';
            return t.e;
        case ';':
            el->e = t.s;
            el->delim = ';';
            return t.e;
        default:
            break;
        }
    }
}

/* An address: ranges of v for its four IMAP fields. */
struct mime_addr {
    size_t ns, ne, rs, re, ls, le, ds, de;
    uint8_t nstyle; /* P_PHRASE, P_COMMENT, or 0 for no name */
    uint8_t route;
};

/* Pick the fields out of element v[s..e); 0 if it holds no address.
 *   name-addr = [display-name] "<" [route ":"] addr-spec ">"
 *   addr-spec = local-part "@" domain   (a comment is its name)
 * Without "@": a single word is a mailbox without a domain, several
 * words are a name without an address (Dovecot fills in MISSING_*). */
static int mime_addr_parse(const uint8_t *v, size_t s, size_t e,
                           struct mime_addr *a)
{
    struct mime_tok t;
    size_t i = s, lt = NOPOS, gt = e, at = NOPOS, cs = NOPOS, ce = NOPOS;
    int words = 0;
    memset(a, 0, sizeof *a);
    for (;;) {
        mime_lex(v, e, &i, &t, &cs, &ce);
        if (t.t == L_END)
            break;
        if (t.t == L_SPEC && t.c == '<' && lt == NOPOS)
            lt = t.s;
        else if (t.t == L_SPEC && t.c == '>' && lt != NOPOS && gt == e)
            gt = t.s;
        else if (t.t == L_SPEC && t.c == '@' && lt == NOPOS && at == NOPOS)
            at = t.s;
        else if ((t.t == L_ATOM || t.t == L_QS) && lt == NOPOS)
            words++;
    }
    if (lt != NOPOS) {
        size_t as = lt + 1, j = lt + 1;
        mime_lex(v, gt, &j, &t, NULL, NULL);
        if (t.t == L_SPEC && t.c == '@') {
            /* a route up to ":" (RFC 5322 obs-route) */
            size_t k = t.s;
            struct mime_tok u;
            j = t.s;
            for (;;) {
                mime_lex(v, gt, &j, &u, NULL, NULL);
                if (u.t == L_END || (u.t == L_SPEC && u.c == ':'))
                    break;
            }
            if (u.t != L_END) {
                a->route = 1;
                a->rs = k;
                a->re = u.s;
                as = u.e;
            }
        }
        a->ns = s;
        a->ne = lt;
        a->nstyle = P_PHRASE;
        for (j = as;;) {
            mime_lex(v, gt, &j, &t, NULL, NULL);
            if (t.t == L_END || (t.t == L_SPEC && t.c == '@'))
                break;
        }
        a->ls = as;
        a->le = t.t != L_END ? t.s : gt;
        a->ds = t.t != L_END ? t.e : gt;
        a->de = gt;
        if (at != NOPOS && mime_measure(v, a->ls, a->le, P_ADDR, NULL) == 0 &&
            mime_measure(v, a->ds, a->de, P_ADDR, NULL) == 0) {
            /* "a@b.c <>" or a stray "<": the address is before it */
            memset(a, 0, sizeof *a);
            e = lt;
            lt = NOPOS;
            cs = NOPOS;
        }
    }
    if (lt != NOPOS) {
        /* a name-addr, done */
    } else if (at != NOPOS || words == 1) {
        size_t j = s, pe = NOPOS, split = s;
        if (at != NOPOS) {
            /* "Bob bob@x": words apart (not joined by dots) before the
             * local part are a name that lost its angle brackets */
            for (;;) {
                mime_lex(v, at, &j, &t, NULL, NULL);
                if (t.t == L_END)
                    break;
                if (pe != NOPOS && t.s > pe && v[pe - 1] != '.' &&
                    v[t.s] != '.')
                    split = t.s;
                pe = t.e;
            }
        }
        a->ls = split;
        a->le = at != NOPOS ? at : e;
        a->ds = at != NOPOS ? at + 1 : e;
        a->de = e;
        /* and the domain ends where words stop being joined by dots (the
         * rest is junk, e.g. a lost header line folded into this one) */
        for (j = a->ds, pe = NOPOS;;) {
            mime_lex(v, e, &j, &t, NULL, NULL);
            if (t.t == L_END)
                break;
            if (pe != NOPOS && t.s > pe && v[pe - 1] != '.' &&
                v[t.s] != '.') {
                a->de = pe;
                break;
            }
            pe = t.e;
        }
        if (split > s) {
            a->ns = s;
            a->ne = split;
            a->nstyle = P_PHRASE;
        } else if (cs != NOPOS) {
            a->ns = cs;
            a->ne = ce;
            a->nstyle = P_COMMENT;
        }
    } else if (words > 1) {
        a->ns = s;
        a->ne = e;
        a->nstyle = P_PHRASE;
        a->ls = a->le = a->ds = a->de = e;
    } else {
        return 0;
    }
    if (a->nstyle && mime_measure(v, a->ns, a->ne, a->nstyle, NULL) == 0)
        a->nstyle = 0;
    return a->nstyle || mime_measure(v, a->ls, a->le, P_ADDR, NULL) > 0 ||
           mime_measure(v, a->ds, a->de, P_ADDR, NULL) > 0;
}

static void mime_addr_write(struct mime_rend *r, const uint8_t *v,
                            const struct mime_addr *a)
{
    mime_puts(r->s, "(");
    if (a->nstyle)
        mime_str(r, v, a->ns, a->ne, a->nstyle);
    else
        mime_nil(r);
    mime_sp(r);
    if (a->route)
        mime_str(r, v, a->rs, a->re, P_ADDR);
    else
        mime_nil(r);
    mime_sp(r);
    if (mime_measure(v, a->ls, a->le, P_ADDR, NULL) > 0)
        mime_str(r, v, a->ls, a->le, P_ADDR);
    else
        mime_cstr(r, "MISSING_MAILBOX");
    mime_sp(r);
    if (mime_measure(v, a->ds, a->de, P_ADDR, NULL) > 0)
        mime_str(r, v, a->ds, a->de, P_ADDR);
    else
        mime_cstr(r, "MISSING_DOMAIN");
    mime_puts(r->s, ")");
}

/* Walk an address list; write its entries when write is set. Returns the
 * number of entries (addresses and group markers). Groups are
 * (NIL NIL "name" NIL) ... (NIL NIL NIL NIL), always closed. */
static uint32_t mime_addr_list(struct mime_rend *r, const uint8_t *v,
                               size_t n, int write)
{
    size_t i = 0;
    uint32_t count = 0, addrs = 0;
    int in_group = 0;
    struct mime_elem el;
    struct mime_addr a;
    for (;;) {
        size_t next;
        if (write && mime_full(r->s))
            return count;
        next = mime_addr_elem(v, n, i, in_group, &el);
        if (el.delim == ':') {
            if (addrs >= r->lim->addr_max)
                break;
            if (write) {
                mime_puts(r->s, "(NIL NIL ");
                mime_str(r, v, el.s, el.e, P_PHRASE);
                mime_puts(r->s, " NIL)");
            }
            count++;
            in_group = 1;
            i = next;
            continue;
        }
        if (mime_addr_parse(v, el.s, el.e, &a)) {
            if (addrs >= r->lim->addr_max)
                break;
            if (write)
                mime_addr_write(r, v, &a);
            count++;
            addrs++;
        }
        if (el.delim == ';' && in_group) {
            if (write)
                mime_puts(r->s, "(NIL NIL NIL NIL)");
            count++;
            in_group = 0;
        }
        if (el.delim == 0)
            break;
        i = next;
    }
    if (in_group) {
        if (write)
            mime_puts(r->s, "(NIL NIL NIL NIL)");
        count++;
    }
    return count;
}

/* An address field: a list, NIL when absent or empty; Sender and
 * Reply-To fall back to From (RFC 3501 7.4.2). */
static void mime_addr_field(struct mime_rend *r,
                            const struct lwm_mime_part *p, int tag)
{
    size_t n = 0;
    const uint8_t *v = mime_rec(r->m, p, tag, &n);
    uint32_t cnt = 0;
    if (r->lim->addr_max > 0) {
        if (v != NULL)
            cnt = mime_addr_list(r, v, n, 0);
        if (cnt == 0 && (tag == T_SENDER || tag == T_REPLYTO)) {
            v = mime_rec(r->m, p, T_FROM, &n);
            if (v != NULL)
                cnt = mime_addr_list(r, v, n, 0);
        }
    }
    if (cnt == 0) {
        mime_nil(r);
        return;
    }
    mime_puts(r->s, "(");
    mime_addr_list(r, v, n, 1);
    mime_puts(r->s, ")");
}

/* ENVELOPE of the message whose header is part idx. */
static void mime_env(struct mime_rend *r, uint16_t idx, int nil)
{
    const struct lwm_mime_part *p = &r->m->part[idx];
    uint16_t cap = r->lim->str_cap;
    int t;
    if (nil) {
        mime_puts(r->s, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
        return;
    }
    mime_puts(r->s, "(");
    mime_nstr(r, p, T_DATE, cap, 0);
    mime_sp(r);
    mime_nstr(r, p, T_SUBJECT, cap, 0);
    for (t = T_FROM; t <= T_BCC; t++) {
        mime_sp(r);
        mime_addr_field(r, p, t);
    }
    mime_sp(r);
    mime_nstr(r, p, T_INREPLYTO, cap, 1);
    mime_sp(r);
    mime_nstr(r, p, T_MSGID, cap, 1);
    mime_puts(r->s, ")");
}

/* ------------------------------------------------------------ bodies */

#define MIME_EMPTY_BODY \
    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0"

/* Parameters as ("a" "v" ...) or NIL; text gets a default charset, as
 * Dovecot does. */
static void mime_params(struct mime_rend *r, const uint8_t *p, size_t n,
                        int text)
{
    size_t i = 0, al, vl;
    const uint8_t *a, *val;
    int quoted, any = 0, charset = 0;
    if (!r->lim->params) {
        mime_nil(r);
        return;
    }
    while (mime_param_next(p, n, &i, &a, &al, &val, &vl, &quoted)) {
        mime_puts(r->s, any ? " " : "(");
        any = 1;
        if (lwm_ieq_word(a, al, "charset"))
            charset = 1;
        mime_str(r, a, 0, al, P_RAW);
        mime_sp(r);
        mime_str(r, val, 0, vl, quoted ? P_QUOTED : P_RAW);
    }
    if (text && !charset) {
        mime_puts(r->s, any ? " " : "(");
        any = 1;
        mime_puts(r->s, "\"charset\" \"us-ascii\"");
    }
    mime_puts(r->s, any ? ")" : "NIL");
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void mime_ext_common(struct mime_rend *r,
                            const struct lwm_mime_part *p)
{
    size_t n, i, s;
    const uint8_t *v = mime_rec(r->m, p, T_CDISP, &n);
    struct mime_ct d;
    mime_sp(r);
    if (mime_ct_parse(v, n, 0, &d)) {
        mime_puts(r->s, "(");
        mime_str(r, d.type, 0, d.tlen, P_RAW);
        mime_sp(r);
        mime_params(r, d.params, d.plen, 0);
        mime_puts(r->s, ")");
    } else {
        mime_nil(r);
    }
    mime_sp(r);
    v = mime_rec(r->m, p, T_CLANG, &n);
    if (v != NULL && n > 0) {
        mime_puts(r->s, "(");
        for (i = 0; i < n; i = s + 1) {
            for (s = i; s < n && v[s] != ','; s++)
                ;
            if (i > 0)
                mime_sp(r);
            mime_str(r, v, i, s, P_RAW);
        }
        mime_puts(r->s, ")");
    } else {
        mime_nil(r);
    }
    mime_sp(r);
    mime_nstr(r, p, T_CLOC, 0, 0);
}

/* Is a type string fit to send at this level? */
static int mime_tok_ok(const struct mime_rend *r, const uint8_t *v, size_t n)
{
    size_t i;
    if (r->lim->tok_cap != 0 && n > r->lim->tok_cap)
        return 0;
    if (r->lim->plain_tok)
        for (i = 0; i < n; i++)
            if (!mime_is_token(v[i]) && v[i] != '/')
                return 0;
    return 1;
}

static void mime_part(struct mime_rend *r, uint16_t idx, int ext);

static void mime_multipart(struct mime_rend *r, uint16_t idx, int ext,
                           const struct mime_ct *ct)
{
    const struct lwm_mime *m = r->m;
    uint16_t j;
    int any = 0;
    mime_puts(r->s, "(");
    for (j = (uint16_t)(idx + 1); j < m->nparts; j++)
        if (m->part[j].parent == idx) {
            mime_part(r, j, ext);
            any = 1;
        }
    if (!any) { /* no parts found: one empty text part, as Dovecot */
        mime_puts(r->s, MIME_EMPTY_BODY);
        mime_puts(r->s, ext ? " NIL NIL NIL NIL)" : ")");
    }
    mime_sp(r);
    if (mime_tok_ok(r, ct->sub, ct->slen))
        mime_str(r, ct->sub, 0, ct->slen, P_RAW);
    else
        mime_cstr(r, "mixed");
    if (ext) {
        mime_sp(r);
        mime_params(r, ct->params, ct->plen, 0);
        mime_ext_common(r, &m->part[idx]);
    }
    mime_puts(r->s, ")");
}

/* body = "(" (body-type-1part / body-type-mpart) ")" */
static void mime_part(struct mime_rend *r, uint16_t idx, int ext)
{
    const struct lwm_mime *m = r->m;
    const struct lwm_mime_part *p = &m->part[idx];
    struct mime_ct ct;
    int container = p->depth < r->lim->max_depth, text, msg = 0;
    uint16_t child = NONE, j;
    size_t n;
    const uint8_t *v;

    if (mime_full(r->s))
        return;
    mime_type_of(m, p, &ct);
    if ((p->flags & LWM_MIME_F_MULTIPART) && container) {
        mime_multipart(r, idx, ext, &ct);
        return;
    }
    if ((p->flags & LWM_MIME_F_MESSAGE) && container) {
        for (j = (uint16_t)(idx + 1); j < m->nparts && child == NONE; j++)
            if (m->part[j].parent == idx)
                child = j;
        msg = child != NONE;
    }
    if (!msg && ((p->flags & (LWM_MIME_F_MULTIPART | LWM_MIME_F_MESSAGE |
                              LWM_MIME_F_OPAQUE)) ||
                 lwm_ieq_word(ct.type, ct.tlen, "multipart") ||
                 (lwm_ieq_word(ct.type, ct.tlen, "message") &&
                  (lwm_ieq_word(ct.sub, ct.slen, "rfc822") ||
                   lwm_ieq_word(ct.sub, ct.slen, "global"))) ||
                 !mime_tok_ok(r, ct.type, ct.tlen) ||
                 !mime_tok_ok(r, ct.sub, ct.slen))) {
        /* never a multipart or message type without its structure */
        static const uint8_t ao[] = "application/octet-stream";
        ct.type = ao;
        ct.tlen = 11;
        ct.sub = ao + 12;
        ct.slen = 12;
    }
    text = !msg && lwm_ieq_word(ct.type, ct.tlen, "text");

    mime_puts(r->s, "(");
    mime_str(r, ct.type, 0, ct.tlen, P_RAW);
    mime_sp(r);
    mime_str(r, ct.sub, 0, ct.slen, P_RAW);
    mime_sp(r);
    mime_params(r, ct.params, ct.plen, text);
    mime_sp(r);
    mime_nstr(r, p, r->lim->params ? T_CID : T_NONE, 0, 0);
    mime_sp(r);
    mime_nstr(r, p, r->lim->params ? T_CDESC : T_NONE, 0, 0);
    mime_sp(r);
    v = mime_rec(m, p, T_CTE, &n);
    if (p->cte != CTE_OTHER)
        mime_cstr(r, lwm_str_at(mime_cte_names, p->cte));
    else if (v != NULL && mime_tok_ok(r, v, n))
        mime_str(r, v, 0, n, P_RAW);
    else
        mime_cstr(r, "X-UNKNOWN");
    mime_sp(r);
    mime_put_u32(r->s, p->body_len);
    if (text) {
        mime_sp(r);
        mime_put_u32(r->s, p->lines);
    } else if (msg) {
        mime_sp(r);
        mime_env(r, child, !r->lim->emb_env);
        mime_sp(r);
        mime_part(r, child, ext);
        mime_sp(r);
        mime_put_u32(r->s, p->lines);
    }
    if (ext) {
        mime_sp(r);
        mime_nstr(r, p, T_CMD5, 0, 0);
        mime_ext_common(r, p);
    }
    mime_puts(r->s, ")");
}

/* ------------------------------------------------------------ the blob */

static void mime_entry(const struct lwm_mime *m, uint16_t i, int single,
                       uint8_t e[LWM_MIME_BLOB_ENT])
{
    const struct lwm_mime_part *p = &m->part[i];
    memset(e, 0, LWM_MIME_BLOB_ENT);
    lwm_put32(e + 0, p->hdr_off);
    lwm_put32(e + 4, p->hdr_len);
    lwm_put32(e + 8, p->body_off);
    lwm_put32(e + 12, p->body_len);
    lwm_put32(e + 16, single ? p->body_len : p->bin_size);
    lwm_put32(e + 20, p->lines);
    lwm_put16(e + 24, i == 0 ? (uint16_t)NONE : p->parent);
    lwm_put16(e + 26, i == 0 ? 0 : p->child);
    e[28] = single ? 0 : (uint8_t)(p->flags & PF_BLOB_MASK);
    e[29] = single ? (uint8_t)LWM_MIME_ENC_IDENTITY : p->enc;
}

/* One of the three strings at a level: 0 ENVELOPE, 1 BODYSTRUCTURE,
 * 2 BODY. */
static void mime_string(const struct lwm_mime *m, int level, int which,
                        struct mime_sink *s)
{
    struct mime_rend r;
    r.m = m;
    r.s = s;
    r.lim = &mime_lims[level];
    if (r.lim->single) {
        if (which == 0) {
            mime_env(&r, 0, 1);
        } else {
            mime_puts(s, "(\"application\" \"octet-stream\" NIL NIL NIL "
                         "\"7BIT\" ");
            mime_put_u32(s, m->part[0].body_len);
            mime_puts(s, ")");
        }
    } else if (which == 0) {
        mime_env(&r, 0, 0);
    } else {
        mime_part(&r, 0, which == 1 && r.lim->ext);
    }
}

static void mime_blob(const struct lwm_mime *m, struct mime_sink *s)
{
    uint8_t h[LWM_MIME_BLOB_HDR], e[LWM_MIME_BLOB_ENT];
    int single = mime_lims[m->level].single, w;
    uint16_t np = single ? 1 : m->nparts, i;
    uint32_t off = LWM_MIME_BLOB_HDR + (uint32_t)np * LWM_MIME_BLOB_ENT;
    uint32_t crc;
    memset(h, 0, sizeof h);
    memcpy(h, "LWMB", 4);
    h[4] = LWM_MIME_BLOB_VERSION;
    h[5] = m->level;
    lwm_put16(h + 6, np);
    lwm_put32(h + 8, m->part[0].hdr_len + m->part[0].body_len);
    lwm_put32(h + 12, off);
    lwm_put32(h + 16, m->env_len);
    lwm_put32(h + 20, off + m->env_len);
    lwm_put32(h + 24, m->bs_len);
    lwm_put32(h + 28, off + m->env_len + m->bs_len);
    lwm_put32(h + 32, m->body_len);
    crc = lwm_crc32c(0, h, 36);
    for (i = 0; i < np; i++) {
        mime_entry(m, i, single, e);
        crc = lwm_crc32c(crc, e, sizeof e);
    }
    lwm_put32(h + 36, crc);
    mime_put(s, h, sizeof h);
    for (i = 0; i < np && !mime_full(s); i++) {
        mime_entry(m, i, single, e);
        mime_put(s, e, sizeof e);
    }
    s->pos = off;
    for (w = 0; w < 3 && !mime_full(s); w++)
        mime_string(m, m->level, w, s);
}

/* Pick the first level whose blob fits and remember the sizes. */
static void mime_prepare(struct lwm_mime *m)
{
    struct mime_sink s;
    uint32_t len[3], total = 0;
    int level, w;
    if (m->flags & MF_READY)
        return;
    lwm_mime_end(m);
    for (level = 0; level < MIME_LEVELS; level++) {
        uint16_t np = mime_lims[level].single ? 1 : m->nparts;
        total = LWM_MIME_BLOB_HDR + (uint32_t)np * LWM_MIME_BLOB_ENT;
        for (w = 0; w < 3; w++) {
            memset(&s, 0, sizeof s);
            mime_string(m, level, w, &s);
            len[w] = s.pos;
            total += s.pos;
        }
        if (total <= m->blob_max)
            break;
    }
    /* level 5 is about 200 bytes; blob_max >= 512 */
    m->level = (uint8_t)(level < MIME_LEVELS ? level : MIME_LEVELS - 1);
    m->env_len = len[0];
    m->bs_len = len[1];
    m->body_len = len[2];
    m->blob_len = total;
    m->flags |= MF_READY;
}

void lwm_mime_set_max(struct lwm_mime *m, uint32_t max)
{
    if (max < 512)
        max = 512;
    if (max > LWM_SUMMARY_MAX)
        max = LWM_SUMMARY_MAX;
    m->blob_max = max;
    m->flags &= (uint16_t)~MF_READY;
}

uint32_t lwm_mime_blob_size(struct lwm_mime *m)
{
    mime_prepare(m);
    return m->blob_len;
}

size_t lwm_mime_render(struct lwm_mime *m, uint32_t off, uint8_t *out,
                       size_t cap)
{
    struct mime_sink s;
    mime_prepare(m);
    if (out == NULL || off >= m->blob_len)
        return 0;
    if (cap > m->blob_len - off)
        cap = m->blob_len - off;
    s.out = out;
    s.off = off;
    s.cap = (uint32_t)cap;
    s.pos = 0;
    mime_blob(m, &s);
    return cap;
}

/* ================================================================ readers */

struct mime_ent {
    uint32_t hdr_off, hdr_len, body_off, body_len, bin_size, lines;
    uint16_t parent, child;
    uint8_t flags, enc;
};

static int mime_read(lwm_mime_read_fn rd, void *ctx, uint32_t off, void *buf,
                     uint32_t len)
{
    int r = rd(ctx, off, buf, len);
    if (r < 0)
        return r;
    return (uint32_t)r == len ? 0 : LWM_ERR_IO;
}

/* Read and check entry i of the part table. */
static int mime_read_ent(lwm_mime_read_fn rd, void *ctx,
                         const struct lwm_mime_sum *s, uint16_t i,
                         struct mime_ent *e)
{
    uint8_t b[LWM_MIME_BLOB_ENT];
    int r;
    if (i >= s->nparts)
        return LWM_ERR_CORRUPT;
    r = mime_read(rd, ctx, LWM_MIME_BLOB_HDR + (uint32_t)i * sizeof b, b,
                  sizeof b);
    if (r < 0)
        return r;
    e->hdr_off = lwm_get32(b);
    e->hdr_len = lwm_get32(b + 4);
    e->body_off = lwm_get32(b + 8);
    e->body_len = lwm_get32(b + 12);
    e->bin_size = lwm_get32(b + 16);
    e->lines = lwm_get32(b + 20);
    e->parent = lwm_get16(b + 24);
    e->child = lwm_get16(b + 26);
    e->flags = b[28];
    e->enc = b[29];
    if (e->hdr_len > s->msg_size || e->hdr_off > s->msg_size - e->hdr_len ||
        e->body_off != e->hdr_off + e->hdr_len ||
        e->body_len > s->msg_size - e->body_off || e->enc > 3 ||
        (i == 0 ? e->parent != NONE : e->parent >= i))
        return LWM_ERR_CORRUPT;
    return 0;
}

int lwm_mime_sum_info(lwm_mime_read_fn rd, void *ctx, uint32_t blob_len,
                      struct lwm_mime_sum *s)
{
    uint8_t h[LWM_MIME_BLOB_HDR], b[4 * LWM_MIME_BLOB_ENT];
    uint32_t crc, tab, off, k;
    struct mime_ent e;
    int r, i;
    memset(s, 0, sizeof *s);
    if (rd == NULL || blob_len < sizeof h)
        return LWM_ERR_CORRUPT;
    r = mime_read(rd, ctx, 0, h, sizeof h);
    if (r < 0)
        return r;
    if (memcmp(h, "LWMB", 4) != 0 || h[4] != LWM_MIME_BLOB_VERSION)
        return LWM_ERR_CORRUPT;
    s->nparts = lwm_get16(h + 6);
    s->level = h[5];
    s->msg_size = lwm_get32(h + 8);
    s->env_off = lwm_get32(h + 12);
    s->env_len = lwm_get32(h + 16);
    s->bs_off = lwm_get32(h + 20);
    s->bs_len = lwm_get32(h + 24);
    s->body_off = lwm_get32(h + 28);
    s->body_len = lwm_get32(h + 32);
    s->blob_len = blob_len;
    tab = LWM_MIME_BLOB_HDR + (uint32_t)s->nparts * LWM_MIME_BLOB_ENT;
    if (s->nparts == 0 || tab > blob_len)
        return LWM_ERR_CORRUPT;
    for (i = 0; i < 3; i++) {
        uint32_t so = i == 0 ? s->env_off : i == 1 ? s->bs_off : s->body_off;
        uint32_t sl = i == 0 ? s->env_len : i == 1 ? s->bs_len : s->body_len;
        if (so < tab || so > blob_len || sl > blob_len - so || sl == 0)
            return LWM_ERR_CORRUPT;
    }
    crc = lwm_crc32c(0, h, 36);
    for (off = LWM_MIME_BLOB_HDR; off < tab; off += k) {
        k = tab - off < sizeof b ? tab - off : (uint32_t)sizeof b;
        r = mime_read(rd, ctx, off, b, k);
        if (r < 0)
            return r;
        crc = lwm_crc32c(crc, b, k);
    }
    if (crc != lwm_get32(h + 36))
        return LWM_ERR_CORRUPT;
    r = mime_read_ent(rd, ctx, s, 0, &e);
    if (r < 0)
        return r;
    if (e.hdr_off != 0 || e.body_off + e.body_len != s->msg_size)
        return LWM_ERR_CORRUPT;
    return 0;
}

/* The child-th child of entry parent, or NONE. */
static int mime_find_child(lwm_mime_read_fn rd, void *ctx,
                           const struct lwm_mime_sum *s, uint16_t parent,
                           uint32_t child, uint16_t *idx)
{
    struct mime_ent e;
    uint32_t j;
    int r;
    *idx = NONE;
    if (child == 0 || child >= NONE)
        return 0;
    for (j = (uint32_t)parent + 1; j < s->nparts; j++) {
        r = mime_read_ent(rd, ctx, s, (uint16_t)j, &e);
        if (r < 0)
            return r;
        if (e.parent == parent && e.child == child) {
            *idx = (uint16_t)j;
            return 0;
        }
    }
    return 0;
}

int lwm_mime_section(lwm_mime_read_fn rd, void *ctx,
                     const struct lwm_mime_sum *s, const uint32_t *path,
                     int npath, int kind, struct lwm_mime_range *r)
{
    struct mime_ent e, c;
    uint16_t sel = NONE, msg = 0, idx;
    int i, err;
    memset(r, 0, sizeof *r);
    if (s == NULL || npath < 0 || (npath > 0 && path == NULL) ||
        kind < LWM_MIME_SEC_ALL || kind > LWM_MIME_SEC_MIME)
        return LWM_ERR_INVAL;
    if (npath == 0) {
        err = mime_read_ent(rd, ctx, s, 0, &e);
        if (err < 0)
            return err;
        switch (kind) {
        case LWM_MIME_SEC_ALL:
            r->len = s->msg_size;
            break;
        case LWM_MIME_SEC_HEADER:
            r->len = e.hdr_len;
            break;
        case LWM_MIME_SEC_TEXT:
            r->off = e.body_off;
            r->len = e.body_len;
            break;
        default:
            return 0; /* no MIME header for the message itself */
        }
        r->binary_size = r->len;
        r->found = 1;
        return 0;
    }
    for (i = 0; i < npath; i++) {
        if (i > 0) {
            err = mime_read_ent(rd, ctx, s, sel, &e);
            if (err < 0)
                return err;
            if (e.flags & LWM_MIME_F_MULTIPART) {
                err = mime_find_child(rd, ctx, s, sel, path[i], &sel);
                if (err < 0)
                    return err;
                if (sel == NONE)
                    return 0;
                continue;
            }
            if (!(e.flags & LWM_MIME_F_MESSAGE))
                return 0;
            err = mime_find_child(rd, ctx, s, sel, 1, &msg);
            if (err < 0)
                return err;
            if (msg == NONE)
                return 0;
        }
        /* inside message msg: its parts, or its body as part 1 */
        err = mime_read_ent(rd, ctx, s, msg, &e);
        if (err < 0)
            return err;
        if (e.flags & LWM_MIME_F_MULTIPART) {
            err = mime_find_child(rd, ctx, s, msg, path[i], &sel);
            if (err < 0)
                return err;
            if (sel == NONE)
                return 0;
        } else if (path[i] == 1) {
            sel = msg;
        } else {
            return 0;
        }
    }
    err = mime_read_ent(rd, ctx, s, sel, &e);
    if (err < 0)
        return err;
    switch (kind) {
    case LWM_MIME_SEC_ALL:
        r->off = e.body_off;
        r->len = e.body_len;
        r->binary_size = e.bin_size;
        r->encoding = e.enc;
        break;
    case LWM_MIME_SEC_MIME:
        r->off = e.hdr_off;
        r->len = e.hdr_len;
        r->binary_size = r->len;
        break;
    default:
        if (!(e.flags & LWM_MIME_F_MESSAGE))
            return 0;
        err = mime_find_child(rd, ctx, s, sel, 1, &idx);
        if (err < 0)
            return err;
        if (idx == NONE)
            return 0;
        err = mime_read_ent(rd, ctx, s, idx, &c);
        if (err < 0)
            return err;
        r->off = kind == LWM_MIME_SEC_HEADER ? c.hdr_off : c.body_off;
        r->len = kind == LWM_MIME_SEC_HEADER ? c.hdr_len : c.body_len;
        r->binary_size = r->len;
        break;
    }
    r->found = 1;
    return 0;
}

/* ================================================================ decoders */

/* quoted-printable states */
enum { Q_TEXT, Q_CR, Q_EQ, Q_EQ_HEX, Q_EQ_WS, Q_EQ_CR };

struct mime_dout {
    struct lwm_mime_dec *d;
    uint8_t *out;
    size_t cap, n;
};

/* One output byte: into out, into pend[] when out is full (a step makes
 * at most 20), or only counted. */
static void mime_dput(struct mime_dout *o, uint8_t c)
{
    if (o->out == NULL)
        o->n++;
    else if (o->n < o->cap)
        o->out[o->n++] = c;
    else if (o->d->npend < sizeof o->d->pend)
        o->d->pend[o->d->npend++] = c;
}

static int mime_hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lwm_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static void mime_qp_flush_ws(struct mime_dout *o)
{
    uint8_t i;
    for (i = 0; i < o->d->nws; i++)
        mime_dput(o, o->d->ws[i]);
    o->d->nws = 0;
}

/* Whitespace is held back: at a line end it is transport padding (RFC
 * 2045 6.7 rule 3) and goes. A longer run than ws[] holds is passed on. */
static void mime_qp_ws(struct mime_dout *o, uint8_t c)
{
    struct lwm_mime_dec *d = o->d;
    if (d->nws == sizeof d->ws) {
        if (d->st == Q_EQ_WS) {
            mime_dput(o, '=');
            d->st = Q_TEXT;
        }
        mime_qp_flush_ws(o);
    }
    d->ws[d->nws++] = c;
}

static void mime_qp_step(struct mime_dout *o, uint8_t c)
{
    struct lwm_mime_dec *d = o->d;
    int h;
again:
    switch (d->st) {
    case Q_TEXT:
        if (c == '=') {
            mime_qp_flush_ws(o);
            d->st = Q_EQ;
        } else if (c == ' ' || c == '\t') {
            mime_qp_ws(o, c);
        } else if (c == '\r') {
            d->st = Q_CR;
        } else if (c == '\n') {
            d->nws = 0; /* a hard line break, as in the source */
            mime_dput(o, '\n');
        } else {
            mime_qp_flush_ws(o);
            mime_dput(o, c);
        }
        break;
    case Q_CR:
        d->st = Q_TEXT;
        if (c == '\n') {
            d->nws = 0;
            mime_dput(o, '\r');
            mime_dput(o, '\n');
            break;
        }
        mime_qp_flush_ws(o);
        mime_dput(o, '\r');
        goto again;
    case Q_EQ:
        if (mime_hexval(c) >= 0) {
            d->hex = c;
            d->st = Q_EQ_HEX;
        } else if (c == ' ' || c == '\t') {
            d->st = Q_EQ_WS;
            mime_qp_ws(o, c);
        } else if (c == '\r') {
            d->st = Q_EQ_CR;
        } else if (c == '\n') {
            d->st = Q_TEXT; /* soft line break */
        } else {
            mime_dput(o, '='); /* malformed: passed through */
            d->st = Q_TEXT;
            goto again;
        }
        break;
    case Q_EQ_HEX:
        d->st = Q_TEXT;
        h = mime_hexval(c);
        if (h >= 0) {
            mime_dput(o, (uint8_t)(mime_hexval(d->hex) << 4 | h));
            break;
        }
        mime_dput(o, '=');
        mime_dput(o, d->hex);
        goto again;
    case Q_EQ_WS:
        if (c == ' ' || c == '\t') {
            mime_qp_ws(o, c);
        } else if (c == '\r') {
            d->st = Q_EQ_CR;
        } else if (c == '\n') {
            d->nws = 0; /* soft line break with padding */
            d->st = Q_TEXT;
        } else {
            mime_dput(o, '=');
            mime_qp_flush_ws(o);
            d->st = Q_TEXT;
            goto again;
        }
        break;
    case Q_EQ_CR:
        d->st = Q_TEXT;
        if (c == '\n') {
            d->nws = 0;
            break;
        }
        mime_dput(o, '=');
        mime_qp_flush_ws(o);
        mime_dput(o, '\r');
        goto again;
    default:
        d->st = Q_TEXT;
        break;
    }
}

static void mime_qp_flush(struct mime_dout *o)
{
    struct lwm_mime_dec *d = o->d;
    switch (d->st) {
    case Q_CR:
        mime_qp_flush_ws(o);
        mime_dput(o, '\r');
        break;
    case Q_EQ_HEX:
        mime_dput(o, '=');
        mime_dput(o, d->hex);
        break;
    default:
        /* trailing white space goes; so does a final "=" (the line end
         * after it belongs to the delimiter that follows the body) */
        break;
    }
    d->nws = 0;
    d->st = Q_TEXT;
}

/* "=" or the end: decode what a short group holds. */
static void mime_b64_tail(struct mime_dout *o)
{
    struct lwm_mime_dec *d = o->d;
    if (d->n == 2) {
        mime_dput(o, (uint8_t)(d->acc >> 4));
    } else if (d->n == 3) {
        mime_dput(o, (uint8_t)(d->acc >> 10));
        mime_dput(o, (uint8_t)(d->acc >> 2));
    }
    d->n = 0;
    d->acc = 0;
}

static void mime_b64_step(struct mime_dout *o, uint8_t c)
{
    struct lwm_mime_dec *d = o->d;
    int v = lwm_base64_value(c);
    if (v >= 0) {
        d->acc = d->acc << 6 | (uint32_t)v;
        if (++d->n == 4) {
            mime_dput(o, (uint8_t)(d->acc >> 16));
            mime_dput(o, (uint8_t)(d->acc >> 8));
            mime_dput(o, (uint8_t)d->acc);
            d->n = 0;
            d->acc = 0;
        }
    } else if (c == '=') {
        mime_b64_tail(o);
    }
    /* anything else (line ends, junk) is skipped */
}

void lwm_mime_dec_init(struct lwm_mime_dec *d, int encoding)
{
    memset(d, 0, sizeof *d);
    d->enc = (uint8_t)(encoding >= LWM_MIME_ENC_IDENTITY &&
                               encoding <= LWM_MIME_ENC_UNKNOWN
                           ? encoding
                           : LWM_MIME_ENC_UNKNOWN);
}

size_t lwm_mime_dec_run(struct lwm_mime_dec *d, const uint8_t *in,
                        size_t inlen, size_t *used, uint8_t *out,
                        size_t outcap)
{
    struct mime_dout o;
    size_t i, dummy;
    if (used == NULL)
        used = &dummy;
    *used = 0;
    o.d = d;
    o.out = out;
    o.cap = outcap;
    o.n = 0;
    if (in == NULL)
        inlen = 0;
    /* first what did not fit last time */
    while (d->ppos < d->npend && (out == NULL || o.n < outcap)) {
        if (out != NULL)
            out[o.n] = d->pend[d->ppos];
        o.n++;
        d->ppos++;
    }
    if (d->ppos < d->npend)
        return o.n;
    d->ppos = d->npend = 0;
    if (d->enc != LWM_MIME_ENC_BASE64 && d->enc != LWM_MIME_ENC_QP) {
        size_t k = inlen;
        if (out != NULL) {
            if (k > outcap - o.n)
                k = outcap - o.n;
            memcpy(out + o.n, in, k);
        }
        *used = k;
        return o.n + k;
    }
    if (out == NULL && inlen > 0 && d->enc == LWM_MIME_ENC_BASE64) {
        /* counting only (the decoded size at APPEND): the same rules as
         * mime_b64_step, without producing bytes - most of an APPEND's
         * CPU time went here */
        size_t n = o.n, start = 0;
        unsigned k = d->n;
        while (start < inlen) {
            /* a run up to the next "=" is counted in one pass: the
             * alphabet test without branches, so the compiler can
             * vectorise it (this loop sees every byte of every
             * attachment) */
            const uint8_t *eq = memchr(in + start, '=', inlen - start);
            size_t end = eq ? (size_t)(eq - in) : inlen, cnt = k;
            for (i = start; i < end; i++) {
                unsigned c = in[i];
                cnt += ((c - 'A') < 26u) | ((c - 'a') < 26u) |
                       ((c - '0') < 10u) | (c == '+') | (c == '/');
            }
            n += cnt / 4 * 3;
            k = (unsigned)(cnt % 4);
            if (eq) {
                n += k == 2 ? 1u : k == 3 ? 2u : 0u;
                k = 0;
                end++;
            }
            start = end;
        }
        d->n = (uint8_t)k;
        d->acc = 0;           /* only the count of sextets matters here */
        *used = inlen;
        return n;
    }
    if (inlen == 0) {
        if (d->enc == LWM_MIME_ENC_BASE64)
            mime_b64_tail(&o);
        else
            mime_qp_flush(&o);
        return o.n;
    }
    for (i = 0; i < inlen; i++) {
        if (out != NULL && o.n >= outcap)
            break;
        if (d->enc == LWM_MIME_ENC_BASE64)
            mime_b64_step(&o, in[i]);
        else
            mime_qp_step(&o, in[i]);
        if (d->npend > 0) {
            i++;
            break;
        }
    }
    *used = i;
    return o.n;
}
