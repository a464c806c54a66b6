// Records framed with an id the target registry imported (the source registry's id) route through
// the target: kafkajs + @kafkajs/confluent-schema-registry (which fetches the schema by that id
// from the target) encode orders, produce them to the shop's port topic; they are read back from
// the ledger's input port topic, decoded with the reader id the frames carry. Prints one JSON line
// {"sent": n, "routed": [...values], "readerIds": [...]}. Usage: node sr_import_route.js URL BROKERS ID N
'use strict';
const { Kafka, logLevel } = require('kafkajs');
const { SchemaRegistry } = require('@kafkajs/confluent-schema-registry');

const [url, brokers, idArg, nArg] = process.argv.slice(2);
const id = Number(idArg), N = Number(nArg || 3);
const OUT = 'com.acme.shop.v1.orders', IN = 'com.acme.ledger.v1.in.orders';
(async () => {
  const registry = new SchemaRegistry({ host: url });
  const kafka = new Kafka({ clientId: 'pb-import-test', brokers: brokers.split(','), logLevel: logLevel.ERROR });
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < N; i++)
    messages.push({ key: `m-${i}`, value: await registry.encode(id, { orderId: `m-${i}`, total: { cents: 500 + i, currency: 'EUR' }, note: null }) });
  await producer.send({ topic: OUT, acks: -1, messages });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `pb-import-read-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: IN, fromBeginning: true });
  const routed = [], readerIds = [];
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 60000);
    consumer.run({ eachMessage: async ({ message }) => {
      readerIds.push(message.value.readInt32BE(1));
      routed.push(await registry.decode(message.value));
      if (routed.length >= N) { clearTimeout(timer); resolve(); }
    } });
  });
  await consumer.disconnect();
  console.log(JSON.stringify({ sent: N, frame: messages.map(m => m.value.readInt32BE(1)), routed, readerIds }));
  process.exit(0);
})().catch(e => { console.error(e && e.stack); process.exit(1); });
