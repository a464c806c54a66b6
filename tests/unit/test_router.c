/* Unit tests for router.c's pure parts: the resume decision, the headers of a routed record
 * (producer headers kept, broker-owned ones replaced, trace continued, hops counted) and of a dead
 * letter (Kafka Connect's error headers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "portbroker/wire.h"
#include "router.h"

static void resume_decision(void **state) {
    (void)state;
    int64_t off = 0;
    /* The input tail proves more than the commit: resume after it. */
    assert_int_equal(pb_router_resume(42, 40, "earliest", &off), PB_ROUTER_RESUME_LINEAGE);
    assert_int_equal(off, 42);
    /* Equal: the lineage wins (same offset either way). */
    assert_int_equal(pb_router_resume(40, 40, "latest", &off), PB_ROUTER_RESUME_LINEAGE);
    assert_int_equal(off, 40);
    /* Dead letters after the last routed record: the commit is further. */
    assert_int_equal(pb_router_resume(10, 15, "earliest", &off), PB_ROUTER_RESUME_COMMITTED);
    assert_int_equal(off, 15);
    assert_int_equal(pb_router_resume(-1, 0, "latest", &off), PB_ROUTER_RESUME_COMMITTED);
    assert_int_equal(off, 0);
    assert_int_equal(pb_router_resume(7, -1, "latest", &off), PB_ROUTER_RESUME_LINEAGE);
    assert_int_equal(off, 7);
    /* Neither: the binding's start. */
    assert_int_equal(pb_router_resume(-1, -1, "earliest", &off), PB_ROUTER_RESUME_START);
    assert_int_equal(off, PB_KAFKA_OFFSET_BEGINNING);
    assert_int_equal(pb_router_resume(-1, -1, "latest", &off), PB_ROUTER_RESUME_START);
    assert_int_equal(off, PB_KAFKA_OFFSET_END);
    assert_int_equal(pb_router_resume(-1, -1, NULL, &off), PB_ROUTER_RESUME_START);
    assert_int_equal(off, PB_KAFKA_OFFSET_END);
    assert_non_null(strstr(pb_router_resume_name(PB_ROUTER_RESUME_COMMITTED), "committed"));
}

static const char *value(const pb_kafka_header_t *h, size_t n, const char *name, char *buf) {
    const char *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(h[i].name, name)) {
            snprintf(buf, 600, "%.*s", (int)h[i].len, (const char *)h[i].value);
            found = buf;
        }
    return found;
}

static size_t count(const pb_kafka_header_t *h, size_t n, const char *name) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += !strcmp(h[i].name, name);
    return c;
}

#define H(n, v)                                                                                    \
    { n, v, sizeof v - 1 }

static void routed_headers(void **state) {
    (void)state;
    pb_kafka_header_t in[] = {
        H("ce_id", "abc"),
        H("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        H("x-team", "weather"),
        H("mesh.contract", "forged"),
        H("mesh.lineage.hops", "2"),
        H("mesh.lineage.offset", "999"),
        H("ce_dataschema", "http://elsewhere/schemas/ids/1"),
        H("ce_time", "2026-11-21T10:00:00Z"),
    };
    size_t n_in = sizeof in / sizeof *in;
    pb_kafka_header_t out[16];
    char scratch[PB_ROUTER_SCRATCH], b[600];
    pb_router_hop_t hop = {
        "com.acme.weather.v2.observations", 3, 123456789012LL, "http://reg:8080/schemas/ids/4",
        "urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather@1.0.0"};
    size_t n = pb_router_headers(in, n_in, &hop, out, scratch);
    assert_int_equal(n, 3 + 7); /* ce_id, x-team, ce_time kept; 7 set */
    /* Producer headers kept in order, first. */
    assert_string_equal(out[0].name, "ce_id");
    assert_string_equal(out[1].name, "x-team");
    assert_string_equal(out[2].name, "ce_time");
    /* Broker-owned ones appear once, with the broker's values. */
    const char *owned[] = {"traceparent",        "ce_dataschema",          "mesh.contract",
                           "mesh.lineage.topic", "mesh.lineage.partition", "mesh.lineage.offset",
                           "mesh.lineage.hops"};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(count(out, n, owned[i]), 1);
    assert_string_equal(value(out, n, "mesh.contract", b), hop.contract);
    assert_string_equal(value(out, n, "ce_dataschema", b), "http://reg:8080/schemas/ids/4");
    assert_string_equal(value(out, n, "mesh.lineage.topic", b), "com.acme.weather.v2.observations");
    assert_string_equal(value(out, n, "mesh.lineage.partition", b), "3");
    assert_string_equal(value(out, n, "mesh.lineage.offset", b), "123456789012");
    assert_string_equal(value(out, n, "mesh.lineage.hops", b), "3");
    /* The trace continues: same trace id and flags, a new span. */
    const char *tp = value(out, n, "traceparent", b);
    assert_int_equal(strlen(tp), 55);
    assert_memory_equal(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36);
    assert_string_not_equal(tp + 36, "00f067aa0ba902b7-01");
    assert_string_equal(tp + 52, "-01");

    /* No hops header: first hop. No traceparent: a new trace. Bad hops text counts as 0. */
    pb_kafka_header_t plain[] = {H("mesh.lineage.hops", "x1")};
    n = pb_router_headers(plain, 1, &hop, out, scratch);
    assert_int_equal(n, 7);
    assert_string_equal(value(out, n, "mesh.lineage.hops", b), "1");
    tp = value(out, n, "traceparent", b);
    assert_int_equal(strlen(tp), 55);
    assert_memory_not_equal(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36);
    n = pb_router_headers(NULL, 0, &hop, out, scratch);
    assert_string_equal(value(out, n, "mesh.lineage.hops", b), "1");

    assert_true(pb_router_owned_header("mesh.lineage.hops"));
    assert_true(pb_router_owned_header("traceparent"));
    assert_false(pb_router_owned_header("tracestate"));
    assert_false(pb_router_owned_header("ce_id"));
    assert_false(pb_router_owned_header("ce_time"));
}

static void dlq_headers(void **state) {
    (void)state;
    pb_kafka_header_t in[] = {
        H("ce_id", "abc"),
        H("__connect.errors.stage", "forged"),
        H("mesh.contract", "kept as it was"),
    };
    pb_kafka_header_t out[16];
    char scratch[PB_ROUTER_SCRATCH], b[600];
    pb_router_failure_t f = {PB_METRICS_DLQ_UNKNOWN_SCHEMA, "schema id 99 is not in the registry"};
    size_t n = pb_router_dlq_headers(in, 3, "t.out", 5, 77, &f, out, scratch);
    assert_int_equal(n, 2 + 6);
    assert_string_equal(value(out, n, "ce_id", b), "abc");
    assert_string_equal(value(out, n, "mesh.contract", b), "kept as it was");
    assert_int_equal(count(out, n, "__connect.errors.stage"), 1);
    assert_string_equal(value(out, n, "__connect.errors.topic", b), "t.out");
    assert_string_equal(value(out, n, "__connect.errors.partition", b), "5");
    assert_string_equal(value(out, n, "__connect.errors.offset", b), "77");
    assert_string_equal(value(out, n, "__connect.errors.stage", b), "VALUE_CONVERTER");
    assert_string_equal(value(out, n, "__connect.errors.exception.class.name", b),
                        "portbroker.UnknownSchemaError");
    assert_string_equal(value(out, n, "__connect.errors.exception.message", b),
                        "schema id 99 is not in the registry");
    assert_string_equal(pb_router_dlq_stage(PB_METRICS_DLQ_PROJECTION), "TRANSFORMATION");
    assert_string_equal(pb_router_dlq_class(PB_METRICS_DLQ_DECODE), "portbroker.DecodeError");
    assert_string_equal(pb_router_dlq_class(PB_METRICS_DLQ_PROJECTION),
                        "portbroker.ProjectionError");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resume_decision),
        cmocka_unit_test(routed_headers),
        cmocka_unit_test(dlq_headers),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
