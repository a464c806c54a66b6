/*
 * kafka_consumer — reading: the registry log follower, group consumers (the fan-out reader and
 * the routers'), the last records of a topic (samples), and subscriber streams with their
 * closers.
 * Must not: touch broker state from librdkafka's threads (they only write to wake pipes). The
 * blocking reads (pb_kafka_last_records*, pb_kafka_tail_records,
 * pb_kafka_watermarks) are for jobs workers, never the loop thread.
 */
#include "kafka_int.h"

/* ---- log follower --------------------------------------------------------------------------- */

struct pb_kafka_log {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    wake_t wake;
    char *topic;
    int64_t end; /* end offset seen at start: caught up once position >= end */
    int64_t pos; /* next offset to apply */
    pb_kafka_log_cb_t cb;
    void *arg;
};

pb_kafka_log_t *pb_kafka_log_new(pb_kafka_t *k, const char *topic, int64_t low, int64_t high,
                                 int timeout_ms, pb_kafka_log_cb_t cb, void *arg, pb_err_t *err) {
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *tp = NULL;
    pb_kafka_log_t *l = calloc(1, sizeof *l);
    if (!l) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l->cb = cb;
    l->arg = arg;
    l->topic = strdup(topic);
    if (!l->topic) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (kafka_wake_init(&l->wake, 0, err)) goto fail;
    /* No group: the follower always replays from the start and commits nothing. The embedded
     * cluster answers an empty fetch only after fetch.wait.max.ms, so keep it short there (it is
     * the read-back latency of a registry write) but not so short that idling costs CPU. */
    const kv_t defaults[] = {{"fetch.wait.max.ms", k->embedded ? "100" : "500"},
                             {"client.id", "portbroker-registry"},
                             {NULL, NULL}};
    const kv_t fixed[] = {{"group.id", "portbroker.registry.follower"},
                          {"enable.auto.commit", "false"},
                          {"enable.auto.offset.store", "false"},
                          {"enable.partition.eof", "false"},
                          {NULL, NULL}};
    if (!(conf = kafka_role_conf(k, 0, defaults, fixed, err))) goto fail;
    l->rk = kafka_client_new(RD_KAFKA_CONSUMER, conf, "registry follower", err);
    conf = NULL;
    if (!l->rk) goto fail;
    int64_t lo = low, hi = high;
    rd_kafka_resp_err_t e =
        low >= 0 ? 0 : rd_kafka_query_watermark_offsets(l->rk, topic, 0, &lo, &hi, timeout_ms);
    if (e) {
        pb_err_set(err, PB_ERR_UNAVAILABLE, "registry log %s: cannot read its end offset: %s",
                   topic, rd_kafka_err2str(e));
        goto fail;
    }
    l->end = hi;
    l->pos = lo;
    rd_kafka_poll_set_consumer(l->rk);
    l->q = rd_kafka_queue_get_consumer(l->rk);
    kafka_wake_on_events(l->q, l->wake.wr, "l");
    tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(l->rk, tp)) {
        pb_err_set(err, PB_ERR_INTERNAL, "registry log %s: cannot assign partition 0", topic);
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(tp);
    return l;
fail:
    if (tp) rd_kafka_topic_partition_list_destroy(tp);
    if (conf) rd_kafka_conf_destroy(conf);
    pb_kafka_log_destroy(l);
    return NULL;
}

int pb_kafka_log_wake_fd(const pb_kafka_log_t *l) { return l->wake.rd; }

void pb_kafka_log_serve(pb_kafka_log_t *l) {
    kafka_wake_drain(&l->wake);
    for (;;) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(l->q, 0);
        if (!ev) break;
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_FETCH) {
            const rd_kafka_message_t *m;
            while ((m = rd_kafka_event_message_next(ev))) {
                if (m->err) {
                    pb_log_rl(WARN, "registry", "registry log %s: %s", l->topic,
                              rd_kafka_message_errstr(m));
                    continue;
                }
                if (m->offset < l->pos) continue; /* never apply twice */
                l->pos = m->offset + 1;
                l->cb(l->arg, m->offset, m->key, m->key_len, m->payload, m->len);
            }
        } else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_ERROR) {
            pb_log_rl(WARN, "registry", "registry log %s: %s", l->topic,
                      rd_kafka_event_error_string(ev));
        }
        rd_kafka_event_destroy(ev);
    }
}

int pb_kafka_log_caught_up(const pb_kafka_log_t *l) { return l->pos >= l->end; }
int64_t pb_kafka_log_position(const pb_kafka_log_t *l) { return l->pos; }
int64_t pb_kafka_log_start_end(const pb_kafka_log_t *l) { return l->end; }

void pb_kafka_log_destroy(pb_kafka_log_t *l) {
    if (!l) return;
    if (l->q) rd_kafka_queue_destroy(l->q);
    if (l->rk) {
        rd_kafka_consumer_close(l->rk);
        rd_kafka_destroy(l->rk);
    }
    kafka_wake_close(&l->wake);
    free(l->topic);
    free(l);
}

static void msg_view(pb_kafka_msg_t *v, rd_kafka_message_t *m) {
    rd_kafka_timestamp_type_t tt;
    v->topic = rd_kafka_topic_name(m->rkt);
    v->partition = m->partition;
    v->offset = m->offset;
    v->key = m->key;
    v->key_len = m->key_len;
    v->value = m->payload;
    v->value_len = m->len;
    v->timestamp_ms = rd_kafka_message_timestamp(m, &tt);
    v->impl = m;
}

size_t pb_kafka_msg_headers(const pb_kafka_msg_t *m, pb_kafka_header_t *out, size_t cap) {
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m->impl, &h) || !h) return 0;
    size_t n = rd_kafka_header_cnt(h);
    for (size_t i = 0; i < n && i < cap; i++)
        if (rd_kafka_header_get_all(h, i, &out[i].name, &out[i].value, &out[i].len)) return i;
    return n;
}

int pb_kafka_msg_header(const pb_kafka_msg_t *m, const char *name, const void **value,
                        size_t *len) {
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m->impl, &h) || !h) return 0;
    return rd_kafka_header_get_last(h, name, value, len) ? 0 : 1;
}

struct pb_kafka_consumer {
    pb_kafka_t *k;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    wake_t wake;
    char *topic; /* the one topic of conf.topic, or "" for a consumer of several */
    size_t batch_max;
    rd_kafka_message_t **msgs;
    pb_kafka_msg_t *views;
    pb_kafka_batch_cb_t on_batch;
    pb_kafka_rebalance_cb_t on_rebalance;
    void *arg;
    int cooperative;   /* partition.assignment.strategy=cooperative-sticky */
    int assigned_once; /* the group gave it an assignment (maybe empty) at least once */
};

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    pb_kafka_consumer_t *c = opaque;
    size_t n = (size_t)parts->cnt;
    pb_kafka_tp_t *tp = calloc(n ? n : 1, sizeof *tp);
    int assigned = e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    PB_ASSERT(tp); /* a few bytes: without them the group cannot make progress */
    if (assigned) c->assigned_once = 1;
    for (size_t i = 0; i < n; i++) {
        tp[i].partition = parts->elems[i].partition;
        tp[i].offset = PB_KAFKA_OFFSET_STORED;
        tp[i].topic = parts->elems[i].topic;
    }
    pb_log(DEBUG, "kafka", "%s: %s %zu partitions", c->topic, assigned ? "assigned" : "revoked", n);
    if (c->on_rebalance) c->on_rebalance(c->arg, assigned, tp, n);
    /* Cooperative: the lists are increments (only what moves); eager: the whole assignment. */
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_resp_err_t ae = 0;
    rd_kafka_error_t *ce = NULL;
    if (assigned) {
        for (size_t i = 0; i < n; i++)
            parts->elems[i].offset = tp[i].offset;
        if (n && tp[0].offset == PB_KAFKA_OFFSET_HOLD) {
            /* The owner assigns later (pb_kafka_consumer_assign), once it knows where each
             * partition starts; the group waits for that call meanwhile. */
            pb_log(DEBUG, "kafka", "%s: assignment of %zu partitions deferred", c->topic, n);
            free(tp);
            return;
        }
        if (coop)
            ce = rd_kafka_incremental_assign(rk, parts);
        else
            ae = rd_kafka_assign(rk, parts);
    } else if (n && tp[0].offset == PB_KAFKA_OFFSET_HOLD) {
        /* The owner gives the partitions up later (pb_kafka_consumer_unassign), once its
         * in-flight work on them is done; they stay assigned (and the group waits) meanwhile. */
        pb_log(DEBUG, "kafka", "%s: revocation of %zu partitions deferred", c->topic, n);
        free(tp);
        return;
    } else if (coop) {
        ce = rd_kafka_incremental_unassign(rk, parts);
    } else {
        ae = rd_kafka_assign(rk, NULL);
    }
    if (ae) pb_log(ERROR, "kafka", "%s: assign: %s", c->topic, rd_kafka_err2str(ae));
    if (ce) {
        pb_log(ERROR, "kafka", "%s: assign: %s", c->topic, rd_kafka_error_string(ce));
        rd_kafka_error_destroy(ce);
    }
    free(tp);
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque) {
    (void)rk;
    (void)offsets;
    pb_kafka_consumer_t *c = opaque;
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        pb_log_rl(WARN, "kafka", "%s: commit failed: %s", c->topic, rd_kafka_err2str(e));
}

static int reader_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk;
    return kafka_offer_stats(((pb_kafka_consumer_t *)opaque)->k, PB_KSTATS_READER, json, len);
}

pb_kafka_consumer_t *pb_kafka_consumer_new(pb_kafka_t *k, const pb_kafka_consumer_conf_t *conf,
                                           pb_err_t *err) {
    rd_kafka_conf_t *rconf = NULL;
    rd_kafka_topic_partition_list_t *sub = NULL;
    PB_ASSERT(conf->group && conf->on_batch);
    pb_kafka_consumer_t *c = calloc(1, sizeof *c);
    if (!c) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->wake.rd = c->wake.wr = -1;
    c->wake.own = 1;
    c->k = k;
    c->batch_max = conf->batch_max ? conf->batch_max : 1000;
    c->on_batch = conf->on_batch;
    c->on_rebalance = conf->on_rebalance;
    c->arg = conf->arg;
    c->topic = strdup(conf->topic ? conf->topic : "");
    c->msgs = calloc(c->batch_max, sizeof *c->msgs);
    c->views = calloc(c->batch_max, sizeof *c->views);
    if (!c->topic || !c->msgs || !c->views) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (kafka_wake_init(&c->wake, conf->wake_fd, err)) goto fail;
    char fw[16];
    snprintf(fw, sizeof fw, "%d", conf->fetch_wait_ms);
    if (!(rconf =
              kafka_consumer_conf(k, conf->group, conf->client_id,
                                  conf->fetch_wait_ms > 0 ? fw : NULL, conf->offset_reset, err)))
        goto fail;
    /* librdkafka 2.0.2 counts queued.min.messages against the whole consumer queue (each
     * partition's fetch queue forwards to it) and, once it is reached, stops fetching until the
     * broker thread's next timed wake-up, up to 1 s later: a relay catching up on a backlog
     * drained 100,000 queued records (the default) in ~0.3 s, then idled. With 1,000,000 the
     * queue takes longer than that wake-up to drain; what a consumer queues stays bounded by
     * queued.max.messages.kbytes (64 MiB, which bounded it before too for records above ~670
     * bytes). A role default: kafka.queued.min.messages overrides it. */
    if (!kafka_operator_sets(k->cfg, "queued.min.messages") &&
        kafka_conf_set(rconf, "queued.min.messages", "1000000", err))
        goto fail;
    /* The embedded cluster makes a member that rejoins (a change of subscription) wait
     * session.timeout.ms - 1 s before the group rebalances, whatever the other members do: a
     * shorter session for the one shared reader (a role default, as for streams) keeps a new
     * port from waiting 5 s; a real cluster rebalances once every member rejoined. */
    if (conf->cooperative && k->embedded && !kafka_operator_sets(k->cfg, "session.timeout.ms") &&
        kafka_conf_set(rconf, "session.timeout.ms", "3000", err))
        goto fail;
    /* Fixed for a cooperative consumer: its owner relies on incremental rebalances. */
    if (conf->cooperative &&
        kafka_conf_set(rconf, "partition.assignment.strategy", "cooperative-sticky", err))
        goto fail;
    /* The fan-out reader's read-ahead, all partitions together (librdkafka 2.0.2 counts the
     * consumer queue every partition's fetch queue forwards to): router.prefetch.kbytes, a role
     * default the operator's kafka.queued.max.messages.kbytes overrides. */
    if (conf->cooperative && k->cfg && !kafka_operator_sets(k->cfg, "queued.max.messages.kbytes")) {
        char kb[32];
        snprintf(kb, sizeof kb, "%lld", (long long)k->cfg->router_prefetch_kbytes);
        if (kafka_conf_set(rconf, "queued.max.messages.kbytes", kb, err)) goto fail;
    }
    c->cooperative = conf->cooperative;
    rd_kafka_conf_set_opaque(rconf, c);
    if (kafka_stats_conf(k, rconf, reader_stats_cb, err)) goto fail;
    rd_kafka_conf_set_rebalance_cb(rconf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(rconf, commit_cb);
    c->rk = kafka_client_new(RD_KAFKA_CONSUMER, rconf, "router consumer", err);
    rconf = NULL;
    if (!c->rk) goto fail;
    rd_kafka_poll_set_consumer(c->rk);
    c->q = rd_kafka_queue_get_consumer(c->rk);
    kafka_wake_on_events(c->q, c->wake.wr, "c");
    if (!conf->topic) return c;
    sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, conf->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        pb_err_set(err, PB_ERR_UNAVAILABLE, "consumer of %s: subscribe: %s", conf->topic,
                   rd_kafka_err2str(e));
        goto fail;
    }
    return c;
fail:
    if (rconf) rd_kafka_conf_destroy(rconf);
    pb_kafka_consumer_destroy(c);
    return NULL;
}

int pb_kafka_consumer_subscribe(pb_kafka_consumer_t *c, const char *const *topics, size_t n,
                                pb_err_t *err) {
    rd_kafka_resp_err_t e;
    if (!n) {
        e = rd_kafka_unsubscribe(c->rk);
    } else {
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new((int)n);
        for (size_t i = 0; i < n; i++)
            rd_kafka_topic_partition_list_add(sub, topics[i], RD_KAFKA_PARTITION_UA);
        e = rd_kafka_subscribe(c->rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
    }
    if (e)
        return pb_err_set(err, PB_ERR_UNAVAILABLE, "consumer: subscribe to %zu topics: %s", n,
                          rd_kafka_err2str(e));
    return 0;
}

int pb_kafka_consumer_wake_fd(const pb_kafka_consumer_t *c) {
    return c->wake.own ? c->wake.rd : -1;
}

size_t pb_kafka_consumer_serve(pb_kafka_consumer_t *c) {
    return pb_kafka_consumer_serve_max(c, SIZE_MAX);
}

size_t pb_kafka_consumer_serve_max(pb_kafka_consumer_t *c, size_t max) {
    size_t total = 0;
    kafka_wake_drain(&c->wake);
    while (total < max) {
        /* No more than max in all: a caller bounding its memory takes records one at a time. */
        size_t want = max - total < c->batch_max ? max - total : c->batch_max;
        ssize_t n = rd_kafka_consume_batch_queue(c->q, 0, c->msgs, want);
        if (n <= 0) break;
        size_t good = 0;
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = c->msgs[i];
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    pb_log_rl(WARN, "kafka", "consumer of %s: %s", c->topic,
                              rd_kafka_message_errstr(m));
                continue;
            }
            msg_view(&c->views[good++], m);
        }
        if (good) c->on_batch(c->arg, c->views, good);
        total += good;
        for (ssize_t i = 0; i < n; i++)
            rd_kafka_message_destroy(c->msgs[i]);
        if ((size_t)n < want) break;
    }
    return total;
}

int pb_kafka_consumer_pause(pb_kafka_consumer_t *c, const char *topic, int32_t partition, int pause,
                            pb_err_t *err) {
    if (!topic) topic = c->topic;
    rd_kafka_topic_partition_list_t *a = NULL;
    rd_kafka_resp_err_t e = rd_kafka_assignment(c->rk, &a);
    if (!e && !rd_kafka_topic_partition_list_find(a, topic, partition))
        e = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
    if (a) rd_kafka_topic_partition_list_destroy(a);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    if (!e) e = pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    if (!e) e = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return pb_err_set(err, PB_ERR_INVALID, "%s %s[%d]: %s", pause ? "pause" : "resume", topic,
                          (int)partition, rd_kafka_err2str(e));
    return 0;
}

int pb_kafka_consumer_pause_many(pb_kafka_consumer_t *c, const pb_kafka_tp_t *parts, size_t n,
                                 int pause, pb_err_t *err) {
    if (!n) return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, parts[i].topic ? parts[i].topic : c->topic,
                                          parts[i].partition);
    rd_kafka_resp_err_t e =
        pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    int bad = -1;
    for (int i = 0; !e && bad < 0 && i < l->cnt; i++)
        if (l->elems[i].err) bad = i;
    int rc = 0;
    if (e || bad >= 0)
        rc = pb_err_set(err, PB_ERR_INVALID, "%s %zu partitions: %s[%d]: %s",
                        pause ? "pause" : "resume", n, l->elems[bad < 0 ? 0 : bad].topic,
                        (int)l->elems[bad < 0 ? 0 : bad].partition,
                        rd_kafka_err2str(e ? e : l->elems[bad].err));
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int pb_kafka_consumer_seek(pb_kafka_consumer_t *c, const char *topic, int32_t partition,
                           int64_t offset, pb_err_t *err) {
    if (!topic) topic = c->topic;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    /* timeout 0: asynchronous; the position changes before the next fetch. */
    rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, l, 0);
    rd_kafka_resp_err_t pe = l->elems[0].err;
    if (pe == RD_KAFKA_RESP_ERR__IN_PROGRESS) pe = 0; /* the asynchronous seek's normal answer */
    int rc = 0;
    if (e || pe)
        rc = pb_err_set(err, PB_ERR_INVALID, "seek %s[%d] to %lld: %s", topic, (int)partition,
                        (long long)offset, e ? rd_kafka_error_string(e) : rd_kafka_err2str(pe));
    if (e) rd_kafka_error_destroy(e);
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int pb_kafka_consumer_assign(pb_kafka_consumer_t *c, const pb_kafka_tp_t *parts, size_t n,
                             pb_err_t *err) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, parts[i].topic ? parts[i].topic : c->topic,
                                          parts[i].partition)
            ->offset = parts[i].offset;
    int coop = !strcmp(rd_kafka_rebalance_protocol(c->rk), "COOPERATIVE");
    rd_kafka_error_t *ce = coop ? rd_kafka_incremental_assign(c->rk, l) : NULL;
    rd_kafka_resp_err_t ae = coop ? 0 : rd_kafka_assign(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int rc = 0;
    if (ce || ae)
        rc = pb_err_set(err, PB_ERR_INVALID, "assign %zu partitions: %s", n,
                        ce ? rd_kafka_error_string(ce) : rd_kafka_err2str(ae));
    if (ce) rd_kafka_error_destroy(ce);
    return rc;
}

int pb_kafka_consumer_unassign(pb_kafka_consumer_t *c, const pb_kafka_tp_t *parts, size_t n,
                               pb_err_t *err) {
    int coop = !strcmp(rd_kafka_rebalance_protocol(c->rk), "COOPERATIVE");
    rd_kafka_error_t *ce = NULL;
    rd_kafka_resp_err_t ae = 0;
    if (coop) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
        for (size_t i = 0; i < n; i++)
            rd_kafka_topic_partition_list_add(l, parts[i].topic ? parts[i].topic : c->topic,
                                              parts[i].partition);
        ce = rd_kafka_incremental_unassign(c->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
    } else {
        ae = rd_kafka_assign(c->rk, NULL); /* eager: the whole assignment was revoked */
    }
    int rc = 0;
    if (ce || ae)
        rc = pb_err_set(err, PB_ERR_INVALID, "give up %zu partitions: %s", n,
                        ce ? rd_kafka_error_string(ce) : rd_kafka_err2str(ae));
    if (ce) rd_kafka_error_destroy(ce);
    return rc;
}

static rd_kafka_topic_partition_list_t *tp_list(const char *topic, const pb_kafka_tp_t *p,
                                                size_t n) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topic, p[i].partition)->offset = p[i].offset;
    return l;
}

int pb_kafka_consumer_commit(pb_kafka_consumer_t *c, const pb_kafka_tp_t *offsets, size_t n,
                             pb_err_t *err) {
    if (!n) return 0;
    rd_kafka_topic_partition_list_t *l = tp_list(c->topic, offsets, n);
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return pb_err_set(err, PB_ERR_UNAVAILABLE, "commit %s: %s", c->topic, rd_kafka_err2str(e));
    return 0;
}

static int committed(rd_kafka_t *rk, const char *topic, pb_kafka_tp_t *parts, size_t n,
                     int timeout_ms, pb_err_t *err) {
    if (!n) return 0;
    rd_kafka_topic_partition_list_t *l = tp_list(topic, parts, n);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, timeout_ms);
    for (size_t i = 0; !e && i < n; i++) {
        rd_kafka_topic_partition_t *t =
            rd_kafka_topic_partition_list_find(l, topic, parts[i].partition);
        parts[i].offset = t && !t->err && t->offset >= 0 ? t->offset : PB_KAFKA_OFFSET_INVALID;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return pb_err_set(err,
                          kafka_map_err(e) == PB_ERR_TIMEOUT ? PB_ERR_TIMEOUT : PB_ERR_UNAVAILABLE,
                          "committed offsets of %s: %s", topic, rd_kafka_err2str(e));
    return 0;
}

int pb_kafka_consumer_committed(pb_kafka_consumer_t *c, pb_kafka_tp_t *parts, size_t n,
                                int timeout_ms, pb_err_t *err) {
    return committed(c->rk, c->topic, parts, n, timeout_ms, err);
}

int pb_kafka_consumer_watermarks(pb_kafka_consumer_t *c, int32_t partition, int64_t *low,
                                 int64_t *high, int timeout_ms, pb_err_t *err) {
    return kafka_watermarks(c->rk, c->topic, partition, low, high, timeout_ms, err);
}

int pb_kafka_consumer_watermarks_cached(pb_kafka_consumer_t *c, const char *topic,
                                        int32_t partition, int64_t *low, int64_t *high) {
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(c->rk, topic ? topic : c->topic, partition, &lo, &hi) ||
        hi < 0)
        return -1;
    *low = lo;
    *high = hi;
    return 0;
}

size_t pb_kafka_consumer_queued(const pb_kafka_consumer_t *c) {
    return c->q ? rd_kafka_queue_length(c->q) : 0;
}

/* Handles left to the process's exit (see pb_kafka_consumer_destroy), held here so that they stay
 * reachable: deliberately kept, not leaked (LeakSanitizer agrees). Loop thread only. */
typedef struct kept {
    rd_kafka_t *rk;
    struct kept *next;
} kept_t;
static kept_t *kept_handles;

static void keep_until_exit(rd_kafka_t *rk) {
    kept_t *n = malloc(sizeof *n);
    if (!n) return;
    n->rk = rk;
    n->next = kept_handles;
    kept_handles = n;
}

void pb_kafka_consumer_destroy(pb_kafka_consumer_t *c) {
    if (!c) return;
    if (c->rk) {
        /* The revocation is served from here through rebalance_cb. */
        rd_kafka_consumer_close(c->rk);
        if (c->q) rd_kafka_queue_destroy(c->q);
        /* librdkafka < 2.3 aborts when a cooperative-sticky consumer is destroyed before its
         * first assignment (assertion `assignor_state' in rd_kafka_sticky_assignor_state_destroy,
         * librdkafka issue #4312). Such a consumer (stopped within seconds of starting: only at
         * shutdown, since the fan-out reader lives as long as the routers) is closed and left to
         * the process's exit instead. */
        if (c->cooperative && !c->assigned_once && rd_kafka_version() < 0x020300ff) {
            pb_log(DEBUG, "kafka",
                   "%s: closed before its first assignment; not destroyed "
                   "(librdkafka issue #4312)",
                   c->topic);
            keep_until_exit(c->rk);
        } else
            rd_kafka_destroy(c->rk);
    }
    kafka_wake_close(&c->wake);
    free(c->msgs);
    free(c->views);
    free(c->topic);
    free(c);
}

int pb_kafka_watermarks(pb_kafka_t *k, const char *topic, int32_t partition, int64_t *low,
                        int64_t *high, int timeout_ms, pb_err_t *err) {
    return kafka_watermarks(k->rk, topic, partition, low, high, timeout_ms, err);
}

int pb_kafka_last_records(pb_kafka_t *k, const char *topic, const int32_t *partitions, size_t n,
                          int timeout_ms, pb_kafka_msg_cb_t cb, void *arg, pb_err_t *err) {
    pb_kafka_tp_t *tps = calloc(n ? n : 1, sizeof *tps);
    if (!tps) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        tps[i].topic = topic;
        tps[i].partition = partitions[i];
    }
    int rc = pb_kafka_last_records_tps(k, tps, n, timeout_ms, cb, arg, err);
    free(tps);
    return rc;
}

int pb_kafka_last_records_tps(pb_kafka_t *k, const pb_kafka_tp_t *parts, size_t n, int timeout_ms,
                              pb_kafka_msg_cb_t cb, void *arg, pb_err_t *err) {
    int rc = 0;
    size_t want = 0, got = 0;
    int64_t deadline = kafka_now_ms() + timeout_ms;
    rd_kafka_topic_partition_list_t *l = NULL;
    char *done = NULL;
    rd_kafka_t *rk = NULL, *assigned = NULL;
    if (!n) return 0;
    /* The instance's offset reader (kafka_admin.c), not a client per call. */
    if (!(rk = kafka_reader_get(k, err))) return err ? err->code : PB_ERR_INVALID;
    done = calloc(n, 1);
    l = rd_kafka_topic_partition_list_new((int)n);
    if (!done) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;
        int left = (int)(deadline - kafka_now_ms());
        if ((rc = kafka_watermarks(rk, parts[i].topic, parts[i].partition, &lo, &hi,
                                   left > 0 ? left : 1, err)))
            goto out;
        if (hi <= lo) {
            done[i] = 1; /* empty */
            continue;
        }
        rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition)->offset = hi - 1;
        want++;
    }
    if (!want) goto out;
    if (!(assigned = kafka_reader_assign(k, l, err))) {
        rc = err ? err->code : PB_ERR_UNAVAILABLE;
        goto out;
    }
    while (got < want) {
        int left = (int)(deadline - kafka_now_ms());
        if (left <= 0) {
            rc = pb_err_set(err, PB_ERR_TIMEOUT,
                            "last records of %s...: %zu of %zu partitions not read within %d ms",
                            parts[0].topic, want - got, want, timeout_ms);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, left < 100 ? left : 100);
        if (!m) continue;
        if (!m->err) {
            const char *mt = rd_kafka_topic_name(m->rkt);
            for (size_t i = 0; i < n; i++) {
                if (parts[i].partition != m->partition || done[i] || strcmp(parts[i].topic, mt))
                    continue;
                /* The first record seen of a partition is its last one (we start at hi - 1); a
                 * record produced since is as good: it is later still, and we only want one. */
                done[i] = 1;
                got++;
                pb_kafka_msg_t v;
                msg_view(&v, m);
                cb(arg, &v);
            }
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            pb_log_rl(WARN, "kafka", "last records of %s: %s", parts[0].topic,
                      rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
out:
    if (assigned) kafka_reader_release(k, assigned);
    kafka_reader_put(k, rk);
    if (l) rd_kafka_topic_partition_list_destroy(l);
    free(done);
    return rc;
}

/* A copy of m that outlives its client (a client cannot be destroyed while its messages live):
 * key and value in one block, headers detached. Destroys m. Returns 0, or -1 out of memory. */
static int record_copy(rd_kafka_message_t *m, pb_kafka_record_t *r) {
    size_t klen = m->key ? m->key_len : 0, vlen = m->payload ? m->len : 0;
    uint8_t *own = malloc(klen + vlen + 1);
    rd_kafka_headers_t *h = NULL;
    if (!own) {
        rd_kafka_message_destroy(m);
        return -1;
    }
    if (klen) memcpy(own, m->key, klen);
    if (vlen) memcpy(own + klen, m->payload, vlen);
    if (rd_kafka_message_detach_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR) h = NULL;
    *r = (pb_kafka_record_t){.partition = m->partition,
                             .offset = m->offset,
                             .timestamp_ms = rd_kafka_message_timestamp(m, NULL),
                             .key = m->key ? own : NULL,
                             .klen = klen,
                             .value = m->payload ? own + klen : NULL,
                             .vlen = vlen,
                             .own_ = own,
                             .hdrs_ = h};
    rd_kafka_message_destroy(m);
    return 0;
}

/* Keep m among the newest `cap` records of out[0..*n) (by Kafka timestamp, then offset): append
 * while there is room, else replace the oldest when m is newer. Takes ownership of m (copied). */
static void tail_keep(pb_kafka_record_t *out, size_t cap, size_t *n, rd_kafka_message_t *m) {
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    size_t slot = *n;
    if (*n == cap) {
        slot = 0;
        for (size_t i = 1; i < *n; i++)
            if (out[i].timestamp_ms < out[slot].timestamp_ms ||
                (out[i].timestamp_ms == out[slot].timestamp_ms && out[i].offset < out[slot].offset))
                slot = i;
        if (ts < out[slot].timestamp_ms ||
            (ts == out[slot].timestamp_ms && m->offset <= out[slot].offset)) {
            rd_kafka_message_destroy(m);
            return;
        }
        pb_kafka_record_release(&out[slot]);
    }
    if (record_copy(m, &out[slot]) == 0 && slot == *n)
        (*n)++;
    else if (slot < *n && !out[slot].own_) {
        /* out of memory replacing: close the gap */
        out[slot] = out[*n - 1];
        (*n)--;
    }
}

int pb_kafka_tail_records(pb_kafka_t *k, const char *topic, int partitions, size_t cap,
                          int timeout_ms, pb_kafka_record_t *out, size_t *n, int *complete,
                          pb_err_t *err) {
    int rc = 0;
    size_t want = 0, done_n = 0;
    int64_t deadline = kafka_now_ms() + timeout_ms;
    int64_t *end = NULL;
    rd_kafka_topic_partition_list_t *l = NULL;
    *n = 0;
    *complete = 0;
    if (partitions <= 0 || !cap) return 0;
    /* The instance's offset reader (kafka_admin.c), not a client per request. */
    rd_kafka_t *rk = kafka_reader_get(k, err), *assigned = NULL;
    if (!rk) return err ? err->code : PB_ERR_INVALID;
    end = calloc((size_t)partitions, sizeof *end);
    l = rd_kafka_topic_partition_list_new(partitions);
    if (!end) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int p = 0; p < partitions; p++) {
        int64_t lo = 0, hi = 0;
        int left = (int)(deadline - kafka_now_ms());
        if (left <= 0) {
            rc = pb_err_set(err, PB_ERR_TIMEOUT,
                            "sample of %s: watermarks of %d of %d partitions not read within %d ms",
                            topic, partitions - p, partitions, timeout_ms);
            goto out;
        }
        if ((rc = kafka_watermarks(rk, topic, p, &lo, &hi, left, err))) goto out;
        end[p] = hi; /* read up to here: records produced meanwhile are not waited for */
        if (hi <= lo) continue;
        int64_t from = hi - (int64_t)cap > lo ? hi - (int64_t)cap : lo;
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = from;
        want++;
    }
    if (!want) {
        *complete = 1;
        goto out;
    }
    if (!(assigned = kafka_reader_assign(k, l, err))) {
        rc = err ? err->code : PB_ERR_UNAVAILABLE;
        goto out;
    }
    while (done_n < want) {
        int left = (int)(deadline - kafka_now_ms());
        if (left <= 0) break; /* what was read is the sample; *complete stays 0 */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, left < 100 ? left : 100);
        if (!m) continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                pb_log_rl(WARN, "kafka", "sample of %s: %s", topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        int32_t p = m->partition;
        if (p < 0 || p >= partitions || m->offset >= end[p] ||
            strcmp(rd_kafka_topic_name(m->rkt), topic)) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->offset == end[p] - 1) done_n++;
        tail_keep(out, cap, n, m);
    }
    *complete = done_n >= want;
out:
    if (assigned) kafka_reader_release(k, assigned);
    kafka_reader_put(k, rk);
    if (l) rd_kafka_topic_partition_list_destroy(l);
    free(end);
    return rc;
}

/* ---- subscriber streams --------------------------------------------------------------------- */

struct pb_kafka_stream {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    char *topic;
    pb_kafka_stream_rebalance_cb_t cb;
    void *arg;
    pb_kafka_tp_t *start; /* pb_kafka_stream_start_at: first-assignment positions */
    size_t n_start;
    int64_t dflt;
    int32_t *seen; /* partitions assigned at least once (the start applies once) */
    size_t n_seen;
};

/* librdkafka's offset for one of ours (PB_KAFKA_OFFSET_STORED is its "invalid": committed). */
static int64_t rd_offset(int64_t o) {
    return o == PB_KAFKA_OFFSET_STORED      ? RD_KAFKA_OFFSET_INVALID
           : o == PB_KAFKA_OFFSET_BEGINNING ? RD_KAFKA_OFFSET_BEGINNING
           : o == PB_KAFKA_OFFSET_END       ? RD_KAFKA_OFFSET_END
                                            : o;
}

/* Set where each partition of a new assignment starts: the stream's start position the first time
 * the stream gets it, the committed offset afterwards. */
static void stream_place(pb_kafka_stream_t *s, rd_kafka_topic_partition_list_t *parts) {
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        int seen = 0;
        for (size_t j = 0; j < s->n_seen && !seen; j++)
            seen = s->seen[j] == p;
        if (seen) continue;
        int32_t *ns = realloc(s->seen, (s->n_seen + 1) * sizeof *ns);
        if (!ns) continue; /* out of memory: it starts as below again on a later assignment */
        s->seen = ns;
        s->seen[s->n_seen++] = p;
        int64_t o = s->dflt;
        for (size_t j = 0; j < s->n_start; j++)
            if (s->start[j].partition == p) o = s->start[j].offset;
        parts->elems[i].offset = rd_offset(o);
    }
}

int pb_kafka_stream_start_at(pb_kafka_stream_t *s, const pb_kafka_tp_t *start, size_t n,
                             int64_t dflt, pb_err_t *err) {
    s->dflt = dflt;
    if (!n) return 0;
    if (!(s->start = malloc(n * sizeof *start)))
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    memcpy(s->start, start, n * sizeof *start);
    s->n_start = n;
    return 0;
}

/* Consumer settings shared by streams and the lag probe: the base, the embedded cluster's timing
 * facts as defaults (rebalances cost session.timeout.ms - 1 s there; empty fetches wait
 * fetch.wait.max.ms; fetch_wait, when not NULL, is the wait on any cluster), and fixed: the group,
 * manual commits only, earliest where nothing is committed. */
rd_kafka_conf_t *kafka_sub_consumer_conf(pb_kafka_t *k, const char *group, const char *client_id,
                                         const char *fetch_wait, pb_err_t *err) {
    const kv_t defaults[] = {{"client.id", client_id},
                             {"session.timeout.ms", k->embedded ? "3000" : NULL},
                             {"heartbeat.interval.ms", k->embedded ? "500" : NULL},
                             {"fetch.wait.max.ms", fetch_wait    ? fetch_wait
                                                   : k->embedded ? "10"
                                                                 : NULL},
                             {NULL, NULL}};
    const kv_t fixed[] = {{"group.id", group},
                          {"enable.auto.commit", "false"},
                          {"enable.auto.offset.store", "false"},
                          {"enable.partition.eof", "false"},
                          {"auto.offset.reset", "earliest"},
                          {NULL, NULL}};
    return kafka_role_conf(k, 0, defaults, fixed, err);
}

static void stream_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                             rd_kafka_topic_partition_list_t *parts, void *opaque) {
    pb_kafka_stream_t *s = opaque;
    int32_t ids[256];
    size_t n = 0;
    for (int i = 0; i < parts->cnt && n < sizeof ids / sizeof ids[0]; i++)
        ids[n++] = parts->elems[i].partition;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        stream_place(s, parts);
        rd_kafka_assign(rk, parts);
        if (s->cb) s->cb(s->arg, 1, ids, n);
    } else {
        if (s->cb) s->cb(s->arg, 0, ids, n);
        rd_kafka_assign(rk, NULL);
    }
}

pb_kafka_stream_t *pb_kafka_stream_new(pb_kafka_t *k, const pb_config_t *cfg, const char *group,
                                       const char *topic, int queue_kbytes, int wake_fd,
                                       pb_kafka_stream_rebalance_cb_t cb, void *arg,
                                       pb_err_t *err) {
    char kb[32], fw[32];
    rd_kafka_topic_partition_list_t *tl = NULL;
    pb_kafka_stream_t *s = calloc(1, sizeof *s);
    if (!s || !(s->topic = strdup(topic))) {
        free(s);
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->cb = cb;
    s->arg = arg;
    s->dflt = PB_KAFKA_OFFSET_STORED;
    snprintf(kb, sizeof kb, "%d", queue_kbytes > 0 ? queue_kbytes : 1);
    snprintf(fw, sizeof fw, "%lld", (long long)cfg->sub_fetch_wait_ms);
    /* sub.fetch.wait.ms (0: sub_consumer_conf's choice). Then bound what a stream prefetches
     * (fixed): a reader that does not read must not grow our memory. */
    rd_kafka_conf_t *conf = kafka_sub_consumer_conf(k, group, "portbroker-sub",
                                                    cfg->sub_fetch_wait_ms > 0 ? fw : NULL, err);
    if (!conf) goto fail;
    if (kafka_conf_set(conf, "queued.max.messages.kbytes", kb, err) ||
        kafka_conf_set(conf, "fetch.max.bytes", "1048576", err) ||
        kafka_conf_set(conf, "max.partition.fetch.bytes", "262144", err)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(conf, stream_rebalance);
    rd_kafka_conf_set_opaque(conf, s);
    if (!(s->rk = kafka_client_new(RD_KAFKA_CONSUMER, conf, "subscriber stream", err))) goto fail;
    rd_kafka_poll_set_consumer(s->rk);
    s->q = rd_kafka_queue_get_consumer(s->rk);
    kafka_wake_on_events(s->q, wake_fd, "s");
    tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(s->rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (e) {
        pb_err_set(err, PB_ERR_UNAVAILABLE, "subscribe to %s: %s", topic, rd_kafka_err2str(e));
        goto fail;
    }
    return s;
fail:
    if (s->q) rd_kafka_queue_destroy(s->q);
    if (s->rk) rd_kafka_destroy(s->rk);
    free(s->topic);
    free(s);
    return NULL;
}

int pb_kafka_stream_poll(pb_kafka_stream_t *s, pb_kafka_record_t *out) {
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, 0);
        if (!m) return 0;
        if (m->err) {
            pb_log_rl(WARN, "sub", "consumer of %s: %s", s->topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        int64_t ts = rd_kafka_message_timestamp(m, NULL);
        *out = (pb_kafka_record_t){.partition = m->partition,
                                   .offset = m->offset,
                                   .timestamp_ms = ts,
                                   .key = m->key,
                                   .klen = m->key_len,
                                   .value = m->payload,
                                   .vlen = m->len,
                                   .msg_ = m};
        return 1;
    }
}

int pb_kafka_record_header(const pb_kafka_record_t *rec, size_t i, const char **name,
                           const void **value, size_t *len) {
    rd_kafka_headers_t *h = NULL;
    if (rec->hdrs_)
        h = rec->hdrs_;
    else if (!rec->msg_ || rd_kafka_message_headers(rec->msg_, &h) || !h)
        return -1;
    if (rd_kafka_header_get_all(h, i, name, value, len)) return -1;
    return 0;
}

void pb_kafka_record_release(pb_kafka_record_t *rec) {
    if (rec->msg_) rd_kafka_message_destroy(rec->msg_);
    if (rec->hdrs_) rd_kafka_headers_destroy(rec->hdrs_);
    free(rec->own_);
    rec->msg_ = rec->own_ = rec->hdrs_ = NULL;
}

void pb_kafka_stream_pause(pb_kafka_stream_t *s, int pause) {
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(s->rk, &a) || !a) return;
    if (a->cnt) pause ? rd_kafka_pause_partitions(s->rk, a) : rd_kafka_resume_partitions(s->rk, a);
    rd_kafka_topic_partition_list_destroy(a);
}

int pb_kafka_stream_commit(pb_kafka_stream_t *s, const int32_t *partitions, const int64_t *offsets,
                           size_t n, int async, pb_err_t *err) {
    if (!n) return 0;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(tl, s->topic, partitions[i])->offset = offsets[i];
    rd_kafka_resp_err_t e = rd_kafka_commit(s->rk, tl, async);
    int rc = 0;
    if (!e && !async)
        for (int i = 0; i < tl->cnt && !e; i++)
            e = tl->elems[i].err;
    if (e)
        rc = pb_err_set(
            err,
            e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION || e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
                    e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || e == RD_KAFKA_RESP_ERR__STATE
                ? PB_ERR_CONFLICT
                : PB_ERR_UNAVAILABLE,
            "commit to %s: %s", s->topic, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(tl);
    return rc;
}

struct pb_kafka_closer {
    pb_kafka_stream_t *s; /* NULL once run */
    rd_kafka_topic_partition_list_t *final;
};

static void stream_free(pb_kafka_stream_t *s, rd_kafka_topic_partition_list_t *final) {
    if (final && final->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_commit(s->rk, final, 0);
        if (e) pb_log(WARN, "sub", "final commit to %s: %s", s->topic, rd_kafka_err2str(e));
    }
    rd_kafka_queue_destroy(s->q);
    rd_kafka_consumer_close(s->rk);
    rd_kafka_destroy(s->rk);
    free(s->topic);
    free(s->start);
    free(s->seen);
    free(s);
}

pb_kafka_closer_t *pb_kafka_stream_close(pb_kafka_stream_t *s, const int32_t *partitions,
                                         const int64_t *offsets, size_t n) {
    if (!s) return NULL;
    rd_kafka_queue_io_event_enable(s->q, -1, NULL, 0);
    /* The rebalance callback must not reach the stream's owner any more. */
    s->cb = NULL;
    rd_kafka_topic_partition_list_t *final = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(final, s->topic, partitions[i])->offset = offsets[i];
    pb_kafka_closer_t *c = calloc(1, sizeof *c);
    if (c) {
        c->s = s;
        c->final = final;
        return c;
    }
    stream_free(s, final);
    rd_kafka_topic_partition_list_destroy(final);
    return NULL;
}

void pb_kafka_closer_run(pb_kafka_closer_t *c) {
    if (!c || !c->s) return;
    stream_free(c->s, c->final);
    c->s = NULL;
}

void pb_kafka_closer_free(pb_kafka_closer_t *c) {
    if (!c) return;
    pb_kafka_closer_run(c);
    rd_kafka_topic_partition_list_destroy(c->final);
    free(c);
}
