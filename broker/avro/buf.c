/*
 * buf.c — the growable byte buffer: doubling growth, failure reported through the return value.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

void pb_buf_free(pb_buf_t *b) {
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int pb_buf_reserve(pb_buf_t *b, size_t more) {
    if (b->cap - b->len >= more) return 0;
    size_t need = b->len + more;
    if (need < b->len) return PB_ERR_NOMEM; /* overflow */
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p) return PB_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int pb_buf_append(pb_buf_t *b, const void *p, size_t n) {
    if (n == 0) return 0;
    int rc = pb_buf_reserve(b, n);
    if (rc) return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int pb_buf_puts(pb_buf_t *b, const char *s) { return pb_buf_append(b, s, strlen(s)); }

int pb_buf_printf(pb_buf_t *b, const char *fmt, ...) {
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return PB_ERR_INTERNAL;
    int rc = pb_buf_reserve(b, (size_t)n + 1);
    if (rc) return rc;
    if ((size_t)n < sizeof small) {
        memcpy(b->data + b->len, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}

int pb_buf_roff(pb_buf_t *b, const char *s) {
    int rc = 0, code = 0;
    int bol = b->len == 0 || b->data[b->len - 1] == '\n';
    for (; *s && !rc; s++) {
        if (bol && (*s == '.' || *s == '\'')) rc = pb_buf_puts(b, "\\&");
        if (rc) break;
        switch (*s) {
        case '\\': rc = pb_buf_puts(b, "\\e"); break;
        case '-': rc = pb_buf_puts(b, "\\-"); break;
        case '`':
            code = !code;
            rc = pb_buf_puts(b, code ? "\\fB" : "\\fR");
            break;
        default: rc = pb_buf_append(b, s, 1);
        }
        bol = *s == '\n';
    }
    if (!rc && code) rc = pb_buf_puts(b, "\\fR");
    return rc;
}
