/*
 * config — the broker's settings: one table drives defaults, parsing, range checks,
 * `--config-dump` and the generated docs/CONFIGURATION.md.
 *
 * Owns: pb_config_t and the property table. Sources, lowest precedence first: built-in defaults,
 * the `key = value` file (-c), PORTBROKER_<KEY> environment variables (dots become underscores,
 * upper case), then -o key=value. `kafka.*` keys pass through to librdkafka unchanged (minus the
 * prefix) except `kafka.bootstrap.servers`, which is ours too.
 * Must not: touch the network, the loop or Kafka. Pure apart from reading the file and environ.
 */
#ifndef PB_CONFIG_H
#define PB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* A librdkafka property to pass through (key without the "kafka." prefix). */
typedef struct pb_config_kv {
    char *key;
    char *value;
} pb_config_kv_t;

typedef struct pb_config {
    char *http_listen;       /* host:port; port 0 picks a free port */
    int64_t http_timeout_ms; /* idle/slow client timeout */
    int64_t http_max_connections;
    int64_t http_header_timeout_ms, http_body_timeout_ms, http_idle_timeout_ms;
    int64_t http_max_header_bytes;
    char *products_dir;
    char *mesh_namespace;
    int64_t topic_partitions;          /* default partition count of a port topic */
    int64_t topic_partitions_max;      /* most partitions of one port topic */
    int64_t descriptor_ports_max;      /* most ports (output + input) in one descriptor */
    int64_t descriptor_partitions_max; /* most partitions one descriptor's topics add up to */
    int64_t topic_replication; /* replication factor for topics we create (-1: broker default) */
    char *kafka_bootstrap;     /* "" = start the embedded cluster */
    int64_t embedded_brokers;
    char *registry_topic;
    char *registry_url;        /* "" = http://{bound http.listen} (pb_broker_t.registry_url) */
    int64_t import_timeout_ms; /* registry import: per HTTP request */
    int64_t import_max_response_bytes; /* registry import: largest answer read */
    int64_t publish_timeout_ms;
    int64_t publish_max_body_bytes;   /* a publish body, decompressed */
    int64_t publish_max_records;      /* records per publish request */
    int64_t publish_max_record_bytes; /* encoded value + key + producer headers of one record */
    int64_t publish_max_headers;      /* producer headers per record */
    int64_t publish_max_header_bytes; /* producer header names + values per record */
    int64_t router_fetch_wait_ms;     /* fetch.wait.max.ms of routing consumers */
    int64_t router_prefetch_kbytes;   /* queued.max.messages.kbytes of the fan-out reader */
    int64_t router_linger_ms;         /* linger.ms of the routers' producers */
    int64_t router_inflight_kbytes;   /* routed bytes in flight before the reader pauses */
    int64_t router_queue_kbytes;      /* queue.buffering.max.kbytes of the routing producer */
    int64_t router_revoke_wait_ms;    /* bound on a revocation's wait for in-flight records */
    int64_t router_park_idle_ms;      /* an idle output partition is parked after it (0: never) */
    int64_t publish_linger_ms;        /* linger.ms of the publishing producer */
    int64_t publish_dedupe_window_ms; /* how long a record id is remembered; 0: no dedupe */
    int64_t publish_dedupe_max_ids;   /* ids remembered per output port */
    int64_t publish_dedupe_max_bytes; /* memory of the id tables, all ports */
    int64_t shutdown_timeout_ms;
    char *log_level;
    char *log_format;
    char *metrics_enabled;                   /* "true" | "false" */
    int64_t metrics_kafka_stats_interval_ms; /* librdkafka statistics period; 0 = off */
    /* Ops: /v1/status rings and OpenLineage (#6 dashboard/lineage). */
    int64_t status_sample_ms;    /* throughput sample period of the /v1/status rings */
    int64_t sample_max_records;  /* GET /v1/ports/{port}/sample: most records */
    int64_t sample_timeout_ms;   /* ... time one read may take */
    int64_t sample_max_pending;  /* ... reads queued or running at once */
    char *lineage_topic;         /* "" = no OpenLineage events to Kafka */
    char *lineage_url;           /* "" = no HTTP POST of OpenLineage events */
    int64_t lineage_interval_ms; /* period of RUNNING events */
    /* subscriber streams (sub.c) */
    int64_t sub_max_streams;
    int64_t sub_max_batch;
    int64_t sub_max_buffered_bytes;
    int64_t sub_commit_interval_ms;
    int64_t sub_heartbeat_ms;
    int64_t sub_lag_interval_ms;
    int64_t sub_fetch_wait_ms; /* fetch.wait.max.ms of stream consumers; 0 = automatic */
    /* cursor commits' group committers: how many stay open, idle for how long (kafka_admin.c) */
    int64_t sub_commit_clients;
    int64_t sub_commit_client_idle_ms;
    /* the offset reader: closed idle for this long, or replaced past this many topics
     * (kafka_admin.c) */
    int64_t sub_reader_idle_ms;
    int64_t sub_reader_topics_max;
    /* authentication and authorization (auth.c, access.c; DESIGN.md §9) */
    char *http_allow_insecure; /* "true": listen beyond loopback with auth off */
    char *http_tls_cert_file;  /* "" = plain HTTP */
    char *http_tls_key_file;
    char *http_tls_client_ca_file;  /* "" = no client certificates (mTLS off) */
    char *auth_tokens_file;         /* "" = no bearer tokens */
    char *auth_anonymous;           /* "none" | "read" */
    char *metrics_auth;             /* "true" | "false" */
    char *auth_jwks_file;           /* "" = no JWKS from a file */
    char *auth_jwks_url;            /* "" = no JWKS from a URL */
    int64_t auth_jwks_refresh_ms;   /* period of the auth.jwks.url refresh */
    int64_t auth_jwks_timeout_ms;   /* one auth.jwks.url fetch */
    int64_t auth_jwks_max_bytes;    /* the largest auth.jwks.url answer taken */
    char *auth_jwt_issuer;          /* required with a JWKS */
    char *auth_jwt_audience;        /* required with a JWKS */
    char *auth_jwt_principal_claim; /* claim naming the principal */
    int64_t auth_jwt_leeway_ms;     /* clock skew tolerated on exp/nbf */
    int64_t limit_publish_records;  /* records/s per principal on publish; 0 = no limit */
    int64_t limit_write_requests;   /* write requests/s per principal; 0 = no limit */
    /* kafka.* pass-through, in the order given (later wins in librdkafka). */
    pb_config_kv_t *kafka;
    size_t n_kafka;
} pb_config_t;

/* Build a config holding the defaults. Returns NULL out of memory. Caller owns: pb_config_destroy.
 */
pb_config_t *pb_config_new(void);

/* Free a config. NULL is a no-op. */
void pb_config_destroy(pb_config_t *c);

/*
 * Set one key from a source. `origin` names the source for errors ("portbroker.conf:12",
 * "environment PORTBROKER_HTTP_LISTEN", "-o"). Unknown keys, bad values and out-of-range numbers
 * are PB_ERR_INVALID with origin, key and reason (and the nearest known key when one is close).
 */
int pb_config_set(pb_config_t *c, const char *key, const char *value, const char *origin,
                  pb_err_t *err);

/* Read a `key = value` file ('#' comments, blank lines). Errors name file and line. */
int pb_config_load_file(pb_config_t *c, const char *path, pb_err_t *err);

/* Apply PORTBROKER_* variables from envp (NULL-terminated, e.g. environ). Unknown ones are errors
 * except PORTBROKER_KAFKA_* which map to kafka.* with underscores turned into dots. */
int pb_config_load_env(pb_config_t *c, char *const *envp, pb_err_t *err);

/* Cross-key checks after all sources (e.g. log.format values). */
int pb_config_validate(const pb_config_t *c, pb_err_t *err);

/* Append the effective configuration as `key = value` lines (secrets masked). */
int pb_config_dump(const pb_config_t *c, pb_buf_t *out);

/* Append docs/CONFIGURATION.md (Markdown) generated from the table. */
int pb_config_doc(pb_buf_t *out);

/* Append the settings table as roff for the man page's CONFIGURATION section (one .TP per key:
 * type, default, range, description), from the same table as pb_config_doc. */
int pb_config_man(pb_buf_t *out);

/* Split "host:port" (IPv6 as "[::1]:8080"). host and port are written into the caller's
 * buffers. Returns 0 or PB_ERR_INVALID. */
int pb_config_split_hostport(const char *s, char *host, size_t hostlen, int *port, pb_err_t *err);

#endif
