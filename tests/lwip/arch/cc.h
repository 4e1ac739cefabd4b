/*
 * lwIP's platform header for the host test (tests/lwip): GCC or clang on
 * Linux, any byte order (the suite also runs on big-endian MIPS under
 * qemu). A board brings its own.
 */
#ifndef LWM_TEST_LWIP_CC_H
#define LWM_TEST_LWIP_CC_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

/* lwIP typedefs ssize_t as int when SSIZE_MAX is unknown (strict C11
 * hides it); the test also includes OpenSSL, which has the system's */
#ifndef SSIZE_MAX
#define SSIZE_MAX LONG_MAX
#endif
#define LWIP_NO_UNISTD_H 1

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BYTE_ORDER BIG_ENDIAN
#else
#define BYTE_ORDER LITTLE_ENDIAN
#endif

/* an lwIP assertion is a test failure: stop where it happened */
#define LWIP_PLATFORM_DIAG(x) do { printf x; } while (0)
#define LWIP_PLATFORM_ASSERT(x)                                         \
    do {                                                                \
        fprintf(stderr, "lwIP assertion \"%s\" failed at %s:%d\n", x,   \
                __FILE__, __LINE__);                                    \
        abort();                                                        \
    } while (0)

/* ports and initial sequence numbers; reproducible runs are fine here */
#define LWIP_RAND() ((u32_t)rand())

#endif
