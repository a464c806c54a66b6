/*
 * exporter — the glue between the broker and metrics.c: GET /metrics, the one-second loop timer
 * that evaluates every port's freshness, and counting the compatibility checks (registry records
 * applied, and the Schema Registry compatibility endpoint).
 *
 * Owns: the timer (pb_broker_t.metrics_timer) and the metrics.enabled switch.
 * Must not: format metrics (metrics.c renders, purely) or keep state of its own beyond the timer.
 * Loop thread only.
 */
#ifndef PB_EXPORTER_H
#define PB_EXPORTER_H

#include "err.h"
#include "http.h"
#include "registry.h"
#include "sr.h"

struct pb_broker; /* broker.h: the exporter reads it, the broker does not depend on this header's
                   * types (no include cycle) */

/* Apply metrics.enabled and start the 1 s freshness timer on b->loop (b->metrics, b->loop and
 * b->store must exist). Returns 0 or PB_ERR_NOMEM. The timer dies in pb_broker_destroy. */
int pb_exporter_start(struct pb_broker *b, pb_err_t *err);

/* After a registry record was applied (broker.c's on_applied): give newly declared ports their
 * series at once and count the compatibility checks the record ran (only once the registry log
 * is replayed: a restart does not count the history's checks again). */
void pb_exporter_applied(struct pb_broker *b, const pb_registry_result_t *res);

/* A Schema Registry reply about to be sent (api.c): a 200 answer of POST /compatibility/subjects/
 * {subject}/versions[/{v}] is one compatibility check, counted with its is_compatible and the
 * subject's effective level. Anything else is ignored. raw_path: the request path, not decoded. */
void pb_exporter_sr_reply(struct pb_broker *b, const char *method, const char *raw_path,
                          const pb_sr_reply_t *rep);

/* GET/HEAD /metrics: the Prometheus text exposition (format 0.0.4) of every declared port; 404
 * with a JSON error when metrics.enabled is false. rest is unused (route handler signature). */
void pb_exporter_handle(struct pb_broker *b, pb_http_req_t *req, const char *rest);

#endif
