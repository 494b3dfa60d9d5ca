// The remaining sections DeepSpeed recognises (spec §1.12). ds validates their keys so typos
// surface; sub-objects whose keys are user-chosen names (compression groups, curriculum
// metrics) stay free-form.
import * as z from 'zod';
import { always, bool, nullableStr, orNull, record, strict } from './common.js';
import { FLOAT_DTYPE } from './dtype.js';

const optInt = z.number().int().min(0).optional();

export const sparseAttentionSchema = orNull(
  strict({
    mode: z.enum(['dense', 'fixed', 'variable', 'bigbird', 'bslongformer']).default('fixed'),
    block: z.number().int().min(1).default(16),
    different_layout_per_head: z.boolean().optional(),
    num_local_blocks: optInt,
    num_global_blocks: optInt,
    attention: z.enum(['bidirectional', 'unidirectional']).optional(),
    horizontal_global_attention: z.boolean().optional(),
    num_different_global_patterns: optInt,
    num_random_blocks: optInt,
    local_window_blocks: z.array(z.number().int().min(0)).optional(),
    global_block_indices: z.array(z.number().int().min(0)).optional(),
    global_block_end_indices: z.array(z.number().int().min(0)).nullable().optional(),
    num_sliding_window_blocks: optInt,
  }),
);

const technique = strict({ shared_parameters: record().optional(), different_groups: record().optional() }).optional();

export const compressionTrainingSchema = orNull(
  strict({
    weight_quantization: technique,
    activation_quantization: technique,
    sparse_pruning: technique,
    row_pruning: technique,
    head_pruning: technique,
    channel_pruning: technique,
    layer_reduction: strict({
      enabled: bool(false),
      keep_number_layer: z.number().int().min(1).optional(),
      module_name_prefix: z.string().optional(),
      teacher_layer: z.array(z.number().int().min(0)).optional(),
      other_module_name: z.array(z.string()).optional(),
    }).optional(),
  }),
);

export const dataEfficiencySchema = always(
  strict({
    enabled: bool(false),
    seed: z.number().int().default(1234),
    data_sampling: always(
      strict({
        enabled: bool(false),
        num_epochs: z.number().int().min(1).default(1000),
        num_workers: z.number().int().min(0).default(0),
        pin_memory: z.boolean().optional(),
        curriculum_learning: record().optional(),
        dynamic_batching: record().optional(),
      }),
    ),
    data_routing: always(strict({ enabled: bool(false), random_ltd: record().optional() })),
  }),
);

/** The pre-data_efficiency curriculum learning section. */
export const curriculumLearningSchema = always(
  strict({
    enabled: bool(false),
    curriculum_type: z.string().optional(),
    min_difficulty: z.number().int().optional(),
    max_difficulty: z.number().int().optional(),
    schedule_type: z.enum(['fixed_discrete', 'fixed_root', 'fixed_linear', 'custom']).optional(),
    schedule_config: record().optional(),
  }),
);

export const progressiveLayerDropSchema = always(
  strict({
    enabled: bool(false),
    /** θ(t) = (1 − θ)·e^(−γ·t) + θ: the keep probability the schedule converges to. */
    theta: z.number().min(0).max(1).default(1),
    gamma: z.number().min(0).default(0.001),
  }),
);

export const eigenvalueSchema = always(
  strict({
    enabled: bool(false),
    verbose: bool(false),
    max_iter: z.number().int().min(1).default(100),
    tol: z.number().positive().default(1e-2),
    stability: z.number().min(0).default(1e-6),
    gas_boundary_resolution: z.number().int().min(1).default(1),
    layer_name: z.string().default('bert.encoder.layer'),
    layer_num: z.number().int().min(0).default(0),
  }),
);

export const hybridEngineSchema = always(
  strict({
    enabled: bool(false),
    max_out_tokens: z.number().int().min(1).default(512),
    inference_tp_size: z.number().int().min(1).default(1),
    release_inference_cache: bool(false),
    pin_parameters: bool(true),
    tp_gather_partition_size: z.number().int().min(1).default(8),
  }),
);

/** Training-time AutoTP. The aliases "tensor_parallel" (for tp) and "kernel_inject" are renamed first. */
export const tensorParallelSchema = always(
  strict({
    /** Tensor-parallel degree; 0 (and 1) → off. */
    autotp_size: z.number().int().min(0).default(0),
    dtype: FLOAT_DTYPE.default('fp16'),
    tp_overlap_comm: bool(false),
    tp: always(strict({ tp_size: z.number().int().min(1).default(1), tp_grain_size: z.number().int().min(1).default(1) })),
    injection_policy_tuple: z.array(z.unknown()).nullable().default(null),
    keep_module_on_host: bool(false),
    replace_with_kernel_inject: bool(false),
    partition_config: record().nullable().default(null),
    preset_model: nullableStr(),
  }),
);

export const aioSchema = always(
  strict({
    block_size: z.number().int().min(1).default(1_048_576),
    queue_depth: z.number().int().min(1).default(8),
    intra_op_parallelism: z.number().int().min(1).default(1),
    single_submit: bool(false),
    overlap_events: bool(true),
    use_gds: bool(false),
  }),
);

export const nebulaSchema = always(
  strict({
    enabled: bool(false),
    persistent_storage_path: nullableStr(),
    persistent_time_interval: z.number().int().min(1).default(100),
    num_of_version_in_retention: z.number().int().min(1).default(2),
    enable_nebula_load: bool(true),
    load_path: nullableStr(),
  }),
);

export const weightQuantizationSchema = orNull(
  strict({ post_init_quant: record().optional(), quantized_initialization: record().optional() }),
);

/**
 * Mixture of experts: a ds extension (DeepSpeed configures MoE in model code only). The
 * fields are DeepSpeed's `MoE(...)` arguments that do not name model code; `enabled` makes
 * the engine load @ds/moe.
 */
export const moeSchema = always(
  strict({
    enabled: bool(false),
    num_experts: z.number().int().min(1).default(1),
    /** Expert-parallel degree; must divide num_experts. */
    ep_size: z.number().int().min(1).default(1),
    k: z.number().int().min(1).default(1),
    capacity_factor: z.number().positive().default(1),
    eval_capacity_factor: z.number().positive().default(1),
    min_capacity: z.number().int().min(0).default(4),
    use_residual: bool(false),
    noisy_gate_policy: z.enum(['None', 'Jitter', 'RSample']).nullable().default(null),
    drop_tokens: bool(true),
    use_rts: bool(true),
    enable_expert_tensor_parallelism: bool(false),
    top2_2nd_expert_sampling: bool(true),
  }),
);

export type TensorParallelConfig = z.output<typeof tensorParallelSchema>;
export type MoeConfig = z.output<typeof moeSchema>;
export type HybridEngineConfig = z.output<typeof hybridEngineSchema>;
export type AioConfig = z.output<typeof aioSchema>;
