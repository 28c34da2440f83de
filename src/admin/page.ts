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
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:center; gap:16px; padding:14px 24px; border-bottom:1px solid var(--line); background:#121820; }
  header h1 { font-size:17px; margin:0; font-weight:600; letter-spacing:.2px; }
  header .meta { color:var(--muted); font-size:13px; }
  .dot { width:9px; height:9px; border-radius:50%; background:var(--accent2); display:inline-block; margin-right:6px; }
  .dot.off { background:var(--bad); }
  main { padding:20px 24px; display:grid; gap:16px; grid-template-columns: repeat(12, 1fr); max-width:1400px; margin:0 auto; }
  .card { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
  .kpi { grid-column: span 3; }
  .kpi .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.6px; }
  .kpi .value { font-size:28px; font-weight:600; margin-top:4px; font-variant-numeric: tabular-nums; }
  .kpi .sub { color:var(--muted); font-size:12px; }
  .chart { grid-column: span 6; }
  .wide { grid-column: span 7; }
  .narrow { grid-column: span 5; }
  h2 { font-size:13px; margin:0 0 10px; color:var(--muted); font-weight:600; text-transform:uppercase; letter-spacing:.6px; }
  canvas { width:100%; height:180px; display:block; }
  table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--muted); font-weight:500; font-size:12px; }
  td.num, th.num { text-align:right; }
  .bar { height:6px; background:var(--accent); border-radius:3px; }
  .pill { font-size:11px; padding:1px 7px; border-radius:10px; background:#223041; color:var(--accent); }
  .pill.stale { background:#3a2a1a; color:var(--warn); }
  form { display:flex; gap:8px; flex-wrap:wrap; }
  input, select, button { font:inherit; color:var(--text); background:#0f151b; border:1px solid var(--line); border-radius:6px; padding:7px 10px; }
  input { flex:1; min-width:180px; }
  button { background:#1f6feb; border-color:#1f6feb; cursor:pointer; }
  button.danger { background:#8b2c2c; border-color:#a33; }
  .muted { color:var(--muted); }
  #login { position:fixed; inset:0; background:rgba(8,10,14,.92); display:none; align-items:center; justify-content:center; }
  #login .card { width:360px; }
  #error { color:var(--warn); min-height:1.2em; margin:8px 0 4px; }
</style>
</head>
<body>
<header>
  <h1>Switchboard</h1>
  <span class="meta"><span id="status" class="dot off"></span><span id="node">—</span></span>
  <span class="meta" id="broker"></span>
  <span class="meta" id="uptime"></span>
</header>
<main>
  <div class="card kpi"><div class="label">Connections</div><div class="value" id="k-conn">—</div><div class="sub" id="k-cap"></div></div>
  <div class="card kpi"><div class="label">Messages in / s</div><div class="value" id="k-in">—</div><div class="sub">client transport messages</div></div>
  <div class="card kpi"><div class="label">Deliveries / s</div><div class="value" id="k-out">—</div><div class="sub" id="k-pub"></div></div>
  <div class="card kpi"><div class="label">Channels</div><div class="value" id="k-ch">—</div><div class="sub" id="k-mem"></div></div>
  <div class="card chart"><h2>Connections</h2><canvas id="c-conn"></canvas></div>
  <div class="card chart"><h2>Messages / s <span class="muted" style="text-transform:none">— <span style="color:var(--accent)">in</span> · <span style="color:var(--accent2)">delivered</span></span></h2><canvas id="c-msg"></canvas></div>
  <div class="card wide"><h2>Cluster nodes</h2><table><thead><tr><th>node</th><th class="num">connections</th><th class="num">channels</th><th class="num">publishes</th><th class="num">RSS</th><th class="num">uptime</th><th>state</th></tr></thead><tbody id="nodes"></tbody></table></div>
  <div class="card narrow"><h2>Busiest channels</h2><table><thead><tr><th>channel</th><th class="num">subscribers</th><th style="width:40%"></th></tr></thead><tbody id="channels"></tbody></table></div>
  <div class="card" style="grid-column: span 12; display: none" id="consumers-card"><h2>Event consumers</h2><table><thead><tr><th>consumer</th><th>kind</th><th>state</th><th class="num">lag</th><th class="num">backlog</th><th class="num">published / s</th><th class="num">published</th><th class="num">dead letters</th><th class="num">errors</th><th class="num">forwarded</th></tr></thead><tbody id="consumers"></tbody></table></div>
  <div class="card" style="grid-column: span 12">
    <h2>Client lookup</h2>
    <form id="lookup"><select id="by"><option value="client">client id</option><option value="user">user id</option></select><input id="q" placeholder="client or user id" autocomplete="off"><button type="submit">Look up</button></form>
    <div id="error"></div>
    <table><thead><tr><th>client</th><th>user</th><th>transport</th><th>address</th><th class="num">connected</th><th class="num">queued</th><th>subscriptions</th><th></th></tr></thead><tbody id="clients"><tr><td colspan="8" class="muted">Search by client id or user id.</td></tr></tbody></table>
  </div>
</main>
<div id="login"><form class="card" id="login-form" style="display:block"><h2>Admin secret</h2><p class="muted">The node printed it at start in dev mode, or it is <code>SWITCHBOARD_ADMIN_SECRET</code>.</p><input id="secret" type="password" style="width:100%" autofocus><p><button type="submit">Open</button></p><div id="login-error" style="color:var(--bad)"></div></form></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const KEY = 'switchboard-admin-secret';
let secret = sessionStorage.getItem(KEY) || new URLSearchParams(location.hash.slice(1)).get('secret') || '';
const points = [];
const POINTS = 120;
let prev = null;

function fmt(n) { return n >= 1e6 ? (n / 1e6).toFixed(1) + 'M' : n >= 1e4 ? (n / 1e3).toFixed(1) + 'k' : String(Math.round(n)); }
function bytes(n) { return n >= 1073741824 ? (n / 1073741824).toFixed(1) + ' GiB' : (n / 1048576).toFixed(0) + ' MiB'; }
function dur(s) { return s >= 86400 ? Math.floor(s / 86400) + 'd' : s >= 3600 ? Math.floor(s / 3600) + 'h' : s >= 60 ? Math.floor(s / 60) + 'm' : s + 's'; }
// DOM building only: text always goes in through textContent, so it can never become markup.
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
function td(text, cls) { return el('td', text, cls); }
function tdWith(child, cls) { const t = el('td', undefined, cls); t.append(child); return t; }
function tr(cells) { const r = document.createElement('tr'); r.append(...cells); return r; }
function note(text, span) { const t = td(text, 'muted'); t.colSpan = span; return tr([t]); }
function disconnectButton(client) { const b = el('button', 'Disconnect', 'danger'); b.dataset.client = String(client); return tdWith(b); }

async function call(path, init) {
  const res = await fetch('/admin/api/' + path, { ...init, headers: { 'X-Admin-Secret': secret, 'Content-Type': 'application/json' } });
  if (res.status === 401 || res.status === 403) { showLogin((await res.json()).error.message); throw new Error('unauthorized'); }
  return res.json();
}

function showLogin(msg) { $('login').style.display = 'flex'; $('login-error').textContent = msg || ''; }
$('login-form').addEventListener('submit', (e) => { e.preventDefault(); secret = $('secret').value; sessionStorage.setItem(KEY, secret); $('login').style.display = 'none'; tick(); });

function draw(canvas, series, colors) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const g = canvas.getContext('2d');
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const max = Math.max(1, ...series.flat()) * 1.15;
  const left = 44, bottom = h - 18;
  g.strokeStyle = '#26303b'; g.fillStyle = '#8b98a5'; g.font = '11px system-ui'; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = 8 + ((bottom - 8) * i) / 4;
    g.beginPath(); g.moveTo(left, y); g.lineTo(w, y); g.stroke();
    g.fillText(fmt(max * (1 - i / 4)), 4, y + 4);
  }
  g.fillText('−' + POINTS + ' s', left, h - 4); g.fillText('now', w - 24, h - 4);
  series.forEach((pts, k) => {
    if (pts.length < 2) return;
    const x = (i) => left + ((w - left) * (POINTS - pts.length + i)) / (POINTS - 1);
    const y = (v) => bottom - ((bottom - 8) * v) / max;
    g.beginPath(); pts.forEach((v, i) => (i ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
    g.strokeStyle = colors[k]; g.lineWidth = 2; g.stroke();
    g.lineTo(x(pts.length - 1), bottom); g.lineTo(x(0), bottom); g.closePath();
    g.fillStyle = colors[k] + '22'; g.fill();
  });
}

async function tick() {
  if (!secret) return showLogin();
  try {
    const [s, c, ch] = await Promise.all([call('stats'), call('cluster'), call('channels?n=10')]);
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
    if (prev) {
      const dt = Math.max(0.001, (s.time - prev.time) / 1000);
      inRate = (s.messagesIn - prev.messagesIn) / dt; outRate = (s.deliveries - prev.deliveries) / dt; pubRate = (s.publishes - prev.publishes) / dt;
    }
    prev = s;
    points.push({ conn: s.connections, in: inRate, out: outRate });
    if (points.length > POINTS) points.shift();
    $('k-conn').textContent = fmt(s.connections);
    $('k-cap').textContent = ((100 * s.connections) / s.maxConnections).toFixed(1) + '% of ' + fmt(s.maxConnections) + ' · ' + Object.entries(s.byTransport).map(([k, v]) => k + ' ' + v).join(', ');
    $('k-in').textContent = fmt(inRate);
    $('k-out').textContent = fmt(outRate);
    $('k-pub').textContent = fmt(pubRate) + ' publishes / s';
    $('k-ch').textContent = fmt(s.channels);
    $('k-mem').textContent = 'RSS ' + bytes(s.rssBytes);
    draw($('c-conn'), [points.map((p) => p.conn)], ['#4fb3ff']);
    draw($('c-msg'), [points.map((p) => p.in), points.map((p) => p.out)], ['#4fb3ff', '#7ee081']);
    $('nodes').replaceChildren(...c.nodes.map((n) => {
      const state = n.stale ? 'stale' : n.draining ? 'draining' : 'live';
      return tr([td(n.name), td(fmt(n.connections), 'num'), td(fmt(n.channels), 'num'), td(fmt(n.publishes), 'num'), td(bytes(n.rssBytes), 'num'), td(dur(n.uptime), 'num'), tdWith(el('span', state, state === 'live' ? 'pill' : 'pill stale'))]);
    }));
    const top = Math.max(1, ...ch.channels.map((x) => x.subscribers));
    $('channels').replaceChildren(...(ch.channels.length ? ch.channels.map((x) => {
      const bar = el('div', undefined, 'bar');
      bar.style.width = ((100 * x.subscribers) / top).toFixed(0) + '%';
      return tr([td(x.channel), td(fmt(x.subscribers), 'num'), tdWith(bar)]);
    }) : [note('No channels.', 3)]));
  } catch (e) {
    $('status').className = 'dot off';
  }
}

async function lookup(e) {
  if (e) e.preventDefault();
  $('error').textContent = '';
  const q = $('q').value.trim();
  if (!q) return;
  const r = await call('clients?' + $('by').value + '=' + encodeURIComponent(q));
  if (r.error) { $('error').textContent = r.error.message; return; }
  const here = r.clients.map((x) => tr([tdWith(el('code', x.client)), td(x.user || '(anonymous)'), td(x.transport), td(x.remoteAddress), td(dur(x.connectedFor), 'num'), td(fmt(x.queuedBytes) + ' B', 'num'), td(x.subscriptions.join(', ') || '—'), disconnectButton(x.client)]));
  const away = (r.elsewhere || []).map((x) => {
    const where = td('on node ' + x.node + (x.stale ? ' (not reporting: probably gone)' : ''), 'muted');
    where.colSpan = 4;
    return tr([tdWith(el('code', x.client)), td(q), td(x.transport), where, disconnectButton(x.client)]);
  });
  const rows = here.concat(away);
  $('clients').replaceChildren(...(rows.length ? rows : [note('No connection matches in the cluster.', 8)]));
}
$('lookup').addEventListener('submit', lookup);
$('clients').addEventListener('click', async (e) => {
  const id = e.target && e.target.dataset && e.target.dataset.client;
  if (!id) return;
  const r = await call('disconnect', { method: 'POST', body: JSON.stringify({ client: id, reconnect: true }) });
  await lookup();
  $('error').textContent = r.error ? r.error.message : r.disconnected ? 'Disconnected ' + id + ' (code 3006: it may reconnect).' : r.otherNodes ? 'Asked ' + r.otherNodes + ' other node(s) to disconnect ' + id + '.' : 'Not connected any more.';
});

if (secret) sessionStorage.setItem(KEY, secret);
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
`;
