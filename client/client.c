/*
 * client.c — the blocking HTTP/1.1 client of include/portbroker/client.h: one connection per
 * request (plain TCP or TLS through OpenSSL), Content-Length and chunked bodies, publish with
 * stable ids and retries, ndjson streams read line by line, cursor commits.
 *
 * Owns: sockets and TLS sessions it opens, the client's copies of its options.
 * Must not: depend on the daemon (broker/; libpbavro.a's buf and jsontext, which connectors link
 * too, are not the daemon), keep global state, print anything (errors go back in
 * pb_client_err_t), or wait longer than the client's timeout on one read or write.
 */
#include "portbroker/client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "jsontext.h"

struct pb_client {
    int tls;
    char *host;
    char *port;
    char *prefix; /* base path without a trailing '/', may be "" */
    char *token;
    int timeout_ms;
    int retries;
    int backoff_ms;
    SSL_CTX *ctx;
    int insecure;
};

typedef struct {
    int fd;
    SSL *ssl;
    char buf[16384];
    size_t off, len;
    int timeout_ms;
    int idle_ms; /* >0: a read quiet this long returns -2 (streams: time to commit) */
} conn_t;

struct pb_client_stream {
    pb_client_t *c;
    conn_t conn;
    int chunked;
    long long chunk_left; /* bytes left in the current chunk; -1: read a chunk size next */
    long long clen_left;  /* Content-Length bodies (error answers); -1 unknown */
    int eof;
    char *line;
    size_t line_len, line_cap;
    char port[1024];
    char id_header[96]; /* "X-Stream-Id: s-N\r\n" when the broker named the stream */
};

static void seterr(pb_client_err_t *e, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(pb_client_err_t *e, int status, const char *fmt, ...) {
    if (!e) return;
    va_list ap;
    va_start(ap, fmt);
    e->status = status;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

static char *xstrndup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) abort(); /* out of memory: the process cannot do anything useful (err.h's rule) */
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

pb_client_t *pb_client_new(const pb_client_opts_t *o, pb_client_err_t *err) {
    const char *u = o ? o->url : NULL;
    if (!u || !*u) {
        seterr(err, 0, "no broker URL (give --url or PORTBROKER_URL, e.g. http://127.0.0.1:8080)");
        return NULL;
    }
    pb_client_t *c = calloc(1, sizeof *c);
    if (!c) abort();
    const char *rest;
    if (strncmp(u, "http://", 7) == 0) {
        rest = u + 7;
    } else if (strncmp(u, "https://", 8) == 0) {
        rest = u + 8;
        c->tls = 1;
    } else {
        seterr(err, 0, "URL '%s': expected http://HOST[:PORT] or https://HOST[:PORT]", u);
        free(c);
        return NULL;
    }
    size_t hl = strcspn(rest, "/");
    const char *hp = rest, *path = rest + hl;
    const char *colon = NULL;
    if (*hp == '[') { /* [v6]:port */
        const char *rb = memchr(hp, ']', hl);
        if (!rb) {
            seterr(err, 0, "URL '%s': unterminated IPv6 address", u);
            free(c);
            return NULL;
        }
        c->host = xstrndup(hp + 1, (size_t)(rb - hp - 1));
        colon = (rb + 1 < hp + hl && rb[1] == ':') ? rb + 1 : NULL;
    } else {
        colon = memchr(hp, ':', hl);
        c->host = xstrndup(hp, colon ? (size_t)(colon - hp) : hl);
    }
    if (colon) {
        c->port = xstrndup(colon + 1, (size_t)(hp + hl - colon - 1));
    } else {
        c->port = xstrndup(c->tls ? "443" : "80", c->tls ? 3 : 2);
    }
    if (!*c->host || !*c->port || strspn(c->port, "0123456789") != strlen(c->port)) {
        seterr(err, 0, "URL '%s': expected HOST[:PORT] after the scheme", u);
        pb_client_destroy(c);
        return NULL;
    }
    size_t pl = strlen(path);
    while (pl > 0 && path[pl - 1] == '/')
        pl--;
    c->prefix = xstrndup(path, pl);
    c->token = o->token && *o->token ? strdup(o->token) : NULL;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    c->retries = o->retries > 0 ? o->retries : 0;
    c->backoff_ms = o->backoff_ms > 0 ? o->backoff_ms : 200;
    c->insecure = o->insecure;
    if (c->tls) {
        c->ctx = SSL_CTX_new(TLS_client_method());
        if (!c->ctx) {
            seterr(err, 0, "TLS: cannot make a client context");
            pb_client_destroy(c);
            return NULL;
        }
        SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
        if (o->ca_file) {
            if (SSL_CTX_load_verify_locations(c->ctx, o->ca_file, NULL) != 1) {
                seterr(err, 0, "TLS: cannot load CA file %s (expected PEM certificates)",
                       o->ca_file);
                pb_client_destroy(c);
                return NULL;
            }
        } else {
            SSL_CTX_set_default_verify_paths(c->ctx);
        }
        SSL_CTX_set_verify(c->ctx, c->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    }
    return c;
}

void pb_client_destroy(pb_client_t *c) {
    if (!c) return;
    if (c->ctx) SSL_CTX_free(c->ctx);
    free(c->host);
    free(c->port);
    free(c->prefix);
    free(c->token);
    free(c);
}

/* ---- connections ---------------------------------------------------------------------------- */

static int wait_fd(int fd, short ev, int ms) {
    struct pollfd p = {.fd = fd, .events = ev};
    int r;
    do {
        r = poll(&p, 1, ms);
    } while (r < 0 && errno == EINTR);
    return r;
}

static void conn_close(conn_t *k) {
    if (k->ssl) {
        SSL_free(k->ssl);
        k->ssl = NULL;
    }
    if (k->fd >= 0) close(k->fd);
    k->fd = -1;
}

static int conn_open(pb_client_t *c, conn_t *k, pb_client_err_t *err) {
    memset(k, 0, sizeof *k);
    k->fd = -1;
    k->timeout_ms = c->timeout_ms;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int g = getaddrinfo(c->host, c->port, &hints, &ai);
    if (g) {
        seterr(err, 0, "cannot resolve %s: %s", c->host, gai_strerror(g));
        return -1;
    }
    int last = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && wait_fd(fd, POLLOUT, c->timeout_ms) > 0)) {
            int so = 0;
            socklen_t sl = sizeof so;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl);
            if (so == 0) {
                k->fd = fd;
                break;
            }
            last = so;
        } else {
            last = errno ? errno : ETIMEDOUT;
        }
        close(fd);
    }
    freeaddrinfo(ai);
    if (k->fd < 0) {
        seterr(err, 0, "cannot connect to %s:%s: %s", c->host, c->port,
               strerror(last ? last : ETIMEDOUT));
        return -1;
    }
    int one = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!c->tls) return 0;
    k->ssl = SSL_new(c->ctx);
    SSL_set_fd(k->ssl, k->fd);
    SSL_set_tlsext_host_name(k->ssl, c->host);
    if (!c->insecure) SSL_set1_host(k->ssl, c->host);
    for (;;) {
        int r = SSL_connect(k->ssl);
        if (r == 1) break;
        int e = SSL_get_error(k->ssl, r);
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
            wait_fd(k->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, c->timeout_ms) > 0)
            continue;
        long v = SSL_get_verify_result(k->ssl);
        unsigned long le = ERR_get_error();
        seterr(err, 0, "TLS handshake with %s:%s failed: %s", c->host, c->port,
               v != X509_V_OK ? X509_verify_cert_error_string(v)
               : le           ? ERR_reason_error_string(le)
                              : "connection closed or timed out");
        ERR_clear_error();
        conn_close(k);
        return -1;
    }
    return 0;
}

static int conn_write(conn_t *k, const char *p, size_t n, pb_client_err_t *err) {
    while (n > 0) {
        ssize_t w;
        if (k->ssl) {
            int r = SSL_write(k->ssl, p, n > (1u << 30) ? (1 << 30) : (int)n);
            if (r <= 0) {
                int e = SSL_get_error(k->ssl, r);
                if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
                    wait_fd(k->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, k->timeout_ms) > 0)
                    continue;
                seterr(err, 0, "TLS write failed (connection closed or timed out)");
                return -1;
            }
            w = r;
        } else {
            w = send(k->fd, p, n, MSG_NOSIGNAL);
            if (w < 0) {
                if ((errno == EAGAIN || errno == EINTR) &&
                    wait_fd(k->fd, POLLOUT, k->timeout_ms) > 0)
                    continue;
                seterr(err, 0, "write failed: %s", errno == EAGAIN ? "timed out" : strerror(errno));
                return -1;
            }
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Fills the buffer; returns bytes read, 0 at EOF, -1 on error/timeout, -2 after idle_ms quiet. */
static ssize_t conn_fill(conn_t *k, pb_client_err_t *err) {
    if (k->off > 0 && k->off == k->len) k->off = k->len = 0;
    if (k->off > 0) {
        memmove(k->buf, k->buf + k->off, k->len - k->off);
        k->len -= k->off;
        k->off = 0;
    }
    size_t room = sizeof k->buf - k->len;
    for (;;) {
        ssize_t r;
        if (k->ssl) {
            int sr = SSL_read(k->ssl, k->buf + k->len, (int)room);
            if (sr <= 0) {
                int e = SSL_get_error(k->ssl, sr);
                if (e == SSL_ERROR_ZERO_RETURN) return 0;
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                    int w = wait_fd(k->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                                    k->idle_ms > 0 ? k->idle_ms : k->timeout_ms);
                    if (w > 0) continue;
                    if (w == 0 && k->idle_ms > 0) return -2;
                    seterr(err, 0, "no answer from the broker within %d ms", k->timeout_ms);
                    return -1;
                }
                if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
                    return 0; /* EOF without close_notify */
                seterr(err, 0, "TLS read failed");
                ERR_clear_error();
                return -1;
            }
            r = sr;
        } else {
            r = recv(k->fd, k->buf + k->len, room, 0);
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    int w = wait_fd(k->fd, POLLIN, k->idle_ms > 0 ? k->idle_ms : k->timeout_ms);
                    if (w > 0) continue;
                    if (w == 0 && k->idle_ms > 0) return -2;
                    seterr(err, 0, "no answer from the broker within %d ms", k->timeout_ms);
                    return -1;
                }
                seterr(err, 0, "read failed: %s", strerror(errno));
                return -1;
            }
        }
        k->len += (size_t)r;
        return r;
    }
}

/* Reads one CRLF-terminated line into out (without CRLF); -1 on EOF/error/overlong. */
static int conn_line(conn_t *k, char *out, size_t cap, pb_client_err_t *err) {
    for (;;) {
        char *nl = memchr(k->buf + k->off, '\n', k->len - k->off);
        if (nl) {
            size_t n = (size_t)(nl - (k->buf + k->off));
            size_t m = n > 0 && nl[-1] == '\r' ? n - 1 : n;
            if (m >= cap) m = cap - 1;
            memcpy(out, k->buf + k->off, m);
            out[m] = 0;
            k->off += n + 1;
            return 0;
        }
        if (k->len - k->off >= sizeof k->buf) {
            seterr(err, 0, "malformed answer: a header line longer than %zu bytes", sizeof k->buf);
            return -1;
        }
        ssize_t r = conn_fill(k, err);
        if (r == 0) seterr(err, 0, "the broker closed the connection before answering");
        if (r <= 0) return -1;
    }
}

static int conn_read_exact(conn_t *k, char *out, size_t n, pb_client_err_t *err) {
    while (n > 0) {
        if (k->off == k->len) {
            ssize_t r = conn_fill(k, err);
            if (r == 0) seterr(err, 0, "the broker closed the connection mid-answer");
            if (r <= 0) return -1;
        }
        size_t t = k->len - k->off < n ? k->len - k->off : n;
        memcpy(out, k->buf + k->off, t);
        k->off += t;
        out += t;
        n -= t;
    }
    return 0;
}

/* ---- requests ------------------------------------------------------------------------------- */

typedef struct {
    int status;
    int chunked;
    long long clen;
    int retry_after;
    char stream_id[64];
} head_t;

static int send_request(pb_client_t *c, conn_t *k, const char *method, const char *path,
                        const char *ctype, const char *body, size_t len, const char *extra,
                        pb_client_err_t *err) {
    char *hdr = NULL;
    size_t hlen = 0;
    FILE *f = open_memstream(&hdr, &hlen);
    if (!f) abort();
    fprintf(f, "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: portbroker-client\r\n", method,
            c->prefix, path, c->host, c->port);
    fprintf(f, "Accept: application/json, application/x-ndjson\r\nConnection: close\r\n");
    if (c->token) fprintf(f, "Authorization: Bearer %s\r\n", c->token);
    if (ctype) fprintf(f, "Content-Type: %s\r\n", ctype);
    if (extra) fputs(extra, f);
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
        fprintf(f, "Content-Length: %zu\r\n", len);
    fputs("\r\n", f);
    fclose(f);
    int rc = conn_write(k, hdr, hlen, err);
    free(hdr);
    if (rc == 0 && body && len) rc = conn_write(k, body, len, err);
    return rc;
}

static int read_head(conn_t *k, head_t *h, pb_client_err_t *err) {
    char line[8192];
    memset(h, 0, sizeof *h);
    h->clen = -1;
    h->retry_after = -1;
    do {
        if (conn_line(k, line, sizeof line, err)) return -1;
        if (sscanf(line, "HTTP/%*d.%*d %d", &h->status) != 1) {
            seterr(err, 0, "malformed answer: status line '%.80s' is not HTTP/1.x", line);
            return -1;
        }
        for (;;) {
            if (conn_line(k, line, sizeof line, err)) return -1;
            if (!*line) break;
            char *v = strchr(line, ':');
            if (!v) continue;
            *v++ = 0;
            while (*v == ' ' || *v == '\t')
                v++;
            if (!strcasecmp(line, "Content-Length"))
                h->clen = strtoll(v, NULL, 10);
            else if (!strcasecmp(line, "Transfer-Encoding") && strcasestr(v, "chunked"))
                h->chunked = 1;
            else if (!strcasecmp(line, "Retry-After"))
                h->retry_after = atoi(v);
            else if (!strcasecmp(line, "X-Stream-Id"))
                snprintf(h->stream_id, sizeof h->stream_id, "%s", v);
        }
    } while (h->status >= 100 && h->status < 200); /* 100 Continue */
    return 0;
}

/* Reads a whole body (Content-Length, chunked, or to EOF). */
static int read_body(conn_t *k, const head_t *h, char **out, size_t *olen, pb_client_err_t *err) {
    char *b = NULL;
    size_t n = 0, cap = 0;
#define GROW(extra)                                                                                \
    do {                                                                                           \
        if (n + (extra) + 1 > cap) {                                                               \
            cap = (n + (extra) + 1) * 2;                                                           \
            b = realloc(b, cap);                                                                   \
            if (!b) abort();                                                                       \
        }                                                                                          \
    } while (0)
    if (h->chunked) {
        char line[256];
        for (;;) {
            if (conn_line(k, line, sizeof line, err)) goto fail;
            char *end;
            long long sz = strtoll(line, &end, 16);
            if (end == line || sz < 0) {
                seterr(err, 0, "malformed chunked answer: chunk size '%.40s'", line);
                goto fail;
            }
            if (sz == 0) {
                while (!conn_line(k, line, sizeof line, err) && *line) {
                }
                break;
            }
            GROW((size_t)sz);
            if (conn_read_exact(k, b + n, (size_t)sz, err)) goto fail;
            n += (size_t)sz;
            if (conn_line(k, line, sizeof line, err)) goto fail;
        }
    } else if (h->clen >= 0) {
        GROW((size_t)h->clen);
        if (conn_read_exact(k, b, (size_t)h->clen, err)) goto fail;
        n = (size_t)h->clen;
    } else {
        for (;;) {
            if (k->off < k->len) {
                GROW(k->len - k->off);
                memcpy(b + n, k->buf + k->off, k->len - k->off);
                n += k->len - k->off;
                k->off = k->len;
            }
            ssize_t r = conn_fill(k, err);
            if (r < 0) goto fail;
            if (r == 0) break;
        }
    }
    GROW(0);
    b[n] = 0;
    *out = b;
    *olen = n;
    return 0;
fail:
    free(b);
    return -1;
#undef GROW
}

static int request_x(pb_client_t *c, const char *method, const char *path, const char *ctype,
                     const char *body, size_t len, const char *extra, pb_client_resp_t *resp,
                     pb_client_err_t *err) {
    conn_t k;
    head_t h;
    memset(resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
    if (conn_open(c, &k, err)) return -1;
    int rc = -1;
    if (send_request(c, &k, method, path, ctype, body, len, extra, err)) goto out;
    if (read_head(&k, &h, err)) goto out;
    if (read_body(&k, &h, &resp->body, &resp->len, err)) goto out;
    resp->status = h.status;
    resp->retry_after_s = h.retry_after;
    rc = 0;
out:
    conn_close(&k);
    return rc;
}

int pb_client_request(pb_client_t *c, const char *method, const char *path, const char *ctype,
                      const char *body, size_t len, pb_client_resp_t *resp, pb_client_err_t *err) {
    return request_x(c, method, path, ctype, body, len, NULL, resp, err);
}

int pb_client_request_h(pb_client_t *c, const char *method, const char *path, const char *ctype,
                        const char *body, size_t len, const char *headers, pb_client_resp_t *resp,
                        pb_client_err_t *err) {
    return request_x(c, method, path, ctype, body, len, headers, resp, err);
}

void pb_client_resp_free(pb_client_resp_t *r) {
    if (!r) return;
    free(r->body);
    r->body = NULL;
}

/* The broker's message from an error body, or the body itself. */
static void err_from_resp(pb_client_err_t *err, const pb_client_resp_t *r, const char *what) {
    json_t *d = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
    const char *m = d ? json_string_value(json_object_get(d, "message")) : NULL;
    seterr(err, r->status, "%s: HTTP %d: %.400s", what, r->status,
           m ? m : (r->body && *r->body ? r->body : "(no body)"));
    json_decref(d);
}

/* ---- publish -------------------------------------------------------------------------------- */

static void uuid4(char out[37]) {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) abort();
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

static int retryable(int status) { return status == 429 || status == 503 || status >= 500; }

/* b's bytes as a C string (a NUL kept after them, not counted). Out of memory: abort(). */
static const char *cstr(pb_buf_t *b) {
    if (pb_buf_putc(b, 0)) abort();
    b->len--;
    return (const char *)b->data;
}

/* b gets "/v1/ports/" port suffix, port percent-encoded as a path of segments (a short form
 * "product/port" keeps its '/', which the broker's {port} template spans). Out of memory:
 * abort() (err.h's rule). */
static void port_path(pb_buf_t *b, const char *port, const char *suffix) {
    if (pb_buf_puts(b, "/v1/ports/") ||
        pb_jsontext_pct_encode(b, port, strlen(port), PB_JSONTEXT_SLASH) || pb_buf_puts(b, suffix))
        abort();
}

/* b gets sep, name, '=' and value percent-encoded as a query value (a '+' stays a '+', a '&' or
 * '#' does not end it). Out of memory: abort(). */
static void query(pb_buf_t *b, char sep, const char *name, const char *value) {
    if (pb_buf_putc(b, (uint8_t)sep) || pb_buf_puts(b, name) || pb_buf_putc(b, '=') ||
        pb_jsontext_pct_encode(b, value, strlen(value), 0))
        abort();
}

int pb_client_publish(pb_client_t *c, const char *port, json_t *records, json_t **results,
                      pb_client_err_t *err) {
    return pb_client_publish_enc(c, port, NULL, records, results, err);
}

int pb_client_publish_enc(pb_client_t *c, const char *port, const char *encoding, json_t *records,
                          json_t **results, pb_client_err_t *err) {
    *results = NULL;
    if (!json_is_array(records)) {
        seterr(err, 0, "publish: records must be a JSON array");
        return -1;
    }
    size_t n = json_array_size(records);
    json_t *res = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(records, i);
        if (!json_is_object(r)) {
            seterr(err, 0, "publish: record %zu is not a JSON object", i);
            json_decref(res);
            return -1;
        }
        if (!json_is_string(json_object_get(r, "id"))) {
            char id[37];
            uuid4(id);
            json_object_set_new(r, "id", json_string(id));
        }
        json_array_append_new(
            res, json_pack("{s:O,s:s}", "id", json_object_get(r, "id"), "error", "not sent"));
    }
    pb_buf_t pathb = {0};
    port_path(&pathb, port, "/records");
    if (encoding) query(&pathb, '?', "encoding", encoding);
    const char *path = cstr(&pathb);
    long delay = c->backoff_ms;
    int rc = -1;
    for (int attempt = 0;; attempt++) {
        /* The records still pending: every record whose result has an error. */
        json_t *send = json_array(), *idx = json_array();
        for (size_t i = 0; i < n; i++)
            if (json_object_get(json_array_get(res, i), "error")) {
                json_array_append(send, json_array_get(records, i));
                json_array_append_new(idx, json_integer((json_int_t)i));
            }
        json_t *doc = json_pack("{s:o}", "records", send);
        char *body = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        pb_client_resp_t r;
        int tr =
            pb_client_request(c, "POST", path, "application/json", body, strlen(body), &r, err);
        free(body);
        int again = 0;
        if (tr) {
            again = 1;
        } else if (r.status == 200 || r.status == 207) {
            json_t *d = json_loadb(r.body, r.len, 0, NULL);
            json_t *rr = json_object_get(d, "results");
            if (!json_is_array(rr) || json_array_size(rr) != json_array_size(idx)) {
                seterr(err, r.status, "publish: HTTP %d with %zu results for %zu records", r.status,
                       json_array_size(rr), json_array_size(idx));
                json_decref(d);
                json_decref(idx);
                pb_client_resp_free(&r);
                goto out;
            }
            size_t failed = 0;
            for (size_t j = 0; j < json_array_size(idx); j++) {
                size_t i = (size_t)json_integer_value(json_array_get(idx, j));
                json_t *one = json_array_get(rr, j);
                json_array_set(res, i, one);
                if (json_object_get(one, "error")) failed++;
            }
            json_decref(d);
            if (failed) {
                again = 1;
                seterr(err, r.status, "publish: %zu of %zu records failed", failed,
                       json_array_size(idx));
            }
        } else if (retryable(r.status)) {
            err_from_resp(err, &r, "publish");
            again = 1;
            if (r.retry_after_s > 0) delay = r.retry_after_s * 1000L;
        } else {
            err_from_resp(err, &r, "publish");
            json_t *d = json_loadb(r.body, r.len, 0, NULL);
            json_decref(res);
            res = d; /* the broker's reply (e.g. 422's per-record errors) */
            json_decref(idx);
            pb_client_resp_free(&r);
            goto out;
        }
        json_decref(idx);
        pb_client_resp_free(&r);
        if (!again) {
            rc = 0;
            break;
        }
        if (attempt >= c->retries) {
            rc = tr ? -1 : 1;
            break;
        }
        sleep_ms(delay);
        delay = delay * 2 > 10000 ? 10000 : delay * 2;
    }
out:
    pb_buf_free(&pathb);
    *results = res;
    return rc;
}

/* ---- streams -------------------------------------------------------------------------------- */

pb_client_stream_t *pb_client_stream_open(pb_client_t *c, const char *port,
                                          const pb_client_stream_opts_t *o, pb_client_err_t *err) {
    pb_buf_t pathb = {0};
    port_path(&pathb, port, "/records?format=ndjson");
    query(&pathb, '&', "commit", o && o->commit ? o->commit : "manual");
    if ((o && o->batch > 0 && pb_buf_printf(&pathb, "&batch=%d", o->batch)) ||
        (o && o->timeout_ms > 0 && pb_buf_printf(&pathb, "&timeout_ms=%d", o->timeout_ms)) ||
        (o && o->max_records > 0 && pb_buf_printf(&pathb, "&max_records=%ld", o->max_records)))
        abort(); /* out of memory (err.h's rule) */
    if (o && o->from) query(&pathb, '&', "from", o->from);
    if (o && o->encoding) query(&pathb, '&', "encoding", o->encoding);
    const char *path = cstr(&pathb);
    pb_client_stream_t *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->c = c;
    if (conn_open(c, &s->conn, err)) {
        pb_buf_free(&pathb);
        free(s);
        return NULL;
    }
    /* A stream may be quiet up to its timeout_ms: wait that long on top of the client's. */
    if (o && o->timeout_ms > 0) s->conn.timeout_ms = c->timeout_ms + o->timeout_ms;
    head_t h;
    int sent = send_request(c, &s->conn, "GET", path, NULL, NULL, 0, NULL, err);
    pb_buf_free(&pathb);
    if (sent || read_head(&s->conn, &h, err)) goto fail;
    if (h.status != 200) {
        pb_client_resp_t r = {.status = h.status, .retry_after_s = h.retry_after};
        if (read_body(&s->conn, &h, &r.body, &r.len, err)) goto fail;
        err_from_resp(err, &r, "stream");
        pb_client_resp_free(&r);
        goto fail;
    }
    s->chunked = h.chunked;
    s->chunk_left = -1;
    snprintf(s->port, sizeof s->port, "%s", port);
    if (*h.stream_id)
        snprintf(s->id_header, sizeof s->id_header, "X-Stream-Id: %s\r\n", h.stream_id);
    if (o && o->idle_ms > 0) s->conn.idle_ms = o->idle_ms;
    s->clen_left = h.clen;
    return s;
fail:
    conn_close(&s->conn);
    free(s);
    return NULL;
}

/* Next body byte range of the stream: returns bytes available at *p (>0), 0 at the end. */
static ssize_t stream_bytes(pb_client_stream_t *s, const char **p, pb_client_err_t *err) {
    conn_t *k = &s->conn;
    for (;;) {
        if (s->eof) return 0;
        if (s->chunked && s->chunk_left <= 0) {
            char line[256];
            int idle = k->idle_ms;
            if (s->chunk_left == 0) { /* the CRLF after a chunk's data comes with it */
                k->idle_ms = 0;
                int bad = conn_line(k, line, sizeof line, err);
                k->idle_ms = idle;
                if (bad) return -1;
                s->chunk_left = -1;
            }
            if (k->off == k->len) { /* between chunks: the quiet time a consumer commits in */
                ssize_t r = conn_fill(k, err);
                if (r < 0) return r;
                if (r == 0) {
                    seterr(err, 0, "the broker closed the stream without its last chunk");
                    return -1;
                }
            }
            k->idle_ms = 0; /* the rest of the size line arrives with it */
            int bad = conn_line(k, line, sizeof line, err);
            k->idle_ms = idle;
            if (bad) return -1;
            char *end;
            long long sz = strtoll(line, &end, 16);
            if (end == line || sz < 0) {
                seterr(err, 0, "malformed chunked stream: chunk size '%.40s'", line);
                return -1;
            }
            if (sz == 0) {
                s->eof = 1;
                return 0;
            }
            s->chunk_left = sz;
        }
        if (!s->chunked && s->clen_left == 0) {
            s->eof = 1;
            return 0;
        }
        if (k->off == k->len) {
            ssize_t r = conn_fill(k, err);
            if (r < 0) return r;
            if (r == 0) {
                if (s->chunked || s->clen_left > 0) {
                    seterr(err, 0, "the broker closed the stream mid-record");
                    return -1;
                }
                s->eof = 1;
                return 0;
            }
        }
        size_t avail = k->len - k->off;
        if (s->chunked && (long long)avail > s->chunk_left) avail = (size_t)s->chunk_left;
        if (!s->chunked && s->clen_left > 0 && (long long)avail > s->clen_left)
            avail = (size_t)s->clen_left;
        *p = k->buf + k->off;
        return (ssize_t)avail;
    }
}

static void stream_consume(pb_client_stream_t *s, size_t n) {
    s->conn.off += n;
    if (s->chunked)
        s->chunk_left -= (long long)n;
    else if (s->clen_left > 0)
        s->clen_left -= (long long)n;
}

int pb_client_stream_next(pb_client_stream_t *s, json_t **rec, pb_client_err_t *err) {
    *rec = NULL;
    for (;;) {
        for (;;) {
            const char *p;
            ssize_t n = stream_bytes(s, &p, err);
            if (n == -2) return 2; /* quiet for idle_ms; the partial line is kept */
            if (n < 0) return -1;
            if (n == 0) {
                if (s->line_len == 0) return 0;
                break; /* a last line without '\n' */
            }
            const char *nl = memchr(p, '\n', (size_t)n);
            size_t take = nl ? (size_t)(nl - p) : (size_t)n;
            if (s->line_len + take + 1 > s->line_cap) {
                s->line_cap = (s->line_len + take + 1) * 2;
                s->line = realloc(s->line, s->line_cap);
                if (!s->line) abort();
            }
            memcpy(s->line + s->line_len, p, take);
            s->line_len += take;
            stream_consume(s, take + (nl ? 1 : 0));
            if (nl) break;
        }
        if (s->line_len == 0) continue; /* keep-alive blank line */
        json_error_t je;
        json_t *d = json_loadb(s->line, s->line_len, JSON_ALLOW_NUL, &je);
        s->line_len = 0;
        if (!d) {
            seterr(err, 0, "stream: a line is not JSON (%s at column %d)", je.text, je.column);
            return -1;
        }
        if (json_object_get(d, "error_code")) { /* the broker ended the stream with an error */
            seterr(err, (int)json_integer_value(json_object_get(d, "error_code")), "stream: %s",
                   json_string_value(json_object_get(d, "message"))
                       ? json_string_value(json_object_get(d, "message"))
                       : "error");
            json_decref(d);
            return -1;
        }
        *rec = d;
        return 1;
    }
}

void pb_client_stream_close(pb_client_stream_t *s) {
    if (!s) return;
    conn_close(&s->conn);
    free(s->line);
    free(s);
}

static int commit_x(pb_client_t *c, const char *port, json_t *cursors, const char *extra,
                    pb_client_err_t *err) {
    pb_buf_t pathb = {0};
    port_path(&pathb, port, "/cursors");
    const char *path = cstr(&pathb);
    json_t *doc = json_pack("{s:O}", "cursors", cursors);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    pb_client_resp_t r;
    int rc = request_x(c, "POST", path, "application/json", body, strlen(body), extra, &r, err);
    free(body);
    pb_buf_free(&pathb);
    if (rc) return -1;
    if (r.status / 100 != 2) {
        err_from_resp(err, &r, "commit");
        rc = -1;
    }
    pb_client_resp_free(&r);
    return rc;
}

int pb_client_commit(pb_client_t *c, const char *port, json_t *cursors, pb_client_err_t *err) {
    return commit_x(c, port, cursors, NULL, err);
}

int pb_client_stream_commit(pb_client_stream_t *s, json_t *cursors, pb_client_err_t *err) {
    return commit_x(s->c, s->port, cursors, *s->id_header ? s->id_header : NULL, err);
}

void pb_client_cursors_init(pb_client_cursors_t *k) {
    for (size_t i = 0; i < sizeof k->next / sizeof k->next[0]; i++)
        k->next[i] = -1;
    k->dirty = 0;
}

int pb_client_cursors_note(pb_client_cursors_t *k, const json_t *rec) {
    json_int_t p = json_integer_value(json_object_get(rec, "partition"));
    json_int_t o = json_integer_value(json_object_get(rec, "offset"));
    if (p < 0 || p >= (json_int_t)(sizeof k->next / sizeof k->next[0])) return -1;
    if (o + 1 > k->next[p]) k->next[p] = o + 1;
    k->dirty = 1;
    return 0;
}

json_t *pb_client_cursors_json(const pb_client_cursors_t *k) {
    json_t *a = NULL;
    for (size_t i = 0; i < sizeof k->next / sizeof k->next[0]; i++) {
        if (k->next[i] < 0) continue;
        if (!a) a = json_array();
        json_array_append_new(
            a, json_pack("{s:i,s:I}", "partition", (int)i, "offset", (json_int_t)k->next[i]));
    }
    return a;
}
