/*
 * cli_resolve — `portbroker schema resolve`: project Avro datums from a writer to a reader schema.
 *
 * Owns: argument parsing, line-by-line stdin -> stdout, exit codes. Must not: hold codec logic
 * (codec.c) or schema logic (schema.c).
 */
#ifndef PB_CLI_RESOLVE_H
#define PB_CLI_RESOLVE_H

/*
 * `schema resolve --writer W --reader R [--input json|hex] [--output json|hex] [--unwrapped]`.
 * argv[0] is "resolve". Reads datums one a line from stdin (Avro JSON encoding of the writer
 * schema, or with --input hex the writer's Avro binary as hex), writes each resolved datum on a
 * line of stdout (the reader's Avro JSON encoding, or hex of the reader binary). Blank lines are
 * skipped with JSON input; with hex input an empty line is the empty datum (e.g. of "null"). Every
 * line is processed; errors go to stderr as "line N: at /path: reason". Returns the exit code: 0
 * all resolved, 1 some datum could not be resolved or the schemas cannot be resolved at all, 2
 * invalid input (arguments, files, schemas, a datum that is not valid for the writer schema).
 */
int pb_cli_schema_resolve(int argc, char **argv);

#endif
