/*
 * kafka — the broker's shared Kafka client (pb_kafka_t: see kafka.h for every contract): creating
 * and closing it, serving its main queue from the loop, the reachability probe, the error mapping
 * the other kafka_*.c files share, and the wake-up pipes librdkafka writes when a queue fills.
 * The other roles live apart: kafka_conf.c (the one configuration builder), kafka_producer.c
 * (publishing and the routers' relay producers), kafka_consumer.c (group consumers, the registry
 * follower, subscriber streams), kafka_admin.c (topics, offset jobs, the lag probe),
 * kafka_embedded.c (the mock cluster). Internals they share: kafka_int.h.
 * Must not: touch broker state from librdkafka's threads (they only write to wake pipes).
 */
#include "kafka.h"

#include "kafka_int.h"

int kafka_map_err(rd_kafka_resp_err_t e) {
    switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR: return 0;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT: return PB_ERR_TIMEOUT;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE: return PB_ERR_TOO_LARGE;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION: return PB_ERR_INVALID;
    default: return PB_ERR_UNAVAILABLE;
    }
}

/* Errors about the record itself (its size, its form) rather than the cluster's state. */
int kafka_permanent_err(rd_kafka_resp_err_t e) {
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION: return 1;
    default: return 0;
    }
}

/* Wake fd for queue q: librdkafka writes payload to fd when q goes from empty to non-empty (and
 * not again until q is served). Events already queued when this is called (a client's first
 * errors, e.g. "connection refused" while Kafka is down) would never be announced, and neither
 * would anything queued behind them: so the loop is woken once now, to serve whatever is there.
 * (A missed wake-up here left publishes waiting for their delivery reports after a start with
 * Kafka down; 0028.) */
void kafka_wake_on_events(rd_kafka_queue_t *q, int fd, const char *payload) {
    rd_kafka_queue_io_event_enable(q, fd, payload, 1);
    if (write(fd, payload, 1) < 0) {
        /* a full pipe already holds a wake-up */
    }
}

int pb_kafka_probe_topic(pb_kafka_t *k, const char *topic) {
    rd_kafka_topic_t *none = NULL, *rkt;
    if (atomic_load(&k->probe_rkt)) return 0;
    if (!(rkt = rd_kafka_topic_new(k->rk, topic, NULL))) return PB_ERR_NOMEM;
    if (!atomic_compare_exchange_strong(&k->probe_rkt, &none, rkt)) rd_kafka_topic_destroy(rkt);
    return 0;
}

int pb_kafka_probe(pb_kafka_t *k, int timeout_ms) {
    const struct rd_kafka_metadata *md = NULL;
    /* Without a topic, librdkafka asks about every topic the publishing producer knows (one per
     * port published to) and matches each answer to its topics by a linear search: at 1,000 ports
     * that was 0.7 % of a core, every second, for a yes/no. One topic's metadata carries the
     * broker list just the same. */
    rd_kafka_resp_err_t e =
        rd_kafka_metadata(k->rk, 0, atomic_load(&k->probe_rkt), &md, timeout_ms);
    int ok = e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0;
    if (md) rd_kafka_metadata_destroy(md);
    if (ok != atomic_exchange(&k->reachable, ok))
        pb_log_write(ok ? PB_LOG_INFO : PB_LOG_WARN, "kafka", "cluster %s is %s", k->bootstrap,
                     ok ? "reachable"
                        : "unreachable (no metadata answer): publishes answer 503 at once until "
                          "it answers again");
    return ok;
}

static int publish_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk;
    return kafka_offer_stats(opaque, PB_KSTATS_PUBLISH, json, len);
}

pb_kafka_t *pb_kafka_new(const pb_config_t *cfg, const char *bootstrap, pb_kafka_cluster_t *cluster,
                         pb_err_t *err) {
    rd_kafka_conf_t *conf = NULL;
    pb_kafka_t *k = calloc(1, sizeof *k);
    if (!k) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    k->cluster = cluster;
    k->cfg = cfg;
    k->bootstrap = strdup(bootstrap);
    if (!(k->kstats = pb_kstats_new())) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!k->bootstrap || !(k->offsets = kafka_offsets_new())) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (kafka_wake_init(&k->wake, 0, err)) goto fail;
    if (!(k->base = kafka_base_conf(cfg, bootstrap, err))) goto fail;
    /* Publishing (publish.c): keys land on the partition the Java client would choose (murmur2;
     * keyless records spread randomly); a record Kafka has not acknowledged within
     * publish.timeout.ms fails (-> 503), which idempotence allows; records up to
     * publish.max.record.bytes fit, with room for the broker's headers. */
    char linger[32], tmo[32], mmb[32];
    snprintf(linger, sizeof linger, "%lld", (long long)cfg->publish_linger_ms);
    snprintf(tmo, sizeof tmo, "%lld", (long long)cfg->publish_timeout_ms);
    snprintf(mmb, sizeof mmb, "%lld", (long long)cfg->publish_max_record_bytes + 32768);
    const kv_t defaults[] = {{"client.id", "portbroker"},
                             {"linger.ms", linger},
                             {"message.max.bytes", mmb},
                             {NULL, NULL}};
    const kv_t fixed[] = {{"enable.idempotence", "true"},
                          {"acks", "all"},
                          {"partitioner", "murmur2_random"},
                          {"message.timeout.ms", tmo},
                          {NULL, NULL}};
    if (!(conf = kafka_role_conf(k, 1, defaults, fixed, err))) goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr_msg_cb);
    rd_kafka_conf_set_opaque(conf, k);
    if (kafka_stats_conf(k, conf, publish_stats_cb, err)) goto fail;
    k->rk = kafka_client_new(RD_KAFKA_PRODUCER, conf, "publish producer", err);
    conf = NULL;
    if (!k->rk) goto fail;
    /* Wake the loop when the main queue gets events (delivery reports, errors). */
    rd_kafka_queue_t *mq = rd_kafka_queue_get_main(k->rk);
    kafka_wake_on_events(mq, k->wake.wr, "k");
    rd_kafka_queue_destroy(mq);
    /* An embedded cluster in another process shows its control topic in the metadata. */
    int ctl = cluster ? 1 : pb_kafka_partition_count(k, PB_KAFKA_CONTROL_TOPIC, 5000, NULL);
    k->embedded = ctl >= 0;
    k->embedded_known = ctl != -2; /* -2: no answer; ensure_topic asks again */
    atomic_store(&k->reachable, ctl != -2);
    return k;
fail:
    if (conf) rd_kafka_conf_destroy(conf);
    pb_kafka_destroy(k, 0);
    return NULL;
}

int pb_kafka_destroy(pb_kafka_t *k, int timeout_ms) {
    int left = 0;
    if (!k) return 0;
    kafka_offsets_destroy(k->offsets); /* their jobs are over (pb_jobs_destroy came first) */
    if (k->rk) {
        rd_kafka_flush(k->rk, timeout_ms);
        left = rd_kafka_outq_len(k->rk);
        if (left) {
            /* Fail what is left through the delivery reports (each frees its context and tells
             * its owner), instead of dropping the reports with the handle. Bounded: the purge
             * answers without the cluster. */
            rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_flush(k->rk, 1000);
        }
        rd_kafka_topic_t *rkt = atomic_exchange(&k->probe_rkt, NULL);
        if (rkt) rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(k->rk);
    }
    if (k->base) rd_kafka_conf_destroy(k->base);
    pb_kstats_destroy(k->kstats);
    kafka_wake_close(&k->wake);
    free(k->bootstrap);
    free(k);
    return left;
}

int pb_kafka_wake_fd(const pb_kafka_t *k) { return k->wake.rd; }

pb_kstats_t *pb_kafka_kstats(pb_kafka_t *k) { return k->kstats; }

/* Drain the wake pipe (1 when it held a wake-up), then serve the main queue. */
static size_t serve(pb_kafka_t *k, int *woken) {
    size_t n = 0;
    int r;
    *woken = kafka_wake_drain(&k->wake);
    while ((r = rd_kafka_poll(k->rk, 0)) > 0)
        n += (size_t)r;
    return n;
}

size_t pb_kafka_serve(pb_kafka_t *k) {
    int woken;
    return serve(k, &woken);
}

size_t pb_kafka_serve_missed(pb_kafka_t *k) {
    int woken;
    size_t n = serve(k, &woken);
    return woken ? 0 : n;
}

int pb_kafka_is_embedded(const pb_kafka_t *k) { return k->embedded; }
const char *pb_kafka_bootstrap(const pb_kafka_t *k) { return k->bootstrap; }
int pb_kafka_reachable(const pb_kafka_t *k) { return atomic_load(&k->reachable); }

const char *pb_kafka_failure(pb_kafka_t *k) {
    return kafka_failure_cached(k->rk, k->failure, sizeof k->failure);
}
int pb_kafka_outq_len(const pb_kafka_t *k) { return rd_kafka_outq_len(k->rk); }
const char *pb_kafka_version(void) { return rd_kafka_version_str(); }

int64_t kafka_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int kafka_wake_init(wake_t *w, int given, pb_err_t *err) {
    w->rd = w->wr = -1;
    w->own = given <= 0;
    if (!w->own) {
        w->wr = given;
        return 0;
    }
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return pb_err_set(err, PB_ERR_INTERNAL, "wake pipe: %s", strerror(errno));
    w->rd = fds[0];
    w->wr = fds[1];
    return 0;
}

int kafka_wake_drain(wake_t *w) {
    char drain[64];
    int woken = 0;
    if (w->own)
        while (read(w->rd, drain, sizeof drain) > 0)
            woken = 1;
    return woken;
}

void kafka_wake_close(wake_t *w) {
    if (!w->own) return;
    if (w->rd >= 0) close(w->rd);
    if (w->wr >= 0) close(w->wr);
    w->rd = w->wr = -1;
}
