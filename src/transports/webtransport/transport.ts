/**
 * WebTransport transport: adapts one WebTransport session's bidirectional stream to the Session's
 * Transport. Protocol frames travel length-prefixed (framer.ts) with the same codecs as every
 * other transport, so recovery, heartbeats, backpressure and limits are the Session's, unchanged.
 */
import type { Disconnect } from '../../protocol/codes.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { disconnect } from '../../protocol/codes.ts';
import type { Format } from '../../server/format.ts';
import type { Transport, TransportHandler, UnreliableSender } from '../../server/transport.ts';
import { MessageReader, wtJsonUnreliable, wtMsgpackUnreliable } from './framer.ts';
import type { WtSession } from './h3.ts';

/** Stream queue size past which write() reports backpressure (as the WebSocket transport's socket buffer). */
const HIGH_WATERMARK = 64 * 1024;

export class WebTransportTransport implements Transport {
  readonly kind = 'webtransport' as const;
  readonly remoteAddress: string;
  private handler: TransportHandler | null = null;
  private readonly reader: MessageReader;
  private closing = false;
  private done = false;

  private readonly datagrams: UnreliableSender;

  constructor(
    readonly session: WtSession,
    readonly format: Format,
    maxMessageBytes: number,
    /** Largest datagram payload we send (webtransport.maxDatagramBytes). */
    maxDatagramBytes = 1200,
  ) {
    this.remoteAddress = session.quic.remote.host;
    this.reader = new MessageReader(maxMessageBytes);
    const s = session;
    this.datagrams = {
      format: format.codec.binary ? wtMsgpackUnreliable : wtJsonUnreliable,
      get maxBytes() {
        return Math.min(s.maxDatagramPayload, maxDatagramBytes);
      },
      send: (frame) => {
        if (this.closing) return 'dropped';
        return s.sendDatagram(frame) ? 'sent' : s.quic.datagramQueueFull ? 'dropped' : 'too-big';
      },
    };
  }

  /** HTTP datagrams, once both sides enabled them (H3_DATAGRAM in SETTINGS); null before or without. */
  get unreliable(): UnreliableSender | null {
    return this.session.h3.datagramsEnabled && !this.closing ? this.datagrams : null;
  }

  attach(handler: TransportHandler): void {
    this.handler = handler;
    const s = this.session;
    s.onData = (chunk) => this.onData(chunk);
    s.onDrain = () => this.handler?.onDrain();
    s.onClose = (code, reason) => this.finish(code, reason);
  }

  get bufferedBytes(): number {
    return this.session.bufferedBytes;
  }

  write(chunks: readonly Buffer[]): boolean {
    if (this.closing || chunks.length === 0) return false;
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks as Buffer[]);
    if (!this.session.write(data)) {
      // The connection's queue budget is spent (or the stream is gone): a slow consumer.
      queueMicrotask(() => this.handler?.onTransportError(disconnect('slow')));
      return false;
    }
    return this.session.bufferedBytes < HIGH_WATERMARK;
  }

  pause(): void {
    this.session.pause();
  }

  resume(): void {
    this.session.resume();
  }

  /** CLOSE_WEBTRANSPORT_SESSION with the disconnect code, after what was written. Idempotent. */
  close(d: Disconnect): void {
    if (this.closing) return;
    this.closing = true;
    this.session.close(d.code, d.reason);
    const quic = this.session.quic;
    // One session per connection: close the QUIC connection once the peer had time to read the
    // close (it usually closes first), so an abandoned connection does not idle for the timeout.
    setTimeout(() => {
      if (this.session.h3.sessions.size === 0) quic.close(0x100, 'session closed');
    }, 2000).unref();
    this.finish(d.code, d.reason);
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    let msgs: Buffer[];
    try {
      msgs = this.reader.push(chunk);
    } catch (err) {
      if (err instanceof ProtocolError) return this.handler?.onTransportError(disconnect(err.disconnect, { reason: err.message.slice(0, 100) }));
      throw err;
    }
    for (const m of msgs) {
      if (this.closing) return;
      this.handler?.onMessage(m);
    }
  }

  private finish(code: number, reason: string): void {
    if (this.done) return;
    this.done = true;
    this.closing = true;
    this.handler?.onClose(code, reason);
  }
}
