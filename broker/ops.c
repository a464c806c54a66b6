/*
 * ops — sampling timer, OpenLineage emitter and the ops HTTP handlers (see ops.h).
 * Must not: reach into the broker; what it reads comes through pb_ops_env_t (`b` below).
 */
#include "ops.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "assets.h"
#include "gzip.h"
#include "id.h"
#include "lineage.h"
#include "log.h"
#include "proc.h"
#include "status.h"

#define POST_ATTEMPTS 5      /* per event, the first included */
#define POST_BACKOFF_MS 250  /* before the 2nd attempt; doubles after each failure */
#define POST_TIMEOUT_MS 5000 /* connect + answer, per attempt */
#define POST_QUEUE_MAX 64    /* events waiting for the endpoint; the oldest is dropped beyond */
#define STOP_WAIT_MS 5000    /* at most this long for queued POSTs at shutdown */
/* Freed memory goes back to the system (pb_proc_trim) when, checked this often with nothing in
 * flight, resident memory has grown by TRIM_SLACK_BYTES more than the heap in use since the last
 * trim: freed pages that stayed resident (a burst such as the OpenLineage RUNNING events of every
 * job, which took RSS from 165 to 200 MB at 1,000 bindings each minute, re-touching pages a trim
 * had returned). A trim walks every free chunk and madvises it, returned before or not: each cost
 * ~12 ms of CPU and a TLB flush on every core at 1,000 bindings, a tenth of the idle budget when
 * it ran every 10 s with nothing new to give back. */
#define TRIM_EVERY_MS 10000
#define TRIM_SLACK_BYTES ((size_t)4 << 20)

/* Strict: the page, its script and its style come from this binary, nothing else anywhere. */
#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src "        \
    "'self'; "                                                                                     \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* A live OpenLineage job: its run id and its body from pb_lineage_jobs when last built, kept for
 * its COMPLETE event (the registry no longer knows a job that went). The body is compact JSON
 * text, gzip'ed: its facets repeat the same URLs, ~2.3 kB of text per job deflate to ~0.5 kB
 * (at 1,000 products and bindings: 4.6 MB as text; as jansson trees it had been 26 MB). */
typedef struct live_job {
    char run[PB_ID_UUID_LEN + 1];
    unsigned char *body; /* NULL: a free slot */
    size_t body_len, text_len;
    uint64_t stats; /* pb_lineage_*_stats when the body was built: unchanged, the same body */
} live_job_t;

struct pb_ops {
    pb_ops_env_t env; /* what it reads, all borrowed (ops.h) */
    pb_status_t *status;
    pb_loop_timer_t *tick;
    int64_t next_sample_ms, next_running_ms, next_trim_ms;
    pb_proc_memory_t after_trim; /* pb_proc_memory right after the last trim (zeros: none yet) */
    int started;                 /* the registry was replayed: jobs are followed */
    int stopped;
    /* OpenLineage jobs live in this process: job name -> its slot in jobs (a JSON integer).
     * START when a job appears, COMPLETE when it goes. */
    json_t *live;
    live_job_t *jobs;
    size_t n_jobs, cap_jobs, free_jobs; /* slots used or free; free ones among them */
    uint64_t jobs_hash;                 /* pb_lineage_jobs_hash when live was last synced */
    int64_t next_jobs_check_ms;
    /* The registry (and its pb_registry_applied_count) when the jobs' bodies were last all built
     * and when the job set was last checked: unchanged, neither is done again. */
    const pb_registry_t *built_reg, *checked_reg;
    uint64_t built_gen, checked_gen;
    char producer[64];
    /* HTTP delivery: a FIFO of event texts, the head in flight or waiting for its retry. */
    char **queue;
    size_t q_head, q_len;
    pb_http_post_t *post; /* in flight */
    int attempts;         /* failed attempts of the head */
    int64_t retry_at_ms;
    int64_t stop_deadline_ms;
};

static double now_s(void) { return (double)pb_loop_wall_ms() / 1000.0; }

/* ---- HTTP delivery ----------------------------------------------------------------------------
 */

static void pump(pb_ops_t *o);

static void q_pop(pb_ops_t *o) {
    free(o->queue[o->q_head]);
    o->queue[o->q_head] = NULL;
    o->q_head = (o->q_head + 1) % POST_QUEUE_MAX;
    o->q_len--;
    o->attempts = 0;
    o->retry_at_ms = 0;
}

static void on_posted(void *arg, int status, const char *reason) {
    pb_ops_t *o = arg;
    o->post = NULL;
    if (status >= 200 && status < 300) {
        q_pop(o);
    } else if (++o->attempts >= POST_ATTEMPTS) {
        pb_log(ERROR, "lineage", "POST %s failed %d times (last: %s): event dropped",
               o->env.cfg->lineage_url, o->attempts, reason);
        q_pop(o);
    } else {
        int64_t wait = (int64_t)POST_BACKOFF_MS << (o->attempts - 1);
        pb_log(WARN, "lineage", "POST %s: %s; retry %d/%d in %lld ms", o->env.cfg->lineage_url,
               reason, o->attempts + 1, POST_ATTEMPTS, (long long)wait);
        o->retry_at_ms = pb_loop_now_ms() + wait;
    }
    pump(o);
}

/* Start the head's POST when nothing is in flight and its retry time has come. */
static void pump(pb_ops_t *o) {
    if (o->post || !o->q_len || pb_loop_now_ms() < o->retry_at_ms) return;
    const char *text = o->queue[o->q_head];
    pb_err_t err = {0};
    o->post = pb_http_post(o->env.loop, o->env.cfg->lineage_url, "application/json", text,
                           strlen(text), POST_TIMEOUT_MS, on_posted, o, &err);
    if (!o->post) {
        pb_log(ERROR, "lineage", "POST %s: %s: event dropped", o->env.cfg->lineage_url, err.msg);
        q_pop(o);
    }
}

static void enqueue(pb_ops_t *o, const char *text) {
    if (o->q_len == POST_QUEUE_MAX) {
        if (o->post) return; /* the head is in flight: drop the new one instead */
        pb_log(WARN, "lineage", "%d events wait for %s: dropping the oldest", POST_QUEUE_MAX,
               o->env.cfg->lineage_url);
        q_pop(o);
    }
    char *copy = strdup(text);
    if (!copy) return;
    o->queue[(o->q_head + o->q_len) % POST_QUEUE_MAX] = copy;
    o->q_len++;
    pump(o);
}

/* ---- events -----------------------------------------------------------------------------------
 */

static void on_delivered(void *opaque, int code, const char *reason, int32_t partition,
                         int64_t offset) {
    (void)opaque;
    (void)partition;
    (void)offset;
    if (code) pb_log(WARN, "lineage", "OpenLineage event not stored in Kafka: %s", reason);
}

/* Send event text (NUL-terminated) of job `name` to lineage.topic (key: the run id) and
 * lineage.url. */
static void emit_text(pb_ops_t *o, const char *text, const char *type, const char *name,
                      const char *run_id) {
    const pb_ops_env_t *b = &o->env;
    pb_err_t err = {0};
    size_t len = strlen(text);
    if (*b->cfg->lineage_topic &&
        pb_kafka_produce(b->kafka, b->cfg->lineage_topic, -1, run_id, strlen(run_id), text, len,
                         NULL, 0, on_delivered, NULL, &err))
        pb_log(WARN, "lineage", "OpenLineage %s event to %s: %s", type, b->cfg->lineage_topic,
               err.msg);
    if (*b->cfg->lineage_url) enqueue(o, text);
    pb_log(DEBUG, "lineage", "OpenLineage %s event of job %s (%zu bytes), run %s", type, name, len,
           run_id);
}

/* One RunEvent of a job to lineage.topic (key: the run id) and lineage.url. */
static void emit(pb_ops_t *o, const json_t *body, const char *type, const char *run_id) {
    const pb_ops_env_t *b = &o->env;
    pb_lineage_ctx_t ctx = {pb_kafka_bootstrap(b->kafka), o->producer};
    json_t *ev = pb_lineage_run_event(&ctx, body, type, run_id, now_s());
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!text) {
        pb_log(ERROR, "lineage", "out of memory building the %s event", type);
        return;
    }
    emit_text(o, text, type,
              json_string_value(json_object_get(json_object_get(body, "job"), "name")), run_id);
    free(text);
}

/* A RUNNING event of a live job from its body's compact text body[0..len) (no JSON tree). */
static void emit_running_text(pb_ops_t *o, const char *name, const live_job_t *j, const char *body,
                              size_t len) {
    const pb_ops_env_t *b = &o->env;
    pb_lineage_ctx_t ctx = {pb_kafka_bootstrap(b->kafka), o->producer};
    pb_buf_t ev = {0};
    if (pb_lineage_event_text(&ctx, body, len, "RUNNING", j->run, now_s(), &ev) ||
        pb_buf_putc(&ev, 0))
        pb_log(ERROR, "lineage", "out of memory building the RUNNING event of %s", name);
    else
        emit_text(o, (const char *)ev.data, "RUNNING", name, j->run);
    pb_buf_free(&ev);
}

/* The slot of a live job (a JSON integer in o->live). */
static live_job_t *live_job(pb_ops_t *o, const json_t *slot) {
    return &o->jobs[json_integer_value(slot)];
}

/* emit() for a live job: its body is kept gzip'ed. */
static void emit_live(pb_ops_t *o, const json_t *slot, const char *type) {
    const live_job_t *j = live_job(o, slot);
    pb_buf_t text = {0};
    pb_err_t err = {0};
    json_t *body = NULL;
    if (pb_gzip_decompress(j->body, j->body_len, j->text_len, &text, &err) == 0)
        body = json_loadb((const char *)text.data, text.len, JSON_ALLOW_NUL, NULL);
    pb_buf_free(&text);
    if (!body) {
        pb_log(ERROR, "lineage", "out of memory building the %s event", type);
        return;
    }
    emit(o, body, type, j->run);
    json_decref(body);
}

/* Keep body (compact JSON text) in slot j. 0, or -1 out of memory (j unchanged). */
static int live_set_body(live_job_t *j, const char *text) {
    pb_buf_t z = {0};
    pb_err_t err = {0};
    size_t len = strlen(text);
    if (pb_gzip_compress(text, len, &z, &err)) return -1;
    unsigned char *body = realloc(z.data, z.len ? z.len : 1); /* no slack kept */
    if (!body) {
        pb_buf_free(&z);
        return -1;
    }
    free(j->body);
    j->body = body;
    j->body_len = z.len;
    j->text_len = len;
    return 0;
}

/* A new live job (a free slot or a new one) with run id run and body text; its slot index, or -1
 * out of memory. */
static json_int_t live_add(pb_ops_t *o, const char *run, const char *text) {
    size_t i = o->n_jobs;
    if (o->free_jobs) {
        for (i = 0; o->jobs[i].body; i++) {
        }
    } else if (o->n_jobs == o->cap_jobs) {
        size_t cap = o->cap_jobs ? o->cap_jobs * 2 : 64;
        live_job_t *nj = realloc(o->jobs, cap * sizeof *nj);
        if (!nj) return -1;
        o->jobs = nj;
        o->cap_jobs = cap;
    }
    live_job_t j = {0};
    snprintf(j.run, sizeof j.run, "%s", run);
    if (live_set_body(&j, text)) return -1;
    o->jobs[i] = j;
    if (i == o->n_jobs)
        o->n_jobs++;
    else
        o->free_jobs--;
    return (json_int_t)i;
}

/* Free live job slot i (its name is removed from o->live by the caller). */
static void live_free(pb_ops_t *o, size_t i) {
    live_job_t *j = &o->jobs[i];
    free(j->body);
    *j = (live_job_t){0};
    o->free_jobs++;
}

/* Call fn for every job of reg (products, then bindings, as pb_lineage_jobs lists them) with its
 * name and its live slot (NULL: not live). */
typedef void (*job_fn_t)(pb_ops_t *o, const char *name, live_job_t *j, const pb_product_t *p,
                         const pb_registry_binding_t *bd, void *arg);

static void each_job(pb_ops_t *o, const pb_registry_t *reg, job_fn_t fn, void *arg) {
    size_t n = 0;
    const pb_product_t *const *products = pb_registry_products(reg, &n);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_object_get(o->live, products[i]->fqn);
        fn(o, products[i]->fqn, e ? live_job(o, e) : NULL, products[i], NULL, arg);
    }
    for (size_t i = 0; i < pb_registry_binding_count(reg); i++) {
        const pb_registry_binding_t *bd = pb_registry_binding_at(reg, i);
        char name[PB_LINEAGE_JOB_NAME_MAX];
        pb_lineage_binding_name(bd, name, sizeof name);
        const json_t *e = json_object_get(o->live, name);
        fn(o, name, e ? live_job(o, e) : NULL, NULL, bd, arg);
    }
}

static uint64_t job_stats(const pb_ops_t *o, const pb_product_t *p,
                          const pb_registry_binding_t *bd) {
    const pb_registry_t *reg = pb_store_registry(o->env.store);
    return p ? pb_lineage_product_stats(p, o->env.metrics)
             : pb_lineage_binding_stats(reg, bd, o->env.metrics);
}

/* each_job: remember the statistics the job's body was just built with. */
static void note_stats(pb_ops_t *o, const char *name, live_job_t *j, const pb_product_t *p,
                       const pb_registry_binding_t *bd, void *arg) {
    (void)name;
    (void)arg;
    if (j) j->stats = job_stats(o, p, bd);
}

/* each_job for RUNNING with the registry unchanged since the bodies were built: a job whose
 * statistics did not change is sent from its kept body text; the others are rebuilt alone. */
static void running_job(pb_ops_t *o, const char *name, live_job_t *j, const pb_product_t *p,
                        const pb_registry_binding_t *bd, void *arg) {
    int *missing = arg;
    if (!j) { /* not followed (out of memory at its START): the full sync starts it */
        *missing = 1;
        return;
    }
    uint64_t stats = job_stats(o, p, bd);
    pb_err_t err = {0};
    if (stats == j->stats) {
        pb_buf_t text = {0};
        if (pb_gzip_decompress(j->body, j->body_len, j->text_len, &text, &err) == 0)
            emit_running_text(o, name, j, (const char *)text.data, text.len);
        else
            pb_log(ERROR, "lineage", "out of memory building the RUNNING event of %s", name);
        pb_buf_free(&text);
        return;
    }
    const pb_ops_env_t *b = &o->env;
    const pb_registry_t *reg = pb_store_registry(b->store);
    pb_lineage_ctx_t ctx = {pb_kafka_bootstrap(b->kafka), o->producer};
    json_t *body = p ? pb_lineage_product_job(&ctx, reg, p, b->metrics)
                     : pb_lineage_binding_job(&ctx, reg, bd, b->metrics);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text || live_set_body(j, text)) {
        pb_log(ERROR, "lineage", "out of memory following OpenLineage job %s", name);
    } else {
        j->stats = stats;
        emit_running_text(o, name, j, text, strlen(text));
    }
    free(text);
}

static void sync_jobs(pb_ops_t *o, int running);

/* RUNNING for every live job. While the registry is what the bodies were built from (no product,
 * port, schema or binding changed: pb_registry_applied_count), only jobs whose statistics moved are
 * rebuilt, each alone; the others are sent from their kept text, with no JSON tree (at 1,000
 * bindings a full rebuild each lineage.interval.ms was most of the idle loop's CPU). */
static void running_jobs(pb_ops_t *o) {
    const pb_registry_t *reg = pb_store_registry(o->env.store);
    if (reg != o->built_reg || pb_registry_applied_count(reg) != o->built_gen) {
        sync_jobs(o, 1);
        return;
    }
    int missing = 0;
    each_job(o, reg, running_job, &missing);
    if (missing) sync_jobs(o, 0);
}

/* Bring the live jobs in line with the registry: START for a new job, COMPLETE for a job that
 * went (a product deleted, a binding removed), RUNNING for every other one when running is set. */
static void sync_jobs(pb_ops_t *o, int running) {
    const pb_ops_env_t *b = &o->env;
    const pb_registry_t *reg = pb_store_registry(b->store);
    pb_lineage_ctx_t ctx = {pb_kafka_bootstrap(b->kafka), o->producer};
    json_t *jobs = pb_lineage_jobs(&ctx, reg, b->metrics);
    const char *name;
    json_t *body, *e;
    void *tmp;
    if (!jobs) {
        pb_log(ERROR, "lineage", "out of memory building the OpenLineage jobs");
        return;
    }
    o->jobs_hash = pb_lineage_jobs_hash(reg);
    json_object_foreach_safe(o->live, tmp, name, e) {
        if (json_object_get(jobs, name)) continue;
        emit_live(o, e, "COMPLETE");
        live_free(o, (size_t)json_integer_value(e));
        json_object_del(o->live, name);
    }
    json_object_foreach(jobs, name, body) {
        e = json_object_get(o->live, name);
        char *text = json_dumps(body, JSON_COMPACT);
        if (!e) {
            char run[PB_ID_UUID_LEN + 1];
            pb_id_uuid4(run);
            json_int_t slot = text ? live_add(o, run, text) : -1;
            if (slot < 0 || json_object_set_new(o->live, name, json_integer(slot))) {
                pb_log(ERROR, "lineage", "out of memory following OpenLineage job %s", name);
                if (slot >= 0) live_free(o, (size_t)slot);
                free(text);
                continue;
            }
            emit(o, body, "START", run);
        } else {
            if (text && live_set_body(live_job(o, e), text))
                pb_log(ERROR, "lineage", "out of memory following OpenLineage job %s", name);
            if (running) emit(o, body, "RUNNING", live_job(o, e)->run);
        }
        free(text);
    }
    json_decref(jobs);
    each_job(o, reg, note_stats, NULL);
    o->built_reg = o->checked_reg = reg;
    o->built_gen = o->checked_gen = pb_registry_applied_count(reg);
}

/* No record in flight to Kafka: a trim then gives back what a burst freed, without taking
 * malloc's arena locks from librdkafka's threads in the middle of one. */
static int quiet(const pb_ops_env_t *b) {
    pb_routers_stats_t rs = {0};
    if (b->routers) pb_routers_stats(b->routers, &rs);
    return rs.inflight == 0 && (!b->kafka || pb_kafka_outq_len(b->kafka) == 0);
}

static void tick(void *arg) {
    pb_ops_t *o = arg;
    const pb_ops_env_t *b = &o->env;
    int64_t now = pb_loop_now_ms();
    if (!o->stopped && now >= o->next_sample_ms) {
        if (pb_status_sample(o->status, pb_store_registry(b->store), b->metrics, now_s()))
            pb_log(ERROR, "status", "out of memory sampling the ports");
        o->next_sample_ms = now + b->cfg->status_sample_ms;
    }
    if (!o->stopped && !o->started && b->registry_loaded(b->owner)) {
        o->started = 1;
        sync_jobs(o, 0);
        o->next_running_ms = now + b->cfg->lineage_interval_ms;
        o->next_jobs_check_ms = now + 1000;
    } else if (!o->stopped && o->started && now >= o->next_running_ms) {
        running_jobs(o);
        o->next_running_ms = now + b->cfg->lineage_interval_ms;
    } else if (!o->stopped && o->started && now >= o->next_jobs_check_ms) {
        /* A product or binding added or removed: its START or COMPLETE within a second. Only a
         * registry that applied records since the last look is fingerprinted again. */
        const pb_registry_t *reg = pb_store_registry(b->store);
        uint64_t gen = pb_registry_applied_count(reg);
        if (reg != o->checked_reg || gen != o->checked_gen) {
            if (pb_lineage_jobs_hash(reg) != o->jobs_hash) sync_jobs(o, 0);
            o->checked_reg = reg;
            o->checked_gen = gen;
        }
        o->next_jobs_check_ms = now + 1000;
    }
    if (now >= o->next_trim_ms && quiet(b)) {
        pb_proc_memory_t m;
        if (pb_proc_memory(&m) == 0) {
            /* Resident growth beyond the heap's own growth: pages freed but still resident. */
            int64_t slack = (int64_t)(m.resident_bytes - o->after_trim.resident_bytes) -
                            (int64_t)(m.heap_in_use_bytes - o->after_trim.heap_in_use_bytes);
            if (slack >= (int64_t)TRIM_SLACK_BYTES) {
                pb_proc_trim();
                if (pb_proc_memory(&m) == 0) o->after_trim = m;
            } else if (m.resident_bytes < o->after_trim.resident_bytes) {
                o->after_trim = m; /* glibc gave memory back itself: measure growth from here */
            }
        }
        o->next_trim_ms = now + TRIM_EVERY_MS;
    }
    pump(o);
}

pb_ops_t *pb_ops_new(const pb_ops_env_t *env, pb_err_t *err) {
    const pb_ops_env_t *b = env; /* b: what the broker gave, as in the other functions */
    pb_ops_t *o = calloc(1, sizeof *o);
    if (!o) goto oom;
    o->env = *env;
    snprintf(o->producer, sizeof o->producer, "urn:portbroker:broker:%s", PB_VERSION);
    o->queue = calloc(POST_QUEUE_MAX, sizeof *o->queue);
    o->status = pb_status_new(b->cfg->status_sample_ms);
    int64_t period = 250;
    if (b->cfg->status_sample_ms < period) period = b->cfg->status_sample_ms;
    if (b->cfg->lineage_interval_ms < period) period = b->cfg->lineage_interval_ms;
    o->live = json_object();
    if (!o->queue || !o->status || !o->live ||
        !(o->tick = pb_loop_timer_new(b->loop, period, 1, tick, o)))
        goto oom;
    if (*b->cfg->lineage_topic || *b->cfg->lineage_url)
        pb_log(INFO, "lineage",
               "OpenLineage: a job per data product and per binding (namespace %s)%s%s%s%s",
               PB_LINEAGE_JOB_NAMESPACE, *b->cfg->lineage_topic ? ", to Kafka topic " : "",
               b->cfg->lineage_topic, *b->cfg->lineage_url ? ", POSTed to " : "",
               b->cfg->lineage_url);
    return o;
oom:
    pb_ops_destroy(o);
    pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    return NULL;
}

void pb_ops_stop(pb_ops_t *o) {
    if (o->stopped) return;
    o->stopped = 1;
    o->stop_deadline_ms = pb_loop_now_ms() + STOP_WAIT_MS;
    if (o->started) {
        const char *name;
        json_t *e;
        json_object_foreach(o->live, name, e) {
            emit_live(o, e, "COMPLETE");
            live_free(o, (size_t)json_integer_value(e));
        }
        json_object_clear(o->live);
    } else {
        pb_log(INFO, "lineage", "stopping before the registry was replayed: no OpenLineage events");
    }
}

int pb_ops_busy(const pb_ops_t *o) {
    return o->q_len > 0 && (!o->stopped || pb_loop_now_ms() < o->stop_deadline_ms);
}

void pb_ops_destroy(pb_ops_t *o) {
    if (!o) return;
    if (o->q_len)
        pb_log(WARN, "lineage", "%zu OpenLineage events not delivered to %s", o->q_len,
               o->env.cfg->lineage_url);
    pb_http_post_cancel(o->post);
    pb_loop_timer_destroy(o->tick);
    for (size_t i = 0; o->queue && i < POST_QUEUE_MAX; i++)
        free(o->queue[i]);
    free(o->queue);
    pb_status_destroy(o->status);
    json_decref(o->live);
    for (size_t i = 0; i < o->n_jobs; i++)
        free(o->jobs[i].body);
    free(o->jobs);
    free(o);
}

/* ---- HTTP handlers ----------------------------------------------------------------------------
 */

static void reply_doc(pb_http_req_t *req, json_t *doc) {
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(doc);
    if (!text) {
        static const char oom[] = "{\"error_code\":50001,\"message\":\"out of memory\"}";
        pb_http_reply(req, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    pb_http_set_header(req, "Cache-Control", "no-store");
    pb_http_reply(req, 200, "application/json", text, strlen(text));
    free(text);
}

void pb_ops_h_status(pb_ops_t *o, pb_http_req_t *req, const char *rest) {
    (void)rest;
    const pb_ops_env_t *b = &o->env;
    json_t *doc = pb_status_json(o->status, pb_store_registry(b->store), b->metrics, now_s());
    if (doc) {
        /* Instance and Kafka health: what /readyz knows, for the console's header. */
        const char *why = NULL;
        int ready = b->ready(b->owner, &why);
        json_object_set_new(
            doc, "health",
            json_pack("{s:s,s:b,s:s?,s:I,s:f,s:{s:b,s:b,s:s,s:i},s:{s:I,s:I}}", "version",
                      PB_VERSION, "ready", ready, "reason", why, "startedAtMs",
                      (json_int_t)b->started_wall_ms, "uptimeSeconds",
                      (double)(pb_loop_wall_ms() - b->started_wall_ms) / 1000.0, "kafka",
                      "reachable", pb_kafka_reachable(b->kafka), "embedded",
                      pb_kafka_is_embedded(b->kafka), "bootstrap", pb_kafka_bootstrap(b->kafka),
                      "produceQueue", pb_kafka_outq_len(b->kafka), "registry", "position",
                      (json_int_t)pb_store_position(b->store), "replayEnd",
                      (json_int_t)pb_store_replay_end(b->store)));
    }
    reply_doc(req, doc);
}

void pb_ops_h_lineage(pb_ops_t *o, pb_http_req_t *req, const char *rest) {
    (void)rest;
    const char *format = pb_http_query(req, "format");
    json_t *graph = pb_lineage_graph(o->status, pb_store_registry(o->env.store));
    if (!format || !strcmp(format, "json")) {
        reply_doc(req, graph);
        return;
    }
    if (strcmp(format, "dot") != 0) {
        json_decref(graph);
        pb_api_reply_error(req, 400, 400, "format '%.100s' is not supported: use json or dot",
                           format);
        return;
    }
    pb_buf_t out = {0};
    if (!graph || pb_lineage_dot(graph, &out)) {
        json_decref(graph);
        pb_buf_free(&out);
        static const char oom[] = "{\"error_code\":50001,\"message\":\"out of memory\"}";
        pb_http_reply(req, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    json_decref(graph);
    pb_http_set_header(req, "Cache-Control", "no-store");
    pb_http_reply(req, 200, "text/vnd.graphviz; charset=utf-8", out.data, out.len);
    pb_buf_free(&out);
}

static void asset(pb_http_req_t *req, const char *type, const unsigned char *data, size_t len) {
    pb_http_set_header(req, "Content-Security-Policy", CSP);
    pb_http_set_header(req, "X-Content-Type-Options", "nosniff");
    pb_http_set_header(req, "Referrer-Policy", "no-referrer");
    pb_http_set_header(req, "Cache-Control", "no-cache");
    pb_http_reply(req, 200, type, data, len);
}

void pb_ops_h_dashboard(pb_ops_t *o, pb_http_req_t *req, const char *rest) {
    (void)o;
    (void)rest;
    asset(req, "text/html; charset=utf-8", pb_asset_dashboard_html, pb_asset_dashboard_html_len);
}

void pb_ops_h_dashboard_js(pb_ops_t *o, pb_http_req_t *req, const char *rest) {
    (void)o;
    (void)rest;
    asset(req, "text/javascript; charset=utf-8", pb_asset_dashboard_js, pb_asset_dashboard_js_len);
}

void pb_ops_h_dashboard_css(pb_ops_t *o, pb_http_req_t *req, const char *rest) {
    (void)o;
    (void)rest;
    asset(req, "text/css; charset=utf-8", pb_asset_dashboard_css, pb_asset_dashboard_css_len);
}

void pb_ops_h_dashboard_svg(pb_ops_t *o, pb_http_req_t *req, const char *rest) {
    (void)o;
    (void)rest;
    asset(req, "image/svg+xml", pb_asset_dashboard_svg, pb_asset_dashboard_svg_len);
}

void pb_ops_h_root(pb_ops_t *o, pb_http_req_t *req, const char *rest) {
    (void)o;
    (void)rest;
    static const char body[] = "see /dashboard\n";
    pb_http_set_header(req, "Location", "/dashboard");
    pb_http_reply(req, 302, "text/plain; charset=utf-8", body, sizeof body - 1);
}

void pb_ops_h_openapi(pb_ops_t *o, pb_http_req_t *req, const char *rest) {
    (void)o;
    (void)rest;
    pb_http_set_header(req, "X-Content-Type-Options", "nosniff");
    pb_http_set_header(req, "Cache-Control", "no-cache");
    pb_http_reply(req, 200, "application/json", pb_asset_openapi_json, pb_asset_openapi_json_len);
}
