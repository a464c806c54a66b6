// /dashboard in a real browser: headless Chromium driven by playwright-core. Asserts on the
// rendered DOM: a row per port, the fast port's freshness turning red once its SLO passes, one SVG
// edge per binding, large-type mode, no request leaving the broker's origin, no CSP violation.
// Saves a screenshot. Prints TAP.
// Usage: node dashboard.js URL PORTS BINDINGS FAST_PORT_FQN FAST_SLO_S SCREENSHOT USER_DATA_DIR
'use strict';
const { chromium } = require('playwright-core');

const [url, portsText, bindingsText, fast, sloText, shot, userDir] = process.argv.slice(2);
const nPorts = Number(portsText), nBindings = Number(bindingsText), slo = Number(sloText);
const tap = require('./tap');
const { ok } = tap;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function publish() {
  // One record to the fast port (its event time is now); 404 when this build has no publish route.
  const port = fast.replace(/^urn:dpds:[^:]+:dataproducts:/, '');
  const r = await fetch(`${url}/v1/ports/${encodeURIComponent(fast)}/records`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ records: [{ value: { id: 'r1', value: 1.5, at: Date.now(), place: null } }] }),
    signal: AbortSignal.timeout(10000),
  });
  return { status: r.status, body: await r.text(), port };
}

(async () => {
  console.log('1..13');
  const origin = new URL(url).origin;
  const requests = [], violations = [], errors = [];
  const ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1600, height: 1000 },
  });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(15000);
    page.on('request', (req) => requests.push(req.url()));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.exposeFunction('pbViolation', (v) => violations.push(v));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => window.pbViolation(`${e.violatedDirective} ${e.blockedURI}`));
    });

    const t0 = Date.now();
    const resp = await page.goto(`${url}/dashboard?refresh=1`, { waitUntil: 'load' });
    ok(resp.status() === 200 && /^text\/html; charset=utf-8$/i.test(resp.headers()['content-type']), 'GET /dashboard is text/html; charset=utf-8', `${resp.status()} ${resp.headers()['content-type']}`);
    const csp = resp.headers()['content-security-policy'] || '';
    ok(/default-src 'none'/.test(csp) && /script-src 'self'/.test(csp) && !/unsafe-inline|unsafe-eval|\*/.test(csp), 'strict Content-Security-Policy (self only)', csp);

    await page.waitForFunction((want) => document.querySelectorAll('#ports tbody tr[data-fqn]').length === want, nPorts, { timeout: 15000 });
    const renderMs = Date.now() - t0;
    console.log(`# ${nPorts} port rows rendered ${renderMs} ms after navigation`);
    ok(renderMs < 5000, `a row per port: ${nPorts} rows within 5 s`, `${renderMs} ms`);
    const fqns = await page.$$eval('#ports tbody tr[data-fqn]', (rows) => rows.map((r) => r.dataset.fqn));
    ok(new Set(fqns).size === nPorts && fqns.includes(fast), 'rows are distinct ports and include the fast port', fqns.slice(0, 3).join(', '));

    const edges = await page.$$eval('#graph path.edge.binding', (ps) => ps.map((p) => p.dataset.binding));
    ok(edges.length === nBindings && new Set(edges).size === nBindings, `the lineage graph draws one SVG edge per binding (${nBindings})`, `${edges.length} binding edges`);
    const nodes = await page.$$eval('#graph g.node', (gs) => gs.length);
    ok(nodes >= nPorts, 'the lineage graph has a node per port (and products)', `${nodes} nodes`);

    const noSlo = await page.$$eval('#ports tbody tr[data-state="none"] .badge.none', (b) => b.length);
    ok(noSlo === nPorts / 4, 'ports without a freshness SLO show grey "none"', `${noSlo} grey badges`);

    // The fast port: fresh (green) right after a record, red once its SLO has passed.
    const state = () => page.$eval(`#ports tbody tr[data-fqn="${fast}"]`, (r) => r.dataset.state);
    const pub = await publish();
    if (pub.status === 404 || pub.status === 405) {
      console.log('# the publish route is not in this build: the fast port has never seen a record');
      ok((await state()) === 'red', 'a port with a freshness SLO and no record yet is red');
      ok(true, '# SKIP green after a record: no publish route in this build');
    } else {
      ok(pub.status === 200, 'published one record to the fast port', `${pub.status} ${pub.body.slice(0, 300)}`);
      let s = '', tGreen = Date.now() + 3000;
      while (Date.now() < tGreen && (s = await state()) !== 'green') await sleep(100);
      ok(s === 'green', 'the fast port turns green after a fresh record', s);
    }
    let s = '', tRed = Date.now() + (slo + 4) * 1000;
    while (Date.now() < tRed && (s = await state()) !== 'red') await sleep(200);
    ok(s === 'red', `the fast port is red once its ${slo} s SLO has passed`, s);

    await page.click('#big');
    ok(await page.evaluate(() => document.body.classList.contains('big')), 'large-type mode toggles');
    await page.click('#big');

    await page.screenshot({ path: shot, fullPage: false });
    const foreign = requests.filter((u) => !u.startsWith(origin + '/'));
    ok(foreign.length === 0 && requests.length >= 3, `every request stays on ${origin} (${requests.length} requests)`, foreign.join('\n'));
    ok(violations.length === 0 && errors.length === 0, 'no CSP violation and no script error', violations.concat(errors).join('\n'));
  } finally {
    await ctx.close();
  }
  process.exit(tap.failed() ? 1 : 0);
})().catch(tap.unexpected);
