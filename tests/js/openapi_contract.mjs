// OpenAPI contract (tests/integration/0091-openapi.t): docs/openapi.json validates as OpenAPI 3.1
// (@seriousme/openapi-schema-validator) and lists exactly the paths and methods `portbroker routes`
// prints (read at test time, so routes added elsewhere fail this until documented). With a base URL,
// it calls every GET route and the main write routes of the example mesh (publish JSON and NDJSON,
// a product, a port schema, a binding made and removed, the stream and its cursors, Schema Registry
// register/lookup/compatibility/config/mode/delete, 400/404/409/415/422 errors): each status must be
// documented on its operation and each JSON answer (and request) must match the documented schema
// (ajv, JSON Schema 2020-12). Invalid requests must also be rejected by the documented request
// schema. TAP on stdout.
// usage: node openapi_contract.mjs docs/openapi.json routes.jsonl [BASE_URL]
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
const [docPath, routesPath, base] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(docPath, 'utf8'));
let n = 0, failed = 0;
const ok = (c, d, extra) => { n++; if (c) console.log(`ok ${n} - ${d}`); else { failed++; console.log(`not ok ${n} - ${d}`); if (extra) console.log('#   ' + String(extra).split('\n').join('\n#   ')); } };
const v = new Validator();
const res = await v.validate(doc);
ok(res.valid && v.version === '3.1', 'docs/openapi.json is a valid OpenAPI 3.1 document', JSON.stringify(res.errors, null, 1)?.slice(0, 2000));
const want = new Set(readFileSync(routesPath, 'utf8').trim().split('\n').map(l => { const r = JSON.parse(l); return `${r.method} ${r.path}`; }));
const have = new Set();
for (const [p, item] of Object.entries(doc.paths || {}))
  for (const m of ['get', 'put', 'post', 'delete', 'head', 'options', 'patch']) if (item[m]) have.add(`${m.toUpperCase()} ${p}`);
const missing = [...want].filter(x => !have.has(x)), extra = [...have].filter(x => !want.has(x));
ok(missing.length === 0, `every route of 'portbroker routes' is documented (${want.size})`, missing.join('\n') + (missing.length ? '\nadd them with: docs/openapi_sync.py build/release/portbroker' : ''));
ok(extra.length === 0, 'the document lists no route the server lacks', extra.join('\n'));
let badErr = [];
for (const [p, item] of Object.entries(doc.paths || {}))
  for (const [m, op] of Object.entries(item)) if (op.responses && !op.responses.default) badErr.push(`${m} ${p}`);
ok(badErr.length === 0, 'every operation documents the error shape as its default response', badErr.join('\n'));
// Operations docs/openapi_sync.py added with the Any placeholder: listed, to be described by hand.
{
  const vague = [];
  for (const [p, item] of Object.entries(doc.paths || {}))
    for (const [m, op] of Object.entries(item)) if (JSON.stringify(op).includes('#/components/schemas/Any')) vague.push(`${m.toUpperCase()} ${p}`);
  if (vague.length) console.log('# operations with the Any placeholder (write their schemas):\n#   ' + vague.join('\n#   '));
}
// Every example of the document (taken from real answers) matches the schema it illustrates.
{
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi');
  const bad = [];
  for (const [name, s] of Object.entries(doc.components?.schemas || {}))
    (s.examples || []).forEach((e, i) => { const v = ajv.getSchema(`openapi#/components/schemas/${name}`); if (!v(e)) bad.push(`${name} example ${i}: ${JSON.stringify(v.errors).slice(0, 400)}`); });
  const counted = Object.values(doc.components?.schemas || {}).filter(s => s.examples).length;
  ok(bad.length === 0 && counted >= 20, `every schema example matches its schema (${counted} schemas with examples)`, bad.join('\n'));
}
// Live responses of the example mesh against the documented schemas (ajv, JSON Schema 2020-12):
// every GET route and the main write routes, in an order that leaves the mesh as it found it.
if (base) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi');
  const esc = s => s.replace(/~/g, '~0').replace(/\//g, '~1');
  const deref = r => (r && r.$ref ? deref(r.$ref.slice(2).split('/').reduce((o, k) => o[k], doc)) : r);
  const SR = 'application/vnd.schemaregistry.v1+json';
  const exercised = new Set();
  const ctx = {};
  // call(method, template, concrete path, body, expected status, options): the status must be the
  // expected one and documented on the operation; a JSON answer must match the schema documented
  // for that status and media type; a JSON request body must match the documented request schema.
  const call = async (m, tpl, path, body, status, o = {}) => {
    const media = o.type || 'application/json';
    const init = { method: m, signal: AbortSignal.timeout(15000), headers: { ...(o.headers || {}) }, redirect: 'manual' };
    if (body !== undefined) { init.body = typeof body === 'string' ? body : JSON.stringify(body); init.headers['Content-Type'] = media; }
    const what = `${m} ${path.length > 90 ? path.slice(0, 90) + '…' : path}`;
    const op = doc.paths[tpl]?.[m.toLowerCase()];
    if (!op) return ok(false, `${what}: ${m} ${tpl} is documented`);
    exercised.add(`${m} ${tpl}`);
    const problems = [];
    if (body !== undefined && typeof body !== 'string') {
      const rptr = `openapi#/paths/${esc(tpl)}/${m.toLowerCase()}/requestBody/content/${esc(media)}/schema`;
      const rv = ajv.getSchema(rptr);
      if (!rv) problems.push(`no request schema documented for ${media}`);
      else if (!o.invalid && !rv(body)) problems.push('request body does not match the documented schema: ' + JSON.stringify(rv.errors).slice(0, 600));
      else if (o.invalid && rv(body)) problems.push('the documented request schema accepts this invalid body');
    }
    const r = await fetch((o.base || base) + path, init);
    const text = await r.text();
    if (r.status !== status) problems.push(`status ${r.status}, expected ${status}`);
    const resp = deref(op.responses[String(r.status)]);
    if (!resp) problems.push(`status ${r.status} is not documented for ${m} ${tpl}`);
    const ct = (r.headers.get('content-type') || '').split(';')[0].trim();
    let json;
    if (/json/.test(ct) && ct !== 'application/x-ndjson') { // NDJSON is lines of JSON, not JSON
      try { json = JSON.parse(text); } catch (e) { problems.push('answer is not JSON: ' + e.message); }
      const docMedia = resp?.content && Object.keys(resp.content).find(k => k === ct);
      if (resp && !docMedia) problems.push(`answer media ${ct} is not documented for ${r.status} (${Object.keys(resp.content || {}).join(', ')})`);
      if (json !== undefined && docMedia) {
        const code = op.responses[String(r.status)].$ref ? op.responses[String(r.status)].$ref.slice(2).split('/').map(esc).join('/') : `paths/${esc(tpl)}/${m.toLowerCase()}/responses/${r.status}`;
        const v = ajv.getSchema(`openapi#/${code}/content/${esc(docMedia)}/schema`);
        if (!v) problems.push('no schema for the answer');
        else if (!v(json)) problems.push('answer does not match the documented schema: ' + JSON.stringify(v.errors).slice(0, 800));
      }
    } else {
      if (o.media && ct !== o.media) problems.push(`content type ${ct}, expected ${o.media}`);
      if (resp?.content && ct && !Object.keys(resp.content).some(k => k === ct)) problems.push(`answer media ${ct} is not documented for ${r.status} (${Object.keys(resp.content).join(', ')})`);
    }
    ok(problems.length === 0, `${what}: ${status} as documented`, problems.join('\n') + '\nbody: ' + text.slice(0, 300));
    return json;
  };
  const U = encodeURIComponent;
  const W = 'urn:dpds:com.acme:dataproducts:weather:2', WO = `${W}:outputports:observations`;
  const SH = 'urn:dpds:com.acme:dataproducts:stationHealth:1', SHI = `${SH}:inputports:observations`;
  const TI = 'urn:dpds:com.acme:dataproducts:billing:1:inputports:trips';
  const readJson = f => JSON.parse(readFileSync(f, 'utf8'));
  const obs = i => ({ key: `st-${i}`, id: `oa-obs-${i}`, value: { observationId: `00000000-0000-4000-8000-00000000000${i}`, stationId: `st-${i}`, observedAt: 1795256130000, location: { lat: 48.1, lon: 11.6 }, temperatureC: -2.5, condition: 'SNOW' } });
  // ops and catalog
  await call('GET', '/healthz', '/healthz', undefined, 200);
  await call('GET', '/readyz', '/readyz', undefined, 200);
  await call('GET', '/metrics', '/metrics', undefined, 200, { media: 'text/plain' });
  await call('GET', '/', '/', undefined, 302);
  await call('GET', '/dashboard', '/dashboard', undefined, 200, { media: 'text/html' });
  for (const [a, media] of [['js', 'text/javascript'], ['css', 'text/css'], ['svg', 'image/svg+xml']])
    await call('GET', `/dashboard.${a}`, `/dashboard.${a}`, undefined, 200, { media });
  await call('GET', '/v1/openapi.json', '/v1/openapi.json', undefined, 200);
  await call('GET', '/v1/products', '/v1/products', undefined, 200);
  await call('GET', '/v1/products/{product}', '/v1/products/weather/2', undefined, 200);
  await call('GET', '/v1/products/{product}', '/v1/products/nobody/1', undefined, 404);
  await call('GET', '/v1/ports', '/v1/ports', undefined, 200);
  await call('GET', '/v1/ports/{port}', `/v1/ports/${WO}`, undefined, 200);
  await call('GET', '/v1/ports/{port}', `/v1/ports/${TI}`, undefined, 200);
  await call('GET', '/v1/ports/{port}', '/v1/ports/weather/2/outputports/nope', undefined, 404);
  // a product with an unbound input port: created, then unchanged
  const shDesc = readJson('docs/examples/stationHealth.json');
  await call('PUT', '/v1/products/{product}', `/v1/products/${SH}`, shDesc, 201);
  await call('PUT', '/v1/products/{product}', `/v1/products/${SH}`, shDesc, 200);
  await call('PUT', '/v1/products/{product}', `/v1/products/${SH}`, { info: {} }, 422, { invalid: true });
  // schemas on an output port: impact, a compatible registration, an incompatible one (409)
  const addUv = readJson('schemas/examples/evolution/observation_add_uv.avsc');
  await call('POST', '/v1/ports/{port}/impact', `/v1/ports/${WO}/impact`, readJson('schemas/examples/evolution/observation_drop_station.avsc'), 200);
  await call('POST', '/v1/ports/{port}/schemas', `/v1/ports/${WO}/schemas`, addUv, 201);
  await call('POST', '/v1/ports/{port}/schemas', `/v1/ports/${WO}/schemas`, addUv, 200);
  await call('POST', '/v1/ports/{port}/schemas', `/v1/ports/${WO}/schemas`, readJson('schemas/examples/evolution/observation_drop_station.avsc'), 409);
  // a binding made through the API, publishing, the stream and its cursors
  const sub = await call('PUT', '/v1/subscriptions', '/v1/subscriptions', { from: 'weather/2/outputports/observations', to: 'stationHealth/1/inputports/observations', start: 'earliest' }, 201);
  await call('PUT', '/v1/subscriptions', '/v1/subscriptions', { from: 'weather/2/outputports/observations', to: 'stationHealth/1/inputports/observations', start: 'earliest' }, 200);
  await call('PUT', '/v1/subscriptions', '/v1/subscriptions', { from: 'weather/2/outputports/observations', to: 'billing/1/inputports/trips' }, 409);
  await call('POST', '/v1/ports/{port}/records', `/v1/ports/${WO}/records`, { records: [obs(1)] }, 200);
  await call('POST', '/v1/ports/{port}/records', `/v1/ports/${WO}/records`, JSON.stringify(obs(2)) + '\n' + JSON.stringify(obs(3)) + '\n', 200, { type: 'application/x-ndjson' });
  await call('POST', '/v1/ports/{port}/records', `/v1/ports/${WO}/records`, { records: [{ key: 'st-8', value: { stationId: 'st-8' } }] }, 422);
  await call('POST', '/v1/ports/{port}/records', `/v1/ports/${WO}/records`, { records: [] }, 400, { invalid: true });
  await call('POST', '/v1/ports/{port}/records', `/v1/ports/${WO}/records`, 'key=x', 415, { type: 'text/plain' });
  await call('GET', '/v1/subscriptions', '/v1/subscriptions', undefined, 200);
  await call('GET', '/v1/subscriptions/{id}', `/v1/subscriptions/${sub?.id}`, undefined, 200);
  await call('GET', '/v1/subscriptions/{id}/stats', `/v1/subscriptions/${sub?.id}/stats`, undefined, 200);
  await call('GET', '/v1/subscriptions/{id}', '/v1/subscriptions/9999', undefined, 404);
  {
    // the stream: its first record matches StreamRecord; cursors commit while it is open
    exercised.add('GET /v1/ports/{port}/records');
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), 20000);
    let first, problems = [];
    try {
      const r = await fetch(`${base}/v1/ports/${SHI}/records?format=ndjson&commit=manual&timeout_ms=8000`, { signal: ctl.signal });
      if (r.status !== 200) problems.push(`status ${r.status}`);
      const reader = r.body.getReader(); let buf = '';
      while (!buf.includes('\n')) { const { value, done } = await reader.read(); if (done) break; buf += new TextDecoder().decode(value); }
      first = JSON.parse(buf.split('\n')[0]);
      const v = ajv.getSchema('openapi#/components/schemas/StreamRecord');
      if (!v(first)) problems.push(JSON.stringify(v.errors));
      ok(problems.length === 0, `GET /v1/ports/${SHI}/records: a streamed record matches StreamRecord`, problems.join('\n') + ' ' + JSON.stringify(first));
      await call('POST', '/v1/ports/{port}/cursors', `/v1/ports/${SHI}/cursors`, { cursors: [{ partition: first.partition, offset: first.offset + 1 }] }, 200);
      ctl.abort();
    } catch (e) { ok(false, 'the input port stream answered a record', String(e)); }
    clearTimeout(t);
  }
  // a bounded poll and seeks (DESIGN §5): at most N records, then the reply ends
  await call('GET', '/v1/ports/{port}/records', `/v1/ports/${SHI}/records?max_records=1&from=earliest&commit=manual&timeout_ms=8000`, undefined, 200, { media: 'application/x-ndjson' });
  await call('GET', '/v1/ports/{port}/records', `/v1/ports/${SHI}/records?from=yesterday`, undefined, 400);
  await call('GET', '/v1/ports/{port}/records', `/v1/ports/${SHI}/records?from=offsets:999:0`, undefined, 422);
  await call('GET', '/v1/ports/{port}/records', `/v1/ports/${SHI}/records?format=sse&max_records=1&from=earliest&commit=manual&timeout_ms=8000`, undefined, 200, { media: 'text/event-stream', headers: { 'Last-Event-ID': '0:0' } });
  // cursors with no stream open on this instance go through the group
  await call('POST', '/v1/ports/{port}/cursors', `/v1/ports/${SHI}/cursors`, { cursors: [{ partition: 0, offset: 0 }] }, 200, { headers: { 'X-Stream-Id': 's-elsewhere' } });
  await call('POST', '/v1/ports/{port}/cursors', `/v1/ports/${TI}/cursors`, { cursors: [{ partition: 0, offset: 999999 }] }, 422);
  await call('GET', '/v1/status', '/v1/status', undefined, 200);
  await call('GET', '/v1/ports/{port}/sample', `/v1/ports/${WO}/sample?limit=2`, undefined, 200);
  await call('GET', '/v1/ports/{port}/sample', `/v1/ports/${WO}/sample?limit=0`, undefined, 400);
  await call('GET', '/v1/lineage', '/v1/lineage', undefined, 200);
  await call('GET', '/v1/lineage', '/v1/lineage?format=dot', undefined, 200, { media: 'text/vnd.graphviz' });
  await call('GET', '/v1/lineage', '/v1/lineage?format=yaml', undefined, 400);
  await call('DELETE', '/v1/products/{product}', `/v1/products/${W}`, undefined, 409);
  await call('DELETE', '/v1/subscriptions/{id}', `/v1/subscriptions/${sub?.id}`, undefined, 200);
  await call('DELETE', '/v1/products/{product}', `/v1/products/${SH}`, undefined, 200);
  // Schema Registry routes on a test subject
  const S = 'oa-contract-value', sch = f => ({ schema: JSON.stringify({ type: 'record', name: 'Note', namespace: 'oa', fields: f }) });
  const v1 = sch([{ name: 'text', type: 'string' }]);
  const reg = await call('POST', '/subjects/{subject}/versions', `/subjects/${S}/versions`, v1, 200, { type: SR });
  await call('POST', '/subjects/{subject}/versions', `/subjects/${S}/versions`, sch([{ name: 'text', type: 'string' }, { name: 'lang', type: 'string', default: 'en' }]), 200, { type: SR });
  await call('POST', '/subjects/{subject}/versions', `/subjects/${S}/versions`, sch([{ name: 'text', type: 'string' }, { name: 'n', type: 'int' }]), 409, { type: SR });
  await call('POST', '/subjects/{subject}/versions', `/subjects/${S}/versions`, sch([{ name: 'text', type: 'nope' }]), 422, { type: SR });
  await call('POST', '/subjects/{subject}', `/subjects/${S}`, v1, 200, { type: SR });
  await call('POST', '/subjects/{subject}', '/subjects/oa-none-value', v1, 404, { type: SR });
  await call('POST', '/compatibility/subjects/{subject}/versions/{version}', `/compatibility/subjects/${S}/versions/latest`, sch([{ name: 'text', type: 'int' }]), 200, { type: SR });
  await call('POST', '/compatibility/subjects/{subject}/versions', `/compatibility/subjects/${S}/versions?verbose=true`, sch([{ name: 'text', type: 'int' }]), 200, { type: SR });
  await call('GET', '/subjects', '/subjects', undefined, 200);
  await call('GET', '/subjects', '/subjects?limit=x', undefined, 400);
  await call('GET', '/subjects/{subject}/versions', `/subjects/${S}/versions`, undefined, 200);
  await call('GET', '/subjects/{subject}/versions', '/subjects/oa-none-value/versions', undefined, 404);
  await call('GET', '/subjects/{subject}/versions/{version}', `/subjects/${S}/versions/1`, undefined, 200);
  await call('GET', '/subjects/{subject}/versions/{version}', `/subjects/${S}/versions/99`, undefined, 404);
  await call('GET', '/subjects/{subject}/versions/{version}/schema', `/subjects/${S}/versions/latest/schema`, undefined, 200);
  await call('GET', '/subjects/{subject}/versions/{version}/referencedby', `/subjects/${S}/versions/1/referencedby`, undefined, 200);
  await call('GET', '/schemas', '/schemas?subjectPrefix=oa-&latestOnly=true', undefined, 200);
  await call('GET', '/schemas/types', '/schemas/types', undefined, 200);
  await call('GET', '/schemas/ids/{id}', `/schemas/ids/${reg?.id}`, undefined, 200);
  await call('GET', '/schemas/ids/{id}', `/schemas/ids/${reg?.id}?subject=${S}&fetchMaxId=true`, undefined, 200);
  await call('GET', '/schemas/ids/{id}', '/schemas/ids/99999', undefined, 404);
  await call('GET', '/schemas/ids/{id}/schema', `/schemas/ids/${reg?.id}/schema`, undefined, 200);
  await call('GET', '/schemas/ids/{id}/versions', `/schemas/ids/${reg?.id}/versions`, undefined, 200);
  await call('GET', '/schemas/ids/{id}/subjects', `/schemas/ids/${reg?.id}/subjects`, undefined, 200);
  await call('GET', '/config', '/config', undefined, 200);
  await call('PUT', '/config', '/config', {}, 200, { type: SR });
  await call('PUT', '/config/{subject}', `/config/${S}`, { compatibility: 'FULL' }, 200, { type: SR });
  await call('PUT', '/config/{subject}', `/config/${S}`, { compatibility: 'SOMETIMES' }, 422, { type: SR, invalid: true });
  await call('GET', '/config/{subject}', `/config/${S}`, undefined, 200);
  await call('DELETE', '/config/{subject}', `/config/${S}`, undefined, 200);
  await call('GET', '/mode', '/mode', undefined, 200);
  await call('PUT', '/mode', '/mode', { mode: 'READWRITE' }, 200, { type: SR });
  await call('GET', '/mode/{subject}', `/mode/${S}`, undefined, 404);
  await call('PUT', '/mode/{subject}', `/mode/${S}`, { mode: 'READONLY' }, 200, { type: SR });
  await call('GET', '/mode/{subject}', `/mode/${S}`, undefined, 200);
  await call('DELETE', '/mode/{subject}', `/mode/${S}`, undefined, 200);
  await call('DELETE', '/subjects/{subject}/versions/{version}', `/subjects/${S}/versions/2`, undefined, 200);
  await call('DELETE', '/subjects/{subject}', `/subjects/${S}`, undefined, 200);
  await call('DELETE', '/subjects/{subject}', `/subjects/${S}?permanent=true`, undefined, 200);
  {
    const r = await fetch(base + '/v1/no-such-route', { signal: AbortSignal.timeout(5000) });
    const body = await r.json().catch(() => null), v = ajv.getSchema('openapi#/components/schemas/Error');
    ok(r.status === 404 && v(body), 'GET /v1/no-such-route: 404 with the documented error shape', `status ${r.status}; ${JSON.stringify(v.errors)}`);
  }
  // with authentication on (a second broker, tokens from the .t): 401, 403 and 429 as documented
  const AB = process.env.AUTH_BASE, admin = process.env.TOK_ADMIN, spy = process.env.TOK_SPY;
  if (AB && admin && spy) {
    const as = t => ({ base: AB, headers: { Authorization: `Bearer ${t}` } });
    await call('GET', '/v1/products', '/v1/products', undefined, 401, { base: AB });
    await call('PUT', '/config/{subject}', '/config/oa-auth-value', { compatibility: 'FULL' }, 401, { base: AB, type: SR });
    await call('POST', '/v1/ports/{port}/records', `/v1/ports/${WO}/records`, { records: [obs(4)] }, 403, as(spy));
    await call('PUT', '/v1/products/{product}', `/v1/products/${SH}`, shDesc, 403, as(spy));
    await call('GET', '/v1/products', '/v1/products', undefined, 200, as(spy));
    for (const want of [200, 429]) // limit.write.requests.per.s = 1: the bucket holds one
      await call('PUT', '/config/{subject}', '/config/oa-auth-value', { compatibility: 'FULL' }, want, { ...as(admin), type: SR });
  } else ok(false, 'the authentication phase ran (AUTH_BASE, TOK_ADMIN, TOK_SPY)');
  const gets = [...want].filter(x => x.startsWith('GET ') && !exercised.has(x));
  ok(gets.length === 0, 'every GET route of the table was exercised live', gets.join('\n'));
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
