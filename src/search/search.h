/*
 * lwmail IMAP - SEARCH: compile the search keys once, then decide each
 * message in bounded steps while its bytes stream past.
 *
 * lwm_search_compile() turns the arguments of SEARCH / UID SEARCH into a
 * small program held in a caller-allocated struct lwm_search_prog. For each
 * message the caller then does:
 *
 *     lwm_search_begin(p, &msg, max_seq, max_uid);
 *     while (lwm_search_wants(p)) {
 *         read the next chunk of the message from flash;
 *         if (none left) break;
 *         lwm_search_feed(p, chunk, n);
 *     }
 *     if (lwm_search_result(p)) report msg.seq or msg.uid;
 *
 * Keys that look only at flags, numbers, sets or the internal date are
 * decided in lwm_search_begin(); a message is read only while some
 * undecided key needs its text, and reading stops as soon as the outcome
 * is known. One feed call costs O(n x substring keys) steps (plus at most
 * one needle length per key and byte for the KMP fallback), so the caller
 * bounds the work of one step by the chunk size it chooses.
 *
 * Grammar (RFC 9051 section 6.4.4 and 9, RFC 3501 6.4.4, RFC 4731 RETURN,
 * RFC 5182 "$"):
 *   search         = [search-return-opts SP] [CHARSET SP charset SP]
 *                    search-key *(SP search-key)       ; implicit AND
 *   search-return-opts = "RETURN" SP "(" [return-opt *(SP return-opt)] ")"
 *   return-opt     = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE"
 *   search-key     = "ALL" / "ANSWERED" / "BCC" SP astring /
 *                    "BEFORE" SP date / "BODY" SP astring /
 *                    "CC" SP astring / "DELETED" / "FLAGGED" /
 *                    "FROM" SP astring / "KEYWORD" SP flag-keyword /
 *                    "NEW" / "OLD" / "ON" SP date / "RECENT" / "SEEN" /
 *                    "SINCE" SP date / "SUBJECT" SP astring /
 *                    "TEXT" SP astring / "TO" SP astring /
 *                    "UNANSWERED" / "UNDELETED" / "UNFLAGGED" /
 *                    "UNKEYWORD" SP flag-keyword / "UNSEEN" /
 *                    "DRAFT" / "HEADER" SP header-fld-name SP astring /
 *                    "LARGER" SP number64 / "NOT" SP search-key /
 *                    "OR" SP search-key SP search-key /
 *                    "SENTBEFORE" SP date / "SENTON" SP date /
 *                    "SENTSINCE" SP date / "SMALLER" SP number64 /
 *                    "UID" SP sequence-set / "UNDRAFT" / sequence-set /
 *                    "(" search-key *(SP search-key) ")"
 *   sequence-set   =/ "$"                                ; RFC 5182
 * Keys, charsets and RETURN options are case-insensitive. The caller
 * strips the tag and the command name ("SEARCH", or "UID" "SEARCH").
 *
 * Semantics chosen here:
 *  - Substring keys fold ASCII letters and the Latin-1 letters of UTF-8
 *    (U+00C0..U+00DE, "A-grave".."Thorn", to their lower case); all other
 *    bytes compare as they are.
 *  - FROM/TO/CC/BCC/SUBJECT/HEADER look at every occurrence of the named
 *    field (name case-insensitive), in its unfolded value without the
 *    leading white space; a match never spans two fields. An empty
 *    string (`HEADER name ""`, `SUBJECT ""`) matches when the field is
 *    present; `BODY ""` and `TEXT ""` match every message. Values are
 *    matched both as they are and with RFC 2047 encoded words decoded (B
 *    and Q; UTF-8 and US-ASCII as they are, ISO-8859-1/-15 and
 *    Windows-1252 converted to UTF-8 as Latin-1, other charsets' bytes as
 *    they are; white space between two encoded words dropped when it is
 *    at most 8 bytes, as a fold makes it). A malformed encoded word is
 *    matched only in its raw form.
 *  - BODY: the bytes after the header's blank line, not decoded (base64
 *    and quoted-printable parts are matched in their transfer encoding).
 *    TEXT: the header (unfolded, encoded words not decoded) and the body.
 *  - The header ends at the first empty line; lines end in CRLF or LF.
 *  - SENTBEFORE/SENTON/SENTSINCE compare the calendar date written in the
 *    first Date: field (time and zone ignored; RFC 5322 and obsolete
 *    forms: optional day name, 2- or 4-digit year, comments); without a
 *    parseable Date: field they use the internal date's UTC date, as
 *    Dovecot does. BEFORE/ON/SINCE compare the internal date's UTC date.
 *  - Dates in keys are what lwm_imap_date() accepts (1-Jan-1970 and
 *    later); anything else is a syntax error.
 *  - \Recent is not kept by this server: RECENT and NEW never match, OLD
 *    always does.
 *  - KEYWORD: the callback maps the name to the mailbox's keyword index;
 *    an unknown keyword never matches (UNKEYWORD: always). The system
 *    flags are accepted too (KEYWORD \Seen is SEEN).
 *  - "$" (alone or as UID $) asks the callback set by
 *    lwm_search_set_saved(); without one it is the empty set.
 */
#ifndef LWM_SEARCH_H
#define LWM_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "lwmail/lwm_opts.h"

struct lwm_tok;

/* ------------------------------------------------------------ options */

/** Max nodes of a compiled program: one per search key, NOT, OR, list,
 *  plus one for the implicit top-level AND. RAM: 8 bytes each. A bigger
 *  program gets LWM_SEARCH_ERR_LIMIT. */
#ifndef LWM_SEARCH_MAX_NODES
#define LWM_SEARCH_MAX_NODES 48
#endif

/** Max substring keys (BCC, BODY, CC, FROM, HEADER, SUBJECT, TEXT, TO) in
 *  one program. RAM: 12 bytes each. */
#ifndef LWM_SEARCH_MAX_NEEDLES
#define LWM_SEARCH_MAX_NEEDLES 16
#endif

/** Bytes for the program's operands: 2 per byte of each search string
 *  (the folded string and its KMP table; one string at most 255 bytes),
 *  the header field names, and the sequence sets as written. At most
 *  65535. RAM: this many bytes. */
#ifndef LWM_SEARCH_ARENA
#define LWM_SEARCH_ARENA 512
#endif

/* ------------------------------------------------------------ results */

/* lwm_search_compile() results (0: success) */
#define LWM_SEARCH_ERR_SYNTAX  (-1) /* answer BAD with *err */
#define LWM_SEARCH_ERR_CHARSET (-2) /* NO [BADCHARSET (UTF-8 US-ASCII)] */
#define LWM_SEARCH_ERR_LIMIT   (-3) /* NO [LIMIT]: too many keys/bytes */

/* RETURN options (lwm_search_return()) */
#define LWM_SEARCH_RET_MIN    0x01u
#define LWM_SEARCH_RET_MAX    0x02u
#define LWM_SEARCH_RET_ALL    0x04u
#define LWM_SEARCH_RET_COUNT  0x08u
#define LWM_SEARCH_RET_SAVE   0x10u
/* RETURN (...) was given: answer with ESEARCH (RFC 4731; `RETURN ()` is
 * RETURN (ALL)). Without it the flags are 0 and the answer is SEARCH. */
#define LWM_SEARCH_RET_ESEARCH 0x80u

/* lwm_search_wants() results */
#define LWM_SEARCH_WANT_NONE   0 /* decided: stop reading */
#define LWM_SEARCH_WANT_HEADER 1 /* only the header is still needed */
#define LWM_SEARCH_WANT_ALL    2 /* the body may be needed too */

/* ------------------------------------------------------------ types */

/** Map a keyword to its index in the mailbox's keyword table (0..26, the
 *  bit LWM_FLAG_KEYWORD(i)), or -1 if the mailbox has no such keyword.
 *  name is not NUL-terminated; compare case-insensitively. */
typedef int (*lwm_search_kw_fn)(void *ctx, const uint8_t *name,
                                size_t len);

/** Is the message in the saved search result (RFC 5182 "$")? 1 or 0. */
typedef int (*lwm_search_saved_fn)(void *ctx, uint32_t seq, uint32_t uid);

/** What the caller knows of a message without reading it. */
struct lwm_search_msg {
    uint32_t seq, uid;
    uint32_t flags;          /* LWM_FLAG_* and keyword bits */
    uint32_t size;           /* RFC822.SIZE */
    int64_t internal_date;   /* seconds since 1970-01-01 UTC */
};

/* The members below are private: use the functions. */
struct lwm_search_node {
    uint8_t op;
    uint8_t val;             /* runtime: 0 no, 1 yes, 2 not known yet */
    uint16_t end;            /* index after the node's subtree */
    uint32_t arg;            /* op's operand */
};

struct lwm_search_needle {
    uint16_t off;            /* folded string at arena[off], KMP after it */
    uint16_t field_off;      /* header field name (lower case) */
    uint8_t len, field_len;
    uint8_t where;           /* header field, body or text */
    uint8_t val;             /* runtime: 0 no, 1 yes, 2 not known yet */
    uint8_t pos, dpos;       /* KMP states: raw and decoded stream */
    uint8_t state;           /* in the field's name / value */
    uint8_t pad;
};

struct lwm_search_prog {
    /* the byte fields first, then wider ones, the arrays last: the
     * scalars stay at small offsets, in reach of Thumb's short load and
     * store forms */
    uint8_t ret;             /* LWM_SEARCH_RET_* */
    uint8_t uses;            /* what the program looks at (USE_*) */
    /* per message */
    uint8_t hstate;          /* header scanner state */
    uint8_t hflags;          /* HF_* bits */
    uint8_t prev_h, prev_d, prev_t; /* folding context of each stream */
    uint8_t date_len, date_paren, date_full;
    uint8_t date_state;      /* first Date: field: not seen / in it / done */
    uint8_t dirty;           /* a leaf changed: evaluate the tree again */
    uint8_t active;          /* needles inside the current field value */
    uint8_t tpend;           /* line break TEXT holds back (unfolding) */
    /* RFC 2047 decoder of the current field value */
    uint8_t dstate, dcs, dn, dws_len;
    uint8_t dws[8];          /* white space held after an encoded word */
    uint16_t nnodes, nneedles, arena_used;
    uint32_t dacc;
    int32_t idate_days, sent_days;
    uint32_t name_len;       /* bytes of the current field name */

    lwm_search_saved_fn saved;
    void *saved_ctx;

    uint8_t date_buf[40];    /* start of the Date: value, comments out */
    struct lwm_search_node node[LWM_SEARCH_MAX_NODES];
    struct lwm_search_needle needle[LWM_SEARCH_MAX_NEEDLES];
    uint8_t arena[LWM_SEARCH_ARENA];
};

/* ------------------------------------------------------------ API */

/**
 * Compile the SEARCH arguments toks[0..ntoks) (slices of buf, from
 * lwm_imap_parse) into p. kw (may be NULL) resolves KEYWORD/UNKEYWORD
 * names. Returns 0, or LWM_SEARCH_ERR_* with *err set to a static message.
 * p holds no pointer into buf afterwards: the receive buffer may be reused
 * while the program runs. The saved-result callback is cleared.
 */
int lwm_search_compile(struct lwm_search_prog *p, const uint8_t *buf,
                       const struct lwm_tok *toks, size_t ntoks,
                       lwm_search_kw_fn kw, void *kw_ctx, const char **err);

/** LWM_SEARCH_RET_* of the compiled command. */
unsigned lwm_search_return(const struct lwm_search_prog *p);

/** 1 if the program uses "$" (the caller must have a saved result, or
 *  accept that "$" is empty). */
int lwm_search_uses_saved(const struct lwm_search_prog *p);

/** Resolve "$" through fn (NULL: "$" is the empty set). */
void lwm_search_set_saved(struct lwm_search_prog *p, lwm_search_saved_fn fn,
                          void *ctx);

/** Start deciding message m; max_seq and max_uid are what "*" means. */
void lwm_search_begin(struct lwm_search_prog *p,
                      const struct lwm_search_msg *m, uint32_t max_seq,
                      uint32_t max_uid);

/** LWM_SEARCH_WANT_NONE when the outcome is known, else what part of the
 *  message is still needed. */
int lwm_search_wants(const struct lwm_search_prog *p);

/** The next n bytes of the message (from offset 0, in order, any chunk
 *  sizes). Bytes after the outcome is known are ignored. */
void lwm_search_feed(struct lwm_search_prog *p, const uint8_t *data,
                     size_t n);

/** 1 if the message matches, 0 if not. When wants() is not NONE, the
 *  bytes fed so far are taken as the whole message. */
int lwm_search_result(struct lwm_search_prog *p);

#endif /* LWM_SEARCH_H */
