// The plain update: optional global-norm clipping, then the optimizer's step. Strategies
// that keep master weights or shard the optimizer wrap or replace it.
import { kernels, noGrad, optim, type Tensor } from '@ds/core';
import type { EngineParts, StepResult, Updater } from '@ds/strategy';

/**
 * Global L2 norm of replicated gradients: after the all-reduce every data-parallel rank holds
 * the same values, so the local norm is already the global one. Accumulated in float64 and
 * rounded to float32 as torch's clip_grad_norm_ does.
 */
export async function replicatedGradNorm(grads: readonly Tensor[]): Promise<number> {
  let sq = 0;
  for (const g of grads) sq += kernels().sumAll(g.dtype === 'float32' && g.isContiguous() ? g.data<'float32'>() : g.toFloat32Array(), true);
  return Math.fround(Math.sqrt(sq));
}

/** Scale gradients so their global norm is at most `maxNorm`; returns the norm before clipping. */
export async function clipGradients(grads: readonly Tensor[], maxNorm: number, norm: (g: readonly Tensor[]) => Promise<number>): Promise<number> {
  const total = await norm(grads);
  const coef = Math.fround(maxNorm / (total + 1e-6));
  if (coef < 1) noGrad(() => grads.forEach((g) => g.mul_(coef)));
  return total;
}

export class OptimizerUpdater implements Updater {
  readonly name = 'optimizer';
  #parts: EngineParts;
  #clip: number;

  constructor(parts: EngineParts, clip: number) {
    this.#parts = parts;
    this.#clip = clip;
  }

  async step(): Promise<StepResult> {
    const opt = this.#optimizer();
    let gradNorm: number | null = null;
    if (this.#clip > 0) gradNorm = await clipGradients(gradsOf(opt), this.#clip, (g) => this.#parts.gradNorm(g));
    opt.step();
    return { applied: true, gradNorm };
  }

  zeroGrad(): void {
    this.#optimizer().zeroGrad();
  }

  #optimizer(): optim.Optimizer<object> {
    const opt = this.#parts.optimizer;
    if (!opt) throw new Error('engine.step: the engine has no optimizer; pass one to initialize() or add an "optimizer" section to the config');
    return opt;
  }
}

export function gradsOf(opt: optim.Optimizer<object>): Tensor[] {
  const out: Tensor[] = [];
  for (const g of opt.paramGroups) for (const p of g.params) if (p.grad) out.push(p.grad);
  return out;
}
