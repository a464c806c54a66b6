/* libFuzzer: JSON text -> Avro binary against fixed schemas, with and without unwrapped unions and
 * unknown-field leniency. Whatever encodes must validate, decode, re-encode to the same bytes and
 * resolve (see fuzz_common.h). */
#include <stdint.h>
#include <stdio.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_setup();
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!v) return 0;
    static const unsigned flags[] = {0, PB_CODEC_UNWRAPPED_UNIONS,
                                     PB_CODEC_UNWRAPPED_UNIONS | PB_CODEC_IGNORE_UNKNOWN_FIELDS};
    for (int k = 0; k < N_FUZZ_SCHEMAS; k++) {
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            pb_buf_t b = {0};
            pb_err_t err = {0};
            pb_codec_error_t d;
            int rc = pb_codec_json_to_avro(fuzz_w[k], v, flags[f], &b, &d, &err);
            if (rc == 0) {
                fuzz_check_encoded(k, &b);
            } else {
                FUZZ_CHECK(b.len == 0);
                FUZZ_CHECK(err.msg[0] != '\0' && d.reason[0] != '\0');
            }
            pb_buf_free(&b);
        }
    }
    json_decref(v);
    return 0;
}
