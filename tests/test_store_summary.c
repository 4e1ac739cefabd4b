/*
 * Per-message summaries (lwm_append_summary / lwm_msg_summary): stored with
 * the message in its body stream, read back at any offset, shared by
 * copies, carried through GC moves and remounts, covered by the check's
 * CRC, and kept apart from the message bytes (reads of the message never
 * return summary bytes, not even zero-copy ones).
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "testutil.h"
#include "lwm_nor.h"
#include "lwmail/lwm_store.h"

static struct lwm_store st;
static struct lwm_nor nor;
static uint8_t buf[20000], got[20000];

static void fill(uint8_t *p, uint32_t n, uint32_t seed)
{
    uint32_t i, x = seed * 2654435761u + 1;
    for (i = 0; i < n; i++)
        p[i] = (uint8_t)xorshift32(&x);
}

/* Append a message of len bytes with a summary of slen bytes (seeded). */
static int append(int mb, uint32_t seed, uint32_t len, uint32_t slen)
{
    int a = lwm_append_begin(&st, mb, 1234, 0), err;
    if (a < 0)
        return a;
    fill(buf, len, seed);
    err = lwm_append_write(&st, a, buf, len);
    fill(buf, slen, seed + 1000000);
    if (!err && slen) {
        /* in two pieces, as a streaming parser would */
        err = lwm_append_summary(&st, a, buf, slen / 3);
        if (!err)
            err = lwm_append_summary(&st, a, buf + slen / 3,
                                     slen - slen / 3);
    }
    if (err) {
        lwm_append_abort(&st, a);
        return err;
    }
    return lwm_append_commit(&st, a);
}

static int same(int mb, uint32_t uid, uint32_t seed, uint32_t len,
                uint32_t slen)
{
    struct lwm_msg m;
    const uint8_t *p;
    int i = lwm_msg_find(&st, mb, uid, 0), n;
    if (i < 0 || lwm_msg_get(&st, mb, (uint32_t)i, &m) != 0)
        return 0;
    if (m.size != len || m.sum_len != slen)
        return 0;
    fill(buf, len, seed);
    if (lwm_msg_read(&st, &m, 0, got, len + 100) != (int)len ||
        memcmp(got, buf, len) != 0)
        return 0;
    /* zero-copy reads stop at the message's end */
    if (st.flash->mapped) {
        uint32_t off = 0;
        while ((n = lwm_msg_ptr(&st, &m, off, &p)) > 0)
            off += (uint32_t)n;
        if (n < 0 || off != len)
            return 0;
    }
    fill(buf, slen, seed + 1000000);
    if (lwm_msg_summary(&st, &m, 0, got, slen + 100) != (int)slen ||
        memcmp(got, buf, slen) != 0)
        return 0;
    if (slen > 10 && (lwm_msg_summary(&st, &m, 7, got, 3) != 3 ||
                      memcmp(got, buf + 7, 3) != 0))
        return 0;
    return lwm_msg_summary(&st, &m, slen, got, 10) == 0;
}

static void run(uint32_t bs, uint32_t nblocks, uint32_t prog, int mapped)
{
    int u, inbox, arch, i, uids[40];
    uint32_t sizes[40], ssizes[40], cnt, uid;
    struct lwm_msg m;

    REQUIRE(lwm_nor_open(&nor, NULL, bs, nblocks, prog, prog, mapped) == 0);
    REQUIRE(lwm_store_format(&st, &nor.flash) == 0);
    u = lwm_user_create(&st, "u");
    inbox = lwm_mbox_find(&st, u, "INBOX", 5);
    arch = lwm_mbox_find(&st, u, "Archive", 7);
    for (i = 0; i < 40; i++) {
        sizes[i] = 100 + (uint32_t)i * 97 % 3000 + (i % 7 == 0 ? bs * 2 : 0);
        ssizes[i] = i % 5 == 0 ? 0 : 20 + (uint32_t)i * 53 % 1500;
        uids[i] = append(inbox, (uint32_t)i, sizes[i], ssizes[i]);
        REQUIRE(uids[i] > 0);
    }
    for (i = 0; i < 40; i++)
        CHECK(same(inbox, (uint32_t)uids[i], (uint32_t)i, sizes[i],
                   ssizes[i]));
    CHECK(lwm_store_check(&st, 1) == 0);

    /* a summary after the summary is fine, a message byte is not */
    {
        int a = lwm_append_begin(&st, inbox, 1, 0);
        REQUIRE(a >= 0);
        CHECK(lwm_append_write(&st, a, "abc", 3) == 0);
        CHECK(lwm_append_summary(&st, a, "S", 1) == 0);
        CHECK(lwm_append_write(&st, a, "d", 1) == LWM_ERR_INVAL);
        lwm_append_abort(&st, a);
    }

    /* copies share the summary */
    uid = (uint32_t)uids[1];
    CHECK(lwm_copy(&st, inbox, arch, &uid, 1, 0, &cnt) > 0 && cnt == 1);
    CHECK(lwm_msg_get(&st, arch, 0, &m) == 0 &&
          same(arch, m.uid, 1, sizes[1], ssizes[1]));

    /* expunge every other message and compact: the rest move */
    for (i = 0; i < 40; i += 2) {
        uid = (uint32_t)uids[i];
        CHECK(lwm_expunge(&st, inbox, &uid, 1) == 1);
    }
    for (i = 0; i < 20; i++) {
        int k;
        CHECK(lwm_store_gc_force(&st) == 0);
        for (k = 0; k < 100000 && lwm_store_gc_step(&st) == 1; k++)
            ;
    }
    CHECK(st.st.gc_moved_bodies > 0);
    for (i = 1; i < 40; i += 2)
        CHECK(same(inbox, (uint32_t)uids[i], (uint32_t)i, sizes[i],
                   ssizes[i]));
    CHECK(lwm_store_check(&st, 1) == 0);

    /* and after a remount */
    CHECK(lwm_store_unmount(&st) == 0);
    REQUIRE(lwm_store_mount(&st, &nor.flash) == 0);
    inbox = lwm_mbox_find(&st, u, "INBOX", 5);
    for (i = 1; i < 40; i += 2)
        CHECK(same(inbox, (uint32_t)uids[i], (uint32_t)i, sizes[i],
                   ssizes[i]));
    CHECK(lwm_store_check(&st, 1) == 0);

    /* a flipped summary byte is caught by the check's CRC */
    {
        uint32_t addr, j;
        i = lwm_msg_find(&st, inbox, (uint32_t)uids[3], 0);
        REQUIRE(i >= 0 && lwm_msg_get(&st, inbox, (uint32_t)i, &m) == 0);
        REQUIRE(m.sum_len > 0);
        /* find the summary's first byte in the image by its content */
        fill(buf, m.sum_len, 3 + 1000000);
        for (addr = 0, j = 0; addr + 8 < bs * nblocks; addr++)
            if (memcmp(nor.mem + addr, buf, 8) == 0) {
                j = 1;
                break;
            }
        CHECK(j == 1);
        if (j) {
            nor.mem[addr + 1] ^= 0x40;
            CHECK(lwm_store_check(&st, 1) == LWM_ERR_CORRUPT);
            nor.mem[addr + 1] ^= 0x40;
            CHECK(lwm_store_check(&st, 1) == 0);
        }
    }
    CHECK(nor.violations == 0);
    lwm_nor_close(&nor);
}

int main(void)
{
    run(4096, 64, 4, 1);
    run(1024, 256, 1, 0);
    run(2048, 128, 32, 0);
    return check_summary("test_store_summary");
}
