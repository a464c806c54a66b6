/*
 * cli_schema — `portbroker schema check|canonical|fingerprint|compat|resolve ...`.
 *
 * Owns: the subcommand table, check/canonical/fingerprint, and the helpers the other schema
 * subcommands share (reading files, --json, error output). Must not: hold state between calls.
 */
#include "cli_schema.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int pb_cli_take_json_flag(int *argc, char **argv) {
    int found = 0, j = 0;
    for (int i = 0; i < *argc; i++) {
        if (!strcmp(argv[i], "--json"))
            found = 1;
        else
            argv[j++] = argv[i];
    }
    for (int i = j; i < *argc; i++)
        argv[i] = NULL;
    *argc = j;
    return found;
}

int pb_cli_read_file(const char *path, size_t limit, char **out, size_t *len, pb_err_t *err) {
    FILE *f = NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    int is_stdin = !strcmp(path, "-");
    *out = NULL;
    *len = 0;
    f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        rc = pb_err_set(err, PB_ERR_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    for (;;) {
        if (cap - n < 65536) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                rc = pb_err_set(err, PB_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > limit) {
            rc = pb_err_set(err, PB_ERR_TOO_LARGE, "%s: larger than %zu bytes",
                            is_stdin ? "stdin" : path, limit);
            goto done;
        }
        if (got == 0) break;
    }
    if (ferror(f)) {
        rc = pb_err_set(err, PB_ERR_IO, "%s: read error", is_stdin ? "stdin" : path);
        goto done;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
done:
    if (f && !is_stdin) fclose(f);
    free(buf);
    return rc;
}

int pb_cli_load_schema(const char *path, pb_schema_t **out, pb_err_t *err) {
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = pb_cli_read_file(path, PB_SCHEMA_MAX_BYTES, &text, &len, err);
    if (rc == PB_ERR_TOO_LARGE)
        pb_err_set(err, rc, "%s: schema larger than the limit of %d bytes", path,
                   PB_SCHEMA_MAX_BYTES);
    if (!rc && (rc = pb_schema_parse(text, len, out, err))) pb_err_prefix(err, "%s: ", path);
    free(text);
    return rc;
}

void pb_cli_print_json(json_t *v) {
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (s)
        printf("%s\n", s);
    else
        printf("{\"error\":\"out of memory\"}\n");
    free(s);
    json_decref(v);
}

int pb_cli_error(int json, int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (json)
        pb_cli_print_json(json_pack("{s:s}", "error", msg));
    else
        fprintf(stderr, "portbroker schema: %s\n", msg);
    return code;
}

/* ---------------------------------------------------------------------------------------------
 * check / canonical / fingerprint
 */
static int one_file_arg(int argc, char **argv, int json, const char **file) {
    if (argc != 2 || (argv[1][0] == '-' && argv[1][1] != '\0'))
        return pb_cli_error(json, PB_CLI_INVALID,
                            "usage: portbroker schema %s [--json] FILE ('-' for stdin)", argv[0]);
    *file = argv[1];
    return 0;
}

static void hex64(uint64_t v, char out[17]) { snprintf(out, 17, "%016" PRIx64, v); }

static int cmd_check(int argc, char **argv, int json) {
    const char *file = NULL;
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    char fp[17];
    int rc = one_file_arg(argc, argv, json, &file);
    if (rc) return rc;
    char *text = NULL;
    size_t len = 0;
    /* an unreadable file is invalid input (2); a schema that does not parse is a "no" (1) */
    if (pb_cli_read_file(file, PB_SCHEMA_MAX_BYTES, &text, &len, &err) &&
        err.code != PB_ERR_TOO_LARGE)
        return pb_cli_error(json, PB_CLI_INVALID, "%s", err.msg);
    if (err.code == PB_ERR_TOO_LARGE)
        pb_err_set(&err, PB_ERR_TOO_LARGE, "schema larger than the limit of %d bytes",
                   PB_SCHEMA_MAX_BYTES);
    else
        pb_schema_parse(text, len, &s, &err);
    free(text);
    if (!s) {
        if (json)
            pb_cli_print_json(json_pack("{s:b,s:s}", "valid", 0, "error", err.msg));
        else
            fprintf(stderr, "%s: invalid: %s\n", file, err.msg);
        return PB_CLI_NO;
    }
    hex64(pb_schema_fingerprint(s), fp);
    if (json)
        pb_cli_print_json(json_pack("{s:b,s:s}", "valid", 1, "fingerprint", fp));
    else
        printf("%s: valid\n", file);
    pb_schema_destroy(s);
    return PB_CLI_YES;
}

static int cmd_canonical(int argc, char **argv, int json) {
    const char *file = NULL;
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    int rc = one_file_arg(argc, argv, json, &file);
    if (rc) return rc;
    if (pb_cli_load_schema(file, &s, &err))
        return pb_cli_error(json, PB_CLI_INVALID, "%s", err.msg);
    if (json)
        pb_cli_print_json(json_pack("{s:s}", "canonical", pb_schema_canonical(s)));
    else
        printf("%s\n", pb_schema_canonical(s));
    pb_schema_destroy(s);
    return PB_CLI_YES;
}

static int cmd_fingerprint(int argc, char **argv, int json) {
    const char *file = NULL;
    pb_schema_t *s = NULL;
    pb_err_t err = {0};
    char fp[17];
    int rc = one_file_arg(argc, argv, json, &file);
    if (rc) return rc;
    if (pb_cli_load_schema(file, &s, &err))
        return pb_cli_error(json, PB_CLI_INVALID, "%s", err.msg);
    hex64(pb_schema_fingerprint(s), fp);
    if (json)
        pb_cli_print_json(
            json_pack("{s:s,s:s}", "fingerprint", fp, "canonical", pb_schema_canonical(s)));
    else
        printf("%s\n", fp);
    pb_schema_destroy(s);
    return PB_CLI_YES;
}

/* Subcommands that take --json themselves get it back in argv. */
__attribute__((unused)) static int call_external(int (*fn)(int, char **), int argc, char **argv,
                                                 int json) {
    char *args[256];
    if (argc + 2 > (int)(sizeof args / sizeof args[0]))
        return pb_cli_error(json, PB_CLI_INVALID, "too many arguments");
    for (int i = 0; i < argc; i++)
        args[i] = argv[i];
    if (json) args[argc++] = (char *)"--json";
    args[argc] = NULL;
    return fn(argc, args);
}

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv, int json); /* ours: --json already taken out */
    int (*external)(int argc, char **argv);      /* another file's pb_cli_schema_* */
    const char *usage;
    const char *help;
} subcommand_t;

static const subcommand_t subcommands[] = {
    {"check", cmd_check, NULL, "check [--json] FILE", "is FILE a valid Avro schema? (0 yes, 1 no)"},
    {"canonical", cmd_canonical, NULL, "canonical [--json] FILE",
     "print its Parsing Canonical Form"},
    {"fingerprint", cmd_fingerprint, NULL, "fingerprint [--json] FILE",
     "print its CRC-64-AVRO fingerprint (16 hex digits)"},
    {"compat", NULL, pb_cli_schema_compat, "compat [--json] --reader R --writer W",
     "can R read what W wrote?"},
    {"resolve", NULL, pb_cli_schema_resolve, "resolve --writer W --reader R",
     "resolve Avro-JSON datums on stdin"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: portbroker schema SUBCOMMAND [--json] ARGS\n"
                 "FILE may be '-' for stdin. Exit 0 yes, 1 no, 2 invalid input.\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  %-44s %s\n", subcommands[i].usage, subcommands[i].help);
}

int pb_cli_schema(int argc, char **argv) {
    char *args[256];
    int json;
    if (argc > (int)(sizeof args / sizeof args[0]) - 1) {
        fprintf(stderr, "portbroker schema: too many arguments\n");
        return PB_CLI_INVALID;
    }
    for (int i = 0; i < argc; i++)
        args[i] = argv[i];
    args[argc] = NULL;
    json = pb_cli_take_json_flag(&argc, args);
    if (argc < 2) {
        if (json) return pb_cli_error(json, PB_CLI_INVALID, "missing subcommand");
        usage(stderr);
        return PB_CLI_INVALID;
    }
    if (!strcmp(args[1], "-h") || !strcmp(args[1], "--help") || !strcmp(args[1], "help")) {
        usage(stdout);
        return PB_CLI_YES;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        const subcommand_t *c = &subcommands[i];
        if (strcmp(args[1], c->name)) continue;
        return c->run ? c->run(argc - 1, args + 1, json)
                      : call_external(c->external, argc - 1, args + 1, json);
    }
    pb_cli_error(json, PB_CLI_INVALID, "unknown subcommand '%s'", args[1]);
    if (!json) usage(stderr);
    return PB_CLI_INVALID;
}
