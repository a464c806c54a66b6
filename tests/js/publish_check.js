// Records published through portbroker's HTTP API, read back with kafkajs: every one must parse as a
// valid CloudEvent with the npm `cloudevents` package (Kafka binding, binary mode: ce_* headers),
// carry the Confluent wire-format value, and sit at the partition/offset the broker acknowledged;
// and the partition the broker chose for each key must be the one kafkajs' DefaultPartitioner
// (Java-compatible murmur2) chooses. Prints TAP.
// Usage: node publish_check.js BROKERS EXPECTED.json
//   EXPECTED: {"topic", "source", "type", "schemaId", "dataschemaPrefix", "partitions",
//              "records": [{"partition","offset","id","key"?}...], "keys": [{"key","partition"}...]}
'use strict';
const fs = require('fs');
const { Kafka, logLevel, Partitioners } = require('kafkajs');
const { Kafka: KafkaBinding } = require('cloudevents');

const [brokers, expectedFile] = process.argv.slice(2);
const exp = JSON.parse(fs.readFileSync(expectedFile, 'utf8'));
const tap = require('./tap');
const { ok } = tap;

(async () => {
  console.log('1..8');
  // murmur2: the partition kafkajs (Java-compatible) would choose for each key.
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = [...Array(exp.partitions).keys()].map((i) => ({ partitionId: i, leader: 1 }));
  const mismatches = exp.keys.filter(({ key, partition }) =>
    partitioner({ topic: exp.topic, partitionMetadata, message: { key } }) !== partition);
  ok(exp.keys.length >= 50 && mismatches.length === 0,
    `the broker's partition for ${exp.keys.length} keys is kafkajs' DefaultPartitioner's (murmur2)`,
    JSON.stringify(mismatches.slice(0, 5)));

  const kafka = new Kafka({ clientId: 'publish-check', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `publish-check-${process.pid}`, sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic: exp.topic, fromBeginning: true });
  const seen = new Map();
  const want = exp.records.length;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 30000);
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.set(`${partition}/${message.offset}`, message);
        if (exp.records.every((r) => seen.has(`${r.partition}/${r.offset}`))) { clearTimeout(timer); resolve(); }
      },
    });
  });
  await consumer.disconnect();
  const missing = exp.records.filter((r) => !seen.has(`${r.partition}/${r.offset}`));
  ok(missing.length === 0, `all ${want} acknowledged records are in ${exp.topic} where the broker said`, JSON.stringify(missing.slice(0, 5)));

  const bad = [], badFrame = [], badId = [], badSrc = [], badTime = [];
  for (const r of exp.records) {
    const m = seen.get(`${r.partition}/${r.offset}`);
    if (!m) continue;
    const headers = {};
    for (const [k, v] of Object.entries(m.headers || {})) headers[k] = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
    let ev;
    try {
      ev = KafkaBinding.toEvent({ key: m.key ? m.key.toString() : undefined, value: m.value, headers, timestamp: m.timestamp });
      ev.validate();
    } catch (e) {
      bad.push(`${r.partition}/${r.offset}: ${e.message} ${JSON.stringify(e.errors || '')} headers=${JSON.stringify(headers)}`);
      continue;
    }
    const v = m.value;
    if (!(v.length > 5 && v[0] === 0 && v.readUInt32BE(1) === exp.schemaId)) badFrame.push(`${r.partition}/${r.offset}: ${v.slice(0, 8).toString('hex')}`);
    if (ev.id !== r.id) badId.push(`${r.partition}/${r.offset}: ${ev.id} != ${r.id}`);
    if (ev.source !== exp.source || ev.type !== exp.type || ev.specversion !== '1.0' ||
        ev.datacontenttype !== 'application/avro' || ev.dataschema !== `${exp.dataschemaPrefix}/schemas/ids/${exp.schemaId}`)
      badSrc.push(`${r.partition}/${r.offset}: ${JSON.stringify({ s: ev.source, t: ev.type, ct: ev.datacontenttype, ds: ev.dataschema })}`);
    if (!ev.time || isNaN(Date.parse(ev.time)) || !headers.ce_recordedtime || isNaN(Date.parse(headers.ce_recordedtime))) badTime.push(`${r.partition}/${r.offset}: ${ev.time}`);
  }
  ok(bad.length === 0, 'every record is a valid CloudEvent (cloudevents Kafka binding)', bad.slice(0, 3).join('\n'));
  ok(badFrame.length === 0, 'every value is a Confluent frame: magic 0 + the schema id', badFrame.slice(0, 3).join('\n'));
  ok(badId.length === 0, 'ce_id is the id the broker acknowledged', badId.slice(0, 3).join('\n'));
  ok(badSrc.length === 0, 'source = port URN, type = record name, datacontenttype, dataschema', badSrc.slice(0, 3).join('\n'));
  ok(badTime.length === 0, 'time and ce_recordedtime are RFC 3339', badTime.slice(0, 3).join('\n'));
  const badKey = exp.records.filter((r) => r.key !== undefined && seen.has(`${r.partition}/${r.offset}`) &&
    String(seen.get(`${r.partition}/${r.offset}`).key) !== r.key);
  ok(badKey.length === 0, 'the Kafka key is the UTF-8 of the record\'s "key"', JSON.stringify(badKey.slice(0, 3)));
  process.exit(tap.failed() ? 1 : 0);
})().catch(tap.unexpected);
