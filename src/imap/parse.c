/*
 * lwmail IMAP - the command tokenizer. See parse.h for the grammar and the
 * contract. Character classes quote RFC 9051's ABNF.
 */
#include <string.h>

#include "parse.h"

/* CTL = %x00-1F / %x7F */
#define IS_CTL(c) ((c) < 0x20 || (c) == 0x7F)
/* tag = 1*<any ASTRING-CHAR except "+">; ASTRING-CHAR = ATOM-CHAR /
 * resp-specials: no SP, CTL, "(", ")", "{", "%", "*", DQUOTE, "\", "+" */
#define IS_TAG_CHAR(c)                                                   \
    ((c) > 0x20 && (c) < 0x7F && (c) != '(' && (c) != ')' &&            \
     (c) != '{' && (c) != '%' && (c) != '*' && (c) != '"' &&             \
     (c) != '\\' && (c) != '+')
/* ATOM-CHAR: the tag's set minus "]", plus "+" */
#define IS_ATOM_CHAR(c)                                                  \
    (((c) == '+' || IS_TAG_CHAR(c)) && (c) != ']')
/* The generous argument atom: any CHAR but SP, CTL, "(", ")", "{", DQUOTE
 * (and 8-bit bytes, which clients do send in names) */
#define IS_ARG_CHAR(c)                                                   \
    ((c) > 0x20 && (c) != 0x7F && (c) != '(' && (c) != ')' &&            \
     (c) != '{' && (c) != '"')

/* Literal sizes beyond this are refused outright (no flash holds them). */
#define LIT_SIZE_MAX 0xFFFFFFFFull

/* Parse a literal header "{n}" / "{n+}" / "~{n}" at buf[i]. On success
 * *data_r is the offset of its first byte (after CRLF), *size_r its size.
 * Returns 1 complete, 0 partial, -1 bad (*err set). */
static int lit_header(const uint8_t *buf, size_t len, size_t i,
                      size_t *data_r, uint64_t *size_r, uint8_t *flags_r,
                      const char **err)
{
    uint64_t n = 0;
    size_t digits = 0;
    *flags_r = 0;
    if (buf[i] == '~') {
        *flags_r |= LWM_TOKF_BINARY;
        i++;
        if (i == len)
            return 0;
        if (buf[i] != '{') {
            *err = "bad literal8";
            return -1;
        }
    }
    i++; /* "{" */
    for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++, digits++) {
        n = n * 10 + (uint64_t)(buf[i] - '0');
        if (n > LIT_SIZE_MAX) {
            *err = "literal too large";
            return -1;
        }
    }
    if (i == len)
        return 0;
    if (digits == 0) {
        *err = "bad literal size";
        return -1;
    }
    if (buf[i] == '+') {
        *flags_r |= LWM_TOKF_NONSYNC;
        if (++i == len)
            return 0;
    }
    if (buf[i] != '}') {
        *err = "bad literal";
        return -1;
    }
    if (++i == len)
        return 0;
    if (buf[i] == '\r') {
        if (++i == len)
            return 0;
    }
    if (buf[i] != '\n') {
        *err = "literal size must end the line";
        return -1;
    }
    *data_r = i + 1;
    *size_r = n;
    return 1;
}

/* After a syntax error at `from`, find where the client's line really
 * ends: non-synchronizing literals are still sent (skip their bytes); a
 * synchronizing one ends the line (the client waits for a "+" that will
 * not come). Returns the offset after the line, or 0 if not all here. */
static size_t line_end(const uint8_t *buf, size_t len, size_t from)
{
    size_t i = from;
    while (i < len) {
        if (buf[i] == '\n')
            return i + 1;
        if (buf[i] == '{' || (buf[i] == '~' && i + 1 < len &&
                              buf[i + 1] == '{')) {
            size_t data;
            uint64_t size;
            uint8_t fl;
            const char *err;
            int r = lit_header(buf, len, i, &data, &size, &fl, &err);
            if (r == 0)
                return 0;
            if (r > 0) {
                if (!(fl & LWM_TOKF_NONSYNC))
                    return data;
                if (size > len - data)
                    return 0;
                i = data + (size_t)size;
                continue;
            }
        }
        i++;
    }
    return 0;
}

int lwm_imap_parse(const uint8_t *buf, size_t len, size_t cap,
                   struct lwm_cmd *cmd, struct lwm_tok *toks,
                   size_t max_toks)
{
    uint32_t open[LWM_IMAP_MAX_DEPTH];
    size_t i = 0, start, end;
    unsigned depth = 0;
    const char *err = NULL;

    memset(cmd, 0, sizeof *cmd);

    /* tag SP */
    while (i < len && IS_TAG_CHAR(buf[i]))
        i++;
    if (i == len)
        return LWM_PARSE_PARTIAL;
    if (i == 0) {
        err = "missing tag";
        goto bad;
    }
    cmd->tag_off = 0;
    cmd->tag_len = (uint32_t)i;
    if (buf[i] != ' ') {
        err = buf[i] == '\r' || buf[i] == '\n' ? "missing command"
                                               : "invalid character in tag";
        goto bad;
    }
    /* command-name */
    start = ++i;
    while (i < len && IS_ATOM_CHAR(buf[i]))
        i++;
    if (i == len)
        return LWM_PARSE_PARTIAL;
    if (i == start) {
        err = "missing command";
        goto bad;
    }
    cmd->name_off = (uint32_t)start;
    cmd->name_len = (uint32_t)(i - start);
    if (buf[i] != ' ' && buf[i] != '\r' && buf[i] != '\n') {
        err = "invalid character in command";
        goto bad;
    }

    for (;;) {
        struct lwm_tok *t;
        uint8_t c;

        if (i == len)
            return LWM_PARSE_PARTIAL;
        c = buf[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r') {
                if (i + 1 == len)
                    return LWM_PARSE_PARTIAL;
                if (buf[i + 1] != '\n') {
                    err = "CR without LF";
                    goto bad;
                }
                i++;
            }
            if (depth) {
                err = "unclosed list";
                goto bad;
            }
            return (int)(i + 1);
        }
        if (c == ' ') {
            /* one SP between arguments (RFC 9051 section 9, note 2);
             * extra spaces are tolerated, as clients send them */
            i++;
            continue;
        }
        if (cmd->ntoks == max_toks) {
            err = "too many arguments";
            goto bad;
        }
        t = &toks[cmd->ntoks];
        t->flags = 0;
        t->depth = (uint16_t)depth;
        if (c == '(') {
            if (depth == LWM_IMAP_MAX_DEPTH) {
                err = "lists nested too deep";
                goto bad;
            }
            t->type = LWM_TOK_LIST;
            t->off = (uint32_t)i;
            t->len = 0;
            open[depth++] = cmd->ntoks++;
            i++;
            continue;
        }
        if (c == ')') {
            if (!depth) {
                err = "unexpected )";
                goto bad;
            }
            t->type = LWM_TOK_LIST_END;
            t->depth = (uint16_t)--depth;
            t->off = (uint32_t)i;
            t->len = 0;
            toks[open[depth]].len = cmd->ntoks++;
            i++;
            continue;
        }
        if (c == '"') {
            size_t j = i + 1;
            for (;; j++) {
                if (j == len)
                    return LWM_PARSE_PARTIAL;
                if (buf[j] == '"')
                    break;
                if (buf[j] == '\\') {
                    if (j + 1 == len)
                        return LWM_PARSE_PARTIAL;
                    if (buf[j + 1] != '"' && buf[j + 1] != '\\') {
                        err = "bad escape in quoted string";
                        goto bad;
                    }
                    t->flags |= LWM_TOKF_ESCAPED;
                    j++;
                    continue;
                }
                if (buf[j] == '\r' || buf[j] == '\n' || buf[j] == 0) {
                    err = "unterminated quoted string";
                    goto bad;
                }
                if (buf[j] >= 0x80)
                    t->flags |= LWM_TOKF_8BIT;
            }
            t->type = LWM_TOK_QUOTED;
            t->off = (uint32_t)(i + 1);
            t->len = (uint32_t)(j - i - 1);
            cmd->ntoks++;
            i = j + 1;
            goto after_token;
        }
        if (c == '{' || (c == '~' && i + 1 < len && buf[i + 1] == '{') ||
            (c == '~' && i + 1 == len)) {
            size_t data;
            uint64_t size;
            uint8_t fl;
            int r = lit_header(buf, len, i, &data, &size, &fl, &err);
            if (r < 0)
                goto bad;
            if (r == 0)
                return LWM_PARSE_PARTIAL;
            if (!(fl & LWM_TOKF_NONSYNC))
                cmd->nsync++;
            cmd->lit_size = size;
            cmd->lit_flags = fl;
            if (size > cap - data) {
                cmd->lit_off = (uint32_t)data;
                return LWM_PARSE_LITERAL;
            }
            if (size > len - data)
                return LWM_PARSE_PARTIAL;
            if (!(fl & LWM_TOKF_BINARY) &&
                memchr(buf + data, 0, (size_t)size)) {
                err = "NUL in literal (use literal8)";
                i = data + (size_t)size;
                goto bad;
            }
            t->type = LWM_TOK_LITERAL;
            t->flags = fl;
            t->off = (uint32_t)data;
            t->len = (uint32_t)size;
            cmd->ntoks++;
            i = data + (size_t)size;
            goto after_token;
        }
        if (!IS_ARG_CHAR(c)) {
            err = c == '{' ? "bad literal" : "invalid character";
            goto bad;
        }
        /* atom; "[" runs to its matching "]" */
        {
            size_t j = i;
            unsigned br = 0;
            for (;; j++) {
                if (j == len)
                    return LWM_PARSE_PARTIAL;
                c = buf[j];
                if (br) {
                    if (c == '\r' || c == '\n') {
                        err = "missing ]";
                        goto bad;
                    }
                    if (c == '[')
                        br++;
                    else if (c == ']')
                        br--;
                    continue;
                }
                if (c == '[') {
                    br = 1;
                    continue;
                }
                if (!IS_ARG_CHAR(c))
                    break;
                if (c >= 0x80)
                    t->flags |= LWM_TOKF_8BIT;
            }
            t->type = LWM_TOK_ATOM;
            t->off = (uint32_t)i;
            t->len = (uint32_t)(j - i);
            cmd->ntoks++;
            i = j;
        }
after_token:
        /* a token ends at SP, ")", "(" after a list item, or the line end */
        if (i < len && buf[i] != ' ' && buf[i] != ')' && buf[i] != '\r' &&
            buf[i] != '\n' && buf[i] != '(') {
            err = "missing space between arguments";
            goto bad;
        }
    }

bad:
    cmd->err = err;
    end = line_end(buf, len, i);
    if (end == 0)
        return LWM_PARSE_PARTIAL;   /* report it when the line is here */
    cmd->skip = (uint32_t)end;
    return LWM_PARSE_BAD;
}
