/*
 * pb-sink-file — an input port's stream into NDJSON files in a directory, exactly once across
 * crashes: records are appended, the file fsynced, then a checkpoint (file, length, next offset
 * per partition) is written atomically, and only then are the cursors committed. On start the
 * current file is cut back to the checkpointed length and records below the checkpointed offsets
 * are skipped, so a kill -9 at any point leaves every record in the files exactly once.
 *
 * With --format avro the files are Avro Object Container Files (PREFIX-NNNNNN.avro) in the
 * records' reader schema (fetched by schema id from the broker, encoded with libpbavro's codec):
 * one block per flush, compressed with the null, deflate or zstandard codec of the Avro spec; the
 * checkpoint then also keeps the file's sync marker and schema id, and a record of another schema
 * starts a new file.
 *
 * Owns: its output directory (files PREFIX-NNNNNN.ndjson|avro and .pb-sink-file.checkpoint).
 * Must not: commit a cursor before the records it covers are fsynced and checkpointed.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <zlib.h>
#include <zstd.h>

#include "buf.h"
#include "codec.h"
#include "portbroker/client.h"
#include "portbroker/connector.h"
#include "schema.h"

typedef struct {
    const char *dir, *prefix, *port;
    long rotate_bytes, rotate_ms, batch, flush_ms, wait_ms;
    int once;
    /* state */
    long seq;
    FILE *f;
    long long length;     /* bytes of the current file covered by the checkpoint or written */
    pb_conn_pos_t pos;    /* next offset to write per partition (-1: none seen) */
    long long last_flush; /* now_ms() of the last flush */
    struct timespec opened;
    long written, skipped, files, commits, pending;
    /* --format avro */
    int avro;
    const char *codec;
    pb_client_t *cl;
    long schema_id; /* of the current file, 0 before its first record */
    pb_schema_t *schema;
    char *schema_text;
    unsigned char sync[16];
    pb_buf_t block;
    long block_n;
} sink_t;

static void put_long(pb_buf_t *b, long long v) {
    unsigned long long z = ((unsigned long long)v << 1) ^ (unsigned long long)(v >> 63);
    while (z > 0x7f) {
        pb_buf_append(b, &(unsigned char){(unsigned char)((z & 0x7f) | 0x80)}, 1);
        z >>= 7;
    }
    pb_buf_append(b, &(unsigned char){(unsigned char)z}, 1);
}

static void put_bytes(pb_buf_t *b, const void *p, size_t n) {
    put_long(b, (long long)n);
    pb_buf_append(b, p, n);
}

/* Fetches and parses reader schema `id` from the broker. */
static int load_schema(sink_t *k, long id) {
    char path[64];
    snprintf(path, sizeof path, "/schemas/ids/%ld", id);
    pb_client_resp_t r;
    pb_client_err_t err = {0};
    if (pb_client_request(k->cl, "GET", path, NULL, NULL, 0, &r, &err)) {
        fprintf(stderr, "pb-sink-file: reader schema %ld: %s\n", id, err.msg);
        return -1;
    }
    json_t *d = r.status == 200 ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    const char *text = json_string_value(json_object_get(d, "schema"));
    pb_schema_t *sc = NULL;
    pb_err_t perr = {0};
    if (!text || pb_schema_parse(text, strlen(text), &sc, &perr)) {
        fprintf(stderr, "pb-sink-file: reader schema %ld: HTTP %d, %s\n", id, r.status,
                text ? perr.msg : "no schema in the answer");
        json_decref(d);
        pb_client_resp_free(&r);
        return -1;
    }
    pb_schema_destroy(k->schema);
    free(k->schema_text);
    k->schema = sc;
    k->schema_text = strdup(text);
    k->schema_id = id;
    json_decref(d);
    pb_client_resp_free(&r);
    return 0;
}

/* Writes the OCF header of a new (empty) file: magic, metadata, a fresh sync marker. */
static int write_header(sink_t *k) {
    pb_buf_t h = {0};
    pb_buf_append(&h, "Obj\x01", 4);
    put_long(&h, 2);
    put_bytes(&h, "avro.schema", 11);
    put_bytes(&h, k->schema_text, strlen(k->schema_text));
    put_bytes(&h, "avro.codec", 10);
    put_bytes(&h, k->codec, strlen(k->codec));
    put_long(&h, 0);
    if (RAND_bytes(k->sync, sizeof k->sync) != 1) abort();
    pb_buf_append(&h, k->sync, sizeof k->sync);
    int rc = fwrite(h.data, 1, h.len, k->f) == h.len ? 0 : -1;
    k->length += (long long)h.len;
    pb_buf_free(&h);
    return rc;
}

/* Appends the pending block (count, size, compressed data, sync) to the file. */
static int write_block(sink_t *k) {
    if (k->block_n == 0) return 0;
    const void *data = k->block.data;
    size_t n = k->block.len;
    unsigned char *z = NULL;
    if (!strcmp(k->codec, "deflate")) {
        uLong cap = compressBound((uLong)n) + 64;
        z = malloc(cap);
        z_stream zs = {0};
        if (!z || deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                               Z_DEFAULT_STRATEGY) != Z_OK)
            abort();
        zs.next_in = (Bytef *)k->block.data;
        zs.avail_in = (uInt)n;
        zs.next_out = z;
        zs.avail_out = (uInt)cap;
        if (deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
        n = zs.total_out;
        deflateEnd(&zs);
        data = z;
    } else if (!strcmp(k->codec, "zstandard")) {
        size_t cap = ZSTD_compressBound(n);
        z = malloc(cap);
        if (!z) abort();
        size_t r = ZSTD_compress(z, cap, k->block.data, k->block.len, 3);
        if (ZSTD_isError(r)) abort();
        n = r;
        data = z;
    }
    pb_buf_t h = {0};
    put_long(&h, k->block_n);
    put_long(&h, (long long)n);
    int rc = fwrite(h.data, 1, h.len, k->f) == h.len && fwrite(data, 1, n, k->f) == n &&
                     fwrite(k->sync, 1, 16, k->f) == 16
                 ? 0
                 : -1;
    k->length += (long long)(h.len + n + 16);
    pb_buf_free(&h);
    free(z);
    k->block.len = 0;
    k->block_n = 0;
    return rc;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void file_name(const sink_t *k, long seq, char *out, size_t n) {
    snprintf(out, n, "%s/%s-%06ld.%s", k->dir, k->prefix, seq, k->avro ? "avro" : "ndjson");
}

/* Writes the checkpoint atomically (tmp, fsync, rename, fsync of the directory). */
static int checkpoint(sink_t *k) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/.pb-sink-file.checkpoint", k->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    json_t *next = pb_conn_pos_to_json(&k->pos);
    json_t *doc = json_pack("{s:s,s:I,s:I,s:o}", "port", k->port, "seq", (json_int_t)k->seq,
                            "length", (json_int_t)k->length, "next", next);
    if (k->avro && k->schema_id > 0) {
        char hex[33];
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", k->sync[i]);
        json_object_set_new(doc, "sync", json_string(hex));
        json_object_set_new(doc, "schema_id", json_integer(k->schema_id));
    }
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = -1;
    if (fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s) && fsync(fd) == 0 &&
        close(fd) == 0 && rename(tmp, path) == 0) {
        int d = open(k->dir, O_RDONLY | O_DIRECTORY);
        if (d >= 0) {
            fsync(d);
            close(d);
        }
        rc = 0;
    } else {
        fprintf(stderr, "pb-sink-file: cannot write the checkpoint %s: %s\n", path,
                strerror(errno));
        if (fd >= 0) close(fd);
    }
    free(s);
    return rc;
}

static int open_current(sink_t *k) {
    char name[4096];
    file_name(k, k->seq, name, sizeof name);
    int fd = open(name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, k->length) != 0 || lseek(fd, k->length, SEEK_SET) < 0) {
        fprintf(stderr, "pb-sink-file: cannot open %s: %s\n", name, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    k->f = fdopen(fd, "w");
    clock_gettime(CLOCK_MONOTONIC, &k->opened);
    k->files++;
    return 0;
}

/* Reads the checkpoint, if any. Returns 0 (fresh start or resumed) or -1 (unreadable). */
static int resume(sink_t *k) {
    char path[4096];
    snprintf(path, sizeof path, "%s/.pb-sink-file.checkpoint", k->dir);
    pb_conn_pos_init(&k->pos);
    k->seq = 1;
    k->length = 0;
    if (access(path, F_OK) != 0) return 0;
    json_error_t je;
    json_t *d = json_load_file(path, 0, &je);
    if (!d || !json_is_integer(json_object_get(d, "seq")) ||
        !json_is_integer(json_object_get(d, "length")) ||
        !json_is_object(json_object_get(d, "next"))) {
        fprintf(stderr,
                "pb-sink-file: checkpoint %s is unreadable (%s); move it away to start over\n",
                path, d ? "missing seq, length or next" : je.text);
        json_decref(d);
        return -1;
    }
    const char *cp = json_string_value(json_object_get(d, "port"));
    if (cp && strcmp(cp, k->port) != 0) {
        fprintf(stderr, "pb-sink-file: %s holds port %s, not %s; use another --dir\n", k->dir, cp,
                k->port);
        json_decref(d);
        return -1;
    }
    k->seq = (long)json_integer_value(json_object_get(d, "seq"));
    k->length = json_integer_value(json_object_get(d, "length"));
    pb_conn_pos_from_json(&k->pos, json_object_get(d, "next"));
    const char *sh = json_string_value(json_object_get(d, "sync"));
    if (k->avro && k->length > 0) {
        long sid = (long)json_integer_value(json_object_get(d, "schema_id"));
        if (!sh || strlen(sh) != 32 || sid <= 0) {
            fprintf(stderr,
                    "pb-sink-file: checkpoint %s has no Avro sync marker or schema id (was "
                    "the directory written as NDJSON?)\n",
                    path);
            json_decref(d);
            return -1;
        }
        for (int i = 0; i < 16; i++) {
            unsigned hv;
            sscanf(sh + 2 * i, "%2x", &hv);
            k->sync[i] = (unsigned char)hv;
        }
        if (load_schema(k, sid)) {
            json_decref(d);
            return -1;
        }
    }
    json_decref(d);
    fprintf(stderr, "pb-sink-file: resuming at %s-%06ld.%s byte %lld\n", k->prefix, k->seq,
            k->avro ? "avro" : "ndjson", k->length);
    return 0;
}

/* fsync, checkpoint, commit; then rotate when due. */
static int flush_all(sink_t *k, pb_client_stream_t *s) {
    if (k->pending == 0 && !(k->rotate_ms > 0 && k->length > 0)) return 0;
    if (k->pending) {
        if (k->avro && write_block(k)) {
            fprintf(stderr, "pb-sink-file: cannot write a block: %s\n", strerror(errno));
            return -1;
        }
        if (fflush(k->f) != 0 || fsync(fileno(k->f)) != 0) {
            fprintf(stderr, "pb-sink-file: cannot write %s-%06ld.ndjson: %s\n", k->prefix, k->seq,
                    strerror(errno));
            return -1;
        }
        if (checkpoint(k)) return -1;
        /* no stream: the next one is committed from the checkpoint's offsets */
        if (s &&
            !pb_conn_pos_commit(&k->pos, s, "pb-sink-file", "the checkpoint keeps the files exact"))
            k->commits++;
        k->pending = 0;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long age =
        (ts.tv_sec - k->opened.tv_sec) * 1000LL + (ts.tv_nsec - k->opened.tv_nsec) / 1000000;
    if (k->length > 0 && ((k->rotate_bytes > 0 && k->length >= k->rotate_bytes) ||
                          (k->rotate_ms > 0 && age >= k->rotate_ms))) {
        fclose(k->f);
        k->f = NULL;
        k->seq++;
        k->length = 0;
        k->schema_id = 0; /* the next file gets its header with its first record */
        if (checkpoint(k) || open_current(k)) return -1;
    }
    return 0;
}

static int flush_all(sink_t *k, pb_client_stream_t *s);

/* Encodes one record into the pending block, starting a file (and its header) as needed. */
static int avro_append(sink_t *k, json_t *r, long long off, pb_client_stream_t *s) {
    long sid = (long)json_integer_value(json_object_get(r, "schema_id"));
    if (k->schema_id != 0 && sid != k->schema_id) { /* another reader schema: another file */
        if (flush_all(k, s)) return -1;
        fclose(k->f);
        k->f = NULL;
        k->seq++;
        k->length = 0;
        k->schema_id = 0;
        if (checkpoint(k) || open_current(k)) return -1;
    }
    if (k->schema_id == 0) {
        if (load_schema(k, sid)) return -1;
        if (k->length == 0 && write_header(k)) {
            fprintf(stderr, "pb-sink-file: cannot write the Avro header: %s\n", strerror(errno));
            return -1;
        }
    }
    size_t before = k->block.len;
    pb_codec_error_t det = {{0}, {0}};
    pb_err_t err = {0};
    if (pb_codec_json_to_avro(k->schema, json_object_get(r, "value"), PB_CODEC_UNWRAPPED_UNIONS,
                              &k->block, &det, &err)) {
        k->block.len = before;
        fprintf(stderr,
                "pb-sink-file: record %lld:%lld does not encode in reader schema %ld at '%s': %s; "
                "stopping (nothing after the last checkpoint is kept)\n",
                (long long)json_integer_value(json_object_get(r, "partition")), off, sid, det.path,
                *det.reason ? det.reason : err.msg);
        return -1;
    }
    k->block_n++;
    return 0;
}

/* pb_conn_sink_t.flush: fsync, checkpoint, commit (and rotate when due). */
static int flush(void *arg, pb_client_stream_t *s) {
    sink_t *k = arg;
    k->last_flush = now_ms();
    return flush_all(k, s);
}

/* pb_conn_sink_t.record: append one record to the current file (Avro: to the pending block);
 * flush when --batch records wait or --flush-ms passed. */
static int take(void *arg, pb_client_stream_t *s, json_t *r, int p, long long off) {
    sink_t *k = arg;
    if (k->avro) {
        int bad = avro_append(k, r, off, s);
        json_decref(r);
        if (bad) return -1;
    } else {
        char *line = json_dumps(r, JSON_COMPACT);
        json_decref(r);
        size_t n = line ? strlen(line) : 0;
        if (!line || fwrite(line, 1, n, k->f) != n || fputc('\n', k->f) == EOF) {
            fprintf(stderr, "pb-sink-file: write failed: %s\n",
                    line ? strerror(errno) : "out of memory");
            free(line);
            return -1;
        }
        free(line);
        k->length += (long long)n + 1;
    }
    k->pos.next[p] = off + 1;
    k->written++;
    k->pending++;
    if (k->pending >= k->batch || now_ms() - k->last_flush >= k->flush_ms) return flush(k, s);
    return 0;
}

int main(int argc, char **argv) {
    sink_t k = {.prefix = "records",
                .rotate_bytes = 64L << 20,
                .batch = 1000,
                .flush_ms = 500,
                .wait_ms = 30000};
    pb_client_opts_t o;
    k.codec = "null";
    const char *format = "ndjson";
    const pb_conn_opt_t opts[] = {
        {"port", PB_CONN_STR, &k.port, "PORT", "input port URN or product/major/inputports/name",
         .env = "PB_PORT", .required = 1},
        {"dir", PB_CONN_STR, &k.dir, "DIR", "output directory, made if missing", .env = "PB_DIR",
         .required = 1},
        {"prefix", PB_CONN_STR, &k.prefix, "P", "file name prefix", .env = NULL},
        {"format", PB_CONN_CHOICE, &format, "F",
         "file format (ndjson: one stream record a line; avro: object container files)",
         .choices = "ndjson,avro"},
        {"codec", PB_CONN_CHOICE, &k.codec, "C", "Avro files' block codec",
         .choices = "null,deflate,zstandard"},
        {"batch", PB_CONN_LONG, &k.batch, "N", "fsync + checkpoint + commit every N records",
         .lo = 1, .hi = 1000000},
        {"flush-ms", PB_CONN_LONG, &k.flush_ms, "T", "... and after T ms without a record", .lo = 1,
         .hi = 3600000},
        {"rotate-bytes", PB_CONN_LONG, &k.rotate_bytes, "N",
         "start a new file past N bytes (0 = never)", .lo = 0, .hi = 1L << 40},
        {"rotate-ms", PB_CONN_LONG, &k.rotate_ms, "T", "start a new file after T ms (0 = never)",
         .lo = 0, .hi = 86400000L * 30},
        {"wait-ms", PB_CONN_LONG, &k.wait_ms, "T",
         "a stream ends after T ms without a record, then reopens", .lo = 1, .hi = 3600000},
        {"once", PB_CONN_FLAG, &k.once, NULL, "exit when a stream ends quiet instead of reopening",
         .set = 1},
    };
    const pb_conn_cli_t cli = {
        "pb-sink-file",
        "--port INPUT_PORT --dir DIR [options]",
        "Writes an input port's records into DIR/PREFIX-NNNNNN.ndjson (one stream record a line:\n"
        "partition, offset, key, value, headers, schema_id, time) or .avro, exactly once across\n"
        "restarts.\n",
        "SIGTERM/SIGINT: flush, checkpoint, commit, print a summary, exit 0.\n",
        opts,
        sizeof opts / sizeof opts[0]};
    int pr = pb_conn_parse(&cli, argc, argv, &o);
    if (pr) return pr == 1 ? 0 : 2;
    k.avro = !strcmp(format, "avro");
    if (mkdir(k.dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "pb-sink-file: cannot make %s: %s\n", k.dir, strerror(errno));
        return 2;
    }
    pb_client_err_t err = {0};
    pb_client_t *cl = pb_client_new(&o, &err);
    if (!cl) {
        fprintf(stderr, "pb-sink-file: %s\n", err.msg);
        return 2;
    }
    k.cl = cl;
    if (resume(&k) || open_current(&k)) {
        pb_client_destroy(cl);
        pb_schema_destroy(k.schema);
        free(k.schema_text);
        return 2;
    }
    k.files = 1;
    pb_conn_signals();
    k.last_flush = now_ms();
    pb_conn_sink_t sk = {.prog = "pb-sink-file",
                         .port = k.port,
                         .wait_ms = k.wait_ms,
                         .idle_ms = k.flush_ms,
                         .once = k.once,
                         /* Avro files: values re-encode to the stored bytes exactly */
                         .encoding = k.avro ? "avro" : NULL,
                         .pos = &k.pos,
                         .skipped = &k.skipped,
                         .record = take,
                         .flush = flush,
                         .arg = &k};
    int rc = pb_conn_sink_run(cl, &sk);
    if (k.f) {
        if (flush_all(&k, NULL)) rc = 1;
        fclose(k.f);
    }
    fprintf(stderr,
            "pb-sink-file: %s -> %s: %ld records written, %ld redeliveries skipped, %ld commits, "
            "file %s-%06ld.%s\n",
            k.port, k.dir, k.written, k.skipped, k.commits, k.prefix, k.seq,
            k.avro ? "avro" : "ndjson");
    pb_client_destroy(cl);
    pb_schema_destroy(k.schema);
    free(k.schema_text);
    pb_buf_free(&k.block);
    return rc;
}
