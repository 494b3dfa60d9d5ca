// Shape ops: views that share storage (reshape of contiguous data, transpose, permute,
// narrow, expand, squeeze) and the copies that cannot (contiguous, cat, clone, casts).
import { installGradCast, needsGrad, record } from '../autograd.js';
import { allocateStorage, type DType, type StorageArray } from '../dtype.js';

import { broadcastStrides, contiguousStrides, inferShape, normDim, numel, sameShape, shapeStr, type Shape } from '../shape.js';
import { Tensor, contiguousCopy } from '../tensor.js';
import { sumToShape } from './reduce.js';
import { bits16, f32, wrap } from './util.js';

/** A contiguous tensor with the same values (itself when already contiguous). */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  const out = new Tensor(copyOf(x), x.shape, x.dtype);
  return needsGrad(x) ? record(out, 'ContiguousBackward', [x], (g) => [g]) : out;
}

/** An independent copy. */
export function clone(x: Tensor): Tensor {
  const out = new Tensor(x.isContiguous() ? x.data().slice() : copyOf(x), x.shape, x.dtype);
  return needsGrad(x) ? record(out, 'CloneBackward', [x], (g) => [g]) : out;
}

/** A contiguous copy of a non-contiguous x's elements (16-bit floats by the strided-copy kernel). */
function copyOf(x: Tensor): StorageArray {
  return x.dtype === 'bfloat16' || x.dtype === 'float16' ? bits16(x) : contiguousCopy(x);
}

/** Strides for viewing `x` as `shape` without copying, or null when impossible. */
function viewStrides(x: Tensor, shape: Shape): number[] | null {
  if (x.isContiguous()) return contiguousStrides(shape);
  // Merge runs of old dims that are contiguous with each other, then split them.
  const oldShape = x.shape.filter((d) => d !== 1);
  const oldStrides = x.strides.filter((_, i) => x.shape[i] !== 1);
  const newStrides = new Array<number>(shape.length).fill(0);
  let oi = 0;
  let ni = 0;
  while (ni < shape.length && shape[ni] === 1) newStrides[ni++] = 1;
  while (oi < oldShape.length) {
    // take a chunk of old dims that is contiguous
    let chunk = oldShape[oi]!;
    let chunkEnd = oi;
    while (chunkEnd + 1 < oldShape.length && oldStrides[chunkEnd] === oldStrides[chunkEnd + 1]! * oldShape[chunkEnd + 1]!) {
      chunkEnd++;
      chunk *= oldShape[chunkEnd]!;
    }
    const innerStride = oldStrides[chunkEnd]!;
    // consume new dims whose product equals chunk
    let prod = 1;
    const start = ni;
    while (ni < shape.length && prod < chunk) prod *= shape[ni++]!;
    while (ni < shape.length && shape[ni] === 1) ni++;
    if (prod !== chunk) return null;
    let s = innerStride;
    for (let k = ni - 1; k >= start; k--) {
      newStrides[k] = s;
      s *= shape[k]!;
    }
    oi = chunkEnd + 1;
  }
  while (ni < shape.length) newStrides[ni++] = 1;
  return newStrides;
}

/** View with a new shape (one -1 allowed); copies only when the layout makes a view impossible (torch.reshape). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const target = inferShape(shape, x.numel, 'reshape');
  // Same shape still gives a new view (as torch does), so hooks on it stay its own.
  const strides = sameShape(target, x.shape) ? [...x.strides] : viewStrides(x, target);
  const base = strides ? x : contiguous(x);
  const out = base.asStrided(target, strides ?? contiguousStrides(target));
  if (!needsGrad(x)) return out;
  return record(out, 'ReshapeBackward', [x], (g) => [reshape(g, x.shape)]);
}

/** Like reshape but refuses to copy (torch.view). */
export function view(x: Tensor, shape: Shape): Tensor {
  const target = inferShape(shape, x.numel, 'view');
  const strides = viewStrides(x, target);
  if (!strides) {
    throw new Error(
      `view: shape ${shapeStr(target)} is not compatible with the input's size ${shapeStr(x.shape)} and strides [${x.strides.join(', ')}]; use reshape() (which copies) or call contiguous() first`,
    );
  }
  return reshape(x, target);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.ndim) {
    throw new RangeError(`permute: got ${dims.length} dims [${dims.join(', ')}] for a tensor with ${x.ndim} dims`);
  }
  const nd = dims.map((d) => normDim(d, x.ndim, 'permute'));
  if (new Set(nd).size !== nd.length) throw new RangeError(`permute: dims [${dims.join(', ')}] repeat a dimension`);
  const out = x.asStrided(
    nd.map((d) => x.shape[d]!),
    nd.map((d) => x.strides[d]!),
  );
  if (!needsGrad(x)) return out;
  const inverse = new Array<number>(nd.length);
  nd.forEach((d, i) => (inverse[d] = i));
  return record(out, 'PermuteBackward', [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normDim(dim0, x.ndim, 'transpose');
  const b = normDim(dim1, x.ndim, 'transpose');
  const dims = Array.from({ length: x.ndim }, (_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/** A slice [start, start+length) along dim, sharing storage. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normDim(dim, x.ndim, 'narrow');
  const size = x.shape[d]!;
  if (start < 0) start += size;
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > size) {
    throw new RangeError(`narrow: start ${start} + length ${length} exceeds dimension ${d} of size ${size}`);
  }
  const shape = [...x.shape];
  shape[d] = length;
  const out = x.asStrided(shape, x.strides, x.offset + start * x.strides[d]!);
  if (!needsGrad(x)) return out;
  return record(out, 'NarrowBackward', [x], (g) => {
    if (x.dtype === 'bfloat16' && g.dtype === 'bfloat16') {
      // Zeros are 0x0000 in bf16 too: the gradient's bits go in as they are.
      const bits = new Uint16Array(x.numel);
      writeBlock(bits, x.shape, d, start, bits16(g));
      return [new Tensor(bits, x.shape, 'bfloat16')];
    }
    const full = new Float32Array(x.numel);
    writeBlock(full, x.shape, d, start, f32(g));
    return [wrap(full, x.shape, x.dtype)];
  });
}

/** Copy contiguous `block` into rows [start, start+len) of dim `d` of a contiguous buffer of `shape`. */
function writeBlock<A extends Float32Array | Uint16Array>(dst: A, shape: Shape, d: number, start: number, block: A): void {
  const outer = numel(shape.slice(0, d));
  const inner = numel(shape.slice(d + 1));
  const rowLen = shape[d]! * inner;
  const blockLen = block.length / Math.max(outer, 1);
  for (let o = 0; o < outer; o++) dst.set(block.subarray(o * blockLen, (o + 1) * blockLen), o * rowLen + start * inner);
}

/** Split into chunks of `size` (or explicit sizes) along dim. */
export function split(x: Tensor, sizeOrSizes: number | readonly number[], dim = 0): Tensor[] {
  const d = normDim(dim, x.ndim, 'split');
  const total = x.shape[d]!;
  let sizes: number[];
  if (typeof sizeOrSizes === 'number') {
    if (!Number.isInteger(sizeOrSizes) || sizeOrSizes <= 0) throw new RangeError(`split: split size must be a positive integer, got ${sizeOrSizes}`);
    sizes = [];
    for (let s = 0; s < total; s += sizeOrSizes) sizes.push(Math.min(sizeOrSizes, total - s));
  } else {
    sizes = [...sizeOrSizes];
    const sum = sizes.reduce((a, b) => a + b, 0);
    if (sum !== total) throw new RangeError(`split: sizes [${sizes.join(', ')}] sum to ${sum} but dimension ${d} has size ${total}`);
  }
  let start = 0;
  return sizes.map((len) => {
    const t = narrow(x, d, start, len);
    start += len;
    return t;
  });
}

export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  const d = normDim(dim, x.ndim, 'chunk');
  return split(x, Math.ceil(x.shape[d]! / chunks), d);
}

/** Concatenate along dim; all other dims must match. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new RangeError('cat: expected a non-empty list of tensors');
  const first = tensors[0]!;
  const d = normDim(dim, first.ndim, 'cat');
  tensors.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((s, k) => k !== d && s !== first.shape[k])) {
      throw new RangeError(`cat: tensor ${i} has shape ${shapeStr(t.shape)}, which does not match ${shapeStr(first.shape)} outside dim ${d}`);
    }
    if (t.dtype !== first.dtype) throw new TypeError(`cat: tensor ${i} has dtype ${t.dtype}, expected ${first.dtype}`);
  });
  const shape = [...first.shape];
  shape[d] = tensors.reduce((s, t) => s + t.shape[d]!, 0);
  const outer = numel(shape.slice(0, d));
  const inner = numel(shape.slice(d + 1));
  const rowLen = shape[d]! * inner;
  const out = allocateStorage(first.dtype, numel(shape));
  let start = 0;
  const starts: number[] = [];
  for (const t of tensors) {
    starts.push(start);
    const src = t.data();
    const len = t.shape[d]! * inner;
    for (let o = 0; o < outer; o++) {
      (out as Float32Array).set((src as Float32Array).subarray(o * len, (o + 1) * len), o * rowLen + start * inner);
    }
    start += t.shape[d]!;
  }
  const result = new Tensor(out, shape, first.dtype);
  if (!needsGrad(...tensors)) return result;
  return record(result, 'CatBackward', tensors, (g) => tensors.map((t, i) => (t.requiresGrad ? narrow(g, d, starts[i]!, t.shape[d]!) : null)));
}

export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new RangeError('stack: expected a non-empty list of tensors');
  const d = normDim(dim, tensors[0]!.ndim + 1, 'stack');
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim(dim, x.ndim + 1, 'unsqueeze');
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return reshape(x, shape);
}

export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return reshape(x, x.shape.filter((s) => s !== 1));
  const d = normDim(dim, x.ndim, 'squeeze');
  if (x.shape[d] !== 1) return x;
  return reshape(x, x.shape.filter((_, i) => i !== d));
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normDim(startDim, x.ndim, 'flatten');
  const e = normDim(endDim, x.ndim, 'flatten');
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

/** Broadcast view to `shape` (-1 keeps a dim). */
export function expand(x: Tensor, shape: Shape): Tensor {
  const off = shape.length - x.ndim;
  if (off < 0) throw new RangeError(`expand: target ${shapeStr(shape)} has fewer dims than the input ${shapeStr(x.shape)}`);
  const target = shape.map((s, i) => {
    if (s === -1 && i < off) throw new RangeError(`expand: -1 is not allowed for the new leading dim ${i} in ${shapeStr(shape)}`);
    return s === -1 ? x.shape[i - off]! : s;
  });
  for (let i = 0; i < x.ndim; i++) {
    const s = x.shape[i]!;
    if (s !== 1 && s !== target[i + off]) {
      throw new RangeError(`expand: the input's size ${s} at dim ${i} must match ${target[i + off]} (or be 1) in ${shapeStr(shape)}`);
    }
  }
  const out = x.asStrided(target, broadcastStrides(x.shape, x.strides, target));
  if (!needsGrad(x)) return out;
  return record(out, 'ExpandBackward', [x], (g) => [sumToShape(g, x.shape)]);
}

/** Cast to another dtype (differentiable between float types). */
export function to(x: Tensor, dtype: DType): Tensor {
  if (dtype === x.dtype) return x;
  let out: Tensor;
  if (x.dtype === 'int64' && dtype === 'int32') {
    out = new Tensor(Int32Array.from(x.data<'int64'>(), (v) => Number(v)), x.shape, dtype);
  } else if (x.dtype === 'int32' && dtype === 'int64') {
    out = new Tensor(BigInt64Array.from(x.data<'int32'>(), (v) => BigInt(v)), x.shape, dtype);
  } else {
    out = wrap(f32(x), x.shape, dtype);
  }
  if (!needsGrad(x) || dtype === 'int32' || dtype === 'int64') return out;
  return record(out, 'ToBackward', [x], (g) => [to(g, x.dtype)]);
}

installGradCast(to);
