/* libFuzzer target: the HTTP front door end to end — http.c's strict request parser, its
 * percent-decoding and target checks, libevent's evhttp and the rewrite of its error pages — and
 * the API's route matching (api.c). Each input is the bytes one client sends on one connection to
 * a real pb_http server on 127.0.0.1 (the client then shuts its write side). The handler matches
 * the decoded path (the raw one for registry routes) against every route of the table and answers
 * 200 {"routes":N}.
 * Properties beyond "no crash, no leak":
 *   - the path a handler sees is valid UTF-8;
 *   - the server's bytes are a sequence of complete HTTP/1.x answers (100 Continue allowed) and
 *     every answer of 400 or more is application/json {"error_code":STATUS,"message":"..."}:
 *     never one of libevent's HTML pages;
 *   - the server closes the connection within 5 s of the client's end (no connection is stuck).
 * Seeds: tests/fuzz/corpus/http/ (requests as clients send them; http.dict has the tokens).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "http.h"
#include "jsontok.h"
#include "loop.h"

#define MAX_INPUT 16384
#define MAX_ANSWER (1 << 20)

static pb_loop_t *loop;
static pb_http_t *server;

static int utf8_ok(const char *s) {
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    while (p < end) {
        size_t n = *p < 0x80 ? 1 : pb_jsontok_utf8_seq(p, end);
        if (!n) return 0;
        p += n;
    }
    return 1;
}

static void handle(pb_http_req_t *r, void *arg) {
    (void)arg;
    if (!utf8_ok(pb_http_path(r))) abort();
    int n = 0;
    char param[256];
    for (size_t i = 0; i < pb_api_route_count(); i++) {
        const pb_api_route_t *rt = pb_api_route_at(i);
        const char *p = rt->flags & PB_API_SR ? pb_http_raw_path(r) : pb_http_path(r);
        if (pb_api_route_match(rt, p, "com.acme", param, sizeof param)) {
            if (!memchr(param, '\0', sizeof param)) abort();
            n++;
        }
    }
    char body[32];
    int len = snprintf(body, sizeof body, "{\"routes\":%d}", n);
    pb_http_reply(r, 200, "application/json", body, (size_t)len);
}

/* The client side: read what the server sends until it closes (or the deadline). */
typedef struct {
    int fd, closed;
    int64_t deadline;
    char *buf;
    size_t len;
} client_t;

static void poll_client(void *arg) {
    client_t *c = arg;
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, MAX_ANSWER - c->len, MSG_DONTWAIT);
        if (n > 0) {
            c->len += (size_t)n;
            if (c->len < MAX_ANSWER) continue;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || c->len >= MAX_ANSWER)
            c->closed = 1;
        break;
    }
    if (c->closed || pb_loop_now_ms() > c->deadline) pb_loop_stop(loop);
}

static const char *find(const char *p, const char *end, const char *s) {
    size_t n = strlen(s);
    for (; p + n <= end; p++)
        if (memcmp(p, s, n) == 0) return p;
    return NULL;
}

/* A header's value in [h, end) (case-insensitive name at a line start), or NULL. */
static const char *header(const char *h, const char *end, const char *name, size_t *vlen) {
    size_t n = strlen(name);
    for (const char *p = h; p && p + n + 1 < end; p = find(p, end, "\r\n")) {
        if (p != h) p += 2;
        if (p + n + 1 < end && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *e = find(v, end, "\r\n");
            while (v < end && *v == ' ')
                v++;
            *vlen = (size_t)((e ? e : end) - v);
            return v;
        }
    }
    return NULL;
}

/* The answers in a[0..n): see the properties above. Bodies of HEAD answers are not there, so
 * with head set only the first answer is checked. */
static void check_answers(const char *a, size_t n, int closed, int head) {
    const char *p = a, *end = a + n;
    while (p < end) {
        if (end - p < 13 || (memcmp(p, "HTTP/1.1 ", 9) != 0 && memcmp(p, "HTTP/1.0 ", 9) != 0))
            abort();
        int status = atoi(p + 9);
        const char *hend = find(p, end, "\r\n\r\n");
        if (!hend) {
            if (closed) abort(); /* a head cut short */
            return;
        }
        size_t vl = 0;
        const char *cl = header(p, hend, "Content-Length", &vl);
        const char *ct = header(p, hend, "Content-Type", &vl);
        const char *body = hend + 4;
        if (status == 100) {
            p = body;
            continue;
        }
        if (status >= 400) {
            if (!ct || strncmp(ct, "application/json", 16) != 0) abort();
            char want[40];
            int wl = snprintf(want, sizeof want, "{\"error_code\":%d,\"message\":\"", status);
            if (!head && (end - body < wl || memcmp(body, want, (size_t)wl) != 0)) abort();
        }
        if (!cl || head) return;
        long len = strtol(cl, NULL, 10);
        if (len < 0 || end - body < len) {
            if (closed) abort();
            return;
        }
        p = body + len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static pb_loop_timer_t *tick;
    static client_t c;
    if (!loop) {
        pb_err_t err = {0};
        pb_http_limits_t lim = {.max_body_bytes = 8192,
                                .max_body_key = "fuzz",
                                .max_header_bytes = 4096,
                                .timeout_ms = 2000,
                                .header_timeout_ms = 2000,
                                .body_timeout_ms = 2000,
                                .idle_timeout_ms = 2000,
                                .max_connections = 0};
        if (!(loop = pb_loop_new(&err)) ||
            !(server = pb_http_new(loop, "127.0.0.1", 0, &lim, handle, NULL, &err)) ||
            !(c.buf = malloc(MAX_ANSWER)) ||
            !(tick = pb_loop_timer_new(loop, 1, 1, poll_client, &c))) {
            fprintf(stderr, "fuzz_http: cannot start the server: %s\n", err.msg);
            abort();
        }
    }
    if (size > MAX_INPUT) return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)pb_http_port(server))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&sa, sizeof sa) != 0) abort();
    /* Loopback buffers take 16 KiB whole; the server reads it once the loop runs. */
    if (size && send(c.fd, data, size, MSG_NOSIGNAL) != (ssize_t)size) abort();
    shutdown(c.fd, SHUT_WR);
    c.len = 0;
    c.closed = 0;
    c.deadline = pb_loop_now_ms() + 5000;
    pb_loop_run(loop);
    if (!c.closed) abort(); /* the server kept a connection the client had ended */
    int head = size >= 4 && find((const char *)data, (const char *)data + size, "HEAD") != NULL;
    check_answers(c.buf, c.len, c.closed, head);
    close(c.fd);
    return 0;
}
