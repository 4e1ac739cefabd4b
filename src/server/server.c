/*
 * lwmail server - connection slots and the events a port delivers.
 *
 * One static server per program (like lwIP's pools): its size follows
 * from lwm_opts.h, so a board's RAM budget is known at link time. The
 * events route to the IMAP session of the slot (src/imap/session.c); the
 * SMTP intake will be a second protocol on the same slots.
 */
#include <string.h>

#include "imap/imap_int.h"

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
        srv->sess[k].view.mbox = -1;
    }
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

/* The transport under a session. Plain connections go straight to the
 * port; the TLS layer (src/tls, next) goes here and in lwm_conn_input, so
 * the IMAP code above never knows whether a connection is encrypted. */
int srv_conn_send(struct lwm_server *srv, int slot, const uint8_t *p,
                  size_t len)
{
    return srv->cfg->port->send(srv->cfg->port->ctx, srv->sess[slot].conn,
                                p, len);
}

uint32_t srv_epoch(struct lwm_server *srv)
{
    const struct lwm_store_stats *st = &srv->store->st;
    return srv->changes + st->erases + st->gc_moved_bodies;
}

int lwm_conn_open(struct lwm_server *srv, void *conn, const char *peer)
{
    int k;
    for (k = 0; k < LWM_MAX_SESSIONS; k++) {
        if (srv->sess[k].state == SS_FREE) {
            char line[96];
            size_t n;
            srv->nsess++;
            memcpy(line, "connect from ", 13);
            n = peer ? strlen(peer) : 0;
            if (n > sizeof line - 14)
                n = sizeof line - 14;
            memcpy(line + 13, peer ? peer : "", n);
            line[13 + n] = 0;
            srv_log(srv, LWM_LOG_INFO, k, line);
            sess_open(&srv->sess[k], conn);
            return k;
        }
    }
    /* every slot is taken: say so and hang up (RFC 9051 7.1.5) */
    {
        static const char bye[] =
            "* BYE [UNAVAILABLE] Too many connections, try later\r\n";
        (void)srv->cfg->port->send(srv->cfg->port->ctx, conn,
                                   (const uint8_t *)bye, sizeof bye - 1);
        srv->cfg->port->close(srv->cfg->port->ctx, conn);
        srv_log(srv, LWM_LOG_WARNING, -1,
                "connection refused: all session slots in use");
    }
    return LWM_ERR_NOMEM;
}

size_t lwm_conn_rx_room(struct lwm_server *srv, int slot)
{
    struct imap_sess *s = slot_sess(srv, slot);
    return s ? sess_rx_room(s) : 0;
}

void lwm_conn_input(struct lwm_server *srv, int slot, const uint8_t *p,
                    size_t len)
{
    struct imap_sess *s = slot_sess(srv, slot);
    if (s)
        sess_input(s, p, len);
}

void lwm_conn_output(struct lwm_server *srv, int slot)
{
    struct imap_sess *s = slot_sess(srv, slot);
    if (s)
        sess_run(s);
}

int lwm_conn_wants_output(struct lwm_server *srv, int slot)
{
    return slot_sess(srv, slot) && srv->tx_len[slot] != 0;
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
    int k, r;
    srv->waiting = 0;
    srv->res_wait = 0;
    for (k = 0; k < LWM_MAX_SESSIONS; k++)
        if (srv->sess[k].state != SS_FREE)
            sess_tick(&srv->sess[k], now);
    /* one bounded step of flash housekeeping per poll */
    r = lwm_store_gc_step(srv->store);
    if (r < 0 && r != LWM_ERR_NOSPC && r != LWM_ERR_AGAIN)
        srv_log(srv, LWM_LOG_ERR, -1, "store GC step failed");
    /* how long the port may sleep: not at all while work is pending; a
     * little while a step waits for a parser or program another session
     * holds; otherwise until the next timer matters */
    if (srv->waiting || r > 0)
        return 0;
    return srv->res_wait ? 10 : 1000;
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
