/*
 * Tests of authentication (src/auth and the IMAP login path):
 *
 *  - PBKDF2-HMAC-SHA256 in steps against RFC 7914 11's vectors, vectors
 *    made with python3's hashlib.pbkdf2_hmac (keys longer than a block,
 *    NULs, empty password, odd key lengths) and mbedTLS's one-shot
 *    mbedtls_pkcs5_pbkdf2_hmac for random inputs and step budgets;
 *  - hash strings: made, parsed, passlib's own examples accepted, and a
 *    long list of malformed ones refused (also by lwm_server_init, with
 *    '#' names and duplicates);
 *  - the throttle table with explicit clocks: lockout after
 *    LWM_AUTH_FREE_FAILS, doubling, the cap, success, decay, a flood of
 *    10,000 addresses against a full table, the clock wrapping;
 *  - through the in-memory port: a failure is answered only after
 *    LWM_AUTH_FAIL_DELAY_MS of (fake) time, in the exact words; a locked
 *    address is refused at once even with the right password; another
 *    address logs in meanwhile; a long check runs in steps while other
 *    sessions are served; unknown users cost a full check; no password
 *    stays in the receive buffer or reaches the log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/auth/auth.h"
#include "../src/imap/imap_int.h"
#include "check.h"
#include "fakeport.h"
#include "lwm_nor.h"
#include "lwmail/lwm_auth.h"
#include "lwmail/lwm_server.h"
#include "lwmail/lwm_store.h"
#include "mbedtls/pkcs5.h"
#include "mbedtls/platform.h"

#define HAS(r, s) ((r) && strstr((r), (s)) != NULL)

static const char *const fail_line =
    "NO [AUTHENTICATIONFAILED] Authentication failed\r\n";

static int unhex(const char *h, uint8_t *out)
{
    int n = 0;
    while (h[0] && h[1]) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
        h += 2;
    }
    return n;
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

/* Run a whole PBKDF2 with the stepwise code, budget iterations a call */
static void kdf(const uint8_t *pw, size_t pwl, const uint8_t *salt,
                size_t sl, uint32_t iters, size_t dkl, uint32_t budget,
                uint8_t *out)
{
    struct auth_kdf k;
    int guard = 0;
    REQUIRE(auth_kdf_start(&k, pw, pwl, salt, sl, iters, dkl) == 0);
    while (!auth_kdf_step(&k, budget) && guard++ < 10000000)
        ;
    memcpy(out, k.dk, dkl);
    auth_kdf_clear(&k);
}

/* ------------------------------------------------------------ PBKDF2 */

static void test_vectors(void)
{
    static const struct {
        const char *pw;
        size_t pwl;
        const char *salt;
        size_t sl;
        uint32_t c;
        const char *dk;
    } v[] = {
        /* RFC 7914 11 */
        { "passwd", 6, "salt", 4, 1,
          "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dac"
          "bc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a1"
          "9783" },
        { "Password", 8, "NaCl", 4, 80000,
          "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab"
          "56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f3"
          "3c8d" },
        /* python3 hashlib.pbkdf2_hmac('sha256', pw, salt, c, dklen) */
        { "", 0, "saltsalt", 8, 1000,
          "3e0661ee06a100bed97329d06f71c16ab8ca76a14b7dc1fe6ad3f29ae3efffdb" },
        { "pass\0word", 9, "sa\0lt", 5, 4096,
          "89b69d0516f829893c696226650a8687" },
        { "password", 8, "salt", 4, 2,
          "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"
          "83" },
    };
    static const struct {
        char ch;
        size_t pwl;
        char sch;
        size_t sl;
        uint32_t c;
        const char *dk;
    } w[] = {
        /* keys of exactly one block, one byte more (hashed first), long */
        { 'x', 64, 0, 16, 1000,
          "eeaeef6cf9941fe1898e34b053e26e319b17b35b0776b8e38f0bfd0206b76d91" },
        { 'y', 65, 0, 16, 1000,
          "92b422bb2ea48f673f744e9a8d9145ad7871a46dcb002f97d596c9074b4a01cb" },
        { 'z', 200, 'S', 64, 3,
          "5bd7aa3654fba1bbe717997e9b96061d0726fd82d010e9dbae8ce3a14666f8f4"
          "63a71bcb27ee7dc2" },
    };
    uint8_t want[64], got[64], pw[200], salt[64];
    size_t i;
    uint32_t budgets[] = { 1, 7, 1000, 1u << 30 };
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        int n = unhex(v[i].dk, want), b;
        for (b = 0; b < 4; b++) {
            if (v[i].c > 10000 && budgets[b] < 1000)
                continue;       /* slow under ASan, and nothing new */
            memset(got, 0xAA, sizeof got);
            kdf((const uint8_t *)v[i].pw, v[i].pwl,
                (const uint8_t *)v[i].salt, v[i].sl, v[i].c, (size_t)n,
                budgets[b], got);
            CHECK(memcmp(got, want, (size_t)n) == 0);
        }
    }
    for (i = 0; i < sizeof w / sizeof w[0]; i++) {
        int n = unhex(w[i].dk, want);
        memset(pw, w[i].ch, w[i].pwl);
        if (w[i].sch)
            memset(salt, w[i].sch, w[i].sl);
        else
            memcpy(salt, "0123456789abcdef", 16);
        kdf(pw, w[i].pwl, salt, w[i].sl, w[i].c, (size_t)n, 333, got);
        CHECK(memcmp(got, want, (size_t)n) == 0);
    }
    /* bad arguments */
    {
        struct auth_kdf k;
        CHECK(auth_kdf_start(&k, pw, 1, salt, 65, 1, 32) == LWM_ERR_INVAL);
        CHECK(auth_kdf_start(&k, pw, 1, salt, 8, 0, 32) == LWM_ERR_INVAL);
        CHECK(auth_kdf_start(&k, pw, 1, salt, 8, 1, 0) == LWM_ERR_INVAL);
        CHECK(auth_kdf_start(&k, pw, 1, salt, 8, 1, 65) == LWM_ERR_INVAL);
    }
}

/* The steps give what mbedTLS's one-shot function gives, for random
 * passwords, salts, counts, key lengths and step budgets */
static void test_stepwise_vs_oneshot(void)
{
    mbedtls_md_context_t md;
    int i;
    /* mbedtls_md_setup allocates; the core's build points mbedTLS at an
     * arena (or at nothing), the test gives it libc's */
    mbedtls_platform_set_calloc_free(calloc, free);
    mbedtls_md_init(&md);
    REQUIRE(mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                             1) == 0);
    for (i = 0; i < 200; i++) {
        uint8_t pw[150], salt[64], a[64], b[64];
        size_t pwl = rnd() % sizeof pw, sl = rnd() % 65,
               dkl = 1 + rnd() % 64;
        uint32_t c = 1 + rnd() % (i < 190 ? 300 : 5000), j;
        uint32_t budget = 1 + rnd() % (i % 2 ? 5 : 2000);
        for (j = 0; j < pwl; j++)
            pw[j] = (uint8_t)rnd();
        for (j = 0; j < sl; j++)
            salt[j] = (uint8_t)rnd();
        REQUIRE(mbedtls_pkcs5_pbkdf2_hmac(&md, pw, pwl, salt, sl, c,
                                          (uint32_t)dkl, a) == 0);
        kdf(pw, pwl, salt, sl, c, dkl, budget, b);
        if (!CHECK(memcmp(a, b, dkl) == 0))
            fprintf(stderr, "  pwl %zu sl %zu c %u dkl %zu budget %u\n",
                    pwl, sl, c, dkl, budget);
    }
    mbedtls_md_free(&md);
    /* a budget is a budget: 100 iterations take exactly 100/7 rounded up
     * calls (the next block starts without counting) */
    {
        struct auth_kdf k;
        int calls = 0;
        auth_kdf_start(&k, (const uint8_t *)"pw", 2,
                       (const uint8_t *)"saltsalt", 8, 100, 32);
        while (!auth_kdf_step(&k, 7))
            calls++;
        CHECK(calls + 1 == 15);  /* 99 more after U_1: 15 calls of 7 */
        CHECK(auth_kdf_step(&k, 7) == 1);   /* stays complete */
    }
}

/* ------------------------------------------------------------ strings */

static void test_hash_strings(void)
{
    static const char *const good[] = {
        "$pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA$"
        "8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA",
        /* passlib's documentation examples (ab64: '.' for '+') */
        "$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$"
        "1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk",
        "$pbkdf2-sha256$6400$0ZrzXitFSGltTQnBWOsdAw$"
        "Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M",
        "$pbkdf2-sha256$8000$XAuBMIYQQogxRg$"
        "tRRlz8hYn63B9LYiCd6PRo6FMiunY9ozmMMI3srxeRE",
        /* 16-byte hash, 8-byte salt, the largest count */
        "$pbkdf2-sha256$10000000$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
    };
    static const char *const pws[] = { "password", "toomanysecrets",
                                       "password", "password" };
    static const char *const bad[] = {
        "",
        "pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha512$1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$PBKDF2-SHA256$1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$0$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$999$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$01000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$+1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$-1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$1000x$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$10000001$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$4294967297$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$1000",
        "$pbkdf2-sha256$1000$",
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ",
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ$",
        "$pbkdf2-sha256$1000$$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA$",
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA$x",
        "$pbkdf2-sha256$1000$c2FsdHNhbA$AAAAAAAAAAAAAAAAAAAAAA",  /* 7 B */
        /* salt of 33 bytes (over LWM_AUTH_SALT_MAX) */
        "$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAA",  /* 15 B */
        /* 33-byte hash */
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ$"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA==",
        "$pbkdf2-sha256$1000$c2Fs dHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$1000$c2FsdHNh*HQ$AAAAAAAAAAAAAAAAAAAAAA",
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAA-",
        "$pbkdf2-sha256$1000$c2FsdHNhbHQAA$AAAAAAAAAAAAAAAAAAAAAA", /* %4==1 */
        "$pbkdf2-sha256$1000$c2FsdHNhbHR$AAAAAAAAAAAAAAAAAAAAAA", /* bits */
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAB", /* bits */
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA\n",
        "secret1",
        "$pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA trailing",
    };
    struct auth_user u;
    char out[LWM_AUTH_HASH_STR_MAX];
    uint8_t salt[16] = "saltsaltsaltsalt";
    size_t i;
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        memset(&u, 0, sizeof u);
        if (!CHECK(auth_hash_parse(good[i], &u) == 0))
            fprintf(stderr, "  refused: %s\n", good[i]);
        CHECK(lwm_auth_hash_check(good[i]) == 0);
        if (i < sizeof pws / sizeof pws[0]) {
            /* the parsed fields verify the password they were made of */
            uint8_t dk[32];
            kdf((const uint8_t *)pws[i], strlen(pws[i]), u.salt, u.salt_len,
                u.iters, u.hash_len, 100000, dk);
            CHECK(u.hash_len == 32 && memcmp(dk, u.hash, 32) == 0);
        }
    }
    CHECK(u.iters == 10000000 && u.salt_len == 8 && u.hash_len == 16);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!CHECK(auth_hash_parse(bad[i], &u) == LWM_ERR_INVAL))
            fprintf(stderr, "  accepted: %s\n", bad[i]);
        CHECK(lwm_auth_hash_check(bad[i]) == LWM_ERR_INVAL);
    }
    CHECK(lwm_auth_hash_check(NULL) == LWM_ERR_INVAL);

    /* making one: the same as python's for the same salt */
    CHECK(lwm_auth_hash("password", 8, salt, 16, 1000, out, sizeof out) ==
          (int)strlen(good[0]));
    CHECK(strcmp(out, good[0]) == 0);
    /* a string of the longest salt fits LWM_AUTH_HASH_STR_MAX */
    {
        uint8_t big[LWM_AUTH_SALT_MAX];
        memset(big, 0xFF, sizeof big);
        CHECK(lwm_auth_hash("pw", 2, big, sizeof big, 10000000, out, 0) ==
              LWM_ERR_INVAL);     /* no room: refused before computing */
        CHECK(lwm_auth_hash("pw", 2, big, sizeof big, LWM_AUTH_ITER_MIN,
                            out, sizeof out) > 0);
        CHECK(lwm_auth_hash_check(out) == 0);
    }
    CHECK(lwm_auth_hash("pw", 2, salt, 7, 1000, out, sizeof out) ==
          LWM_ERR_INVAL);
    CHECK(lwm_auth_hash("pw", 2, salt, 16, 999, out, sizeof out) ==
          LWM_ERR_INVAL);
    CHECK(lwm_auth_hash("pw", 2, salt, 16, 1000, out, 40) == LWM_ERR_INVAL);
}

static void test_user_table(void)
{
    static const char *h = "$pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA$"
                           "8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA";
    struct lwm_user_cfg u[LWM_AUTH_MAX_USERS + 1];
    uint32_t i;
    for (i = 0; i <= LWM_AUTH_MAX_USERS; i++) {
        static char names[LWM_AUTH_MAX_USERS + 1][8];
        snprintf(names[i], sizeof names[i], "u%u", i);
        u[i].name = names[i];
        u[i].pass_hash = h;
    }
    CHECK(auth_init(u, 2) == 0);
    CHECK(strcmp(auth_user_name(1), "u1") == 0);
    CHECK(auth_user_name(2) == NULL && auth_user_name(-1) == NULL);
    CHECK(auth_init(u, LWM_AUTH_MAX_USERS) == 0);
    CHECK(auth_init(u, LWM_AUTH_MAX_USERS + 1) == LWM_ERR_NOMEM);
    CHECK(auth_init(NULL, 0) == 0);
    u[1].name = "#system";
    CHECK(auth_init(u, 2) == LWM_ERR_INVAL);
    CHECK(auth_user_name(0) == NULL);       /* nothing half-kept */
    u[1].name = "u0";                        /* a duplicate */
    CHECK(auth_init(u, 2) == LWM_ERR_INVAL);
    u[1].name = "";
    CHECK(auth_init(u, 2) == LWM_ERR_INVAL);
    u[1].name = "a-name-longer-than-thirty-one-bytes";
    CHECK(auth_init(u, 2) == LWM_ERR_INVAL);
    u[1].name = "u1";
    u[1].pass_hash = "secret1";              /* a clear password */
    CHECK(auth_init(u, 2) == LWM_ERR_INVAL);
    u[1].pass_hash = NULL;
    CHECK(auth_init(u, 2) == LWM_ERR_INVAL);
}

/* ------------------------------------------------------------ throttle */

static void test_throttle(void)
{
    static struct auth_thr t;
    const struct auth_thr_ent *e;
    uint32_t now = 5000, i, d;
    auth_thr_reset(&t);
    /* free failures, then the first lock */
    for (i = 1; i < LWM_AUTH_FREE_FAILS; i++) {
        CHECK(auth_thr_fail(&t, 7, now) == i);
        CHECK(!auth_thr_locked(&t, 7, now));
        now += 10;
    }
    CHECK(auth_thr_fail(&t, 7, now) == LWM_AUTH_FREE_FAILS);
    CHECK(auth_thr_locked(&t, 7, now));
    CHECK(auth_thr_locked(&t, 7, now + LWM_AUTH_LOCK_MIN_MS - 1));
    CHECK(!auth_thr_locked(&t, 7, now + LWM_AUTH_LOCK_MIN_MS));
    CHECK(!auth_thr_locked(&t, 8, now));     /* another address */
    /* each further failure doubles it, up to the cap */
    for (d = LWM_AUTH_LOCK_MIN_MS * 2, i = 0; i < 40; i++) {
        uint32_t want = d < LWM_AUTH_LOCK_MAX_MS ? d : LWM_AUTH_LOCK_MAX_MS;
        now += 100000;
        auth_thr_fail(&t, 7, now);
        e = auth_thr_find(&t, 7);
        CHECK(e && e->until - now == want);
        CHECK(auth_thr_locked(&t, 7, now + want - 1));
        CHECK(!auth_thr_locked(&t, 7, now + want));
        if (d < LWM_AUTH_LOCK_MAX_MS)
            d *= 2;
    }
    CHECK(e && e->fails == LWM_AUTH_FREE_FAILS + 40);
    /* a failure while locked counts and makes the lock longer */
    now += LWM_AUTH_LOCK_MAX_MS + 1;
    auth_thr_fail(&t, 7, now);
    CHECK(auth_thr_locked(&t, 7, now + LWM_AUTH_LOCK_MAX_MS - 1));
    /* success clears */
    auth_thr_ok(&t, 7);
    CHECK(auth_thr_find(&t, 7) == NULL && !auth_thr_locked(&t, 7, now));
    CHECK(auth_thr_fail(&t, 7, now) == 1);

    /* decay: forgotten LWM_AUTH_FORGET_MS after the last failure */
    auth_thr_fail(&t, 9, now);
    auth_thr_decay(&t, now + LWM_AUTH_FORGET_MS);
    CHECK(auth_thr_find(&t, 9) != NULL);
    auth_thr_decay(&t, now + LWM_AUTH_FORGET_MS + 1);
    CHECK(auth_thr_find(&t, 9) == NULL && auth_thr_find(&t, 7) == NULL);

    /* the clock wraps in the middle of a lock */
    auth_thr_reset(&t);
    now = 0xFFFFFFFFu - LWM_AUTH_LOCK_MIN_MS / 2;
    for (i = 0; i < LWM_AUTH_FREE_FAILS; i++)
        auth_thr_fail(&t, 11, now);
    CHECK(auth_thr_locked(&t, 11, now));
    CHECK(auth_thr_locked(&t, 11, 0xFFFFFFFFu));
    CHECK(auth_thr_locked(&t, 11, 0));       /* wrapped, still locked */
    CHECK(auth_thr_locked(&t, 11, now + LWM_AUTH_LOCK_MIN_MS - 1));
    CHECK(!auth_thr_locked(&t, 11, now + LWM_AUTH_LOCK_MIN_MS));
    /* and decays across the wrap, however far past */
    CHECK(auth_thr_find(&t, 11) != NULL);
    auth_thr_decay(&t, now + LWM_AUTH_FORGET_MS + 1);
    CHECK(auth_thr_find(&t, 11) == NULL);
    /* an entry not looked at for longer than half the clock's range
     * would alias; decay runs at every lookup, so a day is the most it
     * ever sees: check the boundary values of the wrapping compare */
    auth_thr_fail(&t, 12, 0x7FFFFFF0u);
    CHECK(!auth_thr_locked(&t, 12, 0x80000010u));
}

/* A flood of new addresses against a full table keeps the entries that
 * matter: many failures stay, the flood only replaces its own kind */
static void test_throttle_flood(void)
{
    static struct auth_thr t;
    uint32_t now = 1000, i, k, newest = 0;
    auth_thr_reset(&t);
    /* attackers with many failures, and one with two (not locked yet) */
    for (k = 0; k < 4; k++)
        for (i = 0; i < 10 + k; i++)
            auth_thr_fail(&t, 0xA0000000u + k, now += 10);
    auth_thr_fail(&t, 0xB0000000u, now += 10);
    auth_thr_fail(&t, 0xB0000000u, now += 10);
    for (i = 0; i < 10000; i++) {
        newest = 0x10000u + i * 7919u;
        auth_thr_fail(&t, newest, now += 3);
        /* each newcomer gets an entry */
        if (!CHECK(auth_thr_find(&t, newest) != NULL))
            break;
    }
    for (k = 0; k < 4; k++) {
        const struct auth_thr_ent *e = auth_thr_find(&t, 0xA0000000u + k);
        CHECK(e && e->fails == 10 + k);
        CHECK(auth_thr_locked(&t, 0xA0000000u + k, now));
    }
    CHECK(auth_thr_find(&t, 0xB0000000u) != NULL);
    /* the table is full of the flood's latest addresses besides them */
    for (i = 0, k = 0; i < LWM_AUTH_THROTTLE_ENTRIES; i++)
        k += t.e[i].fails == 1;
    CHECK(k == LWM_AUTH_THROTTLE_ENTRIES - 5);
    /* among equals the oldest goes: the flood's first addresses are gone,
     * the last LWM_AUTH_THROTTLE_ENTRIES - 5 are there */
    CHECK(auth_thr_find(&t, 0x10000u) == NULL);
    for (i = 10000 - (LWM_AUTH_THROTTLE_ENTRIES - 5); i < 10000; i++)
        CHECK(auth_thr_find(&t, 0x10000u + i * 7919u) != NULL);
}

/* ------------------------------------------------------------ login */

/* An unknown name costs the same steps as a known one */
static void test_dummy_costs_the_same(void)
{
    static char hash[LWM_AUTH_HASH_STR_MAX];
    struct lwm_user_cfg u = { "alice", hash };
    struct auth_login l;
    int steps[3], j;
    uint8_t salt[16] = "0123456789abcdef";
    CHECK(lwm_auth_hash("secret1", 7, salt, 16, 20000, hash, sizeof hash) >
          0);
    REQUIRE(auth_init(&u, 1) == 0);
    for (j = 0; j < 3; j++) {
        static const char *const who[] = { "alice", "nobody", "alice" };
        static const char *const pw[] = { "wrong", "secret1", "secret1" };
        int r = auth_login_start(&l, 100 + (uint32_t)j, who[j],
                                 strlen(who[j]), pw[j], strlen(pw[j]), 0);
        steps[j] = 0;
        while (r == AUTH_MORE && steps[j] < 1000) {
            r = auth_login_step(&l, 0);
            steps[j]++;
        }
        CHECK(r == (j == 2 ? AUTH_OK : AUTH_WAIT));
        if (j < 2) {
            CHECK(l.failed_now && l.fails == 1);
            CHECK(auth_login_step(&l, LWM_AUTH_FAIL_DELAY_MS - 1) ==
                  AUTH_WAIT);
            CHECK(auth_login_step(&l, LWM_AUTH_FAIL_DELAY_MS) == AUTH_FAIL);
        }
    }
    CHECK(steps[0] == 20000 / LWM_AUTH_PBKDF2_STEP);
    CHECK(steps[0] == steps[1] && steps[1] == steps[2]);
}

static struct lwm_nor nor;
static struct lwm_store store;
static int log_fails, log_locks;
static char log_last[256];

static void on_log(int level, int conn, const char *msg)
{
    (void)conn;
    if (strstr(msg, "authentication failed for ")) {
        log_fails++;
        snprintf(log_last, sizeof log_last, "%d %s", level, msg);
    }
    if (strstr(msg, "locked out after "))
        log_locks += level == LWM_LOG_WARNING;
    /* no password ever reaches the log */
    CHECK(!strstr(msg, "secret1") && !strstr(msg, "wrong-pw") &&
          !strstr(msg, "pw2"));
}

/* The tagged line for tag in r, NULL if none */
static const char *tagged(const char *r, const char *tag)
{
    size_t n = strlen(tag);
    const char *p = r;
    while (p && *p) {
        if (strncmp(p, tag, n) == 0 && p[n] == ' ')
            return p + n + 1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

static int rx_holds(const char *secret)
{
    const uint8_t *rx = &lwm_the_server.rx[0][0];
    size_t n = sizeof lwm_the_server.rx, m = strlen(secret), i;
    for (i = 0; i + m <= n; i++)
        if (memcmp(rx + i, secret, m) == 0)
            return 1;
    return 0;
}

static void open_from(struct fake_conn *c, const char *peer)
{
    memset(c, 0, sizeof *c);
    c->peer = peer;
    fake_open(c);
    fake_take(c);
}

static void test_login_through_port(void)
{
    static const char *const users[] = { "alice", "secret1", "bob", "pw2",
                                         NULL };
    struct fake_conn a, b, x;
    const char *r, *t;
    uint32_t t0;
    int i, checks;
    REQUIRE(lwm_nor_open(&nor, NULL, 4096, 256, 4, 1, 1) == 0);
    REQUIRE(lwm_store_format(&store, &nor.flash) == 0);
    REQUIRE(fake_server(&store, users) != NULL);
    fake_log_hook = on_log;

    /* a wrong password: no answer until the delay has passed */
    open_from(&a, "192.0.2.1");
    t0 = fake_now();
    r = fake_cmd(&a, "a1", "a1 LOGIN alice wrong-pw");
    CHECK(r == NULL);
    fake_advance(LWM_AUTH_FAIL_DELAY_MS - 50);
    fake_run();
    CHECK(fake_wait(&a, "a1", 0) == NULL);
    /* meanwhile the loop serves others: another address logs in */
    open_from(&b, "192.0.2.2");
    r = fake_cmd(&b, "b1", "b1 LOGIN bob pw2");
    CHECK(HAS(r, "b1 OK [CAPABILITY"));
    r = fake_wait(&a, "a1", 1000);
    t = tagged(r, "a1");
    CHECK(t && strcmp(t, fail_line) == 0);
    CHECK(fake_now() - t0 >= LWM_AUTH_FAIL_DELAY_MS);
    CHECK(log_fails == 1 &&
          strstr(log_last, "5 authentication failed for alice from "
                           "192.0.2.1") == log_last);
    /* an unknown user: the same words, after the same delay */
    t0 = fake_now();
    r = fake_cmd_wait(&a, "a2", "a2 LOGIN nobody secret1", 5000);
    t = tagged(r, "a2");
    CHECK(t && strcmp(t, fail_line) == 0);
    CHECK(fake_now() - t0 >= LWM_AUTH_FAIL_DELAY_MS);
    CHECK(strstr(log_last, "for nobody from 192.0.2.1") != NULL);
    /* AUTHENTICATE PLAIN, wrong password: the third failure locks */
    r = fake_cmd_wait(&a, "a3", "a3 AUTHENTICATE PLAIN AGFsaWNlAG5vcGU=",
                      5000);                    /* \0alice\0nope */
    t = tagged(r, "a3");
    CHECK(t && strcmp(t, fail_line) == 0);
    CHECK(log_fails == LWM_AUTH_FREE_FAILS && log_locks == 1);
    CHECK(strstr(log_last, "5 authentication failed for alice from "
                           "192.0.2.1") == log_last);
    CHECK(auth_thr_locked(auth_throttle(), a.slot >= 0 ?
                          lwm_the_server.sess[a.slot].peer_hash : 0,
                          fake_now()));

    /* locked: even the right password fails, at once, unchecked */
    r = fake_cmd(&a, "a4", "a4 LOGIN alice secret1");
    t = tagged(r, "a4");
    CHECK(t && strcmp(t, fail_line) == 0);
    r = fake_cmd(&a, "a5", "a5 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldDE=");
    t = tagged(r, "a5");
    CHECK(t && strcmp(t, fail_line) == 0);
    CHECK(log_fails == LWM_AUTH_FREE_FAILS);    /* no check ran */
    /* from a new connection of the same address too */
    open_from(&x, "192.0.2.1");
    r = fake_cmd(&x, "x1", "x1 LOGIN alice secret1");
    t = tagged(r, "x1");
    CHECK(t && strcmp(t, fail_line) == 0);
    fake_close(&x);
    /* another address still logs in, right away */
    open_from(&x, "198.51.100.7");
    r = fake_cmd(&x, "x2", "x2 LOGIN alice secret1");
    CHECK(HAS(r, "x2 OK [CAPABILITY"));
    fake_close(&x);

    /* a burst of tries while locked: every one refused, none checked,
     * the lock grows (each try counts) */
    for (i = 0, checks = log_fails; i < 200; i++) {
        char line[64];
        snprintf(line, sizeof line, "p%d LOGIN alice guess%d", i, i);
        r = fake_cmd(&a, "p", line);
        (void)r;
    }
    r = fake_take(&a);
    CHECK(log_fails == checks);
    {
        int n = 0;
        const char *p = r;
        while ((p = strstr(p, fail_line)) != NULL) {
            n++;
            p++;
        }
        CHECK(n == 200);
    }
    CHECK(auth_thr_locked(auth_throttle(),
                          lwm_the_server.sess[a.slot].peer_hash,
                          fake_now() + LWM_AUTH_LOCK_MAX_MS - 1000));
    /* once the lock is over, the right password works and clears it
     * (on a new connection: the old one's pre-auth time is up) */
    fake_close(&a);
    fake_advance(LWM_AUTH_LOCK_MAX_MS + 1);
    open_from(&a, "192.0.2.1");
    r = fake_cmd_wait(&a, "a6", "a6 LOGIN alice secret1", 5000);
    CHECK(HAS(r, "a6 OK [CAPABILITY"));
    CHECK(auth_thr_find(auth_throttle(),
                        lwm_the_server.sess[a.slot].peer_hash) == NULL);

    /* no password stays in any receive buffer */
    CHECK(!rx_holds("secret1") && !rx_holds("wrong-pw") &&
          !rx_holds("AGFsaWNlAHNlY3JldDE=") && !rx_holds("pw2"));
    fake_close(&a);
    fake_close(&b);

    /* a pipelined LOGIN behind another command, then a command behind
     * it: the password bytes are cleared, the next command still runs */
    open_from(&a, "203.0.113.5");
    {
        static const char script[] =
            "q1 NOOP\r\nq2 LOGIN \"alice\" {7+}\r\nsecret1\r\nq3 NOOP\r\n";
        fake_input(&a, script, sizeof script - 1);
    }
    fake_run();
    r = fake_take(&a);
    CHECK(HAS(r, "q1 OK") && HAS(r, "q2 OK [CAPABILITY") && HAS(r, "q3 OK"));
    CHECK(!rx_holds("secret1"));
    fake_close(&a);

    /* AUTHENTICATE with a continuation line */
    open_from(&a, "203.0.113.6");
    fake_input(&a, "c1 AUTHENTICATE PLAIN\r\n", 23);
    r = fake_take(&a);
    CHECK(HAS(r, "+ "));
    r = fake_cmd(&a, "c1", "AGFsaWNlAHNlY3JldDE=");
    CHECK(HAS(r, "c1 OK [CAPABILITY"));
    CHECK(!rx_holds("AGFsaWNlAHNlY3JldDE="));
    fake_close(&a);
    fake_log_hook = NULL;
}

/* A check of many iterations runs in steps: other sessions are answered
 * between them */
static void test_login_in_steps(void)
{
    static char hash[LWM_AUTH_HASH_STR_MAX];
    static const uint8_t salt[16] = "steps-salt-16-by";
    struct lwm_user_cfg u[2] = { { "carol", hash },
                                 { "#system", hash } };
    struct fake_conn a, b;
    struct lwm_server *srv;
    int err = 0, polls = 0;
    REQUIRE(lwm_auth_hash("carol-pw", 8, salt, sizeof salt, 50000, hash,
                          sizeof hash) > 0);
    /* '#' names are refused at init */
    CHECK(fake_server_users(&store, u, 2, &err) == NULL &&
          err == LWM_ERR_INVAL);
    u[1].name = "dave";
    u[1].pass_hash = "$pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAA";
    CHECK(fake_server_users(&store, u, 2, &err) == NULL &&
          err == LWM_ERR_INVAL);
    srv = fake_server_users(&store, u, 1, &err);
    REQUIRE(srv != NULL);
    open_from(&a, "192.0.2.10");
    open_from(&b, "192.0.2.11");
    lwm_conn_input(srv, a.slot, (const uint8_t *)"s1 LOGIN carol carol-pw\r\n",
                   25);
    lwm_conn_input(srv, b.slot, (const uint8_t *)"n1 NOOP\r\n", 9);
    CHECK(!HAS(a.out, "s1 OK") && HAS(b.out, "n1 OK"));
    /* the poll says "come back at once" while the check runs */
    while (!HAS(a.out, "s1 ") && polls < 1000) {
        CHECK(lwm_server_poll(srv) == 0 || HAS(a.out, "s1 "));
        polls++;
    }
    CHECK(HAS(a.out, "s1 OK [CAPABILITY"));
    /* one step per poll (the input itself ran the first two) */
    if (!CHECK(polls >= 50000 / LWM_AUTH_PBKDF2_STEP - 3 &&
               polls <= 50000 / LWM_AUTH_PBKDF2_STEP))
        fprintf(stderr, "  polls %d\n", polls);
    fake_close(&a);
    fake_close(&b);
}

int main(void)
{
    test_vectors();
    test_stepwise_vs_oneshot();
    test_hash_strings();
    test_user_table();
    test_throttle();
    test_throttle_flood();
    test_dummy_costs_the_same();
    test_login_through_port();
    test_login_in_steps();
    CHECK(lwm_store_check(&store, 1) == 0);
    CHECK(nor.violations == 0);
    return check_summary("test_auth");
}
