/**
 * The upgrade probe: a second connection opened beside the current (fallback) one, to move the
 * session to a preferred transport without losing or duplicating a publication.
 *
 * How (the simplest sound way):
 * 1. open the preferred transport and send `connect` (a new server session);
 * 2. resubscribe every subscription with `recover` from its CURRENT position;
 * 3. meanwhile the old connection keeps delivering; whatever the probe receives (subscribe replies
 *    with their recovered publications, then live pushes) is buffered, in arrival order;
 * 4. once every subscribe is answered, the Client switches: it applies the buffer, then routes the
 *    new transport to itself, and retires the old one.
 *
 * Why exactly once: for each channel the probe's stream is contiguous from the position the
 * resubscribe recovered from (the server replays the gap, then goes live, with no hole: protocol
 * "sub"), and the old connection delivered everything up to some offset at or past that position.
 * Applying the probe's stream through the per-channel offset check drops the overlap.
 */
import type { Codec } from '../protocol/codec.ts';
import type { ServerFrame } from '../protocol/frames.ts';
import type { Clock } from '../util/clock.ts';
import { CommandChannel } from './commands.ts';
import { ClientError } from './errors.ts';
import { parseServerFrame } from './inbound.ts';
import type { ClientTransport, TransportClose, TransportContext, TransportEvents, TransportFactory } from './transport.ts';

/** Something the probe received before the switch, in arrival order. */
export type ProbeItem = { kind: 'subscribed'; channel: string; reply: Record<string, unknown> } | { kind: 'frame'; frame: ServerFrame };

/** What a probe needs. */
export interface ProbeSetup {
  factory: TransportFactory;
  ctx: TransportContext;
  clock: Clock;
  limits: { timeout: number; maxMessageBytes: number; openTimeout: number };
  connectFrame: Record<string, unknown>;
  /** The subscribe commands to send (one per subscription). */
  subscriptions: Array<{ channel: string; frame: Record<string, unknown> }>;
}

export class UpgradeProbe {
  readonly commands: CommandChannel;
  transport: ClientTransport | undefined;
  /** The `connect` reply of the new session. */
  reply: Record<string, unknown> | undefined;
  private buffer: ProbeItem[] = [];
  private sink: TransportEvents | undefined;
  private failed: ((err: Error) => void) | undefined;
  private done = false;
  private readonly abort = new AbortController();

  constructor(private readonly setup: ProbeSetup) {
    this.commands = new CommandChannel(setup.ctx.codec, setup.clock, setup.limits);
  }

  get name(): string {
    return this.setup.factory.name;
  }

  /** Opens, connects and resubscribes. Resolves when every subscribe is answered; rejects on any failure. */
  async run(): Promise<void> {
    const { factory, ctx, clock, limits } = this.setup;
    const timer = clock.setTimeout(() => this.abort.abort(), limits.openTimeout);
    try {
      this.transport = await factory.create({ ...ctx, signal: this.abort.signal }, { message: (d) => this.onMessage(d), close: (ev) => this.onClose(ev) });
    } catch (err) {
      throw this.abort.signal.aborted && !this.done ? new ClientError(`${factory.name}: no open within ${limits.openTimeout} ms`) : err;
    } finally {
      clock.clearTimeout(timer);
    }
    if (this.done) throw new ClientError('probe abandoned');
    this.commands.attach(this.transport);
    const failure = new Promise<never>((_, reject) => (this.failed = reject));
    failure.catch(() => {});
    this.reply = await Promise.race([this.commands.request(this.setup.connectFrame), failure]);
    const subs = this.setup.subscriptions;
    if (subs.length === 0) return;
    await Promise.race([
      failure,
      new Promise<void>((resolve, reject) => {
        let left = subs.length;
        for (const { channel, frame } of subs) {
          this.commands.send(frame, {
            ok: (reply) => {
              this.buffer.push({ kind: 'subscribed', channel, reply });
              if (--left === 0) resolve();
            },
            err: (err) => reject(new ClientError(`resubscribe to "${channel}" failed: ${err.message}`, { cause: err })),
            lost: () => reject(new ClientError('probe connection lost')),
          });
        }
      }),
    ]);
  }

  /**
   * Takes the probe over: from now on the transport's events go to `sink`. Returns what was
   * buffered, to be applied before anything else.
   */
  adopt(sink: TransportEvents): ProbeItem[] {
    this.sink = sink;
    this.done = true;
    const b = this.buffer;
    this.buffer = [];
    return b;
  }

  /** Gives up: closes the probe's transport. Idempotent; no effect after `adopt`. */
  abandon(): void {
    if (this.sink) return;
    this.done = true;
    this.abort.abort();
    this.commands.detach();
    this.transport?.close(1000, 'upgrade probe abandoned');
    this.fail(new ClientError('probe abandoned'));
  }

  private fail(err: Error): void {
    const f = this.failed;
    this.failed = undefined;
    f?.(err);
  }

  private onMessage(data: string | Uint8Array): void {
    if (this.sink) return this.sink.message(data);
    if (this.done) return;
    try {
      for (const raw of this.setup.ctx.codec.decode(data)) {
        const f = parseServerFrame(raw);
        if (!f) continue;
        if (f.t === 'ok' || f.t === 'err') this.commands.onReply(f);
        else if (f.t === 'ping') this.commands.sendNoReply({ t: 'pong' });
        else if (f.t === 'disconnect') return this.fail(new ClientError(`probe disconnected by server: ${f.code} ${f.reason}`));
        else this.buffer.push({ kind: 'frame', frame: f });
      }
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private onClose(ev: TransportClose): void {
    if (this.sink) return this.sink.close(ev);
    this.commands.detach();
    this.fail(new ClientError(`probe transport closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})`));
  }
}

/** The codec a connection on `factory` uses: the client's format if the transport carries it, else JSON. */
export function codecFor(factory: TransportFactory, wanted: Codec, json: Codec): Codec {
  const formats = factory.formats ?? ['json', 'msgpack'];
  return formats.includes(wanted.name) ? wanted : json;
}
