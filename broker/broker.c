/*
 * broker.c — start-up in dependency order (config, loop, Kafka, registry replay, HTTP, routers),
 * SIGHUP reload of the descriptors, and shutdown in reverse order with bounded flushes.
 * Must not: answer requests or speak librdkafka's API itself.
 */
#include "broker.h"

#include <signal.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "api.h"
#include "dedupe.h"
#include "exporter.h"
#include "id.h"
#include "log.h"
#include "notify.h"
#include "ops.h"
#include "sample.h"
#include "sub.h"
#include "tls.h"

int pb_broker_check_limits(const pb_broker_t *b, const pb_product_t *p,
                           pb_broker_port_lookup_t lookup, const void *ctx, pb_err_t *err) {
    const pb_config_t *cfg = b->cfg;
    size_t ports = p->n_outputs + p->n_inputs;
    long long total = 0;
    if ((int64_t)ports > cfg->descriptor_ports_max)
        return pb_err_set(err, PB_ERR_TOO_LARGE,
                          "%s declares %zu ports, at most %lld are allowed in one descriptor "
                          "(descriptor.ports.max)",
                          p->fqn, ports, (long long)cfg->descriptor_ports_max);
    for (size_t j = 0; j < ports; j++) {
        int out = j < p->n_outputs;
        const pb_port_t *port = out ? &p->outputs[j] : &p->inputs[j - p->n_outputs];
        const pb_port_t *from = !out && port->from && lookup ? lookup(ctx, port->from) : NULL;
        int n = from ? from->partitions : port->partitions;
        if (n > cfg->topic_partitions_max)
            return pb_err_set(err, PB_ERR_TOO_LARGE,
                              "port %s: %d partitions, at most %lld are allowed "
                              "(topic.partitions.max)",
                              port->fqn, n, (long long)cfg->topic_partitions_max);
        total += out ? 2LL * n : n; /* an output port's dead-letter topic has as many */
        const char *topics[2] = {port->topic, out ? port->dlq_topic : NULL};
        for (int t = 0; t < 2; t++) {
            if (!topics[t]) continue;
            const char *key = !strcmp(topics[t], cfg->registry_topic) ? "registry.topic"
                              : *cfg->lineage_topic && !strcmp(topics[t], cfg->lineage_topic)
                                  ? "lineage.topic"
                                  : NULL;
            if (key)
                return pb_err_set(err, PB_ERR_INVALID,
                                  "port %s: topic '%s' is this broker's %s; a port may not use "
                                  "it (records there would corrupt it): choose another "
                                  "x-portbroker.topic",
                                  port->fqn, topics[t], key);
        }
    }
    if (total > cfg->descriptor_partitions_max)
        return pb_err_set(err, PB_ERR_TOO_LARGE,
                          "%s: its topics add up to %lld partitions, at most %lld are allowed in "
                          "one descriptor (descriptor.partitions.max)",
                          p->fqn, total, (long long)cfg->descriptor_partitions_max);
    return 0;
}

/* ---- topic creation as a job ---- */

typedef struct topics_job {
    pb_kafka_t *kafka;
    int timeout_ms;
    size_t n, cap;
    pb_kafka_topic_req_t *t; /* t[i].topic owned */
    char *log_topic;         /* start-up: the registry log, whose watermarks are looked up too */
    int64_t log_low, log_high;
    int rc;
    pb_err_t err;
    pb_broker_topics_cb_t cb;
    void *arg;
} topics_job_t;

static void topics_job_free(topics_job_t *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++)
        free((char *)t->t[i].topic);
    free(t->t);
    free(t->log_topic);
    free(t);
}

static int topics_job_add(topics_job_t *t, const char *topic, int partitions, int compact) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        pb_kafka_topic_req_t *n = realloc(t->t, cap * sizeof *n);
        if (!n) return -1;
        t->t = n;
        t->cap = cap;
    }
    char *name = strdup(topic);
    if (!name) return -1;
    t->t[t->n++] =
        (pb_kafka_topic_req_t){.topic = name, .partitions = partitions, .compact = compact};
    return 0;
}

/* The topics product p needs: each output port's topic and dead-letter topic, each input port's
 * topic with the partition count of the output port it is bound to (routing keeps partitions). */
static int topics_job_add_product(topics_job_t *t, const pb_product_t *p,
                                  pb_broker_port_lookup_t lookup, const void *ctx) {
    for (size_t j = 0; j < p->n_outputs; j++)
        if (topics_job_add(t, p->outputs[j].topic, p->outputs[j].partitions, 0) ||
            topics_job_add(t, p->outputs[j].dlq_topic, p->outputs[j].partitions, 0))
            return -1;
    for (size_t j = 0; j < p->n_inputs; j++) {
        const pb_port_t *in = &p->inputs[j];
        const pb_port_t *from = in->from && lookup ? lookup(ctx, in->from) : NULL;
        if (topics_job_add(t, in->topic, from ? from->partitions : in->partitions, 0)) return -1;
    }
    return 0;
}

static void topics_work(void *arg) { /* PB_JOB_TOPICS worker: sees only the job */
    topics_job_t *t = arg;
    t->rc = pb_kafka_ensure_topics(t->kafka, t->t, t->n, t->timeout_ms, &t->err);
    if (!t->rc && t->log_topic)
        t->rc = pb_kafka_watermarks(t->kafka, t->log_topic, 0, &t->log_low, &t->log_high,
                                    t->timeout_ms, &t->err);
    /* The registry log exists now: the reachability probe can ask about it alone. */
    if (!t->rc && t->log_topic) (void)pb_kafka_probe_topic(t->kafka, t->log_topic);
}

static void topics_done(void *arg, int cancelled) {
    topics_job_t *t = arg;
    t->cb(t->arg, t->rc, &t->err, cancelled);
    topics_job_free(t);
}

int pb_broker_ensure_topics_async(pb_broker_t *b, const pb_product_t *p,
                                  pb_broker_port_lookup_t lookup, const void *ctx, int timeout_ms,
                                  pb_broker_topics_cb_t cb, void *arg, pb_err_t *err) {
    int rc = pb_broker_check_limits(b, p, lookup, ctx, err);
    if (rc) return rc;
    topics_job_t *t = calloc(1, sizeof *t);
    if (!t || topics_job_add_product(t, p, lookup, ctx)) goto nomem;
    t->kafka = b->kafka;
    t->timeout_ms = timeout_ms;
    t->cb = cb;
    t->arg = arg;
    if (!pb_jobs_submit(b->jobs, PB_JOB_TOPICS, topics_work, topics_done, t)) goto nomem;
    return 0;
nomem:
    topics_job_free(t);
    return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
}

static const pb_port_t *set_lookup(const void *ctx, const char *urn) {
    return pb_descriptor_set_port(ctx, urn);
}

/* ---- descriptors -> registry ------------------------------------------------------------- */

/* Once products.dir's descriptors are stored (written and read back, or unchanged), the registry
 * holds its own copies: free the loaded ones (an empty set stays; n_products keeps the count). */
static void products_release(pb_broker_t *b) {
    if (b->sync_needed || b->sync_inflight || !b->products || !b->products->n_products) return;
    pb_descriptor_set_t *empty = pb_descriptor_set_new();
    if (!empty) return; /* out of memory: keep them, nothing depends on it */
    pb_descriptor_set_destroy(b->products);
    b->products = empty;
}

static void on_sync_done(void *ctx, const pb_registry_result_t *res, int code, const char *msg) {
    pb_broker_t *b = ctx;
    b->sync_inflight--;
    products_release(b);
    if (!res)
        pb_log(ERROR, "registry", "storing a descriptor in the registry failed (%d): %s", code,
               msg);
    else if (res->error_code)
        pb_log(
            ERROR, "registry",
            "the registry refused a descriptor from %s (%d): %s; the registry keeps its previous "
            "state for that product",
            b->cfg->products_dir, res->error_code, res->message ? res->message : "");
}

/* Once the registry is replayed, write every descriptor that differs from what it holds. */
static void sync_tick(void *arg) {
    pb_broker_t *b = arg;
    if (!pb_store_caught_up(b->store)) return;
    if (b->routers && !b->routers_started) {
        b->routers_started = 1; /* once after the replay; then on_applied keeps them in step */
        pb_routers_reconcile(b->routers, pb_store_registry(b->store));
    }
    if (!b->sync_needed) return;
    b->sync_needed = 0;
    const pb_registry_t *reg = pb_store_registry(b->store);
    for (size_t i = 0; i < b->products->n_products; i++) {
        const pb_product_t *p = b->products->products[i];
        if (pb_registry_product_unchanged(reg, p)) continue;
        char req[PB_ID_UUID_LEN + 1];
        pb_buf_t rec = {0};
        pb_err_t err = {0};
        pb_id_uuid4(req);
        if (pb_registry_record_product_put(&rec, req, p, &err) ||
            pb_store_write(b->store, req, rec.data, rec.len, on_sync_done, b, &err))
            pb_log(ERROR, "registry", "cannot store product %s: %s", p->fqn, err.msg);
        else
            b->sync_inflight++;
        pb_buf_free(&rec);
    }
    pb_log(INFO, "registry", "registry ready: %zu products in products.dir, %d written",
           b->n_products, b->sync_inflight);
    products_release(b);
}

/* After every registry record applied (replay included): each data-plane module reconciles what it
 * runs with the registry's new state here (routers with bindings, ...). */
static void on_applied(void *ctx, const pb_registry_result_t *res) {
    pb_broker_t *b = ctx;
    pb_exporter_applied(b->exporter, res);
    /* Routers: on every record once replayed (the registry's borrowed pointers move). */
    if (b->routers && b->store && pb_store_caught_up(b->store))
        pb_routers_reconcile(b->routers, pb_store_registry(b->store));
    if (!res->changed) return;
    pb_sub_reconcile(b->sub);
}

/* ---- reachability: a PB_JOB_PROBE job every second, never two at once ---- */

static void probe_work(void *arg) { pb_kafka_probe(arg, 2000); }

/* systemd (Type=notify): READY=1 the first time /readyz would answer 200, and STATUS= lines
 * saying why not until then (or when readiness is lost later); an applied reload's READY=1 once
 * its descriptors are stored in the registry (what /readyz waits for too). */
static void notify_tick(pb_broker_t *b) {
    const char *why = NULL;
    char s[PB_ERR_MSG_MAX];
    if (!b->notify || b->stopping) return;
    if (pb_broker_ready(b, &why)) {
        if (b->reload_notify) {
            b->reload_notify = 0;
            snprintf(s, sizeof s, "ready; reloaded %zu products", b->n_products);
            pb_notify_reloaded(b->notify, s);
            return;
        }
        snprintf(s, sizeof s, "ready: %zu products, HTTP port %d", b->n_products,
                 pb_http_port(b->http));
        pb_notify_state(b->notify, 1, s);
    } else {
        snprintf(s, sizeof s, "not ready: %s", why);
        pb_notify_state(b->notify, 0, s);
    }
}

static void probe_tick(void *arg) {
    pb_broker_t *b = arg;
    notify_tick(b);
    /* librdkafka wakes the loop only when its event queue goes from empty to non-empty; should a
     * wake-up ever be missed, delivery reports would wait (and publishes with them) until the next
     * one. Serving once a second bounds that, and says so when it happens. */
    size_t late = pb_kafka_serve_missed(b->kafka);
    if (late)
        pb_log_rl(WARN, "kafka",
                  "%zu Kafka events (delivery reports) were waiting without a wake-up of the "
                  "loop; served by the once-a-second check",
                  late);
    if (b->stopping || pb_jobs_pending(b->jobs, PB_JOB_PROBE)) return;
    pb_jobs_submit(b->jobs, PB_JOB_PROBE, probe_work, NULL, b->kafka);
}

static void on_kafka(void *arg) {
    pb_broker_t *b = arg;
    pb_kafka_serve(b->kafka);
}

static void on_stop_signal(void *arg) {
    pb_broker_t *b = arg;
    if (b->stopping) {
        pb_log(WARN, "broker", "second stop signal: exiting now");
        pb_loop_stop(b->loop);
        return;
    }
    pb_log(INFO, "broker", "stop signal received: no new connections, flushing Kafka");
    pb_broker_stop(b);
}

static void on_hup(void *arg) {
    pb_broker_t *b = arg;
    pb_err_t err = {0};
    char s[PB_ERR_MSG_MAX];
    pb_notify_reloading(b->notify, "reloading (SIGHUP): descriptors, credentials, certificates");
    if (b->access) {
        if (pb_access_reload(b->access, &err))
            pb_log(ERROR, "auth", "SIGHUP: credentials reload refused, keeping the old ones: %s",
                   err.msg);
        else
            pb_log(INFO, "auth", "SIGHUP: credentials reloaded");
        pb_err_clear(&err);
    }
    if (b->tls) {
        char fp[65];
        if (pb_tls_reload(b->tls, &err)) {
            pb_log(ERROR, "tls", "SIGHUP: certificate reload refused, keeping the old one: %s",
                   err.msg);
        } else {
            pb_tls_fingerprint(b->tls, fp);
            pb_log(INFO, "tls", "SIGHUP: certificate reloaded (SHA-256 %s)", fp);
        }
        pb_err_clear(&err);
    }
    if (pb_broker_reload(b, &err)) {
        pb_log(ERROR, "broker",
               "SIGHUP: reload refused, keeping the %zu products loaded before: %s", b->n_products,
               err.msg);
        snprintf(s, sizeof s, "ready; the last reload was refused: %.200s", err.msg);
        pb_notify_reloaded(b->notify, s);
    }
}

/* Forget the record ids past publish.dedupe.window.ms (memory is freed while no one publishes). */
static void dedupe_sweep(void *arg) {
    pb_broker_t *b = arg;
    pb_dedupe_expire(b->dedupe, pb_loop_wall_ms());
}

static void stop_now(void *arg) {
    pb_broker_t *b = arg;
    if (b->ops && pb_ops_busy(b->ops)) return; /* lineage POSTs still going (bounded) */
    pb_loop_stop(b->loop);
}

void pb_broker_stop(pb_broker_t *b) {
    if (b->stopping) return;
    b->stopping = 1;
    pb_notify_stopping(b->notify, "stopping: no new connections, flushing Kafka");
    if (b->http) pb_http_stop_accepting(b->http);
    if (b->ops) pb_ops_stop(b->ops); /* OpenLineage COMPLETE, before Kafka flushes */
    /* Let replies already queued go out, then leave the loop (stop_now repeats while lineage
     * POSTs are pending, for a bounded time). */
    b->stop_timer = pb_loop_timer_new(b->loop, 50, 1, stop_now, b);
    if (!b->stop_timer) pb_loop_stop(b->loop);
}

/* A SIGHUP reload waiting for its topics: one PB_JOB_TOPICS job per product. */
typedef struct reload {
    pb_broker_t *b; /* NULL once cancelled */
    pb_descriptor_set_t *set;
    size_t pending; /* jobs not yet done */
    int rc;
    pb_err_t err; /* the first failure */
} reload_t;

static void reload_topics_done(void *arg, int rc, const pb_err_t *terr, int cancelled) {
    reload_t *r = arg;
    if (rc && !r->rc) {
        r->rc = rc;
        r->err = *terr;
    }
    if (cancelled) r->b = NULL;
    if (--r->pending) return;
    pb_broker_t *b = r->b;
    if (b) {
        char s[PB_ERR_MSG_MAX];
        b->reload_inflight = 0;
        if (r->rc) {
            pb_log(ERROR, "broker",
                   "SIGHUP: reload refused, keeping the %zu products loaded before: %s",
                   b->n_products, r->err.msg);
            snprintf(s, sizeof s, "ready; the last reload was refused: %.200s", r->err.msg);
        } else {
            pb_descriptor_set_destroy(b->products);
            b->products = r->set;
            b->n_products = r->set->n_products;
            r->set = NULL;
            b->reloads++;
            b->sync_needed = 1;
            pb_log(INFO, "broker", "reloaded %zu products from %s", b->n_products,
                   b->cfg->products_dir);
            b->reload_notify = 1; /* READY=1 once they are stored (notify_tick) */
        }
        if (r->rc) pb_notify_reloaded(b->notify, s);
    }
    pb_descriptor_set_destroy(r->set);
    free(r);
}

int pb_broker_reload(pb_broker_t *b, pb_err_t *err) {
    pb_descriptor_set_t *set = NULL;
    if (!b->kafka_started)
        return pb_err_set(err, PB_ERR_UNAVAILABLE,
                          "Kafka has not answered since start-up: the descriptors are read when "
                          "it does");
    if (b->reload_inflight)
        return pb_err_set(err, PB_ERR_UNAVAILABLE,
                          "the previous reload is still creating its topics; send SIGHUP again "
                          "once the log says it ended");
    int rc = pb_descriptor_load_dir(b->cfg->products_dir, b->cfg->mesh_namespace,
                                    (int)b->cfg->topic_partitions, &set, err);
    if (rc) return rc;
    for (size_t i = 0; i < set->n_products; i++)
        if ((rc = pb_broker_check_limits(b, set->products[i], set_lookup, set, err))) {
            pb_descriptor_set_destroy(set);
            return rc;
        }
    reload_t *r = calloc(1, sizeof *r);
    if (!r) {
        pb_descriptor_set_destroy(set);
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    }
    r->b = b;
    r->set = set;
    r->pending = 1; /* held until every job is queued */
    for (size_t i = 0; i < set->n_products; i++) {
        pb_err_t e = {0};
        r->pending++;
        if (pb_broker_ensure_topics_async(b, set->products[i], set_lookup, set, 15000,
                                          reload_topics_done, r, &e)) {
            r->pending--; /* not queued: its error refuses the reload when the others end */
            if (!r->rc) {
                r->rc = e.code ? e.code : PB_ERR_NOMEM;
                r->err = e;
            }
        }
    }
    b->reload_inflight = 1;
    pb_err_t none = {0};
    reload_topics_done(r, 0, &none, 0); /* the hold; the reload ends with the last job */
    return 0;
}

/* ---- what the modules ask of the broker (their env callbacks; owner is the pb_broker_t) ---- */

/* The registry is replayed and products.dir's descriptors are stored in it. */
static int registry_loaded(void *owner) {
    const pb_broker_t *b = owner;
    return pb_store_caught_up(b->store) && !b->sync_needed && !b->sync_inflight;
}

static int ready_cb(void *owner, const char **reason) { return pb_broker_ready(owner, reason); }

static size_t n_products_cb(void *owner) { return ((const pb_broker_t *)owner)->n_products; }

static int reply_if_loading_cb(void *owner, pb_http_req_t *req) {
    return pb_broker_reply_if_loading(owner, req);
}

static int ensure_topics_cb(void *owner, const pb_product_t *p, pb_api_port_lookup_t lookup,
                            const void *ctx, int timeout_ms, pb_api_topics_cb_t cb, void *arg,
                            pb_err_t *err) {
    return pb_broker_ensure_topics_async(owner, p, lookup, ctx, timeout_ms, cb, arg, err);
}

/* Has a shared Kafka client failed for good (only a restart helps)? Its sentence, else NULL. */
static const char *kafka_failure(const pb_broker_t *b) {
    static char both[1600]; /* loop thread only */
    const char *f = pb_kafka_failure(b->kafka), *r = pb_routers_failure(b->routers);
    if (!f || !r) return f ? f : r;
    snprintf(both, sizeof both, "%s; %s", f, r);
    return both;
}

static const char *failure_cb(void *owner) { return kafka_failure(owner); }

/* The Kafka side of start-up, once the start-up job (every topic the registry, products.dir and
 * lineage need, and the registry log's watermarks) is done: the registry follower and everything
 * that reads the registry (metrics exporter, ops, subscriptions, routers). Loop thread; does not
 * wait on Kafka. */
static int kafka_phase(pb_broker_t *b, int64_t log_low, int64_t log_high, pb_err_t *err) {
    const pb_config_t *cfg = b->cfg;
    b->store = pb_store_new(b->kafka, b->loop, cfg->registry_topic, log_low, log_high,
                            cfg->publish_timeout_ms, on_applied, b, err);
    if (!b->store) return err->code;
    b->sync_needed = 1;
    b->sync_timer = pb_loop_timer_new(b->loop, 100, 1, sync_tick, b);
    if (!b->sync_timer) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    /* The routers first: ops and sub are given them (they start nothing before a reconcile). */
    pb_router_env_t renv = {
        .kafka = b->kafka,
        .loop = b->loop,
        .jobs = b->jobs,
        .metrics = b->metrics,
        .registry_url = b->registry_url,
        .fetch_wait_ms = (int)cfg->router_fetch_wait_ms,
        .revoke_wait_ms = (int)cfg->router_revoke_wait_ms,
        .inflight_max_bytes = cfg->router_inflight_kbytes * 1024,
        .park_idle_ms = cfg->router_park_idle_ms,
    };
    if (!(b->routers = pb_routers_new(&renv, err))) return err->code;
    pb_exporter_env_t xenv = {
        .cfg = cfg,
        .loop = b->loop,
        .jobs = b->jobs,
        .store = b->store,
        .metrics = b->metrics,
        .kafka = b->kafka,
        .dedupe = b->dedupe,
        .routers = b->routers,
    };
    if (!(b->exporter = pb_exporter_new(&xenv, err))) return err->code;
    pb_ops_env_t oenv = {
        .cfg = cfg,
        .loop = b->loop,
        .kafka = b->kafka,
        .store = b->store,
        .metrics = b->metrics,
        .routers = b->routers,
        .started_wall_ms = b->started_wall_ms,
        .owner = b,
        .registry_loaded = registry_loaded,
        .ready = ready_cb,
    };
    if (!(b->ops = pb_ops_new(&oenv, err))) return err->code;
    pb_sub_env_t senv = {
        .cfg = cfg,
        .loop = b->loop,
        .jobs = b->jobs,
        .kafka = b->kafka,
        .store = b->store,
        .metrics = b->metrics,
        .routers = b->routers,
    };
    if (!(b->sub = pb_sub_new(&senv, err))) return err->code;
    pb_sample_env_t penv = {.cfg = cfg, .jobs = b->jobs, .kafka = b->kafka, .store = b->store};
    if (!(b->sample = pb_sample_new(&penv, err))) return err->code;
    b->api = (pb_api_env_t){
        .cfg = cfg,
        .kafka = b->kafka,
        .store = b->store,
        .access = b->access,
        .exporter = b->exporter,
        .ops = b->ops,
        .sub = b->sub,
        .sample = b->sample,
        .publish = {.cfg = cfg,
                    .kafka = b->kafka,
                    .store = b->store,
                    .metrics = b->metrics,
                    .dedupe = b->dedupe,
                    .access = b->access,
                    .registry_url = b->registry_url,
                    .routers = b->routers},
        .owner = b,
        .ready = ready_cb,
        .failure = failure_cb,
        .n_products = n_products_cb,
        .reply_if_loading = reply_if_loading_cb,
        .ensure_topics = ensure_topics_cb,
    };
    pb_sub_reconcile(b->sub);
    b->kafka_started = 1;
    return 0;
}

static void kafka_start_done(void *arg, int cancelled);

/* Queue the start-up job: the topics of the registry log, of every product in products.dir (their
 * limits checked now: a descriptor over a limit is a configuration error) and of the lineage
 * topic, then the registry log's watermarks. Loop thread (or start-up, before the loop runs). */
static int kafka_start_submit(pb_broker_t *b, pb_err_t *err) {
    const pb_config_t *cfg = b->cfg;
    const pb_descriptor_set_t *set = b->products;
    int rc;
    for (size_t i = 0; i < set->n_products; i++)
        if ((rc = pb_broker_check_limits(b, set->products[i], set_lookup, set, err))) return rc;
    topics_job_t *t = calloc(1, sizeof *t);
    if (!t || !(t->log_topic = strdup(cfg->registry_topic)) ||
        topics_job_add(t, cfg->registry_topic, 1, 1))
        goto nomem;
    for (size_t i = 0; i < set->n_products; i++)
        if (topics_job_add_product(t, set->products[i], set_lookup, set)) goto nomem;
    if (*cfg->lineage_topic && topics_job_add(t, cfg->lineage_topic, 1, 0)) goto nomem;
    t->kafka = b->kafka;
    t->timeout_ms = 15000 + 20 * (int)t->n; /* hundreds of products: more topics to wait for */
    t->arg = b;
    if (!pb_jobs_submit(b->jobs, PB_JOB_TOPICS, topics_work, kafka_start_done, t)) goto nomem;
    b->kafka_starting = 1;
    pb_log(INFO, "broker", "Kafka at %s answers: creating the %zu topics start-up needs",
           pb_kafka_bootstrap(b->kafka), t->n);
    return 0;
nomem:
    topics_job_free(t);
    return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
}

static void kafka_start_done(void *arg, int cancelled) {
    topics_job_t *t = arg;
    pb_broker_t *b = t->arg;
    if (cancelled) {
        topics_job_free(t);
        return;
    }
    b->kafka_starting = 0;
    pb_err_t err = {0};
    int rc = t->rc;
    if (rc)
        err = t->err;
    else
        rc = kafka_phase(b, t->log_low, t->log_high, &err);
    topics_job_free(t);
    if (rc) {
        snprintf(b->kafka_start_error, sizeof b->kafka_start_error, "%s", err.msg);
        if (pb_kafka_failure(b->kafka)) return; /* logged by the client; no retry helps */
        pb_log_rl(ERROR, "broker",
                  "Kafka answers, but start-up with it failed: %s; trying again every second",
                  err.msg);
        return; /* kafka_retry submits the job again */
    }
    b->kafka_start_error[0] = 0;
    pb_loop_timer_destroy(b->kafka_timer);
    b->kafka_timer = NULL;
    pb_log(INFO, "broker", "Kafka at %s: topics ready; registry replay and routers started",
           pb_kafka_bootstrap(b->kafka));
}

/* Every second until the Kafka side of start-up is done: once the reachability probe sees the
 * cluster, queue the start-up job (one at a time). The loop never waits on it. */
static void kafka_retry(void *arg) {
    pb_broker_t *b = arg;
    if (b->kafka_started || b->kafka_starting || b->stopping || !pb_kafka_reachable(b->kafka) ||
        pb_kafka_failure(b->kafka)) /* said once by the client's error callback: no retry helps */
        return;
    pb_err_t err = {0};
    if (kafka_start_submit(b, &err))
        pb_log_rl(ERROR, "broker", "cannot start the Kafka side: %s; trying again", err.msg);
}

/* Is path a route that names ports, products, subscriptions or subjects (404 before the replay
 * would be a lie)? */
int pb_broker_reply_if_loading(pb_broker_t *b, pb_http_req_t *req) {
    if (b->registry_loaded ||
        (b->registry_loaded = pb_store_caught_up(b->store) && !b->sync_needed && !b->sync_inflight))
        return 0;
    pb_http_set_header(req, "Retry-After", "1");
    pb_api_reply_error(req, 503, 503,
                       "the registry is still being loaded from Kafka (offset %lld of %lld, "
                       "%d descriptors being stored); try again in a moment",
                       (long long)pb_store_position(b->store),
                       (long long)pb_store_replay_end(b->store), b->sync_inflight);
    return 1;
}

/* Publish: POST /v1/ports/{port}/records. */
static int publish_route(const pb_http_req_t *req, const char *path) {
    size_t n = strlen(path);
    return pb_http_method(req) == PB_HTTP_POST && !strncmp(path, "/v1/ports/", 10) && n > 8 &&
           !strcmp(path + n - 8, "/records");
}

/* The broker's HTTP handler: what cannot be answered yet answers 503 with Retry-After (never a
 * 404 for a port the registry has not replayed yet), then the API (api.c). */
static void broker_handle(pb_http_req_t *req, void *arg) {
    pb_broker_t *b = arg;
    const char *path = pb_http_path(req);
    const char *failure = pb_kafka_failure(b->kafka);
    if (!b->kafka_started) {
        if (!strcmp(path, "/healthz") || !strcmp(path, "/healthz/")) {
            pb_api_reply_health(req, kafka_failure(b));
            return;
        }
        if (!strcmp(path, "/readyz") || !strcmp(path, "/readyz/")) {
            if (!failure) pb_http_set_header(req, "Retry-After", "1");
            const char *why = NULL;
            pb_broker_ready(b, &why);
            pb_api_reply_json(req, 503,
                              json_pack("{s:b,s:b,s:s}", "ready", 0, "kafka",
                                        pb_kafka_reachable(b->kafka), "reason", why));
            return;
        }
        if (failure) {
            pb_api_reply_error(req, 503, 503, "%s", failure);
            return;
        }
        pb_http_set_header(req, "Retry-After", "1");
        pb_api_reply_error(req, 503, 503,
                           "Kafka at %s has not answered since start-up; the broker serves this "
                           "once it does (GET /readyz says when)",
                           pb_kafka_bootstrap(b->kafka));
        return;
    }
    /* Until the registry is replayed and holds products.dir's descriptors (once: a SIGHUP
     * reload later does not close the API), a port that is not there yet may be in a moment. */
    if (publish_route(req, path) && failure) {
        pb_api_reply_error(req, 503, 503, "%s; nothing was published", failure);
        return;
    }
    if (publish_route(req, path) && !pb_kafka_reachable(b->kafka)) {
        pb_http_set_header(req, "Retry-After", "5");
        pb_api_reply_error(req, 503, 503,
                           "Kafka at %s is not reachable (no metadata answer in the last "
                           "seconds); nothing was published",
                           pb_kafka_bootstrap(b->kafka));
        return;
    }
    pb_api_handle(req, &b->api);
}

/* Write text to path through path.tmp and a rename, so a reader never sees half of it. `what`
 * names the option in the error. */
static int write_file(const char *what, const char *path, const char *text, pb_err_t *err) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int bad = !f || fputs(text, f) < 0;
    if (f && fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0)
        return pb_err_set(err, PB_ERR_IO, "%s %s: cannot write (%s)", what, path, strerror(errno));
    return 0;
}

static int write_port_file(const char *path, int port, pb_err_t *err) {
    char text[32];
    snprintf(text, sizeof text, "%d\n", port);
    return write_file("--port-file", path, text, err);
}

/* The shell-sourceable file of `serve --env-file`: where a user's commands find this instance. */
static int write_env_file(const char *path, const char *scheme, const char *host, int port,
                          const char *bootstrap, pb_err_t *err) {
    char text[8192];
    int n = snprintf(text, sizeof text,
                     "# written by portbroker serve (pid %ld); source it: . %s\n"
                     "PORTBROKER_URL=%s://%s:%d\nPORTBROKER_PID=%ld\nBROKERS=%s\n"
                     "export PORTBROKER_URL PORTBROKER_PID BROKERS\n",
                     (long)getpid(), path, scheme, host, port, (long)getpid(), bootstrap);
    if (n < 0 || (size_t)n >= sizeof text)
        return pb_err_set(err, PB_ERR_IO, "--env-file %s: the addresses do not fit in %zu bytes",
                          path, sizeof text);
    return write_file("--env-file", path, text, err);
}

int pb_broker_start(pb_config_t *cfg, const char *port_file, const char *env_file,
                    pb_broker_t **out, pb_err_t *err) {
    int rc = 0;
    char host[256];
    int port = 0;
    pb_broker_t *b = calloc(1, sizeof *b);
    if (!b) {
        pb_config_destroy(cfg);
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    }
    b->cfg = cfg;
    if (!(b->metrics = pb_metrics_new())) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (b->cfg->publish_dedupe_window_ms > 0 &&
        (!(b->dedupe = pb_dedupe_new(b->cfg->publish_dedupe_window_ms,
                                     (size_t)b->cfg->publish_dedupe_max_ids,
                                     (size_t)b->cfg->publish_dedupe_max_bytes)))) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    b->started_wall_ms = pb_loop_wall_ms();
    /* systemd (Type=notify): a bad NOTIFY_SOCKET is no reason to refuse to serve; it is said. */
    pb_err_t nerr = {0};
    if (pb_notify_new(getenv("NOTIFY_SOCKET"), &b->notify, &nerr))
        pb_log(WARN, "systemd",
               "%s; readiness is not reported to the service manager (under Type=notify, its "
               "start-up timeout will stop this process)",
               nerr.msg);
    if (port_file && !(b->port_file = strdup(port_file))) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = pb_config_validate(cfg, err))) goto fail;
    if ((rc = pb_kafka_conf_check(cfg, err))) goto fail;
    if ((rc = pb_config_split_hostport(cfg->http_listen, host, sizeof host, &port, err))) goto fail;

    if (!(b->access = pb_access_new(cfg, err))) {
        rc = err->code;
        goto fail;
    }
    if (!pb_auth_policy(pb_access_auth(b->access))->enabled && !pb_auth_host_is_loopback(host)) {
        if (strcmp(cfg->http_allow_insecure, "true") != 0) {
            rc = pb_err_set(err, PB_ERR_INVALID,
                            "http.listen %s is beyond loopback with auth off (every caller "
                            "would be admin): set auth.tokens.file or auth.jwks.*, listen on "
                            "127.0.0.1, or set http.allow.insecure = true",
                            cfg->http_listen);
            goto fail;
        }
        pb_log(WARN, "auth",
               "listening on %s with authentication OFF (http.allow.insecure = true): every "
               "caller is admin",
               cfg->http_listen);
    } else if (pb_auth_policy(pb_access_auth(b->access))->enabled) {
        pb_log(INFO, "auth", "authentication on (%s%s%s); anonymous callers: %s",
               *cfg->auth_tokens_file ? "tokens " : "", *cfg->auth_jwks_file ? "jwks-file " : "",
               *cfg->auth_jwks_url ? "jwks-url" : "", cfg->auth_anonymous);
    }
    rc = pb_descriptor_load_dir(cfg->products_dir, cfg->mesh_namespace, (int)cfg->topic_partitions,
                                &b->products, err);
    if (rc) {
        struct stat st;
        if (stat(cfg->products_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            /* Most often an installed binary given a relative path, or a build-tree binary run
             * outside the repository: name the setting to give. */
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            pb_err_set(err, rc,
                       "products.dir: %s; set products.dir (config file, -o products.dir=DIR or "
                       "PORTBROKER_PRODUCTS_DIR) to the directory holding your product "
                       "descriptors (*.json)",
                       why);
        }
        goto fail;
    }
    for (size_t i = 0; i < b->products->n_products; i++)
        if ((rc =
                 pb_broker_check_limits(b, b->products->products[i], set_lookup, b->products, err)))
            goto fail;
    b->n_products = b->products->n_products;
    pb_log(INFO, "broker", "loaded %zu data products from %s", b->n_products, cfg->products_dir);

    const char *bootstrap = cfg->kafka_bootstrap;
    if (!*bootstrap) {
        b->cluster = pb_kafka_cluster_new((int)cfg->embedded_brokers, err);
        if (!b->cluster) {
            rc = err->code;
            goto fail;
        }
        bootstrap = pb_kafka_cluster_bootstraps(b->cluster);
        pb_log(WARN, "kafka",
               "no kafka.bootstrap.servers set: started the EMBEDDED Kafka cluster (%d brokers at "
               "%s). Data lives in memory only and is lost when portbroker stops; each partition "
               "keeps about 5 MiB and silently drops older records. Set kafka.bootstrap.servers "
               "for production.",
               (int)cfg->embedded_brokers, bootstrap);
    }
    b->kafka = pb_kafka_new(cfg, bootstrap, b->cluster, err);
    if (!b->kafka) {
        rc = err->code;
        goto fail;
    }
    if (pb_kafka_is_embedded(b->kafka) && !b->cluster)
        pb_log(INFO, "kafka",
               "%s is a portbroker embedded cluster: topics are created through its "
               "control topic",
               bootstrap);
    if (!(b->loop = pb_loop_new(err))) {
        rc = err->code;
        goto fail;
    }
    pb_http_limits_t lim = {
        /* Publish bodies are the largest the API takes; publish.c answers bodies over
         * publish.max.body.bytes with a precise 413, libevent cuts off anything far beyond. */
        .max_body_bytes = cfg->publish_max_body_bytes + 1024 * 1024,
        .max_body_key = "publish.max.body.bytes plus 1 MiB",
        .max_header_bytes = cfg->http_max_header_bytes,
        .timeout_ms = cfg->http_timeout_ms,
        .header_timeout_ms = cfg->http_header_timeout_ms,
        .body_timeout_ms = cfg->http_body_timeout_ms,
        .idle_timeout_ms = cfg->http_idle_timeout_ms,
        .max_connections = pb_http_fd_budget(cfg->http_max_connections),
    };
    if (b->dedupe && !(b->dedupe_timer = pb_loop_timer_new(b->loop, 1000, 1, dedupe_sweep, b))) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = pb_access_start(b->access, b->loop, err))) goto fail;
    if (*cfg->http_tls_cert_file &&
        !(b->tls = pb_tls_new(cfg->http_tls_cert_file, cfg->http_tls_key_file,
                              cfg->http_tls_client_ca_file, err))) {
        rc = err->code;
        goto fail;
    }
    /* The HTTP server first: /healthz and /readyz answer while Kafka is still out of reach. */
    b->http = pb_http_new(b->loop, host, port, &lim, broker_handle, b, err);
    if (!b->http) {
        rc = err->code;
        goto fail;
    }
    if (b->tls) pb_http_set_tls(b->http, pb_tls_new_ssl, b->tls);
    if (!(b->jobs = pb_jobs_new(b->loop, err))) {
        rc = err->code;
        goto fail;
    }
    if (!(b->probe_timer = pb_loop_timer_new(b->loop, 1000, 1, probe_tick, b))) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = pb_loop_watch_fd(b->loop, pb_kafka_wake_fd(b->kafka), on_kafka, b, err)) ||
        (rc = pb_loop_on_signal(b->loop, SIGTERM, on_stop_signal, b, err)) ||
        (rc = pb_loop_on_signal(b->loop, SIGINT, on_stop_signal, b, err)) ||
        (rc = pb_loop_on_signal(b->loop, SIGHUP, on_hup, b, err)))
        goto fail;
    signal(SIGPIPE, SIG_IGN);
    if (*cfg->registry_url) {
        b->registry_url = strdup(cfg->registry_url);
    } else {
        char url[300];
        snprintf(url, sizeof url, strchr(host, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
                 b->tls ? "https" : "http", host, pb_http_port(b->http));
        b->registry_url = strdup(url);
    }
    if (!b->registry_url) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t n = strlen(b->registry_url); n > 0 && b->registry_url[n - 1] == '/'; n--)
        b->registry_url[n - 1] = 0;
    /* Kafka: when it answers within a few seconds, the start-up job is queued at once (a
     * descriptor over a limit stops start-up, as a misconfiguration would); otherwise serve
     * /healthz, say not ready, and queue it once the reachability probe (a PB_JOB_PROBE job every
     * second) sees the cluster. The loop is not running yet: this one probe may wait here. The
     * timer also retries a start-up job that failed. */
    b->kafka_timer = pb_loop_timer_new(b->loop, 1000, 1, kafka_retry, b);
    if (!b->kafka_timer) {
        rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (pb_kafka_reachable(b->kafka) || pb_kafka_probe(b->kafka, 3000)) {
        if ((rc = kafka_start_submit(b, err))) goto fail;
    } else {
        pb_log(WARN, "broker",
               "Kafka at %s does not answer: serving /healthz, /readyz says not ready, every other "
               "route answers 503 until it does; trying again every second",
               bootstrap);
    }
    if (b->port_file && (rc = write_port_file(b->port_file, pb_http_port(b->http), err))) goto fail;
    if (env_file && (rc = write_env_file(env_file, b->tls ? "https" : "http", host,
                                         pb_http_port(b->http), bootstrap, err)))
        goto fail;
    pb_log(INFO, "broker", "portbroker %s listening on %s://%s:%d (Kafka %s)%s%s", PB_VERSION,
           b->tls ? "https" : "http", host, pb_http_port(b->http), bootstrap,
           env_file ? "; for your shell: . " : "", env_file ? env_file : "");
    *out = b;
    return 0;
fail:
    pb_broker_destroy(b);
    return rc;
}

int pb_broker_run(pb_broker_t *b) { return pb_loop_run(b->loop); }

int pb_broker_ready(const pb_broker_t *b, const char **reason) {
    const char *failure = kafka_failure(b);
    if (failure) {
        *reason = failure;
        return 0;
    }
    if (!b->products) {
        *reason = "descriptors not loaded";
        return 0;
    }
    if (!b->kafka_started) {
        *reason = b->kafka_starting ? "creating the topics start-up needs (registry, products.dir, "
                                      "lineage); the registry replay follows"
                  : b->kafka_start_error[0]
                      ? b->kafka_start_error
                      : "Kafka has not answered since start-up (registry, topics and routers "
                        "wait for it)";
        return 0;
    }
    if (!pb_store_caught_up(b->store)) {
        *reason = "the registry log is still being replayed";
        return 0;
    }
    if (b->sync_needed || b->sync_inflight) {
        *reason = "descriptors are being stored in the registry";
        return 0;
    }
    if (!pb_kafka_reachable(b->kafka)) {
        *reason = "Kafka is not reachable (no metadata answer in the last seconds)";
        return 0;
    }
    *reason = NULL;
    return 1;
}

int pb_broker_destroy(pb_broker_t *b) {
    int left = 0;
    if (!b) return 0;
    pb_ops_destroy(b->ops);
    pb_notify_destroy(b->notify);
    pb_sub_destroy(b->sub); /* streams end before the HTTP server and Kafka go */
    pb_sample_destroy(b->sample);
    pb_http_destroy(b->http);
    pb_access_destroy(b->access);
    pb_tls_destroy(b->tls);
    pb_routers_destroy(b->routers); /* leaves the groups: in-flight records land, commits go out */
    pb_loop_timer_destroy(b->probe_timer);
    pb_jobs_destroy(b->jobs); /* queued closes still run; before the clients they use go */
    pb_loop_timer_destroy(b->stop_timer);
    pb_loop_timer_destroy(b->sync_timer);
    pb_loop_timer_destroy(b->kafka_timer);
    pb_exporter_destroy(b->exporter);
    pb_loop_timer_destroy(b->dedupe_timer);
    pb_store_destroy(b->store);
    if (b->kafka) {
        left = pb_kafka_destroy(b->kafka, (int)b->cfg->shutdown_timeout_ms);
        if (left)
            pb_log(ERROR, "kafka", "%d messages were still undelivered after %lld ms at shutdown",
                   left, (long long)b->cfg->shutdown_timeout_ms);
    }
    pb_dedupe_destroy(b->dedupe); /* after Kafka: its last delivery reports settle ids */
    pb_kafka_cluster_destroy(b->cluster);
    pb_loop_destroy(b->loop);
    pb_descriptor_set_destroy(b->products);
    pb_metrics_destroy(b->metrics);
    pb_config_destroy(b->cfg);
    free(b->port_file);
    free(b->registry_url);
    free(b);
    return left;
}
