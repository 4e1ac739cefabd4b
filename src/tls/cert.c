/*
 * lwmail TLS - the server certificate kept in the store (see cert.h).
 *
 * Where it is kept. The store has users, mailboxes and messages and no
 * other kind of record; rather than change the on-flash format for one
 * small blob, the certificate lives in a message: the store user
 * TLS_CERT_USER ("#system"), mailbox TLS_CERT_MBOX ("tls"), one message
 * whose body is
 *
 *     0   8  magic "LWMTLSv1"
 *     8   2  certificate length C (little-endian)
 *    10   2  key length K (little-endian)
 *    12   4  CRC-32C of the C + K bytes that follow (little-endian)
 *    16   C  the certificate, DER
 *  16+C   K  the private key, DER (SEC1 ECPrivateKey)
 *
 * "#system" can never log in: IMAP logins only look at the configured
 * users, and a configured user name must not start with '#'.
 *
 * Why a power cut cannot leave half a certificate: a message becomes
 * visible only at lwm_append_commit, whose journal record is written and
 * synced after the whole body; until then a remount forgets the body. So
 * after any cut the mailbox holds the complete blob or nothing, and the
 * next start either loads it or generates again. The user and mailbox are
 * made first, each by one atomic store call; a cut between steps leaves
 * them (harmless, reused next time).
 *
 * Why a CRC of our own: the store checks a body's CRC only in
 * lwm_store_check, not when it is read (mount never reads bodies). A
 * blob whose bytes have decayed on flash must not be handed to mbedTLS as
 * a key; it is skipped, a new certificate is made, and the old message is
 * expunged after the new one is committed.
 *
 * Generation: ECDSA P-256 key, X.509 v3 self-signed, ECDSA-SHA256, 825
 * days (the most Apple accepts for a server certificate), subject and
 * issuer "CN=<host>,O=lwmail", SAN dNSName <host> and <first label>.local,
 * basicConstraints CA:FALSE, keyUsage digitalSignature, EKU serverAuth,
 * subjectKeyIdentifier. mbedTLS 2.28 has no setters for SAN and EKU (and
 * its SKI setter needs SHA-1, which is not built): those three are
 * written here with the ASN.1 writer.
 */
#include "lwmail/lwm_opts.h"

#if LWM_TLS

#include <string.h>

#include "mbedtls/asn1write.h"
#include "mbedtls/bignum.h"
#include "mbedtls/ecp.h"
#include "mbedtls/oid.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"
#include "mbedtls/x509.h"
#include "mbedtls/x509_crt.h"

#include "tls/cert.h"
#include "util/lwm_util.h"

#define BLOB_MAGIC "LWMTLSv1"
#define BLOB_HDR 16u
#define VALID_DAYS 825
#define DEFAULT_HOST "lwmail"
#define DEFAULT_START 1767225600LL  /* 2026-01-01 00:00:00 UTC */
#define HOST_MAX 253                /* a DNS name, without a final dot */
#define CN_MAX 64                   /* RFC 5280 ub-common-name */
#define SERIAL_LEN 16
#define SKI_LEN 20                  /* RFC 7093 method 1: SHA-256, cut */

_Static_assert(sizeof(BLOB_MAGIC) - 1 == 8, "blob magic is 8 bytes");

/* ------------------------------------------------------------ names */

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* Length of h if it is a DNS host name we can put in a certificate
 * (letters, digits, '-' and '.'; labels of 1..63 bytes that neither start
 * nor end with '-'; the last label not all digits, so an IPv4 address is
 * not taken for a name); else 0. The characters also keep the name
 * clear of the separators of mbedTLS's subject string ("CN=x,O=y"). */
static size_t host_len(const char *h)
{
    size_t i, lab = 0, n;
    int digits = 1;
    if (!h)
        return 0;
    for (n = 0; n <= HOST_MAX && h[n]; n++)
        ;
    if (n == 0 || n > HOST_MAX)
        return 0;
    for (i = 0; i <= n; i++) {
        char c = i < n ? h[i] : '.';
        if (c == '.') {
            if (lab == 0 || lab > 63 || h[i - 1] == '-')
                return 0;
            if (i < n) {
                lab = 0;
                digits = 1;
            }
            continue;
        }
        if (!is_alnum(c) && c != '-')
            return 0;
        if (c == '-' && lab == 0)
            return 0;
        if (c < '0' || c > '9')
            digits = 0;
        lab++;
    }
    return digits ? 0 : n;
}

static int ends_with_local(const char *h, size_t n)
{
    return n > 6 && lwm_ieq(h + n - 6, ".local", 6);
}

/* ------------------------------------------------------------ dates */

/* "YYYYMMDDhhmmss" (mbedTLS's validity format) for t seconds since 1970,
 * t >= 0 and before the year 10000 (the core has no libc time
 * functions). */
static void fmt_time(int64_t t, char out[15])
{
    uint32_t secs = (uint32_t)(t % 86400);
    unsigned v[7], i;
    int32_t y;
    lwm_civil_from_days((int32_t)(t / 86400), &y, &v[2], &v[3]);
    v[0] = (unsigned)y / 100;
    v[1] = (unsigned)y % 100;
    v[4] = secs / 3600;
    v[5] = secs / 60 % 60;
    v[6] = secs % 60;
    for (i = 0; i < 7; i++) {
        out[2 * i] = (char)('0' + v[i] / 10);
        out[2 * i + 1] = (char)('0' + v[i] % 10);
    }
    out[14] = '\0';
}

/* ------------------------------------------------------------ errors */

/* mbedTLS codes may combine a high-level and a low-level part. Output
 * buffers that are too small and an exhausted arena are both static
 * sizes (LWM_TLS_CERT_MAX, LWM_TLS_KEY_MAX, LWM_TLS_ARENA): NOMEM. A
 * failing random generator or anything else: INVAL. */
static int map_err(int ret)
{
    int hi = (-ret) & 0xFF80, lo = (-ret) & 0x7F;
    if (lo == -MBEDTLS_ERR_ASN1_BUF_TOO_SMALL ||
        lo == -MBEDTLS_ERR_ASN1_ALLOC_FAILED ||
        lo == -MBEDTLS_ERR_MPI_BUFFER_TOO_SMALL ||
        lo == -MBEDTLS_ERR_MPI_ALLOC_FAILED ||
        hi == -MBEDTLS_ERR_X509_BUFFER_TOO_SMALL ||
        hi == -MBEDTLS_ERR_X509_ALLOC_FAILED ||
        hi == -MBEDTLS_ERR_ECP_BUFFER_TOO_SMALL ||
        hi == -MBEDTLS_ERR_ECP_ALLOC_FAILED ||
        hi == -MBEDTLS_ERR_PK_ALLOC_FAILED ||
        hi == -MBEDTLS_ERR_MD_ALLOC_FAILED)
        return LWM_ERR_NOMEM;
    return LWM_ERR_INVAL;
}

/* ------------------------------------------------------------ extensions */

/* The len bytes at p (written backwards into buf) as the contents of a
 * SEQUENCE, set as the non-critical extension oid (oid_len bytes). */
static int set_seq_ext(mbedtls_x509write_cert *crt, const char *oid,
                       size_t oid_len, unsigned char *buf, unsigned char *p,
                       size_t len)
{
    int ret;
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(
                                  &p, buf, MBEDTLS_ASN1_CONSTRUCTED |
                                               MBEDTLS_ASN1_SEQUENCE));
    return mbedtls_x509write_crt_set_extension(crt, oid, oid_len, 0, p, len);
}

/* subjectAltName: GeneralNames with one or two dNSName ([2] IA5String).
 * The ASN.1 writer works backwards, so the second name goes first. */
static int ext_san(mbedtls_x509write_cert *crt, const char *host, size_t hn)
{
    unsigned char buf[HOST_MAX + 96];
    unsigned char *p = buf + sizeof buf;
    char local[64 + 6];
    size_t len = 0, ll = 0;
    int ret;
    if (!ends_with_local(host, hn)) {
        while (ll < hn && host[ll] != '.')
            ll++;
        memcpy(local, host, ll);
        memcpy(local + ll, ".local", 6);
        ll += 6;
        MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tagged_string(
                                      &p, buf,
                                      MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                                          MBEDTLS_X509_SAN_DNS_NAME,
                                      local, ll));
    }
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tagged_string(
                                  &p, buf,
                                  MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                                      MBEDTLS_X509_SAN_DNS_NAME,
                                  host, hn));
    /* not critical: the subject is not empty (RFC 5280 4.2.1.6) */
    return set_seq_ext(crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                       MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), buf, p,
                       len);
}

/* extendedKeyUsage: SEQUENCE { id-kp-serverAuth }. Clients that check EKU
 * (Apple's, Chrome's) want it on a server certificate. */
static int ext_eku(mbedtls_x509write_cert *crt)
{
    unsigned char buf[32];
    unsigned char *p = buf + sizeof buf;
    size_t len = 0;
    int ret;
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(
                                  &p, buf, MBEDTLS_OID_SERVER_AUTH,
                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
    return set_seq_ext(crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                       MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), buf, p,
                       len);
}

/* subjectKeyIdentifier: the first 160 bits of the SHA-256 of the public
 * key's BIT STRING contents (RFC 7093 method 1; mbedTLS's own setter
 * uses SHA-1, which this build leaves out). Lets clients and tools tell
 * two generated certificates for the same name apart. */
static int ext_ski(mbedtls_x509write_cert *crt, mbedtls_pk_context *pk)
{
    unsigned char buf[MBEDTLS_ECP_MAX_PT_LEN + 8];
    unsigned char hash[32], *p = buf + sizeof buf;
    size_t len = 0;
    int ret = mbedtls_pk_write_pubkey(&p, buf, pk);
    if (ret < 0)
        return ret;
    ret = mbedtls_sha256_ret(p, (size_t)ret, hash, 0);
    if (ret != 0)
        return ret;
    p = buf + sizeof buf;
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_octet_string(&p, buf, hash,
                                                              SKI_LEN));
    return mbedtls_x509write_crt_set_extension(
        crt, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER,
        MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER), 0, p, len);
}

/* ------------------------------------------------------------ generation */

/* mbedTLS writes DER at the end of the buffer; move it to the start. */
static void to_front(uint8_t *buf, size_t max, size_t len)
{
    memmove(buf, buf + max - len, len);
}

/* Make a key and a self-signed certificate for host (hn bytes). */
static int generate(const char *host, size_t hn, int64_t now,
                    int (*f_rng)(void *, unsigned char *, size_t),
                    void *p_rng, uint8_t *cert, size_t cert_max,
                    size_t *cert_len, uint8_t *key, size_t key_max,
                    size_t *key_len)
{
    mbedtls_pk_context pk;
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
    unsigned char sbytes[SERIAL_LEN];
    char name[3 + CN_MAX + 9 + 1], from[15], until[15];
    size_t cn = hn;
    int ret;

    /* the CN is limited to 64 characters; the SAN (which is what clients
     * check) always has the whole name. A longer name's CN is its first
     * label (at most 63). */
    if (cn > CN_MAX)
        for (cn = 0; host[cn] != '.'; cn++)
            ;
    memcpy(name, "CN=", 3);
    memcpy(name + 3, host, cn);
    memcpy(name + 3 + cn, ",O=lwmail", 10);

    if (now <= 0 || now > 253402300799LL - VALID_DAYS * 86400LL)
        now = DEFAULT_START;
    fmt_time(now, from);
    fmt_time(now + VALID_DAYS * 86400LL, until);

    mbedtls_pk_init(&pk);
    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi_init(&serial);

    ret = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (ret == 0)
        ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
                                  f_rng, p_rng);
    /* serial: 16 random bytes, top bit clear (DER INTEGERs are signed: a
     * serial must be positive) and the next one set, so it is always
     * exactly 16 bytes without a leading zero (RFC 5280 4.1.2.2) */
    if (ret == 0)
        ret = f_rng(p_rng, sbytes, sizeof sbytes);
    if (ret == 0) {
        sbytes[0] = (unsigned char)((sbytes[0] & 0x7F) | 0x40);
        ret = mbedtls_mpi_read_binary(&serial, sbytes, sizeof sbytes);
    }
    if (ret == 0) {
        mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
        mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
        mbedtls_x509write_crt_set_subject_key(&crt, &pk);
        mbedtls_x509write_crt_set_issuer_key(&crt, &pk);
        ret = mbedtls_x509write_crt_set_serial(&crt, &serial);
    }
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_validity(&crt, from, until);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_subject_name(&crt, name);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_issuer_name(&crt, name);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1);
    /* ECDHE-ECDSA uses the key only to sign the handshake */
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_key_usage(
            &crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    if (ret == 0)
        ret = ext_ski(&crt, &pk);
    if (ret == 0)
        ret = ext_san(&crt, host, hn);
    if (ret == 0)
        ret = ext_eku(&crt);
    if (ret == 0) {
        ret = mbedtls_x509write_crt_der(&crt, cert, cert_max, f_rng, p_rng);
        if (ret > 0) {
            *cert_len = (size_t)ret;
            to_front(cert, cert_max, *cert_len);
            ret = 0;
        }
    }
    if (ret == 0) {
        ret = mbedtls_pk_write_key_der(&pk, key, key_max);
        if (ret > 0) {
            *key_len = (size_t)ret;
            to_front(key, key_max, *key_len);
            ret = 0;
        }
    }

    /* pk_free zeroes the private scalar before it goes back to the arena */
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&crt);
    mbedtls_pk_free(&pk);
    mbedtls_platform_zeroize(sbytes, sizeof sbytes);
    return ret == 0 ? 0 : map_err(ret);
}

/* ------------------------------------------------------------ the blob */

/* Is p[0..len) exactly one DER SEQUENCE (definite length, at most 4
 * length bytes)? Enough to refuse a truncated or padded field before
 * mbedTLS sees it; the CRC already vouches for the bytes. */
static int der_seq_ok(const uint8_t *p, size_t len)
{
    size_t n, hdr, i;
    if (len < 2 || p[0] != 0x30)
        return 0;
    if (p[1] < 0x80) {
        n = p[1];
        hdr = 2;
    } else {
        size_t k = p[1] & 0x7Fu;
        if (k == 0 || k > 4 || len < 2 + k)
            return 0;
        for (n = 0, i = 0; i < k; i++)
            n = (n << 8) | p[2 + i];
        hdr = 2 + k;
    }
    return n == len - hdr;      /* hdr <= len was checked */
}

static void put_hdr(uint8_t h[BLOB_HDR], const uint8_t *cert, size_t cl,
                    const uint8_t *key, size_t kl)
{
    memcpy(h, BLOB_MAGIC, 8);
    lwm_put16(h + 8, (uint16_t)cl);
    lwm_put16(h + 10, (uint16_t)kl);
    lwm_put32(h + 12, lwm_crc32c(lwm_crc32c(0, cert, cl), key, kl));
}

/* Message idx of mbox into the caller's buffers. 0: a good blob;
 * LWM_ERR_CORRUPT: not one of ours, or damaged; LWM_ERR_NOMEM: good but
 * larger than the buffers; other errors from the store. */
static int load_one(struct lwm_store *st, int mbox, uint32_t idx,
                    uint8_t *cert, size_t cert_max, size_t *cert_len,
                    uint8_t *key, size_t key_max, size_t *key_len)
{
    struct lwm_msg m;
    uint8_t h[BLOB_HDR];
    size_t cl, kl;
    int r = lwm_msg_get(st, mbox, idx, &m);
    if (r < 0)
        return r;
    if (m.size < BLOB_HDR)
        return LWM_ERR_CORRUPT;
    r = lwm_msg_read(st, &m, 0, h, BLOB_HDR);
    if (r < 0)
        return r;
    if (r != (int)BLOB_HDR || memcmp(h, BLOB_MAGIC, 8) != 0)
        return LWM_ERR_CORRUPT;
    cl = lwm_get16(h + 8);
    kl = lwm_get16(h + 10);
    if (cl == 0 || kl == 0 || m.size != BLOB_HDR + cl + kl)
        return LWM_ERR_CORRUPT;
    if (cl > cert_max || kl > key_max)
        return LWM_ERR_NOMEM;
    r = lwm_msg_read(st, &m, BLOB_HDR, cert, (uint32_t)cl);
    if (r >= 0 && (size_t)r == cl)
        r = lwm_msg_read(st, &m, (uint32_t)(BLOB_HDR + cl), key,
                         (uint32_t)kl);
    if (r < 0)
        return r;
    if ((size_t)r != kl ||
        lwm_get32(h + 12) != lwm_crc32c(lwm_crc32c(0, cert, cl), key, kl) ||
        !der_seq_ok(cert, cl) || !der_seq_ok(key, kl))
        return LWM_ERR_CORRUPT;
    *cert_len = cl;
    *key_len = kl;
    return 0;
}

/* Expunge every message of mbox but keep_uid. Best effort: a leftover is
 * only ever skipped (a lower UID) or refused (not ours) at the next load,
 * so a failure here does not fail the call. */
static void prune(struct lwm_store *st, int mbox, uint32_t keep_uid)
{
    uint32_t i = 0, guard = lwm_msg_count(st, mbox);
    while (guard-- > 0 && i < lwm_msg_count(st, mbox)) {
        const struct lwm_msg_ent *e = lwm_msg_entry(st, mbox, i);
        uint32_t uid;
        if (!e)
            return;
        uid = e->uid;
        if (uid == keep_uid) {
            i++;
            continue;
        }
        if (lwm_expunge(st, mbox, &uid, 1) != 1)
            return;
    }
}

/* The system user's certificate mailbox; with create, make what is
 * missing (each step one atomic store call). */
static int cert_mbox(struct lwm_store *st, int create)
{
    static const char mname[] = TLS_CERT_MBOX;
    int u = lwm_user_find(st, TLS_CERT_USER), mb;
    if (u == LWM_ERR_NOENT && create)
        u = lwm_user_create(st, TLS_CERT_USER);
    if (u < 0)
        return u;
    mb = lwm_mbox_find(st, u, mname, sizeof mname - 1);
    if (mb >= 0) {
        /* a \Noselect name left by a deletion holds no messages */
        struct lwm_mbox_info mi;
        int r = lwm_mbox_info(st, mb, &mi);
        if (r < 0)
            return r;
        if (mi.attrs & LWM_MBOX_NOSELECT)
            mb = LWM_ERR_NOENT;
    }
    if (mb == LWM_ERR_NOENT && create)
        mb = lwm_mbox_create(st, u, mname, sizeof mname - 1, 0);
    return mb;
}

/* Append the blob as one message; its UID. */
static int save(struct lwm_store *st, int mbox, int64_t now,
                const uint8_t *cert, size_t cl, const uint8_t *key, size_t kl)
{
    uint8_t h[BLOB_HDR];
    uint32_t date = (now > 0 && now <= 0xFFFFFFFFLL) ? (uint32_t)now : 0;
    int a, r;
    put_hdr(h, cert, cl, key, kl);
    a = lwm_append_begin_sized(st, mbox, date, LWM_FLAG_SEEN,
                               (uint32_t)(BLOB_HDR + cl + kl));
    if (a < 0)
        return a;
    r = lwm_append_write(st, a, h, BLOB_HDR);
    if (r == 0)
        r = lwm_append_write(st, a, cert, (uint32_t)cl);
    if (r == 0)
        r = lwm_append_write(st, a, key, (uint32_t)kl);
    if (r != 0) {
        lwm_append_abort(st, a);
        return r;
    }
    /* the one step that makes it exist: all of it or, after a cut,
     * nothing */
    return lwm_append_commit(st, a);
}

/* ------------------------------------------------------------ public */

int tls_cert_stored(struct lwm_store *st, const char *hostname, int64_t now,
                    int (*f_rng)(void *, unsigned char *, size_t),
                    void *p_rng, uint8_t *cert, size_t cert_max,
                    size_t *cert_len, uint8_t *key, size_t key_max,
                    size_t *key_len, int *created)
{
    const char *host = hostname;
    size_t hn;
    int mb, r;
    uint32_t i;

    if (!st || !f_rng || !cert || !cert_len || !key || !key_len || !created)
        return LWM_ERR_INVAL;
    *created = 0;
    *cert_len = *key_len = 0;

    /* the newest blob that is whole wins; older or broken ones go */
    mb = cert_mbox(st, 0);
    if (mb >= 0) {
        for (i = lwm_msg_count(st, mb); i-- > 0;) {
            r = load_one(st, mb, i, cert, cert_max, cert_len, key, key_max,
                         key_len);
            if (r == 0) {
                const struct lwm_msg_ent *e = lwm_msg_entry(st, mb, i);
                mbedtls_platform_zeroize(key + *key_len, key_max - *key_len);
                if (e)
                    prune(st, mb, e->uid);
                return 0;
            }
            mbedtls_platform_zeroize(key, key_max);
            if (r != LWM_ERR_CORRUPT)
                return r;       /* an I/O error is not a reason for a new
                                   key; too small buffers neither */
        }
    } else if (mb != LWM_ERR_NOENT) {
        return mb;
    }

    /* None: the mailbox first (fails early on a full user table), then
     * the key and certificate, then the one commit that keeps them. */
    mb = cert_mbox(st, 1);
    if (mb < 0)
        return mb;
    hn = host_len(host);
    if (hn == 0) {
        host = DEFAULT_HOST;
        hn = sizeof DEFAULT_HOST - 1;
    }
    r = generate(host, hn, now, f_rng, p_rng, cert, cert_max, cert_len, key,
                 key_max, key_len);
    if (r == 0 && (*cert_len > 0xFFFF || *key_len > 0xFFFF))
        r = LWM_ERR_NOMEM;      /* the blob's 16-bit lengths */
    if (r == 0)
        r = save(st, mb, now, cert, *cert_len, key, *key_len);
    if (r < 0) {
        mbedtls_platform_zeroize(key, key_max);
        *cert_len = *key_len = 0;
        return r;
    }
    mbedtls_platform_zeroize(key + *key_len, key_max - *key_len);
    prune(st, mb, (uint32_t)r);
    *created = 1;
    return 0;
}

#else /* !LWM_TLS */

typedef int lwm_tls_cert_unused; /* ISO C: a translation unit is not empty */

#endif /* LWM_TLS */
