/*
 * metrics_fixture — the set of ports, series and lags whose whole /metrics text is kept in
 * tests/data/metrics/golden.prom. The file was written by the printf-based renderer (main at
 * cf0d819, before metrics.c formatted numbers and labels itself); test_metrics.c checks that the
 * renderer gives the same bytes, whole and in slices. Values at the edges of the number formats:
 * 0, -0, negative, NaN, +Inf and -Inf, 2^64-1, 1e15 and around it, 1e-9, 1e300, 0.1+0.2 (17
 * digits), a 16-digit value; label values with `"`, `\` and line feeds; two products sharing a name
 * and a major (namespaced product label); a declared port without series (rendered from zeros);
 * a lag series of an undeclared port (not rendered) and one never measured (not rendered).
 */
#ifndef PB_TEST_METRICS_FIXTURE_H
#define PB_TEST_METRICS_FIXTURE_H

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "descriptor.h"
#include "metrics.h"

#define FIXTURE_PRODUCTS 3

static pb_product_t *fixture_product(const char *text) {
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    pb_product_t *p = NULL;
    pb_err_t err = {0};
    if (!j || pb_descriptor_parse(j, NULL, "fixture", "com.acme", 2, &p, &err)) {
        fprintf(stderr, "fixture: %s %s\n", j ? err.msg : je.text, text);
        abort();
    }
    json_decref(j);
    return p;
}

/* Fills ps[0..FIXTURE_PRODUCTS) and m's series. */
static void fixture_build(pb_metrics_t *m, pb_product_t **ps) {
    ps[0] = fixture_product(
        "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
        "\"urn:dpds:com.acme:dataproducts:trips:1\",\"name\":\"trips\",\"version\":\"1.0.0\","
        "\"domain\":\"dom\\\\ain \\\"x\\\"\",\"owner\":{\"id\":\"team \\\"a\\\"\\n\\\\b\"}},"
        "\"interfaceComponents\":{\"outputPorts\":[{\"name\":\"events\",\"version\":\"1.2.0\","
        "\"promises\":{\"api\":{\"schema\":\"string\"},\"slo\":{\"freshness\":\"90s\","
        "\"throughput.min\":\"600/m\",\"rejects.max\":\"0.1%\"}},\"x-portbroker\":{"
        "\"compatibility\":\"FULL_TRANSITIVE\",\"partitions\":12}}],\"inputPorts\":[{\"name\":"
        "\"weather\",\"promises\":{\"api\":{\"schema\":\"string\"},\"slo\":{\"freshness\":"
        "\"7d\"}},\"from\":\"urn:dpds:org.other:dataproducts:trips:1:outputports:events\"}]}}");
    ps[1] = fixture_product(
        "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
        "\"urn:dpds:org.other:dataproducts:trips:1\",\"name\":\"trips\",\"version\":\"1.3.0\","
        "\"domain\":\"d\",\"owner\":{\"id\":\"o\"}},\"interfaceComponents\":{\"outputPorts\":"
        "[{\"name\":\"events\",\"promises\":{\"api\":{\"schema\":\"string\"},\"slo\":{"
        "\"throughput.min\":\"0.5/s\"}},\"x-portbroker\":{\"topic\":\"other.events\"}}]}}");
    ps[2] = fixture_product(
        "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
        "\"urn:dpds:com.acme:dataproducts:quiet:7\",\"name\":\"quiet\",\"version\":\"7.0.1\","
        "\"domain\":\"d\",\"owner\":{\"id\":\"o\"}},\"interfaceComponents\":{\"outputPorts\":"
        "[{\"name\":\"never\",\"promises\":{\"api\":{\"schema\":\"string\"},\"slo\":{"
        "\"freshness\":\"1500ms\"}}}],\"inputPorts\":[{\"name\":\"idle\",\"promises\":{\"api\":"
        "{\"schema\":\"string\"}}}]}}");
    /* trips/events: every counter, the largest u64, timestamps with fractions */
    pb_metrics_port_t *o = pb_metrics_port(m, ps[0]->outputs[0].fqn, 90);
    pb_metrics_count(o, PB_METRICS_IN, PB_METRICS_OK, UINT64_MAX, UINT64_MAX - 1);
    pb_metrics_count(o, PB_METRICS_IN, PB_METRICS_REJECTED, 999999999999999ULL,
                     1000000000000000ULL);
    pb_metrics_count(o, PB_METRICS_IN, PB_METRICS_FAILED, 1, 0);
    pb_metrics_count(o, PB_METRICS_OUT, PB_METRICS_DLQ, 10, 12345);
    pb_metrics_dlq(o, PB_METRICS_DLQ_DECODE);
    pb_metrics_dlq(o, PB_METRICS_DLQ_UNDELIVERABLE);
    o->duplicates = 18446744073709551615ULL;
    pb_metrics_seen(o, 1700000000.123, 1764583200.000001);
    pb_metrics_e2e(o, 1e-9);
    pb_metrics_e2e(o, 0.0025);
    pb_metrics_e2e(o, 90);
    pb_metrics_e2e(o, 7200);
    o->fresh = 1;
    /* trips/weather (input): a combination its kind does not use, a dlq reason, odd doubles */
    pb_metrics_port_t *w = pb_metrics_port(m, ps[0]->inputs[0].fqn, 604800);
    pb_metrics_count(w, PB_METRICS_OUT, PB_METRICS_DLQ, 3, 3);
    pb_metrics_dlq(w, PB_METRICS_DLQ_PROJECTION);
    w->last_record_ts = 0.1 + 0.2;
    w->last_received_ts = 1e300;
    pb_metrics_e2e(w, 0.1 + 0.2);
    pb_metrics_e2e(w, 123456.789);
    pb_metrics_e2e(w, 1234567890.1234567);
    /* other.trips/events: negative and non-finite gauges where a double is rendered */
    pb_metrics_port_t *x = pb_metrics_port(m, ps[1]->outputs[0].fqn, 0);
    x->last_record_ts = -1.5;
    x->last_received_ts = -0.0;
    x->e2e.sum = NAN;
    /* quiet/never and quiet/idle: no series at all (never ticked) */
    pb_metrics_lag_t *l = pb_metrics_lag(m, ps[0]->inputs[0].fqn, "grp \"q\"\\\n2");
    l->known = 1;
    l->records = 1e15;
    l->seconds = INFINITY;
    l = pb_metrics_lag(m, ps[0]->inputs[0].fqn, "portbroker.route.x");
    l->known = 1;
    l->records = 999999999999999.0;
    l->seconds = -INFINITY;
    l = pb_metrics_lag(m, ps[0]->inputs[0].fqn, "portbroker.sub.x");
    l->known = 1;
    l->records = NAN;
    l->seconds = 1e-9;
    pb_metrics_lag(m, ps[0]->inputs[0].fqn, "never-measured");
    pb_metrics_lag(m, "urn:dpds:com.acme:dataproducts:gone:1:inputports:x", "g")->known = 1;
    pb_metrics_produce_duration(m, 0.0042);
    pb_metrics_produce_duration(m, 12.75);
    pb_metrics_schema_check(m, 1, "BACKWARD");
    pb_metrics_schema_check(m, 0, "FULL_TRANSITIVE");
}

#endif
