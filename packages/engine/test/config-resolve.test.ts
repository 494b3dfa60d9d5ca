// Resolution details: derived values, optimizer/scheduler normalisation and defaults, and the
// printed form of a resolved config.
import { describe, expect, it } from 'vitest';
import { ConfigError, deepSpeedConfigSchema, formatConfig, normaliseOptimizerType, resolveConfig } from '../src/config/index.js';

const resolve = (config: Record<string, unknown>, worldSize = 1) => resolveConfig({ train_batch_size: 8, ...config }, { worldSize });
const messages = (config: Record<string, unknown>) => {
  try {
    resolve(config);
  } catch (e) {
    return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a ConfigError');
};

describe('derived values', () => {
  it('fp16 with a static scale', () => {
    const d = resolve({ fp16: { enabled: true, loss_scale: 128 } }).config.derived;
    expect(d).toMatchObject({ model_dtype: 'fp16', loss_scale: 128, dynamic_loss_scale: false, initial_dynamic_scale: 128, dynamic_loss_scale_args: null });
  });

  it('fp16 dynamic with defaults: 2^16, window 1000, hysteresis 2, min 1', () => {
    expect(resolve({ fp16: { enabled: true } }).config.derived.dynamic_loss_scale_args).toEqual({
      init_scale: 65536,
      scale_window: 1000,
      delayed_shift: 2,
      consecutive_hysteresis: false,
      min_scale: 1,
    });
  });

  it('fp32: no loss scaling, fp32 communication and accumulation', () => {
    expect(resolve({}).config.derived).toMatchObject({
      model_dtype: 'fp32',
      loss_scale: 0,
      dynamic_loss_scale: false,
      initial_dynamic_scale: 1,
      communication_data_type: 'fp32',
      grad_accum_dtype: 'fp32',
    });
  });

  it('bf16 without ZeRO accumulates in fp32; communication_data_type overrides the model dtype, case-insensitively', () => {
    const d = resolve({ bf16: { enabled: true }, communication_data_type: 'FP32' }).config;
    expect(d.derived.grad_accum_dtype).toBe('fp32');
    expect(d.communication_data_type).toBe('fp32');
    expect(d.derived.communication_data_type).toBe('fp32');
  });

  it('sequence parallelism communicates in seq_parallel_comm_data_type', () => {
    const d = resolve({ fp16: { enabled: true }, sequence_parallel_size: 2, seq_parallel_comm_data_type: 'bf16' }).config.derived;
    expect(d.communication_data_type).toBe('bf16');
  });

  it('checkpoint.tag_validation is case-insensitive', () => {
    expect(resolve({ checkpoint: { tag_validation: 'ignore' } }).config.checkpoint.tag_validation).toBe('IGNORE');
    expect(resolve({}).config.checkpoint.tag_validation).toBe('WARN');
  });
});

describe('optimizer', () => {
  it('type names: DeepSpeed\'s own are lower-cased, torch names are kept verbatim', () => {
    expect(['Adam', 'ADAMW', 'OneBitAdam', 'Lion', 'SGD', 'sgd', 'RMSprop'].map(normaliseOptimizerType)).toEqual(['adam', 'adamw', 'onebitadam', 'lion', 'SGD', undefined, undefined]);
  });

  it('"Adam" defaults to AdamW mode; adam_w_mode false gives L2 Adam; "AdamW" ignores adam_w_mode with a warning', () => {
    expect(resolve({ optimizer: { type: 'Adam' } }).config.optimizer?.params).toMatchObject({ adam_w_mode: true, torch_adam: false });
    expect(resolve({ optimizer: { type: 'Adam', params: { adam_w_mode: false, torch_adam: true } } }).config.optimizer?.params).toMatchObject({ adam_w_mode: false, torch_adam: true });
    const w = resolve({ optimizer: { type: 'AdamW', params: { adam_w_mode: false } } });
    expect(w.config.optimizer?.params).toMatchObject({ adam_w_mode: true });
    expect(w.warnings).toEqual(['optimizer.params.adam_w_mode: false has no effect with type "AdamW" (AdamW always decouples weight decay); use type "Adam" for L2-style decay']);
  });

  it('each type gets its own defaults', () => {
    expect(resolve({ optimizer: { type: 'Lion' } }).config.optimizer?.params).toEqual({ lr: 1e-3, betas: [0.9, 0.999], weight_decay: 0 });
    expect(resolve({ optimizer: { type: 'Adagrad' } }).config.optimizer?.params).toEqual({ lr: 1e-2, eps: 1e-10, weight_decay: 0, amsgrad: false });
    expect(resolve({ fp16: { enabled: true }, optimizer: { type: 'Lamb' } }).config.optimizer?.params).toEqual({
      lr: 1e-3, bias_correction: true, betas: [0.9, 0.999], eps: 1e-8, eps_inside_sqrt: false, weight_decay: 0, max_coeff: 10, min_coeff: 0.01, amsgrad: false,
    });
    expect(resolve({ optimizer: { type: 'OneBitAdam', params: { freeze_step: 400 } } }).config.optimizer?.params).toMatchObject({ freeze_step: 400, cuda_aware: false, comm_backend_name: 'nccl' });
    expect(resolve({ optimizer: { type: 'SGD', params: { lr: 0.1, momentum: 0.9, nesterov: true } } }).config.optimizer?.params).toEqual({
      lr: 0.1, momentum: 0.9, dampening: 0, weight_decay: 0, nesterov: true,
    });
  });

  it('params a type does not take, and bad values, are errors naming the type', () => {
    expect(messages({ optimizer: { type: 'Lion', params: { eps: 1e-8 } } })).toEqual([
      'optimizer.params.eps: unknown key (not a key of optimizer.params); valid keys: lr, betas, weight_decay (for optimizer type "Lion")',
    ]);
    expect(messages({ optimizer: { type: 'Adam', params: { betas: [0.9], lr: -1 } } })).toEqual([
      'optimizer.params.lr: got -1; must be >= 0 (for optimizer type "Adam")',
      'optimizer.params.betas: got [0.9]; expected >= 2 entries (for optimizer type "Adam")',
    ]);
    expect(messages({ optimizer: { type: 'SGD', params: { nesterov: true } } })).toEqual(['optimizer.params.nesterov: nesterov needs momentum > 0 and dampening 0; got true']);
  });
});

describe('scheduler', () => {
  it('defaults per schedule (WarmupLR from {} as in TestClientLrScheduler)', () => {
    expect(resolve({ scheduler: { type: 'WarmupLR', params: {} } }).config.scheduler).toEqual({
      type: 'WarmupLR',
      params: { warmup_min_lr: 0, warmup_max_lr: 0.001, warmup_num_steps: 1000, warmup_type: 'log', last_batch_iteration: -1 },
    });
    expect(resolve({ scheduler: { type: 'LRRangeTest' } }).config.scheduler?.params).toEqual({
      lr_range_test_min_lr: 1e-3, lr_range_test_step_size: 2000, lr_range_test_step_rate: 1, lr_range_test_staircase: false, last_batch_iteration: -1,
    });
    expect(resolve({ scheduler: { type: 'OneCycle', params: { cycle_min_lr: 0.01, cycle_max_lr: 0.1 } } }).config.scheduler?.params).toEqual({
      cycle_min_lr: 0.01, cycle_max_lr: 0.1, decay_lr_rate: 0, cycle_first_step_size: 2000, cycle_first_stair_count: 0, decay_step_size: 0,
      cycle_momentum: true, cycle_min_mom: 0.8, cycle_max_mom: 0.9, decay_mom_rate: 0, last_batch_iteration: -1,
    });
  });

  it('required params, lists per param group and bad values', () => {
    expect(messages({ scheduler: { type: 'OneCycle', params: { cycle_max_lr: 0.1 } } })).toEqual(['scheduler.params.cycle_min_lr: required; expected a number (for scheduler OneCycle)']);
    expect(messages({ scheduler: { type: 'WarmupCosineLR' } })).toEqual(['scheduler.params.total_num_steps: required; expected a number (for scheduler WarmupCosineLR)']);
    expect(resolve({ scheduler: { type: 'WarmupLR', params: { warmup_max_lr: [0.1, 0.2] } } }).config.scheduler?.params).toMatchObject({ warmup_max_lr: [0.1, 0.2] });
    expect(messages({ scheduler: { type: 'WarmupLR', params: { warmup_max_lr: 'high' } } })).toEqual([
      'scheduler.params.warmup_max_lr: expected a learning rate or a list of them (one per param group); got "high" (for scheduler WarmupLR)',
    ]);
    expect(messages({ scheduler: { type: 'OneCycle', params: { cycle_min_lr: 0.2, cycle_max_lr: 0.1 } } })).toEqual(['scheduler.params.cycle_min_lr: got 0.2; must be <= cycle_max_lr (0.1)']);
  });

  it('warns when the schedule ends before its warm-up', () => {
    expect(resolve({ scheduler: { type: 'WarmupDecayLR', params: { total_num_steps: 10, warmup_num_steps: 100 } } }).warnings).toEqual([
      'scheduler.params.total_num_steps 10 is less than warmup_num_steps 100: the schedule ends before warm-up does',
    ]);
  });
});

describe('warnings for settings with no effect', () => {
  it('offload_param below stage 3, optimizer offload without ZeRO, overlap_comm under pipeline parallelism', () => {
    expect(resolve({ zero_optimization: { stage: 2, offload_param: { device: 'cpu' } } }).warnings).toEqual([
      'zero_optimization.offload_param only applies to ZeRO stage 3 (stage is 2); parameters stay in place',
    ]);
    expect(resolve({ zero_optimization: { offload_optimizer: { device: 'cpu' } } }).warnings).toEqual([
      'zero_optimization.offload_optimizer needs ZeRO (stage >= 1); with stage 0 nothing is offloaded',
    ]);
    const pipe = resolve({ pipeline: { stages: 2 }, zero_optimization: { stage: 1, overlap_comm: true } });
    expect(pipe.config.zero_optimization.overlap_comm).toBe(false);
    expect(pipe.warnings).toEqual(['zero_optimization.overlap_comm is turned off: pipeline parallelism does not overlap gradient reduction']);
  });
});

describe('schema coverage', () => {
  it('every section of spec §1 is a known top-level key and is present (with defaults) after resolution', () => {
    const sections = [
      'fp16', 'bf16', 'amp', 'optimizer', 'scheduler', 'zero_optimization', 'activation_checkpointing', 'pipeline', 'checkpoint', 'data_types', 'tensorboard',
      'csv_monitor', 'wandb', 'comet', 'comms_logger', 'flops_profiler', 'timers', 'elasticity', 'autotuning', 'sparse_attention', 'compression_training',
      'data_efficiency', 'curriculum_learning', 'progressive_layer_drop', 'eigenvalue', 'hybrid_engine', 'tensor_parallel', 'aio', 'nebula', 'weight_quantization',
    ];
    const c = resolve({}).config as unknown as Record<string, unknown>;
    for (const s of sections) {
      expect(Object.keys(deepSpeedConfigSchema.shape)).toContain(s);
      expect(s in c).toBe(true);
    }
    expect(c.timers).toEqual({ throughput: { enabled: true, synchronized: true } });
    expect(c.comms_logger).toEqual({ enabled: false, prof_all: true, prof_ops: [], verbose: false, debug: false });
    expect(c.wandb).toEqual({ enabled: false, group: null, team: null, project: 'deepspeed' });
    expect(c.aio).toEqual({ block_size: 1048576, queue_depth: 8, intra_op_parallelism: 1, single_submit: false, overlap_events: true, use_gds: false });
    expect(c.hybrid_engine).toEqual({ enabled: false, max_out_tokens: 512, inference_tp_size: 1, release_inference_cache: false, pin_parameters: true, tp_gather_partition_size: 8 });
  });

  it('the rarely used sections are strict too', () => {
    expect(messages({ sparse_attention: { mode: 'fixd' }, autotuning: { tuner_type: 'grid' }, nebula: { enabled: true, persistent_path: 'x' } })).toEqual([
      'autotuning.tuner_type: got "grid"; valid: "gridsearch", "random", "model_based"',
      'sparse_attention.mode: got "fixd"; valid: "dense", "fixed", "variable", "bigbird", "bslongformer"; did you mean "fixed"?',
      'nebula.persistent_path: unknown key (not a key of nebula); valid keys: enabled, persistent_storage_path, persistent_time_interval, num_of_version_in_retention, enable_nebula_load, load_path',
    ]);
    expect(resolve({ sparse_attention: { mode: 'bigbird', num_random_blocks: 2 } }).config.sparse_attention).toEqual({ mode: 'bigbird', block: 16, num_random_blocks: 2 });
  });
});

describe('formatConfig', () => {
  it('prints one sorted, aligned "key.path ... value" line per leaf', () => {
    const { config } = resolve({ fp16: { enabled: true }, optimizer: { type: 'Adam', params: { lr: 0.5 } } }, 2);
    const text = formatConfig(config);
    const lines = text.split('\n');
    const keys = lines.map((l) => l.trim().split(' ')[0]!);
    expect(keys).toEqual([...keys].sort());
    expect(new Set(lines.map((l) => l.lastIndexOf('. ') + 2)).size).toBe(1);
    expect(lines).toContain(lines.find((l) => /^ {2}train_batch_size \.+ 8$/.test(l)));
    expect(text).toMatch(/^ {2}optimizer\.params\.betas \.+ \[0\.9,0\.999\]$/m);
    expect(text).toMatch(/^ {2}optimizer\.type \.+ "adam"$/m);
    expect(text).toMatch(/^ {2}derived\.dynamic_loss_scale_args\.init_scale \.+ 65536$/m);
    expect(text).toMatch(/^ {2}zero_optimization\.offload_param \.+ null$/m);
    expect(text).toMatch(/^ {2}train_micro_batch_size_per_gpu \.+ 4$/m);
    expect(formatConfig(config)).toBe(text);
  });
});
