/**
 * The payloads nodes exchange on the broker's reserved channels, and their validation. A payload
 * is checked here only after its signature was (cluster-trust.ts); even a signed payload is
 * rebuilt field by field from checked values, so a wrong-typed, out-of-range or extra field never
 * reaches the registry, /api/info, the admin page or the forwarder.
 */

/** How many of its busiest channels each node includes in its report. */
export const BUSIEST_REPORTED = 20;

/** Longest node name (characters). Session keys carry it base64url-encoded (forward.ts). */
export const MAX_NODE_NAME = 128;
const MAX_URL = 2048;
const MAX_CHANNEL = 1024;
const MAX_ID = 1024;
const MAX_REASON = 256;
/** Longest reconnect delay a control message may ask for (ms): one hour. */
const MAX_DELAY = 3_600_000;

export interface NodeInfo {
  name: string;
  connections: number;
  channels: number;
  draining: boolean;
  uptime: number;
  publishes: number;
  deliveries: number;
  rssBytes: number;
  /** This node's busiest client channels by local subscribers (at most BUSIEST_REPORTED). */
  busiest?: Array<{ channel: string; subscribers: number }>;
  /** How many client channels the node has (`busiest` is complete when it lists them all). */
  busiestOf?: number;
  /** Where other nodes reach this one over HTTP (forwarding of SSE/poll requests). */
  url: string;
  /** Sender's clock, ms. */
  time: number;
}

export interface ControlDisconnect {
  op: 'disconnect';
  /** The node that sent it (which already acted locally). */
  from: string;
  client?: string;
  user?: string;
  reconnect?: boolean;
  delay?: number;
  reason?: string;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string of 1..max characters without control characters. */
function text(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max && !/[\u0000-\u001f\u007f]/.test(v);
}

/** A finite number in [0, MAX_SAFE_INTEGER]. */
function count(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;
}

/** Whether `v` is a node name peers accept. */
export function validNodeName(v: unknown): v is string {
  return text(v, MAX_NODE_NAME);
}

/** An http(s) URL with a host and no credentials, as a forwarding target must be. */
export function validNodeUrl(v: unknown): v is string {
  if (!text(v, MAX_URL)) return false;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return false;
  }
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' && u.username === '' && u.password === '';
}

/** A node report, rebuilt from checked fields; null when any field is missing, wrong or out of range. */
export function parseNodeInfo(v: unknown): NodeInfo | null {
  if (!isObj(v)) return null;
  const { name, connections, channels, draining, uptime, publishes, deliveries, rssBytes, url, time, busiest, busiestOf } = v;
  if (!validNodeName(name) || !validNodeUrl(url) || typeof draining !== 'boolean') return null;
  if (!count(connections) || !count(channels) || !count(uptime) || !count(publishes) || !count(deliveries) || !count(rssBytes) || !count(time)) return null;
  const info: NodeInfo = { name, connections, channels, draining, uptime, publishes, deliveries, rssBytes, url, time };
  if (busiest !== undefined) {
    if (!Array.isArray(busiest) || busiest.length > BUSIEST_REPORTED) return null;
    const list: Array<{ channel: string; subscribers: number }> = [];
    for (const c of busiest as unknown[]) {
      if (!isObj(c) || !text(c.channel, MAX_CHANNEL) || !count(c.subscribers)) return null;
      list.push({ channel: c.channel, subscribers: c.subscribers });
    }
    info.busiest = list;
  }
  if (busiestOf !== undefined) {
    if (!count(busiestOf)) return null;
    info.busiestOf = busiestOf;
  }
  return info;
}

/** A control message, rebuilt from checked fields; null when it is not a well-formed one. */
export function parseControl(v: unknown): ControlDisconnect | null {
  if (!isObj(v) || v.op !== 'disconnect' || !validNodeName(v.from)) return null;
  const m: ControlDisconnect = { op: 'disconnect', from: v.from };
  for (const k of ['client', 'user'] as const) {
    if (v[k] === undefined) continue;
    if (!text(v[k], MAX_ID)) return null;
    m[k] = v[k];
  }
  // A disconnect that names nobody is not one (it must never mean "everybody").
  if (m.client === undefined && m.user === undefined) return null;
  if (v.reconnect !== undefined) {
    if (typeof v.reconnect !== 'boolean') return null;
    m.reconnect = v.reconnect;
  }
  if (v.delay !== undefined) {
    if (!count(v.delay) || v.delay > MAX_DELAY) return null;
    m.delay = v.delay;
  }
  if (v.reason !== undefined) {
    if (typeof v.reason !== 'string' || v.reason.length > MAX_REASON) return null;
    m.reason = v.reason;
  }
  return m;
}
