/*
 * main — the `portbroker` command line: serve, kafka, schema, config-doc, version.
 *
 * Owns: argument parsing and exit codes (0 ok, 1 runtime failure / "no", 2 invalid input).
 * Must not: hold logic a test would want to call; everything it runs lives in a module.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "broker.h"
#include "buf.h"
#include "cli_port.h"
#include "cli_schema.h"
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "proc.h"

extern char **environ;

static void usage(FILE *f) {
    fputs("usage: portbroker <command> [options]\n"
          "\n"
          "  serve [-c FILE] [-o key=value]... [--port-file F] [--env-file F] [--config-dump]\n"
          "        run the broker (embedded Kafka unless kafka.bootstrap.servers is set);\n"
          "        --env-file writes PORTBROKER_URL, PORTBROKER_PID and BROKERS for '. F'\n"
          "  kafka [--brokers N] [--brokers-file F]\n"
          "        run the embedded Kafka cluster standalone; prints BROKERS=host:port,... first;\n"
          "        SIGUSR1 takes every broker down, SIGUSR2 brings them back (fault tests)\n"
          "  schema check|compat|canonical|fingerprint|resolve ...\n"
          "        Avro schema tools (exit 0 yes, 1 no, 2 invalid input)\n"
          "  publish PORT [-f FILE] [--batch N] [--retries N] [--results] [--url U] [--token T]\n"
          "        publish NDJSON records to an output port over the HTTP API\n"
          "  consume PORT [--max N] [--commit] [-f FORMAT] [--from W] [--url U] [--token T]\n"
          "        print an input port's stream (kcat-like -f: %k %v %h %p %o %T)\n"
          "  config-doc      print docs/CONFIGURATION.md generated from the settings table\n"
          "  token PRINCIPAL print a new random bearer token and its auth.tokens.file line\n"
          "                  (PRINCIPAL: admin, or "
          "urn:dpds:{ns}:dataproducts:{product|*}:{major|*})\n"
          "  routes          print the HTTP API's routes as JSON lines (method, path, access)\n"
          "  version         print the version\n",
          f);
}

static int cmd_serve(int argc, char **argv) {
    pb_err_t err = {0};
    const char *conf_file = NULL, *port_file = NULL, *env_file = NULL;
    int dump = 0;
    pb_config_t *cfg = pb_config_new();
    if (!cfg) {
        fprintf(stderr, "portbroker: out of memory\n");
        return 1;
    }
    /* Pass 1: the file, so environment and -o override it whatever the argument order. */
    for (int i = 1; i < argc; i++)
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            conf_file = argv[++i];
    if (conf_file && pb_config_load_file(cfg, conf_file, &err)) goto bad;
    if (pb_config_load_env(cfg, environ, &err)) goto bad;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                pb_err_set(&err, PB_ERR_INVALID, "%s needs a file", a);
                goto bad;
            }
            i++;
        } else if (strcmp(a, "-o") == 0) {
            if (i + 1 >= argc) {
                pb_err_set(&err, PB_ERR_INVALID, "-o needs key=value");
                goto bad;
            }
            char *kv = argv[++i], *eq = strchr(kv, '=');
            if (!eq) {
                pb_err_set(&err, PB_ERR_INVALID, "-o %s: expected key=value", kv);
                goto bad;
            }
            *eq = '\0';
            int rc = pb_config_set(cfg, kv, eq + 1, "-o", &err);
            *eq = '=';
            if (rc) goto bad;
        } else if (strcmp(a, "--port-file") == 0 && i + 1 < argc) {
            port_file = argv[++i];
        } else if (strcmp(a, "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else if (strcmp(a, "--config-dump") == 0) {
            dump = 1;
        } else {
            pb_err_set(&err, PB_ERR_INVALID, "serve: unknown argument '%s'", a);
            goto bad;
        }
    }
    if (pb_config_validate(cfg, &err)) goto bad;
    pb_log_configure((pb_log_level_t)pb_log_level_parse(cfg->log_level),
                     strcmp(cfg->log_format, "json") == 0);
    if (dump) {
        pb_buf_t out = {0};
        pb_config_dump(cfg, &out);
        fwrite(out.data, 1, out.len, stdout);
        pb_buf_free(&out);
        pb_config_destroy(cfg);
        return 0;
    }
    pb_broker_t *b = NULL;
    if (pb_broker_start(cfg, port_file, env_file, &b, &err)) {
        pb_log(ERROR, "broker", "start-up failed: %s", err.msg);
        return err.code == PB_ERR_INVALID || err.code == PB_ERR_TOO_LARGE ||
                       err.code == PB_ERR_NOT_FOUND
                   ? 2
                   : 1;
    }
    int rc = pb_broker_run(b);
    int left = pb_broker_destroy(b);
    pb_log(INFO, "broker", "stopped");
    return rc || left ? 1 : 0;
bad:
    fprintf(stderr, "portbroker: %s\n", err.msg);
    pb_config_destroy(cfg);
    return 2;
}

static int cmd_kafka(int argc, char **argv) {
    int brokers = 3;
    const char *file = NULL;
    pb_err_t err = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 16) {
                fprintf(stderr, "portbroker kafka: --brokers must be 1..16, got '%s'\n", argv[i]);
                return 2;
            }
            brokers = (int)n;
        } else if (strcmp(argv[i], "--brokers-file") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else {
            fprintf(stderr, "portbroker kafka: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    /* Block the stop signals before any thread starts, then wait for them synchronously. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1); /* fault injection: every broker down */
    sigaddset(&set, SIGUSR2); /* ... and up again */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pb_kafka_cluster_t *c = pb_kafka_cluster_new(brokers, &err);
    if (!c) {
        fprintf(stderr, "portbroker kafka: %s\n", err.msg);
        return 1;
    }
    printf("BROKERS=%s\n", pb_kafka_cluster_bootstraps(c));
    fflush(stdout);
    if (file) {
        FILE *f = fopen(file, "w");
        if (!f || fprintf(f, "%s\n", pb_kafka_cluster_bootstraps(c)) < 0 || fclose(f) != 0) {
            fprintf(stderr, "portbroker kafka: cannot write %s: %s\n", file, strerror(errno));
            pb_kafka_cluster_destroy(c);
            return 1;
        }
    }
    pb_log(WARN, "embedded",
           "embedded Kafka with %d brokers at %s: in memory only, about 5 MiB per partition",
           brokers, pb_kafka_cluster_bootstraps(c));
    int sig = 0;
    for (;;) {
        sigwait(&set, &sig);
        if (sig != SIGUSR1 && sig != SIGUSR2) break;
        int up = sig == SIGUSR2;
        if (pb_kafka_cluster_set_up(c, up, &err))
            pb_log(ERROR, "embedded", "%s", err.msg);
        else
            pb_log(WARN, "embedded", "%s: every broker of the embedded cluster is %s",
                   up ? "SIGUSR2" : "SIGUSR1", up ? "up again" : "DOWN (fault injection)");
    }
    pb_log(INFO, "embedded", "signal %d: stopping the embedded cluster", sig);
    pb_kafka_cluster_destroy(c);
    return 0;
}

static int cmd_config_doc(void) {
    pb_buf_t out = {0};
    if (pb_config_doc(&out)) return 1;
    fwrite(out.data, 1, out.len, stdout);
    pb_buf_free(&out);
    return 0;
}

/* One JSON object a line per route and method, from the route table itself: what the OpenAPI
 * contract test and the authorization matrix test compare against. */
static int cmd_routes(void) {
    static const char *const access[] = {"open",          "metrics",       "read",
                                         "product-owner", "output-owner",  "input-owner",
                                         "subscription",  "subject-owner", "admin"};
    static const char *const names[] = {"",       "GET",  "POST",    "PUT",
                                        "DELETE", "HEAD", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < pb_api_route_count(); i++) {
        const pb_api_route_t *r = pb_api_route_at(i);
        for (int k = 1; k < 8; k++) {
            if (!(r->methods & (1u << k))) continue;
            printf("{\"method\":\"%s\",\"path\":\"%s\",\"access\":\"%s\",\"json\":%s,"
                   "\"ndjson\":%s,\"registry\":%s,\"summary\":\"%s\"}\n",
                   names[k], r->path, access[r->access],
                   r->media & PB_API_MEDIA_JSON ? "true" : "false",
                   r->media & PB_API_MEDIA_NDJSON ? "true" : "false",
                   r->registry ? "true" : "false", r->summary);
        }
    }
    return 0;
}

/* `portbroker token PRINCIPAL`: the token on the first line (give it to the client), the line for
 * auth.tokens.file on the second (only the token's SHA-256 is stored). */
static int cmd_token(int argc, char **argv) {
    pb_auth_principal_t p;
    pb_err_t err = {0};
    char token[128], hex[65];
    if (argc != 2) {
        fprintf(stderr, "usage: portbroker token PRINCIPAL\n");
        return 2;
    }
    if (pb_auth_principal_parse(argv[1], &p, &err)) {
        fprintf(stderr, "portbroker token: %s\n", err.msg);
        return 2;
    }
    if (pb_auth_token_new(token, sizeof token, &err)) {
        fprintf(stderr, "portbroker token: %s\n", err.msg);
        return 1;
    }
    pb_auth_token_hash_hex(token, hex);
    printf("token: %s\nline:  %s sha256:%s\n", token, p.name, hex);
    return 0;
}

int main(int argc, char **argv) {
    pb_proc_tune();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "kafka") == 0) return cmd_kafka(argc - 1, argv + 1);
    if (strcmp(cmd, "schema") == 0) return pb_cli_schema(argc - 1, argv + 1);
    if (strcmp(cmd, "publish") == 0) return pb_cli_publish(argc - 1, argv + 1);
    if (strcmp(cmd, "consume") == 0) return pb_cli_consume(argc - 1, argv + 1);
    if (strcmp(cmd, "config-doc") == 0) return cmd_config_doc();
    if (strcmp(cmd, "routes") == 0) return cmd_routes();
    if (strcmp(cmd, "token") == 0) return cmd_token(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("portbroker %s (librdkafka %s)\n", PB_VERSION, pb_kafka_version());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "portbroker: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
