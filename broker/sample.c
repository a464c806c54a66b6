/*
 * sample — GET /v1/ports/{port}/sample as a PB_JOB_OFFSETS job (see sample.h): the worker reads
 * the newest records, the completion renders and answers on the loop.
 * Must not: block the loop thread, touch broker state from the worker, or reach into the broker
 * (pb_sample_env_t is what it reads).
 */
#include "sample.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "codec.h"
#include "jobs.h"
#include "log.h"
#include "sub.h"

#define DEFAULT_LIMIT 5

typedef struct job {
    struct job *next;    /* in the sampler's list of jobs not yet answered */
    struct pb_sample *s; /* loop thread only (gone when cancelled) */
    pb_kafka_t *kafka;   /* the worker's: outlives the jobs layer */
    pb_job_t *handle;    /* for pb_jobs_cancel */
    pb_http_req_t *req;  /* loop thread only */
    char *fqn, *topic;
    int partitions, avro;
    int64_t limit, timeout_ms;
    /* the worker's results */
    pb_kafka_record_t *recs;
    size_t n;
    int complete, rc;
    pb_err_t err;
} job_t;

struct pb_sample {
    pb_sample_env_t env; /* borrowed pointers (sample.h) */
    job_t *jobs;         /* submitted, not answered yet (at most sample.max.pending) */
    int64_t pending;     /* their number */
};

int pb_sample_parse_limit(const char *text, int64_t max, int64_t *out, pb_err_t *err) {
    if (!text) {
        *out = DEFAULT_LIMIT < max ? DEFAULT_LIMIT : max;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*text < '0' || *text > '9' || *end || errno || v < 1 || v > max) /* digits only */
        return pb_err_set(err, PB_ERR_INVALID,
                          "limit: '%.40s' is not an integer in [1, %lld] (sample.max.records)",
                          text, (long long)max);
    *out = v;
    return 0;
}

static void job_free(job_t *j) {
    if (!j) return;
    for (size_t i = 0; i < j->n; i++)
        pb_kafka_record_release(&j->recs[i]);
    free(j->recs);
    free(j->fqn);
    free(j->topic);
    free(j);
}

/* PB_JOB_OFFSETS work: the newest records of each partition, on a jobs worker. */
static void tail_work(void *arg) {
    job_t *j = arg;
    if (!(j->recs = calloc((size_t)j->limit, sizeof *j->recs)))
        j->rc = pb_err_set(&j->err, PB_ERR_NOMEM, "out of memory");
    else
        j->rc = pb_kafka_tail_records(j->kafka, j->topic, j->partitions, (size_t)j->limit,
                                      (int)j->timeout_ms, j->recs, &j->n, &j->complete, &j->err);
}

/* Newest first: Kafka timestamp, then offset. */
static int newest_first(const void *a, const void *b) {
    const pb_kafka_record_t *x = a, *y = b;
    if (x->timestamp_ms != y->timestamp_ms) return x->timestamp_ms < y->timestamp_ms ? 1 : -1;
    if (x->offset != y->offset) return x->offset < y->offset ? 1 : -1;
    return x->partition < y->partition ? 1 : x->partition > y->partition ? -1 : 0;
}

static void reply(pb_sample_t *s, job_t *j) {
    pb_buf_t out = {0};
    int rc = 0;
    if (j->rc) {
        pb_log_rl(WARN, "sample", "sample of %s (topic %s): %s", j->fqn, j->topic, j->err.msg);
        pb_http_set_header(j->req, "Retry-After", "1");
        pb_api_reply_error(j->req, 503, 50301, "sample of port %s: %s", j->fqn, j->err.msg);
        return;
    }
    qsort(j->recs, j->n, sizeof *j->recs, newest_first);
    json_t *head = json_pack("{s:s,s:s,s:I,s:b}", "port", j->fqn, "topic", j->topic, "limit",
                             (json_int_t)j->limit, "complete", j->complete);
    char *text = head ? json_dumps(head, JSON_COMPACT) : NULL;
    json_decref(head);
    /* {head..., "records": [record, ...]}: the head's closing brace is replaced. */
    rc =
        !text || pb_buf_append(&out, text, strlen(text) - 1) || pb_buf_puts(&out, ",\"records\":[");
    free(text);
    const pb_registry_t *reg = pb_store_registry(s->env.store);
    for (size_t i = 0; !rc && i < j->n; i++) {
        if (i) rc = pb_buf_putc(&out, ',');
        if (!rc) rc = pb_sub_render(reg, &j->recs[i], 0, j->avro, &out);
        if (!rc && out.len && out.data[out.len - 1] == '\n') out.len--;
    }
    if (!rc) rc = pb_buf_puts(&out, "]}");
    if (rc) {
        static const char oom[] = "{\"error_code\":50001,\"message\":\"out of memory\"}";
        pb_http_reply(j->req, 500, "application/json", oom, sizeof oom - 1);
    } else {
        pb_http_set_header(j->req, "Cache-Control", "no-store");
        pb_http_reply(j->req, 200, "application/json", out.data, out.len);
    }
    pb_buf_free(&out);
}

static void unlink_job(pb_sample_t *s, job_t *j) {
    for (job_t **p = &s->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            s->pending--;
            return;
        }
}

/* The job's completion, on the loop: answer (unless the sampler already did, stopping). */
static void tail_done(void *arg, int cancelled) {
    job_t *j = arg;
    if (!cancelled) {
        unlink_job(j->s, j);
        reply(j->s, j);
    }
    job_free(j);
}

pb_sample_t *pb_sample_new(const pb_sample_env_t *env, pb_err_t *err) {
    pb_sample_t *s = calloc(1, sizeof *s);
    if (!s) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->env = *env;
    return s;
}

void pb_sample_destroy(pb_sample_t *s) {
    if (!s) return;
    /* Reads still running answer 503 now; their jobs finish later and only free themselves. */
    while (s->jobs) {
        job_t *j = s->jobs;
        s->jobs = j->next;
        pb_http_set_header(j->req, "Retry-After", "1");
        pb_api_reply_error(j->req, 503, 50301, "sample of port %s: the broker is stopping", j->fqn);
        pb_jobs_cancel(j->handle);
    }
    free(s);
}

void pb_sample_handle(pb_sample_t *s, pb_http_req_t *req, const pb_port_t *port) {
    pb_err_t err = {0};
    int64_t limit = 0;
    const pb_config_t *cfg = s ? s->env.cfg : NULL;
    if (!s) {
        pb_http_set_header(req, "Retry-After", "1");
        pb_api_reply_error(req, 503, 50301, "sample of port %s: Kafka is not reachable yet",
                           port->fqn);
        return;
    }
    if (pb_sample_parse_limit(pb_http_query(req, "limit"), cfg->sample_max_records, &limit, &err)) {
        pb_api_reply_error(req, 400, 400, "%s", err.msg);
        return;
    }
    int avro = 0; /* the same encoding= as streams: one parser, one message */
    if (pb_codec_encoding(pb_http_query(req, "encoding"), &avro, &err)) {
        pb_api_reply_error(req, 400, 400, "%s", err.msg);
        return;
    }
    if (s->pending >= cfg->sample_max_pending) {
        pb_http_set_header(req, "Retry-After", "1");
        pb_api_reply_error(req, 503, 50301,
                           "sample of port %s: %lld sample reads already pending "
                           "(sample.max.pending); retry shortly",
                           port->fqn, (long long)s->pending);
        return;
    }
    job_t *j = calloc(1, sizeof *j);
    if (!j || !(j->fqn = strdup(port->fqn)) || !(j->topic = strdup(port->topic))) {
        job_free(j);
        pb_api_reply_error(req, 500, 50001, "out of memory");
        return;
    }
    j->s = s;
    j->kafka = s->env.kafka;
    j->req = req;
    j->partitions = port->partitions;
    j->avro = avro;
    j->limit = limit;
    j->timeout_ms = cfg->sample_timeout_ms;
    if (!(j->handle = pb_jobs_submit(s->env.jobs, PB_JOB_OFFSETS, tail_work, tail_done, j))) {
        job_free(j);
        pb_http_set_header(req, "Retry-After", "1");
        pb_api_reply_error(req, 503, 50301, "sample of port %s: the broker is stopping", port->fqn);
        return;
    }
    j->next = s->jobs;
    s->jobs = j;
    s->pending++;
}
