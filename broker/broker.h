/*
 * broker — the pb_broker_t context and its lifecycle: start-up, SIGHUP reload, shutdown.
 *
 * Owns: every long-lived object of a `portbroker serve` process (config, loop, embedded cluster,
 * Kafka client, HTTP server, the loaded products) and the order they start and stop in.
 * Must not: handle requests (api.c) or speak Kafka's API (kafka.c).
 *
 * The composition root: broker.c alone knows every module. Each module is given, when it is made,
 * the narrow env its own header declares (pb_api_env_t, pb_ops_env_t, pb_sub_env_t, ...: the
 * objects it uses and callbacks for what it asks of the broker); none includes this header or
 * names pb_broker_t (make lint checks it; main.c, which runs `serve`, is the one other reader).
 */
#ifndef PB_BROKER_H
#define PB_BROKER_H

#include <stdint.h>

#include "api.h"
#include "config.h"
#include "descriptor.h"
#include "err.h"
#include "http.h"
#include "jobs.h"
#include "kafka.h"
#include "loop.h"
#include "metrics.h"
#include "router.h"
#include "store.h"

typedef struct pb_broker {
    pb_config_t *cfg;
    pb_loop_t *loop;
    pb_kafka_cluster_t *cluster; /* the embedded cluster, or NULL with an external one */
    pb_kafka_t *kafka;
    pb_http_t *http;
    /* Loaded from products.dir and synced into the registry, then emptied: the registry holds
     * its own copies (at 1,000 products the set was 13 MB of trees and ports kept for nothing). */
    pb_descriptor_set_t *products;
    size_t n_products;             /* products in products.dir at the last (re)load */
    pb_store_t *store;             /* the registry kept in Kafka */
    pb_metrics_t *metrics;         /* per-port and process-wide series */
    struct pb_dedupe *dedupe;      /* publish: producer ids remembered; NULL when switched off */
    pb_loop_timer_t *dedupe_timer; /* forgets ids past the window, every second */
    struct pb_sub *sub;            /* subscriber streams and subscription lag (sub.c) */
    struct pb_sample *sample;      /* a port's recent records for its page (sample.c) */
    pb_routers_t *routers;         /* one router per binding, reconciled with the registry */
    int routers_started;           /* reconciled once after the replay */
    pb_loop_timer_t *sync_timer;
    int sync_needed;   /* descriptors not yet written to the registry */
    int sync_inflight; /* descriptor writes awaiting read-back */
    char *port_file;
    char *registry_url; /* registry.url, or http://host:port bound: ce_dataschema's base */
    pb_loop_timer_t *stop_timer;
    int stopping;
    int64_t started_wall_ms;
    int64_t reloads;

    struct pb_exporter *exporter; /* GET /metrics, port freshness every second (exporter.h) */
    pb_loop_timer_t *kafka_timer; /* start-up's Kafka side, retried while Kafka is out of reach */
    int kafka_started;            /* store, ops, sub and routers exist (Kafka answered once) */
    int kafka_starting;           /* the start-up job (topics, registry log watermarks) runs */
    char kafka_start_error[256];  /* why the last start-up job failed ("" none) */
    int registry_loaded; /* replayed with products.dir stored, once: registry routes are served */
    struct pb_ops *ops;  /* /v1/status rings, OpenLineage events, ops pages (ops.h) */
    struct pb_access *access;     /* authentication, authorization, limits, audit (access.h) */
    struct pb_tls *tls;           /* the HTTPS listener's certificates, or NULL (tls.h) */
    pb_jobs_t *jobs;              /* slow Kafka calls off the loop (jobs.h) */
    pb_loop_timer_t *probe_timer; /* submits the reachability probe every second */
    int reload_inflight;          /* a SIGHUP reload's topic jobs are running */
    struct pb_notify *notify;     /* systemd's NOTIFY_SOCKET, or NULL (notify.h) */
    pb_api_env_t api;             /* what the API's handlers read, set once Kafka answered */
    int reload_notify;            /* a reload applied: READY=1 once its descriptors are stored */
} pb_broker_t;

/* Start a broker: load descriptors, start or connect to Kafka, create port topics, listen.
 * Takes ownership of cfg on every path. port_file (may be NULL) receives the bound HTTP port;
 * env_file (may be NULL) a shell file setting PORTBROKER_URL, PORTBROKER_PID and BROKERS (the
 * Kafka bootstrap, embedded or not) for a user's commands. Both are written once listening.
 * Returns 0 and *out, or an error (PB_ERR_INVALID for bad descriptors/config, PB_ERR_IO for the
 * listener, PB_ERR_UNAVAILABLE when Kafka cannot be reached) with nothing left running. */
int pb_broker_start(pb_config_t *cfg, const char *port_file, const char *env_file,
                    pb_broker_t **out, pb_err_t *err);

/* Run the loop until SIGTERM/SIGINT. Returns 0 after a clean stop. */
int pb_broker_run(pb_broker_t *b);

/* Reload descriptors from products.dir (SIGHUP): read and checked now (an error returns here and
 * the old set stays); their topics are created as PB_JOB_TOPICS jobs and the new set replaces the
 * old one when they are done (or the log says why not). Loop thread. */
int pb_broker_reload(pb_broker_t *b, pb_err_t *err);

/* Begin a graceful stop: stop accepting, let the loop finish. Loop thread. */
void pb_broker_stop(pb_broker_t *b);

/* Flush Kafka, free everything. NULL is a no-op. Returns the count of undelivered messages. */
int pb_broker_destroy(pb_broker_t *b);

/* Look a port up by URN (the descriptor set at start-up, the registry from the API). */
typedef const pb_port_t *(*pb_broker_port_lookup_t)(const void *ctx, const char *urn);

/* Do p's ports stay within topic.partitions.max, descriptor.ports.max and
 * descriptor.partitions.max (input ports counted with their output port's partitions, found with
 * lookup)? 0, or PB_ERR_TOO_LARGE naming the port, the number and the limit's key; or
 * PB_ERR_INVALID when a port's topic (or dead-letter topic) is the configured registry.topic or
 * lineage.topic, whatever their names (the descriptor parser refuses '_' names, the defaults).
 * Pure. */
int pb_broker_check_limits(const pb_broker_t *b, const pb_product_t *p,
                           pb_broker_port_lookup_t lookup, const void *ctx, pb_err_t *err);

/* Create the topics product p needs, if missing, off the loop: each output port's topic and
 * dead-letter topic, each input port's topic with the partition count of the output port it is
 * bound to (found with lookup; routing keeps partitions), else its own. The limits
 * (pb_broker_check_limits) are checked and the topic list taken now (on the loop, from lookup),
 * the creation (pb_kafka_ensure_topics, one batch) runs as a PB_JOB_TOPICS job, then cb(arg, rc,
 * err, cancelled) runs on the loop (rc 0, or PB_ERR_TIMEOUT/PB_ERR_UNAVAILABLE with err's reason;
 * cancelled = 1 at shutdown: then cb must only free arg). Returns 0 when the job was queued (cb
 * follows), or the limit's error (PB_ERR_TOO_LARGE, PB_ERR_INVALID) or PB_ERR_NOMEM at once (cb
 * is not called). Loop thread. */
typedef void (*pb_broker_topics_cb_t)(void *arg, int rc, const pb_err_t *err, int cancelled);
int pb_broker_ensure_topics_async(pb_broker_t *b, const pb_product_t *p,
                                  pb_broker_port_lookup_t lookup, const void *ctx, int timeout_ms,
                                  pb_broker_topics_cb_t cb, void *arg, pb_err_t *err);

/* For routes answered from the registry's state (PB_API_REPLAYED): until the registry is replayed
 * and products.dir stored, reply 503 + Retry-After naming the replay's progress and return 1 (the
 * request is answered); once it is, return 0 ever after. Loop thread. */
int pb_broker_reply_if_loading(pb_broker_t *b, pb_http_req_t *req);

/* Is the broker ready (descriptors loaded, Kafka answered since start-up, registry replayed,
 * Kafka reachable)? reason gets the first failing check. */
int pb_broker_ready(const pb_broker_t *b, const char **reason);

#endif
