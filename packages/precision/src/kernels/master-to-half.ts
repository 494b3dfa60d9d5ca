// Copy fp32 master weights into the 16-bit parameters the model computes with, rounding to
// nearest even: the last part of every mixed-precision step. Reference kernel plus the
// validated entry point that dispatches to the active kernel set.
import { f32ToBf16Bits, f32ToF16Bits } from '@ds/core';
import { invalidArgument } from '../invalid-argument.js';
import { precisionKernels } from './binding.js';
import type { HalfDType } from './types.js';

/** Reference kernel: @ds/core's conversions element by element. Arguments are not validated. */
export function masterToHalfReference(src: Float32Array, dst: Uint16Array, dtype: HalfDType): void {
  const convert = dtype === 'float16' ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < src.length; i++) dst[i] = convert(src[i]!);
}

/**
 * dst[i] = src[i] as float16 or bfloat16 bits, round to nearest even (bit-identical to
 * @ds/core's f32ToF16Bits / f32ToBf16Bits). `src` and `dst` must have the same length.
 * @example
 *   const dst = new Uint16Array(1);
 *   masterToHalf(new Float32Array([1.5]), dst, 'bfloat16'); // dst[0] === 0x3fc0
 */
export function masterToHalf(src: Float32Array, dst: Uint16Array, dtype: HalfDType): void {
  const where = 'masterToHalf';
  if (!(src instanceof Float32Array)) throw invalidArgument(where, 'src', 'a Float32Array', src);
  if (!(dst instanceof Uint16Array)) throw invalidArgument(where, 'dst', 'a Uint16Array', dst);
  if (dtype !== 'float16' && dtype !== 'bfloat16') {
    throw new RangeError(`${where}: 'dtype' must be 'float16' or 'bfloat16', got ${JSON.stringify(dtype)}`);
  }
  if (src.length !== dst.length) {
    throw new RangeError(`${where}: 'dst' has ${dst.length} elements but 'src' has ${src.length}; they must match`);
  }
  precisionKernels().masterToHalf(src, dst, dtype);
}
