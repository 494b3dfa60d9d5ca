// What zero() takes: the `zero_optimization` keys (DeepSpeed names, defaults applied by the
// engine's config schema) that change behaviour. Every key is either honoured or rejected
// with a clear error by the stage that reads it; none is silently ignored.
export interface OffloadOptions {
  device: 'none' | 'cpu' | 'nvme';
  nvme_path: string | null;
  buffer_count: number;
  buffer_size?: number;
  max_in_cpu?: number;
  pin_memory: boolean;
  pipeline_read?: boolean;
  pipeline_write?: boolean;
  fast_init?: boolean;
  ratio?: number;
}

export interface ZeroOptions {
  stage: 0 | 1 | 2 | 3;
  contiguous_gradients: boolean;
  reduce_scatter: boolean;
  reduce_bucket_size: number;
  allgather_partitions: boolean;
  allgather_bucket_size: number;
  overlap_comm: boolean;
  round_robin_gradients: boolean;
  sub_group_size: number;
  prefetch_bucket_size: number;
  param_persistence_threshold: number;
  /** Stage 3: the most elements kept gathered in all (small parameters persist, in model order, until this total). */
  model_persistence_threshold: number;
  max_live_parameters: number;
  max_reuse_distance: number;
  gather_16bit_weights_on_model_save: boolean;
  offload_optimizer: OffloadOptions | null;
  offload_param: OffloadOptions | null;
  /** Default true: a parameter that gets no gradient in a step counts as zero; false makes that an error naming it. */
  ignore_unused_parameters?: boolean;
  /** Default true: a checkpoint load restores the fp32 masters from the saved fp32 partitions; false re-derives them from the 16-bit weights. */
  load_from_fp32_weights?: boolean;
}

/** DeepSpeed's defaults (spec §1.5 of ds-engine-spec.md), for zero({ stage }) used by hand. */
export const ZERO_DEFAULTS: Omit<ZeroOptions, 'stage'> = {
  contiguous_gradients: true,
  reduce_scatter: true,
  reduce_bucket_size: 500_000_000,
  allgather_partitions: true,
  allgather_bucket_size: 500_000_000,
  overlap_comm: false,
  round_robin_gradients: false,
  sub_group_size: 1_000_000_000,
  prefetch_bucket_size: 50_000_000,
  param_persistence_threshold: 100_000,
  // DeepSpeed's sys.maxsize: no limit.
  model_persistence_threshold: Number.MAX_SAFE_INTEGER,
  max_live_parameters: 1_000_000_000,
  max_reuse_distance: 1_000_000_000,
  gather_16bit_weights_on_model_save: false,
  offload_optimizer: null,
  offload_param: null,
  ignore_unused_parameters: true,
  load_from_fp32_weights: true,
};
