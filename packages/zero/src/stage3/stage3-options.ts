// Which zero_optimization keys stage 3 honours, and what it says about the rest: every key is
// used, reported as not applying to stage 3, or rejected with the key's path.
import type { StrategyContext } from '@ds/strategy';
import { ZERO_DEFAULTS, type OffloadOptions, type ZeroOptions } from '../options.js';
import { nvmePathOf } from '../offload/nvme-stages.js';

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
      checkParamNvme(o, ctx);
      continue;
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

/** DeepSpeed's offload_param.max_in_cpu default. */
const MAX_IN_CPU_DEFAULT = 1_000_000_000;

/** offload_param "nvme": every key is honoured or rejected, naming it. */
function checkParamNvme(o: OffloadOptions, ctx: Pick<StrategyContext, 'log' | 'warn'>): void {
  const key = 'zero_optimization.offload_param';
  nvmePathOf(o, key);
  if (!Number.isInteger(o.buffer_count) || o.buffer_count < 1) {
    throw new RangeError(`${key}.buffer_count must be an integer >= 1 (partitions resident at once), got ${JSON.stringify(o.buffer_count)}`);
  }
  if (o.buffer_size !== undefined && (!Number.isSafeInteger(o.buffer_size) || o.buffer_size < 1)) {
    throw new RangeError(`${key}.buffer_size must be an integer >= 1 (elements of the largest partition), got ${JSON.stringify(o.buffer_size)}`);
  }
  if (o.max_in_cpu !== undefined && o.max_in_cpu !== MAX_IN_CPU_DEFAULT) {
    throw new RangeError(
      `${key}.max_in_cpu is ${JSON.stringify(o.max_in_cpu)}; ds does not implement a CPU tier between memory and NVMe (valid: ${MAX_IN_CPU_DEFAULT}, the default). ` +
        'Every non-persistent partition is swapped; keep small parameters in memory with param_persistence_threshold',
    );
  }
  if (typeof o.pin_memory !== 'boolean') throw new TypeError(`${key}.pin_memory must be true or false, got ${JSON.stringify(o.pin_memory)}`);
  for (const k of ['pipeline_read', 'pipeline_write', 'fast_init', 'ratio'] as const) {
    if (o[k] !== undefined) throw new RangeError(`${key}.${k} is an offload_optimizer key; offload_param takes device, nvme_path, buffer_count, buffer_size, max_in_cpu and pin_memory`);
  }
  if (o.pin_memory) {
    ctx.warn(`${key}.pin_memory has no effect on this CPU build: the swap buffers are already aligned host memory that no accelerator copies from`);
  }
  ctx.log('[zero] stage 3: offload_param.device "nvme": non-persistent parameter partitions live in a swap file under nvme_path and are read in around their gathers');
}
