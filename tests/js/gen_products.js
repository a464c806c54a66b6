// Writes a products dir for the dashboard tests: N products (namespace com.test), each with three
// output ports (a, b, c) and one input port `in` bound to port `a` of product (i-1)/2 (a binary
// tree of products, as meshes are wider than deep), so 4*N ports and N-1 bindings. p0's port `a` has a short freshness SLO (the "fast" port), every
// port `b` states no freshness SLO. Usage: node gen_products.js DIR N FAST_SLO
'use strict';
const fs = require('fs');
const path = require('path');
const [dir, nText, fastSlo] = process.argv.slice(2);
const n = Number(nText);
fs.mkdirSync(dir, { recursive: true });
const schema = {
  type: 'record', name: 'Reading', namespace: 'com.test',
  fields: [
    { name: 'id', type: 'string', doc: 'reading id' },
    { name: 'value', type: 'double' },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'place', type: ['null', { type: 'record', name: 'Place', fields: [{ name: 'lat', type: 'double' }, { name: 'lon', type: 'double' }] }], default: null },
  ],
};
fs.writeFileSync(path.join(dir, 'reading.avsc'), JSON.stringify(schema));
for (let i = 0; i < n; i++) {
  const name = `p${i}`;
  const out = (port, slo) => ({
    name: port, version: '1.0.0',
    promises: { api: { format: 'avro', schema: { $ref: 'reading.avsc' } }, ...(slo ? { slo } : {}) },
    'x-portbroker': { partitions: 1 },
  });
  const input = { name: 'in', version: '1.0.0', promises: { api: { format: 'avro', schema: { $ref: 'reading.avsc' } }, slo: { freshness: '1h' } } };
  if (i > 0) input.from = `urn:dpds:com.test:dataproducts:p${(i - 1) >> 1}:1:outputports:a`;
  const d = {
    dataProductDescriptor: '1.0.0',
    info: { fullyQualifiedName: `urn:dpds:com.test:dataproducts:${name}:1`, name, version: '1.0.0', domain: 'test', owner: { id: 'test@example.test' } },
    interfaceComponents: {
      outputPorts: [out('a', { freshness: i === 0 ? fastSlo : '1h' }), out('b', null), out('c', { freshness: '10m' })],
      inputPorts: [input],
    },
  };
  fs.writeFileSync(path.join(dir, `${String(i).padStart(3, '0')}-${name}.json`), JSON.stringify(d, null, 1));
}
