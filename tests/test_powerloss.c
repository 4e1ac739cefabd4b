/*
 * lwmail tests - power loss at any flash operation (after littlefs's
 * reentrant test runner).
 *
 * For each flash geometry (block size, count, program/read unit, mapped or
 * not; one of them kept nearly full so NOSPC and the GC reserve are hit):
 *
 *  1. Reference run: format, then a seeded workload (tests/model.c) of
 *     --ops operations, checked against the model all along: after every
 *     remount, every 100 operations, at the end, and every few operations
 *     a copy of the flash is mounted by a second store ("shadow" reboot:
 *     everything that returned success must be durable at every operation
 *     boundary). T = the number of prog + erase operations it issued after
 *     the format. The oracle is tested too: mutated copies of the model
 *     must not match.
 *  2. Cut runs: for a cut point k in [1, T], the same workload runs with the
 *     power failing at the k-th prog/erase (torn: NONE, PREFIX or BITS in
 *     rotation). It starts from the last checkpoint of the reference run
 *     before k (flash, store, model and workload copied every 40 ops; the
 *     store has no state outside struct lwm_store and the flash), or from
 *     the format with --no-ckpt. Half of the runs leave the store by a
 *     longjmp out of the emulator's on_cut hook (nothing after the cut runs,
 *     like a real power loss); the other half let every later flash call
 *     fail with LWM_ERR_IO and stop the workload at the first call made
 *     after the cut (the store's error paths run).
 *     Then: power on, a zeroed struct lwm_store (a reboot), mount (must
 *     succeed), lwm_store_check(s, 1) (must be 0), and the model: every
 *     operation that succeeded before the cut is there, and the operation in
 *     flight is either fully there or not at all (the store matches the
 *     model before it or after it, exactly). Then the recovered store must
 *     stay usable: expunges if it is nearly full, a forced GC (which must
 *     finish), appends (a small one must succeed), more random operations,
 *     a forced GC and a remount, all checked against the model.
 *     The emulator must never see a NOR contract violation (a prog of a
 *     byte that is not erased, a misaligned access).
 *
 * Modes: by default cut points are sampled (evenly spaced in bit-reversed
 * order, plus random ones), at most LWM_PL_SAMPLES (default 400) per
 * geometry and at most LWM_PL_BUDGET seconds (default 6) of cut runs per
 * geometry, so the test stays under a minute under ASan or qemu;
 * LWM_SLOW_HOST=1 lowers the default sample count to 12. --exhaustive runs
 * every cut point of every geometry (cmake --build <dir> --target
 * powerloss-exhaustive; a few minutes natively). A failure prints a repro
 * line: --geom g --seed s --cut k --tear t --jmp 0|1 -v (-vv traces every
 * operation of the reference run and compares after each).
 *
 * LWM_TEST_TIMEOUT: 900
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "lwm_nor.h"
#include "lwmail/lwm_store.h"
#include "model.h"

/// Geometries ///

struct geom {
    const char *name;
    uint32_t block_size, block_count, prog_size, read_size;
    int mapped;
    uint32_t fill;     /* % of the flash the workload fills with bodies */
};

static const struct geom geoms[] = {
    { "1024x96 prog 4 mapped", 1024, 96, 4, 4, 1, 65 },
    { "4096x48 prog 16", 4096, 48, 16, 16, 0, 65 },
    { "2048x64 prog 1 mapped", 2048, 64, 1, 1, 1, 65 },
    { "1024x128 prog 32", 1024, 128, 32, 32, 0, 65 },
    /* nearly full: NOSPC, the GC reserve and wear levelling under stress */
    { "2048x40 prog 8 read 2, nearly full", 2048, 40, 8, 2, 0, 90 },
};
#define NGEOMS ((int)(sizeof(geoms) / sizeof(geoms[0])))

static const char *const tear_names[3] = { "NONE", "PREFIX", "BITS" };

/// State (large: never on the stack) ///

static struct lwm_store store;
static struct lwm_store shadow;   /* mounts a copy of the flash */
static struct lwm_nor nor;
static struct lwm_nor shadow_nor;
static struct model model;
static struct model after;
static struct model_run run;
static struct workload wl;
static jmp_buf cut_jmp;
static volatile int cut_use_jmp;

static struct {
    uint32_t ops;          /* workload length */
    uint32_t cont_ops;     /* random operations after a recovery */
    uint32_t seed;
    long samples;          /* cut points per geometry (sampled mode) */
    int exhaustive;
    int geom;              /* -1: all */
    long long cut;         /* -1: sampled/exhaustive */
    int tear, jmp;         /* -1: rotate */
    int verbose;
    int max_reports;       /* detailed failure reports per geometry */
    uint32_t shadow;       /* reference run: reboot a copy every n ops */
    double budget;         /* sampled mode: seconds of cut runs per geometry */
    int no_ckpt;           /* replay every cut run from the format */
} opt = { 1200, 30, 0, -1, 0, -1, -1, -1, -1, 0, 4, 0, 6.0, 0 };

static char fail_msg[3 * MODEL_ERR_LEN];
static unsigned long n_applied, n_inflight;   /* cut runs with an op in
                                                 flight / found applied */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int pl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int pl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
    va_end(ap);
    return -1;
}

static void pl_on_cut(struct lwm_nor *n)
{
    (void)n;
    if (cut_use_jmp) {
        longjmp(cut_jmp, 1);
    }
}

/// Steps ///

static const struct geom *cur_geom;

/* Checkpoints of the reference run, every PL_CKPT_EVERY operations: a cut
 * run at flash op k starts from the last one before k instead of replaying
 * the workload from the format. The store keeps all its state in struct
 * lwm_store and on the flash (no globals: lwm_store.h), so a copy of both,
 * of the model and of the workload is the same as a replay. --no-ckpt
 * replays from the format instead. */
#define PL_CKPT_EVERY 40u

struct pl_ckpt {
    uint32_t op_index;          /* operations done */
    uint64_t ops, progs, erases, prog_bytes;
    uint8_t *mem;
    uint32_t *wear;
    struct lwm_store *store;
    struct model *model;
    struct workload wl;
    struct model_run run;
};

static struct pl_ckpt *ckpts;
static uint32_t nckpts;

/* Fresh erased flash (wear too: runs must be identical), formatted. */
static int pl_fresh(uint32_t seed)
{
    int err;
    memset(nor.mem, 0xFF, nor.size);
    memset(nor.wear, 0, nor.flash.block_count * sizeof(nor.wear[0]));
    lwm_nor_power_on(&nor);
    nor.on_cut = NULL;
    lwm_nor_reset_counters(&nor);
    memset(&store, 0, sizeof(store));
    err = lwm_store_format(&store, &nor.flash);
    if (err != 0) {
        return pl_fail("format: %d (%s)", err, lwm_strerror(err));
    }
    lwm_nor_reset_counters(&nor);
    model_init(&model);
    workload_init(&wl, seed, &nor.flash);
    wl.budget = (uint32_t)((uint64_t)nor.size * cur_geom->fill / 100u);
    memset(&run, 0, sizeof(run));
    run.s = &store;
    run.f = &nor.flash;
    run.m = &model;
    return 0;
}

static void pl_ckpt_save(uint32_t op_index)
{
    struct pl_ckpt *c;
    uint32_t nb = nor.flash.block_count;
    if (opt.no_ckpt || nckpts >= opt.ops / PL_CKPT_EVERY + 2) {
        return;
    }
    c = &ckpts[nckpts];
    c->mem = malloc(nor.size);
    c->wear = malloc(nb * sizeof(c->wear[0]));
    c->store = malloc(sizeof(*c->store));
    c->model = malloc(sizeof(*c->model));
    REQUIRE(c->mem != NULL && c->wear != NULL && c->store != NULL &&
            c->model != NULL);
    nckpts++;
    c->op_index = op_index;
    c->ops = nor.ops;
    c->progs = nor.progs;
    c->erases = nor.erases;
    c->prog_bytes = nor.prog_bytes;
    memcpy(c->mem, nor.mem, nor.size);
    memcpy(c->wear, nor.wear, nb * sizeof(c->wear[0]));
    memcpy(c->store, &store, sizeof(store));
    memcpy(c->model, &model, sizeof(model));
    c->wl = wl;
    c->run = run;
}

static void pl_ckpt_free(void)
{
    uint32_t i;
    for (i = 0; i < nckpts; i++) {
        free(ckpts[i].mem);
        free(ckpts[i].wear);
        free(ckpts[i].store);
        free(ckpts[i].model);
    }
    nckpts = 0;
}

/* Restore the last checkpoint taken before flash op k (1-based). Returns
 * the operation index to go on from. */
static uint32_t pl_ckpt_restore(long long k)
{
    const struct pl_ckpt *c = NULL;
    uint32_t i;
    for (i = 0; i < nckpts; i++) {
        if ((long long)ckpts[i].ops < k) {
            c = &ckpts[i];
        }
    }
    if (c == NULL) {
        return 0;
    }
    memcpy(nor.mem, c->mem, nor.size);
    memcpy(nor.wear, c->wear, nor.flash.block_count * sizeof(nor.wear[0]));
    nor.ops = c->ops;
    nor.progs = c->progs;
    nor.erases = c->erases;
    nor.prog_bytes = c->prog_bytes;
    memcpy(&store, c->store, sizeof(store));
    memcpy(&model, c->model, sizeof(model));
    wl = c->wl;
    run = c->run;
    return c->op_index;
}

static int pl_check_all(const char *when)
{
    int err = lwm_store_check(&store, 1);
    if (err != 0) {
        return pl_fail("%s: lwm_store_check: %d (%s)", when, err,
                       lwm_strerror(err));
    }
    if (model_compare(&model, &store, &nor.flash) != 0) {
        return pl_fail("%s: %s", when, model.err);
    }
    return 0;
}

/* A reboot between two operations: a copy of the flash, mounted by a
 * second store, must show exactly the model (every completed operation is
 * durable). The running store is not disturbed. */
static int pl_shadow_check(const char *when)
{
    int err;
    memcpy(shadow_nor.mem, nor.mem, nor.size);
    memset(&shadow, 0, sizeof(shadow));
    err = lwm_store_mount(&shadow, &shadow_nor.flash);
    if (err != 0) {
        return pl_fail("%s: mount of a copy of the flash: %d (%s)", when,
                       err, lwm_strerror(err));
    }
    err = lwm_store_check(&shadow, 1);
    if (err != 0) {
        return pl_fail("%s: check of a copy of the flash: %d (%s)", when,
                       err, lwm_strerror(err));
    }
    if (model_compare(&model, &shadow, &shadow_nor.flash) != 0) {
        return pl_fail("%s: a copy of the flash, mounted: %s", when,
                       model.err);
    }
    (void)lwm_store_unmount(&shadow);
    return 0;
}

/* The oracle must see a difference: each mutation of a copy of the model
 * must make model_compare() fail (a test that can't fail proves nothing). */
static void pl_oracle_selftest(void)
{
    int i, mi = -1, withmsg = -1, detected = 0, tried = 0, k;
    for (i = 0; i < MODEL_MBOXES; i++) {
        if (model.mbox[i].used) {
            mi = mi < 0 ? i : mi;
            if (model.mbox[i].nmsgs > 1 && withmsg < 0) {
                withmsg = i;
            }
        }
    }
    if (!CHECK(mi >= 0 && withmsg >= 0)) {
        return;
    }
    for (k = 0; k < 9; k++) {
        struct model_mbox *mb;
        memcpy(&after, &model, sizeof(after));
        mb = &after.mbox[withmsg];
        switch (k) {
        case 0: mb->msgs[1].flags ^= LWM_FLAG_SEEN; break;
        case 1: mb->msgs[1].flags ^= MODEL_KW(3); break;
        case 2: mb->msgs[1].cid ^= 1; break;       /* other bytes */
        case 3: mb->msgs[1].len -= 1; break;
        case 4: mb->nmsgs--; break;                 /* an extra message */
        case 5: mb->msgs[0].uid += 1000; break;
        case 6: after.mbox[mi].used = 0; break;     /* an extra mailbox */
        case 7: mb->attrs ^= LWM_MBOX_SUBSCRIBED;
                mb->attrs_known |= LWM_MBOX_SUBSCRIBED; break;
        default: mb->uidnext += 1000; break;        /* UIDNEXT went back */
        }
        tried++;
        detected += model_compare(&after, &store, &nor.flash) != 0;
    }
    CHECK(detected == tried);
}

/* The reference run. Returns T (prog + erase operations), or -1. */
static long long pl_reference(const struct geom *g, uint32_t seed)
{
    struct lwm_store_stats st;
    long long t;
    uint32_t i;

    if (pl_fresh(seed) < 0) {
        return -1;
    }
    run.verify = 1;
    pl_ckpt_free();
    for (i = 0; i < opt.ops; i++) {
        struct model_op op;
        unsigned long nospc = run.nospc;
        if (i % PL_CKPT_EVERY == 0) {
            pl_ckpt_save(i);
        }
        workload_next(&wl, &model, &op);
        if (opt.verbose > 1) {
            char buf[320];
            printf("    op %lu: %s\n", (unsigned long)i,
                   model_op_str(&op, buf, sizeof(buf)));
        }
        if (model_exec(&run, &op) < 0) {
            return pl_fail("op %lu: %s", (unsigned long)i, run.err);
        }
        if (run.nospc != nospc) {
            wl.pressure = 1;
        }
        if (i % 100 == 99 || opt.verbose > 1) {
            char when[48];
            (void)snprintf(when, sizeof(when), "after op %lu",
                           (unsigned long)i);
            if (pl_check_all(when) < 0) {
                return -1;
            }
        }
        if (opt.shadow > 0 && i % opt.shadow == 0) {
            char when[320], buf[300];
            (void)snprintf(when, sizeof(when), "after op %lu (%s)",
                           (unsigned long)i,
                           model_op_str(&op, buf, sizeof(buf)));
            if (pl_shadow_check(when) < 0) {
                return -1;
            }
        }
    }
    t = (long long)nor.ops;
    if (pl_check_all("end of workload") < 0) {
        return -1;
    }
    pl_oracle_selftest();
    lwm_store_stats(&store, &st);
    printf("  %s: reference: %lu ops, T=%lld flash ops (%llu progs, %llu "
           "erases, %llu KiB programmed); at the end %lu msgs in %lu "
           "mailboxes, %lu KiB live (peak %lu KiB of %lu KiB flash); %lu "
           "NOSPC, %lu remounts, %lu snapshots, %lu bodies moved by GC, "
           "erase counts %lu..%lu\n",
           g->name, (unsigned long)opt.ops, t,
           (unsigned long long)nor.progs, (unsigned long long)nor.erases,
           (unsigned long long)(nor.prog_bytes / 1024),
           (unsigned long)model_msg_total(&model), (unsigned long)st.mboxes,
           (unsigned long)(model_live_bytes(&model) / 1024),
           (unsigned long)(run.peak_live / 1024),
           (unsigned long)(nor.size / 1024), run.nospc, run.remounts,
           run.snapshots + st.snapshots,
           run.gc_moved + st.gc_moved_bodies, (unsigned long)st.erase_min,
           (unsigned long)st.erase_max);
    {
        struct model_op op;
        memset(&op, 0, sizeof(op));
        op.type = MOP_REMOUNT;
        if (model_exec(&run, &op) < 0) {
            return pl_fail("final remount: %s", run.err);
        }
    }
    if (nor.violations != 0) {
        return pl_fail("%llu NOR contract violations",
                       (unsigned long long)nor.violations);
    }
    return t;
}

enum { PL_CUT = 0, PL_DONE = 1, PL_ERROR = 2 };

static int pl_until_cut(uint32_t from)
{
    uint32_t i;
    for (i = from; i < opt.ops; i++) {
        struct model_op op;
        unsigned long nospc = run.nospc;
        int err;
        workload_next(&wl, &model, &op);
        err = model_exec(&run, &op);
        if (nor.dead) {
            return PL_CUT;
        }
        if (err < 0) {
            return PL_ERROR;
        }
        if (run.nospc != nospc) {
            wl.pressure = 1;
        }
    }
    return PL_DONE;
}

/* Operations on the recovered store: all must work. */
static int pl_continue(long long k, uint32_t seed)
{
    struct workload w2;
    struct model_op op;
    unsigned long nospc;
    uint32_t i;
    int u;

    run.verify = 1;
    /* A nearly full store may refuse appends; make room first (expunge
     * is what frees space on a full store), down to 45% of the flash. */
    for (i = 0; i < 64 && model_live_bytes(&model) > nor.size / 100u * 45u;
         i++) {
        int mi, best = -1;
        uint32_t j;
        for (mi = 0; mi < MODEL_MBOXES; mi++) {
            if (model.mbox[mi].used && model.mbox[mi].nmsgs > 0 &&
                (best < 0 || model.mbox[mi].nmsgs > model.mbox[best].nmsgs)) {
                best = mi;
            }
        }
        if (best < 0) {
            break;
        }
        memset(&op, 0, sizeof(op));
        op.type = MOP_EXPUNGE;
        op.user = model.mbox[best].user;
        memcpy(op.name, model.mbox[best].name, sizeof(op.name));
        for (j = 0; j < model.mbox[best].nmsgs && j < MODEL_OP_UIDS; j++) {
            op.uids[op.nuids++] = model.mbox[best].msgs[j].uid;
        }
        if (model_exec(&run, &op) < 0) {
            return pl_fail("after recovery: %s", run.err);
        }
    }
    memset(&op, 0, sizeof(op));
    op.type = MOP_GC_FORCE;
    if (model_exec(&run, &op) < 0) {
        return pl_fail("after recovery: %s", run.err);
    }
    /* Appends into the first user's INBOX (created if the cut came before
     * the first user was). */
    for (u = 0; u < MODEL_USERS && !model.user[u]; u++) {
    }
    if (u == MODEL_USERS) {
        memset(&op, 0, sizeof(op));
        op.type = MOP_USER_CREATE;
        u = 0;
        if (model_exec(&run, &op) < 0) {
            return pl_fail("after recovery: %s", run.err);
        }
    }
    for (i = 0; i < 2; i++) {
        memset(&op, 0, sizeof(op));
        op.type = MOP_APPEND;
        op.user = u;
        (void)snprintf(op.name, sizeof(op.name), "INBOX");
        op.cid = 0xC0DE0000u ^ (uint32_t)k ^ (i << 12);
        op.len = i == 0 ? 333 : 2 * nor.flash.block_size + 77;
        op.date = 1234567890u + i;
        op.flags = LWM_FLAG_SEEN;
        op.chunk_seed = (uint32_t)k * 7u + i;
        nospc = run.nospc;
        if (model_exec(&run, &op) < 0) {
            return pl_fail("after recovery: %s", run.err);
        }
        if (i == 0 && run.nospc != nospc) {
            struct lwm_store_stats st;
            lwm_store_stats(&store, &st);
            return pl_fail("after recovery and a forced GC, with %lu KiB "
                           "of bodies on %lu KiB of flash, a 333-byte "
                           "append got LWM_ERR_NOSPC (blocks: %lu free, %lu "
                           "META, %lu DATA of %lu; %lu messages)",
                           (unsigned long)(model_live_bytes(&model) / 1024),
                           (unsigned long)(nor.size / 1024),
                           (unsigned long)st.blocks_free,
                           (unsigned long)st.blocks_meta,
                           (unsigned long)st.blocks_data,
                           (unsigned long)st.blocks_total,
                           (unsigned long)st.msgs);
        }
    }
    workload_init(&w2, seed ^ ((uint32_t)k * 2654435761u) ^ 0xC0FFEEu,
                  &nor.flash);
    w2.n = 1000;   /* past the workload's own user creation */
    if (workload_run(&w2, &run, opt.cont_ops) < 0) {
        return pl_fail("after recovery: %s", run.err);
    }
    memset(&op, 0, sizeof(op));
    op.type = MOP_GC_FORCE;
    if (model_exec(&run, &op) < 0) {
        return pl_fail("after recovery: %s", run.err);
    }
    op.type = MOP_REMOUNT;   /* verify: check + compare after the mount */
    if (model_exec(&run, &op) < 0) {
        return pl_fail("after recovery: %s", run.err);
    }
    return 0;
}

/* One cut run. 0 or -1 with fail_msg. */
static int pl_cut(long long k, int tear, int jmp, uint32_t seed)
{
    volatile int status = PL_CUT;
    char before_err[MODEL_ERR_LEN], op_str[320];
    uint32_t from;
    int err;

    if (pl_fresh(seed) < 0) {
        return -1;
    }
    from = pl_ckpt_restore(k);
    run.verify = 0;
    lwm_nor_cut_after(&nor, (uint64_t)(k - (long long)nor.ops),
                      (enum lwm_nor_tear)tear, seed * 31u + (uint32_t)k);
    nor.on_cut = pl_on_cut;
    cut_use_jmp = jmp;
    if (setjmp(cut_jmp) == 0) {
        status = pl_until_cut(from);
    }
    cut_use_jmp = 0;
    nor.on_cut = NULL;
    (void)model_op_str(&run.inflight, op_str, sizeof(op_str));
    n_inflight += run.inflight.type != MOP_NONE;

    if (status == PL_DONE) {
        return pl_fail("the workload ended after %llu flash ops without "
                       "reaching the cut (the reference run made more: "
                       "not deterministic?)",
                       (unsigned long long)nor.ops);
    }
    if (status == PL_ERROR) {
        return pl_fail("before the cut: %s", run.err);
    }
    if (opt.verbose) {
        printf("    cut at flash op %lld (%s, %s) in: %s\n", k,
               tear_names[tear], jmp ? "longjmp" : "I/O errors", op_str);
    }

    /* Reboot. */
    lwm_nor_power_on(&nor);
    if (!jmp) {
        (void)lwm_store_unmount(&store);
    }
    memset(&store, 0, sizeof(store));
    err = lwm_store_mount(&store, &nor.flash);
    if (err != 0) {
        return pl_fail("mount after the cut: %d (%s); in flight: %s", err,
                       lwm_strerror(err), op_str);
    }
    err = lwm_store_check(&store, 1);
    if (err != 0) {
        return pl_fail("lwm_store_check after the cut: %d (%s); in "
                       "flight: %s", err, lwm_strerror(err), op_str);
    }
    if (model_compare(&model, &store, &nor.flash) != 0) {
        (void)snprintf(before_err, sizeof(before_err), "%s", model.err);
        if (run.inflight.type == MOP_NONE) {
            return pl_fail("lost a completed operation: %s (last op: %s)",
                           before_err, op_str);
        }
        memcpy(&after, &model, sizeof(after));
        model_apply(&after, &run.inflight, NULL);
        if (model_compare(&after, &store, &nor.flash) != 0) {
            return pl_fail("in-flight op half done: %s\n      vs state "
                           "before it: %s\n      vs state after it: %s",
                           op_str, before_err, after.err);
        }
        memcpy(&model, &after, sizeof(model));
        n_applied++;
        if (opt.verbose) {
            printf("    the in-flight op is applied\n");
        }
    } else if (opt.verbose) {
        printf("    the in-flight op is not applied\n");
    }
    if (model_learn(&model, &store) < 0) {
        return pl_fail("after the cut: %s", model.err);
    }
    if (pl_continue(k, seed) < 0) {
        return -1;
    }
    if (nor.violations != 0) {
        return pl_fail("%llu NOR contract violations",
                       (unsigned long long)nor.violations);
    }
    return 0;
}

/// Runner ///

static uint32_t pl_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static int pl_geometry(int gi)
{
    const struct geom *g = &geoms[gi];
    uint32_t seed = opt.seed != 0 ? opt.seed : 1000u + (uint32_t)gi;
    long long t, j, npoints, nruns = 0, nfail = 0, *points;
    uint32_t rng = seed * 2654435761u | 1u;
    double t0 = now_s(), t1;
    int err;

    cur_geom = g;
    err = lwm_nor_open(&nor, NULL, g->block_size, g->block_count,
                       g->prog_size, g->read_size, g->mapped);
    REQUIRE(err == 0);
    err = lwm_nor_open(&shadow_nor, NULL, g->block_size, g->block_count,
                       g->prog_size, g->read_size, g->mapped);
    REQUIRE(err == 0);
    t = pl_reference(g, seed);
    if (!CHECK(t > 0)) {
        printf("  %s: reference run FAILED (seed %lu): %s\n", g->name,
               (unsigned long)seed, fail_msg);
        pl_ckpt_free();
        lwm_nor_close(&nor);
        lwm_nor_close(&shadow_nor);
        return 1;
    }
    t1 = now_s();
    /* The cut points: one (--cut), all (--exhaustive), or a sample:
     * evenly spaced points in bit-reversed order (any prefix of the list
     * covers the run evenly, so the time budget can stop it anywhere) with
     * a random point after every third. */
    if (opt.cut > 0) {
        npoints = 1;
    } else if (opt.exhaustive) {
        npoints = t;
    } else {
        npoints = opt.samples < t ? opt.samples : t;
    }
    points = malloc((size_t)npoints * sizeof(points[0]));
    REQUIRE(points != NULL);
    if (opt.cut > 0) {
        points[0] = opt.cut;
    } else if (opt.exhaustive) {
        for (j = 0; j < npoints; j++) {
            points[j] = j + 1;
        }
    } else {
        long long even = npoints - npoints / 4, bits = 1, e = 0;
        while ((1LL << bits) < even) {
            bits++;
        }
        for (j = 0; j < npoints; j++) {
            if (j % 4 == 3 || e >= (1LL << bits)) {
                points[j] = 1 + (long long)(pl_rand(&rng) % (uint32_t)t);
                continue;
            }
            for (;;) {
                long long r = 0, b;
                for (b = 0; b < bits; b++) {
                    r |= ((e >> b) & 1) << (bits - 1 - b);
                }
                e++;
                if (r < even) {
                    points[j] = 1 + (even > 1 ? r * (t - 1) / (even - 1) : 0);
                    break;
                }
            }
        }
    }
    for (j = 0; j < npoints; j++) {
        long long kk = points[j];
        int tear = opt.tear >= 0 ? opt.tear : (int)(kk % 3);
        int jmp = opt.jmp >= 0 ? opt.jmp : (int)((kk / 3) % 2);
        if (!opt.exhaustive && opt.cut <= 0 && opt.budget > 0 &&
            now_s() - t1 > opt.budget) {
            printf("  %s: time budget of %.0f s reached (LWM_PL_BUDGET)\n",
                   g->name, opt.budget);
            break;
        }
        nruns++;
        if (!CHECK(pl_cut(kk, tear, jmp, seed) == 0)) {
            nfail++;
            if (nfail <= opt.max_reports) {
                printf("  FAIL %s, seed %lu, cut at flash op %lld of %lld, "
                       "tear %s, %s:\n      %s\n"
                       "    repro: test_powerloss --geom %d --seed %lu "
                       "--cut %lld --tear %d --jmp %d -v\n",
                       g->name, (unsigned long)seed, kk, t,
                       tear_names[tear], jmp ? "longjmp" : "I/O errors",
                       fail_msg, gi, (unsigned long)seed, kk, tear, jmp);
            }
        }
        if (opt.exhaustive && j % 1000 == 999) {
            printf("  %s: %lld of %lld cut points, %lld failures, %.0f s\n",
                   g->name, j + 1, npoints, nfail, now_s() - t0);
            fflush(stdout);
        }
    }
    free(points);
    printf("  %s: T=%lld, cut points run %lld, failures %lld (%.1f s; "
           "an op in flight %lu times, found applied %lu times)\n",
           g->name, t, nruns, nfail, now_s() - t0, n_inflight, n_applied);
    n_inflight = n_applied = 0;
    fflush(stdout);
    pl_ckpt_free();
    lwm_nor_close(&nor);
    lwm_nor_close(&shadow_nor);
    return nfail != 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: test_powerloss [--exhaustive] [--samples n] [--ops n]\n"
            "         [--shadow n] [--seed s] [--geom g] [--no-ckpt]\n"
            "         [--cut k [--tear 0|1|2] [--jmp 0|1]] [-v|-vv]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *env;
    int i, g, slow = 0;

    env = getenv("LWM_PL_SAMPLES");
    opt.samples = env != NULL ? atol(env) : 400;
    env = getenv("LWM_SLOW_HOST");
    if (env != NULL && strcmp(env, "1") == 0) {
        slow = 1;
        if (getenv("LWM_PL_SAMPLES") == NULL) {
            opt.samples = 12;
        }
    }
    env = getenv("LWM_PL_BUDGET");
    if (env != NULL) {
        opt.budget = atof(env);
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--exhaustive") == 0) {
            opt.exhaustive = 1;
        } else if (strcmp(a, "-v") == 0) {
            opt.verbose = 1;
        } else if (strcmp(a, "-vv") == 0) {
            opt.verbose = 2;
        } else if (strcmp(a, "--no-ckpt") == 0) {
            opt.no_ckpt = 1;
        } else if (v == NULL) {
            usage();
        } else if (strcmp(a, "--samples") == 0) {
            opt.samples = atol(v), i++;
        } else if (strcmp(a, "--shadow") == 0) {
            opt.shadow = (uint32_t)strtoul(v, NULL, 0), i++;
        } else if (strcmp(a, "--ops") == 0) {
            opt.ops = (uint32_t)strtoul(v, NULL, 0), i++;
        } else if (strcmp(a, "--seed") == 0) {
            opt.seed = (uint32_t)strtoul(v, NULL, 0), i++;
        } else if (strcmp(a, "--geom") == 0) {
            opt.geom = atoi(v), i++;
        } else if (strcmp(a, "--cut") == 0) {
            opt.cut = atoll(v), i++;
        } else if (strcmp(a, "--tear") == 0) {
            opt.tear = atoi(v) % 3, i++;
        } else if (strcmp(a, "--jmp") == 0) {
            opt.jmp = atoi(v) != 0, i++;
        } else {
            usage();
        }
    }
    if (opt.samples < 1) {
        opt.samples = 1;
    }
    if (opt.shadow == 0) {   /* not given: every op when it is cheap */
        opt.shadow = opt.exhaustive || opt.cut > 0 ? 1 : slow ? 25 : 5;
    }
    if (opt.geom >= NGEOMS) {
        usage();
    }
    ckpts = calloc(opt.ops / PL_CKPT_EVERY + 2, sizeof(ckpts[0]));
    REQUIRE(ckpts != NULL);
    printf("test_powerloss: %s, %lu ops per run\n",
           opt.cut > 0 ? "one cut point"
           : opt.exhaustive ? "exhaustive" : "sampled cut points",
           (unsigned long)opt.ops);
    for (g = 0; g < NGEOMS; g++) {
        if (opt.geom < 0 || opt.geom == g) {
            (void)pl_geometry(g);
        }
    }
    free(ckpts);
    return check_summary("test_powerloss");
}
