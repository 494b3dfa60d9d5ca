// A client schedule from a function, torch's LambdaLR: lr = initial lr x factor(step).
import { ScheduleBase, readLr } from './base.js';
import { show } from './suggest.js';
import type { OptimizerInput, SchedulerContext } from './types.js';

/** The lr multiplier for a step (0, 1, 2, ...). */
export type LrLambda = (step: number) => number;

/** Group key holding the lr the factors multiply, so a rebuilt scheduler finds it after a resume. */
export const INITIAL_LR_KEY = 'initialLr';

/**
 * torch.optim.lr_scheduler.LambdaLR semantics: construction already takes step 0, so the
 * first training step runs at initialLr x factor(0), and after n scheduler steps the lr is
 * initialLr x factor(n). `initialLr` is stored in each group (torch's `initial_lr`) the
 * first time; building another LambdaLR on the same groups reuses it instead of the
 * current, already scheduled lr.
 */
export class LambdaLR extends ScheduleBase {
  readonly baseLrs: readonly number[];
  readonly #lambdas: readonly LrLambda[];

  constructor(optimizer: OptimizerInput, lrLambda: LrLambda | readonly LrLambda[], ctx: SchedulerContext = {}) {
    super('LambdaLR', optimizer, -1, ctx);
    const groups = this.optimizer.paramGroups;
    if (Array.isArray(lrLambda)) {
      if (lrLambda.length !== groups.length) {
        throw new RangeError(`LambdaLR: expected ${groups.length} lr lambdas (one per param group), got ${lrLambda.length}`);
      }
      this.#lambdas = [...(lrLambda as readonly LrLambda[])];
    } else {
      this.#lambdas = groups.map(() => lrLambda as LrLambda);
    }
    this.#lambdas.forEach((f, i) => {
      if (typeof f !== 'function') throw new TypeError(`LambdaLR: lrLambda${Array.isArray(lrLambda) ? `[${i}]` : ''} must be a function (step) => factor, got ${show(f)}`);
    });
    this.baseLrs = groups.map((g, i) => {
      if (g[INITIAL_LR_KEY] === undefined) g[INITIAL_LR_KEY] = readLr('LambdaLR', this.optimizer, i);
      const lr = g[INITIAL_LR_KEY];
      if (typeof lr !== 'number' || !Number.isFinite(lr)) throw new TypeError(`LambdaLR: optimizer.paramGroups[${i}].${INITIAL_LR_KEY} must be a finite number, got ${show(lr)}`);
      return lr;
    });
    this.step();
  }

  getLr(): number[] {
    const k = this.lastBatchIteration;
    return this.baseLrs.map((base, i) => {
      const factor = this.#lambdas[i]!(k);
      if (typeof factor !== 'number' || !Number.isFinite(factor)) {
        throw new TypeError(`LambdaLR: lrLambda${this.#lambdas.length > 1 ? `[${i}]` : ''}(${k}) must return a finite number, got ${show(factor)}`);
      }
      return base * factor;
    });
  }
}

/** A scheduler from `(step) => factor` (one function, or one per param group); see LambdaLR. */
export function fromLambda(optimizer: OptimizerInput, lrLambda: LrLambda | readonly LrLambda[], ctx: SchedulerContext = {}): LambdaLR {
  return new LambdaLR(optimizer, lrLambda, ctx);
}
