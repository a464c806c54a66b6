/*
 * bench_codec — records/s of the codec's hot paths on a realistic 10-field record, next to avro-c
 * doing the same work in the same run (single thread).
 *
 *   publish  : JSON -> Avro (from jsontok tokens; and from text, tokenizing included)
 *   subscribe: Avro -> JSON text
 *   route    : Avro (writer) -> Avro (reader) with a reader that adds a defaulted field, drops one
 *              and promotes int -> long; plus validate (walk only)
 *
 * Usage: bench_codec [seconds per measurement, default 1]
 */
#include <avro.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "codec.h"
#include "err.h"
#include "schema.h"

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

/* drops driverId, passengers int -> long, adds currency with a default */
static const char *TRIP_READER =
    "{\"type\":\"record\",\"name\":\"TripEvent\",\"namespace\":\"com.acme.trips\",\"fields\":["
    "{\"name\":\"tripId\",\"type\":\"string\"},"
    "{\"name\":\"occurredAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"distanceKm\",\"type\":\"double\"},"
    "{\"name\":\"passengers\",\"type\":\"long\"},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\",\"symbols\":["
    "\"REQUESTED\",\"STARTED\",\"COMPLETED\",\"CANCELLED\"]}},"
    "{\"name\":\"pickup\",\"type\":{\"type\":\"record\",\"name\":\"Location\",\"fields\":[{"
    "\"name\":\"lat\",\"type\":\"double\"},"
    "{\"name\":\"lon\",\"type\":\"double\"},{\"name\":\"city\",\"type\":\"string\"}]}},"
    "{\"name\":\"promoCode\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"fare\",\"type\":\"float\"},"
    "{\"name\":\"currency\",\"type\":\"string\",\"default\":\"EUR\"}]}";

/* avro-c's resolver aborts (double free in avro_resolved_writer_new, avro-c 1.11.1) on a reader
 * field that takes a default; its route row runs this reader: the same minus the added field. */
static const char *TRIP_READER_AVROC =
    "{\"type\":\"record\",\"name\":\"TripEvent\",\"namespace\":\"com.acme.trips\",\"fields\":["
    "{\"name\":\"tripId\",\"type\":\"string\"},"
    "{\"name\":\"occurredAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"distanceKm\",\"type\":\"double\"},"
    "{\"name\":\"passengers\",\"type\":\"long\"},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\",\"symbols\":["
    "\"REQUESTED\",\"STARTED\",\"COMPLETED\",\"CANCELLED\"]}},"
    "{\"name\":\"pickup\",\"type\":{\"type\":\"record\",\"name\":\"Location\",\"fields\":[{"
    "\"name\":\"lat\",\"type\":\"double\"},"
    "{\"name\":\"lon\",\"type\":\"double\"},{\"name\":\"city\",\"type\":\"string\"}]}},"
    "{\"name\":\"promoCode\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"fare\",\"type\":\"float\"}]}";

static const char *DATUM = "{\"tripId\":\"7f3c9a52-1e7b-4c0e-9d6a-2b8f5e4a1c33\",\"driverId\":"
                           "\"drv-00421\",\"occurredAt\":1717171717171,"
                           "\"distanceKm\":12.75,\"passengers\":2,\"status\":\"COMPLETED\","
                           "\"pickup\":{\"lat\":52.520008,\"lon\":13.404954,"
                           "\"city\":\"Berlin\"},\"promoCode\":{\"string\":\"SUMMER24\"},\"tags\":["
                           "\"airport\",\"night\",\"card\"],\"fare\":31.5}";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double seconds = 1.0;

typedef int (*op_fn)(void *ctx);

/* records/s of fn, run in batches until `seconds` have passed */
static double measure(op_fn fn, void *ctx) {
    for (int i = 0; i < 1000; i++) /* warm up */
        if (fn(ctx)) {
            fprintf(stderr, "operation failed\n");
            exit(1);
        }
    long n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 2000; i++)
            fn(ctx);
        n += 2000;
        t = now();
    } while (t - t0 < seconds);
    return n / (t - t0);
}

typedef struct {
    pb_schema_t *s, *rs;
    pb_resolver_t *res, *same;
    json_t *v;            /* the datum for avro-c's side */
    pb_jsontok_t tk, tk2; /* the datum's tokens; a tokenizer for the from-text row */
    size_t root;
    pb_buf_t bin, out;
    /* avro-c */
    avro_schema_t as, ars;
    avro_value_iface_t *iface, *riface, *rwiface;
    avro_value_t val, rval, rwval;
    char abuf[1024];
    size_t alen;
} ctx_t;

static int ours_encode(void *p) {
    ctx_t *c = p;
    pb_buf_reset(&c->out);
    return pb_codec_tokens_to_avro(c->s, &c->tk, c->root, 0, &c->out, NULL, NULL);
}

static int ours_encode_text(void *p) {
    ctx_t *c = p;
    size_t root = 0;
    pb_jsontok_reset(&c->tk2);
    if (pb_jsontok_parse(&c->tk2, DATUM, strlen(DATUM), &root, NULL)) return -1;
    pb_buf_reset(&c->out);
    return pb_codec_tokens_to_avro(c->s, &c->tk2, root, 0, &c->out, NULL, NULL);
}

static int ours_decode(void *p) {
    ctx_t *c = p;
    pb_buf_reset(&c->out);
    return pb_codec_avro_to_json_text(c->s, c->bin.data, c->bin.len, 0, &c->out, NULL);
}

static int ours_validate(void *p) {
    ctx_t *c = p;
    return pb_codec_validate(c->s, c->bin.data, c->bin.len, NULL);
}

static int ours_same(void *p) {
    ctx_t *c = p;
    pb_buf_reset(&c->out);
    return pb_resolver_run(c->same, c->bin.data, c->bin.len, &c->out, NULL);
}

/* avro-c with one schema: read into a generic value and write it back */
static int avroc_read_write(void *p) {
    ctx_t *c = p;
    avro_reader_t r = avro_reader_memory((const char *)c->bin.data, (int64_t)c->bin.len);
    avro_value_reset(&c->val);
    int rc = avro_value_read(r, &c->val);
    avro_reader_free(r);
    if (rc) return rc;
    avro_writer_t w = avro_writer_memory(c->abuf, sizeof c->abuf);
    rc = avro_value_write(w, &c->val);
    avro_writer_free(w);
    return rc;
}

static int ours_resolve(void *p) {
    ctx_t *c = p;
    pb_buf_reset(&c->out);
    return pb_resolver_run(c->res, c->bin.data, c->bin.len, &c->out, NULL);
}

/* avro-c: fill the generic value from a json_t (what a JSON -> avro-c publisher does), write. */
static int fill_from_json(ctx_t *c, json_t *v) {
    avro_value_t f, g, br;
    avro_value_reset(&c->val);
    avro_value_get_by_name(&c->val, "tripId", &f, NULL);
    avro_value_set_string_len(&f, json_string_value(json_object_get(v, "tripId")),
                              json_string_length(json_object_get(v, "tripId")) + 1);
    avro_value_get_by_name(&c->val, "driverId", &f, NULL);
    avro_value_set_string_len(&f, json_string_value(json_object_get(v, "driverId")),
                              json_string_length(json_object_get(v, "driverId")) + 1);
    avro_value_get_by_name(&c->val, "occurredAt", &f, NULL);
    avro_value_set_long(&f, json_integer_value(json_object_get(v, "occurredAt")));
    avro_value_get_by_name(&c->val, "distanceKm", &f, NULL);
    avro_value_set_double(&f, json_number_value(json_object_get(v, "distanceKm")));
    avro_value_get_by_name(&c->val, "passengers", &f, NULL);
    avro_value_set_int(&f, (int32_t)json_integer_value(json_object_get(v, "passengers")));
    avro_value_get_by_name(&c->val, "status", &f, NULL);
    avro_value_set_enum(&f, 2);
    json_t *pk = json_object_get(v, "pickup");
    avro_value_get_by_name(&c->val, "pickup", &f, NULL);
    avro_value_get_by_name(&f, "lat", &g, NULL);
    avro_value_set_double(&g, json_number_value(json_object_get(pk, "lat")));
    avro_value_get_by_name(&f, "lon", &g, NULL);
    avro_value_set_double(&g, json_number_value(json_object_get(pk, "lon")));
    avro_value_get_by_name(&f, "city", &g, NULL);
    avro_value_set_string(&g, json_string_value(json_object_get(pk, "city")));
    avro_value_get_by_name(&c->val, "promoCode", &f, NULL);
    avro_value_set_branch(&f, 1, &br);
    avro_value_set_string(
        &br, json_string_value(json_object_get(json_object_get(v, "promoCode"), "string")));
    avro_value_get_by_name(&c->val, "tags", &f, NULL);
    json_t *tags = json_object_get(v, "tags");
    for (size_t i = 0; i < json_array_size(tags); i++) {
        avro_value_append(&f, &g, NULL);
        avro_value_set_string(&g, json_string_value(json_array_get(tags, i)));
    }
    avro_value_get_by_name(&c->val, "fare", &f, NULL);
    avro_value_set_float(&f, (float)json_number_value(json_object_get(v, "fare")));
    avro_writer_t w = avro_writer_memory(c->abuf, sizeof c->abuf);
    int rc = avro_value_write(w, &c->val);
    c->alen = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    return rc;
}

static int avroc_encode(void *p) {
    ctx_t *c = p;
    return fill_from_json(c, c->v);
}

static int avroc_encode_text(void *p) {
    ctx_t *c = p;
    json_t *v = json_loads(DATUM, 0, NULL);
    int rc = fill_from_json(c, v);
    json_decref(v);
    return rc;
}

/* avro-c's raw encoder: write an already filled value (no JSON in). */
static int avroc_write_only(void *p) {
    ctx_t *c = p;
    avro_writer_t w = avro_writer_memory(c->abuf, sizeof c->abuf);
    int rc = avro_value_write(w, &c->val);
    avro_writer_free(w);
    return rc;
}

static int avroc_decode(void *p) {
    ctx_t *c = p;
    avro_reader_t r = avro_reader_memory((const char *)c->bin.data, (int64_t)c->bin.len);
    avro_value_reset(&c->val);
    int rc = avro_value_read(r, &c->val);
    avro_reader_free(r);
    return rc;
}

static int avroc_decode_json(void *p) {
    ctx_t *c = p;
    int rc = avroc_decode(p);
    char *json = NULL;
    if (!rc) rc = avro_value_to_json(&c->val, 1, &json);
    free(json);
    return rc;
}

static int avroc_resolve(void *p) {
    ctx_t *c = p;
    avro_reader_t r = avro_reader_memory((const char *)c->bin.data, (int64_t)c->bin.len);
    avro_value_reset(&c->rval);
    int rc = avro_value_read(r, &c->rwval);
    avro_reader_free(r);
    if (rc) return rc;
    avro_writer_t w = avro_writer_memory(c->abuf, sizeof c->abuf);
    rc = avro_value_write(w, &c->rval);
    avro_writer_free(w);
    return rc;
}

int main(int argc, char **argv) {
    if (argc > 1) seconds = atof(argv[1]);
    ctx_t c = {0};
    pb_err_t err = {0};
    if (pb_schema_parse(TRIP, strlen(TRIP), &c.s, &err) ||
        pb_schema_parse(TRIP_READER, strlen(TRIP_READER), &c.rs, &err) ||
        pb_resolver_new(c.s, c.rs, &c.res, &err) || pb_resolver_new(c.s, c.s, &c.same, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    c.v = json_loads(DATUM, 0, NULL);
    if (pb_jsontok_parse(&c.tk, DATUM, strlen(DATUM), &c.root, &err) ||
        pb_codec_tokens_to_avro(c.s, &c.tk, c.root, 0, &c.bin, NULL, &err)) {
        fprintf(stderr, "encode: %s\n", err.msg);
        return 1;
    }
    if (avro_schema_from_json_length(TRIP, strlen(TRIP), &c.as) ||
        avro_schema_from_json_length(TRIP_READER_AVROC, strlen(TRIP_READER_AVROC), &c.ars)) {
        fprintf(stderr, "avro-c schema: %s\n", avro_strerror());
        return 1;
    }
    c.iface = avro_generic_class_from_schema(c.as);
    avro_generic_value_new(c.iface, &c.val);
    c.riface = avro_generic_class_from_schema(c.ars);
    avro_generic_value_new(c.riface, &c.rval);
    c.rwiface = avro_resolved_writer_new(c.as, c.ars);
    if (!c.rwiface) {
        fprintf(stderr, "avro-c resolver: %s\n", avro_strerror());
        return 1;
    }
    avro_resolved_writer_new_value(c.rwiface, &c.rwval);
    avro_resolved_writer_set_dest(&c.rwval, &c.rval);

    /* both sides must produce the same bytes before we time anything */
    avroc_encode(&c);
    if (c.alen != c.bin.len || memcmp(c.abuf, c.bin.data, c.alen)) {
        fprintf(stderr, "avro-c and portbroker encodings differ\n");
        return 1;
    }

    struct {
        const char *name;
        op_fn ours, theirs;
    } rows[] = {
        {"encode JSON->Avro (tokens vs json_t)", ours_encode, avroc_encode},
        {"encode JSON text->Avro (+ parse)", ours_encode_text, avroc_encode_text},
        {"decode Avro->JSON text", ours_decode, avroc_decode_json},
        {"decode Avro (walk/validate vs avro-c read)", ours_validate, avroc_decode},
        {"route: decode->resolve->encode", ours_resolve, avroc_resolve},
        {"route, reader = writer (validate + copy)", ours_same, avroc_read_write},
    };
    printf("record: %zu bytes Avro, %zu bytes JSON; %.1f s per measurement, one thread\n",
           c.bin.len, strlen(DATUM), seconds);
    printf("%-44s %14s %14s %8s\n", "operation", "portbroker/s", "avro-c/s", "ratio");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double a = measure(rows[i].ours, &c), b = measure(rows[i].theirs, &c);
        printf("%-44s %14.0f %14.0f %7.2fx\n", rows[i].name, a, b, a / b);
    }
    avroc_encode(&c); /* leave a filled value for the raw write */
    double raw = measure(avroc_write_only, &c);
    printf("%-44s %14s %14.0f %7.2fx\n", "  avro-c raw write of a filled value", "-", raw,
           measure(ours_encode, &c) / raw);
    printf("(ratio on that line: our JSON->Avro from tokens over avro-c's raw write;\n"
           " avro-c decode->JSON: avro_value_read + avro_value_to_json; avro-c route: "
           "avro_resolved_writer\n"
           " read + avro_value_write, with a reader that only drops and promotes: avro-c 1.11.1 "
           "aborts on\n"
           " a reader field that takes a default)\n");

    avro_value_decref(&c.rwval);
    avro_value_iface_decref(c.rwiface);
    avro_value_decref(&c.rval);
    avro_value_iface_decref(c.riface);
    avro_value_decref(&c.val);
    avro_value_iface_decref(c.iface);
    avro_schema_decref(c.as);
    avro_schema_decref(c.ars);
    json_decref(c.v);
    pb_jsontok_free(&c.tk);
    pb_jsontok_free(&c.tk2);
    pb_buf_free(&c.bin);
    pb_buf_free(&c.out);
    pb_resolver_destroy(c.res);
    pb_resolver_destroy(c.same);
    pb_schema_destroy(c.s);
    pb_schema_destroy(c.rs);
    return 0;
}
