/*
 * boards/qemu-mps2-an385 - the board's changes to lwmail's mbedTLS 2.28
 * configuration.
 *
 * firmware/CMakeLists.txt passes this file as MBEDTLS_USER_CONFIG_FILE;
 * include/lwmail/lwm_mbedtls_config.h includes it last, before
 * check_config.h. Everything not named here (the static arena and the
 * failing default allocator, TLS 1.2 server only, extended master secret,
 * max_fragment_length, CTR_DRBG on the port's entropy, X.509 writing for
 * the certificate made on first start) is the shared configuration's.
 *
 * What the board offers (issue: "TLS 1.2 server, ECDHE-ECDSA, AES-GCM and
 * ChaCha20-Poly1305, P-256; the certificate as DER"):
 *
 *  - ECDHE-ECDSA only: the board's certificate is the ECDSA P-256 one it
 *    makes itself (src/tls/cert.c); nothing on it can load an RSA key;
 *  - ECDHE-ECDSA-AES128-GCM-SHA256 and ECDHE-ECDSA-CHACHA20-POLY1305-SHA256:
 *    the SHA-384 suite (AES-256-GCM) would keep SHA-512's 5 KiB of code,
 *    and clients that offer it offer AES-128-GCM too;
 *  - key exchange on X25519 (what clients prefer) or P-256;
 *  - ECDSA signatures with SHA-256 (or SHA-224), which every client
 *    offers for P-256;
 *  - DER only: the certificate and key are kept in the flash store as
 *    DER, so no PEM, base64, PKCS#5 or encrypted keys;
 *  - smaller AES tables (2 KiB of ROM instead of 8, for a few rotations
 *    more per round);
 *  - no SNI parsing: the server registers no SNI callback, so the
 *    extension would be skipped anyway.
 *
 * Sizes (Cortex-M3, -Os) are in the board's README.md.
 */
#ifndef LWM_MBEDTLS_BOARD_H
#define LWM_MBEDTLS_BOARD_H

/* ---- ECDHE-ECDSA only: no RSA */
#undef MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#undef MBEDTLS_RSA_C
#undef MBEDTLS_PKCS1_V15
#undef MBEDTLS_PKCS1_V21

/* ---- curves: X25519 and P-256 */
#undef MBEDTLS_ECP_DP_SECP384R1_ENABLED

/* ---- hashes: SHA-256 only (no SHA-384 suite, no SHA-384 signatures) */
#undef MBEDTLS_SHA512_C

/* ---- DER only */
#undef MBEDTLS_PEM_PARSE_C
#undef MBEDTLS_PEM_WRITE_C
#undef MBEDTLS_BASE64_C
#undef MBEDTLS_PKCS5_C

/* ---- code size */
#define MBEDTLS_AES_FEWER_TABLES
#undef MBEDTLS_SSL_SERVER_NAME_INDICATION

/* ---- suites, the server's preference */
#undef MBEDTLS_SSL_CIPHERSUITES
#define MBEDTLS_SSL_CIPHERSUITES                                   \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,               \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256

/* ---- no libc exit(): the arena allocator (memory_buffer_alloc.c) calls
 * mbedtls_exit when it finds its heap corrupt; startup.c reports that on
 * the console and stops the board */
void board_mbedtls_exit(int code) __attribute__((noreturn));
#define MBEDTLS_PLATFORM_EXIT_MACRO board_mbedtls_exit

#endif /* LWM_MBEDTLS_BOARD_H */
