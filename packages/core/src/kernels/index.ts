import { loadNativeKernels, nativeLoadError } from './native.js';
import { referenceKernels } from './reference.js';
import type { Kernels } from './types.js';

export type { BlasInfo, Kernels } from './types.js';
export { BinaryOp, UnaryOp } from './types.js';
export { referenceKernels } from './reference.js';

let active: Kernels | null = null;

function choose(): Kernels {
  const flag = process.env.DS_NATIVE;
  if (flag === '0' || flag === 'false') return referenceKernels;
  const native = loadNativeKernels();
  if (native) return native;
  if (flag === '1' || flag === 'true') {
    throw new Error(`DS_NATIVE=${flag} but the native kernels could not be loaded: ${nativeLoadError() ?? 'unknown error'}`);
  }
  return referenceKernels;
}

/** The kernels every op runs on: native when the addon is built (and DS_NATIVE is not 0), else TypeScript. */
export function kernels(): Kernels {
  return (active ??= choose());
}

/** Switch kernels explicitly ('native' throws if the addon is not available). */
export function useKernels(which: 'native' | 'reference'): Kernels {
  if (which === 'reference') return (active = referenceKernels);
  const native = loadNativeKernels();
  if (!native) throw new Error(`native kernels unavailable: ${nativeLoadError() ?? 'unknown error'}`);
  return (active = native);
}

/** Threads used by native kernels (GEMM included) on this rank. */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setNumThreads: expected a positive integer, got ${n}`);
  kernels().setNumThreads(n);
}
