/**
 * Embedding a node in an existing app (docs/embedding.md): `attach()` for a plain `http.Server` /
 * `https.Server` (Socket.IO's `new Server(httpServer)`), `fastifySwitchboard()` for Fastify; for
 * Express and others, `node.requestHandler` and `node.upgradeHandler` (server/core.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeCore } from '../server/core.ts';
import type { AnyHttpServer } from '../server/http-host.ts';
import { startNode, type StartOptions, type SwitchboardNode } from './node.ts';

/**
 * Starts a node served by `server`: requests and WebSocket upgrades under `options.path` are the
 * node's, every other request goes to the server's existing `request` listeners (attach after the
 * app has set its handler, e.g. `http.createServer(app)`), other upgrades are left alone. The
 * node does not listen on or close `server`; `node.close()` detaches it.
 */
export function attach(server: AnyHttpServer, options: Omit<StartOptions, 'server'> = {}): Promise<SwitchboardNode> {
  return startNode({ ...options, server });
}

/** The parts of a Fastify instance the plugin uses (structural: Fastify is no dependency). */
export interface FastifyLike {
  readonly server: AnyHttpServer;
  addHook(name: 'onRequest', hook: (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): unknown }, done: (err?: Error) => void) => void): unknown;
  addHook(name: 'onClose', hook: (instance: unknown, done: (err?: Error) => void) => void): unknown;
}

/** A Fastify plugin function, marked to skip encapsulation (what `fastify-plugin` does), so its hook sees every route. */
export type FastifyPluginLike = ((instance: FastifyLike, opts: unknown, done: (err?: Error) => void) => void) & { [k: symbol]: unknown };

/**
 * A Fastify plugin serving `node` (created with `server: 'none'` and a `path`) inside Fastify:
 * an `onRequest` hook hands requests under the path to the node with `reply.hijack()` — before
 * Fastify parses a body, so the server API reads it itself — and the rest go on through Fastify's
 * routes; the plugin listens for upgrades on `fastify.server` and takes those under the path.
 *
 *     const sb = await startNode({ server: 'none', path: '/switchboard', ... });
 *     await app.register(fastifySwitchboard(sb));
 *
 * Closing Fastify removes the upgrade listener; close the node yourself (`app.addHook('onClose', () => sb.close())`).
 */
export function fastifySwitchboard(node: NodeCore): FastifyPluginLike {
  const plugin = ((fastify: FastifyLike, _opts: unknown, done: (err?: Error) => void) => {
    const onUpgrade = (req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
      node.upgradeHandler(req, socket, head);
    };
    fastify.server.on('upgrade', onUpgrade);
    fastify.addHook('onRequest', (request, reply, next) => {
      if (!node.http.owns(request.raw)) return next();
      reply.hijack();
      node.requestHandler(request.raw, reply.raw);
    });
    fastify.addHook('onClose', (_instance, next) => {
      fastify.server.off('upgrade', onUpgrade);
      next();
    });
    done();
  }) as FastifyPluginLike;
  // fastify-plugin's marker: register into the parent context, so the hook covers the app's routes.
  plugin[Symbol.for('skip-override')] = true;
  plugin[Symbol.for('fastify.display-name')] = 'switchboard';
  return plugin;
}
