/*
 * Regression tests for damage and error paths found in review:
 *  1. a failed lwm_append_write makes the append fail at commit (never a
 *     committed message whose length counts bytes that were not written);
 *  2. one flipped bit inside a journal group that spans two blocks drops
 *     the whole group (a MOVE is all or nothing), never half of it;
 *  3. a message dropped at mount because its body header is damaged stays
 *     dropped: its entry can't come back later pointing at another user's
 *     body that was written at the same address.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "lwm_nor.h"
#include "lwmail/lwm_store.h"

static struct lwm_store st;
static struct lwm_nor nor;
static uint8_t buf[65536];

static int append(int mb, const char *fill, uint32_t len, uint32_t *body)
{
    uint32_t i, addr;
    size_t fl = strlen(fill);
    int a, err;
    for (i = 0; i < len; i++)
        buf[i] = (uint8_t)fill[i % fl];
    a = lwm_append_begin(&st, mb, 1000, 0);
    if (a < 0)
        return a;
    err = lwm_append_write(&st, a, buf, len);
    if (err < 0) {
        lwm_append_abort(&st, a);
        return err;
    }
    addr = st.appends[a].body;
    err = lwm_append_commit(&st, a);
    if (body)
        *body = addr;
    return err;
}

static void failed_write(void)
{
    int u, inbox, a, err = 0, uid;
    uint32_t ok = 0;
    REQUIRE(lwm_nor_open(&nor, NULL, 1024, 16, 4, 4, 0) == 0);
    REQUIRE(lwm_store_format(&st, &nor.flash) == 0);
    u = lwm_user_create(&st, "alice");
    inbox = lwm_mbox_find(&st, u, "INBOX", 5);
    a = lwm_append_begin(&st, inbox, 1, 0);
    REQUIRE(a >= 0);
    memset(buf, 'x', 3000);
    while (ok < 1000000 && (err = lwm_append_write(&st, a, buf, 3000)) == 0)
        ok += 3000;
    CHECK(err == LWM_ERR_NOSPC);
    /* the append is spoiled: more writes and the commit fail */
    CHECK(lwm_append_write(&st, a, buf, 10) == err);
    uid = lwm_append_commit(&st, a);
    CHECK(uid == LWM_ERR_NOSPC);
    CHECK(lwm_msg_count(&st, inbox) == 0);
    CHECK(lwm_store_check(&st, 1) == 0);
    /* the stream is usable again for a message that fits */
    CHECK(append(inbox, "small ", 200, NULL) == 1);
    CHECK(lwm_store_unmount(&st) == 0);
    REQUIRE(lwm_store_mount(&st, &nor.flash) == 0);
    CHECK(lwm_msg_count(&st, inbox) == 1 && lwm_store_check(&st, 1) == 0);
    CHECK(nor.violations == 0);
    lwm_nor_close(&nor);
}

/* Offsets of the MSGS records flagged CONT in META block b. */
static uint32_t cont_msgs(uint32_t b, uint32_t *last, uint32_t *prev)
{
    const uint8_t *p = nor.mem + b * 1024u;
    uint32_t o = st.hdr_size, n = 0;
    *last = *prev = 0;
    if (p[16] != 1)             /* part B type: META (prog 4: A is 16) */
        return 0;
    while (o + 8 <= 1024 && p[o] != 0xFF) {
        uint32_t l = (uint32_t)(p[o + 2] | p[o + 3] << 8);
        if (p[o] == 0x05 && (p[o + 1] & 1)) {
            *prev = *last;
            *last = o;
            n++;
        }
        o += (8 + l + 3) / 4 * 4;
    }
    return n;
}

static void torn_group(void)
{
    int u, inbox, arch, i, flipped = 0;
    uint32_t uids[30], cnt, b;
    REQUIRE(lwm_nor_open(&nor, NULL, 1024, 64, 4, 4, 0) == 0);
    REQUIRE(lwm_store_format(&st, &nor.flash) == 0);
    u = lwm_user_create(&st, "alice");
    inbox = lwm_mbox_find(&st, u, "INBOX", 5);
    arch = lwm_mbox_find(&st, u, "Archive", 7);
    for (i = 0; i < 30; i++) {
        int r = append(inbox, "hello ", 40, NULL);
        REQUIRE(r > 0);
        uids[i] = (uint32_t)r;
    }
    /* pad the journal so that the MOVE's group crosses a block end */
    for (i = 0; i < 200; i++) {
        uint32_t room = 1024 - st.meta_off;
        if (room >= 448 && room < 448 + 76)
            break;
        REQUIRE(lwm_store_flags(&st, inbox, &uids[0], 1, LWM_FLAGS_SET,
                                (i & 1) ? LWM_FLAG_SEEN : 0) >= 0);
    }
    REQUIRE(lwm_copy(&st, inbox, arch, uids, 30, 1, &cnt) > 0 && cnt == 30);
    CHECK(lwm_store_unmount(&st) == 0);
    /* flip one bit in a CONT record of the group: the record's CRC fails */
    for (b = 0; b < 64 && !flipped; b++) {
        uint32_t last, prev;
        if (cont_msgs(b, &last, &prev) >= 2 && 1024 - (last + 224) < 80) {
            nor.mem[b * 1024u + last + 20] ^= 1;
            flipped = 1;
        }
    }
    CHECK(flipped);
    REQUIRE(lwm_store_mount(&st, &nor.flash) == 0);
    /* all 30 where they were before the move, or all 30 moved */
    CHECK(lwm_msg_count(&st, inbox) + lwm_msg_count(&st, arch) == 30);
    CHECK(lwm_msg_count(&st, inbox) == 30 || lwm_msg_count(&st, arch) == 30);
    CHECK(lwm_store_check(&st, 1) == 0);
    lwm_nor_close(&nor);
}

static void dropped_stays_dropped(void)
{
    int ua, ub, ia, ib, it;
    uint32_t big, a_body = 0, b_body = 0;
    REQUIRE(lwm_nor_open(&nor, NULL, 4096, 16, 4, 4, 0) == 0);
    REQUIRE(lwm_store_format(&st, &nor.flash) == 0);
    ua = lwm_user_create(&st, "alice");
    ub = lwm_user_create(&st, "bob");
    ia = lwm_mbox_find(&st, ua, "INBOX", 5);
    ib = lwm_mbox_find(&st, ub, "INBOX", 5);
    big = 4096 - st.hdr_size - 16 - 20 - 8;
    REQUIRE(append(ia, "alice-secret ", big, &a_body) == 1);
    CHECK(lwm_store_unmount(&st) == 0);
    nor.mem[a_body + 5] ^= 1;               /* damage alice's body header */
    REQUIRE(lwm_store_mount(&st, &nor.flash) == 0);
    CHECK(lwm_msg_count(&st, ia) == 0 && lwm_store_check(&st, 0) == 0);
    /* bob's mail cycles through the flash until it lands where alice's
     * body was */
    for (it = 0; it < 200; it++) {
        uint32_t uid;
        while (lwm_store_gc_step(&st) > 0)
            ;
        REQUIRE(append(ib, "bob-private ", big, &b_body) > 0);
        if (b_body == a_body)
            break;
        uid = st.msgs[st.mboxes[ib].first].uid;
        REQUIRE(lwm_expunge(&st, ib, &uid, 1) == 1);
    }
    CHECK(b_body == a_body);
    CHECK(lwm_store_unmount(&st) == 0);
    REQUIRE(lwm_store_mount(&st, &nor.flash) == 0);
    CHECK(lwm_msg_count(&st, ia) == 0);     /* alice sees nothing of bob's */
    CHECK(lwm_msg_count(&st, ib) == 1);
    CHECK(lwm_store_check(&st, 1) == 0);
    lwm_nor_close(&nor);
}

int main(void)
{
    failed_write();
    torn_group();
    dropped_stays_dropped();
    return check_summary("test_store_damage");
}
