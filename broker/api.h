/*
 * api — the HTTP API's routes and handlers (DESIGN.md §5).
 *
 * Owns: mapping method + path to a handler, request validation, JSON bodies in and out, and the
 * error body `{"error_code": N, "message": "..."}`.
 * Must not: include libevent (http.c does) or librdkafka (kafka.c does), or reach into the broker:
 * pb_api_env_t is what the handlers read.
 */
#ifndef PB_API_H
#define PB_API_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "descriptor.h"
#include "err.h"
#include "http.h"
#include "kafka.h"
#include "publish.h"
#include "store.h"

struct pb_access;
struct pb_exporter;
struct pb_ops;
struct pb_sample;
struct pb_sub;

/* Who may call a route (DESIGN.md §9). The table states the rule for every route; the auth module
 * decides it for a caller. */
typedef enum pb_api_access {
    PB_API_OPEN,          /* anyone, always: /healthz, /readyz */
    PB_API_METRICS,       /* anyone, unless metrics.auth = true (then like PB_API_READ) */
    PB_API_READ,          /* catalog reads: any authenticated principal (anonymous callers only with
                             auth.anonymous = read) */
    PB_API_PRODUCT_OWNER, /* the product in the path (and the descriptor's own), or admin */
    PB_API_OUTPUT_OWNER,  /* the output port's product, or admin */
    PB_API_INPUT_OWNER,   /* the input port's product (admitted by the output port's access list),
                             or admin */
    PB_API_SUBSCRIPTION,  /* the binding's input port's product (PUT: the body's "to"), or admin */
    PB_API_SUBJECT_OWNER, /* a port's subject: the output port's product; other subjects: admin */
    PB_API_PORT_OWNER,    /* the port's own product (output or input port), or admin: reading its
                             records outside a binding (sample data) */
    PB_API_ADMIN,         /* admin only (the last: the strictest rule) */
} pb_api_access_t;

/* Request bodies a route accepts (bits). 0: the route takes no body. */
#define PB_API_MEDIA_JSON 1u   /* application/json and the Schema Registry's JSON types */
#define PB_API_MEDIA_NDJSON 2u /* application/x-ndjson */

/* One route of the HTTP API. */
/* Route flags. */
#define PB_API_SR 1u /* a Schema Registry route: matched on the raw path, answered by sr.c */
#define PB_API_REPLAYED                                                                            \
    2u /* answered from the registry's state: 503 + Retry-After until the                          \
        * registry is replayed and products.dir stored (never a 404 for a                          \
        * port that is not replayed yet) */

typedef struct pb_api_route {
    unsigned methods;       /* bit set: 1u << pb_http_method_t */
    const char *path;       /* template, e.g. "/v1/ports/{port}/records" */
    pb_api_access_t access; /* who may call it */
    unsigned media;         /* PB_API_MEDIA_* a body may have */
    unsigned flags;         /* PB_API_SR, PB_API_REPLAYED */
    const char *summary;    /* one line for docs and `portbroker routes` */
} pb_api_route_t;

/* The route table, in match order: pb_api_route_at(i) for i < pb_api_route_count(), else NULL.
 * Static data; any thread. */
size_t pb_api_route_count(void);
const pb_api_route_t *pb_api_route_at(size_t i);

/* Does path (decoded, no query; raw for registry routes) match r's template? On a match, copies
 * the template's first {param} into arg (NUL-terminated, truncated to arg_size) and returns 1.
 * {port} and {product} may span segments; ns resolves their short forms. Pure. */
int pb_api_route_match(const pb_api_route_t *r, const char *path, const char *ns, char *arg,
                       size_t arg_size);

/* Format a method bit set as "GET, HEAD, ..." into out. Returns 0, or -1 if out is too small. */
int pb_api_methods_format(unsigned methods, char *out, size_t size);

/* Look a port up by URN in ctx; a product's topics created off the loop, then cb on the loop
 * (cancelled = 1 at shutdown: cb only frees arg). */
typedef const pb_port_t *(*pb_api_port_lookup_t)(const void *ctx, const char *urn);
typedef void (*pb_api_topics_cb_t)(void *arg, int rc, const pb_err_t *err, int cancelled);

/* What the handlers read, given by the owner (broker.c) once the registry and the modules exist:
 * every pointer borrowed. The env itself stays where it is while requests are in flight (a PUT
 * waiting for its topics and a publish waiting for Kafka keep a pointer to it). The callbacks ask
 * the owner about its own state, with owner as their first argument. */
typedef struct pb_api_env {
    const pb_config_t *cfg;       /* mesh.namespace, topic.partitions */
    pb_kafka_t *kafka;            /* /readyz: reachability, embedded or not */
    pb_store_t *store;            /* the registry read, and written through (read back) */
    struct pb_access *access;     /* the gate before every handler; NULL: none */
    struct pb_exporter *exporter; /* GET /metrics; Schema Registry compatibility checks counted */
    struct pb_ops *ops;           /* /v1/status, /v1/lineage, the console */
    struct pb_sub *sub;           /* streams, cursors, binding stats */
    struct pb_sample *sample;     /* a port's sample records */
    pb_publish_env_t publish;     /* POST .../records (publish.h) */
    void *owner;
    /* Readiness as /readyz answers it: 1, else 0 and *reason. */
    int (*ready)(void *owner, const char **reason);
    /* What only a restart fixes (a shared Kafka client failed for good: its sentence), else NULL
     * (for /healthz). */
    const char *(*failure)(void *owner);
    /* The number of descriptors loaded from products.dir (for /readyz). */
    size_t (*n_products)(void *owner);
    /* For PB_API_REPLAYED routes: 1 after replying 503 + Retry-After while the registry is being
     * replayed, else 0 (broker.h's pb_broker_reply_if_loading). */
    int (*reply_if_loading)(void *owner, pb_http_req_t *req);
    /* Product p's topics created as a job within the limits (broker.h's
     * pb_broker_ensure_topics_async: same returns, same cb contract). */
    int (*ensure_topics)(void *owner, const pb_product_t *p, pb_api_port_lookup_t lookup,
                         const void *ctx, int timeout_ms, pb_api_topics_cb_t cb, void *arg,
                         pb_err_t *err);
} pb_api_env_t;

/* GET /healthz's answer: 200 {"status":"ok"}, or, when failure is not NULL (only a restart
 * helps), 503 {"status":"failed","reason":failure} so a supervisor's liveness check restarts the
 * process. Frees req. Loop thread. */
void pb_api_reply_health(pb_http_req_t *req, const char *failure);

/* The pb_http_handler_t of the API: arg is the pb_api_env_t (borrowed). Loop thread. */
void pb_api_handle(pb_http_req_t *req, void *arg);

/* Reply with a JSON document (steals the reference to body; NULL or unprintable: 500 with error
 * code 50001 "out of memory"), gzip-compressed (Content-Encoding: gzip) when it is 512 bytes or
 * more and the request's Accept-Encoding admits gzip. Frees req. Loop thread; for every module
 * that answers HTTP. */
void pb_api_reply_json(pb_http_req_t *req, int status, json_t *body);

/* Reply with the API's error body {"error_code": code, "message": printf(fmt, ...)}; statuses
 * >= 500 are also logged. Frees req. */
void pb_api_reply_error(pb_http_req_t *req, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
