/**
 * WebRTC signaling as the SDK sees it (docs/protocol.md "Signaling (WebRTC)", "ICE servers"):
 * the `iceServers` of the connect reply, the `data` of `signal` frames, and the shape checks the
 * client applies to both before handing them to the app or to an RTCPeerConnection.
 *
 * Pure: no DOM or Node types, so it is usable (and testable) everywhere.
 */
import type { ClientInfo } from '../protocol/frames.ts';
import type { SfuRequest } from '../protocol/sfu-contract.ts';

/**
 * One ICE server, as in the connect reply's `iceServers`; structurally an `RTCIceServer`, so the
 * list goes straight into `new RTCPeerConnection({ iceServers })`.
 */
export interface IceServer {
  urls: string | string[];
  /** TURN only: a time-limited username (`expiry:user`). */
  username?: string;
  /** TURN only: the matching password (base64 HMAC-SHA1). */
  credential?: string;
}

/** An ICE candidate as `RTCIceCandidate.toJSON()` gives it (`RTCIceCandidateInit`). */
export interface IceCandidateData {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/**
 * The payload of a `signal` frame. The server validates it (SDP syntax and size, candidate lines)
 * and drops unknown fields; `candidate: null` means "end of candidates" (trickle ICE).
 */
export type SignalData =
  | { type: 'offer' | 'answer'; sdp: string }
  | { type: 'candidate'; candidate: IceCandidateData | null }
  | { type: 'bye' }
  | { type: 'custom'; payload: unknown }
  /** A request to the SFU of an `sfu: true` room, sent to the member `$sfu` (see SfuCall). */
  | ({ type: 'sfu' } & SfuRequest);

/** A signal from another member of a room (`signal` client event, `onSignal` of the room's subscription). */
export interface SignalEvent {
  /** The room (channel). */
  channel: string;
  /** The sender: `client` is the id to answer to with `client.signal(channel, from.client, …)`. */
  from: ClientInfo;
  /** The payload as sent (checked by the server; see {@link parseSignalData} before trusting it). */
  data: unknown;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const optStr = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string';

/**
 * Reads signal data into a {@link SignalData}, or returns null when it is not one (a newer peer's
 * type, or a bad server). The server already validated it; this only guards the types.
 */
export function parseSignalData(data: unknown): SignalData | null {
  if (!isObject(data)) return null;
  switch (data.type) {
    case 'offer':
    case 'answer':
      return typeof data.sdp === 'string' ? { type: data.type, sdp: data.sdp } : null;
    case 'candidate': {
      const c = data.candidate;
      if (c === null || c === undefined) return { type: 'candidate', candidate: null };
      if (!isObject(c) || typeof c.candidate !== 'string' || !optStr(c.sdpMid) || !optStr(c.usernameFragment)) return null;
      if (c.sdpMLineIndex !== undefined && c.sdpMLineIndex !== null && typeof c.sdpMLineIndex !== 'number') return null;
      const out: IceCandidateData = { candidate: c.candidate };
      if (c.sdpMid !== undefined) out.sdpMid = c.sdpMid as string | null;
      if (c.sdpMLineIndex !== undefined) out.sdpMLineIndex = c.sdpMLineIndex as number | null;
      if (c.usernameFragment !== undefined) out.usernameFragment = c.usernameFragment as string | null;
      return { type: 'candidate', candidate: out };
    }
    case 'bye':
      return { type: 'bye' };
    case 'custom':
      return { type: 'custom', payload: data.payload };
    default:
      return null;
  }
}

/**
 * Reads `iceServers` from a connect reply. Entries that are not `{urls: string | string[]}` with
 * string `username`/`credential` are left out; no list gives `[]`.
 */
export function parseIceServers(reply: Record<string, unknown>): IceServer[] {
  const list = reply.iceServers;
  if (!Array.isArray(list)) return [];
  const out: IceServer[] = [];
  for (const e of list as unknown[]) {
    if (!isObject(e)) continue;
    const urls = e.urls;
    const ok = typeof urls === 'string' || (Array.isArray(urls) && urls.length > 0 && urls.every((u) => typeof u === 'string'));
    if (!ok) continue;
    const server: IceServer = { urls: typeof urls === 'string' ? urls : [...(urls as string[])] };
    if (typeof e.username === 'string') server.username = e.username;
    if (typeof e.credential === 'string') server.credential = e.credential;
    out.push(server);
  }
  return out;
}
