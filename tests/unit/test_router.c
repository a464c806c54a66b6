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

#include "buf.h"
#include "config.h"
#include "descriptor.h"
#include "loop.h"
#include "portbroker/wire.h"
#include "registry.h"
#include "router.h"
#include <poll.h>

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
        H("ce_source", "evil"),
        H("ce_specversion", "9"),
        H("mesh.lineage.hops", "7"),
        H("content-type", "text/plain"),
        H("mesh.other", "forged"),
    };
    size_t n_in = sizeof in / sizeof *in;
    pb_kafka_header_t out[32];
    char scratch[PB_ROUTER_SCRATCH], b[600];
    pb_router_hop_t hop = {
        "com.acme.weather.v2.observations",
        3,
        123456789012LL,
        "http://reg:8080/schemas/ids/4",
        "urn:dpds:com.acme:dataproducts:tripExecution:1:inputports:weather@1.0.0",
        "urn:dpds:com.acme:dataproducts:weather:2:outputports:observations",
        "com.acme.weather.Observation",
        1764583200000LL,
        0};
    size_t n = pb_router_headers(in, n_in, &hop, out, scratch);
    assert_int_equal(n, 3 + 11); /* ce_id, x-team, ce_time kept; 11 set, none added */
    /* Producer headers kept in order, first. */
    assert_string_equal(out[0].name, "ce_id");
    assert_string_equal(out[1].name, "x-team");
    assert_string_equal(out[2].name, "ce_time");
    /* Broker-owned ones appear once, with the broker's values. */
    const char *owned[] = {"traceparent",
                           "ce_dataschema",
                           "mesh.contract",
                           "mesh.lineage.topic",
                           "mesh.lineage.partition",
                           "mesh.lineage.offset",
                           "mesh.lineage.hops",
                           "ce_source",
                           "ce_type",
                           "ce_specversion",
                           "content-type"};
    for (size_t i = 0; i < 11; i++)
        assert_int_equal(count(out, n, owned[i]), 1);
    assert_int_equal(count(out, n, "mesh.other"), 0);
    assert_int_equal(count(out, n, "ce_id"), 1);
    assert_string_equal(value(out, n, "ce_id", b), "abc");
    assert_string_equal(value(out, n, "ce_source", b), hop.source);
    assert_string_equal(value(out, n, "ce_type", b), hop.type);
    assert_string_equal(value(out, n, "ce_specversion", b), "1.0");
    assert_string_equal(value(out, n, "content-type", b), "application/avro");
    assert_string_equal(value(out, n, "mesh.contract", b), hop.contract);
    assert_string_equal(value(out, n, "ce_dataschema", b), "http://reg:8080/schemas/ids/4");
    assert_string_equal(value(out, n, "mesh.lineage.topic", b), "com.acme.weather.v2.observations");
    assert_string_equal(value(out, n, "mesh.lineage.partition", b), "3");
    assert_string_equal(value(out, n, "mesh.lineage.offset", b), "123456789012");
    /* Hops are never read from the record (see router.h): the producer's 2 and 7 count for
     * nothing. */
    assert_string_equal(value(out, n, "mesh.lineage.hops", b), "1");
    /* The trace continues: same trace id and flags, a new span. */
    const char *tp = value(out, n, "traceparent", b);
    assert_int_equal(strlen(tp), 55);
    assert_memory_equal(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36);
    assert_string_not_equal(tp + 36, "00f067aa0ba902b7-01");
    assert_string_equal(tp + 52, "-01");

    /* No traceparent: a new trace. No ce_id / ce_time (a direct producer): derived from the origin
     * position and the record's Kafka timestamp. */
    pb_kafka_header_t plain[] = {H("mesh.lineage.hops", "x1")};
    n = pb_router_headers(plain, 1, &hop, out, scratch);
    assert_int_equal(n, 13);
    assert_string_equal(value(out, n, "ce_id", b),
                        "com.acme.weather.v2.observations/3/123456789012");
    assert_string_equal(value(out, n, "ce_time", b), "2025-12-01T10:00:00.000Z");
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
    static const char *const mine[] = {"traceparent",
                                       "ce_dataschema",
                                       "mesh.contract",
                                       "mesh.lineage.topic",
                                       "mesh.lineage.partition",
                                       "mesh.lineage.offset",
                                       "mesh.lineage.hops",
                                       "ce_source",
                                       "ce_type",
                                       "ce_specversion",
                                       "content-type",
                                       "mesh.other",
                                       "mesh.",
                                       "mesh.lineage"};
    for (size_t i = 0; i < sizeof mine / sizeof *mine; i++)
        assert_true(pb_router_owned_header(mine[i]));
    static const char *const theirs[] = {"",      "t",          "ce_d",        "ce_dataschemas",
                                         "mesh",  "ce_sourc",   "ce_types",    "content-types",
                                         "ce_id", "ce_subject", "traceparent2"};
    for (size_t i = 0; i < sizeof theirs / sizeof *theirs; i++)
        assert_false(pb_router_owned_header(theirs[i]));
}

/* Broker headers a moving relay may leave in place: one copy with the broker's very value. */
static void kept_headers(void **state) {
    (void)state;
    pb_router_hop_t hop = {
        "out.topic",    1, 7, "http://reg/schemas/ids/4", "urn:in@1.0.0", "urn:out",
        "com.acme.Obs", 0, 0};
    pb_kafka_header_t same[] = {
        H("ce_specversion", "1.0"),
        H("ce_source", "urn:out"),
        H("ce_type", "com.acme.Obs"),
        H("content-type", "application/avro"),
        H("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        H("mesh.contract", "urn:in@1.0.0"),
        H("ce_dataschema", "http://reg/schemas/ids/4"),
    };
    assert_int_equal(pb_router_keep(same, 7, &hop),
                     PB_ROUTER_KEEP_SPECVERSION | PB_ROUTER_KEEP_SOURCE | PB_ROUTER_KEEP_TYPE |
                         PB_ROUTER_KEEP_CONTENT_TYPE);
    /* Forged, longer, shorter, null or repeated: replaced. Record-dependent ones never kept. */
    pb_kafka_header_t forged[] = {
        H("ce_specversion", "9"),
        H("ce_source", "evil"),
        H("ce_type", "com.acme.Ob"),
        H("content-type", "application/avro"),
        H("content-type", "application/avro"),
    };
    assert_int_equal(pb_router_keep(forged, 5, &hop), 0);
    pb_kafka_header_t null_one[] = {{"ce_specversion", NULL, 0}, H("ce_source", "urn:out2")};
    assert_int_equal(pb_router_keep(null_one, 2, &hop), 0);
    pb_kafka_header_t dup_after[] = {H("ce_type", "com.acme.Obs"), H("ce_type", "x")};
    assert_int_equal(pb_router_keep(dup_after, 2, &hop), 0);
    assert_int_equal(pb_router_keep(NULL, 0, &hop), 0);

    /* hop_headers leaves the kept ones out, sets the rest; pb_router_headers ignores keep. */
    pb_kafka_header_t out[32];
    char scratch[PB_ROUTER_SCRATCH];
    size_t all = pb_router_hop_headers(same, 7, &hop, out, scratch);
    hop.keep = pb_router_keep(same, 7, &hop);
    size_t n = pb_router_hop_headers(same, 7, &hop, out, scratch);
    assert_int_equal(n, all - 4);
    assert_int_equal(count(out, n, "ce_specversion") + count(out, n, "ce_source") +
                         count(out, n, "ce_type") + count(out, n, "content-type"),
                     0);
    assert_int_equal(count(out, n, "traceparent"), 1);
    assert_int_equal(count(out, n, "mesh.contract"), 1);
    n = pb_router_headers(same, 7, &hop, out, scratch);
    assert_int_equal(count(out, n, "ce_specversion"), 1);
    assert_int_equal(count(out, n, "content-type"), 1);
    assert_int_equal(n, all);
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

/* ---- a router against a real embedded cluster: counts and metrics ---- */

static void apply_json(pb_registry_t *reg, const char *text) {
    pb_err_t err = {0};
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    assert_non_null(j);
    pb_product_t *p = NULL;
    assert_int_equal(pb_descriptor_parse(j, "schemas/examples", "test", "t", 2, &p, &err), 0);
    pb_buf_t rec = {0};
    assert_int_equal(pb_registry_record_product_put(&rec, "req", p, &err), 0);
    pb_registry_result_t res = {0};
    pb_registry_apply(reg, -1, (const char *)rec.data, rec.len, &res);
    assert_int_equal(res.error_code, 0);
    pb_registry_result_reset(&res);
    pb_buf_free(&rec);
    pb_product_destroy(p);
    json_decref(j);
}

/* The test mesh: product src's output port obs (record R with src_fields; port_extra adds to
 * its promises, e.g. an SLO) and product dst (version dst_version) whose input port obs reads it
 * as record R with dst_fields: one binding. */
static void apply_src_dst(pb_registry_t *reg, const char *src_fields, const char *port_extra,
                          const char *dst_version, const char *dst_fields) {
    char src[2048], dst[2048];
    snprintf(src, sizeof src,
             "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
             "\"urn:dpds:t:dataproducts:src:1\",\"name\":\"src\",\"version\":\"1.0.0\","
             "\"domain\":\"t\",\"owner\":{\"id\":\"t\"}},\"interfaceComponents\":{"
             "\"outputPorts\":[{\"name\":\"obs\",\"promises\":{\"api\":{\"schema\":{"
             "\"type\":\"record\",\"name\":\"R\",\"fields\":[%s]}}%s}}]}}",
             src_fields, port_extra);
    snprintf(dst, sizeof dst,
             "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
             "\"urn:dpds:t:dataproducts:dst:1\",\"name\":\"dst\",\"version\":\"%s\","
             "\"domain\":\"t\",\"owner\":{\"id\":\"t\"}},\"interfaceComponents\":{"
             "\"inputPorts\":[{\"name\":\"obs\",\"from\":"
             "\"urn:dpds:t:dataproducts:src:1:outputports:obs\",\"promises\":{\"api\":{"
             "\"schema\":{\"type\":\"record\",\"name\":\"R\",\"fields\":[%s]}}}}]}}",
             dst_version, dst_fields);
    apply_json(reg, src);
    apply_json(reg, dst);
}

static int acks;
static void on_ack(void *o, int code, const char *reason, int32_t p, int64_t off) {
    (void)o, (void)reason, (void)p, (void)off;
    assert_int_equal(code, 0);
    acks++;
}

static void routes_and_counts(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_kafka_cluster_t *cl = pb_kafka_cluster_new(1, &err);
    assert_non_null(cl);
    pb_config_t *cfg = pb_config_new();
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cl), cl, &err);
    assert_non_null(k);
    pb_registry_t *reg = pb_registry_new();
    pb_metrics_t *m = pb_metrics_new();
    apply_src_dst(reg, "{\"name\":\"a\",\"type\":\"int\"}", ",\"slo\":{\"freshness\":\"5m\"}",
                  "1.2.0",
                  "{\"name\":\"a\",\"type\":\"long\"},{\"name\":\"b\",\"type\":\"string\","
                  "\"default\":\"x\"}");
    assert_int_equal(pb_kafka_ensure_topic(k, "t.src.v1.obs", 2, 10000, NULL, &err), 0);
    const pb_registry_binding_t *b = pb_registry_binding_at(reg, 0);
    assert_non_null(b);
    int writer_id = b->reader_id == 1 ? 2 : 1;               /* the output port's schema id */
    uint8_t good[] = {0, 0, 0, 0, (uint8_t)writer_id, 0x54}; /* a = 42 */
    uint8_t unknown[] = {0, 0, 0, 0x30, 0x39, 0x54};         /* schema id 12345 */
    pb_kafka_header_t h[] = {{"ce_time", "2026-11-21T10:00:00Z", 20}};
    acks = 0;
    for (int i = 0; i < 10; i++)
        assert_int_equal(pb_kafka_produce(k, "t.src.v1.obs", i % 2, "k", 1, good, sizeof good, h, 1,
                                          on_ack, NULL, &err),
                         0);
    assert_int_equal(pb_kafka_produce(k, "t.src.v1.obs", 0, "k", 1, unknown, sizeof unknown, h, 1,
                                      on_ack, NULL, &err),
                     0);
    assert_int_equal(
        pb_kafka_produce(k, "t.src.v1.obs", 1, "k", 1, "{}", 2, h, 1, on_ack, NULL, &err), 0);
    for (int64_t end = pb_loop_now_ms() + 10000; acks < 12 && pb_loop_now_ms() < end;) {
        struct pollfd p = {.fd = pb_kafka_wake_fd(k), .events = POLLIN};
        poll(&p, 1, 50);
        pb_kafka_serve(k);
    }
    assert_int_equal(acks, 12);

    pb_router_env_t env = {.kafka = k,
                           .metrics = m,
                           .registry_url = "http://r",
                           .inflight_max_bytes = cfg->router_inflight_kbytes * 1024};
    pb_routers_t *rs = pb_routers_new(&env, &err);
    assert_non_null(rs);
    pb_routers_reconcile(rs, reg);
    pb_routers_stats_t st = {0};
    for (int64_t end = pb_loop_now_ms() + 20000;
         st.routed + st.dlq < 12 && pb_loop_now_ms() < end;) {
        struct pollfd p = {.fd = pb_routers_wake_fd(rs), .events = POLLIN};
        poll(&p, 1, 50);
        pb_routers_serve(rs);
        pb_routers_stats(rs, &st);
    }
    assert_int_equal(st.routers, 1);
    assert_int_equal(st.routed, 10);
    assert_int_equal(st.dlq, 2);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.inflight, 0);
    pb_metrics_port_t *out = pb_metrics_port(m, "urn:dpds:t:dataproducts:src:1:outputports:obs", 0);
    pb_metrics_port_t *in = pb_metrics_port(m, "urn:dpds:t:dataproducts:dst:1:inputports:obs", 0);
    assert_int_equal(out->records[PB_METRICS_OUT][PB_METRICS_OK], 10);
    assert_int_equal(out->records[PB_METRICS_OUT][PB_METRICS_DLQ], 2);
    assert_int_equal(out->dlq[PB_METRICS_DLQ_UNKNOWN_SCHEMA], 1);
    assert_int_equal(out->dlq[PB_METRICS_DLQ_DECODE], 1);
    assert_int_equal(in->records[PB_METRICS_IN][PB_METRICS_OK], 10);
    assert_true(in->bytes[PB_METRICS_IN] >= 10 * 7); /* frame + a (long) + b ("x") */
    assert_true(in->last_record_ts > 1.79e9 && in->last_record_ts < 1.80e9); /* ce_time */
    assert_true(in->last_received_ts > in->last_record_ts - 1e9);
    assert_int_equal(in->e2e.count, 10);

    /* The binding goes: its router stops (leaving the group). */
    pb_buf_t rec = {0};
    assert_int_equal(
        pb_registry_record_product_delete(&rec, "del", "urn:dpds:t:dataproducts:dst:1", &err), 0);
    pb_registry_result_t res = {0};
    pb_registry_apply(reg, -1, (const char *)rec.data, rec.len, &res);
    pb_registry_result_reset(&res);
    pb_buf_free(&rec);
    pb_routers_reconcile(rs, reg);
    pb_routers_stats(rs, &st);
    assert_int_equal(st.routers, 0);
    pb_routers_destroy(rs);
    pb_routers_destroy(NULL);
    pb_metrics_destroy(m);
    pb_registry_destroy(reg);
    pb_kafka_destroy(k, 1000);
    pb_config_destroy(cfg);
    pb_kafka_cluster_destroy(cl);
}

/* A record that cannot be produced stops its partition; once nothing of it is in flight the
 * router decides again from the input topic's tail and routes on: every record lands once. */
static void recovers_from_failed_delivery(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_kafka_cluster_t *cl = pb_kafka_cluster_new(1, &err);
    assert_non_null(cl);
    pb_config_t *cfg = pb_config_new();
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cl), cl, &err);
    assert_non_null(k);
    pb_registry_t *reg = pb_registry_new();
    apply_src_dst(reg, "{\"name\":\"a\",\"type\":\"int\"}", "", "1.0.0",
                  "{\"name\":\"a\",\"type\":\"long\"}");
    assert_int_equal(pb_kafka_ensure_topic(k, "t.src.v1.obs", 2, 10000, NULL, &err), 0);
    assert_int_equal(pb_kafka_ensure_topic(k, "t.dst.v1.in.obs", 2, 10000, NULL, &err), 0);
    const pb_registry_binding_t *b = pb_registry_binding_at(reg, 0);
    int writer_id = b->reader_id == 1 ? 2 : 1;
    uint8_t good[] = {0, 0, 0, 0, (uint8_t)writer_id, 0x54};
    acks = 0;
    for (int i = 0; i < 20; i++)
        assert_int_equal(pb_kafka_produce(k, "t.src.v1.obs", i % 2, "k", 1, good, sizeof good, NULL,
                                          0, on_ack, NULL, &err),
                         0);
    for (int64_t end = pb_loop_now_ms() + 10000; acks < 20 && pb_loop_now_ms() < end;) {
        struct pollfd p = {.fd = pb_kafka_wake_fd(k), .events = POLLIN};
        poll(&p, 1, 50);
        pb_kafka_serve(k);
    }
    assert_int_equal(acks, 20);
    /* The router's first produce requests fail for good. */
    assert_int_equal(
        pb_kafka_cluster_fail_requests(cl, "Produce", 2, "TOPIC_AUTHORIZATION_FAILED", &err), 0);
    pb_router_env_t env = {.kafka = k,
                           .registry_url = "http://r",
                           .inflight_max_bytes = cfg->router_inflight_kbytes * 1024};
    pb_routers_t *rs = pb_routers_new(&env, &err);
    assert_non_null(rs);
    pb_routers_reconcile(rs, reg);
    pb_routers_stats_t st = {0};
    for (int64_t end = pb_loop_now_ms() + 30000; st.routed < 20 && pb_loop_now_ms() < end;) {
        struct pollfd p = {.fd = pb_routers_wake_fd(rs), .events = POLLIN};
        poll(&p, 1, 50);
        pb_routers_serve(rs);
        pb_routers_stats(rs, &st);
    }
    assert_true(st.failed >= 1);
    assert_int_equal(st.routed, 20);
    /* Nothing twice: the failed records never landed, the retried ones once. */
    int64_t lo, hi, total = 0;
    for (int32_t part = 0; part < 2; part++) {
        assert_int_equal(pb_kafka_watermarks(k, "t.dst.v1.in.obs", part, &lo, &hi, 5000, &err), 0);
        total += hi - lo;
    }
    assert_int_equal(total, 20);
    pb_routers_destroy(rs);
    pb_registry_destroy(reg);
    pb_kafka_destroy(k, 1000);
    pb_config_destroy(cfg);
    pb_kafka_cluster_destroy(cl);
}

/* ---- flow control by bytes (router.inflight.kbytes) ---- */

static void take_decision(void **state) {
    (void)state;
    /* Nothing held: at least one record passes, however large (never a deadlock). */
    assert_int_equal(pb_router_take(0, 1000, 5000, 256), 1);
    assert_false(pb_router_bytes_full(0, 1000));
    assert_false(pb_router_bytes_full(0, 0));
    /* What a record takes not known yet: one, to learn it. */
    assert_int_equal(pb_router_take(0, 1000, -1, 256), 1);
    /* Records that are only counted (no binding) take nothing. */
    assert_int_equal(pb_router_take(0, 1000, 0, 256), 256);
    /* As many as fit the room at the expected size, capped by most. */
    assert_int_equal(pb_router_take(0, 1000, 100, 256), 10);
    assert_int_equal(pb_router_take(300, 1000, 100, 256), 7);
    assert_int_equal(pb_router_take(0, INT64_C(1) << 40, 100, 256), 256);
    /* Below the bound but less room than a record: one more may pass it. */
    assert_int_equal(pb_router_take(950, 1000, 100, 256), 1);
    /* At or past the bound with something held: none until acknowledgements free room. */
    assert_int_equal(pb_router_take(1000, 1000, 100, 256), 0);
    assert_int_equal(pb_router_take(5000, 1000, 100, 256), 0);
    assert_true(pb_router_bytes_full(1000, 1000));
    /* The count bound said none already. */
    assert_int_equal(pb_router_take(0, 1000, 100, 0), 0);
}

/* Parking decisions, one case a row: what the reader knows of a partition -> park? */
static void park_decision(void **state) {
    (void)state;
    static const struct {
        const char *what;
        pb_router_park_view_t v;
        int park;
    } cases[] = {
        /* park_idle, idle, settled, busy, queued, pos, high */
        {"idle, caught up, nobody needs it", {60000, 60000, 1, 0, 0, 42, 42}, 1},
        {"idle longer", {60000, 3600000, 1, 0, 0, 0, 0}, 1},
        {"parking off (0)", {0, 3600000, 1, 0, 0, 42, 42}, 0},
        {"not idle long enough", {60000, 59999, 1, 0, 0, 42, 42}, 0},
        {"figures not current (just assigned, read again, revoking)",
         {60000, 60000, 0, 0, 0, 42, 42},
         0},
        {"a binding needs it (in flight, recovering, behind, rewind due)",
         {60000, 60000, 1, 1, 0, 42, 42},
         0},
        {"records wait in the reader's queue", {60000, 60000, 1, 0, 1, 42, 42}, 0},
        {"behind the high watermark", {60000, 60000, 1, 0, 0, 41, 42}, 0},
        {"high watermark unknown", {60000, 60000, 1, 0, 0, 42, -1}, 0},
        {"position unknown (nothing read yet from a logical start)",
         {60000, 60000, 1, 0, 0, -1, -1},
         0},
        {"a stale high below the position", {60000, 60000, 1, 0, 0, 43, 42}, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int got = pb_router_should_park(&cases[i].v);
        if (got != cases[i].park) fail_msg("park case %zu (%s): got %d", i, cases[i].what, got);
    }
    /* Read again when a look-up finds records past the reader's position; never on unknowns. */
    static const struct {
        int64_t pos, high;
        int unpark;
    } un[] = {
        {42, 43, 1}, {0, 1, 1}, {42, 42, 0}, {42, 41, 0}, {42, -1, 0}, {-1, 5, 0}, {-1, -1, 0},
    };
    for (size_t i = 0; i < sizeof un / sizeof *un; i++)
        if (pb_router_should_unpark(un[i].pos, un[i].high) != un[i].unpark)
            fail_msg("unpark case %zu: pos %lld high %lld", i, (long long)un[i].pos,
                     (long long)un[i].high);
    assert_string_equal(pb_router_unpark_name(PB_ROUTER_UNPARK_PUBLISH), "publish");
    assert_string_equal(pb_router_unpark_name(PB_ROUTER_UNPARK_SWEEP), "sweep");
    assert_string_equal(pb_router_unpark_name(PB_ROUTER_UNPARK_BINDING), "binding");
}

#define BIG_RECORDS 40
#define BIG_VALUE 20000

/* small records of 100 bytes, then BIG_RECORDS of ~BIG_VALUE bytes, routed by one binding with
 * router.inflight.kbytes as bound (bytes; 0: the config's default): every record lands once;
 * returns the most bytes in flight. */
static int64_t route_big(int64_t bound, int small, uint64_t *rewinds) {
    pb_err_t err = {0};
    pb_kafka_cluster_t *cl = pb_kafka_cluster_new(1, &err);
    assert_non_null(cl);
    pb_config_t *cfg = pb_config_new();
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cl), cl, &err);
    assert_non_null(k);
    pb_registry_t *reg = pb_registry_new();
    apply_src_dst(reg, "{\"name\":\"a\",\"type\":\"string\"}", "", "1.0.0",
                  "{\"name\":\"a\",\"type\":\"string\"}");
    assert_int_equal(pb_kafka_ensure_topic(k, "t.src.v1.obs", 2, 10000, NULL, &err), 0);
    assert_int_equal(pb_kafka_ensure_topic(k, "t.dst.v1.in.obs", 2, 10000, NULL, &err), 0);
    const pb_registry_binding_t *b = pb_registry_binding_at(reg, 0);
    int writer_id = b->reader_id; /* one schema, one id */
    /* Confluent frame, then the string: zigzag varint length 2 * BIG_VALUE, BIG_VALUE bytes. */
    static uint8_t v[5 + 3 + BIG_VALUE];
    const int all = small + BIG_RECORDS;
    acks = 0;
    for (int i = 0; i < all; i++) {
        size_t n = 0, len = i < small ? 100 : BIG_VALUE;
        v[n++] = 0, v[n++] = 0, v[n++] = 0, v[n++] = 0, v[n++] = (uint8_t)writer_id;
        for (uint64_t z = 2 * len; z; z >>= 7)
            v[n++] = (uint8_t)((z & 0x7f) | (z > 0x7f ? 0x80 : 0));
        memset(v + n, 'x', len);
        n += len;
        assert_int_equal(
            pb_kafka_produce(k, "t.src.v1.obs", i % 2, "k", 1, v, n, NULL, 0, on_ack, NULL, &err),
            0);
    }
    for (int64_t end = pb_loop_now_ms() + 10000; acks < all && pb_loop_now_ms() < end;) {
        struct pollfd p = {.fd = pb_kafka_wake_fd(k), .events = POLLIN};
        poll(&p, 1, 50);
        pb_kafka_serve(k);
    }
    assert_int_equal(acks, all);
    pb_router_env_t env = {.kafka = k,
                           .registry_url = "http://r",
                           .inflight_max_bytes =
                               bound ? bound : cfg->router_inflight_kbytes * 1024};
    pb_routers_t *rs = pb_routers_new(&env, &err);
    assert_non_null(rs);
    pb_routers_reconcile(rs, reg);
    pb_routers_stats_t st = {0};
    for (int64_t end = pb_loop_now_ms() + 30000;
         st.routed < (uint64_t)all && pb_loop_now_ms() < end;) {
        struct pollfd p = {.fd = pb_routers_wake_fd(rs), .events = POLLIN};
        poll(&p, 1, 50);
        pb_routers_serve(rs);
        pb_routers_stats(rs, &st);
    }
    assert_int_equal(st.routed, all);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.inflight, 0);
    assert_int_equal(st.inflight_bytes, 0); /* counted down exactly as it was counted up */
    assert_int_equal(st.inflight_max_bytes, bound ? bound : INT64_C(64) << 20); /* 65536 KiB */
    int64_t lo, hi, total = 0;
    for (int32_t part = 0; part < 2; part++) {
        assert_int_equal(pb_kafka_watermarks(k, "t.dst.v1.in.obs", part, &lo, &hi, 5000, &err), 0);
        total += hi - lo;
    }
    assert_int_equal(total, all); /* once each */
    *rewinds = st.rewinds;
    pb_routers_destroy(rs);
    pb_registry_destroy(reg);
    pb_kafka_destroy(k, 1000);
    pb_config_destroy(cfg);
    pb_kafka_cluster_destroy(cl);
    return st.inflight_bytes_peak;
}

/* With a bound of 2.5 records, never more than the bound plus one record (its value, key and the
 * routed copy's headers: under 2 KiB of them) is in flight; with a bound below one record, one
 * at a time; without it, many more. After 200 small
 * records the routers expect small ones and take many at once: the large ones among them past the
 * bound are read again (rewinds), the bound still holds and every record lands once. */
static void bytes_in_flight_bounded(void **state) {
    (void)state;
    const int64_t bound = BIG_VALUE * 5 / 2, one = BIG_VALUE + 2048;
    uint64_t rewinds = 0;
    int64_t peak = route_big(bound, 0, &rewinds);
    print_message("bound %lld: peak %lld bytes in flight, %llu rewinds\n", (long long)bound,
                  (long long)peak, (unsigned long long)rewinds);
    assert_true(peak > BIG_VALUE);
    assert_true(peak <= bound + one);
    peak = route_big(bound, 200, &rewinds);
    print_message("bound %lld after small records: peak %lld bytes in flight, %llu rewinds\n",
                  (long long)bound, (long long)peak, (unsigned long long)rewinds);
    assert_true(peak <= bound + one);
    assert_true(rewinds >= 1);
    /* A bound smaller than one record: each passes alone, none waits for ever. */
    peak = route_big(BIG_VALUE / 2, 0, &rewinds);
    print_message("bound %d: peak %lld bytes in flight\n", BIG_VALUE / 2, (long long)peak);
    assert_true(peak > BIG_VALUE && peak <= one);
    peak = route_big(0, 0, &rewinds);
    print_message("default bound: peak %lld bytes in flight\n", (long long)peak);
    assert_true(peak > bound + one); /* the check above can fail */
}

/* A produce the cluster refuses for the records themselves (MSG_SIZE_TOO_LARGE): never stuck. The
 * first refused record of a partition goes to the dead-letter topic, the others are routed on the
 * retry, and nothing lands twice. */
static void refused_record_dead_lettered(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_kafka_cluster_t *cl = pb_kafka_cluster_new(1, &err);
    assert_non_null(cl);
    pb_config_t *cfg = pb_config_new();
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cl), cl, &err);
    assert_non_null(k);
    pb_registry_t *reg = pb_registry_new();
    apply_src_dst(reg, "{\"name\":\"a\",\"type\":\"int\"}", "", "1.0.0",
                  "{\"name\":\"a\",\"type\":\"long\"}");
    assert_int_equal(pb_kafka_ensure_topic(k, "t.src.v1.obs", 2, 10000, NULL, &err), 0);
    assert_int_equal(pb_kafka_ensure_topic(k, "t.dst.v1.in.obs", 2, 10000, NULL, &err), 0);
    const pb_registry_binding_t *b = pb_registry_binding_at(reg, 0);
    int writer_id = b->reader_id == 1 ? 2 : 1;
    uint8_t good[] = {0, 0, 0, 0, (uint8_t)writer_id, 0x54};
    acks = 0;
    for (int i = 0; i < 20; i++)
        assert_int_equal(pb_kafka_produce(k, "t.src.v1.obs", i % 2, "k", 1, good, sizeof good, NULL,
                                          0, on_ack, NULL, &err),
                         0);
    for (int64_t end = pb_loop_now_ms() + 10000; acks < 20 && pb_loop_now_ms() < end;) {
        struct pollfd p = {.fd = pb_kafka_wake_fd(k), .events = POLLIN};
        poll(&p, 1, 50);
        pb_kafka_serve(k);
    }
    assert_int_equal(acks, 20);
    /* The router's first produce request is refused for its size. */
    assert_int_equal(pb_kafka_cluster_fail_requests(cl, "Produce", 1, "MSG_SIZE_TOO_LARGE", &err),
                     0);
    pb_router_env_t env = {.kafka = k,
                           .registry_url = "http://r",
                           .inflight_max_bytes = cfg->router_inflight_kbytes * 1024};
    pb_routers_t *rs = pb_routers_new(&env, &err);
    assert_non_null(rs);
    pb_routers_reconcile(rs, reg);
    pb_routers_stats_t st = {0};
    for (int64_t end = pb_loop_now_ms() + 30000;
         st.routed + st.dlq < 20 && pb_loop_now_ms() < end;) {
        struct pollfd p = {.fd = pb_routers_wake_fd(rs), .events = POLLIN};
        poll(&p, 1, 50);
        pb_routers_serve(rs);
        pb_routers_stats(rs, &st);
    }
    assert_true(st.failed >= 1);
    assert_true(st.dlq >= 1);
    assert_int_equal(st.routed + st.dlq, 20);
    int64_t lo, hi, total = 0, dead = 0;
    for (int32_t part = 0; part < 2; part++) {
        assert_int_equal(pb_kafka_watermarks(k, "t.dst.v1.in.obs", part, &lo, &hi, 5000, &err), 0);
        total += hi - lo;
        assert_int_equal(pb_kafka_watermarks(k, "t.src.v1.obs.dlq", part, &lo, &hi, 5000, &err), 0);
        dead += hi - lo;
    }
    assert_int_equal(total, (int64_t)st.routed);
    assert_int_equal(dead, (int64_t)st.dlq);
    pb_routers_destroy(rs);
    pb_registry_destroy(reg);
    pb_kafka_destroy(k, 1000);
    pb_config_destroy(cfg);
    pb_kafka_cluster_destroy(cl);
}

/* The byte bound has one default, config.c's (router.inflight.kbytes): the routers take none. */
static void bound_required(void **state) {
    (void)state;
    static const int64_t bad[] = {0, -1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pb_err_t err = {0};
        pb_router_env_t env = {.registry_url = "http://r", .inflight_max_bytes = bad[i]};
        assert_null(pb_routers_new(&env, &err));
        assert_int_equal(err.code, PB_ERR_INVALID);
        assert_non_null(strstr(err.msg, "router.inflight.kbytes"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resume_decision),
        cmocka_unit_test(routed_headers),
        cmocka_unit_test(kept_headers),
        cmocka_unit_test(dlq_headers),
        cmocka_unit_test(routes_and_counts),
        cmocka_unit_test(recovers_from_failed_delivery),
        cmocka_unit_test(take_decision),
        cmocka_unit_test(park_decision),
        cmocka_unit_test(bound_required),
        cmocka_unit_test(bytes_in_flight_bounded),
        cmocka_unit_test(refused_record_dead_lettered),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
