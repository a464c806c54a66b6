/*
 * sub — subscriber streams and subscription lag (DESIGN.md §5 "Subscriptions", issues #5, #16).
 *
 * Owns: the HTTP streams of `GET /v1/ports/{input-port}/records` (one Kafka group member of
 * `portbroker.sub.{input topic}` each, records decoded to Avro JSON, ndjson or SSE framing,
 * backpressure, long-poll timeouts, max_records bounded polls, from= seeks and SSE Last-Event-ID
 * resumes, gzip), their cursors (`POST /v1/ports/{input-port}/cursors`, commit=auto|manual,
 * at-least-once; through an open stream of this instance, else through the group from a job
 * thread, so any instance takes them), and the lag poller behind
 * `GET /v1/subscriptions/{id}/stats` and portbroker_subscription_lag_* (router group on the
 * output-port topic, subscriber group on the input-port topic, for every binding).
 *
 * Offsets are Kafka's convention everywhere: a committed offset is the NEXT offset to read, so a
 * client that has processed the record at offset o of partition p commits {"partition": p,
 * "offset": o + 1}. With commit=auto the broker commits the offsets of records whose bytes were
 * handed to the kernel (not merely queued), periodically and when the stream ends; with
 * commit=manual only the cursors a client posts are committed. Records not committed come again to
 * the next stream of the group (at-least-once).
 *
 * SSE event ids are the stream's cursor after the event ("p:o,p:o": the next offset per
 * partition read or started at), so Last-Event-ID resumes exactly after it on any instance.
 * Memory per stream stays bounded: the rendered batch, the connection's queue up to
 * sub.max.buffered.bytes (then the consumer is paused), a small gzip state; requests waiting for
 * offset jobs count against sub.max.streams.
 *
 * Must not: include librdkafka or libevent (kafka.c, http.c do), or block the loop: the lag
 * poller's sweeps run as jobs (jobs.h, PB_JOB_LAG; one at a time, every sub.lag.interval.ms) and
 * its results are applied on the loop thread; watermark checks, time look-ups and group commits
 * run off the loop too.
 */
#ifndef PB_SUB_H
#define PB_SUB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "descriptor.h"
#include "err.h"
#include "http.h"
#include "kafka.h"
#include "config.h"
#include "jobs.h"
#include "loop.h"
#include "metrics.h"
#include "registry.h"
#include "router.h"
#include "store.h"

typedef struct pb_sub pb_sub_t;

/* What the module reads, given by its owner (broker.c): every pointer borrowed, outliving it. */
typedef struct pb_sub_env {
    const pb_config_t *cfg; /* sub.*, http.timeout.ms, kafka.* for the stream consumers */
    pb_loop_t *loop;        /* the wake pipe and the tick */
    pb_jobs_t *jobs;        /* offset look-ups, commits, lag sweeps and closes off the loop */
    pb_kafka_t *kafka;      /* the shared client the streams and the lag probe are made from */
    pb_store_t *store;      /* the registry: ports, bindings, schemas to decode with */
    pb_metrics_t *metrics;  /* per-port stream series and per-binding lag */
    pb_routers_t *routers;  /* their committed offsets spare the lag sweep a request, and the
                             * sweep reads again the parked partitions it finds written to;
                             * NULL: none */
} pb_sub_env_t;

/* Start the module with env (copied; everything it points to must exist; the lag poller's first
 * sweep starts at the first tick). Returns NULL with err set. */
pb_sub_t *pb_sub_new(const pb_sub_env_t *env, pb_err_t *err);

/* End every stream (committing per its mode), wait for consumers to leave their group, stop the
 * lag poller, free everything. Call before the HTTP server and the Kafka client are destroyed.
 * NULL is a no-op. */
void pb_sub_destroy(pb_sub_t *s);

/* The registry changed: end streams of ports or bindings that went, and measure the bindings'
 * lag at the next tick (or right after the sweep under way). Loop thread. */
void pb_sub_reconcile(pb_sub_t *s);

/* GET /v1/ports/{port}/records: open a stream on input port `port` (replies, now or at the end of
 * the stream). */
void pb_sub_handle_records(pb_sub_t *s, pb_http_req_t *req, const pb_port_t *port);

/* POST /v1/ports/{port}/cursors: commit cursors for the port's subscriber group (replies, now or
 * when the commit is done). Through the stream the X-Stream-Id header names when it is open on this
 * instance (or the only stream of the port here, without the header): only offsets it delivered.
 * Otherwise through the group from any instance, after checking each offset against its
 * partition's watermarks on a job thread (422 naming the partition and the bounds). */
void pb_sub_handle_cursors(pb_sub_t *s, pb_http_req_t *req, const pb_port_t *port);

/* GET /v1/subscriptions/{id}/stats for binding bd (replies). */
void pb_sub_handle_stats(pb_sub_t *s, pb_http_req_t *req, const pb_registry_binding_t *bd);

/* ---- pure parts (unit-tested) ---- */

/* Where a stream starts (from=...). */
typedef enum pb_sub_from {
    PB_SUB_FROM_COMMITTED = 0, /* the group's committed offsets (earliest where none) */
    PB_SUB_FROM_EARLIEST,
    PB_SUB_FROM_LATEST,
    PB_SUB_FROM_TIME,    /* the first record at or after from_ms, per partition */
    PB_SUB_FROM_OFFSETS, /* from_offsets; other partitions at the committed offset */
} pb_sub_from_t;

#define PB_SUB_MAX_CURSOR 256 /* partitions in one from=offsets:... or Last-Event-ID */

typedef struct pb_sub_params {
    int sse;             /* format=sse (else ndjson) */
    int batch;           /* records per write, 1..max_batch */
    int64_t timeout_ms;  /* end after this long without records; 0: never. With max_records: the
                          * long poll's whole duration (from the first assignment) */
    int64_t max_records; /* end after this many records; 0: no limit */
    int manual;          /* commit=manual */
    int avro;            /* encoding=avro: values in Avro's JSON encoding (else natural JSON) */
    pb_sub_from_t from;
    int64_t from_ms;                               /* PB_SUB_FROM_TIME: Unix milliseconds */
    pb_kafka_tp_t from_offsets[PB_SUB_MAX_CURSOR]; /* PB_SUB_FROM_OFFSETS */
    size_t n_from_offsets;
} pb_sub_params_t;

/* Read the query parameters through get(ctx, name) (NULL when absent). Returns 0, or
 * PB_ERR_INVALID naming the parameter, the value and what is allowed ("batch: '0' is not an
 * integer in [1, 1000]"). */
int pb_sub_parse_params(const char *(*get)(void *ctx, const char *name), void *ctx, int max_batch,
                        pb_sub_params_t *out, pb_err_t *err);

/*
 * Parse a cursor "p:o[,p:o]..." (partition:next offset to read; what from=offsets: takes and what
 * SSE event ids hold) into out[0..cap), *n the count. Partitions are integers in [0, 2^31), offsets
 * in [0, 2^63), each partition at most once. Returns 0 or PB_ERR_INVALID saying which item is
 * wrong and why (the caller prefixes the parameter's name).
 */
int pb_sub_parse_cursor(const char *text, pb_kafka_tp_t *out, size_t cap, size_t *n, pb_err_t *err);

/* Gaps, in lag sweeps, between two requests for the committed offsets of a subscriber group that
 * has none (and no stream on this instance): the first (as every 12th sweep before the back-off,
 * so a new binding is never asked more often than that), doubling up to the longest: a first
 * commit made elsewhere shows in its lag within PB_SUB_LAG_UNCOMMITTED_MAX sweeps (5 min at the
 * default sub.lag.interval.ms of 5 s). */
#define PB_SUB_LAG_UNCOMMITTED_FIRST 12
#define PB_SUB_LAG_UNCOMMITTED_MAX 60

/*
 * The lag sweep's back-off for a subscriber group without commits: after sweep number `sweep`
 * asked Kafka for the group's committed offsets, found none (none = 1) and the gap before was
 * prev_every sweeps (0: asked at every sweep), the group is asked next at sweep *next, *every
 * sweeps later: PB_SUB_LAG_UNCOMMITTED_FIRST, then doubling up to PB_SUB_LAG_UNCOMMITTED_MAX
 * (12, 24, 48, 60, 60, ...). A commit found (none = 0, also for
 * no answer) sets both to 0: asked at every sweep. Sweeps between count from the first kept
 * record, as Kafka would answer for a group with no commit. Pure.
 */
void pb_sub_lag_backoff(unsigned prev_every, int none, unsigned sweep, unsigned *every,
                        unsigned *next);

/* Append cursor c[0..n) as "p:o,p:o" (the SSE event id). Returns 0 or PB_ERR_NOMEM. */
int pb_sub_format_cursor(const pb_kafka_tp_t *c, size_t n, pb_buf_t *out);

/*
 * Append one record as its JSON object {"partition","offset","key","value","headers","schema_id",
 * "time"} to out, framed: ndjson (the object and '\n') or SSE ("id: p:o", "event: record",
 * "data: {...}", blank line). value is the Confluent-framed payload decoded with the schema its id
 * names in reg, as natural JSON (DESIGN.md §5a), or with avro in Avro's JSON encoding; a record
 * that cannot be decoded gets "value": null and "error": "why" instead
 * (never skipped). key: decoded the same way with the keySchema of the output port its ce_source
 * header names, when that schema is not a plain string or bytes (publish then stores keys as
 * Avro binary, DESIGN.md §6); else, or when the bytes do not decode, a JSON string of its bytes
 * (jsontext's text rule). time: the ce_time header, else the Kafka timestamp (RFC 3339). Returns
 * 0 or PB_ERR_NOMEM.
 */
int pb_sub_render(const pb_registry_t *reg, const pb_kafka_record_t *rec, int sse, int avro,
                  pb_buf_t *out);

#endif
