/*
 * cli_port.c — `portbroker publish PORT` and `portbroker consume PORT` (see cli_port.h): NDJSON in,
 * batched publishes with stable ids; a stream out, printed as JSON lines or a kcat-like format,
 * cursors committed after the records were printed.
 *
 * Owns: argument parsing, input reading, output formatting, exit codes.
 * Must not: talk to Kafka or the daemon's state; every call is the HTTP API through
 * include/portbroker/client.h.
 */
#include "cli_port.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "portbroker/client.h"

#define MAX_BATCH 10000

/* Common connection flags; every other long option is the command's own. */
typedef struct {
    pb_client_opts_t o;
} conn_flags_t;

enum {
    OPT_URL = 1000,
    OPT_TOKEN,
    OPT_CACERT,
    OPT_INSECURE,
    OPT_TIMEOUT,
    OPT_RETRIES,
    OPT_IDPREFIX,
    OPT_RESULTS,
    OPT_MAX,
    OPT_COMMIT,
    OPT_FROM,
    OPT_BATCH,
    OPT_COMMIT_EVERY,
    OPT_ENCODING
};

static int parse_long(const char *cmd, const char *flag, const char *v, long lo, long hi,
                      long *out) {
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) {
        fprintf(stderr, "portbroker %s: %s: '%s' is not an integer in [%ld, %ld]\n", cmd, flag, v,
                lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

static const char *str_or(const json_t *v, const char *dflt) {
    const char *s = json_string_value(v);
    return s ? s : dflt;
}

/* Handles a common flag; 1 when handled, 0 when not one, -1 on a bad value. */
static int conn_flag(const char *cmd, int c, conn_flags_t *f) {
    long n;
    switch (c) {
    case OPT_URL: f->o.url = optarg; return 1;
    case OPT_TOKEN: f->o.token = optarg; return 1;
    case OPT_CACERT: f->o.ca_file = optarg; return 1;
    case OPT_INSECURE: f->o.insecure = 1; return 1;
    case OPT_TIMEOUT:
        if (parse_long(cmd, "--timeout-ms", optarg, 1, 3600000, &n)) return -1;
        f->o.timeout_ms = (int)n;
        return 1;
    default: return 0;
    }
}

static void conn_defaults(conn_flags_t *f) {
    memset(f, 0, sizeof *f);
    f->o.url = getenv("PORTBROKER_URL");
    f->o.token = getenv("PORTBROKER_TOKEN");
    f->o.ca_file = getenv("PORTBROKER_CACERT");
    f->o.timeout_ms = 30000;
}

#define CONN_LONGOPTS                                                                              \
    {"url", required_argument, NULL, OPT_URL}, {"token", required_argument, NULL, OPT_TOKEN},      \
        {"cacert", required_argument, NULL, OPT_CACERT},                                           \
        {"insecure", no_argument, NULL, OPT_INSECURE},                                             \
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT}, {                                    \
        "help", no_argument, NULL, 'h'                                                             \
    }

#define CONN_HELP                                                                                  \
    "  --url URL         broker base URL (env PORTBROKER_URL), http:// or https://\n"              \
    "  --token TOKEN     bearer token (env PORTBROKER_TOKEN)\n"                                    \
    "  --cacert FILE     PEM CAs for https (env PORTBROKER_CACERT; default: the system store)\n"   \
    "  --insecure        do not verify the server certificate (tests only)\n"                      \
    "  --timeout-ms N    connect/read/write timeout per call (default 30000)\n"

/* --encoding json|avro (publish and consume): 0 with *out set, or -1 after a message. */
static int encoding_arg(const char *cmd, const char *v, const char **out) {
    if (strcmp(v, "json") && strcmp(v, "avro")) {
        fprintf(stderr, "portbroker %s: --encoding: '%s' is not one of json, avro\n", cmd, v);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- publish -------------------------------------------------------------------------------- */

static void publish_usage(FILE *f) {
    fputs("usage: portbroker publish PORT [options] [-f FILE]\n"
          "Publishes NDJSON records (one {\"key\",\"value\",\"id\",\"time\",\"headers\"} object a "
          "line)\nfrom FILE or stdin to output port PORT, in batches; retries keep each record's "
          "id.\n"
          "  -f, --file FILE   read FILE instead of stdin ('-' is stdin)\n"
          "  --batch N         records per request (default 500, at most 10000)\n"
          "  --retries N       retries of a batch on 429/503/5xx/connection errors (default 5)\n"
          "  --id-prefix P     a record without \"id\" gets P + its line number (default: a random "
          "UUID)\n"
          "  --results         print one JSON line per record: line, partition, offset, id (or "
          "error)\n"
          "  --encoding E      json: values and keys as people write them (decimals \"12.50\", RFC "
          "3339\n"
          "                    times; the default), avro: Avro's JSON encoding exactly (what\n"
          "                    `portbroker consume --encoding avro` prints)\n" CONN_HELP
          "Exit: 0 all acknowledged, 1 some failed or were refused, 2 bad arguments or input.\n",
          f);
}

typedef struct {
    long acked, failed, batches;
    int print_results;
} pub_stats_t;

/* Sends one batch; lines[i] is the input line of records[i]. Returns 0, 1 (some failed), -1. */
static int publish_batch(pb_client_t *c, const char *port, const char *encoding, json_t *records,
                         const long *lines, pub_stats_t *st) {
    json_t *res = NULL;
    pb_client_err_t err = {0};
    int rc = pb_client_publish_enc(c, port, encoding, records, &res, &err);
    size_t n = json_array_size(records);
    st->batches++;
    if (rc < 0) {
        fprintf(stderr, "portbroker publish: lines %ld-%ld: %s\n", lines[0], lines[n - 1], err.msg);
        json_t *errs = json_object_get(res, "errors");
        size_t i;
        json_t *e;
        json_array_foreach(errs, i, e) {
            json_int_t idx = json_integer_value(json_object_get(e, "index"));
            fprintf(stderr, "  line %ld: %s: %s\n", idx >= 0 && (size_t)idx < n ? lines[idx] : -1L,
                    str_or(json_object_get(e, "path"), ""),
                    str_or(json_object_get(e, "reason"), ""));
        }
        st->failed += (long)n;
        json_decref(res);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(res, i);
        int bad = json_object_get(r, "error") != NULL;
        if (bad)
            st->failed++;
        else
            st->acked++;
        if (st->print_results) {
            json_t *o = json_deep_copy(r);
            json_object_set_new(o, "line", json_integer(lines[i]));
            char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
            puts(s);
            free(s);
            json_decref(o);
        } else if (bad) {
            fprintf(stderr, "portbroker publish: line %ld (id %s): %s\n", lines[i],
                    str_or(json_object_get(r, "id"), "?"),
                    str_or(json_object_get(r, "error"), "failed"));
        }
    }
    json_decref(res);
    return rc;
}

/* Parses one input line: a JSON object, or -1 with a message naming the line. */
static json_t *parse_line(const char *name, long lineno, const char *line, size_t len) {
    json_error_t je;
    json_t *d = json_loadb(line, len, JSON_ALLOW_NUL, &je);
    if (!d) {
        fprintf(stderr, "portbroker publish: %s:%ld:%d: not JSON: %s\n", name, lineno, je.column,
                je.text);
        return NULL;
    }
    if (!json_is_object(d)) {
        fprintf(stderr,
                "portbroker publish: %s:%ld: expected a record object {\"value\": ...}, got a JSON "
                "%s\n",
                name, lineno,
                json_is_array(d)    ? "array"
                : json_is_string(d) ? "string"
                                    : "scalar");
        json_decref(d);
        return NULL;
    }
    return d;
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

int pb_cli_publish(int argc, char **argv) {
    static const struct option lo[] = {CONN_LONGOPTS,
                                       {"file", required_argument, NULL, 'f'},
                                       {"batch", required_argument, NULL, OPT_BATCH},
                                       {"retries", required_argument, NULL, OPT_RETRIES},
                                       {"id-prefix", required_argument, NULL, OPT_IDPREFIX},
                                       {"results", no_argument, NULL, OPT_RESULTS},
                                       {"encoding", required_argument, NULL, OPT_ENCODING},
                                       {NULL, 0, NULL, 0}};
    conn_flags_t cf;
    conn_defaults(&cf);
    cf.o.retries = 5;
    const char *file = NULL, *idprefix = NULL, *encoding = NULL;
    long batch = 500, n;
    pub_stats_t st = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", lo, NULL)) != -1) {
        int h = conn_flag("publish", c, &cf);
        if (h < 0) return 2;
        if (h) continue;
        switch (c) {
        case 'f': file = optarg; break;
        case OPT_BATCH:
            if (parse_long("publish", "--batch", optarg, 1, MAX_BATCH, &batch)) return 2;
            break;
        case OPT_RETRIES:
            if (parse_long("publish", "--retries", optarg, 0, 100, &n)) return 2;
            cf.o.retries = (int)n;
            break;
        case OPT_IDPREFIX: idprefix = optarg; break;
        case OPT_RESULTS: st.print_results = 1; break;
        case OPT_ENCODING:
            if (encoding_arg("publish", optarg, &encoding)) return 2;
            break;
        case 'h': publish_usage(stdout); return 0;
        default: publish_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "portbroker publish: expected one PORT (an output port URN or "
                        "product/major/outputports/name)\n");
        publish_usage(stderr);
        return 2;
    }
    const char *port = argv[optind];
    FILE *in = stdin;
    const char *name = "stdin";
    if (file && strcmp(file, "-") != 0) {
        in = fopen(file, "r");
        if (!in) {
            fprintf(stderr, "portbroker publish: cannot open %s: %s\n", file, strerror(errno));
            return 2;
        }
        name = file;
    }
    pb_client_err_t err = {0};
    pb_client_t *cl = pb_client_new(&cf.o, &err);
    if (!cl) {
        fprintf(stderr, "portbroker publish: %s\n", err.msg);
        if (in != stdin) fclose(in);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    /* A regular file is checked whole first, so a bad line publishes nothing at all. */
    struct stat sb;
    if (in != stdin && fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode)) {
        while ((len = getline(&line, &cap, in)) >= 0) {
            lineno++;
            if (blank(line, (size_t)len)) continue;
            json_t *d = parse_line(name, lineno, line, (size_t)len);
            if (!d) {
                fprintf(stderr, "portbroker publish: nothing was published\n");
                rc = 2;
                goto out;
            }
            json_decref(d);
        }
        rewind(in);
        lineno = 0;
    }
    json_t *records = json_array();
    long *lines = malloc(sizeof *lines * (size_t)batch);
    if (!lines) abort();
    for (;;) {
        len = getline(&line, &cap, in);
        if (len >= 0) {
            lineno++;
            if (blank(line, (size_t)len)) continue;
            json_t *d = parse_line(name, lineno, line, (size_t)len);
            if (!d) {
                fprintf(stderr,
                        "portbroker publish: stopped at %s:%ld; its batch (%zu records) was "
                        "not sent\n",
                        name, lineno, json_array_size(records));
                rc = 2;
                break;
            }
            if (idprefix && !json_object_get(d, "id")) {
                char id[512];
                snprintf(id, sizeof id, "%s%ld", idprefix, lineno);
                json_object_set_new(d, "id", json_string(id));
            }
            lines[json_array_size(records)] = lineno;
            json_array_append_new(records, d);
        }
        if (json_array_size(records) > 0 &&
            (len < 0 || json_array_size(records) >= (size_t)batch)) {
            int r = publish_batch(cl, port, encoding, records, lines, &st);
            if (r != 0 && rc == 0) rc = 1;
            json_array_clear(records);
        }
        if (len < 0) break;
    }
    json_decref(records);
    free(lines);
    fflush(stdout);
    fprintf(stderr, "portbroker publish: %s -> %s: %ld acknowledged, %ld failed, %ld batches\n",
            name, port, st.acked, st.failed, st.batches);
out:
    free(line);
    if (in != stdin) fclose(in);
    pb_client_destroy(cl);
    return rc;
}

/* ---- consume -------------------------------------------------------------------------------- */

static void consume_usage(FILE *f) {
    fputs("usage: portbroker consume PORT [options]\n"
          "Reads input port PORT's stream (its subscriber group) and prints each record, by "
          "default\nas one JSON line. Ends after --max records or when the stream is quiet for "
          "--wait-ms.\n"
          "  --max N           stop after N records (a bounded poll: the broker sends at most N;\n"
          "                    --wait-ms is then the whole poll)\n"
          "  --commit          commit the cursors of the records printed (else they come again)\n"
          "  --commit-every N  commit at least every N records (default 1000) and when idle\n"
          "  --wait-ms T       end after T ms without a record (default 5000)\n"
          "  --from WHERE      committed|earliest|latest|time:RFC3339|offsets:p:o,... where to "
          "start\n                    (a rewind is committed with --commit)\n"
          "  --batch N         records per write from the broker\n"
          "  --encoding E      json: values as people write them (decimals \"12.50\", RFC 3339\n"
          "                    times; the default), avro: Avro's JSON encoding exactly\n"
          "  -f FORMAT         kcat-like: %k key, %v value, %h headers (k=v,...), %p partition,\n"
          "                    %o offset, %T time, %s schema id, %% %, \\n \\t; no newline is "
          "added\n" CONN_HELP
          "Exit: 0 done, 1 the broker refused or the connection failed, 2 bad arguments.\n",
          f);
}

static void print_json_or_raw(FILE *o, json_t *v) {
    if (!v || json_is_null(v)) return;
    if (json_is_string(v)) {
        fwrite(json_string_value(v), 1, json_string_length(v), o);
        return;
    }
    json_dumpf(v, o, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void print_fmt(FILE *o, const char *fmt, json_t *r) {
    for (const char *p = fmt; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            fputc(*p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p, o);
            continue;
        }
        if (*p != '%' || !p[1]) {
            fputc(*p, o);
            continue;
        }
        switch (*++p) {
        case 'k': print_json_or_raw(o, json_object_get(r, "key")); break;
        case 'v': json_dumpf(json_object_get(r, "value"), o, JSON_COMPACT | JSON_ENCODE_ANY); break;
        case 'p':
            fprintf(o, "%lld", (long long)json_integer_value(json_object_get(r, "partition")));
            break;
        case 'o':
            fprintf(o, "%lld", (long long)json_integer_value(json_object_get(r, "offset")));
            break;
        case 's':
            fprintf(o, "%lld", (long long)json_integer_value(json_object_get(r, "schema_id")));
            break;
        case 'T': print_json_or_raw(o, json_object_get(r, "time")); break;
        case 'h': {
            const char *k;
            json_t *v;
            int first = 1;
            json_object_foreach(json_object_get(r, "headers"), k, v) {
                fprintf(o, "%s%s=", first ? "" : ",", k);
                print_json_or_raw(o, v);
                first = 0;
            }
            break;
        }
        case '%': fputc('%', o); break;
        default:
            fputc('%', o);
            fputc(*p, o);
            break;
        }
    }
}

/* Commits what was noted; returns 0 or -1 (printed). */
static int commit_noted(pb_client_stream_t *s, pb_client_cursors_t *k, long pending) {
    json_t *cur = pb_client_cursors_json(k);
    if (!cur) return 0;
    pb_client_err_t err = {0};
    int rc = pb_client_stream_commit(s, cur, &err);
    json_decref(cur);
    if (rc) {
        fprintf(
            stderr,
            "portbroker consume: %s; %ld records printed since the last commit will come again\n",
            err.msg, pending);
        return -1;
    }
    k->dirty = 0;
    return 0;
}

int pb_cli_consume(int argc, char **argv) {
    static const struct option lo[] = {CONN_LONGOPTS,
                                       {"max", required_argument, NULL, OPT_MAX},
                                       {"commit", no_argument, NULL, OPT_COMMIT},
                                       {"commit-every", required_argument, NULL, OPT_COMMIT_EVERY},
                                       {"wait-ms", required_argument, NULL, 'w'},
                                       {"from", required_argument, NULL, OPT_FROM},
                                       {"batch", required_argument, NULL, OPT_BATCH},
                                       {"encoding", required_argument, NULL, OPT_ENCODING},
                                       {NULL, 0, NULL, 0}};
    conn_flags_t cf;
    conn_defaults(&cf);
    long max = 0, every = 1000, wait_ms = 5000, batch = 0;
    int commit = 0;
    const char *fmt = NULL, *from = NULL, *encoding = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", lo, NULL)) != -1) {
        int h = conn_flag("consume", c, &cf);
        if (h < 0) return 2;
        if (h) continue;
        switch (c) {
        case OPT_MAX:
            if (parse_long("consume", "--max", optarg, 1, 1000000000L, &max)) return 2;
            break;
        case OPT_COMMIT: commit = 1; break;
        case OPT_COMMIT_EVERY:
            if (parse_long("consume", "--commit-every", optarg, 1, 1000000, &every)) return 2;
            break;
        case 'w':
            if (parse_long("consume", "--wait-ms", optarg, 1, 3600000, &wait_ms)) return 2;
            break;
        case OPT_FROM: from = optarg; break;
        case OPT_BATCH:
            if (parse_long("consume", "--batch", optarg, 1, MAX_BATCH, &batch)) return 2;
            break;
        case OPT_ENCODING:
            if (encoding_arg("consume", optarg, &encoding)) return 2;
            break;
        case 'f': fmt = optarg; break;
        case 'h': consume_usage(stdout); return 0;
        default: consume_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "portbroker consume: expected one PORT (an input port URN or "
                        "product/major/inputports/name)\n");
        consume_usage(stderr);
        return 2;
    }
    const char *port = argv[optind];
    pb_client_err_t err = {0};
    pb_client_t *cl = pb_client_new(&cf.o, &err);
    if (!cl) {
        fprintf(stderr, "portbroker consume: %s\n", err.msg);
        return 2;
    }
    pb_client_stream_opts_t so = {.commit = "manual",
                                  .batch = (int)batch,
                                  .timeout_ms = (int)wait_ms,
                                  .max_records = max,
                                  .from = from,
                                  .encoding = encoding,
                                  .idle_ms = commit ? 300 : 0};
    pb_client_stream_t *s = pb_client_stream_open(cl, port, &so, &err);
    if (!s) {
        fprintf(stderr, "portbroker consume: %s\n", err.msg);
        pb_client_destroy(cl);
        return 1;
    }
    pb_client_cursors_t cur;
    pb_client_cursors_init(&cur);
    long count = 0, pending = 0;
    int rc = 0;
    for (;;) {
        json_t *r = NULL;
        int g = pb_client_stream_next(s, &r, &err);
        if (g < 0) {
            fprintf(stderr, "portbroker consume: %s\n", err.msg);
            rc = 1;
            break;
        }
        if (g == 0) break;
        if (g == 2) { /* quiet: commit what was printed while the stream is still open */
            if (pending) {
                fflush(stdout);
                if (commit_noted(s, &cur, pending) == 0) pending = 0;
            }
            continue;
        }
        if (fmt)
            print_fmt(stdout, fmt, r);
        else {
            json_dumpf(r, stdout, JSON_COMPACT);
            fputc('\n', stdout);
        }
        pb_client_cursors_note(&cur, r);
        json_decref(r);
        count++;
        pending++;
        if (commit && pending >= every) {
            fflush(stdout);
            if (commit_noted(s, &cur, pending) == 0) pending = 0;
        }
        if (max && count >= max) break;
    }
    fflush(stdout);
    /* The last cursors: through the stream while it is open, else (--max ended it) the broker
     * commits them through the group. */
    if (commit && pending && commit_noted(s, &cur, pending) == 0) pending = 0;
    pb_client_stream_close(s);
    fprintf(stderr, "portbroker consume: %s: %ld records%s\n", port, count,
            commit && count ? (pending ? ", the last ones not committed" : ", committed") : "");
    pb_client_destroy(cl);
    if (commit && pending && rc == 0) rc = 1;
    return rc;
}
