/*
 * lwmail IMAP - sequence sets and dates (see args.h for the grammar).
 */
#include <string.h>

#include "args.h"
#include "parse.h"
#include "util/lwm_util.h"

const char lwm_imap_flag_names[] =
    "\\Seen\0\\Answered\0\\Flagged\0\\Deleted\0\\Draft\0";

/* ------------------------------------------------------- sequence sets */

/* Parse a seq-number at p[*i]: 1..2^32-1, or "*" (returned as 0). */
static int seq_number(const uint8_t *p, size_t len, size_t *i, uint32_t *n)
{
    uint64_t v = 0;
    size_t start = *i;
    if (*i < len && p[*i] == '*') {
        (*i)++;
        *n = 0;
        return 1;
    }
    if (*i < len && p[*i] == '0')
        return 0;                               /* nz-number */
    while (*i < len && p[*i] >= '0' && p[*i] <= '9') {
        v = v * 10 + (uint64_t)(p[*i] - '0');
        if (v > 0xFFFFFFFFull)
            return 0;
        (*i)++;
    }
    if (*i == start)
        return 0;
    *n = (uint32_t)v;
    return 1;
}

int lwm_seqset_valid(const uint8_t *p, size_t len, int allow_dollar)
{
    size_t i = 0;
    uint32_t n;
    if (allow_dollar && len == 1 && p[0] == '$')
        return 1;
    if (len == 0)
        return 0;
    for (;;) {
        if (!seq_number(p, len, &i, &n))
            return 0;
        if (i < len && p[i] == ':') {
            i++;
            if (!seq_number(p, len, &i, &n))
                return 0;
        }
        if (i == len)
            return 1;
        if (p[i] != ',')
            return 0;
        i++;
    }
}

void lwm_seqset_begin(struct lwm_seqset_it *it, const uint8_t *p,
                      size_t len, uint32_t star)
{
    it->p = p;
    it->len = len;
    it->pos = 0;
    it->star = star;
}

int lwm_seqset_next(struct lwm_seqset_it *it, uint32_t *lo, uint32_t *hi)
{
    uint32_t a, b;
    if (it->pos >= it->len)
        return 0;
    if (!seq_number(it->p, it->len, &it->pos, &a))
        return 0;
    b = a;
    if (it->pos < it->len && it->p[it->pos] == ':') {
        it->pos++;
        if (!seq_number(it->p, it->len, &it->pos, &b))
            return 0;
    }
    if (it->pos < it->len && it->p[it->pos] == ',')
        it->pos++;
    if (a == 0)
        a = it->star;
    if (b == 0)
        b = it->star;
    *lo = a < b ? a : b;
    *hi = a < b ? b : a;
    return 1;
}

int lwm_seqset_has(const uint8_t *p, size_t len, uint32_t star, uint32_t n)
{
    struct lwm_seqset_it it;
    uint32_t lo, hi;
    lwm_seqset_begin(&it, p, len, star);
    while (lwm_seqset_next(&it, &lo, &hi))
        if (n >= lo && n <= hi)
            return 1;
    return 0;
}

/* --------------------------------------------------------------- dates */

static int digits(const uint8_t *p, size_t n, unsigned *v)
{
    size_t i;
    *v = 0;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        *v = *v * 10 + (unsigned)(p[i] - '0');
    }
    return 1;
}

/* "d-Mon-yyyy" / "dd-Mon-yyyy" (fixed: " d" allowed) at p; *used gets the
 * length. Returns the midnight UTC or -1. */
static int64_t date_text(const uint8_t *p, size_t len, int fixed,
                         size_t *used)
{
    size_t i = 0;
    unsigned d, y, m;
    if (fixed && len > 0 && p[0] == ' ')
        i = 1;                                  /* date-day-fixed */
    if (len >= i + 2 && p[i + 1] != '-') {
        if (!digits(p + i, 2, &d))
            return -1;
        i += 2;
    } else if (len >= i + 1 && (fixed ? i == 1 : 1)) {
        if (!digits(p + i, 1, &d))
            return -1;
        i += 1;
    } else {
        return -1;
    }
    if (len < i + 9 || p[i] != '-' || p[i + 4] != '-')
        return -1;
    m = (unsigned)lwm_month(p + i + 1);
    if (!m || !digits(p + i + 5, 4, &y) || y < 1 || d < 1 ||
        d > lwm_month_days((int32_t)y, m))
        return -1;
    *used = i + 9;
    return (int64_t)lwm_days_from_civil((int32_t)y, m, d) * 86400;
}

int64_t lwm_imap_date(const uint8_t *p, size_t len)
{
    size_t used;
    int64_t t = date_text(p, len, 0, &used);
    return t >= 0 && used == len ? t : -1;
}

int64_t lwm_imap_datetime(const uint8_t *p, size_t len)
{
    size_t i;
    unsigned hh, mm, ss, zh, zm;
    int64_t t = date_text(p, len, 1, &i);
    if (t < 0 || len != i + 15 || p[i] != ' ' || p[i + 3] != ':' ||
        p[i + 6] != ':' || p[i + 9] != ' ' ||
        (p[i + 10] != '+' && p[i + 10] != '-') ||
        !digits(p + i + 1, 2, &hh) || !digits(p + i + 4, 2, &mm) ||
        !digits(p + i + 7, 2, &ss) || !digits(p + i + 11, 2, &zh) ||
        !digits(p + i + 13, 2, &zm) || hh > 23 || mm > 59 || ss > 60 ||
        zm > 59)
        return -1;
    t += hh * 3600 + mm * 60 + ss;
    /* the zone says how far local time is ahead of UTC */
    if (p[i + 10] == '+')
        t -= zh * 3600 + zm * 60;
    else
        t += zh * 3600 + zm * 60;
    return t;
}

void lwm_imap_format_datetime(int64_t t, char out[27])
{
    static const uint8_t at[6] = { 0, 7, 9, 12, 15, 18 };
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    uint32_t secs = (uint32_t)(t - days * 86400);
    unsigned v[6], i;
    int32_t y;
    lwm_civil_from_days((int32_t)days, &y, &v[1], &v[0]);
    memcpy(out, "00-Mon-0000 00:00:00 +0000", 27);
    memcpy(out + 3, lwm_month_names + 3 * (v[1] - 1), 3);
    v[1] = (unsigned)y / 100 % 100;
    v[2] = (unsigned)y % 100;
    v[3] = secs / 3600;
    v[4] = secs / 60 % 60;
    v[5] = secs % 60;
    for (i = 0; i < 6; i++) {
        out[at[i]] = (char)(out[at[i]] + v[i] / 10);
        out[at[i] + 1] = (char)(out[at[i] + 1] + v[i] % 10);
    }
}

/* -------------------------------------------------------------- strings */

int lwm_imap_string_value(const uint8_t *buf, const struct lwm_tok *t,
                          char *out, size_t cap)
{
    const uint8_t *p = buf + t->off;
    size_t i, o = 0;
    if (t->type != LWM_TOK_ATOM && t->type != LWM_TOK_QUOTED &&
        t->type != LWM_TOK_LITERAL)
        return -1;
    for (i = 0; i < t->len; i++) {
        uint8_t c = p[i];
        if (t->type == LWM_TOK_QUOTED && c == '\\' && i + 1 < t->len)
            c = p[++i];                 /* \" or \\ */
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    if (cap == 0)
        return -1;
    out[o] = 0;
    return (int)o;
}

int lwm_imap_string_form(const uint8_t *p, size_t len)
{
    size_t i;
    int atom = len > 0;
    if (len > 1024)
        return 'L';
    for (i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (c == 0 || c == '\r' || c == '\n' || c >= 0x80)
            return 'L';
        /* ATOM-CHAR: no SP, CTL, "(", ")", "{", "%", "*", DQUOTE, "\",
         * "]"; and an atom NIL would read as nil */
        if (c <= 0x20 || c == 0x7F || c == '(' || c == ')' || c == '{' ||
            c == '%' || c == '*' || c == '"' || c == '\\' || c == ']')
            atom = 0;
    }
    if (atom && len == 3 && (p[0] | 0x20) == 'n' && (p[1] | 0x20) == 'i' &&
        (p[2] | 0x20) == 'l')
        atom = 0;
    return atom ? 'A' : 'Q';
}
