/* portbroker /dashboard: renders GET /v1/status every few seconds. No external resources; the
 * page's Content-Security-Policy allows only this origin. Text goes in with textContent only. */
'use strict';
(function () {
  const SVG = 'http://www.w3.org/2000/svg';
  const params = new URLSearchParams(location.search);
  const refreshMs = Math.max(1000, (Number(params.get('refresh')) || 3) * 1000);
  const $ = (id) => document.getElementById(id);
  let lastDoc = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function fmtNum(v) {
    if (v === null || v === undefined) return '–';
    if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (v >= 1e4) return (v / 1e3).toFixed(1) + 'k';
    return Math.round(v * 100) / 100 + '';
  }
  function fmtAge(s) {
    if (s === null || s === undefined) return 'never';
    if (s < 0) s = 0;
    if (s < 90) return Math.round(s) + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' d';
  }
  function shortName(fqn) {
    const p = fqn.split(':');
    return p.length >= 8 ? p[4] + ' v' + p[5] + ' ' + (p[6] === 'outputports' ? 'out' : 'in') + ':' + p[7] : fqn;
  }

  function sparkline(samples) {
    const w = 120, h = 24;
    const s = svg('svg', { class: 'spark', viewBox: '0 0 ' + w + ' ' + h, preserveAspectRatio: 'none' });
    s.appendChild(svg('line', { class: 'base', x1: 0, y1: h - 1, x2: w, y2: h - 1 }));
    if (samples.length > 1) {
      const max = Math.max.apply(null, samples) || 1;
      const step = w / 89; // 90 slots: the newest sample at the right edge
      const x0 = w - (samples.length - 1) * step;
      const pts = samples.map((v, i) => (x0 + i * step).toFixed(1) + ',' + (h - 1 - (v / max) * (h - 3)).toFixed(1));
      s.appendChild(svg('polyline', { points: pts.join(' ') }));
    }
    const t = svg('title', {});
    t.textContent = samples.length ? 'max ' + fmtNum(Math.max.apply(null, samples)) + '/s over ' + samples.length + ' samples' : 'no samples yet';
    s.appendChild(t);
    return s;
  }

  function portRow(p) {
    const tr = el('tr', p.state);
    tr.dataset.fqn = p.fqn;
    tr.dataset.state = p.state;
    const name = el('td', 'port');
    name.appendChild(el('span', 'name', p.name));
    name.appendChild(el('span', 'fqn', p.fqn));
    tr.appendChild(name);
    tr.appendChild(el('td', 'c-kind', p.kind));
    tr.appendChild(el('td', 'c-topic', p.topic));
    tr.appendChild(el('td', 'num rate', fmtNum(p.ratePerSecond)));
    const sp = el('td', 'spark');
    sp.appendChild(sparkline(p.samples || []));
    tr.appendChild(sp);
    const fr = el('td', 'fresh');
    fr.appendChild(el('span', 'badge ' + p.state, fmtAge(p.freshnessAgeSeconds)));
    fr.appendChild(el('span', 'slo', p.freshnessSloSeconds ? 'SLO ' + fmtAge(p.freshnessSloSeconds) : 'no SLO'));
    tr.appendChild(fr);
    tr.appendChild(el('td', 'num rejects' + (p.rejects ? ' bad' : ''), p.rejects));
    tr.appendChild(el('td', 'num dlq' + (p.dlq.total ? ' bad' : ''), p.dlq.total));
    const subs = el('td', 'subs');
    for (const l of p.subscriptions) {
      const lag = l.known ? fmtNum(l.lagRecords) + ' rec, ' + fmtAge(l.lagSeconds) : 'not measured';
      subs.appendChild(el('span', 'sub', l.subscriber + ': ' + lag));
    }
    if (!p.subscriptions.length) subs.appendChild(el('span', 'muted', '–'));
    tr.appendChild(subs);
    return tr;
  }

  function renderPorts(doc) {
    const q = $('filter').value.trim().toLowerCase();
    const body = document.querySelector('#ports tbody');
    const frag = document.createDocumentFragment();
    for (const p of doc.ports) {
      if (q && (p.fqn + ' ' + p.topic).toLowerCase().indexOf(q) < 0) continue;
      frag.appendChild(portRow(p));
    }
    body.replaceChildren(frag);
    $('empty').hidden = doc.ports.length > 0;
    const s = doc.summary, sum = $('summary');
    sum.replaceChildren();
    sum.appendChild(el('span', 'muted', s.ports + ' ports '));
    for (const k of ['green', 'amber', 'red', 'none'])
      if (s[k]) sum.appendChild(el('span', 'badge ' + k, s[k] + ' ' + (k === 'none' ? 'no SLO' : k)));
  }

  /* Layered layout by product: a product's layer is the longest chain of bindings leading to it
   * (cycles cut after as many passes as there are products). Each layer has three columns: the
   * products' input ports, the products, their output ports; a product's ports sit beside it.
   * Ports no product declares (a binding to an unknown port) get a column of their own first.
   * Products in a layer are ordered by the mean row of the products feeding them. */
  function renderGraph(doc, states) {
    const g = $('graph');
    const nodes = doc.lineage.nodes, edges = doc.lineage.edges;
    const products = nodes.filter((n) => n.type === 'product');
    const owner = new Map(); // port id -> product id
    for (const n of nodes) if (n.type === 'port' && n.product) owner.set(n.id, n.product);
    const feeds = new Map(products.map((p) => [p.id, new Set()])); // product -> upstream products
    for (const e of edges) {
      if (e.type !== 'binding') continue;
      const up = owner.get(e.from), down = owner.get(e.to);
      if (up && down && up !== down && feeds.has(down)) feeds.get(down).add(up);
    }
    const layer = new Map(products.map((p) => [p.id, 0]));
    for (let pass = 0, changed = true; changed && pass <= products.length; pass++) {
      changed = false;
      for (const [down, ups] of feeds) for (const up of ups) {
        const l = layer.get(up) + 1;
        if (l > layer.get(down) && l <= products.length) { layer.set(down, l); changed = true; }
      }
    }
    const orphans = nodes.filter((n) => n.type === 'port' && !(n.product && layer.has(n.product)));
    const shift = orphans.length ? 1 : 0;
    const big = document.body.classList.contains('big');
    const nodeW = big ? 300 : 210, nodeH = big ? 40 : 28, gapX = big ? 90 : 60, gapY = big ? 14 : 10;
    const colX = (c) => 10 + c * (nodeW + gapX);
    const rowY = (r) => 10 + r * (nodeH + gapY);
    const pos = new Map();
    orphans.forEach((n, i) => pos.set(n.id, { x: colX(0), y: rowY(i) }));
    let rows = orphans.length, cols = shift;
    const byLayer = [];
    for (const p of products) (byLayer[layer.get(p.id)] = byLayer[layer.get(p.id)] || []).push(p);
    const portsOf = new Map(products.map((p) => [p.id, { input: [], output: [] }]));
    for (const n of nodes) if (n.type === 'port' && portsOf.has(n.product)) portsOf.get(n.product)[n.kind].push(n);
    const prow = new Map();
    byLayer.forEach((col, li) => {
      if (!col) return;
      const key = (p) => {
        const ups = [...feeds.get(p.id)].filter((u) => prow.has(u));
        return ups.length ? ups.reduce((a, u) => a + prow.get(u), 0) / ups.length : -1;
      };
      col.sort((a, b) => key(a) - key(b));
      const c0 = shift + 3 * li;
      let r = 0;
      for (const p of col) {
        const ps = portsOf.get(p.id);
        const span = Math.max(1, ps.input.length, ps.output.length);
        prow.set(p.id, r + (span - 1) / 2);
        pos.set(p.id, { x: colX(c0 + 1), y: rowY(r + (span - 1) / 2) });
        ps.input.forEach((n, i) => pos.set(n.id, { x: colX(c0), y: rowY(r + i) }));
        ps.output.forEach((n, i) => pos.set(n.id, { x: colX(c0 + 2), y: rowY(r + i) }));
        r += span + 0.5;
      }
      rows = Math.max(rows, r);
      cols = c0 + 3;
    });
    const width = colX(cols) + 10;
    const height = Math.max(rowY(Math.ceil(rows)) + 10, 60);
    g.replaceChildren();
    g.setAttribute('width', width);
    g.setAttribute('height', height);
    g.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    const defs = svg('defs', {});
    const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' });
    marker.appendChild(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z' }));
    defs.appendChild(marker);
    g.appendChild(defs);
    const edgeLayer = svg('g', { class: 'edges' });
    for (const e of edges) {
      const a = pos.get(e.from), b = pos.get(e.to);
      if (!a || !b) continue;
      const x1 = a.x + nodeW, y1 = a.y + nodeH / 2, x2 = b.x, y2 = b.y + nodeH / 2;
      const mx = (x1 + x2) / 2;
      const path = svg('path', { class: 'edge ' + e.type, d: 'M' + x1 + ',' + y1 + ' C' + mx + ',' + y1 + ' ' + mx + ',' + y2 + ' ' + x2 + ',' + y2, 'marker-end': 'url(#arrow)' });
      path.dataset.from = e.from;
      path.dataset.to = e.to;
      if (e.type === 'binding') path.dataset.binding = e.binding;
      const t = svg('title', {});
      t.textContent = e.type + ': ' + e.from + ' → ' + e.to;
      path.appendChild(t);
      edgeLayer.appendChild(path);
      if (e.type === 'binding') {
        const label = svg('text', { class: 'rate', x: mx, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle' });
        label.textContent = e.ratePerSecond === null || e.ratePerSecond === undefined ? '' : fmtNum(e.ratePerSecond) + '/s';
        edgeLayer.appendChild(label);
      }
    }
    g.appendChild(edgeLayer);
    for (const n of nodes) {
      const p = pos.get(n.id);
      const cls = 'node ' + (n.type === 'product' ? 'product' : n.kind) + (n.declared === false ? ' undeclared' : '') + (states.get(n.id) ? ' ' + states.get(n.id) : '');
      const grp = svg('g', { class: cls, transform: 'translate(' + p.x + ',' + p.y + ')' });
      grp.dataset.id = n.id;
      grp.appendChild(svg('rect', { width: nodeW, height: nodeH, rx: n.type === 'product' ? 3 : nodeH / 2 }));
      const text = svg('text', { x: nodeW / 2, y: nodeH / 2 + 4, 'text-anchor': 'middle' });
      let label = n.type === 'product' ? n.name + ' v' + n.major : (n.name || shortName(n.fqn));
      if (label.length > (big ? 26 : 28)) label = label.slice(0, big ? 25 : 27) + '…';
      text.textContent = label;
      grp.appendChild(text);
      const t = svg('title', {});
      t.textContent = n.fqn + (n.topic ? '\ntopic ' + n.topic : '');
      grp.appendChild(t);
      g.appendChild(grp);
    }
  }

  function render(doc) {
    lastDoc = doc;
    renderPorts(doc);
    const states = new Map(doc.ports.map((p) => [p.fqn, p.state]));
    renderGraph(doc, states);
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    document.body.dataset.loaded = 'true';
  }

  async function refresh() {
    try {
      const r = await fetch('v1/status', { cache: 'no-store' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      render(await r.json());
    } catch (err) {
      $('updated').textContent = 'update failed: ' + err.message;
    } finally {
      setTimeout(refresh, refreshMs);
    }
  }

  function setBig(on) {
    document.body.classList.toggle('big', on);
    $('big').checked = on;
    try { localStorage.setItem('pb.big', on ? '1' : '0'); } catch (e) { /* private mode */ }
    if (lastDoc) render(lastDoc);
  }

  document.addEventListener('DOMContentLoaded', () => {
    let big = params.get('big') === '1';
    try { if (!params.has('big')) big = localStorage.getItem('pb.big') === '1'; } catch (e) { /* ignore */ }
    setBig(big);
    $('big').addEventListener('change', (e) => setBig(e.target.checked));
    $('filter').addEventListener('input', () => { if (lastDoc) renderPorts(lastDoc); });
    refresh();
  });
})();
