/* log: JSON lines are valid JSON whatever the message holds (control characters, quotes, bytes
 * that are not UTF-8, a message longer than the line), read back with jansson. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* Log one message as JSON with stderr sent to a temporary file; returns the line (malloc'd). */
static char *log_line(const char *msg) {
    char path[] = "/tmp/pb-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    pb_log_configure(PB_LOG_INFO, 1);
    pb_log_write(PB_LOG_WARN, "test", "%s", msg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    assert_true(n > 0);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
    buf[n] = '\0';
    close(fd);
    return buf;
}

/* The "msg" member of a JSON line, which must parse (one object, then '\n'). */
static char *msg_of(const char *line) {
    size_t len = strlen(line);
    assert_true(len > 0 && line[len - 1] == '\n');
    json_error_t je;
    json_t *j = json_loadb(line, len - 1, 0, &je);
    if (!j) fail_msg("not JSON (%s): %s", je.text, line);
    assert_string_equal(json_string_value(json_object_get(j, "facility")), "test");
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    char *m = strdup(json_string_value(json_object_get(j, "msg")));
    json_decref(j);
    return m;
}

static void test_json_text(void **state) {
    (void)state;
    char *line = log_line("quote \" backslash \\ tab \t bell \a caf\xc3\xa9");
    char *m = msg_of(line);
    assert_string_equal(m, "quote \" backslash \\ tab \t bell \a caf\xc3\xa9");
    free(m);
    free(line);
}

/* Bytes that are not UTF-8 used to be copied raw (a line no JSON reader takes): now each is the
 * code point of its value. */
static void test_not_utf8(void **state) {
    (void)state;
    char *line = log_line("name '\xff\xfe' at \xc3");
    char *m = msg_of(line);
    assert_string_equal(m, "name '\xc3\xbf\xc3\xbe' at \xc3\x83");
    free(m);
    free(line);
}

/* A message of control characters longer than the line: cut at a whole escape, still JSON. */
static void test_long(void **state) {
    (void)state;
    char big[2100];
    memset(big, '\x01', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *line = log_line(big);
    char *m = msg_of(line);
    assert_true(strlen(m) > 600);
    assert_true(strspn(m, "\x01") == strlen(m));
    free(m);
    free(line);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_json_text),
                                       cmocka_unit_test(test_not_utf8),
                                       cmocka_unit_test(test_long)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
