/*
 * jsontok — a one-pass JSON tokenizer into a flat, reusable token array (no tree, no per-value
 * allocation): the data plane's JSON reader (publish bodies, the JSON -> Avro encoder).
 *
 * Accepts RFC 8259 JSON text, any value at the top: UTF-8 checked, escapes decoded (surrogate
 * pairs joined, lone surrogates refused), U+0000 allowed in strings, object keys included (an
 * Avro bytes value or map key may hold it). Where it deliberately differs from a plain RFC 8259
 * reader, and from jansson (the control plane's parser):
 * - duplicate object keys are refused (RFC 8259 leaves their meaning open; jansson's
 *   JSON_REJECT_DUPLICATES does the same);
 * - nesting is limited to PB_JSONTOK_MAX_DEPTH values (jansson's limit);
 * - numbers are kept as written: an integer in the int64 range is an INTEGER token, every other
 *   number (a fraction, an exponent, or an integer beyond int64) is a REAL token holding its text,
 *   so a decimal can be converted exactly; jansson refuses integers beyond int64 and reals that
 *   overflow a double, here the consumer decides (pb_jsontok_real says when a double overflows);
 * - no byte may follow the value but whitespace (jansson ignores one NUL after a number or a
 *   literal);
 * - texts of 2 GiB or more are refused (PB_ERR_TOO_LARGE).
 * Errors say what and where: "line 3 column 7 (byte 41): ',' or '}' expected".
 *
 * Layout: a value is one token followed by its children's tokens (an object's are key, value,
 * key, value...), and every token knows the index just past its subtree (next), so siblings are
 * walked without recursion. Strings without escapes and number texts point into the input (not
 * NUL-terminated; the input must outlive the tokens); decoded strings live in the tokenizer's own
 * buffer. A string may hold NUL bytes (t->len counts them).
 * Must not: know about schemas, Avro or publish. Not thread-safe per object; one per thread.
 */
#ifndef PB_JSONTOK_H
#define PB_JSONTOK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Nesting limit (jansson's JSON_PARSER_MAX_DEPTH): the top-level value is depth 1. */
#define PB_JSONTOK_MAX_DEPTH 2048

typedef enum {
    PB_JSONTOK_NULL = 1,
    PB_JSONTOK_FALSE,
    PB_JSONTOK_TRUE,
    PB_JSONTOK_INTEGER,
    PB_JSONTOK_REAL,
    PB_JSONTOK_STRING,
    PB_JSONTOK_ARRAY,
    PB_JSONTOK_OBJECT,
} pb_jsontok_type_t;

typedef struct pb_jsontok_tok {
    uint8_t type;  /* pb_jsontok_type_t */
    uint8_t esc;   /* string: decoded into the tokenizer's buffer (v.off), else v.s in the input */
    uint32_t len;  /* string: bytes; real: bytes of its text; array: items; object: members */
    uint32_t next; /* index of the first token after this value and its children */
    union {
        const char *s; /* string, not escaped; real: its text as written in the input */
        size_t off;    /* string, escaped: offset in strs */
        int64_t i;     /* integer */
    } v;
} pb_jsontok_tok_t;

typedef struct pb_jsontok {
    pb_jsontok_tok_t *tok;
    size_t n, cap;
    char *strs; /* decoded strings */
    size_t strs_len, strs_cap;
    uint32_t *scratch; /* duplicate-key table */
    size_t scratch_cap;
} pb_jsontok_t;

/*
 * Tokenize json[0..len) as one JSON value, appending its tokens to tk (earlier tokens stay valid,
 * so several documents can share one tokenizer; pb_jsontok_reset forgets them all). *root receives
 * the index of its first token. Returns 0, PB_ERR_INVALID ("line 1 column 18 (byte 17): ..."; tk
 * is as it was on entry), PB_ERR_TOO_LARGE (2 GiB or more) or PB_ERR_NOMEM.
 */
int pb_jsontok_parse(pb_jsontok_t *tk, const char *json, size_t len, size_t *root, pb_err_t *err);

/* The value of number token t (INTEGER or REAL) as a double, rounded as strtod rounds. Returns 0,
 * -1 when the number is beyond the double range (*d is then +-HUGE_VAL), or PB_ERR_NOMEM (a text
 * of 128 bytes or more is copied to the heap). */
int pb_jsontok_real(const pb_jsontok_tok_t *t, double *d);

/* Is REAL token t an integer written without fraction or exponent (one beyond int64)? */
int pb_jsontok_is_big_integer(const pb_jsontok_tok_t *t);

/* Forget every token (keeps the memory for the next parse). */
void pb_jsontok_reset(pb_jsontok_t *tk);

/* Free tk's memory (tk itself is the caller's); tk is then empty and reusable. NULL is a no-op. */
void pb_jsontok_free(pb_jsontok_t *tk);

/* The bytes of string token t (t->len of them, not NUL-terminated). */
static inline const char *pb_jsontok_str(const pb_jsontok_t *tk, const pb_jsontok_tok_t *t) {
    return t->esc ? tk->strs + t->v.off : t->v.s;
}

/* Does string token t equal the NUL-terminated s? (A token holding U+0000 never does.) */
int pb_jsontok_eq(const pb_jsontok_t *tk, const pb_jsontok_tok_t *t, const char *s);

/* The value of the member named key in object token obj, or 0 when absent (index 0 is never a
 * member). */
size_t pb_jsontok_get(const pb_jsontok_t *tk, size_t obj, const char *key);

#endif
