/*
 * lwmail TLS - the server certificate kept in the store.
 *
 * On first start without a configured certificate the server makes an
 * ECDSA P-256 key and a self-signed certificate for its host name and
 * keeps both in the store (see docs/DESIGN.md, "TLS certificate"), so
 * they survive restarts and a power cut leaves either none or both.
 */
#ifndef LWM_TLS_CERT_H
#define LWM_TLS_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "lwmail/lwm_store.h"

/** Where it is kept: one message in this store user's mailbox (see
 *  cert.c for the layout). The user exists in the store only: IMAP logs
 *  in configured users, and a configured user name must not start with
 *  '#', so nobody can log in as it. It takes one user slot and the
 *  mailbox slots lwm_user_create makes, plus TLS_CERT_MBOX. */
#define TLS_CERT_USER "#system"
#define TLS_CERT_MBOX "tls"

/**
 * The certificate and key kept in the store, or a new self-signed pair,
 * generated and committed to the store first.
 *
 *   hostname  subject CN and subjectAltName (plus "<first label>.local");
 *             NULL, "" or not a DNS name (letters, digits, '-', '.',
 *             labels of at most 63) means "lwmail". Used only when
 *             generating: a stored certificate is kept when it changes.
 *   now       seconds since 1970 (validity start, 825 days), or 0 when
 *             unknown (then 2026-01-01 00:00:00 UTC)
 *   f_rng     mbedTLS random generator (key, serial, signature)
 *   cert      out: DER certificate, *cert_len bytes (cert_max room)
 *   key       out: DER private key (SEC1), *key_len bytes (key_max room);
 *             the rest of key[] is zeroed, and all of it on failure
 *   created   out: 1 if it was generated now
 *
 * The newest stored message that is whole (magic, lengths, CRC) wins;
 * every other message in the mailbox is expunged. mbedTLS allocates only
 * while generating and frees it all before returning.
 *
 * Returns 0 or a negative lwm_err: LWM_ERR_NOSPC (the store is full),
 * LWM_ERR_NOMEM (cert_max or key_max too small, the mbedTLS arena
 * exhausted, or no user or mailbox slot left), LWM_ERR_INVAL (bad
 * arguments, the random generator failed), LWM_ERR_IO (flash).
 */
int tls_cert_stored(struct lwm_store *st, const char *hostname, int64_t now,
                    int (*f_rng)(void *, unsigned char *, size_t),
                    void *p_rng, uint8_t *cert, size_t cert_max,
                    size_t *cert_len, uint8_t *key, size_t key_max,
                    size_t *key_len, int *created);

#endif /* LWM_TLS_CERT_H */
