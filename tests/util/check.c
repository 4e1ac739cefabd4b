/*
 * lwmail tests - counters behind CHECK()/REQUIRE() (see check.h).
 */
#include "check.h"

#include <stdio.h>

unsigned long check_passed;
unsigned long check_failed;

int check_record(int ok, const char *expr, const char *file, int line)
{
    if (ok) {
        check_passed++;
        return 1;
    }
    check_failed++;
    fflush(stdout);
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
    fflush(stderr);
    return 0;
}

int check_summary(const char *name)
{
    printf("%s: %lu passed, %lu failed\n", name, check_passed, check_failed);
    fflush(stdout);
    return check_failed == 0 ? 0 : 1;
}
