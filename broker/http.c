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
#include <event2/listener.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jsontext.h"
#include "log.h"

struct pb_http {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    int port;
    int64_t timeout_ms;
    pb_http_handler_t handler;
    void *arg;
    struct evconnlistener *lev;  /* the listener inside h->sock, for accept back-off */
    struct event *resume_ev;     /* re-enables accepting after a pause at the fd limit */
    pb_http_t *next;             /* in live_servers */
    void *(*new_ssl)(void *arg); /* TLS listener: makes each connection's SSL (tls.c) */
    void *tls_arg;
    /* Connections (see "connections" below). */
    int64_t header_timeout_ms, body_timeout_ms, idle_timeout_ms, max_connections;
    int64_t nconns;        /* open connections, refused ones until they are closed included */
    int64_t accept_cap;    /* accepting pauses at this many (max_connections + refusal room) */
    int accept_paused;     /* paused at accept_cap (not the EMFILE back-off) */
    struct pb_conn **byfd; /* open connections by socket fd (nbyfd slots) */
    int nbyfd;
    int64_t max_body_bytes, max_header_bytes; /* for the parser's checks and messages */
    const char *max_body_key;                 /* the config key behind max_body_bytes */
    int own_write; /* > 0 while http.c writes a reply of its own (not evhttp's error page) */
    struct pb_linger *lingering; /* sockets closing after a refusal (linger_start) */
    int nlingering;
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
    const void *ssl;         /* the connection's SSL on a TLS listener */
    struct pb_conn *tracked; /* its connection's tracking, until the reply is complete */
    /* Streaming replies (pb_http_stream_*). */
    struct evhttp_request *orphan; /* detached by libevent when the client left: ours to free */
    int streaming;
    pb_http_stream_cb_t on_drain, on_close;
    void *stream_arg;
    size_t unsent; /* bytes still queued when the connection closed (pb_http_stream_unsent) */
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
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
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
    pb_http_req_t *r = arg;
    /* A request libevent detached from the dying connection (client EOF or timeout before the
     * reply was done) is no longer freed by libevent; one still attached is freed right after. */
    if (r->ev && !evhttp_request_get_connection(r->ev)) r->orphan = r->ev;
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    if (bev) r->unsent = evbuffer_get_length(bufferevent_get_output(bev));
    r->ev = NULL;
    r->conn = NULL;
    r->tracked = NULL;
    if (r->streaming && r->on_close) {
        pb_http_stream_cb_t cb = r->on_close;
        r->on_close = NULL;
        r->on_drain = NULL;
        cb(r, r->stream_arg); /* may end (free) r: nothing touches r after this */
    }
}

/* The API's error body for an answer http.c gives itself (msg is escaped here; it may quote the
 * request). Returns its length, as snprintf. */
static int error_json(char *out, size_t n, int status, const char *msg) {
    char esc[512];
    pb_jsontext_escape_to(esc, sizeof esc, msg, strlen(msg), 0, NULL);
    return snprintf(out, n, "{\"error_code\":%d,\"message\":\"%s\"}", status, esc);
}

/* ---- connections ---------------------------------------------------------------------------
 * libevent 2.1's evhttp has no connection limit and restarts its timeout on every read, so a
 * client sending one byte every few seconds holds a connection for ever. Every accepted connection
 * is therefore made by us (evhttp's bufferevent factory) and tracked: on the loop's next turn,
 * once evhttp holds it, its close callback is ours (counting http.max.connections; a request's
 * own close handling is called from it), and a callback on its input buffer sees the request's
 * bytes, which gives each phase a deadline that reads do not restart:
 *   WAIT     a new connection, or one between requests: the first byte of a request within
 *            http.header.timeout.ms (new connection) or http.idle.timeout.ms (kept alive);
 *   HEADERS  the blank line that ends the headers within http.header.timeout.ms of the first byte;
 *   BODY     the request complete (evhttp calls gencb) within http.body.timeout.ms of the headers;
 *   HANDLING the handler owns it (replies and streams have their own write timeouts); when the
 *            reply is complete the connection is WAIT again, or HEADERS if bytes came meanwhile.
 * A deadline closes the connection: 408 in the API's JSON shape while a request was being read
 * (plain HTTP), then shutdown(); libevent sees the end of the stream and frees the connection the
 * usual way. Beyond http.max.connections a new connection gets 503 and is closed the same way. */
enum { CONN_WAIT, CONN_HEADERS, CONN_BODY, CONN_HANDLING };

typedef struct pb_conn {
    pb_http_t *h;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* once attached (conn_attach) */
    struct event *timer;
    pb_http_req_t *req; /* the request whose reply is not complete, if any */
    int fd;
    int phase;
    int fresh;       /* no request yet on this connection */
    int refuse;      /* over http.max.connections: answer 503 and close */
    int line_start;  /* scanning headers: at the start of a line */
    int bytes_while; /* bytes came while HANDLING (a pipelined request) */
    /* The request parser (see "strict parsing" below). */
    int ps;                        /* P_* */
    int64_t line_len;              /* bytes of the current line so far ('\n' excluded) */
    char line[128];                /* its first bytes, NUL-terminated */
    char tail[12];                 /* its last bytes (up to 10; '\r' included), NUL-terminated */
    int64_t head_bytes;            /* request line, headers and trailers so far */
    int64_t content_length;        /* the last valid Content-Length value, -1 when none */
    int ncl, nte;                  /* Content-Length and Transfer-Encoding headers seen */
    int64_t chunk_left, body_seen; /* chunked body: data still due in this chunk, data so far */
    char method[16];               /* the request's method token, for messages */
    /* Our answer in place of evhttp's own error page (conn_out). */
    int why_status; /* set when the parser refused the request */
    char why[240];
    int rewriting;   /* 1 once evhttp writes an error page on this connection; 2 inside conn_out */
    size_t out_base; /* bytes queued before that page (a 100 Continue), kept */
    int lib_status;  /* the status evhttp chose */
} pb_conn_t;

static void on_close(struct evhttp_connection *conn, void *arg);

static void conn_arm(pb_conn_t *c, int phase, int64_t ms) {
    c->phase = phase;
    if (!c->evcon) return; /* conn_attach arms it */
    if (ms <= 0) {
        event_del(c->timer);
        return;
    }
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    event_add(c->timer, &tv);
}

/* Close c: an answer first when one is due and can be written as plain bytes (not over TLS, and
 * nothing of a reply started), then shutdown(): evhttp reads the end and frees the connection. */
static void conn_close(pb_conn_t *c, int status, const char *msg) {
    if (c->fd < 0) return;
    if (status && !c->h->new_ssl) {
        char body[400], head[512];
        int bl = error_json(body, sizeof body, status, msg);
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: "
                          "%d\r\nConnection: close\r\n%s\r\n",
                          status, reason(status), bl, status == 503 ? "Retry-After: 1\r\n" : "");
        /* Best effort and never blocking: a client that does not read gets the close alone. */
        if (send(c->fd, head, (size_t)hl, MSG_NOSIGNAL | MSG_DONTWAIT) == hl)
            (void)send(c->fd, body, (size_t)bl, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    shutdown(c->fd, SHUT_RDWR);
}

static void conn_peer(const pb_conn_t *c, char *out, size_t n) {
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (c->evcon) evhttp_connection_get_peer(c->evcon, &addr, &port);
    snprintf(out, n, "%s:%u", addr ? addr : "?", port);
}

static void conn_deadline(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    pb_conn_t *c = arg;
    pb_http_t *h = c->h;
    char peer[80], msg[200];
    conn_peer(c, peer, sizeof peer);
    switch (c->phase) {
    case CONN_WAIT:
        /* Idle between requests (or never sent one): close quietly, as servers do. */
        if (c->fresh)
            pb_log_rl(INFO, "http",
                      "closed a connection from %s: no request within %lld ms "
                      "(http.header.timeout.ms)",
                      peer, (long long)h->header_timeout_ms);
        conn_close(c, 0, NULL);
        return;
    case CONN_HEADERS:
        snprintf(msg, sizeof msg,
                 "the request headers did not arrive within %lld ms (http.header.timeout.ms)",
                 (long long)h->header_timeout_ms);
        break;
    case CONN_BODY:
        snprintf(msg, sizeof msg,
                 "the request body did not arrive within %lld ms (http.body.timeout.ms)",
                 (long long)h->body_timeout_ms);
        break;
    default: return;
    }
    pb_log_rl(WARN, "http", "closed a connection from %s: %s (a slow or stalled client)", peer,
              msg);
    conn_close(c, 408, msg);
}

/* ---- strict parsing ------------------------------------------------------------------------
 * libevent 2.1 is lax where a proxy in front may not be ("+5" as a Content-Length, "0x10" or
 * "a foo" as a chunk size, folded header lines, blank lines between chunks, any
 * Transfer-Encoding but chunked ignored), and where it refuses a request it writes its own HTML
 * page with a status that may be wrong (413 for a bad chunk size). So every request is also read
 * by the parser below, byte by byte as it arrives and before evhttp parses it (conn_in runs inside
 * libevent's read): the request line's method, Content-Length and Transfer-Encoding, the size of
 * the headers, and a chunked body's framing. A request it refuses is answered by evhttp's own
 * failure path, made to fail at that line: the bytes from the offending line on are replaced by a
 * line evhttp cannot parse either. Whatever evhttp then writes as its error page is replaced by
 * the API's JSON error (conn_out) with the parser's status and reason, and the connection closes
 * (evhttp's error pages close it). An error page evhttp writes on its own (a request the parser
 * let through) gets the same JSON shape with a reason from its status.
 * A request is parsed only when its first byte starts an empty input buffer; bytes pipelined
 * behind another request are left to evhttp alone (P_UNSYNC) and checked after parsing
 * (check_framing, check_target). */
enum {
    P_START,
    P_REQLINE,
    P_HEADER,
    P_CHUNK_SIZE,
    P_CHUNK_DATA,
    P_CHUNK_CRLF,
    P_TRAILER,
    P_DONE,
    P_UNSYNC,
    P_DEAD
};

/* The longest chunk-size line taken (hex digits of a 60-bit number; no extensions). */
#define CHUNK_LINE_MAX 16

static void parser_reset(pb_conn_t *c, int ps) {
    c->ps = ps;
    c->line_len = 0;
    c->line[0] = c->tail[0] = '\0';
    c->head_bytes = 0;
    c->content_length = -1;
    c->ncl = c->nte = 0;
    c->chunk_left = c->body_seen = 0;
    c->method[0] = '\0';
}

/* Copy at most n-1 bytes of untrusted text s into out for a message: printable ASCII, without
 * quotes or backslashes (messages are written into JSON as they are), '?' for anything else. */
static void safe_text(char *out, size_t n, const char *s) {
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
    }
    out[i] = '\0';
}

/* Refuse the request being parsed: remember why, then replace the bytes from offset at (the
 * start of the offending line, still unread by evhttp) on with a line evhttp cannot parse in any
 * state, so that it fails there and answers (conn_out turns the answer into ours). */
static void parser_refuse(pb_conn_t *c, struct evbuffer *b, size_t at, int status, const char *fmt,
                          ...) __attribute__((format(printf, 5, 6)));
static void parser_refuse(pb_conn_t *c, struct evbuffer *b, size_t at, int status, const char *fmt,
                          ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    c->why_status = status;
    c->ps = P_DEAD; /* the edits below call conn_in again: it ignores them */
    struct evbuffer *keep = at ? evbuffer_new() : NULL;
    if (keep) evbuffer_remove_buffer(b, keep, at);
    evbuffer_drain(b, evbuffer_get_length(b));
    if (keep) {
        evbuffer_add_buffer(b, keep);
        evbuffer_free(keep);
    }
    evbuffer_add(b, "\x01\r\n", 3);
}

/* Only digits (1 to 18 of them: an int64), as RFC 9110 writes a Content-Length. */
static int64_t parse_length(const char *v) {
    size_t n = strlen(v);
    if (n == 0 || n > 18 || strspn(v, "0123456789") != n) return -1;
    return strtoll(v, NULL, 10);
}

/* A whole line (without its '\n' and a '\r' before it) in state c->ps; at is the offset of its
 * first byte in b. Returns 0 to go on, -1 when the request was refused. */
static int parser_line(pb_conn_t *c, struct evbuffer *b, size_t at, char *line, int trunc,
                       const char *tail) {
    pb_http_t *h = c->h;
    char txt[48];
    switch (c->ps) {
    case P_REQLINE: {
        size_t m = strcspn(line, " ");
        snprintf(c->method, sizeof c->method, "%.*s", (int)(m < 15 ? m : 15), line);
        /* The line's end: " HTTP/1.1" after a target (a long target is beyond line[]). */
        size_t tl = strlen(tail);
        const char *v = tl >= 9 ? tail + tl - 9 : "";
        if (!line[m] || (!trunc && strlen(line) < m + 11) ||
            (strcmp(v, " HTTP/1.1") != 0 && strcmp(v, " HTTP/1.0") != 0)) {
            safe_text(txt, sizeof txt, line);
            parser_refuse(c, b, at, 400,
                          "the request line '%s' is not 'METHOD target HTTP/1.1' (HTTP/1.0 and "
                          "1.1 are served)",
                          txt);
            return -1;
        }
        c->ps = P_HEADER;
        return 0;
    }
    case P_HEADER:
        if (*line == ' ' || *line == '\t') {
            parser_refuse(c, b, at, 400,
                          "a header line starts with a blank (obsolete line folding is refused, "
                          "RFC 9112 section 5.2)");
            return -1;
        }
        if (*line) {
            char *colon = strchr(line, ':');
            if (!colon) {
                safe_text(txt, sizeof txt, line);
                parser_refuse(c, b, at, 400, "the header line '%s' has no ':'", txt);
                return -1;
            }
            *colon = '\0';
            char *v = colon + 1;
            v += strspn(v, " \t");
            for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t');)
                *--e = '\0';
            if (strcasecmp(line, "Content-Length") == 0) {
                c->ncl++;
                int64_t n = trunc ? -1 : parse_length(v);
                safe_text(txt, sizeof txt, v);
                if (n < 0) {
                    parser_refuse(c, b, at, 400,
                                  "Content-Length '%s' is not a number of bytes (digits only)",
                                  txt);
                    return -1;
                }
                c->content_length = n;
            } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
                c->nte++;
                if (trunc || strcasecmp(v, "chunked") != 0) {
                    safe_text(txt, sizeof txt, v);
                    parser_refuse(c, b, at, 501,
                                  "Transfer-Encoding '%s' is not supported (only chunked; "
                                  "Content-Encoding carries gzip and zstd)",
                                  txt);
                    return -1;
                }
            }
            return 0;
        }
        /* The end of the headers. */
        if (c->ncl > 1 || c->nte > 1 || (c->ncl && c->nte)) {
            parser_refuse(c, b, at, 400, "ambiguous request framing: %s",
                          c->ncl > 1   ? "more than one Content-Length header"
                          : c->nte > 1 ? "more than one Transfer-Encoding header"
                                       : "both Content-Length and Transfer-Encoding");
            return -1;
        }
        if (h->max_body_bytes > 0 && c->content_length > h->max_body_bytes) {
            parser_refuse(c, b, at, 413,
                          "the request body of %lld bytes is larger than the limit of %lld bytes "
                          "(%s)",
                          (long long)c->content_length, (long long)h->max_body_bytes,
                          h->max_body_key);
            return -1;
        }
        c->ps = c->nte ? P_CHUNK_SIZE : P_DONE;
        return 0;
    case P_CHUNK_CRLF:
        if (*line) {
            parser_refuse(c, b, at, 400,
                          "invalid chunked body: chunk data not followed by CRLF (after %lld "
                          "bytes of the body)",
                          (long long)c->body_seen);
            return -1;
        }
        c->ps = P_CHUNK_SIZE;
        return 0;
    case P_CHUNK_SIZE: {
        size_t n = strlen(line);
        if (trunc || n == 0 || n > 15 || strspn(line, "0123456789abcdefABCDEF") != n) {
            safe_text(txt, sizeof txt, line);
            parser_refuse(c, b, at, 400,
                          "invalid chunked body: chunk size '%s' after %lld bytes of the body is "
                          "not hexadecimal digits (no extensions, no blanks)",
                          txt, (long long)c->body_seen);
            return -1;
        }
        int64_t size = strtoll(line, NULL, 16);
        if (h->max_body_bytes > 0 && size > h->max_body_bytes - c->body_seen) {
            parser_refuse(c, b, at, 413,
                          "the chunked request body is larger than the limit of %lld bytes (%s)",
                          (long long)h->max_body_bytes, h->max_body_key);
            return -1;
        }
        c->chunk_left = size;
        c->body_seen += size;
        c->ps = size ? P_CHUNK_DATA : P_TRAILER;
        return 0;
    }
    case P_TRAILER:
        if (!*line) {
            c->ps = P_DONE;
        } else if (!strchr(line, ':') || *line == ' ' || *line == '\t') {
            safe_text(txt, sizeof txt, line);
            parser_refuse(c, b, at, 400, "invalid chunked body: the trailer line '%s'", txt);
            return -1;
        }
        return 0;
    default: return 0;
    }
}

/* Feed the parser n bytes p at offset at of b. Returns 0 to go on, -1 to stop (refused, or the
 * request is complete and what follows is not ours to parse). */
static int parser_feed(pb_conn_t *c, struct evbuffer *b, size_t at, const unsigned char *p,
                       size_t n) {
    pb_http_t *h = c->h;
    for (size_t i = 0; i < n; i++) {
        if (c->ps == P_CHUNK_DATA) { /* data is skipped, not scanned */
            size_t k = (size_t)c->chunk_left < n - i ? (size_t)c->chunk_left : n - i;
            c->chunk_left -= (int64_t)k;
            i += k - 1;
            if (!c->chunk_left) c->ps = P_CHUNK_CRLF;
            continue;
        }
        if (c->ps == P_DONE || c->ps == P_DEAD) return -1;
        size_t pos = at + i, start = pos - (size_t)c->line_len;
        int head = c->ps == P_REQLINE || c->ps == P_HEADER || c->ps == P_TRAILER;
        if (head && h->max_header_bytes > 0 && ++c->head_bytes > h->max_header_bytes) {
            parser_refuse(c, b, start, 431,
                          "the request line and headers are larger than the limit of %lld bytes "
                          "(http.max.header.bytes)",
                          (long long)h->max_header_bytes);
            return -1;
        }
        if (p[i] != '\n') {
            if ((size_t)c->line_len + 1 < sizeof c->line) {
                c->line[c->line_len] = (char)p[i];
                c->line[c->line_len + 1] = '\0';
            }
            size_t tl = strlen(c->tail);
            if (tl + 1 >= sizeof c->tail) {
                memmove(c->tail, c->tail + 1, tl);
                tl--;
            }
            c->tail[tl] = (char)p[i];
            c->tail[tl + 1] = '\0';
            c->line_len++;
            if (!head && c->line_len > CHUNK_LINE_MAX + 1) {
                parser_refuse(c, b, start, 400,
                              "invalid chunked body: a chunk-size line longer than %d bytes "
                              "after %lld bytes of the body",
                              CHUNK_LINE_MAX, (long long)c->body_seen);
                return -1;
            }
            continue;
        }
        int trunc = (size_t)c->line_len + 1 >= sizeof c->line;
        size_t l = strlen(c->line), tl = strlen(c->tail);
        if (l && c->line[l - 1] == '\r') c->line[l - 1] = '\0';
        if (tl && c->tail[tl - 1] == '\r') c->tail[tl - 1] = '\0';
        c->line_len = 0;
        int before = c->ps;
        if (parser_line(c, b, start, c->line, trunc, c->tail) != 0) return -1;
        c->line[0] = c->tail[0] = '\0';
        if (before == P_HEADER && c->ps != P_HEADER) conn_arm(c, CONN_BODY, h->body_timeout_ms);
        if (c->ps == P_DONE) return -1;
    }
    return 0;
}

/* Bytes read into the connection's input: a request's start, the end of its headers, and the
 * strict parser. Runs inside libevent's read, before evhttp parses them. */
static void conn_in(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg) {
    pb_conn_t *c = arg;
    if (!info->n_added || c->refuse || c->ps == P_DEAD) return;
    if (c->phase == CONN_HANDLING) {
        c->bytes_while = 1;
        return;
    }
    size_t len = evbuffer_get_length(b), from = len >= info->n_added ? len - info->n_added : 0;
    if (c->phase == CONN_WAIT) {
        conn_arm(c, CONN_HEADERS, c->h->header_timeout_ms);
        c->line_start = 0;
        parser_reset(c, from == 0 && c->ps == P_START ? P_REQLINE : P_UNSYNC);
    }
    if (c->phase == CONN_BODY && c->ps != P_CHUNK_SIZE && c->ps != P_CHUNK_DATA &&
        c->ps != P_CHUNK_CRLF && c->ps != P_TRAILER)
        return;
    struct evbuffer_ptr ptr;
    size_t pos = from;
    while (pos < len) {
        struct evbuffer_iovec v[16];
        if (evbuffer_ptr_set(b, &ptr, pos, EVBUFFER_PTR_SET) != 0) return;
        int nv = evbuffer_peek(b, (ev_ssize_t)(len - pos), &ptr, v, 16);
        if (nv <= 0) return;
        for (int i = 0; i < nv && i < 16 && pos < len; i++) {
            const unsigned char *p = v[i].iov_base;
            size_t n = v[i].iov_len < len - pos ? v[i].iov_len : len - pos;
            if (c->ps != P_UNSYNC) {
                if (parser_feed(c, b, pos, p, n) != 0) return;
                pos += n;
                continue;
            }
            for (size_t j = 0; j < n; j++) { /* unparsed: only the end of the headers */
                if (p[j] == '\n') {
                    if (c->line_start) {
                        conn_arm(c, CONN_BODY, c->h->body_timeout_ms);
                        return;
                    }
                    c->line_start = 1;
                } else if (p[j] != '\r') {
                    c->line_start = 0;
                }
            }
            pos += n;
        }
    }
}

/* The reason for an error page evhttp wrote on its own (the parser did not refuse the request). */
static int lib_reason(const pb_conn_t *c, int status, char *msg, size_t n) {
    char m[20];
    safe_text(m, sizeof m, c->method);
    switch (status) {
    case 413:
        snprintf(msg, n,
                 "the request body is larger than the limit of %lld bytes (%s), or its chunked "
                 "framing is invalid",
                 (long long)c->h->max_body_bytes, c->h->max_body_key);
        return 413;
    case 417: snprintf(msg, n, "the Expect header asks for more than 100-continue"); return 417;
    case 501:
        if (*m)
            snprintf(msg, n, "method %s is not supported", m);
        else
            snprintf(msg, n, "the request method is not supported");
        return 501;
    default:
        snprintf(msg, n,
                 "the request is not valid HTTP/1.1 (a malformed request line, header or "
                 "chunked body)");
        return 400;
    }
}

/* conn_out's edit (b thawed): on evhttp's first bytes, take its status and say why in the log;
 * then, on each of its writes, keep what came before its page and put ours after it. */
static void conn_rewrite(pb_conn_t *c, struct evbuffer *b, size_t n_added) {
    size_t len = evbuffer_get_length(b);
    char msg[300], body[400], head[300];
    int status;
    if (!c->rewriting) {
        size_t base = len >= n_added ? len - n_added : 0;
        char line[16] = {0};
        struct evbuffer_ptr at;
        if (evbuffer_ptr_set(b, &at, base, EVBUFFER_PTR_SET) != 0 ||
            evbuffer_copyout_from(b, &at, line, sizeof line - 1) < 12)
            return;
        int lib = strncmp(line, "HTTP/1.", 7) == 0 ? atoi(line + 9) : 0;
        if (lib == 100) return;
        c->rewriting = 1;
        c->out_base = base;
        c->lib_status = lib;
    }
    if (c->why_status) {
        status = c->why_status;
        snprintf(msg, sizeof msg, "%s", c->why);
    } else {
        status = lib_reason(c, c->lib_status, msg, sizeof msg);
    }
    if (n_added == len - c->out_base) { /* evhttp's first write of the page */
        char peer[80];
        conn_peer(c, peer, sizeof peer);
        pb_log_rl(WARN, "http", "refused a request from %s with %d: %s", peer, status, msg);
    }
    int bl = error_json(body, sizeof body, status, msg);
    if (bl < 0 || (size_t)bl >= sizeof body) bl = (int)sizeof body - 1;
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: "
                      "%d\r\nConnection: close\r\n\r\n",
                      status, reason(status), bl);
    c->rewriting = 2; /* the edits below call conn_out again */
    struct evbuffer *keep = c->out_base ? evbuffer_new() : NULL;
    if (keep) evbuffer_remove_buffer(b, keep, c->out_base);
    evbuffer_drain(b, evbuffer_get_length(b));
    if (keep) {
        evbuffer_add_buffer(b, keep);
        evbuffer_free(keep);
    }
    evbuffer_add(b, head, (size_t)hl);
    if (strcmp(c->method, "HEAD") != 0) evbuffer_add(b, body, (size_t)bl);
    c->rewriting = 1;
}

/* The connection's output: evhttp writing an answer of its own (not through pb_http_reply and
 * the stream calls, which raise h->own_write) while a request is being read is its HTML error
 * page. It is replaced, as it is queued and before any of it is sent, by the API's JSON error
 * with Connection: close; evhttp still closes the connection after it, as for its own page. A
 * 100 Continue passes. */
static void conn_out(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg) {
    pb_conn_t *c = arg;
    if (!info->n_added || c->h->own_write || c->rewriting == 2) return;
    if (!c->rewriting && c->phase == CONN_HANDLING) return;
    /* A socket bufferevent keeps its output's start frozen between writes: copying and draining
     * need it thawed for the time of the edit (buffer.c refuses both on a frozen start). */
    int frozen = evbuffer_drain(b, 0) != 0;
    if (frozen) evbuffer_unfreeze(b, 1);
    conn_rewrite(c, b, info->n_added);
    if (frozen) evbuffer_freeze(b, 1);
}
/* ---- lingering close ------------------------------------------------------------------------
 * A request refused while the client is still sending its body (a chunked body over the limit)
 * leaves unread bytes: closing the socket then makes the kernel send a reset, and a client still
 * writing may lose the answer it has not read yet. So after a refusal the socket outlives evhttp's
 * connection through a duplicate descriptor: its write side is shut (the FIN follows the answer)
 * and what the client still sends is read and dropped until it closes, LINGER_MAX_BYTES have come,
 * or LINGER_MS have passed. At most LINGER_MAX_SOCKETS at once (beyond, the plain close). */
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (4 * 1024 * 1024)
#define LINGER_MAX_SOCKETS 256

typedef struct pb_linger {
    pb_http_t *h;
    struct pb_linger *next;
    struct event *ev;
    int fd;
    int64_t left, deadline_ms;
} linger_t;

static int64_t mono_ms(struct event_base *base) {
    struct timeval tv;
    event_base_gettimeofday_cached(base, &tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void linger_free(linger_t *l) {
    for (linger_t **p = &l->h->lingering; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    l->h->nlingering--;
    event_free(l->ev);
    close(l->fd);
    free(l);
}

static void linger_read(evutil_socket_t fd, short what, void *arg) {
    linger_t *l = arg;
    struct event_base *base = event_get_base(l->ev);
    if (what & EV_READ) {
        char buf[16384];
        ssize_t n = -1;
        while (l->left > 0 && (n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
            l->left -= n;
        int64_t rest = l->deadline_ms - mono_ms(base);
        if (l->left > 0 && n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && rest > 0) {
            struct timeval tv = {(time_t)(rest / 1000), (suseconds_t)(rest % 1000) * 1000};
            event_add(l->ev, &tv);
            return;
        }
    }
    linger_free(l); /* the client closed, sent too much, or the time is up */
}

static void linger_start(pb_http_t *h, struct event_base *base, int fd) {
    if (h->nlingering >= LINGER_MAX_SOCKETS) return;
    linger_t *l = calloc(1, sizeof *l);
    int fd2 = l ? dup(fd) : -1;
    if (fd2 < 0 || !(l->ev = event_new(base, fd2, EV_READ, linger_read, l))) {
        if (fd2 >= 0) close(fd2);
        free(l);
        return;
    }
    shutdown(fd2, SHUT_WR);
    l->h = h;
    l->fd = fd2;
    l->left = LINGER_MAX_BYTES;
    l->deadline_ms = mono_ms(base) + LINGER_MS;
    l->next = h->lingering;
    h->lingering = l;
    h->nlingering++;
    struct timeval tv = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};
    event_add(l->ev, &tv);
}

/* evhttp's close callback of every tracked connection: the request's close handling, then c. */
static void conn_closed(struct evhttp_connection *evcon, void *arg) {
    pb_conn_t *c = arg;
    pb_http_t *h = c->h;
    if (c->req) on_close(evcon, c->req);
    /* After a refusal evhttp wrote (conn_out): close gently, the answer has been sent. */
    if (c->rewriting && c->fd >= 0) linger_start(h, bufferevent_get_base(c->bev), c->fd);
    if (c->fd >= 0 && c->fd < h->nbyfd && h->byfd[c->fd] == c) h->byfd[c->fd] = NULL;
    h->nconns--;
    event_free(c->timer);
    free(c);
    if (h->accept_paused && h->nconns < h->accept_cap) {
        h->accept_paused = 0;
        if (h->lev) evconnlistener_enable(h->lev);
    }
}

/* The loop's next turn after the accept: evhttp holds the connection (its callbacks on the
 * bufferevent name it), so its close callback can be ours; then the limit, then the deadline. */
static void conn_attach(evutil_socket_t fd_, short what, void *arg) {
    (void)fd_;
    (void)what;
    pb_conn_t *c = arg;
    pb_http_t *h = c->h;
    void *evcon = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
    int fd = (int)bufferevent_getfd(c->bev);
    if (!evcon || fd < 0) { /* not evhttp's (cannot be): leave it untracked */
        h->nconns--;
        event_free(c->timer);
        free(c);
        return;
    }
    c->evcon = evcon;
    c->fd = fd;
    evhttp_connection_set_closecb(c->evcon, conn_closed, c);
    if (fd >= h->nbyfd) {
        int n = h->nbyfd ? h->nbyfd : 256;
        while (n <= fd)
            n *= 2;
        pb_conn_t **t = realloc(h->byfd, (size_t)n * sizeof *t);
        if (t) {
            memset(t + h->nbyfd, 0, (size_t)(n - h->nbyfd) * sizeof *t);
            h->byfd = t;
            h->nbyfd = n;
        }
    }
    if (fd < h->nbyfd) h->byfd[fd] = c;
    event_assign(c->timer, bufferevent_get_base(c->bev), -1, 0, conn_deadline, c);
    if (h->max_connections > 0 && h->nconns > h->max_connections) {
        char peer[80];
        conn_peer(c, peer, sizeof peer);
        c->refuse = 1;
        pb_log_rl(WARN, "http",
                  "refused a connection from %s: %lld connections are open, the limit "
                  "(http.max.connections)",
                  peer, (long long)h->max_connections);
        conn_close(c, 503,
                   "too many connections: the server is at its limit (http.max.connections); "
                   "try again in a moment");
        return;
    }
    /* Bytes may have come already (read in the accept's turn). */
    conn_arm(c, c->phase,
             c->phase == CONN_BODY       ? h->body_timeout_ms
             : c->phase == CONN_HANDLING ? 0
                                         : h->header_timeout_ms);
}

/* The tracked connection of a request (NULL when untracked or not attached yet). */
static pb_conn_t *conn_of(pb_http_t *h, struct evhttp_connection *conn) {
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    int fd = bev ? (int)bufferevent_getfd(bev) : -1;
    pb_conn_t *c = fd >= 0 && fd < h->nbyfd ? h->byfd[fd] : NULL;
    return c && c->evcon == conn ? c : NULL;
}

/* A reply is complete: the connection waits for its next request (or reads one begun). */
static void conn_reply_done(pb_conn_t *c) {
    c->fresh = 0;
    c->line_start = 0;
    c->req = NULL;
    c->ps = c->bytes_while ? P_UNSYNC : P_START;
    if (c->bytes_while) {
        c->bytes_while = 0;
        conn_arm(c, CONN_HEADERS, c->h->header_timeout_ms);
    } else {
        conn_arm(c, CONN_WAIT, c->h->idle_timeout_ms);
    }
}

/* evhttp's bufferevent factory: the socket's (or TLS) bufferevent, tracked. */
static struct bufferevent *conn_bevcb(struct event_base *base, void *arg) {
    pb_http_t *h = arg;
    struct bufferevent *bev = NULL;
    if (h->new_ssl) {
        void *ssl = h->new_ssl(h->tls_arg);
        if (!ssl) return NULL;
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        /* Clients that close without a TLS close_notify are common: not an error. */
        if (bev) bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!bev) return NULL;
    pb_conn_t *c = calloc(1, sizeof *c);
    if (!c || !(c->timer = event_new(base, -1, 0, conn_attach, c)) ||
        !evbuffer_add_cb(bufferevent_get_input(bev), conn_in, c) ||
        !evbuffer_add_cb(bufferevent_get_output(bev), conn_out, c)) {
        if (c) { /* neither callback may outlive c */
            evbuffer_remove_cb(bufferevent_get_input(bev), conn_in, c);
            evbuffer_remove_cb(bufferevent_get_output(bev), conn_out, c);
        }
        if (c && c->timer) event_free(c->timer);
        free(c);
        return bev; /* served, untracked */
    }
    c->h = h;
    c->bev = bev;
    c->fd = -1;
    c->fresh = 1;
    parser_reset(c, P_START);
    h->nconns++;
    event_active(c->timer, EV_TIMEOUT, 0);
    if (h->accept_cap > 0 && h->nconns >= h->accept_cap && h->lev && !h->accept_paused) {
        evconnlistener_disable(h->lev); /* ends libevent's accept loop for this turn too */
        h->accept_paused = 1;
        pb_log_rl(WARN, "http",
                  "%lld connections are open (http.max.connections = %lld, and %lld more answered "
                  "503): accepting paused until some close; new clients wait in the listen backlog",
                  (long long)h->nconns, (long long)h->max_connections,
                  (long long)(h->accept_cap - h->max_connections));
    }
    return bev;
}

/* Connections beyond http.max.connections that are still accepted to be answered 503; past
 * those, accepting pauses and new connections wait in the kernel's listen backlog. */
static int64_t refusal_headroom(int64_t max) {
    int64_t n = max / 8;
    return n < 1 ? 1 : n > 64 ? 64 : n;
}

int64_t pb_http_fd_budget(int64_t configured) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return configured;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
    }
    if (rl.rlim_cur == RLIM_INFINITY) return configured;
    int64_t lim = (int64_t)rl.rlim_cur, reserve = lim / 4 > 128 ? lim / 4 : 128;
    int64_t budget = lim - reserve; /* descriptors HTTP may hold */
    if (configured + refusal_headroom(configured) <= budget) return configured;
    int64_t max = budget - refusal_headroom(budget);
    if (max < 1) max = 1;
    pb_log(WARN, "http",
           "http.max.connections = %lld, but the file-descriptor limit is %lld and %lld of it are "
           "kept for Kafka clients and files: at most %lld HTTP connections are served (%lld more "
           "are answered 503, then accepting pauses); raise the limit (ulimit -n, LimitNOFILE=)",
           (long long)configured, (long long)lim, (long long)reserve, (long long)max,
           (long long)refusal_headroom(max));
    return max;
}

/* ---- accept back-off at the fd limit --------------------------------------------------------
 * When accept() fails with EMFILE/ENFILE (or ENOBUFS/ENOMEM) the listening socket stays readable,
 * so a level-triggered listener would retry on every loop turn: a full core and one log line per
 * try. Instead accepting pauses for ACCEPT_PAUSE_MS, one rate-limited line says why, and the
 * listener resumes on a timer; connections already open are served meanwhile.
 * libevent 2.1 passes the error callback evhttp's own argument, not ours, so the server is found
 * by its listener in a file-local list (one entry per pb_http_t; usually one). */
#define ACCEPT_PAUSE_MS 500

static pb_http_t *live_servers;

static void accept_resume(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    pb_http_t *h = arg;
    if (h->lev && h->nconns < h->accept_cap) evconnlistener_enable(h->lev);
}

static void accept_error(struct evconnlistener *lev, void *unused) {
    (void)unused;
    int e = EVUTIL_SOCKET_ERROR();
    pb_http_t *h = live_servers;
    while (h && h->lev != lev)
        h = h->next;
    if (!h || !h->resume_ev) {
        pb_log_rl(ERROR, "http", "accept() failed: %s", evutil_socket_error_to_string(e));
        return;
    }
    evconnlistener_disable(lev);
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
    event_add(h->resume_ev, &tv);
    if (e == EMFILE || e == ENFILE)
        pb_log_rl(WARN, "http",
                  "cannot accept connections: %s (the process or system is out of file "
                  "descriptors); pausing accept for %d ms at a time, open connections are still "
                  "served. Raise the fd limit (ulimit -n / LimitNOFILE) or lower "
                  "http.max.connections",
                  evutil_socket_error_to_string(e), ACCEPT_PAUSE_MS);
    else
        pb_log_rl(WARN, "http", "cannot accept connections: %s; pausing accept for %d ms",
                  evutil_socket_error_to_string(e), ACCEPT_PAUSE_MS);
}

static void accept_backoff_stop(pb_http_t *h) {
    for (pb_http_t **p = &live_servers; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    if (h->resume_ev) event_free(h->resume_ev);
    h->resume_ev = NULL;
    h->lev = NULL;
}

static int accept_backoff_start(pb_http_t *h, struct event_base *base) {
    h->lev = evhttp_bound_socket_get_listener(h->sock);
    h->resume_ev = event_new(base, -1, 0, accept_resume, h);
    if (!h->lev || !h->resume_ev) return -1;
    evconnlistener_set_error_cb(h->lev, accept_error);
    h->next = live_servers;
    live_servers = h;
    return 0;
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

/* ---- request-target checks -----------------------------------------------------------------
 * Every percent escape in the path and query must be well formed and decode to UTF-8 text
 * without NUL: libevent would decode "%00" into a C string that ends early (the path
 * "/v1/products/%00" became "/v1/products/") and "%ff" into bytes no JSON reply can carry. The
 * request is refused here, before any handler sees a half-decoded name, with jsontext's message
 * (which says at which offset and why). */

/* Answer a request refused before routing: the API's JSON error shape, then close. */
static void refuse(pb_http_t *h, struct evhttp_request *ev, int status, const char *msg) {
    char body[512];
    int n = error_json(body, sizeof body, status, msg);
    struct evkeyvalq *oh = evhttp_request_get_output_headers(ev);
    evhttp_add_header(oh, "Content-Type", "application/json");
    evhttp_add_header(oh, "Connection", "close");
    struct evbuffer *out = evbuffer_new();
    if (out && n > 0)
        evbuffer_add(out, body, (size_t)n < sizeof body ? (size_t)n : sizeof body - 1);
    h->own_write++;
    evhttp_send_reply(ev, status, reason(status), out);
    h->own_write--;
    if (out) evbuffer_free(out);
}

/* 0 when the request target is acceptable; else the request has been answered (400). */
static int check_target(pb_http_t *h, struct evhttp_request *ev) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    pb_err_t err = {0};
    char msg[PB_ERR_MSG_MAX + 32];
    if (path && pb_jsontext_pct_decode(path, strlen(path), PB_JSONTEXT_TEXT, NULL, 0, NULL, &err)) {
        snprintf(msg, sizeof msg, "request path: %s", err.msg);
        refuse(h, ev, 400, msg);
        return -1;
    }
    if (query &&
        pb_jsontext_pct_decode(query, strlen(query), PB_JSONTEXT_TEXT, NULL, 0, NULL, &err)) {
        snprintf(msg, sizeof msg, "query string: %s", err.msg);
        refuse(h, ev, 400, msg);
        return -1;
    }
    return 0;
}

/* ---- strict framing ------------------------------------------------------------------------
 * libevent 2.1 takes the first of several Content-Length headers and lets Transfer-Encoding
 * override Content-Length; a proxy in front may frame the same bytes differently (request
 * smuggling). Any such request is refused with 400 and the connection closed, so bytes left over
 * from the ambiguous framing are never read as a next request. */
static int check_framing(pb_http_t *h, struct evhttp_request *ev) {
    struct evkeyvalq *ih = evhttp_request_get_input_headers(ev);
    int cl = 0, te = 0;
    for (struct evkeyval *kv = ih->tqh_first; kv; kv = kv->next.tqe_next) {
        if (strcasecmp(kv->key, "Content-Length") == 0) cl++;
        if (strcasecmp(kv->key, "Transfer-Encoding") == 0) te++;
    }
    const char *msg = NULL;
    if (cl > 1)
        msg = "more than one Content-Length header";
    else if (cl && te)
        msg = "both Content-Length and Transfer-Encoding";
    else if (te > 1)
        msg = "more than one Transfer-Encoding header";
    if (!msg) return 0;
    char full[160];
    snprintf(full, sizeof full, "ambiguous request framing: %s", msg);
    refuse(h, ev, 400, full);
    return -1;
}

/* libevent keeps a connection open after answering CONNECT whatever the headers say; once the
 * refusal has been written, shutting the socket down makes the client see the close and
 * libevent then frees the connection on its own EOF path (nothing is freed here). */
static void shutdown_after_reply(struct evhttp_request *ev, void *arg) {
    (void)ev;
    struct evhttp_connection *conn = arg;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
}

/* Methods the API never serves are parsed (so the answer is ours, in JSON) and refused with 501
 * and a close: a CONNECT must not leave a half-open tunnel candidate behind. */
static int check_method(pb_http_t *h, struct evhttp_request *ev) {
    enum evhttp_cmd_type c = evhttp_request_get_command(ev);
    if (c != EVHTTP_REQ_CONNECT && c != EVHTTP_REQ_TRACE) return 0;
    struct evhttp_connection *conn = evhttp_request_get_connection(ev);
    if (c == EVHTTP_REQ_CONNECT && conn)
        evhttp_request_set_on_complete_cb(ev, shutdown_after_reply, conn);
    refuse(h, ev, 501,
           c == EVHTTP_REQ_CONNECT ? "method CONNECT is not supported"
                                   : "method TRACE is not supported");
    return -1;
}

static void gencb(struct evhttp_request *ev, void *arg) {
    pb_http_t *h = arg;
    pb_conn_t *c = conn_of(h, evhttp_request_get_connection(ev));
    if (c) conn_arm(c, CONN_HANDLING, 0);
    if (check_method(h, ev) != 0 || check_framing(h, ev) != 0 || check_target(h, ev) != 0) return;
    pb_http_req_t *r = calloc(1, sizeof *r);
    if (!r) {
        refuse(h, ev, 503, "out of memory");
        return;
    }
    TAILQ_INIT(&r->query);
    r->ev = ev;
    r->http = h;
    r->method = map_method(evhttp_request_get_command(ev));
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    r->raw_path = strdup(raw && *raw ? raw : "/");
    /* check_target accepted the escapes: decoding fails only without memory. */
    size_t plen = r->raw_path ? strlen(r->raw_path) : 0;
    if (r->raw_path && (r->path = malloc(plen + 1)) &&
        pb_jsontext_pct_decode(r->raw_path, plen, 0, r->path, plen + 1, NULL, NULL)) {
        free(r->path);
        r->path = NULL;
    }
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
        refuse(h, ev, 503, "out of memory");
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
        r->tracked = conn_of(h, r->conn);
        if (r->tracked)
            r->tracked->req = r; /* conn_closed calls on_close */
        else
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
    h->header_timeout_ms = lim->header_timeout_ms;
    h->body_timeout_ms = lim->body_timeout_ms;
    h->idle_timeout_ms = lim->idle_timeout_ms;
    h->max_connections = lim->max_connections;
    h->max_body_bytes = lim->max_body_bytes;
    h->max_header_bytes = lim->max_header_bytes;
    h->max_body_key = lim->max_body_key ? lim->max_body_key : "the server's body limit";
    h->accept_cap = lim->max_connections > 0
                        ? lim->max_connections + refusal_headroom(lim->max_connections)
                        : 0;
    h->http = evhttp_new(pb_loop_base(loop));
    if (!h->http) {
        pb_err_set(err, PB_ERR_INTERNAL, "libevent: evhttp_new failed");
        goto fail;
    }
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_TRACE);
    evhttp_set_max_body_size(h->http, (ev_ssize_t)lim->max_body_bytes);
    evhttp_set_max_headers_size(h->http, (ev_ssize_t)lim->max_header_bytes);
    evhttp_set_timeout(h->http, (int)((lim->timeout_ms + 999) / 1000));
    evhttp_set_default_content_type(h->http, "application/json");
    evhttp_set_gencb(h->http, gencb, h);
    evhttp_set_bevcb(h->http, conn_bevcb, h);
    h->sock = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
    if (!h->sock) {
        pb_err_set(err, PB_ERR_IO, "cannot listen on %s:%d: %s", host, port,
                   evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        goto fail;
    }
    struct sockaddr_storage ss;
    if (accept_backoff_start(h, pb_loop_base(loop)) != 0) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
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

void pb_http_set_tls(pb_http_t *h, void *(*new_ssl)(void *arg), void *arg) {
    h->new_ssl = new_ssl;
    h->tls_arg = arg;
}

const void *pb_http_req_tls(const pb_http_req_t *r) { return r->ssl; }

int pb_http_port(const pb_http_t *h) { return h->port; }

void pb_http_stop_accepting(pb_http_t *h) {
    if (h->sock) {
        accept_backoff_stop(h);
        evhttp_del_accept_socket(h->http, h->sock);
        h->sock = NULL;
    }
}

void pb_http_destroy(pb_http_t *h) {
    if (!h) return;
    accept_backoff_stop(h);
    if (h->http) evhttp_free(h->http); /* frees the connections: conn_closed needs h */
    while (h->lingering)
        linger_free(h->lingering);
    free(h->byfd);
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

/* The reply of r is complete (being sent): the connection no longer reports its close to r. */
static void reply_done(pb_http_req_t *r) {
    if (!r->conn) return;
    if (r->tracked)
        conn_reply_done(r->tracked);
    else
        evhttp_connection_set_closecb(r->conn, NULL, NULL);
    r->tracked = NULL;
}

static void free_body(const void *data, size_t len, void *arg) {
    (void)len;
    (void)arg;
    free((void *)data);
}

/* The one reply path: body copied, or (owned) handed to libevent by reference and freed once
 * written or dropped (here when the request is gone or the buffer cannot take it). */
static void send_reply(pb_http_req_t *r, int status, const char *content_type, const void *body,
                       size_t len, int owned) {
    r->status_sent = status;
    if (r->ev) {
        reply_done(r);
        struct evkeyvalq *oh = evhttp_request_get_output_headers(r->ev);
        if (content_type) evhttp_add_header(oh, "Content-Type", content_type);
        struct evbuffer *out = evbuffer_new();
        if (out && len) {
            if (!owned)
                evbuffer_add(out, body, len);
            else if (evbuffer_add_reference(out, body, len, free_body, NULL) == 0)
                body = NULL; /* referenced, not copied: libevent frees it */
        }
        r->http->own_write++;
        evhttp_send_reply(r->ev, status, reason(status), out);
        r->http->own_write--;
        if (out) evbuffer_free(out);
    }
    if (owned) free((void *)body);
    req_free(r);
}

void pb_http_reply(pb_http_req_t *r, int status, const char *content_type, const void *body,
                   size_t len) {
    send_reply(r, status, content_type, body, len, 0);
}

void pb_http_reply_owned(pb_http_req_t *r, int status, const char *content_type, void *body,
                         size_t len) {
    send_reply(r, status, content_type, body, len, 1);
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
    r->http->own_write++;
    evhttp_send_reply_start(r->ev, status, reason(status));
    r->http->own_write--;
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
    r->http->own_write++;
    evhttp_send_reply_chunk_with_cb(r->ev, b, on_stream_drained, r);
    r->http->own_write--;
    evbuffer_free(b);
    return 0;
}

size_t pb_http_stream_unsent(const pb_http_req_t *r) { return r->ev ? 0 : r->unsent; }

size_t pb_http_stream_queued(const pb_http_req_t *r) {
    if (!r->ev || !r->conn) return 0;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->conn);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

void pb_http_stream_end(pb_http_req_t *r) {
    PB_ASSERT(r->streaming);
    if (r->ev) {
        reply_done(r);
        r->http->own_write++;
        evhttp_send_reply_end(r->ev); /* libevent frees the request once sent */
        r->http->own_write--;
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

int pb_http_media_is(const char *v, const char *t) {
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(t);
    if (strncasecmp(v, t, n) != 0) return 0;
    v += n;
    while (*v == ' ' || *v == '\t')
        v++;
    return *v == '\0' || *v == ';';
}
