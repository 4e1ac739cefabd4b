/*
 * lwmail - small portable helpers shared by the core: fixed little-endian
 * byte order (the flash format never depends on the host), CRC-32C,
 * base64 and a small formatter.
 */
#ifndef LWM_UTIL_H
#define LWM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The flash format is little-endian. On a little-endian target a 4-byte
 * memcpy is one (unaligned) load or store; elsewhere bytes are shifted. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LWM_LE 1
#else
#define LWM_LE 0
#endif

static inline uint16_t lwm_get16(const uint8_t *p)
{
#if LWM_LE
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
#else
    return (uint16_t)(p[0] | (p[1] << 8));
#endif
}

static inline uint32_t lwm_get32(const uint8_t *p)
{
#if LWM_LE
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
#endif
}

static inline void lwm_put16(uint8_t *p, uint16_t v)
{
#if LWM_LE
    memcpy(p, &v, 2);
#else
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
#endif
}

static inline void lwm_put32(uint8_t *p, uint32_t v)
{
#if LWM_LE
    memcpy(p, &v, 4);
#else
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
#endif
}

/* v rounded up to a multiple of a, a power of two (the store checks its
 * program size is one) */
static inline uint32_t lwm_align_up(uint32_t v, uint32_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/** Decimal digits of v, written backwards ending just before end (20
 *  bytes of room suffice); returns where they start. */
char *lwm_utoa(uint64_t v, char *end);

/** ASCII lower case */
static inline uint8_t lwm_lower(uint8_t c)
{
    return (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/** Are a[0..n) and b[0..n) equal, ASCII letters folded? */
int lwm_ieq(const void *a, const void *b, size_t n);

/** Is p[0..n) the NUL-terminated word w, ASCII letters folded? */
int lwm_ieq_word(const void *p, size_t n, const char *w);

/** The i-th string of a list of NUL-terminated strings stored back to
 *  back (a string table without a pointer per entry). */
const char *lwm_str_at(const char *list, size_t i);

/** Where lwm_vfmt's output goes: called with each piece in order. */
typedef void (*lwm_put_fn)(void *ctx, const char *p, size_t n);

/** A small printf for responses and log lines, so that a line is one call
 *  and not one call per piece. The text of fmt goes out as it is, except:
 *    %s  a NUL-terminated string        %b  bytes: (const void *, size_t)
 *    %u  an unsigned (uint32_t)         %U  a uint64_t
 *    %c  a character (int)              %x  an unsigned's low 16 bits as
 *    %%  a percent sign                     four lower-case hex digits
 *  No widths or flags. fmt must not end in a lone '%'. */
void lwm_vfmt(lwm_put_fn put, void *ctx, const char *fmt, va_list ap);

/** lwm_vfmt into buf (cap >= 1 bytes): cut to fit, always NUL-terminated.
 *  Returns the length written. */
size_t lwm_vsnfmt(char *buf, size_t cap, const char *fmt, va_list ap);
size_t lwm_snfmt(char *buf, size_t cap, const char *fmt, ...);

/** Calendar (proleptic Gregorian; src/util/date.c). Day numbers count
 *  from 1970-01-01; months are 1..12. */
int32_t lwm_days_from_civil(int32_t y, unsigned m, unsigned d);
void lwm_civil_from_days(int32_t z, int32_t *y, unsigned *m, unsigned *d);
/** Days in month m of year y */
unsigned lwm_month_days(int32_t y, unsigned m);
/** The month (1..12) whose English three-letter name p[0..3) is, in any
 *  case; 0 if none. */
int lwm_month(const uint8_t *p);
/** "JanFeb...Dec" */
extern const char lwm_month_names[];

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). Start with
 *  crc = 0; chain calls by passing the previous result. The standard check
 *  value: lwm_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t lwm_crc32c(uint32_t crc, const void *buf, size_t len);

/** The base64 digits (RFC 4648 standard alphabet), by value */
extern const char lwm_base64_digits[65];

/** Value of a base64 digit (RFC 4648 standard alphabet), or -1. */
int lwm_base64_value(uint8_t c);

/** Decode standard padded base64; returns the decoded length, or -1 if
 *  the input is malformed or the output does not fit in cap bytes. */
int lwm_base64_decode(const uint8_t *in, size_t len, uint8_t *out,
                      size_t cap);

#endif /* LWM_UTIL_H */
