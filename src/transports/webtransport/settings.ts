/**
 * HTTP/3 SETTINGS (RFC 9114 §7.2.4) and the extension settings WebTransport needs.
 *
 *   Setting { Identifier (i), Value (i) }
 *
 * §7.2.4: "The same setting identifier MUST NOT occur more than once in the SETTINGS frame. A
 * receiver MAY treat the presence of duplicate setting identifiers as a connection error of type
 * H3_SETTINGS_ERROR." §7.2.4.1: identifiers 0x02–0x05 (HTTP/2 settings without an HTTP/3 meaning)
 * MUST be treated as H3_SETTINGS_ERROR. Unknown identifiers (GREASE: 0x1f·N + 0x21) are ignored.
 */
import { H3Error } from './errors.ts';
import { FrameType, encodeFrame } from './frames.ts';
import { readVarint, varintSize, writeVarint } from './varint.ts';

export const SettingId = {
  /** RFC 9204 §5: 0 here means "no dynamic table" — we decode static-table references only. */
  qpackMaxTableCapacity: 0x01,
  maxFieldSectionSize: 0x06,
  qpackBlockedStreams: 0x07,
  /** RFC 9220: extended CONNECT (`:protocol`). */
  enableConnectProtocol: 0x08,
  /** RFC 9297 §5: HTTP Datagrams. */
  h3Datagram: 0x33,
  /** draft-ietf-masque-h3-datagram-04, still sent by some Chromium builds. */
  h3DatagramDraft04: 0xffd277,
  /** draft-ietf-webtrans-http3-02: the only WebTransport draft Chromium 156 speaks. */
  enableWebTransportDraft02: 0x2b603742,
  /** draft-ietf-webtrans-http3-07/08: SETTINGS_WEBTRANSPORT_MAX_SESSIONS. */
  webtransportMaxSessionsDraft07: 0xc671706a,
  /** draft-ietf-webtrans-http3-09+: SETTINGS_WT_MAX_SESSIONS. */
  wtMaxSessions: 0x14e9cd29,
} as const;

const HTTP2_ONLY_SETTINGS = new Set([0x02, 0x03, 0x04, 0x05]);

/** Identifier → value, in the order received. */
export type Settings = Map<number, number>;

export function decodeSettings(payload: Buffer, maxEntries = 64): Settings {
  const out: Settings = new Map();
  let at = 0;
  while (at < payload.length) {
    const id = readVarint(payload, at);
    if (id === null) throw new H3Error('frameError', 'SETTINGS ends inside an identifier');
    at += id.length;
    const value = readVarint(payload, at);
    if (value === null) throw new H3Error('frameError', 'SETTINGS ends inside a value');
    at += value.length;
    if (HTTP2_ONLY_SETTINGS.has(id.value)) throw new H3Error('settingsError', `HTTP/2 setting 0x${id.value.toString(16)} is not allowed in HTTP/3`);
    if (out.has(id.value)) throw new H3Error('settingsError', `setting 0x${id.value.toString(16)} appears twice`);
    if (out.size >= maxEntries) throw new H3Error('excessiveLoad', `more than ${maxEntries} settings`);
    out.set(id.value, value.value);
  }
  for (const id of [SettingId.enableConnectProtocol, SettingId.h3Datagram]) {
    const v = out.get(id);
    // RFC 9220 §3 / RFC 9297 §2.1.1: values other than 0 and 1 are errors.
    if (v !== undefined && v > 1) throw new H3Error('settingsError', `setting 0x${id.toString(16)} must be 0 or 1, got ${v}`);
  }
  return out;
}

export function encodeSettingsPayload(settings: Iterable<readonly [number, number]>): Buffer {
  const list = [...settings];
  let n = 0;
  for (const [id, v] of list) n += varintSize(id) + varintSize(v);
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  for (const [id, v] of list) {
    at = writeVarint(out, at, id);
    at = writeVarint(out, at, v);
  }
  return out;
}

export function encodeSettingsFrame(settings: Iterable<readonly [number, number]>): Buffer {
  return encodeFrame(FrameType.settings, encodeSettingsPayload(settings));
}

/** What the server advertises: WebTransport draft-02 as Chromium needs it, no QPACK dynamic table. */
export function serverSettings(maxFieldSectionSize: number): Array<[number, number]> {
  return [
    [SettingId.qpackMaxTableCapacity, 0],
    [SettingId.qpackBlockedStreams, 0],
    [SettingId.maxFieldSectionSize, maxFieldSectionSize],
    [SettingId.enableConnectProtocol, 1],
    [SettingId.h3Datagram, 1],
    [SettingId.enableWebTransportDraft02, 1],
  ];
}

/** What a peer's SETTINGS say about WebTransport. */
export interface PeerWebTransport {
  draft02: boolean;
  /** SETTINGS_WT_MAX_SESSIONS (or the draft-07 spelling) when offered; 0 when not. */
  maxSessions: number;
  datagrams: boolean;
  connectProtocol: boolean;
}

export function peerWebTransport(s: Settings): PeerWebTransport {
  return {
    draft02: s.get(SettingId.enableWebTransportDraft02) === 1,
    maxSessions: s.get(SettingId.wtMaxSessions) ?? s.get(SettingId.webtransportMaxSessionsDraft07) ?? 0,
    datagrams: s.get(SettingId.h3Datagram) === 1 || s.get(SettingId.h3DatagramDraft04) === 1,
    connectProtocol: s.get(SettingId.enableConnectProtocol) === 1,
  };
}
