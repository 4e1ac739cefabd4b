/* See fakeport.h. */
#include "fakeport.h"

#include "lwmail/lwm_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t fake_ms = 1000000;
static struct lwm_server *fake_srv;
static struct lwm_user_cfg fake_users[8];
static char fake_hashes[8][LWM_AUTH_HASH_STR_MAX];
static struct lwm_server_cfg fake_cfg;
static char *last_reply;
static struct fake_conn *by_slot[LWM_MAX_SESSIONS];

static int f_send(void *ctx, void *conn, const uint8_t *p, size_t len)
{
    struct fake_conn *c = conn;
    (void)ctx;
    if (c->closed)
        return -1;
    if (c->paused)
        return 0;
    if (c->window && len > c->window)
        len = c->window;
    if (c->out_len + len >= FAKE_OUT_MAX) {
        /* keep the tail only: tests look at recent output */
        size_t keep = FAKE_OUT_MAX / 2;
        memmove(c->out, c->out + c->out_len - keep, keep);
        c->seen = c->seen > c->out_len - keep ? c->seen - (c->out_len - keep)
                                              : 0;
        c->out_len = keep;
    }
    memcpy(c->out + c->out_len, p, len);
    c->out_len += len;
    c->out[c->out_len] = 0;
    return (int)len;
}

static void f_close(void *ctx, void *conn)
{
    struct fake_conn *c = conn;
    (void)ctx;
    c->closed = 1;
    c->slot = -1;
}

static uint32_t f_now(void *ctx)
{
    (void)ctx;
    return fake_ms;
}

static int64_t f_time(void *ctx)
{
    (void)ctx;
    return 1767225600 + fake_ms / 1000; /* 2026-01-01 */
}

void (*fake_log_hook)(int level, int conn, const char *msg);

static void f_log(void *ctx, int level, int conn, const char *msg)
{
    (void)ctx;
    if (fake_log_hook)
        fake_log_hook(level, conn, msg);
    if (getenv("LWM_TEST_LOG"))
        fprintf(stderr, "log %d [%d] %s\n", level, conn, msg);
}

static const struct lwm_port fake_port = {
    NULL, f_send, f_close, f_now, f_time, f_log, NULL,
};

struct lwm_server *fake_server(struct lwm_store *store,
                               const char *const *users)
{
    int n = 0, err;
    while (users && users[2 * n] && n < 8) {
        /* a fixed salt per user: the tests are reproducible */
        uint8_t salt[16] = "fake-salt-00000";
        const char *pw = users[2 * n + 1];
        salt[15] = (uint8_t)n;
        if (lwm_auth_hash(pw, strlen(pw), salt, sizeof salt, FAKE_ITERATIONS,
                          fake_hashes[n], sizeof fake_hashes[n]) < 0)
            return NULL;
        fake_users[n].name = users[2 * n];
        fake_users[n].pass_hash = fake_hashes[n];
        n++;
    }
    return fake_server_users(store, fake_users, (uint32_t)n, &err);
}

struct lwm_server *fake_server_users(struct lwm_store *store,
                                     const struct lwm_user_cfg *users,
                                     uint32_t n, int *err)
{
    memset(&fake_cfg, 0, sizeof fake_cfg);
    fake_cfg.store = store;
    fake_cfg.port = &fake_port;
    fake_cfg.users = users;
    fake_cfg.nusers = n;
    /* in-memory connections: nothing to snoop */
    fake_cfg.allow_plaintext_auth = 1;
    fake_srv = lwm_server_init(&fake_cfg, err);
    return fake_srv;
}

void fake_advance(uint32_t ms)
{
    fake_ms += ms;
}

uint32_t fake_now(void)
{
    return fake_ms;
}

void fake_open(struct fake_conn *c)
{
    if (!c->out)
        c->out = calloc(1, FAKE_OUT_MAX + 1);
    c->out_len = c->seen = 0;
    c->out[0] = 0;
    c->closed = 0;
    c->slot = lwm_conn_open(fake_srv, c, c->peer ? c->peer : "fake", 0);
    {
        int k;
        for (k = 0; k < LWM_MAX_SESSIONS; k++)
            if (by_slot[k] == c)
                by_slot[k] = NULL;
    }
    if (c->slot >= 0)
        by_slot[c->slot] = c;
    fake_run();
}

void fake_close(struct fake_conn *c)
{
    int k;
    for (k = 0; k < LWM_MAX_SESSIONS; k++)
        if (by_slot[k] == c)
            by_slot[k] = NULL;
    if (c->slot >= 0 && !c->closed)
        lwm_conn_gone(fake_srv, c->slot);
    c->slot = -1;
    free(c->out);
    c->out = NULL;
}

void fake_run(void)
{
    int i;
    for (i = 0; i < 100000; i++) {
        int busy = lwm_server_poll(fake_srv) == 0, k, any = 0;
        for (k = 0; k < LWM_MAX_SESSIONS; k++) {
            if (by_slot[k] && by_slot[k]->paused)
                continue;       /* it would take nothing */
            if (lwm_conn_wants_output(fake_srv, k)) {
                lwm_conn_output(fake_srv, k);
                any = 1;
            }
        }
        if (!busy && !any)
            return;
    }
}

void fake_input(struct fake_conn *c, const void *data, size_t n)
{
    const uint8_t *p = data;
    int stalls = 0;
    while (n && c->slot >= 0 && !c->closed) {
        size_t room = lwm_conn_rx_room(fake_srv, c->slot), k = n;
        if (c->chunk && k > c->chunk)
            k = c->chunk;
        if (k > room)
            k = room;
        if (k == 0) {
            fake_run();
            if (++stalls > 1000)
                break;          /* the server stopped reading */
            continue;
        }
        stalls = 0;
        lwm_conn_input(fake_srv, c->slot, p, k);
        p += k;
        n -= k;
        fake_run();
    }
    fake_run();
}

const char *fake_take(struct fake_conn *c)
{
    size_t from = c->seen;
    free(last_reply);
    last_reply = malloc(c->out_len - from + 1);
    memcpy(last_reply, c->out + from, c->out_len - from);
    last_reply[c->out_len - from] = 0;
    c->seen = c->out_len;
    return last_reply;
}

/* The response up to the line starting with tag, after what was seen;
 * NULL if it has not come yet */
static const char *find_tag(struct fake_conn *c, const char *tag)
{
    size_t tl = strlen(tag);
    const char *p;
    /* find "\n<tag> " (or the start) after seen */
    for (p = c->out + c->seen; p && *p;) {
        if ((p == c->out + c->seen || p[-1] == '\n') &&
            strncmp(p, tag, tl) == 0 && p[tl] == ' ') {
            const char *eol = strchr(p, '\n');
            size_t end = eol ? (size_t)(eol - c->out) + 1 : c->out_len;
            size_t from = c->seen;
            free(last_reply);
            last_reply = malloc(end - from + 1);
            memcpy(last_reply, c->out + from, end - from);
            last_reply[end - from] = 0;
            c->seen = end;
            return last_reply;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

static void send_line(struct fake_conn *c, const char *line)
{
    size_t n = strlen(line);
    fake_input(c, line, n);
    if (n < 2 || line[n - 1] != '\n')
        fake_input(c, "\r\n", 2);
    fake_run();
}

const char *fake_cmd(struct fake_conn *c, const char *tag, const char *line)
{
    send_line(c, line);
    return find_tag(c, tag);
}

const char *fake_wait(struct fake_conn *c, const char *tag, uint32_t max_ms)
{
    uint32_t waited = 0;
    const char *r;
    while (!(r = find_tag(c, tag)) && waited < max_ms && !c->closed) {
        fake_advance(50);
        waited += 50;
        fake_run();
    }
    return r;
}

const char *fake_cmd_wait(struct fake_conn *c, const char *tag,
                          const char *line, uint32_t max_ms)
{
    send_line(c, line);
    return fake_wait(c, tag, max_ms);
}
