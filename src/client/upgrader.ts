/**
 * Which transport the client is on, and moving it to a better one: the transport that worked is
 * remembered per node (transport-memory.ts) so the next connect starts there; while on a
 * fallback, the preferred transports are probed in the background (upgrade.ts: UpgradeProbe) after
 * a delay that doubles per failed probe, and the first that connects and answers every resubscribe
 * becomes the connection (Client.switchTo); the connection it replaced is retired — closed once its
 * commands in flight are answered.
 */
import { codecs, type Codec } from '../protocol/codec.ts';
import type { TimerHandle } from '../util/clock.ts';
import type { CommandChannel } from './commands.ts';
import { parseServerFrame } from './inbound.ts';
import type { ClientOptions } from './options.ts';
import type { SubscriptionRegistry } from './subscriptions.ts';
import type { TransportMemory } from './transport-memory.ts';
import type { ClientTransport, TransportContext, TransportFactory } from './transport.ts';
import { upgradeCandidates } from './transports.ts';
import { codecFor, UpgradeProbe } from './upgrade.ts';

/** What the upgrader needs from its Client. */
export interface UpgradeHost {
  /** The connection generation: a probe started on an older connection is abandoned. */
  generation(): number;
  connected(): boolean;
  /** Name of the transport of the current connection. */
  transportName(): string | undefined;
  /** Transports in preference order. */
  factories(): readonly TransportFactory[];
  readonly subscriptions: SubscriptionRegistry;
  currentToken(): Promise<string | undefined>;
  transportContext(codec: Codec, signal: AbortSignal): TransportContext;
  connectFrame(token: string | undefined): Record<string, unknown>;
  /** Makes the probe's connection the current one. */
  switchTo(probe: UpgradeProbe): void;
  /** Ends the current connection and reconnects at once. */
  reconnectNow(reason: string): void;
  /** The retired connection is closed: publishes held back for it may go out. */
  retired(): void;
}

/** The connection an upgrade replaced, until its commands in flight are answered. */
interface Retiring {
  gen: number;
  transport: ClientTransport;
  commands: CommandChannel;
  timer: TimerHandle;
}

export class TransportUpgrader {
  /** The background upgrade probe, its timer and its backoff exponent. */
  private probe: UpgradeProbe | undefined;
  private probeTimer: TimerHandle | undefined;
  private probeAttempt = 0;
  private retiring: Retiring | undefined;

  constructor(
    private readonly host: UpgradeHost,
    private readonly options: Readonly<ClientOptions>,
    private readonly memory: TransportMemory,
    private readonly memoryKey: string,
  ) {}

  /** The transport remembered for this node (a fallback that worked), if remembering is on. */
  remembered(): string | undefined {
    return this.options.rememberTransport > 0 ? this.memory.get(this.memoryKey) : undefined;
  }

  /** Forgets the remembered transport. */
  forget(): void {
    this.memory.delete(this.memoryKey);
  }

  /** A connection is up on `name`: remember it (a fallback) or forget (the preferred one), probe if a fallback. */
  chosen(name: string): void {
    const preferred = this.host.factories()[0]?.name === name;
    if (this.options.rememberTransport > 0) {
      if (preferred) this.forget();
      else this.memory.set(this.memoryKey, name, this.options.rememberTransport);
    }
    if (preferred) this.probeAttempt = 0;
    this.schedule();
  }

  /** The transport list changed: forget what was remembered and probe from the first delay again. */
  reset(): void {
    this.forget();
    this.cancel();
    this.probeAttempt = 0;
  }

  /** Stops a planned or running probe. */
  cancel(): void {
    this.options.clock.clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.probe?.abandon();
    this.probe = undefined;
  }

  /** While on a fallback: probe the preferred transports after a delay that doubles per failed probe (with jitter). */
  private schedule(): void {
    const host = this.host;
    this.options.clock.clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    const current = host.transportName();
    if (!this.options.upgrade || !host.connected() || current === undefined) return;
    const candidates = upgradeCandidates(host.factories(), current);
    if (candidates.length === 0) return;
    const o = this.options;
    const cap = Math.min(o.upgradeMaxDelay, o.upgradeMinDelay * 2 ** Math.min(this.probeAttempt, 30));
    const delay = cap / 2 + o.random() * (cap / 2);
    this.probeTimer = o.clock.setTimeout(() => {
      this.probeTimer = undefined;
      void this.run(candidates, false);
    }, delay);
  }

  /**
   * Tries `candidates` in order beside the current connection; switches to the first that connects
   * and answers every resubscribe. `hard`: if none does, reconnect (with the current list) instead
   * of staying — used when the app forced a transport list that excludes the current one.
   */
  async run(candidates: TransportFactory[], hard: boolean): Promise<void> {
    const host = this.host;
    if (this.probe || !host.connected()) return;
    // A subscription still (re)subscribing on the current connection: try again later.
    if (!host.subscriptions.allSubscribed()) {
      if (hard) host.reconnectNow('transport list changed');
      else this.schedule();
      return;
    }
    const gen = host.generation();
    let token: string | undefined;
    try {
      token = await host.currentToken();
    } catch {
      if (gen === host.generation()) this.schedule();
      return;
    }
    for (const factory of candidates) {
      if (gen !== host.generation() || !host.connected()) return;
      const codec = codecFor(factory, codecs[this.options.format], codecs.json);
      const probe = new UpgradeProbe({
        factory,
        ctx: host.transportContext(codec, new AbortController().signal),
        clock: this.options.clock,
        limits: this.options,
        connectFrame: host.connectFrame(token),
        subscriptions: [...host.subscriptions.values()].map((s) => ({ channel: s.channel, frame: s._probeFrame() as unknown as Record<string, unknown> })),
      });
      this.probe = probe;
      try {
        await probe.run();
      } catch {
        probe.abandon();
        if (this.probe === probe) this.probe = undefined;
        continue;
      }
      if (this.probe !== probe || gen !== host.generation() || !host.connected()) {
        probe.abandon();
        return;
      }
      this.probe = undefined;
      host.switchTo(probe);
      return;
    }
    if (gen !== host.generation()) return;
    if (hard) return host.reconnectNow('forced transport unavailable beside the current one');
    this.probeAttempt++;
    this.schedule();
  }

  // ---- the retiring connection ------------------------------------------------------------------

  /** Whether a replaced connection still has commands in flight (new publishes wait for it). */
  get isRetiring(): boolean {
    return this.retiring !== undefined;
  }

  /** Whether `gen` is the generation of the retiring connection. */
  isRetiringGen(gen: number): boolean {
    return this.retiring !== undefined && this.retiring.gen === gen;
  }

  /**
   * The replaced connection: its pushes are ignored from now on (the new one delivers), its
   * subscriptions are dropped on the server right away (so presence shows the client once), and
   * it is closed once its commands in flight (publishes, presence, history) are answered, or after
   * `timeout`. What is still unanswered then is resent (publishes with keys) or fails.
   */
  retire(gen: number, transport: ClientTransport, commands: CommandChannel): void {
    this.closeRetiring();
    const noop = { ok: () => {}, err: () => {}, lost: () => {} };
    for (const ch of this.host.subscriptions.channels()) commands.send({ t: 'unsub', ch }, noop);
    const timer = this.options.clock.setTimeout(() => this.closeRetiring(), this.options.timeout);
    this.retiring = { gen, transport, commands, timer };
  }

  closeRetiring(): void {
    const r = this.retiring;
    if (!r) return;
    this.retiring = undefined;
    this.options.clock.clearTimeout(r.timer);
    r.commands.detach();
    r.transport.close(1000, 'upgraded');
    this.host.retired();
  }

  /** A message on the retiring connection: only replies matter. */
  onRetiringMessage(data: string | Uint8Array): void {
    const r = this.retiring!;
    try {
      for (const raw of r.commands.codec.decode(data)) {
        const f = parseServerFrame(raw);
        if (f && (f.t === 'ok' || f.t === 'err')) r.commands.onReply(f);
      }
    } catch {
      // a broken message on a connection being closed anyway
    }
    if (this.retiring === r && r.commands.inflight === 0) this.closeRetiring();
  }
}
