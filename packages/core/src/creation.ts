// Tensor factories.
import { isGradEnabled } from './autograd.js';
import type { DeviceLike } from './device.js';
import { allocateStorage, assertDType, type DType, type StorageArray } from './dtype.js';
import { f32ToBf16Bits, f32ToF16Bits } from './half.js';
import { kernels } from './kernels/index.js';
import { defaultGenerator, type Generator } from './random.js';
import { numel, shapeStr, type Shape } from './shape.js';
import { Tensor } from './tensor.js';

export interface TensorOptions {
  dtype?: DType;
  device?: DeviceLike;
  requiresGrad?: boolean;
}

export type NestedNumbers = number | bigint | boolean | readonly NestedNumbers[];

function finish(t: Tensor, opts: TensorOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad_(true);
  return t;
}

function checkShape(shape: Shape, what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${what}: invalid shape ${shapeStr(shape)} (sizes must be non-negative integers)`);
  }
}

/** Fill a storage of `dtype` from float values, converting 16-bit floats with RNE. */
export function storageFromNumbers(dtype: DType, values: ArrayLike<number>): StorageArray {
  const n = values.length;
  const out = allocateStorage(dtype, n);
  switch (dtype) {
    case 'float32':
      (out as Float32Array).set(values);
      break;
    case 'float16': {
      const src = values instanceof Float32Array ? values : Float32Array.from(values);
      kernels().f32ToF16(src, out as Uint16Array);
      break;
    }
    case 'bfloat16': {
      const src = values instanceof Float32Array ? values : Float32Array.from(values);
      kernels().f32ToBf16(src, out as Uint16Array);
      break;
    }
    case 'int32':
      for (let i = 0; i < n; i++) (out as Int32Array)[i] = Math.trunc(values[i]!);
      break;
    case 'int64':
      for (let i = 0; i < n; i++) (out as BigInt64Array)[i] = BigInt(Math.trunc(values[i]!));
      break;
  }
  return out;
}

/**
 * Create a tensor from nested arrays, a typed array (with `shape`), or a number.
 * The dtype defaults to float32, or int64 for bigint data / BigInt64Array, int32 for Int32Array.
 */
export function tensor(
  data: NestedNumbers | Float32Array | Int32Array | BigInt64Array | Uint16Array,
  opts: TensorOptions & { shape?: Shape } = {},
): Tensor {
  if (ArrayBuffer.isView(data)) {
    const shape = opts.shape ?? [data.length];
    if (numel(shape) !== data.length) {
      throw new RangeError(`tensor: shape ${shapeStr(shape)} holds ${numel(shape)} elements but the data has ${data.length}`);
    }
    let dtype: DType;
    if (data instanceof BigInt64Array) dtype = opts.dtype ?? 'int64';
    else if (data instanceof Int32Array) dtype = opts.dtype ?? 'int32';
    else if (data instanceof Uint16Array) {
      if (opts.dtype !== 'float16' && opts.dtype !== 'bfloat16') {
        throw new TypeError("tensor: a Uint16Array holds 16-bit float bits; pass { dtype: 'float16' } or { dtype: 'bfloat16' }");
      }
      dtype = opts.dtype;
    } else dtype = opts.dtype ?? 'float32';
    let storage: StorageArray;
    if (data instanceof BigInt64Array) {
      storage = dtype === 'int64' ? data.slice() : storageFromNumbers(dtype, Array.from(data, Number));
    } else if (data instanceof Uint16Array) storage = data.slice();
    else storage = storageFromNumbers(dtype, data as Float32Array | Int32Array);
    return finish(new Tensor(storage, shape, dtype, { device: opts.device }), opts);
  }
  const shape: number[] = [];
  let probe: NestedNumbers = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = (probe as readonly NestedNumbers[])[0]!;
  }
  const flat: (number | bigint | boolean)[] = [];
  const walk = (v: NestedNumbers, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (Array.isArray(v)) throw new RangeError(`tensor: ragged nested array at ${path || 'top level'}`);
      flat.push(v as number | bigint | boolean);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new RangeError(`tensor: ragged nested array at ${path || 'top level'}: expected length ${shape[dim]}`);
    }
    (v as readonly NestedNumbers[]).forEach((x, i) => walk(x, dim + 1, `${path}[${i}]`));
  };
  walk(data, 0, '');
  const dtype = opts.dtype ? assertDType(opts.dtype, 'tensor') : typeof flat[0] === 'bigint' ? 'int64' : 'float32';
  let storage: StorageArray;
  if (dtype === 'int64') storage = BigInt64Array.from(flat, (v) => (typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))));
  else storage = storageFromNumbers(dtype, flat.map(Number));
  return finish(new Tensor(storage, shape, dtype, { device: opts.device }), opts);
}

export function empty(shape: Shape, opts: TensorOptions = {}): Tensor {
  checkShape(shape, 'empty');
  const dtype = opts.dtype ?? 'float32';
  return finish(new Tensor(allocateStorage(dtype, numel(shape)), shape, dtype, { device: opts.device }), opts);
}

export function zeros(shape: Shape, opts: TensorOptions = {}): Tensor {
  return empty(shape, opts);
}

export function full(shape: Shape, value: number, opts: TensorOptions = {}): Tensor {
  const t = empty(shape, opts);
  const s = t.storage;
  if (t.dtype === 'float16') (s as Uint16Array).fill(f32ToF16Bits(value));
  else if (t.dtype === 'bfloat16') (s as Uint16Array).fill(f32ToBf16Bits(value));
  else if (t.dtype === 'int64') (s as BigInt64Array).fill(BigInt(Math.trunc(value)));
  else (s as Float32Array | Int32Array).fill(value);
  return t;
}

export function ones(shape: Shape, opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}

export function zerosLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return zeros(t.shape, { dtype: t.dtype, ...opts });
}

export function onesLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return ones(t.shape, { dtype: t.dtype, ...opts });
}

/** Values start, start+step, ... below end (torch.arange). */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new RangeError('arange: step must be non-zero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const values = Array.from({ length: n }, (_, i) => start + i * step);
  const dtype = opts.dtype ?? (Number.isInteger(start) && Number.isInteger(step) ? 'int64' : 'float32');
  return tensor(values, { ...opts, dtype, shape: undefined });
}

export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

export function randn(shape: Shape, opts: RandomOptions = {}): Tensor {
  checkShape(shape, 'randn');
  const g = opts.generator ?? defaultGenerator;
  const values = new Float32Array(numel(shape));
  for (let i = 0; i < values.length; i++) values[i] = g.normal();
  return fromF32(values, shape, opts);
}

export function rand(shape: Shape, opts: RandomOptions = {}): Tensor {
  checkShape(shape, 'rand');
  const g = opts.generator ?? defaultGenerator;
  const values = new Float32Array(numel(shape));
  for (let i = 0; i < values.length; i++) values[i] = g.uniform();
  return fromF32(values, shape, opts);
}

/** Integers uniform in [low, high) (int64 by default). */
export function randint(low: number, high: number, shape: Shape, opts: RandomOptions = {}): Tensor {
  checkShape(shape, 'randint');
  if (!(high > low)) throw new RangeError(`randint: high (${high}) must be greater than low (${low})`);
  const g = opts.generator ?? defaultGenerator;
  const values = Array.from({ length: numel(shape) }, () => low + g.randint(high - low));
  return tensor(values.length ? values : [], { dtype: opts.dtype ?? 'int64', shape }).reshape(shape);
}

function fromF32(values: Float32Array, shape: Shape, opts: TensorOptions): Tensor {
  const dtype = opts.dtype ?? 'float32';
  const storage = dtype === 'float32' ? values : storageFromNumbers(dtype, values);
  return finish(new Tensor(storage, shape, dtype, { device: opts.device }), opts);
}

/** Wrap a Float32Array as a float32 tensor without copying. */
export function fromFloat32Array(values: Float32Array, shape: Shape): Tensor {
  if (numel(shape) !== values.length) {
    throw new RangeError(`fromFloat32Array: shape ${shapeStr(shape)} holds ${numel(shape)} elements but the array has ${values.length}`);
  }
  return new Tensor(values, shape, 'float32');
}

