/*
 * metrics — what the broker counts, per port and process-wide, and how it is shown (DESIGN.md §8).
 *
 * Owns: the per-port counters, timestamps and histograms the data plane updates (publish, router,
 * subscriber streams), process-wide histograms and counters, and rendering them as Prometheus text.
 * Updating is plain arithmetic on a struct the caller already holds (pb_metrics_port is looked up
 * once, when a router or a request starts), so counting costs next to nothing on hot paths.
 * Must not: do I/O or talk to Kafka; the loop thread owns a pb_metrics_t (not thread-safe).
 * The glue (the GET /metrics handler, the 1 s freshness timer, schema-check counting) is in
 * exporter.c.
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

#include "buf.h"
#include "descriptor.h"
#include "kstats.h"
#include "proc.h"

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
    PB_METRICS_DLQ_TOO_LARGE,      /* the input topic refuses the routed copy for good (its size,
                                    * or another error about the record itself) */
    PB_METRICS_DLQ_UNDELIVERABLE,  /* not even a truncated dead letter was taken: skipped, logged
                                    * with its origin position (nothing written anywhere) */
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
    uint64_t duplicates;     /* output port: records published again under a remembered id */
    double last_record_ts;   /* event time of the newest record seen, Unix seconds; 0: none yet */
    double last_received_ts; /* when the broker last received a record for it; 0: none yet */
    pb_metrics_hist_t e2e;   /* event time -> arrival in this port's topic, seconds */
    int fresh; /* 1 when now - last_record_ts <= the freshness SLO, as of the last pb_metrics_tick
                */
} pb_metrics_port_t;

typedef struct pb_metrics pb_metrics_t;

/* A new, empty set of metrics, or NULL out of memory. */
pb_metrics_t *pb_metrics_new(void);

/* Free everything. NULL is a no-op. Pointers from pb_metrics_port die with it. */
void pb_metrics_destroy(pb_metrics_t *m);

/* Switch counting on (the default) or off (config metrics.enabled = false, for overhead
 * benchmarks): off, pb_metrics_port returns NULL so the data plane counts nothing, and the
 * process-wide functions do nothing. Set it before the data plane looks ports up. */
void pb_metrics_set_enabled(pb_metrics_t *m, int on);
int pb_metrics_enabled(const pb_metrics_t *m);

/*
 * The series of port `fqn`, created on first use (the e2e buckets then include freshness_slo_s
 * when > 0). The pointer stays valid until pb_metrics_destroy: ports are never removed (a deleted
 * port's counters stay, as Prometheus counters must not go back; it is no longer rendered, and
 * counts again where it stopped if it is declared again). A later call with a freshness SLO that
 * is not yet a bucket bound adds the bound (while there is room): its bucket starts empty, so
 * observations made before count in the next bound up. NULL out of memory or when disabled.
 */
pb_metrics_port_t *pb_metrics_port(pb_metrics_t *m, const char *fqn, double freshness_slo_s);

/* For readers (status, lineage): the series of port fqn, or a shared all-zero series when it has
 * none yet or metrics are disabled (never update through it). Never NULL; creates nothing. */
const pb_metrics_port_t *pb_metrics_port_get(const pb_metrics_t *m, const char *fqn);

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

/* A record reached the port's topic `seconds` after its event time (the e2e histogram). Negative
 * (an event time in the future, clocks apart) counts as 0, so the histogram's sum never falls. */
static inline void pb_metrics_e2e(pb_metrics_port_t *p, double seconds) {
    if (!p) return;
    pb_metrics_hist_observe(&p->e2e, seconds > 0 ? seconds : 0);
}

/* One record sent to the dead-letter topic of an output port (also count it as out/dlq). */
static inline void pb_metrics_dlq(pb_metrics_port_t *p, pb_metrics_dlq_reason_t r) {
    if (!p) return;
    p->dlq[r]++;
}

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

/* ---- Freshness and rendering (pure: the caller passes the products and the clock) ---------- */

/*
 * Evaluate every declared port's freshness at `now` (Unix seconds): fresh = 1 when the port has a
 * freshness SLO, has had a record, and now - last_record_ts <= SLO; else 0 (a port that never had
 * a record is stale). Creates the series of ports not seen yet, so every declared port is counted
 * from start-up. products: the registry's (borrowed). Called by the exporter when products are
 * stored and before each rendering (freshness as of the scrape).
 */
void pb_metrics_tick(pb_metrics_t *m, const pb_product_t *const *products, size_t n_products,
                     double now);

/*
 * Append the Prometheus text exposition (format 0.0.4) of every port of `products` (the
 * registry's, borrowed), of the subscriptions' lag and of the process-wide series to out.
 * Families, types and labels are DESIGN.md §8's; every port series carries product (the product
 * name; "{namespace}.{name}" when two products share name and major), major, port (the port name)
 * and kind ("output"/"input"). What a port exports:
 * - always: port_info, records_total for every direction/outcome its kind uses (output: in/ok,
 *   in/rejected, in/failed, out/ok, out/dlq; input: in/ok, out/ok; any other that counted), bytes
 *   in/out, last record/received timestamps (0 until the first record), the e2e histogram; output
 *   ports dlq_records_total for every reason;
 * - per SLO the descriptor states, one gauge: freshness_slo_seconds and fresh (freshness),
 *   throughput_min_records_per_second (throughput.min), rejects_max_ratio (rejects.max). A port
 *   without an SLO exports neither the gauge nor `fresh`: with no objective there is nothing to
 *   alert on, and the shipped rules match only ports that have the gauge.
 * Ports of deleted products are not rendered. Lag series: those measured at least once whose
 * input port is declared. version: portbroker_build_info's version label.
 * Returns 0, or PB_ERR_NOMEM (out may then hold part of the text).
 */
int pb_metrics_render(const pb_metrics_t *m, const pb_product_t *const *products, size_t n_products,
                      const char *version, pb_buf_t *out);
/*
 * The same text rendered in slices, so that no single loop turn holds a large scrape (1,000
 * bindings: ~77,000 lines, 8.5 MB). pb_metrics_scrape_begin takes what the text needs of
 * `products` (label text, SLOs, which series) so the registry may change or free them before the
 * next slice; the series themselves are read when their slice renders (counters stay monotonic;
 * each histogram is rendered whole in one slice). m must outlive the scrape. Returns 0 with *out
 * set, or PB_ERR_NOMEM. Loop thread (m is not thread-safe).
 */
typedef struct pb_metrics_scrape pb_metrics_scrape_t;
int pb_metrics_scrape_begin(const pb_metrics_t *m, const pb_product_t *const *products,
                            size_t n_products, const char *version, pb_metrics_scrape_t **out);

/* Append the next slice, at least one line and about `budget` bytes (whole lines: it stops at the
 * first line that reaches the budget), to out. *done = 1 once the whole text is out (then further
 * calls append nothing). Returns 0 or PB_ERR_NOMEM (out may then hold part of a slice). */
int pb_metrics_scrape_step(pb_metrics_scrape_t *s, size_t budget, pb_buf_t *out, int *done);

/* Make a finished (or unfinished) scrape render again from the start, with the snapshot it took
 * (no walk of the products: at 1,000 bindings that walk, cold in the cache, was most of a
 * scrape's first turn): every port's freshness evaluated at `now` as pb_metrics_tick does, and
 * the lag series made since then added. Only while the declared products are those it was begun
 * with (the exporter drops it when a registry record is applied). Returns 0 or PB_ERR_NOMEM. */
int pb_metrics_scrape_rewind(pb_metrics_scrape_t *s, double now);

/* Free. NULL is a no-op. */
void pb_metrics_scrape_destroy(pb_metrics_scrape_t *s);

/* ---- number text (exposed for tests) ---- */

/* Room for any number these write, NUL included. */
#define PB_METRICS_NUM_MAX 32

/* v in decimal into out (NUL-terminated); returns its length. */
size_t pb_metrics_fmt_u64(char *out, uint64_t v);

/* A double as Prometheus reads it back: "NaN", "+Inf", "-Inf"; an integral value below 1e15 as
 * "%.0f" would ("-0" for negative zero); else the shortest of "%.15g", "%.16g", "%.17g" that reads
 * back to v (strtod). The same text printf gives, without printf for the common values (integers,
 * and decimals of at most 15 significant digits between 1e-4 and 1e15). Returns its length. */
size_t pb_metrics_fmt_double(char *out, double v);

/* ---- reading the lag series (the /v1/status page, #6) ---- */

/* Number of lag series; pb_metrics_lag_at(m, i) for i < n, in creation order. Borrowed, stable
 * until pb_metrics_destroy. */
size_t pb_metrics_lag_count(const pb_metrics_t *m);
const pb_metrics_lag_t *pb_metrics_lag_at(const pb_metrics_t *m, size_t i);

/* Append the process_* families of Prometheus client libraries (CPU seconds, resident and
 * virtual memory, open and maximum fds, start time) and portbroker_threads to out. A figure that
 * could not be read (negative) is left out. Returns 0, or -1 when out of memory. Pure. */
int pb_metrics_render_proc(const pb_proc_stats_t *st, pb_buf_t *out);

/* Append the routers' flow-control gauges: routed records in flight (produced, not yet
 * acknowledged), their bytes (values, keys, headers), the most bytes in flight since start, and
 * the bound on them (router.inflight.kbytes). hold_records: the in-flight count at which the
 * routers stop taking records (PB_ROUTER_HOLD_AT), named in the first gauge's help. Returns 0 or
 * -1 out of memory. */
int pb_metrics_render_router(int64_t records, int64_t bytes, int64_t peak_bytes, int64_t max_bytes,
                             int64_t hold_records, pb_buf_t *out);

/* Append the parking of idle output partitions (router.park.idle.ms): partitions the fan-out
 * reader holds, how many of them are parked (not fetched), and a counter of parked partitions
 * read again by reason (label `reason`: publish, sweep, binding; unparks[0..n_reasons) in that
 * order, names given). Returns 0 or -1 out of memory. Pure. */
int pb_metrics_render_router_parked(uint64_t read_parts, uint64_t parked, const uint64_t *unparks,
                                    const char *const *reasons, size_t n_reasons, pb_buf_t *out);

/* Append the publish dedupe table's size (ids remembered, bytes they take): two gauges. Returns 0
 * or -1 out of memory. */
int pb_metrics_render_dedupe(size_t ids, size_t bytes, pb_buf_t *out);

/* Append the series of the shared Kafka clients that need no statistics: portbroker_kafka_reachable
 * (reachable 1 or 0: the reachability probe's last verdict; negative leaves it out, no Kafka) and
 * the produce queue series (portbroker_kafka_produce_queue_{messages,bytes,max_messages,max_bytes},
 * label `client` = publish|relay) of the producers present in q[0..PB_KSTATS_ROLES) (depths
 * below 0 render as 0; a maximum not above 0, unknown, is left out: no saturation against 0).
 * Returns 0, or -1 out of memory. Pure; any thread. */
int pb_metrics_render_kafka_clients(int reachable, const pb_kstats_queue_t q[PB_KSTATS_ROLES],
                                    pb_buf_t *b);

/* Append the offset reader's series (pb_kafka_reader_state): portbroker_kafka_offset_reader_topics
 * (topics the open reader has read and librdkafka scans every second, 0 when none is open) and
 * portbroker_kafka_offset_reader_closed_total{reason="idle|topics"}. Returns 0, or -1 out of
 * memory. Pure; any thread. */
int pb_metrics_render_offset_reader(size_t topics, unsigned long long closed_idle,
                                    unsigned long long closed_topics, pb_buf_t *b);

/* Append the librdkafka statistics series of the shared Kafka clients (portbroker_kafka_*, label
 * `client` = publish|relay|reader, per broker also `broker_id` and `broker`) for the reports in
 * c[0..PB_KSTATS_ROLES) (pb_kstats_snapshot): the report's time and the per-broker series;
 * nothing when no report came (statistics off, metrics.kafka.stats.interval.ms = 0, the default).
 * RTT only for brokers with round trips in the last interval. Returns 0, or -1 out of memory.
 * Pure; any thread. */
int pb_metrics_render_kafka(const pb_kstats_client_t c[PB_KSTATS_ROLES], pb_buf_t *b);

#endif
