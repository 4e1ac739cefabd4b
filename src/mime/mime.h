/*
 * lwmail MIME - a streaming MIME parser and the message summary it leaves.
 *
 * At APPEND (and SMTP delivery) a message streams through lwm_mime_feed()
 * in chunks of any size, down to one byte. The parser keeps no copy of the
 * message: only a fixed table of parts (offsets, sizes, line counts,
 * decoded sizes) and a small arena with the header values IMAP needs. At
 * the end, lwm_mime_render() writes the "summary blob" that the store keeps
 * next to the message on flash. FETCH later answers ENVELOPE, BODY,
 * BODYSTRUCTURE and BODY[section] / BINARY[section] from the blob alone
 * (lwm_mime_sum_info, lwm_mime_section, lwm_mime_dec_*), reading it through
 * a callback, without parsing the message again.
 *
 * Nothing here fails: malformed input (missing or broken boundaries,
 * headers without a blank line, bare LF line ends, over-long lines, too
 * many or too deeply nested parts, arena exhaustion) degrades the summary,
 * and the blob is always valid IMAP syntax. See "Degradation" below.
 *
 * Everything lives in the caller's struct lwm_mime; there is no heap and no
 * I/O. Single-threaded like the rest of the core.
 *
 * How messages are read (checked against Dovecot 2.3; differences noted):
 *  - Lines end in CRLF or a bare LF. Sizes are octets as stored (a bare
 *    LF counts 1; Dovecot counts 2); lines count LFs.
 *  - Header values are unfolded (CR, LF removed), trimmed, NULs dropped;
 *    encoded words stay encoded. The first occurrence of a field counts
 *    (Dovecot takes the last envelope field). Content-* fields count
 *    with or without MIME-Version (Dovecot ignores them without it).
 *  - A delimiter line is exactly "--" boundary, then "--" for the close
 *    delimiter or white space, as RFC 2046 says (Dovecot also accepts
 *    "--boundaryX"); anything after that on the line is ignored. The
 *    innermost open multipart is tried first; an outer delimiter ends the
 *    inner parts. The line end before a delimiter belongs to it, also when
 *    it cuts a header short. Preamble and epilogue belong to no part.
 *  - Addresses follow RFC 5322 with obsolete forms and routes, leniently:
 *    a missing local part or domain is "MISSING_MAILBOX" /
 *    "MISSING_DOMAIN" as in Dovecot (a NIL host would read as a group
 *    start), the comment of a bare addr-spec is its name, groups always
 *    end with (NIL NIL NIL NIL), elements without any address are left
 *    out.
 *  - Encodings are shown as "7BIT", "8BIT", "BINARY", "BASE64",
 *    "QUOTED-PRINTABLE" (Dovecot: as written); others as written. Types,
 *    subtypes and parameters are as written (RFC 2231 continuations are
 *    not joined); a text part without charset gets ("charset" "us-ascii").
 */
#ifndef LWM_MIME_H
#define LWM_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "lwmail/lwm_opts.h"

/* ---------------------------------------------------------------- options
 * (They move to lwm_opts.h later; a board's lwm_config.h may set them.)
 */

/** Parts one message may have (the message itself is part 0; a
 *  message/rfc822 part and the message inside it are two parts). Parts
 *  beyond this are left out of the structure (their bytes still count in
 *  their parent). RAM: 40 bytes each; blob: 32 bytes each. 2..65535. */
#ifndef LWM_MIME_MAX_PARTS
#define LWM_MIME_MAX_PARTS 32
#endif

/** Nesting levels parsed (part 0 is level 0; a child of a multipart or the
 *  message inside a message/rfc822 part is one level deeper). A multipart
 *  or message/rfc822 part at this level is kept as one opaque leaf.
 *  RAM: 6 bytes each (the boundary stack). 1..64. */
#ifndef LWM_MIME_MAX_DEPTH
#define LWM_MIME_MAX_DEPTH 8
#endif

/** Bytes of the arena holding the header values the summary needs
 *  (Content-* fields of every part, the envelope fields of every message).
 *  A value costs its unfolded length plus 3 bytes. When it runs short,
 *  later values are cut or dropped (Content-Type goes first, see
 *  LWM_MIME_STR_RESERVE). RAM: this many bytes. 256..65535. */
#ifndef LWM_MIME_STR_MAX
#define LWM_MIME_STR_MAX 2048
#endif

/** Arena bytes only Content-Type and Content-Transfer-Encoding may use,
 *  so that a large envelope cannot cost the structure of later parts. */
#ifndef LWM_MIME_STR_RESERVE
#define LWM_MIME_STR_RESERVE (LWM_MIME_STR_MAX / 8)
#endif

/** Longest header value kept, in bytes after unfolding. A longer value is
 *  cut at a safe point: address lists after the last whole address,
 *  Content-Type/-Disposition after the last whole parameter, text at a
 *  UTF-8 character boundary before any unfinished encoded word. Other
 *  values are also limited to half the free arena, so one huge field
 *  cannot starve the rest. */
#ifndef LWM_MIME_FIELD_MAX
#define LWM_MIME_FIELD_MAX 1000
#endif

/** Longest multipart boundary accepted (RFC 2046 allows 70). A multipart
 *  with a longer one is kept as an opaque leaf. RAM: this + 4 bytes. */
#ifndef LWM_MIME_BOUNDARY_MAX
#define LWM_MIME_BOUNDARY_MAX 76
#endif

#if LWM_MIME_MAX_PARTS < 2 || LWM_MIME_MAX_PARTS > 65535
#error "LWM_MIME_MAX_PARTS must be 2..65535"
#endif
#if LWM_MIME_MAX_DEPTH < 1 || LWM_MIME_MAX_DEPTH > 64
#error "LWM_MIME_MAX_DEPTH must be 1..64"
#endif
#if LWM_MIME_STR_MAX < 256 || LWM_MIME_STR_MAX > 65535
#error "LWM_MIME_STR_MAX must be 256..65535"
#endif
#if LWM_MIME_STR_RESERVE >= LWM_MIME_STR_MAX
#error "LWM_MIME_STR_RESERVE must be below LWM_MIME_STR_MAX"
#endif
#if LWM_MIME_BOUNDARY_MAX < 1 || LWM_MIME_BOUNDARY_MAX > 250
#error "LWM_MIME_BOUNDARY_MAX must be 1..250"
#endif
#if LWM_SUMMARY_MAX < 512
#error "LWM_SUMMARY_MAX must be at least 512 (the smallest MIME summary)"
#endif

/* ---------------------------------------------------------------- blob
 *
 * The summary blob, version 1. All integers little-endian.
 *
 *   header (40 bytes)
 *     0  u8[4]  magic "LWMB"
 *     4  u8     version (LWM_MIME_BLOB_VERSION = 1)
 *     5  u8     degradation level the strings were rendered at (0 = full)
 *     6  u16    nparts: entries in the part table (>= 1)
 *     8  u32    msg_size: octets of the message
 *    12  u32    env_off   \  the ENVELOPE value, "(date subject from
 *    16  u32    env_len   /  sender reply-to to cc bcc in-reply-to
 *                            message-id)", ready to send
 *    20  u32    bs_off    \  the BODYSTRUCTURE value (with extension
 *    24  u32    bs_len    /  data unless degraded), ready to send
 *    28  u32    body_off  \  the BODY value (no extension data)
 *    32  u32    body_len  /
 *    36  u32    CRC-32C (lwm_crc32c, start 0) of bytes 0..35 and the
 *               whole part table
 *   part table at offset 40: nparts entries of 32 bytes, in pre-order
 *   (a parent before its children, children in order)
 *     0  u32    hdr_off   the part's header (a multipart child's MIME
 *     4  u32    hdr_len   header; the message header for part 0 and for a
 *                         message inside message/rfc822), including the
 *                         blank line that ends it (if there was one)
 *     8  u32    body_off  the part's body: hdr_off + hdr_len
 *    12  u32    body_len
 *    16  u32    binary_size  body octets after Content-Transfer-Encoding
 *                         decoding (= body_len for identity encodings)
 *    20  u32    lines     line ends (LF) in the body
 *    24  u16    parent    index of the parent entry (0xFFFF for part 0)
 *    26  u16    child     1-based position among the parent's children
 *                         (0 for part 0)
 *    28  u8     flags     LWM_MIME_F_*
 *    29  u8     encoding  LWM_MIME_ENC_* of the body
 *    30  u16    reserved, 0
 *   then the three strings at the offsets the header gives (env, bs,
 *   body, back to back), nothing after them.
 *
 * Part 0 is the whole message: hdr_off 0, body_off + body_len = msg_size.
 * A multipart's children have it as parent. A message/rfc822 (or
 * message/global) part has exactly one child, the message inside, whose
 * header starts at the part's body_off. Strings are IMAP syntax as sent:
 * nstrings are NIL, "quoted" (\ and " escaped) or {n}CRLF literals (when
 * a value holds 8-bit bytes or CR/LF, or is long).
 *
 * Degradation. The blob never exceeds LWM_SUMMARY_MAX (or the limit set
 * with lwm_mime_set_max). Rendering tries
 * level 0 and steps up until the blob fits:
 *   0  everything
 *   1  envelopes of messages inside message/rfc822 parts become all NIL
 *   2  BODYSTRUCTURE loses its extension data (it equals BODY)
 *   3  body parameters, Content-ID and -Description become NIL; address
 *      lists keep their first 16 addresses, date and subject 256 bytes,
 *      longer message-ids become NIL; types longer than 64 bytes become
 *      "application" "octet-stream"
 *   4  addresses become NIL, date and subject keep 128 bytes, types must
 *      be short plain atoms; parts below level 2 become opaque leaves
 *   5  one opaque part: the table holds part 0 only (identity), the
 *      envelope is all NIL, BODY = BODYSTRUCTURE = ("application"
 *      "octet-stream" NIL NIL NIL "7BIT" size)
 * Opaque leaves (a multipart or message/rfc822 that was not parsed: too
 * deep, no usable boundary, a message/rfc822 with a non-identity
 * encoding, or collapsed by level 4) appear as "application"
 * "octet-stream" with their own parameters, so that a client never sees a
 * multipart or message type without the structure that must follow it.
 */
#define LWM_MIME_BLOB_VERSION 1
#define LWM_MIME_BLOB_HDR 40
#define LWM_MIME_BLOB_ENT 32

/** Part flags (blob and RAM). */
#define LWM_MIME_F_MULTIPART 0x01 /* parsed multipart: has children */
#define LWM_MIME_F_MESSAGE 0x02   /* parsed message/rfc822|global: 1 child */
#define LWM_MIME_F_TEXT 0x04      /* type "text" (BODYSTRUCTURE has lines) */
#define LWM_MIME_F_OPAQUE 0x08    /* multipart/message kept as a leaf */

/** Content-Transfer-Encodings as far as decoding goes. */
enum lwm_mime_enc {
    LWM_MIME_ENC_IDENTITY = 0, /* 7bit, 8bit, binary or none */
    LWM_MIME_ENC_BASE64 = 1,
    LWM_MIME_ENC_QP = 2,       /* quoted-printable */
    LWM_MIME_ENC_UNKNOWN = 3   /* BINARY[] must answer NO [UNKNOWN-CTE] */
};

/** Section kinds for lwm_mime_section. */
enum lwm_mime_sec {
    LWM_MIME_SEC_ALL = 0, /* BODY[] / BODY[1.2] / BINARY[1.2] */
    LWM_MIME_SEC_HEADER,  /* BODY[HEADER] / BODY[1.2.HEADER] */
    LWM_MIME_SEC_TEXT,    /* BODY[TEXT] / BODY[1.2.TEXT] */
    LWM_MIME_SEC_MIME     /* BODY[1.2.MIME] */
};

/* ---------------------------------------------------------------- state */

/** Streaming decoder for BINARY[] (base64, quoted-printable, identity). */
struct lwm_mime_dec {
    uint32_t acc;      /* base64: bits collected */
    uint8_t enc;       /* enum lwm_mime_enc */
    uint8_t n;         /* base64: sextets in acc */
    uint8_t st;        /* quoted-printable state */
    uint8_t hex;       /* quoted-printable: first hex digit after "=" */
    uint8_t nws;       /* quoted-printable: whitespace held back */
    uint8_t npend;     /* output that did not fit, pend[ppos..npend) */
    uint8_t ppos;
    uint8_t ws[16];
    uint8_t pend[24];
};

/** One part while parsing (private). */
struct lwm_mime_part {
    uint32_t hdr_off, hdr_len, body_off, body_len, bin_size, lines;
    uint16_t parent, child, nchild; /* nchild: children so far */
    uint16_t str_off, str_len;      /* its header values in the arena */
    uint8_t flags, enc, depth, cte;
};

/** The parser. Fixed size, caller-allocated; the members are private.
 *  3,600 bytes with the default options (x86-64 and Cortex-M alike):
 *  LWM_MIME_MAX_PARTS * 40 + LWM_MIME_STR_MAX + LWM_MIME_BOUNDARY_MAX +
 *  LWM_MIME_MAX_DEPTH * 6 + about 150. */
struct lwm_mime {
    /* the scalars first: at small offsets, Thumb code reaches them with
     * its short load and store forms */
    uint8_t state, ctx, nbnd, llen, nlen, eol, cr, tag, level;
    uint16_t nparts, cur;         /* parts used; innermost open part */
    uint16_t str_used;            /* arena bytes used */
    uint16_t fld, flen, fcap;     /* the value being collected */
    uint16_t flags;
    uint32_t pos, nl;             /* octets and LFs fed so far */
    uint32_t line_start, line_nl; /* where the current line began */
    uint32_t seen;                /* header fields seen in this header */
    uint32_t blob_len, env_len, bs_len, body_len; /* rendering cache */
    uint32_t blob_max;            /* lwm_mime_set_max */
    struct lwm_mime_dec dec;      /* decoded size of the current leaf */
    struct {
        uint16_t part, off; /* an open multipart; its boundary in str[] */
        uint8_t len;
    } bnd[LWM_MIME_MAX_DEPTH];
    uint8_t name[28];                        /* a header field name */
    uint8_t line[LWM_MIME_BOUNDARY_MAX + 4]; /* a possible boundary line */
    struct lwm_mime_part part[LWM_MIME_MAX_PARTS];
    uint8_t str[LWM_MIME_STR_MAX];           /* the header value arena */
};

/** Prepare m for a new message. */
void lwm_mime_init(struct lwm_mime *m);

/** Feed the next n bytes of the message. */
void lwm_mime_feed(struct lwm_mime *m, const void *p, size_t n);

/** The message is complete (idempotent; feeding afterwards is ignored). */
void lwm_mime_end(struct lwm_mime *m);

/** Keep the blob within max bytes instead of LWM_SUMMARY_MAX (clamped to
 *  512..LWM_SUMMARY_MAX); call before the first blob_size/render. */
void lwm_mime_set_max(struct lwm_mime *m, uint32_t max);

/** Total size of the blob (at most LWM_SUMMARY_MAX). Ends the message if
 *  lwm_mime_end was not called. */
uint32_t lwm_mime_blob_size(struct lwm_mime *m);

/** Copy blob bytes [off, off + cap) into out; returns the bytes copied
 *  (0 at or past the end). Calls may come in any order; each renders the
 *  blob again up to off + cap (nothing is buffered). */
size_t lwm_mime_render(struct lwm_mime *m, uint32_t off, uint8_t *out,
                       size_t cap);

/* ---------------------------------------------------------------- readers */

/** Reads len bytes of the blob at off into buf; returns the bytes read
 *  (anything but len is treated as an error) or a negative error. */
typedef int (*lwm_mime_read_fn)(void *ctx, uint32_t off, void *buf,
                                uint32_t len);

/** What lwm_mime_sum_info learns from a blob's header. */
struct lwm_mime_sum {
    uint32_t env_off, env_len, bs_off, bs_len, body_off, body_len;
    uint32_t msg_size, blob_len;
    uint16_t nparts;
    uint8_t level;
};

/** Read and check a blob's header and part table (magic, version, bounds,
 *  CRC). Returns 0, LWM_ERR_CORRUPT for a bad blob, or the reader's
 *  error. */
int lwm_mime_sum_info(lwm_mime_read_fn rd, void *ctx, uint32_t blob_len,
                      struct lwm_mime_sum *s);

/** Where a section is in the message. */
struct lwm_mime_range {
    uint32_t off, len;     /* message octets of the section */
    uint32_t binary_size;  /* octets after decoding (BINARY.SIZE) */
    uint8_t encoding;      /* enum lwm_mime_enc to decode BINARY with */
    uint8_t found;         /* 0: no such section (send an empty string) */
};

/** Resolve BODY[path.kind] (RFC 9051 6.4.5): path holds npath part
 *  numbers (1-based; npath 0 means the message itself), kind an enum
 *  lwm_mime_sec. For a non-multipart message part 1 is its body; for a
 *  message/rfc822 part N, N.HEADER and N.TEXT are the message inside it
 *  and N.1 is that message's body (or first child). MIME is invalid for
 *  the message itself. Sections that do not exist give found = 0.
 *  Returns 0, LWM_ERR_CORRUPT, LWM_ERR_INVAL or the reader's error. */
int lwm_mime_section(lwm_mime_read_fn rd, void *ctx,
                     const struct lwm_mime_sum *s, const uint32_t *path,
                     int npath, int kind, struct lwm_mime_range *r);

/** Start decoding a body with encoding (enum lwm_mime_enc; UNKNOWN passes
 *  bytes through, but BINARY must refuse it with [UNKNOWN-CTE]). */
void lwm_mime_dec_init(struct lwm_mime_dec *d, int encoding);

/** Decode in[0..inlen) into out[0..outcap): returns the bytes produced,
 *  *used the bytes of in consumed (it may stop early when out is full).
 *  out may be NULL to only count (outcap is then ignored). At the end of
 *  the input call it with inlen 0 until it returns 0. Base64 skips
 *  characters outside its alphabet and decodes a short last group;
 *  quoted-printable drops soft line breaks and trailing whitespace and
 *  passes malformed "=" sequences through unchanged. */
size_t lwm_mime_dec_run(struct lwm_mime_dec *d, const uint8_t *in,
                        size_t inlen, size_t *used, uint8_t *out,
                        size_t outcap);

#endif /* LWM_MIME_H */
