/**
 * `switchboard start` runs the STUN/TURN server beside the node when a `turn` section is in the
 * config file, a SWITCHBOARD_TURN_* variable is set, or in dev mode; and hands clients ICE
 * servers pointing at it (connect reply `iceServers`) unless `ice.urls` is configured explicitly.
 */
import { randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { ConfigError, type IceOptions } from '../server/options.ts';
import { resolveTurnOptions, TurnConfigError, TurnServer, type TurnServerOptions } from '../webrtc/turn/index.ts';

/** Where dev mode listens (HTTP and STUN/TURN) unless a host is configured. */
export const DEV_HOST = '127.0.0.1';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** Whether `host` (an IP, or 'localhost') is a loopback address. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const fam = isIP(host);
  return fam !== 0 && loopback.check(host, fam === 4 ? 'ipv4' : 'ipv6');
}

/** The line dev mode prints about where it listens. */
export function devBindingNotice(host: string, turn: TurnPlan | null): string {
  const turnAt = turn ? ` and STUN/TURN on ${turn.options.listeningAddresses.join(', ')}` : '';
  if (isLoopbackHost(host)) {
    return `switchboard: dev mode: HTTP on ${host}${turnAt} (loopback only, not reachable from other machines; --host 0.0.0.0 exposes it)`;
  }
  return `switchboard: dev mode: HTTP on ${host}${turnAt}: anonymous clients from the network can connect${turn?.options.allowLoopbackPeers ? '' : '; TURN loopback peers off'}`;
}

export interface TurnPlan {
  options: TurnServerOptions;
  /** Host put into the stun:/turn: URLs given to clients. */
  publicHost: string;
  /** Dev mode: a failure to bind is a warning, not an exit. */
  optional: boolean;
}

/**
 * Decides whether and how to run TURN. Throws ConfigError on bad settings.
 * @param host the node's HTTP host; in dev mode TURN listens there too unless its listening
 * addresses are configured, and relays to loopback peers only when it listens on loopback only.
 */
export function planTurn(section: unknown, env: NodeJS.ProcessEnv, dev: boolean, host = ''): TurnPlan | null {
  const wanted = section !== undefined || Object.keys(env).some((k) => k.startsWith('SWITCHBOARD_TURN_')) || dev;
  if (!wanted || env.SWITCHBOARD_TURN === '0') return null;
  const input = { ...((section as Record<string, unknown> | undefined) ?? {}) };
  const publicHost = typeof input.publicHost === 'string' ? input.publicHost : (env.SWITCHBOARD_TURN_PUBLIC_HOST ?? '127.0.0.1');
  delete input.publicHost;
  const loopbackChoice = input.allowLoopbackPeers !== undefined || env.SWITCHBOARD_TURN_ALLOW_LOOPBACK !== undefined;
  if (dev) {
    // Dev mode: a throwaway secret, and TURN beside HTTP (loopback unless a host is given).
    if (input.authSecret === undefined && !env.SWITCHBOARD_TURN_SECRET) input.authSecret = randomBytes(18).toString('base64url');
    if (input.listeningAddresses === undefined && !env.SWITCHBOARD_TURN_LISTEN) {
      const addr = host === 'localhost' ? DEV_HOST : host;
      if (isIP(addr) !== 0) input.listeningAddresses = [addr];
    }
  }
  let options: TurnServerOptions;
  try {
    options = resolveTurnOptions(input as Partial<TurnServerOptions>, env);
  } catch (err) {
    if (err instanceof TurnConfigError) throw new ConfigError(`turn: ${err.message}`);
    throw err;
  }
  // Loopback peers let two browser tabs on this machine call each other through the relay; only
  // when nothing but this machine can reach the server (issue 11 E1), unless set explicitly.
  if (dev && !loopbackChoice) options.allowLoopbackPeers = options.listeningAddresses.every(isLoopbackHost);
  return { options, publicHost, optional: dev && section === undefined };
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
