// Helpers shared by the unit tests (autograd, tensor, views, nn, errors, random, flat):
// kernel-mode selection and a float64 finite-difference gradient checker.
import { afterAll, beforeEach, expect } from 'vitest';
import { Generator, noGrad, tensor, useKernels, type Tensor } from '../src/index.js';

export type KernelMode = 'reference' | 'native';

/** 'reference' always; 'native' too when the addon loads. */
export const KERNEL_MODES: KernelMode[] = (() => {
  const modes: KernelMode[] = ['reference'];
  try {
    useKernels('native');
    modes.push('native');
  } catch {
    // addon not built: reference only
  }
  useKernels('reference');
  return modes;
})();

/** Call inside a describe: every test in it runs on `mode` kernels. */
export function withKernels(mode: KernelMode): void {
  beforeEach(() => {
    useKernels(mode);
  });
  afterAll(() => {
    useKernels('reference');
  });
}

/** Deterministic uniform values in [lo, hi) (float32-rounded). */
export function uniformValues(n: number, seed: number, lo = -1, hi = 1): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * g.uniform()));
}

/** Values in [lo, hi) whose magnitude is at least `minAbs` (keeps away from kinks at 0). */
export function awayFromZero(n: number, seed: number, minAbs = 0.2, maxAbs = 1.5): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => {
    const m = minAbs + (maxAbs - minAbs) * g.uniform();
    return Math.fround(g.uniform() < 0.5 ? -m : m);
  });
}

function prod(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A float32 leaf requiring grad with deterministic values in [lo, hi). */
export function leaf(shape: readonly number[], seed: number, lo = -1, hi = 1): Tensor {
  return tensor(Float32Array.from(uniformValues(prod(shape), seed, lo, hi)), { shape, requiresGrad: true });
}

/** A float32 leaf requiring grad from explicit values. */
export function leafOf(values: readonly number[], shape: readonly number[] = [values.length]): Tensor {
  return tensor(Float32Array.from(values), { shape, requiresGrad: true });
}

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Seed of the random upstream gradient. */
  seed?: number;
}

/**
 * Compare the autograd gradients of `f` at `inputs` with central finite differences of
 * L = sum(f(inputs) * w) computed in float64 (w a fixed random upstream gradient, so a wrong
 * per-element gradient cannot hide behind an all-ones upstream). Inputs that do not require
 * grad are passed through unchanged. Returns the analytic gradients.
 */
export function gradcheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): (Tensor | null)[] {
  const eps = opts.eps ?? 1e-2;
  const atol = opts.atol ?? 5e-3;
  const rtol = opts.rtol ?? 2e-2;
  for (const x of inputs) x.grad = null;

  const out = f(...inputs);
  expect(out.requiresGrad, 'output requires grad').toBe(true);
  const w = uniformValues(out.numel, opts.seed ?? 97, -1.5, 1.5).map((v) => (Math.abs(v) < 0.1 ? v + 0.3 : v));
  out.backward(tensor(Float32Array.from(w), { shape: out.shape, dtype: out.dtype }));

  const loss = (xs: Tensor[]): number => {
    const y = noGrad(() => f(...xs)).toFloat32Array();
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * w[i]!;
    return s;
  };
  const frozen = (x: Tensor, values?: Float32Array): Tensor =>
    x.requiresGrad ? tensor(values ?? x.toFloat32Array(), { shape: x.shape, dtype: x.dtype }) : x;

  inputs.forEach((x, i) => {
    if (!x.requiresGrad) return;
    const g = x.grad;
    expect(g, `input ${i} has a gradient`).not.toBeNull();
    expect(g!.shape, `input ${i} gradient shape`).toEqual(x.shape);
    expect(g!.dtype, `input ${i} gradient dtype`).toBe(x.dtype);
    const analytic = g!.toFloat32Array();
    const base = x.toFloat32Array();
    for (let j = 0; j < base.length; j++) {
      const plus = base.slice();
      const minus = base.slice();
      plus[j] = base[j]! + eps;
      minus[j] = base[j]! - eps;
      const h = plus[j]! - minus[j]!;
      const lp = loss(inputs.map((y, k) => (k === i ? frozen(y, plus) : frozen(y))));
      const lm = loss(inputs.map((y, k) => (k === i ? frozen(y, minus) : frozen(y))));
      const numeric = (lp - lm) / h;
      const a = analytic[j]!;
      if (!(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric))) {
        throw new Error(`gradcheck: input ${i} element ${j}: autograd ${a}, finite difference ${numeric} (|diff| ${Math.abs(a - numeric)})`);
      }
    }
  });
  return inputs.map((x) => x.grad);
}

/** Elementwise closeness of a tensor (or array) to expected numbers (row-major). */
export function expectValues(actual: Tensor | ArrayLike<number>, expected: readonly number[], tol = 1e-5, what = 'values'): void {
  const a = 'toFloat32Array' in actual ? (actual as Tensor).toFloat32Array() : Array.from(actual as ArrayLike<number>);
  expect(a.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const x = a[i]!;
    const y = expected[i]!;
    if (!Number.isFinite(y)) {
      expect(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)), `${what}[${i}]: got ${x}, expected ${y}`).toBe(true);
      continue;
    }
    if (!(Math.abs(x - y) <= tol + tol * Math.abs(y))) {
      throw new Error(`${what}[${i}]: got ${x}, expected ${y} (tol ${tol})`);
    }
  }
}

/** Values of a tensor as a plain number array (row-major). */
export function vals(t: Tensor): number[] {
  return Array.from(t.toFloat32Array());
}
