/*
 * lwmail IMAP - modified UTF-7 <-> UTF-8 for mailbox names. See mutf7.h.
 */
#include <stdint.h>

#include "lwmail/lwm_err.h"
#include "mutf7.h"
#include "util/lwm_util.h"

/* Modified BASE64 (RFC 3501 5.1.3) is base64 with "," for "/" */
static int b64_val(unsigned char c)
{
    return c == ',' ? 63 : c == '/' ? -1 : lwm_base64_value(c);
}

static char b64_digit(uint32_t v)
{
    return v == 63 ? ',' : lwm_base64_digits[v];
}

/* Append code point cp as UTF-8; returns the new length or an error. */
static int put_utf8(char *out, size_t cap, size_t o, uint32_t cp)
{
    unsigned char b[4];
    size_t n, i;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (o + n >= cap)
        return LWM_ERR_NAMETOOLONG;
    for (i = 0; i < n; i++)
        out[o + i] = (char)b[i];
    return (int)(o + n);
}

int lwm_mutf7_decode(const char *in, size_t len, char *out, size_t cap)
{
    size_t i = 0, o = 0;
    int r;
    if (cap == 0)
        return LWM_ERR_NAMETOOLONG;
    while (i < len) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c > 0x7E)
            return LWM_ERR_INVAL;
        if (c != '&') {
            if (o + 1 >= cap)
                return LWM_ERR_NAMETOOLONG;
            out[o++] = (char)c;
            i++;
            continue;
        }
        i++;
        if (i < len && in[i] == '-') {          /* "&-" is "&" */
            if (o + 1 >= cap)
                return LWM_ERR_NAMETOOLONG;
            out[o++] = '&';
            i++;
            continue;
        }
        {
            uint32_t bits = 0, nbits = 0, hi = 0;
            size_t start = i;
            for (; i < len && in[i] != '-'; i++) {
                int v = b64_val((unsigned char)in[i]);
                if (v < 0)
                    return LWM_ERR_INVAL;
                bits = bits << 6 | (uint32_t)v;
                nbits += 6;
                if (nbits >= 16) {
                    uint32_t u = bits >> (nbits - 16) & 0xFFFF;
                    nbits -= 16;
                    bits &= (1u << nbits) - 1;
                    if (hi) {
                        if (u < 0xDC00 || u > 0xDFFF)
                            return LWM_ERR_INVAL;
                        u = 0x10000 + ((hi - 0xD800) << 10) + (u - 0xDC00);
                        hi = 0;
                    } else if (u >= 0xD800 && u <= 0xDBFF) {
                        hi = u;
                        continue;
                    } else if (u >= 0xDC00 && u <= 0xDFFF) {
                        return LWM_ERR_INVAL;
                    } else if (u >= 0x20 && u <= 0x7E) {
                        return LWM_ERR_INVAL;  /* must stand for itself */
                    }
                    r = put_utf8(out, cap, o, u);
                    if (r < 0)
                        return r;
                    o = (size_t)r;
                }
            }
            /* the run must end with "-", hold something, leave no
             * half character and only zero padding bits */
            if (i == len || i == start || hi || nbits >= 6 || bits != 0)
                return LWM_ERR_INVAL;
            i++;
            /* two shifted runs back to back must have been one */
            if (i < len && in[i] == '&' && !(i + 1 < len && in[i + 1] == '-'))
                return LWM_ERR_INVAL;
        }
    }
    out[o] = 0;
    return (int)o;
}

/* Next code point of well-formed UTF-8 at in[*i]; -1 if malformed. */
static int32_t get_utf8(const unsigned char *in, size_t len, size_t *i)
{
    unsigned char c = in[*i];
    uint32_t cp, min;
    size_t n, k;
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    if ((c & 0xE0) == 0xC0) {
        cp = c & 0x1F;
        n = 1;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        cp = c & 0x0F;
        n = 2;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        cp = c & 0x07;
        n = 3;
        min = 0x10000;
    } else {
        return -1;
    }
    for (k = 1; k <= n; k++) {
        if (*i + k >= len || (in[*i + k] & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (in[*i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *i += n + 1;
    return (int32_t)cp;
}

int lwm_mutf7_encode(const char *in, size_t len, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;
#define PUT(ch)                                                           \
    do {                                                                  \
        if (o + 1 >= cap)                                                 \
            return LWM_ERR_NAMETOOLONG;                                   \
        out[o++] = (char)(ch);                                            \
    } while (0)
    if (cap == 0)
        return LWM_ERR_NAMETOOLONG;
    while (i < len) {
        if (s[i] >= 0x20 && s[i] <= 0x7E) {
            PUT(s[i]);
            if (s[i] == '&')
                PUT('-');
            i++;
            continue;
        }
        if (s[i] < 0x80)
            return LWM_ERR_INVAL;               /* a control character */
        {
            uint32_t bits = 0, nbits = 0;
            PUT('&');
            while (i < len && s[i] >= 0x80) {
                int32_t cp = get_utf8(s, len, &i);
                uint32_t u[2];
                int nu = 1, k;
                if (cp < 0)
                    return LWM_ERR_INVAL;
                if (cp >= 0x10000) {
                    u[0] = 0xD800 + (((uint32_t)cp - 0x10000) >> 10);
                    u[1] = 0xDC00 + (((uint32_t)cp - 0x10000) & 0x3FF);
                    nu = 2;
                } else {
                    u[0] = (uint32_t)cp;
                }
                for (k = 0; k < nu; k++) {
                    bits = bits << 16 | u[k];
                    nbits += 16;
                    while (nbits >= 6) {
                        nbits -= 6;
                        PUT(b64_digit(bits >> nbits & 0x3F));
                    }
                    bits &= (1u << nbits) - 1;
                }
            }
            if (nbits)
                PUT(b64_digit(bits << (6 - nbits) & 0x3F));
            PUT('-');
        }
    }
#undef PUT
    out[o] = 0;
    return (int)o;
}
