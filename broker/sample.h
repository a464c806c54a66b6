/*
 * sample — a port's recent records as sample data: GET /v1/ports/{port}/sample?limit=N (DESIGN.md
 * §8 "a port's page shows ... recent records", §9: only the port's own product or admin may read
 * its records).
 *
 * Owns: the reads not answered yet. The loop thread submits a PB_JOB_OFFSETS job per request
 * (jobs.h; bounded by sample.max.pending: 503 beyond); the jobs worker reads the newest records of
 * the port's topic through a temporary Kafka consumer outside any group (pb_kafka_tail_records:
 * blocking, bounded by sample.timeout.ms); the job's completion, on the loop, decodes the records
 * with the registry's schemas (as the streams do) and replies. The loop thread never waits on
 * Kafka: it only submits and renders.
 * Must not: touch the registry, the request or any broker state from the worker, or include
 * librdkafka or libevent.
 */
#ifndef PB_SAMPLE_H
#define PB_SAMPLE_H

#include "config.h"
#include "descriptor.h"
#include "err.h"
#include "http.h"
#include "jobs.h"
#include "kafka.h"
#include "store.h"

typedef struct pb_sample pb_sample_t;

/* What the sampler reads, given by its owner (broker.c): every pointer borrowed, outliving it. */
typedef struct pb_sample_env {
    const pb_config_t *cfg; /* sample.* */
    pb_jobs_t *jobs;        /* the reads run as PB_JOB_OFFSETS jobs */
    pb_kafka_t *kafka;      /* the cluster the reads' temporary consumers connect to */
    pb_store_t *store;      /* the registry's schemas the records are decoded with */
} pb_sample_env_t;

/* Start the sampler with env (copied; the jobs layer and Kafka client must exist). Returns NULL
 * with err set. Loop thread. */
pb_sample_t *pb_sample_new(const pb_sample_env_t *env, pb_err_t *err);

/* Answer every request not answered yet 503 and cancel its job (which then only frees itself
 * when it ends), free the sampler. Call before the HTTP server and the jobs layer are destroyed.
 * NULL is a no-op. Loop thread. */
void pb_sample_destroy(pb_sample_t *s);

/* GET /v1/ports/{port}/sample for port (borrowed; its topic and name are copied): queue the read
 * and reply later, or reply now with 400 (bad limit or encoding), 503 (sampler busy or not
 * started: s NULL). Loop thread. Reply body: {"port", "topic", "limit", "complete", "records":
 * [record objects of the stream format, newest first]}. */
void pb_sample_handle(pb_sample_t *s, pb_http_req_t *req, const pb_port_t *port);

/* Parse ?limit= (NULL: the default 5, capped at max) into 1..max. Returns 0 or PB_ERR_INVALID
 * with "limit: 'x' is not an integer in [1, max]". Pure. */
int pb_sample_parse_limit(const char *text, int64_t max, int64_t *out, pb_err_t *err);

#endif
