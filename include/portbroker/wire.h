/*
 * portbroker/wire.h — what a record looks like on the wire (DESIGN.md §6), for connectors and any
 * client that reads port topics directly.
 *
 * Values use the Confluent wire format: one magic byte, a 4-byte big-endian schema id (the id the
 * registry API serves under /schemas/ids/{id}), then the Avro binary encoding. Header values are
 * UTF-8 text. Headers the broker owns are overwritten, never trusted from producers.
 */
#ifndef PORTBROKER_WIRE_H
#define PORTBROKER_WIRE_H

#define PB_WIRE_MAGIC 0x00
#define PB_WIRE_HEADER_LEN 5 /* magic + schema id */

/* W3C trace context (producer -> broker; the broker keeps the trace id and adds its span). */
#define PB_HDR_TRACEPARENT "traceparent"
#define PB_HDR_TRACESTATE "tracestate"
/* CloudEvents Kafka binding, binary mode. */
#define PB_HDR_CE_SPECVERSION "ce_specversion" /* "1.0" */
#define PB_HDR_CE_ID "ce_id"                   /* producer's id, else a broker UUID */
#define PB_HDR_CE_SOURCE "ce_source"           /* output-port URN */
#define PB_HDR_CE_TYPE "ce_type"               /* Avro record full name */
#define PB_HDR_CE_TIME "ce_time"               /* event time, RFC 3339 */
#define PB_HDR_CE_RECORDEDTIME "ce_recordedtime"
#define PB_HDR_CE_DATASCHEMA "ce_dataschema" /* {registry-url}/schemas/ids/{id} */
#define PB_HDR_CE_CORRELATIONID "ce_correlationid"
#define PB_HDR_CE_CAUSATIONID "ce_causationid"
#define PB_HDR_CONTENT_TYPE "content-type" /* "application/avro" */
/* The data contract and lineage. */
#define PB_HDR_CONTRACT "mesh.contract" /* {port-urn}@{port version} */
#define PB_HDR_LINEAGE_TOPIC "mesh.lineage.topic"
#define PB_HDR_LINEAGE_PARTITION "mesh.lineage.partition"
#define PB_HDR_LINEAGE_OFFSET "mesh.lineage.offset"
#define PB_HDR_LINEAGE_HOPS "mesh.lineage.hops"
/* Dead letters carry Kafka Connect's error headers. */
#define PB_HDR_DLQ_PREFIX "__connect.errors."

#endif
