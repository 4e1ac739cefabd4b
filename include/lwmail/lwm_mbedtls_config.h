/*
 * lwmail - mbedTLS 2.28 configuration (MBEDTLS_CONFIG_FILE).
 *
 * Used for the host build and boards alike; every file that includes an
 * mbedTLS header must see it (CMake passes MBEDTLS_CONFIG_FILE on the
 * lwm_mbedtls target's interface). A board narrows it with its own file,
 * MBEDTLS_USER_CONFIG_FILE (boards/<board>/lwm_mbedtls_board.h, which
 * firmware/CMakeLists.txt passes when it exists), included at the end of
 * this one, before check_config.h, as mbedTLS's own config.h does: it
 * #undefs what the board does without and adds its few options, so this
 * file stays the one source of the rest (the static-memory setup above
 * all). What it selects for the host, and why:
 *
 *  - memory: MBEDTLS_PLATFORM_MEMORY with MEMORY_BUFFER_ALLOC_C over a
 *    static arena; the platform's default allocator points at stubs that
 *    always fail, so nothing can reach libc's calloc/free. src/tls routes
 *    the two record-buffer sizes to per-session static pools and the rest
 *    to the arena;
 *  - TLS 1.2 server only (2.28 has no TLS 1.3 server), forward-secret
 *    AEAD suites only: ECDHE-ECDSA and ECDHE-RSA with AES-GCM or
 *    ChaCha20-Poly1305; curves P-256, P-384, X25519;
 *  - extended master secret, max_fragment_length and SNI;
 *  - X.509 writing (the self-signed certificate made on first start),
 *    PEM and DER parsing (a configured certificate and key);
 *  - CTR_DRBG seeded from the port's entropy hook (no ENTROPY_C: each
 *    board names its own source);
 *  - no time (certificate dates are not checked on a server without
 *    client certificates), no renegotiation, tickets, session cache,
 *    debug or error strings, which are code and RAM a box does not need.
 */
#ifndef LWM_MBEDTLS_CONFIG_H
#define LWM_MBEDTLS_CONFIG_H

#include <stddef.h>

#include "lwm_opts.h"

/* ---- platform and memory */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
#define MBEDTLS_MEMORY_ALIGN_MULTIPLE 8
/* never libc: these fail; src/tls installs the real allocator */
void *lwm_tls_no_calloc(size_t n, size_t size);
void lwm_tls_no_free(void *p);
#define MBEDTLS_PLATFORM_STD_CALLOC lwm_tls_no_calloc
#define MBEDTLS_PLATFORM_STD_FREE lwm_tls_no_free
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_NO_PLATFORM_ENTROPY

/* ---- symmetric crypto and hashes */
#define MBEDTLS_AES_C
#if defined(__x86_64__) && defined(__GNUC__)
/* hosts (OpenWrt on x86, the development machine): AES-NI, 3x the GCM
 * rate; the code checks the CPU at run time */
#define MBEDTLS_AESNI_C
#endif
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_PKCS5_C

/* ---- public key */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21
#define MBEDTLS_OID_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PEM_WRITE_C

/* ---- X.509 */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CREATE_C
#define MBEDTLS_X509_CRT_WRITE_C

/* ---- TLS */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
/* clients send full-size records whatever they announce: accept 16 KB */
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN LWM_TLS_OUT_LEN
/* the server's preference, strongest first */
#define MBEDTLS_SSL_CIPHERSUITES                                   \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,               \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,               \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,         \
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,                 \
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,                 \
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256

/* ---- the board's changes (see the top of this file) */
#if defined(MBEDTLS_USER_CONFIG_FILE)
#include MBEDTLS_USER_CONFIG_FILE
#endif

#include "mbedtls/check_config.h"

#endif /* LWM_MBEDTLS_CONFIG_H */
