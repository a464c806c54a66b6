/*
 * store — the registry kept in Kafka: replay, follow, and writes acknowledged on read-back.
 *
 * Owns: the registry state (pb_registry_t), the follower of the registry topic (one partition,
 * replayed from its first offset at start and followed live) and the table of pending writes. A
 * write appends a record carrying a fresh request id; it completes when this instance's follower
 * applies the record with that id (the Schema Registry KafkaStore pattern), so every instance
 * agrees on one order and one set of ids — or when producing fails or the read-back does not come
 * within the timeout.
 * Must not: build records or replies (registry.c, sr.c) or talk HTTP. Loop thread only.
 */
#ifndef PB_STORE_H
#define PB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "kafka.h"
#include "loop.h"
#include "registry.h"

typedef struct pb_store pb_store_t;

/* A write's completion: res is the applied result (res->req is the write's id), or NULL when the
 * write failed before being applied, with fail_code (50001 Kafka error, 50002 timeout) and
 * fail_msg. Called exactly once, on the loop thread. */
typedef void (*pb_store_done_cb_t)(void *ctx, const pb_registry_result_t *res, int fail_code,
                                   const char *fail_msg);

/* Called after every applied record (also during replay), e.g. to create topics. May be NULL. */
typedef void (*pb_store_applied_cb_t)(void *ctx, const pb_registry_result_t *res);

/* Start replaying `topic` (which must exist) from its first offset; the replay is caught up once it
 * passed high. low and high are the topic's watermarks, looked up off the loop by the caller (a
 * job); low < 0: looked up here, blocking up to 15 s. write_timeout_ms bounds a write's read-back.
 */
pb_store_t *pb_store_new(pb_kafka_t *k, pb_loop_t *loop, const char *topic, int64_t low,
                         int64_t high, int64_t write_timeout_ms, pb_store_applied_cb_t applied,
                         void *actx, pb_err_t *err);

/* The registry state (read-only for callers; only the store applies records). */
const pb_registry_t *pb_store_registry(const pb_store_t *s);

/* Has the replay reached the end the log had at start? */
int pb_store_caught_up(const pb_store_t *s);

/* Replay progress: the next offset to apply, and the end offset the log had at start. */
int64_t pb_store_position(const pb_store_t *s);
int64_t pb_store_replay_end(const pb_store_t *s);

/* Append record (len bytes, built with id req) and call done when it is applied or failed.
 * Returns 0, or an error without calling done (the local produce queue refused it). */
int pb_store_write(pb_store_t *s, const char *req, const void *record, size_t len,
                   pb_store_done_cb_t done, void *ctx, pb_err_t *err);

/* Pending writes not yet completed. */
size_t pb_store_pending(const pb_store_t *s);

/* Fail every pending write (50001 "shutting down") and stop following. NULL is a no-op. */
void pb_store_destroy(pb_store_t *s);

#endif
