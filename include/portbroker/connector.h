/*
 * What the connectors/ programs share (libpbclient.a): the command line read from one table of
 * options, the stop flag their signal handlers set, the next offset per partition that their
 * checkpoints keep and their cursors commit, and the loop every sink runs over an input port's
 * stream.
 *
 * Not thread-safe: a connector is one thread.
 */
#ifndef PORTBROKER_CONNECTOR_H
#define PORTBROKER_CONNECTOR_H

#include <jansson.h>

#include "portbroker/client.h"

/* Partitions a connector tracks: 0 .. PB_CONN_NPART - 1. A record of a higher partition stops the
 * sink (named in the message) rather than being checkpointed wrong. */
#define PB_CONN_NPART 256

/* ---- Command line ---------------------------------------------------------------------------
 * A connector describes its options once, in a table; pb_conn_parse reads the command line from
 * it (environment defaults, ranges, choices, required options) and prints --help from it, so the
 * flags, their checks and their usage lines cannot drift apart. Every connector also takes the
 * broker options --url, --token and --cacert (defaults PORTBROKER_URL, PORTBROKER_TOKEN,
 * PORTBROKER_CACERT) and --help. */
typedef enum {
    PB_CONN_STR,    /* const char **target = the argument */
    PB_CONN_LONG,   /* long *target = the argument, an integer in [lo, hi] */
    PB_CONN_FLAG,   /* int *target = set (no argument) */
    PB_CONN_CHOICE, /* const char **target = the argument, one of the comma-separated choices */
} pb_conn_opt_kind_t;

typedef struct {
    const char *name; /* the long option without "--" */
    pb_conn_opt_kind_t kind;
    void *target;
    const char *arg;     /* the argument's name in usage ("DIR"); NULL for a flag */
    const char *help;    /* one usage line; "(default ...)" is added from the target's value */
    const char *env;     /* STR: the default is this environment variable when it is set */
    int required;        /* STR: still NULL after parsing: exit 2 naming every required option */
    long lo, hi;         /* LONG: the accepted range */
    const char *choices; /* CHOICE: "null,deflate,zstandard" */
    int set;             /* FLAG: the value stored */
} pb_conn_opt_t;

typedef struct {
    const char *prog;     /* program name, for usage and messages */
    const char *synopsis; /* after "usage: PROG " */
    const char *about;    /* lines after the synopsis (each ends in "\n") */
    const char *epilog;   /* lines after the options, or NULL */
    const pb_conn_opt_t *opts;
    size_t n_opts;
} pb_conn_cli_t;

/* Read argv against cli's table into the targets and o (which starts from the environment, as
 * pb_conn_client_opts). Returns 0 to run; 1 after printing usage to stdout for --help (exit 0);
 * 2 after printing to stderr what is wrong: "PROG: --OPT: 'TEXT' is not an integer in [LO, HI]",
 * "PROG: --OPT: 'TEXT' is not one of A, B", "PROG: --A and --B are required (or ENV_A, ENV_B)",
 * an unknown option or a stray argument, then the usage (exit 2). Targets keep their initial
 * values as defaults, shown in usage. */
int pb_conn_parse(const pb_conn_cli_t *cli, int argc, char **argv, pb_client_opts_t *o);

/* The broker options' defaults from the environment (what pb_conn_parse starts from). */
pb_client_opts_t pb_conn_client_opts(void);

/* SIGTERM and SIGINT set the stop flag (pb_conn_stopping), SIGPIPE is ignored. */
void pb_conn_signals(void);
/* 1 once a signal arrived or pb_conn_stop was called. */
int pb_conn_stopping(void);
void pb_conn_stop(void);
/* Sleep up to ms milliseconds, in 50 ms steps that end early when stopping. */
void pb_conn_sleep(long ms);

/* The next offset to take per partition; -1: none seen. */
typedef struct {
    long long next[PB_CONN_NPART];
} pb_conn_pos_t;

/* All partitions unseen. */
void pb_conn_pos_init(pb_conn_pos_t *p);
/* {"0": next, "3": next, ...}: the seen partitions, for a checkpoint. New reference. */
json_t *pb_conn_pos_to_json(const pb_conn_pos_t *p);
/* Take the partitions of an object made by pb_conn_pos_to_json (others unchanged; keys out of
 * range ignored). Returns 0, or -1 when o is not an object. */
int pb_conn_pos_from_json(pb_conn_pos_t *p, const json_t *o);
/* Commit the seen partitions as the cursors of stream s (the broker's `offset` is the next to
 * read). Returns 0, or -1 after printing "PROG: MESSAGE (WHY_SAFE)" to stderr: a commit that fails
 * is not fatal to a sink whose checkpoint skips what comes again, and why_safe says so. */
int pb_conn_pos_commit(const pb_conn_pos_t *p, pb_client_stream_t *s, const char *prog,
                       const char *why_safe);

/* A sink: what pb_conn_sink_run calls. Callbacks return 0 to go on, -1 to stop the run with
 * exit status 1 (after printing why). */
typedef struct {
    const char *prog;     /* program name for messages */
    const char *port;     /* input port */
    long wait_ms;         /* the broker ends a stream after this long without a record */
    long idle_ms;         /* flush after this long without data */
    int once;             /* end after the first stream that ended quiet (or had nothing) */
    const char *encoding; /* the stream's encoding= (NULL: the broker's default, natural JSON) */
    /* Offsets below pos->next[p] are redeliveries of what the sink holds already: skipped and
     * counted in *skipped, never passed to record(). */
    const pb_conn_pos_t *pos;
    long *skipped;
    /* A record to take (new reference passed on; the callback releases it). 1 from record():
     * the stream is reopened and the record comes again (it was not taken). */
    int (*record)(void *arg, pb_client_stream_t *s, json_t *rec, int partition, long long offset);
    /* Make what was taken durable and commit it: on an idle stream and at a stream's end. */
    int (*flush)(void *arg, pb_client_stream_t *s);
    void *arg;
} pb_conn_sink_t;

/* Read the input port's stream (manual commit) until stopped, reopening it with a doubling
 * back-off (200 ms .. 10 s) after a transport error or a refusal that may pass (429, 409, 5xx);
 * any other 4xx ends the run. Returns the exit status: 0, or 1 after a failure. */
int pb_conn_sink_run(pb_client_t *cl, const pb_conn_sink_t *sk);

#endif
