/**
 * What the SFU reads from a publisher's offer (RFC 8866 media sections, RFC 8829 JSEP as browsers
 * write it): per m-section its kind, mid, direction, the codecs offered, the SSRCs it will send
 * with (`a=ssrc`, RTX pairs from `a=ssrc-group:FID`), simulcast rids (`a=rid:… send`,
 * RFC 8851/8853) and msid. Pure; the SDP passed protocol/sdp.ts's shape checks before it gets
 * here, and everything read is bounded again (counts, lengths) since it is still hostile.
 */
import { ReplyError } from '../../protocol/errors.ts';

/** Most m-sections a publish offer may have (audio, camera, screen share, and some slack). */
export const MAX_PUBLISH_SECTIONS = 8;
/** Most simulcast layers per video section. */
export const MAX_RIDS = 3;
/** Most SSRCs per section (3 layers × media + RTX). */
export const MAX_SSRCS = 8;

export interface OfferedCodec {
  pt: number;
  /** Lower-case encoding name: `vp8`, `opus`, `h264`, `rtx`, … */
  name: string;
  clockRate: number;
  channels: number | undefined;
  fmtp: string | undefined;
}

export interface MediaSection {
  index: number;
  kind: 'audio' | 'video' | 'application' | 'other';
  /** Port 0: rejected or stopped. */
  rejected: boolean;
  mid: string | undefined;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  codecs: OfferedCodec[];
  /** Media SSRCs in order (RTX SSRCs of FID groups removed). */
  ssrcs: number[];
  /** RTX SSRC by media SSRC. */
  rtx: Map<number, number>;
  /** Send rids in the order of `a=simulcast:send` (or of `a=rid` lines). */
  rids: string[];
  /** `a=msid:<stream> <track>` */
  msid: { stream: string; track: string } | undefined;
  /** Header extension ids by URI. */
  extmap: Map<string, number>;
}

const TOKEN = /^[\x21-\x7e]{1,64}$/;

function bad(msg: string): never {
  throw new ReplyError('badRequest', `sfu: sdp: ${msg}`);
}

function ssrcOf(v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff || v === '' || v === undefined) bad(`"${String(v).slice(0, 16)}" is not an SSRC`);
  return n;
}

/** Splits an SDP into media sections and reads what the SFU needs from each. Throws 107 on nonsense. */
export function parseMediaSections(sdp: string, maxSections = MAX_PUBLISH_SECTIONS): MediaSection[] {
  const out: MediaSection[] = [];
  let cur: MediaSection | undefined;
  const rtpmap = new Map<number, OfferedCodec>();
  let fidRtx = new Set<number>();
  let simulcastOrder: string[] | undefined;
  const finish = (): void => {
    if (!cur) return;
    cur.codecs = [...rtpmap.values()];
    cur.ssrcs = cur.ssrcs.filter((s) => !fidRtx.has(s));
    if (simulcastOrder) {
      const declared = new Set(cur.rids);
      cur.rids = simulcastOrder.filter((r) => declared.has(r));
    }
  };
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (line.startsWith('m=')) {
      finish();
      if (out.length >= maxSections) throw new ReplyError('limitExceeded', `sfu: sdp: at most ${maxSections} media sections`);
      const [media, port] = line.slice(2).split(' ');
      const kind = media === 'audio' || media === 'video' || media === 'application' ? media : 'other';
      cur = { index: out.length, kind, rejected: port === '0', mid: undefined, direction: 'sendrecv', codecs: [], ssrcs: [], rtx: new Map(), rids: [], msid: undefined, extmap: new Map() };
      out.push(cur);
      rtpmap.clear();
      fidRtx = new Set();
      simulcastOrder = undefined;
      continue;
    }
    if (!cur || !line.startsWith('a=')) continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line.slice(2) : line.slice(2, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1);
    switch (name) {
      case 'mid':
        if (!TOKEN.test(value)) bad('bad a=mid');
        cur.mid = value;
        break;
      case 'sendrecv':
      case 'sendonly':
      case 'recvonly':
      case 'inactive':
        cur.direction = name;
        break;
      case 'rtpmap': {
        const m = /^(\d{1,3}) ([A-Za-z0-9_.-]{1,32})\/(\d{1,6})(?:\/(\d{1,2}))?$/.exec(value);
        if (!m) bad(`bad a=rtpmap "${value.slice(0, 40)}"`);
        const pt = Number(m[1]);
        if (pt > 127) bad('payload type above 127');
        if (rtpmap.size >= 64) bad('too many codecs in one section');
        rtpmap.set(pt, { pt, name: m[2]!.toLowerCase(), clockRate: Number(m[3]), channels: m[4] ? Number(m[4]) : undefined, fmtp: undefined });
        break;
      }
      case 'fmtp': {
        const sp = value.indexOf(' ');
        const c = rtpmap.get(Number(value.slice(0, sp)));
        if (c && sp > 0) c.fmtp = value.slice(sp + 1, sp + 1 + 512);
        break;
      }
      case 'ssrc': {
        const ssrc = ssrcOf(value.split(' ')[0]);
        if (!cur.ssrcs.includes(ssrc)) {
          if (cur.ssrcs.length >= MAX_SSRCS) throw new ReplyError('limitExceeded', `sfu: sdp: at most ${MAX_SSRCS} SSRCs per media section`);
          cur.ssrcs.push(ssrc);
        }
        break;
      }
      case 'ssrc-group': {
        const [sem, a, b] = value.split(' ');
        if (sem === 'FID' && a !== undefined && b !== undefined) {
          const media = ssrcOf(a);
          const rtx = ssrcOf(b);
          cur.rtx.set(media, rtx);
          fidRtx.add(rtx);
        }
        break;
      }
      case 'rid': {
        const [rid, dir] = value.split(' ');
        if (!rid || !/^[A-Za-z0-9_-]{1,16}$/.test(rid)) bad('bad a=rid');
        if (dir === 'send' && !cur.rids.includes(rid)) {
          if (cur.rids.length >= MAX_RIDS) throw new ReplyError('limitExceeded', `sfu: sdp: at most ${MAX_RIDS} simulcast layers`);
          cur.rids.push(rid);
        }
        break;
      }
      case 'simulcast': {
        const m = /^send ([^ ]{1,100})/.exec(value);
        // `q;h;f` (alternatives separated by commas: take the first of each).
        if (m) simulcastOrder = m[1]!.split(';').map((alt) => alt.split(',')[0]!.replace(/^~/, ''));
        break;
      }
      case 'msid': {
        const [stream, track] = value.split(' ');
        if (stream && track && TOKEN.test(stream) && TOKEN.test(track)) cur.msid = { stream, track };
        break;
      }
      case 'extmap': {
        const m = /^(\d{1,2})(?:\/[a-z]+)? ([^ ]{1,256})/.exec(value);
        if (m && cur.extmap.size < 32) cur.extmap.set(m[2]!, Number(m[1]));
        break;
      }
    }
  }
  finish();
  return out;
}

/** Header extension URIs the SFU reads. */
export const EXT_MID = 'urn:ietf:params:rtp-hdrext:sdes:mid';
export const EXT_RID = 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id';
export const EXT_REPAIRED_RID = 'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id';
export const EXT_AUDIO_LEVEL = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';
export const EXT_TWCC = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';
