/**
 * Three-node cluster on the shared Redis behind a load balancer, set up before a test file's
 * tests and torn down after them (cluster-haproxy and cluster-nginx tests).
 */
import { before, after } from 'node:test';
import type { WebSocket } from 'ws';
import type { Client } from '../../src/client/index.ts';
import { startNodes, type NodeProcess } from './cluster-nodes.ts';
import type { Balancer } from './cluster-lb.ts';
import { deletePrefix, SHARED_REDIS_URL } from './cluster-redis.ts';

export interface BalancedCluster {
  nodes: NodeProcess[];
  lb: Balancer | undefined;
  /** Raw sockets and SDK clients a test opened; closed after the file's tests. */
  sockets: WebSocket[];
  clients: Client[];
}

export function balancedCluster(names: string[], prefix: string, startLb: (ports: number[]) => Promise<Balancer>, skip: string | false): BalancedCluster {
  const c: BalancedCluster = { nodes: [], lb: undefined, sockets: [], clients: [] };
  before(async () => {
    if (skip) return;
    c.nodes = await startNodes(names, { type: 'redis', url: SHARED_REDIS_URL, prefix }, { rebalance: false });
    c.lb = await startLb(c.nodes.map((n) => n.port));
  });
  after(async () => {
    for (const s of c.sockets) s.terminate();
    for (const cl of c.clients) cl.close();
    await c.lb?.stop();
    await Promise.all(c.nodes.map((n) => n.kill()));
    if (!skip) await deletePrefix(SHARED_REDIS_URL, prefix);
  });
  return c;
}
