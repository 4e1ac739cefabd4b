/*
 * Reset and exception vectors for the Cortex-M3 of the MPS2 AN385.
 *
 * The vector table sits at address 0 (VTOR's reset value), so it is the
 * first thing in the CODE region. Reset copies .data from its load
 * address, clears .bss, fills the unused stack with a pattern (to
 * measure the high-water mark later) and calls main(). No libc start-up
 * (crt0) is linked: it would pull in exit() and atexit(), whose newlib
 * versions can reach malloc.
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "board_int.h"
#include "lwm_mbedtls_board.h"      /* board_mbedtls_exit */

extern uint32_t __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_bottom[], __stack_top[];

int main(void);

void Reset_Handler(void) __attribute__((noreturn));
void Default_Handler(void);
void HardFault_Handler(void) __attribute__((naked));

/* ------------------------------------------------------------ reset */

void Reset_Handler(void)
{
    uint32_t *p;
    const uint32_t *s;
    uint32_t *sp_now;

    /* .data: QEMU's ELF loader already put it in RAM, but a real board
     * boots from flash, and so does this code: copy it */
    for (p = __data_start, s = __data_load; p < __data_end;)
        *p++ = *s++;
    for (p = __bss_start; p < __bss_end;)
        *p++ = 0;

    /* the stack below this frame: fill with the pattern, leaving 64
     * bytes of margin under the current stack pointer (this function's
     * own frame is above it) */
    __asm__ volatile("mov %0, sp" : "=r"(sp_now));
    for (p = __stack_bottom; p < sp_now - 16;)
        *p++ = BOARD_STACK_FILL;

    main();
    board_exit(0);
}

/* ------------------------------------------------------------ faults */

/* The frame the core stacked on exception entry: r0-r3, r12, lr, pc,
 * xpsr. */
struct fault_frame {
    uint32_t r0, r1, r2, r3, r12, lr, pc, xpsr;
};

#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)
#define HFSR_DEBUGEVT 0x80000000u
#define HFSR_FORCED 0x40000000u

void board_fault(struct fault_frame *f, uint32_t exc_return);

/* Called by the naked HardFault_Handler with the stacked frame. One
 * fault is expected and survived: a semihosting BKPT 0xAB when QEMU runs
 * without -semihosting raises a debug event that, with no debugger and
 * the debug monitor off, escalates to HardFault (QEMU 7.2 reports it as
 * FORCED with no configurable fault; the architecture allows DEBUGEVT). The instruction is then skipped, the call
 * returns -1 and semihosting is marked absent, so the image still runs
 * (logs on the UART, RAM-only flash) instead of hanging at its first
 * semihosting call. Anything else is a crash: report and stop. */
void board_fault(struct fault_frame *f, uint32_t exc_return)
{
    uint32_t hfsr = SCB_HFSR;
    const uint16_t *insn = (const uint16_t *)(uintptr_t)f->pc;

    if (((hfsr & HFSR_DEBUGEVT) ||
         ((hfsr & HFSR_FORCED) && SCB_CFSR == 0)) &&
        (f->pc & 1u) == 0 && f->pc < 0x00400000u && *insn == 0xBEABu) {
        SCB_HFSR = hfsr & (HFSR_DEBUGEVT | HFSR_FORCED);   /* w1c */
        board_semihosting_lost();
        f->r0 = (uint32_t)-1;
        f->pc += 2;
        return;
    }
    board_printf("\r\n*** HARD FAULT: pc=%08lx lr=%08lx xpsr=%08lx "
                 "hfsr=%08lx cfsr=%08lx mmfar=%08lx bfar=%08lx exc=%08lx\r\n"
                 "    r0=%08lx r1=%08lx r2=%08lx r3=%08lx r12=%08lx\r\n",
                 (unsigned long)f->pc, (unsigned long)f->lr,
                 (unsigned long)f->xpsr, (unsigned long)hfsr,
                 (unsigned long)SCB_CFSR, (unsigned long)SCB_MMFAR,
                 (unsigned long)SCB_BFAR, (unsigned long)exc_return,
                 (unsigned long)f->r0, (unsigned long)f->r1,
                 (unsigned long)f->r2, (unsigned long)f->r3,
                 (unsigned long)f->r12);
    /* the words above the frame: return addresses among them (odd
     * values in CODE) give the call chain to arm-none-eabi-addr2line */
    {
        const uint32_t *w = (const uint32_t *)(f + 1);
        int i;

        board_printf("    code addresses on the stack:");
        for (i = 0; i < 256 && (uintptr_t)(w + i) < (uintptr_t)__stack_top;
             i++)
            if ((w[i] & 1u) && w[i] < 0x00400000u)
                board_printf(" %08lx", (unsigned long)(w[i] - 1u));
        board_printf("\r\n");
    }
    board_exit(BOARD_EXIT_FAULT);
}

/* Find the stacked frame (main or process stack, bit 2 of EXC_RETURN)
 * and hand it to board_fault. Naked: no prologue may touch the stack
 * before the frame pointer is taken. */
void HardFault_Handler(void)
{
    __asm__ volatile(
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "mov r1, lr\n"
        "push {r1, lr}\n"
        "bl board_fault\n"
        "pop {r1, pc}\n");
}

void Default_Handler(void)
{
    uint32_t ipsr;

    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    board_printf("\r\n*** unexpected exception %lu\r\n",
                 (unsigned long)(ipsr & 0x1FFu));
    board_exit(BOARD_EXIT_FAULT);
}

/* ------------------------------------------------------------ vectors */

typedef void (*vector_t)(void);

/* 16 system exceptions + the AN385's 32 external interrupts. The only
 * handlers are the clock and the faults; an unexpected interrupt stops
 * the board with its number rather than running off somewhere. */
__attribute__((section(".vectors"), used))
const vector_t board_vectors[16 + 32] = {
    (vector_t)(uintptr_t)__stack_top,
    Reset_Handler,
    Default_Handler,        /* NMI */
    HardFault_Handler,
    Default_Handler,        /* MemManage (escalates to HardFault: off) */
    Default_Handler,        /* BusFault */
    Default_Handler,        /* UsageFault */
    0, 0, 0, 0,
    Default_Handler,        /* SVCall */
    Default_Handler,        /* DebugMonitor */
    0,
    Default_Handler,        /* PendSV */
    SysTick_Handler,
    [16 ... 16 + 31] = Default_Handler,
};

/* ------------------------------------------------------------ exit */

/* mbedTLS's exit (MBEDTLS_PLATFORM_EXIT_MACRO in lwm_mbedtls_board.h):
 * its arena allocator (memory_buffer_alloc.c) calls it on finding its
 * heap corrupt, the only caller in the image. So nothing needs libc's
 * exit(), whose newlib version would bring the reentrancy structure and
 * stdio clean-up and need an _exit stub; this says what happened and
 * stops the board with the code. */
void board_mbedtls_exit(int code)
{
    board_printf("\r\n*** mbedTLS exit(%d): arena corrupt\r\n", code);
    board_exit(code ? code : BOARD_EXIT_PANIC);
}
