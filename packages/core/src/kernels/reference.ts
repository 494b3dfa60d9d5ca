// Plain TypeScript kernels: the specification of every native kernel and the fallback
// where the addon is not built (or DS_NATIVE=0). Clarity over speed, but no needless work.
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../half.js';
import { bf16Twins, type Float32Kernels } from './bf16-twins.js';
import { BinaryOp, UnaryOp, type Kernels } from './types.js';

/** bf16 bit patterns as float32 values (bf16 is the top half of a float32). */
function widenBf16(x: Uint16Array): Float32Array {
  const bits = new Uint32Array(x.length);
  for (let i = 0; i < x.length; i++) bits[i] = x[i]! << 16;
  return new Float32Array(bits.buffer);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2 = 1 / Math.SQRT2;

function binaryFn(op: BinaryOp): (x: number, y: number) => number {
  switch (op) {
    case BinaryOp.Add:
      return (x, y) => x + y;
    case BinaryOp.Sub:
      return (x, y) => x - y;
    case BinaryOp.Mul:
      return (x, y) => x * y;
    case BinaryOp.Div:
      return (x, y) => x / y;
    case BinaryOp.Pow:
      return (x, y) => Math.pow(x, y);
    case BinaryOp.Max:
      return (x, y) => (x > y || Number.isNaN(x) ? x : y);
    case BinaryOp.Min:
      return (x, y) => (x < y || Number.isNaN(x) ? x : y);
  }
}

function unaryFn(op: UnaryOp): (x: number) => number {
  switch (op) {
    case UnaryOp.Neg:
      return (x) => -x;
    case UnaryOp.Exp:
      return Math.exp;
    case UnaryOp.Log:
      return Math.log;
    case UnaryOp.Sqrt:
      return Math.sqrt;
    case UnaryOp.Abs:
      return Math.abs;
    case UnaryOp.Tanh:
      return Math.tanh;
    case UnaryOp.Relu:
      return (x) => (x > 0 ? x : 0);
    case UnaryOp.Sigmoid:
      return (x) => 1 / (1 + Math.exp(-x));
    case UnaryOp.Rsqrt:
      return (x) => 1 / Math.sqrt(x);
    case UnaryOp.Square:
      return (x) => x * x;
  }
}

// Abramowitz-Stegun is not accurate enough for the golden tolerances; this is the
// classic erf from W. J. Cody's rational approximations via erfc for |x| > 0.5.
function erf(x: number): number {
  // Use the identity erf(x) = 1 - erfc(x) with a high-accuracy erfc (Numerical Recipes erfcc
  // is 1.2e-7 relative — enough for float32) refined for small |x| by the Taylor series.
  const ax = Math.abs(x);
  if (ax < 0.5) {
    // Taylor series: 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 12; n++) {
      term *= -x2 / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  const t = 1 / (1 + 0.5 * ax);
  const y =
    t *
    Math.exp(
      -ax * ax -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - y : y - 1;
}

function forEachIndex(shape: Int32Array, fn: (linear: number, idx: Int32Array) => void): void {
  const nd = shape.length;
  let total = 1;
  for (let d = 0; d < nd; d++) total *= shape[d]!;
  if (total === 0) return;
  const idx = new Int32Array(nd);
  for (let i = 0; i < total; i++) {
    fn(i, idx);
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

/** Strided N-d walk producing source offsets in row-major order of `shape`. */
function walkStrided(shape: Int32Array, offset: number, strides: Int32Array, fn: (i: number, src: number) => void): void {
  const nd = shape.length;
  if (nd === 0) {
    fn(0, offset);
    return;
  }
  const last = nd - 1;
  const n = shape[last]!;
  const s = strides[last]!;
  let outer = 1;
  for (let d = 0; d < last; d++) outer *= shape[d]!;
  if (n === 0 || outer === 0) return;
  const idx = new Int32Array(Math.max(last, 1));
  let base = offset;
  let i = 0;
  for (let o = 0; o < outer; o++) {
    let src = base;
    for (let j = 0; j < n; j++, src += s) fn(i++, src);
    for (let d = last - 1; d >= 0; d--) {
      base += strides[d]!;
      if (++idx[d]! < shape[d]!) break;
      base -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

const float32Kernels: Float32Kernels = {
  name: 'reference',
  setNumThreads() {},
  getNumThreads: () => 1,
  blasInfo: () => ({ library: 'reference', core: 'typescript', config: 'plain TypeScript loops', threads: 1 }),
  simd: () => 'scalar',

  sgemm(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch) {
    const row = new Float64Array(n);
    for (let bi = 0; bi < batch; bi++) {
      const ao = bi * strideA;
      const bo = bi * strideB;
      const co = bi * strideC;
      for (let i = 0; i < m; i++) {
        row.fill(0);
        for (let p = 0; p < k; p++) {
          const av = transA ? a[ao + p * lda + i]! : a[ao + i * lda + p]!;
          if (av === 0) continue;
          if (transB) {
            for (let j = 0; j < n; j++) row[j]! += av * b[bo + j * ldb + p]!;
          } else {
            const br = bo + p * ldb;
            for (let j = 0; j < n; j++) row[j]! += av * b[br + j]!;
          }
        }
        const cr = co + i * ldc;
        for (let j = 0; j < n; j++) c[cr + j] = alpha * row[j]! + (beta === 0 ? 0 : beta * c[cr + j]!);
      }
    }
  },

  sbgemm(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch) {
    // Widening is exact, so this is sgemm (float64 sums) on the very same values.
    referenceKernels.sgemm(transA, transB, m, n, k, alpha, widenBf16(a), lda, strideA, widenBf16(b), ldb, strideB, beta, c, ldc,
      strideC, batch);
  },

  binary(op, shape, a, aOffset, aStrides, b, bOffset, bStrides, out) {
    const f = binaryFn(op);
    const nd = shape.length;
    forEachIndex(shape, (i, idx) => {
      let ia = aOffset;
      let ib = bOffset;
      for (let d = 0; d < nd; d++) {
        ia += idx[d]! * aStrides[d]!;
        ib += idx[d]! * bStrides[d]!;
      }
      out[i] = f(a[ia]!, b[ib]!);
    });
  },

  unary(op, a, out) {
    const f = unaryFn(op);
    for (let i = 0; i < a.length; i++) out[i] = f(a[i]!);
  },

  binaryScalar(op, a, s, out) {
    const f = binaryFn(op);
    for (let i = 0; i < a.length; i++) out[i] = f(a[i]!, s);
  },

  axpy(alpha, x, y) {
    for (let i = 0; i < x.length; i++) y[i]! += alpha * x[i]!;
  },

  scale(x, alpha) {
    for (let i = 0; i < x.length; i++) x[i]! *= alpha;
  },

  copyStrided(shape, src, offset, strides, out) {
    walkStrided(shape, offset, strides, (i, s) => {
      out[i] = src[s]!;
    });
  },

  reduce(mode, x, outer, dim, inner, out, indices) {
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const base = o * dim * inner + j;
        if (mode === 2) {
          let best = -Infinity;
          let arg = 0;
          for (let d = 0; d < dim; d++) {
            const v = x[base + d * inner]!;
            if (v > best || (Number.isNaN(v) && !Number.isNaN(best))) {
              best = v;
              arg = d;
            }
          }
          if (dim === 0) best = NaN;
          out[o * inner + j] = best;
          if (indices) indices[o * inner + j] = arg;
        } else {
          let s = 0;
          for (let d = 0; d < dim; d++) s += x[base + d * inner]!;
          out[o * inner + j] = mode === 1 ? s / dim : s;
        }
      }
    }
  },

  sumAll(x, squares) {
    let s = 0;
    if (squares) for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
    else for (let i = 0; i < x.length; i++) s += x[i]!;
    return s;
  },

  softmax(x, out, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let max = -Infinity;
      for (let j = 0; j < cols; j++) if (x[o + j]! > max) max = x[o + j]!;
      let sum = 0;
      for (let j = 0; j < cols; j++) {
        const e = Math.exp(x[o + j]! - max);
        out[o + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j < cols; j++) out[o + j]! *= inv;
    }
  },

  softmaxBackward(y, dy, dx, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += dy[o + j]! * y[o + j]!;
      for (let j = 0; j < cols; j++) dx[o + j] = y[o + j]! * (dy[o + j]! - dot);
    }
  },

  logSoftmax(x, out, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let max = -Infinity;
      for (let j = 0; j < cols; j++) if (x[o + j]! > max) max = x[o + j]!;
      let sum = 0;
      for (let j = 0; j < cols; j++) sum += Math.exp(x[o + j]! - max);
      const lse = max + Math.log(sum);
      for (let j = 0; j < cols; j++) out[o + j] = x[o + j]! - lse;
    }
  },

  logSoftmaxBackward(y, dy, dx, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) s += dy[o + j]!;
      for (let j = 0; j < cols; j++) dx[o + j] = dy[o + j]! - Math.exp(y[o + j]!) * s;
    }
  },

  causalSoftmax(x, out, batch, t, scale) {
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < t; i++) {
        const o = (b * t + i) * t;
        let max = -Infinity;
        for (let j = 0; j <= i; j++) {
          const v = x[o + j]! * scale;
          if (v > max) max = v;
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) {
          const e = Math.exp(x[o + j]! * scale - max);
          out[o + j] = e;
          sum += e;
        }
        const inv = 1 / sum;
        for (let j = 0; j <= i; j++) out[o + j]! *= inv;
        for (let j = i + 1; j < t; j++) out[o + j] = 0;
      }
    }
  },

  layerNorm(x, weight, bias, out, mean, rstd, rows, cols, eps) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) s += x[o + j]!;
      const mu = s / cols;
      let v = 0;
      for (let j = 0; j < cols; j++) {
        const d = x[o + j]! - mu;
        v += d * d;
      }
      const rs = 1 / Math.sqrt(v / cols + eps);
      mean[r] = mu;
      rstd[r] = rs;
      for (let j = 0; j < cols; j++) {
        const xh = (x[o + j]! - mu) * rs;
        out[o + j] = xh * (weight ? weight[j]! : 1) + (bias ? bias[j]! : 0);
      }
    }
  },

  layerNormBackward(dy, x, weight, mean, rstd, dx, dweight, dbias, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const mu = mean[r]!;
      const rs = rstd[r]!;
      let sumG = 0;
      let sumGX = 0;
      for (let j = 0; j < cols; j++) {
        const xh = (x[o + j]! - mu) * rs;
        const g = dy[o + j]! * (weight ? weight[j]! : 1);
        sumG += g;
        sumGX += g * xh;
        if (dweight) dweight[j]! += dy[o + j]! * xh;
        if (dbias) dbias[j]! += dy[o + j]!;
      }
      const mG = sumG / cols;
      const mGX = sumGX / cols;
      for (let j = 0; j < cols; j++) {
        const xh = (x[o + j]! - mu) * rs;
        const g = dy[o + j]! * (weight ? weight[j]! : 1);
        dx[o + j] = rs * (g - mG - xh * mGX);
      }
    }
  },

  gelu(x, out, approximate) {
    if (approximate === 1) {
      for (let i = 0; i < x.length; i++) {
        const v = x[i]!;
        out[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
      }
    } else {
      for (let i = 0; i < x.length; i++) {
        const v = x[i]!;
        out[i] = 0.5 * v * (1 + erf(v * INV_SQRT_2));
      }
    }
  },

  geluBackward(x, dy, dx, approximate) {
    if (approximate === 1) {
      for (let i = 0; i < x.length; i++) {
        const v = x[i]!;
        const inner = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
        const th = Math.tanh(inner);
        const dInner = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v);
        dx[i] = dy[i]! * (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * dInner);
      }
    } else {
      const c = 1 / Math.sqrt(2 * Math.PI);
      for (let i = 0; i < x.length; i++) {
        const v = x[i]!;
        const cdf = 0.5 * (1 + erf(v * INV_SQRT_2));
        dx[i] = dy[i]! * (cdf + v * c * Math.exp(-0.5 * v * v));
      }
    }
  },

  crossEntropy(logits, targets, rows, cols, ignoreIndex, count) {
    let total = 0;
    let n = 0;
    for (let r = 0; r < rows; r++) {
      const t = targets[r]!;
      if (t === ignoreIndex) continue;
      if (t < 0 || t >= cols) throw new RangeError(`crossEntropy: target ${t} at row ${r} is out of range [0, ${cols})`);
      const o = r * cols;
      let max = -Infinity;
      for (let j = 0; j < cols; j++) if (logits[o + j]! > max) max = logits[o + j]!;
      let sum = 0;
      for (let j = 0; j < cols; j++) sum += Math.exp(logits[o + j]! - max);
      total += max + Math.log(sum) - logits[o + t]!;
      n++;
    }
    count[0] = n;
    return total;
  },

  crossEntropyBackward(logits, targets, rows, cols, ignoreIndex, scale, dlogits) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const t = targets[r]!;
      if (t === ignoreIndex) {
        dlogits.fill(0, o, o + cols);
        continue;
      }
      let max = -Infinity;
      for (let j = 0; j < cols; j++) if (logits[o + j]! > max) max = logits[o + j]!;
      let sum = 0;
      for (let j = 0; j < cols; j++) sum += Math.exp(logits[o + j]! - max);
      const inv = 1 / sum;
      for (let j = 0; j < cols; j++) dlogits[o + j] = scale * Math.exp(logits[o + j]! - max) * inv;
      dlogits[o + t]! -= scale;
    }
  },

  embedding(weight, ids, dim, out) {
    const v = weight.length / dim;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id < 0 || id >= v) throw new RangeError(`embedding: id ${id} at position ${i} is out of range [0, ${v})`);
      out.set(weight.subarray(id * dim, id * dim + dim), i * dim);
    }
  },

  embeddingBackward(dy, ids, dim, dweight) {
    for (let i = 0; i < ids.length; i++) {
      const o = ids[i]! * dim;
      for (let j = 0; j < dim; j++) dweight[o + j]! += dy[i * dim + j]!;
    }
  },

  adam(p, g, m, v, lr, beta1, beta2, eps, weightDecay, mode, biasCorrection1, biasCorrection2Sqrt) {
    const stepSize = lr / biasCorrection1;
    const decay = mode === 1 ? 1 - lr * weightDecay : 1;
    for (let i = 0; i < p.length; i++) {
      let gi = g[i]!;
      if (mode === 0 && weightDecay !== 0) gi += weightDecay * p[i]!;
      const mi = beta1 * m[i]! + (1 - beta1) * gi;
      const vi = beta2 * v[i]! + (1 - beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      const pi = p[i]! * decay;
      p[i] = pi - (stepSize * mi) / (Math.sqrt(vi) / biasCorrection2Sqrt + eps);
    }
  },

  lion(p, g, m, lr, beta1, beta2, weightDecay) {
    const decay = 1 - lr * weightDecay;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]!;
      const mi = m[i]!;
      const c = beta1 * mi + (1 - beta1) * gi;
      // NOTE: Math.sign(0) is 0, so a momentum/gradient mix that cancels exactly leaves p to
      // weight decay alone (lion-pytorch); DeepSpeed's kernels move it by +-lr instead.
      p[i] = p[i]! * decay - lr * Math.sign(c);
      m[i] = beta2 * mi + (1 - beta2) * gi;
    }
  },

  f32ToF16(src, dst) {
    for (let i = 0; i < src.length; i++) dst[i] = f32ToF16Bits(src[i]!);
  },
  f16ToF32(src, dst) {
    for (let i = 0; i < src.length; i++) dst[i] = f16BitsToF32(src[i]!);
  },
  f32ToBf16(src, dst) {
    for (let i = 0; i < src.length; i++) dst[i] = f32ToBf16Bits(src[i]!);
  },
  bf16ToF32(src, dst) {
    for (let i = 0; i < src.length; i++) dst[i] = bf16BitsToF32(src[i]!);
  },
};

export const referenceKernels: Kernels = { ...float32Kernels, ...bf16Twins(float32Kernels) };
