// "Did you mean" for misspelt names: schedule types, schedule params, monitor keys.
import { editDistance } from '@ds/core';

/** Fold case and separators so `warmupMinLr`, `WARMUP_MIN_LR` and `warmup-min-lr` compare equal. */
function fold(s: string): string {
  return s.toLowerCase().replace(/[_\-\s]/g, '');
}

/** The known name closest to `name`, or null when nothing is close enough to be a typo. */
export function closestName(name: string, known: readonly string[]): string | null {
  const folded = fold(name);
  const same = known.find((k) => fold(k) === folded);
  if (same !== undefined) return same;
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(folded, fold(k));
    if (d < bestD) [best, bestD] = [k, d];
  }
  // Short names are a small edit away from everything; only call near-exact matches typos.
  const limit = folded.length <= 4 ? 1 : Math.max(2, Math.floor(folded.length / 4));
  if (bestD <= limit) return best;
  // A different ending on a shared stem (output_dir for output_path), if only one name has that stem.
  const prefixLen = (k: string) => {
    const f = fold(k);
    let i = 0;
    while (i < f.length && i < folded.length && f[i] === folded[i]) i++;
    return i;
  };
  const need = Math.max(4, Math.ceil(0.6 * folded.length));
  const stems = known.filter((k) => prefixLen(k) >= need);
  return stems.length === 1 ? stems[0]! : null;
}

/** ` (did you mean 'x'?)` or, with nothing close, `; valid: 'a', 'b'`. */
export function unknownNameHint(name: string, known: readonly string[]): string {
  const hint = closestName(name, known);
  if (hint !== null) return ` (did you mean '${hint}'?)`;
  return `; valid names are ${known.map((k) => `'${k}'`).join(', ')}`;
}

/** A short, quoted rendering of a bad value for error messages. */
export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  try {
    const s = JSON.stringify(value);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
