/**
 * The WebSocket endpoint, `/connection/websocket`: admission (connection limits, draining), the
 * `Origin` check, the RFC 6455 handshake (handshake.ts), then a Session over a
 * WebSocketTransport. Installed on the core's upgrade seam by the app (app/node.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SessionContext } from '../../server/context.ts';
import { Session } from '../../server/session.ts';
import { admissionReason, log } from '../../util/log.ts';
import { wsJson, wsMsgpack } from './format.ts';
import { acceptUpgrade, checkUpgrade, HandshakeError, refuseUpgrade } from './handshake.ts';
import { WebSocketTransport } from './transport.ts';

export const WEBSOCKET_PATH = '/connection/websocket';

/** What the endpoint needs from a node (NodeCore). */
export interface WebSocketHost extends SessionContext {
  /** Null when a new session from `ip` may be created, else the HTTP refusal (draining, connection limits). */
  admit(ip: string): { status: number; message: string; retryAfter: string } | null;
  originAllowed(req: IncomingMessage): boolean;
  addSession(s: Session): void;
  upgrade(pathname: string, handler: (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void): void;
}

/** Takes WebSocket upgrades to `/connection/websocket` on `node`. */
export function installWebSocket(node: WebSocketHost): void {
  node.upgrade(WEBSOCKET_PATH, (req, socket, head, url) => accept(node, req, socket, head, url));
}

function accept(node: WebSocketHost, req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
  const ip = (socket as Socket).remoteAddress;
  const refusal = node.admit(ip ?? '');
  if (refusal) {
    log.refused(admissionReason(refusal.message), `WebSocket connection refused: ${refusal.message}`, { ip, transport: 'websocket', status: refusal.status });
    return refuseUpgrade(socket, refusal.status, refusal.message, { 'Retry-After': refusal.retryAfter });
  }
  if (!node.originAllowed(req)) {
    log.refused('origin_not_allowed', 'WebSocket connection refused: origin not allowed (allowedOrigins)', { ip, transport: 'websocket', origin: req.headers.origin?.slice(0, 200), host: req.headers.host?.slice(0, 200) });
    return refuseUpgrade(socket, 403, 'origin not allowed');
  }
  let hs;
  try {
    hs = checkUpgrade(req, url);
  } catch (err) {
    if (err instanceof HandshakeError) {
      log.refused('bad_handshake', `WebSocket connection refused: ${err.message}`, { ip, transport: 'websocket', status: err.status }, 'info');
      return refuseUpgrade(socket, err.status, err.message, err.headers);
    }
    throw err;
  }
  acceptUpgrade(socket, hs);
  const transport = new WebSocketTransport(socket as Socket, hs.codec === 'msgpack' ? wsMsgpack : wsJson, node.options.maxMessageBytes);
  const session = new Session(node, transport);
  node.addSession(session);
  transport.attach(session, head);
}
