/*
 * kafka — librdkafka glue (see kafka.h for the contracts): the embedded cluster, the configuration
 * builder every client goes through (base_conf once, role_conf per client: defaults, then the fixed
 * keys correctness depends on), the publishing producer, relay producers, group consumers, the
 * registry follower, subscriber streams and the lag probe.
 * Must not: touch broker state from librdkafka's threads (they only write to wake pipes), or make a
 * client of the cluster any other way than role_conf + client_new (the embedded cluster's own two
 * handles are the cluster, not its clients).
 */
#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#include "kstats.h"
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

/* Values never written to the log: passwords, secrets, tokens, private keys. */
static int is_secret(const char *key) {
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "token") ||
           strstr(key, "key.pem") || strstr(key, "oauthbearer.config");
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
    const pb_config_t *cfg;      /* borrowed: kafka.* pass-through (operator_sets) */
    rd_kafka_conf_t *base;       /* every client's starting point (role_conf) */
    char *bootstrap;
    /* Atomic: ensure_topic decides them on a jobs worker while the loop reads them. */
    atomic_int embedded;
    atomic_int embedded_known; /* decided (the cluster answered a first metadata request) */
    int wake[2];
    atomic_int reachable; /* last verdict of pb_kafka_probe */
    pb_kstats_t *kstats;  /* latest statistics of the shared clients (stats_conf) */
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

/* Errors about the record itself (its size, its form) rather than the cluster's state. */
static int permanent_err(rd_kafka_resp_err_t e) {
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

/* Wake fd for queue q: librdkafka writes payload to fd when q goes from empty to non-empty (and
 * not again until q is served). Events already queued when this is called (a client's first
 * errors, e.g. "connection refused" while Kafka is down) would never be announced, and neither
 * would anything queued behind them: so the loop is woken once now, to serve whatever is there.
 * (A missed wake-up here left publishes waiting for their delivery reports after a start with
 * Kafka down; 0028.) */
static void wake_on_events(rd_kafka_queue_t *q, int fd, const char *payload) {
    rd_kafka_queue_io_event_enable(q, fd, payload, 1);
    if (write(fd, payload, 1) < 0) {
        /* a full pipe already holds a wake-up */
    }
}

/* ---- configuration builder -------------------------------------------------------------------
 * Every client the process makes starts from one base configuration: log and error callbacks,
 * bootstrap.servers and the whole kafka.* pass-through, applied once in pb_kafka_new (a bad key or
 * value fails there, naming it). A role duplicates the base (rd_kafka_conf_dup_filter, leaving out
 * the other client type's keys so librdkafka does not warn on every client), sets its defaults
 * where the operator set nothing, then its fixed keys: the ones correctness depends on, which no
 * kafka.* key overrides (docs/CONFIGURATION.md lists them). */

typedef struct kv {
    const char *key, *value;
} kv_t;

/* Properties only producers read (prefixes, as rd_kafka_conf_dup_filter matches them). */
static const char *producer_only[] = {
    "acks",
    "request.required.acks",
    "linger.ms",
    "queue.buffering.",
    "batch.",
    "compression.",
    "enable.idempotence",
    "enable.gapless.guarantee",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "message.send.max.retries",
    "retries",
    "transactional.id",
    "transaction.timeout.ms",
    "partitioner",
    "sticky.partitioning.linger.ms",
    "request.timeout.ms",
    "produce.offset.report",
};

/* Properties only consumers read. */
static const char *consumer_only[] = {
    "group.",
    "enable.auto.",
    "auto.commit.",
    "auto.offset.reset",
    "fetch.",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "queued.",
    "enable.partition.eof",
    "check.crcs",
    "isolation.level",
    "coordinator.query.interval.ms",
    "consume.callback.max.messages",
    "max.partition.fetch.bytes",
    "offset.store.",
};

#define NELEM(a) (sizeof(a) / sizeof *(a))

/* Whether the operator's kafka.* pass-through sets key (then a role default gives way). */
static int operator_sets(const pb_config_t *cfg, const char *key) {
    if (cfg)
        for (size_t i = 0; i < cfg->n_kafka; i++)
            if (!strcmp(cfg->kafka[i].key, key)) return 1;
    return 0;
}

/* The base: callbacks, bootstrap.servers, every kafka.* key. NULL with err naming a bad key. */
static rd_kafka_conf_t *base_conf(const pb_config_t *cfg, const char *bootstrap, pb_err_t *err) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    if (conf_set(conf, "bootstrap.servers", bootstrap, err)) goto fail;
    /* After an outage librdkafka backs off reconnecting to each broker up to
     * reconnect.backoff.max.ms (10 s by default): publishes to partitions led by a broker still
     * in backoff waited that long after the cluster was back (0028). The Java client's 1 s; the
     * operator's kafka.reconnect.backoff.max.ms (applied below) wins. */
    if (conf_set(conf, "reconnect.backoff.max.ms", "1000", err)) goto fail;
    for (size_t i = 0; cfg && i < cfg->n_kafka; i++) {
        char es[512];
        const char *key = cfg->kafka[i].key, *v = cfg->kafka[i].value;
        if (rd_kafka_conf_set(conf, key, v, es, sizeof es) != RD_KAFKA_CONF_OK) {
            pb_err_set(err, PB_ERR_INVALID, "kafka.%s = %s: librdkafka refuses it: %s", key,
                       is_secret(key) ? "********" : v, es);
            goto fail;
        }
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* A role's configuration: the base minus the other type's keys, defaults[] (NULL-key terminated)
 * where the operator set nothing, fixed[] last. NULL with err set. */
static rd_kafka_conf_t *role_conf(const pb_kafka_t *k, int producer, const kv_t *defaults,
                                  const kv_t *fixed, pb_err_t *err) {
    rd_kafka_conf_t *conf =
        producer ? rd_kafka_conf_dup_filter(k->base, NELEM(consumer_only), consumer_only)
                 : rd_kafka_conf_dup_filter(k->base, NELEM(producer_only), producer_only);
    for (const kv_t *d = defaults; d && d->key; d++)
        if (d->value && !operator_sets(k->cfg, d->key) && conf_set(conf, d->key, d->value, err))
            goto fail;
    for (const kv_t *f = fixed; f && f->key; f++)
        if (f->value && conf_set(conf, f->key, f->value, err)) goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* librdkafka statistics (metrics.kafka.stats.interval.ms) of a shared client: its stats callback
 * (opaque-specific, below) parses the report on whichever thread polls the client and hands it to
 * k->kstats under its mutex. A role default: kafka.statistics.interval.ms overrides it. */
static int stats_conf(const pb_kafka_t *k, rd_kafka_conf_t *conf,
                      int (*cb)(rd_kafka_t *, char *, size_t, void *), pb_err_t *err) {
    char ms[32];
    int64_t v = k->cfg ? k->cfg->metrics_kafka_stats_interval_ms : 0;
    if (!v || operator_sets(k->cfg, "statistics.interval.ms")) return 0;
    snprintf(ms, sizeof ms, "%lld", (long long)v);
    if (conf_set(conf, "statistics.interval.ms", ms, err)) return err ? err->code : PB_ERR_INVALID;
    rd_kafka_conf_set_stats_cb(conf, cb);
    return 0;
}

static int offer_stats(pb_kafka_t *k, pb_kstats_role_t role, const char *json, size_t len) {
    if (k && k->kstats) (void)pb_kstats_offer(k->kstats, role, json, len);
    return 0; /* librdkafka frees json */
}

/* Append "key=value" pairs of d[0..n) that differ from def[0..nd) (librdkafka's defaults). */
static void diff_dump(pb_buf_t *out, const char **d, size_t n, const char **def, size_t nd) {
    for (size_t i = 0; i + 1 < n; i += 2) {
        const char *key = d[i], *v = d[i + 1];
        size_t kl = strlen(key);
        if (!strncmp(v, "0x", 2) || (kl > 3 && !strcmp(key + kl - 3, "_cb")) ||
            !strcmp(key, "opaque") || !strcmp(key, "default_topic_conf"))
            continue; /* callbacks and pointers */
        int same = 0;
        for (size_t j = 0; j + 1 < nd && !same; j += 2)
            if (!strcmp(def[j], key)) same = !strcmp(def[j + 1], v);
        if (same) continue;
        (void)pb_buf_printf(out, "%s%s=%s", out->len ? " " : "", key,
                            is_secret(key) ? "********" : v);
    }
}

/* One debug line per client: its settings that differ from librdkafka's defaults, as librdkafka
 * holds them (the instance's own configuration), so an operator sees what each client got. */
static void log_client(rd_kafka_t *rk, const char *role) {
    if (pb_log_level() < PB_LOG_DEBUG) return;
    rd_kafka_conf_t *c = (rd_kafka_conf_t *)rd_kafka_conf(rk);
    rd_kafka_conf_t *def = rd_kafka_conf_new();
    rd_kafka_topic_conf_t *tdef = rd_kafka_topic_conf_new();
    size_t n = 0, nd = 0, tn = 0, tnd = 0;
    const char **d = rd_kafka_conf_dump(c, &n), **dd = rd_kafka_conf_dump(def, &nd);
    const rd_kafka_topic_conf_t *tc = rd_kafka_conf_get_default_topic_conf(c);
    const char **t = tc ? rd_kafka_topic_conf_dump((rd_kafka_topic_conf_t *)tc, &tn) : NULL;
    const char **td = rd_kafka_topic_conf_dump(tdef, &tnd);
    pb_buf_t line = {0};
    diff_dump(&line, d, n, dd, nd);
    if (t) diff_dump(&line, t, tn, td, tnd);
    pb_log(DEBUG, "kafka", "client %s (%s): settings beyond librdkafka's defaults: %.*s",
           rd_kafka_name(rk), role, (int)line.len, line.data ? (const char *)line.data : "");
    pb_buf_free(&line);
    rd_kafka_conf_dump_free(d, n);
    rd_kafka_conf_dump_free(dd, nd);
    if (t) rd_kafka_conf_dump_free(t, tn);
    rd_kafka_conf_dump_free(td, tnd);
    rd_kafka_conf_destroy(def);
    rd_kafka_topic_conf_destroy(tdef);
}

/* rd_kafka_new with a role's conf (taken on every path); logs the client's settings. */
static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *role,
                              pb_err_t *err) {
    char es[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, es, sizeof es);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        pb_err_set(err, PB_ERR_INVALID, "kafka client (%s): librdkafka refuses the settings: %s",
                   role, es);
        return NULL;
    }
    log_client(rk, role);
    return rk;
}

int pb_kafka_conf_check(const pb_config_t *cfg, pb_err_t *err) {
    rd_kafka_conf_t *conf = base_conf(cfg, *cfg->kafka_bootstrap ? cfg->kafka_bootstrap : "", err);
    if (!conf) return err ? err->code : PB_ERR_INVALID;
    rd_kafka_conf_destroy(conf);
    return 0;
}

int pb_kafka_probe(pb_kafka_t *k, int timeout_ms) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, NULL, &md, timeout_ms);
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
    return offer_stats(opaque, PB_KSTATS_PUBLISH, json, len);
}

pb_kafka_t *pb_kafka_new(const pb_config_t *cfg, const char *bootstrap, pb_kafka_cluster_t *cluster,
                         pb_err_t *err) {
    rd_kafka_conf_t *conf = NULL;
    pb_kafka_t *k = calloc(1, sizeof *k);
    if (!k) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    k->wake[0] = k->wake[1] = -1;
    k->cluster = cluster;
    k->cfg = cfg;
    k->bootstrap = strdup(bootstrap);
    if (!(k->kstats = pb_kstats_new())) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!k->bootstrap || pipe2(k->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        pb_err_set(err, PB_ERR_INTERNAL, "kafka client: %s", strerror(errno));
        goto fail;
    }
    if (!(k->base = base_conf(cfg, bootstrap, err))) goto fail;
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
    if (!(conf = role_conf(k, 1, defaults, fixed, err))) goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_opaque(conf, k);
    if (stats_conf(k, conf, publish_stats_cb, err)) goto fail;
    k->rk = client_new(RD_KAFKA_PRODUCER, conf, "publish producer", err);
    conf = NULL;
    if (!k->rk) goto fail;
    /* Wake the loop when the main queue gets events (delivery reports, errors). */
    rd_kafka_queue_t *mq = rd_kafka_queue_get_main(k->rk);
    wake_on_events(mq, k->wake[1], "k");
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
        rd_kafka_destroy(k->rk);
    }
    if (k->base) rd_kafka_conf_destroy(k->base);
    pb_kstats_destroy(k->kstats);
    if (k->wake[0] >= 0) close(k->wake[0]);
    if (k->wake[1] >= 0) close(k->wake[1]);
    free(k->bootstrap);
    free(k);
    return left;
}

int pb_kafka_wake_fd(const pb_kafka_t *k) { return k->wake[0]; }

pb_kstats_t *pb_kafka_kstats(pb_kafka_t *k) { return k->kstats; }

/* Drain the wake pipe (1 when it held a wake-up), then serve the main queue. */
static size_t serve(pb_kafka_t *k, int *woken) {
    char drain[64];
    size_t n = 0;
    int r;
    *woken = 0;
    while (read(k->wake[0], drain, sizeof drain) > 0)
        *woken = 1;
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

int pb_kafka_partition_counts(pb_kafka_t *k, const char *const *topics, size_t n, int *counts,
                              int timeout_ms, pb_err_t *err) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, timeout_ms);
    if (e)
        return pb_err_set(err, PB_ERR_UNAVAILABLE, "kafka %s: metadata: %s", k->bootstrap,
                          rd_kafka_err2str(e));
    for (size_t j = 0; j < n; j++) {
        counts[j] = -1;
        for (int i = 0; i < md->topic_cnt; i++)
            if (strcmp(md->topics[i].topic, topics[j]) == 0 && !md->topics[i].err) {
                counts[j] = md->topics[i].partition_cnt;
                break;
            }
    }
    rd_kafka_metadata_destroy(md);
    return 0;
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
    /* No flush: it would serve the producer's delivery callbacks (other requests') on this thread,
     * nested. The caller waits until metadata shows the topic; librdkafka sends it meanwhile. */
    return 0;
}

/* Create the topics t[i] with need[i] set in ONE CreateTopics request; a topic that exists already
 * is fine. */
static int create_via_admin(pb_kafka_t *k, const pb_kafka_topic_req_t *t, const int *need, size_t n,
                            int timeout_ms, pb_err_t *err) {
    char es[512];
    int rc = 0;
    size_t nn = 0;
    const char *first = NULL;
    rd_kafka_NewTopic_t **nt = calloc(n ? n : 1, sizeof *nt);
    if (!nt) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        if (!need[i]) continue;
        if (!(nt[nn] = rd_kafka_NewTopic_new(t[i].topic, t[i].partitions, -1, es, sizeof es))) {
            rc = pb_err_set(err, PB_ERR_INVALID, "topic %s: %s", t[i].topic, es);
            break;
        }
        if (t[i].compact) rd_kafka_NewTopic_set_config(nt[nn], "cleanup.policy", "compact");
        if (!first) first = t[i].topic;
        nn++;
    }
    if (rc || !nn) goto out;
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(k->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, es, sizeof es);
    rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, es, sizeof es);
    rd_kafka_CreateTopics(k->rk, nt, nn, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        rc = pb_err_set(err, PB_ERR_TIMEOUT, "create %zu topics (%s...): no answer in %d ms", nn,
                        first, timeout_ms);
    } else if (rd_kafka_event_error(ev)) {
        rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "create %zu topics (%s...): %s", nn, first,
                        rd_kafka_event_error_string(ev));
    } else {
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt && !rc; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "create topic %s: %s",
                                rd_kafka_topic_result_name(tr[i]),
                                rd_kafka_topic_result_error_string(tr[i]));
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
out:
    for (size_t i = 0; i < nn; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    return rc;
}

int pb_kafka_ensure_topics(pb_kafka_t *k, pb_kafka_topic_req_t *t, size_t n, int timeout_ms,
                           pb_err_t *err) {
    int64_t deadline = now_ms() + timeout_ms;
    if (!n) return 0;
    if (!k->embedded_known) {
        /* Kafka did not answer when the client started: is it an embedded cluster? */
        int ctl = pb_kafka_partition_count(k, PB_KAFKA_CONTROL_TOPIC, timeout_ms, err);
        if (ctl == -2) return err ? err->code : PB_ERR_UNAVAILABLE;
        k->embedded = ctl >= 0;
        k->embedded_known = 1;
        if (k->embedded)
            pb_log(INFO, "kafka",
                   "%s is a portbroker embedded cluster: topics are created through "
                   "its control topic",
                   k->bootstrap);
    }
    int rc = 0;
    const char **names = calloc(n, sizeof *names);
    int *counts = calloc(n, sizeof *counts), *need = calloc(n, sizeof *need);
    if (!names || !counts || !need) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        names[i] = t[i].topic;
    if ((rc = pb_kafka_partition_counts(k, names, n, counts, timeout_ms, err))) goto out;
    size_t missing = 0;
    for (size_t i = 0; i < n; i++) {
        if (counts[i] >= 0) continue;
        need[i] = 1; /* once per name: a list may name a topic twice */
        for (size_t j = 0; j < i && need[i]; j++)
            if (need[j] && !strcmp(names[j], names[i])) need[i] = 0;
        missing += (size_t)need[i];
    }
    if (missing) {
        if (!k->cluster && !k->embedded) {
            rc = create_via_admin(k, t, need, n, timeout_ms, err);
        } else {
            for (size_t i = 0; i < n && !rc; i++)
                if (need[i])
                    rc = k->cluster ? pb_kafka_cluster_create_topic(k->cluster, names[i],
                                                                    t[i].partitions, err)
                                    : request_via_control(k, names[i], t[i].partitions, err);
        }
        if (rc) goto out;
        /* Wait until metadata shows them all (the embedded cluster applies commands
         * asynchronously; a real cluster propagates metadata). */
        for (;;) {
            size_t absent = 0, first = 0;
            if (!pb_kafka_partition_counts(k, names, n, counts, 2000, NULL)) {
                for (size_t i = n; i-- > 0;)
                    if (counts[i] < 0) absent++, first = i;
            } else {
                absent = n;
            }
            if (!absent) break;
            if (now_ms() > deadline) {
                rc = pb_err_set(err, PB_ERR_TIMEOUT, "topic %s%s was not created within %d ms",
                                names[first], absent > 1 ? " (and others)" : "", timeout_ms);
                goto out;
            }
            usleep(20 * 1000);
        }
    }
    for (size_t i = 0; i < n; i++) {
        t[i].actual = counts[i];
        if (counts[i] != t[i].partitions && (!i || strcmp(names[i], names[i - 1])))
            pb_log(WARN, "kafka",
                   "topic %s exists with %d partitions, the descriptor asks for %d; keeping %d "
                   "(changing the count would move keys between partitions)",
                   names[i], counts[i], t[i].partitions, counts[i]);
    }
out:
    free(names);
    free(counts);
    free(need);
    return rc;
}

static int ensure_topic(pb_kafka_t *k, const char *topic, int partitions, int compact,
                        int timeout_ms, int *actual, pb_err_t *err) {
    pb_kafka_topic_req_t t = {.topic = topic, .partitions = partitions, .compact = compact};
    int rc = pb_kafka_ensure_topics(k, &t, 1, timeout_ms, err);
    if (!rc && actual) *actual = t.actual;
    return rc;
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
    rd_kafka_resp_err_t e = rd_kafka_producev(
        k->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, klen),
        RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(c), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (e) {
        if (hdrs) rd_kafka_headers_destroy(hdrs); /* on failure the headers stay ours */
        int code = e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PB_ERR_UNAVAILABLE : map_err(e);
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
        return pb_err_set(err, map_err(rd_kafka_last_error()), "produce to %s: %s", topic,
                          rd_kafka_err2str(rd_kafka_last_error()));
    int rc = produce_rkt(k, rkt, partition, key, klen, val, vlen, headers, n_headers, c, err);
    rd_kafka_topic_destroy(rkt);
    return rc;
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

pb_kafka_log_t *pb_kafka_log_new(pb_kafka_t *k, const char *topic, int64_t low, int64_t high,
                                 int timeout_ms, pb_kafka_log_cb_t cb, void *arg, pb_err_t *err) {
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
    if (!(conf = role_conf(k, 0, defaults, fixed, err))) goto fail;
    l->rk = client_new(RD_KAFKA_CONSUMER, conf, "registry follower", err);
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
    wake_on_events(l->q, l->wake[1], "l");
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

/* ---- consumers ------------------------------------------------------------------------------ */

/* A consumer's configuration: the base, then librdkafka timings suited to the cluster (defaults:
 * the operator's kafka.* keys win), then what the broker's consumers rely on (fixed): their own
 * group, manual commits only, no partition-EOF events, and the given auto.offset.reset (NULL:
 * latest). fetch_wait NULL: 10 ms on the embedded cluster, 100 otherwise. */
static rd_kafka_conf_t *consumer_conf(pb_kafka_t *k, const char *group, const char *client_id,
                                      const char *fetch_wait, const char *offset_reset,
                                      pb_err_t *err) {
    const kv_t defaults[] = {{"client.id", client_id ? client_id : "portbroker"},
                             {"session.timeout.ms", "6000"},
                             {"heartbeat.interval.ms", "500"},
                             {"fetch.wait.max.ms", fetch_wait    ? fetch_wait
                                                   : k->embedded ? "10"
                                                                 : "100"},
                             {NULL, NULL}};
    const kv_t fixed[] = {{"group.id", group},
                          {"enable.auto.commit", "false"},
                          {"enable.auto.offset.store", "false"},
                          {"enable.partition.eof", "false"},
                          {"auto.offset.reset", offset_reset ? offset_reset : "latest"},
                          {NULL, NULL}};
    return role_conf(k, 0, defaults, fixed, err);
}

/* A wake pipe: either the caller's write end (own = 0) or a pipe of our own. */
typedef struct wake {
    int rd, wr, own;
} wake_t;

static int wake_init(wake_t *w, int given, pb_err_t *err) {
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

static void wake_drain(wake_t *w) {
    char drain[64];
    if (w->own)
        while (read(w->rd, drain, sizeof drain) > 0) {
        }
}

static void wake_close(wake_t *w) {
    if (!w->own) return;
    if (w->rd >= 0) close(w->rd);
    if (w->wr >= 0) close(w->wr);
    w->rd = w->wr = -1;
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

size_t pb_kafka_msg_header_count(const pb_kafka_msg_t *m) {
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m->impl, &h) || !h) return 0;
    return rd_kafka_header_cnt(h);
}

int pb_kafka_msg_header_at(const pb_kafka_msg_t *m, size_t i, const char **name, const void **value,
                           size_t *len) {
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m->impl, &h) || !h) return -1;
    return rd_kafka_header_get_all(h, i, name, value, len) ? -1 : 0;
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
    return offer_stats(((pb_kafka_consumer_t *)opaque)->k, PB_KSTATS_READER, json, len);
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
    if (wake_init(&c->wake, conf->wake_fd, err)) goto fail;
    char fw[16];
    snprintf(fw, sizeof fw, "%d", conf->fetch_wait_ms);
    if (!(rconf = consumer_conf(k, conf->group, conf->client_id,
                                conf->fetch_wait_ms > 0 ? fw : NULL, conf->offset_reset, err)))
        goto fail;
    /* librdkafka 2.0.2 counts queued.min.messages against the whole consumer queue (each
     * partition's fetch queue forwards to it) and, once it is reached, stops fetching until the
     * broker thread's next timed wake-up, up to 1 s later: a relay catching up on a backlog
     * drained 100,000 queued records (the default) in ~0.3 s, then idled. With 1,000,000 the
     * queue takes longer than that wake-up to drain; what a consumer queues stays bounded by
     * queued.max.messages.kbytes (64 MiB, which bounded it before too for records above ~670
     * bytes). A role default: kafka.queued.min.messages overrides it. */
    if (!operator_sets(k->cfg, "queued.min.messages") &&
        conf_set(rconf, "queued.min.messages", "1000000", err))
        goto fail;
    /* The embedded cluster makes a member that rejoins (a change of subscription) wait
     * session.timeout.ms - 1 s before the group rebalances, whatever the other members do: a
     * shorter session for the one shared reader (a role default, as for streams) keeps a new
     * port from waiting 5 s; a real cluster rebalances once every member rejoined. */
    if (conf->cooperative && k->embedded && !operator_sets(k->cfg, "session.timeout.ms") &&
        conf_set(rconf, "session.timeout.ms", "3000", err))
        goto fail;
    /* Fixed for a cooperative consumer: its owner relies on incremental rebalances. */
    if (conf->cooperative &&
        conf_set(rconf, "partition.assignment.strategy", "cooperative-sticky", err))
        goto fail;
    c->cooperative = conf->cooperative;
    rd_kafka_conf_set_opaque(rconf, c);
    if (stats_conf(k, rconf, reader_stats_cb, err)) goto fail;
    rd_kafka_conf_set_rebalance_cb(rconf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(rconf, commit_cb);
    c->rk = client_new(RD_KAFKA_CONSUMER, rconf, "router consumer", err);
    rconf = NULL;
    if (!c->rk) goto fail;
    rd_kafka_poll_set_consumer(c->rk);
    c->q = rd_kafka_queue_get_consumer(c->rk);
    wake_on_events(c->q, c->wake.wr, "c");
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
    wake_drain(&c->wake);
    while (total < max) {
        ssize_t n = rd_kafka_consume_batch_queue(c->q, 0, c->msgs, c->batch_max);
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
        if ((size_t)n < c->batch_max) break;
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
        return pb_err_set(err, map_err(e) == PB_ERR_TIMEOUT ? PB_ERR_TIMEOUT : PB_ERR_UNAVAILABLE,
                          "committed offsets of %s: %s", topic, rd_kafka_err2str(e));
    return 0;
}

int pb_kafka_consumer_committed(pb_kafka_consumer_t *c, pb_kafka_tp_t *parts, size_t n,
                                int timeout_ms, pb_err_t *err) {
    return committed(c->rk, c->topic, parts, n, timeout_ms, err);
}

static int watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *low,
                      int64_t *high, int timeout_ms, pb_err_t *err) {
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(rk, topic, partition, low, high, timeout_ms);
    if (e)
        return pb_err_set(err, map_err(e) == PB_ERR_TIMEOUT ? PB_ERR_TIMEOUT : PB_ERR_UNAVAILABLE,
                          "watermarks of %s[%d]: %s", topic, (int)partition, rd_kafka_err2str(e));
    return 0;
}

int pb_kafka_consumer_watermarks(pb_kafka_consumer_t *c, int32_t partition, int64_t *low,
                                 int64_t *high, int timeout_ms, pb_err_t *err) {
    return watermarks(c->rk, c->topic, partition, low, high, timeout_ms, err);
}

int pb_kafka_consumer_watermarks_cached(pb_kafka_consumer_t *c, int32_t partition, int64_t *low,
                                        int64_t *high) {
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(c->rk, c->topic, partition, &lo, &hi) || hi < 0) return -1;
    *low = lo;
    *high = hi;
    return 0;
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
    wake_close(&c->wake);
    free(c->msgs);
    free(c->views);
    free(c->topic);
    free(c);
}

int pb_kafka_group_committed(pb_kafka_t *k, const char *group, const char *topic,
                             pb_kafka_tp_t *parts, size_t n, int timeout_ms, pb_err_t *err) {
    rd_kafka_conf_t *conf = consumer_conf(k, group, "portbroker-lag", NULL, NULL, err);
    if (!conf) return err ? err->code : PB_ERR_INVALID;
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, conf, "committed-offsets query", err);
    if (!rk) return err ? err->code : PB_ERR_INVALID;
    int rc = committed(rk, topic, parts, n, timeout_ms, err);
    rd_kafka_destroy(rk);
    return rc;
}

int pb_kafka_watermarks(pb_kafka_t *k, const char *topic, int32_t partition, int64_t *low,
                        int64_t *high, int timeout_ms, pb_err_t *err) {
    return watermarks(k->rk, topic, partition, low, high, timeout_ms, err);
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
    int64_t deadline = now_ms() + timeout_ms;
    rd_kafka_topic_partition_list_t *l = NULL;
    char *done = NULL;
    rd_kafka_t *rk = NULL;
    if (!n) return 0;
    /* assign() needs a group.id; this client never joins it nor commits. */
    rd_kafka_conf_t *conf = consumer_conf(k, "portbroker.tail", "portbroker-tail", NULL, NULL, err);
    if (!conf) return err ? err->code : PB_ERR_INVALID;
    rk = client_new(RD_KAFKA_CONSUMER, conf, "last-records query", err);
    if (!rk) return err ? err->code : PB_ERR_INVALID;
    done = calloc(n, 1);
    l = rd_kafka_topic_partition_list_new((int)n);
    if (!done) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;
        int left = (int)(deadline - now_ms());
        if ((rc = watermarks(rk, parts[i].topic, parts[i].partition, &lo, &hi, left > 0 ? left : 1,
                             err)))
            goto out;
        if (hi <= lo) {
            done[i] = 1; /* empty */
            continue;
        }
        rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition)->offset = hi - 1;
        want++;
    }
    if (!want) goto out;
    if (rd_kafka_assign(rk, l)) {
        rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "last records of %s...: cannot assign",
                        parts[0].topic);
        goto out;
    }
    while (got < want) {
        int left = (int)(deadline - now_ms());
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
    if (l) rd_kafka_topic_partition_list_destroy(l);
    free(done);
    rd_kafka_destroy(rk);
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
    int64_t deadline = now_ms() + timeout_ms;
    int64_t *end = NULL;
    rd_kafka_topic_partition_list_t *l = NULL;
    *n = 0;
    *complete = 0;
    if (partitions <= 0 || !cap) return 0;
    /* assign() needs a group.id; this client never joins it nor commits. */
    rd_kafka_conf_t *conf =
        consumer_conf(k, "portbroker.sample", "portbroker-sample", NULL, NULL, err);
    if (!conf) return err ? err->code : PB_ERR_INVALID;
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, conf, "sample query", err);
    if (!rk) return err ? err->code : PB_ERR_INVALID;
    end = calloc((size_t)partitions, sizeof *end);
    l = rd_kafka_topic_partition_list_new(partitions);
    if (!end) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int p = 0; p < partitions; p++) {
        int64_t lo = 0, hi = 0;
        int left = (int)(deadline - now_ms());
        if (left <= 0) {
            rc = pb_err_set(err, PB_ERR_TIMEOUT,
                            "sample of %s: watermarks of %d of %d partitions not read within %d ms",
                            topic, partitions - p, partitions, timeout_ms);
            goto out;
        }
        if ((rc = watermarks(rk, topic, p, &lo, &hi, left, err))) goto out;
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
    if (rd_kafka_assign(rk, l)) {
        rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "sample of %s: cannot assign", topic);
        goto out;
    }
    while (done_n < want) {
        int left = (int)(deadline - now_ms());
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
        if (p < 0 || p >= partitions || m->offset >= end[p]) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->offset == end[p] - 1) done_n++;
        tail_keep(out, cap, n, m);
    }
    *complete = done_n >= want;
out:
    if (l) rd_kafka_topic_partition_list_destroy(l);
    free(end);
    rd_kafka_destroy(rk);
    return rc;
}

void pb_kafka_cluster_fail_produces(pb_kafka_cluster_t *c, size_t n, int permanent) {
    rd_kafka_resp_err_t e = permanent == 2 ? RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
                            : permanent    ? RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED
                                           : RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
    for (size_t i = 0; i < n; i++)
        rd_kafka_mock_push_request_errors(c->mc, 0 /* Produce */, 1, e);
}

/* ---- relay producer ------------------------------------------------------------------------- */

/* Topic handles a relay producer keeps (a fan-out producer writes to every input topic). */
#define PRODUCER_TOPICS_MAX 65536

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
    rd_kafka_queue_t *admq; /* answers of group commits */
    int commits;            /* group commits not yet answered */
    /* Topic handles by name in an open-addressing table (a producev by name looks the topic up
     * under a lock each time): cap a power of two, at most half full. */
    ptopic_t *topics;
    size_t n_topics, cap_topics;
};

static size_t name_hash(const char *s) {
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void relay_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    pb_kafka_producer_t *p = opaque;
    pb_kafka_delivery_t d = {
        .code = map_err(m->err),
        .reason = m->err ? rd_kafka_err2str(m->err) : NULL,
        .topic = rd_kafka_topic_name(m->rkt),
        .partition = m->partition,
        .offset = m->offset,
        .tag = (int64_t)(intptr_t)m->_private,
        .value_len = m->len,
        .latency_us = rd_kafka_message_latency(m),
        .permanent = m->err && permanent_err(m->err),
    };
    p->inflight--;
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
    return offer_stats(((pb_kafka_producer_t *)opaque)->k, PB_KSTATS_RELAY, json, len);
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
    if (wake_init(&p->wake, wake_fd, err)) goto fail;
    char linger[32];
    snprintf(linger, sizeof linger, "%lld", k->cfg ? (long long)k->cfg->router_linger_ms : 5LL);
    const kv_t defaults[] = {{"client.id", client_id ? client_id : "portbroker-relay"},
                             {"linger.ms", linger},
                             {"queue.buffering.max.messages", "1000000"},
                             {"batch.num.messages", "10000"},
                             {NULL, NULL}};
    const kv_t fixed[] = {{"enable.idempotence", "true"}, {"acks", "all"}, {NULL, NULL}};
    if (!(conf = role_conf(k, 1, defaults, fixed, err))) goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, relay_dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    if (stats_conf(k, conf, relay_stats_cb, err)) goto fail;
    p->rk = client_new(RD_KAFKA_PRODUCER, conf, "relay producer", err);
    conf = NULL;
    if (!p->rk) goto fail;
    rd_kafka_queue_t *mq = rd_kafka_queue_get_main(p->rk);
    wake_on_events(mq, p->wake.wr, "p");
    rd_kafka_queue_destroy(mq);
    p->admq = rd_kafka_queue_new(p->rk);
    wake_on_events(p->admq, p->wake.wr, "a");
    return p;
fail:
    if (conf) rd_kafka_conf_destroy(conf);
    pb_kafka_producer_destroy(p, 0);
    return NULL;
}

int pb_kafka_producer_wake_fd(const pb_kafka_producer_t *p) {
    return p->wake.own ? p->wake.rd : -1;
}

size_t pb_kafka_producer_serve(pb_kafka_producer_t *p) {
    size_t n = 0;
    int r;
    wake_drain(&p->wake);
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

/* Committed offsets of several groups through client rk (see pb_kafka_groups_committed). */
static int groups_committed(rd_kafka_t *rk, pb_kafka_group_query_t *q, size_t n, int timeout_ms,
                            pb_err_t *err) {
    int64_t deadline = now_ms() + timeout_ms;
    size_t sent = 0, got = 0;
    rd_kafka_queue_t *rq = rd_kafka_queue_new(rk);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < q[i].n; j++)
            q[i].parts[j].offset = PB_KAFKA_OFFSET_INVALID;
        if (!q[i].n) continue;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)q[i].n);
        for (size_t j = 0; j < q[i].n; j++)
            rd_kafka_topic_partition_list_add(l, q[i].parts[j].topic, q[i].parts[j].partition);
        rd_kafka_ListConsumerGroupOffsets_t *r =
            rd_kafka_ListConsumerGroupOffsets_new(q[i].group, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (!r) continue;
        rd_kafka_AdminOptions_t *o =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
        rd_kafka_AdminOptions_set_opaque(o, &q[i]);
        rd_kafka_ListConsumerGroupOffsets(rk, &r, 1, o, rq);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_ListConsumerGroupOffsets_destroy(r);
        sent++;
    }
    char first[256] = "";
    while (got < sent) {
        int left = (int)(deadline - now_ms());
        if (left <= 0) break;
        rd_kafka_event_t *ev = rd_kafka_queue_poll(rq, left < 100 ? left : 100);
        if (!ev) continue;
        const rd_kafka_ListConsumerGroupOffsets_result_t *r =
            rd_kafka_event_ListConsumerGroupOffsets_result(ev);
        if (r) {
            got++;
            pb_kafka_group_query_t *g = rd_kafka_event_opaque(ev);
            size_t cnt = 0;
            const rd_kafka_group_result_t **gr =
                rd_kafka_ListConsumerGroupOffsets_result_groups(r, &cnt);
            if (rd_kafka_event_error(ev) && !first[0])
                snprintf(first, sizeof first, "%s", rd_kafka_event_error_string(ev));
            for (size_t i = 0; g && i < cnt; i++) {
                const rd_kafka_topic_partition_list_t *pl = rd_kafka_group_result_partitions(gr[i]);
                if (rd_kafka_group_result_error(gr[i]) && !first[0])
                    snprintf(first, sizeof first, "%s",
                             rd_kafka_error_string(rd_kafka_group_result_error(gr[i])));
                for (size_t j = 0; pl && j < g->n; j++) {
                    rd_kafka_topic_partition_t *t = rd_kafka_topic_partition_list_find(
                        pl, g->parts[j].topic, g->parts[j].partition);
                    g->parts[j].offset =
                        t && !t->err && t->offset >= 0 ? t->offset : PB_KAFKA_OFFSET_INVALID;
                }
            }
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(rq);
    if (got < sent)
        return pb_err_set(err, PB_ERR_TIMEOUT,
                          "committed offsets: %zu of %zu groups did not answer within %d ms",
                          sent - got, sent, timeout_ms);
    if (first[0]) return pb_err_set(err, PB_ERR_UNAVAILABLE, "committed offsets: %s", first);
    return 0;
}

int pb_kafka_groups_committed(pb_kafka_t *k, pb_kafka_group_query_t *q, size_t n, int timeout_ms,
                              pb_err_t *err) {
    return groups_committed(k->rk, q, n, timeout_ms, err);
}

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
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, klen),
        RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE((void *)(intptr_t)tag), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (!cached) rd_kafka_topic_destroy(rkt);
    if (e) {
        if (hdrs) rd_kafka_headers_destroy(hdrs);
        int code = e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PB_ERR_UNAVAILABLE : map_err(e);
        return pb_err_set(err, code, "produce to %s[%d]: %s", topic, (int)partition,
                          rd_kafka_err2str(e));
    }
    p->inflight++;
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
    /* Once: a full queue is the caller's to handle (the loop thread must not wait for room). */
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(src->partition),
        RD_KAFKA_V_KEY(src->key, src->key_len), RD_KAFKA_V_VALUE((void *)val, vlen),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *)(intptr_t)tag),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (!cached) rd_kafka_topic_destroy(rkt);
    if (e) {
        /* Give m its headers back (the producer's, without the ones added here) so the caller
         * can still read them, e.g. for a dead letter. */
        for (size_t i = 0; i < n_add; i++)
            rd_kafka_header_remove(hdrs, add[i].name);
        rd_kafka_message_set_headers(src, hdrs);
        int code = e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PB_ERR_UNAVAILABLE : map_err(e);
        return pb_err_set(err, code, "produce to %s[%d]: %s", topic, (int)src->partition,
                          rd_kafka_err2str(e));
    }
    p->inflight++;
    return 0;
}

int pb_kafka_producer_inflight(const pb_kafka_producer_t *p) { return p->inflight; }

int pb_kafka_producer_wait(pb_kafka_producer_t *p, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    while (p->inflight > 0) {
        int left = (int)(deadline - now_ms());
        if (left <= 0) break;
        rd_kafka_flush(p->rk, left < 100 ? left : 100);
    }
    return p->inflight;
}

int pb_kafka_producer_destroy(pb_kafka_producer_t *p, int timeout_ms) {
    int left = 0;
    if (!p) return 0;
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
    wake_close(&p->wake);
    free(p);
    return left;
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
static rd_kafka_conf_t *sub_consumer_conf(pb_kafka_t *k, const char *group, const char *client_id,
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
    return role_conf(k, 0, defaults, fixed, err);
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
    rd_kafka_conf_t *conf =
        sub_consumer_conf(k, group, "portbroker-sub", cfg->sub_fetch_wait_ms > 0 ? fw : NULL, err);
    if (!conf) goto fail;
    if (conf_set(conf, "queued.max.messages.kbytes", kb, err) ||
        conf_set(conf, "fetch.max.bytes", "1048576", err) ||
        conf_set(conf, "max.partition.fetch.bytes", "262144", err)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(conf, stream_rebalance);
    rd_kafka_conf_set_opaque(conf, s);
    if (!(s->rk = client_new(RD_KAFKA_CONSUMER, conf, "subscriber stream", err))) goto fail;
    rd_kafka_poll_set_consumer(s->rk);
    s->q = rd_kafka_queue_get_consumer(s->rk);
    wake_on_events(s->q, wake_fd, "s");
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

/* ---- offset jobs ---- */

#define JOB_TIMEOUT_MS 5000 /* each Kafka request of a job */
#define JOB_JOIN_MS 20000   /* a cursor commit that has to join the group: assignment */
#define JOB_MAX_PARTS 1024

struct pb_kafka_job {
    atomic_int done;
    int commit; /* pb_kafka_job_commit, else pb_kafka_job_positions */
    rd_kafka_t *rk;
    char *topic;
    int64_t ts_ms;
    pb_kafka_tp_t *tp; /* in: the offsets asked for; out: the positions */
    size_t n;
    int wake_fd;
    int assigned; /* join path: the group gave this client its assignment */
    pb_err_t err;
};

/* Check each of j->tp against its partition's watermarks. 0 or the error code (j->err set). */
static int job_check(pb_kafka_job_t *j) {
    for (size_t i = 0; i < j->n; i++) {
        int32_t p = j->tp[i].partition;
        int64_t lo = 0, hi = 0, o = j->tp[i].offset;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(j->rk, j->topic, p, &lo, &hi, JOB_TIMEOUT_MS);
        if (e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
            e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            return pb_err_set(&j->err, PB_ERR_INVALID, "partition %d: %s has no such partition",
                              (int)p, j->topic);
        if (e)
            return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "%s [%d] watermarks: %s", j->topic,
                              (int)p, rd_kafka_err2str(e));
        if (o > hi)
            return pb_err_set(&j->err, PB_ERR_INVALID,
                              "partition %d: offset %" PRId64 " is beyond its end (the next "
                              "offset to be written is %" PRId64 ")",
                              (int)p, o, hi);
        if (o < lo)
            return pb_err_set(&j->err, PB_ERR_INVALID,
                              "partition %d: offset %" PRId64 " was deleted by retention (the "
                              "first offset kept is %" PRId64 ")",
                              (int)p, o, lo);
    }
    return 0;
}

/* The Kafka timestamp of the record at offset (or the first after it) of partition p: 0 and *ts, or
 * -1 when none could be read in time. */
static int job_read_ts(pb_kafka_job_t *j, int32_t p, int64_t offset, int64_t *ts) {
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, j->topic, p)->offset = offset;
    rd_kafka_resp_err_t e = rd_kafka_assign(j->rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    int rc = -1;
    int64_t deadline = now_ms() + JOB_TIMEOUT_MS;
    while (!e && rc && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(j->rk, 50);
        if (!m) continue;
        if (!m->err && m->partition == p && m->offset >= offset) {
            *ts = rd_kafka_message_timestamp(m, NULL);
            rc = 0;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(j->rk, NULL);
    return rc;
}

/*
 * Kafka answered "no record at or after ts" (-1) for partition p holding [lo, hi): true when the
 * last record is older; a cluster that does not index timestamps (the embedded one answers -1 to
 * every such query) is caught here, and the offset is then found by a binary search over the
 * records' timestamps (log2(records) single-record reads; assumes timestamps grow with offsets, as
 * LogAppendTime and ordinary producers give). *out: the offset, or PB_KAFKA_OFFSET_END.
 */
static int job_time_fallback(pb_kafka_job_t *j, int32_t p, int64_t *out) {
    int64_t lo = 0, hi = 0, ts = -1;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(j->rk, j->topic, p, &lo, &hi, JOB_TIMEOUT_MS);
    if (e)
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "%s [%d] watermarks: %s", j->topic, (int)p,
                          rd_kafka_err2str(e));
    *out = PB_KAFKA_OFFSET_END;
    if (hi <= lo) return 0;
    if (job_read_ts(j, p, hi - 1, &ts))
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "%s [%d]: cannot read offset %" PRId64,
                          j->topic, (int)p, hi - 1);
    if (ts < j->ts_ms) return 0;
    int64_t a = lo, b = hi - 1;
    while (a < b) {
        int64_t mid = a + (b - a) / 2;
        if (job_read_ts(j, p, mid, &ts))
            return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "%s [%d]: cannot read offset %" PRId64,
                              j->topic, (int)p, mid);
        if (ts >= j->ts_ms)
            b = mid;
        else
            a = mid + 1;
    }
    *out = a;
    return 0;
}

/* The first offset at or after j->ts_ms of every partition of the topic, into j->tp. */
static int job_times(pb_kafka_job_t *j) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(j->rk, j->topic, NULL);
    rd_kafka_resp_err_t e =
        rkt ? rd_kafka_metadata(j->rk, 0, rkt, &md, JOB_TIMEOUT_MS) : RD_KAFKA_RESP_ERR__FAIL;
    if (rkt) rd_kafka_topic_destroy(rkt);
    if (e) return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "metadata: %s", rd_kafka_err2str(e));
    int np = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : -1;
    rd_kafka_metadata_destroy(md);
    if (np <= 0)
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "topic %s has no partitions yet", j->topic);
    if (np > JOB_MAX_PARTS) np = JOB_MAX_PARTS;
    if (!(j->tp = calloc((size_t)np, sizeof *j->tp)))
        return pb_err_set(&j->err, PB_ERR_NOMEM, "out of memory");
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++)
        rd_kafka_topic_partition_list_add(tl, j->topic, p)->offset = j->ts_ms;
    e = rd_kafka_offsets_for_times(j->rk, tl, JOB_TIMEOUT_MS);
    int rc = 0;
    for (int i = 0; !e && i < tl->cnt; i++) {
        if (tl->elems[i].err) e = tl->elems[i].err;
        j->tp[i] = (pb_kafka_tp_t){
            tl->elems[i].partition,
            tl->elems[i].offset >= 0 ? tl->elems[i].offset : PB_KAFKA_OFFSET_END, NULL};
    }
    if (e)
        rc = pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "offsets for time on %s: %s", j->topic,
                        rd_kafka_err2str(e));
    for (int i = 0; !rc && i < np; i++)
        if (j->tp[i].offset == PB_KAFKA_OFFSET_END)
            rc = job_time_fallback(j, j->tp[i].partition, &j->tp[i].offset);
    if (!rc) j->n = (size_t)np;
    rd_kafka_topic_partition_list_destroy(tl);
    return rc;
}

static void job_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                          rd_kafka_topic_partition_list_t *parts, void *opaque) {
    pb_kafka_job_t *j = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        j->assigned = 1;
    } else {
        rd_kafka_assign(rk, NULL);
        j->assigned = 0;
    }
}

static rd_kafka_resp_err_t job_commit_once(pb_kafka_job_t *j) {
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int)j->n);
    for (size_t i = 0; i < j->n; i++)
        rd_kafka_topic_partition_list_add(tl, j->topic, j->tp[i].partition)->offset =
            j->tp[i].offset;
    rd_kafka_resp_err_t e = rd_kafka_commit(j->rk, tl, 0);
    for (int i = 0; !e && i < tl->cnt; i++)
        e = tl->elems[i].err;
    rd_kafka_topic_partition_list_destroy(tl);
    return e;
}

static int refused_member(rd_kafka_resp_err_t e) {
    return e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
           e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || e == RD_KAFKA_RESP_ERR__STATE;
}

/* Commit as a non-member; when the group refuses, join, commit as a member, leave. */
static int job_commit(pb_kafka_job_t *j) {
    rd_kafka_resp_err_t e = job_commit_once(j);
    if (!e) return 0;
    if (!refused_member(e))
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "commit to %s: %s", j->topic,
                          rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, j->topic, RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(j->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e)
        return pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "join the group of %s: %s", j->topic,
                          rd_kafka_err2str(e));
    int64_t deadline = now_ms() + JOB_JOIN_MS;
    int rc = PB_ERR_TIMEOUT;
    pb_err_set(&j->err, PB_ERR_TIMEOUT,
               "the consumer group of %s gave no assignment within %d ms (a rebalance is under "
               "way); retry",
               j->topic, JOB_JOIN_MS);
    while (now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(j->rk, 100);
        if (m) rd_kafka_message_destroy(m); /* fetched while joined: not ours to read */
        if (!j->assigned) continue;
        e = job_commit_once(j);
        if (!e) {
            rc = 0;
            break;
        }
        if (!refused_member(e)) {
            rc = pb_err_set(&j->err, PB_ERR_UNAVAILABLE, "commit to %s: %s", j->topic,
                            rd_kafka_err2str(e));
            break;
        }
    }
    rd_kafka_consumer_close(j->rk);
    return rc;
}

void pb_kafka_job_run(pb_kafka_job_t *j) {
    int rc = j->commit ? job_check(j) : j->n ? job_check(j) : job_times(j);
    if (!rc && j->commit) rc = job_commit(j);
    if (!rc) j->err.code = 0;
    atomic_store(&j->done, 1);
    char c = 'j';
    if (j->wake_fd >= 0 && write(j->wake_fd, &c, 1) < 0) {
        /* a full wake pipe already means "look again" */
    }
}

static pb_kafka_job_t *job_start(pb_kafka_t *k, const char *group, const char *topic,
                                 const pb_kafka_tp_t *offsets, size_t n, int64_t ts_ms, int commit,
                                 int wake_fd, pb_err_t *err) {
    pb_kafka_job_t *j = calloc(1, sizeof *j);
    if (!j || !(j->topic = strdup(topic)) || (n && !(j->tp = malloc(n * sizeof *offsets)))) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (n) memcpy(j->tp, offsets, n * sizeof *offsets);
    j->n = n;
    j->ts_ms = ts_ms;
    j->commit = commit;
    j->wake_fd = wake_fd;
    rd_kafka_conf_t *conf = sub_consumer_conf(k, group, "portbroker-cursors", NULL, err);
    if (!conf) goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, job_rebalance);
    rd_kafka_conf_set_opaque(conf, j);
    if (!(j->rk = client_new(RD_KAFKA_CONSUMER, conf, "offset job", err))) goto fail;
    rd_kafka_poll_set_consumer(j->rk);
    return j;
fail:
    pb_kafka_job_free(j);
    return NULL;
}

pb_kafka_job_t *pb_kafka_job_positions(pb_kafka_t *k, const pb_config_t *cfg, const char *topic,
                                       const pb_kafka_tp_t *offsets, size_t n, int64_t ts_ms,
                                       int wake_fd, pb_err_t *err) {
    (void)cfg;
    return job_start(k, "portbroker.sub.positions", topic, offsets, n, ts_ms, 0, wake_fd, err);
}

pb_kafka_job_t *pb_kafka_job_commit(pb_kafka_t *k, const pb_config_t *cfg, const char *group,
                                    const char *topic, const pb_kafka_tp_t *offsets, size_t n,
                                    int wake_fd, pb_err_t *err) {
    (void)cfg;
    return job_start(k, group, topic, offsets, n, 0, 1, wake_fd, err);
}

int pb_kafka_job_done(const pb_kafka_job_t *j) { return atomic_load(&j->done); }

int pb_kafka_job_result(const pb_kafka_job_t *j, const pb_kafka_tp_t **out, size_t *n,
                        pb_err_t *err) {
    if (j->err.code) {
        if (err) *err = j->err;
        return j->err.code;
    }
    *out = j->tp;
    *n = j->n;
    return 0;
}

void pb_kafka_job_free(pb_kafka_job_t *j) {
    if (!j) return;
    if (j->rk) rd_kafka_destroy(j->rk);
    free(j->topic);
    free(j->tp);
    free(j);
}

/* ---- lag probe ---- */

typedef struct lag_group {
    char *group;
    rd_kafka_t *rk;
} lag_group_t;

/* Values per topic partition: open addressing, at most half full. */
struct lag_tab {
    struct lag_ts {
        char *topic;
        int32_t partition;
        int64_t pos, ts;
    } * e;
    size_t cap, n;
};

struct pb_kafka_lag {
    pb_kafka_t *k;
    const pb_config_t *cfg;
    rd_kafka_t *reader;  /* assigns partitions at offsets to read one record's timestamp */
    lag_group_t *groups; /* one handle per group, for its committed offsets (never joins) */
    size_t n_groups;
    int admin_ok; /* committed offsets through the admin API work (else the group handles) */
    int sweeping; /* pb_kafka_lag_sweep: md is kept for the sweep */
    const struct rd_kafka_metadata *md;    /* the sweep's metadata, once looked up */
    const rd_kafka_metadata_topic_t **mdx; /* md's topics by name (md_topic) */
    /* The oldest unconsumed record's timestamp per topic partition (pos: the offset it was read
     * at, ts): a record does not change, so it is read again only when the position moves.
     * Emptied every LAG_TS_SWEEPS sweeps (deleted topics). */
    struct lag_tab tsc;
    /* The sweep's watermarks per topic partition (pos: low, ts: high), looked up for every topic
     * of the sweep at once: two ListOffsets requests per broker a sweep, not two per topic. */
    struct lag_tab wm;
    unsigned sweeps;
};

#define LAG_TS_SWEEPS 100
#define LAG_WM_CHUNK 200 /* partitions per watermarks look-up of a sweep */

static void lag_tab_clear(struct lag_tab *t) {
    for (size_t i = 0; i < t->cap; i++)
        free(t->e[i].topic);
    free(t->e);
    t->e = NULL;
    t->cap = t->n = 0;
}

static size_t lag_ts_slot(const struct lag_ts *t, size_t cap, const char *topic, int32_t p) {
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint32_t)p;
    for (const char *c = topic; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
    size_t i = (size_t)h & (cap - 1);
    while (t[i].topic && (t[i].partition != p || strcmp(t[i].topic, topic)))
        i = (i + 1) & (cap - 1);
    return i;
}

/* The entry of topic[p] in tab; created (pos -1) when create is set. NULL when absent or out of
 * memory. */
static struct lag_ts *lag_tab_get(struct lag_tab *tab, const char *topic, int32_t p, int create) {
    if (create && (tab->n + 1) * 2 > tab->cap) {
        size_t cap = tab->cap ? tab->cap * 2 : 1024;
        struct lag_ts *t = calloc(cap, sizeof *t);
        if (!t) return NULL;
        for (size_t i = 0; i < tab->cap; i++)
            if (tab->e[i].topic)
                t[lag_ts_slot(t, cap, tab->e[i].topic, tab->e[i].partition)] = tab->e[i];
        free(tab->e);
        tab->e = t;
        tab->cap = cap;
    }
    if (!tab->cap) return NULL;
    struct lag_ts *e = &tab->e[lag_ts_slot(tab->e, tab->cap, topic, p)];
    if (e->topic) return e;
    if (!create || !(e->topic = strdup(topic))) return NULL;
    e->partition = p;
    e->pos = -1;
    tab->n++;
    return e;
}

static int mdx_cmp(const void *a, const void *b) {
    return strcmp((*(const rd_kafka_metadata_topic_t *const *)a)->topic,
                  (*(const rd_kafka_metadata_topic_t *const *)b)->topic);
}

/* Sets l->md (taking md) and its index by name (none out of memory: md_topic scans). */
static void sweep_md(pb_kafka_lag_t *l, const struct rd_kafka_metadata *md) {
    if (l->md) rd_kafka_metadata_destroy(l->md);
    free(l->mdx);
    l->md = md;
    l->mdx = NULL;
    if (!md || !md->topic_cnt || !(l->mdx = malloc(md->topic_cnt * sizeof *l->mdx))) return;
    for (int i = 0; i < md->topic_cnt; i++)
        l->mdx[i] = &md->topics[i];
    qsort(l->mdx, (size_t)md->topic_cnt, sizeof *l->mdx, mdx_cmp);
}

/* topic in md (by the index when md is the sweep's), NULL when absent. */
static const rd_kafka_metadata_topic_t *
md_topic(const pb_kafka_lag_t *l, const struct rd_kafka_metadata *md, const char *topic) {
    if (md == l->md && l->mdx) {
        rd_kafka_metadata_topic_t key = {.topic = (char *)topic};
        const rd_kafka_metadata_topic_t *k = &key, **f = bsearch(&k, l->mdx, (size_t)md->topic_cnt,
                                                                 sizeof *l->mdx, mdx_cmp);
        return f ? *f : NULL;
    }
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic)) return &md->topics[i];
    return NULL;
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Both watermarks of every partition of topics[0..n) into l->wm, in two offsets_for_times calls
 * (one ListOffsets request per leader each). On failure l->wm stays partly or wholly empty: the
 * measurements then look their topics up one by one. */
static void sweep_watermarks(pb_kafka_lag_t *l, const char *const *topics, size_t n,
                             int timeout_ms) {
    const char **sorted = malloc(n * sizeof *sorted);
    if (!sorted) return;
    memcpy(sorted, topics, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, str_cmp); /* a topic listed twice is asked once */
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_new(64);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_metadata_topic_t *mt = md_topic(l, l->md, sorted[i]);
        if (!mt || mt->err || (i && !strcmp(sorted[i], sorted[i - 1]))) continue;
        for (int p = 0; p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(all, mt->topic, p);
    }
    free(sorted);
    /* In chunks: librdkafka matches each partition of an answer to its request by a linear search
     * (quadratic in the list: 80 ms of CPU a sweep at 2,000 partitions in one list). */
    int failed = 0;
    for (int at = 0; at < all->cnt && !failed; at += LAG_WM_CHUNK) {
        int end = at + LAG_WM_CHUNK < all->cnt ? at + LAG_WM_CHUNK : all->cnt;
        for (int side = 0; side < 2 && !failed; side++) {
            rd_kafka_topic_partition_list_t *w = rd_kafka_topic_partition_list_new(end - at);
            for (int i = at; i < end; i++)
                rd_kafka_topic_partition_list_add(w, all->elems[i].topic, all->elems[i].partition)
                    ->offset = side ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
            failed = rd_kafka_offsets_for_times(l->reader, w, timeout_ms) != 0;
            for (int i = 0; !failed && i < w->cnt; i++) {
                const rd_kafka_topic_partition_t *x = &w->elems[i];
                struct lag_ts *e;
                if (x->err || x->offset < 0 ||
                    !(e = lag_tab_get(&l->wm, x->topic, x->partition, 1)))
                    continue;
                if (side)
                    e->ts = x->offset;
                else
                    e->pos = x->offset, e->ts = -1;
            }
            rd_kafka_topic_partition_list_destroy(w);
        }
    }
    rd_kafka_topic_partition_list_destroy(all);
}

void pb_kafka_lag_sweep(pb_kafka_lag_t *l, const char *const *topics, size_t n, int timeout_ms) {
    const struct rd_kafka_metadata *md = NULL;
    sweep_md(l, NULL);
    l->sweeping = 1;
    lag_tab_clear(&l->wm);
    if (++l->sweeps % LAG_TS_SWEEPS == 0) lag_tab_clear(&l->tsc);
    if (!n || rd_kafka_metadata(l->reader, 1, NULL, &md, timeout_ms)) return;
    sweep_md(l, md);
    sweep_watermarks(l, topics, n, timeout_ms);
}

pb_kafka_lag_t *pb_kafka_lag_new(pb_kafka_t *k, const pb_config_t *cfg, pb_err_t *err) {
    pb_kafka_lag_t *l = calloc(1, sizeof *l);
    if (!l) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l->k = k;
    l->cfg = cfg;
    /* Admin first: a client per group would cost ~10 threads per binding. */
    l->admin_ok = 1;
    rd_kafka_conf_t *conf =
        sub_consumer_conf(k, "portbroker.lag.reader", "portbroker-lag", NULL, err);
    /* A watermark look-up waits for its request, whatever its timeout argument: with the brokers
     * down a request waits socket.timeout.ms (60 s by default) per partition, and the poller (and
     * a shutdown that stops it) with it. A role default: kafka.socket.timeout.ms overrides it. */
    if (conf && !operator_sets(k->cfg, "socket.timeout.ms") &&
        conf_set(conf, "socket.timeout.ms", "5000", err)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    if (!conf || !(l->reader = client_new(RD_KAFKA_CONSUMER, conf, "lag probe", err))) goto fail;
    rd_kafka_poll_set_consumer(l->reader);
    return l;
fail:
    pb_kafka_lag_destroy(l);
    return NULL;
}

static rd_kafka_t *lag_group_handle(pb_kafka_lag_t *l, const char *group, pb_err_t *err) {
    for (size_t i = 0; i < l->n_groups; i++)
        if (!strcmp(l->groups[i].group, group)) return l->groups[i].rk;
    lag_group_t *g = realloc(l->groups, (l->n_groups + 1) * sizeof *g);
    if (!g) return pb_err_set(err, PB_ERR_NOMEM, "out of memory"), NULL;
    l->groups = g;
    rd_kafka_conf_t *conf = sub_consumer_conf(l->k, group, "portbroker-lag", NULL, err);
    if (!conf) return NULL;
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, conf, "lag probe", err);
    if (!rk) return NULL;
    char *name = strdup(group);
    if (!name) {
        rd_kafka_destroy(rk);
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory"), NULL;
    }
    l->groups[l->n_groups++] = (lag_group_t){name, rk};
    return rk;
}

/* The group's committed offsets into tl through the admin API (OffsetFetch on the group's
 * coordinator): no client per group. Returns 0, or -1 when the cluster did not answer it. */
static int admin_committed(rd_kafka_t *rk, const char *group, rd_kafka_topic_partition_list_t *tl,
                           int timeout_ms) {
    int rc = -1;
    char es[256];
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, es, sizeof es);
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, tl);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    const rd_kafka_ListConsumerGroupOffsets_result_t *res =
        ev ? rd_kafka_event_ListConsumerGroupOffsets_result(ev) : NULL;
    if (res && !rd_kafka_event_error(ev)) {
        size_t n = 0;
        const rd_kafka_group_result_t **g =
            rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n);
        const rd_kafka_topic_partition_list_t *got = n == 1 && !rd_kafka_group_result_error(g[0])
                                                         ? rd_kafka_group_result_partitions(g[0])
                                                         : NULL;
        if (got) {
            for (int i = 0; i < tl->cnt; i++) {
                tl->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
                for (int j = 0; j < got->cnt; j++)
                    if (got->elems[j].partition == tl->elems[i].partition && !got->elems[j].err)
                        tl->elems[i].offset = got->elems[j].offset;
            }
            rc = 0;
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

int pb_kafka_lag_measure(pb_kafka_lag_t *l, const char *group, const char *topic,
                         const int64_t *known, size_t n_known, pb_kafka_lag_part_t *parts,
                         size_t cap, size_t *n_parts, int timeout_ms, pb_err_t *err) {
    int rc = 0;
    rd_kafka_topic_partition_list_t *tl = NULL, *want = NULL;
    const struct rd_kafka_metadata *md = l->sweeping ? l->md : NULL;
    *n_parts = 0;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!md && (e = rd_kafka_metadata(l->reader, 1, NULL, &md, timeout_ms))) {
        rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "metadata: %s", rd_kafka_err2str(e));
        goto done;
    }
    if (l->sweeping && md != l->md) sweep_md(l, md); /* kept for the sweep's other measurements */
    const rd_kafka_metadata_topic_t *mt = md_topic(l, md, topic);
    int np = mt && !mt->err ? mt->partition_cnt : -1;
    if (np < 0) {
        rc = pb_err_set(err, PB_ERR_NOT_FOUND, "topic %s does not exist", topic);
        goto done;
    }
    if (known && n_known != (size_t)np) known = NULL; /* the partitions changed: ask Kafka */
    if ((size_t)np > cap) np = (int)cap;
    int have_wm = l->sweeping;
    for (int p = 0; p < np; p++) {
        parts[p] = (pb_kafka_lag_part_t){
            .partition = p, .low = -1, .high = -1, .committed = -1, .oldest_ts_ms = -1};
        const struct lag_ts *w = have_wm ? lag_tab_get(&l->wm, topic, p, 0) : NULL;
        if (w && w->pos >= 0 && w->ts >= 0)
            parts[p].low = w->pos, parts[p].high = w->ts;
        else
            have_wm = 0;
    }
    /* Watermarks the sweep did not get: one ListOffsets request per leader for all partitions
     * (earliest, then latest), not two per partition. */
    for (int side = 0; side < 2 && !have_wm; side++) {
        rd_kafka_topic_partition_list_t *w = rd_kafka_topic_partition_list_new(np);
        for (int p = 0; p < np; p++)
            rd_kafka_topic_partition_list_add(w, topic, p)->offset =
                side ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
        e = rd_kafka_offsets_for_times(l->reader, w, timeout_ms);
        for (int p = 0; !e && p < w->cnt; p++) {
            rd_kafka_topic_partition_t *x = &w->elems[p];
            if (x->err)
                e = x->err;
            else if (x->partition >= 0 && x->partition < np)
                *(side ? &parts[x->partition].high : &parts[x->partition].low) = x->offset;
        }
        rd_kafka_topic_partition_list_destroy(w);
        if (e) {
            rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "%s watermarks: %s", topic,
                            rd_kafka_err2str(e));
            goto done;
        }
    }
    tl = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++) {
        if (parts[p].low < 0 || parts[p].high < 0) {
            rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "%s [%d] watermarks: no answer", topic, p);
            goto done;
        }
        rd_kafka_topic_partition_list_add(tl, topic, p);
    }
    if (known) { /* the caller knows the group's offsets (its own routers): no request */
        for (int p = 0; p < np; p++)
            tl->elems[p].offset = known[p] >= 0 ? known[p] : RD_KAFKA_OFFSET_INVALID;
    } else if (l->admin_ok && admin_committed(l->reader, group, tl, timeout_ms)) {
        l->admin_ok = 0;
        pb_log(INFO, "sub",
               "lag: the cluster did not answer ListConsumerGroupOffsets; reading "
               "committed offsets through one client per group instead");
    }
    if (!known &&
        !l->admin_ok) { /* a client of the group (it never joins) when the admin call fails */
        rd_kafka_t *g = lag_group_handle(l, group, err);
        if (!g) {
            rc = err ? err->code : PB_ERR_INTERNAL;
            goto done;
        }
        e = rd_kafka_committed(g, tl, timeout_ms);
    }
    if (e) {
        rc = pb_err_set(err, PB_ERR_UNAVAILABLE, "committed offsets of %s: %s", group,
                        rd_kafka_err2str(e));
        goto done;
    }
    want = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++) {
        int64_t c = tl->elems[p].offset;
        parts[p].committed = c >= 0 ? c : -1;
        int64_t pos = c >= 0 ? c : parts[p].low;
        if (pos < parts[p].low) pos = parts[p].low; /* expired records count from the first kept */
        if (pos >= parts[p].high) continue;
        const struct lag_ts *seen = lag_tab_get(&l->tsc, topic, p, 0);
        if (seen && seen->pos == pos)
            parts[p].oldest_ts_ms = seen->ts; /* the same record as last time */
        else
            rd_kafka_topic_partition_list_add(want, topic, p)->offset = pos;
    }
    *n_parts = (size_t)np;
    if (want->cnt == 0) goto done;
    /* The oldest unconsumed record's timestamp: read one record at each position. */
    if (rd_kafka_assign(l->reader, want)) goto done;
    int missing = want->cnt;
    int64_t deadline = now_ms() + timeout_ms;
    while (missing > 0 && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(l->reader, 50);
        if (!m) continue;
        if (!m->err && m->partition >= 0 && m->partition < np &&
            parts[m->partition].oldest_ts_ms < 0) {
            int64_t ts = rd_kafka_message_timestamp(m, NULL);
            parts[m->partition].oldest_ts_ms = ts >= 0 ? ts : 0;
            missing--;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(l->reader, NULL);
    for (int i = 0; i < want->cnt; i++) {
        int32_t p = want->elems[i].partition;
        struct lag_ts *seen;
        if (parts[p].oldest_ts_ms >= 0 && (seen = lag_tab_get(&l->tsc, topic, p, 1))) {
            seen->pos = want->elems[i].offset;
            seen->ts = parts[p].oldest_ts_ms;
        }
    }
done:
    if (md && !l->sweeping) rd_kafka_metadata_destroy(md);
    if (tl) rd_kafka_topic_partition_list_destroy(tl);
    if (want) rd_kafka_topic_partition_list_destroy(want);
    return rc;
}

void pb_kafka_lag_destroy(pb_kafka_lag_t *l) {
    if (!l) return;
    sweep_md(l, NULL);
    lag_tab_clear(&l->tsc);
    lag_tab_clear(&l->wm);
    for (size_t i = 0; i < l->n_groups; i++) {
        rd_kafka_destroy(l->groups[i].rk);
        free(l->groups[i].group);
    }
    free(l->groups);
    if (l->reader) {
        rd_kafka_consumer_close(l->reader);
        rd_kafka_destroy(l->reader);
    }
    free(l);
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
