/*
 * cli_registry — `portbroker registry import`: copy a Confluent-compatible Schema Registry into a
 * running portbroker, keeping ids, versions, levels and modes (issue 19, migration).
 *
 * Owns: the command's arguments, the import plan (what the target already holds, what to copy,
 * in which order), the requests to both registries (through httpc), and the summary.
 * Must not: touch the registry log or Kafka directly: every change goes through the target's
 * HTTP API (IMPORT mode, explicit ids), so its checks, authorization and audit apply.
 *
 * Semantics: every live version of every subject (or of those starting with --subjects PREFIX) is
 * registered in the target with its id and version, its references, metadata and ruleSet, in id
 * order (a version's references before it). The target subject is switched to IMPORT for the copy
 * (?force=true: versions it already holds are compared first) and then given the source's subject
 * mode and level; without --subjects, the global level and mode too. A version the target already
 * holds with the same id is "already present" (a re-run copies nothing twice); one it holds with
 * another id, or one the target refuses, is "refused" with the reason. Exit 0 when nothing was
 * refused, 1 when something was, 2 for bad arguments or a registry that cannot be reached.
 */
#ifndef PB_CLI_REGISTRY_H
#define PB_CLI_REGISTRY_H

/* `portbroker registry SUBCOMMAND ...`: argv[0] is "registry". Returns the exit code. */
int pb_cli_registry(int argc, char **argv);

#endif
