/*
 * gzip — Content-Encoding: gzip for replies (zlib; DESIGN.md §5, issue #16).
 *
 * Owns: whether a request's Accept-Encoding admits gzip, one-shot compression of a reply body (and
 * its decompression, for what the broker keeps compressed in memory), and
 * the per-stream compressor of long replies (each write flushed, Z_SYNC_FLUSH, so a client sees
 * every record as soon as it is written; memory per stream bounded: a 4 KiB window, ~40 KiB state).
 * Must not: know HTTP or any route (api.c and sub.c decide when to use it), block.
 */
#ifndef PB_GZIP_H
#define PB_GZIP_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* 1 when the Accept-Encoding header value (may be NULL) admits gzip (or x-gzip, or *) with a
 * q-value above 0, else 0. "gzip;q=0" refuses it. */
int pb_gzip_accepted(const char *accept_encoding);

/* Append the gzip (RFC 1952) compression of in[0..len) to out. Returns 0 or PB_ERR_NOMEM. */
int pb_gzip_compress(const void *in, size_t len, pb_buf_t *out, pb_err_t *err);

/* Append the decompression of gzip data in[0..len) (one member, as pb_gzip_compress writes) to
 * out. Returns 0; PB_ERR_TOO_LARGE when it would exceed max bytes; PB_ERR_INVALID when in is not
 * whole gzip data (truncated, corrupt, a bad checksum); PB_ERR_NOMEM. On failure out is unchanged
 * (its length; its capacity may have grown). */
int pb_gzip_decompress(const void *in, size_t len, size_t max, pb_buf_t *out, pb_err_t *err);

typedef struct pb_gzip_stream pb_gzip_stream_t;

/* A compressor for one long reply; NULL out of memory. */
pb_gzip_stream_t *pb_gzip_stream_new(void);

/* Append the compression of in[0..len) to out, flushed so that out holds everything written so far
 * (decodable by the client now). Returns 0 or PB_ERR_NOMEM. */
int pb_gzip_stream_write(pb_gzip_stream_t *z, const void *in, size_t len, pb_buf_t *out);

/* Append the end of the gzip member (its trailer) to out. Returns 0 or PB_ERR_NOMEM. */
int pb_gzip_stream_finish(pb_gzip_stream_t *z, pb_buf_t *out);

/* Free. NULL is a no-op. */
void pb_gzip_stream_destroy(pb_gzip_stream_t *z);

#endif
