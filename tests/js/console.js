// The ops console (/dashboard, DESIGN.md §8) in headless Chromium (playwright-core) at laptop and
// wall sizes: no horizontal scrollbar, every column inside the viewport and wide enough for its
// header, the lineage graph inside its panel, ports grouped by domain and product, lag labelled by
// subscriber product, the port past its reject budget red (and one within it not), and a port page
// opened by a click showing the schema (field docs, logical types) and a sample record. Saves a
// screenshot per size. Prints TAP.
// Usage: node console.js URL PORTS RED_PORT GREEN_PORT SHOT_DIR USER_DATA_DIR
'use strict';
const { chromium } = require('playwright-core');
const tap = require('./tap');
const { ok } = tap;

const [url, portsText, redPort, greenPort, shotDir, userDir] = process.argv.slice(2);
const nPorts = Number(portsText);

/* Layout facts of the current page, measured in the browser. */
function measure() {
  const vw = document.documentElement.clientWidth;
  const cols = [...document.querySelectorAll('#ports thead th')].map((th) => {
    const r = th.getBoundingClientRect();
    return { text: th.firstChild.textContent.trim(), left: r.left, right: r.right, width: r.width };
  });
  const row = document.querySelector('#ports tbody tr[data-fqn]');
  const cells = row ? [...row.children].map((td) => { const r = td.getBoundingClientRect(); return { left: r.left, right: r.right }; }) : [];
  const g = document.getElementById('graph').getBoundingClientRect();
  const wrap = document.getElementById('graph-wrap');
  return {
    vw, scrollW: document.documentElement.scrollWidth, bodyScrollW: document.body.scrollWidth, cols, cells,
    graph: { left: g.left, right: g.right, width: g.width }, wrapOverflow: wrap.scrollWidth - wrap.clientWidth,
  };
}

async function layoutChecks(page, label) {
  const m = await page.evaluate(measure);
  ok(m.scrollW <= m.vw && m.bodyScrollW <= m.vw, `${label}: no horizontal scrollbar`, `document ${m.scrollW} px, body ${m.bodyScrollW} px, viewport ${m.vw} px`);
  const want = ['port', 'rate/s', 'freshness', 'rejects', 'DLQ', 'subscribers · lag'];
  const names = m.cols.map((c) => c.text);
  const bad = m.cols.filter((c) => c.left < 0 || c.right > m.vw + 0.5 || c.width < 40);
  ok(JSON.stringify(names) === JSON.stringify(want) && bad.length === 0, `${label}: every column is inside the viewport (${names.length} columns)`,
    `${JSON.stringify(names)} outside or too narrow: ${JSON.stringify(bad)}`);
  const clipped = await page.evaluate(() => [...document.querySelectorAll('#ports thead th')].filter((th) => th.firstChild && (() => {
    const range = document.createRange(); range.selectNodeContents(th.firstChild);
    return range.getBoundingClientRect().width > th.clientWidth + 1;
  })()).map((th) => th.textContent));
  ok(clipped.length === 0, `${label}: no column header is cut`, clipped.join(', '));
  ok(m.cells.length === 6 && m.cells.every((c) => c.right <= m.vw + 0.5), `${label}: a port row's six cells are all visible`, JSON.stringify(m.cells));
  ok(m.graph.left >= 0 && m.graph.right <= m.vw + 0.5 && m.wrapOverflow <= 0, `${label}: the lineage graph fits its panel (no sideways scroll)`, JSON.stringify(m.graph) + ' overflow ' + m.wrapOverflow);
}

(async () => {
  console.log('1..33');
  const errors = [], foreign = [];
  const origin = new URL(url).origin;
  const ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1366, height: 768 },
  });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(20000);
    page.on('request', (r) => { if (!r.url().startsWith(origin + '/')) foreign.push(r.url()); });
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    const rowsLoaded = () => page.waitForFunction((n) => document.querySelectorAll('#ports tbody tr[data-fqn]').length === n, nPorts, { timeout: 20000 });

    // ---- 1366 x 768 ----
    await page.goto(`${url}/dashboard?refresh=1&big=0`, { waitUntil: 'load' });
    await rowsLoaded();
    ok(true, `1366x768: ${nPorts} port rows`);
    await layoutChecks(page, '1366x768');
    const groups = await page.evaluate(() => ({
      domains: [...document.querySelectorAll('#ports tbody tr.grp.domain th')].map((t) => t.firstChild.textContent),
      products: document.querySelectorAll('#ports tbody tr.grp.product').length,
    }));
    ok(JSON.stringify(groups.domains) === JSON.stringify(['environment', 'finance', 'logistics', 'test']) && groups.products === 53,
      'ports are grouped by domain (sorted), then by product', JSON.stringify(groups));
    // The ports are under their own product's heading: the row before the first port of a product.
    // (page.evaluate, not $eval: the table is re-rendered every second; a handle could go stale.)
    const under = await page.evaluate((f) => {
      const tr = document.querySelector(`#ports tbody tr[data-fqn="${f}"]`);
      let p = tr.previousElementSibling;
      while (p && !p.classList.contains('product')) p = p.previousElementSibling;
      return p ? p.dataset.product : null;
    }, redPort);
    ok(under && redPort.startsWith(under + ':'), 'a port sits under its product heading', under);

    // Reject budget: the red port (rejects above its rejects.max) is red, the green one is not.
    const rej = async (fqn) => page.evaluate((f) => {
      const tr = document.querySelector(`#ports tbody tr[data-fqn="${f}"]`);
      const pill = tr.querySelector('td.rej .pill');
      return { state: tr.dataset.rejectState, bg: getComputedStyle(pill).backgroundColor, text: tr.querySelector('td.rej').textContent };
    }, fqn);
    const r1 = await rej(redPort), r2 = await rej(greenPort);
    ok(r1.state === 'red' && r1.bg === 'rgb(248, 81, 73)' && /budget spent/.test(r1.text), 'the port past its reject budget is red, saying "budget spent"', JSON.stringify(r1));
    ok(r2.state === 'green' && r2.bg !== 'rgb(248, 81, 73)', 'a port within its reject budget is not red', JSON.stringify(r2));

    // Lag is labelled by the subscribing product, never by a consumer group.
    const subs = await page.evaluate((f) => document.querySelector(`#ports tbody tr[data-fqn="${f}"] td.subs`).textContent, redPort);
    ok(/billing v1/.test(subs) && !/portbroker\.(route|sub)\./.test(subs), 'lag is labelled by subscriber product (billing v1), not consumer group', subs);
    const lagStates = await page.evaluate(() => [...new Set([...document.querySelectorAll('#ports tbody td.subs .sub')].map((s) => s.className))]);
    ok(lagStates.some((c) => /green|amber|red/.test(c)), 'measured lag is coloured against the input port\'s freshness SLO', lagStates.join(', '));
    const health = await page.$eval('#health', (h) => h.textContent);
    ok(/Kafka up/.test(health) && /ready/.test(health), 'Kafka and instance health are shown', health);
    await page.screenshot({ path: `${shotDir}/console-1366.png` });
    await page.locator('#graph-wrap').screenshot({ path: `${shotDir}/console-lineage-1366.png` });

    // The port page: opened by a click on the port's name.
    await page.click(`#ports tbody tr[data-fqn="${redPort}"] a.portlink`);
    await page.waitForFunction((f) => document.body.dataset.portLoaded === f, redPort, { timeout: 20000 });
    const pp = await page.evaluate(() => ({
      title: document.getElementById('port-title').textContent,
      schema: document.getElementById('port-schema').textContent,
      records: [...document.querySelectorAll('#port-sample pre.record')].map((p) => p.textContent),
      page: document.body.dataset.page,
      text: document.getElementById('port-body').textContent,
    }));
    ok(pp.page === 'port' && /tripEvents/.test(pp.title), 'a click on a port opens its page', pp.title);
    ok(/occurredAt/.test(pp.schema) && /timestamp-millis/.test(pp.schema) && /Event time; the port's eventTimeField/.test(pp.schema),
      'the port page shows the schema with logical types and field docs', pp.schema.slice(0, 300));
    ok(/decimal\(10,2\)/.test(pp.schema) && /vehicle\.vehicleId/.test(pp.schema), 'nested fields and decimal precision are listed', pp.schema.slice(0, 300));
    ok(/version 1/.test(pp.text) && /trip-team@acme\.example/.test(pp.text) && /billing v1/.test(pp.text) && /max 0\.1 %/.test(pp.text),
      'the port page shows versions, owner, subscribers and SLOs', pp.text.slice(0, 400));
    let rec = null;
    try { rec = JSON.parse(pp.records[0]); } catch (e) { rec = null; }
    ok(rec && rec.tripId === '00000000-0000-4000-a000-000000000001', 'the port page shows a sample record', (pp.records[0] || 'no record').slice(0, 300));
    const pm = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    ok(pm <= 0, '1366x768: the port page has no horizontal scrollbar', `${pm} px too wide`);
    await page.screenshot({ path: `${shotDir}/console-port-1366.png`, fullPage: true });
    await page.click('#port-back');
    await page.waitForFunction(() => document.body.dataset.page === 'console' && !document.getElementById('console').hidden);
    ok(true, 'back from the port page to the console');

    // ---- 1920 x 1080, then wall mode ----
    await page.setViewportSize({ width: 1920, height: 1080 });
    await page.waitForTimeout(1500);
    await layoutChecks(page, '1920x1080');
    await page.screenshot({ path: `${shotDir}/console-1920.png` });
    await page.click('#big');
    await page.waitForFunction(() => document.body.classList.contains('big'));
    await page.waitForTimeout(1500);
    await layoutChecks(page, '1920x1080 wall mode');
    const fs = await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('#ports tbody td.port')).fontSize));
    ok(fs >= 20, 'wall mode: large type (>= 20 px)', `${fs} px`);
    await page.screenshot({ path: `${shotDir}/console-wall-1920.png` });
    await page.click('#big');

    ok(foreign.length === 0, 'no request leaves the broker\'s origin', foreign.join('\n'));
    ok(errors.length === 0, 'no script error and no CSP violation in the console', errors.join('\n'));
  } finally {
    await ctx.close();
  }
  process.exit(tap.failed() ? 1 : 0);
})().catch(tap.unexpected);
