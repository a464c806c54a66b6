/* sub: the pure parts of subscriber streams — query parameters, JSON string escaping, and the
 * record rendering (ndjson and SSE framing, decoded values, decode errors delivered, not skipped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "registry.h"
#include "sub.h"

typedef struct kv {
    const char *k, *v;
} kv_t;

static const char *get(void *ctx, const char *name) {
    for (kv_t *p = ctx; p->k; p++)
        if (!strcmp(p->k, name)) return p->v;
    return NULL;
}

static void test_params(void **state) {
    (void)state;
    pb_sub_params_t p;
    pb_err_t err = {0};
    kv_t none[] = {{NULL, NULL}};
    assert_int_equal(pb_sub_parse_params(get, none, 100, &p, &err), 0);
    assert_int_equal(p.sse, 0);
    assert_int_equal(p.batch, 100);
    assert_int_equal(p.timeout_ms, 0);
    assert_int_equal(p.manual, 0);
    kv_t all[] = {{"format", "sse"},
                  {"batch", "7"},
                  {"timeout_ms", "2500"},
                  {"commit", "manual"},
                  {NULL, NULL}};
    assert_int_equal(pb_sub_parse_params(get, all, 100, &p, &err), 0);
    assert_int_equal(p.sse, 1);
    assert_int_equal(p.batch, 7);
    assert_int_equal(p.timeout_ms, 2500);
    assert_int_equal(p.manual, 1);
    kv_t bad[][2] = {{{"format", "csv"}, {NULL, NULL}},    {{"batch", "0"}, {NULL, NULL}},
                     {{"batch", "101"}, {NULL, NULL}},     {{"batch", "5x"}, {NULL, NULL}},
                     {{"timeout_ms", "-1"}, {NULL, NULL}}, {{"commit", "never"}, {NULL, NULL}},
                     {{"batch", ""}, {NULL, NULL}}};
    const char *msgs[] = {"format: 'csv' is not one of ndjson, sse",
                          "batch: '0' is not an integer in [1, 100]",
                          "batch: '101' is not an integer in [1, 100]",
                          "batch: '5x' is not an integer in [1, 100]",
                          "timeout_ms: '-1' is not an integer in [0, 86400000]",
                          "commit: 'never' is not one of auto, manual",
                          "batch: '' is not an integer"};
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        assert_int_equal(pb_sub_parse_params(get, bad[i], 100, &p, &err), PB_ERR_INVALID);
        if (!strstr(err.msg, msgs[i])) fail_msg("case %zu: got '%s'", i, err.msg);
    }
}

#define SCHEMA                                                                                     \
    "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"n\",\"type\":\"long\"},"          \
    "{\"name\":\"s\",\"type\":[\"null\",\"string\"]}]}"

static pb_registry_t *registry_with_schema(void) {
    pb_registry_t *r = pb_registry_new();
    pb_buf_t b = {0};
    pb_err_t err = {0};
    pb_registry_result_t res = {0};
    assert_non_null(r);
    assert_int_equal(
        pb_registry_record_register(&b, "req", "t-value", SCHEMA, strlen(SCHEMA), &err), 0);
    assert_int_equal(pb_registry_apply(r, -1, (const char *)b.data, b.len, &res), 0);
    assert_int_equal(res.id, 1);
    pb_registry_result_reset(&res);
    pb_buf_free(&b);
    return r;
}

static void test_render(void **state) {
    (void)state;
    pb_registry_t *r = registry_with_schema();
    /* {"n": 21, "s": {"string": "hé"}} framed with id 1 */
    uint8_t v[] = {0, 0, 0, 0, 1, 42, 2, 6, 'h', 0xc3, 0xa9};
    pb_kafka_record_t rec = {.partition = 2,
                             .offset = 17,
                             .timestamp_ms = 1795256130123,
                             .key = "k1",
                             .klen = 2,
                             .value = v,
                             .vlen = sizeof v};
    pb_buf_t b = {0};
    assert_int_equal(pb_sub_render(r, &rec, 0, 0, &b), 0);
    assert_int_equal(pb_buf_putc(&b, 0), 0);
    assert_string_equal((char *)b.data,
                        "{\"partition\":2,\"offset\":17,\"key\":\"k1\",\"value\":{\"n\":21,\"s\":"
                        "{\"string\":\"h\xc3\xa9\"}},\"headers\":{},\"schema_id\":1,\"time\":"
                        "\"2026-11-21T10:15:30.123Z\"}\n");
    pb_buf_reset(&b);
    /* SSE framing, no key, no timestamp */
    rec.key = NULL;
    rec.timestamp_ms = -1;
    assert_int_equal(pb_sub_render(r, &rec, 1, 0, &b), 0);
    assert_int_equal(pb_buf_putc(&b, 0), 0);
    assert_string_equal(
        (char *)b.data,
        "id: 2:17\nevent: record\ndata: {\"partition\":2,\"offset\":17,\"key\":null,"
        "\"value\":{\"n\":21,\"s\":{\"string\":\"h\xc3\xa9\"}},\"headers\":{},"
        "\"schema_id\":1,\"time\":null}\n\n");
    pb_buf_reset(&b);
    /* Undecodable records are delivered with an error, never skipped. */
    uint8_t trailing[] = {0, 0, 0, 0, 1, 42, 0, 7};
    uint8_t unknown[] = {0, 0, 0, 0, 9, 42, 0};
    uint8_t noframe[] = {'{', '}'};
    struct {
        const uint8_t *v;
        size_t n;
        const char *want;
    } bad[] = {
        {trailing, sizeof trailing, "\"value\":null,\"error\":\"cannot decode with schema 1: "},
        {unknown, sizeof unknown,
         "\"value\":null,\"error\":\"schema id 9 is not in the registry\",\"headers\":{},"
         "\"schema_id\":9,"},
        {noframe, sizeof noframe,
         "\"value\":null,\"error\":\"not a Confluent wire frame: frame too short"},
        {NULL, 0,
         "\"value\":null,\"error\":\"the record has no value (a tombstone)\",\"headers\":"
         "{},\"schema_id\":null,"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rec.value = bad[i].v;
        rec.vlen = bad[i].n;
        pb_buf_reset(&b);
        assert_int_equal(pb_sub_render(r, &rec, 0, 0, &b), 0);
        assert_int_equal(pb_buf_putc(&b, 0), 0);
        if (!strstr((char *)b.data, bad[i].want)) fail_msg("case %zu: %s", i, (char *)b.data);
        assert_int_equal(b.data[b.len - 2], '\n');
    }
    pb_buf_free(&b);
    pb_registry_destroy(r);
}

static void test_from(void **state) {
    (void)state;
    pb_sub_params_t p;
    pb_err_t err = {0};
    kv_t none[] = {{NULL, NULL}};
    assert_int_equal(pb_sub_parse_params(get, none, 100, &p, &err), 0);
    assert_int_equal(p.from, PB_SUB_FROM_COMMITTED);
    assert_int_equal(p.max_records, 0);
    kv_t t[] = {{"from", "time:2026-01-02T03:04:05.5Z"}, {"max_records", "25"}, {NULL, NULL}};
    assert_int_equal(pb_sub_parse_params(get, t, 100, &p, &err), 0);
    assert_int_equal(p.from, PB_SUB_FROM_TIME);
    assert_int_equal(p.from_ms, 1767323045500LL);
    assert_int_equal(p.max_records, 25);
    kv_t o[] = {{"from", "offsets:2:40,0:7"}, {NULL, NULL}};
    assert_int_equal(pb_sub_parse_params(get, o, 100, &p, &err), 0);
    assert_int_equal(p.from, PB_SUB_FROM_OFFSETS);
    assert_int_equal(p.n_from_offsets, 2);
    assert_int_equal(p.from_offsets[0].partition, 2);
    assert_int_equal(p.from_offsets[0].offset, 40);
    assert_int_equal(p.from_offsets[1].partition, 0);
    assert_int_equal(p.from_offsets[1].offset, 7);
    const char *names[] = {"earliest", "latest", "committed"};
    const pb_sub_from_t want[] = {PB_SUB_FROM_EARLIEST, PB_SUB_FROM_LATEST, PB_SUB_FROM_COMMITTED};
    for (size_t i = 0; i < 3; i++) {
        kv_t kv[] = {{"from", names[i]}, {NULL, NULL}};
        assert_int_equal(pb_sub_parse_params(get, kv, 100, &p, &err), 0);
        assert_int_equal(p.from, want[i]);
    }
    kv_t bad[][2] = {
        {{"from", "yesterday"}, {NULL, NULL}},    {{"from", "time:soon"}, {NULL, NULL}},
        {{"from", "offsets:"}, {NULL, NULL}},     {{"from", "offsets:0:1,0:2"}, {NULL, NULL}},
        {{"from", "offsets:0:-1"}, {NULL, NULL}}, {{"from", "offsets:x:1"}, {NULL, NULL}},
        {{"from", "offsets:0:1,"}, {NULL, NULL}}, {{"max_records", "0"}, {NULL, NULL}}};
    const char *msgs[] = {"from: 'yesterday' is not one of committed, earliest, latest",
                          "from: 'time:soon' is not time:RFC3339",
                          "empty cursor",
                          "item 2: partition 0 appears twice",
                          "item 1 (partition 0): the offset is not a non-negative integer",
                          "item 1: expected PARTITION:OFFSET",
                          "item 2: expected PARTITION:OFFSET",
                          "max_records: '0' is not an integer in [1, 1000000000]"};
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        assert_int_equal(pb_sub_parse_params(get, bad[i], 100, &p, &err), PB_ERR_INVALID);
        if (!strstr(err.msg, msgs[i])) fail_msg("case %zu: got '%s'", i, err.msg);
    }
}

/* The lag sweep's back-off for a subscriber group without commits, driven the way sub.c drives it:
 * each sweep asks when the group's back-off is 0 or due, and an ask moves it. Each case: the sweep
 * from which the group has a commit (-1: never) and the sweeps at which Kafka is asked. */
static void test_lag_backoff(void **state) {
    (void)state;
    static const struct {
        int commit_from;
        unsigned sweeps;
        const char *asked;
    } cases[] = {
        /* Never commits: gaps 12, 24, 48, then PB_SUB_LAG_UNCOMMITTED_MAX (60). */
        {-1, 250, "0 12 36 84 144 204"},
        /* Commits from sweep 2: seen at the next ask (12), then asked at every sweep. */
        {2, 15, "0 12 13 14"},
        /* Commits from sweep 85, just after an ask at 84 with a gap of 60 due: seen at 144, the
         * bound's worst case (59 sweeps late), then every sweep. */
        {85, 147, "0 12 36 84 144 145 146"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        unsigned every = 0, next = 0;
        char got[256] = "";
        size_t len = 0;
        for (unsigned sweep = 0; sweep < cases[c].sweeps; sweep++) {
            if (every && (int)(sweep - next) < 0) continue; /* counted from the first record */
            len += (size_t)snprintf(got + len, sizeof got - len, "%s%u", len ? " " : "", sweep);
            int none = cases[c].commit_from < 0 || sweep < (unsigned)cases[c].commit_from;
            pb_sub_lag_backoff(every, none, sweep, &every, &next);
            if (!none) assert_int_equal(every, 0);
            assert_true(every <= PB_SUB_LAG_UNCOMMITTED_MAX);
        }
        if (strcmp(got, cases[c].asked))
            fail_msg("case %zu: asked at %s, want %s", c, got, cases[c].asked);
    }
}

static void test_cursor(void **state) {
    (void)state;
    pb_kafka_tp_t c[3];
    size_t n = 0;
    pb_err_t err = {0};
    assert_int_equal(pb_sub_parse_cursor("0:5,1:0,2:9223372036854775807", c, 3, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(c[2].offset, INT64_MAX);
    pb_buf_t b = {0};
    assert_int_equal(pb_sub_format_cursor(c, n, &b), 0);
    assert_int_equal(b.len, strlen("0:5,1:0,2:9223372036854775807"));
    assert_memory_equal(b.data, "0:5,1:0,2:9223372036854775807", b.len);
    pb_buf_free(&b);
    assert_int_equal(pb_sub_parse_cursor("0:1,1:1,2:1,3:1", c, 3, &n, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "more than 3 partitions"));
    assert_int_equal(pb_sub_parse_cursor("2147483648:0", c, 3, &n, &err), PB_ERR_INVALID);
    assert_int_equal(pb_sub_parse_cursor("0:99999999999999999999", c, 3, &n, &err), PB_ERR_INVALID);
    assert_int_equal(pb_sub_parse_cursor(" 0:1", c, 3, &n, &err), PB_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params), cmocka_unit_test(test_from),
        cmocka_unit_test(test_cursor), cmocka_unit_test(test_lag_backoff),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
