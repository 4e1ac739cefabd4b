/*
 * lwmail tests - a tiny check macro shared by all host tests.
 *
 * CHECK(cond) counts a pass, or prints "file:line: CHECK failed: cond" to
 * stderr and counts a failure; it does not stop the test, so one run reports
 * every broken check. It evaluates to 1 or 0, so `if (!CHECK(x)) return;`
 * works. REQUIRE(cond) does the same but exits the process with status 1 on
 * failure (use it where continuing makes no sense, e.g. setup).
 * Neither uses assert.h, so both work with NDEBUG.
 *
 * The counters live in tests/util/check.c (linked into every test through
 * the lwm_testutil library), so CHECKs in helper sources such as
 * tests/model.c count towards the same totals.
 *
 * End main() with `return check_summary("test_name");`: it prints
 * "test_name: N passed, M failed" to stdout and returns 0 if nothing failed,
 * else 1.
 */
#ifndef LWM_TEST_CHECK_H
#define LWM_TEST_CHECK_H

#include <stdlib.h>

extern unsigned long check_passed;
extern unsigned long check_failed;

/** Record one check; returns ok. Prints the location on failure. */
int check_record(int ok, const char *expr, const char *file, int line);

/** Print "name: N passed, M failed"; return the process exit code. */
int check_summary(const char *name);

/** Count cond as a pass or a failure; evaluates to 1 or 0. */
#define CHECK(cond) check_record(!!(cond), #cond, __FILE__, __LINE__)

/** Like CHECK, but print the summary so far and exit(1) on failure. */
#define REQUIRE(cond)                                                  \
    do {                                                               \
        if (!check_record(!!(cond), #cond, __FILE__, __LINE__)) {      \
            (void)check_summary("REQUIRE failed, stopping");           \
            exit(1);                                                   \
        }                                                              \
    } while (0)

#endif /* LWM_TEST_CHECK_H */
