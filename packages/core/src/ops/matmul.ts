// matmul with torch semantics (1-D promotion, broadcast batch dims) on batched sgemm, or on
// sbgemm when both operands are bfloat16 (their 16-bit storage is read as it is, the sums are
// float32 and the result is rounded to bfloat16 once). Operands are passed to the GEMM in place
// whenever their layout allows (transposed views included), so `x @ w.T` never copies w.
import { needsGrad, record } from '../autograd.js';
import { kernels } from '../kernels/index.js';
import { broadcastShapes, numel, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sumToShape } from './reduce.js';
import { reshape, transpose, unsqueeze, squeeze, contiguous } from './view.js';
import { assertFloating, bits16, f32, wrap } from './util.js';
import { uninitF32, uninitU16 } from '../alloc.js';
import type { DType } from '../dtype.js';

/** The element type a GEMM reads its operands as: float32 (sgemm) or bfloat16 bits (sbgemm). */
type GemmDType = 'float32' | 'bfloat16';

interface GemmOperand {
  /** float32 values, or bfloat16 bits for sbgemm. */
  data: Float32Array | Uint16Array;
  offset: number;
  trans: boolean;
  ld: number;
  batchStride: number;
}

/** sbgemm when both operands are bfloat16; anything else is widened to float32 for sgemm. */
function gemmDType(a: Tensor, b: Tensor): GemmDType {
  return a.dtype === 'bfloat16' && b.dtype === 'bfloat16' ? 'bfloat16' : 'float32';
}

/** Describe the last two dims of `t` (already broadcast to the batch) for a GEMM on `dtype`, or null. */
function layout(t: Tensor, dtype: GemmDType): GemmOperand | null {
  if (t.dtype !== dtype) return null;
  const nd = t.ndim;
  const rows = t.shape[nd - 2]!;
  const cols = t.shape[nd - 1]!;
  const rs = t.strides[nd - 2]!;
  const cs = t.strides[nd - 1]!;
  let trans: boolean;
  let ld: number;
  if ((cs === 1 || cols === 1) && rs >= Math.max(cols, 1)) {
    trans = false;
    ld = Math.max(rs, cols, 1);
  } else if ((rs === 1 || rows === 1) && cs >= Math.max(rows, 1)) {
    trans = true;
    ld = Math.max(cs, rows, 1);
  } else return null;
  // batch dims must collapse to one stride (or all broadcast)
  let batchStride = 0;
  let expected = -1;
  for (let d = nd - 3; d >= 0; d--) {
    const size = t.shape[d]!;
    if (size === 1) continue;
    const s = t.strides[d]!;
    if (expected === -1) {
      batchStride = s;
      expected = s * size;
    } else if (s === expected || (s === 0 && batchStride === 0)) {
      expected = s * size;
    } else return null;
  }
  return { data: t.storage as Float32Array | Uint16Array, offset: t.offset, trans, ld, batchStride };
}

function operandOf(t: Tensor, dtype: GemmDType): GemmOperand {
  const l = layout(t, dtype);
  if (l) return l;
  // A bf16 operand whose layout the GEMM cannot take is gathered in bf16.
  const c = dtype === 'bfloat16' ? new Tensor(bits16(t), t.shape, 'bfloat16') : new Tensor(f32(t), t.shape, 'float32');
  return layout(c, dtype)!;
}

// A GEMM writes float32; a 16-bit result is rounded from it at once (wrap). Those float32
// sums go to one grow-only buffer instead of a fresh array per product: at bf16 training sizes
// the fresh arrays' page faults and collection cost more than the rounding pass itself.
let scratch: Float32Array = new Float32Array(0);

/** Where a GEMM producing `n` elements of `dtype` writes its float32 result. */
function gemmOut(n: number, dtype: DType): Float32Array {
  if (dtype === 'float32') return uninitF32(n);
  if (scratch.length < n) scratch = uninitF32(n);
  return scratch.subarray(0, n);
}

/**
 * out_i = op(A_i) op(B_i) + beta out_i over the batch (Kernels.sgemm conventions, ldc = n):
 * sbgemm when both operands carry bf16 bits (operandOf gives both the same type), else sgemm.
 */
function gemm(A: GemmOperand, B: GemmOperand, m: number, n: number, k: number, beta: number, out: Float32Array,
  strideC: number, batch: number): void {
  const a = dataOf(A);
  const b = dataOf(B);
  if (a instanceof Uint16Array && b instanceof Uint16Array) {
    kernels().sbgemm(A.trans, B.trans, m, n, k, 1, a, A.ld, A.batchStride, b, B.ld, B.batchStride, beta, out, n, strideC, batch);
  } else {
    kernels().sgemm(A.trans, B.trans, m, n, k, 1, a as Float32Array, A.ld, A.batchStride, b as Float32Array, B.ld,
      B.batchStride, beta, out, n, strideC, batch);
  }
}

function dataOf(x: GemmOperand): Float32Array | Uint16Array {
  return x.offset ? x.data.subarray(x.offset) : x.data;
}

/** bf16 C[batch, m, n] = A @ B for bf16 operands, rounded by the GEMM itself (no float32 C). */
function bmmBf16(A: GemmOperand, B: GemmOperand, m: number, n: number, k: number, batch: number, shape: number[]): Tensor {
  const bits = uninitU16(batch * m * n);
  if (m > 0 && n > 0) {
    if (k === 0) bits.fill(0);
    else {
      kernels().sbgemmToBf16(A.trans, B.trans, m, n, k, 1, dataOf(A) as Uint16Array, A.ld, A.batchStride, dataOf(B) as Uint16Array,
        B.ld, B.batchStride, bits, n, m * n, batch);
    }
  }
  return new Tensor(bits, shape, 'bfloat16');
}

/** C[batch, m, n] = A[batch, m, k] @ B[batch, k, n] for same-rank, batch-broadcast inputs. */
function bmm(a: Tensor, b: Tensor, batchShape: readonly number[]): Tensor {
  const m = a.shape[a.ndim - 2]!;
  const k = a.shape[a.ndim - 1]!;
  const n = b.shape[b.ndim - 1]!;
  const batch = numel(batchShape);
  const outDType = a.dtype === b.dtype ? a.dtype : 'float32';
  const dtype = gemmDType(a, b);
  const A = operandOf(a, dtype);
  const B = operandOf(b, dtype);
  if (dtype === 'bfloat16') return bmmBf16(A, B, m, n, k, batch, [...batchShape, m, n]);
  const out = gemmOut(batch * m * n, outDType);
  if (m > 0 && n > 0) {
    if (k === 0) out.fill(0);
    else gemm(A, B, m, n, k, 0, out, m * n, batch);
  }
  return wrap(out, [...batchShape, m, n], outDType);
}

/** Forward without autograd on inputs of rank >= 2. */
function matmulRaw(a: Tensor, b: Tensor): Tensor {
  // Fold a's batch into M when b is a plain matrix: one large GEMM instead of many small ones.
  if (b.ndim === 2 && a.ndim > 2) {
    const lead = a.shape.slice(0, -1);
    const a2 = reshapeNoGrad(a, [numel(lead), a.shape[a.ndim - 1]!]);
    const out = bmm(a2, b, []);
    return out.asStrided([...lead, b.shape[1]!], [...contiguousStridesOf([...lead, b.shape[1]!])]);
  }
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'matmul');
  const ae = a.asStrided([...batch, ...a.shape.slice(-2)], broadcastStridesOf(a, batch));
  const be = b.asStrided([...batch, ...b.shape.slice(-2)], broadcastStridesOf(b, batch));
  return bmm(ae, be, batch);
}

function contiguousStridesOf(shape: readonly number[]): number[] {
  return new Tensor(new Float32Array(0), shape, 'float32').strides as number[];
}

function broadcastStridesOf(t: Tensor, batch: readonly number[]): number[] {
  const nb = t.ndim - 2;
  const off = batch.length - nb;
  const strides = new Array<number>(batch.length + 2).fill(0);
  for (let i = 0; i < nb; i++) strides[i + off] = t.shape[i] === 1 && batch[i + off] !== 1 ? 0 : t.strides[i]!;
  strides[batch.length] = t.strides[t.ndim - 2]!;
  strides[batch.length + 1] = t.strides[t.ndim - 1]!;
  return strides;
}

function reshapeNoGrad(t: Tensor, shape: number[]): Tensor {
  const r = reshape(t.detach(), shape);
  return r;
}

/** torch.matmul. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  assertFloating(a, 'matmul', 'input');
  assertFloating(b, 'matmul', 'other');
  if (a.ndim === 0 || b.ndim === 0) {
    throw new RangeError(`matmul: both arguments need at least 1 dimension, got shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  }
  if (a.ndim === 1 || b.ndim === 1) {
    // Promote vectors to matrices and drop the added dims afterwards (torch semantics).
    const a2 = a.ndim === 1 ? unsqueeze(a, 0) : a;
    const b2 = b.ndim === 1 ? unsqueeze(b, -1) : b;
    let out = matmul(a2, b2);
    if (b.ndim === 1) out = squeeze(out, -1);
    if (a.ndim === 1) out = squeeze(out, a2.ndim === 2 && b.ndim === 1 ? 0 : -2);
    return out;
  }
  const k = a.shape[a.ndim - 1]!;
  if (b.shape[b.ndim - 2] !== k) {
    throw new RangeError(
      `matmul: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} cannot be multiplied (${a.shape[a.ndim - 2]}x${k} and ${b.shape[b.ndim - 2]}x${b.shape[b.ndim - 1]})`,
    );
  }
  const out = matmulRaw(a, b);
  if (!needsGrad(a, b)) return out;
  return record(out, 'MatmulBackward', [a, b], (g) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (a.requiresGrad) ga = sumToShape(matmulRaw(g, transpose(b.detach(), -1, -2)), a.shape);
    if (b.requiresGrad) {
      if (b.ndim === 2) {
        // dB = A^T G with the batch folded into the reduction dimension.
        const a2 = reshapeNoGrad(contiguous(a.detach()), [-1, k]);
        const g2 = reshapeNoGrad(contiguous(g), [-1, g.shape[g.ndim - 1]!]);
        // Produce dB in B's own memory layout: for a transposed view (e.g. a tied LM head,
        // x @ wte^T) the gradient then accumulates into the leaf contiguously.
        const bTransposed = b.strides[0] === 1 && b.strides[1] !== 1;
        gb = bTransposed ? transpose(matmulRaw(transpose(g2, 0, 1), a2), 0, 1) : matmulRaw(transpose(a2, 0, 1), g2);
      } else gb = sumToShape(matmulRaw(transpose(a.detach(), -1, -2), g), b.shape);
    }
    return [ga, gb];
  });
}

/**
 * bias + mat1 @ mat2 for 2-D mat1 [n, k], mat2 [k, m] and bias [m] or [n, m] (torch.addmm with
 * beta = alpha = 1). The GEMM accumulates onto the broadcast bias, saving a pass and a buffer.
 */
export function addmm(bias: Tensor, mat1: Tensor, mat2: Tensor): Tensor {
  assertFloating(mat1, 'addmm', 'mat1');
  assertFloating(mat2, 'addmm', 'mat2');
  assertFloating(bias, 'addmm', 'input');
  if (mat1.ndim !== 2 || mat2.ndim !== 2 || mat1.shape[1] !== mat2.shape[0]) {
    throw new RangeError(`addmm: mat1 ${shapeStr(mat1.shape)} and mat2 ${shapeStr(mat2.shape)} must be 2-D and compatible for matrix multiplication`);
  }
  const n = mat1.shape[0]!;
  const k = mat1.shape[1]!;
  const m = mat2.shape[1]!;
  const biasRow = bias.ndim === 1 && bias.shape[0] === m;
  if (!biasRow && !(bias.ndim === 2 && bias.shape[0] === n && bias.shape[1] === m)) {
    throw new RangeError(`addmm: input (bias) has shape ${shapeStr(bias.shape)}; expected [${m}] or [${n}, ${m}]`);
  }
  const out = gemmOut(n * m, mat1.dtype);
  const bd = f32(bias);
  if (biasRow) for (let r = 0; r < n; r++) out.set(bd, r * m);
  else out.set(bd);
  const dtype = gemmDType(mat1, mat2);
  const A = operandOf(mat1, dtype);
  const B = operandOf(mat2, dtype);
  if (n > 0 && m > 0 && k > 0) gemm(A, B, n, m, k, 1, out, 0, 1);
  const result = wrap(out, [n, m], mat1.dtype);
  if (!needsGrad(bias, mat1, mat2)) return result;
  return record(result, 'AddmmBackward', [bias, mat1, mat2], (g) => [
    bias.requiresGrad ? sumToShape(g, bias.shape) : null,
    mat1.requiresGrad ? matmulRaw(g, transpose(mat2.detach(), 0, 1)) : null,
    mat2.requiresGrad ? matmulRaw(transpose(mat1.detach(), 0, 1), g) : null,
  ]);
}

