/**
 * Fuzz targets: every decoder that reads bytes from the network. Each `run` feeds one input to the
 * decoder and throws only when the decoder misbehaves — an exception of the wrong kind (anything
 * but the decoder's declared error), or a decoded result that breaks the decoder's own contract
 * (a round trip that does not come back equal).
 *
 * SSE and long-polling upstream bodies go through the same Session.onMessage → jsonCodec path as
 * the `protocol-json` target, and their HTTP-specific parsers (Content-Type, Last-Event-ID, the
 * poll `ack` sequence) are the `sse-http` target. Messages from the broker's Redis are the
 * `redis-wire` target: anything that can PUBLISH on that Redis can send them.
 */
import { isUtf8 } from 'node:buffer';
import { isDeepStrictEqual } from 'node:util';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { handleApi } from '../../src/api/http.ts';
import { decodeWire } from '../../src/broker/redis-wire.ts';
import { jsonCodec, msgpackCodec } from '../../src/protocol/codec.ts';
import { ProtocolError } from '../../src/protocol/errors.ts';
import { validateCommand } from '../../src/protocol/frames.ts';
import { resolveOptions } from '../../src/server/options.ts';
import type { SwitchboardNode } from '../../src/app/node.ts';
import { acceptableBodyType, parseSeq } from '../../src/transports/http/http.ts';
import { Receiver } from '../../src/transports/websocket/receiver.ts';
import { StreamFramer, StunDecodeError, decodeChannelData, decodeStunMessage, encodeStunMessage, looksLikeChannelData, looksLikeStun } from '../../src/webrtc/stun/index.ts';
import { CapsuleReader, encodeCapsule, encodeCloseCapsule } from '../../src/transports/webtransport/capsules.ts';
import { FrameReader, decodeGoaway, encodeFrame, encodeGoaway } from '../../src/transports/webtransport/frames.ts';
import { MessageReader, frameMessage } from '../../src/transports/webtransport/framer.ts';
import { decodeFieldSection, encodeFieldSection } from '../../src/transports/webtransport/qpack.ts';
import { decodeSettings, encodeSettingsPayload, serverSettings } from '../../src/transports/webtransport/settings.ts';
import { decodeDatagram } from '../../src/transports/webtransport/streams.ts';
import { RtpDecodeError } from '../../src/webrtc/sfu/rtp/errors.ts';
import { h264PacketInfo } from '../../src/webrtc/sfu/rtp/h264.ts';
import { buildNack, buildRemb, buildSdes, buildSr, buildTransportCc, parseRtcp, serializeRtcp, type RtcpPacket } from '../../src/webrtc/sfu/rtp/rtcp.ts';
import { ExtensionBlock, RtpView, buildRtp, rewriteCopy, rewriteWithExtensions, unwrapRtx, wrapRtx } from '../../src/webrtc/sfu/rtp/rtp-packet.ts';
import { Vp8Descriptor, Vp8Munger, isVp8Keyframe } from '../../src/webrtc/sfu/rtp/vp8.ts';
import type { FuzzTarget } from './engine.ts';

export class FuzzFinding extends Error {
  override readonly name = 'FuzzFinding';
}

const b = (s: string) => Buffer.from(s);

/** Decode errors a codec may throw; anything else is a finding. */
function onlyProtocolErrors(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return;
    throw err;
  }
}

const COMMAND_SEEDS = [
  '{"t":"connect","id":1,"token":"a.b.c","name":"x","version":"1"}',
  '{"t":"sub","id":2,"ch":"chat:lobby","recover":{"epoch":"e1","offset":17}}',
  '{"t":"unsub","id":3,"ch":"chat:lobby"}',
  '{"t":"pub","id":4,"ch":"news","data":{"text":"hi","n":[1,2.5,null,true]},"key":"k1"}',
  '{"t":"presence","id":5,"ch":"p"}',
  '{"t":"history","id":6,"ch":"h","limit":10,"since":{"epoch":"e","offset":0},"reverse":true}',
  '{"t":"refresh","id":7,"token":"t"}',
  '{"t":"pong"}',
  '{"t":"teleport","id":8}',
  '{"t":"pub","id":9,"ch":"a","data":1}\n{"t":"pong"}\n{"t":"sub","id":10,"ch":"b"}',
];

const JSON_DICT = ['{', '}', '[', ']', '"', ':', ',', '\n', '\\u0000', '\\ud800', 'null', 'true', 'false', '-0', '1e309', '9007199254740993', '"t"', '"id"', '"ch"', '"data"', '"recover"', '"epoch"', '"offset"', '"since"', '"limit"', '"reverse"', '"token"', '"key"', '"connect"', '"sub"', '"pub"', '"history"', '"pong"', '"__proto__"', '"constructor"', '[[[[[[[[', ']]]]]]]]', '\xef\xbb\xbf', '\xc3\x28', '\xf0\x9f\x98\x80'].map(b);

/**
 * -0 becomes 0 here. Found by this fuzzer (test/fuzz/corpus/protocol-json/crash-058a9d95c7121ce6):
 * validateCommand accepts `"limit":-0` / `"offset":-0` and keeps the -0, which JSON re-encodes as
 * 0. Harmless (every use compares numerically), but reported to src/protocol for normalising; the
 * input stays in the corpus as a regression case.
 */
function noNegativeZero(v: unknown): unknown {
  if (Object.is(v, -0)) return 0;
  if (Array.isArray(v)) return v.map(noNegativeZero);
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, noNegativeZero(x)]));
  }
  return v;
}

/**
 * Validates every decoded frame as the session does, and checks that re-encoding an accepted frame
 * with the same codec and decoding it again validates to the same command.
 */
function validateAll(frames: unknown[], roundTrip: (f: unknown) => unknown): void {
  for (const f of frames) {
    let cmd;
    try {
      cmd = validateCommand(f);
    } catch (err) {
      if (err instanceof ProtocolError) continue;
      throw err;
    }
    const again = validateCommand(roundTrip(f));
    if (!isDeepStrictEqual(noNegativeZero(again), noNegativeZero(cmd))) throw new FuzzFinding(`frame does not survive re-encoding: ${JSON.stringify(cmd).slice(0, 200)}`);
  }
}

export const protocolJson: FuzzTarget = {
  name: 'protocol-json',
  description: 'jsonCodec.decode + validateCommand: WebSocket text messages and SSE/poll POST bodies',
  seeds: COMMAND_SEEDS.map(b),
  dictionary: JSON_DICT,
  run(input) {
    onlyProtocolErrors(() => validateAll(jsonCodec.decode(input), (f) => jsonCodec.decode(jsonCodec.encode(f))[0]));
  },
};

const MSGPACK_DICT = [0xc0, 0xc2, 0xc3, 0xc1, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xe0, 0xff]
  .map((x) => Buffer.from([x]))
  .concat([Buffer.from([0xa1, 0x74]), Buffer.from([0xa2, 0x69, 0x64]), Buffer.from([0xa2, 0x63, 0x68]), Buffer.from([0xa4, 0x64, 0x61, 0x74, 0x61]), Buffer.from([0xd7, 0xff]), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0xdf, 0x7f, 0xff, 0xff, 0xff])]);

export const protocolMsgpack: FuzzTarget = {
  name: 'protocol-msgpack',
  description: 'msgpackCodec.decode (msgpackr) + validateCommand: WebSocket binary messages',
  seeds: COMMAND_SEEDS.map((s) => Buffer.from(msgpackCodec.encodeMany(jsonCodec.decode(s)))),
  dictionary: MSGPACK_DICT,
  run(input) {
    onlyProtocolErrors(() => validateAll(msgpackCodec.decode(input), (f) => msgpackCodec.decode(msgpackCodec.encode(f))[0]));
  },
};

/** A masked client frame (zero mask, so the payload reads as-is). */
function clientFrame(op: number, payload: Buffer, fin = true): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | op, 0x80 | len]) : Buffer.from([(fin ? 0x80 : 0) | op, 0x80 | 126, len >> 8, len & 255]);
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

/** Feeds `bytes` to a fresh Receiver in chunks of `step` and records what it reports, checking its contract on the way. */
function receiverEvents(bytes: Uint8Array, step: number): string[] {
  const events: string[] = [];
  const r = new Receiver(
    1024,
    {
      onMessage(data, binary) {
        if (data.length > 1024) throw new FuzzFinding(`message of ${data.length} bytes passed maxMessageBytes`);
        if (!binary && !isUtf8(data)) throw new FuzzFinding('a text message that is not valid UTF-8 was delivered');
        events.push(`${binary ? 'bin' : 'text'}:${Buffer.from(data).toString('hex')}`);
      },
      onPing: (d) => void events.push(`ping:${Buffer.from(d).toString('hex')}`),
      onPong: (d) => void events.push(`pong:${Buffer.from(d).toString('hex')}`),
      onClose: (code, reason) => void events.push(`close:${code}:${reason}`),
      onError(code) {
        if (code !== 1002 && code !== 1007 && code !== 1009) throw new FuzzFinding(`unexpected close code ${code}`);
        events.push(`error:${code}`);
      },
    },
    WS_FUZZ_MAX_FRAGMENTS,
  );
  // Copies: the receiver unmasks in place, as it may with the socket's own buffers.
  for (let at = 0; at < bytes.length; at += step) r.write(Buffer.from(bytes.subarray(at, at + step)));
  if (events.filter((e) => e.startsWith('error')).length > 1) throw new FuzzFinding('onError called twice');
  return events;
}

/** A small fragment cap, so the fuzzer reaches it. */
const WS_FUZZ_MAX_FRAGMENTS = 8;

export const wsReceiver: FuzzTarget = {
  name: 'ws-receiver',
  description: 'WebSocket Receiver (RFC 6455 framing state machine, incremental UTF-8) over arbitrary chunkings of client bytes',
  seeds: [
    clientFrame(1, b('{"t":"pong"}')),
    Buffer.concat([clientFrame(1, b('{"t":'), false), clientFrame(9, b('ping')), clientFrame(0, b('"pong"}'))]),
    clientFrame(2, Buffer.alloc(300, 7)),
    clientFrame(8, Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65])),
    Buffer.concat([clientFrame(10, b('')), clientFrame(1, b('x'))]),
    Buffer.concat([clientFrame(1, Buffer.from('cebae1bdb9cf83cebcceb5f4', 'hex'), false), clientFrame(0, Buffer.from('908080', 'hex'))]),
    Buffer.concat([clientFrame(1, b(''), false), ...Array.from({ length: 9 }, () => clientFrame(0, b(''), false))]),
  ],
  dictionary: [0x81, 0x82, 0x80, 0x01, 0x02, 0x00, 0x88, 0x89, 0x8a, 0xfe, 0xff, 0x7e, 0x7f].map((x) => Buffer.from([x, 0x80 | (x & 0x7f)])).concat([Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x81, 0xfe, 0xff, 0xff]), Buffer.from([0xc3, 0x28]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90])]),
  maxLength: 2048,
  run(input) {
    // The first byte chooses how the rest is cut into chunks, as TCP would; the outcome must not
    // depend on it (differential check against the same bytes in one chunk).
    const step = 1 + (input[0] ?? 0) % 17;
    const bytes = input.subarray(1);
    const chunked = receiverEvents(bytes, step);
    const whole = receiverEvents(bytes, Math.max(1, bytes.length));
    if (!isDeepStrictEqual(chunked, whole)) throw new FuzzFinding(`chunks of ${step} gave ${chunked.join(' ').slice(0, 200)}; one chunk gave ${whole.join(' ').slice(0, 200)}`);
  },
};

// ---- HTTP API bodies -------------------------------------------------------------------------------

const apiOptions = resolveOptions({ insecure: true, namespaces: { chat: { historySize: 10, presence: true } } });
/** The parts of a node the API handler touches, with a broker that answers instantly. */
const fakeNode = {
  options: apiOptions,
  async publish() {
    return { offset: 1, epoch: 'e' };
  },
  disconnect() {
    return 0;
  },
  async disconnectEverywhere() {
    return { disconnected: 0 };
  },
  clusterInfo() {
    return [];
  },
  cluster: {
    async broadcastDisconnect() {},
    async userConnections() {
      return { connections: [] };
    },
    busiestChannels() {
      return { channels: [], partial: false, staleNodes: [] };
    },
  },
  broker: {
    name: 'memory',
    connected: true,
    async presence() {
      return {};
    },
    async presencePage() {
      return { clients: {} };
    },
    async presenceStats() {
      return { clients: 0, users: 0 };
    },
    async history() {
      return { publications: [], position: { offset: 0, epoch: 'e' } };
    },
  },
} as unknown as SwitchboardNode;

const API_METHODS = ['publish', 'broadcast', 'presence', 'presence_stats', 'history', 'disconnect', 'info', 'connections', 'channels'];

export const apiBody: FuzzTarget = {
  name: 'http-api-body',
  description: 'HTTP server API: body reading, JSON parse, depth check and per-method field validation (handleApi)',
  seeds: [
    '\x00{"channel":"news","data":{"a":1},"idempotencyKey":"k"}',
    '\x01{"channels":["a","b","chat:c"],"data":[1,2]}',
    '\x02{"channel":"chat:x"}',
    '\x04{"channel":"chat:x","limit":5,"since":{"epoch":"e","offset":0},"reverse":false}',
    '\x05{"user":"42","client":"c","reconnect":false,"delay":100,"reason":"bye"}',
    '\x06{}',
    '\x07{"user":"42","limit":10,"cursor":"5"}',
    '\x08{"limit":5}',
    '\x02{"channel":"chat:x","limit":2,"cursor":"1"}',
  ].map(b),
  dictionary: JSON_DICT.concat(['"channel"', '"channels"', '"idempotencyKey"', '"user"', '"client"', '"delay"', '"reason"', '"reconnect"', '"cursor"', '"limit"'].map(b)),
  async run(input) {
    const method = API_METHODS[(input[0] ?? 0) % API_METHODS.length]!;
    const body = input.subarray(1);
    let status = 0;
    let sent = '';
    const req = {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      socket: { remoteAddress: '127.0.0.1' },
      destroy() {},
      async *[Symbol.asyncIterator]() {
        if (body.length > 0) yield body;
      },
    } as unknown as IncomingMessage;
    const res = {
      headersSent: false,
      setHeader() {},
      writeHead(s: number) {
        status = s;
        return this;
      },
      end(text: string) {
        sent = text;
      },
    } as unknown as ServerResponse;
    await handleApi(fakeNode, req, res, new URL(`http://x/api/${method}`));
    if (status !== 200 && status !== 400) throw new FuzzFinding(`status ${status} for a well-formed request: ${sent.slice(0, 200)}`);
    const parsed = JSON.parse(sent) as { result?: unknown; error?: { message?: unknown } };
    if (status === 400 && (typeof parsed.error?.message !== 'string' || parsed.error.message === '')) throw new FuzzFinding('400 without a message');
  },
};

export const sseHttp: FuzzTarget = {
  name: 'sse-http',
  description: 'SSE/poll request parsers: Content-Type check of POST bodies and Last-Event-ID parsing',
  seeds: ['application/json', 'text/plain; charset=utf-8', 'application/json;charset="UTF-8"', '42', '000000000000001', ''].map(b),
  dictionary: [';', '=', 'charset', 'utf-8', '"', ' ', 'text/plain', 'application/json', '9', '-', '.'].map(b),
  maxLength: 256,
  run(input) {
    const s = input.toString('latin1');
    const ok = acceptableBodyType(s);
    if (ok && !/^\s*(application\/json|text\/plain)\s*(;|$)/i.test(s)) throw new FuzzFinding(`accepted Content-Type ${JSON.stringify(s)}`);
    const n = parseSeq(s);
    if (n !== undefined && !Number.isNaN(n) && (!Number.isSafeInteger(n) || n < 0)) throw new FuzzFinding(`parseSeq(${JSON.stringify(s)}) = ${n}`);
  },
};

export const redisWire: FuzzTarget = {
  name: 'redis-wire',
  description: 'Redis broker pub/sub messages (one publication, a batch, join, leave): decodeWire',
  seeds: ['{"o":7,"e":"ep","d":{"x":1}}', '{"o":3,"e":"ep","b":[[1],["two",{"user":"a","client":"c"}],[null]]}', '{"j":{"user":"a","client":"c"}}', '{"l":{"user":"a","client":"c"}}'].map(b),
  dictionary: ['{"o":', '"e":"', '"b":[[', '],[', '"d":', '"i":', '"j":', '"l":', '{"user":"', '","client":"', '"}', '9007199254740991', '-1', '0', 'null', ']]}'].map(b),
  maxLength: 512,
  run(input) {
    const ev = decodeWire(input.toString('utf8'));
    if (ev === null) return;
    if (ev.kind === 'pubs') {
      if (ev.pubs.length === 0) throw new FuzzFinding('a publication event without publications');
      ev.pubs.forEach((p, k) => {
        if (!Number.isSafeInteger(p.offset) || p.offset < 1 || p.offset !== ev.pubs[0]!.offset + k) throw new FuzzFinding(`bad offset ${p.offset} at ${k}`);
        if (p.info && (typeof p.info.user !== 'string' || typeof p.info.client !== 'string')) throw new FuzzFinding('info without user and client');
      });
    } else if (typeof ev.info.user !== 'string' || typeof ev.info.client !== 'string') throw new FuzzFinding(`${ev.kind} without user and client`);
  },
};

// ---- STUN / TURN -----------------------------------------------------------------------------------

function stunSeed(method: number, attrs: Array<[number, Buffer]>, opts: { fingerprint?: boolean; integrity?: Buffer } = {}): Buffer {
  return encodeStunMessage({ method, cls: 0, transactionId: Buffer.alloc(12, 9), attributes: attrs.map(([type, value]) => ({ type, value })) }, { ...(opts.fingerprint ? { fingerprint: true } : {}), ...(opts.integrity ? { integrityKey: opts.integrity } : {}) });
}

export const stun: FuzzTarget = {
  name: 'stun',
  description: 'STUN/TURN: decodeStunMessage (+ re-encode round trip), ChannelData, TCP StreamFramer',
  seeds: [
    stunSeed(1, []),
    stunSeed(1, [[0x0006, b('user')], [0x8022, b('sw')]], { fingerprint: true }),
    stunSeed(3, [[0x0019, Buffer.from([17, 0, 0, 0])], [0x000d, Buffer.from([0, 0, 2, 88])]], { integrity: Buffer.alloc(16, 1) }),
    Buffer.from([0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0]),
  ],
  dictionary: [Buffer.from([0x21, 0x12, 0xa4, 0x42]), Buffer.from([0x80, 0x28, 0x00, 0x04]), Buffer.from([0x00, 0x08, 0x00, 0x14]), Buffer.from([0x00, 0x1c, 0x00, 0x20]), Buffer.from([0x00, 0x01]), Buffer.from([0x40, 0x00]), Buffer.from([0x7f, 0xff])],
  maxLength: 1500,
  run(input) {
    const only = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        if (!(err instanceof StunDecodeError)) throw err;
      }
    };
    only(() => {
      if (looksLikeStun(input)) {
        const m = decodeStunMessage(input);
        const again = decodeStunMessage(encodeStunMessage(m));
        if (again.method !== m.method || again.cls !== m.cls || again.attributes.length !== m.attributes.length) throw new FuzzFinding('STUN re-encode changed the message');
      } else decodeStunMessage(input);
    });
    only(() => {
      if (looksLikeChannelData(input)) decodeChannelData(input);
    });
    only(() => {
      const f = new StreamFramer(4096);
      const step = 1 + (input[0] ?? 0) % 13;
      for (let at = 0; at < input.length; at += step) f.push(input.subarray(at, at + step));
    });
  },
};

// ---- WebTransport / HTTP/3 ---------------------------------------------------------------------

/** Splits `input` into chunks of a size taken from its first byte, as a stream would deliver it. */
function chunks(input: Buffer): Buffer[] {
  const step = 1 + ((input[0] ?? 0) % 17);
  const out: Buffer[] = [];
  for (let at = 0; at < input.length; at += step) out.push(input.subarray(at, at + step));
  return out;
}

export const h3Frames: FuzzTarget = {
  name: 'h3-frames',
  description: 'HTTP/3 FrameReader (any chunking) + SETTINGS/GOAWAY payloads, capsules, datagram prefix, message framer — bytes from any QUIC peer',
  seeds: [
    encodeFrame(4, encodeSettingsPayload(serverSettings(16384))),
    Buffer.concat([encodeFrame(0x21, b('grease')), encodeFrame(1, encodeFieldSection([[':method', 'CONNECT'], [':protocol', 'webtransport']])), encodeFrame(0, b('data'))]),
    encodeGoaway(4),
    Buffer.concat([Buffer.from([0x40, 0x41, 0x00]), frameMessage(b('{"t":"pong"}'))]),
    Buffer.concat([encodeCapsule(0x17, Buffer.alloc(10)), encodeCloseCapsule(3001, 'bye'), encodeCapsule(0x78ae, Buffer.alloc(0))]),
  ],
  dictionary: [Buffer.from([0x04]), Buffer.from([0x07]), Buffer.from([0x40, 0x41]), Buffer.from([0x80, 0x00, 0x28, 0x43]), Buffer.from([0x80, 0x00, 0x78, 0xae]), Buffer.from([0xab, 0x60, 0x37, 0x42]), Buffer.from([0x33, 0x01]), Buffer.from([0xc0]), Buffer.from([0xff, 0xff, 0xff, 0xff])],
  maxLength: 2048,
  run(input) {
    onlyProtocolErrors(() => {
      const r = new FrameReader({ maxFrameBytes: 1024, allowWebTransportSignal: (input[1] ?? 0) % 2 === 0 });
      for (const c of chunks(input)) {
        for (const e of r.push(c)) {
          if (e.kind === 'data' && e.chunk.length === 0) throw new FuzzFinding('empty DATA piece');
          if (e.kind === 'frame' && e.payload.length > 1024) throw new FuzzFinding('frame past the size limit');
          if (e.kind === 'frame' && e.type === 4) {
            const s = decodeSettings(e.payload);
            // Values past 2^53 (GREASE) are rounded on decode (varint.ts) and cannot be re-encoded exactly.
            if ([...s].every(([k, v]) => Number.isSafeInteger(k) && Number.isSafeInteger(v))) {
              const again = decodeSettings(encodeSettingsPayload(s));
              if (!isDeepStrictEqual([...again], [...s])) throw new FuzzFinding('SETTINGS re-encode changed them');
            }
          }
          if (e.kind === 'frame' && e.type === 7) decodeGoaway(e.payload);
        }
      }
    });
    onlyProtocolErrors(() => {
      const r = new CapsuleReader(512);
      for (const c of chunks(input)) for (const cap of r.push(c)) if (cap.type === 'close' && Buffer.byteLength(cap.reason) > 1024) throw new FuzzFinding('close reason past 1024 bytes');
    });
    onlyProtocolErrors(() => {
      decodeDatagram(input);
    });
    onlyProtocolErrors(() => {
      const r = new MessageReader(1024);
      for (const c of chunks(input)) for (const m of r.push(c)) if (m.length > 1024) throw new FuzzFinding('message past the size limit');
      if (r.bufferedBytes > 1024 + 8) throw new FuzzFinding(`MessageReader buffers ${r.bufferedBytes} bytes`);
    });
  },
};

export const qpack: FuzzTarget = {
  name: 'qpack',
  description: 'QPACK field sections (static table + Huffman) from a peer HEADERS frame, with a decode → encode → decode round trip',
  seeds: [
    encodeFieldSection([[':method', 'CONNECT'], [':protocol', 'webtransport'], [':scheme', 'https'], [':authority', 'localhost:4433'], [':path', '/connection/webtransport'], ['origin', 'https://example.com']]),
    Buffer.from('0000510b2f696e6465782e68746d6c', 'hex'),
    Buffer.from('0000d1d75f1d8aa0e41d139d09b8f01e07', 'hex'),
    Buffer.from('00002a' + '85' + 'f1e3c2e5f2' + '86' + 'a8eb10649cbf', 'hex'),
  ],
  dictionary: [Buffer.from([0x00, 0x00]), Buffer.from([0xc0 | 15]), Buffer.from([0x5f]), Buffer.from([0x27]), Buffer.from([0xff]), Buffer.from([0x80]), Buffer.from([0x10]), Buffer.from([0x7f])],
  maxLength: 1024,
  run(input) {
    onlyProtocolErrors(() => {
      const fields = decodeFieldSection(input, { maxSectionBytes: 4096, maxFields: 64 });
      const again = decodeFieldSection(encodeFieldSection(fields), { maxSectionBytes: 1 << 20, maxFields: 1000 });
      if (!isDeepStrictEqual(again, fields)) throw new FuzzFinding('QPACK re-encode changed the fields');
    });
  },
};

// ---- SFU packet layer (src/webrtc/sfu/rtp/) ---------------------------------------------------------
// What a publisher or subscriber sends after SRTP/SRTCP decryption (authenticated, so only a peer
// that completed DTLS can send it — still untrusted: any browser is such a peer).

function onlyRtpErrors(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof RtpDecodeError) return;
    throw err;
  }
}

const rtpView = new RtpView();
const rtpView2 = new RtpView();

export const rtp: FuzzTarget = {
  name: 'rtp',
  description: 'RtpView.parse (RTP header, CSRCs, RFC 8285 extensions, padding) + extension lookups, rewrite and RTX round trips',
  seeds: [
    buildRtp({ payloadType: 96, sequenceNumber: 1, timestamp: 2, ssrc: 3, marker: true, extensions: [[3, Buffer.from([0, 1])], [4, b('q')], [1, b('0')]], payload: Buffer.from([0x90, 0xe0, 0x81, 0x23, 5, 0x40, 0x9c]) }),
    buildRtp({ payloadType: 111, sequenceNumber: 65535, timestamp: 0xffffffff, ssrc: 9, csrcs: [1, 2], extensions: [[20, Buffer.alloc(0)], [200, Buffer.alloc(20, 7)]], payload: b('opus'), padding: 4 }),
    buildRtp({ payloadType: 97, sequenceNumber: 7, timestamp: 8, ssrc: 10, payload: Buffer.from([0x12, 0x34, 0x10, 0x00]) }),
  ],
  dictionary: [Buffer.from([0xbe, 0xde]), Buffer.from([0x10, 0x00]), Buffer.from([0x80]), Buffer.from([0x90]), Buffer.from([0xa0]), Buffer.from([0x8f]), Buffer.from([0x00, 0xff]), Buffer.from([0xf0])],
  maxLength: 1600,
  run(input) {
    onlyRtpErrors(() => {
      const v = rtpView.parse(input);
      if (v.payloadOffset + v.payloadLength + v.paddingLength !== input.length) throw new FuzzFinding('RTP lengths do not add up');
      const values: Array<Buffer | null> = [];
      for (let id = 1; id < 256; id++) {
        const off = v.findExtension(id);
        if (off >= 0 && (off < 16 || off + v.extValueLength > v.payloadOffset)) throw new FuzzFinding(`extension ${id} at ${off}+${v.extValueLength} outside the extension block`);
        values.push(off >= 0 ? input.subarray(off, off + v.extValueLength) : null);
      }
      const copy = rewriteCopy(input, input.length, 0x01020304, 0xfffe, 0x0a0b0c0d, 100);
      const c = rtpView2.parse(copy);
      if (c.ssrc !== 0x01020304 || c.sequenceNumber !== 0xfffe || c.timestamp !== 0x0a0b0c0d || c.payloadType !== 100 || c.marker !== v.marker || !c.payload().equals(v.payload())) throw new FuzzFinding('rewrite changed more than the rewritten fields');
      for (let id = 1; id < 256; id++) {
        const off = c.findExtension(id);
        const want = values[id - 1];
        if ((off >= 0) !== (want !== null) || (want && !copy.subarray(off, off + c.extValueLength).equals(want))) throw new FuzzFinding(`extension ${id} differs after rewrite`);
      }
      // Re-home the extensions that fit the one-byte form to ids 1..14 in order, as a consumer would.
      const ext = new ExtensionBlock();
      const kept: Buffer[] = [];
      for (const val of values) if (val && val.length >= 1 && val.length <= 16 && kept.length < 14) kept.push(val);
      kept.forEach((val, j) => ext.set(j + 1, val, 0, val.length));
      const out = Buffer.alloc(input.length + ext.wireLength + 64);
      const n = rewriteWithExtensions(v, out, 3, 1, 2, 3, 4, ext);
      const w = rtpView2.parse(out.subarray(3, 3 + n), n, { maxLength: 4000 });
      if (!w.payload().equals(v.payload()) || w.csrcCount !== v.csrcCount) throw new FuzzFinding('rewriteWithExtensions changed the payload or CSRCs');
      kept.forEach((val, j) => {
        const off = w.findExtension(j + 1);
        if (off < 0 || !w.buf.subarray(off, off + w.extValueLength).equals(val)) throw new FuzzFinding(`re-homed extension ${j + 1} lost`);
      });
      if (v.payloadLength >= 2) {
        const orig = rtpView2.parse(unwrapRtx(v, 5, 96), undefined, { maxLength: 2000 });
        const again = rtpView.parse(wrapRtx(orig, v.ssrc, v.payloadType, v.sequenceNumber), undefined, { maxLength: 2000 });
        if (!again.payload().equals(input.subarray(v.payloadOffset, v.payloadOffset + v.payloadLength))) throw new FuzzFinding('RTX unwrap → wrap changed the payload');
      }
    });
  },
};

function canonicalNack(p: RtcpPacket): RtcpPacket {
  return p.type === 'nack' ? { ...p, lost: [...new Set(p.lost)].sort((x, y) => x - y) } : p;
}

export const rtcp: FuzzTarget = {
  name: 'rtcp',
  description: 'parseRtcp (SR, RR, SDES, BYE, NACK, PLI, FIR, REMB, transport-cc, unknown skipped) + serialize → parse round trip',
  seeds: [
    Buffer.concat([
      buildSr({ ssrc: 1, ntpSec: 2, ntpFrac: 3, rtpTimestamp: 4, packetCount: 5, octetCount: 6, reports: [{ ssrc: 2, fractionLost: 3, packetsLost: -4, highestSeq: 5, jitter: 6, lsr: 7, dlsr: 8 }] }),
      buildSdes([{ ssrc: 1, cname: 'abc' }]),
    ]),
    Buffer.concat([buildNack(1, 2, [65535, 0, 3, 40]), buildRemb(1, 1_500_000, [2, 3])]),
    buildTransportCc({ senderSsrc: 1, mediaSsrc: 2, baseSeq: 65530, referenceTime: 77, fbPktCount: 3, status: [1, 1, 0, 0, 2, 1, ...new Array(20).fill(0), 1], deltas: [4, 255, -300, 0, 9] }),
    Buffer.from('81ce000200000001000000028fce000300000001000000004142434480cf000100000001', 'hex'),
  ],
  dictionary: [Buffer.from([0xc8]), Buffer.from([0xc9]), Buffer.from([0xca]), Buffer.from([0xcb]), Buffer.from([0xcd]), Buffer.from([0xce]), Buffer.from([0x8f]), Buffer.from([0x81]), Buffer.from([0x84]), b('REMB'), Buffer.from([0x20, 0x03]), Buffer.from([0xe1, 0x00]), Buffer.from([0x98, 0x00])],
  maxLength: 1500,
  run(input) {
    onlyRtpErrors(() => {
      const p1 = parseRtcp(input);
      // An empty generic NACK parses (no FCI) but has nothing to serialize; buildNack re-packs a
      // list (sorted, duplicates merged), so NACK lists compare as sets.
      const kept = p1.filter((p) => p.type !== 'nack' || p.lost.length > 0).map(canonicalNack);
      const p2 = parseRtcp(serializeRtcp(kept), { maxLength: 1 << 20 }).map(canonicalNack);
      if (isDeepStrictEqual(kept, p2)) return;
      // Invalid UTF-8 in a CNAME or BYE reason decodes to U+FFFD, which re-encodes differently;
      // from then on the round trip must be exact.
      const p3 = parseRtcp(serializeRtcp(p2), { maxLength: 1 << 20 });
      if (!JSON.stringify(kept).includes('\uFFFD') || !isDeepStrictEqual(p2, p3)) throw new FuzzFinding(`RTCP does not survive serialize → parse: ${JSON.stringify(kept).slice(0, 300)}`);
    });
  },
};

const vp8Desc = new Vp8Descriptor();
const vp8Desc2 = new Vp8Descriptor();

export const vp8: FuzzTarget = {
  name: 'vp8',
  description: 'VP8 payload descriptor parse + keyframe test + munger rewrite (re-parse keeps the layout); H.264 packet info (modes 0 and 1) on the same bytes',
  seeds: ['90e0812305409c012a', 'a090331f01', '1000', '7800046742001f000268ce', '7c85aa'].map((h) => Buffer.from(h, 'hex')),
  dictionary: [Buffer.from([0x80]), Buffer.from([0x90]), Buffer.from([0xe0]), Buffer.from([0xf0]), Buffer.from([0x10]), Buffer.from([0x78]), Buffer.from([0x7c]), Buffer.from([0x85]), Buffer.from([0x00, 0x04])],
  maxLength: 256,
  run(input) {
    onlyRtpErrors(() => {
      h264PacketInfo(input, 0, input.length, 0);
    });
    onlyRtpErrors(() => {
      h264PacketInfo(input, 0, input.length, 1);
    });
    onlyRtpErrors(() => {
      const d = vp8Desc.parse(input, 0, input.length);
      if (isVp8Keyframe(input) !== d.keyframe) throw new FuzzFinding('isVp8Keyframe disagrees with the descriptor');
      const copy = Buffer.from(input);
      const m = new Vp8Munger();
      m.rewrite(copy, 0, d);
      m.rewrite(copy, 0, d, true);
      const e = vp8Desc2.parse(copy, 0, copy.length);
      if (e.length !== d.length || e.pictureIdBits !== d.pictureIdBits || e.tid !== d.tid || e.keyframe !== d.keyframe || !copy.subarray(d.length).equals(input.subarray(d.length))) throw new FuzzFinding('munger changed the descriptor layout or the payload');
    });
  },
};

export const targets: FuzzTarget[] = [protocolJson, protocolMsgpack, wsReceiver, apiBody, sseHttp, redisWire, stun, h3Frames, qpack, rtp, rtcp, vp8];
