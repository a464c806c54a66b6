/*
 * cli_port — `portbroker publish PORT` and `portbroker consume PORT`: the port CLI over the HTTP
 * API through the client library (include/portbroker/client.h), for any machine that can reach a
 * broker (--url / PORTBROKER_URL, --token / PORTBROKER_TOKEN).
 *
 * Owns: argument parsing, reading NDJSON input, printing records and results, exit codes.
 * Must not: touch the daemon's state or Kafka directly; everything goes through the HTTP API.
 *
 * Exit codes: 0 everything done, 1 some records failed or the broker refused, 2 bad arguments or
 * input (nothing was sent for the batch that held it).
 */
#ifndef PB_CLI_PORT_H
#define PB_CLI_PORT_H

/* `portbroker publish PORT [options]`: argv[0] is "publish". Returns the process exit code. */
int pb_cli_publish(int argc, char **argv);
/* `portbroker consume PORT [options]`: argv[0] is "consume". Returns the process exit code. */
int pb_cli_consume(int argc, char **argv);

#endif
