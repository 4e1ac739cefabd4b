/*
 * lwmail firmware for the QEMU MPS2 AN385 board: the IMAP server on lwIP
 * (NO_SYS, raw API) with TLS on port 993, the store on the board's
 * emulated NOR flash.
 *
 * Options come from the emulator's command line (QEMU -append, read
 * through semihosting), as key=value words:
 *   flash=PATH        host file holding the flash image (boards/.../README)
 *   format=1          format the store even if one is found
 *   user=NAME:HASH    the login user ($pbkdf2-sha256$... hash string);
 *                     default: "mail" with the password "lwmail-qemu"
 *                     (INSECURE, for the emulator and its tests only)
 *   hostname=NAME     greeting and generated certificate
 *   runfor=MS         exit (code 0) after MS milliseconds (tests)
 *
 * Console input (UART0; QEMU -nographic's terminal or stdin): "s" prints
 * the figures (RAM, stack high-water mark, TLS arena, flash, network),
 * "q" says BYE to every session and exits with code 0.
 *
 * The server listens on 993 (IMAPS) and 143 (IMAP with STARTTLS) through
 * ports/lwip, the transport from lwIP's raw TCP API to the core. A build
 * without it (LWM_FW_ECHO=ON) answers on 993 with a TCP echo instead:
 * enough to bring up a board, its NIC and lwIP.
 */
#include <string.h>

#include "board.h"

#include "lwip/dhcp.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include "lwmail/lwm_err.h"
#include "lwmail/lwm_server.h"
#include "lwmail/lwm_store.h"

#if LWM_HAVE_LWIP_PORT
#include "lwm_lwip.h"
#endif

#define IMAPS_PORT 993
#define IMAP_PORT 143

/* The default login, for the emulator only: password "lwmail-qemu". */
#define DEFAULT_USER "mail"
#define DEFAULT_HASH                                                    \
    "$pbkdf2-sha256$10000$bHdtYWlsLXFlbXUtc2FsdA$"                      \
    "mXOj1m54IVgd2rpK8cUDaWZGQuMr2Jc8dGNY9sB4BrY"

static struct netif eth;
static struct lwm_store store;
static struct lwm_server *srv;

static char opt_user[160];
static char opt_host[64];
static struct lwm_user_cfg users[1];
static struct lwm_tls_cfg tls_cfg;      /* cert NULL: generated, stored */

/* ------------------------------------------------------------ port hooks */

static void log_line(int level, int conn, const char *msg)
{
    static const char *const names[8] = { "emerg", "alert", "crit", "err",
                                          "warning", "notice", "info",
                                          "debug" };
    uint32_t ms = board_ms();

    if (level > LWM_LOG_INFO)
        return;
    if (conn >= 0)
        board_printf("[%5lu.%03lu] %s: #%d %s\r\n",
                     (unsigned long)(ms / 1000u), (unsigned long)(ms % 1000u),
                     names[level & 7], conn, msg);
    else
        board_printf("[%5lu.%03lu] %s: %s\r\n", (unsigned long)(ms / 1000u),
                     (unsigned long)(ms % 1000u), names[level & 7], msg);
}

#if LWM_HAVE_LWIP_PORT
/* ports/lwip owns send/close; the board gives it clock, log, entropy */
static void lwip_log(int level, const char *msg)
{
    log_line(level, -1, msg);
}

static const struct lwm_lwip_board lwip_board = {
    .now_ms = board_ms,
    .unix_time = NULL,
    .log = lwip_log,
    .entropy = board_entropy,
};
#else
/* No transport: the core never gets a connection, so send and close are
 * never called. */
static uint32_t port_now_ms(void *ctx)
{
    (void)ctx;
    return board_ms();
}

static void port_log(void *ctx, int level, int conn, const char *msg)
{
    (void)ctx;
    log_line(level, conn, msg);
}

static int port_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    return board_entropy(buf, len);
}

static int port_send(void *ctx, void *conn, const uint8_t *p, size_t len)
{
    (void)ctx;
    (void)conn;
    (void)p;
    (void)len;
    return -1;
}

static void port_close(void *ctx, void *conn)
{
    (void)ctx;
    (void)conn;
}

static const struct lwm_port echo_port = {
    .ctx = NULL,
    .send = port_send,
    .close = port_close,
    .now_ms = port_now_ms,
    .unix_time = NULL,
    .log = port_log,
    .entropy = port_entropy,
};
#endif

/* ------------------------------------------------------------ echo */

#if !LWM_HAVE_LWIP_PORT
/* Bring-up only: a TCP echo on port 993 over the raw API, greeting
 * first so a client can tell it reached the firmware. */
static const char echo_hello[] = "* OK lwmail firmware (echo bring-up)\r\n";

static err_t echo_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p,
                       err_t err)
{
    struct pbuf *q;

    (void)arg;
    if (p == NULL || err != ERR_OK) {
        if (p)
            pbuf_free(p);
        tcp_arg(pcb, NULL);
        tcp_recv(pcb, NULL);
        if (tcp_close(pcb) != ERR_OK)
            tcp_abort(pcb);
        return p == NULL ? ERR_OK : ERR_ABRT;
    }
    /* echo what fits the send buffer; the rest is dropped (bring-up) */
    for (q = p; q; q = q->next) {
        u16_t n = q->len < tcp_sndbuf(pcb) ? q->len : tcp_sndbuf(pcb);
        if (n)
            tcp_write(pcb, q->payload, n, TCP_WRITE_FLAG_COPY);
    }
    tcp_output(pcb);
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static err_t echo_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || pcb == NULL)
        return ERR_VAL;
    tcp_recv(pcb, echo_recv);
    tcp_write(pcb, echo_hello, sizeof echo_hello - 1, 0);
    tcp_output(pcb);
    return ERR_OK;
}

static int echo_listen(void)
{
    struct tcp_pcb *pcb = tcp_new();

    if (pcb == NULL || tcp_bind(pcb, IP_ADDR_ANY, IMAPS_PORT) != ERR_OK)
        return -1;
    pcb = tcp_listen(pcb);
    if (pcb == NULL)
        return -1;
    tcp_accept(pcb, echo_accept);
    return 0;
}
#endif

/* ------------------------------------------------------------ start */

static int open_store(void)
{
    const struct lwm_flash *flash;
    char opt[8];
    int fresh, err;
    uint32_t t0 = board_ms();

    flash = board_flash_init(&fresh);
    if (flash == NULL)
        return -1;
    if (board_option("format", opt, sizeof opt) && opt[0] == '1')
        err = LWM_ERR_CORRUPT;
    else
        err = lwm_store_mount(&store, flash);
    if (err == LWM_ERR_CORRUPT && (fresh || opt[0] == '1')) {
        board_printf("store: formatting\r\n");
        err = lwm_store_format(&store, flash);
    } else if (err == LWM_ERR_CORRUPT) {
        board_printf("store: the flash image holds no lwmail store; "
                     "refusing to overwrite it (format=1)\r\n");
        return -1;
    }
    if (err) {
        board_printf("store: %s\r\n", lwm_strerror(err));
        return -1;
    }
    board_printf("store: mounted in %lu ms\r\n",
                 (unsigned long)(board_ms() - t0));
    return 0;
}

static int start_server(void)
{
    struct lwm_server_cfg cfg;
    char *colon;
    int err;
    uint32_t t0 = board_ms();

    if (!board_option("user", opt_user, sizeof opt_user))
        strcpy(opt_user, DEFAULT_USER ":" DEFAULT_HASH);
    colon = strchr(opt_user, ':');
    if (colon == NULL) {
        board_printf("user=NAME:HASH expected\r\n");
        return -1;
    }
    *colon = '\0';
    users[0].name = opt_user;
    users[0].pass_hash = colon + 1;
    if (!board_option("hostname", opt_host, sizeof opt_host))
        strcpy(opt_host, "lwmail-qemu");

    memset(&cfg, 0, sizeof cfg);
    cfg.store = &store;
#if LWM_HAVE_LWIP_PORT
    cfg.port = lwm_lwip_port();
#else
    cfg.port = &echo_port;
#endif
    cfg.users = users;
    cfg.nusers = 1;
    cfg.hostname = opt_host;
    cfg.tls = &tls_cfg;
    srv = lwm_server_init(&cfg, &err);
    if (srv == NULL) {
        board_printf("server: init failed: %s\r\n", lwm_strerror(err));
        return -1;
    }
    board_printf("server: ready in %lu ms (user %s)\r\n",
                 (unsigned long)(board_ms() - t0), opt_user);
    return 0;
}

static void report(const char *when)
{
    struct board_flash_stats fs;
    struct lwm_tls_stats ts;

    board_flash_stats(&fs);
    board_printf("stats(%s): ram static %lu B, stack %lu/%lu B used; "
                 "flash reads %lu progs %lu erases %lu syncs %lu "
                 "host-writes %lu violations %lu\r\n",
                 when, (unsigned long)board_ram_static(),
                 (unsigned long)board_stack_high_water(),
                 (unsigned long)board_stack_size(), (unsigned long)fs.reads,
                 (unsigned long)fs.progs, (unsigned long)fs.erases,
                 (unsigned long)fs.syncs, (unsigned long)fs.host_writes,
                 (unsigned long)fs.violations);
    if (srv != NULL && lwm_server_tls_stats(srv, &ts))
        board_printf("tls(%s): arena %lu B, idle %lu, used %lu, peak %lu, "
                     "alloc failures %lu; sessions %lu, handshakes now %lu "
                     "ok %lu failed %lu, last %lu ms\r\n",
                     when, (unsigned long)ts.arena_size,
                     (unsigned long)ts.arena_idle,
                     (unsigned long)ts.arena_used,
                     (unsigned long)ts.arena_peak,
                     (unsigned long)ts.alloc_fails,
                     (unsigned long)ts.sessions,
                     (unsigned long)ts.handshakes,
                     (unsigned long)ts.handshakes_ok,
                     (unsigned long)ts.handshakes_failed,
                     (unsigned long)ts.last_handshake_ms);
#if LWM_HAVE_LWIP_PORT
    {
        struct lwm_lwip_stats ls;

        lwm_lwip_stats(&ls);
        board_printf("net(%s): conns %lu (peak %lu), accepted %lu, "
                     "refused %lu, errors %lu, rx %lu B, tx %lu B\r\n",
                     when, (unsigned long)ls.conns_used,
                     (unsigned long)ls.conns_peak,
                     (unsigned long)ls.accepted,
                     (unsigned long)ls.refused_full,
                     (unsigned long)ls.errors, (unsigned long)ls.rx_bytes,
                     (unsigned long)ls.tx_bytes);
    }
#endif
}

/* Say BYE to every session, let the network carry it out for a moment,
 * then stop (the flash file is flushed by board_exit). */
static void fw_shutdown(void)
{
    uint32_t t0;

    report("exit");
    lwm_server_shutdown(srv);
#if LWM_HAVE_LWIP_PORT
    lwm_lwip_stop();
#endif
    t0 = board_ms();
    while (board_ms() - t0 < 200u) {
        board_net_poll(&eth);
        sys_check_timeouts();
#if LWM_HAVE_LWIP_PORT
        (void)lwm_lwip_poll();
#endif
    }
    board_printf("lwmail: stopped\r\n");
    board_exit(0);
}

int main(void)
{
    char opt[16];
    uint32_t runfor = 0, last_report;

    board_init();
    board_printf("\r\nlwmail %s firmware, board qemu-mps2-an385 "
                 "(cmdline \"%s\")\r\n", LWM_VERSION, board_cmdline());
    if (!board_semihosting())
        board_printf("no semihosting: RAM-only flash, no exit codes\r\n");
    if (board_option("runfor", opt, sizeof opt)) {
        const char *p;
        for (p = opt; *p >= '0' && *p <= '9'; p++)
            runfor = runfor * 10u + (uint32_t)(*p - '0');
    }

    lwip_init();
    if (board_net_init(&eth) < 0)
        board_exit(2);
#if LWM_BOARD_DHCP
    {
        uint32_t t0 = board_ms();

        while (!dhcp_supplied_address(&eth) && board_ms() - t0 < 30000u) {
            board_net_poll(&eth);
            sys_check_timeouts();
        }
        if (!dhcp_supplied_address(&eth)) {
            board_printf("eth: no DHCP answer in 30 s\r\n");
            board_exit(2);
        }
        board_printf("eth: DHCP address %s after %lu ms\r\n",
                     ip4addr_ntoa(netif_ip4_addr(&eth)),
                     (unsigned long)(board_ms() - t0));
    }
#endif

#if LWM_HAVE_LWIP_PORT
    lwm_lwip_setup(&lwip_board);
#endif
    if (open_store() < 0)
        board_exit(3);
    if (start_server() < 0)
        board_exit(4);

#if LWM_HAVE_LWIP_PORT
    if (lwm_lwip_listen(srv, IMAPS_PORT, LWM_CONN_TLS) != 0 ||
        lwm_lwip_listen(srv, IMAP_PORT, 0) != 0) {
        board_printf("cannot listen on ports %d and %d\r\n", IMAPS_PORT,
                     IMAP_PORT);
        board_exit(5);
    }
    board_printf("lwmail: IMAPS on %s:%d, IMAP (STARTTLS) on %d\r\n",
                 ip4addr_ntoa(netif_ip4_addr(&eth)), IMAPS_PORT, IMAP_PORT);
#else
    if (echo_listen() < 0) {
        board_printf("cannot listen on port %d\r\n", IMAPS_PORT);
        board_exit(5);
    }
    board_printf("lwmail: echo on %s:%d (no ports/lwip)\r\n",
                 ip4addr_ntoa(netif_ip4_addr(&eth)), IMAPS_PORT);
#endif
    report("start");

    last_report = board_ms();
    for (;;) {
        int rx = board_net_poll(&eth);
        int wait;

        sys_check_timeouts();
#if LWM_HAVE_LWIP_PORT
        wait = lwm_lwip_poll();         /* polls the server too */
#else
        wait = lwm_server_poll(srv);
#endif
        if (runfor && (int32_t)(board_ms() - runfor) >= 0)
            fw_shutdown();
        switch (board_console_getc()) {
        case 's':
            report("console");
            break;
        case 'q':
            fw_shutdown();
            break;
        default:
            break;
        }
        if (board_ms() - last_report >= 60000u) {
            last_report = board_ms();
            report("periodic");
        }
        if (rx == 0 && wait > 0)
            board_idle();
    }
}
