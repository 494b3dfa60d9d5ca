// Real-world configs (Hugging Face and Megatron/BigScience styles, with comments, trailing
// commas and "auto") resolve to the values DeepSpeed would run with.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requiredPackages, resolveConfig } from '../src/config/index.js';

const fixture = (name: string) => path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/config', name);
const batch = (c: { train_batch_size: number; train_micro_batch_size_per_gpu: number; gradient_accumulation_steps: number }) => [
  c.train_batch_size,
  c.train_micro_batch_size_per_gpu,
  c.gradient_accumulation_steps,
];

describe('fixture configs', () => {
  it('HF ZeRO-3 with offload: "auto" everywhere, stage3 aliases, comments and trailing commas', () => {
    const { config: c, warnings } = resolveConfig(fixture('hf-zero3-offload.json'), { worldSize: 2 });
    expect(batch(c)).toEqual([8, 4, 1]);
    // "enabled": "auto" is the trainer's --fp16 flag; without a trainer it is the default (off).
    expect(c.fp16.enabled).toBe(false);
    expect(c.derived.model_dtype).toBe('fp32');
    expect(c.gradient_clipping).toBe(0);
    expect(c.steps_per_print).toBe(2000);
    expect(c.optimizer).toEqual({
      type: 'adamw',
      params: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, bias_correction: true, adam_w_mode: true, torch_adam: false, amsgrad: false },
      legacy_fusion: false,
    });
    expect(c.scheduler).toEqual({ type: 'WarmupLR', params: { warmup_min_lr: 0, warmup_max_lr: 0.001, warmup_num_steps: 1000, warmup_type: 'log', last_batch_iteration: -1 } });
    const z = c.zero_optimization;
    expect(z.stage).toBe(3);
    expect(z.overlap_comm).toBe(true);
    expect(z.offload_optimizer).toMatchObject({ device: 'cpu', pin_memory: true, buffer_count: 4, pipeline: false });
    expect(z.offload_param).toMatchObject({ device: 'cpu', pin_memory: true, buffer_count: 5 });
    expect([z.sub_group_size, z.reduce_bucket_size, z.prefetch_bucket_size, z.param_persistence_threshold, z.max_live_parameters, z.max_reuse_distance]).toEqual([
      1e9, 5e8, 5e7, 1e5, 1e9, 1e9,
    ]);
    expect(z.gather_16bit_weights_on_model_save).toBe(true);
    expect(c.derived.offload_optimizer_device).toBe('cpu');
    expect(requiredPackages(c).map((p) => p.package)).toEqual(['@ds/zero']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^"auto" values were resolved without a trainer .*: fp16\.enabled, optimizer\.params\.lr, .*zero_optimization\.stage3_param_persistence_threshold, gradient_accumulation_steps, gradient_clipping, train_batch_size$/);
  });

  it('HF ZeRO-2 bf16 with optimizer offload and WarmupDecayLR', () => {
    const { config: c } = resolveConfig(fixture('hf-zero2-bf16.json'), { worldSize: 2 });
    expect(batch(c)).toEqual([64, 8, 4]);
    expect(c.derived).toMatchObject({
      model_dtype: 'bf16',
      loss_scale: 1,
      dynamic_loss_scale: false,
      initial_dynamic_scale: 1,
      dynamic_loss_scale_args: null,
      communication_data_type: 'bf16',
      // ZeRO accumulates in the model dtype unless told otherwise (spec §2.2).
      grad_accum_dtype: 'bf16',
      zero_enabled: true,
      offload_optimizer_device: 'cpu',
    });
    expect(c.optimizer?.params).toMatchObject({ lr: 3e-5, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1 });
    expect(c.scheduler).toEqual({
      type: 'WarmupDecayLR',
      params: { total_num_steps: 10000, warmup_min_lr: 0, warmup_max_lr: 3e-5, warmup_num_steps: 500, warmup_type: 'linear', last_batch_iteration: -1 },
    });
    expect(c.zero_optimization).toMatchObject({ stage: 2, allgather_bucket_size: 2e8, reduce_bucket_size: 2e8, overlap_comm: true, reduce_scatter: true });
    expect(c.gradient_clipping).toBe(1);
    expect(requiredPackages(c)).toEqual([
      { section: 'bf16', package: '@ds/precision', reason: 'enabled' },
      { section: 'zero_optimization', package: '@ds/zero', reason: 'stage 2' },
    ]);
  });

  it('Megatron-DeepSpeed GPT: fp16 dynamic scaling from 2^12, ZeRO-1, flops profiler turns on the breakdown', () => {
    const { config: c, warnings } = resolveConfig(fixture('megatron-gpt-fp16.json'), { worldSize: 8 });
    expect(batch(c)).toEqual([256, 4, 8]);
    expect(c.derived).toMatchObject({
      model_dtype: 'fp16',
      loss_scale: 0,
      dynamic_loss_scale: true,
      initial_dynamic_scale: 4096,
      dynamic_loss_scale_args: { init_scale: 4096, scale_window: 500, delayed_shift: 2, consecutive_hysteresis: false, min_scale: 1 },
      communication_data_type: 'fp16',
      grad_accum_dtype: 'fp16',
      monitor_enabled: true,
    });
    expect(c.optimizer).toBeNull();
    expect(c.scheduler).toBeNull();
    expect(c.zero_optimization.overlap_comm).toBe(false);
    expect(c.zero_optimization.elastic_checkpoint).toBe(true);
    expect(c.wall_clock_breakdown).toBe(true);
    expect(c.flops_profiler).toEqual({ enabled: true, recompute_fwd_factor: 0, profile_step: 3, module_depth: -1, top_modules: 3, detailed: true, output_file: null });
    expect(c.activation_checkpointing).toMatchObject({ partition_activations: true, contiguous_memory_optimization: true, number_checkpoints: 24, cpu_checkpointing: false });
    expect(c.tensorboard).toEqual({ enabled: true, output_path: 'runs/gpt-1.3b', job_name: 'gpt_1.3B_tok300B' });
    expect(warnings).toEqual([]);
  });

  it('BigScience bf16 with 4 pipeline stages, fp32 accumulation, Adam in L2 mode, WarmupCosineLR', () => {
    const { config: c } = resolveConfig(fixture('bloom-bf16-pipeline.json'), { worldSize: 8 });
    expect(batch(c)).toEqual([2048, 2, 128]);
    expect(c.derived.grad_accum_dtype).toBe('fp32');
    expect(c.derived.communication_data_type).toBe('bf16');
    expect(c.pipeline).toEqual({ stages: 4, partition: 'type:transformer', seed_layers: false, activation_checkpoint_interval: 1, pipe_partitioned: true, grad_partitioned: true });
    expect(c.checkpoint.tag_validation).toBe('FAIL');
    expect(c.optimizer).toMatchObject({ type: 'adam', params: { lr: 6e-5, adam_w_mode: false, betas: [0.9, 0.95] } });
    expect(c.scheduler).toEqual({
      type: 'WarmupCosineLR',
      params: { total_num_steps: 200000, warmup_min_ratio: 0, warmup_num_steps: 375, cos_min_ratio: 0.1, warmup_type: 'linear', last_batch_iteration: -1 },
    });
    expect(c.csv_monitor).toEqual({ enabled: true, output_path: 'logs/csv', job_name: 'tr11-176B' });
    expect(requiredPackages(c).map((p) => `${p.section}:${p.package}`)).toEqual(['pipeline:@ds/pipeline', 'bf16:@ds/precision', 'zero_optimization:@ds/zero']);
  });
});
