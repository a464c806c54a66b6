/*
 * gzip.c — gzip replies (contract in gzip.h): the Accept-Encoding check, one-shot and streaming
 * deflate with a gzip wrapper, and one-shot inflate of what pb_gzip_compress wrote.
 * Must not: know HTTP or routes, block, or hold more than one small deflate state per stream.
 */
#include "gzip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define GZIP_WRAP 16      /* windowBits + 16: a gzip header and trailer */
#define STREAM_WBITS 12   /* 4 KiB window per stream */
#define STREAM_MEMLEVEL 5 /* with the window: about 40 KiB of deflate state per stream */

struct pb_gzip_stream {
    z_stream z;
};

int pb_gzip_accepted(const char *v) {
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *tok = v;
        while (*v && *v != ',' && *v != ';' && *v != ' ' && *v != '\t')
            v++;
        size_t n = (size_t)(v - tok);
        int match = (n == 4 && !strncasecmp(tok, "gzip", 4)) ||
                    (n == 6 && !strncasecmp(tok, "x-gzip", 6)) || (n == 1 && *tok == '*');
        double q = 1;
        while (*v && *v != ',') {
            if (*v == ';') {
                const char *p = v + 1;
                while (*p == ' ' || *p == '\t')
                    p++;
                if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') q = strtod(p + 2, NULL);
            }
            v++;
        }
        if (match && q > 0) return 1;
    }
    return 0;
}

/* Deflate in[0..len) with flush into out, growing it. 0 or PB_ERR_NOMEM. */
static int run(z_stream *z, const void *in, size_t len, int flush, pb_buf_t *out) {
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    for (;;) {
        size_t want = deflateBound(z, (uLong)z->avail_in) + 64;
        if (pb_buf_reserve(out, want)) return PB_ERR_NOMEM;
        size_t room = out->cap - out->len;
        z->next_out = out->data + out->len;
        z->avail_out = (uInt)room;
        int r = deflate(z, flush);
        out->len += room - z->avail_out;
        if (r == Z_STREAM_ERROR) return PB_ERR_NOMEM;
        if (flush == Z_FINISH ? r == Z_STREAM_END : (z->avail_in == 0 && z->avail_out > 0))
            return 0;
    }
}

int pb_gzip_compress(const void *in, size_t len, pb_buf_t *out, pb_err_t *err) {
    z_stream z = {0};
    /* An input that fits a stream's 4 KiB window (an OpenLineage job body kept by ops.c, a short
     * reply) loses nothing to the small window, and the small state (~40 KiB) is an ordinary
     * malloc: zlib's default (~270 KiB) went to the system and back on every call, 60 us each. */
    int small = len <= ((size_t)1 << STREAM_WBITS);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, (small ? STREAM_WBITS : 15) + GZIP_WRAP,
                     small ? STREAM_MEMLEVEL : 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    size_t mark = out->len;
    int rc = run(&z, in, len, Z_FINISH, out);
    deflateEnd(&z);
    if (rc) {
        out->len = mark;
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    }
    return 0;
}

int pb_gzip_decompress(const void *in, size_t len, size_t max, pb_buf_t *out, pb_err_t *err) {
    z_stream z = {0};
    if (inflateInit2(&z, 15 + GZIP_WRAP) != Z_OK)
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    size_t mark = out->len;
    int rc = 0;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    for (;;) {
        if (pb_buf_reserve(out, len * 4 + 256)) {
            rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
            break;
        }
        size_t room = out->cap - out->len;
        z.next_out = out->data + out->len;
        z.avail_out = (uInt)room;
        int r = inflate(&z, Z_NO_FLUSH);
        out->len += room - z.avail_out;
        if (out->len - mark > max) {
            rc = pb_err_set(err, PB_ERR_TOO_LARGE, "gzip data: more than %zu bytes decompressed",
                            max);
            break;
        }
        if (r == Z_STREAM_END) break;
        if (r == Z_MEM_ERROR) {
            rc = pb_err_set(err, PB_ERR_NOMEM, "out of memory");
            break;
        }
        if (r != Z_OK || (z.avail_in == 0 && z.avail_out > 0)) { /* corrupt, or input ended */
            rc = pb_err_set(err, PB_ERR_INVALID, "gzip data: %s", z.msg ? z.msg : "truncated");
            break;
        }
    }
    inflateEnd(&z);
    if (rc) out->len = mark;
    return rc;
}

pb_gzip_stream_t *pb_gzip_stream_new(void) {
    pb_gzip_stream_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (deflateInit2(&s->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, STREAM_WBITS + GZIP_WRAP,
                     STREAM_MEMLEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(s);
        return NULL;
    }
    return s;
}

int pb_gzip_stream_write(pb_gzip_stream_t *s, const void *in, size_t len, pb_buf_t *out) {
    return run(&s->z, in, len, Z_SYNC_FLUSH, out);
}

int pb_gzip_stream_finish(pb_gzip_stream_t *s, pb_buf_t *out) {
    return run(&s->z, "", 0, Z_FINISH, out);
}

void pb_gzip_stream_destroy(pb_gzip_stream_t *s) {
    if (!s) return;
    deflateEnd(&s->z);
    free(s);
}
