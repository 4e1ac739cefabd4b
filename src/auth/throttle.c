/*
 * lwmail auth - failed logins per client address, in a fixed table.
 *
 * Times are the port's wrapping millisecond clock: every comparison is a
 * difference taken modulo 2^32 (elapsed = now - then), valid while the
 * two are less than 2^31 ms (24.8 days) apart. Entries never get that
 * old: every lookup first drops the entries whose latest failure is more
 * than LWM_AUTH_FORGET_MS (at most a day or so) behind, and lock times
 * are capped at LWM_AUTH_LOCK_MAX_MS; the server also decays the table at
 * every poll, so even a table no login touches for weeks holds no stale
 * entry when the clock wraps. Ages are signed differences: a failure
 * stamped a moment after the caller read its clock counts as recent.
 *
 * The table is small and searched linearly (32 entries by default, 16
 * bytes each): cheaper than any index at this size.
 */
#include <string.h>

#include "auth/auth.h"

#if LWM_AUTH_LOCK_MAX_MS >= 0x40000000UL || \
    LWM_AUTH_FORGET_MS >= 0x40000000UL
#error "LWM_AUTH_LOCK_MAX_MS and LWM_AUTH_FORGET_MS must be under 2^30 ms"
#endif
#if LWM_AUTH_FORGET_MS <= LWM_AUTH_LOCK_MAX_MS
#error "LWM_AUTH_FORGET_MS must be longer than LWM_AUTH_LOCK_MAX_MS"
#endif
#if LWM_AUTH_LOCK_MIN_MS < 1 || LWM_AUTH_LOCK_MIN_MS > LWM_AUTH_LOCK_MAX_MS
#error "LWM_AUTH_LOCK_MIN_MS must be between 1 and LWM_AUTH_LOCK_MAX_MS"
#endif
#if LWM_AUTH_THROTTLE_ENTRIES < 1 || LWM_AUTH_FREE_FAILS < 1
#error "LWM_AUTH_THROTTLE_ENTRIES and LWM_AUTH_FREE_FAILS must be >= 1"
#endif

void auth_thr_reset(struct auth_thr *t)
{
    memset(t, 0, sizeof *t);
}

static int ent_locked(const struct auth_thr_ent *e, uint32_t now)
{
    return e->fails >= LWM_AUTH_FREE_FAILS &&
           (int32_t)(e->until - now) > 0;
}

void auth_thr_decay(struct auth_thr *t, uint32_t now)
{
    unsigned i;
    for (i = 0; i < LWM_AUTH_THROTTLE_ENTRIES; i++) {
        struct auth_thr_ent *e = &t->e[i];
        /* signed: a failure stamped a moment after the caller read its
         * clock is recent, not 49 days old */
        if (e->fails && !ent_locked(e, now) &&
            (int32_t)(now - e->last) > (int32_t)LWM_AUTH_FORGET_MS)
            memset(e, 0, sizeof *e);
    }
}

static struct auth_thr_ent *find(struct auth_thr *t, uint32_t key)
{
    unsigned i;
    for (i = 0; i < LWM_AUTH_THROTTLE_ENTRIES; i++)
        if (t->e[i].fails && t->e[i].key == key)
            return &t->e[i];
    return NULL;
}

const struct auth_thr_ent *auth_thr_find(const struct auth_thr *t,
                                         uint32_t key)
{
    unsigned i;
    for (i = 0; i < LWM_AUTH_THROTTLE_ENTRIES; i++)
        if (t->e[i].fails && t->e[i].key == key)
            return &t->e[i];
    return NULL;
}

int auth_thr_locked(struct auth_thr *t, uint32_t key, uint32_t now)
{
    const struct auth_thr_ent *e;
    auth_thr_decay(t, now);
    e = find(t, key);
    return e && ent_locked(e, now);
}

/* The lock after the n-th failure: none before LWM_AUTH_FREE_FAILS, then
 * LWM_AUTH_LOCK_MIN_MS doubling with each failure, capped */
static uint32_t lock_ms(uint32_t n)
{
    uint32_t shift, d = LWM_AUTH_LOCK_MIN_MS;
    if (n < LWM_AUTH_FREE_FAILS)
        return 0;
    for (shift = n - LWM_AUTH_FREE_FAILS; shift && d < LWM_AUTH_LOCK_MAX_MS;
         shift--)
        d *= 2;                 /* d < 2^30 here: no overflow */
    return d < LWM_AUTH_LOCK_MAX_MS ? d : LWM_AUTH_LOCK_MAX_MS;
}

/* Room for a new address: a free entry, else the one that matters least
 * (fewest failures; the oldest failure among equals). A flood of new
 * addresses, one failure each, so only ever replaces its own kind. */
static struct auth_thr_ent *take_entry(struct auth_thr *t, uint32_t now)
{
    struct auth_thr_ent *v = NULL;
    unsigned i;
    for (i = 0; i < LWM_AUTH_THROTTLE_ENTRIES; i++) {
        struct auth_thr_ent *e = &t->e[i];
        if (!e->fails)
            return e;
        if (!v || e->fails < v->fails ||
            (e->fails == v->fails &&
             (uint32_t)(now - e->last) > (uint32_t)(now - v->last)))
            v = e;
    }
    return v;
}

uint32_t auth_thr_fail(struct auth_thr *t, uint32_t key, uint32_t now)
{
    struct auth_thr_ent *e;
    uint32_t d;
    auth_thr_decay(t, now);
    e = find(t, key);
    if (!e) {
        e = take_entry(t, now);
        memset(e, 0, sizeof *e);
        e->key = key;
    }
    if (e->fails < 0xFFFFu)
        e->fails++;
    e->last = now;
    d = lock_ms(e->fails);
    /* a lock never gets shorter (a failure counted while locked starts a
     * longer one from now) */
    if (d && (!ent_locked(e, now) || (int32_t)(now + d - e->until) > 0))
        e->until = now + d;
    return e->fails;
}

void auth_thr_ok(struct auth_thr *t, uint32_t key)
{
    struct auth_thr_ent *e = find(t, key);
    if (e)
        memset(e, 0, sizeof *e);
}
