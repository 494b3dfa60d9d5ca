// Reductions over dims (sum, mean, max) and the broadcast-undo used by gradients.
import { needsGrad, record } from '../autograd.js';
import { kernels } from '../kernels/index.js';
import { broadcastStrides, normDim, numel, sameShape, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { bits16, f32, wrap } from './util.js';
import { uninitF32 } from '../alloc.js';

export type Dims = number | readonly number[] | null | undefined;

function normDims(dims: Dims, ndim: number, what: string): number[] {
  // torch: dim=None and dim=[] both reduce every dim
  if (dims === null || dims === undefined || (typeof dims !== 'number' && dims.length === 0)) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof dims === 'number' ? [dims] : [...dims];
  const out = [...new Set(list.map((d) => normDim(d, ndim, what)))];
  if (out.length !== list.length) throw new RangeError(`${what}: dim ${JSON.stringify(dims)} repeats a dimension`);
  return out.sort((a, b) => a - b);
}

/**
 * Sum or mean over sorted dims, keeping them as size 1, of contiguous float32 data or of
 * bfloat16 bits (read as they are by the first reduction; the float32 result is not rounded).
 */
function reduceKeep(data: Float32Array | Uint16Array, shape: Shape, dims: readonly number[], mode: 0 | 1): [Float32Array, number[]] {
  let cur = data;
  const curShape = [...shape];
  for (let k = dims.length - 1; k >= 0; k--) {
    const d = dims[k]!;
    const outer = numel(curShape.slice(0, d));
    const dim = curShape[d]!;
    const inner = numel(curShape.slice(d + 1));
    const out = uninitF32(outer * inner);
    if (cur instanceof Uint16Array) kernels().reduceBf16(mode, cur, outer, dim, inner, out, null);
    else kernels().reduce(mode, cur, outer, dim, inner, out, null);
    cur = out;
    curShape[d] = 1;
  }
  if (cur instanceof Uint16Array) {
    const widened = uninitF32(cur.length);
    kernels().bf16ToF32(cur, widened);
    cur = widened;
  }
  return [cur, curShape];
}

/** What reduceKeep reads: the bits of a bfloat16 tensor, float32 values of anything else. */
function reduceInput(x: Tensor): Float32Array | Uint16Array {
  return x.dtype === 'bfloat16' ? bits16(x) : f32(x);
}

function squeezeDims(shape: Shape, dims: readonly number[]): number[] {
  return shape.filter((_, i) => !dims.includes(i));
}

/** Broadcast `g` (shape with reduced dims, kept or not) back to `shape`, materialised. */
export function expandTo(g: Tensor, keptShape: Shape, shape: Shape): Tensor {
  const src = g.isContiguous() && g.dtype === 'float32' ? g : new Tensor(f32(g), g.shape, 'float32');
  const base = src.asStrided(keptShape, new Tensor(new Float32Array(0), keptShape, 'float32').strides, src.offset);
  const view = base.asStrided(shape, broadcastStrides(keptShape, base.strides, shape), src.offset);
  const out = uninitF32(numel(shape));
  kernels().copyStrided(Int32Array.from(shape), view.storage as Float32Array, view.offset, Int32Array.from(view.strides), out);
  return wrap(out, shape, g.dtype);
}

export function sum(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  return sumOrMean(x, dims, keepdim, 0);
}

export function mean(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  return sumOrMean(x, dims, keepdim, 1);
}

function sumOrMean(x: Tensor, dims: Dims, keepdim: boolean, mode: 0 | 1): Tensor {
  const what = mode === 0 ? 'sum' : 'mean';
  const rd = normDims(dims, x.ndim, what);
  const [data, kept] = reduceKeep(reduceInput(x), x.shape, rd, mode);
  const outShape = keepdim ? kept : squeezeDims(kept, rd);
  const outDtype = x.dtype === 'int32' || x.dtype === 'int64' ? (mode === 0 ? 'int64' : 'float32') : x.dtype;
  const out = wrap(data, outShape, outDtype);
  if (!needsGrad(x)) return out;
  const count = numel(rd.map((d) => x.shape[d]!));
  return record(out, mode === 0 ? 'SumBackward' : 'MeanBackward', [x], (g) => {
    const e = expandTo(g, kept, x.shape);
    if (mode === 0) return [e];
    // scale float32 values (a 16-bit gradient's storage holds bit patterns)
    const d = e.dtype === 'float32' ? e.data<'float32'>() : f32(e);
    kernels().scale(d, 1 / count);
    return [e.dtype === 'float32' ? e : wrap(d, x.shape, e.dtype)];
  });
}

/** Max over one dim: values and (int64) indices, first index on ties. */
export function max(x: Tensor, dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
  const d = normDim(dim, x.ndim, 'max');
  const outer = numel(x.shape.slice(0, d));
  const size = x.shape[d] ?? 1;
  if (size === 0) throw new RangeError('max: cannot reduce over a zero-size dimension');
  const inner = numel(x.shape.slice(d + 1));
  const vals = new Float32Array(outer * inner);
  const idx = new Int32Array(outer * inner);
  kernels().reduce(2, f32(x), outer, size, inner, vals, idx);
  const kept = [...x.shape];
  if (x.ndim > 0) kept[d] = 1;
  const outShape = keepdim ? kept : squeezeDims(kept, [d]);
  const values = wrap(vals, outShape, x.dtype);
  const indices = new Tensor(BigInt64Array.from(idx, (v) => BigInt(v)), outShape, 'int64');
  if (!needsGrad(x)) return { values, indices };
  record(values, 'MaxBackward', [x], (g) => {
    const gd = f32(g);
    const out = new Float32Array(x.numel);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) out[(o * size + idx[o * inner + j]!) * inner + j] = gd[o * inner + j]!;
    }
    return [wrap(out, x.shape, x.dtype)];
  });
  return { values, indices };
}

/** Max over all elements (0-d); gradient split evenly among ties, as torch's amax. */
export function amax(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  const rd = normDims(dims, x.ndim, 'amax');
  let cur = x.detach();
  for (let k = rd.length - 1; k >= 0; k--) cur = max(cur, rd[k]!, true).values;
  const kept = [...cur.shape];
  const out = keepdim ? cur : cur.asStrided(squeezeDims(kept, rd), squeezeDims(cur.strides, rd));
  if (!needsGrad(x)) return out;
  return record(out.detach(), 'AmaxBackward', [x], (g) => {
    const m = f32(expandTo(out, kept, x.shape));
    const xd = f32(x);
    const mask = new Float32Array(xd.length);
    for (let i = 0; i < xd.length; i++) mask[i] = xd[i] === m[i] ? 1 : 0;
    const counts = f32(expandTo(wrap(reduceKeep(mask, x.shape, rd, 0)[0], kept), kept, x.shape));
    const ge = f32(expandTo(g, kept, x.shape));
    const res = new Float32Array(xd.length);
    for (let i = 0; i < xd.length; i++) res[i] = (mask[i]! * ge[i]!) / counts[i]!;
    return [wrap(res, x.shape, x.dtype)];
  });
}

/** Sum `g` over the dims that broadcasting expanded, so it has `shape` (gradient of broadcast). */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  }
  const [data] = reduceKeep(reduceInput(g), g.shape, dims, 0);
  return wrap(data, shape, g.dtype);
}
