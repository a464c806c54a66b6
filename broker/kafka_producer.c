/*
 * kafka_producer — producing: the publishing path's messages on the shared client (with their
 * delivery contexts and cached topic handles) and the routers' relay producers (idempotent or
 * transactional, forwarding consumed records, group commits, bounded waits at shutdown).
 * Owns the produce queues' byte accounting (pb_kafka_produce_queue, for /metrics without
 * librdkafka statistics): value bytes added when a record is handed to librdkafka, taken off when
 * its delivery report comes (as librdkafka's own msg_size), one relaxed atomic each way.
 * Must not: block the loop on a full queue: a record that does not fit is refused at once
 * (PB_ERR_UNAVAILABLE). Only pb_kafka_producer_wait and _destroy wait (bounded), at shutdown.
 * Nothing but that atomic on the produce path: no lock, no system call of ours.
 */
#include "kafka_int.h"

#include "hash.h"

/* Value bytes a record counts in a queue: what librdkafka's msg_size counts (rkm_len, the value
 * only), so the figure matches its queue.buffering.max.kbytes. */
static void queued_add(atomic_llong *q, size_t vlen) {
    atomic_fetch_add_explicit(q, (long long)vlen, memory_order_relaxed);
}

static void queued_sub(atomic_llong *q, size_t vlen) {
    atomic_fetch_sub_explicit(q, (long long)vlen, memory_order_relaxed);
}

void kafka_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    dr_ctx_t *c = m->_private;
    if (!c) return; /* the embedded cluster's control commands: not counted either way */
    queued_sub(&((pb_kafka_t *)opaque)->queued_bytes, m->len);
    /* A borrowed context may be freed by its own callback: decide before calling it. */
    int owned = !c->borrowed;
    if (c->cb)
        c->cb(c->opaque, kafka_map_err(m->err), m->err ? rd_kafka_err2str(m->err) : NULL,
              m->partition, m->offset);
    if (owned) free(c);
}

/* ---- producing ------------------------------------------------------------------------------ */

int pb_kafka_produce(pb_kafka_t *k, const char *topic, int32_t partition, const void *key,
                     size_t klen, const void *val, size_t vlen, const pb_kafka_header_t *headers,
                     size_t n_headers, pb_kafka_dr_cb_t cb, void *opaque, pb_err_t *err) {
    dr_ctx_t *c = malloc(sizeof *c);
    if (!c) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    c->cb = cb;
    c->opaque = opaque;
    c->borrowed = 0;
    int rc =
        pb_kafka_produce_dr(k, topic, partition, key, klen, val, vlen, headers, n_headers, c, err);
    if (rc) free(c);
    return rc;
}

/* A librdkafka header list of headers[0..n) (copied), owned by the caller until produced. */
static rd_kafka_headers_t *header_list(const pb_kafka_header_t *headers, size_t n) {
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value, (ssize_t)headers[i].len);
    return hdrs;
}

/* Produce one message to rkt (partition, or RD_KAFKA_PARTITION_UA for the partitioner) with c as
 * its delivery context; the contract of pb_kafka_produce_dr. */
static int produce_rkt(pb_kafka_t *k, rd_kafka_topic_t *rkt, int32_t partition, const void *key,
                       size_t klen, const void *val, size_t vlen, const pb_kafka_header_t *headers,
                       size_t n_headers, pb_kafka_dr_t *c, pb_err_t *err) {
    rd_kafka_headers_t *hdrs = n_headers ? header_list(headers, n_headers) : NULL;
    /* Counted before: its delivery report may be served before producev returns. */
    queued_add(&k->queued_bytes, vlen);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        k->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, klen),
        RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(c), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (e) {
        queued_sub(&k->queued_bytes, vlen);
        if (hdrs) rd_kafka_headers_destroy(hdrs); /* on failure the headers stay ours */
        int code = e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PB_ERR_UNAVAILABLE : kafka_map_err(e);
        return pb_err_set(err, code, "produce to %s: %s", rd_kafka_topic_name(rkt),
                          rd_kafka_err2str(e));
    }
    return 0;
}

int pb_kafka_produce_dr(pb_kafka_t *k, const char *topic, int32_t partition, const void *key,
                        size_t klen, const void *val, size_t vlen, const pb_kafka_header_t *headers,
                        size_t n_headers, pb_kafka_dr_t *c, pb_err_t *err) {
    /* What RD_KAFKA_V_TOPIC does inside producev: a handle for this one message. */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, topic, NULL);
    if (!rkt)
        return pb_err_set(err, kafka_map_err(rd_kafka_last_error()), "produce to %s: %s", topic,
                          rd_kafka_err2str(rd_kafka_last_error()));
    int rc = produce_rkt(k, rkt, partition, key, klen, val, vlen, headers, n_headers, c, err);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* ---- relay producer ------------------------------------------------------------------------- */

/* Topic handles a relay producer keeps (a fan-out producer writes to every input topic). */
#define PRODUCER_TOPICS_MAX 65536

typedef struct hbytes {
    const rd_kafka_headers_t *h; /* NULL: a free slot */
    int64_t bytes;
} hbytes_t;

typedef struct ptopic {
    char *name;
    rd_kafka_topic_t *rkt;
} ptopic_t;

struct pb_kafka_producer {
    pb_kafka_t *k;
    rd_kafka_t *rk;
    wake_t wake;
    pb_kafka_delivery_cb_t cb;
    void *arg;
    int inflight;
    int64_t inflight_bytes; /* values, keys and headers of those (header_bytes, hb_put) */
    rd_kafka_queue_t *admq; /* answers of group commits */
    int commits;            /* group commits not yet answered */
    /* Topic handles by name in an open-addressing table (a producev by name looks the topic up
     * under a lock each time): cap a power of two, at most half full. */
    ptopic_t *topics;
    size_t n_topics, cap_topics;
    char failure[768];         /* pb_kafka_producer_failure's text, once failed for good */
    atomic_llong queued_bytes; /* value bytes produced, delivery not yet reported (queued_add) */
    /* Header bytes of each message in flight, by its header list (the list librdkafka hands back
     * with the delivery report is the one produced): open addressing, linear probing, cap a power
     * of two at most half full; the report takes its entry out instead of walking the list. */
    hbytes_t *hb;
    size_t n_hb, cap_hb;
};

static size_t name_hash(const char *s) { return (size_t)pb_hash_str(PB_HASH_LEGACY_BASIS, s); }

/* Header names and values of list h: with the value and key, what a message holds in memory. */
static int64_t header_bytes(const rd_kafka_headers_t *h) {
    int64_t n = 0;
    const char *name;
    const void *v;
    size_t len;
    for (size_t i = 0; h && !rd_kafka_header_get_all(h, i, &name, &v, &len); i++)
        n += (int64_t)(strlen(name) + (v ? len : 0));
    return n;
}

static size_t hb_slot(const rd_kafka_headers_t *h, size_t cap) {
    return (size_t)pb_hash_fold((uint64_t)(uintptr_t)h) & (cap - 1);
}

/* e into the first free slot from its own (t has one). */
static void hb_place(hbytes_t *t, size_t cap, hbytes_t e) {
    size_t i = hb_slot(e.h, cap);
    while (t[i].h)
        i = (i + 1) & (cap - 1);
    t[i] = e;
}

/* Remember h's header bytes until its delivery report (hb_take). 0, or -1 out of memory (the
 * report then walks the list again: the same sum). */
static int hb_put(pb_kafka_producer_t *p, const rd_kafka_headers_t *h, int64_t bytes) {
    if ((p->n_hb + 1) * 2 > p->cap_hb) {
        size_t cap = p->cap_hb ? p->cap_hb * 2 : 1024;
        hbytes_t *t = calloc(cap, sizeof *t);
        if (!t) return -1;
        for (size_t i = 0; i < p->cap_hb; i++)
            if (p->hb[i].h) hb_place(t, cap, p->hb[i]);
        free(p->hb);
        p->hb = t;
        p->cap_hb = cap;
    }
    hb_place(p->hb, p->cap_hb, (hbytes_t){h, bytes});
    p->n_hb++;
    return 0;
}

/* The header bytes hb_put kept for h, its entry removed (backward shift: no tombstones); walks h
 * when none was kept. */
static int64_t hb_take(pb_kafka_producer_t *p, const rd_kafka_headers_t *h) {
    if (!h) return 0;
    if (!p->n_hb) return header_bytes(h);
    size_t mask = p->cap_hb - 1, i = hb_slot(h, p->cap_hb);
    while (p->hb[i].h && p->hb[i].h != h)
        i = (i + 1) & mask;
    if (!p->hb[i].h) return header_bytes(h);
    int64_t bytes = p->hb[i].bytes;
    p->n_hb--;
    for (size_t j = (i + 1) & mask; p->hb[j].h; j = (j + 1) & mask) {
        size_t home = hb_slot(p->hb[j].h, p->cap_hb);
        /* Entry j may move into the hole at i unless its home lies cyclically in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            p->hb[i] = p->hb[j];
            i = j;
        }
    }
    p->hb[i] = (hbytes_t){NULL, 0};
    return bytes;
}

static void relay_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    pb_kafka_producer_t *p = opaque;
    pb_kafka_delivery_t d = {
        .code = kafka_map_err(m->err),
        .reason = m->err ? rd_kafka_err2str(m->err) : NULL,
        .topic = rd_kafka_topic_name(m->rkt),
        .partition = m->partition,
        .offset = m->offset,
        .tag = (int64_t)(intptr_t)m->_private,
        .value_len = m->len,
        .latency_us = rd_kafka_message_latency(m),
        .permanent = m->err && kafka_permanent_err(m->err),
    };
    rd_kafka_headers_t *h = NULL;
    queued_sub(&p->queued_bytes, m->len);
    p->inflight--;
    p->inflight_bytes -= (int64_t)m->len + (int64_t)m->key_len +
                         hb_take(p, rd_kafka_message_headers(m, &h) ? NULL : h);
    p->cb(p->arg, &d);
}

/* Serve answers of group commits: failures logged. */
static void serve_admin(pb_kafka_producer_t *p) {
    rd_kafka_event_t *ev;
    while (p->admq && (ev = rd_kafka_queue_poll(p->admq, 0))) {
        const rd_kafka_AlterConsumerGroupOffsets_result_t *r =
            rd_kafka_event_AlterConsumerGroupOffsets_result(ev);
        if (r) p->commits--;
        if (rd_kafka_event_error(ev)) {
            pb_log_rl(WARN, "kafka", "group commit failed: %s", rd_kafka_event_error_string(ev));
        } else if (r) {
            size_t cnt = 0;
            const rd_kafka_group_result_t **g =
                rd_kafka_AlterConsumerGroupOffsets_result_groups(r, &cnt);
            for (size_t i = 0; i < cnt; i++) {
                const rd_kafka_error_t *ge = rd_kafka_group_result_error(g[i]);
                const rd_kafka_topic_partition_list_t *pl = rd_kafka_group_result_partitions(g[i]);
                rd_kafka_resp_err_t pe = 0;
                for (int j = 0; pl && !pe && j < pl->cnt; j++)
                    pe = pl->elems[j].err;
                if (ge || pe)
                    pb_log_rl(WARN, "kafka", "commit of group %s failed: %s",
                              rd_kafka_group_result_name(g[i]),
                              ge ? rd_kafka_error_string(ge) : rd_kafka_err2str(pe));
            }
        }
        rd_kafka_event_destroy(ev);
    }
}

static int relay_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk;
    return kafka_offer_stats(((pb_kafka_producer_t *)opaque)->k, PB_KSTATS_RELAY, json, len);
}

pb_kafka_producer_t *pb_kafka_producer_new(pb_kafka_t *k, const char *client_id, int wake_fd,
                                           pb_kafka_delivery_cb_t cb, void *arg, pb_err_t *err) {
    rd_kafka_conf_t *conf = NULL;
    PB_ASSERT(cb);
    pb_kafka_producer_t *p = calloc(1, sizeof *p);
    if (!p) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->wake.rd = p->wake.wr = -1;
    p->wake.own = 1;
    p->k = k;
    p->cb = cb;
    p->arg = arg;
    if (kafka_wake_init(&p->wake, wake_fd, err)) goto fail;
    char linger[32], qkb[32];
    snprintf(linger, sizeof linger, "%lld", k->cfg ? (long long)k->cfg->router_linger_ms : 5LL);
    /* router.queue.kbytes: a role default, so kafka.queue.buffering.max.kbytes overrides it. */
    snprintf(qkb, sizeof qkb, "%lld", k->cfg ? (long long)k->cfg->router_queue_kbytes : 262144LL);
    const kv_t defaults[] = {{"client.id", client_id ? client_id : "portbroker-relay"},
                             {"linger.ms", linger},
                             {"queue.buffering.max.kbytes", qkb},
                             {"queue.buffering.max.messages", "1000000"},
                             {"batch.num.messages", "10000"},
                             {NULL, NULL}};
    const kv_t fixed[] = {{"enable.idempotence", "true"}, {"acks", "all"}, {NULL, NULL}};
    if (!(conf = kafka_role_conf(k, 1, defaults, fixed, err))) goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, relay_dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    if (kafka_stats_conf(k, conf, relay_stats_cb, err)) goto fail;
    p->rk = kafka_client_new(RD_KAFKA_PRODUCER, conf, "relay producer", err);
    conf = NULL;
    if (!p->rk) goto fail;
    rd_kafka_queue_t *mq = rd_kafka_queue_get_main(p->rk);
    kafka_wake_on_events(mq, p->wake.wr, "p");
    rd_kafka_queue_destroy(mq);
    p->admq = rd_kafka_queue_new(p->rk);
    kafka_wake_on_events(p->admq, p->wake.wr, "a");
    if (!k->relay) k->relay = p; /* the routing producer of /metrics' produce queue series */
    return p;
fail:
    if (conf) rd_kafka_conf_destroy(conf);
    pb_kafka_producer_destroy(p, 0);
    return NULL;
}

int pb_kafka_producer_wake_fd(const pb_kafka_producer_t *p) {
    return p->wake.own ? p->wake.rd : -1;
}

const char *pb_kafka_producer_failure(pb_kafka_producer_t *p) {
    return kafka_failure_cached(p->rk, p->failure, sizeof p->failure);
}

size_t pb_kafka_producer_serve(pb_kafka_producer_t *p) {
    size_t n = 0;
    int r;
    kafka_wake_drain(&p->wake);
    while ((r = rd_kafka_poll(p->rk, 0)) > 0)
        n += (size_t)r;
    serve_admin(p);
    return n;
}

int pb_kafka_producer_group_commit(pb_kafka_producer_t *p, const char *group,
                                   const pb_kafka_tp_t *parts, size_t n, pb_err_t *err) {
    if (!n) return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition)->offset =
            parts[i].offset;
    rd_kafka_AlterConsumerGroupOffsets_t *a = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (!a) return pb_err_set(err, PB_ERR_NOMEM, "commit of group %s: out of memory", group);
    rd_kafka_AlterConsumerGroupOffsets(p->rk, &a, 1, NULL, p->admq);
    rd_kafka_AlterConsumerGroupOffsets_destroy(a);
    p->commits++;
    return 0;
}

int pb_kafka_producer_commits_pending(const pb_kafka_producer_t *p) { return p->commits; }

/* The topic's handle; *cached 0 when the table is full (the caller destroys it after use). */
static rd_kafka_topic_t *producer_topic(pb_kafka_producer_t *p, const char *topic, int *cached) {
    *cached = 1;
    size_t h = name_hash(topic);
    if (p->cap_topics)
        for (size_t i = h & (p->cap_topics - 1); p->topics[i].name;
             i = (i + 1) & (p->cap_topics - 1))
            if (strcmp(p->topics[i].name, topic) == 0) return p->topics[i].rkt;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    if (rkt && (p->n_topics + 1) * 2 > p->cap_topics && p->n_topics < PRODUCER_TOPICS_MAX) {
        size_t cap = p->cap_topics ? p->cap_topics * 2 : 64;
        ptopic_t *t = calloc(cap, sizeof *t);
        if (t) {
            for (size_t i = 0; i < p->cap_topics; i++) {
                if (!p->topics[i].name) continue;
                size_t j = name_hash(p->topics[i].name) & (cap - 1);
                while (t[j].name)
                    j = (j + 1) & (cap - 1);
                t[j] = p->topics[i];
            }
            free(p->topics);
            p->topics = t;
            p->cap_topics = cap;
        }
    }
    char *name = rkt && (p->n_topics + 1) * 2 <= p->cap_topics ? strdup(topic) : NULL;
    if (!name) {
        *cached = 0;
        return rkt;
    }
    size_t i = h & (p->cap_topics - 1);
    while (p->topics[i].name)
        i = (i + 1) & (p->cap_topics - 1);
    p->topics[i].name = name;
    p->topics[i].rkt = rkt;
    p->n_topics++;
    return rkt;
}

int pb_kafka_producer_send(pb_kafka_producer_t *p, const char *topic, int32_t partition,
                           const void *key, size_t klen, const void *val, size_t vlen,
                           const pb_kafka_header_t *headers, size_t n_headers, int64_t tag,
                           pb_err_t *err) {
    rd_kafka_headers_t *hdrs = NULL;
    int cached = 0;
    rd_kafka_topic_t *rkt = producer_topic(p, topic, &cached);
    if (!rkt)
        return pb_err_set(err, PB_ERR_INVALID, "produce to %s: %s", topic,
                          rd_kafka_err2str(rd_kafka_last_error()));
    if (n_headers) hdrs = header_list(headers, n_headers);
    int64_t hbytes = header_bytes(hdrs);
    int64_t bytes = (int64_t)(val ? vlen : 0) + (int64_t)(key ? klen : 0) + hbytes;
    queued_add(&p->queued_bytes, vlen);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, klen),
        RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE((void *)(intptr_t)tag), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (!cached) rd_kafka_topic_destroy(rkt);
    if (e) {
        queued_sub(&p->queued_bytes, vlen);
        if (hdrs) rd_kafka_headers_destroy(hdrs);
        int code = e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PB_ERR_UNAVAILABLE : kafka_map_err(e);
        return pb_err_set(err, code, "produce to %s[%d]: %s", topic, (int)partition,
                          rd_kafka_err2str(e));
    }
    p->inflight++;
    p->inflight_bytes += bytes;
    if (hdrs) (void)hb_put(p, hdrs, hbytes);
    return 0;
}

int pb_kafka_producer_forward(pb_kafka_producer_t *p, const char *topic, const pb_kafka_msg_t *m,
                              const void *val, size_t vlen, const char *const *drop, size_t n_drop,
                              const pb_kafka_header_t *add, size_t n_add, int64_t tag,
                              pb_err_t *err) {
    int cached = 0;
    rd_kafka_topic_t *rkt = producer_topic(p, topic, &cached);
    rd_kafka_message_t *src = m->impl;
    if (!rkt)
        return pb_err_set(err, PB_ERR_INVALID, "produce to %s: %s", topic,
                          rd_kafka_err2str(rd_kafka_last_error()));
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_detach_headers(src, &hdrs) || !hdrs)
        hdrs = rd_kafka_headers_new(n_add ? n_add : 1);
    for (size_t i = 0; i < n_drop; i++) {
        size_t dl = strlen(drop[i]);
        if (!dl || drop[i][dl - 1] != '.') {
            rd_kafka_header_remove(hdrs, drop[i]);
            continue;
        }
        /* A prefix ("mesh."): rebuild the list without the names it starts (rare). */
        rd_kafka_headers_t *keep = rd_kafka_headers_new(8);
        const char *name;
        const void *v;
        size_t len;
        for (size_t j = 0; !rd_kafka_header_get_all(hdrs, j, &name, &v, &len); j++)
            if (strncmp(name, drop[i], dl))
                rd_kafka_header_add(keep, name, -1, v, v ? (ssize_t)len : 0);
        rd_kafka_headers_destroy(hdrs);
        hdrs = keep;
    }
    for (size_t i = 0; i < n_add; i++)
        rd_kafka_header_add(hdrs, add[i].name, -1, add[i].value, (ssize_t)add[i].len);
    int64_t hbytes = header_bytes(hdrs);
    int64_t bytes = (int64_t)(val ? vlen : 0) + (int64_t)(src->key ? src->key_len : 0) + hbytes;
    /* Once: a full queue is the caller's to handle (the loop thread must not wait for room). */
    queued_add(&p->queued_bytes, vlen);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(src->partition),
        RD_KAFKA_V_KEY(src->key, src->key_len), RD_KAFKA_V_VALUE((void *)val, vlen),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *)(intptr_t)tag),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (!cached) rd_kafka_topic_destroy(rkt);
    if (e) {
        queued_sub(&p->queued_bytes, vlen);
        /* Give m its headers back (the producer's, without the ones added here) so the caller
         * can still read them, e.g. for a dead letter. */
        for (size_t i = 0; i < n_add; i++)
            rd_kafka_header_remove(hdrs, add[i].name);
        rd_kafka_message_set_headers(src, hdrs);
        int code = e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PB_ERR_UNAVAILABLE : kafka_map_err(e);
        return pb_err_set(err, code, "produce to %s[%d]: %s", topic, (int)src->partition,
                          rd_kafka_err2str(e));
    }
    p->inflight++;
    p->inflight_bytes += bytes;
    if (hdrs) (void)hb_put(p, hdrs, hbytes);
    return 0;
}

int pb_kafka_producer_inflight(const pb_kafka_producer_t *p) { return p->inflight; }

int64_t pb_kafka_producer_inflight_bytes(const pb_kafka_producer_t *p) { return p->inflight_bytes; }

int pb_kafka_producer_wait(pb_kafka_producer_t *p, int timeout_ms) {
    int64_t deadline = kafka_now_ms() + timeout_ms;
    while (p->inflight > 0) {
        int left = (int)(deadline - kafka_now_ms());
        if (left <= 0) break;
        rd_kafka_flush(p->rk, left < 100 ? left : 100);
    }
    return p->inflight;
}

int pb_kafka_producer_destroy(pb_kafka_producer_t *p, int timeout_ms) {
    int left = 0;
    if (!p) return 0;
    if (p->k && p->k->relay == p) p->k->relay = NULL;
    if (p->rk) {
        left = pb_kafka_producer_wait(p, timeout_ms);
        /* Group commits still unanswered get a short, bounded wait: they carry progress. */
        for (int i = 0; p->commits > 0 && i < 20; i++) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(p->admq, 100);
            if (!ev) continue;
            if (rd_kafka_event_AlterConsumerGroupOffsets_result(ev)) p->commits--;
            rd_kafka_event_destroy(ev);
        }
        for (size_t i = 0; i < p->cap_topics; i++) {
            if (!p->topics[i].name) continue;
            rd_kafka_topic_destroy(p->topics[i].rkt);
            free(p->topics[i].name);
        }
        free(p->topics);
        if (p->admq) rd_kafka_queue_destroy(p->admq);
        rd_kafka_destroy(p->rk);
    }
    kafka_wake_close(&p->wake);
    free(p->hb);
    free(p);
    return left;
}

/* ---- the produce queues, for /metrics ---- */

/* An integer setting as client rk got it (after kafka.* overrides); -1 when unreadable. */
static int64_t conf_int(rd_kafka_t *rk, const char *key) {
    char v[64];
    size_t n = sizeof v;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), key, v, &n) != RD_KAFKA_CONF_OK) return -1;
    return strtoll(v, NULL, 10);
}

int pb_kafka_produce_queue(pb_kafka_t *k, pb_kstats_role_t role, pb_kstats_queue_t *out) {
    memset(out, 0, sizeof *out);
    rd_kafka_t *rk = NULL;
    const atomic_llong *bytes = NULL;
    if (k && role == PB_KSTATS_PUBLISH) {
        rk = k->rk;
        bytes = &k->queued_bytes;
    } else if (k && role == PB_KSTATS_RELAY && k->relay) {
        rk = k->relay->rk;
        bytes = &k->relay->queued_bytes;
    }
    if (!rk) return 0;
    out->present = 1;
    out->msgs = rd_kafka_outq_len(rk);
    out->bytes = atomic_load_explicit(bytes, memory_order_relaxed);
    out->max_msgs = conf_int(rk, "queue.buffering.max.messages");
    int64_t kb = conf_int(rk, "queue.buffering.max.kbytes");
    out->max_bytes = kb < 0 ? -1 : kb * 1024;
    return 1;
}

/* ---- publish: one topic handle for a request's messages ---- */

pb_kafka_topic_t *pb_kafka_topic_open(pb_kafka_t *k, const char *topic) {
    return (pb_kafka_topic_t *)rd_kafka_topic_new(k->rk, topic, NULL);
}

void pb_kafka_topic_close(pb_kafka_topic_t *t) {
    if (t) rd_kafka_topic_destroy((rd_kafka_topic_t *)t);
}

int pb_kafka_produce_topic_dr(pb_kafka_t *k, pb_kafka_topic_t *t, const void *key, size_t klen,
                              const void *val, size_t vlen, const pb_kafka_header_t *headers,
                              size_t n_headers, pb_kafka_dr_t *c, pb_err_t *err) {
    return produce_rkt(k, (rd_kafka_topic_t *)t, RD_KAFKA_PARTITION_UA, key, klen, val, vlen,
                       headers, n_headers, c, err);
}
