/*
 * cli_compat — `portbroker schema compat --reader R --writer W [--json]`.
 *
 * Owns: the subcommand's arguments, reading the files and rendering the report as text or JSON.
 * Must not: judge compatibility (compat.c) or parse schemas (schema.c) itself.
 */
#include "cli_compat.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "err.h"
#include "schema.h"

#define USAGE "usage: portbroker schema compat --reader FILE --writer FILE [--json]\n"

enum { EXIT_YES = 0, EXIT_NO = 1, EXIT_INVALID = 2 };

/* Read all of path ("-" = stdin) into a NUL-terminated heap string. */
static int read_file(const char *path, char **out, size_t *len, pb_err_t *err) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *data = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (!f) return pb_err_set(err, PB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    for (;;) {
        if (cap - n < 4096) {
            if (cap > PB_SCHEMA_MAX_BYTES) {
                rc = pb_err_set(err, PB_ERR_TOO_LARGE, "%s: larger than %d bytes", path,
                                PB_SCHEMA_MAX_BYTES);
                goto done;
            }
            size_t ncap = cap ? cap * 2 : 65536;
            char *p = realloc(data, ncap + 1);
            if (!p) {
                rc = pb_err_set(err, PB_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            data = p;
            cap = ncap;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        rc = pb_err_set(err, PB_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    data[n] = 0;
    *out = data;
    *len = n;
    data = NULL;
done:
    free(data);
    if (f != stdin) fclose(f);
    return rc;
}

static int load(const char *what, const char *path, pb_schema_t **out, pb_err_t *err) {
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len, err);
    if (!rc) rc = pb_schema_parse(text, len, out, err);
    if (rc) pb_err_prefix(err, "%s %s: ", what, path);
    free(text);
    return rc;
}

static int invalid(int json, const char *msg) {
    fprintf(stderr, "portbroker schema compat: %s\n", msg);
    if (json) {
        json_t *o = json_pack("{s:s}", "error", msg);
        char *s = o ? json_dumps(o, 0) : NULL;
        if (s) puts(s);
        free(s);
        json_decref(o);
    }
    return EXIT_INVALID;
}

static int print_json(const pb_compat_report_t *rep) {
    json_t *list = json_array();
    json_t *o = NULL;
    char *s = NULL;
    int rc = -1;
    if (!list) goto done;
    for (size_t i = 0; i < rep->n_issues; i++) {
        const pb_compat_issue_t *is = &rep->issues[i];
        if (json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "kind",
                                                  pb_compat_kind_name(is->kind), "location",
                                                  is->location, "message", is->message)))
            goto done;
    }
    o = json_pack("{s:b,s:O,s:I}", "compatible", rep->compatible, "incompatibilities", list,
                  "omitted", (json_int_t)rep->n_omitted);
    if (!o || !(s = json_dumps(o, JSON_INDENT(2)))) goto done;
    puts(s);
    rc = 0;
done:
    free(s);
    json_decref(o);
    json_decref(list);
    return rc;
}

int pb_cli_schema_compat(int argc, char **argv) {
    const char *reader_path = NULL, *writer_path = NULL;
    int json = 0, code = EXIT_INVALID;
    pb_schema_t *reader = NULL, *writer = NULL;
    pb_compat_report_t rep = {0};
    pb_err_t err = {0};
    char msg[PB_ERR_MSG_MAX + 64];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(USAGE "Can a consumer with the reader schema read data written with the writer "
                        "schema? Exit 0 yes, 1 no (every incompatibility listed), 2 invalid input.\n",
                  stdout);
            return EXIT_YES;
        } else if (strcmp(a, "--reader") == 0 || strcmp(a, "--writer") == 0) {
            if (i + 1 >= argc) {
                snprintf(msg, sizeof msg, "%s needs a file name\n" USAGE, a);
                return invalid(json, msg);
            }
            *(a[2] == 'r' ? &reader_path : &writer_path) = argv[++i];
        } else if (strncmp(a, "--reader=", 9) == 0) {
            reader_path = a + 9;
        } else if (strncmp(a, "--writer=", 9) == 0) {
            writer_path = a + 9;
        } else {
            snprintf(msg, sizeof msg, "unknown argument '%s'\n" USAGE, a);
            return invalid(json, msg);
        }
    }
    if (!reader_path || !writer_path)
        return invalid(json, "both --reader and --writer are required\n" USAGE);
    if (strcmp(reader_path, "-") == 0 && strcmp(writer_path, "-") == 0)
        return invalid(json, "only one of --reader and --writer can be standard input");

    if (load("reader", reader_path, &reader, &err) || load("writer", writer_path, &writer, &err)) {
        code = invalid(json, err.msg);
        goto done;
    }
    int rc = pb_compat_check(reader, writer, &rep, &err);
    if (rc && rc != PB_ERR_INCOMPATIBLE) {
        code = invalid(json, err.msg);
        goto done;
    }
    code = rep.compatible ? EXIT_YES : EXIT_NO;
    if (json) {
        if (print_json(&rep)) code = invalid(0, "out of memory");
        goto done;
    }
    if (rep.compatible) {
        puts("compatible");
        goto done;
    }
    size_t total = rep.n_issues + rep.n_omitted;
    printf("incompatible: %zu incompatibilit%s\n", total, total == 1 ? "y" : "ies");
    for (size_t i = 0; i < rep.n_issues; i++)
        printf("%s %s %s\n", rep.issues[i].location, pb_compat_kind_name(rep.issues[i].kind),
               rep.issues[i].message);
    if (rep.n_omitted) printf("... and %zu more not listed\n", rep.n_omitted);
done:
    fflush(stdout);
    pb_compat_report_reset(&rep);
    pb_schema_destroy(reader);
    pb_schema_destroy(writer);
    return code;
}
