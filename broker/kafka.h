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
pb_kafka_t *pb_kafka_new(const pb_config_t *cfg, const char *bootstrap,
                         pb_kafka_cluster_t *cluster, pb_err_t *err);

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

/* Partition count of a topic from fresh metadata (blocking, bounded), or -1 if absent. Does not
 * create the topic. */
int pb_kafka_partition_count(pb_kafka_t *k, const char *topic, int timeout_ms, pb_err_t *err);

/* Last verdict of the reachability watch (metadata answered within the last few seconds). */
int pb_kafka_reachable(const pb_kafka_t *k);

/* Number of messages waiting for delivery. */
int pb_kafka_outq_len(const pb_kafka_t *k);

/* librdkafka version string. */
const char *pb_kafka_version(void);

#endif
