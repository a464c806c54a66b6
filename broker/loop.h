/*
 * loop — the one event loop thread (libevent) that owns all broker state.
 *
 * Owns: the event_base, fd watches (librdkafka's wake-up pipe), timers and signal handlers, and
 * routing libevent's own log lines through pb_log.
 * Must not: know what the callbacks do. Only loop.c and http.c include event2/.
 */
#ifndef PB_LOOP_H
#define PB_LOOP_H

#include <stdint.h>

#include "err.h"

typedef struct pb_loop pb_loop_t;
typedef struct pb_loop_timer pb_loop_timer_t;
typedef void (*pb_loop_cb)(void *arg);

/* New loop. Returns NULL with err set. */
pb_loop_t *pb_loop_new(pb_err_t *err);

/* Free the loop and every watch, timer and signal handler still registered. NULL is a no-op. */
void pb_loop_destroy(pb_loop_t *l);

/* The struct event_base *, for http.c only. */
void *pb_loop_base(pb_loop_t *l);

/* The loop's struct evdns_base * (non-blocking DNS for outgoing connections), created on first use
 * from /etc/resolv.conf and /etc/hosts; NULL only when out of memory (callers then resolve
 * blockingly). For http.c only. */
void *pb_loop_dns(pb_loop_t *l);

/* Call cb(arg) on the loop thread each time fd is readable, until the loop is destroyed. */
int pb_loop_watch_fd(pb_loop_t *l, int fd, pb_loop_cb cb, void *arg, pb_err_t *err);

/* Call cb(arg) after ms milliseconds, every ms if repeat. Returns NULL out of memory. Owned by the
 * caller: pb_loop_timer_destroy (NULL no-op), which also cancels it. */
pb_loop_timer_t *pb_loop_timer_new(pb_loop_t *l, int64_t ms, int repeat, pb_loop_cb cb, void *arg);
void pb_loop_timer_destroy(pb_loop_timer_t *t);

/* Call cb(arg) on the loop thread when signo arrives (SIGTERM, SIGINT, SIGHUP...). */
int pb_loop_on_signal(pb_loop_t *l, int signo, pb_loop_cb cb, void *arg, pb_err_t *err);

/* Run until pb_loop_stop. Returns 0, or PB_ERR_INTERNAL if libevent failed. */
int pb_loop_run(pb_loop_t *l);

/* Make pb_loop_run return after the current callbacks. Loop thread only. */
void pb_loop_stop(pb_loop_t *l);

/* Milliseconds of a monotonic clock; and of the wall clock (Unix epoch). */
int64_t pb_loop_now_ms(void);
int64_t pb_loop_wall_ms(void);

#endif
