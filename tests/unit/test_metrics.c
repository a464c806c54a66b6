/* Unit tests for metrics.c: the exact exposition lines of a port with counts, cumulative histogram
 * buckets ending in +Inf, label escaping, the series every declared port has with no traffic,
 * SLO gauges only where the descriptor states the SLO, freshness evaluation, the freshness SLO as
 * an e2e bucket bound, lag series, metrics.enabled = false, the Kafka client series that need no
 * librdkafka statistics (reachability, produce queues); the whole text of metrics_fixture.h byte
 * for byte as the printf-based renderer wrote it (tests/data/metrics/golden.prom), whole and in
 * slices of any size with the products freed after the scrape began; the number formatters
 * against printf on edge cases and on random values; the routers' hold point in its help. */
#include <float.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_fixture.h"

#define OUT_URN "urn:dpds:com.acme:dataproducts:trips:1:outputports:events"
#define IN_URN "urn:dpds:com.acme:dataproducts:trips:1:inputports:weather"

/* A product with output port "events" (slo per `slo`, JSON or NULL) and input port "weather"
 * (no SLO), owner given (to test escaping). */
static pb_product_t *product(const char *slo, const char *owner) {
    char text[4096];
    snprintf(text, sizeof text,
             "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
             "\"urn:dpds:com.acme:dataproducts:trips:1\",\"name\":\"trips\",\"version\":\"1.0.0\","
             "\"domain\":\"d\",\"owner\":{\"id\":%s}},\"interfaceComponents\":{\"outputPorts\":"
             "[{\"name\":\"events\",\"promises\":{\"api\":{\"schema\":\"string\"}%s%s}}],"
             "\"inputPorts\":[{\"name\":\"weather\",\"promises\":{\"api\":{\"schema\":"
             "\"string\"}}}]}}",
             owner, slo ? ",\"slo\":" : "", slo ? slo : "");
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) fail_msg("bad test JSON: %s", je.text);
    pb_product_t *p = NULL;
    pb_err_t err = {0};
    int rc = pb_descriptor_parse(j, NULL, "test", "com.acme", 2, &p, &err);
    json_decref(j);
    if (rc) fail_msg("descriptor: %s", err.msg);
    return p;
}

static char *render(pb_metrics_t *m, const pb_product_t *p) {
    pb_buf_t b = {0};
    const pb_product_t *ps[] = {p};
    assert_int_equal(pb_metrics_render(m, ps, p ? 1 : 0, "1.2.3", &b), 0);
    assert_int_equal(pb_buf_putc(&b, 0), 0);
    return (char *)b.data;
}

static void has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *s = text; (s = strstr(s, line)); s++)
        if ((s == text || s[-1] == '\n') && s[n] == '\n') return;
    fail_msg("missing line:\n%s\nin:\n%s", line, text);
}

static void no_text(const char *text, const char *what) {
    if (strstr(text, what)) fail_msg("unexpected '%s' in:\n%s", what, text);
}

#define L "product=\"trips\",major=\"1\",port=\"events\",kind=\"output\""
#define LI "product=\"trips\",major=\"1\",port=\"weather\",kind=\"input\""

static void counts_exact(void **state) {
    (void)state;
    pb_product_t *p = product("{\"freshness\":\"90s\",\"throughput.min\":\"600/m\","
                              "\"rejects.max\":\"0.1%\"}",
                              "\"team\"");
    pb_metrics_t *m = pb_metrics_new();
    pb_metrics_port_t *mp = pb_metrics_port(m, OUT_URN, 90);
    assert_non_null(mp);
    pb_metrics_count(mp, PB_METRICS_IN, PB_METRICS_OK, 7, 700);
    pb_metrics_count(mp, PB_METRICS_IN, PB_METRICS_REJECTED, 2, 20);
    pb_metrics_count(mp, PB_METRICS_OUT, PB_METRICS_DLQ, 1, 10);
    pb_metrics_dlq(mp, PB_METRICS_DLQ_PROJECTION);
    pb_metrics_seen(mp, 1700000000.25, 1700000001.5);
    char *t = render(m, p);
    has_line(t, "# TYPE portbroker_port_records_total counter");
    has_line(t, "portbroker_port_records_total{" L ",direction=\"in\",outcome=\"ok\"} 7");
    has_line(t, "portbroker_port_records_total{" L ",direction=\"in\",outcome=\"rejected\"} 2");
    has_line(t, "portbroker_port_records_total{" L ",direction=\"in\",outcome=\"failed\"} 0");
    has_line(t, "portbroker_port_records_total{" L ",direction=\"out\",outcome=\"ok\"} 0");
    has_line(t, "portbroker_port_records_total{" L ",direction=\"out\",outcome=\"dlq\"} 1");
    no_text(t, "kind=\"output\",direction=\"in\",outcome=\"dlq\"");
    no_text(t, "kind=\"output\",direction=\"out\",outcome=\"rejected\"");
    has_line(t, "portbroker_port_bytes_total{" L ",direction=\"in\"} 720");
    has_line(t, "portbroker_port_bytes_total{" L ",direction=\"out\"} 10");
    has_line(t, "portbroker_dlq_records_total{" L ",reason=\"projection\"} 1");
    has_line(t, "portbroker_dlq_records_total{" L ",reason=\"decode\"} 0");
    has_line(t, "portbroker_dlq_records_total{" L ",reason=\"unknown_schema\"} 0");
    has_line(t, "portbroker_port_last_record_timestamp_seconds{" L "} 1700000000.25");
    has_line(t, "portbroker_port_last_received_timestamp_seconds{" L "} 1700000001.5");
    has_line(t, "portbroker_port_freshness_slo_seconds{" L "} 90");
    has_line(t, "portbroker_port_throughput_min_records_per_second{" L "} 10");
    has_line(t, "portbroker_port_rejects_max_ratio{" L "} 0.001");
    has_line(t, "portbroker_port_fresh{" L "} 0");
    has_line(t, "portbroker_build_info{version=\"1.2.3\"} 1");
    has_line(t, "# TYPE portbroker_build_info gauge");
    has_line(t, "portbroker_schema_checks_total{result=\"compatible\",level=\"BACKWARD\"} 0");
    free(t);
    pb_metrics_destroy(m);
    pb_product_destroy(p);
}

static void idle_ports_and_no_slo(void **state) {
    (void)state;
    pb_product_t *p = product(NULL, "\"team\"");
    pb_metrics_t *m = pb_metrics_new();
    char *t = render(m, p); /* nothing counted, no series created yet */
    has_line(t, "portbroker_port_records_total{" L ",direction=\"in\",outcome=\"ok\"} 0");
    has_line(t, "portbroker_port_records_total{" LI ",direction=\"in\",outcome=\"ok\"} 0");
    has_line(t, "portbroker_port_records_total{" LI ",direction=\"out\",outcome=\"ok\"} 0");
    no_text(t, LI ",direction=\"in\",outcome=\"rejected\"");
    no_text(t, LI ",reason=");
    has_line(t, "portbroker_port_last_record_timestamp_seconds{" LI "} 0");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" LI ",le=\"+Inf\"} 0");
    /* no SLO: no SLO gauges and no fresh, but the families are still announced */
    has_line(t, "# TYPE portbroker_port_fresh gauge");
    no_text(t, "portbroker_port_fresh{");
    no_text(t, "portbroker_port_freshness_slo_seconds{");
    no_text(t, "portbroker_port_throughput_min_records_per_second{");
    no_text(t, "portbroker_port_rejects_max_ratio{");
    has_line(t, "portbroker_port_info{" L ",fqn=\"" OUT_URN "\",topic=\"com.acme.trips.v1.events\","
                "dlq_topic=\"com.acme.trips.v1.events.dlq\",subject=\"com.acme.trips.v1.events-"
                "value\",version=\"1.0.0\",partitions=\"2\",compatibility=\"BACKWARD\",from=\"\","
                "owner=\"team\",domain=\"d\"} 1");
    free(t);
    /* no products: only the process-wide series */
    t = render(m, NULL);
    no_text(t, "portbroker_port_info{");
    has_line(t, "portbroker_produce_duration_seconds_count 0");
    free(t);
    pb_metrics_destroy(m);
    pb_product_destroy(p);
}

static void histogram_cumulative(void **state) {
    (void)state;
    pb_product_t *p = product("{\"freshness\":\"7s\"}", "\"team\"");
    pb_metrics_t *m = pb_metrics_new();
    pb_metrics_port_t *mp = pb_metrics_port(m, OUT_URN, 7);
    pb_metrics_hist_observe(&mp->e2e, 0.003);  /* le 0.005 */
    pb_metrics_hist_observe(&mp->e2e, 0.005);  /* le 0.005 (bounds are inclusive) */
    pb_metrics_hist_observe(&mp->e2e, 6.5);    /* le 7: the SLO became a bound */
    pb_metrics_hist_observe(&mp->e2e, 7200.0); /* above every bound */
    pb_metrics_produce_duration(m, 0.002);
    char *t = render(m, p);
    has_line(t, "# TYPE portbroker_port_e2e_latency_seconds histogram");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"0.0025\"} 0");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"0.005\"} 2");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"5\"} 2");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"7\"} 3");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"10\"} 3");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"3600\"} 3");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"+Inf\"} 4");
    has_line(t, "portbroker_port_e2e_latency_seconds_sum{" L "} 7206.508");
    has_line(t, "portbroker_port_e2e_latency_seconds_count{" L "} 4");
    has_line(t, "portbroker_produce_duration_seconds_bucket{le=\"0.001\"} 0");
    has_line(t, "portbroker_produce_duration_seconds_bucket{le=\"0.0025\"} 1");
    has_line(t, "portbroker_produce_duration_seconds_bucket{le=\"+Inf\"} 1");
    has_line(t, "portbroker_produce_duration_seconds_sum 0.002");
    free(t);
    /* A changed SLO adds its bound; earlier observations stay in the next bound up. */
    assert_ptr_equal(pb_metrics_port(m, OUT_URN, 8), mp);
    t = render(m, p);
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"7\"} 3");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"8\"} 3");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"10\"} 3");
    free(t);
    pb_metrics_hist_observe(&mp->e2e, 7.5);
    t = render(m, p);
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"7\"} 3");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"8\"} 4");
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"+Inf\"} 5");
    free(t);
    /* pb_metrics_e2e: an event time in the future counts as 0 s; the sum does not fall */
    pb_metrics_e2e(mp, -30.0);
    pb_metrics_e2e(NULL, 1.0);
    t = render(m, p);
    has_line(t, "portbroker_port_e2e_latency_seconds_bucket{" L ",le=\"0.001\"} 1");
    has_line(t, "portbroker_port_e2e_latency_seconds_sum{" L "} 7214.008");
    has_line(t, "portbroker_port_e2e_latency_seconds_count{" L "} 6");
    free(t);
    pb_metrics_destroy(m);
    pb_product_destroy(p);
}

static void escaping(void **state) {
    (void)state;
    pb_product_t *p = product(NULL, "\"a\\\"b\\\\c\\nd\"");
    pb_metrics_t *m = pb_metrics_new();
    pb_metrics_lag_t *lag = pb_metrics_lag(m, IN_URN, "grp\"x\\y");
    lag->known = 1;
    lag->records = 12;
    lag->seconds = 3.5;
    pb_metrics_lag(m, IN_URN, "never-measured");
    pb_metrics_lag(m, "urn:dpds:com.acme:dataproducts:gone:1:inputports:x", "g")->known = 1;
    char *t = render(m, p);
    if (!strstr(t, ",owner=\"a\\\"b\\\\c\\nd\",")) fail_msg("owner not escaped:\n%s", t);
    has_line(t, "portbroker_subscription_lag_records{" LI ",subscriber=\"grp\\\"x\\\\y\"} 12");
    has_line(t, "portbroker_subscription_lag_seconds{" LI ",subscriber=\"grp\\\"x\\\\y\"} 3.5");
    no_text(t, "never-measured");
    no_text(t, "subscriber=\"g\"");
    free(t);
    pb_metrics_destroy(m);
    pb_product_destroy(p);
}

static void freshness_tick(void **state) {
    (void)state;
    pb_product_t *p = product("{\"freshness\":\"1m\"}", "\"team\"");
    const pb_product_t *ps[] = {p};
    pb_metrics_t *m = pb_metrics_new();
    pb_metrics_tick(m, ps, 1, 1000.0); /* creates both ports' series */
    pb_metrics_port_t *out = pb_metrics_port(m, OUT_URN, 0);
    pb_metrics_port_t *in = pb_metrics_port(m, IN_URN, 0);
    assert_int_equal(out->fresh, 0); /* never had a record: stale */
    pb_metrics_seen(out, 950.0, 999.0);
    pb_metrics_seen(in, 950.0, 999.0);
    pb_metrics_tick(m, ps, 1, 1000.0);
    assert_int_equal(out->fresh, 1);
    assert_int_equal(in->fresh, 0); /* no freshness SLO: never "fresh" */
    pb_metrics_tick(m, ps, 1, 1010.0);
    assert_int_equal(out->fresh, 1); /* exactly the SLO old */
    pb_metrics_tick(m, ps, 1, 1010.5);
    assert_int_equal(out->fresh, 0);
    pb_metrics_seen(out, 900.0, 1011.0); /* an older event time does not go back */
    assert_true(out->last_record_ts == 950.0);
    assert_true(out->last_received_ts == 1011.0);
    char *t = render(m, p);
    has_line(t, "portbroker_port_fresh{" L "} 0");
    has_line(t, "portbroker_port_last_record_timestamp_seconds{" L "} 950");
    no_text(t, "portbroker_port_fresh{" LI);
    free(t);
    pb_metrics_destroy(m);
    pb_product_destroy(p);
}

static void disabled(void **state) {
    (void)state;
    pb_metrics_t *m = pb_metrics_new();
    assert_true(pb_metrics_enabled(m));
    pb_metrics_set_enabled(m, 0);
    assert_false(pb_metrics_enabled(m));
    assert_null(pb_metrics_port(m, OUT_URN, 0));
    /* the update functions take the NULL */
    pb_metrics_count(NULL, PB_METRICS_IN, PB_METRICS_OK, 1, 1);
    pb_metrics_seen(NULL, 1, 1);
    pb_metrics_dlq(NULL, PB_METRICS_DLQ_DECODE);
    pb_metrics_produce_duration(m, 1);
    pb_metrics_schema_check(m, 1, "BACKWARD");
    pb_metrics_set_enabled(m, 1);
    char *t = render(m, NULL);
    has_line(t, "portbroker_produce_duration_seconds_count 0");
    has_line(t, "portbroker_schema_checks_total{result=\"compatible\",level=\"BACKWARD\"} 0");
    free(t);
    pb_metrics_schema_check(m, 0, "FULL_TRANSITIVE");
    pb_metrics_schema_check(m, 1, "NOT_A_LEVEL"); /* ignored */
    t = render(m, NULL);
    has_line(t,
             "portbroker_schema_checks_total{result=\"incompatible\",level=\"FULL_TRANSITIVE\"} 1");
    free(t);
    pb_metrics_destroy(m);
}

/* Two products with the same name and major in different namespaces: the product label gets the
 * namespace so their series stay apart; a lone name stays short. */
static void product_label_collision(void **state) {
    (void)state;
    pb_product_t *a = product(NULL, "\"team\"");
    char text[2048];
    snprintf(text, sizeof text,
             "{\"dataProductDescriptor\":\"1.0.0\",\"info\":{\"fullyQualifiedName\":"
             "\"urn:dpds:org.other:dataproducts:trips:1\",\"name\":\"trips\",\"version\":"
             "\"1.0.0\",\"domain\":\"d\",\"owner\":{\"id\":\"o\"}},\"interfaceComponents\":{"
             "\"outputPorts\":[{\"name\":\"events\",\"x-portbroker\":{\"topic\":\"other.events\"},"
             "\"promises\":{\"api\":{\"schema\":\"string\"}}}]}}");
    json_t *j = json_loads(text, 0, NULL);
    pb_product_t *b = NULL;
    pb_err_t err = {0};
    if (!j || pb_descriptor_parse(j, NULL, "test", "com.acme", 1, &b, &err))
        fail_msg("descriptor: %s", err.msg);
    json_decref(j);
    pb_metrics_t *m = pb_metrics_new();
    const pb_product_t *ps[] = {a, b};
    pb_buf_t out = {0};
    assert_int_equal(pb_metrics_render(m, ps, 2, "v", &out), 0);
    pb_buf_putc(&out, 0);
    const char *t = (const char *)out.data;
    has_line(t,
             "portbroker_port_records_total{product=\"com.acme.trips\",major=\"1\",port=\"events\","
             "kind=\"output\",direction=\"in\",outcome=\"ok\"} 0");
    has_line(
        t, "portbroker_port_records_total{product=\"org.other.trips\",major=\"1\",port=\"events\","
           "kind=\"output\",direction=\"in\",outcome=\"ok\"} 0");
    pb_buf_free(&out);
    pb_metrics_destroy(m);
    pb_product_destroy(a);
    pb_product_destroy(b);
}

/* Many ports: the index finds each one again (hash growth), and pointers stay stable. */
static void many_ports(void **state) {
    (void)state;
    pb_metrics_t *m = pb_metrics_new();
    pb_metrics_port_t *ptrs[500];
    char fqn[128];
    for (int i = 0; i < 500; i++) {
        snprintf(fqn, sizeof fqn, "urn:dpds:x:dataproducts:p%d:1:outputports:o", i);
        ptrs[i] = pb_metrics_port(m, fqn, i % 7 ? 0 : 42);
        assert_non_null(ptrs[i]);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(fqn, sizeof fqn, "urn:dpds:x:dataproducts:p%d:1:outputports:o", i);
        assert_ptr_equal(pb_metrics_port(m, fqn, 0), ptrs[i]);
        assert_string_equal(ptrs[i]->fqn, fqn);
    }
    pb_metrics_destroy(m);
    pb_metrics_destroy(NULL);
}

/* The Kafka series without statistics: reachability, and the queue series of the producers there
 * (the reader never has them), exactly; nothing of Kafka with no Kafka. */
static void kafka_clients(void **state) {
    (void)state;
    pb_kstats_queue_t q[PB_KSTATS_ROLES] = {0};
    q[PB_KSTATS_PUBLISH] = (pb_kstats_queue_t){1, 3, 300, 100000, 1073741824};
    pb_buf_t b = {0};
    assert_int_equal(pb_metrics_render_kafka_clients(0, q, &b), 0);
    pb_buf_putc(&b, 0);
    const char *t = (const char *)b.data;
    has_line(t, "# TYPE portbroker_kafka_reachable gauge");
    has_line(t, "portbroker_kafka_reachable 0");
    has_line(t, "portbroker_kafka_produce_queue_messages{client=\"publish\"} 3");
    has_line(t, "portbroker_kafka_produce_queue_bytes{client=\"publish\"} 300");
    has_line(t, "portbroker_kafka_produce_queue_max_messages{client=\"publish\"} 100000");
    has_line(t, "portbroker_kafka_produce_queue_max_bytes{client=\"publish\"} 1073741824");
    assert_null(strstr(t, "client=\"relay\""));
    assert_null(strstr(t, "client=\"reader\""));
    pb_buf_free(&b);
    /* the routing producer exists; a transient negative byte count (a report served before the
     * count went up on another thread) shows as 0; an unknown maximum (-1) is left out */
    q[PB_KSTATS_RELAY] = (pb_kstats_queue_t){1, 0, -5, 1000000, -1};
    assert_int_equal(pb_metrics_render_kafka_clients(1, q, &b), 0);
    pb_buf_putc(&b, 0);
    t = (const char *)b.data;
    has_line(t, "portbroker_kafka_reachable 1");
    has_line(t, "portbroker_kafka_produce_queue_bytes{client=\"relay\"} 0");
    has_line(t, "portbroker_kafka_produce_queue_max_messages{client=\"relay\"} 1000000");
    assert_null(strstr(t, "portbroker_kafka_produce_queue_max_bytes{client=\"relay\"}"));
    pb_buf_free(&b);
    memset(q, 0, sizeof q);
    assert_int_equal(pb_metrics_render_kafka_clients(-1, q, &b), 0);
    assert_int_equal(b.len, 0);
    pb_buf_free(&b);
}

/* The parking series (router.park.idle.ms): two gauges and a counter per reason, exactly. */
static void router_parked(void **state) {
    (void)state;
    static const char *const reasons[] = {"publish", "sweep", "binding"};
    const uint64_t unparks[] = {4, 2, 0};
    pb_buf_t b = {0};
    assert_int_equal(pb_metrics_render_router_parked(1000, 998, unparks, reasons, 3, &b), 0);
    pb_buf_putc(&b, 0);
    const char *t = (const char *)b.data;
    has_line(t, "# TYPE portbroker_router_read_partitions gauge");
    has_line(t, "portbroker_router_read_partitions 1000");
    has_line(t, "# TYPE portbroker_router_parked_partitions gauge");
    has_line(t, "portbroker_router_parked_partitions 998");
    has_line(t, "# TYPE portbroker_router_unparks_total counter");
    has_line(t, "portbroker_router_unparks_total{reason=\"publish\"} 4");
    has_line(t, "portbroker_router_unparks_total{reason=\"sweep\"} 2");
    has_line(t, "portbroker_router_unparks_total{reason=\"binding\"} 0");
    pb_buf_free(&b);
}

/* ---- the same text as the printf-based renderer ---- */

static char *read_golden(size_t *len) {
    const char *root = getenv("PB_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/metrics/golden.prom", root && *root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s (run from the repository root or set PB_ROOT)", path);
    char *t = malloc(1 << 20);
    assert_non_null(t);
    *len = fread(t, 1, (1 << 20) - 1, f);
    t[*len] = 0;
    fclose(f);
    return t;
}

static void same_text(const char *want, size_t wl, const pb_buf_t *got) {
    if (got->len == wl && !memcmp(want, got->data, wl)) return;
    size_t i = 0;
    while (i < wl && i < got->len && want[i] == (char)got->data[i])
        i++;
    size_t from = i > 80 ? i - 80 : 0;
    fail_msg("text differs at byte %zu (lengths %zu, %zu):\nwant ...%.160s\ngot  ...%.160s", i, wl,
             got->len, want + from, (const char *)got->data + from);
}

static void golden_whole(void **state) {
    (void)state;
    size_t wl = 0;
    char *want = read_golden(&wl);
    pb_metrics_t *m = pb_metrics_new();
    pb_product_t *ps[FIXTURE_PRODUCTS];
    fixture_build(m, ps);
    pb_buf_t b = {0};
    assert_int_equal(
        pb_metrics_render(m, (const pb_product_t *const *)ps, FIXTURE_PRODUCTS, "1.2.3", &b), 0);
    same_text(want, wl, &b);
    pb_buf_free(&b);
    for (int i = 0; i < FIXTURE_PRODUCTS; i++)
        pb_product_destroy(ps[i]);
    pb_metrics_destroy(m);
    free(want);
}

/* Slices of every size add up to the same text; the products may go once the scrape began (the
 * registry frees them on DELETE between two slices: ASan would see a use after free); a budget of
 * 1 byte still renders a line per slice. */
static void golden_sliced(void **state) {
    (void)state;
    size_t wl = 0;
    char *want = read_golden(&wl);
    static const size_t budgets[] = {0, 1, 7, 100, 333, 4096, 65536, SIZE_MAX};
    for (size_t k = 0; k < sizeof budgets / sizeof *budgets; k++) {
        pb_metrics_t *m = pb_metrics_new();
        pb_product_t *ps[FIXTURE_PRODUCTS];
        fixture_build(m, ps);
        pb_metrics_scrape_t *s = NULL;
        assert_int_equal(pb_metrics_scrape_begin(m, (const pb_product_t *const *)ps,
                                                 FIXTURE_PRODUCTS, "1.2.3", &s),
                         0);
        for (int i = 0; i < FIXTURE_PRODUCTS; i++)
            pb_product_destroy(ps[i]);
        pb_buf_t b = {0};
        int done = 0;
        size_t steps = 0;
        while (!done) {
            size_t before = b.len;
            assert_int_equal(pb_metrics_scrape_step(s, budgets[k], &b, &done), 0);
            assert_true(b.len > before || done);                           /* progress every step */
            if (b.len > before) assert_int_equal(b.data[b.len - 1], '\n'); /* whole lines */
            if (++steps > 100000) fail_msg("no end with budget %zu", budgets[k]);
        }
        size_t end = b.len;
        assert_int_equal(pb_metrics_scrape_step(s, budgets[k], &b, &done), 0);
        assert_int_equal(b.len, end); /* done: nothing more */
        if (budgets[k] == SIZE_MAX) assert_int_equal(steps, 1);
        if (budgets[k] <= 1) assert_true(steps > 50); /* one port (or lag) of a family a step */
        same_text(want, wl, &b);
        pb_buf_free(&b);
        pb_metrics_scrape_destroy(s);
        pb_metrics_destroy(m);
    }
    pb_metrics_scrape_destroy(NULL);
    free(want);
}

/* A scrape rewound for the next one renders what a new render of the same state gives: counters
 * moved, freshness as of the new time, lag series measured or made since. */
static void rewind_same_as_render(void **state) {
    (void)state;
    pb_metrics_t *m = pb_metrics_new();
    pb_product_t *ps[FIXTURE_PRODUCTS];
    fixture_build(m, ps);
    const pb_product_t *const *cps = (const pb_product_t *const *)ps;
    pb_metrics_scrape_t *s = NULL;
    pb_buf_t a = {0}, b = {0};
    int done = 0;
    assert_int_equal(pb_metrics_scrape_begin(m, cps, FIXTURE_PRODUCTS, "1.2.3", &s), 0);
    while (!done)
        assert_int_equal(pb_metrics_scrape_step(s, 1000, &a, &done), 0);
    pb_metrics_port_t *o = pb_metrics_port(m, ps[0]->outputs[0].fqn, 90);
    pb_metrics_count(o, PB_METRICS_OUT, PB_METRICS_OK, 5, 50);
    pb_metrics_e2e(o, 0.2);
    o->last_record_ts = 1700000100.5;
    pb_metrics_lag(m, ps[0]->inputs[0].fqn, "never-measured")->known = 1;
    pb_metrics_lag_t *l = pb_metrics_lag(m, ps[0]->inputs[0].fqn, "made-later");
    l->known = 1;
    l->records = 42;
    pb_metrics_port(m, ps[2]->outputs[0].fqn, 1.5)->last_record_ts = 1700000000;
    for (int pass = 0; pass < 2; pass++) {
        double now = pass ? 1700000001.0 : 1700000101.0; /* quiet/never fresh, then events fresh */
        assert_int_equal(pb_metrics_scrape_rewind(s, now), 0);
        pb_buf_reset(&a);
        done = 0;
        while (!done)
            assert_int_equal(pb_metrics_scrape_step(s, 777, &a, &done), 0);
        pb_metrics_tick(m, cps, FIXTURE_PRODUCTS, now);
        pb_buf_reset(&b);
        assert_int_equal(pb_metrics_render(m, cps, FIXTURE_PRODUCTS, "1.2.3", &b), 0);
        same_text((const char *)b.data, b.len, &a);
        pb_buf_putc(&a, 0);
        has_line((const char *)a.data,
                 "portbroker_subscription_lag_records{product=\"com.acme.trips\",major=\"1\","
                 "port=\"weather\",kind=\"input\",subscriber=\"made-later\"} 42");
        has_line((const char *)a.data,
                 pass ? "portbroker_port_fresh{product=\"quiet\",major=\"7\",port=\"never\","
                        "kind=\"output\"} 1"
                      : "portbroker_port_fresh{product=\"com.acme.trips\",major=\"1\","
                        "port=\"events\",kind=\"output\"} 1");
    }
    pb_buf_free(&a);
    pb_buf_free(&b);
    pb_metrics_scrape_destroy(s);
    for (int i = 0; i < FIXTURE_PRODUCTS; i++)
        pb_product_destroy(ps[i]);
    pb_metrics_destroy(m);
}

/* The printf way, as metrics.c rendered numbers before (the oracle). */
static void ref_double(char *out, size_t n, double v) {
    if (isnan(v)) {
        snprintf(out, n, "NaN");
    } else if (isinf(v)) {
        snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, n, "%.0f", v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, n, "%.*g", prec, v);
            if (strtod(out, NULL) == v) break;
        }
    }
}

static void check_double(double v, const char *want) {
    char got[PB_METRICS_NUM_MAX], ref[64];
    memset(got, 'x', sizeof got);
    size_t n = pb_metrics_fmt_double(got, v);
    ref_double(ref, sizeof ref, v);
    if (strcmp(got, ref) || n != strlen(got) || (want && strcmp(got, want)))
        fail_msg("%.17g: got '%s' (length %zu), printf '%s', want '%s'", v, got, n, ref,
                 want ? want : ref);
}

static void fmt_cases(void **state) {
    (void)state;
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0, "0"},
        {-0.0, "-0"},
        {1, "1"},
        {-1, "-1"},
        {-1.5, "-1.5"},
        {0.5, "0.5"},
        {0.001, "0.001"},
        {0.0025, "0.0025"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {1e-9, "1e-09"},
        {-2.5e-5, "-2.5e-05"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1.0 / 3, "0.3333333333333333"},
        {2.0 / 3, "0.6666666666666666"},
        {123456.789, "123456.789"},
        {1700000000.123, "1700000000.123"},
        {1764583200.000001, "1764583200.000001"},
        {1234567890.1234567, "1234567890.1234567"},
        {999999999999999.0, "999999999999999"},
        {999999999999999.9, "999999999999999.9"},
        {99999999999999.99, "99999999999999.98"},
        {1e15, "1e+15"},
        {1e15 + 2, "1000000000000002"},
        {-1e15, "-1e+15"},
        {1e300, "1e+300"},
        {DBL_MAX, "1.7976931348623157e+308"},
        {DBL_MIN, "2.2250738585072014e-308"},
        {5e-324, "4.94065645841247e-324"},
        {18446744073709551615.0, "1.8446744073709552e+19"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {3600, "3600"},
        {604800, "604800"},
        {0.05, "0.05"},
        {12.75, "12.75"},
        {9.999999999999999e-5, "9.999999999999999e-05"},
        {0.00010000000000000002, "0.00010000000000000002"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_double(cases[i].v, cases[i].text);
    static const struct {
        uint64_t v;
        const char *text;
    } ucases[] = {{0, "0"},
                  {7, "7"},
                  {10, "10"},
                  {999999999999999ULL, "999999999999999"},
                  {1000000000000000ULL, "1000000000000000"},
                  {UINT64_MAX, "18446744073709551615"}};
    for (size_t i = 0; i < sizeof ucases / sizeof *ucases; i++) {
        char got[PB_METRICS_NUM_MAX];
        assert_int_equal(pb_metrics_fmt_u64(got, ucases[i].v), strlen(ucases[i].text));
        assert_string_equal(got, ucases[i].text);
    }
}

/* Random doubles of the shapes metrics carry (bit patterns, short decimals, timestamps with
 * fractions, integers near 1e15, tiny and huge values): the same text as printf. */
static void fmt_random(void **state) {
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 400000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        switch (i % 6) {
        case 0: memcpy(&v, &x, sizeof v); break; /* any bit pattern */
        case 1: v = (double)(x % 100000000) / pow(10, (double)(x % 19)); break; /* decimals */
        case 2: v = 1.7e9 + (double)(x % 1000000000) / 1e9; break;              /* timestamps */
        case 3: v = 1e15 + ((double)(x % 2000) - 1000) * 0.5; break;            /* around 1e15 */
        case 4: v = ldexp((double)(x % 1000003), (int)(x % 200) - 100); break;
        default: v = (double)(int64_t)x / 1e4; break;
        }
        if (x & 1) v = -v;
        check_double(v, NULL);
        char got[PB_METRICS_NUM_MAX], ref[32];
        pb_metrics_fmt_u64(got, x);
        snprintf(ref, sizeof ref, "%" PRIu64, x);
        assert_string_equal(got, ref);
    }
}

/* The routers' hold point comes from the caller (PB_ROUTER_HOLD_AT), not a copy in metrics.c. */
static void router_hold(void **state) {
    (void)state;
    pb_buf_t b = {0};
    assert_int_equal(pb_metrics_render_router(3, 400, 500, 1000, 12345, &b), 0);
    pb_buf_putc(&b, 0);
    const char *t = (const char *)b.data;
    has_line(t, "# HELP portbroker_router_inflight_records Routed records in flight: produced to "
                "input topics, not yet acknowledged by Kafka (all bindings; the routers take no "
                "more records at 12345).");
    has_line(t, "portbroker_router_inflight_records 3");
    no_text(t, "20000");
    pb_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_exact),
        cmocka_unit_test(idle_ports_and_no_slo),
        cmocka_unit_test(histogram_cumulative),
        cmocka_unit_test(escaping),
        cmocka_unit_test(freshness_tick),
        cmocka_unit_test(disabled),
        cmocka_unit_test(many_ports),
        cmocka_unit_test(product_label_collision),
        cmocka_unit_test(kafka_clients),
        cmocka_unit_test(router_parked),
        cmocka_unit_test(golden_whole),
        cmocka_unit_test(golden_sliced),
        cmocka_unit_test(fmt_cases),
        cmocka_unit_test(fmt_random),
        cmocka_unit_test(router_hold),
        cmocka_unit_test(rewind_same_as_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
