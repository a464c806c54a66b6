/*
 * kafka_int — what the kafka*.c files share and nothing else includes: the shared client's
 * structure, the wake-up pipe, and the helpers one role file offers the others (the configuration
 * builder, the error mapping, the clock).
 */
#ifndef PB_KAFKA_INT_H
#define PB_KAFKA_INT_H

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

/* The shared clients of the offset jobs and the lag probe (kafka_admin.c). */
typedef struct kafka_offsets kafka_offsets_t;

/* A wake pipe: either the caller's write end (own = 0) or a pipe of our own. */
typedef struct wake {
    int rd, wr, own;
} wake_t;

struct pb_kafka {
    rd_kafka_t *rk;
    pb_kafka_cluster_t *cluster; /* in-process embedded cluster, borrowed */
    const pb_config_t *cfg;      /* borrowed: kafka.* pass-through (kafka_operator_sets) */
    rd_kafka_conf_t *base;       /* every client's starting point (kafka_role_conf) */
    char *bootstrap;
    /* Atomic: ensure_topic decides them on a jobs worker while the loop reads them. */
    atomic_int embedded;
    atomic_int embedded_known; /* decided (the cluster answered a first metadata request) */
    wake_t wake;               /* the main queue's wake-ups */
    atomic_int reachable;      /* last verdict of pb_kafka_probe */
    /* The one topic pb_kafka_probe asks about once pb_kafka_probe_topic named it (NULL before):
     * set once by a jobs worker, read by the probe's, destroyed with k. */
    _Atomic(rd_kafka_topic_t *) probe_rkt;
    pb_kstats_t *kstats; /* latest statistics of the shared clients (kafka_stats_conf) */
    /* The produce queues' byte accounting (kafka_producer.c): value bytes of the shared client's
     * records produced and not yet reported (librdkafka's msg_size, without statistics). */
    atomic_llong queued_bytes;
    pb_kafka_producer_t *relay; /* the first relay producer made, for pb_kafka_produce_queue */
    char failure[768];        /* pb_kafka_failure's text, once the shared client failed for good */
    kafka_offsets_t *offsets; /* the offset reader and the group committers (kafka_admin.c) */
};

/* A message's delivery context: the caller's callback (malloc'd by pb_kafka_produce, or the
 * caller's storage with pb_kafka_produce_dr: then borrowed = 1 and it is not freed here). */
typedef pb_kafka_dr_t dr_ctx_t;

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

#define NELEM(a) (sizeof(a) / sizeof *(a))

/* librdkafka's log callback: its lines into ours at our level, warnings and errors rate-limited per
 * facility. */
void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* Set k = v on conf; PB_ERR_INVALID naming the key and librdkafka's reason. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, pb_err_t *err);

/* If client rk has failed for good (librdkafka's fatal error: an idempotent or transactional
 * producer that accepts nothing more), write the operator's sentence about it (the cause as Kafka
 * named it, what usually causes it, what to do) to out[n] and return 1; else 0. Any thread. */
int kafka_fatal_text(rd_kafka_t *rk, char *out, size_t n);

/* The failure of client rk as pb_kafka_failure gives it: NULL while it works; once it failed for
 * good, kafka_fatal_text written into cache[n] (a fatal error never clears) and cache returned. */
const char *kafka_failure_cached(rd_kafka_t *rk, char *cache, size_t n);

/* A librdkafka error as a PB_ERR_* code (0 for none). */
int kafka_map_err(rd_kafka_resp_err_t e);

/* Errors about the record itself (its size, its form) rather than the cluster's state. */
int kafka_permanent_err(rd_kafka_resp_err_t e);

/* The shared client's delivery reports: calls the message's context, frees an owned one. */
void kafka_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* Wake fd for queue q: librdkafka writes payload to fd when q goes from empty to non-empty (and
 * not again until q is served). Events already queued when this is called (a client's first
 * errors, e.g. "connection refused" while Kafka is down) would never be announced, and neither
 * would anything queued behind them: so the loop is woken once now, to serve whatever is there.
 * (A missed wake-up here left publishes waiting for their delivery reports after a start with
 * Kafka down; 0028.) */
void kafka_wake_on_events(rd_kafka_queue_t *q, int fd, const char *payload);

/* Whether the operator's kafka.* pass-through sets key (then a role default gives way). */
int kafka_operator_sets(const pb_config_t *cfg, const char *key);

/* The base: callbacks, bootstrap.servers, every kafka.* key. NULL with err naming a bad key. */
rd_kafka_conf_t *kafka_base_conf(const pb_config_t *cfg, const char *bootstrap, pb_err_t *err);

/* A role's configuration: the base minus the other type's keys, defaults[] (NULL-key terminated)
 * where the operator set nothing, fixed[] last. NULL with err set. */
rd_kafka_conf_t *kafka_role_conf(const pb_kafka_t *k, int producer, const kv_t *defaults,
                                 const kv_t *fixed, pb_err_t *err);

/* librdkafka statistics (metrics.kafka.stats.interval.ms) of a shared client: its stats callback
 * (opaque-specific, below) parses the report on whichever thread polls the client and hands it to
 * k->kstats under its mutex. A role default: kafka.statistics.interval.ms overrides it. */
int kafka_stats_conf(const pb_kafka_t *k, rd_kafka_conf_t *conf,
                     int (*cb)(rd_kafka_t *, char *, size_t, void *), pb_err_t *err);

/* Hand a statistics report of role to k->kstats (librdkafka frees json). Returns 0. */
int kafka_offer_stats(pb_kafka_t *k, pb_kstats_role_t role, const char *json, size_t len);

/* rd_kafka_new with a role's conf (taken on every path); logs the client's settings. */
rd_kafka_t *kafka_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *role,
                             pb_err_t *err);

/* Monotonic clock, milliseconds. */
int64_t kafka_now_ms(void);

/* A consumer's configuration: the base, then librdkafka timings suited to the cluster (defaults:
 * the operator's kafka.* keys win), then what the broker's consumers rely on (fixed): their own
 * group, manual commits only, no partition-EOF events, and the given auto.offset.reset (NULL:
 * latest). fetch_wait NULL: 10 ms on the embedded cluster, 100 otherwise. */
rd_kafka_conf_t *kafka_consumer_conf(pb_kafka_t *k, const char *group, const char *client_id,
                                     const char *fetch_wait, const char *offset_reset,
                                     pb_err_t *err);

/* A wake pipe: the caller's write end when given > 0 (nothing to drain or close), else a
 * non-blocking pipe of our own. */
int kafka_wake_init(wake_t *w, int given, pb_err_t *err);

/* Empty the pipe's read end (own pipes only): 1 when it held a wake-up. */
int kafka_wake_drain(wake_t *w);

/* Close what the pipe owns. */
void kafka_wake_close(wake_t *w);

/* Consumer settings shared by streams and the lag probe: the base, the embedded cluster's timing
 * facts as defaults (rebalances cost session.timeout.ms - 1 s there; empty fetches wait
 * fetch.wait.max.ms; fetch_wait, when not NULL, is the wait on any cluster), and fixed: the group,
 * manual commits only, earliest where nothing is committed. */
rd_kafka_conf_t *kafka_sub_consumer_conf(pb_kafka_t *k, const char *group, const char *client_id,
                                         const char *fetch_wait, pb_err_t *err);

/* The offset jobs' and lag probe's shared clients, none made yet (the first job that needs one
 * makes it, on its jobs worker). NULL out of memory. */
kafka_offsets_t *kafka_offsets_new(void);

/* Free them (after the jobs layer is gone: no job uses them). NULL is a no-op. Blocking (each
 * client's close), bounded. */
void kafka_offsets_destroy(kafka_offsets_t *o);

/* The offset reader: one consumer of the instance that never joins a group, made on first use
 * (through kafka_sub_consumer_conf: every kafka.* key), held by the caller until kafka_reader_put
 * (a held reader is never closed; pb_kafka_reader_reap replaces an unheld one that sat idle or
 * learnt too many topics, so callers never keep it between jobs). Look-ups (metadata,
 * watermarks, offsets for times, admin calls) may use it from any thread at once. NULL with err
 * set when librdkafka refuses it (nothing held). Jobs workers only (its creation starts
 * threads). */
rd_kafka_t *kafka_reader_get(pb_kafka_t *k, pb_err_t *err);

/* Give back a reader kafka_reader_get returned (NULL: a no-op). Any thread; never waits. */
void kafka_reader_put(pb_kafka_t *k, rd_kafka_t *rk);

/* Count topic among the held reader's topics: call before making a topic object of it
 * (rd_kafka_topic_new) outside kafka_reader_assign, which counts its own. */
void kafka_reader_learns(pb_kafka_t *k, const char *topic);

/* The reader assigned tl (absolute offsets) for reading, held: one caller at a time, until
 * kafka_reader_release (others wait). It serves every topic: check each message's topic and
 * partition. NULL with err set (nothing held). Jobs workers only; bound the reading by a
 * deadline, others wait for it. */
rd_kafka_t *kafka_reader_assign(pb_kafka_t *k, const rd_kafka_topic_partition_list_t *tl,
                                pb_err_t *err);

/* Unassign the reader, let the next caller have it, and give back the hold assign took. */
void kafka_reader_release(pb_kafka_t *k, rd_kafka_t *rk);

/* Both watermarks of topic [p] through client rk (any client: the reader, the shared one, a
 * consumer), bounded by timeout_ms even with the partition's leader down. 0, or PB_ERR_TIMEOUT /
 * PB_ERR_UNAVAILABLE naming the partition. */
int kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t p, int64_t *lo, int64_t *hi,
                     int timeout_ms, pb_err_t *err);

#endif
