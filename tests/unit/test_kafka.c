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
#include <unistd.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

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

/* The embedded brokers' ends of the connections carry TCP_NODELAY, as Kafka's brokers' do:
 * without it a response written while the previous one on the connection was unacknowledged
 * waited for the client's next request or its delayed-ACK timer (bench/README.md, e2e-nagle).
 * Found as this process's sockets whose local port is a broker's and that have a peer. */
static void embedded_brokers_nodelay(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cluster), cluster, &err);
    assert_non_null(k);
    int count = 0, done = 0;
    acked = failed = 0;
    assert_int_equal(pb_kafka_produce(k, "t.six", 1, "k", 1, "v", 1, NULL, 0, on_dr, &count, &err),
                     0);
    for (int64_t end = pb_loop_now_ms() + 10000; count < 1 && pb_loop_now_ms() < end;)
        pump(pb_kafka_wake_fd(k), serve_kafka, k, &done, 100);
    assert_int_equal(acked, 1);
    int ports[16], n_ports = 0;
    for (const char *b = pb_kafka_cluster_bootstraps(cluster); b && n_ports < 16;) {
        const char *colon = strchr(b, ':');
        if (!colon) break;
        ports[n_ports++] = atoi(colon + 1);
        b = strchr(colon, ',');
        if (b) b++;
    }
    assert_true(n_ports >= 1);
    int broker_ends = 0, nodelay = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        struct stat st;
        struct sockaddr_in self, peer;
        socklen_t ls = sizeof self, lp = sizeof peer;
        if (e->d_name[0] == '.' || fstat(fd, &st) || !S_ISSOCK(st.st_mode) ||
            getsockname(fd, (struct sockaddr *)&self, &ls) || self.sin_family != AF_INET ||
            getpeername(fd, (struct sockaddr *)&peer, &lp))
            continue;
        for (int i = 0; i < n_ports; i++) {
            if (ntohs(self.sin_port) != ports[i]) continue;
            int on = 0;
            socklen_t lo = sizeof on;
            broker_ends++;
            if (!getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &lo) && on) nodelay++;
        }
    }
    closedir(d);
    assert_true(broker_ends >= 1); /* at least the producer's connection */
    assert_int_equal(nodelay, broker_ends);
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
    pb_kafka_log_t *l = pb_kafka_log_new(k, "t.log", -1, -1, 5000, on_record, NULL, &err);
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

/* ---- consumers and the relay producer ---- */

static int n_deliv, deliv_fail;
static int64_t deliv_tag_sum;
static void on_delivery(void *arg, const pb_kafka_delivery_t *d) {
    (void)arg;
    n_deliv++;
    if (d->code) deliv_fail++;
    deliv_tag_sum += d->tag;
    assert_string_equal(d->topic, "t.relay");
    assert_int_equal(d->value_len, 5);
    assert_true(d->latency_us >= 0);
    assert_int_equal(d->offset, d->tag % 1000); /* tag = partition * 1000 + offset */
    assert_int_equal(d->partition, d->tag / 1000);
}
static void serve_producer(void *p) { pb_kafka_producer_serve(p); }

/* A relay producer the cluster refuses its producer id fails for good: its failure names the
 * client, Kafka's cause and the ACL; a working one has none. */
static void relay_producer_fatal(void **state) {
    (void)state;
    pb_err_t err = {0};
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cluster), cluster, &err);
    assert_non_null(k);
    assert_int_equal(
        pb_kafka_cluster_fail_requests(cluster, "NoSuchApi", 1, "NOT_ENOUGH_REPLICAS", &err),
        PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "the API must be one of Produce"));
    assert_int_equal(pb_kafka_cluster_fail_requests(cluster, "Produce", 1, "NO_SUCH_ERROR", &err),
                     PB_ERR_INVALID);
    /* The shared client has its producer id before the fault: one record acknowledged. */
    assert_int_equal(pb_kafka_ensure_topic(k, "t.fatal", 1, 10000, NULL, &err), 0);
    int count = 0, done = 0;
    acked = failed = 0;
    assert_int_equal(
        pb_kafka_produce(k, "t.fatal", 0, "k", 1, "v", 1, NULL, 0, on_dr, &count, &err), 0);
    for (int64_t end = pb_loop_now_ms() + 10000; count < 1 && pb_loop_now_ms() < end;)
        pump(pb_kafka_wake_fd(k), serve_kafka, k, &done, 100);
    assert_int_equal(acked, 1);
    assert_null(pb_kafka_failure(k));
    assert_int_equal(pb_kafka_cluster_fail_requests(cluster, "InitProducerId", 1,
                                                    "CLUSTER_AUTHORIZATION_FAILED", &err),
                     0);
    pb_kafka_producer_t *p =
        pb_kafka_producer_new(k, "test-fatal", fds[1], on_delivery, NULL, &err);
    assert_non_null(p);
    const char *why = NULL;
    for (int64_t end = pb_loop_now_ms() + 10000;
         !(why = pb_kafka_producer_failure(p)) && pb_loop_now_ms() < end;) {
        pb_kafka_producer_serve(p);
        usleep(20000);
    }
    assert_non_null(why);
    assert_non_null(strstr(why, "Kafka client test-fatal#producer"));
    assert_non_null(strstr(why, "failed for good: CLUSTER_AUTHORIZATION_FAILED"));
    assert_non_null(strstr(why, "IdempotentWrite"));
    assert_null(pb_kafka_failure(k)); /* the shared client is not touched */
    pb_kafka_producer_destroy(p, 0);
    pb_kafka_destroy(k, 1000);
    close(fds[0]);
    close(fds[1]);
}

static void relay_producer(void **state) {
    (void)state;
    pb_err_t err = {0};
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cluster), cluster, &err);
    assert_non_null(k);
    assert_int_equal(pb_kafka_ensure_topic(k, "t.relay", 2, 10000, NULL, &err), 0);
    /* A caller's wake fd (shared pipes): the producer has no read end of its own. */
    pb_kafka_producer_t *p =
        pb_kafka_producer_new(k, "test-relay", fds[1], on_delivery, NULL, &err);
    assert_non_null(p);
    assert_int_equal(pb_kafka_producer_wake_fd(p), -1);
    pb_kafka_header_t h[] = {{"a", "1", 1}, {"b", "22", 2}, {"a", "333", 3}};
    int64_t want = 0;
    for (int32_t part = 0; part < 2; part++)
        for (int64_t off = 0; off < 10; off++) {
            assert_int_equal(pb_kafka_producer_send(p, "t.relay", part, "k", 1, "value", 5, h, 3,
                                                    part * 1000 + off, &err),
                             0);
            want += part * 1000 + off;
        }
    assert_int_equal(pb_kafka_producer_inflight(p), 20);
    /* Value 5 + key 1 + headers a=1 (2), b=22 (3), a=333 (4): 15 bytes a message in flight. */
    assert_int_equal(pb_kafka_producer_inflight_bytes(p), 20 * 15);
    int done = 0;
    for (int64_t end = pb_loop_now_ms() + 10000; n_deliv < 20 && pb_loop_now_ms() < end;)
        pump(fds[0], serve_producer, p, &done, 100);
    assert_int_equal(n_deliv, 20);
    assert_int_equal(deliv_fail, 0);
    assert_int_equal(deliv_tag_sum, want);
    assert_int_equal(pb_kafka_producer_inflight(p), 0);
    assert_int_equal(pb_kafka_producer_inflight_bytes(p), 0);
    assert_int_equal(pb_kafka_producer_send(p, "t.relay", 7, "k", 1, "value", 5, NULL, 0, 0, &err),
                     PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "t.relay[7]"));
    /* wait() serves deliveries itself. */
    assert_int_equal(
        pb_kafka_producer_send(p, "t.relay", 1, "k", 1, "value", 5, NULL, 0, 1010, &err), 0);
    assert_int_equal(pb_kafka_producer_wait(p, 10000), 0);
    assert_int_equal(n_deliv, 21);

    int64_t lo = -1, hi = -1;
    assert_int_equal(pb_kafka_watermarks(k, "t.relay", 1, &lo, &hi, 5000, &err), 0);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 11);
    assert_int_equal(pb_kafka_producer_destroy(p, 1000), 0);
    assert_int_equal(pb_kafka_producer_destroy(NULL, 0), 0);
    pb_kafka_destroy(k, 1000);
    close(fds[0]);
    close(fds[1]);
}

/* The bytes in flight (values, keys, header names and values) are exact at every delivery, with
 * thousands of messages in flight at once: the table of header sizes kept from send to delivery
 * grows and its entries leave in any order. Message i has i % 4 of the headers below. */
static int n_bytes_deliv, bytes_wrong;
static int64_t bytes_left;
static pb_kafka_producer_t *bytes_p;
static int64_t bytes_of(int64_t i) {
    int64_t nh = i % 4; /* value 5 + key 1, then a=1 (2), bb=22 (4), ccc=null (3) */
    return 6 + (nh > 0 ? 2 : 0) + (nh > 1 ? 4 : 0) + (nh > 2 ? 3 : 0);
}
static void on_bytes_delivery(void *arg, const pb_kafka_delivery_t *d) {
    (void)arg;
    if (d->code) return;
    n_bytes_deliv++;
    bytes_left -= bytes_of(d->tag);
    if (pb_kafka_producer_inflight_bytes(bytes_p) != bytes_left) bytes_wrong++;
}
static void relay_producer_bytes(void **state) {
    (void)state;
    pb_err_t err = {0};
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cluster), cluster, &err);
    assert_non_null(k);
    assert_int_equal(pb_kafka_ensure_topic(k, "t.bytes", 3, 10000, NULL, &err), 0);
    pb_kafka_producer_t *p = bytes_p =
        pb_kafka_producer_new(k, "test-bytes", fds[1], on_bytes_delivery, NULL, &err);
    assert_non_null(p);
    pb_kafka_header_t h[] = {{"a", "1", 1}, {"bb", "22", 2}, {"ccc", NULL, 0}};
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(pb_kafka_producer_send(p, "t.bytes", i % 3, "k", 1, "value", 5, h,
                                                (size_t)(i % 4), i, &err),
                         0);
        bytes_left += bytes_of(i);
    }
    assert_int_equal(pb_kafka_producer_inflight_bytes(p), bytes_left);
    int done = 0;
    for (int64_t end = pb_loop_now_ms() + 10000; n_bytes_deliv < 3000 && pb_loop_now_ms() < end;)
        pump(fds[0], serve_producer, p, &done, 100);
    assert_int_equal(n_bytes_deliv, 3000);
    assert_int_equal(bytes_wrong, 0);
    assert_int_equal(pb_kafka_producer_inflight(p), 0);
    assert_int_equal(pb_kafka_producer_inflight_bytes(p), 0);
    assert_int_equal(pb_kafka_producer_destroy(p, 1000), 0);
    pb_kafka_destroy(k, 1000);
    close(fds[0]);
    close(fds[1]);
}

static int n_last;
static int64_t last_off[4];
static char last_hdr[4][8];
static void on_last(void *arg, const pb_kafka_msg_t *m) {
    (void)arg;
    n_last++;
    assert_true(m->partition >= 0 && m->partition < 4);
    last_off[m->partition] = m->offset;
    const void *v;
    size_t len;
    if (pb_kafka_msg_header(m, "a", &v, &len))
        snprintf(last_hdr[m->partition], sizeof last_hdr[0], "%.*s", (int)len, (const char *)v);
}

static void last_records(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cluster), cluster, &err);
    assert_non_null(k);
    assert_int_equal(pb_kafka_ensure_topic(k, "t.tail", 3, 10000, NULL, &err), 0);
    int count = 0, done = 0;
    for (int i = 0; i < 5; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%d", i);
        pb_kafka_header_t h[] = {{"a", v, strlen(v)}};
        assert_int_equal(pb_kafka_produce(k, "t.tail", 0, NULL, 0, v, 2, h, 1, on_dr, &count, &err),
                         0);
    }
    assert_int_equal(
        pb_kafka_produce(k, "t.tail", 2, NULL, 0, "x", 1, NULL, 0, on_dr, &count, &err), 0);
    for (int64_t end = pb_loop_now_ms() + 10000; count < 6 && pb_loop_now_ms() < end;)
        pump(pb_kafka_wake_fd(k), serve_kafka, k, &done, 100);
    assert_int_equal(count, 6);
    int32_t parts[] = {0, 1, 2};
    n_last = 0;
    int lrc = pb_kafka_last_records(k, "t.tail", parts, 3, 10000, on_last, NULL, &err);
    assert_int_equal(lrc, 0);
    assert_int_equal(n_last, 2); /* partition 1 is empty: no call */
    assert_int_equal(last_off[0], 4);
    assert_string_equal(last_hdr[0], "v4");
    assert_int_equal(last_off[2], 0);
    pb_kafka_destroy(k, 1000);
}

static int n_cons, n_assigned, n_revoked;
static int64_t cons_next[2];
static int headers_ok;
static void on_batch(void *arg, const pb_kafka_msg_t *m, size_t n) {
    (void)arg;
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(m[i].topic, "t.cons");
        assert_int_equal(m[i].offset, cons_next[m[i].partition]);
        cons_next[m[i].partition] = m[i].offset + 1;
        assert_int_equal(m[i].value_len, 3);
        assert_true(m[i].timestamp_ms > 0);
        n_cons++;
        /* Headers in wire order, duplicates kept; by name the last one wins. */
        /* Asked with room for 2: the count is still 3 and only 2 are written. */
        pb_kafka_header_t hs[4] = {{0}};
        const void *v;
        size_t len;
        if (pb_kafka_msg_headers(&m[i], hs, 2) == 3 && hs[2].name == NULL &&
            pb_kafka_msg_headers(&m[i], hs, 4) == 3 && !strcmp(hs[0].name, "h") && hs[0].len == 5 &&
            !memcmp(hs[0].value, "first", 5) && !strcmp(hs[2].name, "h") && hs[3].name == NULL &&
            pb_kafka_msg_header(&m[i], "h", &v, &len) == 1 && len == 4 && !memcmp(v, "last", 4) &&
            pb_kafka_msg_header(&m[i], "nope", &v, &len) == 0)
            headers_ok++;
    }
}
static void on_rebalance(void *arg, int assigned, pb_kafka_tp_t *parts, size_t n) {
    (void)arg;
    if (!assigned) {
        n_revoked++;
        return;
    }
    n_assigned++;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(parts[i].offset, PB_KAFKA_OFFSET_STORED);
        /* The owner chooses where each partition starts. */
        parts[i].offset = parts[i].partition == 0 ? 4 : PB_KAFKA_OFFSET_BEGINNING;
        cons_next[parts[i].partition] = parts[i].partition == 0 ? 4 : 0;
    }
}
static void serve_consumer(void *c) { pb_kafka_consumer_serve(c); }

static void group_consumer(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_kafka_t *k = pb_kafka_new(cfg, pb_kafka_cluster_bootstraps(cluster), cluster, &err);
    assert_non_null(k);
    assert_int_equal(pb_kafka_ensure_topic(k, "t.cons", 2, 10000, NULL, &err), 0);
    int count = 0, done = 0;
    pb_kafka_header_t h[] = {{"h", "first", 5}, {"x", "", 0}, {"h", "last", 4}};
    for (int part = 0; part < 2; part++)
        for (int i = 0; i < 10; i++)
            assert_int_equal(
                pb_kafka_produce(k, "t.cons", part, "k", 1, "val", 3, h, 3, on_dr, &count, &err),
                0);
    for (int64_t end = pb_loop_now_ms() + 10000; count < 20 && pb_loop_now_ms() < end;)
        pump(pb_kafka_wake_fd(k), serve_kafka, k, &done, 100);
    assert_int_equal(count, 20);

    pb_kafka_consumer_conf_t cc = {
        .group = "test.group",
        .topic = "t.cons",
        .offset_reset = "earliest",
        .batch_max = 4,
        .on_batch = on_batch,
        .on_rebalance = on_rebalance,
    };
    pb_kafka_consumer_t *c = pb_kafka_consumer_new(k, &cc, &err);
    assert_non_null(c);
    int fd = pb_kafka_consumer_wake_fd(c);
    assert_true(fd > 0);
    for (int64_t end = pb_loop_now_ms() + 20000; n_cons < 16 && pb_loop_now_ms() < end;)
        pump(fd, serve_consumer, c, &done, 100);
    assert_int_equal(n_assigned, 1);
    assert_int_equal(n_cons, 16); /* 6 of partition 0 (from offset 4) and 10 of partition 1 */
    assert_int_equal(headers_ok, 16);
    assert_int_equal(cons_next[0], 10);
    assert_int_equal(cons_next[1], 10);

    int64_t lo = -1, hi = -1;
    assert_int_equal(pb_kafka_consumer_watermarks(c, 1, &lo, &hi, 5000, &err), 0);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 10);
    assert_int_equal(pb_kafka_consumer_watermarks_cached(c, NULL, 1, &lo, &hi), 0);
    assert_int_equal(hi, 10);

    /* Nothing committed yet; then explicit offsets, asynchronously. */
    pb_kafka_tp_t q[2] = {{0, 0, NULL}, {1, 0, NULL}};
    assert_int_equal(pb_kafka_consumer_committed(c, q, 2, 5000, &err), 0);
    assert_int_equal(q[0].offset, PB_KAFKA_OFFSET_INVALID);
    pb_kafka_tp_t co[2] = {{0, 10, NULL}, {1, 7, NULL}};
    assert_int_equal(pb_kafka_consumer_commit(c, co, 2, &err), 0);
    for (int64_t end = pb_loop_now_ms() + 10000; pb_loop_now_ms() < end;) {
        pump(fd, serve_consumer, c, &done, 50);
        assert_int_equal(pb_kafka_consumer_committed(c, q, 2, 5000, &err), 0);
        if (q[0].offset == 10 && q[1].offset == 7) break;
    }
    assert_int_equal(q[0].offset, 10);
    assert_int_equal(q[1].offset, 7);
    pb_kafka_tp_t g[2] = {{1, 0, "t.cons"}, {0, 0, "t.cons"}};
    pb_kafka_group_query_t gq = {.group = "test.group", .parts = g, .n = 2};
    assert_int_equal(pb_kafka_groups_committed(k, &gq, 1, 5000, &err), 0);
    assert_int_equal(g[0].offset, 7);
    assert_int_equal(g[1].offset, 10);

    /* Paused: nothing of partition 1 is delivered until resumed; then exactly the new record. */
    assert_int_equal(pb_kafka_consumer_pause(c, NULL, 1, 1, &err), 0);
    assert_int_equal(pb_kafka_produce(k, "t.cons", 1, "k", 1, "new", 3, h, 3, on_dr, &count, &err),
                     0);
    for (int64_t end = pb_loop_now_ms() + 10000; count < 21 && pb_loop_now_ms() < end;)
        pump(pb_kafka_wake_fd(k), serve_kafka, k, &done, 100);
    pump(fd, serve_consumer, c, &done, 700);
    assert_int_equal(n_cons, 16);
    assert_int_equal(pb_kafka_consumer_pause(c, NULL, 1, 0, &err), 0);
    for (int64_t end = pb_loop_now_ms() + 10000; n_cons < 17 && pb_loop_now_ms() < end;)
        pump(fd, serve_consumer, c, &done, 100);
    assert_int_equal(n_cons, 17);
    assert_int_equal(cons_next[1], 11);
    assert_int_equal(pb_kafka_consumer_pause(c, NULL, 5, 1, &err), PB_ERR_INVALID);

    /* Several at once (the routers' parking): nothing of either partition until resumed, then
     * exactly the record written meanwhile, after the last one delivered. */
    pb_kafka_tp_t both[2] = {{0, 0, "t.cons"}, {1, 0, NULL}};
    assert_int_equal(pb_kafka_consumer_pause_many(c, both, 2, 1, &err), 0);
    assert_int_equal(pb_kafka_produce(k, "t.cons", 0, "k", 1, "new", 3, h, 3, on_dr, &count, &err),
                     0);
    for (int64_t end = pb_loop_now_ms() + 10000; count < 22 && pb_loop_now_ms() < end;)
        pump(pb_kafka_wake_fd(k), serve_kafka, k, &done, 100);
    assert_int_equal(count, 22);
    pump(fd, serve_consumer, c, &done, 700);
    assert_int_equal(n_cons, 17);
    assert_int_equal(pb_kafka_consumer_pause_many(c, both, 2, 0, &err), 0);
    for (int64_t end = pb_loop_now_ms() + 10000; n_cons < 18 && pb_loop_now_ms() < end;)
        pump(fd, serve_consumer, c, &done, 100);
    assert_int_equal(n_cons, 18);
    assert_int_equal(cons_next[0], 11);
    assert_int_equal(pb_kafka_consumer_pause_many(c, both, 0, 1, &err), 0); /* none: a no-op */

    /* Leaving the group revokes through the callback. */
    pb_kafka_consumer_destroy(c);
    assert_int_equal(n_revoked, 1);
    pb_kafka_consumer_destroy(NULL);
    pb_kafka_destroy(k, 1000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(produce_and_ack),       cmocka_unit_test(embedded_brokers_nodelay),
        cmocka_unit_test(control_topic_creates), cmocka_unit_test(log_follower),
        cmocka_unit_test(relay_producer),        cmocka_unit_test(relay_producer_bytes),
        cmocka_unit_test(relay_producer_fatal),  cmocka_unit_test(last_records),
        cmocka_unit_test(group_consumer),
    };
    return cmocka_run_group_tests_name("kafka", tests, setup, teardown);
}
