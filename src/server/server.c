/*
 * lwmail server - connection slots and the events a port delivers.
 *
 * One static server per program (like lwIP's pools): its size follows
 * from lwm_opts.h, so a board's RAM budget is known at link time. The
 * events route to the IMAP session of the slot (src/imap/session.c); the
 * SMTP intake will be a second protocol on the same slots.
 */
#include <string.h>

#include "auth/auth.h"
#include "imap/imap_int.h"
#include "tls/tls.h"
#include "util/lwm_util.h"

struct lwm_server lwm_the_server;

uint32_t srv_now(struct lwm_server *srv)
{
    const struct lwm_port *p = srv->cfg->port;
    return p->now_ms ? p->now_ms(p->ctx) : 0;
}

void srv_log(struct lwm_server *srv, int level, int conn, const char *msg)
{
    const struct lwm_port *p = srv->cfg->port;
    if (p->log)
        p->log(p->ctx, level, conn, msg);
}

void srv_vlogf(struct lwm_server *srv, int level, int conn, const char *fmt,
               va_list ap)
{
    char line[160];
    lwm_vsnfmt(line, sizeof line, fmt, ap);
    srv_log(srv, level, conn, line);
}

void srv_logf(struct lwm_server *srv, int level, int conn, const char *fmt,
              ...)
{
    va_list ap;
    va_start(ap, fmt);
    srv_vlogf(srv, level, conn, fmt, ap);
    va_end(ap);
}

struct lwm_server *lwm_server_init(const struct lwm_server_cfg *cfg,
                                   int *err)
{
    struct lwm_server *srv = &lwm_the_server;
    uint32_t i;
    int k;
    *err = 0;
    if (!cfg || !cfg->store || !cfg->port || !cfg->port->send ||
        !cfg->port->close) {
        *err = LWM_ERR_INVAL;
        return NULL;
    }
    memset(srv, 0, sizeof *srv);
    srv->cfg = cfg;
    srv->store = cfg->store;
    for (k = 0; k < LWM_MAX_SESSIONS; k++) {
        srv->sess[k].state = SS_FREE;
        srv->sess[k].slot = (uint16_t)k;
        srv->sess[k].view.mbox = -1;
    }
    /* the users' hash strings, checked before anything is created */
    {
        int r = auth_init(cfg->users, cfg->nusers);
        if (r < 0) {
            *err = r;
            return NULL;
        }
    }
#if LWM_TLS
    if (cfg->tls) {
        int r = tls_init(srv, cfg->tls);
        if (r < 0) {
            *err = r;
            return NULL;
        }
    }
#endif
    for (i = 0; i < cfg->nusers; i++) {
        int r = lwm_user_find(srv->store, cfg->users[i].name);
        if (r == LWM_ERR_NOENT)
            r = lwm_user_create(srv->store, cfg->users[i].name);
        if (r < 0) {
            *err = r;
            return NULL;
        }
    }
    return srv;
}

static struct imap_sess *slot_sess(struct lwm_server *srv, int slot)
{
    if (slot < 0 || slot >= LWM_MAX_SESSIONS ||
        srv->sess[slot].state == SS_FREE)
        return NULL;
    return &srv->sess[slot];
}

/* The transport under a session: plain connections go straight to the
 * port, TLS ones through src/tls. These and the lwm_conn_* events are the
 * only places that know the difference; the IMAP code never does. */
int srv_conn_send(struct lwm_server *srv, int slot, const uint8_t *p,
                  size_t len)
{
#if LWM_TLS
    if (tls_on(slot))
        return tls_send(srv, slot, p, len);
#endif
    return srv->cfg->port->send(srv->cfg->port->ctx, srv->sess[slot].conn,
                                p, len);
}

void srv_conn_closing(struct lwm_server *srv, int slot)
{
#if LWM_TLS
    if (tls_on(slot))
        tls_close_notify(srv, slot);
#else
    (void)srv;
    (void)slot;
#endif
}

void srv_conn_release(struct lwm_server *srv, int slot)
{
    (void)srv;
#if LWM_TLS
    tls_release(slot);
#else
    (void)slot;
#endif
}

int srv_starttls(struct lwm_server *srv, int slot)
{
#if LWM_TLS
    if (tls_ready() && !tls_on(slot))
        return tls_start(srv, slot);
#else
    (void)srv;
    (void)slot;
#endif
    return LWM_ERR_INVAL;
}

int srv_tls_on(struct lwm_server *srv, int slot)
{
    (void)srv;
    (void)slot;
    return tls_on(slot);
}

int srv_conn_flushing(struct lwm_server *srv, int slot)
{
    (void)srv;
    (void)slot;
    return tls_flushing(slot);
}

int srv_tls_ready(struct lwm_server *srv)
{
    (void)srv;
    return tls_ready();
}

void srv_conn_abort(struct lwm_server *srv, int slot)
{
    struct imap_sess *s = &srv->sess[slot];
    void *conn = s->conn;
    if (s->state == SS_FREE)
        return;
    sess_free(s);
    if (conn)
        srv->cfg->port->close(srv->cfg->port->ctx, conn);
}

uint32_t srv_epoch(struct lwm_server *srv)
{
    const struct lwm_store_stats *st = &srv->store->st;
    return srv->changes + st->erases + st->gc_moved_bodies;
}

/* FNV-1a: a cheap, well-spread key for per-address tables */
static uint32_t addr_hash(const char *a)
{
    uint32_t h = 2166136261u;
    while (a && *a)
        h = (h ^ (uint8_t)*a++) * 16777619u;
    return h;
}

static void refuse(struct lwm_server *srv, void *conn, unsigned flags,
                   const char *why)
{
    const struct lwm_port *p = srv->cfg->port;
    static const char bye[] =
        "* BYE [UNAVAILABLE] Too many connections, try later\r\n";
    /* a TLS client would take plain text for a broken handshake */
    if (!(flags & LWM_CONN_TLS))
        (void)p->send(p->ctx, conn, (const uint8_t *)bye, sizeof bye - 1);
    p->close(p->ctx, conn);
    srv_log(srv, LWM_LOG_WARNING, -1, why);
}

/* Pre-authentication limits: at most LWM_MAX_PREAUTH_PER_ADDR sessions
 * not yet logged in from one address (refuse more), at most
 * LWM_MAX_PREAUTH from all. Beyond that (or with no slot free) a new
 * connection pushes out the oldest unauthenticated session of the address
 * that has the most of them: a flood from one address or a few evicts its
 * own, and someone with a single connection keeps it long enough to log
 * in. Returns 0 with *free_slot set if the connection may have a slot. */
static int preauth_admit(struct lwm_server *srv, uint32_t h, int *free_slot)
{
    int k, j, victim = -1, vcount = 0, same = 0, total = 0;
    *free_slot = -1;
    for (k = 0; k < LWM_MAX_SESSIONS; k++) {
        struct imap_sess *s = &srv->sess[k];
        int count = 0;
        if (s->state == SS_FREE) {
            if (*free_slot < 0)
                *free_slot = k;
            continue;
        }
        if (s->state != SS_NOAUTH || s->closing)
            continue;
        total++;
        if (s->peer_hash == h)
            same++;
        for (j = 0; j < LWM_MAX_SESSIONS; j++)
            count += srv->sess[j].state == SS_NOAUTH &&
                     !srv->sess[j].closing &&
                     srv->sess[j].peer_hash == s->peer_hash;
        if (count > vcount ||
            (count == vcount &&
             (int32_t)(s->open_ms - srv->sess[victim].open_ms) < 0)) {
            victim = k;
            vcount = count;
        }
    }
    if (same >= LWM_MAX_PREAUTH_PER_ADDR)
        return -1;
    if ((total >= LWM_MAX_PREAUTH || *free_slot < 0) && victim >= 0) {
        struct imap_sess *o = &srv->sess[victim];
        static const char bye[] =
            "* BYE [UNAVAILABLE] Too many connections not logged in\r\n";
        srv_log(srv, LWM_LOG_NOTICE, victim,
                "pushed out: too many connections not logged in");
        if (!tls_on(victim) && !o->busy)
            (void)srv_conn_send(srv, victim, (const uint8_t *)bye,
                                sizeof bye - 1);
        srv_conn_abort(srv, victim);
        if (*free_slot < 0)
            *free_slot = victim;
    }
    return *free_slot < 0 ? -1 : 0;
}

int lwm_conn_open(struct lwm_server *srv, void *conn, const char *peer,
                  unsigned flags)
{
    uint32_t h = addr_hash(peer);
    int k;
    if (preauth_admit(srv, h, &k) < 0) {
        refuse(srv, conn, flags,
               k < 0 ? "connection refused: all session slots in use"
                     : "connection refused: too many connections not "
                       "logged in from one address");
        return LWM_ERR_NOMEM;
    }
    if ((flags & LWM_CONN_TLS) && !tls_ready()) {
        refuse(srv, conn, flags, "TLS connection refused: no TLS");
        return LWM_ERR_INVAL;
    }
    srv->nsess++;
    srv_logf(srv, LWM_LOG_INFO, k, "connect from %s", peer ? peer : "");
    auth_peer_note(k, peer);
    sess_open(&srv->sess[k], conn, h, srv_now(srv));
#if LWM_TLS
    /* implicit TLS: the greeting waits in the output buffer until the
     * handshake is done */
    if ((flags & LWM_CONN_TLS) && tls_start(srv, k) < 0) {
        srv_log(srv, LWM_LOG_WARNING, k, "no TLS session free, closing");
        srv_conn_abort(srv, k);
        return LWM_ERR_NOMEM;
    }
#endif
    sess_greet(&srv->sess[k]);
    return k;
}

size_t lwm_conn_rx_room(struct lwm_server *srv, int slot)
{
    struct imap_sess *s = slot_sess(srv, slot);
    if (!s)
        return 0;
#if LWM_TLS
    if (tls_on(slot))
        return tls_rx_room(srv, slot);
#endif
    return sess_rx_room(s);
}

void lwm_conn_input(struct lwm_server *srv, int slot, const uint8_t *p,
                    size_t len)
{
    struct imap_sess *s = slot_sess(srv, slot);
    if (!s)
        return;
#if LWM_TLS
    if (tls_on(slot)) {
        tls_input(srv, slot, p, len);
        return;
    }
#endif
    sess_input(s, p, len);
}

void lwm_conn_output(struct lwm_server *srv, int slot)
{
    struct imap_sess *s = slot_sess(srv, slot);
    if (!s)
        return;
#if LWM_TLS
    if (tls_on(slot)) {
        tls_output(srv, slot);
        return;
    }
#endif
    sess_run(s);
}

int lwm_conn_wants_output(struct lwm_server *srv, int slot)
{
    if (!slot_sess(srv, slot))
        return 0;
#if LWM_TLS
    if (tls_on(slot) && tls_wants_output(slot))
        return 1;
#endif
    return srv->tx_len[slot] != 0;
}

void lwm_conn_gone(struct lwm_server *srv, int slot)
{
    struct imap_sess *s = slot_sess(srv, slot);
    if (!s)
        return;
    srv_log(srv, LWM_LOG_INFO, slot, "disconnected");
    s->conn = NULL;
    sess_free(s);
}

int lwm_server_poll(struct lwm_server *srv)
{
    uint32_t now = srv_now(srv);
    int k, r, tls_busy = 0;
    srv->waiting = 0;
    srv->res_wait = 0;
    for (k = 0; k < LWM_MAX_SESSIONS; k++)
        if (srv->sess[k].state != SS_FREE)
            sess_tick(&srv->sess[k], now);
#if LWM_TLS
    if (tls_ready())
        tls_busy = tls_poll(srv, now);
#endif
    /* a lock from before a wrap of the ms clock must not come back */
    auth_thr_decay(auth_throttle(), srv_now(srv));
    /* one bounded step of flash housekeeping per poll */
    r = lwm_store_gc_step(srv->store);
    if (r < 0 && r != LWM_ERR_NOSPC && r != LWM_ERR_AGAIN)
        srv_log(srv, LWM_LOG_ERR, -1, "store GC step failed");
    /* how long the port may sleep: not at all while work is pending; a
     * little while a step waits for a parser or program another session
     * holds; otherwise until the next timer matters */
    if (srv->waiting || r > 0 || tls_busy)
        return 0;
    return srv->res_wait ? 10 : 1000;
}

int lwm_server_tls_stats(struct lwm_server *srv, struct lwm_tls_stats *st)
{
    (void)srv;
    memset(st, 0, sizeof *st);
#if LWM_TLS
    if (tls_ready()) {
        tls_stats(st);
        return 1;
    }
#endif
    return 0;
}

void lwm_server_shutdown(struct lwm_server *srv)
{
    int k;
    for (k = 0; k < LWM_MAX_SESSIONS; k++)
        sess_shutdown(&srv->sess[k]);
}

/* ------------------------------------------------ shared work areas */

int srv_mime_get(struct lwm_server *srv)
{
    int i;
    for (i = 0; i < LWM_IMAP_MIME_SLOTS; i++) {
        if (!srv->mime_used[i]) {
            srv->mime_used[i] = 1;
            lwm_mime_init(&srv->mime[i]);
            return i;
        }
    }
    return -1;
}

void srv_mime_put(struct lwm_server *srv, int slot)
{
    if (slot >= 0 && slot < LWM_IMAP_MIME_SLOTS)
        srv->mime_used[slot] = 0;
}

int srv_search_get(struct lwm_server *srv)
{
    int i;
    for (i = 0; i < LWM_IMAP_SEARCH_SLOTS; i++) {
        if (!srv->search_used[i]) {
            srv->search_used[i] = 1;
            return i;
        }
    }
    return -1;
}

void srv_search_put(struct lwm_server *srv, int slot)
{
    if (slot >= 0 && slot < LWM_IMAP_SEARCH_SLOTS)
        srv->search_used[slot] = 0;
}
