/*
 * lwmail tests - mounting damaged flash images (littlefs's "evil" tests).
 *
 * Every byte on the flash is hostile. An image is built with a workload of
 * a few hundred operations (tests/model.c), checked against the model, and
 * then, for each iteration, a copy is damaged and mounted:
 *
 *   bits      1..50 random bit flips anywhere
 *   used-bits 1..50 bit flips in blocks that hold data
 *   half      half of a used block erased (either half, or from a random
 *             offset to the end: an interrupted erase)
 *   garbage   a used block filled with random bytes
 *   header    the first bytes of one or more used blocks (the block
 *             headers) garbled
 *   zero      a random region programmed to 0x00
 *   truncate  everything from a random offset to the end erased
 *   stale     an old image of the same store with some blocks replaced by
 *             the new image's (blocks that went back in time)
 *
 * The store must never crash or hang (run this under ASan/UBSan): mount
 * either fails with an error, or succeeds and lwm_store_check(s, 0) is 0;
 * then every message of every mailbox is read in full (errors allowed),
 * lwm_store_check(s, 1) says 0 or LWM_ERR_CORRUPT, and a few writes (an
 * append, flags, GC steps) run; if the image is remounted after those, the
 * mount again fails cleanly or passes lwm_store_check(s, 0).
 * Pure garbage images and an all-0x00 image must not mount as a store, and
 * an erased (all-0xFF) image must give exactly LWM_ERR_CORRUPT.
 *
 * LWM_CORRUPT_ITERS=n sets the number of damaged images (default 1000;
 * LWM_SLOW_HOST=1 makes the default 300). --seed s, --iters n, -v;
 * --geom g --only i runs one iteration again (each has its own random
 * stream), -v shows what was damaged and why a check failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"
#include "lwm_nor.h"
#include "lwmail/lwm_store.h"
#include "model.h"

static const struct geom geoms[] = {
    { "1024x96 prog 4 mapped", 1024, 96, 4, 4, 1 },
    { "2048x48 prog 16", 2048, 48, 16, 16, 0 },
};
#define NGEOMS ((int)(sizeof(geoms) / sizeof(geoms[0])))

enum { D_BITS, D_USED_BITS, D_HALF, D_GARBAGE, D_HEADER, D_ZERO,
       D_TRUNCATE, D_STALE, D_EVIL_META, D_EVIL_DATA, D_KINDS };
static const char *const dnames[D_KINDS] = {
    "bits", "used-bits", "half", "garbage", "header", "zero", "truncate",
    "stale", "evil-meta", "evil-data"
};

static struct lwm_store store;
static struct lwm_nor nor;
static struct model model;
static struct model_run run;
static struct workload wl;
static uint8_t *image;          /* the good image */
static uint8_t *old_image;      /* the same store, earlier */
static uint8_t rbuf[4096];

/* Diagnostics: the clean image's block states (from a mount of it) and
 * the blocks the current damage touched. */
static uint8_t blk_state[LWM_STORE_MAX_BLOCKS];
static uint8_t touched[LWM_STORE_MAX_BLOCKS];


/* Per damage kind: iterations, mounts that succeeded. */
static unsigned long d_runs[D_KINDS], d_mounted[D_KINDS];
static volatile sig_atomic_t cur_iter = -1;

static void on_alarm(int sig)
{
    static const char msg[] = "test_corrupt: an iteration took too long "
                              "(a hang in the store?)\n";
    (void)sig;
    (void)write(2, msg, sizeof(msg) - 1);
    _exit(3);
}

static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static uint32_t below(uint32_t *x, uint32_t n)
{
    return n > 0 ? rnd(x) % n : 0;
}

/// Building the image ///

static int build_image(const struct geom *g, uint32_t seed, uint32_t ops,
                       uint8_t *out)
{
    int err;
    memset(nor.mem, 0xFF, nor.size);
    lwm_nor_power_on(&nor);
    memset(&store, 0, sizeof(store));
    err = lwm_store_format(&store, &nor.flash);
    if (!CHECK(err == 0)) {
        return -1;
    }
    model_init(&model);
    workload_init(&wl, seed, &nor.flash);
    memset(&run, 0, sizeof(run));
    run.s = &store;
    run.f = &nor.flash;
    run.m = &model;
    run.verify = 1;
    if (!CHECK(workload_run(&wl, &run, ops) == (long)ops)) {
        printf("  %s: building the image failed: %s\n", g->name, run.err);
        return -1;
    }
    if (!CHECK(lwm_store_check(&store, 1) == 0) ||
        !CHECK(model_compare(&model, &store, &nor.flash) == 0)) {
        printf("  %s: the image does not match the model: %s\n", g->name,
               model.err);
        return -1;
    }
    CHECK(lwm_store_unmount(&store) == 0);
    CHECK(nor.violations == 0);
    memcpy(out, nor.mem, nor.size);
    return 0;
}

static struct {
    uint32_t seed;
    long iters;
    int verbose;
    long only;       /* run only this iteration (-1: all) */
    int geom;        /* only this geometry (-1: all) */
} opt = { 77, -1, 0, -1, -1 };

/// A reader of docs/FORMAT.md ///

/* Just enough of the format to find records and body headers, so that
 * "evil" damage can change a field to a nonsensical value and fix up its
 * CRC: the store must then rely on its own range checks, not on the CRC.
 * Written from docs/FORMAT.md alone (byte order LE, CRC-32C). */

#define F_NONE 0xFFFFFFFFu
#define F_MAX_RECS 4096
#define F_MAX_BODIES 1024

static uint32_t f_crc(uint32_t crc, const uint8_t *p, size_t n)
{
    uint32_t k;
    crc = ~crc;
    while (n-- > 0) {
        crc ^= *p++;
        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

static uint32_t f_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void f_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t f_al(uint32_t x, uint32_t u)
{
    return (x + u - 1) / u * u;
}

struct f_rec {
    uint32_t addr;     /* of the record header */
    uint8_t type;
    uint16_t len;
};

static struct {
    uint32_t hdr, u, bs, nblocks;
    uint32_t nrecs, nbodies, nmeta, ndata;
    struct f_rec recs[F_MAX_RECS];
    uint32_t bodies[F_MAX_BODIES];
    uint32_t data_blocks[LWM_STORE_MAX_BLOCKS];
} fmt;

/* Decode the clean image: every valid record of every META block, and the
 * body addresses that MSGS records name. */
static void f_decode(const struct geom *g, const uint8_t *img)
{
    uint32_t b, u = g->prog_size;
    memset(&fmt, 0, sizeof(fmt));
    fmt.u = u;
    fmt.bs = g->block_size;
    fmt.nblocks = g->block_count;
    fmt.hdr = f_al(16, u) + f_al(84, u) + f_al(8, u);
    for (b = 0; b < g->block_count; b++) {
        const uint8_t *blk = img + b * g->block_size;
        const uint8_t *pb = blk + f_al(16, u);
        uint32_t off, nptr = pb[1];
        /* part A: magic, version, CRC; part B: CRC over bytes 0..15 and
         * the nptr pointers that follow its CRC field */
        if (f_get32(blk) != 0x424D574Cu || blk[4] != 1 ||
            f_crc(0, blk, 12) != f_get32(blk + 12) || nptr > 16) {
            continue;
        }
        {
            uint8_t tmp[16 + 64];
            memcpy(tmp, pb, 16);
            memcpy(tmp + 16, pb + 20, 4 * nptr);
            if (f_crc(0, tmp, 16 + 4 * nptr) != f_get32(pb + 16)) {
                continue;
            }
        }
        if (pb[0] == 0x02) {
            fmt.data_blocks[fmt.ndata++] = b;
            continue;
        }
        if (pb[0] != 0x01) {
            continue;
        }
        fmt.nmeta++;
        for (off = fmt.hdr; off + 8 <= g->block_size;) {
            const uint8_t *r = blk + off;
            uint32_t len = (uint32_t)r[2] | (uint32_t)r[3] << 8;
            if (r[0] == 0xFF || len > 216 || off + 8 + len > g->block_size ||
                f_crc(0, r, 4 + len) != f_get32(r + 4 + len)) {
                break;
            }
            if (fmt.nrecs < F_MAX_RECS) {
                struct f_rec *fr = &fmt.recs[fmt.nrecs++];
                fr->addr = b * g->block_size + off;
                fr->type = r[0];
                fr->len = (uint16_t)len;
            }
            if (r[0] == 0x05 && len >= 6) {   /* MSGS: collect bodies */
                uint32_t n = (uint32_t)r[8] | (uint32_t)r[9] << 8, i;
                for (i = 0; i < n && 6 + 16 * (i + 1) <= len; i++) {
                    if (fmt.nbodies < F_MAX_BODIES) {
                        fmt.bodies[fmt.nbodies++] =
                            f_get32(r + 4 + 6 + 16 * i + 12);
                    }
                }
            }
            off += f_al(8 + len, u);
        }
    }
}

/* A value that is wrong in an interesting way for a field holding v. */
static uint32_t f_evil32(uint32_t *x, uint32_t v)
{
    switch (below(x, 10)) {
    case 0: return 0;
    case 1: return F_NONE;
    case 2: return v + 1;
    case 3: return v - 1;
    case 4: return v ^ (1u << below(x, 32));
    case 5: return 0x80000000u;
    case 6: return fmt.bs * fmt.nblocks + below(x, 4096);  /* past the end */
    case 7: return below(x, fmt.bs * fmt.nblocks);          /* anywhere */
    case 8: return fmt.nblocks + below(x, 64);              /* block number */
    default: return rnd(x);
    }
}

/* A random record of the given type, or NULL. */
static const struct f_rec *f_pick(uint32_t *x, uint8_t type)
{
    uint32_t start = below(x, fmt.nrecs), i;
    for (i = 0; i < fmt.nrecs; i++) {
        const struct f_rec *fr = &fmt.recs[(start + i) % fmt.nrecs];
        if (fr->type == type) {
            return fr;
        }
    }
    return NULL;
}

/* Targeted nonsense with a valid CRC: values the store must range-check.
 * Returns the record changed, or NULL. */
static const struct f_rec *f_evil_targeted(uint32_t *x, uint8_t *mem)
{
    static const uint32_t bad_uids[] = { 0, F_NONE, 0x7FFFFFFFu, 0xFFFFFFFEu };
    const struct f_rec *fr;
    uint8_t *p;
    switch (below(x, 6)) {
    case 0:   /* MSGS: a UID of 0 or near 2^32 */
        fr = f_pick(x, 0x05);
        if (fr != NULL && fr->len >= 22) {
            p = mem + fr->addr + 4;
            f_put32(p + 6, bad_uids[below(x, 4)]);
        }
        return fr;
    case 1:   /* MSGS: a body address anywhere, or past the end */
        fr = f_pick(x, 0x05);
        if (fr != NULL && fr->len >= 22) {
            p = mem + fr->addr + 4;
            f_put32(p + 18, f_evil32(x, f_get32(p + 18)));
        }
        return fr;
    case 2:   /* a name with a NUL, a '/' or 0xFF in it (MBOX, USER) */
        fr = f_pick(x, below(x, 2) ? 0x02 : 0x01);
        if (fr != NULL) {
            uint32_t off = fr->type == 0x02 ? 21u : 3u;
            static const uint8_t bad[] = { 0x00, '/', 0xFF, 0x80 };
            p = mem + fr->addr + 4;
            if (fr->len > off) {
                p[off + below(x, fr->len - off)] = bad[below(x, 4)];
            }
        }
        return fr;
    case 3:   /* MBOX: attrs (\Noselect on a mailbox with messages...) */
        fr = f_pick(x, 0x02);
        if (fr != NULL && fr->len >= 8) {
            p = mem + fr->addr + 4;
            p[6] = (uint8_t)rnd(x);
            p[7] = (uint8_t)rnd(x);
        }
        return fr;
    case 4:   /* MSGS read as MBOX, MBOX as MSGS, ... (a retyped record) */
        fr = f_pick(x, below(x, 2) ? 0x05 : 0x02);
        if (fr != NULL) {
            static const uint8_t types[] = { 0x01, 0x02, 0x03, 0x04, 0x05,
                                             0x06, 0x07 };
            mem[fr->addr] = types[below(x, 7)];
        }
        return fr;
    default:  /* KEYWORD: index out of the table, or a NUL in the name */
        fr = f_pick(x, 0x04);
        if (fr != NULL && fr->len >= 6) {
            p = mem + fr->addr + 4;
            if (below(x, 2)) {
                p[4] = (uint8_t)(LWM_KEYWORDS_MAX + below(x, 250));
            } else if (fr->len > 6) {
                p[6 + below(x, fr->len - 6)] = 0;
            }
        }
        return fr;
    }
}

/* Change one field of a valid record and fix its CRC. */
static void f_evil_meta(uint32_t *x, uint8_t *mem)
{
    const struct f_rec *fr;
    uint8_t *r, *p;
    uint32_t len, at;
    if (fmt.nrecs == 0) {
        return;
    }
    if (below(x, 2) == 0) {
        fr = f_evil_targeted(x, mem);
        if (fr != NULL) {
            r = mem + fr->addr;
            f_put32(r + 4 + fr->len, f_crc(0, r, 4u + fr->len));
            if (opt.verbose) {
                uint32_t i;
                printf("      evil record at 0x%lx, type 0x%02x -> 0x%02x, "
                       "payload now:", (unsigned long)fr->addr, fr->type,
                       r[0]);
                for (i = 0; i < fr->len && i < 40; i++) {
                    printf(" %02x", r[4 + i]);
                }
                printf("\n");
            }
        }
        return;
    }
    fr = &fmt.recs[below(x, fmt.nrecs)];
    r = mem + fr->addr;
    p = r + 4;
    len = fr->len;
    switch (below(x, 6)) {
    case 0:   /* a 32-bit field somewhere in the payload */
        if (len >= 4) {
            at = below(x, len - 3);
            f_put32(p + at, f_evil32(x, f_get32(p + at)));
        }
        break;
    case 1:   /* a count or a name length (u8 or u16 at its usual place) */
        switch (fr->type) {
        case 0x01: if (len > 2) p[2] = (uint8_t)rnd(x); break;
        case 0x02: if (len > 20) p[20] = (uint8_t)rnd(x); break;
        case 0x04: if (len > 5) { p[4] = (uint8_t)rnd(x);
                                  p[5] = (uint8_t)rnd(x); } break;
        case 0x05:
        case 0x06: if (len > 5) { p[4] = (uint8_t)rnd(x);
                                  p[5] = (uint8_t)rnd(x); } break;
        case 0x07: if (len > 9) { p[8] = (uint8_t)rnd(x);
                                  p[9] = (uint8_t)rnd(x); } break;
        default: break;
        }
        break;
    case 2:   /* the type */
        r[0] = (uint8_t)(1 + below(x, 12));
        break;
    case 3:   /* the flags (CONT or not) */
        r[1] ^= 1;
        break;
    case 4:   /* a random byte of the payload */
        if (len > 0) {
            p[below(x, len)] = (uint8_t)rnd(x);
        }
        break;
    default:  /* the first id of the payload: user/mailbox id */
        if (len >= 4) {
            if (fr->type == 0x01) {
                p[0] = (uint8_t)rnd(x);
                p[1] = (uint8_t)rnd(x);
            } else {
                f_put32(p, f_evil32(x, f_get32(p)));
            }
        }
        break;
    }
    f_put32(p + len, f_crc(0, r, 4 + len));
    if (opt.verbose) {
        uint32_t i;
        printf("      evil record at 0x%lx, type 0x%02x -> 0x%02x, flags %u, "
               "len %u, payload now:", (unsigned long)fr->addr, fr->type,
               r[0], r[1], (unsigned)len);
        for (i = 0; i < len && i < 40; i++) {
            printf(" %02x", p[i]);
        }
        printf("\n");
    }
}

/* Change a body's H or C unit, or a DATA block's part A/B, and fix the
 * CRCs (the C unit's is seeded with the H unit's). */
static void f_evil_data(uint32_t *x, uint8_t *mem)
{
    uint32_t u = fmt.u;
    uint32_t which = below(x, 3);
    if (which < 2 && fmt.nbodies > 0) {
        uint32_t body = fmt.bodies[below(x, fmt.nbodies)];
        uint8_t *h, *c;
        if (body == F_NONE || body + f_al(16, u) + 28 > fmt.bs * fmt.nblocks) {
            return;
        }
        h = mem + body;
        c = h + f_al(16, u);
        if (which == 1) {      /* C: len, last_blk, last_n or sum_len */
            static const uint32_t fields[4] = { 0, 4, 8, 16 };
            uint32_t at = fields[below(x, 4)];
            f_put32(c + at, f_evil32(x, f_get32(c + at)));
        }
        if (which == 0 || below(x, 4) == 0) {   /* H: date or first_n */
            uint32_t at = 4 + 4 * below(x, 2);
            f_put32(h + at, f_evil32(x, f_get32(h + at)));
            f_put32(h + 12, f_crc(0, h, 12));
        }
        f_put32(c + 24, f_crc(f_get32(h + 12), c, 24));
        return;
    }
    if (fmt.ndata > 0) {       /* part B of a DATA block */
        uint32_t b = fmt.data_blocks[below(x, fmt.ndata)];
        uint8_t *pb = mem + b * fmt.bs + f_al(16, u), tmp[16 + 64];
        uint32_t nptr;
        switch (below(x, 4)) {
        case 0: pb[1] = (uint8_t)below(x, 40); break;        /* nptr */
        case 1: f_put32(pb + 8, f_evil32(x, f_get32(pb + 8))); break;
        case 2: f_put32(pb + 12, f_evil32(x, f_get32(pb + 12))); break;
        default:
            if (pb[1] > 0) {
                uint32_t i = below(x, pb[1] < 16 ? pb[1] : 16);
                f_put32(pb + 20 + 4 * i, f_evil32(x, f_get32(pb + 20 + 4 * i)));
            }
            break;
        }
        nptr = pb[1] <= 16 ? pb[1] : 16;
        memcpy(tmp, pb, 16);
        memcpy(tmp + 16, pb + 20, 4 * nptr);
        f_put32(pb + 16, f_crc(0, tmp, 16 + 4 * nptr));
    }
}

/// Damage ///

static int block_used(const uint8_t *img, uint32_t bs, uint32_t b)
{
    uint32_t i;
    for (i = 0; i < bs; i++) {
        if (img[b * bs + i] != 0xFF) {
            return 1;
        }
    }
    return 0;
}

/* A random block holding something, or any block if none. */
static uint32_t used_block(uint32_t *x, const struct geom *g)
{
    uint32_t tries;
    for (tries = 0; tries < 64; tries++) {
        uint32_t b = below(x, g->block_count);
        if (block_used(image, g->block_size, b)) {
            return b;
        }
    }
    return below(x, g->block_count);
}

static void damage(int kind, uint32_t *x, const struct geom *g)
{
    uint8_t *mem = nor.mem;
    uint32_t bs = g->block_size, size = nor.size;
    uint32_t n, i, b, off;

    switch (kind) {
    case D_BITS:
        n = 1 + below(x, 50);
        for (i = 0; i < n; i++) {
            off = below(x, size);
            mem[off] ^= (uint8_t)(1u << below(x, 8));
        }
        break;
    case D_USED_BITS:
        n = 1 + below(x, 50);
        for (i = 0; i < n; i++) {
            b = used_block(x, g);
            off = b * bs + below(x, bs);
            mem[off] ^= (uint8_t)(1u << below(x, 8));
        }
        break;
    case D_HALF:
        b = used_block(x, g);
        switch (below(x, 3)) {
        case 0:
            memset(mem + b * bs, 0xFF, bs / 2);
            break;
        case 1:
            memset(mem + b * bs + bs / 2, 0xFF, bs / 2);
            break;
        default:
            off = below(x, bs);
            memset(mem + b * bs + off, 0xFF, bs - off);
            break;
        }
        break;
    case D_GARBAGE:
        b = used_block(x, g);
        for (i = 0; i < bs; i++) {
            mem[b * bs + i] = (uint8_t)rnd(x);
        }
        break;
    case D_HEADER:
        n = 1 + below(x, 3);
        while (n-- > 0) {
            uint32_t len = 1 + below(x, 96);
            b = used_block(x, g);
            for (i = 0; i < len; i++) {
                if (below(x, 3) == 0) {
                    mem[b * bs + i] = (uint8_t)rnd(x);
                }
            }
        }
        break;
    case D_ZERO:
        off = below(x, size);
        n = 1 + below(x, bs);
        if (n > size - off) {
            n = size - off;
        }
        memset(mem + off, 0x00, n);
        break;
    case D_TRUNCATE:
        off = below(x, size);
        memset(mem + off, 0xFF, size - off);
        break;
    case D_STALE:
        memcpy(mem, old_image, size);
        n = 1 + below(x, g->block_count / 2);
        for (i = 0; i < n; i++) {
            b = below(x, g->block_count);
            memcpy(mem + b * bs, image + b * bs, bs);
        }
        break;
    case D_EVIL_META:
        n = 1 + below(x, 3);
        for (i = 0; i < n; i++) {
            f_evil_meta(x, mem);
        }
        break;
    case D_EVIL_DATA:
        n = 1 + below(x, 3);
        for (i = 0; i < n; i++) {
            f_evil_data(x, mem);
        }
        break;
    default:
        break;
    }
}

static void mark_touched(const struct geom *g)
{
    uint32_t b;
    for (b = 0; b < g->block_count && b < LWM_STORE_MAX_BLOCKS; b++) {
        touched[b] = memcmp(nor.mem + b * g->block_size,
                            image + b * g->block_size, g->block_size) != 0;
    }
}

/* "3 META, 7 DATA": which kinds of block the damage hit. */
static const char *touched_str(const struct geom *g)
{
    static char out[200];
    static const char *const names[4] = { "dirty", "free", "META", "DATA" };
    uint32_t b, n[4] = { 0, 0, 0, 0 };
    for (b = 0; b < g->block_count && b < LWM_STORE_MAX_BLOCKS; b++) {
        if (touched[b]) {
            n[blk_state[b] & 3u]++;
        }
    }
    (void)snprintf(out, sizeof(out), "damage in %lu %s, %lu %s, %lu %s, "
                   "%lu %s blocks", (unsigned long)n[2], names[2],
                   (unsigned long)n[3], names[3], (unsigned long)n[1],
                   names[1], (unsigned long)n[0], names[0]);
    return out;
}

static const struct geom *cur_geom;
static int cur_gi;

/// Probing a mounted store ///

/* Read everything reachable; errors are fine, crashes and nonsense
 * (a read longer than asked, a message bigger than the flash) are not. */
static void read_all(void)
{
    uint32_t flash_bytes = nor.size;
    int u;

    for (u = 0; u < MODEL_USERS; u++) {
        int id = lwm_user_find(&store, model_user_names[u]);
        int prev = -1, iter;
        if (id <= 0) {
            continue;
        }
        for (iter = 0; iter <= LWM_STORE_MAX_MBOXES; iter++) {
            struct lwm_mbox_info info;
            uint32_t n, k;
            int slot = lwm_mbox_next(&store, id, prev);
            if (slot < 0) {
                break;
            }
            if (!CHECK(slot > prev)) {
                break;
            }
            prev = slot;
            if (lwm_mbox_info(&store, slot, &info) != 0) {
                continue;
            }
            CHECK(info.name != NULL);
            n = lwm_msg_count(&store, slot);
            CHECK(n <= LWM_STORE_MAX_MSGS);
            for (k = 0; k < n && k < LWM_STORE_MAX_MSGS; k++) {
                struct lwm_msg msg;
                uint32_t off = 0, steps = 0;
                if (lwm_msg_get(&store, slot, k, &msg) != 0) {
                    continue;
                }
                while (steps++ < 1 + flash_bytes / 61) {
                    int r = lwm_msg_read(&store, &msg, off, rbuf,
                                         (uint32_t)sizeof(rbuf) - 61u);
                    if (r <= 0) {
                        break;
                    }
                    if (!CHECK((uint32_t)r <= sizeof(rbuf) - 61u)) {
                        break;
                    }
                    off += (uint32_t)r;
                }
                /* A few odd reads, including past the end. */
                (void)lwm_msg_read(&store, &msg, msg.size / 2, rbuf, 7);
                (void)lwm_msg_read(&store, &msg, msg.size, rbuf, 1);
                (void)lwm_msg_read(&store, &msg, msg.size + 13, rbuf, 5);
                if (nor.flash.mapped != NULL) {
                    const uint8_t *p = NULL;
                    int r = lwm_msg_ptr(&store, &msg, 0, &p);
                    if (r > 0) {
                        /* The view must lie inside the flash. */
                        CHECK(p >= nor.flash.mapped &&
                              p + r <= nor.flash.mapped + nor.size);
                    }
                }
                (void)lwm_msg_find(&store, slot, msg.uid, 0);
            }
            (void)lwm_keyword_name(&store, slot, 0);
            (void)lwm_keyword_name(&store, slot, LWM_KEYWORDS_MAX - 1);
        }
    }
}

/* -v: why might lwm_store_check fail? Messages whose body can't be read,
 * counters that disagree with the messages, and (from the store's internal
 * block table, for diagnostics only) blocks with live bytes that are not
 * DATA blocks. */
static void explain(void)
{
    uint32_t b;
    int u;
    for (b = 0; b < nor.flash.block_count && b < LWM_STORE_MAX_BLOCKS; b++) {
        const struct lwm_blk_ent *e = &store.blks[b];
        if (e->live != 0 && e->state != 3u) {
            printf("      block %lu: state %u but %lu live bytes\n",
                   (unsigned long)b, e->state, (unsigned long)e->live);
        }
    }
    for (u = 0; u < MODEL_USERS; u++) {
        int id = lwm_user_find(&store, model_user_names[u]), prev = -1;
        int iter;
        if (id <= 0) {
            continue;
        }
        for (iter = 0; iter <= LWM_STORE_MAX_MBOXES; iter++) {
            struct lwm_mbox_info info;
            uint32_t n, k, bad = 0;
            int slot = lwm_mbox_next(&store, id, prev), first_err = 0;
            if (slot < 0 || slot <= prev) {
                break;
            }
            prev = slot;
            if (lwm_mbox_info(&store, slot, &info) != 0) {
                continue;
            }
            uint32_t unseen = 0, deleted = 0, prevuid = 0, order = 0;
            uint64_t size = 0;
            n = lwm_msg_count(&store, slot);
            for (k = 0; k < n && k < LWM_STORE_MAX_MSGS; k++) {
                struct lwm_msg msg;
                int err = lwm_msg_get(&store, slot, k, &msg);
                if (err != 0) {
                    bad++;
                    first_err = first_err ? first_err : err;
                    continue;
                }
                unseen += !(msg.flags & LWM_FLAG_SEEN);
                deleted += !!(msg.flags & LWM_FLAG_DELETED);
                size += msg.size;
                order += msg.uid <= prevuid || msg.uid >= info.uidnext;
                prevuid = msg.uid;
            }
            if (bad) {
                printf("      %s '%s': %lu of %lu messages unreadable "
                       "(msg_get: %d)\n", model_user_names[u], info.name,
                       (unsigned long)bad, (unsigned long)n, first_err);
            } else if (unseen != info.unseen || deleted != info.deleted ||
                       size != info.size || order) {
                printf("      %s '%s': counters %lu/%lu/%llu, messages say "
                       "%lu/%lu/%llu; %lu UIDs out of order\n",
                       model_user_names[u], info.name,
                       (unsigned long)info.unseen,
                       (unsigned long)info.deleted,
                       (unsigned long long)info.size, (unsigned long)unseen,
                       (unsigned long)deleted, (unsigned long long)size,
                       (unsigned long)order);
            }
        }
    }
}

/* Writes on a store mounted from a damaged image: any result but a crash. */
static void try_writes(uint32_t *x)
{
    int id = lwm_user_find(&store, model_user_names[0]), slot, h, i;
    if (id <= 0) {
        (void)lwm_user_create(&store, model_user_names[0]);
        id = lwm_user_find(&store, model_user_names[0]);
    }
    slot = id > 0 ? lwm_mbox_find(&store, id, "INBOX", 5) : -1;
    if (slot >= 0) {
        uint32_t len = 100 + below(x, 3000), off = 0, uid;
        h = lwm_append_begin(&store, slot, 1600000000u, LWM_FLAG_SEEN);
        if (h >= 0) {
            while (off < len) {
                uint32_t c = len - off < 700 ? len - off : 700;
                model_body_fill(0xBAD00000u + off, off, rbuf, c);
                if (lwm_append_write(&store, h, rbuf, c) < 0) {
                    break;
                }
                off += c;
            }
            if (off < len || lwm_append_commit(&store, h) <= 0) {
                lwm_append_abort(&store, h);
            }
        }
        uid = 1;
        (void)lwm_store_flags(&store, slot, &uid, 1, LWM_FLAGS_ADD,
                              LWM_FLAG_FLAGGED);
        (void)lwm_expunge(&store, slot, &uid, 1);
    }
    (void)lwm_mbox_create(&store, id, "after/damage", 12, 0);
    (void)lwm_store_gc_force(&store);
    for (i = 0; i < 64; i++) {
        if (lwm_store_gc_step(&store) != 1) {
            break;
        }
    }
}

static int is_error(int err)
{
    switch (err) {
    case LWM_ERR_CORRUPT:
    case LWM_ERR_IO:
    case LWM_ERR_NOMEM:
    case LWM_ERR_NOSPC:
    case LWM_ERR_INVAL:
    case LWM_ERR_RANGE:
    case LWM_ERR_NAMETOOLONG:
    case LWM_ERR_FBIG:
    case LWM_ERR_EXIST:
    case LWM_ERR_NOENT:
        return 1;
    default:
        return 0;
    }
}

/* Mount the damaged image in nor.mem and probe it. Returns 1 if it
 * mounted. */
static int probe(uint32_t *x, int writes)
{
    int err, mounted;

    lwm_nor_power_on(&nor);
    memset(&store, 0, sizeof(store));
    err = lwm_store_mount(&store, &nor.flash);
    if (err != 0) {
        if (!CHECK(err < 0 && is_error(err))) {
            printf("    mount returned %d\n", err);
        }
        return 0;
    }
    mounted = 1;
    err = lwm_store_check(&store, 0);
    if (err != 0 && opt.verbose) {
        explain();
    }
    if (!CHECK(err == 0)) {
        printf("    geom %d iteration %ld (%s): mounted, but "
               "lwm_store_check(s, 0) = %d\n", cur_gi, (long)cur_iter,
               touched_str(cur_geom), err);
    }
    read_all();
    err = lwm_store_check(&store, 1);
    if (!CHECK(err == 0 || err == LWM_ERR_CORRUPT)) {
        printf("    geom %d iteration %ld: lwm_store_check(s, 1) = %d\n",
               cur_gi, (long)cur_iter, err);
    }
    if (writes) {
        try_writes(x);
        (void)lwm_store_unmount(&store);
        memset(&store, 0, sizeof(store));
        err = lwm_store_mount(&store, &nor.flash);
        if (err == 0) {
            err = lwm_store_check(&store, 0);
            if (!CHECK(err == 0)) {
                printf("    geom %d iteration %ld (%s): after writes and "
                       "a remount, lwm_store_check(s, 0) = %d\n", cur_gi,
                       (long)cur_iter, touched_str(cur_geom), err);
            }
            read_all();
        } else {
            CHECK(is_error(err));
        }
    }
    (void)lwm_store_unmount(&store);
    return mounted;
}

/// Main ///

static void run_geometry(int gi, long iters)
{
    const struct geom *g = &geoms[gi];
    uint32_t x = opt.seed * 2654435761u + (uint32_t)gi * 97u + 1u;
    long it;
    int err, k;

    err = lwm_nor_open(&nor, NULL, g->block_size, g->block_count,
                       g->prog_size, g->read_size, g->mapped);
    REQUIRE(err == 0);
    image = malloc(nor.size);
    old_image = malloc(nor.size);
    REQUIRE(image != NULL && old_image != NULL);

    /* The same store at two points of its life: 150 and 400 operations. */
    if (build_image(g, opt.seed + (uint32_t)gi, 150, old_image) < 0 ||
        build_image(g, opt.seed + (uint32_t)gi, 400, image) < 0) {
        goto out;
    }
    /* Sanity: the good image mounts and matches. */
    memcpy(nor.mem, image, nor.size);
    memset(&store, 0, sizeof(store));
    CHECK(lwm_store_mount(&store, &nor.flash) == 0);
    CHECK(lwm_store_check(&store, 1) == 0);
    if (!CHECK(model_compare(&model, &store, &nor.flash) == 0)) {
        printf("  %s: the clean image: %s\n", g->name, model.err);
    }
    for (k = 0; k < (int)g->block_count && k < LWM_STORE_MAX_BLOCKS; k++) {
        blk_state[k] = store.blks[k].state;   /* diagnostics only */
    }
    cur_geom = g;
    cur_gi = gi;
    /* The reader must understand the clean image, or evil damage would
     * test nothing. */
    f_decode(g, image);
    if (!CHECK(fmt.nmeta > 0 && fmt.nrecs > 10 && fmt.nbodies > 0 &&
               fmt.ndata > 0) || opt.verbose) {
        printf("  %s: the FORMAT.md reader found %lu META blocks, %lu "
               "records, %lu bodies, %lu DATA blocks\n", g->name,
               (unsigned long)fmt.nmeta, (unsigned long)fmt.nrecs,
               (unsigned long)fmt.nbodies, (unsigned long)fmt.ndata);
    }
    (void)lwm_store_unmount(&store);

    for (it = 0; it < iters; it++) {
        int kind = (int)(it % D_KINDS);
        if (opt.only >= 0 && it != opt.only) {
            continue;
        }
        /* Each iteration has its own random stream: --only reproduces it. */
        x = (opt.seed * 2654435761u) ^ ((uint32_t)gi * 0x9E3779B9u) ^
            ((uint32_t)it * 0x85EBCA6Bu);
        x = x != 0 ? x : 1;
        (void)rnd(&x);
        cur_iter = it;
        alarm(120);
        memcpy(nor.mem, image, nor.size);
        damage(kind, &x, g);
        mark_touched(g);
        d_runs[kind]++;
        if (opt.verbose) {
            printf("    geom %d iteration %ld: %s\n", gi, it, dnames[kind]);
            fflush(stdout);
        }
        d_mounted[kind] += (unsigned long)probe(&x, it % 2 == 0);
    }

    /* Not a store at all. */
    for (k = 0; k < 12; k++) {
        uint32_t i;
        alarm(120);
        for (i = 0; i < nor.size; i++) {
            nor.mem[i] = (uint8_t)rnd(&x);
        }
        if (k >= 6) {
            /* garbage, but keep the good image's first bytes of each
             * block: the headers look right, what follows does not */
            uint32_t b, keep = 1 + below(&x, 64);
            for (b = 0; b < g->block_count; b++) {
                memcpy(nor.mem + b * g->block_size,
                       image + b * g->block_size, keep);
            }
        }
        (void)probe(&x, 1);
    }
    alarm(120);
    memset(nor.mem, 0x00, nor.size);
    lwm_nor_power_on(&nor);
    memset(&store, 0, sizeof(store));
    err = lwm_store_mount(&store, &nor.flash);
    CHECK(err < 0 && is_error(err));
    memset(nor.mem, 0xFF, nor.size);
    memset(&store, 0, sizeof(store));
    err = lwm_store_mount(&store, &nor.flash);
    if (!CHECK(err == LWM_ERR_CORRUPT)) {
        printf("  %s: mount of an erased flash gave %d\n", g->name, err);
    }
    alarm(0);
    CHECK(lwm_store_check(&store, 0) < 0);   /* not mounted */

    printf("  %s: %ld damaged images:", g->name, iters);
    for (k = 0; k < D_KINDS; k++) {
        printf(" %s %lu/%lu", dnames[k], d_mounted[k], d_runs[k]);
        d_mounted[k] = d_runs[k] = 0;
    }
    printf(" (mounted/tried)\n");
out:
    free(image);
    free(old_image);
    image = old_image = NULL;
    lwm_nor_close(&nor);
}

int main(int argc, char **argv)
{
    const char *env;
    long iters;
    int i;

    env = getenv("LWM_CORRUPT_ITERS");
    iters = env != NULL ? atol(env) : 1000;
    env = getenv("LWM_SLOW_HOST");
    if (getenv("LWM_CORRUPT_ITERS") == NULL && env != NULL &&
        strcmp(env, "1") == 0) {
        iters = 300;
    }
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            opt.verbose = 1;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            opt.seed = (uint32_t)strtoul(argv[++i], NULL, 0);
        } else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
            iters = atol(argv[++i]);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            opt.only = atol(argv[++i]);
        } else if (strcmp(argv[i], "--geom") == 0 && i + 1 < argc) {
            opt.geom = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: test_corrupt [--seed s] [--iters n] "
                            "[--geom g [--only i]] [-v]\n");
            return 2;
        }
    }
    signal(SIGALRM, on_alarm);
    printf("test_corrupt: seed %lu, %ld damaged images in all\n",
           (unsigned long)opt.seed, iters);
    for (i = 0; i < NGEOMS; i++) {
        if (opt.geom < 0 || opt.geom == i) {
            run_geometry(i, (iters + NGEOMS - 1 - i) / NGEOMS);
        }
    }
    return check_summary("test_corrupt");
}
