/*
 * lwmail IMAP - the session: receive side, command loop, output buffer,
 * and the view of the selected mailbox (sequence numbers, untagged
 * updates). See imap_int.h for the step model.
 */
#include <string.h>

#include "imap/args.h"
#include "imap/imap_int.h"
#include "imap/mutf7.h"
#include "util/lwm_util.h"

/* ------------------------------------------------------------ helpers */

/* The session's slot: set at lwm_server_init and kept through every reset
 * (sess_open, sess_free) */
static int sess_no(struct imap_sess *s)
{
    return s->slot;
}

uint8_t *sess_rx(struct imap_sess *s)
{
#if LWM_IMAP_RX_LONG
    int b = lwm_the_server.rx_long_of[sess_no(s)];
    if (b)
        return lwm_the_server.rx_long[b - 1];
#endif
    return lwm_the_server.rx[sess_no(s)];
}

uint32_t sess_rx_cap(struct imap_sess *s)
{
#if LWM_IMAP_RX_LONG
    if (lwm_the_server.rx_long_of[sess_no(s)])
        return LWM_IMAP_RXBUF;
#endif
    (void)s;
    return LWM_IMAP_RX_OWN;
}

/* The most a command of this session may take in the receive buffer:
 * a logged-in session may borrow a long buffer, one before login not. */
static uint32_t rx_cap_max(struct imap_sess *s)
{
    return s->state == SS_AUTH || s->state == SS_SELECTED ? LWM_IMAP_RXBUF
                                                          : sess_rx_cap(s);
}

#if LWM_IMAP_RX_LONG
/* Put buffer b under session k: its bytes are copied over at the same
 * offsets, so tokens (offsets) stay good. */
static void rx_lend(int k, int b)
{
    struct lwm_server *srv = &lwm_the_server;
    srv->rx_long_used[b] = 1;
    srv->rx_long_of[k] = (uint8_t)(b + 1);
    srv->rx_long_ms[k] = srv_now(srv);
    srv->rx_long_ticket[k] = 0;
    memcpy(srv->rx_long[b], srv->rx[k], srv->rx_len[k]);
}

/* Move the session's buffer into a free long one: 1 done, 0 all are taken.
 * Then the session queues for one (a ticket: first come, first served)
 * and reads nothing meanwhile; rx_return hands a buffer given back
 * straight to the oldest ticket, so no one polls for it. */
static int rx_borrow(struct imap_sess *s)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s), b;
    for (b = 0; b < LWM_IMAP_RX_LONG; b++) {
        if (!srv->rx_long_used[b]) {
            rx_lend(k, b);
            return 1;
        }
    }
    if (!srv->rx_long_ticket[k])
        srv->rx_long_ticket[k] = ++srv->rx_long_tickets;
    /* waiting is not idling: its client cannot send until it is served,
     * and rx_long_ms bounds how long the holders keep it waiting */
    s->last_ms = srv_now(srv);
    return 0;
}

/* Give a borrowed buffer back once what is left fills at most half the
 * session's own (half: a buffer given back full would be borrowed again
 * at once), or the session is gone; it goes to the oldest waiter, if any.
 * Only where no pointer into the buffer is held: the end of sess_run,
 * sess_free. */
static void rx_return(struct imap_sess *s)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s), b = srv->rx_long_of[k], w, next = -1;
    if (!b || srv->rx_len[k] > LWM_IMAP_RX_OWN / 2)
        return;
    memcpy(srv->rx[k], srv->rx_long[b - 1], srv->rx_len[k]);
    srv->rx_long_used[b - 1] = 0;
    srv->rx_long_of[k] = 0;
    for (w = 0; w < LWM_MAX_SESSIONS; w++)
        if (srv->rx_long_ticket[w] &&
            (next < 0 || (int32_t)(srv->rx_long_ticket[w] -
                                   srv->rx_long_ticket[next]) < 0))
            next = w;
    if (next >= 0) {
        rx_lend(next, b - 1);
        srv->waiting = 1;       /* the poll runs it (and reads for it) now */
    }
}

/* A long buffer held for a command the client does not finish: after
 * LWM_IMAP_RX_LONG_HOLD_MS the session is ended, so a client that sends
 * half a long line and then a byte now and then cannot keep it. */
static int rx_held_too_long(struct imap_sess *s, uint32_t now)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s);
    return srv->rx_long_of[k] && !s->busy && s->rx_mode == RX_CMD &&
           (uint32_t)(now - srv->rx_long_ms[k]) > LWM_IMAP_RX_LONG_HOLD_MS;
}
#else
static int rx_borrow(struct imap_sess *s)
{
    (void)s;
    return 0;
}
#define rx_return(s) ((void)(s))
#define rx_held_too_long(s, now) 0
#endif

/* ------------------------------------------------------------ output */

size_t tx_free(struct imap_sess *s)
{
    return LWM_IMAP_TXBUF - lwm_the_server.tx_len[sess_no(s)];
}

void out_raw(struct imap_sess *s, const void *p, size_t n)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s);
    uint8_t *tx = srv->tx[k];
    if (n > LWM_IMAP_TXBUF - srv->tx_len[k]) {
        /* a step wrote more than it checked for: a bug, not the peer's
         * fault; end the session rather than send a broken response */
        srv_log(srv, LWM_LOG_ERR, k, "output overflow, closing");
        s->closing = 1;
        return;
    }
    if (srv->tx_head[k] + srv->tx_len[k] + n > LWM_IMAP_TXBUF) {
        memmove(tx, tx + srv->tx_head[k], srv->tx_len[k]);
        srv->tx_head[k] = 0;
    }
    memcpy(tx + srv->tx_head[k] + srv->tx_len[k], p, n);
    srv->tx_len[k] += (uint32_t)n;
}

void out_str(struct imap_sess *s, const char *str)
{
    out_raw(s, str, strlen(str));
}

static void out_put(void *ctx, const char *p, size_t n)
{
    out_raw(ctx, p, n);
}

void out_fmt(struct imap_sess *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lwm_vfmt(out_put, s, fmt, ap);
    va_end(ap);
}

void out_u32(struct imap_sess *s, uint32_t v)
{
    out_fmt(s, "%u", v);
}

void out_quoted(struct imap_sess *s, const uint8_t *p, size_t n)
{
    size_t i, start = 0;
    out_raw(s, "\"", 1);
    for (i = 0; i < n; i++) {
        if (p[i] == '"' || p[i] == '\\') {
            out_raw(s, p + start, i - start);
            out_raw(s, "\\", 1);
            start = i;
        }
    }
    out_raw(s, p + start, n - start);
    out_raw(s, "\"", 1);
}

void out_astring(struct imap_sess *s, const uint8_t *p, size_t n)
{
    int form = lwm_imap_string_form(p, n);
    if (form == 'A') {
        out_raw(s, p, n);
    } else if (form == 'Q' ||
               (s->utf8 && n <= 1024 && !memchr(p, '\r', n) &&
                !memchr(p, '\n', n) && !memchr(p, 0, n))) {
        out_quoted(s, p, n);
    } else {
        out_fmt(s, "{%u}\r\n%b", (uint32_t)n, p, n);
    }
}

void out_mbox(struct imap_sess *s, const char *name)
{
    char enc[4 * LWM_MBOX_NAME_MAX + 8];
    int n;
    if (s->utf8) {
        out_astring(s, (const uint8_t *)name, strlen(name));
        return;
    }
    n = lwm_mutf7_encode(name, strlen(name), enc, sizeof enc);
    if (n < 0) {
        /* the store only holds valid UTF-8 names; never send garbage */
        out_str(s, "\"\"");
        return;
    }
    out_astring(s, (const uint8_t *)enc, (size_t)n);
}

void out_flags(struct imap_sess *s, int mbox, uint32_t flags)
{
    const char *sep = "";
    int i;
    out_raw(s, "(", 1);
    for (i = 0; i < 5 + LWM_KEYWORDS_MAX; i++) {
        const char *name;
        if (!(flags >> i & 1u))
            continue;
        name = i < 5 ? lwm_str_at(lwm_imap_flag_names, (size_t)i)
                     : lwm_keyword_name(sess_srv(s)->store, mbox, i - 5);
        if (!name)
            continue;
        out_fmt(s, "%s%s", sep, name);
        sep = " ";
    }
    out_raw(s, ")", 1);
}

/* The tagged response is kept in done[] until the untagged updates are
 * out; one that does not fit is cut (only an optional response code such
 * as a long COPYUID can get there, and its writer keeps it short). */
static void done_put(void *ctx, const char *p, size_t n)
{
    struct imap_sess *s = ctx;
    /* keep room for CRLF */
    if (n > sizeof s->done - 2u - s->done_len)
        n = sizeof s->done - 2u - s->done_len;
    memcpy(s->done + s->done_len, p, n);
    s->done_len = (uint16_t)(s->done_len + n);
}

static int resp_vfmt(struct imap_sess *s, const char *fmt, va_list ap)
{
    s->done_len = 0;
    done_put(s, s->tag, s->tag_len);
    done_put(s, " ", 1);
    lwm_vfmt(done_put, s, fmt, ap);
    memcpy(s->done + s->done_len, "\r\n", 2);
    s->done_len = (uint16_t)(s->done_len + 2);
    return STEP_DONE;
}

int resp_fmt(struct imap_sess *s, const char *fmt, ...)
{
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = resp_vfmt(s, fmt, ap);
    va_end(ap);
    return r;
}

int resp_ok(struct imap_sess *s, const char *text)
{
    return resp_fmt(s, "OK %s", text);
}

int resp_no(struct imap_sess *s, const char *text)
{
    return resp_fmt(s, "NO %s", text);
}

int resp_bad(struct imap_sess *s, const char *text)
{
    return resp_fmt(s, "BAD %s", text);
}

int resp_done(struct imap_sess *s)
{
    const uint8_t *p = sess_rx(s) + s->cmd.name_off;
    size_t n = s->cmd.name_len, i;
    char name[16];
    if (cmd_is(s, "UID")) {
        p = sess_rx(s) + s->toks[0].off;
        n = s->toks[0].len;
    }
    if (n > sizeof name)
        n = sizeof name;        /* names are known commands: never */
    for (i = 0; i < n; i++)
        name[i] = (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 : p[i]);
    return resp_fmt(s, "OK %b completed", name, n);
}

int resp_store_err(struct imap_sess *s, int err, const char *what)
{
    /* the RFC 5530 response code of each error, in the same order */
    static const signed char errs[] = {
        LWM_ERR_NOENT, LWM_ERR_EXIST, LWM_ERR_NOSPC, LWM_ERR_NOMEM,
        LWM_ERR_NAMETOOLONG, LWM_ERR_FBIG, LWM_ERR_BUSY, LWM_ERR_NOTEMPTY,
        LWM_ERR_INVAL, LWM_ERR_IO, LWM_ERR_CORRUPT
    };
    static const char codes[] =
        "[NONEXISTENT] \0[ALREADYEXISTS] \0[OVERQUOTA] \0[LIMIT] \0"
        "[LIMIT] \0[TOOBIG] \0[INUSE] \0[CANNOT] \0[CANNOT] \0"
        "[SERVERBUG] \0[SERVERBUG] ";
    const char *code = "";
    size_t i;
    for (i = 0; i < sizeof errs; i++)
        if (errs[i] == err)
            code = lwm_str_at(codes, i);
    return resp_fmt(s, "NO %s%s: %s", code, what, lwm_strerror(err));
}

void sess_logf(struct imap_sess *s, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    srv_vlogf(sess_srv(s), level, sess_no(s), fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ tokens */

int tok_string(struct imap_sess *s, const struct lwm_tok *t, char *out,
               size_t cap)
{
    return lwm_imap_string_value(sess_rx(s), t, out, cap);
}

int tok_is(struct imap_sess *s, const struct lwm_tok *t, const char *word)
{
    size_t n = strlen(word);
    return t->type == LWM_TOK_ATOM && t->len == n &&
           lwm_ieq(sess_rx(s) + t->off, word, n);
}

int tok_which(struct imap_sess *s, const struct lwm_tok *t,
              const char *words)
{
    int i;
    for (i = 0; *words; i++, words += strlen(words) + 1)
        if (tok_is(s, t, words))
            return i;
    return -1;
}

int tok_mbox(struct imap_sess *s, const struct lwm_tok *t, char *out,
             size_t cap)
{
    char raw[4 * LWM_MBOX_NAME_MAX + 8];
    int n = tok_string(s, t, raw, sizeof raw);
    if (n < 0)
        return n == -1 && t->len >= sizeof raw ? LWM_ERR_NAMETOOLONG
                                                : LWM_ERR_INVAL;
    if (s->utf8) {
        char chk[4 * LWM_MBOX_NAME_MAX + 8];
        if ((size_t)n >= cap)
            return LWM_ERR_NAMETOOLONG;
        /* encoding checks the UTF-8 is well formed */
        if (lwm_mutf7_encode(raw, (size_t)n, chk, sizeof chk) < 0)
            return LWM_ERR_INVAL;
        memcpy(out, raw, (size_t)n + 1);
        return n;
    }
    return lwm_mutf7_decode(raw, (size_t)n, out, cap);
}

int parse_flags(struct imap_sess *s, int mbox, const struct lwm_tok *t,
                size_t ntoks, uint32_t *flags, int create)
{
    struct lwm_store *st = sess_srv(s)->store;
    size_t i;
    *flags = 0;
    for (i = 0; i < ntoks; i++) {
        const uint8_t *p = sess_rx(s) + t[i].off;
        int j;
        if (t[i].type != LWM_TOK_ATOM)
            return -1;
        j = tok_which(s, &t[i], lwm_imap_flag_names);
        if (j >= 0) {
            *flags |= 1u << j;
            continue;
        }
        if (tok_is(s, &t[i], "\\Recent"))
            continue;           /* not tracked; RFC: ignore it on STORE */
        if (p[0] == '\\')
            return -1;          /* an unknown system flag: BAD */
        {
            size_t k;
            for (k = 0; k < t[i].len; k++)
                if (p[k] == '[' || p[k] == ']' || p[k] >= 0x80 ||
                    p[k] == '%' || p[k] == '*')
                    return -1;
        }
        j = lwm_keyword(st, mbox, (const char *)p, t[i].len, create);
        if (j >= 0)
            *flags |= LWM_FLAG_KEYWORD(j);
        else if (create)
            return -2;          /* keyword table full */
    }
    return 0;
}

/* ------------------------------------------------------------ the view */

uint32_t view_visible(struct imap_sess *s)
{
    struct lwm_store *st = sess_srv(s)->store;
    int r = lwm_msg_find(st, s->view.mbox, s->view.uidnext, 1);
    return r < 0 ? 0 : (uint32_t)r;
}

uint32_t view_count(struct imap_sess *s)
{
    uint32_t n = view_visible(s);
    uint16_t i;
    for (i = 0; i < s->view.nruns; i++)
        n += s->view.runs[i].n;
    return n;
}

int view_seq_idx(struct imap_sess *s, uint32_t seq, uint32_t *idx)
{
    struct lwm_store *st = sess_srv(s)->store;
    uint32_t before = 0;        /* expunged view messages before here */
    uint16_t i;
    if (seq == 0)
        return -1;
    for (i = 0; i < s->view.nruns; i++) {
        const struct exp_run *r = &s->view.runs[i];
        int k = lwm_msg_find(st, s->view.mbox, r->lo, 1);
        uint32_t pos = (uint32_t)(k < 0 ? 0 : k) + before + 1;
        if (seq < pos)
            break;
        if (seq < pos + r->n)
            return 0;
        before += r->n;
    }
    *idx = seq - 1 - before;
    return *idx < view_visible(s) ? 1 : -1;
}

uint32_t view_idx_seq(struct imap_sess *s, uint32_t idx)
{
    const struct lwm_msg_ent *e =
        lwm_msg_entry(sess_srv(s)->store, s->view.mbox, idx);
    uint32_t seq = idx + 1;
    uint16_t i;
    for (i = 0; e && i < s->view.nruns; i++)
        if (s->view.runs[i].lo < e->uid)
            seq += s->view.runs[i].n;
    return seq;
}

/* A set's largest member "*": the view's count, or its largest UID */
static uint32_t view_star(struct imap_sess *s, int uid)
{
    uint32_t vis;
    const struct lwm_msg_ent *e;
    if (!uid)
        return view_count(s);
    vis = view_visible(s);
    e = vis ? lwm_msg_entry(sess_srv(s)->store, s->view.mbox, vis - 1) : 0;
    return e ? e->uid : 0;
}

int view_set_check(struct imap_sess *s, uint16_t tok, int uid)
{
    const struct lwm_tok *t = &s->toks[tok];
    const uint8_t *p = sess_rx(s) + t->off;
    struct lwm_seqset_it it;
    uint32_t lo, hi, star;
    if (t->type != LWM_TOK_ATOM || !lwm_seqset_valid(p, t->len, 0)) {
        resp_bad(s, "Invalid sequence set");
        return -1;
    }
    star = view_star(s, uid);
    lwm_seqset_begin(&it, p, t->len, star);
    while (lwm_seqset_next(&it, &lo, &hi)) {
        if (!uid && (hi > star || lo == 0)) {
            resp_bad(s, "Message sequence number out of range");
            return -1;
        }
    }
    return 0;
}

/* Smallest member of the set greater than after (0: none) */
static uint32_t set_next_after(struct imap_sess *s, uint16_t tok,
                               uint32_t star, uint32_t after)
{
    const struct lwm_tok *t = &s->toks[tok];
    struct lwm_seqset_it it;
    uint32_t lo, hi, best = 0;
    lwm_seqset_begin(&it, sess_rx(s) + t->off, t->len, star);
    while (lwm_seqset_next(&it, &lo, &hi)) {
        uint32_t c;
        if (hi <= after)
            continue;
        c = lo > after ? lo : after + 1;
        if (!best || c < best)
            best = c;
    }
    return best;
}

int view_set_next(struct imap_sess *s, uint16_t set_tok, int uid,
                  uint32_t *cursor, uint32_t *idx, uint32_t *seq)
{
    struct lwm_store *st = sess_srv(s)->store;
    uint32_t star = view_star(s, uid);
    for (;;) {
        uint32_t n = set_next_after(s, set_tok, star, *cursor);
        if (!n)
            return 0;
        if (!uid) {
            int r = view_seq_idx(s, n, idx);
            *cursor = n;
            if (r < 0)
                return 0;
            if (r == 0)
                continue;       /* expunged, not yet announced: skip */
            *seq = n;
            return 1;
        } else {
            int k = lwm_msg_find(st, s->view.mbox, n, 1);
            const struct lwm_msg_ent *e;
            if (k < 0 || (uint32_t)k >= view_visible(s))
                return 0;
            e = lwm_msg_entry(st, s->view.mbox, (uint32_t)k);
            if (e->uid != n) {
                /* n is not in use; try the set's next member from here */
                *cursor = e->uid - 1;
                if (set_next_after(s, set_tok, star, *cursor) != e->uid) {
                    *cursor = e->uid;
                    continue;
                }
                continue;
            }
            *cursor = n;
            *idx = (uint32_t)k;
            *seq = view_idx_seq(s, (uint32_t)k);
            return 1;
        }
    }
}

/* Flags changed on this session's behalf are answered by its command
 * itself: the view's modseq moves past the change (unless other changes
 * were still to be announced), and the other sessions are told. */
int view_store_flags(struct imap_sess *s, const uint32_t *uids, uint32_t n,
                     int op, uint32_t flags)
{
    struct lwm_server *srv = sess_srv(s);
    struct lwm_mbox_info mi;
    uint32_t before;
    int r;
    lwm_mbox_info(srv->store, s->view.mbox, &mi);
    before = mi.highestmodseq;
    r = lwm_store_flags(srv->store, s->view.mbox, uids, n,
                        (enum lwm_flags_op)op, flags);
    if (r > 0) {
        lwm_mbox_info(srv->store, s->view.mbox, &mi);
        if (s->view.modseq == before)
            s->view.modseq = mi.highestmodseq;
        srv_changed(srv, s->view.mbox);
    }
    return r;
}

void view_close(struct imap_sess *s)
{
    s->view.mbox = -1;
    s->view.mbox_id = 0;
    s->view.nruns = 0;
    s->view.lost = 0;
}

/* Another session (or this one) expunged uid from the view's mailbox */
static void view_add_expunged(struct imap_sess *s, uint32_t uid)
{
    struct lwm_store *st = sess_srv(s)->store;
    struct imap_view *v = &s->view;
    int pos = lwm_msg_find(st, v->mbox, uid, 1); /* survivors before uid */
    uint16_t i;
    if (uid >= v->uidnext || v->lost)
        return;                 /* never announced: nothing to tell */
    /* find the first run after uid */
    for (i = 0; i < v->nruns && v->runs[i].lo < uid; i++)
        ;
    /* join the run before if no survivor lies between it and uid */
    if (i > 0 && lwm_msg_find(st, v->mbox, v->runs[i - 1].hi + 1, 1) ==
                     pos) {
        struct exp_run *r = &v->runs[i - 1];
        r->hi = uid;
        r->n++;
        if (i < v->nruns &&
            lwm_msg_find(st, v->mbox, uid + 1, 1) ==
                lwm_msg_find(st, v->mbox, v->runs[i].lo, 1)) {
            r->hi = v->runs[i].hi;
            r->n += v->runs[i].n;
            memmove(&v->runs[i], &v->runs[i + 1],
                    (v->nruns - i - 1) * sizeof v->runs[0]);
            v->nruns--;
        }
        return;
    }
    if (i < v->nruns && lwm_msg_find(st, v->mbox, uid + 1, 1) ==
                            lwm_msg_find(st, v->mbox, v->runs[i].lo, 1)) {
        v->runs[i].lo = uid;
        v->runs[i].n++;
        return;
    }
    if (v->nruns == LWM_IMAP_EXPUNGE_RUNS) {
        v->lost = 1;            /* see LWM_IMAP_EXPUNGE_RUNS */
        return;
    }
    memmove(&v->runs[i + 1], &v->runs[i], (v->nruns - i) * sizeof v->runs[0]);
    v->runs[i].lo = v->runs[i].hi = uid;
    v->runs[i].n = 1;
    v->nruns++;
}

static void sess_flush(struct imap_sess *s);

void srv_expunged(struct lwm_server *srv, int mbox, const uint32_t *uids,
                  uint32_t n)
{
    int k;
    srv->changes++;
    for (k = 0; k < LWM_MAX_SESSIONS; k++) {
        struct imap_sess *s = &srv->sess[k];
        uint32_t i, tries;
        if (s->state != SS_SELECTED || s->view.mbox != mbox)
            continue;
        for (i = 0; i < n; i++)
            view_add_expunged(s, uids[i]);
        s->notify = 1;
        /* a session in IDLE may hear of it right now: do so, before the
         * next batch could overflow its run list */
        for (tries = 0; s->idling && !s->view.lost && tries < 8; tries++) {
            sess_flush(s);
            if (tx_free(s) < IMAP_TX_RESERVE ||
                view_announce(s, 1) == STEP_DONE)
                break;
        }
        if (s->idling)
            sess_flush(s);
    }
}

void srv_all_expunged(struct lwm_server *srv, int mbox, int apply)
{
    int k;
    srv->changes++;
    for (k = 0; k < LWM_MAX_SESSIONS; k++) {
        struct imap_sess *s = &srv->sess[k];
        struct imap_view *v = &s->view;
        if (s->state != SS_SELECTED || v->mbox != mbox)
            continue;
        if (!apply) {
            v->all_gone = view_count(s);
            continue;
        }
        /* the mailbox is empty now: everything the client knows of is
         * one run of expunged messages */
        v->nruns = 0;
        if (v->all_gone) {
            v->runs[0].lo = 1;
            v->runs[0].hi = v->uidnext ? v->uidnext - 1 : 1;
            v->runs[0].n = v->all_gone;
            v->nruns = 1;
        }
        v->all_gone = 0;
        s->notify = 1;
    }
}

void srv_changed(struct lwm_server *srv, int mbox)
{
    int k;
    srv->changes++;
    for (k = 0; k < LWM_MAX_SESSIONS; k++) {
        struct imap_sess *s = &srv->sess[k];
        if (s->state == SS_SELECTED && s->view.mbox == mbox)
            s->notify = 1;
    }
}

void srv_mbox_gone(struct lwm_server *srv, int mbox)
{
    int k;
    srv->changes++;
    for (k = 0; k < LWM_MAX_SESSIONS; k++) {
        struct imap_sess *s = &srv->sess[k];
        if (s->state == SS_SELECTED && s->view.mbox == mbox) {
            s->view.lost = 2;   /* ended at the next chance */
            s->notify = 1;
        }
    }
}

int view_announce(struct imap_sess *s, int allow_expunge)
{
    struct lwm_store *st = sess_srv(s)->store;
    struct imap_view *v = &s->view;
    struct lwm_mbox_info mi;
    uint32_t vis, i, count;
    if (s->state != SS_SELECTED)
        return STEP_DONE;
    if (v->lost) {
        /* the mailbox is gone, or too many expunges were held back:
         * this client can no longer be told the truth incrementally */
        out_str(s, v->lost == 2 ? "* BYE [NONEXISTENT] Selected mailbox was"
                                  " deleted, have to disconnect\r\n"
                                : "* BYE [UNAVAILABLE] Too many changes by "
                                  "other sessions, please reconnect\r\n");
        s->closing = 1;
        s->state = SS_LOGOUT;
        return STEP_DONE;
    }
    if (allow_expunge) {
        while (v->nruns) {
            struct exp_run *r = &v->runs[0];
            int k = lwm_msg_find(st, v->mbox, r->lo, 1);
            uint32_t pos = (uint32_t)(k < 0 ? 0 : k) + 1;
            while (r->n) {
                if (tx_free(s) < IMAP_TX_RESERVE)
                    return STEP_MORE;
                out_fmt(s, "* %u EXPUNGE\r\n", pos);
                r->n--;
                v->exists--;
            }
            memmove(&v->runs[0], &v->runs[1],
                    (v->nruns - 1) * sizeof v->runs[0]);
            v->nruns--;
        }
    }
    if (lwm_mbox_info(st, v->mbox, &mi) < 0)
        return STEP_DONE;
    if (mi.highestmodseq > v->modseq) {
        /* flag changes by anyone; ours were already answered, but a
         * repeat is harmless and cheaper than tracking whose they are */
        /* resume by UID: expunges announced meanwhile shift indexes */
        vis = view_visible(s);
        i = 0;
        if (v->scan) {
            int k = lwm_msg_find(st, v->mbox, v->scan, 1);
            i = k < 0 ? vis : (uint32_t)k;
        }
        for (; i < vis; i++) {
            const struct lwm_msg_ent *e = lwm_msg_entry(st, v->mbox, i);
            if (e->modseq <= v->modseq)
                continue;
            if (tx_free(s) < IMAP_TX_RESERVE) {
                v->scan = e->uid;   /* resume here when there is room */
                return STEP_MORE;
            }
            out_fmt(s, "* %u FETCH (FLAGS ", view_idx_seq(s, i));
            out_flags(s, v->mbox, e->flags);
            out_fmt(s, " UID %u)\r\n", e->uid);
        }
        v->scan = 0;
        v->modseq = mi.highestmodseq;
    }
    if (mi.uidnext > v->uidnext)
        v->uidnext = mi.uidnext;
    count = view_count(s);
    if (count != v->exists) {
        if (tx_free(s) < IMAP_TX_RESERVE)
            return STEP_MORE;
        out_fmt(s, "* %u EXISTS\r\n", count);
        v->exists = count;
    }
    s->notify = 0;
    return STEP_DONE;
}

/* ------------------------------------------------------------ commands */

#define ST_NA  (1u << SS_NOAUTH)
#define ST_AU  (1u << SS_AUTH)
#define ST_SE  (1u << SS_SELECTED)
#define ST_ANY (ST_NA | ST_AU | ST_SE)

/* The commands' names, back to back */
static const char command_names[] =
    "CAPABILITY\0" "NOOP\0" "LOGOUT\0" "ID\0" "STARTTLS\0" "LOGIN\0"
    "AUTHENTICATE\0" "ENABLE\0" "NAMESPACE\0" "IDLE\0" "SELECT\0" "EXAMINE\0"
    "CREATE\0" "DELETE\0" "RENAME\0" "SUBSCRIBE\0" "UNSUBSCRIBE\0" "LIST\0"
    "LSUB\0" "STATUS\0" "APPEND\0" "CHECK\0" "CLOSE\0" "UNSELECT\0"
    "EXPUNGE\0" "SEARCH\0" "FETCH\0" "STORE\0" "COPY\0" "MOVE\0" "UID\0";

/* Their start functions, and beside them a byte each: the states a
 * command is allowed in (bit 1 << SS_*) and its CMDF_* flags (a byte
 * array, not an 8-byte struct per command with its padding) */
static const cmd_fn command_start[] = {
    cmd_capability,                             /* CAPABILITY */
    cmd_noop,                                   /* NOOP */
    cmd_logout,                                 /* LOGOUT */
    cmd_id,                                     /* ID */
    cmd_starttls,                               /* STARTTLS */
    cmd_login,                                  /* LOGIN */
    cmd_authenticate,                           /* AUTHENTICATE */
    cmd_enable,                                 /* ENABLE: RFC 5161 3 */
    cmd_namespace,                              /* NAMESPACE */
    cmd_idle,                                   /* IDLE */
    cmd_select,                                 /* SELECT */
    cmd_select,                                 /* EXAMINE */
    cmd_create,                                 /* CREATE */
    cmd_delete,                                 /* DELETE */
    cmd_rename,                                 /* RENAME */
    cmd_subscribe,                              /* SUBSCRIBE */
    cmd_subscribe,                              /* UNSUBSCRIBE */
    cmd_list,                                   /* LIST */
    cmd_list,                                   /* LSUB */
    cmd_status,                                 /* STATUS */
    cmd_append,                                 /* APPEND */
    cmd_noop,                                   /* CHECK */
    cmd_close,                                  /* CLOSE */
    cmd_close,                                  /* UNSELECT */
    cmd_expunge,                                /* EXPUNGE */
    cmd_search,                                 /* SEARCH */
    cmd_fetch,                                  /* FETCH */
    cmd_store,                                  /* STORE */
    cmd_copy,                                   /* COPY */
    cmd_copy,                                   /* MOVE */
    cmd_uid,                                    /* UID */
};

static const uint8_t command_bits[] = {
    ST_ANY,                                     /* CAPABILITY */
    ST_ANY,                                     /* NOOP */
    ST_ANY,                                     /* LOGOUT */
    ST_ANY,                                     /* ID */
    ST_NA,                                      /* STARTTLS */
    ST_NA,                                      /* LOGIN */
    ST_NA,                                      /* AUTHENTICATE */
    ST_AU,                                      /* ENABLE: RFC 5161 3 */
    ST_AU | ST_SE,                              /* NAMESPACE */
    ST_AU | ST_SE,                              /* IDLE */
    ST_AU | ST_SE,                              /* SELECT */
    ST_AU | ST_SE,                              /* EXAMINE */
    ST_AU | ST_SE,                              /* CREATE */
    ST_AU | ST_SE,                              /* DELETE */
    ST_AU | ST_SE,                              /* RENAME */
    ST_AU | ST_SE,                              /* SUBSCRIBE */
    ST_AU | ST_SE,                              /* UNSUBSCRIBE */
    ST_AU | ST_SE,                              /* LIST */
    ST_AU | ST_SE,                              /* LSUB */
    ST_AU | ST_SE,                              /* STATUS */
    ST_AU | ST_SE,                              /* APPEND */
    ST_SE,                                      /* CHECK */
    ST_SE | CMDF_VIEW,                          /* CLOSE */
    ST_SE,                                      /* UNSELECT */
    ST_SE | CMDF_VIEW,                          /* EXPUNGE */
    ST_SE | CMDF_NO_EXPUNGE | CMDF_VIEW,        /* SEARCH */
    ST_SE | CMDF_NO_EXPUNGE | CMDF_VIEW,        /* FETCH */
    ST_SE | CMDF_NO_EXPUNGE | CMDF_VIEW,        /* STORE */
    ST_SE | CMDF_VIEW,                          /* COPY */
    ST_SE | CMDF_VIEW,                          /* MOVE */
    ST_SE | CMDF_VIEW,                          /* UID */
};

/* Is the command's name word (case-insensitive)? */
int cmd_is(struct imap_sess *s, const char *word)
{
    size_t n = strlen(word);
    return s->cmd.name_len == n &&
           lwm_ieq(sess_rx(s) + s->cmd.name_off, word, n);
}

void rx_drop(struct imap_sess *s, size_t n)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s);
    uint8_t *rx = sess_rx(s);
    if (n > srv->rx_len[k])
        n = srv->rx_len[k];
    memmove(rx, rx + n, srv->rx_len[k] - n);
    srv->rx_len[k] -= (uint32_t)n;
}

void lit_refuse(struct imap_sess *s)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s);
    uint32_t have;
    s->lit_refused = 1;
    if (!(s->cmd.lit_flags & LWM_TOKF_NONSYNC)) {
        /* RFC 9051 7.5: the client waits for "+" and will not send it */
        rx_drop(s, s->cmd.lit_off);
        return;
    }
    /* RFC 7888 4: a non-synchronizing literal must be read and dropped */
    have = srv->rx_len[k] - s->cmd.lit_off;
    if (have > s->cmd.lit_size)
        have = (uint32_t)s->cmd.lit_size;
    rx_drop(s, s->cmd.lit_off + have);
    s->lit_left = s->cmd.lit_size - have;
    if (s->lit_left) {
        s->rx_mode = RX_DISCARD;
    } else {
        /* drop the rest of the command line */
        uint8_t *rx = sess_rx(s);
        uint8_t *lf = memchr(rx, '\n', srv->rx_len[k]);
        if (lf) {
            rx_drop(s, (size_t)(lf - rx) + 1);
        } else {
            srv->rx_len[k] = 0;
            s->rx_mode = RX_SKIPLINE;
        }
    }
}

static void set_tag(struct imap_sess *s)
{
    size_t n = s->cmd.tag_len;
    if (n > IMAP_TAG_MAX || n == 0) {
        memcpy(s->tag, "*", 2);
        s->tag_len = 1;
        return;
    }
    memcpy(s->tag, sess_rx(s) + s->cmd.tag_off, n);
    s->tag[n] = 0;
    s->tag_len = (uint8_t)n;
}

/* The command's index in command_names, or -1 */
static int find_command(struct imap_sess *s)
{
    int i;
    const char *name = command_names;
    for (i = 0; i < (int)sizeof command_bits; i++) {
        if (cmd_is(s, name))
            return i;
        name += strlen(name) + 1;
    }
    return -1;
}

/* A command begins: it holds its first cmd_len bytes of the buffer */
static void begin_command(struct imap_sess *s, uint32_t cmd_len)
{
    s->cmd_len = cmd_len;
    s->busy = 1;
    s->finishing = 0;
    s->done_len = 0;
    s->allow_expunge = 1;
}

static void start_command(struct imap_sess *s, int cmd_len)
{
    int i;
    unsigned bits;
    begin_command(s, (uint32_t)cmd_len);
    if (s->cmd.tag_len > IMAP_TAG_MAX) {
        resp_bad(s, "Tag too long");
        return;
    }
    i = find_command(s);
    if (i < 0) {
        resp_bad(s, "Unknown command");
        return;
    }
    bits = command_bits[i];
    if (!(bits & (1u << s->state))) {
        resp_bad(s, s->state == SS_NOAUTH
                        ? "Log in first"
                        : s->state == SS_SELECTED || (bits & ST_ANY) != ST_SE
                              ? "Not allowed now"
                              : "No mailbox selected");
        return;
    }
    if (bits & CMDF_NO_EXPUNGE)
        s->allow_expunge = 0;
    s->uses_view = (bits & CMDF_VIEW) != 0;
    s->step = command_start[i];
}

/* The command in progress has ended: drop it from the buffer */
static void end_command(struct imap_sess *s)
{
    rx_drop(s, s->cmd_len);
    s->cmd_len = 0;
    s->busy = 0;
    s->step = NULL;
    s->sync_sent = 0;
    s->finishing = 0;
    s->done_len = 0;
}

static void sess_flush(struct imap_sess *s)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s);
    while (srv->tx_len[k] && s->conn) {
        int r = srv_conn_send(srv, k, srv->tx[k] + srv->tx_head[k],
                              srv->tx_len[k]);
        if (r < 0) {
            /* the connection is dead: drop what is queued */
            srv->tx_len[k] = 0;
            s->closing = 1;
            break;
        }
        if (r == 0)
            break;
        srv->tx_head[k] += (uint32_t)r;
        srv->tx_len[k] -= (uint32_t)r;
        /* output taken counts as activity (a long download is not idle) */
        s->tx_ms = s->last_ms = srv_now(srv);
    }
    if (!srv->tx_len[k]) {
        srv->tx_head[k] = 0;
        s->tx_ms = srv_now(srv);
    }
}


/* Parse the next command from the receive buffer; 1 if something was
 * done (loop again), 0 if more input is needed. */
static int next_command(struct imap_sess *s)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s);
    uint8_t *rx = sess_rx(s);
    uint32_t len = srv->rx_len[k];
    int r;
    if (!len)
        return 0;
    memset(&s->cmd, 0, sizeof s->cmd);
    /* a literal that fits the biggest buffer this session may have is
     * read into it; APPEND streams any that does not fit the current
     * one (the store takes it in chunks, no need to borrow) */
    r = lwm_imap_parse(rx, len, sess_rx_cap(s), &s->cmd, s->toks,
                       LWM_IMAP_MAX_TOKS);
    set_tag(s);
    if (r == LWM_PARSE_LITERAL && sess_rx_cap(s) < rx_cap_max(s) &&
        !cmd_is(s, "APPEND") &&
        s->cmd.lit_size <= rx_cap_max(s) - s->cmd.lit_off)
        r = LWM_PARSE_PARTIAL;          /* borrow below, once it is full */
    if (r == LWM_PARSE_PARTIAL && len == sess_rx_cap(s) &&
        sess_rx_cap(s) < rx_cap_max(s)) {
        if (rx_borrow(s))
            return 1;                   /* room for the rest */
        return 0;                       /* queued: rx_return lends it one */
    }
    if (r == LWM_PARSE_PARTIAL) {
        if (len == sess_rx_cap(s)) {
            /* a line longer than the buffer: refuse it, skip to its end */
            out_fmt(s, "%s BAD [TOOBIG] Command line too long\r\n", s->tag);
            srv->rx_len[k] = 0;
            s->rx_mode = RX_SKIPLINE;
            s->sync_sent = 0;
            return 1;
        }
        while (s->sync_sent < s->cmd.nsync) {
            out_str(s, "+ Ready for literal data\r\n");
            s->sync_sent++;
        }
        return 0;
    }
    if (r == LWM_PARSE_BAD) {
        out_fmt(s, "%s BAD %s\r\n", s->tag,
                s->cmd.err ? s->cmd.err : "Syntax error");
        rx_drop(s, s->cmd.skip);
        s->sync_sent = 0;
        return 1;
    }
    if (r == LWM_PARSE_LITERAL) {
        if (cmd_is(s, "APPEND") && s->cmd.tag_len <= IMAP_TAG_MAX &&
            (s->state == SS_AUTH || s->state == SS_SELECTED)) {
            begin_command(s, 0);
            if (append_start(s, 1) == STEP_WAIT) {
                s->busy = 0;    /* try again from the start later */
                srv->res_wait = 1;
                return 0;
            }
            return 1;
        }
        /* a literal too big for any command but APPEND */
        out_fmt(s, "%s BAD %s\r\n", s->tag,
                cmd_is(s, "APPEND") && s->state == SS_NOAUTH
                    ? "Log in first"
                    : "[TOOBIG] Literal too large for this command");
        lit_refuse(s);
        s->sync_sent = 0;
        return 1;
    }
    start_command(s, r);
    return 1;
}

/* Has the selected mailbox gone (deleted, its slot perhaps reused by
 * another user's mailbox) or has the view lost track of expunges? A
 * command working on it must then not take another step. */
static int view_broken(struct imap_sess *s)
{
    struct lwm_mbox_info mi;
    if (s->view.lost)
        return 1;
    if (lwm_mbox_info(sess_srv(s)->store, s->view.mbox, &mi) < 0 ||
        mi.id != s->view.mbox_id) {
        s->view.lost = 2;
        return 1;
    }
    return 0;
}

/* End a command whose mailbox went away under it, and the session: its
 * client can only resynchronise by reconnecting. Mid-literal nothing can
 * be said any more; the connection is just closed. */
static void abort_command(struct imap_sess *s)
{
    struct lwm_server *srv = &lwm_the_server;
    int mid_literal = 0;
    if (s->in_search) {
        if (s->u.se.in_msg)
            out_raw(s, "\r\n", 2);    /* end the open SEARCH line */
        srv_search_put(srv, s->u.se.slot);
        s->in_search = 0;
    }
    if (cmd_is(s, "FETCH") || (cmd_is(s, "UID") &&
                               tok_is(s, &s->toks[0], "FETCH")))
        mid_literal = s->u.f.in_msg;
    append_abort(s);
    s->busy = 0;
    s->step = NULL;
    if (mid_literal) {
        srv->tx_len[sess_no(s)] = 0;    /* keep nothing half-sent */
        s->closing = 1;
        s->state = SS_LOGOUT;
        return;
    }
    view_announce(s, 0);                /* the BYE; closes */
}

/* Run the session until it needs input, output room or a resource */
static void run(struct imap_sess *s);

void sess_run(struct imap_sess *s)
{
    run(s);
    rx_return(s);       /* no pointer into the buffer is held here */
}

static void run(struct imap_sess *s)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s), guard;
    /* bounded: every pass either makes progress or returns */
    for (guard = 0; guard < 64; guard++) {
        sess_flush(s);
        if (s->state == SS_FREE)
            return;
        if (s->starttls && !s->busy && !s->closing) {
            /* the OK goes out in the clear, then TLS begins; whatever
             * came after the STARTTLS line was sent before the client
             * could know TLS was agreed: it is dropped, never run
             * (RFC 9051 6.2.1, the command injection of CVE-2011-0411) */
            if (srv->tx_len[k])
                return;
            s->starttls = 0;
            srv->rx_len[k] = 0;
            s->rx_mode = RX_CMD;
            if (srv_starttls(srv, k) < 0) {
                srv_log(srv, LWM_LOG_WARNING, k, "STARTTLS: no TLS session "
                        "free, closing");
                srv_conn_abort(srv, k);
            }
            return;
        }
        if (s->closing) {
            if ((!srv->tx_len[k] && !srv_conn_flushing(srv, k)) ||
                !s->conn || s->closing_forced) {
                void *conn = s->conn;
                srv_log(srv, LWM_LOG_INFO, k, "closed");
                if (conn)
                    srv_conn_closing(srv, k);
                sess_free(s);
                if (conn)
                    srv->cfg->port->close(srv->cfg->port->ctx, conn);
            }
            return;
        }
        if (tx_free(s) < IMAP_TX_RESERVE)
            return;                     /* resumed by lwm_conn_output */
        if (s->busy) {
            int r;
            if (s->finishing) {
                if (view_announce(s, s->allow_expunge) == STEP_MORE)
                    continue;
                if (s->closing)
                    continue;
                out_raw(s, s->done, s->done_len);
                end_command(s);
                if (s->state == SS_LOGOUT)
                    s->closing = 1;
                continue;
            }
            if (!s->step) {
                s->finishing = 1;
                continue;
            }
            if (s->uses_view && s->state == SS_SELECTED && view_broken(s)) {
                abort_command(s);
                continue;
            }
            r = s->step(s);
            if (r == STEP_DONE) {
                s->step = NULL;
                s->finishing = 1;
                continue;
            }
            if (r == STEP_WAIT) {
                srv->res_wait = 1;
                return;
            }
            if (r == STEP_INPUT)
                return;
            if (tx_free(s) >= IMAP_TX_RESERVE) {
                /* the step stopped at its work budget, not for lack of
                 * output room: let the other sessions have a turn */
                srv->waiting = 1;
                return;
            }
            continue;
        }
        if (s->idling) {
            uint8_t *rx = sess_rx(s);
            uint8_t *lf = memchr(rx, '\n', srv->rx_len[k]);
            if (lf || srv->rx_len[k] == sess_rx_cap(s)) {
                size_t n = lf ? (size_t)(lf - rx) : 0;
                idle_done(s, rx, n);
                rx_drop(s, lf ? n + 1 : srv->rx_len[k]);
                continue;
            }
            if (view_announce(s, 1) == STEP_MORE)
                continue;
            return;
        }
        if (s->rx_mode != RX_CMD)
            return;
        if (s->notify && s->state == SS_SELECTED && s->view.lost) {
            view_announce(s, 0);        /* sends the BYE */
            continue;
        }
        if (!next_command(s))
            return;
    }
    srv->waiting = 1;                   /* more to do: poll comes back */
}

void sess_input(struct imap_sess *s, const uint8_t *p, size_t n)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s);
    int was_tls = srv_tls_on(srv, k);
    s->last_ms = srv_now(srv);
    while (n) {
        size_t take;
        switch (s->rx_mode) {
        case RX_APPEND:
            take = n < s->lit_left ? n : (size_t)s->lit_left;
            append_input(s, p, take);
            s->lit_left -= take;
            if (!s->lit_left)
                s->rx_mode = RX_CMD;    /* the line's end comes next */
            break;
        case RX_DISCARD:
            take = n < s->lit_left ? n : (size_t)s->lit_left;
            s->lit_left -= take;
            if (!s->lit_left)
                s->rx_mode = RX_SKIPLINE;
            break;
        case RX_SKIPLINE: {
            const uint8_t *lf = memchr(p, '\n', n);
            take = lf ? (size_t)(lf - p) + 1 : n;
            if (lf)
                s->rx_mode = RX_CMD;
            break;
        }
        default:
            take = sess_rx_cap(s) - srv->rx_len[k];
            if (take > n)
                take = n;
            /* memmove: TLS decrypts into the buffer's free tail */
            memmove(sess_rx(s) + srv->rx_len[k], p, take);
            srv->rx_len[k] += (uint32_t)take;
            if (!take)
                return;                 /* caller ignored rx_room */
            break;
        }
        p += take;
        n -= take;
        sess_run(s);
        if (s->state == SS_FREE)
            return;
        if (!was_tls && srv_tls_on(srv, k))
            return;     /* STARTTLS began: the rest was injected */
    }
    sess_run(s);
}

size_t sess_rx_room(struct imap_sess *s)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s);
    if (s->closing || s->state == SS_FREE || s->starttls)
        return 0;
    if (s->rx_mode == RX_APPEND || s->rx_mode == RX_DISCARD)
        return s->lit_left < 65536 ? (size_t)s->lit_left : 65536;
    /* skipping a line: what follows its end goes to the buffer, so no
     * more than fits there (sess_input takes it all at once) */
    return sess_rx_cap(s) - srv->rx_len[k];
}

void sess_open(struct imap_sess *s, void *conn, uint32_t peer_hash,
               uint32_t now)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s);
    memset(s, 0, sizeof *s);
    s->state = SS_NOAUTH;
    s->conn = conn;
    s->slot = (uint16_t)k;
    s->last_ms = s->open_ms = s->tx_ms = now;
    s->peer_hash = peer_hash;
    s->view.mbox = -1;
    srv->rx_len[k] = 0;
    srv->tx_len[k] = srv->tx_head[k] = 0;
}

void sess_greet(struct imap_sess *s)
{
    out_fmt(s, "* OK [CAPABILITY %s] lwmail ready\r\n", capability_string(s));
    sess_run(s);
}

void sess_free(struct imap_sess *s)
{
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s);
    append_abort(s);
    if (s->in_search)
        srv_search_put(srv, s->u.se.slot);
    srv_conn_release(srv, k);
    srv->rx_len[k] = 0;
#if LWM_IMAP_RX_LONG
    srv->rx_long_ticket[k] = 0;         /* no longer waiting */
#endif
    rx_return(s);
    srv->tx_len[k] = srv->tx_head[k] = 0;
    memset(s, 0, sizeof *s);
    s->state = SS_FREE;
    s->slot = (uint16_t)k;
    s->view.mbox = -1;
    if (srv->nsess)
        srv->nsess--;
}

/* Timers: idle timeouts; IDLE pushes; retry waiting steps */
void sess_tick(struct imap_sess *s, uint32_t now)
{
    uint32_t limit = s->state == SS_NOAUTH ? LWM_IMAP_PREAUTH_TIMEOUT_MS
                                           : LWM_IMAP_TIMEOUT_MS;
    struct lwm_server *srv = &lwm_the_server;
    int k = sess_no(s);
    if (s->state == SS_FREE)
        return;
    if (s->closing) {
        /* a peer that does not take the goodbye is not waited for long */
        if (!s->closing_seen) {
            s->closing_seen = 1;
            s->closing_ms = now;
        } else if ((uint32_t)(now - s->closing_ms) > LWM_IMAP_SEND_TIMEOUT_MS) {
            srv->tx_len[k] = 0;
            s->closing_forced = 1;  /* and whatever the transport holds */
        }
    } else if (srv->tx_len[k] &&
               (uint32_t)(now - s->tx_ms) > LWM_IMAP_SEND_TIMEOUT_MS) {
        /* it stopped reading: nothing can be said to it any more */
        srv_log(srv, LWM_LOG_NOTICE, k, "peer stopped reading, closing");
        append_abort(s);
        srv->tx_len[k] = 0;
        s->closing = 1;
    } else if (rx_held_too_long(s, now)) {
        srv_log(srv, LWM_LOG_NOTICE, k,
                "long command not completed in time, closing");
        out_str(s, "* BYE Command line not completed in time\r\n");
        s->closing = 1;
    } else if ((uint32_t)(now - s->last_ms) > limit) {
        append_abort(s);
        if (!s->busy && !srv->tx_len[k])
            out_str(s, "* BYE Autologout; idle for too long\r\n");
        else
            srv->tx_len[k] = 0; /* mid-response: no BYE inside a literal */
        s->closing = 1;
    }
    sess_run(s);
}

void sess_shutdown(struct imap_sess *s)
{
    if (s->state == SS_FREE)
        return;
    append_abort(s);
    if (s->busy)
        lwm_the_server.tx_len[sess_no(s)] = 0; /* not inside a response */
    else if (tx_free(s) >= 64)
        out_str(s, "* BYE Server shutting down\r\n");
    s->closing = 1;
    sess_run(s);
}
