/*
 * metrics — what the broker counts, per port and process-wide, and how it is shown (DESIGN.md §8).
 *
 * Owns: the per-port counters, timestamps and histograms the data plane updates (publish, router,
 * subscriber streams), process-wide histograms and counters, and rendering them as Prometheus text.
 * Updating is plain arithmetic on a struct the caller already holds (pb_metrics_port is looked up
 * once, when a router or a request starts), so counting costs next to nothing on hot paths.
 * Must not: do I/O or talk to Kafka; the loop thread owns a pb_metrics_t (not thread-safe).
 *
 * Meaning of direction and outcome, per port kind:
 * - output port, direction "in": records published to the port (HTTP publish): outcome "ok" once
 *   Kafka acknowledged, "rejected" when validation refused the record (422), "failed" when Kafka
 *   did not take it (207/503).
 * - output port, direction "out": records routed out of the port's topic, once per binding:
 *   "ok" projected and produced to the input port's topic, "dlq" sent to the dead-letter topic.
 * - input port, direction "in": records routed into the port's topic ("ok" once acknowledged).
 * - input port, direction "out": records delivered to HTTP subscriber streams ("ok").
 */
#ifndef PB_METRICS_H
#define PB_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { PB_METRICS_IN = 0, PB_METRICS_OUT = 1, PB_METRICS_DIRS } pb_metrics_dir_t;

typedef enum {
    PB_METRICS_OK = 0,
    PB_METRICS_REJECTED,
    PB_METRICS_DLQ,
    PB_METRICS_FAILED,
    PB_METRICS_OUTCOMES
} pb_metrics_outcome_t;

/* Why a record went to the dead-letter topic (the `reason` label). */
typedef enum {
    PB_METRICS_DLQ_DECODE = 0,     /* not a Confluent frame, or bytes that do not decode */
    PB_METRICS_DLQ_UNKNOWN_SCHEMA, /* the frame names a schema id the registry does not hold */
    PB_METRICS_DLQ_PROJECTION,     /* decoded, but cannot be resolved into the reader schema */
    PB_METRICS_DLQ_REASONS
} pb_metrics_dlq_reason_t;

/* "in"/"out", "ok"/"rejected"/"dlq"/"failed", "decode"/"unknown_schema"/"projection". */
const char *pb_metrics_dir_name(pb_metrics_dir_t d);
const char *pb_metrics_outcome_name(pb_metrics_outcome_t o);
const char *pb_metrics_dlq_reason_name(pb_metrics_dlq_reason_t r);

#define PB_METRICS_MAX_BUCKETS 32

/* A cumulative-at-render histogram: counts[i] counts observations <= bounds[i] and > bounds[i-1];
 * counts[n_bounds] those above the last bound. */
typedef struct pb_metrics_hist {
    double bounds[PB_METRICS_MAX_BUCKETS];
    size_t n_bounds;
    uint64_t counts[PB_METRICS_MAX_BUCKETS + 1];
    uint64_t count;
    double sum;
} pb_metrics_hist_t;

/* Record one observation (seconds). */
void pb_metrics_hist_observe(pb_metrics_hist_t *h, double v);

/* One port's series. Fields are updated directly by the data plane through the functions below;
 * read them freely. */
typedef struct pb_metrics_port {
    char *fqn; /* port URN (owned) */
    uint64_t records[PB_METRICS_DIRS][PB_METRICS_OUTCOMES];
    uint64_t bytes[PB_METRICS_DIRS];
    uint64_t dlq[PB_METRICS_DLQ_REASONS];
    double last_record_ts;   /* event time of the newest record seen, Unix seconds; 0: none yet */
    double last_received_ts; /* when the broker last received a record for it; 0: none yet */
    pb_metrics_hist_t e2e;   /* event time -> arrival in this port's topic, seconds */
} pb_metrics_port_t;

typedef struct pb_metrics pb_metrics_t;

/* A new, empty set of metrics, or NULL out of memory. */
pb_metrics_t *pb_metrics_new(void);

/* Free everything. NULL is a no-op. Pointers from pb_metrics_port die with it. */
void pb_metrics_destroy(pb_metrics_t *m);

/*
 * The series of port `fqn`, created on first use (the e2e buckets then include freshness_slo_s
 * when > 0). The pointer stays valid until pb_metrics_destroy: ports are never removed (a deleted
 * port's counters stay, as Prometheus counters must not go back). NULL only out of memory.
 */
pb_metrics_port_t *pb_metrics_port(pb_metrics_t *m, const char *fqn, double freshness_slo_s);

/* Count n records of `bytes` bytes in total. */
static inline void pb_metrics_count(pb_metrics_port_t *p, pb_metrics_dir_t d,
                                    pb_metrics_outcome_t o, uint64_t n, uint64_t bytes) {
    if (!p) return;
    p->records[d][o] += n;
    p->bytes[d] += bytes;
}

/* A record with event time event_ts was received at recv_ts (Unix seconds). Keeps the newest. */
static inline void pb_metrics_seen(pb_metrics_port_t *p, double event_ts, double recv_ts) {
    if (!p) return;
    if (event_ts > p->last_record_ts) p->last_record_ts = event_ts;
    if (recv_ts > p->last_received_ts) p->last_received_ts = recv_ts;
}

/* One record sent to the dead-letter topic of an output port (also count it as out/dlq). */
static inline void pb_metrics_dlq(pb_metrics_port_t *p, pb_metrics_dlq_reason_t r) { p->dlq[r]++; }

/*
 * Lag of one consumer group on an input port's subscription, kept by whoever measures it (the
 * lag poller) and rendered as portbroker_subscription_lag_{records,seconds}{subscriber=group}
 * with the input port's labels. Two groups per binding: the router's
 * (`portbroker.route.{input topic}`, records of the output topic not yet routed) and the HTTP
 * subscribers' (`portbroker.sub.{input topic}`, records of the input topic not yet committed).
 * Seconds: age of the oldest record not yet consumed (0 when caught up); it keeps growing while
 * the subscriber is down.
 */
typedef struct pb_metrics_lag {
    char *port;       /* input-port URN (owned) */
    char *subscriber; /* consumer group (owned) */
    int known;        /* 0 until measured once */
    double records;   /* summed over partitions */
    double seconds;   /* max over partitions */
} pb_metrics_lag_t;

/* The lag series of (input port, consumer group), created on first use; stable until
 * pb_metrics_destroy. NULL only out of memory. */
pb_metrics_lag_t *pb_metrics_lag(pb_metrics_t *m, const char *port_fqn, const char *subscriber);

/* Process-wide: Kafka produce duration (enqueue -> acknowledgement), seconds. */
void pb_metrics_produce_duration(pb_metrics_t *m, double seconds);

/* Process-wide: one schema compatibility check with its result (1 compatible, 0 not) at level
 * (a PB_COMPAT level name such as "BACKWARD"). */
void pb_metrics_schema_check(pb_metrics_t *m, int compatible, const char *level);

/* ---- reading the lag series (the /v1/status page, #6) ---- */

/* Number of lag series; pb_metrics_lag_at(m, i) for i < n, in creation order. Borrowed, stable
 * until pb_metrics_destroy. */
size_t pb_metrics_lag_count(const pb_metrics_t *m);
const pb_metrics_lag_t *pb_metrics_lag_at(const pb_metrics_t *m, size_t i);

#endif
