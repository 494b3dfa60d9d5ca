// Cross entropy of a linear layer's output, without ever holding the whole output.
//
// A language model's last layer maps N hidden rows to logits over a vocabulary of V; for GPT-2
// (V = 50,257) at 8 x 1,024 tokens the logits and their gradient are 1.6 GB each in float32, the
// largest tensors of the step. Here the rows go through in chunks: each chunk's logits are
// computed into a reused buffer, turned into its loss and its logit gradient, and that gradient
// is folded at once into the gradients of the hidden rows and of the weight. So the gradients
// are computed in the forward pass (the backward only scales them), and at most one chunk of
// logits exists at a time. The result equals crossEntropy(linear(hidden, weight), targets) up
// to the order of float32 sums. bfloat16 inputs run the same way on the bf16 GEMM: the logits
// of a chunk are kept in float32 (the two ops round them to bf16 first), their gradient is
// rounded to bf16 for the two gradient products, and both gradients are summed in float32 and
// rounded once.
import { needsGrad, record } from '../autograd.js';
import { uninitF32, uninitU16 } from '../alloc.js';
import { kernels } from '../kernels/index.js';
import { shapeStr } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { crossEntropy, linear, type CrossEntropyOptions } from './nn.js';
import { assertFloating, bits16, ids32, wrap } from './util.js';

export interface LinearCrossEntropyOptions extends CrossEntropyOptions {
  /** Rows per chunk; default: enough for about 4 M logits (16 MB), and at least 256. */
  chunkRows?: number;
}

// Smaller chunks hold less, but the weight-gradient GEMM runs with the chunk's rows as its inner
// dimension and loses speed below a few hundred (GPT-2 'small' at 1,024 rows: 256-row chunks
// ~3 % slower than 512).
const CHUNK_ELEMENTS = 1 << 22;
const MIN_CHUNK_ROWS = 256;

/**
 * crossEntropy(hidden @ weight^T, targets) for hidden [N, C], weight [V, C] (a Linear's or a
 * tied embedding's layout) and integer targets [N]; ignoreIndex (-100) and reduction ('mean',
 * 'sum') as crossEntropy. float32 and bfloat16 (both operands the same) run chunked as
 * described above; other dtypes fall back to the two ops.
 */
export function linearCrossEntropy(hidden: Tensor, weight: Tensor, targets: Tensor, opts: LinearCrossEntropyOptions = {}): Tensor {
  assertFloating(hidden, 'linearCrossEntropy', 'hidden');
  assertFloating(weight, 'linearCrossEntropy', 'weight');
  if (hidden.ndim !== 2 || weight.ndim !== 2 || hidden.shape[1] !== weight.shape[1]) {
    throw new RangeError(
      `linearCrossEntropy: hidden must be [N, C] and weight [V, C], got ${shapeStr(hidden.shape)} and ${shapeStr(weight.shape)}`,
    );
  }
  const [n, c] = hidden.shape as [number, number];
  const v = weight.shape[0]!;
  if (targets.ndim !== 1 || targets.numel !== n) {
    throw new RangeError(`linearCrossEntropy: targets must be [${n}] (one per hidden row), got ${shapeStr(targets.shape)}`);
  }
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum') {
    throw new RangeError(`linearCrossEntropy: reduction must be 'mean' or 'sum', got ${JSON.stringify(reduction)}`);
  }
  const bf16 = hidden.dtype === 'bfloat16';
  if ((hidden.dtype !== 'float32' && !bf16) || weight.dtype !== hidden.dtype || n === 0 || v === 0) {
    return crossEntropy(linear(hidden, weight), targets, { ignoreIndex, reduction });
  }
  const chunk = opts.chunkRows ?? Math.max(MIN_CHUNK_ROWS, Math.floor(CHUNK_ELEMENTS / v));
  if (!Number.isInteger(chunk) || chunk < 1) {
    throw new RangeError(`linearCrossEntropy: chunkRows must be a positive integer, got ${chunk}`);
  }
  const t = ids32(targets, 'linearCrossEntropy', 'target');
  let count = 0;
  for (let i = 0; i < n; i++) if (t[i] !== ignoreIndex) count++;
  const denom = reduction === 'mean' ? count : 1;

  const k = kernels();
  const wantH = needsGrad(hidden);
  const wantW = needsGrad(weight);
  const rows = Math.min(chunk, n);
  const gemm = bf16 ? bf16Products(hidden, weight, rows, v) : f32Products(hidden, weight);

  /** The summed loss, and the gradients asked for (float32, of the mean or sum, before any upstream scale). */
  const pass = (grads: boolean): { total: number; dh: Float32Array | null; dw: Float32Array | null } => {
    const logits = uninitF32(rows * v);
    const dlogits = grads ? uninitF32(rows * v) : null;
    const dh = grads && wantH ? uninitF32(n * c) : null;
    const dw = grads && wantW ? uninitF32(v * c) : null;
    const seen = new Int32Array(1);
    let total = 0;
    for (let r0 = 0; r0 < n; r0 += rows) {
      const r = Math.min(rows, n - r0);
      const tc = t.subarray(r0, r0 + r);
      const lc = logits.subarray(0, r * v);
      gemm.logits(r0, r, c, lc);
      total += k.crossEntropy(lc, tc, r, v, ignoreIndex, seen);
      if (!dlogits) continue;
      // With no counted rows the loss is 0/0 (NaN, as crossEntropy gives) and so is its gradient.
      const dc = dlogits.subarray(0, r * v);
      k.crossEntropyBackward(lc, tc, r, v, ignoreIndex, 1 / denom, dc);
      gemm.backward(r0, r, c, dc, dh ? dh.subarray(r0 * c, (r0 + r) * c) : null, dw, r0 === 0 ? 0 : 1);
    }
    return { total, dh, dw };
  };

  const wantGrads = wantH || wantW;
  let first: ReturnType<typeof pass> | null = pass(wantGrads);
  const out = wrap(Float32Array.of(first.total / denom), [], hidden.dtype);
  if (!wantGrads) return out;
  return record(out, 'LinearCrossEntropyBackward', [hidden, weight], (g) => {
    // The first backward hands its buffers over (autograd may keep one as a .grad and add into
    // it later); a backward through a retained graph computes them again.
    const { dh, dw } = first ?? pass(true);
    first = null;
    const s = g.item();
    // float32 sums, in the inputs' dtype (bf16: rounded once)
    const wrapGrad = (buf: Float32Array | null, shape: readonly number[]): Tensor | null => {
      if (!buf) return null;
      if (s !== 1) k.scale(buf, s);
      return wrap(buf, shape, hidden.dtype);
    };
    return [wrapGrad(dh, [n, c]), wrapGrad(dw, [v, c])];
  });
}

/** The three products of a chunk of r rows starting at row r0: its logits, then its gradients. */
interface ChunkProducts {
  /** logits[r, V] = hidden[r0 : r0+r] @ weight^T, in float32. */
  logits(r0: number, r: number, c: number, logits: Float32Array): void;
  /** dh[r, C] = dlogits @ weight; dw[V, C] = dlogits^T @ hidden[r0 : r0+r] + beta * dw. */
  backward(r0: number, r: number, c: number, dlogits: Float32Array, dh: Float32Array | null, dw: Float32Array | null, beta: number): void;
}

function f32Products(hidden: Tensor, weight: Tensor): ChunkProducts {
  const k = kernels();
  const h = hidden.detach().data<'float32'>();
  const w = weight.detach().data<'float32'>();
  const v = weight.shape[0]!;
  return {
    logits(r0, r, c, logits) {
      k.sgemm(false, true, r, v, c, 1, h.subarray(r0 * c, (r0 + r) * c), c, 0, w, c, 0, 0, logits, v, 0, 1);
    },
    backward(r0, r, c, dl, dh, dw, beta) {
      if (dh) k.sgemm(false, false, r, c, v, 1, dl, v, 0, w, c, 0, 0, dh, c, 0, 1);
      if (dw) k.sgemm(true, false, v, c, r, 1, dl, v, 0, h.subarray(r0 * c, (r0 + r) * c), c, 0, beta, dw, c, 0, 1);
    },
  };
}

function bf16Products(hidden: Tensor, weight: Tensor, rows: number, v: number): ChunkProducts {
  const k = kernels();
  const h = bits16(hidden.detach());
  const w = bits16(weight.detach());
  let dlBits: Uint16Array | null = null;
  return {
    logits(r0, r, c, logits) {
      k.sbgemm(false, true, r, v, c, 1, h.subarray(r0 * c, (r0 + r) * c), c, 0, w, c, 0, 0, logits, v, 0, 1);
    },
    backward(r0, r, c, dl, dh, dw, beta) {
      dlBits ??= uninitU16(rows * v);
      const db = dlBits.subarray(0, r * v);
      k.f32ToBf16(dl, db);
      if (dh) k.sbgemm(false, false, r, c, v, 1, db, v, 0, w, c, 0, 0, dh, c, 0, 1);
      if (dw) k.sbgemm(true, false, v, c, r, 1, db, v, 0, h.subarray(r0 * c, (r0 + r) * c), c, 0, beta, dw, c, 0, 1);
    },
  };
}
