/* libFuzzer: arbitrary bytes parsed as a Confluent frame, and decoded against fixed schemas (the
 * first byte picks the schema). Decode, validate and both resolvers must agree on valid/invalid
 * and never crash or over-read; a decoded datum must re-encode, and decode -> encode must be
 * stable from there on. Natural JSON (DESIGN.md §5a), on the picked schema and on one holding
 * every logical type: a valid datum decodes, its text encodes again (unless a decimal has more
 * digits than its precision) and is stable from there on (encode -> decode -> encode). */
#include <stdint.h>
#include <stdio.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char logical_schema[] =
    "{\"type\":\"record\",\"name\":\"L\",\"fields\":["
    "{\"name\":\"d\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":"
    "40,\"scale\":2}},"
    "{\"name\":\"fd\",\"type\":{\"type\":\"fixed\",\"name\":\"FD\",\"size\":5,\"logicalType\":"
    "\"decimal\",\"precision\":12,\"scale\":3}},"
    "{\"name\":\"u\",\"type\":[\"null\",{\"type\":\"bytes\",\"logicalType\":\"decimal\","
    "\"precision\":9,\"scale\":0}]},"
    "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"tm\",\"type\":{\"type\":\"int\",\"logicalType\":\"time-millis\"}},"
    "{\"name\":\"tu\",\"type\":{\"type\":\"long\",\"logicalType\":\"time-micros\"}},"
    "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
    "{\"name\":\"lt\",\"type\":{\"type\":\"long\",\"logicalType\":\"local-timestamp-millis\"}}"
    "]}";

/* Natural JSON of in[0..size) in schema s (valid: whether it is a datum of s). */
static void natural_stable(const pb_schema_t *s, const uint8_t *in, size_t size, int valid) {
    pb_err_t err = {0};
    pb_buf_t t1 = {0}, b1 = {0}, t2 = {0}, b2 = {0};
    int ok = pb_codec_avro_to_json_text(s, in, size, PB_CODEC_NATURAL, &t1, &err) == 0;
    /* natural JSON prints every valid datum but a decimal of more digits than it handles */
    FUZZ_CHECK(ok == valid || (valid && strstr(err.msg, "read it with encoding=avro")));
    if (ok) {
        unsigned enc = PB_CODEC_NATURAL | PB_CODEC_UNWRAPPED_UNIONS;
        if (pb_codec_text_to_avro(s, (const char *)t1.data, t1.len, enc, &b1, NULL, &err) == 0) {
            /* stable from there on */
            FUZZ_CHECK(
                pb_codec_avro_to_json_text(s, b1.data, b1.len, PB_CODEC_NATURAL, &t2, &err) == 0);
            FUZZ_CHECK(
                pb_codec_text_to_avro(s, (const char *)t2.data, t2.len, enc, &b2, NULL, &err) == 0);
            FUZZ_CHECK(buf_eq(&b1, &b2));
        } else {
            /* the refusals: bytes written by someone else beyond the decimal's precision, and a
             * map whose decoded text repeats a key (jsontok refuses duplicate keys) */
            FUZZ_CHECK(strstr(err.msg, "(precision ") != NULL ||
                       strstr(err.msg, "duplicate object key") != NULL);
        }
    }
    pb_buf_free(&t1);
    pb_buf_free(&b1);
    pb_buf_free(&t2);
    pb_buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_setup();
    /* the whole input as a Confluent frame */
    uint32_t id;
    const uint8_t *payload;
    size_t plen;
    pb_err_t ferr = {0};
    if (pb_codec_wire_parse(data, size, &id, &payload, &plen, &ferr) == 0)
        FUZZ_CHECK(size >= 5 && data[0] == 0 && id <= INT32_MAX && payload == data + 5 &&
                   plen == size - 5);
    else
        FUZZ_CHECK(ferr.msg[0] != '\0' && (size < 5 || data[0] != 0 || data[1] >= 0x80));
    if (size < 1) return 0;
    int k = data[0] % N_FUZZ_SCHEMAS;
    data++;
    size--;
    /* a private copy, so ASan catches any read past the end */
    uint8_t *in = malloc(size ? size : 1);
    if (!in) return 0;
    memcpy(in, data, size);
    pb_err_t err = {0};
    pb_buf_t t = {0}, b = {0}, o = {0};
    int valid = pb_codec_validate(fuzz_w[k], in, size, &err) == 0;
    int decoded = pb_codec_avro_to_json_text(fuzz_w[k], in, size, 0, &t, &err) == 0;
    FUZZ_CHECK(valid == decoded);
    int resolved = pb_resolver_run(fuzz_id[k], in, size, &o, &err) == 0;
    FUZZ_CHECK(resolved == valid);
    pb_buf_reset(&o);
    int evolved = pb_resolver_run(fuzz_res[k], in, size, &o, &err) == 0;
    if (evolved) {
        FUZZ_CHECK(valid);
        FUZZ_CHECK(pb_codec_validate(fuzz_r[k], o.data, o.len, &err) == 0);
    }
    natural_stable(fuzz_w[k], in, size, valid);
    static pb_schema_t *logical;
    if (!logical && pb_schema_parse(logical_schema, strlen(logical_schema), &logical, &err)) {
        fprintf(stderr, "fuzz setup, logical schema: %s\n", err.msg);
        abort();
    }
    natural_stable(logical, in, size, pb_codec_validate(logical, in, size, &err) == 0);
    if (decoded) {
        /* a decoded map may repeat a key (Avro allows it, JSON readers do not): the only text
         * that may be refused */
        int rc = pb_codec_text_to_avro(fuzz_w[k], (const char *)t.data, t.len, 0, &b, NULL, &err);
        FUZZ_CHECK(rc == 0 || strstr(err.msg, "duplicate object key") != NULL);
        if (rc == 0) fuzz_check_encoded(k, &b);
    }
    pb_buf_free(&t);
    pb_buf_free(&b);
    pb_buf_free(&o);
    free(in);
    return 0;
}
