/**
 * `switchboard start` runs the STUN/TURN server beside the node when a `turn` section is in the
 * config file, a SWITCHBOARD_TURN_* variable is set, or in dev mode; and hands clients ICE
 * servers pointing at it (connect reply `iceServers`) unless `ice.urls` is configured explicitly.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError, type IceOptions } from '../server/options.ts';
import { resolveTurnOptions, TurnConfigError, TurnServer, type TurnServerOptions } from '../webrtc/turn/index.ts';

export interface TurnPlan {
  options: TurnServerOptions;
  /** Host put into the stun:/turn: URLs given to clients. */
  publicHost: string;
  /** Dev mode: a failure to bind is a warning, not an exit. */
  optional: boolean;
}

/** Decides whether and how to run TURN. Throws ConfigError on bad settings. */
export function planTurn(section: unknown, env: NodeJS.ProcessEnv, dev: boolean): TurnPlan | null {
  const wanted = section !== undefined || Object.keys(env).some((k) => k.startsWith('SWITCHBOARD_TURN_')) || dev;
  if (!wanted || env.SWITCHBOARD_TURN === '0') return null;
  const input = { ...((section as Record<string, unknown> | undefined) ?? {}) };
  const publicHost = typeof input.publicHost === 'string' ? input.publicHost : (env.SWITCHBOARD_TURN_PUBLIC_HOST ?? '127.0.0.1');
  delete input.publicHost;
  if (dev) {
    // Dev mode: a throwaway secret, and loopback peers allowed so two browser tabs on this
    // machine can call each other through the relay.
    if (input.authSecret === undefined && !env.SWITCHBOARD_TURN_SECRET) input.authSecret = randomBytes(18).toString('base64url');
    if (input.allowLoopbackPeers === undefined && env.SWITCHBOARD_TURN_ALLOW_LOOPBACK === undefined) input.allowLoopbackPeers = true;
  }
  try {
    return { options: resolveTurnOptions(input as Partial<TurnServerOptions>, env), publicHost, optional: dev && section === undefined };
  } catch (err) {
    if (err instanceof TurnConfigError) throw new ConfigError(`turn: ${err.message}`);
    throw err;
  }
}

/** ICE options for clients pointing at our TURN server. */
export function iceFor(plan: TurnPlan, ttl: number): IceOptions {
  const h = plan.publicHost.includes(':') ? `[${plan.publicHost}]` : plan.publicHost;
  const p = plan.options.port;
  const urls = [`stun:${h}:${p}`];
  if (plan.options.udp) urls.push(`turn:${h}:${p}?transport=udp`);
  if (plan.options.tcp) urls.push(`turn:${h}:${p}?transport=tcp`);
  return { urls, secret: plan.options.authSecret, ttl };
}

export async function startTurn(plan: TurnPlan): Promise<TurnServer | null> {
  const server = new TurnServer(plan.options);
  try {
    const bound = await server.listen();
    console.log(`switchboard: STUN/TURN listening on ${bound.map((b) => `${b.transport}/${b.address}:${b.port}`).join(', ')} (realm ${plan.options.realm}${plan.options.allowLoopbackPeers ? ', loopback peers allowed' : ''})`);
    return server;
  } catch (err) {
    await server.close().catch(() => {});
    if (plan.optional) {
      console.warn(`switchboard: STUN/TURN not started (${(err as Error).message}); set SWITCHBOARD_TURN_PORT to another port, or SWITCHBOARD_TURN=0`);
      return null;
    }
    throw err;
  }
}
