// The ZeRO-1/2 flat-buffer layout against DeepSpeed's worked example (spec §1.2: numels
// [5, 3, 10] over 4 ranks), and the bucket and all-gather shard plans built on it.
import { describe, expect, it } from 'vitest';
import { planFlatLayout, ownersOf, ownerRegions, roundRobinOrder } from '../src/stage12/partition-layout.js';
import { planGradBuckets } from '../src/stage12/grad-buckets.js';
import { planGatherShards } from '../src/stage12/gather-partitions.js';

describe('planFlatLayout: DeepSpeed worked example [5, 3, 10] at D = 4', () => {
  const layout = planFlatLayout([5, 3, 10], 4);

  it('pads 18 elements to 24 (a multiple of 2·D = 8) and cuts partitions of 6', () => {
    expect(layout.numel).toBe(18);
    expect(layout.padding).toBe(6);
    expect(layout.flatNumel).toBe(24);
    expect(layout.partitionSize).toBe(6);
    expect(layout.offsets).toEqual([0, 5, 8]);
    expect(layout.partitions.map((p) => [p.start, p.end])).toEqual([[0, 6], [6, 12], [12, 18], [18, 24]]);
  });

  it('puts p0, p1 on rank 0; p1, p2 on rank 1; p2 on rank 2; only padding on rank 3', () => {
    const names = layout.partitions.map((p) => p.fragments.map((f) => `p${f.param}`));
    expect(names).toEqual([['p0', 'p1'], ['p1', 'p2'], ['p2'], []]);
  });

  it('records the first offset of a straddling parameter (1 on rank 1, 4 on rank 2) and where it lands', () => {
    const first = layout.partitions.map((p) => p.fragments[0]?.paramStart ?? 0);
    expect(first).toEqual([0, 1, 4, 0]);
    expect(layout.partitions[1]!.fragments).toEqual([
      { param: 1, paramStart: 1, partStart: 0, length: 2 },
      { param: 2, paramStart: 0, partStart: 2, length: 4 },
    ]);
    expect(layout.partitions[2]!.fragments).toEqual([{ param: 2, paramStart: 4, partStart: 0, length: 6 }]);
  });

  it('has groups_padding [0, 0, 0, 6]', () => {
    expect(layout.partitions.map((p) => p.padding)).toEqual([0, 0, 0, 6]);
  });

  it('lists the owners p0 -> [0], p1 -> [0, 1] at offsets 0 and 1, p2 -> [1, 2] at offsets 0 and 4', () => {
    expect(ownersOf(layout, 0)).toEqual([{ rank: 0, paramStart: 0 }]);
    expect(ownersOf(layout, 1)).toEqual([{ rank: 0, paramStart: 0 }, { rank: 1, paramStart: 1 }]);
    expect(ownersOf(layout, 2)).toEqual([{ rank: 1, paramStart: 0 }, { rank: 2, paramStart: 4 }]);
  });

  it('splits a flat range between its owners', () => {
    expect(ownerRegions(layout, 5, 18)).toEqual([
      { rank: 0, start: 5, end: 6 },
      { rank: 1, start: 6, end: 12 },
      { rank: 2, start: 12, end: 18 },
    ]);
  });
});

describe('planFlatLayout: padding per rank', () => {
  it('gives a partial pad to the rank whose partition the data ends in and a full one after', () => {
    // 10 elements over 3 ranks: align 6 -> 12, ps 4: data ends inside rank 2's partition.
    const l = planFlatLayout([7, 3], 3);
    expect(l.flatNumel).toBe(12);
    expect(l.partitions.map((p) => p.padding)).toEqual([0, 0, 2]);
    const l2 = planFlatLayout([2], 4);
    expect(l2.partitions.map((p) => p.padding)).toEqual([0, 2, 2, 2]);
  });

  it('rejects a world size below 1 and negative sizes', () => {
    expect(() => planFlatLayout([3], 0)).toThrow(/'worldSize' must be an integer >= 1, got 0/);
    expect(() => planFlatLayout([3, -1], 2)).toThrow(/numels\[1\] must be an integer >= 0, got -1/);
  });
});

describe('round_robin_gradients order', () => {
  it('places parameter i in bucket i mod D, buckets in order, original order inside each', () => {
    expect(roundRobinOrder(5, 2)).toEqual([0, 2, 4, 1, 3]);
    expect(roundRobinOrder(7, 3)).toEqual([0, 3, 6, 1, 4, 2, 5]);
    expect(roundRobinOrder(3, 1)).toEqual([0, 1, 2]);
  });
});

describe('gradient buckets', () => {
  const layout = planFlatLayout([5, 3, 10], 4);

  it('fills from the end of the flat, the first bucket taking the padding', () => {
    const b = planGradBuckets(layout, 10);
    expect(b.map((x) => [x.start, x.end, x.params])).toEqual([[8, 24, [2]], [0, 8, [0, 1]]]);
    expect(b[0]!.regions).toEqual([
      { rank: 1, start: 8, end: 12 },
      { rank: 2, start: 12, end: 18 },
      { rank: 3, start: 18, end: 24 },
    ]);
    expect(b[1]!.regions).toEqual([{ rank: 0, start: 0, end: 6 }, { rank: 1, start: 6, end: 8 }]);
  });

  it('gives a parameter larger than the bucket a bucket of its own', () => {
    expect(planGradBuckets(layout, 4).map((x) => x.params)).toEqual([[2], [1], [0]]);
  });

  it('covers the whole flat with one bucket of D equal regions when it fits (a reduce-scatter)', () => {
    const [only, ...rest] = planGradBuckets(layout, 500_000_000);
    expect(rest).toEqual([]);
    expect([only!.start, only!.end]).toEqual([0, 24]);
    expect(only!.regions.map((r) => r.end - r.start)).toEqual([6, 6, 6, 6]);
  });

  it('rejects a bucket size below one element', () => {
    expect(() => planGradBuckets(layout, 0)).toThrow(/reduce_bucket_size\) must be an integer >= 1, got 0/);
  });
});

describe('all-gather shards (allgather_bucket_size)', () => {
  it('gathers a partition in one piece when the bucket holds every partition', () => {
    expect(planGatherShards(6, 4, 500_000_000)).toEqual([[0, 6]]);
  });

  it('cuts ps·D / bucket shards of an even size, the last taking the remainder', () => {
    // ps 10, D 1, bucket 3: 3 shards of floor(10/3) = 3 -> 2 (even), the last 6.
    expect(planGatherShards(10, 1, 3)).toEqual([[0, 2], [2, 2], [4, 6]]);
    expect(planGatherShards(12, 2, 8)).toEqual([[0, 4], [4, 4], [8, 4]]);
  });

  it('never cuts below a pair of elements', () => {
    expect(planGatherShards(6, 4, 2)).toEqual([[0, 2], [2, 2], [4, 2]]);
  });
});
