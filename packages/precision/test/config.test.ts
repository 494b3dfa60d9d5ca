// The fp16 / bf16 config sections: DeepSpeed keys and defaults, the strategy they build, and
// errors that name the key's path.
import { describe, expect, it } from 'vitest';
import { nn, optim } from '@ds/core';
import { initDistributed } from '@ds/comm';
import { DynamicLossScaler, parsePrecisionConfig, precisionFromConfig, precisionOptionsFrom, StaticLossScaler } from '@ds/precision';
import { makeContext, makeParts } from './parts.js';

describe('parsePrecisionConfig', () => {
  it('is null for fp32 runs (no section, or sections not enabled)', () => {
    expect(parsePrecisionConfig({})).toBeNull();
    expect(parsePrecisionConfig({ fp16: { enabled: false, loss_scale: 0 }, bf16: { enabled: false } })).toBeNull();
    expect(precisionFromConfig({ train_batch_size: 8 })).toBeNull();
  });

  it('fills DeepSpeed defaults for fp16', () => {
    expect(parsePrecisionConfig({ fp16: { enabled: true } })).toEqual({
      dtype: 'float16', autoCast: false, lossScale: 0, initialScalePower: 16, lossScaleWindow: 1000, hysteresis: 2,
      consecutiveHysteresis: false, minLossScale: 1, nonfinite: 'error', gradAccumDtype: 'float16',
    });
  });

  it('maps every fp16 key into dynamic scaler options (one semantics, no 2^32 default)', () => {
    const c = parsePrecisionConfig({
      fp16: { enabled: true, initial_scale_power: 8, loss_scale_window: 2, hysteresis: 3, consecutive_hysteresis: true, min_loss_scale: 0.25, auto_cast: true },
    })!;
    expect(precisionOptionsFrom(c)).toEqual({
      dtype: 'float16', autoCast: true, gradAccumDtype: 'float16',
      lossScaler: { initScale: 256, scaleWindow: 2, hysteresis: 3, consecutiveHysteresis: true, minScale: 0.25 },
    });
    expect(precisionOptionsFrom(parsePrecisionConfig({ fp16: { enabled: true, loss_scale: 138 } })!).lossScaler).toBe(138);
  });

  it('reads bf16 and its legacy alias bfloat16 (bf16 wins when both are present)', () => {
    expect(parsePrecisionConfig({ bf16: { enabled: true } })?.dtype).toBe('bfloat16');
    expect(parsePrecisionConfig({ bfloat16: { enabled: true, nonfinite: 'skip' } })).toMatchObject({ dtype: 'bfloat16', nonfinite: 'skip' });
    expect(parsePrecisionConfig({ bf16: { enabled: false }, bfloat16: { enabled: true } })).toBeNull();
    expect(precisionOptionsFrom(parsePrecisionConfig({ bf16: { enabled: true, immediate_grad_update: true } })!)).toEqual({ dtype: 'bfloat16', nonfinite: 'error', gradAccumDtype: 'float32' });
  });

  it('reads data_types.grad_accum_dtype: fp32 for bf16 without ZeRO by default, the model dtype otherwise', () => {
    const accum = (config: Record<string, unknown>) => parsePrecisionConfig(config)!.gradAccumDtype;
    expect(accum({ bf16: { enabled: true } })).toBe('float32');
    expect(accum({ bf16: { enabled: true }, data_types: { grad_accum_dtype: 'torch.bfloat16' } })).toBe('bfloat16');
    expect(accum({ bf16: { enabled: true }, data_types: { grad_accum_dtype: null } })).toBe('float32');
    expect(accum({ fp16: { enabled: true }, data_types: { grad_accum_dtype: 'float' } })).toBe('float32');
    // ZeRO accumulates gradients itself: precision leaves them in the model dtype.
    expect(accum({ bf16: { enabled: true }, zero_optimization: { stage: 1 } })).toBe('bfloat16');
    expect(accum({ bf16: { enabled: true }, zero_optimization: { stage: 2 }, data_types: { grad_accum_dtype: 'fp32' } })).toBe('bfloat16');
    expect(() => accum({ bf16: { enabled: true }, data_types: { grad_accum_dtype: 'fp64' } }))
      .toThrow('data_types.grad_accum_dtype must be "fp32", "fp16" or "bf16" (or null), got string "fp64"');
  });

  it('names the key path, what was wrong and what is valid', () => {
    expect(() => parsePrecisionConfig({ fp16: { enabled: true, los_scale: 1 } })).toThrow("unknown config key 'fp16.los_scale' (did you mean 'loss_scale'?)");
    expect(() => parsePrecisionConfig({ bf16: { enable: true } })).toThrow("unknown config key 'bf16.enable' (did you mean 'enabled'?)");
    expect(() => parsePrecisionConfig({ fp16: { enabled: 'yes' } })).toThrow('fp16.enabled must be true or false, got string "yes"');
    expect(() => parsePrecisionConfig({ fp16: { enabled: true, loss_scale: -1 } })).toThrow('fp16.loss_scale must be a number >= 0 (0 = dynamic), got -1');
    expect(() => parsePrecisionConfig({ fp16: { enabled: true, loss_scale_window: 0 } })).toThrow('fp16.loss_scale_window must be an integer >= 1, got 0');
    expect(() => parsePrecisionConfig({ fp16: { enabled: true, hysteresis: '2' } })).toThrow('fp16.hysteresis must be an integer >= 1, got string "2"');
    expect(() => parsePrecisionConfig({ fp16: { enabled: true, initial_scale_power: 16.5 } })).toThrow('fp16.initial_scale_power must be an integer');
    expect(() => parsePrecisionConfig({ fp16: { enabled: true, min_loss_scale: 0 } })).toThrow('fp16.min_loss_scale must be a number > 0, got 0');
    expect(() => parsePrecisionConfig({ fp16: true })).toThrow('fp16: expected an object such as { "enabled": true }, got boolean true');
    expect(() => parsePrecisionConfig({ fp16: { enabled: true }, bf16: { enabled: true } })).toThrow('fp16.enabled and bf16.enabled are both true');
    expect(() => parsePrecisionConfig({ bf16: { enabled: true, nonfinite: 'ignore' } })).toThrow('bf16.nonfinite must be "error" or "skip"');
    expect(() => parsePrecisionConfig({ fp16: { enabled: true, fp16_master_weights_and_grads: true } })).toThrow('fp16.fp16_master_weights_and_grads: true is not supported');
  });
});

describe('precisionFromConfig builds the strategy the engine applies', () => {
  it('fp16 dynamic, fp16 static and bf16', async () => {
    const world = await initDistributed();
    const apply = (config: Record<string, unknown>) => {
      const model = new nn.Linear(2, 2);
      const parts = makeParts(model, new optim.SGD(model.parameters(), { lr: 0.1 }));
      precisionFromConfig(config)!.apply(parts, makeContext(world));
      return { parts, dtype: model.weight.dtype };
    };
    const dyn = apply({ fp16: { enabled: true, initial_scale_power: 12, loss_scale_window: 50, hysteresis: 1 } });
    expect(dyn.dtype).toBe('float16');
    const scaler = dyn.parts.lossScale as DynamicLossScaler;
    expect(scaler).toBeInstanceOf(DynamicLossScaler);
    expect([scaler.scale, scaler.scaleWindow, scaler.hysteresis]).toEqual([4096, 50, 1]);
    const stat = apply({ fp16: { enabled: true, loss_scale: 138 } });
    expect(stat.parts.lossScale).toBeInstanceOf(StaticLossScaler);
    expect(stat.parts.lossScale.scale).toBe(138);
    const bf = apply({ bf16: { enabled: true } });
    expect([bf.dtype, bf.parts.lossScale.scale]).toEqual(['bfloat16', 1]);
    expect(precisionFromConfig({ bf16: { enabled: true } })!.name).toBe('precision (bfloat16)');
  });
});
