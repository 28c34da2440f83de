/**
 * "Did you mean …?" for misspelt option keys, flags and commands: the known name closest to the
 * given one by Levenshtein distance (case differences count half, so `apikey` finds `apiKey`
 * before anything else), when it is close enough to be a typo.
 */

/** Edit distance between `a` and `b` (insert, delete, substitute: 1 each; a change of case only: 0.5). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const m = a.length;
  const n = b.length;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      const x = a[i - 1]!;
      const y = b[j - 1]!;
      const sub = x === y ? 0 : x.toLowerCase() === y.toLowerCase() ? 0.5 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + sub);
    }
    prev = cur;
  }
  return prev[n]!;
}

/** The closest of `known` to `given` if it is within a typo's distance, else undefined. */
export function closest(given: string, known: Iterable<string>): string | undefined {
  if (given.length > 100) return undefined;
  const limit = Math.max(2, Math.floor(given.length / 3));
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(given, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return bestD <= limit ? best : undefined;
}

/** `; did you mean "x"?` or the empty string. */
export function didYouMean(given: string, known: Iterable<string>, quote = (s: string) => `"${s}"`): string {
  const s = closest(given, known);
  return s === undefined ? '' : `; did you mean ${quote(s)}?`;
}
