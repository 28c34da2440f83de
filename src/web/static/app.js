// Switchboard demo chat and calls: plain ES modules on the browser SDK bundle, no framework.
//
// Channels: the room `<room>` (default namespace: history, recovery, presence, join/leave, client
// publish) carries chat messages {name, text}; `typing:<room>` (a lossy namespace) carries
// {type: 'typing' | 'hello' | 'here', name}. Anonymous clients have no names on the server, so
// names travel on the typing channel: a client says `hello` when it (re)connects, the others
// answer `here`; presence (client ids) is then shown with those names.
//
// Calls: `call:<room>` (a signaling namespace with presence, `call` in dev mode) is the call room;
// the SDK's Call connects to every member there (mesh, up to 4 people) with perfect negotiation
// and trickle ICE, using the ICE servers (our STUN/TURN) from the connect reply.
import { Call, Client } from '/sdk/switchboard.js';

const TRANSPORTS = { auto: ['websocket', 'sse', 'poll'], websocket: ['websocket'], sse: ['sse'], poll: ['poll'] };
const LABEL = { websocket: 'WebSocket', sse: 'SSE', poll: 'Long polling' };
const HISTORY = 50;
const TYPING_EVERY = 2000;
const TYPING_SHOWN = 3500;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const store = {
  get: (k) => { try { return sessionStorage.getItem(`sb-demo:${k}`) ?? localStorage.getItem(`sb-demo:${k}`); } catch { return null; } },
  set: (k, v, session = false) => { try { (session ? sessionStorage : localStorage).setItem(`sb-demo:${k}`, v); } catch { /* private mode */ } },
  /** The tab's own value only (sessionStorage survives a reload of this tab, not a new tab). */
  tab: (k) => { try { return sessionStorage.getItem(`sb-demo:${k}`); } catch { return null; } },
  drop: (k) => { try { sessionStorage.removeItem(`sb-demo:${k}`); } catch { /* private mode */ } },
};

let choice = params.get('transport') ?? store.get('transport') ?? 'auto';
if (!(choice in TRANSPORTS)) choice = 'auto';
$('transport').value = choice;

const client = new Client(location.origin, { transports: TRANSPORTS[choice], minDelay: 300, maxDelay: 5000 });

/** Everything the page shows, plus what tests read through window.__demo. */
const ui = {
  name: '',
  room: '',
  chat: null,
  typing: null,
  /** offset → {name, text, client, history} */
  messages: new Map(),
  /** Offsets as onPublication delivered them (tests check exactly-once). */
  delivered: [],
  /** client id → name */
  names: new Map(),
  /** client id → ClientInfo */
  present: new Map(),
  /** name → last typing time */
  typers: new Map(),
  lastTypingSent: 0,
  lastTransport: '',
  gaps: [],
  /** The Call while in a call (tests read its peers' getStats()). */
  call: null,
  localStream: null,
};
window.__demo = { client, ui };

// ---- connection badge and transport control ---------------------------------------------------

function renderBadge() {
  const state = client.state;
  const t = client.transport ?? ui.lastTransport;
  $('badge').dataset.state = state;
  $('badge-transport').textContent = t ? LABEL[t] ?? t : '—';
  $('badge-state').textContent = state;
}
client.on('state', renderBadge);
client.on('transport', ({ transport }) => {
  ui.lastTransport = transport;
  renderBadge();
  $('notice').hidden = true;
  if (ui.room) sayHello(); // a new connection has a new client id: tell the others who it is
});
client.on('error', ({ type, error }) => {
  if (type !== 'transport') return;
  // A TransportError names each transport tried and why it failed.
  const n = $('notice');
  const head = document.createElement('b');
  head.textContent = 'Cannot connect — retrying';
  const list = document.createElement('ul');
  for (const f of error.failures ?? []) {
    const li = document.createElement('li');
    const why = f.error.message.replace(/\b(?:wss?|https?):\/\/\S+\s*/g, '').replace(/\s+/g, ' ').trim();
    li.textContent = `${LABEL[f.transport] ?? f.transport}: ${why}`;
    list.append(li);
  }
  n.replaceChildren(head, list);
  n.hidden = false;
});
$('transport').addEventListener('change', (e) => {
  choice = e.target.value;
  store.set('transport', choice, true);
  client.setTransports(TRANSPORTS[choice]);
});
renderBadge();

// ---- join / leave -----------------------------------------------------------------------------

$('name').value = params.get('name') ?? store.get('name') ?? `guest-${Math.floor(100 + Math.random() * 900)}`;
$('room').value = params.get('room') ?? (location.hash.slice(1) || store.get('room') || 'lobby');

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  join($('name').value.trim(), $('room').value.trim());
});
$('leave').addEventListener('click', leave);
// A reload keeps the user in the room: this tab joined it (sessionStorage, per tab) and the hash
// still names it (or names none). Leave forgets it; another tab starts at the join form.
const rejoin = store.tab('joined');
const hashRoom = location.hash.slice(1);
if (params.get('name') && params.get('room')) join(params.get('name'), params.get('room'));
else if (rejoin && (!hashRoom || hashRoom === rejoin)) join($('name').value.trim(), rejoin);

function join(name, room) {
  if (!name || !/^[A-Za-z0-9_-]{1,40}$/.test(room)) {
    $('join-error').textContent = 'Room names use letters, digits, "-" and "_".';
    $('join-error').hidden = false;
    return;
  }
  store.set('name', name);
  store.set('room', room);
  store.set('name', name, true);
  store.set('joined', room, true);
  Object.assign(ui, { name, room });
  ui.messages.clear();
  ui.present.clear();
  ui.typers.clear();
  ui.delivered = [];
  $('room-title').textContent = `#${room}`;
  $('join').hidden = true;
  $('chat').hidden = false;
  history.replaceState(null, '', `${location.pathname}${location.search}#${room}`);

  ui.chat = client.subscribe(room, {
    onPublication: (p) => {
      ui.delivered.push(p.offset);
      addMessage(p, false);
    },
    onSubscribed: (ev) => {
      if (!ev.resubscribed) loadHistory();
      refreshPresence();
    },
    onJoin: (info) => {
      ui.present.set(info.client, info);
      renderPresence();
    },
    onLeave: (info) => {
      ui.present.delete(info.client);
      renderPresence();
    },
    onGap: (g) => ui.gaps.push(g),
  });
  ui.typing = client.subscribe(`typing:${room}`, { onPublication: onTypingPub });
  renderMessages();
  void client.connect();
  if (client.state === 'connected') sayHello();
  $('text').focus();
}

function leave() {
  hangUp();
  ui.chat?.unsubscribe();
  ui.typing?.unsubscribe();
  ui.chat = ui.typing = null;
  ui.room = '';
  store.drop('joined');
  history.replaceState(null, '', `${location.pathname}${location.search}`);
  $('chat').hidden = true;
  $('join').hidden = false;
}

// ---- messages ---------------------------------------------------------------------------------

async function loadHistory() {
  const sub = ui.chat;
  try {
    const h = await sub.history({ limit: HISTORY });
    if (sub !== ui.chat) return;
    for (const p of h.publications) addMessage(p, true);
  } catch {
    // history is a nicety; live messages still arrive
  }
}

function addMessage(p, fromHistory) {
  if (ui.messages.has(p.offset)) return;
  const d = typeof p.data === 'object' && p.data !== null ? p.data : { text: String(p.data) };
  const name = typeof d.name === 'string' ? d.name : 'server';
  if (p.info?.client) ui.names.set(p.info.client, name);
  ui.messages.set(p.offset, { name, text: String(d.text ?? ''), at: typeof d.at === 'number' ? d.at : undefined, client: p.info?.client, history: fromHistory, offset: p.offset });
  ui.typers.delete(name);
  renderTyping();
  renderMessages();
}

function renderMessages() {
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const items = [...ui.messages.values()].sort((a, b) => a.offset - b.offset);
  const frag = document.createDocumentFragment();
  if (items.length === 0) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'No messages yet. Say hello!';
    frag.append(li);
  }
  for (const m of items) {
    const li = document.createElement('li');
    li.className = `msg${m.name === ui.name ? ' mine' : ''}${m.history ? ' history' : ''}`;
    li.dataset.offset = String(m.offset);
    const meta = document.createElement('div');
    meta.className = 'meta';
    const who = document.createElement('b');
    who.textContent = m.name;
    const when = m.at ? new Date(m.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
    meta.append(who, document.createTextNode(when));
    meta.title = `offset ${m.offset}`;
    const bubble = document.createElement('div');
    bubble.className = 'bubble';
    bubble.textContent = m.text;
    li.append(meta, bubble);
    frag.append(li);
  }
  list.replaceChildren(frag);
  if (atBottom || items.length < 12) list.scrollTop = list.scrollHeight;
}

$('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('text');
  const text = input.value.trim();
  if (!text || !ui.chat) return;
  input.value = '';
  ui.lastTypingSent = 0; // the next keystroke announces typing again
  // Queued while offline and sent (once) after reconnecting.
  ui.chat.publish({ name: ui.name, text, at: Date.now() }).catch((err) => console.warn('publish failed', err));
});

// ---- typing and names (lossy channel) ---------------------------------------------------------

$('text').addEventListener('input', () => {
  const now = Date.now();
  if (!ui.typing || client.state !== 'connected' || now - ui.lastTypingSent < TYPING_EVERY || !$('text').value) return;
  ui.lastTypingSent = now;
  ui.typing.publish({ type: 'typing', name: ui.name }).catch(() => {});
});

function sayHello() {
  ui.typing?.publish({ type: 'hello', name: ui.name }).catch(() => {});
}

function onTypingPub(p) {
  const d = p.data;
  const from = p.info?.client;
  if (typeof d !== 'object' || d === null || typeof d.name !== 'string' || !from) return;
  const known = ui.names.get(from) === d.name;
  ui.names.set(from, d.name);
  if (from === client.id) return;
  if (d.type === 'hello') ui.typing?.publish({ type: 'here', name: ui.name }).catch(() => {});
  if (d.type === 'typing') {
    ui.typers.set(d.name, Date.now());
    renderTyping();
  }
  if (!known) {
    renderPresence();
    renderTiles();
  }
}

function renderTyping() {
  const now = Date.now();
  for (const [n, t] of ui.typers) if (now - t > TYPING_SHOWN || n === ui.name) ui.typers.delete(n);
  const names = [...ui.typers.keys()];
  $('typing').textContent =
    names.length === 0 ? '' : names.length === 1 ? `${names[0]} is typing…` : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : 'Several people are typing…';
}
setInterval(renderTyping, 1000);

// ---- presence ---------------------------------------------------------------------------------

async function refreshPresence() {
  const sub = ui.chat;
  try {
    const p = await sub.presence();
    if (sub !== ui.chat) return;
    ui.present = new Map(Object.entries(p));
    renderPresence();
  } catch {
    // shown again after the next (re)subscribe
  }
}

function hue(s) {
  let h = 0;
  for (const c of s) h = (h * 31 + c.codePointAt(0)) % 360;
  return h;
}

function renderPresence() {
  // One row per name (a person may have several tabs); ids whose name is not known yet are "…".
  const rows = new Map();
  for (const id of ui.present.keys()) {
    const name = id === client.id ? ui.name : ui.names.get(id) ?? '…';
    const r = rows.get(name) ?? { name, you: false, n: 0 };
    r.n++;
    r.you ||= id === client.id;
    rows.set(name, r);
  }
  const sorted = [...rows.values()].sort((a, b) => Number(b.you) - Number(a.you) || a.name.localeCompare(b.name));
  const frag = document.createDocumentFragment();
  for (const r of sorted) {
    const li = document.createElement('li');
    const av = document.createElement('span');
    av.className = 'avatar';
    av.style.background = r.name === '…' ? '#b8bfcc' : `hsl(${hue(r.name)} 55% 52%)`;
    av.textContent = r.name === '…' ? '?' : r.name.slice(0, 1).toUpperCase();
    const label = document.createElement('span');
    label.className = 'who';
    label.textContent = r.name + (r.n > 1 ? ` ×${r.n}` : '');
    li.append(av, label);
    if (r.you) {
      const you = document.createElement('span');
      you.className = 'you';
      you.textContent = '(you)';
      li.append(you);
    }
    frag.append(li);
  }
  $('presence').replaceChildren(frag);
  $('count').textContent = String(sorted.filter((r) => r.name !== '…').length || sorted.length);
}

// ---- calls ------------------------------------------------------------------------------------

const PATH = { relay: 'via TURN relay', host: 'direct', srflx: 'direct (STUN)', prflx: 'direct' };
/** tile id ('local' or a client id) → {el, video, state, path} */
const tiles = new Map();
let statsTimer = 0;

$('relay-only').checked = params.get('relay') === '1' || store.get('relay') === '1';
$('relay-only').addEventListener('change', (e) => store.set('relay', e.target.checked ? '1' : '0'));
$('call-start').addEventListener('click', () => void startCall());
$('hangup').addEventListener('click', hangUp);

async function startCall() {
  if (ui.call || !ui.room) return;
  const room = ui.room;
  $('call-start').hidden = true;
  $('relay-only').disabled = true;
  $('call').hidden = false;
  setCallStatus('Asking for camera and microphone…');
  let stream = null;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
  } catch (err) {
    console.warn('getUserMedia failed; joining to watch only', err);
  }
  if (ui.room !== room || ui.call) {
    for (const t of stream?.getTracks() ?? []) t.stop();
    return;
  }
  const relay = $('relay-only').checked;
  const call = new Call(client, `call:${room}`, { localStream: stream ?? undefined, iceTransportPolicy: relay ? 'relay' : 'all' });
  ui.call = call;
  ui.localStream = stream;
  addTile('local', stream);
  call.on('peer', ({ peer }) => addTile(peer.id, null));
  call.on('track', ({ peer }) => attach(peer.id, peer.remoteStream));
  call.on('connectionstate', ({ peer, state }) => {
    const t = tiles.get(peer.id);
    if (t) t.state = state;
    renderTiles();
  });
  call.on('peerleft', ({ peer }) => removeTile(peer.id));
  call.on('error', ({ error, peer }) => console.warn(`call${peer ? ` (${peer})` : ''}: ${error.message}`));
  call.on('state', renderTiles);
  renderTiles();
  statsTimer = setInterval(() => void refreshPaths(), 1500);
  try {
    await call.join();
  } catch (err) {
    if (ui.call === call) setCallStatus(`Cannot join the call: ${err.message}`);
  }
}

function hangUp() {
  const call = ui.call;
  if (!call && $('call').hidden) return;
  ui.call = null;
  call?.leave();
  for (const t of ui.localStream?.getTracks() ?? []) t.stop();
  ui.localStream = null;
  clearInterval(statsTimer);
  for (const id of [...tiles.keys()]) removeTile(id);
  $('call').hidden = true;
  $('call-start').hidden = false;
  $('relay-only').disabled = false;
}

function addTile(id, stream) {
  if (tiles.has(id)) return;
  const el = document.createElement('figure');
  el.className = 'tile';
  el.dataset.peer = id;
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  if (id === 'local') {
    video.muted = true; // never play our own microphone back
    el.classList.add('local');
  }
  const avatar = document.createElement('span');
  avatar.className = 'avatar big';
  const cap = document.createElement('figcaption');
  const name = document.createElement('span');
  name.className = 'name';
  const chip = document.createElement('span');
  chip.className = 'chip';
  cap.append(name, chip);
  el.append(video, avatar, cap);
  $('tiles').append(el);
  tiles.set(id, { el, video, state: id === 'local' ? 'connected' : 'new', path: '' });
  if (stream) attach(id, stream);
  renderTiles();
}

function attach(id, stream) {
  const t = tiles.get(id);
  if (!t || !stream) return;
  if (t.video.srcObject !== stream) t.video.srcObject = stream;
  t.el.classList.toggle('has-video', stream.getVideoTracks().length > 0);
  t.video.play().catch(() => {}); // autoplay of a muted or user-started video is allowed
}

function removeTile(id) {
  const t = tiles.get(id);
  if (!t) return;
  t.video.srcObject = null;
  t.el.remove();
  tiles.delete(id);
  renderTiles();
}

function tileName(id) {
  return id === 'local' ? ui.name : ui.names.get(id) ?? 'Guest';
}

function renderTiles() {
  for (const [id, t] of tiles) {
    const name = tileName(id);
    t.el.querySelector('.name').textContent = id === 'local' ? `${name} (you)` : name;
    const av = t.el.querySelector('.avatar');
    av.textContent = name.slice(0, 1).toUpperCase();
    av.style.background = `hsl(${hue(name)} 55% 52%)`;
    t.el.dataset.state = t.state;
    const chip = t.el.querySelector('.chip');
    chip.textContent = id === 'local' ? (ui.localStream ? '' : 'no camera') : t.state === 'connected' ? PATH[t.path] ?? 'connected' : t.state;
    chip.hidden = chip.textContent === '';
  }
  $('tiles').style.setProperty('--cols', String(Math.min(4, Math.max(2, tiles.size))));
  const call = ui.call;
  if (!call) return;
  const peers = [...call.peers.values()];
  const up = peers.filter((p) => p.connectionState === 'connected').length;
  const relay = call.options.iceTransportPolicy === 'relay' ? ' · relay only' : '';
  const pending = peers.length - up;
  if (call.state === 'joining') setCallStatus('Joining…');
  else if (peers.length === 0) setCallStatus(`Waiting for others in #${ui.room} to press Call…${relay}`);
  else setCallStatus(`${up + 1} ${up === 0 ? 'person' : 'people'} in the call${pending > 0 ? ` · ${pending} connecting` : ''}${relay}`);
}

function setCallStatus(text) {
  $('call-status').textContent = text;
}

/** The local candidate type of each peer's selected candidate pair: shown as "via TURN relay" or "direct". */
async function refreshPaths() {
  const call = ui.call;
  if (!call) return;
  for (const peer of call.peers.values()) {
    const t = tiles.get(peer.id);
    if (!t || peer.connectionState !== 'connected') continue;
    try {
      const stats = await peer.pc.getStats();
      let pairId;
      stats.forEach((r) => {
        if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
      });
      const pair = pairId && stats.get(pairId);
      const local = pair && stats.get(pair.localCandidateId);
      t.path = local?.candidateType ?? '';
    } catch {
      // the peer closed meanwhile
    }
  }
  renderTiles();
}
