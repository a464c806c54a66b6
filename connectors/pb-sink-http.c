/*
 * pb-sink-http — an input port's records POSTed one by one to a webhook, in stream order (so in
 * order per key), each signed with HMAC-SHA256 over the body (X-PB-Signature: sha256=HEX) and
 * carrying an idempotency key (X-PB-Id: the record's ce_id, else partition:offset). A failed
 * delivery (connection error, 408, 429, 5xx) is retried with doubling backoff; after --retries
 * failures, or at once on another 4xx, the record goes to the dead-letter file with the reason and
 * the stream moves on. A checkpoint (next offset per partition) is written after every record, so
 * a restart after kill -9 delivers at most the one record that was in flight again, with the same
 * X-PB-Id; cursors are committed after the checkpoint.
 *
 * Owns: its checkpoint and dead-letter files. Must not: skip a record that was neither delivered
 * nor dead-lettered, or reorder records.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "portbroker/client.h"
#include "portbroker/connector.h"

typedef struct {
    const char *port, *target, *secret, *ckpt, *dlq;
    long retries, backoff_ms, wait_ms, flush_ms;
    int once;
    pb_conn_pos_t pos;
    long delivered, dead, skipped, attempts_failed, commits, pending;
    pb_client_t *tc; /* the webhook */
    char *tpath;     /* the webhook's path */
} sink_t;

static int save_checkpoint(const sink_t *k) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", k->ckpt);
    json_t *next = pb_conn_pos_to_json(&k->pos);
    json_t *doc = json_pack("{s:s,s:o}", "port", k->port, "next", next);
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    /* No fsync per record: a killed process's writes survive in the page cache; flushes fsync. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ok = fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s);
    if (fd >= 0) close(fd);
    free(s);
    if (!ok || rename(tmp, k->ckpt) != 0) {
        fprintf(stderr, "pb-sink-http: cannot write the checkpoint %s: %s\n", k->ckpt,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int load_checkpoint(sink_t *k) {
    pb_conn_pos_init(&k->pos);
    if (access(k->ckpt, F_OK) != 0) return 0;
    json_error_t je;
    json_t *d = json_load_file(k->ckpt, 0, &je);
    if (!d || pb_conn_pos_from_json(&k->pos, json_object_get(d, "next"))) {
        fprintf(stderr,
                "pb-sink-http: checkpoint %s is unreadable (%s); move it away to start over\n",
                k->ckpt, d ? "no next" : je.text);
        json_decref(d);
        return -1;
    }
    json_decref(d);
    return 0;
}

static void dead_letter(sink_t *k, json_t *rec, const char *why, int attempts) {
    FILE *f = fopen(k->dlq, "a");
    if (!f) {
        fprintf(stderr, "pb-sink-http: cannot open the dead-letter file %s: %s\n", k->dlq,
                strerror(errno));
        return;
    }
    json_t *d = json_pack("{s:O,s:s,s:i,s:s}", "record", rec, "error", why, "attempts", attempts,
                          "target", k->target);
    json_dumpf(d, f, JSON_COMPACT);
    fputc('\n', f);
    fflush(f);
    fsync(fileno(f));
    fclose(f);
    json_decref(d);
    k->dead++;
}

/* Delivers one record: 0 delivered, 1 dead-lettered, -1 stopped by a signal mid-retry. */
static int deliver(sink_t *k, json_t *rec) {
    char *body = json_dumps(rec, JSON_COMPACT);
    size_t len = strlen(body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
    if (k->secret) {
        HMAC(EVP_sha256(), k->secret, (int)strlen(k->secret), (const unsigned char *)body, len, mac,
             &ml);
        for (unsigned i = 0; i < ml; i++)
            snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    }
    json_t *h = json_object_get(rec, "headers");
    const char *ceid = json_string_value(json_object_get(h, "ce_id"));
    json_int_t p = json_integer_value(json_object_get(rec, "partition"));
    json_int_t o = json_integer_value(json_object_get(rec, "offset"));
    char idbuf[64];
    if (!ceid) {
        snprintf(idbuf, sizeof idbuf, "%lld:%lld", (long long)p, (long long)o);
        ceid = idbuf;
    }
    const char *key = json_string_value(json_object_get(rec, "key"));
    char hdrs[1024];
    snprintf(hdrs, sizeof hdrs,
             "X-PB-Id: %.200s\r\nX-PB-Port: %.300s\r\nX-PB-Partition: %lld\r\nX-PB-Offset: "
             "%lld\r\n%s%.200s%s%s%s%s",
             ceid, k->port, (long long)p, (long long)o, key ? "X-PB-Key: " : "", key ? key : "",
             key ? "\r\n" : "", k->secret ? "X-PB-Signature: sha256=" : "", hex,
             k->secret ? "\r\n" : "");
    long delay = k->backoff_ms;
    char why[600] = "";
    int rc = 1, attempt;
    for (attempt = 1; attempt <= k->retries + 1; attempt++) {
        pb_client_resp_t r;
        pb_client_err_t err = {0};
        if (pb_client_request_h(k->tc, "POST", k->tpath, "application/json", body, len, hdrs, &r,
                                &err) == 0) {
            int st = r.status;
            snprintf(why, sizeof why, "HTTP %d: %.400s", st, r.body ? r.body : "");
            pb_client_resp_free(&r);
            if (st / 100 == 2) {
                rc = 0;
                break;
            }
            if (st / 100 == 4 && st != 408 && st != 429) break; /* the target refuses it */
        } else {
            snprintf(why, sizeof why, "%s", err.msg);
        }
        k->attempts_failed++;
        if (attempt > k->retries) break;
        pb_conn_sleep(delay);
        if (pb_conn_stopping()) {
            free(body);
            return -1;
        }
        delay = delay * 2 > 10000 ? 10000 : delay * 2;
    }
    if (rc) {
        fprintf(stderr,
                "pb-sink-http: record %lld:%lld (id %s) dead-lettered after %ld attempts: %s\n",
                (long long)p, (long long)o, ceid,
                attempt > k->retries + 1 ? k->retries + 1 : attempt, why);
        dead_letter(k, rec, why, attempt > k->retries + 1 ? (int)k->retries + 1 : attempt);
    } else {
        k->delivered++;
    }
    free(body);
    return rc;
}

static void commit(sink_t *k, pb_client_stream_t *s) {
    if (!k->pending) return;
    if (!pb_conn_pos_commit(&k->pos, s, "pb-sink-http", "the checkpoint skips what comes again"))
        k->commits++;
    k->pending = 0;
}

/* pb_conn_sink_t.record: deliver (or dead-letter) one record, then checkpoint it. */
static int take(void *arg, pb_client_stream_t *s, json_t *r, int p, long long off) {
    sink_t *k = arg;
    int d = deliver(k, r);
    json_decref(r);
    if (d < 0) return 1; /* stopped mid-retry: not checkpointed, comes again */
    k->pos.next[p] = off + 1;
    k->pending++;
    if (save_checkpoint(k)) return -1;
    if (k->pending >= 1000) commit(k, s);
    return 0;
}

/* pb_conn_sink_t.flush: every record is checkpointed already; commit the cursors. */
static int flush(void *arg, pb_client_stream_t *s) {
    commit(arg, s);
    return 0;
}

int main(int argc, char **argv) {
    sink_t k = {.retries = 5, .backoff_ms = 200, .wait_ms = 30000, .flush_ms = 500};
    pb_client_opts_t o;
    const pb_conn_opt_t opts[] = {
        {"port", PB_CONN_STR, &k.port, "PORT", "input port URN or product/major/inputports/name",
         .env = "PB_PORT", .required = 1},
        {"target", PB_CONN_STR, &k.target, "URL", "webhook URL, http:// or https://",
         .env = "PB_TARGET", .required = 1},
        {"secret", PB_CONN_STR, &k.secret, "S",
         "HMAC-SHA256 key: X-PB-Signature: sha256=HEX of the body", .env = "PB_HMAC_SECRET"},
        {"checkpoint", PB_CONN_STR, &k.ckpt, "FILE",
         "next offset per partition, written after every record", .required = 1},
        {"dlq", PB_CONN_STR, &k.dlq, "FILE", "dead-letter file (default CHECKPOINT.dlq.ndjson)",
         .env = NULL},
        {"retries", PB_CONN_LONG, &k.retries, "N",
         "retries of a record on connection errors, 408, 429, 5xx", .lo = 0, .hi = 1000},
        {"backoff-ms", PB_CONN_LONG, &k.backoff_ms, "T", "first retry delay, doubled up to 10 s",
         .lo = 1, .hi = 3600000},
        {"flush-ms", PB_CONN_LONG, &k.flush_ms, "T", "commit cursors after T ms without a record",
         .lo = 1, .hi = 3600000},
        {"wait-ms", PB_CONN_LONG, &k.wait_ms, "T", "a stream ends after T ms quiet, then reopens",
         .lo = 1, .hi = 3600000},
        {"once", PB_CONN_FLAG, &k.once, NULL, "exit when a stream ends quiet", .set = 1},
    };
    const pb_conn_cli_t cli = {
        "pb-sink-http",
        "--port INPUT_PORT --target URL --checkpoint FILE [options]",
        "POSTs each record (the stream's JSON object) to URL in order, signed and retried.\n",
        "Headers sent: X-PB-Id (idempotency key: ce_id), X-PB-Port, X-PB-Partition, X-PB-Offset,\n"
        "X-PB-Key, X-PB-Signature. SIGTERM: checkpoint, commit, summary, exit 0.\n",
        opts,
        sizeof opts / sizeof opts[0]};
    int pr = pb_conn_parse(&cli, argc, argv, &o);
    if (pr) return pr == 1 ? 0 : 2;
    char dlqbuf[4200];
    if (!k.dlq) {
        snprintf(dlqbuf, sizeof dlqbuf, "%s.dlq.ndjson", k.ckpt);
        k.dlq = dlqbuf;
    }
    /* The webhook: base URL up to the path, the path kept for each POST. */
    const char *sl = strstr(k.target, "://");
    const char *path = sl ? strchr(sl + 3, '/') : NULL;
    char base[2048];
    snprintf(base, sizeof base, "%.*s", path ? (int)(path - k.target) : (int)strlen(k.target),
             k.target);
    k.tpath = strdup(path ? path : "/");
    pb_client_opts_t to = {.url = base, .ca_file = o.ca_file, .timeout_ms = 10000};
    pb_client_err_t err = {0};
    k.tc = pb_client_new(&to, &err);
    if (!k.tc) {
        fprintf(stderr, "pb-sink-http: --target: %s\n", err.msg);
        return 2;
    }
    pb_client_t *cl = pb_client_new(&o, &err);
    if (!cl) {
        fprintf(stderr, "pb-sink-http: %s\n", err.msg);
        return 2;
    }
    if (load_checkpoint(&k)) return 2;
    pb_conn_signals();
    pb_conn_sink_t sk = {.prog = "pb-sink-http",
                         .port = k.port,
                         .wait_ms = k.wait_ms,
                         .idle_ms = k.flush_ms,
                         .once = k.once,
                         .pos = &k.pos,
                         .skipped = &k.skipped,
                         .record = take,
                         .flush = flush,
                         .arg = &k};
    int rc = pb_conn_sink_run(cl, &sk);
    fprintf(stderr,
            "pb-sink-http: %s -> %s: %ld delivered, %ld dead-lettered (%s), %ld failed attempts, "
            "%ld redeliveries skipped, %ld commits\n",
            k.port, k.target, k.delivered, k.dead, k.dlq, k.attempts_failed, k.skipped, k.commits);
    pb_client_destroy(cl);
    pb_client_destroy(k.tc);
    free(k.tpath);
    return rc;
}
