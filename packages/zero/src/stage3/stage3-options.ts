// Which zero_optimization keys stage 3 honours, and what it says about the rest: every key is
// used, reported as not applying to stage 3, or rejected with the key's path.
import type { StrategyContext } from '@ds/strategy';
import { ZERO_DEFAULTS, type ZeroOptions } from '../options.js';

const COUNT_KEYS = [
  'reduce_bucket_size',
  'prefetch_bucket_size',
  'param_persistence_threshold',
  'model_persistence_threshold',
  'max_live_parameters',
  'max_reuse_distance',
  'sub_group_size',
] as const;

export function checkStage3Options(options: ZeroOptions, ctx: Pick<StrategyContext, 'log' | 'warn'>): void {
  if (options === null || typeof options !== 'object') throw new TypeError('applyStage3: options must be the zero_optimization options (ZeroOptions)');
  if (options.stage !== 3) throw new RangeError(`applyStage3: zero_optimization.stage is ${JSON.stringify(options.stage)}; this applies stage 3 only`);
  for (const key of COUNT_KEYS) {
    const v = options[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new RangeError(`zero_optimization.${key} must be a non-negative integer (elements), got ${JSON.stringify(v)}`);
    }
  }
  if (options.sub_group_size === 0) throw new RangeError('zero_optimization.sub_group_size must be at least 1 element, got 0');
  for (const key of ['reduce_scatter', 'overlap_comm', 'contiguous_gradients', 'round_robin_gradients', 'allgather_partitions'] as const) {
    if (typeof options[key] !== 'boolean') throw new TypeError(`zero_optimization.${key} must be true or false, got ${JSON.stringify(options[key])}`);
  }
  for (const key of ['offload_param', 'offload_optimizer'] as const) {
    const o = options[key];
    if (o === null || o === undefined || o.device === 'none') continue;
    if (o.device === 'nvme' && key === 'offload_optimizer') {
      ctx.log('[zero] stage 3: offload_optimizer.device "nvme": fp32 partitions and Adam moments live in swap files under nvme_path');
      continue;
    }
    if (o.device === 'nvme') {
      throw new Error(
        `zero_optimization.${key}.device "nvme" is not supported by stage 3 yet (offload_optimizer "nvme" is); use "cpu" (parameters already live in host memory) or "none"`,
      );
    }
    if (o.device !== 'cpu') throw new RangeError(`zero_optimization.${key}.device must be "none", "cpu" or "nvme", got ${JSON.stringify(o.device)}`);
    ctx.log(`[zero] stage 3: ${key}.device "cpu": partitions and optimizer state already live in host memory on this CPU build`);
  }
  if (!options.contiguous_gradients) {
    ctx.log('[zero] stage 3: contiguous_gradients=false has no effect: gradient slices are always written into contiguous partition buffers');
  }
  if (options.round_robin_gradients) {
    ctx.warn('zero_optimization.round_robin_gradients applies to stages 1 and 2; stage 3 reduce-scatters every bucket over the whole group (ignored, as in DeepSpeed)');
  }
  if (options.allgather_partitions !== ZERO_DEFAULTS.allgather_partitions || options.allgather_bucket_size !== ZERO_DEFAULTS.allgather_bucket_size) {
    ctx.warn('zero_optimization.allgather_partitions / allgather_bucket_size apply to stages 1 and 2; stage 3 gathers per module (use prefetch_bucket_size)');
  }
}
