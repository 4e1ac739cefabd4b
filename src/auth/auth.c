/*
 * lwmail auth - the configured users, hash strings, and one login check
 * as a state machine (see auth.h).
 */
#include <string.h>

#include "auth/auth.h"
#include "util/lwm_util.h"

#if LWM_AUTH_SALT_MAX < LWM_AUTH_SALT_MIN || \
    LWM_AUTH_SALT_MAX > AUTH_KDF_SALT_MAX
#error "LWM_AUTH_SALT_MAX must be between 8 and 64"
#endif
#if LWM_AUTH_PBKDF2_STEP < 1
#error "LWM_AUTH_PBKDF2_STEP must be at least 1"
#endif

enum { PH_KDF = 0, PH_WAIT, PH_DONE };

static struct {
    uint32_t n;
    struct auth_user users[LWM_AUTH_MAX_USERS];
    /* unknown names are checked against this: same work, never a match */
    struct auth_user dummy;
    struct auth_thr thr;
    char peer[LWM_MAX_SESSIONS][AUTH_PEER_MAX + 1];
} A;

/* ------------------------------------------------ base64 without '=' */

/* RFC 4648 standard alphabet; '.' is passlib's ab64 spelling of '+' */
static int b64_value(uint8_t c)
{
    return c == '.' ? 62 : lwm_base64_value(c);
}

/* Decode exactly len digits; -1 unless canonical (no stray bits) and
 * the result fits cap */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t i, o = 0;
    if (len % 4 == 1)
        return -1;              /* 6 bits cannot end a byte */
    for (i = 0; i < len; i++) {
        int v = b64_value((uint8_t)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    if (acc)
        return -1;              /* non-zero padding bits: not canonical */
    return (int)o;
}

static size_t b64_encode(const uint8_t *in, size_t len, char *out)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t i, o = 0;
    for (i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = lwm_base64_digits[(acc >> bits) & 63];
        }
    }
    if (bits)
        out[o++] = lwm_base64_digits[(acc << (6 - bits)) & 63];
    return o;
}

/* ------------------------------------------------ hash strings */

int auth_hash_parse(const char *str, struct auth_user *u)
{
    static const char scheme[] = LWM_AUTH_SCHEME;
    const char *p, *salt, *hash;
    uint32_t iters = 0;
    size_t nd = 0;
    int n;
    if (!str || strncmp(str, scheme, sizeof scheme - 1) != 0)
        return LWM_ERR_INVAL;
    p = str + sizeof scheme - 1;
    /* decimal, no sign, no leading zero, at most 8 digits (the bound is
     * checked after: 8 digits cannot overflow) */
    while (p[nd] >= '0' && p[nd] <= '9' && nd < 9)
        iters = iters * 10 + (uint32_t)(p[nd++] - '0');
    if (nd == 0 || nd > 8 || (p[0] == '0') || p[nd] != '$' ||
        iters < LWM_AUTH_ITER_MIN || iters > LWM_AUTH_ITER_MAX)
        return LWM_ERR_INVAL;
    salt = p + nd + 1;
    p = strchr(salt, '$');
    if (!p)
        return LWM_ERR_INVAL;
    hash = p + 1;
    if (strchr(hash, '$'))
        return LWM_ERR_INVAL;
    n = b64_decode(salt, (size_t)(p - salt), u->salt, sizeof u->salt);
    if (n < (int)LWM_AUTH_SALT_MIN)
        return LWM_ERR_INVAL;
    u->salt_len = (uint8_t)n;
    n = b64_decode(hash, strlen(hash), u->hash, sizeof u->hash);
    if (n < (int)LWM_AUTH_HASH_MIN)
        return LWM_ERR_INVAL;
    u->hash_len = (uint8_t)n;
    u->iters = iters;
    return 0;
}

int lwm_auth_hash_check(const char *str)
{
    struct auth_user u;
    int r = auth_hash_parse(str, &u);
    lwm_auth_zeroize(&u, sizeof u);
    return r;
}

int lwm_auth_hash(const char *password, size_t len, const uint8_t *salt,
                  size_t salt_len, uint32_t iterations, char *out,
                  size_t cap)
{
    struct auth_kdf k;
    char num[20], *d;
    size_t nn, o, need;
    if (!out || !salt || salt_len < LWM_AUTH_SALT_MIN ||
        salt_len > LWM_AUTH_SALT_MAX || iterations < LWM_AUTH_ITER_MIN ||
        iterations > LWM_AUTH_ITER_MAX || (!password && len))
        return LWM_ERR_INVAL;
    d = lwm_utoa(iterations, num + sizeof num);
    nn = (size_t)(num + sizeof num - d);
    need = sizeof LWM_AUTH_SCHEME - 1 + nn + 1 + (salt_len * 4 + 2) / 3 +
           1 + (32 * 4 + 2) / 3 + 1;
    if (cap < need)
        return LWM_ERR_INVAL;
    if (auth_kdf_start(&k, (const uint8_t *)password, len, salt, salt_len,
                       iterations, 32) < 0)
        return LWM_ERR_INVAL;
    while (!auth_kdf_step(&k, iterations))
        ;
    o = lwm_snfmt(out, cap, LWM_AUTH_SCHEME "%b$", d, nn);
    o += b64_encode(salt, salt_len, out + o);
    out[o++] = '$';
    o += b64_encode(k.dk, 32, out + o);
    out[o] = 0;
    auth_kdf_clear(&k);
    return (int)o;
}

/* ------------------------------------------------ the users */

int auth_init(const struct lwm_user_cfg *users, uint32_t n)
{
    static const uint8_t dummy_salt[16] = "lwmail-no-user..";
    uint32_t i, j, most = LWM_AUTH_ITER_MIN;
    int r = 0;
    lwm_auth_zeroize(&A, sizeof A);
    if (n && !users)
        return LWM_ERR_INVAL;
    if (n > LWM_AUTH_MAX_USERS)
        return LWM_ERR_NOMEM;
    for (i = 0; i < n && r == 0; i++) {
        const char *name = users[i].name;
        size_t len = name ? strlen(name) : 0;
        /* '#' names are the store's system accounts: never log-ins */
        if (len == 0 || len > LWM_USER_NAME_MAX || name[0] == '#')
            r = LWM_ERR_INVAL;
        for (j = 0; j < i && r == 0; j++)
            if (strcmp(users[j].name, name) == 0)
                r = LWM_ERR_INVAL;
        if (r == 0)
            r = auth_hash_parse(users[i].pass_hash, &A.users[i]);
        A.users[i].name = name;
        if (A.users[i].iters > most)
            most = A.users[i].iters;
    }
    if (r < 0) {
        lwm_auth_zeroize(&A, sizeof A);
        return r;
    }
    A.n = n;
    /* as costly as the costliest user: an unknown name takes as long as
     * a known one (when all users share one count, as they normally do) */
    A.dummy.iters = most;
    A.dummy.salt_len = sizeof dummy_salt;
    memcpy(A.dummy.salt, dummy_salt, sizeof dummy_salt);
    A.dummy.hash_len = 32;
    return 0;
}

const char *auth_user_name(int idx)
{
    return idx >= 0 && (uint32_t)idx < A.n ? A.users[idx].name : NULL;
}

struct auth_thr *auth_throttle(void)
{
    return &A.thr;
}

void auth_peer_note(int slot, const char *peer)
{
    size_t n = peer ? strlen(peer) : 0;
    if (slot < 0 || slot >= LWM_MAX_SESSIONS)
        return;
    if (n > AUTH_PEER_MAX)
        n = AUTH_PEER_MAX;
    memcpy(A.peer[slot], peer ? peer : "", n);
    A.peer[slot][n] = 0;
}

const char *auth_peer(int slot)
{
    return slot >= 0 && slot < LWM_MAX_SESSIONS ? A.peer[slot] : "";
}

/* ------------------------------------------------ one login */

int auth_login_start(struct auth_login *l, uint32_t peer, const char *user,
                     size_t ulen, const char *pw, size_t pw_len,
                     uint32_t now)
{
    const struct auth_user *ent = &A.dummy;
    uint32_t i;
    int found = -1;
    memset(l, 0, sizeof *l);
    l->peer = peer;
    l->user = -1;
    l->name_len = (uint8_t)(ulen < LWM_USER_NAME_MAX ? ulen
                                                     : LWM_USER_NAME_MAX);
    if (user)
        memcpy(l->name, user, l->name_len);
    else
        l->name_len = 0;
    if (auth_thr_locked(&A.thr, peer, now)) {
        /* nothing is checked; the try counts and makes the lock longer */
        l->fails = auth_thr_fail(&A.thr, peer, now);
        l->phase = PH_DONE;
        return AUTH_LOCKED;
    }
    /* every name is compared, whatever matched before */
    for (i = 0; user && i < A.n; i++) {
        const char *nm = A.users[i].name;
        if (strlen(nm) == ulen &&
            auth_ct_equal((const uint8_t *)nm, (const uint8_t *)user, ulen))
            found = (int)i;
    }
    if (found >= 0 && pw) {
        l->user = (int16_t)found;
        ent = &A.users[found];
    }
    if (!pw)
        pw_len = 0;
    auth_kdf_start(&l->kdf, (const uint8_t *)pw, pw_len, ent->salt,
                   ent->salt_len, ent->iters, ent->hash_len);
    l->phase = PH_KDF;
    return AUTH_MORE;
}

int auth_login_step(struct auth_login *l, uint32_t now)
{
    const struct auth_user *ent;
    int same;
    switch (l->phase) {
    case PH_KDF:
        if (!auth_kdf_step(&l->kdf, LWM_AUTH_PBKDF2_STEP))
            return AUTH_MORE;
        ent = l->user >= 0 ? &A.users[l->user] : &A.dummy;
        same = auth_ct_equal(l->kdf.dk, ent->hash, ent->hash_len);
        auth_kdf_clear(&l->kdf);
        /* a lock that began while this check ran (another session of the
         * same address failing) holds for it too */
        if (same && l->user >= 0 && !auth_thr_locked(&A.thr, l->peer, now)) {
            auth_thr_ok(&A.thr, l->peer);
            l->phase = PH_DONE;
            return AUTH_OK;
        }
        l->fails = auth_thr_fail(&A.thr, l->peer, now);
        l->failed_now = 1;
        l->until = now + LWM_AUTH_FAIL_DELAY_MS;
        l->phase = PH_WAIT;
        /* fall through */
    case PH_WAIT:
        if ((int32_t)(l->until - now) > 0)
            return AUTH_WAIT;
        l->phase = PH_DONE;
        return AUTH_FAIL;
    default:
        return AUTH_FAIL;
    }
}
