/*
 * portbroker/client.h — a small blocking client over the broker's HTTP API (DESIGN.md §5, §9), used
 * by `portbroker publish|consume` and the programs in connectors/. Built as libpbclient.a; needs
 * jansson and OpenSSL (libssl, libcrypto), nothing of the daemon.
 *
 * One pb_client_t is one base URL (http:// or https://, optional path prefix), one credential
 * (bearer token) and its TLS settings. Calls block the calling thread, each bounded by the
 * client's timeout; a client is used by one thread at a time. Errors fill a pb_client_err_t with
 * a message written for an operator (what, where, why) and return -1.
 */
#ifndef PORTBROKER_CLIENT_H
#define PORTBROKER_CLIENT_H

#include <jansson.h>
#include <stddef.h>

typedef struct pb_client pb_client_t;
typedef struct pb_client_stream pb_client_stream_t;

/* An error: `status` is the HTTP status when the broker answered (0 for transport errors). */
typedef struct {
    int status;
    char msg[512];
} pb_client_err_t;

typedef struct {
    const char *url;     /* base URL, e.g. "http://127.0.0.1:8080"; required */
    const char *token;   /* bearer token (Authorization: Bearer) or NULL */
    const char *ca_file; /* PEM CAs for https (NULL: the system store) */
    int insecure;        /* 1: do not verify the server certificate (tests only) */
    int timeout_ms;      /* per connect/read/write; 0 = 30000 */
    int retries;         /* publish: attempts after the first on 503/429/5xx/transport; <0 = 0 */
    int backoff_ms;      /* first retry delay, doubled each time, capped at 10 s; 0 = 200 */
} pb_client_opts_t;

/* A response read whole. `body` is NUL-terminated, owned by the response. */
typedef struct {
    int status;
    char *body;
    size_t len;
    int retry_after_s; /* Retry-After in seconds, -1 when absent */
} pb_client_resp_t;

/* Makes a client. Copies every string of `o`. Returns NULL with `err` set (bad URL, TLS setup). */
pb_client_t *pb_client_new(const pb_client_opts_t *o, pb_client_err_t *err);
/* Frees the client; NULL is a no-op. Streams opened on it must be closed first. */
void pb_client_destroy(pb_client_t *c);

/* One request (no retry). `path` starts with '/', appended to the base URL's path. `ctype` and
 * `body` may be NULL. Fills `resp` (free with pb_client_resp_free) and returns 0 on any HTTP
 * answer, whatever its status; -1 with `err` on a transport error. */
int pb_client_request(pb_client_t *c, const char *method, const char *path, const char *ctype,
                      const char *body, size_t len, pb_client_resp_t *resp, pb_client_err_t *err);
/* pb_client_request with extra header lines `headers` ("Name: value\r\n" each, or NULL). */
int pb_client_request_h(pb_client_t *c, const char *method, const char *path, const char *ctype,
                        const char *body, size_t len, const char *headers, pb_client_resp_t *resp,
                        pb_client_err_t *err);
void pb_client_resp_free(pb_client_resp_t *r);

/* Publishes `records` (a JSON array of record objects, §5) to output port `port` (a URN or the
 * short form "product/major/outputports/name"). Every record without an "id" first gets a random
 * UUID, written into the array, so each retry sends the same ids (the dedupe key). Retries the
 * whole batch on a transport error, 429, 503 and other 5xx (honouring Retry-After), and only the
 * failed records of a 207, up to opts.retries times. On return `*results` (new reference, caller
 * decrefs) is an array parallel to `records`: {"partition","offset","id"} or {"id","error"}.
 * Returns 0 when every record is acknowledged, 1 when some failed after the retries (see
 * results), -1 when the batch was refused (e.g. 422: err has the broker's message, `*results`
 * holds the broker's reply when there was one) or never reached the broker. */
int pb_client_publish(pb_client_t *c, const char *port, json_t *records, json_t **results,
                      pb_client_err_t *err);

/* pb_client_publish with an encoding query parameter: "json" (natural JSON, DESIGN.md §5a) or
 * "avro" (Avro's JSON encoding exactly); NULL leaves it to the broker (json). The encoding is not
 * checked here: the broker answers 400 naming the accepted values. */
int pb_client_publish_enc(pb_client_t *c, const char *port, const char *encoding, json_t *records,
                          json_t **results, pb_client_err_t *err);

/* Stream options for pb_client_stream_open (§5). NULL/0 fields are left to the broker. */
typedef struct {
    const char *commit;   /* "auto" or "manual" (NULL: manual) */
    int batch;            /* batch=N */
    int timeout_ms;       /* timeout_ms=T: the broker ends the stream after T ms without a record
                           * (with max_records: after T ms in all) */
    long max_records;     /* max_records=N: at most N records, then the broker ends the stream */
    const char *from;     /* from=committed|earliest|latest|time:RFC3339|offsets:p:o,... */
    const char *encoding; /* encoding=json (natural JSON, DESIGN.md §5a) or avro (Avro's JSON
                           * encoding exactly: what re-encodes to the stored bytes) */
    int idle_ms;          /* >0: pb_client_stream_next returns 2 after this long without data */
} pb_client_stream_opts_t;

/* Opens GET /v1/ports/{port}/records?format=ndjson on its own connection. Returns NULL with err
 * set when the broker refuses (status and message) or cannot be reached. */
pb_client_stream_t *pb_client_stream_open(pb_client_t *c, const char *port,
                                          const pb_client_stream_opts_t *o, pb_client_err_t *err);
/* Reads the next record: returns 1 with `*rec` (new reference; {"partition","offset","key",
 * "value","headers","schema_id","time"}), 0 when the broker ended the stream, 2 when idle_ms
 * passed without data (call again; a good moment to commit), -1 with err on a transport or
 * framing error. Blocks at most the client's timeout plus the stream's timeout_ms. */
int pb_client_stream_next(pb_client_stream_t *s, json_t **rec, pb_client_err_t *err);
/* Closes the connection; NULL is a no-op. Uncommitted records come again to the next stream. */
void pb_client_stream_close(pb_client_stream_t *s);

/* Commits `cursors` (array of {"partition","offset"}, offset = the next to read) for input port
 * `port` through its subscriber group, on any instance (no stream needs to be open there; the
 * broker checks each offset against its partition). Returns 0, or -1 with err (status and the
 * broker's message). */
int pb_client_commit(pb_client_t *c, const char *port, json_t *cursors, pb_client_err_t *err);

/* Commits `cursors` for the stream `s` is reading, naming it (X-Stream-Id): through that stream
 * when it is open on the instance that answers, else through the group (a stream the broker
 * ended, e.g. after max_records, or one on another instance). Same returns as pb_client_commit. */
int pb_client_stream_commit(pb_client_stream_t *s, json_t *cursors, pb_client_err_t *err);

/* Tracks the next offset to commit per partition as records are consumed. */
typedef struct {
    long long next[256]; /* -1: nothing consumed on that partition */
    int dirty;
} pb_client_cursors_t;
void pb_client_cursors_init(pb_client_cursors_t *k);
/* Notes a record ({"partition","offset"}); returns -1 when the partition is outside [0, 255]. */
int pb_client_cursors_note(pb_client_cursors_t *k, const json_t *rec);
/* The cursors noted so far as a new JSON array for pb_client_commit (NULL when none). */
json_t *pb_client_cursors_json(const pb_client_cursors_t *k);

#endif
