/* libFuzzer: arbitrary bytes parsed as a Confluent frame, and decoded against fixed schemas (the
 * first byte picks the schema). Decode, validate and both resolvers must agree on valid/invalid
 * and never crash or over-read; a decoded datum must re-encode, and decode -> encode must be
 * stable from there on. */
#include <stdint.h>
#include <stdio.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    if (decoded) {
        json_t *v = json_loadb((const char *)t.data, t.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        /* jansson cannot hold U+0000 inside an object key: the only text it may refuse */
        FUZZ_CHECK(v != NULL || memmem(t.data, t.len, "\\u0000", 6) != NULL);
        if (v) {
            FUZZ_CHECK(pb_codec_json_to_avro(fuzz_w[k], v, 0, &b, NULL, &err) == 0);
            fuzz_check_encoded(k, &b);
            json_decref(v);
        }
    }
    pb_buf_free(&t);
    pb_buf_free(&b);
    pb_buf_free(&o);
    free(in);
    return 0;
}
