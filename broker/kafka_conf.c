/*
 * kafka_conf — the one configuration builder every Kafka client of the process goes through: the
 * base (log and error callbacks, bootstrap.servers, every kafka.* key, checked once at start), a
 * role's defaults where the operator set nothing, then the fixed keys correctness depends on;
 * librdkafka's log routed to ours; one debug line per client with the settings it got.
 * Must not: make a client any other way than kafka_role_conf + kafka_client_new, or log a secret.
 */
#include "kafka_int.h"

/* ---- logging -------------------------------------------------------------------------------- */

void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
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

int kafka_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, pb_err_t *err) {
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

int kafka_fatal_text(rd_kafka_t *rk, char *out, size_t n) {
    char es[512];
    rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, es, sizeof es);
    if (!e) return 0;
    const char *hint = "";
    switch (e) {
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        hint = " The principal portbroker connects as needs the IdempotentWrite operation on the "
               "cluster resource (a Kafka ACL; kafka-acls --add --operation IdempotentWrite "
               "--cluster).";
        break;
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        hint = " The principal needs Write and Describe on portbroker's transactional ids.";
        break;
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
        hint = " The brokers do not support idempotent producers (Kafka 0.11 or later is "
               "needed).";
        break;
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
        hint = " Another producer took over its producer id (a second instance with the same "
               "identity?).";
        break;
    default: break;
    }
    snprintf(out, n,
             "Kafka client %s failed for good: %s (%s).%s It accepts nothing more until "
             "portbroker is restarted",
             rd_kafka_name(rk), rd_kafka_err2name(e), es, hint);
    return 1;
}

const char *kafka_failure_cached(rd_kafka_t *rk, char *cache, size_t n) {
    if (cache[0]) return cache;
    return rk && kafka_fatal_text(rk, cache, n) ? cache : NULL;
}

static void error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque) {
    (void)opaque;
    char why[768];
    if (e == RD_KAFKA_RESP_ERR__FATAL && kafka_fatal_text(rk, why, sizeof why))
        pb_log(ERROR, "kafka", "%s", why);
    else if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        pb_log_rl(ERROR, "kafka", "all brokers are down: %s", reason);
    else
        pb_log_rl(WARN, "kafka", "%s: %s", rd_kafka_err2name(e), reason);
}

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

/* Whether the operator's kafka.* pass-through sets key (then a role default gives way). */
int kafka_operator_sets(const pb_config_t *cfg, const char *key) {
    if (cfg)
        for (size_t i = 0; i < cfg->n_kafka; i++)
            if (!strcmp(cfg->kafka[i].key, key)) return 1;
    return 0;
}

/* The base: callbacks, bootstrap.servers, every kafka.* key. NULL with err naming a bad key. */
rd_kafka_conf_t *kafka_base_conf(const pb_config_t *cfg, const char *bootstrap, pb_err_t *err) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    if (kafka_conf_set(conf, "bootstrap.servers", bootstrap, err)) goto fail;
    /* After an outage librdkafka backs off reconnecting to each broker up to
     * reconnect.backoff.max.ms (10 s by default): publishes to partitions led by a broker still
     * in backoff waited that long after the cluster was back (0028). The Java client's 1 s; the
     * operator's kafka.reconnect.backoff.max.ms (applied below) wins. */
    if (kafka_conf_set(conf, "reconnect.backoff.max.ms", "1000", err)) goto fail;
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
rd_kafka_conf_t *kafka_role_conf(const pb_kafka_t *k, int producer, const kv_t *defaults,
                                 const kv_t *fixed, pb_err_t *err) {
    rd_kafka_conf_t *conf =
        producer ? rd_kafka_conf_dup_filter(k->base, NELEM(consumer_only), consumer_only)
                 : rd_kafka_conf_dup_filter(k->base, NELEM(producer_only), producer_only);
    for (const kv_t *d = defaults; d && d->key; d++)
        if (d->value && !kafka_operator_sets(k->cfg, d->key) &&
            kafka_conf_set(conf, d->key, d->value, err))
            goto fail;
    for (const kv_t *f = fixed; f && f->key; f++)
        if (f->value && kafka_conf_set(conf, f->key, f->value, err)) goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* librdkafka statistics (metrics.kafka.stats.interval.ms) of a shared client: its stats callback
 * (opaque-specific, below) parses the report on whichever thread polls the client and hands it to
 * k->kstats under its mutex. A role default: kafka.statistics.interval.ms overrides the interval,
 * and its reports feed the same series (the callback is set whoever sets the interval). */
int kafka_stats_conf(const pb_kafka_t *k, rd_kafka_conf_t *conf,
                     int (*cb)(rd_kafka_t *, char *, size_t, void *), pb_err_t *err) {
    char ms[32];
    int64_t v = k->cfg ? k->cfg->metrics_kafka_stats_interval_ms : 0;
    int operator_sets = kafka_operator_sets(k->cfg, "statistics.interval.ms");
    if (!v && !operator_sets) return 0;
    if (!operator_sets) {
        snprintf(ms, sizeof ms, "%lld", (long long)v);
        if (kafka_conf_set(conf, "statistics.interval.ms", ms, err))
            return err ? err->code : PB_ERR_INVALID;
    }
    rd_kafka_conf_set_stats_cb(conf, cb);
    return 0;
}

int kafka_offer_stats(pb_kafka_t *k, pb_kstats_role_t role, const char *json, size_t len) {
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
rd_kafka_t *kafka_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *role,
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
    rd_kafka_conf_t *conf =
        kafka_base_conf(cfg, *cfg->kafka_bootstrap ? cfg->kafka_bootstrap : "", err);
    if (!conf) return err ? err->code : PB_ERR_INVALID;
    rd_kafka_conf_destroy(conf);
    return 0;
}

/* ---- consumers ------------------------------------------------------------------------------ */

/* A consumer's configuration: the base, then librdkafka timings suited to the cluster (defaults:
 * the operator's kafka.* keys win), then what the broker's consumers rely on (fixed): their own
 * group, manual commits only, no partition-EOF events, and the given auto.offset.reset (NULL:
 * latest). fetch_wait NULL: 10 ms on the embedded cluster, 100 otherwise. */
rd_kafka_conf_t *kafka_consumer_conf(pb_kafka_t *k, const char *group, const char *client_id,
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
    return kafka_role_conf(k, 0, defaults, fixed, err);
}
