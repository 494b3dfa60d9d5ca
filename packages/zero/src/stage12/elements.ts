// Element moves between gradient, bucket and partition buffers of possibly different float
// dtypes, on raw storage (16-bit floats as their bit patterns), through @ds/precision's kernels.
import { kernels, type DType, type StorageArray, type Tensor } from '@ds/core';
import { masterToHalf, unscaleToMaster, type GradDType, type HalfDType } from '@ds/precision';

function checkFloat(dtype: DType, what: string): GradDType {
  if (dtype !== 'float32' && dtype !== 'float16' && dtype !== 'bfloat16') {
    throw new TypeError(`zero: ${what} is ${dtype}; ZeRO partitions floating-point (float32, float16, bfloat16) parameters only`);
  }
  return dtype;
}

/** dst (of `dstDtype`) = src's elements converted; lengths must match. */
export function castInto(dst: StorageArray, dstDtype: DType, src: Tensor): void {
  const from = checkFloat(src.dtype, 'a gradient');
  const to = checkFloat(dstDtype, 'the communication dtype');
  const s = src.data();
  if (from === to) {
    (dst as Float32Array).set(s as Float32Array);
    return;
  }
  if (to === 'float32') {
    unscaleToMaster(s as Uint16Array, from, dst as Float32Array, 1);
    return;
  }
  let wide: Float32Array;
  if (from === 'float32') wide = s as Float32Array;
  else {
    wide = new Float32Array(s.length);
    unscaleToMaster(s as Uint16Array, from, wide, 1);
  }
  masterToHalf(wide, dst as Uint16Array, to as HalfDType);
}

/** out += src · factor in float32 (src of `dtype`); returns whether every result is finite. */
export function accumulateScaled(out: Float32Array, src: StorageArray, dtype: DType, factor: number): boolean {
  const d = checkFloat(dtype, 'a reduced gradient');
  return unscaleToMaster(src as Float32Array | Uint16Array, d, out, factor, { accumulate: true });
}

/** x *= factor in place (float32, or 16-bit bits rounded to nearest even). */
export function scaleInPlace(x: StorageArray, dtype: DType, factor: number): void {
  if (factor === 1) return;
  const d = checkFloat(dtype, 'a gradient bucket');
  if (d === 'float32') {
    kernels().scale(x as Float32Array, factor);
    return;
  }
  const wide = new Float32Array(x.length);
  unscaleToMaster(x as Uint16Array, d, wide, factor);
  masterToHalf(wide, x as Uint16Array, d);
}

/** True when every element of the float32 array is finite. */
export function allFinite(x: Float32Array): boolean {
  return Number.isFinite(kernels().sumAll(x, false));
}
