/*
 * api — the HTTP API's routes and handlers (DESIGN.md §5).
 *
 * Owns: mapping method + path to a handler, request validation, JSON bodies in and out, and the
 * error body `{"error_code": N, "message": "..."}`.
 * Must not: include libevent (http.c does) or librdkafka (kafka.c does).
 */
#ifndef PB_API_H
#define PB_API_H

#include "http.h"

/* The pb_http_handler_t of the broker: arg is the pb_broker_t. Loop thread. */
void pb_api_handle(pb_http_req_t *req, void *arg);

#endif
