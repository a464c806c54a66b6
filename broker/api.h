/*
 * api — the HTTP API's routes and handlers (DESIGN.md §5).
 *
 * Owns: mapping method + path to a handler, request validation, JSON bodies in and out, and the
 * error body `{"error_code": N, "message": "..."}`.
 * Must not: include libevent (http.c does) or librdkafka (kafka.c does).
 */
#ifndef PB_API_H
#define PB_API_H

#include <jansson.h>
#include <stddef.h>

#include "http.h"

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

/* The pb_http_handler_t of the broker: arg is the pb_broker_t. Loop thread. */
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
