/*
 * lwmail TLS - sessions over mbedTLS 2.28 on static memory.
 *
 * See tls.h for the transport model. Allocation: mbedTLS calls
 * mbedtls_calloc ~12,000 times per handshake, almost all for small
 * objects, and twice for the record buffers (16 KB in, LWM_TLS_OUT_LEN
 * out) at ssl_setup. A single first-fit arena fragments under connection
 * churn until no 16 KB hole is left while most of it is free, so the
 * router below sends those two sizes to fixed per-session pools and the
 * rest to MBEDTLS_MEMORY_BUFFER_ALLOC_C's arena. Each arena block carries
 * a small header with its size, so the layer knows its use and high-water
 * mark exactly (the idle level is asserted by the tests).
 */
#include <stddef.h>

#include "lwmail/lwm_opts.h"

/* The platform default for mbedtls_calloc/free (lwm_mbedtls_config.h):
 * fail, so no path can reach libc's heap before the arena is set up. Also
 * without the TLS layer: mbedTLS is still linked (SHA-256 for passwords). */
void *lwm_tls_no_calloc(size_t n, size_t size);
void lwm_tls_no_free(void *p);

void *lwm_tls_no_calloc(size_t n, size_t size)
{
    (void)n;
    (void)size;
    return NULL;
}

void lwm_tls_no_free(void *p)
{
    (void)p;
}

#if LWM_TLS

#include <string.h>

#include "imap/imap_int.h"
#include "lwmail/lwm_err.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/memory_buffer_alloc.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform.h"
#include "mbedtls/sha256.h"
#include "mbedtls/ssl.h"
#include "mbedtls/ssl_internal.h"
#include "mbedtls/x509_crt.h"
#include "tls/cert.h"
#include "tls/tls.h"

#if LWM_TLS_OUT_LEN < 2048 || LWM_TLS_OUT_LEN > 16384
#error "LWM_TLS_OUT_LEN must be 2048 .. 16384"
#endif

/* ------------------------------------------------ memory */

#define POOL_IN_LEN MBEDTLS_SSL_IN_BUFFER_LEN
#define POOL_OUT_LEN MBEDTLS_SSL_OUT_BUFFER_LEN

/* Arena block header: the size asked for, so free() can count it. Eight
 * bytes keep the payload as aligned as the arena's blocks. */
#define ARENA_HDR 8

static union {
    unsigned char b[LWM_TLS_ARENA];
    uint64_t align;
} arena;
static uint8_t pool_in[LWM_TLS_SESSIONS][POOL_IN_LEN];
static uint8_t pool_out[LWM_TLS_SESSIONS][POOL_OUT_LEN];
static uint8_t pool_in_used[LWM_TLS_SESSIONS];
static uint8_t pool_out_used[LWM_TLS_SESSIONS];

/* memory_buffer_alloc's own calloc/free, captured when it installs them */
static void *(*arena_calloc)(size_t, size_t);
static void (*arena_free)(void *);

static struct {
    uint32_t used, peak, idle, fails;
    uint32_t blk_over;           /* the arena's own header per block */
} mem;

/* What a block of n bytes really takes from the arena: our size header,
 * the arena's rounding and its own block header (64 bytes on 64-bit
 * hosts, 32 on Cortex-M; measured at init, not assumed). */
static uint32_t arena_cost(size_t n)
{
    size_t c = n + ARENA_HDR;
    if (c % MBEDTLS_MEMORY_ALIGN_MULTIPLE)
        c += MBEDTLS_MEMORY_ALIGN_MULTIPLE - c % MBEDTLS_MEMORY_ALIGN_MULTIPLE;
    return (uint32_t)c + mem.blk_over;
}

/* memory_buffer_alloc.c's call to mbedtls_platform_set_calloc_free is
 * renamed to this (cmake/mbedtls.cmake): keep its functions for the
 * router instead of letting them become mbedtls_calloc. */
int lwm_tls_arena_installed(void *(*c)(size_t, size_t), void (*f)(void *));
int lwm_tls_arena_installed(void *(*c)(size_t, size_t), void (*f)(void *))
{
    arena_calloc = c;
    arena_free = f;
    return 0;
}

static void *pool_take(uint8_t *base, uint8_t *used, size_t len,
                       size_t stride)
{
    int i;
    for (i = 0; i < LWM_TLS_SESSIONS; i++) {
        if (!used[i]) {
            uint8_t *p = base + (size_t)i * stride;
            used[i] = 1;
            memset(p, 0, len);
            return p;
        }
    }
    return NULL;
}

static void *router_calloc(size_t n, size_t size)
{
    size_t total;
    uint8_t *p;
    if (n && size > (size_t)-1 / n)
        return NULL;
    total = n * size;
    if (total == POOL_IN_LEN) {
        p = pool_take(&pool_in[0][0], pool_in_used, total, POOL_IN_LEN);
        if (!p && POOL_OUT_LEN == POOL_IN_LEN)
            p = pool_take(&pool_out[0][0], pool_out_used, total,
                          POOL_OUT_LEN);
        if (!p)
            mem.fails++;
        return p;
    }
    if (total == POOL_OUT_LEN) {
        p = pool_take(&pool_out[0][0], pool_out_used, total, POOL_OUT_LEN);
        if (!p)
            mem.fails++;
        return p;
    }
    if (!arena_calloc || total > 0xFFFFFFu)
        return NULL;
    p = arena_calloc(1, total + ARENA_HDR);
    if (!p) {
        mem.fails++;
        return NULL;
    }
    memcpy(p, &total, sizeof total < ARENA_HDR ? sizeof total : ARENA_HDR);
    mem.used += arena_cost(total);
    if (mem.used > mem.peak)
        mem.peak = mem.used;
    return p + ARENA_HDR;
}

static int pool_give(uint8_t *p, uint8_t *base, uint8_t *used, size_t stride)
{
    if (p >= base && p < base + (size_t)LWM_TLS_SESSIONS * stride) {
        used[(size_t)(p - base) / stride] = 0;
        return 1;
    }
    return 0;
}

static void router_free(void *ptr)
{
    uint8_t *p = ptr;
    size_t total = 0;
    if (!p)
        return;
    if (pool_give(p, &pool_in[0][0], pool_in_used, POOL_IN_LEN) ||
        pool_give(p, &pool_out[0][0], pool_out_used, POOL_OUT_LEN))
        return;
    p -= ARENA_HDR;
    memcpy(&total, p, sizeof total < ARENA_HDR ? sizeof total : ARENA_HDR);
    mem.used -= arena_cost(total);
    arena_free(p);
}

/* ------------------------------------------------ state */

enum tls_state {
    T_FREE = 0,
    T_QUEUED,                    /* waiting for a handshake turn */
    T_HANDSHAKE,
    T_OPEN
};

struct tls_conn {
    mbedtls_ssl_context ssl;
    uint8_t state;
    uint8_t want_write;          /* the handshake waits for send room */
    int8_t slot;                 /* session slot */
    uint32_t want;               /* bytes mbedTLS still needs for what it
                                    is reading; 0: not known until the
                                    next read (tls_poll finds out) */
    uint8_t flushing;            /* a record is encrypted and the port
                                    has not taken all of it yet */
    uint32_t start_ms;           /* handshake start (queued or not) */
    const uint8_t *in;           /* ciphertext being handed in */
    size_t in_len;
};

static struct {
    struct lwm_server *srv;
    uint8_t ready;
    uint8_t seeded;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    uint8_t fp[32];
    uint32_t hs_ok, hs_failed, hs_last_ms;
    int8_t of_slot[LWM_MAX_SESSIONS]; /* tls_conn index + 1, 0: none */
    struct tls_conn c[LWM_TLS_SESSIONS];
} tls;

static struct tls_conn *conn_of(int slot)
{
    if (slot < 0 || slot >= LWM_MAX_SESSIONS || !tls.of_slot[slot])
        return NULL;
    return &tls.c[tls.of_slot[slot] - 1];
}

/* ------------------------------------------------ randomness */

static int entropy_cb(void *ctx, unsigned char *out, size_t len)
{
    struct lwm_server *srv = ctx;
    const struct lwm_port *p = srv->cfg->port;
    if (!p->entropy || p->entropy(p->ctx, out, len) != 0)
        return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
    return 0;
}

int tls_rng_init(struct lwm_server *srv)
{
    static const unsigned char pers[] = "lwmail";
    if (tls.seeded)
        return 0;
    mbedtls_ctr_drbg_init(&tls.drbg);
    if (mbedtls_ctr_drbg_seed(&tls.drbg, entropy_cb, srv, pers,
                              sizeof pers - 1) != 0)
        return LWM_ERR_IO;
    /* reseeding from the port every 10,000 requests is the default */
    tls.seeded = 1;
    return 0;
}

int tls_random(void *p_rng, unsigned char *out, size_t len)
{
    (void)p_rng;
    if (!tls.seeded)
        return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
    return mbedtls_ctr_drbg_random(&tls.drbg, out, len);
}

/* ------------------------------------------------ set-up */

static void log_hex_code(struct lwm_server *srv, int level, int slot,
                         const char *what, int code)
{
    srv_logf(srv, level, slot, "%s -0x%x", what,
             (unsigned)(code < 0 ? -code : code));
}

/* The certificate and key: the configured ones, or the store's */
static int load_identity(struct lwm_server *srv, const struct lwm_tls_cfg *cfg)
{
    int r;
    if (cfg->cert) {
        /* PEM or DER; DER only where the configuration leaves out
         * MBEDTLS_PEM_PARSE_C (boards: their pair is made and kept as
         * DER), and both calls then take DER without a guard here */
        r = mbedtls_x509_crt_parse(&tls.crt, cfg->cert, cfg->cert_len);
        if (r != 0) {
            log_hex_code(srv, LWM_LOG_ERR, -1,
                         "TLS: cannot parse the certificate:", r);
            return LWM_ERR_INVAL;
        }
        r = mbedtls_pk_parse_key(&tls.key, cfg->key, cfg->key_len, NULL, 0);
        if (r != 0) {
            log_hex_code(srv, LWM_LOG_ERR, -1,
                         "TLS: cannot parse the private key:", r);
            return LWM_ERR_INVAL;
        }
    } else {
        /* the DER pair is only needed until parsed: borrow the arena */
        size_t clen = 0, klen = 0;
        int created = 0;
        const struct lwm_port *p = srv->cfg->port;
        int64_t now = p->unix_time ? p->unix_time(p->ctx) : 0;
        uint8_t *cbuf = mbedtls_calloc(1, LWM_TLS_CERT_MAX);
        uint8_t *kbuf = mbedtls_calloc(1, LWM_TLS_KEY_MAX);
        if (!cbuf || !kbuf) {
            mbedtls_free(cbuf);
            mbedtls_free(kbuf);
            return LWM_ERR_NOMEM;
        }
        r = tls_cert_stored(srv->store, srv->cfg->hostname, now, tls_random,
                            NULL, cbuf, LWM_TLS_CERT_MAX, &clen, kbuf,
                            LWM_TLS_KEY_MAX, &klen, &created);
        if (r == 0 && mbedtls_x509_crt_parse_der(&tls.crt, cbuf, clen) != 0)
            r = LWM_ERR_CORRUPT;
        if (r == 0 &&
            mbedtls_pk_parse_key(&tls.key, kbuf, klen, NULL, 0) != 0)
            r = LWM_ERR_CORRUPT;
        mbedtls_platform_zeroize(kbuf, LWM_TLS_KEY_MAX);
        mbedtls_free(cbuf);
        mbedtls_free(kbuf);
        if (r < 0) {
            srv_log(srv, LWM_LOG_ERR, -1,
                    "TLS: no certificate in the store and none could be "
                    "made");
            return r;
        }
        srv_log(srv, LWM_LOG_NOTICE, -1,
                created ? "TLS: generated a self-signed certificate and "
                          "kept it in the store"
                        : "TLS: using the certificate kept in the store");
    }
    if (mbedtls_pk_check_pair(&tls.crt.pk, &tls.key) != 0) {
        srv_log(srv, LWM_LOG_ERR, -1,
                "TLS: the private key does not match the certificate");
        return LWM_ERR_INVAL;
    }
    /* 2.28 does not fragment handshake messages: the whole chain must fit
     * in one outgoing record */
    {
        size_t chain = 0;
        const mbedtls_x509_crt *c;
        for (c = &tls.crt; c; c = c->next)
            chain += c->raw.len + 3;
        if (chain + 16 > LWM_TLS_OUT_LEN) {
            srv_log(srv, LWM_LOG_ERR, -1,
                    "TLS: certificate chain larger than LWM_TLS_OUT_LEN");
            return LWM_ERR_INVAL;
        }
    }
    mbedtls_sha256_ret(tls.crt.raw.p, tls.crt.raw.len, tls.fp, 0);
    {
        char hex[3 * 32];
        int i;
        for (i = 0; i < 32; i++) {
            hex[3 * i] = "0123456789ABCDEF"[tls.fp[i] >> 4];
            hex[3 * i + 1] = "0123456789ABCDEF"[tls.fp[i] & 15];
            hex[3 * i + 2] = ':';
        }
        srv_logf(srv, LWM_LOG_NOTICE, -1,
                 "TLS certificate SHA-256 fingerprint %b", hex,
                 sizeof hex - 1);
    }
    return 0;
}

int tls_init(struct lwm_server *srv, const struct lwm_tls_cfg *cfg)
{
    int r;
    /* a server re-initialised in the same process (tests) starts clean */
    if (tls.ready) {
        int i;
        for (i = 0; i < LWM_MAX_SESSIONS; i++)
            tls_release(i);
        mbedtls_ssl_config_free(&tls.conf);
        mbedtls_x509_crt_free(&tls.crt);
        mbedtls_pk_free(&tls.key);
    }
    if (tls.seeded)
        mbedtls_ctr_drbg_free(&tls.drbg);
    memset(&tls, 0, sizeof tls);
    memset(&mem, 0, sizeof mem);
    memset(pool_in_used, 0, sizeof pool_in_used);
    memset(pool_out_used, 0, sizeof pool_out_used);
    tls.srv = srv;
    mbedtls_memory_buffer_alloc_init(arena.b, sizeof arena.b);
    if (!arena_calloc)
        return LWM_ERR_INVAL;   /* the build did not rename the hook */
    {
        /* first fit in an empty arena: two blocks back to back show the
         * size of the arena's block header */
        uint8_t *a = arena_calloc(1, MBEDTLS_MEMORY_ALIGN_MULTIPLE);
        uint8_t *b = arena_calloc(1, MBEDTLS_MEMORY_ALIGN_MULTIPLE);
        if (a && b && b > a)
            mem.blk_over = (uint32_t)(b - a) - MBEDTLS_MEMORY_ALIGN_MULTIPLE;
        arena_free(b);
        arena_free(a);
    }
    mbedtls_platform_set_calloc_free(router_calloc, router_free);

    if (!srv->cfg->port->entropy || tls_rng_init(srv) < 0) {
        srv_log(srv, LWM_LOG_ERR, -1, "TLS: no entropy source");
        return LWM_ERR_INVAL;
    }
    mbedtls_x509_crt_init(&tls.crt);
    mbedtls_pk_init(&tls.key);
    mbedtls_ssl_config_init(&tls.conf);
    r = load_identity(srv, cfg);
    if (r < 0)
        return r;
    if (mbedtls_ssl_config_defaults(&tls.conf, MBEDTLS_SSL_IS_SERVER,
                                    MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
        return LWM_ERR_INVAL;
    /* TLS 1.2 only: 1.0 and 1.1 are deprecated (RFC 8996) and 2.28 has no
     * 1.3 server */
    mbedtls_ssl_conf_min_version(&tls.conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&tls.conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_rng(&tls.conf, tls_random, NULL);
    mbedtls_ssl_conf_authmode(&tls.conf, MBEDTLS_SSL_VERIFY_NONE);
    if (mbedtls_ssl_conf_own_cert(&tls.conf, &tls.crt, &tls.key) != 0)
        return LWM_ERR_NOMEM;
    /* ECDHE curve preference: the fast ones first (mbedTLS's default
     * order starts at P-384, 40 % more handshake CPU with the clients
     * that offer everything) */
    {
        /* (a board's configuration may leave X25519 or P-384 out: the
         * list names only what is built, so it says what is offered) */
        static const mbedtls_ecp_group_id curves[] = {
#if defined(MBEDTLS_ECP_DP_CURVE25519_ENABLED)
            MBEDTLS_ECP_DP_CURVE25519,
#endif
            MBEDTLS_ECP_DP_SECP256R1,
#if defined(MBEDTLS_ECP_DP_SECP384R1_ENABLED)
            MBEDTLS_ECP_DP_SECP384R1,
#endif
            MBEDTLS_ECP_DP_NONE
        };
        mbedtls_ssl_conf_curves(&tls.conf, curves);
    }
    tls.ready = 1;
    mem.idle = mem.used;
    mem.peak = mem.used;
    return 0;
}

int tls_ready(void)
{
    return tls.ready;
}

int tls_on(int slot)
{
    return conn_of(slot) != NULL;
}

/* ------------------------------------------------ transport */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct tls_conn *c = ctx;
    struct lwm_server *srv = tls.srv;
    const struct lwm_port *p = srv->cfg->port;
    void *conn = srv->sess[c->slot].conn;
    int r;
    if (!conn)
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    r = p->send(p->ctx, conn, buf, len);
    if (r < 0)
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    if (r == 0)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return r;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct tls_conn *c = ctx;
    size_t n = len < c->in_len ? len : c->in_len;
    if (!n) {
        c->want = (uint32_t)len;
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    memcpy(buf, c->in, n);
    c->in += n;
    c->in_len -= n;
    c->want = (uint32_t)(len - n);
    return (int)n;
}

static int handshakes_running(void)
{
    int i, n = 0;
    for (i = 0; i < LWM_TLS_SESSIONS; i++)
        n += tls.c[i].state == T_HANDSHAKE;
    return n;
}

/* Give the connection its mbedTLS context and record buffers */
static int conn_setup(struct lwm_server *srv, struct tls_conn *c)
{
    int r;
    mbedtls_ssl_init(&c->ssl);
    r = mbedtls_ssl_setup(&c->ssl, &tls.conf);
    if (r != 0) {
        log_hex_code(srv, LWM_LOG_WARNING, c->slot,
                     "TLS: no memory for a session:", r);
        mbedtls_ssl_free(&c->ssl);
        return LWM_ERR_NOMEM;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    c->state = T_HANDSHAKE;
    c->want = 5;                 /* a record header comes first */
    return 0;
}

int tls_start(struct lwm_server *srv, int slot)
{
    int i;
    struct tls_conn *c = NULL;
    if (!tls.ready || conn_of(slot))
        return LWM_ERR_INVAL;
    for (i = 0; i < LWM_TLS_SESSIONS; i++) {
        if (tls.c[i].state == T_FREE) {
            c = &tls.c[i];
            break;
        }
    }
    if (!c)
        return LWM_ERR_NOMEM;
    memset(c, 0, sizeof *c);
    c->slot = (int8_t)slot;
    c->start_ms = srv_now(srv);
    tls.of_slot[slot] = (int8_t)(i + 1);
    /* a handshake takes ~5 KB of arena at its peak: a bounded number run
     * at once, so exhaustion shows at setup, not halfway through */
    if (handshakes_running() >= LWM_TLS_HANDSHAKES) {
        c->state = T_QUEUED;
        return 0;
    }
    if (conn_setup(srv, c) < 0) {
        tls.of_slot[slot] = 0;
        c->state = T_FREE;
        return LWM_ERR_NOMEM;
    }
    return 0;
}

void tls_release(int slot)
{
    struct tls_conn *c = conn_of(slot);
    if (!c)
        return;
    if (c->state != T_QUEUED)
        mbedtls_ssl_free(&c->ssl);
    memset(c, 0, sizeof *c);
    tls.of_slot[slot] = 0;
    /* what the session held must all be back: the tests check this line */
    srv_logf(tls.srv, LWM_LOG_INFO, slot,
             "TLS session freed: arena in use %u B, idle %u B, peak %u B, "
             "failed allocations %u", mem.used, mem.idle, mem.peak,
             mem.fails);
}

static void conn_fail(struct lwm_server *srv, struct tls_conn *c,
                      const char *what, int code)
{
    log_hex_code(srv, LWM_LOG_NOTICE, c->slot, what, code);
    srv_conn_abort(srv, c->slot);   /* frees c through tls_release */
}

/* Move the connection on: the handshake, then decrypting into the
 * session's receive buffer while it has room. Returns 0 if the session
 * is gone. */
static int pump(struct lwm_server *srv, struct tls_conn *c)
{
    int k = c->slot;
    struct imap_sess *s = &srv->sess[k];
    int guard, r;
    size_t moved;
    if (c->state == T_HANDSHAKE) {
        c->want_write = 0;
        r = mbedtls_ssl_handshake(&c->ssl);
        if (r == MBEDTLS_ERR_SSL_WANT_READ)
            return 1;
        if (r == MBEDTLS_ERR_SSL_WANT_WRITE) {
            c->want_write = 1;
            return 1;
        }
        if (r != 0) {
            tls.hs_failed++;
            conn_fail(srv, c, "TLS handshake failed:", r);
            return 0;
        }
        c->state = T_OPEN;
        tls.hs_ok++;
        tls.hs_last_ms = srv_now(srv) - c->start_ms;
        {
            const char *v = mbedtls_ssl_get_version(&c->ssl);
            const char *cs = mbedtls_ssl_get_ciphersuite(&c->ssl);
            srv_logf(srv, LWM_LOG_INFO, k, "TLS %s %s", v ? v : "",
                     cs ? cs : "");
        }
        /* the greeting (implicit TLS) waits in the session's output */
        sess_run(s);
        if (s->state == SS_FREE)
            return 0;
    }
    if (c->state != T_OPEN)
        return 1;
    /* bounded: a record's worth of plaintext (16 KiB) at most, however
     * small the session's buffer (LWM_IMAP_RX_OWN) makes each read */
    for (guard = 0, moved = 0; guard < 64 && moved < 16384; guard++) {
        size_t room = sess_rx_room(s);
        size_t tail = sess_rx_cap(s) - srv->rx_len[k];
        uint8_t *dst = sess_rx(s) + srv->rx_len[k];
        if (room > tail)
            room = tail;
        if (!room)
            return 1;
        r = mbedtls_ssl_read(&c->ssl, dst, room);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            return 1;
        if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            srv_log(srv, LWM_LOG_INFO, k, "TLS: the client closed");
            srv_conn_abort(srv, k);
            return 0;
        }
        if (r < 0) {
            conn_fail(srv, c, "TLS: bad record from the client:", r);
            return 0;
        }
        moved += (size_t)r;
        sess_input(s, dst, (size_t)r);
        if (s->state == SS_FREE || conn_of(k) != c)
            return 0;
    }
    return 1;
}

size_t tls_rx_room(struct lwm_server *srv, int slot)
{
    struct tls_conn *c = conn_of(slot);
    struct imap_sess *s = &srv->sess[slot];
    if (!c || c->state == T_QUEUED)
        return 0;
    if (c->state == T_HANDSHAKE)
        return c->want_write ? 0 : c->want;
    /* only when decrypted bytes have somewhere to go */
    if (mbedtls_ssl_get_bytes_avail(&c->ssl) || !sess_rx_room(s) ||
        srv->rx_len[slot] == sess_rx_cap(s))
        return 0;
    return c->want;
}

void tls_input(struct lwm_server *srv, int slot, const uint8_t *p,
               size_t len)
{
    struct tls_conn *c = conn_of(slot);
    if (!c)
        return;
    srv->sess[slot].last_ms = srv_now(srv);
    c->in = p;
    c->in_len = len;
    if (!pump(srv, c))
        return;
    /* the port read no more than asked; anything else is a broken port */
    c->in = NULL;
    c->in_len = 0;
}

/* mbedtls_ssl_write() that meets a full send buffer returns WANT_WRITE
 * although it has already copied and encrypted the data: the bytes are
 * taken, only the record's sending waits. So they are reported taken and
 * the rest of the record is pushed with mbedtls_ssl_flush_output() before
 * anything new (the caller may not offer the same bytes again: FETCH's
 * zero-copy path falls back to its output buffer). */
static int flush_pending(struct tls_conn *c)
{
    int r;
    if (!c->flushing)
        return 0;
    r = mbedtls_ssl_flush_output(&c->ssl);
    if (r == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 1;
    if (r < 0)
        return -1;
    c->flushing = 0;
    return 0;
}

int tls_send(struct lwm_server *srv, int slot, const uint8_t *p, size_t len)
{
    struct tls_conn *c = conn_of(slot);
    size_t max;
    int r;
    (void)srv;
    if (!c || c->state != T_OPEN)
        return 0;                /* output waits for the handshake */
    r = flush_pending(c);
    if (r)
        return r > 0 ? 0 : -1;
    max = (size_t)mbedtls_ssl_get_max_out_record_payload(&c->ssl);
    if (len > max)
        len = max;
    r = mbedtls_ssl_write(&c->ssl, p, len);
    if (r == MBEDTLS_ERR_SSL_WANT_WRITE) {
        c->flushing = 1;
        return (int)len;
    }
    if (r < 0)
        return -1;
    return r;
}

int tls_flushing(int slot)
{
    struct tls_conn *c = conn_of(slot);
    return c && c->flushing;
}

void tls_output(struct lwm_server *srv, int slot)
{
    struct tls_conn *c = conn_of(slot);
    if (!c)
        return;
    if (c->state == T_HANDSHAKE) {
        pump(srv, c);
        return;
    }
    if (c->state == T_OPEN) {
        int r = flush_pending(c);
        if (r < 0) {
            conn_fail(srv, c, "TLS: send failed:", r);
            return;
        }
        if (r == 0)
            sess_run(&srv->sess[slot]);
    }
}

int tls_wants_output(int slot)
{
    struct tls_conn *c = conn_of(slot);
    return c && (c->want_write || c->flushing);
}

void tls_close_notify(struct lwm_server *srv, int slot)
{
    struct tls_conn *c = conn_of(slot);
    (void)srv;
    if (c && c->state == T_OPEN && flush_pending(c) == 0)
        (void)mbedtls_ssl_close_notify(&c->ssl);   /* best effort */
}

int tls_poll(struct lwm_server *srv, uint32_t now)
{
    int i, busy = 0;
    for (i = 0; i < LWM_TLS_SESSIONS; i++) {
        struct tls_conn *c = &tls.c[i];
        if (c->state == T_FREE)
            continue;
        if ((c->state == T_QUEUED || c->state == T_HANDSHAKE) &&
            (uint32_t)(now - c->start_ms) > LWM_TLS_HANDSHAKE_TIMEOUT_MS) {
            tls.hs_failed++;
            srv_log(srv, LWM_LOG_NOTICE, c->slot,
                    "TLS handshake timed out");
            srv_conn_abort(srv, c->slot);
            continue;
        }
        if (c->state == T_QUEUED &&
            handshakes_running() < LWM_TLS_HANDSHAKES) {
            if (conn_setup(srv, c) < 0) {
                tls.hs_failed++;
                srv_conn_abort(srv, c->slot);
                continue;
            }
            busy = 1;            /* the port may read from it now */
        }
        /* plaintext left in mbedTLS when the session's buffer was full,
         * or a read stopped for lack of room before learning what the
         * next record needs */
        if (c->state == T_OPEN &&
            (mbedtls_ssl_get_bytes_avail(&c->ssl) || !c->want)) {
            struct imap_sess *s = &srv->sess[c->slot];
            size_t before = srv->rx_len[c->slot];
            size_t avail = mbedtls_ssl_get_bytes_avail(&c->ssl);
            if (sess_rx_room(s) && before < sess_rx_cap(s)) {
                /* progress: bytes into the buffer, or out of mbedTLS
                 * (a streamed APPEND, a discarded literal, a skipped
                 * line leave the buffer empty) */
                if (pump(srv, c) && s->state != SS_FREE &&
                    (srv->rx_len[c->slot] != before ||
                     mbedtls_ssl_get_bytes_avail(&c->ssl) != avail))
                    busy = 1;
            }
        }
    }
    return busy;
}

void tls_stats(struct lwm_tls_stats *st)
{
    int i;
    st->arena_size = LWM_TLS_ARENA;
    st->arena_used = mem.used;
    st->arena_idle = mem.idle;
    st->arena_peak = mem.peak;
    st->alloc_fails = mem.fails;
    st->sessions = 0;
    for (i = 0; i < LWM_TLS_SESSIONS; i++)
        st->sessions += tls.c[i].state != T_FREE;
    st->handshakes = (uint32_t)handshakes_running();
    st->handshakes_ok = tls.hs_ok;
    st->handshakes_failed = tls.hs_failed;
    st->last_handshake_ms = tls.hs_last_ms;
    memcpy(st->cert_sha256, tls.fp, sizeof tls.fp);
}

#endif /* LWM_TLS */
