/**
 * Log-linear latency histogram in microseconds (0.2 % resolution above 1 ms, exact below), small
 * enough to ship over IPC as sparse pairs and merge across worker processes.
 */

const LINEAR = 1024; // values below are stored exactly
const SUB = 512; // sub-buckets per power of two above LINEAR
const BUCKETS = LINEAR + 22 * SUB; // covers up to 2^32 µs (~71 min)

function indexOf(us: number): number {
  if (us < LINEAR) return us;
  const e = 31 - Math.clz32(us); // us in [2^e, 2^(e+1)), e >= 10
  const shift = e - 9;
  return LINEAR + (e - 10) * SUB + ((us >>> shift) - SUB);
}

/** Midpoint of a bucket, in microseconds. */
function valueOf(index: number): number {
  if (index < LINEAR) return index;
  const e = Math.floor((index - LINEAR) / SUB) + 10;
  const sub = (index - LINEAR) % SUB;
  const shift = e - 9;
  return (sub + SUB) * 2 ** shift + 2 ** (shift - 1);
}

export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private n = 0;

  get count(): number {
    return this.n;
  }

  /** Records a latency in microseconds; negative values count as 0, huge ones saturate. */
  record(us: number): void {
    const v = us <= 0 ? 0 : Math.min(Math.floor(us), 0xffffffff);
    this.counts[indexOf(v)]!++;
    this.n++;
  }

  /** Sparse `[index, count]` pairs for IPC. */
  toPairs(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) out.push([i, this.counts[i]!]);
    return out;
  }

  addPairs(pairs: ReadonlyArray<readonly [number, number]>): void {
    for (const [i, c] of pairs) {
      if (i < 0 || i >= BUCKETS) throw new RangeError(`histogram bucket ${i} out of range`);
      this.counts[i]! += c;
      this.n += c;
    }
  }

  /** The value (µs) at quantile `q` in [0, 1], or null when empty. */
  quantile(q: number): number | null {
    if (this.n === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return valueOf(i);
    }
    return valueOf(BUCKETS - 1);
  }
}
