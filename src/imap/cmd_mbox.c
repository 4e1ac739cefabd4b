/*
 * lwmail IMAP - mailbox commands: SELECT, EXAMINE, CREATE, DELETE,
 * RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (RFC 5258 LIST-EXTENDED, RFC 5819
 * LIST-STATUS, RFC 6154 SPECIAL-USE), LSUB, STATUS, CLOSE, UNSELECT.
 */
#include <string.h>

#include "imap/args.h"
#include "imap/imap_int.h"
#include "util/lwm_util.h"

static struct lwm_store *store_of(struct imap_sess *s)
{
    return sess_srv(s)->store;
}

/* The slot of the user's INBOX (< 0 if none), which CREATE, DELETE and
 * RENAME treat apart */
static int inbox_slot(struct imap_sess *s)
{
    return lwm_mbox_find(store_of(s), s->user, "INBOX", 5);
}

/* Read the mailbox name argument t; on failure the tagged response is
 * set and -1 returned. */
static int mbox_arg(struct imap_sess *s, const struct lwm_tok *t,
                    char *name, size_t cap)
{
    int n = tok_mbox(s, t, name, cap);
    if (n == LWM_ERR_NAMETOOLONG) {
        resp_no(s, "[LIMIT] Mailbox name too long");
        return -1;
    }
    if (n < 0) {
        resp_bad(s, s->utf8 ? "Invalid mailbox name"
                             : "Invalid mailbox name (modified "
                               "UTF-7 expected)");
        return -1;
    }
    return n;
}

static const char *special_attr(uint16_t attrs)
{
    if (attrs & LWM_MBOX_SENT)
        return "\\Sent";
    if (attrs & LWM_MBOX_DRAFTS)
        return "\\Drafts";
    if (attrs & LWM_MBOX_TRASH)
        return "\\Trash";
    if (attrs & LWM_MBOX_JUNK)
        return "\\Junk";
    if (attrs & LWM_MBOX_ARCHIVE)
        return "\\Archive";
    return NULL;
}

/* Has the mailbox named name children (of this user)? */
static int has_children(struct imap_sess *s, const char *name)
{
    struct lwm_store *st = store_of(s);
    size_t n = strlen(name);
    int m = -1;
    while ((m = lwm_mbox_next(st, s->user, m)) >= 0) {
        struct lwm_mbox_info mi;
        if (lwm_mbox_info(st, m, &mi) == 0 && strlen(mi.name) > n &&
            mi.name[n] == '/' && memcmp(mi.name, name, n) == 0)
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------ SELECT */

static void out_flag_names(struct imap_sess *s, int m, int perm)
{
    int i;
    out_str(s, "(\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for (i = 0; i < LWM_KEYWORDS_MAX; i++) {
        const char *kw = lwm_keyword_name(store_of(s), m, i);
        if (kw)
            out_fmt(s, " %s", kw);
    }
    if (perm) {
        struct lwm_mbox_info mi;
        /* new keywords can be made while the table has room */
        if (lwm_mbox_info(store_of(s), m, &mi) == 0) {
            int used = 0;
            for (i = 0; i < LWM_KEYWORDS_MAX; i++)
                if (lwm_keyword_name(store_of(s), m, i))
                    used++;
            if (used < LWM_KEYWORDS_MAX)
                out_str(s, " \\*");
        }
    }
    out_raw(s, ")", 1);
}

int cmd_select(struct imap_sess *s)
{
    struct lwm_store *st = store_of(s);
    char name[LWM_MBOX_NAME_MAX + 1];
    struct lwm_mbox_info mi;
    int m, examine = cmd_is(s, "EXAMINE"), was_selected;
    uint32_t i, unseen = 0;
    if (s->cmd.ntoks < 1)
        return resp_bad(s, "Mailbox name expected");
    if (s->cmd.ntoks > 1) {
        /* select parameters (RFC 4466): only an empty list is known */
        if (s->toks[1].type != LWM_TOK_LIST || s->cmd.ntoks != 3)
            return resp_bad(s, "Unknown SELECT parameters");
    }
    if (mbox_arg(s, &s->toks[0], name, sizeof name) < 0)
        return STEP_DONE;
    was_selected = s->state == SS_SELECTED;
    /* RFC 9051 6.3.2: a failed SELECT leaves no mailbox selected */
    view_close(s);
    s->state = SS_AUTH;
    if (was_selected && s->rev2)
        out_str(s, "* OK [CLOSED] Previous mailbox closed\r\n");
    m = lwm_mbox_find(st, s->user, name, strlen(name));
    if (m < 0)
        return resp_no(s, "[NONEXISTENT] No such mailbox");
    lwm_mbox_info(st, m, &mi);
    if (mi.attrs & LWM_MBOX_NOSELECT)
        return resp_no(s, "[CANNOT] Mailbox cannot be selected");
    s->view.mbox = m;
    s->view.mbox_id = mi.id;
    s->view.uidvalidity = mi.uidvalidity;
    s->view.uidnext = mi.uidnext;
    s->view.modseq = mi.highestmodseq;
    s->view.exists = mi.exists;
    s->view.readonly = (uint8_t)examine;
    s->view.nruns = 0;
    s->view.lost = 0;
    s->view.scan = 0;
    s->state = SS_SELECTED;

    out_fmt(s, "* %u EXISTS\r\n", mi.exists);
    if (!s->rev2) {
        out_str(s, "* 0 RECENT\r\n");
        if (mi.unseen) {
            for (i = 0; i < mi.exists; i++) {
                const struct lwm_msg_ent *e = lwm_msg_entry(st, m, i);
                if (!(e->flags & LWM_FLAG_SEEN)) {
                    unseen = i + 1;
                    break;
                }
            }
            out_fmt(s, "* OK [UNSEEN %u] First unseen\r\n", unseen);
        }
    }
    out_str(s, "* FLAGS ");
    out_flag_names(s, m, 0);
    out_str(s, "\r\n* OK [PERMANENTFLAGS ");
    if (examine)
        out_str(s, "()");
    else
        out_flag_names(s, m, 1);
    out_fmt(s, "] Flags permitted\r\n* OK [UIDVALIDITY %u] UIDs valid\r\n"
               "* OK [UIDNEXT %u] Predicted next UID\r\n",
            mi.uidvalidity, mi.uidnext);
    if (s->rev2) {
        out_str(s, "* LIST () \"/\" ");
        out_mbox(s, mi.name);
        out_str(s, "\r\n");
    }
    return resp_ok(s, examine ? "[READ-ONLY] EXAMINE completed"
                              : "[READ-WRITE] SELECT completed");
}

/* ------------------------------------------------ CLOSE / UNSELECT */

/* Gather up to max UIDs of \Deleted messages (in the UID set tok when
 * tok >= 0) of the view from store index *idx on. */
static uint32_t gather_deleted(struct imap_sess *s, uint32_t *idx,
                               int set_tok, uint32_t max)
{
    struct lwm_server *srv = sess_srv(s);
    uint32_t n = 0, vis = view_visible(s);
    while (*idx < vis && n < max) {
        const struct lwm_msg_ent *e =
            lwm_msg_entry(srv->store, s->view.mbox, *idx);
        (*idx)++;
        if (!(e->flags & LWM_FLAG_DELETED))
            continue;
        if (set_tok >= 0) {
            const struct lwm_tok *t = &s->toks[set_tok];
            const struct lwm_msg_ent *last =
                lwm_msg_entry(srv->store, s->view.mbox, vis - 1);
            if (!lwm_seqset_has(sess_rx(s) + t->off, t->len,
                                last ? last->uid : 0, e->uid))
                continue;
        }
        srv->batch[n++] = e->uid;
    }
    return n;
}

/* Expunge every \Deleted message (in the set, for UID EXPUNGE) in
 * batches; the expunges reach every session through srv_expunged, this
 * one included, and are announced like anyone else's. */
static int expunge_step(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    int set_tok = s->u.st.set_tok == 0xFFFF ? -1 : (int)s->u.st.set_tok;
    uint32_t n, idx;
    int r;
    /* announce what is pending first, so a batch never overflows the
     * run list (a batch is at most half of it) */
    if (!s->u.st.silent) {
        r = view_announce(s, 1);
        if (r != STEP_DONE || s->closing)
            return r == STEP_DONE ? STEP_DONE : STEP_MORE;
    }
    idx = 0;
    n = gather_deleted(s, &idx, set_tok,
                       LWM_IMAP_EXPUNGE_RUNS / 2 < LWM_IMAP_BATCH
                           ? LWM_IMAP_EXPUNGE_RUNS / 2
                           : LWM_IMAP_BATCH);
    if (n == 0) {
        if (s->u.st.silent) {           /* CLOSE */
            view_close(s);
            s->state = SS_AUTH;
            return resp_done(s);
        }
        return resp_done(s);
    }
    r = lwm_expunge(srv->store, s->view.mbox, srv->batch, n);
    if (r < 0)
        return resp_store_err(s, r, "Expunge failed");
    srv_expunged(srv, s->view.mbox, srv->batch, n);
    if (s->u.st.silent) {
        /* CLOSE: this session does not hear of its own expunges */
        s->view.nruns = 0;
        if (s->view.lost == 1)
            s->view.lost = 0;   /* only our own expunges overflowed it */
    }
    /* yield to the poll loop, so sessions in IDLE announce this batch
     * before the next one can overflow their run lists */
    return STEP_WAIT;
}

static int start_expunge(struct imap_sess *s, int set_tok, int close)
{
    memset(&s->u.st, 0, sizeof s->u.st);
    s->u.st.set_tok = (uint16_t)(set_tok < 0 ? 0xFFFF : set_tok);
    s->u.st.silent = (uint8_t)close;
    s->step = expunge_step;
    return STEP_MORE;
}

int cmd_close(struct imap_sess *s)
{
    if (s->cmd.ntoks)
        return resp_bad(s, "No arguments expected");
    if (cmd_is(s, "UNSELECT") || s->view.readonly) {
        view_close(s);
        s->state = SS_AUTH;
        return resp_done(s);
    }
    return start_expunge(s, -1, 1);
}

int cmd_expunge(struct imap_sess *s)
{
    int uid = cmd_is(s, "UID");
    uint32_t base = uid ? 1 : 0;
    if (s->cmd.ntoks != base + (uid ? 1 : 0))
        return resp_bad(s, uid ? "UID EXPUNGE needs a UID set"
                               : "No arguments expected");
    if (s->view.readonly)
        return resp_no(s, "[READ-ONLY] Mailbox is read-only");
    if (uid) {
        if (view_set_check(s, 1, 1) < 0)
            return STEP_DONE;
        return start_expunge(s, 1, 0);
    }
    return start_expunge(s, -1, 0);
}

/* ------------------------------------------------ CREATE, DELETE ... */

int cmd_create(struct imap_sess *s)
{
    char name[LWM_MBOX_NAME_MAX + 2];
    int n, r;
    if (s->cmd.ntoks != 1 &&
        !(s->cmd.ntoks >= 2 && s->toks[1].type == LWM_TOK_LIST))
        return resp_bad(s, "CREATE needs a mailbox name");
    if ((n = mbox_arg(s, &s->toks[0], name, sizeof name)) < 0)
        return STEP_DONE;
    /* RFC 9051 6.3.4: a trailing delimiter says "will have children" */
    if (n > 1 && name[n - 1] == '/')
        name[--n] = 0;
    if (n == 5 && inbox_slot(s) >= 0 &&
        (name[0] | 0x20) == 'i' && lwm_mbox_find(store_of(s), s->user,
                                                 name, 5) >= 0)
        return resp_no(s, "[ALREADYEXISTS] INBOX exists");
    r = lwm_mbox_create(store_of(s), s->user, name, (size_t)n, 0);
    if (r < 0) {
        if (r == LWM_ERR_INVAL)
            return resp_no(s, "[CANNOT] Invalid mailbox name");
        return resp_store_err(s, r, "CREATE failed");
    }
    return resp_done(s);
}

int cmd_delete(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    char name[LWM_MBOX_NAME_MAX + 1];
    int n, m, r;
    if (s->cmd.ntoks != 1)
        return resp_bad(s, "DELETE needs a mailbox name");
    if ((n = mbox_arg(s, &s->toks[0], name, sizeof name)) < 0)
        return STEP_DONE;
    m = lwm_mbox_find(srv->store, s->user, name, (size_t)n);
    if (m < 0)
        return resp_no(s, "[NONEXISTENT] No such mailbox");
    if (n == 5 && m == inbox_slot(s))
        return resp_no(s, "[CANNOT] INBOX cannot be deleted");
    {
        struct lwm_mbox_info mi;
        lwm_mbox_info(srv->store, m, &mi);
        if ((mi.attrs & LWM_MBOX_NOSELECT) && has_children(s, mi.name))
            return resp_no(s, "[INUSE] Mailbox has children");
    }
    if (s->state == SS_SELECTED && s->view.mbox == m) {
        view_close(s);
        s->state = SS_AUTH;
    }
    r = lwm_mbox_delete(srv->store, s->user, name, (size_t)n);
    if (r < 0)
        return resp_store_err(s, r, "DELETE failed");
    srv_mbox_gone(srv, m);
    return resp_done(s);
}

int cmd_rename(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    char from[LWM_MBOX_NAME_MAX + 1], to[LWM_MBOX_NAME_MAX + 1];
    int fl, tl, m, r;
    if (s->cmd.ntoks != 2)
        return resp_bad(s, "RENAME needs two mailbox names");
    if ((fl = mbox_arg(s, &s->toks[0], from, sizeof from)) < 0 ||
        (tl = mbox_arg(s, &s->toks[1], to, sizeof to)) < 0)
        return STEP_DONE;
    m = lwm_mbox_find(srv->store, s->user, from, (size_t)fl);
    if (m < 0)
        return resp_no(s, "[NONEXISTENT] No such mailbox");
    if (lwm_mbox_find(srv->store, s->user, to, (size_t)tl) >= 0)
        return resp_no(s, "[ALREADYEXISTS] Target exists");
    if (fl == 5 && m == inbox_slot(s))
        srv_all_expunged(srv, m, 0);    /* count what each view holds */
    r = lwm_mbox_rename(srv->store, s->user, from, (size_t)fl, to,
                        (size_t)tl);
    if (r < 0) {
        if (r == LWM_ERR_INVAL)
            return resp_no(s, "[CANNOT] Invalid mailbox name");
        return resp_store_err(s, r, "RENAME failed");
    }
    /* renaming INBOX moved all its messages away (RFC 3501 6.3.5): every
     * session with INBOX open hears that all of them were expunged */
    if (fl == 5 && m == inbox_slot(s))
        srv_all_expunged(srv, m, 1);
    return resp_done(s);
}

int cmd_subscribe(struct imap_sess *s)
{
    char name[LWM_MBOX_NAME_MAX + 1];
    int n, r, on = cmd_is(s, "SUBSCRIBE");
    if (s->cmd.ntoks != 1)
        return resp_bad(s, "Mailbox name expected");
    if ((n = mbox_arg(s, &s->toks[0], name, sizeof name)) < 0)
        return STEP_DONE;
    r = lwm_mbox_subscribe(store_of(s), s->user, name, (size_t)n, on);
    if (r < 0 && !(r == LWM_ERR_NOENT && !on))
        return resp_store_err(s, r, on ? "SUBSCRIBE failed"
                                       : "UNSUBSCRIBE failed");
    return resp_done(s);
}

/* ------------------------------------------------------------ STATUS */

/* STATUS items: bit i of the mask is the i-th name */
static const char sta_names[] =
    "MESSAGES\0UIDNEXT\0UIDVALIDITY\0UNSEEN\0RECENT\0SIZE\0DELETED\0";
#define STA_COUNT 7

/* The STATUS item list at token t (a LIST); 0 if malformed */
static int status_items(struct imap_sess *s, uint32_t t, uint32_t *end)
{
    uint32_t i, last;
    int bits = 0;
    if (t >= s->cmd.ntoks || s->toks[t].type != LWM_TOK_LIST)
        return 0;
    last = s->toks[t].len;
    for (i = t + 1; i < last; i++) {
        int j = tok_which(s, &s->toks[i], sta_names);
        if (j < 0)
            return 0;
        bits |= 1 << j;
    }
    *end = last + 1;
    return bits;                    /* 0: an empty list is a syntax error */
}

static void out_status(struct imap_sess *s, int m, int bits)
{
    struct lwm_mbox_info mi;
    uint64_t val[STA_COUNT];
    int i;
    lwm_mbox_info(store_of(s), m, &mi);
    val[0] = mi.exists;
    val[1] = mi.uidnext;
    val[2] = mi.uidvalidity;
    val[3] = mi.unseen;
    val[4] = 0;                     /* RECENT: not kept */
    val[5] = mi.size;
    val[6] = mi.deleted;
    out_str(s, "* STATUS ");
    out_mbox(s, mi.name);
    out_str(s, " (");
    for (i = 0; i < STA_COUNT; i++)
        if (bits >> i & 1)
            out_fmt(s, "%s%s %U", (bits & ((1 << i) - 1)) ? " " : "",
                    lwm_str_at(sta_names, (size_t)i), val[i]);
    out_str(s, ")\r\n");
}

int cmd_status(struct imap_sess *s)
{
    char name[LWM_MBOX_NAME_MAX + 1];
    uint32_t end;
    int n, m, bits;
    if (s->cmd.ntoks < 2)
        return resp_bad(s, "STATUS needs a mailbox and items");
    if ((n = mbox_arg(s, &s->toks[0], name, sizeof name)) < 0)
        return STEP_DONE;
    bits = status_items(s, 1, &end);
    if (!bits || end != s->cmd.ntoks)
        return resp_bad(s, "Invalid STATUS items");
    m = lwm_mbox_find(store_of(s), s->user, name, (size_t)n);
    if (m < 0)
        return resp_no(s, "[NONEXISTENT] No such mailbox");
    {
        struct lwm_mbox_info mi;
        lwm_mbox_info(store_of(s), m, &mi);
        if (mi.attrs & LWM_MBOX_NOSELECT)
            return resp_no(s, "[CANNOT] Mailbox has no status");
    }
    out_status(s, m, bits);
    return resp_done(s);
}

/* ------------------------------------------------------------ LIST */

/* Match name against an IMAP LIST pattern: "*" matches anything, "%"
 * anything but the delimiter. A set of live pattern positions is carried
 * along the name (O(pattern x name), never exponential however many
 * wildcards a client sends). */
static int pat_match(const char *p, const char *n)
{
    uint8_t on[2 * LWM_MBOX_NAME_MAX + 8], nx[sizeof on];
    size_t plen = strlen(p), i;
    if (plen >= sizeof on)
        return 0;
    memset(on, 0, plen + 1);
    on[0] = 1;
    for (i = 0; i < plen; i++)          /* a wildcard may match nothing */
        if (on[i] && (p[i] == '*' || p[i] == '%'))
            on[i + 1] = 1;
    for (; *n; n++) {
        memset(nx, 0, plen + 1);
        for (i = 0; i < plen; i++) {
            if (!on[i])
                continue;
            if (p[i] == '*' || (p[i] == '%' && *n != '/'))
                nx[i] = 1;              /* the wildcard takes this char */
            else if (p[i] == *n)
                nx[i + 1] = 1;
        }
        for (i = 0; i < plen; i++)
            if (nx[i] && (p[i] == '*' || p[i] == '%'))
                nx[i + 1] = 1;
        memcpy(on, nx, plen + 1);
    }
    return on[plen];
}

static int list_match(const char *pat, const char *name)
{
    /* INBOX's first component compares case-insensitively */
    if (strncmp(name, "INBOX", 5) == 0 && (name[5] == 0 || name[5] == '/')) {
        size_t i;
        for (i = 0; i < 5 && pat[i] && pat[i] != '*' && pat[i] != '%'; i++)
            if (lwm_lower((uint8_t)pat[i]) != "inbox"[i])
                break;
        if (i == 5)
            return pat_match(pat + 5, name + 5);
    }
    return pat_match(pat, name);
}

/* Build the full pattern: reference + pattern (RFC 3501 6.3.8) */
static int list_pattern(struct imap_sess *s, uint32_t t, char *out,
                        size_t cap)
{
    size_t rl = strlen(s->u.ls.ref);
    int n;
    if (rl >= cap)
        return -1;
    memcpy(out, s->u.ls.ref, rl);
    n = tok_mbox(s, &s->toks[t], out + rl, cap - rl);
    if (n < 0)
        return -1;
    /* a reference ending in "/" and a pattern starting with one */
    if (rl && out[rl - 1] == '/' && out[rl] == '/')
        memmove(out + rl, out + rl + 1, (size_t)n);
    return 0;
}

static void out_list_line(struct imap_sess *s, const struct lwm_mbox_info *mi,
                          int children)
{
    const char *w[4];
    int n = 0, i, lsub = s->u.ls.lsub;
    /* a placeholder with no children is a subscription whose mailbox was
     * deleted (RFC 5258 3.1: \NonExistent) */
    if ((mi->attrs & LWM_MBOX_NOSELECT) && (!lsub || children))
        w[n++] = lsub || children ? "\\Noselect" : "\\NonExistent";
    if (!lsub) {
        w[n++] = children ? "\\HasChildren" : "\\HasNoChildren";
        if ((s->u.ls.ret_sub || s->u.ls.sel_sub) &&
            (mi->attrs & LWM_MBOX_SUBSCRIBED))
            w[n++] = "\\Subscribed";
    }
    if (special_attr(mi->attrs))
        w[n++] = special_attr(mi->attrs);
    out_fmt(s, "* %s (", lsub ? "LSUB" : "LIST");
    for (i = 0; i < n; i++)
        out_fmt(s, i ? " %s" : "%s", w[i]);
    out_str(s, ") \"/\" ");
    out_mbox(s, mi->name);
    out_str(s, "\r\n");
}

static int list_step(struct imap_sess *s)
{
    struct lwm_store *st = store_of(s);
    int m;
    while (tx_free(s) >= IMAP_TX_RESERVE) {
        struct lwm_mbox_info mi;
        uint32_t i;
        int match = 0;
        m = lwm_mbox_next(st, s->user, s->u.ls.prev);
        if (m < 0)
            return resp_done(s);
        s->u.ls.prev = m;
        if (lwm_mbox_info(st, m, &mi) < 0)
            continue;
        if ((s->u.ls.lsub || s->u.ls.sel_sub) &&
            !(mi.attrs & LWM_MBOX_SUBSCRIBED))
            continue;
        if (s->u.ls.sel_special && !special_attr(mi.attrs))
            continue;
        if ((mi.attrs & LWM_MBOX_NOSELECT) && !s->u.ls.lsub &&
            !s->u.ls.sel_sub && !has_children(s, mi.name))
            continue;           /* only its subscription is left */
        for (i = 0; i < s->u.ls.npat && !match; i++) {
            char pat[2 * LWM_MBOX_NAME_MAX + 4];
            if (list_pattern(s, s->u.ls.pat_tok + i, pat, sizeof pat) < 0)
                continue;
            match = list_match(pat, mi.name);
        }
        if (!match)
            continue;
        out_list_line(s, &mi, has_children(s, mi.name));
        if (s->u.ls.ret_status && !(mi.attrs & LWM_MBOX_NOSELECT)) {
            uint32_t end;
            out_status(s, m, status_items(s, s->u.ls.status_tok, &end));
        }
    }
    return STEP_MORE;
}

int cmd_list(struct imap_sess *s)
{
    uint32_t t = 0, n = s->cmd.ntoks;
    int lsub = cmd_is(s, "LSUB");
    memset(&s->u.ls, 0, sizeof s->u.ls);
    s->u.ls.prev = -1;
    s->u.ls.lsub = (uint8_t)lsub;
    /* LIST [(selection options)] reference pattern(s) [RETURN (...)] */
    if (!lsub && n && s->toks[0].type == LWM_TOK_LIST) {
        uint32_t i, end = s->toks[0].len;
        for (i = 1; i < end; i++) {
            int w = tok_which(s, &s->toks[i], "SUBSCRIBED\0SPECIAL-USE\0"
                                              "RECURSIVEMATCH\0REMOTE\0");
            if (w < 0)
                return resp_bad(s, "Unknown LIST selection option");
            if (w == 0)
                s->u.ls.sel_sub = 1;
            if (w == 1)
                s->u.ls.sel_special = 1;
        }
        t = end + 1;
    }
    if (t + 2 > n)
        return resp_bad(s, "LIST needs a reference and a pattern");
    {
        char ref[LWM_MBOX_NAME_MAX + 1];
        int rl = tok_mbox(s, &s->toks[t], ref, sizeof ref);
        if (rl < 0)
            return resp_bad(s, "Invalid reference name");
        memcpy(s->u.ls.ref, ref, (size_t)rl + 1);
    }
    t++;
    if (s->toks[t].type == LWM_TOK_LIST && !lsub) {
        s->u.ls.pat_tok = (uint16_t)(t + 1);
        s->u.ls.npat = (uint16_t)(s->toks[t].len - t - 1);
        t = s->toks[t].len + 1;
    } else {
        if (s->toks[t].type == LWM_TOK_LIST)
            return resp_bad(s, "Invalid pattern");
        s->u.ls.pat_tok = (uint16_t)t;
        s->u.ls.npat = 1;
        t++;
    }
    if (t < n) {
        uint32_t i, end;
        if (lsub || !tok_is(s, &s->toks[t], "RETURN") || t + 1 >= n ||
            s->toks[t + 1].type != LWM_TOK_LIST)
            return resp_bad(s, "Unexpected LIST arguments");
        end = s->toks[t + 1].len;
        for (i = t + 2; i < end; i++) {
            /* CHILDREN and SPECIAL-USE are always returned */
            int w = tok_which(s, &s->toks[i], "SUBSCRIBED\0CHILDREN\0"
                                              "SPECIAL-USE\0STATUS\0");
            if (w < 0)
                return resp_bad(s, "Unknown LIST return option");
            if (w == 0)
                s->u.ls.ret_sub = 1;
            if (w == 3) {
                uint32_t e2;
                if (!status_items(s, i + 1, &e2))
                    return resp_bad(s, "Invalid STATUS items");
                s->u.ls.ret_status = 1;
                s->u.ls.status_tok = (uint16_t)(i + 1);
                i = e2 - 1;
            }
        }
        if (end + 1 != n)
            return resp_bad(s, "Unexpected LIST arguments");
    }
    /* LIST "" "": the hierarchy delimiter and root */
    if (s->u.ls.npat == 1 && s->toks[s->u.ls.pat_tok].len == 0) {
        out_fmt(s, "* %s (\\Noselect) \"/\" \"\"\r\n", lsub ? "LSUB" : "LIST");
        return resp_done(s);
    }
    s->step = list_step;
    return STEP_MORE;
}
