/*
 * lwmail board interface: what firmware/<board>/main.c needs from a board.
 *
 * One implementation per folder in boards/. This one is the QEMU model of
 * the ARM MPS2 AN385 (Cortex-M3, 25 MHz, CMSDK UART0, LAN9118 Ethernet).
 * Everything is polled: the only interrupt is SysTick (the clock).
 */
#ifndef LWM_BOARD_H
#define LWM_BOARD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "lwmail/lwm_flash.h"

struct netif;

/* ------------------------------------------------------------ life */

/** Clocks, UART, SysTick, semihosting detection. First thing in main(). */
void board_init(void);

/** Milliseconds since board_init (SysTick, 1 ms); wraps after 49.7 days. */
uint32_t board_ms(void);

/** A free-running fine counter for short measurements (ticks of
 *  board_ticks_hz()); wraps. */
uint32_t board_ticks(void);
uint32_t board_ticks_hz(void);

/** Sleep until the next interrupt (at the latest the next SysTick): the
 *  main loop calls it when nothing is pending, so QEMU does not spin. */
void board_idle(void);

/** Stop: flush the flash image (if host-backed), then end the emulator
 *  through semihosting with this exit code (0 = success). Never returns;
 *  without semihosting it halts in a WFI loop. */
void board_exit(int code) __attribute__((noreturn));

/** Something impossible happened: log it and exit with code 70. */
void board_panic(const char *what, const char *file, int line)
    __attribute__((noreturn));

/** Stack figures: size, and the most ever used (the part of the pattern
 *  written at reset that has been overwritten). */
uint32_t board_stack_size(void);
uint32_t board_stack_high_water(void);

/** RAM the image uses: .data + .bss (the stack is separate). */
uint32_t board_ram_static(void);

/* ------------------------------------------------------------ log */

/** Write bytes to the console (UART0), blocking until taken. */
void board_console_write(const char *s, size_t len);

/** One byte typed on the console, or -1 when none is waiting. */
int board_console_getc(void);

/** printf-like, to the console, without libc's printf (which would pull
 *  in newlib's stdio and its malloc). Understands %s %c %d %i %u %x %X %p
 *  %%, the l and z size modifiers, a width and the 0 and - flags. */
void board_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void board_vprintf(const char *fmt, va_list ap);
/** The same into a buffer; always NUL-terminates (if size > 0); returns
 *  the length written. */
size_t board_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t board_vsnprintf(char *buf, size_t size, const char *fmt,
                       va_list ap);

/* ------------------------------------------------------------ options */

/** The command line the emulator was given (QEMU's -append), through
 *  semihosting; "" without semihosting. key=value words, e.g.
 *  "flash=build/qemu/flash.img". */
const char *board_cmdline(void);

/** The value of key in the command line into out; 1 if found. */
int board_option(const char *key, char *out, size_t size);

/** Is semihosting available (QEMU started with -semihosting)? */
int board_semihosting(void);

/* ------------------------------------------------------------ entropy */

/** Fill buf with len random bytes; 0 on success. On this board the
 *  source is INSECURE (timer jitter under an emulator): see entropy.c. */
int board_entropy(uint8_t *buf, size_t len);

/** 32 random bits for lwIP (TCP initial sequence numbers, ports). */
uint32_t board_rand32(void);

/* ------------------------------------------------------------ flash */

/** The emulated NOR flash (ramflash.c): the region in PSRAM, loaded from
 *  the host file named by the option flash=PATH if given (and written
 *  back to it at every sync), else erased. Returns the device, or NULL
 *  with a logged reason. *fresh is set when the content was erased at
 *  boot (no image to load). */
const struct lwm_flash *board_flash_init(int *fresh);

/** Counters of the flash device (for the size/bench report). */
struct board_flash_stats {
    uint32_t reads, progs, erases, syncs, host_writes;
    uint32_t violations;        /* NOR rule broken by the caller */
};
void board_flash_stats(struct board_flash_stats *st);

/* ------------------------------------------------------------ network */

/** Bring up the Ethernet controller and add it to lwIP as the default
 *  netif with a static address (QEMU user networking: 10.0.2.15/24,
 *  gateway 10.0.2.2). 0 on success. Call after lwip_init(). */
int board_net_init(struct netif *netif);

/** Move received frames into lwIP and reclaim transmit status; call
 *  from the main loop. Returns the number of frames handed to lwIP. */
int board_net_poll(struct netif *netif);

#endif /* LWM_BOARD_H */
