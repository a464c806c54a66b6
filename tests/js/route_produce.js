// Produce records straight to an output-port topic the way a Kafka-native producer would: kafkajs
// with @kafkajs/confluent-schema-registry against portbroker's Schema Registry API.
// Usage: node route_produce.js URL BROKERS MODE [N]
//   good N    N valid observations with the port's latest schema id, producer headers included
//   bad       garbage bytes, an unknown schema id, and a writer the reader cannot read
//   evolve N  register a compatible new writer version, then N records with it
// Prints one JSON line: {"ids": [...], "schemaId": n} describing what was sent.
'use strict';
const { Kafka, logLevel } = require('kafkajs');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

const [url, brokers, mode, nArg] = process.argv.slice(2);
const n = Number(nArg || 1);
const topic = 'com.acme.weather.v2.observations';
const subject = `${topic}-value`;
const sample = (i, extra) => ({
  observationId: `0b0e7f06-9c3e-4c07-8d8e-${String(i).padStart(12, '0')}`,
  stationId: `st-${i}`, observedAt: 1700000000000 + i,
  location: { lat: 52.5, lon: 13.4, elevationM: null },
  temperatureC: 21.5, humidityPct: null, windSpeedKmh: 12.5, condition: 'RAIN',
  precipitationMm: null, quality: { qc: 'ok' }, ...extra,
});

(async () => {
  const registry = new SchemaRegistry({ host: url });
  const kafka = new Kafka({ clientId: 'pb-route-test', brokers: brokers.split(','), logLevel: logLevel.ERROR });
  const producer = kafka.producer();
  await producer.connect();
  const headers = (i) => ({
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    ce_id: `id-${mode}-${i}`, ce_time: '2026-11-21T10:00:00.000Z', 'x-team': 'weather',
    // Broker-owned: must be replaced, never trusted.
    'mesh.contract': 'forged', 'mesh.lineage.hops': '1',
  });
  const out = { ids: [] };
  let messages = [];
  if (mode === 'good' || mode === 'evolve') {
    let id = await registry.getLatestSchemaId(subject);
    let extra = {};
    if (mode === 'evolve') {
      const current = JSON.parse((await (await fetch(`${url}/schemas/ids/${id}`)).json()).schema);
      current.fields.push({ name: 'source', type: ['null', 'string'], default: null });
      const level = (await (await fetch(`${url}/config/${subject}?defaultToGlobal=true`)).json()).compatibilityLevel;
      id = (await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(current) }, { subject, compatibility: level })).id;
      extra = { source: 'evolved' };
    }
    out.schemaId = id;
    for (let i = 0; i < n; i++) {
      messages.push({ key: `st-${i}`, value: await registry.encode(id, sample(i, extra)), headers: headers(i) });
      out.ids.push(`id-${mode}-${i}`);
    }
  } else if (mode === 'bad') {
    // A writer schema the reader cannot read, registered under a subject of its own (the port's
    // subject refuses it: the subscriber's reader is checked there).
    const unreadable = { type: 'record', name: 'Observation', namespace: 'com.acme.weather',
      fields: [{ name: 'observationId', type: 'int' }] };
    const uid = (await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(unreadable) },
      { subject: 'scratch-unreadable-value' })).id;
    const unknown = Buffer.from([0, 0, 0x0f, 0x42, 0x3f, 2, 4]); // id 999999
    messages = [
      { key: 'garbage', value: Buffer.from('not avro at all'), headers: headers(0) },
      { key: 'unknown', value: unknown, headers: headers(1) },
      { key: 'unreadable', value: await registry.encode(uid, { observationId: 7 }), headers: headers(2) },
    ];
    out.unreadableId = uid;
  }
  await producer.send({ topic, acks: -1, messages: messages.map((m) => ({ ...m, partition: 0 })) });
  await producer.disconnect();
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
