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
// and trickle ICE, using the ICE servers (our STUN/TURN) from the connect reply. Beyond 4 people
// the call moves to the server's SFU, `sfu:<room>` (`sfu` in dev mode), with the SDK's SfuCall
// (see "calls" below); each remote tile shows its layer, resolution and bitrate.
import { Call, Client, SfuCall } from '/sdk/switchboard.js';

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
  /** The mesh Call while in a mesh call (tests read its peers' getStats()). */
  call: null,
  /** The SfuCall while the call goes through the SFU (more than 4 people). */
  sfu: null,
  /** 'mesh', 'sfu', or '' outside a call. */
  callMode: '',
  /** Moving from the mesh to the SFU right now. */
  moving: false,
  /** The node has no `sfu` namespace (or refuses to say who is in it): calls stay in the mesh. */
  noSfu: false,
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
//
// Up to 4 people a call is a mesh (`call:<room>`, every page connected to every other). Beyond
// that the call goes through the server's SFU (`sfu:<room>`, dev mode's `sfu` namespace): each
// page sends its camera once, in simulcast layers, and receives the others from the SFU. The
// choice is made when Call is pressed, from who is in the call already: anyone on the SFU, or 4
// in the mesh, and this page joins the SFU; a mesh page that sees someone on the SFU moves there
// (within a second or two). Once a call is on the SFU it stays there until everyone hangs up.
// A node without an `sfu` namespace keeps every call in the mesh (at most 4).

const PATH = { relay: 'via TURN relay', host: 'direct', srflx: 'direct (STUN)', prflx: 'direct' };
/** People in a mesh call at most (the SDK's Call maxPeers 3 + this page). */
const MESH_MAX = 4;
/**
 * tile id ('local' or a client id) → {el, video, state, path, stats, stream, tracks}: `stats` is
 * the caption of a remote tile (layer, resolution, bitrate), `tracks` the SFU track ids shown.
 */
const tiles = new Map();
let statsTimer = 0;
/** Per remote video (by stats id): last bytes and time, for the bitrate. */
const rates = new Map();
/** SFU track id → {spatial, bitrate} from the SDK's `layer` events. */
const layers = new Map();
/** SFU track id → the rendered size last sent with setLayers. */
const sentSizes = new Map();

$('relay-only').checked = params.get('relay') === '1' || store.get('relay') === '1';
$('relay-only').addEventListener('change', (e) => store.set('relay', e.target.checked ? '1' : '0'));
$('call-start').addEventListener('click', () => void startCall());
$('hangup').addEventListener('click', hangUp);

/** The capture size: 640×360, or `?capture=WxH` (tests with many pages use a small one). */
function captureSize() {
  const m = /^(\d{2,4})x(\d{2,4})$/.exec(params.get('capture') ?? '');
  return m ? { width: Number(m[1]), height: Number(m[2]) } : { width: 640, height: 360 };
}

/** People in a channel of the call now (-1 when the namespace does not exist or the read fails). */
async function members(channel) {
  try {
    return (await client.presenceStats(channel)).clients;
  } catch {
    return -1;
  }
}

async function startCall() {
  if (ui.call || ui.sfu || !ui.room) return;
  const room = ui.room;
  $('call-start').hidden = true;
  $('relay-only').disabled = true;
  $('call').hidden = false;
  setCallStatus('Asking for camera and microphone…');
  let stream = null;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: captureSize(), audio: true });
  } catch (err) {
    console.warn('getUserMedia failed; joining to watch only', err);
  }
  if (ui.room !== room || ui.call || ui.sfu || $('call').hidden) {
    for (const t of stream?.getTracks() ?? []) t.stop();
    return;
  }
  ui.localStream = stream;
  addTile('local', stream);
  statsTimer = setInterval(() => void refreshStats(), 1000);
  setCallStatus('Joining…');
  const [onSfu, inMesh] = await Promise.all([members(`sfu:${room}`), members(`call:${room}`)]);
  if (ui.room !== room || ui.localStream !== stream || $('call').hidden) return;
  if (onSfu < 0) ui.noSfu = true;
  // `?call=sfu` / `?call=mesh` force one (a room of any size on the SFU; the mesh even past 4).
  const forced = params.get('call');
  if (forced === 'sfu' || (forced !== 'mesh' && (onSfu > 0 || (onSfu === 0 && inMesh >= MESH_MAX)))) await startSfu(room, stream);
  else await startMesh(room, stream);
}

async function startMesh(room, stream) {
  const relay = $('relay-only').checked;
  const call = new Call(client, `call:${room}`, { localStream: stream ?? undefined, iceTransportPolicy: relay ? 'relay' : 'all' });
  ui.call = call;
  ui.callMode = 'mesh';
  call.on('peer', ({ peer }) => ui.call === call && addTile(peer.id, null));
  call.on('track', ({ peer }) => ui.call === call && attach(peer.id, peer.remoteStream));
  call.on('connectionstate', ({ peer, state }) => {
    const t = ui.call === call && tiles.get(peer.id);
    if (t) t.state = state;
    renderTiles();
  });
  call.on('peerleft', ({ peer }) => ui.call === call && removeTile(peer.id));
  call.on('error', ({ error, peer }) => console.warn(`call${peer ? ` (${peer})` : ''}: ${error.message}`));
  call.on('state', renderTiles);
  renderTiles();
  try {
    await call.join();
  } catch (err) {
    if (ui.call === call) setCallStatus(`Cannot join the call: ${err.message}`);
  }
}

/** Leaves the mesh for the SFU, keeping the camera (someone joined the call there). */
async function moveToSfu() {
  const call = ui.call;
  if (!call || ui.sfu || ui.moving) return;
  ui.moving = true;
  try {
    ui.call = null;
    call.leave();
    for (const id of [...tiles.keys()]) if (id !== 'local') removeTile(id);
    setCallStatus('Moving the call to the SFU…');
    // The mesh's pages all move within a second of each other; spread their SFU joins out.
    const stream = ui.localStream;
    await sleep(Math.random() * 2000);
    if (ui.localStream !== stream || $('call').hidden) return;
    await startSfu(ui.room, stream);
  } finally {
    ui.moving = false;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Rejoins of the SFU after a transport failed, since the last healthy call. */
let sfuRetries = 0;
const SFU_RETRIES = 5;

async function startSfu(room, stream) {
  const relay = $('relay-only').checked;
  // Simulcast (layers of ¼, ½ and full size) only from 480 wide: below, libwebrtc sends one tiny layer.
  const simulcast = (stream?.getVideoTracks()[0]?.getSettings().width ?? captureSize().width) >= 480;
  const call = new SfuCall(client, `sfu:${room}`, { localStream: stream ?? undefined, iceTransportPolicy: relay ? 'relay' : 'all', simulcast });
  ui.sfu = call;
  ui.callMode = 'sfu';
  call.on('track', ({ info, track, streams }) => {
    if (ui.sfu !== call) return;
    addTile(info.client, null);
    const t = tiles.get(info.client);
    if (!t) return;
    // One stream per publisher (its audio and video): the receiver's, or one made for it.
    t.stream ??= streams[0] ?? new MediaStream();
    if (!t.stream.getTracks().includes(track)) t.stream.addTrack(track);
    t.tracks.add(info.track);
    t.state = 'connected';
    attach(info.client, t.stream);
  });
  call.on('trackremoved', ({ track, info }) => {
    layers.delete(track);
    sentSizes.delete(track);
    const t = ui.sfu === call && info && tiles.get(info.client);
    if (!t) return;
    t.tracks.delete(track);
    for (const m of t.stream?.getTracks() ?? []) if (m.id === track) t.stream.removeTrack(m);
    if (t.tracks.size === 0) removeTile(info.client);
    else attach(info.client, t.stream);
  });
  call.on('layer', ({ track, spatial, bitrate }) => {
    layers.set(track, { spatial, bitrate });
  });
  call.on('error', ({ error }) => {
    console.warn(`sfu call: ${error.message}`);
    // A subscribe offer this browser cannot apply: the receiving side is out of step; start over.
    if (/setRemoteDescription|setLocalDescription/.test(error.message)) call.broken = true;
  });
  call.on('state', renderTiles);
  call.startedAt = Date.now();
  renderTiles();
  try {
    await call.join();
  } catch (err) {
    if (ui.sfu === call) setCallStatus(`Cannot join the call: ${err.message}`);
    call.broken = true;
  }
  renderTiles();
}

/**
 * Whether the SFU call needs a new start: a transport failed, an offer could not be applied, the
 * join failed, the SFU ended it, or the subscribe transport has not connected 25 s after the join
 * although there is something to receive (the SFU drops a participant whose transport does not
 * connect in 20 s, without a word).
 */
function sfuUnhealthy(call) {
  const sub = call.subscribeConnection;
  const pub = call.publishConnection;
  if (call.broken || call.state === 'left') return true;
  if (sub?.connectionState === 'failed' || pub?.connectionState === 'failed') return true;
  return call.state === 'joined' && call.tracks.size > 0 && sub?.connectionState !== 'connected' && Date.now() - call.startedAt > 25_000;
}

/** Leaves a broken SFU call and joins again after a random pause (keeps the camera). */
async function rejoinSfu(call) {
  if (ui.sfu !== call) return;
  ui.sfu = null;
  call.leave();
  for (const id of [...tiles.keys()]) if (id !== 'local') removeTile(id);
  layers.clear();
  sentSizes.clear();
  if (++sfuRetries > SFU_RETRIES) {
    setCallStatus('Cannot connect to the SFU. Hang up and call again.');
    return;
  }
  setCallStatus('Reconnecting to the SFU…');
  const stream = ui.localStream;
  await sleep(500 + Math.random() * 2500);
  if (ui.localStream !== stream || $('call').hidden || ui.sfu) return;
  await startSfu(ui.room, stream);
}

function hangUp() {
  const call = ui.call;
  const sfu = ui.sfu;
  if (!call && !sfu && $('call').hidden) return;
  ui.call = null;
  ui.sfu = null;
  ui.callMode = '';
  sfuRetries = 0;
  call?.leave();
  sfu?.leave();
  for (const t of ui.localStream?.getTracks() ?? []) t.stop();
  ui.localStream = null;
  clearInterval(statsTimer);
  rates.clear();
  layers.clear();
  sentSizes.clear();
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
  const stats = document.createElement('span');
  stats.className = 'stats';
  stats.hidden = true;
  const cap = document.createElement('figcaption');
  const name = document.createElement('span');
  name.className = 'name';
  const chip = document.createElement('span');
  chip.className = 'chip';
  cap.append(name, chip);
  el.append(video, avatar, stats, cap);
  $('tiles').append(el);
  tiles.set(id, { el, video, state: id === 'local' ? 'connected' : 'new', path: '', stats: '', stream: null, tracks: new Set() });
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
    chip.textContent = id === 'local' ? (ui.localStream ? '' : 'no camera') : t.state === 'connected' ? (ui.sfu ? 'via SFU' : PATH[t.path] ?? 'connected') : t.state;
    chip.hidden = chip.textContent === '';
    const stats = t.el.querySelector('.stats');
    stats.textContent = t.stats;
    stats.hidden = t.stats === '';
  }
  const n = tiles.size;
  $('tiles').style.setProperty('--cols', String(n > 6 ? 4 : n > 4 ? 3 : Math.min(4, Math.max(2, n))));
  const relay = $('relay-only').checked ? ' · relay only' : '';
  const sfu = ui.sfu;
  if (sfu) {
    const others = tiles.size - 1;
    if (sfu.state === 'joining') setCallStatus('Joining through the SFU…');
    else if (sfu.state === 'left') setCallStatus('The SFU call ended');
    else if (others === 0) setCallStatus(`Waiting for others in #${ui.room} to press Call… · through the SFU${relay}`);
    else setCallStatus(`${others + 1} people in the call · through the SFU${relay}`);
    return;
  }
  const call = ui.call;
  if (!call) return;
  const peers = [...call.peers.values()];
  const up = peers.filter((p) => p.connectionState === 'connected').length;
  const pending = peers.length - up;
  if (call.state === 'joining') setCallStatus('Joining…');
  else if (peers.length === 0) setCallStatus(`Waiting for others in #${ui.room} to press Call…${relay}`);
  else setCallStatus(`${up + 1} ${up === 0 ? 'person' : 'people'} in the call${pending > 0 ? ` · ${pending} connecting` : ''}${relay}`);
}

function setCallStatus(text) {
  $('call-status').textContent = text;
}

function kbps(bps) {
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
}

/**
 * The caption of a remote video from its inbound-rtp stats: resolution and bitrate (from the
 * bytes since the last reading), and, on the SFU, the layer forwarded (the rid of the publisher's
 * simulcast layer, from the SDK's `layer` events).
 */
function caption(r, layer) {
  const now = r.timestamp;
  const last = rates.get(r.id);
  rates.set(r.id, { bytes: r.bytesReceived ?? 0, at: now, bps: last?.bps ?? 0 });
  if (last && now > last.at) rates.get(r.id).bps = ((r.bytesReceived - last.bytes) * 8 * 1000) / (now - last.at);
  const bps = rates.get(r.id).bps;
  const size = r.frameWidth && r.frameHeight ? `${r.frameWidth}×${r.frameHeight}` : '';
  if (!size && !bps) return '';
  return [layer, size, kbps(bps)].filter(Boolean).join(' · ');
}

/** Once a second: each remote tile's caption, the mesh's path chips, the SFU's layer wishes. */
async function refreshStats() {
  if (ui.sfu) return refreshSfuStats(ui.sfu);
  const call = ui.call;
  if (!call) return;
  for (const peer of call.peers.values()) {
    const t = tiles.get(peer.id);
    if (!t || peer.connectionState !== 'connected') continue;
    try {
      const stats = await peer.pc.getStats();
      let pairId;
      let video;
      stats.forEach((r) => {
        if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
        if (r.type === 'inbound-rtp' && r.kind === 'video') video = r;
      });
      const pair = pairId && stats.get(pairId);
      const local = pair && stats.get(pair.localCandidateId);
      t.path = local?.candidateType ?? '';
      t.stats = video ? caption(video, '') : '';
    } catch {
      // the peer closed meanwhile
    }
  }
  renderTiles();
  // Someone is on the SFU: the call moved there (a node without an `sfu` namespace is asked once).
  if (ui.call !== call || ui.moving || ui.noSfu || params.get('call') === 'mesh') return;
  const onSfu = await members(`sfu:${ui.room}`);
  if (onSfu < 0) ui.noSfu = true;
  else if (onSfu > 0 && ui.call === call) await moveToSfu();
}

async function refreshSfuStats(call) {
  if (sfuUnhealthy(call)) return rejoinSfu(call);
  const pc = call.subscribeConnection;
  if (!pc) return;
  if (pc.connectionState === 'connected' && call.tracks.size > 0) sfuRetries = 0;
  let stats;
  try {
    stats = await pc.getStats();
  } catch {
    return;
  }
  if (ui.sfu !== call) return;
  const byTrack = new Map();
  stats.forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video' && r.trackIdentifier) byTrack.set(r.trackIdentifier, r);
  });
  for (const [id, t] of tiles) {
    if (id === 'local') continue;
    let text = '';
    for (const track of t.tracks) {
      const r = byTrack.get(track);
      if (!r) continue;
      const info = call.tracks.get(track);
      const l = layers.get(track);
      const rid = l && (info?.layers?.length ?? 0) > 1 ? info.layers[l.spatial]?.rid : undefined;
      text = caption(r, !l ? '' : rid !== undefined ? `layer ${rid}` : 'single layer');
      // Adaptive stream: the SFU sends the smallest layer at least as large as the tile.
      const w = Math.round(t.video.clientWidth * (window.devicePixelRatio || 1));
      const h = Math.round(t.video.clientHeight * (window.devicePixelRatio || 1));
      const sent = sentSizes.get(track);
      if (w > 0 && h > 0 && (!sent || Math.abs(sent.w - w) > 16 || Math.abs(sent.h - h) > 16)) {
        sentSizes.set(track, { w, h });
        call.setLayers(track, { width: w, height: h }).catch(() => sentSizes.delete(track));
      }
    }
    t.stats = text;
  }
  renderTiles();
}
