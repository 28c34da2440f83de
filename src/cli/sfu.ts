/**
 * The CLI's `sfu` section: SFU options from the config file and `SWITCHBOARD_SFU_*` variables,
 * validated here so a typo or a bad value stops the server at start with a ConfigError, not in
 * the middle of a call. Every key of SfuOptions (webrtc/sfu/options.ts) can be set; its variable
 * is the key in upper snake case (`hostAddresses` → `SWITCHBOARD_SFU_HOST_ADDRESSES`, a comma list).
 */
import { ConfigError } from '../util/errors.ts';
import { SFU_DEFAULTS, type SfuOptions } from '../webrtc/sfu/options.ts';
import { didYouMean } from '../util/suggest.ts';

const KEYS = Object.keys(SFU_DEFAULTS) as Array<keyof SfuOptions>;

/** `maxRooms` → `SWITCHBOARD_SFU_MAX_ROOMS`. */
export const sfuEnvName = (key: string): string => 'SWITCHBOARD_SFU_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();

/** Bounds of the numeric options: values outside are configuration errors. */
const RANGES: Partial<Record<keyof SfuOptions, [number, number]>> = {
  maxRooms: [1, 100_000],
  maxParticipants: [2, 1_000],
  maxProducers: [1, 64],
  maxConsumers: [1, 1_024],
  connectTimeoutMs: [1_000, 300_000],
  answerTimeoutMs: [1_000, 300_000],
  workers: [0, 64],
  maxPublishBitrate: [0, 1_000_000_000],
  maxRecordings: [0, 1_000],
  maxRecordingBytes: [1024 * 1024, Number.MAX_SAFE_INTEGER],
  maxRecordingMs: [1_000, 7 * 24 * 3600 * 1000],
};

function check(key: keyof SfuOptions, v: unknown, where: string): unknown {
  const like = SFU_DEFAULTS[key];
  if (typeof like === 'number') {
    const [lo, hi] = RANGES[key] ?? [0, Number.MAX_SAFE_INTEGER];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new ConfigError(`${where} must be an integer from ${lo} to ${hi}, got ${JSON.stringify(v)?.slice(0, 60)}`);
  } else if (typeof like === 'boolean') {
    if (typeof v !== 'boolean') throw new ConfigError(`${where} must be true or false, got ${JSON.stringify(v)?.slice(0, 60)}`);
  } else if (Array.isArray(like)) {
    if (!Array.isArray(v) || v.length > 16 || !v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 255)) {
      throw new ConfigError(`${where} must be a list of up to 16 addresses`);
    }
  } else if (typeof v !== 'string' || v.length === 0 || v.length > 4096) {
    throw new ConfigError(`${where} must be a non-empty string`);
  }
  return v;
}

/** The SFU options the file section and the environment ask for (defaults left out). */
export function resolveSfuConfig(section: unknown, env: NodeJS.ProcessEnv = {}): Partial<SfuOptions> {
  if (section !== undefined && (typeof section !== 'object' || section === null || Array.isArray(section))) {
    throw new ConfigError('sfu must be an object like {"workers": 2, "hostAddresses": ["203.0.113.7"]}');
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((section ?? {}) as Record<string, unknown>)) {
    if (!KEYS.includes(k as keyof SfuOptions)) throw new ConfigError(`sfu.${k.slice(0, 100)} is not an SFU option${didYouMean(k, KEYS)} (known: ${KEYS.join(', ')})`);
    out[k] = check(k as keyof SfuOptions, v, `sfu.${k}`);
  }
  for (const key of KEYS) {
    const name = sfuEnvName(key);
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const like = SFU_DEFAULTS[key];
    let v: unknown = raw;
    if (typeof like === 'number') v = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    else if (typeof like === 'boolean') v = /^(1|true|yes|on)$/i.test(raw) ? true : /^(0|false|no|off)$/i.test(raw) ? false : raw;
    else if (Array.isArray(like)) v = raw.split(',').map((s) => s.trim()).filter(Boolean);
    out[key] = check(key, v, name);
  }
  return out as Partial<SfuOptions>;
}
