/**
 * WebRTC signaling over the messaging connection. A namespace with `signaling: true` makes its
 * channels rooms: a member (a subscriber) may send `{"t":"signal","ch":room,"to":client,"data"}`
 * and only another member of the same room receives `{"t":"signal","ch","from","data"}`.
 *
 * Signals cross nodes through the broker on a reserved channel per room (`$sb:signal:<room>`,
 * unreachable to clients: '$' is not a legal channel character), which a node subscribes to
 * while it has local members in the room. Nothing is stored: offer, answer and candidates are
 * relayed once.
 *
 * Every payload is validated before it is relayed: SDP and ICE candidates from the network are
 * hostile until checked (size, shape, line syntax).
 */
import { ReplyError } from '../protocol/errors.ts';
import type { ClientInfo } from '../protocol/frames.ts';
import { checkSdp } from '../protocol/sdp.ts';
import { validateSfuRequest } from '../protocol/sfu.ts';
import type { SfuRequest } from '../protocol/sfu-contract.ts';
import type { Envelope, HubSubscriber } from './hub.ts';
import type { NodeCore } from './core.ts';

export const SIGNAL_PREFIX = '$sb:signal:';

export type SignalData =
  | { type: 'offer' | 'answer'; sdp: string }
  | { type: 'candidate'; candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null; usernameFragment?: string | null } | null }
  | { type: 'bye' }
  | { type: 'custom'; payload: unknown }
  /** A request to the room's SFU (only to the reserved member `$sfu`; protocol/sfu.ts). */
  | ({ type: 'sfu' } & SfuRequest);

function bad(msg: string): never {
  throw new ReplyError('badRequest', `signal: ${msg}`);
}

function optString(v: unknown, field: string, max: number): string | null | undefined {
  if (v === undefined || v === null) return v as null | undefined;
  if (typeof v !== 'string' || v.length > max) bad(`${field} must be a string of at most ${max} characters`);
  return v;
}

/** Checks a signal payload and returns a clean copy (unknown fields dropped). Throws ReplyError 107. */
export function validateSignal(data: unknown): SignalData {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) bad('data must be an object');
  const d = data as Record<string, unknown>;
  switch (d.type) {
    case 'offer':
    case 'answer':
      return { type: d.type, sdp: checkSdp(d.sdp, 'signal: ') };
    case 'candidate': {
      if (d.candidate === null || d.candidate === undefined) return { type: 'candidate', candidate: null }; // end of candidates
      if (typeof d.candidate !== 'object' || Array.isArray(d.candidate)) bad('candidate must be an object or null');
      const c = d.candidate as Record<string, unknown>;
      if (typeof c.candidate !== 'string' || c.candidate.length > 1024) bad('candidate.candidate must be a string of at most 1024 characters');
      if (c.candidate !== '' && !/^(a=)?candidate:\S+ \d+ \S+ \d+ \S+ \d+ typ \S+/.test(c.candidate)) bad('candidate.candidate is not an ICE candidate line (RFC 8839 §5.1)');
      const out: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null; usernameFragment?: string | null } = { candidate: c.candidate };
      const mid = optString(c.sdpMid, 'candidate.sdpMid', 64);
      if (mid !== undefined) out.sdpMid = mid;
      if (c.sdpMLineIndex !== undefined && c.sdpMLineIndex !== null) {
        if (typeof c.sdpMLineIndex !== 'number' || !Number.isInteger(c.sdpMLineIndex) || c.sdpMLineIndex < 0 || c.sdpMLineIndex > 1023) bad('candidate.sdpMLineIndex must be an integer 0–1023');
        out.sdpMLineIndex = c.sdpMLineIndex;
      } else if (c.sdpMLineIndex === null) out.sdpMLineIndex = null;
      const ufrag = optString(c.usernameFragment, 'candidate.usernameFragment', 256);
      if (ufrag !== undefined) out.usernameFragment = ufrag;
      return { type: 'candidate', candidate: out };
    }
    case 'bye':
      return { type: 'bye' };
    case 'custom':
      return { type: 'custom', payload: d.payload ?? null };
    case 'sfu':
      return { type: 'sfu', ...validateSfuRequest(d) };
    default:
      bad('data.type must be one of offer, answer, candidate, bye, custom, sfu');
  }
}

interface SignalMessage {
  to: string;
  from: ClientInfo;
  data: SignalData;
}

/** Per node: subscribes to the signal channels of rooms with local members and delivers signals. */
export class SignalRouter implements HubSubscriber {
  private readonly rooms = new Map<string, number>();
  relayed = 0;

  constructor(private readonly node: NodeCore) {}

  /** A local session became a member of `room`. */
  join(room: string): Promise<void> {
    const n = this.rooms.get(room) ?? 0;
    this.rooms.set(room, n + 1);
    return this.node.hub.add(SIGNAL_PREFIX + room, this);
  }

  /** A local session left `room`. */
  leave(room: string): void {
    const n = (this.rooms.get(room) ?? 0) - 1;
    if (n > 0) return void this.rooms.set(room, n);
    this.rooms.delete(room);
    this.node.hub.remove(SIGNAL_PREFIX + room, this);
  }

  /** Relays a validated signal to `to` wherever it is connected. */
  async send(room: string, to: string, from: ClientInfo, data: SignalData): Promise<void> {
    const msg: SignalMessage = { to, from, data };
    await this.node.broker.publish(SIGNAL_PREFIX + room, msg, { historySize: 0, historyTtlMs: 0 });
  }

  deliverPub(env: Envelope): void {
    const room = env.channel.slice(SIGNAL_PREFIX.length);
    const msg = (env.frame as { data?: unknown }).data as SignalMessage | undefined;
    if (!msg || typeof msg.to !== 'string') return;
    const target = this.node.findSession(msg.to);
    // Only members of the same room receive signals for it.
    if (!target || !target.subs?.has(room) || target.subs.get(room)!.held !== null) return;
    this.relayed++;
    target.send({ t: 'signal', ch: room, from: msg.from, data: msg.data });
  }

  deliverEvent(): void {}

  resetStream(): void {}
}
