/*
 * lwmail auth - PBKDF2-HMAC-SHA256 (RFC 8018 5.2) in bounded steps.
 *
 * HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)). Both inner and outer
 * hashes start with one block that depends on the key only, so its
 * SHA-256 chaining value is computed once (ist, ost) and every later
 * HMAC resumes from there. Inside an iteration m is U_{j-1}, 32 bytes:
 * the inner hash is then exactly one more block (U, 0x80, zeros, the bit
 * length 768), and so is the outer one (the inner digest, the same
 * padding). An iteration is two calls of the SHA-256 compression
 * function and nothing else: no mbedtls_md context, no allocation, and
 * about half the work of mbedtls_pkcs5_pbkdf2_hmac, which runs the full
 * HMAC machinery (four compressions) each time.
 */
#include <string.h>

#include "auth/auth.h"
#include "mbedtls/constant_time.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"

#define IPAD 0x36
#define OPAD 0x5c

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The chaining value after compressing one 64-byte block from the start */
static void first_block(const uint8_t blk[64], uint32_t st[8])
{
    mbedtls_sha256_context c;
    mbedtls_sha256_init(&c);
    mbedtls_sha256_starts_ret(&c, 0);
    mbedtls_internal_sha256_process(&c, blk);
    memcpy(st, c.state, sizeof c.state);
    mbedtls_sha256_free(&c);   /* zeroizes */
}

/* SHA-256 of (the 64-byte block behind st) || m: resume from st */
static void resume_hash(const uint32_t st[8], const uint8_t *m, size_t n,
                        uint8_t out[32])
{
    mbedtls_sha256_context c;
    mbedtls_sha256_init(&c);
    mbedtls_sha256_starts_ret(&c, 0);
    memcpy(c.state, st, sizeof c.state);
    c.total[0] = 64;            /* one block already in */
    mbedtls_sha256_update_ret(&c, m, n);
    mbedtls_sha256_finish_ret(&c, out);
    mbedtls_sha256_free(&c);
}

/* U_1 of block k->block: HMAC(P, S || INT(block)) */
static void begin_block(struct auth_kdf *k)
{
    uint8_t m[AUTH_KDF_SALT_MAX + 4], h[32];
    memcpy(m, k->salt, k->salt_len);
    put_be32(m + k->salt_len, k->block);
    resume_hash(k->ist, m, (size_t)k->salt_len + 4, h);
    resume_hash(k->ost, h, 32, k->u);
    memcpy(k->t, k->u, 32);
    k->done = 1;
    mbedtls_platform_zeroize(h, sizeof h);
}

int auth_kdf_start(struct auth_kdf *k, const uint8_t *pw, size_t pw_len,
                   const uint8_t *salt, size_t salt_len, uint32_t iters,
                   size_t dk_len)
{
    uint8_t key[32], blk[64];
    const uint8_t *kp = pw;
    size_t i;
    memset(k, 0, sizeof *k);
    if (salt_len > AUTH_KDF_SALT_MAX || dk_len == 0 ||
        dk_len > AUTH_KDF_DK_MAX || iters == 0 || (!pw && pw_len))
        return LWM_ERR_INVAL;
    /* RFC 2104: a key longer than the block is hashed first */
    if (pw_len > 64) {
        mbedtls_sha256_ret(pw, pw_len, key, 0);
        kp = key;
        pw_len = 32;
    }
    for (i = 0; i < 64; i++)
        blk[i] = (uint8_t)((i < pw_len ? kp[i] : 0) ^ IPAD);
    first_block(blk, k->ist);
    for (i = 0; i < 64; i++)
        blk[i] ^= IPAD ^ OPAD;
    first_block(blk, k->ost);
    mbedtls_platform_zeroize(blk, sizeof blk);
    mbedtls_platform_zeroize(key, sizeof key);
    memcpy(k->salt, salt, salt_len);
    k->salt_len = (uint8_t)salt_len;
    k->iters = iters;
    k->dk_len = (uint8_t)dk_len;
    k->nblocks = (uint8_t)((dk_len + 31) / 32);
    k->block = 1;
    begin_block(k);
    return 0;
}

int auth_kdf_step(struct auth_kdf *k, uint32_t budget)
{
    mbedtls_sha256_context c;
    uint8_t blk[64];
    size_t i;
    if (k->block == 0 || k->block > k->nblocks)
        return 1;               /* complete (or never started) */
    mbedtls_sha256_init(&c);
    /* the padding of a 96-byte message (one key block + 32 bytes): the
     * same for the inner and the outer hash */
    memset(blk + 32, 0, 32);
    blk[32] = 0x80;
    blk[62] = 0x03;             /* 768 bits, big-endian */
    blk[63] = 0x00;
    memcpy(blk, k->u, 32);
    for (;;) {
        if (k->done == k->iters) {
            size_t off = (size_t)(k->block - 1) * 32;
            size_t n = k->dk_len - off < 32 ? k->dk_len - off : 32;
            memcpy(k->dk + off, k->t, n);
            if (++k->block > k->nblocks)
                break;
            /* a few compressions: not counted against the budget */
            begin_block(k);
            memcpy(blk, k->u, 32);
            continue;
        }
        if (!budget)
            break;
        /* inner: H(K^ipad || U) */
        memcpy(c.state, k->ist, sizeof c.state);
        mbedtls_internal_sha256_process(&c, blk);
        for (i = 0; i < 8; i++)
            put_be32(blk + 4 * i, c.state[i]);
        /* outer: H(K^opad || inner) */
        memcpy(c.state, k->ost, sizeof c.state);
        mbedtls_internal_sha256_process(&c, blk);
        for (i = 0; i < 8; i++)
            put_be32(blk + 4 * i, c.state[i]);
        for (i = 0; i < 32; i++)
            k->t[i] ^= blk[i];
        k->done++;
        budget--;
    }
    memcpy(k->u, blk, 32);
    mbedtls_sha256_free(&c);
    mbedtls_platform_zeroize(blk, sizeof blk);
    return k->block > k->nblocks;
}

void auth_kdf_clear(struct auth_kdf *k)
{
    mbedtls_platform_zeroize(k, sizeof *k);
}

int auth_ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    return mbedtls_ct_memcmp(a, b, n) == 0;
}

void lwm_auth_zeroize(void *p, size_t n)
{
    mbedtls_platform_zeroize(p, n);
}
