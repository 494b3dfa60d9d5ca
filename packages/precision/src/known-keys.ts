// Rejects unknown option and config keys, suggesting the key that was probably meant.
import { editDistance } from '@ds/core';

/**
 * Throw a RangeError naming the first key of `obj` not in `known` (as `prefix` + key), with a
 * "did you mean" when one is close.
 */
export function checkKnownKeys(obj: Record<string, unknown>, known: readonly string[], what: string, prefix = ''): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const hint = closest(key, known);
    throw new RangeError(
      `unknown ${what} '${prefix}${key}'` + (hint ? ` (did you mean '${hint}'?)` : '') + `; valid: ${known.map((k) => `'${k}'`).join(', ')}`,
    );
  }
}

function closest(key: string, known: readonly string[]): string | null {
  const norm = (s: string): string => s.replace(/[_-]/g, '').toLowerCase();
  const exact = known.find((k) => norm(k) === norm(key));
  if (exact) return exact;
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(norm(key), norm(k));
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== null && bestD <= Math.max(2, Math.floor(key.length / 4)) ? best : null;
}

