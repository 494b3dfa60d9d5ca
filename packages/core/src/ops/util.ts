// Helpers every op uses to get float32 working data and to wrap results.
import { isFloating, type DType } from '../dtype.js';
import { kernels } from '../kernels/index.js';
import { Tensor } from '../tensor.js';
import { shapeStr, type Shape } from '../shape.js';
import { uninitF32, uninitU16 } from '../alloc.js';

export type TensorOrNumber = Tensor | number;

/** Contiguous float32 elements of `t` (zero-copy for contiguous float32 tensors). */
export function f32(t: Tensor): Float32Array {
  if (t.dtype === 'float32') return t.data<'float32'>();
  const d = t.data();
  const out = uninitF32(t.numel);
  switch (t.dtype) {
    case 'float16':
      kernels().f16ToF32(d as Uint16Array, out);
      break;
    case 'bfloat16':
      kernels().bf16ToF32(d as Uint16Array, out);
      break;
    case 'int32':
      out.set(d as Int32Array);
      break;
    case 'int64': {
      const s = d as BigInt64Array;
      for (let i = 0; i < s.length; i++) out[i] = Number(s[i]);
      break;
    }
  }
  return out;
}

/**
 * The 16-bit patterns (bfloat16 or float16) of `t` in row-major order: zero-copy when `t` is
 * contiguous, else gathered by the strided-copy kernel.
 */
export function bits16(t: Tensor): Uint16Array {
  if (t.isContiguous()) return t.data<'bfloat16'>();
  const out = uninitU16(t.numel);
  kernels().copyStrided16(Int32Array.from(t.shape), t.storage as Uint16Array, t.offset, Int32Array.from(t.strides), out);
  return out;
}

/** A bfloat16 tensor over bits a kernel has just written. */
export function bf16Tensor(bits: Uint16Array, shape: Shape): Tensor {
  return new Tensor(bits, shape, 'bfloat16');
}

/** Wrap float32 results as a tensor of `dtype` (rounding to 16-bit floats when asked). */
export function wrap(values: Float32Array, shape: Shape, dtype: DType = 'float32'): Tensor {
  if (dtype === 'float32') return new Tensor(values, shape, 'float32');
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const bits = uninitU16(values.length);
    if (dtype === 'float16') kernels().f32ToF16(values, bits);
    else kernels().f32ToBf16(values, bits);
    return new Tensor(bits, shape, dtype);
  }
  if (dtype === 'int32') return new Tensor(Int32Array.from(values, Math.trunc), shape, dtype);
  return new Tensor(BigInt64Array.from(values, (v) => BigInt(Math.trunc(v))), shape, dtype);
}

export function assertFloating(t: Tensor, what: string, arg = 'input'): void {
  if (!isFloating(t.dtype)) {
    throw new TypeError(`${what}: ${arg} must be a floating-point tensor (float32, float16 or bfloat16), got ${t.dtype}`);
  }
}

export function assertTensor(t: unknown, what: string, arg: string): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${what}: ${arg} must be a Tensor, got ${describe(t)}`);
}

export function assertNdim(t: Tensor, ndims: readonly number[], what: string, arg: string): void {
  if (!ndims.includes(t.ndim)) {
    throw new RangeError(`${what}: ${arg} must have ${ndims.join(' or ')} dims, got shape ${shapeStr(t.shape)}`);
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return `${typeof v} ${String(v)}`;
}

/** Integer ids of an int32/int64 tensor as a contiguous Int32Array. */
export function ids32(t: Tensor, what: string, arg: string): Int32Array {
  if (t.dtype === 'int32') return t.data<'int32'>();
  if (t.dtype === 'int64') {
    const s = t.data<'int64'>();
    const out = new Int32Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const v = s[i]!;
      if (v > 2147483647n || v < -2147483648n) throw new RangeError(`${what}: ${arg}[${i}] = ${v} does not fit in int32`);
      out[i] = Number(v);
    }
    return out;
  }
  throw new TypeError(`${what}: ${arg} must be an integer tensor (int64 or int32), got ${t.dtype}`);
}
