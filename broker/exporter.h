/*
 * exporter — the glue between the broker and metrics.c: GET /metrics (every port's freshness
 * evaluated as of the request: no timer walks the ports while nobody reads them), and counting
 * the compatibility checks (registry records applied, and the Schema Registry compatibility
 * endpoint).
 *
 * Owns: the metrics.enabled switch; the scrapes waiting for their text (rendered one at a time,
 * in arrival order, in 512 KiB slices, one slice per loop turn: at 1,000 bindings the text is
 * 8.6 MB and no turn holds the loop more than a couple of ms) and the snapshot of the declared
 * ports they render from, kept until a registry record is applied.
 * Must not: format metrics (metrics.c renders, purely), keep series of its own, or reach into the
 * broker: what it reads comes through pb_exporter_env_t.
 * Loop thread only.
 */
#ifndef PB_EXPORTER_H
#define PB_EXPORTER_H

#include "config.h"
#include "dedupe.h"
#include "err.h"
#include "http.h"
#include "jobs.h"
#include "kafka.h"
#include "loop.h"
#include "metrics.h"
#include "registry.h"
#include "router.h"
#include "sr.h"
#include "store.h"

typedef struct pb_exporter pb_exporter_t;

/* What the exporter reads, given by its owner (broker.c): every pointer borrowed, outliving the
 * exporter. */
typedef struct pb_exporter_env {
    const pb_config_t *cfg; /* metrics.enabled */
    pb_loop_t *loop;        /* the loop thread it runs on (a 0 ms timer per slice) */
    pb_jobs_t *jobs;        /* gzip of the text off the loop (PB_JOB_GZIP); NULL: never gzip */
    pb_store_t *store;      /* the registry: declared ports, effective compatibility levels */
    pb_metrics_t *metrics;  /* the series counted and rendered */
    pb_kafka_t *kafka;      /* reachability, produce queues, statistics; NULL: none */
    pb_dedupe_t *dedupe;    /* publish's remembered producer ids; NULL when switched off */
    pb_routers_t *routers;  /* routed records in flight (count, bytes); NULL: none */
} pb_exporter_env_t;

/* Apply metrics.enabled with env (copied). Returns the exporter, or NULL with err set
 * (PB_ERR_NOMEM). */
pb_exporter_t *pb_exporter_new(const pb_exporter_env_t *env, pb_err_t *err);

/* Free the exporter; scrapes still waiting get 500 (dropped when their client is gone). NULL is a
 * no-op. */
void pb_exporter_destroy(pb_exporter_t *x);

/* After a registry record was applied (broker.c's on_applied): give newly declared ports their
 * series on the loop's next turn (once for a whole batch of records; a scrape before then makes
 * them itself) and count the compatibility checks the record ran (only once the registry log is
 * replayed: a restart does not count the history's checks again). x NULL: nothing (the registry
 * applies records before the exporter exists only when start-up failed half-way). */
void pb_exporter_applied(pb_exporter_t *x, const pb_registry_result_t *res);

/* A Schema Registry reply about to be sent (api.c): a 200 answer of POST /compatibility/subjects/
 * {subject}/versions[/{v}] is one compatibility check, counted with its is_compatible and the
 * subject's effective level. Anything else is ignored. raw_path: the request path, not decoded. */
void pb_exporter_sr_reply(pb_exporter_t *x, const char *method, const char *raw_path,
                          const pb_sr_reply_t *rep);

/* GET/HEAD /metrics: the Prometheus text exposition (format 0.0.4) of every declared port; 404
 * with a JSON error when metrics.enabled is false. Replies now when the text fits one slice, else
 * over the next loop turns (after the scrapes that came before it); a client gone meanwhile is
 * dropped. A GET whose Accept-Encoding admits gzip (Prometheus sends it) gets the text gzipped by
 * a PB_JOB_GZIP worker, Content-Encoding: gzip, when it is at least 512 bytes; the
 * next scrape waits for that job (one text in memory at a time). rest is unused (route handler
 * signature). */
void pb_exporter_handle(pb_exporter_t *x, pb_http_req_t *req, const char *rest);

#endif
