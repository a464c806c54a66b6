/*
 * store.c — the registry follower and the pending-write table: replays the registry topic at
 * start, applies each record to pb_registry_t, and completes a write when its request id comes
 * back from the log (or fails it on a produce error or timeout).
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct pending {
    struct pending *next;
    char req[PB_REGISTRY_REQ_MAX + 1];
    int64_t deadline_ms;
    /* A write completes on read-back, failure or timeout; its delivery report may come before or
     * after that. The entry lives until both happened (the report's opaque points at it). */
    int completed, delivered;
    pb_store_done_cb_t done;
    void *ctx;
    pb_store_t *store;
} pending_t;

struct pb_store {
    pb_kafka_t *kafka;
    pb_kafka_log_t *log;
    pb_registry_t *reg;
    char *topic;
    int64_t timeout_ms;
    pending_t *pending;
    pb_loop_timer_t *timer;
    pb_store_applied_cb_t applied;
    void *actx;
    int was_caught_up;
};

static void unlink_pending(pb_store_t *s, pending_t *p) {
    for (pending_t **pp = &s->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

static void complete(pb_store_t *s, pending_t *p, const pb_registry_result_t *res, int code,
                     const char *msg) {
    unlink_pending(s, p);
    p->completed = 1;
    p->done(p->ctx, res, code, msg);
    if (p->delivered)
        free(p);
    else
        p->store = NULL; /* orphan: freed by its delivery report */
}

static void on_record(void *arg, int64_t offset, const void *key, size_t klen, const void *val,
                      size_t vlen) {
    (void)key;
    (void)klen;
    pb_store_t *s = arg;
    pb_registry_result_t res = {0};
    int skipped = pb_registry_apply(s->reg, offset, val, vlen, &res);
    if (skipped)
        pb_log_rl(ERROR, "registry",
                  "registry log %s offset %lld: record skipped: %s (an instance of a newer "
                  "portbroker may have written it; upgrade this one)",
                  s->topic, (long long)offset, res.message ? res.message : "unreadable");
    if (s->applied) s->applied(s->actx, &res);
    if (res.req[0])
        for (pending_t *p = s->pending; p; p = p->next)
            if (strcmp(p->req, res.req) == 0) {
                complete(s, p, &res, 0, NULL);
                break;
            }
    pb_registry_result_reset(&res);
}

static void on_log(void *arg) {
    pb_store_t *s = arg;
    pb_kafka_log_serve(s->log);
    if (!s->was_caught_up && pb_kafka_log_caught_up(s->log)) {
        s->was_caught_up = 1;
        pb_log(INFO, "registry", "registry replayed from %s up to offset %lld", s->topic,
               (long long)pb_kafka_log_position(s->log));
    }
}

/* Delivery report of a registry record: only failures matter (success completes on read-back). */
static void on_delivery(void *opaque, int code, const char *reason, int32_t partition,
                        int64_t offset) {
    (void)partition;
    (void)offset;
    pending_t *p = opaque;
    p->delivered = 1;
    if (p->completed) {
        free(p);
        return;
    }
    if (!code) return;
    char msg[300];
    snprintf(msg, sizeof msg, "the registry log %s did not accept the write: %s", p->store->topic,
             reason ? reason : "unknown error");
    complete(p->store, p, NULL, 50001, msg);
}

static void on_tick(void *arg) {
    pb_store_t *s = arg;
    int64_t now = pb_loop_now_ms();
    pending_t *p = s->pending;
    while (p) {
        pending_t *next = p->next;
        if (now >= p->deadline_ms) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "the write was not read back from %s within %lld ms; it may still apply",
                     s->topic, (long long)s->timeout_ms);
            complete(s, p, NULL, 50002, msg);
        }
        p = next;
    }
}

pb_store_t *pb_store_new(pb_kafka_t *k, pb_loop_t *loop, const char *topic, int64_t low,
                         int64_t high, int64_t write_timeout_ms, pb_store_applied_cb_t applied,
                         void *actx, pb_err_t *err) {
    pb_store_t *s = calloc(1, sizeof *s);
    if (!s || !(s->topic = strdup(topic)) || !(s->reg = pb_registry_new())) {
        pb_store_destroy(s);
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->kafka = k;
    s->timeout_ms = write_timeout_ms;
    s->applied = applied;
    s->actx = actx;
    s->log = pb_kafka_log_new(k, topic, low, high, 15000, on_record, s, err);
    if (!s->log) goto fail;
    if (pb_loop_watch_fd(loop, pb_kafka_log_wake_fd(s->log), on_log, s, err)) goto fail;
    s->timer = pb_loop_timer_new(loop, 250, 1, on_tick, s);
    if (!s->timer) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* An empty log is caught up at once. */
    on_log(s);
    return s;
fail:
    pb_store_destroy(s);
    return NULL;
}

const pb_registry_t *pb_store_registry(const pb_store_t *s) { return s->reg; }
int pb_store_caught_up(const pb_store_t *s) { return s->log && pb_kafka_log_caught_up(s->log); }

int64_t pb_store_position(const pb_store_t *s) { return pb_kafka_log_position(s->log); }
int64_t pb_store_replay_end(const pb_store_t *s) { return pb_kafka_log_start_end(s->log); }

size_t pb_store_pending(const pb_store_t *s) {
    size_t n = 0;
    for (pending_t *p = s->pending; p; p = p->next)
        n++;
    return n;
}

int pb_store_write(pb_store_t *s, const char *req, const void *record, size_t len,
                   pb_store_done_cb_t done, void *ctx, pb_err_t *err) {
    pending_t *p = calloc(1, sizeof *p);
    if (!p) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    snprintf(p->req, sizeof p->req, "%s", req);
    p->deadline_ms = pb_loop_now_ms() + s->timeout_ms;
    p->done = done;
    p->ctx = ctx;
    p->store = s;
    /* Key = request id: unique, so a compacted topic never drops a record replay depends on. */
    int rc = pb_kafka_produce(s->kafka, s->topic, 0, req, strlen(req), record, len, NULL, 0,
                              on_delivery, p, err);
    if (rc) {
        free(p);
        return rc;
    }
    p->next = s->pending;
    s->pending = p;
    return 0;
}

void pb_store_destroy(pb_store_t *s) {
    if (!s) return;
    while (s->pending)
        complete(s, s->pending, NULL, 50001, "portbroker is shutting down");
    pb_loop_timer_destroy(s->timer);
    pb_kafka_log_destroy(s->log);
    pb_registry_destroy(s->reg);
    free(s->topic);
    free(s);
}
