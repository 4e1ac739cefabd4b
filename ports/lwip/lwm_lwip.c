/*
 * lwmail lwIP port - see lwm_lwip.h for the design; the comments here say
 * why each step is done the way it is.
 *
 * One rule carries most of the code: lwIP calls us (recv, sent, poll,
 * err, accept) and we call the core, which calls us back (send, close)
 * for the same or another connection. While a core call for a connection
 * is running, the record is "busy": the core may be reading a pbuf's
 * payload that we handed it, so a close() from inside only marks the
 * record, and the caller finishes the job (settle) once the core has
 * returned.
 */
#include "lwm_lwip.h"

#include <string.h>

#include "lwip/opt.h"
#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwmail/lwm_err.h"

#if !NO_SYS
#error "ports/lwip runs on lwIP's raw API with NO_SYS=1"
#endif
#if !LWIP_TCP || !LWIP_CALLBACK_API
#error "ports/lwip needs LWIP_TCP=1 and LWIP_CALLBACK_API=1"
#endif
#if MEM_LIBC_MALLOC || MEMP_MEM_MALLOC
#error "ports/lwip: lwIP must run on its static pools (MEM_LIBC_MALLOC=0, MEMP_MEM_MALLOC=0)"
#endif

enum conn_state {
    C_FREE = 0,
    C_OPEN,     /* the core has it (or is being given it) */
    C_CLOSING   /* the core let go; tcp_close() still to do or to retry */
};

struct conn {
    struct tcp_pcb *pcb;      /* NULL once lwIP freed it (err callback) */
    /* Received, not yet taken by the core: pbufs linked through ->next
     * (their tot_len fields are not kept up to date: only this file walks
     * the queue, and it frees pbufs one at a time). rx_off bytes of the
     * head are taken already. */
    struct pbuf *rx_head, *rx_tail;
    uint32_t rx_queued;
    uint16_t rx_off;
    int16_t slot;             /* core slot; -1 until open, and once the
                                 core has let go */
    uint8_t state;            /* enum conn_state */
    uint8_t busy;             /* a core call for this record is running */
    uint8_t fin;              /* the peer sent FIN */
    uint8_t dirty;            /* tcp_write() since the last tcp_output() */
    uint8_t mem_blocked;      /* tcp_write() failed with ERR_MEM */
    uint8_t close_tries;      /* tcp_close() failures */
    uint32_t mem_ms;          /* when mem_blocked was set */
    struct pbuf *ram;         /* our copy of a stalled queue (rx_compact),
                                 while it is in the queue */
    char peer[IPADDR_STRLEN_MAX];
};

struct listener {
    struct tcp_pcb *pcb;      /* the listen pcb; NULL: slot unused */
    unsigned flags;           /* LWM_CONN_TLS */
    uint16_t port;
};

static struct {
    struct lwm_lwip_board board;
    int ready;
    struct lwm_server *srv;
    struct conn conns[LWM_LWIP_CONNS];
    struct listener ls[LWM_LWIP_MAX_LISTEN];
    uint32_t ram_held;        /* bytes of all conns' rx_compact copies */
    struct lwm_lwip_stats st;
} g;

/* lwIP's heap also holds every outgoing segment and every ACK: stalled
 * queues may take only part of it */
#ifndef LWM_LWIP_RX_COMPACT_BUDGET
#define LWM_LWIP_RX_COMPACT_BUDGET (MEM_SIZE / 2)
#endif

static err_t recv_cb(void *arg, struct tcp_pcb *pcb, struct pbuf *p,
                     err_t err);
static err_t sent_cb(void *arg, struct tcp_pcb *pcb, u16_t len);
static err_t poll_cb(void *arg, struct tcp_pcb *pcb);
static void err_cb(void *arg, err_t err);

/* ------------------------------------------------------------ logging */

/* The board's log takes finished lines; no printf here (it costs a few
 * KB of flash on a board that may not link it otherwise). */
static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
    while (s && *s && at + 1 < cap)
        buf[at++] = *s++;
    buf[at] = 0;
    return at;
}

static size_t put_uint(char *buf, size_t at, size_t cap, uint32_t v)
{
    char tmp[11];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && at + 1 < cap)
        buf[at++] = tmp[--n];
    buf[at] = 0;
    return at;
}

static void log_line(int level, int slot, const char *a, const char *b,
                     const char *c)
{
    char line[200];
    size_t n = 0;
    if (!g.board.log)
        return;
    line[0] = 0;
    if (slot >= 0) {
        n = put_str(line, n, sizeof line, "session ");
        n = put_uint(line, n, sizeof line, (uint32_t)slot);
        n = put_str(line, n, sizeof line, ": ");
    }
    n = put_str(line, n, sizeof line, a);
    n = put_str(line, n, sizeof line, b);
    (void)put_str(line, n, sizeof line, c);
    g.board.log(level, line);
}

static const char *err_text(err_t err)
{
    switch (err) {
    case ERR_RST: return "reset by the peer";
    case ERR_ABRT: return "aborted (retransmission timeout or no memory)";
    case ERR_CLSD: return "closed";
    default: return "failed";
    }
}

/* ------------------------------------------------------------ records */

static uint32_t now_ms(void)
{
    return g.board.now_ms ? g.board.now_ms() : 0;
}

static struct conn *conn_alloc(void)
{
    int i;
    for (i = 0; i < LWM_LWIP_CONNS; i++) {
        struct conn *c = &g.conns[i];
        if (c->state == C_FREE) {
            memset(c, 0, sizeof *c);
            c->slot = -1;
            g.st.conns_used++;
            if (g.st.conns_used > g.st.conns_peak)
                g.st.conns_peak = g.st.conns_used;
            return c;
        }
    }
    return NULL;
}

static void conn_free(struct conn *c)
{
    /* the queue is empty here: rx_drop() ran on every path */
    c->state = C_FREE;
    c->pcb = NULL;
    c->slot = -1;
    g.st.conns_used--;
}

/* tcp_recved() takes u16_t; a window may be larger with window scaling */
static void ack_bytes(struct tcp_pcb *pcb, uint32_t n)
{
    while (n) {
        u16_t k = (u16_t)(n > 0xffffu ? 0xffffu : n);
        tcp_recved(pcb, k);
        n -= k;
    }
}

/* Unlink and free the head pbuf of the queue. Cutting ->next first makes
 * pbuf_free() release that one pbuf only; the reference it held on the
 * next one passes to rx_head. */
static void rx_pop(struct conn *c)
{
    struct pbuf *q = c->rx_head;
    c->rx_head = q->next;
    if (!c->rx_head)
        c->rx_tail = NULL;
    q->next = NULL;
    c->rx_queued -= (uint32_t)(q->len - c->rx_off);
    c->rx_off = 0;
    if (q == c->ram) {
        g.ram_held -= q->len;
        c->ram = NULL;
    }
    pbuf_free(q);
}

/* Drop everything queued. With ack, the bytes are acknowledged to lwIP as
 * if taken: tcp_close() on a pcb whose window is not whole sends a RST
 * instead of a FIN, and that RST would also throw away the responses
 * still in the send queue (the BYE of a LOGOUT). */
static void rx_drop(struct conn *c, int ack)
{
    uint32_t n = c->rx_queued;
    while (c->rx_head)
        rx_pop(c);
    c->rx_queued = 0;
    if (ack && c->pcb && n)
        ack_bytes(c->pcb, n);
}

#if LWM_LWIP_RX_COMPACT
/* How many of the queue's pbufs come from the driver's PBUF_POOL. */
static unsigned rx_pool_pbufs(const struct conn *c)
{
    const struct pbuf *q;
    unsigned n = 0;
    for (q = c->rx_head; q; q = q->next)
        n += pbuf_match_allocsrc(q, PBUF_POOL);
    return n;
}

/* The core cannot take the queue for now: copy it into one PBUF_RAM pbuf
 * and give the pool pbufs back to the driver (see LWM_LWIP_RX_COMPACT),
 * if at least min_pool of its pbufs are pool pbufs and the copies of all
 * connections stay within LWM_LWIP_RX_COMPACT_BUDGET. */
static void rx_compact(struct conn *c, unsigned min_pool)
{
    uint32_t queued = c->rx_queued;
    struct pbuf *r, *q;
    uint8_t *dst;
    if (!c->rx_head || !queued || queued > 0xffffu ||
        g.ram_held - (c->ram ? c->ram->len : 0) + queued >
            (uint32_t)LWM_LWIP_RX_COMPACT_BUDGET ||
        rx_pool_pbufs(c) < min_pool)
        return;
    r = pbuf_alloc(PBUF_RAW, (u16_t)queued, PBUF_RAM);
    if (!r)
        return;         /* the heap is short too: keep what we have */
    dst = (uint8_t *)r->payload;
    for (q = c->rx_head; q; q = q->next) {
        uint16_t off = q == c->rx_head ? c->rx_off : 0;
        memcpy(dst, (const uint8_t *)q->payload + off,
               (size_t)(q->len - off));
        dst += q->len - off;
    }
    while (c->rx_head)
        rx_pop(c);              /* also returns the old copy's budget */
    c->rx_head = c->rx_tail = c->ram = r;
    c->rx_off = 0;
    c->rx_queued = queued;
    g.ram_held += queued;
    g.st.rx_compactions++;
}
#else
#define rx_compact(c, min_pool) ((void)(c), (void)(min_pool))
#endif

static void attach(struct conn *c)
{
    tcp_arg(c->pcb, c);
    tcp_recv(c->pcb, recv_cb);
    tcp_sent(c->pcb, sent_cb);
    tcp_err(c->pcb, err_cb);
    tcp_poll(c->pcb, poll_cb, LWM_LWIP_POLL_INTERVAL);
}

/* After this lwIP owns the pcb alone: with recv NULL it acknowledges and
 * drops late data itself (tcp_recv_null), and no callback can reach a
 * record that is reused for another connection. */
static void detach(struct tcp_pcb *pcb)
{
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
    tcp_poll(pcb, NULL, 0);
}

/* Send what tcp_write() queued. Once per event, not per send(): several
 * small writes from one event then leave as full segments. tcp_output()
 * on the pcb whose input lwIP is processing returns at once; lwIP sends
 * for it when the callback returns. */
static void flush_all(void)
{
    int i;
    for (i = 0; i < LWM_LWIP_CONNS; i++) {
        struct conn *c = &g.conns[i];
        if (c->state != C_FREE && c->dirty && c->pcb) {
            c->dirty = 0;
            tcp_output(c->pcb);
        }
    }
}

/* The core let go (state C_CLOSING) and nothing of ours is running on the
 * record: hand the pcb to lwIP for a graceful close. Returns 1 when the
 * record is free. */
static int try_close(struct conn *c)
{
    struct tcp_pcb *pcb = c->pcb;
    err_t err;
    rx_drop(c, 1);
    /* the FIN follows what the core wrote; push it out with the FIN */
    c->dirty = 0;
    detach(pcb);
    err = tcp_close(pcb);
    if (err == ERR_OK) {
        conn_free(c);
        return 1;
    }
    /* lwIP 2.1.3 queues a FIN it has no memory for itself (TF_CLOSEPEND)
     * and returns ERR_OK; an error here is from a future version or an
     * odd state. Keep the pcb and retry from the sent and poll
     * callbacks. */
    attach(c);
    c->close_tries++;
    g.st.close_retries++;
    log_line(LWM_LOG_NOTICE, -1, "close of a connection from ", c->peer,
             " failed; retrying");
    return 0;
}

/* Last resort for a pcb that cannot be closed: RST. Only from that pcb's
 * poll callback (which then returns ERR_ABRT) or from outside lwIP. */
static void abort_conn(struct conn *c)
{
    struct tcp_pcb *pcb = c->pcb;
    log_line(LWM_LOG_WARNING, -1, "connection from ", c->peer,
             " could not be closed: reset");
    rx_drop(c, 0);
    detach(pcb);        /* tcp_abort() would call err_cb otherwise */
    tcp_abort(pcb);
    conn_free(c);
    g.st.close_aborts++;
}

/* Finish what the last core call left: the pcb died, the peer's FIN is
 * due now that everything before it was delivered, or the core closed.
 * may_close is 0 inside the accept callback: there lwIP goes on working
 * on the pcb after we return (it still processes the segment's data and
 * FIN as for an open connection), so the close waits for the next
 * lwm_lwip_poll(). */
static void settle(struct conn *c, int may_close)
{
    if (c->state == C_FREE || c->busy)
        return;
    if (!c->pcb) {
        int slot = c->slot;
        rx_drop(c, 0);
        conn_free(c);
        if (slot >= 0)
            lwm_conn_gone(g.srv, slot);
        return;
    }
    if (c->state == C_OPEN && c->fin && !c->rx_head) {
        /* No half-close in the core: what came before the FIN has been
         * delivered; the session ends. Its output already written to
         * lwIP still goes out before our FIN. */
        int slot = c->slot;
        c->slot = -1;
        c->state = C_CLOSING;
        if (slot >= 0)
            lwm_conn_gone(g.srv, slot);
    }
    if (c->state == C_CLOSING && may_close && c->pcb)
        (void)try_close(c);
}

/* Give the core what is queued, pbuf by pbuf, in place, as far as it has
 * room; acknowledge to lwIP only what it took, so the receive window
 * stays closed while the core is busy. */
static void feed(struct conn *c)
{
    uint32_t taken = 0;
    if (c->state != C_OPEN || !c->pcb || c->busy || c->slot < 0)
        return;
    c->busy++;
    while (c->rx_head && c->state == C_OPEN && c->pcb) {
        struct pbuf *q = c->rx_head;
        const uint8_t *p;
        size_t room, n;
        if (c->rx_off >= q->len) {
            rx_pop(c);
            continue;
        }
        room = lwm_conn_rx_room(g.srv, c->slot);
        if (!room)
            break;
        n = (size_t)(q->len - c->rx_off);
        if (n > room)
            n = room;
        p = (const uint8_t *)q->payload + c->rx_off;
        /* account first: if the core closes from inside, the close
         * acknowledges only what is left */
        c->rx_off = (uint16_t)(c->rx_off + n);
        c->rx_queued -= (uint32_t)n;
        taken += (uint32_t)n;
        /* q stays queued (and allocated) while the core reads it */
        lwm_conn_input(g.srv, c->slot, p, n);
    }
    /* pop a head that was used up by the last call */
    if (c->rx_head && c->rx_off >= c->rx_head->len)
        rx_pop(c);
    c->busy--;
    g.st.rx_bytes += taken;
    if (taken && c->pcb)
        ack_bytes(c->pcb, taken);
}

/* The port can send again: let the core push its queued output. */
static void output(struct conn *c)
{
    if (c->state != C_OPEN || !c->pcb || c->busy || c->slot < 0)
        return;
    c->mem_blocked = 0;
    c->busy++;
    lwm_conn_output(g.srv, c->slot);
    c->busy--;
}

/* ------------------------------------------------------------ callbacks */

static err_t accept_cb(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct listener *l = arg;
    struct conn *c;
    int slot;
    if (err != ERR_OK || !pcb || !l) {
        /* lwIP had no pcb for the SYN (MEMP_NUM_TCP_PCB): it drops the
         * SYN, the client will retry; nothing of ours is involved */
        g.st.accept_errors++;
        return ERR_VAL;
    }
    c = conn_alloc();
    if (!c || !g.srv) {
        /* Even the spare records are taken: no room to say why. The RST
         * tells the client at once instead of leaving it to time out. */
        g.st.refused_full++;
        log_line(LWM_LOG_WARNING, -1,
                 "connection refused (reset): no connection record free",
                 NULL, NULL);
        if (c)
            conn_free(c);
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    c->pcb = pcb;
    c->state = C_OPEN;
    /* above the listener's priority: a SYN arriving with the pcb pool
     * empty may take the place of a TIME-WAIT or closing pcb, never of
     * an open session */
    tcp_setprio(pcb, LWM_LWIP_PRIO);
    tcp_nagle_disable(pcb);
    attach(c);
    if (!ipaddr_ntoa_r(&pcb->remote_ip, c->peer, (int)sizeof c->peer))
        (void)put_str(c->peer, 0, sizeof c->peer, "?");
    g.st.accepted++;
    c->busy++;
    slot = lwm_conn_open(g.srv, c, c->peer, l->flags);
    c->busy--;
    if (slot >= 0 && c->state == C_OPEN)
        c->slot = (int16_t)slot;
    else if (c->state == C_OPEN)
        c->state = C_CLOSING;   /* refused without close(): not expected */
    /* refused: the core said BYE and called close(); done from the next
     * lwm_lwip_poll() (settle's may_close) */
    settle(c, 0);
    flush_all();
    return ERR_OK;
}

static err_t recv_cb(void *arg, struct tcp_pcb *pcb, struct pbuf *p,
                     err_t err)
{
    struct conn *c = arg;
    (void)err;  /* always ERR_OK in lwIP 2.1.3; data is data either way */
    if (!c || c->pcb != pcb || c->state != C_OPEN) {
        /* a record whose close is pending: the core wants nothing more */
        if (p) {
            tcp_recved(pcb, p->tot_len);
            pbuf_free(p);
        }
        return ERR_OK;
    }
    if (!p) {
        c->fin = 1;
        g.st.peer_closed++;
    } else {
        struct pbuf *q = p;
        /* take the chain: we return ERR_OK, so it is ours to free */
        if (c->rx_tail)
            c->rx_tail->next = p;
        else
            c->rx_head = p;
        while (q->next)
            q = q->next;
        c->rx_tail = q;
        c->rx_queued += p->tot_len;
        if (c->rx_queued > g.st.rx_queued_peak)
            g.st.rx_queued_peak = c->rx_queued;
    }
    feed(c);
    /* still queued: the session is busy; don't let it sit on the pool */
    if (c->state == C_OPEN && c->rx_head)
        rx_compact(c, LWM_LWIP_RX_COMPACT);
    settle(c, 1);
    flush_all();
    return ERR_OK;
}

static err_t sent_cb(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    struct conn *c = arg;
    (void)len;
    if (!c || c->pcb != pcb)
        return ERR_OK;
    /* room in the send buffer: the core pushes more; that may also free
     * room in its receive buffer (a command finished), so feed after */
    output(c);
    feed(c);
    settle(c, 1);       /* also retries a failed close */
    flush_all();
    return ERR_OK;
}

static err_t poll_cb(void *arg, struct tcp_pcb *pcb)
{
    struct conn *c = arg;
    if (!c || c->pcb != pcb || c->busy)
        return ERR_OK;
    if (c->state == C_CLOSING) {
        if (c->close_tries >= LWM_LWIP_CLOSE_TRIES) {
            abort_conn(c);
            return ERR_ABRT;
        }
        (void)try_close(c);
        return ERR_OK;
    }
    /* the safety net: output after ERR_MEM when no ACK came to call
     * sent_cb, input the core has room for again */
    if (g.srv && c->slot >= 0 && lwm_conn_wants_output(g.srv, c->slot))
        output(c);
    feed(c);
    settle(c, 1);
    flush_all();
    return ERR_OK;
}

/* The pcb is gone: lwIP freed it before calling (RST from the peer,
 * retransmission timeout, or killed for memory). Never touch it again. */
static void err_cb(void *arg, err_t err)
{
    struct conn *c = arg;
    if (!c || c->state == C_FREE)
        return;
    c->pcb = NULL;
    g.st.errors++;
    log_line(LWM_LOG_INFO, c->slot, c->peer, ": connection ", err_text(err));
    settle(c, 1);       /* lwm_conn_gone, unless a core call is running */
}

/* ------------------------------------------------------------ port hooks */

static int port_send(void *ctx, void *conn, const uint8_t *p, size_t len)
{
    struct conn *c = conn;
    struct tcp_pcb *pcb;
    size_t n;
    err_t err;
    (void)ctx;
    if (!c || c->state != C_OPEN || !c->pcb)
        return -1;
    pcb = c->pcb;
    if (!len)
        return 0;
    n = tcp_sndbuf(pcb);
    if (n > len)
        n = len;
    /* a full send buffer, or lwIP's segment count at its limit: the ACKs
     * that free it call sent_cb, which resumes the core */
    if (!n || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN)
        return 0;
    err = tcp_write(pcb, p, (u16_t)n, TCP_WRITE_FLAG_COPY);
    if (err == ERR_MEM && n > tcp_mss(pcb)) {
        /* the segments for all of it did not fit in lwIP's memory; one
         * segment's worth may */
        n = tcp_mss(pcb);
        err = tcp_write(pcb, p, (u16_t)n, TCP_WRITE_FLAG_COPY);
    }
    if (err == ERR_MEM) {
        /* with data in flight sent_cb comes anyway; without, only the
         * retry in lwm_lwip_poll() (or poll_cb) resumes the core */
        g.st.send_mem_errors++;
        c->mem_blocked = 1;
        c->mem_ms = now_ms();
        return 0;
    }
    if (err != ERR_OK)
        return -1;      /* ERR_CONN: the connection cannot send any more */
    c->dirty = 1;
    g.st.tx_bytes += n;
    return (int)n;
}

static void port_close(void *ctx, void *conn)
{
    struct conn *c = conn;
    (void)ctx;
    if (!c || c->state != C_OPEN)
        return;
    c->slot = -1;       /* the core forgot the connection */
    c->state = C_CLOSING;
    c->close_tries = 0;
    /* from inside a core call on this record (LOGOUT during input, a
     * refusal during accept): the caller settles once the core returns;
     * a dead pcb: settle frees the record */
    if (c->busy || !c->pcb)
        return;
    (void)try_close(c);
}

static uint32_t port_now_ms(void *ctx)
{
    (void)ctx;
    return now_ms();
}

static int64_t port_unix_time(void *ctx)
{
    (void)ctx;
    return g.board.unix_time ? g.board.unix_time() : 0;
}

static void port_log(void *ctx, int level, int conn, const char *msg)
{
    (void)ctx;
    log_line(level, conn, msg, NULL, NULL);
}

static int port_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    return g.board.entropy ? g.board.entropy(buf, len) : -1;
}

static const struct lwm_port the_port = {
    .ctx = NULL,
    .send = port_send,
    .close = port_close,
    .now_ms = port_now_ms,
    .unix_time = port_unix_time,
    .log = port_log,
    .entropy = port_entropy,
};

#ifndef LWM_LWIP_NO_SYS_NOW
/* lwIP's timers (NO_SYS: sys_check_timeouts) on the board's clock */
u32_t sys_now(void)
{
    return now_ms();
}
#endif

/* ------------------------------------------------------------ API */

void lwm_lwip_setup(const struct lwm_lwip_board *board)
{
    int i;
    memset(&g, 0, sizeof g);
    if (board)
        g.board = *board;
    for (i = 0; i < LWM_LWIP_CONNS; i++)
        g.conns[i].slot = -1;
    g.ready = 1;
}

const struct lwm_port *lwm_lwip_port(void)
{
    return &the_port;
}

int lwm_lwip_listen(struct lwm_server *srv, uint16_t port, unsigned flags)
{
    struct listener *l = NULL;
    struct tcp_pcb *pcb, *lpcb;
    err_t err;
    char line[64];
    size_t n;
    int i;
    if (!srv || !g.ready || (g.srv && g.srv != srv))
        return LWM_ERR_INVAL;
    for (i = 0; i < LWM_LWIP_MAX_LISTEN; i++) {
        if (g.ls[i].pcb && g.ls[i].port == port)
            return LWM_ERR_BUSY;    /* SOF_REUSEADDR would let it pass */
        if (!g.ls[i].pcb && !l)
            l = &g.ls[i];
    }
    if (!l)
        return LWM_ERR_NOMEM;
#if LWIP_IPV4 && LWIP_IPV6
    pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);     /* both families */
#else
    pcb = tcp_new();
#endif
    if (!pcb)
        return LWM_ERR_NOMEM;
#if SO_REUSE
    /* listening again after lwm_lwip_stop() while old connections of the
     * port are in TIME-WAIT */
    ip_set_option(pcb, SOF_REUSEADDR);
#endif
    err = tcp_bind(pcb, IP_ANY_TYPE, port);
    if (err != ERR_OK) {
        tcp_close(pcb);     /* an unconnected pcb: freed at once */
        return err == ERR_USE ? LWM_ERR_BUSY : LWM_ERR_INVAL;
    }
    lpcb = tcp_listen_with_backlog_and_err(pcb, LWM_LWIP_BACKLOG, &err);
    if (!lpcb) {
        tcp_close(pcb);
        return LWM_ERR_NOMEM;
    }
    g.srv = srv;
    l->pcb = lpcb;
    l->flags = flags;
    l->port = port;
    tcp_arg(lpcb, l);
    tcp_accept(lpcb, accept_cb);
    n = put_str(line, 0, sizeof line,
                (flags & LWM_CONN_TLS) ? "IMAPS" : "IMAP");
    n = put_str(line, n, sizeof line, " listening on TCP port ");
    (void)put_uint(line, n, sizeof line, port);
    log_line(LWM_LOG_NOTICE, -1, line, NULL, NULL);
    return 0;
}

int lwm_lwip_poll(void)
{
    uint32_t now, sleep;
    int wait, i;
    if (!g.srv)
        wait = 1000;
    else
        wait = lwm_server_poll(g.srv);
    now = now_ms();
    for (i = 0; i < LWM_LWIP_CONNS; i++) {
        struct conn *c = &g.conns[i];
        if (c->state == C_FREE || c->busy)
            continue;
        if (c->state == C_CLOSING) {
            /* deferred from accept or from inside a core call; a close
             * that failed is retried by the sent and poll callbacks, at
             * lwIP's pace, not at the main loop's */
            if (!c->pcb || c->close_tries == 0)
                settle(c, 1);
            continue;
        }
        if (c->mem_blocked) {
            if ((uint32_t)(now - c->mem_ms) >= LWM_LWIP_RETRY_MS)
                output(c);
            else if (wait < 0 || wait > LWM_LWIP_RETRY_MS)
                wait = LWM_LWIP_RETRY_MS;
        }
        /* the core may have made room (a step finished, the flash was
         * written): go on with what is queued */
        feed(c);
        /* a whole turn and the core could not take it: out of the pool */
        if (c->state == C_OPEN && c->rx_head)
            rx_compact(c, 1);
        settle(c, 1);
    }
    flush_all();
    sleep = sys_timeouts_sleeptime();
    if (wait < 0)
        wait = 0;
    if (sleep < (uint32_t)wait)
        wait = (int)sleep;
    return wait;
}

void lwm_lwip_stop(void)
{
    int i;
    for (i = 0; i < LWM_LWIP_MAX_LISTEN; i++) {
        if (g.ls[i].pcb) {
            tcp_arg(g.ls[i].pcb, NULL);
            /* a listen pcb always closes (it is freed at once) */
            (void)tcp_close(g.ls[i].pcb);
            g.ls[i].pcb = NULL;
        }
    }
}

void lwm_lwip_stats(struct lwm_lwip_stats *st)
{
    int i;
    *st = g.st;
    st->rx_compact_held = g.ram_held;
    st->rx_queued = 0;
    for (i = 0; i < LWM_LWIP_CONNS; i++)
        if (g.conns[i].state != C_FREE)
            st->rx_queued += g.conns[i].rx_queued;
}
