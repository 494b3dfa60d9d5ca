// bfloat16 paths of the fused nn ops. The kernels read and write bf16 bits with float32 math
// inside and one rounding per output, so no float32 copy of an activation is made, and none
// is kept for the backward: what the float32 path keeps (softmax outputs, widened inputs) is
// recomputed from the bf16 input instead. Every result is bit for bit what the float32 kernels
// give on the widened inputs, rounded once — the numerics bf16 tensors have always had.
import { needsGrad, record } from '../autograd.js';
import { kernels } from '../kernels/index.js';
import type { Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { uninitF32, uninitU16 } from '../alloc.js';
import { matmul } from './matmul.js';
import { transpose } from './view.js';
import { bf16Tensor, bits16, f32, wrap } from './util.js';

/** True when every non-null tensor is bfloat16. */
export function allBf16(...ts: (Tensor | null | undefined)[]): boolean {
  for (const t of ts) if (t && t.dtype !== 'bfloat16') return false;
  return true;
}

function widen(bits: Uint16Array): Float32Array {
  const out = uninitF32(bits.length);
  kernels().bf16ToF32(bits, out);
  return out;
}

// NOTE: a backward that receives a gradient in another dtype (a float32 gradient passed to
// backward() by hand) runs the float32 kernels on it unrounded, as before the bf16 kernels:
// rounding it to bf16 first would change the result.

/** Softmax (or log-softmax) over the last dim of a bf16 [rows, cols] tensor. */
export function softmaxRowsBf16(xl: Tensor, rows: number, cols: number, log: boolean): Tensor {
  const xb = bits16(xl);
  const y = uninitU16(xb.length);
  if (log) kernels().logSoftmaxBf16(xb, y, rows, cols);
  else kernels().softmaxBf16(xb, y, rows, cols);
  const out = bf16Tensor(y, xl.shape);
  if (!needsGrad(xl)) return out;
  return record(out, log ? 'LogSoftmaxBackward' : 'SoftmaxBackward', [xl], (g) => {
    const k = kernels();
    if (g.dtype === 'bfloat16') {
      const dx = uninitU16(xb.length);
      if (log) k.logSoftmaxBackwardBf16(xb, bits16(g), dx, rows, cols);
      else k.softmaxBackwardBf16(xb, bits16(g), dx, rows, cols);
      return [bf16Tensor(dx, xl.shape)];
    }
    const yf = uninitF32(xb.length);
    const dx = uninitF32(xb.length);
    if (log) {
      k.logSoftmax(widen(xb), yf, rows, cols);
      k.logSoftmaxBackward(yf, f32(g), dx, rows, cols);
    } else {
      k.softmax(widen(xb), yf, rows, cols);
      k.softmaxBackward(yf, f32(g), dx, rows, cols);
    }
    return [wrap(dx, xl.shape, 'bfloat16')];
  });
}

/** Layer norm of bf16 x with bf16 (or absent) weight and bias; shapes already checked. */
export function layerNormBf16(x: Tensor, normalizedShape: Shape, weight: Tensor | null, bias: Tensor | null, rows: number,
  cols: number, eps: number): Tensor {
  const xb = bits16(x);
  const wb = weight ? bits16(weight) : null;
  const bb = bias ? bits16(bias) : null;
  const y = uninitU16(xb.length);
  const mean = new Float32Array(rows);
  const rstd = new Float32Array(rows);
  kernels().layerNormBf16(xb, wb, bb, y, mean, rstd, rows, cols, eps);
  const out = bf16Tensor(y, x.shape);
  if (!needsGrad(x, weight, bias)) return out;
  return record(out, 'LayerNormBackward', [x, weight, bias], (g) => {
    const dw = weight?.requiresGrad ? new Float32Array(cols) : null;
    const db = bias?.requiresGrad ? new Float32Array(cols) : null;
    let dx: Tensor;
    if (g.dtype === 'bfloat16') {
      const d = uninitU16(xb.length);
      kernels().layerNormBackwardBf16(bits16(g), xb, wb, mean, rstd, d, dw, db, rows, cols);
      dx = bf16Tensor(d, x.shape);
    } else {
      const d = uninitF32(xb.length);
      kernels().layerNormBackward(f32(g), widen(xb), wb && widen(wb), mean, rstd, d, dw, db, rows, cols);
      dx = wrap(d, x.shape, 'bfloat16');
    }
    return [
      x.requiresGrad ? dx : null,
      dw ? wrap(dw, normalizedShape, 'bfloat16') : null,
      db ? wrap(db, normalizedShape, 'bfloat16') : null,
    ];
  });
}

export function geluBf16(x: Tensor, mode: 0 | 1): Tensor {
  const xb = bits16(x);
  const y = uninitU16(xb.length);
  kernels().geluBf16(xb, y, mode);
  const out = bf16Tensor(y, x.shape);
  if (!needsGrad(x)) return out;
  return record(out, 'GeluBackward', [x], (g) => {
    if (g.dtype === 'bfloat16') {
      const dx = uninitU16(xb.length);
      kernels().geluBackwardBf16(xb, bits16(g), dx, mode);
      return [bf16Tensor(dx, x.shape)];
    }
    const dx = uninitF32(xb.length);
    kernels().geluBackward(widen(xb), f32(g), dx, mode);
    return [wrap(dx, x.shape, 'bfloat16')];
  });
}

/** Rows of a bf16 weight [V, D] picked by `idx`, shaped [...idsShape, D]. */
export function embeddingBf16(idx: Int32Array, idsShape: Shape, weight: Tensor): Tensor {
  const dim = weight.shape[1]!;
  const y = uninitU16(idx.length * dim);
  kernels().embeddingBf16(bits16(weight), idx, dim, y);
  const out = bf16Tensor(y, [...idsShape, dim]);
  if (!needsGrad(weight)) return out;
  return record(out, 'EmbeddingBackward', [null, weight], (g) => {
    if (g.dtype === 'bfloat16') {
      const dw = uninitU16(weight.numel);
      kernels().embeddingBackwardBf16(bits16(g), idx, dim, dw);
      return [null, bf16Tensor(dw, weight.shape)];
    }
    const dw = new Float32Array(weight.numel);
    kernels().embeddingBackward(f32(g), idx, dim, dw);
    return [null, wrap(dw, weight.shape, 'bfloat16')];
  });
}

/** Cross entropy of bf16 logits [rows, cols] (targets checked); the loss is a bf16 scalar. */
export function crossEntropyBf16(logits: Tensor, targets: Int32Array, rows: number, cols: number, ignoreIndex: number,
  reduction: 'mean' | 'sum'): Tensor {
  const lb = bits16(logits);
  const count = new Int32Array(1);
  const total = kernels().crossEntropyBf16(lb, targets, rows, cols, ignoreIndex, count);
  const denom = reduction === 'mean' ? count[0]! : 1;
  const out = wrap(Float32Array.of(total / denom), [], 'bfloat16');
  if (!needsGrad(logits)) return out;
  return record(out, 'CrossEntropyBackward', [logits], (g) => {
    const dl = uninitU16(lb.length);
    kernels().crossEntropyBackwardBf16(lb, targets, rows, cols, ignoreIndex, g.item() / denom, dl);
    return [bf16Tensor(dl, logits.shape)];
  });
}

/**
 * Causal attention from bf16 raw scores q k^T [batch..., T, T]: probabilities p rounded to
 * bf16, out = p v. The backward recomputes the float32 probabilities from the scores, so the
 * forward keeps only bf16 tensors.
 */
export function causalAttentionBf16(q: Tensor, k: Tensor, v: Tensor, scores: Tensor, batch: number, t: number,
  scale: number): Tensor {
  const sb = bits16(scores);
  const pb = uninitU16(sb.length);
  kernels().causalSoftmaxBf16(sb, pb, batch, t, scale);
  const p = bf16Tensor(pb, scores.shape);
  const out = matmul(p, v.detach());
  if (!needsGrad(q, k, v)) return out;
  return record(out.detach(), 'CausalAttentionBackward', [q, k, v], (g) => {
    const dp = matmul(g, transpose(v.detach(), -1, -2));
    let dS: Tensor;
    if (dp.dtype === 'bfloat16') {
      const ds = uninitU16(sb.length);
      kernels().causalSoftmaxBackwardBf16(sb, bits16(dp), ds, batch, t, scale);
      dS = bf16Tensor(ds, scores.shape);
    } else {
      const probs = uninitF32(sb.length);
      kernels().causalSoftmax(widen(sb), probs, batch, t, scale);
      const ds = uninitF32(sb.length);
      kernels().softmaxBackward(probs, f32(dp), ds, batch * t, t);
      kernels().scale(ds, scale);
      dS = wrap(ds, scores.shape, 'bfloat16');
    }
    return [
      q.requiresGrad ? matmul(dS, k.detach()) : null,
      k.requiresGrad ? matmul(transpose(dS, -1, -2), q.detach()) : null,
      v.requiresGrad ? matmul(transpose(p, -1, -2), g) : null,
    ];
  });
}
