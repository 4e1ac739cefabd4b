/*
 * test_lwip - ports/lwip on a real lwIP 2.1.3 stack, on the host.
 *
 * One lwIP stack (NO_SYS=1) with a fake clock holds both ends: the server
 * (the lwmail core on ports/lwip, listening on 10.0.0.1) and the test's
 * clients, written on lwIP's raw API and bound to 10.0.0.2 ... 10.0.0.17
 * (one netif per address, so the core sees distinct peers). Every netif
 * sends into one "wire": a FIFO of frames the test delivers back into
 * lwIP the way a netif driver would, copying each into PBUF_POOL pbufs
 * (PBUF_POOL_BUFSIZE is small, so a segment arrives as a chain of
 * several) and dropping it when the pool is empty.
 *
 * What is checked: greeting and LOGIN; APPEND of a 300 KB literal and its
 * FETCH back byte-exact; both directions of backpressure (a client that
 * stops reading while it pipelines thousands of commands: the port holds
 * at most one window, the client's sends stall, everything completes
 * once it reads again), also with the pbuf pool nearly empty; more
 * connections than records at once (BYE from the core, RST from the
 * port); a RST from the client in the middle of a FETCH; the pbuf pool,
 * the pcb pool and lwIP's heap run dry (frames dropped, SYNs refused,
 * sends retried) while sessions go on; a client's FIN behind data the
 * port still holds, and on idle sessions; the IMAPS listener's flag;
 * with OpenSSL (libssl-dev) a real TLS client, IMAPS and STARTTLS; and
 * at the end every lwIP pool, lwIP's heap and the port's records back at
 * their starting levels.
 *
 *   LWM_TEST_LOG=1 test_lwip    shows the server's log
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/ip4_addr.h"
#include "lwip/mem.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/ip.h"

#include "check.h"
#include "lwm_lwip.h"
#include "lwm_nor.h"
#include "lwmail/lwm_auth.h"
#include "lwmail/lwm_server.h"
#include "lwmail/lwm_store.h"

#if LWM_TEST_OPENSSL
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#endif

/* ------------------------------------------------------------ clock */

static uint32_t fake_ms = 1000000;

static uint32_t board_now(void)
{
    return fake_ms;
}

static int64_t board_time(void)
{
    return 1767225600 + fake_ms / 1000;        /* 2026-01-01 */
}

static int verbose;
static unsigned log_lines;

static void board_log(int level, const char *msg)
{
    log_lines++;
    if (verbose)
        fprintf(stderr, "[%u.%03u] log %d: %s\n", fake_ms / 1000,
                fake_ms % 1000, level, msg);
}

/* a test needs reproducible bytes, not secrets */
static uint32_t rng = 0x2545f491u;

static uint32_t xs32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static int board_entropy(uint8_t *buf, size_t len)
{
    while (len--)
        *buf++ = (uint8_t)xs32();
    return 0;
}

static const struct lwm_lwip_board board = {
    board_now, board_time, board_log, board_entropy,
};

/* ------------------------------------------------------------ wire */

#define NADDR 17            /* 10.0.0.1 (server) .. 10.0.0.17 */
#define WIRE_MAX 16384

static struct netif nifs[NADDR];

struct frame {
    size_t len;
    uint8_t data[];
};

static struct frame *wire[WIRE_MAX];
static unsigned wire_head, wire_tail;
static unsigned long wire_frames, wire_dropped;

/* What a netif's output does: the frame leaves, as bytes. */
static err_t wire_output(struct netif *n, struct pbuf *p,
                         const ip4_addr_t *dst)
{
    struct frame *f;
    (void)n;
    (void)dst;
    if (wire_tail - wire_head >= WIRE_MAX) {
        wire_dropped++;
        return ERR_OK;              /* lost on the wire */
    }
    f = malloc(sizeof *f + p->tot_len);
    REQUIRE(f != NULL);
    f->len = p->tot_len;
    REQUIRE(pbuf_copy_partial(p, f->data, p->tot_len, 0) == p->tot_len);
    wire[wire_tail++ % WIRE_MAX] = f;
    return ERR_OK;
}

static err_t wire_if_init(struct netif *n)
{
    n->output = wire_output;
    n->mtu = 1500;
    n->name[0] = 'w';
    n->name[1] = 'r';
    return ERR_OK;
}

/* What a driver's receive path does: each frame into PBUF_POOL pbufs (a
 * chain when it is longer than PBUF_POOL_BUFSIZE), dropped when the pool
 * is empty, then into lwIP. Delivers the frames queued when called;
 * returns how many. */
static int deliver(void)
{
    unsigned n = wire_tail - wire_head;
    int done = 0;
    while (n--) {
        struct frame *f = wire[wire_head++ % WIRE_MAX];
        struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)f->len, PBUF_POOL);
        if (!p) {
            wire_dropped++;
        } else {
            REQUIRE(pbuf_take(p, f->data, (u16_t)f->len) == ERR_OK);
            wire_frames++;
            nifs[0].input(p, &nifs[0]);
        }
        free(f);
        done++;
    }
    return done;
}

/* Hold pool pbufs so the "driver" finds the pool empty. */
#define HOG_MAX 512
static struct pbuf *hog[HOG_MAX];
static int nhog;

static void hog_pool(int leave)
{
    struct pbuf *p;
    while (nhog < HOG_MAX &&
           (p = pbuf_alloc(PBUF_RAW, 1, PBUF_POOL)) != NULL)
        hog[nhog++] = p;
    while (leave-- > 0 && nhog)
        pbuf_free(hog[--nhog]);
}

static void unhog_pool(void)
{
    while (nhog)
        pbuf_free(hog[--nhog]);
}

/* ------------------------------------------------------------ clients */

struct client {
    struct tcp_pcb *pcb;
    int connected;
    int fin;                /* the server closed */
    int reset;              /* err callback: RST or abort */
    err_t err;
    int reading;            /* acknowledge data as it comes */
    uint32_t unacked;       /* received while not reading */
    char *in;               /* everything received, NUL-terminated */
    size_t in_len, in_cap;
    size_t seen;            /* consumed by expect() */
    size_t scan;            /* find_tagged() looked at lines before this */
    uint8_t *out;           /* to send */
    size_t out_len, out_off, out_cap;
#if LWM_TEST_OPENSSL
    /* TLS (IMAPS, or after STARTTLS): OpenSSL over a BIO pair; in and
     * expect() then see plaintext, out holds records */
    SSL *ssl;
    BIO *net;
    uint8_t *pt;            /* plaintext waiting for SSL_write */
    size_t pt_len, pt_cap;
    int tls_failed;
#endif
};

#define NCLIENTS 24
static struct client cl[NCLIENTS];
static ip4_addr_t server_ip;

static void cl_in_append(struct client *c, const void *p, size_t n)
{
    if (c->in_len + n + 1 > c->in_cap) {
        c->in_cap = (c->in_len + n + 1) * 2;
        c->in = realloc(c->in, c->in_cap);
        REQUIRE(c->in != NULL);
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
    c->in[c->in_len] = 0;
}

static err_t cl_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p,
                     err_t err)
{
    struct client *c = arg;
    uint8_t buf[2048];
    u16_t off = 0;
    (void)err;
    if (!p) {
        c->fin = 1;
        return ERR_OK;
    }
    while (off < p->tot_len) {
        u16_t n = pbuf_copy_partial(p, buf, sizeof buf, off);
#if LWM_TEST_OPENSSL
        if (c->ssl) {
            /* the BIO pair's buffers are large: it takes everything */
            REQUIRE(BIO_write(c->net, buf, n) == n);
        } else
#endif
            cl_in_append(c, buf, n);
        off = (u16_t)(off + n);
    }
    if (c->reading)
        tcp_recved(pcb, p->tot_len);
    else
        c->unacked += p->tot_len;
    pbuf_free(p);
    return ERR_OK;
}

static void cl_push(struct client *c)
{
    int wrote = 0;
    if (!c->pcb || !c->connected)
        return;
    while (c->out_off < c->out_len) {
        size_t n = c->out_len - c->out_off;
        size_t room = tcp_sndbuf(c->pcb);
        if (n > room)
            n = room;
        if (!n || tcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN)
            break;
        if (tcp_write(c->pcb, c->out + c->out_off, (u16_t)n,
                      TCP_WRITE_FLAG_COPY) != ERR_OK)
            break;
        c->out_off += n;
        wrote = 1;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (wrote)
        tcp_output(c->pcb);
}

static err_t cl_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    (void)pcb;
    (void)len;
    cl_push(arg);
    return ERR_OK;
}

static void cl_err(void *arg, err_t err)
{
    struct client *c = arg;
    c->pcb = NULL;
    c->reset = 1;
    c->err = err;
}

static err_t cl_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct client *c = arg;
    (void)pcb;
    c->connected = err == ERR_OK;
    cl_push(c);
    return ERR_OK;
}

static void cl_reset_state(struct client *c)
{
    c->pcb = NULL;
    c->connected = c->fin = c->reset = 0;
    c->err = ERR_OK;
    c->reading = 1;
    c->unacked = 0;
    c->in_len = c->seen = c->scan = 0;
    c->out_len = c->out_off = 0;
    if (c->in)
        c->in[0] = 0;
}

/* Connect client c from 10.0.0.(2 + addr) to the server's port. */
static void cl_open(struct client *c, int addr, uint16_t port)
{
    struct tcp_pcb *pcb = tcp_new();
    REQUIRE(pcb != NULL);
    cl_reset_state(c);
    REQUIRE(tcp_bind(pcb, &nifs[1 + addr].ip_addr, 0) == ERR_OK);
    c->pcb = pcb;
    tcp_arg(pcb, c);
    tcp_recv(pcb, cl_recv);
    tcp_sent(pcb, cl_sent);
    tcp_err(pcb, cl_err);
    tcp_nagle_disable(pcb);
    REQUIRE(tcp_connect(pcb, &server_ip, port, cl_connected) == ERR_OK);
}

static void cl_send_raw(struct client *c, const void *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = realloc(c->out, c->out_cap);
        REQUIRE(c->out != NULL);
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    cl_push(c);
}

#if LWM_TEST_OPENSSL
static SSL_CTX *tls_ctx;

/* Begin TLS on c (at connect for IMAPS, after "OK" for STARTTLS). */
static void cl_start_tls(struct client *c)
{
    BIO *inner;
    if (!tls_ctx) {
        tls_ctx = SSL_CTX_new(TLS_client_method());
        REQUIRE(tls_ctx != NULL);
        /* the server's certificate is self-signed, made at its first
         * start: checked by fingerprint instead */
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    }
    c->ssl = SSL_new(tls_ctx);
    REQUIRE(c->ssl != NULL);
    REQUIRE(BIO_new_bio_pair(&inner, 1u << 20, &c->net, 1u << 20) == 1);
    SSL_set_bio(c->ssl, inner, inner);
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_set_connect_state(c->ssl);
    c->tls_failed = 0;
}

/* Move bytes through OpenSSL: handshake, plaintext out, records to the
 * TCP client, records in, plaintext into c->in. */
static void cl_tls_pump(struct client *c)
{
    uint8_t buf[16384];
    int n;
    if (!c->ssl || c->tls_failed)
        return;
    if (!SSL_is_init_finished(c->ssl)) {
        n = SSL_do_handshake(c->ssl);
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                c->tls_failed = 1;
        }
    }
    if (SSL_is_init_finished(c->ssl)) {
        while (c->pt_len) {
            n = SSL_write(c->ssl, c->pt, (int)(c->pt_len > 16384
                                                   ? 16384 : c->pt_len));
            if (n <= 0)
                break;
            memmove(c->pt, c->pt + n, c->pt_len - (size_t)n);
            c->pt_len -= (size_t)n;
            while ((n = BIO_read(c->net, buf, sizeof buf)) > 0)
                cl_send_raw(c, buf, (size_t)n);
        }
        while ((n = SSL_read(c->ssl, buf, sizeof buf)) > 0)
            cl_in_append(c, buf, (size_t)n);
    }
    while ((n = BIO_read(c->net, buf, sizeof buf)) > 0)
        cl_send_raw(c, buf, (size_t)n);
}

static void cl_tls_free(struct client *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);           /* and the inner BIO */
        BIO_free(c->net);
        c->ssl = NULL;
        c->net = NULL;
    }
    c->pt_len = 0;
}
#endif

/* Plaintext to the server (through TLS when the client has it). */
static void cl_send(struct client *c, const void *p, size_t n)
{
#if LWM_TEST_OPENSSL
    if (c->ssl) {
        if (c->pt_len + n > c->pt_cap) {
            c->pt_cap = (c->pt_len + n) * 2;
            c->pt = realloc(c->pt, c->pt_cap);
            REQUIRE(c->pt != NULL);
        }
        memcpy(c->pt + c->pt_len, p, n);
        c->pt_len += n;
        cl_tls_pump(c);
        return;
    }
#endif
    cl_send_raw(c, p, n);
}

static void cl_printf(struct client *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    REQUIRE(n > 0 && (size_t)n < sizeof line);
    cl_send(c, line, (size_t)n);
}

static void cl_set_reading(struct client *c, int on)
{
    c->reading = on;
    if (on && c->unacked && c->pcb) {
        uint32_t n = c->unacked;
        c->unacked = 0;
        while (n) {
            u16_t k = (u16_t)(n > 0xffff ? 0xffff : n);
            tcp_recved(c->pcb, k);
            n -= k;
        }
    }
}

/* Close our side (after the server's FIN, or to end a test). */
static void cl_close(struct client *c)
{
    if (c->pcb) {
        tcp_arg(c->pcb, NULL);
        tcp_recv(c->pcb, NULL);
        tcp_sent(c->pcb, NULL);
        tcp_err(c->pcb, NULL);
        if (tcp_close(c->pcb) != ERR_OK)
            tcp_abort(c->pcb);
        c->pcb = NULL;
    }
#if LWM_TEST_OPENSSL
    cl_tls_free(c);
#endif
}

/* RST from the client's side */
static void cl_abort(struct client *c)
{
    if (c->pcb) {
        tcp_arg(c->pcb, NULL);
        tcp_err(c->pcb, NULL);
        tcp_abort(c->pcb);
        c->pcb = NULL;
    }
}

/* ------------------------------------------------------------ running */

static void push_all(void)
{
    int i;
    for (i = 0; i < NCLIENTS; i++) {
#if LWM_TEST_OPENSSL
        cl_tls_pump(&cl[i]);
#endif
        cl_push(&cl[i]);
    }
}

/* One turn of the "main loop": frames in, lwIP's timers, the server's
 * poll, the clients' pending sends. When nothing moved, fake time
 * advances to the next thing due (at most 50 ms). */
static void turn(void)
{
    int moved = deliver(), wait;
    sys_check_timeouts();
    wait = lwm_lwip_poll();
    push_all();
    if (!moved && wire_tail == wire_head) {
        if (wait < 1)
            wait = 1;
        if (wait > 50)
            wait = 50;
        fake_ms += (uint32_t)wait;
    }
}

/* Run until pred(arg) holds, at most max_ms of fake time. */
static int run_until(int (*pred)(void *), void *arg, uint32_t max_ms)
{
    uint32_t start = fake_ms;
    long guard = 0;
    while (!pred(arg)) {
        if ((uint32_t)(fake_ms - start) > max_ms || ++guard > 5000000L)
            return 0;
        turn();
    }
    return 1;
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

static void run_for(uint32_t ms)
{
    (void)run_until(never, NULL, ms);
}

/* Where a line starting with tag (a tagged response) is in c's input
 * after what was seen; NULL if not there yet. Lines already looked at
 * are not scanned again (a FETCH brings megabytes). */
static const char *find_tagged(struct client *c, const char *tag)
{
    size_t tl = strlen(tag);
    const char *p;
    if (!c->in)
        return NULL;
    if (c->scan < c->seen)
        c->scan = c->seen;
    p = c->in + c->scan;
    for (;;) {
        const char *eol;
        if (!strncmp(p, tag, tl) && p[tl] == ' ')
            return p;
        eol = memchr(p, '\n', (size_t)(c->in + c->in_len - p));
        if (!eol) {
            c->scan = (size_t)(p - c->in);   /* a line still coming */
            return NULL;
        }
        p = eol + 1;
    }
}

struct want {
    struct client *c;
    const char *tag;
};

static int has_tagged(void *arg)
{
    struct want *w = arg;
    return find_tagged(w->c, w->tag) != NULL || w->c->reset;
}

/* Wait for the tagged response; returns everything from the last seen
 * point through that line (in c's buffer, NUL-terminated in place) and
 * moves seen past it; NULL on timeout or reset. */
static char *expect(struct client *c, const char *tag, uint32_t max_ms)
{
    struct want w = { c, tag };
    const char *t;
    char *start, *eol;
    if (!run_until(has_tagged, &w, max_ms) || !(t = find_tagged(c, tag))) {
        fprintf(stderr, "no '%s' response within %u ms (reset %d); got "
                "%.300s\n", tag, max_ms, c->reset,
                c->in ? c->in + c->seen : "");
        return NULL;
    }
    start = c->in + c->seen;
    eol = strstr(t, "\r\n");
    if (!eol)
        eol = c->in + c->in_len;
    c->seen = (size_t)(eol - c->in) + (eol < c->in + c->in_len ? 2 : 0);
    return start;
}

static int cmd_ok(struct client *c, const char *tag, const char *line)
{
    char *r;
    size_t tl = strlen(tag);
    cl_printf(c, "%s %s\r\n", tag, line);
    r = expect(c, tag, 20000);
    if (!r)
        return 0;
    r = strstr(r, tag);
    while (r && !(r[tl] == ' ' && (r == c->in || r[-1] == '\n')))
        r = strstr(r + 1, tag);
    if (!r || strncmp(r + tl, " OK", 3)) {
        fprintf(stderr, "%s %s: %.200s\n", tag, line, r ? r : "?");
        return 0;
    }
    return 1;
}

static int got_greeting(void *arg)
{
    struct client *c = arg;
    return c->reset || c->fin ||
           (c->in && strstr(c->in, "\r\n") != NULL);
}

/* Open, wait for the greeting, log in. */
static int session(struct client *c, int addr, const char *tag)
{
    cl_open(c, addr, 143);
    if (!run_until(got_greeting, c, 10000) || strncmp(c->in, "* OK", 4)) {
        fprintf(stderr, "greeting: %.200s\n", c->in ? c->in : "(none)");
        return 0;
    }
    c->seen = (size_t)(strstr(c->in, "\r\n") - c->in) + 2;
    return cmd_ok(c, tag, "LOGIN alice secret-pw");
}

static int closed_or_reset(void *arg)
{
    struct client *c = arg;
    return c->fin || c->reset;
}

/* ------------------------------------------------------------ server */

static struct lwm_nor nor;
static struct lwm_store store;
static struct lwm_server *srv;
static struct lwm_server_cfg cfg;
static struct lwm_user_cfg users[1];
static char alice_hash[LWM_AUTH_HASH_STR_MAX];
static struct lwm_tls_cfg tls_cfg;      /* generated certificate */

static void server_start(void)
{
    static const uint8_t salt[16] = "lwip-test-salt0";
    int err;
    REQUIRE(lwm_auth_hash("secret-pw", 9, salt, sizeof salt, 1000,
                          alice_hash, sizeof alice_hash) > 0);
    users[0].name = "alice";
    users[0].pass_hash = alice_hash;
    REQUIRE(lwm_nor_open(&nor, NULL, 4096, 1024, 4, 1, 1) == 0);
    REQUIRE(lwm_store_format(&store, &nor.flash) == 0);
    lwm_lwip_setup(&board);
    memset(&cfg, 0, sizeof cfg);
    cfg.store = &store;
    cfg.port = lwm_lwip_port();
    cfg.users = users;
    cfg.nusers = 1;
    cfg.hostname = "lwip-test";
    cfg.tls = &tls_cfg;
    cfg.allow_plaintext_auth = 1;
    srv = lwm_server_init(&cfg, &err);
    REQUIRE(srv != NULL);
    REQUIRE(lwm_lwip_listen(srv, 143, 0) == 0);
    REQUIRE(lwm_lwip_listen(srv, 993, LWM_CONN_TLS) == 0);
    CHECK(lwm_lwip_listen(srv, 143, 0) == LWM_ERR_BUSY);
}

/* ------------------------------------------------------------ lwIP */

struct snap {
    mem_size_t memp_used[MEMP_MAX];
    mem_size_t mem_used;
};

static void snap_take(struct snap *s)
{
    int i;
    for (i = 0; i < MEMP_MAX; i++)
        s->memp_used[i] = lwip_stats.memp[i]->used;
    s->mem_used = lwip_stats.mem.used;
}

static const char *const pool_names[MEMP_MAX] = {
#define LWIP_MEMPOOL(name, num, size, desc) desc,
#include "lwip/priv/memp_std.h"
};

static void lwip_start(void)
{
    int i;
    lwip_init();
    for (i = 0; i < NADDR; i++) {
        ip4_addr_t ip, mask, gw;
        IP4_ADDR(&ip, 10, 0, 0, (u8_t)(1 + i));
        IP4_ADDR(&mask, 255, 255, 255, 0);
        ip4_addr_set_zero(&gw);
        REQUIRE(netif_add(&nifs[i], &ip, &mask, &gw, NULL, wire_if_init,
                          ip4_input) != NULL);
        netif_set_up(&nifs[i]);
        netif_set_link_up(&nifs[i]);
    }
    IP4_ADDR(&server_ip, 10, 0, 0, 1);
}

/* ------------------------------------------------------------ data */

#define BIG_LEN (300u * 1024u)
static char *big;

/* A message of exactly BIG_LEN bytes: headers, then lines of printable
 * text none of which looks like a tagged response. */
static char *make_message(size_t len, uint32_t seed)
{
    char *m = malloc(len + 1);
    size_t at;
    uint32_t line = 0;
    REQUIRE(m != NULL);
    at = (size_t)snprintf(m, len, "From: bob@example.org\r\n"
                          "To: alice@example.org\r\n"
                          "Subject: big one %u\r\n"
                          "Message-ID: <big%u@example.org>\r\n"
                          "\r\n", seed, seed);
    rng = seed | 1;
    while (at < len) {
        size_t n = 20 + xs32() % 120, i;
        if (at + n + 2 > len)
            n = len - at >= 2 ? len - at - 2 : 0;
        for (i = 0; i < n; i++) {
            if (i < 8)
                m[at + i] = "line...."[i];
            else
                m[at + i] = (char)(' ' + 1 + xs32() % 94);
        }
        at += n;
        if (at + 2 <= len) {
            m[at++] = '\r';
            m[at++] = '\n';
        } else {
            while (at < len)
                m[at++] = 'x';
        }
        line++;
    }
    m[len] = 0;
    return m;
}

/* Check a FETCH response holding one literal of want_len bytes equal to
 * want: the literal starts after the first "{N}\r\n". */
static int literal_equals(const char *resp, const char *want,
                          size_t want_len)
{
    const char *b = strchr(resp, '{');
    char *end;
    unsigned long n;
    if (!b)
        return 0;
    n = strtoul(b + 1, &end, 10);
    if (*end != '}' || end[1] != '\r' || end[2] != '\n' || n != want_len)
        return 0;
    return memcmp(end + 3, want, want_len) == 0;
}

/* ------------------------------------------------------------ tests */

static struct lwm_lwip_stats port_stats(void)
{
    struct lwm_lwip_stats st;
    lwm_lwip_stats(&st);
    return st;
}

static void test_login(void)
{
    struct client *a = &cl[0];
    CHECK(session(a, 1, "a1"));
    CHECK(strstr(a->in, "* OK") == a->in);
    CHECK(cmd_ok(a, "a2", "SELECT INBOX"));
}

static int got_plus(void *arg)
{
    struct client *c = arg;
    return c->reset || (c->in && strstr(c->in + c->seen, "+ ") != NULL);
}

static int append(struct client *c, const char *tag, const char *msg,
                  size_t len)
{
    char *r;
    cl_printf(c, "%s APPEND INBOX {%zu}\r\n", tag, len);
    if (!CHECK(run_until(got_plus, c, 10000)))
        return 0;
    c->seen = (size_t)(strstr(c->in + c->seen, "+ ") - c->in);
    c->seen = (size_t)(strstr(c->in + c->seen, "\r\n") - c->in) + 2;
    cl_send(c, msg, len);
    cl_send(c, "\r\n", 2);
    r = expect(c, tag, 120000);
    return r && strstr(r, " OK") != NULL;
}

static void test_append_fetch(void)
{
    struct client *a = &cl[0];
    char *r;
    uint32_t t0 = fake_ms;
    struct lwm_lwip_stats st;
    big = make_message(BIG_LEN, 7);
    CHECK(append(a, "a3", big, BIG_LEN));
    printf("APPEND of %u bytes: %u ms fake time\n", BIG_LEN,
           fake_ms - t0);
    st = port_stats();
    /* the port never holds more than one window of a connection */
    CHECK(st.rx_queued_peak <= TCP_WND);
    cl_printf(a, "a4 FETCH 1 BODY.PEEK[]\r\n");
    t0 = fake_ms;
    r = expect(a, "a4", 120000);
    CHECK(r && literal_equals(r, big, BIG_LEN));
    CHECK(r && strstr(r, "a4 OK") != NULL);
    printf("FETCH of %u bytes: %u ms fake time\n", BIG_LEN, fake_ms - t0);
}

/* Both directions of flow control. The client stops reading (its window
 * closes), asks for the big message and pipelines NOOPs behind it: the
 * FETCH stalls on the server's send buffer, the NOOPs fill the session's
 * receive buffer, then the port's queue (at most one window), then the
 * client's own send buffer stays full. Once the client reads again,
 * everything comes, in order and byte-exact. */
#define NNOOP 3000

static void test_backpressure(void)
{
    struct client *a = &cl[0];
    struct lwm_lwip_stats st;
    char *r, *pipe;
    size_t at = 0;
    int i, all = 1;
    cl_set_reading(a, 0);
    pipe = malloc(NNOOP * 16 + 64);
    REQUIRE(pipe != NULL);
    at += (size_t)sprintf(pipe, "b0 FETCH 1 BODY.PEEK[]\r\n");
    for (i = 1; i <= NNOOP; i++)
        at += (size_t)sprintf(pipe + at, "b%d NOOP\r\n", i);
    cl_send(a, pipe, at);
    run_for(3000);
    st = port_stats();
    printf("stalled: port holds %u bytes, client has %zu bytes unsent, "
           "%u received unread\n", st.rx_queued, a->out_len - a->out_off,
           a->unacked);
    CHECK(st.rx_queued > 0);
    CHECK(st.rx_queued <= TCP_WND);
    CHECK(a->out_len - a->out_off > 0);     /* the client is held back */
    CHECK(a->pcb && a->pcb->snd_wnd == 0);  /* by a closed window */
    CHECK(a->unacked <= TCP_WND);
    cl_set_reading(a, 1);
    r = expect(a, "b" "3000", 120000);
    CHECK(r != NULL);
    if (r) {
        CHECK(literal_equals(r, big, BIG_LEN));
        const char *p = strstr(r, "\r\nb0 OK");
        CHECK(p != NULL);
        /* every NOOP answered, in order */
        for (i = 1; i <= NNOOP && p; i++) {
            char tag[24];
            sprintf(tag, "\r\nb%d OK", i);
            p = strstr(p + 1, tag);
        }
        all = p != NULL;
        CHECK(all);
    }
    free(pipe);
}

/* The backpressure case again with the pool nearly empty (ten pbufs of
 * 512 bytes left): the stalled session's queue would hold them all, and
 * then the very ACK that lets its FETCH go on would be dropped, until
 * the core's two-minute send timeout. The port moves a stalled queue out
 * of the pool (LWM_LWIP_RX_COMPACT), so it completes within seconds. */
static void test_pool_stall(void)
{
    struct client *c = &cl[0];
    struct lwm_lwip_stats st0 = port_stats(), st;
    char *pipe = malloc(1500 * 16 + 64), *r;
    size_t at = 0;
    uint32_t t0;
    int i;
    const char *p;
    REQUIRE(pipe != NULL);
    cl_set_reading(c, 0);
    at += (size_t)sprintf(pipe, "k0 FETCH 1 BODY.PEEK[]\r\n");
    for (i = 1; i <= 1500; i++)
        at += (size_t)sprintf(pipe + at, "k%d NOOP\r\n", i);
    hog_pool(10);
    cl_send(c, pipe, at);
    run_for(2000);
    t0 = fake_ms;
    cl_set_reading(c, 1);
    r = expect(c, "k1500", 180000);
    unhog_pool();
    st = port_stats();
    printf("stall with 10 pool pbufs left: done after %u ms, %u queues "
           "moved out of the pool\n", fake_ms - t0,
           st.rx_compactions - st0.rx_compactions);
    CHECK(r != NULL);
    CHECK(fake_ms - t0 < 20000);
    CHECK(st.rx_compactions > st0.rx_compactions);
    if (r) {
        CHECK(literal_equals(r, big, BIG_LEN));
        p = strstr(r, "\r\nk0 OK");
        for (i = 1; i <= 1500 && p; i++) {
            char tag[24];
            sprintf(tag, "\r\nk%d OK", i);
            p = strstr(p + 1, tag);
        }
        CHECK(p != NULL);
    }
    free(pipe);
}

/* Eight sessions logged in (every core slot), then six more connections
 * in one burst: the two spare records let the core say BYE; the others
 * find no record and are reset; none gets a greeting; the eight go on. */
static void test_many(void)
{
    int i, bye = 0, rst = 0, greeted = 0;
    struct lwm_lwip_stats st0 = port_stats(), st;
    for (i = 1; i < LWM_MAX_SESSIONS; i++) {
        char tag[8];
        sprintf(tag, "c%d", i);
        CHECK(session(&cl[i], 1 + i, tag));
    }
    for (i = LWM_MAX_SESSIONS; i < LWM_MAX_SESSIONS + 6; i++)
        cl_open(&cl[i], 1 + i, 143);
    for (i = LWM_MAX_SESSIONS; i < LWM_MAX_SESSIONS + 6; i++) {
        struct client *c = &cl[i];
        CHECK(run_until(closed_or_reset, c, 30000));
        if (c->in && strstr(c->in, "* BYE"))
            bye++;
        if (c->reset)
            rst++;
        if (c->in && strstr(c->in, "* OK"))
            greeted++;
        cl_close(c);
    }
    st = port_stats();
    printf("burst of 6 beyond %d sessions: %d BYE, %d reset, "
           "%u refused for want of a record\n", LWM_MAX_SESSIONS, bye, rst,
           st.refused_full - st0.refused_full);
    CHECK(bye + rst == 6);
    CHECK(greeted == 0);
    CHECK(bye >= 2);
    CHECK(st.refused_full > st0.refused_full);
    CHECK(rst == (int)(st.refused_full - st0.refused_full));
    CHECK(st.conns_used == LWM_MAX_SESSIONS);
    for (i = 0; i < LWM_MAX_SESSIONS; i++) {
        char tag[8];
        sprintf(tag, "d%d", i);
        CHECK(cmd_ok(&cl[i], tag, "NOOP"));
    }
}

static int got_bytes(void *arg)
{
    struct client *c = arg;
    return c->reset || c->in_len - c->seen >= 64 * 1024;
}

/* The client resets the connection in the middle of a FETCH: the port
 * hears it through the err callback, the core frees the slot, a new
 * session can take it. */
static void test_reset(void)
{
    struct client *b = &cl[1];
    struct lwm_lwip_stats st0 = port_stats(), st;
    CHECK(cmd_ok(b, "e1", "SELECT INBOX"));
    cl_printf(b, "e2 FETCH 1 BODY.PEEK[]\r\n");
    CHECK(run_until(got_bytes, b, 30000));
    cl_abort(b);
    run_for(500);
    st = port_stats();
    CHECK(st.errors == st0.errors + 1);
    CHECK(st.conns_used == st0.conns_used - 1);
    CHECK(session(b, 2, "e3"));
    CHECK(cmd_ok(b, "e4", "NOOP"));
    CHECK(port_stats().conns_used == st0.conns_used);
}

/* The pbuf pool runs dry: first completely for two seconds (every frame
 * in either direction dropped; TCP retransmits), then with three pbufs
 * left for a whole 300 KB APPEND. It completes, byte-exact. */
static void test_pool_exhaustion(void)
{
    struct client *c = &cl[2];
    unsigned long drops0 = wire_dropped;
    char *msg = make_message(BIG_LEN, 11), *r;
    uint32_t t0;
    CHECK(cmd_ok(c, "f1", "NOOP"));
    hog_pool(0);
    cl_printf(c, "f2 NOOP\r\n");
    run_for(2000);
    CHECK(find_tagged(c, "f2") == NULL);
    CHECK(wire_dropped > drops0);
    unhog_pool();
    r = expect(c, "f2", 30000);
    CHECK(r && strstr(r, "f2 OK"));
    hog_pool(4);
    t0 = fake_ms;
    CHECK(append(c, "f3", msg, BIG_LEN));
    unhog_pool();
    printf("APPEND with 4 pool pbufs: %u ms fake time, %lu frames "
           "dropped\n", fake_ms - t0, wire_dropped - drops0);
    CHECK(cmd_ok(c, "f4", "SELECT INBOX"));
    cl_printf(c, "f5 FETCH 2 BODY.PEEK[]\r\n");
    r = expect(c, "f5", 60000);
    CHECK(r && literal_equals(r, msg, BIG_LEN));
    free(msg);
}

/* The client sends a FETCH and a thousand NOOPs without reading, then
 * half-closes: its FIN reaches the server behind data the port still
 * holds. The port hands the core everything before the FIN first, then
 * ends the session and closes gracefully: the client gets a FIN, never a
 * RST, and what it received is the start of the answers, byte-exact. */
static void test_peer_fin(void)
{
    struct client *c = &cl[3];
    struct lwm_lwip_stats st0 = port_stats(), st;
    char *pipe = malloc(1000 * 16 + 64), *lit;
    size_t at = 0, got;
    int i;
    REQUIRE(pipe != NULL);
    CHECK(cmd_ok(c, "p", "SELECT INBOX"));
    cl_set_reading(c, 0);
    at += (size_t)sprintf(pipe, "p0 FETCH 1 BODY.PEEK[]\r\n");
    for (i = 1; i <= 1000; i++)
        at += (size_t)sprintf(pipe + at, "p%d NOOP\r\n", i);
    cl_send(c, pipe, at);
    run_for(1000);
    CHECK(port_stats().rx_queued > 0);
    /* FIN after all that; it leaves once the window lets the data go */
    CHECK(tcp_shutdown(c->pcb, 0, 1) == ERR_OK);
    cl_set_reading(c, 1);
    CHECK(run_until(closed_or_reset, c, 60000));
    run_for(200);
    st = port_stats();
    CHECK(c->fin && !c->reset);
    CHECK(st.peer_closed == st0.peer_closed + 1);
    CHECK(st.conns_used == st0.conns_used - 1);
    CHECK(st.rx_queued == 0);
    /* what came is a prefix of the FETCH response */
    lit = strstr(c->in + c->seen, "}\r\n");
    CHECK(lit != NULL);
    if (lit) {
        lit += 3;
        got = c->in_len - (size_t)(lit - c->in);
        if (got > BIG_LEN)
            got = BIG_LEN;
        CHECK(memcmp(lit, big, got) == 0);
        printf("peer FIN behind %zu queued bytes: %zu of %u literal bytes "
               "and %s came before our FIN\n", at, got, BIG_LEN,
               strstr(lit, "p0 OK") ? "the tagged OK" : "no tagged OK");
    }
    cl_close(c);
    free(pipe);
    /* back to eight sessions */
    CHECK(session(c, 3, "p1001"));
}

/* lwIP's heap (where tcp_write() puts the segments) is full when a FETCH
 * starts: send() gets ERR_MEM with nothing in flight, so no sent callback
 * will come; the port retries from lwm_lwip_poll() and the FETCH
 * completes byte-exact once memory is back. */
static void test_send_mem(void)
{
    struct client *c = &cl[4];
    static void *held[8192];
    int n = 0;
    mem_size_t sz;
    struct lwm_lwip_stats st0 = port_stats(), st;
    char *r;
    CHECK(cmd_ok(c, "s0", "SELECT INBOX"));
    cl_printf(c, "s1 FETCH 1 BODY.PEEK[]\r\n");  /* on the wire now */
    for (sz = 4096; sz >= 8; sz /= 2)
        while (n < 8192 && (held[n] = mem_malloc(sz)) != NULL)
            n++;
    REQUIRE(n < 8192);
    run_for(500);
    st = port_stats();
    CHECK(st.send_mem_errors > st0.send_mem_errors);
    CHECK(c->in_len == c->seen);            /* nothing could be sent */
    while (n)
        mem_free(held[--n]);
    r = expect(c, "s1", 60000);
    CHECK(r && literal_equals(r, big, BIG_LEN));
    printf("send with lwIP's heap full: %u ERR_MEM, then completed\n",
           st.send_mem_errors - st0.send_mem_errors);
}

/* No pcb for a SYN: lwIP calls accept with ERR_MEM and drops it; open
 * sessions are not killed to make room (their priority is above the
 * listener's); once pcbs are free again, the client's retried SYN is
 * accepted. */
static void test_pcb_exhaustion(void)
{
    struct tcp_pcb *held[64];
    int n = 0, i;
    struct client *c = &cl[LWM_MAX_SESSIONS - 1];
    struct lwm_lwip_stats st0, st;
    /* a slot for the new session: log one out */
    CHECK(cmd_ok(c, "g0", "LOGOUT"));
    CHECK(run_until(closed_or_reset, c, 5000));
    cl_close(c);
    run_for(100);
    st0 = port_stats();
    cl_open(c, 9, 143);               /* takes its pcb first */
    while (n < 64 && (held[n] = tcp_new()) != NULL)
        n++;
    REQUIRE(n < 64);
    run_for(2000);
    st = port_stats();
    CHECK(st.accept_errors > st0.accept_errors);
    CHECK(c->in_len == 0);
    /* the open sessions all survived */
    for (i = 0; i < LWM_MAX_SESSIONS - 1; i++) {
        char tag[8];
        sprintf(tag, "g%d", i + 1);
        CHECK(cl[i].pcb != NULL && !cl[i].reset);
        CHECK(cmd_ok(&cl[i], tag, "NOOP"));
    }
    while (n)
        tcp_close(held[--n]);
    CHECK(run_until(got_greeting, c, 20000));
    CHECK(c->in && !strncmp(c->in, "* OK", 4));
    c->seen = c->in_len;
    CHECK(cmd_ok(c, "g9", "LOGIN alice secret-pw"));
}

/* The IMAPS listener hands its connections to the core with LWM_CONN_TLS:
 * the server says nothing until a ClientHello; garbage ends it. */
static void test_imaps_flag(void)
{
    struct client *c = &cl[LWM_MAX_SESSIONS + 2];
    struct lwm_tls_stats ts0, ts;
    /* a session slot for it */
    CHECK(cmd_ok(&cl[6], "h0", "LOGOUT"));
    CHECK(run_until(closed_or_reset, &cl[6], 5000));
    cl_close(&cl[6]);
    lwm_server_tls_stats(srv, &ts0);
    cl_open(c, 10, 993);
    run_for(1000);
    lwm_server_tls_stats(srv, &ts);
    CHECK(c->connected && !c->fin && !c->reset);
    CHECK(c->in_len == 0);                  /* no plaintext greeting */
    CHECK(ts.handshakes == ts0.handshakes + 1);
    cl_send(c, "a1 LOGIN alice secret-pw\r\n", 26);
    CHECK(run_until(closed_or_reset, c, 30000));
    CHECK(!c->in || !strstr(c->in, "OK"));
    cl_close(c);
    run_for(500);
    lwm_server_tls_stats(srv, &ts);
    CHECK(ts.handshakes == ts0.handshakes);
    CHECK(ts.handshakes_failed == ts0.handshakes_failed + 1);
}

#if LWM_TEST_OPENSSL
static int tls_ready_or_failed(void *arg)
{
    struct client *c = arg;
    return c->reset || c->fin || c->tls_failed ||
           (c->ssl && SSL_is_init_finished(c->ssl) && c->in_len > 0);
}

static int same_cert(struct client *c)
{
    struct lwm_tls_stats ts;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    X509 *pc = SSL_get1_peer_certificate(c->ssl);
    int ok;
    if (!pc)
        return 0;
    ok = X509_digest(pc, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32;
    X509_free(pc);
    lwm_server_tls_stats(srv, &ts);
    return ok && !memcmp(md, ts.cert_sha256, 32);
}

/* A real TLS client (OpenSSL) over the raw-API client: IMAPS on 993 and
 * STARTTLS on 143. TLS records cross the port's pbuf chains at every
 * offset (512-byte pool pbufs, 16 KB client records, 4 KB server
 * records); FETCH and APPEND come through byte-exact. */
static void test_tls(void)
{
    struct client *c = &cl[6];
    struct lwm_tls_stats ts0, ts;
    char *msg = make_message(100 * 1024, 13), *r;
    uint32_t t0;
    lwm_server_tls_stats(srv, &ts0);
    cl_open(c, 11, 993);
    cl_start_tls(c);
    t0 = fake_ms;
    CHECK(run_until(tls_ready_or_failed, c, 20000));
    CHECK(!c->tls_failed && !c->reset);
    CHECK(c->in && !strncmp(c->in, "* OK", 4));
    printf("IMAPS handshake over lwIP: %u ms fake time, %s\n",
           fake_ms - t0, c->ssl ? SSL_get_cipher_name(c->ssl) : "-");
    CHECK(same_cert(c));
    if (c->in && strstr(c->in, "\r\n"))
        c->seen = (size_t)(strstr(c->in, "\r\n") - c->in) + 2;
    CHECK(cmd_ok(c, "t1", "LOGIN alice secret-pw"));
    CHECK(cmd_ok(c, "t2", "SELECT INBOX"));
    cl_printf(c, "t3 FETCH 1 BODY.PEEK[]\r\n");
    r = expect(c, "t3", 60000);
    CHECK(r && literal_equals(r, big, BIG_LEN));
    CHECK(append(c, "t4", msg, 100 * 1024));
    CHECK(cmd_ok(c, "t5", "NOOP"));
    cl_printf(c, "t6 UID FETCH * BODY.PEEK[]\r\n");
    r = expect(c, "t6", 60000);
    CHECK(r && literal_equals(r, msg, 100 * 1024));
    CHECK(cmd_ok(c, "t7", "LOGOUT"));
    CHECK(run_until(closed_or_reset, c, 5000));
    CHECK(c->fin && !c->reset);
    cl_close(c);

    /* STARTTLS on the plain port */
    cl_open(c, 11, 143);
    CHECK(run_until(got_greeting, c, 5000));
    c->seen = c->in_len;
    CHECK(cmd_ok(c, "u1", "STARTTLS"));
    cl_start_tls(c);
    c->in_len = c->seen = c->scan = 0;
    c->in[0] = 0;
    cl_printf(c, "u2 CAPABILITY\r\n");
    r = expect(c, "u2", 20000);
    CHECK(r && strstr(r, "AUTH=PLAIN") && !strstr(r, "STARTTLS"));
    CHECK(same_cert(c));
    CHECK(cmd_ok(c, "u3", "LOGIN alice secret-pw"));
    CHECK(cmd_ok(c, "u4", "LOGOUT"));
    CHECK(run_until(closed_or_reset, c, 5000));
    cl_close(c);
    run_for(500);
    lwm_server_tls_stats(srv, &ts);
    CHECK(ts.handshakes_ok == ts0.handshakes_ok + 2);
    CHECK(ts.sessions == 0);
    free(msg);
}
#else
static void test_tls(void)
{
    printf("TLS client test skipped: built without OpenSSL (libssl-dev)\n");
}
#endif

static void test_no_leaks(const struct snap *base)
{
    struct snap now;
    struct lwm_lwip_stats st;
    int i;
    struct lwm_lwip_stats st0 = port_stats();
    int fins = 0;
    /* half the sessions say LOGOUT (the server closes first), the others
     * just close (the server sees our FIN first) */
    for (i = 0; i < NCLIENTS; i++) {
        struct client *c = &cl[i];
        if (c->pcb && c->connected && !c->fin && !c->reset && (i & 1)) {
            char tag[8];
            sprintf(tag, "z%d", i);
            cl_printf(c, "%s LOGOUT\r\n", tag);
            CHECK(run_until(closed_or_reset, c, 10000));
        } else if (c->pcb && c->connected && !c->fin && !c->reset) {
            fins++;
        }
        cl_close(c);
    }
    run_for(1000);
    CHECK(port_stats().peer_closed == st0.peer_closed + (uint32_t)fins);
    CHECK(port_stats().conns_used == 0);
    lwm_lwip_stop();
    /* FIN exchanges, TIME-WAIT (2 * TCP_MSL), delayed ACKs */
    run_for(10000);
    st = port_stats();
    CHECK(st.conns_used == 0);
    CHECK(st.rx_queued == 0);
    CHECK(st.rx_compact_held == 0);
    snap_take(&now);
    for (i = 0; i < MEMP_MAX; i++) {
        if (!CHECK(now.memp_used[i] == base->memp_used[i]))
            fprintf(stderr, "pool %s: %u in use, %u at start\n",
                    pool_names[i], (unsigned)now.memp_used[i],
                    (unsigned)base->memp_used[i]);
    }
    if (!CHECK(now.mem_used == base->mem_used))
        fprintf(stderr, "heap: %u in use, %u at start\n",
                (unsigned)now.mem_used, (unsigned)base->mem_used);
    printf("port: %u accepted, peak %u records, %u reset for want of a "
           "record, %u SYNs without pcb, %u peer FINs, %u errors, %u "
           "ERR_MEM sends, %u queues moved out of the pool; %llu bytes in, "
           "%llu out; peak queue %u\n",
           st.accepted, st.conns_peak, st.refused_full, st.accept_errors,
           st.peer_closed, st.errors, st.send_mem_errors, st.rx_compactions,
           (unsigned long long)st.rx_bytes, (unsigned long long)st.tx_bytes,
           st.rx_queued_peak);
    printf("wire: %lu frames, %lu dropped; %u log lines\n", wire_frames,
           wire_dropped, log_lines);
}

int main(void)
{
    struct snap base;
    int i;
    verbose = getenv("LWM_TEST_LOG") != NULL;
    lwip_start();
    snap_take(&base);
    server_start();

    test_login();
    test_append_fetch();
    test_backpressure();
    test_pool_stall();
    test_many();
    test_reset();
    test_pool_exhaustion();
    test_peer_fin();
    test_send_mem();
    test_pcb_exhaustion();
    test_imaps_flag();
    test_tls();
    test_no_leaks(&base);

    lwm_store_unmount(&store);
    lwm_nor_close(&nor);
    for (i = 0; i < NCLIENTS; i++) {
        free(cl[i].in);
        free(cl[i].out);
#if LWM_TEST_OPENSSL
        free(cl[i].pt);
#endif
    }
#if LWM_TEST_OPENSSL
    SSL_CTX_free(tls_ctx);
#endif
    free(big);
    return check_summary("test_lwip");
}
