// The optimizer's view of stage 3: each optimizer group's parameters, split by partition group
// and into sub-groups of about sub_group_size elements, become flat fp32 buffers holding only
// this rank's slices (spec §2.7). The optimizer's groups are rewritten to hold those buffers,
// so its state exists for this rank's partition only.
import { nn, Tensor, type optim } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import { setReduceGroup } from '@ds/strategy';
import type { PartitionedParam } from './partitioned-param.js';

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
  /** The fp32 gradient slices, accumulated over micro-batches. */
  readonly grad: Tensor;
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
): FlatPartition[] {
  if (optimizer.state.size > 0) {
    throw new Error(
      'ZeRO-3: the optimizer already has state; partitioning it would drop that state. Apply ZeRO before the first step ' +
        '(restore a run with engine.loadCheckpoint after initialize instead)',
    );
  }
  const flats: FlatPartition[] = [];
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
          mine.push(makeFlat(gi, group, current, fp32Of));
          current = [];
          size = 0;
        }
      }
      if (current.length > 0) mine.push(makeFlat(gi, group, current, fp32Of));
    }
    g.params = mine.map((f) => f.master);
    flats.push(...mine);
  });
  return flats;
}

function makeFlat(groupIndex: number, group: ProcessGroup, recs: PartitionedParam[], fp32Of: (rec: PartitionedParam) => Float32Array | null): FlatPartition {
  const offsets: number[] = [];
  let total = 0;
  for (const rec of recs) {
    offsets.push(total);
    total += rec.partitionSize;
  }
  const masterData = new Float32Array(total);
  const gradData = new Float32Array(total);
  recs.forEach((rec, i) => {
    const at = offsets[i]!;
    const ps = rec.partitionSize;
    const full = fp32Of(rec);
    if (full) masterData.set(full.subarray(rec.start, rec.start + rec.ownedElements), at);
    else masterData.set(rec.partition.toFloat32Array(), at);
    rec.master = new Tensor(masterData, [ps], 'float32', { offset: at });
    rec.gradPartition = new Tensor(gradData, [ps], 'float32', { offset: at });
    // An fp32 model computes with the master itself: one copy of the partition, not two.
    if (rec.dtype === 'float32') rec.partition = rec.master;
  });
  const master = new nn.Parameter(new Tensor(masterData, [total], 'float32'));
  setReduceGroup(master, group);
  return { groupIndex, group, recs, offsets, master, grad: new Tensor(gradData, [total], 'float32') };
}
