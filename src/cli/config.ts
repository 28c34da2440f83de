/**
 * Effective configuration for `switchboard start`: defaults ← config file ← SWITCHBOARD_* env ←
 * command-line flags. Every top-level option has an environment variable: the option name in
 * UPPER_SNAKE_CASE with the SWITCHBOARD_ prefix (pingInterval → SWITCHBOARD_PING_INTERVAL).
 */
import { readFileSync } from 'node:fs';
import { didYouMean } from '../util/suggest.ts';
import { ConfigError, defaultNodeOptions, resolveOptions, type NodeOptions, type NodeOptionsInput } from '../server/options.ts';

const SECRET_FIELDS = ['secret', 'apiKey', 'publicKey', 'turnSecret', 'adminSecret', 'clusterSecret', 'password'];

export function envName(option: string): string {
  return 'SWITCHBOARD_' + option.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** Reads SWITCHBOARD_* variables into option input, typed by each option's default. */
export function optionsFromEnv(env: NodeJS.ProcessEnv): NodeOptionsInput {
  const out: Record<string, unknown> = {};
  const defaults = defaultNodeOptions() as unknown as Record<string, unknown>;
  for (const [key, def] of Object.entries(defaults)) {
    if (key === 'jwt' || key === 'defaultNamespace' || key === 'namespaces' || key === 'httpTransports' || key === 'ice' || key === 'consumers' || key === 'tls') continue;
    const raw = env[envName(key)];
    if (raw === undefined || raw === '') continue;
    out[key] = parseValue(raw, def, envName(key));
  }
  if (env.PORT && env.SWITCHBOARD_PORT === undefined) out.port = parseValue(env.PORT, 0, 'PORT');
  const jwt: Record<string, unknown> = {};
  if (env.SWITCHBOARD_JWT_SECRET) jwt.secret = env.SWITCHBOARD_JWT_SECRET;
  if (env.SWITCHBOARD_JWT_PUBLIC_KEY) jwt.publicKey = readMaybeFile(env.SWITCHBOARD_JWT_PUBLIC_KEY);
  if (env.SWITCHBOARD_JWT_AUDIENCE) jwt.audience = env.SWITCHBOARD_JWT_AUDIENCE;
  if (env.SWITCHBOARD_JWT_ISSUER) jwt.issuer = env.SWITCHBOARD_JWT_ISSUER;
  if (Object.keys(jwt).length > 0) out.jwt = jwt;
  const ice: Record<string, unknown> = {};
  if (env.SWITCHBOARD_ICE_URLS) ice.urls = env.SWITCHBOARD_ICE_URLS.split(',').map((u) => u.trim()).filter(Boolean);
  if (env.SWITCHBOARD_ICE_SECRET) ice.secret = env.SWITCHBOARD_ICE_SECRET;
  if (env.SWITCHBOARD_ICE_TTL) ice.ttl = parseValue(env.SWITCHBOARD_ICE_TTL, 0, 'SWITCHBOARD_ICE_TTL');
  if (Object.keys(ice).length > 0) out.ice = ice;
  const tls: Record<string, string> = {};
  if (env.SWITCHBOARD_TLS_CERT) tls.cert = env.SWITCHBOARD_TLS_CERT;
  if (env.SWITCHBOARD_TLS_KEY) tls.key = env.SWITCHBOARD_TLS_KEY;
  if (env.SWITCHBOARD_TLS_CA) tls.ca = env.SWITCHBOARD_TLS_CA;
  if (Object.keys(tls).length > 0) out.tls = tls;
  for (const [k, name] of [['namespaces', 'SWITCHBOARD_NAMESPACES'], ['defaultNamespace', 'SWITCHBOARD_DEFAULT_NAMESPACE'], ['httpTransports', 'SWITCHBOARD_HTTP_TRANSPORTS'], ['consumers', 'SWITCHBOARD_CONSUMERS']] as const) {
    const raw = env[name];
    if (!raw) continue;
    try {
      out[k] = JSON.parse(raw);
    } catch (err) {
      throw new ConfigError(`${name} must be JSON: ${(err as Error).message}`);
    }
  }
  return out as NodeOptionsInput;
}

function parseValue(raw: string, like: unknown, name: string): unknown {
  if (typeof like === 'number') {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new ConfigError(`${name} must be a number, got "${raw}"`);
    return n;
  }
  if (typeof like === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(`${name} must be true or false, got "${raw}"`);
  }
  if (Array.isArray(like)) return raw.split(',').map((s) => s.trim()).filter(Boolean);
  return raw;
}

/** A PEM given inline, or a path to a file holding it. */
function readMaybeFile(v: string): string {
  if (v.includes('-----BEGIN')) return v;
  return readFileSync(v, 'utf8');
}

export interface LoadedConfig {
  options: NodeOptions;
  /** Sections for other modules (e.g. `turn`), passed through unvalidated here. */
  extra: Record<string, unknown>;
  /** Top-level options set by the file, the environment or a flag (not only by `defaults`). */
  given: ReadonlySet<string>;
  /** Where each top-level option that is not at its built-in default came from. */
  sources: ReadonlyMap<string, 'file' | 'env' | 'flag' | 'dev'>;
}

/** Sections of the config file that belong to modules other than the node core. */
export const EXTRA_SECTIONS = ['turn', 'admin', 'broker', 'sfu', 'logLevel', 'logFormat'];

/**
 * @param defaults lowest-precedence options (e.g. dev mode's extra namespaces), under the file
 */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv, flags: NodeOptionsInput, defaults: NodeOptionsInput = {}): LoadedConfig {
  let fromFile: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    try {
      fromFile = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) throw new ConfigError(`config file ${file} must hold a JSON object`);
  }
  const extra: Record<string, unknown> = {};
  for (const k of EXTRA_SECTIONS) {
    if (k in fromFile) {
      extra[k] = fromFile[k];
      delete fromFile[k];
    }
  }
  const known = [...Object.keys(defaultNodeOptions()), ...EXTRA_SECTIONS];
  for (const k of Object.keys(fromFile)) {
    if (!known.includes(k)) throw new ConfigError(`unknown option "${k.slice(0, 100)}" in ${file}${didYouMean(k, known)}`);
  }
  const fromEnv = optionsFromEnv(env);
  const merged: Record<string, unknown> = { ...defaults, ...fromFile, ...fromEnv, ...flags };
  // Object-valued options merge key by key across the layers.
  for (const k of ['jwt', 'defaultNamespace', 'namespaces', 'ice', 'httpTransports', 'tls'] as const) {
    const parts = [(defaults as Record<string, unknown>)[k], fromFile[k], (fromEnv as Record<string, unknown>)[k], (flags as Record<string, unknown>)[k]].filter((x) => x !== undefined);
    if (parts.length > 0) merged[k] = Object.assign({}, ...parts);
  }
  const given = new Set([...Object.keys(fromFile), ...Object.keys(fromEnv), ...Object.keys(flags)]);
  const sources = new Map<string, 'file' | 'env' | 'flag' | 'dev'>();
  for (const [layer, obj] of [['dev', defaults], ['file', fromFile], ['env', fromEnv], ['flag', flags]] as const) {
    for (const k of Object.keys(obj)) sources.set(k, layer);
  }
  return { options: resolveOptions(merged as NodeOptionsInput), extra, given, sources };
}

/**
 * The effective options as aligned `name  value  (source)` lines, secrets as "***": objects one
 * level deep as `name.key`, the rest as compact JSON. The source is `file`, `env`, `flag`,
 * `dev mode`, `derived` (worked out from other options) or `default`; defaults come last.
 */
export function formatConfig(options: NodeOptions, sources: ReadonlyMap<string, string>): string[] {
  const masked = maskSecrets(options) as Record<string, unknown>;
  const defaults = defaultNodeOptions() as unknown as Record<string, unknown>;
  const show = (v: unknown): string => (typeof v === 'string' && v !== '' && !/\s/.test(v) ? v : (JSON.stringify(v) ?? 'undefined'));
  const rows: Array<[string, string, string]> = [];
  const later: Array<[string, string, string]> = [];
  for (const [k, v] of Object.entries(masked)) {
    const src = sources.get(k);
    // Not set anywhere but not the built-in value either: worked out from other options (dev mode, TURN).
    const derived = !src && JSON.stringify(maskSecrets(defaults[k])) !== JSON.stringify(v) && k !== 'name';
    const into = src || derived ? rows : later;
    const label = src ? `(${src === 'dev' ? 'dev mode' : src})` : derived ? '(derived)' : '(default)';
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) into.push([`${k}.${k2}`, show(v2), label]);
    } else {
      into.push([k, show(v), label]);
    }
  }
  const all = [...rows, ...later];
  const w0 = Math.max(...all.map((r) => r[0].length));
  const w1 = Math.min(32, Math.max(...all.map((r) => r[1].length)));
  return all.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);
}

/** A password inside a URL (`postgres://user:pw@host`, `amqp://guest:guest@host`). */
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#@]*@/i;

/** The options as JSON with every secret (and every password inside a URL) replaced by "***". */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (typeof value === 'string') return value.replace(URL_PASSWORD, '$1***@');
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_FIELDS.includes(k) && typeof v === 'string' && v !== '' ? '***' : maskSecrets(v);
  }
  return out;
}
