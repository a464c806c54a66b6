/*
 * err — the error value every fallible function fills in.
 *
 * Owns: the pb_err_t type, the code table (code → name, HTTP status, metric label) and the
 * helpers that set an error or add context as it travels up. Must not allocate: an error has to
 * be reportable when memory is gone, so the message lives inside the struct.
 */
#ifndef PB_ERR_H
#define PB_ERR_H

#include <stddef.h>

/* Error codes. 0 is success; every fallible function returns one of these. */
typedef enum {
    PB_OK = 0,
    PB_ERR_INVALID,      /* input is malformed or breaks a rule: the user can fix it */
    PB_ERR_NOT_FOUND,    /* the named thing does not exist */
    PB_ERR_CONFLICT,     /* exists already / state does not allow it */
    PB_ERR_INCOMPATIBLE, /* schema compatibility check failed */
    PB_ERR_TOO_LARGE,    /* a limit was exceeded */
    PB_ERR_UNSUPPORTED,  /* a valid request we do not do (media type, method) */
    PB_ERR_UNAUTHORIZED, /* no or bad credentials */
    PB_ERR_FORBIDDEN,    /* credentials fine, not allowed */
    PB_ERR_UNAVAILABLE,  /* a dependency (Kafka) cannot serve now; retry later */
    PB_ERR_TIMEOUT,      /* a bounded wait ran out */
    PB_ERR_IO,           /* file or socket error */
    PB_ERR_NOMEM,        /* allocation failed */
    PB_ERR_INTERNAL,     /* a bug or an unexpected library failure */
    PB_ERR__COUNT
} pb_err_code_t;

#define PB_ERR_MSG_MAX 256

/* An error: a code and a human message. Lives on the caller's stack. */
typedef struct pb_err {
    int code;
    char msg[PB_ERR_MSG_MAX];
} pb_err_t;

/* Set *err (if err is not NULL) to code with a printf-style message. Returns code, so callers can
 * write `return pb_err_set(err, PB_ERR_INVALID, "...")`. */
int pb_err_set(pb_err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepend context ("descriptor x.json: ") to the message already in err; keeps the code.
 * Truncates from the end when the result would not fit. Returns err->code (0 if err is NULL). */
int pb_err_prefix(pb_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset err to PB_OK with an empty message. NULL is a no-op. */
void pb_err_clear(pb_err_t *err);

/* Stable lower-case name of a code ("invalid", "not_found"...), used as a metric label. */
const char *pb_err_name(int code);

/* HTTP status a code maps to by default (400, 404, 409, ...; 500 for unknown codes). */
int pb_err_http_status(int code);

/* Programming-error check, always on: aborts with file:line. Never use it on input. */
#define PB_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) pb_assert_fail(#cond, __FILE__, __LINE__);                                    \
    } while (0)

_Noreturn void pb_assert_fail(const char *expr, const char *file, int line);

#endif
