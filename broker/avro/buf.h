/*
 * buf — a growable byte buffer.
 *
 * Owns: one heap block and its length. Used to build Avro binary, HTTP bodies, metric text.
 * Must not: know about any format. Growth failure is reported, never fatal.
 */
#ifndef PB_BUF_H
#define PB_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct pb_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} pb_buf_t;

/* A zeroed pb_buf_t is a valid empty buffer; pb_buf_free releases it and zeroes it again. */
void pb_buf_free(pb_buf_t *b);

/* Make room for `more` bytes after len. Returns 0 or PB_ERR_NOMEM (buffer unchanged). */
int pb_buf_reserve(pb_buf_t *b, size_t more);

/* Append n bytes. Returns 0 or PB_ERR_NOMEM. */
int pb_buf_append(pb_buf_t *b, const void *p, size_t n);

/* Append one byte. Returns 0 or PB_ERR_NOMEM. */
static inline int pb_buf_putc(pb_buf_t *b, uint8_t c) {
    if (b->len == b->cap) {
        int rc = pb_buf_reserve(b, 1);
        if (rc) return rc;
    }
    b->data[b->len++] = c;
    return 0;
}

/* Append printf-formatted text (no NUL counted in len, but one is kept after data[len]). */
int pb_buf_printf(pb_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append a NUL-terminated string. */
int pb_buf_puts(pb_buf_t *b, const char *s);

/* Append s as roff (man page) text: backslashes escaped, `code` spans set in bold, a '.' or '\''
 * that would start a line made literal, '-' as \- (so option names copy and paste). Returns 0 or
 * PB_ERR_NOMEM. Pure. */
int pb_buf_roff(pb_buf_t *b, const char *s);

/* Forget the contents, keep the memory. */
static inline void pb_buf_reset(pb_buf_t *b) { b->len = 0; }

#endif
