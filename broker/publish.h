/*
 * publish — POST /v1/ports/{output-port}/records (DESIGN.md §5 Publish, §6 Records on the wire).
 *
 * Owns: reading a publish body (JSON or NDJSON, optionally zstd-compressed, every size bounded),
 * validating every record against the port's current schema (all or nothing: one bad record and
 * nothing is produced, the 422 lists every bad record), encoding values in the Confluent wire
 * format, stamping the broker's headers, producing, and answering once Kafka has acknowledged (or
 * failed) every record. The request context stays alive until the last delivery report, also when
 * the client has gone: deliveries are still counted, and nothing is ever acknowledged falsely.
 * Must not: talk librdkafka directly (kafka.c) or know other routes (api.c dispatches here).
 *
 * A body is read once, into pb_jsontok tokens (no JSON tree): pb_publish_parse finds the records,
 * pb_publish_prepare validates and encodes them (pb_codec_tokens_to_avro); a refused record is
 * walked again over the same tokens to say where and why, so errors cost nothing on success.
 * The pure parts (body reading, record preparation, headers) are exposed for unit tests; the
 * handler is the only function that touches the broker.
 */
#ifndef PB_PUBLISH_H
#define PB_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "dedupe.h"
#include "err.h"
#include "jsontok.h"
#include "kafka.h"
#include "metrics.h"
#include "schema.h"
#include "store.h"

struct pb_access;
struct pb_http_req;
struct pb_port;
struct pb_routers;

/* What the handler reads, given by its owner (broker.c): every pointer borrowed. The env itself
 * must stay where it is until the last delivery report (requests keep a pointer to it). */
typedef struct pb_publish_env {
    const pb_config_t *cfg;   /* publish.* */
    pb_kafka_t *kafka;        /* the shared producer */
    pb_store_t *store;        /* the registry: the port's current schema */
    pb_metrics_t *metrics;    /* per-port and produce-duration series */
    pb_dedupe_t *dedupe;      /* producer ids remembered; NULL when switched off */
    struct pb_access *access; /* limit.publish.records.per.s; NULL: no limits */
    const char *registry_url; /* ce_dataschema's base */

    /* Told of each publish (a parked partition of the port is read again at once:
     * router.park.idle.ms); NULL: none. */
    struct pb_routers *routers;
} pb_publish_env_t;

/* Answer a POST /v1/ports/{port}/records for port (any kind: an input port gets 404) with env.
 * Replies now (4xx/5xx) or once every record is acknowledged. Loop thread. */
void pb_publish_handle(const pb_publish_env_t *env, struct pb_http_req *req,
                       const struct pb_port *port);

/* ---- pure parts ---- */

typedef struct pb_publish_limits {
    int64_t max_body_bytes;   /* publish.max.body.bytes (decompressed) */
    int64_t max_records;      /* publish.max.records */
    int64_t max_record_bytes; /* publish.max.record.bytes */
    int64_t max_headers;      /* publish.max.record.headers */
    int64_t max_header_bytes; /* publish.max.record.header.bytes */
} pb_publish_limits_t;

/* At most this many record errors are listed in a reply; the count of the others is given. */
#define PB_PUBLISH_MAX_LISTED_ERRORS 100

/* The longest producer-given record id (ce_id). */
#define PB_PUBLISH_MAX_ID_BYTES 256

typedef struct pb_publish_error {
    size_t index;      /* record index in the request (NDJSON: among the non-blank lines) */
    char path[224];    /* JSON pointer into the record: "/value/route/origin/lat", "/time", "" */
    char reason[256];  /* what is wrong */
    const char *limit; /* config key of the limit exceeded, or NULL for an invalid record */
} pb_publish_error_t;

/* Every bad record of a request: the first PB_PUBLISH_MAX_LISTED_ERRORS kept, all counted.
 * Starts zeroed; items is allocated at the first error (a request without one allocates nothing;
 * out of memory, errors are still counted, just not listed). Free with pb_publish_errors_free. */
typedef struct pb_publish_errors {
    pb_publish_error_t *items; /* [PB_PUBLISH_MAX_LISTED_ERRORS], n_listed of them used */
    size_t n_listed;
    size_t n_bad;      /* bad records in total */
    int over_limit;    /* some record broke a size limit (the reply is then 413, else 422) */
    size_t last_index; /* index of the record counted last (one error per record) */
} pb_publish_errors_t;

/* Free e's items (e itself is the caller's); e is then empty. NULL is a no-op. */
void pb_publish_errors_free(pb_publish_errors_t *e);

/* Media type of a publish body. */
typedef enum { PB_PUBLISH_JSON = 1, PB_PUBLISH_NDJSON } pb_publish_format_t;

/* Content-Encoding of a publish body, as pb_publish_media sets *zstd. */
#define PB_PUBLISH_ENC_IDENTITY 0
#define PB_PUBLISH_ENC_ZSTD 1
#define PB_PUBLISH_ENC_GZIP 2

/*
 * Decide the body format from Content-Type and Content-Encoding header values (either may be
 * NULL). Returns 0 and *fmt, *zstd (one of PB_PUBLISH_ENC_*: zstd, gzip or x-gzip, identity); or
 * PB_ERR_UNSUPPORTED with a message naming what is accepted.
 */
int pb_publish_media(const char *content_type, const char *content_encoding,
                     pb_publish_format_t *fmt, int *zstd, pb_err_t *err);

/*
 * Decompress a zstd body (one or more frames) into out, never more than max bytes. Returns 0,
 * PB_ERR_TOO_LARGE when the decompressed size exceeds max (nothing beyond max is ever allocated),
 * PB_ERR_INVALID for corrupt or truncated input, PB_ERR_NOMEM.
 */
/* The linked libzstd's version string ("1.5.4"). Any thread. */
const char *pb_publish_zstd_version(void);

int pb_publish_unzstd(const void *in, size_t len, size_t max, pb_buf_t *out, pb_err_t *err);

/*
 * Decompress a gzip body (RFC 1952, one or more members) into out, never more than max bytes: the
 * same contract as pb_publish_unzstd (a gzip bomb stops at max + 1 bytes with PB_ERR_TOO_LARGE).
 */
int pb_publish_gunzip(const void *in, size_t len, size_t max, pb_buf_t *out, pb_err_t *err);

/* The memory of one request's records (tokens, record roots, the producers' headers), reused
 * across requests of one thread. Starts zeroed; free with pb_publish_scratch_free. */
typedef struct pb_publish_scratch {
    pb_jsontok_t tk;
    size_t *roots; /* each record's token, or PB_PUBLISH_UNPARSABLE */
    size_t n, roots_cap;
    size_t body_len;        /* of the body parsed */
    pb_kafka_header_t *own; /* producers' own headers of every record */
    size_t n_own, own_cap;
    char *names; /* their names, NUL-terminated */
    size_t names_len, names_cap;
} pb_publish_scratch_t;

/* sc->roots entry of an NDJSON line that is not JSON (its error is already in errs). */
#define PB_PUBLISH_UNPARSABLE SIZE_MAX

/*
 * Tokenize a body into sc (reset on entry): sc->roots[0..sc->n) are the records. body must
 * outlive sc's use (tokens point into it). JSON: {"records": [...]}; a body that is not JSON or
 * not of that shape is PB_ERR_INVALID (400) saying where ("body is not JSON: line 3 column 7 (byte
 * 41): ..."). NDJSON: one JSON value per line, blank lines skipped; a line that is not JSON gets
 * root PB_PUBLISH_UNPARSABLE and an error for its index in errs ("line 2 is not JSON: column 5
 * ..."; the request is then refused with every other bad record). More than lim->max_records
 * records is PB_ERR_TOO_LARGE naming publish.max.records. PB_ERR_NOMEM out of memory.
 */
int pb_publish_parse(const char *body, size_t len, pb_publish_format_t fmt,
                     const pb_publish_limits_t *lim, pb_publish_scratch_t *sc,
                     pb_publish_errors_t *errs, pb_err_t *err);

/* Free sc's memory (sc itself is the caller's). NULL is a no-op. */
void pb_publish_scratch_free(pb_publish_scratch_t *sc);

/* What a port's records are checked against and stamped with (borrowed strings). */
typedef struct pb_publish_target {
    const pb_schema_t *schema;     /* the port's current schema */
    uint32_t schema_id;            /* its registry id */
    const char *event_time_field;  /* top-level field giving the event time, or NULL */
    int event_time_micros;         /* that field is timestamp-micros */
    const pb_schema_t *key_schema; /* x-portbroker.keySchema when it is not a plain string/bytes:
                                    * keys are then encoded as Avro binary (no frame: the key
                                    * schema has no registry id); NULL: a key is a JSON string sent
                                    * as its UTF-8 bytes */
    int encoding_avro;             /* ?encoding=avro: values and keys in Avro's JSON encoding
                                    * exactly (unions wrapped, bytes/fixed and logical types as
                                    * their Avro JSON); 0: natural JSON (DESIGN.md §5a) */
} pb_publish_target_t;

/* The codec flags a target's values and keys are encoded with. */
unsigned pb_publish_codec_flags(const pb_publish_target_t *t);

/* One validated record, ready to produce. Pointers borrow from the body, the scratch and the
 * values buffer given to pb_publish_prepare. */
typedef struct pb_publish_record {
    const char *key; /* NULL: no key (or key_encoded) */
    size_t klen;
    int key_encoded; /* the key is Avro binary at values->data + koff, klen bytes */
    size_t koff;
    const char *id; /* producer's id, or NULL: the broker makes one */
    size_t idlen;
    int64_t event_ms; /* event time: "time", else eventTimeField, else -1 (receive time) */
    size_t voff;      /* value (wire frame) at values->data + voff, vlen bytes */
    size_t vlen;
    const pb_kafka_header_t *own; /* the producer's "headers" (names NUL-terminated), or NULL */
    size_t n_own;
} pb_publish_record_t;

/*
 * Validate and encode every record of sc (pb_publish_parse) into out[0..sc->n), values appended
 * to *values as Confluent frames. Every bad record adds one error to errs (the first problem
 * found in it: its index, the JSON pointer into the record, the reason and the accepted forms),
 * and all records are checked. Returns 0 when errs holds no error afterwards (the parser's
 * included), else PB_ERR_INVALID; PB_ERR_NOMEM out of memory. Loop thread or any other: pure.
 */
int pb_publish_prepare(const pb_publish_target_t *t, const pb_publish_limits_t *lim,
                       pb_publish_scratch_t *sc, pb_publish_record_t *out, pb_buf_t *values,
                       pb_publish_errors_t *errs, pb_err_t *err);

/* Request-wide header values (borrowed strings; NULL when absent). */
typedef struct pb_publish_stamp {
    const char *source;         /* output-port URN */
    const char *type;           /* record full name */
    const char *dataschema;     /* {registry-url}/schemas/ids/{id} */
    const char *contract;       /* {port-urn}@{port version} */
    const char *recorded_time;  /* receive time, RFC 3339 */
    int64_t received_ms;        /* the same, Unix ms */
    const char *correlation_id; /* X-Flow-Id */
    const char *traceparent;    /* the request's traceparent (parent of the broker's span) */
    const char *tracestate;
    const char *span; /* the broker's span for the request: a traceparent, child of traceparent */
} pb_publish_stamp_t;

/* Scratch space for one record's header values. */
typedef struct pb_publish_hdrbuf {
    char id[PB_PUBLISH_MAX_ID_BYTES + 1];
    char time[32];
    char traceparent[64];
} pb_publish_hdrbuf_t;

/* Most headers pb_publish_headers writes besides the producer's own. */
#define PB_PUBLISH_BROKER_HEADERS 14

/*
 * The headers of record r (DESIGN.md §6) into out (cap >= PB_PUBLISH_BROKER_HEADERS + the
 * producer's header count): the broker's, then the producer's own minus those the broker owns
 * (ce_* it sets, content-type, mesh.*, traceparent/tracestate: dropped silently). id is the
 * record's ce_id (the producer's or one made by the caller). Header values point into r, s, hb
 * and r->own. Returns the count.
 */
size_t pb_publish_headers(const pb_publish_stamp_t *s, const pb_publish_record_t *r, const char *id,
                          size_t idlen, pb_publish_hdrbuf_t *hb, pb_kafka_header_t *out,
                          size_t cap);

#endif
