/*
 * lwmail - base64 (RFC 4648, standard alphabet, padded), for SASL.
 */
#include "util/lwm_util.h"

const char lwm_base64_digits[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int lwm_base64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int lwm_base64_decode(const uint8_t *in, size_t len, uint8_t *out,
                      size_t cap)
{
    size_t i, o = 0;
    uint32_t acc = 0;
    unsigned bits = 0, pad = 0;
    for (i = 0; i < len; i++) {
        int v;
        if (in[i] == '=') {
            pad++;
            continue;
        }
        if (pad)
            return -1;          /* data after padding */
        v = lwm_base64_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* the input must be whole quanta: leftover bits zero, padding right */
    if ((len % 4) != 0 || pad > 2 || (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (int)o;
}
