/*
 * notify.c — systemd's sd_notify datagrams (notify.h): READY/RELOADING/STOPPING/STATUS to the
 * socket named by NOTIFY_SOCKET. Owns one socket and the last state told. Must not: block (every
 * send is MSG_DONTWAIT), decide readiness, or fail the broker because the manager is not there.
 */
#include "notify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct pb_notify {
    int fd;
    struct sockaddr_un sa;
    socklen_t len;
    int ready;     /* READY=1 sent once (start-up done) */
    int reloading; /* RELOADING=1 sent, its READY=1 not yet */
    int up;        /* ready at the last pb_notify_state */
    char status[PB_ERR_MSG_MAX];
};

int pb_notify_parse_addr(const char *addr, struct sockaddr_un *sa, socklen_t *len, pb_err_t *err) {
    size_t n = addr ? strlen(addr) : 0;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (n == 0) return pb_err_set(err, PB_ERR_INVALID, "NOTIFY_SOCKET is empty");
    if (addr[0] != '/' && addr[0] != '@')
        return pb_err_set(err, PB_ERR_INVALID,
                          "NOTIFY_SOCKET=%.200s: not an absolute path or an '@' abstract name",
                          addr);
    if (n == 1)
        return pb_err_set(err, PB_ERR_INVALID, "NOTIFY_SOCKET=%s: the name after it is missing",
                          addr);
    if (n > PB_NOTIFY_ADDR_MAX)
        return pb_err_set(err, PB_ERR_INVALID,
                          "NOTIFY_SOCKET=%.64s...: %zu bytes, a socket address holds at most %zu",
                          addr, n, (size_t)PB_NOTIFY_ADDR_MAX);
    memcpy(sa->sun_path, addr, n);
    /* Abstract: a leading NUL, and the length counts only the name's bytes (no trailing NUL). */
    if (addr[0] == '@') sa->sun_path[0] = 0;
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (addr[0] == '/'));
    return 0;
}

int pb_notify_new(const char *addr, pb_notify_t **out, pb_err_t *err) {
    pb_notify_t *n = NULL;
    *out = NULL;
    if (!addr || !*addr) return 0;
    if (!(n = calloc(1, sizeof *n))) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    n->fd = -1;
    int rc = pb_notify_parse_addr(addr, &n->sa, &n->len, err);
    if (rc) goto fail;
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd < 0) {
        rc = pb_err_set(err, PB_ERR_IO, "NOTIFY_SOCKET=%.200s: socket: %s", addr, strerror(errno));
        goto fail;
    }
    *out = n;
    return 0;
fail:
    pb_notify_destroy(n);
    return rc;
}

void pb_notify_destroy(pb_notify_t *n) {
    if (!n) return;
    if (n->fd >= 0) close(n->fd);
    free(n);
}

int pb_notify_send(pb_notify_t *n, const char *state, pb_err_t *err) {
    if (!n) return 0;
    ssize_t w = sendto(n->fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
                       (const struct sockaddr *)&n->sa, n->len);
    if (w < 0)
        return pb_err_set(err, PB_ERR_IO, "systemd notification socket: %s", strerror(errno));
    return 0;
}

/* Send state; a failure is logged (rate-limited) and otherwise ignored: systemd only loses a
 * status, and the broker serves either way. */
static int tell(pb_notify_t *n, const char *state, const char *status) {
    char msg[PB_ERR_MSG_MAX + 128];
    pb_err_t err = {0};
    /* STATUS= is one line: a newline in it would start a new assignment. */
    int k = snprintf(msg, sizeof msg, "%sSTATUS=", state);
    for (const char *s = status; *s && k < (int)sizeof msg - 1; s++)
        msg[k++] = *s == '\n' ? ' ' : *s;
    msg[k < (int)sizeof msg ? k : (int)sizeof msg - 1] = 0;
    snprintf(n->status, sizeof n->status, "%s", status);
    if (pb_notify_send(n, msg, &err)) {
        pb_log_rl(WARN, "systemd", "could not tell the service manager '%.40s...': %s", msg,
                  err.msg);
        return 0;
    }
    return 1;
}

int pb_notify_state(pb_notify_t *n, int ready, const char *status) {
    if (!n || n->reloading) return 0;
    if (!ready) {
        n->up = 0;
        if (strncmp(n->status, status, sizeof n->status - 1)) tell(n, "", status);
        return 0;
    }
    if (n->up) return 0;
    n->up = 1;
    if (n->ready) {
        tell(n, "", status);
        return 0;
    }
    n->ready = 1;
    return tell(n, "READY=1\n", status);
}

int pb_notify_reloading(pb_notify_t *n, const char *status) {
    struct timespec ts;
    char state[96];
    if (!n || !n->ready) return 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%llu\n",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    n->reloading = 1;
    return tell(n, state, status);
}

void pb_notify_reloaded(pb_notify_t *n, const char *status) {
    if (!n || !n->reloading) return;
    n->reloading = 0;
    tell(n, "READY=1\n", status);
}

void pb_notify_stopping(pb_notify_t *n, const char *status) {
    if (!n) return;
    tell(n, "STOPPING=1\n", status);
}
