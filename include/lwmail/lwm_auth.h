/*
 * lwmail - password hash strings (the users' entry in the configuration).
 *
 * A user's password is configured as a PBKDF2-HMAC-SHA256 hash string:
 *
 *   $pbkdf2-sha256$<iterations>$<salt>$<hash>
 *
 *   iterations  decimal, LWM_AUTH_ITER_MIN .. LWM_AUTH_ITER_MAX, no sign,
 *               no leading zeros
 *   salt        the salt bytes (LWM_AUTH_SALT_MIN .. LWM_AUTH_SALT_MAX),
 *               base64
 *   hash        PBKDF2-HMAC-SHA256(password, salt, iterations), 16 to 32
 *               bytes (normally 32), base64
 *
 * base64 is RFC 4648's standard alphabet without '=' padding. passlib's
 * "ab64" variant ('.' instead of '+'), which passlib uses for this very
 * format, is accepted too, so a hash made by passlib's pbkdf2_sha256 works
 * as it is; lwmaild writes the standard alphabet. Example (password
 * "password", salt "saltsaltsaltsalt", 1,000 iterations):
 *
 *   $pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA$8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA
 *
 * Hashes longer than 32 bytes are refused: PBKDF2 computes a second block
 * for them, which doubles the server's work but not an attacker's (the
 * first block alone confirms a guess).
 *
 * These functions compute the whole PBKDF2 in one call (for tools and
 * start-up: lwmaild --hash-password, --user NAME:PASSWORD); the server
 * itself checks logins in bounded steps.
 */
#ifndef LWM_AUTH_H
#define LWM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "lwm_opts.h"

#define LWM_AUTH_SCHEME "$pbkdf2-sha256$"

/* Bounds of a hash string's fields (what lwm_server_init accepts) */
#define LWM_AUTH_ITER_MIN 1000u        /* RFC 8018 4.2's minimum */
#define LWM_AUTH_ITER_MAX 10000000u    /* ~10 s per login on a PC */
#define LWM_AUTH_SALT_MIN 8u           /* RFC 8018 4.1: at least 64 bits */
#define LWM_AUTH_HASH_MIN 16u
#define LWM_AUTH_HASH_MAX 32u

/** Longest hash string, with its NUL. */
#define LWM_AUTH_HASH_STR_MAX                                          \
    (sizeof LWM_AUTH_SCHEME + 8 + 1 + (LWM_AUTH_SALT_MAX * 4 + 2) / 3 + \
     1 + (LWM_AUTH_HASH_MAX * 4 + 2) / 3 + 1)

/**
 * Make the hash string of a password: PBKDF2-HMAC-SHA256 with the given
 * salt and iteration count, a 32-byte hash. The salt must be random
 * (16 bytes from a strong source is the usual choice). Returns the
 * string's length (NUL not counted), or LWM_ERR_INVAL (bad salt length or
 * iteration count, or cap too small). Runs the whole PBKDF2 at once.
 */
int lwm_auth_hash(const char *password, size_t len, const uint8_t *salt,
                  size_t salt_len, uint32_t iterations, char *out,
                  size_t cap);

/** 0 if str is a hash string lwm_server_init accepts, else LWM_ERR_INVAL. */
int lwm_auth_hash_check(const char *str);

/** Clear a secret from memory in a way the compiler keeps. */
void lwm_auth_zeroize(void *p, size_t n);

#endif /* LWM_AUTH_H */
