/*
 * Tests of the small IMAP argument grammars (src/imap/args.c): sequence
 * sets and dates.
 */
#include <stdio.h>
#include <string.h>

#include "../src/imap/args.h"
#include "../src/imap/parse.h"
#include "check.h"

#define S(x) (const uint8_t *)(x), strlen(x)

static void seqsets(void)
{
    static const char *const good[] = { "1", "*", "1:*", "1,3:5,7",
                                         "4294967295", "5:2", "*:4", "1,1" };
    static const char *const bad[] = { "", "0", "1:", ":1", "1,", ",1",
                                       "1:2:3", "4294967296", "01", "a",
                                       "1 2", "1,,2", "$" };
    struct lwm_seqset_it it;
    uint32_t lo, hi, n;
    size_t i;

    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!CHECK(lwm_seqset_valid(S(good[i]), 0)))
            printf("  rejected '%s'\n", good[i]);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!CHECK(!lwm_seqset_valid(S(bad[i]), 0)))
            printf("  accepted '%s'\n", bad[i]);
    CHECK(lwm_seqset_valid(S("$"), 1));
    CHECK(!lwm_seqset_valid(S("$,1"), 1));

    /* ranges come out ordered, "*" is the largest number in use */
    lwm_seqset_begin(&it, S("1,3:5,9:*,*:7"), 12);
    CHECK(lwm_seqset_next(&it, &lo, &hi) == 1 && lo == 1 && hi == 1);
    CHECK(lwm_seqset_next(&it, &lo, &hi) == 1 && lo == 3 && hi == 5);
    CHECK(lwm_seqset_next(&it, &lo, &hi) == 1 && lo == 9 && hi == 12);
    CHECK(lwm_seqset_next(&it, &lo, &hi) == 1 && lo == 7 && hi == 12);
    CHECK(lwm_seqset_next(&it, &lo, &hi) == 0);
    /* "*" beyond the set's other end: 20:* with star 12 is 12:20 */
    lwm_seqset_begin(&it, S("20:*"), 12);
    CHECK(lwm_seqset_next(&it, &lo, &hi) == 1 && lo == 12 && hi == 20);
    for (n = 0; n <= 14; n++)
        CHECK(lwm_seqset_has(S("2,4:6,10:*"), 12, n) ==
              (n == 2 || (n >= 4 && n <= 6) || (n >= 10 && n <= 12)));
    CHECK(lwm_seqset_has(S("4294967295"), 1, 4294967295u));
}

static void dates(void)
{
    char out[27];
    /* RFC 9051 date-time: the zone is local time's offset from UTC */
    CHECK(lwm_imap_datetime(S("17-Jul-1996 02:44:25 -0700")) ==
          837596665);
    CHECK(lwm_imap_datetime(S(" 1-Jan-1970 00:00:00 +0000")) == 0);
    CHECK(lwm_imap_datetime(S("01-Jan-1970 01:00:00 +0100")) == 0);
    CHECK(lwm_imap_datetime(S("29-Feb-2024 12:00:00 +0000")) ==
          1709208000);
    CHECK(lwm_imap_datetime(S("22-nov-2026 01:00:00 +0000")) ==
          1795309200);
    /* malformed */
    CHECK(lwm_imap_datetime(S("29-Feb-2023 12:00:00 +0000")) == -1);
    CHECK(lwm_imap_datetime(S("1-Jan-1970 00:00:00 +0000")) == -1);
    CHECK(lwm_imap_datetime(S("17-Jul-1996 24:00:00 +0000")) == -1);
    CHECK(lwm_imap_datetime(S("17-Jul-1996 02:44:25 0700")) == -1);
    CHECK(lwm_imap_datetime(S("17-Jux-1996 02:44:25 +0700")) == -1);
    CHECK(lwm_imap_datetime(S("17-Jul-1996 02:44:25 +0700 ")) == -1);
    CHECK(lwm_imap_datetime(S("32-Jan-1996 02:44:25 +0700")) == -1);
    /* date (SEARCH BEFORE/ON/SINCE) */
    CHECK(lwm_imap_date(S("1-Feb-2026")) == 1769904000);
    CHECK(lwm_imap_date(S("01-Feb-2026")) == 1769904000);
    CHECK(lwm_imap_date(S("31-Dec-1999")) == 946598400);
    CHECK(lwm_imap_date(S("31-Apr-1999")) == -1);
    CHECK(lwm_imap_date(S("1-Feb-26")) == -1);
    CHECK(lwm_imap_date(S("1-Feb-2026x")) == -1);
    CHECK(lwm_imap_date(S("")) == -1);
    /* formatting, and round trips over 200 years */
    lwm_imap_format_datetime(837571465, out);
    CHECK(strcmp(out, "17-Jul-1996 02:44:25 +0000") == 0);
    lwm_imap_format_datetime(0, out);
    CHECK(strcmp(out, "01-Jan-1970 00:00:00 +0000") == 0);
    {
        int64_t t;
        for (t = 0; t < 200LL * 365 * 86400; t += 86400 * 13 + 3607) {
            lwm_imap_format_datetime(t, out);
            if (!CHECK(lwm_imap_datetime((const uint8_t *)out, 26) == t)) {
                printf("  %lld -> %s\n", (long long)t, out);
                break;
            }
        }
    }
}

static void strings(void)
{
    static const uint8_t cmd[] =
        "a LOGIN \"jo\\\"e\\\\x\" {5}\r\np@ss! atom\r\n";
    struct lwm_cmd c;
    struct lwm_tok t[8];
    char out[16];
    int r = lwm_imap_parse(cmd, sizeof cmd - 1, 4096, &c, t, 8);
    CHECK(r == (int)sizeof cmd - 1 && c.ntoks == 3);
    CHECK(lwm_imap_string_value(cmd, &t[0], out, sizeof out) == 6 &&
          strcmp(out, "jo\"e\\x") == 0);
    CHECK(lwm_imap_string_value(cmd, &t[1], out, sizeof out) == 5 &&
          strcmp(out, "p@ss!") == 0);
    CHECK(lwm_imap_string_value(cmd, &t[2], out, sizeof out) == 4 &&
          strcmp(out, "atom") == 0);
    CHECK(lwm_imap_string_value(cmd, &t[0], out, 6) == -1);  /* too long */
    /* the wire form of a value */
    CHECK(lwm_imap_string_form(S("INBOX")) == 'A');
    CHECK(lwm_imap_string_form(S("Sent Items")) == 'Q');
    CHECK(lwm_imap_string_form(S("")) == 'Q');
    CHECK(lwm_imap_string_form(S("nil")) == 'Q');
    CHECK(lwm_imap_string_form(S("a\"b")) == 'Q');
    CHECK(lwm_imap_string_form(S("x]y")) == 'Q');
    CHECK(lwm_imap_string_form(S("line\r\nbreak")) == 'L');
    CHECK(lwm_imap_string_form(S("caf\xc3\xa9")) == 'L');
}

int main(void)
{
    seqsets();
    dates();
    strings();
    return check_summary("test_imap_args");
}
