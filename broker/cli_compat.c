/*
 * cli_compat — `portbroker schema compat --reader R --writer W [--json]`.
 *
 * Owns: the subcommand's arguments and rendering the report as text or JSON. Reading files,
 * --json and error output are cli_schema.c's shared helpers.
 * Must not: judge compatibility (compat.c) or parse schemas (schema.c) itself.
 *
 * Output: "compatible", or "incompatible: N incompatibilities" then one line each,
 * "LOCATION KIND MESSAGE" (LOCATION is a JSON pointer into the reader schema). With --json one
 * object {"compatible", "incompatibilities": [{"kind", "location", "message"}], "omitted"}.
 * Exit 0 compatible, 1 incompatible, 2 invalid input (bad arguments, unreadable file, invalid
 * schema: the reason on stderr, or {"error": ...} on stdout with --json).
 */
#include "cli_schema.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "compat.h"

#define USAGE "usage: portbroker schema compat [--json] --reader FILE --writer FILE ('-' for stdin)"

static int print_json(const pb_compat_report_t *rep) {
    json_t *list = json_array();
    if (!list) return -1;
    for (size_t i = 0; i < rep->n_issues; i++) {
        const pb_compat_issue_t *is = &rep->issues[i];
        if (json_array_append_new(list,
                                  json_pack("{s:s,s:s,s:s}", "kind", pb_compat_kind_name(is->kind),
                                            "location", is->location, "message", is->message))) {
            json_decref(list);
            return -1;
        }
    }
    /* "o" steals list, also when json_pack fails */
    json_t *o = json_pack("{s:b,s:o,s:I}", "compatible", rep->compatible, "incompatibilities", list,
                          "omitted", (json_int_t)rep->n_omitted);
    if (!o) return -1;
    pb_cli_print_json(o);
    return 0;
}

/* argv[0] is "compat"; --json may also come from the dispatcher. Returns the exit code. */
int pb_cli_schema_compat(int argc, char **argv) {
    const char *reader_path = NULL, *writer_path = NULL;
    pb_schema_t *reader = NULL, *writer = NULL;
    pb_compat_report_t rep = {0};
    pb_err_t err = {0};
    int json = pb_cli_take_json_flag(&argc, argv);
    int code = PB_CLI_INVALID;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s\nCan a consumer with the reader schema R read data written with the writer "
                   "schema W?\nExit 0 yes, 1 no (every incompatibility listed), 2 invalid input.\n",
                   USAGE);
            return PB_CLI_YES;
        } else if (!strcmp(a, "--reader") || !strcmp(a, "--writer")) {
            if (i + 1 >= argc)
                return pb_cli_error(json, PB_CLI_INVALID, "%s needs a file name; %s", a, USAGE);
            *(a[2] == 'r' ? &reader_path : &writer_path) = argv[++i];
        } else if (!strncmp(a, "--reader=", 9)) {
            reader_path = a + 9;
        } else if (!strncmp(a, "--writer=", 9)) {
            writer_path = a + 9;
        } else {
            return pb_cli_error(json, PB_CLI_INVALID, "compat: unknown argument '%s'; %s", a,
                                USAGE);
        }
    }
    if (!reader_path || !writer_path)
        return pb_cli_error(json, PB_CLI_INVALID,
                            "compat: both --reader and --writer are required; %s", USAGE);
    if (!strcmp(reader_path, "-") && !strcmp(writer_path, "-"))
        return pb_cli_error(json, PB_CLI_INVALID,
                            "compat: only one of --reader and --writer can be '-' (stdin)");

    if (pb_cli_load_schema(reader_path, &reader, &err)) {
        code = pb_cli_error(json, PB_CLI_INVALID, "compat: reader %s", err.msg);
        goto done;
    }
    if (pb_cli_load_schema(writer_path, &writer, &err)) {
        code = pb_cli_error(json, PB_CLI_INVALID, "compat: writer %s", err.msg);
        goto done;
    }
    int rc = pb_compat_check(reader, writer, &rep, &err);
    if (rc && rc != PB_ERR_INCOMPATIBLE) {
        code = pb_cli_error(json, PB_CLI_INVALID, "compat: %s", err.msg);
        goto done;
    }
    code = rep.compatible ? PB_CLI_YES : PB_CLI_NO;
    if (json) {
        if (print_json(&rep)) code = pb_cli_error(json, PB_CLI_INVALID, "compat: out of memory");
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
