/*
 * httpc — blocking HTTP/1.1 requests for command line tools (see httpc.h).
 *
 * Owns: one TCP connection per request (getaddrinfo, a connect bounded by poll), the request
 * bytes, and parsing the status line, headers and body of the answer.
 * Must not: run inside the daemon, include libevent, retry (the caller decides), or encode URL
 * parts itself (jsontext.h's pb_jsontext_pct_encode does, for every caller).
 */
#include "httpc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int pb_httpc_url_parse(const char *url, pb_httpc_url_t *out, pb_err_t *err) {
    memset(out, 0, sizeof *out);
    if (strncasecmp(url, "http://", 7) != 0)
        return pb_err_set(err, PB_ERR_INVALID,
                          "URL '%s': only http:// is supported (put a TLS-terminating proxy in "
                          "front of an https:// registry)",
                          url);
    const char *p = url + 7, *slash = strchr(p, '/');
    size_t hostpart = slash ? (size_t)(slash - p) : strlen(p);
    const char *at = memchr(p, '@', hostpart);
    if (at) {
        if ((size_t)(at - p) >= sizeof out->auth)
            return pb_err_set(err, PB_ERR_INVALID, "URL '%s': user info too long", url);
        memcpy(out->auth, p, (size_t)(at - p));
        hostpart -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    const char *colon = NULL;
    if (*p == '[') { /* [v6]:port */
        const char *close = memchr(p, ']', hostpart);
        if (!close) return pb_err_set(err, PB_ERR_INVALID, "URL '%s': unclosed '['", url);
        if ((size_t)(close - p - 1) >= sizeof out->host)
            return pb_err_set(err, PB_ERR_INVALID, "URL '%s': host too long", url);
        memcpy(out->host, p + 1, (size_t)(close - p - 1));
        colon = close + 1 < p + hostpart && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(p, ':', hostpart);
        size_t hl = colon ? (size_t)(colon - p) : hostpart;
        if (hl == 0 || hl >= sizeof out->host)
            return pb_err_set(err, PB_ERR_INVALID, "URL '%s': no host", url);
        memcpy(out->host, p, hl);
    }
    if (colon) {
        size_t pl = (size_t)(p + hostpart - colon - 1);
        if (pl == 0 || pl >= sizeof out->port)
            return pb_err_set(err, PB_ERR_INVALID, "URL '%s': bad port", url);
        memcpy(out->port, colon + 1, pl);
        for (size_t i = 0; i < pl; i++)
            if (!isdigit((unsigned char)out->port[i]))
                return pb_err_set(err, PB_ERR_INVALID, "URL '%s': bad port", url);
    } else {
        strcpy(out->port, "80");
    }
    if (slash) {
        size_t bl = strlen(slash);
        while (bl && slash[bl - 1] == '/')
            bl--;
        if (bl >= sizeof out->base)
            return pb_err_set(err, PB_ERR_INVALID, "URL '%s': path too long", url);
        memcpy(out->base, slash, bl);
    }
    return 0;
}

static void base64(const char *in, char *out, size_t cap) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for events or the deadline passes. 0, or -1 (timeout / error). */
static int wait_fd(int fd, short events, long long deadline) {
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) return -1;
        struct pollfd p = {fd, events, 0};
        int rc = poll(&p, 1, (int)left);
        if (rc > 0) return 0;
        if (rc < 0 && errno != EINTR) return -1;
    }
}

static int dial(const pb_httpc_url_t *u, long long deadline, pb_err_t *err) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc) {
        pb_err_set(err, PB_ERR_IO, "%s:%s: %s", u->host, u->port, gai_strerror(rc));
        return -1;
    }
    int fd = -1, last = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        int soerr = errno;
        if (soerr == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0) {
            socklen_t sl = sizeof soerr;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) break;
        } else if (soerr == EINPROGRESS) {
            soerr = ETIMEDOUT;
        }
        last = soerr;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        pb_err_set(err, PB_ERR_IO, "connect to %s:%s: %s", u->host, u->port,
                   strerror(last ? last : ECONNREFUSED));
    return fd;
}

static int send_all(int fd, const char *p, size_t n, long long deadline) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline)) return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* The answer's header block ends at the first blank line; find its end (after "\r\n\r\n"). */
static const char *headers_end(const pb_buf_t *b) {
    for (size_t i = 3; i < b->len; i++)
        if (b->data[i] == '\n' && b->data[i - 1] == '\r' && b->data[i - 2] == '\n' &&
            b->data[i - 3] == '\r')
            return (const char *)b->data + i + 1;
    return NULL;
}

/* Value of header name in the block [h, end), or NULL. Copies it into v. */
static const char *header(const char *h, const char *end, const char *name, char *v, size_t cap) {
    size_t nl = strlen(name);
    for (const char *line = h; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) break;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *s = line + nl + 1;
            while (s < eol && (*s == ' ' || *s == '\t'))
                s++;
            size_t n = (size_t)(eol - s);
            while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
                n--;
            if (n >= cap) n = cap - 1;
            memcpy(v, s, n);
            v[n] = '\0';
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

/* Decode a chunked body in [p, p+n) into out. 0, or -1 when malformed / incomplete. */
static int dechunk(const char *p, size_t n, pb_buf_t *out) {
    const char *end = p + n;
    for (;;) {
        char *e = NULL;
        unsigned long len = strtoul(p, &e, 16);
        const char *eol = e ? memchr(e, '\n', (size_t)(end - e)) : NULL;
        if (!e || e == p || !eol) return -1;
        p = eol + 1;
        if (len == 0) return 0;
        if ((size_t)(end - p) < len + 2) return -1;
        if (pb_buf_append(out, p, len)) return -1;
        p += len + 2;
    }
}

int pb_httpc_request(const pb_httpc_url_t *u, const char *method, const char *path,
                     const char *body, size_t body_len, int timeout_ms, size_t max_body,
                     pb_httpc_resp_t *out, pb_err_t *err) {
    pb_buf_t req = {0}, in = {0};
    int fd = -1, rc = PB_ERR_IO;
    long long deadline = now_ms() + timeout_ms;
    char auth[800] = "";
    pb_buf_free(&out->body);
    out->status = 0;
    if (*u->auth) {
        char b64[720];
        base64(u->auth, b64, sizeof b64);
        snprintf(auth, sizeof auth, "Authorization: Basic %s\r\n", b64);
    }
    if (pb_buf_printf(&req,
                      "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nAccept: application/"
                      "vnd.schemaregistry.v1+json, application/json\r\nUser-Agent: portbroker\r\n"
                      "Connection: close\r\n%s",
                      method, u->base, path, u->host, u->port, auth) ||
        (body && pb_buf_printf(&req,
                               "Content-Type: application/vnd.schemaregistry.v1+json\r\n"
                               "Content-Length: %zu\r\n",
                               body_len)) ||
        pb_buf_puts(&req, "\r\n") || (body && pb_buf_append(&req, body, body_len))) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((fd = dial(u, deadline, err)) < 0) goto done;
    if (send_all(fd, (const char *)req.data, req.len, deadline)) {
        pb_err_set(err, PB_ERR_IO, "%s %s%s on %s:%s: sending failed: %s", method, u->base, path,
                   u->host, u->port, errno ? strerror(errno) : "timeout");
        goto done;
    }
    for (;;) { /* Connection: close, so the answer ends where the stream does */
        if (in.len > max_body + 64 * 1024) {
            rc = pb_err_set(err, PB_ERR_TOO_LARGE, "%s %s%s on %s:%s: answer larger than %zu bytes",
                            method, u->base, path, u->host, u->port, max_body);
            goto done;
        }
        if (pb_buf_reserve(&in, 65536)) {
            rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
            goto done;
        }
        ssize_t r = recv(fd, in.data + in.len, 65536, 0);
        if (r > 0) {
            in.len += (size_t)r;
        } else if (r == 0) {
            break;
        } else if (errno == EAGAIN || errno == EINTR) {
            if (wait_fd(fd, POLLIN, deadline)) {
                pb_err_set(err, PB_ERR_IO, "%s %s%s on %s:%s: no complete answer within %d ms",
                           method, u->base, path, u->host, u->port, timeout_ms);
                goto done;
            }
        } else {
            pb_err_set(err, PB_ERR_IO, "%s %s%s on %s:%s: %s", method, u->base, path, u->host,
                       u->port, strerror(errno));
            goto done;
        }
    }
    const char *start = (const char *)in.data, *hend = headers_end(&in);
    int status = 0;
    if (!hend || sscanf(start, "HTTP/1.%*[01] %d", &status) != 1 || status < 100) {
        pb_err_set(err, PB_ERR_IO, "%s %s%s on %s:%s: not an HTTP answer", method, u->base, path,
                   u->host, u->port);
        goto done;
    }
    size_t blen = in.len - (size_t)(hend - start);
    char v[64];
    if (header(start, hend, "Transfer-Encoding", v, sizeof v) && strcasestr(v, "chunked")) {
        if (dechunk(hend, blen, &out->body)) {
            pb_err_set(err, PB_ERR_IO, "%s %s%s on %s:%s: malformed chunked answer", method,
                       u->base, path, u->host, u->port);
            goto done;
        }
    } else {
        if (header(start, hend, "Content-Length", v, sizeof v)) {
            char *e;
            unsigned long long cl = strtoull(v, &e, 10);
            if (*e || cl > blen) {
                pb_err_set(err, PB_ERR_IO, "%s %s%s on %s:%s: answer shorter than its length",
                           method, u->base, path, u->host, u->port);
                goto done;
            }
            blen = (size_t)cl;
        }
        if (pb_buf_append(&out->body, hend, blen)) {
            rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    if (out->body.len > max_body) {
        rc = pb_err_set(err, PB_ERR_TOO_LARGE, "%s %s%s on %s:%s: answer larger than %zu bytes",
                        method, u->base, path, u->host, u->port, max_body);
        goto done;
    }
    if (pb_buf_reserve(&out->body, 1)) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto done;
    }
    out->body.data[out->body.len] = '\0';
    out->status = status;
    rc = 0;
done:
    if (fd >= 0) close(fd);
    pb_buf_free(&req);
    pb_buf_free(&in);
    if (rc) pb_buf_free(&out->body);
    return rc;
}
