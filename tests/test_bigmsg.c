/*
 * A 50 MB message through a store configured for a 64 KiB-RAM device.
 *
 * The store is compiled here with small limits (as a board's lwm_config.h
 * would set them), so struct lwm_store itself is far below 64 KiB. The
 * message streams in 4 KiB chunks, is committed, survives a remount, and
 * reads back byte-exact (checked against the generator, never held in RAM),
 * including random ranges across block boundaries. Then it is copied
 * (bodies shared: no bytes written), expunged and the space comes back.
 *
 * LWM_TEST_TIMEOUT: 1200
 */
#define LWM_STORE_MAX_MSGS 256
#define LWM_STORE_MAX_MBOXES 8
#define LWM_STORE_MAX_USERS 1
#define LWM_KEYWORDS_MAX 4
#define LWM_STORE_MAX_BLOCKS 1024
#define LWM_STORE_MAX_APPENDS 2
#include "../src/store/store.c"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "lwm_nor.h"

#define BIG (50u * 1024u * 1024u)
#define RAM_BUDGET (64u * 1024u)

static struct lwm_nor nor;
static struct lwm_store st;
static uint8_t chunk[4096];

/* Byte i of the test message: cheap to recompute anywhere. */
static uint8_t gen(uint32_t i)
{
    uint32_t x = i * 2654435761u;
    x ^= x >> 13;
    return (uint8_t)(x ^ (i >> 12));
}

static int read_back_ok(const struct lwm_msg *m, uint32_t off, uint32_t len)
{
    while (len > 0) {
        uint32_t k = len < sizeof chunk ? len : (uint32_t)sizeof chunk, i;
        int n = lwm_msg_read(&st, m, off, chunk, k);
        if (n != (int)k)
            return 0;
        for (i = 0; i < k; i++)
            if (chunk[i] != gen(off + i))
                return 0;
        off += k, len -= k;
    }
    return 1;
}

int main(void)
{
    struct lwm_msg m;
    struct lwm_store_stats s0, s1;
    int user, inbox, arch, a, uid, i;
    uint32_t off, cnt, u;
    uint64_t p0;

    printf("sizeof(struct lwm_store) = %zu bytes with this configuration "
           "(budget %u)\n", sizeof st, RAM_BUDGET);
    REQUIRE(sizeof st < RAM_BUDGET / 2);
    /* 64 MiB of NOR in 64 KiB blocks, program unit 16 */
    REQUIRE(lwm_nor_open(&nor, NULL, 65536, 1024, 16, 16, 0) == 0);
    REQUIRE(lwm_store_format(&st, &nor.flash) == 0);
    user = lwm_user_create(&st, "owner");
    REQUIRE(user > 0);
    inbox = lwm_mbox_find(&st, user, "INBOX", 5);
    arch = lwm_mbox_find(&st, user, "Archive", 7);
    REQUIRE(inbox >= 0 && arch >= 0);

    a = lwm_append_begin(&st, inbox, 1700000000u, 0);
    REQUIRE(a >= 0);
    for (off = 0; off < BIG; off += sizeof chunk) {
        uint32_t k = BIG - off < sizeof chunk ? BIG - off : sizeof chunk, j;
        for (j = 0; j < k; j++)
            chunk[j] = gen(off + j);
        if (!CHECK(lwm_append_write(&st, a, chunk, k) == 0))
            break;
    }
    uid = lwm_append_commit(&st, a);
    CHECK(uid == 1);
    printf("appended %u bytes: %" PRIu64 " bytes programmed (x%.4f)\n", BIG,
           nor.prog_bytes, (double)nor.prog_bytes / BIG);
    CHECK(nor.prog_bytes < (uint64_t)BIG * 11 / 10);
    CHECK(nor.violations == 0);

    /* remount: still there, byte-exact */
    REQUIRE(lwm_store_unmount(&st) == 0);
    REQUIRE(lwm_store_mount(&st, &nor.flash) == 0);
    inbox = lwm_mbox_find(&st, user, "INBOX", 5);
    arch = lwm_mbox_find(&st, user, "Archive", 7);
    REQUIRE(lwm_msg_count(&st, inbox) == 1);
    REQUIRE(lwm_msg_get(&st, inbox, 0, &m) == 0);
    CHECK(m.uid == 1 && m.size == BIG && m.date == 1700000000u);
    CHECK(read_back_ok(&m, 0, BIG));
    srand(7);
    for (i = 0; i < 200; i++) {
        uint32_t o = (uint32_t)rand() % BIG;
        uint32_t n = 1 + (uint32_t)rand() % 70000;
        if (n > BIG - o)
            n = BIG - o;
        if (!CHECK(read_back_ok(&m, o, n)))
            printf("range %" PRIu32 "+%" PRIu32 " differs\n", o, n);
    }
    CHECK(read_back_ok(&m, BIG - 1, 1));
    CHECK(lwm_msg_read(&st, &m, BIG, chunk, 10) == 0);
    CHECK(lwm_store_check(&st, 1) == 0);

    /* copy shares the body */
    lwm_store_stats(&st, &s0);
    p0 = nor.prog_bytes;
    u = 1;
    CHECK(lwm_copy(&st, inbox, arch, &u, 1, 0, &cnt) == 1 && cnt == 1);
    CHECK(nor.prog_bytes - p0 < 1024);
    lwm_store_stats(&st, &s1);
    CHECK(s1.blocks_free == s0.blocks_free);

    /* expunge both: after GC the space is back */
    CHECK(lwm_expunge(&st, inbox, &u, 1) == 1);
    CHECK(lwm_expunge(&st, arch, &u, 1) == 1);
    for (i = 0; i < 100000 && lwm_store_gc_step(&st) == 1; i++)
        ;
    lwm_store_stats(&st, &s1);
    printf("after expunge + %d GC steps: %" PRIu32 "/%" PRIu32
           " blocks free\n", i, s1.blocks_free, s1.blocks_total);
    CHECK(s1.blocks_free + 4 >= s1.blocks_total);
    CHECK(lwm_store_check(&st, 1) == 0);
    CHECK(nor.violations == 0);
    lwm_nor_close(&nor);
    return check_summary("test_bigmsg");
}
