/*
 * lwmail tests - the emulated NOR flash of the POSIX port (lwm_nor.c).
 *
 * The power-loss and corruption tests trust this emulator to enforce the
 * NOR contract and to tear writes the way it claims, so it is tested on its
 * own first: round trips, the "program only erased bytes" rule, alignment
 * for several program sizes, wear counting, power cuts in each tear mode,
 * and file backing.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "lwm_nor.h"
#include "lwmail/lwm_err.h"

#define BS 256u        /* block size used by most cases */
#define BC 8u          /* block count */

/// Helpers ///

static int all_bytes(const uint8_t *p, uint32_t n, uint8_t v)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != v) {
            return 0;
        }
    }
    return 1;
}

static void fill_pattern(uint8_t *p, uint32_t n, uint32_t seed)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        /* never 0xFF, so a programmed byte is always distinguishable */
        p[i] = (uint8_t)((i * 37u + seed * 11u) % 255u);
    }
}

static int nor_rd(struct lwm_nor *nor, uint32_t addr, void *buf, uint32_t n)
{
    return nor->flash.read(&nor->flash, addr, buf, n);
}

static int nor_pg(struct lwm_nor *nor, uint32_t addr, const void *buf,
                  uint32_t n)
{
    return nor->flash.prog(&nor->flash, addr, buf, n);
}

static int nor_er(struct lwm_nor *nor, uint32_t blk)
{
    return nor->flash.erase(&nor->flash, blk);
}

static int nor_sy(struct lwm_nor *nor)
{
    return nor->flash.sync(&nor->flash);
}

/// Cases ///

static void test_open_args(void)
{
    struct lwm_nor nor;
    static const uint32_t bad_sizes[] = { 0, 3, 6, 64 };
    size_t i;

    for (i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
        CHECK(lwm_nor_open(&nor, NULL, BS, BC, bad_sizes[i], 1, 0) ==
              LWM_ERR_INVAL);
        CHECK(lwm_nor_open(&nor, NULL, BS, BC, 1, bad_sizes[i], 0) ==
              LWM_ERR_INVAL);
    }
    CHECK(lwm_nor_open(&nor, NULL, 100, BC, 8, 1, 0) == LWM_ERR_INVAL);
    CHECK(lwm_nor_open(&nor, NULL, 0, BC, 1, 1, 0) == LWM_ERR_INVAL);
    CHECK(lwm_nor_open(&nor, NULL, BS, 0, 1, 1, 0) == LWM_ERR_INVAL);
    CHECK(lwm_nor_open(&nor, NULL, 0x10000u, 0x10000u, 1, 1, 0) ==
          LWM_ERR_INVAL);   /* 4 GiB does not fit a 32-bit address */

    REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, 4, 2, 0) == LWM_OK);
    CHECK(nor.flash.ctx == &nor);
    CHECK(nor.flash.block_size == BS && nor.flash.block_count == BC);
    CHECK(nor.flash.prog_size == 4 && nor.flash.read_size == 2);
    CHECK(nor.flash.mapped == NULL);
    CHECK(nor.size == BS * BC && nor.fd == -1);
    CHECK(all_bytes(nor.mem, nor.size, 0xFF));
    lwm_nor_close(&nor);

    REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, 1, 1, 1) == LWM_OK);
    CHECK(nor.flash.mapped == nor.mem);
    lwm_nor_close(&nor);
}

static void test_round_trip(void)
{
    struct lwm_nor nor;
    uint8_t data[BS], back[BS];
    uint32_t b;

    REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, 4, 4, 0) == LWM_OK);
    for (b = 0; b < BC; b++) {
        CHECK(nor_er(&nor, b) == LWM_OK);
        fill_pattern(data, BS, b);
        CHECK(nor_pg(&nor, b * BS, data, BS) == LWM_OK);
    }
    for (b = 0; b < BC; b++) {
        fill_pattern(data, BS, b);
        memset(back, 0, sizeof(back));
        CHECK(nor_rd(&nor, b * BS, back, BS) == LWM_OK);
        CHECK(memcmp(back, data, BS) == 0);
    }
    CHECK(nor.progs == BC && nor.erases == BC && nor.ops == 2 * BC);
    CHECK(nor.prog_bytes == (uint64_t)BS * BC);
    CHECK(nor.reads == BC && nor.read_bytes == (uint64_t)BS * BC);
    CHECK(nor.violations == 0);

    /* Piecewise programming of one block, then an erase brings 0xFF back. */
    CHECK(nor_er(&nor, 1) == LWM_OK);
    fill_pattern(data, BS, 99);
    CHECK(nor_pg(&nor, BS, data, 16) == LWM_OK);
    CHECK(nor_pg(&nor, BS + 16, data + 16, BS - 16) == LWM_OK);
    CHECK(nor_rd(&nor, BS, back, BS) == LWM_OK);
    CHECK(memcmp(back, data, BS) == 0);
    CHECK(nor_er(&nor, 1) == LWM_OK);
    CHECK(nor_rd(&nor, BS, back, BS) == LWM_OK);
    CHECK(all_bytes(back, BS, 0xFF));
    /* ...and leaves its neighbours alone. */
    fill_pattern(data, BS, 0);
    CHECK(nor_rd(&nor, 0, back, BS) == LWM_OK);
    CHECK(memcmp(back, data, BS) == 0);
    fill_pattern(data, BS, 2);
    CHECK(nor_rd(&nor, 2 * BS, back, BS) == LWM_OK);
    CHECK(memcmp(back, data, BS) == 0);

    CHECK(nor_sy(&nor) == LWM_OK && nor.syncs == 1);
    lwm_nor_reset_counters(&nor);
    CHECK(nor.progs == 0 && nor.erases == 0 && nor.ops == 0 &&
          nor.prog_bytes == 0 && nor.read_bytes == 0 && nor.reads == 0 &&
          nor.syncs == 0 && nor.violations == 0);
    lwm_nor_close(&nor);
}

static void test_prog_erased_only(void)
{
    struct lwm_nor nor;
    uint8_t data[32], back[32];
    uint8_t ff = 0xFF, zero = 0x00;

    REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, 1, 1, 0) == LWM_OK);
    fill_pattern(data, sizeof(data), 5);
    CHECK(nor_pg(&nor, 64, data, 16) == LWM_OK);

    /* Same bytes again, 0xFF over a programmed byte, 0x00 over one: all
     * violations, nothing written. */
    CHECK(nor_pg(&nor, 64, data, 16) == LWM_ERR_IO);
    CHECK(nor.violations == 1);
    CHECK(nor_pg(&nor, 70, &ff, 1) == LWM_ERR_IO);
    CHECK(nor_pg(&nor, 79, &zero, 1) == LWM_ERR_IO);
    CHECK(nor.violations == 3);

    /* A range that starts erased and ends on programmed bytes is rejected
     * as a whole: its erased prefix stays erased. */
    CHECK(nor_pg(&nor, 48, data, 32) == LWM_ERR_IO);
    CHECK(nor.violations == 4);
    CHECK(nor_rd(&nor, 48, back, 16) == LWM_OK);
    CHECK(all_bytes(back, 16, 0xFF));
    CHECK(nor_rd(&nor, 64, back, 16) == LWM_OK);
    CHECK(memcmp(back, data, 16) == 0);

    /* Rejected calls are not operations. */
    CHECK(nor.progs == 1 && nor.ops == 1 && nor.prog_bytes == 16);

    /* After an erase the same program is fine again. */
    CHECK(nor_er(&nor, 0) == LWM_OK);
    CHECK(nor_pg(&nor, 64, data, 16) == LWM_OK);
    CHECK(nor.violations == 4);
    lwm_nor_close(&nor);
}

static void test_alignment_one(uint32_t ps)
{
    struct lwm_nor nor;
    uint8_t data[64], back[64];
    uint32_t size = BS * BC;
    uint64_t v;

    REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, ps, ps, 0) == LWM_OK);
    fill_pattern(data, sizeof(data), ps);

    /* Aligned: fine. */
    CHECK(nor_pg(&nor, ps * 3, data, ps) == LWM_OK);
    CHECK(nor_rd(&nor, ps * 3, back, ps) == LWM_OK);
    CHECK(memcmp(back, data, ps) == 0);
    CHECK(nor_pg(&nor, size - 2 * ps, data, 2 * ps) == LWM_OK);
    CHECK(nor_rd(&nor, size - 2 * ps, back, 2 * ps) == LWM_OK);
    CHECK(memcmp(back, data, 2 * ps) == 0);
    CHECK(nor.violations == 0);

    v = nor.violations;
    if (ps > 1) {
        /* misaligned address, misaligned length: prog and read */
        CHECK(nor_pg(&nor, BS + ps / 2, data, ps) == LWM_ERR_INVAL);
        CHECK(nor_pg(&nor, BS + 1, data, ps) == LWM_ERR_INVAL);
        CHECK(nor_pg(&nor, BS, data, ps + 1) == LWM_ERR_INVAL);
        CHECK(nor_pg(&nor, BS, data, ps - 1) == LWM_ERR_INVAL);
        CHECK(nor_rd(&nor, BS + 1, back, ps) == LWM_ERR_INVAL);
        CHECK(nor_rd(&nor, BS, back, ps / 2) == LWM_ERR_INVAL);
        CHECK(nor.violations == v + 6);
        v = nor.violations;
        /* nothing was written by the rejected calls */
        CHECK(nor_rd(&nor, BS, back, 2 * ps) == LWM_OK);
        CHECK(all_bytes(back, 2 * ps, 0xFF));
    }

    /* Out of range, including address wrap-around. */
    CHECK(nor_pg(&nor, size, data, ps) == LWM_ERR_INVAL);
    CHECK(nor_pg(&nor, size - ps, data, 2 * ps) == LWM_ERR_INVAL);
    CHECK(nor_pg(&nor, UINT32_MAX - ps + 1, data, ps) == LWM_ERR_INVAL);
    CHECK(nor_rd(&nor, size, back, ps) == LWM_ERR_INVAL);
    CHECK(nor_rd(&nor, size - ps, back, 2 * ps) == LWM_ERR_INVAL);
    CHECK(nor_rd(&nor, ps, back, UINT32_MAX - ps + 1) == LWM_ERR_INVAL);
    CHECK(nor_er(&nor, BC) == LWM_ERR_INVAL);
    CHECK(nor_er(&nor, UINT32_MAX) == LWM_ERR_INVAL);
    CHECK(nor.violations == v + 8);
    CHECK(nor.progs == 2 && nor.erases == 0 && nor.ops == 2);
    lwm_nor_close(&nor);

    /* read_size and prog_size are checked independently. */
    if (ps > 1) {
        REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, ps, 1, 0) == LWM_OK);
        CHECK(nor_rd(&nor, 1, back, 3) == LWM_OK);
        CHECK(nor_pg(&nor, 1, data, ps) == LWM_ERR_INVAL);
        lwm_nor_close(&nor);
        REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, 1, ps, 0) == LWM_OK);
        CHECK(nor_pg(&nor, 1, data, 3) == LWM_OK);
        CHECK(nor_rd(&nor, 1, back, ps) == LWM_ERR_INVAL);
        lwm_nor_close(&nor);
    }
}

static void test_alignment(void)
{
    test_alignment_one(1);
    test_alignment_one(4);
    test_alignment_one(16);
    test_alignment_one(32);
}

static void test_wear(void)
{
    struct lwm_nor nor;
    uint32_t i;

    REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, 1, 1, 0) == LWM_OK);
    for (i = 0; i < 3; i++) {
        CHECK(nor_er(&nor, 2) == LWM_OK);
    }
    CHECK(nor_er(&nor, BC - 1) == LWM_OK);
    CHECK(nor.wear[2] == 3 && nor.wear[BC - 1] == 1);
    CHECK(nor.wear[0] == 0 && nor.wear[1] == 0 && nor.wear[3] == 0);
    CHECK(nor.erases == 4);
    lwm_nor_reset_counters(&nor);
    CHECK(nor.erases == 0 && nor.wear[2] == 3);   /* wear is history */
    lwm_nor_close(&nor);
}

/* ---- power cuts ---- */

static int cut_calls;
static jmp_buf cut_jmp;
static int cut_jump;

static void on_cut(struct lwm_nor *nor)
{
    cut_calls++;
    CHECK(nor->dead == 1);
    if (cut_jump) {
        longjmp(cut_jmp, 1);
    }
}

/* After a cut: everything fails, nothing changes, until power_on. */
static void check_dead(struct lwm_nor *nor)
{
    uint8_t unit[32], snap[BS];
    uint32_t ps = nor->flash.prog_size, rs = nor->flash.read_size;
    uint64_t ops = nor->ops;

    memcpy(snap, nor->mem, BS);
    memset(unit, 0, sizeof(unit));
    CHECK(nor->dead == 1);
    CHECK(nor_rd(nor, 0, unit, rs) == LWM_ERR_IO);
    CHECK(nor_pg(nor, 4 * BS, unit, ps) == LWM_ERR_IO);
    CHECK(nor_er(nor, 0) == LWM_ERR_IO);
    CHECK(nor_sy(nor) == LWM_ERR_IO);
    CHECK(memcmp(snap, nor->mem, BS) == 0);
    CHECK(all_bytes(nor->mem + 4 * BS, BS, 0xFF));
    CHECK(nor->ops == ops);

    lwm_nor_power_on(nor);
    CHECK(nor->dead == 0 && nor->cut_after == 0);
    CHECK(nor_rd(nor, 0, unit, rs) == LWM_OK);
    CHECK(memcmp(unit, snap, rs) == 0);
    CHECK(nor_sy(nor) == LWM_OK);
}

/* The n-th operation is the cut one: earlier ones succeed, reads and
 * rejected calls do not count. */
static void test_cut_counting(void)
{
    struct lwm_nor nor;
    uint8_t data[4] = { 1, 2, 3, 4 }, back[4];
    int i;

    REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, 1, 1, 0) == LWM_OK);
    nor.on_cut = on_cut;
    cut_calls = 0;
    lwm_nor_cut_after(&nor, 3, LWM_NOR_TEAR_NONE, 1);
    CHECK(nor_pg(&nor, 0, data, 4) == LWM_OK);          /* op 1 */
    CHECK(nor_rd(&nor, 0, back, 4) == LWM_OK);          /* not an op */
    CHECK(nor_pg(&nor, 0, data, 4) == LWM_ERR_IO);      /* violation */
    CHECK(nor_er(&nor, BC) == LWM_ERR_INVAL);           /* violation */
    CHECK(nor_sy(&nor) == LWM_OK);                      /* not an op */
    CHECK(nor_er(&nor, 1) == LWM_OK);                   /* op 2 */
    CHECK(cut_calls == 0 && nor.dead == 0);
    CHECK(nor_pg(&nor, 8, data, 4) == LWM_ERR_IO);      /* op 3: cut */
    CHECK(cut_calls == 1 && nor.dead == 1);
    CHECK(all_bytes(nor.mem + 8, 4, 0xFF));
    check_dead(&nor);
    CHECK(cut_calls == 1);

    /* Disarmed after power_on: many operations, no cut. */
    for (i = 0; i < 20; i++) {
        CHECK(nor_er(&nor, 3) == LWM_OK);
    }
    CHECK(cut_calls == 1 && nor.dead == 0);

    /* n = 1: the very next operation, here an erase. */
    lwm_nor_cut_after(&nor, 1, LWM_NOR_TEAR_NONE, 7);
    CHECK(nor_er(&nor, 0) == LWM_ERR_IO);
    CHECK(cut_calls == 2);
    CHECK(nor.mem[0] == 1 && nor.mem[3] == 4);    /* not erased */
    check_dead(&nor);
    lwm_nor_close(&nor);
}

/* A prog cut in each tear mode, over many seeds. */
static void test_cut_prog(enum lwm_nor_tear tear)
{
    struct lwm_nor nor;
    uint8_t data[64];
    uint32_t seed;
    int partial_prefix = 0, partial_bits = 0;

    for (seed = 1; seed <= 64; seed++) {
        const uint8_t *dst;
        uint32_t i, k;
        int ok = 1;

        REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, 4, 4, 0) == LWM_OK);
        nor.on_cut = on_cut;
        cut_calls = 0;
        fill_pattern(data, sizeof(data), seed);
        data[5] = 0x00;   /* a byte where every bit must clear */

        lwm_nor_cut_after(&nor, 2, tear, seed);
        CHECK(nor_pg(&nor, 0, data, 64) == LWM_OK);
        CHECK(nor_pg(&nor, 2 * BS + 64, data, 64) == LWM_ERR_IO);
        CHECK(cut_calls == 1);
        dst = nor.mem + 2 * BS + 64;

        switch (tear) {
        case LWM_NOR_TEAR_NONE:
            ok = all_bytes(dst, 64, 0xFF);
            break;
        case LWM_NOR_TEAR_PREFIX:
            for (k = 0; k < 64 && dst[k] == data[k]; k++) {
            }
            ok = k < 64 && all_bytes(dst + k, 64 - k, 0xFF);
            partial_prefix += k > 0;
            break;
        case LWM_NOR_TEAR_BITS:
            for (i = 0; i < 64; i++) {
                /* only bits the program clears may be clear */
                ok &= (dst[i] & data[i]) == data[i];
                partial_bits += dst[i] != 0xFF && dst[i] != data[i];
            }
            break;
        }
        CHECK(ok);
        /* nothing outside the target range moved */
        CHECK(all_bytes(nor.mem + 2 * BS, 64, 0xFF));
        CHECK(all_bytes(nor.mem + 2 * BS + 128, BS - 128, 0xFF));
        CHECK(memcmp(nor.mem, data, 64) == 0);
        check_dead(&nor);
        lwm_nor_close(&nor);
    }
    if (tear == LWM_NOR_TEAR_PREFIX) {
        CHECK(partial_prefix > 0);   /* the tear does something */
    }
    if (tear == LWM_NOR_TEAR_BITS) {
        CHECK(partial_bits > 0);
    }
}

/* An erase cut in each tear mode, over many seeds. */
static void test_cut_erase(enum lwm_nor_tear tear)
{
    struct lwm_nor nor;
    uint8_t data[BS];
    uint32_t seed;
    int partial = 0, kept = 0;

    for (seed = 1; seed <= 64; seed++) {
        const uint8_t *dst;
        uint32_t i, k;
        int ok = 1;

        REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, 1, 1, 0) == LWM_OK);
        fill_pattern(data, BS, seed);
        CHECK(nor_pg(&nor, BS, data, BS) == LWM_OK);
        CHECK(nor_pg(&nor, 2 * BS, data, BS) == LWM_OK);
        cut_calls = 0;
        nor.on_cut = on_cut;
        lwm_nor_cut_after(&nor, 1, tear, seed);
        CHECK(nor_er(&nor, 1) == LWM_ERR_IO);
        CHECK(cut_calls == 1);
        dst = nor.mem + BS;

        switch (tear) {
        case LWM_NOR_TEAR_NONE:
            ok = memcmp(dst, data, BS) == 0;
            CHECK(nor.wear[1] == 0);
            break;
        case LWM_NOR_TEAR_PREFIX:
            for (k = 0; k < BS && dst[k] == 0xFF; k++) {
            }
            ok = k < BS && memcmp(dst + k, data + k, BS - k) == 0;
            partial += k > 0;
            break;
        case LWM_NOR_TEAR_BITS:
            for (i = 0; i < BS; i++) {
                ok &= dst[i] == 0xFF || dst[i] == data[i];
                partial += dst[i] == 0xFF;
                kept += dst[i] != 0xFF;
            }
            break;
        }
        CHECK(ok);
        CHECK(memcmp(nor.mem + 2 * BS, data, BS) == 0);   /* neighbour */
        check_dead(&nor);
        lwm_nor_close(&nor);
    }
    if (tear != LWM_NOR_TEAR_NONE) {
        CHECK(partial > 0);   /* the tear erases something... */
    }
    if (tear == LWM_NOR_TEAR_BITS) {
        CHECK(kept > 0);      /* ...but not everything */
    }
}

/* The same seed tears the same way (runs can be replayed). */
static void test_cut_repeatable(void)
{
    struct lwm_nor a, b;
    uint8_t data[BS];

    fill_pattern(data, BS, 3);
    REQUIRE(lwm_nor_open(&a, NULL, BS, BC, 1, 1, 0) == LWM_OK);
    REQUIRE(lwm_nor_open(&b, NULL, BS, BC, 1, 1, 0) == LWM_OK);
    lwm_nor_cut_after(&a, 1, LWM_NOR_TEAR_BITS, 42);
    lwm_nor_cut_after(&b, 1, LWM_NOR_TEAR_BITS, 42);
    CHECK(nor_pg(&a, 0, data, BS) == LWM_ERR_IO);
    CHECK(nor_pg(&b, 0, data, BS) == LWM_ERR_IO);
    CHECK(memcmp(a.mem, b.mem, BS) == 0);
    lwm_nor_close(&a);
    lwm_nor_close(&b);
}

/* on_cut may longjmp out of the failing call. */
static void test_cut_longjmp(void)
{
    static struct lwm_nor nor;   /* static: survives the longjmp */
    uint8_t data[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    static volatile int jumped;

    REQUIRE(lwm_nor_open(&nor, NULL, BS, BC, 1, 1, 0) == LWM_OK);
    nor.on_cut = on_cut;
    cut_calls = 0;
    cut_jump = 1;
    jumped = 0;
    lwm_nor_cut_after(&nor, 1, LWM_NOR_TEAR_PREFIX, 5);
    if (setjmp(cut_jmp) == 0) {
        (void)nor_pg(&nor, 0, data, sizeof(data));
        CHECK(0);   /* not reached */
    } else {
        jumped = 1;
    }
    cut_jump = 0;
    CHECK(jumped == 1 && cut_calls == 1);
    check_dead(&nor);
    lwm_nor_close(&nor);
}

/* ---- file backing ---- */

static void test_file(void)
{
    struct lwm_nor nor;
    struct stat st;
    char path[64];
    uint8_t data[BS], back[BS];
    FILE *fp;

    snprintf(path, sizeof(path), "test_nor-%ld.img", (long)getpid());
    (void)unlink(path);

    /* created, full size, erased, mapped */
    REQUIRE(lwm_nor_open(&nor, path, BS, BC, 4, 1, 1) == LWM_OK);
    CHECK(nor.fd >= 0);
    CHECK(stat(path, &st) == 0 && st.st_size == (off_t)(BS * BC));
    CHECK(nor.flash.mapped == nor.mem);
    CHECK(all_bytes(nor.flash.mapped, BS * BC, 0xFF));
    fill_pattern(data, BS, 77);
    CHECK(nor_pg(&nor, 3 * BS, data, BS) == LWM_OK);
    CHECK(nor_er(&nor, 5) == LWM_OK);
    CHECK(nor_sy(&nor) == LWM_OK && nor.syncs == 1);
    CHECK(memcmp(nor.flash.mapped + 3 * BS, data, BS) == 0);
    lwm_nor_close(&nor);
    CHECK(nor.mem == NULL && nor.fd == -1);

    /* the file itself holds the bytes */
    fp = fopen(path, "rb");
    CHECK(fp != NULL);
    if (fp != NULL) {
        CHECK(fseek(fp, (long)(3 * BS), SEEK_SET) == 0);
        CHECK(fread(back, 1, BS, fp) == BS);
        CHECK(memcmp(back, data, BS) == 0);
        fclose(fp);
    }

    /* reopened with the same geometry: content persists; unmapped view */
    REQUIRE(lwm_nor_open(&nor, path, BS, BC, 4, 1, 0) == LWM_OK);
    CHECK(nor.flash.mapped == NULL);
    CHECK(nor_rd(&nor, 3 * BS, back, BS) == LWM_OK);
    CHECK(memcmp(back, data, BS) == 0);
    CHECK(nor_pg(&nor, 3 * BS, data, 4) == LWM_ERR_IO);   /* still NOR */
    lwm_nor_close(&nor);

    /* reopened mapped: the mapping equals what read() returns */
    REQUIRE(lwm_nor_open(&nor, path, BS, BC, 4, 1, 1) == LWM_OK);
    CHECK(nor_rd(&nor, 0, back, BS) == LWM_OK);
    CHECK(memcmp(back, nor.flash.mapped, BS) == 0);
    CHECK(nor_rd(&nor, 3 * BS, back, BS) == LWM_OK);
    CHECK(memcmp(back, nor.flash.mapped + 3 * BS, BS) == 0);
    CHECK(memcmp(back, data, BS) == 0);
    lwm_nor_close(&nor);

    /* another geometry: the image is recreated, erased */
    REQUIRE(lwm_nor_open(&nor, path, BS, BC * 2, 1, 1, 1) == LWM_OK);
    CHECK(stat(path, &st) == 0 && st.st_size == (off_t)(BS * BC * 2));
    CHECK(all_bytes(nor.flash.mapped, BS * BC * 2, 0xFF));
    lwm_nor_close(&nor);

    /* an unopenable path is an I/O error, not a crash */
    CHECK(lwm_nor_open(&nor, "no-such-dir/x/flash.img", BS, BC, 1, 1, 0) ==
          LWM_ERR_IO);

    CHECK(unlink(path) == 0);
}

int main(void)
{
    test_open_args();
    test_round_trip();
    test_prog_erased_only();
    test_alignment();
    test_wear();
    test_cut_counting();
    test_cut_prog(LWM_NOR_TEAR_NONE);
    test_cut_prog(LWM_NOR_TEAR_PREFIX);
    test_cut_prog(LWM_NOR_TEAR_BITS);
    test_cut_erase(LWM_NOR_TEAR_NONE);
    test_cut_erase(LWM_NOR_TEAR_PREFIX);
    test_cut_erase(LWM_NOR_TEAR_BITS);
    test_cut_repeatable();
    test_cut_longjmp();
    test_file();
    return check_summary("test_nor");
}
