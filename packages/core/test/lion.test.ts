// Lion: hand-computed trajectories (dyadic values, so every step is exact in float32 and bf16),
// the native `lion` kernel against the reference bit for bit, state dicts and argument errors.
import { afterAll, describe, expect, it } from 'vitest';
import { nn, optim, tensor, type Tensor } from '../src/index.js';
import { loadNativeKernels, nativeAddon, nativeLoadError } from '../src/kernels/native.js';
import { referenceKernels as ref } from '../src/kernels/reference.js';
import { KERNEL_MODES, withKernels } from './unit-helpers.js';

const native = loadNativeKernels();
if (!native) console.warn(`lion.test.ts: skipping native lion tests: ${nativeLoadError() ?? 'not loaded'}`);

function param(values: number[], dtype: 'float32' | 'bfloat16' = 'float32'): nn.Parameter {
  return new nn.Parameter(tensor(Float32Array.from(values), { dtype }));
}

const values = (t: Tensor): number[] => Array.from(t.float().contiguous().data<'float32'>());

/** The state tensor `key` of p as numbers. */
function state(opt: optim.Lion, p: Tensor, key: string): number[] {
  const v = opt.state.get(p)?.[key];
  if (!(v instanceof Object) || typeof v === 'number') throw new Error(`no tensor state '${key}'`);
  return values(v as Tensor);
}

// lr 0.125, betas [0.5, 0.75]. Step 1 (m = 0): c = g/2 = [0.25, -0.5, 0, 1], and the third
// entry, with a zero gradient, stays put. Step 2: g = -m1 (scaled) on three entries, so
// c = (m + g)/2 is exactly 0 there with m and g both non-zero: only the third entry moves.
const P0 = [1, -2, 0.5, 3];
const GRADS = [
  [0.5, -1, 0, 2],
  [-0.125, 0.25, 4, -0.5],
  [-1, 0, -4, 0],
];
const TRAJECTORY = [
  { p: [0.875, -1.875, 0.5, 2.875], m: [0.125, -0.25, 0, 0.5] },
  { p: [0.875, -1.875, 0.375, 2.875], m: [0.0625, -0.125, 1, 0.25] },
  // c = [-0.46875, -0.0625, -1.5, 0.125]
  { p: [1, -1.75, 0.5, 2.75], m: [-0.203125, -0.09375, -0.25, 0.1875] },
];
// The same with weightDecay 0.5: p is first scaled by 1 - 0.125 * 0.5 = 0.9375.
const DECAYED = [
  [0.8125, -1.75, 0.46875, 2.6875],
  [0.76171875, -1.640625, 0.314453125, 2.51953125],
];

for (const mode of KERNEL_MODES) {
  describe(`Lion on ${mode} kernels`, () => {
    withKernels(mode);

    for (const dtype of ['float32', 'bfloat16'] as const) {
      it(`follows the hand-computed trajectory, c == 0 included (${dtype} parameters)`, () => {
        const p = param(P0, dtype);
        const opt = new optim.Lion([p], { lr: 0.125, betas: [0.5, 0.75] });
        GRADS.forEach((g, i) => {
          p.grad = tensor(Float32Array.from(g), { dtype });
          opt.step();
          expect(values(p), `p after step ${i + 1}`).toEqual(TRAJECTORY[i]!.p);
          expect(state(opt, p, 'expAvg'), `expAvg after step ${i + 1}`).toEqual(TRAJECTORY[i]!.m);
          expect(opt.state.get(p)!.step).toBe(i + 1);
        });
        expect(p.dtype).toBe(dtype);
      });
    }

    it('applies decoupled weight decay before the signed step', () => {
      const p = param(P0);
      const opt = new optim.Lion([p], { lr: 0.125, betas: [0.5, 0.75], weightDecay: 0.5 });
      DECAYED.forEach((want, i) => {
        p.grad = tensor(Float32Array.from(GRADS[i]!));
        opt.step();
        expect(values(p), `p after step ${i + 1}`).toEqual(want);
      });
      // Weight decay does not enter the momentum.
      expect(state(opt, p, 'expAvg')).toEqual(TRAJECTORY[1]!.m);
    });

    it('moves every parameter by exactly lr per step, whatever the gradient scale', () => {
      const p = param([0, 0, 0]);
      const opt = new optim.Lion([p], { lr: 0.25 });
      p.grad = tensor([1e-30, -1e30, 3]);
      opt.step();
      expect(values(p)).toEqual([-0.25, 0.25, -0.25]);
    });

    it('skips parameters without a gradient and keeps per-group hyperparameters', () => {
      const a = param([1, 1]);
      const b = param([1, 1]);
      const c = param([1]);
      const opt = new optim.Lion([{ params: [a, c] }, { params: [b], lr: 0.5 }], { lr: 0.25 });
      a.grad = tensor([1, -1]);
      b.grad = tensor([1, -1]);
      opt.step();
      expect(values(a)).toEqual([0.75, 1.25]);
      expect(values(b)).toEqual([0.5, 1.5]);
      expect(values(c)).toEqual([1]);
      expect(opt.state.has(c)).toBe(false);
    });

    it('round-trips its state dict: a restored optimizer continues identically', () => {
      const grads = [[0.3, -0.7, 0.1], [-0.2, 0.5, 0.9], [0.05, 0.05, -1]];
      const p = param([0.1, 0.2, 0.3]);
      const opt = new optim.Lion([p], { lr: 0.01, betas: [0.8, 0.95], weightDecay: 0.1 });
      for (const g of grads.slice(0, 2)) {
        p.grad = tensor(g);
        opt.step();
      }
      const sd = opt.stateDict();
      expect(sd.paramGroups).toEqual([{ lr: 0.01, betas: [0.8, 0.95], weightDecay: 0.1, params: [0] }]);
      expect(Object.keys(sd.state[0]!).sort()).toEqual(['expAvg', 'step']);
      expect(sd.state[0]!.step).toBe(2);

      const q = param(values(p));
      const restored = new optim.Lion([q]);
      restored.loadStateDict(sd);
      expect(restored.paramGroups[0]!.lr).toBe(0.01);
      expect(restored.paramGroups[0]!.betas).toEqual([0.8, 0.95]);
      p.grad = tensor(grads[2]!);
      q.grad = tensor(grads[2]!);
      opt.step();
      restored.step();
      expect(values(q)).toEqual(values(p));
      expect(state(restored, q, 'expAvg')).toEqual(state(opt, p, 'expAvg'));
      expect(restored.state.get(q)!.step).toBe(3);
      // The loaded momentum is a copy, not the source optimizer's buffer.
      expect(restored.state.get(q)!.expAvg).not.toBe(opt.state.get(p)!.expAvg);
    });
  });
}

describe('Lion options', () => {
  const p = (): nn.Parameter => param([1, 2]);

  it("defaults to DeepSpeed's FusedLion hyperparameters", () => {
    expect(new optim.Lion([p()]).defaults).toEqual({ lr: 1e-3, betas: [0.9, 0.999], weightDecay: 0 });
  });

  it('rejects bad hyperparameters with the key, the value and what is valid', () => {
    expect(() => new optim.Lion([p()], { lr: -1 })).toThrow(/^Lion: lr must be >= 0, got -1$/);
    expect(() => new optim.Lion([p()], { lr: Number.NaN })).toThrow(/Lion: lr must be a number, got number NaN/);
    expect(() => new optim.Lion([p()], { betas: [0.9] as unknown as [number, number] })).toThrow(
      /Lion: betas must be a pair \[beta1, beta2\], got an array/,
    );
    expect(() => new optim.Lion([p()], { betas: [0.9, 1.5] })).toThrow(
      /Lion: invalid beta parameter at index 1: 1.5 \(expected 0 <= beta <= 1\)/,
    );
    expect(() => new optim.Lion([p()], { betas: [-0.1, 0.99] })).toThrow(RangeError);
    expect(() => new optim.Lion([p()], { weightDecay: -0.1 })).toThrow(/Lion: weightDecay must be >= 0, got -0.1/);
    expect(() => new optim.Lion([{ params: [p()] }, { params: [p()], betas: [1.2, 0.9] }])).toThrow(
      /index 0: 1.2 \(expected 0 <= beta <= 1\) \(param group 1\)/,
    );
  });

  it('suggests the option meant by a typo and lists the valid ones otherwise', () => {
    expect(() => new optim.Lion([p()], { weight_decay: 0.1 } as optim.LionOptions)).toThrow(
      /Lion: unknown option 'weight_decay' \(did you mean 'weightDecay'\?\)/,
    );
    expect(() => new optim.Lion([p()], { amsgrad: true } as optim.LionOptions)).toThrow(
      /Lion: unknown option 'amsgrad'; valid options are 'lr', 'betas', 'weightDecay'/,
    );
  });

  it('rejects a gradient of another shape', () => {
    const w = p();
    const opt = new optim.Lion([w]);
    w.grad = tensor([1, 2, 3]);
    expect(() => opt.step()).toThrow(/Lion: the gradient of param group 0 params\[0\] has shape \[3\] but the parameter has shape \[2\]/);
  });
});

// ------------------------------------------------------------------ the kernel

/** Deterministic values in [-1, 1) (an LCG), with exact cancellations and special values mixed in. */
function inputs(n: number, seed: number): { p: Float32Array; g: Float32Array; m: Float32Array } {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2147483648 - 1;
  };
  const p = Float32Array.from({ length: n }, next);
  const m = Float32Array.from({ length: n }, () => next() * 0.1);
  const g = Float32Array.from({ length: n }, next);
  for (let i = 0; i < n; i += 3) g[i] = -9 * m[i]!; // beta1 = 0.9: c = 0.9 m + 0.1 g cancels to rounding
  for (let i = 1; i < n; i += 11) g[i] = -m[i]!;
  const specials = [0, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e-40];
  specials.forEach((v, j) => {
    if (5 * j + 2 < n) {
      g[5 * j + 2] = v;
      m[5 * j + 2] = j % 2 ? -0 : 0;
    }
  });
  return { p, g, m };
}

describe.skipIf(!native)('native lion kernel', () => {
  const k = native!;
  const addon = nativeAddon()!;
  const initialSimd = k.simd();
  const initialThreads = k.getNumThreads();
  afterAll(() => {
    addon._setSimd(initialSimd);
    k.setNumThreads(initialThreads);
  });

  it.each(['avx512', 'avx2', 'scalar'] as const)('matches the reference bit for bit at SIMD level %s', (level) => {
    addon._setSimd(level);
    for (const threads of [1, 2]) {
      k.setNumThreads(threads);
      for (const n of [1, 7, 8, 9, 17, 1000, 200_003]) {
        for (const [lr, b1, b2, wd] of [[1e-4, 0.9, 0.99, 0], [3e-3, 0.9, 0.999, 0.1], [0.5, 0, 1, 1]] as const) {
          const a = inputs(n, n + 1);
          const r = { p: a.p.slice(), g: a.g, m: a.m.slice() };
          k.lion(a.p, a.g, a.m, lr, b1, b2, wd);
          ref.lion(r.p, r.g, r.m, lr, b1, b2, wd);
          const what = `n=${n} lr=${lr} betas=${b1},${b2} wd=${wd} threads=${threads}`;
          expect(a.p, `p ${what}`).toEqual(r.p);
          expect(a.m, `m ${what}`).toEqual(r.m);
        }
      }
    }
  });

  it('gives sign(+-0) = +-0 and sign(NaN) = NaN', () => {
    const p = new Float32Array([1, 1, 1, 1]);
    const m = new Float32Array([0, -0, 0, Number.NaN]);
    k.lion(p, new Float32Array([0, -0, Number.NaN, 1]), m, 0.5, 0.9, 0.99, 0);
    expect(Array.from(p)).toEqual([1, 1, Number.NaN, Number.NaN]);
    expect(Object.is(m[1], -0)).toBe(true);
  });

  it('names the bad argument', () => {
    const f = new Float32Array(4);
    expect(() => k.lion(f, new Float32Array(3), f.slice(), 1e-3, 0.9, 0.99, 0)).toThrow(/lion: 'g' has 3 elements but p.length needs 4/);
    expect(() => k.lion(f, f.slice(), new Float32Array(2), 1e-3, 0.9, 0.99, 0)).toThrow(/'m' has 2 elements but p.length needs 4/);
    expect(() => k.lion(f, f.slice(), f.slice(), '1e-3' as unknown as number, 0.9, 0.99, 0)).toThrow(/'lr' must be a number, got string/);
    expect(() => (k.lion as (...a: unknown[]) => void)(f)).toThrow(/7 arguments expected, got 1/);
  });
});
