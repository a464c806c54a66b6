/*
 * main — the `portbroker` command line: serve, kafka, schema, registry, publish, consume,
 *        config-doc, routes, token, man, version.
 *
 * Owns: argument parsing and exit codes (0 ok, 1 runtime failure / "no", 2 invalid input).
 * Must not: hold logic a test would want to call; everything it runs lives in a module.
 */
#include <errno.h>
#include <jansson.h>
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
#include "cli_registry.h"
#include "cli_schema.h"
#include "config.h"
#include "crash.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "paths.h"
#include "proc.h"
#include "publish.h"

extern char **environ;

/* The commands, their arguments and one line each: --help and the man page (`portbroker man`)
 * both print this table, so they cannot disagree. */
static const struct command {
    const char *name, *args, *help;
} commands[] = {
    {"serve", "[-c FILE] [-o key=value]... [--port-file F] [--env-file F] [--config-dump]",
     "run the broker (embedded Kafka unless kafka.bootstrap.servers is set)"},
    {"kafka", "[--brokers N] [--brokers-file F]",
     "run the embedded Kafka cluster standalone; prints BROKERS=host:port,... first; SIGUSR1 "
     "takes every broker down, SIGUSR2 brings them back (fault tests)"},
    {"schema", "check|compat|canonical|fingerprint|resolve ...",
     "Avro schema tools (exit 0 yes, 1 no, 2 invalid input)"},
    {"registry", "import --from URL [--to URL] [--subjects PREFIX] [--json]",
     "copy a Confluent-compatible Schema Registry into a running portbroker (ids, versions, "
     "levels and modes kept; re-running copies nothing twice)"},
    {"publish", "PORT [-f FILE] [--batch N] [--retries N] [--results] [--url U] [--token T]",
     "publish NDJSON records (a file or stdin) to an output port over the HTTP API"},
    {"consume",
     "PORT [--max N] [--commit] [-f FORMAT] [--from W] [--encoding json|avro] [--url U] "
     "[--token T]",
     "print an input port's stream (kcat-like -f: %k %v %h %p %o %T)"},
    {"config-doc", "", "print docs/CONFIGURATION.md generated from the settings table"},
    {"token", "PRINCIPAL",
     "print a new random bearer token and its auth.tokens.file line (PRINCIPAL: admin, or "
     "urn:dpds:{ns}:dataproducts:{product|*}:{major|*})"},
    {"routes", "", "print the HTTP API's routes as JSON lines (method, path, access)"},
    {"man", "", "print this manual page (roff) from the same usage text and settings table"},
    {"version", "", "print the version and the linked libraries' versions (also --version, -V)"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* The options of serve, for --help and the man page alike. */
static const struct command serve_opts[] = {
    {"-c, --config", "FILE", "read settings from FILE (`key = value` lines, `#` comments)"},
    {"-o", "key=value", "set one setting; overrides the file and the environment"},
    {"--port-file", "F", "write the bound HTTP port to F once listening (with http.listen port 0)"},
    {"--env-file", "F",
     "write PORTBROKER_URL, PORTBROKER_PID and BROKERS to F once listening, for `. F`"},
    {"--config-dump", "", "print the effective settings (secrets masked) and exit"},
};
#define NSERVE_OPTS (sizeof serve_opts / sizeof serve_opts[0])

static void usage(FILE *f) {
    fputs("usage: portbroker <command> [options]\n\n", f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %s%s%s\n        %s\n", commands[i].name, *commands[i].args ? " " : "",
                commands[i].args, commands[i].help);
    fputs("\nserve options:\n", f);
    for (size_t i = 0; i < NSERVE_OPTS; i++)
        fprintf(f, "  %s%s%s\n        %s\n", serve_opts[i].name, *serve_opts[i].args ? " " : "",
                serve_opts[i].args, serve_opts[i].help);
    fputs("\nSettings: `portbroker config-doc` or `man portbroker`; environment "
          "PORTBROKER_<KEY> (dots as underscores).\n",
          f);
}

static int print_version(void) {
    printf("portbroker %s\nlibrdkafka %s\nlibevent %s\njansson %s\nlibzstd %s\navro-c %s (build)\n",
           PB_VERSION, pb_kafka_version(), pb_http_libevent_version(), jansson_version_str(),
           pb_publish_zstd_version(), PB_AVRO_VERSION);
    return 0;
}

/* The man page (roff, man(7) macros): commands and serve options from the tables above, settings
 * from config.c's table, paths from paths.c as this binary was linked. */
static int cmd_man(void) {
    pb_buf_t o = {0};
    int rc = pb_buf_printf(&o,
                           ".TH PORTBROKER 1 \"\" \"portbroker %s\" \"User Commands\"\n"
                           ".SH NAME\nportbroker \\- the streaming data plane of a data mesh\n"
                           ".SH SYNOPSIS\n",
                           PB_VERSION);
    for (size_t i = 0; i < NCOMMANDS && !rc; i++)
        rc = pb_buf_puts(&o, ".B portbroker\n") || pb_buf_roff(&o, commands[i].name) ||
             pb_buf_puts(&o, *commands[i].args ? " " : "") || pb_buf_roff(&o, commands[i].args) ||
             pb_buf_puts(&o, "\n.br\n");
    rc = rc || pb_buf_puts(&o, ".SH DESCRIPTION\n") ||
         pb_buf_roff(&o,
                     "portbroker serves data products' output and input ports over HTTP on top "
                     "of Kafka: producers publish records to an output port, subscriptions "
                     "route them to input ports, consumers stream them; a Schema "
                     "Registry-compatible API and the product catalog come with it. The HTTP "
                     "API is described by its OpenAPI document, served at `/v1/openapi.json`.\n") ||
         pb_buf_puts(&o, ".SH COMMANDS\n");
    for (size_t i = 0; i < NCOMMANDS && !rc; i++)
        rc = pb_buf_puts(&o, ".TP\n.B ") || pb_buf_roff(&o, commands[i].name) ||
             pb_buf_puts(&o, *commands[i].args ? " " : "") || pb_buf_roff(&o, commands[i].args) ||
             pb_buf_puts(&o, "\n") || pb_buf_roff(&o, commands[i].help) || pb_buf_puts(&o, "\n");
    rc = rc || pb_buf_puts(&o, ".SH SERVE OPTIONS\n");
    for (size_t i = 0; i < NSERVE_OPTS && !rc; i++)
        rc = pb_buf_puts(&o, ".TP\n.B ") || pb_buf_roff(&o, serve_opts[i].name) ||
             pb_buf_puts(&o, *serve_opts[i].args ? " " : "") ||
             pb_buf_roff(&o, serve_opts[i].args) || pb_buf_puts(&o, "\n") ||
             pb_buf_roff(&o, serve_opts[i].help) || pb_buf_puts(&o, "\n");
    rc = rc || pb_buf_puts(&o, ".SH CONFIGURATION\n") ||
         pb_buf_roff(&o, "Sources, lowest precedence first: the defaults below, the file given "
                         "with `-c`, environment variables `PORTBROKER_<KEY>` (dots as "
                         "underscores, upper case), then `-o key=value`. Any other "
                         "`kafka.<property>` is handed to librdkafka as `<property>`.\n") ||
         pb_config_man(&o);
    rc = rc || pb_buf_puts(&o, ".SH SIGNALS\n.TP\n.B SIGHUP\n") ||
         pb_buf_roff(&o, "reload the descriptors in products.dir (the old set stays on error)\n") ||
         pb_buf_puts(&o, ".TP\n.B SIGTERM, SIGINT\n") ||
         pb_buf_roff(&o, "stop: wait up to shutdown.timeout.ms for in-flight Kafka deliveries\n");
    rc = rc || pb_buf_puts(&o, ".SH EXIT STATUS\n") ||
         pb_buf_roff(&o, "0 success; 1 a runtime failure (or \"no\" from a schema check); 2 "
                         "invalid input or settings.\n");
    rc = rc || pb_buf_puts(&o, ".SH FILES\n.TP\n") ||
         pb_buf_roff(&o, *pb_paths_datadir ? pb_paths_datadir : "schemas (build tree)") ||
         pb_buf_puts(&o, "\n") ||
         pb_buf_roff(&o, "example products (`examples/`, the default products.dir), deploy "
                         "files (`deploy/`: systemd unit, Prometheus rules, Grafana dashboard, "
                         "container and Kubernetes manifests, example configs)\n");
    rc = rc || pb_buf_puts(&o, ".SH SEE ALSO\n") ||
         pb_buf_roff(&o, "CONFIGURATION.md, OPERATIONS.md and openapi.json in the "
                         "documentation directory; kcat(1)\n");
    if (rc) {
        pb_buf_free(&o);
        fprintf(stderr, "portbroker: out of memory\n");
        return 1;
    }
    fwrite(o.data, 1, o.len, stdout);
    pb_buf_free(&o);
    return 0;
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
    static const char *const access[] = {
        "open",        "metrics",      "read",          "product-owner", "output-owner",
        "input-owner", "subscription", "subject-owner", "port-owner",    "admin"};
    _Static_assert(sizeof access / sizeof access[0] == PB_API_ADMIN + 1,
                   "one name per pb_api_access_t, in its order");
    static const char *const names[] = {"",       "GET",  "POST",    "PUT",
                                        "DELETE", "HEAD", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < pb_api_route_count(); i++) {
        const pb_api_route_t *r = pb_api_route_at(i);
        for (int k = 1; k < 8; k++) {
            if (!(r->methods & (1u << k))) continue;
            printf("{\"method\":\"%s\",\"path\":\"%s\",\"access\":\"%s\",\"json\":%s,"
                   "\"ndjson\":%s,\"registry\":%s,\"replayed\":%s,\"summary\":\"%s\"}\n",
                   names[k], r->path, access[r->access],
                   r->media & PB_API_MEDIA_JSON ? "true" : "false",
                   r->media & PB_API_MEDIA_NDJSON ? "true" : "false",
                   r->flags & PB_API_SR ? "true" : "false",
                   r->flags & PB_API_REPLAYED ? "true" : "false", r->summary);
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
    pb_crash_install();
    pb_proc_tune();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "kafka") == 0) return cmd_kafka(argc - 1, argv + 1);
    if (strcmp(cmd, "schema") == 0) return pb_cli_schema(argc - 1, argv + 1);
    if (strcmp(cmd, "registry") == 0) return pb_cli_registry(argc - 1, argv + 1);
    if (strcmp(cmd, "publish") == 0) return pb_cli_publish(argc - 1, argv + 1);
    if (strcmp(cmd, "consume") == 0) return pb_cli_consume(argc - 1, argv + 1);
    if (strcmp(cmd, "config-doc") == 0) return cmd_config_doc();
    if (strcmp(cmd, "routes") == 0) return cmd_routes();
    if (strcmp(cmd, "token") == 0) return cmd_token(argc - 1, argv + 1);
    if (strcmp(cmd, "man") == 0) return cmd_man();
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0)
        return print_version();
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "portbroker: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
