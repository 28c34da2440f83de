/**
 * The SDK's WebTransport transport (browser `WebTransport` API). Pass it in `transports`, ahead of
 * WebSocket: `new Client(url, { transports: [webtransportTransport, 'websocket', 'sse', 'poll'] })`.
 *
 * Opening: `GET /connection/webtransport` on the node's HTTP port says whether the node serves
 * WebTransport, at which `https://` URL, and (dev mode) which certificate hash to pin; then
 * `new WebTransport(url, { serverCertificateHashes })`, one bidirectional stream, and the
 * Switchboard frames on it, each prefixed with its length as a QUIC varint (framer.ts).
 *
 * Fallback: when UDP is blocked, `ready` never settles; the Client's `openTimeout` aborts the
 * attempt (ctx.signal) and the next factory (WebSocket) is tried — and remembered for the origin,
 * like any fallback. A node or browser without WebTransport rejects at once.
 *
 * Browser-only, no Node imports (it is bundled with the SDK). Lives here until it moves to
 * src/client/ (the file layout of this change was restricted to the transport's folder).
 */
import type { ClientTransport, TransportContext, TransportEvents, TransportFactory } from '../../client/transport.ts';
import { endpointUrl } from '../../client/endpoint.ts';

interface WebTransportLike {
  ready: Promise<void>;
  closed: Promise<{ closeCode?: number; reason?: string }>;
  createBidirectionalStream(): Promise<{ readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }>;
  /** HTTP datagrams (the browser strips the quarter stream ID); absent on old implementations. */
  datagrams?: { readable: ReadableStream<Uint8Array> };
  close(info?: { closeCode?: number; reason?: string }): void;
}
type WebTransportCtor = new (url: string, options?: { serverCertificateHashes?: Array<{ algorithm: string; value: Uint8Array }> }) => WebTransportLike;

/** What `GET /connection/webtransport` answers (server.ts WebTransportInfo). */
interface Info {
  available: boolean;
  url?: string;
  certificateHashes?: Array<{ algorithm: string; value: string }>;
  reason?: string;
}

/** A writer's queue above this many bytes reports backpressure. */
const HIGH_WATERMARK = 256 * 1024;

function varint(n: number): Uint8Array {
  if (n < 0x40) return Uint8Array.of(n);
  if (n < 0x4000) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  return Uint8Array.of(0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Splits a byte stream into length-prefixed messages (the mirror of framer.ts MessageReader). */
class Deframer {
  private buf = new Uint8Array(0);
  constructor(private readonly max: number) {}

  push(chunk: Uint8Array): Uint8Array[] {
    const all = new Uint8Array(this.buf.length + chunk.length);
    all.set(this.buf);
    all.set(chunk, this.buf.length);
    const out: Uint8Array[] = [];
    let at = 0;
    for (;;) {
      if (at >= all.length) break;
      const n = 1 << (all[at]! >> 6);
      if (at + n > all.length) break;
      let len = all[at]! & 0x3f;
      for (let i = 1; i < n; i++) len = len * 256 + all[at + i]!;
      if (len > this.max) throw new Error(`message of ${len} bytes from the server (limit ${this.max})`);
      if (at + n + len > all.length) break;
      out.push(all.slice(at + n, at + n + len));
      at += n + len;
    }
    this.buf = all.slice(at);
    return out;
  }

  /** Forgets a partial message (a datagram is whole or nothing). */
  reset(): void {
    this.buf = new Uint8Array(0);
  }
}

class WebTransportClientTransport implements ClientTransport {
  readonly name = 'webtransport';
  private closed = false;
  private queued = 0;

  constructor(
    private readonly wt: WebTransportLike,
    private readonly writer: WritableStreamDefaultWriter<Uint8Array>,
  ) {}

  send(data: Uint8Array): boolean {
    if (this.closed) return false;
    const prefix = varint(data.length);
    const framed = new Uint8Array(prefix.length + data.length);
    framed.set(prefix);
    framed.set(data, prefix.length);
    this.queued += framed.length;
    this.writer.write(framed).then(
      () => {
        this.queued -= framed.length;
      },
      () => {
        this.queued -= framed.length;
      },
    );
    return this.queued < HIGH_WATERMARK;
  }

  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.wt.close({ closeCode: code, reason: reason.slice(0, 100) });
    } catch {
      /* already closed */
    }
  }
}

async function openInfo(ctx: TransportContext): Promise<Info> {
  const f = ctx.fetch ?? globalThis.fetch;
  const infoUrl = endpointUrl(ctx.url, 'poll').replace(/\/connection\/poll(?=$|\?)/, '/connection/webtransport');
  const r = await f(infoUrl, ctx.signal ? { signal: ctx.signal } : {});
  const info = (await r.json()) as Info;
  if (!info.available || !info.url) throw new Error(`WebTransport not served by this node${info.reason ? `: ${info.reason}` : ''}`);
  return info;
}

/** The WebTransport transport factory. */
export const webtransportTransport: TransportFactory = {
  name: 'webtransport',
  formats: ['json', 'msgpack'],
  async create(ctx: TransportContext, events: TransportEvents): Promise<ClientTransport> {
    const Ctor = (globalThis as { WebTransport?: WebTransportCtor }).WebTransport;
    if (!Ctor) throw new Error('this platform has no WebTransport');
    const info = await openInfo(ctx);
    if (ctx.signal?.aborted) throw new Error('connection attempt aborted');
    const url = new URL(info.url!);
    url.searchParams.set('format', ctx.codec.name);
    const hashes = info.certificateHashes?.map((h) => ({ algorithm: h.algorithm, value: fromBase64(h.value) }));
    const wt = new Ctor(url.toString(), hashes ? { serverCertificateHashes: hashes } : {});
    wt.closed.catch(() => {});
    const abort = new Promise<never>((_, reject) => {
      const onAbort = () => {
        try {
          wt.close();
        } catch {
          /* not open */
        }
        reject(new Error('connection attempt aborted (UDP blocked or WebTransport unreachable?)'));
      };
      if (ctx.signal?.aborted) onAbort();
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
    });
    await Promise.race([wt.ready, abort]);
    const stream = await Promise.race([wt.createBidirectionalStream(), abort]);
    const writer = stream.writable.getWriter();
    const transport = new WebTransportClientTransport(wt, writer);
    const deframer = new Deframer(Math.max(ctx.maxMessageBytes ?? 65536, 1 << 20));
    const decoder = new TextDecoder();
    let ended = false;
    const end = (code: number, reason: string) => {
      if (ended) return;
      ended = true;
      events.close({ code, reason });
    };
    // Publications of `datagrams: true` namespaces: one length-prefixed message per datagram
    // (framer.ts), marked `u: true`, so the Client reports a lost one as a gap.
    const dgReader = wt.datagrams?.readable.getReader();
    if (dgReader) {
      void (async () => {
        const one = new Deframer(Math.max(ctx.maxMessageBytes ?? 65536, 1 << 20));
        try {
          for (;;) {
            const r = await dgReader.read();
            if (r.done || ended) break;
            let msgs: Uint8Array[];
            try {
              msgs = one.push(r.value);
            } catch {
              continue; // a malformed datagram is dropped, like a lost one
            }
            one.reset();
            for (const m of msgs) events.message(ctx.codec.binary ? m : decoder.decode(m));
          }
        } catch {
          /* session closed */
        }
      })();
    }
    void (async () => {
      const reader = stream.readable.getReader();
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          for (const m of deframer.push(r.value)) events.message(ctx.codec.binary ? m : decoder.decode(m));
        }
      } catch {
        /* reset or session closed: `closed` says how */
      }
      const c = await wt.closed.catch((e: unknown) => ({ closeCode: 1006, reason: String(e) }));
      end(c.closeCode ?? 1006, c.reason ?? '');
    })();
    return transport;
  },
};
