/* libFuzzer: publish bodies (DESIGN.md §9 "HTTP bodies"). The first byte picks the shape: JSON
 * {"records": [...]}, NDJSON, or either zstd-compressed (bounded decompression first). The body is
 * parsed and every record validated against the fuzz schemas; whatever is accepted must be framed
 * values that validate, and headers built for it stay within bounds; whatever is refused must
 * list errors with indexes inside the request. */
#include <stdint.h>
#include <stdio.h>

#include "fuzz_common.h"
#include "publish.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_setup();
    if (size < 1) return 0;
    const pb_publish_limits_t lim = {1 << 20, 64, 4096, 4, 256};
    pb_publish_format_t fmt = (data[0] & 1) ? PB_PUBLISH_NDJSON : PB_PUBLISH_JSON;
    int k = (data[0] >> 2) % N_FUZZ_SCHEMAS;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    pb_buf_t plain = {0}, values = {0};
    pb_err_t err = {0};
    if (data[0] & 2) {
        int rc = pb_publish_unzstd(body, len, (size_t)lim.max_body_bytes, &plain, &err);
        FUZZ_CHECK(rc != 0 || plain.len <= (size_t)lim.max_body_bytes);
        if (rc) {
            FUZZ_CHECK(plain.len == 0 && err.msg[0]);
            pb_buf_free(&plain);
            return 0;
        }
        body = (const char *)plain.data;
        len = plain.len;
    }
    pb_publish_errors_t e = {0};
    pb_publish_scratch_t sc = {0};
    pb_publish_record_t *out = NULL;
    int rc = pb_publish_parse(body, len, fmt, &lim, &sc, &e, &err);
    if (rc) {
        FUZZ_CHECK(err.msg[0]);
        goto out;
    }
    size_t n = sc.n;
    FUZZ_CHECK((int64_t)n <= lim.max_records);
    out = calloc(n ? n : 1, sizeof *out);
    pb_publish_target_t t = {fuzz_w[k],
                             42,
                             k == 0 ? "occurredAt" : NULL,
                             0,
                             (data[0] & 0x80) ? fuzz_w[(k + 1) % N_FUZZ_SCHEMAS] : NULL,
                             0};
    rc = pb_publish_prepare(&t, &lim, &sc, out, &values, &e, &err);
    FUZZ_CHECK(e.n_listed <= e.n_bad && e.n_listed <= PB_PUBLISH_MAX_LISTED_ERRORS);
    for (size_t i = 0; i < e.n_listed; i++)
        FUZZ_CHECK(e.items[i].index < n && e.items[i].reason[0]);
    if (rc == 0) {
        FUZZ_CHECK(e.n_bad == 0);
        pb_publish_stamp_t st = {.source = "urn:s",
                                 .type = "T",
                                 .dataschema = "d",
                                 .contract = "c",
                                 .recorded_time = "2026-01-01T00:00:00.000Z",
                                 .span = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
        for (size_t i = 0; i < n; i++) {
            const uint8_t *v = values.data + out[i].voff;
            FUZZ_CHECK(out[i].vlen >= 5 && v[0] == 0 && v[4] == 42);
            FUZZ_CHECK(pb_codec_validate(fuzz_w[k], v + 5, out[i].vlen - 5, &err) == 0);
            FUZZ_CHECK((int64_t)(out[i].vlen + out[i].klen) <= lim.max_record_bytes);
            pb_publish_hdrbuf_t hb;
            pb_kafka_header_t h[PB_PUBLISH_BROKER_HEADERS + 4];
            size_t nh = pb_publish_headers(&st, &out[i], "id", 2, &hb, h, sizeof h / sizeof h[0]);
            FUZZ_CHECK(nh >= 10 && nh <= sizeof h / sizeof h[0]);
            for (size_t j = 0; j < nh; j++)
                FUZZ_CHECK(h[j].name && h[j].name[0] && (h[j].value || h[j].len == 0));
        }
    } else {
        FUZZ_CHECK(e.n_bad > 0);
    }
out:
    free(out);
    pb_publish_errors_free(&e);
    pb_publish_scratch_free(&sc);
    pb_buf_free(&values);
    pb_buf_free(&plain);
    return 0;
}
