/*
 * lwmail POSIX port - emulated NOR flash (see lwm_nor.h).
 *
 * The whole region is one byte array: calloc'ed RAM, or a file mapped with
 * mmap(MAP_SHARED) so the image survives a restart and sync() is msync().
 * Every hook first checks that the power is on, then the NOR contract,
 * then counts the operation against a pending power cut.
 */
#define _POSIX_C_SOURCE 200809L

#include "lwm_nor.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lwmail/lwm_err.h"

#define NOR_ERASED 0xFFu

/// Helpers ///

static struct lwm_nor *nor_of(const struct lwm_flash *f)
{
    return (struct lwm_nor *)f->ctx;
}

static int nor_pow2_upto32(uint32_t v)
{
    return v >= 1 && v <= 32 && (v & (v - 1)) == 0;
}

/* xorshift32; the state is never 0 (lwm_nor_cut_after sees to that). */
static uint32_t nor_rand(struct lwm_nor *nor)
{
    uint32_t x = nor->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    nor->rng = x;
    return x;
}

/* A random number in [0, n), n > 0. The slight modulo bias is harmless. */
static uint32_t nor_rand_below(struct lwm_nor *nor, uint32_t n)
{
    return nor_rand(nor) % n;
}

static int nor_violation(struct lwm_nor *nor, int err)
{
    nor->violations++;
    return err;
}

/* True if [addr, addr + len) lies inside the region (no overflow). */
static int nor_in_range(const struct lwm_nor *nor, uint32_t addr,
                        uint32_t len)
{
    return addr <= nor->size && len <= nor->size - addr;
}

/* Count one prog/erase operation. Returns 1 if the power fails during it:
 * the caller then tears the operation and calls nor_cut(). */
static int nor_tick(struct lwm_nor *nor)
{
    nor->ops++;
    if (nor->cut_after == 0) {
        return 0;
    }
    nor->cut_after--;
    return nor->cut_after == 0;
}

/* The power is gone: everything fails from now on. on_cut may longjmp, so
 * the emulator's state must be final before it is called. */
static int nor_cut(struct lwm_nor *nor)
{
    nor->dead = 1;
    nor->cut_after = 0;
    if (nor->on_cut != NULL) {
        nor->on_cut(nor);
    }
    return LWM_ERR_IO;
}

/// Flash hooks ///

static int nor_read(const struct lwm_flash *f, uint32_t addr, void *buf,
                    uint32_t len)
{
    struct lwm_nor *nor = nor_of(f);

    if (nor->dead) {
        return LWM_ERR_IO;
    }
    if (addr % f->read_size != 0 || len % f->read_size != 0 ||
        !nor_in_range(nor, addr, len) || (buf == NULL && len != 0)) {
        return nor_violation(nor, LWM_ERR_INVAL);
    }
    if (len != 0) {
        memcpy(buf, nor->mem + addr, len);
    }
    nor->reads++;
    nor->read_bytes += len;
    return LWM_OK;
}

static int nor_prog(const struct lwm_flash *f, uint32_t addr,
                    const void *buf, uint32_t len)
{
    struct lwm_nor *nor = nor_of(f);
    const uint8_t *src = buf;
    uint8_t *dst;
    uint32_t i;

    if (nor->dead) {
        return LWM_ERR_IO;
    }
    if (addr % f->prog_size != 0 || len % f->prog_size != 0 ||
        !nor_in_range(nor, addr, len) || (buf == NULL && len != 0)) {
        return nor_violation(nor, LWM_ERR_INVAL);
    }
    dst = nor->mem + addr;
    for (i = 0; i < len; i++) {
        if (dst[i] != NOR_ERASED) {
            return nor_violation(nor, LWM_ERR_IO);
        }
    }
    if (len == 0) {
        return LWM_OK;
    }

    nor->progs++;
    if (nor_tick(nor)) {
        switch (nor->tear) {
        case LWM_NOR_TEAR_PREFIX: {
            uint32_t n = nor_rand_below(nor, len);
            memcpy(dst, src, n);
            nor->prog_bytes += n;
            break;
        }
        case LWM_NOR_TEAR_BITS:
            /* Clear a random subset of the bits the program would clear;
             * never set one. */
            for (i = 0; i < len; i++) {
                uint8_t clear = (uint8_t)(~src[i] & dst[i]);
                uint8_t pick = (uint8_t)nor_rand(nor);
                dst[i] = (uint8_t)(dst[i] & ~(clear & pick));
            }
            nor->prog_bytes += len;
            break;
        case LWM_NOR_TEAR_NONE:
        default:
            break;
        }
        return nor_cut(nor);
    }

    /* Every target byte is 0xFF, so AND is the same as a copy; AND keeps
     * the "only clears bits" rule explicit. */
    for (i = 0; i < len; i++) {
        dst[i] = (uint8_t)(dst[i] & src[i]);
    }
    nor->prog_bytes += len;
    return LWM_OK;
}

static int nor_erase(const struct lwm_flash *f, uint32_t block)
{
    struct lwm_nor *nor = nor_of(f);
    uint8_t *dst;
    uint32_t i;

    if (nor->dead) {
        return LWM_ERR_IO;
    }
    if (block >= f->block_count) {
        return nor_violation(nor, LWM_ERR_INVAL);
    }
    dst = nor->mem + block * f->block_size;

    nor->erases++;
    if (nor_tick(nor)) {
        switch (nor->tear) {
        case LWM_NOR_TEAR_PREFIX:
            memset(dst, NOR_ERASED, nor_rand_below(nor, f->block_size));
            nor->wear[block]++;
            break;
        case LWM_NOR_TEAR_BITS:
            for (i = 0; i < f->block_size; i++) {
                if (nor_rand(nor) & 1u) {
                    dst[i] = NOR_ERASED;
                }
            }
            nor->wear[block]++;
            break;
        case LWM_NOR_TEAR_NONE:
        default:
            break;
        }
        return nor_cut(nor);
    }

    memset(dst, NOR_ERASED, f->block_size);
    nor->wear[block]++;
    return LWM_OK;
}

static int nor_sync(const struct lwm_flash *f)
{
    struct lwm_nor *nor = nor_of(f);

    if (nor->dead) {
        return LWM_ERR_IO;
    }
    if (nor->fd >= 0 && msync(nor->mem, nor->size, MS_SYNC) != 0) {
        return LWM_ERR_IO;
    }
    nor->syncs++;
    return LWM_OK;
}

/// Backing ///

/* Open or create the image file and map it; fill it with 0xFF when it is
 * new or of the wrong size. */
static int nor_map_file(struct lwm_nor *nor, const char *path)
{
    struct stat st;
    void *p;
    int fresh;

    nor->fd = open(path, O_RDWR | O_CREAT, 0644);
    if (nor->fd < 0) {
        return LWM_ERR_IO;
    }
    if (fstat(nor->fd, &st) != 0) {
        return LWM_ERR_IO;
    }
    fresh = !S_ISREG(st.st_mode) || st.st_size != (off_t)nor->size;
    if (fresh) {
        /* Drop any old content, then grow to the full size. */
        if (ftruncate(nor->fd, 0) != 0 ||
            ftruncate(nor->fd, (off_t)nor->size) != 0) {
            return LWM_ERR_IO;
        }
    }
    p = mmap(NULL, nor->size, PROT_READ | PROT_WRITE, MAP_SHARED, nor->fd, 0);
    if (p == MAP_FAILED) {
        return LWM_ERR_IO;
    }
    nor->mem = p;
    if (fresh) {
        memset(nor->mem, NOR_ERASED, nor->size);
        if (msync(nor->mem, nor->size, MS_SYNC) != 0) {
            return LWM_ERR_IO;
        }
    }
    return LWM_OK;
}

/// Public API ///

int lwm_nor_open(struct lwm_nor *nor, const char *path, uint32_t block_size,
                 uint32_t block_count, uint32_t prog_size, uint32_t read_size,
                 int mapped)
{
    int err;

    if (nor == NULL) {
        return LWM_ERR_INVAL;
    }
    memset(nor, 0, sizeof(*nor));
    nor->fd = -1;
    if (!nor_pow2_upto32(prog_size) || !nor_pow2_upto32(read_size) ||
        block_size == 0 || block_count == 0 ||
        block_size % prog_size != 0 || block_size % read_size != 0 ||
        block_count > UINT32_MAX / block_size) {
        return LWM_ERR_INVAL;
    }
    nor->size = block_size * block_count;

    nor->wear = calloc(block_count, sizeof(*nor->wear));
    if (nor->wear == NULL) {
        return LWM_ERR_NOMEM;
    }
    if (path != NULL) {
        err = nor_map_file(nor, path);
    } else {
        nor->mem = malloc(nor->size);
        err = nor->mem != NULL ? LWM_OK : LWM_ERR_NOMEM;
        if (err == LWM_OK) {
            memset(nor->mem, NOR_ERASED, nor->size);
        }
    }
    if (err != LWM_OK) {
        lwm_nor_close(nor);
        return err;
    }

    nor->flash.ctx = nor;
    nor->flash.read = nor_read;
    nor->flash.prog = nor_prog;
    nor->flash.erase = nor_erase;
    nor->flash.sync = nor_sync;
    nor->flash.block_size = block_size;
    nor->flash.block_count = block_count;
    nor->flash.prog_size = prog_size;
    nor->flash.read_size = read_size;
    nor->flash.mapped = mapped ? nor->mem : NULL;
    nor->rng = 1;
    return LWM_OK;
}

void lwm_nor_close(struct lwm_nor *nor)
{
    if (nor == NULL) {
        return;
    }
    if (nor->fd >= 0) {
        if (nor->mem != NULL) {
            (void)msync(nor->mem, nor->size, MS_SYNC);
            (void)munmap(nor->mem, nor->size);
        }
        (void)close(nor->fd);
    } else {
        free(nor->mem);
    }
    free(nor->wear);
    memset(nor, 0, sizeof(*nor));
    nor->fd = -1;
}

void lwm_nor_cut_after(struct lwm_nor *nor, uint64_t n,
                       enum lwm_nor_tear tear, uint32_t seed)
{
    nor->cut_after = n;
    nor->tear = tear;
    /* Mix the seed so that nearby seeds give unrelated streams; xorshift
     * must not start at 0. */
    seed ^= 0x9E3779B9u;
    seed *= 0x85EBCA6Bu;
    seed ^= seed >> 13;
    nor->rng = seed != 0 ? seed : 1;
}

void lwm_nor_power_on(struct lwm_nor *nor)
{
    nor->dead = 0;
    nor->cut_after = 0;
}

void lwm_nor_reset_counters(struct lwm_nor *nor)
{
    nor->prog_bytes = 0;
    nor->read_bytes = 0;
    nor->progs = 0;
    nor->erases = 0;
    nor->syncs = 0;
    nor->ops = 0;
    nor->violations = 0;
    nor->reads = 0;
}
