/*
 * Benchmark: PBKDF2-HMAC-SHA256, 100,000 iterations, as a login check
 * runs it (src/auth, LWM_AUTH_PBKDF2_STEP iterations a step) and as
 * mbedTLS's one-shot mbedtls_pkcs5_pbkdf2_hmac does. One figure a line.
 *
 *   cmake -S . -B build/rel -G Ninja -DCMAKE_BUILD_TYPE=Release
 *   cmake --build build/rel --target bench_auth && build/rel/tests/bench_auth
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/auth/auth.h"
#include "mbedtls/pkcs5.h"
#include "mbedtls/platform.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(void)
{
    static const uint8_t salt[16] = "bench-salt-16-by";
    enum { ITERS = 100000, RUNS = 5 };
    double best_step = 1e9, best_one = 1e9, worst_chunk = 0;
    uint8_t a[32], b[32];
    mbedtls_md_context_t md;
    int run;
    mbedtls_platform_set_calloc_free(calloc, free);
    mbedtls_md_init(&md);
    if (mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                         1) != 0)
        return 1;
    for (run = 0; run < RUNS; run++) {
        struct auth_kdf k;
        double t0 = now_ms(), t1, t;
        auth_kdf_start(&k, (const uint8_t *)"correct horse", 13, salt, 16,
                       ITERS, 32);
        for (;;) {
            double c0 = now_ms();
            int done = auth_kdf_step(&k, LWM_AUTH_PBKDF2_STEP);
            double c = now_ms() - c0;
            if (c > worst_chunk)
                worst_chunk = c;
            if (done)
                break;
        }
        t1 = now_ms();
        memcpy(a, k.dk, 32);
        if (t1 - t0 < best_step)
            best_step = t1 - t0;
        t = now_ms();
        mbedtls_pkcs5_pbkdf2_hmac(&md, (const uint8_t *)"correct horse", 13,
                                  salt, 16, ITERS, 32, b);
        if (now_ms() - t < best_one)
            best_one = now_ms() - t;
        if (memcmp(a, b, 32) != 0) {
            fprintf(stderr, "bench_auth: results differ\n");
            return 1;
        }
    }
    mbedtls_md_free(&md);
    printf("pbkdf2_sha256_100k_stepwise_ms: %.1f (best of %d)\n", best_step,
           RUNS);
    printf("pbkdf2_sha256_100k_mbedtls_oneshot_ms: %.1f (best of %d)\n",
           best_one, RUNS);
    printf("pbkdf2_step_of_%d_iterations_worst_ms: %.2f\n",
           LWM_AUTH_PBKDF2_STEP, worst_chunk);
    return 0;
}
