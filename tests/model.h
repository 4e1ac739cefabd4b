/*
 * lwmail tests - a reference model (oracle) of the message store and a
 * deterministic workload generator.
 *
 * The model holds what a client can see through lwm_store.h: users, their
 * mailboxes (name, attrs, UIDVALIDITY, a lower bound of UIDNEXT) and each
 * mailbox's messages (UID, flags, size, date and a content id from which
 * the body bytes are regenerated). Keywords are kept by name (bit 5 + g of
 * a model flag word stands for model_keyword_names[g]), so the model does
 * not depend on the store's per-mailbox keyword numbering.
 *
 * Values the store chooses (UIDVALIDITY, the attrs of mailboxes it creates
 * itself, UIDs of an operation whose result was lost at a power cut) are
 * "unknown" in the model (0, or a clear bit in attrs_known) until
 * model_learn() reads them back from the store; model_compare() accepts any
 * value for them.
 *
 * The workload (workload_next) is a seeded, deterministic stream of
 * operations chosen from the model's state; model_exec() runs one against a
 * store and applies it to the model when the store reports success. An
 * operation that fails with LWM_ERR_NOSPC is a no-op. Together they give
 * the power-loss and corruption tests a repeatable history: the same seed
 * on the same geometry issues the same flash operations.
 *
 * None of this calls CHECK(): every function reports a problem through its
 * return value and a readable message (model.err, run.err), so a caller
 * can try a model against a store without failing the test.
 */
#ifndef LWM_TEST_MODEL_H
#define LWM_TEST_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "lwmail/lwm_store.h"

#define MODEL_USERS 3              /* model_user_names[] */
#define MODEL_KEYWORDS 8           /* model_keyword_names[] */
#define MODEL_MBOXES LWM_STORE_MAX_MBOXES
#define MODEL_MBOX_MSGS 192        /* messages per mailbox in the model */
#define MODEL_OP_UIDS 16           /* UIDs per flags/expunge/copy op */
#define MODEL_HISTORY 64           /* remembered names of gone mailboxes */
#define MODEL_ERR_LEN 640

/** Model flag bit of keyword g (an index into model_keyword_names). */
#define MODEL_KW(g) (1u << (5u + (unsigned)(g)))
#define MODEL_KW_ALL (((1u << MODEL_KEYWORDS) - 1u) << 5)

extern const char *const model_user_names[MODEL_USERS];
extern const char *const model_keyword_names[MODEL_KEYWORDS];

struct model_msg {
    uint32_t uid;        /* 0: not known (lost result of a cut op) */
    uint32_t flags;      /* LWM_FLAG_SYSTEM bits | MODEL_KW() bits */
    uint32_t cid;        /* content id: body bytes, see model_body_fill */
    uint32_t len;        /* body length in bytes */
    uint32_t date;
};

struct model_mbox {
    uint8_t used;
    uint8_t user;                  /* index into model_user_names */
    uint16_t attrs;                /* LWM_MBOX_* */
    uint16_t attrs_known;          /* bits of attrs the model knows */
    uint32_t uidvalidity;          /* 0: not known yet */
    uint32_t uidnext;              /* lower bound: highest UID seen + 1 */
    uint32_t nmsgs;
    char name[LWM_MBOX_NAME_MAX + 1];
    struct model_msg msgs[MODEL_MBOX_MSGS];   /* in UID order */
};

/* A mailbox name that went away (delete, rename): if it comes back with
 * the same UIDVALIDITY, its UIDNEXT must not go below this one. */
struct model_hist {
    uint8_t user;
    uint32_t uidvalidity, uidnext;
    char name[LWM_MBOX_NAME_MAX + 1];
};

struct model {
    uint8_t user[MODEL_USERS];     /* 1: the user exists */
    struct model_mbox mbox[MODEL_MBOXES];
    struct model_hist hist[MODEL_HISTORY];
    uint32_t nhist;                /* total pushed (ring of MODEL_HISTORY) */
    uint8_t pending;               /* something is unknown: see model_learn */
    char err[MODEL_ERR_LEN];       /* first difference found */
};

/* ------------------------------------------------------ operations */

enum model_op_type {
    MOP_NONE = 0,
    MOP_USER_CREATE,   /* user */
    MOP_MBOX_CREATE,   /* user, name, attrs */
    MOP_APPEND,        /* user, name, flags, cid, len, date, chunk_seed */
    MOP_APPEND2,       /* two interleaved appends (see mode) */
    MOP_FLAGS,         /* user, name, uids, fop, flags */
    MOP_EXPUNGE,       /* user, name, uids */
    MOP_COPY,          /* user, name -> name2, uids, move */
    MOP_RENAME,        /* user, name -> name2 */
    MOP_DELETE,        /* user, name */
    MOP_SUBSCRIBE,     /* user, name, on */
    MOP_GC,            /* nsteps calls of lwm_store_gc_step */
    MOP_GC_FORCE,      /* lwm_store_gc_force, then steps until idle */
    MOP_REMOUNT,       /* unmount + mount (+ check and compare if verify) */
    MOP_BAD            /* a call that must fail and change nothing (bad) */
};

/* MOP_APPEND2 modes: which of the two streams is committed, and in which
 * order. A is (name, cid, ...), B is (name2, cid2, ...). */
enum { APPEND2_AB = 0, APPEND2_BA = 1, APPEND2_ABORT_A = 2,
       APPEND2_ABORT_B = 3 };

/* MOP_BAD kinds. */
enum {
    BAD_CREATE_EXISTING = 0,  /* name exists: LWM_ERR_EXIST */
    BAD_CREATE_INBOX,         /* "inbox" in some case: LWM_ERR_EXIST */
    BAD_DELETE_INBOX,         /* < 0 */
    BAD_DELETE_MISSING,       /* LWM_ERR_NOENT */
    BAD_RENAME_EXISTING,      /* name -> existing name2: LWM_ERR_EXIST */
    BAD_RENAME_MISSING,       /* LWM_ERR_NOENT */
    BAD_USER_EXISTING,        /* LWM_ERR_EXIST */
    BAD_NAME_TOO_LONG,        /* LWM_ERR_NAMETOOLONG */
    BAD_RENAME_INTO_CHILD,    /* name -> name/x: < 0 */
    BAD_APPEND_NOSELECT,      /* append to a \Noselect mailbox: < 0 */
    BAD_KINDS
};

struct model_op {
    int type;
    int user;                          /* index into model_user_names */
    char name[LWM_MBOX_NAME_MAX + 1];
    char name2[LWM_MBOX_NAME_MAX + 1];
    uint16_t attrs;
    int on;                            /* subscribe */
    int move;                          /* copy */
    int fop;                           /* enum lwm_flags_op */
    int mode;                          /* APPEND2_*, BAD_* */
    uint32_t nsteps;                   /* MOP_GC */
    uint32_t flags, cid, len, date;    /* append (stream A) */
    uint32_t flags2, cid2, len2, date2;/* append stream B */
    uint32_t chunk_seed;
    uint32_t nuids;
    uint32_t uids[MODEL_OP_UIDS];
};

/** Results the store returned; model_apply() with NULL marks them unknown. */
struct model_res {
    uint32_t uid;      /* append: the UID; copy: the first new UID */
    uint32_t count;    /* copy: how many were copied */
};

/* ------------------------------------------------------ the model */

void model_init(struct model *m);

/** Index of the mailbox (user, name) in m->mbox, or -1. "INBOX" matches
 *  case-insensitively, like the store. */
int model_find(const struct model *m, int user, const char *name);

/** Apply a successful operation (res: what the store returned, or NULL if
 *  it is not known: new UIDs then stay unknown). */
void model_apply(struct model *m, const struct model_op *op,
                 const struct model_res *res);

/** Fill in unknown values (UIDVALIDITY, attrs, UIDs) from the store, and
 *  check the ones that must follow rules (a re-used UIDVALIDITY must keep
 *  UIDs growing). 0, or -1 with m->err set. */
int model_learn(struct model *m, struct lwm_store *s);

/** Compare the whole visible state of the mounted store with the model:
 *  users, mailboxes (names, attrs, UIDVALIDITY, UIDNEXT, counters),
 *  messages (UIDs, flags, size, date) and every body byte (lwm_msg_read in
 *  odd-sized chunks, and lwm_msg_ptr when f->mapped). 0 if equal, else -1
 *  with the first difference in m->err. Reads only. */
int model_compare(struct model *m, struct lwm_store *s,
                  const struct lwm_flash *f);

/** Total messages / bytes of distinct bodies in the model. */
uint32_t model_msg_total(const struct model *m);
uint32_t model_live_bytes(const struct model *m);

/** The body bytes [off, off + n) of content id cid. Some bodies are random
 *  bytes, some text, some runs of 0xFF and 0x00 (to catch a store that
 *  mistakes data for erased flash). Endian-independent. */
void model_body_fill(uint32_t cid, uint32_t off, uint8_t *buf, uint32_t n);

/** A one-line description of op, for reports. */
const char *model_op_str(const struct model_op *op, char *buf, size_t n);

/* ------------------------------------------------------ running ops */

struct model_run {
    struct lwm_store *s;
    const struct lwm_flash *f;
    struct model *m;
    /* The operation whose effect is not known yet: set before each store
     * call that may change state, MOP_NONE once its result is applied. A
     * power cut leaves the store either before or after it. */
    struct model_op inflight;
    struct model_op op;            /* the operation being run (reports) */
    /* 1: MOP_REMOUNT also checks and compares; NOSPC and expected errors
     *    are followed by a compare (nothing may have changed). */
    int verify;
    unsigned long nospc;           /* operations refused with NOSPC */
    unsigned long remounts;
    unsigned long snapshots;       /* store stats summed over remounts */
    unsigned long gc_moved;
    uint32_t peak_live;            /* highest model_live_bytes() seen */
    char err[MODEL_ERR_LEN];
};

/** Run op against r->s and apply it to r->m. Returns 0 (done, or a no-op
 *  after NOSPC), or -1 with r->err set: a store call failed unexpectedly
 *  or returned a wrong result (after a power cut, that is expected). */
int model_exec(struct model_run *r, const struct model_op *op);

/* ------------------------------------------------------ workload */

struct workload {
    uint32_t rng;                  /* xorshift32 state, never 0 */
    uint32_t seed;
    uint32_t next_cid;
    uint32_t block_size;
    uint32_t budget;               /* live bytes the generator aims under */
    uint32_t n;                    /* operations generated so far */
    int pressure;                  /* set by the runner after a NOSPC */
};

/** Start a workload for a store on flash f. */
void workload_init(struct workload *w, uint32_t seed,
                   const struct lwm_flash *f);

/** Generate the next operation from the model's current state. */
void workload_next(struct workload *w, const struct model *m,
                   struct model_op *op);

/** Run n generated operations (stops at the first failure). Returns the
 *  number run, or -1 with r->err set. */
long workload_run(struct workload *w, struct model_run *r, uint32_t n);

#endif /* LWM_TEST_MODEL_H */
