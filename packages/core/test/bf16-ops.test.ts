// bfloat16 kernels and ops. A bf16 kernel is defined as "widen the inputs, run the float32
// kernel, round each output once" (bf16Twins over a float32 kernel set). So:
//  - every native bf16 kernel must be bit-identical to bf16Twins(native float32 kernels), at
//    every SIMD level and thread count: that is what bf16 tensors computed before these kernels;
//  - native bf16 kernels stay within a bf16 rounding step of the reference kernels;
//  - on both kernel sets, bf16 ops equal the float32 op on the widened inputs, rounded once,
//    forward and backward, and their gradients are bf16.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bf16BitsToF32, f32ToBf16Bits, functional as F, kernels, noGrad, tensor, type Tensor } from '../src/index.js';
import { bf16Twins } from '../src/kernels/bf16-twins.js';
import { loadNativeKernels, nativeAddon, nativeLoadError } from '../src/kernels/native.js';
import { referenceKernels as ref } from '../src/kernels/reference.js';
import { BinaryOp, UnaryOp, type Kernels } from '../src/kernels/types.js';
import { KERNEL_MODES, withKernels } from './unit-helpers.js';

const native = loadNativeKernels();
if (!native) console.warn(`bf16-ops.test.ts: skipping native bf16 kernel tests: ${nativeLoadError() ?? 'not loaded'}`);

// ------------------------------------------------------------------ data

/** Deterministic values: normal(0, scale) (mulberry32 + Box-Muller), rounded to bf16 bits. */
function bf16n(n: number, seed: number, scale = 1, offset = 0): Uint16Array {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const u = next() || 1e-12;
    out[i] = f32ToBf16Bits(offset + scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next()));
  }
  return out;
}

// +-0, +-inf, quiet and signalling NaN, subnormals, the largest finite, values near 1.
const SPECIALS = [0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0x7f81, 0x0001, 0x8035, 0x7f7f, 0x3f80, 0xbf81, 0x4300];

/** Specials are mixed in unless a case runs without them (see `within a bf16 step of the reference`). */
let specialsOn = true;

function withSpecials(x: Uint16Array): Uint16Array {
  if (!specialsOn) return x;
  const out = x.slice();
  for (let i = 0; i < SPECIALS.length && i < out.length; i++) out[(i * 7919) % out.length] = SPECIALS[i]!;
  return out;
}

function ids(n: number, vocab: number, seed: number): Int32Array {
  return Int32Array.from(bf16n(n, seed), (v, i) => (v * 31 + i * 7) % vocab);
}

const hex = (v: number): string => `0x${v.toString(16).padStart(4, '0')}`;

const isNaNBits = (h: number): boolean => (h & 0x7fff) > 0x7f80;

/**
 * Bit-for-bit equality with the first differing element named. A NaN only has to meet a NaN:
 * which operand's sign and payload an operation passes on is the compiler's choice (operand
 * order of a commutative multiply), not part of the numerics.
 */
function expectBits(actual: Uint16Array, expected: Uint16Array, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i] && !(isNaNBits(actual[i]!) && isNaNBits(expected[i]!))) {
      expect.fail(`${what}: element ${i} is ${hex(actual[i]!)} (${bf16BitsToF32(actual[i]!)}) but expected ${hex(expected[i]!)} (${bf16BitsToF32(expected[i]!)})`);
    }
  }
}

function expectSame(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) expect.fail(`${what}: element ${i} is ${actual[i]} but expected ${expected[i]}`);
  }
}

/** Within `ulps` bf16 steps (of the larger magnitude) plus atol; NaN matches NaN. */
function expectBf16Close(actual: Uint16Array, expected: Uint16Array, ulps: number, atol: number, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    const a = bf16BitsToF32(actual[i]!);
    const e = bf16BitsToF32(expected[i]!);
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    if (a === e) continue;
    const step = 2 ** (Math.floor(Math.log2(Math.max(Math.abs(a), Math.abs(e), 2 ** -126))) - 7);
    if (Math.abs(a - e) <= ulps * step + atol) continue;
    expect.fail(`${what}: element ${i} is ${a} but the reference gives ${e}`);
  }
}

// ------------------------------------------------------------------ kernel cases

/**
 * Each case runs a bf16 kernel on `k` with fresh output buffers and returns every output (bf16
 * bits, float32 statistics, returned numbers) for comparison.
 */
type Outputs = (Uint16Array | Float32Array | Int32Array | number)[];
const CASES: Record<string, (k: Kernels) => Outputs> = {
  copyStrided16(k) {
    const src = withSpecials(bf16n(7 * 5 * 9 + 3, 1));
    const out = new Uint16Array(9 * 7 * 5);
    k.copyStrided16(Int32Array.from([9, 7, 5]), src, 3, Int32Array.from([1, 45, 9]), out);
    const bcast = new Uint16Array(40 * 33);
    k.copyStrided16(Int32Array.from([40, 33]), src, 2, Int32Array.from([0, 1]), bcast);
    return [out, bcast];
  },
  binary(k) {
    const a = withSpecials(bf16n(37 * 41 + 5, 2, 3));
    const b = withSpecials(bf16n(41 * 37, 3, 2, 0.5));
    const outs: Outputs = [];
    for (let op = 0; op <= 6; op++) {
      const cont = new Uint16Array(37 * 41);
      k.binaryBf16(op, Int32Array.from([37, 41]), a, 5, Int32Array.from([41, 1]), b, 0, Int32Array.from([41, 1]), cont);
      const row = new Uint16Array(37 * 41);
      k.binaryBf16(op, Int32Array.from([37, 41]), a, 0, Int32Array.from([41, 1]), b, 7, Int32Array.from([0, 1]), row);
      const col = new Uint16Array(37 * 41);
      k.binaryBf16(op, Int32Array.from([37, 41]), a, 0, Int32Array.from([0, 1]), b, 0, Int32Array.from([1, 0]), col);
      // b read transposed: the tiled walk
      const tr = new Uint16Array(37 * 41);
      k.binaryBf16(op, Int32Array.from([37, 41]), a, 0, Int32Array.from([41, 1]), b, 0, Int32Array.from([1, 37]), tr);
      outs.push(cont, row, col, tr);
    }
    return outs;
  },
  unary(k) {
    const a = withSpecials(bf16n(1000 + 13, 4, 4));
    const outs: Outputs = [];
    for (let op = 0; op <= 9; op++) {
      const out = new Uint16Array(a.length);
      k.unaryBf16(op, a, out);
      outs.push(out);
    }
    return outs;
  },
  binaryScalar(k) {
    const a = withSpecials(bf16n(517, 5, 3));
    const outs: Outputs = [];
    for (let op = 0; op <= 6; op++) {
      for (const s of [0.1, 2, 0.5, 3, -2, 1.7, 2.5, 1 / 3]) {
        const out = new Uint16Array(a.length);
        k.binaryScalarBf16(op, a, s, out);
        outs.push(out);
      }
    }
    return outs;
  },
  reduce(k) {
    const x = withSpecials(bf16n(6 * 53 * 19, 6, 2));
    const outs: Outputs = [];
    for (const mode of [0, 1, 2] as const) {
      const rows = new Float32Array(6 * 53);
      const ri = new Int32Array(6 * 53);
      k.reduceBf16(mode, x, 6 * 53, 19, 1, rows, mode === 2 ? ri : null);
      const cols = new Float32Array(6 * 19);
      const ci = new Int32Array(6 * 19);
      k.reduceBf16(mode, x, 6, 53, 19, cols, mode === 2 ? ci : null);
      outs.push(rows, ri, cols, ci);
    }
    return outs;
  },
  softmax(k) {
    const rows = 29;
    const cols = 1031;
    const x = bf16n(rows * cols, 7, 3, 40);
    x[5] = 0xff80; // -inf gets probability 0
    const dy = bf16n(rows * cols, 8);
    const outs: Outputs = [];
    for (const f of ['softmax', 'logSoftmax'] as const) {
      const y = new Uint16Array(x.length);
      const dx = new Uint16Array(x.length);
      if (f === 'softmax') {
        k.softmaxBf16(x, y, rows, cols);
        k.softmaxBackwardBf16(x, dy, dx, rows, cols);
      } else {
        k.logSoftmaxBf16(x, y, rows, cols);
        k.logSoftmaxBackwardBf16(x, dy, dx, rows, cols);
      }
      outs.push(y, dx);
    }
    return outs;
  },
  causalSoftmax(k) {
    const batch = 3;
    const t = 37;
    const x = bf16n(batch * t * t, 9, 4);
    const dy = bf16n(batch * t * t, 10);
    const outs: Outputs = [];
    // 0.125 is a float; 1/sqrt(32) is not, so the backward applies it in double
    for (const scale of [0.125, 1 / Math.sqrt(32), -0.7]) {
      const p = new Uint16Array(x.length);
      const dx = new Uint16Array(x.length);
      k.causalSoftmaxBf16(x, p, batch, t, scale);
      k.causalSoftmaxBackwardBf16(x, dy, dx, batch, t, scale);
      outs.push(p, dx);
    }
    return outs;
  },
  layerNorm(k) {
    const rows = 33;
    const cols = 259;
    const x = bf16n(rows * cols, 11, 0.5, 3);
    const w = bf16n(cols, 12, 1, 1);
    const b = bf16n(cols, 13, 0.2);
    const dy = bf16n(rows * cols, 14);
    const outs: Outputs = [];
    for (const affine of [true, false]) {
      const y = new Uint16Array(x.length);
      const mean = new Float32Array(rows);
      const rstd = new Float32Array(rows);
      k.layerNormBf16(x, affine ? w : null, affine ? b : null, y, mean, rstd, rows, cols, 1e-5);
      const dx = new Uint16Array(x.length);
      // dweight / dbias accumulate onto what is there
      const dw = affine ? Float32Array.from({ length: cols }, (_, i) => i / 7) : null;
      const db = affine ? new Float32Array(cols).fill(0.25) : null;
      k.layerNormBackwardBf16(dy, x, affine ? w : null, mean, rstd, dx, dw, db, rows, cols);
      outs.push(y, mean, rstd, dx, ...(dw && db ? [dw, db] : []));
    }
    return outs;
  },
  gelu(k) {
    const x = withSpecials(bf16n(4099, 15, 3));
    const dy = bf16n(4099, 16);
    const outs: Outputs = [];
    for (const mode of [0, 1] as const) {
      const y = new Uint16Array(x.length);
      const dx = new Uint16Array(x.length);
      k.geluBf16(x, y, mode);
      k.geluBackwardBf16(x, dy, dx, mode);
      outs.push(y, dx);
    }
    return outs;
  },
  crossEntropy(k) {
    const rows = 23;
    const cols = 517;
    const logits = bf16n(rows * cols, 17, 4);
    const targets = ids(rows, cols, 18);
    targets[3] = -100;
    targets[10] = -100;
    const count = new Int32Array(1);
    const loss = k.crossEntropyBf16(logits, targets, rows, cols, -100, count);
    const dl = new Uint16Array(logits.length).fill(0x1234);
    k.crossEntropyBackwardBf16(logits, targets, rows, cols, -100, 1 / 21, dl);
    return [loss, count, dl];
  },
  embedding(k) {
    const vocab = 50;
    const dim = 37;
    const w = withSpecials(bf16n(vocab * dim, 19));
    w[3] = 0x7f81; // a signalling NaN comes out quieted, as widening and rounding leaves it
    const id = ids(300, 40, 20); // rows 40..49 are never picked: their gradient is +0
    const out = new Uint16Array(300 * dim);
    k.embeddingBf16(w, id, dim, out);
    const dy = bf16n(300 * dim, 21);
    dy[7] = 0x8000;
    const dw = new Uint16Array(vocab * dim).fill(0x1234);
    k.embeddingBackwardBf16(dy, id, dim, dw);
    return [out, dw];
  },
  sbgemmToBf16(k) {
    const outs: Outputs = [];
    const cases = [
      // [transA, transB, m, n, k, batch, strideC: -1 whole matrices, 0 overwrite]
      [false, false, 13, 35, 40, 1, -1],
      [true, false, 17, 33, 64, 3, -1],
      [false, true, 25, 70, 1600, 1, -1], // two K blocks: summed in float32, rounded after
      [true, true, 9, 40, 3100, 2, -1],
      [false, false, 12, 32, 0, 1, -1],
      [false, true, 6, 18, 21, 3, 0],
    ] as const;
    for (const [ta, tb, m, n, depth, batch, sc] of cases) {
      const lda = (ta ? m : depth) + 3;
      const ldb = (tb ? depth : n) + 1;
      const ldc = n + 2;
      const sa = (ta ? depth : m) * lda;
      const sb = (tb ? n : depth) * ldb;
      const strideC = sc < 0 ? m * ldc : 0;
      const a = bf16n(Math.max(1, sa * batch), m + depth);
      const b = bf16n(Math.max(1, sb * batch), n + depth + 1);
      const c = new Uint16Array(strideC * (batch - 1) + m * ldc).fill(0x1234); // the padding must survive
      k.sbgemmToBf16(ta, tb, m, n, depth, 0.75, a, lda, sa, b, ldb, sb, c, ldc, strideC, batch);
      outs.push(c);
    }
    return outs;
  },
};

function compareOutputs(actual: Outputs, expected: Outputs, what: string, close?: { ulps: number; atol: number }): void {
  expect(actual.length, `${what}: outputs`).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    const name = `${what} output ${i}`;
    if (a instanceof Uint16Array) {
      if (close) expectBf16Close(a, e as Uint16Array, close.ulps, close.atol, name);
      else expectBits(a, e as Uint16Array, name);
    } else if (close) {
      const ev = typeof e === 'number' ? [e] : Array.from(e as Float32Array);
      const av = typeof a === 'number' ? [a] : Array.from(a);
      av.forEach((v, j) => {
        if (!(Object.is(v, ev[j]) || Math.abs(v - ev[j]!) <= 1e-5 * (1 + Math.abs(ev[j]!)) || (Number.isNaN(v) && Number.isNaN(ev[j]!)))) {
          expect.fail(`${name}: element ${j} is ${v} but the reference gives ${ev[j]}`);
        }
      });
    } else if (typeof a === 'number') {
      expect(a, name).toBe(e);
    } else {
      expectSame(a, e as ArrayLike<number>, name);
    }
  });
}

describe.skipIf(!native)('native bf16 kernels', () => {
  const k = native!;
  const addon = nativeAddon()!;
  const initialSimd = native ? native.simd() : 'scalar';
  afterAll(() => {
    addon._setSimd(initialSimd);
    k.setNumThreads(1);
  });

  describe.each(['avx512', 'avx2', 'scalar'])('SIMD level %s', (level) => {
    beforeAll(() => {
      addon._setSimd(level);
    });
    // The float32 kernels twinned are native ones at this same level: exactly the old bf16 path.
    const legacy = (): Kernels => ({ ...k, ...bf16Twins(k) });
    it.each(Object.keys(CASES))('%s: bit-identical to widen, float32 kernel, round', (name) => {
      compareOutputs(CASES[name]!(k), CASES[name]!(legacy()), `${name} at ${level}`);
    });
  });

  it.each(Object.keys(CASES))('%s: the same with 2 threads as with 1', (name) => {
    addon._setSimd(initialSimd);
    k.setNumThreads(1);
    const one = CASES[name]!(k);
    k.setNumThreads(2);
    const two = CASES[name]!(k);
    k.setNumThreads(1);
    compareOutputs(two, one, `${name} with 2 threads`);
  });

  // The float32 kernels agree with the reference within float32 rounding; a bf16 result can
  // then land one bf16 step away when the two float32 values straddle a rounding boundary.
  // sbgemm's bf16 path sums in float32 (vdpbf16ps) against the reference's float64, and layer
  // norm's backward cancels, so those get an absolute allowance on the scale of their inputs.
  // Specials are left out: overflow inside float32 formulas (x^3 of the largest bf16 in GELU)
  // is where float32 kernels and the float64 reference part ways by design.
  it.each(Object.keys(CASES))('%s: within a bf16 step of the reference', (name) => {
    addon._setSimd(initialSimd);
    const atol = name === 'sbgemmToBf16' ? 0.05 : name === 'layerNorm' ? 2e-3 : 1e-6;
    specialsOn = false;
    try {
      compareOutputs(CASES[name]!(k), CASES[name]!(ref), `${name} vs reference`, { ulps: 1, atol });
    } finally {
      specialsOn = true;
    }
  });

  it('embeddingBf16 passes bits through but quiets a signalling NaN, as widening and rounding did', () => {
    const w = Uint16Array.from([0x3f80, 0x7f81, 0xff82, 0x0001]);
    for (const kern of [k, ref]) {
      const out = new Uint16Array(4);
      kern.embeddingBf16(w, Int32Array.from([1, 0]), 2, out);
      expect(Array.from(out).map(hex), kern.name).toEqual(['0xffc2', '0x0001', '0x3f80', '0x7fc1']);
    }
  });

  it('names the argument a bf16 kernel rejects', () => {
    const w = new Uint16Array(12);
    expect(() => k.embeddingBf16(w, new Int32Array([0, 3]), 4, new Uint16Array(8))).toThrow(/ids\[1\] = 3 .*\[0, 3\)/);
    expect(() => k.layerNormBf16(new Float32Array(4) as unknown as Uint16Array, null, null, new Uint16Array(4), new Float32Array(1),
      new Float32Array(1), 1, 4, 1e-5)).toThrow(/layerNormBf16: 'x' must be a Uint16Array, got Float32Array/);
    expect(() => k.geluBf16(new Uint16Array(8), new Uint16Array(4), 0)).toThrow(/geluBf16: 'out' has 4 elements but x.length needs 8/);
    expect(() => k.sbgemmToBf16(false, false, 2, 2, 2, 1, new Uint16Array(4), 2, 0, new Uint16Array(4), 2, 0, new Uint16Array(3), 2, 0, 1))
      .toThrow(/'c' has 3 elements/);
  });
});

// ------------------------------------------------------------------ ops

const bf = (bits: Uint16Array, shape: readonly number[], requiresGrad = false): Tensor =>
  tensor(bits, { shape, dtype: 'bfloat16', requiresGrad });

/** A float32 leaf holding the bf16 values of t exactly. */
const widened = (t: Tensor, requiresGrad = false): Tensor => tensor(t.toFloat32Array(), { shape: t.shape, requiresGrad });

const bitsOf = (t: Tensor): Uint16Array => {
  expect(t.dtype).toBe('bfloat16');
  return t.contiguous().data<'bfloat16'>();
};

/** Bits of float32 values rounded to bf16 the way kernels round. */
const rounded = (t: Tensor): Uint16Array => {
  const out = new Uint16Array(t.numel);
  kernels().f32ToBf16(t.contiguous().data<'float32'>(), out);
  return out;
};

/**
 * Runs `op` on bf16 leaves and on float32 leaves holding the same values, backpropagates the
 * same gradient (bf16 values) through both, and expects the bf16 output and input gradients to
 * be the float32 ones rounded once.
 */
function checkAgainstFloat32(inputs: Tensor[], op: (...xs: Tensor[]) => Tensor, what: string, seed = 99): void {
  const b = inputs.map((t) => bf(bitsOf(t), t.shape, true));
  const f = inputs.map((t) => widened(t, true));
  const yb = op(...b);
  const yf = op(...f);
  expect(yb.dtype, `${what}: output dtype`).toBe('bfloat16');
  expectBits(bitsOf(yb), rounded(yf), `${what}: forward`);
  const g = bf(bf16n(yb.numel, seed), yb.shape);
  yb.backward(g);
  yf.backward(widened(g));
  b.forEach((t, i) => {
    expect(t.grad!.dtype, `${what}: gradient ${i} dtype`).toBe('bfloat16');
    expectBits(bitsOf(t.grad!), rounded(f[i]!.grad!), `${what}: gradient of input ${i}`);
  });
}

describe.each(KERNEL_MODES)('bf16 ops on %s kernels', (mode) => {
  withKernels(mode);
  const rand = (shape: number[], seed: number, scale = 1, offset = 0): Tensor =>
    bf(bf16n(shape.reduce((p, s) => p * s, 1), seed, scale, offset), shape);

  it('layerNorm (affine and not, transposed input) equals float32 rounded once', () => {
    checkAgainstFloat32([rand([6, 5, 40], 1, 2, 1), rand([40], 2, 1, 1), rand([40], 3)], (x, w, b) => F.layerNorm(x!, [40], w, b), 'layerNorm');
    checkAgainstFloat32([rand([40, 6], 4)], (x) => F.layerNorm(x!.transpose(0, 1), [40]), 'layerNorm of a view');
  });

  it('gelu (erf and tanh), softmax and logSoftmax along any dim equal float32 rounded once', () => {
    checkAgainstFloat32([rand([7, 45], 5, 3)], (x) => F.gelu(x!, 'tanh'), 'gelu tanh');
    checkAgainstFloat32([rand([7, 45], 6, 3)], (x) => F.gelu(x!.transpose(0, 1)), 'gelu erf of a view');
    checkAgainstFloat32([rand([5, 33], 7, 4)], (x) => F.softmax(x!, -1), 'softmax');
    checkAgainstFloat32([rand([5, 33, 2], 8, 4)], (x) => F.softmax(x!, 1), 'softmax over a middle dim');
    checkAgainstFloat32([rand([5, 33], 9, 4)], (x) => F.logSoftmax(x!, 0), 'logSoftmax over dim 0');
  });

  it('crossEntropy (mean with ignored rows, sum) and embedding equal float32 rounded once', () => {
    const targets = tensor(Int32Array.from([3, -100, 0, 30, 7, -100, 11]), { dtype: 'int64' });
    checkAgainstFloat32([rand([7, 31], 10, 3)], (l) => F.crossEntropy(l!, targets), 'crossEntropy mean');
    checkAgainstFloat32([rand([7, 31], 11, 3)], (l) => F.crossEntropy(l!, targets, { reduction: 'sum' }), 'crossEntropy sum');
    const picks = tensor(Int32Array.from([4, 1, 4, 9, 0, 4]), { shape: [2, 3], dtype: 'int64' });
    checkAgainstFloat32([rand([12, 20], 12)], (w) => F.embedding(picks, w!), 'embedding');
  });

  it('elementwise ops with broadcasting, views and scalars equal float32 rounded once', () => {
    const a = rand([4, 1, 24], 13, 2);
    const b = rand([3, 24], 14, 2, 0.5);
    const c = rand([4, 3], 25, 2, 0.5);
    for (const [name, op] of [
      ['add', F.add], ['sub', F.sub], ['mul', F.mul], ['div', F.div], ['maximum', F.maximum], ['minimum', F.minimum],
    ] as const) {
      noGrad(() => expectBits(bitsOf(op(a, b)), rounded(op(widened(a), widened(b))), `${name} broadcast`));
      noGrad(() => expectBits(bitsOf(op(a.transpose(0, 2), c.transpose(0, 1))), rounded(op(widened(a).transpose(0, 2), widened(c).transpose(0, 1))), `${name} of views`));
    }
    noGrad(() => expectBits(bitsOf(F.pow(F.abs(a), b)), rounded(F.pow(F.abs(widened(a)), widened(b))), 'pow'));
    for (const s of [0.1, 3, -2.5]) {
      noGrad(() => expectBits(bitsOf(F.mul(a, s)), rounded(F.mul(widened(a), s)), `mul ${s}`));
      noGrad(() => expectBits(bitsOf(F.pow(a, s)), rounded(F.pow(widened(a), s)), `pow ${s}`));
    }
    for (const [name, op] of [['exp', F.exp], ['tanh', F.tanh], ['sigmoid', F.sigmoid], ['rsqrt', F.rsqrt], ['neg', F.neg]] as const) {
      noGrad(() => expectBits(bitsOf(op(a)), rounded(op(widened(a))), name));
    }
    checkAgainstFloat32([a, b], (x, y) => F.add(x!, y!), 'add backward (sums over broadcast dims)');
    noGrad(() => {
      expectBits(bitsOf(F.sum(a, [0, 2])), rounded(F.sum(widened(a), [0, 2])), 'sum');
      expectBits(bitsOf(F.mean(b, 0, true)), rounded(F.mean(widened(b), 0, true)), 'mean');
    });
  });

  it('in-place add_ and mul_ round once, as before', () => {
    const t = rand([5, 16], 15, 2);
    const o = rand([16], 16, 2);
    const expected = rounded(F.add(widened(t), widened(o)));
    t.add_(o);
    expectBits(bitsOf(t), expected, 'add_ with broadcast');
    const scaled = rounded(F.mul(widened(t), 0.3));
    t.mul_(0.3);
    expectBits(bitsOf(t), scaled, 'mul_');
  });

  it('contiguous and clone of bf16 views move bits unchanged', () => {
    const x = rand([3, 4, 5], 17);
    const view = x.permute(2, 0, 1);
    const expected = new Uint16Array(60);
    const src = x.data<'bfloat16'>();
    let i = 0;
    for (let c = 0; c < 5; c++) for (let a = 0; a < 3; a++) for (let b = 0; b < 4; b++) expected[i++] = src[a * 20 + b * 5 + c]!;
    expectBits(F.contiguous(view).data<'bfloat16'>(), expected, 'contiguous');
    expectBits(F.clone(view).data<'bfloat16'>(), expected, 'clone');
  });

  it('matmul of bf16 operands is the float32 sbgemm result rounded once', () => {
    const a = rand([2, 5, 19], 18);
    const b = rand([19, 7], 19);
    const y = noGrad(() => F.matmul(a, b.transpose(0, 1).contiguous().transpose(0, 1)));
    const c = new Float32Array(70);
    kernels().sbgemm(false, false, 10, 7, 19, 1, a.data<'bfloat16'>(), 19, 0, b.data<'bfloat16'>(), 7, 0, 0, c, 7, 0, 1);
    expectBits(bitsOf(y), rounded(tensor(c)), 'matmul');
  });

  it('causal attention keeps the old numerics: float32 probabilities, rounded p and dS', () => {
    const [bh, t, d] = [3, 9, 8];
    const q = bf(bitsOf(rand([bh, t, d], 20)), [bh, t, d], true);
    const k = bf(bitsOf(rand([bh, t, d], 21)), [bh, t, d], true);
    const v = bf(bitsOf(rand([bh, t, d], 22)), [bh, t, d], true);
    const scale = 1 / Math.sqrt(d);
    const out = F.scaledDotProductAttention(q, k, v, { isCausal: true });
    const g = rand([bh, t, d], 23);
    out.backward(g);
    // The computation bf16 attention has always done, spelled out with float32 kernels.
    noGrad(() => {
      const kern = kernels();
      const scores = F.matmul(q, k.transpose(1, 2));
      const probs = new Float32Array(bh * t * t);
      kern.causalSoftmax(scores.toFloat32Array(), probs, bh, t, scale);
      const p = bf(rounded(tensor(probs)), [bh, t, t]);
      expectBits(bitsOf(out), bitsOf(F.matmul(p, v)), 'output');
      const dp = F.matmul(g, v.transpose(1, 2));
      const ds = new Float32Array(probs.length);
      kern.softmaxBackward(probs, dp.toFloat32Array(), ds, bh * t, t);
      kern.scale(ds, scale);
      const dS = bf(rounded(tensor(ds)), [bh, t, t]);
      expectBits(bitsOf(q.grad!), bitsOf(F.matmul(dS, k)), 'dq');
      expectBits(bitsOf(k.grad!), bitsOf(F.matmul(dS.transpose(1, 2), q)), 'dk');
      expectBits(bitsOf(v.grad!), bitsOf(F.matmul(p.transpose(1, 2), g)), 'dv');
    });
  });

  it('a float32 gradient into a bf16 op is used unrounded, as before', () => {
    const x = rand([4, 12], 24, 2);
    const xb = bf(bitsOf(x), x.shape, true);
    const xf = widened(x, true);
    const g = tensor(Float32Array.from({ length: 48 }, (_, i) => Math.fround(0.1 + i / 37)), { shape: [4, 12] });
    F.gelu(xb).backward(g);
    F.gelu(xf).backward(g);
    expectBits(bitsOf(xb.grad!), rounded(xf.grad!), 'gelu with a float32 gradient');
  });
});
