/*
 * kstats — librdkafka's statistics of the shared Kafka clients, for ops (DESIGN.md §8).
 *
 * Owns: parsing the statistics JSON librdkafka emits every `metrics.kafka.stats.interval.ms`
 * (its `statistics.interval.ms`) into a small fixed-size struct (no heap), and the hand-over of
 * the latest one per client role from the thread that polls the client to the loop thread that
 * renders /metrics (metrics.c, pb_metrics_render_kafka).
 * Must not: include librdkafka (kafka.c calls pb_kstats_offer with the JSON text), keep history,
 * or block: the mutex is held only to copy one struct.
 *
 * What is kept, per client: per Kafka broker (real brokers only: the logical GroupCoordinator and
 * internal brokers are left out) its connection state, round-trip time (average and p99 of the
 * last interval, microseconds in the JSON, seconds here) and cumulative request error and timeout
 * counts. Statistics are opt-in (the interval defaults to 0): with them on, librdkafka 2.0.2 keeps
 * two histograms per topic per client (~23 kB). The produce queue series do not come from here:
 * they are read from the producers themselves at each scrape (pb_kafka_produce_queue), so they
 * exist with statistics off and have one source either way.
 */
#ifndef PB_KSTATS_H
#define PB_KSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define PB_KSTATS_BROKERS_MAX 64 /* brokers kept per client; more are left out (counted) */
#define PB_KSTATS_NAME_MAX 128   /* broker host:port, client name; longer is truncated */

/* The shared clients whose statistics are kept (one slot each: a newer report replaces). */
typedef enum {
    PB_KSTATS_PUBLISH = 0, /* the publishing producer (publish.c) */
    PB_KSTATS_RELAY,       /* the routing producer (router.c) */
    PB_KSTATS_READER,      /* the fan-out reader, one consumer for every output port */
    PB_KSTATS_ROLES
} pb_kstats_role_t;

typedef struct pb_kstats_broker {
    char addr[PB_KSTATS_NAME_MAX]; /* "nodename": host:port */
    int32_t id;                    /* Kafka node id */
    int up;                        /* state "UP": connected (INIT: never needed, sparse) */
    int has_rtt;                   /* rtt.cnt > 0: round trips were measured in the interval */
    double rtt_avg_s, rtt_p99_s;   /* over the last statistics interval */
    uint64_t errors;               /* txerrs + rxerrs since the client started */
    uint64_t timeouts;             /* req_timeouts since the client started */
} pb_kstats_broker_t;

typedef struct pb_kstats_client {
    int valid;                     /* 0: no report for this role yet */
    char name[PB_KSTATS_NAME_MAX]; /* librdkafka's instance name, e.g. portbroker#producer-1 */
    double time_s;                 /* wall-clock time of the report, Unix seconds */
    size_t n_brokers;
    size_t brokers_left_out; /* beyond PB_KSTATS_BROKERS_MAX */
    pb_kstats_broker_t brokers[PB_KSTATS_BROKERS_MAX];
} pb_kstats_client_t;

/* A shared producer's queue, read from the producer itself when /metrics is scraped (kafka.h,
 * pb_kafka_produce_queue), not from statistics: there whether statistics are on or off. */
typedef struct pb_kstats_queue {
    int present;       /* 0: no such producer (the routing one exists from the first binding) */
    int64_t msgs;      /* rd_kafka_outq_len: records not yet reported delivered or failed */
    int64_t bytes;     /* value bytes of those records (librdkafka's msg_size counting) */
    int64_t max_msgs;  /* queue.buffering.max.messages the client got */
    int64_t max_bytes; /* queue.buffering.max.kbytes * 1024 the client got */
} pb_kstats_queue_t;

/* Parse one statistics JSON document (len bytes, not NUL-terminated) into *out (overwritten;
 * out->valid = 1). Returns 0, or PB_ERR_INVALID with err naming the field and why (out then
 * undefined). Pure: no heap beyond jansson's parse, any thread. */
int pb_kstats_parse(const char *json, size_t len, pb_kstats_client_t *out, pb_err_t *err);

/* The name of a role as the `client` label shows it: publish, relay, reader. */
const char *pb_kstats_role_name(pb_kstats_role_t r);

typedef struct pb_kstats pb_kstats_t;

/* A holder of the latest report per role. NULL out of memory. Caller owns: pb_kstats_destroy. */
pb_kstats_t *pb_kstats_new(void);

/* NULL is a no-op. No client may still report (destroy the Kafka clients first). */
void pb_kstats_destroy(pb_kstats_t *ks);

/* Parse json (len bytes) and make it role's latest report. Any thread (librdkafka's stats
 * callback). A document that does not parse keeps the previous report and is logged (rate-
 * limited). Returns 0 or the parse error's code. */
int pb_kstats_offer(pb_kstats_t *ks, pb_kstats_role_t role, const char *json, size_t len);

/* Copy the latest report of every role into out[0..PB_KSTATS_ROLES) (valid = 0 where none came
 * yet). Any thread. */
void pb_kstats_snapshot(pb_kstats_t *ks, pb_kstats_client_t out[PB_KSTATS_ROLES]);

#endif
