/*
 * lwmail IMAP - commands of any state: CAPABILITY, NOOP, LOGOUT, ID,
 * STARTTLS, LOGIN, AUTHENTICATE, ENABLE, NAMESPACE, IDLE.
 */
#include <string.h>

#include "imap/imap_int.h"
#include "util/lwm_util.h"

/* Login is allowed on this connection: it has TLS, or the owner allowed
 * plaintext logins (loopback, tests). */
static int login_allowed(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    return srv->cfg->allow_plaintext_auth || srv_tls_on(srv, s->slot);
}

const char *capability_string(struct imap_sess *s)
{
    /* before login the list depends on the transport: STARTTLS while in
     * the clear, and either LOGINDISABLED or AUTH=PLAIN */
    static const char common[] =
        "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE";
    static char caps[400];
    struct lwm_server *srv = sess_srv(s);
    if (s->state == SS_NOAUTH)
        lwm_snfmt(caps, sizeof caps, "%s%s%s", common,
                  srv_tls_ready(srv) && !srv_tls_on(srv, s->slot)
                      ? " STARTTLS" : "",
                  login_allowed(s) ? " AUTH=PLAIN" : " LOGINDISABLED");
    else
        lwm_snfmt(caps, sizeof caps,
                  "%s NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE "
                  "LIST-EXTENDED LIST-STATUS ESEARCH STATUS=SIZE BINARY "
                  "APPENDLIMIT=%U", common, (uint64_t)LWM_IMAP_APPENDLIMIT);
    return caps;
}

/* RFC 9051 6.2.1: TLS on an established connection. The OK is sent in
 * the clear; sess_run starts the handshake once it is flushed and drops
 * anything the client sent behind the command. */
int cmd_starttls(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    if (s->cmd.ntoks)
        return resp_bad(s, "STARTTLS takes no arguments");
    if (!srv_tls_ready(srv))
        return resp_bad(s, "TLS is not available");
    if (srv_tls_on(srv, s->slot))
        return resp_bad(s, "TLS is already active");
    s->starttls = 1;
    return resp_ok(s, "Begin TLS negotiation now");
}

/* LOGIN and AUTHENTICATE on a connection without TLS, unless allowed */
static void rx_scrub(struct imap_sess *s);

static int privacy_required(struct imap_sess *s)
{
    rx_scrub(s);        /* a password sent in the clear is not kept */
    return resp_no(s, "[PRIVACYREQUIRED] Plaintext login is "
                      "disabled: use STARTTLS or port 993");
}

int cmd_capability(struct imap_sess *s)
{
    if (s->cmd.ntoks)
        return resp_bad(s, "CAPABILITY takes no arguments");
    out_fmt(s, "* CAPABILITY %s\r\n", capability_string(s));
    return resp_done(s);
}

int cmd_noop(struct imap_sess *s)
{
    if (s->cmd.ntoks)
        return resp_bad(s, "No arguments expected");
    return resp_done(s);
}

int cmd_logout(struct imap_sess *s)
{
    if (s->cmd.ntoks)
        return resp_bad(s, "LOGOUT takes no arguments");
    out_str(s, "* BYE Logging out\r\n");
    s->state = SS_LOGOUT;
    return resp_done(s);
}

int cmd_id(struct imap_sess *s)
{
    /* RFC 2971: ID ( "key" "value" ... ) or ID NIL */
    uint32_t i;
    if (s->cmd.ntoks == 0)
        return resp_bad(s, "ID needs a list or NIL");
    if (!tok_is(s, &s->toks[0], "NIL")) {
        if (s->toks[0].type != LWM_TOK_LIST ||
            s->toks[0].len != s->cmd.ntoks - 1)
            return resp_bad(s, "ID needs a list or NIL");
        /* RFC 2971 4: field/value pairs of strings (values may be NIL) */
        if ((s->cmd.ntoks - 2) % 2 != 0)
            return resp_bad(s, "ID needs field/value pairs");
        for (i = 1; i + 1 < s->cmd.ntoks; i++)
            if (s->toks[i].type == LWM_TOK_LIST)
                return resp_bad(s, "ID fields are strings");
    } else if (s->cmd.ntoks != 1) {
        return resp_bad(s, "ID needs a list or NIL");
    }
    out_str(s, "* ID (\"name\" \"lwmail\" \"version\" \"" LWM_VERSION
               "\")\r\n");
    return resp_done(s);
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
    return resp_no(s, "[AUTHENTICATIONFAILED] Authentication failed");
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
    uint8_t *rx = sess_rx(s);
    memset(rx, 0, s->cmd_len);
    memset(rx + srv->rx_len[k], 0, sess_rx_cap(s) - srv->rx_len[k]);
}

/* "<what> for <user> from <address>": the name as the client gave it,
 * control and non-ASCII bytes shown as '?' so nothing can forge log
 * lines. Never the password. */
static void log_auth(struct imap_sess *s, int level, const char *what)
{
    const struct auth_login *l = &s->u.au;
    char name[LWM_USER_NAME_MAX + 1];
    size_t i;
    for (i = 0; i < l->name_len; i++) {
        uint8_t c = (uint8_t)l->name[i];
        name[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    sess_logf(s, level, "%s for %b from %s", what, name, i,
              auth_peer(s->slot));
}

/* The check succeeded: the session is authenticated as user name */
static int login_ok(struct imap_sess *s, const char *name)
{
    struct lwm_server *srv = sess_srv(s);
    int id = lwm_user_find(srv->store, name);
    if (id < 0)
        return resp_store_err(s, id, "Mail store unavailable");
    s->user = (uint16_t)id;
    s->state = SS_AUTH;
    sess_logf(s, LWM_LOG_INFO, "logged in: %s", name);
    return resp_fmt(s, "OK [CAPABILITY %s] Logged in", capability_string(s));
}

static int login_step(struct imap_sess *s)
{
    struct auth_login *l = &s->u.au;
    int r = auth_login_step(l, srv_now(sess_srv(s)));
    if (l->failed_now) {
        l->failed_now = 0;
        log_auth(s, LWM_LOG_NOTICE, "authentication failed");
        /* the lockout is told once, as it begins: tries while locked are
         * not logged above debug, so a flood does not flood the log */
        if (l->fails == LWM_AUTH_FREE_FAILS)
            sess_logf(s, LWM_LOG_WARNING, "%s locked out after %u failed "
                      "logins", auth_peer(s->slot), l->fails);
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
        log_auth(s, LWM_LOG_DEBUG, "login refused (address locked out)");
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
        return resp_bad(s, "LOGIN needs a user name and a password");
    }
    if (s->toks[0].type == LWM_TOK_LIST || s->toks[1].type == LWM_TOK_LIST) {
        rx_scrub(s);
        return resp_bad(s, "LOGIN arguments are strings");
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
        return resp_bad(s, "Invalid base64");
    }
    p = buf;
    z1 = memchr(p, 0, (size_t)n);
    z2 = z1 ? memchr(z1 + 1, 0, (size_t)(buf + n - z1 - 1)) : NULL;
    if (!z1 || !z2) {
        r = auth_failed(s);     /* not a try: nothing to check */
    } else if (z1 != p && ((size_t)(z1 - p) != (size_t)(z2 - z1 - 1) ||
                           memcmp(p, z1 + 1, (size_t)(z1 - p)) != 0)) {
        /* an authorization identity other than the user: unsupported */
        r = resp_no(s, "[AUTHORIZATIONFAILED] Authorization identity refused");
    } else {
        r = login_begin(s, (const char *)z1 + 1, (size_t)(z2 - z1 - 1),
                        (const char *)z2 + 1, (size_t)(buf + n - z2 - 1));
    }
    lwm_auth_zeroize(buf, sizeof buf);
    return r;
}

/* Drop the running command's bytes from the receive buffer before it
 * ends: the lines that follow (a SASL answer, IDLE's DONE) are read from
 * the buffer's start. */
static void take_command(struct imap_sess *s)
{
    rx_drop(s, s->cmd_len);
    s->cmd_len = 0;
}

/* Waiting for the client's answer to "+ " */
static int auth_wait(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    int k = s->slot;
    uint8_t *rx = sess_rx(s);
    uint8_t *lf = memchr(rx, '\n', srv->rx_len[k]);
    size_t n;
    if (!lf) {
        if (srv->rx_len[k] == sess_rx_cap(s)) {
            srv->rx_len[k] = 0;
            s->rx_mode = RX_SKIPLINE;
            rx_scrub(s);
            return resp_bad(s, "SASL response too long");
        }
        return STEP_INPUT;
    }
    n = (size_t)(lf - rx);
    s->cmd_len = (uint32_t)n + 1;   /* dropped when the command ends */
    if (n && rx[n - 1] == '\r')
        n--;
    if (n == 1 && rx[0] == '*')
        return resp_bad(s, "Authentication cancelled");
    return sasl_plain(s, rx, n);    /* it clears the line */
}

int cmd_authenticate(struct imap_sess *s)
{
    if (!login_allowed(s))
        return privacy_required(s);
    if (s->cmd.ntoks < 1 || s->cmd.ntoks > 2 ||
        s->toks[0].type != LWM_TOK_ATOM)
        return resp_bad(s, "AUTHENTICATE needs a mechanism");
    if (!tok_is(s, &s->toks[0], "PLAIN"))
        return resp_no(s, "[CANNOT] Unsupported mechanism");
    if (s->cmd.ntoks == 2) {
        const struct lwm_tok *t = &s->toks[1];
        if (t->type != LWM_TOK_ATOM)
            return resp_bad(s, "Invalid initial response");
        return sasl_plain(s, sess_rx(s) + t->off, t->len);
    }
    /* the answer arrives as a line of its own: take the command out */
    take_command(s);
    out_str(s, "+ \r\n");
    s->step = auth_wait;
    return STEP_INPUT;
}

int cmd_enable(struct imap_sess *s)
{
    uint32_t i;
    int any = 0;
    if (s->cmd.ntoks == 0)
        return resp_bad(s, "ENABLE needs capabilities");
    for (i = 0; i < s->cmd.ntoks; i++)
        if (s->toks[i].type != LWM_TOK_ATOM)
            return resp_bad(s, "ENABLE takes atoms");
    for (i = 0; i < s->cmd.ntoks; i++) {
        if (tok_is(s, &s->toks[i], "IMAP4rev2") && !s->rev2) {
            s->rev2 = 1;
            s->utf8 = 1;        /* RFC 9051: mailbox names are UTF-8 */
            any = 1;
        }
    }
    out_str(s, any ? "* ENABLED IMAP4rev2\r\n" : "* ENABLED\r\n");
    return resp_done(s);
}

int cmd_namespace(struct imap_sess *s)
{
    if (s->cmd.ntoks)
        return resp_bad(s, "NAMESPACE takes no arguments");
    out_str(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
    return resp_done(s);
}

int cmd_idle(struct imap_sess *s)
{
    if (s->cmd.ntoks)
        return resp_bad(s, "IDLE takes no arguments");
    take_command(s);
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
    if (len == 4 && lwm_ieq(line, "DONE", 4))
        resp_ok(s, "IDLE terminated");
    else
        resp_bad(s, "Expected DONE");
}
