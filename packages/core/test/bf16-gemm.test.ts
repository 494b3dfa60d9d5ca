// bf16 GEMM: the sbgemm kernel (native on both of its paths, vdpbf16ps and widen-then-sgemm,
// against the TypeScript reference) and matmul / addmm / their backward on bfloat16 tensors.
//
// Tolerance: every bf16 x bf16 product is exact in float32, so the only rounding is in the
// sums. Any float32 summation order of k terms, then alpha * sum + beta * c, is off the exact
// value by at most (k + 2) u (|alpha| S + |beta c|) with u = 2^-24 and S = sum |a_ip b_pj|
// (Higham, Accuracy and Stability of Numerical Algorithms, 3.1); the reference sums in float64
// and rounds once (u more). So |native - reference| <= (k + 3) u (|alpha| S + |beta c|): the
// reference run on |A|, |B|, |alpha|, |beta| and |C| gives that magnitude. When strideC is 0
// the batch accumulates into one C, and each of the `batch` steps may add its own error.
// A dropped or misplaced term is off by about S / k, far outside the bound.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bf16BitsToF32, f32ToBf16Bits, functional as F, kernels, tensor, type Tensor } from '../src/index.js';
import { loadNativeKernels, nativeAddon, nativeLoadError } from '../src/kernels/native.js';
import { referenceKernels as ref } from '../src/kernels/reference.js';
import { KERNEL_MODES, withKernels } from './unit-helpers.js';

const native = loadNativeKernels();
if (!native) console.warn(`bf16-gemm.test.ts: skipping native sbgemm tests: ${nativeLoadError() ?? 'not loaded'}`);

const U = 2 ** -24;

/** Deterministic values in [-1, 1) (an LCG). */
function uniform(n: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/** bf16 bits of deterministic values spread over several binades, both signs. */
function randBf16(n: number, seed: number): Uint16Array {
  const u = uniform(n, seed);
  return Uint16Array.from(u, (v, i) => f32ToBf16Bits(v * 2 ** ((i % 7) - 3)));
}

/** bf16 bits of integers in [-8, 8]: exact in bf16, and their products and sums stay exact in float32. */
function intBf16(n: number, seed: number): Uint16Array {
  const u = uniform(n, seed);
  return Uint16Array.from(u, (v) => f32ToBf16Bits(Math.round(v * 8)));
}

const abs = (x: Uint16Array): Uint16Array => x.map((v) => v & 0x7fff);

interface GemmCase {
  ta: boolean;
  tb: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  batch: number;
  /** Batch strides; -1 means "one whole matrix", 0 broadcasts. */
  strides: [number, number, number];
}

interface GemmBuffers {
  a: Uint16Array;
  b: Uint16Array;
  c: Float32Array;
  args: [number, number, number, number, number, number];
}

/** Operands with padded leading dimensions (lda = cols + 3, ldb = cols + 1, ldc = n + 2). */
function buffers(t: GemmCase, fill: (n: number, seed: number) => Uint16Array, cFill: (v: number) => number): GemmBuffers {
  const lda = (t.ta ? t.m : t.k) + 3;
  const ldb = (t.tb ? t.k : t.n) + 1;
  const ldc = t.n + 2;
  const full = [(t.ta ? t.k : t.m) * lda, (t.tb ? t.n : t.k) * ldb, t.m * ldc];
  const [sa, sb, sc] = t.strides.map((s, i) => (s < 0 ? full[i]! : s)) as [number, number, number];
  const len = (stride: number, one: number): number => Math.max(1, stride * (t.batch - 1) + one);
  const a = fill(len(sa, full[0]!), t.m * 31 + t.k);
  const b = fill(len(sb, full[1]!), t.n * 17 + t.k + 1);
  const c = Float32Array.from(uniform(len(sc, full[2]!), 5), cFill);
  return { a, b, c, args: [lda, sa, ldb, sb, ldc, sc] };
}

function run(k: typeof ref, t: GemmCase, x: GemmBuffers, a = x.a, b = x.b, alpha = t.alpha, beta = t.beta, c = x.c.slice()): Float32Array {
  const [lda, sa, ldb, sb, ldc, sc] = x.args;
  k.sbgemm(t.ta, t.tb, t.m, t.n, t.k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, t.batch);
  return c;
}

/** Asserts |native - reference| <= steps (k + 3) u (|alpha| S + |beta c|) element by element. */
function expectWithinBound(k: typeof ref, t: GemmCase, x: GemmBuffers, what: string): void {
  const got = run(k, t, x);
  const want = run(ref, t, x);
  const magnitude = run(ref, t, x, abs(x.a), abs(x.b), Math.abs(t.alpha), Math.abs(t.beta), x.c.map(Math.abs));
  const steps = t.strides[2] === 0 ? t.batch : 1;
  for (let i = 0; i < want.length; i++) {
    const bound = steps * (t.k + 3) * U * magnitude[i]!;
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= bound)) expect.fail(`${what}: C[${i}] = ${got[i]} but the reference gives ${want[i]} (|error| ${err} > bound ${bound})`);
  }
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5], // less than one 12 x 32 tile
  [13, 33, 65], // one row and one column past a tile, odd depth
  [25, 70, 513],
  [200, 45, 16], // three blocks of 96 rows: threads split M
];
// One case per blocking boundary: two N blocks (n > 2048) and three K blocks (k > 2 * 1536).
const BIG: [number, number, number][] = [
  [14, 2100, 40],
  [30, 40, 3100],
];

function cases(): GemmCase[] {
  const out: GemmCase[] = [];
  for (const [m, n, k] of SHAPES) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        out.push({ ta, tb, m, n, k, alpha: 1, beta: 0, batch: 1, strides: [-1, -1, -1] });
        out.push({ ta, tb, m, n, k, alpha: 0.5, beta: 0.25, batch: 3, strides: [-1, -1, -1] });
        out.push({ ta, tb, m, n, k, alpha: -2, beta: 1, batch: 2, strides: [0, -1, -1] });
        out.push({ ta, tb, m, n, k, alpha: 1, beta: 1, batch: 3, strides: [-1, 0, 0] }); // C accumulates over the batch
      }
    }
  }
  for (const [m, n, k] of BIG) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) out.push({ ta, tb, m, n, k, alpha: 1, beta: 0.5, batch: 1, strides: [-1, -1, -1] });
    }
  }
  return out;
}

const label = (t: GemmCase): string =>
  `${t.m}x${t.n}x${t.k} transA ${t.ta} transB ${t.tb} alpha ${t.alpha} beta ${t.beta} batch ${t.batch} strides ${t.strides.join(',')}`;

describe('sbgemm reference', () => {
  it('multiplies hand-checked matrices, transposes and k = 0', () => {
    const bf = (xs: number[]): Uint16Array => Uint16Array.from(xs, f32ToBf16Bits);
    const c = new Float32Array(4);
    ref.sbgemm(false, false, 2, 2, 2, 1, bf([1, 2, 3, 4]), 2, 0, bf([5, 6, 7, 8]), 2, 0, 0, c, 2, 0, 1);
    expect(Array.from(c)).toEqual([19, 22, 43, 50]);
    ref.sbgemm(true, false, 2, 2, 2, 1, bf([1, 2, 3, 4]), 2, 0, bf([5, 6, 7, 8]), 2, 0, 0, c, 2, 0, 1);
    expect(Array.from(c)).toEqual([26, 30, 38, 44]);
    ref.sbgemm(false, true, 1, 1, 3, 0.5, bf([1, -2, 0.5]), 3, 0, bf([4, 1, -8]), 3, 0, 2, c, 1, 0, 1);
    expect(c[0]).toBe(0.5 * (4 - 2 - 4) + 2 * 26);
    ref.sbgemm(false, false, 2, 2, 0, 1, new Uint16Array(0), 0, 0, new Uint16Array(0), 2, 0, 0.5, c, 2, 0, 1);
    expect(Array.from(c)).toEqual([25.5, 15, 19, 22]);
  });

  it('reads bf16 bits: 0x3f80 is 1, 0xc000 is -2, 0x3f81 is 1 + 2^-7', () => {
    const c = new Float32Array(1);
    ref.sbgemm(false, false, 1, 1, 3, 1, Uint16Array.from([0x3f80, 0xc000, 0x3f81]), 3, 0, Uint16Array.from([0x3f80, 0x3f80, 0x3f80]), 1, 0, 0, c, 1, 0, 1);
    expect(c[0]).toBe(1 - 2 + 1 + 2 ** -7);
  });
});

describe.skipIf(!native)('native sbgemm', () => {
  const k = native!;
  const addon = nativeAddon()!;
  const initialSimd = k.simd();
  const initialThreads = k.getNumThreads();
  afterAll(() => {
    addon._setSimd(initialSimd);
    k.setNumThreads(initialThreads);
  });

  // avx512 takes the vdpbf16ps kernel where the CPU has AVX512_BF16; avx2 always widens and
  // calls sgemm. Both must meet the same bound.
  describe.each(['avx512', 'avx2'] as const)('at SIMD level %s', (level) => {
    beforeAll(() => {
      addon._setSimd(level);
    });

    it('takes the path the CPU allows', () => {
      const path = addon._sbgemmPath();
      if (level === 'avx2' || k.simd() !== 'avx512') expect(path).toBe('sgemm');
      else expect(['avx512_bf16', 'sgemm']).toContain(path);
    });

    it('matches the reference within the float32 summation bound', () => {
      for (const t of cases()) expectWithinBound(k, t, buffers(t, randBf16, (v) => v), `${level} ${label(t)}`);
    });

    it('matches the reference exactly on small integers (every partial sum is exact)', () => {
      for (const t of cases()) {
        const tt = { ...t, alpha: t.alpha === -2 ? -2 : 0.5, beta: t.beta === 0 ? 0 : 2 };
        const x = buffers(tt, intBf16, (v) => Math.round(v * 100));
        expect(run(k, tt, x), `${level} ${label(tt)}`).toEqual(run(ref, tt, x));
      }
    });

    it('leaves C outside the m x n matrices untouched and ignores NaN in C when beta is 0', () => {
      const t: GemmCase = { ta: false, tb: false, m: 13, n: 33, k: 9, alpha: 1, beta: 0, batch: 2, strides: [-1, -1, -1] };
      const x = buffers(t, intBf16, () => NaN);
      const out = run(k, t, x);
      const ldc = t.n + 2;
      for (let i = 0; i < out.length; i++) {
        const inside = i % ldc < t.n;
        expect(Number.isNaN(out[i]!), `C[${i}]`).toBe(!inside);
      }
      expect(out).toEqual(run(ref, t, x));
    });
  });

  describe.runIf(native && native.simd() === 'avx512' && nativeAddon()!._sbgemmPath() === 'avx512_bf16')('vdpbf16ps numerics', () => {
    beforeAll(() => {
      addon._setSimd('avx512');
    });
    const one = (a: number[], b: number[]): [number, number] => {
      const A = Uint16Array.from(a, f32ToBf16Bits);
      const B = Uint16Array.from(b, f32ToBf16Bits);
      const got = new Float32Array(1);
      const want = new Float32Array(1);
      k.sbgemm(false, false, 1, 1, a.length, 1, A, a.length, 0, B, 1, 0, 0, got, 1, 0, 1);
      ref.sbgemm(false, false, 1, 1, a.length, 1, A, a.length, 0, B, 1, 0, 0, want, 1, 0, 1);
      return [got[0]!, want[0]!];
    };

    it('treats bf16 subnormal inputs as zero (the reference and the sgemm path keep them)', () => {
      const [got, want] = one([bf16BitsToF32(0x0040)], [2 ** 100]); // 2^-127 * 2^100
      expect(want).toBe(2 ** -27);
      expect(got).toBe(0);
    });

    it('flushes a subnormal result to zero', () => {
      const [got, want] = one([2 ** -100], [2 ** -30]);
      expect(want).toBe(2 ** -130);
      expect(got).toBe(0);
    });

    it('rounds after each product in float32, the odd element of a pair first', () => {
      // Pairs (1, 0) then (-2^-24, 3 * 2^-24): 1 + 3*2^-24 rounds to even (1 + 2^-22), then
      // adding -2^-24 ties back to 1 + 2^-22. The exact sum 1 + 2^-23 is what the reference
      // gives; the even element first would give it too.
      const [got, want] = one([1, 0, -(2 ** -24), 3 * 2 ** -24], [1, 1, 1, 1]);
      expect(want).toBe(1 + 2 ** -23);
      expect(got).toBe(1 + 2 ** -22);
    });
  });

  it('gives bit-identical results with 1 and 2 threads', () => {
    addon._setSimd(initialSimd);
    const t: GemmCase = { ta: false, tb: true, m: 200, n: 300, k: 700, alpha: 1, beta: 0, batch: 1, strides: [-1, -1, -1] };
    const x = buffers(t, randBf16, (v) => v);
    const small: GemmCase = { ta: true, tb: false, m: 16, n: 16, k: 16, alpha: 1, beta: 0, batch: 64, strides: [-1, -1, -1] };
    const y = buffers(small, randBf16, (v) => v);
    k.setNumThreads(1);
    const one = [run(k, t, x), run(k, small, y)];
    k.setNumThreads(2);
    const two = [run(k, t, x), run(k, small, y)];
    if (addon._sbgemmPath() === 'avx512_bf16') {
      expect(two[0]).toEqual(one[0]);
      expect(two[1]).toEqual(one[1]);
    }
    // The sgemm path inherits OpenBLAS's thread-dependent splits; both still meet the bound.
    expectWithinBound(k, t, x, '2 threads');
  });

  it('names the bad argument', () => {
    const u = new Uint16Array(4);
    const c = new Float32Array(4);
    expect(() => k.sbgemm(false, false, 2, 2, 2, 1, new Float32Array(4) as unknown as Uint16Array, 2, 0, u, 2, 0, 0, c, 2, 0, 1)).toThrow(
      /sbgemm: 'a' must be a Uint16Array, got Float32Array/,
    );
    expect(() => k.sbgemm(false, false, 2, 2, 2, 1, u, 2, 0, u, 2, 0, 0, new Uint16Array(4) as unknown as Float32Array, 2, 0, 1)).toThrow(
      /'c' must be a Float32Array, got Uint16Array/,
    );
    expect(() => k.sbgemm(false, false, 2, 2, 2, 1, u, 1, 0, u, 2, 0, 0, c, 2, 0, 1)).toThrow(/'lda' = 1 is smaller than the 2 columns of 'a'/);
    expect(() => k.sbgemm(false, true, 2, 2, 3, 1, new Uint16Array(6), 3, 0, u, 3, 0, 0, c, 2, 0, 1)).toThrow(
      /'b' has 4 elements but a 2x3 matrix with ldb 3, strideB 0 and batch 1 needs 6/,
    );
    expect(() => k.sbgemm(false, false, 2, 2, 2, 1, u, 2, 4, u, 2, 0, 0, c, 2, 4, 2)).toThrow(RangeError);
    expect(() => (k.sbgemm as (...a: unknown[]) => void)(false)).toThrow(/17 arguments expected, got 1/);
  });
});

// ------------------------------------------------------------------ matmul on bf16 tensors

/** Small integers, so products and sums are exact and every path must agree bit for bit. */
function ints(shape: number[], seed: number, requiresGrad = false, dtype: 'bfloat16' | 'float32' = 'bfloat16'): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Float32Array.from(uniform(n, seed), (x) => Math.round(x * 8));
  return tensor(v, { shape, dtype, requiresGrad });
}

const values = (t: Tensor): number[] => Array.from(t.float().contiguous().data<'float32'>());
const widened = (t: Tensor): Tensor => t.detach().float();

for (const mode of KERNEL_MODES) {
  describe(`bf16 matmul on ${mode} kernels`, () => {
    withKernels(mode);
    // The reference sbgemm widens its operands and calls the reference sgemm once.
    const sgemmPerSbgemm = mode === 'reference' ? 1 : 0;
    afterEach(() => {
      vi.restoreAllMocks();
    });

    it('runs sbgemm on the bf16 storage itself and rounds the product to bf16', () => {
      const sb = vi.spyOn(kernels(), 'sbgemmToBf16');
      const sg = vi.spyOn(kernels(), 'sgemm');
      const a = ints([5, 7], 1);
      const w = ints([9, 7], 2); // used as w^T: a transposed view, no copy
      const out = F.matmul(a, w.transpose(0, 1));
      expect(out.dtype).toBe('bfloat16');
      expect(out.shape).toEqual([5, 9]);
      expect(sb).toHaveBeenCalledTimes(1);
      expect(sg).toHaveBeenCalledTimes(sgemmPerSbgemm);
      const call = sb.mock.calls[0]!;
      expect(call[1]).toBe(true); // transB
      expect(call[6]).toBe(a.storage);
      expect(call[9]).toBe(w.storage);
      const want = F.matmul(widened(a), widened(w).transpose(0, 1)).to('bfloat16');
      expect(values(out)).toEqual(values(want));
    });

    it('rounds once: a sum that is not a bf16 value comes out as its nearest bf16', () => {
      // 256 + 1 + 0.5 = 257.5 is exact in float32 and its nearest bf16 (8 significant bits) is
      // 258; rounding the partial sum 257 first would tie to 256 and end at 256.
      const a = tensor([[256, 1, 0.5]], { dtype: 'bfloat16' });
      const b = tensor([[1], [1], [1]], { dtype: 'bfloat16' });
      expect(f32RoundToBf16(257.5)).toBe(258);
      expect(values(F.matmul(a, b))).toEqual([258]);
    });

    it('batches with broadcasting, vectors and a layout the GEMM cannot take', () => {
      const sb = vi.spyOn(kernels(), 'sbgemmToBf16');
      const a = ints([2, 1, 4, 6], 3);
      const b = ints([3, 6, 5], 4);
      const out = F.matmul(a, b);
      expect(out.shape).toEqual([2, 3, 4, 5]);
      expect(values(out)).toEqual(values(F.matmul(widened(a), widened(b)).to('bfloat16')));
      // Batch strides 24 and 4 that do not collapse into one: gathered in bf16 first.
      const p = ints([2, 3, 2, 4], 5).permute(0, 2, 1, 3);
      const q = ints([2, 2, 4, 2], 6);
      expect(values(F.matmul(p, q))).toEqual(values(F.matmul(widened(p), widened(q)).to('bfloat16')));
      const v = ints([6], 7);
      expect(values(F.matmul(ints([4, 6], 8), v))).toEqual(values(F.matmul(widened(ints([4, 6], 8)), widened(v)).to('bfloat16')));
      expect(sb).toHaveBeenCalledTimes(3);
    });

    it('keeps mixed bf16 x float32 on sgemm with a float32 result', () => {
      const sb = vi.spyOn(kernels(), 'sbgemm');
      const out = F.matmul(ints([3, 4], 9), ints([4, 2], 10, false, 'float32'));
      expect(out.dtype).toBe('float32');
      expect(sb).not.toHaveBeenCalled();
    });

    it('addmm adds the bias before the single rounding', () => {
      const sb = vi.spyOn(kernels(), 'sbgemm');
      const bias = tensor([1, 0.5], { dtype: 'bfloat16' });
      const m1 = tensor([[256, 1]], { dtype: 'bfloat16' });
      const m2 = tensor([[1, 1], [1, 0]], { dtype: 'bfloat16' });
      const out = F.addmm(bias, m1, m2);
      expect(out.dtype).toBe('bfloat16');
      expect(sb).toHaveBeenCalledTimes(1);
      // 1 + 257 = 258 exactly; rounding the product 257 to bf16 first (a tie, to 256) would give
      // 256 + 1 -> 256. 0.5 + 256 = 256.5 rounds to 256.
      expect(values(out)).toEqual([258, 256]);
    });

    it('backpropagates through matmul and addmm with sbgemm, in the layout of each leaf', () => {
      const a = ints([2, 3, 4], 11, true);
      const b = ints([4, 5], 12, true);
      const wt = ints([4, 5], 13, true); // consumed transposed, like a tied LM head
      const bias = ints([4], 14, true);
      const sb = vi.spyOn(kernels(), 'sbgemm');
      const sbr = vi.spyOn(kernels(), 'sbgemmToBf16');
      const sg = vi.spyOn(kernels(), 'sgemm');
      const h = F.matmul(a, b);
      const y = F.addmm(bias, h.reshape(6, 5), wt.transpose(0, 1));
      y.sum().backward();
      // only addmm's forward accumulates onto its bias in float32; every other product rounds inside the GEMM
      expect(sb).toHaveBeenCalledTimes(1);
      expect(sbr).toHaveBeenCalledTimes(1 + 4); // matmul's forward, and two gradients for each of the two products
      expect(sg).toHaveBeenCalledTimes(6 * sgemmPerSbgemm);

      const [fa, fb, fw, fbias] = [a, b, wt, bias].map((t) => widened(t).requiresGrad_(true));
      const fy = F.addmm(fbias!, F.matmul(fa!, fb!).reshape(6, 5), fw!.transpose(0, 1));
      fy.sum().backward();
      for (const [t, f, name] of [[a, fa, 'a'], [b, fb, 'b'], [wt, fw, 'wt'], [bias, fbias, 'bias']] as const) {
        expect(t.grad!.dtype, name).toBe('bfloat16');
        expect(t.grad!.shape, name).toEqual(t.shape);
        expect(values(t.grad!), name).toEqual(values(f!.grad!.to('bfloat16')));
      }
    });
  });
}

function f32RoundToBf16(x: number): number {
  return bf16BitsToF32(f32ToBf16Bits(x));
}
