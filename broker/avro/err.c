/*
 * err.c — the error code table and the helpers that set an error or prefix context to it, without
 * allocating.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int http;
} table[PB_ERR__COUNT] = {
    [PB_OK] = {"ok", 200},
    [PB_ERR_INVALID] = {"invalid", 422},
    [PB_ERR_NOT_FOUND] = {"not_found", 404},
    [PB_ERR_CONFLICT] = {"conflict", 409},
    [PB_ERR_INCOMPATIBLE] = {"incompatible", 409},
    [PB_ERR_TOO_LARGE] = {"too_large", 413},
    [PB_ERR_UNSUPPORTED] = {"unsupported", 415},
    [PB_ERR_UNAUTHORIZED] = {"unauthorized", 401},
    [PB_ERR_FORBIDDEN] = {"forbidden", 403},
    [PB_ERR_UNAVAILABLE] = {"unavailable", 503},
    [PB_ERR_TIMEOUT] = {"timeout", 504},
    [PB_ERR_IO] = {"io", 500},
    [PB_ERR_NOMEM] = {"nomem", 503},
    [PB_ERR_INTERNAL] = {"internal", 500},
};

int pb_err_set(pb_err_t *err, int code, const char *fmt, ...) {
    if (!err) return code;
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int pb_err_prefix(pb_err_t *err, const char *fmt, ...) {
    if (!err) return 0;
    char head[PB_ERR_MSG_MAX];
    char old[PB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* head first, then as much of the old message as fits (truncation is intended). */
    size_t hl = strnlen(head, sizeof head - 1), ol = strnlen(old, sizeof old - 1);
    if (hl > sizeof err->msg - 1) hl = sizeof err->msg - 1;
    if (ol > sizeof err->msg - 1 - hl) ol = sizeof err->msg - 1 - hl;
    memcpy(err->msg, head, hl);
    memcpy(err->msg + hl, old, ol);
    err->msg[hl + ol] = '\0';
    return err->code;
}

void pb_err_clear(pb_err_t *err) {
    if (!err) return;
    err->code = PB_OK;
    err->msg[0] = '\0';
}

const char *pb_err_name(int code) {
    if (code < 0 || code >= PB_ERR__COUNT) return "unknown";
    return table[code].name;
}

int pb_err_http_status(int code) {
    if (code < 0 || code >= PB_ERR__COUNT) return 500;
    return table[code].http;
}

void pb_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "portbroker: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
