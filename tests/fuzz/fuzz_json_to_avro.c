/* libFuzzer: the data plane's one JSON -> Avro path. The input is JSON text for jsontok (any
 * bytes: whatever it refuses must be refused with a position); accepted text is encoded for every
 * fuzz schema and flag set (Avro's JSON encoding, unwrapped unions, unknown-field leniency,
 * natural JSON). Whatever encodes must validate, decode, re-encode to the same bytes and resolve
 * (fuzz_common.h); natural JSON must round-trip through its own decoding too. Whatever is refused
 * must leave the buffer as it was and say why (the error pass re-walks the tokens). */
#include <stdint.h>
#include <stdio.h>

#include "fuzz_common.h"
#include "jsontok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_setup();
    static pb_jsontok_t tk; /* reused, as publish reuses its scratch */
    /* a private copy, so ASan catches any read past the end (the text is not NUL-terminated) */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    pb_err_t err = {0};
    size_t root = 0;
    pb_jsontok_reset(&tk);
    int prc = pb_jsontok_parse(&tk, text, size, &root, &err);
    if (prc) {
        FUZZ_CHECK(prc == PB_ERR_INVALID && strncmp(err.msg, "line ", 5) == 0);
        FUZZ_CHECK(tk.n == 0);
        free(text);
        return 0;
    }
    FUZZ_CHECK(root == 0 && tk.tok[0].next == tk.n);
    static const unsigned flags[] = {0, PB_CODEC_UNWRAPPED_UNIONS,
                                     PB_CODEC_UNWRAPPED_UNIONS | PB_CODEC_IGNORE_UNKNOWN_FIELDS,
                                     PB_CODEC_NATURAL | PB_CODEC_UNWRAPPED_UNIONS};
    for (int k = 0; k < N_FUZZ_SCHEMAS; k++) {
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            pb_buf_t b = {0}, t = {0}, again = {0};
            pb_codec_error_t d;
            int rc = pb_codec_tokens_to_avro(fuzz_w[k], &tk, root, flags[f], &b, &d, &err);
            if (rc == 0) {
                fuzz_check_encoded(k, &b);
                if (flags[f] & PB_CODEC_NATURAL) {
                    FUZZ_CHECK(pb_codec_avro_to_json_text(fuzz_w[k], b.data, b.len,
                                                          PB_CODEC_NATURAL, &t, &err) == 0);
                    FUZZ_CHECK(pb_codec_text_to_avro(fuzz_w[k], (const char *)t.data, t.len,
                                                     flags[f], &again, NULL, &err) == 0);
                    FUZZ_CHECK(buf_eq(&again, &b));
                }
            } else {
                FUZZ_CHECK(rc == PB_ERR_INVALID || rc == PB_ERR_TOO_LARGE);
                FUZZ_CHECK(b.len == 0);
                FUZZ_CHECK(err.msg[0] != '\0' && d.reason[0] != '\0');
            }
            pb_buf_free(&b);
            pb_buf_free(&t);
            pb_buf_free(&again);
        }
    }
    free(text);
    return 0;
}
