/*
 * lwmail IMAP - the session: internal definitions shared by the command
 * files (session.c, cmd_*.c, fetch.c) and the server (src/server).
 *
 * One struct imap_sess per connection slot. A command runs as a sequence
 * of steps: each step produces at most what fits in the output buffer
 * (keeping IMAP_TX_RESERVE free for one "atomic" line) and says whether
 * it is done, wants to go on when there is room, or waits for a resource.
 * So a FETCH of a 50 MB message, a SEARCH over thousands of messages or a
 * LIST of every mailbox never holds the loop for more than one step.
 */
#ifndef LWM_IMAP_INT_H
#define LWM_IMAP_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "imap/parse.h"
#include "lwmail/lwm_opts.h"
#include "lwmail/lwm_server.h"
#include "lwmail/lwm_store.h"
#include "mime/mime.h"
#include "search/search.h"

/* Room every step may count on: one status line, a LIST or STATUS line
 * (a mailbox name of LWM_MBOX_NAME_MAX UTF-8 bytes is at most about 4/3
 * times longer in modified UTF-7), a FETCH response's fixed parts. */
#define IMAP_TX_RESERVE 1024
#if LWM_IMAP_TXBUF < 2 * IMAP_TX_RESERVE
#error "LWM_IMAP_TXBUF must be at least 2048"
#endif
#if LWM_IMAP_RX_OWN < 512 || LWM_IMAP_RX_OWN > LWM_IMAP_RXBUF
#error "LWM_IMAP_RX_OWN must be from 512 to LWM_IMAP_RXBUF"
#endif
#if LWM_IMAP_RX_OWN < LWM_IMAP_RXBUF && LWM_IMAP_RX_LONG < 1
#error "LWM_IMAP_RX_OWN < LWM_IMAP_RXBUF needs LWM_IMAP_RX_LONG >= 1"
#endif

#define IMAP_TAG_MAX 64          /* longer tags are refused */
#define IMAP_PATH_MAX 8          /* section part numbers: 1.2.3.4.5.6.7.8 */

/* Results of a command step */
#define STEP_DONE  0             /* tagged response sent */
#define STEP_MORE  1             /* call again when there is room */
#define STEP_WAIT  2             /* waiting for a resource: retried by poll */
#define STEP_INPUT 3             /* waiting for the client's next line */

enum sess_state {
    SS_FREE = 0,
    SS_NOAUTH,
    SS_AUTH,
    SS_SELECTED,
    SS_LOGOUT                    /* BYE sent, closing when flushed */
};

/* What the receive side is doing besides parsing commands */
enum rx_mode {
    RX_CMD = 0,                  /* commands are parsed from rx[] */
    RX_APPEND,                   /* literal bytes go to the store */
    RX_DISCARD,                  /* literal bytes are dropped */
    RX_SKIPLINE                  /* drop up to and including the next LF */
};

/* Expunges not yet announced: a run of n view messages, adjacent in the
 * view, whose UIDs were lo .. hi and which are gone from the store. */
struct exp_run {
    uint32_t lo, hi, n;
};

/* The selected mailbox as this session's client knows it: store messages
 * with uid < uidnext, plus the runs of expunged ones not yet announced. */
struct imap_view {
    int mbox;                    /* store slot */
    uint32_t mbox_id;
    uint32_t uidvalidity;
    uint32_t uidnext;            /* messages from here on not announced */
    uint32_t modseq;             /* flag changes up to here announced */
    uint32_t exists;             /* count last announced */
    uint32_t all_gone;           /* RENAME INBOX: the count before it */
    uint32_t scan;               /* flag announcement resumes at this
                                    UID (0: from the start) */
    uint16_t nruns;
    uint8_t readonly;            /* EXAMINE */
    uint8_t lost;                /* runs overflowed: must BYE */
    struct exp_run runs[LWM_IMAP_EXPUNGE_RUNS];
};

/* Fetch attributes */
enum fetch_kind {
    FA_UID = 1, FA_FLAGS, FA_INTERNALDATE, FA_SIZE, FA_ENVELOPE,
    FA_BODY, FA_BODYSTRUCTURE, FA_SECTION, FA_BINARY_SIZE,
    FA_RFC822, FA_RFC822_HEADER, FA_RFC822_TEXT
};
enum fetch_sec {
    SEC_ALL = 0, SEC_HEADER, SEC_TEXT, SEC_MIME, SEC_FIELDS, SEC_FIELDS_NOT
};
#define FAF_PEEK    0x01
#define FAF_BINARY  0x02
#define FAF_PARTIAL 0x04

struct fetch_att {
    uint8_t kind;
    uint8_t sec;
    uint8_t flags;
    uint8_t npath;
    uint16_t path[IMAP_PATH_MAX];
    uint32_t part_off, part_len; /* <off.len> */
    uint32_t sec_off, sec_len;   /* the section text as sent, echoed */
    uint32_t fld_off, fld_len;   /* HEADER.FIELDS: the names' list */
};

/* An output stream: bytes copied from flash into the response */
enum stream_src { SRC_NONE = 0, SRC_MSG, SRC_SUM, SRC_FIELDS, SRC_DECODE,
                  SRC_PAD };

struct fetch_state {
    uint32_t cursor;             /* last seq or UID done */
    uint32_t idx;                /* store index of the current message */
    uint32_t seq;
    uint8_t uid;                 /* UID FETCH */
    uint8_t natts;
    uint8_t att;                 /* next attribute of the current msg */
    uint8_t in_msg;              /* "* n FETCH (" sent */
    uint8_t set_seen;            /* a non-PEEK body part was asked for */
    uint8_t seen_now;            /* \Seen was set on the current message */
    uint8_t have_sum;            /* 0 not read, 1 valid, 2 none/bad */
    uint8_t has_flags;           /* FLAGS is among the attributes */
    uint8_t gone;                /* the message was expunged mid-way */
    uint32_t epoch;              /* srv_epoch() when msg was last found */
    uint32_t step_read;          /* flash bytes read in this step */
    uint16_t set_tok;
    /* the literal being streamed */
    uint8_t src;                 /* enum stream_src */
    uint8_t counting;            /* HEADER.FIELDS: first pass, sizing */
    uint32_t off, end;           /* source range still to read */
    uint32_t skip;               /* output bytes to drop (partial) */
    uint32_t left;               /* output bytes still to send */
    uint32_t count;              /* HEADER.FIELDS: size found by pass 1 */
    uint32_t rng_off, rng_len;   /* HEADER.FIELDS: the header's range */
    /* HEADER.FIELDS filter */
    uint8_t fl_state, fl_keep, fl_nlen;
    struct lwm_msg msg;          /* the current message */
    struct lwm_mime_sum sum;
    char fl_name[80];
    struct lwm_mime_dec dec;
    struct fetch_att atts[LWM_IMAP_FETCH_ATTS];
};

struct imap_sess {
    uint8_t state;               /* enum sess_state */
    uint8_t rx_mode;             /* enum rx_mode */
    uint8_t rev2;                /* ENABLE IMAP4rev2 */
    uint8_t busy;                /* a command is running */
    uint8_t idling;              /* in IDLE, waiting for DONE */
    uint8_t notify;              /* another session changed something */
    uint8_t closing;             /* close once output is flushed */
    uint8_t utf8;                /* ENABLE UTF8=ACCEPT (implied by rev2) */
    uint8_t in_append;           /* u.ap holds store/MIME slots */
    uint8_t in_search;           /* u.se holds a search slot */
    uint8_t lit_refused;         /* lit_refuse() done for this command */
    uint8_t starttls;            /* STARTTLS answered: TLS begins once
                                    that OK is flushed */
    uint16_t user;               /* store user id */
    uint16_t slot;               /* index in lwm_the_server.sess (kept
                                    while the slot is free) */
    void *conn;                  /* the port's handle */
    uint32_t last_ms;            /* last input or output (idle timeout) */
    uint32_t tx_ms;              /* output last taken, or none pending */
    uint32_t cmd_len;            /* bytes of the running command in rx */
    uint64_t lit_left;           /* RX_APPEND/RX_DISCARD: bytes to go */
    int (*step)(struct imap_sess *s);

    /* per-command state */
    union {
        struct fetch_state f;
        struct auth_login au;    /* LOGIN, AUTHENTICATE: the check */
        struct {
            int append;          /* store append handle */
            int mime;            /* parser slot, -1 none */
            int mbox;
            uint32_t size;
            int err;             /* a failure while streaming */
            uint8_t binary;      /* literal8 */
        } ap;
        struct {
            int prev;            /* mailbox iteration */
            uint8_t lsub;
            uint8_t ret_status;  /* RETURN (STATUS (...)) */
            uint16_t status_tok;
            uint8_t sel_sub;     /* SELECT (SUBSCRIBED) */
            uint8_t ret_sub;
            uint8_t sel_special;
            uint16_t pat_tok, npat;
            char ref[LWM_MBOX_NAME_MAX + 1];
        } ls;
        struct {
            uint32_t cursor;     /* last seq/UID applied */
            uint32_t emit;       /* last seq/UID answered */
            uint32_t applied;    /* messages in the batch applied */
            uint16_t set_tok;
            uint8_t uid;
            uint8_t silent;
            uint8_t op;
            uint32_t flags;
            int dst;             /* COPY/MOVE target slot */
            uint32_t dst_first, dst_last, src_lo, src_hi;
            uint16_t src_len;
            uint8_t cu_lost;     /* COPYUID too long to send */
            uint8_t move;
            uint32_t dst_id;     /* COPY/MOVE target's id (slot reuse) */
            uint32_t limit;      /* UIDs from here on came in during the
                                    command (MOVE into the same mailbox) */
            uint8_t nur;         /* MOVE by seq: the set as UID ranges */
            uint32_t ur[16][2];
            char src[200];       /* COPYUID source set so far */
        } st;
        struct {
            int slot;            /* search program slot */
            uint32_t last_uid;   /* the last message started */
            uint32_t off;        /* bytes fed of the current message */
            uint8_t uid;
            uint8_t esearch;
            uint8_t opts;        /* RETURN (MIN MAX COUNT ALL SAVE) */
            uint8_t in_msg;
            uint32_t count, min, max;
            uint32_t cur;        /* seq or UID of the current message */
            uint32_t r_end;      /* end of the byte range being fed */
            uint16_t part;       /* next part table entry to look at */
            uint16_t nparts;     /* 0: no part table, feed everything */
            uint8_t sub;         /* 0: that part's header next, 1: body */
            uint32_t run_lo, run_hi; /* ESEARCH ALL: the open range */
            uint8_t any;
            struct lwm_msg msg;
        } se;
    } u;

    uint32_t peer_hash;          /* FNV-1a of the client's address text
                                    (login throttling, pre-auth limits) */
    uint32_t open_ms;            /* when the connection was accepted */
    uint32_t closing_ms;         /* when closing was first seen */
    uint8_t closing_seen;
    uint8_t closing_forced;      /* the goodbye was not taken in time */
    uint32_t sync_sent;          /* "+" sent for the command being read */

    /* the running command */
    struct lwm_cmd cmd;
    struct lwm_tok toks[LWM_IMAP_MAX_TOKS];
    char tag[IMAP_TAG_MAX + 1];
    uint8_t tag_len;
    uint8_t allow_expunge;       /* may announce EXPUNGE at its end */
    uint8_t uses_view;           /* its steps work on the selected mbox */
    uint8_t finishing;           /* announcing updates before done[] */
    uint16_t done_len;
    char done[512];              /* the tagged response, sent after the
                                    untagged updates at the command's end */

    struct imap_view view;

};

/* ------------------------------------------------ shared server state */

struct lwm_server {
    /* small and often used first: near the start, a field's offset fits
     * in the short forms of Thumb loads and stores */
    const struct lwm_server_cfg *cfg;
    struct lwm_store *store;
    uint32_t rx_len[LWM_MAX_SESSIONS];
    uint32_t tx_head[LWM_MAX_SESSIONS], tx_len[LWM_MAX_SESSIONS];
    uint32_t next_poll_ms;
    uint16_t nsess;
    uint8_t waiting;                     /* a step yielded: come back now */
    uint8_t res_wait;                    /* a step waits for a resource */
    uint32_t changes;                    /* srv_changed & co. so far */
    uint8_t mime_used[LWM_IMAP_MIME_SLOTS];
    uint8_t search_used[LWM_IMAP_SEARCH_SLOTS];
    uint32_t batch[LWM_IMAP_BATCH];      /* UID arrays for store calls */
    struct lwm_mime mime[LWM_IMAP_MIME_SLOTS];
    struct lwm_search_prog search[LWM_IMAP_SEARCH_SLOTS];
    struct imap_sess sess[LWM_MAX_SESSIONS];
#if LWM_IMAP_RX_LONG
    uint8_t rx_long_of[LWM_MAX_SESSIONS];   /* 1 + which long buffer, 0:
                                               its own (LWM_IMAP_RX_OWN) */
    uint8_t rx_long_used[LWM_IMAP_RX_LONG];
    uint32_t rx_long_ms[LWM_MAX_SESSIONS];     /* when it was lent */
    uint32_t rx_long_ticket[LWM_MAX_SESSIONS]; /* waiting for one: its turn
                                                  (0: not waiting) */
    uint32_t rx_long_tickets;                  /* tickets given so far */
#endif
    /* receive buffers: each session's own, and the shared ones a long
     * command borrows (sess_rx, sess_rx_cap) */
    uint8_t rx[LWM_MAX_SESSIONS][LWM_IMAP_RX_OWN];
#if LWM_IMAP_RX_LONG
    uint8_t rx_long[LWM_IMAP_RX_LONG][LWM_IMAP_RXBUF];
#endif
    uint8_t tx[LWM_MAX_SESSIONS][LWM_IMAP_TXBUF];
};

extern struct lwm_server lwm_the_server;

/* ------------------------------------------------ session.c */

/** The server a session belongs to (the one static server) */
static inline struct lwm_server *sess_srv(struct imap_sess *s)
{
    (void)s;
    return &lwm_the_server;
}
/** The session's receive buffer: its own, or the shared one its long
 *  command borrowed. Tokens are offsets into it, so a command keeps them
 *  across the switch; pointers into it are good only until the session
 *  next reads or returns to sess_run. */
uint8_t *sess_rx(struct imap_sess *s);
/** Bytes sess_rx() holds: LWM_IMAP_RX_OWN or LWM_IMAP_RXBUF */
uint32_t sess_rx_cap(struct imap_sess *s);
size_t tx_free(struct imap_sess *s);
/** Drop n bytes (at most all) from the front of the receive buffer */
void rx_drop(struct imap_sess *s, size_t n);
void out_raw(struct imap_sess *s, const void *p, size_t n);
void out_str(struct imap_sess *s, const char *str);
void out_u32(struct imap_sess *s, uint32_t v);
/** Output formatted by lwm_vfmt (src/util/lwm_util.h: %s %b %u %U %c) */
void out_fmt(struct imap_sess *s, const char *fmt, ...);
int cmd_is(struct imap_sess *s, const char *word);
void sess_open(struct imap_sess *s, void *conn, uint32_t peer_hash,
               uint32_t now);
/** Queue the greeting (once the transport is chosen) and run. */
void sess_greet(struct imap_sess *s);
void sess_free(struct imap_sess *s);
void sess_run(struct imap_sess *s);
void sess_input(struct imap_sess *s, const uint8_t *p, size_t n);
size_t sess_rx_room(struct imap_sess *s);
void sess_tick(struct imap_sess *s, uint32_t now);
void sess_shutdown(struct imap_sess *s);

/** The command's tagged response "tag OK|NO|BAD text" (text may hold a
 *  response code). It is sent after any untagged updates; returns
 *  STEP_DONE. resp_fmt: the status and text formatted as by out_fmt. */
int resp_ok(struct imap_sess *s, const char *text);
int resp_no(struct imap_sess *s, const char *text);
int resp_bad(struct imap_sess *s, const char *text);
int resp_fmt(struct imap_sess *s, const char *fmt, ...);
/** "OK <command> completed", the command's name (after UID: the
 *  sub-command's) upper-cased */
int resp_done(struct imap_sess *s);
/** String value as atom, quoted string or literal */
void out_astring(struct imap_sess *s, const uint8_t *p, size_t n);
void out_quoted(struct imap_sess *s, const uint8_t *p, size_t n);
/** A mailbox name (UTF-8 in the store) in the session's wire form */
void out_mbox(struct imap_sess *s, const char *name);
void out_flags(struct imap_sess *s, int mbox, uint32_t flags);
/** A log line about the session, formatted as by out_fmt */
void sess_logf(struct imap_sess *s, int level, const char *fmt, ...);

/** The value of token t as a NUL-terminated string; -1 if it is not a
 *  string, is too long or holds a NUL. */
int tok_string(struct imap_sess *s, const struct lwm_tok *t, char *out,
               size_t cap);
/** Token t is an atom equal (case-insensitively) to word */
int tok_is(struct imap_sess *s, const struct lwm_tok *t, const char *word);
/** Which of words (back to back, each NUL-terminated, ending with an empty
 *  one: "A\0B\0") token t is, as tok_is; -1 if none */
int tok_which(struct imap_sess *s, const struct lwm_tok *t,
              const char *words);
/** A mailbox name argument: string value, decoded from modified UTF-7 for
 *  IMAP4rev1 clients. Returns the UTF-8 length or < 0. */
int tok_mbox(struct imap_sess *s, const struct lwm_tok *t, char *out,
             size_t cap);
/** Parse a flag list/atom (for STORE, APPEND). 0 or -1 (BAD); keywords
 *  are created in mbox when create is set. */
int parse_flags(struct imap_sess *s, int mbox, const struct lwm_tok *t,
                size_t ntoks, uint32_t *flags, int create);

/** Store error -> tagged NO with the RFC 5530 code */
int resp_store_err(struct imap_sess *s, int err, const char *what);

/* the view */
uint32_t view_visible(struct imap_sess *s);   /* store msgs in the view */
uint32_t view_count(struct imap_sess *s);     /* as the client knows it */
/** seq -> store index: 1 found, 0 expunged (pending), -1 out of range */
int view_seq_idx(struct imap_sess *s, uint32_t seq, uint32_t *idx);
uint32_t view_idx_seq(struct imap_sess *s, uint32_t idx);
/** Next message of a sequence set (seq or UID) after *cursor: returns 1
 *  and the store index/seq, 0 at the end. */
int view_set_next(struct imap_sess *s, uint16_t set_tok, int uid,
                  uint32_t *cursor, uint32_t *idx, uint32_t *seq);
/** Validate a sequence set token for the view: 0 ok, else BAD sent */
int view_set_check(struct imap_sess *s, uint16_t tok, int uid);
/** Untagged updates (EXPUNGE if allowed, FETCH FLAGS, EXISTS); returns
 *  STEP_DONE when everything is announced, STEP_MORE if out of room. */
int view_announce(struct imap_sess *s, int allow_expunge);
/** lwm_store_flags on the view's mailbox for this session's command
 *  (which answers the change itself): returns its result. */
int view_store_flags(struct imap_sess *s, const uint32_t *uids, uint32_t n,
                     int op, uint32_t flags);
void view_close(struct imap_sess *s);

/* ------------------------------------------------ server.c */

/** Tell every session with mbox selected that these UIDs are gone. */
void srv_expunged(struct lwm_server *srv, int mbox, const uint32_t *uids,
                  uint32_t n);
/** Every message of mbox left it (RENAME INBOX): with apply 0, before
 *  the change, each view notes its count; with 1, all are expunged. */
void srv_all_expunged(struct lwm_server *srv, int mbox, int apply);
/** Something changed in mbox (flags, new mail): wake IDLE sessions. */
void srv_changed(struct lwm_server *srv, int mbox);
/** The mailbox was deleted: sessions with it selected are ended. */
void srv_mbox_gone(struct lwm_server *srv, int mbox);
int srv_mime_get(struct lwm_server *srv);
void srv_mime_put(struct lwm_server *srv, int slot);
int srv_search_get(struct lwm_server *srv);
void srv_search_put(struct lwm_server *srv, int slot);
uint32_t srv_now(struct lwm_server *srv);
/** Changes whenever a message may have gone or a body moved (a change
 *  announced to sessions, a flash erase, a GC move). */
uint32_t srv_epoch(struct lwm_server *srv);
/** The session is closing: last words of the transport (TLS
 *  close_notify) before the port closes the connection. */
void srv_conn_closing(struct lwm_server *srv, int slot);
/** The slot is being freed: drop its transport state. */
void srv_conn_release(struct lwm_server *srv, int slot);
/** Start TLS on the slot (STARTTLS, its OK flushed); < 0 if impossible. */
int srv_starttls(struct lwm_server *srv, int slot);
/** Does the slot use TLS? / Is TLS configured at all? */
int srv_tls_on(struct lwm_server *srv, int slot);
int srv_tls_ready(struct lwm_server *srv);
/** Does the transport still hold output the port has not taken (the rest
 *  of a TLS record)? A closing session waits for it. */
int srv_conn_flushing(struct lwm_server *srv, int slot);
/** Drop the connection now, without a word (transport failure). */
void srv_conn_abort(struct lwm_server *srv, int slot);
/** Send through the connection's transport (plain or TLS); how many
 *  bytes were taken, < 0 if the connection is dead. */
int srv_conn_send(struct lwm_server *srv, int slot, const uint8_t *p,
                  size_t len);
void srv_log(struct lwm_server *srv, int level, int conn, const char *msg);
/** A log line formatted as by out_fmt (at most 159 bytes, cut) */
void srv_logf(struct lwm_server *srv, int level, int conn, const char *fmt,
              ...);
void srv_vlogf(struct lwm_server *srv, int level, int conn, const char *fmt,
               va_list ap);

/* ------------------------------------------------ commands */

typedef int (*cmd_fn)(struct imap_sess *s);
/* A command's flags, in the byte that also holds the bits of the states
 * it is allowed in (1 << SS_*: 0x01 to 0x10) */
#define CMDF_NO_EXPUNGE 0x40     /* FETCH, STORE, SEARCH (not UID ...) */
#define CMDF_VIEW       0x80     /* works on the selected mailbox */

int cmd_capability(struct imap_sess *s);
int cmd_noop(struct imap_sess *s);
int cmd_logout(struct imap_sess *s);
int cmd_starttls(struct imap_sess *s);
int cmd_login(struct imap_sess *s);
int cmd_authenticate(struct imap_sess *s);
int cmd_enable(struct imap_sess *s);
int cmd_id(struct imap_sess *s);
int cmd_namespace(struct imap_sess *s);
int cmd_idle(struct imap_sess *s);
/* A line arrived during IDLE (DONE, or anything else: BAD); the caller
 * drops it from the buffer. */
void idle_done(struct imap_sess *s, const uint8_t *line, size_t len);
int cmd_select(struct imap_sess *s);
int cmd_create(struct imap_sess *s);
int cmd_delete(struct imap_sess *s);
int cmd_rename(struct imap_sess *s);
int cmd_subscribe(struct imap_sess *s);
int cmd_list(struct imap_sess *s);
int cmd_status(struct imap_sess *s);
int cmd_close(struct imap_sess *s);
int cmd_expunge(struct imap_sess *s);
int cmd_store(struct imap_sess *s);
int cmd_copy(struct imap_sess *s);
int cmd_search(struct imap_sess *s);
int cmd_fetch(struct imap_sess *s);
int cmd_uid(struct imap_sess *s);
/* APPEND: started from the literal (streamed) or a whole command */
int append_start(struct imap_sess *s, int streamed);
void append_input(struct imap_sess *s, const uint8_t *p, size_t n);
void append_abort(struct imap_sess *s);
int cmd_append(struct imap_sess *s);
/* Refuse the literal announced by a LWM_PARSE_LITERAL command: drop the
 * command's bytes; a non-synchronizing literal is read and dropped. */
void lit_refuse(struct imap_sess *s);

const char *capability_string(struct imap_sess *s);

#endif /* LWM_IMAP_INT_H */
