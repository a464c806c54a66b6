/*
 * connector.c — what the connectors/ programs share (include/portbroker/connector.h): the command
 * line read from each program's table of options, the stop flag of their signal handlers, the
 * next offset per partition their checkpoints keep and their cursors commit, and the one loop
 * every sink runs over an input port's stream (reopen with back-off, skip redeliveries below the
 * checkpoint, flush when idle).
 *
 * Owns: the process's stop flag. Must not: decide what a sink holds durably (the sink's flush
 * does), or commit a cursor on its own.
 */
#include "portbroker/connector.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

pb_client_opts_t pb_conn_client_opts(void) {
    pb_client_opts_t o = {.url = getenv("PORTBROKER_URL"),
                          .token = getenv("PORTBROKER_TOKEN"),
                          .ca_file = getenv("PORTBROKER_CACERT")};
    return o;
}

void pb_conn_signals(void) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int pb_conn_stopping(void) { return stopping != 0; }

void pb_conn_stop(void) { stopping = 1; }

void pb_conn_sleep(long ms) {
    for (long t = 0; t < ms && !stopping; t += 50)
        usleep((useconds_t)((ms - t < 50 ? ms - t : 50) * 1000));
}

/* ---- command line ---------------------------------------------------------------------------- */

#define MAX_OPTS 40

/* The options every connector takes after its own: the broker's and --help. */
static const struct {
    const char *name, *arg, *help, *env;
} common[] = {
    {"url", "URL", "the broker, http:// or https://", "PORTBROKER_URL"},
    {"token", "T", "bearer token for the broker", "PORTBROKER_TOKEN"},
    {"cacert", "FILE", "PEM CAs to trust for https", "PORTBROKER_CACERT"},
    {"help", NULL, "print this text and exit", NULL},
};
enum { COMMON_URL, COMMON_TOKEN, COMMON_CACERT, COMMON_HELP, N_COMMON };

static int long_arg(const char *prog, const char *opt, const char *text, long lo, long hi,
                    long *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: --%s: '%s' is not an integer in [%ld, %ld]\n", prog, opt, text, lo,
                hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Is text one of the comma-separated choices? */
static int is_choice(const char *choices, const char *text) {
    size_t n = strlen(text);
    for (const char *c = choices; c && *c;) {
        const char *e = strchr(c, ',');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if (l == n && !strncmp(c, text, n)) return 1;
        c = e ? e + 1 : NULL;
    }
    return 0;
}

/* Print the comma-separated choices as "a, b, c". */
static void print_choices(FILE *f, const char *choices) {
    for (const char *c = choices; *c; c++) {
        fputc(*c, f);
        if (*c == ',') fputc(' ', f);
    }
}

/* One usage line: "  --name ARG" padded to a column, then the help. */
static void usage_line(FILE *f, const char *name, const char *arg, const char *help) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", name, arg ? " " : "", arg ? arg : "");
    fprintf(f, "  %-19s%s", left, help);
}

/* Usage from the table; defaults[i] is the text of option i's value before parsing (or NULL). */
static void usage(const pb_conn_cli_t *cli, FILE *f, char defaults[][64]) {
    fprintf(f, "usage: %s %s\n%s", cli->prog, cli->synopsis, cli->about);
    for (size_t i = 0; i < cli->n_opts; i++) {
        const pb_conn_opt_t *op = &cli->opts[i];
        usage_line(f, op->name, op->arg, op->help);
        if (op->kind == PB_CONN_CHOICE) {
            fputs("; one of ", f);
            print_choices(f, op->choices);
        }
        if (defaults[i][0]) fprintf(f, " (default %s)", defaults[i]);
        if (op->env) fprintf(f, " (env %s)", op->env);
        if (op->required) fputs(" (required)", f);
        fputc('\n', f);
    }
    for (int i = 0; i < N_COMMON; i++) {
        usage_line(f, common[i].name, common[i].arg, common[i].help);
        if (common[i].env) fprintf(f, " (env %s)", common[i].env);
        fputc('\n', f);
    }
    if (cli->epilog) fputs(cli->epilog, f);
}

int pb_conn_parse(const pb_conn_cli_t *cli, int argc, char **argv, pb_client_opts_t *o) {
    struct option lo[MAX_OPTS + N_COMMON + 1];
    char defaults[MAX_OPTS][64];
    if (cli->n_opts > MAX_OPTS) {
        fprintf(stderr, "%s: more than %d options in the table\n", cli->prog, MAX_OPTS);
        return 2;
    }
    *o = pb_conn_client_opts();
    for (size_t i = 0; i < cli->n_opts; i++) {
        const pb_conn_opt_t *op = &cli->opts[i];
        const char **str = op->target;
        defaults[i][0] = '\0';
        if (op->kind == PB_CONN_LONG)
            snprintf(defaults[i], sizeof defaults[i], "%ld", *(long *)op->target);
        else if (op->kind != PB_CONN_FLAG && *str)
            snprintf(defaults[i], sizeof defaults[i], "%s", *str);
        if (op->kind != PB_CONN_LONG && op->kind != PB_CONN_FLAG && op->env && getenv(op->env))
            *str = getenv(op->env);
        lo[i] =
            (struct option){op->name, op->kind == PB_CONN_FLAG ? no_argument : required_argument,
                            NULL, 1000 + (int)i};
    }
    for (int i = 0; i < N_COMMON; i++)
        lo[cli->n_opts + (size_t)i] = (struct option){
            common[i].name, i == COMMON_HELP ? no_argument : required_argument, NULL, 900 + i};
    lo[cli->n_opts + N_COMMON] = (struct option){NULL, 0, NULL, 0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'h' || c == 900 + COMMON_HELP) {
            usage(cli, stdout, defaults);
            return 1;
        }
        if (c == 900 + COMMON_URL)
            o->url = optarg;
        else if (c == 900 + COMMON_TOKEN)
            o->token = optarg;
        else if (c == 900 + COMMON_CACERT)
            o->ca_file = optarg;
        else if (c >= 1000 && (size_t)(c - 1000) < cli->n_opts) {
            const pb_conn_opt_t *op = &cli->opts[c - 1000];
            switch (op->kind) {
            case PB_CONN_STR: *(const char **)op->target = optarg; break;
            case PB_CONN_FLAG: *(int *)op->target = op->set; break;
            case PB_CONN_LONG:
                if (long_arg(cli->prog, op->name, optarg, op->lo, op->hi, op->target)) return 2;
                break;
            case PB_CONN_CHOICE:
                if (!is_choice(op->choices, optarg)) {
                    fprintf(stderr, "%s: --%s: '%s' is not one of ", cli->prog, op->name, optarg);
                    print_choices(stderr, op->choices);
                    fputc('\n', stderr);
                    return 2;
                }
                *(const char **)op->target = optarg;
                break;
            }
        } else { /* getopt_long has said what it did not know */
            usage(cli, stderr, defaults);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (every option is --name VALUE)\n", cli->prog,
                argv[optind]);
        usage(cli, stderr, defaults);
        return 2;
    }
    int missing = 0;
    for (size_t i = 0; i < cli->n_opts; i++)
        if (cli->opts[i].required && !*(const char **)cli->opts[i].target) missing++;
    if (!missing) return 0;
    /* Name every required option (they come as a set), then their environment variables. */
    size_t nreq = 0, k = 0;
    for (size_t i = 0; i < cli->n_opts; i++)
        nreq += cli->opts[i].required != 0;
    fprintf(stderr, "%s: ", cli->prog);
    for (size_t i = 0; i < cli->n_opts; i++) {
        if (!cli->opts[i].required) continue;
        k++;
        fprintf(stderr, "%s--%s", k == 1 ? "" : k == nreq ? " and " : ", ", cli->opts[i].name);
    }
    fprintf(stderr, " %s required", nreq == 1 ? "is" : "are");
    k = 0;
    for (size_t i = 0; i < cli->n_opts; i++)
        if (cli->opts[i].required && cli->opts[i].env)
            fprintf(stderr, "%s%s", k++ ? ", " : " (or ", cli->opts[i].env);
    fprintf(stderr, "%s; missing:", k ? ")" : "");
    for (size_t i = 0; i < cli->n_opts; i++)
        if (cli->opts[i].required && !*(const char **)cli->opts[i].target)
            fprintf(stderr, " --%s", cli->opts[i].name);
    fputc('\n', stderr);
    usage(cli, stderr, defaults);
    return 2;
}

void pb_conn_pos_init(pb_conn_pos_t *p) {
    for (int i = 0; i < PB_CONN_NPART; i++)
        p->next[i] = -1;
}

json_t *pb_conn_pos_to_json(const pb_conn_pos_t *p) {
    json_t *o = json_object();
    for (int i = 0; i < PB_CONN_NPART; i++)
        if (p->next[i] >= 0) {
            char key[12];
            snprintf(key, sizeof key, "%d", i);
            json_object_set_new(o, key, json_integer(p->next[i]));
        }
    return o;
}

int pb_conn_pos_from_json(pb_conn_pos_t *p, const json_t *o) {
    if (!json_is_object(o)) return -1;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        char *end;
        long i = strtol(key, &end, 10);
        if (end != key && !*end && i >= 0 && i < PB_CONN_NPART && json_is_integer(v))
            p->next[i] = json_integer_value(v);
    }
    return 0;
}

int pb_conn_pos_commit(const pb_conn_pos_t *p, pb_client_stream_t *s, const char *prog,
                       const char *why_safe) {
    json_t *cur = json_array();
    for (int i = 0; i < PB_CONN_NPART; i++)
        if (p->next[i] >= 0)
            json_array_append_new(
                cur, json_pack("{s:i,s:I}", "partition", i, "offset", (json_int_t)p->next[i]));
    pb_client_err_t err = {0};
    int rc = pb_client_stream_commit(s, cur, &err);
    if (rc) fprintf(stderr, "%s: %s (%s)\n", prog, err.msg, why_safe);
    json_decref(cur);
    return rc ? -1 : 0;
}

/* One stream, read until it ends, fails or the sink stops. *got counts records. Returns 0, or -1
 * when the sink failed. */
static int read_stream(const pb_conn_sink_t *sk, pb_client_stream_t *s, long *got) {
    pb_client_err_t err = {0};
    while (!stopping) {
        json_t *r = NULL;
        int g = pb_client_stream_next(s, &r, &err);
        if (g < 0) {
            fprintf(stderr, "%s: %s; reopening\n", sk->prog, err.msg);
            return 0;
        }
        if (g == 0) return 0;
        if (g == 2) {
            if (sk->flush(sk->arg, s)) return -1;
            continue;
        }
        ++*got;
        json_int_t p = json_integer_value(json_object_get(r, "partition"));
        json_int_t off = json_integer_value(json_object_get(r, "offset"));
        if (p < 0 || p >= PB_CONN_NPART) {
            fprintf(stderr,
                    "%s: a record of partition %lld: this program tracks partitions 0 to "
                    "%d; stopping\n",
                    sk->prog, (long long)p, PB_CONN_NPART - 1);
            json_decref(r);
            return -1;
        }
        if (off < sk->pos->next[p]) { /* already held: a redelivery after a crash */
            ++*sk->skipped;
            json_decref(r);
            continue;
        }
        int t = sk->record(sk->arg, s, r, (int)p, off);
        if (t < 0) return -1;
        if (t > 0) return 0;
    }
    return 0;
}

int pb_conn_sink_run(pb_client_t *cl, const pb_conn_sink_t *sk) {
    long long backoff = 200;
    pb_client_err_t err = {0};
    while (!stopping) {
        pb_client_stream_opts_t so = {.commit = "manual",
                                      .timeout_ms = (int)sk->wait_ms,
                                      .idle_ms = (int)sk->idle_ms,
                                      .encoding = sk->encoding};
        pb_client_stream_t *s = pb_client_stream_open(cl, sk->port, &so, &err);
        if (!s) {
            int st = err.status;
            if (st >= 400 && st < 500 && st != 429 && st != 409) {
                fprintf(stderr, "%s: %s\n", sk->prog, err.msg);
                return 1;
            }
            fprintf(stderr, "%s: %s; retrying in %lld ms\n", sk->prog, err.msg, backoff);
            pb_conn_sleep((long)backoff);
            backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
            continue;
        }
        backoff = 200;
        long got = 0;
        int failed = read_stream(sk, s, &got) || sk->flush(sk->arg, s);
        pb_client_stream_close(s);
        if (failed) return 1;
        if (sk->once && (got == 0 || !stopping)) break;
    }
    return 0;
}
