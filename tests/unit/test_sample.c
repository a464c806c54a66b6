/* Unit tests for sample.c's pure part: the ?limit= of GET /v1/ports/{port}/sample (default, range,
 * the config key named in the error). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sample.h"

static void limits(void **state) {
    (void)state;
    pb_err_t err = {0};
    int64_t n = 0;
    assert_int_equal(pb_sample_parse_limit(NULL, 20, &n, &err), 0);
    assert_int_equal(n, 5); /* the default */
    assert_int_equal(pb_sample_parse_limit(NULL, 3, &n, &err), 0);
    assert_int_equal(n, 3); /* the default capped by sample.max.records */
    assert_int_equal(pb_sample_parse_limit("1", 20, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pb_sample_parse_limit("20", 20, &n, &err), 0);
    assert_int_equal(n, 20);
    const char *bad[] = {"0", "21", "-1", "", "2x", " 3", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 7;
        assert_int_equal(pb_sample_parse_limit(bad[i], 20, &n, &err), PB_ERR_INVALID);
        assert_int_equal(n, 7); /* unchanged */
        assert_non_null(strstr(err.msg, "is not an integer in [1, 20] (sample.max.records)"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(limits)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
