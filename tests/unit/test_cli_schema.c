/* Unit tests for cli_schema.c: `portbroker schema check|canonical|fingerprint` exit codes and
 * outputs (text and --json), stdin, bad arguments, unreadable files, and the shared helpers.
 * Each command runs in a child process whose stdout/stderr are captured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_schema.h"

typedef struct {
    int code;
    char out[4096];
    char err[4096];
} result_t;

static void slurp(int fd, char *buf, size_t size) {
    size_t n = 0;
    ssize_t got;
    while (n + 1 < size && (got = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = 0;
}

/* Run pb_cli_schema(argv) in a child with stdin_text on stdin (NULL: empty). */
static result_t run(const char *stdin_text, const char *const *argv) {
    result_t r = {0};
    int in[2], out[2], err[2];
    int argc = 0;
    while (argv[argc])
        argc++;
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(err), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(in[1]);
        close(out[0]);
        close(err[0]);
        char *args[32];
        for (int i = 0; i <= argc; i++)
            args[i] = (char *)argv[i];
        int code = pb_cli_schema(argc, args);
        fflush(stdout);
        fflush(stderr);
        _exit(code);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (stdin_text)
        assert_int_equal(write(in[1], stdin_text, strlen(stdin_text)), (ssize_t)strlen(stdin_text));
    close(in[1]);
    slurp(out[0], r.out, sizeof r.out);
    slurp(err[0], r.err, sizeof r.err);
    close(out[0]);
    close(err[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    return r;
}

static char tmpdir[] = "/tmp/pb_cli_schema_XXXXXX";

static const char *write_file(const char *name, const char *text) {
    static char path[8][512];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static const char *record = "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a\",\"doc\":\"x\","
                            "\"fields\":[{\"name\":\"f\",\"type\":\"int\",\"default\":1}]}";
static const char *record_canonical =
    "{\"name\":\"a.R\",\"type\":\"record\",\"fields\":[{\"name\":\"f\",\"type\":\"int\"}]}";

static void fingerprint_of_null(void **state) {
    (void)state;
    const char *f = write_file("null.avsc", "\"null\"\n");
    result_t r = run(NULL, (const char *[]){"schema", "fingerprint", f, NULL});
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "63dd24e7cc258f8a\n");
    r = run("{\"type\":\"null\"}", (const char *[]){"schema", "fingerprint", "-", NULL});
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "63dd24e7cc258f8a\n");
    r = run("\"null\"", (const char *[]){"schema", "--json", "fingerprint", "-", NULL});
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out,
                        "{\"fingerprint\":\"63dd24e7cc258f8a\",\"canonical\":\"\\\"null\\\"\"}\n");
}

static void canonical(void **state) {
    (void)state;
    const char *f = write_file("r.avsc", record);
    result_t r = run(NULL, (const char *[]){"schema", "canonical", f, NULL});
    assert_int_equal(r.code, 0);
    char want[512];
    snprintf(want, sizeof want, "%s\n", record_canonical);
    assert_string_equal(r.out, want);
    r = run(NULL, (const char *[]){"schema", "canonical", f, "--json", NULL});
    assert_int_equal(r.code, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "canonical")), record_canonical);
    json_decref(j);
}

static void check_valid_and_invalid(void **state) {
    (void)state;
    const char *good = write_file("good.avsc", record);
    const char *bad = write_file(
        "bad.avsc", "{\"type\":\"record\",\"name\":\"R\",\"fields\":"
                    "[{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"a\",\"type\":\"int\"}]}");
    result_t r = run(NULL, (const char *[]){"schema", "check", good, NULL});
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "valid"));
    r = run(NULL, (const char *[]){"schema", "check", bad, NULL});
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "at /fields/1/name: duplicate field name \"a\""));
    r = run(NULL, (const char *[]){"schema", "check", "--json", bad, NULL});
    assert_int_equal(r.code, 1);
    assert_string_equal(
        r.out, "{\"valid\":false,\"error\":\"at /fields/1/name: duplicate field name \\\"a\\\" in "
               "record R\"}\n");
    r = run(NULL, (const char *[]){"schema", "check", "--json", good, NULL});
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "\"valid\":true"));
    /* not JSON at all is a "no" for check */
    r = run("{", (const char *[]){"schema", "check", "-", NULL});
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "not valid JSON"));
}

static void invalid_input_is_2(void **state) {
    (void)state;
    const char *bad = write_file("bad2.avsc", "\"nope\"");
    result_t r = run(NULL, (const char *[]){"schema", "canonical", bad, NULL});
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "unknown type \"nope\""));
    r = run(NULL, (const char *[]){"schema", "fingerprint", "--json", bad, NULL});
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.out, "{\"error\":"));
    r = run(NULL, (const char *[]){"schema", "check", "/nonexistent/x.avsc", NULL});
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "/nonexistent/x.avsc"));
    r = run(NULL, (const char *[]){"schema", "check", NULL});
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "usage"));
    r = run(NULL, (const char *[]){"schema", "check", "a", "b", NULL});
    assert_int_equal(r.code, 2);
    r = run(NULL, (const char *[]){"schema", "check", "--bogus", NULL});
    assert_int_equal(r.code, 2);
    r = run(NULL, (const char *[]){"schema", "frobnicate", NULL});
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "unknown subcommand 'frobnicate'"));
    r = run(NULL, (const char *[]){"schema", NULL});
    assert_int_equal(r.code, 2);
    r = run(NULL, (const char *[]){"schema", "--json", NULL});
    assert_int_equal(r.code, 2);
    assert_string_equal(r.out, "{\"error\":\"missing subcommand\"}\n");
    r = run(NULL, (const char *[]){"schema", "--help", NULL});
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "fingerprint"));
}

static void too_large_file(void **state) {
    (void)state;
    char *big = malloc(PB_SCHEMA_MAX_BYTES + 2);
    assert_non_null(big);
    memset(big, ' ', PB_SCHEMA_MAX_BYTES + 1);
    memcpy(big, "\"int\"", 5);
    big[PB_SCHEMA_MAX_BYTES + 1] = 0;
    const char *f = write_file("big.avsc", big);
    free(big);
    result_t r = run(NULL, (const char *[]){"schema", "fingerprint", f, NULL});
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "larger than the limit"));
    r = run(NULL, (const char *[]){"schema", "check", f, NULL});
    assert_int_equal(r.code, 1);
    unlink(f);
}

static void helpers(void **state) {
    (void)state;
    char a0[] = "x", a1[] = "--json", a2[] = "y", a3[] = "--json";
    char *argv[] = {a0, a1, a2, a3, NULL};
    int argc = 4;
    assert_int_equal(pb_cli_take_json_flag(&argc, argv), 1);
    assert_int_equal(argc, 2);
    assert_string_equal(argv[1], "y");
    assert_null(argv[2]);
    assert_int_equal(pb_cli_take_json_flag(&argc, argv), 0);
    char *text = NULL;
    size_t len = 0;
    pb_err_t err = {0};
    const char *f = write_file("h.txt", "hello");
    assert_int_equal(pb_cli_read_file(f, 100, &text, &len, &err), 0);
    assert_int_equal(len, 5);
    assert_string_equal(text, "hello");
    free(text);
    assert_int_equal(pb_cli_read_file(f, 4, &text, &len, &err), PB_ERR_TOO_LARGE);
    assert_null(text);
    assert_int_equal(pb_cli_read_file("/nonexistent", 4, &text, &len, &err), PB_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent"));
}

static int setup(void **state) {
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fingerprint_of_null),     cmocka_unit_test(canonical),
        cmocka_unit_test(check_valid_and_invalid), cmocka_unit_test(invalid_input_is_2),
        cmocka_unit_test(too_large_file),          cmocka_unit_test(helpers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
