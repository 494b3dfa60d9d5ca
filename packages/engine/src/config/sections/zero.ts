// zero_optimization and its offload sub-configs (spec §1.5; DeepSpeed's pydantic DeepSpeedZeroConfig).
// The stage3_* aliases and deprecated keys are renamed before this schema runs (legacy.ts).
import * as z from 'zod';
import { bool, int, nonNegInt, orNull, always, strict, nullableStr, posInt } from './common.js';

const device = z.enum(['none', 'cpu', 'nvme']).default('none');

export const offloadParamSchema = strict({
  /** Where stage-3 parameters live between uses. */
  device,
  nvme_path: nullableStr(),
  buffer_count: nonNegInt(5),
  /** Elements per swap buffer. */
  buffer_size: nonNegInt(100_000_000),
  /** Elements kept in CPU memory when offloading to NVMe. */
  max_in_cpu: nonNegInt(1_000_000_000),
  pin_memory: bool(false),
});

export const offloadOptimizerSchema = strict({
  /** Where optimizer states live and the optimizer runs. */
  device,
  nvme_path: nullableStr(),
  buffer_count: nonNegInt(4),
  pin_memory: bool(false),
  pipeline_read: bool(false),
  pipeline_write: bool(false),
  fast_init: bool(false),
  /** Fraction of the optimizer offloaded (partial offload below 1 needs stage 3). */
  ratio: z.number().min(0).max(1).default(1),
});

/** DeepSpeed's sys.maxsize stands for "no limit"; the nearest exact integer a double holds. */
export const NO_LIMIT = Number.MAX_SAFE_INTEGER;

export const zeroSchema = always(
  strict({
    /** 0 off, 1 optimizer states, 2 + gradients, 3 + parameters partitioned across data-parallel ranks. */
    stage: z.number().int().min(0).max(3).default(0),
    contiguous_gradients: bool(true),
    reduce_scatter: bool(true),
    /** Elements per gradient-reduction bucket. */
    reduce_bucket_size: nonNegInt(500_000_000),
    use_multi_rank_bucket_allreduce: bool(true),
    allgather_partitions: bool(true),
    /** Elements per all-gather bucket (stages 1-2). */
    allgather_bucket_size: nonNegInt(500_000_000),
    /** null → true for stage 3, false otherwise (resolved by resolveConfig). */
    overlap_comm: z.boolean().nullable().default(null),
    load_from_fp32_weights: bool(true),
    elastic_checkpoint: bool(false),
    offload_param: orNull(offloadParamSchema),
    offload_optimizer: orNull(offloadOptimizerSchema),
    sub_group_size: nonNegInt(1_000_000_000),
    prefetch_bucket_size: nonNegInt(50_000_000),
    param_persistence_threshold: nonNegInt(100_000),
    model_persistence_threshold: nonNegInt(NO_LIMIT),
    max_live_parameters: nonNegInt(1_000_000_000),
    max_reuse_distance: nonNegInt(1_000_000_000),
    gather_16bit_weights_on_model_save: bool(false),
    module_granularity_threshold: nonNegInt(0),
    use_all_reduce_for_fetch_params: bool(false),
    ignore_unused_parameters: bool(true),
    /** Always an error when true: DeepSpeed removed the legacy stage-1 implementation. */
    legacy_stage1: bool(false),
    round_robin_gradients: bool(false),
    zero_hpz_partition_size: posInt(1),
    zero_quantized_weights: bool(false),
    zero_quantized_nontrainable_weights: bool(false),
    zero_quantized_gradients: bool(false),
    zeropp_loco_param: orNull(strict({ err_beta: z.number().default(0.8), reset_T: int(1024) })),
    /** -1 → MiCS off; > 0 → shard size. */
    mics_shard_size: int(-1),
    mics_hierarchical_params_gather: bool(false),
    memory_efficient_linear: bool(true),
    pipeline_loading_checkpoint: bool(false),
    override_module_apply: bool(true),
    log_trace_cache_warnings: bool(false),
  }),
);

/** zero_optimization as written (after aliases are renamed); see ZeroConfig for the resolved form. */
export type ZeroConfigInput = z.input<typeof zeroSchema>;
export type OffloadParamConfig = z.output<typeof offloadParamSchema>;
export type OffloadOptimizerConfig = z.output<typeof offloadOptimizerSchema> & {
  /** pipeline_read || pipeline_write. */
  pipeline: boolean;
};
/** zero_optimization after resolution: overlap_comm decided, offload_optimizer.pipeline derived. */
export type ZeroConfig = Omit<z.output<typeof zeroSchema>, 'overlap_comm' | 'offload_optimizer'> & {
  overlap_comm: boolean;
  offload_optimizer: OffloadOptimizerConfig | null;
};

/** The deprecated / aliased zero_optimization keys and what replaces them. */
export const ZERO_ALIASES: Record<string, string> = {
  stage3_prefetch_bucket_size: 'prefetch_bucket_size',
  stage3_param_persistence_threshold: 'param_persistence_threshold',
  stage3_model_persistence_threshold: 'model_persistence_threshold',
  stage3_max_live_parameters: 'max_live_parameters',
  stage3_max_reuse_distance: 'max_reuse_distance',
  stage3_gather_16bit_weights_on_model_save: 'gather_16bit_weights_on_model_save',
  stage3_module_granularity_threshold: 'module_granularity_threshold',
  stage3_use_all_reduce_for_fetch_params: 'use_all_reduce_for_fetch_params',
};
