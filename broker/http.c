/*
 * http.c — libevent's evhttp glue (contract in http.h): the listener (plain or TLS through
 * libevent's OpenSSL bufferevents), the request object handed to api.c, replies and streamed
 * replies, and the one outgoing GET the broker makes (the JWKS refresh), all on the loop thread.
 * Must not: parse JSON bodies, know a route, or block: every socket is non-blocking and every
 * outcome arrives as a libevent callback.
 */
#include "http.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "log.h"

struct pb_http {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    int port;
    int64_t timeout_ms;
    pb_http_handler_t handler;
    void *arg;
    void *(*new_ssl)(void *arg); /* TLS listener: makes each connection's SSL (tls.c) */
    void *tls_arg;
};

struct pb_http_req {
    struct evhttp_request *ev; /* NULL once the client is gone */
    struct evhttp_connection *conn;
    pb_http_method_t method;
    char *path;
    char *raw_path;
    struct evkeyvalq query;
    char *body;
    size_t body_len;
    char peer[64];
    pb_http_t *http;
    const void *ssl; /* the connection's SSL on a TLS listener */
    /* Streaming replies (pb_http_stream_*). */
    struct evhttp_request *orphan; /* detached by libevent when the client left: ours to free */
    int streaming;
    pb_http_stream_cb_t on_drain, on_close;
    void *stream_arg;
    /* The reply hook (pb_http_on_reply). */
    pb_http_reply_cb_t reply_cb;
    void *reply_arg;
    int status_sent;
};

static const char *reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 207: return "Multi-Status";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

static void req_free(pb_http_req_t *r) {
    if (r->reply_cb) r->reply_cb(r, r->status_sent, r->reply_arg);
    if (r->orphan) evhttp_request_free(r->orphan);
    evhttp_clear_headers(&r->query);
    free(r->path);
    free(r->raw_path);
    free(r->body);
    free(r);
}

static void on_close(struct evhttp_connection *conn, void *arg) {
    (void)conn;
    pb_http_req_t *r = arg;
    /* A request libevent detached from the dying connection (client EOF or timeout before the
     * reply was done) is no longer freed by libevent; one still attached is freed right after. */
    if (r->ev && !evhttp_request_get_connection(r->ev)) r->orphan = r->ev;
    r->ev = NULL;
    r->conn = NULL;
    if (r->streaming && r->on_close) {
        pb_http_stream_cb_t cb = r->on_close;
        r->on_close = NULL;
        r->on_drain = NULL;
        cb(r, r->stream_arg); /* may end (free) r: nothing touches r after this */
    }
}

static pb_http_method_t map_method(enum evhttp_cmd_type c) {
    switch (c) {
    case EVHTTP_REQ_GET: return PB_HTTP_GET;
    case EVHTTP_REQ_POST: return PB_HTTP_POST;
    case EVHTTP_REQ_PUT: return PB_HTTP_PUT;
    case EVHTTP_REQ_DELETE: return PB_HTTP_DELETE;
    case EVHTTP_REQ_HEAD: return PB_HTTP_HEAD;
    case EVHTTP_REQ_OPTIONS: return PB_HTTP_OPTIONS;
    case EVHTTP_REQ_PATCH: return PB_HTTP_PATCH;
    default: return PB_HTTP_OTHER;
    }
}

static void gencb(struct evhttp_request *ev, void *arg) {
    pb_http_t *h = arg;
    pb_http_req_t *r = calloc(1, sizeof *r);
    if (!r) {
        evhttp_send_error(ev, 503, "out of memory");
        return;
    }
    TAILQ_INIT(&r->query);
    r->ev = ev;
    r->http = h;
    r->method = map_method(evhttp_request_get_command(ev));
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    r->path = evhttp_uridecode(raw && *raw ? raw : "/", 0, NULL);
    r->raw_path = strdup(raw && *raw ? raw : "/");
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    if (q && evhttp_parse_query_str(q, &r->query) != 0) {
        evhttp_clear_headers(&r->query);
        TAILQ_INIT(&r->query);
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(ev);
    r->body_len = evbuffer_get_length(in);
    r->body = malloc(r->body_len + 1);
    if (!r->path || !r->raw_path || !r->body) {
        req_free(r);
        evhttp_send_error(ev, 503, "out of memory");
        return;
    }
    evbuffer_remove(in, r->body, r->body_len);
    r->body[r->body_len] = '\0';
    r->conn = evhttp_request_get_connection(ev);
    if (r->conn) {
        char *addr = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(r->conn, &addr, &port);
        snprintf(r->peer, sizeof r->peer, "%s:%u", addr ? addr : "?", port);
        evhttp_connection_set_closecb(r->conn, on_close, r);
        if (h->new_ssl) {
            struct bufferevent *bev = evhttp_connection_get_bufferevent(r->conn);
            r->ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
        }
    }
    h->handler(r, h->arg);
}

pb_http_t *pb_http_new(pb_loop_t *loop, const char *host, int port, const pb_http_limits_t *lim,
                       pb_http_handler_t handler, void *arg, pb_err_t *err) {
    pb_http_t *h = calloc(1, sizeof *h);
    if (!h) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    h->handler = handler;
    h->arg = arg;
    h->timeout_ms = lim->timeout_ms;
    h->http = evhttp_new(pb_loop_base(loop));
    if (!h->http) {
        pb_err_set(err, PB_ERR_INTERNAL, "libevent: evhttp_new failed");
        goto fail;
    }
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(h->http, (ev_ssize_t)lim->max_body_bytes);
    evhttp_set_max_headers_size(h->http, (ev_ssize_t)lim->max_header_bytes);
    evhttp_set_timeout(h->http, (int)((lim->timeout_ms + 999) / 1000));
    evhttp_set_default_content_type(h->http, "application/json");
    evhttp_set_gencb(h->http, gencb, h);
    h->sock = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
    if (!h->sock) {
        pb_err_set(err, PB_ERR_IO, "cannot listen on %s:%d: %s", host, port,
                   evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(h->sock);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        h->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return h;
fail:
    pb_http_destroy(h);
    return NULL;
}

/* evhttp's bufferevent factory on a TLS listener: the accepted socket is set on it afterwards. */
static struct bufferevent *tls_bevcb(struct event_base *base, void *arg) {
    pb_http_t *h = arg;
    void *ssl = h->new_ssl(h->tls_arg);
    if (!ssl) return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    /* Clients that close without a TLS close_notify are common: not an error. */
    if (bev) bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void pb_http_set_tls(pb_http_t *h, void *(*new_ssl)(void *arg), void *arg) {
    h->new_ssl = new_ssl;
    h->tls_arg = arg;
    evhttp_set_bevcb(h->http, tls_bevcb, h);
}

const void *pb_http_req_tls(const pb_http_req_t *r) { return r->ssl; }

int pb_http_port(const pb_http_t *h) { return h->port; }

void pb_http_stop_accepting(pb_http_t *h) {
    if (h->sock) {
        evhttp_del_accept_socket(h->http, h->sock);
        h->sock = NULL;
    }
}

void pb_http_destroy(pb_http_t *h) {
    if (!h) return;
    if (h->http) evhttp_free(h->http);
    free(h);
}

pb_http_method_t pb_http_method(const pb_http_req_t *r) { return r->method; }

const char *pb_http_method_name(const pb_http_req_t *r) {
    static const char *n[] = {"?",    "GET",     "POST",  "PUT",  "DELETE",
                              "HEAD", "OPTIONS", "PATCH", "OTHER"};
    return n[r->method];
}

const char *pb_http_path(const pb_http_req_t *r) { return r->path; }

const char *pb_http_raw_path(const pb_http_req_t *r) { return r->raw_path; }

const char *pb_http_query(const pb_http_req_t *r, const char *name) {
    return evhttp_find_header(&r->query, name);
}

const char *pb_http_header(const pb_http_req_t *r, const char *name) {
    if (!r->ev) return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

const char *pb_http_body(const pb_http_req_t *r, size_t *len) {
    if (len) *len = r->body_len;
    return r->body;
}

const char *pb_http_peer(const pb_http_req_t *r) { return r->peer; }

int pb_http_req_gone(const pb_http_req_t *r) { return r->ev == NULL; }

void pb_http_set_header(pb_http_req_t *r, const char *name, const char *value) {
    if (!r->ev) return;
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

void pb_http_on_reply(pb_http_req_t *r, pb_http_reply_cb_t cb, void *arg) {
    r->reply_cb = cb;
    r->reply_arg = arg;
}

void *pb_http_reply_arg(const pb_http_req_t *r) { return r->reply_arg; }

void pb_http_reply(pb_http_req_t *r, int status, const char *content_type, const void *body,
                   size_t len) {
    r->status_sent = status;
    if (r->ev) {
        if (r->conn) evhttp_connection_set_closecb(r->conn, NULL, NULL);
        struct evkeyvalq *oh = evhttp_request_get_output_headers(r->ev);
        if (content_type) evhttp_add_header(oh, "Content-Type", content_type);
        struct evbuffer *out = evbuffer_new();
        if (out && len) evbuffer_add(out, body, len);
        evhttp_send_reply(r->ev, status, reason(status), out);
        if (out) evbuffer_free(out);
    }
    req_free(r);
}

/* ---- outgoing POST (OpenLineage events, #6) -------------------------------------------------- */

struct pb_http_post {
    struct event_base *base;
    struct evhttp_connection *conn;
    struct event *done_ev; /* reports the outcome from the loop, outside libevent's callback */
    pb_http_post_cb_t cb;
    void *arg;
    int status;
    char reason[128];
};

static void post_free(pb_http_post_t *p) {
    if (!p) return;
    if (p->conn) evhttp_connection_free(p->conn);
    if (p->done_ev) event_free(p->done_ev);
    free(p);
}

/* Runs from the loop after the request callback returned: the connection can be freed here. */
static void post_report(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    pb_http_post_t *p = arg;
    p->cb(p->arg, p->status, p->reason);
    post_free(p);
}

static void post_done(struct evhttp_request *req, void *arg) {
    pb_http_post_t *p = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    p->status = code;
    if (code > 0)
        snprintf(p->reason, sizeof p->reason, "%d %s", code,
                 evhttp_request_get_response_code_line(req)
                     ? evhttp_request_get_response_code_line(req)
                     : "");
    else
        snprintf(p->reason, sizeof p->reason, "connection failed or timed out");
    struct timeval zero = {0, 0};
    event_add(p->done_ev, &zero);
}

pb_http_post_t *pb_http_post(pb_loop_t *loop, const char *url, const char *content_type,
                             const void *body, size_t len, int64_t timeout_ms, pb_http_post_cb_t cb,
                             void *arg, pb_err_t *err) {
    struct evhttp_uri *uri = NULL;
    struct evhttp_request *req = NULL;
    pb_http_post_t *p = NULL;
    char target[2048], hostport[300];
    uri = evhttp_uri_parse(url);
    const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    if (!uri || !scheme || strcmp(scheme, "http") != 0 || !host || !*host) {
        pb_err_set(err, PB_ERR_INVALID, "'%s' is not an http://host[:port]/path URL", url);
        goto fail;
    }
    int port = evhttp_uri_get_port(uri);
    if (port < 0) port = 80;
    const char *path = evhttp_uri_get_path(uri), *query = evhttp_uri_get_query(uri);
    snprintf(target, sizeof target, "%s%s%s", path && *path ? path : "/", query ? "?" : "",
             query ? query : "");
    snprintf(hostport, sizeof hostport, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    if (!(p = calloc(1, sizeof *p))) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    p->base = pb_loop_base(loop);
    p->cb = cb;
    p->arg = arg;
    p->done_ev = event_new(p->base, -1, 0, post_report, p);
    /* Host names are resolved with the loop's evdns base: a slow DNS server never stalls the loop.
     */
    p->conn = evhttp_connection_base_new(p->base, pb_loop_dns(loop), host, (ev_uint16_t)port);
    req = evhttp_request_new(post_done, p);
    if (!p->done_ev || !p->conn || !req) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(p->conn, &tv);
    evhttp_connection_set_retries(p->conn, 0);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Connection", "close");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    if (evhttp_make_request(p->conn, req, EVHTTP_REQ_POST, target) != 0) {
        req = NULL; /* evhttp_make_request frees it on failure */
        pb_err_set(err, PB_ERR_IO, "POST %s: cannot start the request", url);
        goto fail;
    }
    evhttp_uri_free(uri);
    return p;
fail:
    if (req) evhttp_request_free(req);
    post_free(p);
    if (uri) evhttp_uri_free(uri);
    return NULL;
}

void pb_http_post_cancel(pb_http_post_t *p) { post_free(p); }
/* ---- streaming replies ---------------------------------------------------------------------- */

static void on_stream_drained(struct evhttp_connection *conn, void *arg) {
    (void)conn;
    pb_http_req_t *r = arg;
    if (r->streaming && r->ev && r->on_drain) r->on_drain(r, r->stream_arg);
}

int pb_http_stream_start(pb_http_req_t *r, int status, const char *content_type,
                         pb_http_stream_cb_t drain_cb, pb_http_stream_cb_t close_cb, void *arg) {
    PB_ASSERT(!r->streaming);
    if (!r->ev || !r->conn) return PB_ERR_UNAVAILABLE;
    r->streaming = 1;
    r->status_sent = status;
    r->on_drain = drain_cb;
    r->on_close = close_cb;
    r->stream_arg = arg;
    struct evkeyvalq *oh = evhttp_request_get_output_headers(r->ev);
    if (content_type) evhttp_add_header(oh, "Content-Type", content_type);
    evhttp_add_header(oh, "Cache-Control", "no-cache");
    /* One stream per connection: the connection closes when the stream ends, so the timeouts
     * changed below never apply to a later request. */
    evhttp_add_header(oh, "Connection", "close");
    evhttp_send_reply_start(r->ev, status, reason(status));
    /* A long poll may be silent for longer than http.timeout.ms: no read timeout (reading stays
     * enabled, so a client that leaves is still seen at once). The write timeout stays: a client
     * that stops reading while data is queued is dropped after http.timeout.ms. */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->conn);
    if (bev) {
        struct timeval tv = {.tv_sec = r->http->timeout_ms / 1000,
                             .tv_usec = (r->http->timeout_ms % 1000) * 1000};
        bufferevent_set_timeouts(bev, NULL, &tv);
        /* Each chunk goes out when written: Nagle would hold a chunk's tail segment until the
         * client acknowledges the previous one. */
        int one = 1;
        evutil_socket_t fd = bufferevent_getfd(bev);
        if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return 0;
}

int pb_http_stream_write(pb_http_req_t *r, const void *data, size_t len) {
    PB_ASSERT(r->streaming);
    if (!r->ev) return PB_ERR_UNAVAILABLE;
    if (!len) return 0;
    struct evbuffer *b = evbuffer_new();
    if (!b || evbuffer_add(b, data, len) != 0) {
        if (b) evbuffer_free(b);
        return PB_ERR_NOMEM;
    }
    evhttp_send_reply_chunk_with_cb(r->ev, b, on_stream_drained, r);
    evbuffer_free(b);
    return 0;
}

size_t pb_http_stream_queued(const pb_http_req_t *r) {
    if (!r->ev || !r->conn) return 0;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->conn);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

void pb_http_stream_end(pb_http_req_t *r) {
    PB_ASSERT(r->streaming);
    if (r->ev) {
        if (r->conn) evhttp_connection_set_closecb(r->conn, NULL, NULL);
        evhttp_send_reply_end(r->ev); /* libevent frees the request once sent */
    }
    req_free(r);
}

/* ---- outgoing GET (the JWKS refresh) -------------------------------------------------------- */

struct pb_http_get {
    struct evhttp_connection *conn;
    struct event *done_ev; /* reports from the loop, outside libevent's callback */
    pb_http_get_cb_t cb;
    void *arg;
    size_t max_bytes;
    int64_t timeout_ms;
    int error; /* enum evhttp_request_error + 1 once libevent reported one, else 0 */
    int status;
    char reason[128];
    char *body;
    size_t len;
};

/* libevent's reason for a failed request, kept for the report (get_done sees only code 0). */
static void get_error(enum evhttp_request_error e, void *arg) {
    pb_http_get_t *g = arg;
    g->error = (int)e + 1;
}

static void get_free(pb_http_get_t *g) {
    if (!g) return;
    if (g->conn) evhttp_connection_free(g->conn);
    if (g->done_ev) event_free(g->done_ev);
    free(g->body);
    free(g);
}

static void get_report(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    pb_http_get_t *g = arg;
    g->cb(g->arg, g->status, g->reason, g->body, g->len);
    get_free(g);
}

static void get_done(struct evhttp_request *req, void *arg) {
    pb_http_get_t *g = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    struct evbuffer *in = req ? evhttp_request_get_input_buffer(req) : NULL;
    size_t n = in ? evbuffer_get_length(in) : 0;
    g->status = code;
    if (code <= 0) {
        switch (g->error ? (enum evhttp_request_error)(g->error - 1) : EVREQ_HTTP_EOF) {
        case EVREQ_HTTP_TIMEOUT:
            snprintf(g->reason, sizeof g->reason, "no answer within %lld ms",
                     (long long)g->timeout_ms);
            break;
        case EVREQ_HTTP_DATA_TOO_LONG:
            snprintf(g->reason, sizeof g->reason, "answer larger than %zu bytes", g->max_bytes);
            break;
        case EVREQ_HTTP_INVALID_HEADER:
            snprintf(g->reason, sizeof g->reason, "the answer is not valid HTTP");
            break;
        default:
            snprintf(g->reason, sizeof g->reason,
                     "connection refused or closed before a complete answer");
        }
    } else if (n > g->max_bytes) {
        g->status = 0;
        snprintf(g->reason, sizeof g->reason, "answer larger than %zu bytes", g->max_bytes);
    } else if (!(g->body = malloc(n + 1))) {
        g->status = 0;
        snprintf(g->reason, sizeof g->reason, "out of memory");
    } else {
        evbuffer_remove(in, g->body, n);
        g->body[n] = '\0';
        g->len = n;
        snprintf(g->reason, sizeof g->reason, "%d %s", code,
                 evhttp_request_get_response_code_line(req)
                     ? evhttp_request_get_response_code_line(req)
                     : "");
    }
    struct timeval zero = {0, 0};
    event_add(g->done_ev, &zero);
}

pb_http_get_t *pb_http_get(pb_loop_t *loop, const char *url, int64_t timeout_ms, size_t max_bytes,
                           pb_http_get_cb_t cb, void *arg, pb_err_t *err) {
    struct evhttp_uri *uri = evhttp_uri_parse(url);
    struct evhttp_request *req = NULL;
    pb_http_get_t *g = NULL;
    char target[2048], hostport[300];
    const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    if (!uri || !scheme || strcmp(scheme, "http") != 0 || !host || !*host) {
        pb_err_set(err, PB_ERR_INVALID, "'%s' is not an http://host[:port]/path URL", url);
        goto fail;
    }
    int port = evhttp_uri_get_port(uri);
    if (port < 0) port = 80;
    const char *path = evhttp_uri_get_path(uri), *query = evhttp_uri_get_query(uri);
    snprintf(target, sizeof target, "%s%s%s", path && *path ? path : "/", query ? "?" : "",
             query ? query : "");
    snprintf(hostport, sizeof hostport, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    if (!(g = calloc(1, sizeof *g))) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    g->cb = cb;
    g->arg = arg;
    g->max_bytes = max_bytes;
    g->timeout_ms = timeout_ms;
    g->done_ev = event_new(pb_loop_base(loop), -1, 0, get_report, g);
    g->conn =
        evhttp_connection_base_new(pb_loop_base(loop), pb_loop_dns(loop), host, (ev_uint16_t)port);
    req = evhttp_request_new(get_done, g);
    if (!g->done_ev || !g->conn || !req) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    evhttp_request_set_error_cb(req, get_error);
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(g->conn, &tv);
    evhttp_connection_set_retries(g->conn, 0);
    evhttp_connection_set_max_body_size(g->conn, (ev_ssize_t)max_bytes + 1);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, "Accept", "application/json");
    evhttp_add_header(h, "Connection", "close");
    if (evhttp_make_request(g->conn, req, EVHTTP_REQ_GET, target) != 0) {
        req = NULL;
        pb_err_set(err, PB_ERR_IO, "GET %s: cannot start the request", url);
        goto fail;
    }
    evhttp_uri_free(uri);
    return g;
fail:
    if (req) evhttp_request_free(req);
    get_free(g);
    if (uri) evhttp_uri_free(uri);
    return NULL;
}

void pb_http_get_cancel(pb_http_get_t *g) { get_free(g); }
const char *pb_http_libevent_version(void) { return event_get_version(); }
