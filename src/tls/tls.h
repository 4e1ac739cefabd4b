/*
 * lwmail TLS - the transport layer under a session (mbedTLS 2.28).
 *
 * The IMAP code never sees it: src/server routes a slot's bytes through
 * here when the slot has TLS (implicit on an IMAPS listener, or after
 * STARTTLS). Memory is all static:
 *
 *   - one tls_conn (mbedTLS context and transport state) per TLS session,
 *     LWM_TLS_SESSIONS of them;
 *   - record buffers (16 KB in, LWM_TLS_OUT_LEN out) from static pools, one
 *     pair per TLS session, handed out by the allocator router below;
 *   - everything else mbedTLS allocates (keys, certificate, handshake
 *     state) from a small-object arena, MBEDTLS_MEMORY_BUFFER_ALLOC_C over
 *     a static array of LWM_TLS_ARENA bytes.
 *
 * Transport: the port reads at most lwm_conn_rx_room() bytes, which for a
 * TLS slot is exactly what mbedTLS asks for next (a record header, then
 * the rest of the record), so no ciphertext is ever staged. Decrypted
 * bytes go straight into the session's receive buffer; what does not fit
 * stays in mbedTLS until the session has room again (tls_poll).
 *
 * Output: mbedtls_ssl_write() that returns WANT_WRITE has already copied
 * and encrypted the data; only the send is pending. tls_send reports the
 * bytes taken and pushes the rest of that record first on the next call
 * (or when the port has room again); a closing session waits for it.
 */
#ifndef LWM_TLS_H
#define LWM_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "lwmail/lwm_server.h"

/* mbedTLS's random generator, seeded from the port's entropy hook
 * (certificate generation, salts). Valid after tls_rng_init. */
int tls_random(void *p_rng, unsigned char *out, size_t len);
int tls_rng_init(struct lwm_server *srv);

#if LWM_TLS

/** Set up the arena, the random generator, the certificate and key (from
 *  cfg, or the store's, generated on first start), the TLS configuration.
 *  0 or a negative lwm_err. */
int tls_init(struct lwm_server *srv, const struct lwm_tls_cfg *cfg);
/** Is TLS configured? */
int tls_ready(void);
/** Start TLS on a slot (implicit TLS at accept, or STARTTLS once the OK is
 *  flushed). 0, or < 0 when no TLS session is free. */
int tls_start(struct lwm_server *srv, int slot);
/** Does the slot use TLS (handshake or open)? */
int tls_on(int slot);
size_t tls_rx_room(struct lwm_server *srv, int slot);
void tls_input(struct lwm_server *srv, int slot, const uint8_t *p,
               size_t len);
/** The session's output, to be encrypted; how many bytes were taken. */
int tls_send(struct lwm_server *srv, int slot, const uint8_t *p, size_t len);
/** The port can send again. */
void tls_output(struct lwm_server *srv, int slot);
int tls_wants_output(int slot);
/** Is part of an encrypted record still waiting for the port? */
int tls_flushing(int slot);
/** Best-effort close_notify before the port closes the connection. */
void tls_close_notify(struct lwm_server *srv, int slot);
/** Forget the slot's TLS state (the connection is gone or closed). */
void tls_release(int slot);
/** Handshake timeouts, queued handshakes, plaintext waiting for room.
 *  Returns 1 while work is pending. */
int tls_poll(struct lwm_server *srv, uint32_t now);
void tls_stats(struct lwm_tls_stats *st);

#else

#define tls_ready() 0
#define tls_on(slot) 0
#define tls_flushing(slot) 0

#endif /* LWM_TLS */

#endif /* LWM_TLS_H */
