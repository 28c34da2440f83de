/**
 * Shape checks for SDP from the network (RFC 8866), shared by mesh signaling (server/signaling.ts)
 * and SFU requests (protocol/sfu.ts). Only size and line syntax: the SDP is hostile until checked,
 * and whoever parses it further (a browser, the SFU's SDP layer) still validates its meaning.
 */
import { ReplyError } from './errors.ts';

/** Largest accepted SDP in characters. */
export const MAX_SDP = 64 * 1024;
/** Most lines accepted in one SDP. */
export const MAX_SDP_LINES = 4000;
const SDP_LINE = /^[a-z]=[^\u0000]*$/;

/**
 * Returns `v` when it is an acceptable SDP; otherwise throws ReplyError 107 whose message starts
 * with `prefix` (e.g. "signal: ").
 */
export function checkSdp(v: unknown, prefix: string): string {
  const bad = (msg: string): never => {
    throw new ReplyError('badRequest', `${prefix}${msg}`);
  };
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_SDP) bad(`sdp must be a non-empty string of at most ${MAX_SDP} characters`);
  const sdp = v as string;
  if (!sdp.startsWith('v=0')) bad('sdp must start with "v=0" (RFC 8866 §5)');
  const lines = sdp.split(/\r?\n/);
  if (lines.length > MAX_SDP_LINES) bad(`sdp has more than ${MAX_SDP_LINES} lines`);
  for (const line of lines) if (line !== '' && !SDP_LINE.test(line)) bad(`sdp line "${line.slice(0, 40)}" is not <type>=<value>`);
  return sdp;
}
