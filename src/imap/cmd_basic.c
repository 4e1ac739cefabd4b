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
static int privacy_required(struct imap_sess *s)
{
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

/* Constant-time comparison of a given and a configured password, so the
 * time to answer tells nothing about how much of it was right. */
static int secret_equal(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b), i;
    unsigned diff = (unsigned)(alen ^ blen);
    for (i = 0; i < alen; i++)
        diff |= (unsigned)(uint8_t)a[i] ^ (unsigned)(uint8_t)b[i % (blen ? blen : 1)];
    return diff == 0;
}

/* Check a name and password; on success the session is authenticated */
static int try_login(struct imap_sess *s, const char *user, size_t ulen,
                     const char *pass, size_t plen)
{
    struct lwm_server *srv = sess_srv(s);
    const struct lwm_server_cfg *cfg = srv->cfg;
    uint32_t i;
    int ok = 0, id;
    for (i = 0; i < cfg->nusers; i++) {
        const char *n = cfg->users[i].name;
        if (strlen(n) == ulen && memcmp(n, user, ulen) == 0 &&
            secret_equal(pass, plen, cfg->users[i].password)) {
            ok = 1;
            break;
        }
    }
    if (!ok) {
        sess_log(s, LWM_LOG_NOTICE, "authentication failed for ", "user");
        return resp_tagged(s, "NO", "[AUTHENTICATIONFAILED] "
                                    "Authentication failed");
    }
    id = lwm_user_find(srv->store, cfg->users[i].name);
    if (id < 0)
        return resp_store_err(s, id, "Mail store unavailable");
    s->user = (int16_t)id;
    s->state = SS_AUTH;
    sess_log(s, LWM_LOG_INFO, "logged in: ", cfg->users[i].name);
    done_begin(s, "OK");
    done_add(s, "[CAPABILITY ");
    done_add(s, capability_string(s));
    done_add(s, "] Logged in");
    return done_end(s);
}

int cmd_login(struct imap_sess *s)
{
    char user[LWM_USER_NAME_MAX + 1], pass[256];
    int ul, pl;
    if (!login_allowed(s))
        return privacy_required(s);
    if (s->cmd.ntoks != 2)
        return resp_tagged(s, "BAD", "LOGIN needs a user name and a "
                                     "password");
    ul = tok_string(s, &s->toks[0], user, sizeof user);
    pl = tok_string(s, &s->toks[1], pass, sizeof pass);
    if (ul < 0 || pl < 0) {
        if (s->toks[0].type == LWM_TOK_LIST ||
            s->toks[1].type == LWM_TOK_LIST)
            return resp_tagged(s, "BAD", "LOGIN arguments are strings");
        return resp_tagged(s, "NO", "[AUTHENTICATIONFAILED] "
                                    "Authentication failed");
    }
    return try_login(s, user, (size_t)ul, pass, (size_t)pl);
}

/* SASL PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd */
static int sasl_plain(struct imap_sess *s, const uint8_t *b64, size_t len)
{
    uint8_t buf[400];
    const uint8_t *p, *z1, *z2;
    int n;
    if (len == 1 && b64[0] == '=')
        len = 0;                /* SASL-IR: an empty initial response */
    n = lwm_base64_decode(b64, len, buf, sizeof buf);
    if (n < 0)
        return resp_tagged(s, "BAD", "Invalid base64");
    p = buf;
    z1 = memchr(p, 0, (size_t)n);
    z2 = z1 ? memchr(z1 + 1, 0, (size_t)(buf + n - z1 - 1)) : NULL;
    if (!z1 || !z2)
        return resp_tagged(s, "NO", "[AUTHENTICATIONFAILED] "
                                    "Authentication failed");
    /* an authorization identity other than the user is not supported */
    if (z1 != p && ((size_t)(z1 - p) != (size_t)(z2 - z1 - 1) ||
                    memcmp(p, z1 + 1, (size_t)(z1 - p)) != 0))
        return resp_tagged(s, "NO", "[AUTHORIZATIONFAILED] "
                                    "Authorization identity refused");
    return try_login(s, (const char *)z1 + 1, (size_t)(z2 - z1 - 1),
                     (const char *)z2 + 1, (size_t)(buf + n - z2 - 1));
}

/* Waiting for the client's answer to "+ " */
static int auth_wait(struct imap_sess *s)
{
    struct lwm_server *srv = sess_srv(s);
    int k = s->slot;
    uint8_t *rx = srv->rx[k];
    uint8_t *lf = memchr(rx, '\n', srv->rx_len[k]);
    size_t n;
    int r;
    if (!lf) {
        if (srv->rx_len[k] == LWM_IMAP_RXBUF) {
            srv->rx_len[k] = 0;
            s->rx_mode = RX_SKIPLINE;
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
    r = sasl_plain(s, rx, n);
    memset(rx, 0, n);           /* do not keep the password around */
    return r;
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
