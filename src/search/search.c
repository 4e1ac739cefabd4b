/*
 * lwmail IMAP - SEARCH (see search.h for the grammar and the semantics).
 *
 * The program is a tree stored in preorder: every node knows the index
 * after its subtree (`end`), so a composite node's children are found by
 * hopping from i + 1 through the children's `end`s, and evaluating the
 * nodes from the last to the first sees every child before its parent.
 * Nothing recurses: a key nested a thousand NOTs deep costs no stack.
 *
 * Values are three-valued (no, yes, not known yet). Flag, set, size and
 * internal-date keys are known at lwm_search_begin(); substring keys and
 * the Date: field become known while the message streams through
 * lwm_search_feed(), and whatever is still unknown when the text ends is
 * "no". The tree is re-evaluated only when a leaf changed, so a byte that
 * decides nothing costs only the scanners' work.
 */
#include <string.h>

#include "search.h"
#include "imap/args.h"
#include "imap/parse.h"
#include "lwmail/lwm_store.h"
#include "util/lwm_util.h"

_Static_assert(LWM_SEARCH_ARENA <= 65535, "LWM_SEARCH_ARENA must be < 64 KiB");
_Static_assert(LWM_SEARCH_MAX_NODES >= 2 && LWM_SEARCH_MAX_NODES <= 65535,
               "LWM_SEARCH_MAX_NODES must be 2..65535");
_Static_assert(LWM_SEARCH_MAX_NEEDLES >= 1 && LWM_SEARCH_MAX_NEEDLES <= 255,
               "LWM_SEARCH_MAX_NEEDLES must be 1..255");

/* ------------------------------------------------------------ constants */

enum {
    OP_AND = 1,       /* children until end (the top level, a list) */
    OP_OR,            /* two children */
    OP_NOT,           /* one child */
    OP_TRUE,
    OP_FALSE,
    OP_FLAG_SET,      /* arg: flag mask, all set */
    OP_FLAG_CLEAR,    /* arg: flag mask, none set */
    OP_SEQ,           /* arg: arena offset | length << 16 */
    OP_UID,
    OP_SAVED,         /* "$" */
    OP_LARGER,        /* arg: size */
    OP_SMALLER,
    OP_BEFORE,        /* arg: day number (int32, days since 1970-01-01) */
    OP_ON,
    OP_SINCE,
    OP_SENTBEFORE,
    OP_SENTON,
    OP_SENTSINCE,
    OP_NEEDLE         /* arg: needle index */
};

#define V_NO  0
#define V_YES 1
#define V_UNK 2

/* needle.where */
#define W_HEADER 1
#define W_BODY   2
#define W_TEXT   3

/* needle.state: where the header scanner is for this needle's field */
#define S_IDLE  0
#define S_NAME  1   /* the current line's name matches so far */
#define S_VALUE 2   /* inside a value of the needle's field */

/* prog.uses */
#define USE_DATE   0x01  /* SENTBEFORE/SENTON/SENTSINCE */
#define USE_TEXT   0x02  /* a BODY or TEXT needle */
#define USE_SAVED  0x04  /* "$" */

/* prog.hstate: the header scanner */
#define H_LINE     0  /* at the start of a line */
#define H_NAME     1  /* in a field name */
#define H_NAME_WSP 2  /* white space between the name and the colon */
#define H_BAD      3  /* a line that is no field (or a fold of one) */
#define H_VALUE    4  /* in a field value */
#define H_BLANK_CR 5  /* a CR at the start of a line */
#define H_BODY     6  /* the header has ended */

/* prog.hflags */
#define HF_CR        0x01 /* a CR inside a line, its LF not yet seen */
#define HF_FOLD_OK   0x02 /* white space at H_LINE continues a line */
#define HF_FIELD     0x04 /* the current line belongs to a field value */
#define HF_LEAD      0x08 /* skipping the value's leading white space */
#define HF_DATE_NAME 0x10 /* the current name matches "date" so far */

/* prog.date_state */
#define DS_NONE   0  /* no Date: field seen yet */
#define DS_IN     1  /* inside the first Date: field */
#define DS_PARSED 2  /* sent_days from the Date: field */
#define DS_IDATE  3  /* sent_days from the internal date */

/* prog.dstate: the RFC 2047 decoder of a header value */
#define D_TEXT     0  /* ordinary text */
#define D_EQ       1  /* "=" */
#define D_CS       2  /* "=?" charset */
#define D_LANG     3  /* "=?" charset "*" language (RFC 2231) */
#define D_ENC      4  /* "=?" charset "?" */
#define D_ENC_Q    5  /* "=?" charset "?" encoding */
#define D_Q        6  /* Q encoded text */
#define D_Q_H1     7  /* Q: "=" */
#define D_Q_H2     8  /* Q: "=" hex */
#define D_B        9  /* B encoded text */
#define D_END     10  /* "?" in encoded text */
#define D_AFTER   11  /* after "?=": white space held in dws */
#define D_AFTER_EQ 12 /* after "?=" and white space: "=" */

/* prog.dcs: the charset candidates still matching (bits of cs_latin1[]),
 * then the result */
#define DCS_LATIN1 0x40  /* convert the decoded bytes from Latin-1 */
#define DCS_B      0x80  /* B encoding (else Q) */

/* Charsets whose bytes are converted as Latin-1 (Windows-1252 and -15
 * differ in a few letters; near enough for a substring search). */
static const char cs_latin1[4][13] = { "iso-8859-1", "iso-8859-15",
                                       "windows-1252", "latin1" };

#define DATE_CAP ((unsigned)sizeof(((struct lwm_search_prog *)0)->date_buf))

#define IS_WSP(c) ((c) == ' ' || (c) == '\t')

/* ------------------------------------------------------------ helpers */

/*
 * Case folding for substring keys: ASCII letters, and in UTF-8 the Latin-1
 * capitals U+00C0..U+00DE (C3 80..C3 9E, but not the multiplication sign
 * C3 97) to their small letters (C3 A0..C3 BE). The second byte is folded
 * by looking at the byte before it, so folding a stream needs one byte of
 * context and never changes its length, which keeps KMP exact.
 */
static uint8_t search_fold(uint8_t prev, uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return (uint8_t)(c + 32);
    if (prev == 0xC3 && c >= 0x80 && c <= 0x9E && c != 0x97)
        return (uint8_t)(c + 0x20);
    return c;
}

/* Day number of seconds since 1970 (floor), clamped to int32. */
static int32_t search_day_of(int64_t t)
{
    int64_t d = t / 86400;
    if (t % 86400 < 0)
        d--;
    if (d > INT32_MAX)
        return INT32_MAX;
    if (d < INT32_MIN)
        return INT32_MIN;
    return (int32_t)d;
}

static int search_is_alpha(uint8_t c)
{
    c = lwm_lower(c);
    return c >= 'a' && c <= 'z';
}

static int search_is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/*
 * The calendar date of an RFC 5322 date-time, comments already removed:
 *   [day-name ","] day month year time zone
 * Lenient as mail readers are: any day name, no comma, "-" between the
 * parts, month names spelled out, and the obsolete 2- and 3-digit years
 * (RFC 5322 4.3: 00-49 are 2000-2049, the rest 1900 + n). `full` says the
 * start of a longer value filled the buffer, so a year running into its
 * end may have been cut.
 */
static int search_parse_date(const uint8_t *s, size_t n, int full,
                             int32_t *days)
{
    size_t i = 0, k;
    unsigned d = 0, y = 0;
    int m;
    while (i < n && IS_WSP(s[i]))
        i++;
    if (i < n && search_is_alpha(s[i])) {
        while (i < n && search_is_alpha(s[i]))
            i++;
        while (i < n && IS_WSP(s[i]))
            i++;
        if (i < n && s[i] == ',')
            i++;
        while (i < n && IS_WSP(s[i]))
            i++;
    }
    for (k = 0; i < n && search_is_digit(s[i]); k++, i++)
        d = d * 10 + (unsigned)(s[i] - '0');
    if (k < 1 || k > 2)
        return 0;
    while (i < n && (IS_WSP(s[i]) || s[i] == '-'))
        i++;
    if (n - i < 3 || (m = lwm_month(s + i)) == 0)
        return 0;
    while (i < n && search_is_alpha(s[i]))
        i++;
    while (i < n && (IS_WSP(s[i]) || s[i] == '-'))
        i++;
    for (k = 0; i < n && search_is_digit(s[i]) && k < 5; k++, i++)
        y = y * 10 + (unsigned)(s[i] - '0');
    if (k < 2 || k > 4 || (i == n && full))
        return 0;
    if (k == 2)
        y += y < 50 ? 2000 : 1900;
    else if (k == 3)
        y += 1900;
    if (y < 1 || d < 1 || d > lwm_month_days((int32_t)y, (unsigned)m))
        return 0;
    *days = lwm_days_from_civil((int32_t)y, (unsigned)m, d);
    return 1;
}

/* One KMP step over the folded byte c; 1 when the needle is complete. */
static int search_kmp(const uint8_t *nd, unsigned len, uint8_t *pos,
                      uint8_t c)
{
    const uint8_t *fail = nd + len;
    unsigned k = *pos;
    while (k > 0 && nd[k] != c)
        k = fail[k - 1];
    if (nd[k] == c)
        k++;
    if (k == len) {
        *pos = (uint8_t)fail[k - 1];
        return 1;
    }
    *pos = (uint8_t)k;
    return 0;
}

/* ------------------------------------------------------------ evaluation */

static uint8_t search_cmp_days(uint8_t op, int32_t have, int32_t key)
{
    switch (op) {
    case OP_BEFORE:
    case OP_SENTBEFORE:
        return have < key;
    case OP_ON:
    case OP_SENTON:
        return have == key;
    default:
        return have >= key;
    }
}

/* Recompute the composite nodes (and the leaves that depend on the text)
 * from the last node to the first: children come after their parent. */
static void search_eval(struct lwm_search_prog *p)
{
    size_t i, c;
    p->dirty = 0;
    for (i = p->nnodes; i-- > 0;) {
        struct lwm_search_node *nd = &p->node[i];
        uint8_t v;
        switch (nd->op) {
        case OP_NEEDLE:
            nd->val = p->needle[nd->arg].val;
            break;
        case OP_SENTBEFORE:
        case OP_SENTON:
        case OP_SENTSINCE:
            if (p->date_state >= DS_PARSED)
                nd->val = search_cmp_days(nd->op, p->sent_days,
                                          (int32_t)nd->arg);
            break;
        case OP_AND:
        case OP_OR: {
            uint8_t stop = nd->op == OP_AND ? V_NO : V_YES;
            v = nd->op == OP_AND ? V_YES : V_NO;
            for (c = i + 1; c < nd->end; c = p->node[c].end) {
                if (p->node[c].val == stop) {
                    v = stop;
                    break;
                }
                if (p->node[c].val == V_UNK)
                    v = V_UNK;
            }
            nd->val = v;
            break;
        }
        case OP_NOT:
            v = p->node[i + 1].val;
            nd->val = v == V_UNK ? V_UNK : (uint8_t)!v;
            break;
        default:
            break;
        }
    }
}

/* ------------------------------------------------------------ streams */

/* A byte of a header field's value as decoded (RFC 2047) */
static void search_dec_out(struct lwm_search_prog *p, uint8_t raw)
{
    uint8_t c = search_fold(p->prev_d, raw);
    size_t k;
    p->prev_d = raw;
    for (k = 0; k < p->nneedles; k++) {
        struct lwm_search_needle *n = &p->needle[k];
        if (n->state == S_VALUE && n->val == V_UNK && n->len > 0 &&
            search_kmp(p->arena + n->off, n->len, &n->dpos, c)) {
            n->val = V_YES;
            p->dirty = 1;
        }
    }
}

/* A decoded byte in the charset of its encoded word */
static void search_dec_cs(struct lwm_search_prog *p, uint8_t b)
{
    if ((p->dcs & DCS_LATIN1) && b >= 0x80) {
        search_dec_out(p, (uint8_t)(0xC0 | (b >> 6)));
        search_dec_out(p, (uint8_t)(0x80 | (b & 0x3F)));
    } else {
        search_dec_out(p, b);
    }
}

/* Emit what the decoder holds back (an "=", white space after an encoded
 * word) and return to plain text. */
static void search_dec_flush(struct lwm_search_prog *p)
{
    uint8_t k;
    if (p->dstate == D_EQ) {
        search_dec_out(p, '=');
    } else if (p->dstate == D_AFTER || p->dstate == D_AFTER_EQ) {
        for (k = 0; k < p->dws_len; k++)
            search_dec_out(p, p->dws[k]);
        if (p->dstate == D_AFTER_EQ)
            search_dec_out(p, '=');
    }
    p->dstate = D_TEXT;
    p->dws_len = 0;
}

static int search_hex(uint8_t c)
{
    c = lwm_lower(c);
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * RFC 2047 decoder, one raw value byte at a time:
 *   encoded-word = "=?" charset ["*" language] "?" encoding "?"
 *                  encoded-text "?="
 * It never buffers an encoded word: decoded bytes go out as they are
 * known. When a would-be encoded word turns out malformed, the bytes it
 * swallowed are not replayed (the raw stream still sees them) and the
 * offending byte is taken as plain text.
 */
static void search_decode(struct lwm_search_prog *p, uint8_t c)
{
    int v;
    unsigned k;
    switch (p->dstate) {
    case D_EQ:
        if (c == '?')
            goto start_word;
        search_dec_out(p, '=');
        p->dstate = D_TEXT;
        break;
    case D_CS:
        if (c == '?' || c == '*') {
            uint8_t alive = p->dcs;
            if (p->dn == 0)
                break;                      /* "=??": malformed */
            p->dcs = 0;
            for (k = 0; k < 4; k++)
                if ((alive & (1u << k)) && cs_latin1[k][p->dn] == 0)
                    p->dcs = DCS_LATIN1;
            p->dstate = c == '?' ? D_ENC : D_LANG;
            return;
        }
        if (c <= ' ' || c >= 0x7F || p->dn >= 40)
            break;
        for (k = 0; k < 4; k++)
            if (p->dn >= sizeof cs_latin1[k] ||
                (uint8_t)cs_latin1[k][p->dn] != lwm_lower(c))
                p->dcs &= (uint8_t)~(1u << k);
        p->dn++;
        return;
    case D_LANG:
        if (c == '?') {
            p->dstate = D_ENC;
            return;
        }
        if (c <= ' ' || c >= 0x7F)
            break;
        return;
    case D_ENC:
        if (lwm_lower(c) == 'b')
            p->dcs |= DCS_B;
        else if (lwm_lower(c) != 'q')
            break;
        p->dstate = D_ENC_Q;
        return;
    case D_ENC_Q:
        if (c != '?')
            break;
        p->dstate = (p->dcs & DCS_B) ? D_B : D_Q;
        p->dacc = 0;
        p->dn = 0;
        return;
    case D_Q:
        if (c == '?')
            p->dstate = D_END;
        else if (c == '_')
            search_dec_cs(p, ' ');
        else if (c == '=')
            p->dstate = D_Q_H1;
        else if (c <= ' ' || c >= 0x7F)
            break;
        else
            search_dec_cs(p, c);
        return;
    case D_Q_H1:
        if ((v = search_hex(c)) < 0)
            break;
        p->dacc = (uint32_t)v;
        p->dstate = D_Q_H2;
        return;
    case D_Q_H2:
        if ((v = search_hex(c)) < 0)
            break;
        search_dec_cs(p, (uint8_t)(p->dacc << 4 | (uint32_t)v));
        p->dstate = D_Q;
        return;
    case D_B:
        if (c == '?') {
            p->dstate = D_END;
            return;
        }
        if (c == '=')
            return;                         /* padding */
        if ((v = lwm_base64_value(c)) < 0)
            break;
        p->dacc = p->dacc << 6 | (uint32_t)v;
        p->dn = (uint8_t)(p->dn + 6);
        if (p->dn >= 8) {
            p->dn = (uint8_t)(p->dn - 8);
            search_dec_cs(p, (uint8_t)(p->dacc >> p->dn));
        }
        return;
    case D_END:
        if (c != '=')
            break;
        p->dstate = D_AFTER;
        p->dws_len = 0;
        return;
    case D_AFTER:
        /* white space between two encoded words is not part of the text
         * (RFC 2047 section 6.2): hold it until we know what follows */
        if (IS_WSP(c) && p->dws_len < sizeof p->dws) {
            p->dws[p->dws_len++] = c;
            return;
        }
        if (c == '=') {
            p->dstate = D_AFTER_EQ;
            return;
        }
        search_dec_flush(p);
        break;
    case D_AFTER_EQ:
        if (c == '?')
            goto start_word;
        search_dec_flush(p);
        break;
    default:
        break;
    }
    /* plain text (or a malformed encoded word ended at c) */
    p->dstate = D_TEXT;
    if (c == '=') {
        p->dstate = D_EQ;
        return;
    }
    search_dec_out(p, c);
    return;

start_word:
    p->dstate = D_CS;
    p->dws_len = 0;
    p->dn = 0;
    p->dcs = 0x0F;                          /* every candidate charset */
}

/* A byte of the current field's unfolded value (leading white space
 * already skipped). */
static void search_hval(struct lwm_search_prog *p, uint8_t raw)
{
    uint8_t c;
    size_t k;
    if (p->date_state == DS_IN) {
        /* keep the start of the Date: value, comments out */
        if (raw == '(' && p->date_paren < 255)
            p->date_paren++;
        else if (raw == ')' && p->date_paren > 0)
            p->date_paren--;
        else if (p->date_paren == 0) {
            if (p->date_len < DATE_CAP)
                p->date_buf[p->date_len++] = raw;
            else
                p->date_full = 1;
        }
    }
    if (p->active == 0)
        return;
    c = search_fold(p->prev_h, raw);
    p->prev_h = raw;
    for (k = 0; k < p->nneedles; k++) {
        struct lwm_search_needle *n = &p->needle[k];
        if (n->state == S_VALUE && n->val == V_UNK && n->len > 0 &&
            search_kmp(p->arena + n->off, n->len, &n->pos, c)) {
            n->val = V_YES;
            p->dirty = 1;
        }
    }
    search_decode(p, raw);
}

/* A byte of TEXT (the header without its folds, then the body); in the
 * body also a byte of BODY. */
static void search_text(struct lwm_search_prog *p, uint8_t raw, int body)
{
    uint8_t c = search_fold(p->prev_t, raw);
    size_t k;
    p->prev_t = raw;
    for (k = 0; k < p->nneedles; k++) {
        struct lwm_search_needle *n = &p->needle[k];
        if ((n->where == W_TEXT || (body && n->where == W_BODY)) &&
            n->val == V_UNK &&
            search_kmp(p->arena + n->off, n->len, &n->pos, c)) {
            n->val = V_YES;
            p->dirty = 1;
        }
    }
}

/* Flush a line break the TEXT filter held back. */
static void search_text_flush(struct lwm_search_prog *p)
{
    if (p->tpend & 1)
        search_text(p, '\r', 0);
    if (p->tpend & 2)
        search_text(p, '\n', 0);
    p->tpend = 0;
}

/*
 * TEXT sees the header unfolded: a line break (CRLF or LF) followed by
 * white space is dropped. The break is held (tpend: 1 CR, 2 LF, 3 CRLF)
 * until the next byte shows whether it is a fold.
 */
static void search_text_hdr(struct lwm_search_prog *p, uint8_t c)
{
    if (p->tpend == 1) {
        if (c == '\n') {
            p->tpend = 3;
            return;
        }
        search_text_flush(p);
    } else if (p->tpend) {
        if (IS_WSP(c))
            p->tpend = 0;
        else
            search_text_flush(p);
    }
    if (c == '\r')
        p->tpend = 1;
    else if (c == '\n')
        p->tpend = 2;
    else
        search_text(p, c, 0);
}

/* ------------------------------------------------------------ header */

static void search_name_start(struct lwm_search_prog *p)
{
    size_t k;
    p->name_len = 0;
    for (k = 0; k < p->nneedles; k++) {
        struct lwm_search_needle *n = &p->needle[k];
        n->state = n->where == W_HEADER && n->val == V_UNK ? S_NAME
                                                           : S_IDLE;
    }
    if ((p->uses & USE_DATE) && p->date_state == DS_NONE)
        p->hflags |= HF_DATE_NAME;
}

static void search_name_byte(struct lwm_search_prog *p, uint8_t c)
{
    uint32_t i = p->name_len;
    size_t k;
    c = lwm_lower(c);
    for (k = 0; k < p->nneedles; k++) {
        struct lwm_search_needle *n = &p->needle[k];
        if (n->state == S_NAME &&
            (i >= n->field_len || p->arena[n->field_off + i] != c))
            n->state = S_IDLE;
    }
    if (i >= 4 || (uint8_t)"date"[i] != c)
        p->hflags &= (uint8_t)~HF_DATE_NAME;
    if (p->name_len < 256)                  /* no field name is longer */
        p->name_len++;
}

/* The colon after a field name: the value starts. */
static void search_field_start(struct lwm_search_prog *p)
{
    size_t k;
    p->active = 0;
    for (k = 0; k < p->nneedles; k++) {
        struct lwm_search_needle *n = &p->needle[k];
        if (n->state != S_NAME)
            continue;
        if (n->field_len != p->name_len) {
            n->state = S_IDLE;
            continue;
        }
        n->state = S_VALUE;
        n->pos = n->dpos = 0;
        p->active++;
        if (n->len == 0) {                  /* HEADER name "": present */
            n->val = V_YES;
            p->dirty = 1;
        }
    }
    if ((p->hflags & HF_DATE_NAME) && p->name_len == 4) {
        p->date_state = DS_IN;
        p->date_len = 0;
        p->date_paren = 0;
        p->date_full = 0;
    }
    p->hflags = (uint8_t)((p->hflags & ~HF_DATE_NAME) | HF_FIELD | HF_LEAD);
    p->prev_h = p->prev_d = 0;
    p->dstate = D_TEXT;
    p->dws_len = 0;
}

static void search_field_end(struct lwm_search_prog *p)
{
    size_t k;
    if (!(p->hflags & HF_FIELD))
        return;
    p->hflags &= (uint8_t)~HF_FIELD;
    if (p->active) {
        search_dec_flush(p);
        for (k = 0; k < p->nneedles; k++)
            if (p->needle[k].state == S_VALUE)
                p->needle[k].state = S_IDLE;
        p->active = 0;
    }
    if (p->date_state == DS_IN) {
        if (search_parse_date(p->date_buf, p->date_len, p->date_full,
                              &p->sent_days)) {
            p->date_state = DS_PARSED;
        } else {
            p->sent_days = p->idate_days;
            p->date_state = DS_IDATE;
        }
        p->dirty = 1;
    }
}

/* The header has ended (its blank line, or the end of the message):
 * every header key is decided. */
static void search_header_done(struct lwm_search_prog *p)
{
    size_t k;
    search_field_end(p);
    search_text_flush(p);
    p->hstate = H_BODY;
    for (k = 0; k < p->nneedles; k++) {
        if (p->needle[k].where == W_HEADER &&
            p->needle[k].val == V_UNK)
            p->needle[k].val = V_NO;
        p->needle[k].state = S_IDLE;
    }
    if (p->date_state < DS_PARSED) {
        p->sent_days = p->idate_days;
        p->date_state = DS_IDATE;
    }
    p->dirty = 1;
}

/* A byte inside a line (CR and LF already handled). */
static void search_line_byte(struct lwm_search_prog *p, uint8_t c)
{
    switch (p->hstate) {
    case H_NAME:
        if (c == ':') {
            search_field_start(p);
            p->hstate = H_VALUE;
        } else if (IS_WSP(c)) {
            p->hstate = H_NAME_WSP;         /* obs-optional: "Name :" */
        } else if (c < 33 || c > 126) {
            p->hstate = H_BAD;              /* ftext is %d33-57 / %d59-126 */
        } else {
            search_name_byte(p, c);
        }
        break;
    case H_NAME_WSP:
        if (c == ':') {
            search_field_start(p);
            p->hstate = H_VALUE;
        } else if (!IS_WSP(c)) {
            p->hstate = H_BAD;
        }
        break;
    case H_VALUE:
        if (p->hflags & HF_LEAD) {
            if (IS_WSP(c))
                break;
            p->hflags &= (uint8_t)~HF_LEAD;
        }
        search_hval(p, c);
        break;
    default:
        break;
    }
}

/*
 * The header scanner. Lines end in LF or CRLF; a line starting with white
 * space continues the previous one (its line break is dropped, the white
 * space kept: RFC 5322 unfolding); the first empty line ends the header.
 */
static void search_hdr_byte(struct lwm_search_prog *p, uint8_t c)
{
    switch (p->hstate) {
    case H_LINE:
        if (IS_WSP(c) && (p->hflags & HF_FOLD_OK)) {
            if (p->hflags & HF_FIELD) {
                p->hstate = H_VALUE;
                search_line_byte(p, c);
            } else {
                p->hstate = H_BAD;
            }
            return;
        }
        search_field_end(p);
        if (c == '\r') {
            p->hstate = H_BLANK_CR;
            return;
        }
        if (c == '\n') {
            search_header_done(p);
            return;
        }
        p->hflags |= HF_FOLD_OK;
        if (c == ':' || IS_WSP(c)) {
            p->hstate = H_BAD;
            return;
        }
        search_name_start(p);
        p->hstate = H_NAME;
        search_line_byte(p, c);
        return;
    case H_BLANK_CR:
        if (c == '\n') {
            search_header_done(p);
            return;
        }
        p->hflags |= HF_FOLD_OK;
        p->hstate = H_BAD;                  /* a line starting with CR */
        break;
    default:
        break;
    }
    /* inside a line */
    if (p->hflags & HF_CR) {
        p->hflags &= (uint8_t)~HF_CR;
        if (c == '\n') {
            p->hstate = H_LINE;
            return;
        }
        search_line_byte(p, '\r');          /* a CR alone is just a byte */
    }
    if (c == '\r')
        p->hflags |= HF_CR;
    else if (c == '\n')
        p->hstate = H_LINE;
    else
        search_line_byte(p, c);
}

/* ------------------------------------------------------------ compiler */

/* kinds of key argument */
enum {
    K_CONST = 1,  /* no argument; op is OP_TRUE or OP_FALSE */
    K_FLAG,       /* no argument; op OP_FLAG_SET/CLEAR, arg the flag */
    K_FIELD,      /* astring, matched in header field hfields[arg] */
    K_HEADER,     /* header-fld-name astring */
    K_TEXT,       /* astring; arg W_BODY or W_TEXT */
    K_DATE,       /* date */
    K_NUMBER,     /* number64 */
    K_KEYWORD,    /* flag-keyword; op OP_FLAG_SET/CLEAR */
    K_UID,        /* sequence-set */
    K_NOT,
    K_OR
};

struct search_key {
    uint8_t kind, op, arg;
};

static const char hfields[] = "bcc\0cc\0from\0subject\0to";

/* The keys' names, back to back, and their definitions in the same order */
static const char search_key_names[] =
    "ALL\0ANSWERED\0BCC\0BEFORE\0BODY\0CC\0DELETED\0DRAFT\0FLAGGED\0FROM\0"
    "HEADER\0KEYWORD\0LARGER\0NEW\0NOT\0OLD\0ON\0OR\0RECENT\0SEEN\0"
    "SENTBEFORE\0SENTON\0SENTSINCE\0SINCE\0SMALLER\0SUBJECT\0TEXT\0TO\0"
    "UID\0UNANSWERED\0UNDELETED\0UNDRAFT\0UNFLAGGED\0UNKEYWORD\0UNSEEN\0";

static const struct search_key search_keys[] = {
    { K_CONST, OP_TRUE, 0 },                    /* ALL */
    { K_FLAG, OP_FLAG_SET, LWM_FLAG_ANSWERED },
    { K_FIELD, OP_NEEDLE, 0 },                  /* BCC */
    { K_DATE, OP_BEFORE, 0 },
    { K_TEXT, OP_NEEDLE, W_BODY },              /* BODY */
    { K_FIELD, OP_NEEDLE, 1 },                  /* CC */
    { K_FLAG, OP_FLAG_SET, LWM_FLAG_DELETED },
    { K_FLAG, OP_FLAG_SET, LWM_FLAG_DRAFT },
    { K_FLAG, OP_FLAG_SET, LWM_FLAG_FLAGGED },
    { K_FIELD, OP_NEEDLE, 2 },                  /* FROM */
    { K_HEADER, OP_NEEDLE, 0 },
    { K_KEYWORD, OP_FLAG_SET, 0 },
    { K_NUMBER, OP_LARGER, 0 },
    { K_CONST, OP_FALSE, 0 },           /* NEW: RECENT UNSEEN, no \Recent */
    { K_NOT, OP_NOT, 0 },
    { K_CONST, OP_TRUE, 0 },                    /* OLD: NOT RECENT */
    { K_DATE, OP_ON, 0 },
    { K_OR, OP_OR, 0 },
    { K_CONST, OP_FALSE, 0 },                   /* RECENT */
    { K_FLAG, OP_FLAG_SET, LWM_FLAG_SEEN },
    { K_DATE, OP_SENTBEFORE, 0 },
    { K_DATE, OP_SENTON, 0 },
    { K_DATE, OP_SENTSINCE, 0 },
    { K_DATE, OP_SINCE, 0 },
    { K_NUMBER, OP_SMALLER, 0 },
    { K_FIELD, OP_NEEDLE, 3 },                  /* SUBJECT */
    { K_TEXT, OP_NEEDLE, W_TEXT },              /* TEXT */
    { K_FIELD, OP_NEEDLE, 4 },                  /* TO */
    { K_UID, OP_UID, 0 },
    { K_FLAG, OP_FLAG_CLEAR, LWM_FLAG_ANSWERED },
    { K_FLAG, OP_FLAG_CLEAR, LWM_FLAG_DELETED },
    { K_FLAG, OP_FLAG_CLEAR, LWM_FLAG_DRAFT },
    { K_FLAG, OP_FLAG_CLEAR, LWM_FLAG_FLAGGED },
    { K_KEYWORD, OP_FLAG_CLEAR, 0 },
    { K_FLAG, OP_FLAG_CLEAR, LWM_FLAG_SEEN },
};

static int search_atom_is(const uint8_t *buf, const struct lwm_tok *t,
                          const char *w)
{
    return t->type == LWM_TOK_ATOM && lwm_ieq_word(buf + t->off, t->len, w);
}

static int search_is_string(const struct lwm_tok *t)
{
    return t->type == LWM_TOK_ATOM || t->type == LWM_TOK_QUOTED ||
           t->type == LWM_TOK_LITERAL;
}

/* The length of an astring token's value (quoted: without the escapes). */
static size_t search_str_len(const uint8_t *buf, const struct lwm_tok *t)
{
    size_t i, n = 0;
    for (i = 0; i < t->len; i++, n++)
        if (t->type == LWM_TOK_QUOTED && buf[t->off + i] == '\\' &&
            i + 1 < t->len)
            i++;
    return n;
}

/* Copy an astring token's value (search_str_len() bytes) to out. */
static void search_str_copy(const uint8_t *buf, const struct lwm_tok *t,
                            uint8_t *out)
{
    size_t i, n = 0;
    for (i = 0; i < t->len; i++) {
        if (t->type == LWM_TOK_QUOTED && buf[t->off + i] == '\\' &&
            i + 1 < t->len)
            i++;
        out[n++] = buf[t->off + i];
    }
}

struct search_cc {
    struct lwm_search_prog *p;
    const uint8_t *buf;
    uint16_t cur;                 /* innermost open node */
    uint8_t why;                  /* F_*: the failure */
};

/* Why a compile failed: an index into search_errs[], whose place gives
 * the code the caller answers with (lwm_search_compile turns it into
 * both: one small number per failure site, not a code and a string). */
enum {
    /* LWM_SEARCH_ERR_LIMIT */
    F_KEYS, F_ARENA, F_STRING_LEN, F_FIELD_LEN, F_STRINGS,
    /* LWM_SEARCH_ERR_CHARSET */
    F_CHARSET,
    /* LWM_SEARCH_ERR_SYNTAX */
    F_SET, F_KEYWORD, F_NUMBER, F_NUMBER_LEN, F_DATE, F_KEY, F_KEY_NAME,
    F_ARG, F_RETURN, F_RETURN_OPT, F_PARENS, F_CHARSET_ARG, F_EMPTY_LIST
};

static const char search_errs[] =
    "too many search keys\0search strings too long\0"
    "search string longer than 255 bytes\0header field name too long\0"
    "too many search strings\0unsupported charset\0bad sequence set\0"
    "bad keyword\0bad number\0number too large\0bad date\0"
    "search key expected\0unknown search key\0search key argument missing\0"
    "RETURN needs a list of options\0unknown RETURN option\0"
    "unbalanced parentheses\0charset expected\0empty parenthesized list";

static int search_fail(struct search_cc *cc, uint8_t why)
{
    cc->why = why;
    return -1;
}

/* Append a node; returns its index or -1. */
static int search_node(struct search_cc *cc, uint8_t op, uint32_t arg)
{
    struct lwm_search_prog *p = cc->p;
    struct lwm_search_node *nd;
    if (p->nnodes >= LWM_SEARCH_MAX_NODES)
        return search_fail(cc, F_KEYS);
    nd = &p->node[p->nnodes];
    nd->op = op;
    nd->val = V_UNK;
    nd->arg = arg;
    nd->end = (uint16_t)(p->nnodes + 1);
    return p->nnodes++;
}

static int search_alloc(struct search_cc *cc, size_t n, uint16_t *off)
{
    struct lwm_search_prog *p = cc->p;
    if (n > (size_t)LWM_SEARCH_ARENA - p->arena_used)
        return search_fail(cc, F_ARENA);
    *off = p->arena_used;
    p->arena_used = (uint16_t)(p->arena_used + n);
    return 0;
}

/* A substring key: needle t, matched in `where` (header field name at
 * fname[0..flen) for W_HEADER). */
static int search_needle(struct search_cc *cc, uint8_t where,
                         const uint8_t *fname, size_t flen,
                         const struct lwm_tok *fname_tok,
                         const struct lwm_tok *t)
{
    struct lwm_search_prog *p = cc->p;
    struct lwm_search_needle *n;
    size_t len = search_str_len(cc->buf, t), i, k;
    uint8_t *s, prev = 0;
    uint16_t off, foff = 0;

    if (len == 0 && where != W_HEADER)  /* every message has a body */
        return search_node(cc, OP_TRUE, 0);
    if (len > 255)
        return search_fail(cc, F_STRING_LEN);
    if (fname_tok)
        flen = search_str_len(cc->buf, fname_tok);
    if (flen > 255)
        return search_fail(cc, F_FIELD_LEN);
    if (p->nneedles >= LWM_SEARCH_MAX_NEEDLES)
        return search_fail(cc, F_STRINGS);
    if (search_alloc(cc, 2 * len, &off) < 0 ||
        search_alloc(cc, flen, &foff) < 0)
        return -1;

    /* the field name in lower case */
    if (fname_tok)
        search_str_copy(cc->buf, fname_tok, p->arena + foff);
    else if (flen > 0)
        memcpy(p->arena + foff, fname, flen);
    for (i = 0; i < flen; i++)
        p->arena[foff + i] = lwm_lower(p->arena[foff + i]);

    /* the folded string, then its KMP table: fail[i] is the length of
     * the longest proper prefix of s[0..i] that is also its suffix */
    s = p->arena + off;
    search_str_copy(cc->buf, t, s);
    for (i = 0; i < len; i++) {
        uint8_t raw = s[i];
        s[i] = search_fold(prev, raw);
        prev = raw;
    }
    if (len > 0)
        s[len] = 0;
    for (i = 1, k = 0; i < len; i++) {
        while (k > 0 && s[i] != s[k])
            k = s[len + k - 1];
        if (s[i] == s[k])
            k++;
        s[len + i] = (uint8_t)k;
    }

    n = &p->needle[p->nneedles];
    memset(n, 0, sizeof *n);
    n->off = off;
    n->len = (uint8_t)len;
    n->field_off = foff;
    n->field_len = (uint8_t)flen;
    n->where = where;
    if (where != W_HEADER)
        p->uses |= USE_TEXT;
    return search_node(cc, OP_NEEDLE, p->nneedles++);
}

static int search_set(struct search_cc *cc, uint8_t op,
                      const struct lwm_tok *t)
{
    const uint8_t *s = cc->buf + t->off;
    uint16_t off;
    if (t->type != LWM_TOK_ATOM || !lwm_seqset_valid(s, t->len, 1))
        return search_fail(cc, F_SET);
    if (t->len == 1 && s[0] == '$') {
        cc->p->uses |= USE_SAVED;
        return search_node(cc, OP_SAVED, 0);
    }
    if (search_alloc(cc, t->len, &off) < 0)
        return -1;
    memcpy(cc->p->arena + off, s, t->len);
    return search_node(cc, op, (uint32_t)off | (uint32_t)t->len << 16);
}

static int search_keyword(struct search_cc *cc, uint8_t op,
                          const struct lwm_tok *t, lwm_search_kw_fn kw,
                          void *kw_ctx)
{
    const uint8_t *s = cc->buf + t->off;
    size_t i;
    int idx;
    if (t->type != LWM_TOK_ATOM || t->len == 0)
        return search_fail(cc, F_KEYWORD);
    if (s[0] == '\\') {
        /* not a flag-keyword, but "KEYWORD \Seen" has an obvious
         * meaning; other system flags (\Recent) never match */
        for (i = 0; i < 5; i++)
            if (lwm_ieq_word(s, t->len, lwm_str_at(lwm_imap_flag_names, i)))
                return search_node(cc, op, 1u << i);
        return search_node(cc, op == OP_FLAG_SET ? OP_FALSE : OP_TRUE, 0);
    }
    idx = kw ? kw(kw_ctx, s, t->len) : -1;
    if (idx < 0 || idx > 26)                /* 5 system + 27 keyword bits */
        return search_node(cc, op == OP_FLAG_SET ? OP_FALSE : OP_TRUE, 0);
    return search_node(cc, op, LWM_FLAG_KEYWORD((uint32_t)idx));
}

static int search_number(struct search_cc *cc, uint8_t op,
                         const struct lwm_tok *t)
{
    const uint8_t *s = cc->buf + t->off;
    uint64_t v = 0;
    size_t i;
    if (t->type != LWM_TOK_ATOM || t->len == 0)
        return search_fail(cc, F_NUMBER);
    for (i = 0; i < t->len; i++) {
        if (!search_is_digit(s[i]))
            return search_fail(cc, F_NUMBER);
        /* number64 = 0..2^63-1 */
        if (v > (UINT64_C(0x7FFFFFFFFFFFFFFF) - (uint64_t)(s[i] - '0')) / 10)
            return search_fail(cc, F_NUMBER_LEN);
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    /* sizes are 32 bits: beyond that the answer is fixed */
    if (v >= UINT32_MAX) {
        if (op == OP_LARGER)
            return search_node(cc, OP_FALSE, 0);
        if (v > UINT32_MAX)
            return search_node(cc, OP_TRUE, 0);
    }
    return search_node(cc, op, (uint32_t)v);
}

static int search_date(struct search_cc *cc, uint8_t op,
                       const struct lwm_tok *t)
{
    int64_t secs;
    if (t->type != LWM_TOK_ATOM && t->type != LWM_TOK_QUOTED)
        return search_fail(cc, F_DATE);
    secs = lwm_imap_date(cc->buf + t->off, t->len);
    if (secs == -1)
        return search_fail(cc, F_DATE);
    if (op >= OP_SENTBEFORE)
        cc->p->uses |= USE_DATE;
    return search_node(cc, op, (uint32_t)search_day_of(secs));
}

/* A key (and its arguments, but not those of NOT/OR, which open a node)
 * at toks[*i]. Returns the node or -1. */
static int search_key(struct search_cc *cc, const struct lwm_tok *toks,
                      size_t ntoks, size_t *i, lwm_search_kw_fn kw,
                      void *kw_ctx)
{
    const struct lwm_tok *t = &toks[*i], *a = NULL, *b = NULL;
    const uint8_t *s = cc->buf + t->off;
    const struct search_key *k = NULL;
    const char *name;
    size_t j, nargs;

    if (t->type != LWM_TOK_ATOM || t->len == 0)
        return search_fail(cc, F_KEY);
    (*i)++;
    if (search_is_digit(s[0]) || s[0] == '*' || s[0] == '$')
        return search_set(cc, OP_SEQ, t);
    for (j = 0, name = search_key_names; *name;
         j++, name += strlen(name) + 1)
        if (lwm_ieq_word(s, t->len, name)) {
            k = &search_keys[j];
            break;
        }
    if (!k)
        return search_fail(cc, F_KEY_NAME);

    nargs = k->kind == K_HEADER ? 2
            : (k->kind == K_CONST || k->kind == K_FLAG || k->kind == K_NOT ||
               k->kind == K_OR) ? 0 : 1;
    if (nargs > ntoks - *i)
        return search_fail(cc, F_ARG);
    if (nargs >= 1)
        a = &toks[*i];
    if (nargs >= 2)
        b = &toks[*i + 1];
    if ((a && !search_is_string(a)) || (b && !search_is_string(b)))
        return search_fail(cc, F_ARG);
    *i += nargs;

    switch (k->kind) {
    case K_CONST:
        return search_node(cc, k->op, 0);
    case K_FLAG:
        return search_node(cc, k->op, k->arg);
    case K_FIELD:
        name = lwm_str_at(hfields, k->arg);
        return search_needle(cc, W_HEADER, (const uint8_t *)name,
                             strlen(name), NULL, a);
    case K_HEADER:
        return search_needle(cc, W_HEADER, NULL, 0, a, b);
    case K_TEXT:
        return search_needle(cc, k->arg, NULL, 0, NULL, a);
    case K_DATE:
        return search_date(cc, k->op, a);
    case K_NUMBER:
        return search_number(cc, k->op, a);
    case K_KEYWORD:
        return search_keyword(cc, k->op, a, kw, kw_ctx);
    case K_UID:
        return search_set(cc, OP_UID, a);
    default:                                /* NOT, OR: opened by caller */
        return search_node(cc, k->op, k->kind == K_NOT ? 1 : 2);
    }
}

/*
 * Open nodes (the top level, lists, NOT and OR waiting for operands) form
 * a stack threaded through the nodes themselves: while a node is open its
 * arg holds the operands it still needs (0xFFFF: until ")" or the end)
 * and its parent's index. A completed child closes every NOT/OR it
 * completes, innermost first.
 */
#define OPEN_LIST 0xFFFFu

static void search_child_done(struct search_cc *cc)
{
    struct lwm_search_prog *p = cc->p;
    while (cc->cur != 0) {
        struct lwm_search_node *nd = &p->node[cc->cur];
        uint32_t left = nd->arg & 0xFFFF;
        if (left == OPEN_LIST)
            return;
        if (--left > 0) {
            nd->arg = (nd->arg & 0xFFFF0000u) | left;
            return;
        }
        nd->end = p->nnodes;
        cc->cur = (uint16_t)(nd->arg >> 16);
        nd->arg = 0;
    }
}

static void search_open(struct search_cc *cc, int idx, uint32_t need)
{
    struct lwm_search_node *nd = &cc->p->node[idx];
    nd->arg = need | (uint32_t)cc->cur << 16;
    cc->cur = (uint16_t)idx;
}

/* RETURN (...) options, toks[*i] is the "(" */
static int search_return(struct search_cc *cc, const struct lwm_tok *toks,
                         size_t ntoks, size_t *i)
{
    /* bit k of the options is the k-th name (LWM_SEARCH_RET_MIN...) */
    static const char opts[] = "MIN\0MAX\0ALL\0COUNT\0SAVE";
    uint8_t ret = LWM_SEARCH_RET_ESEARCH;
    size_t k;
    if (*i >= ntoks || toks[*i].type != LWM_TOK_LIST)
        return search_fail(cc, F_RETURN);
    for ((*i)++; *i < ntoks && toks[*i].type != LWM_TOK_LIST_END; (*i)++) {
        for (k = 0; k < 5; k++)
            if (search_atom_is(cc->buf, &toks[*i], lwm_str_at(opts, k)))
                break;
        if (k == 5)
            return search_fail(cc, F_RETURN_OPT);
        ret |= (uint8_t)(1u << k);
    }
    if (*i >= ntoks)
        return search_fail(cc, F_PARENS);
    (*i)++;
    if (ret == LWM_SEARCH_RET_ESEARCH)       /* RETURN () is RETURN (ALL) */
        ret |= LWM_SEARCH_RET_ALL;
    cc->p->ret = ret;
    return 0;
}

static int search_charset(struct search_cc *cc, const struct lwm_tok *t)
{
    /* charsets we match in; "US-ASCII" is a subset of UTF-8 */
    static const char ok[2][9] = { "UTF-8", "US-ASCII" };
    size_t len, k;
    uint8_t name[9];
    if (!search_is_string(t))
        return search_fail(cc, F_CHARSET_ARG);
    len = search_str_len(cc->buf, t);
    if (len <= 8) {
        search_str_copy(cc->buf, t, name);
        for (k = 0; k < 2; k++)
            if (lwm_ieq_word(name, len, ok[k]))
                return 0;
    }
    return search_fail(cc, F_CHARSET);
}

static int search_compile_(struct search_cc *cc, const struct lwm_tok *toks,
                           size_t ntoks, lwm_search_kw_fn kw, void *kw_ctx)
{
    struct lwm_search_prog *p = cc->p;
    size_t i = 0;
    int idx;

    if (ntoks > 0 && search_atom_is(cc->buf, &toks[0], "RETURN")) {
        i = 1;
        if (search_return(cc, toks, ntoks, &i) < 0)
            return -1;
    }
    if (i < ntoks && search_atom_is(cc->buf, &toks[i], "CHARSET")) {
        if (i + 1 >= ntoks)
            return search_fail(cc, F_CHARSET_ARG);
        if (search_charset(cc, &toks[i + 1]) < 0)
            return -1;
        i += 2;
    }

    (void)search_node(cc, OP_AND, 0);       /* the top level */
    cc->cur = 0;
    while (i < ntoks) {
        const struct lwm_tok *t = &toks[i];
        if (t->type == LWM_TOK_LIST_END) {
            struct lwm_search_node *nd = &p->node[cc->cur];
            if (cc->cur == 0)
                return search_fail(cc, F_PARENS);
            if ((nd->arg & 0xFFFF) != OPEN_LIST)
                return search_fail(cc, F_KEY);
            if (p->nnodes == cc->cur + 1)
                return search_fail(cc, F_EMPTY_LIST);
            nd->end = p->nnodes;
            cc->cur = (uint16_t)(nd->arg >> 16);
            nd->arg = 0;
            i++;
            search_child_done(cc);
            continue;
        }
        if (t->type == LWM_TOK_LIST) {
            if ((idx = search_node(cc, OP_AND, 0)) < 0)
                return -1;
            search_open(cc, idx, OPEN_LIST);
            i++;
            continue;
        }
        if ((idx = search_key(cc, toks, ntoks, &i, kw, kw_ctx)) < 0)
            return -1;
        if (p->node[idx].op == OP_NOT || p->node[idx].op == OP_OR)
            search_open(cc, idx, p->node[idx].arg);
        else
            search_child_done(cc);
    }
    if (cc->cur != 0) {
        const struct lwm_search_node *nd = &p->node[cc->cur];
        return search_fail(cc, (nd->arg & 0xFFFF) == OPEN_LIST ? F_PARENS
                                                               : F_KEY);
    }
    if (p->nnodes == 1)
        return search_fail(cc, F_KEY);
    p->node[0].end = p->nnodes;
    return 0;
}

/* ------------------------------------------------------------ public API */

int lwm_search_compile(struct lwm_search_prog *p, const uint8_t *buf,
                       const struct lwm_tok *toks, size_t ntoks,
                       lwm_search_kw_fn kw, void *kw_ctx, const char **err)
{
    struct search_cc cc;
    memset(p, 0, sizeof *p);
    cc.p = p;
    cc.buf = buf;
    cc.cur = 0;
    if (search_compile_(&cc, toks, ntoks, kw, kw_ctx) < 0) {
        /* a failed program matches nothing rather than half of a search */
        p->nnodes = 0;
        p->nneedles = 0;
        if (err)
            *err = lwm_str_at(search_errs, cc.why);
        return cc.why < F_CHARSET    ? LWM_SEARCH_ERR_LIMIT
               : cc.why == F_CHARSET ? LWM_SEARCH_ERR_CHARSET
                                     : LWM_SEARCH_ERR_SYNTAX;
    }
    if (err)
        *err = NULL;
    return 0;
}

unsigned lwm_search_return(const struct lwm_search_prog *p)
{
    return p->ret;
}

int lwm_search_uses_saved(const struct lwm_search_prog *p)
{
    return (p->uses & USE_SAVED) != 0;
}

void lwm_search_set_saved(struct lwm_search_prog *p, lwm_search_saved_fn fn,
                          void *ctx)
{
    p->saved = fn;
    p->saved_ctx = ctx;
}

void lwm_search_begin(struct lwm_search_prog *p,
                      const struct lwm_search_msg *m, uint32_t max_seq,
                      uint32_t max_uid)
{
    size_t i;
    p->idate_days = search_day_of(m->internal_date);
    p->sent_days = 0;
    p->name_len = 0;
    p->hstate = H_LINE;
    p->hflags = 0;
    p->prev_h = p->prev_d = p->prev_t = 0;
    p->date_state = DS_NONE;
    p->date_len = p->date_paren = p->date_full = 0;
    p->dstate = D_TEXT;
    p->dcs = p->dn = p->dws_len = 0;
    p->dacc = 0;
    p->tpend = 0;
    p->active = 0;
    for (i = 0; i < p->nneedles; i++) {
        p->needle[i].val = V_UNK;
        p->needle[i].pos = p->needle[i].dpos = 0;
        p->needle[i].state = S_IDLE;
    }
    for (i = 0; i < p->nnodes; i++) {
        struct lwm_search_node *nd = &p->node[i];
        uint32_t off = nd->arg & 0xFFFF, len = nd->arg >> 16;
        int v;
        switch (nd->op) {
        case OP_TRUE: v = 1; break;
        case OP_FALSE: v = 0; break;
        case OP_FLAG_SET: v = (m->flags & nd->arg) == nd->arg; break;
        case OP_FLAG_CLEAR: v = (m->flags & nd->arg) == 0; break;
        case OP_SEQ: v = lwm_seqset_has(p->arena + off, len, max_seq, m->seq);
            break;
        case OP_UID: v = lwm_seqset_has(p->arena + off, len, max_uid, m->uid);
            break;
        case OP_SAVED:
            v = p->saved ? p->saved(p->saved_ctx, m->seq, m->uid) != 0 : 0;
            break;
        case OP_LARGER: v = m->size > nd->arg; break;
        case OP_SMALLER: v = m->size < nd->arg; break;
        case OP_BEFORE:
        case OP_ON:
        case OP_SINCE:
            v = search_cmp_days(nd->op, p->idate_days, (int32_t)nd->arg);
            break;
        default: v = V_UNK; break;
        }
        nd->val = (uint8_t)v;
    }
    search_eval(p);
}

int lwm_search_wants(const struct lwm_search_prog *p)
{
    size_t i = 0;
    if (p->nnodes == 0 || p->node[0].val != V_UNK)
        return LWM_SEARCH_WANT_NONE;
    /* walk only the undecided part of the tree: a decided subtree no
     * longer needs its keys, whatever they are */
    while (i < p->nnodes) {
        const struct lwm_search_node *nd = &p->node[i];
        if (nd->val != V_UNK) {
            i = nd->end;
            continue;
        }
        if (nd->op == OP_NEEDLE && p->needle[nd->arg].where != W_HEADER)
            return LWM_SEARCH_WANT_ALL;
        i++;
    }
    return p->hstate == H_BODY ? LWM_SEARCH_WANT_ALL
                               : LWM_SEARCH_WANT_HEADER;
}

void lwm_search_feed(struct lwm_search_prog *p, const uint8_t *data,
                     size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        uint8_t c = data[i];
        if (p->nnodes == 0 || p->node[0].val != V_UNK)
            return;
        if (p->hstate == H_BODY) {
            search_text(p, c, 1);
        } else {
            if (p->uses & USE_TEXT)
                search_text_hdr(p, c);
            search_hdr_byte(p, c);
        }
        if (p->dirty)
            search_eval(p);
    }
}

int lwm_search_result(struct lwm_search_prog *p)
{
    size_t i;
    if (p->nnodes == 0)
        return 0;
    if (p->node[0].val == V_UNK) {
        /* the text has ended: what was not found is not there */
        if (p->hstate != H_BODY)
            search_header_done(p);
        for (i = 0; i < p->nneedles; i++)
            if (p->needle[i].val == V_UNK)
                p->needle[i].val = V_NO;
        search_eval(p);
    }
    return p->node[0].val == V_YES;
}
