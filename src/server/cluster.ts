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

export interface NodeInfo {
  name: string;
  connections: number;
  channels: number;
  draining: boolean;
  uptime: number;
  publishes: number;
  deliveries: number;
  rssBytes: number;
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

  async start(): Promise<void> {
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
