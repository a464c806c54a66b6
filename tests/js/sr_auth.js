// @kafkajs/confluent-schema-registry with auth: {username, password} against portbroker with
// tokens: the token is the password, client code unchanged. Prints TAP.
// Usage: node sr_auth.js URL SUBJECT OWNER_TOKEN
'use strict';
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

const [url, subject, token] = process.argv.slice(2);
const tap = require('./tap');
const { ok } = tap;

(async () => {
  console.log('1..4');
  const registry = new SchemaRegistry({ host: url, auth: { username: 'svc', password: token } });
  const id = await registry.getLatestSchemaId(subject);
  ok(Number.isInteger(id) && id > 0, 'getLatestSchemaId with auth', id);
  const schema = await registry.getSchema(id);
  ok(schema && typeof schema.name === 'string', 'getSchema with auth', schema && schema.name);
  const cfg = await (await fetch(`${url}/config/${subject}?defaultToGlobal=true`, {
    headers: { Authorization: 'Basic ' + Buffer.from(`svc:${token}`).toString('base64') } })).json();
  const body = await (await fetch(`${url}/schemas/ids/${id}`, {
    headers: { Authorization: 'Basic ' + Buffer.from(`svc:${token}`).toString('base64') } })).json();
  const again = await registry.register({ type: SchemaType.AVRO, schema: body.schema },
    { subject, compatibility: cfg.compatibilityLevel });
  ok(again.id === id, 'register of the live schema returns its id', `${again.id} vs ${id}`);
  const wrong = new SchemaRegistry({ host: url, auth: { username: 'svc', password: 'nope' } });
  let status = 0;
  try { await wrong.getLatestSchemaId(subject); } catch (e) { status = e.status || (e.originalError && e.originalError.status) || String(e); }
  ok(status === 401 || /401/.test(String(status)), 'a wrong password: 401', status);
  process.exit(tap.failed() ? 1 : 0);
})().catch(tap.unexpected);
