/*
 * config.c — the settings table props[] and everything driven by it: defaults, parsing from the
 * file, the environment and -o, range checks, --config-dump (secrets masked) and the generated
 * docs/CONFIGURATION.md. Pure apart from reading the file.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"

typedef enum { T_STR, T_INT, T_ENUM } ptype_t;

/* The property table. `choices` is a '|'-separated list for T_ENUM. */
static const struct prop {
    const char *key;
    ptype_t type;
    size_t offset;
    const char *def;
    int64_t min, max;
    const char *choices;
    const char *doc;
} props[] = {
    {"http.listen", T_STR, offsetof(pb_config_t, http_listen), "127.0.0.1:8080", 0, 0, NULL,
     "Address the HTTP API listens on, `host:port` (`[::1]:8080` for IPv6). Port 0 picks a free "
     "port; `serve --port-file F` writes the chosen port to F."},
    {"http.timeout.ms", T_INT, offsetof(pb_config_t, http_timeout_ms), "30000", 100, 3600000, NULL,
     "A client that sends nothing (or too slowly) for this long is disconnected."},
    {"http.max.connections", T_INT, offsetof(pb_config_t, http_max_connections), "10000", 1,
     1000000, NULL,
     "Concurrent HTTP connections served. The next ones (an eighth of it, 1 to 64) are answered "
     "503 with `Retry-After` and closed; beyond those the broker stops accepting until "
     "connections close, and new clients wait in the kernel's listen backlog. At start the "
     "broker raises its soft file-descriptor limit to the hard one and, when the limit leaves "
     "too few descriptors above a reserve for Kafka clients and files (a quarter of the limit, "
     "at least 128), lowers the effective value and says so in the log."},
    {"http.header.timeout.ms", T_INT, offsetof(pb_config_t, http_header_timeout_ms), "10000", 100,
     3600000, NULL,
     "A request's line and headers must arrive within this long of its first byte (a new "
     "connection's first request: of the connect), however slowly the bytes trickle in; "
     "else 408 and the connection is closed."},
    {"http.body.timeout.ms", T_INT, offsetof(pb_config_t, http_body_timeout_ms), "60000", 100,
     3600000, NULL,
     "A request's body must arrive within this long of its headers; else 408 and the connection "
     "is closed. At the default and the largest publish body (`publish.max.body.bytes`) that "
     "asks the client for about 280 kB/s."},
    {"http.idle.timeout.ms", T_INT, offsetof(pb_config_t, http_idle_timeout_ms), "60000", 100,
     3600000, NULL, "A kept-alive connection with no request for this long is closed."},
    {"http.max.header.bytes", T_INT, offsetof(pb_config_t, http_max_header_bytes), "65536", 1024,
     16777216, NULL,
     "Largest request line and headers (a chunked body's trailers included) of one request; "
     "larger get 431 and the connection is closed. The body's own limit is "
     "`publish.max.body.bytes` plus 1 MiB (413, the limit in the message)."},
    {"products.dir", T_STR, offsetof(pb_config_t, products_dir), pb_paths_products_dir, 0, 0, NULL,
     "Directory of data product descriptors (`*.json`, DPDS 1.0 subset) loaded at start and on "
     "SIGHUP. The default here is a build-tree binary's (relative to the working directory); the "
     "binary `make install` installs defaults to the installed examples, "
     "`$PREFIX/share/portbroker/examples` (`serve --config-dump` shows it)."},
    {"mesh.namespace", T_STR, offsetof(pb_config_t, mesh_namespace), "local", 0, 0, NULL,
     "Default mesh namespace (reverse DNS, e.g. `com.acme`) for short port addresses."},
    {"topic.partitions", T_INT, offsetof(pb_config_t, topic_partitions), "3", 1, 10000, NULL,
     "Partition count of a port topic whose descriptor does not set `x-portbroker.partitions`."},
    {"topic.partitions.max", T_INT, offsetof(pb_config_t, topic_partitions_max), "1000", 1, 10000,
     NULL,
     "Most partitions one port topic may have (`x-portbroker.partitions`, or an input port's "
     "output port); a descriptor asking more is refused (413) before any topic is created."},
    {"descriptor.ports.max", T_INT, offsetof(pb_config_t, descriptor_ports_max), "100", 1, 1000,
     NULL,
     "Most ports (output and input together) one descriptor may declare; more is refused (413), "
     "so one write stays bounded."},
    {"descriptor.partitions.max", T_INT, offsetof(pb_config_t, descriptor_partitions_max), "5000",
     1, 1000000, NULL,
     "Most partitions the topics of one descriptor may add up to (each output port's topic and "
     "its dead-letter topic, each input port's topic); more is refused (413): creating them, and "
     "the routers' per-partition state, is work one request must not hold the broker for."},
    {"topic.replication.factor", T_INT, offsetof(pb_config_t, topic_replication), "-1", -1, 32,
     NULL, "Replication factor of topics the broker creates; -1 uses the cluster's default."},
    {"kafka.bootstrap.servers", T_STR, offsetof(pb_config_t, kafka_bootstrap), "", 0, 0, NULL,
     "Kafka brokers, `host:port,...`. Empty starts the embedded Kafka (librdkafka's in-process "
     "mock cluster): data lives in memory only and is lost at exit. Every other `kafka.*` key is "
     "passed to librdkafka without the prefix (e.g. `kafka.security.protocol = SASL_SSL`)."},
    {"embedded.brokers", T_INT, offsetof(pb_config_t, embedded_brokers), "3", 1, 16, NULL,
     "Broker count of the embedded Kafka cluster."},
    {"registry.topic", T_STR, offsetof(pb_config_t, registry_topic), "_portbroker", 0, 0, NULL,
     "Kafka topic holding the registry's event log (one partition, compacted)."},
    {"registry.url", T_STR, offsetof(pb_config_t, registry_url), "", 0, 0, NULL,
     "Base URL clients use to reach this broker's Schema Registry API, written into each record's "
     "`ce_dataschema` header (`{registry.url}/schemas/ids/{id}`). Empty: `http://` + the address "
     "`http.listen` bound (set it when clients reach the broker through a load balancer)."},
    {"registry.import.timeout.ms", T_INT, offsetof(pb_config_t, import_timeout_ms), "10000", 100,
     600000, NULL,
     "`portbroker registry import`: how long each request to the source or the target registry "
     "may take (connect, send, whole answer) before the import stops and says which one."},
    {"registry.import.max.response.bytes", T_INT, offsetof(pb_config_t, import_max_response_bytes),
     "67108864", 1024, 1073741824, NULL,
     "`portbroker registry import`: largest answer read from a registry (a subject list, a "
     "schema); a larger one stops the import with an error naming the request."},
    {"publish.timeout.ms", T_INT, offsetof(pb_config_t, publish_timeout_ms), "30000", 100, 3600000,
     NULL,
     "How long a publish waits for Kafka to acknowledge before answering 503 with Retry-After."},
    {"publish.max.body.bytes", T_INT, offsetof(pb_config_t, publish_max_body_bytes), "16777216",
     1024, 1073741824, NULL,
     "Largest publish body (`POST /v1/ports/{port}/records`), counted after zstd decompression; "
     "larger bodies get 413. The HTTP server's own body limit follows it."},
    {"publish.max.records", T_INT, offsetof(pb_config_t, publish_max_records), "10000", 1, 1000000,
     NULL, "Most records in one publish request; more get 413."},
    {"publish.max.record.bytes", T_INT, offsetof(pb_config_t, publish_max_record_bytes), "1000000",
     64, 100000000, NULL,
     "Largest encoded record (Avro value with its 5-byte frame header, key, and the producer's "
     "header names and values); larger records get 413. The producer's `message.max.bytes` is set "
     "32 KiB above it (room for the broker's own headers) unless `kafka.message.max.bytes` is "
     "set."},
    {"publish.max.record.headers", T_INT, offsetof(pb_config_t, publish_max_headers), "64", 0,
     10000, NULL, "Most headers a producer may give one record (`headers` object); more get 413."},
    {"publish.max.record.header.bytes", T_INT, offsetof(pb_config_t, publish_max_header_bytes),
     "16384", 0, 10000000, NULL,
     "Most bytes of header names and values a producer may give one record; more get 413."},
    {"publish.dedupe.window.ms", T_INT, offsetof(pb_config_t, publish_dedupe_window_ms), "600000",
     0, 86400000, NULL,
     "How long after Kafka acknowledged a record its producer-given `id` (ce_id) is remembered: a "
     "record published again to the same port with that id within the window is not stored again "
     "but answered with the first one's partition and offset and `\"duplicate\": true` (another "
     "key or value under the id gets 409). Per instance and in memory (not across instances or "
     "restarts: consumers keep ce_id as the end-to-end dedupe key). 0 switches it off."},
    {"publish.dedupe.max.ids", T_INT, offsetof(pb_config_t, publish_dedupe_max_ids), "100000", 1,
     100000000, NULL,
     "Most record ids remembered per output port; past it the port's oldest are forgotten first, "
     "even within `publish.dedupe.window.ms`."},
    {"publish.dedupe.max.bytes", T_INT, offsetof(pb_config_t, publish_dedupe_max_bytes),
     "268435456", 1048576, 68719476736, NULL,
     "Memory all ports' remembered record ids may take together (about 120 bytes plus the id "
     "each); past it the oldest of any port are forgotten first."},
    {"publish.linger.ms", T_INT, offsetof(pb_config_t, publish_linger_ms), "2", 0, 1000, NULL,
     "How long the publishing producer waits to fill a batch before sending it (`linger.ms`): a "
     "publish is answered after Kafka acknowledges, so every publish waits up to this long. A "
     "`kafka.linger.ms` pass-through overrides it."},
    {"router.fetch.wait.ms", T_INT, offsetof(pb_config_t, router_fetch_wait_ms), "500", 1, 10000,
     NULL,
     "How long the routing reader's fetch waits for records (`fetch.wait.max.ms` of the one "
     "fan-out consumer that reads every output port for all bindings). A real cluster answers as "
     "soon as records arrive, so it costs no latency there. The embedded cluster answers a fetch "
     "that found nothing only after the whole wait: a record arriving after a quiet moment waits "
     "up to this long to be routed. The idle cost is a few fetches per broker per wait, whatever "
     "the number of bindings. Set 10 for low latency on the embedded cluster."},
    {"router.prefetch.kbytes", T_INT, offsetof(pb_config_t, router_prefetch_kbytes), "65536", 1024,
     2097151, NULL,
     "Records the fan-out reader holds read ahead of routing, all output partitions together, "
     "in KiB (`queued.max.messages.kbytes` of the one consumer that reads every output port): "
     "past it the reader fetches no more until routing has taken records from its queue. It "
     "bounds the reader's memory under a backlog (plus the fetch answers in flight: at most "
     "`fetch.max.bytes` per broker). The default is librdkafka's. A "
     "`kafka.queued.max.messages.kbytes` pass-through overrides it."},
    {"router.inflight.kbytes", T_INT, offsetof(pb_config_t, router_inflight_kbytes), "65536", 1,
     2097151, NULL,
     "Routed records in flight (produced, not yet acknowledged by Kafka), all bindings together, "
     "in KiB of their values, keys and headers: past it the routers take no more records from "
     "the fan-out reader until acknowledgements bring it down (backpressure: nothing is dropped "
     "or skipped). One record's copies (one per binding of its port) may pass it, so a record "
     "larger than the bound is routed alone. Exported as `portbroker_router_inflight_bytes`. "
     "It bounds the routing producer's memory alongside the count bound (20,000 records)."},
    {"router.linger.ms", T_INT, offsetof(pb_config_t, router_linger_ms), "5", 0, 1000, NULL,
     "How long the routing producer waits to fill a batch before sending it (`linger.ms` of the "
     "one producer that writes every binding's routed records): a routed record waits up to this "
     "long. Lower trades batching (CPU per "
     "record at high rates) for latency. A `kafka.linger.ms` pass-through overrides it."},
    {"router.queue.kbytes", T_INT, offsetof(pb_config_t, router_queue_kbytes), "262144", 1, 2097151,
     NULL,
     "The routing producer's local queue, in KiB of record values (`queue.buffering.max.kbytes` "
     "of the one producer that writes every binding's routed records; librdkafka's default is "
     "1 GiB). The default is 4 x `router.inflight.kbytes`: the routers stop taking records at "
     "that bound, so the queue fills only when one record's copies are larger than the rest "
     "(many bindings of one port, records near 1 MB) or the bound is set above it. A full queue "
     "stops the binding partitions that meet it; they resume from their input topic's tail "
     "once their records in flight landed (nothing is lost or routed twice). A "
     "`kafka.queue.buffering.max.kbytes` pass-through overrides it (and applies to the "
     "publishing producer too)."},
    {"router.revoke.wait.ms", T_INT, offsetof(pb_config_t, router_revoke_wait_ms), "10000", 100,
     600000, NULL,
     "When the consumer group takes output partitions away from this instance (a rebalance), how "
     "long their routed records still in flight may take to be acknowledged before the partitions "
     "are given up anyway. Meanwhile the partitions stay with this instance and route nothing "
     "(the group waits; the loop does not). Records still in flight when it runs out may be "
     "routed again by the next owner: a duplicate, logged as a warning."},
    {"router.park.idle.ms", T_INT, offsetof(pb_config_t, router_park_idle_ms), "60000", 0, 86400000,
     NULL,
     "An output partition the fan-out reader is caught up on and that has had no record for this "
     "long is parked: the reader stops fetching it (`rd_kafka_pause_partitions`; librdkafka "
     "2.0.2 has no fetch sessions, so every empty fetch answer lists, and costs CPU for, every "
     "partition read). It is read again at once when this instance publishes to its port, and "
     "otherwise when a lag sweep (`sub.lag.interval.ms`) finds records beyond the reader's "
     "position: a record written straight to Kafka (or through another instance) into a parked "
     "partition waits up to one sweep to be routed. Parking only pauses the fetch: nothing is "
     "committed, skipped or read twice. Exported as `portbroker_router_parked_partitions`. "
     "0 never parks."},
    {"shutdown.timeout.ms", T_INT, offsetof(pb_config_t, shutdown_timeout_ms), "10000", 0, 600000,
     NULL, "On SIGTERM/SIGINT, how long to wait for in-flight Kafka deliveries before exiting."},
    {"log.level", T_ENUM, offsetof(pb_config_t, log_level), "info", 0, 0, "error|warn|info|debug",
     "Least severe level logged."},
    {"sub.max.streams", T_INT, offsetof(pb_config_t, sub_max_streams), "64", 1, 100000, NULL,
     "Subscriber streams (`GET /v1/ports/{input-port}/records`) open at once on this instance; "
     "more get 503 with Retry-After. Each stream is a Kafka consumer group member."},
    {"sub.max.batch", T_INT, offsetof(pb_config_t, sub_max_batch), "1000", 1, 100000, NULL,
     "Largest `batch` (records per write) a subscriber stream may ask for; also the default."},
    {"sub.max.buffered.bytes", T_INT, offsetof(pb_config_t, sub_max_buffered_bytes), "1048576",
     4096, 1073741824, NULL,
     "Bytes a subscriber stream may have queued on its connection; beyond, the stream's "
     "partitions pause until the client has read them (backpressure)."},
    {"sub.commit.interval.ms", T_INT, offsetof(pb_config_t, sub_commit_interval_ms), "1000", 10,
     600000, NULL,
     "With `commit=auto`, how often a stream commits the offsets of records written to its "
     "socket (also committed when the stream ends)."},
    {"sub.heartbeat.ms", T_INT, offsetof(pb_config_t, sub_heartbeat_ms), "10000", 100, 3600000,
     NULL, "An SSE stream with nothing to send writes a `: keepalive` comment this often."},
    {"sub.lag.interval.ms", T_INT, offsetof(pb_config_t, sub_lag_interval_ms), "5000", 100, 3600000,
     NULL,
     "How often the lag of every subscription's router and subscriber groups is measured "
     "(subscription stats and `portbroker_subscription_lag_*`). One sweep covers every binding "
     "as a background job: the watermarks of the output partitions this instance's fan-out "
     "reader is reading and caught up on from its last fetch answers (no request; at most "
     "`router.fetch.wait.ms` old), those of every other partition of their topics in one "
     "look-up, partition counts from this instance's routers (the cluster's metadata only "
     "when one is unknown, and every 100th sweep), the router groups' committed offsets from "
     "this instance's own routers (Kafka is asked only for partitions another instance "
     "routes), and one request per subscriber group; a subscriber group found with no commit "
     "and no stream on this instance is asked again 12, 24, 48, then every 60 sweeps, so "
     "its first commit through another instance shows within 60 intervals (one through this "
     "instance, or a new binding, at the next sweep)."},
    {"sub.commit.clients", T_INT, offsetof(pb_config_t, sub_commit_clients), "2", 1, 64, NULL,
     "Kafka clients kept for cursor commits that must join their consumer group: a `POST "
     "/v1/ports/{input-port}/cursors` with no stream of the port on this instance commits from "
     "outside the group through the instance's shared offset reader, and Kafka refuses that while "
     "the group has members (a stream on another instance): then a client of that group joins, "
     "commits and leaves. At most this many such clients stay open (about 6 threads each); the "
     "least recently used one is closed when another group needs one."},
    {"sub.commit.client.idle.ms", T_INT, offsetof(pb_config_t, sub_commit_client_idle_ms), "30000",
     1000, 3600000, NULL,
     "A cursor-commit client of a group (`sub.commit.clients`) unused for this long is closed."},
    {"sub.reader.idle.ms", T_INT, offsetof(pb_config_t, sub_reader_idle_ms), "30000", 1000, 3600000,
     NULL,
     "The instance's offset reader (one Kafka consumer outside any group: stream start positions, "
     "cursor commits from outside a group, port samples, the lag sweep's oldest-record reads) is "
     "closed after this long unused, and the next look-up makes a new one. librdkafka keeps "
     "every topic a client has read until the client is closed and visits them all every "
     "second: an idle reader costs that scan and its threads for nothing."},
    {"sub.reader.topics.max", T_INT, offsetof(pb_config_t, sub_reader_topics_max), "256", 1,
     1000000, NULL,
     "An offset reader that has read more topics than this is replaced by a new one (with none) "
     "when nothing uses it, at most once per `sub.reader.idle.ms`: a reader in steady use does "
     "not keep every topic it ever read in librdkafka's per-second scan."},
    {"sub.fetch.wait.ms", T_INT, offsetof(pb_config_t, sub_fetch_wait_ms), "0", 0, 10000, NULL,
     "How long a subscriber stream's fetch waits for records (`fetch.wait.max.ms` of stream "
     "consumers). 0: 10 on the embedded cluster, librdkafka's default (500) otherwise; a real "
     "cluster answers as soon as records arrive, so a long wait costs no latency there. The "
     "embedded cluster answers a fetch that found nothing only after the whole wait, so a record "
     "reaches an idle stream up to this late; shorter costs CPU while streams are idle."},
    {"log.format", T_ENUM, offsetof(pb_config_t, log_format), "text", 0, 0, "text|json",
     "`text`: one human line per event; `json`: one JSON object per line."},
    {"metrics.enabled", T_ENUM, offsetof(pb_config_t, metrics_enabled), "true", 0, 0, "true|false",
     "Count per-port metrics and serve `GET /metrics`. `false` counts nothing (the data plane "
     "skips every update; for overhead benchmarks) and `/metrics` answers 404."},
    {"metrics.kafka.stats.interval.ms", T_INT,
     offsetof(pb_config_t, metrics_kafka_stats_interval_ms), "0", 0, 86400000, NULL,
     "librdkafka statistics (`statistics.interval.ms`) of the shared Kafka clients (publishing "
     "producer, routing producer, fan-out reader), for the per-broker series of `/metrics`: "
     "`portbroker_kafka_broker_up`, `_rtt_avg_seconds`, `_rtt_p99_seconds`, "
     "`_request_errors_total`, `_request_timeouts_total` and "
     "`portbroker_kafka_stats_timestamp_seconds`. Off (0) by default: the cost is memory. With "
     "statistics on, librdkafka 2.0.2 keeps two histograms for every topic each of those clients "
     "knows, about 23 kB a topic per client (sized by `message.max.bytes` and "
     "`batch.num.messages`), and a binding's topics are known to the three clients: ~67 kB per "
     "binding, 67 MB at 1,000 bindings (`bench/README.md`). That memory is the same whatever the "
     "interval: a longer one only saves the reports' CPU (each is the JSON of every partition), "
     "and librdkafka cannot leave topics out. What does not need statistics is always there: "
     "`portbroker_kafka_reachable` (the `PortbrokerKafkaUnreachable` alert) and the produce queue "
     "series (`portbroker_kafka_produce_queue_*`, the `PortbrokerKafkaProduceQueueSaturated` "
     "alert). Turn statistics on (e.g. 15000) to see which broker is down or slow. A "
     "`kafka.statistics.interval.ms` pass-through overrides it."},
    {"status.sample.ms", T_INT, offsetof(pb_config_t, status_sample_ms), "10000", 100, 600000, NULL,
     "Throughput sample period of `/v1/status` and `/dashboard`: each port keeps the last 90 "
     "samples (15 minutes at the default), and a binding's live rate in `/v1/lineage` is the "
     "input port's rate over the last sample."},
    {"sample.max.records", T_INT, offsetof(pb_config_t, sample_max_records), "20", 1, 1000, NULL,
     "Most records `GET /v1/ports/{port}/sample?limit=N` returns (the port page's sample data); a "
     "larger `limit` is a 400. The default `limit` is 5."},
    {"sample.timeout.ms", T_INT, offsetof(pb_config_t, sample_timeout_ms), "5000", 100, 60000, NULL,
     "Time a sample read may take (watermarks and fetch, on the sampler's worker thread); past it "
     "the reply holds what was read, with `\"complete\": false`."},
    {"sample.max.pending", T_INT, offsetof(pb_config_t, sample_max_pending), "8", 1, 1000, NULL,
     "Sample reads queued or running at once; one more is answered 503 with `Retry-After`."},
    {"lineage.topic", T_STR, offsetof(pb_config_t, lineage_topic), "_portbroker.lineage", 0, 0,
     NULL,
     "Kafka topic receiving the broker's OpenLineage RunEvents (START after the registry replay, "
     "RUNNING every `lineage.interval.ms`, COMPLETE on a clean stop), created at start with one "
     "partition. Empty: no events to Kafka."},
    {"lineage.url", T_STR, offsetof(pb_config_t, lineage_url), "", 0, 0, NULL,
     "OpenLineage HTTP endpoint (`http://host:port/api/v1/lineage`): each event is also POSTed "
     "there as JSON, one at a time, with up to 5 attempts (backoff from 250 ms, doubling) and a "
     "5 s timeout per attempt. Empty: no HTTP. Only `http://` URLs."},
    {"lineage.interval.ms", T_INT, offsetof(pb_config_t, lineage_interval_ms), "60000", 100,
     86400000, NULL, "Period of the OpenLineage RUNNING events (output statistics per port)."},
    {"http.allow.insecure", T_ENUM, offsetof(pb_config_t, http_allow_insecure), "false", 0, 0,
     "true|false",
     "With no credential source configured (auth off) every caller is `admin`, so `serve` refuses "
     "to listen on an address beyond loopback unless this is `true` (e.g. behind an "
     "authenticating proxy on the same host)."},
    {"http.tls.cert.file", T_STR, offsetof(pb_config_t, http_tls_cert_file), "", 0, 0, NULL,
     "PEM certificate chain of the HTTP listener. With `http.tls.key.file` the listener serves "
     "HTTPS only (TLS 1.2 and 1.3); both files are re-read on SIGHUP (new connections get the new "
     "certificate, the listener stays up)."},
    {"http.tls.key.file", T_STR, offsetof(pb_config_t, http_tls_key_file), "", 0, 0, NULL,
     "PEM private key of `http.tls.cert.file`."},
    {"http.tls.client.ca.file", T_STR, offsetof(pb_config_t, http_tls_client_ca_file), "", 0, 0,
     NULL,
     "PEM CA certificates for client certificates (mTLS): a client may present one, and a "
     "certificate that does not verify fails the handshake. A verified certificate's first URI SAN "
     "(a product URN) or else its CN is the principal when the request has no Authorization "
     "header. Turns authentication on."},
    {"auth.tokens.file", T_STR, offsetof(pb_config_t, auth_tokens_file), "", 0, 0, NULL,
     "Bearer tokens: one line per token, `PRINCIPAL sha256:HEX` (the SHA-256 of the token, as "
     "`portbroker token PRINCIPAL` prints it), `#` comments; re-read on SIGHUP (a bad file keeps "
     "the old tokens). A principal is `admin` or a product pattern "
     "`urn:dpds:{ns}:dataproducts:{product|*}:{major|*}`. HTTP Basic with the token as password is "
     "the same credential. Setting any auth source turns authentication on."},
    {"auth.anonymous", T_ENUM, offsetof(pb_config_t, auth_anonymous), "none", 0, 0, "none|read",
     "With auth on, what callers without credentials may do: `none` (401 everywhere but "
     "`/healthz`, `/readyz` and `/metrics`) or `read` (catalog reads: products, ports, subjects, "
     "schemas, status, lineage, dashboard)."},
    {"metrics.auth", T_ENUM, offsetof(pb_config_t, metrics_auth), "false", 0, 0, "true|false",
     "`true`: `GET /metrics` needs credentials like a catalog read."},
    {"auth.jwks.file", T_STR, offsetof(pb_config_t, auth_jwks_file), "", 0, 0, NULL,
     "JWT bearer tokens (OIDC): a JWKS file (RSA and EC P-256 keys) that RS256/ES256 signatures "
     "are checked against; re-read on SIGHUP. Needs `auth.jwt.issuer` and `auth.jwt.audience`."},
    {"auth.jwks.url", T_STR, offsetof(pb_config_t, auth_jwks_url), "", 0, 0, NULL,
     "JWT bearer tokens: an `http://` JWKS URL fetched at start and every "
     "`auth.jwks.refresh.ms` in the background (a failed fetch keeps the keys held). Needs "
     "`auth.jwt.issuer` and `auth.jwt.audience`."},
    {"auth.jwks.refresh.ms", T_INT, offsetof(pb_config_t, auth_jwks_refresh_ms), "300000", 1000,
     86400000, NULL, "How often `auth.jwks.url` is fetched again."},
    {"auth.jwks.timeout.ms", T_INT, offsetof(pb_config_t, auth_jwks_timeout_ms), "10000", 100,
     600000, NULL,
     "A fetch of `auth.jwks.url` that has not answered in this time fails (the keys held are "
     "kept; the next try follows in 5 s until keys were loaded once, then every "
     "`auth.jwks.refresh.ms`)."},
    {"auth.jwks.max.bytes", T_INT, offsetof(pb_config_t, auth_jwks_max_bytes), "1048576", 1024,
     67108864, NULL,
     "An `auth.jwks.url` answer larger than this is refused (the keys held are kept). A JWKS holds "
     "at most 64 keys."},
    {"auth.jwt.issuer", T_STR, offsetof(pb_config_t, auth_jwt_issuer), "", 0, 0, NULL,
     "The `iss` a JWT must carry."},
    {"auth.jwt.audience", T_STR, offsetof(pb_config_t, auth_jwt_audience), "", 0, 0, NULL,
     "The audience a JWT's `aud` (a string or an array) must hold."},
    {"auth.jwt.principal.claim", T_STR, offsetof(pb_config_t, auth_jwt_principal_claim), "sub", 0,
     0, NULL, "The JWT claim whose string value is the principal (`admin` or a product pattern)."},
    {"auth.jwt.leeway.ms", T_INT, offsetof(pb_config_t, auth_jwt_leeway_ms), "60000", 0, 600000,
     NULL, "Clock skew tolerated on a JWT's `exp` and `nbf`."},
    {"limit.publish.records.per.s", T_INT, offsetof(pb_config_t, limit_publish_records), "0", 0,
     1000000000, NULL,
     "Records per second one principal may publish (a token bucket holding one second's worth); "
     "beyond, 429 with `Retry-After`. 0: no limit."},
    {"limit.write.requests.per.s", T_INT, offsetof(pb_config_t, limit_write_requests), "0", 0,
     1000000, NULL,
     "Registry writes (PUT, POST, DELETE other than publish and cursor commits) per second one "
     "principal may make (a token bucket holding one second's worth); beyond, 429 with "
     "`Retry-After`. 0: no limit."},
};
#define NPROPS (sizeof props / sizeof props[0])

static char **str_slot(pb_config_t *c, const struct prop *p) {
    return (char **)(void *)((char *)c + p->offset);
}
static int64_t *int_slot(pb_config_t *c, const struct prop *p) {
    return (int64_t *)(void *)((char *)c + p->offset);
}

static const struct prop *find_prop(const char *key) {
    for (size_t i = 0; i < NPROPS; i++)
        if (strcmp(props[i].key, key) == 0) return &props[i];
    return NULL;
}

/* Edit distance, small strings only: used to suggest the key the user meant. */
static size_t distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

static int set_prop(pb_config_t *c, const struct prop *p, const char *value, const char *origin,
                    pb_err_t *err) {
    if (p->type == T_INT) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || errno)
            return pb_err_set(err, PB_ERR_INVALID, "%s: %s: '%s' is not an integer", origin, p->key,
                              value);
        if (v < p->min || v > p->max)
            return pb_err_set(err, PB_ERR_INVALID, "%s: %s: %lld is out of range [%lld, %lld]",
                              origin, p->key, v, (long long)p->min, (long long)p->max);
        *int_slot(c, p) = v;
        return 0;
    }
    if (p->type == T_ENUM) {
        size_t vl = strlen(value);
        const char *s = p->choices;
        int ok = 0;
        while (*s) {
            const char *bar = strchr(s, '|');
            size_t n = bar ? (size_t)(bar - s) : strlen(s);
            if (n == vl && strncmp(s, value, n) == 0) ok = 1;
            s += n + (bar ? 1 : 0);
        }
        if (!ok)
            return pb_err_set(err, PB_ERR_INVALID, "%s: %s: '%s' is not one of %s", origin, p->key,
                              value, p->choices);
    }
    char *dup = strdup(value);
    if (!dup) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    free(*str_slot(c, p));
    *str_slot(c, p) = dup;
    return 0;
}

pb_config_t *pb_config_new(void) {
    pb_config_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    for (size_t i = 0; i < NPROPS; i++) {
        pb_err_t err;
        if (set_prop(c, &props[i], props[i].def, "default", &err)) {
            pb_config_destroy(c);
            return NULL;
        }
    }
    return c;
}

void pb_config_destroy(pb_config_t *c) {
    if (!c) return;
    for (size_t i = 0; i < NPROPS; i++)
        if (props[i].type != T_INT) free(*str_slot(c, &props[i]));
    for (size_t i = 0; i < c->n_kafka; i++) {
        free(c->kafka[i].key);
        free(c->kafka[i].value);
    }
    free(c->kafka);
    free(c);
}

static int add_kafka(pb_config_t *c, const char *key, const char *value, pb_err_t *err) {
    for (size_t i = 0; i < c->n_kafka; i++)
        if (strcmp(c->kafka[i].key, key) == 0) {
            char *v = strdup(value);
            if (!v) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
            free(c->kafka[i].value);
            c->kafka[i].value = v;
            return 0;
        }
    pb_config_kv_t *kv = realloc(c->kafka, (c->n_kafka + 1) * sizeof *kv);
    if (!kv) return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    c->kafka = kv;
    kv[c->n_kafka].key = strdup(key);
    kv[c->n_kafka].value = strdup(value);
    if (!kv[c->n_kafka].key || !kv[c->n_kafka].value) {
        free(kv[c->n_kafka].key);
        free(kv[c->n_kafka].value);
        return pb_err_set(err, PB_ERR_NOMEM, "out of memory");
    }
    c->n_kafka++;
    return 0;
}

int pb_config_set(pb_config_t *c, const char *key, const char *value, const char *origin,
                  pb_err_t *err) {
    const struct prop *p = find_prop(key);
    if (p) return set_prop(c, p, value, origin, err);
    if (strncmp(key, "kafka.", 6) == 0 && key[6]) return add_kafka(c, key + 6, value, err);
    const char *best = NULL;
    size_t bestd = 4;
    for (size_t i = 0; i < NPROPS; i++) {
        size_t d = distance(key, props[i].key);
        if (d < bestd) {
            bestd = d;
            best = props[i].key;
        }
    }
    if (best)
        return pb_err_set(err, PB_ERR_INVALID, "%s: unknown key '%s' (did you mean '%s'?)", origin,
                          key, best);
    return pb_err_set(err, PB_ERR_INVALID,
                      "%s: unknown key '%s' (see docs/CONFIGURATION.md; librdkafka settings take "
                      "the prefix 'kafka.')",
                      origin, key);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

int pb_config_load_file(pb_config_t *c, const char *path, pb_err_t *err) {
    int rc = 0;
    char *line = NULL;
    size_t cap = 0;
    FILE *f = fopen(path, "r");
    if (!f) return pb_err_set(err, PB_ERR_IO, "config %s: cannot open: %s", path, strerror(errno));
    unsigned lineno = 0;
    while (getline(&line, &cap, f) != -1) {
        lineno++;
        char origin[300];
        snprintf(origin, sizeof origin, "config %s:%u", path, lineno);
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = pb_err_set(err, PB_ERR_INVALID, "%s: expected 'key = value', got '%.60s'", origin,
                            s);
            goto cleanup;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (!*key) {
            rc = pb_err_set(err, PB_ERR_INVALID, "%s: empty key before '='", origin);
            goto cleanup;
        }
        rc = pb_config_set(c, key, value, origin, err);
        if (rc) goto cleanup;
    }
    if (ferror(f)) rc = pb_err_set(err, PB_ERR_IO, "config %s: read error", path);
cleanup:
    free(line);
    fclose(f);
    return rc;
}

int pb_config_load_env(pb_config_t *c, char *const *envp, pb_err_t *err) {
    for (; envp && *envp; envp++) {
        const char *e = *envp;
        if (strncmp(e, "PORTBROKER_", 11) != 0) continue;
        const char *eq = strchr(e, '=');
        if (!eq) continue;
        char name[256], key[256];
        size_t n = (size_t)(eq - e);
        if (n >= sizeof name) n = sizeof name - 1;
        memcpy(name, e, n);
        name[n] = '\0';
        /* Find the table key whose environment spelling matches. */
        const char *found = NULL;
        for (size_t i = 0; i < NPROPS && !found; i++) {
            char envname[256] = "PORTBROKER_";
            size_t k = 11;
            for (const char *p = props[i].key; *p && k < sizeof envname - 1; p++)
                envname[k++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
            envname[k] = '\0';
            if (strcmp(envname, name) == 0) found = props[i].key;
        }
        if (found) {
            snprintf(key, sizeof key, "%s", found);
        } else if (strncmp(name, "PORTBROKER_KAFKA_", 17) == 0 && name[17]) {
            size_t k = snprintf(key, sizeof key, "kafka.");
            for (const char *p = name + 17; *p && k < sizeof key - 1; p++)
                key[k++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
            key[k] = '\0';
        } else if (strcmp(name, "PORTBROKER_BIN") == 0 || strcmp(name, "PORTBROKER_CONF") == 0) {
            continue; /* used by scripts, not settings */
        } else {
            return pb_err_set(err, PB_ERR_INVALID,
                              "environment %s: no such setting (PORTBROKER_<KEY> with dots as "
                              "underscores, e.g. PORTBROKER_HTTP_LISTEN)",
                              name);
        }
        char origin[300];
        snprintf(origin, sizeof origin, "environment %s", name);
        int rc = pb_config_set(c, key, eq + 1, origin, err);
        if (rc) return rc;
    }
    return 0;
}

int pb_config_split_hostport(const char *s, char *host, size_t hostlen, int *port, pb_err_t *err) {
    const char *colon;
    const char *h = s;
    size_t hl;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return pb_err_set(err, PB_ERR_INVALID, "'%s' is not [ipv6]:port", s);
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return pb_err_set(err, PB_ERR_INVALID, "'%s' is not host:port", s);
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen) return pb_err_set(err, PB_ERR_INVALID, "'%s': bad host", s);
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || p < 0 || p > 65535)
        return pb_err_set(err, PB_ERR_INVALID, "'%s': port must be 0..65535", s);
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

int pb_config_validate(const pb_config_t *c, pb_err_t *err) {
    char host[256];
    int port;
    if (pb_config_split_hostport(c->http_listen, host, sizeof host, &port, err))
        return pb_err_prefix(err, "http.listen: ");
    if (!*c->products_dir) return pb_err_set(err, PB_ERR_INVALID, "products.dir: empty");
    if (!*c->registry_topic) return pb_err_set(err, PB_ERR_INVALID, "registry.topic: empty");
    for (const char *p = c->registry_topic; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return pb_err_set(err, PB_ERR_INVALID,
                              "registry.topic: '%s' has '%c'; topic names use [A-Za-z0-9._-]",
                              c->registry_topic, *p);
    for (const char *p = c->lineage_topic; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return pb_err_set(err, PB_ERR_INVALID,
                              "lineage.topic: '%s' has '%c'; topic names use [A-Za-z0-9._-]",
                              c->lineage_topic, *p);
    if (*c->lineage_url && strncmp(c->lineage_url, "http://", 7) != 0)
        return pb_err_set(err, PB_ERR_INVALID,
                          "lineage.url: '%s' is not an http:// URL (https is not supported; put a "
                          "local proxy in front)",
                          c->lineage_url);
    if (!*c->http_tls_cert_file != !*c->http_tls_key_file)
        return pb_err_set(err, PB_ERR_INVALID,
                          "http.tls.cert.file and http.tls.key.file go together: set both for "
                          "HTTPS, or neither");
    if (*c->http_tls_client_ca_file && !*c->http_tls_cert_file)
        return pb_err_set(err, PB_ERR_INVALID,
                          "http.tls.client.ca.file needs http.tls.cert.file and "
                          "http.tls.key.file (client certificates come with HTTPS)");
    int jwt = *c->auth_jwks_file || *c->auth_jwks_url;
    if (jwt && (!*c->auth_jwt_issuer || !*c->auth_jwt_audience))
        return pb_err_set(err, PB_ERR_INVALID,
                          "auth.jwks.%s is set but auth.jwt.issuer and auth.jwt.audience are not: "
                          "set both (JWTs are checked against them)",
                          *c->auth_jwks_file ? "file" : "url");
    if (*c->auth_jwks_url && strncmp(c->auth_jwks_url, "http://", 7) != 0)
        return pb_err_set(err, PB_ERR_INVALID,
                          "auth.jwks.url: '%s' is not an http:// URL (fetch an https JWKS into "
                          "auth.jwks.file instead)",
                          c->auth_jwks_url);
    if (!*c->auth_jwt_principal_claim)
        return pb_err_set(err, PB_ERR_INVALID, "auth.jwt.principal.claim: empty");
    return 0;
}

static int is_secret(const char *key) {
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "token");
}

int pb_config_dump(const pb_config_t *c, pb_buf_t *out) {
    int rc = 0;
    for (size_t i = 0; i < NPROPS && !rc; i++) {
        const struct prop *p = &props[i];
        if (p->type == T_INT)
            rc = pb_buf_printf(out, "%s = %lld\n", p->key,
                               (long long)*int_slot((pb_config_t *)c, p));
        else
            rc = pb_buf_printf(out, "%s = %s\n", p->key, *str_slot((pb_config_t *)c, p));
    }
    for (size_t i = 0; i < c->n_kafka && !rc; i++)
        rc = pb_buf_printf(out, "kafka.%s = %s\n", c->kafka[i].key,
                           is_secret(c->kafka[i].key) ? "********" : c->kafka[i].value);
    return rc;
}

int pb_config_doc(pb_buf_t *out) {
    int rc =
        pb_buf_puts(out, "# portbroker configuration\n\n"
                         "Generated from the property table in `broker/config.c` by "
                         "`portbroker config-doc` (`make docs`); `make test` fails when this "
                         "file and the table differ.\n\n"
                         "Sources, lowest precedence first: these defaults, the file given with "
                         "`serve -c FILE` (`key = value` lines, `#` comments), environment "
                         "variables `PORTBROKER_<KEY>` (dots as underscores, upper case: "
                         "`PORTBROKER_HTTP_LISTEN`), then `serve -o key=value`. An unknown key or "
                         "a bad value stops start-up with the file, line and reason. "
                         "`portbroker serve --config-dump` prints the effective settings.\n\n"
                         "Any other `kafka.<property>` is handed to librdkafka as `<property>` "
                         "(`PORTBROKER_KAFKA_SASL_USERNAME` becomes `kafka.sasl.username`). "
                         "Every Kafka client the broker makes (publishing and routing producers, "
                         "routing, subscriber, registry and lag consumers) starts from the same "
                         "`kafka.*` settings: producer properties reach every producer, consumer "
                         "properties every consumer, the rest all of them. A property librdkafka "
                         "does not know, or a value it refuses, stops start-up (exit 2) naming the "
                         "key and the reason. `log.level = debug` logs each client's settings "
                         "that differ from librdkafka's defaults.\n\n"
                         "Fixed settings: these are what correctness depends on, so the broker "
                         "sets them last and a `kafka.*` key cannot change them. Producers: "
                         "`enable.idempotence = true`, `acks = all` (no acknowledged record lost, "
                         "order kept); the publishing producer also `partitioner = "
                         "murmur2_random` (keys land where the Java client puts them) and "
                         "`message.timeout.ms` = `publish.timeout.ms`. Consumers: their own "
                         "`group.id` (DESIGN.md §2), `enable.auto.commit = false` and "
                         "`enable.auto.offset.store = false` (routers commit only what Kafka "
                         "acknowledged: exactly once), `enable.partition.eof = false`, "
                         "`auto.offset.reset` (routers and streams decide start positions "
                         "themselves); subscriber streams also bound their prefetch "
                         "(`queued.max.messages.kbytes`, `fetch.max.bytes`, "
                         "`max.partition.fetch.bytes`). Other settings the broker chooses "
                         "(`client.id`, `linger.ms`, `fetch.wait.max.ms`, `session.timeout.ms`, "
                         "`heartbeat.interval.ms`, `queued.min.messages`, "
                         "`queue.buffering.max.messages`, `batch.num.messages`, "
                         "`message.max.bytes`) are defaults: a `kafka.*` key overrides them.\n\n"
                         "| key | type | default | range | description |\n"
                         "|---|---|---|---|---|\n");
    for (size_t i = 0; i < NPROPS && !rc; i++) {
        const struct prop *p = &props[i];
        char range[64] = "";
        if (p->type == T_INT)
            snprintf(range, sizeof range, "%lld … %lld", (long long)p->min, (long long)p->max);
        else if (p->type == T_ENUM)
            for (size_t k = 0, j = 0; p->choices[j] && k < sizeof range - 3; j++) {
                if (p->choices[j] == '|') {
                    range[k++] = ',';
                    range[k++] = ' ';
                } else {
                    range[k++] = p->choices[j];
                }
                range[k] = '\0';
            }
        rc = pb_buf_printf(out, "| `%s` | %s | `%s` | %s | %s |\n", p->key,
                           p->type == T_INT    ? "integer"
                           : p->type == T_ENUM ? "enum"
                                               : "string",
                           p->def, range, p->doc);
    }
    return rc;
}

int pb_config_man(pb_buf_t *out) {
    int rc = 0;
    for (size_t i = 0; i < NPROPS && !rc; i++) {
        const struct prop *p = &props[i];
        rc = pb_buf_puts(out, ".TP\n.B ") || pb_buf_roff(out, p->key) ||
             pb_buf_printf(out, "\n(%s, default \\(lq",
                           p->type == T_INT    ? "integer"
                           : p->type == T_ENUM ? "enum"
                                               : "string") ||
             pb_buf_roff(out, p->def) || pb_buf_puts(out, "\\(rq");
        if (!rc && p->type == T_INT)
            rc = pb_buf_printf(out, ", %lld to %lld", (long long)p->min, (long long)p->max);
        if (!rc && p->type == T_ENUM) rc = pb_buf_puts(out, ": ") || pb_buf_roff(out, p->choices);
        if (!rc) rc = pb_buf_puts(out, ")\n") || pb_buf_roff(out, p->doc) || pb_buf_puts(out, "\n");
    }
    return rc;
}
