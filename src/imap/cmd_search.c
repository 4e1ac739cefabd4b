/*
 * lwmail IMAP - SEARCH and UID SEARCH, with ESEARCH (RFC 4731) results.
 * The keys are compiled once (src/search); messages are then decided in
 * bounded steps, reading a message's bytes only while some key needs
 * them.
 */
#include <string.h>

#include "imap/imap_int.h"
#include "util/lwm_util.h"

/* Bytes read and messages looked at per step, so a search over a large
 * mailbox yields to the other sessions regularly. */
#define SEARCH_STEP_BYTES 8192u
#define SEARCH_STEP_MSGS  128u

static int sum_read(void *ctx, uint32_t off, void *buf, uint32_t len)
{
    struct imap_sess *s = ctx;
    return lwm_msg_summary(sess_srv(s)->store, &s->u.se.msg, off, buf, len);
}

/* The text of a message, for BODY and TEXT, is its header, the headers of
 * its parts and the bodies of its text parts; attachments (a camera's
 * base64 JPEG) are skipped, as Dovecot does. Ranges come from the part
 * table stored at APPEND, in message order. Without one, everything is
 * read. Sets se.off (1 + start) and se.r_end; 0 when there is no more. */
static int next_range(struct imap_sess *s)
{
    uint8_t e[LWM_MIME_BLOB_ENT];
    if (!s->u.se.nparts)
        return 0;
    while (s->u.se.part < s->u.se.nparts) {
        uint32_t i = s->u.se.part, hoff, hlen, boff, blen;
        uint8_t flags;
        if (sum_read(s, LWM_MIME_BLOB_HDR + i * LWM_MIME_BLOB_ENT, e,
                     sizeof e) != (int)sizeof e)
            return 0;
        hoff = lwm_get32(e);
        hlen = lwm_get32(e + 4);
        boff = lwm_get32(e + 8);
        blen = lwm_get32(e + 12);
        flags = e[28];
        if (s->u.se.sub == 0) {
            s->u.se.sub = 1;
            if (hlen && boff + blen <= s->u.se.msg.size &&
                hoff + hlen <= s->u.se.msg.size) {
                s->u.se.off = hoff + 1;
                s->u.se.r_end = hoff + hlen;
                return 1;
            }
        }
        s->u.se.sub = 0;
        s->u.se.part++;
        if (blen && (flags & LWM_MIME_F_TEXT) &&
            !(flags & (LWM_MIME_F_MULTIPART | LWM_MIME_F_MESSAGE)) &&
            boff + blen <= s->u.se.msg.size) {
            s->u.se.off = boff + 1;
            s->u.se.r_end = boff + blen;
            return 1;
        }
    }
    return 0;
}

/* Start feeding a message: by its part table when it has one */
static void first_range(struct imap_sess *s)
{
    struct lwm_mime_sum sum;
    s->u.se.nparts = 0;
    s->u.se.part = 0;
    s->u.se.sub = 0;
    s->u.se.off = 1;
    s->u.se.r_end = s->u.se.msg.size;
    if (s->u.se.msg.sum_len &&
        lwm_mime_sum_info(sum_read, s, s->u.se.msg.sum_len, &sum) == 0 &&
        sum.msg_size == s->u.se.msg.size) {
        s->u.se.nparts = sum.nparts;
        if (!next_range(s)) {
            s->u.se.off = 1;
            s->u.se.r_end = 0;          /* nothing to read */
        }
    }
}

static int kw_lookup(void *ctx, const uint8_t *name, size_t len)
{
    struct imap_sess *s = ctx;
    int r = lwm_keyword(sess_srv(s)->store, s->view.mbox,
                        (const char *)name, len, 0);
    return r < 0 ? -1 : r;
}

static void search_release(struct imap_sess *s)
{
    if (s->in_search) {
        srv_search_put(sess_srv(s), s->u.se.slot);
        s->in_search = 0;
    }
}

/* ESEARCH ALL: print the open range */
static void all_flush(struct imap_sess *s)
{
    if (!s->u.se.run_lo)
        return;
    out_fmt(s, s->u.se.run_hi != s->u.se.run_lo ? "%s%u:%u" : "%s%u",
            s->u.se.any ? "," : "", s->u.se.run_lo, s->u.se.run_hi);
    s->u.se.any = 1;
}

static void out_esearch_head(struct imap_sess *s)
{
    out_str(s, "* ESEARCH (TAG ");
    out_quoted(s, (const uint8_t *)s->tag, s->tag_len);
    out_str(s, s->u.se.uid ? ") UID" : ")");
}

static void report(struct imap_sess *s, uint32_t n)
{
    s->u.se.count++;
    if (!s->u.se.min)
        s->u.se.min = n;
    s->u.se.max = n;
    if (!s->u.se.esearch) {
        if (!s->u.se.in_msg) {
            out_str(s, "* SEARCH");
            s->u.se.in_msg = 1;
        }
        out_fmt(s, " %u", n);
        return;
    }
    if (!(s->u.se.opts & LWM_SEARCH_RET_ALL))
        return;
    if (!s->u.se.in_msg) {
        out_esearch_head(s);
        out_str(s, " ALL ");
        s->u.se.in_msg = 1;
    }
    if (s->u.se.run_lo && n == s->u.se.run_hi + 1) {
        s->u.se.run_hi = n;
        return;
    }
    all_flush(s);
    s->u.se.run_lo = s->u.se.run_hi = n;
}

static int search_end(struct imap_sess *s)
{
    unsigned o = s->u.se.opts;
    search_release(s);
    if (!s->u.se.esearch) {
        out_str(s, s->u.se.in_msg ? "\r\n" : "* SEARCH\r\n");
    } else {
        if (s->u.se.in_msg)
            all_flush(s);
        else
            out_esearch_head(s);
        if ((o & LWM_SEARCH_RET_MIN) && s->u.se.count)
            out_fmt(s, " MIN %u", s->u.se.min);
        if ((o & LWM_SEARCH_RET_MAX) && s->u.se.count)
            out_fmt(s, " MAX %u", s->u.se.max);
        if (o & LWM_SEARCH_RET_COUNT)
            out_fmt(s, " COUNT %u", s->u.se.count);
        out_str(s, "\r\n");
    }
    return resp_done(s);
}

static int search_step(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    struct lwm_search_prog *p = &srv->search[s->u.se.slot];
    uint32_t bytes = 0, msgs = 0, vis = view_visible(s);
    uint32_t max_seq = view_count(s), max_uid = 0;
    uint8_t chunk[512];
    if (vis) {
        const struct lwm_msg_ent *e =
            lwm_msg_entry(srv->store, s->view.mbox, vis - 1);
        max_uid = e ? e->uid : 0;
    }
    if (s->u.se.off) {
        /* a message read over several steps: between steps others may
         * have expunged it (or GC moved its body): find it again */
        int k = lwm_msg_find(srv->store, s->view.mbox, s->u.se.msg.uid, 0);
        if (k < 0 || (uint32_t)k >= vis ||
            lwm_msg_get(srv->store, s->view.mbox, (uint32_t)k,
                        &s->u.se.msg) < 0) {
            s->u.se.off = 0;            /* gone: it matches nothing */
            s->u.se.last_uid = s->u.se.msg.uid;
        }
    }
    while (bytes < SEARCH_STEP_BYTES && msgs < SEARCH_STEP_MSGS) {
        if (tx_free(s) < IMAP_TX_RESERVE)
            return STEP_MORE;
        if (!s->u.se.off) {
            /* start the next message: the first UID after the last one
             * done (indexes shift when others expunge between steps) */
            struct lwm_search_msg m;
            const struct lwm_msg_ent *e;
            int k = lwm_msg_find(srv->store, s->view.mbox,
                                 s->u.se.last_uid + 1, 1);
            if (k < 0 || (uint32_t)k >= vis)
                return search_end(s);
            e = lwm_msg_entry(srv->store, s->view.mbox, (uint32_t)k);
            s->u.se.last_uid = e->uid;
            if (lwm_msg_get(srv->store, s->view.mbox, (uint32_t)k,
                            &s->u.se.msg) < 0)
                continue;
            m.seq = view_idx_seq(s, (uint32_t)k);
            m.uid = e->uid;
            m.flags = e->flags;
            m.size = s->u.se.msg.size;
            m.internal_date = s->u.se.msg.date;
            lwm_search_begin(p, &m, max_seq, max_uid);
            s->u.se.cur = s->u.se.uid ? m.uid : m.seq;
            first_range(s);             /* off = 1 + where to read */
            msgs++;
        }
        while (lwm_search_wants(p) != LWM_SEARCH_WANT_NONE &&
               bytes < SEARCH_STEP_BYTES) {
            uint32_t pos = s->u.se.off - 1, want = sizeof chunk;
            int n;
            if (pos >= s->u.se.r_end) {
                if (!next_range(s)) {
                    s->u.se.r_end = 0;
                    break;              /* all of its text is read */
                }
                continue;
            }
            if (want > s->u.se.r_end - pos)
                want = s->u.se.r_end - pos;
            n = lwm_msg_read(srv->store, &s->u.se.msg, pos, chunk, want);
            if (n <= 0) {
                /* unreadable: take what was read as the whole message */
                s->u.se.r_end = 0;
                break;
            }
            lwm_search_feed(p, chunk, (size_t)n);
            s->u.se.off += (uint32_t)n;
            bytes += (uint32_t)n;
        }
        if (lwm_search_wants(p) != LWM_SEARCH_WANT_NONE &&
            (s->u.se.r_end || s->u.se.off - 1 < s->u.se.r_end))
            return STEP_MORE;           /* this message goes on */
        if (lwm_search_result(p))
            report(s, s->u.se.cur);
        s->u.se.off = 0;
    }
    return STEP_MORE;
}

int cmd_search(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    uint32_t a = cmd_is(s, "UID") ? 1u : 0u;
    const char *err = NULL;
    int slot, r;
    unsigned ret;
    if (s->cmd.ntoks <= a)
        return resp_bad(s, "SEARCH needs search keys");
    slot = srv_search_get(srv);
    if (slot < 0)
        return STEP_WAIT;               /* both programs busy: wait */
    memset(&s->u.se, 0, sizeof s->u.se);
    s->u.se.slot = slot;
    s->in_search = 1;
    r = lwm_search_compile(&srv->search[slot], sess_rx(s), &s->toks[a],
                           s->cmd.ntoks - a, kw_lookup, s, &err);
    if (r < 0) {
        search_release(s);
        if (r == LWM_SEARCH_ERR_CHARSET)
            return resp_no(s, "[BADCHARSET (UTF-8 US-ASCII)] "
                              "Unsupported charset");
        if (r == LWM_SEARCH_ERR_LIMIT)
            return resp_no(s, "[LIMIT] Search too complex");
        return resp_bad(s, err ? err : "Invalid search");
    }
    ret = lwm_search_return(&srv->search[slot]);
    if ((ret & LWM_SEARCH_RET_SAVE) ||
        lwm_search_uses_saved(&srv->search[slot])) {
        search_release(s);
        return resp_bad(s, "SEARCHRES ($, SAVE) is not supported");
    }
    s->u.se.uid = (uint8_t)a;
    s->u.se.esearch = (ret & LWM_SEARCH_RET_ESEARCH) || s->rev2;
    s->u.se.opts = (uint8_t)(ret & 0x0F);
    if (s->u.se.esearch && !s->u.se.opts)
        s->u.se.opts = LWM_SEARCH_RET_ALL;    /* RETURN () means ALL */
    s->step = search_step;
    return STEP_MORE;
}
