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

#include "err.h"
#include "http.h"

struct pb_broker;
typedef struct pb_ops pb_ops_t;

/* Start sampling and lineage for broker b (borrowed; must outlive the result). Returns NULL with
 * err set (out of memory). */
pb_ops_t *pb_ops_new(struct pb_broker *b, pb_err_t *err);

/* Stop sampling and emit COMPLETE for every live OpenLineage job (once the registry was replayed).
 * HTTP posts still queued keep going: poll pb_ops_busy before leaving the loop. */
void pb_ops_stop(pb_ops_t *o);

/* 1 while lineage events wait for their HTTP POST (in flight or queued for a retry). */
int pb_ops_busy(const pb_ops_t *o);

/* Cancel posts in flight, free everything. NULL is a no-op. */
void pb_ops_destroy(pb_ops_t *o);

/* Route handlers (api.c's table). */
void pb_ops_h_status(struct pb_broker *b, pb_http_req_t *req, const char *rest);
void pb_ops_h_lineage(struct pb_broker *b, pb_http_req_t *req, const char *rest);
void pb_ops_h_dashboard(struct pb_broker *b, pb_http_req_t *req, const char *rest);
void pb_ops_h_dashboard_js(struct pb_broker *b, pb_http_req_t *req, const char *rest);
void pb_ops_h_dashboard_css(struct pb_broker *b, pb_http_req_t *req, const char *rest);
void pb_ops_h_dashboard_svg(struct pb_broker *b, pb_http_req_t *req, const char *rest);
/* GET / : 302 to /dashboard (a browser pointed at the broker lands on the console). */
void pb_ops_h_root(struct pb_broker *b, pb_http_req_t *req, const char *rest);
/* GET /v1/openapi.json : docs/openapi.json as embedded at build time. */
void pb_ops_h_openapi(struct pb_broker *b, pb_http_req_t *req, const char *rest);

#endif
