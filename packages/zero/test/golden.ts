// Where the shared reference data lives, and the tolerance rule its README defines.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden');

if (!existsSync(GOLDEN)) {
  throw new Error(`golden reference data not found at ${GOLDEN}: the repository expects shared/ beside its root`);
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** Index of the first element outside |a - e| <= atol + rtol * |e|, or -1. */
export function firstMismatch(actual: Float32Array, expected: Float32Array, tol: Tolerance): number {
  if (actual.length !== expected.length) return 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e))) return i;
  }
  return -1;
}
