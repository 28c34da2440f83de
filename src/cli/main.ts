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
import { startNode, type SwitchboardNode } from '../app/node.ts';
import { createSfu, sfuMediaPath } from '../webrtc/sfu/index.ts';
import { resolveSfuConfig } from './sfu.ts';
import { readFileSync } from 'node:fs';
import { formatConfig, loadConfig, maskSecrets } from './config.ts';
import { configureLogger, isLogLevel, log, LOG_LEVELS, type LogFormat, type LogLevel } from '../util/log.ts';
import { didYouMean } from '../util/suggest.ts';
import { DEV_HOST, devBindingNotice, iceFor, planTurn, startTurn } from './turn.ts';
import type { TurnServer } from '../webrtc/turn/index.ts';

/** Where `--dev` serves the gRPC server API unless grpcPort is set. */
const DEV_GRPC_PORT = 8001;

const USAGE = `Usage:
  switchboard start [--config FILE] [--port N] [--host H] [--dev] [--log-level L] [--log-format F]
  switchboard token --user ID [--ttl 1h] [--secret S | --config FILE] [--info JSON]
  switchboard help [COMMAND]        (or: switchboard COMMAND --help)
  switchboard --version`;

const HELP = `switchboard — real-time messaging server

${USAGE}

Commands:
  start   run a node
  token   print a development JWT for a user
  help    this text, or a command's (switchboard help start)

Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration or usage.
`;

const START_HELP = `switchboard start — run a node

Usage: switchboard start [options]

Options come from the config file, then SWITCHBOARD_* environment variables (the option name in
UPPER_SNAKE_CASE, e.g. SWITCHBOARD_PING_INTERVAL=25; PORT also sets the port), then these flags.
The effective configuration is printed at start, secrets as ***.

  -c, --config FILE     JSON config file (also SWITCHBOARD_CONFIG)
      --port N          HTTP/WebSocket port, 0–65535 (0 picks a free one)
      --host H          listen address
      --dev             insecure development mode: anonymous clients, an open server API, a
                        default namespace with history, recovery, presence and client publishing,
                        and the gRPC server API on port ${DEV_GRPC_PORT} (SWITCHBOARD_GRPC_PORT;
                        skipped with a warning when that port is taken). Listens on 127.0.0.1 only
                        (HTTP, gRPC and STUN/TURN) unless --host, SWITCHBOARD_HOST or the config's
                        "host" says otherwise. Also SWITCHBOARD_INSECURE=1.
      --log-level L     ${LOG_LEVELS.join(', ')} (default info; also SWITCHBOARD_LOG_LEVEL or
                        "logLevel" in the config file)
      --log-format F    json or pretty (default: pretty on a terminal, else json; also
                        SWITCHBOARD_LOG_FORMAT or "logFormat")
  -h, --help            this text

Logs go to stderr, one record per line; refusals (origin, token, connection limits, API key, API
calls) carry a "reason" code and are rate-limited per code.
`;

const TOKEN_HELP = `switchboard token — print a development JWT (HS256) for a user

Usage: switchboard token --user ID [options]

  -u, --user ID         the token's subject (required)
      --ttl T           lifetime: 30s, 15m, 1h (default), 7d; 0 for no expiry
      --secret S        the HS256 key (default: SWITCHBOARD_JWT_SECRET, else jwt.secret of --config)
  -c, --config FILE     read jwt.secret from this config file
      --info JSON       the token's "info" claim, e.g. '{"name":"Ada"}'
  -h, --help            this text
`;

const COMMANDS: Record<string, string> = { start: START_HELP, token: TOKEN_HELP, help: HELP };

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  return `${pkg.name} ${pkg.version} (node ${process.version})`;
}

/** parseArgs with errors that name the flag and suggest the known one for a typo. */
function parseFlags<O extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(argv: string[], options: O, command: string): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true }>>['values'] {
  try {
    return parseArgs({ args: argv, options, strict: true }).values;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const m = /'(-{1,2}[^'\s]+)/.exec(e.message);
    const flag = m?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const known = Object.keys(options!).map((k) => `--${k}`);
      fail(`unknown option "${flag}" for ${command}${didYouMean(flag, known)}\nRun "switchboard ${command} --help" for the options.`);
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') fail(`${command} takes no argument "${/'([^']*)'/.exec(e.message)?.[1] ?? ''}"\nRun "switchboard ${command} --help".`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') fail(`${e.message}\nRun "switchboard ${command} --help".`);
    throw err;
  }
}

/** Where the log level and format come from: flag, then environment, then config file. */
function logSettings(flagLevel: string | undefined, flagFormat: string | undefined, file: Record<string, unknown>): { level?: LogLevel; format?: LogFormat } {
  const out: { level?: LogLevel; format?: LogFormat } = {};
  for (const [raw, what] of [[flagLevel, '--log-level'], [process.env.SWITCHBOARD_LOG_LEVEL, 'SWITCHBOARD_LOG_LEVEL'], [file.logLevel, '"logLevel"']] as const) {
    if (raw === undefined || raw === '') continue;
    const v = String(raw).toLowerCase();
    if (!isLogLevel(v)) fail(`${what} must be one of ${LOG_LEVELS.join(', ')}, got "${String(raw).slice(0, 40)}"${didYouMean(v, LOG_LEVELS)}`);
    out.level = v;
    break;
  }
  for (const [raw, what] of [[flagFormat, '--log-format'], [process.env.SWITCHBOARD_LOG_FORMAT, 'SWITCHBOARD_LOG_FORMAT'], [file.logFormat, '"logFormat"']] as const) {
    if (raw === undefined || raw === '') continue;
    const v = String(raw).toLowerCase();
    if (v !== 'json' && v !== 'pretty') fail(`${what} must be json or pretty, got "${String(raw).slice(0, 40)}"`);
    out.format = v;
    break;
  }
  return out;
}

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
  const values = parseFlags(
    argv,
    {
      config: { type: 'string', short: 'c' },
      port: { type: 'string' },
      host: { type: 'string' },
      dev: { type: 'boolean' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    'start',
  );
  if (values.help) {
    console.log(START_HELP);
    return;
  }
  const flags: NodeOptionsInput = {};
  if (values.port !== undefined) {
    const port = /^\d{1,5}$/.test(values.port) ? Number(values.port) : NaN;
    if (!(port <= 65535)) fail(`--port must be an integer 0–65535, got "${values.port.slice(0, 40)}"`);
    flags.port = port;
  }
  // Before the config is read, so a flag or the environment sets the level for its errors too.
  configureLogger(logSettings(values['log-level'], values['log-format'], {}));
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
      // Rooms through the SFU (webrtc/sfu/router.ts): media goes to the server, not peer to peer.
      sfu: { subscribe: 'anonymous', publish: 'anonymous', presence: true, presenceRead: 'anonymous', joinLeave: true, sfu: true },
    };
  }
  let node: SwitchboardNode;
  let turn: TurnServer | null = null;
  // A network broker is created here and closed after the node; the memory broker is the node's own.
  let broker: Broker | undefined;
  try {
    const configFile = values.config ?? process.env.SWITCHBOARD_CONFIG;
    const cfg = loadConfig(configFile, process.env, flags, defaults);
    configureLogger(logSettings(values['log-level'], values['log-format'], cfg.extra));
    const turnPlan = planTurn(cfg.extra.turn, process.env, dev, cfg.options.host);
    if (turnPlan && cfg.options.ice.urls.length === 0) cfg.options.ice = iceFor(turnPlan, cfg.options.ice.ttl);
    if (log.format === 'json') {
      log.info('effective configuration', { config: maskSecrets(cfg.options), configFile, logLevel: log.level });
    } else {
      console.log(`switchboard: effective configuration (${configFile ? `file ${configFile}, ` : ''}SWITCHBOARD_* environment, flags; secrets ***; log level ${log.level}):`);
      console.log(formatConfig(cfg.options, cfg.sources).join('\n'));
    }
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
    // A node with SFU namespaces runs the SFU media plane: on the main thread, or in worker threads
    // (sfu.workers / SWITCHBOARD_SFU_WORKERS). The section is checked even when no namespace uses it.
    const sfuConfig = resolveSfuConfig(cfg.extra.sfu, process.env);
    const sfu = Object.values(cfg.options.namespaces).some((ns) => ns.sfu) ? createSfu(sfuConfig) : undefined;
    if (sfu) console.log(`switchboard: SFU ${sfuConfig.workers ? `in ${sfuConfig.workers} worker threads` : 'on the main thread'}, announcing ${(sfuConfig.hostAddresses ?? ['127.0.0.1']).join(', ')} besides the host's interfaces; send path ${sfuMediaPath().path === 'native' ? 'native (OpenSSL SRTP + sendmmsg)' : `JavaScript (${sfuMediaPath().reason})`}`);
    node = await startNode({ ...startOptions, ...(broker ? { broker } : {}), ...(sfu ? { sfu } : {}) });
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
  const values = parseFlags(
    argv,
    { user: { type: 'string', short: 'u' }, ttl: { type: 'string' }, secret: { type: 'string' }, config: { type: 'string', short: 'c' }, info: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    'token',
  );
  if (values.help) {
    console.log(TOKEN_HELP);
    return;
  }
  if (values.user === undefined) fail('token needs --user ID\nRun "switchboard token --help".');
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
      fail(`--info must be JSON, got ${JSON.stringify(values.info.slice(0, 60))}`);
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
  else if (cmd === '--version' || cmd === '-v' || cmd === 'version') console.log(version());
  else if (cmd === 'help' || cmd === '--help' || cmd === '-h' || cmd === undefined) {
    const topic = cmd === 'help' ? rest[0] : undefined;
    if (topic !== undefined && !(topic in COMMANDS)) fail(`no help for "${topic.slice(0, 40)}"${didYouMean(topic, Object.keys(COMMANDS))}\n\n${USAGE}`);
    console.log(topic === undefined ? HELP : COMMANDS[topic]);
  } else fail(`unknown command "${cmd.slice(0, 40)}"${didYouMean(cmd, ['start', 'token', 'help', 'version'])}\n\n${USAGE}`);
} catch (err) {
  log.error('switchboard failed', { err });
  process.exit(1);
}
