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
#include "gzip.h"
#include "jsontext.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

/* A GET /metrics waiting for its text. */
typedef struct scrape {
    struct scrape *next;
    pb_http_req_t *req;
} scrape_t;

struct pb_exporter {
    pb_exporter_env_t env;
    /* Scrapes are rendered one at a time, in arrival order, in slices of SLICE_BYTES, one slice a
     * loop turn (a 0 ms timer per slice): at 1,000 bindings the text is 8.5 MB, ~6 ms in
     * one piece; each turn now holds the loop ~0.5 ms and every other request is served between
     * two slices. One at a time bounds the memory to one text, whatever the scrapers. */
    scrape_t *head, *tail; /* head is being rendered once rendering is set */
    /* The snapshot of the declared ports a scrape renders from (label text, SLOs, which series),
     * kept for the next scrapes (rewound: freshness as of then) until a registry record is
     * applied: walking 1,000 products again per scrape was most of its first turn. */
    pb_metrics_scrape_t *snap;
    int snap_stale; /* a record was applied while the head was rendered from snap: drop it after */
    int rendering;
    pb_buf_t out;          /* the head's text so far */
    size_t last_len;       /* the previous text's length: room reserved at once */
    pb_loop_timer_t *turn; /* the next slice; NULL while no scrape waits */
    int gzipping;          /* a PB_JOB_GZIP job holds the last text: the next scrape waits */
    /* The series of newly stored ports, made on the loop's next turn: once for all the records
     * of a batch (1,000 products read back at start-up made 1,000 walks of every port). */
    pb_loop_timer_t *declare;
};

/* Smallest text sent gzipped when the client asks (api.c's rule for JSON replies). */
#define GZIP_MIN 512

/* Bytes of text per loop turn: ~0.4 ms of rendering (bench_metrics renders ~1.3 MB per ms). */
#define SLICE_BYTES (512 * 1024)

static void finish(pb_exporter_t *x, int ok);

static const pb_product_t *const *declared(const pb_exporter_env_t *b, size_t *n) {
    return pb_registry_products(pb_store_registry(b->store), n);
}

static void tick(void *arg) {
    const pb_exporter_env_t *b = arg;
    size_t n = 0;
    const pb_product_t *const *ps = declared(b, &n);
    pb_metrics_tick(b->metrics, ps, n, (double)pb_loop_wall_ms() / 1000.0);
}

static void on_declare(void *arg) {
    pb_exporter_t *x = arg;
    pb_loop_timer_destroy(x->declare); /* it fired; safe in its own callback (loop.c) */
    x->declare = NULL;
    tick(&x->env);
}

/* tick on the next turn, once however many records ask before it (at once without a timer). */
static void declare_soon(pb_exporter_t *x) {
    if (x->declare) return;
    if (!x->env.loop || !(x->declare = pb_loop_timer_new(x->env.loop, 0, 0, on_declare, x)))
        tick(&x->env);
}

pb_exporter_t *pb_exporter_new(const pb_exporter_env_t *env, pb_err_t *err) {
    pb_exporter_t *x = calloc(1, sizeof *x);
    if (!x) goto oom;
    x->env = *env;
    const pb_exporter_env_t *b = &x->env;
    pb_metrics_set_enabled(b->metrics, strcmp(b->cfg->metrics_enabled, "false") != 0);
    if (!pb_metrics_enabled(b->metrics))
        pb_log(INFO, "metrics", "metrics.enabled = false: nothing is counted, /metrics is 404");
    /* No periodic timer: freshness is evaluated when /metrics is read (a walk over every declared
     * port each second cost the idle loop for nothing between scrapes); series are made when
     * products are stored (pb_exporter_applied, a turn later). */
    return x;
oom:
    pb_exporter_destroy(x);
    pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    return NULL;
}

void pb_exporter_destroy(pb_exporter_t *x) {
    if (!x) return;
    while (x->head) /* shutdown: the clients get 500 (or nothing, gone) */
        finish(x, 0);
    pb_metrics_scrape_destroy(x->snap);
    pb_loop_timer_destroy(x->turn);
    pb_loop_timer_destroy(x->declare);
    free(x);
}

void pb_exporter_applied(pb_exporter_t *x, const pb_registry_result_t *res) {
    if (!x) return;
    /* Any record may change what the snapshot copied (products, ports, their labels): the next
     * scrape takes a new one (a scrape under way finishes with its own, a consistent copy). */
    if (x->rendering) {
        x->snap_stale = 1;
    } else {
        pb_metrics_scrape_destroy(x->snap);
        x->snap = NULL;
    }
    const pb_exporter_env_t *b = &x->env;
    if (!pb_metrics_enabled(b->metrics)) return;
    if (pb_store_caught_up(b->store))
        for (int c = 0; c < 2; c++)
            for (int l = 0; l < PB_COMPAT__LEVEL_COUNT; l++)
                for (int k = 0; k < res->checks[c][l]; k++)
                    pb_metrics_schema_check(b->metrics, c, pb_compat_level_name(l));
    if (res->changed && (res->op == PB_REGISTRY_OP_PRODUCT_PUT)) declare_soon(x);
}

/* The routers' parking series (pb_metrics_render_router_parked). */
static int render_parked(const pb_routers_stats_t *rst, pb_buf_t *out) {
    const char *reasons[PB_ROUTER_UNPARK_REASONS];
    for (int i = 0; i < PB_ROUTER_UNPARK_REASONS; i++)
        reasons[i] = pb_router_unpark_name((pb_router_unpark_why_t)i);
    return pb_metrics_render_router_parked(rst->read_parts, rst->parked, rst->unparks, reasons,
                                           PB_ROUTER_UNPARK_REASONS, out);
}

/* The series after the ports' (process, Kafka clients, routers, dedupe), read as the text ends.
 * Returns 0 or -1 out of memory. */
static int render_tail(const pb_exporter_env_t *b, pb_buf_t *out) {
    pb_proc_stats_t st;
    pb_routers_stats_t rst = {0};
    if (b->routers) pb_routers_stats(b->routers, &rst);
    pb_kstats_client_t *ks = malloc(PB_KSTATS_ROLES * sizeof *ks); /* ~36 KiB */
    pb_kstats_queue_t q[PB_KSTATS_ROLES];
    for (int r = 0; r < PB_KSTATS_ROLES; r++)
        (void)pb_kafka_produce_queue(b->kafka, (pb_kstats_role_t)r, &q[r]);
    if (ks && b->kafka) pb_kstats_snapshot(pb_kafka_kstats(b->kafka), ks);
    if (ks && !b->kafka) memset(ks, 0, PB_KSTATS_ROLES * sizeof *ks);
    pb_kafka_reader_state_t rd = {0};
    if (b->kafka) (void)pb_kafka_reader_state(b->kafka, &rd);
    int rc =
        !ks || (pb_proc_stats(&st) == 0 && pb_metrics_render_proc(&st, out)) ||
        pb_metrics_render_kafka_clients(b->kafka ? pb_kafka_reachable(b->kafka) : -1, q, out) ||
        pb_metrics_render_kafka(ks, out) ||
        (b->kafka &&
         pb_metrics_render_offset_reader(rd.topics, rd.closed_idle, rd.closed_topics, out)) ||
        pb_metrics_render_router(rst.inflight, rst.inflight_bytes, rst.inflight_bytes_peak,
                                 rst.inflight_max_bytes, PB_ROUTER_HOLD_AT, out) ||
        render_parked(&rst, out) ||
        (b->dedupe &&
         pb_metrics_render_dedupe(pb_dedupe_count(b->dedupe), pb_dedupe_bytes(b->dedupe), out));
    free(ks);
    return rc ? -1 : 0;
}

/* A finished text being gzipped on the PB_JOB_GZIP worker, which sees only this. */
typedef struct gz_job {
    pb_exporter_t *x;
    pb_http_req_t *req;
    pb_buf_t text, z;
    int rc;
} gz_job_t;

static void gz_work(void *arg) {
    gz_job_t *g = arg;
    pb_err_t err = {0};
    g->rc = pb_gzip_compress(g->text.data, g->text.len, &g->z, &err);
}

static void next_turn(pb_exporter_t *x);

static void gz_done(void *arg, int cancelled) {
    gz_job_t *g = arg;
    pb_exporter_t *x = g->x;
    static const char ctype[] = "text/plain; version=0.0.4; charset=utf-8";
    x->gzipping = 0;
    if (cancelled) { /* shutdown: the connection is gone or going */
        pb_api_reply_error(g->req, 503, 503, "shutting down");
    } else if (g->rc) { /* zlib out of memory: the text as it is */
        pb_http_reply_owned(g->req, 200, ctype, g->text.data, g->text.len);
        g->text = (pb_buf_t){0};
    } else {
        pb_http_set_header(g->req, "Content-Encoding", "gzip");
        pb_http_set_header(g->req, "Vary", "Accept-Encoding");
        pb_http_reply_owned(g->req, 200, ctype, g->z.data, g->z.len);
        g->z = (pb_buf_t){0};
    }
    pb_buf_free(&g->text);
    pb_buf_free(&g->z);
    free(g);
    if (!cancelled) next_turn(x);
}

/* Hand the head's finished text to the gzip worker when its client takes gzip. Returns 1 when it
 * did (the job replies), 0 to reply with the text as it is. */
static int gzip_reply(pb_exporter_t *x, pb_http_req_t *req) {
    gz_job_t *g = NULL;
    if (!x->env.jobs || x->out.len < GZIP_MIN || pb_http_method(req) != PB_HTTP_GET ||
        !pb_gzip_accepted(pb_http_header(req, "Accept-Encoding")) || !(g = calloc(1, sizeof *g)))
        return 0;
    g->x = x;
    g->req = req;
    g->text = x->out;
    if (!pb_jobs_submit(x->env.jobs, PB_JOB_GZIP, gz_work, gz_done, g)) {
        free(g);
        return 0;
    }
    x->gzipping = 1;
    return 1;
}

/* Reply to the head scrape (its text, or 500 out of memory) and drop it. */
static void finish(pb_exporter_t *x, int ok) {
    scrape_t *sc = x->head;
    x->rendering = 0;
    if (!ok || x->snap_stale) {
        pb_metrics_scrape_destroy(x->snap);
        x->snap = NULL;
        x->snap_stale = 0;
    }
    if (ok) {
        x->last_len = x->out.len;
        if (!gzip_reply(x, sc->req))
            pb_http_reply_owned(sc->req, 200, "text/plain; version=0.0.4; charset=utf-8",
                                x->out.data, x->out.len);
    } else {
        static const char oom[] = "{\"error_code\":50001,\"message\":\"out of memory\"}";
        pb_buf_free(&x->out);
        pb_http_reply(sc->req, 500, "application/json", oom, sizeof oom - 1);
    }
    x->out = (pb_buf_t){0};
    if (!(x->head = sc->next)) x->tail = NULL;
    free(sc);
}

/* One slice of the head scrape: its first (freshness as of now, the snapshot of the declared
 * ports) or the next; the last renders the tail and replies. A scrape whose client left is
 * dropped. Returns 1 when the head scrape is still unfinished. */
static int slice(pb_exporter_t *x) {
    const pb_exporter_env_t *b = &x->env;
    int done = 0;
    if (pb_http_req_gone(x->head->req)) {
        finish(x, 0); /* the reply is dropped: only frees */
        return 0;
    }
    if (!x->rendering) {
        double now = (double)pb_loop_wall_ms() / 1000.0;
        if (x->snap) {
            if (pb_metrics_scrape_rewind(x->snap, now)) { /* freshness as of now */
                finish(x, 0);
                return 0;
            }
        } else {
            size_t n = 0;
            const pb_product_t *const *ps = declared(b, &n);
            tick(&x->env); /* freshness as of now, series for every declared port */
            if (pb_metrics_scrape_begin(b->metrics, ps, n, PB_VERSION, &x->snap)) {
                finish(x, 0);
                return 0;
            }
        }
        x->rendering = 1;
        if (pb_buf_reserve(&x->out, x->last_len + x->last_len / 8 + 4096)) {
            finish(x, 0);
            return 0;
        }
    }
    if (pb_metrics_scrape_step(x->snap, SLICE_BYTES, &x->out, &done) ||
        (done && render_tail(b, &x->out))) {
        finish(x, 0);
        return 0;
    }
    if (done) finish(x, 1);
    return !done;
}

static void on_turn(void *arg);

/* The next slice on the loop's next turn (a one-shot 0 ms timer: libevent does not re-arm a
 * persistent timer of 0 ms). Without a timer (out of memory) every waiting scrape is finished now,
 * in this turn. */
static void next_turn(pb_exporter_t *x) {
    if (x->turn || !x->head || x->gzipping) return;
    if (!(x->turn = pb_loop_timer_new(x->env.loop, 0, 0, on_turn, x)))
        while (x->head)
            slice(x);
}

/* The loop's turn: one slice of the scrape at the head, and the next turn while any waits. */
static void on_turn(void *arg) {
    pb_exporter_t *x = arg;
    pb_loop_timer_destroy(x->turn); /* it fired; safe in its own callback (loop.c) */
    x->turn = NULL;
    if (x->head) slice(x);
    next_turn(x);
}

void pb_exporter_handle(pb_exporter_t *x, pb_http_req_t *req, const char *rest) {
    (void)rest;
    const pb_exporter_env_t *b = &x->env;
    if (!pb_metrics_enabled(b->metrics)) {
        pb_api_reply_error(req, 404, 404, "metrics are disabled (metrics.enabled = false)");
        return;
    }
    scrape_t *sc = calloc(1, sizeof *sc);
    if (!sc) {
        pb_api_reply_error(req, 500, 50001, "out of memory");
        return;
    }
    sc->req = req;
    if (x->tail)
        x->tail->next = sc;
    else
        x->head = sc;
    x->tail = sc;
    /* Alone: the first slice now (a small mesh is answered in this turn, as before). */
    if (x->head == sc && !x->gzipping) slice(x);
    next_turn(x);
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
