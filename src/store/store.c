/*
 * lwmail store - log-structured message store on raw NOR flash.
 *
 * Read docs/FORMAT.md (the bytes) and docs/DESIGN.md (the why) first. This
 * file reads top to bottom: flash access, block headers and allocation, the
 * journal, the RAM index, bodies (append and read), mount, the public API,
 * garbage collection and snapshots, and the consistency check.
 *
 * Invariants kept throughout (DESIGN.md explains them):
 *  I1 a change is applied to RAM only after its journal records are synced;
 *  I2 nothing that a live RAM entry references is ever erased: a body's
 *     block is erased only after every entry pointing at it was moved and
 *     that move was synced;
 *  I3 the store never programs a byte twice between erases;
 *  I4 all work per call is bounded by the flash size, and GC work per
 *     lwm_store_gc_step() by one erase or LWM_GC_STEP_BYTES of copying.
 */
#include <string.h>

#include "store_int.h"

#define BS(s)        ((s)->bs)
#define NBLK(s)      ((s)->nblk)
#define A_SIZE(s)    ((uint32_t)(s)->a_size)
#define B_SIZE(s)    lwm_align_up(BLK_B_FIXED + 4u * BLK_SKIP, (s)->unit)
#define F_SIZE(s)    lwm_align_up(BLK_F_BYTES, (s)->unit)
#define HS(s)        ((uint32_t)(s)->hs)
#define CS(s)        ((uint32_t)(s)->cs)
#define PAYLOAD(s)   (BS(s) - (s)->hdr_size)
#define GC_HEAD      LWM_STORE_MAX_APPENDS
/* Compaction moves bodies of up to this many blocks; bigger ones only for
 * wear levelling (moving 50 MB to reclaim 1 KB is a bad trade). */
#define GC_MOVE_MAX_BLOCKS 4u

static int gc_step_(struct lwm_store *s, int inline_alloc);
static void head_detach(struct lwm_store *s, uint32_t b);

/* ==================================================== flash access === */

static int fl_fail(struct lwm_store *s, int err)
{
    if (err < 0 && err != LWM_ERR_NOSPC)
        s->failed = 1;
    return err;
}

/* Read any byte range; handles read_size alignment with a small bounce. */
static int fl_read(struct lwm_store *s, uint32_t addr, void *buf,
                   uint32_t len)
{
    const struct lwm_flash *f = s->flash;
    uint8_t *out = buf;
    uint32_t rs = f->read_size;

    s->st.bytes_read += len;
    if (f->mapped) {
        memcpy(out, f->mapped + addr, len);
        return 0;
    }
    while (len > 0) {
        uint32_t base = addr - addr % rs;
        uint32_t skip = addr - base;
        int err;
        if (skip == 0 && len >= rs) {
            uint32_t n = len - len % rs;
            err = f->read(f, addr, out, n);
            if (err)
                return err < 0 ? err : LWM_ERR_IO;
            addr += n, out += n, len -= n;
        } else {
            uint8_t tmp[32];
            uint32_t n = rs - skip;
            if (n > len)
                n = len;
            err = f->read(f, base, tmp, rs);
            if (err)
                return err < 0 ? err : LWM_ERR_IO;
            memcpy(out, tmp + skip, n);
            addr += n, out += n, len -= n;
        }
    }
    return 0;
}

static int fl_read32(struct lwm_store *s, uint32_t addr, uint32_t *v)
{
    uint8_t b[4];
    int err = fl_read(s, addr, b, 4);
    *v = lwm_get32(b);
    return err;
}

/* Program whole units; addr and len are multiples of the prog size. */
static int fl_prog(struct lwm_store *s, uint32_t addr, const void *buf,
                   uint32_t len)
{
    const struct lwm_flash *f = s->flash;
    int err;
    if (s->failed)
        return LWM_ERR_IO;
    err = f->prog(f, addr, buf, len);
    if (err)
        return fl_fail(s, err < 0 ? err : LWM_ERR_IO);
    s->st.bytes_programmed += len;
    return 0;
}

static int fl_sync(struct lwm_store *s)
{
    int err;
    if (s->failed)
        return LWM_ERR_IO;
    err = s->flash->sync(s->flash);
    if (err)
        return fl_fail(s, err < 0 ? err : LWM_ERR_IO);
    return 0;
}

/* Are len bytes at addr all 0xFF? 1 yes, 0 no, <0 error. Uses its own
 * buffer: it runs inside allocations, while s->buf and s->rbuf may hold
 * data on its way to flash. */
static int fl_is_erased(struct lwm_store *s, uint32_t addr, uint32_t len)
{
    uint8_t tmp[64];
    while (len > 0) {
        uint32_t n = len < sizeof tmp ? len : (uint32_t)sizeof tmp;
        uint32_t i;
        int err = fl_read(s, addr, tmp, n);
        if (err)
            return err;
        for (i = 0; i < n; i++)
            if (tmp[i] != 0xFF)
                return 0;
        addr += n, len -= n;
    }
    return 1;
}

/* =================================================== block headers === */

static uint32_t blk_addr(const struct lwm_store *s, uint32_t b)
{
    return b * BS(s);
}

/* Erase block b and write its part A with the incremented erase count. */
static int blk_erase(struct lwm_store *s, uint32_t b)
{
    const struct lwm_flash *f = s->flash;
    struct lwm_blk_ent *e = &s->blks[b];
    uint8_t a[32];
    uint32_t an = A_SIZE(s);
    int err;

    if (s->failed)
        return LWM_ERR_IO;
    err = f->erase(f, b);
    if (err)
        return fl_fail(s, err < 0 ? err : LWM_ERR_IO);
    s->st.erases++;
    s->gc_stall = 0;
    e->erase_count++;
    e->state = LWM_BLK_DIRTY;
    e->flags = 0;
    e->live = 0;
    e->pins = 0;
    memset(a, 0xFF, sizeof a);
    lwm_put32(a, BLK_MAGIC);
    a[4] = LWM_DISK_VERSION;
    lwm_put32(a + 8, e->erase_count);
    lwm_put32(a + 12, lwm_crc32c(0, a, 12));
    err = fl_prog(s, blk_addr(s, b), a, an);
    if (err)
        return err;
    e->state = LWM_BLK_FREE;
    return 0;
}

static uint32_t ctz32(uint32_t v)
{
    uint32_t n = 0;
    while (!(v & 1u)) {
        v >>= 1;
        n++;
    }
    return n;
}

static uint32_t log2_floor(uint32_t v)
{
    uint32_t n = 0;
    while (v >>= 1)
        n++;
    return n;
}

static uint32_t skip_count(uint32_t n)
{
    uint32_t k;
    if (n == 0)
        return 0;
    k = ctz32(n) + 1;
    return k > BLK_SKIP ? BLK_SKIP : k;
}

/* From DATA block blk at chain position n, follow skip pointers back to
 * chain position target (<= n). O(log(n - target)) reads. */
static int chain_seek(struct lwm_store *s, uint32_t blk, uint32_t n,
                      uint32_t target, uint32_t *blk_r)
{
    uint32_t hops = 0;
    while (n > target) {
        uint32_t x = ctz32(n), d = log2_floor(n - target), next;
        int err;
        if (x > d)
            x = d;
        if (x >= BLK_SKIP)
            x = BLK_SKIP - 1;
        if (blk >= NBLK(s) || s->blks[blk].state != LWM_BLK_DATA ||
            ++hops > 64)
            return LWM_ERR_CORRUPT;
        err = fl_read32(s, blk_addr(s, blk) + A_SIZE(s) + BLK_B_FIXED +
                               4u * x, &next);
        if (err)
            return err;
        blk = next;
        n -= 1u << x;
        /* the block must be where the pointer says: a forged pointer
         * must not send the walk around in circles */
        if (blk >= NBLK(s) || s->blks[blk].state != LWM_BLK_DATA)
            return LWM_ERR_CORRUPT;
        err = fl_read32(s, blk_addr(s, blk) + A_SIZE(s) + 8, &next);
        if (err)
            return err;
        if (next != n)
            return LWM_ERR_CORRUPT;
    }
    if (blk >= NBLK(s) || s->blks[blk].state != LWM_BLK_DATA)
        return LWM_ERR_CORRUPT;
    *blk_r = blk;
    return 0;
}

/* Blocks that are free or can be made free by an erase alone. */
static uint32_t blk_free_count(const struct lwm_store *s)
{
    uint32_t b, n = 0;
    for (b = 0; b < NBLK(s); b++)
        if (s->blks[b].state <= LWM_BLK_FREE)
            n++;
    return n;
}

/* Blocks a snapshot of the current state needs (an estimate from above:
 * 16 bytes a message plus record overhead, mailboxes, users). */
static uint32_t snap_blocks(const struct lwm_store *s)
{
    uint32_t est = s->nmsgs * 18u + 64u, i;
    for (i = 0; i < LWM_STORE_MAX_MBOXES; i++)
        if (s->mboxes[i].id)
            est += 64u + 32u * s->mboxes[i].nkeywords;
    for (i = 0; i < LWM_STORE_MAX_USERS; i++)
        if (s->users[i].id)
            est += 48u;
    return est / (PAYLOAD(s) - 64u) + 1;
}

/* Who may take the last free blocks. User data must leave room for the
 * GC to work and for the journal to be snapshotted; the GC must leave room
 * for the journal records that repoint what it moved (and a snapshot); the
 * journal may take everything (an expunge must always be possible). */
enum { TIER_USER = 0, TIER_GC = 1, TIER_META = 2 };

static uint32_t blk_reserve(const struct lwm_store *s, int tier)
{
    switch (tier) {
    case TIER_USER: return 4u + snap_blocks(s);
    case TIER_GC:
        /* compaction frees more than it takes, but a snapshot under way
         * frees nothing until it ends: leave it the room to end */
        return 1u + (s->snap_active ? snap_blocks(s) : 0u);
    default: return 0;
    }
}

/* Take the least worn free block and write part B (type, seq, chain). */
static int blk_alloc(struct lwm_store *s, uint8_t type, uint32_t n,
                     const uint32_t *ptrs, uint32_t cont,
                     int tier, uint32_t *blk_r)
{
    uint32_t b, best = LWM_NONE;
    uint8_t hdr[BLK_B_FIXED + 4 * BLK_SKIP];
    uint32_t np = skip_count(n), i;
    int err;

    if (tier != TIER_META && blk_free_count(s) <= blk_reserve(s, tier))
        return LWM_ERR_NOSPC;
    if (s->next_seq == LWM_NONE)
        return LWM_ERR_CORRUPT;   /* 2^32 allocations: worn out long ago */
    for (;;) {
        best = LWM_NONE;
        for (b = 0; b < NBLK(s); b++) {
            const struct lwm_blk_ent *e = &s->blks[b];
            if (e->state > LWM_BLK_FREE)
                continue;
            if (best == LWM_NONE ||
                e->state > s->blks[best].state ||   /* FREE before DIRTY */
                (e->state == s->blks[best].state &&
                 e->erase_count < s->blks[best].erase_count))
                best = b;
        }
        if (best == LWM_NONE)
            return LWM_ERR_NOSPC;
        if (s->blks[best].state == LWM_BLK_DIRTY) {
            err = blk_erase(s, best);
            if (err)
                return err;
            continue;
        }
        if (s->blks[best].flags & LWM_BLKF_VERIFY) {
            /* FREE according to mount: make sure no torn program hides
             * past the header before we trust it as erased. */
            err = fl_is_erased(s, blk_addr(s, best) + A_SIZE(s),
                               BS(s) - A_SIZE(s));
            if (err < 0)
                return err;
            s->blks[best].flags &= (uint8_t)~LWM_BLKF_VERIFY;
            if (err == 0) {
                s->blks[best].state = LWM_BLK_DIRTY;
                continue;
            }
        }
        break;
    }
    memset(hdr, 0xFF, sizeof hdr);
    hdr[0] = type;
    hdr[1] = (uint8_t)np;
    lwm_put32(hdr + 4, s->next_seq);
    lwm_put32(hdr + 8, n);
    lwm_put32(hdr + 12, cont);
    for (i = 0; i < np; i++)
        lwm_put32(hdr + BLK_B_FIXED + 4 * i, ptrs ? ptrs[i] : LWM_NONE);
    {
        uint32_t crc = lwm_crc32c(0, hdr, 16);
        crc = lwm_crc32c(crc, hdr + BLK_B_FIXED, 4u * np);
        lwm_put32(hdr + 16, crc);
    }
    err = fl_prog(s, blk_addr(s, best) + A_SIZE(s), hdr,
                  lwm_align_up(BLK_B_FIXED + 4u * np, s->unit));
    if (err)
        return err;
    s->blks[best].state = type == BLK_TYPE_META ? LWM_BLK_META
                                                : LWM_BLK_DATA;
    s->blks[best].seq = s->next_seq++;
    s->blks[best].live = 0;
    s->blks[best].pins = 0;
    s->blks[best].written = 0;
    *blk_r = best;
    return 0;
}

/* ========================================================= journal === */

/* Payload is at s->rbuf + REC_HDR; frame it, pad it, program it. */
static int meta_write(struct lwm_store *s, uint8_t type, uint8_t flags,
                      uint32_t len)
{
    uint32_t total = lwm_align_up(REC_HDR + len + REC_CRC, s->unit);
    uint32_t crc;
    int err;

    if (s->failed)
        return LWM_ERR_IO;
    if (s->meta_blk == LWM_NONE || s->meta_off + total > BS(s)) {
        uint32_t b;
        err = blk_alloc(s, BLK_TYPE_META, 0, NULL, LWM_NONE, TIER_META, &b);
        if (err)
            return fl_fail(s, err == LWM_ERR_NOSPC ? LWM_ERR_IO : err);
        s->meta_blk = b;
        s->meta_off = s->hdr_size;
    }
    s->rbuf[0] = type;
    s->rbuf[1] = flags;
    lwm_put16(s->rbuf + 2, (uint16_t)len);
    crc = lwm_crc32c(0, s->rbuf, REC_HDR + len);
    lwm_put32(s->rbuf + REC_HDR + len, crc);
    memset(s->rbuf + REC_HDR + len + REC_CRC, 0xFF,
           total - (REC_HDR + len + REC_CRC));
    err = fl_prog(s, blk_addr(s, s->meta_blk) + s->meta_off, s->rbuf, total);
    if (err)
        return err;
    s->meta_off += total;
    s->journal_bytes += total;
    return 0;
}

/* Journal position while reading: a META block (by seq order) and offset. */
struct jpos {
    uint32_t blk, off;
};

/* The META block following blk in seq order, or LWM_NONE. */
static uint32_t meta_next_blk(const struct lwm_store *s, uint32_t blk)
{
    uint32_t b, best = LWM_NONE;
    uint32_t after = blk == LWM_NONE ? 0 : s->blks[blk].seq;
    for (b = 0; b < NBLK(s); b++) {
        const struct lwm_blk_ent *e = &s->blks[b];
        if (e->state != LWM_BLK_META)
            continue;
        if (blk != LWM_NONE && e->seq <= after)
            continue;
        if (best == LWM_NONE || e->seq < s->blks[best].seq)
            best = b;
    }
    return best;
}

/* Read the record at p into s->rbuf. Returns its total size (>0), 0 if
 * this block has no more valid records, <0 on I/O error. */
static int rec_read(struct lwm_store *s, const struct jpos *p)
{
    uint32_t len, total;
    int err;
    if (p->off + REC_HDR + REC_CRC > BS(s))
        return 0;
    err = fl_read(s, blk_addr(s, p->blk) + p->off, s->rbuf, REC_HDR);
    if (err)
        return err;
    if (s->rbuf[0] == 0xFF)
        return 0;
    len = lwm_get16(s->rbuf + 2);
    if (len > REC_PAYLOAD_MAX)
        return 0;
    total = lwm_align_up(REC_HDR + len + REC_CRC, s->unit);
    if (p->off + total > BS(s))
        return 0;
    err = fl_read(s, blk_addr(s, p->blk) + p->off + REC_HDR,
                  s->rbuf + REC_HDR, len + REC_CRC);
    if (err)
        return err;
    if (lwm_crc32c(0, s->rbuf, REC_HDR + len) !=
        lwm_get32(s->rbuf + REC_HDR + len))
        return 0;
    return (int)total;
}

/* Step p to the next valid record (crossing blocks). Returns its size,
 * 0 at the end of the journal. After a 0 return within a block, p moves
 * to the next block. p->off == 0 means "start of p->blk". With strict,
 * a block may only be left where it ends cleanly (erased from there on):
 * a group must not be completed across damage, so damage returns
 * LWM_ERR_CORRUPT instead. */
static int rec_next(struct lwm_store *s, struct jpos *p, int strict)
{
    for (;;) {
        int n;
        if (p->blk == LWM_NONE)
            return 0;
        if (p->off == 0)
            p->off = s->hdr_size;
        n = rec_read(s, p);
        if (n != 0)
            return n;
        if (strict && p->off + REC_HDR + REC_CRC <= BS(s)) {
            n = fl_is_erased(s, blk_addr(s, p->blk) + p->off,
                             BS(s) - p->off);
            if (n < 0)
                return n;
            if (n == 0)
                return LWM_ERR_CORRUPT;
        }
        p->blk = meta_next_blk(s, p->blk);
        p->off = 0;
    }
}

/* ======================================================= RAM index === */

static struct lwm_mbox_ent *mbox_by_id(struct lwm_store *s, uint32_t id,
                                       int *slot_r)
{
    int i;
    if (id == 0)
        return NULL;
    for (i = 0; i < LWM_STORE_MAX_MBOXES; i++)
        if (s->mboxes[i].id == id) {
            if (slot_r)
                *slot_r = i;
            return &s->mboxes[i];
        }
    return NULL;
}

/* Position of uid in mailbox slot m: index into msgs[] of the entry with
 * this uid, or of the first with a greater uid. *found set if equal. */
static uint32_t idx_lower(struct lwm_store *s, int m, uint32_t uid,
                          int *found)
{
    const struct lwm_mbox_ent *mb = &s->mboxes[m];
    uint32_t lo = mb->first, hi = mb->first + mb->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->msgs[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < mb->first + mb->count && s->msgs[lo].uid == uid;
    return lo;
}

static int idx_insert(struct lwm_store *s, int m, uint32_t pos,
                      const struct lwm_msg_ent *e)
{
    int j;
    if (s->nmsgs >= LWM_STORE_MAX_MSGS)
        return LWM_ERR_NOMEM;
    memmove(&s->msgs[pos + 1], &s->msgs[pos],
            (s->nmsgs - pos) * sizeof s->msgs[0]);
    s->msgs[pos] = *e;
    s->nmsgs++;
    s->mboxes[m].count++;
    for (j = m + 1; j < LWM_STORE_MAX_MBOXES; j++)
        s->mboxes[j].first++;
    return 0;
}

static void idx_remove(struct lwm_store *s, int m, uint32_t pos)
{
    int j;
    memmove(&s->msgs[pos], &s->msgs[pos + 1],
            (s->nmsgs - pos - 1) * sizeof s->msgs[0]);
    s->nmsgs--;
    s->mboxes[m].count--;
    for (j = m + 1; j < LWM_STORE_MAX_MBOXES; j++)
        s->mboxes[j].first--;
}

static int mbox_slot_alloc(struct lwm_store *s)
{
    int i;
    for (i = 0; i < LWM_STORE_MAX_MBOXES; i++)
        if (s->mboxes[i].id == 0)
            return i;
    return LWM_ERR_NOMEM;
}

static struct lwm_user_ent *user_by_id(struct lwm_store *s, uint32_t id)
{
    int i;
    if (id == 0)
        return NULL;
    for (i = 0; i < LWM_STORE_MAX_USERS; i++)
        if (s->users[i].id == id)
            return &s->users[i];
    return NULL;
}

/* A message enters (sign +1) or leaves (-1) a mailbox's totals. */
static void ent_add_counts(struct lwm_mbox_ent *mb, uint32_t flags,
                           uint32_t size, int sign)
{
    if (!(flags & LWM_FLAG_SEEN))
        mb->unseen += (uint32_t)sign;
    if (flags & LWM_FLAG_DELETED)
        mb->deleted += (uint32_t)sign;
    mb->size += (uint64_t)(int64_t)sign * size;
}

/* ========================================================== bodies === */

/* Bytes of the body's stream: the message, then its summary. */
static uint32_t body_total(const struct lwm_msg *m)
{
    return m->size + m->sum_len;
}

/* The H unit of a body (its first 16 bytes: type, version, date, chain
 * position, CRC); returns the CRC, which the C unit's CRC continues. */
static uint32_t body_h_unit(uint8_t hu[BODY_H_BYTES], uint32_t date,
                            uint32_t first_n)
{
    uint32_t hcrc;
    hu[0] = BODY_TYPE;
    hu[1] = BODY_VERSION;
    hu[2] = hu[3] = 0xFF;
    lwm_put32(hu + 4, date);
    lwm_put32(hu + 8, first_n);
    hcrc = lwm_crc32c(0, hu, 12);
    lwm_put32(hu + 12, hcrc);
    return hcrc;
}

/* Read the H and C units of the body at addr and check their CRCs:
 * LWM_ERR_CORRUPT if they fail (erased, or torn by a power cut). */
static int body_hc_read(struct lwm_store *s, uint32_t addr,
                        uint8_t h[BODY_H_BYTES], uint8_t c[BODY_C_BYTES])
{
    uint32_t hcrc;
    int err = fl_read(s, addr, h, BODY_H_BYTES);
    if (!err)
        err = fl_read(s, addr + HS(s), c, BODY_C_BYTES);
    if (err)
        return err;
    hcrc = lwm_crc32c(0, h, 12);
    if (h[0] != BODY_TYPE || h[1] != BODY_VERSION ||
        lwm_get32(h + 12) != hcrc ||
        lwm_get32(c + 24) != lwm_crc32c(hcrc, c, 24))
        return LWM_ERR_CORRUPT;
    return 0;
}

/* Read and check a body's H and C units into m (uid etc. untouched). */
static int body_info(struct lwm_store *s, uint32_t body, struct lwm_msg *m)
{
    uint8_t h[BODY_H_BYTES], c[BODY_C_BYTES];
    int err;

    if (body == LWM_NONE || body / BS(s) >= NBLK(s) ||
        body % BS(s) < s->hdr_size ||
        body % BS(s) + HS(s) + CS(s) > BS(s) ||
        s->blks[body / BS(s)].state != LWM_BLK_DATA)
        return LWM_ERR_CORRUPT;
    err = body_hc_read(s, body, h, c);
    if (err)
        return err;
    m->body = body;
    m->date = lwm_get32(h + 4);
    m->first_n = lwm_get32(h + 8);
    m->size = lwm_get32(c);
    m->last_blk = lwm_get32(c + 4);
    m->last_n = lwm_get32(c + 8);
    m->sum_len = lwm_get32(c + 16);
    if (m->last_blk == LWM_NONE) /* an aborted body */
        return LWM_ERR_NOENT;
    if (m->last_blk >= NBLK(s) || m->last_n < m->first_n ||
        m->size > LWM_MSG_SIZE_MAX || m->sum_len > LWM_SUMMARY_MAX)
        return LWM_ERR_CORRUPT;
    if (m->last_n == m->first_n) {
        if (m->last_blk != body / BS(s) ||
            body % BS(s) + HS(s) + CS(s) + body_total(m) > BS(s))
            return LWM_ERR_CORRUPT;
    } else {
        /* the bytes must fill the first block and the middle ones */
        uint64_t avail0 = BS(s) - body % BS(s) - HS(s) - CS(s);
        uint64_t full = (uint64_t)(m->last_n - m->first_n - 1) * PAYLOAD(s);
        if ((uint64_t)body_total(m) <= avail0 + full ||
            (uint64_t)body_total(m) > avail0 + full + PAYLOAD(s))
            return LWM_ERR_CORRUPT;
    }
    return 0;
}

/* Bytes a single-block body occupies (for live accounting). */
static uint32_t body_span1(const struct lwm_store *s, const struct lwm_msg *m)
{
    return HS(s) + CS(s) + lwm_align_up(body_total(m), s->unit);
}

/* Add (sign = +1) or remove (-1) one reference's worth of live bytes and
 * pins for body m to the blocks it spans; sign 0 only checks the chain.
 * A damaged chain changes nothing. */
static int body_account_(struct lwm_store *s, const struct lwm_msg *m,
                         int sign)
{
    uint32_t first = m->body / BS(s);
    if (m->last_n == m->first_n) {
        s->blks[first].live += (uint32_t)sign * body_span1(s, m);
        if (sign < 0)
            s->gc_stall = 0;
        return 0;
    } else {
        /* walk back from the last block along ptr[0] */
        uint32_t blk = m->last_blk, n = m->last_n;
        uint32_t avail0 = BS(s) - m->body % BS(s) - HS(s) - CS(s);
        uint32_t rest = body_total(m) - avail0 -
                        (m->last_n - m->first_n - 1) * PAYLOAD(s);
        for (;;) {
            struct lwm_blk_ent *e;
            uint32_t bytes;
            if (blk >= NBLK(s))
                return LWM_ERR_CORRUPT;
            e = &s->blks[blk];
            bytes = n == m->last_n ? lwm_align_up(rest, s->unit)
                  : n == m->first_n ? BS(s) - m->body % BS(s)
                  : PAYLOAD(s);
            e->live += (uint32_t)sign * bytes;
            e->pins = (uint16_t)(e->pins + sign);
            if (sign < 0)
                s->gc_stall = 0;
            if (n == m->first_n)
                return blk == first ? 0 : LWM_ERR_CORRUPT;
            {
                int err = chain_seek(s, blk, n, n - 1, &blk);
                if (err)
                    return err;
            }
            n--;
        }
    }
}

static int body_account(struct lwm_store *s, const struct lwm_msg *m,
                        int sign)
{
    int err = 0;
    if (m->last_n != m->first_n)
        err = body_account_(s, m, 0);
    return err ? err : body_account_(s, m, sign);
}

/* Where byte off of body m lives: flash address and contiguous length. */
static int body_locate(struct lwm_store *s, const struct lwm_msg *m,
                       uint32_t off, uint32_t *addr_r, uint32_t *avail_r)
{
    uint32_t first = m->body / BS(s);
    uint32_t off0 = m->body % BS(s) + HS(s) + CS(s);
    uint32_t avail0 = BS(s) - off0;
    uint32_t left = body_total(m) - off;
    if (off < avail0) {
        *addr_r = blk_addr(s, first) + off0 + off;
        *avail_r = avail0 - off < left ? avail0 - off : left;
    } else {
        uint32_t y = off - avail0, blk;
        uint32_t k = y / PAYLOAD(s), o = y % PAYLOAD(s);
        int err = chain_seek(s, m->last_blk, m->last_n,
                             m->first_n + 1 + k, &blk);
        if (err)
            return err;
        *addr_r = blk_addr(s, blk) + s->hdr_size + o;
        *avail_r = PAYLOAD(s) - o < left ? PAYLOAD(s) - o : left;
    }
    return 0;
}

/* Open a new block for head h. If a body started at chain position
 * body_first_n continues into it, chain it (skip pointers); else start a
 * fresh chain at position 0. */
static int head_open(struct lwm_store *s, struct lwm_head *h, int cont,
                     uint32_t body_first_n, uint32_t body,
                     int tier)
{
    uint32_t ptrs[BLK_SKIP], n = 0, b, x;
    int err;

    if (h->blk != LWM_NONE && h != &s->heads[GC_HEAD])
        /* a user stream's unwritten tail is reclaimable space: count it
         * as written so GC sees it (the GC's own tails are not, which
         * keeps compaction from chasing its own fragmentation) */
        s->blks[h->blk].written = PAYLOAD(s);
    if (cont && h->blk != LWM_NONE) {
        n = h->n + 1;
        for (x = 0; x < skip_count(n); x++) {
            uint32_t t = n - (1u << x);
            ptrs[x] = LWM_NONE;
            if (x == 0)
                ptrs[x] = h->blk;
            else if (t >= body_first_n) {
                err = chain_seek(s, h->blk, h->n, t, &ptrs[x]);
                if (err)
                    return err;
            }
        }
    }
    for (;;) {
        err = blk_alloc(s, BLK_TYPE_DATA, n, ptrs,
                        cont && n ? body : LWM_NONE, tier, &b);
        if (err != LWM_ERR_NOSPC || tier != TIER_USER)
            break;
        /* make room inline: bounded by the flash size */
        err = gc_step_(s, 1);
        if (err < 0)
            return err;
        if (err == 0)
            return LWM_ERR_NOSPC;
    }
    if (err)
        return err;
    h->blk = b;
    h->off = s->hdr_size;
    h->n = n;
    return 0;
}

/* Write the H unit of a new body at head h; the C unit stays erased. */
static int body_begin(struct lwm_store *s, struct lwm_append *a,
                      uint32_t need, int tier)
{
    struct lwm_head *h = &s->heads[a->head];
    uint8_t hu[32];
    int err;

    /* need > PAYLOAD asks for a block of its own (an empty one will do) */
    if (h->blk == LWM_NONE ||
        (need > PAYLOAD(s) ? h->off > s->hdr_size : h->off + need > BS(s))) {
        err = head_open(s, h, 0, 0, LWM_NONE, tier);
        if (err)
            return err;
    }
    memset(hu, 0xFF, sizeof hu);
    body_h_unit(hu, a->date, h->n);
    err = fl_prog(s, blk_addr(s, h->blk) + h->off, hu, HS(s));
    if (err)
        return err;
    a->body = blk_addr(s, h->blk) + h->off;
    a->first_n = h->n;
    a->first_seq = s->blks[h->blk].seq;
    a->len = 0;
    a->crc = 0;
    a->slen = 0;
    a->scrc = 0;
    a->npend = 0;
    h->off += HS(s) + CS(s);
    s->blks[h->blk].written = h->off - s->hdr_size;
    return 0;
}

/* Program one unit-aligned run at the head, opening blocks as needed. */
static int body_prog(struct lwm_store *s, struct lwm_append *a,
                     const uint8_t *p, uint32_t n, int tier)
{
    struct lwm_head *h = &s->heads[a->head];
    while (n > 0) {
        uint32_t room, k;
        int err;
        if (h->off >= BS(s)) {
            err = head_open(s, h, 1, a->first_n, a->body, tier);
            if (err)
                return err;
        }
        room = BS(s) - h->off;
        k = n < room ? n : room;
        err = fl_prog(s, blk_addr(s, h->blk) + h->off, p, k);
        if (err)
            return err;
        h->off += k, p += k, n -= k;
        s->blks[h->blk].written = h->off - s->hdr_size;
    }
    return 0;
}

/* Append bytes to the body's stream (message or summary), in whole units
 * through the partial-unit buffer. */
static int stream_write(struct lwm_store *s, struct lwm_append *a,
                        const uint8_t *p, uint32_t len, int tier)
{
    uint32_t u = s->unit;
    int err;
    while (len > 0) {
        if (a->npend == 0 && len >= u) {
            uint32_t n = len - len % u;
            err = body_prog(s, a, p, n, tier);
            if (err)
                return err;
            p += n, len -= n;
            continue;
        }
        {
            uint32_t k = u - a->npend;
            if (k > len)
                k = len;
            memcpy(a->pend + a->npend, p, k);
            a->npend += k, p += k, len -= k;
            if (a->npend == u) {
                err = body_prog(s, a, a->pend, u, tier);
                if (err)
                    return err;
                a->npend = 0;
            }
        }
    }
    return 0;
}

static int body_write(struct lwm_store *s, struct lwm_append *a,
                      const uint8_t *p, uint32_t len, int tier)
{
    if (a->slen)
        return LWM_ERR_INVAL;           /* the summary has begun */
    if ((uint64_t)a->len + len > LWM_MSG_SIZE_MAX)
        return LWM_ERR_FBIG;
    a->crc = lwm_crc32c(a->crc, p, len);
    a->len += len;
    return stream_write(s, a, p, len, tier);
}

static int summary_write(struct lwm_store *s, struct lwm_append *a,
                         const uint8_t *p, uint32_t len, int tier)
{
    if ((uint64_t)a->slen + len > LWM_SUMMARY_MAX)
        return LWM_ERR_FBIG;
    a->scrc = lwm_crc32c(a->scrc, p, len);
    a->slen += len;
    return stream_write(s, a, p, len, tier);
}

static uint32_t first_unit_crc(uint32_t seq, uint32_t off)
{
    uint8_t b[8];
    lwm_put32(b, seq);
    lwm_put32(b + 4, off);
    return lwm_crc32c(0, b, 8);
}

/* Flush the partial unit and write the C unit. last_blk LWM_NONE marks
 * an aborted body (so that a scan can step over it). */
static int body_finish(struct lwm_store *s, struct lwm_append *a,
                       int aborted, struct lwm_msg *m)
{
    struct lwm_head *h = &s->heads[a->head];
    uint8_t c[32], hu[BODY_H_BYTES];
    uint32_t hcrc;
    int err;

    if (a->npend) {
        memset(a->pend + a->npend, 0xFF, s->unit - a->npend);
        err = body_prog(s, a, a->pend, s->unit, 1);
        if (err)
            return err;
        a->npend = 0;
    }
    hcrc = body_h_unit(hu, a->date, a->first_n);
    memset(c, 0xFF, sizeof c);
    lwm_put32(c, a->len);
    lwm_put32(c + 4, aborted ? LWM_NONE : h->blk);
    lwm_put32(c + 8, h->n);
    lwm_put32(c + 12, a->crc);
    lwm_put32(c + 16, a->slen);
    lwm_put32(c + 20, a->scrc);
    lwm_put32(c + 24, lwm_crc32c(hcrc, c, 24));
    err = fl_prog(s, a->body + HS(s), c, CS(s));
    if (err)
        return err;
    if (h->n > a->first_n) {
        /* this block began with our tail: say where the next body goes */
        uint8_t fu[32];
        memset(fu, 0xFF, sizeof fu);
        lwm_put32(fu, h->off);
        lwm_put32(fu + 4, first_unit_crc(s->blks[h->blk].seq, h->off));
        err = fl_prog(s, blk_addr(s, h->blk) + A_SIZE(s) + B_SIZE(s), fu,
                      F_SIZE(s));
        if (err)
            return err;
    }
    if (h->n - a->first_n >= GC_MOVE_MAX_BLOCKS)
        /* a big body, which compaction won't move, owns its blocks:
         * nothing else goes into its last block */
        h->off = BS(s);
    if (m) {
        m->body = a->body;
        m->date = a->date;
        m->size = a->len;
        m->sum_len = a->slen;
        m->first_n = a->first_n;
        m->last_blk = h->blk;
        m->last_n = h->n;
    }
    return 0;
}

/* =================================================== record builders === */

static uint8_t *rp(struct lwm_store *s)
{
    return s->rbuf + REC_HDR;
}

static int rec_mbox(struct lwm_store *s, const struct lwm_mbox_ent *mb,
                    uint8_t flags)
{
    uint8_t *p = rp(s);
    size_t nl = strlen(mb->name);
    lwm_put32(p, mb->id);
    lwm_put16(p + 4, mb->user);
    lwm_put16(p + 6, mb->attrs);
    lwm_put32(p + 8, mb->uidvalidity);
    lwm_put32(p + 12, mb->uidnext);
    lwm_put32(p + 16, mb->hmodseq);
    p[20] = (uint8_t)nl;
    memcpy(p + 21, mb->name, nl);
    return meta_write(s, REC_MBOX, flags, 21u + (uint32_t)nl);
}

static int rec_mbox_del(struct lwm_store *s, uint32_t id, uint8_t flags)
{
    lwm_put32(rp(s), id);
    return meta_write(s, REC_MBOX_DEL, flags, 4);
}

static int rec_user(struct lwm_store *s, const struct lwm_user_ent *u,
                    uint8_t flags)
{
    uint8_t *p = rp(s);
    size_t nl = strlen(u->name);
    lwm_put16(p, u->id);
    p[2] = (uint8_t)nl;
    memcpy(p + 3, u->name, nl);
    return meta_write(s, REC_USER, flags, 3u + (uint32_t)nl);
}

static int rec_keyword(struct lwm_store *s, const struct lwm_mbox_ent *mb,
                       int idx, uint8_t flags)
{
    uint8_t *p = rp(s);
    size_t nl = strlen(mb->keywords[idx]);
    lwm_put32(p, mb->id);
    p[4] = (uint8_t)idx;
    p[5] = (uint8_t)nl;
    memcpy(p + 6, mb->keywords[idx], nl);
    return meta_write(s, REC_KEYWORD, flags, 6u + (uint32_t)nl);
}

static int rec_state(struct lwm_store *s)
{
    uint8_t *p = rp(s);
    lwm_put32(p, s->next_mbox_id);
    lwm_put32(p + 4, s->next_uidvalidity);
    lwm_put16(p + 8, s->next_user_id);
    return meta_write(s, REC_STATE, 0, 10);
}

/* Write entries[0..n) of mailbox id as MSGS records (a group). */
static int rec_msgs(struct lwm_store *s, uint32_t mbox_id,
                    const struct lwm_msg_ent *e, uint32_t n, int more)
{
    while (n > 0) {
        uint32_t k = n < MSGS_PER_REC ? n : MSGS_PER_REC, i;
        uint8_t *p = rp(s);
        int err;
        lwm_put32(p, mbox_id);
        lwm_put16(p + 4, (uint16_t)k);
        for (i = 0; i < k; i++) {
            lwm_put32(p + 6 + 16 * i, e[i].uid);
            lwm_put32(p + 10 + 16 * i, e[i].modseq);
            lwm_put32(p + 14 + 16 * i, e[i].flags);
            lwm_put32(p + 18 + 16 * i, e[i].body);
        }
        err = meta_write(s, REC_MSGS, (n > k || more) ? REC_F_CONT : 0,
                         6 + 16 * k);
        if (err)
            return err;
        e += k, n -= k;
    }
    return 0;
}

/* ===================================================== replay (mount) === */

/* Replayed records passed their CRC, but a record can still be wrong (a
 * bug in another version, deliberate damage): every field is checked as
 * the API would check it, and a record that fails is ignored. */
static int name_bytes_ok(const uint8_t *p, uint32_t n, int mailbox)
{
    uint32_t i;
    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c < 0x20 || c == 0x7F || (!mailbox && c == 0x20))
            return 0;
        if (mailbox && (c == '*' || c == '%' ||
                        (c == '/' && (i == 0 || i + 1 == n ||
                                      p[i + 1] == '/'))))
            return 0;
    }
    return 1;
}

static int keyword_char_ok(unsigned char c);

static void apply_user(struct lwm_store *s, const uint8_t *p, uint32_t len)
{
    uint16_t id = lwm_get16(p);
    uint32_t nl = p[2];
    struct lwm_user_ent *u;
    int i;
    if (len < 3 || nl + 3 > len || nl == 0 || nl > LWM_USER_NAME_MAX ||
        id == 0 || !name_bytes_ok(p + 3, nl, 0))
        return;
    for (i = 0; i < LWM_STORE_MAX_USERS; i++)
        if (s->users[i].id && s->users[i].id != id &&
            strlen(s->users[i].name) == nl &&
            memcmp(s->users[i].name, p + 3, nl) == 0)
            return; /* that name belongs to another user */
    u = user_by_id(s, id);
    for (i = 0; !u && i < LWM_STORE_MAX_USERS; i++)
        if (s->users[i].id == 0)
            u = &s->users[i];
    if (!u)
        return;
    u->id = id;
    memcpy(u->name, p + 3, nl);
    u->name[nl] = 0;
    if (s->next_user_id <= id)
        s->next_user_id = (uint16_t)(id + 1);
}

static void apply_mbox(struct lwm_store *s, const uint8_t *p, uint32_t len)
{
    uint32_t id = lwm_get32(p), nl = p[20];
    struct lwm_mbox_ent *mb;
    int slot;
    if (len < 21 || nl + 21 > len || nl == 0 || nl > LWM_MBOX_NAME_MAX ||
        id == 0 || id == LWM_NONE || !user_by_id(s, lwm_get16(p + 4)) ||
        !name_bytes_ok(p + 21, nl, 1))
        return;
    mb = mbox_by_id(s, id, &slot);
    if (!mb) {
        slot = mbox_slot_alloc(s);
        if (slot < 0)
            return;
        mb = &s->mboxes[slot];
        mb->id = id;
        mb->nkeywords = 0;
        mb->uidnext = 1;
        mb->hmodseq = 1;
    }
    mb->user = lwm_get16(p + 4);
    mb->attrs = lwm_get16(p + 6);
    mb->uidvalidity = lwm_get32(p + 8);
    if (mb->uidnext < lwm_get32(p + 12))
        mb->uidnext = lwm_get32(p + 12);
    if (mb->hmodseq < lwm_get32(p + 16))
        mb->hmodseq = lwm_get32(p + 16);
    memcpy(mb->name, p + 21, nl);
    mb->name[nl] = 0;
    if (s->next_mbox_id <= id)
        s->next_mbox_id = id + 1;
    if (s->next_uidvalidity <= mb->uidvalidity)
        s->next_uidvalidity = mb->uidvalidity + 1;
}

static void mbox_clear(struct lwm_store *s, int slot)
{
    struct lwm_mbox_ent *mb = &s->mboxes[slot];
    while (mb->count)
        idx_remove(s, slot, mb->first + mb->count - 1);
    mb->id = 0;
    mb->attrs = 0;
    mb->nkeywords = 0;
    mb->name[0] = 0;
}

static void apply_msgs(struct lwm_store *s, const uint8_t *p, uint32_t len)
{
    int slot;
    struct lwm_mbox_ent *mb = mbox_by_id(s, lwm_get32(p), &slot);
    uint32_t n = lwm_get16(p + 4), i;
    if (!mb || 6 + 16 * n > len)
        return;
    for (i = 0; i < n; i++) {
        struct lwm_msg_ent e;
        int found;
        uint32_t pos;
        e.uid = lwm_get32(p + 6 + 16 * i);
        e.modseq = lwm_get32(p + 10 + 16 * i);
        e.flags = lwm_get32(p + 14 + 16 * i);
        e.body = lwm_get32(p + 18 + 16 * i);
        if (e.uid == 0 || e.uid == LWM_NONE)
            continue;
        pos = idx_lower(s, slot, e.uid, &found);
        if (found)
            s->msgs[pos] = e;
        else if (idx_insert(s, slot, pos, &e) < 0)
            continue;
        if (mb->uidnext <= e.uid)
            mb->uidnext = e.uid + 1;
        if (mb->hmodseq < e.modseq)
            mb->hmodseq = e.modseq;
    }
}

static void apply_flags(struct lwm_store *s, const uint8_t *p, uint32_t len)
{
    int slot;
    struct lwm_mbox_ent *mb = mbox_by_id(s, lwm_get32(p), &slot);
    uint32_t n = lwm_get16(p + 4), i;
    if (!mb || 6 + 12 * n > len)
        return;
    for (i = 0; i < n; i++) {
        uint32_t uid = lwm_get32(p + 6 + 12 * i);
        uint32_t ms = lwm_get32(p + 10 + 12 * i);
        int found;
        uint32_t pos = idx_lower(s, slot, uid, &found);
        if (found && ms >= s->msgs[pos].modseq) {
            s->msgs[pos].modseq = ms;
            s->msgs[pos].flags = lwm_get32(p + 14 + 12 * i);
        }
        if (mb->hmodseq < ms)
            mb->hmodseq = ms;
    }
}

static void apply_expunge(struct lwm_store *s, const uint8_t *p,
                          uint32_t len)
{
    int slot;
    struct lwm_mbox_ent *mb = mbox_by_id(s, lwm_get32(p), &slot);
    uint32_t ms = lwm_get32(p + 4), n = lwm_get16(p + 8), i;
    if (!mb || 10 + 4 * n > len)
        return;
    for (i = 0; i < n; i++) {
        int found;
        uint32_t pos = idx_lower(s, slot, lwm_get32(p + 10 + 4 * i), &found);
        if (found)
            idx_remove(s, slot, pos);
    }
    if (mb->hmodseq < ms)
        mb->hmodseq = ms;
}

static void apply_keyword(struct lwm_store *s, const uint8_t *p,
                          uint32_t len)
{
    struct lwm_mbox_ent *mb = mbox_by_id(s, lwm_get32(p), NULL);
    uint32_t idx = p[4], nl = p[5];
    uint32_t i;
    if (!mb || len < 6 || nl + 6 > len || idx >= LWM_KEYWORDS_MAX ||
        idx >= 27 || nl == 0 || nl > LWM_KEYWORD_LEN)
        return;
    for (i = 0; i < nl; i++)
        if (!keyword_char_ok(p[6 + i]))
            return;
    memcpy(mb->keywords[idx], p + 6, nl);
    mb->keywords[idx][nl] = 0;
    if (mb->nkeywords <= idx)
        mb->nkeywords = (uint8_t)(idx + 1);
}

/* Apply the record in s->rbuf (already CRC-checked). */
static void rec_apply(struct lwm_store *s)
{
    const uint8_t *p = s->rbuf + REC_HDR;
    uint32_t len = lwm_get16(s->rbuf + 2);
    switch (s->rbuf[0]) {
    case REC_USER: apply_user(s, p, len); break;
    case REC_MBOX: apply_mbox(s, p, len); break;
    case REC_MBOX_DEL:
        if (len >= 4) {
            int slot;
            if (mbox_by_id(s, lwm_get32(p), &slot))
                mbox_clear(s, slot);
        }
        break;
    case REC_KEYWORD: apply_keyword(s, p, len); break;
    case REC_MSGS: if (len >= 6) apply_msgs(s, p, len); break;
    case REC_FLAGS: if (len >= 6) apply_flags(s, p, len); break;
    case REC_EXPUNGE: if (len >= 10) apply_expunge(s, p, len); break;
    case REC_STATE:
        if (len >= 10) {
            if (s->next_mbox_id < lwm_get32(p))
                s->next_mbox_id = lwm_get32(p);
            if (s->next_uidvalidity < lwm_get32(p + 4))
                s->next_uidvalidity = lwm_get32(p + 4);
            if (s->next_user_id < lwm_get16(p + 8))
                s->next_user_id = lwm_get16(p + 8);
        }
        break;
    default: /* SNAP_BEGIN, SNAP_END, RESET, unknown: nothing to apply */
        break;
    }
}

/* Replay the journal from p to its end. Groups (records flagged CONT up to
 * the first one without) are applied only when complete. Returns 0 and
 * leaves *clean = 1 if the journal ended cleanly. */
static int replay(struct lwm_store *s, struct jpos p, int *clean)
{
    *clean = 1;
    for (;;) {
        struct jpos q = p;
        int n = rec_next(s, &p, 0);
        if (n < 0)
            return n;
        if (n == 0)
            return 0;
        if (s->rbuf[1] & REC_F_CONT) {
            /* look ahead: is the group complete? */
            struct jpos g = p;
            int complete = 0;
            g.off += (uint32_t)n;
            for (;;) {
                int m = rec_next(s, &g, 1);
                if (m < 0 && m != LWM_ERR_CORRUPT)
                    return m;
                if (m <= 0 || s->rbuf[0] == REC_RESET)
                    break;
                g.off += (uint32_t)m;
                if (!(s->rbuf[1] & REC_F_CONT)) {
                    complete = 1;
                    break;
                }
            }
            if (!complete) {
                /* torn group: skip it; the journal goes on after a RESET
                 * (written at the mount that found it) if at all */
                *clean = 0;
                p = g;
                if (p.blk == LWM_NONE)
                    return 0;
                continue;
            }
            /* apply every record of the group */
            p = q;
            for (;;) {
                int m = rec_next(s, &p, 1);
                if (m <= 0)
                    return m < 0 && m != LWM_ERR_CORRUPT ? m : 0;
                rec_apply(s);
                p.off += (uint32_t)m;
                if (!(s->rbuf[1] & REC_F_CONT))
                    break;
            }
            continue;
        }
        rec_apply(s);
        p.off += (uint32_t)n;
    }
}

/* ============================================================ mount === */

static int check_geometry(const struct lwm_flash *f)
{
    if (!f || !f->read || !f->prog || !f->erase || !f->sync)
        return LWM_ERR_INVAL;
    if (f->prog_size < 1 || f->prog_size > 32 ||
        (f->prog_size & (f->prog_size - 1)) || f->read_size < 1 ||
        f->read_size > 32 || (f->read_size & (f->read_size - 1)))
        return LWM_ERR_INVAL;
    if (f->block_size % f->prog_size || f->block_size % f->read_size ||
        f->block_size < 512 || f->block_count < 8 ||
        f->block_count > LWM_STORE_MAX_BLOCKS ||
        (uint64_t)f->block_size * f->block_count >= 0xFFFFFFFFull)
        return LWM_ERR_INVAL;
    return 0;
}

static void store_reset(struct lwm_store *s, const struct lwm_flash *f)
{
    uint32_t i;
    memset(s, 0, sizeof *s);
    s->flash = f;
    s->unit = f->prog_size;
    s->bs = f->block_size;
    s->nblk = f->block_count;
    s->a_size = (uint16_t)lwm_align_up(BLK_A_BYTES, s->unit);
    s->hs = (uint16_t)lwm_align_up(BODY_H_BYTES, s->unit);
    s->cs = (uint16_t)lwm_align_up(BODY_C_BYTES, s->unit);
    s->hdr_size = A_SIZE(s) + B_SIZE(s) + F_SIZE(s);
    s->meta_blk = LWM_NONE;
    s->gc_victim = LWM_NONE;
    s->next_seq = 1;
    s->next_mbox_id = 1;
    s->next_uidvalidity = 1;
    s->next_user_id = 1;
    for (i = 0; i <= LWM_STORE_MAX_APPENDS; i++)
        s->heads[i].blk = LWM_NONE;
    s->gc_src = LWM_NONE;
}

/* Read both parts of every block header into blks[]. */
static int scan_blocks(struct lwm_store *s)
{
    uint32_t b, ec_max = 0;
    int any_unknown = 0;
    for (b = 0; b < NBLK(s); b++) {
        struct lwm_blk_ent *e = &s->blks[b];
        uint8_t a[BLK_A_BYTES], h[BLK_B_FIXED + 4 * BLK_SKIP];
        uint32_t crc, np;
        int err = fl_read(s, blk_addr(s, b), a, sizeof a);
        if (err)
            return err;
        e->state = LWM_BLK_DIRTY;
        e->erase_count = LWM_NONE; /* unknown */
        if (lwm_get32(a) != BLK_MAGIC || a[4] != LWM_DISK_VERSION ||
            lwm_get32(a + 12) != lwm_crc32c(0, a, 12)) {
            any_unknown = 1;
            continue;
        }
        e->erase_count = lwm_get32(a + 8);
        if (e->erase_count > ec_max)
            ec_max = e->erase_count;
        err = fl_read(s, blk_addr(s, b) + A_SIZE(s), h, BLK_B_FIXED);
        if (err)
            return err;
        if (h[0] == 0xFF) {
            err = fl_is_erased(s, blk_addr(s, b) + A_SIZE(s), B_SIZE(s));
            if (err < 0)
                return err;
            if (err) {
                e->state = LWM_BLK_FREE;
                e->flags = LWM_BLKF_VERIFY;
            }
            continue;
        }
        np = h[1];
        if ((h[0] != BLK_TYPE_META && h[0] != BLK_TYPE_DATA) ||
            np > BLK_SKIP)
            continue;
        err = fl_read(s, blk_addr(s, b) + A_SIZE(s) + BLK_B_FIXED,
                      h + BLK_B_FIXED, 4 * np);
        if (err)
            return err;
        crc = lwm_crc32c(0, h, 16);
        crc = lwm_crc32c(crc, h + BLK_B_FIXED, 4 * np);
        if (crc != lwm_get32(h + 16) || np != skip_count(lwm_get32(h + 8)))
            continue;
        if (lwm_get32(h + 4) == LWM_NONE)
            continue;             /* no real store gets there: forged */
        e->state = h[0] == BLK_TYPE_META ? LWM_BLK_META : LWM_BLK_DATA;
        e->seq = lwm_get32(h + 4);
        if (e->seq >= s->next_seq)
            s->next_seq = e->seq + 1;
    }
    /* A block whose erase count was lost (power cut between erase and
     * part A, or damage) is assumed as worn as the worst one: wear
     * levelling then never mistakes it for a cold block. */
    for (b = 0; b < NBLK(s); b++)
        if (s->blks[b].erase_count == LWM_NONE)
            s->blks[b].erase_count = ec_max;
    (void)any_unknown;
    return 0;
}

/* Find the newest META block that begins with a SNAP_BEGIN whose SNAP_END
 * follows; LWM_NONE if none. Also sizes the snapshot. */
static int find_snapshot(struct lwm_store *s, uint32_t *blk_r)
{
    struct jpos p = { meta_next_blk(s, LWM_NONE), 0 };
    uint32_t cand = LWM_NONE, open_blk = LWM_NONE, open_no = 0,
             open_bytes = 0, max_no = 0;
    for (;;) {
        int n = rec_next(s, &p, 0);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        if (open_blk != LWM_NONE)
            open_bytes += (uint32_t)n;
        if (s->rbuf[0] == REC_SNAP_BEGIN && p.off == s->hdr_size) {
            open_blk = p.blk;
            open_no = lwm_get32(s->rbuf + REC_HDR);
            if (open_no > max_no)
                max_no = open_no;
            open_bytes = (uint32_t)n;
        } else if (s->rbuf[0] == REC_SNAP_END && open_blk != LWM_NONE &&
                   lwm_get32(s->rbuf + REC_HDR) == open_no) {
            cand = open_blk;
            s->snap_bytes = open_bytes;
            open_blk = LWM_NONE;
        }
        p.off += (uint32_t)n;
    }
    s->snap_no = max_no;   /* the next snapshot gets a fresh number */
    *blk_r = cand;
    return 0;
}

/* After replay of a damaged journal, records may be missing: make the
 * state consistent again without losing mail. Keyword slots whose name was
 * lost get a placeholder name; a name held by two mailboxes (a lost DELETE
 * or RENAME) stays with the newer one and the older gets "<name>~<id>". */
static void sanitize(struct lwm_store *s)
{
    int m, k, d;
    for (m = 0; m < LWM_STORE_MAX_MBOXES; m++) {
        struct lwm_mbox_ent *mb = &s->mboxes[m];
        uint32_t i, mask;
        if (!mb->id)
            continue;
        for (k = 0; k < mb->nkeywords; k++)
            if (mb->keywords[k][0] == 0) {
                memcpy(mb->keywords[k], "$Lost", 5);
                mb->keywords[k][5] = (char)('a' + k);
                mb->keywords[k][6] = 0;
            }
        mask = LWM_FLAG_SYSTEM | (((1u << mb->nkeywords) - 1u) << 5);
        for (i = mb->first; i < mb->first + mb->count; i++)
            s->msgs[i].flags &= mask;
    }
    for (m = 0; m < LWM_STORE_MAX_MBOXES; m++)
        for (d = 0; d < LWM_STORE_MAX_MBOXES; d++) {
            struct lwm_mbox_ent *a = &s->mboxes[m], *b = &s->mboxes[d];
            char suffix[12];
            size_t n, sl;
            if (d == m || !a->id || !b->id || a->user != b->user ||
                strcmp(a->name, b->name) != 0 || a->id > b->id)
                continue;
            /* a is the older one */
            sl = lwm_snfmt(suffix, sizeof suffix, "~%u", a->id);
            n = strlen(a->name);
            if (n + sl > LWM_MBOX_NAME_MAX)
                n = LWM_MBOX_NAME_MAX - sl;
            memcpy(a->name + n, suffix, sl + 1);
        }
}

/* After replay: per-mailbox totals and per-block live bytes. Entries whose
 * body can't be read are dropped (they were damaged on flash). */
static int rebuild_accounting(struct lwm_store *s)
{
    int m;
    uint32_t b;
    for (b = 0; b < NBLK(s); b++) {
        s->blks[b].live = 0;
        s->blks[b].pins = 0;
    }
    for (m = 0; m < LWM_STORE_MAX_MBOXES; m++) {
        struct lwm_mbox_ent *mb = &s->mboxes[m];
        uint32_t i;
        mb->unseen = mb->deleted = 0;
        mb->size = 0;
        if (!mb->id)
            continue;
        for (i = mb->first; i < mb->first + mb->count;) {
            struct lwm_msg msg;
            int err = body_info(s, s->msgs[i].body, &msg);
            if (!err)
                err = body_account(s, &msg, +1);
            if (err == LWM_ERR_IO)
                return err;
            if (err) {
                /* Its body is damaged: the message goes. Mark it here and
                 * let journal_drops() record that once the journal can take
                 * records (it must be on flash before the body's address
                 * can hold another body). */
                s->msgs[i].body = LWM_NONE;
                i++;
                continue;
            }
            ent_add_counts(mb, s->msgs[i].flags, msg.size, +1);
            i++;
        }
    }
    return 0;
}

/* Write an EXPUNGE for every message rebuild_accounting() dropped, sync,
 * and take them out of the index. Mount calls it before GC can run, so
 * no block is reused before the drops are durable. */
static int journal_drops(struct lwm_store *s)
{
    int m, dropped = 0;
    for (m = 0; m < LWM_STORE_MAX_MBOXES; m++) {
        struct lwm_mbox_ent *mb = &s->mboxes[m];
        uint32_t i;
        if (!mb->id)
            continue;
        for (i = mb->first; i < mb->first + mb->count;) {
            uint8_t *p = rp(s);
            int err;
            if (s->msgs[i].body != LWM_NONE) {
                i++;
                continue;
            }
            lwm_put32(p, mb->id);
            lwm_put32(p + 4, ++mb->hmodseq);
            lwm_put16(p + 8, 1);
            lwm_put32(p + 10, s->msgs[i].uid);
            err = meta_write(s, REC_EXPUNGE, 0, 14);
            if (err)
                return err;
            dropped = 1;
            idx_remove(s, m, i);
        }
    }
    return dropped ? fl_sync(s) : 0;
}

static int mount_(struct lwm_store *s, const struct lwm_flash *f)
{
    uint32_t floor_blk, b, last;
    struct jpos p;
    int clean, err;

    err = check_geometry(f);
    if (err)
        return err;
    store_reset(s, f);
    err = scan_blocks(s);
    if (err)
        return err;
    err = find_snapshot(s, &floor_blk);
    if (err)
        return err;
    if (floor_blk == LWM_NONE) {
        /* no complete snapshot: replay whatever journal there is */
        floor_blk = meta_next_blk(s, LWM_NONE);
        if (floor_blk == LWM_NONE)
            return LWM_ERR_CORRUPT; /* not a store */
    }
    s->meta_floor = s->blks[floor_blk].seq;
    p.blk = floor_blk;
    p.off = 0;
    err = replay(s, p, &clean);
    if (err)
        return err;
    sanitize(s);

    /* META blocks older than the snapshot are garbage */
    last = LWM_NONE;
    for (b = 0; b < NBLK(s); b++) {
        struct lwm_blk_ent *e = &s->blks[b];
        if (e->state != LWM_BLK_META)
            continue;
        if (e->seq < s->meta_floor)
            e->state = LWM_BLK_DIRTY;
        else if (last == LWM_NONE || e->seq > s->blks[last].seq)
            last = b;
    }
    /* sizes and live bytes; bodies nothing refers to are garbage (a body
     * only damaged entries referred to may be erased before their drop is
     * journaled: those entries fail their check again at the next mount,
     * as the block no longer holds DATA) */
    err = rebuild_accounting(s);
    if (err)
        return err;
    for (b = 0; b < NBLK(s); b++) {
        struct lwm_blk_ent *e = &s->blks[b];
        /* how full a closed block is isn't on flash: assume full, so GC
         * never expects more from it than it can give */
        e->written = PAYLOAD(s);
        if (e->state == LWM_BLK_DATA && e->live == 0 && e->pins == 0)
            e->state = LWM_BLK_DIRTY;
    }

    /* where the journal continues: after the last valid record of the
     * newest META block, if everything after it is erased */
    s->journal_bytes = 0;
    {
        struct jpos q = { floor_blk, 0 };
        uint32_t end_off = 0;
        for (;;) {
            int n = rec_next(s, &q, 0);
            if (n < 0)
                return n;
            if (n == 0)
                break;
            s->journal_bytes += (uint32_t)n;
            if (q.blk == last)
                end_off = q.off + (uint32_t)n;
            q.off += (uint32_t)n;
        }
        if (last != LWM_NONE && end_off == 0)
            end_off = s->hdr_size;
        if (last != LWM_NONE && clean) {
            err = fl_is_erased(s, blk_addr(s, last) + end_off,
                               BS(s) - end_off);
            if (err < 0)
                return err;
            clean = err;
        }
        s->journal_bytes = s->journal_bytes > s->snap_bytes
                               ? s->journal_bytes - s->snap_bytes : 0;
        s->mounted = 1;
        if (last != LWM_NONE && clean) {
            s->meta_blk = last;
            s->meta_off = end_off;
        } else {
            /* Don't program after damage: continue in a fresh block that
             * starts with RESET, which ends any torn group before it. */
            s->meta_blk = LWM_NONE;
            err = meta_write(s, REC_RESET, 0, 0);
            if (!err)
                err = fl_sync(s);
            if (err) {
                s->mounted = 0;
                return err;
            }
        }
    }
    /* the messages whose bodies are damaged go, durably, before anything
     * else is written */
    err = journal_drops(s);
    if (err) {
        s->mounted = 0;
        return err;
    }
    if (s->next_user_id == 0)
        s->next_user_id = 1;
    s->st.ram_per_msg = sizeof(struct lwm_msg_ent);
    s->st.ram_per_mbox = sizeof(struct lwm_mbox_ent);
    s->st.ram_per_block = sizeof(struct lwm_blk_ent);
    s->st.ram_total = sizeof(struct lwm_store);
    return 0;
}

/* ====================================================== public: life === */

int lwm_store_mount(struct lwm_store *s, const struct lwm_flash *f)
{
    int err = mount_(s, f);
    if (err)
        s->mounted = 0;
    return err;
}

int lwm_store_format(struct lwm_store *s, const struct lwm_flash *f)
{
    uint32_t b;
    int err = check_geometry(f);
    if (err)
        return err;
    store_reset(s, f);
    /* keep erase counts that survive from an earlier store */
    for (b = 0; b < NBLK(s); b++) {
        uint8_t a[BLK_A_BYTES];
        err = fl_read(s, blk_addr(s, b), a, sizeof a);
        if (err)
            return err;
        s->blks[b].erase_count =
            lwm_get32(a) == BLK_MAGIC &&
                    lwm_get32(a + 12) == lwm_crc32c(0, a, 12)
                ? lwm_get32(a + 8) : 0;
        err = blk_erase(s, b);
        if (err)
            return err;
    }
    s->snap_no = 1;
    lwm_put32(rp(s), s->snap_no);
    err = meta_write(s, REC_SNAP_BEGIN, 0, 4);
    if (!err)
        err = rec_state(s);
    if (!err) {
        lwm_put32(rp(s), s->snap_no);
        err = meta_write(s, REC_SNAP_END, 0, 4);
    }
    if (!err)
        err = fl_sync(s);
    if (err)
        return err;
    return lwm_store_mount(s, f);
}

int lwm_store_unmount(struct lwm_store *s)
{
    int i;
    if (!s->mounted)
        return LWM_ERR_NOTMOUNTED;
    for (i = 0; i < LWM_STORE_MAX_APPENDS; i++)
        if (s->appends[i].used)
            lwm_append_abort(s, i);
    s->mounted = 0;
    return s->failed ? LWM_ERR_IO : 0;
}

void lwm_store_stats(struct lwm_store *s, struct lwm_store_stats *r)
{
    uint32_t b;
    int i;
    s->st.blocks_total = NBLK(s);
    s->st.blocks_free = s->st.blocks_meta = s->st.blocks_data = 0;
    s->st.erase_min = LWM_NONE;
    s->st.erase_max = 0;
    for (b = 0; b < NBLK(s); b++) {
        const struct lwm_blk_ent *e = &s->blks[b];
        if (e->state <= LWM_BLK_FREE)
            s->st.blocks_free++;
        else if (e->state == LWM_BLK_META)
            s->st.blocks_meta++;
        else
            s->st.blocks_data++;
        if (e->erase_count < s->st.erase_min)
            s->st.erase_min = e->erase_count;
        if (e->erase_count > s->st.erase_max)
            s->st.erase_max = e->erase_count;
    }
    s->st.msgs = s->nmsgs;
    s->st.mboxes = s->st.users = 0;
    for (i = 0; i < LWM_STORE_MAX_MBOXES; i++)
        if (s->mboxes[i].id)
            s->st.mboxes++;
    for (i = 0; i < LWM_STORE_MAX_USERS; i++)
        if (s->users[i].id)
            s->st.users++;
    *r = s->st;
}

/* ================================================ public: names, users === */

/* Validate a mailbox name and write its canonical form (INBOX upper-cased
 * when it is the first component) to out. */
static int name_norm(const char *in, size_t len, char *out)
{
    if (!in || len == 0)
        return LWM_ERR_INVAL;
    if (len > LWM_MBOX_NAME_MAX)
        return LWM_ERR_NAMETOOLONG;
    if (!name_bytes_ok((const uint8_t *)in, (uint32_t)len, 1))
        return LWM_ERR_INVAL;
    memcpy(out, in, len);
    out[len] = 0;
    if (len >= 5 && lwm_ieq(in, "inbox", 5) && (len == 5 || in[5] == '/'))
        memcpy(out, "INBOX", 5);
    return 0;
}

static int user_ok(struct lwm_store *s, int user)
{
    if (!s->mounted)
        return LWM_ERR_NOTMOUNTED;
    if (user <= 0 || user > 0xFFFF || !user_by_id(s, (uint32_t)user))
        return LWM_ERR_NOENT;
    return 0;
}

static int mbox_ok(struct lwm_store *s, int m)
{
    if (!s->mounted)
        return LWM_ERR_NOTMOUNTED;
    if (m < 0 || m >= LWM_STORE_MAX_MBOXES || s->mboxes[m].id == 0)
        return LWM_ERR_NOENT;
    return 0;
}

static int mutate_ok(struct lwm_store *s)
{
    if (s->failed)
        return LWM_ERR_IO;
    return 0;
}

/* The checks of a call that changes user's mailboxes, or mailbox m */
static int user_mut_ok(struct lwm_store *s, int user)
{
    int err = user_ok(s, user);
    return err ? err : mutate_ok(s);
}

static int mbox_mut_ok(struct lwm_store *s, int m)
{
    int err = mbox_ok(s, m);
    return err ? err : mutate_ok(s);
}

/* Slot of the canonical name for user, or LWM_ERR_NOENT. */
static int find_canon(struct lwm_store *s, int user, const char *name)
{
    int i;
    for (i = 0; i < LWM_STORE_MAX_MBOXES; i++)
        if (s->mboxes[i].id && s->mboxes[i].user == user &&
            strcmp(s->mboxes[i].name, name) == 0)
            return i;
    return LWM_ERR_NOENT;
}

/* Can the journal take `bytes` more? A change that frees nothing must also
 * leave room for a snapshot, or the journal could grow until it can never
 * be compacted; an expunge or a delete (what gives space back) may go
 * further. */
static int journal_room(struct lwm_store *s, uint32_t bytes, int frees)
{
    uint32_t need = bytes / (PAYLOAD(s) / 2) + 1;   /* records don't split */
    if (!frees)
        need += snap_blocks(s) + 1;
    else if (s->meta_blk != LWM_NONE && s->meta_off + bytes <= BS(s))
        return 0;
    return blk_free_count(s) >= need + 1 ? 0 : LWM_ERR_NOSPC;
}

static int free_slots(struct lwm_store *s)
{
    int i, n = 0;
    for (i = 0; i < LWM_STORE_MAX_MBOXES; i++)
        if (!s->mboxes[i].id)
            n++;
    return n;
}

static void mbox_init(struct lwm_store *s, struct lwm_mbox_ent *mb,
                      int user, const char *name, uint16_t attrs)
{
    memset(mb, 0, sizeof *mb);
    mb->id = s->next_mbox_id++;
    mb->uidvalidity = s->next_uidvalidity++;
    mb->uidnext = 1;
    mb->hmodseq = 1;
    mb->user = (uint16_t)user;
    mb->attrs = attrs;
    strcpy(mb->name, name);
}

/* Put a mailbox built by mbox_init into a free slot (after sync). The
 * slot's `first` is kept: it is maintained for free slots too. */
static int mbox_install(struct lwm_store *s, const struct lwm_mbox_ent *mb)
{
    int slot = mbox_slot_alloc(s);
    uint32_t first;
    if (slot < 0)
        return slot;
    first = s->mboxes[slot].first;
    s->mboxes[slot] = *mb;
    s->mboxes[slot].first = first;
    s->mboxes[slot].count = 0;
    return slot;
}

/* Write mb[0..n) as MBOX records of one group (more: it goes on after
 * them). */
static int rec_mboxes(struct lwm_store *s, const struct lwm_mbox_ent *mb,
                      int n, int more)
{
    int k, err = 0;
    for (k = 0; !err && k < n; k++)
        err = rec_mbox(s, &mb[k], (k + 1 < n || more) ? REC_F_CONT : 0);
    return err;
}

/* Give the mailbox in slot new attributes: its record, synced, then RAM. */
static int mbox_set_attrs(struct lwm_store *s, int slot, uint16_t attrs)
{
    struct lwm_mbox_ent mb = s->mboxes[slot];
    int err = journal_room(s, 160, 0);
    mb.attrs = attrs;
    if (!err)
        err = rec_mbox(s, &mb, 0);
    if (!err)
        err = fl_sync(s);
    if (!err)
        s->mboxes[slot].attrs = attrs;
    return err;
}

int lwm_user_find(struct lwm_store *s, const char *name)
{
    int i;
    if (!s->mounted)
        return LWM_ERR_NOTMOUNTED;
    if (!name)
        return LWM_ERR_INVAL;
    for (i = 0; i < LWM_STORE_MAX_USERS; i++)
        if (s->users[i].id && strcmp(s->users[i].name, name) == 0)
            return s->users[i].id;
    return LWM_ERR_NOENT;
}

int lwm_user_create(struct lwm_store *s, const char *name)
{
    static const struct { const char *name; uint16_t attrs; } std[] = {
        { "INBOX", LWM_MBOX_SUBSCRIBED },
        { "Sent", LWM_MBOX_SUBSCRIBED | LWM_MBOX_SENT },
        { "Drafts", LWM_MBOX_SUBSCRIBED | LWM_MBOX_DRAFTS },
        { "Trash", LWM_MBOX_SUBSCRIBED | LWM_MBOX_TRASH },
        { "Junk", LWM_MBOX_SUBSCRIBED | LWM_MBOX_JUNK },
        { "Archive", LWM_MBOX_SUBSCRIBED | LWM_MBOX_ARCHIVE },
    };
    struct lwm_mbox_ent mb[6];
    struct lwm_user_ent u;
    size_t nl, i, nstd;
    int err, k;
    uint32_t save_id, save_uv;

    if (!s->mounted)
        return LWM_ERR_NOTMOUNTED;
    if ((err = mutate_ok(s)) != 0)
        return err;
    if (!name || (nl = strlen(name)) == 0)
        return LWM_ERR_INVAL;
    if (nl > LWM_USER_NAME_MAX)
        return LWM_ERR_NAMETOOLONG;
    if (!name_bytes_ok((const uint8_t *)name, (uint32_t)nl, 0))
        return LWM_ERR_INVAL;
    if (lwm_user_find(s, name) > 0)
        return LWM_ERR_EXIST;
    /* a system account ("#system": server state such as the TLS key)
     * holds no mail and gets no standard mailboxes */
    nstd = name[0] == '#' ? 0 : 6;
    for (k = 0; k < LWM_STORE_MAX_USERS && s->users[k].id; k++)
        ;
    if (k == LWM_STORE_MAX_USERS || free_slots(s) < (int)nstd ||
        s->next_user_id == 0xFFFF)
        return LWM_ERR_NOMEM;
    if ((err = journal_room(s, 7 * 160, 0)) != 0)
        return err;
    u.id = s->next_user_id;
    strcpy(u.name, name);
    save_id = s->next_mbox_id;
    save_uv = s->next_uidvalidity;
    for (i = 0; i < nstd; i++)
        mbox_init(s, &mb[i], u.id, std[i].name, std[i].attrs);
    err = rec_user(s, &u, nstd ? REC_F_CONT : 0);
    for (i = 0; !err && i < nstd; i++)
        err = rec_mbox(s, &mb[i], i + 1 < nstd ? REC_F_CONT : 0);
    if (!err)
        err = fl_sync(s);
    if (err) {
        s->next_mbox_id = save_id;
        s->next_uidvalidity = save_uv;
        return err;
    }
    s->users[k] = u;
    s->next_user_id++;
    for (i = 0; i < nstd; i++)
        mbox_install(s, &mb[i]);
    return u.id;
}

/* ==================================================== public: mailboxes === */

int lwm_mbox_find(struct lwm_store *s, int user, const char *name,
                  size_t len)
{
    char canon[LWM_MBOX_NAME_MAX + 1];
    int err = user_ok(s, user);
    if (err)
        return err;
    err = name_norm(name, len, canon);
    if (err)
        return err;
    return find_canon(s, user, canon);
}

int lwm_mbox_next(struct lwm_store *s, int user, int prev)
{
    int i, err = user_ok(s, user);
    if (err)
        return err;
    for (i = prev < 0 ? 0 : prev + 1; i < LWM_STORE_MAX_MBOXES; i++)
        if (s->mboxes[i].id && s->mboxes[i].user == user)
            return i;
    return LWM_ERR_NOENT;
}

int lwm_mbox_info(struct lwm_store *s, int m, struct lwm_mbox_info *r)
{
    const struct lwm_mbox_ent *mb;
    int err = mbox_ok(s, m);
    if (err)
        return err;
    mb = &s->mboxes[m];
    r->name = mb->name;
    r->id = mb->id;
    r->uidvalidity = mb->uidvalidity;
    r->uidnext = mb->uidnext;
    r->highestmodseq = mb->hmodseq;
    r->exists = mb->count;
    r->unseen = mb->unseen;
    r->deleted = mb->deleted;
    r->size = mb->size;
    r->attrs = mb->attrs;
    r->user = mb->user;
    return 0;
}

/* Plan new mailboxes for every prefix of canon that does not exist yet,
 * canon included (it gets attrs), into mb[0..max). Returns how many, or
 * LWM_ERR_NOMEM (too deep, or no free slots) with the counters restored. */
static int plan_missing(struct lwm_store *s, int user, const char *canon,
                        uint16_t attrs, struct lwm_mbox_ent *mb, int max)
{
    char part[LWM_MBOX_NAME_MAX + 1];
    size_t len = strlen(canon), i;
    uint32_t save_id = s->next_mbox_id, save_uv = s->next_uidvalidity;
    int n = 0;
    for (i = 1; i <= len; i++) {
        if (i < len && canon[i] != '/')
            continue;
        memcpy(part, canon, i);
        part[i] = 0;
        if (find_canon(s, user, part) >= 0)
            continue;
        if (n == max || n >= free_slots(s)) {
            s->next_mbox_id = save_id;
            s->next_uidvalidity = save_uv;
            return LWM_ERR_NOMEM;
        }
        mbox_init(s, &mb[n++], user, part, i == len ? attrs : 0);
    }
    return n;
}

/* Create canon and its missing parents in one group (attrs on the leaf). */
static int create_with_parents(struct lwm_store *s, int user,
                               const char *canon, uint16_t attrs,
                               struct lwm_mbox_ent *pre, int npre)
{
    struct lwm_mbox_ent mb[8];
    int n, k, err;
    uint32_t save_id = s->next_mbox_id, save_uv = s->next_uidvalidity;

    n = plan_missing(s, user, canon, attrs, mb, 8);
    if (n < 0)
        return n;
    if (n + npre > free_slots(s) || journal_room(s, 160u * (uint32_t)(n + npre), 0)) {
        s->next_mbox_id = save_id;
        s->next_uidvalidity = save_uv;
        return n + npre > free_slots(s) ? LWM_ERR_NOMEM : LWM_ERR_NOSPC;
    }
    err = rec_mboxes(s, pre, npre, n);
    if (!err)
        err = rec_mboxes(s, mb, n, 0);
    if (!err)
        err = fl_sync(s);
    if (err) {
        s->next_mbox_id = save_id;
        s->next_uidvalidity = save_uv;
        return err;
    }
    for (k = 0; k < n; k++)
        mbox_install(s, &mb[k]);
    return n;
}

int lwm_mbox_create(struct lwm_store *s, int user, const char *name,
                    size_t len, uint16_t attrs)
{
    char canon[LWM_MBOX_NAME_MAX + 1];
    int err = user_mut_ok(s, user), slot;
    if (err)
        return err;
    if ((err = name_norm(name, len, canon)) != 0)
        return err;
    attrs &= LWM_MBOX_SPECIAL | LWM_MBOX_SUBSCRIBED;
    slot = find_canon(s, user, canon);
    if (slot >= 0) {
        if (!(s->mboxes[slot].attrs & LWM_MBOX_NOSELECT))
            return LWM_ERR_EXIST;
        /* re-creating a \Noselect name makes it a mailbox again */
        err = mbox_set_attrs(s, slot,
                             (uint16_t)((s->mboxes[slot].attrs &
                                         LWM_MBOX_SUBSCRIBED) | attrs));
        return err ? err : slot;
    }
    err = create_with_parents(s, user, canon, attrs, NULL, 0);
    if (err < 0)
        return err;
    return find_canon(s, user, canon);
}

/* Drop the live accounting of every message of slot m and empty it. */
static int mbox_unaccount(struct lwm_store *s, int m)
{
    struct lwm_mbox_ent *mb = &s->mboxes[m];
    uint32_t i;
    for (i = mb->first; i < mb->first + mb->count; i++) {
        struct lwm_msg msg;
        int err = body_info(s, s->msgs[i].body, &msg);
        if (!err)
            err = body_account(s, &msg, -1);
        if (err == LWM_ERR_IO)
            return err;
    }
    return 0;
}

static int has_children(struct lwm_store *s, int user, const char *canon)
{
    size_t n = strlen(canon);
    int i;
    for (i = 0; i < LWM_STORE_MAX_MBOXES; i++)
        if (s->mboxes[i].id && s->mboxes[i].user == user &&
            strncmp(s->mboxes[i].name, canon, n) == 0 &&
            s->mboxes[i].name[n] == '/')
            return 1;
    return 0;
}

int lwm_mbox_delete(struct lwm_store *s, int user, const char *name,
                    size_t len)
{
    char canon[LWM_MBOX_NAME_MAX + 1];
    struct lwm_mbox_ent nb;
    int err = user_mut_ok(s, user), slot, kids;
    uint32_t old_id;
    if (err)
        return err;
    if ((err = name_norm(name, len, canon)) != 0)
        return err;
    slot = find_canon(s, user, canon);
    if (slot < 0)
        return slot;
    if (strcmp(canon, "INBOX") == 0)
        return LWM_ERR_INVAL;
    kids = has_children(s, user, canon);
    if (kids && (s->mboxes[slot].attrs & LWM_MBOX_NOSELECT))
        return LWM_ERR_NOTEMPTY;
    if ((err = journal_room(s, 200, 1)) != 0)
        return err;
    old_id = s->mboxes[slot].id;
    /* a subscription outlives its mailbox (RFC 3501 6.3.6): the name
     * stays too, as a \Noselect placeholder (deleting that removes it) */
    if ((s->mboxes[slot].attrs &
         (LWM_MBOX_SUBSCRIBED | LWM_MBOX_NOSELECT)) == LWM_MBOX_SUBSCRIBED)
        kids = 1;
    if (kids) {
        /* RFC 3501 6.3.4: messages go, the name stays as \Noselect */
        mbox_init(s, &nb, user, canon,
                  (uint16_t)((s->mboxes[slot].attrs & LWM_MBOX_SUBSCRIBED) |
                             LWM_MBOX_NOSELECT));
        err = rec_mbox_del(s, old_id, REC_F_CONT);
        if (!err)
            err = rec_mbox(s, &nb, 0);
    } else {
        err = rec_mbox_del(s, old_id, 0);
    }
    if (!err)
        err = fl_sync(s);
    if (err)
        return err;
    err = mbox_unaccount(s, slot);
    mbox_clear(s, slot);
    if (kids)
        mbox_install(s, &nb);
    return err;
}

int lwm_mbox_subscribe(struct lwm_store *s, int user, const char *name,
                       size_t len, int on)
{
    const struct lwm_mbox_ent *mb;
    int slot = lwm_mbox_find(s, user, name, len), err;
    uint16_t attrs;
    if (slot < 0)
        return slot;
    if ((err = mutate_ok(s)) != 0)
        return err;
    mb = &s->mboxes[slot];
    attrs = (uint16_t)(on ? (mb->attrs | LWM_MBOX_SUBSCRIBED)
                          : (mb->attrs & ~LWM_MBOX_SUBSCRIBED));
    if (attrs == mb->attrs)
        return 0;
    if (!on && (attrs & LWM_MBOX_NOSELECT) &&
        !has_children(s, user, mb->name)) {
        /* the placeholder a deleted, subscribed mailbox left behind
         * goes with its subscription: deleting it does just that (the
         * name is copied there before the slot changes) */
        return lwm_mbox_delete(s, user, mb->name, strlen(mb->name));
    }
    return mbox_set_attrs(s, slot, attrs);
}

static int copy_(struct lwm_store *s, int src, int dst, const uint32_t *uids,
                 uint32_t n, int move, uint32_t *count_r,
                 const struct lwm_mbox_ent *pre, int npre);

int lwm_mbox_rename(struct lwm_store *s, int user, const char *from,
                    size_t flen, const char *to, size_t tlen)
{
    char f[LWM_MBOX_NAME_MAX + 1], t[LWM_MBOX_NAME_MAX + 1];
    struct lwm_mbox_ent mb[LWM_STORE_MAX_MBOXES > 32 ? 32
                                                    : LWM_STORE_MAX_MBOXES];
    int slots[sizeof mb / sizeof mb[0]];
    int err = user_mut_ok(s, user), slot, i, n = 0;
    size_t fl, tl;

    if (err)
        return err;
    if ((err = name_norm(from, flen, f)) != 0 ||
        (err = name_norm(to, tlen, t)) != 0)
        return err;
    slot = find_canon(s, user, f);
    if (slot < 0)
        return slot;
    if (find_canon(s, user, t) >= 0)
        return LWM_ERR_EXIST;
    fl = strlen(f);
    tl = strlen(t);
    if (tl > fl && strncmp(t, f, fl) == 0 && t[fl] == '/')
        return LWM_ERR_INVAL;           /* into its own child */
    if (strcmp(f, "INBOX") == 0) {
        /* RFC 3501 6.3.5: move INBOX's messages to a new mailbox; INBOX
         * and its children stay. One group: missing parents, the new
         * mailbox and the move. */
        struct lwm_mbox_ent nb[8];
        uint32_t cnt, save_id = s->next_mbox_id,
                      save_uv = s->next_uidvalidity;
        int np = plan_missing(s, user, t, 0, nb, 8);
        if (np < 0)
            return np;
        err = copy_(s, slot, -1, NULL, 0, 1, &cnt, nb, np);
        if (err < 0) {
            s->next_mbox_id = save_id;
            s->next_uidvalidity = save_uv;
        }
        return err < 0 ? err : 0;
    }
    /* the mailbox and its children, renamed */
    for (i = 0; i < LWM_STORE_MAX_MBOXES; i++) {
        struct lwm_mbox_ent *e = &s->mboxes[i];
        if (!e->id || e->user != user || strncmp(e->name, f, fl) != 0 ||
            (e->name[fl] != 0 && e->name[fl] != '/'))
            continue;
        if (n == (int)(sizeof mb / sizeof mb[0]))
            return LWM_ERR_NOMEM;
        if (tl + strlen(e->name + fl) > LWM_MBOX_NAME_MAX)
            return LWM_ERR_NAMETOOLONG;
        mb[n] = *e;
        memcpy(mb[n].name, t, tl);
        strcpy(mb[n].name + tl, e->name + fl);
        if (find_canon(s, user, mb[n].name) >= 0)
            return LWM_ERR_EXIST;
        slots[n++] = i;
    }
    /* missing parents of the target are created in the same group */
    {
        char parent[LWM_MBOX_NAME_MAX + 1];
        const char *slash = strrchr(t, '/');
        if (slash) {
            memcpy(parent, t, (size_t)(slash - t));
            parent[slash - t] = 0;
        }
        if (slash && find_canon(s, user, parent) < 0) {
            /* write renamed records first, then create the parents */
            err = create_with_parents(s, user, parent, 0, mb, n);
            if (err < 0)
                return err;
        } else {
            if ((err = journal_room(s, 160u * (uint32_t)n, 0)) != 0)
                return err;
            err = rec_mboxes(s, mb, n, 0);
            if (!err)
                err = fl_sync(s);
            if (err)
                return err;
        }
    }
    for (i = 0; i < n; i++)
        strcpy(s->mboxes[slots[i]].name, mb[i].name);
    return 0;
}

/* ===================================================== public: keywords === */

static int keyword_char_ok(unsigned char c)
{
    /* atom-char minus "]" and "\": no SP, CTL, ( ) { % * " \ ] */
    return c > 0x20 && c < 0x7F && c != '(' && c != ')' && c != '{' &&
           c != '%' && c != '*' && c != '"' && c != '\\' && c != ']';
}

int lwm_keyword(struct lwm_store *s, int m, const char *name, size_t len,
                int create)
{
    struct lwm_mbox_ent *mb;
    size_t i;
    int err = mbox_ok(s, m), k;
    if (err)
        return err;
    if (!name || len == 0)
        return LWM_ERR_INVAL;
    if (len > LWM_KEYWORD_LEN)
        return LWM_ERR_NAMETOOLONG;
    for (i = 0; i < len; i++)
        if (!keyword_char_ok((unsigned char)name[i]))
            return LWM_ERR_INVAL;
    mb = &s->mboxes[m];
    for (k = 0; k < mb->nkeywords; k++)
        if (strlen(mb->keywords[k]) == len && lwm_ieq(mb->keywords[k], name, len))
            return k;
    if (!create)
        return LWM_ERR_NOENT;
    if ((err = mutate_ok(s)) != 0)
        return err;
    if (mb->nkeywords >= LWM_KEYWORDS_MAX || mb->nkeywords >= 27)
        return LWM_ERR_NOMEM;
    if ((err = journal_room(s, 64, 0)) != 0)
        return err;
    k = mb->nkeywords;
    memcpy(mb->keywords[k], name, len);
    mb->keywords[k][len] = 0;
    err = rec_keyword(s, mb, k, 0);
    if (!err)
        err = fl_sync(s);
    if (err) {
        mb->keywords[k][0] = 0;
        return err;
    }
    mb->nkeywords++;
    return k;
}

const char *lwm_keyword_name(struct lwm_store *s, int m, int idx)
{
    if (mbox_ok(s, m) || idx < 0 || idx >= s->mboxes[m].nkeywords)
        return NULL;
    return s->mboxes[m].keywords[idx];
}

/* ===================================================== public: messages === */

uint32_t lwm_msg_count(struct lwm_store *s, int m)
{
    return mbox_ok(s, m) ? 0 : s->mboxes[m].count;
}

const struct lwm_msg_ent *lwm_msg_entry(struct lwm_store *s, int m,
                                        uint32_t idx)
{
    if (mbox_ok(s, m) || idx >= s->mboxes[m].count)
        return NULL;
    return &s->msgs[s->mboxes[m].first + idx];
}

int lwm_msg_get(struct lwm_store *s, int m, uint32_t idx, struct lwm_msg *r)
{
    const struct lwm_msg_ent *e;
    int err = mbox_ok(s, m);
    if (err)
        return err;
    if (idx >= s->mboxes[m].count)
        return LWM_ERR_RANGE;
    e = &s->msgs[s->mboxes[m].first + idx];
    err = body_info(s, e->body, r);
    if (err)
        return err == LWM_ERR_NOENT ? LWM_ERR_CORRUPT : err;
    r->uid = e->uid;
    r->modseq = e->modseq;
    r->flags = e->flags;
    return 0;
}

int lwm_msg_find(struct lwm_store *s, int m, uint32_t uid, int nearest)
{
    int found, err = mbox_ok(s, m);
    uint32_t pos;
    if (err)
        return err;
    pos = idx_lower(s, m, uid, &found);
    if (!found && !nearest)
        return LWM_ERR_NOENT;
    return (int)(pos - s->mboxes[m].first);
}

/* Read stream bytes [base + off, base + end) of body m. */
static int stream_read(struct lwm_store *s, const struct lwm_msg *m,
                       uint32_t base, uint32_t end, uint32_t off, void *buf,
                       uint32_t len)
{
    uint8_t *out = buf;
    uint32_t done = 0;
    if (!s->mounted)
        return LWM_ERR_NOTMOUNTED;
    if (!m || (!buf && len))
        return LWM_ERR_INVAL;
    if (off >= end)
        return 0;
    if (len > end - off)
        len = end - off;
    off += base;
    if (len > 0x7FFFFFFFu)
        len = 0x7FFFFFFFu;
    while (done < len) {
        uint32_t addr, avail;
        int err = body_locate(s, m, off + done, &addr, &avail);
        if (err)
            return err;
        if (avail > len - done)
            avail = len - done;
        err = fl_read(s, addr, out + done, avail);
        if (err)
            return err;
        done += avail;
    }
    return (int)done;
}

int lwm_msg_read(struct lwm_store *s, const struct lwm_msg *m, uint32_t off,
                 void *buf, uint32_t len)
{
    return m ? stream_read(s, m, 0, m->size, off, buf, len) : LWM_ERR_INVAL;
}

int lwm_msg_summary(struct lwm_store *s, const struct lwm_msg *m,
                    uint32_t off, void *buf, uint32_t len)
{
    return m ? stream_read(s, m, m->size, m->sum_len, off, buf, len)
             : LWM_ERR_INVAL;
}

int lwm_msg_ptr(struct lwm_store *s, const struct lwm_msg *m, uint32_t off,
                const uint8_t **p)
{
    uint32_t addr, avail;
    int err;
    if (!s->mounted)
        return LWM_ERR_NOTMOUNTED;
    if (!s->flash->mapped || !m || !p)
        return LWM_ERR_INVAL;
    if (off >= m->size)
        return 0;
    err = body_locate(s, m, off, &addr, &avail);
    if (err)
        return err;
    if (avail > m->size - off)
        avail = m->size - off;          /* the summary is not the message */
    *p = s->flash->mapped + addr;
    return avail > 0x7FFFFFFFu ? 0x7FFFFFFF : (int)avail;
}

/* ======================================================= public: append === */

int lwm_append_begin(struct lwm_store *s, int m, uint32_t date,
                     uint32_t flags)
{
    return lwm_append_begin_sized(s, m, date, flags, 0);
}

int lwm_append_begin_sized(struct lwm_store *s, int m, uint32_t date,
                           uint32_t flags, uint32_t size_hint)
{
    struct lwm_append *a;
    int i, err = mbox_mut_ok(s, m);
    if (err)
        return err;
    if (s->mboxes[m].attrs & LWM_MBOX_NOSELECT)
        return LWM_ERR_NOENT;
    if (flags >> 5 >> s->mboxes[m].nkeywords)
        return LWM_ERR_INVAL;           /* keyword bit not in the table */
    for (i = 0; i < LWM_STORE_MAX_APPENDS && s->appends[i].used; i++)
        ;
    if (i == LWM_STORE_MAX_APPENDS)
        return LWM_ERR_BUSY;
    a = &s->appends[i];
    memset(a, 0, sizeof *a);
    a->head = (uint8_t)i;
    a->mbox = (uint16_t)m;
    a->mbox_id = s->mboxes[m].id;
    a->date = date;
    a->flags = flags;
    /* a body known to need more than one block starts a block of its own
     * (it will own every block it spans); others pack after the last */
    err = body_begin(s, a, HS(s) + CS(s) +
                     (size_hint > PAYLOAD(s) - HS(s) - CS(s) ? BS(s) : 0),
                     0);
    if (err)
        return err;
    a->used = 1;
    return i;
}

static struct lwm_append *append_get(struct lwm_store *s, int a)
{
    if (!s->mounted || a < 0 || a >= LWM_STORE_MAX_APPENDS ||
        !s->appends[a].used)
        return NULL;
    return &s->appends[a];
}

/* A body that cannot be finished (a write failed part way) keeps an erased
 * C unit, which ends any scan of its block: its stream must not write
 * after it, so the stream moves on to a fresh block next time. */
static void append_drop(struct lwm_store *s, struct lwm_append *a)
{
    struct lwm_head *h = &s->heads[a->head];
    if (h->blk != LWM_NONE)
        head_detach(s, h->blk);
    a->used = 0;
}

/* Add message (summary = 0) or summary bytes to an open append. A refusal
 * (FBIG, INVAL: nothing written) leaves the append as it was; a failure
 * part way spoils it: some bytes may be missing, so it can never commit. */
static int append_add(struct lwm_store *s, int ai, const void *buf,
                      uint32_t len, int summary)
{
    struct lwm_append *a = append_get(s, ai);
    int err;
    if (!a || (!buf && len))
        return LWM_ERR_INVAL;
    if (a->err)
        return a->err;
    if ((err = mutate_ok(s)) != 0)
        return err;
    err = summary ? summary_write(s, a, buf, len, 0)
                  : body_write(s, a, buf, len, 0);
    if (err && err != LWM_ERR_FBIG && err != LWM_ERR_INVAL)
        a->err = err;
    return err;
}

int lwm_append_write(struct lwm_store *s, int ai, const void *buf,
                     uint32_t len)
{
    return append_add(s, ai, buf, len, 0);
}

int lwm_append_summary(struct lwm_store *s, int ai, const void *buf,
                       uint32_t len)
{
    return append_add(s, ai, buf, len, 1);
}

void lwm_append_abort(struct lwm_store *s, int ai)
{
    struct lwm_append *a = append_get(s, ai);
    if (!a)
        return;
    /* mark the body aborted so scans can step over it */
    if (a->err || body_finish(s, a, 1, NULL) != 0)
        append_drop(s, a);
    a->used = 0;
}

int lwm_append_commit(struct lwm_store *s, int ai)
{
    struct lwm_append *a = append_get(s, ai);
    struct lwm_mbox_ent *mb;
    struct lwm_msg_ent e;
    struct lwm_msg msg;
    int slot, err, found;
    uint32_t pos;

    if (!a)
        return LWM_ERR_INVAL;
    if (a->err || (err = mutate_ok(s)) != 0) {
        err = a->err ? a->err : err;
        append_drop(s, a);
        return err;
    }
    mb = mbox_by_id(s, a->mbox_id, &slot);
    if (!mb || (mb->attrs & LWM_MBOX_NOSELECT)) {
        err = LWM_ERR_NOENT;            /* deleted while we appended */
        (void)body_finish(s, a, 1, NULL);
        goto out;
    }
    if (s->nmsgs >= LWM_STORE_MAX_MSGS || mb->uidnext == LWM_NONE) {
        err = LWM_ERR_NOMEM;
        (void)body_finish(s, a, 1, NULL);
        goto out;
    }
    err = body_finish(s, a, 0, &msg);
    if (err) {
        append_drop(s, a);
        return err;
    }
    err = fl_sync(s);
    if (!err)
        err = journal_room(s, 64, 0);
    if (err)
        goto out;
    e.uid = mb->uidnext;
    e.modseq = mb->hmodseq + 1;
    e.flags = a->flags;
    e.body = msg.body;
    err = rec_msgs(s, mb->id, &e, 1, 0);
    if (!err)
        err = fl_sync(s);
    if (err)
        goto out;
    pos = idx_lower(s, slot, e.uid, &found);
    idx_insert(s, slot, pos, &e);
    mb->uidnext = e.uid + 1;
    mb->hmodseq = e.modseq;
    ent_add_counts(mb, e.flags, msg.size, +1);
    err = body_account(s, &msg, +1);
    if (!err)
        err = (int)e.uid;
out:
    a->used = 0;
    return err;
}

/* ==================================================== public: flags etc. === */

int lwm_store_flags(struct lwm_store *s, int m, const uint32_t *uids,
                    uint32_t n, enum lwm_flags_op op, uint32_t flags)
{
    struct lwm_mbox_ent *mb;
    uint32_t i, changed = 0, left, k = 0, ms, keep, set;
    uint8_t *p;
    int err = mbox_mut_ok(s, m), found;

    if (err)
        return err;
    if ((!uids && n) || op > LWM_FLAGS_REMOVE)
        return LWM_ERR_INVAL;
    /* each operation as new = (old & keep) | set */
    keep = op == LWM_FLAGS_SET ? 0 : op == LWM_FLAGS_ADD ? ~0u : ~flags;
    set = op == LWM_FLAGS_REMOVE ? 0 : flags;
    mb = &s->mboxes[m];
    if (flags >> 5 >> mb->nkeywords)
        return LWM_ERR_INVAL;
    for (i = 0; i < n; i++) {
        uint32_t pos = idx_lower(s, m, uids[i], &found);
        if (found && ((s->msgs[pos].flags & keep) | set) !=
                         s->msgs[pos].flags)
            changed++;
    }
    if (!changed)
        return 0;
    if ((err = journal_room(s, (changed / FLAGS_PER_REC + 1) *
                                   (REC_PAYLOAD_MAX + 8), 0)) != 0)
        return err;
    ms = mb->hmodseq + 1;
    p = rp(s);
    left = changed;
    for (i = 0; i < n && left; i++) {
        uint32_t pos = idx_lower(s, m, uids[i], &found), nf;
        if (!found)
            continue;
        nf = (s->msgs[pos].flags & keep) | set;
        if (nf == s->msgs[pos].flags)
            continue;
        lwm_put32(p + 6 + 12 * k, uids[i]);
        lwm_put32(p + 10 + 12 * k, ms);
        lwm_put32(p + 14 + 12 * k, nf);
        k++;
        left--;
        if (k == FLAGS_PER_REC || left == 0) {
            lwm_put32(p, mb->id);
            lwm_put16(p + 4, (uint16_t)k);
            err = meta_write(s, REC_FLAGS, left ? REC_F_CONT : 0, 6 + 12 * k);
            if (err)
                return err;
            k = 0;
        }
    }
    err = fl_sync(s);
    if (err)
        return err;
    changed = 0;
    for (i = 0; i < n; i++) {
        uint32_t pos = idx_lower(s, m, uids[i], &found), nf;
        struct lwm_msg_ent *e = &s->msgs[pos];
        if (!found)
            continue;
        nf = (e->flags & keep) | set;
        if (nf == e->flags)
            continue;
        ent_add_counts(mb, e->flags, 0, -1);
        ent_add_counts(mb, nf, 0, +1);
        e->flags = nf;
        e->modseq = ms;
        changed++;
    }
    mb->hmodseq = ms;
    return (int)changed;
}

/* uids == NULL means "every message of m" (RENAME INBOX moves them all):
 * the i-th of the n */
static uint32_t uid_at(struct lwm_store *s, int m, const uint32_t *uids,
                       uint32_t i)
{
    return uids ? uids[i] : s->msgs[s->mboxes[m].first + i].uid;
}

/* Write EXPUNGE records for the present uids of slot m (count known). */
static int rec_expunge_uids(struct lwm_store *s, int m, const uint32_t *uids,
                            uint32_t n, uint32_t count, uint32_t ms,
                            int more)
{
    uint8_t *p = rp(s);
    uint32_t i, k = 0, left = count;
    int found, err;
    for (i = 0; i < n && left; i++) {
        uint32_t uid = uid_at(s, m, uids, i);
        idx_lower(s, m, uid, &found);
        if (!found)
            continue;
        lwm_put32(p + 10 + 4 * k, uid);
        k++;
        left--;
        if (k == UIDS_PER_REC || left == 0) {
            lwm_put32(p, s->mboxes[m].id);
            lwm_put32(p + 4, ms);
            lwm_put16(p + 8, (uint16_t)k);
            err = meta_write(s, REC_EXPUNGE, (left || more) ? REC_F_CONT : 0,
                             10 + 4 * k);
            if (err)
                return err;
            k = 0;
        }
    }
    return 0;
}

/* Remove present uids of slot m from RAM, dropping their accounting
 * (from the last: with uids NULL the ones before stay where they are). */
static int drop_uids(struct lwm_store *s, int m, const uint32_t *uids,
                     uint32_t n, int account)
{
    struct lwm_mbox_ent *mb = &s->mboxes[m];
    uint32_t i = n;
    int found, cnt = 0;
    while (i-- > 0) {
        uint32_t pos = idx_lower(s, m, uid_at(s, m, uids, i), &found);
        struct lwm_msg msg;
        int err;
        if (!found)
            continue;
        err = body_info(s, s->msgs[pos].body, &msg);
        if (!err && account)
            err = body_account(s, &msg, -1);
        if (err == LWM_ERR_IO)
            return err;
        ent_add_counts(mb, s->msgs[pos].flags, err ? 0 : msg.size, -1);
        idx_remove(s, m, pos);
        cnt++;
    }
    return cnt;
}

int lwm_expunge(struct lwm_store *s, int m, const uint32_t *uids, uint32_t n)
{
    struct lwm_mbox_ent *mb;
    uint32_t i, count = 0, ms;
    int err = mbox_mut_ok(s, m), found;
    if (err)
        return err;
    if (!uids && n)
        return LWM_ERR_INVAL;
    mb = &s->mboxes[m];
    for (i = 0; i < n; i++) {
        idx_lower(s, m, uids[i], &found);
        count += (uint32_t)found;
    }
    if (!count)
        return 0;
    if ((err = journal_room(s, (count / UIDS_PER_REC + 1) *
                                   (REC_PAYLOAD_MAX + 8), 1)) != 0)
        return err;
    ms = mb->hmodseq + 1;
    err = rec_expunge_uids(s, m, uids, n, count, ms, 0);
    if (!err)
        err = fl_sync(s);
    if (err)
        return err;
    mb->hmodseq = ms;
    return drop_uids(s, m, uids, n, 1);
}

static uint32_t kw_remap(uint32_t flags, const uint8_t *kmap)
{
    uint32_t out = flags & LWM_FLAG_SYSTEM, i;
    for (i = 0; i < LWM_KEYWORDS_MAX; i++)
        if (flags & LWM_FLAG_KEYWORD(i))
            out |= LWM_FLAG_KEYWORD(kmap[i]);
    return out;
}

/* COPY/MOVE (and RENAME INBOX when pre is given: pre is a new mailbox
 * that becomes dst, written first in the same group; dst is then -1 and
 * uids NULL means all of src). */
static int copy_(struct lwm_store *s, int src, int dst, const uint32_t *uids,
                 uint32_t n, int move, uint32_t *count_r,
                 const struct lwm_mbox_ent *pre, int npre)
{
    struct lwm_mbox_ent *sm = &s->mboxes[src], *dm, tmp;
    uint32_t i, count = 0, k = 0, left, first_uid, dms, sms;
    uint8_t kmap[LWM_KEYWORDS_MAX];
    uint8_t *p;
    int err, found;

    if (pre) {
        tmp = pre[npre - 1];
        dm = &tmp;
        n = sm->count;
        uids = NULL;
    } else {
        dm = &s->mboxes[dst];
    }
    for (i = 0; i < n; i++) {
        idx_lower(s, src, uid_at(s, src, uids, i), &found);
        count += (uint32_t)found;
    }
    *count_r = 0;
    if (!count && !pre)
        return 0;
    if (s->nmsgs + (move ? 0 : count) > LWM_STORE_MAX_MSGS ||
        (pre && s->nmsgs + count > LWM_STORE_MAX_MSGS))
        return LWM_ERR_NOMEM;
    if (dm->uidnext > LWM_NONE - count - 1)
        return LWM_ERR_NOMEM;
    if ((err = journal_room(s, (count / MSGS_PER_REC + 2) *
                                       (REC_PAYLOAD_MAX + 8) * 2 + 200,
                            0)) != 0)
        return err;
    /* keywords are per mailbox: map the source's indexes to the
     * destination's, adding names the destination lacks */
    if (pre) {
        for (i = 0; i < sm->nkeywords; i++)
            strcpy(tmp.keywords[i], sm->keywords[i]);
        tmp.nkeywords = sm->nkeywords;
        for (i = 0; i < LWM_KEYWORDS_MAX; i++)
            kmap[i] = (uint8_t)i;
    } else {
        /* names the destination lacks are added in the same group, so a
         * COPY that fails leaves no keyword behind */
        uint32_t used = 0;
        tmp = *dm;
        for (i = 0; i < n; i++) {
            uint32_t pos = idx_lower(s, src, uids[i], &found);
            if (found)
                used |= s->msgs[pos].flags >> 5;
        }
        for (i = 0; i < LWM_KEYWORDS_MAX; i++) {
            int kd;
            kmap[i] = (uint8_t)i;
            if (!(used >> i & 1u) || src == dst)
                continue;
            kd = lwm_keyword(s, dst, sm->keywords[i],
                             strlen(sm->keywords[i]), 0);
            if (kd == LWM_ERR_NOENT) {
                if (tmp.nkeywords >= LWM_KEYWORDS_MAX || tmp.nkeywords >= 27)
                    return LWM_ERR_NOMEM;
                kd = tmp.nkeywords++;
                strcpy(tmp.keywords[kd], sm->keywords[i]);
            }
            if (kd < 0)
                return kd;
            kmap[i] = (uint8_t)kd;
        }
    }
    first_uid = dm->uidnext;
    dms = dm->hmodseq + 1;
    sms = sm->hmodseq + 1;
    if (!pre) {
        uint8_t kk;
        for (kk = dm->nkeywords; kk < tmp.nkeywords; kk++) {
            err = rec_keyword(s, &tmp, kk, REC_F_CONT);
            if (err)
                return err;
        }
    }
    if (pre) {
        int kk;
        for (kk = 0; kk + 1 < npre; kk++) {
            err = rec_mbox(s, &pre[kk], REC_F_CONT);   /* parents */
            if (err)
                return err;
        }
        err = rec_mbox(s, &tmp, (count || tmp.nkeywords) ? REC_F_CONT : 0);
        for (kk = 0; !err && kk < tmp.nkeywords; kk++)
            err = rec_keyword(s, &tmp, kk,
                              (count || kk + 1 < tmp.nkeywords) ? REC_F_CONT
                                                                : 0);
        if (err)
            return err;
    }
    p = rp(s);
    left = count;
    for (i = 0; i < n && left; i++) {
        uint32_t pos = idx_lower(s, src, uid_at(s, src, uids, i), &found);
        if (!found)
            continue;
        lwm_put32(p + 6 + 16 * k, first_uid + (count - left));
        lwm_put32(p + 10 + 16 * k, dms);
        lwm_put32(p + 14 + 16 * k, kw_remap(s->msgs[pos].flags, kmap));
        lwm_put32(p + 18 + 16 * k, s->msgs[pos].body);
        k++;
        left--;
        if (k == MSGS_PER_REC || left == 0) {
            lwm_put32(p, dm->id);
            lwm_put16(p + 4, (uint16_t)k);
            err = meta_write(s, REC_MSGS, (left || move) ? REC_F_CONT : 0,
                             6 + 16 * k);
            if (err)
                return err;
            k = 0;
        }
    }
    if (move && count) {
        err = rec_expunge_uids(s, src, uids, n, count, sms, 0);
        if (err)
            return err;
    }
    err = fl_sync(s);
    if (err)
        return err;

    /* apply to RAM */
    if (!pre && tmp.nkeywords > dm->nkeywords) {
        memcpy(dm->keywords, tmp.keywords, sizeof dm->keywords);
        dm->nkeywords = tmp.nkeywords;
    }
    if (pre) {
        int kk;
        for (kk = 0; kk + 1 < npre; kk++)
            if (mbox_install(s, &pre[kk]) < 0)
                return LWM_ERR_NOMEM;
        dst = mbox_install(s, &tmp);
        if (dst < 0)
            return dst;
        dm = &s->mboxes[dst];
        sm = &s->mboxes[src];
    }
    left = count;
    for (i = 0; i < n && left; i++) {
        uint32_t pos = idx_lower(s, src, uid_at(s, src, uids, i), &found), dp;
        struct lwm_msg_ent e;
        struct lwm_msg msg;
        if (!found)
            continue;
        e = s->msgs[pos];
        e.uid = first_uid + (count - left);
        e.modseq = dms;
        e.flags = kw_remap(e.flags, kmap);
        err = body_info(s, e.body, &msg);
        if (!err)
            err = body_account(s, &msg, +1);
        if (err == LWM_ERR_IO)
            return err;
        dp = idx_lower(s, dst, e.uid, &found);
        idx_insert(s, dst, dp, &e);
        ent_add_counts(dm, e.flags, err ? 0 : msg.size, +1);
        left--;
    }
    if (count) {
        dm->uidnext = first_uid + count;
        dm->hmodseq = dms;
    }
    if (move && count) {
        err = drop_uids(s, src, uids, n, 1);
        if (err < 0)
            return err;
        sm->hmodseq = sms;
    }
    *count_r = count;
    return (int)first_uid;
}

int lwm_copy(struct lwm_store *s, int src, int dst, const uint32_t *uids,
             uint32_t n, int move, uint32_t *count_r)
{
    uint32_t dummy;
    int err = mbox_ok(s, src);
    if (!err)
        err = mbox_mut_ok(s, dst);
    if (err)
        return err;
    if (!count_r)
        count_r = &dummy;
    if ((!uids && n) || (s->mboxes[dst].attrs & LWM_MBOX_NOSELECT))
        return LWM_ERR_INVAL;
    return copy_(s, src, dst, uids, n, move, count_r, NULL, 0);
}

/* ================================================= garbage collection === */

/* Lowest seq among blocks that hold a body still being written: blocks
 * from there on may contain half-written bodies and are never victims. */
static uint32_t active_seq_floor(const struct lwm_store *s)
{
    uint32_t lo = LWM_NONE;
    int i;
    for (i = 0; i < LWM_STORE_MAX_APPENDS; i++)
        if (s->appends[i].used && s->appends[i].first_seq < lo)
            lo = s->appends[i].first_seq;
    if (s->gc_src != LWM_NONE && s->gc_copy.first_seq < lo)
        lo = s->gc_copy.first_seq;
    return lo;
}

/* Is b the open block of a stream that is writing a body right now? An
 * idle stream's block can be taken from it (head_detach). */
static int head_busy(const struct lwm_store *s, uint32_t b)
{
    int i;
    for (i = 0; i <= LWM_STORE_MAX_APPENDS; i++)
        if (s->heads[i].blk == b &&
            (i == GC_HEAD ? s->gc_src != LWM_NONE : s->appends[i].used))
            return 1;
    return 0;
}

static int is_open(const struct lwm_store *s, uint32_t b)
{
    int i;
    for (i = 0; i <= LWM_STORE_MAX_APPENDS; i++)
        if (s->heads[i].blk == b)
            return 1;
    return 0;
}

/* Close any idle stream's open block b (the next body starts elsewhere). */
static void head_detach(struct lwm_store *s, uint32_t b)
{
    int i;
    if (b == LWM_NONE)
        return;
    for (i = 0; i <= LWM_STORE_MAX_APPENDS; i++)
        if (s->heads[i].blk == b) {
            if (i != GC_HEAD)
                s->blks[b].written = PAYLOAD(s);
            s->heads[i].blk = LWM_NONE;
        }
}

static int victim_ok(const struct lwm_store *s, uint32_t b, uint32_t floor,
                     int allow_pinned)
{
    const struct lwm_blk_ent *e = &s->blks[b];
    return e->state == LWM_BLK_DATA && (allow_pinned || e->pins == 0) &&
           !(e->flags & LWM_BLKF_NOGC) && e->seq < floor && !head_busy(s, b);
}

static uint32_t count_refs(const struct lwm_store *s, uint32_t body)
{
    uint32_t i, n = 0;
    for (i = 0; i < s->nmsgs; i++)
        n += s->msgs[i].body == body;
    return n;
}

/* Write the *k entries prepared in rp(s) as a MSGS record of mailbox
 * mbox_id (continued if more follow) and start a new one. */
static int msgs_flush(struct lwm_store *s, uint32_t mbox_id, uint32_t *k,
                      uint32_t more)
{
    uint8_t *p = rp(s);
    lwm_put32(p, mbox_id);
    lwm_put16(p + 4, (uint16_t)*k);
    *k = 0;
    return meta_write(s, REC_MSGS, more ? REC_F_CONT : 0,
                      6 + 16 * lwm_get16(p + 4));
}

/* The copy of gc_src is complete: point every entry at the new body. */
static int gc_copy_finish(struct lwm_store *s)
{
    struct lwm_msg nm, om;
    uint32_t refs, left, k = 0, i;
    uint8_t *p = rp(s);
    int m, err;

    err = body_finish(s, &s->gc_copy, 0, &nm);
    if (err) {
        head_detach(s, s->heads[s->gc_copy.head].blk);
        s->gc_src = LWM_NONE;
        s->gc_victim = LWM_NONE;
        if (err == LWM_ERR_NOSPC) {
            s->gc_stall = 1;
            return 0;
        }
        return err;
    }
    err = fl_sync(s);
    if (err)
        return err;
    refs = count_refs(s, s->gc_src);
    if (refs) {
        /* one group of MSGS records, one per mailbox run */
        left = refs;
        for (m = 0; m < LWM_STORE_MAX_MBOXES && left; m++) {
            struct lwm_mbox_ent *mb = &s->mboxes[m];
            if (!mb->id)
                continue;
            for (i = mb->first; i < mb->first + mb->count && left; i++) {
                const struct lwm_msg_ent *e = &s->msgs[i];
                if (e->body != s->gc_src)
                    continue;
                lwm_put32(p + 6 + 16 * k, e->uid);
                lwm_put32(p + 10 + 16 * k, e->modseq);
                lwm_put32(p + 14 + 16 * k, e->flags);
                lwm_put32(p + 18 + 16 * k, nm.body);
                k++;
                left--;
                if (k == MSGS_PER_REC &&
                    (err = msgs_flush(s, mb->id, &k, left)) != 0)
                    return err;
            }
            /* a record names one mailbox: end it with the mailbox */
            if (k && (err = msgs_flush(s, mb->id, &k, left)) != 0)
                return err;
        }
        err = fl_sync(s);
        if (err)
            return err;
        err = body_info(s, s->gc_src, &om);
        if (err) {
            s->gc_src = LWM_NONE;
            return err == LWM_ERR_NOENT ? LWM_ERR_CORRUPT : err;
        }
        for (i = 0; i < s->nmsgs; i++) {
            if (s->msgs[i].body != s->gc_src)
                continue;
            s->msgs[i].body = nm.body;
            body_account(s, &om, -1);
            body_account(s, &nm, +1);
        }
        s->st.gc_moved_bodies++;
        s->st.gc_moved_bytes += nm.size;
    }
    s->gc_src = LWM_NONE;
    return 0;
}

/* Copy up to LWM_GC_STEP_BYTES of the body being moved. */
static int gc_copy_step(struct lwm_store *s)
{
    struct lwm_append *a = &s->gc_copy;
    const struct lwm_msg *m = &s->gc_src_msg;
    uint32_t budget = LWM_GC_STEP_BYTES, size = m->size;
    while (a->len + a->slen < size + m->sum_len && budget > 0) {
        int sum = a->len == size;       /* the message is done: summary */
        uint32_t at = sum ? a->slen : a->len;
        uint32_t n = (sum ? m->sum_len : size) - at;
        int err;
        if (n > sizeof s->buf)
            n = sizeof s->buf;
        if (n > budget)
            n = budget;
        err = sum ? lwm_msg_summary(s, m, at, s->buf, n)
                  : lwm_msg_read(s, m, at, s->buf, n);
        if (err >= 0 && (uint32_t)err != n)
            err = LWM_ERR_CORRUPT;
        if (err >= 0)
            err = sum ? summary_write(s, a, s->buf, n, 1)
                      : body_write(s, a, s->buf, n, 1);
        if (err == LWM_ERR_NOSPC) {
            /* no room to finish a big move: give it up; the GC stream
             * goes on in a fresh block, past the unfinished copy */
            head_detach(s, s->heads[a->head].blk);
            s->gc_src = LWM_NONE;
            s->gc_victim = LWM_NONE;
            s->gc_stall = 1;
            return 0;
        }
        if (err < 0)
            return err;
        budget -= n;
    }
    if (a->len == size && a->slen == m->sum_len)
        return gc_copy_finish(s);
    return 0;
}

/* Start moving live body `body` (whose H/C were read into m). */
static int gc_move_start(struct lwm_store *s, const struct lwm_msg *m)
{
    struct lwm_append *a = &s->gc_copy;
    uint32_t need = HS(s) + CS(s), blocks;
    int err;
    /* A body that fits one block stays in one block; a multi-block one
     * packs right after the last (no tail is left unwritten in the GC's
     * blocks, which GC would never get back); a big one (moved only for
     * wear) gets blocks of its own. */
    if (body_total(m) <= PAYLOAD(s) - HS(s) - CS(s))
        need += lwm_align_up(body_total(m), s->unit);
    else if (m->last_n - m->first_n >= GC_MOVE_MAX_BLOCKS)
        need += BS(s);
    {
        const struct lwm_head *h = &s->heads[GC_HEAD];
        if (need <= PAYLOAD(s) && h->blk != LWM_NONE &&
            h->off + need <= BS(s))
            blocks = 0;                   /* fits where the GC writes */
        else
            blocks = (body_total(m) + HS(s) + CS(s)) / PAYLOAD(s) + 1;
    }
    if (blk_free_count(s) < blocks + blk_reserve(s, TIER_GC) + 1)
        return LWM_ERR_NOSPC;
    memset(a, 0, sizeof *a);
    a->head = GC_HEAD;
    a->date = m->date;
    s->gc_src = m->body;
    s->gc_src_msg = *m;
    err = body_begin(s, a, need, 1);
    if (err) {
        s->gc_src = LWM_NONE;
        return err;
    }
    a->used = 1;
    return 0;
}

/* Move live body m out of the victim, unless compaction should leave it
 * (GC_SKIP: a big body) or there is no room now (LWM_ERR_NOSPC). */
#define GC_SKIP 1
static int gc_try_move(struct lwm_store *s, const struct lwm_msg *m)
{
    if (!s->gc_wear && m->last_n - m->first_n >= GC_MOVE_MAX_BLOCKS)
        return GC_SKIP;
    return gc_move_start(s, m);
}

/* Is the live body at addr one whose chain passes through block v? */
static int body_covers(struct lwm_store *s, uint32_t addr, uint32_t v,
                       uint32_t vn, struct lwm_msg *m)
{
    uint32_t blk;
    if (addr == LWM_NONE || !count_refs(s, addr) || body_info(s, addr, m))
        return 0;
    if (vn <= m->first_n || vn > m->last_n)
        return 0;
    return chain_seek(s, m->last_blk, m->last_n, vn, &blk) == 0 && blk == v;
}

/* Look at the next body of the victim: step over dead ones, start moving
 * a live one, or finish the victim. gc_off == 0: look at the body whose
 * tail begins the block first. */
static int gc_scan_step(struct lwm_store *s)
{
    uint32_t v = s->gc_victim, o = s->gc_off;
    uint8_t h[BODY_H_BYTES], c[BODY_C_BYTES];
    uint32_t len, last, next, first_n, last_n;
    struct lwm_msg m;
    int err;

    if (o == 0) {
        uint8_t b[BLK_B_FIXED], f[BLK_F_BYTES];
        uint32_t vn;
        err = fl_read(s, blk_addr(s, v) + A_SIZE(s), b, sizeof b);
        if (!err)
            err = fl_read(s, blk_addr(s, v) + A_SIZE(s) + B_SIZE(s), f,
                          sizeof f);
        if (err)
            return err;
        vn = lwm_get32(b + 8);
        if (vn == 0) {
            s->gc_off = s->hdr_size;
        } else {
            s->gc_off = lwm_get32(f + 4) ==
                                first_unit_crc(s->blks[v].seq, lwm_get32(f)) &&
                                lwm_get32(f) >= s->hdr_size
                            ? lwm_get32(f) : BS(s);
            if (body_covers(s, lwm_get32(b + 12), v, vn, &m)) {
                err = gc_try_move(s, &m);
                goto moved;
            }
        }
        return 0;
    }
    if (o + HS(s) + CS(s) > BS(s))
        goto done;
    err = body_hc_read(s, blk_addr(s, v) + o, h, c);
    if (err == LWM_ERR_CORRUPT)
        goto done; /* erased, or torn by a power cut: nothing after it */
    if (err)
        return err;
    len = lwm_get32(c);
    if (lwm_get32(c + 16) > LWM_SUMMARY_MAX)
        goto done;
    len += lwm_get32(c + 16);           /* the summary follows the message */
    last = lwm_get32(c + 4);
    first_n = lwm_get32(h + 8);
    last_n = lwm_get32(c + 8);
    next = o + HS(s) + CS(s) + lwm_align_up(len, s->unit);
    if (len > LWM_MSG_SIZE_MAX)
        goto done;
    if (last_n != first_n)
        next = BS(s);  /* the rest of the block is this body */
    s->gc_off = next;
    if (last != LWM_NONE && count_refs(s, blk_addr(s, v) + o) &&
        body_info(s, blk_addr(s, v) + o, &m) == 0) {
        err = gc_try_move(s, &m);
        goto moved;
    }
    return 0;
moved:
    if (err == GC_SKIP)
        goto giveup;
    if (err == LWM_ERR_NOSPC)
        goto stall;
    return err;
done:
    if (s->blks[v].live == 0 && s->blks[v].pins == 0) {
        s->blks[v].state = LWM_BLK_DIRTY;
    } else {
giveup:
        /* live bytes we could not find (accounting and flash disagree),
         * or a big body compaction won't move: leave the block alone
         * (until it dies, or the next snapshot) */
        s->blks[v].flags |= LWM_BLKF_NOGC;
    }
    s->gc_victim = LWM_NONE;
    return 0;
stall:
    /* no room to move it now: no compaction until something is freed */
    s->gc_stall = 1;
    s->gc_victim = LWM_NONE;
    return 0;
}

static void gc_set_victim(struct lwm_store *s, uint32_t b, int wear)
{
    head_detach(s, b);
    s->gc_victim = b;
    s->gc_off = 0;
    s->gc_wear = (uint8_t)wear;
}

/* ======================================================== snapshots === */

static uint32_t snap_trigger(const struct lwm_store *s)
{
    uint32_t t = s->snap_bytes;
    if (t < 4 * PAYLOAD(s))
        t = 4 * PAYLOAD(s);
    return t;
}

static int snap_start(struct lwm_store *s)
{
    int i, err;
    s->meta_blk = LWM_NONE;            /* BEGIN opens a fresh block */
    s->snap_no++;
    lwm_put32(rp(s), s->snap_no);
    err = meta_write(s, REC_SNAP_BEGIN, 0, 4);
    if (err)
        return err;
    s->snap_start_blk = s->meta_blk;
    s->journal_bytes = s->meta_off - s->hdr_size;
    err = rec_state(s);
    for (i = 0; !err && i < LWM_STORE_MAX_USERS; i++)
        if (s->users[i].id)
            err = rec_user(s, &s->users[i], 0);
    if (err)
        return err;
    s->snap_active = 1;
    s->snap_mbox = 0;
    s->snap_mbox_id = 0;
    s->snap_uid = 0;
    return 0;
}

/* Write a few snapshot records; finish with SNAP_END and free the META
 * blocks older than the snapshot. */
static int snap_step(struct lwm_store *s)
{
    int budget = 8, err = 0;
    while (budget > 0) {
        struct lwm_mbox_ent *mb;
        int slot = s->snap_mbox;
        while (slot < LWM_STORE_MAX_MBOXES && !s->mboxes[slot].id)
            slot++;
        if (slot >= LWM_STORE_MAX_MBOXES) {
            uint32_t b, floor = s->blks[s->snap_start_blk].seq;
            lwm_put32(rp(s), s->snap_no);
            err = meta_write(s, REC_SNAP_END, 0, 4);
            if (!err)
                err = fl_sync(s);
            if (err)
                return err;
            for (b = 0; b < NBLK(s); b++)
                if (s->blks[b].state == LWM_BLK_META &&
                    s->blks[b].seq < floor)
                    s->blks[b].state = LWM_BLK_DIRTY;
            for (b = 0; b < NBLK(s); b++)
                s->blks[b].flags &= (uint8_t)~LWM_BLKF_NOGC;
            s->meta_floor = floor;
            s->snap_bytes = s->journal_bytes;
            s->journal_bytes = 0;
            s->snap_active = 0;
            s->st.snapshots++;
            return 0;
        }
        s->snap_mbox = (uint16_t)slot;
        mb = &s->mboxes[slot];
        if (s->snap_mbox_id != mb->id) {
            int k;
            err = rec_mbox(s, mb, 0);
            for (k = 0; !err && k < mb->nkeywords; k++)
                err = rec_keyword(s, mb, k, 0);
            if (err)
                return err;
            s->snap_mbox_id = mb->id;
            s->snap_uid = 0;
            budget -= 1 + mb->nkeywords;
            continue;
        }
        {
            int found;
            uint32_t pos = idx_lower(s, slot, s->snap_uid + 1, &found);
            uint32_t end = mb->first + mb->count, k = end - pos;
            if (s->snap_uid == LWM_NONE || k == 0) {
                s->snap_mbox = (uint16_t)(slot + 1);
                s->snap_mbox_id = 0;
                continue;
            }
            if (k > MSGS_PER_REC)
                k = MSGS_PER_REC;
            err = rec_msgs(s, mb->id, &s->msgs[pos], k, 0);
            if (err)
                return err;
            s->snap_uid = s->msgs[pos + k - 1].uid;
            budget--;
        }
    }
    return 0;
}

/* ================================================= wear, gc decisions === */

/* Static wear levelling: if some block is much less worn than the most
 * worn one, move what sits on it so it gets erased and reused. */
static int wear_step(struct lwm_store *s, uint32_t floor, uint32_t spread)
{
    uint32_t b, ec_max = 0, cold = LWM_NONE;
    for (b = 0; b < NBLK(s); b++)
        if (s->blks[b].erase_count > ec_max)
            ec_max = s->blks[b].erase_count;
    for (b = 0; b < NBLK(s); b++) {
        const struct lwm_blk_ent *e = &s->blks[b];
        int movable = victim_ok(s, b, floor, 1) ||
                      (e->state == LWM_BLK_META && b != s->meta_blk);
        if (!movable)
            continue;
        if (cold == LWM_NONE || e->erase_count < s->blks[cold].erase_count)
            cold = b;
    }
    if (cold == LWM_NONE || s->blks[cold].erase_count + spread >= ec_max)
        return 0;
    if (s->blks[cold].state == LWM_BLK_META) {
        if (s->snap_active || blk_free_count(s) <= snap_blocks(s) + 1)
            return 0;
        return snap_start(s) ? -1 : 1;
    }
    gc_set_victim(s, cold, 1);
    return 1;
}

static int gc_step_(struct lwm_store *s, int inline_alloc)
{
    uint32_t b, floor, best;
    int err;

    if (!s->mounted)
        return LWM_ERR_NOTMOUNTED;
    if (s->failed)
        return LWM_ERR_IO;
    /* 1. finish what is under way, one bounded piece at a time */
    if (s->gc_src != LWM_NONE) {
        err = gc_copy_step(s);
        return err ? err : 1;
    }
    if (s->gc_victim != LWM_NONE) {
        err = gc_scan_step(s);
        return err ? err : 1;
    }
    if (s->snap_active) {
        err = snap_step(s);
        return err ? err : 1;
    }
    /* 2. erase a dirty block */
    for (b = 0; b < NBLK(s); b++)
        if (s->blks[b].state == LWM_BLK_DIRTY) {
            err = blk_erase(s, b);
            return err ? err : 1;
        }
    floor = active_seq_floor(s);
    /* 3. data blocks with nothing live in them are dirty */
    for (b = 0; b < NBLK(s); b++)
        if (s->blks[b].state == LWM_BLK_DATA && s->blks[b].pins == 0 &&
            s->blks[b].seq < floor && !head_busy(s, b) &&
            s->blks[b].live == 0 &&
            (s->blks[b].written > 0 || !is_open(s, b))) {
            head_detach(s, b);
            s->blks[b].state = LWM_BLK_DIRTY;
            return 1;
        }
    /* 4. compact the journal when it has grown past the snapshot */
    if (!s->snap_active &&
        (s->journal_bytes > snap_trigger(s) ||
         (s->journal_bytes > 2 * PAYLOAD(s) &&
          blk_free_count(s) < blk_reserve(s, TIER_USER) +
                                  LWM_GC_FREE_TARGET)) &&
        blk_free_count(s) > snap_blocks(s) + 1) {
        err = snap_start(s);
        return err ? err : 1;
    }
    /* 5. wear first when the spread has passed its bound: under constant
     * space pressure compaction would otherwise always come first (not
     * while an append waits for room: that wants space, now) */
    if (!s->gc_stall && !inline_alloc) {
        err = wear_step(s, floor, LWM_WEAR_SPREAD);
        if (err)
            return err < 0 ? LWM_ERR_IO : 1;
    }
    /* 6. make room: the data block with the most to give back */
    if (!s->gc_stall && (s->gc_forced || inline_alloc ||
        blk_free_count(s) < blk_reserve(s, TIER_USER) + LWM_GC_FREE_TARGET)) {
        /* greedy: the most dead bytes. Only dead bytes count as gain (an
         * unwritten tail is no gain), so every victim frees at least
         * min_gain and compaction always terminates. */
        uint32_t best_gain = PAYLOAD(s) / 16, min_gain;
        min_gain = HS(s) + CS(s) + 4 * s->unit;
        if (best_gain < min_gain)
            best_gain = min_gain;
        best = LWM_NONE;
        for (b = 0; b < NBLK(s); b++) {
            const struct lwm_blk_ent *e = &s->blks[b];
            uint32_t g;
            if (!victim_ok(s, b, floor, 1) || e->written <= e->live)
                continue;
            g = e->written - e->live;
            if (g >= best_gain) {
                best = b;
                best_gain = g + 1;
            }
        }
        s->gc_forced = 0;
        if (best != LWM_NONE) {
            gc_set_victim(s, best, 0);
            return 1;
        }
    }

    return 0;
}

int lwm_store_gc_step(struct lwm_store *s)
{
    return gc_step_(s, 0);
}

int lwm_store_gc_force(struct lwm_store *s)
{
    if (!s->mounted)
        return LWM_ERR_NOTMOUNTED;
    s->gc_forced = 1;
    return 0;
}

/* ================================================ consistency check === */

static int check_body_crc(struct lwm_store *s, const struct lwm_msg *m)
{
    uint8_t c[BODY_C_BYTES];
    int part, err = fl_read(s, m->body + HS(s), c, sizeof c);
    if (err)
        return err;
    for (part = 0; part < 2; part++) {   /* message, then summary */
        uint32_t off = 0, crc = 0, end = part ? m->sum_len : m->size;
        while (off < end) {
            int n = part ? lwm_msg_summary(s, m, off, s->buf, sizeof s->buf)
                         : lwm_msg_read(s, m, off, s->buf, sizeof s->buf);
            if (n <= 0)
                return n < 0 ? n : LWM_ERR_CORRUPT;
            crc = lwm_crc32c(crc, s->buf, (uint32_t)n);
            off += (uint32_t)n;
        }
        if (crc != lwm_get32(c + (part ? 20 : 12)))
            return LWM_ERR_CORRUPT;
    }
    return 0;
}

int lwm_store_check(struct lwm_store *s, int check_bodies)
{
    uint32_t first = 0, b, i;
    int m, bad = 0, err;

    if (!s->mounted)
        return LWM_ERR_NOTMOUNTED;
    for (m = 0; m < LWM_STORE_MAX_MBOXES; m++) {
        const struct lwm_mbox_ent *mb = &s->mboxes[m];
        uint32_t unseen = 0, deleted = 0, prev = 0;
        uint64_t size = 0;
        int k;
        if (mb->first != first)
            return LWM_ERR_CORRUPT;
        first += mb->count;
        if (!mb->id) {
            if (mb->count)
                return LWM_ERR_CORRUPT;
            continue;
        }
        if (!user_by_id(s, mb->user) || mb->name[0] == 0 ||
            strlen(mb->name) > LWM_MBOX_NAME_MAX ||
            mb->nkeywords > LWM_KEYWORDS_MAX)
            return LWM_ERR_CORRUPT;
        for (k = 0; k < LWM_STORE_MAX_MBOXES; k++)
            if (k != m && s->mboxes[k].id &&
                (s->mboxes[k].id == mb->id ||
                 (s->mboxes[k].user == mb->user &&
                  strcmp(s->mboxes[k].name, mb->name) == 0)))
                return LWM_ERR_CORRUPT;
        for (i = mb->first; i < mb->first + mb->count; i++) {
            const struct lwm_msg_ent *e = &s->msgs[i];
            struct lwm_msg msg;
            if (e->uid <= prev || e->uid >= mb->uidnext ||
                e->modseq > mb->hmodseq || (e->flags >> 5 >> mb->nkeywords))
                return LWM_ERR_CORRUPT;
            prev = e->uid;
            err = body_info(s, e->body, &msg);
            if (err)
                return err == LWM_ERR_IO ? err : LWM_ERR_CORRUPT;
            if (check_bodies && (err = check_body_crc(s, &msg)) != 0)
                return err;
            if (!(e->flags & LWM_FLAG_SEEN))
                unseen++;
            if (e->flags & LWM_FLAG_DELETED)
                deleted++;
            size += msg.size;
        }
        if (unseen != mb->unseen || deleted != mb->deleted ||
            size != mb->size)
            return LWM_ERR_CORRUPT;
    }
    if (first != s->nmsgs)
        return LWM_ERR_CORRUPT;
    /* block accounting: take every reference away, expect zero, put back */
    for (i = 0; i < s->nmsgs; i++) {
        struct lwm_msg msg;
        if (body_info(s, s->msgs[i].body, &msg) == 0)
            body_account(s, &msg, -1);
    }
    for (b = 0; b < NBLK(s); b++)
        if (s->blks[b].live != 0 || s->blks[b].pins != 0)
            bad = 1;
    for (i = 0; i < s->nmsgs; i++) {
        struct lwm_msg msg;
        if (body_info(s, s->msgs[i].body, &msg) == 0)
            body_account(s, &msg, +1);
    }
    if (bad)
        return LWM_ERR_CORRUPT;
    for (b = 0; b < NBLK(s); b++) {
        const struct lwm_blk_ent *e = &s->blks[b];
        if (e->state > LWM_BLK_DATA)
            return LWM_ERR_CORRUPT;
        if ((e->state == LWM_BLK_FREE || e->state == LWM_BLK_DIRTY) &&
            e->live)
            return LWM_ERR_CORRUPT;
    }
    if (s->meta_blk != LWM_NONE &&
        s->blks[s->meta_blk].state != LWM_BLK_META)
        return LWM_ERR_CORRUPT;
    for (m = 0; m <= LWM_STORE_MAX_APPENDS; m++)
        if (s->heads[m].blk != LWM_NONE &&
            s->blks[s->heads[m].blk].state != LWM_BLK_DATA)
            return LWM_ERR_CORRUPT;
    return 0;
}
