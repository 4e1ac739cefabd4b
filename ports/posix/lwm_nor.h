/*
 * lwmail POSIX port - a file (or RAM) that behaves like NOR flash.
 *
 * Implements struct lwm_flash with strict NOR semantics and fault injection
 * for the power-loss tests:
 *
 *  - erase(block) sets the block to 0xFF;
 *  - prog() may only clear bits; programming a byte that is not 0xFF is a
 *    contract violation: the call fails with LWM_ERR_IO and
 *    nor->violations is incremented so a test can report it;
 *  - misaligned addr/len (prog_size/read_size), an out-of-range address or
 *    block, or a NULL buffer are violations too: counted, LWM_ERR_INVAL,
 *    nothing done, and such a call does not count as an operation;
 *  - power cut: the nor->cut_after-th prog/erase operation from now is the
 *    one where the "power fails": the failing operation is optionally torn (a prefix of
 *    the data written, or random bits of it cleared, or for erase a partial
 *    erase) and that call and every later call return LWM_ERR_IO until
 *    lwm_nor_power_on(). If nor->on_cut is set, it is called at the cut
 *    (a test may longjmp out of it);
 *  - counters of programmed bytes, reads, erases and per-block wear.
 *
 * Backing: a RAM array (fast, for tests), optionally a file (mmap'ed, so
 * flash.mapped gives zero-copy reads and the image survives restarts).
 */
#ifndef LWM_NOR_H
#define LWM_NOR_H

#include <stdint.h>

#include "lwmail/lwm_flash.h"

enum lwm_nor_tear {
    LWM_NOR_TEAR_NONE = 0,   /* the cut operation did nothing */
    LWM_NOR_TEAR_PREFIX = 1, /* a random prefix of it was done */
    LWM_NOR_TEAR_BITS = 2    /* a random subset of its bits changed */
};

struct lwm_nor {
    struct lwm_flash flash;  /* hand &nor->flash to the store */
    uint8_t *mem;            /* block_size * block_count bytes */
    uint32_t *wear;          /* erase count per block */
    int fd;                  /* backing file or -1 */
    uint32_t size;

    /* counters (reset with lwm_nor_reset_counters; wear[] is not reset) */
    uint64_t prog_bytes, read_bytes;
    uint64_t progs, erases, syncs;
    uint64_t ops;            /* prog + erase operations, for cut points */
    uint64_t violations;     /* NOR contract violations seen */
    uint64_t reads;          /* read calls that succeeded */

    /* fault injection */
    uint64_t cut_after;      /* 0: never; else prog/erase operations left
                                until the cut, the cut one included */
    enum lwm_nor_tear tear;
    uint32_t rng;            /* xorshift state for tearing */
    int dead;                /* power is off: every call fails */
    void (*on_cut)(struct lwm_nor *nor);
    void *user;
};

/** Create an emulated NOR flash. path NULL: RAM only. With a path, the file
 *  is created (0xFF) if missing or of the wrong size, and mmap'ed.
 *  Returns 0 or a negative lwm_err. */
int lwm_nor_open(struct lwm_nor *nor, const char *path, uint32_t block_size,
                 uint32_t block_count, uint32_t prog_size, uint32_t read_size,
                 int mapped);
void lwm_nor_close(struct lwm_nor *nor);

/** Arrange a power cut at the n-th prog/erase from now (n >= 1). */
void lwm_nor_cut_after(struct lwm_nor *nor, uint64_t n,
                       enum lwm_nor_tear tear, uint32_t seed);
/** Power back on: calls work again, cut disarmed. */
void lwm_nor_power_on(struct lwm_nor *nor);
void lwm_nor_reset_counters(struct lwm_nor *nor);

#endif /* LWM_NOR_H */
