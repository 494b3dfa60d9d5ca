// Unscale gradients into fp32 master gradients and report whether they are all finite: the
// first half of every mixed-precision step. This file is the reference (the spec of the native
// kernel) and the validated entry point that dispatches to whichever kernel set is active.
import { bf16BitsToF32, f16BitsToF32 } from '@ds/core';
import { invalidArgument } from '../invalid-argument.js';
import { precisionKernels } from './binding.js';
import type { GradDType } from './types.js';

const GRAD_DTYPES: readonly GradDType[] = ['float32', 'float16', 'bfloat16'];

let f16Table: Float32Array | null = null;
let bf16Table: Float32Array | null = null;

// Every 16-bit pattern widened once (256 KiB each): a lookup is exact and far faster than
// decoding bits per element in JavaScript.
function widenTable(dtype: 'float16' | 'bfloat16'): Float32Array {
  if (dtype === 'float16') return (f16Table ??= Float32Array.from({ length: 65536 }, (_, h) => f16BitsToF32(h)));
  return (bf16Table ??= Float32Array.from({ length: 65536 }, (_, h) => bf16BitsToF32(h)));
}

/**
 * Reference kernel: out[i] = grad[i] * invScale, or out[i] += grad[i] * invScale, in float32
 * arithmetic (a product or sum of two float32 values computed in float64 and rounded once is
 * the correctly rounded float32 result). Arguments are not validated.
 */
export function unscaleToMasterReference(
  grad: Float32Array | Uint16Array, dtype: GradDType, out: Float32Array, invScale: number, accumulate: boolean,
): boolean {
  const inv = Math.fround(invScale);
  const src: ArrayLike<number> = grad;
  const table = dtype === 'float32' ? null : widenTable(dtype);
  const n = out.length;
  // NOTE: y - y is 0 for every finite y and NaN for inf or NaN; summed, NaN sticks. The native
  // kernels track finiteness the same way.
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const g = table ? table[src[i]!]! : src[i]!;
    let y = Math.fround(g * inv);
    if (accumulate) y = Math.fround(out[i]! + y);
    out[i] = y;
    bad += y - y;
  }
  return bad === 0;
}

export interface UnscaleOptions {
  /** Add into `out` (out += grad * invScale) instead of overwriting it. Default false. */
  accumulate?: boolean;
}

/**
 * Write `grad * invScale` into the fp32 `out` (or add it with `{ accumulate: true }`) and return
 * whether every value written is finite. `grad` is a Float32Array for 'float32' and a Uint16Array
 * of bit patterns for 'float16' / 'bfloat16'; `invScale` is rounded to float32.
 * @example
 *   const out = new Float32Array(2);
 *   unscaleToMaster(new Uint16Array([0x4400, 0x7c00]), 'float16', out, 1 / 4); // false: 4 -> 1, inf stays inf
 */
export function unscaleToMaster(
  grad: Float32Array | Uint16Array, dtype: GradDType, out: Float32Array, invScale: number, opts: UnscaleOptions = {},
): boolean {
  const where = 'unscaleToMaster';
  if (!GRAD_DTYPES.includes(dtype)) {
    throw new RangeError(`${where}: 'dtype' must be 'float32', 'float16' or 'bfloat16', got ${JSON.stringify(dtype)}`);
  }
  if (dtype === 'float32' ? !(grad instanceof Float32Array) : !(grad instanceof Uint16Array)) {
    throw invalidArgument(where, 'grad', dtype === 'float32' ? 'a Float32Array for dtype float32' : `a Uint16Array of ${dtype} bits`, grad);
  }
  if (!(out instanceof Float32Array)) throw invalidArgument(where, 'out', 'a Float32Array', out);
  if (out.length !== grad.length) {
    throw new RangeError(`${where}: 'out' has ${out.length} elements but 'grad' has ${grad.length}; they must match`);
  }
  if (typeof invScale !== 'number' || !Number.isFinite(invScale)) throw invalidArgument(where, 'invScale', 'a finite number', invScale);
  const accumulate = opts.accumulate ?? false;
  if (typeof accumulate !== 'boolean') throw invalidArgument(where, 'opts.accumulate', 'a boolean', accumulate);
  return precisionKernels().unscaleToMaster(grad, dtype, out, invScale, accumulate);
}
