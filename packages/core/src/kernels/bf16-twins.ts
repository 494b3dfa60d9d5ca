// The bfloat16 kernels as their definition: widen the bf16 inputs to float32 (exact), run the
// float32 kernel, round each output once. Built over the reference float32 kernels this is the
// reference implementation; built over any other float32 kernel set it is what that set
// computed for bf16 tensors before it had bf16 kernels, which is what those must reproduce.
import type { Kernels } from './types.js';

/** The Kernels members that take bfloat16 bits. */
export type Bf16Kernels = Pick<
  Kernels,
  | 'sbgemmToBf16'
  | 'copyStrided16'
  | 'binaryBf16'
  | 'unaryBf16'
  | 'binaryScalarBf16'
  | 'reduceBf16'
  | 'softmaxBf16'
  | 'softmaxBackwardBf16'
  | 'logSoftmaxBf16'
  | 'logSoftmaxBackwardBf16'
  | 'causalSoftmaxBf16'
  | 'causalSoftmaxBackwardBf16'
  | 'layerNormBf16'
  | 'layerNormBackwardBf16'
  | 'geluBf16'
  | 'geluBackwardBf16'
  | 'crossEntropyBf16'
  | 'crossEntropyBackwardBf16'
  | 'embeddingBf16'
  | 'embeddingBackwardBf16'
>;

/** Everything else: the float32 kernels (and conversions) the twins are defined by. */
export type Float32Kernels = Omit<Kernels, keyof Bf16Kernels>;

/** Strided gather of any indexable storage, row-major over `shape`. */
function gather<T extends { [i: number]: number }>(shape: Int32Array, src: T, offset: number, strides: Int32Array, out: T): void {
  const nd = shape.length;
  let total = 1;
  for (let d = 0; d < nd; d++) total *= shape[d]!;
  if (total === 0) return;
  const idx = new Int32Array(nd);
  let at = offset;
  for (let i = 0; i < total; i++) {
    out[i] = src[at]!;
    for (let d = nd - 1; d >= 0; d--) {
      at += strides[d]!;
      if (++idx[d]! < shape[d]!) break;
      at -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

/** The bf16 kernels defined over the float32 kernel set `k` (see the file comment). */
export function bf16Twins(k: Float32Kernels): Bf16Kernels {
  const widen = (x: Uint16Array): Float32Array => {
    const out = new Float32Array(x.length);
    k.bf16ToF32(x, out);
    return out;
  };
  const orNull = (x: Uint16Array | null): Float32Array | null => (x ? widen(x) : null);
  /** Runs `fn` on a float32 buffer of out's length, then rounds it into out. */
  const into = (out: Uint16Array, fn: (o: Float32Array) => void): void => {
    const o = new Float32Array(out.length);
    fn(o);
    k.f32ToBf16(o, out);
  };

  return {
    sbgemmToBf16(transA, transB, m, n, depth, alpha, a, lda, strideA, b, ldb, strideB, c, ldc, strideC, batch) {
      // One product at a time, as the kernel runs them: with strideC 0 the last one stays.
      const c32 = new Float32Array(m * n);
      const row = new Uint16Array(n);
      for (let i = 0; i < batch; i++) {
        k.sbgemm(transA, transB, m, n, depth, alpha, a.subarray(i * strideA), lda, 0, b.subarray(i * strideB), ldb, 0, 0, c32, n, 0, 1);
        for (let r = 0; r < m; r++) {
          k.f32ToBf16(c32.subarray(r * n, r * n + n), row);
          c.set(row, i * strideC + r * ldc);
        }
      }
    },
    copyStrided16(shape, src, offset, strides, out) {
      gather(shape, src, offset, strides, out);
    },
    binaryBf16(op, shape, a, aOffset, aStrides, b, bOffset, bStrides, out) {
      const wa = widen(a);
      const wb = b === a ? wa : widen(b);
      into(out, (o) => k.binary(op, shape, wa, aOffset, aStrides, wb, bOffset, bStrides, o));
    },
    unaryBf16(op, a, out) {
      const wa = widen(a);
      into(out, (o) => k.unary(op, wa, o));
    },
    binaryScalarBf16(op, a, s, out) {
      const wa = widen(a);
      into(out, (o) => k.binaryScalar(op, wa, s, o));
    },
    reduceBf16(mode, x, outer, dim, inner, out, indices) {
      k.reduce(mode, widen(x), outer, dim, inner, out, indices);
    },
    softmaxBf16(x, out, rows, cols) {
      const wx = widen(x);
      into(out, (o) => k.softmax(wx, o, rows, cols));
    },
    softmaxBackwardBf16(x, dy, dx, rows, cols) {
      const y = new Float32Array(x.length);
      k.softmax(widen(x), y, rows, cols);
      const g = widen(dy);
      into(dx, (o) => k.softmaxBackward(y, g, o, rows, cols));
    },
    logSoftmaxBf16(x, out, rows, cols) {
      const wx = widen(x);
      into(out, (o) => k.logSoftmax(wx, o, rows, cols));
    },
    logSoftmaxBackwardBf16(x, dy, dx, rows, cols) {
      const y = new Float32Array(x.length);
      k.logSoftmax(widen(x), y, rows, cols);
      const g = widen(dy);
      into(dx, (o) => k.logSoftmaxBackward(y, g, o, rows, cols));
    },
    causalSoftmaxBf16(x, out, batch, t, scale) {
      const wx = widen(x);
      into(out, (o) => k.causalSoftmax(wx, o, batch, t, scale));
    },
    causalSoftmaxBackwardBf16(x, dy, dx, batch, t, scale) {
      const p = new Float32Array(batch * t * t);
      k.causalSoftmax(widen(x), p, batch, t, scale);
      const g = widen(dy);
      into(dx, (o) => {
        k.softmaxBackward(p, g, o, batch * t, t);
        k.scale(o, scale);
      });
    },
    layerNormBf16(x, weight, bias, out, mean, rstd, rows, cols, eps) {
      const wx = widen(x);
      const ww = orNull(weight);
      const wb = orNull(bias);
      into(out, (o) => k.layerNorm(wx, ww, wb, o, mean, rstd, rows, cols, eps));
    },
    layerNormBackwardBf16(dy, x, weight, mean, rstd, dx, dweight, dbias, rows, cols) {
      const g = widen(dy);
      const wx = widen(x);
      const ww = orNull(weight);
      into(dx, (o) => k.layerNormBackward(g, wx, ww, mean, rstd, o, dweight, dbias, rows, cols));
    },
    geluBf16(x, out, approximate) {
      const wx = widen(x);
      into(out, (o) => k.gelu(wx, o, approximate));
    },
    geluBackwardBf16(x, dy, dx, approximate) {
      const wx = widen(x);
      const g = widen(dy);
      into(dx, (o) => k.geluBackward(wx, g, o, approximate));
    },
    crossEntropyBf16(logits, targets, rows, cols, ignoreIndex, count) {
      return k.crossEntropy(widen(logits), targets, rows, cols, ignoreIndex, count);
    },
    crossEntropyBackwardBf16(logits, targets, rows, cols, ignoreIndex, scale, dlogits) {
      const wl = widen(logits);
      into(dlogits, (o) => k.crossEntropyBackward(wl, targets, rows, cols, ignoreIndex, scale, o));
    },
    embeddingBf16(weight, ids, dim, out) {
      const ww = widen(weight);
      into(out, (o) => k.embedding(ww, ids, dim, o));
    },
    embeddingBackwardBf16(dy, ids, dim, dweight) {
      const g = widen(dy);
      into(dweight, (o) => k.embeddingBackward(g, ids, dim, o));
    },
  };
}
