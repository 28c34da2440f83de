/**
 * The admin page: one self-contained HTML document (inline CSS and script, no framework, charts
 * drawn on <canvas>). It asks for the admin secret once (kept in sessionStorage), then polls
 * /admin/api/* every second. Counters arrive as totals; the page turns them into rates.
 *
 * Everything the API returns is data, never markup: node names, channel names, client and user ids
 * and every other field may come from a hostile peer or client, so the script builds the tables
 * with createElement/textContent only (no innerHTML, no HTML built from strings).
 */
export const ADMIN_PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard admin</title>
<style>
  :root { --bg:#0f1419; --panel:#171d24; --line:#26303b; --text:#dce3ea; --muted:#8b98a5; --accent:#4fb3ff; --accent2:#7ee081; --warn:#ffb454; --bad:#ff6b6b; }
  * { box-sizing: border-box; }
  html { -webkit-text-size-adjust: 100%; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:center; flex-wrap:wrap; gap:8px 16px; padding:14px 24px; border-bottom:1px solid var(--line); background:#121820; }
  header h1 { font-size:17px; margin:0; font-weight:600; letter-spacing:.2px; }
  header .meta { color:var(--muted); font-size:13px; }
  header label.meta { display:flex; align-items:center; gap:6px; }
  .dot { width:9px; height:9px; border-radius:50%; background:var(--accent2); display:inline-block; margin-right:6px; }
  .dot.off { background:var(--bad); }
  main { padding:20px 24px; display:grid; gap:16px; grid-template-columns: repeat(12, minmax(0, 1fr)); max-width:1400px; margin:0 auto; }
  .card { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:14px 16px; min-width:0; }
  .kpi { grid-column: span 3; }
  .kpi .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.6px; }
  .kpi .value { font-size:28px; font-weight:600; margin-top:4px; font-variant-numeric: tabular-nums; }
  .kpi .sub { color:var(--muted); font-size:12px; overflow-wrap:anywhere; }
  .scope { display:inline-block; font-size:11px; text-transform:none; letter-spacing:0; padding:0 6px; border-radius:8px; background:#223041; color:var(--accent); margin-left:4px; overflow-wrap:anywhere; }
  .scope.node { background:#2b2a1d; color:var(--warn); }
  .chart { grid-column: span 6; }
  .wide { grid-column: span 7; }
  .narrow { grid-column: span 5; }
  .full { grid-column: 1 / -1; }
  h2 { font-size:13px; margin:0 0 10px; color:var(--muted); font-weight:600; text-transform:uppercase; letter-spacing:.6px; }
  canvas { width:100%; height:180px; display:block; }
  .scroll { overflow-x:auto; max-width:100%; }
  table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--muted); font-weight:500; font-size:12px; }
  td.num, th.num { text-align:right; }
  .bar { height:6px; background:var(--accent); border-radius:3px; }
  .pill { font-size:11px; padding:1px 7px; border-radius:10px; background:#223041; color:var(--accent); }
  .pill.stale { background:#3a2a1a; color:var(--warn); }
  form { display:flex; gap:8px; flex-wrap:wrap; align-items:center; }
  input, select, button { font:inherit; color:var(--text); background:#0f151b; border:1px solid var(--line); border-radius:6px; padding:7px 10px; max-width:100%; }
  input { flex:1; min-width:140px; }
  input[type=checkbox] { flex:none; min-width:0; }
  button { background:#1f6feb; border-color:#1f6feb; cursor:pointer; }
  button:disabled { opacity:.45; cursor:default; }
  button.danger { background:#8b2c2c; border-color:#a33; }
  .muted { color:var(--muted); }
  tr.sfu-room td { background:#1b2430; font-weight:600; }
  tr.sfu-participant td:first-child { padding-left:18px; }
  tr.sfu-producer td:first-child, tr.sfu-consumer td:first-child { padding-left:32px; color:var(--muted); }
  .pager { display:flex; gap:8px; align-items:center; flex-wrap:wrap; margin-top:10px; }
  #login { position:fixed; inset:0; background:rgba(8,10,14,.92); display:none; align-items:center; justify-content:center; padding:12px; }
  #login .card { width:360px; max-width:100%; }
  #error, #conn-error { color:var(--warn); min-height:1.2em; margin:8px 0 4px; overflow-wrap:anywhere; }
  @media (max-width: 900px) {
    .kpi { grid-column: span 6; }
    .chart, .wide, .narrow { grid-column: 1 / -1; }
  }
  @media (max-width: 520px) {
    header { padding:10px 12px; }
    main { padding:12px; gap:12px; grid-template-columns: minmax(0, 1fr); }
    .kpi, .chart, .wide, .narrow, .full { grid-column: 1 / -1; }
    .kpi .value { font-size:24px; }
  }
</style>
<link rel="icon" href="data:,">
</head>
<body>
<header>
  <h1>Switchboard</h1>
  <span class="meta"><span id="status" class="dot off"></span><span id="node">—</span></span>
  <label class="meta" title="Whose per-node figures to show. Behind a balancer each request may reach another node; the request names this node and is forwarded to it.">node <select id="pick"></select></label>
  <span class="meta" id="broker"></span>
  <span class="meta" id="uptime"></span>
  <span class="meta" id="away" style="color:var(--warn)"></span>
</header>
<main>
  <div class="card kpi"><div class="label">Connections <span class="scope" id="s-conn">cluster</span></div><div class="value" id="k-conn">—</div><div class="sub" id="k-cap"></div></div>
  <div class="card kpi"><div class="label">Messages in / s <span class="scope node" data-node-scope></span></div><div class="value" id="k-in">—</div><div class="sub">client transport messages</div></div>
  <div class="card kpi"><div class="label">Deliveries / s <span class="scope" id="s-out">cluster</span></div><div class="value" id="k-out">—</div><div class="sub" id="k-pub"></div></div>
  <div class="card kpi"><div class="label">Channels <span class="scope node" data-node-scope></span></div><div class="value" id="k-ch">—</div><div class="sub" id="k-mem"></div></div>
  <div class="card chart"><h2>Connections <span class="muted" style="text-transform:none">— <span style="color:var(--accent)">cluster</span> · <span style="color:var(--warn)">this node</span></span></h2><canvas id="c-conn"></canvas></div>
  <div class="card chart"><h2>Messages / s <span class="scope node" data-node-scope></span> <span class="muted" style="text-transform:none">— <span style="color:var(--accent)">in</span> · <span style="color:var(--accent2)">delivered</span></span></h2><canvas id="c-msg"></canvas></div>
  <div class="card wide"><h2>Cluster nodes <span class="scope">cluster registry</span></h2><div class="scroll"><table><thead><tr><th>node</th><th class="num">connections</th><th class="num">channels</th><th class="num">publishes</th><th class="num">RSS</th><th class="num">uptime</th><th>state</th></tr></thead><tbody id="nodes"></tbody></table></div></div>
  <div class="card narrow"><h2>Busiest channels <span class="scope" id="s-ch">cluster</span></h2><div class="scroll"><table><thead><tr><th>channel</th><th class="num">subscribers</th><th style="width:40%"></th></tr></thead><tbody id="channels"></tbody></table></div><div class="muted" id="ch-note"></div></div>
  <div class="card full" style="display: none" id="consumers-card"><h2>Event consumers <span class="scope node" data-node-scope></span></h2><div class="scroll"><table><thead><tr><th>consumer</th><th>kind</th><th>state</th><th class="num">lag</th><th class="num">backlog</th><th class="num">published / s</th><th class="num">published</th><th class="num">dead letters</th><th class="num">errors</th><th class="num">forwarded</th></tr></thead><tbody id="consumers"></tbody></table></div></div>
  <div class="card full" style="display: none" id="sfu-card">
    <h2>SFU rooms <span class="scope node" data-node-scope></span></h2>
    <div class="muted" id="sfu-summary"></div>
    <div class="scroll"><table><thead><tr><th>room / participant</th><th>stream</th><th>kind</th><th>layer</th><th class="num">resolution</th><th class="num">bitrate</th><th class="num">packets</th><th class="num">NACKs</th><th class="num">PLIs</th><th>state</th></tr></thead><tbody id="sfu"></tbody></table></div>
    <div class="muted" id="sfu-note"></div>
  </div>
  <div class="card full" id="conn-card">
    <h2>Connections <span class="scope node" data-node-scope></span></h2>
    <form id="conn-filter"><input id="conn-user" placeholder="user id (empty: everyone)" autocomplete="off" maxlength="256"><label class="muted"><input id="conn-anon" type="checkbox"> anonymous only</label><select id="conn-size" aria-label="page size"><option>10</option><option>25</option><option selected>50</option><option>100</option><option>200</option></select><button type="submit">List</button></form>
    <div id="conn-error"></div>
    <div class="scroll"><table><thead><tr><th>client</th><th>user</th><th>transport</th><th>remote address</th><th>connected since</th><th class="num">channels</th><th></th></tr></thead><tbody id="conns"><tr><td colspan="7" class="muted">Loading…</td></tr></tbody></table></div>
    <div class="pager"><button type="button" id="conn-prev" disabled>‹ Prev</button><button type="button" id="conn-next" disabled>Next ›</button><span class="muted" id="conn-range"></span></div>
  </div>
  <div class="card full">
    <h2>Client lookup <span class="scope node" data-node-scope></span></h2>
    <form id="lookup"><select id="by"><option value="client">client id</option><option value="user">user id</option></select><input id="q" placeholder="client or user id" autocomplete="off"><button type="submit">Look up</button></form>
    <div id="error"></div>
    <div class="scroll"><table><thead><tr><th>client</th><th>user</th><th>transport</th><th>address</th><th class="num">connected</th><th class="num">queued</th><th>subscriptions</th><th></th></tr></thead><tbody id="clients"><tr><td colspan="8" class="muted">Search by client id or user id (user ids are looked up on every node through the registry).</td></tr></tbody></table></div>
  </div>
</main>
<div id="login"><form class="card" id="login-form" style="display:block"><h2>Admin secret</h2><p class="muted">The node printed it at start in dev mode, or it is <code>SWITCHBOARD_ADMIN_SECRET</code>.</p><input id="secret" type="password" style="width:100%" autofocus><p><button type="submit">Open</button></p><div id="login-error" style="color:var(--bad)"></div></form></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const KEY = 'switchboard-admin-secret';
const PIN = 'switchboard-admin-node';
const store = {
  get(k) { try { return sessionStorage.getItem(k); } catch (e) { return null; } },
  set(k, v) { try { sessionStorage.setItem(k, v); } catch (e) { /* storage off: kept in memory only */ } },
};
let secret = store.get(KEY) || new URLSearchParams(location.hash.slice(1)).get('secret') || '';
/** The node whose per-node figures are shown ('' until the first answer names one). */
let pinned = store.get(PIN) || '';
let points = [];
const POINTS = 120;
let prev = null;
/** Per node of the registry: its last report (time, deliveries, publishes) and the rates derived from it. */
const reports = new Map();
let ticking = false;
let listed = false;
/** Why the figures are not the picked node's (it left or does not answer); cleared by a new pick. */
let awayNote = '';

function num(v) { const n = Number(v); return Number.isFinite(n) ? n : 0; }
function fmt(n) { n = Number(n); return n >= 1e6 ? (n / 1e6).toFixed(1) + 'M' : n >= 1e4 ? (n / 1e3).toFixed(1) + 'k' : String(Math.round(n)); }
function bytes(n) { return n >= 1073741824 ? (n / 1073741824).toFixed(1) + ' GiB' : (n / 1048576).toFixed(0) + ' MiB'; }
function dur(s) { return s >= 86400 ? Math.floor(s / 86400) + 'd' : s >= 3600 ? Math.floor(s / 3600) + 'h' : s >= 60 ? Math.floor(s / 60) + 'm' : s + 's'; }
function when(ms) { const d = new Date(Number(ms)); return Number.isFinite(d.getTime()) ? d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : String(ms); }
// DOM building only: text always goes in through textContent, so it can never become markup.
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
function td(text, cls) { return el('td', text, cls); }
function tdWith(child, cls) { const t = el('td', undefined, cls); t.append(child); return t; }
function tr(cells) { const r = document.createElement('tr'); r.append(...cells); return r; }
function note(text, span) { const t = td(text, 'muted'); t.colSpan = span; return tr([t]); }
function disconnectButton(client) { const b = el('button', 'Disconnect', 'danger'); b.dataset.client = String(client); return tdWith(b); }
function userText(u) { return u === '' || u === undefined || u === null ? '(anonymous)' : String(u); }
function withNode(path) { return pinned ? path + (path.includes('?') ? '&' : '?') + 'node=' + encodeURIComponent(pinned) : path; }

class Unauthorized extends Error {}
async function call(path, init) {
  const res = await fetch('/admin/api/' + path, { ...init, headers: { 'X-Admin-Secret': secret, 'Content-Type': 'application/json' } });
  let body;
  try { body = await res.json(); } catch (e) { body = { error: { code: res.status, message: 'not JSON (HTTP ' + res.status + ')' } }; }
  if (res.status === 401 || res.status === 403) { showLogin(body && body.error ? body.error.message : ''); throw new Unauthorized('unauthorized'); }
  return body;
}
/** Runs an async UI action; an error is shown where "out" says, never left uncaught. */
function guarded(fn, out) {
  return (e) => { if (e && e.preventDefault) e.preventDefault(); Promise.resolve().then(fn).catch((err) => { if (!(err instanceof Unauthorized) && out) out.textContent = String(err && err.message || err); }); };
}

function showLogin(msg) { $('login').style.display = 'flex'; $('login-error').textContent = msg || ''; }
$('login-form').addEventListener('submit', (e) => { e.preventDefault(); secret = $('secret').value; store.set(KEY, secret); $('login').style.display = 'none'; listed = false; tick(); });

/**
 * Y-axis ticks for values up to "max": a 1-2-5 step (whole numbers for counts below 1), labels
 * with as many decimals as the step needs, and never one label twice.
 */
function ticks(max) {
  const top0 = Math.max(1, max);
  const raw = top0 / 4;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const norm = raw / mag;
  const step = Math.max(1, (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag);
  const top = Math.ceil(top0 / step) * step;
  const label = (v) => v >= 1e6 ? +(v / 1e6).toFixed(step >= 1e6 ? 0 : step >= 1e5 ? 1 : 2) + 'M' : v >= 1e4 ? +(v / 1e3).toFixed(step >= 1e3 ? 0 : 1) + 'k' : String(Math.round(v));
  const out = [];
  for (let v = 0; v <= top + step / 2; v += step) {
    const l = label(v);
    if (out.length && out[out.length - 1].label === l) continue;
    out.push({ value: v, label: l });
  }
  return { top, ticks: out };
}

function draw(canvas, series, colors) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (!w || !h) return;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const g = canvas.getContext('2d');
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const t = ticks(Math.max(0, ...series.flat().map(num)) * 1.1);
  const left = 44, top = 8, bottom = h - 18;
  const y = (v) => bottom - ((bottom - top) * v) / t.top;
  g.strokeStyle = '#26303b'; g.fillStyle = '#8b98a5'; g.font = '11px system-ui'; g.lineWidth = 1;
  for (const k of t.ticks) {
    const yy = y(k.value);
    g.beginPath(); g.moveTo(left, yy); g.lineTo(w, yy); g.stroke();
    g.fillText(k.label, 4, yy + 4);
  }
  // Drawn labels, readable by tests (the canvas itself is pixels).
  canvas.dataset.yLabels = t.ticks.map((k) => k.label).join('|');
  canvas.dataset.xLabels = ['−' + POINTS + ' s', 'now'].join('|');
  g.fillText('−' + POINTS + ' s', left, h - 4); g.fillText('now', w - 24, h - 4);
  series.forEach((pts, k) => {
    if (pts.length < 2) return;
    const x = (i) => left + ((w - left) * (POINTS - pts.length + i)) / (POINTS - 1);
    g.beginPath(); pts.forEach((v, i) => (i ? g.lineTo(x(i), y(num(v))) : g.moveTo(x(i), y(num(v)))));
    g.strokeStyle = colors[k]; g.lineWidth = 2; g.stroke();
    g.lineTo(x(pts.length - 1), bottom); g.lineTo(x(0), bottom); g.closePath();
    g.fillStyle = colors[k] + '22'; g.fill();
  });
}

/** Cluster-wide figures from the registry: live nodes' connections summed, and their delivery/publish rates from consecutive reports. */
function clusterFigures(nodes) {
  let connections = 0, deliveries = 0, publishes = 0, live = 0;
  const seen = new Set();
  for (const n of nodes) {
    seen.add(n.name);
    if (n.stale) continue;
    live++;
    connections += num(n.connections);
    const r = reports.get(n.name);
    const t = num(n.time);
    if (r && t > r.time) {
      const dt = (t - r.time) / 1000;
      r.deliveryRate = Math.max(0, (num(n.deliveries) - r.deliveries) / dt);
      r.publishRate = Math.max(0, (num(n.publishes) - r.publishes) / dt);
    }
    if (!r || t > r.time) reports.set(n.name, { time: t, deliveries: num(n.deliveries), publishes: num(n.publishes), deliveryRate: r ? r.deliveryRate : 0, publishRate: r ? r.publishRate : 0 });
    const cur = reports.get(n.name);
    deliveries += cur.deliveryRate; publishes += cur.publishRate;
  }
  for (const k of [...reports.keys()]) if (!seen.has(k)) reports.delete(k);
  return { connections, deliveries, publishes, live, total: nodes.length };
}

function renderPicker(nodes, answered) {
  const names = nodes.map((n) => String(n.name));
  if (!names.includes(answered)) names.push(answered);
  const sel = $('pick');
  const cur = JSON.stringify([...sel.options].map((o) => o.value));
  if (cur !== JSON.stringify(names)) sel.replaceChildren(...names.map((n) => { const o = el('option', n); o.value = n; return o; }));
  sel.value = pinned || answered;
}
$('pick').addEventListener('change', (e) => { pinned = e.target.value; awayNote = ''; store.set(PIN, pinned); points = []; prev = null; tick(); conn.stack = []; conn.cursor = ''; guarded(listConnections, $('conn-error'))(); });

async function tick() {
  if (!secret) return showLogin();
  if (ticking) return;
  ticking = true;
  try {
    let s = await call(withNode('stats'));
    // The pinned node left the registry or does not answer: show whichever node answers, and say so.
    if (s.error && pinned && (s.error.code === 404 || s.error.code === 502)) { awayNote = 'showing another node: ' + pinned + ' — ' + s.error.message; pinned = ''; s = await call('stats'); }
    if (s.error) throw new Error(s.error.message);
    const [c, ch] = await Promise.all([call('cluster'), call('channels?n=10&scope=cluster')]);
    if (!pinned) { pinned = String(s.node); store.set(PIN, pinned); }
    $('away').textContent = awayNote;
    // The list waits for the first answer, so that it asks the same node the figures come from.
    if (!listed) { listed = true; guarded(listConnections, $('conn-error'))(); }
    const nodeLabel = 'this node (' + s.node + ')';
    for (const x of document.querySelectorAll('[data-node-scope]')) x.textContent = nodeLabel;
    renderPicker(c.nodes || [], String(s.node));
    $('status').className = 'dot' + (s.draining ? ' off' : '');
    $('node').textContent = s.node + (s.draining ? ' (draining)' : '');
    $('broker').textContent = 'broker: ' + s.broker;
    $('uptime').textContent = 'up ' + dur(s.uptime);
    let inRate = 0, outRate = 0, pubRate = 0;
    const cs = s.consumers || [];
    $('consumers-card').style.display = cs.length === 0 ? 'none' : '';
    $('consumers').replaceChildren(...cs.map((x) => {
      const before = prev && (prev.consumers || []).find((p) => p.name === x.name);
      const rate = before ? (x.published - before.published) / Math.max(0.001, (s.time - prev.time) / 1000) : 0;
      return tr([td(x.name), td(x.kind), tdWith(el('span', x.up ? 'up' : 'down', x.up ? 'pill' : 'pill stale')), td(dur(Math.round(x.lagSeconds)), 'num'), td(fmt(x.backlog), 'num'), td(fmt(rate), 'num'), td(fmt(x.published), 'num'), td(fmt(x.deadLetters), 'num'), td(fmt(x.errors), 'num'), td(fmt(x.forwarded || 0), 'num')]);
    }));
    // The SFU section (every 2 s): its own errors stay in its note.
    refreshSfu().catch((err) => { if (!(err instanceof Unauthorized)) $('sfu-note').textContent = String(err && err.message || err); });
    // Rates only between two answers of the same node (a balancer may have answered from another).
    if (prev && prev.node === s.node && s.time > prev.time) {
      const dt = (s.time - prev.time) / 1000;
      inRate = (s.messagesIn - prev.messagesIn) / dt; outRate = (s.deliveries - prev.deliveries) / dt; pubRate = (s.publishes - prev.publishes) / dt;
    } else if (prev && prev.node !== s.node) points = [];
    prev = s;
    const cl = clusterFigures(c.nodes || []);
    const nodesText = cl.live + ' of ' + cl.total + ' node' + (cl.total === 1 ? '' : 's') + ' reporting';
    points.push({ cluster: cl.connections, conn: s.connections, in: inRate, out: outRate });
    if (points.length > POINTS) points.shift();
    $('k-conn').textContent = fmt(cl.connections);
    $('s-conn').textContent = 'cluster · ' + nodesText;
    $('k-cap').textContent = nodeLabel + ': ' + fmt(s.connections) + ' (' + ((100 * s.connections) / s.maxConnections).toFixed(1) + '% of ' + fmt(s.maxConnections) + ') · ' + Object.entries(s.byTransport).map(([k, v]) => k + ' ' + v).join(', ');
    $('k-in').textContent = fmt(inRate);
    $('k-out').textContent = fmt(cl.deliveries);
    $('s-out').textContent = 'cluster · ' + nodesText;
    $('k-pub').textContent = fmt(cl.publishes) + ' publishes / s cluster · ' + nodeLabel + ': ' + fmt(outRate) + ' deliveries / s, ' + fmt(pubRate) + ' publishes / s';
    $('k-ch').textContent = fmt(s.channels);
    $('k-mem').textContent = 'RSS ' + bytes(s.rssBytes);
    draw($('c-conn'), [points.map((p) => p.cluster), points.map((p) => p.conn)], ['#4fb3ff', '#ffb454']);
    draw($('c-msg'), [points.map((p) => p.in), points.map((p) => p.out)], ['#4fb3ff', '#7ee081']);
    $('nodes').replaceChildren(...(c.nodes || []).map((n) => {
      const state = n.stale ? 'stale' : n.draining ? 'draining' : 'live';
      return tr([td(n.name), td(fmt(n.connections), 'num'), td(fmt(n.channels), 'num'), td(fmt(n.publishes), 'num'), td(bytes(n.rssBytes), 'num'), td(dur(n.uptime), 'num'), tdWith(el('span', state, state === 'live' ? 'pill' : 'pill stale'))]);
    }));
    const list = ch.channels || [];
    const top = Math.max(1, ...list.map((x) => num(x.subscribers)));
    $('s-ch').textContent = ch.scope === 'cluster' ? 'cluster · from node reports' : nodeLabel;
    $('ch-note').textContent = ch.partial ? 'Partial: some node has more channels than it reports; small ones may be missing from the sums.' : (ch.staleNodes || []).length ? 'Not counted (stale): ' + ch.staleNodes.join(', ') : '';
    $('channels').replaceChildren(...(list.length ? list.map((x) => {
      const bar = el('div', undefined, 'bar');
      bar.style.width = ((100 * num(x.subscribers)) / top).toFixed(0) + '%';
      return tr([td(x.channel), td(fmt(x.subscribers), 'num'), tdWith(bar)]);
    }) : [note('No channels.', 3)]));
  } catch (e) {
    $('status').className = 'dot off';
  } finally {
    ticking = false;
  }
}

// ---- the SFU: rooms → participants → producers (publishes) and consumers (receives) ----------
function bps(n) { n = num(n); return n >= 1e6 ? (n / 1e6).toFixed(2) + ' Mbit/s' : (n / 1e3).toFixed(0) + ' kbit/s'; }
function size(x) { return x.width && x.height ? num(x.width) + '×' + num(x.height) : '—'; }
function sfuRow(kind, cells) { const r = tr(cells); r.className = 'sfu-' + kind; return r; }
let sfuAt = 0;
async function refreshSfu() {
  if (Date.now() - sfuAt < 1900) return;
  sfuAt = Date.now();
  const r = await call(withNode('sfu?rooms=20&participants=32'));
  const card = $('sfu-card');
  if (r.error || !r.enabled) { card.style.display = r.error ? '' : 'none'; $('sfu-note').textContent = r.error ? String(r.error.message) : ''; if (r.error) $('sfu').replaceChildren(); return; }
  card.style.display = '';
  const st = r.stats || {};
  $('sfu-summary').textContent = fmt(r.totalRooms) + ' room' + (num(r.totalRooms) === 1 ? '' : 's') + (r.stats ? ' · ' + fmt(st.participants) + ' participants · ' + fmt(st.producers) + ' tracks · ' + fmt(st.consumers) + ' consumers · ' + fmt(st.packetsForwarded) + ' packets forwarded · ' + fmt(st.packetsRetransmitted) + ' retransmitted' : '');
  const rows = [];
  for (const room of r.rooms || []) {
    const head = td(room.room);
    const count = td(fmt(room.participantCount) + ' participant' + (num(room.participantCount) === 1 ? '' : 's') + ((room.participants || []).length < num(room.participantCount) ? ' (' + (room.participants || []).length + ' shown)' : ''), 'muted');
    count.colSpan = 9;
    rows.push(sfuRow('room', [head, count]));
    for (const p of room.participants || []) {
      const d = p.downlink;
      const who = td(p.client);
      const user = td('user ' + userText(p.user));
      user.colSpan = 4;
      rows.push(sfuRow('participant', [who, user, td(d ? 'downlink ' + bps(d.estimateBps) : 'no downlink estimate', 'num'), td(d ? 'wants ' + bps(d.desiredBps) : '', 'muted'), td(''), td(''), td('')]));
      for (const x of p.producers || []) {
        const layer = x.rid !== undefined ? x.rid + ' (' + num(x.spatial) + ')' : 'single';
        rows.push(sfuRow('producer', [td('↑ publishes'), td(x.track), td(x.kind), td(layer), td(size(x), 'num'), td(bps(x.bitrate), 'num'), td(fmt(x.packets), 'num'), td(fmt(x.nacks), 'num'), td(fmt(x.plis), 'num'), td(x.dynacastPaused ? 'paused (dynacast)' : 'live · ' + fmt(x.consumers) + ' receiving')]));
      }
      for (const x of p.consumers || []) {
        const cur = num(x.spatial) < 0 ? 'none' : x.rid !== undefined ? x.rid + ' (' + num(x.spatial) + ')' : num(x.maxSpatial) > 0 ? String(num(x.spatial)) : 'single';
        const layer = num(x.maxSpatial) > 0 ? cur + ' → ' + num(x.targetSpatial) + ' of 0–' + num(x.maxSpatial) : cur;
        const state = x.paused ? 'paused' : x.active ? 'forwarding' : 'negotiating';
        rows.push(sfuRow('consumer', [td('↓ receives'), td(x.track + ' from ' + userText(x.publisherUser)), td(x.kind), td(layer), td(size(x), 'num'), td(bps(x.bitrate), 'num'), td(fmt(x.packets) + (num(x.retransmitted) ? ' +' + fmt(x.retransmitted) + ' rtx' : ''), 'num'), td(fmt(x.nacks), 'num'), td(fmt(x.plis), 'num'), td(state + (num(x.switches) ? ' · ' + fmt(x.switches) + ' switches' : ''))]));
      }
    }
  }
  $('sfu').replaceChildren(...(rows.length ? rows : [note('No SFU rooms on this node.', 10)]));
  $('sfu-note').textContent = r.truncated ? 'Not everything is shown: the largest 20 rooms and up to 32 participants of each.' : '';
}

// ---- the paged connection list (one node's; cursor paging, Prev from a stack of cursors) -----
const conn = { cursor: '', stack: [], next: '' };
async function listConnections() {
  if (!secret) return;
  $('conn-error').textContent = '';
  const user = $('conn-user').value;
  const q = new URLSearchParams({ limit: $('conn-size').value });
  if ($('conn-anon').checked) q.set('anonymous', '1');
  else if (user !== '') q.set('user', user);
  if (conn.cursor) q.set('cursor', conn.cursor);
  else if (pinned) q.set('node', pinned);
  const r = await call('connections?' + q);
  if (r.error) { $('conn-error').textContent = r.error.message + (r.error.reason ? ' (' + r.error.reason + ')' : ''); return; }
  conn.next = r.next || '';
  const rows = (r.connections || []).map((x) => tr([tdWith(el('code', x.client)), td(userText(x.user), x.anonymous ? 'muted' : ''), td(x.transport), td(x.remoteAddress), td(when(x.since)), td(fmt(x.channels), 'num'), disconnectButton(x.client)]));
  $('conns').replaceChildren(...(rows.length ? rows : [note('No connection matches on ' + r.node + '.', 7)]));
  const first = conn.stack.length * Number($('conn-size').value);
  $('conn-range').textContent = rows.length ? (first + 1) + '–' + (first + rows.length) + ' of ' + r.total + ' on ' + r.node : '0 of ' + r.total + ' on ' + r.node;
  $('conn-prev').disabled = conn.stack.length === 0;
  $('conn-next').disabled = !conn.next;
}
$('conn-filter').addEventListener('submit', guarded(() => { conn.cursor = ''; conn.stack = []; return listConnections(); }, $('conn-error')));
$('conn-anon').addEventListener('change', () => { $('conn-user').disabled = $('conn-anon').checked; });
$('conn-next').addEventListener('click', guarded(() => { if (!conn.next) return; conn.stack.push(conn.cursor); conn.cursor = conn.next; return listConnections(); }, $('conn-error')));
$('conn-prev').addEventListener('click', guarded(() => { if (!conn.stack.length) return; conn.cursor = conn.stack.pop(); return listConnections(); }, $('conn-error')));

async function lookup() {
  $('error').textContent = '';
  const q = $('q').value.trim();
  if (!q) return;
  const r = await call(withNode('clients?' + $('by').value + '=' + encodeURIComponent(q)));
  if (r.error) { $('error').textContent = r.error.message; return; }
  const here = (r.clients || []).map((x) => tr([tdWith(el('code', x.client)), td(userText(x.user)), td(x.transport), td(x.remoteAddress), td(dur(x.connectedFor), 'num'), td(fmt(x.queuedBytes) + ' B', 'num'), td((x.subscriptions || []).join(', ') || '—'), disconnectButton(x.client)]));
  const away = (r.elsewhere || []).map((x) => {
    const where = td('on node ' + x.node + (x.stale ? ' (not reporting: probably gone)' : ''), 'muted');
    where.colSpan = 4;
    return tr([tdWith(el('code', x.client)), td(q), td(x.transport), where, disconnectButton(x.client)]);
  });
  const rows = here.concat(away);
  $('clients').replaceChildren(...(rows.length ? rows : [note('No connection matches in the cluster.', 8)]));
}
$('lookup').addEventListener('submit', guarded(lookup, $('error')));
async function disconnectClicked(e, out, refresh) {
  const id = e.target && e.target.dataset && e.target.dataset.client;
  if (!id) return;
  const r = await call('disconnect', { method: 'POST', body: JSON.stringify({ client: id, reconnect: true }) });
  await refresh();
  out.textContent = r.error ? r.error.message : r.disconnected ? 'Disconnected ' + id + ' (code 3006: it may reconnect).' : r.otherNodes ? 'Asked ' + r.otherNodes + ' other node(s) to disconnect ' + id + '.' : 'Not connected any more.';
}
$('clients').addEventListener('click', (e) => guarded(() => disconnectClicked(e, $('error'), lookup), $('error'))());
$('conns').addEventListener('click', (e) => guarded(() => disconnectClicked(e, $('conn-error'), listConnections), $('conn-error'))());

window.__admin = { ticks };
if (secret) store.set(KEY, secret);
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
`;
