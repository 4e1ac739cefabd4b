/*
 * ARM semihosting: host services through BKPT 0xAB, which QEMU answers
 * when started with -semihosting. Used for the exit code (tests), the
 * command line (-append) and the flash image file.
 *
 * Without -semihosting there is no debugger to take the BKPT: it becomes
 * a HardFault, which startup.c recognises and turns into a failed call
 * (returning -1) that also marks semihosting absent, so later calls do
 * not even try.
 */
#include <string.h>

#include "board.h"
#include "board_int.h"

static volatile int sh_absent;

void board_semihosting_lost(void)
{
    sh_absent = 1;
}

int board_semihosting(void)
{
    return !sh_absent;
}

long sh_call(int op, void *arg)
{
    register long r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;

    if (sh_absent)
        return -1;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int sh_open(const char *path, int mode)
{
    uint32_t a[3];

    a[0] = (uint32_t)(uintptr_t)path;
    a[1] = (uint32_t)mode;
    a[2] = (uint32_t)strlen(path);
    return (int)sh_call(SH_SYS_OPEN, a);
}

int sh_close(int fd)
{
    uint32_t a[1];

    a[0] = (uint32_t)fd;
    return (int)sh_call(SH_SYS_CLOSE, a);
}

long sh_flen(int fd)
{
    uint32_t a[1];

    a[0] = (uint32_t)fd;
    return sh_call(SH_SYS_FLEN, a);
}

int sh_seek(int fd, uint32_t pos)
{
    uint32_t a[2];

    a[0] = (uint32_t)fd;
    a[1] = pos;
    return sh_call(SH_SYS_SEEK, a) == 0 ? 0 : -1;
}

/* SYS_WRITE returns the number of bytes NOT written. */
int sh_write_all(int fd, const void *buf, uint32_t len)
{
    uint32_t a[3];

    a[0] = (uint32_t)fd;
    a[1] = (uint32_t)(uintptr_t)buf;
    a[2] = len;
    return sh_call(SH_SYS_WRITE, a) == 0 ? 0 : -1;
}

/* SYS_READ likewise returns the number of bytes not read. */
int sh_read_all(int fd, void *buf, uint32_t len)
{
    uint32_t a[3];

    a[0] = (uint32_t)fd;
    a[1] = (uint32_t)(uintptr_t)buf;
    a[2] = len;
    return sh_call(SH_SYS_READ, a) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ cmdline */

static char cmdline[256];
static int cmdline_read;

const char *board_cmdline(void)
{
    uint32_t a[2];

    if (!cmdline_read) {
        cmdline_read = 1;
        a[0] = (uint32_t)(uintptr_t)cmdline;
        a[1] = sizeof cmdline - 1;
        if (sh_call(SH_SYS_GET_CMDLINE, a) != 0)
            cmdline[0] = '\0';
        cmdline[sizeof cmdline - 1] = '\0';
    }
    return cmdline;
}

/* QEMU passes "<kernel file> <-append text>": words separated by spaces;
 * the first (the image's own name) never matches a key=. */
int board_option(const char *key, char *out, size_t size)
{
    const char *p = board_cmdline();
    size_t klen = strlen(key);

    while (*p) {
        const char *w = p;
        size_t wlen;

        while (*p && *p != ' ')
            p++;
        wlen = (size_t)(p - w);
        while (*p == ' ')
            p++;
        if (wlen > klen && !memcmp(w, key, klen) && w[klen] == '=') {
            size_t n = wlen - klen - 1;
            if (size == 0)
                return 1;
            if (n >= size)
                n = size - 1;
            memcpy(out, w + klen + 1, n);
            out[n] = '\0';
            return 1;
        }
    }
    return 0;
}
