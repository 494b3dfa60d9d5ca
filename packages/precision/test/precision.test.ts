// applyPrecision / precision(): the model cast in place, fp32 masters swapped into the
// optimizer, checkpoint state registered, parameter metadata and identity kept, option errors.
import { describe, expect, it } from 'vitest';
import { manualSeed, nn, optim, randn, type Tensor } from '@ds/core';
import { initDistributed } from '@ds/comm';
import { reduceGroupOf, setReduceGroup } from '@ds/strategy';
import { applyPrecision, MasterWeights, MixedPrecisionUpdater, precision } from '@ds/precision';
import { f32, makeContext, makeParts, mlp, trainStep } from './parts.js';

const world = await initDistributed();

describe('applyPrecision', () => {
  it('casts the model in place, keeps fp32 masters in the optimizer and registers checkpoint state', () => {
    const model = mlp(1);
    const original = model.parameters().map((p) => p.toFloat32Array());
    const weightField = (model.children()[0] as nn.Linear).weight;
    const opt = new optim.AdamW(model.parameters(), { lr: 1e-2 });
    const parts = makeParts(model, opt);
    const ctx = makeContext(world);
    const applied = applyPrecision(parts, ctx, { dtype: 'float16' });

    const params = model.parameters();
    expect(params.map((p) => p.dtype)).toEqual(['float16', 'float16', 'float16', 'float16']);
    // identity kept: the module field is the cast parameter
    expect(params[0]).toBe(weightField);
    const masters = opt.paramGroups[0]!.params;
    expect(masters.map((m) => m.dtype)).toEqual(['float32', 'float32', 'float32', 'float32']);
    masters.forEach((m, i) => {
      expect(m).not.toBe(params[i]);
      // masters start from the float16 values (as DeepSpeed's do), not the float32 originals
      expect(f32(m)).toEqual(f32(params[i]!));
      expect(f32(m)).not.toEqual(Array.from(original[i]!));
    });
    expect(parts.lossScale).toBe(applied.scaler);
    expect(parts.lossScale.scale).toBe(65536);
    expect(parts.updater).toBeInstanceOf(MixedPrecisionUpdater);
    expect(parts.state.get('loss_scaler')).toBe(applied.scaler);
    expect(parts.state.get('fp32_master_weights')).toBeInstanceOf(MasterWeights);
    expect(applied.masters!.pairs.map((p) => p.name)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(ctx.logs.join('\n')).toContain('float16: 4 parameters with fp32 master weights; loss scale: dynamic (initial 65536, window 1000, hysteresis 2, min 1)');
  });

});

describe('parameters keep what other strategies attached', () => {
  it('a reduction group set on a parameter is on its half and its master', () => {
    const model = mlp(20);
    const [w] = model.parameters();
    setReduceGroup(w!, world);
    w!.meta.tensorParallel = true;
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 0.1 }));
    applyPrecision(parts, makeContext(world), { dtype: 'bfloat16' });
    const master = parts.optimizer!.paramGroups[0]!.params[0]!;
    const other = {} as typeof world;
    expect(reduceGroupOf(w!, other)).toBe(world);
    expect(reduceGroupOf(master, other)).toBe(world);
    expect(master.meta.tensorParallel).toBe(true);
    expect(reduceGroupOf(parts.optimizer!.paramGroups[0]!.params[1]!, other)).toBe(other);
  });

  it('a tied parameter is cast once and gets one master; hooks registered before stay', async () => {
    manualSeed(21);
    const a = new nn.Linear(3, 3, { bias: false });
    const b = new nn.Linear(3, 3, { bias: false });
    b.setParameter('weight', a.weight);
    const model = new nn.Sequential(a, b);
    // b's field still names its own (now unregistered) weight; forward through registered ones
    const hookCalls: number[] = [];
    a.weight.registerPostAccumulateGradHook(() => void hookCalls.push(1));
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 0.1 }));
    const applied = applyPrecision(parts, makeContext(world), { dtype: 'float16', lossScaler: 1024 });
    expect(applied.masters!.pairs.map((p) => p.name)).toEqual(['0.weight']);
    expect(model.getOwn('0') instanceof nn.Linear).toBe(true);
    expect((b.getOwn('weight') as Tensor).dtype).toBe('float16');
    const x = randn([2, 3]);
    const r = await trainStep(parts, () => a.call(x).sum());
    expect(r.applied).toBe(true);
    expect(hookCalls.length).toBe(1);
  });
});

describe('options and wiring', () => {
  it('autoCast casts float32 inputs of forward to the half dtype', () => {
    const model = mlp(22);
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 0.1 }));
    precision({ dtype: 'float16', autoCast: true }).apply(parts, makeContext(world));
    const out = model.call(randn([2, 4])) as Tensor;
    expect(out.dtype).toBe('float16');
  });

  it('without an optimizer the model is cast and the engine is warned', () => {
    const model = mlp(23);
    const parts = makeParts(model, null);
    const ctx = makeContext(world);
    const r = applyPrecision(parts, ctx, { dtype: 'bfloat16' });
    expect([r.masters, r.updater]).toEqual([null, null]);
    expect(model.parameters()[0]!.dtype).toBe('bfloat16');
    expect(ctx.warnings[0]).toContain('no optimizer, so no fp32 master weights');
  });

  it('applying twice is an error', () => {
    const model = mlp(24);
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 0.1 }));
    precision({ dtype: 'float16' }).apply(parts, makeContext(world));
    expect(() => precision({ dtype: 'bfloat16' }).apply(parts, makeContext(world))).toThrow('mixed precision is already applied');
  });

  it('bad options name the key and what is valid', () => {
    expect(() => precision({ dtype: 'fp16' as 'float16' })).toThrow(`precision: 'dtype' must be 'float16' or 'bfloat16', got string "fp16"`);
    expect(() => precision({ dtype: 'bfloat16', lossScaler: 128 })).toThrow("'lossScaler' applies to float16 only");
    expect(() => precision({ dtype: 'float16', nonfinite: 'skip' })).toThrow("'nonfinite' applies to bfloat16 only");
    expect(() => precision({ dtype: 'bfloat16', nonfinite: 'ignore' as 'skip' })).toThrow(`'nonfinite' must be 'error' or 'skip', got string "ignore"`);
    expect(() => precision({ dtype: 'float16', lossScale: 4 } as unknown as { dtype: 'float16' })).toThrow("unknown precision() option 'lossScale' (did you mean 'lossScaler'?)");
    expect(() => precision({ dtype: 'float16', lossScaler: 0 })).not.toThrow();
    const model = mlp(25);
    const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 0.1 }));
    expect(() => precision({ dtype: 'float16', lossScaler: 0 }).apply(parts, makeContext(world))).toThrow("StaticLossScaler: 'scale' must be a positive finite number");
  });
});
