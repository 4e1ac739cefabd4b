/*
 * lwmail - the flash hook.
 *
 * A caller-provided description of one raw flash region, after littlefs's
 * struct lfs_config. The store assumes NOR semantics and nothing else:
 *
 *  - the region is block_count erase blocks of block_size bytes;
 *  - erase(block) sets every byte of the block to 0xFF;
 *  - prog(addr, buf, len) may only clear bits (1 -> 0). The store never
 *    programs a byte twice between erases, and never programs a byte that is
 *    not erased; addr and len are multiples of prog_size;
 *  - read(addr, buf, len): addr and len are multiples of read_size;
 *  - sync() returns only when every earlier prog/erase is durable (a part
 *    with a write cache flushes it here);
 *  - mapped, if not NULL, points at a memory-mapped view of the whole region
 *    (XIP NOR): reads may then be served without a copy.
 *
 * Every hook returns 0 on success or a negative lwm_err (LWM_ERR_IO,
 * LWM_ERR_CORRUPT). Hooks must not block for longer than one operation of
 * the part; the store bounds how many it calls per step.
 */
#ifndef LWM_FLASH_H
#define LWM_FLASH_H

#include <stdint.h>

struct lwm_flash {
    /** Opaque context for the driver. */
    void *ctx;

    /** Read len bytes at byte address addr (aligned to read_size). Must. */
    int (*read)(const struct lwm_flash *f, uint32_t addr, void *buf,
                uint32_t len);

    /** Program len bytes at addr (aligned to prog_size; bytes erased). Must. */
    int (*prog)(const struct lwm_flash *f, uint32_t addr, const void *buf,
                uint32_t len);

    /** Erase one block (sets it to 0xFF). Must. */
    int (*erase)(const struct lwm_flash *f, uint32_t block);

    /** Make all earlier prog/erase calls durable. Must (may be a no-op). */
    int (*sync)(const struct lwm_flash *f);

    /** Erase block size in bytes: a multiple of prog_size and read_size. */
    uint32_t block_size;
    /** Number of erase blocks (>= LWM_STORE_MIN_BLOCKS). */
    uint32_t block_count;
    /** Program granularity in bytes, a power of two from 1 to 32. */
    uint32_t prog_size;
    /** Read granularity in bytes, a power of two from 1 to 32. */
    uint32_t read_size;
    /** Optional memory-mapped view of the region, or NULL. */
    const uint8_t *mapped;
};

#endif /* LWM_FLASH_H */
