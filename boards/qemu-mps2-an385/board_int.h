/*
 * Board internals shared by the files of this folder (not by firmware).
 */
#ifndef LWM_BOARD_INT_H
#define LWM_BOARD_INT_H

#include <stddef.h>
#include <stdint.h>

/* This folder is the QEMU board: entropy.c's insecure source checks it. */
#ifndef LWM_BOARD_QEMU
#error "boards/qemu-mps2-an385 is built with LWM_BOARD_QEMU=1 (firmware/CMakeLists.txt)"
#endif

#define BOARD_SYSCLK_HZ 25000000u   /* hw/arm/mps2.c: SYSCLK_FRQ */

/* Word written over the free stack at reset. */
#define BOARD_STACK_FILL 0x57AC57ACu

/* Exit codes of board_exit() besides what main returns. */
#define BOARD_EXIT_FAULT 70
#define BOARD_EXIT_PANIC 71

#define REG32(a) (*(volatile uint32_t *)(uintptr_t)(a))

void SysTick_Handler(void);

/* ---------------------------------------------------- semihosting */

/* Operation numbers (ARM semihosting specification). */
#define SH_SYS_OPEN 0x01
#define SH_SYS_CLOSE 0x02
#define SH_SYS_WRITE 0x05
#define SH_SYS_READ 0x06
#define SH_SYS_SEEK 0x0A
#define SH_SYS_FLEN 0x0C
#define SH_SYS_GET_CMDLINE 0x15
#define SH_SYS_EXIT 0x18
#define SH_SYS_EXIT_EXTENDED 0x20

/* SYS_OPEN modes (fopen's, in the order the spec numbers them) */
#define SH_MODE_RB 1
#define SH_MODE_RPLUSB 3
#define SH_MODE_WPLUSB 7

/* One semihosting call; -1 when semihosting is not available. */
long sh_call(int op, void *arg);

/* The HardFault handler saw a semihosting call fail for lack of a
 * debugger (QEMU without -semihosting). */
void board_semihosting_lost(void);

/* Host file I/O (semihosting). Handles are >= 0; errors < 0. */
int sh_open(const char *path, int mode);
int sh_close(int fd);
long sh_flen(int fd);
int sh_seek(int fd, uint32_t pos);
/* 0 when all bytes moved, else < 0 */
int sh_write_all(int fd, const void *buf, uint32_t len);
int sh_read_all(int fd, void *buf, uint32_t len);

/* ---------------------------------------------------- pieces */

void board_uart_init(void);
void board_clock_init(void);
void board_entropy_init(void);
/* the flash file, if host-backed: flush and close */
void board_flash_shutdown(void);

#endif /* LWM_BOARD_INT_H */
