/*
 * bench_metrics — what counting costs on the data plane, and what rendering /metrics costs.
 *
 * 1. Per record: encode a small record JSON -> Avro (what publish does per record) alone, then
 *    with the counting a data-plane module does per record (pb_metrics_count + pb_metrics_seen +
 *    the e2e histogram) on a live port, and with metrics disabled (pb_metrics_port gives NULL:
 *    every update is a NULL test). Ratios against the encode-only baseline of the same run, and
 *    the counting alone in ns per record.
 * 2. Rendering GET /metrics for 200 declared ports (the dashboard's target size) with traffic on
 *    each: milliseconds per render and bytes.
 * Goal lines: metrics_overhead_pct (counting on vs off, on the encode loop), count_ns_per_record,
 * render_200_ports_ms.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "descriptor.h"
#include "metrics.h"
#include "schema.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *SCHEMA =
    "{\"type\":\"record\",\"name\":\"E\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"at\",\"type\":\"long\"},{\"name\":\"v\",\"type\":\"double\"}]}";

/* Records/s of `iters` encodings, counting into p (NULL: the disabled path) when count. */
static double run(const pb_schema_t *s, const pb_jsontok_t *v, pb_buf_t *rec, pb_metrics_port_t *p,
                  int count, long iters) {
    pb_err_t err = {0};
    pb_codec_error_t detail;
    double t0 = now(), ts = 1700000000.0;
    for (long i = 0; i < iters; i++) {
        pb_buf_reset(rec);
        if (pb_codec_tokens_to_avro(s, v, 0, 0, rec, &detail, &err)) {
            fprintf(stderr, "encode: %s\n", err.msg);
            exit(1);
        }
        if (count) {
            pb_metrics_count(p, PB_METRICS_IN, PB_METRICS_OK, 1, rec->len);
            pb_metrics_seen(p, ts + (double)i * 1e-3, ts + (double)i * 1e-3 + 0.01);
            if (p) pb_metrics_hist_observe(&p->e2e, 0.01 + (double)(i & 1023) * 1e-4);
        }
    }
    return (double)iters / (now() - t0);
}

/* ns per record of the counting alone (volatile sink keeps the loop). */
static double count_only(pb_metrics_port_t *p, long iters) {
    double t0 = now(), ts = 1700000000.0;
    for (long i = 0; i < iters; i++) {
        pb_metrics_count(p, PB_METRICS_IN, PB_METRICS_OK, 1, 100);
        pb_metrics_seen(p, ts + (double)i * 1e-3, ts + (double)i * 1e-3 + 0.01);
        pb_metrics_hist_observe(&p->e2e, 0.01 + (double)(i & 1023) * 1e-4);
    }
    return (now() - t0) * 1e9 / (double)iters;
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    pb_buf_t rec = {0};
    if (pb_schema_parse(SCHEMA, strlen(SCHEMA), &s, &err)) {
        fprintf(stderr, "schema: %s\n", err.msg);
        return 1;
    }
    static const char datum[] = "{\"id\":\"trip-000042\",\"at\":1700000000000,\"v\":42.5}";
    pb_jsontok_t tk = {0}, *v = &tk;
    size_t root = 0;
    if (pb_jsontok_parse(&tk, datum, strlen(datum), &root, &err)) {
        fprintf(stderr, "datum: %s\n", err.msg);
        return 1;
    }
    pb_metrics_t *on = pb_metrics_new(), *off = pb_metrics_new();
    pb_metrics_set_enabled(off, 0);
    pb_metrics_port_t *p_on = pb_metrics_port(on, "urn:dpds:x:dataproducts:p:1:outputports:o", 300);
    pb_metrics_port_t *p_off =
        pb_metrics_port(off, "urn:dpds:x:dataproducts:p:1:outputports:o", 300);

    /* calibrate to ~secs per row, then interleave the rows and keep each one's best of 5 */
    long iters = (long)(run(s, v, &rec, NULL, 0, 100000) * secs / 5);
    if (iters < 20000) iters = 20000;
    double base = 0, with_on = 0, with_off = 0;
    for (int k = 0; k < 5; k++) {
        double a = run(s, v, &rec, NULL, 0, iters), b = run(s, v, &rec, p_on, 1, iters),
               c = run(s, v, &rec, p_off, 1, iters);
        if (a > base) base = a;
        if (b > with_on) with_on = b;
        if (c > with_off) with_off = c;
    }
    double ns = count_only(p_on, 50000000);
    pb_jsontok_free(&tk);
    printf("%-46s %14s %8s\n", "per record (encode 1 small record JSON->Avro)", "records/s",
           "ratio");
    printf("%-46s %14.0f %8.3f\n", "encode only (baseline)", base, 1.0);
    printf("%-46s %14.0f %8.3f\n", "encode + counting, metrics.enabled=false", with_off,
           with_off / base);
    printf("%-46s %14.0f %8.3f\n", "encode + counting, metrics.enabled=true", with_on,
           with_on / base);
    printf("%-46s %14.2f\n", "counting alone, ns per record", ns);

    /* Rendering 200 ports (100 products, one output and one input port each). */
    const pb_product_t **ps = calloc(100, sizeof *ps);
    for (int i = 0; i < 100; i++) {
        char text[2048];
        snprintf(text, sizeof text,
                 "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
                 "\"urn:dpds:x:dataproducts:p%d:1\",\"name\":\"p%d\",\"version\":\"1.0.0\","
                 "\"domain\":\"d\",\"owner\":{\"id\":\"o\"}},\"interfaceComponents\":{"
                 "\"outputPorts\":[{\"name\":\"o\",\"promises\":{\"api\":{\"schema\":\"string\"},"
                 "\"slo\":{\"freshness\":\"5m\",\"throughput.min\":\"1/s\",\"rejects.max\":"
                 "\"1%%\"}}}],\"inputPorts\":[{\"name\":\"i\",\"promises\":{\"api\":{\"schema\":"
                 "\"string\"},\"slo\":{\"freshness\":\"10m\"}}}]}}",
                 i, i);
        json_t *j = json_loads(text, 0, NULL);
        pb_product_t *p = NULL;
        if (!j || pb_descriptor_parse(j, NULL, "bench", "x", 3, &p, &err)) {
            fprintf(stderr, "descriptor: %s\n", err.msg);
            return 1;
        }
        json_decref(j);
        ps[i] = p;
        for (size_t k = 0; k < 2; k++) {
            const pb_port_t *port = k ? &p->inputs[0] : &p->outputs[0];
            pb_metrics_port_t *mp = pb_metrics_port(on, port->fqn, 300);
            pb_metrics_count(mp, PB_METRICS_IN, PB_METRICS_OK, 1000 + (uint64_t)i, 100000);
            pb_metrics_seen(mp, 1700000000.5, 1700000001.5);
            pb_metrics_hist_observe(&mp->e2e, 0.5);
        }
    }
    pb_buf_t out = {0};
    int n = 0;
    double t0 = now();
    do {
        pb_buf_reset(&out);
        pb_metrics_tick(on, ps, 100, 1700000100.0);
        if (pb_metrics_render(on, ps, 100, "bench", &out)) return 1;
        n++;
    } while (now() - t0 < secs);
    double ms = (now() - t0) * 1000.0 / n;
    printf("\n%-44s %14.3f ms, %zu bytes\n", "tick + render /metrics, 200 ports", ms, out.len);
    printf("metrics_overhead_pct=%.2f\n", (with_off / with_on - 1.0) * 100.0);
    printf("count_ns_per_record=%.2f\n", ns);
    printf("render_200_ports_ms=%.3f\n", ms);
    pb_buf_free(&out);
    for (int i = 0; i < 100; i++)
        pb_product_destroy((pb_product_t *)ps[i]);
    free(ps);
    pb_metrics_destroy(on);
    pb_metrics_destroy(off);
    pb_buf_free(&rec);
    pb_schema_destroy(s);
    return 0;
}
