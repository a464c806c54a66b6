/*
 * kafka_embedded — the embedded cluster (librdkafka's mock brokers) for `portbroker kafka` and
 * `serve` without an external cluster: its topics, the control topic another process asks for
 * topics through, and the fault injection tests use.
 * Must not: be a client of the cluster it hosts (its own two handles are the cluster).
 */
#include "kafka_int.h"

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

/* Kafka API keys fault injection can name (the protocol's numbers; librdkafka has no public
 * table of them). */
static const struct {
    const char *name;
    int16_t key;
} fault_apis[] = {
    {"Produce", 0},          {"Fetch", 1},           {"ListOffsets", 2},
    {"Metadata", 3},         {"OffsetCommit", 8},    {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},      {"Heartbeat", 12},
    {"SyncGroup", 14},       {"InitProducerId", 22}, {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},         {"TxnOffsetCommit", 28},
};

/* `fail <Api> <count> <ERROR_NAME>`: the next count requests of that API answer the error (as
 * rd_kafka_err2name spells it, e.g. CLUSTER_AUTHORIZATION_FAILED). For tests only: an embedded
 * cluster is never a production one. */
int pb_kafka_cluster_fail_requests(pb_kafka_cluster_t *c, const char *api, int count,
                                   const char *ename, pb_err_t *err) {
    int16_t key = -1;
    for (size_t i = 0; i < NELEM(fault_apis); i++)
        if (!strcmp(fault_apis[i].name, api)) key = fault_apis[i].key;
    const struct rd_kafka_err_desc *descs;
    size_t n;
    rd_kafka_get_err_descs(&descs, &n);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; i < n; i++)
        if (descs[i].name && !strcmp(descs[i].name, ename)) e = descs[i].code;
    if (key < 0 || e == RD_KAFKA_RESP_ERR_NO_ERROR || count < 1 || count > 1000)
        return pb_err_set(err, PB_ERR_INVALID,
                          "'fail %s %d %s' ignored: the API must be one of Produce, Fetch, "
                          "Metadata, InitProducerId, ... (kafka_embedded.c), the count 1..1000 "
                          "and the error a Kafka error name such as NOT_ENOUGH_REPLICAS",
                          api, count, ename);
    for (int i = 0; i < count; i++)
        rd_kafka_mock_push_request_errors(c->mc, key, 1, e);
    pb_log(WARN, "embedded", "control: the next %d %s requests answer %s (fault injection)", count,
           api, ename);
    return 0;
}

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
    char api[64], ename[96];
    if (sscanf(buf, "fail %63s %d %95s", api, &parts, ename) == 3) {
        pb_err_t err = {0};
        if (pb_kafka_cluster_fail_requests(c, api, parts, ename, &err))
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
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    /* This handle only hosts the mock; it never connects anywhere (so no bootstrap warning). */
    if (kafka_conf_set(conf, "log_level", "3", err)) goto fail;
    /* The mock brokers' accepted sockets take this handle's socket settings: without
     * TCP_NODELAY, a response written while the connection's previous one is not yet
     * acknowledged waited in the kernel (Nagle) until the client's next request carried the
     * ACK, or its delayed-ACK timer fired (~40 ms). Two partitions led by the same broker,
     * produced to at once, so had one produce acknowledged a whole production interval late
     * (bench/README.md, "#15 e2e-nagle"). Kafka's brokers set TCP_NODELAY on their sockets. */
    if (kafka_conf_set(conf, "socket.nagle.disable", "true", err)) goto fail;
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
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    if (kafka_conf_set(conf, "bootstrap.servers", c->bootstraps, err) ||
        kafka_conf_set(conf, "group.id", "portbroker.embedded.control", err) ||
        kafka_conf_set(conf, "enable.auto.commit", "false", err) ||
        kafka_conf_set(conf, "fetch.wait.max.ms", "200", err))
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
