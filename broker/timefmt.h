/*
 * timefmt — RFC 3339 timestamps as CloudEvents' ce_time / ce_recordedtime carry them.
 *
 * Owns: formatting Unix milliseconds as RFC 3339 UTC text and parsing RFC 3339 text (any offset,
 * any fraction digits) back. Must not: read the clock (callers pass the time). Pure, thread-safe.
 */
#ifndef PB_TIMEFMT_H
#define PB_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* "2026-11-21T10:15:30.123Z" is 24 chars; years beyond 9999 are not formatted. */
#define PB_TIMEFMT_LEN 24

/* Write unix_ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" and a NUL. Returns the length (24), or 0 when the
 * time is before 0000-01-01 or after 9999-12-31 (out is then ""). */
size_t pb_timefmt_format(int64_t unix_ms, char out[PB_TIMEFMT_LEN + 1]);

/*
 * Parse RFC 3339 date-time text s[0..len): "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"
 * ('t', 'z' and a space for 'T' also accepted; a leap second 60 reads as 59.999). Fractions beyond
 * milliseconds are truncated. Returns 0 and *unix_ms, or PB_ERR_INVALID saying what is wrong and
 * at which character ("at 10: expected 'T' between date and time").
 */
int pb_timefmt_parse(const char *s, size_t len, int64_t *unix_ms, pb_err_t *err);

#endif
