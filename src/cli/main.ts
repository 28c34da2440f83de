#!/usr/bin/env node
/**
 * `switchboard start | token` — see `switchboard help`.
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration or usage.
 */
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import type { Broker } from '../broker/broker.ts';
import { createBroker, describeBroker, resolveBrokerConfig } from '../broker/factory.ts';
import { ConfigError, type NodeOptionsInput } from '../server/options.ts';
import { recoveryWarnings } from '../server/authorize.ts';
import { startNode, type SwitchboardNode } from '../server/node.ts';
import { loadConfig, maskSecrets } from './config.ts';
import { DEV_HOST, devBindingNotice, iceFor, planTurn, startTurn } from './turn.ts';
import type { TurnServer } from '../webrtc/turn/index.ts';

/** Where `--dev` serves the gRPC server API unless grpcPort is set. */
const DEV_GRPC_PORT = 8001;

const HELP = `switchboard — real-time messaging server

Usage:
  switchboard start [--config switchboard.json] [--port N] [--host H] [--dev]
  switchboard token --user ID [--ttl 1h] [--secret S | --config F] [--info JSON]
  switchboard help

start   Runs a node. Options come from the config file, then SWITCHBOARD_* environment variables
        (option name in UPPER_SNAKE_CASE, e.g. SWITCHBOARD_PING_INTERVAL=25), then flags.
        --dev turns on insecure development mode: anonymous clients, an open server API and a
        default namespace with history, recovery, presence and client publishing, and the gRPC
        server API on port ${DEV_GRPC_PORT} (SWITCHBOARD_GRPC_PORT; skipped with a warning when
        that port is taken). It listens on 127.0.0.1 only (HTTP, gRPC and STUN/TURN) unless
        --host, SWITCHBOARD_HOST or the config's "host" says otherwise.
token   Prints a development JWT (HS256) for a user, signed with jwt.secret
        (SWITCHBOARD_JWT_SECRET, --secret or the config file).
`;

function fail(message: string, code = 2): never {
  process.stderr.write(`switchboard: ${message}\n`);
  process.exit(code);
}

function parseTtl(s: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(s.trim());
  if (!m) fail(`--ttl must look like 30s, 15m, 1h or 7d (got "${s}")`);
  const n = Number(m[1]);
  return n * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]!]!;
}

async function start(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, port: { type: 'string' }, host: { type: 'string' }, dev: { type: 'boolean' } },
    strict: true,
  });
  const flags: NodeOptionsInput = {};
  if (values.port !== undefined) flags.port = Number(values.port);
  if (values.host !== undefined) flags.host = values.host;
  const dev = values.dev === true || /^(1|true)$/i.test(process.env.SWITCHBOARD_INSECURE ?? '');
  // Dev-mode defaults sit under the config file, so a file can still redefine them.
  const defaults: NodeOptionsInput = {};
  if (dev) {
    flags.insecure = true;
    // Anonymous access and an open API must not reach the LAN by accident: loopback unless a
    // host is given (it sits under the file, the environment and --host).
    defaults.host = DEV_HOST;
    // The demo page's typing indicator (src/web) publishes on this lossy namespace; its calls
    // signal in the `call` namespace.
    defaults.grpcPort = DEV_GRPC_PORT;
    defaults.namespaces = {
      typing: { subscribe: 'anonymous', publish: 'anonymous', lossy: true },
      call: { subscribe: 'anonymous', publish: 'anonymous', presence: true, presenceRead: 'anonymous', joinLeave: true, signaling: true },
    };
  }
  let node: SwitchboardNode;
  let turn: TurnServer | null = null;
  // A network broker is created here and closed after the node; the memory broker is the node's own.
  let broker: Broker | undefined;
  try {
    const cfg = loadConfig(values.config ?? process.env.SWITCHBOARD_CONFIG, process.env, flags, defaults);
    const turnPlan = planTurn(cfg.extra.turn, process.env, dev, cfg.options.host);
    if (turnPlan && cfg.options.ice.urls.length === 0) cfg.options.ice = iceFor(turnPlan, cfg.options.ice.ttl);
    console.log('switchboard: effective configuration ' + JSON.stringify(maskSecrets(cfg.options)));
    for (const w of recoveryWarnings(cfg.options)) console.warn(`switchboard: warning: ${w}`);
    const brokerConfig = resolveBrokerConfig(cfg.extra.broker, process.env);
    console.log('switchboard: broker ' + describeBroker(brokerConfig));
    if (dev) console.log(devBindingNotice(cfg.options.host, turnPlan));
    if (cfg.options.insecure) {
      console.warn(
        [
          '',
          '  ************************************************************************',
          '  *  INSECURE DEVELOPMENT MODE: anonymous clients may connect, subscribe  *',
          '  *  and publish; the server API needs no key. Do not expose this port.  *',
          '  ************************************************************************',
          '',
        ].join('\n'),
      );
    }
    // A shared broker without a cluster secret: anyone who can write to the broker could forge the
    // registry (and so redirect forwarded SSE/poll requests). Outside dev mode that is a
    // configuration error; in dev mode the node starts but trusts no other node (cluster.ts).
    if (brokerConfig.type !== 'memory' && !cfg.options.clusterSecret && !cfg.options.insecure) {
      throw new ConfigError(`broker ${brokerConfig.type} is shared between nodes: set clusterSecret (SWITCHBOARD_CLUSTER_SECRET, the same on every node, at least 16 characters)`);
    }
    if (brokerConfig.type !== 'memory') broker = createBroker(brokerConfig);
    // The dev-mode gRPC port is best effort: several dev nodes on one machine (tests, a soak, a
    // second terminal) must not fail on it. A grpcPort that was asked for must be had.
    const devGrpc = dev && !cfg.given.has('grpcPort') && cfg.options.grpcPort === DEV_GRPC_PORT;
    const startOptions = devGrpc ? { ...cfg.options, grpcPort: 0 } : cfg.options;
    node = await startNode(broker ? { ...startOptions, broker } : startOptions);
    if (devGrpc) {
      try {
        await node.startGrpc(DEV_GRPC_PORT);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        console.warn(`switchboard: warning: port ${DEV_GRPC_PORT} is in use; the gRPC server API is off (set SWITCHBOARD_GRPC_PORT to another port)`);
      }
    }
    if (turnPlan) turn = await startTurn(turnPlan);
  } catch (err) {
    await broker?.close().catch(() => {});
    await turn?.close().catch(() => {});
    if (err instanceof ConfigError) fail(`configuration error: ${err.message}`);
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') fail(`port in use: ${(err as Error).message}`, 1);
    throw err;
  }
  console.log(`switchboard: node ${node.options.name} listening on ${node.httpUrl} (WebSocket ${node.wsUrl}, broker ${node.broker.name})`);
  if (node.grpc) console.log(`switchboard: gRPC server API (gRPC, gRPC-Web, Connect; proto/switchboard/v1/api.proto) listening on ${node.grpc.address}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`switchboard: ${signal} received, draining ${node.connectionCount} clients over ${node.options.drainWindow} s (code 3001, reconnect)`);
    // A second signal stops at once.
    process.once(signal as NodeJS.Signals, () => process.exit(1));
    node
      .drain()
      .then(() => node.close())
      .then(() => turn?.close())
      .then(() => broker?.close())
      .then(
      () => {
        console.log('switchboard: stopped');
        process.exit(0);
      },
      (err) => {
        console.error('switchboard: error while stopping', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (node.options.tls.cert) {
    // certbot / cert-manager renew the files in place, then signal: new connections get the new pair.
    process.on('SIGHUP', () => {
      try {
        node.reloadTls();
        console.log(`switchboard: SIGHUP: TLS certificate reloaded from ${node.options.tls.cert}`);
      } catch (err) {
        console.error(`switchboard: SIGHUP: TLS reload failed, keeping the previous certificate: ${(err as Error).message}`);
      }
    });
  }
}

async function token(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { user: { type: 'string', short: 'u' }, ttl: { type: 'string' }, secret: { type: 'string' }, config: { type: 'string', short: 'c' }, info: { type: 'string' } },
    strict: true,
  });
  if (values.user === undefined) fail('token needs --user ID');
  let secret = values.secret ?? process.env.SWITCHBOARD_JWT_SECRET;
  if (!secret && values.config) {
    try {
      secret = loadConfig(values.config, {}, { insecure: true }).options.jwt.secret;
    } catch (err) {
      fail((err as Error).message);
    }
  }
  if (!secret) fail('no secret: pass --secret, set SWITCHBOARD_JWT_SECRET, or --config with jwt.secret');
  const claims: Record<string, unknown> = {};
  if (values.info) {
    try {
      claims.info = JSON.parse(values.info);
    } catch {
      fail('--info must be JSON');
    }
  }
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(values.user).setIssuedAt();
  if (values.ttl !== '0') jwt.setExpirationTime(Math.floor(Date.now() / 1000) + parseTtl(values.ttl ?? '1h'));
  console.log(await jwt.sign(new TextEncoder().encode(secret)));
}

const [cmd, ...rest] = process.argv.slice(2);
try {
  if (cmd === 'start') await start(rest);
  else if (cmd === 'token') await token(rest);
  else if (cmd === 'help' || cmd === '--help' || cmd === '-h' || cmd === undefined) console.log(HELP);
  else fail(`unknown command "${cmd}"\n\n${HELP}`);
} catch (err) {
  if ((err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    fail((err as Error).message);
  }
  console.error(err);
  process.exit(1);
}
