// The ZeRO strategy: `zero({ stage: 2 })` by hand, or `strategyFromConfig(config)` for the
// engine's resolved `zero_optimization` section. Stages 1 and 2 partition the optimizer state
// and the gradients (./stage12); stage 3 also partitions the parameters (./stage3).
import { editDistance } from '@ds/core';
import type { EngineParts, Strategy, StrategyContext } from '@ds/strategy';
import { ZERO_DEFAULTS, type OffloadOptions, type ZeroOptions } from './options.js';
import { applyStage12 } from './stage12/apply-stage12.js';
import { applyStage3, stage3Runtime } from './stage3/index.js';
import { attachNvmeStage12, attachNvmeStage3, nvmePathOf } from './offload/nvme-stages.js';

/** An offload section by hand: `device` and any keys to change from DeepSpeed's defaults. */
export type OffloadInput = Pick<OffloadOptions, 'device'> & Partial<OffloadOptions>;

/** What zero() takes: a stage and any `zero_optimization` keys to change from DeepSpeed's defaults. */
export type ZeroStrategyOptions = { stage: ZeroOptions['stage'] } & Partial<Omit<ZeroOptions, 'stage' | 'offload_optimizer' | 'offload_param'>> & {
  offload_optimizer?: OffloadInput | null;
  offload_param?: OffloadInput | null;
};

const KEYS = ['stage', ...Object.keys(ZERO_DEFAULTS)];

/** Keys that only stage 3 reads; set at stages 1-2 they change nothing, which is said once. */
const STAGE3_ONLY: readonly (keyof ZeroOptions)[] = [
  'sub_group_size', 'prefetch_bucket_size', 'param_persistence_threshold', 'model_persistence_threshold', 'max_live_parameters', 'max_reuse_distance',
  'gather_16bit_weights_on_model_save',
];

/**
 * ZeRO as a strategy. `zero({ stage: 1 })` partitions the optimizer state (and fp32 masters),
 * `stage: 2` the gradients too, `stage: 3` the parameters too; `stage: 0` leaves plain data
 * parallelism. Apply it after mixed precision, which it takes the fp32 masters over from.
 * @example
 *   const engine = await createEngine({ model, optimizer, strategies: [zero({ stage: 2, reduce_bucket_size: 5e7 })] });
 */
export function zero(options: ZeroStrategyOptions): Strategy {
  const resolved = resolveOptions(options);
  return zeroStrategy(resolved, { fromConfig: false });
}

/**
 * The strategy for a resolved DeepSpeed config's `zero_optimization` section (the engine calls
 * this for `stage >= 1`); null for stage 0. ZeRO++ and MiCS keys are rejected, not ignored.
 */
export function strategyFromConfig(config: Readonly<Record<string, unknown>>): Strategy | null {
  if (config === null || typeof config !== 'object') throw new TypeError(`zero: strategyFromConfig expects the resolved config object, got ${describe(config)}`);
  const section = config.zero_optimization;
  if (section === undefined || section === null) return null;
  if (typeof section !== 'object' || Array.isArray(section)) throw new TypeError(`zero_optimization: expected an object such as { "stage": 2 }, got ${describe(section)}`);
  const z = section as Record<string, unknown>;
  const stage = z.stage ?? 0;
  if (stage === 0) return null;
  rejectUnsupported(z);
  // Accepted as they are: `elastic_checkpoint` (ds checkpoints always load at another size) and
  // `use_multi_rank_bucket_allreduce` (both of DeepSpeed's paths compute the same sums; ds sends
  // each bucket slice only to its owner).
  const picked: Record<string, unknown> = { stage };
  for (const k of KEYS) if (k in z && z[k] !== undefined) picked[k] = z[k];
  const resolved = resolveOptions(picked as ZeroStrategyOptions);
  return zeroStrategy(resolved, { fromConfig: true, extras: stage3Extras(z, resolved.stage) });
}

function zeroStrategy(options: ZeroOptions, how: { fromConfig: boolean; extras?: string[] }): Strategy {
  return {
    name: `zero stage ${options.stage}`,
    async apply(parts: EngineParts, ctx: StrategyContext): Promise<void> {
      if (options.stage === 0) return;
      if (options.stage === 3) {
        for (const line of how.extras ?? []) ctx.warn(line);
        await applyStage3(parts, ctx, options);
        const runtime = stage3Runtime(parts);
        if (options.offload_optimizer?.device === 'nvme' && parts.optimizer && runtime) {
          await attachNvmeStage3(parts, ctx, runtime, { offload: options.offload_optimizer, subGroupSize: options.sub_group_size });
        }
        return;
      }
      for (const line of stage12Notes(options, how.fromConfig)) ctx.warn(line);
      for (const line of how.extras ?? []) ctx.warn(line);
      const offload = options.offload_optimizer;
      const effective = offload && offload.device === 'cpu' ? { ...options, contiguous_gradients: true } : options;
      const applied = applyStage12(parts, ctx, { ...effective, stage: options.stage });
      if (offload?.device === 'nvme' && applied) await attachNvmeStage12(parts, ctx, applied, { offload, subGroupSize: options.sub_group_size });
      if (offload?.device === 'cpu') ctx.log(`[zero] offload_optimizer: the fp32 partitions, their gradients and the optimizer state live in host memory and the step runs on the CPU`);
    },
  };
}

/** ZERO_DEFAULTS under the given keys, checked: unknown keys, wrong types and invalid values fail here. */
function resolveOptions(options: ZeroStrategyOptions): ZeroOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`zero: options must be an object such as { stage: 2 }, got ${describe(options)}`);
  }
  for (const k of Object.keys(options)) {
    if (KEYS.includes(k)) continue;
    const hint = closest(k, KEYS);
    throw new RangeError(`zero: unknown option '${k}'${hint ? ` (did you mean '${hint}'?)` : ''}; valid: ${KEYS.map((x) => `'${x}'`).join(', ')}`);
  }
  const { stage } = options;
  if (stage !== 0 && stage !== 1 && stage !== 2 && stage !== 3) throw new RangeError(`zero: 'stage' must be 0, 1, 2 or 3, got ${describe(stage)}`);
  const o = { ...ZERO_DEFAULTS, overlap_comm: stage === 3, ...stripUndefined(options) } as ZeroOptions;
  for (const k of ['contiguous_gradients', 'reduce_scatter', 'allgather_partitions', 'overlap_comm', 'round_robin_gradients', 'gather_16bit_weights_on_model_save', 'ignore_unused_parameters', 'load_from_fp32_weights'] as const) {
    if (typeof o[k] !== 'boolean') throw new TypeError(`zero_optimization.${k} must be true or false, got ${describe(o[k])}`);
  }
  for (const k of ['reduce_bucket_size', 'allgather_bucket_size', 'sub_group_size', 'prefetch_bucket_size', 'param_persistence_threshold', 'model_persistence_threshold', 'max_live_parameters', 'max_reuse_distance'] as const) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new RangeError(`zero_optimization.${k} must be an integer >= 0 (elements), got ${describe(v)}`);
  }
  if (stage === 1 || stage === 2) {
    if (o.reduce_bucket_size < 1) throw new RangeError(`zero_optimization.reduce_bucket_size must be >= 1 element at stage ${stage} (gradients are reduced in buckets of that size), got 0`);
    if (o.allgather_bucket_size < 2 || o.allgather_bucket_size % 2 !== 0) {
      throw new RangeError(`zero_optimization.allgather_bucket_size must be a positive multiple of 2 (partitions are aligned to pairs of 16-bit elements), got ${o.allgather_bucket_size}`);
    }
  }
  checkOffload(o.offload_optimizer, 'offload_optimizer', stage);
  checkOffload(o.offload_param, 'offload_param', stage);
  // DeepSpeed's offload defaults (spec §3.1) under the keys given.
  o.offload_optimizer = withDefaults(o.offload_optimizer, 4);
  o.offload_param = withDefaults(o.offload_param, 5);
  return o;
}

function checkOffload(off: OffloadInput | null, key: 'offload_optimizer' | 'offload_param', stage: number): void {
  if (off === null || off === undefined) return;
  if (typeof off !== 'object' || Array.isArray(off)) throw new TypeError(`zero_optimization.${key} must be an object such as { "device": "cpu" } or null, got ${describe(off)}`);
  if (!['none', 'cpu', 'nvme'].includes(off.device)) throw new RangeError(`zero_optimization.${key}.device must be "none", "cpu" or "nvme", got ${describe(off.device)}`);
  // NOTE: DeepSpeed's stages 1-2 have no NVMe optimizer offload; ds streams their partitions
  // through the same swap files as stage 3, sub-grouped by sub_group_size.
  if (off.device === 'nvme') nvmePathOf(withDefaults(off, 4)!, `zero_optimization.${key}`);
  if (key === 'offload_optimizer' && (stage === 1 || stage === 2)) {
    if (off.ratio !== undefined && off.ratio < 1) throw new RangeError(`zero_optimization.offload_optimizer.ratio ${off.ratio}: partial offload (ratio < 1) needs ZeRO stage 3 (stage is ${stage})`);
  }
}

function withDefaults(off: OffloadInput | null, bufferCount: number): OffloadOptions | null {
  return off ? { nvme_path: null, buffer_count: bufferCount, pin_memory: false, ...off } : null;
}

/** Warnings for keys that have no effect at stages 1-2 (the config path already warned about offload_param). */
function stage12Notes(o: ZeroOptions, fromConfig: boolean): string[] {
  const out: string[] = [];
  for (const k of STAGE3_ONLY) {
    if (k === 'sub_group_size' && o.offload_optimizer?.device === 'nvme') continue;
    if (o[k] !== ZERO_DEFAULTS[k as keyof typeof ZERO_DEFAULTS]) out.push(`zero_optimization.${k} = ${JSON.stringify(o[k])} only applies to ZeRO stage 3; it has no effect at stage ${o.stage}`);
  }
  if (!fromConfig && o.offload_param && o.offload_param.device !== 'none') {
    out.push(`zero_optimization.offload_param only applies to ZeRO stage 3 (stage is ${o.stage}); parameters stay in place`);
  }
  return out;
}

/** ZeRO++ and MiCS: ds does not implement them; silently running without would mislead. */
function rejectUnsupported(z: Record<string, unknown>): void {
  const bad: [string, unknown, string][] = [
    ['zero_quantized_weights', false, 'false'],
    ['zero_quantized_nontrainable_weights', false, 'false'],
    ['zero_quantized_gradients', false, 'false'],
    ['zero_hpz_partition_size', 1, '1'],
    ['mics_shard_size', -1, '-1'],
    ['mics_hierarchical_params_gather', false, 'false'],
    ['zeropp_loco_param', null, 'null'],
  ];
  for (const [k, dflt, valid] of bad) {
    const v = z[k];
    if (v !== undefined && v !== dflt) {
      throw new RangeError(`zero_optimization.${k}: got ${JSON.stringify(v)}; ZeRO++ and MiCS are not implemented by @ds/zero (valid: ${valid})`);
    }
  }
}

/**
 * Stage-3 keys ds does not implement: set away from their defaults they are an error at stage 3
 * (never silently ignored) and only noted at stages 1-2, where DeepSpeed ignores them too.
 */
function stage3Extras(z: Record<string, unknown>, stage: number): string[] {
  const defaults: Record<string, unknown> = { module_granularity_threshold: 0, use_all_reduce_for_fetch_params: false };
  const set = Object.entries(defaults).filter(([k, d]) => z[k] !== undefined && z[k] !== d);
  if (stage === 3 && set.length > 0) {
    const [k, d] = set[0]!;
    throw new RangeError(`zero_optimization.${k}: got ${JSON.stringify(z[k])}; ds's ZeRO stage 3 does not implement it (valid: ${JSON.stringify(d)})`);
  }
  return set.map(([k]) => `zero_optimization.${k} = ${JSON.stringify(z[k])} only applies to ZeRO stage 3; it has no effect at stage ${stage}`);
}

function stripUndefined(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function closest(key: string, known: readonly string[]): string | null {
  const norm = (s: string) => s.replace(/^stage3_/, '').replace(/[_-]/g, '').toLowerCase();
  const exact = known.find((k) => norm(k) === norm(key));
  if (exact) return exact;
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(norm(key), norm(k));
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== null && bestD <= Math.max(2, Math.floor(key.length / 4)) ? best : null;
}
