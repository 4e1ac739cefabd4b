/*
 * MPS2 AN385 under QEMU: console (CMSDK APB UART0), clock (SysTick),
 * the log formatter, exit and stack figures.
 */
#include <stdarg.h>
#include <string.h>

#include "board.h"
#include "board_int.h"

/* ------------------------------------------------------------ UART0 */

/* CMSDK APB UART (ARM DDI 0479): DATA, STATE (bit 0: TX buffer full),
 * CTRL (bit 0: TX enable, bit 1: RX enable), BAUDDIV (>= 16). QEMU's
 * model sends nothing until TX is enabled in CTRL. */
#define UART0 0x40004000u
#define UART_DATA REG32(UART0 + 0x00)
#define UART_STATE REG32(UART0 + 0x04)
#define UART_CTRL REG32(UART0 + 0x08)
#define UART_BAUDDIV REG32(UART0 + 0x10)
#define UART_STATE_TXFULL 0x1u
#define UART_STATE_RXFULL 0x2u
#define UART_CTRL_TXEN 0x1u
#define UART_CTRL_RXEN 0x2u

void board_uart_init(void)
{
    UART_BAUDDIV = BOARD_SYSCLK_HZ / 115200u;
    UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN;
}

void board_console_write(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        while (UART_STATE & UART_STATE_TXFULL)
            ;
        UART_DATA = (uint8_t)s[i];
    }
}

int board_console_getc(void)
{
    if (!(UART_STATE & UART_STATE_RXFULL))
        return -1;
    return (int)(UART_DATA & 0xFFu);
}

/* ------------------------------------------------------------ clock */

/* SysTick (ARMv7-M): CSR, RVR, CVR. CLKSOURCE=1 counts the core clock,
 * 25 MHz on this board: a reload of 25,000 is 1 ms. */
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define SYST_CSR_ENABLE 0x1u
#define SYST_CSR_TICKINT 0x2u
#define SYST_CSR_CLKSOURCE 0x4u
#define SYST_RELOAD (BOARD_SYSCLK_HZ / 1000u)

static volatile uint32_t ms_count;

void SysTick_Handler(void)
{
    ms_count++;
}

void board_clock_init(void)
{
    SYST_RVR = SYST_RELOAD - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
}

uint32_t board_ms(void)
{
    return ms_count;
}

/* Milliseconds times the reload plus the elapsed part of the current
 * one: a 25 MHz count. Read ms twice so a tick between the two reads of
 * the counter is not lost. */
uint32_t board_ticks(void)
{
    uint32_t ms, cvr;

    do {
        ms = ms_count;
        cvr = SYST_CVR;
    } while (ms != ms_count);
    return ms * SYST_RELOAD + (SYST_RELOAD - 1u - cvr);
}

uint32_t board_ticks_hz(void)
{
    return BOARD_SYSCLK_HZ;
}

void board_idle(void)
{
    __asm__ volatile("wfi" ::: "memory");
}

/* ------------------------------------------------------------ format */

struct out {
    char *buf;          /* NULL: straight to the console */
    size_t size, len;
    char tmp[64];       /* console output is staged here */
    size_t tlen;
};

static void out_flush(struct out *o)
{
    if (o->tlen) {
        board_console_write(o->tmp, o->tlen);
        o->tlen = 0;
    }
}

static void out_c(struct out *o, char c)
{
    if (o->buf == NULL) {
        if (o->tlen == sizeof o->tmp)
            out_flush(o);
        o->tmp[o->tlen++] = c;
    } else if (o->len + 1 < o->size) {
        o->buf[o->len] = c;
    }
    o->len++;
}

static void out_pad(struct out *o, int n, char c)
{
    while (n-- > 0)
        out_c(o, c);
}

static void vformat(struct out *o, const char *fmt, va_list ap)
{
    static const char digits[] = "0123456789abcdef0123456789ABCDEF";

    for (; *fmt; fmt++) {
        char num[24];
        int width = 0, left = 0, zero = 0, lng = 0, n = 0, neg = 0;
        unsigned long v;
        unsigned base;
        const char *s;

        if (*fmt != '%') {
            out_c(o, *fmt);
            continue;
        }
        fmt++;
        for (;; fmt++) {
            if (*fmt == '-')
                left = 1;
            else if (*fmt == '0')
                zero = 1;
            else
                break;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        if (*fmt == 'l' || *fmt == 'z') {
            lng = 1;    /* long and size_t are both 32 bits here */
            fmt++;
        }
        (void)lng;
        switch (*fmt) {
        case 'c':
            out_pad(o, left ? 0 : width - 1, ' ');
            out_c(o, (char)va_arg(ap, int));
            out_pad(o, left ? width - 1 : 0, ' ');
            continue;
        case 's':
            s = va_arg(ap, const char *);
            if (s == NULL)
                s = "(null)";
            n = (int)strlen(s);
            out_pad(o, left ? 0 : width - n, ' ');
            while (*s)
                out_c(o, *s++);
            out_pad(o, left ? width - n : 0, ' ');
            continue;
        case 'd':
        case 'i': {
            long sv = va_arg(ap, long);     /* int and long: same size */
            neg = sv < 0;
            v = neg ? 0UL - (unsigned long)sv : (unsigned long)sv;
            base = 10;
            break;
        }
        case 'u':
            v = va_arg(ap, unsigned long);
            base = 10;
            break;
        case 'x':
            v = va_arg(ap, unsigned long);
            base = 16;
            break;
        case 'X':
            v = va_arg(ap, unsigned long);
            base = 16 + 32;     /* upper-case digits */
            break;
        case 'p':
            v = (unsigned long)(uintptr_t)va_arg(ap, void *);
            base = 16;
            out_c(o, '0');
            out_c(o, 'x');
            break;
        case '%':
            out_c(o, '%');
            continue;
        default:        /* unknown: show it as written */
            out_c(o, '%');
            if (*fmt == '\0')
                return;
            out_c(o, *fmt);
            continue;
        }
        /* base: 10 or 16, plus 32 for upper-case hex digits */
        do {
            num[n++] = digits[(base & 32 ? 16 : 0) + v % (base & 31)];
            v /= (base & 31);
        } while (v);
        width -= n + neg;   /* what is left for padding */
        if (zero && !left) {
            if (neg)
                out_c(o, '-');
            out_pad(o, width, '0');
        } else {
            out_pad(o, left ? 0 : width, ' ');
            if (neg)
                out_c(o, '-');
        }
        while (n)
            out_c(o, num[--n]);
        out_pad(o, left ? width : 0, ' ');
    }
}

void board_vprintf(const char *fmt, va_list ap)
{
    struct out o;

    o.buf = NULL;
    o.size = o.len = o.tlen = 0;
    vformat(&o, fmt, ap);
    out_flush(&o);
}

void board_printf(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    board_vprintf(fmt, ap);
    va_end(ap);
}

size_t board_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o;

    o.buf = buf;
    o.size = size;
    o.len = o.tlen = 0;
    vformat(&o, fmt, ap);
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return o.len < size ? o.len : (size ? size - 1 : 0);
}

size_t board_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = board_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/* ------------------------------------------------------------ life */

extern uint32_t __data_start[], __bss_end[];
extern uint32_t __stack_bottom[], __stack_top[];

void board_init(void)
{
    board_uart_init();
    board_clock_init();
    /* the first semihosting call finds out whether there is a host */
    (void)board_cmdline();
    board_entropy_init();
}

uint32_t board_stack_size(void)
{
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
}

uint32_t board_stack_high_water(void)
{
    const uint32_t *p = __stack_bottom;

    while (p < __stack_top && *p == BOARD_STACK_FILL)
        p++;
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

uint32_t board_ram_static(void)
{
    return (uint32_t)((uintptr_t)__bss_end - (uintptr_t)__data_start);
}

void board_exit(int code)
{
    uint32_t a[2];

    board_flash_shutdown();
    if (code == 0) {
        /* ADP_Stopped_ApplicationExit: QEMU exits with status 0 */
        sh_call(SH_SYS_EXIT, (void *)(uintptr_t)0x20026u);
    } else {
        /* SYS_EXIT_EXTENDED carries the status for A32/T32 guests */
        a[0] = 0x20026u;
        a[1] = (uint32_t)code;
        sh_call(SH_SYS_EXIT_EXTENDED, a);
    }
    for (;;)
        __asm__ volatile("wfi");
}

void board_panic(const char *what, const char *file, int line)
{
    board_printf("\r\n*** PANIC: %s (%s:%d)\r\n", what, file, line);
    board_exit(BOARD_EXIT_PANIC);
}
