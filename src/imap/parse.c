/*
 * lwmail IMAP - the command tokenizer. See parse.h for the grammar and the
 * contract. Character classes quote RFC 9051's ABNF.
 */
#include <string.h>

#include "parse.h"
#include "util/lwm_util.h"

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

/* What is wrong with a command (cmd->err): an index into parse_errs[],
 * which each failure site stores instead of a string pointer. */
enum {
    E_LIT8, E_LIT_BIG, E_LIT_SIZE, E_LIT, E_LIT_EOL, E_TAG, E_COMMAND,
    E_TAG_CHAR, E_COMMAND_CHAR, E_CR, E_UNCLOSED, E_ARGS, E_DEPTH, E_CLOSE,
    E_ESCAPE, E_QUOTED, E_NUL, E_CHAR, E_BRACKET, E_SPACE
};
static const char parse_errs[] =
    "bad literal8\0literal too large\0bad literal size\0bad literal\0"
    "literal size must end the line\0missing tag\0missing command\0"
    "invalid character in tag\0invalid character in command\0CR without LF\0"
    "unclosed list\0too many arguments\0lists nested too deep\0"
    "unexpected )\0bad escape in quoted string\0unterminated quoted string\0"
    "NUL in literal (use literal8)\0invalid character\0missing ]\0"
    "missing space between arguments";

/* Parse a literal header "{n}" / "{n+}" / "~{n}" at buf[i]. On success
 * *data_r is the offset of its first byte (after CRLF), *size_r its size.
 * Returns 1 complete, 0 partial, -1 bad (*why set). */
static int lit_header(const uint8_t *buf, size_t len, size_t i,
                      size_t *data_r, uint64_t *size_r, uint8_t *flags_r,
                      uint8_t *why)
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
            *why = E_LIT8;
            return -1;
        }
    }
    i++; /* "{" */
    for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++, digits++) {
        n = n * 10 + (uint64_t)(buf[i] - '0');
        if (n > LIT_SIZE_MAX) {
            *why = E_LIT_BIG;
            return -1;
        }
    }
    if (i == len)
        return 0;
    if (digits == 0) {
        *why = E_LIT_SIZE;
        return -1;
    }
    if (buf[i] == '+') {
        *flags_r |= LWM_TOKF_NONSYNC;
        if (++i == len)
            return 0;
    }
    if (buf[i] != '}') {
        *why = E_LIT;
        return -1;
    }
    if (++i == len)
        return 0;
    if (buf[i] == '\r') {
        if (++i == len)
            return 0;
    }
    if (buf[i] != '\n') {
        *why = E_LIT_EOL;
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
            uint8_t why;
            int r = lit_header(buf, len, i, &data, &size, &fl, &why);
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
    uint8_t why = 0;

    memset(cmd, 0, sizeof *cmd);

    /* tag SP */
    while (i < len && IS_TAG_CHAR(buf[i]))
        i++;
    if (i == len)
        return LWM_PARSE_PARTIAL;
    if (i == 0) {
        why = E_TAG;
        goto bad;
    }
    cmd->tag_off = 0;
    cmd->tag_len = (uint32_t)i;
    if (buf[i] != ' ') {
        why = buf[i] == '\r' || buf[i] == '\n' ? E_COMMAND : E_TAG_CHAR;
        goto bad;
    }
    /* command-name */
    start = ++i;
    while (i < len && IS_ATOM_CHAR(buf[i]))
        i++;
    if (i == len)
        return LWM_PARSE_PARTIAL;
    if (i == start) {
        why = E_COMMAND;
        goto bad;
    }
    cmd->name_off = (uint32_t)start;
    cmd->name_len = (uint32_t)(i - start);
    if (buf[i] != ' ' && buf[i] != '\r' && buf[i] != '\n') {
        why = E_COMMAND_CHAR;
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
                    why = E_CR;
                    goto bad;
                }
                i++;
            }
            if (depth) {
                why = E_UNCLOSED;
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
            why = E_ARGS;
            goto bad;
        }
        t = &toks[cmd->ntoks];
        t->flags = 0;
        t->depth = (uint16_t)depth;
        if (c == '(') {
            if (depth == LWM_IMAP_MAX_DEPTH) {
                why = E_DEPTH;
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
                why = E_CLOSE;
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
                        why = E_ESCAPE;
                        goto bad;
                    }
                    t->flags |= LWM_TOKF_ESCAPED;
                    j++;
                    continue;
                }
                if (buf[j] == '\r' || buf[j] == '\n' || buf[j] == 0) {
                    why = E_QUOTED;
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
            int r = lit_header(buf, len, i, &data, &size, &fl, &why);
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
                why = E_NUL;
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
            why = c == '{' ? E_LIT : E_CHAR;
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
                        why = E_BRACKET;
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
            why = E_SPACE;
            goto bad;
        }
    }

bad:
    cmd->err = lwm_str_at(parse_errs, why);
    end = line_end(buf, len, i);
    if (end == 0)
        return LWM_PARSE_PARTIAL;   /* report it when the line is here */
    cmd->skip = (uint32_t)end;
    return LWM_PARSE_BAD;
}
