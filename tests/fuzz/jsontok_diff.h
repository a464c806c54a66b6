/* The differential check between jansson + pb_codec_json_to_avro and jsontok +
 * pb_codec_tokens_to_avro, shared by tests/fuzz/fuzz_jsontok.c and tests/unit/test_jsontok.c.
 * jd_check returns NULL when both paths agree on a text (accept/refuse, the same value, and for
 * every schema and flag set the same return code and the same bytes), else what differs. */
#ifndef PB_JSONTOK_DIFF_H
#define PB_JSONTOK_DIFF_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "jsontok.h"

/* Is token i of tk the same value as v? */
static int jd_same(const json_t *v, const pb_jsontok_t *tk, size_t i) {
    const pb_jsontok_tok_t *t = &tk->tok[i];
    switch (json_typeof(v)) {
    case JSON_NULL: return t->type == PB_JSONTOK_NULL;
    case JSON_TRUE: return t->type == PB_JSONTOK_TRUE;
    case JSON_FALSE: return t->type == PB_JSONTOK_FALSE;
    case JSON_INTEGER: return t->type == PB_JSONTOK_INTEGER && t->v.i == json_integer_value(v);
    case JSON_REAL: {
        double a = json_real_value(v), b = t->v.d;
        return t->type == PB_JSONTOK_REAL && memcmp(&a, &b, sizeof a) == 0;
    }
    case JSON_STRING:
        return t->type == PB_JSONTOK_STRING && t->len == json_string_length(v) &&
               memcmp(pb_jsontok_str(tk, t), json_string_value(v), t->len) == 0;
    case JSON_ARRAY: {
        if (t->type != PB_JSONTOK_ARRAY || t->len != json_array_size(v)) return 0;
        size_t j = i + 1;
        for (size_t k = 0; k < t->len; k++, j = tk->tok[j].next)
            if (!jd_same(json_array_get(v, k), tk, j)) return 0;
        return j == t->next;
    }
    case JSON_OBJECT: {
        if (t->type != PB_JSONTOK_OBJECT || t->len != json_object_size(v)) return 0;
        /* Same members in the same (insertion) order. */
        size_t j = i + 1;
        const char *key;
        json_t *mv;
        json_object_foreach((json_t *)v, key, mv) {
            const pb_jsontok_tok_t *k = &tk->tok[j];
            if (k->type != PB_JSONTOK_STRING || !pb_jsontok_eq(tk, k, key)) return 0;
            if (!jd_same(mv, tk, j + 1)) return 0;
            j = tk->tok[j + 1].next;
        }
        return j == t->next;
    }
    }
    return 0;
}

static const unsigned jd_flags[] = {0, PB_CODEC_UNWRAPPED_UNIONS,
                                    PB_CODEC_UNWRAPPED_UNIONS | PB_CODEC_IGNORE_UNKNOWN_FIELDS};

/* Compare both encoders over value v / token root for schema s. */
static const char *jd_encode(const pb_schema_t *s, const json_t *v, const pb_jsontok_t *tk,
                             size_t root, char *why, size_t cap) {
    for (size_t f = 0; f < sizeof jd_flags / sizeof jd_flags[0]; f++) {
        pb_buf_t a = {0}, b = {0};
        pb_err_t ea = {0}, eb = {0};
        pb_buf_putc(&a, 0x55); /* both append after existing bytes and restore them on failure */
        pb_buf_putc(&b, 0x55);
        int ra = pb_codec_json_to_avro(s, v, jd_flags[f], &a, NULL, &ea);
        int rb = pb_codec_tokens_to_avro(s, tk, root, jd_flags[f], &b, &eb);
        const char *bad = NULL;
        if (ra != rb)
            bad = "return codes differ";
        else if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            bad = "encoded bytes differ";
        else if (rb && (b.len != 1 || !eb.msg[0]))
            bad = "a failed token encode left bytes or no message";
        if (bad)
            snprintf(why, cap, "flags %u: %s (jansson %d \"%s\", tokens %d)", jd_flags[f], bad, ra,
                     ea.msg, rb);
        pb_buf_free(&a);
        pb_buf_free(&b);
        if (bad) return why;
    }
    return NULL;
}

/* The whole check for one text; schemas may be NULL/0 to compare parsing only. */
static const char *jd_check(const char *text, size_t len, int any, pb_schema_t *const *schemas,
                            int n_schemas, char *why, size_t cap) {
    pb_jsontok_t tk = {0};
    pb_err_t err = {0};
    size_t root = 0;
    const char *res = NULL;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | (any ? JSON_DECODE_ANY : 0), NULL);
    /* A token before the document: roots other than 0 must work too. */
    pb_jsontok_parse(&tk, "0", 1, PB_JSONTOK_ANY, &root, &err);
    size_t before = tk.n;
    int rc = pb_jsontok_parse(&tk, text, len, any ? PB_JSONTOK_ANY : 0, &root, &err);
    if (rc == PB_ERR_NOMEM || rc == PB_ERR_TOO_LARGE) {
        snprintf(why, cap, "tokenizer: %s", err.msg);
        res = why;
    } else if (!v != !!rc) {
        snprintf(why, cap, "jansson %s, jsontok %s (%s)", v ? "accepts" : "refuses",
                 rc ? "refuses" : "accepts", rc ? err.msg : "");
        res = why;
    } else if (rc && tk.n != before) {
        snprintf(why, cap, "a refused text left tokens behind");
        res = why;
    } else if (v && (root != before || !jd_same(v, &tk, root) || tk.tok[root].next != tk.n)) {
        snprintf(why, cap, "the token tree is not jansson's value");
        res = why;
    } else if (v) {
        for (int k = 0; k < n_schemas && !res; k++)
            res = jd_encode(schemas[k], v, &tk, root, why, cap);
    }
    json_decref(v);
    pb_jsontok_free(&tk);
    return res;
}

#endif
