/**
 * What a node knows of its cluster, carried by the broker itself: every node publishes its info
 * on a reserved channel every `nodeInfoInterval` seconds, and every node keeps the latest entry
 * per node. Cluster-wide answers (`/api/info`, rebalancing) read this registry instead of asking
 * every node and waiting for timeouts; a node that stopped reporting shows as stale.
 *
 * The channel name starts with '$', which client channel names cannot contain, so no client can
 * subscribe to or publish on it.
 */
import { disconnect } from '../protocol/codes.ts';
import type { TimerHandle } from '../util/clock.ts';
import type { Envelope, HubSubscriber } from './hub.ts';
import type { SwitchboardNode } from './node.ts';
import { SessionState } from './session.ts';

export const NODES_CHANNEL = '$sb:nodes';
/** Cluster-wide commands (a disconnect by user or client reaches every node). */
export const CONTROL_CHANNEL = '$sb:control';
/**
 * Per-user connection registry: the presence set `$sb:user:<user>` holds one member per
 * connection of that user, with `info: {node, transport}`; it expires with presence TTL when a node
 * dies, and lookups mark members of stale or unknown nodes.
 */
export const USER_PREFIX = '$sb:user:';

/** How many of its busiest channels each node includes in its report. */
export const BUSIEST_REPORTED = 20;

export interface ControlDisconnect {
  op: 'disconnect';
  /** The node that sent it (which already acted locally). */
  from: string;
  client?: string;
  user?: string;
  reconnect?: boolean;
  delay?: number;
  reason?: string;
}

/** A connection found in the registry. */
export interface ConnectionEntry {
  client: string;
  user: string;
  node: string;
  transport: string;
  /** Its node has not reported lately or is unknown: the connection is probably gone. */
  stale: boolean;
}

export interface NodeInfo {
  name: string;
  connections: number;
  channels: number;
  draining: boolean;
  uptime: number;
  publishes: number;
  deliveries: number;
  rssBytes: number;
  /** This node's busiest client channels by local subscribers (at most BUSIEST_REPORTED). */
  busiest?: Array<{ channel: string; subscribers: number }>;
  /** How many client channels the node has (`busiest` is complete when it lists them all). */
  busiestOf?: number;
  /** Where other nodes reach this one over HTTP (forwarding of SSE/poll requests). */
  url: string;
  /** Sender's clock, ms. */
  time: number;
}

export interface ClusterEntry extends NodeInfo {
  /** No report for 3 intervals: the node is probably gone. */
  stale: boolean;
  /** Milliseconds since the last report (receiver's clock). */
  age: number;
}

export class Cluster implements HubSubscriber {
  private readonly nodes = new Map<string, { info: NodeInfo; seenAt: number }>();
  private timer: TimerHandle | undefined;
  private cooldownUntil = 0;
  /** Connections this node asked to move elsewhere (metrics). */
  rebalanced = 0;

  constructor(private readonly node: SwitchboardNode) {}

  /** Receives CONTROL_CHANNEL messages from other nodes. */
  private readonly control: HubSubscriber = {
    deliverPub: (env: Envelope) => {
      const m = (env.frame as { data?: unknown }).data as ControlDisconnect | undefined;
      if (!m || m.op !== 'disconnect' || typeof m.from !== 'string' || m.from === this.node.options.name) return;
      const target: { client?: string; user?: string } = {};
      if (typeof m.client === 'string') target.client = m.client;
      if (typeof m.user === 'string') target.user = m.user;
      const opts: { reconnect?: boolean; delay?: number; reason?: string } = {};
      if (typeof m.reconnect === 'boolean') opts.reconnect = m.reconnect;
      if (typeof m.delay === 'number') opts.delay = m.delay;
      if (typeof m.reason === 'string') opts.reason = m.reason;
      this.node.disconnect(target, opts);
    },
    deliverEvent: () => {},
    resetStream: () => {},
  };

  async start(): Promise<void> {
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

  /** Sends a disconnect to every other node (this one acts on its own). */
  async broadcastDisconnect(m: Omit<ControlDisconnect, 'op' | 'from'>): Promise<void> {
    await this.node.broker.publish(CONTROL_CHANNEL, { op: 'disconnect', from: this.node.options.name, ...m }, { historySize: 0, historyTtlMs: 0 });
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

  /** Publishes this node's info now. */
  report(): void {
    const info = this.node.nodeInfo();
    this.node.broker.publish(NODES_CHANNEL, info, { historySize: 0, historyTtlMs: 0 }).catch(() => {
      /* the broker is down; peers will see us as stale, which is the truth */
    });
  }

  deliverPub(env: Envelope): void {
    const frame = env.frame as { data?: unknown };
    const info = frame.data as NodeInfo | undefined;
    if (!info || typeof info.name !== 'string' || typeof info.connections !== 'number') return;
    this.nodes.set(info.name, { info, seenAt: this.node.clock.now() });
  }

  deliverEvent(): void {}

  resetStream(): void {}

  /** Every node that reported within the last 10 intervals, this one included. */
  entries(): ClusterEntry[] {
    const now = this.node.clock.now();
    const interval = this.node.options.nodeInfoInterval * 1000;
    const out: ClusterEntry[] = [];
    const self = this.node.nodeInfo();
    this.nodes.set(self.name, { info: self, seenAt: now });
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
