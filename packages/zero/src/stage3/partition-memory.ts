// Stage-3 memory the model walk of memoryReport cannot see: a released parameter's data is an
// empty placeholder, its slice lives in the record, and the partition gradients are not
// attached to the optimizer's flat masters as `.grad`.
import type { Tensor } from '@ds/core';
import { registerMemory } from '../estimate/memory-report.js';
import type { FlatPartition } from './flat-partitions.js';
import type { PartitionedParam } from './partitioned-param.js';
import type { ParamSwap } from './param-swap.js';

/** Register this rank's parameter partitions and partition gradients (fp32 or 16-bit) with memoryReport. */
export function registerPartitionMemory(records: readonly PartitionedParam[], flats: readonly FlatPartition[], swap: ParamSwap | null = null): { remove(): void } {
  const partitions = registerMemory(
    'parameters',
    () => {
      // NOTE: an fp32 model computes from the master slice itself; the report already counts that
      // buffer as the optimizer's copy, so only partitions with their own storage are added here.
      // Partitions on NVMe are counted as the swap buffers they are read into (below).
      const masters = new Set<unknown>(records.map((r) => r.master?.storage));
      return uniqueBytes(records.filter((r) => !r.store).map((r) => r.partition).filter((p) => !masters.has(p.storage)));
    },
    { name: 'zero-3 parameter partitions' },
  );
  const buffers = swap ? registerMemory('parameters', () => swap.swapper.pool.capacityBytes, { name: 'zero-3 parameter swap buffers (offload_param nvme)' }) : null;
  const dtype = flats[0]?.gradDtype ?? 'float32';
  const grads = registerMemory('gradients', () => uniqueBytes(flats.map((f) => f.grad)), { name: `zero-3 ${dtype === 'float32' ? 'fp32' : dtype} partition gradients` });
  return {
    remove: () => {
      partitions.remove();
      buffers?.remove();
      grads.remove();
    },
  };
}

function uniqueBytes(tensors: readonly Tensor[]): number {
  const seen = new Set<unknown>();
  let bytes = 0;
  for (const t of tensors) {
    if (seen.has(t.storage)) continue;
    seen.add(t.storage);
    bytes += t.storage.byteLength;
  }
  return bytes;
}
