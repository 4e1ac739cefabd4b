/*
 * lwmail tests - an in-memory port for driving the server core without
 * sockets: each fake connection collects what the core sends, takes at
 * most `window` bytes per send() (to exercise flow control), and feeds
 * input in chunks of `chunk` bytes (1: byte by byte) while the core has
 * room for them.
 */
#ifndef LWM_TEST_FAKEPORT_H
#define LWM_TEST_FAKEPORT_H

#include <stddef.h>
#include <stdint.h>

#include "lwmail/lwm_server.h"

#define FAKE_OUT_MAX (8u << 20)

struct fake_conn {
    int slot;            /* core slot, -1 when closed */
    int closed;          /* the core closed it */
    size_t window;       /* max bytes taken per send (0: all) */
    int paused;          /* the peer reads nothing for now */
    size_t chunk;        /* input bytes per lwm_conn_input (0: all) */
    char *out;           /* everything received, NUL-terminated */
    size_t out_len;
    size_t seen;         /* fake_reply() consumed up to here */
    const char *peer;    /* client address for fake_open (NULL: "fake") */
};

/** Start a server on store with the given users (NULL-terminated
 *  name/password pairs; each password is configured as its PBKDF2 hash
 *  string, FAKE_ITERATIONS iterations, so logins stay fast). The clock
 *  starts at 1,000,000 ms. Plaintext logins are allowed. */
#define FAKE_ITERATIONS 1000
struct lwm_server *fake_server(struct lwm_store *store,
                               const char *const *users);
/** The same with ready-made users (hash strings as configured); NULL and
 *  *err set when lwm_server_init refuses them. */
struct lwm_server *fake_server_users(struct lwm_store *store,
                                     const struct lwm_user_cfg *users,
                                     uint32_t n, int *err);
/** Called with every line the core logs (tests look at them); NULL: none. */
extern void (*fake_log_hook)(int level, int conn, const char *msg);
/** Advance the fake clock. */
void fake_advance(uint32_t ms);
void fake_open(struct fake_conn *c);
void fake_close(struct fake_conn *c);
/** Feed bytes (respecting rx room) and run the server until quiet. */
void fake_input(struct fake_conn *c, const void *p, size_t n);
/** Run polls and output until nothing changes. */
void fake_run(void);
/** Send line (a tagged command, with CRLF added if missing) and return
 *  everything received up to and including the line starting with the
 *  tag (NULL if it never comes). The result stays valid until the next
 *  call on c. */
const char *fake_cmd(struct fake_conn *c, const char *tag, const char *line);
/** fake_cmd for answers that wait on a timer (a failed login is answered
 *  after LWM_AUTH_FAIL_DELAY_MS): fake time advances in 50 ms steps, up to
 *  max_ms, until the tagged response arrives. */
const char *fake_cmd_wait(struct fake_conn *c, const char *tag,
                          const char *line, uint32_t max_ms);
/** The same, for a tagged response to input already sent. */
const char *fake_wait(struct fake_conn *c, const char *tag, uint32_t max_ms);
/** The fake clock now. */
uint32_t fake_now(void);
/** What arrived since the last fake_cmd/fake_take (and consume it). */
const char *fake_take(struct fake_conn *c);

#endif
