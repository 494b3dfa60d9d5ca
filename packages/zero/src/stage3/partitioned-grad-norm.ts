// The global gradient norm when every rank holds only its slices of the gradients: each rank
// sums the squares of its slices per partition group, the sums are exchanged, and every rank
// adds them up in the same (rank) order, so all ranks get the same value.
import { kernels, Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';

/**
 * L2 norm over partitioned gradients. `groupOf` names the group a gradient tensor is a slice
 * over (null: the tensor is replicated and counts as it is). Sums run in float64; the result is
 * rounded to float32 as torch's clip_grad_norm_ does. Collective over every group named.
 */
export async function partitionedGradNorm(grads: readonly Tensor[], groupOf: (grad: Tensor) => ProcessGroup | null): Promise<number> {
  const sums = new Map<ProcessGroup | null, number>();
  for (const g of grads) {
    const data = g.dtype === 'float32' && g.isContiguous() ? g.data<'float32'>() : g.toFloat32Array();
    const group = groupOf(g);
    const key = group && group.size > 1 ? group : null;
    sums.set(key, (sums.get(key) ?? 0) + kernels().sumAll(data, true));
  }
  let total = 0;
  for (const [group, local] of sums) {
    if (!group) {
      total += local;
      continue;
    }
    // A float64 travels as two float32 halves (hi + lo) so the exchange loses nothing that matters.
    const hi = Math.fround(local);
    const mine = new Float32Array([hi, Math.fround(local - hi)]);
    const all = new Float32Array(2 * group.size);
    await group.allGatherInto(new Tensor(all, [all.length], 'float32'), new Tensor(mine, [2], 'float32'), { logName: 'zero3_grad_norm' });
    for (let r = 0; r < group.size; r++) total += all[2 * r]! + all[2 * r + 1]!;
  }
  return Math.fround(Math.sqrt(total));
}
