/*
 * router — routes every record of an output-port topic into the input-port topic of each binding
 * from that port, exactly once (DESIGN.md §4 "Route", §6).
 *
 * Owns: fan-out routing for the whole process. One shared reader (a cooperative consumer in group
 * `portbroker.fanout`, subscribed to every bound output topic) reads each output partition once
 * per instance and hands every record to each binding of its topic; one shared relay producer
 * writes every binding's copies and dead letters. Neither grows with ports or bindings. Per
 * binding: the per-record path (Confluent frame -> writer schema by id -> resolution into the
 * binding's reader schema -> frame with the reader id -> lineage and contract headers -> same
 * partition of the input topic), dead letters with Kafka Connect's error headers, the resume
 * decision, commits of acknowledged offsets to the binding's own group
 * `portbroker.route.{input topic}` (which no client joins: lag reads it), and the routing metrics.
 * Must not: speak librdkafka (kafka.c), change the registry, or block the loop except on
 * rebalances and binding starts (bounded).
 *
 * Exactly once without transactions, per binding: a partition's routed records reach the input
 * topic in order (idempotent producer, same partition), each carrying its origin offset
 * (mesh.lineage.offset). When the reader gets a partition, each binding of it resumes after the
 * origin offset of its input partition's last record, or at its group's committed offset when that
 * is further (offsets are committed only once acknowledged, in the input topic or the dead-letter
 * topic); the reader starts at the earliest of these. Each binding keeps its own next offset and
 * skips what is below it, so the reader may go back for one binding (a new binding, a binding
 * recovering from a failed delivery) without the others routing anything twice; a removed binding
 * leaves its port at once and its last records still land. Instances share the partitions through
 * the reader's group (cooperative: a new port or instance moves only the partitions it must). A
 * revoked partition is held (read nothing, still assigned: the group waits) until its records in
 * flight are acknowledged, or for at most revoke_wait_ms, so the next owner reads a final tail;
 * the loop never waits for that: the last delivery report (or the tick) finishes it.
 *
 * Idle partitions are parked (env.park_idle_ms): one the reader is caught up on, that no binding
 * needs and that has had no record for that long is paused in the reader (no fetch), and read
 * again when this instance publishes to its port (pb_routers_port_publish), when a binding needs
 * earlier records, or when the lag sweep finds its high watermark past the reader's position
 * (pb_routers_sweep_parked). Parking only pauses: it never seeks or commits, so the scheme above
 * is untouched (librdkafka fetches again from the record after the last one delivered).
 */
#ifndef PB_ROUTER_H
#define PB_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "jobs.h"
#include "kafka.h"
#include "loop.h"
#include "metrics.h"
#include "registry.h"

/* ---- pure parts (exposed for tests) ---- */

/* Why a partition resumes where it does. */
typedef enum {
    PB_ROUTER_RESUME_LINEAGE = 0, /* after the origin offset of the input partition's last record */
    PB_ROUTER_RESUME_COMMITTED,   /* the group's committed offset */
    PB_ROUTER_RESUME_START,       /* neither: the binding's start (earliest / latest) */
} pb_router_resume_why_t;

/*
 * Where routing of a partition resumes. lineage_next: origin offset + 1 read from the input
 * partition's last record (-1 when none or not from this output topic); committed: the group's
 * committed offset (-1 when none); start: the binding's "earliest" or "latest". Sets *offset (an
 * absolute offset, or PB_KAFKA_OFFSET_BEGINNING / PB_KAFKA_OFFSET_END) and returns the reason:
 * the larger of lineage_next and committed, else the start.
 */
pb_router_resume_why_t pb_router_resume(int64_t lineage_next, int64_t committed, const char *start,
                                        int64_t *offset);

/* "lineage header of input offset N" style text for the log: the reason's name. */
const char *pb_router_resume_name(pb_router_resume_why_t why);

/* Is name a header the broker owns on routed records (so a producer's copy is dropped)? The ones
 * it sets (pb_router_hop_headers) and every other mesh.* name. */
int pb_router_owned_header(const char *name);

/*
 * Flow control by bytes: how many records the fan-out reader may hand the routers now, with held
 * bytes of routed copies in flight (not yet acknowledged), the bound, per_record the bytes one
 * record's copies are expected to take (< 0: not known yet: 1) and at most most. 0 once held has
 * reached the bound (and something is held: a record larger than the bound still passes,
 * alone); else as many as fit the room left at per_record each, at least 1. The routers also
 * check pb_router_bytes_full before each record, so a misjudged per_record costs a re-read, never
 * more than the bound plus one record in flight.
 */
size_t pb_router_take(int64_t held, int64_t bound, int64_t per_record, size_t most);
/* Whether no record may be taken now: something is held and it reached the bound. */
int pb_router_bytes_full(int64_t held, int64_t bound);

/*
 * Parking (router.park.idle.ms): the fan-out reader stops fetching an output partition that is
 * idle, so an idle mesh sends no fetch for it (librdkafka 2.0.2 has no fetch sessions: every empty
 * fetch answer lists every partition read, each matched to its topic by a linear search over the
 * reader's topics). What the reader knows of one partition when it decides.
 */
typedef struct pb_router_park_view {
    int64_t park_idle_ms; /* router.park.idle.ms (0: never park) */
    int64_t idle_ms;      /* since its last record, or since the reader began (again) reading it */
    int settled;          /* assigned, looked up, not being revoked, and read for longer than a
                           * fetch wait: its fetch figures are this assignment's and current */
    int busy;             /* a binding still needs it: records in flight, a recovery or a join
                           * being decided, a binding behind the reader, a rewind due */
    int queued;           /* records wait in the reader's queue (a full read-ahead stops fetching:
                           * the figures may be old) */
    int64_t pos;          /* the offset of the next record the reader delivers (-1 unknown) */
    int64_t high;         /* its high watermark from the last fetch answer (-1 unknown) */
} pb_router_park_view_t;

/* Whether to park the partition now: parking is on, it has been idle that long, its figures are
 * current, no binding needs it, and the reader has delivered every record (pos == high). Pure. */
int pb_router_should_park(const pb_router_park_view_t *v);

/* Whether a parked partition must be read again because a look-up (the lag sweep's) found its high
 * watermark beyond the reader's position: a record was written while it was parked. Unknown
 * figures (< 0) never resume it. Pure. */
int pb_router_should_unpark(int64_t pos, int64_t high);

/* Why a parked partition was read again (portbroker_router_unparks_total{reason}). */
typedef enum {
    PB_ROUTER_UNPARK_PUBLISH = 0, /* this instance published to its port */
    PB_ROUTER_UNPARK_SWEEP,       /* the lag sweep found records beyond the reader's position */
    PB_ROUTER_UNPARK_BINDING,     /* a binding needs earlier records (a new one, a recovery) */
    PB_ROUTER_UNPARK_REASONS
} pb_router_unpark_why_t;

/* "publish", "sweep", "binding": the metric label. */
const char *pb_router_unpark_name(pb_router_unpark_why_t why);

/* What a routed record's new headers say. All strings NUL-terminated; borrowed. */
typedef struct pb_router_hop {
    const char *origin_topic;
    int32_t origin_partition;
    int64_t origin_offset;
    const char *dataschema; /* ce_dataschema: {registry url}/schemas/ids/{reader id} */
    const char *contract;   /* mesh.contract: {input-port URN}@{input port version} */
    const char *source;     /* ce_source: the output-port URN (NULL: not set) */
    const char *type;       /* ce_type: the reader schema's full name (NULL: not set) */
    int64_t origin_ts_ms;   /* Kafka timestamp of the origin record: ce_time when it has none
                             * (<= 0: unknown, not set) */
    unsigned keep;          /* PB_ROUTER_KEEP_* (pb_router_keep): pb_router_hop_headers leaves these
                             * out, the relay keeps the producer's identical copy (0: none) */
} pb_router_hop_t;

/* Broker headers whose value does not depend on the record (see pb_router_keep). */
#define PB_ROUTER_KEEP_SPECVERSION 1u
#define PB_ROUTER_KEEP_SOURCE 2u
#define PB_ROUTER_KEEP_TYPE 4u
#define PB_ROUTER_KEEP_CONTENT_TYPE 8u

/*
 * Which of ce_specversion, ce_source, ce_type and content-type in[0..n_in) carries exactly once
 * and with the very value the broker sets for hop (PB_ROUTER_KEEP_* bits). A relay that moves the
 * producer's headers over may leave those in place instead of dropping and adding them again: the
 * routed record is the same header for header (one copy, the broker's value; only its place in
 * the list differs), and it costs no allocation. A forged value, a null one or a repeated name is
 * not kept: it is dropped and replaced as always (DESIGN §6). Pure.
 */
unsigned pb_router_keep(const pb_kafka_header_t *in, size_t n_in, const pb_router_hop_t *hop);

/* Room a routed record's headers need beyond the producer's: scratch text and header slots. */
#define PB_ROUTER_SCRATCH 448
#define PB_ROUTER_EXTRA_HEADERS 13

/*
 * Headers of a routed record: in[0..n_in) (the consumed record's, in order) minus the broker-owned
 * ones (pb_router_owned_header: every copy, duplicates included), then the broker's: traceparent
 * (a child span of the record's last traceparent, or a new trace), ce_specversion 1.0, ce_source,
 * ce_type, content-type application/avro, ce_dataschema, mesh.contract,
 * mesh.lineage.topic/.partition/.offset and mesh.lineage.hops, and the CloudEvents attributes the
 * record lacks: ce_id "{origin topic}/{partition}/{offset}" (stable across retries and instances),
 * ce_time from the origin record's Kafka timestamp.
 *
 * mesh.lineage.hops counts broker hops the broker itself vouches for, so a producer's value is
 * never read: the broker writes hops only on routed records (input-port topics); records in an
 * output-port topic come from HTTP publish (which drops producers' mesh.* headers) or straight
 * from Kafka clients (untrusted). Every routed record therefore says 1; a product that derives
 * new records from its inputs starts a new chain, linked by ce_causationid and the trace.
 *
 * out needs n_in + PB_ROUTER_EXTRA_HEADERS slots; values may point into in, hop and scratch
 * (PB_ROUTER_SCRATCH bytes), which must outlive out. Returns the number of headers written.
 */
size_t pb_router_headers(const pb_kafka_header_t *in, size_t n_in, const pb_router_hop_t *hop,
                         pb_kafka_header_t *out, char *scratch);

/* Only the headers the broker sets (the second half of pb_router_headers, at most
 * PB_ROUTER_EXTRA_HEADERS) but those in hop->keep, for relays that move the producer's headers
 * over and drop the owned ones not kept. Returns their count. (pb_router_headers ignores
 * hop->keep: it drops every owned copy and sets them all.) */
size_t pb_router_hop_headers(const pb_kafka_header_t *in, size_t n_in, const pb_router_hop_t *hop,
                             pb_kafka_header_t *out, char *scratch);

/* What failed, for a dead letter. */
typedef struct pb_router_failure {
    pb_metrics_dlq_reason_t reason;
    const char *message; /* the precise error text */
} pb_router_failure_t;

/* Kafka Connect stage and exception class of a failure reason ("VALUE_CONVERTER",
 * "portbroker.UnknownSchemaError"...). */
const char *pb_router_dlq_stage(pb_metrics_dlq_reason_t r);
const char *pb_router_dlq_class(pb_metrics_dlq_reason_t r);

#define PB_ROUTER_DLQ_HEADERS 6

/* On a dead letter whose value was cut to fit: the value's original length in bytes. */
#define PB_ROUTER_HDR_TRUNCATED "mesh.dlq.value.truncated"

/*
 * Headers of a dead letter: in[0..n_in) unchanged (the record as it was, any producer copy of the
 * __connect.errors.* names dropped), then __connect.errors.topic/.partition/.offset/.stage/
 * .exception.class.name/.exception.message for the origin and the failure. out needs n_in +
 * PB_ROUTER_DLQ_HEADERS slots; scratch PB_ROUTER_SCRATCH bytes. Returns the count.
 */
size_t pb_router_dlq_headers(const pb_kafka_header_t *in, size_t n_in, const char *origin_topic,
                             int32_t origin_partition, int64_t origin_offset,
                             const pb_router_failure_t *f, pb_kafka_header_t *out, char *scratch);

/* ---- the routers of a broker ---- */

typedef struct pb_routers pb_routers_t;

typedef struct pb_router_env {
    pb_kafka_t *kafka;        /* borrowed */
    pb_loop_t *loop;          /* borrowed; NULL: the caller serves pb_routers_wake_fd itself */
    pb_jobs_t *jobs;          /* borrowed: resume look-ups (committed offsets, input tails,
                               * watermarks) run as PB_JOB_OFFSETS jobs; NULL: inline (tests) */
    pb_metrics_t *metrics;    /* borrowed; NULL counts nothing */
    const char *registry_url; /* ce_dataschema's base (copied) */
    int commit_interval_ms;   /* how often acknowledged offsets are committed (0: 1000) */
    int revoke_wait_ms;       /* bound on waiting for in-flight records on revocation (0: 10000) */
    int fetch_wait_ms;        /* fetch.wait.max.ms of routing consumers (config
                               * router.fetch.wait.ms; 0: 500) */
    int64_t inflight_max_bytes; /* routed bytes in flight past which the routers take no more
                                 * records (config router.inflight.kbytes x 1024; required, > 0:
                                 * the default is config.c's alone) */
    int64_t park_idle_ms;       /* an idle output partition is parked after it (config
                                 * router.park.idle.ms; 0: never). Needs loop (its tick parks) */
} pb_router_env_t;

/* The routing of one process: a binding state per registry binding once reconciled, the shared
 * reader and producer (made with the first binding). Watches one wake fd on the loop for all of
 * them. Returns NULL with err set (PB_ERR_INVALID: env->inflight_max_bytes not > 0). */
pb_routers_t *pb_routers_new(const pb_router_env_t *env, pb_err_t *err);

/*
 * Make the routed bindings match reg's bindings: start each new binding whose ports and topics
 * exist (it joins its port's fan-out; where the reader holds the port's partitions already it
 * decides its positions at once), stop those whose binding is gone (they leave their port at
 * once; their records in flight still land), subscribe the reader to the bound output topics,
 * and refresh the others' schemas (the reader and every writer resolution are looked up again:
 * the registry's borrowed pointers change when it applies records). Other bindings are not
 * touched. Call after every applied registry record once the replay is caught up. Starting may
 * block briefly (topic checks, position look-ups). Loop thread.
 */
void pb_routers_reconcile(pb_routers_t *rs, const pb_registry_t *reg);

/* NULL while routing can go on; once the routers' shared producer failed for good (librdkafka's
 * fatal error: only a restart helps), the operator's sentence. Loop thread. */
const char *pb_routers_failure(pb_routers_t *rs);

/* Read end of the shared wake pipe, and serving it (for callers without a pb_loop_t). */
int pb_routers_wake_fd(const pb_routers_t *rs);
void pb_routers_serve(pb_routers_t *rs);

/* Routed records in flight (all bindings together) at which the routers take no more records
 * (router.c's HOLD_AT; the exporter shows it in portbroker_router_inflight_records' help). */
#define PB_ROUTER_HOLD_AT 20000

/* Statistics summed over bindings: records routed (acknowledged), dead-lettered, failed; records
 * in flight in the shared producer and their bytes (values, keys, headers), the most bytes in
 * flight since start and the bound on them; routers = bindings routed; rewinds = times the byte
 * bound stopped the routers inside a batch of the reader (those records are read again). */
typedef struct pb_routers_stats {
    uint64_t routed, dlq, failed;
    int64_t inflight, inflight_bytes, inflight_bytes_peak, inflight_max_bytes;
    size_t routers;
    uint64_t rewinds;
    /* Parking: output partitions the reader holds (assigned and looked up), those of them parked,
     * and how often a parked one was read again, by pb_router_unpark_why_t. */
    size_t read_parts, parked;
    uint64_t unparks[PB_ROUTER_UNPARK_REASONS];
} pb_routers_stats_t;
void pb_routers_stats(const pb_routers_t *rs, pb_routers_stats_t *out);

/* Bindings routed (the i of pb_routers_committed goes up to it). NULL: 0. Loop thread. */
size_t pb_routers_count(const pb_routers_t *rs);

/* The route-side committed offsets of the i-th routed binding, as this instance knows them
 * without asking Kafka (the lag poller's route side): *binding_id is its registry id; out[p] for
 * each partition p of its output topic is the offset its group's next commit writes (the next
 * origin offset to route; -1: none yet, the group has no commit). Returns the partition count, or
 * 0 when not every partition is held and settled here (another instance routes some, or a resume
 * look-up runs): then only Kafka knows. Loop thread. */
size_t pb_routers_committed(const pb_routers_t *rs, size_t i, int *binding_id, int64_t *out,
                            size_t cap);

/* The partition counts of the i-th routed binding's output and input topics as the routers know
 * them (looked up when it started; the output's grows with partitions the reader is given): the lag
 * poller needs no metadata request for them. Loop thread. */
void pb_routers_partitions(const pb_routers_t *rs, size_t i, int *binding_id, int *out_parts,
                           int *in_parts);

/* Output topics the fan-out reader reads (the i of pb_routers_port_watermarks goes up to it). */
size_t pb_routers_port_count(const pb_routers_t *rs);

/*
 * The watermarks of the i-th read output topic's partitions as the fan-out reader's last fetch
 * answer gave them, without a request: *topic is the topic (valid until the next reconcile), and
 * for each partition p below the returned count (at most cap) low[p] and high[p], or -1 for both
 * where the figures cannot be trusted and Kafka must be asked: the partition is not assigned here
 * (another instance reads it, or it is being revoked or looked up), the reader began reading it
 * less than router.fetch.wait.ms + 1 s ago (librdkafka keeps a partition's figures across
 * assignments: they could predate this one), or the routers have not been given every record below
 * the high watermark (a backlog: a full read-ahead stops fetching, so the figures may be old).
 * While the reader holds a partition and is caught up, a fetch answer arrives at least every
 * router.fetch.wait.ms: that is how old the figures can be. A parked partition is not fetched:
 * -1 for it too (and for a fetch wait + 1 s after it is read again). Loop thread.
 */
size_t pb_routers_port_watermarks(const pb_routers_t *rs, size_t i, const char **topic,
                                  int64_t *low, int64_t *high, size_t cap);

/*
 * This instance is about to publish to the output port of topic: every parked partition of it is
 * read again at once (the publish does not know which partitions its records go to), so the
 * records are routed as promptly as on a partition never parked. O(1) while none of the topic's
 * partitions is parked (a hash look-up); the resume itself costs librdkafka a hand-off to the
 * partitions' broker threads (no network). Loop thread.
 */
void pb_routers_port_publish(pb_routers_t *rs, const char *topic);

/* Parked partitions now. NULL: 0. Loop thread. */
size_t pb_routers_parked_count(const pb_routers_t *rs);

/* A parked partition: its topic (valid until the next reconcile), the topic's partition count as
 * the reader knows it, and the reader's position in it. */
typedef struct pb_routers_parked {
    const char *topic;
    int32_t partition;
    int parts;
    int64_t pos;
} pb_routers_parked_t;

/* The parked partitions, at most cap of them, into out (in no particular order); returns how many.
 * The lag sweep asks Kafka for their high watermarks (a parked partition is not fetched, so
 * pb_routers_port_watermarks gives none for it). Loop thread. */
size_t pb_routers_parked(const pb_routers_t *rs, pb_routers_parked_t *out, size_t cap);

/* A sweep's high watermarks of parked partitions (wm[0..n), low ignored): each still parked whose
 * high watermark is beyond the reader's position (pb_router_should_unpark) is read again. Returns
 * how many were. Loop thread. */
size_t pb_routers_sweep_parked(pb_routers_t *rs, const pb_kafka_lag_wm_t *wm, size_t n);

/* Stop routing (the reader leaves its group, in-flight records are waited for, every binding
 * commits) and free. NULL is a no-op. */
void pb_routers_destroy(pb_routers_t *rs);

#endif
