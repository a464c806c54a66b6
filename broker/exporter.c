/*
 * exporter — GET /metrics (freshness as of the request) and schema-check counting (see
 * exporter.h).
 * Must not: format metrics itself, or include broker.h (pb_exporter_env_t is all it reads).
 */
#include "exporter.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "dedupe.h"
#include "jsontext.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

struct pb_exporter {
    pb_exporter_env_t env;
};

static const pb_product_t *const *declared(const pb_exporter_env_t *b, size_t *n) {
    return pb_registry_products(pb_store_registry(b->store), n);
}

static void tick(void *arg) {
    const pb_exporter_env_t *b = arg;
    size_t n = 0;
    const pb_product_t *const *ps = declared(b, &n);
    pb_metrics_tick(b->metrics, ps, n, (double)pb_loop_wall_ms() / 1000.0);
}

pb_exporter_t *pb_exporter_new(const pb_exporter_env_t *env, pb_err_t *err) {
    pb_exporter_t *x = calloc(1, sizeof *x);
    if (!x) goto oom;
    x->env = *env;
    const pb_exporter_env_t *b = &x->env;
    pb_metrics_set_enabled(b->metrics, strcmp(b->cfg->metrics_enabled, "false") != 0);
    if (!pb_metrics_enabled(b->metrics))
        pb_log(INFO, "metrics", "metrics.enabled = false: nothing is counted, /metrics is 404");
    /* No timer: freshness is evaluated when /metrics is read (a walk over every declared port
     * each second cost the idle loop for nothing between scrapes), series are made when products
     * are stored (pb_exporter_applied). */
    return x;
oom:
    pb_exporter_destroy(x);
    pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    return NULL;
}

void pb_exporter_destroy(pb_exporter_t *x) {
    if (!x) return;
    free(x);
}

void pb_exporter_applied(pb_exporter_t *x, const pb_registry_result_t *res) {
    if (!x) return;
    const pb_exporter_env_t *b = &x->env;
    if (!pb_metrics_enabled(b->metrics)) return;
    if (pb_store_caught_up(b->store))
        for (int c = 0; c < 2; c++)
            for (int l = 0; l < PB_COMPAT__LEVEL_COUNT; l++)
                for (int k = 0; k < res->checks[c][l]; k++)
                    pb_metrics_schema_check(b->metrics, c, pb_compat_level_name(l));
    if (res->changed && (res->op == PB_REGISTRY_OP_PRODUCT_PUT)) tick(&x->env);
}

/* The routers' parking series (pb_metrics_render_router_parked). */
static int render_parked(const pb_routers_stats_t *rst, pb_buf_t *out) {
    const char *reasons[PB_ROUTER_UNPARK_REASONS];
    for (int i = 0; i < PB_ROUTER_UNPARK_REASONS; i++)
        reasons[i] = pb_router_unpark_name((pb_router_unpark_why_t)i);
    return pb_metrics_render_router_parked(rst->read_parts, rst->parked, rst->unparks, reasons,
                                           PB_ROUTER_UNPARK_REASONS, out);
}

void pb_exporter_handle(pb_exporter_t *x, pb_http_req_t *req, const char *rest) {
    (void)rest;
    const pb_exporter_env_t *b = &x->env;
    if (!pb_metrics_enabled(b->metrics)) {
        pb_api_reply_error(req, 404, 404, "metrics are disabled (metrics.enabled = false)");
        return;
    }
    size_t n = 0;
    const pb_product_t *const *ps = declared(b, &n);
    pb_buf_t out = {0};
    pb_proc_stats_t st;
    pb_routers_stats_t rst = {0};
    if (b->routers) pb_routers_stats(b->routers, &rst);
    pb_kstats_client_t *ks = malloc(PB_KSTATS_ROLES * sizeof *ks); /* ~36 KiB */
    pb_kstats_queue_t q[PB_KSTATS_ROLES];
    for (int r = 0; r < PB_KSTATS_ROLES; r++)
        (void)pb_kafka_produce_queue(b->kafka, (pb_kstats_role_t)r, &q[r]);
    if (ks && b->kafka) pb_kstats_snapshot(pb_kafka_kstats(b->kafka), ks);
    if (ks && !b->kafka) memset(ks, 0, PB_KSTATS_ROLES * sizeof *ks);
    tick(&x->env); /* freshness as of now */
    pb_kafka_reader_state_t rd = {0};
    if (b->kafka) (void)pb_kafka_reader_state(b->kafka, &rd);
    if (!ks || pb_metrics_render(b->metrics, ps, n, PB_VERSION, &out) ||
        (pb_proc_stats(&st) == 0 && pb_metrics_render_proc(&st, &out)) ||
        pb_metrics_render_kafka_clients(b->kafka ? pb_kafka_reachable(b->kafka) : -1, q, &out) ||
        pb_metrics_render_kafka(ks, &out) ||
        (b->kafka &&
         pb_metrics_render_offset_reader(rd.topics, rd.closed_idle, rd.closed_topics, &out)) ||
        pb_metrics_render_router(rst.inflight, rst.inflight_bytes, rst.inflight_bytes_peak,
                                 rst.inflight_max_bytes, &out) ||
        render_parked(&rst, &out) ||
        (b->dedupe &&
         pb_metrics_render_dedupe(pb_dedupe_count(b->dedupe), pb_dedupe_bytes(b->dedupe), &out))) {
        static const char oom[] = "{\"error_code\":50001,\"message\":\"out of memory\"}";
        pb_http_reply(req, 500, "application/json", oom, sizeof oom - 1);
    } else {
        pb_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
    }
    pb_buf_free(&out);
    free(ks);
}

void pb_exporter_sr_reply(pb_exporter_t *x, const char *method, const char *raw_path,
                          const pb_sr_reply_t *rep) {
    const pb_exporter_env_t *b = &x->env;
    static const char prefix[] = "/compatibility/subjects/";
    if (!pb_metrics_enabled(b->metrics) || rep->status != 200 || strcmp(method, "POST") != 0 ||
        strncmp(raw_path, prefix, sizeof prefix - 1) != 0 || !rep->body)
        return;
    /* The subject: the next segment, percent-decoded. */
    char subject[PB_REGISTRY_SUBJECT_MAX + 1];
    const char *seg = raw_path + sizeof prefix - 1;
    if (pb_jsontext_pct_decode(seg, strcspn(seg, "/?"), PB_JSONTEXT_TEXT, subject, sizeof subject,
                               NULL, NULL))
        return; /* the registry refused such a subject: nothing was checked */
    json_t *j = json_loadb(rep->body, rep->body_len, 0, NULL);
    json_t *ok = json_object_get(j, "is_compatible");
    if (json_is_boolean(ok)) {
        int level = pb_registry_effective_level(pb_store_registry(b->store), subject);
        pb_metrics_schema_check(b->metrics, json_is_true(ok), pb_compat_level_name(level));
    }
    json_decref(j);
}
