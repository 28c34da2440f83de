/**
 * Shape checks for server → client frames (docs/protocol.md "Pushes", replies). The codec only
 * parses bytes; before the Client acts on a frame its fields must have the right types, or a bad
 * server would corrupt positions. Unknown frame types are returned as null (forward compatible).
 */
import { ProtocolError } from '../protocol/errors.ts';
import type { ServerFrame } from '../protocol/frames.ts';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function need(cond: boolean, what: string): void {
  if (!cond) throw new ProtocolError(`server sent a bad frame: ${what}`);
}
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Validates one decoded server frame; returns null for a frame type this SDK does not know. */
export function parseServerFrame(v: unknown): ServerFrame | null {
  need(isObject(v), 'frame is not a map');
  const f = v as Record<string, unknown>;
  switch (f.t) {
    case 'ok':
      need(isInt(f.id), '"ok" without a numeric id');
      break;
    case 'err':
      need(isInt(f.id), '"err" without a numeric id');
      need(isInt(f.code), '"err" without a numeric code');
      if (typeof f.message !== 'string') f.message = '';
      f.temporary = f.temporary === true;
      break;
    case 'pub':
      need(typeof f.ch === 'string' && typeof f.e === 'string' && isInt(f.o), '"pub" needs ch, e and o');
      break;
    case 'join':
    case 'leave':
      need(typeof f.ch === 'string' && isObject(f.info), `"${f.t}" needs ch and info`);
      break;
    case 'gap':
      need(typeof f.ch === 'string' && typeof f.e === 'string' && isInt(f.from) && isInt(f.to), '"gap" needs ch, e, from, to');
      break;
    case 'unsub':
      need(typeof f.ch === 'string', '"unsub" needs ch');
      f.resubscribe = f.resubscribe === true;
      if (!isInt(f.code)) f.code = 0;
      if (typeof f.reason !== 'string') f.reason = '';
      break;
    case 'signal':
      need(typeof f.ch === 'string' && isObject(f.from) && typeof f.from.client === 'string' && typeof f.from.user === 'string', '"signal" needs ch and from {user, client}');
      need('data' in f, '"signal" needs data');
      break;
    case 'ping':
      break;
    case 'disconnect':
      need(isInt(f.code), '"disconnect" needs a numeric code');
      if (typeof f.reason !== 'string') f.reason = '';
      if (typeof f.reconnect !== 'boolean') delete f.reconnect;
      if (f.delay !== undefined && !isInt(f.delay)) delete f.delay;
      break;
    default:
      return null;
  }
  return f as unknown as ServerFrame;
}

/** Reads `(epoch, offset)` from an `ok` reply that carries a position. */
export function replyPosition(reply: Record<string, unknown>, what: string): { epoch: string; offset: number } {
  need(typeof reply.epoch === 'string' && isInt(reply.offset), `${what} reply needs epoch and offset`);
  return { epoch: reply.epoch as string, offset: reply.offset as number };
}

/** Reads a publication list (`pubs`) from a reply; entries need a numeric `o`. */
export function replyPubs(reply: Record<string, unknown>): Array<{ data: unknown; o: number; info?: unknown }> {
  const pubs = reply.pubs;
  if (pubs === undefined || pubs === null) return [];
  need(Array.isArray(pubs), '"pubs" is not a list');
  for (const p of pubs as unknown[]) need(isObject(p) && isInt(p.o), 'a publication in "pubs" has no offset');
  return pubs as Array<{ data: unknown; o: number; info?: unknown }>;
}
