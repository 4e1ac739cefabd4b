/*
 * lwmail IMAP - mailbox commands: SELECT, EXAMINE, CREATE, DELETE,
 * RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (RFC 5258 LIST-EXTENDED, RFC 5819
 * LIST-STATUS, RFC 6154 SPECIAL-USE), LSUB, STATUS, CLOSE, UNSELECT.
 */
#include <string.h>

#include "imap/args.h"
#include "imap/imap_int.h"

static struct lwm_store *store_of(struct imap_sess *s)
{
    return sess_srv(s)->store;
}

/* Read the mailbox name argument t; on failure the tagged response is
 * set and -1 returned. */
static int mbox_arg(struct imap_sess *s, const struct lwm_tok *t,
                    char *name, size_t cap)
{
    int n = tok_mbox(s, t, name, cap);
    if (n == LWM_ERR_NAMETOOLONG) {
        resp_tagged(s, "NO", "[LIMIT] Mailbox name too long");
        return -1;
    }
    if (n < 0) {
        resp_tagged(s, "BAD", s->utf8 ? "Invalid mailbox name"
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
        if (kw) {
            out_raw(s, " ", 1);
            out_str(s, kw);
        }
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
        return resp_tagged(s, "BAD", "Mailbox name expected");
    if (s->cmd.ntoks > 1) {
        /* select parameters (RFC 4466): only an empty list is known */
        if (s->toks[1].type != LWM_TOK_LIST || s->cmd.ntoks != 3)
            return resp_tagged(s, "BAD", "Unknown SELECT parameters");
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
        return resp_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
    lwm_mbox_info(st, m, &mi);
    if (mi.attrs & LWM_MBOX_NOSELECT)
        return resp_tagged(s, "NO", "[CANNOT] Mailbox cannot be selected");
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

    out_str(s, "* ");
    out_u32(s, mi.exists);
    out_str(s, " EXISTS\r\n");
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
            out_str(s, "* OK [UNSEEN ");
            out_u32(s, unseen);
            out_str(s, "] First unseen\r\n");
        }
    }
    out_str(s, "* FLAGS ");
    out_flag_names(s, m, 0);
    out_str(s, "\r\n* OK [PERMANENTFLAGS ");
    if (examine)
        out_str(s, "()");
    else
        out_flag_names(s, m, 1);
    out_str(s, "] Flags permitted\r\n* OK [UIDVALIDITY ");
    out_u32(s, mi.uidvalidity);
    out_str(s, "] UIDs valid\r\n* OK [UIDNEXT ");
    out_u32(s, mi.uidnext);
    out_str(s, "] Predicted next UID\r\n");
    if (s->rev2) {
        out_str(s, "* LIST () \"/\" ");
        out_mbox(s, mi.name);
        out_str(s, "\r\n");
    }
    return resp_tagged(s, "OK", examine ? "[READ-ONLY] EXAMINE completed"
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
            return resp_tagged(s, "OK", "CLOSE completed");
        }
        return resp_tagged(s, "OK", "EXPUNGE completed");
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
        return resp_tagged(s, "BAD", "No arguments expected");
    if (cmd_is(s, "UNSELECT") || s->view.readonly) {
        int unselect = cmd_is(s, "UNSELECT");
        view_close(s);
        s->state = SS_AUTH;
        return resp_tagged(s, "OK", unselect ? "UNSELECT completed"
                                             : "CLOSE completed");
    }
    return start_expunge(s, -1, 1);
}

int cmd_expunge(struct imap_sess *s)
{
    int uid = cmd_is(s, "UID");
    uint32_t base = uid ? 1 : 0;
    if (s->cmd.ntoks != base + (uid ? 1 : 0))
        return resp_tagged(s, "BAD", uid ? "UID EXPUNGE needs a UID set"
                                         : "No arguments expected");
    if (s->view.readonly)
        return resp_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
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
        return resp_tagged(s, "BAD", "CREATE needs a mailbox name");
    if ((n = mbox_arg(s, &s->toks[0], name, sizeof name)) < 0)
        return STEP_DONE;
    /* RFC 9051 6.3.4: a trailing delimiter says "will have children" */
    if (n > 1 && name[n - 1] == '/')
        name[--n] = 0;
    if (n == 5 && lwm_mbox_find(store_of(s), s->user, "INBOX", 5) >= 0 &&
        (name[0] | 0x20) == 'i' && lwm_mbox_find(store_of(s), s->user,
                                                 name, 5) >= 0)
        return resp_tagged(s, "NO", "[ALREADYEXISTS] INBOX exists");
    r = lwm_mbox_create(store_of(s), s->user, name, (size_t)n, 0);
    if (r < 0) {
        if (r == LWM_ERR_INVAL)
            return resp_tagged(s, "NO", "[CANNOT] Invalid mailbox name");
        return resp_store_err(s, r, "CREATE failed");
    }
    return resp_tagged(s, "OK", "CREATE completed");
}

int cmd_delete(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    char name[LWM_MBOX_NAME_MAX + 1];
    int n, m, r;
    if (s->cmd.ntoks != 1)
        return resp_tagged(s, "BAD", "DELETE needs a mailbox name");
    if ((n = mbox_arg(s, &s->toks[0], name, sizeof name)) < 0)
        return STEP_DONE;
    m = lwm_mbox_find(srv->store, s->user, name, (size_t)n);
    if (m < 0)
        return resp_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
    if (n == 5 && m == lwm_mbox_find(srv->store, s->user, "INBOX", 5))
        return resp_tagged(s, "NO", "[CANNOT] INBOX cannot be deleted");
    {
        struct lwm_mbox_info mi;
        lwm_mbox_info(srv->store, m, &mi);
        if ((mi.attrs & LWM_MBOX_NOSELECT) && has_children(s, mi.name))
            return resp_tagged(s, "NO", "[INUSE] Mailbox has children");
    }
    if (s->state == SS_SELECTED && s->view.mbox == m) {
        view_close(s);
        s->state = SS_AUTH;
    }
    r = lwm_mbox_delete(srv->store, s->user, name, (size_t)n);
    if (r < 0)
        return resp_store_err(s, r, "DELETE failed");
    srv_mbox_gone(srv, m);
    return resp_tagged(s, "OK", "DELETE completed");
}

int cmd_rename(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    char from[LWM_MBOX_NAME_MAX + 1], to[LWM_MBOX_NAME_MAX + 1];
    int fl, tl, m, r;
    if (s->cmd.ntoks != 2)
        return resp_tagged(s, "BAD", "RENAME needs two mailbox names");
    if ((fl = mbox_arg(s, &s->toks[0], from, sizeof from)) < 0 ||
        (tl = mbox_arg(s, &s->toks[1], to, sizeof to)) < 0)
        return STEP_DONE;
    m = lwm_mbox_find(srv->store, s->user, from, (size_t)fl);
    if (m < 0)
        return resp_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
    if (lwm_mbox_find(srv->store, s->user, to, (size_t)tl) >= 0)
        return resp_tagged(s, "NO", "[ALREADYEXISTS] Target exists");
    if (fl == 5 && m == lwm_mbox_find(srv->store, s->user, "INBOX", 5))
        srv_all_expunged(srv, m, 0);    /* count what each view holds */
    r = lwm_mbox_rename(srv->store, s->user, from, (size_t)fl, to,
                        (size_t)tl);
    if (r < 0) {
        if (r == LWM_ERR_INVAL)
            return resp_tagged(s, "NO", "[CANNOT] Invalid mailbox name");
        return resp_store_err(s, r, "RENAME failed");
    }
    /* renaming INBOX moved all its messages away (RFC 3501 6.3.5): every
     * session with INBOX open hears that all of them were expunged */
    if (fl == 5 && m == lwm_mbox_find(srv->store, s->user, "INBOX", 5))
        srv_all_expunged(srv, m, 1);
    return resp_tagged(s, "OK", "RENAME completed");
}

int cmd_subscribe(struct imap_sess *s)
{
    char name[LWM_MBOX_NAME_MAX + 1];
    int n, r, on = cmd_is(s, "SUBSCRIBE");
    if (s->cmd.ntoks != 1)
        return resp_tagged(s, "BAD", "Mailbox name expected");
    if ((n = mbox_arg(s, &s->toks[0], name, sizeof name)) < 0)
        return STEP_DONE;
    r = lwm_mbox_subscribe(store_of(s), s->user, name, (size_t)n, on);
    if (r < 0 && !(r == LWM_ERR_NOENT && !on))
        return resp_store_err(s, r, on ? "SUBSCRIBE failed"
                                       : "UNSUBSCRIBE failed");
    return resp_tagged(s, "OK", on ? "SUBSCRIBE completed"
                                   : "UNSUBSCRIBE completed");
}

/* ------------------------------------------------------------ STATUS */

#define STA_MESSAGES 0x01
#define STA_UIDNEXT  0x02
#define STA_UIDVAL   0x04
#define STA_UNSEEN   0x08
#define STA_RECENT   0x10
#define STA_SIZE     0x20
#define STA_DELETED  0x40

/* The STATUS item list at token t (a LIST); 0 if malformed */
static int status_items(struct imap_sess *s, uint32_t t, uint32_t *end)
{
    static const struct { const char *n; int bit; } items[] = {
        { "MESSAGES", STA_MESSAGES }, { "UIDNEXT", STA_UIDNEXT },
        { "UIDVALIDITY", STA_UIDVAL }, { "UNSEEN", STA_UNSEEN },
        { "RECENT", STA_RECENT }, { "SIZE", STA_SIZE },
        { "DELETED", STA_DELETED },
    };
    uint32_t i, last;
    int bits = 0;
    if (t >= s->cmd.ntoks || s->toks[t].type != LWM_TOK_LIST)
        return 0;
    last = s->toks[t].len;
    for (i = t + 1; i < last; i++) {
        size_t j;
        int found = 0;
        for (j = 0; j < sizeof items / sizeof items[0]; j++) {
            if (tok_is(s, &s->toks[i], items[j].n)) {
                bits |= items[j].bit;
                found = 1;
            }
        }
        if (!found)
            return 0;
    }
    *end = last + 1;
    return bits;                    /* 0: an empty list is a syntax error */
}

static void out_status(struct imap_sess *s, int m, int bits)
{
    struct lwm_mbox_info mi;
    const char *sep = "";
    lwm_mbox_info(store_of(s), m, &mi);
    out_str(s, "* STATUS ");
    out_mbox(s, mi.name);
    out_str(s, " (");
#define STA(bit, word, val)                                                 \
    if (bits & (bit)) {                                                     \
        out_str(s, sep);                                                    \
        out_str(s, word " ");                                               \
        out_u64(s, (val));                                                  \
        sep = " ";                                                          \
    }
    STA(STA_MESSAGES, "MESSAGES", mi.exists)
    STA(STA_UIDNEXT, "UIDNEXT", mi.uidnext)
    STA(STA_UIDVAL, "UIDVALIDITY", mi.uidvalidity)
    STA(STA_UNSEEN, "UNSEEN", mi.unseen)
    STA(STA_RECENT, "RECENT", 0)
    STA(STA_SIZE, "SIZE", mi.size)
    STA(STA_DELETED, "DELETED", mi.deleted)
#undef STA
    out_str(s, ")\r\n");
}

int cmd_status(struct imap_sess *s)
{
    char name[LWM_MBOX_NAME_MAX + 1];
    uint32_t end;
    int n, m, bits;
    if (s->cmd.ntoks < 2)
        return resp_tagged(s, "BAD", "STATUS needs a mailbox and items");
    if ((n = mbox_arg(s, &s->toks[0], name, sizeof name)) < 0)
        return STEP_DONE;
    bits = status_items(s, 1, &end);
    if (!bits || end != s->cmd.ntoks)
        return resp_tagged(s, "BAD", "Invalid STATUS items");
    m = lwm_mbox_find(store_of(s), s->user, name, (size_t)n);
    if (m < 0)
        return resp_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
    {
        struct lwm_mbox_info mi;
        lwm_mbox_info(store_of(s), m, &mi);
        if (mi.attrs & LWM_MBOX_NOSELECT)
            return resp_tagged(s, "NO", "[CANNOT] Mailbox has no status");
    }
    out_status(s, m, bits);
    return resp_tagged(s, "OK", "STATUS completed");
}

/* ------------------------------------------------------------ LIST */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

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
            if (lower((unsigned char)pat[i]) != "inbox"[i])
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
    const char *sp = special_attr(mi->attrs);
    const char *sep = "";
    out_str(s, s->u.ls.lsub ? "* LSUB (" : "* LIST (");
    if (mi->attrs & LWM_MBOX_NOSELECT) {
        /* a placeholder with no children is a subscription whose
         * mailbox was deleted (RFC 5258 3.1: \NonExistent) */
        if (!s->u.ls.lsub || children) {
            out_str(s, s->u.ls.lsub || children ? "\\Noselect"
                                                : "\\NonExistent");
            sep = " ";
        }
    }
    if (!s->u.ls.lsub) {
        out_str(s, sep);
        out_str(s, children ? "\\HasChildren" : "\\HasNoChildren");
        sep = " ";
        if ((s->u.ls.ret_sub || s->u.ls.sel_sub) &&
            (mi->attrs & LWM_MBOX_SUBSCRIBED)) {
            out_str(s, " \\Subscribed");
        }
    }
    if (sp) {
        out_str(s, sep);
        out_str(s, sp);
    }
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
            return resp_tagged(s, "OK", s->u.ls.lsub ? "LSUB completed"
                                                     : "LIST completed");
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
            if (tok_is(s, &s->toks[i], "SUBSCRIBED"))
                s->u.ls.sel_sub = 1;
            else if (tok_is(s, &s->toks[i], "SPECIAL-USE"))
                s->u.ls.sel_special = 1;
            else if (tok_is(s, &s->toks[i], "RECURSIVEMATCH"))
                ;
            else if (tok_is(s, &s->toks[i], "REMOTE"))
                ;
            else
                return resp_tagged(s, "BAD", "Unknown LIST selection "
                                             "option");
        }
        t = end + 1;
    }
    if (t + 2 > n)
        return resp_tagged(s, "BAD", "LIST needs a reference and a "
                                     "pattern");
    {
        char ref[LWM_MBOX_NAME_MAX + 1];
        int rl = tok_mbox(s, &s->toks[t], ref, sizeof ref);
        if (rl < 0)
            return resp_tagged(s, "BAD", "Invalid reference name");
        memcpy(s->u.ls.ref, ref, (size_t)rl + 1);
    }
    t++;
    if (s->toks[t].type == LWM_TOK_LIST && !lsub) {
        s->u.ls.pat_tok = (uint16_t)(t + 1);
        s->u.ls.npat = (uint16_t)(s->toks[t].len - t - 1);
        t = s->toks[t].len + 1;
    } else {
        if (s->toks[t].type == LWM_TOK_LIST)
            return resp_tagged(s, "BAD", "Invalid pattern");
        s->u.ls.pat_tok = (uint16_t)t;
        s->u.ls.npat = 1;
        t++;
    }
    if (t < n) {
        uint32_t i, end;
        if (lsub || !tok_is(s, &s->toks[t], "RETURN") || t + 1 >= n ||
            s->toks[t + 1].type != LWM_TOK_LIST)
            return resp_tagged(s, "BAD", "Unexpected LIST arguments");
        end = s->toks[t + 1].len;
        for (i = t + 2; i < end; i++) {
            if (tok_is(s, &s->toks[i], "SUBSCRIBED")) {
                s->u.ls.ret_sub = 1;
            } else if (tok_is(s, &s->toks[i], "CHILDREN")) {
                s->u.ls.ret_children = 1;
            } else if (tok_is(s, &s->toks[i], "SPECIAL-USE")) {
                s->u.ls.ret_special = 1;
            } else if (tok_is(s, &s->toks[i], "STATUS")) {
                uint32_t e2;
                if (!status_items(s, i + 1, &e2))
                    return resp_tagged(s, "BAD", "Invalid STATUS items");
                s->u.ls.ret_status = 1;
                s->u.ls.status_tok = (uint16_t)(i + 1);
                i = e2 - 1;
            } else {
                return resp_tagged(s, "BAD", "Unknown LIST return option");
            }
        }
        if (end + 1 != n)
            return resp_tagged(s, "BAD", "Unexpected LIST arguments");
    }
    /* LIST "" "": the hierarchy delimiter and root */
    if (s->u.ls.npat == 1 && s->toks[s->u.ls.pat_tok].len == 0) {
        out_str(s, lsub ? "* LSUB" : "* LIST");
        out_str(s, " (\\Noselect) \"/\" \"\"\r\n");
        return resp_tagged(s, "OK", lsub ? "LSUB completed"
                                         : "LIST completed");
    }
    s->step = list_step;
    return STEP_MORE;
}
