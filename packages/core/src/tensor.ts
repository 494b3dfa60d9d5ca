// The Tensor: a strided view over typed-array storage, plus the autograd fields.
// Ops live in ops/ and are attached as methods in methods.ts, so this file stays about
// storage, shape and the gradient bookkeeping a tensor carries.
import { Device, type DeviceLike } from './device.js';
import { allocateStorage, isFloating, type DType, type StorageArray, type StorageArrays } from './dtype.js';
import { bf16BitsToF32, f16BitsToF32 } from './half.js';
import { kernels } from './kernels/index.js';
import { contiguousStrides, normDim, numel, shapeStr, type Shape } from './shape.js';
import { uninitF32, uninitU16 } from './alloc.js';

/** A node of the backward graph: computes the gradients of its inputs from its output's gradient. */
export interface GradFn {
  readonly name: string;
  /** The tensors whose gradients `backward` returns, in the same order (null = no gradient needed). */
  readonly inputs: readonly (Tensor | null)[];
  backward(grad: Tensor): readonly (Tensor | null)[];
}

export type TensorHook = (grad: Tensor) => Tensor | void;
export type PostAccumulateGradHook = (param: Tensor) => void;

let nextId = 1;

export class Tensor {
  /** Unique id, stable for the tensor's lifetime (useful as a map key in strategies). */
  readonly id = nextId++;
  #storage: StorageArray;
  #shape: number[];
  #strides: number[];
  #offset: number;
  #dtype: DType;
  readonly device: Device;
  requiresGrad = false;
  grad: Tensor | null = null;
  gradFn: GradFn | null = null;
  /** Free-form metadata strategies attach to parameters (reduction group, expert, tensor-parallel, ...). */
  readonly meta: Record<string, unknown> = {};
  /** @internal */ hooks: TensorHook[] | null = null;
  /** @internal */ postAccumulateHooks: PostAccumulateGradHook[] | null = null;
  /** @internal */ retainsGrad = false;

  constructor(storage: StorageArray, shape: Shape, dtype: DType, opts: { strides?: Shape; offset?: number; device?: DeviceLike } = {}) {
    this.#storage = storage;
    this.#shape = [...shape];
    this.#strides = opts.strides ? [...opts.strides] : contiguousStrides(shape);
    this.#offset = opts.offset ?? 0;
    this.#dtype = dtype;
    this.device = Device.parse(opts.device ?? 'cpu');
    if (this.device.type !== 'cpu') {
      throw new Error(`device ${this.device} has no backing storage in @ds/core yet; create the tensor on 'cpu'`);
    }
  }

  get shape(): readonly number[] {
    return this.#shape;
  }
  get strides(): readonly number[] {
    return this.#strides;
  }
  get offset(): number {
    return this.#offset;
  }
  /** The whole backing typed array (shared with every view of it). */
  get storage(): StorageArray {
    return this.#storage;
  }
  get ndim(): number {
    return this.#shape.length;
  }
  get numel(): number {
    return numel(this.#shape);
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  size(dim?: number): number | readonly number[] {
    if (dim === undefined) return this.#shape;
    if (this.ndim === 0) throw new RangeError(`size: dim ${dim} is out of range for a 0-d tensor (it has no dims)`);
    return this.#shape[normDim(dim, this.ndim, 'size')]!;
  }

  isContiguous(): boolean {
    let expected = 1;
    for (let d = this.#shape.length - 1; d >= 0; d--) {
      if (this.#shape[d] !== 1 && this.#strides[d] !== expected) return false;
      expected *= this.#shape[d]!;
    }
    return true;
  }

  /**
   * The elements in row-major order as the storage type. Zero-copy (a subarray) when the
   * tensor is contiguous, so writing into the result writes the tensor.
   */
  data<D extends DType = DType>(): StorageArrays[D] {
    if (this.isContiguous()) {
      return this.#storage.subarray(this.#offset, this.#offset + this.numel) as StorageArrays[D];
    }
    return contiguousCopy(this) as StorageArrays[D];
  }

  /** Values as a fresh Float32Array (converting 16-bit floats and integers). */
  toFloat32Array(): Float32Array {
    const d = this.data();
    switch (this.dtype) {
      case 'float32':
        return Float32Array.from(d as Float32Array);
      case 'float16':
        return halfToF32(d as Uint16Array, 'f16');
      case 'bfloat16':
        return halfToF32(d as Uint16Array, 'bf16');
      case 'int32':
        return Float32Array.from(d as Int32Array);
      case 'int64': {
        const src = d as BigInt64Array;
        const out = uninitF32(src.length);
        for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
        return out;
      }
    }
  }

  /** Nested arrays of numbers (bigint for int64), like torch's tolist(). */
  toArray(): unknown {
    const flat = this.dtype === 'int64' ? Array.from(this.data() as BigInt64Array) : Array.from(this.toFloat32Array());
    const build = (dim: number, start: number): unknown => {
      if (dim === this.ndim) return flat[start];
      const stride = numel(this.#shape.slice(dim + 1));
      return Array.from({ length: this.#shape[dim]! }, (_, i) => build(dim + 1, start + i * stride));
    };
    return build(0, 0);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) {
      throw new RangeError(`item(): a tensor with ${this.numel} elements (shape ${shapeStr(this.#shape)}) cannot be converted to a scalar`);
    }
    const v = this.#storage[this.#offset]!;
    if (typeof v === 'bigint') return Number(v);
    if (this.dtype === 'float16') return f16BitsToF32(v);
    if (this.dtype === 'bfloat16') return bf16BitsToF32(v);
    return v;
  }

  /** Replace this tensor's storage and geometry with another's (torch's `p.data = x`), keeping identity and autograd fields. */
  get dtype(): DType {
    return this.#dtype;
  }

  /**
   * Point this tensor at `source`'s storage and geometry (torch's `p.data = source`), keeping
   * its identity: module fields, tied references and hooks stay valid. A different dtype is
   * refused unless `changeDtype` says the caller means it (mixed precision casting parameters
   * in place); the gradient is then dropped, as it no longer matches.
   */
  setData(source: Tensor, opts: { changeDtype?: boolean } = {}): this {
    if (source.#dtype !== this.#dtype) {
      if (!opts.changeDtype) throw new TypeError(`setData: dtype ${source.#dtype} does not match ${this.#dtype} (pass { changeDtype: true } to cast in place)`);
      if (this.requiresGrad && !isFloating(source.#dtype)) throw new TypeError(`setData: a tensor that requires grad cannot take dtype ${source.#dtype}`);
      this.#dtype = source.#dtype;
      this.grad = null;
    }
    this.#storage = source.#storage;
    this.#shape = [...source.#shape];
    this.#strides = [...source.#strides];
    this.#offset = source.#offset;
    return this;
  }

  /** A tensor sharing storage with this one but a different geometry (no autograd). */
  asStrided(shape: Shape, strides: Shape, offset: number = this.#offset): Tensor {
    return new Tensor(this.#storage, shape, this.dtype, { strides, offset, device: this.device });
  }

  requiresGrad_(flag = true): this {
    if (flag && !isFloating(this.dtype)) {
      throw new TypeError(`requiresGrad_: only floating-point tensors can require gradients, this one is ${this.dtype}`);
    }
    if (!this.isLeaf && !flag) throw new Error('requiresGrad_(false) is only valid on leaf tensors; use detach()');
    this.requiresGrad = flag;
    return this;
  }

  /** Hook called with this tensor's gradient during backward; returning a tensor replaces the gradient. */
  registerHook(hook: TensorHook): { remove(): void } {
    if (!this.requiresGrad) throw new Error("registerHook: cannot register a hook on a tensor that doesn't require grad");
    (this.hooks ??= []).push(hook);
    return { remove: () => this.hooks?.splice(this.hooks.indexOf(hook) >>> 0, 1) };
  }

  /** Hook called after the gradient has been accumulated into `.grad` of this leaf. */
  registerPostAccumulateGradHook(hook: PostAccumulateGradHook): { remove(): void } {
    if (!this.isLeaf) throw new Error('registerPostAccumulateGradHook: only leaf tensors (parameters) accumulate gradients');
    (this.postAccumulateHooks ??= []).push(hook);
    return { remove: () => this.postAccumulateHooks?.splice(this.postAccumulateHooks.indexOf(hook) >>> 0, 1) };
  }

  /** Keep `.grad` for a non-leaf tensor after backward. */
  retainGrad(): this {
    if (!this.requiresGrad) throw new Error("retainGrad: can't retain the gradient of a tensor that doesn't require grad");
    if (!this.isLeaf) this.retainsGrad = true;
    return this;
  }

  /** Same storage, cut from the graph. */
  detach(): Tensor {
    return this.asStrided(this.#shape, this.#strides);
  }

  toString(): string {
    return `Tensor(shape=${shapeStr(this.#shape)}, dtype=${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

function halfToF32(src: Uint16Array, kind: 'f16' | 'bf16'): Float32Array {
  const out = uninitF32(src.length);
  if (kind === 'f16') kernels().f16ToF32(src, out);
  else kernels().bf16ToF32(src, out);
  return out;
}

/** Copy any tensor's elements into a new contiguous storage array of its dtype. */
export function contiguousCopy(t: Tensor): StorageArray {
  const n = t.numel;
  if (t.dtype === 'float32') {
    const out = uninitF32(n);
    kernels().copyStrided(Int32Array.from(t.shape), t.storage as Float32Array, t.offset, Int32Array.from(t.strides), out);
    return out;
  }
  // every element is written below: no need for zeroed memory
  const out = t.dtype === 'float16' || t.dtype === 'bfloat16' ? uninitU16(n) : allocateStorage(t.dtype, n);
  if (n === 0) return out;
  // Generic strided gather for the other storage types, a row of the last dim at a time
  // (a typed-array block copy when that dim is contiguous: half-precision views mostly are).
  const shape = t.shape;
  const strides = t.strides;
  const nd = shape.length;
  if (nd === 0) {
    (out as unknown as { [i: number]: number | bigint })[0] = (t.storage as unknown as { [i: number]: number | bigint })[t.offset]!;
    return out;
  }
  const inner = shape[nd - 1]!;
  const innerStride = strides[nd - 1]!;
  const rows = n / inner;
  const idx = new Array<number>(nd - 1).fill(0);
  const src = t.storage as unknown as { [i: number]: number | bigint; subarray(a: number, b: number): ArrayLike<number | bigint> };
  const dst = out as unknown as { [i: number]: number | bigint; set(a: ArrayLike<number | bigint>, at: number): void };
  let o = t.offset;
  for (let r = 0; r < rows; r++) {
    const at = r * inner;
    if (innerStride === 1) dst.set(src.subarray(o, o + inner), at);
    else for (let j = 0; j < inner; j++) dst[at + j] = src[o + j * innerStride]!;
    for (let d = nd - 2; d >= 0; d--) {
      o += strides[d]!;
      if (++idx[d]! < shape[d]!) break;
      o -= idx[d]! * strides[d]!;
      idx[d] = 0;
    }
  }
  return out;
}
