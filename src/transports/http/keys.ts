/**
 * Session keys of the HTTP transports: key → live transport, plus a bounded memory of recently
 * ended keys so that a late request is told "410 ended, and why" rather than "404 unknown".
 *
 * The key is a fresh 128-bit random secret (base64url, 22 characters), never the client id:
 * client ids are visible to other users (presence, publication info), and whoever holds the key
 * can read the session's stream and send as that client.
 */
import { randomBytes } from 'node:crypto';
import type { Disconnect } from '../../protocol/codes.ts';
import type { Clock } from '../../util/clock.ts';

/** 22 random base64url characters, then optionally '.' and the owner node's tag (src/server/forward.ts). */
const KEY_FORMAT = /^[A-Za-z0-9_-]{22}(\.[A-Za-z0-9_-]{1,176})?$/;

export function newSessionKey(ownerTag?: string): string {
  const random = randomBytes(16).toString('base64url');
  return ownerTag ? `${random}.${ownerTag}` : random;
}

export type KeyLookup<T> = { live: T } | { ended: Disconnect } | null;

export class SessionKeys<T> {
  private readonly live = new Map<string, T>();
  /** Insertion order is end order, so the oldest entries are at the front. */
  private readonly ended = new Map<string, { d: Disconnect; at: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly limits: () => { endedKeys: number; endedKeyTtl: number },
  ) {}

  get size(): number {
    return this.live.size;
  }

  add(key: string, t: T): void {
    this.live.set(key, t);
  }

  /** Live transport, the disconnect of an ended one, or null (unknown, malformed or long forgotten). */
  lookup(key: string): KeyLookup<T> {
    if (!KEY_FORMAT.test(key)) return null;
    const t = this.live.get(key);
    if (t !== undefined) return { live: t };
    const e = this.ended.get(key);
    if (!e) return null;
    if (this.clock.now() - e.at > this.limits().endedKeyTtl * 1000) {
      this.ended.delete(key);
      return null;
    }
    return { ended: e.d };
  }

  /** Forgets a live key, remembering why it ended. */
  end(key: string, d: Disconnect): void {
    if (!this.live.delete(key)) return;
    const { endedKeys, endedKeyTtl } = this.limits();
    if (endedKeys === 0) return;
    const now = this.clock.now();
    this.ended.set(key, { d, at: now });
    for (const [k, e] of this.ended) {
      if (this.ended.size <= endedKeys && now - e.at <= endedKeyTtl * 1000) break;
      this.ended.delete(k);
    }
  }

  values(): IterableIterator<T> {
    return this.live.values();
  }
}
