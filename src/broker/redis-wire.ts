/**
 * Decoder of the Redis broker's pub/sub messages (the script builds them, redis-scripts.ts):
 *
 * | message | meaning |
 * |---|---|
 * | `{"o":<offset>,"e":"<epoch>","d":<data>,"i":<info>?}` | one publication |
 * | `{"o":<first>,"e":"<epoch>","b":[[<data>],[<data>,<info>],…]}` | a batch: item k has offset first + k |
 * | `{"j":<info>}` / `{"l":<info>}` | a join / a leave |
 *
 * Pure. The channel is shared with whatever else can PUBLISH on the Redis, so a message is checked
 * before anything is built from it: anything else decodes to null (the broker logs it and drops
 * it; a publication lost that way is a hole the sequencer fills from history).
 */
import type { Publication } from './broker.ts';
import type { ClientInfo } from '../protocol/frames.ts';

export type WireEvent =
  | { kind: 'pubs'; epoch: string; pubs: Publication[] }
  | { kind: 'join'; info: ClientInfo }
  | { kind: 'leave'; info: ClientInfo };

/** Longest epoch accepted (ours are 16 characters). */
const MAX_EPOCH = 64;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isInfo(v: unknown): v is ClientInfo {
  return isObject(v) && typeof v.user === 'string' && typeof v.client === 'string';
}

function isOffset(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

export function decodeWire(message: string): WireEvent | null {
  let m: unknown;
  try {
    m = JSON.parse(message);
  } catch {
    return null;
  }
  if (!isObject(m)) return null;
  const w = m;
  if ('o' in w || 'e' in w) {
    const { o, e } = w;
    if (!isOffset(o) || typeof e !== 'string' || e.length === 0 || e.length > MAX_EPOCH) return null;
    if ('b' in w) {
      const b = w.b;
      if (!Array.isArray(b) || b.length === 0 || o > Number.MAX_SAFE_INTEGER - (b.length - 1)) return null;
      const pubs: Publication[] = [];
      for (let k = 0; k < b.length; k++) {
        const item: unknown = b[k];
        if (!Array.isArray(item) || item.length < 1 || item.length > 2) return null;
        const pub: Publication = { offset: o + k, data: item[0] as unknown };
        if (item.length === 2) {
          if (!isInfo(item[1])) return null;
          pub.info = item[1];
        }
        pubs.push(pub);
      }
      return { kind: 'pubs', epoch: e, pubs };
    }
    if (!('d' in w)) return null;
    const pub: Publication = { offset: o, data: w.d };
    if ('i' in w) {
      if (!isInfo(w.i)) return null;
      pub.info = w.i;
    }
    return { kind: 'pubs', epoch: e, pubs: [pub] };
  }
  if (isInfo(w.j)) return { kind: 'join', info: w.j };
  if (isInfo(w.l)) return { kind: 'leave', info: w.l };
  return null;
}
