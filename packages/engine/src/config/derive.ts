// Values DeepSpeed computes from several keys at once, computed once here so the engine and
// the strategies read one answer: model dtype, loss scaling, communication and accumulation dtypes.
import type { FloatDtype } from './sections/dtype.js';
import type { ParsedConfig } from './schema.js';

/** DynamicLossScaler arguments (DeepSpeed's `dynamic_loss_scale_args` names). */
export interface DynamicLossScaleArgs {
  /** 2^fp16.initial_scale_power. */
  init_scale: number;
  scale_window: number;
  /** fp16.hysteresis. */
  delayed_shift: number;
  consecutive_hysteresis: boolean;
  min_scale: number;
}

export interface DerivedValues {
  /** fp16 / bf16 / fp32 from fp16.enabled and bf16.enabled. */
  model_dtype: FloatDtype;
  /** DeepSpeed's `loss_scale`: fp16.loss_scale for fp16 runs, 1 for bf16, 0 otherwise. */
  loss_scale: number;
  /**
   * fp16 with loss_scale 0. NOTE: DeepSpeed reports true for plain fp32 runs too (loss_scale 0);
   * ds reports whether a dynamic scaler actually runs.
   */
  dynamic_loss_scale: boolean;
  /** The first loss scale: 2^initial_scale_power (fp16 dynamic), loss_scale (fp16 static), 1 otherwise. */
  initial_dynamic_scale: number;
  /**
   * The dynamic scaler's arguments with defaults filled in (null unless fp16 dynamic). NOTE:
   * DeepSpeed leaves them None unless a dynamic key is written, and each of its optimizer paths
   * then picks different defaults (spec §3.1); ds uses one set of semantics everywhere.
   */
  dynamic_loss_scale_args: DynamicLossScaleArgs | null;
  /** Dtype gradients are reduced in: communication_data_type, else the model dtype (seq_parallel_comm_data_type under sequence parallelism). */
  communication_data_type: FloatDtype;
  /** data_types.grad_accum_dtype, else fp32 for bf16 without ZeRO, else the model dtype (spec §2.2). */
  grad_accum_dtype: FloatDtype;
  zero_enabled: boolean;
  /** The device optimizer states are offloaded to (none without offload). */
  offload_optimizer_device: 'none' | 'cpu' | 'nvme';
  offload_param_device: 'none' | 'cpu' | 'nvme';
  /** True when any of tensorboard, csv_monitor, wandb, comet is enabled. */
  monitor_enabled: boolean;
  /** Data-parallel world sizes the elastic batch supports (null unless elasticity is enabled). */
  elastic_world_sizes: number[] | null;
}

export function deriveValues(c: ParsedConfig, elasticWorldSizes: number[] | null): DerivedValues {
  const model: FloatDtype = c.fp16.enabled ? 'fp16' : c.bf16.enabled ? 'bf16' : 'fp32';
  const lossScale = model === 'fp16' ? c.fp16.loss_scale : model === 'bf16' ? 1 : 0;
  const dynamic = model === 'fp16' && lossScale === 0;
  const init = 2 ** c.fp16.initial_scale_power;
  const stage = c.zero_optimization.stage;
  const sequenceParallel = (c.sequence_parallel_size ?? 1) > 1;
  return {
    model_dtype: model,
    loss_scale: lossScale,
    dynamic_loss_scale: dynamic,
    initial_dynamic_scale: dynamic ? init : model === 'fp16' ? lossScale : 1,
    dynamic_loss_scale_args: dynamic
      ? {
          init_scale: init,
          scale_window: c.fp16.loss_scale_window,
          delayed_shift: c.fp16.hysteresis,
          consecutive_hysteresis: c.fp16.consecutive_hysteresis,
          min_scale: c.fp16.min_loss_scale,
        }
      : null,
    communication_data_type: sequenceParallel ? c.seq_parallel_comm_data_type : (c.communication_data_type ?? model),
    grad_accum_dtype: c.data_types.grad_accum_dtype ?? (model === 'bf16' && stage === 0 ? 'fp32' : model),
    zero_enabled: stage > 0,
    offload_optimizer_device: c.zero_optimization.offload_optimizer?.device ?? 'none',
    offload_param_device: c.zero_optimization.offload_param?.device ?? 'none',
    monitor_enabled: c.tensorboard.enabled || c.csv_monitor.enabled || c.wandb.enabled || c.comet.enabled,
    elastic_world_sizes: elasticWorldSizes,
  };
}
