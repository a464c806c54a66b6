// kafkajs + @kafkajs/confluent-schema-registry against portbroker: register a new version of a port's
// schema through the Schema Registry API, encode records in the Confluent wire format, produce them
// to the port topic, read them back and decode. Prints TAP. Usage: node sr_roundtrip.js URL BROKERS
'use strict';
const { Kafka, logLevel } = require('kafkajs');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

const [url, brokers] = process.argv.slice(2);
const tap = require('./tap');
const { ok } = tap;

const topic = 'com.acme.weather.v2.observations';
const subject = `${topic}-value`;

(async () => {
  console.log('1..10');
  const registry = new SchemaRegistry({ host: url });
  // The port's current schema, as the descriptor declared it, fetched like any client would.
  const latestId = await registry.getLatestSchemaId(subject);
  ok(Number.isInteger(latestId) && latestId > 0, `the port subject ${subject} has a latest id`, latestId);
  const writer = await registry.getSchema(latestId);
  ok(writer && writer.name === 'com.acme.weather.Observation', 'getSchema returns the port schema', JSON.stringify(writer && writer.name));
  // kafkajs' register() refuses to run unless told the subject's level (it reads GET /config/{subject}).
  const compatibility = (await (await fetch(`${url}/config/${subject}?defaultToGlobal=true`)).json()).compatibilityLevel;

  // Registering the same schema again returns the same id with no check.
  const current = JSON.parse(JSON.stringify(await (await fetch(`${url}/schemas/ids/${latestId}`)).json()));
  const again = await registry.register({ type: SchemaType.AVRO, schema: current.schema }, { subject, compatibility });
  ok(again.id === latestId, 'registering the same schema returns its id', `${again.id} vs ${latestId}`);

  // A compatible evolution: a new optional field with a default.
  const evolved = JSON.parse(current.schema);
  evolved.fields.push({ name: 'source', type: ['null', 'string'], default: null });
  const reg = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(evolved) }, { subject, compatibility });
  ok(reg.id > latestId, 'a compatible new version gets a new id', reg.id);

  // An incompatible one is refused with 409, and the client surfaces it.
  const broken = JSON.parse(current.schema);
  broken.fields.push({ name: 'mandatory', type: 'string' });
  let refused = null;
  try { await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(broken) }, { subject, compatibility }); }
  catch (e) { refused = e; }
  ok(refused && /incompatible/i.test(String(refused.message)), 'an incompatible version is refused', refused && refused.message);

  // Encode with the new id, produce to the port topic, read back and decode.
  const sample = JSON.parse(process.env.PB_SAMPLE);
  sample.source = 'kafkajs'; // avsc unwraps [null, T] unions
  const kafka = new Kafka({ clientId: 'pb-test', brokers: brokers.split(','), logLevel: logLevel.ERROR });
  const producer = kafka.producer();
  await producer.connect();
  const values = [];
  for (let i = 0; i < 5; i++) values.push(await registry.encode(reg.id, { ...sample, stationId: `st-${i}` }));
  ok(values.every(v => v[0] === 0 && v.readInt32BE(1) === reg.id), 'encoded values are in the Confluent wire format with the new id');
  await producer.send({ topic, acks: -1, messages: values.map((value, i) => ({ key: `st-${i}`, value })) });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `pb-test-${process.pid}`, sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 10 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} records in 30 s`)), 30000);
    consumer.run({ eachMessage: async ({ message }) => {
      got.push(await registry.decode(message.value));
      if (got.length >= 5) { clearTimeout(timer); resolve(); }
    } }).catch(reject);
  });
  await consumer.disconnect();
  ok(got.length === 5, 'all five records read back', got.length);
  ok(got.map(g => g.stationId).sort().join(',') === 'st-0,st-1,st-2,st-3,st-4', 'decoded values match what was encoded', JSON.stringify(got.map(g => g.stationId)));
  ok(got.every(g => g.source === 'kafkajs'), 'the new field decodes', JSON.stringify(got[0]));
  const ver = await registry.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: JSON.stringify(evolved) });
  ok(ver === reg.id, 'lookup of a schema under the subject finds its id', ver);
  process.exit(tap.failed() ? 1 : 0);
})().catch(tap.unexpected);
