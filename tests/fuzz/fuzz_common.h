/* Schemas shared by the codec fuzz targets: a realistic record, a recursive record using every
 * type, a zero-size-item array and a union; plus reader schemas for resolution. */
#ifndef PB_FUZZ_COMMON_H
#define PB_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "schema.h"

#define N_FUZZ_SCHEMAS 5

static const char *const fuzz_writers[N_FUZZ_SCHEMAS] = {
    "{\"type\":\"record\",\"name\":\"TripEvent\",\"namespace\":\"com.acme.trips\",\"fields\":["
    "{\"name\":\"tripId\",\"type\":\"string\"},{\"name\":\"driverId\",\"type\":\"string\"},"
    "{\"name\":\"occurredAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"distanceKm\",\"type\":\"double\"},{\"name\":\"passengers\",\"type\":\"int\"},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\",\"symbols\":["
    "\"REQUESTED\",\"STARTED\",\"COMPLETED\",\"CANCELLED\"]}},"
    "{\"name\":\"pickup\",\"type\":{\"type\":\"record\",\"name\":\"Location\",\"fields\":[{"
    "\"name\":\"lat\",\"type\":\"double\"},"
    "{\"name\":\"lon\",\"type\":\"double\"},{\"name\":\"city\",\"type\":\"string\"}]}},"
    "{\"name\":\"promoCode\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},{\"name\":\"fare\","
    "\"type\":\"float\"}]}",

    "{\"type\":\"record\",\"name\":\"N\",\"fields\":["
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"N\",\"string\"]}},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":[\"int\",\"double\",\"bytes\"]}},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}},"
    "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}},"
    "{\"name\":\"b\",\"type\":\"boolean\"},{\"name\":\"l\",\"type\":\"long\"},{\"name\":\"fl\","
    "\"type\":\"float\"},"
    "{\"name\":\"z\",\"type\":{\"type\":\"record\",\"name\":\"Empty\",\"fields\":[]}}]}",

    "{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":\"null\"}}",

    "[\"null\",\"string\",{\"type\":\"array\",\"items\":\"long\"},{\"type\":\"map\",\"values\":"
    "\"float\"},"
    "{\"type\":\"enum\",\"name\":\"Color\",\"symbols\":[\"RED\",\"GREEN\"]},\"int\",\"boolean\"]",

    /* unions whose branches take the same JSON types: unwrapped values are decided by trials */
    "{\"type\":\"array\",\"items\":[{\"type\":\"record\",\"name\":\"B\",\"fields\":[{\"name\":\"x\","
    "\"type\":\"string\"}]},{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"x\",\"type\":"
    "\"int\"},{\"name\":\"y\",\"type\":[\"null\",\"A\",\"B\"],\"default\":null}]},{\"type\":\"map\","
    "\"values\":\"int\"},\"long\",\"double\"]}",
};

/* Readers: drop a field, add defaulted ones, promote, reorder, enum default, union reshuffle. */
static const char *const fuzz_readers[N_FUZZ_SCHEMAS] = {
    "{\"type\":\"record\",\"name\":\"TripEvent\",\"namespace\":\"com.acme.trips\",\"fields\":["
    "{\"name\":\"tripId\",\"type\":\"string\"},"
    "{\"name\":\"occurredAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"distanceKm\",\"type\":\"double\"},{\"name\":\"passengers\",\"type\":\"long\"},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\",\"symbols\":["
    "\"REQUESTED\",\"STARTED\",\"COMPLETED\",\"CANCELLED\"]}},"
    "{\"name\":\"pickup\",\"type\":{\"type\":\"record\",\"name\":\"Location\",\"fields\":[{"
    "\"name\":\"lat\",\"type\":\"double\"},"
    "{\"name\":\"lon\",\"type\":\"double\"},{\"name\":\"city\",\"type\":\"string\"}]}},"
    "{\"name\":\"promoCode\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},{\"name\":\"fare\","
    "\"type\":\"float\"},"
    "{\"name\":\"currency\",\"type\":\"string\",\"default\":\"EUR\"}]}",

    "{\"type\":\"record\",\"name\":\"N\",\"fields\":["
    "{\"name\":\"fl\",\"type\":\"double\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"C\",\"A\",\"OTHER\"]"
    ",\"default\":\"OTHER\"}},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":[\"string\",\"double\",\"long\"]}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":[\"bytes\",\"N\",\"null\"]}},"
    "{\"name\":\"extra\",\"type\":[\"null\",\"N\"],\"default\":null},"
    "{\"name\":\"l\",\"type\":\"float\"}]}",

    "{\"type\":\"array\",\"items\":[\"int\",{\"type\":\"array\",\"items\":\"null\"}]}",

    "[{\"type\":\"map\",\"values\":\"double\"},\"bytes\",\"null\",{\"type\":\"array\",\"items\":"
    "\"double\"},"
    "{\"type\":\"enum\",\"name\":\"Color\",\"symbols\":[\"GREEN\"]},\"long\"]",

    "{\"type\":\"array\",\"items\":[\"double\",{\"type\":\"record\",\"name\":\"B\",\"fields\":[{\"name\":"
    "\"x\",\"type\":\"bytes\"}]},{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"y\",\"type\":"
    "[\"null\",\"B\",\"A\"]},{\"name\":\"x\",\"type\":\"long\"},{\"name\":\"z\",\"type\":\"int\","
    "\"default\":1}]},{\"type\":\"map\",\"values\":\"float\"}]}",
};

static pb_schema_t *fuzz_w[N_FUZZ_SCHEMAS], *fuzz_r[N_FUZZ_SCHEMAS];
static pb_resolver_t *fuzz_id[N_FUZZ_SCHEMAS], *fuzz_res[N_FUZZ_SCHEMAS];

static void fuzz_setup(void) {
    if (fuzz_w[0]) return;
    for (int i = 0; i < N_FUZZ_SCHEMAS; i++) {
        pb_err_t err = {0};
        if (pb_schema_parse(fuzz_writers[i], strlen(fuzz_writers[i]), &fuzz_w[i], &err) ||
            pb_schema_parse(fuzz_readers[i], strlen(fuzz_readers[i]), &fuzz_r[i], &err) ||
            pb_resolver_new(fuzz_w[i], fuzz_w[i], &fuzz_id[i], &err) ||
            pb_resolver_new(fuzz_w[i], fuzz_r[i], &fuzz_res[i], &err)) {
            fprintf(stderr, "fuzz setup, schema %d: %s\n", i, err.msg);
            abort();
        }
    }
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int buf_eq(const pb_buf_t *a, const pb_buf_t *b) {
    return a->len == b->len && (a->len == 0 || !memcmp(a->data, b->data, a->len));
}

/* Our own output must be stable: encoded bytes decode to text, that text encodes to the same
 * bytes, and the identity and evolving resolvers accept them. */
static void fuzz_check_encoded(int k, const pb_buf_t *bin) {
    pb_err_t err = {0};
    pb_buf_t t = {0}, again = {0}, o = {0};
    FUZZ_CHECK(pb_codec_validate(fuzz_w[k], bin->data, bin->len, &err) == 0);
    FUZZ_CHECK(pb_codec_avro_to_json_text(fuzz_w[k], bin->data, bin->len, 0, &t, &err) == 0);
    FUZZ_CHECK(pb_codec_text_to_avro(fuzz_w[k], (const char *)t.data, t.len, 0, &again, NULL,
                                     &err) == 0);
    FUZZ_CHECK(buf_eq(&again, bin));
    FUZZ_CHECK(pb_resolver_run(fuzz_id[k], bin->data, bin->len, &o, &err) == 0);
    FUZZ_CHECK(buf_eq(&o, bin));
    pb_buf_reset(&o);
    if (pb_resolver_run(fuzz_res[k], bin->data, bin->len, &o, &err) == 0)
        FUZZ_CHECK(pb_codec_validate(fuzz_r[k], o.data, o.len, &err) == 0);
    pb_buf_free(&t);
    pb_buf_free(&again);
    pb_buf_free(&o);
}

#endif
