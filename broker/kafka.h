/*
 * kafka — the only module that includes librdkafka.
 *
 * Owns: the embedded cluster (librdkafka's mock, in-process), the broker's Kafka client (an
 * idempotent acks=all producer), topic creation, the wake-up fd that tells the loop librdkafka has
 * events, and the reachability watch behind /readyz.
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

/* Stop the control thread and the cluster. NULL is a no-op. */
void pb_kafka_cluster_destroy(pb_kafka_cluster_t *c);

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

/* On the loop thread, when the wake fd is readable: drain the pipe and serve every queued event
 * (delivery reports, errors). */
void pb_kafka_serve(pb_kafka_t *k);

/* Is the client talking to an embedded (mock) cluster? Decided at pb_kafka_new. */
int pb_kafka_is_embedded(const pb_kafka_t *k);

/* Bootstrap servers in use. */
const char *pb_kafka_bootstrap(const pb_kafka_t *k);

/*
 * Make sure `topic` exists with `partitions` partitions. Blocking, bounded by timeout_ms: for
 * start-up and admin paths, never on the loop's hot paths. An existing topic with a different
 * count is left alone and reported in *actual (may be NULL). Returns 0, PB_ERR_TIMEOUT or
 * PB_ERR_UNAVAILABLE with the reason.
 */
int pb_kafka_ensure_topic(pb_kafka_t *k, const char *topic, int partitions, int timeout_ms,
                          int *actual, pb_err_t *err);

/* The same for a log topic: cleanup.policy=compact when the broker creates it on a real cluster
 * (the embedded cluster has no compaction). */
int pb_kafka_ensure_log_topic(pb_kafka_t *k, const char *topic, int partitions, int timeout_ms,
                              pb_err_t *err);

/* Partition count of a topic from fresh metadata (blocking, bounded), or -1 if absent. Does not
 * create the topic. */
int pb_kafka_partition_count(pb_kafka_t *k, const char *topic, int timeout_ms, pb_err_t *err);

/* Last verdict of the reachability watch (metadata answered within the last few seconds). */
int pb_kafka_reachable(const pb_kafka_t *k);

/* Number of messages waiting for delivery. */
int pb_kafka_outq_len(const pb_kafka_t *k);

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

/* Follow partition 0 of topic from its first offset. Blocks (bounded by timeout_ms) to read the
 * end offset, which decides when the replay is caught up. Returns NULL with err set. */
pb_kafka_log_t *pb_kafka_log_new(pb_kafka_t *k, const char *topic, int timeout_ms,
                                 pb_kafka_log_cb_t cb, void *arg, pb_err_t *err);

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

#endif
