/*
 * cli_compat — the `portbroker schema compat` subcommand.
 *
 * Owns: argument parsing, reading the two schema files and printing the verdict. Must not:
 * decide compatibility itself (compat.c) or parse schemas itself (schema.c).
 */
#ifndef PB_CLI_COMPAT_H
#define PB_CLI_COMPAT_H

/*
 * `portbroker schema compat --reader R --writer W [--json]`; argv[0] is "compat". A file name
 * "-" reads standard input (for at most one of the two). Prints "compatible", or
 * "incompatible: N incompatibilities" and one line per incompatibility ("location KIND message");
 * with --json one object {"compatible", "incompatibilities": [{"kind","location","message"}],
 * "omitted"}. Returns the exit code: 0 compatible, 1 incompatible, 2 invalid input (bad
 * arguments, unreadable file, invalid schema; the reason on stderr, and as {"error": ...} on
 * stdout with --json).
 */
int pb_cli_schema_compat(int argc, char **argv);

#endif
