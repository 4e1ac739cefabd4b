/*
 * lwmail lwIP port - the server's transport on lwIP's raw TCP API
 * (lwIP 2.1.3, NO_SYS=1: one thread, no OS, no heap of ours).
 *
 * What it does: listens on lwIP TCP ports, accepts connections into a
 * static pool of LWM_LWIP_CONNS connection records, hands received pbufs
 * to the core in place (no copy), sends the core's output with
 * tcp_write(), and turns lwIP's callbacks (recv, sent, poll, err) into the
 * core's events (include/lwmail/lwm_server.h). TLS is not its business:
 * the core runs it above this port, the same as on POSIX.
 *
 * Start-up, in this order:
 *
 *   static const struct lwm_lwip_board board = {
 *       .now_ms = board_ms, .unix_time = NULL, .log = board_log,
 *       .entropy = board_entropy,
 *   };
 *   lwip_init();                          // and add the board's netif
 *   lwm_lwip_setup(&board);
 *   cfg.port = lwm_lwip_port();           // the rest of lwm_server_cfg
 *   srv = lwm_server_init(&cfg, &err);
 *   lwm_lwip_listen(srv, 993, LWM_CONN_TLS);
 *   lwm_lwip_listen(srv, 143, 0);
 *
 * and the main loop:
 *
 *   for (;;) {
 *       board_eth_poll(&netif);           // frames into netif->input
 *       sys_check_timeouts();             // lwIP's timers
 *       int wait = lwm_lwip_poll();       // the core and this port
 *       board_sleep(wait);                // at most wait ms (0: go on)
 *   }
 *
 * lwm_lwip_poll() calls lwm_server_poll() itself; the board does not.
 *
 * Time: this file defines lwIP's sys_now() from the board's now_ms, so
 * lwIP's timers and the core run on one clock (define
 * LWM_LWIP_NO_SYS_NOW when the board provides sys_now() itself).
 *
 * Receive path and backpressure. lwIP's recv callback hands over a pbuf
 * chain; the port keeps it queued on the connection and feeds the core
 * pbuf by pbuf: for each payload, lwm_conn_rx_room() bytes at most go to
 * lwm_conn_input() straight from the pbuf (for a TLS slot that is exactly
 * what mbedTLS asks for next). What the core does not take stays queued,
 * and tcp_recved() is called only for bytes the core took: while the core
 * is busy (a FETCH to a slow reader, an APPEND waiting for the flash or a
 * MIME parser), lwIP's receive window closes and the peer stops sending.
 * Feeding resumes from the queue when the core has room again: after
 * output (the sent callback), in lwm_lwip_poll() and in the poll
 * callback. So the port holds at most one receive window (TCP_WND) per
 * connection, in whatever pbufs the netif driver delivered.
 *
 * Send path. The core's send() hook takes at most tcp_sndbuf() bytes,
 * copies them into lwIP (TCP_WRITE_FLAG_COPY: the core reuses its buffer
 * when send() returns) and returns how many it took: 0 when the send
 * buffer is full or lwIP is out of memory for segments. The core then
 * waits for lwm_conn_output(), which the port calls from the sent
 * callback (ACKs freed send buffer), and after ERR_MEM from
 * lwm_lwip_poll() (after LWM_LWIP_RETRY_MS) and the poll callback.
 * tcp_output() is called once at the end of each event, not per send(),
 * so a burst of small writes leaves as full segments. Nagle is off (as
 * TCP_NODELAY on POSIX): IMAP is request/response, and Nagle with the
 * peer's delayed ACK would stall every small answer.
 *
 * Closing. The core's close() hook (LOGOUT, timeouts, refusals) drops
 * what is still queued from the peer (acknowledging it, so lwIP sends a
 * FIN and not a RST), detaches the callbacks and calls tcp_close(): lwIP
 * sends what the core had written, then the FIN, and frees the pcb in its
 * own time; the connection record is free at once. lwIP 2.1.3 queues a
 * FIN it has no memory for itself and reports success; should
 * tcp_close() fail anyway, the record keeps the pcb, the close is retried
 * from the sent and poll callbacks, and after LWM_LWIP_CLOSE_TRIES
 * failures the pcb is aborted (RST) from the poll callback. A close asked
 * for while the connection is being accepted (a refused connection: "*
 * BYE" then close) is done from the next lwm_lwip_poll(), not inside the
 * accept callback, where lwIP still works on the pcb.
 *
 * Peer close (FIN). The core has no half-close. The port first hands the
 * core everything that arrived before the FIN (as the POSIX port reads up
 * to end of file), then reports lwm_conn_gone() and closes its side: the
 * responses the core had already written are still sent before our FIN,
 * but commands still waiting in the core's buffer are not run. A client
 * that half-closes after its last command (printf ... | nc -N) may so
 * miss the last answers, exactly as with lwmaild.
 *
 * Errors. lwIP's err callback means the pcb is already freed (RST from the
 * peer, retransmission timeout, or lwIP killing it for memory): the
 * record forgets the pcb, frees the queued pbufs and reports
 * lwm_conn_gone(); the pcb is never touched again.
 *
 * Exhaustion. No connection record free: the new pcb is aborted (RST)
 * inside the accept callback (LWM_LWIP_CONNS is LWM_MAX_SESSIONS + 2 so
 * that the core itself can normally say "* BYE [UNAVAILABLE]" to the
 * extra ones). No pcb for a SYN (MEMP_NUM_TCP_PCB): lwIP calls accept
 * with ERR_MEM, the SYN is dropped and counted, the client retries.
 * Accepted pcbs get priority LWM_LWIP_PRIO, above the listener's, so lwIP
 * never kills an open session to make room for a new SYN (tcp_alloc only
 * kills pcbs of lower priority), only TIME-WAIT and closing ones. A
 * netif driver out of PBUF_POOL drops frames; TCP retransmits. Nothing
 * here allocates except through lwIP's pools (tcp_write copies into
 * PBUF_RAM segments from lwIP's own static heap, MEM_SIZE).
 *
 * The driver's receive pool (PBUF_POOL) is what every connection needs to
 * receive anything, ACKs included. A session that cannot take its input
 * for a while (its client does not read a FETCH while pipelining more
 * commands) would hold up to a window of those pbufs, and with small
 * segments one pbuf per segment: a few such sessions empty the pool, and
 * then even the ACK that would let the FETCH go on is dropped, until the
 * core's send timeout (2 minutes) ends the session. So a queue that
 * stalls is moved out of the pool into lwIP's heap (LWM_LWIP_RX_COMPACT);
 * the common case, the core taking what arrives, copies nothing.
 *
 * Sizing (the board's lwipopts.h): MEMP_NUM_TCP_PCB >= LWM_LWIP_CONNS +
 * a few for TIME-WAIT; MEMP_NUM_TCP_PCB_LISTEN >= the listeners.
 * TCP_SND_BUF: the more, the faster a FETCH. MEM_SIZE holds the segments
 * of every connection sending at once (up to TCP_SND_BUF each), the ACKs,
 * and the copies of stalled receive queues (LWM_LWIP_RX_COMPACT_BUDGET in
 * all); short of it, sends wait
 * (ERR_MEM, retried) and stalled queues stay in the pool, both safe but
 * slower. Without LWM_LWIP_RX_COMPACT, PBUF_POOL must hold a receive
 * window for every session that may stall, plus the driver's needs.
 *
 * Requirements checked at compile time: NO_SYS=1, LWIP_TCP,
 * LWIP_CALLBACK_API, MEM_LIBC_MALLOC=0, MEMP_MEM_MALLOC=0.
 * Optional: TCP_LISTEN_BACKLOG (listeners then take LWM_LWIP_BACKLOG
 * unaccepted connections at most; the rest of a SYN flood is dropped).
 *
 * Everything runs in the main loop's context: call these functions and
 * lwIP's from one thread, never from an interrupt. A netif's output must
 * not feed frames back into lwIP's input from inside the call (queue
 * them, as lwIP's own loopback does): the port's callbacks are not
 * re-entrant through lwIP.
 */
#ifndef LWM_LWIP_H
#define LWM_LWIP_H

#include <stddef.h>
#include <stdint.h>

#include "lwmail/lwm_server.h"

/* ------------------------------------------------------------ options */

/** Connection records: the core's sessions and a spare pair, so the core
 *  can refuse a connection beyond them with "* BYE" instead of a RST. */
#ifndef LWM_LWIP_CONNS
#define LWM_LWIP_CONNS (LWM_MAX_SESSIONS + 2)
#endif

/** Listening ports (IMAPS and IMAP by default; SMTP later). */
#ifndef LWM_LWIP_MAX_LISTEN
#define LWM_LWIP_MAX_LISTEN 4
#endif

/** Connections a listener lets lwIP hold before they are accepted (only
 *  with TCP_LISTEN_BACKLOG=1 in lwipopts.h). */
#ifndef LWM_LWIP_BACKLOG
#define LWM_LWIP_BACKLOG 4
#endif

/** lwIP poll callback interval, in TCP coarse ticks (500 ms): the safety
 *  net for retries when nothing else happens on a connection. */
#ifndef LWM_LWIP_POLL_INTERVAL
#define LWM_LWIP_POLL_INTERVAL 2
#endif

/** Failed tcp_close() calls before the pcb is aborted instead. */
#ifndef LWM_LWIP_CLOSE_TRIES
#define LWM_LWIP_CLOSE_TRIES 8
#endif

/** After tcp_write() ran out of memory with nothing in flight (so no
 *  sent callback will come), lwm_lwip_poll() retries the output after
 *  this many ms. */
#ifndef LWM_LWIP_RETRY_MS
#define LWM_LWIP_RETRY_MS 20
#endif

/** Receive buffers held for a busy session. 0: never copy (the queue
 *  keeps the driver's pbufs until the core takes the data). N: a queue the
 *  core cannot take for now (its session is busy) is copied out of
 *  PBUF_POOL into one PBUF_RAM pbuf from lwIP's heap when it holds N pool
 *  pbufs, and at every lwm_lwip_poll() when it holds any: so sessions
 *  that wait (for their client to read a FETCH, for a MIME parser) never
 *  hold the driver's receive pool, which every connection's segments and
 *  ACKs need. At most one receive window per connection is copied per
 *  main-loop turn; data the core takes at once is never copied. The
 *  copies of all connections together take at most
 *  LWM_LWIP_RX_COMPACT_BUDGET bytes of the heap (default MEM_SIZE / 2:
 *  the heap also holds every outgoing segment and ACK); beyond that, or
 *  when the heap is short, the pool pbufs simply stay queued. */
#ifndef LWM_LWIP_RX_COMPACT
#define LWM_LWIP_RX_COMPACT 4
#endif

/** Priority of accepted pcbs (listeners have TCP_PRIO_NORMAL): higher,
 *  so a new SYN never pushes an open session out of the pcb pool. */
#ifndef LWM_LWIP_PRIO
#define LWM_LWIP_PRIO (TCP_PRIO_NORMAL + 1)
#endif

/* ------------------------------------------------------------ API */

/** What the board provides. Copied by lwm_lwip_setup(). */
struct lwm_lwip_board {
    /** Milliseconds from any fixed point; wraps. Required: it drives the
     *  core's timers and lwIP's (sys_now). */
    uint32_t (*now_ms)(void);
    /** Wall clock, seconds since 1970 UTC; NULL, or 0 while unknown
     *  (no SNTP yet): APPEND then dates messages 1970. */
    int64_t (*unix_time)(void);
    /** One log line, no newline; level is syslog's (LWM_LOG_*). Lines
     *  about a session come prefixed "session N: ". NULL: no logging. */
    void (*log)(int level, const char *msg);
    /** Fill buf with len bytes from a strong random source; 0 on success.
     *  Required for TLS (keys, the generated certificate) and salts. */
    int (*entropy)(uint8_t *buf, size_t len);
};

/** Remember the board's hooks and reset the port's state. Call once after
 *  lwip_init() and before lwm_server_init(). */
void lwm_lwip_setup(const struct lwm_lwip_board *board);

/** The port for lwm_server_cfg.port: send, close and the board's clock,
 *  log and entropy. Static; valid for the program's life. */
const struct lwm_port *lwm_lwip_port(void);

/** Listen on a TCP port of every interface (IPv4, and IPv6 when lwIP has
 *  it). flags: LWM_CONN_TLS for implicit TLS (993), 0 for plain IMAP with
 *  STARTTLS (143). Call after lwm_server_init(). Returns 0, or
 *  LWM_ERR_NOMEM (no listener slot or lwIP pcb), LWM_ERR_BUSY (port in
 *  use), LWM_ERR_INVAL (no server, or lwm_lwip_setup() not called). */
int lwm_lwip_listen(struct lwm_server *srv, uint16_t port, unsigned flags);

/** Once per main-loop turn: the core's timers and deferred steps
 *  (lwm_server_poll), then the port's deferred work (feeding queued input
 *  to sessions that have room again, retrying output after ERR_MEM,
 *  closes), then tcp_output() for what was written. Returns how many ms
 *  the board may wait for network events before calling again (0: call
 *  again at once), already bounded by lwIP's next timer
 *  (sys_timeouts_sleeptime). */
int lwm_lwip_poll(void);

/** Stop listening (the listener pcbs are closed; new SYNs get RST).
 *  Open connections go on; lwm_server_shutdown() says BYE to them, and
 *  lwm_lwip_poll() completes their closes. */
void lwm_lwip_stop(void);

/** The port's figures. */
struct lwm_lwip_stats {
    uint32_t conns_used;        /* connection records in use now */
    uint32_t conns_peak;        /* high-water mark */
    uint32_t accepted;          /* connections handed to the core */
    uint32_t refused_full;      /* no record free: aborted (RST) */
    uint32_t accept_errors;     /* lwIP had no pcb for a SYN */
    uint32_t peer_closed;       /* FIN from the peer */
    uint32_t errors;            /* err callback: RST, timeout, killed */
    uint32_t close_retries;     /* tcp_close() failed, retried */
    uint32_t close_aborts;      /* ... and finally aborted */
    uint32_t send_mem_errors;   /* tcp_write() returned ERR_MEM */
    uint32_t rx_queued;         /* bytes received, not yet taken, now */
    uint32_t rx_queued_peak;    /* the most ever held by one connection */
    uint32_t rx_compactions;    /* stalled queues moved out of PBUF_POOL */
    uint32_t rx_compact_held;   /* heap bytes those copies hold now */
    uint64_t rx_bytes;          /* handed to the core */
    uint64_t tx_bytes;          /* taken from the core */
};
void lwm_lwip_stats(struct lwm_lwip_stats *st);

#endif /* LWM_LWIP_H */
