/*
 * lwmail tests - functional tests of the message store (lwm_store.h).
 *
 * Every public call of the store is exercised on several flash geometries
 * (block size, block count, program unit, memory-mapped or not), each on a
 * fresh emulated NOR (ports/posix/lwm_nor.h):
 *
 *   life cycle  format, mount, unmount, remount; calls on an unmounted store
 *   users       create (six default mailboxes, special-use attrs), find
 *   mailboxes   nested create, INBOX case, rename (children, INBOX),
 *               delete (\Noselect parents, INBOX), subscribe, UIDVALIDITY,
 *               UIDNEXT monotonic across expunge + remount
 *   append      sizes from 0 bytes to 10+ blocks, odd chunk sizes,
 *               interleaved streams, abort; reads at any offset; msg_ptr
 *   flags       SET/ADD/REMOVE, keywords, MODSEQ, unseen/deleted counts
 *   expunge, copy, move (shared bodies: a copy programs < 1 KiB)
 *   limits      user and mailbox tables, message table, bad arguments
 *   full flash  append until LWM_ERR_NOSPC, nothing committed is lost,
 *               expunge + gc_step frees space again
 *   wear        bounded churn; erase-count spread within LWM_WEAR_SPREAD + 2
 *
 * After every phase the store must pass lwm_store_check(s, 1), the emulator
 * must have seen no NOR contract violation, and a remount (and a full GC)
 * must give back exactly the same mailboxes, messages, flags and bodies.
 * A model of every committed message (mailbox, UID, body seed, size) is
 * checked against the store at the same points.
 *
 * Usage: test_store [seed]    (seed of the random sizes and offsets)
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"
#include "lwm_nor.h"
#include "lwmail/lwm_store.h"

/// Geometries ///

static const struct geom geoms[] = {
    { "4096x64 prog 4", 4096, 64, 4, 4, 0 },
    { "1024x128 prog 1", 1024, 128, 1, 1, 0 },
    { "2048x64 prog 32", 2048, 64, 32, 32, 0 },
    { "4096x64 prog 4 mapped", 4096, 64, 4, 4, 1 },
};

#define NGEOMS (sizeof(geoms) / sizeof(geoms[0]))

/// Globals ///

static struct lwm_store st;   /* hundreds of KiB: never on the stack */
static struct lwm_nor nor;
static const struct geom *geo;

#define DATE0 1700000000u

/* Test users of the current store. */
#define TUSERS_MAX LWM_STORE_MAX_USERS
static char unames[TUSERS_MAX][LWM_USER_NAME_MAX + 1];
static int nusers;

/* xorshift32 */
static uint32_t rng_state = 0x12345678u;

static uint32_t rnd(void)
{
    return xorshift32(&rng_state);
}

static uint32_t rnd_below(uint32_t n)
{
    return n == 0 ? 0 : rnd() % n;
}

/* Byte i of the body with the given seed: position-dependent, so a read at
 * a wrong offset or from the wrong body never matches. */
static uint8_t pat(uint32_t seed, uint32_t i)
{
    uint32_t x = seed * 0x9E3779B1u ^ (i + 1u) * 0x85EBCA77u;
    x ^= x >> 15;
    x *= 0x2C1B3C6Du;
    x ^= x >> 12;
    return (uint8_t)x;
}

static void fill(uint8_t *buf, uint32_t seed, uint32_t off, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        buf[i] = pat(seed, off + i);
    }
}

/* Copy a NUL-terminated name into dst[size], truncating if needed. */
static void copy_name(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int is_argerr(int r)
{
    return r == LWM_ERR_INVAL || r == LWM_ERR_NOENT || r == LWM_ERR_RANGE;
}

/// Small wrappers ///

static int mfind(int user, const char *name)
{
    return lwm_mbox_find(&st, user, name, strlen(name));
}

static int mcreate(int user, const char *name)
{
    return lwm_mbox_create(&st, user, name, strlen(name), 0);
}

static int mdelete(int user, const char *name)
{
    return lwm_mbox_delete(&st, user, name, strlen(name));
}

static int mrename(int user, const char *from, const char *to)
{
    return lwm_mbox_rename(&st, user, from, strlen(from), to, strlen(to));
}

static struct lwm_mbox_info minfo(int slot)
{
    struct lwm_mbox_info i;
    memset(&i, 0, sizeof(i));
    if (lwm_mbox_info(&st, slot, &i) < 0) {
        memset(&i, 0, sizeof(i));
    }
    return i;
}

static int user_add(const char *name)
{
    int u = lwm_user_create(&st, name);
    if (u > 0 && nusers < TUSERS_MAX) {
        copy_name(unames[nusers], sizeof(unames[0]), name);
        nusers++;
    }
    return u;
}

/* The most flash work one lwm_store_gc_step() call did (it must stay
 * bounded: one erase or about LWM_GC_STEP_BYTES). */
static uint64_t step_max_prog, step_max_erases;

static int gc_step_measured(void)
{
    uint64_t p = nor.prog_bytes, e = nor.erases;
    int r = lwm_store_gc_step(&st);
    if (nor.prog_bytes - p > step_max_prog) {
        step_max_prog = nor.prog_bytes - p;
    }
    if (nor.erases - e > step_max_erases) {
        step_max_erases = nor.erases - e;
    }
    return r;
}

/* Up to max background steps; the last result. */
static int gc_steps(int max)
{
    int i, r = 0;
    for (i = 0; i < max; i++) {
        r = gc_step_measured();
        if (r <= 0) {
            break;
        }
    }
    return r;
}

/* Run background work until the store says it is idle. */
static int gc_settle(void)
{
    int r = gc_steps(200000);
    if (!CHECK(r == 0)) {
        fprintf(stderr, "  gc_step: %d after 200000 steps\n", r);
    }
    return r;
}

/* Append a message whose body is pat(seed, 0..size-1), written in chunks of
 * `chunk` bytes (0: random chunk sizes), through lwm_append_begin_sized with
 * the given size hint, or lwm_append_begin if the hint is LWM_NONE.
 * Returns the UID or an error. */
static int append_msg_hint(int mbox, uint32_t seed, uint32_t size,
                           uint32_t chunk, uint32_t flags, uint32_t hint)
{
    static uint8_t buf[8192];
    uint32_t off = 0;
    int a, r;

    if (hint == LWM_NONE) {
        a = lwm_append_begin(&st, mbox, DATE0 + seed, flags);
    } else {
        a = lwm_append_begin_sized(&st, mbox, DATE0 + seed, flags, hint);
    }
    if (a < 0) {
        return a;
    }
    while (off < size) {
        uint32_t n = chunk != 0 ? chunk : 1 + rnd_below(3000);
        if (n > size - off) {
            n = size - off;
        }
        if (n > sizeof(buf)) {
            n = sizeof(buf);
        }
        fill(buf, seed, off, n);
        r = lwm_append_write(&st, a, buf, n);
        if (r < 0) {
            lwm_append_abort(&st, a);
            return r;
        }
        CHECK(r == 0 || r == (int)n);
        off += n;
    }
    r = lwm_append_commit(&st, a);
    if (r < 0) {
        lwm_append_abort(&st, a);
    }
    return r;
}

static int append_msg(int mbox, uint32_t seed, uint32_t size, uint32_t chunk,
                      uint32_t flags)
{
    return append_msg_hint(mbox, seed, size, chunk, flags, LWM_NONE);
}

/* Read [off, off + len) of m through as many lwm_msg_read calls as needed;
 * returns bytes got, or an error. */
static int read_all(const struct lwm_msg *m, uint32_t off, uint8_t *buf,
                    uint32_t len)
{
    uint32_t got = 0;
    while (got < len) {
        int r = lwm_msg_read(&st, m, off + got, buf + got, len - got);
        if (r < 0) {
            return r;
        }
        if (r == 0) {
            break;
        }
        if ((uint32_t)r > len - got) {
            return LWM_ERR_RANGE;
        }
        got += (uint32_t)r;
    }
    return (int)got;
}

/* Compare a whole body with pat(seed, ...); 1 if equal. */
static int body_ok(const struct lwm_msg *m, uint32_t seed, uint32_t size)
{
    static uint8_t buf[5000];
    uint32_t off = 0;
    if (m->size != size) {
        return 0;
    }
    while (off < size) {
        uint32_t n = 1 + rnd_below(sizeof(buf));
        uint32_t i;
        int r;
        if (n > size - off) {
            n = size - off;
        }
        r = read_all(m, off, buf, n);
        if (r != (int)n) {
            return 0;
        }
        for (i = 0; i < n; i++) {
            if (buf[i] != pat(seed, off + i)) {
                return 0;
            }
        }
        off += n;
    }
    /* at and past the end: nothing */
    return lwm_msg_read(&st, m, size, buf, 10) == 0 &&
           lwm_msg_read(&st, m, size + 1000, buf, 10) == 0;
}

/* Fetch message uid of mbox into *m; 1 on success. */
static int get_uid(int mbox, uint32_t uid, struct lwm_msg *m)
{
    int idx = lwm_msg_find(&st, mbox, uid, 0);
    if (idx < 0) {
        return 0;
    }
    if (lwm_msg_get(&st, mbox, (uint32_t)idx, m) < 0) {
        return 0;
    }
    return m->uid == uid;
}

/// Model of committed messages ///

#define MODEL_MAX 6000

struct mref {
    int user;
    int live;
    char mbox[LWM_MBOX_NAME_MAX + 1];
    uint32_t uid, seed, size;
};

static struct mref model[MODEL_MAX];
static uint32_t nmodel;

static void model_reset(void)
{
    nmodel = 0;
}

static void model_add(int mbox, uint32_t uid, uint32_t seed, uint32_t size)
{
    struct lwm_mbox_info i = minfo(mbox);
    uint32_t k;
    for (k = 0; k < nmodel; k++) {
        if (!model[k].live) {
            break;
        }
    }
    if (k == nmodel) {
        if (!CHECK(nmodel < MODEL_MAX)) {
            return;
        }
        nmodel++;
    }
    model[k].live = 1;
    model[k].user = i.user;
    copy_name(model[k].mbox, sizeof(model[k].mbox),
              i.name != NULL ? i.name : "");
    model[k].uid = uid;
    model[k].seed = seed;
    model[k].size = size;
}

static struct mref *model_get(int mbox, uint32_t uid)
{
    struct lwm_mbox_info i = minfo(mbox);
    uint32_t k;
    if (i.name == NULL) {
        return NULL;
    }
    for (k = 0; k < nmodel; k++) {
        if (model[k].live && model[k].user == i.user && model[k].uid == uid &&
            strcmp(model[k].mbox, i.name) == 0) {
            return &model[k];
        }
    }
    return NULL;
}

static void model_del(int mbox, uint32_t uid)
{
    struct mref *r = model_get(mbox, uid);
    if (r != NULL) {
        r->live = 0;
    }
}

static void model_del_mbox(int user, const char *name)
{
    uint32_t k;
    for (k = 0; k < nmodel; k++) {
        if (model[k].live && model[k].user == user &&
            strcmp(model[k].mbox, name) == 0) {
            model[k].live = 0;
        }
    }
}

/* Rename mailbox `from` and its children (from/...) to `to`. */
static void model_rename(int user, const char *from, const char *to,
                         int children)
{
    size_t fl = strlen(from);
    uint32_t k;
    for (k = 0; k < nmodel; k++) {
        struct mref *r = &model[k];
        char tmp[LWM_MBOX_NAME_MAX + 1];
        if (!r->live || r->user != user) {
            continue;
        }
        if (strcmp(r->mbox, from) == 0) {
            copy_name(r->mbox, sizeof(r->mbox), to);
        } else if (children && strncmp(r->mbox, from, fl) == 0 &&
                   r->mbox[fl] == '/') {
            copy_name(tmp, sizeof(tmp), to);
            copy_name(tmp + strlen(tmp), sizeof(tmp) - strlen(tmp),
                      r->mbox + fl);
            copy_name(r->mbox, sizeof(r->mbox), tmp);
        }
    }
}

/* Every model message is in the store with its body; every mailbox holds
 * exactly the model's messages. Returns the number of problems. */
static int model_check(void)
{
    struct lwm_store_stats ss;
    int bad = 0, u;
    uint32_t k, live = 0;
    for (k = 0; k < nmodel; k++) {
        live += model[k].live ? 1u : 0u;
    }
    lwm_store_stats(&st, &ss);
    if (ss.msgs != live) {
        fprintf(stderr, "  model: store has %" PRIu32 " messages, expected %"
                PRIu32 "\n", ss.msgs, live);
        bad++;
    }
    for (k = 0; k < nmodel; k++) {
        struct mref *r = &model[k];
        struct lwm_msg m;
        int slot;
        if (!r->live) {
            continue;
        }
        slot = lwm_mbox_find(&st, r->user, r->mbox, strlen(r->mbox));
        if (slot < 0 || !get_uid(slot, r->uid, &m) ||
            !body_ok(&m, r->seed, r->size) || m.date != DATE0 + r->seed) {
            if (bad < 5) {
                fprintf(stderr, "  model: %s uid %" PRIu32 " (seed %" PRIu32
                        ", %" PRIu32 " B) missing or wrong\n",
                        r->mbox, r->uid, r->seed, r->size);
            }
            bad++;
        }
    }
    for (u = 0; u < nusers; u++) {
        int uid = lwm_user_find(&st, unames[u]);
        int slot = -1;
        if (uid <= 0) {
            bad++;
            continue;
        }
        while ((slot = lwm_mbox_next(&st, uid, slot)) >= 0) {
            struct lwm_mbox_info i = minfo(slot);
            uint32_t n = 0;
            for (k = 0; k < nmodel; k++) {
                if (model[k].live && model[k].user == uid &&
                    strcmp(model[k].mbox, i.name) == 0) {
                    n++;
                }
            }
            if (n != lwm_msg_count(&st, slot) || n != i.exists) {
                if (bad < 5) {
                    fprintf(stderr, "  model: %s has %" PRIu32
                            " messages, expected %" PRIu32 "\n",
                            i.name, lwm_msg_count(&st, slot), n);
                }
                bad++;
            }
        }
    }
    return bad;
}

/// Snapshot of the whole logical state (for remount comparisons) ///

struct snap_msg {
    uint32_t uid, modseq, flags, size, date;
    uint64_t hash;
};

struct snap_mbox {
    int user;
    char name[LWM_MBOX_NAME_MAX + 1];
    uint32_t id, uidvalidity, uidnext, hmodseq, exists, unseen, deleted;
    uint64_t size;
    uint16_t attrs;
    char kw[LWM_KEYWORDS_MAX][LWM_KEYWORD_LEN + 1];
    uint32_t first, n;
};

struct snap {
    uint32_t nmbox, nmsg, users;
    struct snap_mbox mb[LWM_STORE_MAX_MBOXES];
    struct snap_msg msg[LWM_STORE_MAX_MSGS];
};

static struct snap snap_a, snap_b;

static uint64_t body_hash(const struct lwm_msg *m)
{
    static uint8_t buf[1500];
    uint64_t h = 0xCBF29CE484222325ull;
    uint32_t off = 0;
    for (;;) {
        int r = lwm_msg_read(&st, m, off, buf, sizeof(buf));
        int i;
        if (r <= 0) {
            if (r < 0) {
                h ^= 0xDEAD;
            }
            break;
        }
        for (i = 0; i < r; i++) {
            h = (h ^ buf[i]) * 0x100000001B3ull;
        }
        off += (uint32_t)r;
    }
    return h ^ off;
}

static void snap_take(struct snap *s)
{
    int u;
    memset(s, 0, sizeof(*s));
    for (u = 0; u < nusers; u++) {
        int uid = lwm_user_find(&st, unames[u]);
        int slot = -1;
        if (uid <= 0) {
            continue;
        }
        s->users++;
        while ((slot = lwm_mbox_next(&st, uid, slot)) >= 0 &&
               s->nmbox < LWM_STORE_MAX_MBOXES) {
            struct snap_mbox *b = &s->mb[s->nmbox++];
            struct lwm_mbox_info i = minfo(slot);
            uint32_t k, n = lwm_msg_count(&st, slot);
            b->user = uid;
            copy_name(b->name, sizeof(b->name),
                      i.name != NULL ? i.name : "?");
            b->id = i.id;
            b->uidvalidity = i.uidvalidity;
            b->uidnext = i.uidnext;
            b->hmodseq = i.highestmodseq;
            b->exists = i.exists;
            b->unseen = i.unseen;
            b->deleted = i.deleted;
            b->size = i.size;
            b->attrs = i.attrs;
            for (k = 0; k < LWM_KEYWORDS_MAX; k++) {
                const char *kw = lwm_keyword_name(&st, slot, (int)k);
                if (kw != NULL) {
                    copy_name(b->kw[k], sizeof(b->kw[k]), kw);
                }
            }
            b->first = s->nmsg;
            for (k = 0; k < n && s->nmsg < LWM_STORE_MAX_MSGS; k++) {
                struct snap_msg *sm = &s->msg[s->nmsg++];
                struct lwm_msg m;
                memset(&m, 0, sizeof(m));
                if (lwm_msg_get(&st, slot, k, &m) < 0) {
                    sm->hash = 1;
                    continue;
                }
                sm->uid = m.uid;
                sm->modseq = m.modseq;
                sm->flags = m.flags;
                sm->size = m.size;
                sm->date = m.date;
                sm->hash = body_hash(&m);
            }
            b->n = s->nmsg - b->first;
        }
    }
}

/* Number of differences between two snapshots (printed, the first few). */
static int snap_diff(const struct snap *a, const struct snap *b,
                     const char *what)
{
    int bad = 0;
    uint32_t i, j, k;
    if (a->nmbox != b->nmbox || a->nmsg != b->nmsg || a->users != b->users) {
        fprintf(stderr, "  %s: %" PRIu32 "/%" PRIu32 " mailboxes, %" PRIu32
                "/%" PRIu32 " messages\n", what, a->nmbox, b->nmbox, a->nmsg,
                b->nmsg);
        bad++;
    }
    for (i = 0; i < a->nmbox; i++) {
        const struct snap_mbox *x = &a->mb[i], *y = NULL;
        for (j = 0; j < b->nmbox; j++) {
            if (b->mb[j].user == x->user &&
                strcmp(b->mb[j].name, x->name) == 0) {
                y = &b->mb[j];
                break;
            }
        }
        if (y == NULL) {
            fprintf(stderr, "  %s: mailbox %s lost\n", what, x->name);
            bad++;
            continue;
        }
        if (x->id != y->id || x->uidvalidity != y->uidvalidity ||
            x->uidnext != y->uidnext || x->hmodseq != y->hmodseq ||
            x->exists != y->exists || x->unseen != y->unseen ||
            x->deleted != y->deleted || x->size != y->size ||
            x->attrs != y->attrs || x->n != y->n ||
            memcmp(x->kw, y->kw, sizeof(x->kw)) != 0) {
            fprintf(stderr, "  %s: mailbox %s differs: id %" PRIu32 "/%"
                    PRIu32 " uidvalidity %" PRIu32 "/%" PRIu32
                    " uidnext %" PRIu32 "/%" PRIu32 " hms %" PRIu32 "/%"
                    PRIu32 " exists %" PRIu32 "/%" PRIu32 " unseen %" PRIu32
                    "/%" PRIu32 " deleted %" PRIu32 "/%" PRIu32
                    " attrs %x/%x\n", what, x->name, x->id, y->id,
                    x->uidvalidity, y->uidvalidity, x->uidnext, y->uidnext,
                    x->hmodseq, y->hmodseq, x->exists, y->exists, x->unseen,
                    y->unseen, x->deleted, y->deleted, x->attrs, y->attrs);
            bad++;
        }
        for (k = 0; k < x->n && k < y->n; k++) {
            const struct snap_msg *p = &a->msg[x->first + k];
            const struct snap_msg *q = &b->msg[y->first + k];
            if (memcmp(p, q, sizeof(*p)) != 0) {
                if (bad < 8) {
                    fprintf(stderr, "  %s: %s msg %" PRIu32 ": uid %" PRIu32
                            "/%" PRIu32 " modseq %" PRIu32 "/%" PRIu32
                            " flags %" PRIx32 "/%" PRIx32 " size %" PRIu32
                            "/%" PRIu32 " body %s\n", what, x->name, k,
                            p->uid, q->uid, p->modseq, q->modseq, p->flags,
                            q->flags, p->size, q->size,
                            p->hash == q->hash ? "same" : "DIFFERENT");
                }
                bad++;
            }
        }
    }
    return bad;
}

/// Phase helpers ///

static void do_mount(void)
{
    int r;
    /* Poison the RAM image: mount must not rely on stale state. */
    memset(&st, 0xA5, sizeof(st));
    r = lwm_store_mount(&st, &nor.flash);
    if (!CHECK(r == 0)) {
        fprintf(stderr, "  mount: %d (%s)\n", r, lwm_strerror(r));
        exit(check_summary("test_store"));
    }
}

static void remount(void)
{
    CHECK(lwm_store_unmount(&st) == 0);
    do_mount();
}

/* Format a fresh store and mount it. */
static void fresh(void)
{
    int r;
    memset(&st, 0, sizeof(st));
    r = lwm_store_format(&st, &nor.flash);
    REQUIRE(r == 0);
    /* lwm_store_format may or may not leave the store mounted; mount
     * anyway so every test starts from what is on flash. */
    r = lwm_store_unmount(&st);
    CHECK(r == 0 || r == LWM_ERR_NOTMOUNTED);
    do_mount();
    nusers = 0;
    model_reset();
}

/* End of a phase: invariants, emulator contract, remount and GC must not
 * change the logical state, the model holds. */
static void end_phase(const char *name)
{
    int r, d;
    r = lwm_store_check(&st, 1);
    if (!CHECK(r == 0)) {
        fprintf(stderr, "  [%s] %s: lwm_store_check = %d\n", geo->name, name,
                r);
    }
    if (!CHECK(nor.violations == 0)) {
        fprintf(stderr, "  [%s] %s: %" PRIu64 " NOR contract violations\n",
                geo->name, name, nor.violations);
        nor.violations = 0;
    }
    d = model_check();
    if (!CHECK(d == 0)) {
        fprintf(stderr, "  [%s] %s: %d model differences\n", geo->name,
                name, d);
    }

    snap_take(&snap_a);
    remount();
    CHECK(lwm_store_check(&st, 1) == 0);
    snap_take(&snap_b);
    d = snap_diff(&snap_a, &snap_b, "remount");
    if (!CHECK(d == 0)) {
        fprintf(stderr, "  [%s] %s: remount changed the state\n", geo->name,
                name);
    }
    CHECK(model_check() == 0);

    CHECK(lwm_store_gc_force(&st) >= 0);
    gc_settle();
    CHECK(lwm_store_check(&st, 1) == 0);
    snap_take(&snap_b);
    d = snap_diff(&snap_a, &snap_b, "gc");
    if (!CHECK(d == 0)) {
        fprintf(stderr, "  [%s] %s: GC changed the state\n", geo->name, name);
    }
    remount();
    snap_take(&snap_b);
    CHECK(snap_diff(&snap_a, &snap_b, "gc+remount") == 0);
    CHECK(nor.violations == 0);
    printf("  [%s] %s: ok so far (%lu failed)\n", geo->name, name,
           check_failed);
}

/// Life cycle ///

static void t_lifecycle(void)
{
    struct lwm_store_stats ss;
    uint32_t i;
    int r;

    /* Never mounted (or unmounted): everything refuses politely. */
    memset(&st, 0, sizeof(st));
    r = lwm_user_create(&st, "nobody");
    CHECK(r == LWM_ERR_NOTMOUNTED);
    CHECK(lwm_mbox_find(&st, 1, "INBOX", 5) < 0);
    CHECK(lwm_append_begin(&st, 0, DATE0, 0) < 0);
    CHECK(lwm_store_gc_step(&st) < 0);

    /* Erased flash: no store. */
    memset(nor.mem, 0xFF, nor.size);
    r = lwm_store_mount(&st, &nor.flash);
    CHECK(r == LWM_ERR_CORRUPT);
    /* Garbage: no store either, and no crash. */
    for (i = 0; i < nor.size; i++) {
        nor.mem[i] = (uint8_t)rnd();
    }
    r = lwm_store_mount(&st, &nor.flash);
    CHECK(r == LWM_ERR_CORRUPT);

    fresh();
    lwm_store_stats(&st, &ss);
    CHECK(ss.blocks_total == geo->block_count);
    CHECK(ss.blocks_free > 0 && ss.blocks_free <= ss.blocks_total);
    CHECK(ss.blocks_free + ss.blocks_meta + ss.blocks_data <= ss.blocks_total);
    CHECK(ss.msgs == 0 && ss.users == 0 && ss.mboxes == 0);
    CHECK(ss.ram_per_msg == sizeof(struct lwm_msg_ent));
    CHECK(ss.ram_per_mbox == sizeof(struct lwm_mbox_ent));
    CHECK(ss.ram_per_block == sizeof(struct lwm_blk_ent));
    CHECK(ss.ram_total == sizeof(struct lwm_store));
    CHECK(lwm_store_check(&st, 1) == 0);
    CHECK(lwm_store_gc_step(&st) >= 0);

    /* Unmount twice, mount twice. */
    CHECK(lwm_store_unmount(&st) == 0);
    r = lwm_store_unmount(&st);
    CHECK(r == 0 || r == LWM_ERR_NOTMOUNTED);
    CHECK(lwm_user_find(&st, "x") == LWM_ERR_NOTMOUNTED);
    do_mount();
    remount();
    CHECK(lwm_store_check(&st, 1) == 0);
    CHECK(nor.violations == 0);
}

/// Users ///

static const struct {
    const char *name;
    uint16_t attr;
} default_mboxes[] = {
    { "INBOX", 0 },
    { "Sent", LWM_MBOX_SENT },
    { "Drafts", LWM_MBOX_DRAFTS },
    { "Trash", LWM_MBOX_TRASH },
    { "Junk", LWM_MBOX_JUNK },
    { "Archive", LWM_MBOX_ARCHIVE },
};

static int alice, bob;

static void t_users(void)
{
    char longname[LWM_USER_NAME_MAX + 2];
    struct lwm_store_stats ss;
    int slot, n, k;

    alice = user_add("alice");
    CHECK(alice > 0);
    bob = user_add("bob");
    CHECK(bob > 0 && bob != alice);
    CHECK(lwm_user_create(&st, "alice") == LWM_ERR_EXIST);
    CHECK(lwm_user_find(&st, "alice") == alice);
    CHECK(lwm_user_find(&st, "bob") == bob);
    CHECK(lwm_user_find(&st, "carol") == LWM_ERR_NOENT);
    CHECK(lwm_user_create(&st, "") == LWM_ERR_INVAL);
    memset(longname, 'u', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    CHECK(lwm_user_create(&st, longname) == LWM_ERR_NAMETOOLONG);
    longname[LWM_USER_NAME_MAX] = '\0';       /* exactly the maximum */
    CHECK(user_add(longname) > 0);
    CHECK(lwm_user_find(&st, longname) > 0);

    /* alice has exactly the six default mailboxes. */
    n = 0;
    slot = -1;
    while ((slot = lwm_mbox_next(&st, alice, slot)) >= 0) {
        struct lwm_mbox_info i = minfo(slot);
        int found = 0;
        n++;
        CHECK(i.user == alice);
        CHECK(i.exists == 0 && i.size == 0 && i.unseen == 0);
        CHECK(i.uidnext >= 1 && i.uidvalidity != 0);
        CHECK((i.attrs & LWM_MBOX_NOSELECT) == 0);
        for (k = 0; k < 6; k++) {
            if (strcmp(i.name, default_mboxes[k].name) == 0) {
                found = 1;
                CHECK((i.attrs & LWM_MBOX_SPECIAL) == default_mboxes[k].attr);
                CHECK(mfind(alice, default_mboxes[k].name) == slot);
            }
        }
        if (!CHECK(found)) {
            fprintf(stderr, "  unexpected mailbox %s\n", i.name);
        }
    }
    CHECK(n == 6);
    /* Mailbox ids are unique. */
    {
        uint32_t ids[16];
        int m = 0, a, b;
        slot = -1;
        while ((slot = lwm_mbox_next(&st, bob, slot)) >= 0 && m < 8) {
            ids[m++] = minfo(slot).id;
        }
        while ((slot = lwm_mbox_next(&st, alice, slot)) >= 0 && m < 16) {
            ids[m++] = minfo(slot).id;
        }
        for (a = 0; a < m; a++) {
            for (b = a + 1; b < m; b++) {
                CHECK(ids[a] != ids[b]);
            }
        }
    }
    CHECK(mfind(alice, "INBOX") != mfind(bob, "INBOX"));
    lwm_store_stats(&st, &ss);
    CHECK(ss.users == 3);
    CHECK(ss.mboxes == 18);
}

/// Mailboxes ///

static void t_mboxes(void)
{
    char name[LWM_MBOX_NAME_MAX + 2];
    struct lwm_mbox_info i, j;
    uint32_t uidv1, uidv2, uidv3, old_uids[3], hi;
    int inbox, s, k, r, uid;

    /* Nested create makes the parents. */
    CHECK(mcreate(alice, "A/B/C") >= 0);
    CHECK(mfind(alice, "A") >= 0);
    CHECK(mfind(alice, "A/B") >= 0);
    CHECK(mfind(alice, "A/B/C") >= 0);
    CHECK(mfind(bob, "A/B/C") == LWM_ERR_NOENT);
    CHECK(mcreate(alice, "A/B") == LWM_ERR_EXIST);
    CHECK(mcreate(alice, "A/B/C") == LWM_ERR_EXIST);
    CHECK(mcreate(bob, "A/B/C") >= 0);     /* per user namespace */
    CHECK(mfind(bob, "A/B/C") != mfind(alice, "A/B/C"));
    /* Names are byte slices, not C strings. */
    CHECK(lwm_mbox_create(&st, alice, "ProjectsXYZ", 8, 0) >= 0);
    CHECK(mfind(alice, "Projects") >= 0);
    CHECK(mfind(alice, "ProjectsXYZ") == LWM_ERR_NOENT);
    CHECK(lwm_mbox_find(&st, alice, "ProjectsXYZ", 8) >= 0);
    /* special-use attrs given at create */
    s = lwm_mbox_create(&st, alice, "Old Sent", 8, LWM_MBOX_SENT);
    CHECK(s >= 0);
    CHECK((minfo(mfind(alice, "Old Sent")).attrs & LWM_MBOX_SPECIAL) ==
          LWM_MBOX_SENT);
    CHECK(mcreate(alice, "Entw\xc3\xbcrfe") >= 0);  /* UTF-8 */
    CHECK(mfind(alice, "Entw\xc3\xbcrfe") >= 0);

    /* INBOX is case-insensitive, other names are not. */
    inbox = mfind(alice, "INBOX");
    CHECK(inbox >= 0);
    CHECK(mfind(alice, "inbox") == inbox);
    CHECK(mfind(alice, "InBox") == inbox);
    CHECK(mcreate(alice, "Inbox") == LWM_ERR_EXIST);
    CHECK(mfind(alice, "sent") == LWM_ERR_NOENT);
    CHECK(strcmp(minfo(inbox).name, "INBOX") == 0);

    /* Name limits. */
    memset(name, 'n', sizeof(name));
    CHECK(lwm_mbox_create(&st, alice, name, LWM_MBOX_NAME_MAX + 1, 0) ==
          LWM_ERR_NAMETOOLONG);
    CHECK(lwm_mbox_find(&st, alice, name, LWM_MBOX_NAME_MAX + 1) < 0);
    CHECK(lwm_mbox_create(&st, alice, name, LWM_MBOX_NAME_MAX, 0) >= 0);
    s = lwm_mbox_find(&st, alice, name, LWM_MBOX_NAME_MAX);
    CHECK(s >= 0 && strlen(minfo(s).name) == LWM_MBOX_NAME_MAX);
    CHECK(lwm_mbox_delete(&st, alice, name, LWM_MBOX_NAME_MAX) == 0);
    CHECK(lwm_mbox_create(&st, alice, "", 0, 0) == LWM_ERR_INVAL);
    CHECK(lwm_mbox_create(&st, alice, "X", 0, 0) == LWM_ERR_INVAL);
    CHECK(lwm_mbox_find(&st, alice, "", 0) < 0);
    CHECK(lwm_mbox_create(&st, 0, "X", 1, 0) < 0);
    CHECK(lwm_mbox_create(&st, 999, "X", 1, 0) < 0);
    CHECK(mfind(alice, "X") == LWM_ERR_NOENT);

    /* Subscribe. */
    s = mfind(alice, "A/B");
    CHECK((minfo(s).attrs & LWM_MBOX_SUBSCRIBED) == 0);
    CHECK(lwm_mbox_subscribe(&st, alice, "A/B", 3, 1) == 0);
    CHECK((minfo(s).attrs & LWM_MBOX_SUBSCRIBED) != 0);
    CHECK(lwm_mbox_subscribe(&st, alice, "A/B", 3, 1) == 0);  /* twice */
    CHECK(lwm_mbox_subscribe(&st, alice, "A", 1, 1) == 0);
    CHECK(lwm_mbox_subscribe(&st, alice, "A", 1, 0) == 0);
    CHECK((minfo(mfind(alice, "A")).attrs & LWM_MBOX_SUBSCRIBED) == 0);
    CHECK(lwm_mbox_subscribe(&st, alice, "Nope", 4, 1) < 0);
    CHECK((minfo(mfind(bob, "A/B")).attrs & LWM_MBOX_SUBSCRIBED) == 0);

    /* Rename with children: messages follow. */
    s = mfind(alice, "A/B/C");
    uid = append_msg(s, 101, 777, 0, LWM_FLAG_SEEN);
    CHECK(uid > 0);
    model_add(s, (uint32_t)uid, 101, 777);
    i = minfo(s);
    CHECK(mrename(alice, "A", "X") == 0);
    model_rename(alice, "A", "X", 1);
    CHECK(mfind(alice, "A") == LWM_ERR_NOENT);
    CHECK(mfind(alice, "A/B") == LWM_ERR_NOENT);
    CHECK(mfind(alice, "A/B/C") == LWM_ERR_NOENT);
    CHECK(mfind(alice, "X") >= 0);
    CHECK(mfind(alice, "X/B") >= 0);
    s = mfind(alice, "X/B/C");
    CHECK(s >= 0);
    j = minfo(s);
    CHECK(j.exists == 1 && j.uidnext == i.uidnext);
    CHECK((minfo(mfind(alice, "X/B")).attrs & LWM_MBOX_SUBSCRIBED) != 0);
    CHECK(mfind(bob, "A/B/C") >= 0);         /* bob's untouched */
    CHECK(model_check() == 0);
    CHECK(mrename(alice, "X", "Projects") == LWM_ERR_EXIST);
    CHECK(mrename(alice, "Nope", "Nope2") == LWM_ERR_NOENT);
    CHECK(mrename(alice, "X", "X/Y") < 0);   /* into its own child */
    CHECK(mrename(alice, "X", "inbox") == LWM_ERR_EXIST);
    CHECK(lwm_mbox_rename(&st, alice, "X", 1, "", 0) == LWM_ERR_INVAL);
    memset(name, 'r', sizeof(name));
    CHECK(lwm_mbox_rename(&st, alice, "X", 1, name, LWM_MBOX_NAME_MAX + 1) ==
          LWM_ERR_NAMETOOLONG);
    /* a child name that would become too long refuses the whole rename */
    r = lwm_mbox_rename(&st, alice, "X", 1, name, LWM_MBOX_NAME_MAX - 1);
    CHECK(r == LWM_ERR_NAMETOOLONG);
    CHECK(mfind(alice, "X/B/C") >= 0);
    /* rename to a deeper name creates the missing parents */
    CHECK(mrename(alice, "Projects", "Work/Projects") == 0);
    model_rename(alice, "Projects", "Work/Projects", 1);
    CHECK(mfind(alice, "Work") >= 0);
    CHECK(mfind(alice, "Work/Projects") >= 0);

    /* Rename INBOX: its messages move, INBOX stays, empty; INBOX's
     * children stay (RFC 3501 6.3.5). */
    CHECK(mcreate(alice, "INBOX/Kids") >= 0);
    for (k = 0; k < 3; k++) {
        uid = append_msg(inbox, 200 + (uint32_t)k, 300 + 100 * (uint32_t)k,
                         0, 0);
        CHECK(uid > 0);
        old_uids[k] = (uint32_t)uid;
        model_add(inbox, (uint32_t)uid, 200 + (uint32_t)k,
                  300 + 100 * (uint32_t)k);
    }
    i = minfo(inbox);
    CHECK(i.exists == 3);
    CHECK(mrename(alice, "InBox", "Old Mail") == 0);
    model_rename(alice, "INBOX", "Old Mail", 0);
    inbox = mfind(alice, "INBOX");
    CHECK(inbox >= 0);
    j = minfo(inbox);
    CHECK(j.exists == 0 && j.size == 0 && lwm_msg_count(&st, inbox) == 0);
    s = mfind(alice, "Old Mail");
    CHECK(s >= 0 && minfo(s).exists == 3);
    CHECK(mfind(alice, "INBOX/Kids") >= 0);
    CHECK(mfind(alice, "Old Mail/Kids") == LWM_ERR_NOENT);
    for (k = 0; k < 3; k++) {
        struct lwm_msg m;
        CHECK(get_uid(s, old_uids[k], &m));
    }
    /* INBOX must not hand out an old UID again under the same validity. */
    uid = append_msg(inbox, 210, 123, 0, 0);
    CHECK(uid > 0);
    model_add(inbox, (uint32_t)uid, 210, 123);
    j = minfo(inbox);
    CHECK((uint32_t)uid > old_uids[2] || j.uidvalidity != i.uidvalidity);
    CHECK(model_check() == 0);

    /* Delete: a leaf disappears with its messages. */
    s = mfind(alice, "Entw\xc3\xbcrfe");
    uid = append_msg(s, 300, 5000, 0, 0);
    CHECK(uid > 0);
    CHECK(mdelete(alice, "Entw\xc3\xbcrfe") == 0);
    CHECK(mfind(alice, "Entw\xc3\xbcrfe") == LWM_ERR_NOENT);
    CHECK(mdelete(alice, "Entw\xc3\xbcrfe") == LWM_ERR_NOENT);
    /* A mailbox with children becomes \Noselect, its messages go. */
    s = mfind(alice, "X/B");
    uid = append_msg(s, 301, 2500, 0, 0);
    CHECK(uid > 0);
    CHECK(minfo(s).exists == 1);
    CHECK(mdelete(alice, "X/B") == 0);
    s = mfind(alice, "X/B");
    CHECK(s >= 0);
    i = minfo(s);
    CHECK((i.attrs & LWM_MBOX_NOSELECT) != 0);
    CHECK(i.exists == 0 && lwm_msg_count(&st, s) == 0);
    CHECK(mfind(alice, "X/B/C") >= 0 && minfo(mfind(alice, "X/B/C")).exists == 1);
    r = lwm_append_begin(&st, s, DATE0, 0);     /* can't select it */
    CHECK(r < 0);
    if (r >= 0) {
        lwm_append_abort(&st, r);
    }
    /* \Noselect with children can't be deleted again (RFC 3501 6.3.4) */
    CHECK(mdelete(alice, "X/B") < 0);
    /* creating it again makes it selectable, or is refused as existing */
    r = mcreate(alice, "X/B");
    CHECK(r >= 0 || r == LWM_ERR_EXIST);
    if (r >= 0) {
        CHECK((minfo(mfind(alice, "X/B")).attrs & LWM_MBOX_NOSELECT) == 0);
        CHECK(mdelete(alice, "X/B") == 0);
        CHECK((minfo(mfind(alice, "X/B")).attrs & LWM_MBOX_NOSELECT) != 0);
    } else {
        printf("  note: CREATE of a \\Noselect name gives EXIST\n");
    }
    /* once the child is gone, the \Noselect parent can be deleted */
    CHECK(mdelete(alice, "X/B/C") == 0);
    model_del_mbox(alice, "X/B/C");
    CHECK(mdelete(alice, "X/B") == 0);
    CHECK(mfind(alice, "X/B") == LWM_ERR_NOENT);
    CHECK(mfind(alice, "X") >= 0);
    /* INBOX can't be deleted. */
    r = mdelete(alice, "INBOX");
    CHECK(r < 0);
    if (r != LWM_ERR_INVAL) {
        printf("  note: deleting INBOX gives %d (%s), header says "
               "LWM_ERR_INVAL\n", r, lwm_strerror(r));
    }
    CHECK(mdelete(alice, "inbox") < 0);
    CHECK(mfind(alice, "INBOX") >= 0);

    /* UIDVALIDITY differs after delete + re-create, also across mounts. */
    CHECK(mcreate(alice, "Tmp") >= 0);
    uidv1 = minfo(mfind(alice, "Tmp")).uidvalidity;
    CHECK(mdelete(alice, "Tmp") == 0);
    CHECK(mcreate(alice, "Tmp") >= 0);
    uidv2 = minfo(mfind(alice, "Tmp")).uidvalidity;
    CHECK(uidv2 != uidv1);
    CHECK(mdelete(alice, "Tmp") == 0);
    remount();
    CHECK(mcreate(alice, "Tmp") >= 0);
    uidv3 = minfo(mfind(alice, "Tmp")).uidvalidity;
    CHECK(uidv3 != uidv1 && uidv3 != uidv2);

    /* UIDNEXT never goes back: expunge the highest UID, remount. */
    s = mfind(alice, "Tmp");
    for (k = 0; k < 3; k++) {
        uid = append_msg(s, 400 + (uint32_t)k, 100, 0, 0);
        CHECK(uid > 0);
        model_add(s, (uint32_t)uid, 400 + (uint32_t)k, 100);
    }
    hi = (uint32_t)uid;
    CHECK(minfo(s).uidnext == hi + 1);
    CHECK(lwm_expunge(&st, s, &hi, 1) == 1);
    model_del(s, hi);
    CHECK(minfo(s).uidnext == hi + 1);
    {
        uint32_t hms = minfo(s).highestmodseq;
        remount();
        s = mfind(alice, "Tmp");
        CHECK(minfo(s).uidnext == hi + 1);
        CHECK(minfo(s).highestmodseq >= hms);
        CHECK(lwm_store_gc_force(&st) >= 0);
        gc_settle();          /* a snapshot must keep it too */
        remount();
        s = mfind(alice, "Tmp");
        CHECK(minfo(s).uidnext == hi + 1);
        uid = append_msg(s, 410, 100, 0, 0);
        CHECK(uid > 0 && (uint32_t)uid > hi);
        model_add(s, (uint32_t)uid, 410, 100);
        CHECK(minfo(s).highestmodseq > hms);
    }
    /* ... and for an emptied mailbox too */
    {
        uint32_t all[8];
        uint32_t n = lwm_msg_count(&st, s), q;
        for (q = 0; q < n && q < 8; q++) {
            struct lwm_msg m;
            CHECK(lwm_msg_get(&st, s, q, &m) == 0);
            all[q] = m.uid;
            model_del(s, m.uid);
        }
        CHECK(lwm_expunge(&st, s, all, n) == (int)n);
        CHECK(minfo(s).exists == 0);
        hi = minfo(s).uidnext;
        CHECK(lwm_store_gc_force(&st) >= 0);
        gc_settle();
        remount();
        s = mfind(alice, "Tmp");
        CHECK(minfo(s).uidnext == hi);
    }

    /* Iteration lists every mailbox once. */
    {
        int seen[LWM_STORE_MAX_MBOXES];
        int cnt = 0;
        memset(seen, 0, sizeof(seen));
        s = -1;
        while ((s = lwm_mbox_next(&st, alice, s)) >= 0) {
            CHECK(s < LWM_STORE_MAX_MBOXES && !seen[s]);
            if (s < LWM_STORE_MAX_MBOXES) {
                seen[s] = 1;
            }
            CHECK(minfo(s).user == alice);
            cnt++;
        }
        /* 6 defaults + X, Work, Work/Projects, Old Sent, INBOX/Kids,
         * Old Mail, Tmp */
        CHECK(cnt == 13);
    }
}

/// Append and read ///

static void check_reads(const struct lwm_msg *m, uint32_t seed)
{
    static uint8_t buf[3 * 4096 + 64];
    uint32_t size = m->size, t, bs = geo->block_size;
    int bad = 0;

    for (t = 0; t < 150; t++) {
        uint32_t off, len, want, i;
        int r;
        switch (t % 3) {
        case 0: /* anywhere */
            off = rnd_below(size + 20);
            break;
        case 1: /* near a block boundary of the flash (body offsets are
                 * unknown, so near every multiple of the block size) */
            off = (rnd_below(size / bs + 1)) * bs;
            off = off + rnd_below(80) - (off >= 40 ? 40 : 0);
            break;
        default: /* near the end */
            off = size >= 100 ? size - rnd_below(100) : rnd_below(size + 1);
            break;
        }
        len = rnd_below(t % 5 == 0 ? sizeof(buf) : 300);
        want = off >= size ? 0 : (len < size - off ? len : size - off);
        r = read_all(m, off, buf, len);
        if (r != (int)want) {
            bad++;
            continue;
        }
        for (i = 0; i < want; i++) {
            if (buf[i] != pat(seed, off + i)) {
                bad++;
                break;
            }
        }
    }
    if (!CHECK(bad == 0)) {
        fprintf(stderr, "  [%s] %d bad reads of a %" PRIu32 " byte body\n",
                geo->name, bad, size);
    }
    CHECK(lwm_msg_read(&st, m, size, buf, 1) == 0);
    CHECK(lwm_msg_read(&st, m, size + 1, buf, 1) == 0);
    CHECK(lwm_msg_read(&st, m, 0xFFFFFFF0u, buf, 100) == 0);
    if (size > 0) {
        CHECK(lwm_msg_read(&st, m, 0, buf, 0) == 0);
    }
}

static void check_ptr(const struct lwm_msg *m, uint32_t seed)
{
    const uint8_t *p = NULL;
    uint32_t off = 0;
    int r, bad = 0;

    if (!geo->mapped) {
        CHECK(lwm_msg_ptr(&st, m, 0, &p) == LWM_ERR_INVAL);
        return;
    }
    /* Walk the whole body through pointers. */
    while (off < m->size) {
        int i;
        r = lwm_msg_ptr(&st, m, off, &p);
        if (!CHECK(r > 0 && (uint32_t)r <= m->size - off)) {
            return;
        }
        CHECK(p >= nor.mem && p + r <= nor.mem + nor.size);
        for (i = 0; i < r; i++) {
            if (p[i] != pat(seed, off + (uint32_t)i)) {
                bad++;
                break;
            }
        }
        off += (uint32_t)r;
    }
    CHECK(bad == 0);
    /* random offsets */
    for (r = 0; r < 30 && m->size > 0; r++) {
        uint32_t o = rnd_below(m->size);
        int n = lwm_msg_ptr(&st, m, o, &p);
        CHECK(n > 0 && p != NULL && p[0] == pat(seed, o) &&
              p[n - 1] == pat(seed, o + (uint32_t)n - 1));
    }
    CHECK(lwm_msg_ptr(&st, m, m->size, &p) == 0);
    CHECK(lwm_msg_ptr(&st, m, m->size + 7, &p) == 0);
}

/* Append, then check UID/MODSEQ bookkeeping, the message view and reads. */
static uint32_t append_checked(int mbox, uint32_t seed, uint32_t size,
                               uint32_t chunk, uint32_t flags)
{
    struct lwm_mbox_info b = minfo(mbox), a;
    struct lwm_msg m;
    int uid = append_msg(mbox, seed, size, chunk, flags);

    if (!CHECK(uid > 0)) {
        fprintf(stderr, "  [%s] append of %" PRIu32 " bytes (chunk %" PRIu32
                "): %d\n", geo->name, size, chunk, uid);
        return 0;
    }
    model_add(mbox, (uint32_t)uid, seed, size);
    a = minfo(mbox);
    CHECK((uint32_t)uid >= b.uidnext);
    CHECK(a.uidnext == (uint32_t)uid + 1);
    CHECK(a.exists == b.exists + 1);
    CHECK(a.size == b.size + size);
    CHECK(a.unseen == b.unseen + ((flags & LWM_FLAG_SEEN) ? 0u : 1u));
    CHECK(a.highestmodseq > b.highestmodseq);
    CHECK(a.uidvalidity == b.uidvalidity);
    if (CHECK(get_uid(mbox, (uint32_t)uid, &m))) {
        CHECK(m.size == size);
        CHECK(m.date == DATE0 + seed);
        CHECK(m.flags == flags);
        CHECK(m.modseq == a.highestmodseq);
        CHECK(body_ok(&m, seed, size));
        check_reads(&m, seed);
        check_ptr(&m, seed);
    }
    return (uint32_t)uid;
}

static void t_append(void)
{
    uint32_t bs = geo->block_size, prev = 0, u, hms;
    int inbox = mfind(alice, "INBOX"), sent = mfind(alice, "Sent");
    int a, b, h[LWM_STORE_MAX_APPENDS + 1], k, r;
    uint32_t sizes[] = { 1, 2, 3, 31, 33, 100, 511, 4000 };
    struct lwm_store_stats s0, s1;

    CHECK(inbox >= 0 && sent >= 0);
    /* small ones of many sizes; UIDs strictly increase */
    for (k = 0; k < (int)(sizeof(sizes) / sizeof(sizes[0])); k++) {
        u = append_checked(inbox, 1000 + (uint32_t)k, sizes[k], 0,
                           k % 2 ? LWM_FLAG_SEEN | LWM_FLAG_DRAFT : 0);
        CHECK(u > prev);
        prev = u;
    }
    /* exactly one block, and one block +/- a little */
    u = append_checked(inbox, 1010, bs, 0, 0);
    CHECK(u > prev);
    prev = u;
    append_checked(inbox, 1011, bs - 1, bs, 0);
    append_checked(inbox, 1012, bs + 1, 1, LWM_FLAG_FLAGGED);
    /* multi-block: 10.5 blocks */
    append_checked(sent, 1013, 10 * bs + bs / 2 + 3, 0, LWM_FLAG_SEEN);
    /* odd chunk sizes */
    append_checked(inbox, 1014, 3001, 1, 0);
    append_checked(inbox, 1015, 2 * bs + 5, 7, 0);
    append_checked(inbox, 1016, 3 * bs + 77, 1000, 0);
    append_checked(inbox, 1017, 999, 33, 0);
    /* with a size hint: a body that will span blocks starts in a block of
     * its own (lwm_append_begin_sized); a wrong hint costs only space */
    {
        static const struct {
            uint32_t seed, size, hint;
        } hv[] = {
            { 1020, 100, 100 },
            { 1021, 2 * 4096 + 2048, 2 * 4096 + 2048 },  /* scaled below */
            { 1022, 100, 100 },
            { 1023, 3000, 10 },           /* hint too small */
            { 1024, 500, 5 * 4096 },      /* hint too large */
            { 1025, 1500, 0 },            /* unknown */
        };
        struct lwm_msg m;
        uint32_t q;
        for (q = 0; q < sizeof(hv) / sizeof(hv[0]); q++) {
            uint32_t size = hv[q].size, hint = hv[q].hint;
            int uid;
            if (size > 4096) {
                size = size / 4096 * bs + size % 4096 * bs / 4096;
            }
            if (hint > 4096) {
                hint = hint / 4096 * bs + hint % 4096 * bs / 4096;
            }
            uid = append_msg_hint(inbox, hv[q].seed, size, 0, 0, hint);
            if (!CHECK(uid > 0)) {
                fprintf(stderr, "  [%s] sized append %" PRIu32 "/%" PRIu32
                        ": %d\n", geo->name, size, hint, uid);
                continue;
            }
            model_add(inbox, (uint32_t)uid, hv[q].seed, size);
            CHECK(get_uid(inbox, (uint32_t)uid, &m) &&
                  body_ok(&m, hv[q].seed, size));
            if (q == 1) {
                /* the body record is the first thing in its block */
                CHECK(m.body % bs < 256);
                check_reads(&m, hv[q].seed);
            }
        }
    }
    /* zero bytes: either refused cleanly or an empty message */
    {
        struct lwm_mbox_info bi = minfo(inbox);
        a = lwm_append_begin(&st, inbox, DATE0 + 1018, 0);
        CHECK(a >= 0);
        r = lwm_append_commit(&st, a);
        if (r > 0) {
            struct lwm_msg m;
            uint8_t c;
            model_add(inbox, (uint32_t)r, 1018, 0);
            CHECK(get_uid(inbox, (uint32_t)r, &m) && m.size == 0);
            CHECK(lwm_msg_read(&st, &m, 0, &c, 1) == 0);
        } else {
            lwm_append_abort(&st, a);
            CHECK(minfo(inbox).exists == bi.exists);
            printf("  note: empty append refused with %d\n", r);
        }
    }

    /* abort leaves nothing */
    {
        struct lwm_mbox_info bi = minfo(inbox);
        static uint8_t buf[5000];
        lwm_store_stats(&st, &s0);
        a = lwm_append_begin(&st, inbox, DATE0, 0);
        CHECK(a >= 0);
        fill(buf, 1, 0, sizeof(buf));
        CHECK(lwm_append_write(&st, a, buf, sizeof(buf)) >= 0);
        CHECK(lwm_append_write(&st, a, buf, sizeof(buf)) >= 0);
        lwm_append_abort(&st, a);
        lwm_append_abort(&st, a);   /* twice is harmless */
        CHECK(lwm_append_commit(&st, a) < 0);
        CHECK(lwm_append_write(&st, a, buf, 1) < 0);
        struct lwm_mbox_info ai = minfo(inbox);
        CHECK(ai.exists == bi.exists && ai.size == bi.size);
        CHECK(ai.highestmodseq == bi.highestmodseq);
        lwm_store_stats(&st, &s1);
        CHECK(s1.msgs == s0.msgs);
        CHECK(lwm_store_check(&st, 1) == 0);
        remount();
        inbox = mfind(alice, "INBOX");
        sent = mfind(alice, "Sent");
        CHECK(minfo(inbox).exists == bi.exists);
        CHECK(model_check() == 0);
        /* its space comes back */
        CHECK(lwm_store_gc_force(&st) >= 0);
        gc_settle();
    }

    /* interleaved streams, different mailboxes, committed out of order */
    {
        static uint8_t buf[1200];
        uint32_t la = 5 * bs + 11, lb = 3 * bs + 333, oa = 0, ob = 0;
        int ua, ub;
        a = lwm_append_begin(&st, inbox, DATE0 + 2001, 0);
        b = lwm_append_begin(&st, sent, DATE0 + 2002, LWM_FLAG_SEEN);
        CHECK(a >= 0 && b >= 0 && a != b);
        while (oa < la || ob < lb) {
            uint32_t n = 1 + rnd_below(sizeof(buf));
            if (oa < la) {
                n = n < la - oa ? n : la - oa;
                fill(buf, 2001, oa, n);
                CHECK(lwm_append_write(&st, a, buf, n) >= 0);
                oa += n;
            }
            n = 1 + rnd_below(700);
            if (ob < lb) {
                n = n < lb - ob ? n : lb - ob;
                fill(buf, 2002, ob, n);
                CHECK(lwm_append_write(&st, b, buf, n) >= 0);
                ob += n;
            }
        }
        ub = lwm_append_commit(&st, b);
        ua = lwm_append_commit(&st, a);
        CHECK(ua > 0 && ub > 0);
        if (ua > 0 && ub > 0) {
            struct lwm_msg m;
            model_add(inbox, (uint32_t)ua, 2001, la);
            model_add(sent, (uint32_t)ub, 2002, lb);
            CHECK(get_uid(inbox, (uint32_t)ua, &m) && body_ok(&m, 2001, la));
            CHECK(get_uid(sent, (uint32_t)ub, &m) && body_ok(&m, 2002, lb));
            CHECK(m.flags == LWM_FLAG_SEEN);
        }
    }
    /* interleaved into the same mailbox, with a third stream aborted */
    {
        static uint8_t buf[900];
        uint32_t len = 2 * bs + 100, o = 0;
        int ua, ub, c;
        a = lwm_append_begin(&st, inbox, DATE0 + 2003, 0);
        b = lwm_append_begin(&st, inbox, DATE0 + 2004, 0);
        c = lwm_append_begin(&st, inbox, DATE0 + 2005, 0);
        CHECK(a >= 0 && b >= 0 && c >= 0);
        while (o < len) {
            uint32_t n = len - o < sizeof(buf) ? len - o : sizeof(buf);
            n = 1 + rnd_below(n);
            fill(buf, 2003, o, n);
            CHECK(lwm_append_write(&st, a, buf, n) >= 0);
            fill(buf, 2004, o, n);
            CHECK(lwm_append_write(&st, b, buf, n) >= 0);
            fill(buf, 2005, o, n);
            CHECK(lwm_append_write(&st, c, buf, n) >= 0);
            o += n;
        }
        lwm_append_abort(&st, c);
        ua = lwm_append_commit(&st, a);
        ub = lwm_append_commit(&st, b);
        CHECK(ua > 0 && ub > ua);
        if (ua > 0 && ub > 0) {
            struct lwm_msg m;
            model_add(inbox, (uint32_t)ua, 2003, len);
            model_add(inbox, (uint32_t)ub, 2004, len);
            CHECK(get_uid(inbox, (uint32_t)ua, &m) && body_ok(&m, 2003, len));
            CHECK(get_uid(inbox, (uint32_t)ub, &m) && body_ok(&m, 2004, len));
        }
    }
    /* all streams in use: the next one is refused, then slots free up */
    for (k = 0; k <= LWM_STORE_MAX_APPENDS; k++) {
        h[k] = lwm_append_begin(&st, inbox, DATE0, 0);
    }
    for (k = 0; k < LWM_STORE_MAX_APPENDS; k++) {
        CHECK(h[k] >= 0);
    }
    CHECK(h[LWM_STORE_MAX_APPENDS] == LWM_ERR_BUSY ||
          h[LWM_STORE_MAX_APPENDS] == LWM_ERR_NOMEM);
    for (k = 0; k < LWM_STORE_MAX_APPENDS; k++) {
        lwm_append_abort(&st, h[k]);
    }
    u = append_checked(inbox, 2010, 64, 0, 0);
    CHECK(u > 0);
    /* an open append does not survive a remount, nothing of it shows */
    hms = minfo(inbox).highestmodseq;
    a = lwm_append_begin(&st, inbox, DATE0, 0);
    CHECK(a >= 0);
    CHECK(lwm_append_write(&st, a, "partial", 7) >= 0);
    remount();
    inbox = mfind(alice, "INBOX");
    CHECK(minfo(inbox).highestmodseq == hms);
    CHECK(lwm_append_write(&st, a, "more", 4) < 0);
    CHECK(lwm_append_commit(&st, a) < 0);

    /* lwm_msg_find, nearest */
    {
        uint32_t n = lwm_msg_count(&st, inbox), q;
        struct lwm_msg m0, m1;
        CHECK(n >= 2);
        for (q = 0; q + 1 < n; q++) {
            CHECK(lwm_msg_get(&st, inbox, q, &m0) == 0);
            CHECK(lwm_msg_get(&st, inbox, q + 1, &m1) == 0);
            CHECK(m0.uid < m1.uid);
            CHECK(lwm_msg_find(&st, inbox, m0.uid, 0) == (int)q);
            CHECK(lwm_msg_find(&st, inbox, m0.uid, 1) == (int)q);
            if (m1.uid > m0.uid + 1) {
                CHECK(lwm_msg_find(&st, inbox, m0.uid + 1, 0) ==
                      LWM_ERR_NOENT);
                CHECK(lwm_msg_find(&st, inbox, m0.uid + 1, 1) == (int)q + 1);
            }
        }
        CHECK(lwm_msg_find(&st, inbox, 0, 1) == 0);
        CHECK(lwm_msg_find(&st, inbox, 0xFFFFFFF0u, 1) == (int)n);
        CHECK(lwm_msg_find(&st, inbox, 0xFFFFFFF0u, 0) == LWM_ERR_NOENT);
        CHECK(is_argerr(lwm_msg_get(&st, inbox, n, &m0)));
    }
}

/// Flags and keywords ///

static int fl_mbox;
static uint32_t fl_uids[10];

static uint32_t count_flag(int mbox, uint32_t flag, int set)
{
    uint32_t n = lwm_msg_count(&st, mbox), q, c = 0;
    for (q = 0; q < n; q++) {
        struct lwm_msg m;
        if (lwm_msg_get(&st, mbox, q, &m) == 0 &&
            ((m.flags & flag) != 0) == (set != 0)) {
            c++;
        }
    }
    return c;
}

static void check_counts(int mbox)
{
    struct lwm_mbox_info i = minfo(mbox);
    CHECK(i.unseen == count_flag(mbox, LWM_FLAG_SEEN, 0));
    CHECK(i.deleted == count_flag(mbox, LWM_FLAG_DELETED, 1));
    CHECK(i.exists == lwm_msg_count(&st, mbox));
}

static uint32_t flags_of(int mbox, uint32_t uid)
{
    struct lwm_msg m;
    return get_uid(mbox, uid, &m) ? m.flags : 0xFFFFFFFFu;
}

static uint32_t modseq_of(int mbox, uint32_t uid)
{
    struct lwm_msg m;
    return get_uid(mbox, uid, &m) ? m.modseq : 0;
}

static void t_flags(void)
{
    char kw[LWM_KEYWORD_LEN + 2];
    uint32_t hms, ms, k, other[3];
    int r, kf, kj, idx;

    CHECK(mcreate(alice, "Flags") >= 0);
    fl_mbox = mfind(alice, "Flags");
    for (k = 0; k < 10; k++) {
        fl_uids[k] = append_checked(fl_mbox, 3000 + k, 200 + 50 * k, 0, 0);
    }
    check_counts(fl_mbox);
    CHECK(minfo(fl_mbox).unseen == 10);

    /* SET: exactly these flags, one new MODSEQ for all */
    hms = minfo(fl_mbox).highestmodseq;
    r = lwm_store_flags(&st, fl_mbox, fl_uids, 5, LWM_FLAGS_SET,
                        LWM_FLAG_SEEN);
    CHECK(r == 5);
    ms = minfo(fl_mbox).highestmodseq;
    CHECK(ms > hms);
    for (k = 0; k < 10; k++) {
        CHECK(flags_of(fl_mbox, fl_uids[k]) == (k < 5 ? LWM_FLAG_SEEN : 0));
        if (k < 5) {
            CHECK(modseq_of(fl_mbox, fl_uids[k]) == ms);
        } else {
            CHECK(modseq_of(fl_mbox, fl_uids[k]) < ms);
        }
    }
    check_counts(fl_mbox);
    CHECK(minfo(fl_mbox).unseen == 5);

    /* ADD */
    hms = ms;
    r = lwm_store_flags(&st, fl_mbox, fl_uids + 3, 5, LWM_FLAGS_ADD,
                        LWM_FLAG_FLAGGED | LWM_FLAG_DELETED);
    CHECK(r == 5);
    ms = minfo(fl_mbox).highestmodseq;
    CHECK(ms > hms);
    CHECK(flags_of(fl_mbox, fl_uids[3]) ==
          (LWM_FLAG_SEEN | LWM_FLAG_FLAGGED | LWM_FLAG_DELETED));
    CHECK(flags_of(fl_mbox, fl_uids[7]) ==
          (LWM_FLAG_FLAGGED | LWM_FLAG_DELETED));
    CHECK(flags_of(fl_mbox, fl_uids[8]) == 0);
    CHECK(modseq_of(fl_mbox, fl_uids[7]) == ms);
    check_counts(fl_mbox);
    CHECK(minfo(fl_mbox).deleted == 5);

    /* REMOVE */
    hms = ms;
    r = lwm_store_flags(&st, fl_mbox, fl_uids + 3, 2, LWM_FLAGS_REMOVE,
                        LWM_FLAG_SEEN | LWM_FLAG_DELETED);
    CHECK(r == 2);
    ms = minfo(fl_mbox).highestmodseq;
    CHECK(ms > hms);
    CHECK(flags_of(fl_mbox, fl_uids[3]) == LWM_FLAG_FLAGGED);
    CHECK(flags_of(fl_mbox, fl_uids[4]) == LWM_FLAG_FLAGGED);
    check_counts(fl_mbox);
    CHECK(minfo(fl_mbox).unseen == 7 && minfo(fl_mbox).deleted == 3);

    /* missing UIDs are skipped */
    other[0] = fl_uids[9];
    other[1] = 99999;
    other[2] = 0;
    r = lwm_store_flags(&st, fl_mbox, other, 3, LWM_FLAGS_ADD,
                        LWM_FLAG_ANSWERED);
    CHECK(r == 1);
    CHECK(flags_of(fl_mbox, fl_uids[9]) == LWM_FLAG_ANSWERED);
    other[0] = 99999;
    hms = minfo(fl_mbox).highestmodseq;
    r = lwm_store_flags(&st, fl_mbox, other, 1, LWM_FLAGS_ADD,
                        LWM_FLAG_ANSWERED);
    CHECK(r == 0);
    CHECK(lwm_store_flags(&st, fl_mbox, other, 0, LWM_FLAGS_ADD,
                          LWM_FLAG_ANSWERED) == 0);
    CHECK(minfo(fl_mbox).highestmodseq == hms);
    /* a change that changes nothing: counted or not, but no damage */
    r = lwm_store_flags(&st, fl_mbox, fl_uids + 9, 1, LWM_FLAGS_ADD,
                        LWM_FLAG_ANSWERED);
    CHECK(r == 0 || r == 1);
    CHECK(flags_of(fl_mbox, fl_uids[9]) == LWM_FLAG_ANSWERED);
    CHECK(lwm_store_flags(&st, fl_mbox, fl_uids, 1, (enum lwm_flags_op)7,
                          LWM_FLAG_SEEN) == LWM_ERR_INVAL);
    check_counts(fl_mbox);

    /* keywords */
    kf = lwm_keyword(&st, fl_mbox, "$Forwarded", 10, 1);
    CHECK(kf >= 0 && kf < LWM_KEYWORDS_MAX);
    CHECK(lwm_keyword(&st, fl_mbox, "$Forwarded", 10, 1) == kf);
    CHECK(lwm_keyword(&st, fl_mbox, "$Forwarded", 10, 0) == kf);
    CHECK(lwm_keyword(&st, fl_mbox, "$ForwardedXX", 10, 0) == kf);
    CHECK(lwm_keyword(&st, fl_mbox, "$Junk", 5, 0) == LWM_ERR_NOENT);
    CHECK(lwm_keyword_name(&st, fl_mbox, kf) != NULL &&
          strcmp(lwm_keyword_name(&st, fl_mbox, kf), "$Forwarded") == 0);
    kj = lwm_keyword(&st, fl_mbox, "$Junk", 5, 1);
    CHECK(kj >= 0 && kj != kf);
    CHECK(lwm_keyword(&st, mfind(alice, "INBOX"), "$Junk", 5, 0) ==
          LWM_ERR_NOENT);                      /* per mailbox */
    CHECK(lwm_keyword(&st, fl_mbox, "", 0, 1) == LWM_ERR_INVAL);
    memset(kw, 'k', sizeof(kw));
    r = lwm_keyword(&st, fl_mbox, kw, LWM_KEYWORD_LEN + 1, 1);
    CHECK(r == LWM_ERR_NAMETOOLONG || r == LWM_ERR_INVAL);
    CHECK(lwm_keyword_name(&st, fl_mbox, -1) == NULL);
    CHECK(lwm_keyword_name(&st, fl_mbox, LWM_KEYWORDS_MAX) == NULL);
    CHECK(lwm_keyword_name(&st, -1, 0) == NULL);
    /* fill the table */
    for (k = 2; k < LWM_KEYWORDS_MAX; k++) {
        snprintf(kw, sizeof(kw), "kw%" PRIu32, k);
        idx = lwm_keyword(&st, fl_mbox, kw, strlen(kw), 1);
        CHECK(idx >= 0 && idx < LWM_KEYWORDS_MAX);
    }
    memset(kw, 'k', LWM_KEYWORD_LEN);
    r = lwm_keyword(&st, fl_mbox, kw, LWM_KEYWORD_LEN, 1);
    CHECK(r == LWM_ERR_NOMEM);
    CHECK(lwm_keyword(&st, fl_mbox, "$Forwarded", 10, 1) == kf);
    /* keyword flags */
    r = lwm_store_flags(&st, fl_mbox, fl_uids, 2, LWM_FLAGS_ADD,
                        LWM_FLAG_KEYWORD(kf));
    CHECK(r == 2);
    r = lwm_store_flags(&st, fl_mbox, fl_uids + 1, 1, LWM_FLAGS_ADD,
                        LWM_FLAG_KEYWORD(kj));
    CHECK(r == 1);
    CHECK(flags_of(fl_mbox, fl_uids[0]) ==
          (LWM_FLAG_SEEN | LWM_FLAG_KEYWORD(kf)));
    CHECK(flags_of(fl_mbox, fl_uids[1]) ==
          (LWM_FLAG_SEEN | LWM_FLAG_KEYWORD(kf) | LWM_FLAG_KEYWORD(kj)));
    r = lwm_store_flags(&st, fl_mbox, fl_uids + 1, 1, LWM_FLAGS_REMOVE,
                        LWM_FLAG_KEYWORD(kf));
    CHECK(r == 1);
    CHECK(flags_of(fl_mbox, fl_uids[1]) ==
          (LWM_FLAG_SEEN | LWM_FLAG_KEYWORD(kj)));
    check_counts(fl_mbox);

    /* all of it survives a remount */
    hms = minfo(fl_mbox).highestmodseq;
    remount();
    fl_mbox = mfind(alice, "Flags");
    CHECK(minfo(fl_mbox).highestmodseq == hms);
    CHECK(flags_of(fl_mbox, fl_uids[1]) ==
          (LWM_FLAG_SEEN | LWM_FLAG_KEYWORD(kj)));
    CHECK(lwm_keyword(&st, fl_mbox, "$Junk", 5, 0) == kj);
    check_counts(fl_mbox);
    /* and MODSEQ keeps growing after it */
    r = lwm_store_flags(&st, fl_mbox, fl_uids + 9, 1, LWM_FLAGS_SET, 0);
    CHECK(r == 1);
    CHECK(minfo(fl_mbox).highestmodseq > hms);
    CHECK(modseq_of(fl_mbox, fl_uids[9]) > hms);
}

/// Expunge ///

static void t_expunge(void)
{
    struct lwm_mbox_info b = minfo(fl_mbox), a;
    uint32_t ex[4];
    struct lwm_msg m;
    int r;

    ex[0] = fl_uids[0];
    ex[1] = fl_uids[5];
    ex[2] = 99999;
    ex[3] = fl_uids[0];     /* duplicate */
    r = lwm_expunge(&st, fl_mbox, ex, 4);
    CHECK(r == 2);
    model_del(fl_mbox, fl_uids[0]);
    model_del(fl_mbox, fl_uids[5]);
    a = minfo(fl_mbox);
    CHECK(a.exists == b.exists - 2);
    CHECK(a.size == b.size - (200 + 0) - (200 + 250));
    CHECK(a.uidnext == b.uidnext);
    CHECK(a.highestmodseq >= b.highestmodseq);
    if (a.highestmodseq == b.highestmodseq) {
        printf("  note: EXPUNGE does not raise HIGHESTMODSEQ (QRESYNC "
               "clients need it to)\n");
    }
    CHECK(lwm_msg_find(&st, fl_mbox, fl_uids[0], 0) == LWM_ERR_NOENT);
    CHECK(lwm_msg_find(&st, fl_mbox, fl_uids[5], 0) == LWM_ERR_NOENT);
    CHECK(get_uid(fl_mbox, fl_uids[1], &m));
    check_counts(fl_mbox);
    CHECK(lwm_expunge(&st, fl_mbox, ex, 1) == 0);
    CHECK(lwm_expunge(&st, fl_mbox, ex, 0) == 0);
    CHECK(lwm_msg_count(&st, fl_mbox) == 8);

    /* Empty Sent (the 10.5-block body and another multi-block one) and
     * let GC reclaim it: the small geometries need the room later. */
    {
        int sent = mfind(alice, "Sent");
        uint32_t n = lwm_msg_count(&st, sent), q, all[8];
        struct lwm_store_stats s0, s1;
        uint64_t bytes = minfo(sent).size;
        CHECK(n == 2);
        for (q = 0; q < n && q < 8; q++) {
            CHECK(lwm_msg_get(&st, sent, q, &m) == 0);
            all[q] = m.uid;
            model_del(sent, m.uid);
        }
        lwm_store_stats(&st, &s0);
        CHECK(lwm_expunge(&st, sent, all, n) == (int)n);
        CHECK(minfo(sent).exists == 0 && minfo(sent).size == 0);
        CHECK(lwm_store_gc_force(&st) >= 0);
        gc_settle();
        lwm_store_stats(&st, &s1);
        CHECK(s1.blocks_free >= s0.blocks_free + 10);
        printf("  [%s] expunging %" PRIu64 " B of multi-block bodies: free "
               "blocks %" PRIu32 " -> %" PRIu32 "\n", geo->name, bytes,
               s0.blocks_free, s1.blocks_free);
    }
}

/// Copy and move ///

static void t_copy(void)
{
    int arch = mfind(alice, "Archive"), trash = mfind(alice, "Trash");
    int big_mb, k, kd;
    uint32_t src[3], first, cnt = 0, big, i;
    struct lwm_mbox_info b, a, sb;
    struct lwm_store_stats s0, s1;
    uint64_t p0;

    /* copy three messages with flags and a keyword */
    src[0] = fl_uids[1];    /* \Seen + $Junk */
    src[1] = fl_uids[7];    /* \Flagged \Deleted */
    src[2] = fl_uids[9];
    b = minfo(arch);
    sb = minfo(fl_mbox);
    k = lwm_copy(&st, fl_mbox, arch, src, 3, 0, &cnt);
    CHECK(k > 0 && cnt == 3);
    first = (uint32_t)k;
    CHECK(first >= b.uidnext);
    a = minfo(arch);
    CHECK(a.exists == b.exists + 3);
    CHECK(a.uidnext == first + 3);
    CHECK(a.highestmodseq > b.highestmodseq);
    CHECK(minfo(fl_mbox).exists == sb.exists);   /* source untouched */
    kd = lwm_keyword(&st, arch, "$Junk", 5, 0);
    CHECK(kd >= 0);                              /* keyword carried over */
    for (i = 0; i < 3; i++) {
        struct lwm_msg ms, md;
        struct mref *r = model_get(fl_mbox, src[i]);
        uint32_t want;
        if (!CHECK(get_uid(fl_mbox, src[i], &ms) &&
                   get_uid(arch, first + i, &md) && r != NULL)) {
            continue;
        }
        want = ms.flags & LWM_FLAG_SYSTEM;
        if (i == 0 && kd >= 0) {
            want |= LWM_FLAG_KEYWORD(kd);
        }
        CHECK(md.flags == want);
        CHECK(md.size == ms.size && md.date == ms.date);
        CHECK(body_ok(&md, r->seed, r->size));
        model_add(arch, first + i, r->seed, r->size);
    }
    check_counts(arch);

    /* a 20 KB body is shared, not copied */
    CHECK(mcreate(alice, "Big") >= 0);
    big_mb = mfind(alice, "Big");
    big = append_checked(big_mb, 5000, 20000, 0, 0);
    gc_settle();
    lwm_store_stats(&st, &s0);
    p0 = nor.prog_bytes;
    k = lwm_copy(&st, big_mb, arch, &big, 1, 0, &cnt);
    CHECK(k > 0 && cnt == 1);
    lwm_store_stats(&st, &s1);
    printf("  [%s] copy of a 20000 B message: %" PRIu64
           " B programmed (store), %" PRIu64 " B (flash), free blocks %"
           PRIu32 " -> %" PRIu32 "\n", geo->name,
           s1.bytes_programmed - s0.bytes_programmed, nor.prog_bytes - p0,
           s0.blocks_free, s1.blocks_free);
    CHECK(s1.bytes_programmed - s0.bytes_programmed < 1024);
    CHECK(nor.prog_bytes - p0 < 1024);
    CHECK(s1.blocks_free + 1 >= s0.blocks_free);
    if (k > 0) {
        struct lwm_msg m;
        model_add(arch, (uint32_t)k, 5000, 20000);
        CHECK(get_uid(arch, (uint32_t)k, &m) && body_ok(&m, 5000, 20000));
        /* The original goes; after GC and a remount the copy still reads
         * (reference counts rebuilt at mount). */
        CHECK(lwm_expunge(&st, big_mb, &big, 1) == 1);
        model_del(big_mb, big);
        CHECK(lwm_store_gc_force(&st) >= 0);
        gc_settle();
        CHECK(get_uid(arch, (uint32_t)k, &m) && body_ok(&m, 5000, 20000));
        remount();
        arch = mfind(alice, "Archive");
        trash = mfind(alice, "Trash");
        fl_mbox = mfind(alice, "Flags");
        big_mb = mfind(alice, "Big");
        CHECK(lwm_store_gc_force(&st) >= 0);
        gc_settle();
        CHECK(get_uid(arch, (uint32_t)k, &m) && body_ok(&m, 5000, 20000));
        CHECK(lwm_store_check(&st, 1) == 0);
    }

    /* move: gone from the source, consecutive UIDs in the destination */
    src[0] = fl_uids[2];
    src[1] = 99999;          /* skipped */
    src[2] = fl_uids[8];
    b = minfo(trash);
    sb = minfo(fl_mbox);
    {
        uint32_t seeds[2], sizes[2], fl[2];
        struct mref *r0 = model_get(fl_mbox, src[0]);
        struct mref *r2 = model_get(fl_mbox, src[2]);
        CHECK(r0 != NULL && r2 != NULL);
        seeds[0] = r0 ? r0->seed : 0;
        sizes[0] = r0 ? r0->size : 0;
        seeds[1] = r2 ? r2->seed : 0;
        sizes[1] = r2 ? r2->size : 0;
        fl[0] = flags_of(fl_mbox, src[0]);
        fl[1] = flags_of(fl_mbox, src[2]);
        k = lwm_copy(&st, fl_mbox, trash, src, 3, 1, &cnt);
        CHECK(k > 0 && cnt == 2);
        if (k > 0) {
            struct lwm_msg m;
            first = (uint32_t)k;
            CHECK(first >= b.uidnext);
            model_del(fl_mbox, src[0]);
            model_del(fl_mbox, src[2]);
            for (i = 0; i < 2; i++) {
                model_add(trash, first + i, seeds[i], sizes[i]);
                CHECK(get_uid(trash, first + i, &m));
                CHECK(m.flags == fl[i]);
                CHECK(body_ok(&m, seeds[i], sizes[i]));
            }
            CHECK(minfo(trash).uidnext == first + 2);
            CHECK(minfo(fl_mbox).exists == sb.exists - 2);
            CHECK(lwm_msg_find(&st, fl_mbox, src[0], 0) == LWM_ERR_NOENT);
            CHECK(minfo(fl_mbox).highestmodseq >= sb.highestmodseq);
            CHECK(minfo(trash).highestmodseq > b.highestmodseq);
        }
    }
    check_counts(fl_mbox);
    check_counts(trash);

    /* nothing to copy */
    src[0] = 99999;
    cnt = 77;
    k = lwm_copy(&st, fl_mbox, trash, src, 1, 0, &cnt);
    CHECK(cnt == 0 && (k >= 0 || k == LWM_ERR_NOENT));
    /* copy into the same mailbox (IMAP allows it) */
    src[0] = fl_uids[9];
    b = minfo(fl_mbox);
    k = lwm_copy(&st, fl_mbox, fl_mbox, src, 1, 0, &cnt);
    CHECK(k > 0 && cnt == 1 && (uint32_t)k >= b.uidnext);
    if (k > 0) {
        struct mref *r = model_get(fl_mbox, fl_uids[9]);
        if (CHECK(r != NULL)) {
            model_add(fl_mbox, (uint32_t)k, r->seed, r->size);
        }
    }
    /* into a \Noselect mailbox: refused */
    CHECK(mcreate(alice, "NS/Child") >= 0);
    CHECK(mdelete(alice, "NS") == 0);
    k = lwm_copy(&st, fl_mbox, mfind(alice, "NS"), src, 1, 0, &cnt);
    CHECK(k < 0);
    CHECK(minfo(mfind(alice, "NS")).exists == 0);
    /* deleting a mailbox whose bodies are shared keeps the copies */
    src[0] = fl_uids[9];
    k = lwm_copy(&st, fl_mbox, mfind(alice, "NS/Child"), src, 1, 0, &cnt);
    CHECK(k > 0);
    CHECK(mdelete(alice, "Flags") == 0);
    model_del_mbox(alice, "Flags");
    if (k > 0) {
        /* fl_uids[9] was appended with seed 3009, 650 bytes */
        model_add(mfind(alice, "NS/Child"), (uint32_t)k, 3009, 200 + 50 * 9);
    }
    CHECK(lwm_store_gc_force(&st) >= 0);
    gc_settle();
    CHECK(model_check() == 0);
    fl_mbox = -1;
}

/// Bad arguments ///

static void t_badargs(void)
{
    struct lwm_mbox_info i;
    struct lwm_msg m;
    uint32_t uid = 1, cnt = 0;
    uint8_t buf[8];
    int inbox = mfind(alice, "INBOX");
    int unused = -1, s, r;
    int bad[3];

    /* an unused slot */
    {
        int used[LWM_STORE_MAX_MBOXES];
        int u;
        memset(used, 0, sizeof(used));
        for (u = 0; u < nusers; u++) {
            int id = lwm_user_find(&st, unames[u]);
            s = -1;
            while ((s = lwm_mbox_next(&st, id, s)) >= 0) {
                if (s < LWM_STORE_MAX_MBOXES) {
                    used[s] = 1;
                }
            }
        }
        for (s = 0; s < LWM_STORE_MAX_MBOXES; s++) {
            if (!used[s]) {
                unused = s;
                break;
            }
        }
    }
    bad[0] = -1;
    bad[1] = LWM_STORE_MAX_MBOXES;
    bad[2] = unused >= 0 ? unused : -5;
    for (s = 0; s < 3; s++) {
        int b = bad[s];
        CHECK(is_argerr(lwm_mbox_info(&st, b, &i)));
        CHECK(lwm_msg_count(&st, b) == 0);
        CHECK(is_argerr(lwm_msg_get(&st, b, 0, &m)));
        CHECK(is_argerr(lwm_msg_find(&st, b, 1, 0)));
        CHECK(is_argerr(lwm_msg_find(&st, b, 1, 1)));
        r = lwm_append_begin(&st, b, DATE0, 0);
        CHECK(is_argerr(r));
        if (r >= 0) {
            lwm_append_abort(&st, r);
        }
        CHECK(is_argerr(lwm_store_flags(&st, b, &uid, 1, LWM_FLAGS_ADD,
                                        LWM_FLAG_SEEN)));
        CHECK(is_argerr(lwm_expunge(&st, b, &uid, 1)));
        CHECK(is_argerr(lwm_copy(&st, b, inbox, &uid, 1, 0, &cnt)));
        CHECK(is_argerr(lwm_copy(&st, inbox, b, &uid, 1, 0, &cnt)));
        CHECK(is_argerr(lwm_copy(&st, inbox, b, &uid, 1, 1, &cnt)));
        CHECK(is_argerr(lwm_keyword(&st, b, "x", 1, 1)));
        CHECK(is_argerr(lwm_keyword(&st, b, "x", 1, 0)));
        CHECK(lwm_keyword_name(&st, b, 0) == NULL);
    }
    /* users that don't exist */
    CHECK(is_argerr(lwm_mbox_find(&st, 0, "INBOX", 5)));
    CHECK(is_argerr(lwm_mbox_find(&st, 4242, "INBOX", 5)));
    CHECK(is_argerr(lwm_mbox_find(&st, -1, "INBOX", 5)));
    CHECK(is_argerr(lwm_mbox_next(&st, 4242, -1)));
    CHECK(is_argerr(lwm_mbox_delete(&st, 4242, "INBOX", 5)));
    CHECK(is_argerr(lwm_mbox_rename(&st, 4242, "A", 1, "B", 1)));
    CHECK(is_argerr(lwm_mbox_subscribe(&st, 4242, "INBOX", 5, 1)));
    CHECK(is_argerr(lwm_mbox_next(&st, alice, LWM_STORE_MAX_MBOXES + 5)));
    CHECK(lwm_mbox_find(&st, alice, "Nope", 4) == LWM_ERR_NOENT);
    CHECK(mdelete(alice, "") == LWM_ERR_INVAL);
    /* UIDs that aren't there */
    CHECK(lwm_msg_find(&st, inbox, 77777, 0) == LWM_ERR_NOENT);
    CHECK(is_argerr(lwm_msg_get(&st, inbox, lwm_msg_count(&st, inbox), &m)));
    CHECK(is_argerr(lwm_msg_get(&st, inbox, 0xFFFFFFFFu, &m)));
    uid = 77777;
    CHECK(lwm_store_flags(&st, inbox, &uid, 1, LWM_FLAGS_ADD,
                          LWM_FLAG_SEEN) == 0);
    CHECK(lwm_expunge(&st, inbox, &uid, 1) == 0);
    /* append handles */
    CHECK(lwm_append_write(&st, -1, buf, 1) == LWM_ERR_INVAL);
    CHECK(lwm_append_write(&st, LWM_STORE_MAX_APPENDS, buf, 1) ==
          LWM_ERR_INVAL);
    CHECK(lwm_append_write(&st, 0, buf, 1) == LWM_ERR_INVAL);  /* not open */
    CHECK(lwm_append_commit(&st, -1) == LWM_ERR_INVAL);
    CHECK(lwm_append_commit(&st, 0) == LWM_ERR_INVAL);
    lwm_append_abort(&st, -1);
    lwm_append_abort(&st, LWM_STORE_MAX_APPENDS + 3);
    r = lwm_append_begin(&st, inbox, DATE0, 0xFFFFFFFFu);  /* junk flags */
    if (r >= 0) {
        lwm_append_abort(&st, r);
    }
    CHECK(lwm_store_check(&st, 1) == 0);
}

/// Limits: tables full ///

static void t_limits(void)
{
    char name[32];
    int k, r, last = 0, u0, n;
    struct lwm_store_stats ss;

    fresh();
    /* users: tables of users and mailboxes */
    for (k = 0; k < LWM_STORE_MAX_USERS + 1; k++) {
        snprintf(name, sizeof(name), "user%d", k);
        r = user_add(name);
        if (r < 0) {
            last = r;
            break;
        }
    }
    lwm_store_stats(&st, &ss);
    if (6 * LWM_STORE_MAX_USERS <= LWM_STORE_MAX_MBOXES) {
        CHECK(k == LWM_STORE_MAX_USERS);
    }
    CHECK(last == LWM_ERR_NOMEM);
    CHECK(ss.users == (uint32_t)k);
    CHECK(ss.mboxes == 6u * (uint32_t)k);   /* no half-created user */
    CHECK(lwm_user_find(&st, name) == LWM_ERR_NOENT);
    u0 = lwm_user_find(&st, "user0");
    for (n = 0; n < LWM_STORE_MAX_MBOXES + 1; n++) {
        snprintf(name, sizeof(name), "Box%d", n);
        r = mcreate(u0, name);
        if (r < 0) {
            last = r;
            break;
        }
    }
    CHECK(last == LWM_ERR_NOMEM);
    lwm_store_stats(&st, &ss);
    CHECK(ss.mboxes == LWM_STORE_MAX_MBOXES ||
          ss.mboxes == 6u * (uint32_t)k + (uint32_t)n);
    /* nested create that needs more slots than are left: nothing made */
    CHECK(mcreate(u0, "P/Q/R") == LWM_ERR_NOMEM);
    CHECK(mfind(u0, "P") == LWM_ERR_NOENT);
    CHECK(lwm_store_check(&st, 1) == 0);
    snap_take(&snap_a);
    remount();
    snap_take(&snap_b);
    CHECK(snap_diff(&snap_a, &snap_b, "limits") == 0);
    /* deleting one frees a slot */
    CHECK(mdelete(u0, "Box0") == 0);
    CHECK(mcreate(u0, "Again") >= 0);

    /* message table: tiny messages until it (or the flash) is full */
    if (geo->block_size * geo->block_count >= 256u * 1024u) {
        int inbox = mfind(u0, "INBOX");
        uint32_t cnt = 0;
        last = 0;
        for (;;) {
            r = append_msg(inbox, 7000 + cnt, 1 + cnt % 3, 0, 0);
            if (r < 0) {
                last = r;
                break;
            }
            cnt++;
            if (cnt > LWM_STORE_MAX_MSGS + 10) {
                break;
            }
            if (cnt % 64 == 0) {
                (void)lwm_store_gc_step(&st);
            }
        }
        printf("  [%s] %" PRIu32 " tiny messages until %d (%s)\n", geo->name,
               cnt, last, lwm_strerror(last));
        CHECK(last == LWM_ERR_NOMEM || last == LWM_ERR_NOSPC);
        if (last == LWM_ERR_NOMEM) {
            CHECK(cnt == LWM_STORE_MAX_MSGS);
        }
        CHECK(lwm_store_check(&st, 1) == 0);
        snap_take(&snap_a);
        remount();
        snap_take(&snap_b);
        CHECK(snap_diff(&snap_a, &snap_b, "msg table full") == 0);
        CHECK(lwm_store_check(&st, 1) == 0);
    }
    CHECK(nor.violations == 0);
    printf("  [%s] limits: ok so far (%lu failed)\n", geo->name,
           check_failed);
}

/// Full flash ///

static void t_full(void)
{
    struct lwm_store_stats ss;
    uint32_t seed = 8000, n = 0, bytes = 0, k, freed = 0, again = 0;
    uint32_t uids[2048], sizes[2048];
    int inbox, r = 0, u, tries;

    fresh();
    u = user_add("full");
    inbox = mfind(u, "INBOX");
    for (;;) {
        uint32_t size = 500 + rnd_below(3 * geo->block_size);
        if (n == 2048) {
            break;
        }
        r = append_msg(inbox, seed, size, 0, 0);
        if (r < 0) {
            break;
        }
        model_add(inbox, (uint32_t)r, seed, size);
        uids[n] = (uint32_t)r;
        sizes[n] = size;
        n++;
        seed++;
        bytes += size;
        /* background work as a server would do it */
        (void)gc_steps(100000);
    }
    lwm_store_stats(&st, &ss);
    printf("  [%s] full after %" PRIu32 " messages, %" PRIu32 " bytes (%.0f%%"
           " of the flash): %d (%s)\n", geo->name, n, bytes,
           100.0 * bytes / nor.size, r, lwm_strerror(r));
    CHECK(r == LWM_ERR_NOSPC);
    CHECK(n > 0);
    CHECK(bytes > nor.size / 3);     /* a reasonable use of the flash */
    /* more attempts fail the same way and leave no trace */
    for (tries = 0; tries < 3; tries++) {
        r = append_msg(inbox, 9999, 3 * geo->block_size, 0, 0);
        CHECK(r == LWM_ERR_NOSPC);
        (void)gc_steps(100000);
    }
    /* a small metadata change at full flash: done or refused cleanly */
    r = lwm_store_flags(&st, inbox, uids, 1, LWM_FLAGS_ADD, LWM_FLAG_SEEN);
    CHECK(r == 1 || r == LWM_ERR_NOSPC);
    if (r == LWM_ERR_NOSPC) {
        printf("  note: flag change refused at full flash\n");
    }
    r = lwm_store_flags(&st, inbox, uids, 1, LWM_FLAGS_REMOVE, LWM_FLAG_SEEN);
    CHECK(r == 1 || r == LWM_ERR_NOSPC || r == 0);
    CHECK(minfo(inbox).exists == n);
    CHECK(lwm_store_check(&st, 1) == 0);
    CHECK(model_check() == 0);
    remount();
    inbox = mfind(u, "INBOX");
    CHECK(lwm_store_check(&st, 1) == 0);
    CHECK(model_check() == 0);
    /* also full after the remount */
    r = append_msg(inbox, 9999, 3 * geo->block_size, 0, 0);
    CHECK(r == LWM_ERR_NOSPC);

    /* expunge every other message (blocks stay half live: GC must copy),
     * then run GC until idle */
    for (k = 0; k < n; k += 2) {
        r = lwm_expunge(&st, inbox, &uids[k], 1);
        if (!CHECK(r == 1)) {
            fprintf(stderr, "  expunge at full flash: %d (%s)\n", r,
                    lwm_strerror(r));
            break;
        }
        model_del(inbox, uids[k]);
        freed += sizes[k];
    }
    gc_settle();
    lwm_store_stats(&st, &ss);
    CHECK(lwm_store_check(&st, 1) == 0);
    CHECK(model_check() == 0);
    /* space is back: at least a third of what was freed can be appended */
    for (;;) {
        uint32_t size = 500 + rnd_below(2 * geo->block_size);
        r = append_msg(inbox, seed, size, 0, 0);
        if (r < 0) {
            break;
        }
        model_add(inbox, (uint32_t)r, seed, size);
        seed++;
        again += size;
        (void)gc_steps(100000);
    }
    printf("  [%s] expunged %" PRIu32 " B, appended %" PRIu32 " B again "
           "(then %d)\n", geo->name, freed, again, r);
    CHECK(r == LWM_ERR_NOSPC);
    CHECK(again >= freed / 3);
    end_phase("full flash");
}

/// Wear levelling ///

static void t_wear(void)
{
    struct lwm_store_stats ss;
    uint32_t cap = geo->block_size * geo->block_count;
    uint32_t seed = 20000, live = 0, cold = 0, it, k, wmin, wmax;
    uint32_t ring[4096], rsz[4096], head = 0, tail = 0;
    static uint32_t wear0[LWM_STORE_MAX_BLOCKS];
    uint64_t wsum = 0;
    int u, inbox, arch, r, fails = 0;

    fresh();
    step_max_prog = step_max_erases = 0;
    /* the emulator's wear includes earlier tests: count from here */
    for (k = 0; k < geo->block_count && k < LWM_STORE_MAX_BLOCKS; k++) {
        wear0[k] = nor.wear[k];
    }
    u = user_add("wear");
    inbox = mfind(u, "INBOX");
    arch = mfind(u, "Archive");
    /* cold data that never changes: about 25% of the flash */
    while (cold < cap / 4) {
        uint32_t size = 1000 + rnd_below(2000);
        r = append_msg(arch, seed, size, 0, LWM_FLAG_SEEN);
        if (!CHECK(r > 0)) {
            break;
        }
        model_add(arch, (uint32_t)r, seed, size);
        seed++;
        cold += size;
    }
    for (it = 0; it < 3000; it++) {
        uint32_t size = 300 + rnd_below(3700);
        /* keep the hot set near 35% of the flash */
        while (live + size > cap * 35 / 100 && head != tail) {
            uint32_t x = ring[tail % 4096];
            r = lwm_expunge(&st, inbox, &x, 1);
            CHECK(r == 1);
            model_del(inbox, x);
            live -= rsz[tail % 4096];
            tail++;
        }
        r = append_msg(inbox, seed, size, 0, 0);
        if (r == LWM_ERR_NOSPC) {
            gc_settle();
            r = append_msg(inbox, seed, size, 0, 0);
        }
        if (r < 0) {
            if (fails++ < 3) {
                fprintf(stderr, "  [%s] churn %" PRIu32 ": append %d (%s)\n",
                        geo->name, it, r, lwm_strerror(r));
            }
            continue;
        }
        model_add(inbox, (uint32_t)r, seed, size);
        ring[head % 4096] = (uint32_t)r;
        rsz[head % 4096] = size;
        head++;
        live += size;
        seed++;
        (void)gc_steps(16);
    }
    CHECK(fails == 0);
    gc_settle();
    lwm_store_stats(&st, &ss);
    wmin = 0xFFFFFFFFu;
    wmax = 0;
    /* The store keeps erase counts across lwm_store_format, so it levels
     * the whole history of this flash: so does the check. */
    for (k = 0; k < geo->block_count && k < LWM_STORE_MAX_BLOCKS; k++) {
        uint32_t w = nor.wear[k];
        wmin = w < wmin ? w : wmin;
        wmax = w > wmax ? w : wmax;
        wsum += w - wear0[k];
    }
    printf("  [%s] wear after 3000 appends: store's spread %" PRIu32
           " (min %" PRIu32 " max %" PRIu32 "), emulator's %" PRIu32
           " (min %" PRIu32 " max %" PRIu32 ", this phase %.1f per block), "
           "bound %d\n",
           geo->name, ss.erase_max - ss.erase_min, ss.erase_min, ss.erase_max,
           wmax - wmin, wmin, wmax, (double)wsum / geo->block_count,
           LWM_WEAR_SPREAD + 2);
    CHECK(ss.erase_max - ss.erase_min <= LWM_WEAR_SPREAD + 2);
    CHECK(wmax - wmin <= LWM_WEAR_SPREAD + 2);
    CHECK(ss.erase_max >= ss.erase_min);
    /* the store's erase counts are the flash's */
    CHECK(ss.erase_max + 1 >= wmax && ss.erase_max <= wmax + 1);
    CHECK(ss.erase_min + 1 >= wmin && ss.erase_min <= wmin + 1);
    printf("  [%s] one gc step did at most %" PRIu64 " erases and %" PRIu64
           " B of programming\n", geo->name, step_max_erases, step_max_prog);
    CHECK(step_max_erases <= 2);
    CHECK(step_max_prog <= LWM_GC_STEP_BYTES + geo->block_size);
    end_phase("wear");
}

/* One small cold message, hot data that dies young (GC never has to copy
 * it): wear levelling must still move the cold message now and then, and
 * not leave it parked for good in a block it never reconsiders. */
static void t_wear_cold1(void)
{
    struct lwm_store_stats ss;
    uint32_t ring[32], it, k, wmin = 0xFFFFFFFFu, wmax = 0;
    int u, inbox, arch, r;

    fresh();
    u = user_add("cold");
    inbox = mfind(u, "INBOX");
    arch = mfind(u, "Archive");
    r = append_msg(arch, 30000, geo->block_size / 4, 0, LWM_FLAG_SEEN);
    CHECK(r > 0);
    model_add(arch, (uint32_t)r, 30000, geo->block_size / 4);
    for (it = 0; it < 3000; it++) {
        uint32_t size = geo->block_size / 2;
        r = append_msg(inbox, 30001 + it, size, 0, 0);
        if (!CHECK(r > 0)) {
            fprintf(stderr, "  [%s] append %d (%s)\n", geo->name, r,
                    lwm_strerror(r));
            break;
        }
        model_add(inbox, (uint32_t)r, 30001 + it, size);
        if (it >= 20) {
            uint32_t old = ring[it % 20];
            CHECK(lwm_expunge(&st, inbox, &old, 1) == 1);
            model_del(inbox, old);
        }
        ring[it % 20] = (uint32_t)r;
        (void)gc_steps(100000);
    }
    lwm_store_stats(&st, &ss);
    for (k = 0; k < geo->block_count && k < LWM_STORE_MAX_BLOCKS; k++) {
        wmin = nor.wear[k] < wmin ? nor.wear[k] : wmin;
        wmax = nor.wear[k] > wmax ? nor.wear[k] : wmax;
    }
    printf("  [%s] wear with one cold message: store's spread %" PRIu32
           " (min %" PRIu32 " max %" PRIu32 "), emulator's %" PRIu32
           ", bound %d\n", geo->name, ss.erase_max - ss.erase_min,
           ss.erase_min, ss.erase_max, wmax - wmin, LWM_WEAR_SPREAD + 2);
    CHECK(ss.erase_max - ss.erase_min <= LWM_WEAR_SPREAD + 2);
    CHECK(wmax - wmin <= LWM_WEAR_SPREAD + 2);
    end_phase("wear, one cold message");
}

/// Random churn near full ///

/* Random expunges keep the flash 70% full (message bytes / flash size) on
 * a 4 MiB flash of 1024 blocks (the default LWM_STORE_MAX_BLOCKS), so GC
 * must compact partly live blocks all the time and journal snapshots run
 * next to it. An append may return LWM_ERR_NOSPC while GC lags behind, but
 * after a full GC it must succeed: 30% of the flash free is not full (2-4
 * KiB messages on 4 KiB blocks are the worst case for packing; the store
 * holds about 73% of them, see docs/DESIGN.md). The store must never fail
 * otherwise, and nothing may be lost. */
static const struct geom churn_geom = { "4096x1024 prog 4", 4096, 1024, 4, 4,
                                        0 };

static void t_churn_full(void)
{
    uint64_t cap = (uint64_t)churn_geom.block_size * churn_geom.block_count;
    /* 70%: with 4 KiB blocks and 2-4 KiB messages the store holds about
     * 73% (docs/DESIGN.md, known limits); the test stays below that edge */
    uint64_t live = 0, target = cap * 70 / 100;
    uint32_t seed = 40000, it, nospc = 0, hint;
    int u, inbox, r, bad = 0;

    geo = &churn_geom;
    r = lwm_nor_open(&nor, NULL, geo->block_size, geo->block_count,
                     geo->prog_size, geo->read_size, 0);
    REQUIRE(r == 0);
    fresh();
    u = user_add("churn");
    inbox = mfind(u, "INBOX");
    for (it = 0; it < 4000 && !bad; it++) {
        uint32_t size = 2048 + rnd_below(2049);
        while (live + size > target && lwm_msg_count(&st, inbox) > 0) {
            struct lwm_msg m;
            uint32_t n = lwm_msg_count(&st, inbox);
            if (!CHECK(lwm_msg_get(&st, inbox, rnd_below(n), &m) == 0)) {
                bad = 1;
                break;
            }
            r = lwm_expunge(&st, inbox, &m.uid, 1);
            if (!CHECK(r == 1)) {
                fprintf(stderr, "  churn %" PRIu32 ": expunge %d (%s)\n", it,
                        r, lwm_strerror(r));
                bad = 1;
                break;
            }
            model_del(inbox, m.uid);
            live -= m.size;
        }
        /* half with a size hint (IMAP literals), half without */
        hint = seed % 2 ? size : LWM_NONE;
        r = append_msg_hint(inbox, seed, size, 1460, 0, hint);
        if (r == LWM_ERR_NOSPC) {
            nospc++;       /* GC lagged behind: catch up and retry */
            CHECK(lwm_store_gc_force(&st) == 0);
            r = gc_steps(200000);
            if (!CHECK(r == 0)) {
                fprintf(stderr, "  churn %" PRIu32 ": gc_step %d (%s)\n", it,
                        r, lwm_strerror(r));
                bad = 1;
                break;
            }
            r = append_msg_hint(inbox, seed, size, 1460, 0, hint);
            if (r == LWM_ERR_NOSPC) {
                fprintf(stderr, "  churn %" PRIu32 ": LWM_ERR_NOSPC after a "
                        "full GC\n", it);
            }
        }
        if (!CHECK(r > 0)) {
            fprintf(stderr, "  churn %" PRIu32 " (%.1f%% full): append %d "
                    "(%s)\n", it, 100.0 * (double)live / (double)cap, r,
                    lwm_strerror(r));
            bad = 1;
            break;
        }
        model_add(inbox, (uint32_t)r, seed, size);
        seed++;
        live += size;
        r = gc_steps(16);
        if (!CHECK(r >= 0)) {
            fprintf(stderr, "  churn %" PRIu32 ": gc_step %d (%s)\n", it, r,
                    lwm_strerror(r));
            bad = 1;
        }
    }
    printf("  [%s] random churn: %" PRIu32 " appends, %" PRIu32 " NOSPC "
           "before a full GC, at %.1f%% full\n", geo->name, it, nospc,
           100.0 * (double)live / (double)cap);
    if (bad) {
        /* whatever went wrong, a remount must give everything back */
        r = lwm_store_unmount(&st);
        CHECK(r == 0 || r == LWM_ERR_IO);
        do_mount();
        CHECK(lwm_store_check(&st, 1) == 0);
        CHECK(model_check() == 0);
    } else {
        end_phase("random churn near full");
    }
    CHECK(lwm_store_unmount(&st) == 0);
    lwm_nor_close(&nor);
}

/// A file-backed, mapped flash survives closing and reopening ///

static void t_file(void)
{
    char path[64];
    struct lwm_msg m;
    const uint8_t *p;
    int u, inbox, uid, r;

    snprintf(path, sizeof(path), "/tmp/lwm_test_store_%ld.img",
             (long)getpid());
    (void)unlink(path);
    r = lwm_nor_open(&nor, path, 4096, 32, 4, 4, 1);
    REQUIRE(r == 0);
    fresh();
    u = user_add("file");
    inbox = mfind(u, "INBOX");
    uid = append_msg(inbox, 777, 9000, 0, LWM_FLAG_FLAGGED);
    CHECK(uid > 0);
    CHECK(lwm_store_unmount(&st) == 0);
    lwm_nor_close(&nor);

    r = lwm_nor_open(&nor, path, 4096, 32, 4, 4, 1);
    REQUIRE(r == 0);
    do_mount();
    u = lwm_user_find(&st, "file");
    CHECK(u > 0);
    inbox = mfind(u, "INBOX");
    CHECK(get_uid(inbox, (uint32_t)uid, &m));
    CHECK(m.flags == LWM_FLAG_FLAGGED);
    CHECK(body_ok(&m, 777, 9000));
    r = lwm_msg_ptr(&st, &m, 0, &p);
    CHECK(r > 0 && p[0] == pat(777, 0));
    CHECK(lwm_store_check(&st, 1) == 0);
    CHECK(lwm_store_unmount(&st) == 0);
    lwm_nor_close(&nor);
    (void)unlink(path);
}

/// Error names ///

static void t_strerror(void)
{
    static const int codes[] = {
        LWM_OK, LWM_ERR_NOENT, LWM_ERR_IO, LWM_ERR_AGAIN, LWM_ERR_NOMEM,
        LWM_ERR_BUSY, LWM_ERR_EXIST, LWM_ERR_INVAL, LWM_ERR_FBIG,
        LWM_ERR_NOSPC, LWM_ERR_RANGE, LWM_ERR_NAMETOOLONG, LWM_ERR_NOTEMPTY,
        LWM_ERR_CORRUPT, LWM_ERR_NOTMOUNTED,
    };
    size_t a, b, n = sizeof(codes) / sizeof(codes[0]);
    for (a = 0; a < n; a++) {
        const char *x = lwm_strerror(codes[a]);
        CHECK(x != NULL && x[0] != '\0');
        for (b = a + 1; b < n; b++) {
            CHECK(x != NULL && strcmp(x, lwm_strerror(codes[b])) != 0);
        }
    }
    CHECK(lwm_strerror(-9999) != NULL);
    CHECK(lwm_strerror(3) != NULL);
}

/// RAM report ///

static void t_ram(void)
{
    CHECK(sizeof(struct lwm_msg_ent) <= 16);
    printf("RAM: %zu B per message, %zu B per mailbox, %zu B per block, "
           "%zu B per append stream, store %zu B (%d msgs, %d mailboxes, "
           "%d blocks)\n",
           sizeof(struct lwm_msg_ent), sizeof(struct lwm_mbox_ent),
           sizeof(struct lwm_blk_ent),
           sizeof(struct lwm_append) + sizeof(struct lwm_head),
           sizeof(struct lwm_store), LWM_STORE_MAX_MSGS,
           LWM_STORE_MAX_MBOXES, LWM_STORE_MAX_BLOCKS);
}

/// Main ///

static void run_geometry(const struct geom *g)
{
    int r;

    geo = g;
    printf("geometry %s: %" PRIu32 " x %" PRIu32 " B, prog %" PRIu32
           ", read %" PRIu32 "%s\n", g->name, g->block_count, g->block_size,
           g->prog_size, g->read_size, g->mapped ? ", mapped" : "");
    r = lwm_nor_open(&nor, NULL, g->block_size, g->block_count, g->prog_size,
                     g->read_size, g->mapped);
    REQUIRE(r == 0);

    t_lifecycle();
    t_users();
    end_phase("users");
    t_mboxes();
    end_phase("mailboxes");
    t_append();
    end_phase("append");
    t_flags();
    end_phase("flags");
    t_expunge();
    end_phase("expunge");
    t_copy();
    end_phase("copy/move");
    t_badargs();
    end_phase("bad arguments");
    t_limits();
    t_full();
    t_wear();
    t_wear_cold1();

    CHECK(lwm_store_unmount(&st) == 0);
    lwm_nor_close(&nor);
}

int main(int argc, char **argv)
{
    size_t g;

    setvbuf(stdout, NULL, _IOLBF, 0);   /* keep stdout and stderr in order */
    if (argc > 1) {
        rng_state = (uint32_t)strtoul(argv[1], NULL, 0) | 1u;
    }
    t_ram();
    t_strerror();
    for (g = 0; g < NGEOMS; g++) {
        run_geometry(&geoms[g]);
    }
    t_churn_full();
    geo = &geoms[0];
    t_file();
    return check_summary("test_store");
}
