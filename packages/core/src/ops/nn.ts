// Neural-network ops with fused kernels: softmax family, layer norm, GELU, embedding,
// cross entropy, causal attention, dropout, linear, where / masked fill.
import { needsGrad, record } from '../autograd.js';
import { promoteTypes, type DType } from '../dtype.js';
import { kernels } from '../kernels/index.js';
import { defaultGenerator, type Generator } from '../random.js';
import { broadcastShapes, normDim, numel, shapeStr, sameShape, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { add, mul } from './elementwise.js';
import { addmm, matmul } from './matmul.js';
import { sumToShape } from './reduce.js';
import { contiguous, expand, reshape, to, transpose } from './view.js';
import { assertFloating, assertNdim, assertTensor, f32, ids32, wrap } from './util.js';
import { uninitF32 } from '../alloc.js';
import { allBf16, causalAttentionBf16, crossEntropyBf16, embeddingBf16, geluBf16, layerNormBf16, softmaxRowsBf16 } from './nn-bf16.js';

/** Apply a last-dim row kernel to `x` along `dim` (moving dim last when needed). */
function alongDim(x: Tensor, dim: number, what: string, fn: (xl: Tensor) => Tensor): Tensor {
  const d = normDim(dim, x.ndim, what);
  if (x.ndim === 0 || d === x.ndim - 1) return fn(x);
  return transpose(fn(contiguous(transpose(x, d, -1))), d, -1);
}

function rowsCols(x: Tensor): [number, number] {
  const cols = x.ndim === 0 ? 1 : x.shape[x.ndim - 1]!;
  return [cols === 0 ? 0 : x.numel / cols, cols];
}

export function softmax(x: Tensor, dim = -1): Tensor {
  assertFloating(x, 'softmax');
  return alongDim(x, dim, 'softmax', (xl) => {
    const [rows, cols] = rowsCols(xl);
    if (xl.dtype === 'bfloat16') return softmaxRowsBf16(xl, rows, cols, false);
    const y = uninitF32(xl.numel);
    kernels().softmax(f32(xl), y, rows, cols);
    const out = wrap(y, xl.shape, xl.dtype);
    if (!needsGrad(xl)) return out;
    return record(out, 'SoftmaxBackward', [xl], (g) => {
      const dx = uninitF32(y.length);
      kernels().softmaxBackward(y, f32(g), dx, rows, cols);
      return [wrap(dx, xl.shape, xl.dtype)];
    });
  });
}

export function logSoftmax(x: Tensor, dim = -1): Tensor {
  assertFloating(x, 'logSoftmax');
  return alongDim(x, dim, 'logSoftmax', (xl) => {
    const [rows, cols] = rowsCols(xl);
    if (xl.dtype === 'bfloat16') return softmaxRowsBf16(xl, rows, cols, true);
    const y = uninitF32(xl.numel);
    kernels().logSoftmax(f32(xl), y, rows, cols);
    const out = wrap(y, xl.shape, xl.dtype);
    if (!needsGrad(xl)) return out;
    return record(out, 'LogSoftmaxBackward', [xl], (g) => {
      const dx = uninitF32(y.length);
      kernels().logSoftmaxBackward(y, f32(g), dx, rows, cols);
      return [wrap(dx, xl.shape, xl.dtype)];
    });
  });
}

/** torch.nn.functional.layer_norm over the trailing `normalizedShape` dims. */
export function layerNorm(x: Tensor, normalizedShape: Shape, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  assertFloating(x, 'layerNorm');
  const k = normalizedShape.length;
  if (k === 0 || k > x.ndim || !sameShape(x.shape.slice(x.ndim - k), normalizedShape)) {
    throw new RangeError(`layerNorm: normalizedShape ${shapeStr(normalizedShape)} must match the trailing dims of the input ${shapeStr(x.shape)}`);
  }
  for (const [p, name] of [[weight, 'weight'], [bias, 'bias']] as const) {
    if (p && !sameShape(p.shape, normalizedShape)) {
      throw new RangeError(`layerNorm: ${name} has shape ${shapeStr(p.shape)}, expected ${shapeStr(normalizedShape)}`);
    }
  }
  const cols = numel(normalizedShape);
  const rows = cols === 0 ? 0 : x.numel / cols;
  if (allBf16(x, weight, bias)) return layerNormBf16(x, normalizedShape, weight ?? null, bias ?? null, rows, cols, eps);
  const xd = f32(x);
  const wd = weight ? f32(weight) : null;
  const bd = bias ? f32(bias) : null;
  const y = uninitF32(x.numel);
  const meanBuf = new Float32Array(rows);
  const rstd = new Float32Array(rows);
  kernels().layerNorm(xd, wd, bd, y, meanBuf, rstd, rows, cols, eps);
  const out = wrap(y, x.shape, x.dtype);
  if (!needsGrad(x, weight, bias)) return out;
  return record(out, 'LayerNormBackward', [x, weight ?? null, bias ?? null], (g) => {
    const dx = uninitF32(x.numel);
    const dw = weight?.requiresGrad ? new Float32Array(cols) : null;
    const db = bias?.requiresGrad ? new Float32Array(cols) : null;
    kernels().layerNormBackward(f32(g), xd, wd, meanBuf, rstd, dx, dw, db, rows, cols);
    return [
      x.requiresGrad ? wrap(dx, x.shape, x.dtype) : null,
      dw ? wrap(dw, normalizedShape, weight!.dtype) : null,
      db ? wrap(db, normalizedShape, bias!.dtype) : null,
    ];
  });
}

export type GeluApproximate = 'none' | 'tanh';

export function gelu(x: Tensor, approximate: GeluApproximate = 'none'): Tensor {
  assertFloating(x, 'gelu');
  if (approximate !== 'none' && approximate !== 'tanh') {
    throw new RangeError(`gelu: approximate must be 'none' or 'tanh', got ${JSON.stringify(approximate)}`);
  }
  const mode = approximate === 'tanh' ? 1 : 0;
  if (x.dtype === 'bfloat16') return geluBf16(x, mode);
  const xd = f32(x);
  const y = uninitF32(x.numel);
  kernels().gelu(xd, y, mode);
  const out = wrap(y, x.shape, x.dtype);
  if (!needsGrad(x)) return out;
  return record(out, 'GeluBackward', [x], (g) => {
    const dx = uninitF32(x.numel);
    kernels().geluBackward(xd, f32(g), dx, mode);
    return [wrap(dx, x.shape, x.dtype)];
  });
}

/** Rows of `weight` [V, D] picked by integer `ids` of any shape -> [...ids.shape, D]. */
export function embedding(ids: Tensor, weight: Tensor): Tensor {
  assertTensor(ids, 'embedding', 'input');
  assertNdim(weight, [2], 'embedding', 'weight');
  const idx = ids32(ids, 'embedding', 'input');
  const dim = weight.shape[1]!;
  if (weight.dtype === 'bfloat16') return embeddingBf16(idx, ids.shape, weight);
  const y = uninitF32(idx.length * dim);
  kernels().embedding(f32(weight), idx, dim, y);
  const out = wrap(y, [...ids.shape, dim], weight.dtype);
  if (!needsGrad(weight)) return out;
  return record(out, 'EmbeddingBackward', [null, weight], (g) => {
    const dw = new Float32Array(weight.numel);
    kernels().embeddingBackward(f32(g), idx, dim, dw);
    return [null, wrap(dw, weight.shape, weight.dtype)];
  });
}

export interface CrossEntropyOptions {
  ignoreIndex?: number;
  reduction?: 'mean' | 'sum';
}

/** Mean (or summed) cross entropy of logits [N, C] (or [C]) against class ids [N]. */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  assertFloating(logits, 'crossEntropy', 'input');
  assertNdim(logits, [1, 2], 'crossEntropy', 'input');
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum') {
    throw new RangeError(`crossEntropy: reduction must be 'mean' or 'sum', got ${JSON.stringify(reduction)}`);
  }
  const rows = logits.ndim === 2 ? logits.shape[0]! : 1;
  const cols = logits.shape[logits.ndim - 1]!;
  if (targets.numel !== rows || targets.ndim !== logits.ndim - 1) {
    throw new RangeError(`crossEntropy: target shape ${shapeStr(targets.shape)} does not match input shape ${shapeStr(logits.shape)} (expected [${logits.ndim === 2 ? rows : ''}])`);
  }
  const t = ids32(targets, 'crossEntropy', 'target');
  if (logits.dtype === 'bfloat16') return crossEntropyBf16(logits, t, rows, cols, ignoreIndex, reduction);
  const ld = f32(logits);
  const count = new Int32Array(1);
  const total = kernels().crossEntropy(ld, t, rows, cols, ignoreIndex, count);
  const denom = reduction === 'mean' ? count[0]! : 1;
  const out = wrap(Float32Array.of(total / denom), [], logits.dtype);
  if (!needsGrad(logits)) return out;
  return record(out, 'CrossEntropyBackward', [logits], (g) => {
    const dl = uninitF32(ld.length);
    kernels().crossEntropyBackward(ld, t, rows, cols, ignoreIndex, g.item() / denom, dl);
    return [wrap(dl, logits.shape, logits.dtype)];
  });
}

export interface AttentionOptions {
  isCausal?: boolean;
  scale?: number;
}

/**
 * softmax(q k^T * scale [+ causal mask]) v for q, k, v of shape [..., T, D]. The causal path
 * uses the fused masked softmax; probabilities are kept for the backward.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  for (const [t, n] of [[q, 'query'], [k, 'key'], [v, 'value']] as const) assertFloating(t, 'scaledDotProductAttention', n);
  if (q.ndim < 2 || !sameShape(q.shape.slice(0, -2), k.shape.slice(0, -2)) || q.shape[q.ndim - 1] !== k.shape[k.ndim - 1] ||
      !sameShape(k.shape.slice(0, -1), v.shape.slice(0, -1))) {
    throw new RangeError(`scaledDotProductAttention: incompatible shapes query ${shapeStr(q.shape)}, key ${shapeStr(k.shape)}, value ${shapeStr(v.shape)}`);
  }
  const d = q.shape[q.ndim - 1]!;
  const scale = opts.scale ?? 1 / Math.sqrt(d);
  const tq = q.shape[q.ndim - 2]!;
  const tk = k.shape[k.ndim - 2]!;
  if (!opts.isCausal) {
    return matmul(softmax(mul(matmul(q, transpose(k, -1, -2)), scale), -1), v);
  }
  if (tq !== tk) throw new RangeError(`scaledDotProductAttention: isCausal needs equal query and key lengths, got ${tq} and ${tk}`);
  const batch = numel(q.shape.slice(0, -2));
  const scores = matmul(q.detach(), transpose(k.detach(), -1, -2));
  if (scores.dtype === 'bfloat16') return causalAttentionBf16(q, k, v, scores, batch, tq, scale);
  const probs = uninitF32(scores.numel);
  kernels().causalSoftmax(f32(scores), probs, batch, tq, scale);
  const p = wrap(probs, scores.shape, scores.dtype);
  const out = matmul(p, v.detach());
  if (!needsGrad(q, k, v)) return out;
  return record(out.detach(), 'CausalAttentionBackward', [q, k, v], (g) => {
    const dp = matmul(g, transpose(v.detach(), -1, -2));
    const ds = uninitF32(probs.length);
    kernels().softmaxBackward(probs, f32(dp), ds, batch * tq, tk);
    kernels().scale(ds, scale);
    const dS = wrap(ds, scores.shape, scores.dtype);
    return [
      q.requiresGrad ? matmul(dS, k.detach()) : null,
      k.requiresGrad ? matmul(transpose(dS, -1, -2), q.detach()) : null,
      v.requiresGrad ? matmul(transpose(p, -1, -2), g) : null,
    ];
  });
}

/** Zero each element with probability p and scale the rest by 1/(1-p), in training only. */
export function dropout(x: Tensor, p = 0.5, training = true, generator: Generator = defaultGenerator): Tensor {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout: probability must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  const mask = new Float32Array(x.numel);
  const keep = 1 / (1 - p);
  for (let i = 0; i < mask.length; i++) mask[i] = generator.uniform() >= p ? keep : 0;
  if (p === 1) mask.fill(0);
  const y = mul(x, wrap(mask, x.shape));
  // A 16-bit input stays 16-bit (as in torch): the product is taken in fp32 and rounded once.
  return y.dtype === x.dtype ? y : to(y, x.dtype);
}

/** y = x @ weight^T + bias (torch's F.linear, weight [out, in]). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (!bias) return matmul(x, transpose(weight, 0, 1));
  if (x.ndim < 1) throw new RangeError('linear: input must have at least 1 dimension');
  const lead = x.shape.slice(0, -1);
  const y = addmm(bias, reshape(x, [-1, x.shape[x.ndim - 1]!]), transpose(weight, 0, 1));
  return reshape(y, [...lead, weight.shape[0]!]);
}

/** Elementwise choice: cond ? a : b, with broadcasting; cond is any tensor (non-zero = true). */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const at = typeof a === 'number' ? null : a;
  const bt = typeof b === 'number' ? null : b;
  let shape = cond.shape as readonly number[];
  if (at) shape = broadcastShapes(shape, at.shape, 'where');
  if (bt) shape = broadcastShapes(shape, bt.shape, 'where');
  const c = f32(contiguous(expand(cond.detach(), shape)));
  const av = at ? f32(contiguous(expand(at.detach(), shape))) : null;
  const bv = bt ? f32(contiguous(expand(bt.detach(), shape))) : null;
  const out = new Float32Array(c.length);
  for (let i = 0; i < out.length; i++) out[i] = c[i] !== 0 ? (av ? av[i]! : (a as number)) : bv ? bv[i]! : (b as number);
  let dtype: DType = at && bt ? promoteTypes(at.dtype, bt.dtype) : (at?.dtype ?? bt?.dtype ?? 'float32');
  const scalar = at ? (bt ? null : b) : a;
  if (typeof scalar === 'number' && !Number.isInteger(scalar) && (dtype === 'int32' || dtype === 'int64')) dtype = 'float32';
  const result = wrap(out, shape, dtype);
  if (!needsGrad(at, bt)) return result;
  return record(result, 'WhereBackward', [at, bt], (g) => {
    const gd = f32(g);
    const ga = new Float32Array(gd.length);
    const gb = new Float32Array(gd.length);
    for (let i = 0; i < gd.length; i++) {
      if (c[i] !== 0) ga[i] = gd[i]!;
      else gb[i] = gd[i]!;
    }
    return [at ? sumToShape(wrap(ga, shape), at.shape) : null, bt ? sumToShape(wrap(gb, shape), bt.shape) : null];
  });
}

/** x with `value` wherever mask is non-zero (torch.masked_fill). */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  if (!sameShape(broadcastShapes(x.shape, mask.shape, 'maskedFill'), x.shape)) {
    throw new RangeError(`maskedFill: mask of shape ${shapeStr(mask.shape)} cannot be broadcast to the input's shape ${shapeStr(x.shape)}`);
  }
  const out = where(mask, value, x);
  // torch.masked_fill keeps the input's dtype (the value is cast)
  return out.dtype === x.dtype ? out : to(out, x.dtype);
}

