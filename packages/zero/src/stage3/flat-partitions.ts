// The optimizer's view of stage 3: each optimizer group's parameters, split by partition group
// and into sub-groups of about sub_group_size elements, become flat fp32 buffers holding only
// this rank's slices (spec §2.7). The optimizer's groups are rewritten to hold those buffers,
// so its state exists for this rank's partition only. The gradient partitions beside them are
// fp32, or 16-bit under `data_types.grad_accum_dtype` (DeepSpeed's grad_partitions_flat_buffer in
// the gradient-accumulation dtype), widened to fp32 a piece at a time when the optimizer steps.
import { allocateStorage, nn, Tensor, type optim } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import { unscaleToMaster, type GradAccumDType } from '@ds/precision';
import { setReduceGroup } from '@ds/strategy';
import type { PartitionedParam } from './partitioned-param.js';

/**
 * What a step multiplies 16-bit gradient partitions by as it widens them to fp32: 1/loss scale,
 * then the clipping coefficient (1: no clipping). fp32 partitions are scaled in place instead.
 */
export interface GradStepScale {
  inv: number;
  clip: number;
}

/** One flat fp32 buffer the optimizer steps: this rank's slices of some parameters. */
export interface FlatPartition {
  /** Index of the optimizer param group it belongs to. */
  readonly groupIndex: number;
  readonly group: ProcessGroup;
  readonly recs: readonly PartitionedParam[];
  /** Offset of each parameter's slice in the flat buffers. */
  readonly offsets: readonly number[];
  /** The fp32 master slices, as the parameter the optimizer holds. */
  readonly master: nn.Parameter;
  /** The gradient slices, accumulated over micro-batches, in `gradDtype`. */
  readonly grad: Tensor;
  /** float32, or the 16-bit model dtype (data_types.grad_accum_dtype). */
  readonly gradDtype: GradAccumDType;
  /** The factors `gradFloat32` applies to 16-bit partitions this step (set by the updater). */
  readonly stepScale: GradStepScale;
  /**
   * The fp32 gradient of elements [start, start + numel) as the optimizer steps it: a view of an
   * fp32 partition (already unscaled and clipped in place), or a 16-bit one widened into `out`
   * (numel elements) times `stepScale`.
   */
  gradFloat32(start: number, numel: number, out: Float32Array): Float32Array;
  /** Elements of the flat buffers (the master may be empty while its values live elsewhere). */
  readonly numel: number;
  /**
   * The starting fp32 values. Built on demand when the masters were not materialised (NVMe
   * offload of both parameters and optimizer: they go straight to disk, one flat at a time).
   */
  initialMaster(): Float32Array;
  /** Forget values initialMaster() built (once they are on disk). */
  dropInitial(): void;
}

export interface FlatPartitionOptions {
  /** Whether an fp32 parameter's partition may be the master itself (false when partitions are offloaded). */
  aliasFp32?: boolean;
  /** Leave the masters empty and build their values only when initialMaster() asks (default false). */
  lazyMasters?: boolean;
  /** The gradient partitions' dtype (default float32). */
  gradDtype?: GradAccumDType;
}

/**
 * Replace every optimizer group's parameters by flat fp32 partitions. `recOf` maps an optimizer
 * parameter to its partitioned model parameter; `fp32Of` gives a parameter's full fp32 values
 * when more precise ones than the partition exist (precision's masters), else null.
 */
export function buildFlatPartitions(
  optimizer: optim.Optimizer<object>,
  recOf: (t: Tensor, where: string) => PartitionedParam,
  fp32Of: (rec: PartitionedParam) => Float32Array | null,
  subGroupSize: number,
  opts: FlatPartitionOptions = {},
): FlatPartition[] {
  if (optimizer.state.size > 0) {
    throw new Error(
      'ZeRO-3: the optimizer already has state; partitioning it would drop that state. Apply ZeRO before the first step ' +
        '(restore a run with engine.loadCheckpoint after initialize instead)',
    );
  }
  const flats: FlatPartition[] = [];
  const cache: InitialCache = { owner: null, data: null };
  optimizer.paramGroups.forEach((g, gi) => {
    const recs = g.params.map((t, i) => recOf(t, `optimizer param group ${gi}, params[${i}]`));
    const byGroup = new Map<ProcessGroup, PartitionedParam[]>();
    for (const rec of recs) {
      const list = byGroup.get(rec.group);
      if (list) list.push(rec);
      else byGroup.set(rec.group, [rec]);
    }
    const mine: FlatPartition[] = [];
    for (const [group, list] of byGroup) {
      let current: PartitionedParam[] = [];
      let size = 0;
      for (const rec of list) {
        current.push(rec);
        size += rec.partitionSize;
        if (size >= subGroupSize) {
          mine.push(makeFlat(gi, group, current, fp32Of, opts, cache));
          current = [];
          size = 0;
        }
      }
      if (current.length > 0) mine.push(makeFlat(gi, group, current, fp32Of, opts, cache));
    }
    g.params = mine.map((f) => f.master);
    flats.push(...mine);
  });
  return flats;
}

/** Lazily built starting values: one flat's at a time (consecutive sub-groups share a flat). */
interface InitialCache {
  owner: object | null;
  data: Float32Array | null;
}

function makeFlat(
  groupIndex: number, group: ProcessGroup, recs: PartitionedParam[], fp32Of: (rec: PartitionedParam) => Float32Array | null, opts: FlatPartitionOptions,
  cache: InitialCache,
): FlatPartition {
  const offsets: number[] = [];
  let total = 0;
  for (const rec of recs) {
    offsets.push(total);
    total += rec.partitionSize;
  }
  const fill = (out: Float32Array): Float32Array => {
    recs.forEach((rec, i) => {
      const full = fp32Of(rec);
      if (full) out.set(full.subarray(rec.start, rec.start + rec.ownedElements), offsets[i]!);
      else out.set(rec.partitionFloat32(), offsets[i]!);
    });
    return out;
  };
  const gradDtype = opts.gradDtype ?? 'float32';
  const gradData = allocateStorage(gradDtype, total) as Float32Array | Uint16Array;
  const lazy = opts.lazyMasters ?? false;
  const masterData = lazy ? new Float32Array(0) : fill(new Float32Array(total));
  recs.forEach((rec, i) => {
    const at = offsets[i]!;
    const ps = rec.partitionSize;
    rec.master = lazy ? new Tensor(new Float32Array(0), [0], 'float32') : new Tensor(masterData, [ps], 'float32', { offset: at });
    rec.gradPartition = new Tensor(gradData, [ps], gradDtype, { offset: at });
    // An fp32 model computes with the master itself: one copy of the partition, not two (unless
    // the partition lives on NVMe, where the master is written back to after each step).
    if (rec.dtype === 'float32' && (opts.aliasFp32 ?? true) && !lazy && !rec.store) rec.partition = rec.master;
  });
  const master = new nn.Parameter(new Tensor(masterData, [masterData.length], 'float32'));
  setReduceGroup(master, group);
  const initialMaster = (): Float32Array => {
    if (!lazy) return master.data<'float32'>();
    if (cache.owner !== master || !cache.data) {
      cache.data = null;
      cache.data = fill(new Float32Array(total));
      cache.owner = master;
    }
    return cache.data;
  };
  const dropInitial = (): void => {
    cache.owner = null;
    cache.data = null;
  };
  const stepScale: GradStepScale = { inv: 1, clip: 1 };
  const gradFloat32 = (start: number, numel: number, out: Float32Array): Float32Array => {
    if (start < 0 || numel < 0 || start + numel > total) throw new RangeError(`ZeRO-3: gradient elements ${start}..${start + numel} of a partition of ${total}`);
    if (gradData instanceof Float32Array) return gradData.subarray(start, start + numel);
    return widenScaled(gradData.subarray(start, start + numel), gradDtype as 'float16' | 'bfloat16', out.subarray(0, numel), stepScale);
  };
  return {
    groupIndex, group, recs, offsets, master, grad: new Tensor(gradData, [total], gradDtype), gradDtype, stepScale, gradFloat32, numel: total, initialMaster, dropInitial,
  };
}

/**
 * 16-bit gradients as fp32 times 1/loss scale, then times the clipping coefficient when it is
 * below 1: each product rounded to fp32, as the fp32 path's in-place unscale and clip round them.
 */
export function widenScaled(src: Uint16Array, dtype: 'float16' | 'bfloat16', out: Float32Array, scale: GradStepScale): Float32Array {
  unscaleToMaster(src, dtype, out, scale.inv);
  if (scale.clip < 1) {
    const c = Math.fround(scale.clip);
    for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i]! * c);
  }
  return out;
}
