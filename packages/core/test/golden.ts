// Shared helpers for tests against ../shared/golden (reference data from PyTorch/DeepSpeed).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { loadNativeKernels } from '../src/kernels/native.js';
import type { Tensor } from '../src/index.js';

export const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden');

if (!existsSync(GOLDEN)) {
  throw new Error(`golden reference data not found at ${GOLDEN}: the repository expects shared/ beside its root`);
}

/** Kernel modes to run golden tests in: always the TypeScript reference, plus native when built. */
export const KERNEL_MODES: ('reference' | 'native')[] = loadNativeKernels() ? ['reference', 'native'] : ['reference'];
if (KERNEL_MODES.length === 1) console.warn('native kernels not built: golden tests run in TypeScript mode only');

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** |actual - expected| <= atol + rtol * |expected| elementwise; infinities must match exactly. */
export function expectClose(actual: Tensor | Float32Array, expected: Tensor | Float32Array, tol: Tolerance, what: string): void {
  const a = actual instanceof Float32Array ? actual : actual.toFloat32Array();
  const e = expected instanceof Float32Array ? expected : expected.toFloat32Array();
  if (!(actual instanceof Float32Array) && !(expected instanceof Float32Array)) {
    expect(actual.shape, `${what}: shape`).toEqual(expected.shape);
  }
  expect(a.length, `${what}: length`).toBe(e.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (!Number.isFinite(y) || !Number.isFinite(x)) {
      if (Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y))) continue;
      worst = i;
      worstExcess = Infinity;
      break;
    }
    const excess = Math.abs(x - y) - (tol.atol + tol.rtol * Math.abs(y));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${a[worst]} but expected ${e[worst]} (atol ${tol.atol}, rtol ${tol.rtol})`);
  }
}
