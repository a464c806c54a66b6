/*
 * tls — the HTTP listener's TLS (DESIGN.md §9 "Transport"): OpenSSL server contexts made from
 * http.tls.cert.file / http.tls.key.file (TLS >= 1.2), client certificates verified against
 * http.tls.client.ca.file (mTLS), reload on SIGHUP, and the principal a verified client certificate
 * names (its URI SAN, e.g. a product URN, else its CN).
 *
 * Owns: the current SSL_CTX; every new connection gets an SSL from it (http.c wraps it in
 * libevent's OpenSSL bufferevent). A reload swaps the context for new connections; open ones keep
 * theirs (OpenSSL reference-counts it), so the listener never drops.
 * Must not: include libevent, know HTTP requests or decide authorization.
 */
#ifndef PB_TLS_H
#define PB_TLS_H

#include <stddef.h>

#include "err.h"

typedef struct pb_tls pb_tls_t;

/* Load cert (PEM chain) and key, and client_ca (PEM; NULL or "": no client certificates asked
 * for). Returns NULL with err naming the file and OpenSSL's reason ("http.tls.key.file k.pem:
 * the key does not match the certificate"). */
pb_tls_t *pb_tls_new(const char *cert, const char *key, const char *client_ca, pb_err_t *err);

/* Re-read the files into a new context and use it for new connections. On error the old context
 * stays and err says why. */
int pb_tls_reload(pb_tls_t *t, pb_err_t *err);

/* A new server-side SSL object (an SSL *) for one connection, or NULL out of memory. arg is the
 * pb_tls_t (the shape http.c's hook takes). */
void *pb_tls_new_ssl(void *arg);

/* The principal text a verified client certificate on ssl (an SSL *) names: the first URI SAN,
 * else the subject CN, into out (cap bytes). Returns 1 when a verified certificate gave one, 0
 * when no certificate was presented, -1 when one was presented but names nothing usable. */
int pb_tls_peer_name(const void *ssl, char *out, size_t cap);

/* SHA-256 fingerprint of the serving certificate as hex (65 bytes), for logs. */
void pb_tls_fingerprint(const pb_tls_t *t, char out[65]);

/* NULL is a no-op. */
void pb_tls_destroy(pb_tls_t *t);

#endif
