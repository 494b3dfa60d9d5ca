// Native kernels (native/core) against the TypeScript reference: every Kernels function on
// random inputs of awkward sizes (SIMD tails, single rows, rows above the threading
// threshold, broadcasts, transposes), at every SIMD level this CPU has, plus hand-computed
// values, error cases and thread-count independence.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeAddon, loadNativeKernels, nativeLoadError } from '../src/kernels/native.js';
import { referenceKernels as ref } from '../src/kernels/reference.js';
import { BinaryOp, UnaryOp, type Kernels } from '../src/kernels/types.js';

const native = loadNativeKernels();
if (!native) console.warn(`kernels.test.ts: skipping native kernel tests: ${nativeLoadError() ?? 'not loaded'}`);

const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden');

// ------------------------------------------------------------------ helpers

/** Deterministic normal(0, scale) values (mulberry32 + Box-Muller). */
function randn(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = next() || 1e-12;
    out[i] = offset + scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

function randInt(n: number, seed: number, lo: number, hi: number): Int32Array {
  const u = randn(n, seed);
  return Int32Array.from(u, (v, i) => lo + (Math.abs(Math.floor(v * 7919 + i * 31)) % (hi - lo)));
}

interface Tol {
  atol: number;
  rtol: number;
}
const EXACT: Tol = { atol: 0, rtol: 0 };

/** |a - e| <= atol + rtol |e|; NaN matches NaN, infinities must be identical. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) && Number.isNaN(a)) continue;
    } else if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a === e) continue;
    } else if (Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e)) {
      continue;
    }
    expect.fail(`${what}: element ${i} is ${a} but expected ${e} (atol ${tol.atol}, rtol ${tol.rtol})`);
  }
}

/** Runs fn on both kernel sets with fresh copies of the given buffers; returns [native, reference] buffers. */
function both<const T extends readonly (Float32Array | Int32Array | Uint16Array)[]>(
  k: Kernels,
  buffers: T,
  fn: (kern: Kernels, ...b: T) => unknown,
): { nat: T; ref: T; natResult: unknown; refResult: unknown } {
  const nat = buffers.map((b) => b.slice()) as unknown as T;
  const rb = buffers.map((b) => b.slice()) as unknown as T;
  const natResult = fn(k, ...nat);
  const refResult = fn(ref, ...rb);
  return { nat, ref: rb, natResult, refResult };
}

const SPECIALS = [0, -0, Infinity, -Infinity, NaN, 1e-40, -3e-39, 88.8, -100, 1e30, 0.5, -0.5, 3.4e38];

function withSpecials(x: Float32Array): Float32Array {
  const out = x.slice();
  for (let i = 0; i < SPECIALS.length && i < out.length; i++) out[(i * 7919) % out.length] = SPECIALS[i]!;
  return out;
}

const LEVELS = ['avx512', 'avx2', 'scalar'] as const;

// ------------------------------------------------------------------ tests

describe.skipIf(!native)('native kernels', () => {
  const k = native!;
  const addon = nativeAddon()!;
  const initialSimd = native ? native.simd() : 'scalar';

  afterAll(() => {
    addon._setSimd(initialSimd);
    k.setNumThreads(1);
  });

  it('reports its BLAS, SIMD level and thread count', () => {
    const info = k.blasInfo();
    expect(info.library).toBe('openblas');
    expect(info.core.length).toBeGreaterThan(0);
    expect(info.config).toMatch(/OpenBLAS/);
    expect(['avx512', 'avx2', 'scalar']).toContain(k.simd());
    expect(k.getNumThreads()).toBeGreaterThanOrEqual(1);
    expect(k.name).toBe('native');
  });

  it('computes hand-checked values', () => {
    const c = new Float32Array(4);
    k.sgemm(false, false, 2, 2, 2, 1, new Float32Array([1, 2, 3, 4]), 2, 0, new Float32Array([5, 6, 7, 8]), 2, 0, 0, c, 2, 0, 1);
    expect(Array.from(c)).toEqual([19, 22, 43, 50]);
    // A^T B with A stored 2x2: [[1,3],[2,4]] @ [[5,6],[7,8]]
    k.sgemm(true, false, 2, 2, 2, 1, new Float32Array([1, 2, 3, 4]), 2, 0, new Float32Array([5, 6, 7, 8]), 2, 0, 0, c, 2, 0, 1);
    expect(Array.from(c)).toEqual([26, 30, 38, 44]);
    // k = 0: C = beta * C, with nothing read from A or B.
    k.sgemm(false, false, 2, 2, 0, 1, new Float32Array(0), 0, 0, new Float32Array(0), 2, 0, 0.5, c, 2, 0, 1);
    expect(Array.from(c)).toEqual([13, 15, 19, 22]);

    const sm = new Float32Array(3);
    k.softmax(new Float32Array([0, Math.log(2), -Infinity]), sm, 1, 3);
    expectClose(sm, [1 / 3, 2 / 3, 0], { atol: 0, rtol: 1e-6 }, 'softmax');
    expect(sm[2]).toBe(0);
    const ls = new Float32Array(2);
    k.logSoftmax(new Float32Array([1000, 1000]), ls, 1, 2);
    expectClose(ls, [-Math.LN2, -Math.LN2], { atol: 0, rtol: 1e-6 }, 'logSoftmax with a large offset');

    const ln = new Float32Array(4);
    const mean = new Float32Array(1);
    const rstd = new Float32Array(1);
    k.layerNorm(new Float32Array([1, 2, 3, 4]), null, null, ln, mean, rstd, 1, 4, 1e-5);
    const r = 1 / Math.sqrt(1.25 + 1e-5);
    expectClose(ln, [-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r], { atol: 0, rtol: 1e-6 }, 'layerNorm');
    expect(mean[0]).toBe(2.5);
    expectClose(rstd, [r], { atol: 0, rtol: 1e-6 }, 'rstd');

    const g = new Float32Array(2);
    k.gelu(new Float32Array([1, -1]), g, 0);
    expectClose(g, [0.8413447460685429, -0.15865525393145707], { atol: 0, rtol: 1e-6 }, 'gelu erf');
    k.gelu(new Float32Array([1, -1]), g, 1);
    expectClose(g, [0.8411919906082768, -0.15880800939172324], { atol: 0, rtol: 1e-6 }, 'gelu tanh');

    const count = new Int32Array(1);
    const loss = k.crossEntropy(new Float32Array([0, 0, 5, 1, 2, 3]), new Int32Array([0, 2]), 2, 3, -100, count);
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    expect(loss).toBeCloseTo(Math.log(2 + Math.exp(5)) + lse - 3, 6);
    expect(count[0]).toBe(2);

    // First Adam step moves every parameter by lr * sign(g).
    const p = new Float32Array([1, 1]);
    k.adam(p, new Float32Array([0.5, -2]), new Float32Array(2), new Float32Array(2), 0.1, 0.9, 0.999, 1e-8, 0, 0, 0.1, Math.sqrt(0.001));
    expectClose(p, [0.9, 1.1], { atol: 0, rtol: 1e-6 }, 'adam first step');

    expect(k.sumAll(new Float32Array([1, 2, 3.5]), false)).toBe(6.5);
    expect(k.sumAll(new Float32Array([1, 2, 3.5]), true)).toBe(17.25);

    const h = new Uint16Array(4);
    k.f32ToF16(new Float32Array([1, 65520, 2 ** -25, -0]), h);
    expect(Array.from(h)).toEqual([0x3c00, 0x7c00, 0x0000, 0x8000]);
    k.f32ToBf16(new Float32Array([1, 1.00390625, 1.01171875, NaN]), h);
    expect(Array.from(h.subarray(0, 3))).toEqual([0x3f80, 0x3f80, 0x3f82]);
  });

  describe.each(LEVELS)('SIMD level %s', (level) => {
    beforeAll(() => {
      addon._setSimd(level);
    });

    it('sgemm: transposes, padded leading dimensions, batch strides incl. 0', () => {
      const cases: [number, number, number][] = [
        [1, 1, 1],
        [7, 13, 5],
        [33, 17, 65],
        [1, 129, 31],
      ];
      for (const [m, n, kk] of cases) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            const lda = (ta ? m : kk) + 3;
            const ldb = (tb ? kk : n) + 1;
            const ldc = n + 2;
            const batch = 3;
            const sa = (ta ? kk : m) * lda;
            const sb = (tb ? n : kk) * ldb;
            const sc = m * ldc;
            for (const [strideA, strideB, strideC, beta] of [
              [sa, sb, sc, 0.25],
              [0, sb, sc, 0],
              [sa, 0, sc, 1],
              [sa, sb, 0, 1],
            ] as const) {
              const a = randn(sa * batch, m * 7 + kk, 1);
              const b = randn(sb * batch, n * 3 + kk, 1);
              const c = withSpecials(randn(sc * batch, 11, 1)).map((v) => (Number.isFinite(v) ? v : 0));
              if (beta === 0) c[0] = NaN; // beta 0 must ignore what C held
              const r = both(k, [c], (kern, cc) =>
                kern.sgemm(ta, tb, m, n, kk, 0.5, a, lda, strideA, b, ldb, strideB, beta, cc, ldc, strideC, batch),
              );
              expectClose(r.nat[0], r.ref[0], { atol: 1e-5 * Math.sqrt(kk), rtol: 1e-5 }, `sgemm ${m}x${n}x${kk} ${ta} ${tb} strides ${strideA},${strideB},${strideC}`);
            }
          }
        }
      }
    });

    it('binary: every op over contiguous, broadcast, transposed, offset and negative strides', () => {
      const a = withSpecials(randn(4000, 1, 2));
      const b = withSpecials(randn(4000, 2, 2)).map((v, i) => (i % 5 === 0 ? -v : v));
      const layouts: [string, number[], number, number[], number, number[]][] = [
        ['contiguous odd', [37], 0, [1], 3, [1]],
        ['row broadcast', [4, 33], 0, [33, 1], 0, [0, 1]],
        ['column broadcast', [5, 17], 1, [17, 1], 2, [1, 0]],
        ['scalar both ways', [3, 19], 0, [0, 0], 5, [19, 1]],
        ['transposed', [6, 5], 0, [1, 6], 0, [5, 1]],
        ['4-d mixed', [2, 3, 4, 5], 3, [60, 20, 5, 1], 1, [0, 5, 0, 1]],
        ['reversed', [41], 40, [-1], 0, [1]],
        ['size-1 dims', [1, 7, 1, 3], 0, [100, 3, 9, 1], 0, [0, 0, 0, 1]],
        ['empty', [3, 0, 2], 0, [0, 2, 1], 0, [0, 2, 1]],
        ['0-d', [], 7, [], 9, []],
      ];
      for (let op = 0; op <= 6; op++) {
        for (const [name, shape, ao, as, bo, bs] of layouts) {
          const total = shape.reduce((p, s) => p * s, 1);
          const out = new Float32Array(total);
          const r = both(k, [out], (kern, o) =>
            kern.binary(op as BinaryOp, Int32Array.from(shape), a, ao, Int32Array.from(as), b, bo, Int32Array.from(bs), o),
          );
          const tol = op === BinaryOp.Pow ? { atol: 0, rtol: 1.2e-7 } : EXACT;
          expectClose(r.nat[0], r.ref[0], tol, `binary op ${op} ${name}`);
        }
      }
    });

    it('binary: large broadcast split over threads', () => {
      const a = randn(300 * 1001, 3);
      const b = randn(1001, 4);
      const out = new Float32Array(300 * 1001);
      const r = both(k, [out], (kern, o) =>
        kern.binary(BinaryOp.Mul, Int32Array.from([300, 1001]), a, 0, Int32Array.from([1001, 1]), b, 0, Int32Array.from([0, 1]), o),
      );
      expectClose(r.nat[0], r.ref[0], EXACT, 'binary large');
    });

    it('unary: every op, with tails and special values', () => {
      const tol: Record<number, Tol> = {
        [UnaryOp.Exp]: { atol: 1e-44, rtol: 2.5e-7 },
        [UnaryOp.Log]: { atol: 0, rtol: 2.5e-7 },
        [UnaryOp.Tanh]: { atol: 0, rtol: 2.5e-7 },
        [UnaryOp.Sigmoid]: { atol: 1e-43, rtol: 5e-7 },
        [UnaryOp.Rsqrt]: { atol: 0, rtol: 1.2e-7 },
      };
      for (const n of [1, 15, 16, 17, 33, 1000, 70001]) {
        const x = withSpecials(randn(n, n, 4));
        const pos = x.map(Math.abs);
        for (let op = 0; op <= 9; op++) {
          const input = op === UnaryOp.Log || op === UnaryOp.Sqrt || op === UnaryOp.Rsqrt ? (n > 5 ? pos : x) : x;
          const out = new Float32Array(n);
          const r = both(k, [out], (kern, o) => kern.unary(op as UnaryOp, input, o));
          expectClose(r.nat[0], r.ref[0], tol[op] ?? EXACT, `unary op ${op} n=${n}`);
        }
      }
    });

    it('binaryScalar, axpy and scale', () => {
      for (const n of [1, 17, 100003]) {
        const a = withSpecials(randn(n, n + 1, 3));
        for (let op = 0; op <= 6; op++) {
          for (const s of [0.37, -2.5, 2, 0.5, 3, -1, -4, 0]) {
            const out = new Float32Array(n);
            const r = both(k, [out], (kern, o) => kern.binaryScalar(op as BinaryOp, a, s, o));
            const tol = op === BinaryOp.Pow ? { atol: 0, rtol: 1.2e-7 } : EXACT;
            expectClose(r.nat[0], r.ref[0], tol, `binaryScalar op ${op} s=${s} n=${n}`);
          }
        }
        const y = randn(n, 5);
        for (const alpha of [0.3, 0.5]) {
          const ax = both(k, [y], (kern, yy) => kern.axpy(alpha, a, yy));
          // 0.3 is not a float and is applied in double (exact); 0.5 goes through a fused multiply-add.
          expectClose(ax.nat[0], ax.ref[0], alpha === 0.3 ? EXACT : { atol: 0, rtol: 1.2e-7 }, `axpy ${alpha} n=${n}`);
        }
        for (const alpha of [-1.5, 0.1]) {
          const sc = both(k, [a], (kern, xx) => kern.scale(xx, alpha));
          expectClose(sc.nat[0], sc.ref[0], EXACT, `scale ${alpha} n=${n}`);
        }
      }
    });

    it('copyStrided: permutations, broadcasts, offsets', () => {
      const src = randn(5000, 9);
      const views: [number[], number, number[]][] = [
        [[3, 4, 5], 2, [20, 5, 1]],
        [[5, 4, 3], 0, [1, 5, 20]],
        [[2, 3, 4, 5], 7, [60, 5, 20, 1]],
        [[6, 7], 1, [0, 1]],
        [[33], 40, [-1]],
        [[70, 60], 0, [1, 70]],
        [[1], 3, [0]],
        [[], 11, []],
      ];
      for (const [shape, off, strides] of views) {
        const out = new Float32Array(shape.reduce((p, s) => p * s, 1));
        const r = both(k, [out], (kern, o) => kern.copyStrided(Int32Array.from(shape), src, off, Int32Array.from(strides), o));
        expectClose(r.nat[0], r.ref[0], EXACT, `copyStrided ${shape}`);
      }
    });

    it('reduce: sum, mean, max with argmax (ties, NaN), inner > 1 and empty dims', () => {
      const shapes: [number, number, number][] = [
        [1, 1, 1],
        [3, 17, 1],
        [2, 5, 33],
        [1, 1000, 1],
        [2, 7, 2100],
        [0, 5, 3],
        [3, 0, 2],
        [500, 300, 1],
      ];
      for (const [outer, dim, inner] of shapes) {
        // Values rounded to halves so ties are common.
        const x = randn(outer * dim * inner, dim + inner, 3).map((v) => Math.round(v * 2) / 2);
        if (x.length > 40) x[37] = NaN;
        for (const mode of [0, 1, 2] as const) {
          const out = new Float32Array(outer * inner);
          const idx = new Int32Array(outer * inner);
          const r = both(k, [out, idx], (kern, o, ix) => kern.reduce(mode, x, outer, dim, inner, o, mode === 2 ? ix : null));
          expectClose(r.nat[0], r.ref[0], mode === 2 ? EXACT : { atol: 1e-6, rtol: 6e-8 }, `reduce ${mode} ${outer}x${dim}x${inner}`);
          if (mode === 2) expect(Array.from(r.nat[1]), `argmax ${outer}x${dim}x${inner}`).toEqual(Array.from(r.ref[1]));
        }
      }
    });

    it('sumAll: blocks, tails and squares', () => {
      for (const n of [0, 1, 17, 65536 * 3 + 5]) {
        const x = randn(n, n + 3, 2, 0.5);
        for (const sq of [false, true]) {
          const a = k.sumAll(x, sq);
          const e = ref.sumAll(x, sq);
          expect(Math.abs(a - e), `sumAll n=${n} squares=${sq}`).toBeLessThanOrEqual(1e-12 * (Math.abs(e) + n));
        }
      }
    });

    it('softmax and logSoftmax: forward and backward, large offsets, -inf entries', () => {
      for (const [rows, cols] of [
        [1, 1],
        [3, 17],
        [1, 16],
        [5, 1000],
        [64, 2049],
      ] as const) {
        const x = randn(rows * cols, rows + cols, 3, cols % 2 ? 1000 : 0);
        for (let i = 3; i < x.length; i += 11) x[i] = -Infinity;
        if (cols > 1) x[0] = x[1]!; // a row may also hold ties
        const out = new Float32Array(rows * cols);
        const sm = both(k, [out], (kern, o) => kern.softmax(x, o, rows, cols));
        expectClose(sm.nat[0], sm.ref[0], { atol: 1e-8, rtol: 2e-6 }, `softmax ${rows}x${cols}`);
        for (let i = 3; i < x.length; i += 11) if (!Number.isNaN(sm.nat[0][i]!)) expect(sm.nat[0][i]).toBe(0);
        const ls = both(k, [out], (kern, o) => kern.logSoftmax(x, o, rows, cols));
        expectClose(ls.nat[0], ls.ref[0], { atol: 2e-6, rtol: 1e-6 }, `logSoftmax ${rows}x${cols}`);

        const y = sm.ref[0];
        const dy = randn(rows * cols, 77);
        const dx = new Float32Array(rows * cols);
        const sb = both(k, [dx], (kern, d) => kern.softmaxBackward(y, dy, d, rows, cols));
        expectClose(sb.nat[0], sb.ref[0], { atol: 1e-6, rtol: 1e-5 }, `softmaxBackward ${rows}x${cols}`);
        const ly = ls.ref[0].map((v) => (Number.isFinite(v) ? v : -80));
        const lb = both(k, [dx], (kern, d) => kern.logSoftmaxBackward(ly, dy, d, rows, cols));
        expectClose(lb.nat[0], lb.ref[0], { atol: 2e-6, rtol: 1e-5 }, `logSoftmaxBackward ${rows}x${cols}`);
      }
      // A fully masked row is NaN, as in PyTorch.
      const out = new Float32Array(2);
      k.softmax(new Float32Array([-Infinity, -Infinity]), out, 1, 2);
      expect(Number.isNaN(out[0]!) && Number.isNaN(out[1]!)).toBe(true);
    });

    it('causalSoftmax: masks above the diagonal, any scale sign', () => {
      for (const [batch, t, scale] of [
        [1, 1, 1],
        [3, 5, 0.125],
        [2, 37, -0.5],
        [4, 130, 1 / Math.sqrt(64)],
      ] as const) {
        const x = randn(batch * t * t, t, 4);
        const out = new Float32Array(batch * t * t).fill(7);
        const r = both(k, [out], (kern, o) => kern.causalSoftmax(x, o, batch, t, scale));
        expectClose(r.nat[0], r.ref[0], { atol: 1e-8, rtol: 2e-6 }, `causalSoftmax ${batch}x${t} scale ${scale}`);
        for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) expect(r.nat[0][i * t + j]).toBe(0);
      }
    });

    it('layerNorm forward and backward, with and without affine, small variance', () => {
      for (const [rows, cols, offset, affine] of [
        [1, 1, 0, true],
        [4, 17, 0, true],
        [3, 768, 0, false],
        [100, 33, 0, true],
        [6, 64, 1000, true],
      ] as const) {
        const x = randn(rows * cols, rows * cols, offset ? 0.01 : 2, offset);
        const w = affine ? randn(cols, 5, 1, 1) : null;
        const b = affine ? randn(cols, 6) : null;
        const f = both(k, [new Float32Array(rows * cols), new Float32Array(rows), new Float32Array(rows)], (kern, o, m, rs) => kern.layerNorm(x, w, b, o, m, rs, rows, cols, 1e-5));
        expectClose(f.nat[0], f.ref[0], { atol: 1e-5, rtol: 1e-5 }, `layerNorm out ${rows}x${cols}+${offset}`);
        expectClose(f.nat[1], f.ref[1], EXACT, `layerNorm mean ${rows}x${cols}`);
        expectClose(f.nat[2], f.ref[2], { atol: 0, rtol: 1.2e-7 }, `layerNorm rstd ${rows}x${cols}`);

        const dy = randn(rows * cols, 99);
        const mean = f.ref[1];
        const rstd = f.ref[2];
        const g = both(k, [new Float32Array(rows * cols), randn(cols, 12), randn(cols, 13)], (kern, dx, dw, db) =>
          kern.layerNormBackward(dy, x, w, mean, rstd, dx, affine ? dw : null, affine ? db : null, rows, cols),
        );
        const gt = offset ? { atol: 2e-3, rtol: 1e-4 } : { atol: 1e-5, rtol: 1e-4 };
        expectClose(g.nat[0], g.ref[0], gt, `layerNormBackward dx ${rows}x${cols}+${offset}`);
        expectClose(g.nat[1], g.ref[1], { atol: 1e-5 * rows, rtol: 1e-5 }, `layerNormBackward dweight ${rows}x${cols}`);
        expectClose(g.nat[2], g.ref[2], { atol: 1e-6 * rows, rtol: 1e-5 }, `layerNormBackward dbias ${rows}x${cols}`);
      }
    });

    it('gelu (erf and tanh) forward and backward', () => {
      for (const n of [1, 17, 9000, 70000]) {
        const x = randn(n, n, 3);
        if (n > 10) x.set([10, -10, 6, -6, 0, -0], 3);
        for (const approx of [0, 1] as const) {
          const out = new Float32Array(n);
          const f = both(k, [out], (kern, o) => kern.gelu(x, o, approx));
          expectClose(f.nat[0], f.ref[0], { atol: 1e-7, rtol: 2e-6 }, `gelu ${approx} n=${n}`);
          const dy = randn(n, 3);
          const b = both(k, [out], (kern, o) => kern.geluBackward(x, dy, o, approx));
          // Near x = -0.75 the derivative Phi(x) + x phi(x) cancels to ~0, so float evaluation
          // keeps an absolute (not relative) accuracy of a few 1e-8 there.
          expectClose(b.nat[0], b.ref[0], { atol: 2e-7 * 3, rtol: 4e-6 }, `geluBackward ${approx} n=${n}`);
        }
      }
    });

    it('crossEntropy forward and backward with ignored rows and large logits', () => {
      for (const [rows, cols, scale] of [
        [1, 1, 1],
        [7, 5, 1],
        [300, 1000, 50],
        [2, 33, 1],
      ] as const) {
        const logits = randn(rows * cols, rows, scale);
        const targets = randInt(rows, cols, 0, cols);
        for (let r = 2; r < rows; r += 3) targets[r] = -100;
        const count = new Int32Array(1);
        const loss = k.crossEntropy(logits, targets, rows, cols, -100, count);
        const refCount = new Int32Array(1);
        const refLoss = ref.crossEntropy(logits, targets, rows, cols, -100, refCount);
        expect(count[0]).toBe(refCount[0]);
        expect(Math.abs(loss - refLoss), `crossEntropy ${rows}x${cols}`).toBeLessThanOrEqual(1e-6 * (Math.abs(refLoss) + rows));
        const dl = new Float32Array(rows * cols).fill(3);
        const b = both(k, [dl], (kern, d) => kern.crossEntropyBackward(logits, targets, rows, cols, -100, 1 / rows, d));
        expectClose(b.nat[0], b.ref[0], { atol: 1e-9, rtol: 2e-6 }, `crossEntropyBackward ${rows}x${cols}`);
      }
    });

    it('embedding forward and backward with repeated ids', () => {
      for (const [vocab, dim, n] of [
        [1, 1, 1],
        [50, 33, 40],
        [1000, 64, 3000],
      ] as const) {
        const weight = randn(vocab * dim, vocab);
        const ids = randInt(n, dim, 0, vocab);
        const out = new Float32Array(n * dim);
        const f = both(k, [out], (kern, o) => kern.embedding(weight, ids, dim, o));
        expectClose(f.nat[0], f.ref[0], EXACT, `embedding ${vocab}x${dim}`);
        const dy = randn(n * dim, 4);
        const dw = randn(vocab * dim, 8);
        const b = both(k, [dw], (kern, d) => kern.embeddingBackward(dy, ids, dim, d));
        expectClose(b.nat[0], b.ref[0], EXACT, `embeddingBackward ${vocab}x${dim}`);
      }
    });

    it('adam: Adam (L2) and AdamW over several steps', () => {
      for (const n of [1, 17, 1000, 200003]) {
        for (const [mode, wd] of [
          [0, 0],
          [0, 0.01],
          [1, 0.1],
        ] as const) {
          const r = both(k, [randn(n, n), new Float32Array(n), new Float32Array(n)], (kern, p, m, v) => {
            for (let step = 1; step <= 3; step++) {
              const g = randn(n, step * 13 + n, 0.1);
              kern.adam(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, wd, mode, 1 - 0.9 ** step, Math.sqrt(1 - 0.999 ** step));
            }
          });
          expectClose(r.nat[0], r.ref[0], { atol: 1e-7, rtol: 1e-6 }, `adam p mode ${mode} wd ${wd} n=${n}`);
          // m and v sum gradients of both signs over steps, so their error is relative to the
          // terms (g ~ 0.1, g^2 ~ 0.01), not to the possibly cancelled result.
          expectClose(r.nat[1], r.ref[1], { atol: 1e-8, rtol: 1e-6 }, `adam m mode ${mode} n=${n}`);
          expectClose(r.nat[2], r.ref[2], { atol: 1e-11, rtol: 1e-6 }, `adam v mode ${mode} n=${n}`);
        }
      }
    });

    it('half conversions: bit-identical to the reference on random bit patterns', () => {
      const n = 200003;
      const bits = new Uint32Array(n);
      let s = 12345;
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const t = (Math.imul(s ^ (s >>> 13), 2654435761) >>> 0) ^ (i << 7);
        bits[i] = t >>> 0;
      }
      // Concentrate some inputs near the f16 range limits and its subnormals.
      for (let i = 0; i < n; i += 3) bits[i] = (bits[i]! & 0x83ffffff) | ((0x30 + (i % 16)) << 24);
      const x = new Float32Array(bits.buffer);
      const h = both(k, [new Uint16Array(n)], (kern, d) => kern.f32ToF16(x, d));
      expect(h.nat[0]).toEqual(h.ref[0]);
      const bf = both(k, [new Uint16Array(n)], (kern, d) => kern.f32ToBf16(x, d));
      expect(bf.nat[0]).toEqual(bf.ref[0]);
      const all = Uint16Array.from({ length: 65536 + 7 }, (_, i) => i & 0xffff);
      const wide = both(k, [new Float32Array(all.length)], (kern, d) => kern.f16ToF32(all, d));
      expectClose(wide.nat[0], wide.ref[0], EXACT, 'f16ToF32 over all 65536 patterns');
      const wideBf = both(k, [new Float32Array(all.length)], (kern, d) => kern.bf16ToF32(all, d));
      expectClose(wideBf.nat[0], wideBf.ref[0], EXACT, 'bf16ToF32 over all 65536 patterns');
    });

    it.skipIf(!existsSync(GOLDEN))('half conversions: golden edge cases (torch bits)', () => {
      const doc = JSON.parse(readFileSync(path.join(GOLDEN, 'precision/edge_cases.json'), 'utf8')) as {
        cases: { f32_bits: string; f16_bits: string; bf16_bits: string; is_nan: boolean }[];
      };
      const hex = (v: string): number => Number.parseInt(v, 16);
      const x = new Float32Array(Uint32Array.from(doc.cases, (c) => hex(c.f32_bits)).buffer);
      const h = new Uint16Array(x.length);
      const b = new Uint16Array(x.length);
      k.f32ToF16(x, h);
      k.f32ToBf16(x, b);
      doc.cases.forEach((c, i) => {
        if (c.is_nan) {
          expect((h[i]! & 0x7c00) === 0x7c00 && (h[i]! & 0x3ff) !== 0, `f16 NaN case ${c.f32_bits}`).toBe(true);
          expect((b[i]! & 0x7f80) === 0x7f80 && (b[i]! & 0x7f) !== 0, `bf16 NaN case ${c.f32_bits}`).toBe(true);
        } else {
          expect(h[i], `f16 of ${c.f32_bits}`).toBe(hex(c.f16_bits));
          expect(b[i], `bf16 of ${c.f32_bits}`).toBe(hex(c.bf16_bits));
        }
      });
    });
  });

  describe('threads', () => {
    afterAll(() => {
      k.setNumThreads(1);
    });

    it('give the same results with 2 threads as with 1', () => {
      addon._setSimd(initialSimd);
      const run = (): Float32Array[] => {
        const rows = 512;
        const cols = 1031;
        const x = randn(rows * cols, 1, 2);
        const outs: Float32Array[] = [];
        const push = (f: (o: Float32Array) => void, n = rows * cols): void => {
          const o = new Float32Array(n);
          f(o);
          outs.push(o);
        };
        push((o) => k.unary(UnaryOp.Exp, x, o));
        push((o) => k.binary(BinaryOp.Add, Int32Array.from([rows, cols]), x, 0, Int32Array.from([cols, 1]), x, 0, Int32Array.from([0, 1]), o));
        push((o) => k.softmax(x, o, rows, cols));
        push((o) => k.logSoftmax(x, o, rows, cols));
        push((o) => k.causalSoftmax(x, o, 2, 256, 0.3), 2 * 256 * 256);
        push((o) => k.gelu(x, o, 0));
        push((o) => k.gelu(x, o, 1));
        push((o) => k.copyStrided(Int32Array.from([cols, rows]), x, 0, Int32Array.from([1, cols]), o));
        push((o) => k.reduce(0, x, 1, rows, cols, o, null), cols);
        push((o) => k.reduce(1, x, rows, cols, 1, o, null), rows);
        push((o) => k.layerNorm(x, null, null, o, new Float32Array(rows), new Float32Array(rows), rows, cols, 1e-5));
        const dw = new Float32Array(cols);
        const mean = new Float32Array(rows);
        const rstd = new Float32Array(rows);
        k.layerNorm(x, null, null, new Float32Array(rows * cols), mean, rstd, rows, cols, 1e-5);
        push((o) => k.layerNormBackward(x, x, null, mean, rstd, o, dw, null, rows, cols));
        outs.push(dw);
        const p = x.slice();
        const m = new Float32Array(p.length);
        const v = new Float32Array(p.length);
        k.adam(p, x, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, 1, 0.1, 0.03);
        outs.push(p, m, v);
        const c = new Float32Array(256 * 256);
        k.sgemm(false, true, 256, 256, 300, 1, x, cols, 0, x, cols, 0, 0, c, 256, 0, 1);
        outs.push(c);
        const bc = new Float32Array(64 * 16 * 16);
        k.sgemm(false, false, 16, 16, 16, 1, x, 16, 256, x, 16, 256, 0, bc, 16, 256, 64);
        outs.push(bc);
        outs.push(new Float32Array([k.sumAll(x, false), k.sumAll(x, true)]));
        const count = new Int32Array(1);
        outs.push(new Float32Array([k.crossEntropy(x, randInt(rows, 3, 0, cols), rows, cols, -100, count)]));
        return outs;
      };
      k.setNumThreads(1);
      const one = run();
      k.setNumThreads(2);
      expect(k.getNumThreads()).toBe(2);
      expect(k.blasInfo().threads).toBe(2);
      const two = run();
      expect(two.length).toBe(one.length);
      // sgemm may split its sums differently across OpenBLAS threads; everything else is exact.
      one.forEach((o, i) => {
        const isGemm = i === one.length - 5 || i === one.length - 4;
        expectClose(two[i]!, o, isGemm ? { atol: 1e-4, rtol: 1e-5 } : EXACT, `output ${i} with 2 threads`);
      });
    });
  });

  describe('errors', () => {
    it('names the bad argument and value', () => {
      const w = new Float32Array(12);
      const out = new Float32Array(8);
      expect(() => k.embedding(w, new Int32Array([0, 4]), 4, out)).toThrow(RangeError);
      expect(() => k.embedding(w, new Int32Array([0, 4]), 4, out)).toThrow(/ids\[1\] = 4 .*\[0, 3\)/);
      expect(() => k.embedding(w, new Int32Array([-1]), 4, out)).toThrow(/ids\[0\] = -1/);
      expect(() => k.embeddingBackward(out, new Int32Array([3, 0]), 4, w)).toThrow(/ids\[0\] = 3/);
      const count = new Int32Array(1);
      expect(() => k.crossEntropy(new Float32Array(6), new Int32Array([1, 3]), 2, 3, -100, count)).toThrow(RangeError);
      expect(() => k.crossEntropy(new Float32Array(6), new Int32Array([1, 3]), 2, 3, -100, count)).toThrow(/targets\[1\] = 3/);
      expect(() => k.crossEntropyBackward(new Float32Array(6), new Int32Array([-5, 0]), 2, 3, -100, 1, new Float32Array(6))).toThrow(
        /targets\[0\] = -5/,
      );
      expect(() => k.softmax(new Float64Array(4) as unknown as Float32Array, new Float32Array(4), 2, 2)).toThrow(TypeError);
      expect(() => k.softmax(new Float64Array(4) as unknown as Float32Array, new Float32Array(4), 2, 2)).toThrow(
        /'x' must be a Float32Array, got Float64Array/,
      );
      expect(() => k.softmax(new Float32Array(4), new Float32Array(3), 2, 2)).toThrow(/'out' has 3 elements but rows\*cols needs 4/);
      expect(() => k.unary(42 as UnaryOp, new Float32Array(1), new Float32Array(1))).toThrow(/'op' must be an integer in \[0, 9\], got 42/);
      expect(() => k.sgemm(false, false, 2, 2, 2, 1, new Float32Array(4), 1, 0, new Float32Array(4), 2, 0, 0, new Float32Array(4), 2, 0, 1)).toThrow(
        /'lda' = 1/,
      );
      expect(() => k.sgemm(false, false, 2, 2, 2, 1, new Float32Array(4), 2, 4, new Float32Array(4), 2, 0, 0, new Float32Array(4), 2, 0, 2)).toThrow(
        /'a' has 4 elements/,
      );
      expect(() => k.binary(BinaryOp.Add, Int32Array.from([3]), new Float32Array(2), 0, Int32Array.from([1]), new Float32Array(3), 0, Int32Array.from([1]), new Float32Array(3))).toThrow(
        /'a' has 2 elements but the view reaches indices 0 to 2/,
      );
      expect(() => k.setNumThreads(0)).toThrow(RangeError);
      expect(() => (k.adam as (...a: unknown[]) => void)(new Float32Array(1))).toThrow(/12 arguments expected, got 1/);
    });
  });
});
