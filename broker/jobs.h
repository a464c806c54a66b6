/*
 * jobs — slow calls (Kafka metadata, topic creation, offset and watermark look-ups, client close)
 * run off the loop thread, their completions delivered back onto it (Redis bio.c's shape).
 *
 * Owns: one worker thread per job type (a fixed number, whatever the ports, bindings or requests),
 * a FIFO queue per type, and one wake-up pipe the loop watches: a worker that finishes a job
 * queues it as done and writes one byte; the loop then calls each job's done callback, in
 * completion order, outside any library callback.
 * Must not: touch broker state on a worker (work functions see only their own argument), know
 * what the jobs do, or let the loop thread wait on a job (pb_jobs_destroy at shutdown excepted).
 */
#ifndef PB_JOBS_H
#define PB_JOBS_H

#include <stddef.h>

#include "err.h"
#include "loop.h"

/* Job types: one worker and one queue each, so a slow kind (topic creation against a cluster that
 * does not answer) never delays another (the reachability probe). */
typedef enum pb_job_type {
    PB_JOB_PROBE,   /* cluster reachability (one metadata request) */
    PB_JOB_TOPICS,  /* topic look-up and creation (ensure_topic) */
    PB_JOB_OFFSETS, /* committed offsets, watermarks, timestamps (subscription lag) */
    PB_JOB_CLOSE,   /* a subscriber stream's explicit commits and its close (leave the group, free
                     * the client): one worker, so a commit runs before the close queued after it */
    PB_JOB_LAG,     /* the lag poller's sweeps (seconds each at scale): never delays a router's
                     * resume look-ups on PB_JOB_OFFSETS */
    PB_JOB_GZIP,    /* gzip of a large reply (GET /metrics at scale: 8.6 MB, ~60 ms of zlib) */
    PB_JOB_TYPES
} pb_job_type_t;

typedef struct pb_jobs pb_jobs_t;
typedef struct pb_job pb_job_t;

/* Runs on the type's worker thread. May block (bounded by its own timeouts). Touches only arg and
 * thread-safe objects (librdkafka handles); never broker state, the loop, or HTTP requests. */
typedef void (*pb_job_work_t)(void *arg);

/* Runs on the loop thread after work returned. cancelled = 1 when the owner called pb_jobs_cancel
 * or the jobs layer is being destroyed: then done must only free arg (its owner may be gone).
 * The job handle is invalid once done returns. */
typedef void (*pb_job_done_t)(void *arg, int cancelled);

/* Start the workers and watch their completion pipe on loop. Returns NULL with err set. */
pb_jobs_t *pb_jobs_new(pb_loop_t *loop, pb_err_t *err);

/* Queue work(arg) on type's worker; done(arg, cancelled) follows on the loop thread (done may be
 * NULL). Loop thread. Returns the job's handle (valid until done is called, for pb_jobs_cancel),
 * or NULL out of memory or while shutting down (then nothing runs and arg stays the caller's). */
pb_job_t *pb_jobs_submit(pb_jobs_t *j, pb_job_type_t type, pb_job_work_t work, pb_job_done_t done,
                         void *arg);

/* The owner no longer wants the result: work still runs (or finishes) and done is called with
 * cancelled = 1. Loop thread; the handle must still be valid (done not called yet). */
void pb_jobs_cancel(pb_job_t *job);

/* Jobs of type queued or running. Loop thread. */
size_t pb_jobs_pending(const pb_jobs_t *j, pb_job_type_t type);

/* Jobs of type completed since start (done called). Loop thread. */
unsigned long long pb_jobs_completed(const pb_jobs_t *j, pb_job_type_t type);

/* Name of a type, for logs and metrics ("probe", "topics", "offsets", "close", "lag", "gzip"). */
const char *pb_jobs_type_name(pb_job_type_t type);

/* Shutdown: every queued job still runs (a close must commit its offsets), then each done is
 * called with cancelled = 1 on the calling thread, then the workers end. Waits as long as the
 * jobs' own timeouts. Call after the owners that submit jobs are destroyed and before the clients
 * the jobs use. NULL is a no-op. The loop must not be run again afterwards (its watch of the pipe
 * stays registered until pb_loop_destroy). */
void pb_jobs_destroy(pb_jobs_t *j);

#endif
