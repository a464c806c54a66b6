/* Unit tests for codec.c: API contracts the data-driven cases cannot express (wire frames, error
 * detail, buffer handling, nesting limits, threads, >32-field reordering), and a cross-check of our
 * encoding against avro-c's on a realistic record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <avro.h>

#include "buf.h"
#include "codec.h"
#include "err.h"
#include "schema.h"

static pb_schema_t *parse(const char *text) {
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    if (pb_schema_parse(text, strlen(text), &s, &err)) fail_msg("schema: %s", err.msg);
    return s;
}

static json_t *js(const char *text) {
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v) fail_msg("json: %s", je.text);
    return v;
}

/* Encode jansson value v through the codec's one JSON reader: its text, tokenized. */
static int enc_json(const pb_schema_t *s, const json_t *v, unsigned flags, pb_buf_t *out,
                    pb_codec_error_t *detail, pb_err_t *err) {
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(text);
    int rc = pb_codec_text_to_avro(s, text, strlen(text), flags, out, detail, err);
    free(text);
    return rc;
}

/* ---- wire frames ---- */

static void wire_roundtrip(void **state) {
    (void)state;
    pb_buf_t b = {0};
    pb_err_t err = {0};
    assert_int_equal(pb_codec_wire_header(&b, 0x01020304), 0);
    pb_buf_append(&b, "\x02\x04", 2);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "\x00\x01\x02\x03\x04\x02\x04", 7);
    uint32_t id = 0;
    const uint8_t *payload = NULL;
    size_t plen = 0;
    assert_int_equal(pb_codec_wire_parse(b.data, b.len, &id, &payload, &plen, &err), 0);
    assert_int_equal(id, 0x01020304);
    assert_ptr_equal(payload, b.data + 5);
    assert_int_equal(plen, 2);
    /* an empty payload is a valid frame (e.g. a "null" schema) */
    assert_int_equal(pb_codec_wire_parse(b.data, 5, &id, &payload, &plen, &err), 0);
    assert_int_equal(plen, 0);
    pb_buf_free(&b);
}

static void wire_errors(void **state) {
    (void)state;
    pb_err_t err = {0};
    uint32_t id;
    const uint8_t *payload;
    size_t plen;
    const uint8_t short_frame[] = {0, 0, 0};
    assert_int_equal(pb_codec_wire_parse(short_frame, 3, &id, &payload, &plen, &err),
                     PB_ERR_INVALID);
    assert_string_equal(err.msg, "frame too short: 3 bytes, need at least 5");
    assert_int_equal(pb_codec_wire_parse(NULL, 0, &id, &payload, &plen, &err), PB_ERR_INVALID);
    const uint8_t json_frame[] = {'{', '"', 'a', '"', ':', '1', '}'};
    assert_int_equal(pb_codec_wire_parse(json_frame, sizeof json_frame, &id, &payload, &plen, &err),
                     PB_ERR_INVALID);
    assert_string_equal(err.msg, "bad magic byte 0x7b, expected 0x00");
    const uint8_t big_id[] = {0, 0x80, 0, 0, 1, 0};
    assert_int_equal(pb_codec_wire_parse(big_id, sizeof big_id, &id, &payload, &plen, &err),
                     PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "schema id 2147483649 out of range"));
}

/* ---- errors: detail, path, buffer left as it was ---- */

static void error_detail_and_buffer(void **state) {
    (void)state;
    pb_schema_t *s = parse(
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"address\",\"type\":"
        "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"zip\",\"type\":\"int\"}]}}]}");
    json_t *bad = js("{\"address\":{\"zip\":\"abc\"}}");
    json_t *good = js("{\"address\":{\"zip\":5}}");
    pb_buf_t b = {0};
    pb_buf_append(&b, "keep", 4);
    pb_err_t err = {0};
    pb_codec_error_t d;
    assert_int_equal(enc_json(s, bad, 0, &b, &d, &err), PB_ERR_INVALID);
    assert_string_equal(d.path, "/address/zip");
    assert_string_equal(d.reason, "expected int, got string \"abc\"");
    assert_string_equal(err.msg, "at /address/zip: expected int, got string \"abc\"");
    assert_int_equal(b.len, 4); /* truncated back to what it held, not emptied */
    assert_int_equal(enc_json(s, good, 0, &b, NULL, &err), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "keep\x0a", 5);

    /* an error at the datum itself has an empty path and no "at" */
    json_t *arr = js("[1]");
    assert_int_equal(enc_json(s, arr, 0, &b, &d, &err), PB_ERR_INVALID);
    assert_string_equal(d.path, "");
    assert_string_equal(err.msg, "expected object for record R, got array");

    /* decoders append too, and truncate back on error */
    pb_buf_t t = {0};
    pb_buf_append(&t, "[", 1);
    assert_int_equal(pb_codec_avro_to_json_text(s, b.data + 4, 1, 0, &t, &err), 0);
    assert_int_equal(t.len, 1 + strlen("{\"address\":{\"zip\":5}}"));
    assert_int_equal(pb_codec_avro_to_json_text(s, (const uint8_t *)"\x80", 1, 0, &t, &err),
                     PB_ERR_INVALID);
    assert_string_equal(err.msg, "at /address/zip: truncated varint");
    assert_int_equal(t.len, 1 + strlen("{\"address\":{\"zip\":5}}"));

    json_decref(bad);
    json_decref(good);
    json_decref(arr);
    pb_buf_free(&b);
    pb_buf_free(&t);
    pb_schema_destroy(s);
}

static void long_path_is_cut(void **state) {
    (void)state;
    pb_schema_t *s = parse("{\"type\":\"map\",\"values\":{\"type\":\"map\",\"values\":\"int\"}}");
    char key[300], text[800];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = 0;
    snprintf(text, sizeof text, "{\"%s\":{\"%s\":true}}", key, key);
    json_t *v = js(text);
    pb_buf_t b = {0};
    pb_err_t err = {0};
    pb_codec_error_t d;
    assert_int_equal(enc_json(s, v, 0, &b, &d, &err), PB_ERR_INVALID);
    assert_int_equal(strlen(d.path), sizeof d.path - 1);
    assert_string_equal(d.path + sizeof d.path - 4, "...");
    assert_string_equal(d.reason, "expected int, got true");
    json_decref(v);
    pb_buf_free(&b);
    pb_schema_destroy(s);
}

/* ---- jansson output ---- */

static void to_json_value(void **state) {
    (void)state;
    pb_schema_t *s = parse(
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"d\",\"type\":\"double\"},"
        "{\"name\":\"n\",\"type\":\"double\"},{\"name\":\"u\",\"type\":[\"null\",\"long\"]}]}");
    json_t *in = js("{\"d\":2,\"n\":\"NaN\",\"u\":{\"long\":9007199254740993}}");
    pb_buf_t b = {0};
    pb_err_t err = {0};
    assert_int_equal(enc_json(s, in, 0, &b, NULL, &err), 0);
    json_t *out = NULL;
    assert_int_equal(pb_codec_avro_to_json(s, b.data, b.len, &out, &err), 0);
    assert_true(json_is_real(json_object_get(out, "d")));
    assert_true(json_real_value(json_object_get(out, "d")) == 2.0);
    assert_string_equal(json_string_value(json_object_get(out, "n")), "NaN");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "u"), "long")),
                     9007199254740993LL);
    json_decref(in);
    json_decref(out);
    pb_buf_free(&b);
    pb_schema_destroy(s);
}

/* Every double prints as text that reads back to the same bits. */
static void doubles_round_trip(void **state) {
    (void)state;
    pb_schema_t *s = parse("\"double\"");
    pb_schema_t *f = parse("\"float\"");
    srand(42);
    pb_buf_t t = {0};
    pb_err_t err = {0};
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = (uint64_t)rand() << 42 ^ (uint64_t)rand() << 21 ^ (uint64_t)rand();
        double d;
        memcpy(&d, &bits, 8);
        if (!isfinite(d)) continue;
        uint8_t le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (uint8_t)(bits >> (8 * k));
        pb_buf_reset(&t);
        assert_int_equal(pb_codec_avro_to_json_text(s, le, 8, 0, &t, &err), 0);
        pb_buf_putc(&t, 0);
        assert_true(strtod((char *)t.data, NULL) == d);
        assert_non_null(strpbrk((char *)t.data, ".e"));
        float fl = (float)(i * 0.37 - 999.0);
        memcpy(&bits, &fl, 4);
        for (int k = 0; k < 4; k++)
            le[k] = (uint8_t)(bits >> (8 * k));
        pb_buf_reset(&t);
        assert_int_equal(pb_codec_avro_to_json_text(f, le, 4, 0, &t, &err), 0);
        pb_buf_putc(&t, 0);
        assert_true(strtof((char *)t.data, NULL) == fl);
    }
    /* short decimals (the formatter's fast path) print as themselves */
    for (int i = 0; i < 20000; i++) {
        static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7};
        double d = (double)((rand() % 2000001) - 1000000) / p10[rand() % 8];
        uint64_t bits;
        memcpy(&bits, &d, 8);
        uint8_t le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (uint8_t)(bits >> (8 * k));
        pb_buf_reset(&t);
        assert_int_equal(pb_codec_avro_to_json_text(s, le, 8, 0, &t, &err), 0);
        pb_buf_putc(&t, 0);
        assert_true(strtod((char *)t.data, NULL) == d);
        char ref[64];
        snprintf(ref, sizeof ref, "%.15g", d);
        if (!strchr(ref, '.') && !strchr(ref, 'e')) strcat(ref, ".0");
        if (!strchr(ref, 'e')) assert_string_equal((char *)t.data, ref);
        float fl = (float)d;
        memcpy(&bits, &fl, 4);
        for (int k = 0; k < 4; k++)
            le[k] = (uint8_t)(bits >> (8 * k));
        pb_buf_reset(&t);
        assert_int_equal(pb_codec_avro_to_json_text(f, le, 4, 0, &t, &err), 0);
        pb_buf_putc(&t, 0);
        assert_true(strtof((char *)t.data, NULL) == fl);
        assert_true(strlen((char *)t.data) <= 14);
    }
    pb_buf_free(&t);
    pb_schema_destroy(s);
    pb_schema_destroy(f);
}

/* ---- nesting limit ---- */

static const char *LIST =
    "{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":\"n\",\"type\":[\"null\",\"N\"]}]}";

/* n nested records (each a record and a union level): JSON and binary */
static json_t *nested_json(int n) {
    json_t *v = json_pack("{s:n}", "n");
    for (int i = 1; i < n; i++)
        v = json_pack("{s:{s:o}}", "n", "N", v);
    return v;
}

static void nested_bin(int n, pb_buf_t *b) {
    for (int i = 1; i < n; i++)
        pb_buf_putc(b, 2);
    pb_buf_putc(b, 0);
}

static void nesting_limit(void **state) {
    (void)state;
    pb_schema_t *s = parse(LIST);
    pb_resolver_t *r = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_resolver_new(s, s, &r, &err), 0);
    int max_ok = PB_CODEC_MAX_DEPTH / 2;
    for (int n = max_ok; n <= max_ok + 1; n++) {
        int want = n == max_ok ? 0 : PB_ERR_TOO_LARGE;
        json_t *v = nested_json(n);
        pb_buf_t b = {0}, t = {0}, o = {0}, bin = {0};
        assert_int_equal(enc_json(s, v, 0, &b, NULL, &err), want);
        nested_bin(n, &bin);
        assert_int_equal(pb_codec_validate(s, bin.data, bin.len, &err), want);
        assert_int_equal(pb_codec_avro_to_json_text(s, bin.data, bin.len, 0, &t, &err), want);
        assert_int_equal(pb_resolver_run(r, bin.data, bin.len, &o, &err), want);
        if (want)
            assert_non_null(strstr(err.msg, "nesting deeper than 128 levels"));
        else
            assert_memory_equal(o.data, bin.data, bin.len);
        json_decref(v);
        pb_buf_free(&b);
        pb_buf_free(&t);
        pb_buf_free(&o);
        pb_buf_free(&bin);
    }
    /* a hostile input far deeper than the limit stops at the limit, without a stack overflow */
    pb_buf_t bin = {0};
    nested_bin(1000000, &bin);
    assert_int_equal(pb_codec_validate(s, bin.data, bin.len, &err), PB_ERR_TOO_LARGE);
    pb_buf_free(&bin);
    pb_resolver_destroy(r);
    pb_schema_destroy(s);
}

/* Unwrapped unions whose branches all take objects, nested: trying them is exponential in the
 * depth, and is cut off instead of hanging. */
static void unwrapped_trials_are_bounded(void **state) {
    (void)state;
    pb_schema_t *s =
        parse("{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":\"n\",\"type\":"
              "[\"null\",\"N\",{\"type\":\"record\",\"name\":\"M\",\"fields\":[{\"name\":"
              "\"n\",\"type\":[\"null\",\"N\",\"M\"]},{\"name\":\"m\",\"type\":\"int\"}]}]}]}");
    json_t *v = json_pack("{s:n}", "n");
    for (int i = 0; i < 50; i++)
        v = json_pack("{s:o}", "n", v);
    pb_buf_t b = {0};
    pb_err_t err = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(enc_json(s, v, PB_CODEC_UNWRAPPED_UNIONS, &b, NULL, &err), PB_ERR_TOO_LARGE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_non_null(strstr(err.msg, "too ambiguous"));
    assert_true(t1.tv_sec - t0.tv_sec < 2);
    assert_int_equal(b.len, 0);
    /* a shallow one still decides: M needs "m", so only N takes {"n": null} */
    json_t *w = json_pack("{s:{s:n}}", "n", "n");
    assert_int_equal(enc_json(s, w, PB_CODEC_UNWRAPPED_UNIONS, &b, NULL, &err), 0);
    assert_memory_equal(b.data, "\x02\x00", 2);
    json_decref(v);
    json_decref(w);
    pb_buf_free(&b);
    pb_schema_destroy(s);
}

/* ---- resolver: many fields reordered (span table on the heap), threads ---- */

static void wide_reorder(void **state) {
    (void)state;
    char w[8192] = "{\"type\":\"record\",\"name\":\"W\",\"fields\":[",
         r[8192] = "{\"type\":\"record\",\"name\":\"W\",\"fields\":[";
    char datum[4096] = "{", want[4096] = "{";
    for (int i = 0; i < 50; i++) {
        char f[128];
        snprintf(f, sizeof f, "%s{\"name\":\"f%d\",\"type\":\"int\"}", i ? "," : "", i);
        strcat(w, f);
        snprintf(f, sizeof f, "%s{\"name\":\"f%d\",\"type\":\"long\"}", i ? "," : "", 49 - i);
        strcat(r, f);
        snprintf(f, sizeof f, "%s\"f%d\":%d", i ? "," : "", i, i * 1000);
        strcat(datum, f);
        snprintf(f, sizeof f, "%s\"f%d\":%d", i ? "," : "", 49 - i, (49 - i) * 1000);
        strcat(want, f);
    }
    strcat(w, "]}");
    strcat(r, ",{\"name\":\"extra\",\"type\":\"string\",\"default\":\"x\"}]}");
    strcat(datum, "}");
    strcat(want, ",\"extra\":\"x\"}");
    pb_schema_t *ws = parse(w), *rs = parse(r);
    pb_resolver_t *res = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_resolver_new(ws, rs, &res, &err), 0);
    json_t *v = js(datum);
    pb_buf_t a = {0}, b = {0}, t = {0};
    pb_buf_append(&b, "xy", 2);
    assert_int_equal(enc_json(ws, v, 0, &a, NULL, &err), 0);
    assert_int_equal(pb_resolver_run(res, a.data, a.len, &b, &err), 0);
    assert_memory_equal(b.data, "xy", 2);
    assert_int_equal(pb_codec_avro_to_json_text(rs, b.data + 2, b.len - 2, 0, &t, &err), 0);
    pb_buf_putc(&t, 0);
    assert_string_equal((char *)t.data, want);
    json_decref(v);
    pb_buf_free(&a);
    pb_buf_free(&b);
    pb_buf_free(&t);
    pb_resolver_destroy(res);
    pb_schema_destroy(ws);
    pb_schema_destroy(rs);
}

typedef struct {
    const pb_resolver_t *r;
    const pb_buf_t *in, *want;
    int bad;
} job_t;

static void *worker(void *arg) {
    job_t *j = arg;
    pb_buf_t out = {0};
    pb_err_t err = {0};
    for (int i = 0; i < 20000 && !j->bad; i++) {
        pb_buf_reset(&out);
        if (pb_resolver_run(j->r, j->in->data, j->in->len, &out, &err) || out.len != j->want->len ||
            memcmp(out.data, j->want->data, out.len))
            j->bad = 1;
    }
    pb_buf_free(&out);
    return NULL;
}

static void threads_share_a_plan(void **state) {
    (void)state;
    pb_schema_t *ws = parse(
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"b\",\"type\":\"string\"},"
        "{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":"
        "\"E\",\"symbols\":[\"X\",\"Y\"]}}]}");
    pb_schema_t *rs = parse(
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"double\"},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"Y\",\"X\"]}},"
        "{\"name\":\"b\",\"type\":\"bytes\"}]}");
    pb_resolver_t *r = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_resolver_new(ws, rs, &r, &err), 0);
    json_t *v = js("{\"b\":\"hello\",\"a\":-3,\"e\":\"Y\"}");
    pb_buf_t in = {0}, want = {0};
    assert_int_equal(enc_json(ws, v, 0, &in, NULL, &err), 0);
    assert_int_equal(pb_resolver_run(r, in.data, in.len, &want, &err), 0);
    /* a = -3.0 (LE double), e = Y at reader index 0, b = "hello" */
    assert_memory_equal(want.data, "\x00\x00\x00\x00\x00\x00\x08\xc0\x00\x0ahello", 16);
    pthread_t th[4];
    job_t jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job_t){r, &in, &want, 0};
        pthread_create(&th[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].bad, 0);
    }
    json_decref(v);
    pb_buf_free(&in);
    pb_buf_free(&want);
    pb_resolver_destroy(r);
    pb_schema_destroy(ws);
    pb_schema_destroy(rs);
}

static void resolver_destroy_null(void **state) {
    (void)state;
    pb_resolver_destroy(NULL);
}

/* ---- cross-check with avro-c on a realistic record ---- */

static const char *TRIP =
    "{\"type\":\"record\",\"name\":\"TripEvent\",\"namespace\":\"com.acme.trips\",\"fields\":["
    "{\"name\":\"tripId\",\"type\":\"string\"},"
    "{\"name\":\"driverId\",\"type\":\"string\"},"
    "{\"name\":\"occurredAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"distanceKm\",\"type\":\"double\"},"
    "{\"name\":\"passengers\",\"type\":\"int\"},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\",\"symbols\":["
    "\"REQUESTED\",\"STARTED\",\"COMPLETED\",\"CANCELLED\"]}},"
    "{\"name\":\"pickup\",\"type\":{\"type\":\"record\",\"name\":\"Location\",\"fields\":[{"
    "\"name\":\"lat\",\"type\":\"double\"},"
    "{\"name\":\"lon\",\"type\":\"double\"},{\"name\":\"city\",\"type\":\"string\"}]}},"
    "{\"name\":\"promoCode\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"fare\",\"type\":\"float\"}]}";

static const char *TRIP_DATUM = "{\"tripId\":\"7f3c9a52-1e7b-4c0e-9d6a-2b8f5e4a1c33\",\"driverId\":"
                                "\"drv-00421\",\"occurredAt\":1717171717171,"
                                "\"distanceKm\":12.75,\"passengers\":2,\"status\":\"COMPLETED\","
                                "\"pickup\":{\"lat\":52.520008,\"lon\":13.404954,"
                                "\"city\":\"Berlin\"},\"promoCode\":{\"string\":\"SUMMER24\"},"
                                "\"tags\":[\"airport\",\"night\",\"card\"],\"fare\":31.5}";

static void same_bytes_as_avro_c(void **state) {
    (void)state;
    avro_schema_t as;
    assert_int_equal(avro_schema_from_json_length(TRIP, strlen(TRIP), &as), 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(as);
    avro_value_t rec, f, g, br;
    avro_generic_value_new(iface, &rec);
    avro_value_get_by_name(&rec, "tripId", &f, NULL);
    avro_value_set_string(&f, "7f3c9a52-1e7b-4c0e-9d6a-2b8f5e4a1c33");
    avro_value_get_by_name(&rec, "driverId", &f, NULL);
    avro_value_set_string(&f, "drv-00421");
    avro_value_get_by_name(&rec, "occurredAt", &f, NULL);
    avro_value_set_long(&f, 1717171717171LL);
    avro_value_get_by_name(&rec, "distanceKm", &f, NULL);
    avro_value_set_double(&f, 12.75);
    avro_value_get_by_name(&rec, "passengers", &f, NULL);
    avro_value_set_int(&f, 2);
    avro_value_get_by_name(&rec, "status", &f, NULL);
    avro_value_set_enum(&f, 2);
    avro_value_get_by_name(&rec, "pickup", &f, NULL);
    avro_value_get_by_name(&f, "lat", &g, NULL);
    avro_value_set_double(&g, 52.520008);
    avro_value_get_by_name(&f, "lon", &g, NULL);
    avro_value_set_double(&g, 13.404954);
    avro_value_get_by_name(&f, "city", &g, NULL);
    avro_value_set_string(&g, "Berlin");
    avro_value_get_by_name(&rec, "promoCode", &f, NULL);
    avro_value_set_branch(&f, 1, &br);
    avro_value_set_string(&br, "SUMMER24");
    avro_value_get_by_name(&rec, "tags", &f, NULL);
    const char *tags[] = {"airport", "night", "card"};
    for (int i = 0; i < 3; i++) {
        avro_value_append(&f, &g, NULL);
        avro_value_set_string(&g, tags[i]);
    }
    avro_value_get_by_name(&rec, "fare", &f, NULL);
    avro_value_set_float(&f, 31.5f);
    char buf[1024];
    avro_writer_t w = avro_writer_memory(buf, sizeof buf);
    assert_int_equal(avro_value_write(w, &rec), 0);
    size_t n = (size_t)avro_writer_tell(w);

    pb_schema_t *s = parse(TRIP);
    json_t *v = js(TRIP_DATUM);
    pb_buf_t b = {0}, t = {0};
    pb_err_t err = {0};
    assert_int_equal(enc_json(s, v, 0, &b, NULL, &err), 0);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, buf, n);
    /* and back to the same JSON */
    assert_int_equal(pb_codec_avro_to_json_text(s, b.data, b.len, 0, &t, &err), 0);
    json_t *back = json_loadb((const char *)t.data, t.len, 0, NULL);
    assert_true(json_equal(back, v));

    json_decref(back);
    json_decref(v);
    pb_buf_free(&b);
    pb_buf_free(&t);
    pb_schema_destroy(s);
    avro_writer_free(w);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(as);
}

/* Avro's JSON encoding of a decimal whose bytes hold a zero (2.56 = 0x01 0x00): accepted without
 * PB_CODEC_NATURAL (publish's encoding=avro) by both encoders, NUL included; natural JSON refuses
 * it as decimal text. */
static void avro_json_decimal_with_nul(void **state) {
    (void)state;
    static const char sch[] =
        "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":4,\"scale\":2}";
    static const char text[] = "\"\\u0001\\u0000\"";
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_schema_parse(sch, strlen(sch), &s, &err), 0);
    pb_jsontok_t tk = {0};
    size_t root = 0;
    assert_int_equal(pb_jsontok_parse(&tk, text, strlen(text), &root, &err), 0);
    pb_buf_t b = {0};
    assert_int_equal(pb_codec_tokens_to_avro(s, &tk, root, 0, &b, NULL, &err), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "\x04\x01\x00", 3);
    /* and back: Avro's JSON encoding gives the same text */
    pb_buf_t t = {0};
    assert_int_equal(pb_codec_avro_to_json_text(s, b.data + 0, b.len, 0, &t, &err), 0);
    assert_int_equal(t.len, strlen(text));
    assert_memory_equal(t.data, text, t.len);
    b.len = 0;
    pb_codec_error_t d;
    assert_int_equal(pb_codec_tokens_to_avro(s, &tk, root, PB_CODEC_NATURAL, &b, &d, &err),
                     PB_ERR_INVALID);
    assert_int_equal(b.len, 0);
    assert_non_null(strstr(d.reason, "is not a decimal number"));
    pb_buf_free(&t);
    pb_buf_free(&b);
    pb_jsontok_free(&tk);
    pb_schema_destroy(s);
}

/* A map key and a string may hold U+0000 (jsontok reads RFC 8259; jansson could not). */
static void nul_in_map_keys(void **state) {
    (void)state;
    static const char sch[] = "{\"type\":\"map\",\"values\":\"string\"}";
    static const char text[] = "{\"a\\u0000b\":\"x\\u0000\"}";
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    assert_int_equal(pb_schema_parse(sch, strlen(sch), &s, &err), 0);
    pb_buf_t b = {0}, t = {0};
    assert_int_equal(pb_codec_text_to_avro(s, text, strlen(text), 0, &b, NULL, &err), 0);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "\x02\x06\x61\x00\x62\x04x\x00\x00", 9);
    assert_int_equal(pb_codec_avro_to_json_text(s, b.data, b.len, 0, &t, &err), 0);
    assert_int_equal(t.len, strlen(text));
    assert_memory_equal(t.data, text, t.len);
    pb_buf_free(&b);
    pb_buf_free(&t);
    pb_schema_destroy(s);
}

/* Text that is not JSON: the message says where, never a library's flag. */
static void not_json_says_where(void **state) {
    (void)state;
    pb_schema_t *s = parse("\"string\"");
    pb_buf_t b = {0};
    pb_err_t err = {0};
    pb_codec_error_t d;
    assert_int_equal(pb_codec_text_to_avro(s, "[1,\n 2,}", 9, 0, &b, &d, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not JSON: line 2 column 4 (byte 7)"));
    assert_int_equal(b.len, 0);
    pb_schema_destroy(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wire_roundtrip),
        cmocka_unit_test(wire_errors),
        cmocka_unit_test(error_detail_and_buffer),
        cmocka_unit_test(long_path_is_cut),
        cmocka_unit_test(to_json_value),
        cmocka_unit_test(doubles_round_trip),
        cmocka_unit_test(nesting_limit),
        cmocka_unit_test(unwrapped_trials_are_bounded),
        cmocka_unit_test(wide_reorder),
        cmocka_unit_test(threads_share_a_plan),
        cmocka_unit_test(resolver_destroy_null),
        cmocka_unit_test(same_bytes_as_avro_c),
        cmocka_unit_test(avro_json_decimal_with_nul),
        cmocka_unit_test(nul_in_map_keys),
        cmocka_unit_test(not_json_says_where),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
