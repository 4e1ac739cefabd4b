/*
 * lwmail - small portable helpers shared by the core: fixed little-endian
 * byte order (the flash format never depends on the host), CRC-32C.
 */
#ifndef LWM_UTIL_H
#define LWM_UTIL_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t lwm_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t lwm_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline void lwm_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void lwm_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t lwm_align_up(uint32_t v, uint32_t a)
{
    return (v + a - 1) / a * a;
}

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). Start with
 *  crc = 0; chain calls by passing the previous result. The standard check
 *  value: lwm_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t lwm_crc32c(uint32_t crc, const void *buf, size_t len);

/** Value of a base64 digit (RFC 4648 standard alphabet), or -1. */
int lwm_base64_value(uint8_t c);

/** Decode standard padded base64; returns the decoded length, or -1 if
 *  the input is malformed or the output does not fit in cap bytes. */
int lwm_base64_decode(const uint8_t *in, size_t len, uint8_t *out,
                      size_t cap);

#endif /* LWM_UTIL_H */
