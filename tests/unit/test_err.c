/* Unit tests for err.c and buf.c: codes, context prefixes, truncation, buffer growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "buf.h"
#include "err.h"

static void set_and_prefix(void **state) {
    (void)state;
    pb_err_t err = {0};
    assert_int_equal(pb_err_set(&err, PB_ERR_INVALID, "bad %s", "name"), PB_ERR_INVALID);
    pb_err_prefix(&err, "descriptor %s: ", "x.json");
    assert_string_equal(err.msg, "descriptor x.json: bad name");
    assert_int_equal(err.code, PB_ERR_INVALID);
    assert_int_equal(pb_err_set(NULL, PB_ERR_IO, "ignored"), PB_ERR_IO);
}

static void prefix_truncates(void **state) {
    (void)state;
    pb_err_t err = {0};
    char longmsg[400];
    memset(longmsg, 'a', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;
    pb_err_set(&err, PB_ERR_INVALID, "%s", longmsg);
    assert_int_equal(strlen(err.msg), PB_ERR_MSG_MAX - 1);
    pb_err_prefix(&err, "ctx: ");
    assert_int_equal(strncmp(err.msg, "ctx: aaa", 8), 0);
    assert_int_equal(strlen(err.msg), PB_ERR_MSG_MAX - 1);
}

static void code_table(void **state) {
    (void)state;
    assert_string_equal(pb_err_name(PB_ERR_NOT_FOUND), "not_found");
    assert_int_equal(pb_err_http_status(PB_ERR_NOT_FOUND), 404);
    assert_int_equal(pb_err_http_status(PB_ERR_UNAVAILABLE), 503);
    assert_int_equal(pb_err_http_status(9999), 500);
    assert_string_equal(pb_err_name(-1), "unknown");
    for (int c = 0; c < PB_ERR__COUNT; c++)
        assert_non_null(pb_err_name(c));
}

static void buf_grows(void **state) {
    (void)state;
    pb_buf_t b = {0};
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pb_buf_printf(&b, "%04d", i), 0);
    assert_int_equal(b.len, 4000);
    assert_memory_equal(b.data + 3996, "0999", 4);
    assert_int_equal(b.data[b.len], 0);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(pb_buf_printf(&b, "%s!", big), 0);
    assert_int_equal(b.len, 5000);
    assert_int_equal(b.data[4999], '!');
    pb_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(pb_buf_putc(&b, 7), 0);
    pb_buf_free(&b);
    assert_null(b.data);
    pb_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_and_prefix),
        cmocka_unit_test(prefix_truncates),
        cmocka_unit_test(code_table),
        cmocka_unit_test(buf_grows),
    };
    return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
