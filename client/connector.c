/*
 * connector.c — what the connectors/ programs share (include/portbroker/connector.h): the stop
 * flag of their signal handlers, range-checked integer options, the next offset per partition
 * their checkpoints keep and their cursors commit, and the one loop every sink runs over an input
 * port's stream (reopen with back-off, skip redeliveries below the checkpoint, flush when idle).
 *
 * Owns: the process's stop flag. Must not: decide what a sink holds durably (the sink's flush
 * does), or commit a cursor on its own.
 */
#include "portbroker/connector.h"

#include <errno.h>
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

int pb_conn_client_opt(int c, const char *arg, pb_client_opts_t *o) {
    switch (c) {
    case PB_CONN_OPT_URL: o->url = arg; return 1;
    case PB_CONN_OPT_TOKEN: o->token = arg; return 1;
    case PB_CONN_OPT_CACERT: o->ca_file = arg; return 1;
    default: return 0;
    }
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

int pb_conn_long(const char *prog, const char *opt, const char *text, long lo, long hi, long *out) {
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
