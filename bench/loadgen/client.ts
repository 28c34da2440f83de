/**
 * A {@link RawWebSocket} driven by a system's {@link Session}: resolves once the role's handshake
 * (connect, subscribe, …) is complete.
 */
import { RawWebSocket } from './connection.ts';
import type { Dialect, Role } from './dialect.ts';

export interface ClientHooks {
  onChunk?(): void;
  delivery?(buf: Buffer, markerAt: number): void;
  acked?(n: number): void;
  problem(message: string): void;
  /** The connection ended without the bench closing it. */
  lost?(reason: string): void;
}

export interface ClientTarget {
  host: string;
  port: number;
  localAddress?: string;
  /** @default 15000 */
  timeoutMs?: number;
}

const noop = (): void => {};

export async function openClient(dialect: Dialect, role: Role, target: ClientTarget, hooks: ClientHooks): Promise<RawWebSocket> {
  const timeoutMs = target.timeoutMs ?? 15_000;
  let markReady = noop;
  let markFailed: (err: Error) => void = noop;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  let isReady = false;
  const delivery = hooks.delivery ?? noop;
  const acked = hooks.acked ?? noop;
  const ws: RawWebSocket = new RawWebSocket(
    {
      host: target.host,
      port: target.port,
      path: dialect.path,
      ...(dialect.subprotocol ? { subprotocol: dialect.subprotocol } : {}),
      ...(target.localAddress ? { localAddress: target.localAddress } : {}),
      timeoutMs,
    },
    {
      ...(hooks.onChunk ? { onChunk: hooks.onChunk } : {}),
      onText: (buf, start, end) => session.onText(buf, start, end),
      onClose: (reason, expected) => {
        if (!isReady) markFailed(new Error(`${dialect.system} ${role} closed during handshake: ${reason}`));
        else if (!expected) hooks.lost?.(reason);
      },
    },
  );
  const session = dialect.session(role, {
    send: (text) => ws.send(text),
    ready: () => {
      isReady = true;
      markReady();
    },
    delivery,
    acked,
    problem: (message) => {
      if (!isReady) markFailed(new Error(`${dialect.system} ${role}: ${message}`));
      else hooks.problem(message);
    },
  });
  await ws.open();
  session.open();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${dialect.system} ${role} handshake timed out`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    ws.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return ws;
}
