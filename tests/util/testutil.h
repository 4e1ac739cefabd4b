/*
 * lwmail tests - small pieces several tests share: a flash geometry to run
 * a test over, and a xorshift32 step for reproducible pseudo-random data.
 */
#ifndef LWM_TEST_UTIL_H
#define LWM_TEST_UTIL_H

#include <stdint.h>

/** One emulated flash to run a test on. */
struct geom {
    const char *name;
    uint32_t block_size, block_count, prog_size, read_size;
    int mapped;
};

/** Advance a xorshift32 state (must not be 0) and return it. */
static inline uint32_t xorshift32(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

#endif /* LWM_TEST_UTIL_H */
