// OpenLineage validation with ajv (draft 2020-12): a RunEvent against OpenLineage.json and each of
// its facets against the facet's own schema (every file of SPECS_DIR and SPECS_DIR/facets
// registered by its $id, so absolute $refs resolve), and each facet's _schemaURL naming it.
// As a module: require('./ol_schema')(specsDir) returns problems(event) -> [text] (empty: valid).
// As a program: node ol_schema.js SPECS_DIR EVENTS (one JSON event a line) prints one line per
// invalid event and a summary; exits 1 when any is invalid or there is none.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

function validator(specsDir) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const facetSchemas = []; // {id, key, def}: the facet key a schema's top-level properties define
  for (const f of [path.join(specsDir, 'OpenLineage.json')].concat(
    fs.readdirSync(path.join(specsDir, 'facets')).filter((x) => x.endsWith('.json')).map((x) => path.join(specsDir, 'facets', x)))) {
    const s = JSON.parse(fs.readFileSync(f, 'utf8'));
    ajv.addSchema(s);
    if (s.$id.includes('/facets/')) for (const key of Object.keys(s.properties || {})) facetSchemas.push({ id: s.$id, key, def: Object.keys(s.$defs).find((d) => d.endsWith('Facet')) });
  }
  const validateEvent = ajv.getSchema('https://openlineage.io/spec/2-0-2/OpenLineage.json');
  const facetsOf = (ev) => {
    const out = [];
    const add = (where, obj) => { for (const k of Object.keys(obj || {})) out.push([where, k, obj[k]]); };
    add('run', ev.run && ev.run.facets);
    add('job', ev.job && ev.job.facets);
    for (const d of (ev.inputs || []).concat(ev.outputs || [])) {
      add(`dataset ${d.name}`, d.facets);
      add(`dataset ${d.name} outputFacets`, d.outputFacets);
      add(`dataset ${d.name} inputFacets`, d.inputFacets);
    }
    return out;
  };
  return (ev) => {
    const errs = [];
    if (!validateEvent(ev)) errs.push(`OpenLineage.json: ${ajv.errorsText(validateEvent.errors)}`);
    for (const [where, key, facet] of facetsOf(ev)) {
      const fs_ = facetSchemas.find((x) => x.key === key);
      if (!fs_) { errs.push(`${where}: facet ${key} has no schema in ${specsDir}`); continue; }
      const v = ajv.getSchema(fs_.id);
      if (!v({ [key]: facet })) errs.push(`${where}: facet ${key}: ${ajv.errorsText(v.errors)}`);
      if (facet._schemaURL !== `${fs_.id}#/$defs/${fs_.def}`) errs.push(`${where}: facet ${key}: _schemaURL ${facet._schemaURL} is not ${fs_.id}#/$defs/${fs_.def}`);
    }
    return errs;
  };
}
module.exports = validator;

if (require.main === module) {
  const [specsDir, file] = process.argv.slice(2);
  const problems = validator(specsDir);
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  let bad = 0;
  lines.forEach((l, i) => {
    let p;
    try { p = problems(JSON.parse(l)); } catch (e) { p = [`not JSON: ${e.message}`]; }
    if (p.length) { bad++; console.log(`event ${i + 1}: ${p.slice(0, 5).join('; ')}`); }
  });
  console.log(`${lines.length - bad} of ${lines.length} events valid`);
  process.exit(bad || !lines.length ? 1 : 0);
}
