/*
 * httpc — a tiny blocking HTTP/1.1 client for the command line tools (`portbroker registry
 * import`): one request per connection, plain http:// only, bounded in time and size.
 *
 * Owns: URL parsing (http://[user:password@]host[:port][/base]), the request (Basic auth from the
 * URL's user info, JSON body), reading the answer (Content-Length, chunked, or until close).
 * Must not: be used by the daemon (its loop never waits on the network; http.c serves it), use
 * libevent, or follow redirects.
 */
#ifndef PB_HTTPC_H
#define PB_HTTPC_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* A parsed base URL. */
typedef struct pb_httpc_url {
    char host[256];
    char port[8];
    char base[512]; /* path prefix without a trailing '/', "" for none */
    char auth[512]; /* "user:password" from the URL, "" for none */
} pb_httpc_url_t;

/* Parse url (http:// only). Returns 0, or PB_ERR_INVALID with err saying what is wrong. Pure. */
int pb_httpc_url_parse(const char *url, pb_httpc_url_t *out, pb_err_t *err);

/* An answer: status and body (NUL-terminated; pb_buf_free it). */
typedef struct pb_httpc_resp {
    int status;
    pb_buf_t body;
} pb_httpc_resp_t;

/*
 * Send method base+path (path starts with '/', already percent-encoded) to u with body (may be
 * NULL; sent as application/vnd.schemaregistry.v1+json) and read the answer into *out (reset
 * first). Every connect, write and read waits at most timeout_ms; an answer body beyond
 * max_body bytes fails. Returns 0 (any HTTP status), PB_ERR_IO (connection, timeout, malformed
 * answer: err names the host and what failed) or PB_ERR_TOO_LARGE. Blocking; CLI use only.
 */
int pb_httpc_request(const pb_httpc_url_t *u, const char *method, const char *path,
                     const char *body, size_t body_len, int timeout_ms, size_t max_body,
                     pb_httpc_resp_t *out, pb_err_t *err);

#endif
