/**
 * Remembers which transport worked for a node, so the next connection (also the next page load in
 * a browser) starts with it instead of waiting for a blocked WebSocket to time out again.
 *
 * Browsers: `localStorage` (key `switchboard:transport:<origin key>`, value `{name, until}`);
 * elsewhere, or when storage is unavailable (private mode, quota, sandboxed frames): a Map shared by
 * the clients of the process. Entries expire; a failing storage never throws into the SDK.
 */
import type { Clock } from '../util/clock.ts';

/** Where the working transport per node is kept. */
export interface TransportMemory {
  /** The remembered transport name for `key`, if any and not expired. */
  get(key: string): string | undefined;
  /** Remembers `name` for `key` for `ttlMs`. */
  set(key: string, name: string, ttlMs: number): void;
  /** Forgets `key`. */
  delete(key: string): void;
}

interface Entry {
  name: string;
  until: number;
}

interface StorageLike {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
  removeItem(k: string): void;
}

const PREFIX = 'switchboard:transport:';
const processMemory = new Map<string, Entry>();

function storage(): StorageLike | undefined {
  try {
    const s = (globalThis as { localStorage?: StorageLike }).localStorage;
    if (!s) return undefined;
    const probe = `${PREFIX}probe`;
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch {
    return undefined;
  }
}

/**
 * The default memory: localStorage when usable, else process memory.
 * @param clock time source for expiry
 */
export function defaultTransportMemory(clock: Pick<Clock, 'now'>): TransportMemory {
  const s = storage();
  const read = (key: string): Entry | undefined => {
    if (!s) return processMemory.get(key);
    try {
      const raw = s.getItem(PREFIX + key);
      if (!raw) return undefined;
      const e = JSON.parse(raw) as Partial<Entry>;
      return typeof e.name === 'string' && typeof e.until === 'number' ? { name: e.name, until: e.until } : undefined;
    } catch {
      return undefined;
    }
  };
  const remove = (key: string): void => {
    if (!s) processMemory.delete(key);
    else {
      try {
        s.removeItem(PREFIX + key);
      } catch {
        // storage refused: the entry expires anyway
      }
    }
  };
  return {
    get(key) {
      const e = read(key);
      if (!e) return undefined;
      if (e.until <= clock.now()) {
        remove(key);
        return undefined;
      }
      return e.name;
    },
    set(key, name, ttlMs) {
      const e: Entry = { name, until: clock.now() + ttlMs };
      if (!s) processMemory.set(key, e);
      else {
        try {
          s.setItem(PREFIX + key, JSON.stringify(e));
        } catch {
          processMemory.set(key, e);
        }
      }
    },
    delete: remove,
  };
}
