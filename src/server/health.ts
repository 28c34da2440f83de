/**
 * Liveness and readiness (docs/operations.md "Health"):
 * - `GET /healthz` — liveness: the process serves HTTP. Always 200 while it answers at all (also
 *   while draining or with the broker down: restarting the process would not help either).
 * - `GET /readyz` — readiness: the node can do its job — its broker is connected (Broker.connected)
 *   and it is not draining or closing. 200 or 503, with the reason. Load balancers route new
 *   connections by it (deploy/haproxy.cfg).
 */
import type { ServerResponse } from 'node:http';
import type { Broker } from '../broker/broker.ts';

/** What readiness reads from the node. */
export interface HealthSource {
  readonly broker: Broker;
  readonly draining: boolean;
  readonly closing: boolean;
  readonly options: { readonly name: string };
  readonly connectionCount: number;
}

export type Readiness = { ready: true; status: 'ready' } | { ready: false; status: 'draining' | 'broker unavailable' };

/** Whether the node can do its job now, and if not, why. Draining wins over a broker outage. */
export function readiness(n: HealthSource): Readiness {
  if (n.draining || n.closing) return { ready: false, status: 'draining' };
  if (!n.broker.connected) return { ready: false, status: 'broker unavailable' };
  return { ready: true, status: 'ready' };
}

/** Answers `/healthz` and `/readyz`; returns false for any other path. */
export function serveHealth(n: HealthSource, pathname: string, res: ServerResponse, send: (res: ServerResponse, status: number, body: unknown) => void): boolean {
  if (pathname === '/healthz') {
    send(res, 200, { status: n.draining ? 'draining' : 'ok', node: n.options.name, connections: n.connectionCount });
    return true;
  }
  if (pathname === '/readyz') {
    const r = readiness(n);
    send(res, r.ready ? 200 : 503, { status: r.status, node: n.options.name, broker: { name: n.broker.name, connected: n.broker.connected } });
    return true;
  }
  return false;
}
