/*
 * lwmail IMAP - message commands: STORE, COPY, MOVE (RFC 6851), UID,
 * APPEND (streamed into the store and the MIME parser).
 */
#include <string.h>

#include "imap/args.h"
#include "imap/imap_int.h"
#include "util/lwm_util.h"

/* Arguments start after "UID" for the UID forms */
static uint32_t arg0(struct imap_sess *s)
{
    return cmd_is(s, "UID") ? 1u : 0u;
}

int cmd_uid(struct imap_sess *s)
{
    static const cmd_fn fn[] = { cmd_fetch, cmd_store, cmd_search,
                                 cmd_copy, cmd_copy, cmd_expunge };
    int i;
    if (s->cmd.ntoks < 1)
        return resp_bad(s, "UID needs a command");
    i = tok_which(s, &s->toks[0], "FETCH\0STORE\0SEARCH\0COPY\0MOVE\0"
                                  "EXPUNGE\0");
    if (i < 0)
        return resp_bad(s, "Unknown UID command");
    return fn[i](s);
}

/* Is the (UID) sub-command name word? */
static int sub_is(struct imap_sess *s, const char *word)
{
    return cmd_is(s, "UID") ? tok_is(s, &s->toks[0], word)
                            : cmd_is(s, word);
}

/* ------------------------------------------------------------ STORE */

static int store_step(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    uint32_t idx, seq;
    int uid = s->u.st.uid;
    /* answer the batch applied so far */
    while (s->u.st.applied) {
        const struct lwm_msg_ent *e;
        uint32_t c = s->u.st.emit;
        if (tx_free(s) < IMAP_TX_RESERVE)
            return STEP_MORE;
        if (!view_set_next(s, s->u.st.set_tok, uid, &c,
                           &idx, &seq)) {
            s->u.st.applied = 0;
            break;
        }
        s->u.st.emit = c;
        s->u.st.applied--;
        e = lwm_msg_entry(srv->store, s->view.mbox, idx);
        if (s->u.st.silent || !e)
            continue;
        out_fmt(s, "* %u FETCH (FLAGS ", seq);
        out_flags(s, s->view.mbox, e->flags);
        out_fmt(s, uid ? " UID %u)\r\n" : ")\r\n", e->uid);
    }
    /* apply the next batch */
    {
        uint32_t n = 0, c = s->u.st.cursor;
        int r;
        while (n < LWM_IMAP_BATCH &&
               view_set_next(s, s->u.st.set_tok, uid, &c,
                             &idx, &seq)) {
            const struct lwm_msg_ent *e =
                lwm_msg_entry(srv->store, s->view.mbox, idx);
            srv->batch[n++] = e->uid;
        }
        if (n == 0)
            return resp_done(s);
        r = view_store_flags(s, srv->batch, n, s->u.st.op, s->u.st.flags);
        if (r < 0)
            return resp_store_err(s, r, "STORE failed");
        s->u.st.cursor = c;
        s->u.st.applied = n;
    }
    return STEP_MORE;
}

int cmd_store(struct imap_sess *s)
{
    uint32_t a = arg0(s), n = s->cmd.ntoks, ntok;
    const struct lwm_tok *item;
    const uint8_t *p;
    size_t len;
    int r, op;
    if (n < a + 3)
        return resp_bad(s, "STORE needs a set, an item and flags");
    if (view_set_check(s, (uint16_t)a, (int)a) < 0)
        return STEP_DONE;
    item = &s->toks[a + 1];
    if (item->type != LWM_TOK_ATOM)
        return resp_bad(s, "Invalid STORE item");
    p = sess_rx(s) + item->off;
    len = item->len;
    op = LWM_FLAGS_SET;
    if (p[0] == '+' || p[0] == '-') {
        op = p[0] == '+' ? LWM_FLAGS_ADD : LWM_FLAGS_REMOVE;
        p++;
        len--;
    }
    memset(&s->u.st, 0, sizeof s->u.st);
    if (len == 12 && lwm_ieq(p, "FLAGS.SILENT", 12)) {
        s->u.st.silent = 1;
    } else if (!(len == 5 && lwm_ieq(p, "FLAGS", 5))) {
        return resp_bad(s, "Invalid STORE item");
    }
    if (s->view.readonly)
        return resp_no(s, "[READ-ONLY] Mailbox is read-only");
    if (s->toks[a + 2].type == LWM_TOK_LIST) {
        if (s->toks[a + 2].len != n - 1)
            return resp_bad(s, "Unexpected arguments after flags");
        ntok = n - a - 4;
        r = parse_flags(s, s->view.mbox, &s->toks[a + 3], ntok,
                        &s->u.st.flags, op != LWM_FLAGS_REMOVE);
    } else {
        ntok = n - a - 2;
        r = parse_flags(s, s->view.mbox, &s->toks[a + 2], ntok,
                        &s->u.st.flags, op != LWM_FLAGS_REMOVE);
    }
    if (r == -2)
        return resp_no(s, "[LIMIT] Too many keywords in this mailbox");
    if (r < 0)
        return resp_bad(s, "Invalid flag");
    s->u.st.op = (uint8_t)op;
    s->u.st.set_tok = (uint16_t)a;
    s->u.st.uid = (uint8_t)a;
    s->step = store_step;
    return STEP_MORE;
}

/* ------------------------------------------------------- COPY / MOVE */

/* Add the open range to the COPYUID source set */
static void cu_src_flush(struct imap_sess *s)
{
    char num[24];
    size_t n;
    if (!s->u.st.src_lo)
        return;
    n = lwm_snfmt(num, sizeof num,
                  s->u.st.src_hi == s->u.st.src_lo ? "%s%u" : "%s%u:%u",
                  s->u.st.src_len ? "," : "", s->u.st.src_lo,
                  s->u.st.src_hi);
    if (s->u.st.src_len + n >= sizeof s->u.st.src) {
        s->u.st.cu_lost = 1;
        return;
    }
    memcpy(s->u.st.src + s->u.st.src_len, num, n);
    s->u.st.src_len = (uint16_t)(s->u.st.src_len + n);
}

static void cu_src_add(struct imap_sess *s, uint32_t uid)
{
    if (s->u.st.src_lo && uid == s->u.st.src_hi + 1) {
        s->u.st.src_hi = uid;
        return;
    }
    cu_src_flush(s);
    s->u.st.src_lo = s->u.st.src_hi = uid;
}

/* "[COPYUID uidvalidity source-set destination-set]" into buf */
static void copyuid(struct imap_sess *s, char *buf, size_t cap)
{
    struct lwm_mbox_info mi;
    cu_src_flush(s);
    s->u.st.src_lo = 0;
    lwm_mbox_info(sess_srv(s)->store, s->u.st.dst, &mi);
    lwm_snfmt(buf, cap,
              s->u.st.dst_last != s->u.st.dst_first ? "[COPYUID %u %b %u:%u]"
                                                    : "[COPYUID %u %b %u]",
              mi.uidvalidity, s->u.st.src, (size_t)s->u.st.src_len,
              s->u.st.dst_first, s->u.st.dst_last);
}

/* MOVE by sequence numbers announces expunges between batches, which
 * renumbers the messages; so the set is turned into UID ranges first
 * (each sequence range is a UID range of the view) and walked by UID. */
static int seq_to_uid_ranges(struct imap_sess *s, uint16_t tok)
{
    struct lwm_store *st = sess_srv(s)->store;
    const struct lwm_tok *t = &s->toks[tok];
    struct lwm_seqset_it it;
    uint32_t lo, hi;
    lwm_seqset_begin(&it, sess_rx(s) + t->off, t->len, view_count(s));
    s->u.st.nur = 0;
    while (lwm_seqset_next(&it, &lo, &hi)) {
        uint32_t a = lo, b = hi, ia = 0, ib = 0;
        int ra = -1, rb = -1;
        /* the first and last messages of the range still in the store */
        while (a <= hi && (ra = view_seq_idx(s, a, &ia)) == 0)
            a++;
        while (b >= lo && b > 0 && (rb = view_seq_idx(s, b, &ib)) == 0)
            b--;
        if (ra != 1 || rb != 1 || a > b)
            continue;
        if (s->u.st.nur == sizeof s->u.st.ur / sizeof s->u.st.ur[0])
            return -1;
        s->u.st.ur[s->u.st.nur][0] = lwm_msg_entry(st, s->view.mbox, ia)->uid;
        s->u.st.ur[s->u.st.nur][1] = lwm_msg_entry(st, s->view.mbox, ib)->uid;
        s->u.st.nur++;
    }
    return 0;
}

/* Next message of the UID ranges after *cursor */
static int ur_next(struct imap_sess *s, uint32_t *cursor, uint32_t *idx)
{
    struct lwm_store *st = sess_srv(s)->store;
    uint32_t vis = view_visible(s), best = 0, bi = 0, i;
    for (i = 0; i < s->u.st.nur; i++) {
        uint32_t lo = s->u.st.ur[i][0], hi = s->u.st.ur[i][1], c;
        int k;
        if (hi <= *cursor)
            continue;
        c = lo > *cursor ? lo : *cursor + 1;
        k = lwm_msg_find(st, s->view.mbox, c, 1);
        if (k < 0 || (uint32_t)k >= vis)
            continue;
        c = lwm_msg_entry(st, s->view.mbox, (uint32_t)k)->uid;
        if (c <= hi && (!best || c < best)) {
            best = c;
            bi = (uint32_t)k;
        }
    }
    if (!best)
        return 0;
    *cursor = best;
    *idx = bi;
    return 1;
}

static int copy_step(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    char cu[sizeof s->u.st.src + 48];
    uint32_t n = 0, c = s->u.st.cursor, idx, seq, count = 0, i, max;
    int uid = s->u.st.uid, r;
    if (s->u.st.move) {
        /* as for EXPUNGE: announce first, so a batch fits the runs */
        r = view_announce(s, 1);
        if (r != STEP_DONE)
            return STEP_MORE;
        if (s->closing)
            return STEP_DONE;
        max = LWM_IMAP_EXPUNGE_RUNS / 2;
    } else {
        max = LWM_IMAP_BATCH;
    }
    if (max > LWM_IMAP_BATCH)
        max = LWM_IMAP_BATCH;
    {
        struct lwm_mbox_info di;
        if (lwm_mbox_info(srv->store, s->u.st.dst, &di) < 0 ||
            di.id != s->u.st.dst_id)
            return resp_no(s, "[TRYCREATE] The target mailbox was deleted");
    }
    while (n < max &&
           (s->u.st.nur ? ur_next(s, &c, &idx)
                        : view_set_next(s, s->u.st.set_tok, uid,
                                        &c, &idx, &seq))) {
        const struct lwm_msg_ent *e =
            lwm_msg_entry(srv->store, s->view.mbox, idx);
        /* copies made by this very command (into the same mailbox) are
         * not in its set */
        if (e->uid >= s->u.st.limit)
            break;
        srv->batch[n++] = e->uid;
    }
    if (n == 0) {
        if (s->u.st.dst_first && !s->u.st.cu_lost && !s->u.st.move) {
            copyuid(s, cu, sizeof cu);
            return resp_fmt(s, "OK %s COPY completed", cu);
        }
        return resp_done(s);
    }
    r = lwm_copy(srv->store, s->view.mbox, s->u.st.dst, srv->batch, n,
                 s->u.st.move, &count);
    if (r < 0)
        return resp_store_err(s, r, s->u.st.move ? "MOVE failed"
                                                 : "COPY failed");
    s->u.st.cursor = c;
    if (count) {
        /* the store skips nothing here: every UID was in the view */
        if (!s->u.st.dst_first || (uint32_t)r != s->u.st.dst_last + 1) {
            if (s->u.st.dst_first)
                s->u.st.cu_lost = 1;  /* someone appended in between */
            s->u.st.dst_first = (uint32_t)r;
        }
        s->u.st.dst_last = (uint32_t)r + count - 1;
        for (i = 0; i < n; i++)
            cu_src_add(s, srv->batch[i]);
    }
    srv_changed(srv, s->u.st.dst);
    if (s->u.st.move) {
        if (!s->u.st.cu_lost && count) {
            copyuid(s, cu, sizeof cu);
            out_fmt(s, "* OK %s Moved\r\n", cu);
        }
        s->u.st.src_len = 0;
        s->u.st.dst_first = 0;
        s->u.st.cu_lost = 0;
        srv_expunged(srv, s->view.mbox, srv->batch, n);
        return STEP_WAIT;       /* let IDLE sessions announce it first */
    }
    return STEP_MORE;
}

int cmd_copy(struct imap_sess *s)
{
    char name[LWM_MBOX_NAME_MAX + 1];
    uint32_t a = arg0(s);
    int dst, move = sub_is(s, "MOVE"), nl;
    if (s->cmd.ntoks != a + 2)
        return resp_bad(s, "Expected a set and a mailbox");
    if (view_set_check(s, (uint16_t)a, (int)a) < 0)
        return STEP_DONE;
    nl = tok_mbox(s, &s->toks[a + 1], name, sizeof name);
    if (nl < 0)
        return resp_bad(s, "Invalid mailbox name");
    dst = lwm_mbox_find(sess_srv(s)->store, s->user, name, (size_t)nl);
    if (dst < 0)
        return resp_no(s, "[TRYCREATE] No such mailbox");
    if (move && s->view.readonly)
        return resp_no(s, "[READ-ONLY] Mailbox is read-only");
    memset(&s->u.st, 0, sizeof s->u.st);
    s->u.st.set_tok = (uint16_t)a;
    s->u.st.uid = (uint8_t)a;
    s->u.st.dst = dst;
    s->u.st.move = (uint8_t)move;
    {
        struct lwm_mbox_info di;
        lwm_mbox_info(sess_srv(s)->store, dst, &di);
        s->u.st.dst_id = di.id;
        s->u.st.limit = s->view.uidnext;
    }
    if (move && !a) {
        if (seq_to_uid_ranges(s, 0) < 0)
            return resp_no(s, "[LIMIT] Too many ranges for MOVE "
                              "by sequence numbers; use UID MOVE");
        if (!s->u.st.nur)
            return resp_done(s);
    }
    s->step = copy_step;
    return STEP_MORE;
}

/* ------------------------------------------------------------ APPEND */

void append_abort(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    if (!s->in_append)
        return;
    s->in_append = 0;
    if (s->u.ap.append >= 0) {
        lwm_append_abort(srv->store, s->u.ap.append);
        s->u.ap.append = -1;
    }
    if (s->u.ap.mime >= 0) {
        srv_mime_put(srv, s->u.ap.mime);
        s->u.ap.mime = -1;
    }
    if (s->rx_mode == RX_APPEND)
        s->rx_mode = RX_DISCARD;
}

void append_input(struct imap_sess *s, const uint8_t *p, size_t n)
{
    struct lwm_server *srv = sess_srv(s);
    if (s->u.ap.err || s->u.ap.append < 0)
        return;
    s->u.ap.err = lwm_append_write(srv->store, s->u.ap.append, p,
                                   (uint32_t)n);
    if (s->u.ap.mime >= 0)
        lwm_mime_feed(&srv->mime[s->u.ap.mime], p, n);
}

/* The literal is in: store the summary, commit, answer */
static int append_finish(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    struct lwm_mime *mm = &srv->mime[s->u.ap.mime];
    struct lwm_mbox_info mi;
    uint32_t off = 0, total;
    int r = s->u.ap.err, a = s->u.ap.append;
    if (!r) {
        uint8_t chunk[256];
        lwm_mime_end(mm);
        total = lwm_mime_blob_size(mm);
        while (off < total && !r) {
            size_t n = lwm_mime_render(mm, off, chunk, sizeof chunk);
            if (!n)
                break;
            r = lwm_append_summary(srv->store, a, chunk, (uint32_t)n);
            off += (uint32_t)n;
        }
    }
    srv_mime_put(srv, s->u.ap.mime);
    s->u.ap.mime = -1;
    s->in_append = 0;
    if (r >= 0)
        r = lwm_append_commit(srv->store, a);
    else
        lwm_append_abort(srv->store, a);
    s->u.ap.append = -1;
    if (r < 0)
        return resp_store_err(s, r, "APPEND failed");
    srv_changed(srv, s->u.ap.mbox);
    lwm_mbox_info(srv->store, s->u.ap.mbox, &mi);
    return resp_fmt(s, "OK [APPENDUID %u %u] APPEND completed",
                    mi.uidvalidity, (uint32_t)r);
}

/* After a streamed literal: the rest of the command line */
static int append_tail(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    int k = s->slot;
    uint8_t *rx = sess_rx(s);
    uint32_t len = srv->rx_len[k];
    if (s->rx_mode == RX_APPEND)
        return STEP_INPUT;
    if (len == 0 || (len == 1 && rx[0] == '\r'))
        return STEP_INPUT;
    if (rx[0] == '\n' || (rx[0] == '\r' && rx[1] == '\n')) {
        s->cmd_len = rx[0] == '\n' ? 1 : 2;
        return append_finish(s);
    }
    /* MULTIAPPEND and CATENATE are not offered: drop the rest of the
     * line (pipelined commands after it stay) */
    append_abort(s);
    {
        uint8_t *lf = memchr(rx, '\n', len);
        if (lf) {
            s->cmd_len = (uint32_t)(lf - rx) + 1;
        } else {
            srv->rx_len[k] = 0;
            s->rx_mode = RX_SKIPLINE;
        }
    }
    return resp_bad(s, "Unexpected data after the message");
}

int cmd_append(struct imap_sess *s)
{
    return append_start(s, 0);
}

static int append_begin(struct imap_sess *s, int streamed);

int append_start(struct imap_sess *s, int streamed)
{
    int r;
    s->lit_refused = 0;
    r = append_begin(s, streamed);
    /* a refused streamed APPEND must still get rid of its literal */
    if (streamed && r == STEP_DONE && !s->lit_refused)
        lit_refuse(s);
    return r;
}

static int append_begin(struct imap_sess *s, int streamed)
{
    struct lwm_server *srv = sess_srv(s);
    char name[LWM_MBOX_NAME_MAX + 1];
    uint32_t n = s->cmd.ntoks, t = 1, flags = 0;
    int64_t date = -1;
    uint64_t size;
    int m, nl, r, mime;
    const uint8_t *data = NULL;
    size_t have;

    s->u.ap.append = -1;
    s->u.ap.mime = -1;
    s->u.ap.err = 0;
    if (n < 1 || (!streamed && n < 2))
        return resp_bad(s, "APPEND needs a mailbox and a message");
    nl = tok_mbox(s, &s->toks[0], name, sizeof name);
    if (nl < 0)
        return resp_bad(s, "Invalid mailbox name");
    m = lwm_mbox_find(srv->store, s->user, name, (size_t)nl);
    if (t < n && s->toks[t].type == LWM_TOK_LIST) {
        uint32_t end = s->toks[t].len;
        /* a list still open when a streamed literal stopped the parser
         * has no end token */
        if (end <= t || end >= n || s->toks[end].type != LWM_TOK_LIST_END)
            return resp_bad(s, "Invalid flag list");
        if (m >= 0) {
            r = parse_flags(s, m, &s->toks[t + 1], end - t - 1, &flags, 1);
            if (r == -2)
                return resp_no(s, "[LIMIT] Too many keywords");
            if (r < 0)
                return resp_bad(s, "Invalid flag");
        }
        t = end + 1;
    }
    if (t < n && s->toks[t].type == LWM_TOK_QUOTED) {
        date = lwm_imap_datetime(sess_rx(s) + s->toks[t].off,
                                 s->toks[t].len);
        if (date < 0)
            return resp_bad(s, "Invalid date-time");
        t++;
    }
    if (streamed) {
        if (t != n)
            return resp_bad(s, "Invalid APPEND arguments");
        size = s->cmd.lit_size;
    } else {
        if (t + 1 != n || s->toks[t].type != LWM_TOK_LITERAL)
            return resp_bad(s, "Invalid APPEND arguments");
        size = s->toks[t].len;
        data = sess_rx(s) + s->toks[t].off;
    }
    if (m < 0 || size == 0 || size > LWM_IMAP_APPENDLIMIT) {
        if (streamed)
            lit_refuse(s);
        if (m < 0)
            return resp_no(s, "[TRYCREATE] No such mailbox");
        if (size == 0)
            return resp_no(s, "Empty messages are not accepted");
        return resp_no(s, "[TOOBIG] Message too large");
    }
    {
        struct lwm_mbox_info mi;
        lwm_mbox_info(srv->store, m, &mi);
        if (mi.attrs & LWM_MBOX_NOSELECT)
            return resp_no(s, "[CANNOT] Mailbox cannot hold messages");
    }
    mime = srv_mime_get(srv);
    if (mime < 0)
        return STEP_WAIT;
    if (date < 0) {
        const struct lwm_port *p = srv->cfg->port;
        date = p->unix_time ? p->unix_time(p->ctx) : 0;
    }
    r = lwm_append_begin_sized(srv->store, m, (uint32_t)date, flags,
                               (uint32_t)size);
    if (r == LWM_ERR_BUSY) {
        srv_mime_put(srv, mime);
        return STEP_WAIT;
    }
    if (r < 0) {
        srv_mime_put(srv, mime);
        if (streamed)
            lit_refuse(s);
        return resp_store_err(s, r, "APPEND failed");
    }
    s->u.ap.append = r;
    s->u.ap.mime = mime;
    s->in_append = 1;
    s->u.ap.mbox = m;
    s->u.ap.size = (uint32_t)size;
    if (!streamed) {
        append_input(s, data, (size_t)size);
        return append_finish(s);
    }
    /* streamed: the bytes after the literal's header already here are
     * message data; the rest goes to the store as it arrives */
    if (!(s->cmd.lit_flags & LWM_TOKF_NONSYNC))
        out_str(s, "+ Ready for literal data\r\n");
    have = srv->rx_len[s->slot] - s->cmd.lit_off;
    if (have > size)
        have = (size_t)size;
    append_input(s, sess_rx(s) + s->cmd.lit_off, have);
    rx_drop(s, s->cmd.lit_off + have);
    s->cmd_len = 0;
    s->lit_left = size - have;
    if (s->lit_left)
        s->rx_mode = RX_APPEND;
    s->busy = 1;
    s->step = append_tail;
    return STEP_MORE;
}
