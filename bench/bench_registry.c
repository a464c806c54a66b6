/*
 * bench_registry — how long the registry takes to register a new schema version against a long
 * history under FULL_TRANSITIVE (every live version checked both ways), and to replay a log of
 * 10,000 records (what every instance does at start). Prints a small table; exits 1 when a step
 * fails (a wrong result is not a benchmark).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "registry.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A realistic record schema (a dozen fields, a nested record, an enum, a union) whose doc names
 * the version, so every version is a distinct, mutually FULL-compatible schema. */
static void schema_text(char *out, size_t cap, int version) {
    snprintf(
        out, cap,
        "{\"type\":\"record\",\"name\":\"Trip\",\"namespace\":\"com.acme.logistics\","
        "\"doc\":\"version %d\",\"fields\":["
        "{\"name\":\"tripId\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
        "{\"name\":\"vehicle\",\"type\":\"string\"},"
        "{\"name\":\"driver\",\"type\":[\"null\",\"string\"],\"default\":null},"
        "{\"name\":\"startedAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}"
        ","
        "{\"name\":\"from\",\"type\":{\"type\":\"record\",\"name\":\"Geo\",\"fields\":["
        "{\"name\":\"lat\",\"type\":\"double\"},{\"name\":\"lon\",\"type\":\"double\"}]}},"
        "{\"name\":\"to\",\"type\":\"Geo\"},"
        "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\",\"symbols\":"
        "[\"PLANNED\",\"RUNNING\",\"DONE\",\"CANCELLED\"],\"default\":\"PLANNED\"}},"
        "{\"name\":\"distanceKm\",\"type\":\"double\",\"default\":0},"
        "{\"name\":\"stops\",\"type\":{\"type\":\"array\",\"items\":\"Geo\"},\"default\":[]},"
        "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"string\"},\"default\":{}}]}",
        version);
}

static int apply(pb_registry_t *r, pb_buf_t *b, pb_registry_result_t *res) {
    int rc = pb_registry_apply(r, -1, (const char *)b->data, b->len, res);
    pb_buf_reset(b);
    return rc;
}

static int record_register(pb_buf_t *b, const char *subject, int version) {
    char schema[4096];
    pb_err_t err = {0};
    schema_text(schema, sizeof schema, version);
    if (pb_registry_record_register(b, "bench", subject, schema, strlen(schema), &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* Register n versions, then time one more under FULL_TRANSITIVE. */
static int bench_register(int n, double *ms) {
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    pb_buf_t b = {0};
    pb_err_t err = {0};
    int rc = 1;
    if (pb_registry_record_config(&b, "bench", "trips-value", PB_COMPAT_NONE, &err)) goto done;
    apply(r, &b, &res);
    for (int i = 1; i <= n; i++) {
        if (record_register(&b, "trips-value", i)) goto done;
        apply(r, &b, &res);
        if (res.error_code != 0 || res.version != i) goto done;
    }
    if (pb_registry_record_config(&b, "bench", "trips-value", PB_COMPAT_FULL_TRANSITIVE, &err))
        goto done;
    apply(r, &b, &res);
    /* Five more versions, one at a time; the median is reported. */
    double t[5];
    for (int k = 0; k < 5; k++) {
        if (record_register(&b, "trips-value", n + 1 + k)) goto done;
        double t0 = now();
        apply(r, &b, &res);
        t[k] = (now() - t0) * 1e3;
        if (res.error_code != 0 || res.version != n + 1 + k) {
            fprintf(stderr, "bench: register %d: error %d %s\n", n + 1 + k, res.error_code,
                    res.message);
            goto done;
        }
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (t[j] < t[i]) {
                double x = t[i];
                t[i] = t[j];
                t[j] = x;
            }
    *ms = t[2];
    rc = 0;
done:
    pb_buf_free(&b);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
    return rc;
}

/* Replay 10,000 register records: 100 subjects x 100 versions, default level BACKWARD. */
static int bench_replay(double *ms, size_t *bytes) {
    enum { SUBJECTS = 100, VERSIONS = 100 };
    pb_buf_t *recs = calloc(SUBJECTS * VERSIONS, sizeof *recs);
    pb_registry_t *r = pb_registry_new();
    pb_registry_result_t res = {0};
    int rc = 1;
    *bytes = 0;
    if (!recs || !r) goto done;
    for (int v = 0; v < VERSIONS; v++)
        for (int s = 0; s < SUBJECTS; s++) {
            char subject[64];
            snprintf(subject, sizeof subject, "topic-%03d-value", s);
            if (record_register(&recs[v * SUBJECTS + s], subject, v + 1)) goto done;
            *bytes += recs[v * SUBJECTS + s].len;
        }
    double t0 = now();
    for (int i = 0; i < SUBJECTS * VERSIONS; i++) {
        pb_registry_apply(r, i, (const char *)recs[i].data, recs[i].len, &res);
        if (res.error_code != 0) goto done;
    }
    *ms = (now() - t0) * 1e3;
    rc = 0;
done:
    for (int i = 0; recs && i < SUBJECTS * VERSIONS; i++)
        pb_buf_free(&recs[i]);
    free(recs);
    pb_registry_result_reset(&res);
    pb_registry_destroy(r);
    return rc;
}

int main(void) {
    static const int sizes[] = {10, 100, 1000};
    printf("%-62s %12s\n", "registry operation", "time (ms)");
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        double ms;
        if (bench_register(sizes[i], &ms)) return 1;
        char what[64];
        snprintf(what, sizeof what, "register vs %d live versions, FULL_TRANSITIVE (median of 5)",
                 sizes[i]);
        printf("%-62s %12.2f\n", what, ms);
    }
    double ms;
    size_t bytes;
    if (bench_replay(&ms, &bytes)) return 1;
    printf("%-62s %12.2f\n", "replay 10000 register records (BACKWARD)", ms);
    printf("(replayed log: %zu bytes, %.0f records/s)\n", bytes, 10000 / (ms / 1e3));
    return 0;
}
