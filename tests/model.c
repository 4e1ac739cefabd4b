/*
 * lwmail tests - reference model of the store and workload generator.
 *
 * Reads top to bottom: names and constants, small helpers, body bytes, the
 * model (apply, learn), the comparison with a store, running an operation
 * against a store, and the workload generator. See model.h.
 */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/// Constants ///

const char *const model_user_names[MODEL_USERS] = { "alice", "bob",
                                                    "carol" };

const char *const model_keyword_names[MODEL_KEYWORDS] = {
    "$Forwarded", "$MDNSent", "$Junk", "NonJunk",
    "work", "todo", "Later", "$label1"
};

/* The mailboxes lwm_user_create() makes, with their special-use attrs. */
static const char *const model_default_names[6] = {
    "INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"
};
static const uint16_t model_default_attrs[6] = {
    0, LWM_MBOX_SENT, LWM_MBOX_DRAFTS, LWM_MBOX_TRASH, LWM_MBOX_JUNK,
    LWM_MBOX_ARCHIVE
};

#define MODEL_ATTRS_ALL 0xFFFFu
#define MODEL_MAX_TOTAL_MSGS 480u      /* all mailboxes together */
#define MODEL_MAX_USER_MBOXES 16u
#define MODEL_MAX_ALL_MBOXES 40u       /* < LWM_STORE_MAX_MBOXES - 3 */
#define MODEL_MAX_DEPTH 3u             /* '/' in a generated name */
#define MODEL_GC_FORCE_STEPS 4000u     /* steps for a forced GC to finish */
#define MODEL_IOBUF 8192u

/* Scratch buffers: single-threaded tests, never on the stack. */
static uint8_t model_rbuf[MODEL_IOBUF];
static uint8_t model_ebuf[MODEL_IOBUF];

/// Helpers ///

static int model_fail(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int model_fail(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(err, MODEL_ERR_LEN, fmt, ap);
    va_end(ap);
    return -1;
}

static uint32_t model_mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

static int model_ieq(const char *a, const char *b)
{
    for (;; a++, b++) {
        char ca = (*a >= 'a' && *a <= 'z') ? (char)(*a - 32) : *a;
        char cb = (*b >= 'a' && *b <= 'z') ? (char)(*b - 32) : *b;
        if (ca != cb) {
            return 0;
        }
        if (ca == '\0') {
            return 1;
        }
    }
}

static int model_is_inbox(const char *name)
{
    return model_ieq(name, "INBOX");
}

/* name == root or name is below root ("root/..."). */
static int model_in_subtree(const char *name, const char *root)
{
    size_t n = strlen(root);
    return strncmp(name, root, n) == 0 &&
           (name[n] == '\0' || name[n] == '/');
}

static int model_depth(const char *name)
{
    int d = 0;
    for (; *name; name++) {
        d += *name == '/';
    }
    return d;
}

static int model_has_children(const struct model *m, int user,
                              const char *name)
{
    int i;
    for (i = 0; i < MODEL_MBOXES; i++) {
        const struct model_mbox *mb = &m->mbox[i];
        if (mb->used && mb->user == user && strcmp(mb->name, name) != 0 &&
            model_in_subtree(mb->name, name)) {
            return 1;
        }
    }
    return 0;
}

static int model_has_uid(const uint32_t *uids, uint32_t n, uint32_t uid)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (uids[i] == uid) {
            return 1;
        }
    }
    return 0;
}

static int model_kw_index(const char *name)
{
    int g;
    for (g = 0; g < MODEL_KEYWORDS; g++) {
        if (strcmp(model_keyword_names[g], name) == 0) {
            return g;
        }
    }
    return -1;
}

static const char *model_err_name(int err)
{
    const char *s = lwm_strerror(err);
    return s != NULL ? s : "?";
}

/// Body bytes ///

static const char model_text[64] =
    "etaoin shrdlu cmfwyp vbgkqj ETAOIN SHRDLU 0123456789 .,:;-\r\n<>=\"";

void model_body_fill(uint32_t cid, uint32_t off, uint8_t *buf, uint32_t n)
{
    uint32_t style = model_mix(cid ^ 0xB0D1E5u) % 8u;
    uint32_t key = model_mix(cid * 0x9E3779B9u + 0x632BE5ABu);
    uint32_t i;

    for (i = 0; i < n; i++) {
        uint32_t pos = off + i;
        uint32_t w;
        if (style < 5) {          /* random bytes */
            w = model_mix(key + (pos >> 2) * 0x85EBCA6Bu);
            buf[i] = (uint8_t)(w >> (8u * (pos & 3u)));
        } else if (style < 7) {   /* text */
            w = model_mix(key ^ (pos * 0xC2B2AE35u));
            buf[i] = (uint8_t)model_text[w & 63u];
        } else {                  /* runs of 0xFF, 0x00 and noise */
            w = model_mix(key + (pos / 61u) * 0x27D4EB2Fu);
            if (w % 3u == 0) {
                buf[i] = 0xFF;
            } else if (w % 3u == 1) {
                buf[i] = 0x00;
            } else {
                buf[i] = (uint8_t)model_mix(key + pos);
            }
        }
    }
}

/// The model ///

void model_init(struct model *m)
{
    memset(m, 0, sizeof(*m));
}

int model_find(const struct model *m, int user, const char *name)
{
    int inbox = model_is_inbox(name);
    int i;
    for (i = 0; i < MODEL_MBOXES; i++) {
        const struct model_mbox *mb = &m->mbox[i];
        if (!mb->used || mb->user != user) {
            continue;
        }
        if (inbox ? model_is_inbox(mb->name) : strcmp(mb->name, name) == 0) {
            return i;
        }
    }
    return -1;
}

static int model_add_mbox(struct model *m, int user, const char *name,
                          uint16_t attrs, uint16_t known)
{
    int i;
    for (i = 0; i < MODEL_MBOXES; i++) {
        struct model_mbox *mb = &m->mbox[i];
        if (!mb->used) {
            memset(mb, 0, sizeof(*mb));
            mb->used = 1;
            mb->user = (uint8_t)user;
            mb->attrs = attrs;
            mb->attrs_known = known;
            mb->uidnext = 1;
            (void)snprintf(mb->name, sizeof(mb->name), "%s", name);
            m->pending = 1;        /* UIDVALIDITY is learned */
            return i;
        }
    }
    return -1;
}

/* Create the missing parents of name ("a/b/c": "a", "a/b"). */
static void model_add_parents(struct model *m, int user, const char *name)
{
    char tmp[LWM_MBOX_NAME_MAX + 1];
    size_t i;
    for (i = 0; name[i] != '\0' && i < sizeof(tmp) - 1; i++) {
        if (name[i] == '/') {
            memcpy(tmp, name, i);
            tmp[i] = '\0';
            if (model_find(m, user, tmp) < 0) {
                (void)model_add_mbox(m, user, tmp, 0, MODEL_ATTRS_ALL);
            }
        }
    }
}

static void model_hist_push(struct model *m, const struct model_mbox *mb)
{
    struct model_hist *h;
    if (mb->uidvalidity == 0) {
        return;
    }
    h = &m->hist[m->nhist % MODEL_HISTORY];
    m->nhist++;
    h->user = mb->user;
    h->uidvalidity = mb->uidvalidity;
    h->uidnext = mb->uidnext;
    memcpy(h->name, mb->name, sizeof(h->name));
}

static void model_push_msg(struct model *m, struct model_mbox *mb,
                           const struct model_msg *msg)
{
    if (mb->nmsgs >= MODEL_MBOX_MSGS) {
        return;   /* the generator never lets this happen */
    }
    mb->msgs[mb->nmsgs++] = *msg;
    if (msg->uid == 0) {
        m->pending = 1;
    } else if (msg->uid >= mb->uidnext) {
        mb->uidnext = msg->uid + 1;
    }
}

static void model_remove_msg(struct model_mbox *mb, uint32_t idx)
{
    memmove(&mb->msgs[idx], &mb->msgs[idx + 1],
            (mb->nmsgs - idx - 1) * sizeof(mb->msgs[0]));
    mb->nmsgs--;
}

static uint32_t model_new_flags(uint32_t old, int fop, uint32_t flags)
{
    switch (fop) {
    case LWM_FLAGS_ADD:
        return old | flags;
    case LWM_FLAGS_REMOVE:
        return old & ~flags;
    default:
        return flags;
    }
}

static void model_apply_copy(struct model *m, const struct model_op *op,
                             const struct model_res *res)
{
    int si = model_find(m, op->user, op->name);
    int di = model_find(m, op->user, op->name2);
    struct model_mbox *src, *dst;
    uint32_t i, n, k = 0;

    if (si < 0 || di < 0) {
        return;
    }
    src = &m->mbox[si];
    dst = &m->mbox[di];
    n = src->nmsgs;               /* src may be dst */
    for (i = 0; i < n; i++) {
        struct model_msg msg = src->msgs[i];
        if (msg.uid == 0 || !model_has_uid(op->uids, op->nuids, msg.uid)) {
            continue;
        }
        msg.uid = res != NULL ? res->uid + k : 0;
        k++;
        model_push_msg(m, dst, &msg);
    }
    if (op->move) {
        for (i = src->nmsgs; i-- > 0;) {
            if (src->msgs[i].uid != 0 &&
                model_has_uid(op->uids, op->nuids, src->msgs[i].uid)) {
                model_remove_msg(src, i);
            }
        }
    }
}

static void model_apply_rename(struct model *m, const struct model_op *op)
{
    int fi = model_find(m, op->user, op->name);
    size_t fl;
    int i;

    if (fi < 0 || model_find(m, op->user, op->name2) >= 0) {
        return;
    }
    if (model_is_inbox(op->name)) {
        /* RFC 3501 6.3.5: the messages move to a new mailbox, INBOX stays
         * (empty, with its children). The new mailbox has a UIDVALIDITY of
         * its own, so the store may number the messages afresh: their UIDs
         * are learned (in order). */
        struct model_mbox *inbox = &m->mbox[fi], *nb;
        int ni;
        model_add_parents(m, op->user, op->name2);
        ni = model_add_mbox(m, op->user, op->name2, 0, 0);
        if (ni < 0) {
            return;
        }
        nb = &m->mbox[ni];
        inbox = &m->mbox[fi];
        for (i = 0; i < (int)inbox->nmsgs; i++) {
            struct model_msg msg = inbox->msgs[i];
            msg.uid = 0;
            model_push_msg(m, nb, &msg);
        }
        model_hist_push(m, inbox);
        inbox->nmsgs = 0;
        inbox->uidvalidity = 0;   /* may change: learned, then checked */
        m->pending = 1;
        return;
    }
    fl = strlen(op->name);
    for (i = 0; i < MODEL_MBOXES; i++) {
        struct model_mbox *mb = &m->mbox[i];
        char tmp[LWM_MBOX_NAME_MAX + 1];
        size_t a, b;
        if (!mb->used || mb->user != op->user ||
            !model_in_subtree(mb->name, op->name)) {
            continue;
        }
        a = strlen(op->name2);
        b = strlen(mb->name + fl);
        if (a + b > LWM_MBOX_NAME_MAX) {
            continue;   /* the generator keeps names short */
        }
        model_hist_push(m, mb);
        memcpy(tmp, op->name2, a);
        memcpy(tmp + a, mb->name + fl, b + 1);
        memcpy(mb->name, tmp, a + b + 1);
    }
    model_add_parents(m, op->user, op->name2);
}

static void model_apply_delete(struct model *m, const struct model_op *op)
{
    int i = model_find(m, op->user, op->name);
    struct model_mbox *mb;
    if (i < 0 || model_is_inbox(op->name)) {
        return;
    }
    mb = &m->mbox[i];
    if ((mb->attrs & LWM_MBOX_NOSELECT) &&
        model_has_children(m, op->user, mb->name)) {
        return;                   /* an error for the store */
    }
    /* with children, or subscribed (a subscription outlives its mailbox),
     * the name stays as a \Noselect placeholder */
    if (!(mb->attrs & LWM_MBOX_NOSELECT) &&
        (model_has_children(m, op->user, mb->name) ||
         (mb->attrs & LWM_MBOX_SUBSCRIBED))) {
        uint16_t sub = mb->attrs & LWM_MBOX_SUBSCRIBED;
        model_hist_push(m, mb);
        mb->nmsgs = 0;
        mb->attrs = (uint16_t)(LWM_MBOX_NOSELECT | sub);
        mb->attrs_known = LWM_MBOX_NOSELECT;   /* the rest is learned */
        mb->uidvalidity = 0;
        mb->uidnext = 1;          /* meaningless without messages */
        m->pending = 1;
    } else {
        model_hist_push(m, mb);
        mb->used = 0;
    }
}

void model_apply(struct model *m, const struct model_op *op,
                 const struct model_res *res)
{
    struct model_mbox *mb = NULL;
    int i = -1;
    uint32_t k;

    if (op->type != MOP_USER_CREATE && op->type != MOP_RENAME &&
        op->type != MOP_MBOX_CREATE) {
        i = model_find(m, op->user, op->name);
        mb = i >= 0 ? &m->mbox[i] : NULL;
    }
    switch (op->type) {
    case MOP_USER_CREATE:
        if (m->user[op->user]) {
            return;
        }
        m->user[op->user] = 1;
        for (k = 0; k < 6; k++) {
            (void)model_add_mbox(m, op->user, model_default_names[k],
                                 model_default_attrs[k],
                                 LWM_MBOX_SPECIAL | LWM_MBOX_NOSELECT);
        }
        return;
    case MOP_MBOX_CREATE:
        i = model_find(m, op->user, op->name);
        if (i >= 0) {
            /* CREATE of a \Noselect name that the store accepted: it is
             * selectable again, under a UIDVALIDITY that must not repeat
             * old UIDs (checked by model_learn). */
            mb = &m->mbox[i];
            if (mb->attrs & LWM_MBOX_NOSELECT) {
                mb->attrs = op->attrs;
                mb->attrs_known = LWM_MBOX_NOSELECT | LWM_MBOX_SPECIAL;
                mb->uidvalidity = 0;
                mb->uidnext = 1;
                mb->nmsgs = 0;
                m->pending = 1;
            }
            return;
        }
        model_add_parents(m, op->user, op->name);
        (void)model_add_mbox(m, op->user, op->name, op->attrs,
                             MODEL_ATTRS_ALL);
        return;
    case MOP_APPEND:
        if (mb != NULL) {
            struct model_msg msg;
            msg.uid = res != NULL ? res->uid : 0;
            msg.flags = op->flags;
            msg.cid = op->cid;
            msg.len = op->len;
            msg.date = op->date;
            model_push_msg(m, mb, &msg);
        }
        return;
    case MOP_APPEND2: {
        /* Only reached with res == NULL (model_exec applies the streams
         * one by one): both committed, order as in the mode. */
        struct model_op a = *op, b = *op;
        a.type = b.type = MOP_APPEND;
        (void)snprintf(b.name, sizeof(b.name), "%s", op->name2);
        b.flags = op->flags2, b.cid = op->cid2, b.len = op->len2;
        b.date = op->date2;
        if (op->mode == APPEND2_AB || op->mode == APPEND2_ABORT_B) {
            model_apply(m, &a, NULL);
        }
        if (op->mode != APPEND2_ABORT_B) {
            model_apply(m, &b, NULL);
        }
        if (op->mode == APPEND2_BA) {
            model_apply(m, &a, NULL);
        }
        return;
    }
    case MOP_FLAGS:
        if (mb != NULL) {
            for (k = 0; k < mb->nmsgs; k++) {
                struct model_msg *msg = &mb->msgs[k];
                if (msg->uid != 0 &&
                    model_has_uid(op->uids, op->nuids, msg->uid)) {
                    msg->flags = model_new_flags(msg->flags, op->fop,
                                                 op->flags);
                }
            }
        }
        return;
    case MOP_EXPUNGE:
        if (mb != NULL) {
            for (k = mb->nmsgs; k-- > 0;) {
                if (mb->msgs[k].uid != 0 &&
                    model_has_uid(op->uids, op->nuids, mb->msgs[k].uid)) {
                    model_remove_msg(mb, k);
                }
            }
        }
        return;
    case MOP_COPY:
        model_apply_copy(m, op, res);
        return;
    case MOP_RENAME:
        model_apply_rename(m, op);
        return;
    case MOP_DELETE:
        model_apply_delete(m, op);
        return;
    case MOP_SUBSCRIBE:
        if (mb != NULL && !op->on && (mb->attrs & LWM_MBOX_NOSELECT) &&
            (mb->attrs & LWM_MBOX_SUBSCRIBED) &&
            !model_has_children(m, op->user, mb->name)) {
            model_hist_push(m, mb);
            mb->used = 0;         /* the placeholder goes with it */
            return;
        }
        if (mb != NULL) {
            if (op->on) {
                mb->attrs |= LWM_MBOX_SUBSCRIBED;
            } else {
                mb->attrs &= (uint16_t)~LWM_MBOX_SUBSCRIBED;
            }
            mb->attrs_known |= LWM_MBOX_SUBSCRIBED;
        }
        return;
    default:
        return;   /* GC, remount, bad calls: no visible change */
    }
}

static int model_user_id(struct lwm_store *s, int user)
{
    return lwm_user_find(s, model_user_names[user]);
}

static int model_slot(struct lwm_store *s, int user, const char *name)
{
    int id = model_user_id(s, user);
    if (id <= 0) {
        return id < 0 ? id : LWM_ERR_NOENT;
    }
    return lwm_mbox_find(s, id, name, strlen(name));
}

int model_learn(struct model *m, struct lwm_store *s)
{
    int i;
    uint32_t k;

    if (!m->pending) {
        return 0;
    }
    for (i = 0; i < MODEL_MBOXES; i++) {
        struct model_mbox *mb = &m->mbox[i];
        struct lwm_mbox_info info;
        int slot, err, unknown_uid = 0;

        if (!mb->used) {
            continue;
        }
        for (k = 0; k < mb->nmsgs; k++) {
            unknown_uid |= mb->msgs[k].uid == 0;
        }
        if (mb->uidvalidity != 0 && mb->attrs_known == MODEL_ATTRS_ALL &&
            !unknown_uid) {
            continue;
        }
        slot = model_slot(s, mb->user, mb->name);
        if (slot < 0) {
            return model_fail(m->err, "learn: %s '%s' not found: %s",
                              model_user_names[mb->user], mb->name,
                              model_err_name(slot));
        }
        err = lwm_mbox_info(s, slot, &info);
        if (err < 0) {
            return model_fail(m->err, "learn: mbox_info '%s': %s",
                              mb->name, model_err_name(err));
        }
        if (mb->uidvalidity == 0) {
            uint32_t h, nh = m->nhist < MODEL_HISTORY ? m->nhist
                                                      : MODEL_HISTORY;
            if (info.uidvalidity == 0 && !(info.attrs & LWM_MBOX_NOSELECT)) {
                return model_fail(m->err, "%s '%s': UIDVALIDITY is 0",
                                  model_user_names[mb->user], mb->name);
            }
            /* RFC 3501 2.3.1.1: a name that comes back either gets a new
             * UIDVALIDITY or keeps its UIDs growing. */
            for (h = 0; h < nh; h++) {
                const struct model_hist *hh = &m->hist[h];
                if (hh->user == mb->user && strcmp(hh->name, mb->name) == 0 &&
                    hh->uidvalidity == info.uidvalidity &&
                    info.uidnext < hh->uidnext &&
                    !(info.attrs & LWM_MBOX_NOSELECT)) {
                    return model_fail(m->err,
                        "%s '%s' is back with UIDVALIDITY %lu and UIDNEXT "
                        "%lu, but that UIDVALIDITY had UIDNEXT %lu before",
                        model_user_names[mb->user], mb->name,
                        (unsigned long)info.uidvalidity,
                        (unsigned long)info.uidnext,
                        (unsigned long)hh->uidnext);
                }
            }
            mb->uidvalidity = info.uidvalidity;
        }
        mb->attrs = (uint16_t)((mb->attrs & mb->attrs_known) |
                               (info.attrs & ~mb->attrs_known));
        mb->attrs_known = MODEL_ATTRS_ALL;
        if (unknown_uid) {
            uint32_t n = lwm_msg_count(s, slot);
            if (n != mb->nmsgs) {
                return model_fail(m->err, "learn: '%s' has %lu messages, "
                                  "model %lu", mb->name, (unsigned long)n,
                                  (unsigned long)mb->nmsgs);
            }
            for (k = 0; k < n; k++) {
                struct lwm_msg msg;
                err = lwm_msg_get(s, slot, k, &msg);
                if (err < 0) {
                    return model_fail(m->err, "learn: msg_get '%s' #%lu: %s",
                                      mb->name, (unsigned long)k,
                                      model_err_name(err));
                }
                if (mb->msgs[k].uid == 0) {
                    mb->msgs[k].uid = msg.uid;
                    if (msg.uid >= mb->uidnext) {
                        mb->uidnext = msg.uid + 1;
                    }
                }
            }
        }
    }
    m->pending = 0;
    return 0;
}

uint32_t model_msg_total(const struct model *m)
{
    uint32_t n = 0;
    int i;
    for (i = 0; i < MODEL_MBOXES; i++) {
        if (m->mbox[i].used) {
            n += m->mbox[i].nmsgs;
        }
    }
    return n;
}

/* Distinct bodies, by content id (low 16 bits of the workload counter). */
static uint32_t model_marks[65536];
static uint32_t model_epoch;

/* Summaries: most messages get one, its size and bytes follow from the
 * content id (bytes as for a body with the id XORed). */
#define MODEL_SUM_XOR 0x5A5A5A5Au
static uint32_t model_sum_len(uint32_t cid)
{
    uint32_t x = model_mix(cid ^ 0x77u);
    return x % 4u == 0 ? 0 : x / 4u % 700u;
}

uint32_t model_live_bytes(const struct model *m)
{
    uint32_t live = 0, k;
    int i;
    model_epoch++;
    for (i = 0; i < MODEL_MBOXES; i++) {
        const struct model_mbox *mb = &m->mbox[i];
        if (!mb->used) {
            continue;
        }
        for (k = 0; k < mb->nmsgs; k++) {
            uint32_t c = mb->msgs[k].cid & 0xFFFFu;
            if (model_marks[c] != model_epoch) {
                model_marks[c] = model_epoch;
                live += mb->msgs[k].len + model_sum_len(mb->msgs[k].cid) +
                        64u;
            }
        }
    }
    return live;
}

/// Comparison ///

/* Store flags -> model flags (keywords by name). 0 or -1 with err. */
static int model_flags_from_store(struct model *m, struct lwm_store *s,
                                  int slot, uint32_t sflags, uint32_t *out)
{
    uint32_t f = sflags & LWM_FLAG_SYSTEM;
    int i;
    if (sflags >> (5 + LWM_KEYWORDS_MAX) != 0) {
        return model_fail(m->err, "flags 0x%lx have bits beyond the "
                          "keyword table", (unsigned long)sflags);
    }
    for (i = 0; i < LWM_KEYWORDS_MAX; i++) {
        const char *name;
        int g;
        if (!(sflags & LWM_FLAG_KEYWORD(i))) {
            continue;
        }
        name = lwm_keyword_name(s, slot, i);
        if (name == NULL) {
            return model_fail(m->err, "flags 0x%lx: keyword %d has no name",
                              (unsigned long)sflags, i);
        }
        g = model_kw_index(name);
        if (g < 0) {
            return model_fail(m->err, "flags 0x%lx: keyword %d is '%s', "
                              "never set", (unsigned long)sflags, i, name);
        }
        f |= MODEL_KW(g);
    }
    *out = f;
    return 0;
}

/* Find the first differing byte of two buffers. */
static uint32_t model_diff_at(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n && a[i] == b[i]; i++) {
    }
    return i;
}

static const uint32_t model_chunks[] = { 1, 3, 61, 509, 17, 1021, 7, 255,
                                         4093, 127, 2047, 33 };
#define MODEL_NCHUNKS (sizeof(model_chunks) / sizeof(model_chunks[0]))

static int model_compare_body(struct model *m, struct lwm_store *s,
                              const struct lwm_flash *f,
                              const struct lwm_msg *msg,
                              const struct model_msg *mm, const char *where)
{
    uint32_t off = 0, ci = mm->cid % MODEL_NCHUNKS, iter = 0;
    int n;

    while (off < mm->len) {
        uint32_t want = model_chunks[ci++ % MODEL_NCHUNKS], d;
        if (++iter > mm->len + 8) {
            return model_fail(m->err, "%s: reads do not progress", where);
        }
        n = lwm_msg_read(s, msg, off, model_rbuf, want);
        if (n <= 0 || (uint32_t)n > want || (uint32_t)n > mm->len - off) {
            return model_fail(m->err, "%s: msg_read(off %lu, len %lu) of a "
                              "%lu-byte body returned %d (%s)", where,
                              (unsigned long)off, (unsigned long)want,
                              (unsigned long)mm->len, n,
                              n < 0 ? model_err_name(n) : "bad count");
        }
        model_body_fill(mm->cid, off, model_ebuf, (uint32_t)n);
        d = model_diff_at(model_rbuf, model_ebuf, (uint32_t)n);
        if (d < (uint32_t)n) {
            return model_fail(m->err, "%s: body byte %lu is 0x%02x, "
                              "expected 0x%02x (cid %lu, len %lu)", where,
                              (unsigned long)(off + d), model_rbuf[d],
                              model_ebuf[d], (unsigned long)mm->cid,
                              (unsigned long)mm->len);
        }
        off += (uint32_t)n;
    }
    n = lwm_msg_read(s, msg, mm->len, model_rbuf, 16);
    if (n != 0) {
        return model_fail(m->err, "%s: msg_read at the end returned %d",
                          where, n);
    }
    /* the summary stored with it */
    {
        uint32_t sl = model_sum_len(mm->cid), d;
        if (msg->sum_len != sl) {
            return model_fail(m->err, "%s: summary of %lu bytes, expected "
                              "%lu", where, (unsigned long)msg->sum_len,
                              (unsigned long)sl);
        }
        n = lwm_msg_summary(s, msg, 0, model_rbuf, sl + 8);
        model_body_fill(mm->cid ^ MODEL_SUM_XOR, 0, model_ebuf, sl);
        d = n == (int)sl ? model_diff_at(model_rbuf, model_ebuf, sl) : 0;
        if (n != (int)sl || d < sl) {
            return model_fail(m->err, "%s: summary differs (read %d of %lu)",
                              where, n, (unsigned long)sl);
        }
    }
    /* One read at an odd offset, not from the start. */
    if (mm->len > 1) {
        uint32_t o = model_mix(mm->cid) % mm->len;
        uint32_t want = 1 + model_mix(mm->cid + 1) % 700u;
        uint32_t d;
        if (want > mm->len - o) {
            want = mm->len - o;
        }
        n = lwm_msg_read(s, msg, o, model_rbuf, want);
        if (n <= 0 || (uint32_t)n > want) {
            return model_fail(m->err, "%s: msg_read(off %lu, len %lu) "
                              "returned %d", where, (unsigned long)o,
                              (unsigned long)want, n);
        }
        model_body_fill(mm->cid, o, model_ebuf, (uint32_t)n);
        d = model_diff_at(model_rbuf, model_ebuf, (uint32_t)n);
        if (d < (uint32_t)n) {
            return model_fail(m->err, "%s: body byte %lu is 0x%02x, "
                              "expected 0x%02x (read at %lu)", where,
                              (unsigned long)(o + d), model_rbuf[d],
                              model_ebuf[d], (unsigned long)o);
        }
    }
    /* Zero-copy view. */
    if (f->mapped != NULL) {
        const uint8_t *p = NULL;
        off = 0;
        iter = 0;
        while (off < mm->len) {
            uint32_t want, d;
            if (++iter > mm->len + 8) {
                return model_fail(m->err, "%s: msg_ptr does not progress",
                                  where);
            }
            n = lwm_msg_ptr(s, msg, off, &p);
            if (n <= 0 || (uint32_t)n > mm->len - off || p == NULL) {
                return model_fail(m->err, "%s: msg_ptr(off %lu) of a "
                                  "%lu-byte body returned %d", where,
                                  (unsigned long)off, (unsigned long)mm->len,
                                  n);
            }
            want = (uint32_t)n < MODEL_IOBUF ? (uint32_t)n : MODEL_IOBUF;
            model_body_fill(mm->cid, off, model_ebuf, want);
            d = model_diff_at(p, model_ebuf, want);
            if (d < want) {
                return model_fail(m->err, "%s: msg_ptr byte %lu is 0x%02x, "
                                  "expected 0x%02x", where,
                                  (unsigned long)(off + d), p[d],
                                  model_ebuf[d]);
            }
            off += want;
        }
        n = lwm_msg_ptr(s, msg, mm->len, &p);
        if (n != 0) {
            return model_fail(m->err, "%s: msg_ptr at the end returned %d",
                              where, n);
        }
    } else if (mm->len > 0) {
        const uint8_t *p = NULL;
        n = lwm_msg_ptr(s, msg, 0, &p);
        if (n != LWM_ERR_INVAL) {
            return model_fail(m->err, "%s: msg_ptr on unmapped flash "
                              "returned %d, not LWM_ERR_INVAL", where, n);
        }
    }
    return 0;
}

/* "[1,2,5]": the UIDs of a store mailbox (s != NULL) or a model one. */
static void model_uid_list(struct lwm_store *s, int slot,
                           const struct model_mbox *mb, char *out, size_t n)
{
    uint32_t k, cnt = s != NULL ? lwm_msg_count(s, slot) : mb->nmsgs;
    size_t at = 1;
    out[0] = '[';
    out[1] = '\0';
    for (k = 0; k < cnt && at + 16 < n; k++) {
        struct lwm_msg msg;
        uint32_t uid = 0;
        if (s == NULL) {
            uid = mb->msgs[k].uid;
        } else if (lwm_msg_get(s, slot, k, &msg) == 0) {
            uid = msg.uid;
        }
        at += (size_t)snprintf(out + at, n - at, "%s%lu", k ? "," : "",
                               (unsigned long)uid);
    }
    (void)snprintf(out + at, n - at, "%s]", k < cnt ? ",..." : "");
}

static int model_compare_mbox(struct model *m, struct lwm_store *s,
                              const struct lwm_flash *f, int mi, int slot,
                              const struct lwm_mbox_info *info)
{
    const struct model_mbox *mb = &m->mbox[mi];
    const char *un = model_user_names[mb->user];
    uint32_t n, k, prev = 0, unseen = 0, deleted = 0;
    uint64_t size = 0;
    char where[LWM_MBOX_NAME_MAX + 96];
    int err;

    if ((info->attrs ^ mb->attrs) & mb->attrs_known) {
        return model_fail(m->err, "%s '%s': attrs 0x%x, model 0x%x (known "
                          "mask 0x%x)", un, mb->name, info->attrs, mb->attrs,
                          mb->attrs_known);
    }
    if (mb->uidvalidity != 0 && info->uidvalidity != mb->uidvalidity) {
        return model_fail(m->err, "%s '%s': UIDVALIDITY %lu, model %lu", un,
                          mb->name, (unsigned long)info->uidvalidity,
                          (unsigned long)mb->uidvalidity);
    }
    if (info->uidvalidity == 0 && !(info->attrs & LWM_MBOX_NOSELECT)) {
        return model_fail(m->err, "%s '%s': UIDVALIDITY is 0", un, mb->name);
    }
    if (info->uidnext < mb->uidnext) {
        return model_fail(m->err, "%s '%s': UIDNEXT %lu went below %lu "
                          "(a UID was handed out before)", un, mb->name,
                          (unsigned long)info->uidnext,
                          (unsigned long)mb->uidnext);
    }
    n = lwm_msg_count(s, slot);
    if (n != mb->nmsgs || info->exists != n) {
        char su[160], mu[160];
        model_uid_list(s, slot, NULL, su, sizeof(su));
        model_uid_list(NULL, 0, mb, mu, sizeof(mu));
        return model_fail(m->err, "%s '%s': %lu messages (EXISTS %lu), "
                          "model %lu; UIDs %s, model %s", un, mb->name,
                          (unsigned long)n, (unsigned long)info->exists,
                          (unsigned long)mb->nmsgs, su, mu);
    }
    for (k = 0; k < n; k++) {
        const struct model_msg *mm = &mb->msgs[k];
        struct lwm_msg msg;
        uint32_t flags = 0;

        (void)snprintf(where, sizeof(where), "%s '%s' #%lu", un, mb->name,
                       (unsigned long)k);
        err = lwm_msg_get(s, slot, k, &msg);
        if (err < 0) {
            return model_fail(m->err, "%s: msg_get: %s", where,
                              model_err_name(err));
        }
        (void)snprintf(where, sizeof(where), "%s '%s' #%lu uid %lu", un,
                       mb->name, (unsigned long)k, (unsigned long)msg.uid);
        if (msg.uid <= prev || msg.uid >= info->uidnext) {
            return model_fail(m->err, "%s: UID out of order (previous %lu, "
                              "UIDNEXT %lu)", where, (unsigned long)prev,
                              (unsigned long)info->uidnext);
        }
        if (mm->uid != 0 && mm->uid != msg.uid) {
            return model_fail(m->err, "%s: model has uid %lu here", where,
                              (unsigned long)mm->uid);
        }
        if (model_flags_from_store(m, s, slot, msg.flags, &flags) < 0) {
            char tmp[MODEL_ERR_LEN];
            (void)snprintf(tmp, sizeof(tmp), "%s", m->err);
            return model_fail(m->err, "%s: %s", where, tmp);
        }
        if (flags != mm->flags) {
            return model_fail(m->err, "%s: flags 0x%lx, model 0x%lx (model "
                              "keywords are bits 5+ of %s...)", where,
                              (unsigned long)flags, (unsigned long)mm->flags,
                              model_keyword_names[0]);
        }
        if (msg.size != mm->len || msg.date != mm->date) {
            return model_fail(m->err, "%s: size %lu date %lu, model %lu %lu",
                              where, (unsigned long)msg.size,
                              (unsigned long)msg.date,
                              (unsigned long)mm->len,
                              (unsigned long)mm->date);
        }
        if (msg.modseq > info->highestmodseq) {
            return model_fail(m->err, "%s: MODSEQ %lu > HIGHESTMODSEQ %lu",
                              where, (unsigned long)msg.modseq,
                              (unsigned long)info->highestmodseq);
        }
        err = lwm_msg_find(s, slot, msg.uid, 0);
        if (err != (int)k) {
            return model_fail(m->err, "%s: msg_find gives %d", where, err);
        }
        err = lwm_msg_find(s, slot, prev + 1, 1);
        if (err != (int)k) {
            return model_fail(m->err, "%s: msg_find(%lu, nearest) gives %d",
                              where, (unsigned long)(prev + 1), err);
        }
        if (model_compare_body(m, s, f, &msg, mm, where) < 0) {
            return -1;
        }
        unseen += !(msg.flags & LWM_FLAG_SEEN);
        deleted += !!(msg.flags & LWM_FLAG_DELETED);
        size += msg.size;
        prev = msg.uid;
    }
    if (lwm_msg_find(s, slot, info->uidnext, 0) != LWM_ERR_NOENT ||
        lwm_msg_find(s, slot, prev + 1, 1) != (int)n) {
        return model_fail(m->err, "%s '%s': msg_find past the last UID "
                          "gives %d / %d", un, mb->name,
                          lwm_msg_find(s, slot, info->uidnext, 0),
                          lwm_msg_find(s, slot, prev + 1, 1));
    }
    if (info->unseen != unseen || info->deleted != deleted ||
        info->size != size) {
        return model_fail(m->err, "%s '%s': UNSEEN %lu DELETED %lu size "
                          "%llu, the messages say %lu %lu %llu", un,
                          mb->name, (unsigned long)info->unseen,
                          (unsigned long)info->deleted,
                          (unsigned long long)info->size,
                          (unsigned long)unseen, (unsigned long)deleted,
                          (unsigned long long)size);
    }
    return 0;
}

int model_compare(struct model *m, struct lwm_store *s,
                  const struct lwm_flash *f)
{
    uint8_t seen[MODEL_MBOXES];
    struct lwm_store_stats st;
    uint32_t nusers = 0, nmboxes = 0;
    int u, i;

    memset(seen, 0, sizeof(seen));
    m->err[0] = '\0';
    for (u = 0; u < MODEL_USERS; u++) {
        const char *un = model_user_names[u];
        int id = lwm_user_find(s, un), prev = -1, iter;

        if (!m->user[u]) {
            if (id != LWM_ERR_NOENT) {
                return model_fail(m->err, "user %s: store gives %d, model "
                                  "has no such user", un, id);
            }
            continue;
        }
        if (id <= 0) {
            return model_fail(m->err, "user %s is missing (%d)", un, id);
        }
        nusers++;
        for (iter = 0;; iter++) {
            struct lwm_mbox_info info;
            int slot = lwm_mbox_next(s, id, prev), mi, err;
            if (slot == LWM_ERR_NOENT) {
                break;
            }
            if (slot < 0 || slot <= prev || iter > LWM_STORE_MAX_MBOXES) {
                return model_fail(m->err, "%s: mbox_next(%d) gives %d", un,
                                  prev, slot);
            }
            prev = slot;
            err = lwm_mbox_info(s, slot, &info);
            if (err < 0 || info.name == NULL) {
                return model_fail(m->err, "%s: mbox_info(%d): %d", un, slot,
                                  err);
            }
            if (info.user != id) {
                return model_fail(m->err, "%s '%s': user %u, expected %d",
                                  un, info.name, info.user, id);
            }
            mi = model_find(m, u, info.name);
            if (mi < 0 || (model_is_inbox(info.name) &&
                           strcmp(info.name, "INBOX") != 0)) {
                return model_fail(m->err, "%s: store has mailbox '%s', the "
                                  "model does not", un, info.name);
            }
            if (seen[mi]) {
                return model_fail(m->err, "%s: mailbox '%s' listed twice",
                                  un, info.name);
            }
            seen[mi] = 1;
            nmboxes++;
            err = lwm_mbox_find(s, id, info.name, strlen(info.name));
            if (err != slot) {
                return model_fail(m->err, "%s: mbox_find('%s') gives %d, "
                                  "not slot %d", un, info.name, err, slot);
            }
            if (model_compare_mbox(m, s, f, mi, slot, &info) < 0) {
                return -1;
            }
        }
    }
    for (i = 0; i < MODEL_MBOXES; i++) {
        if (m->mbox[i].used && !seen[i]) {
            return model_fail(m->err, "%s: mailbox '%s' is missing",
                              model_user_names[m->mbox[i].user],
                              m->mbox[i].name);
        }
    }
    lwm_store_stats(s, &st);
    if (st.users != nusers || st.mboxes != nmboxes ||
        st.msgs != model_msg_total(m)) {
        return model_fail(m->err, "stats: %lu users %lu mailboxes %lu "
                          "messages, model %lu %lu %lu",
                          (unsigned long)st.users, (unsigned long)st.mboxes,
                          (unsigned long)st.msgs, (unsigned long)nusers,
                          (unsigned long)nmboxes,
                          (unsigned long)model_msg_total(m));
    }
    return 0;
}

/// Describing operations ///

static const char *const model_op_names[] = {
    "none", "user_create", "mbox_create", "append", "append2", "flags",
    "expunge", "copy", "rename", "delete", "subscribe", "gc", "gc_force",
    "remount", "bad"
};

const char *model_op_str(const struct model_op *op, char *buf, size_t n)
{
    char uids[96];
    size_t k, at = 0;
    uids[0] = '\0';
    for (k = 0; k < op->nuids && at + 12 < sizeof(uids); k++) {
        at += (size_t)snprintf(uids + at, sizeof(uids) - at, "%s%lu",
                               k ? "," : "", (unsigned long)op->uids[k]);
    }
    (void)snprintf(buf, n, "%s user=%s name='%s' name2='%s' uids=[%s] "
                   "flags=0x%lx fop=%d move=%d on=%d mode=%d attrs=0x%x "
                   "len=%lu/%lu cid=%lu/%lu",
                   op->type >= 0 && op->type <= MOP_BAD
                       ? model_op_names[op->type] : "?",
                   model_user_names[op->user % MODEL_USERS], op->name,
                   op->name2, uids, (unsigned long)op->flags, op->fop,
                   op->move, op->on, op->mode, op->attrs,
                   (unsigned long)op->len, (unsigned long)op->len2,
                   (unsigned long)op->cid, (unsigned long)op->cid2);
    return buf;
}

/// Running operations ///

static int run_fail(struct model_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int run_fail(struct model_run *r, const char *fmt, ...)
{
    char op[320], msg[MODEL_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    (void)snprintf(r->err, sizeof(r->err), "%.300s [op: %.300s]", msg,
                   model_op_str(&r->op, op, sizeof(op)));
    return -1;
}

/* After a refused operation: in verify mode, nothing may have changed. */
static int run_unchanged(struct model_run *r)
{
    if (r->verify && model_compare(r->m, r->s, r->f) < 0) {
        return run_fail(r, "state changed by a refused call: %s", r->m->err);
    }
    return 0;
}

/* A successful change: apply, learn what the store chose. */
static int run_done(struct model_run *r, const struct model_op *op,
                    const struct model_res *res)
{
    model_apply(r->m, op, res);
    r->inflight.type = MOP_NONE;   /* done, whatever learning finds */
    if (model_learn(r->m, r->s) < 0) {
        return run_fail(r, "%s", r->m->err);
    }
    return 0;
}

static int run_nospc(struct model_run *r)
{
    r->nospc++;
    return run_unchanged(r);
}

/* Model flags -> store flags for mailbox slot (keywords by name). */
static int run_store_flags(struct model_run *r, int slot, uint32_t mflags,
                           int create, uint32_t *out)
{
    uint32_t f = mflags & LWM_FLAG_SYSTEM;
    int g;
    for (g = 0; g < MODEL_KEYWORDS; g++) {
        const char *kw = model_keyword_names[g];
        int k;
        if (!(mflags & MODEL_KW(g))) {
            continue;
        }
        k = lwm_keyword(r->s, slot, kw, strlen(kw), create);
        if (k == LWM_ERR_NOENT && !create) {
            continue;   /* nobody has it: nothing to remove */
        }
        if (k < 0 || k >= LWM_KEYWORDS_MAX) {
            return k < 0 ? k : LWM_ERR_RANGE;
        }
        f |= LWM_FLAG_KEYWORD(k);
    }
    *out = f;
    return 0;
}

struct run_stream {
    struct model_op op;      /* a MOP_APPEND */
    int slot, h;
    uint32_t off;
};

static uint32_t run_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void run_abort_all(struct model_run *r, struct run_stream *st, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        if (st[i].h >= 0) {
            lwm_append_abort(r->s, st[i].h);
            st[i].h = -1;
        }
    }
}

/* One or two interleaved append streams; plan: the order of commits,
 * negative = abort stream (-1 - i). */
static int run_append(struct model_run *r, struct run_stream *st, int n,
                      const int *plan, uint32_t seed)
{
    uint32_t rng = seed | 1u;
    int i, err;

    for (i = 0; i < n; i++) {
        st[i].h = -1;
        st[i].off = 0;
    }
    for (i = 0; i < n; i++) {
        if (plan[i] >= 0) {
            r->inflight = st[plan[i]].op;   /* the first to commit */
            break;
        }
    }
    for (i = 0; i < n; i++) {
        uint32_t sflags;
        st[i].slot = model_slot(r->s, st[i].op.user, st[i].op.name);
        if (st[i].slot < 0) {
            run_abort_all(r, st, n);
            return run_fail(r, "append: no mailbox '%s': %s", st[i].op.name,
                            model_err_name(st[i].slot));
        }
        err = run_store_flags(r, st[i].slot, st[i].op.flags, 1, &sflags);
        if (err == 0) {
            err = lwm_append_begin(r->s, st[i].slot, st[i].op.date, sflags);
        }
        if (err < 0) {
            run_abort_all(r, st, n);
            if (err == LWM_ERR_NOSPC) {
                return run_nospc(r);
            }
            return run_fail(r, "append_begin '%s': %s", st[i].op.name,
                            model_err_name(err));
        }
        st[i].h = err;
    }
    for (;;) {
        struct run_stream *a;
        uint32_t c, pick;
        int left = 0;
        for (i = 0; i < n; i++) {
            left += st[i].off < st[i].op.len;
        }
        if (!left) {
            break;
        }
        pick = run_rand(&rng) % (uint32_t)n;
        if (st[pick].off >= st[pick].op.len) {
            pick = (pick + 1) % (uint32_t)n;
        }
        a = &st[pick];
        switch (run_rand(&rng) % 4u) {
        case 0:
            c = 1 + run_rand(&rng) % 16u;
            break;
        case 1:
            c = 1 + run_rand(&rng) % 300u;
            break;
        case 2:
            c = 1 + run_rand(&rng) % 2000u;
            break;
        default:
            c = MODEL_IOBUF;
            break;
        }
        if (c > a->op.len - a->off) {
            c = a->op.len - a->off;
        }
        model_body_fill(a->op.cid, a->off, model_ebuf, c);
        err = lwm_append_write(r->s, a->h, model_ebuf, c);
        if (err < 0) {
            run_abort_all(r, st, n);
            if (err == LWM_ERR_NOSPC) {
                return run_nospc(r);
            }
            return run_fail(r, "append_write(%lu bytes at %lu): %s",
                            (unsigned long)c, (unsigned long)a->off,
                            model_err_name(err));
        }
        if (err != 0 && (uint32_t)err != c) {
            run_abort_all(r, st, n);
            return run_fail(r, "append_write(%lu bytes) returned %d",
                            (unsigned long)c, err);
        }
        a->off += c;
    }
    for (i = 0; i < n; i++) {
        struct run_stream *a;
        struct model_res res;
        const struct model_mbox *mb;
        int mi;
        if (plan[i] < 0) {
            a = &st[-1 - plan[i]];
            lwm_append_abort(r->s, a->h);
            a->h = -1;
            continue;
        }
        a = &st[plan[i]];
        r->inflight = a->op;
        /* the message's summary (lwm_append_summary), from its content id */
        {
            uint32_t sl = model_sum_len(a->op.cid), done = 0;
            err = 0;
            while (!err && done < sl) {
                uint32_t c = sl - done < 97u ? sl - done : 97u;
                model_body_fill(a->op.cid ^ MODEL_SUM_XOR, done, model_ebuf,
                                c);
                err = lwm_append_summary(r->s, a->h, model_ebuf, c);
                done += c;
            }
            if (err < 0) {
                run_abort_all(r, st, n);
                if (err == LWM_ERR_NOSPC) {
                    return run_nospc(r);
                }
                return run_fail(r, "append_summary: %s", model_err_name(err));
            }
        }
        err = lwm_append_commit(r->s, a->h);
        if (err <= 0) {
            lwm_append_abort(r->s, a->h);   /* must be harmless */
            a->h = -1;
            run_abort_all(r, st, n);
            if (err == LWM_ERR_NOSPC) {
                return run_nospc(r);
            }
            return run_fail(r, "append_commit: %d (%s)", err,
                            model_err_name(err));
        }
        a->h = -1;
        mi = model_find(r->m, a->op.user, a->op.name);
        mb = mi >= 0 ? &r->m->mbox[mi] : NULL;
        if (mb != NULL && (uint32_t)err < mb->uidnext) {
            run_abort_all(r, st, n);
            return run_fail(r, "append_commit gave UID %d, but UIDs up to "
                            "%lu were used", err,
                            (unsigned long)(mb->uidnext - 1));
        }
        res.uid = (uint32_t)err;
        res.count = 1;
        model_apply(r->m, &a->op, &res);
    }
    return 0;
}

static uint32_t run_count_matched(const struct model *m,
                                  const struct model_op *op,
                                  uint32_t *changed)
{
    int mi = model_find(m, op->user, op->name);
    uint32_t k, n = 0, c = 0;
    if (mi >= 0) {
        const struct model_mbox *mb = &m->mbox[mi];
        for (k = 0; k < mb->nmsgs; k++) {
            if (mb->msgs[k].uid != 0 &&
                model_has_uid(op->uids, op->nuids, mb->msgs[k].uid)) {
                n++;
                c += model_new_flags(mb->msgs[k].flags, op->fop, op->flags) !=
                     mb->msgs[k].flags;
            }
        }
    }
    if (changed != NULL) {
        *changed = c;
    }
    return n;
}

static int run_gc(struct model_run *r, uint32_t steps)
{
    uint32_t i;
    for (i = 0; i < steps; i++) {
        int err = lwm_store_gc_step(r->s);
        if (err == 0) {
            return 0;
        }
        if (err == LWM_ERR_NOSPC) {
            r->nospc++;
            return 0;
        }
        if (err != 1) {
            return run_fail(r, "gc_step (%lu): %d (%s)", (unsigned long)i,
                            err, model_err_name(err));
        }
    }
    return 0;
}

static int run_bad(struct model_run *r, const struct model_op *op)
{
    struct lwm_store *s = r->s;
    int id = model_user_id(s, op->user), err, want = 0;
    char longname[LWM_MBOX_NAME_MAX + 12];

    switch (op->mode) {
    case BAD_CREATE_EXISTING:
    case BAD_CREATE_INBOX:
        want = LWM_ERR_EXIST;
        err = lwm_mbox_create(s, id, op->name, strlen(op->name), 0);
        break;
    case BAD_DELETE_INBOX:
        err = lwm_mbox_delete(s, id, op->name, strlen(op->name));
        break;
    case BAD_DELETE_MISSING:
        want = LWM_ERR_NOENT;
        err = lwm_mbox_delete(s, id, op->name, strlen(op->name));
        break;
    case BAD_RENAME_EXISTING:
        want = LWM_ERR_EXIST;
        /* fall through */
    case BAD_RENAME_INTO_CHILD:
        err = lwm_mbox_rename(s, id, op->name, strlen(op->name), op->name2,
                              strlen(op->name2));
        break;
    case BAD_RENAME_MISSING:
        want = LWM_ERR_NOENT;
        err = lwm_mbox_rename(s, id, op->name, strlen(op->name), op->name2,
                              strlen(op->name2));
        break;
    case BAD_USER_EXISTING:
        want = LWM_ERR_EXIST;
        err = lwm_user_create(s, model_user_names[op->user]);
        break;
    case BAD_NAME_TOO_LONG:
        want = LWM_ERR_NAMETOOLONG;
        memset(longname, 'z', sizeof(longname));
        err = lwm_mbox_create(s, id, longname, LWM_MBOX_NAME_MAX + 1u +
                              op->nsteps % 8u, 0);
        break;
    case BAD_APPEND_NOSELECT: {
        int slot = model_slot(s, op->user, op->name);
        if (slot < 0) {
            return run_fail(r, "no mailbox '%s': %s", op->name,
                            model_err_name(slot));
        }
        err = lwm_append_begin(s, slot, op->date, 0);
        if (err >= 0) {
            lwm_append_abort(s, err);
        }
        break;
    }
    default:
        return 0;
    }
    if (err == LWM_ERR_IO) {
        return run_fail(r, "expected an error, got %s", model_err_name(err));
    }
    if (err >= 0 || (want != 0 && err != want)) {
        return run_fail(r, "expected %s, got %d (%s)",
                        want ? model_err_name(want) : "an error", err,
                        err < 0 ? model_err_name(err) : "success");
    }
    return run_unchanged(r);
}

static int run_op(struct model_run *r, const struct model_op *op)
{
    struct lwm_store *s = r->s;
    struct model_res res;
    uint32_t matched, changed = 0;
    int id, slot, err;

    memset(&res, 0, sizeof(res));
    switch (op->type) {
    case MOP_NONE:
        return 0;
    case MOP_USER_CREATE:
        err = lwm_user_create(s, model_user_names[op->user]);
        if (err == LWM_ERR_NOSPC) {
            return run_nospc(r);
        }
        if (err <= 0) {
            return run_fail(r, "user_create: %d (%s)", err,
                            model_err_name(err));
        }
        if (lwm_user_find(s, model_user_names[op->user]) != err) {
            return run_fail(r, "user_create gave %d, user_find %d", err,
                            lwm_user_find(s, model_user_names[op->user]));
        }
        return run_done(r, op, NULL);
    case MOP_MBOX_CREATE: {
        int mi = model_find(r->m, op->user, op->name);
        id = model_user_id(s, op->user);
        err = lwm_mbox_create(s, id, op->name, strlen(op->name), op->attrs);
        if (err == LWM_ERR_NOSPC) {
            return run_nospc(r);
        }
        if (err == LWM_ERR_EXIST && mi >= 0 &&
            (r->m->mbox[mi].attrs & LWM_MBOX_NOSELECT)) {
            return run_unchanged(r);   /* allowed: RFC 3501 6.3.3 */
        }
        if (err < 0) {
            return run_fail(r, "mbox_create: %s", model_err_name(err));
        }
        return run_done(r, op, NULL);
    }
    case MOP_APPEND:
    case MOP_APPEND2: {
        struct run_stream st[2];
        int plan[2], n = 1;
        st[0].op = *op;
        st[0].op.type = MOP_APPEND;
        plan[0] = 0;
        if (op->type == MOP_APPEND2) {
            n = 2;
            st[1].op = st[0].op;
            (void)snprintf(st[1].op.name, sizeof(st[1].op.name), "%s",
                           op->name2);
            st[1].op.flags = op->flags2;
            st[1].op.cid = op->cid2;
            st[1].op.len = op->len2;
            st[1].op.date = op->date2;
            switch (op->mode) {
            case APPEND2_BA:
                plan[0] = 1, plan[1] = 0;
                break;
            case APPEND2_ABORT_A:
                plan[0] = -1, plan[1] = 1;
                break;
            case APPEND2_ABORT_B:
                plan[0] = 0, plan[1] = -2;
                break;
            default:
                plan[0] = 0, plan[1] = 1;
                break;
            }
        }
        return run_append(r, st, n, plan, op->chunk_seed);
    }
    case MOP_FLAGS: {
        uint32_t sflags;
        slot = model_slot(s, op->user, op->name);
        if (slot < 0) {
            return run_fail(r, "no mailbox: %s", model_err_name(slot));
        }
        matched = run_count_matched(r->m, op, &changed);
        err = run_store_flags(r, slot, op->flags,
                              op->fop != LWM_FLAGS_REMOVE, &sflags);
        if (err == 0) {
            err = lwm_store_flags(s, slot, op->uids, op->nuids,
                                  (enum lwm_flags_op)op->fop, sflags);
        }
        if (err == LWM_ERR_NOSPC) {
            return run_nospc(r);
        }
        if (err < 0) {
            return run_fail(r, "store_flags: %s", model_err_name(err));
        }
        if ((uint32_t)err != matched && (uint32_t)err != changed) {
            return run_fail(r, "store_flags returned %d; %lu matched, %lu "
                            "changed", err, (unsigned long)matched,
                            (unsigned long)changed);
        }
        return run_done(r, op, NULL);
    }
    case MOP_EXPUNGE:
        slot = model_slot(s, op->user, op->name);
        if (slot < 0) {
            return run_fail(r, "no mailbox: %s", model_err_name(slot));
        }
        matched = run_count_matched(r->m, op, NULL);
        err = lwm_expunge(s, slot, op->uids, op->nuids);
        if (err == LWM_ERR_NOSPC) {
            return run_nospc(r);
        }
        if (err < 0 || (uint32_t)err != matched) {
            return run_fail(r, "expunge returned %d (%s), %lu matched", err,
                            err < 0 ? model_err_name(err) : "count",
                            (unsigned long)matched);
        }
        return run_done(r, op, NULL);
    case MOP_COPY: {
        int dst, di;
        uint32_t count = 0xDEADu;
        slot = model_slot(s, op->user, op->name);
        dst = model_slot(s, op->user, op->name2);
        di = model_find(r->m, op->user, op->name2);
        if (slot < 0 || dst < 0 || di < 0) {
            return run_fail(r, "no mailbox: %d %d", slot, dst);
        }
        matched = run_count_matched(r->m, op, NULL);
        err = lwm_copy(s, slot, dst, op->uids, op->nuids, op->move, &count);
        if (err == LWM_ERR_NOSPC) {
            return run_nospc(r);
        }
        if (err < 0) {
            return run_fail(r, "copy: %s", model_err_name(err));
        }
        if (count != matched ||
            (matched > 0 && (uint32_t)err < r->m->mbox[di].uidnext) ||
            (matched > 0 && err == 0)) {
            return run_fail(r, "copy returned first UID %d, count %lu; %lu "
                            "matched, UIDNEXT was at least %lu", err,
                            (unsigned long)count, (unsigned long)matched,
                            (unsigned long)r->m->mbox[di].uidnext);
        }
        res.uid = (uint32_t)err;
        res.count = count;
        return run_done(r, op, &res);
    }
    case MOP_RENAME:
        id = model_user_id(s, op->user);
        err = lwm_mbox_rename(s, id, op->name, strlen(op->name), op->name2,
                              strlen(op->name2));
        if (err == LWM_ERR_NOSPC) {
            return run_nospc(r);
        }
        if (err < 0) {
            return run_fail(r, "rename: %s", model_err_name(err));
        }
        return run_done(r, op, NULL);
    case MOP_DELETE:
        id = model_user_id(s, op->user);
        err = lwm_mbox_delete(s, id, op->name, strlen(op->name));
        if (err == LWM_ERR_NOSPC) {
            return run_nospc(r);
        }
        if (err < 0) {
            return run_fail(r, "delete: %s", model_err_name(err));
        }
        return run_done(r, op, NULL);
    case MOP_SUBSCRIBE:
        id = model_user_id(s, op->user);
        err = lwm_mbox_subscribe(s, id, op->name, strlen(op->name), op->on);
        if (err == LWM_ERR_NOSPC) {
            return run_nospc(r);
        }
        if (err < 0) {
            return run_fail(r, "subscribe: %s", model_err_name(err));
        }
        return run_done(r, op, NULL);
    case MOP_GC:
        return run_gc(r, op->nsteps);
    case MOP_GC_FORCE:
        err = lwm_store_gc_force(s);
        if (err < 0 && err != LWM_ERR_NOSPC) {
            return run_fail(r, "gc_force: %s", model_err_name(err));
        }
        err = run_gc(r, MODEL_GC_FORCE_STEPS);
        if (err == 0 && lwm_store_gc_step(s) == 1) {
            return run_fail(r, "gc still busy after %u steps",
                            MODEL_GC_FORCE_STEPS);
        }
        return err;
    case MOP_REMOUNT: {
        struct lwm_store_stats st;
        lwm_store_stats(s, &st);
        r->snapshots += st.snapshots;
        r->gc_moved += st.gc_moved_bodies;
        err = lwm_store_unmount(s);
        if (err < 0) {
            return run_fail(r, "unmount: %s", model_err_name(err));
        }
        err = lwm_store_mount(s, r->f);
        if (err < 0) {
            return run_fail(r, "mount: %s", model_err_name(err));
        }
        r->remounts++;
        if (r->verify) {
            err = lwm_store_check(s, 1);
            if (err != 0) {
                return run_fail(r, "check after remount: %d (%s)", err,
                                model_err_name(err));
            }
            if (model_compare(r->m, s, r->f) < 0) {
                return run_fail(r, "after remount: %s", r->m->err);
            }
        }
        return 0;
    }
    case MOP_BAD:
        return run_bad(r, op);
    default:
        return run_fail(r, "unknown op type %d", op->type);
    }
}

int model_exec(struct model_run *r, const struct model_op *op)
{
    int err;
    r->err[0] = '\0';
    r->inflight = *op;
    r->op = *op;
    err = run_op(r, op);
    if (err == 0) {
        r->inflight.type = MOP_NONE;
        if (op->type == MOP_APPEND || op->type == MOP_APPEND2 ||
            op->type == MOP_COPY) {
            uint32_t live = model_live_bytes(r->m);
            r->peak_live = live > r->peak_live ? live : r->peak_live;
        }
    }
    return err;
}

/// Workload generator ///

static uint32_t wl_rand(struct workload *w)
{
    return run_rand(&w->rng);
}

static uint32_t wl_below(struct workload *w, uint32_t n)
{
    return n > 0 ? wl_rand(w) % n : 0;
}

void workload_init(struct workload *w, uint32_t seed,
                   const struct lwm_flash *f)
{
    memset(w, 0, sizeof(*w));
    w->seed = seed;
    w->rng = model_mix(seed + 0x5EED1234u) | 1u;
    w->block_size = f->block_size;
    w->budget = (uint32_t)((uint64_t)f->block_size * f->block_count * 65u /
                           100u);
}

static int wl_user(struct workload *w, const struct model *m)
{
    int c[MODEL_USERS], n = 0, u;
    for (u = 0; u < MODEL_USERS; u++) {
        if (m->user[u]) {
            c[n++] = u;
        }
    }
    return n > 0 ? c[wl_below(w, (uint32_t)n)] : -1;
}

enum { WL_SELECT = 1, WL_MSGS = 2, WL_NOINBOX = 4, WL_NOSELECT_ONLY = 8 };

/* A random mailbox of user matching want (WL_*), not index `not`. */
static int wl_mbox(struct workload *w, const struct model *m, int user,
                   unsigned want, int not)
{
    int c[MODEL_MBOXES], n = 0, i;
    for (i = 0; i < MODEL_MBOXES; i++) {
        const struct model_mbox *mb = &m->mbox[i];
        int nosel;
        if (!mb->used || mb->user != user || i == not) {
            continue;
        }
        nosel = (mb->attrs & LWM_MBOX_NOSELECT) != 0;
        if (((want & WL_SELECT) && nosel) ||
            ((want & WL_NOSELECT_ONLY) && !nosel) ||
            ((want & WL_MSGS) && mb->nmsgs == 0) ||
            ((want & WL_NOINBOX) && model_is_inbox(mb->name))) {
            continue;
        }
        c[n++] = i;
    }
    return n > 0 ? c[wl_below(w, (uint32_t)n)] : -1;
}

static uint32_t wl_count_mboxes(const struct model *m, int user)
{
    uint32_t n = 0;
    int i;
    for (i = 0; i < MODEL_MBOXES; i++) {
        n += m->mbox[i].used && (user < 0 || m->mbox[i].user == user);
    }
    return n;
}

static const char *const wl_comps[] = {
    "work", "lists", "family", "projects", "old", "misc", "2023", "2024",
    "Entw\xc3\xbcrfe", "\xe6\x97\xa5\xe6\x9c\xac", "a", "b", "c",
    "reports", "x", "Travel Plans"
};
#define WL_NCOMPS (sizeof(wl_comps) / sizeof(wl_comps[0]))

static const char *wl_comp(struct workload *w)
{
    return wl_comps[wl_below(w, WL_NCOMPS)];
}

/* Pick UIDs of mailbox mb: the oldest k or random ones; maybe one that
 * does not exist. Sorted ascending if sorted. */
static void wl_uids(struct workload *w, const struct model_mbox *mb,
                    struct model_op *op, uint32_t max, int oldest,
                    int missing, int sorted)
{
    uint32_t k = 1 + wl_below(w, max), i, j;
    op->nuids = 0;
    if (oldest) {
        for (i = 0; i < k && i < mb->nmsgs; i++) {
            op->uids[op->nuids++] = mb->msgs[i].uid;
        }
    } else {
        for (i = 0; i < k; i++) {
            uint32_t uid = mb->msgs[wl_below(w, mb->nmsgs)].uid;
            if (!model_has_uid(op->uids, op->nuids, uid)) {
                op->uids[op->nuids++] = uid;
            }
        }
    }
    if (missing && op->nuids < MODEL_OP_UIDS) {
        op->uids[op->nuids++] = mb->uidnext + 1 + wl_below(w, 50);
    }
    if (sorted) {
        for (i = 1; i < op->nuids; i++) {
            for (j = i; j > 0 && op->uids[j - 1] > op->uids[j]; j--) {
                uint32_t t = op->uids[j];
                op->uids[j] = op->uids[j - 1];
                op->uids[j - 1] = t;
            }
        }
    }
}

static uint32_t wl_flags(struct workload *w, int keyword_pct)
{
    uint32_t f = wl_below(w, 32);
    if (wl_below(w, 100) < (uint32_t)keyword_pct) {
        f |= MODEL_KW(wl_below(w, MODEL_KEYWORDS));
        if (wl_below(w, 3) == 0) {
            f |= MODEL_KW(wl_below(w, MODEL_KEYWORDS));
        }
    }
    return f;
}

static uint32_t wl_len(struct workload *w, int big)
{
    if (big) {
        uint32_t b = w->block_size;
        uint32_t nblocks = 2 + wl_below(w, 5);   /* one call per line: */
        uint32_t less = wl_below(w, b / 2);       /* the order is fixed */
        return b * nblocks - less;
    }
    if (wl_below(w, 10) < 7) {
        return 50 + wl_below(w, 551);
    }
    return 600 + wl_below(w, 1401);
}

static void wl_fill_msg(struct workload *w, uint32_t len, uint32_t *cid,
                        uint32_t *rlen, uint32_t *date)
{
    w->next_cid++;
    *cid = (w->seed << 16) ^ (w->next_cid & 0xFFFFu);
    *rlen = len;
    *date = 1262304000u + wl_below(w, 400000000u);
}

/* A mailbox to append into: INBOX often. */
static int wl_append_target(struct workload *w, const struct model *m,
                            int user)
{
    int mi = -1;
    if (wl_below(w, 10) < 4) {
        mi = model_find(m, user, "INBOX");
    }
    if (mi < 0 || (m->mbox[mi].attrs & LWM_MBOX_NOSELECT)) {
        mi = wl_mbox(w, m, user, WL_SELECT, -1);
    }
    if (mi >= 0 && m->mbox[mi].nmsgs + 2 >= MODEL_MBOX_MSGS) {
        return -1;
    }
    return mi;
}

static int wl_gen_append(struct workload *w, const struct model *m,
                         struct model_op *op, int big, uint32_t live)
{
    int u = wl_user(w, m), mi;
    uint32_t len;
    if (u < 0 || model_msg_total(m) + 2 > MODEL_MAX_TOTAL_MSGS) {
        return 0;
    }
    mi = wl_append_target(w, m, u);
    if (mi < 0) {
        return 0;
    }
    len = wl_len(w, big);
    if (live + len + 64 > w->budget) {
        len = wl_len(w, 0);
        if (live + len + 64 > w->budget) {
            return 0;
        }
    }
    op->type = MOP_APPEND;
    op->user = u;
    (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[mi].name);
    op->flags = wl_below(w, 2) ? 0 : wl_flags(w, 15);
    wl_fill_msg(w, len, &op->cid, &op->len, &op->date);
    op->chunk_seed = wl_rand(w);
    return 1;
}

static int wl_gen_append2(struct workload *w, const struct model *m,
                          struct model_op *op, uint32_t live)
{
    int u = wl_user(w, m), a, b;
    uint32_t la, lb;
    if (u < 0 || model_msg_total(m) + 3 > MODEL_MAX_TOTAL_MSGS) {
        return 0;
    }
    a = wl_append_target(w, m, u);
    b = wl_append_target(w, m, u);
    if (a < 0 || b < 0) {
        return 0;
    }
    la = wl_len(w, wl_below(w, 4) == 0);
    lb = wl_len(w, 0);
    if (live + la + lb + 128 > w->budget) {
        return 0;
    }
    op->type = MOP_APPEND2;
    op->user = u;
    op->mode = (int)wl_below(w, 4);
    (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[a].name);
    (void)snprintf(op->name2, sizeof(op->name2), "%s", m->mbox[b].name);
    op->flags = wl_below(w, 2) ? 0 : wl_flags(w, 15);
    op->flags2 = wl_below(w, 2) ? 0 : wl_flags(w, 15);
    wl_fill_msg(w, la, &op->cid, &op->len, &op->date);
    wl_fill_msg(w, lb, &op->cid2, &op->len2, &op->date2);
    op->chunk_seed = wl_rand(w);
    return 1;
}

static int wl_gen_flags(struct workload *w, const struct model *m,
                        struct model_op *op)
{
    int u = wl_user(w, m), mi = u < 0 ? -1 : wl_mbox(w, m, u, WL_MSGS, -1);
    if (mi < 0) {
        return 0;
    }
    op->type = MOP_FLAGS;
    op->user = u;
    (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[mi].name);
    wl_uids(w, &m->mbox[mi], op, 6, 0, wl_below(w, 5) == 0, 0);
    op->fop = (int)wl_below(w, 3);
    op->flags = wl_flags(w, 40);
    return 1;
}

static int wl_gen_expunge(struct workload *w, const struct model *m,
                          struct model_op *op)
{
    int u = wl_user(w, m), mi = u < 0 ? -1 : wl_mbox(w, m, u, WL_MSGS, -1);
    if (mi < 0) {
        return 0;
    }
    op->type = MOP_EXPUNGE;
    op->user = u;
    (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[mi].name);
    if (wl_below(w, 2)) {
        wl_uids(w, &m->mbox[mi], op, 4, 1, wl_below(w, 6) == 0, 0);
    } else {
        wl_uids(w, &m->mbox[mi], op, 8, 0, wl_below(w, 6) == 0, 0);
    }
    return 1;
}

static int wl_gen_copy(struct workload *w, const struct model *m,
                       struct model_op *op, int move)
{
    int u = wl_user(w, m), si, di;
    if (u < 0) {
        return 0;
    }
    si = wl_mbox(w, m, u, WL_MSGS, -1);
    if (si < 0) {
        return 0;
    }
    di = (!move && wl_below(w, 10) == 0) ? si
                                         : wl_mbox(w, m, u, WL_SELECT, si);
    if (di < 0) {
        return 0;
    }
    op->type = MOP_COPY;
    op->user = u;
    op->move = move;
    (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[si].name);
    (void)snprintf(op->name2, sizeof(op->name2), "%s", m->mbox[di].name);
    wl_uids(w, &m->mbox[si], op, 6, 0, wl_below(w, 8) == 0, 1);
    if (m->mbox[di].nmsgs + op->nuids + 1 >= MODEL_MBOX_MSGS ||
        (!move && model_msg_total(m) + op->nuids > MODEL_MAX_TOTAL_MSGS)) {
        return 0;
    }
    return 1;
}

/* A fresh name for user: top level, under an existing mailbox, or a
 * nested path whose parents do not exist yet. */
static int wl_new_name(struct workload *w, const struct model *m, int user,
                       const char *avoid_root, char *out, size_t n)
{
    int attempt;
    for (attempt = 0; attempt < 12; attempt++) {
        uint32_t kind = wl_below(w, 20);
        int pi;
        if (kind < 8) {
            (void)snprintf(out, n, "%s", wl_comp(w));
        } else if (kind < 15) {
            pi = wl_mbox(w, m, user, WL_NOINBOX, -1);
            if (pi < 0 || model_depth(m->mbox[pi].name) >=
                              (int)MODEL_MAX_DEPTH - 1 ||
                (avoid_root != NULL &&
                 model_in_subtree(m->mbox[pi].name, avoid_root))) {
                continue;
            }
            (void)snprintf(out, n, "%s/%s", m->mbox[pi].name, wl_comp(w));
        } else {
            /* Random calls in sequence, never two in one expression: the
             * evaluation order of arguments is unspecified and the stream
             * must be the same on every compiler and target. */
            const char *c1 = wl_comp(w), *c2 = wl_comp(w);
            if (wl_below(w, 2)) {
                const char *c3 = wl_comp(w);
                (void)snprintf(out, n, "%s/%s/%s", c1, c2, c3);
            } else {
                (void)snprintf(out, n, "%s/%s", c1, c2);
            }
        }
        if (strlen(out) > 60 || model_is_inbox(out) ||
            model_find(m, user, out) >= 0) {
            continue;
        }
        /* Parents of a new name may exist, but must not be \Noselect
         * (the store may keep or drop that state) nor in avoid_root. */
        {
            char tmp[LWM_MBOX_NAME_MAX + 1];
            size_t i;
            int ok = 1;
            for (i = 0; out[i] != '\0' && ok; i++) {
                int p;
                if (out[i] != '/') {
                    continue;
                }
                memcpy(tmp, out, i);
                tmp[i] = '\0';
                p = model_find(m, user, tmp);
                if (model_is_inbox(tmp) ||
                    (avoid_root != NULL && model_in_subtree(tmp, avoid_root))) {
                    ok = 0;
                }
                if (p >= 0 && (m->mbox[p].attrs & LWM_MBOX_NOSELECT)) {
                    ok = 0;
                }
            }
            if (!ok) {
                continue;
            }
        }
        return 1;
    }
    return 0;
}

static int wl_gen_create(struct workload *w, const struct model *m,
                         struct model_op *op)
{
    int u = wl_user(w, m);
    static const uint16_t special[] = { LWM_MBOX_SENT, LWM_MBOX_DRAFTS,
                                        LWM_MBOX_TRASH, LWM_MBOX_JUNK,
                                        LWM_MBOX_ARCHIVE };
    int mi;
    if (u < 0) {
        return 0;
    }
    mi = wl_mbox(w, m, u, WL_NOSELECT_ONLY, -1);
    if (mi >= 0 && wl_below(w, 3) == 0) {
        /* CREATE over a \Noselect name: EXIST, or selectable again */
        op->type = MOP_MBOX_CREATE;
        op->user = u;
        (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[mi].name);
        return 1;
    }
    if (wl_count_mboxes(m, u) >= MODEL_MAX_USER_MBOXES ||
        wl_count_mboxes(m, -1) + 3 > MODEL_MAX_ALL_MBOXES) {
        return 0;
    }
    if (!wl_new_name(w, m, u, NULL, op->name, sizeof(op->name))) {
        return 0;
    }
    op->type = MOP_MBOX_CREATE;
    op->user = u;
    op->attrs = wl_below(w, 8) == 0 ? special[wl_below(w, 5)] : 0;
    return 1;
}

static int wl_subtree_depth(const struct model *m, int user,
                            const char *root)
{
    int i, d = 0;
    for (i = 0; i < MODEL_MBOXES; i++) {
        const struct model_mbox *mb = &m->mbox[i];
        if (mb->used && mb->user == user &&
            model_in_subtree(mb->name, root)) {
            int e = model_depth(mb->name) - model_depth(root);
            d = e > d ? e : d;
        }
    }
    return d;
}

static int wl_gen_rename(struct workload *w, const struct model *m,
                         struct model_op *op)
{
    int u = wl_user(w, m), si;
    if (u < 0 || wl_count_mboxes(m, -1) + 3 > MODEL_MAX_ALL_MBOXES) {
        return 0;
    }
    if (wl_below(w, 12) == 0) {
        si = model_find(m, u, "INBOX");
        if (si < 0 || m->mbox[si].nmsgs == 0 ||
            wl_count_mboxes(m, u) >= MODEL_MAX_USER_MBOXES) {
            return 0;
        }
    } else {
        si = wl_mbox(w, m, u, WL_NOINBOX, -1);
    }
    if (si < 0) {
        return 0;
    }
    if (!wl_new_name(w, m, u, m->mbox[si].name, op->name2,
                     sizeof(op->name2))) {
        return 0;
    }
    if (model_depth(op->name2) + wl_subtree_depth(m, u, m->mbox[si].name) >
        (int)MODEL_MAX_DEPTH + 1) {
        return 0;
    }
    op->type = MOP_RENAME;
    op->user = u;
    (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[si].name);
    return 1;
}

static int wl_gen_delete(struct workload *w, const struct model *m,
                         struct model_op *op)
{
    int u = wl_user(w, m), mi;
    if (u < 0) {
        return 0;
    }
    mi = wl_mbox(w, m, u, WL_NOINBOX, -1);
    if (mi < 0 || ((m->mbox[mi].attrs & LWM_MBOX_NOSELECT) &&
                   model_has_children(m, u, m->mbox[mi].name))) {
        return 0;
    }
    op->type = MOP_DELETE;
    op->user = u;
    (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[mi].name);
    return 1;
}

static int wl_gen_subscribe(struct workload *w, const struct model *m,
                            struct model_op *op)
{
    int u = wl_user(w, m), mi = u < 0 ? -1 : wl_mbox(w, m, u, 0, -1);
    int on;
    if (mi < 0) {
        return 0;
    }
    on = !(m->mbox[mi].attrs & LWM_MBOX_SUBSCRIBED);
    op->type = MOP_SUBSCRIBE;
    op->user = u;
    op->on = wl_below(w, 5) == 0 ? !on : on;
    (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[mi].name);
    return 1;
}

static int wl_gen_bad(struct workload *w, const struct model *m,
                      struct model_op *op)
{
    static const char *const inboxes[] = { "inbox", "Inbox", "INBOX",
                                           "iNbOx" };
    int u = wl_user(w, m), a, b;
    if (u < 0) {
        return 0;
    }
    op->type = MOP_BAD;
    op->user = u;
    op->mode = (int)wl_below(w, BAD_KINDS);
    op->nsteps = wl_rand(w);
    switch (op->mode) {
    case BAD_CREATE_EXISTING:
        a = wl_mbox(w, m, u, WL_SELECT | WL_NOINBOX, -1);
        if (a < 0) {
            return 0;
        }
        (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[a].name);
        return 1;
    case BAD_CREATE_INBOX:
    case BAD_DELETE_INBOX:
        (void)snprintf(op->name, sizeof(op->name), "%s",
                       inboxes[wl_below(w, 4)]);
        return 1;
    case BAD_DELETE_MISSING:
    case BAD_RENAME_MISSING:
        (void)snprintf(op->name, sizeof(op->name), "nope/%s", wl_comp(w));
        (void)snprintf(op->name2, sizeof(op->name2), "nope2");
        return model_find(m, u, op->name) < 0 &&
               model_find(m, u, op->name2) < 0;
    case BAD_RENAME_EXISTING:
        a = wl_mbox(w, m, u, WL_NOINBOX, -1);
        b = a < 0 ? -1 : wl_mbox(w, m, u, 0, a);
        if (b < 0 || model_in_subtree(m->mbox[b].name, m->mbox[a].name) ||
            model_in_subtree(m->mbox[a].name, m->mbox[b].name)) {
            return 0;
        }
        (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[a].name);
        (void)snprintf(op->name2, sizeof(op->name2), "%s", m->mbox[b].name);
        return 1;
    case BAD_USER_EXISTING:
    case BAD_NAME_TOO_LONG:
        return 1;
    case BAD_RENAME_INTO_CHILD:
        a = wl_mbox(w, m, u, WL_NOINBOX, -1);
        if (a < 0) {
            return 0;
        }
        (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[a].name);
        (void)snprintf(op->name2, sizeof(op->name2), "%.80s/sub",
                       m->mbox[a].name);
        return 1;
    case BAD_APPEND_NOSELECT:
        a = wl_mbox(w, m, u, WL_NOSELECT_ONLY, -1);
        if (a < 0) {
            return 0;
        }
        (void)snprintf(op->name, sizeof(op->name), "%s", m->mbox[a].name);
        op->date = 1262304000u;
        return 1;
    default:
        return 0;
    }
}

void workload_next(struct workload *w, const struct model *m,
                   struct model_op *op)
{
    uint32_t live, attempt;
    int u;

    memset(op, 0, sizeof(*op));
    w->n++;
    /* Users: alice at once (and whenever there is none), bob next, carol
     * later, when the store holds a lot. */
    for (u = 0; u < MODEL_USERS; u++) {
        if ((u == 0 && wl_user(w, m) < 0) || (u == 1 && w->n == 2) ||
            (u == 2 && w->n == 400)) {
            if (!m->user[u] && wl_count_mboxes(m, -1) + 6 <=
                                   LWM_STORE_MAX_MBOXES) {
                op->type = MOP_USER_CREATE;
                op->user = u;
                return;
            }
        }
    }
    if (w->pressure) {
        w->pressure = 0;
        op->type = MOP_GC_FORCE;
        return;
    }
    live = model_live_bytes(m);
    for (attempt = 0; attempt < 6; attempt++) {
        uint32_t r = wl_below(w, 100);
        int ok = 0;
        if (live > w->budget * 4u / 5u && r < 40) {
            r = 46 + wl_below(w, 10);   /* expunge: make room */
            if (wl_below(w, 4) == 0) {
                r = 74;                 /* or delete a mailbox */
            }
        }
        memset(op, 0, sizeof(*op));
        if (r < 22) {
            ok = wl_gen_append(w, m, op, 0, live);
        } else if (r < 27) {
            ok = wl_gen_append(w, m, op, 1, live);
        } else if (r < 31) {
            ok = wl_gen_append2(w, m, op, live);
        } else if (r < 46) {
            ok = wl_gen_flags(w, m, op);
        } else if (r < 56) {
            ok = wl_gen_expunge(w, m, op);
        } else if (r < 63) {
            ok = wl_gen_copy(w, m, op, 0);
        } else if (r < 67) {
            ok = wl_gen_copy(w, m, op, 1);
        } else if (r < 72) {
            ok = wl_gen_create(w, m, op);
        } else if (r < 74) {
            ok = wl_gen_rename(w, m, op);
        } else if (r < 77) {
            ok = wl_gen_delete(w, m, op);
        } else if (r < 81) {
            ok = wl_gen_subscribe(w, m, op);
        } else if (r < 90) {
            op->type = MOP_GC;
            op->nsteps = 1 + wl_below(w, 6);
            ok = 1;
        } else if (r < 92) {
            op->type = MOP_GC_FORCE;
            ok = 1;
        } else if (r < 95) {
            op->type = MOP_REMOUNT;
            ok = 1;
        } else {
            ok = wl_gen_bad(w, m, op);
        }
        if (ok) {
            return;
        }
    }
    memset(op, 0, sizeof(*op));
    op->type = MOP_GC;
    op->nsteps = 1;
}

long workload_run(struct workload *w, struct model_run *r, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        struct model_op op;
        unsigned long nospc = r->nospc;
        workload_next(w, r->m, &op);
        if (model_exec(r, &op) < 0) {
            return -1;
        }
        if (r->nospc != nospc) {
            w->pressure = 1;
        }
    }
    return (long)n;
}
