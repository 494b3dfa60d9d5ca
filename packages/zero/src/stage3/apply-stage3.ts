// applyStage3: ZeRO stage 3 over the engine's parts. Parameters are partitioned over their
// reduction group (each rank keeps ceil(numel/W) elements) and gathered only while a module
// uses them; gradients are reduce-scattered into fp32 partition buffers; the optimizer steps
// this rank's fp32 slices only; checkpoints hold each rank's slices.
import path from 'node:path';
import { bytesPerElement, type Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import { MasterWeights } from '@ds/precision';
import type { GradAccumDType, LossScaler } from '@ds/precision';
import { reduceGroupOf, type EngineParts, type StrategyContext } from '@ds/strategy';
import type { OffloadOptions, ZeroOptions } from '../options.js';
import { nvmePathOf } from '../offload/nvme-stages.js';
import { PARAM_BUFFER_SIZE, ParamSwap } from './param-swap.js';
import { ParameterCoordinator, type CoordinatorStats } from './coordinator.js';
import { buildFlatPartitions, type FlatPartition } from './flat-partitions.js';
import { PartitionGradSync } from './partition-grad-sync.js';
import { PartitionUpdater, type MixedPrecisionState } from './partition-updater.js';
import { partitionedGradNorm } from './partitioned-grad-norm.js';
import { PartitionedParam, type PartitionStore } from './partitioned-param.js';
import { registerPartitionMemory } from './partition-memory.js';
import { Stage3State } from './stage3-state.js';
import { completesSynchronously } from './sync-completion.js';
import { checkStage3Options } from './stage3-options.js';

/** The pieces applyStage3 installed, for inspection (memory accounting, prefetch statistics). */
export interface Stage3Runtime {
  readonly records: readonly PartitionedParam[];
  readonly flats: readonly FlatPartition[];
  readonly coordinator: ParameterCoordinator;
  /**
   * 'partitioned': parameters are gathered around their uses and released after (the in-process
   * and Gloo backends). 'gathered': the backend cannot finish a collective inside a synchronous
   * hook (its Work.wait() does not complete the operation), so every parameter stays gathered
   * between steps (as if stage3_param_persistence_threshold were unlimited); gradients and
   * optimizer state are still partitioned.
   */
  readonly mode: 'partitioned' | 'gathered';
  readonly stats: CoordinatorStats;
  /** offload_param "nvme": the swap file holding the partitions (null when they are in memory). */
  readonly paramSwap: ParamSwap | null;
}

const runtimes = new WeakMap<object, Stage3Runtime>();


/** What applyStage3 installed on these parts (undefined when stage 3 is not applied). */
export function stage3Runtime(parts: { model: object }): Stage3Runtime | undefined {
  return runtimes.get(parts.model);
}

/**
 * Apply ZeRO stage 3 to `parts`. Returns a promise only when parameters must first be gathered
 * through a backend that finishes collectives only asynchronously (a zeroInit model over such a backend): a
 * strategy should return what this returns so the engine waits for it.
 */
export function applyStage3(parts: EngineParts, ctx: StrategyContext, options: ZeroOptions): void | Promise<void> {
  checkStage3Options(options, ctx);
  const model = parts.model;
  const masters = parts.state.get('fp32_master_weights');
  const mixedMasters = masters instanceof MasterWeights ? masters : null;

  const named = [...model.namedParameters()];
  const groupOf = new Map<Tensor, ProcessGroup>();
  const groups: ProcessGroup[] = [];
  for (const [, p] of named) {
    const g = reduceGroupOf(p, ctx.dataParallel);
    groupOf.set(p, g);
    if (!groups.includes(g)) groups.push(g);
  }
  // Collective over each group, in the same order on every rank.
  const syncGroups = new Set(groups.filter((g) => completesSynchronously(g)));
  const mode: Stage3Runtime['mode'] = groups.every((g) => syncGroups.has(g)) ? 'partitioned' : 'gathered';

  const records: PartitionedParam[] = [];
  let persistedElements = 0;
  for (const [name, p] of named) {
    const group = groupOf.get(p)!;
    let rec = PartitionedParam.of(p);
    if (rec) {
      if (rec.group.ranks.join(',') !== group.ranks.join(',')) {
        throw new Error(
          `ZeRO-3: parameter '${name}' was partitioned by zeroInit over ranks [${rec.group.ranks.join(', ')}] but reduces over [${group.ranks.join(', ')}]; ` +
            'build the model with zeroInit over the group its gradients are averaged over',
        );
      }
      rec.name = name;
      if (rec.dtype !== p.dtype) rec.castPartition(p.dtype);
    } else {
      rec = PartitionedParam.fromFull(p, group, name);
    }
    // Small parameters persist, in model order, until model_persistence_threshold elements do.
    const small = rec.numel <= options.param_persistence_threshold && persistedElements + rec.numel <= options.model_persistence_threshold;
    rec.persistent = !syncGroups.has(group) || small;
    if (small) persistedElements += rec.numel;
    records.push(rec);
  }
  // Persistent parameters of a model built partitioned (zeroInit) are gathered once, now.
  const pending: PartitionedParam[] = [];
  for (const rec of records) {
    if (rec.persistent && rec.status === 'released') {
      rec.startGather();
      if (syncGroups.has(rec.group)) rec.finishGatherNow();
      else pending.push(rec);
    }
  }
  for (const rec of records) if (!rec.persistent) rec.release();

  const paramNvme = options.offload_param?.device === 'nvme' ? options.offload_param : null;
  const stored = [...new Set(records.map((r) => r.store).filter((s): s is NonNullable<typeof s> => s !== null))];
  if (stored.length > 0 && !paramNvme) {
    throw new Error(
      'ZeRO-3: the model was built by zeroInit with its partitions on NVMe (offloadParam) but zero_optimization.offload_param.device is ' +
        `${JSON.stringify(options.offload_param?.device ?? 'none')}; set offload_param to { device: "nvme", nvme_path } or build the model without offloadParam`,
    );
  }
  if (!paramNvme) {
    finishStage3(parts, ctx, options, { model, records, groups, syncGroups, mode, mixedMasters, paramSwap: null });
    if (pending.length > 0) return Promise.all(pending.map((rec) => rec.finishGather())).then(() => undefined);
    return;
  }
  return (async () => {
    const paramSwap = await paramSwapFor(paramNvme, records, stored, ctx);
    // Partitions are on disk from here on; only persistent parameters (small ones) stay in memory.
    for (const rec of records) if (!rec.persistent && !rec.store) paramSwap.adoptFromMemory(rec);
    await Promise.all(pending.map((rec) => rec.finishGather()));
    finishStage3(parts, ctx, options, { model, records, groups, syncGroups, mode, mixedMasters, paramSwap });
  })();
}

interface Stage3Setup {
  model: EngineParts['model'];
  records: PartitionedParam[];
  groups: ProcessGroup[];
  syncGroups: Set<ProcessGroup>;
  mode: Stage3Runtime['mode'];
  mixedMasters: MasterWeights | null;
  paramSwap: ParamSwap | null;
}

async function paramSwapFor(offload: OffloadOptions, records: PartitionedParam[], stored: PartitionStore[], ctx: StrategyContext): Promise<ParamSwap> {
  const nvmePath = nvmePathOf(offload, 'zero_optimization.offload_param');
  if (stored.length > 0) {
    const swap = stored[0];
    if (stored.length > 1 || !(swap instanceof ParamSwap)) throw new Error('ZeRO-3: the model\'s partitions are held by more than one store; build it with one zeroInit call');
    if (path.resolve(swap.nvmePath) !== path.resolve(nvmePath)) {
      throw new Error(
        `ZeRO-3: the model's partitions were written by zeroInit under ${JSON.stringify(swap.nvmePath)} but zero_optimization.offload_param.nvme_path is ${JSON.stringify(nvmePath)}; use the same directory`,
      );
    }
    return swap;
  }
  const swapped = records.filter((r) => !r.persistent);
  const dtype = swapped[0]?.dtype ?? records[0]?.dtype ?? 'float32';
  const elementBytes = Math.max(bytesPerElement(dtype), ...swapped.map((r) => bytesPerElement(r.dtype)));
  return ParamSwap.create({
    nvmePath,
    rank: ctx.world.rank,
    dtype,
    bufferCount: offload.buffer_count,
    bufferSize: offload.buffer_size ?? PARAM_BUFFER_SIZE,
    elementBytes,
  });
}

/** DeepSpeed's spellings of data_types.grad_accum_dtype. */
const ACCUM_DTYPES: Readonly<Record<string, GradAccumDType>> = {
  fp32: 'float32', float32: 'float32', float: 'float32', 'torch.float32': 'float32', 'torch.float': 'float32',
  fp16: 'float16', float16: 'float16', half: 'float16', 'torch.float16': 'float16', 'torch.half': 'float16',
  bf16: 'bfloat16', bfloat16: 'bfloat16', bfloat: 'bfloat16', 'torch.bfloat16': 'bfloat16',
};

/**
 * The dtype of the gradient partitions: `data_types.grad_accum_dtype` when the config sets it,
 * else fp32 (micro-batches accumulate without 16-bit rounding). A 16-bit one must be the dtype the
 * model trains in under mixed precision: it is the model's gradients, partitioned.
 */
export function gradPartitionDtype(config: Readonly<Record<string, unknown>>, modelDtype: 'float16' | 'bfloat16' | null): GradAccumDType {
  const dataTypes = config.data_types as { grad_accum_dtype?: unknown } | null | undefined;
  const v = dataTypes && typeof dataTypes === 'object' ? dataTypes.grad_accum_dtype : undefined;
  if (v === undefined || v === null) return 'float32';
  const d = typeof v === 'string' ? ACCUM_DTYPES[v.toLowerCase()] : undefined;
  if (!d) throw new RangeError(`data_types.grad_accum_dtype must be "fp32", "fp16" or "bf16" (or null), got ${JSON.stringify(v)}`);
  if (d !== 'float32' && d !== modelDtype) {
    throw new RangeError(
      `data_types.grad_accum_dtype is ${JSON.stringify(v)} but the model trains in ${modelDtype ?? 'float32'}; ZeRO-3 holds 16-bit gradient partitions ` +
        `only in the dtype of the model's gradients (enable ${d === 'bfloat16' ? 'bf16' : 'fp16'}, or set grad_accum_dtype to "fp32")`,
    );
  }
  return d;
}

function finishStage3(parts: EngineParts, ctx: StrategyContext, options: ZeroOptions, setup: Stage3Setup): void {
  const { model, records, groups, syncGroups, mode, mixedMasters, paramSwap } = setup;
  const gradDtype = gradPartitionDtype(ctx.config, mixedMasters?.dtype ?? null);
  let flats: FlatPartition[] = [];
  if (parts.optimizer) {
    const halfOf = new Map<Tensor, Tensor>();
    const masterOf = new Map<Tensor, Tensor>();
    for (const pair of mixedMasters?.pairs ?? []) {
      halfOf.set(pair.master, pair.half);
      masterOf.set(pair.half, pair.master);
    }
    flats = buildFlatPartitions(
      parts.optimizer,
      (t, where) => {
        const rec = PartitionedParam.of(halfOf.get(t) ?? t);
        if (!rec) throw new Error(`ZeRO-3: ${where} is not a parameter of the model; stage 3 can only optimize the model's own parameters`);
        return rec;
      },
      (rec) => {
        const m = masterOf.get(rec.param);
        return m && m.numel === rec.numel && m.dtype === 'float32' && m.isContiguous() ? m.data<'float32'>() : null;
      },
      options.sub_group_size,
      {
        aliasFp32: paramSwap === null,
        // Parameters and optimizer both on NVMe: the masters go straight to disk, one flat at a time.
        lazyMasters: paramSwap !== null && options.offload_optimizer?.device === 'nvme',
        gradDtype,
      },
    );
  }

  const coordinator = new ParameterCoordinator(model, records, {
    prefetchBucketSize: options.prefetch_bucket_size,
    maxLiveParameters: options.max_live_parameters,
    maxReuseDistance: options.max_reuse_distance,
  });
  const trainable = records.filter((r) => r.param.requiresGrad);
  const gradSync = new PartitionGradSync(trainable, coordinator, {
    reduceBucketSize: options.reduce_bucket_size,
    reduceScatter: options.reduce_scatter,
    overlapComm: options.overlap_comm,
    completesSynchronously: (g) => syncGroups.has(g),
    memory: registerPartitionMemory(records, flats, paramSwap),
  });
  for (const rec of records) rec.onCommError((e) => gradSync.recordError(e));

  let mixed: MixedPrecisionState | null = null;
  if (mixedMasters) {
    const scaler = parts.state.get('loss_scaler') as LossScaler | undefined;
    if (!scaler || typeof scaler.update !== 'function') {
      throw new Error("ZeRO-3: mixed precision registered fp32 master weights but no 'loss_scaler'; apply the precision strategy before ZeRO");
    }
    const bf16 = ctx.config.bf16 as { nonfinite?: unknown } | undefined;
    mixed = { dtype: mixedMasters.dtype, scaler, nonfinite: bf16?.nonfinite === 'skip' ? 'skip' : 'error', world: ctx.world };
  }

  const groupOfFlatGrad = new Map<Tensor, ProcessGroup>(flats.map((f) => [f.grad, f.group]));
  parts.gradSync = gradSync;
  parts.updater = new PartitionUpdater({ parts, flats, coordinator, gradientClipping: ctx.gradientClipping, mixed, paramSwap, log: (m) => ctx.log(m) });
  parts.gradNorm = (grads) => partitionedGradNorm(grads, (g) => groupOfFlatGrad.get(g) ?? null);
  parts.checkpointOptimizer = false;
  parts.state.set('zero', new Stage3State(records, flats, parts.optimizer));
  // The fp32 masters now live as partitions; the full copies are dropped.
  parts.state.delete('fp32_master_weights');

  if (paramSwap) {
    // engine.close() closes the gradient sync; the swap file goes with it (removal finishes
    // behind the synchronous close; stage3Runtime(parts).paramSwap.close() awaits the same removal).
    const closeGradSync = gradSync.close.bind(gradSync);
    gradSync.close = () => {
      closeGradSync();
      paramSwap.close().catch((e: Error) => ctx.warn(`[zero] offload_param nvme: could not remove the swap file ${paramSwap.file}: ${e.message}`));
    };
    const s = paramSwap.stats;
    ctx.log(
      `[zero] offload_param nvme: ${s.swappedParams} parameter partitions (${s.swappedBytes} bytes) in ${paramSwap.file}; ` +
        `at most ${s.capacityBytes} bytes of them resident (${paramSwap.swapper.pool.count} buffers of ${paramSwap.bufferSize} elements)`,
    );
  }

  runtimes.set(model, {
    records,
    flats,
    coordinator,
    mode,
    paramSwap,
    get stats() {
      return coordinator.stats;
    },
  });
  logSummary(ctx, records, groups, syncGroups, options);
}

function logSummary(ctx: StrategyContext, records: PartitionedParam[], groups: ProcessGroup[], syncGroups: Set<ProcessGroup>, options: ZeroOptions): void {
  const total = records.reduce((n, r) => n + r.numel, 0);
  const persistent = records.filter((r) => r.persistent);
  const sizes = groups.map((g) => g.size).join('/');
  ctx.log(
    `[zero] stage 3: ${records.length} parameters (${total} elements) partitioned over ${sizes} rank(s); ` +
      `${persistent.length} persistent (${persistent.reduce((n, r) => n + r.numel, 0)} elements, threshold ${options.param_persistence_threshold}); ` +
      `prefetch ${options.prefetch_bucket_size} elements, max live ${options.max_live_parameters}, max reuse distance ${options.max_reuse_distance}`,
  );
  const slow = groups.find((g) => !syncGroups.has(g));
  if (slow) {
    ctx.warn(
      `[zero] stage 3: the '${slow.backend}' backend cannot finish a collective inside a synchronous module hook, so parameters stay gathered ` +
        'between steps (memory as ZeRO-2 for parameters); gradients and optimizer state are still partitioned',
    );
  }
}
