/* Unit tests for compat.c and cli_compat.c: level and kind names, report ownership, error
 * summaries, limits, and the `schema compat` subcommand's output and exit codes. The rules
 * themselves are covered by tests/data/compat/ (run_compat_cases) and tests/checks/compat-oracle.t.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli_schema.h"
#include "compat.h"
#include "schema.h"

static pb_schema_t *parse(const char *text) {
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    if (pb_schema_parse(text, strlen(text), &s, &err)) fail_msg("parse %s: %s", text, err.msg);
    return s;
}

static void level_names(void **state) {
    (void)state;
    for (int i = 0; i < PB_COMPAT__LEVEL_COUNT; i++)
        assert_int_equal(pb_compat_level_parse(pb_compat_level_name((pb_compat_level_t)i)), i);
    assert_int_equal(pb_compat_level_parse("full_transitive"), PB_COMPAT_FULL_TRANSITIVE);
    assert_int_equal(pb_compat_level_parse("Backward"), PB_COMPAT_BACKWARD);
    assert_int_equal(pb_compat_level_parse("BACKWARDS"), -1);
    assert_int_equal(pb_compat_level_parse(""), -1);
    assert_int_equal(pb_compat_level_parse(NULL), -1);
    assert_string_equal(pb_compat_level_name((pb_compat_level_t)99), "UNKNOWN");
    assert_string_equal(pb_compat_level_name(PB_COMPAT_NONE), "NONE");
}

static void kind_names(void **state) {
    (void)state;
    const char *java[] = {"NAME_MISMATCH",        "FIXED_SIZE_MISMATCH",
                          "MISSING_ENUM_SYMBOLS", "READER_FIELD_MISSING_DEFAULT_VALUE",
                          "TYPE_MISMATCH",        "MISSING_UNION_BRANCH"};
    for (int i = 0; i < PB_COMPAT__KIND_COUNT; i++) {
        assert_string_equal(pb_compat_kind_name((pb_compat_kind_t)i), java[i]);
        assert_int_equal(pb_compat_kind_parse(java[i]), i);
    }
    assert_int_equal(pb_compat_kind_parse("type_mismatch"), -1);
    assert_string_equal(pb_compat_kind_name((pb_compat_kind_t)-1), "UNKNOWN");
    assert_string_equal(pb_compat_dir_name(PB_COMPAT_DIR_FORWARD), "forward");
}

static void report_reset(void **state) {
    (void)state;
    pb_compat_report_reset(NULL);
    pb_compat_report_t rep = {0};
    pb_compat_report_reset(&rep);
    pb_schema_t *r = parse("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
                           "\"type\":\"int\"},{\"name\":\"b\",\"type\":\"int\"}]}");
    pb_schema_t *w = parse("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
                           "\"type\":\"long\"}]}");
    pb_err_t err = {0};
    assert_int_equal(pb_compat_check(r, w, &rep, &err), PB_ERR_INCOMPATIBLE);
    assert_int_equal(err.code, PB_ERR_INCOMPATIBLE);
    assert_false(rep.compatible);
    assert_int_equal(rep.n_issues, 2);
    assert_int_equal(rep.issues[0].version, -1);
    assert_int_equal(rep.issues[0].dir, PB_COMPAT_DIR_PAIR);
    assert_non_null(strstr(err.msg, "2 incompatibilities; first at /fields/0/type: field 'a': "));
    /* a second check on the same report starts from a clean one */
    assert_int_equal(pb_compat_check(w, w, &rep, &err), 0);
    assert_true(rep.compatible);
    assert_int_equal(rep.n_issues, 0);
    pb_compat_report_reset(&rep);
    assert_null(rep.issues);
    pb_schema_destroy(r);
    pb_schema_destroy(w);
}

static void level_messages(void **state) {
    (void)state;
    pb_schema_t *v0 = parse("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
                            "\"type\":\"int\"}]}");
    pb_schema_t *v1 = parse("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
                            "\"type\":\"string\"}]}");
    pb_schema_t *cand = parse("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
                              "\"type\":\"long\"}]}");
    const pb_schema_t *versions[] = {v0, v1};
    pb_compat_report_t rep = {0};
    pb_err_t err = {0};
    /* newest first: version index 1 is named, backward before forward */
    assert_int_equal(
        pb_compat_check_level(PB_COMPAT_FULL_TRANSITIVE, cand, versions, 2, &rep, &err),
        PB_ERR_INCOMPATIBLE);
    assert_non_null(strstr(err.msg, "not FULL_TRANSITIVE compatible with version index 1 (the new "
                                    "schema cannot read data written with it)"));
    assert_int_equal(rep.n_issues, 3); /* v1 backward, v1 forward, v0 forward */
    assert_int_equal(rep.issues[0].version, 1);
    assert_int_equal(rep.issues[0].dir, PB_COMPAT_DIR_BACKWARD);
    assert_int_equal(rep.issues[2].version, 0);
    assert_int_equal(rep.issues[2].dir, PB_COMPAT_DIR_FORWARD);
    /* non-transitive looks at the latest only */
    assert_int_equal(pb_compat_check_level(PB_COMPAT_FORWARD, cand, versions, 2, &rep, &err),
                     PB_ERR_INCOMPATIBLE);
    assert_non_null(
        strstr(err.msg, "version index 1 (it cannot read data written with the new schema)"));
    assert_int_equal(rep.n_issues, 1);
    /* an out-of-range level is an error, not a verdict */
    assert_int_equal(pb_compat_check_level((pb_compat_level_t)42, cand, versions, 2, &rep, &err),
                     PB_ERR_INVALID);
    /* NONE and an empty history */
    assert_int_equal(pb_compat_check_level(PB_COMPAT_NONE, cand, versions, 2, &rep, &err), 0);
    assert_true(rep.compatible);
    assert_int_equal(pb_compat_check_level(PB_COMPAT_FULL, cand, NULL, 0, &rep, &err), 0);
    assert_true(rep.compatible);
    pb_compat_report_reset(&rep);
    pb_schema_destroy(v0);
    pb_schema_destroy(v1);
    pb_schema_destroy(cand);
}

/* A record with n int fields, or n string fields. */
static pb_schema_t *wide(size_t n, const char *type) {
    pb_buf_t b = {0};
    pb_buf_printf(&b, "{\"type\":\"record\",\"name\":\"W\",\"fields\":[");
    for (size_t i = 0; i < n; i++)
        pb_buf_printf(&b, "%s{\"name\":\"f%zu\",\"type\":\"%s\"}", i ? "," : "", i, type);
    pb_buf_printf(&b, "]}");
    pb_schema_t *s = parse((const char *)b.data);
    pb_buf_free(&b);
    return s;
}

static void issue_cap(void **state) {
    (void)state;
    pb_schema_t *r = wide(PB_COMPAT_MAX_ISSUES + 50, "int");
    pb_schema_t *w = wide(PB_COMPAT_MAX_ISSUES + 50, "string");
    pb_compat_report_t rep = {0};
    pb_err_t err = {0};
    assert_int_equal(pb_compat_check(r, w, &rep, &err), PB_ERR_INCOMPATIBLE);
    assert_int_equal(rep.n_issues, PB_COMPAT_MAX_ISSUES);
    assert_int_equal(rep.n_omitted, 50);
    assert_non_null(strstr(err.msg, "1050 incompatibilities"));
    pb_compat_report_reset(&rep);
    pb_schema_destroy(r);
    pb_schema_destroy(w);
}

/* Top {x0: [null, R0], x1: [null, R1 {p: R0}], ..., last: R(n-1)}, with the x fields named
 * with `prefix`. With different prefixes the x fields are skipped (defaults), so the first
 * pair visited below `last` is the deepest of the chain. */
static pb_schema_t *chain(size_t n, const char *prefix) {
    pb_buf_t b = {0};
    pb_buf_printf(&b, "{\"type\":\"record\",\"name\":\"Top\",\"fields\":[");
    for (size_t i = 0; i < n; i++) {
        char prev[32];
        snprintf(prev, sizeof prev, i ? "R%zu" : "int", i - 1);
        pb_buf_printf(&b,
                      "{\"name\":\"%s%zu\",\"default\":null,\"type\":[\"null\",{\"type\":"
                      "\"record\",\"name\":\"R%zu\",\"fields\":[{\"name\":\"p\",\"type\":"
                      "\"%s\"}]}]},",
                      prefix, i, i, prev);
    }
    pb_buf_printf(&b, "{\"name\":\"last\",\"type\":\"R%zu\"}]}", n - 1);
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    if (pb_schema_parse((const char *)b.data, b.len, &s, &err)) s = NULL;
    pb_buf_free(&b);
    return s;
}

/* A chain of pairs deeper than the depth limit: a precise error, not a stack overflow. */
static void depth_limit(void **state) {
    (void)state;
    pb_schema_t *r = chain(PB_COMPAT_MAX_DEPTH + 10, "r");
    pb_schema_t *w = chain(PB_COMPAT_MAX_DEPTH + 10, "w");
    if (!r || !w) { /* the parser's own limits are lower: nothing to test here */
        pb_schema_destroy(r);
        pb_schema_destroy(w);
        skip();
    }
    pb_compat_report_t rep = {0};
    pb_err_t err = {0};
    assert_int_equal(pb_compat_check(r, w, &rep, &err), PB_ERR_TOO_LARGE);
    assert_non_null(strstr(err.msg, "too large to compare"));
    assert_int_equal(rep.n_issues, 0);
    pb_schema_destroy(r);
    pb_schema_destroy(w);
    /* a shorter chain is fine */
    r = chain(PB_COMPAT_MAX_DEPTH / 2, "r");
    w = chain(PB_COMPAT_MAX_DEPTH / 2, "w");
    assert_non_null(r);
    assert_non_null(w);
    assert_int_equal(pb_compat_check(r, w, &rep, &err), 0);
    pb_schema_destroy(r);
    pb_schema_destroy(w);
}

/* A union of n records R0..R(n-1), each with one field f<i>. Read against itself, writer branch
 * j is tried against reader branches 0..j, so about n*n/2 distinct pairs are visited. */
static pb_schema_t *union_of_records(size_t n) {
    pb_buf_t b = {0};
    pb_buf_printf(&b, "[");
    for (size_t i = 0; i < n; i++)
        pb_buf_printf(&b,
                      "%s{\"type\":\"record\",\"name\":\"R%zu\",\"fields\":[{\"name\":"
                      "\"f%zu\",\"type\":\"int\"}]}",
                      i ? "," : "", i, i);
    pb_buf_printf(&b, "]");
    pb_schema_t *s = parse((const char *)b.data);
    pb_buf_free(&b);
    return s;
}

static void pair_limit(void **state) {
    (void)state;
    pb_compat_report_t rep = {0};
    pb_err_t err = {0};
    pb_schema_t *big = union_of_records(800); /* ~320000 pairs */
    assert_int_equal(pb_compat_check(big, big, &rep, &err), PB_ERR_TOO_LARGE);
    assert_non_null(strstr(err.msg, "distinct reader/writer type pairs"));
    assert_int_equal(rep.n_issues, 0);
    pb_schema_destroy(big);
    pb_schema_t *ok = union_of_records(300); /* ~45000 pairs */
    assert_int_equal(pb_compat_check(ok, ok, &rep, &err), 0);
    assert_true(rep.compatible);
    pb_schema_destroy(ok);
}

/* ---- CLI ---------------------------------------------------------------------------------- */

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *text) {
    static char path[8][128];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Run the subcommand with stdout and stderr captured into out/errout (heap, caller frees). */
static int run_cli(char **out, char **errout, int argc, ...) {
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    char opath[128], epath[128];
    snprintf(opath, sizeof opath, "%s/stdout", tmpdir);
    snprintf(epath, sizeof epath, "%s/stderr", tmpdir);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int fo = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1);
    dup2(fe, 2);
    int code = pb_cli_schema_compat(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(fo);
    close(fe);
    const char *paths[2] = {opath, epath};
    char **dst[2] = {out, errout};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "r");
        assert_non_null(f);
        char *buf = calloc(1, 65536);
        size_t n = fread(buf, 1, 65535, f);
        buf[n] = 0;
        fclose(f);
        *dst[i] = buf;
    }
    return code;
}

static int cli_setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pb-test-compat-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int cli_teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

#define R_LONG                                                                                     \
    "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"amount\",\"type\":\"long\"}]}"
#define R_STR                                                                                      \
    "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"amount\",\"type\":\"string\"},{"  \
    "\"name\":\"x\",\"type\":\"int\"}]}"
#define R_TWO                                                                                      \
    "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"amount\",\"type\":\"long\"},{"    \
    "\"name\":\"y\",\"type\":\"int\"}]}"

static void cli_compatible(void **state) {
    (void)state;
    char *out, *err;
    const char *r = write_tmp("r.avsc", R_LONG), *w = write_tmp("w.avsc", R_STR);
    assert_int_equal(run_cli(&out, &err, 5, "compat", "--reader", r, "--writer", r), 0);
    assert_string_equal(out, "compatible\n");
    assert_string_equal(err, "");
    free(out);
    free(err);
    /* the reader drops x and... cannot read amount as string */
    assert_int_equal(run_cli(&out, &err, 5, "compat", "--reader", r, "--writer", w), 1);
    assert_string_equal(
        out, "incompatible: 1 incompatibility\n"
             "/fields/0/type TYPE_MISMATCH field 'amount': reader type long cannot "
             "read writer type string (a writer string can be read as string or bytes)\n");
    free(out);
    free(err);
}

static void cli_every_issue_listed(void **state) {
    (void)state;
    char *out, *err;
    const char *r = write_tmp("r2.avsc", R_TWO), *w = write_tmp("w2.avsc", R_STR);
    char warg[160];
    snprintf(warg, sizeof warg, "--writer=%s", w);
    assert_int_equal(run_cli(&out, &err, 4, "compat", "--reader", r, warg), 1);
    assert_non_null(strstr(out, "incompatible: 2 incompatibilities\n"));
    assert_non_null(strstr(out, "\n/fields/0/type TYPE_MISMATCH "));
    assert_non_null(strstr(out, "\n/fields/1 READER_FIELD_MISSING_DEFAULT_VALUE field 'y': "));
    free(out);
    free(err);
}

static void cli_json(void **state) {
    (void)state;
    char *out, *err;
    const char *r = write_tmp("r3.avsc", R_TWO), *w = write_tmp("w3.avsc", R_STR);
    assert_int_equal(run_cli(&out, &err, 6, "compat", "--json", "--reader", r, "--writer", w), 1);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    assert_non_null(j);
    assert_true(json_is_false(json_object_get(j, "compatible")));
    json_t *list = json_object_get(j, "incompatibilities");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "kind")),
                        "READER_FIELD_MISSING_DEFAULT_VALUE");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "location")),
                        "/fields/1");
    assert_int_equal(json_integer_value(json_object_get(j, "omitted")), 0);
    json_decref(j);
    free(out);
    free(err);
    assert_int_equal(run_cli(&out, &err, 6, "compat", "--json", "--reader", r, "--writer", r), 0);
    j = json_loads(out, 0, &jerr);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "compatible")));
    assert_int_equal(json_array_size(json_object_get(j, "incompatibilities")), 0);
    json_decref(j);
    free(out);
    free(err);
}

static void cli_invalid(void **state) {
    (void)state;
    char *out, *err;
    const char *good = write_tmp("g.avsc", R_LONG);
    const char *bad = write_tmp(
        "bad.avsc",
        "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"a\",\"type\":\"nope\"}]}");
    const char *notjson = write_tmp("nj.avsc", "{\"type\":");
    /* missing --writer */
    assert_int_equal(run_cli(&out, &err, 3, "compat", "--reader", good), 2);
    assert_non_null(strstr(err, "both --reader and --writer are required"));
    free(out);
    free(err);
    /* option without value */
    assert_int_equal(run_cli(&out, &err, 4, "compat", "--reader", good, "--writer"), 2);
    assert_non_null(strstr(err, "--writer needs a file name"));
    free(out);
    free(err);
    /* unknown option */
    assert_int_equal(run_cli(&out, &err, 2, "compat", "--bogus"), 2);
    assert_non_null(strstr(err, "unknown argument '--bogus'"));
    free(out);
    free(err);
    /* unreadable file */
    assert_int_equal(
        run_cli(&out, &err, 5, "compat", "--reader", "/nonexistent/x.avsc", "--writer", good), 2);
    assert_non_null(strstr(err, "compat: reader /nonexistent/x.avsc: No such file"));
    free(out);
    free(err);
    /* invalid schema: the parse error names the file and where */
    assert_int_equal(run_cli(&out, &err, 5, "compat", "--reader", good, "--writer", bad), 2);
    assert_non_null(strstr(err, "compat: writer "));
    assert_non_null(strstr(err, "bad.avsc: "));
    assert_non_null(strstr(err, "/fields/0/type"));
    free(out);
    free(err);
    /* not JSON, with --json: the error is also JSON on stdout */
    assert_int_equal(
        run_cli(&out, &err, 6, "compat", "--json", "--reader", notjson, "--writer", good), 2);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    assert_non_null(j);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "nj.avsc"));
    json_decref(j);
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(level_names),
        cmocka_unit_test(kind_names),
        cmocka_unit_test(report_reset),
        cmocka_unit_test(level_messages),
        cmocka_unit_test(issue_cap),
        cmocka_unit_test(depth_limit),
        cmocka_unit_test(pair_limit),
        cmocka_unit_test(cli_compatible),
        cmocka_unit_test(cli_every_issue_listed),
        cmocka_unit_test(cli_json),
        cmocka_unit_test(cli_invalid),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
