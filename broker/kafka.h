/*
 * kafka — the only module that includes librdkafka (broker/kafka*.c, one file per role: see the
 * opening comment of kafka.c; their shared internals are in kafka_int.h).
 *
 * Owns: the embedded cluster (librdkafka's mock, in-process), the broker's Kafka client (an
 * idempotent acks=all producer), topic creation, the wake-up fd that tells the loop librdkafka has
 * events, and the reachability probe behind /readyz.
 *
 * The embedded cluster cannot create topics through the admin API (the mock never answers
 * CreateTopics: there is no controller). So an embedded cluster follows a control topic,
 * PB_KAFKA_CONTROL_TOPIC, where any process may write `create <topic> <partitions>`; the cluster
 * creates the topic with rd_kafka_mock_topic_create. A client that sees the control topic in the
 * cluster's metadata knows it talks to an embedded cluster and uses it; against a real cluster it
 * uses CreateTopics.
 * Must not: touch broker state from librdkafka's threads. Callbacks run on the loop thread, from
 * pb_kafka_serve.
 */
#ifndef PB_KAFKA_H
#define PB_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "kstats.h"

#define PB_KAFKA_CONTROL_TOPIC "_portbroker.embedded.control"

typedef struct pb_kafka_cluster pb_kafka_cluster_t;
typedef struct pb_kafka pb_kafka_t;

/* Start an embedded cluster of `brokers` brokers listening on 127.0.0.1 (ephemeral ports), with
 * its control topic followed by a thread of its own. Returns NULL with err set on failure. */
pb_kafka_cluster_t *pb_kafka_cluster_new(int brokers, pb_err_t *err);

/* "127.0.0.1:port,..." of the embedded cluster; owned by the cluster. */
const char *pb_kafka_cluster_bootstraps(const pb_kafka_cluster_t *c);

/* Create a topic on the embedded cluster directly. Existing topics are left as they are. */
int pb_kafka_cluster_create_topic(pb_kafka_cluster_t *c, const char *topic, int partitions,
                                  pb_err_t *err);

/* Fault injection: the next `count` (1..1000) requests of Kafka API `api` ("Produce",
 * "InitProducerId", ...: the table in kafka_embedded.c) answer the Kafka error named `ename` as
 * rd_kafka_err2name spells it ("CLUSTER_AUTHORIZATION_FAILED"). PB_ERR_INVALID naming what it takes
 * otherwise. The control topic's `fail <api> <count> <ename>` calls it. */
int pb_kafka_cluster_fail_requests(pb_kafka_cluster_t *c, const char *api, int count,
                                   const char *ename, pb_err_t *err);

/* Stop the control thread and the cluster. NULL is a no-op. */
void pb_kafka_cluster_destroy(pb_kafka_cluster_t *c);

/*
 * Check cfg's kafka.* pass-through against librdkafka without connecting: PB_ERR_INVALID naming the
 * first key librdkafka refuses (unknown property, bad value) and its reason, else 0. pb_kafka_new
 * does the same check; this one lets start-up fail before anything starts.
 *
 * Configuration of every client (pb_kafka_new and everything made from it): one base built once
 * from bootstrap.servers and every kafka.* key, copied per role (the other client type's keys left
 * out), then the role's defaults where the operator set nothing, then the role's fixed keys, which
 * no kafka.* key overrides: producers enable.idempotence=true, acks=all (the publishing producer
 * also partitioner=murmur2_random and message.timeout.ms from publish.timeout.ms); consumers their
 * own group.id, enable.auto.commit=false, enable.auto.offset.store=false,
 * enable.partition.eof=false and auto.offset.reset (streams also their prefetch bounds). At debug
 * level each client logs the settings librdkafka holds that differ from its defaults.
 */
int pb_kafka_conf_check(const pb_config_t *cfg, pb_err_t *err);

/*
 * The broker's Kafka client. `bootstrap` is the cluster to use; `cluster` the embedded one when it
 * is in this process (borrowed, may be NULL). cfg's kafka.* pass-through applies. Returns NULL with
 * err set (a bad kafka.* property names the property).
 */
pb_kafka_t *pb_kafka_new(const pb_config_t *cfg, const char *bootstrap, pb_kafka_cluster_t *cluster,
                         pb_err_t *err);

/* Flush outstanding deliveries (up to timeout_ms) and free the client. NULL is a no-op. Returns the
 * number of messages still undelivered at the deadline (lost to this process). */
int pb_kafka_destroy(pb_kafka_t *k, int timeout_ms);

/* Read end of the wake-up pipe: readable when librdkafka has events for the loop. */
int pb_kafka_wake_fd(const pb_kafka_t *k);

/* The latest librdkafka statistics of the shared clients (the publishing producer, the routing
 * producer and the fan-out reader), reported every metrics.kafka.stats.interval.ms (0: never).
 * Owned by k, valid until pb_kafka_destroy; pb_kstats_snapshot reads it from any thread. */
pb_kstats_t *pb_kafka_kstats(pb_kafka_t *k);

/* On the loop thread, when the wake fd is readable: drain the pipe and serve every queued event
 * (delivery reports, errors). Returns how many events were served. */
size_t pb_kafka_serve(pb_kafka_t *k);

/* pb_kafka_serve once a second, in case a wake-up was lost: returns how many events were served
 * although no wake-up was pending for them (0 when the pipe held one: the loop just had not got to
 * it yet). */
size_t pb_kafka_serve_missed(pb_kafka_t *k);

/* Is the client talking to an embedded (mock) cluster? Decided at pb_kafka_new. */
int pb_kafka_is_embedded(const pb_kafka_t *k);

/* Bootstrap servers in use. */
const char *pb_kafka_bootstrap(const pb_kafka_t *k);

/*
 * Make sure `topic` exists with `partitions` partitions. Blocking, bounded by timeout_ms:
 * thread-safe, for PB_JOB_TOPICS jobs and start-up, never on the serving loop (it never runs the
 * producer's delivery callbacks). An existing topic with a different
 * count is left alone and reported in *actual (may be NULL). Returns 0, PB_ERR_TIMEOUT or
 * PB_ERR_UNAVAILABLE with the reason.
 */
int pb_kafka_ensure_topic(pb_kafka_t *k, const char *topic, int partitions, int timeout_ms,
                          int *actual, pb_err_t *err);

/* One topic of pb_kafka_ensure_topics. */
typedef struct pb_kafka_topic_req {
    const char *topic; /* borrowed */
    int partitions;    /* wanted when it is created */
    int compact;       /* a log topic: cleanup.policy=compact on a real cluster */
    int actual;        /* out: its partition count (an existing topic keeps its own, logged) */
} pb_kafka_topic_req_t;

/*
 * pb_kafka_ensure_topic for t[0..n) together: one metadata look-up, the missing ones created in
 * one request (CreateTopics on a real cluster; one command each on an embedded one), then one wait
 * until metadata shows them all, bounded by timeout_ms for the whole list (hundreds of products at
 * start-up cost seconds, not one round of waits per topic). A name may appear twice. Blocking,
 * thread-safe: jobs and start-up only. Returns 0, PB_ERR_TIMEOUT (naming a topic still missing),
 * PB_ERR_UNAVAILABLE or PB_ERR_INVALID with the reason.
 */
int pb_kafka_ensure_topics(pb_kafka_t *k, pb_kafka_topic_req_t *t, size_t n, int timeout_ms,
                           pb_err_t *err);

/* The same for a log topic: cleanup.policy=compact when the broker creates it on a real cluster
 * (the embedded cluster has no compaction). */
int pb_kafka_ensure_log_topic(pb_kafka_t *k, const char *topic, int partitions, int timeout_ms,
                              pb_err_t *err);

/* Partition count of a topic from fresh metadata (blocking, bounded), or -1 if absent. Does not
 * create the topic. */
int pb_kafka_partition_count(pb_kafka_t *k, const char *topic, int timeout_ms, pb_err_t *err);

/* Partition counts of topics[0..n) from ONE fresh metadata answer (counts[i] = -1 when absent):
 * for callers checking many topics at once. Blocking, bounded. Does not create topics. Returns 0
 * or PB_ERR_UNAVAILABLE. */
int pb_kafka_partition_counts(pb_kafka_t *k, const char *const *topics, size_t n, int *counts,
                              int timeout_ms, pb_err_t *err);
/* Reachability: one metadata request (blocking, at most timeout_ms); records and returns the
 * verdict (1: the cluster answered with brokers) and logs each change. Thread-safe: the broker runs
 * it as a PB_JOB_PROBE job every second, never on the loop once serving. */
int pb_kafka_probe(pb_kafka_t *k, int timeout_ms);

/* From now on pb_kafka_probe asks about topic only (the registry log, once it exists: asking
 * about a topic that does not exist yet could make a cluster with auto.create.topics.enable
 * create it with its defaults). The first call wins; later ones do nothing. Thread-safe; the
 * handle lives until pb_kafka_destroy. Returns 0 or PB_ERR_NOMEM. */
int pb_kafka_probe_topic(pb_kafka_t *k, const char *topic);

/* Last verdict of pb_kafka_probe (1 right after pb_kafka_new when the cluster answered it). Any
 * thread; never waits. */
int pb_kafka_reachable(const pb_kafka_t *k);

/* NULL while the shared client works; once it failed for good (a fatal error of its idempotent
 * producer, e.g. the principal lacks IdempotentWrite: librdkafka accepts nothing more from it), the
 * operator's sentence: cause, usual reason, restart needed. Loop thread. */
const char *pb_kafka_failure(pb_kafka_t *k);

/* Number of messages waiting for delivery. */
int pb_kafka_outq_len(const pb_kafka_t *k);

/* The produce queue of the publishing producer (role PB_KSTATS_PUBLISH) or of the first routing
 * producer made on k (PB_KSTATS_RELAY), read now, without librdkafka statistics: records
 * (rd_kafka_outq_len: not yet reported delivered or failed, with the client's queued events),
 * their value bytes (the producer's own accounting, counted as librdkafka's msg_size), and the
 * maxima the client got (queue.buffering.max.messages, .max.kbytes x 1024, after kafka.*
 * overrides). Returns 1, or 0 with out->present = 0 when there is no such producer (the reader;
 * the routing one before the first binding). Loop thread (the routing producer is made and
 * destroyed there). */
int pb_kafka_produce_queue(pb_kafka_t *k, pb_kstats_role_t role, pb_kstats_queue_t *out);

/* ---- producing ---- */

/* Called on the loop thread (from pb_kafka_serve) once per produced message: code 0 with the
 * partition and offset Kafka acknowledged, or an error code (PB_ERR_UNAVAILABLE, PB_ERR_TIMEOUT,
 * PB_ERR_TOO_LARGE...) with reason. */
typedef void (*pb_kafka_dr_cb_t)(void *opaque, int code, const char *reason, int32_t partition,
                                 int64_t offset);

/* A header to attach: name and value (not NUL-terminated necessarily). */
typedef struct pb_kafka_header {
    const char *name;
    const void *value;
    size_t len;
} pb_kafka_header_t;

/*
 * Enqueue one message (copied; the caller keeps its buffers). partition -1 lets the partitioner
 * choose (murmur2 of the key, as the Java client). cb may be NULL. Returns 0, or PB_ERR_UNAVAILABLE
 * when the local queue is full (the caller answers 503), PB_ERR_TOO_LARGE, PB_ERR_INVALID for an
 * unknown topic/partition. On error cb is not called.
 */
int pb_kafka_produce(pb_kafka_t *k, const char *topic, int32_t partition, const void *key,
                     size_t klen, const void *val, size_t vlen, const pb_kafka_header_t *headers,
                     size_t n_headers, pb_kafka_dr_cb_t cb, void *opaque, pb_err_t *err);

/* Delivery context in the caller's storage, for pb_kafka_produce_dr: set cb and opaque, and
 * borrowed = 1 (the storage is the caller's; 0 is for the module's own allocations). */
typedef struct pb_kafka_dr {
    pb_kafka_dr_cb_t cb;
    void *opaque;
    int borrowed;
} pb_kafka_dr_t;

/* pb_kafka_produce without its per-message allocation: dr (with cb set) must stay valid until its
 * callback runs (only when this returns 0). For hot paths producing many messages per request. */
int pb_kafka_produce_dr(pb_kafka_t *k, const char *topic, int32_t partition, const void *key,
                        size_t klen, const void *val, size_t vlen, const pb_kafka_header_t *headers,
                        size_t n_headers, pb_kafka_dr_t *dr, pb_err_t *err);

/* ---- following a one-partition log (the registry) ---- */

typedef struct pb_kafka_log pb_kafka_log_t;

/* Called on the loop thread for each record, in offset order. */
typedef void (*pb_kafka_log_cb_t)(void *arg, int64_t offset, const void *key, size_t klen,
                                  const void *val, size_t vlen);

/* Follow partition 0 of topic from its first offset. low and high are its watermarks as the caller
 * looked them up off the loop (pb_kafka_watermarks); the replay is caught up once the follower
 * passed high. low < 0: look them up here, blocking up to timeout_ms (tests, tools). Returns NULL
 * with err set. */
pb_kafka_log_t *pb_kafka_log_new(pb_kafka_t *k, const char *topic, int64_t low, int64_t high,
                                 int timeout_ms, pb_kafka_log_cb_t cb, void *arg, pb_err_t *err);

/* Wake fd of the follower: readable when records are waiting; then call pb_kafka_log_serve. */
int pb_kafka_log_wake_fd(const pb_kafka_log_t *l);

/* Deliver every waiting record to the callback. Loop thread. */
void pb_kafka_log_serve(pb_kafka_log_t *l);

/* Has the follower applied every record that existed when it started? */
int pb_kafka_log_caught_up(const pb_kafka_log_t *l);

/* End offset the log had when the follower started (the replay target). */
int64_t pb_kafka_log_start_end(const pb_kafka_log_t *l);

/* Offset of the next record to apply. */
int64_t pb_kafka_log_position(const pb_kafka_log_t *l);

/* Stop following. NULL is a no-op. */
void pb_kafka_log_destroy(pb_kafka_log_t *l);

/* ---- fault injection (publish tests) ---- */

/* Take every broker of the embedded cluster down (up = 0: connections closed, nothing answers) or
 * bring them back (up = 1), as `portbroker kafka` does on SIGUSR1 / SIGUSR2. Returns 0 or
 * PB_ERR_INTERNAL. */
int pb_kafka_cluster_set_up(pb_kafka_cluster_t *c, int up, pb_err_t *err);

/* librdkafka version string. */
const char *pb_kafka_version(void);

/* ---- consumers ----
 * Group consumers of one topic, read-only queries of partitions (watermarks, committed offsets, the
 * last record), and a producer for relays (routing) that allocates nothing per message. Every
 * callback runs on the caller's thread (the loop thread) from the _serve/_wait/_destroy call that
 * names it; librdkafka's threads only write to the wake fd. */

#define PB_KAFKA_OFFSET_BEGINNING (-2)  /* the partition's first offset */
#define PB_KAFKA_OFFSET_END (-1)        /* the next record produced */
#define PB_KAFKA_OFFSET_STORED (-1000)  /* the group's committed offset, else auto.offset.reset */
#define PB_KAFKA_OFFSET_INVALID (-1001) /* "none": no committed offset */
/* Only from a rebalance callback, as the FIRST partition's offset: the assignment is deferred; the
 * owner calls pb_kafka_consumer_assign with every partition of it once it knows where each starts
 * (the group waits for that call). On a revocation: the partitions stay assigned until the owner
 * calls pb_kafka_consumer_unassign with every partition of it (the group waits for that call). */
#define PB_KAFKA_OFFSET_HOLD (-1002)

/* A consumed message, borrowed for the duration of the callback that receives it (copy what you
 * keep). key/value are NULL when absent. timestamp_ms is -1 when unknown. */
typedef struct pb_kafka_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp_ms;
    void *impl; /* kafka.c's: the librdkafka message */
} pb_kafka_msg_t;

/* The headers of m in wire order (duplicates kept): the first min(count, cap) go to out (name
 * NUL-terminated, value NULL for a null header); returns the count, so a caller with too small an
 * out grows it and asks again. One pass over librdkafka's list: the per-record path reads every
 * header through this. The pointers live as long as m's headers (until m is freed or its headers
 * are moved by pb_kafka_producer_forward). */
size_t pb_kafka_msg_headers(const pb_kafka_msg_t *m, pb_kafka_header_t *out, size_t cap);

/* The LAST header of m named name (Kafka headers may repeat; the last one wins, as Kafka Connect
 * reads them): 1 with value/len set (value NULL for a null header), or 0 when absent. */
int pb_kafka_msg_header(const pb_kafka_msg_t *m, const char *name, const void **value, size_t *len);

/* A partition and an offset (an absolute offset, or one of PB_KAFKA_OFFSET_*). */
typedef struct pb_kafka_tp {
    int32_t partition;
    int64_t offset;
    const char *topic; /* NULL: the consumer's one topic (conf.topic); set in rebalances */
} pb_kafka_tp_t;

typedef struct pb_kafka_consumer pb_kafka_consumer_t;

/* A batch of n >= 1 messages in offset order per partition. Borrowed until the callback returns. */
typedef void (*pb_kafka_batch_cb_t)(void *arg, const pb_kafka_msg_t *msgs, size_t n);

/*
 * The group gave (assigned = 1) or takes away (assigned = 0) the partitions parts[0..n) of the
 * consumer's topic. On assignment each offset is PB_KAFKA_OFFSET_STORED; the callback may set any
 * offset (absolute or PB_KAFKA_OFFSET_*) where consumption of that partition starts, or set
 * parts[0].offset to PB_KAFKA_OFFSET_HOLD to assign later with pb_kafka_consumer_assign (for
 * starts decided by a job: the callback must not wait on Kafka). On revocation
 * the partitions are still assigned while the callback runs: finish or abandon in-flight work
 * before returning (no message of them is delivered afterwards), or set parts[0].offset to
 * PB_KAFKA_OFFSET_HOLD to keep them until pb_kafka_consumer_unassign (messages of them may still
 * be delivered meanwhile: ignore them). n may be 0. Called from pb_kafka_consumer_serve and
 * pb_kafka_consumer_destroy (there a HOLD is not possible: the consumer is closing).
 */
typedef void (*pb_kafka_rebalance_cb_t)(void *arg, int assigned, pb_kafka_tp_t *parts, size_t n);

typedef struct pb_kafka_consumer_conf {
    const char *group;        /* group.id (required) */
    const char *topic;        /* the one topic subscribed (NULL: none until
                               * pb_kafka_consumer_subscribe) */
    int cooperative;          /* 1: partition.assignment.strategy=cooperative-sticky (a change of
                               * subscription or membership moves only the partitions it must) */
    const char *offset_reset; /* "earliest" or "latest" (NULL: latest): where a partition without
                               * a committed offset, or with one out of range, starts */
    const char *client_id;    /* NULL: "portbroker" */
    size_t batch_max;         /* most messages per batch callback (0: 1000) */
    int fetch_wait_ms;        /* fetch.wait.max.ms (0: 10 on an embedded cluster, 100 otherwise).
                               * The embedded cluster answers an empty fetch only after it, and
                               * does not answer early when records arrive: it is both the idle
                               * cost (requests/s) and the added latency of a quiet topic */
    int wake_fd;              /* > 0: write end of a pipe the consumer signals (several consumers
                               * may share one); 0 or -1: the consumer makes its own pipe, see
                               * pb_kafka_consumer_wake_fd */
    pb_kafka_batch_cb_t on_batch;         /* required */
    pb_kafka_rebalance_cb_t on_rebalance; /* NULL: start at committed offsets */
    void *arg;                            /* passed to both callbacks */
} pb_kafka_consumer_conf_t;

/*
 * A consumer in group conf->group subscribed to conf->topic, with the client settings the embedded
 * cluster needs (session.timeout.ms=6000, heartbeat.interval.ms=500, fetch.wait.max.ms=10; 100 on
 * a real cluster), manual commits only (enable.auto.commit=false), and cfg's kafka.* pass-through.
 * conf is copied. Does not block. Returns NULL with err set.
 */
pb_kafka_consumer_t *pb_kafka_consumer_new(pb_kafka_t *k, const pb_kafka_consumer_conf_t *conf,
                                           pb_err_t *err);

/* Replace the consumer's subscription with topics[0..n) (n may be 0: none). With a cooperative
 * consumer only the partitions of added or removed topics move. Returns 0 or PB_ERR_UNAVAILABLE. */
int pb_kafka_consumer_subscribe(pb_kafka_consumer_t *c, const char *const *topics, size_t n,
                                pb_err_t *err);
/* Read end of the consumer's own wake pipe (-1 when conf.wake_fd was given): readable when events
 * wait; then call pb_kafka_consumer_serve. */
int pb_kafka_consumer_wake_fd(const pb_kafka_consumer_t *c);

/* Serve every waiting event: rebalances (on_rebalance), commit results (failures logged) and
 * messages (on_batch, in batches). Drains the wake pipe when it is the consumer's own. Returns the
 * number of messages delivered. Loop thread; not re-entrant (do not call it from a callback). */
size_t pb_kafka_consumer_serve(pb_kafka_consumer_t *c);

/* The same, but delivers at most max messages (fewer when errors such as partition EOFs come
 * among them). Messages left in the queue do NOT signal the wake fd again: the caller
 * calls again when it has room (e.g. after its own deliveries woke it). */
size_t pb_kafka_consumer_serve_max(pb_kafka_consumer_t *c, size_t max);

/* Stop (pause = 1) or restart (0) fetching a partition: messages already delivered are not
 * repeated; fetching resumes after the last delivered one. Returns 0 or PB_ERR_INVALID when the
 * partition is not assigned. */
int pb_kafka_consumer_pause(pb_kafka_consumer_t *c, const char *topic, int32_t partition, int pause,
                            pb_err_t *err);

/* The same for parts[0..n) (offsets ignored) in one call, without checking that each is assigned
 * (the caller knows; librdkafka skips a partition it has no object for). librdkafka applies it
 * on each partition's broker thread and returns once they did (no network request): a paused
 * partition is left out of every fetch from then on (its prefetched records dropped, fetched again
 * from the last delivered one on resume). Its pause outlives a revocation and a new assignment of
 * it (librdkafka 2.0.2 keeps the application's pause flag on the partition object): resume what
 * was paused before it is given up. Returns 0, or PB_ERR_INVALID naming the first partition that
 * failed. Loop thread. */
int pb_kafka_consumer_pause_many(pb_kafka_consumer_t *c, const pb_kafka_tp_t *parts, size_t n,
                                 int pause, pb_err_t *err);

/* Move the fetch position of an assigned partition to offset (absolute or PB_KAFKA_OFFSET_*):
 * the next message delivered for it is at offset; messages fetched before are dropped. Does not
 * change a pause. Returns 0 or PB_ERR_INVALID (not assigned, bad offset). */
int pb_kafka_consumer_seek(pb_kafka_consumer_t *c, const char *topic, int32_t partition,
                           int64_t offset, pb_err_t *err);

/* Apply an assignment deferred by the rebalance callback (PB_KAFKA_OFFSET_HOLD): every partition
 * the callback was given, each with its start offset (absolute or PB_KAFKA_OFFSET_*). Loop thread.
 * Returns 0 or PB_ERR_INVALID (the group moved on meanwhile: it rebalances again). */
int pb_kafka_consumer_assign(pb_kafka_consumer_t *c, const pb_kafka_tp_t *parts, size_t n,
                             pb_err_t *err);

/* Give up partitions whose revocation the rebalance callback deferred (PB_KAFKA_OFFSET_HOLD): every
 * partition the callback (or callbacks) deferred. Non-blocking; loop thread. Returns 0 or
 * PB_ERR_INVALID (the group moved on meanwhile: it rebalances again). */
int pb_kafka_consumer_unassign(pb_kafka_consumer_t *c, const pb_kafka_tp_t *parts, size_t n,
                               pb_err_t *err);

/* Commit offsets (each the NEXT offset to consume of its partition) for the group, asynchronously;
 * failures are logged when served. Returns 0, or PB_ERR_UNAVAILABLE when it cannot be queued. */
int pb_kafka_consumer_commit(pb_kafka_consumer_t *c, const pb_kafka_tp_t *offsets, size_t n,
                             pb_err_t *err);

/* The group's committed offsets of parts[0..n) (partitions set by the caller), into each offset
 * (PB_KAFKA_OFFSET_INVALID when none). Blocking, bounded by timeout_ms. Returns 0,
 * PB_ERR_TIMEOUT or PB_ERR_UNAVAILABLE. */
int pb_kafka_consumer_committed(pb_kafka_consumer_t *c, pb_kafka_tp_t *parts, size_t n,
                                int timeout_ms, pb_err_t *err);

/* Low and high watermark (first offset, and one past the last) of a partition of the consumer's
 * topic. Blocking, bounded by timeout_ms: asks the partition's leader. Returns 0, PB_ERR_TIMEOUT or
 * PB_ERR_UNAVAILABLE. */
int pb_kafka_consumer_watermarks(pb_kafka_consumer_t *c, int32_t partition, int64_t *low,
                                 int64_t *high, int timeout_ms, pb_err_t *err);

/* The same from what the consumer last learned while fetching (no request): librdkafka keeps both
 * watermarks of every fetch answer. topic NULL: the consumer's own topic; a consumer of several
 * topics (the fan-out reader) names one. The figures are the last fetch answer's: fresh only
 * while the partition is assigned to this consumer and fetched (librdkafka keeps them after a
 * revocation and across a new assignment, so the caller decides whether to trust them); the low
 * one may be -1. Any thread (librdkafka looks the topic up by a linear search over the client's
 * topics). Returns 0, or -1 when nothing is known yet. */
int pb_kafka_consumer_watermarks_cached(pb_kafka_consumer_t *c, const char *topic,
                                        int32_t partition, int64_t *low, int64_t *high);

/* Events (mostly records) waiting in the consumer's queue for pb_kafka_consumer_serve: while there
 * are any, librdkafka may have stopped fetching (queued.max.messages.kbytes), so fetch figures may
 * be old. Any thread. */
size_t pb_kafka_consumer_queued(const pb_kafka_consumer_t *c);

/* Leave the group (the revocation is delivered to on_rebalance first, from this call) and free the
 * consumer. Commits nothing by itself. Blocking, bounded by session.timeout.ms. NULL is a no-op. */
void pb_kafka_consumer_destroy(pb_kafka_consumer_t *c);

/* Low/high watermarks of topic/partition through the broker's client. Blocking, bounded. */
int pb_kafka_watermarks(pb_kafka_t *k, const char *topic, int32_t partition, int64_t *low,
                        int64_t *high, int timeout_ms, pb_err_t *err);

/* Called with one message; borrowed until it returns. */
typedef void (*pb_kafka_msg_cb_t)(void *arg, const pb_kafka_msg_t *m);

/*
 * Read the LAST record (offset high watermark - 1) of each of partitions[0..n) of topic, with its
 * headers, through the instance's offset reader (a shared consumer outside any group, one caller
 * at a time; no client per call): cb once per partition that has a record. Empty partitions get no
 * call. Blocking, bounded by timeout_ms in all (for rebalance and start-up paths). Returns 0,
 * PB_ERR_TIMEOUT (some last records could not be read in time: the caller must not guess) or
 * PB_ERR_UNAVAILABLE.
 */
int pb_kafka_last_records(pb_kafka_t *k, const char *topic, const int32_t *partitions, size_t n,
                          int timeout_ms, pb_kafka_msg_cb_t cb, void *arg, pb_err_t *err);

/* pb_kafka_last_records over several topics: parts[i].topic and .partition name each partition
 * (offsets ignored); cb gets m->topic. One assignment of the offset reader for all. Blocking,
 * bounded. */
int pb_kafka_last_records_tps(pb_kafka_t *k, const pb_kafka_tp_t *parts, size_t n, int timeout_ms,
                              pb_kafka_msg_cb_t cb, void *arg, pb_err_t *err);

/* ---- relay producer ----
 * A producer of its own (idempotent, acks=all, cfg's kafka.* pass-through) for relays that forward
 * consumed records: one delivery callback for the whole producer and a caller's integer tag per
 * message (e.g. the origin offset), so producing allocates nothing of ours per message. Being its
 * own client, its in-flight messages can be waited for without waiting for anyone else's. */

typedef struct pb_kafka_producer pb_kafka_producer_t;

/* The outcome of one message: code 0 (acknowledged at partition/offset) or a PB_ERR_* with reason;
 * the topic, the tag given to pb_kafka_producer_send, the value's size and the time from send to
 * acknowledgement. */
typedef struct pb_kafka_delivery {
    int code;
    const char *reason;
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t tag;
    size_t value_len;
    int64_t latency_us;
    int permanent; /* code != 0 and the record itself is refused (too large, invalid record):
                    * sending it again cannot succeed. 0 for failures of the cluster (down,
                    * timeouts, leadership), which a retry can outlive. */
} pb_kafka_delivery_t;

typedef void (*pb_kafka_delivery_cb_t)(void *arg, const pb_kafka_delivery_t *d);

/* A new relay producer (idempotent, acks=all, linger.ms from router.linger.ms: 5 without a
 * config; queue.buffering.max.kbytes from router.queue.kbytes: 262144 without one; kafka.* keys
 * override both). wake_fd as in pb_kafka_consumer_conf_t. cb (required) gets every delivery. The
 * first one made on k is the `relay` of pb_kafka_produce_queue until it is destroyed (before k).
 * Returns NULL with err set. Loop thread. */
pb_kafka_producer_t *pb_kafka_producer_new(pb_kafka_t *k, const char *client_id, int wake_fd,
                                           pb_kafka_delivery_cb_t cb, void *arg, pb_err_t *err);

/* Read end of its own wake pipe, or -1 when wake_fd was given. */
int pb_kafka_producer_wake_fd(const pb_kafka_producer_t *p);

/* NULL while p works; once it failed for good (librdkafka's fatal error), the operator's sentence
 * as pb_kafka_failure gives it. Loop thread. */
const char *pb_kafka_producer_failure(pb_kafka_producer_t *p);

/* Serve waiting delivery reports (the callback). Returns how many. Loop thread. */
size_t pb_kafka_producer_serve(pb_kafka_producer_t *p);

/*
 * Enqueue one message to topic/partition (explicit partition >= 0, or -1 for the key's murmur2
 * partition) with headers[0..n_headers) in that order; everything is copied. tag is any value in
 * 0..2^62 handed back in the delivery. Returns 0 (the callback will be called exactly once),
 * PB_ERR_UNAVAILABLE when the local queue is full (serve deliveries and retry), PB_ERR_TOO_LARGE or
 * PB_ERR_INVALID (unknown topic or partition); on error no callback.
 */
int pb_kafka_producer_send(pb_kafka_producer_t *p, const char *topic, int32_t partition,
                           const void *key, size_t klen, const void *val, size_t vlen,
                           const pb_kafka_header_t *headers, size_t n_headers, int64_t tag,
                           pb_err_t *err);

/*
 * Forward consumed message m (borrowed, from a batch callback that has not returned) to the SAME
 * partition of topic with the same key, value val[0..vlen) (copied), and m's headers MOVED over
 * (not copied: m has no headers afterwards) minus every header named in drop[0..n_drop) (a name
 * ending in "." drops every header it starts), plus
 * add[0..n_add) (copied) appended. The fast path of a relay: no header is allocated twice. Never
 * waits: a full local queue is PB_ERR_UNAVAILABLE at once (no delivery callback runs from here).
 * Returns as pb_kafka_producer_send; on failure m keeps its headers minus the dropped ones
 * (re-read them: earlier header pointers are stale).
 */
int pb_kafka_producer_forward(pb_kafka_producer_t *p, const char *topic, const pb_kafka_msg_t *m,
                              const void *val, size_t vlen, const char *const *drop, size_t n_drop,
                              const pb_kafka_header_t *add, size_t n_add, int64_t tag,
                              pb_err_t *err);

/*
 * Commit offsets (each the next offset to read) of parts[0..n) (each with its topic) for consumer
 * group `group`, which no client of this process joins (Kafka's AlterConsumerGroupOffsets through
 * the producer's connection: a "simple" commit, refused while the group has live members).
 * Asynchronous: failures are logged when pb_kafka_producer_serve serves the answer. Returns 0 or
 * PB_ERR_NOMEM. Loop thread.
 */
int pb_kafka_producer_group_commit(pb_kafka_producer_t *p, const char *group,
                                   const pb_kafka_tp_t *parts, size_t n, pb_err_t *err);
/* Answers of group commits not yet served. */
int pb_kafka_producer_commits_pending(const pb_kafka_producer_t *p);
/* One group's committed offsets to look up: parts[0..n) with topic and partition set; offset gets
 * the committed offset or PB_KAFKA_OFFSET_INVALID (none, or the look-up failed). */
typedef struct pb_kafka_group_query {
    const char *group;
    pb_kafka_tp_t *parts;
    size_t n;
} pb_kafka_group_query_t;
/* Committed offsets of several groups at once (ListConsumerGroupOffsets through the broker's own
 * client, all requests in flight together; thread-safe: for jobs, whose owner may be gone).
 * Blocking, bounded by timeout_ms in all. Returns 0, or PB_ERR_TIMEOUT / PB_ERR_UNAVAILABLE when
 * some answers are missing (their offsets stay PB_KAFKA_OFFSET_INVALID). */
int pb_kafka_groups_committed(pb_kafka_t *k, pb_kafka_group_query_t *q, size_t n, int timeout_ms,
                              pb_err_t *err);
/* Messages sent and not yet delivered (acknowledged or failed). */
int pb_kafka_producer_inflight(const pb_kafka_producer_t *p);
/* Their bytes: value, key, header names and values of each. Loop thread. */
int64_t pb_kafka_producer_inflight_bytes(const pb_kafka_producer_t *p);

/* Serve deliveries until none is in flight or timeout_ms passed. Returns the count still in flight
 * (0: all delivered). Loop thread; the callback runs from here. */
int pb_kafka_producer_wait(pb_kafka_producer_t *p, int timeout_ms);

/* Wait (bounded) for in-flight messages, then free. Returns the count left undelivered. NULL: 0. */
int pb_kafka_producer_destroy(pb_kafka_producer_t *p, int timeout_ms);

/* ---- subscriber streams ----
 * One group consumer per HTTP subscriber stream (sub.c), and the lag probe behind subscription
 * stats and the lag metrics. Offsets are Kafka's: the next offset to read.
 */

typedef struct pb_kafka_stream pb_kafka_stream_t;

/* A consumed record, valid until pb_kafka_record_release. */
typedef struct pb_kafka_record {
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* Kafka timestamp, -1 when none */
    const void *key;      /* NULL when the record has no key */
    size_t klen;
    const void *value; /* NULL for a tombstone */
    size_t vlen;
    void *msg_;  /* librdkafka's message */
    void *own_;  /* or, for a copy that outlives its client: key and value bytes (owned) */
    void *hdrs_; /* ... and its detached headers (owned) */
} pb_kafka_record_t;

/* Header i of rec (0-based, in record order): 0 and name/value/len, or -1 past the last one. */
int pb_kafka_record_header(const pb_kafka_record_t *rec, size_t i, const char **name,
                           const void **value, size_t *len);

/* Free what rec holds (no-op when empty). */
void pb_kafka_record_release(pb_kafka_record_t *rec);

/*
 * The newest records of topic (partitions 0..partitions-1), at most cap of them, through the
 * instance's offset reader (shared, one caller at a time; no client per request): reads the last
 * cap offsets of every partition up to the high watermark seen at the start and keeps the newest
 * cap by Kafka timestamp (then offset) in out[0..*n), unordered; each holds a copy of its record
 * (headers included) until pb_kafka_record_release. *complete is 1 when every partition was read to
 * its end, 0 when timeout_ms (the whole call) ran out first (what was read is returned). Blocking:
 * for a worker thread, never the loop thread. Returns 0, or PB_ERR_TIMEOUT / PB_ERR_UNAVAILABLE
 * (watermarks unknown; *n is then 0).
 */
int pb_kafka_tail_records(pb_kafka_t *k, const char *topic, int partitions, size_t cap,
                          int timeout_ms, pb_kafka_record_t *out, size_t *n, int *complete,
                          pb_err_t *err);

/* Partitions assigned (assigned 1) or revoked (0) by a rebalance; called on the loop thread from
 * pb_kafka_stream_poll, before the assignment changes for revokes and after for assigns. */
typedef void (*pb_kafka_stream_rebalance_cb_t)(void *arg, int assigned, const int32_t *partitions,
                                               size_t n);

/*
 * Join consumer group `group` on `topic` (auto.offset.reset earliest, no auto commit, local queue
 * bounded to about queue_kbytes). wake_fd (write end of a pipe) gets a byte when the consumer has
 * something to poll after having had nothing. cfg's kafka.* pass-through applies, and
 * sub.fetch.wait.ms when set. Returns NULL with err set.
 */
pb_kafka_stream_t *pb_kafka_stream_new(pb_kafka_t *k, const pb_config_t *cfg, const char *group,
                                       const char *topic, int queue_kbytes, int wake_fd,
                                       pb_kafka_stream_rebalance_cb_t cb, void *arg, pb_err_t *err);

/*
 * Where the stream starts (call before the first pb_kafka_stream_poll): the FIRST time a partition
 * is assigned to this stream it starts at the offset given for it in start[0..n) (absolute or
 * PB_KAFKA_OFFSET_*), else at dflt (PB_KAFKA_OFFSET_STORED: the group's committed offset). Later
 * assignments of the same partition (after a rebalance) start at the committed offset, so a
 * rebalance neither rewinds nor skips. start is copied. Returns 0 or PB_ERR_NOMEM.
 */
int pb_kafka_stream_start_at(pb_kafka_stream_t *s, const pb_kafka_tp_t *start, size_t n,
                             int64_t dflt, pb_err_t *err);

/* ---- offset jobs ----
 * Slow offset work for subscriber streams and cursors, run by pb_kafka_job_run on a jobs worker
 * (sub.c submits them: jobs.h); when done it writes one byte to wake_fd (-1: none) and the loop
 * thread collects the result. No job has a client of its own: they share the instance's offset
 * reader (one consumer that never joins a group, made by the first job), and a commit that must
 * join its group takes one of at most sub.commit.clients group committers (cached per group,
 * closed after sub.commit.client.idle.ms unused).
 */
typedef struct pb_kafka_job pb_kafka_job_t;

/*
 * Positions for a stream start on topic: with offsets (n > 0), check that each offset lies within
 * its partition's kept records (first kept offset <= o <= next offset to be written) and return
 * them; with n == 0, the first offset of every partition whose timestamp is >= ts_ms (the
 * partition's end when none is). Errors (from pb_kafka_job_result): PB_ERR_INVALID naming the
 * partition, the offset and the bounds ("partition 0 holds offsets 0..41 (the next is 42); offset
 * 90 is beyond its end"), PB_ERR_UNAVAILABLE. Returns the job, or NULL with err set.
 */
pb_kafka_job_t *pb_kafka_job_positions(pb_kafka_t *k, const pb_config_t *cfg, const char *topic,
                                       const pb_kafka_tp_t *offsets, size_t n, int64_t ts_ms,
                                       int wake_fd, pb_err_t *err);

/*
 * Commit offsets[0..n) (each the next offset to read) of topic for consumer group `group` from a
 * client that is not one of the caller's streams, after the same checks as
 * pb_kafka_job_positions. First from outside the group, through the offset reader (Kafka accepts
 * that while the group has no members); when the group refuses a non-member, by joining it briefly
 * through a group committer (one rebalance of its members), committing, and leaving. Commit jobs
 * run on one worker (PB_JOB_CLOSE), so at most one committer is busy at a time. Errors:
 * PB_ERR_INVALID (bad offset or partition), PB_ERR_UNAVAILABLE, PB_ERR_TIMEOUT (no assignment in
 * time). Returns the job or NULL with err.
 */
pb_kafka_job_t *pb_kafka_job_commit(pb_kafka_t *k, const pb_config_t *cfg, const char *group,
                                    const char *topic, const pb_kafka_tp_t *offsets, size_t n,
                                    int wake_fd, pb_err_t *err);

/* Group committers open (*expired, when not NULL: how many of them are unused past
 * sub.commit.client.idle.ms). Never waits on the network: for the loop thread too. */
size_t pb_kafka_committers_open(pb_kafka_t *k, size_t *expired);

/* Close the group committers unused past sub.commit.client.idle.ms. Blocking (each close): on a
 * PB_JOB_CLOSE worker, the one that runs commits. */
void pb_kafka_committers_reap(pb_kafka_t *k);

/* The instance's offset reader (the shared consumer outside any group that offset jobs, stream
 * samples, last-record reads and the lag sweep's oldest-record reads use): whether it is open, how
 * many topics it has read (librdkafka 2.0.2 keeps a client's topics until the client is destroyed
 * and scans them all every second), and how many readers were closed so far, idle or for their
 * topics. */
typedef struct pb_kafka_reader_state {
    int open;
    size_t topics;
    unsigned long long closed_idle, closed_topics;
} pb_kafka_reader_state_t;

/* The reader's state into *st (NULL: not wanted). Returns 1 when pb_kafka_reader_reap would close
 * it now (nobody holds it, and it sat unused sub.reader.idle.ms, or it has read more than
 * sub.reader.topics.max topics and is at least sub.reader.idle.ms old), else 0. Never waits on
 * the network: for the loop thread too. */
int pb_kafka_reader_state(pb_kafka_t *k, pb_kafka_reader_state_t *st);

/* Close the offset reader when pb_kafka_reader_state says so; the next caller that needs one makes
 * a fresh one (with no topics). Blocking (the close, bounded): on a jobs worker, never the loop
 * thread. Safe against every user of the reader: a held reader is never closed. */
void pb_kafka_reader_reap(pb_kafka_t *k);

/* Do the job's Kafka work: blocking, bounded by the job's own timeouts (a commit that joins the
 * group: about 20 s). Call once, on a jobs worker, never on the loop thread. */
void pb_kafka_job_run(pb_kafka_job_t *j);

/* 1 once pb_kafka_job_run has finished (its result can be read). Any thread. */
int pb_kafka_job_done(const pb_kafka_job_t *j);

/* A finished job's outcome: 0 with *out and *n the resulting positions (owned by the job, valid
 * until pb_kafka_job_free), or its error code with err set. */
int pb_kafka_job_result(const pb_kafka_job_t *j, const pb_kafka_tp_t **out, size_t *n,
                        pb_err_t *err);

/* Free the job: not while pb_kafka_job_run runs (free it after, or if it never ran). NULL is a
 * no-op. */
void pb_kafka_job_free(pb_kafka_job_t *j);

/* Non-blocking: 1 and *out with the next record, or 0 when none is ready (rebalances are served
 * here). Consumer errors are logged. Loop thread. */
int pb_kafka_stream_poll(pb_kafka_stream_t *s, pb_kafka_record_t *out);

/* Pause (1) or resume (0) fetching on every assigned partition. Records prefetched for a paused
 * partition are dropped and fetched again from the position on resume. */
void pb_kafka_stream_pause(pb_kafka_stream_t *s, int pause);

/* Commit offsets[i] (next to read) of partitions[i] for the stream's group; async 1 returns at once
 * (failures are logged), 0 waits for the coordinator (bounded by a few seconds). Returns 0 or
 * PB_ERR_UNAVAILABLE / PB_ERR_CONFLICT (the partition is no longer this member's) with reason. */
int pb_kafka_stream_commit(pb_kafka_stream_t *s, const int32_t *partitions, const int64_t *offsets,
                           size_t n, int async, pb_err_t *err);

/*
 * Stop the stream: no more wake-ups and no more rebalance callbacks, at once (loop thread). Takes
 * ownership of s; returns the closer that finishes it (NULL out of memory: then the close ran here,
 * blocking). pb_kafka_closer_run then commits the given final offsets (n may be 0), leaves the
 * group and frees the consumer: blocking (a few seconds at most), on a PB_JOB_CLOSE worker; then
 * pb_kafka_closer_free on the loop.
 */
typedef struct pb_kafka_closer pb_kafka_closer_t;
pb_kafka_closer_t *pb_kafka_stream_close(pb_kafka_stream_t *s, const int32_t *partitions,
                                         const int64_t *offsets, size_t n);

/* Commit, leave the group, free the consumer (see above). Any one thread; blocking. */
void pb_kafka_closer_run(pb_kafka_closer_t *c);

/* Free the closer (after pb_kafka_closer_run; if it never ran, runs it first). NULL is a no-op. */
void pb_kafka_closer_free(pb_kafka_closer_t *c);

/* Lag probe: measures consumer groups, every call blocking (run it as a job: sub.c's sweeps are
 * PB_JOB_LAG jobs). One thread at a time. Committed offsets of any group come from
 * ListConsumerGroupOffsets (OffsetFetch to the group's coordinator): no client per group. */
typedef struct pb_kafka_lag pb_kafka_lag_t;

typedef struct pb_kafka_lag_part {
    int32_t partition;
    int64_t low, high;    /* watermarks: first offset kept, next offset to be written */
    int64_t committed;    /* the group's committed offset, -1 when none */
    int64_t oldest_ts_ms; /* Kafka timestamp of the oldest record the group has not consumed, -1
                           * when caught up (or unknown) */
} pb_kafka_lag_part_t;

/* A probe. Its look-ups go through the instance's shared client (watermarks, the groups' committed
 * offsets, metadata: offsets_for_times and the admin API make no topic object in a client, only
 * metadata-cache entries) and, to read a partition's oldest unconsumed record, the shared offset
 * reader (made by the first such read). Returns NULL out of memory. */
pb_kafka_lag_t *pb_kafka_lag_new(pb_kafka_t *k, const pb_config_t *cfg, pb_err_t *err);

/*
 * Measure group on topic: *n_parts gets the partition count (at most cap) and parts[] each
 * partition's watermarks, committed offset and oldest unconsumed record time (a group without a
 * commit has consumed nothing: its oldest is the first kept record). known[0..n_known), when
 * n_known is the topic's partition count, are the group's committed offsets as the caller knows
 * them (-1: none; this process's routers, which write them): then the group is not asked. Within
 * a sweep the partition count and the watermarks come from the sweep. Blocking, bounded by about
 * timeout_ms; never call it on the loop thread. Returns 0, PB_ERR_NOT_FOUND (no such topic) or
 * PB_ERR_UNAVAILABLE.
 */
int pb_kafka_lag_measure(pb_kafka_lag_t *l, const char *group, const char *topic,
                         const int64_t *known, size_t n_known, pb_kafka_lag_part_t *parts,
                         size_t cap, size_t *n_parts, int timeout_ms, pb_err_t *err);

/* A topic of a sweep and its partition count as the process knows it (-1: unknown). */
typedef struct pb_kafka_lag_topic {
    const char *topic;
    int partitions;
} pb_kafka_lag_topic_t;

/* Watermarks the caller knows without a request (the fan-out reader's last fetch answer). */
typedef struct pb_kafka_lag_wm {
    const char *topic;
    int32_t partition;
    int64_t low, high;
} pb_kafka_lag_wm_t;

/* What a sweep asked of Kafka (for the poller's debug line and the tests). */
typedef struct pb_kafka_lag_sweep_stats {
    size_t from_caller; /* partitions whose watermarks the caller gave (no request) */
    size_t asked;       /* partitions whose watermarks were asked (ListOffsets) */
    int metadata;       /* the cluster's metadata was asked (1) */
} pb_kafka_lag_sweep_stats_t;

/* Start a sweep over topics[0..n) (repeats allowed): partition counts are the caller's; the
 * cluster's metadata is asked only when one is unknown, and on every 100th sweep (a topic that
 * gained partitions). known[0..n_known) are watermarks the caller has without a request (borrowed
 * for the call); both watermarks of every other partition of those topics are asked in two
 * requests per broker (per 200 partitions), and the sweep's measurements reuse them. Per
 * measurement instead, a thousand bindings cost two thousand metadata requests and four thousand
 * ListOffsets requests a sweep. st (may be NULL) gets what was asked. Blocking, bounded by about
 * 3 x timeout_ms. */
void pb_kafka_lag_sweep(pb_kafka_lag_t *l, const pb_kafka_lag_topic_t *topics, size_t n,
                        const pb_kafka_lag_wm_t *known, size_t n_known, int timeout_ms,
                        pb_kafka_lag_sweep_stats_t *st);

/* End the sweep pb_kafka_lag_sweep began: give back the offset reader it held for its
 * oldest-record reads (from its first read to here, so one sweep's reads share one reader and its
 * metadata). A sweep that is not ended is ended by the next one or by pb_kafka_lag_destroy, but
 * keeps the reader from being closed until then. NULL is a no-op. */
void pb_kafka_lag_sweep_end(pb_kafka_lag_t *l);

/* The watermarks of topic[partition] the last sweep has (the caller's or asked of Kafka): 0 with
 * *low and *high set, or -1 when it has none (not a topic of the sweep, no answer). Same thread
 * as the sweep. */
int pb_kafka_lag_watermark(pb_kafka_lag_t *l, const char *topic, int32_t partition, int64_t *low,
                           int64_t *high);

/* Free the probe (ending its sweep). NULL is a no-op. */
void pb_kafka_lag_destroy(pb_kafka_lag_t *l);

/* ---- publish: one topic handle for a request's messages ----
 * pb_kafka_produce_dr names the topic per message, which librdkafka looks up under its client-wide
 * write lock each time; a request producing many messages to one topic opens a handle once. */
typedef struct pb_kafka_topic pb_kafka_topic_t;

/* A handle on topic (no request to Kafka; an unknown topic fails per message, as with
 * pb_kafka_produce_dr). NULL only out of memory. Close it with pb_kafka_topic_close; messages in
 * flight keep what they need. Any thread. */
pb_kafka_topic_t *pb_kafka_topic_open(pb_kafka_t *k, const char *topic);

/* Release a handle. NULL is a no-op. */
void pb_kafka_topic_close(pb_kafka_topic_t *t);

/* pb_kafka_produce_dr to t's topic (partition chosen by the partitioner), same contract. */
int pb_kafka_produce_topic_dr(pb_kafka_t *k, pb_kafka_topic_t *t, const void *key, size_t klen,
                              const void *val, size_t vlen, const pb_kafka_header_t *headers,
                              size_t n_headers, pb_kafka_dr_t *dr, pb_err_t *err);

#endif
