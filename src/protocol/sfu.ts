/**
 * Validation of SFU requests from the network (docs/protocol.md "SFU rooms"): the `data` of a
 * `signal` frame addressed to the reserved member `$sfu`, `{type: 'sfu', id, op, ...}`. Each op's
 * fields are checked with size limits, unknown fields are dropped, and anything else is
 * ReplyError 107 with a message naming the field. Pure: no I/O, shared by server and tests.
 */
import { SFU_MEMBER, type SfuRequest } from './sfu-contract.ts';
import { ReplyError } from './errors.ts';
import { checkSdp } from './sdp.ts';

export { SFU_MEMBER };

/** Request ids: 1–64 visible ASCII characters, unique per connection while pending. */
const REQUEST_ID = /^[\x21-\x7e]{1,64}$/;
/** Track ids (producer ids, msid track ids): 1–128 visible ASCII characters. */
const TRACK_ID = /^[\x21-\x7e]{1,128}$/;
/** Highest spatial layer index (three simulcast layers: 0, 1, 2). */
export const MAX_SPATIAL = 2;
/** Highest temporal layer index (VP8/VP9 use at most four: 0–3). */
export const MAX_TEMPORAL = 3;
/** Largest rendered width/height reported for adaptive stream, in CSS pixels. */
export const MAX_RENDER_SIZE = 16384;

const OPS = ['join', 'publish', 'subscriber-answer', 'set-layers', 'pause', 'resume', 'leave'] as const;

function bad(msg: string): never {
  throw new ReplyError('badRequest', `sfu: ${msg}`);
}

function int(v: unknown, field: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(`${field} must be an integer 0–${max}`);
  return (v as number) + 0; // -0 → 0
}

function track(v: unknown): string {
  if (typeof v !== 'string' || !TRACK_ID.test(v)) bad('track must be 1–128 visible ASCII characters');
  return v as string;
}

/** The request id of SFU data, when it has a valid one (for error replies); otherwise undefined. */
export function sfuRequestId(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const id = (data as Record<string, unknown>).id;
  return typeof id === 'string' && REQUEST_ID.test(id) ? id : undefined;
}

/**
 * Checks SFU request data (`{type: 'sfu', id, op, ...}`; `type` itself is not checked here) and
 * returns a clean request with only the op's fields. Throws ReplyError 107.
 */
export function validateSfuRequest(data: unknown): SfuRequest {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) bad('data must be an object');
  const d = data as Record<string, unknown>;
  if (typeof d.id !== 'string' || !REQUEST_ID.test(d.id)) bad('id must be 1–64 visible ASCII characters');
  const id = d.id as string;
  const op = d.op;
  switch (op) {
    case 'join':
    case 'leave':
      return { id, op };
    case 'publish':
    case 'subscriber-answer':
      return { id, op, sdp: checkSdp(d.sdp, 'sfu: ') };
    case 'pause':
    case 'resume':
      return { id, op, track: track(d.track) };
    case 'set-layers': {
      const req: Extract<SfuRequest, { op: 'set-layers' }> = { id, op, track: track(d.track) };
      if (d.spatial !== undefined) req.spatial = int(d.spatial, 'spatial', MAX_SPATIAL);
      if (d.temporal !== undefined) req.temporal = int(d.temporal, 'temporal', MAX_TEMPORAL);
      if (d.width !== undefined) req.width = int(d.width, 'width', MAX_RENDER_SIZE);
      if (d.height !== undefined) req.height = int(d.height, 'height', MAX_RENDER_SIZE);
      if (d.visible !== undefined) {
        if (typeof d.visible !== 'boolean') bad('visible must be a boolean');
        req.visible = d.visible as boolean;
      }
      return req;
    }
    default:
      bad(`op must be one of ${OPS.join(', ')}`);
  }
}
