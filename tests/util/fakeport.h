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
};

/** Start a server on store with the given users (NULL-terminated
 *  name/password pairs). The clock starts at 1,000,000 ms. */
struct lwm_server *fake_server(struct lwm_store *store,
                               const char *const *users);
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
/** What arrived since the last fake_cmd/fake_take (and consume it). */
const char *fake_take(struct fake_conn *c);

#endif
