// The global gradient norm when every rank holds a different piece of the gradients: each rank
// sums the squares of its own pieces, the sums are added across the world, and the square root
// is rounded to float32 as torch's clip_grad_norm_ (and the engine's replicated norm) does.
import { kernels, zeros, type Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';

/**
 * Σ over every rank of `local`, in float64 and in rank order (so every rank gets the same
 * bits): each value travels as a float32 pair (hi, lo) with hi + lo ≈ local to ~48 bits.
 */
export async function sumAcross(local: number, group: ProcessGroup): Promise<number> {
  if (group.size === 1) return local;
  const hi = Math.fround(local);
  const mine = zeros([2]);
  mine.data<'float32'>().set([hi, Number.isFinite(hi) ? Math.fround(local - hi) : 0]);
  const all = zeros([2 * group.size]);
  await group.allGatherInto(all, mine, { logName: 'zero_grad_norm' });
  const v = all.data<'float32'>();
  let total = 0;
  for (let r = 0; r < group.size; r++) total += v[2 * r]! + v[2 * r + 1]!;
  return total;
}

/** Sum of squares of `grads` in float64. */
export function sumOfSquares(grads: readonly Tensor[]): number {
  let sq = 0;
  for (const g of grads) sq += kernels().sumAll(g.dtype === 'float32' && g.isContiguous() ? g.data<'float32'>() : g.toFloat32Array(), true);
  return sq;
}

/**
 * `parts.gradNorm` for partitioned gradients: every rank passes its own pieces; the result is
 * the L2 norm over all of them, the same on every rank of `world`.
 */
export function gradNormAcross(world: ProcessGroup): (grads: readonly Tensor[]) => Promise<number> {
  return async (grads) => Math.fround(Math.sqrt(await sumAcross(sumOfSquares(grads), world)));
}
