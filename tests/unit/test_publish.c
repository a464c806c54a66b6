/* publish: the pure parts — media types, bounded zstd, body parsing, record validation and limits,
 * headers. The HTTP and Kafka side is covered by tests/integration/0030 and 0031. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "publish.h"
#include "schema.h"

static const pb_publish_limits_t LIM = {1 << 20, 10, 200, 3, 40};

static const char *SCHEMA =
    "{\"type\":\"record\",\"name\":\"Ev\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"int\"},"
    "{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

static void test_media(void **state) {
    (void)state;
    pb_publish_format_t f = 0;
    int z = -1;
    pb_err_t err = {0};
    assert_int_equal(pb_publish_media("application/json; charset=utf-8", NULL, &f, &z, &err), 0);
    assert_int_equal(f, PB_PUBLISH_JSON);
    assert_int_equal(z, 0);
    assert_int_equal(pb_publish_media("Application/X-NDJSON", "zstd", &f, &z, &err), 0);
    assert_int_equal(f, PB_PUBLISH_NDJSON);
    assert_int_equal(z, 1);
    assert_int_equal(pb_publish_media("application/jsonx", NULL, &f, &z, &err), PB_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'application/jsonx'"));
    assert_int_equal(pb_publish_media(NULL, NULL, &f, &z, &err), PB_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "(none)"));
    assert_int_equal(pb_publish_media("application/json", "gzip", &f, &z, &err), 0);
    assert_int_equal(z, PB_PUBLISH_ENC_GZIP);
    assert_int_equal(pb_publish_media("application/json", "br", &f, &z, &err), PB_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "zstd or gzip"));
}

static void test_gunzip(void **state) {
    (void)state;
    size_t n = 100000;
    char *plain = malloc(n);
    for (size_t i = 0; i < n; i++)
        plain[i] = (char)('a' + i % 7);
    /* Two gzip members back to back (a concatenated file), as `cat a.gz b.gz` gives. */
    unsigned char *z = malloc(2 * n);
    size_t zn = 0;
    for (int m = 0; m < 2; m++) {
        z_stream s = {0};
        assert_int_equal(deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        s.next_in = (Bytef *)plain + m * (n / 2);
        s.avail_in = (uInt)(n / 2);
        s.next_out = z + zn;
        s.avail_out = (uInt)(2 * n - zn);
        assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
        zn = 2 * n - s.avail_out;
        deflateEnd(&s);
    }
    pb_buf_t out = {0};
    pb_err_t err = {0};
    assert_int_equal(pb_publish_gunzip(z, zn, n, &out, &err), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, plain, n);
    pb_buf_reset(&out);
    assert_int_equal(pb_publish_gunzip(z, zn, n - 1, &out, &err), PB_ERR_TOO_LARGE);
    assert_int_equal(out.len, 0);
    assert_true(out.cap <= n + 64 * 1024);
    assert_int_equal(pb_publish_gunzip(z, zn / 4, n, &out, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(pb_publish_gunzip("nope, not gzip", 14, n, &out, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "gzip"));
    pb_buf_free(&out);
    free(z);
    free(plain);
}

static void test_unzstd(void **state) {
    (void)state;
    size_t n = 100000;
    char *plain = malloc(n);
    for (size_t i = 0; i < n; i++)
        plain[i] = (char)('a' + i % 7);
    size_t cap = ZSTD_compressBound(n);
    char *z = malloc(cap);
    size_t zn = ZSTD_compress(z, cap, plain, n, 3);
    assert_false(ZSTD_isError(zn));
    pb_buf_t out = {0};
    pb_err_t err = {0};
    assert_int_equal(pb_publish_unzstd(z, zn, n, &out, &err), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, plain, n);
    pb_buf_reset(&out);
    /* One byte over the limit: refused, and never more than limit + 1 bytes allocated. */
    assert_int_equal(pb_publish_unzstd(z, zn, n - 1, &out, &err), PB_ERR_TOO_LARGE);
    assert_int_equal(out.len, 0);
    assert_true(out.cap <= n + 64 * 1024);
    assert_int_equal(pb_publish_unzstd(z, zn - 3, n, &out, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "zstd"));
    assert_int_equal(pb_publish_unzstd("nope", 4, n, &out, &err), PB_ERR_INVALID);
    pb_buf_free(&out);
    free(z);
    free(plain);
}

static void test_parse_json(void **state) {
    (void)state;
    pb_publish_errors_t e = {0};
    pb_publish_scratch_t sc = {0};
    pb_err_t err = {0};
    const char *ok = "{\"records\":[{\"value\":1},{\"value\":2}]}";
    assert_int_equal(pb_publish_parse(ok, strlen(ok), PB_PUBLISH_JSON, &LIM, &sc, &e, &err), 0);
    assert_int_equal(sc.n, 2);
    const char *bad = "{\"records\":[";
    assert_int_equal(pb_publish_parse(bad, strlen(bad), PB_PUBLISH_JSON, &LIM, &sc, &e, &err),
                     PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "body is not JSON: line 1 column"));
    const char *shape = "{\"record\":[]}";
    assert_int_equal(pb_publish_parse(shape, strlen(shape), PB_PUBLISH_JSON, &LIM, &sc, &e, &err),
                     PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown member \"record\""));
    const char *scalar = "5";
    assert_int_equal(pb_publish_parse(scalar, 1, PB_PUBLISH_JSON, &LIM, &sc, &e, &err),
                     PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "body must be {\"records\": [...]} (got an integer)"));
    const char *many = "{\"records\":[1,2,3,4,5,6,7,8,9,10,11]}";
    assert_int_equal(pb_publish_parse(many, strlen(many), PB_PUBLISH_JSON, &LIM, &sc, &e, &err),
                     PB_ERR_TOO_LARGE);
    assert_non_null(strstr(err.msg, "publish.max.records = 10"));
    assert_int_equal(e.n_bad, 0);
    pb_publish_scratch_free(&sc);
}

static void test_parse_ndjson(void **state) {
    (void)state;
    pb_publish_errors_t e = {0};
    pb_publish_scratch_t sc = {0};
    pb_err_t err = {0};
    const char *nd = "{\"value\":1}\n\n  \n{oops\r\n{\"value\":3}";
    assert_int_equal(pb_publish_parse(nd, strlen(nd), PB_PUBLISH_NDJSON, &LIM, &sc, &e, &err), 0);
    assert_int_equal(sc.n, 3);
    assert_int_equal(e.n_bad, 1);
    assert_int_equal(e.items[0].index, 1);
    assert_non_null(strstr(e.items[0].reason, "line 4 is not JSON: column 2 (byte 1)"));
    assert_int_equal(sc.roots[1], PB_PUBLISH_UNPARSABLE);
    pb_publish_errors_free(&e);
    pb_publish_scratch_free(&sc);
}

static pb_schema_t *g_schema;     /* parsed once, freed by the group teardown */
static pb_schema_t *g_key_schema; /* set by test_key_schema only */

static int teardown(void **state) {
    (void)state;
    pb_schema_destroy(g_schema);
    pb_schema_destroy(g_key_schema);
    return 0;
}

/* Prepare `body` (JSON) against SCHEMA into sc; returns the errors (caller frees them with
 * pb_publish_errors_free and free) and fills out/values. */
static pb_publish_errors_t *prepare(const char *body, pb_publish_record_t *out, pb_buf_t *values,
                                    pb_publish_scratch_t *sc, int *rc) {
    pb_err_t err = {0};
    if (!g_schema) assert_int_equal(pb_schema_parse(SCHEMA, strlen(SCHEMA), &g_schema, &err), 0);
    pb_schema_t *s = g_schema;
    pb_publish_errors_t *e = calloc(1, sizeof *e);
    assert_int_equal(pb_publish_parse(body, strlen(body), PB_PUBLISH_JSON, &LIM, sc, e, &err), 0);
    pb_publish_target_t t = {s, 7, "at", 1, g_key_schema, 0};
    *rc = pb_publish_prepare(&t, &LIM, sc, out, values, e, &err);
    return e;
}

static void done(pb_publish_errors_t *e, pb_publish_scratch_t *sc, pb_buf_t *values) {
    pb_publish_errors_free(e);
    free(e);
    pb_publish_scratch_free(sc);
    pb_buf_free(values);
}

static void test_prepare_ok(void **state) {
    (void)state;
    pb_publish_record_t out[4];
    pb_buf_t values = {0};
    pb_publish_scratch_t sc = {0};
    int rc;
    pb_publish_errors_t *e =
        prepare("{\"records\":[{\"value\":{\"n\":1,\"at\":1700000000000123},\"key\":\"k\","
                "\"id\":\"x\"},{\"value\":{\"n\":2,\"at\":5,\"u\":\"s\"},\"time\":"
                "\"1970-01-01T00:00:01Z\",\"headers\":{\"h\":\"v\"}}]}",
                out, &values, &sc, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(e->n_bad, 0);
    assert_int_equal(out[0].klen, 1);
    assert_memory_equal(out[0].key, "k", 1);
    assert_int_equal(out[0].idlen, 1);
    assert_int_equal(out[0].event_ms, 1700000000000); /* micros field -> ms */
    assert_int_equal(out[1].event_ms, 1000);          /* "time" wins */
    assert_null(out[1].key);
    assert_int_equal(out[1].n_own, 1);
    assert_string_equal(out[1].own[0].name, "h");
    assert_memory_equal(out[1].own[0].value, "v", 1);
    /* Confluent frame: magic 0, id 7, then the Avro int 1 (zigzag 2). */
    const uint8_t *v = values.data + out[0].voff;
    assert_int_equal(v[0], 0);
    assert_int_equal(v[4], 7);
    assert_int_equal(v[5], 2);
    /* The unwrapped union value "s" was accepted. */
    assert_true(out[1].vlen > 6);
    done(e, &sc, &values);
}

static void test_prepare_errors(void **state) {
    (void)state;
    pb_publish_record_t out[10];
    pb_buf_t values = {0};
    pb_publish_scratch_t sc = {0};
    int rc;
    pb_publish_errors_t *e = prepare(
        "{\"records\":[{\"value\":{\"n\":\"one\",\"at\":1}},{\"value\":{\"n\":1,\"at\":1},"
        "\"key\":5},3,{\"value\":{\"n\":1,\"at\":1},\"extra\":1},{\"key\":\"k\"},"
        "{\"value\":{\"n\":1,\"at\":1},\"headers\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":"
        "\"4\"}},"
        "{\"value\":{\"n\":1,\"at\":1},\"headers\":{\"a\":"
        "\"0123456789012345678901234567890123456789\"}},"
        "{\"value\":{\"n\":1,\"at\":1,\"u\":\"01234567890123456789012345678901234567890123456789"
        "01234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "01234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "01234567890123456789012345678901234567890123456789\"}},"
        "{\"value\":{\"n\":1,\"at\":1},\"id\":\"\"},{\"value\":{\"n\":1,\"at\":1},\"time\":\"x\"}]"
        "}",
        out, &values, &sc, &rc);
    assert_int_equal(rc, PB_ERR_INVALID);
    assert_int_equal(e->n_bad, 10);
    assert_int_equal(e->n_listed, 10);
    assert_true(e->over_limit);
    static const char *paths[] = {"/value/n", "/key",     "", "/extra", "",
                                  "/headers", "/headers", "", "/id",    "/time"};
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(e->items[i].index, i);
        assert_string_equal(e->items[i].path, paths[i]);
    }
    assert_non_null(strstr(e->items[0].reason, "expected int"));
    assert_string_equal(e->items[5].limit, "publish.max.record.headers");
    assert_string_equal(e->items[6].limit, "publish.max.record.header.bytes");
    assert_string_equal(e->items[7].limit, "publish.max.record.bytes");
    assert_null(e->items[0].limit);
    assert_int_equal(values.len, 0); /* nothing kept of refused records */
    done(e, &sc, &values);
}

/* A port keySchema that is a record: keys are Avro binary, bad keys are errors under /key. */
static void test_key_schema(void **state) {
    (void)state;
    static const char *ks = "{\"type\":\"record\",\"name\":\"K\",\"fields\":["
                            "{\"name\":\"id\",\"type\":\"int\"}]}";
    pb_err_t err = {0};
    assert_int_equal(pb_schema_parse(ks, strlen(ks), &g_key_schema, &err), 0);
    pb_publish_record_t out[3];
    pb_buf_t values = {0};
    pb_publish_scratch_t sc = {0};
    int rc;
    pb_publish_errors_t *e =
        prepare("{\"records\":[{\"value\":{\"n\":1,\"at\":1},\"key\":{\"id\":3}},"
                "{\"value\":{\"n\":1,\"at\":1},\"key\":\"str\"},"
                "{\"value\":{\"n\":1,\"at\":1}}]}",
                out, &values, &sc, &rc);
    assert_int_equal(rc, PB_ERR_INVALID);
    assert_int_equal(e->n_bad, 1);
    assert_int_equal(e->items[0].index, 1);
    assert_string_equal(e->items[0].path, "/key");
    assert_non_null(strstr(e->items[0].reason, "keySchema"));
    assert_true(out[0].key_encoded);
    assert_int_equal(out[0].klen, 1);
    assert_int_equal(values.data[out[0].koff], 6); /* zigzag(3) */
    assert_false(out[2].key_encoded);
    assert_null(out[2].key);
    done(e, &sc, &values);
    pb_schema_destroy(g_key_schema);
    g_key_schema = NULL;
}

static const char *hget(const pb_kafka_header_t *h, size_t n, const char *name, size_t *count) {
    const char *v = NULL;
    *count = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, name) == 0) {
            static char buf[8][128];
            char *b = buf[*count % 8];
            snprintf(b, 128, "%.*s", (int)h[i].len, (const char *)h[i].value);
            v = b;
            (*count)++;
        }
    return v;
}

static void test_headers(void **state) {
    (void)state;
    static const char tp0[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    pb_kafka_header_t own[] = {{"ce_source", "forged", 6},
                               {"mesh.lineage.hops", "3", 1},
                               {"x", "y", 1},
                               {"ce_correlationid", "mine", 4},
                               {"traceparent", tp0, sizeof tp0 - 1}};
    pb_publish_record_t r = {.event_ms = 1000, .own = own, .n_own = 5};
    pb_publish_stamp_t s = {.source = "urn:p",
                            .type = "t.Ev",
                            .dataschema = "http://h/schemas/ids/7",
                            .contract = "urn:p@1.0.0",
                            .recorded_time = "2026-01-01T00:00:00.000Z",
                            .span = "00-11111111111111111111111111111111-2222222222222222-01"};
    pb_publish_hdrbuf_t hb;
    pb_kafka_header_t h[32];
    size_t n = pb_publish_headers(&s, &r, "id-1", 4, &hb, h, 32), c;
    assert_string_equal(hget(h, n, "ce_source", &c), "urn:p");
    assert_int_equal(c, 1);
    assert_string_equal(hget(h, n, "ce_id", &c), "id-1");
    assert_string_equal(hget(h, n, "ce_time", &c), "1970-01-01T00:00:01.000Z");
    assert_string_equal(hget(h, n, "ce_recordedtime", &c), "2026-01-01T00:00:00.000Z");
    assert_string_equal(hget(h, n, "content-type", &c), "application/avro");
    assert_string_equal(hget(h, n, "ce_correlationid", &c), "mine"); /* no X-Flow-Id */
    assert_int_equal(c, 1);
    assert_string_equal(hget(h, n, "x", &c), "y");
    assert_null(hget(h, n, "mesh.lineage.hops", &c));
    assert_string_equal(hget(h, n, "mesh.contract", &c), "urn:p@1.0.0");
    const char *tp = hget(h, n, "traceparent", &c);
    assert_int_equal(c, 1);
    assert_memory_equal(tp, "00-0af7651916cd43dd8448eb211c80319c-", 36); /* the record's trace */
    assert_string_not_equal(tp + 36, "b7ad6b7169203331-01");
    /* With X-Flow-Id the broker's correlation id wins; without own traceparent, the request span.
     */
    r.n_own = 4; /* without its traceparent */
    s.correlation_id = "flow";
    r.event_ms = -1;
    n = pb_publish_headers(&s, &r, "id-1", 4, &hb, h, 32);
    assert_string_equal(hget(h, n, "ce_correlationid", &c), "flow");
    assert_int_equal(c, 1);
    assert_string_equal(hget(h, n, "traceparent", &c), s.span);
    assert_string_equal(hget(h, n, "ce_time", &c), "2026-01-01T00:00:00.000Z"); /* receive time */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_media),          cmocka_unit_test(test_unzstd),
        cmocka_unit_test(test_gunzip),         cmocka_unit_test(test_parse_json),
        cmocka_unit_test(test_parse_ndjson),   cmocka_unit_test(test_prepare_ok),
        cmocka_unit_test(test_prepare_errors), cmocka_unit_test(test_headers),
        cmocka_unit_test(test_key_schema),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
