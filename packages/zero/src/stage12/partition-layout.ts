// DeepSpeed's ZeRO-1/2 flat-buffer layout (stage_1_and_2.py): a parameter group is packed into
// one flat buffer padded to a multiple of 2·D and cut into D equal contiguous partitions; each
// rank owns one partition and the fragments of the parameters that fall inside it.

/** DeepSpeed's `nccl_start_alignment_factor`: partitions start on 4-byte (two fp16) boundaries. */
export const ALIGNMENT_FACTOR = 2;

/** The piece of one parameter inside one partition (DeepSpeed's `param_slice_mappings` entry). */
export interface Fragment {
  /** Index of the parameter in flat order. */
  param: number;
  /** First element of the parameter that lies in the partition (DeepSpeed `first_offset` for a straddling one). */
  paramStart: number;
  /** Where that element sits inside the partition. */
  partStart: number;
  /** Elements of the parameter inside the partition. */
  length: number;
}

export interface Partition {
  rank: number;
  /** [start, end) in the flat buffer. */
  start: number;
  end: number;
  fragments: Fragment[];
  /** Padding elements inside this partition (DeepSpeed `groups_padding[g]` for this rank). */
  padding: number;
}

export interface FlatLayout {
  /** Partition count (the size of the group the parameters are reduced over). */
  worldSize: number;
  /** Element count of each parameter, in flat order. */
  numels: number[];
  /** Offset of each parameter in the flat buffer. */
  offsets: number[];
  /** Σ numels (DeepSpeed N). */
  numel: number;
  /** Zeros appended so the flat length is a multiple of 2·D. */
  padding: number;
  /** numel + padding. */
  flatNumel: number;
  /** flatNumel / D (DeepSpeed ps); always even. */
  partitionSize: number;
  partitions: Partition[];
}

/**
 * The layout of parameters with `numels` (in flat order) over `worldSize` partitions (spec §1.2).
 * @example
 *   planFlatLayout([5, 3, 10], 4); // flat 24 (6 padding), partitions of 6: [p0 p1 | p1 p2 | p2 | pad]
 */
export function planFlatLayout(numels: readonly number[], worldSize: number): FlatLayout {
  if (!Number.isSafeInteger(worldSize) || worldSize < 1) {
    throw new RangeError(`planFlatLayout: 'worldSize' must be an integer >= 1, got ${worldSize}`);
  }
  const offsets: number[] = [];
  let numel = 0;
  numels.forEach((n, i) => {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`planFlatLayout: numels[${i}] must be an integer >= 0, got ${n}`);
    offsets.push(numel);
    numel += n;
  });
  const align = ALIGNMENT_FACTOR * worldSize;
  const padding = (align - (numel % align)) % align;
  const flatNumel = numel + padding;
  const ps = flatNumel / worldSize;
  const partitions: Partition[] = [];
  for (let r = 0; r < worldSize; r++) {
    const start = r * ps;
    const end = start + ps;
    const fragments: Fragment[] = [];
    numels.forEach((n, i) => {
      const lo = Math.max(start, offsets[i]!);
      const hi = Math.min(end, offsets[i]! + n);
      if (hi > lo) fragments.push({ param: i, paramStart: lo - offsets[i]!, partStart: lo - start, length: hi - lo });
    });
    // DeepSpeed: N <= left -> ps; N < left + ps -> left + ps - N; else 0.
    const pad = numel <= start ? ps : numel < end ? end - numel : 0;
    partitions.push({ rank: r, start, end, fragments, padding: pad });
  }
  return { worldSize, numels: [...numels], offsets, numel, padding, flatNumel, partitionSize: ps, partitions };
}

/**
 * The ranks owning a piece of parameter `i`, with the offset inside the parameter where each
 * rank's piece starts (DeepSpeed's `param_to_partition_ids` and `grad_start_offset`).
 */
export function ownersOf(layout: FlatLayout, i: number): { rank: number; paramStart: number }[] {
  const out: { rank: number; paramStart: number }[] = [];
  for (const p of layout.partitions) {
    const f = p.fragments.find((x) => x.param === i);
    if (f) out.push({ rank: p.rank, paramStart: f.paramStart });
  }
  return out;
}

/**
 * DeepSpeed's `round_robin_gradients` order: parameter i goes to bucket i mod D; the flat
 * holds bucket 0's parameters (original relative order), then bucket 1's, ... Returns the
 * original indices in their new order.
 */
export function roundRobinOrder(count: number, worldSize: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < worldSize; b++) for (let i = b; i < count; i += worldSize) out.push(i);
  return out;
}

/**
 * The per-owner pieces of the flat range [start, end): rank j receives
 * [max(start, j·ps), min(end, (j+1)·ps)). Empty pieces are left out.
 */
export function ownerRegions(layout: FlatLayout, start: number, end: number): { rank: number; start: number; end: number }[] {
  const out: { rank: number; start: number; end: number }[] = [];
  for (const p of layout.partitions) {
    const lo = Math.max(start, p.start);
    const hi = Math.min(end, p.end);
    if (hi > lo) out.push({ rank: p.rank, start: lo, end: hi });
  }
  return out;
}
