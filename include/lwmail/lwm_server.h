/*
 * lwmail - the server core's interface to a port.
 *
 * The core knows nothing of sockets, files or clocks. A port (ports/posix
 * over poll(), ports/lwip over lwIP's raw API) owns the connections and
 * calls the event functions below; the core answers through the hooks in
 * struct lwm_port. Everything runs on one thread; no call blocks on the
 * network (the flash hook is the only synchronous I/O, as in littlefs).
 *
 * A connection's life:
 *
 *   port                                   core
 *   accept()          -> lwm_conn_open()   greeting queued, slot returned
 *   readable: room = lwm_conn_rx_room(); read at most room bytes
 *                     -> lwm_conn_input()  parse and run commands
 *   writable          -> lwm_conn_output() push queued output to send()
 *   peer gone         -> lwm_conn_gone()   slot freed, appends aborted
 *   every loop        -> lwm_server_poll() timers, GC steps, deferred work
 *   core wants it closed: it calls port->close(); the slot is then free.
 *
 * Flow control both ways: the core takes input only while it has room
 * (pipelined commands queue behind a running one up to the receive
 * buffer's size; then rx_room is 0 until they are taken), and it
 * produces output only while the port accepts it: send() may take fewer
 * bytes than offered, and the core resumes from lwm_conn_output() when the
 * port reports space again (POLLOUT, lwIP's sent callback).
 */
#ifndef LWM_SERVER_H
#define LWM_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "lwm_opts.h"
#include "lwm_store.h"

/** The server's version (ID, --version). */
#define LWM_VERSION "0.4.0"

/** Log levels (syslog's numbering). */
#define LWM_LOG_ERR     3
#define LWM_LOG_WARNING 4
#define LWM_LOG_NOTICE  5
#define LWM_LOG_INFO    6
#define LWM_LOG_DEBUG   7

/** Hooks the port provides. All are called from inside the event
 *  functions, never on their own. */
struct lwm_port {
    void *ctx;
    /** Send up to len bytes on the connection; return how many were taken
     *  (0 when the send buffer is full), or < 0 if the connection is dead.
     *  Must not block. */
    int (*send)(void *ctx, void *conn, const uint8_t *p, size_t len);
    /** Close the connection once what send() took is flushed. The core
     *  forgets the connection when this is called (no lwm_conn_gone
     *  follows). */
    void (*close)(void *ctx, void *conn);
    /** Milliseconds from any fixed point; wraps. */
    uint32_t (*now_ms)(void *ctx);
    /** Wall-clock time, seconds since 1970 UTC (APPEND's internal date);
     *  NULL or 0 when the board does not know it yet. */
    int64_t (*unix_time)(void *ctx);
    /** One log line (no newline); conn is < 0 when not about a session. */
    void (*log)(void *ctx, int level, int conn, const char *msg);
    /** Fill buf with len bytes from a cryptographically strong source
     *  (TLS keys, certificate generation, password salts); 0 on success.
     *  Required when the server is configured for TLS. */
    int (*entropy)(void *ctx, uint8_t *buf, size_t len);
};

/** A user as configured. pass_hash is a PBKDF2-HMAC-SHA256 hash string,
 *  "$pbkdf2-sha256$<iterations>$<salt>$<hash>" (lwm_auth.h says it all;
 *  lwm_auth_hash makes one); clear passwords are never configured. Names
 *  starting with '#' are refused (the store's system accounts), as are
 *  malformed hashes: lwm_server_init fails with LWM_ERR_INVAL. The hash
 *  is parsed at lwm_server_init; the name must outlive the server. */
struct lwm_user_cfg {
    const char *name;
    const char *pass_hash;
};

/** TLS configuration. With cert == NULL the server uses the certificate
 *  kept in the store, generating a self-signed ECDSA P-256 one on first
 *  start (see docs/DESIGN.md, "TLS"). Otherwise cert is a PEM chain
 *  (NUL-terminated, len counting the NUL) or one DER certificate, and key
 *  its private key, PEM or DER; the buffers may be freed after
 *  lwm_server_init. */
struct lwm_tls_cfg {
    const uint8_t *cert;
    size_t cert_len;
    const uint8_t *key;
    size_t key_len;
};

/** Server configuration; the caller's, read at lwm_server_init. */
struct lwm_server_cfg {
    struct lwm_store *store;        /* mounted */
    const struct lwm_port *port;
    const struct lwm_user_cfg *users;
    uint32_t nusers;
    const char *hostname;           /* greeting, certificate; may be NULL */
    /** NULL: no TLS (then neither STARTTLS nor LWM_CONN_TLS work). */
    const struct lwm_tls_cfg *tls;
    /** Allow LOGIN and AUTHENTICATE PLAIN on connections without TLS. For
     *  loopback and tests only: on a LAN it sends passwords in clear. */
    int allow_plaintext_auth;
};

/** lwm_conn_open flags */
#define LWM_CONN_TLS 0x01   /* implicit TLS (port 993): handshake first */

/** TLS figures (lwm_server_tls_stats). Arena bytes count what mbedTLS
 *  holds in the small-object arena (record buffers are in static pools). */
struct lwm_tls_stats {
    uint32_t arena_size;
    uint32_t arena_used;        /* now */
    uint32_t arena_idle;        /* right after init: the certificate, key */
    uint32_t arena_peak;        /* high-water mark since init */
    uint32_t alloc_fails;       /* arena or pool exhausted */
    uint32_t sessions;          /* TLS sessions open now */
    uint32_t handshakes;        /* in progress now */
    uint32_t handshakes_ok;     /* completed since init */
    uint32_t handshakes_failed;
    uint32_t last_handshake_ms; /* duration of the latest completed one */
    uint8_t cert_sha256[32];    /* fingerprint of the server certificate */
};

struct lwm_server;   /* opaque; one static instance lives in the core
                        (src/server/server.c), sized by lwm_opts.h */

/**
 * Prepare the server: make sure every configured user exists in the store
 * (creating it with its default mailboxes if not). Returns the server or
 * NULL with *err set. The configuration (and the strings it points to) must outlive the
 * server: it is kept by pointer.
 */
struct lwm_server *lwm_server_init(const struct lwm_server_cfg *cfg,
                                   int *err);

/** A connection was accepted. peer is the client's address as text
 *  (no port): logs, and login throttling per address. flags: LWM_CONN_TLS
 *  for an implicit-TLS listener. Returns its slot (>= 0), or < 0 when it
 *  is refused (all slots taken, too many unauthenticated sessions from
 *  that address, no TLS session free): the core has then already said
 *  why where it could and called close(). */
int lwm_conn_open(struct lwm_server *srv, void *conn, const char *peer,
                  unsigned flags);

/** How many bytes the slot can take now (0: stop reading for a while). */
size_t lwm_conn_rx_room(struct lwm_server *srv, int slot);

/** Bytes arrived; len must not exceed lwm_conn_rx_room(). */
void lwm_conn_input(struct lwm_server *srv, int slot, const uint8_t *p,
                    size_t len);

/** The port can send again: the core pushes queued output. */
void lwm_conn_output(struct lwm_server *srv, int slot);

/** Does the slot have output queued (the port should wait for POLLOUT)? */
int lwm_conn_wants_output(struct lwm_server *srv, int slot);

/** The peer went away or the connection failed: free the slot. */
void lwm_conn_gone(struct lwm_server *srv, int slot);

/** Timers and bounded background work (GC steps, deferred command
 *  steps, IDLE pushes). Returns how many milliseconds the port may wait
 *  for network events before calling again: 0 while work is pending. */
int lwm_server_poll(struct lwm_server *srv);

/** TLS figures; 0 if the server has no TLS. */
int lwm_server_tls_stats(struct lwm_server *srv, struct lwm_tls_stats *st);

/** Log out every session ("* BYE"), abort open appends. The store stays
 *  mounted and consistent. */
void lwm_server_shutdown(struct lwm_server *srv);

#endif /* LWM_SERVER_H */
