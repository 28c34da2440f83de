/**
 * A consistent-hash ring: each shard owns `points` pseudo-random positions on a 32-bit circle and a
 * key belongs to the first shard point at or after the key's hash. Adding a shard to N moves about
 * 1/(N+1) of the keys, all of them to the new shard; removing one moves only its own keys. Pure:
 * no I/O, no clock.
 */

/** 32-bit FNV-1a over UTF-16 code units, finished with MurmurHash3's fmix32 for avalanche. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class HashRing<T> {
  private readonly hashes: Uint32Array;
  private readonly owners: T[];

  /**
   * @param shards id → shard; the id (not the position in the list) places a shard on the ring,
   *   so reordering the list or adding a shard does not move other shards' keys.
   * @param points virtual points per shard; more points, more even spread. @default 160
   */
  constructor(shards: ReadonlyArray<{ id: string; shard: T }>, points = 160) {
    if (shards.length === 0) throw new Error('a hash ring needs at least one shard');
    const ids = new Set<string>();
    const all: Array<{ h: number; owner: T }> = [];
    for (const { id, shard } of shards) {
      if (ids.has(id)) throw new Error(`duplicate shard id "${id}"`);
      ids.add(id);
      for (let i = 0; i < points; i++) all.push({ h: hash32(`${id}#${i}`), owner: shard });
    }
    all.sort((a, b) => a.h - b.h);
    this.hashes = Uint32Array.from(all.map((p) => p.h));
    this.owners = all.map((p) => p.owner);
  }

  /** The shard owning `key`. */
  get(key: string): T {
    const h = hash32(key);
    let lo = 0;
    let hi = this.hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.hashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === this.hashes.length ? 0 : lo]!;
  }
}
