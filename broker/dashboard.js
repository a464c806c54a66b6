/* portbroker /dashboard: the ops console and catalog (DESIGN.md §8). Renders GET /v1/status every
 * few seconds; a port's page (#port=URN) adds GET /v1/ports/{port} and its sample records
 * (GET /v1/ports/{port}/sample). Everything it shows is computed by the broker (budgets, verdicts,
 * subscriber labels); the script only lays it out. No external resources (the page's CSP allows
 * only this origin); text goes in with textContent only. */
'use strict';
(function () {
  const SVG = 'http://www.w3.org/2000/svg';
  const params = new URLSearchParams(location.search);
  const refreshMs = Math.max(1000, (Number(params.get('refresh')) || 3) * 1000);
  const $ = (id) => document.getElementById(id);
  let lastDoc = null;
  let portsSeq = 0; // bumped by every renderPorts: a newer render stops an older one's chunks
  /* Rows built and laid out in the first frame of the first render; the rest follow in chunks.
   * Measured with bench/bench_console.sh: one frame for 1,000 ports (~24,000 elements) spends
   * ~0.5 s in style and ~0.5 s in layout before anything is painted. */
  const FIRST_ROWS = 80, CHUNK_ROWS = 1200; // a table relayouts on each append: few, large chunks
  const collator = new Intl.Collator('en', { numeric: true }); // localeCompare(a, b, 'en', ...) builds one per call

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
    if (v > 0 && v < 0.01) return v.toExponential(1);
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
  function fmtPct(r) {
    if (r === null || r === undefined) return '–';
    const p = r * 100;
    if (p === 0) return '0 %';
    if (Math.abs(p) < 0.1) return p.toFixed(3) + ' %';
    if (Math.abs(p) < 10) return p.toFixed(1) + ' %';
    return Math.round(p) + ' %';
  }
  function fmtBudget(left) {
    if (left === null || left === undefined) return '';
    return left <= 0 ? 'budget spent' : fmtPct(left) + ' left';
  }
  function fmtRate(v) { // a throughput minimum, records per second or per minute/hour
    if (v >= 1) return fmtNum(v) + '/s';
    if (v * 60 >= 1) return fmtNum(v * 60) + '/min';
    return fmtNum(v * 3600) + '/h';
  }
  const portHref = (fqn) => '#port=' + encodeURIComponent(fqn);

  function sparkline(samples, min) {
    const w = 120, h = 22;
    const s = svg('svg', { class: 'spark', viewBox: '0 0 ' + w + ' ' + h, preserveAspectRatio: 'none' });
    s.appendChild(svg('line', { class: 'base', x1: 0, y1: h - 1, x2: w, y2: h - 1 }));
    const max = Math.max(min || 0, samples.length ? Math.max.apply(null, samples) : 0) || 1;
    if (min) {
      const y = (h - 1 - (min / max) * (h - 3)).toFixed(1);
      s.appendChild(svg('line', { class: 'min', x1: 0, y1: y, x2: w, y2: y }));
    }
    if (samples.length > 1) {
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

  /* One line per lag series: who (the subscribing product), what (routing or its consumers), how
   * far behind, coloured against the input port's freshness SLO. */
  function lagLine(who, l) {
    const line = el('span', 'sub ' + (l.state || 'none'));
    line.appendChild(el('span', 'who', who));
    line.appendChild(document.createTextNode(' ' + (l.role === 'routing' ? 'routing' : l.role === 'consumers' ? 'consumers' : l.subscriber) + ' '));
    line.appendChild(el('span', 'lag', l.known ? fmtNum(l.lagRecords) + ' rec · ' + fmtAge(l.lagSeconds) : 'not measured'));
    line.title = l.subscriber + ' on ' + l.port + (l.freshnessSloSeconds ? ' (freshness SLO ' + fmtAge(l.freshnessSloSeconds) + ')' : '');
    return line;
  }

  function portRow(p) {
    const tr = el('tr', 'port ' + p.state + (p.rejectState === 'red' ? ' rej-red' : ''));
    tr.dataset.fqn = p.fqn;
    tr.dataset.state = p.state;
    tr.dataset.rejectState = p.rejectState || 'none';
    const name = el('td', 'port');
    const a = el('a', 'portlink', p.name);
    a.href = portHref(p.fqn);
    a.title = p.fqn;
    name.appendChild(a);
    name.appendChild(el('span', 'kind ' + p.kind, p.kind === 'output' ? 'out' : 'in'));
    name.appendChild(el('span', 'topic', p.topic));
    tr.appendChild(name);

    const rate = el('td', 'num rate');
    const rv = el('span', 'pill ' + (p.throughputState || 'none'), fmtNum(p.ratePerSecond));
    rate.appendChild(rv);
    if (p.slo && p.slo.throughputMinPerSecond) rate.appendChild(el('span', 'slo', '≥ ' + fmtRate(p.slo.throughputMinPerSecond)));
    rate.appendChild(sparkline(p.samples || [], p.slo && p.slo.throughputMinPerSecond));
    tr.appendChild(rate);

    const fr = el('td', 'fresh');
    fr.appendChild(el('span', 'badge ' + p.state, fmtAge(p.freshnessAgeSeconds)));
    fr.appendChild(el('span', 'slo', p.freshnessSloSeconds ? 'SLO ' + fmtAge(p.freshnessSloSeconds) : 'no SLO'));
    if (p.freshnessBudgetLeft !== null && p.freshnessBudgetLeft !== undefined) {
      const left = p.freshnessBudgetLeft;
      fr.appendChild(el('span', 'budget ' + (left <= 0 ? 'red' : left < 0.25 ? 'amber' : ''), fmtBudget(left)));
    }
    tr.appendChild(fr);

    const rj = el('td', 'rej');
    const rs = p.rejectState || 'none';
    rj.appendChild(el('span', 'pill ' + rs, p.rejectRatio === null ? (p.rejects ? p.rejects : '–') : fmtPct(p.rejectRatio)));
    if (p.slo && p.slo.rejectsMaxRatio !== null) rj.appendChild(el('span', 'slo', 'max ' + fmtPct(p.slo.rejectsMaxRatio)));
    if (p.rejectBudgetLeft !== null && p.rejectBudgetLeft !== undefined && p.rejectRatio !== null)
      rj.appendChild(el('span', 'budget ' + rs, fmtBudget(p.rejectBudgetLeft)));
    rj.title = p.rejects + ' rejected of ' + Object.values(p.records.in).reduce((x, y) => x + y, 0) + ' published since start';
    tr.appendChild(rj);

    tr.appendChild(el('td', 'num dlq' + (p.dlq.total ? ' bad' : ''), p.dlq.total));

    const subs = el('td', 'subs');
    if (p.kind === 'output') {
      for (const s of p.subscribers || []) {
        if (!s.lag.length) subs.appendChild(lagLine(s.product, { state: 'none', known: false, subscriber: 'binding ' + s.binding, port: s.inputPort }));
        for (const l of s.lag) subs.appendChild(lagLine(s.product, l));
      }
    } else {
      for (const l of p.subscriptions) subs.appendChild(lagLine(l.subscriberProduct || l.subscriber, l));
    }
    if (!subs.childNodes.length) subs.appendChild(el('span', 'muted', p.kind === 'output' ? 'no subscriber' : 'not bound'));
    tr.appendChild(subs);
    return tr;
  }

  function groupRow(cls, text, extra, n) {
    const tr = el('tr', 'grp ' + cls);
    const th = el('th', null, text);
    th.colSpan = n;
    th.scope = 'rowgroup';
    if (extra) th.appendChild(el('span', 'muted', extra));
    tr.appendChild(th);
    return tr;
  }

  /* domains -> products -> ports (outputs first), every level sorted by name. */
  function grouped(ports) {
    const doms = new Map();
    for (const p of ports) {
      const d = p.domain || '(no domain)';
      if (!doms.has(d)) doms.set(d, new Map());
      const prods = doms.get(d);
      if (!prods.has(p.product)) prods.set(p.product, []);
      prods.get(p.product).push(p);
    }
    const byName = (a, b) => collator.compare(String(a), String(b));
    return [...doms.keys()].sort(byName).map((d) => [d, [...doms.get(d).entries()].sort((a, b) => byName(a[0], b[0])).map(([urn, ps]) =>
      [urn, ps.sort((a, b) => byName(a.kind === 'output' ? 0 : 1, b.kind === 'output' ? 0 : 1) || byName(a.name, b.name))])]);
  }

  /* The table's rows. progressive (the first render only, when nothing is on screen yet): the
   * first FIRST_ROWS rows now, so the first screen is painted at once, the others appended
   * CHUNK_ROWS at a time in later tasks; done() runs once every row is in. A refresh replaces
   * every row at once, so the page never shrinks under a reader's scroll position. */
  function renderPorts(doc, progressive, done) {
    const q = $('filter').value.trim().toLowerCase();
    const body = document.querySelector('#ports tbody');
    const shown = q ? doc.ports.filter((p) => (p.domain + ' ' + p.productName + ' ' + p.fqn + ' ' + p.topic + ' ' + p.owner).toLowerCase().indexOf(q) >= 0) : doc.ports;
    const rows = []; // builders, in table order
    for (const [domain, prods] of grouped(shown)) {
      let red = 0, n = 0;
      for (const [, ps] of prods) for (const p of ps) { n++; if (p.state === 'red' || p.rejectState === 'red') red++; }
      rows.push(() => groupRow('domain', domain, prods.length + ' products · ' + n + ' ports' + (red ? ' · ' + red + ' red' : ''), 6));
      for (const [urn, ps] of prods) {
        const p0 = ps[0];
        rows.push(() => { const tr = groupRow('product', p0.productName + ' v' + p0.major, p0.owner, 6); tr.dataset.product = urn; return tr; });
        for (const p of ps) rows.push(() => portRow(p));
      }
    }
    const seq = ++portsSeq;
    const build = (from, to) => {
      const frag = document.createDocumentFragment();
      for (let i = from; i < to; i++) frag.appendChild(rows[i]());
      return frag;
    };
    let at = progressive ? Math.min(FIRST_ROWS, rows.length) : rows.length;
    body.replaceChildren(build(0, at));
    const more = () => {
      if (seq !== portsSeq) return; // a newer render replaced the rows
      const to = Math.min(at + CHUNK_ROWS, rows.length);
      body.appendChild(build(at, to));
      at = to;
      if (at < rows.length) setTimeout(more, 0); else if (done) done();
    };
    // The rest after the frame that paints the first rows (a plain timeout would run before it).
    if (at < rows.length) requestAnimationFrame(() => setTimeout(more, 0)); else if (done) done();
    $('empty').hidden = doc.ports.length > 0;
    const s = doc.summary, sum = $('summary');
    sum.replaceChildren();
    sum.appendChild(el('span', 'muted', s.ports + ' ports '));
    for (const k of ['green', 'amber', 'red', 'none'])
      if (s[k]) sum.appendChild(el('span', 'badge ' + k, s[k] + ' ' + (k === 'none' ? 'no SLO' : k)));
    const rejRed = doc.ports.filter((p) => p.rejectState === 'red').length;
    if (rejRed) sum.appendChild(el('span', 'chip red', rejRed + ' reject budget spent'));
  }

  function renderHealth(doc) {
    const h = doc.health, box = $('health');
    box.replaceChildren();
    if (!h) return;
    const k = h.kafka;
    const kc = el('span', 'chip ' + (k.reachable ? 'green' : 'red'), 'Kafka ' + (k.reachable ? 'up' : 'unreachable'));
    kc.title = (k.embedded ? 'embedded cluster ' : '') + k.bootstrap + ' · produce queue ' + k.produceQueue;
    box.appendChild(kc);
    box.appendChild(el('span', 'chip ' + (h.ready ? 'green' : 'red'), h.ready ? 'ready' : 'not ready: ' + (h.reason || '')));
    box.appendChild(el('span', 'chip', 'queue ' + k.produceQueue));
    const up = el('span', 'muted', 'up ' + fmtAge(h.uptimeSeconds));
    up.title = 'portbroker ' + h.version + (k.embedded ? ' · embedded Kafka (in memory)' : '') + ' · registry at ' + h.registry.position;
    box.appendChild(up);
  }

  /* The lineage graph as a layered DAG of products. A product's layer is the longest chain of
   * bindings leading to it (cycles cut after as many passes as there are products); each product
   * is a card with its input ports on the left edge and output ports on the right, so bindings run
   * left to right between cards. Ports no product declares get a column of their own first.
   * Products in a layer are ordered by the mean row of the products feeding them. The SVG scales
   * down to its panel's width (never a sideways scrollbar). */
  function renderGraph(doc, states) {
    const g = $('graph');
    const nodes = doc.lineage.nodes, edges = doc.lineage.edges;
    const products = nodes.filter((n) => n.type === 'product');
    const owner = new Map();
    for (const n of nodes) if (n.type === 'port' && n.product) owner.set(n.id, n.product);
    const feeds = new Map(products.map((p) => [p.id, new Set()]));
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
    const big = document.body.classList.contains('big');
    const W = big ? 290 : 220, headH = big ? 30 : 24, rowH = big ? 28 : 20, gapX = big ? 90 : 70, gapY = 12, pad = 10;
    const orphans = nodes.filter((n) => n.type === 'port' && !(n.product && layer.has(n.product)));
    const shift = orphans.length ? 1 : 0;
    const colX = (c) => pad + c * (W + gapX);
    const pos = new Map(); // id -> {x, y, w, h}
    const cards = [];
    let maxY = pad;
    orphans.forEach((n, i) => { pos.set(n.id, { x: colX(0), y: pad + i * (rowH + 4), w: W, h: rowH - 4 }); maxY = Math.max(maxY, pad + (i + 1) * (rowH + 4)); });
    const byLayer = [];
    for (const p of products) (byLayer[layer.get(p.id)] = byLayer[layer.get(p.id)] || []).push(p);
    const portsOf = new Map(products.map((p) => [p.id, { input: [], output: [] }]));
    for (const n of nodes) if (n.type === 'port' && portsOf.has(n.product)) portsOf.get(n.product)[n.kind].push(n);
    const prow = new Map();
    let cols = shift;
    byLayer.forEach((col, li) => {
      if (!col) return;
      const key = (p) => {
        const ups = [...feeds.get(p.id)].filter((u) => prow.has(u));
        return ups.length ? ups.reduce((a, u) => a + prow.get(u), 0) / ups.length : -1;
      };
      col.sort((a, b) => key(a) - key(b) || (a.name < b.name ? -1 : 1));
      const x = colX(shift + li);
      let y = pad;
      for (const p of col) {
        const ps = portsOf.get(p.id);
        const rows = Math.max(1, ps.input.length + ps.output.length);
        const h = headH + rows * rowH + 4;
        prow.set(p.id, y + h / 2);
        cards.push({ p, x, y, h });
        pos.set(p.id, { x, y, w: W, h: headH });
        let r = 0;
        for (const n of ps.input) pos.set(n.id, { x: x + 4, y: y + headH + (r++) * rowH, w: W * 0.72, h: rowH - 4, side: 'in' });
        for (const n of ps.output) pos.set(n.id, { x: x + W * 0.28 - 4, y: y + headH + (r++) * rowH, w: W * 0.72, h: rowH - 4, side: 'out' });
        y += h + gapY;
      }
      maxY = Math.max(maxY, y);
      cols = shift + li + 1;
    });
    const width = Math.max(colX(cols) - gapX + pad, 200);
    const height = Math.max(maxY + pad, 60);
    g.replaceChildren();
    g.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    g.style.maxWidth = width + 'px';
    const defs = svg('defs', {});
    const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' });
    marker.appendChild(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z' }));
    defs.appendChild(marker);
    g.appendChild(defs);
    for (const c of cards) {
      const r = svg('rect', { class: 'card', x: c.x, y: c.y, width: W, height: c.h, rx: 4 });
      g.appendChild(r);
    }
    const edgeLayer = svg('g', { class: 'edges' });
    const label = (n) => n.type === 'product' ? n.name + ' v' + n.major : (n.name || n.fqn);
    for (const e of edges) {
      if (e.type !== 'binding') continue; // produces/consumes: a port sits in its product's card
      const a = pos.get(e.from), b = pos.get(e.to);
      if (!a || !b) continue;
      const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
      const dx = Math.max(30, (x2 - x1) / 2);
      const path = svg('path', { class: 'edge binding', d: 'M' + x1 + ',' + y1 + ' C' + (x1 + dx) + ',' + y1 + ' ' + (x2 - dx) + ',' + y2 + ' ' + x2 + ',' + y2, 'marker-end': 'url(#arrow)' });
      path.dataset.from = e.from;
      path.dataset.to = e.to;
      path.dataset.binding = e.binding;
      const t = svg('title', {});
      t.textContent = 'binding ' + e.binding + ': ' + e.from + ' → ' + e.to;
      path.appendChild(t);
      edgeLayer.appendChild(path);
      if (e.ratePerSecond) {
        const tx = svg('text', { class: 'rate', x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle' });
        tx.textContent = fmtNum(e.ratePerSecond) + '/s';
        edgeLayer.appendChild(tx);
      }
    }
    for (const n of nodes) {
      const p = pos.get(n.id);
      if (!p) continue;
      const cls = 'node ' + (n.type === 'product' ? 'product' : 'port ' + n.kind) + (n.declared === false ? ' undeclared' : '') + (states.get(n.id) ? ' ' + states.get(n.id) : '');
      const grp = svg('g', { class: cls, transform: 'translate(' + p.x + ',' + p.y + ')' });
      grp.dataset.id = n.id;
      if (n.type !== 'product') grp.appendChild(svg('rect', { width: p.w, height: p.h, rx: p.h / 2 }));
      const text = svg('text', { x: n.type === 'product' ? 8 : p.w / 2, y: p.h / 2 + 4, 'text-anchor': n.type === 'product' ? 'start' : 'middle' });
      let s = label(n);
      const maxc = Math.floor(p.w / (big ? 10 : 7));
      if (s.length > maxc) s = s.slice(0, maxc - 1) + '…';
      text.textContent = s;
      grp.appendChild(text);
      const t = svg('title', {});
      t.textContent = n.fqn + (n.topic ? '\ntopic ' + n.topic : '') + (n.owner ? '\nowner ' + n.owner : '');
      grp.appendChild(t);
      if (n.type === 'port') grp.addEventListener('click', () => { location.hash = portHref(n.fqn); });
      g.appendChild(grp);
    }
    g.appendChild(edgeLayer);
  }

  /* ---- the port page ---- */

  function typeText(t) {
    if (typeof t === 'string') return t;
    if (Array.isArray(t)) return t.map(typeText).join(' | ');
    if (!t || typeof t !== 'object') return String(t);
    if (t.logicalType) {
      let s = t.logicalType;
      if (t.logicalType === 'decimal') s += '(' + t.precision + ',' + (t.scale || 0) + ')';
      return s + ' (' + (t.type === 'fixed' ? 'fixed ' + t.size : t.type) + ')';
    }
    switch (t.type) {
      case 'record': case 'error': return 'record ' + t.name;
      case 'enum': return 'enum ' + t.name + ' {' + t.symbols.join(', ') + '}';
      case 'array': return 'array<' + typeText(t.items) + '>';
      case 'map': return 'map<' + typeText(t.values) + '>';
      case 'fixed': return 'fixed ' + t.name + '(' + t.size + ')';
      default: return typeText(t.type);
    }
  }
  /* Rows [path, type, default, doc] of a record's fields, nested records flattened (bounded). */
  function fieldRows(rec, prefix, out, depth) {
    if (!rec || !Array.isArray(rec.fields) || depth > 8 || out.length > 500) return out;
    for (const f of rec.fields) {
      const path = prefix + f.name;
      out.push([path, typeText(f.type), 'default' in f ? JSON.stringify(f.default) : '', f.doc || '']);
      const branches = Array.isArray(f.type) ? f.type : [f.type];
      for (let b of branches) {
        if (b && b.type === 'array') b = b.items;
        if (b && typeof b === 'object' && b.type === 'record') fieldRows(b, path + '.', out, depth + 1);
      }
    }
    return out;
  }
  function kv(pairs) {
    const dl = el('dl', 'kv');
    for (const [k, v] of pairs) {
      if (v === null || v === undefined || v === '') continue;
      dl.appendChild(el('dt', null, k));
      const dd = el('dd');
      if (v instanceof Node) dd.appendChild(v); else dd.textContent = String(v);
      dl.appendChild(dd);
    }
    return dl;
  }
  function box(title, ...children) {
    const b = el('div', 'card-box');
    b.appendChild(el('h3', null, title));
    for (const c of children) b.appendChild(c);
    return b;
  }
  function link(text, href) { const a = el('a', null, text); a.href = href; return a; }

  async function getJson(url) {
    const r = await fetch(url, { cache: 'no-store' });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    return { status: r.status, body };
  }

  async function openPort(fqn) {
    $('console').hidden = true;
    $('port-page').hidden = false;
    document.body.dataset.page = 'port';
    $('port-title').textContent = fqn;
    const bodyEl = $('port-body');
    bodyEl.replaceChildren(el('p', 'muted', 'loading…'));
    const enc = encodeURIComponent(fqn);
    const [port, sample] = await Promise.all([getJson('v1/ports/' + enc), getJson('v1/ports/' + enc + '/sample?limit=5')]);
    if (decodeURIComponent((location.hash.match(/^#port=(.*)$/) || [])[1] || '') !== fqn) return; // navigated away
    if (port.status !== 200 || !port.body) {
      bodyEl.replaceChildren(el('p', 'bad', 'GET /v1/ports/' + fqn + ': HTTP ' + port.status + (port.body && port.body.message ? ' — ' + port.body.message : '')));
      return;
    }
    const p = port.body;
    const st = lastDoc ? lastDoc.ports.find((x) => x.fqn === fqn) : null;
    $('port-title').textContent = (st ? st.productName : p.product) + ' v' + p.major + ' · ' + p.name + ' (' + p.kind + ' port)';
    const grid = el('div', 'grid');
    grid.appendChild(box('Port', kv([
      ['URN', p.fqn], ['product', link(p.product, 'v1/products/' + encodeURIComponent(p.product))], ['owner', p.owner], ['domain', st && st.domain],
      ['version', p.version], ['topic', p.topic], ['partitions', p.partitions], ['DLQ topic', p.dlqTopic],
      ['subject', p.subject], ['compatibility', p.compatibility], ['from', p.from],
    ])));
    const sloPairs = [];
    if (st) {
      sloPairs.push(['freshness', st.freshnessSloSeconds ? 'SLO ' + fmtAge(st.freshnessSloSeconds) + ' · now ' + fmtAge(st.freshnessAgeSeconds) + ' (' + st.state + ')' + (st.freshnessBudgetLeft !== null ? ' · ' + fmtBudget(st.freshnessBudgetLeft) : '') : 'no SLO']);
      sloPairs.push(['throughput', (st.slo.throughputMinPerSecond ? 'min ' + fmtRate(st.slo.throughputMinPerSecond) + ' · ' : '') + 'now ' + fmtNum(st.ratePerSecond) + '/s']);
      sloPairs.push(['rejects', (st.slo.rejectsMaxRatio !== null ? 'max ' + fmtPct(st.slo.rejectsMaxRatio) + ' · ' : 'no SLO · ') + st.rejects + ' rejected (' + fmtPct(st.rejectRatio) + ')' + (st.rejectBudgetLeft !== null && st.rejectRatio !== null ? ' · ' + fmtBudget(st.rejectBudgetLeft) : '')]);
      sloPairs.push(['dead letters', st.dlq.total]);
    }
    grid.appendChild(box('SLOs', kv(sloPairs)));
    const vers = el('ul');
    for (const v of p.schemas || []) {
      const li = el('li', null, 'version ' + v.version + ' · ');
      li.appendChild(link('schema id ' + v.id, 'schemas/ids/' + v.id));
      vers.appendChild(li);
    }
    grid.appendChild(box('Versions', vers));
    const subs = el('div');
    if (st && st.kind === 'output') {
      for (const s of st.subscribers || []) {
        const line = el('div');
        line.appendChild(link(s.product, portHref(s.inputPort)));
        for (const l of s.lag) line.appendChild(lagLine('', l));
        subs.appendChild(line);
      }
    } else if (st) {
      for (const l of st.subscriptions) subs.appendChild(lagLine(l.subscriberProduct, l));
    }
    if (!subs.childNodes.length) subs.appendChild(el('p', 'muted', st && st.kind === 'input' ? 'not bound' : 'no subscriber'));
    grid.appendChild(box(st && st.kind === 'input' ? 'Subscription' : 'Subscribers', subs));
    bodyEl.replaceChildren(grid);

    const schema = p.schema || {};
    const ft = el('table', 'fields');
    const head = el('tr');
    for (const h of ['field', 'type', 'default', 'doc']) head.appendChild(el('th', null, h));
    ft.appendChild(el('thead')).appendChild(head);
    const tb = el('tbody');
    for (const row of fieldRows(schema, '', [], 0)) {
      const tr = el('tr');
      tr.appendChild(el('td', 'path', row[0]));
      tr.appendChild(el('td', 'type', row[1]));
      tr.appendChild(el('td', null, row[2]));
      tr.appendChild(el('td', null, row[3]));
      tb.appendChild(tr);
    }
    ft.appendChild(tb);
    const sbox = box('Schema ' + (schema.namespace ? schema.namespace + '.' : '') + (schema.name || ''), el('p', 'muted', schema.doc || ''), ft);
    sbox.id = 'port-schema';
    bodyEl.appendChild(sbox);

    const samp = el('div');
    samp.id = 'port-sample';
    if (sample.status === 200 && sample.body) {
      const recs = sample.body.records || [];
      samp.appendChild(el('p', 'sample-meta', recs.length ? 'the last ' + recs.length + ' records of ' + p.topic + ' (newest first)' : 'no records in ' + p.topic + ' yet'));
      for (const r of recs) {
        samp.appendChild(el('div', 'sample-meta', 'partition ' + r.partition + ' · offset ' + r.offset + ' · ' + (r.time || '') + (r.schema_id ? ' · schema id ' + r.schema_id : '')));
        samp.appendChild(el('pre', 'record', JSON.stringify(r.value, null, 1)));
      }
    } else {
      samp.appendChild(el('p', 'muted', 'sample data: HTTP ' + sample.status + (sample.body && sample.body.message ? ' — ' + sample.body.message : '')));
    }
    bodyEl.appendChild(box('Sample records', samp));
    document.body.dataset.portLoaded = fqn;
  }

  function closePort() {
    $('port-page').hidden = true;
    $('console').hidden = false;
    document.body.dataset.page = 'console';
    delete document.body.dataset.portLoaded;
  }

  function route() {
    const m = location.hash.match(/^#port=(.+)$/);
    if (m) openPort(decodeURIComponent(m[1])).catch((e) => { $('port-body').replaceChildren(el('p', 'bad', String(e))); });
    else closePort();
  }

  /* The table's header sticks just below the page header, whatever height that has. Set when the
   * header's size changes (ResizeObserver): reading offsetHeight in render() forced a layout of the
   * whole table in the middle of the script, every refresh. */
  function stickHead() {
    const header = document.querySelector('header');
    const set = (h) => document.documentElement.style.setProperty('--head', Math.round(h) + 'px');
    if (typeof ResizeObserver === 'undefined') { set(header.offsetHeight); return; }
    new ResizeObserver((es) => { for (const e of es) set(e.target.offsetHeight); }).observe(header);
  }

  function render(doc) {
    lastDoc = doc;
    const first = !document.body.dataset.loaded;
    if (first) {
      performance.mark('pb-render-start');
      // First render = the frame that paints the first rows (style and layout included): the
      // first task after it (registered before renderPorts' next chunk, so it runs first).
      requestAnimationFrame(() => setTimeout(() => performance.mark('pb-first-render'), 0));
    }
    renderHealth(doc);
    const graph = () => {
      renderGraph(doc, new Map(doc.ports.map((p) => [p.fqn, p.state])));
      if (first) performance.mark('pb-graph-built');
    };
    // First render: the graph (below the table) once every row is in, out of the first frame.
    renderPorts(doc, first, first ? () => { performance.mark('pb-all-rows'); graph(); } : null);
    if (first) performance.mark('pb-ports-built');
    else graph();
    $('updated').textContent = new Date().toLocaleTimeString();
    if (!document.body.dataset.loaded) {
      document.body.dataset.loaded = 'true';
    }
  }

  async function refresh() {
    try {
      const r = await fetch('v1/status', { cache: 'no-store' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const doc = await r.json();
      if (!document.body.dataset.loaded) performance.mark('pb-status-parsed');
      render(doc);
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
    $('port-back').addEventListener('click', (e) => { e.preventDefault(); history.pushState(null, '', location.pathname + location.search); closePort(); });
    window.addEventListener('hashchange', route);
    stickHead();
    route();
    refresh();
  });
})();
