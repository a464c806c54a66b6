/*
 * access — the HTTP API's gate: authenticates each request, names what it touches (the product,
 * port, subject or binding its route's access rule is about), asks auth.c for the decision, applies
 * the per-principal limits, and writes the audit line of every state change.
 *
 * Owns: the pb_access_t of a broker (its pb_auth_t and the principals' token buckets) and the
 * per-request audit context (hung on the request with pb_http_on_reply).
 * Must not: decide anything auth.c decides, or include libevent.
 */
#ifndef PB_ACCESS_H
#define PB_ACCESS_H

#include <stdint.h>

#include "api.h"
#include "auth.h"
#include "err.h"
#include "http.h"
#include "registry.h"

typedef struct pb_access pb_access_t;

/* Build the gate from the broker's configuration (reads the credential files). Returns NULL with
 * err set. Start-up thread. */
pb_access_t *pb_access_new(const pb_config_t *cfg, pb_err_t *err);

/* Start the background work that needs the loop: the auth.jwks.url refresh (first fetch now, then
 * every auth.jwks.refresh.ms; every 5 s while no keys were ever loaded). Never blocks. Returns 0 or
 * an error (out of memory). Loop thread. */
int pb_access_start(pb_access_t *a, pb_loop_t *loop, pb_err_t *err);

/* Re-read the credential files (SIGHUP); on error the old ones stay. */
int pb_access_reload(pb_access_t *a, pb_err_t *err);

/* The credential sources. */
pb_auth_t *pb_access_auth(pb_access_t *a);

/* NULL is a no-op. */
void pb_access_destroy(pb_access_t *a);

/* Check req against route r (param: the route's first parameter as matched, short forms resolved
 * with a's mesh.namespace; reg: the registry naming owners). a NULL: every request passes. Returns
 * 0 when the handler may run, or 1 after replying 401, 403 or 429 (and freeing req). Writes get
 * an audit context: one `audit` log line when their reply is sent. Loop thread. */
int pb_access_check(pb_access_t *a, const pb_registry_t *reg, pb_http_req_t *req,
                    const pb_api_route_t *r, const char *param);

/* The principal a checked request acts as ("admin" with auth off), or NULL for a request that
 * carries no audit context (reads). */
const char *pb_access_principal(const pb_http_req_t *req);

/* Add "key=value" ids (printf) to the request's audit line. No-op without an audit context. */
void pb_access_note(pb_http_req_t *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Charge n published records to the request's principal (limit.publish.records.per.s). a NULL:
 * no limit. Returns 0, or 1 after replying 429 with Retry-After (req freed). Loop thread. */
int pb_access_charge_records(pb_access_t *a, pb_http_req_t *req, int64_t n);

/* ---- token buckets (pure; exposed for tests) ---- */

typedef struct pb_access_bucket {
    double tokens;
    int64_t at_ms;
} pb_access_bucket_t;

/* Take n from a bucket refilled at rate per second up to rate (one second's worth), at now_ms.
 * Returns 0 when taken, else the milliseconds until n would be available (the bucket unchanged).
 * A request larger than the bucket is let through when the bucket is full and leaves it in debt. */
int64_t pb_access_bucket_take(pb_access_bucket_t *b, double rate, double n, int64_t now_ms);

#endif
