/*
 * ops — the runtime behind what ops watch: the sampling timer of the /v1/status rings, the
 * OpenLineage emitter (START once the registry is replayed and the descriptors stored, RUNNING
 * every lineage.interval.ms, COMPLETE on a clean stop; to lineage.topic and POSTed to
 * lineage.url with bounded retries), returning freed memory to the system every 10 s when no
 * record is in flight to Kafka (pb_proc_trim), and the HTTP handlers of GET /v1/status,
 * /v1/lineage, /dashboard (+ /dashboard.js, .css, .svg). Must not: compute the documents (status.c,
 * lineage.c do) or include libevent/librdkafka. Loop thread only.
 */
#ifndef PB_OPS_H
#define PB_OPS_H

#include <stdint.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "kafka.h"
#include "loop.h"
#include "metrics.h"
#include "router.h"
#include "store.h"

typedef struct pb_ops pb_ops_t;

/* What ops needs, given by its owner (broker.c) at construction: every pointer borrowed and
 * outliving the result. Not the whole broker: the callbacks answer the two questions about the
 * broker's own state. */
typedef struct pb_ops_env {
    const pb_config_t *cfg;  /* lineage.topic, lineage.url, lineage.interval.ms,
                              * status.sample.ms */
    pb_loop_t *loop;         /* the sampling timer, lineage POSTs */
    pb_kafka_t *kafka;       /* lineage.topic's producer; the bootstrap names the namespace */
    pb_store_t *store;       /* the registry sampled and described */
    pb_metrics_t *metrics;   /* the series sampled into the rings */
    pb_routers_t *routers;   /* records in flight (a trim waits for none); NULL: none */
    int64_t started_wall_ms; /* the instance's start, for /v1/status */
    void *owner;             /* the callbacks' first argument */
    /* The registry is replayed and products.dir stored: lineage STARTs may go out. */
    int (*registry_loaded)(void *owner);
    /* Readiness as /readyz says it (1 ready, else 0 and *reason); for /v1/status's health. */
    int (*ready)(void *owner, const char **reason);
} pb_ops_env_t;

/* Start sampling and lineage with env (copied; what it points to is borrowed). Returns NULL with
 * err set (out of memory). */
pb_ops_t *pb_ops_new(const pb_ops_env_t *env, pb_err_t *err);

/* Stop sampling and emit COMPLETE for every live OpenLineage job (once the registry was replayed).
 * HTTP posts still queued keep going: poll pb_ops_busy before leaving the loop. */
void pb_ops_stop(pb_ops_t *o);

/* 1 while lineage events wait for their HTTP POST (in flight or queued for a retry). */
int pb_ops_busy(const pb_ops_t *o);

/* Cancel posts in flight, free everything. NULL is a no-op. */
void pb_ops_destroy(pb_ops_t *o);

/* Route handlers (api.c's table calls them with the broker's pb_ops_t). */
void pb_ops_h_status(pb_ops_t *o, pb_http_req_t *req, const char *rest);
void pb_ops_h_lineage(pb_ops_t *o, pb_http_req_t *req, const char *rest);
void pb_ops_h_dashboard(pb_ops_t *o, pb_http_req_t *req, const char *rest);
void pb_ops_h_dashboard_js(pb_ops_t *o, pb_http_req_t *req, const char *rest);
void pb_ops_h_dashboard_css(pb_ops_t *o, pb_http_req_t *req, const char *rest);
void pb_ops_h_dashboard_svg(pb_ops_t *o, pb_http_req_t *req, const char *rest);
/* GET / : 302 to /dashboard (a browser pointed at the broker lands on the console). */
void pb_ops_h_root(pb_ops_t *o, pb_http_req_t *req, const char *rest);
/* GET /v1/openapi.json : docs/openapi.json as embedded at build time. */
void pb_ops_h_openapi(pb_ops_t *o, pb_http_req_t *req, const char *rest);

#endif
