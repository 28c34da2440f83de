/** Shared helpers for the client ↔ server integration tests. */
import { startNode } from '../../src/app/index.ts';
import { Client } from '../../src/client/index.ts';
import type { ClientOptions } from '../../src/client/index.ts';

export type Node = Awaited<ReturnType<typeof startNode>>;

/** A node with a recoverable `feed` namespace (anyone may subscribe/publish/read history). */
export function startFeedNode(extra: Parameters<typeof startNode>[0] = {}): Promise<Node> {
  return startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    namespaces: {
      feed: { subscribe: 'anonymous', publish: 'anonymous', historyRead: 'anonymous', presenceRead: 'anonymous', presence: true, historySize: 20000, recover: true },
      short: { subscribe: 'anonymous', publish: 'anonymous', historyRead: 'anonymous', historySize: 10, recover: true },
    },
    pingInterval: 25,
    pongTimeout: 10,
    ...extra,
  });
}

/** A client with fast reconnects, closed by `cleanup`. */
export function makeClient(url: string, cleanup: Array<() => unknown>, options: Partial<ClientOptions> = {}): Client {
  const c = new Client(url, { minDelay: 20, maxDelay: 200, ...options });
  cleanup.push(() => c.close());
  return c;
}

/** Polls `cond` every 5 ms until it holds; throws after `ms`. */
export async function waitFor(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
