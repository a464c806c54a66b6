/*
 * jsontok — a one-pass JSON tokenizer into a flat, reusable token array (no tree, no per-value
 * allocation), for the publish hot path.
 *
 * Accepts exactly what jansson's json_loadb accepts with JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL
 * (and, with PB_JSONTOK_ANY, JSON_DECODE_ANY): RFC 8259 syntax, UTF-8 checked, escapes decoded
 * (surrogate pairs joined, lone surrogates refused; \u0000 kept in values, refused in object
 * keys), duplicate object keys
 * refused, integers in the int64 range (else refused), reals as strtod reads them (overflow to
 * infinity refused), nesting at most PB_JSONTOK_MAX_DEPTH values deep. tests/fuzz/fuzz_jsontok.c
 * checks the equivalence.
 * Errors say only what and at which byte offset: callers that must show jansson's exact message
 * (publish's 400) parse the rejected text with jansson again; that is off the hot path.
 *
 * Layout: a value is one token followed by its children's tokens (an object's are key, value,
 * key, value...), and every token knows the index just past its subtree (next), so siblings are
 * walked without recursion. Strings without escapes point into the input (not NUL-terminated; the
 * input must outlive the tokens); decoded strings live in the tokenizer's own buffer. A string
 * value may hold NUL bytes (t->len counts them); an object key never does.
 * Must not: know about schemas, Avro or publish. Not thread-safe per object; one per thread.
 */
#ifndef PB_JSONTOK_H
#define PB_JSONTOK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* jansson's JSON_PARSER_MAX_DEPTH: the top-level value is depth 1. */
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
    uint32_t len;  /* string: bytes; array: items; object: members */
    uint32_t next; /* index of the first token after this value and its children */
    union {
        const char *s; /* string, not escaped */
        size_t off;    /* string, escaped: offset in strs */
        int64_t i;     /* integer */
        double d;      /* real */
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

/* Flags for pb_jsontok_parse. */
enum {
    PB_JSONTOK_ANY = 1u << 0, /* any value at the top (else an object or array, as jansson) */
};

/*
 * Tokenize json[0..len) as one JSON value, appending its tokens to tk (earlier tokens stay valid,
 * so several documents can share one tokenizer; pb_jsontok_reset forgets them all). *root receives
 * the index of its first token. Returns 0, PB_ERR_INVALID ("byte 17: ..."; tk is as it was on
 * entry) or PB_ERR_NOMEM. Inputs of 4 GiB or more are PB_ERR_TOO_LARGE.
 */
int pb_jsontok_parse(pb_jsontok_t *tk, const char *json, size_t len, unsigned flags, size_t *root,
                     pb_err_t *err);

/* Forget every token (keeps the memory for the next parse). */
void pb_jsontok_reset(pb_jsontok_t *tk);

/* Length of the valid UTF-8 sequence at p (p[0] >= 0x80, p < end): 2-4, or 0 when it is not valid
 * (no overlongs, no surrogates, nothing above U+10FFFF; jansson's rules). Also the codec's. */
size_t pb_jsontok_utf8_seq(const unsigned char *p, const unsigned char *end);

/* Free tk's memory (tk itself is the caller's); tk is then empty and reusable. NULL is a no-op. */
void pb_jsontok_free(pb_jsontok_t *tk);

/* The bytes of string token t (t->len of them, not NUL-terminated). */
static inline const char *pb_jsontok_str(const pb_jsontok_t *tk, const pb_jsontok_tok_t *t) {
    return t->esc ? tk->strs + t->v.off : t->v.s;
}

/* Does string token t equal the NUL-terminated s? */
int pb_jsontok_eq(const pb_jsontok_t *tk, const pb_jsontok_tok_t *t, const char *s);

/* The value of the member named key in object token obj, or 0 when absent (index 0 is never a
 * member). */
size_t pb_jsontok_get(const pb_jsontok_t *tk, size_t obj, const char *key);

#endif
