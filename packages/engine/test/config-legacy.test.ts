// Legacy forms, aliases and "auto": accepted, normalised to the modern keys, with warnings
// naming the modern key; and zero_optimization's defaults (spec §1.5, §13 test_zero_config).
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/index.js';

const resolve = (config: Record<string, unknown>, worldSize = 1) => resolveConfig({ train_batch_size: 8, ...config }, { worldSize });

describe('legacy forms', () => {
  it('"zero_optimization": true → stage 1 with allgather_bucket_size from the top-level allgather_size', () => {
    const a = resolve({ zero_optimization: true, allgather_size: 200_000_000 });
    expect(a.config.zero_optimization.stage).toBe(1);
    expect(a.config.zero_optimization.allgather_bucket_size).toBe(200_000_000);
    expect(a.warnings).toEqual(['"zero_optimization": true is deprecated; use "zero_optimization": {"stage": 1, "allgather_bucket_size": 200000000}']);
    expect('allgather_size' in a.config).toBe(false);

    const b = resolve({ zero_optimization: true });
    expect(b.config.zero_optimization.allgather_bucket_size).toBe(500_000_000);
  });

  it('"zero_optimization": false → stage 0', () => {
    const r = resolve({ zero_optimization: false });
    expect(r.config.zero_optimization.stage).toBe(0);
    expect(r.config.derived.zero_enabled).toBe(false);
    expect(r.warnings[0]).toMatch(/^"zero_optimization": false is deprecated; use "zero_optimization": \{"stage": 0\}/);
  });

  it('allgather_size without the legacy form is ignored with a warning', () => {
    const r = resolve({ allgather_size: 1000, zero_optimization: { stage: 1 } });
    expect(r.config.zero_optimization.allgather_bucket_size).toBe(500_000_000);
    expect(r.warnings).toEqual(['"allgather_size" is only read with the legacy "zero_optimization": true form; use zero_optimization.allgather_bucket_size']);
  });

  it('"bfloat16" enables bf16 (test_get_bfloat16_enabled)', () => {
    const legacy = resolve({ bfloat16: { enabled: true } });
    expect(legacy.config.bf16.enabled).toBe(true);
    expect(legacy.config.derived.model_dtype).toBe('bf16');
    expect(legacy.warnings).toEqual(['"bfloat16" is deprecated; use "bf16" (same keys)']);
    expect(resolve({ bf16: { enabled: true } }).config.bf16.enabled).toBe(true);
  });

  it('cpu_offload / cpu_offload_param produce offload sub-configs; cpu_offload_use_pin_memory only warns', () => {
    const r = resolve({ zero_optimization: { stage: 3, cpu_offload: true, cpu_offload_param: true, cpu_offload_use_pin_memory: true } });
    const z = r.config.zero_optimization;
    expect(z.offload_optimizer).toEqual({ device: 'cpu', nvme_path: null, buffer_count: 4, pin_memory: false, pipeline_read: false, pipeline_write: false, fast_init: false, ratio: 1, pipeline: false });
    expect(z.offload_param).toEqual({ device: 'cpu', nvme_path: null, buffer_count: 5, buffer_size: 100_000_000, max_in_cpu: 1_000_000_000, pin_memory: false });
    expect(r.warnings).toEqual([
      'zero_optimization.cpu_offload is deprecated; use zero_optimization.offload_optimizer: {"device": "cpu"}',
      'zero_optimization.cpu_offload_param is deprecated; use zero_optimization.offload_param: {"device": "cpu"}',
      'zero_optimization.cpu_offload_use_pin_memory is deprecated and has no effect; use zero_optimization.offload_optimizer.pin_memory / offload_param.pin_memory',
    ]);
    const off = resolve({ zero_optimization: { stage: 2, cpu_offload: false } });
    expect(off.config.zero_optimization.offload_optimizer).toBeNull();
    expect(off.warnings[0]).toMatch(/cpu_offload is deprecated; use zero_optimization\.offload_optimizer: null/);
  });

  it('both stage3 spellings of the 16-bit save flag map to gather_16bit_weights_on_model_save (test_gather_16bit_params_on_model_save)', () => {
    const fp16Name = resolve({ zero_optimization: { stage: 3, stage3_gather_fp16_weights_on_model_save: true } });
    expect(fp16Name.config.zero_optimization.gather_16bit_weights_on_model_save).toBe(true);
    expect(fp16Name.warnings).toEqual(['zero_optimization.stage3_gather_fp16_weights_on_model_save is deprecated; use zero_optimization.gather_16bit_weights_on_model_save']);
    const alias = resolve({ zero_optimization: { stage: 3, stage3_gather_16bit_weights_on_model_save: true } });
    expect(alias.config.zero_optimization.gather_16bit_weights_on_model_save).toBe(true);
    expect(alias.warnings).toEqual([]);
  });

  it('a deprecated key with the wrong type is an error, not a silent drop', () => {
    expect(() => resolve({ zero_optimization: { cpu_offload: 'yes' } })).toThrow(/zero_optimization\.cpu_offload: expected a boolean, got "yes"/);
  });
});

describe('zero_optimization defaults and aliases (test_zero_config)', () => {
  it('overlap_comm defaults to false for stages 0-2 and true for stage 3; an explicit value wins', () => {
    for (const stage of [0, 1, 2]) expect(resolve({ zero_optimization: { stage } }).config.zero_optimization.overlap_comm).toBe(false);
    expect(resolve({ zero_optimization: { stage: 3 } }).config.zero_optimization.overlap_comm).toBe(true);
    expect(resolve({ zero_optimization: { stage: 3, overlap_comm: false } }).config.zero_optimization.overlap_comm).toBe(false);
    expect(resolve({ zero_optimization: { stage: 1, overlap_comm: true } }).config.zero_optimization.overlap_comm).toBe(true);
  });

  it('stage3_* aliases with 12345 map to the short names, silently', () => {
    const r = resolve({
      zero_optimization: {
        stage: 3,
        stage3_prefetch_bucket_size: 12345,
        stage3_param_persistence_threshold: 12345,
        stage3_model_persistence_threshold: 12345,
        stage3_max_live_parameters: 12345,
        stage3_max_reuse_distance: 12345,
        stage3_module_granularity_threshold: 12345,
      },
    });
    const z = r.config.zero_optimization;
    expect([z.prefetch_bucket_size, z.param_persistence_threshold, z.model_persistence_threshold, z.max_live_parameters, z.max_reuse_distance, z.module_granularity_threshold]).toEqual([
      12345, 12345, 12345, 12345, 12345, 12345,
    ]);
    expect(Object.keys(z).some((k) => k.startsWith('stage3_'))).toBe(false);
    expect(r.warnings).toEqual([]);
  });

  it('an alias and its short name together are an error', () => {
    expect(() => resolve({ zero_optimization: { stage3_prefetch_bucket_size: 1, prefetch_bucket_size: 2 } })).toThrow(
      /zero_optimization\.stage3_prefetch_bucket_size: another name of zero_optimization\.prefetch_bucket_size, which is also given \(2\); keep one/,
    );
  });

  it('offload {} → sub-configs with defaults, null → null; pipeline = read || write', () => {
    const r = resolve({ zero_optimization: { stage: 3, offload_param: {}, offload_optimizer: { pipeline_write: true } } });
    expect(r.config.zero_optimization.offload_param?.device).toBe('none');
    expect(r.config.zero_optimization.offload_param?.buffer_count).toBe(5);
    expect(r.config.zero_optimization.offload_optimizer?.pipeline).toBe(true);
    const none = resolve({ zero_optimization: { stage: 3, offload_param: null } });
    expect(none.config.zero_optimization.offload_param).toBeNull();
    expect(none.config.zero_optimization.offload_optimizer).toBeNull();
  });

  it('DeepSpeed\'s defaults for every other field', () => {
    const z = resolve({}).config.zero_optimization;
    expect(z).toMatchObject({
      stage: 0,
      contiguous_gradients: true,
      reduce_scatter: true,
      reduce_bucket_size: 500_000_000,
      allgather_bucket_size: 500_000_000,
      sub_group_size: 1_000_000_000,
      prefetch_bucket_size: 50_000_000,
      param_persistence_threshold: 100_000,
      max_live_parameters: 1_000_000_000,
      pipeline_loading_checkpoint: false,
      mics_shard_size: -1,
      zero_hpz_partition_size: 1,
      ignore_unused_parameters: true,
    });
  });

  it('tensor_parallel aliases "tensor_parallel" (for tp) and "kernel_inject" are accepted', () => {
    const tp = resolve({ tensor_parallel: { autotp_size: 2, tensor_parallel: { tp_size: 2 }, kernel_inject: true } }).config.tensor_parallel;
    expect(tp.tp.tp_size).toBe(2);
    expect(tp.replace_with_kernel_inject).toBe(true);
  });
});

describe('"auto"', () => {
  it('takes the default (DeepSpeed drops "auto" entries) and is listed in one warning', () => {
    const r = resolveConfig(
      {
        train_batch_size: 'auto',
        train_micro_batch_size_per_gpu: 2,
        gradient_accumulation_steps: 'auto',
        gradient_clipping: 'auto',
        fp16: { enabled: 'auto', loss_scale_window: 'auto' },
        optimizer: { type: 'AdamW', params: { lr: 'auto', betas: 'auto', weight_decay: 0.01 } },
        zero_optimization: { stage: 2, reduce_bucket_size: 'auto' },
      },
      { worldSize: 4 },
    );
    const c = r.config;
    expect([c.train_batch_size, c.train_micro_batch_size_per_gpu, c.gradient_accumulation_steps]).toEqual([8, 2, 1]);
    expect(c.gradient_clipping).toBe(0);
    expect(c.fp16.enabled).toBe(false);
    expect(c.fp16.loss_scale_window).toBe(1000);
    expect(c.optimizer?.params).toMatchObject({ lr: 1e-3, betas: [0.9, 0.999], weight_decay: 0.01 });
    expect(c.zero_optimization.reduce_bucket_size).toBe(500_000_000);
    expect(r.warnings).toEqual([
      '"auto" values were resolved without a trainer (batch sizes derived, everything else at its default): train_batch_size, gradient_accumulation_steps, gradient_clipping, fp16.enabled, fp16.loss_scale_window, optimizer.params.lr, optimizer.params.betas, zero_optimization.reduce_bucket_size',
    ]);
  });

  it('"auto" where nothing can be derived is an error saying so', () => {
    expect(() => resolveConfig({ train_batch_size: 'auto', train_micro_batch_size_per_gpu: 'auto' }, { worldSize: 1 })).toThrow(
      /train_batch_size: one of train_batch_size or train_micro_batch_size_per_gpu must be given \(train_batch_size and train_micro_batch_size_per_gpu were "auto", which ds cannot fill in without a trainer\)/,
    );
    expect(() => resolve({ scheduler: { type: 'WarmupDecayLR', params: { total_num_steps: 'auto' } } })).toThrow(
      /scheduler\.params\.total_num_steps: "auto" cannot be resolved here \(ds has no trainer to fill it in\); set a number \(for scheduler WarmupDecayLR\)/,
    );
  });

  it('pipeline.stages "auto" stays "auto"', () => {
    expect(resolve({ pipeline: { stages: 'auto' } }).config.pipeline.stages).toBe('auto');
  });

  it('the caller\'s object is not modified', () => {
    const input = { train_batch_size: 8, zero_optimization: { stage: 3, stage3_prefetch_bucket_size: 7, reduce_bucket_size: 'auto' }, bfloat16: { enabled: true } };
    const copy = structuredClone(input);
    resolveConfig(input, { worldSize: 1 });
    expect(input).toEqual(copy);
  });
});
