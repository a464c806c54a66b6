// Time to first render of /dashboard in headless Chromium (playwright-core from tests/js): from
// navigation start to the frame that paints the first rows (the page's
// performance.mark('pb-first-render')), and to every port row in the table (pb-all-rows; rows past
// the first screen are appended in chunks), median of RUNS fresh pages at 1366x768. Also the size and
// fetch time of /v1/status. Prints `name=value` lines for bench/run.sh.
// Usage: node bench/console_render.js URL PORTS [RUNS]
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'tests', 'js', 'node_modules', 'playwright-core'));

const [url, portsText, runsText] = process.argv.slice(2);
const nPorts = Number(portsText), runs = Number(runsText || 5);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

(async () => {
  const t0 = Date.now();
  const r = await fetch(`${url}/v1/status`);
  const bytes = (await r.arrayBuffer()).byteLength;
  const statusMs = Date.now() - t0;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  const first = [], wall = [], nodes = [], parts = [], allRows = [];
  try {
    for (let i = 0; i < runs; i++) {
      const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 } });
      const page = await ctx.newPage();
      const w0 = Date.now();
      await page.goto(`${url}/dashboard?refresh=60`, { waitUntil: 'commit' });
      await page.waitForFunction((n) => document.querySelectorAll('#ports tbody tr[data-fqn]').length === n &&
        performance.getEntriesByName('pb-first-render').length > 0 && performance.getEntriesByName('pb-graph-built').length > 0, nPorts, { timeout: 60000 });
      wall.push(Date.now() - w0);
      const m = await page.evaluate(() => Object.fromEntries(['pb-status-parsed', 'pb-render-start', 'pb-ports-built', 'pb-graph-built', 'pb-first-render', 'pb-all-rows']
        .map((n) => [n, (performance.getEntriesByName(n)[0] || { startTime: NaN }).startTime])));
      first.push(m['pb-first-render']);
      allRows.push(m['pb-all-rows']);
      parts.push([m['pb-status-parsed'], m['pb-ports-built'] - m['pb-render-start'],
        m['pb-graph-built'] - (Number.isNaN(m['pb-all-rows']) ? m['pb-ports-built'] : m['pb-all-rows'])]);
      nodes.push(await page.evaluate(() => document.getElementsByTagName('*').length));
      await ctx.close();
    }
  } finally {
    await browser.close();
  }
  console.log(`# ${nPorts} ports, ${runs} runs at 1366x768: first render ${first.map(Math.round).join(', ')} ms after navigation start`);
  console.log(`# status parsed at, table (first rows) built in, graph built in (ms): ${parts.map((p) => p.map(Math.round).join('/')).join(', ')}`);
  console.log(`console_ports=${nPorts}`);
  console.log(`console_table_build_ms=${Math.round(median(parts.map((p) => p[1])))}`);
  console.log(`console_graph_build_ms=${Math.round(median(parts.map((p) => p[2])))}`);
  console.log(`console_first_render_ms=${Math.round(median(first))}`);
  console.log(`console_all_rows_ms=${Math.round(median(allRows))}`);
  console.log(`console_rows_visible_ms=${Math.round(median(wall))}`);
  console.log(`console_dom_elements=${median(nodes)}`);
  console.log(`console_status_bytes=${bytes}`);
  console.log(`console_status_fetch_ms=${statusMs}`);
})().catch((e) => { console.error(e); process.exit(1); });
