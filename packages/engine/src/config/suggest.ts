// "Did you mean" for misspelt keys and enum values: the closest candidate by edit distance.

/** Damerau–Levenshtein (optimal string alignment) distance, so a swapped pair of letters costs 1. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `input`, or undefined when nothing is plausibly meant. Case and
 * `-`/`_` differences are free; otherwise up to a third of the input's length may differ, so
 * "zero_optimisation" finds "zero_optimization" but "lr" does not find "eps".
 */
export function closest(input: string, candidates: Iterable<string>): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/-/g, '_');
  const n = norm(input);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = editDistance(n, norm(c));
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(1, Math.floor(n.length / 3));
  if (bestDistance <= limit) return best;
  // A key written with a prefix DeepSpeed also knows (e.g. "zero_stage" for "stage") still deserves a hint.
  const contained = [...candidates].find((c) => c.length >= 4 && (n.endsWith(`_${norm(c)}`) || n.startsWith(`${norm(c)}_`)));
  return contained;
}
