/*
 * sample — GET /v1/ports/{port}/sample on a worker thread (see sample.h).
 * Must not: block the loop thread, or touch broker state from the worker.
 */
#include "sample.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "broker.h"
#include "log.h"
#include "sub.h"

#define DEFAULT_LIMIT 5

typedef struct job {
    struct job *next;
    pb_http_req_t *req; /* loop thread only */
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
    pb_broker_t *b;
    pthread_t thread;
    int started, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *todo, *todo_tail, *done; /* under mu */
    int wake[2];
    int64_t pending; /* queued, running or done but not replied (loop thread) */
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

static void *worker_main(void *arg) {
    pb_sample_t *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stop && !s->todo)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        job_t *j = s->todo;
        s->todo = j->next;
        if (!s->todo) s->todo_tail = NULL;
        pthread_mutex_unlock(&s->mu);

        if (!(j->recs = calloc((size_t)j->limit, sizeof *j->recs)))
            j->rc = pb_err_set(&j->err, PB_ERR_NOMEM, "out of memory");
        else
            j->rc =
                pb_kafka_tail_records(s->b->kafka, j->topic, j->partitions, (size_t)j->limit,
                                      (int)j->timeout_ms, j->recs, &j->n, &j->complete, &j->err);
        pthread_mutex_lock(&s->mu);
        j->next = s->done;
        s->done = j;
        pthread_mutex_unlock(&s->mu);
        ssize_t w = write(s->wake[1], "x", 1);
        (void)w; /* a full pipe already wakes the loop */
    }
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
    const pb_registry_t *reg = pb_store_registry(s->b->store);
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

static void on_wake(void *arg) {
    pb_sample_t *s = arg;
    char drain[64];
    while (read(s->wake[0], drain, sizeof drain) > 0) {
    }
    pthread_mutex_lock(&s->mu);
    job_t *list = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->mu);
    while (list) {
        job_t *j = list;
        list = j->next;
        reply(s, j);
        s->pending--;
        job_free(j);
    }
}

pb_sample_t *pb_sample_new(pb_broker_t *b, pb_err_t *err) {
    pb_sample_t *s = calloc(1, sizeof *s);
    if (!s) {
        pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->b = b;
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        pb_err_set(err, PB_ERR_INTERNAL, "sampler: %s", strerror(errno));
        goto fail;
    }
    if (pb_loop_watch_fd(b->loop, s->wake[0], on_wake, s, err)) goto fail;
    if (pthread_create(&s->thread, NULL, worker_main, s) != 0) {
        pb_err_set(err, PB_ERR_INTERNAL, "sampler: cannot start its worker thread");
        goto fail;
    }
    s->started = 1;
    return s;
fail:
    pb_sample_destroy(s);
    return NULL;
}

void pb_sample_destroy(pb_sample_t *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    /* Jobs the worker finished are answered; those it never started get 503. */
    on_wake(s);
    for (job_t *j = s->todo, *next; j; j = next) {
        next = j->next;
        pb_http_set_header(j->req, "Retry-After", "1");
        pb_api_reply_error(j->req, 503, 50301, "sample of port %s: the broker is stopping", j->fqn);
        job_free(j);
    }
    if (s->wake[0] >= 0) close(s->wake[0]);
    if (s->wake[1] >= 0) close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

void pb_sample_handle(pb_sample_t *s, pb_http_req_t *req, const pb_port_t *port) {
    pb_err_t err = {0};
    int64_t limit = 0;
    const pb_config_t *cfg = s ? s->b->cfg : NULL;
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
    const char *enc = pb_http_query(req, "encoding");
    if (enc && strcmp(enc, "json") != 0 && strcmp(enc, "avro") != 0) {
        pb_api_reply_error(req, 400, 400, "encoding: '%.40s' is not one of json, avro", enc);
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
    j->req = req;
    j->partitions = port->partitions;
    j->avro = enc && !strcmp(enc, "avro");
    j->limit = limit;
    j->timeout_ms = cfg->sample_timeout_ms;
    s->pending++;
    pthread_mutex_lock(&s->mu);
    if (s->todo_tail)
        s->todo_tail->next = j;
    else
        s->todo = j;
    s->todo_tail = j;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}
