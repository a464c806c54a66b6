/*
 * loop.c — the libevent glue of the loop thread: fd watches, timers, signals, the evdns base for
 * outgoing requests, and libevent's log routed through pb_log.
 */
#include "loop.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

#define MAX_EVENTS 32

struct pb_loop {
    struct event_base *base;
    struct evdns_base *dns;           /* created on first use: host names of outgoing requests */
    struct event *events[MAX_EVENTS]; /* fd watches and signals, freed with the loop */
    int n_events;
    struct cb {
        pb_loop_cb fn;
        void *arg;
    } cbs[MAX_EVENTS];
};

struct pb_loop_timer {
    struct event *ev;
    pb_loop_cb fn;
    void *arg;
};

/* libevent's own messages go through the rate limiter: a condition libevent reports on every
 * loop turn (an accept() failing at the fd limit once produced millions of lines a minute) must
 * not flood the log. One key per severity; the line that gets through counts the suppressed. */
static void event_log(int severity, const char *msg) {
    switch (severity) {
    case EVENT_LOG_ERR: pb_log_rl(ERROR, "libevent", "%s", msg); break;
    case EVENT_LOG_WARN: pb_log_rl(WARN, "libevent", "%s", msg); break;
    case EVENT_LOG_MSG: pb_log_rl(INFO, "libevent", "%s", msg); break;
    default: pb_log(DEBUG, "libevent", "%s", msg); break;
    }
}

pb_loop_t *pb_loop_new(pb_err_t *err) {
    event_set_log_callback(event_log);
    pb_loop_t *l = calloc(1, sizeof *l);
    if (!l) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l->base = event_base_new();
    if (!l->base) {
        free(l);
        pb_err_set(err, PB_ERR_INTERNAL, "libevent: event_base_new failed");
        return NULL;
    }
    return l;
}

void pb_loop_destroy(pb_loop_t *l) {
    if (!l) return;
    for (int i = 0; i < l->n_events; i++)
        event_free(l->events[i]);
    if (l->dns) evdns_base_free(l->dns, 1); /* 1: fail pending lookups, their callbacks run */
    event_base_free(l->base);
    free(l);
}

void *pb_loop_base(pb_loop_t *l) { return l->base; }

void *pb_loop_dns(pb_loop_t *l) {
    if (!l->dns) {
        l->dns = evdns_base_new(l->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        /* No usable resolv.conf (containers): still resolve through /etc/hosts and numbers. (With
         * one, evdns loads /etc/hosts itself.) */
        if (!l->dns && (l->dns = evdns_base_new(l->base, 0)))
            evdns_base_load_hosts(l->dns, "/etc/hosts");
    }
    return l->dns;
}

static void trampoline(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct cb *c = arg;
    c->fn(c->arg);
}

static int add_event(pb_loop_t *l, int fd, short what, pb_loop_cb cb, void *arg, pb_err_t *err) {
    if (l->n_events == MAX_EVENTS)
        return pb_err_set(err, PB_ERR_INTERNAL, "loop: more than %d watches", MAX_EVENTS);
    struct cb *c = &l->cbs[l->n_events];
    c->fn = cb;
    c->arg = arg;
    struct event *ev = event_new(l->base, fd, what, trampoline, c);
    if (!ev || event_add(ev, NULL) != 0) {
        if (ev) event_free(ev);
        return pb_err_set(err, PB_ERR_INTERNAL, "loop: cannot watch fd %d", fd);
    }
    l->events[l->n_events++] = ev;
    return 0;
}

int pb_loop_watch_fd(pb_loop_t *l, int fd, pb_loop_cb cb, void *arg, pb_err_t *err) {
    return add_event(l, fd, EV_READ | EV_PERSIST, cb, arg, err);
}

int pb_loop_on_signal(pb_loop_t *l, int signo, pb_loop_cb cb, void *arg, pb_err_t *err) {
    return add_event(l, signo, EV_SIGNAL | EV_PERSIST, cb, arg, err);
}

static void timer_fire(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    pb_loop_timer_t *t = arg;
    t->fn(t->arg);
}

pb_loop_timer_t *pb_loop_timer_new(pb_loop_t *l, int64_t ms, int repeat, pb_loop_cb cb, void *arg) {
    pb_loop_timer_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->fn = cb;
    t->arg = arg;
    t->ev = event_new(l->base, -1, repeat ? EV_PERSIST : 0, timer_fire, t);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (!t->ev || event_add(t->ev, &tv) != 0) {
        pb_loop_timer_destroy(t);
        return NULL;
    }
    return t;
}

void pb_loop_timer_destroy(pb_loop_timer_t *t) {
    if (!t) return;
    if (t->ev) event_free(t->ev);
    free(t);
}

int pb_loop_run(pb_loop_t *l) { return event_base_dispatch(l->base) < 0 ? PB_ERR_INTERNAL : 0; }

void pb_loop_stop(pb_loop_t *l) { event_base_loopbreak(l->base); }

int64_t pb_loop_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pb_loop_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
