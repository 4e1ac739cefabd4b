/*
 * lwmail IMAP - the command tokenizer (zero copy, resumable).
 *
 * Splits one client command into a tag, a command name and argument
 * tokens. Tokens are slices (offset, length) of the caller's receive buffer:
 * nothing is copied or unescaped. The parser keeps no state between calls:
 * the caller passes everything received so far for the current command and
 * calls again when more arrives (picohttpparser's model); a caller that
 * only calls when the new bytes contain LF, or complete a literal, keeps the
 * rescanning cost linear.
 *
 * Grammar (RFC 9051 section 9; RFC 3501 section 9):
 *   command        = tag SP command-name [SP args] CRLF
 *   tag            = 1*<any ASTRING-CHAR except "+">
 *   atom           = 1*ATOM-CHAR
 *   ATOM-CHAR      = <any CHAR except atom-specials>
 *   atom-specials  = "(" / ")" / "{" / SP / CTL / list-wildcards /
 *                    quoted-specials / resp-specials
 *   quoted         = DQUOTE *QUOTED-CHAR DQUOTE
 *   QUOTED-CHAR    = <any TEXT-CHAR except quoted-specials> /
 *                    "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4
 *   literal        = "{" number64 ["+"] "}" CRLF *CHAR8     (LITERAL+/-)
 *   literal8       = "~{" number64 ["+"] "}" CRLF *OCTET     (BINARY)
 * Arguments are tokenized generously, as servers must: an "atom" token is a
 * run of any CHAR but SP, CTL, "(", ")", "{" and DQUOTE, so flags (\Seen),
 * sequence sets (1:*), LIST patterns (%) and "]" are atoms; a "[" in an
 * atom runs to its matching "]" across spaces and parentheses, so
 * BODY.PEEK[HEADER.FIELDS (From To)]<0.512> is one token. Commands check
 * their arguments' finer grammar themselves.
 */
#ifndef LWM_IMAP_PARSE_H
#define LWM_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Token types */
#define LWM_TOK_ATOM     1   /* slice: the atom */
#define LWM_TOK_QUOTED   2   /* slice: between the quotes, escapes kept */
#define LWM_TOK_LITERAL  3   /* slice: the literal's bytes */
#define LWM_TOK_LIST     4   /* "(": len = index of its matching LIST_END */
#define LWM_TOK_LIST_END 5   /* ")" */

/* Token flags */
#define LWM_TOKF_ESCAPED 0x01 /* QUOTED holds backslash escapes */
#define LWM_TOKF_NONSYNC 0x02 /* LITERAL was {n+} (LITERAL+/LITERAL-) */
#define LWM_TOKF_BINARY  0x04 /* LITERAL was literal8 ~{n} */
#define LWM_TOKF_8BIT    0x08 /* ATOM/QUOTED holds bytes >= 0x80 */

/* Results of lwm_imap_parse() (a positive result is the command's size) */
#define LWM_PARSE_PARTIAL  (-1) /* need more bytes */
#define LWM_PARSE_BAD      (-2) /* syntax error: answer BAD, drop cmd.skip */
#define LWM_PARSE_LITERAL  (-3) /* a literal too large for the buffer */

/** Deepest list nesting accepted (RFC 9051 has no limit; we do). */
#ifndef LWM_IMAP_MAX_DEPTH
#define LWM_IMAP_MAX_DEPTH 16
#endif

struct lwm_tok {
    uint8_t type;
    uint8_t flags;
    uint16_t depth;     /* list nesting depth of the token (0: top level) */
    uint32_t off, len;  /* slice of the buffer (LIST: see above) */
};

struct lwm_cmd {
    uint32_t tag_off, tag_len;    /* valid when tag_len > 0 */
    uint32_t name_off, name_len;  /* the command name */
    uint32_t ntoks;               /* argument tokens filled in */
    uint32_t nsync;               /* synchronizing literals announced so far:
                                     the session sends one "+" each */
    uint32_t skip;                /* BAD: bytes to drop (the whole line) */
    const char *err;              /* BAD: what is wrong */
    uint32_t lit_off;             /* LITERAL: where its bytes start */
    uint64_t lit_size;            /* LITERAL / PARTIAL: size of the last
                                     literal announced */
    uint8_t lit_flags;            /* LITERAL: LWM_TOKF_* of that literal */
};

/**
 * Parse the command at the start of buf[0..len). cap is the buffer's
 * capacity: a literal that cannot fit in it makes the call return
 * LWM_PARSE_LITERAL (cmd gets the tokens before it, lit_off, lit_size) so
 * the session can stream it (APPEND) or refuse it. toks holds up to
 * max_toks argument tokens.
 *
 * Returns the number of bytes the command takes (> 0), LWM_PARSE_PARTIAL,
 * LWM_PARSE_BAD (cmd->err, cmd->skip; the tag is filled in when it could
 * be read) or LWM_PARSE_LITERAL.
 */
int lwm_imap_parse(const uint8_t *buf, size_t len, size_t cap,
                   struct lwm_cmd *cmd, struct lwm_tok *toks,
                   size_t max_toks);

#endif /* LWM_IMAP_PARSE_H */
