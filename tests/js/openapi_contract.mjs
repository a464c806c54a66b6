// OpenAPI contract (tests/integration/0091-openapi.t): docs/openapi.json validates as OpenAPI 3.1
// (@seriousme/openapi-schema-validator) and lists exactly the paths and methods `portbroker routes`
// prints (read at test time, so routes added elsewhere fail this until documented). TAP on stdout.
// usage: node openapi_contract.mjs docs/openapi.json routes.jsonl
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
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
// Live responses of the example mesh against the documented schemas (ajv, JSON Schema 2020-12).
if (base) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema(doc, 'openapi');
  const esc = s => s.replace(/~/g, '~0').replace(/\//g, '~1');
  const live = [['/healthz', 200], ['/readyz', 200], ['/v1/products', 200], ['/v1/ports', 200], ['/config', 200], ['/subjects', 200], ['/v1/no-such-route', 404]];
  for (const [p, status] of live) {
    const r = await fetch(base + p, { signal: AbortSignal.timeout(5000) });
    const body = await r.json();
    const ptr = status === 404 ? 'openapi#/components/schemas/Error'
      : `openapi#/paths/${esc(p.startsWith('/v1/no') ? '/' : p)}/get/responses/${status}/content/application~1json/schema`;
    const v = ajv.getSchema(ptr);
    ok(r.status === status && v && v(body), `GET ${p}: ${status} and the body matches the documented schema`, `status ${r.status}; ${JSON.stringify(v?.errors)}; ${JSON.stringify(body).slice(0, 300)}`);
  }
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
