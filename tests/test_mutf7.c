/*
 * Tests of modified UTF-7 mailbox names (src/imap/mutf7.c): the RFC 3501
 * example, both directions, round trips, and the malformed inputs RFC 3501
 * says a server must not accept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/imap/mutf7.h"
#include "check.h"
#include "lwmail/lwm_err.h"

static const struct { const char *utf8, *mutf7; } pairs[] = {
    { "INBOX", "INBOX" },
    { "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa"
      "\x9e", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },            /* RFC 3501 */
    { "Entw\xc3\xbcrfe", "Entw&APw-rfe" },
    { "\xf0\x9f\x98\x80 x", "&2D3eAA- x" },                    /* surrogates */
    { "&", "&-" },
    { "\xc3\x84&\xc3\x96", "&AMQ-&-&ANY-" },
    { "\xd0\x9a\xd0\xbe\xd1\x80\xd0\xb7\xd0\xb8\xd0\xbd\xd0\xb0/\xd0\x92\xd1"
      "\x85\xd0\xbe\xd0\xb4\xd1\x8f\xd1\x89\xd0\xb8\xd0\xb5",
      "&BBoEPgRABDcEOAQ9BDA-/&BBIERQQ+BDQETwRJBDgENQ-" },
    { "", "" },
};

static const char *const bad_mutf7[] = {
    "&",            /* unterminated */
    "&AMQ",         /* unterminated */
    "&-&",          /* unterminated */
    "&AGE-",        /* "a" (printable ASCII) must stand for itself */
    "&AMQ-&ANY-",   /* two runs back to back: must be one */
    "&2D0-",        /* lone high surrogate */
    "&3gA-",        /* lone low surrogate */
    "&AM-",         /* half a character */
    "&AMR-",        /* non-zero padding bits */
    "&A/Q-",        /* "/" is not modified BASE64 */
    "a\tb",         /* control character */
    "caf\xc3\xa9",  /* 8-bit bytes are not UTF-7 */
};

static const char *const bad_utf8[] = {
    "\xc3",             /* truncated */
    "\xc0\xaf",         /* overlong "/" */
    "\xed\xa0\x80",     /* surrogate U+D800 */
    "\xf4\x90\x80\x80", /* above U+10FFFF */
    "\x80",             /* stray continuation */
    "a\x01",            /* control character */
};

int main(void)
{
    char out[256], back[256];
    size_t i;
    int n;

    for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        n = lwm_mutf7_encode(pairs[i].utf8, strlen(pairs[i].utf8), out,
                             sizeof out);
        if (!CHECK(n == (int)strlen(pairs[i].mutf7) &&
                   strcmp(out, pairs[i].mutf7) == 0))
            printf("  encode %zu: %d '%s' want '%s'\n", i, n, out,
                   pairs[i].mutf7);
        n = lwm_mutf7_decode(pairs[i].mutf7, strlen(pairs[i].mutf7), out,
                             sizeof out);
        if (!CHECK(n == (int)strlen(pairs[i].utf8) &&
                   strcmp(out, pairs[i].utf8) == 0))
            printf("  decode %zu: %d\n", i, n);
    }
    for (i = 0; i < sizeof bad_mutf7 / sizeof bad_mutf7[0]; i++) {
        n = lwm_mutf7_decode(bad_mutf7[i], strlen(bad_mutf7[i]), out,
                             sizeof out);
        if (!CHECK(n == LWM_ERR_INVAL))
            printf("  accepted bad mUTF-7 '%s' -> %d '%s'\n", bad_mutf7[i],
                   n, n >= 0 ? out : "");
    }
    for (i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++)
        CHECK(lwm_mutf7_encode(bad_utf8[i], strlen(bad_utf8[i]), out,
                               sizeof out) == LWM_ERR_INVAL);
    /* output that does not fit is an error, never an overflow */
    CHECK(lwm_mutf7_encode("Entw\xc3\xbcrfe", 9, out, 6) ==
          LWM_ERR_NAMETOOLONG);
    CHECK(lwm_mutf7_decode("Entw&APw-rfe", 12, out, 5) ==
          LWM_ERR_NAMETOOLONG);
    CHECK(lwm_mutf7_decode("abc", 3, out, 4) == 3);
    CHECK(lwm_mutf7_decode("abc", 3, out, 3) == LWM_ERR_NAMETOOLONG);

    /* round trip of random valid UTF-8 names */
    srand(9);
    for (i = 0; i < 5000; i++) {
        char name[64];
        size_t o = 0;
        while (o + 5 < sizeof name && rand() % 12) {
            unsigned cp;
            switch (rand() % 4) {
            case 0: cp = 0x20 + (unsigned)rand() % 0x5F; break;
            case 1: cp = 0x80 + (unsigned)rand() % 0x780; break;
            case 2: cp = 0x800 + (unsigned)rand() % 0xD000; break;
            default: cp = 0x10000 + (unsigned)rand() % 0xFFFFF; break;
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 'x';
            if (cp < 0x80) {
                name[o++] = (char)cp;
            } else if (cp < 0x800) {
                name[o++] = (char)(0xC0 | cp >> 6);
                name[o++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                name[o++] = (char)(0xE0 | cp >> 12);
                name[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
                name[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                name[o++] = (char)(0xF0 | cp >> 18);
                name[o++] = (char)(0x80 | (cp >> 12 & 0x3F));
                name[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
                name[o++] = (char)(0x80 | (cp & 0x3F));
            }
        }
        name[o] = 0;
        n = lwm_mutf7_encode(name, o, out, sizeof out);
        if (!CHECK(n >= 0))
            continue;
        n = lwm_mutf7_decode(out, (size_t)n, back, sizeof back);
        CHECK(n == (int)o && memcmp(back, name, o) == 0);
    }
    return check_summary("test_mutf7");
}
