/*
 * publish.c — the publish path (contract in publish.h): body reading and decompression, record
 * preparation against the port's schema, headers, produce, and the reply once every delivery
 * report is in. The pure parts come first; the handler, the only code that touches the broker,
 * comes last.
 * Must not: call librdkafka (kafka.c does), reply before Kafka has acknowledged every record,
 * free a request context while a delivery report may still arrive, or reach into the broker
 * (pb_publish_env_t is what it reads).
 */
#include "publish.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>
#include <zstd.h>

#include "access.h"
#include "codec.h"
#include "dedupe.h"
#include "gzip.h"
#include "http.h"
#include "id.h"
#include "jsontext.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "router.h"
#include "timefmt.h"
#include "portbroker/wire.h"

#define JSON_TYPE "application/json"

/* ---- errors --------------------------------------------------------------------------------- */

static void add_error(pb_publish_errors_t *e, size_t index, const char *path, const char *limit,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add_error(pb_publish_errors_t *e, size_t index, const char *path, const char *limit,
                      const char *fmt, ...) {
    e->n_bad++;
    e->last_index = index;
    if (limit) e->over_limit = 1;
    if (e->n_listed >= PB_PUBLISH_MAX_LISTED_ERRORS) return;
    if (!e->items && !(e->items = malloc(PB_PUBLISH_MAX_LISTED_ERRORS * sizeof *e->items)))
        return; /* counted, not listed */
    pb_publish_error_t *it = &e->items[e->n_listed++];
    it->index = index;
    it->limit = limit;
    snprintf(it->path, sizeof it->path, "%s", path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->reason, sizeof it->reason, fmt, ap);
    va_end(ap);
}

void pb_publish_errors_free(pb_publish_errors_t *e) {
    if (!e) return;
    free(e->items);
    memset(e, 0, sizeof *e);
}

/* prefix, then s[0..len) as one more JSON pointer segment (jsontext's RFC 6901 rules), into dst
 * (cut when it does not fit). */
static void pointer_of(char *dst, size_t cap, const char *prefix, const char *s, size_t len) {
    size_t n = (size_t)snprintf(dst, cap, "%s", prefix);
    if (n < cap) pb_jsontext_pointer_push_to(dst, cap, n, s, len);
}

/* s[0..len) for a message: at most 64 bytes, U+0000 as '?' (the message is a C string). */
static void show_text(const char *s, size_t len, char *out, size_t cap) {
    size_t n = 0;
    for (size_t k = 0; k < len && n + 4 < cap && k < 64; k++)
        out[n++] = s[k] ? s[k] : '?';
    if (len > 64 && n + 4 < cap) memcpy(out + n, "...", 3), n += 3;
    out[n] = '\0';
}

static const char *tok_type_name(const pb_jsontok_tok_t *t) {
    switch (t->type) {
    case PB_JSONTOK_OBJECT: return "an object";
    case PB_JSONTOK_ARRAY: return "an array";
    case PB_JSONTOK_STRING: return "a string";
    case PB_JSONTOK_INTEGER: return "an integer";
    case PB_JSONTOK_REAL: return "a number";
    case PB_JSONTOK_TRUE:
    case PB_JSONTOK_FALSE: return "a boolean";
    default: return "null";
    }
}

/* ---- media ---------------------------------------------------------------------------------- */

int pb_publish_media(const char *content_type, const char *content_encoding,
                     pb_publish_format_t *fmt, int *zstd, pb_err_t *err) {
    if (content_type && pb_http_media_is(content_type, "application/json"))
        *fmt = PB_PUBLISH_JSON;
    else if (content_type && (pb_http_media_is(content_type, "application/x-ndjson") ||
                              pb_http_media_is(content_type, "application/ndjson") ||
                              pb_http_media_is(content_type, "application/jsonl")))
        *fmt = PB_PUBLISH_NDJSON;
    else
        return pb_err_set(err, PB_ERR_UNSUPPORTED,
                          "Content-Type %s%s%s is not accepted: send application/json "
                          "({\"records\": [...]}) or application/x-ndjson (one record a line)",
                          content_type ? "'" : "", content_type ? content_type : "(none)",
                          content_type ? "'" : "");
    *zstd = 0;
    if (!content_encoding || !*content_encoding || pb_http_media_is(content_encoding, "identity"))
        return 0;
    if (pb_http_media_is(content_encoding, "zstd")) {
        *zstd = PB_PUBLISH_ENC_ZSTD;
        return 0;
    }
    if (pb_http_media_is(content_encoding, "gzip") ||
        pb_http_media_is(content_encoding, "x-gzip")) {
        *zstd = PB_PUBLISH_ENC_GZIP;
        return 0;
    }
    return pb_err_set(err, PB_ERR_UNSUPPORTED,
                      "Content-Encoding '%s' is not accepted: send the body uncompressed or "
                      "with Content-Encoding: zstd or gzip",
                      content_encoding);
}

int pb_publish_unzstd(const void *in, size_t len, size_t max, pb_buf_t *out, pb_err_t *err) {
    int rc = 0;
    size_t start = out->len, last = 1;
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    ZSTD_inBuffer ib = {in, len, 0};
    /* Start from the frame's declared size when it is known and within the limit (a lie only
     * costs a larger buffer, never more than max + 1). */
    unsigned long long declared = ZSTD_getFrameContentSize(in, len);
    size_t first = declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR &&
                           declared <= max
                       ? (size_t)declared + 1
                       : 64 * 1024;
    for (;;) {
        size_t have = out->len - start;
        if (have > max) {
            rc = pb_err_set(err, PB_ERR_TOO_LARGE, "decompressed body exceeds %zu bytes", max);
            goto done;
        }
        if (out->cap == out->len) {
            size_t grow = have ? have : first;
            if (grow > max + 1 - have) grow = max + 1 - have;
            if (pb_buf_reserve(out, grow)) {
                rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
                goto done;
            }
        }
        size_t room = out->cap - out->len;
        if (room > max + 1 - have) room = max + 1 - have;
        ZSTD_outBuffer ob = {out->data + out->len, room, 0};
        size_t r = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(r)) {
            rc =
                pb_err_set(err, PB_ERR_INVALID, "body is not valid zstd: %s", ZSTD_getErrorName(r));
            goto done;
        }
        out->len += ob.pos;
        last = r;
        if (out->len - start > max) {
            rc = pb_err_set(err, PB_ERR_TOO_LARGE, "decompressed body exceeds %zu bytes", max);
            goto done;
        }
        if (ib.pos == ib.size && ob.pos < ob.size) break;
    }
    if (last != 0)
        rc = pb_err_set(err, PB_ERR_INVALID,
                        "zstd body is truncated (the last frame is incomplete)");
done:
    if (rc) out->len = start;
    ZSTD_freeDCtx(d);
    return rc;
}

int pb_publish_gunzip(const void *in, size_t len, size_t max, pb_buf_t *out, pb_err_t *err) {
    int rc = 0, zr = Z_OK;
    size_t start = out->len;
    z_stream z = {0};
    if (inflateInit2(&z, 15 + 16) != Z_OK) /* 15 + 16: a gzip wrapper, the largest window */
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    if ((size_t)z.avail_in != len) {
        rc = pb_err_set(err, PB_ERR_TOO_LARGE, "compressed body exceeds %u bytes", UINT32_MAX);
        goto done;
    }
    for (;;) {
        size_t have = out->len - start;
        if (out->cap == out->len) {
            size_t grow = have ? have : 64 * 1024;
            if (grow > max + 1 - have) grow = max + 1 - have;
            if (pb_buf_reserve(out, grow)) {
                rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
                goto done;
            }
        }
        size_t room = out->cap - out->len;
        if (room > max + 1 - have) room = max + 1 - have;
        z.next_out = out->data + out->len;
        z.avail_out = (uInt)room;
        zr = inflate(&z, Z_NO_FLUSH);
        out->len += room - z.avail_out;
        if (out->len - start > max) {
            rc = pb_err_set(err, PB_ERR_TOO_LARGE, "decompressed body exceeds %zu bytes", max);
            goto done;
        }
        if (zr == Z_STREAM_END) {
            if (!z.avail_in) break;
            inflateReset(&z); /* another gzip member follows (concatenated gzip files) */
            continue;
        }
        if (zr == Z_BUF_ERROR && !z.avail_in) {
            rc = pb_err_set(err, PB_ERR_INVALID,
                            "gzip body is truncated (the last member is "
                            "incomplete)");
            goto done;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = pb_err_set(err, PB_ERR_INVALID, "body is not valid gzip: %s",
                            z.msg ? z.msg : "corrupt data");
            goto done;
        }
    }
done:
    if (rc) out->len = start;
    inflateEnd(&z);
    return rc;
}

/* ---- parsing -------------------------------------------------------------------------------- */

static int too_many(const pb_publish_limits_t *lim, pb_err_t *err) {
    return pb_err_set(err, PB_ERR_TOO_LARGE,
                      "more than %lld records in one request: over the limit publish.max.records "
                      "= %lld; split the batch",
                      (long long)lim->max_records, (long long)lim->max_records);
}

static int add_root(pb_publish_scratch_t *sc, size_t root) {
    if (sc->n == sc->roots_cap) {
        size_t cap = sc->roots_cap ? 2 * sc->roots_cap : 128;
        size_t *r = realloc(sc->roots, cap * sizeof *r);
        if (!r) return PB_ERR_NOMEM;
        sc->roots = r;
        sc->roots_cap = cap;
    }
    sc->roots[sc->n++] = root;
    return 0;
}

int pb_publish_parse(const char *body, size_t len, pb_publish_format_t fmt,
                     const pb_publish_limits_t *lim, pb_publish_scratch_t *sc,
                     pb_publish_errors_t *errs, pb_err_t *err) {
    pb_jsontok_t *tk = &sc->tk;
    pb_err_t te = {0};
    size_t root = 0;
    int rc;
    pb_jsontok_reset(tk);
    sc->n = sc->n_own = sc->names_len = 0;
    sc->body_len = len;
    if (fmt == PB_PUBLISH_JSON) {
        if ((rc = pb_jsontok_parse(tk, body, len, &root, &te))) {
            if (rc == PB_ERR_NOMEM) return pb_err_set(err, rc, "out of memory");
            return pb_err_set(err, PB_ERR_INVALID, "body is not JSON: %s", te.msg);
        }
        const pb_jsontok_tok_t *t = tk->tok;
        size_t arr = 0;
        if (t[root].type == PB_JSONTOK_OBJECT) {
            for (size_t k = 0, j = root + 1; k < t[root].len; k++, j = t[j + 1].next) {
                if (pb_jsontok_eq(tk, &t[j], "records")) {
                    arr = j + 1;
                    continue;
                }
                char shown[80];
                show_text(pb_jsontok_str(tk, &t[j]), t[j].len, shown, sizeof shown);
                return pb_err_set(err, PB_ERR_INVALID,
                                  "body: unknown member \"%s\": the body is {\"records\": [...]}",
                                  shown);
            }
        }
        if (!arr || t[arr].type != PB_JSONTOK_ARRAY)
            return pb_err_set(
                err, PB_ERR_INVALID, "body must be {\"records\": [...]} (got %s%s)",
                tok_type_name(&t[root]),
                t[root].type == PB_JSONTOK_OBJECT
                    ? (arr ? " whose \"records\" is not an array" : " without \"records\"")
                    : "");
        if ((int64_t)t[arr].len > lim->max_records) return too_many(lim, err);
        for (size_t k = 0, j = arr + 1; k < t[arr].len; k++, j = t[j].next)
            if (add_root(sc, j)) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        return 0;
    }
    const char *p = body, *end = body + len;
    size_t line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        const char *q = p;
        while (q < le && isspace((unsigned char)*q))
            q++;
        if (q < le) {
            if ((int64_t)sc->n >= lim->max_records) return too_many(lim, err);
            rc = pb_jsontok_parse(tk, p, (size_t)(le - p), &root, &te);
            if (rc == PB_ERR_NOMEM) return pb_err_set(err, rc, "out of memory");
            if (rc) {
                /* the line is parsed alone: its "line 1 " says nothing, the body's line does */
                const char *at = strncmp(te.msg, "line 1 ", 7) ? te.msg : te.msg + 7;
                add_error(errs, sc->n, "", NULL, "line %zu is not JSON: %s", line, at);
                root = PB_PUBLISH_UNPARSABLE;
            }
            if (add_root(sc, root)) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

void pb_publish_scratch_free(pb_publish_scratch_t *sc) {
    if (!sc) return;
    pb_jsontok_free(&sc->tk);
    free(sc->roots);
    free(sc->own);
    free(sc->names);
    memset(sc, 0, sizeof *sc);
}

/* ---- records -------------------------------------------------------------------------------- */

unsigned pb_publish_codec_flags(const pb_publish_target_t *t) {
    return t->encoding_avro ? 0u : PB_CODEC_UNWRAPPED_UNIONS | PB_CODEC_NATURAL;
}

static const char *const record_members = "key, value, id, time, headers";

/* The event time the port's eventTimeField gives, from a validated value (object token value):
 * 0 and *ms, -1 when the field is absent or not a time, PB_ERR_INVALID when a string field is not
 * RFC 3339 (err says why). */
static int field_event_time(const pb_publish_target_t *t, const pb_jsontok_t *tk, size_t value,
                            int64_t *ms, pb_err_t *err) {
    if (tk->tok[value].type != PB_JSONTOK_OBJECT) return -1;
    size_t v = pb_jsontok_get(tk, value, t->event_time_field);
    if (!v) return -1;
    if (tk->tok[v].type == PB_JSONTOK_OBJECT && tk->tok[v].len == 1) v += 2; /* wrapped union */
    const pb_jsontok_tok_t *x = &tk->tok[v];
    if (x->type == PB_JSONTOK_INTEGER) {
        *ms = t->event_time_micros ? x->v.i / 1000 : x->v.i;
        return 0;
    }
    if (x->type == PB_JSONTOK_STRING)
        return pb_timefmt_parse(pb_jsontok_str(tk, x), x->len, ms, err);
    return -1;
}

/* The producer's headers of one record (object token hdrs) into sc->own, names copied
 * NUL-terminated. 0, or PB_ERR_INVALID with the record's error added to errs, or PB_ERR_NOMEM. */
static int record_headers(pb_publish_scratch_t *sc, size_t i, size_t hdrs, pb_publish_record_t *r,
                          const pb_publish_limits_t *lim, size_t *hbytes,
                          pb_publish_errors_t *errs) {
    const pb_jsontok_t *tk = &sc->tk;
    const pb_jsontok_tok_t *t = tk->tok;
    char path[256];
    if (t[hdrs].type != PB_JSONTOK_OBJECT) {
        add_error(errs, i, "/headers", NULL, "expected an object of string values, got %s",
                  tok_type_name(&t[hdrs]));
        return PB_ERR_INVALID;
    }
    if ((int64_t)t[hdrs].len > lim->max_headers) {
        add_error(errs, i, "/headers", "publish.max.record.headers",
                  "%u headers: over the limit publish.max.record.headers = %lld", t[hdrs].len,
                  (long long)lim->max_headers);
        return PB_ERR_INVALID;
    }
    /* Sized for the whole body before the first header is stored (a header needs two tokens and
     * its name's bytes plus a NUL), so pointers into them stay valid. */
    size_t need_own = tk->n / 2 + 1, need_names = 2 * sc->body_len + 2;
    if (sc->n_own == 0 && (sc->own_cap < need_own || sc->names_cap < need_names)) {
        pb_kafka_header_t *o = realloc(sc->own, need_own * sizeof *o);
        if (o) {
            sc->own = o;
            sc->own_cap = need_own;
        }
        char *nm = realloc(sc->names, need_names);
        if (nm) {
            sc->names = nm;
            sc->names_cap = need_names;
        }
        if (!o || !nm) return PB_ERR_NOMEM;
    }
    size_t first = sc->n_own, names0 = sc->names_len;
    for (size_t k = 0, j = hdrs + 1; k < t[hdrs].len; k++, j = t[j + 1].next) {
        const pb_jsontok_tok_t *name = &t[j], *v = &t[j + 1];
        const char *ns = pb_jsontok_str(tk, name);
        if (v->type != PB_JSONTOK_STRING || name->len == 0 || memchr(ns, 0, name->len)) {
            pointer_of(path, sizeof path, "/headers", ns, name->len);
            add_error(errs, i, path, NULL, "%s (value %s)",
                      name->len == 0                 ? "a header needs a non-empty name"
                      : v->type != PB_JSONTOK_STRING ? "a header value must be a string"
                                                     : "a header name cannot contain U+0000",
                      tok_type_name(v));
            sc->n_own = first;
            sc->names_len = names0;
            return PB_ERR_INVALID;
        }
        PB_ASSERT(sc->n_own < sc->own_cap && sc->names_len + name->len + 1 <= sc->names_cap);
        char *nm = sc->names + sc->names_len;
        memcpy(nm, ns, name->len);
        nm[name->len] = '\0';
        sc->names_len += name->len + 1;
        sc->own[sc->n_own].name = nm;
        sc->own[sc->n_own].value = pb_jsontok_str(tk, v);
        sc->own[sc->n_own].len = v->len;
        sc->n_own++;
        *hbytes += name->len + v->len;
    }
    if ((int64_t)*hbytes > lim->max_header_bytes) {
        add_error(errs, i, "/headers", "publish.max.record.header.bytes",
                  "%zu bytes of header names and values: over the limit "
                  "publish.max.record.header.bytes = %lld",
                  *hbytes, (long long)lim->max_header_bytes);
        sc->n_own = first;
        sc->names_len = names0;
        return PB_ERR_INVALID;
    }
    r->own = sc->own + first;
    r->n_own = t[hdrs].len;
    return 0;
}

/* Record i (token ri) into r and its value (and key) into values. 0; PB_ERR_INVALID with the
 * record's one error added to errs (values as on entry); PB_ERR_NOMEM. */
static int prepare_record(const pb_publish_target_t *t, const pb_publish_limits_t *lim,
                          pb_publish_scratch_t *sc, size_t i, size_t ri, pb_publish_record_t *r,
                          pb_buf_t *values, pb_publish_errors_t *errs) {
    const pb_jsontok_t *tk = &sc->tk;
    const pb_jsontok_tok_t *tok = tk->tok;
    char path[256];
    if (tok[ri].type != PB_JSONTOK_OBJECT) {
        add_error(errs, i, "", NULL,
                  "a record must be an object {\"value\": ..., \"key\"?, \"id\"?, \"time\"?, "
                  "\"headers\"?}, got %s",
                  tok_type_name(&tok[ri]));
        return PB_ERR_INVALID;
    }
    size_t value = 0, key = 0, id = 0, tm = 0, hdrs = 0;
    for (size_t k = 0, j = ri + 1; k < tok[ri].len; k++, j = tok[j + 1].next) {
        const pb_jsontok_tok_t *m = &tok[j];
        if (pb_jsontok_eq(tk, m, "value"))
            value = j + 1;
        else if (pb_jsontok_eq(tk, m, "key"))
            key = j + 1;
        else if (pb_jsontok_eq(tk, m, "id"))
            id = j + 1;
        else if (pb_jsontok_eq(tk, m, "time"))
            tm = j + 1;
        else if (pb_jsontok_eq(tk, m, "headers"))
            hdrs = j + 1;
        else {
            pointer_of(path, sizeof path, "", pb_jsontok_str(tk, m), m->len);
            add_error(errs, i, path, NULL, "unknown member (a record has %s)", record_members);
            return PB_ERR_INVALID;
        }
    }
    if (!value) {
        add_error(errs, i, "", NULL, "missing \"value\" (a record has %s)", record_members);
        return PB_ERR_INVALID;
    }
    size_t hbytes = 0, key_avro = 0;
    if (key && tok[key].type != PB_JSONTOK_NULL && t->key_schema) {
        key_avro = key; /* encoded with the port's key schema below */
    } else if (key && tok[key].type == PB_JSONTOK_STRING) {
        r->key = pb_jsontok_str(tk, &tok[key]);
        r->klen = tok[key].len;
    } else if (key && tok[key].type != PB_JSONTOK_NULL) {
        add_error(errs, i, "/key", NULL,
                  "expected a string (sent as its UTF-8 bytes) or null, got %s",
                  tok_type_name(&tok[key]));
        return PB_ERR_INVALID;
    }
    if (id) {
        const pb_jsontok_tok_t *x = &tok[id];
        if (x->type != PB_JSONTOK_STRING || x->len == 0 || x->len > PB_PUBLISH_MAX_ID_BYTES ||
            memchr(pb_jsontok_str(tk, x), 0, x->len)) {
            add_error(errs, i, "/id", NULL,
                      "expected a non-empty string of at most %d bytes (the CloudEvents id), "
                      "got %s",
                      PB_PUBLISH_MAX_ID_BYTES,
                      x->type == PB_JSONTOK_STRING ? "a string of that shape" : tok_type_name(x));
            return PB_ERR_INVALID;
        }
        r->id = pb_jsontok_str(tk, x);
        r->idlen = x->len;
    }
    if (tm) {
        pb_err_t te = {0};
        if (tok[tm].type != PB_JSONTOK_STRING) {
            add_error(errs, i, "/time", NULL, "expected an RFC 3339 date-time string, got %s",
                      tok_type_name(&tok[tm]));
            return PB_ERR_INVALID;
        }
        if (pb_timefmt_parse(pb_jsontok_str(tk, &tok[tm]), tok[tm].len, &r->event_ms, &te)) {
            add_error(errs, i, "/time", NULL, "%s", te.msg);
            return PB_ERR_INVALID;
        }
    }
    if (hdrs && tok[hdrs].type != PB_JSONTOK_NULL) {
        int rc = record_headers(sc, i, hdrs, r, lim, &hbytes, errs);
        if (rc) return rc;
    }
    size_t mark = values->len;
    pb_codec_error_t detail;
    pb_err_t ce = {0};
    if (pb_codec_wire_header(values, t->schema_id)) return PB_ERR_NOMEM;
    int rc = pb_codec_tokens_to_avro(t->schema, tk, value, pb_publish_codec_flags(t), values,
                                     &detail, &ce);
    if (rc == PB_ERR_NOMEM) return rc;
    if (rc) {
        values->len = mark;
        snprintf(path, sizeof path, "/value%s", detail.path);
        add_error(errs, i, path, NULL, "%s", detail.reason[0] ? detail.reason : ce.msg);
        return PB_ERR_INVALID;
    }
    r->voff = mark;
    r->vlen = values->len - mark;
    if (key_avro) {
        size_t kmark = values->len;
        rc = pb_codec_tokens_to_avro(t->key_schema, tk, key_avro, pb_publish_codec_flags(t), values,
                                     &detail, &ce);
        if (rc == PB_ERR_NOMEM) return rc;
        if (rc) {
            values->len = mark;
            snprintf(path, sizeof path, "/key%s", detail.path);
            add_error(errs, i, path, NULL, "%s (the port's keySchema)",
                      detail.reason[0] ? detail.reason : ce.msg);
            return PB_ERR_INVALID;
        }
        r->koff = kmark;
        r->klen = values->len - kmark;
        r->key_encoded = 1;
    }
    size_t total = r->vlen + r->klen + hbytes;
    if ((int64_t)total > lim->max_record_bytes) {
        values->len = mark;
        add_error(errs, i, "", "publish.max.record.bytes",
                  "the encoded record is %zu bytes (value %zu, key %zu, headers %zu): over the "
                  "limit publish.max.record.bytes = %lld",
                  total, r->vlen, r->klen, hbytes, (long long)lim->max_record_bytes);
        return PB_ERR_INVALID;
    }
    if (r->event_ms < 0 && t->event_time_field) {
        pb_err_t te = {0};
        if (field_event_time(t, tk, value, &r->event_ms, &te) > 0) {
            values->len = mark;
            pointer_of(path, sizeof path, "/value", t->event_time_field,
                       strlen(t->event_time_field));
            add_error(errs, i, path, NULL,
                      "the port's eventTimeField must hold an RFC 3339 date-time: %s", te.msg);
            return PB_ERR_INVALID;
        }
        if (r->event_ms < 0) r->event_ms = -1;
    }
    return 0;
}

int pb_publish_prepare(const pb_publish_target_t *t, const pb_publish_limits_t *lim,
                       pb_publish_scratch_t *sc, pb_publish_record_t *out, pb_buf_t *values,
                       pb_publish_errors_t *errs, pb_err_t *err) {
    for (size_t i = 0; i < sc->n; i++) {
        pb_publish_record_t *r = &out[i];
        memset(r, 0, sizeof *r);
        r->event_ms = -1;
        if (sc->roots[i] == PB_PUBLISH_UNPARSABLE) continue; /* counted by the parser */
        int rc = prepare_record(t, lim, sc, i, sc->roots[i], r, values, errs);
        if (rc == PB_ERR_NOMEM) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    }
    return errs->n_bad ? pb_err_set(err, PB_ERR_INVALID, "%zu of %zu records are invalid",
                                    errs->n_bad, sc->n)
                       : 0;
}

/* ---- headers -------------------------------------------------------------------------------- */

static int broker_owned(const char *name) {
    if (strncmp(name, "ce_", 3) == 0) {
        const char *s = name + 3;
        return !strcmp(s, "specversion") || !strcmp(s, "id") || !strcmp(s, "source") ||
               !strcmp(s, "type") || !strcmp(s, "time") || !strcmp(s, "recordedtime") ||
               !strcmp(s, "dataschema");
    }
    return !strcmp(name, PB_HDR_CONTENT_TYPE) || !strcmp(name, PB_HDR_TRACEPARENT) ||
           !strcmp(name, PB_HDR_TRACESTATE) || !strncmp(name, "mesh.", 5);
}

static void put(pb_kafka_header_t *out, size_t *n, size_t cap, const char *name, const char *v,
                size_t len) {
    if (*n >= cap || !v) return;
    out[*n].name = name;
    out[*n].value = v;
    out[*n].len = len;
    (*n)++;
}
#define PUTS(name, v) put(out, &n, cap, name, v, (v) ? strlen(v) : 0)

/* The producer's own header name of r, or NULL. */
static const char *own_header(const pb_publish_record_t *r, const char *name, size_t *len) {
    for (size_t i = 0; i < r->n_own; i++)
        if (!strcmp(r->own[i].name, name)) {
            *len = r->own[i].len;
            return r->own[i].value;
        }
    return NULL;
}

size_t pb_publish_headers(const pb_publish_stamp_t *s, const pb_publish_record_t *r, const char *id,
                          size_t idlen, pb_publish_hdrbuf_t *hb, pb_kafka_header_t *out,
                          size_t cap) {
    size_t n = 0, tp_len = 0, ts_len = 0, corr_len = 0;
    const char *own_tp = NULL, *own_ts = NULL, *own_corr = NULL;
    if (r->own) {
        own_tp = own_header(r, PB_HDR_TRACEPARENT, &tp_len);
        own_ts = own_header(r, PB_HDR_TRACESTATE, &ts_len);
        own_corr = own_header(r, PB_HDR_CE_CORRELATIONID, &corr_len);
    }
    put(out, &n, cap, PB_HDR_CE_SPECVERSION, "1.0", 3);
    put(out, &n, cap, PB_HDR_CE_ID, id, idlen);
    PUTS(PB_HDR_CE_SOURCE, s->source);
    PUTS(PB_HDR_CE_TYPE, s->type);
    if (r->event_ms >= 0 && pb_timefmt_format(r->event_ms, hb->time))
        PUTS(PB_HDR_CE_TIME, hb->time);
    else
        PUTS(PB_HDR_CE_TIME, s->recorded_time);
    PUTS(PB_HDR_CE_RECORDEDTIME, s->recorded_time);
    put(out, &n, cap, PB_HDR_CONTENT_TYPE, "application/avro", 16);
    PUTS(PB_HDR_CE_DATASCHEMA, s->dataschema);
    if (s->correlation_id)
        PUTS(PB_HDR_CE_CORRELATIONID, s->correlation_id);
    else if (own_corr)
        put(out, &n, cap, PB_HDR_CE_CORRELATIONID, own_corr, corr_len);
    /* The broker's span: a child of the record's own traceparent when it brings one, else the
     * request's span (one per request). */
    if (own_tp) {
        pb_id_traceparent_child(own_tp, tp_len, hb->traceparent);
        put(out, &n, cap, PB_HDR_TRACEPARENT, hb->traceparent, PB_ID_TRACEPARENT_LEN);
    } else {
        PUTS(PB_HDR_TRACEPARENT, s->span);
    }
    if (own_ts)
        put(out, &n, cap, PB_HDR_TRACESTATE, own_ts, ts_len);
    else if (s->tracestate)
        PUTS(PB_HDR_TRACESTATE, s->tracestate);
    PUTS(PB_HDR_CONTRACT, s->contract);
    for (size_t i = 0; i < r->n_own; i++) {
        const char *k = r->own[i].name;
        if (broker_owned(k) || !strcmp(k, PB_HDR_CE_CORRELATIONID)) continue;
        put(out, &n, cap, k, r->own[i].value, r->own[i].len);
    }
    return n;
}
#undef PUTS

/* ---- the request ---------------------------------------------------------------------------- */

/* One record in flight. */
typedef struct slot {
    pb_kafka_dr_t dr; /* delivery context, no allocation per message */
    struct pub *p;
    int64_t offset;
    int32_t partition;
    int code;           /* 0 acknowledged; PB_ERR_* failed; -1 pending */
    const char *reason; /* static text (librdkafka's, ours) or p->fail_msg */
    uint32_t idoff, idlen;
    uint32_t vlen;
    double event_s;
    pb_dedupe_entry_t *dd; /* its id's entry while produced (publish.dedupe.window.ms), or NULL */
    pb_dedupe_wait_t wait; /* its id is in flight from another record: told that one's outcome */
    int duplicate;         /* answered with the position of the first record under its id */
} slot_t;

typedef struct pub {
    const pb_publish_env_t *b; /* borrowed; outlives every delivery report */
    pb_http_req_t *req;
    pb_metrics_port_t *mp;
    size_t n, pending, failed, unavailable;
    int enqueueing;
    int64_t start_ns;
    double recv_s;
    char fail_msg[PB_ERR_MSG_MAX]; /* why enqueueing stopped */
    pb_buf_t ids;                  /* every record's ce_id, concatenated */
    slot_t slots[];
} pub_t;

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void reply_buf(pb_http_req_t *req, int status, pb_buf_t *o) {
    pb_buf_t z = {0};
    pb_err_t err = {0};
    /* A large batch's results compress well; as pb_api_reply_json does for other replies. */
    if (o->len >= 512 && pb_gzip_accepted(pb_http_header(req, "Accept-Encoding")) &&
        pb_gzip_compress(o->data, o->len, &z, &err) == 0) {
        pb_http_set_header(req, "Content-Encoding", "gzip");
        pb_http_set_header(req, "Vary", "Accept-Encoding");
        pb_http_reply(req, status, JSON_TYPE, z.data, z.len);
    } else {
        pb_http_reply(req, status, JSON_TYPE, o->data, o->len);
    }
    pb_buf_free(&z);
    pb_buf_free(o);
}

static void reply_msg(pb_http_req_t *req, int status, const char *limit, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_msg(pb_http_req_t *req, int status, const char *limit, const char *fmt, ...) {
    char msg[1024];
    pb_buf_t o = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (status >= 500) pb_log(WARN, "publish", "POST %s: %d %s", pb_http_path(req), status, msg);
    pb_buf_printf(&o, "{\"error_code\":%d,\"message\":", status);
    pb_jsontext_string(&o, msg, strlen(msg), 0);
    if (limit) {
        pb_buf_puts(&o, ",\"limit\":");
        pb_jsontext_string(&o, limit, strlen(limit), 0);
    }
    pb_buf_putc(&o, '}');
    reply_buf(req, status, &o);
}

static void reply_invalid(pb_http_req_t *req, const pb_publish_errors_t *e, size_t total) {
    pb_buf_t o = {0};
    int status = e->over_limit ? 413 : 422;
    pb_buf_printf(&o,
                  "{\"error_code\":%d,\"message\":\"%zu of %zu records are invalid%s; nothing "
                  "was published\",\"errors\":[",
                  status, e->n_bad, total, e->over_limit ? " or over a size limit" : "");
    for (size_t i = 0; i < e->n_listed; i++) {
        const pb_publish_error_t *it = &e->items[i];
        pb_buf_printf(&o, "%s{\"index\":%zu,\"path\":", i ? "," : "", it->index);
        pb_jsontext_string(&o, it->path, strlen(it->path), 0);
        pb_buf_puts(&o, ",\"reason\":");
        pb_jsontext_string(&o, it->reason, strlen(it->reason), 0);
        if (it->limit) {
            pb_buf_puts(&o, ",\"limit\":");
            pb_jsontext_string(&o, it->limit, strlen(it->limit), 0);
        }
        pb_buf_putc(&o, '}');
    }
    pb_buf_puts(&o, "]");
    if (e->n_bad > e->n_listed)
        pb_buf_printf(&o,
                      ",\"more_errors\":%zu,\"note\":\"only the first %d bad records are "
                      "listed\"",
                      e->n_bad - e->n_listed, PB_PUBLISH_MAX_LISTED_ERRORS);
    pb_buf_putc(&o, '}');
    reply_buf(req, status, &o);
}

/* Every record has its outcome: answer (or, the client gone, just log) and free. */
/* Append the decimal text of v (the reply's partitions and offsets: no printf per record). */
static void put_i64(pb_buf_t *o, int64_t v) {
    char tmp[24], *q = tmp + sizeof tmp;
    uint64_t u = v < 0 ? ~(uint64_t)v + 1 : (uint64_t)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--q = '-';
    pb_buf_append(o, q, (size_t)(tmp + sizeof tmp - q));
}

static void finish(pub_t *p) {
    pb_buf_t o = {0};
    /* One allocation for the usual reply: ~50 bytes a result besides its id. */
    pb_buf_reserve(&o, 256 + p->n * 64 + p->ids.len);
    int status = p->failed == 0 ? 200 : p->failed == p->n && p->unavailable == p->n ? 503 : 207;
    if (pb_http_req_gone(p->req))
        pb_log(INFO, "publish",
               "client went away before the reply: %zu of %zu records acknowledged, %zu failed",
               p->n - p->failed, p->n, p->failed);
    if (status == 503) {
        const char *why = p->slots[0].reason ? p->slots[0].reason : "unavailable";
        pb_http_set_header(p->req, "Retry-After", "2");
        pb_buf_printf(&o,
                      "{\"error_code\":503,\"message\":\"Kafka did not acknowledge the %zu "
                      "records within publish.timeout.ms (%lld ms) or refused them: ",
                      p->n, (long long)p->b->cfg->publish_timeout_ms);
        pb_jsontext_escape(&o, why, strlen(why), 0);
        pb_buf_puts(&o, "; retry with the same ids (ce_id is the dedupe key)\",\"results\":[");
    } else {
        pb_buf_puts(&o, "{\"results\":[");
    }
    for (size_t i = 0; i < p->n; i++) {
        slot_t *s = &p->slots[i];
        if (i) pb_buf_putc(&o, ',');
        if (s->code == 0) {
            pb_buf_puts(&o, "{\"partition\":");
            put_i64(&o, s->partition);
            pb_buf_puts(&o, ",\"offset\":");
            put_i64(&o, s->offset);
            if (s->duplicate) pb_buf_puts(&o, ",\"duplicate\":true");
            pb_buf_puts(&o, ",\"id\":");
        } else {
            const char *why = s->reason ? s->reason : "not produced";
            int code = s->code == PB_ERR_TOO_LARGE  ? 413
                       : s->code == PB_ERR_CONFLICT ? 409
                       : s->code == PB_ERR_INVALID  ? 500
                                                    : 503;
            pb_buf_printf(&o, "{\"error_code\":%d,\"error\":", code);
            pb_jsontext_string(&o, why, strlen(why), 0);
            pb_buf_puts(&o, ",\"id\":");
        }
        pb_jsontext_string(&o, (const char *)p->ids.data + s->idoff, s->idlen, 0);
        pb_buf_putc(&o, '}');
    }
    pb_buf_puts(&o, "]");
    if (status == 207) pb_buf_printf(&o, ",\"failed\":%zu", p->failed);
    pb_buf_putc(&o, '}');
    reply_buf(p->req, status, &o);
    pb_buf_free(&p->ids);
    free(p);
}

/* A record of p that Kafka did not take: counted in the reply's status and the port's metrics. */
static void count_failed(pub_t *p, int code) {
    p->failed++;
    if (code == PB_ERR_UNAVAILABLE || code == PB_ERR_TIMEOUT) p->unavailable++;
    pb_metrics_count(p->mp, PB_METRICS_IN, PB_METRICS_FAILED, 1, 0);
}

static void on_delivery(void *opaque, int code, const char *reason, int32_t partition,
                        int64_t offset) {
    slot_t *s = opaque;
    pub_t *p = s->p;
    s->code = code;
    s->partition = partition;
    s->offset = offset;
    s->reason = reason;
    double since = (double)(mono_ns() - p->start_ns) / 1e9; /* one clock read per report */
    if (code) {
        count_failed(p, code);
    } else {
        pb_metrics_count(p->mp, PB_METRICS_IN, PB_METRICS_OK, 1, s->vlen);
        pb_metrics_seen(p->mp, s->event_s, p->recv_s);
        pb_metrics_e2e(p->mp, p->recv_s + since - s->event_s);
    }
    pb_metrics_produce_duration(p->b->metrics, since);
    /* Records waiting on this one's id (this request's too) hear the outcome before this request
     * may finish: their count is in p->pending when they are ours. */
    if (s->dd)
        pb_dedupe_settle(p->b->dedupe, s->dd, code, reason, partition, offset, pb_loop_wall_ms());
    s->dd = NULL;
    if (--p->pending == 0 && !p->enqueueing) finish(p);
}

/* The record first published under this slot's id (in flight when this one came) has its outcome:
 * this one is answered with it, as a duplicate, or failed alike (a retry with the id produces). */
static void on_first_outcome(pb_dedupe_wait_t *w, int code, const char *reason, int32_t partition,
                             int64_t offset) {
    (void)reason; /* valid during the call only: the answer says it in its own words */
    slot_t *s = (slot_t *)((char *)w - offsetof(slot_t, wait));
    pub_t *p = s->p;
    s->code = code;
    s->partition = partition;
    s->offset = offset;
    if (code) {
        s->reason = "the record first published under this id was not acknowledged by Kafka; "
                    "retry with the same id";
        count_failed(p, code);
    } else {
        s->duplicate = 1;
        if (p->mp) p->mp->duplicates++;
    }
    if (--p->pending == 0 && !p->enqueueing) finish(p);
}

/* Look the producer's id of record r (slot s) up in the port's dedupe table before producing it.
 * Returns 1 when the record is answered without being produced (a duplicate, a conflict, or
 * waiting on the record in flight under the same id), 0 to produce it (s->dd set when new). */
static int dedupe(pub_t *p, slot_t *s, const pb_port_t *port, const pb_publish_record_t *r,
                  const void *key, const pb_buf_t *values, int64_t now_ms) {
    pb_dedupe_t *d = p->b->dedupe;
    if (!d || !r->id) return 0;
    /* Key and value bytes past the frame header (the schema id a retry may be encoded with). */
    const uint8_t *v = values->data + r->voff;
    size_t skip = r->vlen >= 5 ? 5 : 0;
    uint64_t digest = pb_dedupe_digest(key, r->klen, v + skip, r->vlen - skip);
    int32_t part = -1;
    int64_t off = -1;
    s->wait.cb = on_first_outcome;
    switch (pb_dedupe_begin(d, port->fqn, r->id, r->idlen, digest, now_ms, &s->wait, &s->dd, &part,
                            &off)) {
    case PB_DEDUPE_NEW: return 0;
    case PB_DEDUPE_NOMEM: s->dd = NULL; return 0; /* stored without the id remembered */
    case PB_DEDUPE_WAITING: p->pending++; return 1;
    case PB_DEDUPE_SEEN:
        s->code = 0;
        s->partition = part;
        s->offset = off;
        s->duplicate = 1;
        if (p->mp) p->mp->duplicates++;
        return 1;
    case PB_DEDUPE_CONFLICT:
    default:
        s->code = PB_ERR_CONFLICT;
        s->partition = part;
        s->offset = off;
        s->reason = part >= 0 ? "another record (key or value) was published to this port under "
                                "this id within publish.dedupe.window.ms; ids must be unique per "
                                "record"
                              : "another record (key or value) under this id is being published "
                                "to this port; ids must be unique per record";
        p->failed++;
        return 1;
    }
}

static int event_time_micros(const pb_schema_t *s, const char *field) {
    const pb_schema_node_t *root = s->root;
    if (!field || root->type != PB_AVRO_RECORD) return 0;
    for (size_t i = 0; i < root->n_fields; i++) {
        if (strcmp(root->fields[i].name, field) != 0) continue;
        const pb_schema_node_t *t = root->fields[i].type;
        if (t->type == PB_AVRO_UNION)
            for (size_t j = 0; j < t->n_branches; j++)
                if (t->branches[j]->type == PB_AVRO_LONG) t = t->branches[j];
        return t->logical == PB_LOGICAL_TIMESTAMP_MICROS ||
               t->logical == PB_LOGICAL_LOCAL_TIMESTAMP_MICROS;
    }
    return 0;
}

void pb_publish_handle(const pb_publish_env_t *b, pb_http_req_t *req, const pb_port_t *port) {
    const pb_config_t *cfg = b->cfg;
    pb_err_t err = {0};
    pb_buf_t plain = {0}, values = {0};
    pb_publish_errors_t errs = {0};
    pb_publish_record_t *recs = NULL;
    pb_publish_scratch_t sc = {0};
    pub_t *p = NULL;
    pb_publish_format_t fmt;
    int zstd = 0;
    int64_t start_ns = mono_ns(), now_ms = pb_loop_wall_ms();
    const pb_publish_limits_t lim = {cfg->publish_max_body_bytes, cfg->publish_max_records,
                                     cfg->publish_max_record_bytes, cfg->publish_max_headers,
                                     cfg->publish_max_header_bytes};
    pb_metrics_port_t *mp =
        pb_metrics_port(b->metrics, port->fqn,
                        port->slo.has_freshness ? (double)port->slo.freshness_ms / 1000.0 : 0);

    if (port->kind != PB_PORT_OUTPUT) {
        reply_msg(req, 404, NULL,
                  "%s is an input port: records are published to output ports only (an input "
                  "port receives what its subscriptions route to it)",
                  port->fqn);
        goto done;
    }
    if (pb_publish_media(pb_http_header(req, "Content-Type"),
                         pb_http_header(req, "Content-Encoding"), &fmt, &zstd, &err)) {
        reply_msg(req, 415, NULL, "%s", err.msg);
        goto done;
    }
    size_t len = 0;
    const char *body = pb_http_body(req, &len);
    if ((int64_t)len > lim.max_body_bytes) {
        reply_msg(req, 413, "publish.max.body.bytes",
                  "the body is %zu bytes: over the limit publish.max.body.bytes = %lld", len,
                  (long long)lim.max_body_bytes);
        goto done;
    }
    if (zstd) {
        int rc = zstd == PB_PUBLISH_ENC_GZIP
                     ? pb_publish_gunzip(body, len, (size_t)lim.max_body_bytes, &plain, &err)
                     : pb_publish_unzstd(body, len, (size_t)lim.max_body_bytes, &plain, &err);
        if (rc == PB_ERR_TOO_LARGE) {
            reply_msg(req, 413, "publish.max.body.bytes",
                      "the body decompresses to more than %lld bytes: over the limit "
                      "publish.max.body.bytes",
                      (long long)lim.max_body_bytes);
            goto done;
        }
        if (rc) {
            reply_msg(req, rc == PB_ERR_NOMEM ? 503 : 400, NULL, "%s", err.msg);
            goto done;
        }
        body = (const char *)plain.data;
        len = plain.len;
    }
    /* The port's current schema: the latest live version of its subject. */
    pb_registry_version_t ver;
    if (pb_registry_get_version(pb_store_registry(b->store), port->subject, -1, 0, &ver, &err) ||
        !ver.parsed) {
        pb_http_set_header(req, "Retry-After", "1");
        reply_msg(req, 503, NULL, "%s has no live schema version yet (%s)", port->fqn, err.msg);
        goto done;
    }
    /* A key schema other than a plain string or bytes (a uuid string, a decimal included) encodes
     * keys as Avro binary. */
    const pb_schema_t *ks = pb_schema_raw_key(port->key_parsed) ? NULL : port->key_parsed;
    pb_publish_target_t tgt = {ver.parsed,
                               (uint32_t)ver.id,
                               port->event_time_field,
                               event_time_micros(ver.parsed, port->event_time_field),
                               ks,
                               0};
    if (pb_codec_encoding(pb_http_query(req, "encoding"), &tgt.encoding_avro, &err)) {
        reply_msg(req, 400, NULL, "%s", err.msg);
        goto done;
    }
    if (pb_buf_reserve(&values, len / 2 + 64)) goto nomem;
    int rc = pb_publish_parse(body, len, fmt, &lim, &sc, &errs, &err);
    if (rc) {
        if (rc == PB_ERR_NOMEM) goto nomem;
        if (rc == PB_ERR_TOO_LARGE)
            reply_msg(req, 413, "publish.max.records", "%s", err.msg);
        else
            reply_msg(req, 400, NULL, "%s", err.msg);
        goto done;
    }
    size_t n = sc.n;
    if (n == 0) {
        reply_msg(req, 400, NULL, "no records in the body: nothing to publish");
        goto done;
    }
    if (!(recs = malloc(n * sizeof *recs))) goto nomem;
    rc = pb_publish_prepare(&tgt, &lim, &sc, recs, &values, &errs, &err);
    if (rc == PB_ERR_NOMEM) goto nomem;
    if (rc) {
        pb_metrics_count(mp, PB_METRICS_IN, PB_METRICS_REJECTED, errs.n_bad, 0);
        reply_invalid(req, &errs, n);
        goto done;
    }

    /* The principal's records/s limit (limit.publish.records.per.s): 429 before anything goes out.
     */
    if (pb_access_charge_records(b->access, req, (int64_t)n)) goto done;

    /* Records are going out: partitions of the port the routers' reader parked for idleness are
     * fetched again now, so they are routed as promptly as elsewhere (once per request). */
    pb_routers_port_publish(b->routers, port->topic);

    /* Request-wide header values. */
    char recorded[PB_TIMEFMT_LEN + 1], dataschema[512], contract[600], span[64];
    pb_timefmt_format(now_ms, recorded);
    snprintf(dataschema, sizeof dataschema, "%s/schemas/ids/%d", b->registry_url, ver.id);
    snprintf(contract, sizeof contract, "%s@%s", port->fqn, port->version);
    const char *tp = pb_http_header(req, "traceparent");
    pb_id_traceparent_child(tp, tp ? strlen(tp) : 0, span);
    const char *root_name = ver.parsed->root->fullname;
    pb_publish_stamp_t st = {
        .source = port->fqn,
        .type = root_name ? root_name : port->fqn,
        .dataschema = dataschema,
        .contract = contract,
        .recorded_time = recorded,
        .received_ms = now_ms,
        .correlation_id = pb_http_header(req, "X-Flow-Id"),
        .traceparent = tp,
        .tracestate = pb_http_header(req, "tracestate"),
        .span = span,
    };
    if (st.correlation_id && !*st.correlation_id) st.correlation_id = NULL;
    if (st.tracestate && !*st.tracestate) st.tracestate = NULL;

    size_t idbytes = 0;
    for (size_t i = 0; i < n; i++)
        idbytes += recs[i].id ? recs[i].idlen : PB_ID_UUID_LEN;
    p = calloc(1, sizeof *p + n * sizeof(slot_t));
    /* Reserved in full: the appends below cannot fail once records are in flight. */
    if (!p || pb_buf_reserve(&p->ids, idbytes + 1)) goto nomem;
    p->b = b;
    p->req = req;
    p->mp = mp;
    p->n = n;
    p->start_ns = start_ns;
    p->recv_s = (double)now_ms / 1000.0;
    p->enqueueing = 1;
    size_t cap = PB_PUBLISH_BROKER_HEADERS + (size_t)lim.max_headers;
    pb_kafka_header_t hstack[PB_PUBLISH_BROKER_HEADERS + 64];
    pb_kafka_header_t *hdrs = cap <= sizeof hstack / sizeof hstack[0] ? hstack : NULL;
    if (!hdrs && !(hdrs = malloc(cap * sizeof *hdrs))) goto nomem;
    pb_publish_hdrbuf_t hb;
    pb_kafka_topic_t *topic = NULL; /* opened at the first record */
    int stop = 0;
    for (size_t i = 0; i < n; i++) {
        const pb_publish_record_t *r = &recs[i];
        slot_t *s = &p->slots[i];
        s->p = p;
        s->code = -1;
        s->idoff = (uint32_t)p->ids.len;
        if (r->id) {
            pb_buf_append(&p->ids, r->id, r->idlen);
            s->idlen = (uint32_t)r->idlen;
        } else {
            pb_id_uuid4(hb.id); /* from id.c's per-thread pool: no syscall per record */
            pb_buf_append(&p->ids, hb.id, PB_ID_UUID_LEN);
            s->idlen = PB_ID_UUID_LEN;
        }
        s->vlen = (uint32_t)r->vlen;
        s->event_s = (double)(r->event_ms >= 0 ? r->event_ms : now_ms) / 1000.0;
        if (stop) {
            s->code = PB_ERR_UNAVAILABLE;
            s->reason = p->fail_msg;
            p->failed++;
            p->unavailable++;
            pb_metrics_count(mp, PB_METRICS_IN, PB_METRICS_FAILED, 1, 0);
            continue;
        }
        const void *key = r->key_encoded ? (const void *)(values.data + r->koff) : r->key;
        if (dedupe(p, s, port, r, key, &values, now_ms)) continue;
        size_t nh = pb_publish_headers(&st, r, (const char *)p->ids.data + s->idoff, s->idlen, &hb,
                                       hdrs, cap);
        pb_err_t pe = {0};
        p->pending++;
        s->dr.cb = on_delivery;
        s->dr.opaque = s;
        s->dr.borrowed = 1;
        if (!topic && !(topic = pb_kafka_topic_open(b->kafka, port->topic)))
            pb_err_set(&pe, PB_ERR_UNAVAILABLE, "produce to %s: out of memory", port->topic);
        if (pe.code ||
            pb_kafka_produce_topic_dr(b->kafka, topic, key, r->klen, values.data + r->voff, r->vlen,
                                      hdrs, nh, &s->dr, &pe)) {
            p->pending--;
            if (s->dd) pb_dedupe_settle(b->dedupe, s->dd, pe.code, pe.msg, -1, -1, now_ms);
            s->dd = NULL;
            s->code = pe.code;
            count_failed(p, pe.code);
            if (!p->fail_msg[0]) snprintf(p->fail_msg, sizeof p->fail_msg, "%s", pe.msg);
            s->reason = p->fail_msg;
            /* A full local queue stays full for this request: fail the rest without trying. */
            if (pe.code == PB_ERR_UNAVAILABLE) stop = 1;
        }
    }
    if (hdrs != hstack) free(hdrs);
    pb_kafka_topic_close(topic);
    p->enqueueing = 0;
    if (p->pending == 0) finish(p);
    p = NULL;
    goto done;
nomem:
    pb_http_set_header(req, "Retry-After", "1");
    reply_msg(req, 503, NULL, "out of memory");
done:
    if (p) {
        pb_buf_free(&p->ids);
        free(p);
    }
    free(recs);
    pb_publish_errors_free(&errs);
    pb_publish_scratch_free(&sc);
    pb_buf_free(&values);
    pb_buf_free(&plain);
}

const char *pb_publish_zstd_version(void) { return ZSTD_versionString(); }
