// The kernel surface: flat, contiguous typed-array work with no knowledge of tensors or
// autograd. `reference.ts` is the spec (plain TypeScript); `native.ts` binds the same
// functions to the C++ addon in native/core. Both must agree within float32 rounding.
//
// Conventions: all arrays are contiguous row-major Float32Array unless a parameter says
// otherwise; callers pass subarrays for offsets. "rows x cols" kernels work on the last
// dimension. Outputs never alias inputs unless the doc says "in place".

export const enum BinaryOp {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
  Pow = 4,
  Max = 5,
  Min = 6,
}

export const enum UnaryOp {
  Neg = 0,
  Exp = 1,
  Log = 2,
  Sqrt = 3,
  Abs = 4,
  Tanh = 5,
  Relu = 6,
  Sigmoid = 7,
  Rsqrt = 8,
  Square = 9,
}

export interface BlasInfo {
  /** e.g. "openblas" or "reference" */
  library: string;
  /** OpenBLAS core kernel in use (openblas_get_corename), e.g. "Haswell", "Cooperlake". */
  core: string;
  /** OpenBLAS build config string (openblas_get_config). */
  config: string;
  /** Threads used by GEMM. */
  threads: number;
}

export interface Kernels {
  readonly name: 'native' | 'reference';

  /** Threads used by kernels that parallelise (GEMM included). */
  setNumThreads(n: number): void;
  getNumThreads(): number;
  blasInfo(): BlasInfo;
  /** SIMD level chosen at run time: 'avx512' | 'avx2' | 'scalar' (reference: 'scalar'). */
  simd(): string;

  /**
   * Batched row-major GEMM: for i in [0, batch):
   *   C_i = alpha * op(A_i) @ op(B_i) + beta * C_i
   * with op(X) = X or X^T; A_i starts at a[i*strideA], etc. lda/ldb/ldc are row strides of
   * the matrices as stored (before transposition), exactly as cblas_sgemm with CblasRowMajor.
   * A stride of 0 broadcasts that operand across the batch.
   */
  sgemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, lda: number, strideA: number,
    b: Float32Array, ldb: number, strideB: number,
    beta: number, c: Float32Array, ldc: number, strideC: number,
    batch: number,
  ): void;

  /**
   * sgemm with bfloat16 operands: a and b hold bf16 bit patterns, C (and alpha, beta) stay
   * float32, with the same layout, transpose, batch-stride and beta == 0 conventions. Every
   * product is exact in float32; the sum is accumulated in float32 (the reference: in float64,
   * then rounded). Native kernels on AVX512_BF16 hardware use vdpbf16ps, which treats bf16
   * subnormals (|x| < 2^-126) as zero and flushes subnormal partial sums to zero; other CPUs
   * widen to float32 and run sgemm.
   */
  sbgemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Uint16Array, lda: number, strideA: number,
    b: Uint16Array, ldb: number, strideB: number,
    beta: number, c: Float32Array, ldc: number, strideC: number,
    batch: number,
  ): void;

  /**
   * sbgemm with beta = 0 whose result is rounded to bfloat16 (c holds bf16 bits): the float32
   * sums sbgemm would store, each rounded once. Elements of c outside the m x n matrices are
   * not touched.
   */
  sbgemmToBf16(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Uint16Array, lda: number, strideA: number,
    b: Uint16Array, ldb: number, strideB: number,
    c: Uint16Array, ldc: number, strideC: number,
    batch: number,
  ): void;

  /**
   * out[i] = op(a[ia], b[ib]) over an N-d index space of shape `shape` where
   * ia = aOffset + sum(idx[d] * aStrides[d]) (strides 0 broadcast), likewise ib; out is
   * contiguous with the same shape. Pow is a ** b, Max/Min elementwise.
   */
  binary(op: BinaryOp, shape: Int32Array, a: Float32Array, aOffset: number, aStrides: Int32Array,
    b: Float32Array, bOffset: number, bStrides: Int32Array, out: Float32Array): void;
  /** out = op(a) elementwise (contiguous, same length). */
  unary(op: UnaryOp, a: Float32Array, out: Float32Array): void;
  /** out = op(a, s) with a scalar right operand (Pow: a ** s, etc.). */
  binaryScalar(op: BinaryOp, a: Float32Array, s: number, out: Float32Array): void;
  /** y += alpha * x (in place on y). */
  axpy(alpha: number, x: Float32Array, y: Float32Array): void;
  /** x *= alpha (in place). */
  scale(x: Float32Array, alpha: number): void;
  /** Gather a strided view into a contiguous out (shape/strides in elements). */
  copyStrided(shape: Int32Array, src: Float32Array, offset: number, strides: Int32Array, out: Float32Array): void;

  /**
   * Reduce the middle axis of a contiguous [outer, dim, inner] array into out [outer, inner].
   * mode 0 = sum, 1 = mean, 2 = max (then `indices` [outer, inner] receives argmax, first on ties).
   */
  reduce(mode: 0 | 1 | 2, x: Float32Array, outer: number, dim: number, inner: number, out: Float32Array,
    indices: Int32Array | null): void;
  /** Sum of all elements in float64 accumulation (returned), and sum of squares when squares=true. */
  sumAll(x: Float32Array, squares: boolean): number;

  /** Row softmax over [rows, cols]. */
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  /** dx = y * (dy - sum(dy * y)) per row. */
  softmaxBackward(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number): void;
  logSoftmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  /** dx = dy - exp(y) * sum(dy) per row, y = log-softmax output. */
  logSoftmaxBackward(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number): void;
  /**
   * Causal attention probabilities: x is [batch, T, T] raw scores; out[b,i,j] =
   * softmax_j(scale * x[b,i,j]) over j <= i, and exactly 0 for j > i.
   */
  causalSoftmax(x: Float32Array, out: Float32Array, batch: number, t: number, scale: number): void;

  /**
   * Layer norm over the last dim of [rows, cols]; weight/bias may be null (then 1 / 0).
   * Writes mean[rows] and rstd[rows] = 1/sqrt(var_biased + eps) for the backward.
   */
  layerNorm(x: Float32Array, weight: Float32Array | null, bias: Float32Array | null, out: Float32Array,
    mean: Float32Array, rstd: Float32Array, rows: number, cols: number, eps: number): void;
  /** dx (overwritten), dweight/dbias (accumulated: +=) when non-null. */
  layerNormBackward(dy: Float32Array, x: Float32Array, weight: Float32Array | null, mean: Float32Array,
    rstd: Float32Array, dx: Float32Array, dweight: Float32Array | null, dbias: Float32Array | null,
    rows: number, cols: number): void;

  /** GELU: approximate 0 = erf ('none'), 1 = tanh. */
  gelu(x: Float32Array, out: Float32Array, approximate: 0 | 1): void;
  geluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, approximate: 0 | 1): void;

  /**
   * Cross entropy over logits [rows, cols] with integer targets; rows whose target equals
   * ignoreIndex contribute nothing. Returns the SUM of per-row losses (float64) and writes
   * the count of non-ignored rows into count[0]. Throws (RangeError) on a target outside
   * [0, cols) that is not ignoreIndex.
   */
  crossEntropy(logits: Float32Array, targets: Int32Array, rows: number, cols: number, ignoreIndex: number,
    count: Int32Array): number;
  /** dlogits = scale * (softmax(logits) - onehot(target)) for non-ignored rows, 0 for ignored. */
  crossEntropyBackward(logits: Float32Array, targets: Int32Array, rows: number, cols: number,
    ignoreIndex: number, scale: number, dlogits: Float32Array): void;

  /** out[i, :] = weight[ids[i], :] for ids of length n, weight [V, dim]. Throws on out-of-range ids. */
  embedding(weight: Float32Array, ids: Int32Array, dim: number, out: Float32Array): void;
  /** dweight[ids[i], :] += dy[i, :] (accumulates). */
  embeddingBackward(dy: Float32Array, ids: Int32Array, dim: number, dweight: Float32Array): void;

  /**
   * Fused Adam/AdamW update, in place on p, m, v (g read only). stepSize/… are precomputed
   * by the caller so the kernel is one pass:
   *   if (mode === 0 && weightDecay) g' = g + wd * p            (Adam: L2)
   *   m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2
   *   if (mode === 1) p = p * (1 - lr*wd)                       (AdamW: decoupled)
   *   p = p - stepSize * m / (sqrt(v) / biasCorrection2Sqrt + eps)
   * where stepSize = lr / biasCorrection1.
   */
  adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number,
    beta2: number, eps: number, weightDecay: number, mode: 0 | 1, biasCorrection1: number,
    biasCorrection2Sqrt: number): void;

  /**
   * Fused Lion update (Chen et al. 2023), in place on p and m (g read only), evaluated in
   * float64 and rounded once per stored value:
   *   c = beta1*m + (1-beta1)*g
   *   p = p * (1 - lr*weightDecay) - lr * sign(c)      sign(+-0) = +-0, sign(NaN) = NaN
   *   m = beta2*m + (1-beta2)*g
   */
  lion(p: Float32Array, g: Float32Array, m: Float32Array, lr: number, beta1: number, beta2: number,
    weightDecay: number): void;

  /** float32 -> float16 / bfloat16 bit patterns with round-to-nearest-even, and back. */
  f32ToF16(src: Float32Array, dst: Uint16Array): void;
  f16ToF32(src: Uint16Array, dst: Float32Array): void;
  f32ToBf16(src: Float32Array, dst: Uint16Array): void;
  bf16ToF32(src: Uint16Array, dst: Float32Array): void;

  // ---------------------------------------------------------------- bfloat16 twins
  // Each reads and writes bfloat16 bit patterns (Uint16Array) and computes exactly what the
  // float32 kernel of the same name computes on the widened inputs (widening is exact), then
  // rounds each output element once to nearest even (NaN quieted, as f32ToBf16). So
  // `xxxBf16(bits...)` equals f32ToBf16(xxx(bf16ToF32(bits)...)) bit for bit on the same kernel
  // set, without the float32 copies. Statistics, mean/rstd and dweight/dbias stay float32.

  /** copyStrided for 16-bit storage (bfloat16 or float16 bits): a strided gather that moves bits. */
  copyStrided16(shape: Int32Array, src: Uint16Array, offset: number, strides: Int32Array, out: Uint16Array): void;
  /** binary on bf16 operands into bf16 out (out may be `a` itself when a is contiguous over `shape`). */
  binaryBf16(op: BinaryOp, shape: Int32Array, a: Uint16Array, aOffset: number, aStrides: Int32Array,
    b: Uint16Array, bOffset: number, bStrides: Int32Array, out: Uint16Array): void;
  unaryBf16(op: UnaryOp, a: Uint16Array, out: Uint16Array): void;
  binaryScalarBf16(op: BinaryOp, a: Uint16Array, s: number, out: Uint16Array): void;
  /** reduce with bf16 input; out (and indices) as the float32 kernel, unrounded. */
  reduceBf16(mode: 0 | 1 | 2, x: Uint16Array, outer: number, dim: number, inner: number, out: Float32Array,
    indices: Int32Array | null): void;

  softmaxBf16(x: Uint16Array, out: Uint16Array, rows: number, cols: number): void;
  /**
   * Softmax backward from the forward's INPUT x: y = softmax(x) is recomputed in float32 (the
   * values softmax would have produced before rounding), then dx = y * (dy - sum(dy * y)).
   */
  softmaxBackwardBf16(x: Uint16Array, dy: Uint16Array, dx: Uint16Array, rows: number, cols: number): void;
  logSoftmaxBf16(x: Uint16Array, out: Uint16Array, rows: number, cols: number): void;
  /** logSoftmax backward from the forward's input x (y recomputed in float32). */
  logSoftmaxBackwardBf16(x: Uint16Array, dy: Uint16Array, dx: Uint16Array, rows: number, cols: number): void;
  causalSoftmaxBf16(x: Uint16Array, out: Uint16Array, batch: number, t: number, scale: number): void;
  /**
   * Gradient of the raw scores x of causalSoftmax: with p = causalSoftmax(x, scale) recomputed
   * in float32, dx = scale * softmaxBackward(p, dy), the product by scale applied like `scale`.
   */
  causalSoftmaxBackwardBf16(x: Uint16Array, dy: Uint16Array, dx: Uint16Array, batch: number, t: number,
    scale: number): void;

  layerNormBf16(x: Uint16Array, weight: Uint16Array | null, bias: Uint16Array | null, out: Uint16Array,
    mean: Float32Array, rstd: Float32Array, rows: number, cols: number, eps: number): void;
  /** dx (bf16, overwritten); dweight/dbias are float32 and accumulate (+=) as in layerNormBackward. */
  layerNormBackwardBf16(dy: Uint16Array, x: Uint16Array, weight: Uint16Array | null, mean: Float32Array,
    rstd: Float32Array, dx: Uint16Array, dweight: Float32Array | null, dbias: Float32Array | null,
    rows: number, cols: number): void;

  geluBf16(x: Uint16Array, out: Uint16Array, approximate: 0 | 1): void;
  geluBackwardBf16(x: Uint16Array, dy: Uint16Array, dx: Uint16Array, approximate: 0 | 1): void;

  crossEntropyBf16(logits: Uint16Array, targets: Int32Array, rows: number, cols: number, ignoreIndex: number,
    count: Int32Array): number;
  crossEntropyBackwardBf16(logits: Uint16Array, targets: Int32Array, rows: number, cols: number,
    ignoreIndex: number, scale: number, dlogits: Uint16Array): void;

  /** embedding of bf16 rows (a widen-and-round of each bit pattern: a copy that quiets signalling NaNs). */
  embeddingBf16(weight: Uint16Array, ids: Int32Array, dim: number, out: Uint16Array): void;
  /**
   * dweight = the float32 embeddingBackward of dy into a zeroed float32 dweight, rounded:
   * OVERWRITES all of dweight (rows no id refers to become +0).
   */
  embeddingBackwardBf16(dy: Uint16Array, ids: Int32Array, dim: number, dweight: Uint16Array): void;
}
