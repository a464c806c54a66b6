/*
 * pb-source-file — an NDJSON file (or stdin) into an output port, followed like `tail -F`: new
 * lines are published as they are appended, a replaced file (new inode) is read from its start
 * after the old one is drained, a truncated one from 0. Each record's id is the file's epoch and
 * the line's byte offset ("pbsf-EPOCH-OFFSET"): the epoch is random, drawn when a file (or stdin)
 * is first read and again when it is truncated, and kept in the checkpoint (device, inode, epoch,
 * offset), which is written before the first publish and after every acknowledged batch. So a
 * restart, even after kill -9, resumes after the last acknowledged line, and a batch sent again
 * carries the same ids: the broker answers them as duplicates instead of storing them twice
 * (publish.dedupe.window.ms), and ce_id stays the consumers' dedupe key. Another file, a truncated
 * one or another run on stdin never reuses an id, so none of their lines is taken for a duplicate.
 *
 * Owns: its checkpoint file. Must not: advance the checkpoint past a line the broker has not
 * acknowledged.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "portbroker/client.h"
#include "portbroker/connector.h"

typedef struct {
    const char *file, *port, *ckpt;
    long batch, poll_ms, retries;
    int follow;
    FILE *in;
    dev_t dev;
    ino_t ino;
    char epoch[40];   /* the ids' prefix for this file (see the opening comment) */
    long long offset; /* byte offset of the next unread line (acknowledged up to here) */
    long published, batches, skipped_bad;
} src_t;

static int write_checkpoint(const src_t *k) {
    if (!k->ckpt) return 0;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", k->ckpt);
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"dev\":%llu,\"ino\":%llu,\"epoch\":\"%s\",\"offset\":%lld}\n",
                     (unsigned long long)k->dev, (unsigned long long)k->ino, k->epoch, k->offset);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, body, (size_t)n) != n || fsync(fd) != 0 || close(fd) != 0 ||
        rename(tmp, k->ckpt) != 0) {
        fprintf(stderr, "pb-source-file: cannot write the checkpoint %s: %s\n", k->ckpt,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* A fresh random epoch: the file is read from a new start. */
static void new_epoch(src_t *k) {
    unsigned char r[8];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) { /* no entropy: time and pid */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long v = (unsigned long long)ts.tv_sec * 1000000000ULL +
                               (unsigned long long)ts.tv_nsec +
                               ((unsigned long long)getpid() << 48);
        memcpy(r, &v, sizeof r);
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(k->epoch + 2 * i, 3, "%02x", r[i]);
}

/* Opens the file; resumes from the checkpoint (offset and epoch) when it names the same file. */
static int open_input(src_t *k, int use_ckpt) {
    new_epoch(k);
    if (strcmp(k->file, "-") == 0) {
        k->in = stdin;
        k->dev = 0;
        k->ino = 0;
        k->offset = 0;
        return 0;
    }
    k->in = fopen(k->file, "r");
    if (!k->in) {
        fprintf(stderr, "pb-source-file: cannot open %s: %s\n", k->file, strerror(errno));
        return -1;
    }
    struct stat st;
    fstat(fileno(k->in), &st);
    k->dev = st.st_dev;
    k->ino = st.st_ino;
    k->offset = 0;
    if (use_ckpt && k->ckpt) {
        json_t *d = json_load_file(k->ckpt, 0, NULL);
        if (d && (dev_t)json_integer_value(json_object_get(d, "dev")) == st.st_dev &&
            (ino_t)json_integer_value(json_object_get(d, "ino")) == st.st_ino) {
            k->offset = json_integer_value(json_object_get(d, "offset"));
            const char *ep = json_string_value(json_object_get(d, "epoch"));
            if (ep && *ep && strlen(ep) < sizeof k->epoch &&
                strspn(ep, "0123456789abcdef-") == strlen(ep))
                snprintf(k->epoch, sizeof k->epoch, "%s", ep);
            else /* a checkpoint from before epochs: the ids it was publishing (pbsf-DEV-INO-) */
                snprintf(k->epoch, sizeof k->epoch, "%llx-%llx", (unsigned long long)st.st_dev,
                         (unsigned long long)st.st_ino);
            if (k->offset > st.st_size) {
                new_epoch(k);
                fprintf(stderr,
                        "pb-source-file: %s is shorter than the checkpoint (%lld > %lld); "
                        "reading it from the start\n",
                        k->file, k->offset, (long long)st.st_size);
                k->offset = 0;
            } else {
                fprintf(stderr, "pb-source-file: resuming %s at byte %lld\n", k->file, k->offset);
            }
        } else if (d) {
            fprintf(stderr,
                    "pb-source-file: %s is not the file of the checkpoint; reading it from "
                    "the start\n",
                    k->file);
        }
        json_decref(d);
    }
    if (fseeko(k->in, k->offset, SEEK_SET) != 0) {
        fprintf(stderr, "pb-source-file: cannot seek %s: %s\n", k->file, strerror(errno));
        return -1;
    }
    return 0;
}

/* Publishes the batch; on success advances the offset to `end` and checkpoints. */
static int send_batch(src_t *k, pb_client_t *cl, json_t *recs, long long end) {
    if (json_array_size(recs) > 0) {
        json_t *res = NULL;
        pb_client_err_t err = {0};
        int rc = pb_client_publish(cl, k->port, recs, &res, &err);
        if (rc != 0) {
            fprintf(stderr, "pb-source-file: %s: batch at byte %lld not acknowledged: %s\n",
                    k->file, k->offset, err.msg);
            json_t *errs = json_object_get(res, "errors");
            size_t i;
            json_t *e;
            json_array_foreach(errs, i, e) {
                json_t *r =
                    json_array_get(recs, (size_t)json_integer_value(json_object_get(e, "index")));
                fprintf(stderr, "  record %s: %s: %s\n",
                        json_string_value(json_object_get(r, "id")),
                        json_string_value(json_object_get(e, "path")),
                        json_string_value(json_object_get(e, "reason")));
            }
            json_decref(res);
            return -1;
        }
        json_decref(res);
        k->published += (long)json_array_size(recs);
        k->batches++;
    }
    k->offset = end;
    json_array_clear(recs);
    return write_checkpoint(k);
}

int main(int argc, char **argv) {
    src_t k = {.batch = 500, .poll_ms = 200, .retries = 10, .follow = 1};
    pb_client_opts_t o;
    const pb_conn_opt_t opts[] = {
        {"port", PB_CONN_STR, &k.port, "PORT", "output port URN or product/major/outputports/name",
         .env = "PB_PORT", .required = 1},
        {"file", PB_CONN_STR, &k.file, "FILE", "the file; '-' is stdin (no resume)",
         .env = "PB_FILE", .required = 1},
        {"checkpoint", PB_CONN_STR, &k.ckpt, "F", "checkpoint file (default FILE.pb-checkpoint)",
         .env = NULL},
        {"batch", PB_CONN_LONG, &k.batch, "N", "records per publish", .lo = 1, .hi = 100000},
        {"retries", PB_CONN_LONG, &k.retries, "N",
         "retries per batch on 429/503/5xx/connection errors", .lo = 0, .hi = 1000},
        {"no-follow", PB_CONN_FLAG, &k.follow, NULL,
         "exit at the end of the file instead of waiting for more", .set = 0},
        {"poll-ms", PB_CONN_LONG, &k.poll_ms, "T", "how often a followed file is checked", .lo = 1,
         .hi = 60000},
    };
    const pb_conn_cli_t cli = {
        "pb-source-file",
        "--port OUTPUT_PORT --file FILE [options]",
        "Publishes an NDJSON file (one {\"key\",\"value\",\"time\",\"headers\"} record a line) to "
        "an\n"
        "output port, following it like tail -F; ids are pbsf-EPOCH-OFFSET (EPOCH random per "
        "file,\n"
        "kept in the checkpoint).\n",
        "A line that is not a JSON object is reported (file:byte) and skipped.\n"
        "SIGTERM/SIGINT: publish what is read, checkpoint, print a summary, exit 0.\n",
        opts,
        sizeof opts / sizeof opts[0]};
    int pr = pb_conn_parse(&cli, argc, argv, &o);
    if (pr) return pr == 1 ? 0 : 2;
    char ckbuf[4096];
    if (!k.ckpt && strcmp(k.file, "-") != 0) {
        snprintf(ckbuf, sizeof ckbuf, "%s.pb-checkpoint", k.file);
        k.ckpt = ckbuf;
    }
    if (strcmp(k.file, "-") == 0) k.ckpt = NULL, k.follow = 0;
    o.retries = (int)k.retries;
    pb_client_err_t err = {0};
    pb_client_t *cl = pb_client_new(&o, &err);
    if (!cl) {
        fprintf(stderr, "pb-source-file: %s\n", err.msg);
        return 2;
    }
    if (open_input(&k, 1) || write_checkpoint(&k)) { /* the epoch is kept before any publish */
        pb_client_destroy(cl);
        return 2;
    }
    pb_conn_signals();
    json_t *recs = json_array();
    char *line = NULL;
    size_t cap = 0;
    long long pos = k.offset; /* offset of the next line to read */
    int rc = 0;
    while (!pb_conn_stopping()) {
        ssize_t len = getline(&line, &cap, k.in);
        if (len > 0 && (line[len - 1] == '\n' || !k.follow)) {
            long long at = pos;
            pos += len;
            json_error_t je;
            json_t *d = json_loadb(line, (size_t)len, 0, &je);
            if (!d || !json_is_object(d)) {
                fprintf(stderr, "pb-source-file: %s:byte %lld: %s; line skipped\n", k.file, at,
                        d ? "not a record object" : je.text);
                json_decref(d);
                k.skipped_bad++;
            } else {
                char id[96];
                snprintf(id, sizeof id, "pbsf-%s-%lld", k.epoch, at);
                json_object_set_new(d, "id", json_string(id));
                json_array_append_new(recs, d);
            }
            if ((long)json_array_size(recs) >= k.batch && send_batch(&k, cl, recs, pos)) {
                rc = 1;
                break;
            }
            continue;
        }
        if (len > 0) { /* a partial last line: wait for its end */
            fseeko(k.in, pos, SEEK_SET);
        }
        clearerr(k.in);
        /* End of what is there: publish it, then follow or stop. */
        if (send_batch(&k, cl, recs, pos)) {
            rc = 1;
            break;
        }
        if (!k.follow) break;
        struct stat now, cur;
        if (stat(k.file, &now) == 0 && fstat(fileno(k.in), &cur) == 0) {
            if (now.st_ino != k.ino ||
                now.st_dev != k.dev) { /* replaced: drained, take the new one */
                fprintf(stderr, "pb-source-file: %s was replaced; reading the new file\n", k.file);
                fclose(k.in);
                if (open_input(&k, 0)) {
                    rc = 1;
                    break;
                }
                pos = 0;
                write_checkpoint(&k);
                continue;
            }
            if (cur.st_size < pos) {
                fprintf(stderr, "pb-source-file: %s was truncated; reading it from the start\n",
                        k.file);
                pos = k.offset = 0;
                new_epoch(&k); /* its new lines are new records, whatever their offsets */
                fseeko(k.in, 0, SEEK_SET);
                write_checkpoint(&k);
                continue;
            }
        }
        pb_conn_sleep(k.poll_ms);
    }
    if (rc == 0 && send_batch(&k, cl, recs, pos)) rc = 1;
    fprintf(
        stderr,
        "pb-source-file: %s -> %s: %ld records published in %ld batches, %ld bad lines skipped, "
        "at byte %lld\n",
        k.file, k.port, k.published, k.batches, k.skipped_bad, k.offset);
    free(line);
    json_decref(recs);
    if (k.in && k.in != stdin) fclose(k.in);
    pb_client_destroy(cl);
    return rc;
}
