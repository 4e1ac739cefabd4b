/*
 * lwmail - string helpers: case-insensitive comparison, string tables,
 * decimal numbers and a small printf (see lwm_util.h). Every response
 * line, tagged response and log line of the core goes through lwm_vfmt,
 * instead of each writer gluing its pieces with calls of its own.
 */
#include "util/lwm_util.h"

char *lwm_utoa(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

int lwm_ieq(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    size_t i;
    for (i = 0; i < n; i++)
        if (lwm_lower(x[i]) != lwm_lower(y[i]))
            return 0;
    return 1;
}

int lwm_ieq_word(const void *p, size_t n, const char *w)
{
    return strlen(w) == n && lwm_ieq(p, w, n);
}

const char *lwm_str_at(const char *list, size_t i)
{
    while (i--)
        list += strlen(list) + 1;
    return list;
}

void lwm_vfmt(lwm_put_fn put, void *ctx, const char *fmt, va_list ap)
{
    while (*fmt) {
        const char *p = fmt;
        char num[20];
        size_t n;
        unsigned x;
        while (*fmt && *fmt != '%')
            fmt++;
        if (fmt != p)
            put(ctx, p, (size_t)(fmt - p));
        if (!*fmt++)
            return;
        switch (*fmt++) {
        case 's':
            p = va_arg(ap, const char *);
            n = strlen(p);
            break;
        case 'b':
            p = va_arg(ap, const char *);
            n = va_arg(ap, size_t);
            break;
        case 'u':
            p = lwm_utoa(va_arg(ap, unsigned), num + sizeof num);
            n = (size_t)(num + sizeof num - p);
            break;
        case 'U':
            p = lwm_utoa(va_arg(ap, uint64_t), num + sizeof num);
            n = (size_t)(num + sizeof num - p);
            break;
        case 'c':
            num[0] = (char)va_arg(ap, int);
            p = num;
            n = 1;
            break;
        case 'x':
            x = va_arg(ap, unsigned);
            for (n = 0; n < 4; n++)
                num[n] = "0123456789abcdef"[(x >> (12 - 4 * n)) & 15];
            p = num;
            break;
        default: /* "%%" */
            p = fmt - 1;
            n = 1;
            break;
        }
        put(ctx, p, n);
    }
}

struct fmt_buf {
    char *buf;
    size_t len, cap;
};

static void buf_put(void *ctx, const char *p, size_t n)
{
    struct fmt_buf *b = ctx;
    if (n > b->cap - 1 - b->len)
        n = b->cap - 1 - b->len;
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

size_t lwm_vsnfmt(char *buf, size_t cap, const char *fmt, va_list ap)
{
    struct fmt_buf b;
    b.buf = buf;
    b.len = 0;
    b.cap = cap;
    lwm_vfmt(buf_put, &b, fmt, ap);
    buf[b.len] = 0;
    return b.len;
}

size_t lwm_snfmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    size_t n;
    va_start(ap, fmt);
    n = lwm_vsnfmt(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}
