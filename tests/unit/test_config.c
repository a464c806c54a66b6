/* Unit tests for config.c: defaults, the three sources and their precedence, every kind of bad
 * value, kafka.* pass-through, dump masking and the generated doc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static pb_config_t *cfg;

static int setup(void **state) {
    (void)state;
    cfg = pb_config_new();
    return cfg ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    pb_config_destroy(cfg);
    cfg = NULL;
    return 0;
}

static void defaults(void **state) {
    (void)state;
    assert_string_equal(cfg->http_listen, "127.0.0.1:8080");
    assert_string_equal(cfg->products_dir, "schemas/examples"); /* a build-tree binary */
    assert_string_equal(cfg->mesh_namespace, "local");
    assert_string_equal(cfg->kafka_bootstrap, "");
    assert_string_equal(cfg->registry_topic, "_portbroker");
    assert_int_equal(cfg->embedded_brokers, 3);
    assert_int_equal(cfg->n_kafka, 0);
    pb_err_t err = {0};
    assert_int_equal(pb_config_validate(cfg, &err), 0);
    pb_config_destroy(NULL);
}

static void set_values(void **state) {
    (void)state;
    pb_err_t err = {0};
    assert_int_equal(pb_config_set(cfg, "http.listen", "0.0.0.0:0", "-o", &err), 0);
    assert_string_equal(cfg->http_listen, "0.0.0.0:0");
    assert_int_equal(pb_config_set(cfg, "topic.partitions", "12", "-o", &err), 0);
    assert_int_equal(cfg->topic_partitions, 12);
    assert_int_equal(pb_config_set(cfg, "log.level", "debug", "-o", &err), 0);
    assert_string_equal(cfg->log_level, "debug");
}

/* The latency knobs (bench/README.md, end-to-end latency): throughput-oriented defaults, 0 allowed
 * for the lingers, 0 = automatic for the stream fetch wait. */
static void latency_keys(void **state) {
    (void)state;
    pb_err_t err = {0};
    assert_int_equal(cfg->publish_linger_ms, 2);
    assert_int_equal(cfg->router_linger_ms, 5);
    assert_int_equal(cfg->sub_fetch_wait_ms, 0);
    assert_int_equal(pb_config_set(cfg, "router.linger.ms", "0", "-o", &err), 0);
    assert_int_equal(cfg->router_linger_ms, 0);
    assert_int_equal(pb_config_set(cfg, "publish.linger.ms", "1", "-o", &err), 0);
    assert_int_equal(cfg->publish_linger_ms, 1);
    assert_int_equal(pb_config_set(cfg, "sub.fetch.wait.ms", "5", "-o", &err), 0);
    assert_int_equal(cfg->sub_fetch_wait_ms, 5);
    assert_int_equal(pb_config_set(cfg, "router.linger.ms", "1001", "-o", &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "router.linger.ms: 1001 is out of range [0, 1000]"));
    assert_int_equal(pb_config_set(cfg, "sub.fetch.wait.ms", "-1", "-o", &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "sub.fetch.wait.ms: -1 is out of range [0, 10000]"));
    assert_int_equal(cfg->sub_fetch_wait_ms, 5);
}

static void bad_values(void **state) {
    (void)state;
    pb_err_t err = {0};
    assert_int_equal(pb_config_set(cfg, "http.lisen", "x", "-o", &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown key 'http.lisen' (did you mean 'http.listen'?)"));
    assert_int_equal(pb_config_set(cfg, "completely.other", "x", "-o", &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown key 'completely.other'"));
    assert_int_equal(pb_config_set(cfg, "topic.partitions", "0", "-o", &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "-o: topic.partitions: 0 is out of range [1, 10000]"));
    assert_int_equal(pb_config_set(cfg, "topic.partitions", "12x", "-o", &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'12x' is not an integer"));
    assert_int_equal(pb_config_set(cfg, "topic.partitions", "", "-o", &err), PB_ERR_INVALID);
    assert_int_equal(pb_config_set(cfg, "log.level", "loud", "-o", &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'loud' is not one of error|warn|info|debug"));
    /* A failed set changes nothing. */
    assert_int_equal(cfg->topic_partitions, 3);
    assert_string_equal(cfg->log_level, "info");
}

static void validate_listen_and_topic(void **state) {
    (void)state;
    pb_err_t err = {0};
    pb_config_set(cfg, "http.listen", "localhost", "-o", &err);
    assert_int_equal(pb_config_validate(cfg, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "http.listen: 'localhost' is not host:port"));
    pb_config_set(cfg, "http.listen", "127.0.0.1:70000", "-o", &err);
    assert_int_equal(pb_config_validate(cfg, &err), PB_ERR_INVALID);
    pb_config_set(cfg, "http.listen", "[::1]:8080", "-o", &err);
    assert_int_equal(pb_config_validate(cfg, &err), 0);
    pb_config_set(cfg, "registry.topic", "bad topic", "-o", &err);
    assert_int_equal(pb_config_validate(cfg, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "registry.topic"));
}

static void split_hostport(void **state) {
    (void)state;
    char host[64];
    int port;
    pb_err_t err = {0};
    assert_int_equal(pb_config_split_hostport("127.0.0.1:0", host, sizeof host, &port, &err), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 0);
    assert_int_equal(pb_config_split_hostport("[::1]:99", host, sizeof host, &port, &err), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 99);
    assert_int_equal(pb_config_split_hostport(":80", host, sizeof host, &port, &err),
                     PB_ERR_INVALID);
    assert_int_equal(pb_config_split_hostport("h:", host, sizeof host, &port, &err),
                     PB_ERR_INVALID);
}

static void file_source(void **state) {
    (void)state;
    char path[] = "/tmp/pbconfXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# comment\n\nhttp.listen = 127.0.0.1:9999\n  kafka.linger.ms=7  \n"
                       "topic.partitions = nine\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    pb_err_t err = {0};
    assert_int_equal(pb_config_load_file(cfg, path, &err), PB_ERR_INVALID);
    char want[128];
    snprintf(want, sizeof want, "config %s:5: topic.partitions: 'nine' is not an integer", path);
    assert_string_equal(err.msg, want);
    /* Lines before the error were applied; the caller stops start-up anyway. */
    assert_string_equal(cfg->http_listen, "127.0.0.1:9999");
    assert_int_equal(cfg->n_kafka, 1);
    assert_string_equal(cfg->kafka[0].key, "linger.ms");
    assert_string_equal(cfg->kafka[0].value, "7");
    FILE *f = fopen(path, "w");
    fputs("no equals sign here\n", f);
    fclose(f);
    assert_int_equal(pb_config_load_file(cfg, path, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, ":1: expected 'key = value'"));
    unlink(path);
    assert_int_equal(pb_config_load_file(cfg, path, &err), PB_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot open"));
}

static void env_source(void **state) {
    (void)state;
    pb_err_t err = {0};
    char *env[] = {(char[]){"HOME=/root"}, (char[]){"PORTBROKER_HTTP_LISTEN=127.0.0.1:1"},
                   (char[]){"PORTBROKER_KAFKA_BOOTSTRAP_SERVERS=k:9092"},
                   (char[]){"PORTBROKER_KAFKA_SASL_PASSWORD=hunter2"}, NULL};
    assert_int_equal(pb_config_load_env(cfg, env, &err), 0);
    assert_string_equal(cfg->http_listen, "127.0.0.1:1");
    assert_string_equal(cfg->kafka_bootstrap, "k:9092"); /* ours, not pass-through */
    assert_int_equal(cfg->n_kafka, 1);
    assert_string_equal(cfg->kafka[0].key, "sasl.password");
    char *bad[] = {(char[]){"PORTBROKER_HTTP_LISTN=x"}, NULL};
    assert_int_equal(pb_config_load_env(cfg, bad, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "PORTBROKER_HTTP_LISTN: no such setting"));
    char *badval[] = {(char[]){"PORTBROKER_TOPIC_PARTITIONS=-1"}, NULL};
    assert_int_equal(pb_config_load_env(cfg, badval, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "environment PORTBROKER_TOPIC_PARTITIONS: topic.partitions"));

    pb_buf_t out = {0};
    assert_int_equal(pb_config_dump(cfg, &out), 0);
    pb_buf_putc(&out, 0);
    assert_non_null(strstr((char *)out.data, "kafka.sasl.password = ********\n"));
    assert_null(strstr((char *)out.data, "hunter2"));
    assert_non_null(strstr((char *)out.data, "http.listen = 127.0.0.1:1\n"));
    pb_buf_free(&out);
}

static void doc_lists_every_key(void **state) {
    (void)state;
    pb_buf_t out = {0}, dump = {0};
    assert_int_equal(pb_config_doc(&out), 0);
    pb_buf_putc(&out, 0);
    assert_int_equal(pb_config_dump(cfg, &dump), 0);
    pb_buf_putc(&dump, 0);
    /* Every key the dump prints appears in the doc's table. */
    char *save = NULL;
    for (char *line = strtok_r((char *)dump.data, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char key[128], needle[140];
        sscanf(line, "%127s", key);
        snprintf(needle, sizeof needle, "| `%s` |", key);
        if (!strstr((char *)out.data, needle)) fail_msg("doc misses %s", key);
    }
    assert_non_null(
        strstr((char *)out.data, "| `log.level` | enum | `info` | error, warn, info, debug |"));
    pb_buf_free(&out);
    pb_buf_free(&dump);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(set_values, setup, teardown),
        cmocka_unit_test_setup_teardown(latency_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(validate_listen_and_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(split_hostport, setup, teardown),
        cmocka_unit_test_setup_teardown(file_source, setup, teardown),
        cmocka_unit_test_setup_teardown(env_source, setup, teardown),
        cmocka_unit_test_setup_teardown(doc_lists_every_key, setup, teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
