// Schema references end to end with @kafkajs/confluent-schema-registry: the shared Money type is
// registered on its own subject, a new version of the shop's orders port references it, kafkajs
// encodes records with it (the library resolves the references it fetches) and produces them to
// the port topic; the broker routes them into the ledger's input port, whose reader has Money
// inline; they are read back with kafkajs and decoded with the reader id the frames carry.
// Prints TAP. Usage: node sr_references.js URL BROKERS
'use strict';
const { Kafka, logLevel } = require('kafkajs');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

const [url, brokers] = process.argv.slice(2);
// TAP_START=k: number the points from k+1 and print no plan (the calling .t prints it).
const start = Number(process.env.TAP_START || 0);
let n = start, failed = 0;
const ok = (cond, name, diag) => {
  n++;
  if (cond) console.log(`ok ${n} - ${name}`);
  else { failed++; console.log(`not ok ${n} - ${name}`); if (diag !== undefined) console.log(`#   ${String(diag).replace(/\n/g, '\n#   ')}`); }
};
const OUT = 'com.acme.shop.v1.orders', IN = 'com.acme.ledger.v1.in.orders', N = 4;
const money = { type: 'record', name: 'Money', namespace: 'com.acme.shared',
  fields: [{ name: 'cents', type: 'long' },
           { name: 'currency', type: { type: 'enum', name: 'Currency', symbols: ['EUR', 'USD'] } }] };
// The order as its own text: Money by name, defined by the reference.
const order = { type: 'record', name: 'Order', namespace: 'com.acme.shop',
  fields: [{ name: 'orderId', type: 'string' }, { name: 'total', type: 'com.acme.shared.Money' },
           { name: 'note', type: ['null', 'string'], default: null },
           { name: 'channel', type: 'string', default: 'web' }] };
const level = async (subject) =>
  (await (await fetch(`${url}/config/${subject}?defaultToGlobal=true`)).json()).compatibilityLevel;

(async () => {
  if (!start) console.log('1..9');
  const registry = new SchemaRegistry({ host: url });
  const shared = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(money) },
    { subject: 'com.acme.shared.Money', compatibility: await level('com.acme.shared.Money') });
  ok(shared.id > 0, 'kafkajs registers the shared Money type on its own subject', shared.id);
  const refs = [{ name: 'com.acme.shared.Money', subject: 'com.acme.shared.Money', version: 1 }];
  const reg = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(order), references: refs },
    { subject: `${OUT}-value`, compatibility: await level(`${OUT}-value`) });
  ok(reg.id > shared.id, 'kafkajs registers a new version of the port subject that references it', JSON.stringify(reg));
  const byId = await (await fetch(`${url}/schemas/ids/${reg.id}`)).json();
  ok(JSON.stringify(byId.references) === JSON.stringify(refs) && JSON.parse(byId.schema).fields[1].type === 'com.acme.shared.Money',
    'GET /schemas/ids/{id} gives the schema as registered and its references', JSON.stringify(byId));
  const type = await registry.getSchema(reg.id);
  ok(type && type.name === 'com.acme.shop.Order' && type.field('total').type.name === 'com.acme.shared.Money',
    'getSchema resolves the references it fetches (avsc type with Money)', type && type.name);
  const by = await (await fetch(`${url}/subjects/com.acme.shared.Money/versions/1/referencedby`)).json();
  ok(JSON.stringify(by) === JSON.stringify([reg.id]), 'referencedby names the order schema', JSON.stringify(by));

  const kafka = new Kafka({ clientId: 'pb-refs-test', brokers: brokers.split(','), logLevel: logLevel.ERROR });
  const producer = kafka.producer();
  await producer.connect();
  const values = [];
  for (let i = 0; i < N; i++)
    values.push(await registry.encode(reg.id, { orderId: `o-${i}`, total: { cents: 1000 + i, currency: i % 2 ? 'USD' : 'EUR' },
      note: i === 0 ? 'first' : null, channel: 'app' }));
  ok(values.every(v => v[0] === 0 && v.readInt32BE(1) === reg.id), 'records are framed with the referencing schema id');
  await producer.send({ topic: OUT, acks: -1, messages: values.map((value, i) => ({ key: `o-${i}`, value })) });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `pb-refs-read-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: IN, fromBeginning: true });
  const got = [];
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 60000);
    consumer.run({ eachMessage: async ({ message }) => {
      got.push({ id: message.value.readInt32BE(1), value: await registry.decode(message.value) });
      if (got.length >= N) { clearTimeout(timer); resolve(); }
    } });
  });
  await consumer.disconnect();
  ok(got.length === N, `${N} records routed into the input port topic`, got.length);
  const readerId = (await (await fetch(`${url}/subjects/${IN}-value/versions/latest`)).json()).id;
  ok(got.every(g => g.id === readerId), 'routed records carry the reader schema id', `${got.map(g => g.id)} vs ${readerId}`);
  const v = got.map(g => g.value).sort((a, b) => a.orderId.localeCompare(b.orderId));
  ok(v.length === N && v[1].total.cents === 1001 && v[1].total.currency === 'USD' && !('note' in v[0]) && !('channel' in v[0]),
    'projected into the reader: the shared Money kept, note and channel dropped', JSON.stringify(v));
  process.exit(failed ? 1 : 0);
})().catch(e => { console.log(`not ok ${n + 1} - unexpected error`); console.log(`#   ${e && e.stack}`); process.exit(1); });
