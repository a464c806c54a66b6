/* Unit tests for kafka.c against a real in-process embedded cluster: topic creation (direct and
 * through the control topic), produce with delivery reports, the log follower's replay, caught-up
 * tracking and live following. Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "kafka.h"
#include "loop.h"

static pb_kafka_cluster_t *cluster;
static pb_config_t *cfg;

static int setup(void **state) {
    (void)state;
    pb_err_t err = {0};
    cluster = pb_kafka_cluster_new(1, &err);
    cfg = pb_config_new();
    return cluster && cfg ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    pb_kafka_cluster_destroy(cluster);
    pb_config_destroy(cfg);
    return 0;
}

/* Serve fd-driven events until *done or ms pass. */
static void pump(int fd, void (*serve)(void *), void *arg, int *done, int ms) {
    int64_t end = pb_loop_now_ms() + ms;
    while (!*done && pb_loop_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 50);
        serve(arg);
    }
}

static int acked, failed;
static int64_t last_offset;
static void on_dr(void *opaque, int code, const char *reason, int32_t partition, int64_t offset) {
    (void)reason;
    (void)partition;
    int *count = opaque;
    (*count)++;
    if (code)
        failed++;
    else
        acked++;
    last_offset = offset;
}
static void serve_kafka(void *k) { pb_kafka_serve(k); }

static void produce_and_ack(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cluster), cluster, &err);
    assert_non_null(k);
    assert_true(pb_kafka_is_embedded(k));
    int actual = 0;
    assert_int_equal(pb_kafka_ensure_topic(k, "t.six", 6, 10000, &actual, &err), 0);
    assert_int_equal(actual, 6);
    assert_int_equal(pb_kafka_partition_count(k, "t.six", 5000, &err), 6);
    assert_int_equal(pb_kafka_partition_count(k, "t.absent", 5000, &err), -1);
    /* Asking did not create it. */
    assert_int_equal(pb_kafka_partition_count(k, "t.absent", 5000, &err), -1);
    int count = 0;
    pb_kafka_header_t h[] = {{"ce_id", "abc", 3}};
    acked = failed = 0;
    for (int i = 0; i < 10; i++)
        assert_int_equal(pb_kafka_produce(k, "t.six", 2, "k", 1, "v", 1, h, 1, on_dr, &count, &err),
                         0);
    int done = 0;
    for (int64_t end = pb_loop_now_ms() + 10000; count < 10 && pb_loop_now_ms() < end;)
        pump(pb_kafka_wake_fd(k), serve_kafka, k, &done, 100);
    assert_int_equal(acked, 10);
    assert_int_equal(failed, 0);
    assert_int_equal(last_offset, 9);
    assert_int_equal(pb_kafka_produce(k, "t.six", 99, "k", 1, "v", 1, NULL, 0, on_dr, &count, &err),
                     PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "produce to t.six"));
    assert_int_equal(pb_kafka_destroy(k, 5000), 0);
}

static void control_topic_creates(void **state) {
    (void)state;
    pb_err_t err = {0};
    /* A client that is not given the cluster handle finds the control topic in the metadata. */
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cluster), NULL, &err);
    assert_non_null(k);
    assert_true(pb_kafka_is_embedded(k));
    int actual = 0;
    assert_int_equal(pb_kafka_ensure_topic(k, "t.via.control", 5, 10000, &actual, &err), 0);
    assert_int_equal(actual, 5);
    /* Existing topic with another count: kept, count reported. */
    assert_int_equal(pb_kafka_ensure_topic(k, "t.via.control", 7, 10000, &actual, &err), 0);
    assert_int_equal(actual, 5);
    pb_kafka_destroy(k, 1000);
}

static int n_seen;
static int64_t seen[64];
static char seen_val[64][16];
static void on_record(void *arg, int64_t offset, const void *key, size_t klen, const void *val,
                      size_t vlen) {
    (void)arg;
    (void)key;
    (void)klen;
    if (n_seen < 64) {
        seen[n_seen] = offset;
        snprintf(seen_val[n_seen], sizeof seen_val[0], "%.*s", (int)vlen, (const char *)val);
    }
    n_seen++;
}
static void serve_log(void *l) { pb_kafka_log_serve(l); }

static void log_follower(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cluster), cluster, &err);
    assert_non_null(k);
    assert_int_equal(pb_kafka_ensure_topic(k, "t.log", 1, 10000, NULL, &err), 0);
    int count = 0, done = 0;
    char v[16];
    for (int i = 0; i < 5; i++) {
        snprintf(v, sizeof v, "r%d", i);
        assert_int_equal(
            pb_kafka_produce(k, "t.log", 0, NULL, 0, v, strlen(v), NULL, 0, on_dr, &count, &err),
            0);
    }
    for (int64_t end = pb_loop_now_ms() + 10000; count < 5 && pb_loop_now_ms() < end;)
        pump(pb_kafka_wake_fd(k), serve_kafka, k, &done, 100);
    assert_int_equal(count, 5);

    n_seen = 0;
    pb_kafka_log_t *l = pb_kafka_log_new(k, "t.log", 5000, on_record, NULL, &err);
    assert_non_null(l);
    assert_false(pb_kafka_log_caught_up(l));
    for (int64_t end = pb_loop_now_ms() + 10000;
         !pb_kafka_log_caught_up(l) && pb_loop_now_ms() < end;)
        pump(pb_kafka_log_wake_fd(l), serve_log, l, &done, 100);
    assert_true(pb_kafka_log_caught_up(l));
    assert_int_equal(n_seen, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(seen[i], i);
        snprintf(v, sizeof v, "r%d", i);
        assert_string_equal(seen_val[i], v);
    }
    /* Live: a new record arrives after the replay. */
    assert_int_equal(pb_kafka_produce(k, "t.log", 0, NULL, 0, "live", 4, NULL, 0, NULL, NULL, &err),
                     0);
    for (int64_t end = pb_loop_now_ms() + 10000; n_seen < 6 && pb_loop_now_ms() < end;) {
        pump(pb_kafka_wake_fd(k), serve_kafka, k, &done, 20);
        pump(pb_kafka_log_wake_fd(l), serve_log, l, &done, 50);
    }
    assert_int_equal(n_seen, 6);
    assert_string_equal(seen_val[5], "live");
    assert_int_equal(pb_kafka_log_position(l), 6);
    pb_kafka_log_destroy(l);
    pb_kafka_log_destroy(NULL);
    pb_kafka_destroy(k, 1000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(produce_and_ack),
        cmocka_unit_test(control_topic_creates),
        cmocka_unit_test(log_follower),
    };
    return cmocka_run_group_tests_name("kafka", tests, setup, teardown);
}
