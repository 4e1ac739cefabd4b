/*
 * lwmail IMAP - small argument grammars, parsed in place from token slices:
 * sequence sets and dates.
 */
#ifndef LWM_IMAP_ARGS_H
#define LWM_IMAP_ARGS_H

#include <stddef.h>
#include <stdint.h>

/*
 * sequence-set = (seq-number / seq-range) ["," sequence-set]
 * seq-range    = seq-number ":" seq-number
 * seq-number   = nz-number / "*"          (RFC 9051; "$" is SEARCHRES)
 * nz-number    = digit-nz *DIGIT           ; 1 .. 4294967295
 *
 * A set is validated once (lwm_seqset_valid) and then walked range by range
 * without copying; "*" stands for the largest number in use (`star`), and a
 * range's ends may come in either order ("5:2" is "2:5").
 */
struct lwm_seqset_it {
    const uint8_t *p;
    size_t len, pos;
    uint32_t star;
};

/** 1 if p[0..len) is a well-formed sequence-set, "$" or not; 0 if not. */
int lwm_seqset_valid(const uint8_t *p, size_t len, int allow_dollar);

void lwm_seqset_begin(struct lwm_seqset_it *it, const uint8_t *p,
                      size_t len, uint32_t star);
/** Next range as lo <= hi; returns 0 at the end, 1 with a range. The set
 *  must have passed lwm_seqset_valid (without "$"). */
int lwm_seqset_next(struct lwm_seqset_it *it, uint32_t *lo, uint32_t *hi);

/** Is n in the set? */
int lwm_seqset_has(const uint8_t *p, size_t len, uint32_t star, uint32_t n);

/*
 * date      = date-text / DQUOTE date-text DQUOTE
 * date-text = date-day "-" date-month "-" date-year      ; "1-Feb-2026"
 * date-time = DQUOTE date-day-fixed "-" date-month "-" date-year
 *             SP time SP zone DQUOTE     ; " 1-Feb-2026 10:20:30 +0100"
 * Both return seconds since 1970-01-01 UTC (a date: its midnight UTC), or
 * -1 when malformed. The slice excludes the quotes (a token's content).
 */
int64_t lwm_imap_date(const uint8_t *p, size_t len);
int64_t lwm_imap_datetime(const uint8_t *p, size_t len);

/** Format t (seconds since 1970, UTC) as a date-time in zone +0000 into
 *  out (27 bytes: `dd-Mon-yyyy hh:mm:ss +0000` and a NUL). */
void lwm_imap_format_datetime(int64_t t, char out[27]);

/*
 * Strings. astring = 1*ASTRING-CHAR / string; string = quoted / literal.
 * lwm_imap_string_value() copies a token's value (quoted: without the
 * escapes) into out and NUL-terminates it; returns its length, or -1 if it
 * does not fit or holds a NUL. lwm_imap_string_form() says how a value
 * must go on the wire: 'A' as an atom, 'Q' quoted, 'L' as a literal (CR,
 * LF, NUL, 8-bit bytes, or too long to quote comfortably).
 */
struct lwm_tok;
int lwm_imap_string_value(const uint8_t *buf, const struct lwm_tok *t,
                          char *out, size_t cap);
int lwm_imap_string_form(const uint8_t *p, size_t len);

/** The system flags' names by bit (LWM_FLAG_SEEN ... LWM_FLAG_DRAFT), back
 *  to back: "\\Seen\0\\Answered\0..." (compare them case-insensitively) */
extern const char lwm_imap_flag_names[];

#endif /* LWM_IMAP_ARGS_H */
