/*
 * lwmail - the log-structured message store.
 *
 * Mail lives on raw NOR flash (struct lwm_flash). The format is specified in
 * docs/FORMAT.md; the reasoning is in docs/DESIGN.md. In short:
 *
 *  - META blocks form one journal of small, CRC-protected, idempotent records
 *    (users, mailboxes, message entries, flag changes, expunges). It is
 *    periodically rewritten as a snapshot, after which older META blocks are
 *    erased. Mount replays the journal from the newest complete snapshot: it
 *    never reads message bodies.
 *  - DATA blocks hold message bodies, packed back to back per append stream;
 *    a body larger than a block continues in a chain of blocks linked by
 *    skip pointers, so any byte offset is found in O(log n) reads.
 *  - Copies share the body (reference counted through the RAM index).
 *  - Garbage collection runs in bounded steps (lwm_store_gc_step) and levels
 *    wear.
 *
 * All memory is inside struct lwm_store, which the caller allocates
 * (normally as a static). Nothing here allocates, blocks on anything but the
 * flash hook, or keeps global state: several stores may coexist.
 *
 * Every function returns 0 (or a count) on success and a negative lwm_err on
 * failure. A failure of a mutating call leaves the store as it was before the
 * call, in RAM and on flash (after a remount).
 */
#ifndef LWM_STORE_H
#define LWM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "lwm_err.h"
#include "lwm_flash.h"
#include "lwm_opts.h"

/** Version of the on-flash format (docs/FORMAT.md). */
#define LWM_DISK_VERSION 1

/* ------------------------------------------------------ message flags */

#define LWM_FLAG_SEEN      0x01u
#define LWM_FLAG_ANSWERED  0x02u
#define LWM_FLAG_FLAGGED   0x04u
#define LWM_FLAG_DELETED   0x08u
#define LWM_FLAG_DRAFT     0x10u
#define LWM_FLAG_SYSTEM    0x1Fu
/** Bit of keyword number i (0 <= i < LWM_KEYWORDS_MAX) of the mailbox. */
#define LWM_FLAG_KEYWORD(i) (1u << (5 + (i)))

/** How lwm_store_flags() combines the given flags with the old ones. */
enum lwm_flags_op { LWM_FLAGS_SET = 0, LWM_FLAGS_ADD = 1, LWM_FLAGS_REMOVE = 2 };

/* ------------------------------------------------------ mailbox attrs */

#define LWM_MBOX_SUBSCRIBED 0x0001u
#define LWM_MBOX_NOSELECT   0x0002u /* deleted but has children */
#define LWM_MBOX_SENT       0x0010u /* RFC 6154 special-use */
#define LWM_MBOX_DRAFTS     0x0020u
#define LWM_MBOX_TRASH      0x0040u
#define LWM_MBOX_JUNK       0x0080u
#define LWM_MBOX_ARCHIVE    0x0100u
#define LWM_MBOX_SPECIAL    0x01F0u

/* ------------------------------------------------------ public views */

/** One message, as returned by lwm_msg_get(). A plain value: copy freely. */
struct lwm_msg {
    uint32_t uid;
    uint32_t modseq;
    uint32_t flags;     /* LWM_FLAG_* and keyword bits */
    uint32_t size;      /* RFC822.SIZE: bytes of the message */
    uint32_t date;      /* internal date, seconds since 1970 (UTC) */
    uint32_t body;      /* flash address of the body record (opaque) */
    uint32_t last_blk;  /* last block of the body (opaque) */
    uint32_t first_n;   /* chain position of the first block (opaque) */
    uint32_t last_n;    /* chain position of the last block (opaque) */
    uint32_t sum_len;   /* bytes of the summary stored with it (0: none) */
};

/** A mailbox's state, as returned by lwm_mbox_info(). */
struct lwm_mbox_info {
    const char *name;     /* NUL-terminated, valid until the next change */
    uint32_t id;          /* unique for the store's lifetime */
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint32_t highestmodseq;
    uint32_t exists;      /* number of messages */
    uint32_t unseen;      /* messages without \Seen */
    uint32_t deleted;     /* messages with \Deleted */
    uint64_t size;        /* sum of message sizes in bytes */
    uint16_t attrs;       /* LWM_MBOX_* */
    uint16_t user;
};

/** Figures for benchmarks and tests. */
struct lwm_store_stats {
    uint32_t blocks_total, blocks_free, blocks_meta, blocks_data;
    uint32_t erase_min, erase_max;   /* over all blocks */
    uint64_t bytes_programmed;       /* since mount/format */
    uint64_t bytes_read;
    uint32_t erases;                 /* since mount/format */
    uint32_t msgs, mboxes, users;
    uint32_t snapshots;              /* completed since mount */
    uint32_t gc_moved_bodies;        /* bodies relocated since mount */
    uint64_t gc_moved_bytes;
    uint32_t ram_per_msg;            /* sizeof(struct lwm_msg_ent) */
    uint32_t ram_per_mbox;           /* sizeof(struct lwm_mbox_ent) */
    uint32_t ram_per_block;          /* sizeof(struct lwm_blk_ent) */
    uint32_t ram_total;              /* sizeof(struct lwm_store) */
};

/* ------------------------------------------------------ internals */
/* Internal: exposed only so callers can allocate the store statically. */

struct lwm_msg_ent {            /* 16 bytes per message in RAM */
    uint32_t uid;
    uint32_t modseq;
    uint32_t flags;
    uint32_t body;
};

struct lwm_mbox_ent {
    uint32_t id;                /* 0: slot unused */
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint32_t hmodseq;
    uint32_t first;             /* index of the first message in msgs[] */
    uint32_t count;
    uint32_t unseen;
    uint32_t deleted;
    uint64_t size;
    uint16_t user;
    uint16_t attrs;
    uint8_t nkeywords;
    char name[LWM_MBOX_NAME_MAX + 1];
    char keywords[LWM_KEYWORDS_MAX][LWM_KEYWORD_LEN + 1];
};

struct lwm_blk_ent {            /* per flash block in RAM */
    uint32_t seq;               /* allocation sequence (META/DATA) */
    uint32_t erase_count;
    uint32_t live;              /* live body bytes, counted per reference */
    uint32_t written;           /* body bytes written (DATA) */
    uint16_t pins;              /* references by multi-block bodies */
    uint8_t state;              /* LWM_BLK_* (store.c) */
    uint8_t flags;
};

struct lwm_head {               /* a data stream's open block */
    uint32_t blk;               /* LWM_NONE if none */
    uint32_t off;               /* next free byte in blk */
    uint32_t n;                 /* chain position of blk */
};

struct lwm_append {
    uint8_t used;
    uint8_t head;               /* which struct lwm_head */
    uint16_t mbox;              /* slot */
    uint32_t mbox_id;
    uint32_t date;
    uint32_t flags;
    uint32_t body;              /* address of the body record */
    uint32_t first_n;
    uint32_t first_seq;         /* seq of the body's first block */
    uint32_t len;               /* message bytes */
    uint32_t crc;
    uint32_t slen;              /* summary bytes (written after the message) */
    uint32_t scrc;
    uint32_t npend;
    int32_t err;                /* a write failed: the append can only end */
    uint8_t pend[32];           /* a partial program unit */
};

struct lwm_user_ent {
    uint16_t id;                /* 0: unused */
    char name[LWM_USER_NAME_MAX + 1];
};

struct lwm_store {
    const struct lwm_flash *flash;
    uint8_t mounted;
    uint8_t failed;             /* an I/O error left RAM ahead of flash */
    uint32_t hdr_size;          /* bytes of block header (aligned) */
    uint32_t unit;              /* record alignment = prog_size */
    uint32_t bs, nblk;          /* flash->block_size, ->block_count */
    uint16_t a_size, hs, cs;    /* aligned: block part A, body H and C */
    uint32_t next_seq;
    uint32_t next_mbox_id;
    uint32_t next_uidvalidity;
    uint16_t next_user_id;

    /* meta journal */
    uint32_t meta_blk, meta_off;
    uint32_t meta_floor;        /* seq of the newest complete snapshot */
    uint32_t journal_bytes;     /* written since that snapshot began */
    uint32_t snap_bytes;        /* size of that snapshot */
    uint32_t snap_no;
    /* snapshot in progress (bounded steps) */
    uint8_t snap_active;
    uint8_t snap_phase;
    uint16_t snap_mbox;
    uint32_t snap_uid;
    uint32_t snap_start_blk;

    /* garbage collection */
    uint32_t gc_victim;         /* LWM_NONE if none */
    uint32_t gc_off;            /* scan position in the victim */
    uint8_t gc_forced;
    uint8_t gc_wear;            /* the victim is moved for wear levelling */
    uint8_t gc_stall;           /* no room to compact until a block frees */
    uint32_t gc_src;            /* body being moved (LWM_NONE if none) */
    struct lwm_msg gc_src_msg;  /* its size and chain */
    struct lwm_append gc_copy;  /* the move, written through the GC head */
    uint32_t snap_mbox_id;

    struct lwm_head heads[LWM_STORE_MAX_APPENDS + 1]; /* last: GC */
    struct lwm_append appends[LWM_STORE_MAX_APPENDS];

    struct lwm_store_stats st;

    uint32_t nmsgs;
    uint8_t buf[LWM_STORE_BUF_SIZE];   /* bounce buffer */
    uint8_t rbuf[LWM_STORE_BUF_SIZE];  /* record buffer */
    struct lwm_user_ent users[LWM_STORE_MAX_USERS];
    struct lwm_blk_ent blks[LWM_STORE_MAX_BLOCKS];
    struct lwm_mbox_ent mboxes[LWM_STORE_MAX_MBOXES];
    struct lwm_msg_ent msgs[LWM_STORE_MAX_MSGS];
};

#define LWM_NONE 0xFFFFFFFFu

/* ------------------------------------------------------ life cycle */

/** Erase the whole region and write an empty store. */
int lwm_store_format(struct lwm_store *s, const struct lwm_flash *f);

/** Rebuild the RAM index from flash. LWM_ERR_CORRUPT if no store is found;
 *  damaged records are treated as the end of the log (see FORMAT.md). */
int lwm_store_mount(struct lwm_store *s, const struct lwm_flash *f);

/** Abort open appends and forget the store (flash is always consistent). */
int lwm_store_unmount(struct lwm_store *s);

/** Check every invariant of the RAM index against flash. With
 *  check_bodies, also verify each body's CRC. 0 or LWM_ERR_CORRUPT. */
int lwm_store_check(struct lwm_store *s, int check_bodies);

/** Do one bounded step of background work (erase one block, copy at most
 *  LWM_GC_STEP_BYTES, or write one part of a snapshot). Returns 1 if more
 *  work is pending, 0 if idle, <0 on error. */
int lwm_store_gc_step(struct lwm_store *s);

/** Ask GC to compact even if free space is not low (benchmarks, tests). */
int lwm_store_gc_force(struct lwm_store *s);

void lwm_store_stats(struct lwm_store *s, struct lwm_store_stats *r);

/* ------------------------------------------------------ users */

/** Create a user with INBOX, Sent, Drafts, Trash, Junk and Archive (one
 *  atomic journal group). A name starting with '#' is a system account
 *  (server state, never a login) and gets no mailboxes. Returns the user
 *  id (>0) or an error. */
int lwm_user_create(struct lwm_store *s, const char *name);

/** The id of an existing user (>0), or LWM_ERR_NOENT. */
int lwm_user_find(struct lwm_store *s, const char *name);

/* ------------------------------------------------------ mailboxes */

/** Create mailbox name (UTF-8, '/' separated; "INBOX" is case-insensitive)
 *  for user, creating missing parents. attrs: LWM_MBOX_SPECIAL bits. */
int lwm_mbox_create(struct lwm_store *s, int user, const char *name,
                    size_t len, uint16_t attrs);

/** Delete a mailbox and its messages. A mailbox with children keeps its name
 *  as \Noselect (RFC 3501 6.3.4); INBOX can't be deleted (LWM_ERR_INVAL). */
int lwm_mbox_delete(struct lwm_store *s, int user, const char *name,
                    size_t len);

/** Rename a mailbox and all its children, atomically. Renaming INBOX moves
 *  its messages to the new mailbox and leaves INBOX empty (RFC 3501). */
int lwm_mbox_rename(struct lwm_store *s, int user, const char *from,
                    size_t flen, const char *to, size_t tlen);

int lwm_mbox_subscribe(struct lwm_store *s, int user, const char *name,
                       size_t len, int on);

/** Find a mailbox: returns its slot (>=0) or LWM_ERR_NOENT. */
int lwm_mbox_find(struct lwm_store *s, int user, const char *name,
                  size_t len);

/** Iterate a user's mailboxes: first call with prev = -1; returns the next
 *  slot or LWM_ERR_NOENT at the end. Order: slot order (not sorted). */
int lwm_mbox_next(struct lwm_store *s, int user, int prev);

int lwm_mbox_info(struct lwm_store *s, int mbox, struct lwm_mbox_info *r);

/** Index of keyword name in the mailbox's table; with create, add it if
 *  absent (LWM_ERR_NOMEM when the table is full). */
int lwm_keyword(struct lwm_store *s, int mbox, const char *name, size_t len,
                int create);
/** Name of keyword idx, or NULL. */
const char *lwm_keyword_name(struct lwm_store *s, int mbox, int idx);

/* ------------------------------------------------------ messages */

/** Number of messages in the mailbox. */
uint32_t lwm_msg_count(struct lwm_store *s, int mbox);

/** Message number idx (0-based, UID order) of the mailbox. Reads the body
 *  header from flash for size and date. */
int lwm_msg_get(struct lwm_store *s, int mbox, uint32_t idx,
                struct lwm_msg *r);

/** The RAM index entry of message idx (uid, modseq, flags), without
 *  touching flash; NULL if out of range. Valid until the next change. */
const struct lwm_msg_ent *lwm_msg_entry(struct lwm_store *s, int mbox,
                                        uint32_t idx);

/** 0-based index of uid in the mailbox, or LWM_ERR_NOENT. With
 *  nearest, the index of the first message with UID >= uid (may equal
 *  the count). O(log n). */
int lwm_msg_find(struct lwm_store *s, int mbox, uint32_t uid, int nearest);

/** Read up to len bytes of the message at offset off. Returns bytes read
 *  (0 at the end). */
int lwm_msg_read(struct lwm_store *s, const struct lwm_msg *m, uint32_t off,
                 void *buf, uint32_t len);

/** Read up to len bytes of the message's summary from offset off (see
 *  lwm_append_summary; m->sum_len bytes in all). Returns bytes read. */
int lwm_msg_summary(struct lwm_store *s, const struct lwm_msg *m,
                    uint32_t off, void *buf, uint32_t len);

/** Zero-copy: when the flash is memory-mapped, point *p at the message's
 *  bytes from off; returns the contiguous length (>0), 0 at the end, or
 *  LWM_ERR_INVAL when the flash is not mapped. */
int lwm_msg_ptr(struct lwm_store *s, const struct lwm_msg *m, uint32_t off,
                const uint8_t **p);

/** Start a streamed append into mbox. Returns an append handle (>=0). */
int lwm_append_begin(struct lwm_store *s, int mbox, uint32_t date,
                     uint32_t flags);
/** Like lwm_append_begin, with the expected size when it is known (IMAP
 *  literals, SMTP SIZE=): a message that will span blocks then starts in a
 *  block of its own, which GC can reclaim whole. 0: unknown. */
int lwm_append_begin_sized(struct lwm_store *s, int mbox, uint32_t date,
                           uint32_t flags, uint32_t size_hint);
/** Add bytes to the message being appended. */
int lwm_append_write(struct lwm_store *s, int a, const void *buf,
                     uint32_t len);
/** Store an opaque summary with the message being appended (the IMAP
 *  layer's parsed envelope and MIME structure, so nothing is re-parsed
 *  later). Call after the last lwm_append_write, before the commit; may be
 *  called several times to stream it. At most LWM_SUMMARY_MAX bytes. */
int lwm_append_summary(struct lwm_store *s, int a, const void *buf,
                       uint32_t len);
/** Make the message durable and visible; returns its UID (>0). */
int lwm_append_commit(struct lwm_store *s, int a);
/** Forget the message being appended (its flash space is reclaimed). */
void lwm_append_abort(struct lwm_store *s, int a);

/** Change the flags of the given UIDs (missing ones are skipped) with one
 *  new MODSEQ; returns how many messages changed. */
int lwm_store_flags(struct lwm_store *s, int mbox, const uint32_t *uids,
                    uint32_t n, enum lwm_flags_op op, uint32_t flags);

/** Remove the given UIDs (missing ones are skipped); returns how many. */
int lwm_expunge(struct lwm_store *s, int mbox, const uint32_t *uids,
                uint32_t n);

/** Copy (move = 0) or move (move = 1) the given UIDs to dst atomically. The
 *  new UIDs are consecutive from the returned first UID; *count_r gets how
 *  many were copied. Bodies are shared, not duplicated. */
int lwm_copy(struct lwm_store *s, int src, int dst, const uint32_t *uids,
             uint32_t n, int move, uint32_t *count_r);

#endif /* LWM_STORE_H */
