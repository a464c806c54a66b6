#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* ---- logging -------------------------------------------------------------------------------- */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    pb_log_level_t l = level <= LOG_ERR       ? PB_LOG_ERROR
                       : level <= LOG_WARNING ? PB_LOG_WARN
                       : level <= LOG_INFO    ? PB_LOG_INFO
                                              : PB_LOG_DEBUG;
    if (l > pb_log_level()) return;
    /* librdkafka repeats connection failures every retry: keep the log readable. */
    if (l <= PB_LOG_WARN)
        pb_log_write_limited(l, "kafka", fac, 10, "%s: %s", fac, buf);
    else
        pb_log_write(l, "kafka", "%s: %s", fac, buf);
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, pb_err_t *err) {
    char es[512];
    if (rd_kafka_conf_set(conf, k, v, es, sizeof es) != RD_KAFKA_CONF_OK)
        return pb_err_set(err, PB_ERR_INVALID, "kafka.%s = %s: %s", k, v, es);
    return 0;
}

/* ---- embedded cluster ----------------------------------------------------------------------- */

struct pb_kafka_cluster {
    rd_kafka_t *rk; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    char *bootstraps;
    rd_kafka_t *control; /* consumer of the control topic */
    int n_brokers;
    pthread_t thread;
    int thread_started;
    atomic_int stop;
};

static void control_apply(pb_kafka_cluster_t *c, const char *cmd, size_t len) {
    char buf[512], topic[300];
    int parts;
    if (len >= sizeof buf) len = sizeof buf - 1;
    memcpy(buf, cmd, len);
    buf[len] = '\0';
    if (sscanf(buf, "create %299s %d", topic, &parts) == 2 && parts >= 1 && parts <= 10000) {
        pb_err_t err;
        if (pb_kafka_cluster_create_topic(c, topic, parts, &err))
            pb_log(WARN, "embedded", "control: %s", err.msg);
        return;
    }
    pb_log(WARN, "embedded", "control topic: ignoring unknown command '%.80s'", buf);
}

static void *control_main(void *arg) {
    pb_kafka_cluster_t *c = arg;
    while (!atomic_load(&c->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->control, 100);
        if (!m) continue;
        if (!m->err && m->payload) control_apply(c, m->payload, m->len);
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

pb_kafka_cluster_t *pb_kafka_cluster_new(int brokers, pb_err_t *err) {
    char es[512];
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *tp = NULL;
    pb_kafka_cluster_t *c = calloc(1, sizeof *c);
    if (!c) goto nomem;
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    /* This handle only hosts the mock; it never connects anywhere (so no bootstrap warning). */
    if (conf_set(conf, "log_level", "3", err)) goto fail;
    c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!c->rk) {
        pb_err_set(err, PB_ERR_INTERNAL, "embedded kafka: %s", es);
        goto fail;
    }
    conf = NULL;
    c->mc = rd_kafka_mock_cluster_new(c->rk, brokers);
    c->n_brokers = brokers;
    if (!c->mc) {
        pb_err_set(err, PB_ERR_INTERNAL, "embedded kafka: could not start %d mock brokers",
                   brokers);
        goto fail;
    }
    c->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(c->mc));
    if (!c->bootstraps) goto nomem;
    if (pb_kafka_cluster_create_topic(c, PB_KAFKA_CONTROL_TOPIC, 1, err)) goto fail;

    /* Follow the control topic from its start, without a group (nothing to commit). */
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (conf_set(conf, "bootstrap.servers", c->bootstraps, err) ||
        conf_set(conf, "group.id", "portbroker.embedded.control", err) ||
        conf_set(conf, "enable.auto.commit", "false", err) ||
        conf_set(conf, "fetch.wait.max.ms", "200", err))
        goto fail;
    c->control = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof es);
    if (!c->control) {
        pb_err_set(err, PB_ERR_INTERNAL, "embedded kafka control consumer: %s", es);
        goto fail;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(c->control);
    tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, PB_KAFKA_CONTROL_TOPIC, 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(c->control, tp)) {
        pb_err_set(err, PB_ERR_INTERNAL, "embedded kafka: cannot follow the control topic");
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(tp);
    tp = NULL;
    if (pthread_create(&c->thread, NULL, control_main, c) != 0) {
        pb_err_set(err, PB_ERR_INTERNAL, "embedded kafka: cannot start control thread");
        goto fail;
    }
    c->thread_started = 1;
    return c;
nomem:
    pb_err_set(err, PB_ERR_NOMEM, "out of memory");
fail:
    if (tp) rd_kafka_topic_partition_list_destroy(tp);
    if (conf) rd_kafka_conf_destroy(conf);
    pb_kafka_cluster_destroy(c);
    return NULL;
}

const char *pb_kafka_cluster_bootstraps(const pb_kafka_cluster_t *c) { return c->bootstraps; }

int pb_kafka_cluster_create_topic(pb_kafka_cluster_t *c, const char *topic, int partitions,
                                  pb_err_t *err) {
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(c->mc, topic, partitions, 1);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return pb_err_set(err, PB_ERR_UNAVAILABLE, "embedded kafka: create topic %s: %s", topic,
                          rd_kafka_err2str(e));
    return 0;
}

void pb_kafka_cluster_destroy(pb_kafka_cluster_t *c) {
    if (!c) return;
    atomic_store(&c->stop, 1);
    if (c->thread_started) pthread_join(c->thread, NULL);
    if (c->control) {
        rd_kafka_consumer_close(c->control);
        rd_kafka_destroy(c->control);
    }
    if (c->mc) rd_kafka_mock_cluster_destroy(c->mc);
    if (c->rk) rd_kafka_destroy(c->rk);
    free(c->bootstraps);
    free(c);
}

/* ---- the broker's client -------------------------------------------------------------------- */

struct pb_kafka {
    rd_kafka_t *rk;
    pb_kafka_cluster_t *cluster; /* in-process embedded cluster, borrowed */
    char *bootstrap;
    int embedded;
    int wake[2];
    pthread_t watch;
    int watch_started;
    atomic_int stop;
    atomic_int reachable;
};

/* A message's delivery context: the caller's callback (malloc'd by pb_kafka_produce, or the
 * caller's storage with pb_kafka_produce_dr: then borrowed = 1 and it is not freed here). */
typedef pb_kafka_dr_t dr_ctx_t;

static int map_err(rd_kafka_resp_err_t e) {
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

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    dr_ctx_t *c = m->_private;
    if (!c) return;
    /* A borrowed context may be freed by its own callback: decide before calling it. */
    int owned = !c->borrowed;
    if (c->cb)
        c->cb(c->opaque, map_err(m->err), m->err ? rd_kafka_err2str(m->err) : NULL, m->partition,
              m->offset);
    if (owned) free(c);
}

static void error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque) {
    (void)rk;
    (void)opaque;
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        pb_log_rl(ERROR, "kafka", "all brokers are down: %s", reason);
    else
        pb_log_rl(WARN, "kafka", "%s: %s", rd_kafka_err2name(e), reason);
}

/* Reachability: a cheap metadata request every second from a thread of our own, so /readyz never
 * blocks the loop. */
static void *watch_main(void *arg) {
    pb_kafka_t *k = arg;
    while (!atomic_load(&k->stop)) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, NULL, &md, 2000);
        int ok = e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0;
        if (md) rd_kafka_metadata_destroy(md);
        if (ok != atomic_exchange(&k->reachable, ok))
            pb_log_write(ok ? PB_LOG_INFO : PB_LOG_WARN, "kafka", "cluster %s is %s", k->bootstrap,
                         ok ? "reachable" : "unreachable (metadata request failed)");
        for (int i = 0; i < 10 && !atomic_load(&k->stop); i++)
            usleep(100 * 1000);
    }
    return NULL;
}

pb_kafka_t *pb_kafka_new(const pb_config_t *cfg, const char *bootstrap, pb_kafka_cluster_t *cluster,
                         pb_err_t *err) {
    char es[512];
    rd_kafka_conf_t *conf = NULL;
    pb_kafka_t *k = calloc(1, sizeof *k);
    if (!k) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    k->wake[0] = k->wake[1] = -1;
    k->cluster = cluster;
    k->bootstrap = strdup(bootstrap);
    if (!k->bootstrap || pipe2(k->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        pb_err_set(err, PB_ERR_INTERNAL, "kafka client: %s", strerror(errno));
        goto fail;
    }
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    if (conf_set(conf, "bootstrap.servers", bootstrap, err) ||
        conf_set(conf, "enable.idempotence", "true", err) || conf_set(conf, "acks", "all", err) ||
        conf_set(conf, "linger.ms", "2", err) || conf_set(conf, "client.id", "portbroker", err))
        goto fail;
    /* Publishing (publish.c): keys land on the partition the Java client would choose (murmur2;
     * keyless records spread randomly); a record Kafka has not acknowledged within
     * publish.timeout.ms fails (-> 503), which idempotence allows; records up to
     * publish.max.record.bytes fit, with room for the broker's headers. */
    char tmo[32], mmb[32];
    snprintf(tmo, sizeof tmo, "%lld", (long long)cfg->publish_timeout_ms);
    snprintf(mmb, sizeof mmb, "%lld", (long long)cfg->publish_max_record_bytes + 32768);
    if (conf_set(conf, "partitioner", "murmur2_random", err) ||
        conf_set(conf, "message.timeout.ms", tmo, err) ||
        conf_set(conf, "message.max.bytes", mmb, err))
        goto fail;
    for (size_t i = 0; i < cfg->n_kafka; i++)
        if (conf_set(conf, cfg->kafka[i].key, cfg->kafka[i].value, err)) goto fail;
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!k->rk) {
        pb_err_set(err, PB_ERR_INVALID, "kafka client: %s", es);
        goto fail;
    }
    conf = NULL;
    /* Wake the loop when the main queue gets events (delivery reports, errors). */
    rd_kafka_queue_t *mq = rd_kafka_queue_get_main(k->rk);
    rd_kafka_queue_io_event_enable(mq, k->wake[1], "k", 1);
    rd_kafka_queue_destroy(mq);
    /* An embedded cluster in another process shows its control topic in the metadata. */
    k->embedded =
        cluster != NULL || pb_kafka_partition_count(k, PB_KAFKA_CONTROL_TOPIC, 5000, NULL) >= 0;
    atomic_store(&k->reachable, 0);
    if (pthread_create(&k->watch, NULL, watch_main, k) != 0) {
        pb_err_set(err, PB_ERR_INTERNAL, "kafka client: cannot start watch thread");
        goto fail;
    }
    k->watch_started = 1;
    return k;
fail:
    if (conf) rd_kafka_conf_destroy(conf);
    pb_kafka_destroy(k, 0);
    return NULL;
}

int pb_kafka_destroy(pb_kafka_t *k, int timeout_ms) {
    int left = 0;
    if (!k) return 0;
    atomic_store(&k->stop, 1);
    if (k->watch_started) pthread_join(k->watch, NULL);
    if (k->rk) {
        rd_kafka_flush(k->rk, timeout_ms);
        left = rd_kafka_outq_len(k->rk);
        rd_kafka_destroy(k->rk);
    }
    if (k->wake[0] >= 0) close(k->wake[0]);
    if (k->wake[1] >= 0) close(k->wake[1]);
    free(k->bootstrap);
    free(k);
    return left;
}

int pb_kafka_wake_fd(const pb_kafka_t *k) { return k->wake[0]; }

void pb_kafka_serve(pb_kafka_t *k) {
    char drain[64];
    while (read(k->wake[0], drain, sizeof drain) > 0) {
    }
    while (rd_kafka_poll(k->rk, 0) > 0) {
    }
}

int pb_kafka_is_embedded(const pb_kafka_t *k) { return k->embedded; }
const char *pb_kafka_bootstrap(const pb_kafka_t *k) { return k->bootstrap; }
int pb_kafka_reachable(const pb_kafka_t *k) { return atomic_load(&k->reachable); }
int pb_kafka_outq_len(const pb_kafka_t *k) { return rd_kafka_outq_len(k->rk); }
const char *pb_kafka_version(void) { return rd_kafka_version_str(); }

int pb_kafka_partition_count(pb_kafka_t *k, const char *topic, int timeout_ms, pb_err_t *err) {
    const struct rd_kafka_metadata *md = NULL;
    /* All topics: asking for one topic would make the embedded cluster auto-create it. */
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, timeout_ms);
    if (e)
        return pb_err_set(err, PB_ERR_UNAVAILABLE, "kafka %s: metadata: %s", k->bootstrap,
                          rd_kafka_err2str(e)),
               -2;
    int n = -1;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ask the embedded cluster (in another process) through its control topic. */
static int request_via_control(pb_kafka_t *k, const char *topic, int partitions, pb_err_t *err) {
    char cmd[400];
    int n = snprintf(cmd, sizeof cmd, "create %s %d", topic, partitions);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        k->rk, RD_KAFKA_V_TOPIC(PB_KAFKA_CONTROL_TOPIC), RD_KAFKA_V_VALUE(cmd, (size_t)n),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e)
        return pb_err_set(err, PB_ERR_UNAVAILABLE, "embedded kafka control: %s",
                          rd_kafka_err2str(e));
    rd_kafka_flush(k->rk, 5000);
    return 0;
}

static int create_via_admin(pb_kafka_t *k, const char *topic, int partitions, int replication,
                            int compact, int timeout_ms, pb_err_t *err) {
    char es[512];
    int rc = 0;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, replication, es, sizeof es);
    if (!nt) return pb_err_set(err, PB_ERR_INVALID, "topic %s: %s", topic, es);
    if (compact) rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(k->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, es, sizeof es);
    rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, es, sizeof es);
    rd_kafka_CreateTopics(k->rk, &nt, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        rc = pb_err_set(err, PB_ERR_TIMEOUT, "create topic %s: no answer in %d ms", topic,
                        timeout_ms);
    } else if (rd_kafka_event_error(ev)) {
        rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "create topic %s: %s", topic,
                        rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "create topic %s: %s", topic,
                                rd_kafka_topic_result_error_string(tr[i]));
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static int ensure_topic(pb_kafka_t *k, const char *topic, int partitions, int compact,
                        int timeout_ms, int *actual, pb_err_t *err) {
    int64_t deadline = now_ms() + timeout_ms;
    int n = pb_kafka_partition_count(k, topic, timeout_ms, err);
    if (n == -2) return err ? err->code : PB_ERR_UNAVAILABLE;
    if (n < 0) {
        int rc;
        if (k->cluster)
            rc = pb_kafka_cluster_create_topic(k->cluster, topic, partitions, err);
        else if (k->embedded)
            rc = request_via_control(k, topic, partitions, err);
        else
            rc = create_via_admin(k, topic, partitions, -1, compact, timeout_ms, err);
        if (rc) return rc;
        /* Wait until metadata shows it (the embedded cluster applies commands asynchronously). */
        for (;;) {
            n = pb_kafka_partition_count(k, topic, 2000, err);
            if (n >= 0) break;
            if (now_ms() > deadline)
                return pb_err_set(err, PB_ERR_TIMEOUT, "topic %s was not created within %d ms",
                                  topic, timeout_ms);
            usleep(20 * 1000);
        }
    }
    if (actual) *actual = n;
    if (n != partitions)
        pb_log(WARN, "kafka",
               "topic %s exists with %d partitions, the descriptor asks for %d; keeping %d "
               "(changing the count would move keys between partitions)",
               topic, n, partitions, n);
    return 0;
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

int pb_kafka_produce_dr(pb_kafka_t *k, const char *topic, int32_t partition, const void *key,
                        size_t klen, const void *val, size_t vlen, const pb_kafka_header_t *headers,
                        size_t n_headers, pb_kafka_dr_t *c, pb_err_t *err) {
    rd_kafka_headers_t *hdrs = NULL;
    if (n_headers) {
        hdrs = rd_kafka_headers_new(n_headers);
        for (size_t i = 0; i < n_headers; i++)
            rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value,
                                (ssize_t)headers[i].len);
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        k->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, klen),
        RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(c), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (e) {
        /* On failure the headers stay ours. */
        if (hdrs) rd_kafka_headers_destroy(hdrs);
        int code = e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PB_ERR_UNAVAILABLE : map_err(e);
        return pb_err_set(err, code, "produce to %s: %s", topic, rd_kafka_err2str(e));
    }
    return 0;
}

/* ---- log follower --------------------------------------------------------------------------- */

struct pb_kafka_log {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    int wake[2];
    char *topic;
    int64_t end; /* end offset seen at start: caught up once position >= end */
    int64_t pos; /* next offset to apply */
    pb_kafka_log_cb_t cb;
    void *arg;
};

pb_kafka_log_t *pb_kafka_log_new(pb_kafka_t *k, const char *topic, int timeout_ms,
                                 pb_kafka_log_cb_t cb, void *arg, pb_err_t *err) {
    char es[512];
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *tp = NULL;
    pb_kafka_log_t *l = calloc(1, sizeof *l);
    if (!l) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l->wake[0] = l->wake[1] = -1;
    l->cb = cb;
    l->arg = arg;
    l->topic = strdup(topic);
    if (!l->topic || pipe2(l->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        pb_err_set(err, PB_ERR_INTERNAL, "log follower: %s", strerror(errno));
        goto fail;
    }
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    /* No group: the follower always replays from the start and commits nothing. The embedded
     * cluster answers an empty fetch only after fetch.wait.max.ms, so keep it short there (it is
     * the read-back latency of a registry write) but not so short that idling costs CPU. */
    if (conf_set(conf, "bootstrap.servers", k->bootstrap, err) ||
        conf_set(conf, "group.id", "portbroker.registry.follower", err) ||
        conf_set(conf, "enable.auto.commit", "false", err) ||
        conf_set(conf, "enable.partition.eof", "false", err) ||
        conf_set(conf, "fetch.wait.max.ms", k->embedded ? "100" : "500", err) ||
        conf_set(conf, "client.id", "portbroker-registry", err))
        goto fail;
    l->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof es);
    if (!l->rk) {
        pb_err_set(err, PB_ERR_INVALID, "log follower: %s", es);
        goto fail;
    }
    conf = NULL;
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(l->rk, topic, 0, &lo, &hi, timeout_ms);
    if (e) {
        pb_err_set(err, PB_ERR_UNAVAILABLE, "registry log %s: cannot read its end offset: %s",
                   topic, rd_kafka_err2str(e));
        goto fail;
    }
    l->end = hi;
    l->pos = lo;
    rd_kafka_poll_set_consumer(l->rk);
    l->q = rd_kafka_queue_get_consumer(l->rk);
    rd_kafka_queue_io_event_enable(l->q, l->wake[1], "l", 1);
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

int pb_kafka_log_wake_fd(const pb_kafka_log_t *l) { return l->wake[0]; }

void pb_kafka_log_serve(pb_kafka_log_t *l) {
    char drain[64];
    while (read(l->wake[0], drain, sizeof drain) > 0) {
    }
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
    if (l->wake[0] >= 0) close(l->wake[0]);
    if (l->wake[1] >= 0) close(l->wake[1]);
    free(l->topic);
    free(l);
}

int pb_kafka_ensure_topic(pb_kafka_t *k, const char *topic, int partitions, int timeout_ms,
                          int *actual, pb_err_t *err) {
    return ensure_topic(k, topic, partitions, 0, timeout_ms, actual, err);
}

int pb_kafka_ensure_log_topic(pb_kafka_t *k, const char *topic, int partitions, int timeout_ms,
                              pb_err_t *err) {
    return ensure_topic(k, topic, partitions, 1, timeout_ms, NULL, err);
}

/* ---- fault injection (publish tests) ---- */

int pb_kafka_cluster_set_up(pb_kafka_cluster_t *c, int up, pb_err_t *err) {
    /* Broker ids of the mock cluster are 1..N. */
    for (int id = 1; id <= c->n_brokers; id++) {
        rd_kafka_resp_err_t e =
            up ? rd_kafka_mock_broker_set_up(c->mc, id) : rd_kafka_mock_broker_set_down(c->mc, id);
        if (e)
            return pb_err_set(err, PB_ERR_INTERNAL, "embedded kafka: broker %d %s: %s", id,
                              up ? "up" : "down", rd_kafka_err2str(e));
    }
    return 0;
}
