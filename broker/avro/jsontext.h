/*
 * jsontext — small JSON text helpers every module shares: string escaping, JSON pointers, and
 * percent-encoding and -decoding of URL path segments and query values.
 *
 * Owns: the one set of rules below. Pure: no I/O, no global state; the pb_buf_t functions
 * allocate only through pb_buf_t, the others write into the caller's fixed buffer (log.c uses
 * them when memory is gone). Must not: know schemas, Avro, HTTP or jansson.
 *
 * Rules (the contract):
 * - Escaping writes the body of a JSON string (the _string variants add the quotes):
 *   '"' and '\' as \" and \\; U+0008, U+0009, U+000A, U+000C, U+000D as \b \t \n \f \r; every
 *   other byte below 0x20, NUL included, as \u00xx (lowercase hex); everything else as is.
 * - Text (flags 0): the input is meant to be UTF-8. A valid sequence (RFC 3629, jansson's rules:
 *   no overlong forms, no surrogates, nothing above U+10FFFF) is copied. A byte that does not
 *   start a valid sequence is written as the code point of its value, U+0080..U+00FF (two UTF-8
 *   bytes), and decoding resumes at the next byte: the output is always valid JSON, nothing is
 *   dropped, and text that is Latin-1 reads as itself.
 * - Bytes (PB_JSONTEXT_BYTES): every byte is the code point of its value (U+0000..U+00FF), with
 *   no UTF-8 reading at all: Avro's JSON encoding of `bytes` and `fixed`.
 * - JSON pointer (RFC 6901): a segment is appended as "/" then the segment with "~" as "~0" and
 *   "/" as "~1"; other bytes are copied. An array index is its decimal digits.
 * - Percent-decoding: "%" followed by two hex digits (either case) is the byte they spell; any
 *   other "%" is an error naming its offset and the three characters found there. With
 *   PB_JSONTEXT_PLUS (query values, application/x-www-form-urlencoded) "+" is a space; else "+"
 *   stays "+". With PB_JSONTEXT_TEXT the decoded bytes must be UTF-8 without NUL (a name used
 *   as C text): %00 and bytes that are not UTF-8 are errors saying so.
 * - Percent-encoding (RFC 3986 section 2): the unreserved bytes A-Z a-z 0-9 '-' '.' '_' '~' are
 *   copied; every other byte (NUL, '%', '+', space, '?', '#', '&', '=', ':' and every byte from
 *   0x80 included) is "%" and two uppercase hex digits. That is right for one path segment (a
 *   subject "a/b" is "a%2Fb": its '/' must not split the path) and for a query value (read back
 *   with PB_JSONTEXT_PLUS, where a raw '+' would be a space). With PB_JSONTEXT_SLASH, '/' is
 *   copied as well: a path of several segments (a port's short form "product/port", which a
 *   {port} template spans). Decoding what was encoded gives the bytes back, with or without
 *   PB_JSONTEXT_PLUS.
 */
#ifndef PB_JSONTEXT_H
#define PB_JSONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define PB_JSONTEXT_BYTES 1u /* escape: every byte is a code point (Avro JSON bytes/fixed) */
#define PB_JSONTEXT_PLUS 2u  /* percent-decode: "+" is a space (query values) */
#define PB_JSONTEXT_TEXT 4u  /* percent-decode: the result must be UTF-8 without NUL */
#define PB_JSONTEXT_SLASH 8u /* percent-encode: '/' is copied (several path segments) */

/* Length (2..4) of the valid UTF-8 sequence that starts at p[0] >= 0x80 within p[0..n), or 0 when
 * p[0] does not start one (rules above). For p[0] < 0x80 returns 1. n must be at least 1. */
size_t pb_jsontext_utf8_len(const uint8_t *p, size_t n);

/* Append s[0..n) escaped per the rules above (flags 0 or PB_JSONTEXT_BYTES), without quotes.
 * Returns 0 or PB_ERR_NOMEM (out then holds a prefix of the escaped text, never a split escape
 * or character). out->data is kept NUL-terminated after data[len]. */
int pb_jsontext_escape(pb_buf_t *out, const void *s, size_t n, unsigned flags);

/* The same with the surrounding quotes: a complete JSON string. Returns 0 or PB_ERR_NOMEM. */
int pb_jsontext_string(pb_buf_t *out, const void *s, size_t n, unsigned flags);

/* Escape into a fixed buffer: writes the escaped form of as many whole input characters of
 * s[0..n) as fit in out[0..cap-1) and a NUL after them (cap >= 1). Returns the bytes written (not
 * counting the NUL); *used (may be NULL) gets the input bytes consumed, n when all fit. No heap:
 * usable when memory is gone. */
size_t pb_jsontext_escape_to(char *out, size_t cap, const void *s, size_t n, unsigned flags,
                             size_t *used);

/* Append "/" and the RFC 6901 escaped segment seg[0..n) to a JSON pointer. Keeps a NUL after
 * data[len] so path->data is a C string. Returns 0 or PB_ERR_NOMEM (path unchanged). To pop a
 * segment, remember path->len before and restore it with pb_jsontext_pointer_pop. */
int pb_jsontext_pointer_push(pb_buf_t *path, const char *seg, size_t n);

/* The same for an array index (its decimal digits). Returns 0 or PB_ERR_NOMEM. */
int pb_jsontext_pointer_push_index(pb_buf_t *path, size_t i);

/* Cut path back to len bytes (a length it had before), NUL-terminated. */
void pb_jsontext_pointer_pop(pb_buf_t *path, size_t len);

/* Fixed-buffer form: path holds a NUL-terminated pointer of len bytes in cap bytes. Appends "/"
 * and the escaped segment, as much of it as fits without splitting a "~0"/"~1" escape, keeps the
 * NUL, and returns the new length. The result is shorter than a full push only when cap is too
 * small; callers size cap for their longest pointer and treat a cut pointer as a message detail. */
size_t pb_jsontext_pointer_push_to(char *path, size_t cap, size_t len, const char *seg, size_t n);

/* Percent-decode s[0..n) (flags: PB_JSONTEXT_PLUS, PB_JSONTEXT_TEXT) into out[0..cap) with a NUL
 * after the bytes; *out_len (may be NULL) gets the decoded length (it may hold NUL bytes unless
 * PB_JSONTEXT_TEXT). out may be NULL with cap 0: then s is only checked and measured. Returns 0,
 * PB_ERR_INVALID ("at offset 4: '%' must be followed by two hex digits, not '%zz'", "at offset 3:
 * %00 (NUL) is not allowed", "at offset 6: the decoded bytes are not UTF-8") or PB_ERR_TOO_LARGE
 * when the result and its NUL do not fit in cap; out is unspecified on error. */
int pb_jsontext_pct_decode(const char *s, size_t n, unsigned flags, char *out, size_t cap,
                           size_t *out_len, pb_err_t *err);

/* Append s[0..n) percent-encoded per the rules above (flags 0: one path segment or a query value;
 * PB_JSONTEXT_SLASH: a path of segments) to out, keeping a NUL after data[len]. Returns 0 or
 * PB_ERR_NOMEM (out unchanged). Pure. */
int pb_jsontext_pct_encode(pb_buf_t *out, const void *s, size_t n, unsigned flags);

#endif
