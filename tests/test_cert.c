/*
 * lwmail tests - the TLS certificate kept in the store (src/tls/cert.c).
 *
 *  0. the server's own certificate, made at lwm_server_init, is in its
 *     store and is the one it serves;
 *  1. generate on an empty store: created, and the certificate is what
 *     DESIGN.md promises (v3, CN and O, SAN with the name and
 *     <first label>.local, EKU serverAuth, keyUsage digitalSignature,
 *     CA:FALSE, subjectKeyIdentifier, 825 days from `now`, a positive
 *     16-byte serial, ECDSA-SHA256 over P-256); the key matches it and the
 *     signature verifies; asking again, and after a remount, gives the
 *     same bytes; mbedTLS's memory returns to its level before the call;
 *  2. host names: invalid ones fall back to "lwmail", ".local" names are
 *     not doubled, long names keep the whole name in the SAN;
 *  3. validity dates: leap days, the UTCTime/GeneralizedTime switch in
 *     2050, now == 0, absurd values, against libc's gmtime_r;
 *  4. buffers too small: an error, nothing written past them, nothing
 *     stored; a stored certificate too big for the buffers is an error,
 *     not a reason to make a new one;
 *  5. stored messages that are not ours or damaged (bad magic, lengths,
 *     CRC) are skipped and expunged; of two good ones the newest wins;
 *  6. power cut at every flash program/erase of a generation (on four
 *     geometries, three tear modes, with and without a longjmp out of
 *     the store, with and without junk already in the mailbox): after
 *     remount and lwm_store_check, either no certificate is stored (and
 *     the next call makes one) or the complete one loads, byte-identical
 *     to what the uncut run made; never a damaged one.
 *
 * mbedTLS's memory is the server's own: lwm_server_init with TLS runs
 * tls_init, which sets up its arena (memory_buffer_alloc over a static
 * array, behind its allocator router) and makes the server's certificate
 * through tls_cert_stored (checked too: same pair in its store, same
 * fingerprint). Every call must give back exactly what it took.
 *
 * LWM_SLOW_HOST=1 (the qemu run) tries one tear mode per cut point
 * instead of all six variants.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwmail/lwm_opts.h"

#if !LWM_TLS

/* built without TLS (cmake -DLWM_TLS=OFF): nothing to test */
int main(void)
{
    puts("test_cert: skipped, built without TLS");
    return 0;
}

#else

#include "check.h"
#include "lwm_nor.h"
#include "lwmail/lwm_server.h"
#include "lwmail/lwm_store.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecp.h"
#include "mbedtls/memory_buffer_alloc.h"
#include "mbedtls/oid.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform.h"
#include "mbedtls/sha256.h"
#include "mbedtls/x509_crt.h"
#include "../src/tls/cert.h"
#include "../src/util/lwm_util.h"

#define CERT_MAX 4096
#define KEY_MAX 2048
#define DAYS 825

static struct lwm_store st;
static struct lwm_nor nor;

/* ------------------------------------------------------------ memory */

/* mbedTLS's memory is set up the way the server does it: lwm_server_init
 * with TLS configured runs tls_init (src/tls/tls.c), which puts
 * memory_buffer_alloc over its static arena behind its allocator router
 * and, with no certificate configured, calls tls_cert_stored on the
 * server's store. The test gives the server a store of its own and then
 * calls tls_cert_stored directly on others; lwm_server_tls_stats says
 * what the arena holds. */
static struct lwm_store srv_st;
static struct lwm_nor srv_nor;
static struct lwm_server *srv;
static struct lwm_tls_stats init_stats;

static int port_send(void *ctx, void *conn, const uint8_t *p, size_t len)
{
    (void)ctx;
    (void)conn;
    (void)p;
    return (int)len;
}

static void port_close(void *ctx, void *conn)
{
    (void)ctx;
    (void)conn;
}

static uint32_t port_now_ms(void *ctx)
{
    (void)ctx;
    return 1000;
}

static int64_t port_unix_time(void *ctx)
{
    (void)ctx;
    return 1700000000;
}

static void port_log(void *ctx, int level, int conn, const char *msg)
{
    (void)ctx;
    (void)conn;
    if (level <= LWM_LOG_NOTICE)
        printf("server: %s\n", msg);
}

static int port_entropy(void *ctx, uint8_t *buf, size_t len)
{
    size_t i;
    (void)ctx;
    for (i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    return 0;
}

static const struct lwm_port port = {
    NULL, port_send, port_close, port_now_ms, port_unix_time, port_log,
    port_entropy
};
static const struct lwm_tls_cfg tls_cfg = { NULL, 0, NULL, 0 };
static struct lwm_server_cfg srv_cfg;

static void arena_setup(void)
{
    int err = 0;
    REQUIRE(lwm_nor_open(&srv_nor, NULL, 4096, 32, 4, 4, 0) == 0);
    REQUIRE(lwm_store_format(&srv_st, &srv_nor.flash) == 0);
    srv_cfg.store = &srv_st;
    srv_cfg.port = &port;
    srv_cfg.hostname = "srv.example";
    srv_cfg.tls = &tls_cfg;
    srv = lwm_server_init(&srv_cfg, &err);
    if (!CHECK(srv != NULL && err == 0)) {
        fprintf(stderr, "lwm_server_init with TLS: %d\n", err);
        exit(1);
    }
    REQUIRE(lwm_server_tls_stats(srv, &init_stats) == 1);
    printf("server init (a certificate generated, kept and parsed): arena "
           "%u bytes, %u held when idle\n",
           (unsigned)init_stats.arena_size, (unsigned)init_stats.arena_idle);
}

static uint32_t arena_used(void)
{
    struct lwm_tls_stats ts;
    REQUIRE(lwm_server_tls_stats(srv, &ts) == 1);
    return ts.arena_used;
}

/* high-water mark since init (tls_init resets it to the idle level) */
static uint32_t arena_peak(void)
{
    struct lwm_tls_stats ts;
    REQUIRE(lwm_server_tls_stats(srv, &ts) == 1);
    return ts.arena_peak;
}

/* ------------------------------------------------------------ random */

/* A deterministic generator: CTR_DRBG seeded from a counter, so a run
 * can be repeated byte for byte (the power-cut runs compare against the
 * uncut one). */
static mbedtls_ctr_drbg_context drbg;
static uint32_t entropy_ctr;

static int fixed_entropy(void *ctx, unsigned char *out, size_t len)
{
    size_t i;
    (void)ctx;
    for (i = 0; i < len; i++)
        out[i] = (unsigned char)((entropy_ctr++ * 2654435761u) >> 24);
    return 0;
}

static void rng_reset(uint32_t seed)
{
    static const unsigned char pers[] = "test_cert";
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_ctr_drbg_init(&drbg);
    entropy_ctr = seed;
    REQUIRE(mbedtls_ctr_drbg_seed(&drbg, fixed_entropy, NULL, pers,
                                  sizeof pers - 1) == 0);
}

static int rng(void *p, unsigned char *out, size_t len)
{
    return mbedtls_ctr_drbg_random(p, out, len);
}

/* ------------------------------------------------------------ helpers */

static uint8_t cert[CERT_MAX], key[KEY_MAX];
static size_t clen, klen;

static void store_fresh(uint32_t bs, uint32_t bc, uint32_t prog, int mapped)
{
    lwm_nor_close(&nor);
    REQUIRE(lwm_nor_open(&nor, NULL, bs, bc, prog, prog, mapped) == 0);
    memset(&st, 0, sizeof st);
    REQUIRE(lwm_store_format(&st, &nor.flash) == 0);
}

static void remount(void)
{
    lwm_store_unmount(&st);
    memset(&st, 0, sizeof st);
    REQUIRE(lwm_store_mount(&st, &nor.flash) == 0);
}

/* tls_cert_stored on the test store into cert[]/key[]; every call must
 * give back all the mbedTLS memory it took */
static int get_sized(const char *host, int64_t now, size_t cmax,
                     size_t kmax, int *created)
{
    uint32_t used = arena_used();
    int r = tls_cert_stored(&st, host, now, rng, &drbg, cert, cmax, &clen,
                            key, kmax, &klen, created);
    CHECK(arena_used() == used);
    return r;
}

static int get(const char *host, int64_t now, int *created)
{
    return get_sized(host, now, sizeof cert, sizeof key, created);
}

/* The certificate mailbox's slot, or < 0 */
static int cert_mbox(void)
{
    int u = lwm_user_find(&st, TLS_CERT_USER);
    if (u < 0)
        return u;
    return lwm_mbox_find(&st, u, TLS_CERT_MBOX, strlen(TLS_CERT_MBOX));
}

static uint32_t stored_count(void)
{
    int mb = cert_mbox();
    return mb < 0 ? 0 : lwm_msg_count(&st, mb);
}

/* Append raw bytes to the certificate mailbox (made if missing) */
static int append_raw(const void *p, size_t n)
{
    int u = lwm_user_find(&st, TLS_CERT_USER), mb, a;
    if (u == LWM_ERR_NOENT)
        u = lwm_user_create(&st, TLS_CERT_USER);
    REQUIRE(u > 0);
    mb = cert_mbox();
    if (mb == LWM_ERR_NOENT) {
        REQUIRE(lwm_mbox_create(&st, u, TLS_CERT_MBOX,
                                strlen(TLS_CERT_MBOX), 0) >= 0);
        mb = cert_mbox();
    }
    REQUIRE(mb >= 0);
    a = lwm_append_begin(&st, mb, 1, 0);
    REQUIRE(a >= 0);
    REQUIRE(lwm_append_write(&st, a, p, (uint32_t)n) == 0);
    return lwm_append_commit(&st, a);
}

/* A blob as cert.c lays it out (see there), for forging test messages */
static size_t make_blob(uint8_t *out, const uint8_t *c, size_t cl,
                        const uint8_t *k, size_t kl)
{
    memcpy(out, "LWMTLSv1", 8);
    lwm_put16(out + 8, (uint16_t)cl);
    lwm_put16(out + 10, (uint16_t)kl);
    lwm_put32(out + 12, lwm_crc32c(lwm_crc32c(0, c, cl), k, kl));
    memcpy(out + 16, c, cl);
    memcpy(out + 16 + cl, k, kl);
    return 16 + cl + kl;
}

/* ------------------------------------------------------------ dates */

/* Days from 1970-01-01 to y-m-d, by the closed formula (a different
 * method from cert.c's counting, so one checks the other). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t x509_secs(const mbedtls_x509_time *t)
{
    return days_from_civil(t->year, t->mon, t->day) * 86400 +
           t->hour * 3600 + t->min * 60 + t->sec;
}

/* Does t say secs? By the closed formula (with every field in range),
 * and by libc's gmtime_r where time_t can hold it (not beyond 2038 with
 * the 32-bit time_t of the MIPS run). */
static int same_tm(const mbedtls_x509_time *t, int64_t secs)
{
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31 };
    struct tm tm;
    time_t tt = (time_t)secs;
    if (t->mon < 1 || t->mon > 12 || t->day < 1 ||
        t->day > mdays[t->mon - 1] || t->hour > 23 || t->min > 59 ||
        t->sec > 59 || x509_secs(t) != secs)
        return 0;
    if ((int64_t)tt != secs)
        return 1;
    if (!gmtime_r(&tt, &tm))
        return 0;
    return t->year == tm.tm_year + 1900 && t->mon == tm.tm_mon + 1 &&
           t->day == tm.tm_mday && t->hour == tm.tm_hour &&
           t->min == tm.tm_min && t->sec == tm.tm_sec;
}

/* ------------------------------------------------------------ checks */

static int name_is(const mbedtls_x509_buf *b, const char *s)
{
    return b->len == strlen(s) && memcmp(b->p, s, b->len) == 0;
}

/* The value of attribute oid in a name, or NULL */
static const mbedtls_x509_buf *name_attr(const mbedtls_x509_name *n,
                                         const char *oid, size_t oid_len)
{
    for (; n; n = n->next)
        if (n->oid.len == oid_len && memcmp(n->oid.p, oid, oid_len) == 0)
            return &n->val;
    return NULL;
}

/* Find the subjectKeyIdentifier extension's value in the raw extensions:
 * OID 2.5.29.14, then OCTET STRING { OCTET STRING (20) } */
static const uint8_t *find_ski(const mbedtls_x509_crt *crt)
{
    static const uint8_t pat[] = { 0x06, 0x03, 0x55, 0x1D, 0x0E,
                                   0x04, 0x16, 0x04, 0x14 };
    size_t i;
    for (i = 0; i + sizeof pat + 20 <= crt->v3_ext.len; i++)
        if (memcmp(crt->v3_ext.p + i, pat, sizeof pat) == 0)
            return crt->v3_ext.p + i + sizeof pat;
    return NULL;
}

/* Everything a generated pair must be. cn: the expected CN; sans: the
 * expected dNSNames, NULL-terminated; now: the expected start (seconds). */
static int check_pair(const uint8_t *c, size_t cl, const uint8_t *k,
                      size_t kl, const char *cn, const char *const *sans,
                      int64_t now)
{
    mbedtls_x509_crt crt;
    mbedtls_pk_context pk;
    const mbedtls_x509_buf *v;
    const mbedtls_x509_sequence *seq;
    unsigned char hash[32], pub[100], *pp = pub + sizeof pub;
    const uint8_t *ski;
    uint32_t flags = 1;
    int n, fails = (int)check_failed, r;

    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&pk);
    if (!CHECK(mbedtls_x509_crt_parse_der(&crt, c, cl) == 0))
        goto out;
    CHECK(crt.raw.len == cl);
    CHECK(crt.version == 3);
    /* serial: 16 bytes, positive, no padding */
    CHECK(crt.serial.len == 16 && (crt.serial.p[0] & 0x80) == 0 &&
          crt.serial.p[0] != 0);
    /* subject == issuer: CN=<cn>, O=lwmail */
    v = name_attr(&crt.subject, MBEDTLS_OID_AT_CN,
                  MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN));
    CHECK(v && name_is(v, cn));
    v = name_attr(&crt.subject, MBEDTLS_OID_AT_ORGANIZATION,
                  MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORGANIZATION));
    CHECK(v && name_is(v, "lwmail"));
    CHECK(crt.issuer_raw.len == crt.subject_raw.len &&
          memcmp(crt.issuer_raw.p, crt.subject_raw.p,
                 crt.issuer_raw.len) == 0);
    /* SAN: exactly the expected dNSNames, in order */
    CHECK(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
    for (n = 0, seq = &crt.subject_alt_names; seq && seq->buf.p;
         seq = seq->next, n++) {
        CHECK(seq->buf.tag ==
              (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME));
        CHECK(sans[n] && name_is(&seq->buf, sans[n]));
        if (!sans[n])
            break;
    }
    CHECK(sans[n] == NULL);
    /* EKU serverAuth (the check passes when there is no EKU at all, so
     * look for the extension too), key usage, CA:FALSE */
    CHECK(crt.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE);
    /* exactly one purpose: serverAuth (the parsed list, walked by hand:
     * mbedtls_x509_crt_check_extended_key_usage exists only with
     * MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE, which lwmail's config
     * leaves out; used too when it is there) */
    CHECK(crt.ext_key_usage.buf.tag == MBEDTLS_ASN1_OID &&
          crt.ext_key_usage.buf.len ==
              MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH) &&
          memcmp(crt.ext_key_usage.buf.p, MBEDTLS_OID_SERVER_AUTH,
                 crt.ext_key_usage.buf.len) == 0 &&
          crt.ext_key_usage.next == NULL);
#if defined(MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE)
    CHECK(mbedtls_x509_crt_check_extended_key_usage(
              &crt, MBEDTLS_OID_SERVER_AUTH,
              MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) == 0);
    CHECK(mbedtls_x509_crt_check_extended_key_usage(
              &crt, MBEDTLS_OID_CLIENT_AUTH,
              MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0);
#endif
    CHECK(crt.ext_types & MBEDTLS_X509_EXT_KEY_USAGE);
    CHECK(crt.key_usage == MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    CHECK(crt.ext_types & MBEDTLS_X509_EXT_BASIC_CONSTRAINTS);
    CHECK(crt.ca_istrue == 0);
    /* validity: from now, 825 days to the second */
    CHECK(same_tm(&crt.valid_from, now));
    CHECK(same_tm(&crt.valid_to, now + DAYS * 86400LL));
    CHECK(x509_secs(&crt.valid_to) - x509_secs(&crt.valid_from) ==
          DAYS * 86400LL);
    /* ECDSA P-256, signed with SHA-256 */
    CHECK(crt.sig_md == MBEDTLS_MD_SHA256);
    CHECK(crt.sig_pk == MBEDTLS_PK_ECDSA);
    CHECK(mbedtls_pk_get_type(&crt.pk) == MBEDTLS_PK_ECKEY);
    CHECK(mbedtls_pk_ec(crt.pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1);
    /* subjectKeyIdentifier: SHA-256 of the public key, first 20 bytes */
    r = mbedtls_pk_write_pubkey(&pp, pub, &crt.pk);
    CHECK(r == 65);
    ski = find_ski(&crt);
    if (CHECK(ski != NULL) && r > 0) {
        mbedtls_sha256_ret(pp, (size_t)r, hash, 0);
        CHECK(memcmp(ski, hash, 20) == 0);
    }
    /* the signature: x509_crt_verify does not check it for a trusted
     * self-signed leaf (it only compares bytes), so verify by hand */
    mbedtls_sha256_ret(crt.tbs.p, crt.tbs.len, hash, 0);
    CHECK(mbedtls_pk_verify(&crt.pk, MBEDTLS_MD_SHA256, hash, 32, crt.sig.p,
                            crt.sig.len) == 0);
    hash[5] ^= 1;
    CHECK(mbedtls_pk_verify(&crt.pk, MBEDTLS_MD_SHA256, hash, 32, crt.sig.p,
                            crt.sig.len) != 0);
    /* as a client would: trusted, and the names match */
    CHECK(mbedtls_x509_crt_verify(&crt, &crt, NULL, sans[0], &flags, NULL,
                                  NULL) == 0 && flags == 0);
    if (sans[1]) {
        flags = 1;
        CHECK(mbedtls_x509_crt_verify(&crt, &crt, NULL, sans[1], &flags,
                                      NULL, NULL) == 0 && flags == 0);
    }
    flags = 0;
    CHECK(mbedtls_x509_crt_verify(&crt, &crt, NULL, "other.example",
                                  &flags, NULL, NULL) != 0 &&
          (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH));
    /* the key: P-256, and the certificate's */
    if (CHECK(mbedtls_pk_parse_key(&pk, k, kl, NULL, 0) == 0)) {
        CHECK(mbedtls_pk_get_type(&pk) == MBEDTLS_PK_ECKEY);
        CHECK(mbedtls_pk_check_pair(&crt.pk, &pk) == 0);
    }
out:
    mbedtls_pk_free(&pk);
    mbedtls_x509_crt_free(&crt);
    return (int)check_failed == fails;
}

static const char *const sans_default[] = { "lwmail", "lwmail.local", NULL };

/* ------------------------------------------------------------ 1 */

static void test_generate(void)
{
    static const char *const sans[] = { "mail.example.com", "mail.local",
                                        NULL };
    static uint8_t c1[CERT_MAX], k1[KEY_MAX];
    size_t c1l, k1l;
    uint32_t used;
    int created = -1, r;
    struct timespec t0, t1;

    store_fresh(4096, 48, 16, 0);
    rng_reset(1);
    CHECK(stored_count() == 0);
    used = arena_used();
    memset(key, 0xA5, sizeof key);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = get("mail.example.com", 1700000000, &created);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(r == 0 && created == 1);
    CHECK(arena_used() == used);
    printf("generation: %.1f ms (this build), arena peak %u B over the "
           "%u B held before, cert %zu B, key %zu B\n",
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
           (unsigned)(arena_peak() - used), (unsigned)used, clen, klen);
    CHECK(check_pair(cert, clen, key, klen, "mail.example.com", sans,
                     1700000000));
    /* the rest of key[] is zeroed (mbedTLS wrote at its end first) */
    {
        size_t i, nz = 0;
        for (i = klen; i < sizeof key; i++)
            nz += key[i] != 0;
        CHECK(nz == 0);
    }
    CHECK(stored_count() == 1);
    CHECK(lwm_store_check(&st, 1) == 0);
    memcpy(c1, cert, clen);
    memcpy(k1, key, klen);
    c1l = clen;
    k1l = klen;

    /* again: the stored pair, byte for byte, whatever the arguments */
    memset(cert, 0, sizeof cert);
    memset(key, 0, sizeof key);
    created = -1;
    CHECK(get("other.example", 1800000000, &created) == 0 && created == 0);
    CHECK(clen == c1l && memcmp(cert, c1, c1l) == 0);
    CHECK(klen == k1l && memcmp(key, k1, k1l) == 0);
    CHECK(arena_used() == used);
    CHECK(stored_count() == 1);

    /* after a remount too */
    remount();
    memset(cert, 0, sizeof cert);
    memset(key, 0, sizeof key);
    created = -1;
    CHECK(get("mail.example.com", 0, &created) == 0 && created == 0);
    CHECK(clen == c1l && memcmp(cert, c1, c1l) == 0);
    CHECK(klen == k1l && memcmp(key, k1, k1l) == 0);
    CHECK(lwm_store_check(&st, 1) == 0);

    /* the system user is an ordinary store user nobody logs in as */
    CHECK(lwm_user_find(&st, TLS_CERT_USER) > 0);
    CHECK(lwm_user_create(&st, TLS_CERT_USER) == LWM_ERR_EXIST);

    /* argument checks */
    CHECK(tls_cert_stored(NULL, "x", 0, rng, &drbg, cert, sizeof cert,
                          &clen, key, sizeof key, &klen,
                          &created) == LWM_ERR_INVAL);
    CHECK(tls_cert_stored(&st, "x", 0, NULL, &drbg, cert, sizeof cert,
                          &clen, key, sizeof key, &klen,
                          &created) == LWM_ERR_INVAL);
    CHECK(nor.violations == 0);
}

/* The server made its certificate through tls_cert_stored at init: the
 * same pair is in its store, and it is the one the server serves. */
static void test_server_identity(void)
{
    static const char *const sans[] = { "srv.example", "srv.local", NULL };
    uint8_t fp[32];
    size_t cl = 0, kl = 0;
    int created = -1;
    uint32_t used = arena_used();
    CHECK(used == init_stats.arena_idle);
    CHECK(tls_cert_stored(&srv_st, "srv.example", 1800000000, rng, &drbg,
                          cert, sizeof cert, &cl, key, sizeof key, &kl,
                          &created) == 0);
    CHECK(created == 0);
    CHECK(arena_used() == used);
    mbedtls_sha256_ret(cert, cl, fp, 0);
    CHECK(memcmp(fp, init_stats.cert_sha256, 32) == 0);
    CHECK(check_pair(cert, cl, key, kl, "srv.example", sans, 1700000000));
    CHECK(lwm_store_check(&srv_st, 1) == 0);
}

/* ------------------------------------------------------------ 2 */

static void expect_names(const char *host, const char *cn,
                         const char *const *sans)
{
    int created = -1;
    store_fresh(4096, 48, 16, 0);
    rng_reset(2);
    if (!CHECK(get(host, 0, &created) == 0 && created == 1)) {
        fprintf(stderr, "  host name \"%s\"\n", host ? host : "(null)");
        return;
    }
    if (!check_pair(cert, clen, key, klen, cn, sans, 1767225600))
        fprintf(stderr, "  host name \"%s\"\n", host ? host : "(null)");
}

static void test_hostnames(void)
{
    static const char *const bad[] = {
        "", "bad_name", "a..b", ".a", "a.", "-a.b", "a-.b", "a.-b",
        "192.168.1.1", "10", "host name", "host,O=x", "caf\xc3\xa9",
        "a=b", "x/y",
    };
    static char l63[64], l64[65], long75[80], n253[254], n254[255];
    static const char *const s_box[] = { "box", "box.local", NULL };
    static const char *const s_loc[] = { "Box.LOCAL", NULL };
    static const char *const s_lan[] = { "my-box.lan", "my-box.local",
                                         NULL };
    static const char *const s_num[] = { "7seas.example.org",
                                         "7seas.local", NULL };
    char l63local[80];
    const char *s_l63[3], *s_long[3], *s_253[3];
    size_t i;

    expect_names(NULL, "lwmail", sans_default);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_names(bad[i], "lwmail", sans_default);
    expect_names("box", "box", s_box);
    expect_names("Box.LOCAL", "Box.LOCAL", s_loc);
    expect_names("my-box.lan", "my-box.lan", s_lan);
    expect_names("7seas.example.org", "7seas.example.org", s_num);

    /* a 63-byte label is fine, 64 is not */
    memset(l63, 'a', 63);
    memset(l64, 'b', 64);
    snprintf(l63local, sizeof l63local, "%s.local", l63);
    s_l63[0] = l63;
    s_l63[1] = l63local;
    s_l63[2] = NULL;
    expect_names(l63, l63, s_l63);
    expect_names(l64, "lwmail", sans_default);

    /* longer than a CN may be (64): the CN is the first label, the SAN
     * has the whole name */
    snprintf(long75, sizeof long75, "%s.example.com", l63);
    s_long[0] = long75;
    s_long[1] = l63local;
    s_long[2] = NULL;
    expect_names(long75, l63, s_long);

    /* 253 bytes is the longest DNS name; 254 is too long */
    memset(n253, 'c', 253);
    n253[63] = n253[127] = n253[191] = '.';
    memcpy(n254, n253, 253);
    memcpy(n254 + 253, "d", 2);
    {
        static char first[64], firstlocal[80];
        memcpy(first, n253, 63);
        snprintf(firstlocal, sizeof firstlocal, "%s.local", first);
        s_253[0] = n253;
        s_253[1] = firstlocal;
        s_253[2] = NULL;
        expect_names(n253, first, s_253);
    }
    expect_names(n254, "lwmail", sans_default);
}

/* ------------------------------------------------------------ 3 */

static void expect_dates(int64_t now, int64_t start)
{
    int created = -1;
    store_fresh(4096, 48, 16, 0);
    rng_reset(3);
    if (CHECK(get("box", now, &created) == 0 && created == 1) &&
        !check_pair(cert, clen, key, klen, "box",
                    (const char *const[]){ "box", "box.local", NULL },
                    start))
        fprintf(stderr, "  now = %lld\n", (long long)now);
}

static void test_dates(void)
{
    mbedtls_x509_crt crt;
    expect_dates(951782400, 951782400);         /* 2000-02-29 00:00 */
    expect_dates(1700000000, 1700000000);       /* 2023-11-14 22:13:20 */
    expect_dates(1709251199, 1709251199);       /* 2024-02-29 23:59:59 */
    expect_dates(2500000000LL, 2500000000LL);   /* 2049 -> 2051: the end
                                                   is a GeneralizedTime */
    expect_dates(4102444799LL, 4102444799LL);   /* 2099-12-31 23:59:59 */
    expect_dates(1, 1);                         /* 1970-01-01 00:00:01 */
    /* unknown or absurd: 2026-01-01 00:00:00 */
    expect_dates(0, 1767225600);
    expect_dates(-86400, 1767225600);
    expect_dates(253402300799LL, 1767225600);  /* would end after 9999 */
    expect_dates(INT64_MAX, 1767225600);
    /* the default, spelled out: to 2028-04-05 (2028 is a leap year) */
    mbedtls_x509_crt_init(&crt);
    if (CHECK(mbedtls_x509_crt_parse_der(&crt, cert, clen) == 0)) {
        CHECK(crt.valid_from.year == 2026 && crt.valid_from.mon == 1 &&
              crt.valid_from.day == 1 && crt.valid_from.hour == 0);
        CHECK(crt.valid_to.year == 2028 && crt.valid_to.mon == 4 &&
              crt.valid_to.day == 5 && crt.valid_to.hour == 0 &&
              crt.valid_to.min == 0 && crt.valid_to.sec == 0);
    }
    mbedtls_x509_crt_free(&crt);
}

/* ------------------------------------------------------------ 4 */

static int all_are(const uint8_t *p, size_t n, uint8_t v)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static void test_buffers(void)
{
    static const size_t csmall[] = { 0, 1, 100, 300 };
    static const size_t ksmall[] = { 0, 1, 60, 100 };
    int created;
    size_t i, c_ok, k_ok;

    store_fresh(4096, 48, 16, 0);
    for (i = 0; i < sizeof csmall / sizeof csmall[0]; i++) {
        rng_reset(4);
        memset(cert, 0xEE, sizeof cert);
        created = -1;
        CHECK(get_sized("box", 0, csmall[i], sizeof key, &created) ==
              LWM_ERR_NOMEM);
        CHECK(created == 0 && clen == 0 && klen == 0);
        CHECK(all_are(cert + csmall[i], sizeof cert - csmall[i], 0xEE));
        CHECK(all_are(key, sizeof key, 0));   /* no key left behind */
        CHECK(stored_count() == 0);
    }
    for (i = 0; i < sizeof ksmall / sizeof ksmall[0]; i++) {
        rng_reset(4);
        memset(key, 0xEE, sizeof key);
        created = -1;
        CHECK(get_sized("box", 0, sizeof cert, ksmall[i], &created) ==
              LWM_ERR_NOMEM);
        CHECK(created == 0 && clen == 0 && klen == 0);
        CHECK(all_are(key, ksmall[i], 0));
        CHECK(all_are(key + ksmall[i], sizeof key - ksmall[i], 0xEE));
        CHECK(stored_count() == 0);
    }
    CHECK(lwm_store_check(&st, 1) == 0);

    /* a stored pair that does not fit is an error, not a new pair */
    rng_reset(4);
    CHECK(get("box", 0, &created) == 0 && created == 1);
    c_ok = clen;
    k_ok = klen;
    CHECK(get_sized("box", 0, c_ok - 1, sizeof key, &created) ==
          LWM_ERR_NOMEM && created == 0);
    CHECK(all_are(key, sizeof key, 0));
    CHECK(get_sized("box", 0, sizeof cert, k_ok - 1, &created) ==
          LWM_ERR_NOMEM && created == 0);
    CHECK(stored_count() == 1);
    CHECK(get_sized("box", 0, c_ok, k_ok, &created) == 0 && created == 0);
    CHECK(clen == c_ok && klen == k_ok);
    CHECK(check_pair(cert, clen, key, klen, "box",
                     (const char *const[]){ "box", "box.local", NULL },
                     1767225600));
}

/* ------------------------------------------------------------ 5 */

static void test_malformed(void)
{
    static uint8_t ca[CERT_MAX], ka[KEY_MAX], cb[CERT_MAX], kb[KEY_MAX];
    static uint8_t blob[CERT_MAX + KEY_MAX + 16];
    size_t cal, kal, cbl, kbl, n;
    int created;

    /* two good pairs, A and B, from two stores */
    store_fresh(1024, 96, 4, 1);
    rng_reset(10);
    REQUIRE(get("a.example", 0, &created) == 0 && created == 1);
    memcpy(ca, cert, clen);
    memcpy(ka, key, klen);
    cal = clen;
    kal = klen;
    store_fresh(1024, 96, 4, 1);
    rng_reset(11);
    CHECK(append_raw("garbage", 7) > 0);
    n = make_blob(blob, ca, cal, ka, kal);
    memcpy(blob, "LWMTLSv2", 8);               /* not our magic */
    CHECK(append_raw(blob, n) > 0);
    CHECK(stored_count() == 2);
    CHECK(get("b.example", 0, &created) == 0 && created == 1);
    CHECK(stored_count() == 1);                 /* both went */
    CHECK(check_pair(cert, clen, key, klen, "b.example",
                     (const char *const[]){ "b.example", "b.local", NULL },
                     1767225600));
    memcpy(cb, cert, clen);
    memcpy(kb, key, klen);
    cbl = clen;
    kbl = klen;

    /* newer but broken messages are skipped (and go), the good one stays */
    n = make_blob(blob, ca, cal, ka, kal);
    blob[16 + 40] ^= 0x10;                      /* CRC no longer holds */
    CHECK(append_raw(blob, n) > 0);
    n = make_blob(blob, ca, cal, ka, kal);
    lwm_put16(blob + 8, (uint16_t)(cal + 1));   /* lengths do not add up */
    CHECK(append_raw(blob, n) > 0);
    n = make_blob(blob, (const uint8_t *)"\x31\x02\x00\x00", 4, ka, kal);
    CHECK(append_raw(blob, n) > 0);             /* CRC fine, not DER */
    n = make_blob(blob, ca, cal, ka, 0);
    CHECK(append_raw(blob, n) > 0);             /* no key */
    CHECK(append_raw("LWMTLSv1", 8) > 0);       /* header cut short */
    CHECK(stored_count() == 6);
    CHECK(get("b.example", 0, &created) == 0 && created == 0);
    CHECK(clen == cbl && memcmp(cert, cb, cbl) == 0);
    CHECK(klen == kbl && memcmp(key, kb, kbl) == 0);
    CHECK(stored_count() == 1);

    /* of two good ones the newer wins, the older goes */
    n = make_blob(blob, ca, cal, ka, kal);
    CHECK(append_raw(blob, n) > 0);
    CHECK(get("b.example", 0, &created) == 0 && created == 0);
    CHECK(clen == cal && memcmp(cert, ca, cal) == 0);
    CHECK(klen == kal && memcmp(key, ka, kal) == 0);
    CHECK(stored_count() == 1);
    remount();
    CHECK(get(NULL, 0, &created) == 0 && created == 0);
    CHECK(clen == cal && memcmp(cert, ca, cal) == 0);
    CHECK(lwm_store_check(&st, 1) == 0);
    CHECK(nor.violations == 0);
}

/* ------------------------------------------------------------ 6 */

struct geom {
    const char *name;
    uint32_t bs, bc, prog;
    int mapped;
};

static const struct geom geoms[] = {
    { "1024x96 prog 4 mapped", 1024, 96, 4, 1 },
    { "4096x48 prog 16", 4096, 48, 16, 0 },
    { "2048x64 prog 1 mapped", 2048, 64, 1, 1 },
    { "1024x128 prog 32", 1024, 128, 32, 0 },
};

static jmp_buf cut_jmp;

static void on_cut_jmp(struct lwm_nor *n)
{
    (void)n;
    longjmp(cut_jmp, 1);
}

/* One call with the power failing at the k-th flash operation from now;
 * with jmp, the store is left by a longjmp at the cut (nothing after it
 * runs, as in a real power loss). Returns the call's result, or 1 when
 * it jumped. Kept apart so no caller variable lives across setjmp. */
static int cut_run(const char *host, uint64_t k, int tear, int jmp,
                   int *created)
{
    volatile int r = 1;
    lwm_nor_cut_after(&nor, k, (enum lwm_nor_tear)tear,
                      (uint32_t)(k * 7 + (uint64_t)tear));
    nor.on_cut = jmp ? on_cut_jmp : NULL;
    if (setjmp(cut_jmp) == 0)
        r = get(host, 1700000000, created);
    nor.on_cut = NULL;
    return r;
}

static void pl_setup(const struct geom *g, int junk)
{
    store_fresh(g->bs, g->bc, g->prog, g->mapped);
    if (junk)
        CHECK(append_raw("an older message that is not a certificate",
                         42) > 0);
    lwm_nor_reset_counters(&nor);
}

static void test_powerloss(void)
{
    static const char host[] = "pl.example";
    static const char *const sans[] = { "pl.example", "pl.local", NULL };
    static uint8_t rc[CERT_MAX], rk[KEY_MAX];
    size_t rcl, rkl, gi;
    int junk;
    /* under qemu (LWM_SLOW_HOST=1) one tear mode per cut point instead
     * of all six variants */
    const char *env = getenv("LWM_SLOW_HOST");
    int slow = env && *env == '1';

    for (gi = 0; gi < sizeof geoms / sizeof geoms[0]; gi++) {
        for (junk = 0; junk < 2; junk++) {
            const struct geom *g = &geoms[gi];
            uint64_t total, k;
            unsigned none = 0, whole = 0, runs = 0;
            int created, done = 0;

            /* the uncut run: what a cut run that completes must equal */
            pl_setup(g, junk);
            rng_reset(100);
            REQUIRE(get(host, 1700000000, &created) == 0 && created == 1);
            total = nor.ops;
            CHECK(check_pair(cert, clen, key, klen, host, sans, 1700000000));
            memcpy(rc, cert, clen);
            memcpy(rk, key, klen);
            rcl = clen;
            rkl = klen;

            for (k = 1; !done; k++) {
                int tear, jmp;
                for (tear = 0; tear < 3; tear++) {
                    for (jmp = 0; jmp < 2; jmp++) {
                        int r, cut;
                        if (slow && (tear != (int)(k % 3) ||
                                     jmp != (int)(k / 3 % 2)))
                            continue;
                        pl_setup(g, junk);
                        rng_reset(100);
                        memset(key, 0, sizeof key);
                        r = cut_run(host, k, tear, jmp, &created);
                        cut = nor.dead;
                        runs++;
                        if (!cut) {
                            /* k is past the last operation */
                            CHECK(r == 0 && created == 1);
                            CHECK(clen == rcl && memcmp(cert, rc, rcl) == 0);
                            CHECK(k == total + 1);
                            done = 1;
                            continue;
                        }
                        /* the call failed and left no key behind, or
                         * the cut came after the commit (while older
                         * messages were expunged) */
                        if (!jmp && r < 0)
                            CHECK(all_are(key, sizeof key, 0));
                        if (!jmp && r == 0)
                            CHECK(junk && created == 1 && clen == rcl &&
                                  memcmp(cert, rc, rcl) == 0);
                        /* reboot */
                        lwm_nor_power_on(&nor);
                        memset(&st, 0, sizeof st);
                        if (!CHECK(lwm_store_mount(&st, &nor.flash) == 0) ||
                            !CHECK(lwm_store_check(&st, 1) == 0)) {
                            fprintf(stderr, "  %s junk %d cut %llu tear %d "
                                    "jmp %d\n", g->name, junk,
                                    (unsigned long long)k, tear, jmp);
                            continue;
                        }
                        CHECK(stored_count() <= (unsigned)junk + 1);
                        /* what the next start finds */
                        rng_reset(200 + (uint32_t)k);
                        created = -1;
                        r = get(host, 1700000000, &created);
                        CHECK(r == 0);
                        if (created == 0) {
                            /* the complete pair of the cut run */
                            whole++;
                            CHECK(clen == rcl && memcmp(cert, rc, rcl) == 0);
                            CHECK(klen == rkl && memcmp(key, rk, rkl) == 0);
                        } else {
                            /* nothing was kept: a new pair */
                            none++;
                            CHECK(created == 1);
                            CHECK(clen != rcl || memcmp(cert, rc, rcl) != 0);
                            /* freshly made, as in the uncut run: check
                             * the first one through (each costs two EC
                             * multiplications under ASan) */
                            if (none == 1)
                                CHECK(check_pair(cert, clen, key, klen, host,
                                                 sans, 1700000000));
                        }
                        CHECK(stored_count() == 1);
                        CHECK(lwm_store_check(&st, 1) == 0);
                        CHECK(nor.violations == 0);
                    }
                }
                REQUIRE(k <= total + 1);
            }
            printf("power cut: %s%s: %llu flash operations, %u runs: "
                   "%u left none, %u the whole pair\n",
                   g->name, junk ? " (junk first)" : "",
                   (unsigned long long)total, runs, none, whole);
            /* cuts before the commit leave none; with junk to expunge
             * after it, cuts there leave the whole pair */
            CHECK(none > 0);
            CHECK(!junk || slow || whole > 0);
        }
    }
}

int main(void)
{
    mbedtls_ctr_drbg_init(&drbg);
    nor.fd = -1;
    arena_setup();
    test_server_identity();
    test_generate();
    test_hostnames();
    test_dates();
    test_buffers();
    test_malformed();
    test_powerloss();
    mbedtls_ctr_drbg_free(&drbg);
    lwm_nor_close(&nor);
    lwm_nor_close(&srv_nor);
    return check_summary("test_cert");
}

#endif /* LWM_TLS */
