import { kernels } from '../kernels/index.js';
import { f32 } from '../ops/util.js';
import { mul_ } from '../ops/inplace.js';
import { noGrad } from '../autograd.js';
import type { Tensor } from '../tensor.js';

/**
 * Scale gradients in place so their global L2 norm is at most maxNorm (torch's
 * clip_grad_norm_). Returns the norm before clipping. clip_coef = maxNorm / (norm + 1e-6),
 * applied only when it is below 1.
 */
export function clipGradNorm_(params: Iterable<Tensor>, maxNorm: number, normType: number | 'inf' = 2): number {
  const grads = [...params].map((p) => p.grad).filter((g): g is Tensor => g !== null);
  if (grads.length === 0) return 0;
  let norm: number;
  if (normType === 'inf' || normType === Infinity) {
    norm = 0;
    for (const g of grads) for (const v of f32(g)) norm = Math.max(norm, Math.abs(v));
  } else if (normType === 2) {
    let sq = 0;
    for (const g of grads) sq += kernels().sumAll(f32(g), true);
    norm = Math.sqrt(sq);
  } else {
    let s = 0;
    for (const g of grads) for (const v of f32(g)) s += Math.abs(v) ** normType;
    norm = s ** (1 / normType);
  }
  // torch computes per-tensor norms in float32 and the total in float32 as well
  norm = Math.fround(norm);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) noGrad(() => grads.forEach((g) => mul_(g, Math.fround(coef))));
  return norm;
}
