// Gradient buckets over a flat group: contiguous ranges of the flat buffer, planned from its end
// (backward produces the last parameters' gradients first), each at most `capacity` elements
// unless one parameter alone is larger (DeepSpeed's "extra large param"). The first bucket also
// covers the padding, so a bucket that spans the whole flat splits into D equal owner regions.
import { ownerRegions, type FlatLayout } from './partition-layout.js';

export interface GradBucketPlan {
  /** [start, end) in the flat buffer. */
  start: number;
  end: number;
  /** Flat-order indices of the parameters inside, ascending. */
  params: number[];
  /** The piece each owning rank receives, in rank order (empty pieces left out). */
  regions: { rank: number; start: number; end: number }[];
}

export function planGradBuckets(layout: FlatLayout, capacity: number): GradBucketPlan[] {
  if (!Number.isSafeInteger(capacity) || capacity < 1) {
    throw new RangeError(`planGradBuckets: 'capacity' (reduce_bucket_size) must be an integer >= 1, got ${capacity}`);
  }
  const { numels, offsets, flatNumel } = layout;
  const plans: GradBucketPlan[] = [];
  let end = flatNumel;
  let params: number[] = [];
  let size = layout.padding;
  const close = (start: number): void => {
    if (params.length === 0 && start === end) return;
    plans.push({ start, end, params: params.reverse(), regions: ownerRegions(layout, start, end) });
    end = start;
    params = [];
    size = 0;
  };
  for (let i = numels.length - 1; i >= 0; i--) {
    const n = numels[i]!;
    if (n === 0) continue;
    if (params.length > 0 && size + n > capacity) close(offsets[i]! + n);
    params.push(i);
    size += n;
  }
  close(0);
  return plans;
}
