// The mixed-precision step end to end on small models, driven the way the engine drives it:
// fp16 with dynamic and static loss scaling (skipped steps leave everything untouched), the
// unscale scale (DeepSpeed #2686), clipping, bf16 masters tracking an fp32 run, non-finite bf16.
import { describe, expect, it } from 'vitest';
import { manualSeed, nn, noGrad, optim, randn, Tensor, type optim as Optim } from '@ds/core';
import { initDistributed } from '@ds/comm';
import { DynamicLossScaler, NonFiniteGradientError, precision, StaticLossScaler } from '@ds/precision';
import { bits, data, f32, localGradNorm, makeContext, makeParts, mlp, mse, setHalfGrad, trainStep } from './parts.js';

const world = await initDistributed();

function snapshotAdam(opt: Optim.Optimizer<object>): unknown[] {
  return [...opt.state.values()].map((st) => Object.fromEntries(Object.entries(st).map(([k, v]) => [k, v instanceof Tensor ? f32(v) : v])));
}

describe('precision({ dtype: "float16" }) with dynamic loss scaling', () => {
  it('an inf gradient skips the step: scale halves, parameters, masters and optimizer state unchanged', async () => {
    const model = mlp(2);
    const { x, y } = data(3);
    const opt = new optim.AdamW(model.parameters(), { lr: 1e-2 });
    const parts = makeParts(model, opt);
    const ctx = makeContext(world);
    precision({ dtype: 'float16', lossScaler: { initScale: 4096, hysteresis: 1 } }).apply(parts, ctx);
    const loss = (): Tensor => mse(model.call(x), y);
    const half = model.parameters();
    const masters = opt.paramGroups[0]!.params;

    const before0 = half.map(bits);
    const r0 = await trainStep(parts, loss);
    expect(r0).toMatchObject({ applied: true, gradNorm: null });
    expect(half.map(bits)).not.toEqual(before0);
    // the 16-bit parameters are the masters rounded to nearest even
    half.forEach((p, i) => expect(f32(p)).toEqual(f32(masters[i]!.to('float16'))));

    const halfBefore = half.map(bits);
    const mastersBefore = masters.map(f32);
    const adamBefore = snapshotAdam(opt);
    const r1 = await trainStep(parts, loss, () => setHalfGrad(half[2]!, 5, 0x7c00));
    expect(r1).toMatchObject({ applied: false, gradNorm: null });
    expect(parts.lossScale.scale).toBe(2048);
    expect(half.map(bits)).toEqual(halfBefore);
    expect(masters.map(f32)).toEqual(mastersBefore);
    expect(snapshotAdam(opt)).toEqual(adamBefore);
    expect([...half, ...masters].every((p) => p.grad === null)).toBe(true);
    expect(ctx.logs.join('\n')).toContain('step 2: gradient overflow, skipping the step; attempted loss scale 4096, reducing to 2048');

    const r2 = await trainStep(parts, loss);
    expect(r2.applied).toBe(true);
    expect(r2.loss).toBeLessThan(r0.loss);
    expect(opt.state.get(masters[0]!)!.step).toBe(2);
    expect(half.map(bits)).not.toEqual(halfBefore);
  });

  it('with the default hysteresis 2 the first overflow skips without lowering the scale, a NaN counts too', async () => {
    const model = mlp(4);
    const { x, y } = data(5);
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 0.1 }));
    const ctx = makeContext(world);
    precision({ dtype: 'float16' }).apply(parts, ctx);
    const loss = (): Tensor => mse(model.call(x), y);
    const w = model.parameters()[0]!;
    const r = await trainStep(parts, loss, () => setHalfGrad(w, 0, 0x7e00));
    expect([r.applied, parts.lossScale.scale, (parts.lossScale as DynamicLossScaler).curHysteresis]).toEqual([false, 65536, 1]);
    expect(ctx.logs.at(-1)).toContain('loss scale stays 65536 (hysteresis: 1 more overflow(s) before it drops)');
    const r2 = await trainStep(parts, loss, () => setHalfGrad(w, 0, 0xfc00));
    expect([r2.applied, parts.lossScale.scale]).toEqual([false, 32768]);
  });
});

describe('unscaling uses the scale the gradients were produced with (DeepSpeed issue #2686)', () => {
  it('on steps where the dynamic scale was just raised, the update is not halved', async () => {
    const model = mlp(26);
    const { x, y } = data(27);
    const opt = new optim.SGD(model.parameters(), { lr: 0.5 });
    const parts = makeParts(model, opt);
    // window 1: the scale doubles after every clean step, so every step unscales a fresh scale
    precision({ dtype: 'float16', lossScaler: { initScale: 256, scaleWindow: 1 } }).apply(parts, makeContext(world));
    const masters = opt.paramGroups[0]!.params;
    for (let s = 0; s < 3; s++) {
      const scale = parts.lossScale.scale;
      expect(scale).toBe(256 * 2 ** s);
      const before = masters.map(f32);
      let grads: number[][] = [];
      await trainStep(parts, () => mse(model.call(x), y), () => {
        grads = model.parameters().map((p) => f32(p.grad!));
      });
      const inv = Math.fround(1 / scale);
      masters.forEach((m, i) => {
        const want = before[i]!.map((v, k) => Math.fround(v - Math.fround(0.5 * Math.fround(grads[i]![k]! * inv))));
        f32(m).forEach((v, k) => expect(Math.abs(v - want[k]!), `step ${s} param ${i}[${k}]`).toBeLessThanOrEqual(1e-7 * Math.max(1, Math.abs(want[k]!))));
      });
    }
  });
});

describe('precision({ dtype: "float16" }) with a static loss scale', () => {
  // d loss / dW of mean(x W^T) * 2^-26 is ~4e-9 per element: below float16's smallest subnormal
  // (6e-8), so it flushes to zero unless the loss is scaled.
  const tiny = 2 ** -26;
  async function oneStep(scale: number): Promise<{ delta: number[]; expected: number[]; applied: boolean; scaleAfter: number }> {
    manualSeed(6);
    const model = new nn.Linear(4, 1, { bias: false });
    const x = randn([4, 4]);
    // lr 2^20 makes the update visible in a float32 master of magnitude ~0.5
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 2 ** 20 }));
    precision({ dtype: 'float16', lossScaler: scale }).apply(parts, makeContext(world));
    const master = parts.optimizer!.paramGroups[0]!.params[0]!;
    const before = f32(master);
    const r = await trainStep(parts, () => model.call(x).mean().mul(tiny));
    const xs = f32(x);
    const expected = [0, 1, 2, 3].map((j) => ((xs[j]! + xs[4 + j]! + xs[8 + j]! + xs[12 + j]!) / 4) * tiny * 2 ** 20);
    return { delta: f32(master).map((v, i) => before[i]! - v), expected, applied: r.applied, scaleAfter: parts.lossScale.scale };
  }

  it('recovers gradients that float16 alone flushes to zero, unscaled with the same scale', async () => {
    const scaled = await oneStep(2 ** 16);
    expect(scaled.applied).toBe(true);
    expect(scaled.scaleAfter).toBe(2 ** 16);
    scaled.delta.forEach((d, i) => expect(Math.abs(d - scaled.expected[i]!)).toBeLessThanOrEqual(2e-3 * Math.abs(scaled.expected[i]!)));
    const unscaled = await oneStep(1);
    expect(unscaled.delta).toEqual([0, 0, 0, 0]);
  });

  it('skips an overflowing step and keeps the scale', async () => {
    const model = mlp(7);
    const { x, y } = data(8);
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 0.1 }));
    const ctx = makeContext(world);
    precision({ dtype: 'float16', lossScaler: 128 }).apply(parts, ctx);
    expect(parts.lossScale).toBeInstanceOf(StaticLossScaler);
    const before = model.parameters().map(bits);
    const r = await trainStep(parts, () => mse(model.call(x), y), () => setHalfGrad(model.parameters()[1]!, 0, 0x7c00));
    expect([r.applied, parts.lossScale.scale]).toEqual([false, 128]);
    expect(model.parameters().map(bits)).toEqual(before);
    expect(ctx.logs.at(-1)).toContain('static loss scale 128');
  });
});

describe('gradient clipping under fp16', () => {
  it('clips the unscaled fp32 gradients by min(1, c / (norm + 1e-6)) and reports the unclipped norm', async () => {
    const model = mlp(9);
    const { x, y } = data(10);
    const opt = new optim.SGD(model.parameters(), { lr: 1 });
    const parts = makeParts(model, opt);
    const seen: number[][] = [];
    parts.gradNorm = (grads) => {
      seen.push(...grads.map(f32));
      return localGradNorm(grads);
    };
    const clip = 0.01;
    precision({ dtype: 'float16', lossScaler: 1024 }).apply(parts, makeContext(world, clip));
    const masters = opt.paramGroups[0]!.params;
    const before = masters.map(f32);
    let halfGrads: number[][] = [];
    const r = await trainStep(parts, () => mse(model.call(x), y), () => {
      halfGrads = model.parameters().map((p) => f32(p.grad!));
    });
    expect(r.applied).toBe(true);
    // the norm was taken over the unscaled gradients: float16 values times float32(1/1024), exactly
    expect(seen).toEqual(halfGrads.map((g) => g.map((v) => Math.fround(v * Math.fround(1 / 1024)))));
    const norm = Math.fround(Math.sqrt(seen.flat().reduce((s, v) => s + v * v, 0)));
    expect(r.gradNorm).toBe(norm);
    const coef = Math.fround(clip / (norm + 1e-6));
    expect(coef).toBeLessThan(1);
    masters.forEach((m, i) => {
      const got = f32(m);
      got.forEach((v, k) => expect(Math.abs(before[i]![k]! - v - coef * seen[i]![k]!)).toBeLessThanOrEqual(1e-7));
    });
  });
});

describe('precision({ dtype: "bfloat16" })', () => {
  it('tracks an fp32 run: losses within 3% and masters within 0.02 over 30 AdamW steps', async () => {
    const { x, y } = data(11);
    const ref = mlp(12);
    const refOpt = new optim.AdamW(ref.parameters(), { lr: 1e-2 });
    const model = mlp(12);
    const opt = new optim.AdamW(model.parameters(), { lr: 1e-2 });
    const parts = makeParts(model, opt);
    precision({ dtype: 'bfloat16' }).apply(parts, makeContext(world));
    expect(parts.lossScale.scale).toBe(1);
    for (let s = 0; s < 30; s++) {
      refOpt.zeroGrad();
      const refLoss = mse(ref.call(x), y);
      refLoss.backward();
      refOpt.step();
      const r = await trainStep(parts, () => mse(model.call(x), y));
      expect(r.applied).toBe(true);
      expect(Math.abs(r.loss - refLoss.item()), `step ${s}`).toBeLessThanOrEqual(0.03 * refLoss.item());
    }
    const masters = opt.paramGroups[0]!.params;
    ref.parameters().forEach((p, i) => {
      const a = f32(p);
      f32(masters[i]!).forEach((v, k) => expect(Math.abs(v - a[k]!)).toBeLessThanOrEqual(0.02));
    });
  });

  it('accumulates updates smaller than bfloat16 resolution in the fp32 masters', async () => {
    const model = new nn.Linear(1, 1, { bias: false });
    noGrad(() => model.weight.fill_(1));
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 1e-3 }));
    precision({ dtype: 'bfloat16' }).apply(parts, makeContext(world));
    const x = new Tensor(new Float32Array([1]), [1, 1], 'float32');
    const master = parts.optimizer!.paramGroups[0]!.params[0]!;
    // d(mean(x w))/dw = 1: each step moves w by 1e-3, under half a bfloat16 ulp at 1 (0.0039)
    for (let s = 0; s < 10; s++) await trainStep(parts, () => model.call(x).mean());
    expect(master.item()).toBeCloseTo(0.99, 6);
    expect(model.weight.item()).toBe(0.98828125); // bfloat16 nearest to 0.99; pure bf16 updates would stay at 1
  });

  it('a non-finite gradient is an error naming the step and the parameter', async () => {
    const model = mlp(13);
    const { x, y } = data(14);
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 0.1 }));
    precision({ dtype: 'bfloat16' }).apply(parts, makeContext(world));
    await trainStep(parts, () => mse(model.call(x), y));
    const err = await trainStep(parts, () => mse(model.call(x), y), () => setHalfGrad(model.parameters()[2]!, 3, 0x7fc0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteGradientError);
    expect((err as Error).message).toContain("non-finite (inf or NaN) gradient at step 2: the first parameter with one is '2.weight' (shape [2, 8])");
    expect((err as Error).message).toContain('bf16.nonfinite to "skip"');
  });

  it('with nonfinite: "skip" the step is skipped and nothing changes', async () => {
    const model = mlp(15);
    const { x, y } = data(16);
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 0.1 }));
    const ctx = makeContext(world);
    precision({ dtype: 'bfloat16', nonfinite: 'skip' }).apply(parts, ctx);
    const before = model.parameters().map(bits);
    const r = await trainStep(parts, () => mse(model.call(x), y), () => setHalfGrad(model.parameters()[0]!, 0, 0xff80));
    expect([r.applied, parts.lossScale.scale]).toEqual([false, 1]);
    expect(model.parameters().map(bits)).toEqual(before);
    expect(ctx.logs.at(-1)).toContain('step 1: non-finite (inf/NaN) gradient, skipping the step');
    expect((await trainStep(parts, () => mse(model.call(x), y))).applied).toBe(true);
  });
});
