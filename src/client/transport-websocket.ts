/**
 * The WebSocket client transport. The codec is chosen by subprotocol: `switchboard.json` (text
 * messages) or `switchboard.msgpack` (binary messages), docs/protocol.md "Transports and codecs".
 *
 * The constructor comes from, in order: `options.websocket`, `globalThis.WebSocket` (browsers,
 * Node 22+), or the `ws` package loaded with a dynamic import whose specifier is a variable, so a
 * browser bundler never pulls `ws` (or any Node module) into the bundle.
 */
import { endpointUrl } from './endpoint.ts';
import type { ClientTransport, TransportContext, TransportEvents, TransportFactory, WebSocketConstructor, WebSocketLike } from './transport.ts';

const SUBPROTOCOL = { json: 'switchboard.json', msgpack: 'switchboard.msgpack' } as const;
/** Above this many buffered bytes `send` returns false (backpressure hint). */
const HIGH_WATER_MARK = 1 << 20;
const OPEN = 1;

const textDecoder = new TextDecoder();

let wsPackage: Promise<WebSocketConstructor> | undefined;

/** Resolves the WebSocket constructor to use (see the file comment). */
export async function resolveWebSocket(explicit?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (explicit) return explicit;
  const g = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (g) return g;
  wsPackage ??= (async () => {
    const specifier = 'ws'; // a variable: bundlers must not resolve this import
    const mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as { default?: unknown; WebSocket?: unknown };
    const ctor = (mod.WebSocket ?? mod.default) as WebSocketConstructor | undefined;
    if (typeof ctor !== 'function') throw new Error('the "ws" package does not export a WebSocket class');
    return ctor;
  })();
  try {
    return await wsPackage;
  } catch (err) {
    wsPackage = undefined;
    throw new Error('no WebSocket available: pass options.websocket, or install the "ws" package in Node < 22', { cause: err });
  }
}

class WebSocketTransport implements ClientTransport {
  readonly name = 'websocket';
  private closed = false;

  constructor(
    private readonly ws: WebSocketLike,
    private readonly binary: boolean,
  ) {}

  send(data: Uint8Array): boolean {
    if (this.closed || this.ws.readyState !== OPEN) return false;
    // JSON travels as text messages (the protocol says so), MessagePack as binary.
    this.ws.send(this.binary ? data : textDecoder.decode(data));
    return this.ws.bufferedAmount < HIGH_WATER_MARK;
  }

  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.close(); // a code the platform refuses: close without one
    }
  }
}

/** The WebSocket transport factory. */
export const websocketTransport: TransportFactory = {
  name: 'websocket',
  formats: ['json', 'msgpack'],
  async create(ctx: TransportContext, events: TransportEvents): Promise<ClientTransport> {
    const Ctor = await resolveWebSocket(ctx.websocket);
    if (ctx.signal?.aborted) throw new Error('connection attempt aborted');
    const protocol = SUBPROTOCOL[ctx.codec.name];
    const url = endpointUrl(ctx.url, 'websocket');
    const ws = new Ctor(url, [protocol]);
    ws.binaryType = 'arraybuffer';
    const transport = new WebSocketTransport(ws, ctx.codec.binary);
    return new Promise<ClientTransport>((resolve, reject) => {
      let opened = false;
      let ended = false;
      ws.onopen = () => {
        // An empty protocol means the server picked its default (JSON).
        const chosen = ws.protocol || SUBPROTOCOL.json;
        if (chosen !== protocol) {
          ended = true;
          transport.close(1002, 'subprotocol mismatch');
          reject(new Error(`server chose subprotocol "${chosen}", asked for "${protocol}"`));
          return;
        }
        opened = true;
        resolve(transport);
      };
      ws.onmessage = (ev) => {
        if (ended) return;
        const d = ev.data;
        if (typeof d === 'string') events.message(d);
        else if (d instanceof ArrayBuffer) events.message(new Uint8Array(d));
        else if (ArrayBuffer.isView(d)) events.message(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      };
      ctx.signal?.addEventListener('abort', () => {
        if (opened || ended) return;
        ended = true;
        transport.close(1000, 'aborted');
        reject(new Error('connection attempt aborted'));
      });
      let errorText = '';
      ws.onerror = (ev) => {
        // Always followed by onclose, which carries the code. The `ws` package says why here
        // ("Unexpected server response: 403"); browsers never do.
        const m = (ev as { message?: unknown } | null)?.message;
        if (typeof m === 'string' && m) errorText = m;
      };
      ws.onclose = (ev) => {
        if (ended) return;
        ended = true;
        if (!opened) {
          reject(new Error(`WebSocket to ${url} closed before opening (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''}${errorText ? `; ${errorText}` : ''})`));
          return;
        }
        events.close({ code: ev.code, reason: ev.reason });
      };
    });
  },
};
