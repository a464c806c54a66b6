// Routed records read back with kafkajs from input-port topics: every one must parse as a valid
// CloudEvent with the npm `cloudevents` package (Kafka binding, binary mode: ce_* headers), carry a
// Confluent frame with the reader schema id, keep the origin's ce_source and ce_id, and carry the
// lineage headers of one broker hop. Prints TAP.
// Usage: node routed_check.js BROKERS EXPECTED.json
//   EXPECTED: [{"topic", "count", "source", "originTopic", "readerId", "dataschemaPrefix",
//               "contract", "ids": [ce_id...]}...]
'use strict';
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');
const { Kafka: KafkaBinding } = require('cloudevents');

const [brokers, expectedFile] = process.argv.slice(2);
const expected = JSON.parse(fs.readFileSync(expectedFile, 'utf8'));
const tap = require('./tap');
const { ok } = tap;

async function readTopic(kafka, topic, count) {
  const consumer = kafka.consumer({ groupId: `routed-check-${process.pid}-${topic}`, sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const msgs = [];
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 30000);
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        msgs.push({ partition, message });
        if (msgs.length >= count) { clearTimeout(timer); resolve(); }
      },
    });
  });
  await consumer.disconnect();
  return msgs;
}

(async () => {
  console.log(`1..${expected.length * 4}`);
  const kafka = new Kafka({ clientId: 'routed-check', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  for (const exp of expected) {
    const msgs = await readTopic(kafka, exp.topic, exp.count);
    const ids = msgs.map(({ message }) => String(message.headers.ce_id || ''));
    const want = new Set(exp.ids);
    const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
    ok(msgs.length === exp.count && ids.every((id) => want.has(id)) && dup.length === 0,
      `${exp.topic}: ${exp.count} routed records, each published id exactly once`,
      `got ${msgs.length}; duplicates ${dup.slice(0, 3)}; unknown ${ids.filter((id) => !want.has(id)).slice(0, 3)}`);
    const bad = [], badFrame = [], badLineage = [];
    for (const { partition, message: m } of msgs) {
      const headers = {};
      for (const [k, v] of Object.entries(m.headers || {})) headers[k] = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
      try {
        const ev = KafkaBinding.toEvent({ key: m.key ? m.key.toString() : undefined, value: m.value, headers, timestamp: m.timestamp });
        ev.validate();
        if (ev.source !== exp.source || ev.specversion !== '1.0' || ev.datacontenttype !== 'application/avro' ||
            ev.dataschema !== `${exp.dataschemaPrefix}/schemas/ids/${exp.readerId}`)
          bad.push(`${partition}/${m.offset}: ${JSON.stringify({ s: ev.source, ct: ev.datacontenttype, ds: ev.dataschema })}`);
      } catch (e) {
        bad.push(`${partition}/${m.offset}: ${e.message} ${JSON.stringify(e.errors || '')}`);
      }
      const v = m.value;
      if (!(v.length > 5 && v[0] === 0 && v.readUInt32BE(1) === exp.readerId)) badFrame.push(`${partition}/${m.offset}: ${v.slice(0, 8).toString('hex')}`);
      if (headers['mesh.lineage.topic'] !== exp.originTopic || headers['mesh.lineage.partition'] !== String(partition) ||
          !/^[0-9]+$/.test(headers['mesh.lineage.offset'] || '') || headers['mesh.lineage.hops'] !== '1' ||
          headers['mesh.contract'] !== exp.contract)
        badLineage.push(`${partition}/${m.offset}: ${JSON.stringify(headers)}`);
    }
    ok(bad.length === 0, `${exp.topic}: every routed record is a valid CloudEvent from ${exp.source}`, bad.slice(0, 3).join('\n'));
    ok(badFrame.length === 0, `${exp.topic}: every value is framed with the reader schema id ${exp.readerId}`, badFrame.slice(0, 3).join('\n'));
    ok(badLineage.length === 0, `${exp.topic}: lineage headers name the origin topic, same partition, one hop, the input port's contract`, badLineage.slice(0, 3).join('\n'));
  }
  process.exit(tap.failed() ? 1 : 0);
})().catch(tap.unexpected);
