/*
 * lwmail IMAP - mailbox names in modified UTF-7 (RFC 3501 section 5.1.3).
 *
 * IMAP4rev1 clients exchange mailbox names in modified UTF-7; IMAP4rev2
 * (RFC 9051) and the store use UTF-8. Both directions validate strictly,
 * as RFC 3501 requires: printable US-ASCII must stand for itself, "&" is
 * written "&-", a shifted run is modified BASE64 (","  for "/") of UTF-16BE
 * with no leftover bits, and UTF-8 must be well formed (no overlongs, no
 * surrogates, nothing above U+10FFFF).
 */
#ifndef LWM_IMAP_MUTF7_H
#define LWM_IMAP_MUTF7_H

#include <stddef.h>

/** Decode modified UTF-7 in[0..len) into UTF-8 out (NUL-terminated, at most
 *  cap bytes with the NUL). Returns the UTF-8 length, or LWM_ERR_INVAL for
 *  a malformed name, LWM_ERR_NAMETOOLONG if it does not fit. */
int lwm_mutf7_decode(const char *in, size_t len, char *out, size_t cap);

/** Encode UTF-8 in[0..len) as modified UTF-7 (same conventions). */
int lwm_mutf7_encode(const char *in, size_t len, char *out, size_t cap);

#endif /* LWM_IMAP_MUTF7_H */
