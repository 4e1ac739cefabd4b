/*
 * lwmail auth - password checks and login throttling, inside the core.
 *
 *  - auth_kdf: PBKDF2-HMAC-SHA256 computed in steps. The HMAC key (the
 *    password) is absorbed once into the SHA-256 chaining values after
 *    its ipad and opad blocks; every iteration is then two compressions
 *    of one block, with no allocation. A login check of 100,000
 *    iterations runs as many steps of LWM_AUTH_PBKDF2_STEP, so it never
 *    holds the event loop.
 *  - the user table: the configured hash strings parsed once at
 *    lwm_server_init (auth_init), plus a dummy entry that unknown user
 *    names are checked against, so the time to answer does not tell
 *    which users exist.
 *  - auth_thr: failed logins per client address (a 32-bit hash of it) in
 *    a fixed table: a delay per failure, lockout after
 *    LWM_AUTH_FREE_FAILS, doubling up to LWM_AUTH_LOCK_MAX_MS.
 *  - auth_login: one LOGIN / AUTHENTICATE check as a small state machine
 *    the IMAP command steps through.
 *
 * Nothing here keeps a password: auth_login_start absorbs it into the
 * HMAC states and the caller clears its own copy.
 */
#ifndef LWM_AUTH_INT_H
#define LWM_AUTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lwmail/lwm_auth.h"
#include "lwmail/lwm_opts.h"
#include "lwmail/lwm_server.h"

/* ------------------------------------------------ PBKDF2 in steps */

#define AUTH_KDF_SALT_MAX 64      /* any salt the test vectors use */
#define AUTH_KDF_DK_MAX 64        /* two blocks: RFC 7914's vectors */

struct auth_kdf {
    uint32_t iters;               /* c */
    uint32_t done;                /* iterations of the current block */
    uint8_t block;                /* current block, from 1 */
    uint8_t nblocks;
    uint8_t dk_len;
    uint8_t salt_len;
    uint32_t ist[8];              /* SHA-256 state after K ^ ipad */
    uint32_t ost[8];              /* SHA-256 state after K ^ opad */
    uint8_t u[32];                /* U_j */
    uint8_t t[32];                /* U_1 ^ ... ^ U_j */
    uint8_t salt[AUTH_KDF_SALT_MAX];
    uint8_t dk[AUTH_KDF_DK_MAX];  /* the derived key, when complete */
};

/** Begin PBKDF2-HMAC-SHA256(pw, salt, iters, dk_len): salt_len <=
 *  AUTH_KDF_SALT_MAX, 1 <= dk_len <= AUTH_KDF_DK_MAX, iters >= 1 (else
 *  LWM_ERR_INVAL). The password is not kept: it may be cleared as soon
 *  as this returns. Computes U_1 of the first block. */
int auth_kdf_start(struct auth_kdf *k, const uint8_t *pw, size_t pw_len,
                   const uint8_t *salt, size_t salt_len, uint32_t iters,
                   size_t dk_len);
/** Up to budget more iterations; 1 when k->dk is complete, else 0. */
int auth_kdf_step(struct auth_kdf *k, uint32_t budget);
/** Forget the key material (the HMAC states stand for the password). */
void auth_kdf_clear(struct auth_kdf *k);

/** a[0..n) == b[0..n), in time that depends on n only. */
int auth_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);

/* ------------------------------------------------ hash strings */

struct auth_user {
    const char *name;             /* the configuration's string */
    uint32_t iters;
    uint8_t salt_len;
    uint8_t hash_len;
    uint8_t salt[LWM_AUTH_SALT_MAX];
    uint8_t hash[LWM_AUTH_HASH_MAX];
};

/** Parse "$pbkdf2-sha256$..." into u (name untouched): 0 or
 *  LWM_ERR_INVAL. */
int auth_hash_parse(const char *str, struct auth_user *u);

/* ------------------------------------------------ throttling */

/* One client address (16 bytes). fails == 0 marks a free entry. */
struct auth_thr_ent {
    uint32_t key;                 /* hash of the address */
    uint32_t last;                /* ms of the latest failure */
    uint32_t until;               /* locked out before this ms (when
                                     fails >= LWM_AUTH_FREE_FAILS) */
    uint16_t fails;               /* failures since the last success */
    uint16_t pad;
};

struct auth_thr {
    struct auth_thr_ent e[LWM_AUTH_THROTTLE_ENTRIES];
};

void auth_thr_reset(struct auth_thr *t);
/** Is the address locked out at now? (Forgets stale entries first.) */
int auth_thr_locked(struct auth_thr *t, uint32_t key, uint32_t now);
/** Record a failure; returns the address's failure count (1 for a new
 *  entry). A full table gives up its entry with the fewest failures,
 *  the oldest of those. */
uint32_t auth_thr_fail(struct auth_thr *t, uint32_t key, uint32_t now);
/** A successful login: forget the address. */
void auth_thr_ok(struct auth_thr *t, uint32_t key);
/** Drop entries whose latest failure is more than LWM_AUTH_FORGET_MS
 *  old (done by the two calls above too). */
void auth_thr_decay(struct auth_thr *t, uint32_t now);
/** The entry of an address, NULL if none (tests). */
const struct auth_thr_ent *auth_thr_find(const struct auth_thr *t,
                                         uint32_t key);

/* ------------------------------------------------ the server's state */

/** Parse and keep the configured users (lwm_server_init). Names must be
 *  1..LWM_USER_NAME_MAX bytes, not start with '#' (the store's system
 *  accounts), be distinct; hashes well-formed. Resets the throttle
 *  table. 0, LWM_ERR_INVAL, or LWM_ERR_NOMEM (more than
 *  LWM_AUTH_MAX_USERS). */
int auth_init(const struct lwm_user_cfg *users, uint32_t n);
/** The configured name of user idx (from a successful auth_login). */
const char *auth_user_name(int idx);
/** The server's throttle table (tests look at it). */
struct auth_thr *auth_throttle(void);

/** The client address of a connection slot, as text, for the log lines
 *  of failed logins (lwm_conn_open notes it; cut to AUTH_PEER_MAX). */
#define AUTH_PEER_MAX 47
void auth_peer_note(int slot, const char *peer);
const char *auth_peer(int slot);

/* ------------------------------------------------ one login check */

#define AUTH_OK 0                 /* l->user is the configured user */
#define AUTH_MORE 1               /* PBKDF2 in progress: call again */
#define AUTH_WAIT 2               /* failed; answer after the delay */
#define AUTH_FAIL (-1)            /* answer "failed" now */
#define AUTH_LOCKED (-2)          /* address locked out: answer "failed"
                                     now, nothing was checked */

struct auth_login {
    uint32_t peer;                /* hash of the client's address */
    uint32_t until;               /* AUTH_WAIT: answer at this ms */
    uint32_t fails;               /* the address's count after this one */
    int16_t user;                 /* table index, -1 unknown */
    uint8_t phase;
    uint8_t failed_now;           /* a check just failed: log it (the
                                     caller clears it) */
    uint8_t name_len;
    char name[LWM_USER_NAME_MAX + 1];  /* as given (cut), for the log */
    struct auth_kdf kdf;          /* last: the fields above stay in reach
                                     of Thumb's short loads and stores */
};

/**
 * Start checking user/password for a client. pw may be NULL for a
 * password that cannot be right (too long, holding a NUL): the check
 * still runs in full against the dummy entry and fails. Returns
 * AUTH_MORE (step with auth_login_step) or AUTH_LOCKED (counted as a
 * failure already). The password is absorbed at once; the caller clears
 * its copy.
 */
int auth_login_start(struct auth_login *l, uint32_t peer, const char *user,
                     size_t ulen, const char *pw, size_t pw_len,
                     uint32_t now);
/** AUTH_MORE, AUTH_WAIT, AUTH_OK or AUTH_FAIL. */
int auth_login_step(struct auth_login *l, uint32_t now);

#endif /* LWM_AUTH_INT_H */
