/* timefmt: RFC 3339 formatting and parsing, and W3C traceparent children (id.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "id.h"
#include "timefmt.h"

static int64_t parse_ok(const char *s) {
    int64_t ms = -1;
    pb_err_t err = {0};
    int rc = pb_timefmt_parse(s, strlen(s), &ms, &err);
    if (rc) fail_msg("%s: %s", s, err.msg);
    return ms;
}

static void test_format(void **state) {
    (void)state;
    char out[PB_TIMEFMT_LEN + 1];
    assert_int_equal(pb_timefmt_format(0, out), 24);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    pb_timefmt_format(1795256130123, out);
    assert_string_equal(out, "2026-11-21T10:15:30.123Z");
    pb_timefmt_format(951782400000, out); /* leap day 2000 */
    assert_string_equal(out, "2000-02-29T00:00:00.000Z");
    pb_timefmt_format(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    assert_int_equal(pb_timefmt_format(253402300800000, out), 0); /* year 10000 */
    assert_string_equal(out, "");
}

static void test_parse(void **state) {
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2026-11-21T10:15:30.123Z"), 1795256130123);
    assert_int_equal(parse_ok("2026-11-21T11:15:30.123+01:00"), 1795256130123);
    assert_int_equal(parse_ok("2026-11-21T05:45:30.123456789-04:30"), 1795256130123);
    assert_int_equal(parse_ok("2026-11-21t10:15:30.1z"), 1795256130100);
    assert_int_equal(parse_ok("2026-11-21 10:15:30Z"), 1795256130000);
    assert_int_equal(parse_ok("1969-12-31T23:59:59.999Z"), -1);
    assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), 1483228799999);
    char out[PB_TIMEFMT_LEN + 1];
    for (int64_t t = -86400000LL * 800; t < 86400000LL * 365 * 300; t += 86400000LL * 97 + 12345) {
        pb_timefmt_format(t, out);
        assert_int_equal(parse_ok(out), t);
    }
}

static void test_parse_errors(void **state) {
    (void)state;
    static const struct {
        const char *in, *msg;
    } cases[] = {
        {"", "at 0: expected a 4-digit year"},
        {"2026-13-01T00:00:00Z", "at 5: expected a month 01-12"},
        {"2026-02-30T00:00:00Z", "expected a day of that month"},
        {"2025-02-29T00:00:00Z", "not a leap year"},
        {"2026-11-21X10:15:30Z", "at 10: expected 'T' between date and time"},
        {"2026-11-21T24:00:00Z", "expected an hour 00-23"},
        {"2026-11-21T10:15:30", "expected 'Z' or an offset"},
        {"2026-11-21T10:15:30.Z", "expected digits after '.'"},
        {"2026-11-21T10:15:30Zjunk", "unexpected text after the time"},
        {"2026-11-21T10:15:30+0100", "expected ':' in the offset"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 42;
        pb_err_t err = {0};
        assert_int_equal(pb_timefmt_parse(cases[i].in, strlen(cases[i].in), &ms, &err),
                         PB_ERR_INVALID);
        if (!strstr(err.msg, cases[i].msg)) fail_msg("%s: got \"%s\"", cases[i].in, err.msg);
        assert_int_equal(ms, 42);
    }
}

static void test_traceparent(void **state) {
    (void)state;
    const char *parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    char a[PB_ID_TRACEPARENT_LEN + 1], b[PB_ID_TRACEPARENT_LEN + 1];
    assert_int_equal(pb_id_traceparent_child(parent, strlen(parent), a), 1);
    assert_int_equal(strlen(a), 55);
    assert_memory_equal(a, parent, 36); /* same version and trace id */
    assert_string_equal(a + 52, "-01"); /* same flags */
    assert_memory_not_equal(a + 36, parent + 36, 16);
    pb_id_traceparent_child(parent, strlen(parent), b);
    assert_memory_not_equal(a + 36, b + 36, 16); /* a new span each time */
    static const char *bad[] = {
        NULL,
        "",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* unknown version */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* zero span id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* upper case */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(pb_id_traceparent_child(bad[i], bad[i] ? strlen(bad[i]) : 0, a), 0);
        assert_int_equal(strlen(a), 55);
        assert_memory_equal(a, "00-", 3);
        assert_string_equal(a + 52, "-01");
        if (bad[i] && strlen(bad[i]) > 35) assert_memory_not_equal(a + 3, bad[i] + 3, 32);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_traceparent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
