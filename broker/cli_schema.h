/*
 * cli_schema — the `portbroker schema ...` command line front: a dispatcher over subcommands, the
 * check / canonical / fingerprint subcommands, and helpers every schema subcommand shares.
 *
 * Owns: argument parsing, reading schema files (or stdin), exit codes and output formats.
 * Must not: validate or compare schemas itself (schema.c, compat.c do), touch the daemon state.
 *
 * Exit codes (DESIGN.md section 7): 0 yes, 1 no, 2 invalid input (bad arguments, unreadable
 * file, a schema that does not parse where one is required). `--json` anywhere among the
 * arguments switches to one JSON object on stdout; errors then are {"error": "..."} on stdout.
 */
#ifndef PB_CLI_SCHEMA_H
#define PB_CLI_SCHEMA_H

#include <stddef.h>

#include "err.h"
#include "schema.h"

#define PB_CLI_YES 0
#define PB_CLI_NO 1
#define PB_CLI_INVALID 2

/* Biggest input file a subcommand reads (schemas are limited to PB_SCHEMA_MAX_BYTES anyway). */
#define PB_CLI_MAX_FILE (64 * 1024 * 1024)

/* `portbroker schema SUBCOMMAND ...`: argv[0] is "schema", argv[1] the subcommand. Returns the
 * process exit code. Writes to stdout/stderr. */
int pb_cli_schema(int argc, char **argv);

/* Subcommands living in other files, plugged into the table in cli_schema.c. Each gets argv[0] =
 * its own name ("compat") and returns an exit code. */
int pb_cli_schema_compat(int argc, char **argv);  /* cli_compat.c */
int pb_cli_schema_resolve(int argc, char **argv); /* cli_resolve.c */

/* Shared helpers. */

/* Remove every "--json" from argv (shifting the rest down, argv[*argc] stays NULL-terminated if it
 * was) and return 1 if there was one. */
int pb_cli_take_json_flag(int *argc, char **argv);

/* Read a whole file ("-" is stdin) into a new NUL-terminated buffer (caller frees *out). More than
 * limit bytes is PB_ERR_TOO_LARGE; an unreadable file PB_ERR_IO; err names the file. */
int pb_cli_read_file(const char *path, size_t limit, char **out, size_t *len, pb_err_t *err);

/* Read and parse a schema file; err is prefixed with the file name. *out as pb_schema_parse. */
int pb_cli_load_schema(const char *path, pb_schema_t **out, pb_err_t *err);

/* Print an error: with json, {"error": "..."} on stdout, else "portbroker schema: ..." on stderr.
 * Returns code (pass PB_CLI_INVALID / PB_CLI_NO) so callers can `return pb_cli_error(...)`. */
int pb_cli_error(int json, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Print a JSON value (compact, one line) on stdout; steals the reference. */
void pb_cli_print_json(json_t *v);

#endif
