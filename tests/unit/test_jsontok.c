/*
 * test_jsontok — the data plane's JSON reader: RFC 8259 acceptance (and the few texts it refuses
 * on purpose, jsontok.h), errors with line and column, numbers kept as written, U+0000 in strings
 * and keys, the token layout, and reuse of one tokenizer across documents.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsontok.h"

typedef struct {
    const char *text;
    size_t len;        /* 0: strlen(text) */
    const char *error; /* NULL: accepted; else a substring of the error */
} tcase_t;

/* Texts RFC 8259 accepts, and what a reader of it must refuse. */
static const tcase_t cases[] = {
    /* any value at the top (RFC 8259, not RFC 4627) */
    {"5", 0, NULL},
    {"\"s\"", 0, NULL},
    {"null", 0, NULL},
    {" \t\r\n[1, 2.5, -0, 1e3, -1.5E-3, true, false, null, \"x\", {}, []] \n", 0, NULL},
    {"{\"a\":{\"b\":[{}]}}", 0, NULL},
    /* numbers: grammar only; an integer beyond int64 or a double overflow is still JSON */
    {"123456789012345678901234567890", 0, NULL},
    {"1e400", 0, NULL},
    {"-0.0e-0", 0, NULL},
    {"01", 0, "leading zero"},
    {"1.", 0, "invalid number"},
    {".5", 0, "invalid token"},
    {"1e", 0, "invalid number"},
    {"+1", 0, "invalid token"},
    {"-", 0, "invalid number"},
    {"NaN", 0, "invalid token"},
    {"Infinity", 0, "invalid token"},
    /* strings */
    {"\"\\u0000\"", 0, NULL},
    {"{\"k\\u0000ey\":1}", 0, NULL},
    {"\"\\ud83d\\ude00\"", 0, NULL},
    {"\"\\ud83d\"", 0, "invalid surrogate pair"},
    {"\"\\ude00\"", 0, "lone low surrogate"},
    {"\"\\x\"", 0, "invalid escape"},
    {"\"\\u12G4\"", 0, "invalid \\u escape"},
    {"\"a\tb\"", 0, "control character"},
    {"\"\xc3\x28\"", 0, "invalid UTF-8"},
    {"\"\xed\xa0\x80\"", 0, "invalid UTF-8"}, /* an encoded surrogate */
    {"\"\xc0\xaf\"", 0, "invalid UTF-8"},     /* overlong */
    {"\"abc", 0, "premature end of input in a string"},
    /* structure */
    {"[1,]", 0, "invalid token"},
    {"{\"a\":1,}", 0, "string or '}' expected"},
    {"{\"a\" 1}", 0, "':' expected"},
    {"[1 2]", 0, "']' expected"},
    {"", 0, "premature end of input"},
    {"  ", 0, "premature end of input"},
    {"1 2", 0, "end of input expected"},
    {"{}x", 0, "end of input expected"},
    /* deliberate: duplicate keys refused */
    {"{\"a\":1,\"a\":2}", 0, "duplicate object key"},
    {"{\"a\\u0000\":1,\"a\":2}", 0, NULL}, /* different keys */
    /* deliberate: nothing but whitespace after the value, a NUL byte included (jansson ignored
     * one NUL after a number or a literal) */
    {"1\0", 2, "end of input expected"},
    {"true\0", 5, "end of input expected"},
    {"[1]\0", 4, "end of input expected"},
};

static void acceptance(void **state) {
    (void)state;
    pb_jsontok_t tk = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const tcase_t *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->text), root = 99;
        pb_err_t err = {0};
        /* a private copy: a read past the end shows under ASan */
        char *text = malloc(len ? len : 1);
        memcpy(text, c->text, len);
        pb_jsontok_reset(&tk);
        int rc = pb_jsontok_parse(&tk, text, len, &root, &err);
        if (!c->error) {
            if (rc) fail_msg("case %zu (%s): refused: %s", i, c->text, err.msg);
            assert_int_equal(root, 0);
            assert_int_equal(tk.tok[0].next, tk.n);
        } else {
            if (rc != PB_ERR_INVALID) fail_msg("case %zu (%s): accepted", i, c->text);
            if (!strstr(err.msg, c->error))
                fail_msg("case %zu (%s): error \"%s\" lacks \"%s\"", i, c->text, err.msg, c->error);
            assert_int_equal(tk.n, 0); /* as on entry */
        }
        free(text);
    }
    pb_jsontok_free(&tk);
}

static void error_position(void **state) {
    (void)state;
    pb_jsontok_t tk = {0};
    pb_err_t err = {0};
    size_t root;
    const char *text = "{\n  \"a\": 1,\n  \"b\": x\n}";
    assert_int_equal(pb_jsontok_parse(&tk, text, strlen(text), &root, &err), PB_ERR_INVALID);
    assert_string_equal(err.msg, "line 3 column 8 (byte 19): invalid token");
    pb_jsontok_free(&tk);
}

static void numbers_kept_as_written(void **state) {
    (void)state;
    pb_jsontok_t tk = {0};
    pb_err_t err = {0};
    size_t root;
    const char *text = "[9223372036854775807, -9223372036854775808, 9223372036854775808, 12.50, "
                       "1e400, 7]";
    assert_int_equal(pb_jsontok_parse(&tk, text, strlen(text), &root, &err), 0);
    const pb_jsontok_tok_t *t = tk.tok;
    assert_int_equal(t[0].type, PB_JSONTOK_ARRAY);
    assert_int_equal(t[0].len, 6);
    assert_int_equal(t[1].type, PB_JSONTOK_INTEGER);
    assert_true(t[1].v.i == INT64_MAX);
    assert_int_equal(t[2].type, PB_JSONTOK_INTEGER);
    assert_true(t[2].v.i == INT64_MIN);
    /* beyond int64: a REAL token with its text, an integer all the same */
    assert_int_equal(t[3].type, PB_JSONTOK_REAL);
    assert_int_equal(t[3].len, 19);
    assert_memory_equal(t[3].v.s, "9223372036854775808", 19);
    assert_true(pb_jsontok_is_big_integer(&t[3]));
    double d = 0;
    assert_int_equal(pb_jsontok_real(&t[3], &d), 0);
    assert_true(d == 9223372036854775808.0);
    /* the text as written: "12.50", not 12.5 */
    assert_int_equal(t[4].type, PB_JSONTOK_REAL);
    assert_int_equal(t[4].len, 5);
    assert_memory_equal(t[4].v.s, "12.50", 5);
    assert_false(pb_jsontok_is_big_integer(&t[4]));
    assert_int_equal(pb_jsontok_real(&t[4], &d), 0);
    assert_true(d == 12.5);
    /* a double overflow is the consumer's to refuse */
    assert_int_equal(pb_jsontok_real(&t[5], &d), -1);
    assert_true(isinf(d));
    assert_int_equal(pb_jsontok_real(&t[6], &d), 0);
    assert_true(d == 7.0);
    /* a long number text (the heap copy) */
    pb_jsontok_reset(&tk);
    char big[400];
    memset(big, '1', sizeof big);
    big[1] = '.';
    assert_int_equal(pb_jsontok_parse(&tk, big, sizeof big, &root, &err), 0);
    assert_int_equal(tk.tok[0].type, PB_JSONTOK_REAL);
    assert_int_equal(pb_jsontok_real(&tk.tok[0], &d), 0);
    assert_true(fabs(d - 1.1111111111111111) < 1e-15);
    pb_jsontok_free(&tk);
}

static void nul_in_strings_and_keys(void **state) {
    (void)state;
    pb_jsontok_t tk = {0};
    pb_err_t err = {0};
    size_t root;
    const char *text = "{\"a\\u0000b\":\"\\u0001\\u0000\",\"plain\":\"x\"}";
    assert_int_equal(pb_jsontok_parse(&tk, text, strlen(text), &root, &err), 0);
    const pb_jsontok_tok_t *t = tk.tok;
    assert_int_equal(t[0].len, 2);
    assert_int_equal(t[1].len, 3);
    assert_memory_equal(pb_jsontok_str(&tk, &t[1]), "a\0b", 3);
    assert_int_equal(t[2].len, 2);
    assert_memory_equal(pb_jsontok_str(&tk, &t[2]), "\x01\0", 2);
    /* a key with U+0000 never equals a C string, even its prefix */
    assert_false(pb_jsontok_eq(&tk, &t[1], "a"));
    assert_int_equal(pb_jsontok_get(&tk, 0, "a"), 0);
    assert_int_equal(pb_jsontok_get(&tk, 0, "plain"), 4);
    /* unescaped strings point into the input */
    assert_false(t[3].esc);
    assert_ptr_equal(pb_jsontok_str(&tk, &t[3]), text + 28);
    pb_jsontok_free(&tk);
}

static void depth_limit(void **state) {
    (void)state;
    pb_jsontok_t tk = {0};
    pb_err_t err = {0};
    size_t root, n = PB_JSONTOK_MAX_DEPTH;
    char *text = malloc(2 * n + 2);
    for (size_t i = 0; i < n; i++) {
        text[i] = '[';
        text[2 * n - 1 - i] = ']';
    }
    assert_int_equal(pb_jsontok_parse(&tk, text, 2 * n, &root, &err), 0);
    pb_jsontok_reset(&tk);
    memmove(text + 1, text, 2 * n);
    text[0] = '[';
    text[2 * n + 1] = ']';
    assert_int_equal(pb_jsontok_parse(&tk, text, 2 * n + 2, &root, &err), PB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "maximum parsing depth"));
    free(text);
    pb_jsontok_free(&tk);
}

/* Documents appended to one tokenizer keep earlier tokens valid; a refused one changes nothing. */
static void several_documents(void **state) {
    (void)state;
    pb_jsontok_t tk = {0};
    pb_err_t err = {0};
    size_t r1, r2, r3;
    assert_int_equal(pb_jsontok_parse(&tk, "{\"a\\n\":1}", 9, &r1, &err), 0);
    size_t n1 = tk.n;
    assert_int_equal(pb_jsontok_parse(&tk, "[1,", 3, &r2, &err), PB_ERR_INVALID);
    assert_int_equal(tk.n, n1);
    assert_int_equal(pb_jsontok_parse(&tk, "[\"\\t\",2]", 8, &r3, &err), 0);
    assert_int_equal(r1, 0);
    assert_int_equal(r3, n1);
    assert_memory_equal(pb_jsontok_str(&tk, &tk.tok[1]), "a\n", 2);
    assert_memory_equal(pb_jsontok_str(&tk, &tk.tok[r3 + 1]), "\t", 1);
    pb_jsontok_free(&tk);
    pb_jsontok_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(acceptance),
        cmocka_unit_test(error_position),
        cmocka_unit_test(numbers_kept_as_written),
        cmocka_unit_test(nul_in_strings_and_keys),
        cmocka_unit_test(depth_limit),
        cmocka_unit_test(several_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
