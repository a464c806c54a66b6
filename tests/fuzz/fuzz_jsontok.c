/* libFuzzer, differential: jsontok + pb_codec_tokens_to_avro against jansson +
 * pb_codec_json_to_avro (the reference). The first byte picks top-level mode (any value, or an
 * object/array only, as publish's NDJSON and JSON bodies); the rest is the JSON text. Both must
 * accept and refuse the same texts, give the same value, and encode it for every fuzz schema and
 * flag set to the same return code and bytes (see jsontok_diff.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "jsontok_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_setup();
    if (size < 1) return 0;
    char why[512];
    const char *bad = jd_check((const char *)data + 1, size - 1, data[0] & 1, fuzz_w,
                               N_FUZZ_SCHEMAS, why, sizeof why);
    if (bad) {
        fprintf(stderr, "fuzz_jsontok: %s\n", bad);
        abort();
    }
    return 0;
}
