/* Unit tests for status.c and lineage.c: freshness verdicts at the amber and red edges, the
 * throughput rings (first sight, rates, wrap-around at PB_STATUS_SLOTS), the /v1/status document,
 * the lineage graph (nodes, edges, a binding to an undeclared port, live rates), its DOT text, and
 * OpenLineage RunEvents (datasets, facets, output statistics). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descriptor.h"
#include "lineage.h"
#include "metrics.h"
#include "registry.h"
#include "status.h"

#define SCHEMA                                                                                     \
    "{\"type\":\"record\",\"name\":\"Reading\",\"namespace\":\"t\",\"fields\":[{\"name\":\"id\","  \
    "\"type\":\"string\",\"doc\":\"the id\"},{\"name\":\"at\",\"type\":{\"type\":\"long\","        \
    "\"logicalType\":\"timestamp-millis\"}},{\"name\":\"place\",\"type\":[\"null\",{\"type\":"     \
    "\"record\",\"name\":\"Place\",\"fields\":[{\"name\":\"lat\",\"type\":\"double\"}]}],"         \
    "\"default\":null}]}"

static const char *SRC_OUT = "urn:dpds:t:dataproducts:src:1:outputports:readings";
static const char *SRC_RAW = "urn:dpds:t:dataproducts:src:1:outputports:raw";
static const char *DST_IN = "urn:dpds:t:dataproducts:dst:1:inputports:readings";
static const char *DST_GHOST = "urn:dpds:t:dataproducts:dst:1:inputports:ghost";
static const char *GHOST_OUT = "urn:dpds:t:dataproducts:gone:1:outputports:x";

static void put(pb_registry_t *r, const char *text) {
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j) fail_msg("bad test descriptor: %s: %s", jerr.text, text);
    pb_product_t *p = NULL;
    pb_err_t err = {0};
    if (pb_descriptor_parse(j, NULL, "test", "t", 1, &p, &err)) fail_msg("descriptor: %s", err.msg);
    json_decref(j);
    pb_buf_t b = {0};
    if (pb_registry_record_product_put(&b, "req", p, &err)) fail_msg("record: %s", err.msg);
    pb_product_destroy(p);
    pb_registry_result_t res = {0};
    assert_int_equal(pb_registry_apply(r, -1, (const char *)b.data, b.len, &res), 0);
    if (res.error_code) fail_msg("put: %s", res.message);
    pb_registry_result_reset(&res);
    pb_buf_free(&b);
}

/* src (outputs readings with a 10 s freshness SLO, raw without SLO) and dst (input readings bound
 * to src's readings, input ghost bound to a port no product declares). */
static pb_registry_t *mesh(void) {
    pb_registry_t *r = pb_registry_new();
    put(r, "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":\"urn:dpds:t:"
           "dataproducts:src:1\",\"name\":\"src\",\"version\":\"1.0.0\",\"domain\":\"d\",\"owner\":"
           "{\"id\":\"o\"}},\"interfaceComponents\":{\"outputPorts\":[{\"name\":\"readings\","
           "\"promises\":{\"api\":{\"schema\":" SCHEMA "},\"slo\":{\"freshness\":\"10s\"}}},{"
           "\"name\":\"raw\",\"promises\":{\"api\":{\"schema\":" SCHEMA "}}}]}}");
    put(r, "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":\"urn:dpds:t:"
           "dataproducts:dst:1\",\"name\":\"dst\",\"version\":\"1.0.0\",\"domain\":\"d\",\"owner\":"
           "{\"id\":\"o\"}},\"interfaceComponents\":{\"inputPorts\":[{\"name\":\"readings\","
           "\"from\":\"urn:dpds:t:dataproducts:src:1:outputports:readings\",\"promises\":{\"api\":{"
           "\"schema\":" SCHEMA "}}},{\"name\":\"ghost\",\"from\":\"urn:dpds:t:dataproducts:gone:1:"
           "outputports:x\",\"promises\":{\"api\":{\"schema\":" SCHEMA "}}}]}}");
    assert_int_equal(pb_registry_binding_count(r), 2);
    return r;
}

static json_t *find(json_t *arr, const char *key, const char *value) {
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(json_object_get(v, key));
        if (s && !strcmp(s, value)) return v;
    }
    return NULL;
}

static void verdicts(void **state) {
    (void)state;
    assert_int_equal(pb_status_state(0, 100, 200), PB_STATUS_NONE); /* no SLO */
    assert_int_equal(pb_status_state(0, 0, 200), PB_STATUS_NONE);   /* no SLO, never seen */
    assert_int_equal(pb_status_state(10, 0, 200), PB_STATUS_RED);   /* never seen */
    assert_int_equal(pb_status_state(10, 200, 200), PB_STATUS_GREEN);
    assert_int_equal(pb_status_state(10, 192, 200), PB_STATUS_GREEN); /* 80 %: still green */
    assert_int_equal(pb_status_state(10, 191.9, 200), PB_STATUS_AMBER);
    assert_int_equal(pb_status_state(10, 190, 200), PB_STATUS_AMBER); /* at the SLO: amber */
    assert_int_equal(pb_status_state(10, 189.9, 200), PB_STATUS_RED);
    assert_int_equal(pb_status_state(10, 250, 200), PB_STATUS_GREEN); /* event time ahead */
    assert_string_equal(pb_status_state_name(PB_STATUS_AMBER), "amber");
    assert_string_equal(pb_status_state_name(PB_STATUS_NONE), "none");
}

/* Error budgets with deploy/prometheus's arithmetic: left = 1 - bad ratio / budget. */
static void budgets(void **state) {
    (void)state;
    assert_true(pb_status_budget_left(-1, 0.001) == 1); /* no events: untouched */
    assert_true(pb_status_budget_left(0, 0.001) == 1);  /* none bad */
    assert_float_equal(pb_status_budget_left(0.0005, 0.001), 0.5, 1e-9);
    assert_float_equal(pb_status_budget_left(0.001, 0.001), 0, 1e-9); /* exactly spent */
    assert_float_equal(pb_status_budget_left(1.0 / 3, 0.001), 1 - 1000.0 / 3, 1e-6);
    assert_true(pb_status_budget_left(0, 0) == 1);       /* "0%" budget, no reject yet */
    assert_true(pb_status_budget_left(0.0001, 0) == -1); /* "0%": any reject spends it */
    assert_int_equal(pb_status_budget_state(1), PB_STATUS_GREEN);
    assert_int_equal(pb_status_budget_state(0.25), PB_STATUS_GREEN);
    assert_int_equal(pb_status_budget_state(0.2499), PB_STATUS_AMBER);
    assert_int_equal(pb_status_budget_state(0), PB_STATUS_RED);
    assert_int_equal(pb_status_budget_state(-3), PB_STATUS_RED);
    /* Lag against the input port's freshness SLO: the same edges as a port's age. */
    assert_int_equal(pb_status_lag_state(0, 1, 5), PB_STATUS_NONE);   /* no SLO */
    assert_int_equal(pb_status_lag_state(10, 0, 50), PB_STATUS_NONE); /* not measured yet */
    assert_int_equal(pb_status_lag_state(10, 1, 0), PB_STATUS_GREEN);
    assert_int_equal(pb_status_lag_state(10, 1, 8), PB_STATUS_GREEN);
    assert_int_equal(pb_status_lag_state(10, 1, 9), PB_STATUS_AMBER);
    assert_int_equal(pb_status_lag_state(10, 1, 10.5), PB_STATUS_RED);
}

static void rings(void **state) {
    (void)state;
    pb_registry_t *r = mesh();
    pb_metrics_t *m = pb_metrics_new();
    pb_status_t *st = pb_status_new(1000);
    double s[PB_STATUS_SLOTS];
    assert_int_equal(pb_status_sample(st, r, m, 1000), 0);
    assert_true(pb_status_rate(st, SRC_OUT) < 0); /* first sight: no sample yet */
    assert_int_equal(pb_status_samples(st, SRC_OUT, s), 0);
    pb_metrics_port_t *p = pb_metrics_port(m, SRC_OUT, 10);
    pb_metrics_count(p, PB_METRICS_IN, PB_METRICS_OK, 20, 2000);
    pb_metrics_count(p, PB_METRICS_IN, PB_METRICS_REJECTED, 5, 0); /* not throughput */
    assert_int_equal(pb_status_sample(st, r, m, 1002), 0);
    assert_true(pb_status_rate(st, SRC_OUT) == 10.0);
    assert_true(pb_status_rate(st, SRC_RAW) == 0.0);
    /* 100 more samples of 1..100 records/s: the ring keeps the newest PB_STATUS_SLOTS. */
    for (int i = 1; i <= 100; i++) {
        pb_metrics_count(p, PB_METRICS_IN, PB_METRICS_OK, (uint64_t)i, 0);
        assert_int_equal(pb_status_sample(st, r, m, 1002 + i), 0);
    }
    assert_int_equal(pb_status_samples(st, SRC_OUT, s), PB_STATUS_SLOTS);
    assert_true(s[0] == 100 - PB_STATUS_SLOTS + 1);
    assert_true(s[PB_STATUS_SLOTS - 1] == 100);
    assert_true(pb_status_rate(st, SRC_OUT) == 100);
    assert_true(pb_status_rate(st, "urn:dpds:t:dataproducts:nope:1:outputports:x") < 0);
    pb_status_destroy(st);
    pb_status_destroy(NULL);
    pb_metrics_destroy(m);
    pb_registry_destroy(r);
}

static void status_doc(void **state) {
    (void)state;
    pb_registry_t *r = mesh();
    pb_metrics_t *m = pb_metrics_new();
    pb_status_t *st = pb_status_new(10000);
    pb_status_sample(st, r, m, 1000);
    pb_metrics_port_t *p = pb_metrics_port(m, SRC_OUT, 10);
    pb_metrics_count(p, PB_METRICS_IN, PB_METRICS_OK, 30, 3000);
    pb_metrics_count(p, PB_METRICS_IN, PB_METRICS_REJECTED, 2, 0);
    pb_metrics_seen(p, 1005, 1006);
    pb_metrics_dlq(p, PB_METRICS_DLQ_PROJECTION);
    pb_metrics_lag_t *lag = pb_metrics_lag(m, DST_IN, "portbroker.route.t.dst.v1.in.readings");
    lag->known = 1;
    lag->records = 42;
    lag->seconds = 3.5;
    pb_status_sample(st, r, m, 1010);
    json_t *doc = pb_status_json(st, r, m, 1013.5);
    assert_non_null(doc);
    json_t *summary = json_object_get(doc, "summary");
    assert_int_equal(json_integer_value(json_object_get(summary, "ports")), 4);
    assert_int_equal(json_integer_value(json_object_get(summary, "amber")), 1); /* 8.5 s of 10 */
    assert_int_equal(json_integer_value(json_object_get(summary, "none")), 3);
    json_t *ports = json_object_get(doc, "ports");
    json_t *o = find(ports, "fqn", SRC_OUT);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "amber");
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "output");
    assert_string_equal(json_string_value(json_object_get(o, "topic")), "t.src.v1.readings");
    assert_string_equal(json_string_value(json_object_get(o, "product")),
                        "urn:dpds:t:dataproducts:src:1");
    assert_int_equal(json_integer_value(json_object_get(o, "major")), 1);
    assert_true(json_number_value(json_object_get(o, "ratePerSecond")) == 3.0);
    assert_true(json_number_value(json_object_get(o, "freshnessAgeSeconds")) == 8.5);
    assert_true(json_number_value(json_object_get(o, "freshnessSloSeconds")) == 10.0);
    assert_string_equal(json_string_value(json_object_get(o, "lastEventTime")),
                        "1970-01-01T00:16:45.000Z");
    assert_int_equal(json_integer_value(json_object_get(o, "rejects")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "dlq"), "projection")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "dlq"), "total")), 1);
    assert_int_equal(json_array_size(json_object_get(o, "samples")), 1);
    json_t *raw = find(ports, "fqn", SRC_RAW);
    assert_string_equal(json_string_value(json_object_get(raw, "state")), "none");
    assert_true(json_is_null(json_object_get(raw, "freshnessSloSeconds")));
    assert_true(json_is_null(json_object_get(raw, "lastEventTime")));
    json_t *in = find(ports, "fqn", DST_IN);
    json_t *subs = json_object_get(in, "subscriptions");
    assert_int_equal(json_array_size(subs), 1);
    assert_true(json_number_value(json_object_get(json_array_get(subs, 0), "lagRecords")) == 42);
    json_t *bindings = json_object_get(doc, "bindings");
    assert_int_equal(json_array_size(bindings), 2);
    json_t *bd = find(bindings, "to", DST_IN);
    assert_string_equal(json_string_value(json_object_get(bd, "from")), SRC_OUT);
    assert_int_equal(json_array_size(json_object_get(bd, "lag")), 1);
    assert_non_null(json_object_get(json_object_get(doc, "lineage"), "edges"));
    json_decref(doc);
    pb_status_destroy(st);
    pb_metrics_destroy(m);
    pb_registry_destroy(r);
}

static void graph_and_dot(void **state) {
    (void)state;
    pb_registry_t *r = mesh();
    pb_metrics_t *m = pb_metrics_new();
    pb_status_t *st = pb_status_new(1000);
    pb_status_sample(st, r, m, 1000);
    pb_metrics_count(pb_metrics_port(m, DST_IN, 0), PB_METRICS_IN, PB_METRICS_OK, 7, 0);
    pb_status_sample(st, r, m, 1001);
    json_t *g = pb_lineage_graph(st, r);
    json_t *nodes = json_object_get(g, "nodes"), *edges = json_object_get(g, "edges");
    /* 2 products, 4 declared ports, 1 undeclared (the ghost binding's output port). */
    assert_int_equal(json_array_size(nodes), 7);
    json_t *ghost = find(nodes, "id", GHOST_OUT);
    assert_non_null(ghost);
    assert_true(json_is_false(json_object_get(ghost, "declared")));
    /* 2 produces, 2 consumes, 2 bindings; every edge joins two nodes. */
    assert_int_equal(json_array_size(edges), 6);
    size_t i;
    json_t *e;
    int bindings = 0;
    json_array_foreach(edges, i, e) {
        assert_non_null(find(nodes, "id", json_string_value(json_object_get(e, "from"))));
        assert_non_null(find(nodes, "id", json_string_value(json_object_get(e, "to"))));
        if (!strcmp(json_string_value(json_object_get(e, "type")), "binding")) {
            bindings++;
            if (!strcmp(json_string_value(json_object_get(e, "to")), DST_IN))
                assert_true(json_number_value(json_object_get(e, "ratePerSecond")) == 7.0);
            else
                assert_string_equal(json_string_value(json_object_get(e, "to")), DST_GHOST);
        }
    }
    assert_int_equal(bindings, 2);
    pb_buf_t dot = {0};
    assert_int_equal(pb_lineage_dot(g, &dot), 0);
    pb_buf_putc(&dot, 0);
    const char *text = (const char *)dot.data;
    assert_true(!strncmp(text, "digraph lineage {\n", 18));
    assert_non_null(strstr(text, "\"urn:dpds:t:dataproducts:src:1:outputports:readings\" -> "
                                 "\"urn:dpds:t:dataproducts:dst:1:inputports:readings\" "
                                 "[label=\"7/s\", penwidth=2];"));
    assert_non_null(strstr(text, "[shape=box, label=\"src v1\", style=bold];"));
    size_t arrows = 0;
    for (const char *c = text; (c = strstr(c, " -> ")); c++)
        arrows++;
    assert_int_equal(arrows, 6);
    assert_string_equal(text + strlen(text) - 2, "}\n");
    pb_buf_free(&dot);
    json_decref(g);
    pb_status_destroy(st);
    pb_metrics_destroy(m);
    pb_registry_destroy(r);
}

static const char *str_at(json_t *o, const char *k) {
    return json_string_value(json_object_get(o, k));
}

static void openlineage(void **state) {
    (void)state;
    pb_registry_t *r = mesh();
    pb_metrics_t *m = pb_metrics_new();
    pb_metrics_count(pb_metrics_port(m, SRC_OUT, 10), PB_METRICS_IN, PB_METRICS_OK, 3, 300);
    pb_metrics_count(pb_metrics_port(m, DST_IN, 0), PB_METRICS_IN, PB_METRICS_OK, 2, 150);
    char ns[100];
    pb_lineage_namespace("k1:9092,k2:9092", ns, sizeof ns);
    assert_string_equal(ns, "kafka://k1:9092");
    pb_lineage_ctx_t ctx = {"k1:9092,k2:9092", "urn:portbroker:broker:test"};
    json_t *jobs = pb_lineage_jobs(&ctx, r, m);
    /* Two products and two bindings: four jobs. */
    assert_int_equal(json_object_size(jobs), 4);
    json_t *src = json_object_get(jobs, "urn:dpds:t:dataproducts:src:1");
    json_t *dst = json_object_get(jobs, "urn:dpds:t:dataproducts:dst:1");
    char bname[300];
    snprintf(bname, sizeof bname, "binding:%s->%s", SRC_OUT, DST_IN);
    json_t *bind = json_object_get(jobs, bname);
    snprintf(bname, sizeof bname, "binding:%s->%s", GHOST_OUT, DST_GHOST);
    json_t *ghost = json_object_get(jobs, bname);
    assert_non_null(src);
    assert_non_null(dst);
    assert_non_null(bind);
    assert_non_null(ghost);
    assert_string_equal(str_at(json_object_get(src, "job"), "namespace"), PB_LINEAGE_JOB_NAMESPACE);
    assert_string_equal(
        str_at(json_object_get(json_object_get(json_object_get(src, "job"), "facets"), "jobType"),
               "jobType"),
        "DATA_PRODUCT");
    assert_string_equal(
        str_at(json_object_get(json_object_get(json_object_get(bind, "job"), "facets"), "jobType"),
               "jobType"),
        "BINDING");
    /* A product: its output ports are its outputs, its input ports its inputs. */
    assert_int_equal(json_array_size(json_object_get(src, "inputs")), 0);
    assert_int_equal(json_array_size(json_object_get(src, "outputs")), 2);
    assert_int_equal(json_array_size(json_object_get(dst, "inputs")), 2);
    assert_int_equal(json_array_size(json_object_get(dst, "outputs")), 0);
    /* A binding reads its output port's topic and writes its input port's. */
    assert_string_equal(str_at(json_array_get(json_object_get(bind, "inputs"), 0), "name"),
                        "t.src.v1.readings");
    assert_string_equal(str_at(json_array_get(json_object_get(bind, "outputs"), 0), "name"),
                        "t.dst.v1.in.readings");
    /* The ghost binding's output port is not declared: no input dataset. */
    assert_int_equal(json_array_size(json_object_get(ghost, "inputs")), 0);
    assert_int_equal(json_array_size(json_object_get(ghost, "outputs")), 1);

    json_t *start = pb_lineage_run_event(&ctx, src, "START", "0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11",
                                         1700000000.0);
    assert_string_equal(str_at(start, "eventType"), "START");
    assert_string_equal(str_at(start, "eventTime"), "2023-11-14T22:13:20.000Z");
    assert_string_equal(str_at(start, "schemaURL"), PB_LINEAGE_SCHEMA_URL);
    assert_string_equal(str_at(json_object_get(start, "run"), "runId"),
                        "0b0e7f06-9c3e-4c07-8d8e-2f2b9c7a1a11");
    assert_string_equal(str_at(json_object_get(start, "job"), "name"),
                        "urn:dpds:t:dataproducts:src:1");
    json_t *d = find(json_object_get(start, "outputs"), "name", "t.src.v1.readings");
    assert_non_null(d);
    assert_string_equal(str_at(d, "namespace"), "kafka://k1:9092");
    assert_null(json_object_get(d, "outputFacets")); /* no statistics at START */
    json_t *facets = json_object_get(d, "facets");
    json_t *ids = json_object_get(json_object_get(facets, "symlinks"), "identifiers");
    assert_string_equal(str_at(json_array_get(ids, 0), "name"), SRC_OUT);
    json_t *fields = json_object_get(json_object_get(facets, "schema"), "fields");
    assert_int_equal(json_array_size(fields), 3);
    assert_string_equal(str_at(json_array_get(fields, 1), "type"), "timestamp-millis");
    json_t *place = json_array_get(fields, 2);
    assert_string_equal(str_at(place, "type"), "t.Place");
    assert_int_equal(json_array_size(json_object_get(place, "fields")), 1);
    assert_string_equal(str_at(json_array_get(fields, 0), "description"), "the id");
    /* START left the job body's statistics alone. */
    d = find(json_object_get(src, "outputs"), "name", "t.src.v1.readings");
    assert_non_null(json_object_get(d, "outputFacets"));
    json_decref(start);

    json_t *running = pb_lineage_run_event(&ctx, bind, "RUNNING", "r2", 1700000001.0);
    d = find(json_object_get(running, "outputs"), "name", "t.dst.v1.in.readings");
    json_t *os = json_object_get(json_object_get(d, "outputFacets"), "outputStatistics");
    assert_int_equal(json_integer_value(json_object_get(os, "rowCount")), 2);
    assert_int_equal(json_integer_value(json_object_get(os, "size")), 150);
    json_decref(running);
    running = pb_lineage_run_event(&ctx, src, "COMPLETE", "r1", 1700000002.0);
    d = find(json_object_get(running, "outputs"), "name", "t.src.v1.readings");
    os = json_object_get(json_object_get(d, "outputFacets"), "outputStatistics");
    assert_int_equal(json_integer_value(json_object_get(os, "rowCount")), 3);
    assert_int_equal(json_integer_value(json_object_get(os, "size")), 300);
    json_decref(running);

    /* The job-set fingerprint: the same registry, the same value; one binding less, another. */
    uint64_t h = pb_lineage_jobs_hash(r);
    assert_true(h == pb_lineage_jobs_hash(r));
    pb_registry_t *r2 = pb_registry_new();
    assert_true(h != pb_lineage_jobs_hash(r2));
    /* The values the hand-written FNV-1a gave before broker/hash.h. */
    assert_int_equal(h, 0x97f3170ddeb9815d);
    assert_int_equal(pb_lineage_jobs_hash(r2), 0x9c0ee000c6af6c76);
    pb_registry_destroy(r2);
    json_decref(jobs);
    pb_metrics_destroy(m);
    pb_registry_destroy(r);
}

/* The RUNNING fast path's parts (ops.c): one job built alone is that job of pb_lineage_jobs; the
 * event text made from a body's text is byte for byte the dumped event; the statistics
 * fingerprint moves with the counters a body shows, and only with those. */
static void openlineage_parts(void **state) {
    (void)state;
    pb_registry_t *r = mesh();
    pb_metrics_t *m = pb_metrics_new();
    pb_metrics_count(pb_metrics_port(m, SRC_OUT, 10), PB_METRICS_IN, PB_METRICS_OK, 3, 300);
    pb_lineage_ctx_t ctx = {"k1:9092", "urn:portbroker:broker:test"};
    json_t *jobs = pb_lineage_jobs(&ctx, r, m);
    size_t n = 0;
    const pb_product_t *const *ps = pb_registry_products(r, &n);
    assert_int_equal(n, 2);
    size_t checked = 0;
    for (size_t i = 0; i < n + pb_registry_binding_count(r); i++) {
        const pb_registry_binding_t *bd = i < n ? NULL : pb_registry_binding_at(r, i - n);
        char name[PB_LINEAGE_JOB_NAME_MAX];
        json_t *one;
        if (bd) {
            pb_lineage_binding_name(bd, name, sizeof name);
            one = pb_lineage_binding_job(&ctx, r, bd, m);
        } else {
            snprintf(name, sizeof name, "%s", ps[i]->fqn);
            one = pb_lineage_product_job(&ctx, r, ps[i], m);
        }
        json_t *body = json_object_get(jobs, name);
        assert_non_null(body);
        assert_true(json_equal(one, body));
        char *text = json_dumps(body, JSON_COMPACT);
        static const char *const types[] = {"RUNNING", "COMPLETE"};
        for (int t = 0; t < 2; t++) {
            json_t *ev = pb_lineage_run_event(&ctx, body, types[t], "r1", 1700000000.5);
            char *want = json_dumps(ev, JSON_COMPACT);
            pb_buf_t got = {0};
            assert_int_equal(
                pb_lineage_event_text(&ctx, text, strlen(text), types[t], "r1", 1700000000.5, &got),
                0);
            assert_int_equal(pb_buf_putc(&got, 0), 0);
            assert_string_equal((const char *)got.data, want);
            pb_buf_free(&got);
            free(want);
            json_decref(ev);
        }
        pb_buf_t no = {0};
        assert_int_equal(pb_lineage_event_text(&ctx, text, strlen(text), "START", "r1", 1, &no),
                         PB_ERR_INVALID);
        assert_int_equal(pb_lineage_event_text(&ctx, "{}", 2, "RUNNING", "r1", 1, &no),
                         PB_ERR_INVALID);
        pb_buf_free(&no);
        free(text);
        json_decref(one);
        checked++;
    }
    assert_int_equal(checked, 4);
    /* Statistics: src's output counts move src's fingerprint and not dst's; the binding's moves
     * with its input port's (what its body's outputStatistics show). */
    const pb_product_t *src = ps[0]->n_outputs ? ps[0] : ps[1], *dst = src == ps[0] ? ps[1] : ps[0];
    const pb_registry_binding_t *bind = NULL;
    for (size_t i = 0; i < pb_registry_binding_count(r); i++)
        if (!strcmp(pb_registry_binding_at(r, i)->to, DST_IN)) bind = pb_registry_binding_at(r, i);
    assert_non_null(bind);
    uint64_t s0 = pb_lineage_product_stats(src, m), d0 = pb_lineage_product_stats(dst, m);
    uint64_t b0 = pb_lineage_binding_stats(r, bind, m);
    /* The values the hand-written FNV-1a gave before broker/hash.h (the counters go in as the
     * bytes of two uint64_t: these are a little-endian machine's). */
    if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
        assert_int_equal(s0, 0x24e72c179db71dc7);
        assert_int_equal(d0, 0x14650fb0739d0383); /* no outputs: the start value */
        assert_int_equal(b0, 0xa31e272015f12c43);
    }
    assert_true(s0 == pb_lineage_product_stats(src, m));
    pb_metrics_count(pb_metrics_port(m, SRC_OUT, 10), PB_METRICS_IN, PB_METRICS_OK, 1, 10);
    assert_true(s0 != pb_lineage_product_stats(src, m));
    assert_true(d0 == pb_lineage_product_stats(dst, m));
    assert_true(b0 == pb_lineage_binding_stats(r, bind, m));
    pb_metrics_count(pb_metrics_port(m, DST_IN, 0), PB_METRICS_IN, PB_METRICS_OK, 1, 10);
    assert_true(b0 != pb_lineage_binding_stats(r, bind, m));
    json_decref(jobs);
    pb_metrics_destroy(m);
    pb_registry_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verdicts),
        cmocka_unit_test(budgets),
        cmocka_unit_test(rings),
        cmocka_unit_test(status_doc),
        cmocka_unit_test(graph_and_dot),
        cmocka_unit_test(openlineage),
        cmocka_unit_test(openlineage_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
