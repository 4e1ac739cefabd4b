/*
 * lwIP's architecture header for the QEMU MPS2 AN385 board (arm-none-eabi
 * GCC, little-endian Cortex-M3, newlib-nano headers).
 *
 * Diagnostics go through the board's own formatter, never printf (which
 * would bring newlib's stdio and its malloc into the image).
 */
#ifndef LWM_ARCH_CC_H
#define LWM_ARCH_CC_H

#include <stdint.h>

#define BYTE_ORDER LITTLE_ENDIAN

/* lwip/arch.h includes errno.h-like definitions itself */
#define LWIP_PROVIDE_ERRNO 1

void board_printf(const char *fmt, ...);
void board_panic(const char *what, const char *file, int line)
    __attribute__((noreturn));

/* LWIP_PLATFORM_DIAG's argument is a parenthesised printf list */
#define LWIP_PLATFORM_DIAG(x) \
    do {                      \
        board_printf x;       \
    } while (0)
#define LWIP_PLATFORM_ASSERT(x) board_panic((x), __FILE__, __LINE__)

#endif /* LWM_ARCH_CC_H */
