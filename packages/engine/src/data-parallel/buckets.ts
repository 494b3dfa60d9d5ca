// Gradient buckets: parameters that reduce over the same group are packed, in the order
// backward produces their gradients (reverse registration order, as in PyTorch DDP), into
// buckets of at most `bucketElements` elements. A bucket is reduced as soon as its last
// gradient lands, so communication overlaps the rest of backward.
import type { DType, Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';

export interface Bucket {
  group: ProcessGroup;
  params: Tensor[];
  /** Element offset of each parameter inside the flat buffer. */
  offsets: number[];
  numel: number;
  dtype: DType;
}

export function planBuckets(
  params: readonly Tensor[],
  groupOf: (p: Tensor) => ProcessGroup,
  bucketElements: number,
  commDtype: (p: Tensor) => DType,
): Bucket[] {
  const open = new Map<string, Bucket>();
  const buckets: Bucket[] = [];
  for (let i = params.length - 1; i >= 0; i--) {
    const p = params[i]!;
    const group = groupOf(p);
    const dtype = commDtype(p);
    const key = `${group.ranks.join(',')}|${dtype}`;
    let b = open.get(key);
    if (b && b.numel > 0 && b.numel + p.numel > bucketElements) {
      open.delete(key);
      b = undefined;
    }
    if (!b) {
      b = { group, params: [], offsets: [], numel: 0, dtype };
      open.set(key, b);
      buckets.push(b);
    }
    b.params.push(p);
    b.offsets.push(b.numel);
    b.numel += p.numel;
  }
  return buckets;
}
