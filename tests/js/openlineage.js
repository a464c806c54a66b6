// OpenLineage RunEvents from a broker (a job per data product and per binding, DESIGN.md §8): a tiny HTTP receiver on 127.0.0.1 (its first POST answered
// 500, so the broker must retry), the broker started with lineage.url pointing at it, SIGTERM, then
// every event — as POSTed and as read back from lineage.topic with kcat — validated with ajv
// (draft 2020-12) against OpenLineage.json and each facet against its facet schema.
// Prints TAP. Usage: node openlineage.js PB_BIN BROKERS PRODUCTS_DIR SPECS_DIR LOG_FILE
'use strict';
const http = require('http');
const fs = require('fs');
const { spawn, spawnSync } = require('child_process');

const [bin, brokers, productsDir, specsDir, logFile] = process.argv.slice(2);
const tap = require('./tap');
const { ok } = tap;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(ms, pred) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await pred()) return true; await sleep(100); }
  return false;
}

const problems = require('./ol_schema')(specsDir);

(async () => {
  console.log('1..16');
  const posts = []; // {status, event}
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      let ev = null;
      try { ev = JSON.parse(body); } catch (e) { /* recorded as null */ }
      const status = posts.length === 0 ? 500 : 201; // the first POST fails: the broker must retry
      posts.push({ status, event: ev, path: req.url, type: req.headers['content-type'] });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const lport = server.address().port;
  const portFile = `${logFile}.port`;
  try { fs.unlinkSync(portFile); } catch (e) { /* none */ }
  const log = fs.openSync(logFile, 'w');
  const broker = spawn(bin, ['serve', '-o', 'http.listen=127.0.0.1:0', '--port-file', portFile,
    '-o', `kafka.bootstrap.servers=${brokers}`, '-o', `products.dir=${productsDir}`, '-o', 'mesh.namespace=com.test',
    '-o', 'lineage.interval.ms=400', '-o', 'lineage.topic=_test.lineage',
    '-o', `lineage.url=http://127.0.0.1:${lport}/api/v1/lineage`], { stdio: ['ignore', log, log] });
  let exited = null;
  broker.on('exit', (code, sig) => { exited = { code, sig }; });
  try {
    const accepted = () => posts.filter((p) => p.status < 300).map((p) => p.event);
    const started = await until(20000, () => accepted().some((e) => e && e.eventType === 'START') && accepted().some((e) => e && e.eventType === 'RUNNING'));
    ok(started, 'the broker POSTs START, then RUNNING', posts.map((p) => `${p.status} ${p.event && p.event.eventType}`).join(', '));
    ok(posts.length >= 2 && posts[0].status === 500 && posts[1].event && posts[0].event &&
      posts[1].event.eventType === posts[0].event.eventType && posts[1].event.eventTime === posts[0].event.eventTime,
    'the event refused with 500 is retried (same event)', posts.slice(0, 2).map((p) => `${p.status} ${p.event && p.event.eventType}`).join(', '));
    ok(posts.every((p) => p.path === '/api/v1/lineage' && /^application\/json/.test(p.type)), 'POSTed as application/json to the configured path', posts.map((p) => `${p.path} ${p.type}`)[0]);

    // Publish one record when this build has the publish route: RUNNING then counts it.
    let published = false;
    const url = `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8').trim()}`;
    const r = await fetch(`${url}/v1/ports/${encodeURIComponent('urn:dpds:com.test:dataproducts:p0:1:outputports:a')}/records`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records: [{ value: { id: 'r1', value: 2.5, at: Date.now(), place: null } }] }), signal: AbortSignal.timeout(10000),
    });
    published = r.status === 200;
    if (published) await until(5000, () => accepted().some((e) => e.eventType === 'RUNNING' && e.outputs.some((d) => d.name === 'com.test.p0.v1.a' && d.outputFacets.outputStatistics.rowCount === 1)));

    broker.kill('SIGTERM');
    const stopped = await until(15000, () => exited !== null);
    if (!stopped) broker.kill('SIGKILL');
    ok(stopped && exited.code === 0, 'SIGTERM: the broker exits 0', JSON.stringify(exited));
    const evs = accepted();
    // Per job (one run each): START, RUNNING..., COMPLETE.
    const byRun = new Map();
    for (const e of evs) { if (!byRun.has(e.run.runId)) byRun.set(e.run.runId, []); byRun.get(e.run.runId).push(e); }
    const seqs = [...byRun.values()].map((l) => l.map((e) => e.eventType));
    ok(byRun.size === 3 && seqs.every((t) => t[0] === 'START' && t[t.length - 1] === 'COMPLETE' && t.length >= 3 && t.slice(1, -1).every((x) => x === 'RUNNING')),
      'HTTP: per job START, RUNNING..., COMPLETE (3 jobs: 2 products, 1 binding)', seqs.map((t) => t.join(' ')).join(' | '));

    const bad = evs.map((e, i) => [i, problems(e)]).filter(([, p]) => p.length);
    ok(evs.length >= 3 && bad.length === 0, `HTTP: all ${evs.length} events valid against OpenLineage.json 2-0-2 and their facet schemas`, bad.slice(0, 2).map(([i, p]) => `event ${i}: ${p.slice(0, 5).join('; ')}`).join('\n'));

    // The validator is not vacuous: broken copies of a real event are refused.
    const broken = [
      (e) => { e.eventType = 'BOGUS'; },
      (e) => { delete e.run.runId; },
      (e) => { e.eventTime = 'yesterday'; },
      (e) => { delete e.outputs[0].facets.symlinks._producer; },
      (e) => { e.outputs[0].facets.schema.fields[0].name = 7; },
      (e) => { e.job.facets.jobType.processingType = 3; },
    ].map((f) => { const c = JSON.parse(JSON.stringify(evs.find((e) => e.outputs.length && e.outputs[0].facets.schema))); f(c); return problems(c).length; });
    ok(broken.every((k) => k > 0), 'the validator refuses broken copies of an event (type, runId, time, facet fields)', broken.join(','));

    const runIds = new Set(evs.map((e) => e.run.runId));
    const jobOf = new Map(evs.map((e) => [e.run.runId, e.job.name]));
    ok([...runIds].every((r) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(r)) && new Set(jobOf.values()).size === runIds.size &&
      evs.every((e) => jobOf.get(e.run.runId) === e.job.name), 'one run id (UUIDv4) per job', JSON.stringify([...jobOf]));
    const P0 = 'urn:dpds:com.test:dataproducts:p0:1';
    const BIND = 'binding:urn:dpds:com.test:dataproducts:p0:1:outputports:a->urn:dpds:com.test:dataproducts:p1:1:inputports:in';
    ok(evs.every((e) => e.job.namespace === 'portbroker') && [...new Set(evs.map((e) => e.job.name))].sort().join(' ') === [BIND, P0, 'urn:dpds:com.test:dataproducts:p1:1'].sort().join(' '),
      'jobs in namespace portbroker: one per product (its URN), one per binding', [...new Set(evs.map((e) => `${e.job.namespace}/${e.job.name}`))].join(' '));

    const starts = evs.filter((e) => e.eventType === 'START');
    const start = starts.find((e) => e.job.name === P0);
    const ns = `kafka://${brokers.split(',')[0]}`;
    const all = starts.flatMap((e) => e.inputs.concat(e.outputs));
    const names = [...new Set(all.map((d) => d.name))].sort();
    ok(names.length === 8 && all.every((d) => d.namespace === ns), `START events: 8 port datasets in namespace ${ns}`, names.join(' '));
    const a = start && start.outputs.find((d) => d.name === 'com.test.p0.v1.a');
    ok(a && a.facets.symlinks.identifiers.some((i) => i.name === 'urn:dpds:com.test:dataproducts:p0:1:outputports:a'), 'the port URN is in the symlinks facet', a && JSON.stringify(a.facets.symlinks));
    const fields = a ? a.facets.schema.fields : [];
    ok(fields.map((f) => f.name).join(',') === 'id,value,at,place' && fields[2].type === 'timestamp-millis' &&
      fields[3].fields && fields[3].fields.map((f) => f.name).join(',') === 'lat,lon', 'the schema facet has the Avro fields (logical types, nested records)', JSON.stringify(fields));
    const bstart = starts.find((e) => e.job.name === BIND);
    ok(bstart && bstart.inputs.map((d) => d.name).join() === 'com.test.p0.v1.a' && bstart.outputs.map((d) => d.name).join() === 'com.test.p1.v1.in.in',
      'the binding job reads the output port\'s topic and writes the input port\'s', JSON.stringify(bstart && [bstart.inputs.map((d) => d.name), bstart.outputs.map((d) => d.name)]));

    const running = evs.filter((e) => e.eventType === 'RUNNING' && e.job.name === P0);
    const last = running[running.length - 1];
    const stat = last.outputs.find((d) => d.name === 'com.test.p0.v1.a').outputFacets.outputStatistics;
    ok(Number.isInteger(stat.rowCount) && Number.isInteger(stat.size) && stat.rowCount === (published ? 1 : 0),
      `RUNNING: outputStatistics counts the records published to the port (${published ? 'one published' : 'no publish route in this build: 0'})`, JSON.stringify(stat));

    // The same events in Kafka.
    const kc = spawnSync('kcat', ['-C', '-b', brokers, '-t', '_test.lineage', '-o', 'beginning', '-e', '-q', '-f', '%s\n'], { timeout: 20000, encoding: 'utf8' });
    const kevs = (kc.stdout || '').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const kruns = new Map();
    for (const e of kevs) { if (!kruns.has(e.run.runId)) kruns.set(e.run.runId, []); kruns.get(e.run.runId).push(e.eventType); }
    const kseqs = [...kruns.values()];
    ok(kruns.size === 3 && kseqs.every((t) => t[0] === 'START' && t[t.length - 1] === 'COMPLETE' && t.length >= 3), `Kafka topic lineage.topic: per job START, RUNNING..., COMPLETE (${kevs.length} events)`, `${kseqs.map((t) => t.join(' ')).join(' | ')} ${kc.stderr || ''}`);
    const kbad = kevs.map((e, i) => [i, problems(e)]).filter(([, p]) => p.length);
    ok(kbad.length === 0 && kevs.every((e) => runIds.has(e.run.runId)), 'Kafka: every event valid, the same run ids as over HTTP', kbad.slice(0, 2).map(([i, p]) => `event ${i}: ${p.slice(0, 5).join('; ')}`).join('\n'));
  } finally {
    if (exited === null) broker.kill('SIGKILL');
    server.close();
  }
  process.exit(tap.failed() ? 1 : 0);
})().catch(tap.unexpected);
