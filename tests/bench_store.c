/*
 * lwmail benchmarks - the message store on an emulated NOR flash.
 *
 * Prints one figure per line as `name: value unit`; lines starting with `#`
 * are comments (targets and the cost model). Run from a Release build:
 *
 *     cmake -S . -B build/rel -G Ninja -DCMAKE_BUILD_TYPE=Release
 *     cmake --build build/rel --target bench
 *
 * or run build/rel/tests/bench_store directly (about a minute). `--quick`
 * shrinks every workload about tenfold (a few seconds); it is the default
 * when NDEBUG is not defined (Debug and sanitizer builds, where the full run
 * takes several minutes and its timings mean little); `--full` forces the
 * full workloads.
 *
 * The store is compiled into this file with larger tables than the
 * defaults (50,000 messages need LWM_STORE_MAX_MSGS > 50,000, and 256 MiB of
 * 4 KiB blocks need LWM_STORE_MAX_BLOCKS = 65,536): the options below come
 * before any include, then every source of src/store/ is included (today
 * store.c alone: a new store source file must be added here too), so this
 * program does not use the lwmail_core copy of the store (the linker pulls
 * only the CRC and error helpers from lwmail_core, which do not depend on
 * the options).
 *
 * Messages are 2-4 KiB, written in 1460-byte chunks after
 * lwm_append_begin_sized() with their size (as an IMAP literal announces
 * it). "80% full" means message bytes = 80% of the raw flash size.
 *
 * Figures:
 *   mount_<n>k_ms            median of 5 mounts of a store with n thousand
 *                            messages of 2-4 KiB (mostly INBOX, some in 4
 *                            other mailboxes of 2 users, most marked \Seen),
 *                            after background work went idle
 *   mount_<n>k_read          bytes the mount read from flash (a header
 *                            of every block, 65,536 blocks, plus the
 *                            journal)
 *   wa_append                flash bytes programmed / message bytes, pure
 *                            appends into a fresh store
 *   append_host_mbps         message bytes per second of host time for the
 *                            same appends (store + emulator, no I/O)
 *   append_raw_fraction      store append rate as a fraction of the flash's
 *                            raw program rate, cost model below
 *   wa_steady80_oldest       WA over a steady state at 80% full: append +
 *                            expunge oldest + gc steps; the fill phase is
 *                            not counted
 *   wa_steady80_random       the same with random expunges (and
 *                            wa_steady70_random at 70% full)
 *   steady<pct>_*_raw_fraction  store append rate in that steady state as
 *                            a fraction of the flash's raw erase+program
 *                            rate
 *   steady<pct>_*_gc_moved   bytes GC copied / bytes appended
 *   wear_<pct>_*             erase counts per block after each churn (the
 *                            whole life of that flash: format, fill, churn)
 *   gc_idle_step_us          host time of one lwm_store_gc_step() call
 *                            that finds nothing to do (mount flash)
 *   ram_per_msg              sizeof(struct lwm_msg_ent)
 *
 * Cost model of the flash (typical SPI NOR with 4 KiB sectors): programming
 * 1 byte costs 1 us (1 MB/s), erasing one block costs 50 ms, i.e. as much
 * time as programming BENCH_ERASE_COST = 50,000 bytes. The store's append
 * time is then (bytes programmed + erases * BENCH_ERASE_COST) us. Raw rates:
 * programming erased flash runs at 1 byte/us; rewriting flash in the steady
 * state needs an erase per block, block_size / (block_size +
 * BENCH_ERASE_COST) bytes/us.
 */
#define _POSIX_C_SOURCE 200809L

/* Options for this build of the store (see the comment above). */
#define LWM_STORE_MAX_MSGS 60000
#define LWM_STORE_MAX_BLOCKS 65536

#include "../src/store/store.c"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwm_nor.h"
#include "testutil.h"

#define BENCH_ERASE_COST 50000.0 /* bytes of programming time per erase */
/* Erase block size of the emulated flash: 4 KiB (SPI NOR sector) for most
 * figures; the random-expunge steady state is also run with 64 KiB blocks
 * (SPI NOR block erase), where messages are small against the block. */
static uint32_t bench_block = 4096u;
#define BENCH_BLOCK bench_block
#define BENCH_DATE 1700000000u

static struct lwm_store bench_st;
static struct lwm_nor bench_nor;
static uint8_t bench_src[16384];
static uint32_t bench_rng = 0x2545F491u;
static int bench_quick;
static uint32_t bench_gc_stuck;     /* bench_gc(0) calls that hit the bound */
static int bench_gc_err;            /* first lwm_store_gc_step error, or 0 */

/* Background work "until idle" gives up after this many steps. */
#define BENCH_GC_MAX_STEPS 200000
/* A steady-state phase stops early after this much host time (keeps the
 * whole run under 3 minutes on a slow or busy host). */
#define BENCH_PHASE_MS 45000.0

/// Helpers ///

static uint32_t bench_rand(void)
{
    return xorshift32(&bench_rng);
}

/* A message size of 2-4 KiB. */
static uint32_t bench_size(void)
{
    return 2048u + bench_rand() % 2049u;
}

static double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void bench_die(const char *what, int err)
{
    fprintf(stderr, "bench_store: %s: %d (%s); NOR contract violations: %"
            PRIu64 "\n", what, err, lwm_strerror(err), bench_nor.violations);
    exit(1);
}

static void bench_open(uint32_t blocks)
{
    int r = lwm_nor_open(&bench_nor, NULL, BENCH_BLOCK, blocks, 4, 4, 0);
    if (r != 0) {
        bench_die("lwm_nor_open", r);
    }
}

static void bench_fresh(void)
{
    int r = lwm_store_format(&bench_st, &bench_nor.flash);
    if (r != 0) {
        bench_die("format", r);
    }
    (void)lwm_store_unmount(&bench_st);
    r = lwm_store_mount(&bench_st, &bench_nor.flash);
    if (r != 0) {
        bench_die("mount", r);
    }
}

static int bench_find(int user, const char *name)
{
    int r = lwm_mbox_find(&bench_st, user, name, strlen(name));
    if (r < 0) {
        r = lwm_mbox_create(&bench_st, user, name, strlen(name), 0);
        if (r >= 0) {
            r = lwm_mbox_find(&bench_st, user, name, strlen(name));
        }
    }
    if (r < 0) {
        bench_die(name, r);
    }
    return r;
}

/* Run up to max background steps (0: until idle, bounded). Returns 1 if
 * the store went idle. */
static int bench_gc(int max)
{
    int i, r;
    for (i = 0; max == 0 || i < max; i++) {
        r = lwm_store_gc_step(&bench_st);
        if (r < 0) {
            /* report it; the phase in progress stops */
            if (bench_gc_err == 0) {
                printf("# lwm_store_gc_step failed: %d (%s)\n", r,
                       lwm_strerror(r));
            }
            bench_gc_err = r;
            return 0;
        }
        if (r == 0) {
            return 1;
        }
        if (max == 0 && i >= BENCH_GC_MAX_STEPS) {
            if (bench_gc_stuck++ == 0) {
                printf("# lwm_store_gc_step still busy after %d steps\n",
                       BENCH_GC_MAX_STEPS);
            }
            return 0;
        }
    }
    return 0;
}

/* Append size bytes in TCP-segment sized chunks, announcing the size
 * (lwm_append_begin_sized); UID or error. */
static int bench_append(int mbox, uint32_t size)
{
    uint32_t off = 0, start = bench_rand() % 8192u;
    int a, r;

    /* the size is known, as for an IMAP literal */
    a = lwm_append_begin_sized(&bench_st, mbox, BENCH_DATE, 0, size);
    if (a < 0) {
        return a;
    }
    while (off < size) {
        uint32_t n = size - off < 1460u ? size - off : 1460u;
        r = lwm_append_write(&bench_st, a, bench_src + start + off % 4096u, n);
        if (r < 0) {
            lwm_append_abort(&bench_st, a);
            return r;
        }
        off += n;
    }
    r = lwm_append_commit(&bench_st, a);
    if (r < 0) {
        lwm_append_abort(&bench_st, a);
    }
    return r;
}

/* Append, making room with background work if the flash is full. */
static int bench_append_gc(int mbox, uint32_t size, uint32_t *nospc)
{
    int r = bench_append(mbox, size);
    if (r == LWM_ERR_NOSPC) {
        (*nospc)++;
        bench_gc(0);
        r = bench_append(mbox, size);
    }
    return r;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_wear(const char *tag)
{
    struct lwm_store_stats ss;
    uint32_t k, mn = 0xFFFFFFFFu, mx = 0;
    uint64_t sum = 0;
    for (k = 0; k < bench_nor.flash.block_count; k++) {
        uint32_t w = bench_nor.wear[k];
        mn = w < mn ? w : mn;
        mx = w > mx ? w : mx;
        sum += w;
    }
    lwm_store_stats(&bench_st, &ss);
    printf("wear_%s_spread: %" PRIu32 " erases\n", tag, mx - mn);
    printf("wear_%s_mean: %.1f erases\n", tag,
           (double)sum / bench_nor.flash.block_count);
    printf("wear_%s_max: %" PRIu32 " erases\n", tag, mx);
    printf("wear_%s_store_spread: %" PRIu32 " erases\n", tag,
           ss.erase_max - ss.erase_min);
}

/// Mount time ///

static void bench_mount_at(uint32_t n)
{
    struct lwm_store_stats ss;
    double t[5], t0;
    uint64_t rd = 0;
    int i, r;

    bench_gc(0);
    for (i = 0; i < 5; i++) {
        r = lwm_store_unmount(&bench_st);
        if (r != 0) {
            bench_die("unmount", r);
        }
        bench_nor.read_bytes = 0;
        t0 = bench_now_ms();
        r = lwm_store_mount(&bench_st, &bench_nor.flash);
        t[i] = bench_now_ms() - t0;
        rd = bench_nor.read_bytes;
        if (r != 0) {
            bench_die("mount", r);
        }
    }
    qsort(t, 5, sizeof(t[0]), bench_cmp_double);
    lwm_store_stats(&bench_st, &ss);
    if (ss.msgs != n) {
        fprintf(stderr, "bench_store: %" PRIu32 " messages after mount, "
                "expected %" PRIu32 "\n", ss.msgs, n);
        exit(1);
    }
    printf("mount_%" PRIu32 "k_ms: %.2f ms\n", n / 1000, t[2]);
    printf("mount_%" PRIu32 "k_read: %" PRIu64 " bytes\n", n / 1000, rd);
}

static void bench_mount(void)
{
    static const uint32_t full[] = { 1000, 10000, 50000 };
    static const uint32_t quick[] = { 1000, 5000 };
    const uint32_t *steps = bench_quick ? quick : full;
    uint32_t nsteps = bench_quick ? 2 : 3, n = 0, k, nospc = 0;
    static uint32_t unseen[256];
    uint32_t nunseen = 0;
    int alice, bob, mb[6];

    /* 2-4 KiB messages: 50,000 need ~150 MB; 256 MiB of 4 KiB blocks. */
    bench_open(bench_quick ? 8192u : 65536u);
    bench_fresh();
    alice = lwm_user_create(&bench_st, "alice");
    bob = lwm_user_create(&bench_st, "bob");
    if (alice <= 0 || bob <= 0) {
        bench_die("user_create", alice <= 0 ? alice : bob);
    }
    mb[0] = bench_find(alice, "INBOX");
    mb[1] = bench_find(alice, "Sent");
    mb[2] = bench_find(alice, "Archive");
    mb[3] = bench_find(alice, "Lists/lwip-users");
    mb[4] = bench_find(bob, "INBOX");
    mb[5] = bench_find(bob, "Sent");

    for (k = 0; k < nsteps; k++) {
        while (n < steps[k]) {
            uint32_t p = bench_rand() % 100u;
            int m = p < 80 ? 0 : p < 84 ? 1 : p < 88 ? 2 : p < 92 ? 3 :
                    p < 97 ? 4 : 5;
            int uid = bench_append_gc(mb[m], bench_size(), &nospc);
            if (uid < 0) {
                bench_die("append (mount set)", uid);
            }
            n++;
            /* the user reads her mail: \Seen in batches */
            if (m == 0) {
                unseen[nunseen++] = (uint32_t)uid;
                if (nunseen == 256) {
                    int r = lwm_store_flags(&bench_st, mb[0], unseen, 200,
                                            LWM_FLAGS_ADD, LWM_FLAG_SEEN);
                    if (r < 0) {
                        bench_die("flags", r);
                    }
                    memmove(unseen, unseen + 200, 56 * sizeof(unseen[0]));
                    nunseen = 56;
                }
            }
            bench_gc(8);
        }
        bench_mount_at(n);
    }
    if (nospc != 0) {
        printf("# mount set: %" PRIu32 " appends needed GC first\n", nospc);
    }
    /* what an idle lwm_store_gc_step() costs the CPU (a server calls it
     * from every tick) */
    {
        double t0;
        int i;
        bench_gc(0);
        t0 = bench_now_ms();
        for (i = 0; i < 1000; i++) {
            (void)lwm_store_gc_step(&bench_st);
        }
        printf("gc_idle_step_us: %.1f us (%" PRIu32 " blocks)\n",
               (bench_now_ms() - t0), bench_nor.flash.block_count);
    }
    (void)lwm_store_unmount(&bench_st);
    lwm_nor_close(&bench_nor);
}

/// Pure appends ///

static void bench_append_pure(void)
{
    struct lwm_store_stats ss;
    uint32_t blocks = bench_quick ? 1024u : 8192u, nospc = 0;
    uint64_t bytes = 0, target;
    double t0, t, wa, cost;
    int inbox;

    bench_open(blocks);
    bench_fresh();
    inbox = bench_find(lwm_user_create(&bench_st, "alice"), "INBOX");
    lwm_nor_reset_counters(&bench_nor);
    target = (uint64_t)blocks * BENCH_BLOCK * 6u / 10u;   /* to 60% full */
    t0 = bench_now_ms();
    while (bytes < target) {
        uint32_t size = bench_size();
        int r = bench_append_gc(inbox, size, &nospc);
        if (r < 0) {
            bench_die("append (pure)", r);
        }
        bytes += size;
        bench_gc(8);
    }
    t = bench_now_ms() - t0;
    lwm_store_stats(&bench_st, &ss);
    wa = (double)bench_nor.prog_bytes / (double)bytes;
    cost = (double)bench_nor.prog_bytes +
           (double)bench_nor.erases * BENCH_ERASE_COST;
    printf("wa_append: %.3f x\n", wa);
    printf("append_erases_per_mib: %.2f erases\n",
           (double)bench_nor.erases / ((double)bytes / 1048576.0));
    printf("append_host_mbps: %.1f MB/s\n", (double)bytes / 1e3 / t);
    printf("append_raw_fraction: %.3f of raw program rate\n",
           (double)bytes / cost);
    printf("append_msgs: %" PRIu32 " messages\n", ss.msgs);
    (void)lwm_store_unmount(&bench_st);
    lwm_nor_close(&bench_nor);
}

/// Steady state at 80% full ///

static uint32_t bench_ring_uid[LWM_STORE_MAX_MSGS];
static uint32_t bench_ring_size[LWM_STORE_MAX_MSGS];

static void bench_steady(int random, uint32_t pct)
{
    char tag[32];
    struct lwm_store_stats s0, s1;
    uint32_t blocks = (bench_quick ? 1024u : 4096u) / (bench_block / 4096u);
    uint32_t head = 0, tail = 0;
    uint32_t nospc = 0, fails = 0, nmsg = 0, stuck0, run = 0;
    uint64_t cap = (uint64_t)blocks * BENCH_BLOCK, live = 0, target, bytes = 0;
    uint64_t churn;
    double t0, t, wa, cost, raw;
    int inbox;

    snprintf(tag, sizeof(tag), "%" PRIu32 "_%s%s", pct,
             random ? "random" : "oldest",
             bench_block == 4096u ? "" : "_64k");
    bench_open(blocks);
    bench_fresh();
    inbox = bench_find(lwm_user_create(&bench_st, "alice"), "INBOX");
    target = cap * pct / 100u;

    /* fill to 80% */
    while (live < target) {
        uint32_t size = bench_size();
        int r = bench_append_gc(inbox, size, &nospc);
        if (r < 0) {
            break;
        }
        bench_ring_uid[head % LWM_STORE_MAX_MSGS] = (uint32_t)r;
        bench_ring_size[head % LWM_STORE_MAX_MSGS] = size;
        head++;
        live += size;
        bench_gc(8);
    }
    printf("steady%s_fill: %.1f %% of the flash\n", tag,
           100.0 * (double)live / (double)cap);
    if (live < target) {
        printf("# could not fill to %" PRIu32 "%%: the churn runs at "
               "%.1f%%\n", pct, 100.0 * (double)live / (double)cap);
        target = live;
    }
    bench_gc(0);

    /* churn: twice the flash size of appends */
    lwm_nor_reset_counters(&bench_nor);
    lwm_store_stats(&bench_st, &s0);
    churn = 2u * cap;
    nospc = 0;
    stuck0 = bench_gc_stuck;
    t0 = bench_now_ms();
    while (bytes < churn) {
        if (bench_now_ms() - t0 > BENCH_PHASE_MS || run > 20 ||
            bench_gc_err != 0) {
            printf("# steady %s: STOPPED after %.0f%% of the churn (%s)\n",
                   tag, 100.0 * (double)bytes / (double)churn,
                   bench_gc_err != 0 ? "gc_step failed" :
                   run > 20 ? "appends keep failing" : "time limit");
            break;
        }
        uint32_t size = bench_size();
        int r;
        while (live + size > target && head != tail) {
            uint32_t uid, vsize;
            if (random) {
                struct lwm_msg m;
                uint32_t cnt = lwm_msg_count(&bench_st, inbox);
                r = cnt == 0 ? LWM_ERR_NOENT :
                    lwm_msg_get(&bench_st, inbox, bench_rand() % cnt, &m);
                if (r < 0) {
                    bench_die("msg_get", r);
                }
                uid = m.uid;
                vsize = m.size;
                tail++;             /* only counts messages here */
            } else {
                uid = bench_ring_uid[tail % LWM_STORE_MAX_MSGS];
                vsize = bench_ring_size[tail % LWM_STORE_MAX_MSGS];
                tail++;
            }
            r = lwm_expunge(&bench_st, inbox, &uid, 1);
            if (r != 1) {
                printf("# steady %s: expunge failed: %d (%s)\n", tag, r,
                       lwm_strerror(r));
                run = 1000;
                break;
            }
            live -= vsize;
        }
        if (run >= 1000) {
            break;
        }
        r = bench_append_gc(inbox, size, &nospc);
        if (r < 0) {
            /* full even after GC: run at 1% less fill from now on */
            fails++;
            run++;
            if (r == LWM_ERR_NOSPC && target > cap / 100) {
                target -= cap / 100;
            }
            continue;
        }
        run = 0;
        bench_ring_uid[head % LWM_STORE_MAX_MSGS] = (uint32_t)r;
        bench_ring_size[head % LWM_STORE_MAX_MSGS] = size;
        head++;
        live += size;
        bytes += size;
        nmsg++;
        bench_gc(16);
    }
    bench_gc(0);
    t = bench_now_ms() - t0;
    lwm_store_stats(&bench_st, &s1);
    if (fails != 0) {
        printf("# steady %s: LWM_ERR_NOSPC even after GC %" PRIu32 " times;"
               " the fill was lowered to %.1f%%\n", tag, fails,
               100.0 * (double)target / (double)cap);
    }
    printf("steady%s_end_fill: %.1f %% of the flash\n", tag,
           100.0 * (double)live / (double)cap);
    wa = (double)bench_nor.prog_bytes / (double)bytes;
    cost = (double)bench_nor.prog_bytes +
           (double)bench_nor.erases * BENCH_ERASE_COST;
    raw = (double)BENCH_BLOCK / ((double)BENCH_BLOCK + BENCH_ERASE_COST);
    printf("wa_steady%s: %.3f x\n", tag, wa);
    printf("steady%s_raw_fraction: %.3f of raw erase+program rate\n", tag,
           (double)bytes / cost / raw);
    printf("steady%s_gc_moved: %.1f %% of appended bytes\n", tag,
           100.0 * (double)(s1.gc_moved_bytes - s0.gc_moved_bytes) /
               (double)bytes);
    printf("steady%s_host_mbps: %.1f MB/s\n", tag,
           (double)bytes / 1e3 / t);
    printf("steady%s_appends: %" PRIu32 " messages\n", tag, nmsg);
    if (nospc != 0) {
        printf("# steady %s: %" PRIu32 " appends hit NOSPC before a full "
               "GC\n", tag, nospc);
    }
    if (bench_gc_stuck != stuck0) {
        printf("# steady %s: GC did not go idle %" PRIu32 " times\n", tag,
               bench_gc_stuck - stuck0);
    }
    bench_wear(tag);
    if (lwm_store_check(&bench_st, 0) != 0) {
        printf("# steady %s: lwm_store_check fails after the churn\n", tag);
    }
    bench_gc_err = 0;
    (void)lwm_store_unmount(&bench_st);
    lwm_nor_close(&bench_nor);
}

/// Main ///

int main(int argc, char **argv)
{
    double t0 = bench_now_ms();
    uint32_t i;

    setvbuf(stdout, NULL, _IOLBF, 0);
#ifndef NDEBUG
    bench_quick = 1;
#endif
    for (i = 1; i < (uint32_t)argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            bench_quick = 1;
        } else if (strcmp(argv[i], "--full") == 0) {
            bench_quick = 0;
        } else {
            fprintf(stderr, "usage: bench_store [--quick|--full]\n");
            return 2;
        }
    }
    for (i = 0; i < sizeof(bench_src); i++) {
        bench_src[i] = (uint8_t)(32u + bench_rand() % 95u);
    }
    printf("# lwmail store benchmark%s: 4 KiB blocks, prog 4, RAM NOR\n",
           bench_quick ? " (--quick)" : "");
#ifndef NDEBUG
    if (bench_quick) {
        printf("# not a Release build: quick workloads (--full overrides)\n");
    }
#endif
    printf("# options: LWM_STORE_MAX_MSGS=%d LWM_STORE_MAX_BLOCKS=%d "
           "LWM_GC_STEP_BYTES=%d LWM_WEAR_SPREAD=%d\n", LWM_STORE_MAX_MSGS,
           LWM_STORE_MAX_BLOCKS, LWM_GC_STEP_BYTES, LWM_WEAR_SPREAD);
    printf("# cost model: program 1 MB/s, erase 50 ms per block "
           "(= %.0f bytes of programming)\n", BENCH_ERASE_COST);
    printf("# target ram_per_msg <= 16 B\n");
    printf("ram_per_msg: %zu bytes\n", sizeof(struct lwm_msg_ent));
    printf("ram_per_block: %zu bytes\n", sizeof(struct lwm_blk_ent));
    printf("ram_per_mbox: %zu bytes\n", sizeof(struct lwm_mbox_ent));
    printf("ram_store_bench_config: %zu bytes\n", sizeof(struct lwm_store));

    printf("# target mount_10k_ms < 50 ms\n");
    bench_mount();
    printf("# target wa_append <= 1.10\n");
    bench_append_pure();
    printf("# target wa_steady80_oldest <= 1.30\n");
    bench_steady(0, 80);
    printf("# target wa_steady80_random <= 2.50\n");
    bench_steady(1, 80);
    printf("# the same at 70%% full, for comparison\n");
    bench_steady(1, 70);
    printf("# the same with 64 KiB erase blocks (16 MiB of flash)\n");
    bench_block = 65536u;
    bench_steady(1, 80);
    bench_steady(1, 70);
    bench_block = 4096u;
    printf("bench_total_s: %.1f s\n", (bench_now_ms() - t0) / 1e3);
    return 0;
}
