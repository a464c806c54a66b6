/*
 * http — libevent's evhttp glue and nothing else.
 *
 * Owns: the listening socket, the per-request object (pb_http_req_t: method, decoded path,
 * query, headers, a copy of the body) and sending replies. Handlers live in api.c.
 * A handler must reply exactly once, now or later (asynchronous replies keep the request until
 * then); pb_http_reply frees the request. If the client goes away first, the request stays valid
 * for its owner but pb_http_req_gone() turns true and the reply is dropped quietly.
 * Every answer the server gives on its own (a request refused before any handler: bad framing,
 * a body or headers over the limits, an unknown method, deadlines) is the API's JSON error shape
 * `{"error_code": N, "message": "..."}`, never libevent's HTML pages, and closes the connection.
 * Must not: parse JSON or know any route.
 */
#ifndef PB_HTTP_H
#define PB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "loop.h"

typedef struct pb_http pb_http_t;
typedef struct pb_http_req pb_http_req_t;
typedef void (*pb_http_handler_t)(pb_http_req_t *req, void *arg);

typedef struct pb_http_limits {
    int64_t max_body_bytes;   /* larger bodies get 413 before the handler runs */
    const char *max_body_key; /* static text naming the setting behind it, for the 413 */
    int64_t max_header_bytes;
    int64_t timeout_ms; /* idle / slow client timeout */
    /* Deadlines that reads do not restart (0: none): a request's headers from its first byte, its
     * body from the end of the headers, and a kept-alive connection's next request (a new
     * connection's first request has header_timeout_ms). */
    int64_t header_timeout_ms, body_timeout_ms, idle_timeout_ms;
    int64_t max_connections; /* beyond it a connection gets 503 and is closed (0: no limit) */
} pb_http_limits_t;

/* The connection limit to use for a configured http.max.connections: raises the process's soft
 * file-descriptor limit to its hard limit, then keeps a reserve of descriptors for Kafka clients
 * and files (a quarter of the limit, at least 128) out of the HTTP budget; logs a warning when
 * it lowers the value. Call once at start. */
int64_t pb_http_fd_budget(int64_t configured);

/* Listen on host:port (port 0 picks one; see pb_http_port) and call handler for every request,
 * on the loop thread. Returns NULL with err set ("cannot listen on 127.0.0.1:8080: Address already
 * in use"). */
pb_http_t *pb_http_new(pb_loop_t *loop, const char *host, int port, const pb_http_limits_t *lim,
                       pb_http_handler_t handler, void *arg, pb_err_t *err);

/* Serve HTTPS only: every accepted connection is wrapped in libevent's OpenSSL bufferevent around
 * new_ssl(arg) (an SSL *, tls.c). Call right after pb_http_new, before the loop runs. */
void pb_http_set_tls(pb_http_t *h, void *(*new_ssl)(void *arg), void *arg);

/* The port actually bound. */
int pb_http_port(const pb_http_t *h);

/* Stop accepting new connections (shutdown). Open requests may still complete. */
void pb_http_stop_accepting(pb_http_t *h);

/* Free the server and close every connection. NULL is a no-op. */
void pb_http_destroy(pb_http_t *h);

/* The linked libevent's version string ("2.1.12-stable"). Any thread. */
const char *pb_http_libevent_version(void);

/* ---- requests ---- */
typedef enum {
    PB_HTTP_GET = 1,
    PB_HTTP_POST,
    PB_HTTP_PUT,
    PB_HTTP_DELETE,
    PB_HTTP_HEAD,
    PB_HTTP_OPTIONS,
    PB_HTTP_PATCH,
    PB_HTTP_OTHER
} pb_http_method_t;

pb_http_method_t pb_http_method(const pb_http_req_t *r);
const char *pb_http_method_name(const pb_http_req_t *r);
/* Percent-decoded path without the query ("/v1/ports/urn:dpds:..."). */
const char *pb_http_path(const pb_http_req_t *r);
/* The path as received (still percent-encoded), without the query. */
const char *pb_http_raw_path(const pb_http_req_t *r);
/* Decoded query parameter, or NULL. */
const char *pb_http_query(const pb_http_req_t *r, const char *name);
/* Request header (case-insensitive), or NULL. */
const char *pb_http_header(const pb_http_req_t *r, const char *name);

/* Does Content-Type value v name media type t? Case-insensitive, blanks around it skipped,
 * parameters after ';' ignored ("application/json; charset=utf-8" names application/json). Pure. */
int pb_http_media_is(const char *v, const char *t);
/* The body (NUL-terminated copy owned by the request; len excludes the NUL). */
const char *pb_http_body(const pb_http_req_t *r, size_t *len);
/* Peer address text, for logs. */
const char *pb_http_peer(const pb_http_req_t *r);
/* The connection's SSL * on a TLS listener (for the client certificate), else NULL. */
const void *pb_http_req_tls(const pb_http_req_t *r);
/* True once the client has disconnected before the reply. */
int pb_http_req_gone(const pb_http_req_t *r);

/* Add a response header (before the reply). */
void pb_http_set_header(pb_http_req_t *r, const char *name, const char *value);

/* Called once with the status sent (0 when none was) just before r is freed, after its reply or
 * stream start: the audit hook (access.c). cb must not reply or free r. One hook per request; arg
 * is the caller's (pb_http_reply_arg gives it back). */
typedef void (*pb_http_reply_cb_t)(pb_http_req_t *r, int status, void *arg);
void pb_http_on_reply(pb_http_req_t *r, pb_http_reply_cb_t cb, void *arg);
void *pb_http_reply_arg(const pb_http_req_t *r);

/* Send the whole reply and free r. content_type may be NULL (no body expected). */
void pb_http_reply(pb_http_req_t *r, int status, const char *content_type, const void *body,
                   size_t len);

/* The same, taking ownership of body (malloc'd; freed on every path, by libevent once written):
 * no copy of a large reply on the loop thread (GET /metrics at scale: megabytes). */
void pb_http_reply_owned(pb_http_req_t *r, int status, const char *content_type, void *body,
                         size_t len);

/* ---- streaming replies ----
 * A long reply sent in chunks (Transfer-Encoding: chunked) as the owner produces it: subscriber
 * streams. The connection closes when the stream ends.
 */
typedef void (*pb_http_stream_cb_t)(pb_http_req_t *r, void *arg);

/*
 * Send the status line and headers (those set with pb_http_set_header, plus Content-Type,
 * Cache-Control: no-cache and Connection: close) and leave the reply open. The stream has no read
 * timeout (a long poll may be silent for long; the client leaving is still seen at once) but keeps
 * the write timeout http.timeout.ms (a client that stops reading while data is queued is dropped).
 * on_drain(r, arg), may be NULL: called each time everything written so far has been handed to the
 * kernel (the connection's output buffer is empty). on_close(r, arg), may be NULL: called at most
 * once when the client goes away (or the server is destroyed) before pb_http_stream_end; then
 * pb_http_req_gone(r) is true, writes are dropped, and the owner must still call
 * pb_http_stream_end(r) to free r, in the callback or later. Returns 0, or PB_ERR_UNAVAILABLE when
 * the client is already gone (r is then still the caller's to end).
 */
int pb_http_stream_start(pb_http_req_t *r, int status, const char *content_type,
                         pb_http_stream_cb_t on_drain, pb_http_stream_cb_t on_close, void *arg);

/* Queue len bytes as one chunk (copied). Returns 0, PB_ERR_UNAVAILABLE when the client is gone, or
 * PB_ERR_NOMEM. */
int pb_http_stream_write(pb_http_req_t *r, const void *data, size_t len);

/* Bytes queued on the connection and not yet handed to the kernel (0 once gone): backpressure. */
size_t pb_http_stream_queued(const pb_http_req_t *r);

/* Once the client is gone: the bytes that were still queued, unsent, when the connection closed
 * (a client that stopped reading leaves them; the write timeout then closed it). 0 before. */
size_t pb_http_stream_unsent(const pb_http_req_t *r);

/* Finish the stream (last chunk; the connection closes once it is sent) and free r. */
void pb_http_stream_end(pb_http_req_t *r);

#endif

/* ---- outgoing POST (a small asynchronous client: OpenLineage events, #6) ---- */

typedef struct pb_http_post pb_http_post_t;

/* Called once on the loop thread when a POST ends: status is the HTTP status (0 when no answer:
 * connection refused, timeout...), reason says what happened ("200 OK", "connection failed or
 * timed out"). The post object is freed right after the callback returns. */
typedef void (*pb_http_post_cb_t)(void *arg, int status, const char *reason);

/*
 * POST body (len bytes, copied) with content_type to url (`http://host[:port]/path[?query]`),
 * bounded by timeout_ms for connecting and for the answer. Returns a handle (owned by the client
 * until the callback has run; pb_http_post_cancel before then) or NULL with err set (a URL that is
 * not http://, out of memory). cb is never called from inside this function.
 */
pb_http_post_t *pb_http_post(pb_loop_t *loop, const char *url, const char *content_type,
                             const void *body, size_t len, int64_t timeout_ms, pb_http_post_cb_t cb,
                             void *arg, pb_err_t *err);

/* Abandon a POST in flight: cb will not be called; frees the handle. NULL is a no-op. */
void pb_http_post_cancel(pb_http_post_t *p);

/* ---- outgoing GET (a small asynchronous client: the JWKS refresh, auth.jwks.url) ---- */

typedef struct pb_http_get pb_http_get_t;

/* Called once on the loop thread when a GET ends: status as for POSTs (0: no answer), body (len
 * bytes, NULL when none) valid during the call only. The handle is freed right after. */
typedef void (*pb_http_get_cb_t)(void *arg, int status, const char *reason, const char *body,
                                 size_t len);

/*
 * GET url (`http://host[:port]/path[?query]`), bounded by timeout_ms; an answer body above
 * max_bytes is reported as status 0 ("answer larger than N bytes"). Returns a handle (owned by the
 * client until the callback has run; pb_http_get_cancel before then) or NULL with err set. cb is
 * never called from inside this function. Loop thread.
 */
pb_http_get_t *pb_http_get(pb_loop_t *loop, const char *url, int64_t timeout_ms, size_t max_bytes,
                           pb_http_get_cb_t cb, void *arg, pb_err_t *err);

/* Abandon a GET in flight: cb will not be called; frees the handle. NULL is a no-op. */
void pb_http_get_cancel(pb_http_get_t *g);
