/**
 * What a node knows of its cluster, carried by the broker itself: every node publishes its info
 * on a reserved channel every `nodeInfoInterval` seconds, and every node keeps the latest entry
 * per node. Cluster-wide answers (`/api/info`, rebalancing) read this registry instead of asking
 * every node and waiting for timeouts; a node that stopped reporting shows as stale.
 *
 * The channel name starts with '$', which client channel names cannot contain, so no client can
 * subscribe to or publish on it. Anything else that can write to the broker can, though: every
 * registry report and control message is signed with the cluster secret and checked (signature,
 * replay window, every field's type and range) before it is believed — see cluster-trust.ts. A
 * node without a key (no `clusterSecret`, network broker) publishes nothing and believes nothing.
 */
import { disconnect } from '../protocol/codes.ts';
import type { TimerHandle } from '../util/clock.ts';
import { parseControl, parseNodeInfo, type ControlDisconnect, type NodeInfo } from './cluster-messages.ts';
import { signMessage, verifyMessage, type RejectReason } from './cluster-trust.ts';
import type { Envelope, HubSubscriber } from './hub.ts';
import type { NodeCore } from './core.ts';
import { SessionState } from './session.ts';

export { BUSIEST_REPORTED, type ControlDisconnect, type NodeInfo } from './cluster-messages.ts';

export const NODES_CHANNEL = '$sb:nodes';
/** Cluster-wide commands (a disconnect by user or client reaches every node). */
export const CONTROL_CHANNEL = '$sb:control';
/**
 * Per-user connection registry: the presence set `$sb:user:<user>` holds one member per
 * connection of that user, with `info: {node, transport}`; it expires with presence TTL when a node
 * dies, and lookups mark members of stale or unknown nodes.
 */
export const USER_PREFIX = '$sb:user:';

/** Signed-message purposes (part of what the MAC covers, so one cannot stand in for the other). */
const NODES_KIND = 'nodes';
const CONTROL_KIND = 'control';
/** Nodes the registry holds at most (a bound even against a flood of signed reports). */
const MAX_NODES = 1024;
/** Control-message signatures remembered against replays (within the window), at most. */
const MAX_SEEN_CONTROL = 10_000;

/** A connection found in the registry. */
export interface ConnectionEntry {
  client: string;
  user: string;
  node: string;
  transport: string;
  /** Its node has not reported lately or is unknown: the connection is probably gone. */
  stale: boolean;
}

export interface ClusterEntry extends NodeInfo {
  /** No report for 3 intervals: the node is probably gone. */
  stale: boolean;
  /** Milliseconds since the last report (receiver's clock). */
  age: number;
}

export class Cluster implements HubSubscriber {
  private readonly nodes = new Map<string, { info: NodeInfo; seenAt: number; signedAt: number }>();
  /** Signatures of control messages already acted on, with when they leave the replay window. */
  private readonly seenControl = new Map<string, number>();
  private timer: TimerHandle | undefined;
  private cooldownUntil = 0;
  private warned = false;
  /** Connections this node asked to move elsewhere (metrics). */
  rebalanced = 0;
  /** Registry and control messages not believed, by reason (metrics). */
  readonly rejected: Record<RejectReason, number> = { unsigned: 0, badSignature: 0, stale: 0, invalid: 0, replay: 0 };

  /** @param key the cluster key (node.clusterKey); null: trust no peer and publish nothing. */
  constructor(
    private readonly node: NodeCore,
    private readonly key: string | null,
  ) {}

  /**
   * How far a signed message's timestamp may be from our clock (ms), either way: ten report
   * intervals, and at least 30 s so modest clock skew between hosts is tolerated.
   */
  private get windowMs(): number {
    return Math.max(30_000, this.node.options.nodeInfoInterval * 10_000);
  }

  /** Verifies a signed message of `kind`; counts and returns null when it is not believed. */
  private verified(kind: string, env: Envelope): { payload: unknown; ts: number; sig: string } | null {
    if (this.key === null) return null;
    const r = verifyMessage(this.key, kind, (env.frame as { data?: unknown }).data, this.node.clock.now(), this.windowMs);
    if (!r.ok) {
      this.rejected[r.reason]++;
      return null;
    }
    return r;
  }

  /** Receives CONTROL_CHANNEL messages from other nodes. */
  private readonly control: HubSubscriber = {
    deliverPub: (env: Envelope) => {
      const v = this.verified(CONTROL_KIND, env);
      if (!v) return;
      const m = parseControl(v.payload);
      if (!m) {
        this.rejected.invalid++;
        return;
      }
      if (m.from === this.node.options.name) return;
      if (!this.firstSighting(v.sig, v.ts)) {
        this.rejected.replay++;
        return;
      }
      const target: { client?: string; user?: string } = {};
      if (m.client !== undefined) target.client = m.client;
      if (m.user !== undefined) target.user = m.user;
      const opts: { reconnect?: boolean; delay?: number; reason?: string } = {};
      if (m.reconnect !== undefined) opts.reconnect = m.reconnect;
      if (m.delay !== undefined) opts.delay = m.delay;
      if (m.reason !== undefined) opts.reason = m.reason;
      this.node.disconnect(target, opts);
    },
    deliverEvent: () => {},
    resetStream: () => {},
  };

  /**
   * False when this control message was already seen: a copy re-published by someone who can
   * write to the broker would otherwise disconnect the same users again and again within the
   * window. Entries leave once their message is outside the window anyway.
   */
  private firstSighting(sig: string, ts: number): boolean {
    const now = this.node.clock.now();
    if (this.seenControl.has(sig)) return false;
    if (this.seenControl.size >= MAX_SEEN_CONTROL) {
      for (const [s, until] of this.seenControl) if (until < now) this.seenControl.delete(s);
      // Still full of live entries: a flood of distinct signed messages, i.e. someone holding the
      // secret. Forget the oldest rather than grow.
      if (this.seenControl.size >= MAX_SEEN_CONTROL) this.seenControl.delete(this.seenControl.keys().next().value!);
    }
    this.seenControl.set(sig, ts + this.windowMs);
    return true;
  }

  async start(): Promise<void> {
    if (this.key === null && !this.warned) {
      this.warned = true;
      console.warn(
        `switchboard: no clusterSecret and broker ${this.node.broker.name} is shared: this node trusts no other node ` +
          '(no cluster registry, no cluster-wide disconnects, no SSE/poll forwarding). Set SWITCHBOARD_CLUSTER_SECRET on every node.',
      );
    }
    await this.node.hub.add(CONTROL_CHANNEL, this.control);
    await this.node.hub.add(NODES_CHANNEL, this);
    this.report();
    this.timer = this.node.clock.setInterval(() => {
      this.report();
      this.rebalance();
    }, this.node.options.nodeInfoInterval * 1000);
  }

  stop(): void {
    this.node.clock.clearInterval(this.timer);
    this.timer = undefined;
    this.node.hub.remove(NODES_CHANNEL, this);
    this.node.hub.remove(CONTROL_CHANNEL, this.control);
  }

  /** Sends a disconnect to every other node (this one acts on its own). Rejects without a cluster key. */
  async broadcastDisconnect(m: Omit<ControlDisconnect, 'op' | 'from'>): Promise<void> {
    if (this.key === null) throw new Error('no clusterSecret: other nodes cannot be reached');
    const msg = signMessage(this.key, CONTROL_KIND, { op: 'disconnect', from: this.node.options.name, ...m }, this.node.clock.now());
    await this.node.broker.publish(CONTROL_CHANNEL, msg, { historySize: 0, historyTtlMs: 0 });
  }

  /**
   * A page of `user`'s connections across the cluster from the broker-kept registry; connections
   * of nodes that stopped reporting are marked `stale` rather than waited for.
   */
  async userConnections(user: string, page: { cursor?: string; limit: number }): Promise<{ connections: ConnectionEntry[]; cursor?: string }> {
    const nodes = new Map(this.entries().map((e) => [e.name, e]));
    const p = await this.node.broker.presencePage(USER_PREFIX + user, page);
    const connections = Object.values(p.clients).map((c) => {
      const i = (c.info ?? {}) as { node?: unknown; transport?: unknown };
      const node = typeof i.node === 'string' ? i.node : '';
      const entry = nodes.get(node);
      return { client: c.client, user: c.user, node, transport: typeof i.transport === 'string' ? i.transport : '', stale: !entry || entry.stale };
    });
    return p.cursor === undefined ? { connections } : { connections, cursor: p.cursor };
  }

  /** Publishes this node's info now (signed; nothing without a cluster key). */
  report(): void {
    if (this.key === null) return;
    const msg = signMessage(this.key, NODES_KIND, this.node.nodeInfo(), this.node.clock.now());
    this.node.broker.publish(NODES_CHANNEL, msg, { historySize: 0, historyTtlMs: 0 }).catch(() => {
      /* the broker is down; peers will see us as stale, which is the truth */
    });
  }

  /**
   * A registry report: believed only when signed, fresh, well-formed and newer than the last one
   * believed from that node (an old report re-published within the window changes nothing).
   */
  deliverPub(env: Envelope): void {
    const v = this.verified(NODES_KIND, env);
    if (!v) return;
    const info = parseNodeInfo(v.payload);
    if (!info) {
      this.rejected.invalid++;
      return;
    }
    const known = this.nodes.get(info.name);
    if (!known && this.nodes.size >= MAX_NODES) {
      this.rejected.invalid++;
      return;
    }
    if (known && known.signedAt > v.ts && info.name !== this.node.options.name) {
      this.rejected.replay++;
      return;
    }
    this.nodes.set(info.name, { info, seenAt: this.node.clock.now(), signedAt: v.ts });
  }

  deliverEvent(): void {}

  resetStream(): void {}

  /** Every node that reported within the last 10 intervals, this one included. */
  entries(): ClusterEntry[] {
    const now = this.node.clock.now();
    const interval = this.node.options.nodeInfoInterval * 1000;
    const out: ClusterEntry[] = [];
    const self = this.node.nodeInfo();
    this.nodes.set(self.name, { info: self, seenAt: now, signedAt: now });
    for (const [name, { info, seenAt }] of this.nodes) {
      const age = now - seenAt;
      if (age > interval * 10) {
        this.nodes.delete(name);
        continue;
      }
      out.push({ ...info, stale: age > interval * 3, age });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * The cluster's busiest channels from the nodes' reports (no node is asked): subscribers summed
   * over live nodes. Each node reports only its BUSIEST_REPORTED busiest, so a channel that is
   * in no node's list is missing and a sum may leave out nodes where it is small (`partial`).
   */
  busiestChannels(n: number): { channels: Array<{ channel: string; subscribers: number; nodes: number }>; partial: boolean; staleNodes: string[] } {
    const merged = new Map<string, { subscribers: number; nodes: number }>();
    const staleNodes: string[] = [];
    let partial = false;
    for (const e of this.entries()) {
      if (e.stale) {
        staleNodes.push(e.name);
        continue;
      }
      const list = e.busiest ?? [];
      if ((e.busiestOf ?? list.length) > list.length) partial = true;
      for (const c of list) {
        const m = merged.get(c.channel) ?? { subscribers: 0, nodes: 0 };
        m.subscribers += c.subscribers;
        m.nodes++;
        merged.set(c.channel, m);
      }
    }
    const channels = [...merged].map(([channel, m]) => ({ channel, ...m })).sort((a, b) => b.subscribers - a.subscribers || (a.channel < b.channel ? -1 : 1));
    return { channels: channels.slice(0, n), partial, staleNodes };
  }

  /**
   * If this node holds far more connections than the cluster average, asks a share of them to
   * reconnect (code 3006, jittered delay) so the load balancer places them elsewhere.
   */
  rebalance(): void {
    const o = this.node.options;
    if (!o.rebalance || this.node.draining) return;
    const now = this.node.clock.now();
    if (now < this.cooldownUntil) return;
    const live = this.entries().filter((e) => !e.stale && !e.draining);
    if (live.length < 2) return;
    const mine = this.node.connectionCount;
    const avg = live.reduce((n, e) => n + e.connections, 0) / live.length;
    if (mine < o.rebalanceMinConnections || mine <= avg * (1 + o.rebalanceThreshold)) return;
    // Move half the excess per round (at most 10% of our connections), then wait two rounds for
    // the counts to settle before judging again.
    const shed = Math.min(Math.ceil((mine - avg) / 2), Math.ceil(mine * 0.1));
    const interval = o.nodeInfoInterval * 1000;
    let n = 0;
    for (const s of this.node.sessions) {
      if (n >= shed) break;
      if (s.state !== SessionState.Connected) continue;
      s.close(disconnect('reconnectRequested', { reason: 'rebalancing', delay: Math.floor(Math.random() * interval) }));
      n++;
    }
    this.rebalanced += n;
    this.cooldownUntil = now + interval * 2;
  }
}
