// After the update every rank holds a new value only for its own partition; gathering the
// partitions into the flat buffer gives every rank the whole model again (spec §1.7 step 7).
import type { Work } from '@ds/comm';
import type { FlatGroup } from './flat-group.js';

export interface GatherOptions {
  /** `allgather_bucket_size`: elements gathered per collective (the whole flat when larger). */
  bucketElements: number;
  /** `allgather_partitions`: all-gather (true) or one broadcast from each owner (false). */
  allgather: boolean;
}

/**
 * DeepSpeed's shard plan: `shards = max(1, ps·D div bucket)`, each `ps div shards` elements
 * rounded down to a multiple of 2 (at least 2), the last one taking the remainder. Returns
 * [offset, length] pairs inside a partition of `ps` elements.
 */
export function planGatherShards(partitionSize: number, worldSize: number, bucketElements: number): [number, number][] {
  if (partitionSize === 0) return [];
  let shards = Math.max(1, Math.floor((partitionSize * worldSize) / bucketElements));
  let shard = Math.floor(partitionSize / shards / 2) * 2;
  if (shard < 2) {
    // More shards than pairs of elements: one pair each (partitions always have an even size).
    shard = 2;
    shards = Math.ceil(partitionSize / 2);
  }
  const out: [number, number][] = [];
  for (let k = 0; k < shards; k++) out.push([k * shard, k === shards - 1 ? partitionSize - k * shard : shard]);
  return out;
}

/** Fill every flat group's buffer with all ranks' partitions; resolves when all are in place. */
export async function gatherPartitions(flats: readonly FlatGroup[], opts: GatherOptions): Promise<void> {
  const works: Work[] = [];
  for (const flat of flats) {
    const { group } = flat;
    if (group.size === 1) continue;
    const ps = flat.layout.partitionSize;
    for (const [at, len] of planGatherShards(ps, group.size, opts.bucketElements)) {
      const pieces = Array.from({ length: group.size }, (_, j) => flat.flat.narrow(0, j * ps + at, len));
      if (opts.allgather) {
        works.push(group.allGather(pieces, pieces[group.rank]!, { async: true, logName: 'zero_allgather_partitions' }));
      } else {
        for (let j = 0; j < group.size; j++) works.push(group.broadcast(pieces[j]!, j, { async: true, logName: 'zero_broadcast_partition' }));
      }
    }
  }
  for (const w of works) await w.wait();
}
