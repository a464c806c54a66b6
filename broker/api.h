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

#include "http.h"

/* The pb_http_handler_t of the broker: arg is the pb_broker_t. Loop thread. */
void pb_api_handle(pb_http_req_t *req, void *arg);

/* Reply with a JSON document (steals the reference to body; NULL or unprintable: 500 with error
 * code 50001 "out of memory"). Frees req. Loop thread; for every module that answers HTTP. */
void pb_api_reply_json(pb_http_req_t *req, int status, json_t *body);

/* Reply with the API's error body {"error_code": code, "message": printf(fmt, ...)}; statuses
 * >= 500 are also logged. Frees req. */
void pb_api_reply_error(pb_http_req_t *req, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
