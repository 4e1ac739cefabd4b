/*
 * lwmail IMAP - commands of any state: CAPABILITY, NOOP, LOGOUT, ID,
 * STARTTLS, LOGIN, AUTHENTICATE, ENABLE, NAMESPACE, IDLE.
 */
#include <string.h>

#include "imap/imap_int.h"
#include "util/lwm_util.h"

#define XSTR(x) #x
#define STR(x) XSTR(x)

/* Built once: APPENDLIMIT's value is an option, not a literal */
static char cap_auth[400];

static void cap_add(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(buf), m = strlen(s);
    if (n + m + 1 < cap)
        memcpy(buf + n, s, m + 1);
}

/* Login is allowed on this connection: it has TLS, or the owner allowed
 * plaintext logins (loopback, tests). */
static int login_allowed(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    return srv->cfg->allow_plaintext_auth || srv_tls_on(srv, s->slot);
}

const char *capability_string(struct imap_sess *s)
{
    static char pre[120];
    if (s->state == SS_NOAUTH) {
        /* before login the list depends on the transport: STARTTLS while
         * in the clear, and either LOGINDISABLED or AUTH=PLAIN */
        struct lwm_server *srv = sess_srv(s);
        pre[0] = 0;
        cap_add(pre, sizeof pre,
                "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE");
        if (srv_tls_ready(srv) && !srv_tls_on(srv, s->slot))
            cap_add(pre, sizeof pre, " STARTTLS");
        cap_add(pre, sizeof pre,
                login_allowed(s) ? " AUTH=PLAIN" : " LOGINDISABLED");
        return pre;
    }
    if (!cap_auth[0]) {
        char num[24];
        uint64_t v = (uint64_t)LWM_IMAP_APPENDLIMIT;
        int i = 23;
        num[23] = 0;
        do {
            num[--i] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        cap_add(cap_auth, sizeof cap_auth,
                "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE "
                "NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE "
                "LIST-EXTENDED LIST-STATUS ESEARCH STATUS=SIZE BINARY "
                "APPENDLIMIT=");
        cap_add(cap_auth, sizeof cap_auth, num + i);
    }
    return cap_auth;
}

/* RFC 9051 6.2.1: TLS on an established connection. The OK is sent in
 * the clear; sess_run starts the handshake once it is flushed and drops
 * anything the client sent behind the command. */
int cmd_starttls(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    if (s->cmd.ntoks)
        return resp_tagged(s, "BAD", "STARTTLS takes no arguments");
    if (!srv_tls_ready(srv))
        return resp_tagged(s, "BAD", "TLS is not available");
    if (srv_tls_on(srv, s->slot))
        return resp_tagged(s, "BAD", "TLS is already active");
    s->starttls = 1;
    return resp_tagged(s, "OK", "Begin TLS negotiation now");
}

/* LOGIN and AUTHENTICATE on a connection without TLS, unless allowed */
static void rx_scrub(struct imap_sess *s);

static int privacy_required(struct imap_sess *s)
{
    rx_scrub(s);        /* a password sent in the clear is not kept */
    return resp_tagged(s, "NO", "[PRIVACYREQUIRED] Plaintext login is "
                                "disabled: use STARTTLS or port 993");
}

int cmd_capability(struct imap_sess *s)
{
    if (s->cmd.ntoks)
        return resp_tagged(s, "BAD", "CAPABILITY takes no arguments");
    out_str(s, "* CAPABILITY ");
    out_str(s, capability_string(s));
    out_raw(s, "\r\n", 2);
    return resp_tagged(s, "OK", "CAPABILITY completed");
}

int cmd_noop(struct imap_sess *s)
{
    if (s->cmd.ntoks)
        return resp_tagged(s, "BAD", "No arguments expected");
    return resp_tagged(s, "OK", cmd_is(s, "CHECK") ? "CHECK completed"
                                                  : "NOOP completed");
}

int cmd_logout(struct imap_sess *s)
{
    if (s->cmd.ntoks)
        return resp_tagged(s, "BAD", "LOGOUT takes no arguments");
    out_str(s, "* BYE Logging out\r\n");
    s->state = SS_LOGOUT;
    return resp_tagged(s, "OK", "LOGOUT completed");
}

int cmd_id(struct imap_sess *s)
{
    /* RFC 2971: ID ( "key" "value" ... ) or ID NIL */
    uint32_t i;
    if (s->cmd.ntoks == 0)
        return resp_tagged(s, "BAD", "ID needs a list or NIL");
    if (!tok_is(s, &s->toks[0], "NIL")) {
        if (s->toks[0].type != LWM_TOK_LIST ||
            s->toks[0].len != s->cmd.ntoks - 1)
            return resp_tagged(s, "BAD", "ID needs a list or NIL");
        /* RFC 2971 4: field/value pairs of strings (values may be NIL) */
        if ((s->cmd.ntoks - 2) % 2 != 0)
            return resp_tagged(s, "BAD", "ID needs field/value pairs");
        for (i = 1; i + 1 < s->cmd.ntoks; i++)
            if (s->toks[i].type == LWM_TOK_LIST)
                return resp_tagged(s, "BAD", "ID fields are strings");
    } else if (s->cmd.ntoks != 1) {
        return resp_tagged(s, "BAD", "ID needs a list or NIL");
    }
    out_str(s, "* ID (\"name\" \"lwmail\" \"version\" \"" LWM_VERSION
               "\")\r\n");
    return resp_tagged(s, "OK", "ID completed");
}

/* ------------------------------------------------------------ login
 *
 * LOGIN and AUTHENTICATE PLAIN check the password with PBKDF2 (src/auth)
 * as a multi-step command: login_step runs LWM_AUTH_PBKDF2_STEP
 * iterations per call and returns STEP_MORE in between, so other sessions
 * get their turns; a failed check then waits LWM_AUTH_FAIL_DELAY_MS with
 * STEP_WAIT (the loop keeps running) before the answer. An address that
 * is locked out is answered at once, without a check. Every failure is
 * the same tagged NO, whether the user exists, the password was wrong or
 * the address is locked out. */

static int auth_failed(struct imap_sess *s)
{
    return resp_tagged(s, "NO", "[AUTHENTICATIONFAILED] "
                                "Authentication failed");
}

/* Zero the password's bytes in the receive buffer once the arguments are
 * copied out: the command's bytes [0, cmd_len), and the stale bytes past
 * the data (each compaction leaves a copy of what it moved there). Safe:
 * no login step reads the tokens again (the tag is kept in s->tag, and
 * cmd_len still drops the right number of bytes at the end). */
static void rx_scrub(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    int k = s->slot;
    memset(srv->rx[k], 0, s->cmd_len);
    memset(srv->rx[k] + srv->rx_len[k], 0, LWM_IMAP_RXBUF - srv->rx_len[k]);
}

/* "<what> for <user> from <address><tail>": the name as the client gave
 * it, control and non-ASCII bytes shown as '?' so nothing can forge log
 * lines. Never the password. */
static void log_auth(struct imap_sess *s, int level, const char *what,
                     const char *tail)
{
    const struct auth_login *l = &s->u.au;
    const char *peer = auth_peer(s->slot);
    char line[96 + LWM_USER_NAME_MAX + AUTH_PEER_MAX];
    size_t n = strlen(what), i, m;
    memcpy(line, what, n);
    memcpy(line + n, " for ", 5);
    n += 5;
    for (i = 0; i < l->name_len; i++) {
        uint8_t c = (uint8_t)l->name[i];
        line[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    memcpy(line + n, " from ", 6);
    n += 6;
    m = strlen(peer);
    memcpy(line + n, peer, m);
    n += m;
    m = strlen(tail);
    if (m > sizeof line - 1 - n)
        m = sizeof line - 1 - n;
    memcpy(line + n, tail, m);
    line[n + m] = 0;
    srv_log(sess_srv(s), level, s->slot, line);
}

/* "<address> locked out after <n> failed logins" */
static void log_lockout(struct imap_sess *s, uint32_t fails)
{
    const char *peer = auth_peer(s->slot);
    char line[64 + AUTH_PEER_MAX], num[12];
    size_t n = strlen(peer), k = sizeof num;
    memcpy(line, peer, n);
    memcpy(line + n, " locked out after ", 18);
    n += 18;
    do {
        num[--k] = (char)('0' + fails % 10);
        fails /= 10;
    } while (fails);
    memcpy(line + n, num + k, sizeof num - k);
    n += sizeof num - k;
    memcpy(line + n, " failed logins", 15);
    srv_log(sess_srv(s), LWM_LOG_WARNING, s->slot, line);
}

/* The check succeeded: the session is authenticated as user name */
static int login_ok(struct imap_sess *s, const char *name)
{
    struct lwm_server *srv = sess_srv(s);
    int id = lwm_user_find(srv->store, name);
    if (id < 0)
        return resp_store_err(s, id, "Mail store unavailable");
    s->user = (int16_t)id;
    s->state = SS_AUTH;
    sess_log(s, LWM_LOG_INFO, "logged in: ", name);
    done_begin(s, "OK");
    done_add(s, "[CAPABILITY ");
    done_add(s, capability_string(s));
    done_add(s, "] Logged in");
    return done_end(s);
}

static int login_step(struct imap_sess *s)
{
    struct auth_login *l = &s->u.au;
    int r = auth_login_step(l, srv_now(sess_srv(s)));
    if (l->failed_now) {
        l->failed_now = 0;
        log_auth(s, LWM_LOG_NOTICE, "authentication failed", "");
        /* the lockout is told once, as it begins: tries while locked are
         * not logged above debug, so a flood does not flood the log */
        if (l->fails == LWM_AUTH_FREE_FAILS)
            log_lockout(s, l->fails);
    }
    switch (r) {
    case AUTH_MORE:
        return STEP_MORE;
    case AUTH_WAIT:
        return STEP_WAIT;
    case AUTH_OK:
        return login_ok(s, auth_user_name(l->user));
    default:
        return auth_failed(s);
    }
}

/* Start the check of a name and password (either may be NULL: a value
 * that cannot be right, checked in full all the same). The caller clears
 * its copy of the password when this returns. */
static int login_begin(struct imap_sess *s, const char *user, size_t ulen,
                       const char *pass, size_t plen)
{
    struct lwm_server *srv = sess_srv(s);
    int r = auth_login_start(&s->u.au, s->peer_hash, user, ulen, pass,
                             plen, srv_now(srv));
    if (r == AUTH_LOCKED) {
        /* debug only: each try while locked would be a line otherwise */
        log_auth(s, LWM_LOG_DEBUG, "login refused (address locked out)",
                 "");
        return auth_failed(s);
    }
    s->step = login_step;
    return login_step(s);
}

int cmd_login(struct imap_sess *s)
{
    char user[LWM_USER_NAME_MAX + 1], pass[256];
    int ul, pl, r;
    if (!login_allowed(s))
        return privacy_required(s);
    if (s->cmd.ntoks != 2) {
        rx_scrub(s);            /* a password may be in there all the same */
        return resp_tagged(s, "BAD", "LOGIN needs a user name and a "
                                     "password");
    }
    if (s->toks[0].type == LWM_TOK_LIST || s->toks[1].type == LWM_TOK_LIST) {
        rx_scrub(s);
        return resp_tagged(s, "BAD", "LOGIN arguments are strings");
    }
    /* a name or password that does not fit (or holds a NUL) cannot be
     * right, but is checked like any other: same time, same answer */
    ul = tok_string(s, &s->toks[0], user, sizeof user);
    pl = tok_string(s, &s->toks[1], pass, sizeof pass);
    rx_scrub(s);
    r = login_begin(s, ul < 0 ? NULL : user, ul < 0 ? 0 : (size_t)ul,
                    pl < 0 ? NULL : pass, pl < 0 ? 0 : (size_t)pl);
    lwm_auth_zeroize(pass, sizeof pass);
    return r;
}

/* SASL PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd. b64 is in the
 * receive buffer, inside the command's cmd_len bytes. */
static int sasl_plain(struct imap_sess *s, const uint8_t *b64, size_t len)
{
    uint8_t buf[400];
    const uint8_t *p, *z1, *z2;
    int n, r;
    if (len == 1 && b64[0] == '=')
        len = 0;                /* SASL-IR: an empty initial response */
    n = lwm_base64_decode(b64, len, buf, sizeof buf);
    rx_scrub(s);
    if (n < 0) {
        lwm_auth_zeroize(buf, sizeof buf);
        return resp_tagged(s, "BAD", "Invalid base64");
    }
    p = buf;
    z1 = memchr(p, 0, (size_t)n);
    z2 = z1 ? memchr(z1 + 1, 0, (size_t)(buf + n - z1 - 1)) : NULL;
    if (!z1 || !z2) {
        r = auth_failed(s);     /* not a try: nothing to check */
    } else if (z1 != p && ((size_t)(z1 - p) != (size_t)(z2 - z1 - 1) ||
                           memcmp(p, z1 + 1, (size_t)(z1 - p)) != 0)) {
        /* an authorization identity other than the user: unsupported */
        r = resp_tagged(s, "NO", "[AUTHORIZATIONFAILED] "
                                 "Authorization identity refused");
    } else {
        r = login_begin(s, (const char *)z1 + 1, (size_t)(z2 - z1 - 1),
                        (const char *)z2 + 1, (size_t)(buf + n - z2 - 1));
    }
    lwm_auth_zeroize(buf, sizeof buf);
    return r;
}

/* Waiting for the client's answer to "+ " */
static int auth_wait(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    int k = s->slot;
    uint8_t *rx = srv->rx[k];
    uint8_t *lf = memchr(rx, '\n', srv->rx_len[k]);
    size_t n;
    if (!lf) {
        if (srv->rx_len[k] == LWM_IMAP_RXBUF) {
            srv->rx_len[k] = 0;
            s->rx_mode = RX_SKIPLINE;
            rx_scrub(s);
            return resp_tagged(s, "BAD", "SASL response too long");
        }
        return STEP_INPUT;
    }
    n = (size_t)(lf - rx);
    s->cmd_len = (uint32_t)n + 1;   /* dropped when the command ends */
    if (n && rx[n - 1] == '\r')
        n--;
    if (n == 1 && rx[0] == '*')
        return resp_tagged(s, "BAD", "Authentication cancelled");
    return sasl_plain(s, rx, n);    /* it clears the line */
}

int cmd_authenticate(struct imap_sess *s)
{
    if (!login_allowed(s))
        return privacy_required(s);
    if (s->cmd.ntoks < 1 || s->cmd.ntoks > 2 ||
        s->toks[0].type != LWM_TOK_ATOM)
        return resp_tagged(s, "BAD", "AUTHENTICATE needs a mechanism");
    if (!tok_is(s, &s->toks[0], "PLAIN"))
        return resp_tagged(s, "NO", "[CANNOT] Unsupported mechanism");
    if (s->cmd.ntoks == 2) {
        const struct lwm_tok *t = &s->toks[1];
        if (t->type != LWM_TOK_ATOM)
            return resp_tagged(s, "BAD", "Invalid initial response");
        return sasl_plain(s, sess_rx(s) + t->off, t->len);
    }
    /* the answer arrives as a line of its own: take the command out */
    {
        struct lwm_server *srv = sess_srv(s);
        int k = s->slot;
        memmove(srv->rx[k], srv->rx[k] + s->cmd_len,
                srv->rx_len[k] - s->cmd_len);
        srv->rx_len[k] -= s->cmd_len;
        s->cmd_len = 0;
    }
    out_str(s, "+ \r\n");
    s->step = auth_wait;
    return STEP_INPUT;
}

int cmd_enable(struct imap_sess *s)
{
    uint32_t i;
    int any = 0;
    if (s->cmd.ntoks == 0)
        return resp_tagged(s, "BAD", "ENABLE needs capabilities");
    for (i = 0; i < s->cmd.ntoks; i++)
        if (s->toks[i].type != LWM_TOK_ATOM)
            return resp_tagged(s, "BAD", "ENABLE takes atoms");
    for (i = 0; i < s->cmd.ntoks; i++) {
        if (tok_is(s, &s->toks[i], "IMAP4rev2") && !s->rev2) {
            s->rev2 = 1;
            s->utf8 = 1;        /* RFC 9051: mailbox names are UTF-8 */
            if (!any)
                out_str(s, "* ENABLED");
            out_str(s, " IMAP4rev2");
            any = 1;
        }
    }
    if (any)
        out_raw(s, "\r\n", 2);
    else
        out_str(s, "* ENABLED\r\n");
    return resp_tagged(s, "OK", "ENABLE completed");
}

int cmd_namespace(struct imap_sess *s)
{
    if (s->cmd.ntoks)
        return resp_tagged(s, "BAD", "NAMESPACE takes no arguments");
    out_str(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
    return resp_tagged(s, "OK", "NAMESPACE completed");
}

int cmd_idle(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    int k = s->slot;
    if (s->cmd.ntoks)
        return resp_tagged(s, "BAD", "IDLE takes no arguments");
    memmove(srv->rx[k], srv->rx[k] + s->cmd_len, srv->rx_len[k] - s->cmd_len);
    srv->rx_len[k] -= s->cmd_len;
    s->cmd_len = 0;
    out_str(s, "+ idling\r\n");
    s->idling = 1;
    s->busy = 0;
    return STEP_INPUT;
}

void idle_done(struct imap_sess *s, const uint8_t *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    s->idling = 0;
    s->busy = 1;
    s->step = NULL;
    s->cmd_len = 0;
    s->allow_expunge = 1;
    if (len == 4 && imap_ieq(line, "DONE", 4))
        resp_tagged(s, "OK", "IDLE terminated");
    else
        resp_tagged(s, "BAD", "Expected DONE");
}
